using System.Globalization;
using Dapper;
using ModelMonitor.Kafka;
using ModelMonitor.Testing.Fuzzing;
using Npgsql;

namespace ModelMonitor.Benchmarks;

/// <summary>
/// The long fuzz run (the suite's FuzzTests sends 2,000): <c>run.sh fuzz --fuzz-requests 10000</c> sends mutated
/// requests to the real API (its own process) with the aggregator behind it, and prints the status histogram, the
/// failures (5xx, no answer) and whether Postgres stores exactly what the 202s acknowledged.
/// </summary>
internal static class FuzzBenchmark
{
    public static async Task RunAsync(BenchmarkContext context)
    {
        var requests = context.Options.FuzzRequests;
        using var cluster = new MockKafkaCluster();
        var topic = $"bench.fuzz.{Guid.NewGuid():N}";
        var database = await context.NewDatabaseAsync("fuzz");
        var apiPort = ChildProcess.FreePort();
        await using var api = ChildProcess.Start("ModelMonitor.Ingestion", [], new Dictionary<string, string>
        {
            ["Urls"] = $"http://127.0.0.1:{apiPort}",
            ["Kafka__BootstrapServers"] = cluster.BootstrapServers,
            ["Auth__Mode"] = "None",
            ["Kafka__Topic"] = topic,
            ["Kafka__CreateTopic"] = "false",
            ["ConnectionStrings__Postgres"] = database, // the reference endpoint is under fuzz too
        }, context.Options.LogDirectory);
        var aggregatorPort = ChildProcess.FreePort();
        await using var aggregator = ChildProcess.Start("ModelMonitor.Aggregator", [], new Dictionary<string, string>
        {
            ["Urls"] = $"http://127.0.0.1:{aggregatorPort}",
            ["ConnectionStrings__Postgres"] = database,
            ["Kafka__BootstrapServers"] = cluster.BootstrapServers,
            ["Auth__Mode"] = "None",
            ["Kafka__Topic"] = topic,
        }, context.Options.LogDirectory);
        await api.WaitHttpOkAsync($"http://127.0.0.1:{apiPort}/readyz", TimeSpan.FromSeconds(60));
        await aggregator.WaitHttpOkAsync($"http://127.0.0.1:{aggregatorPort}/healthz", TimeSpan.FromSeconds(60));

        long acknowledged = 0;
        for (var run = 1; run <= context.Options.Runs; run++)
        {
            var seed = 20261201 + run;
            var started = System.Diagnostics.Stopwatch.StartNew();
            var report = await HttpFuzzer.RunAsync(new Uri($"http://127.0.0.1:{apiPort}/"), FuzzTargets.Api, requests, seed, $"fuzz_{run}");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"run {run} (seed {seed}): {report.Requests} requests in {started.Elapsed.TotalSeconds:F1} s: {report.Histogram}; {report.Failures.Count} failures; {report.StoredPredictions} predictions and {report.StoredBy(FuzzTargets.Outcomes)} outcomes acknowledged"));
            acknowledged += report.StoredPredictions;
            foreach (var failure in report.Failures.Take(20))
            {
                Console.WriteLine("  " + failure);
            }
        }

        // Every run's acknowledged records, in Postgres (the database is this scenario's own).
        await using var connection = new NpgsqlConnection(database);
        long stored = 0;
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (stored != acknowledged && DateTime.UtcNow < deadline)
        {
            await Task.Delay(1_000);
            stored = await connection.ExecuteScalarAsync<long?>(
                "SELECT sum(prediction_count)::bigint FROM model_window_stats WHERE window_seconds = 3600") ?? 0;
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"stored in Postgres (1h windows, all runs): {stored}; acknowledged by 202s: {acknowledged}; {(stored == acknowledged ? "equal" : "DIFFERENT")}"));
        Console.WriteLine($"API alive: {!api.HasExited}; aggregator alive: {!aggregator.HasExited}; logs in {context.Options.LogDirectory}");
    }
}
