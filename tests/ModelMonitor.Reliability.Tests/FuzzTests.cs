using System.Text;
using Dapper;
using ModelMonitor.Testing.Fuzzing;
using ModelMonitor.Testing.Kafka;
using ModelMonitor.Testing.Postgres;
using ModelMonitor.Testing.Processes;
using ModelMonitor.Testing.Security;
using ModelMonitor.Testing.Tools;
using ModelMonitor.Testing.Waiting;
using Npgsql;
using Xunit.Abstractions;

namespace ModelMonitor.Reliability.Tests;

/// <summary>
/// Mutated requests (bodies, NDJSON lines, content types, charsets, encodings, framing headers) against the real API
/// writing to Kafka, with the real aggregator behind it: no 5xx, every request answered, the service ready and its
/// /metrics valid afterwards, exactly the records the 202s accepted stored in Postgres, and a canary sent after the
/// fuzz aggregated. The seed is fixed (a failure reproduces); a longer run: tests/ModelMonitor.Benchmarks/run.sh fuzz.
/// </summary>
[Trait("Speed", "Slow")]
public sealed class FuzzTests(ITestOutputHelper output)
{
    private const int Requests = 2_000;
    private const int Seed = 20261201;

    [Fact]
    public async Task Two_thousand_mutated_requests_get_no_5xx_and_the_202s_count_exactly_what_Postgres_stores()
    {
        using var kafka = new ControllableKafkaCluster();
        var topic = KafkaMockCluster.UniqueTopic("fuzz");
        kafka.CreateTopic(topic, 4);
        await using var database = await PostgresDatabaseFixture.CreateAsync("fuzz");
        var port = ChildProcess.FreePort();
        // With Postgres: the reference upload endpoint is under fuzz too. With authentication on (a key for the fuzz's
        // predictors only: a mutated predictor name is refused per record): the hostile-input contract holds with it.
        var predictor = "fuzz_" + Services.NewRunId();
        using var keys = new TestKeysFile();
        var apiKey = keys.Add("fuzz", "write:predictions,write:outcomes,admin", "fuzz_*", rate: 100_000); // not rate limited here
        using var api = await Services.StartApiAsync(port, kafka.BootstrapServers, topic, new Dictionary<string, string?>
        {
            ["ConnectionStrings:Postgres"] = database.ConnectionString,
            ["Auth:Mode"] = "ApiKeys",
            ["Auth:KeysFile"] = keys.Path,
            ["Auth:FailedAttempts:PermitLimit"] = "100000", // the broken credentials are not a brute force to stop here
        });
        var aggregatorPort = ChildProcess.FreePort();
        using var aggregator = Services.StartAggregator(aggregatorPort, database.ConnectionString, kafka.BootstrapServers, topic, "fuzz");

        var report = await HttpFuzzer.RunAsync(Services.Url(port), FuzzTargets.Api, Requests, Seed, predictor, apiKey: apiKey);

        output.WriteLine($"{report.Requests} requests: {report.Histogram}; {report.StoredPredictions} predictions and {report.StoredBy(FuzzTargets.Outcomes)} outcomes acknowledged");
        Assert.True(report.Failures.Count == 0, $"{report.Failures.Count} failures:\n{string.Join("\n", report.Failures.Take(20))}\n{api.Output()}");
        Assert.Equal(Requests, report.Requests);
        Assert.True(report.Statuses.GetValueOrDefault(202) > Requests / 10, report.Histogram); // the valid fifth, and more
        Assert.True(report.Statuses.GetValueOrDefault(400) > Requests / 10, report.Histogram);
        Assert.True(report.Statuses.GetValueOrDefault(401) >= Requests / 20 - Requests / 25, report.Histogram); // the broken credentials

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        Assert.False(api.HasExited, api.Output());
        Assert.True((await http.GetAsync(new Uri(Services.Url(port), "readyz"))).IsSuccessStatusCode, "the API is not ready after the fuzz");
        var metrics = await http.GetStringAsync(new Uri(Services.Url(port), "metrics"));
        await Promtool.AssertValidMetricsAsync(metrics);

        // A canary after the fuzz: the pipeline still aggregates, and what the 202s acknowledged is what is stored.
        var canary = $$"""{"sent_at":"{{DateTimeOffset.UtcNow:O}}","prediction_id":"canary","predictor_name":"{{predictor}}_canary","model_id":"m","features":{"x":1},"prediction_result":1}""";
        using var canaryRequest = new HttpRequestMessage(HttpMethod.Post, new Uri(Services.Url(port), "v1/predictions"))
        {
            Content = new StringContent(canary, Encoding.UTF8, "application/json"),
        };
        canaryRequest.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", apiKey);
        using var response = await http.SendAsync(canaryRequest);
        Assert.Equal(202, (int)response.StatusCode);
        await using var connection = new NpgsqlConnection(database.ConnectionString);
        long stored = -1;
        await Eventually.UntilAsync(
            async () =>
            {
                stored = await connection.ExecuteScalarAsync<long?>(
                    // Every predictor: a mutation may have changed a record's predictor name (the database is this test's own).
                    "SELECT sum(prediction_count)::bigint FROM model_window_stats WHERE window_seconds = 3600 AND predictor_name <> @canary",
                    new { canary = predictor + "_canary" }) ?? 0;
                return stored == report.StoredPredictions && await connection.ExecuteScalarAsync<long?>(
                    "SELECT sum(prediction_count)::bigint FROM model_window_stats WHERE window_seconds = 3600 AND predictor_name = @canary",
                    new { canary = predictor + "_canary" }) == 1;
            },
            TimeSpan.FromSeconds(60),
            () => $"stored {stored} of the {report.StoredPredictions} acknowledged records, or not the canary\n{aggregator.Output()}");
        Assert.False(aggregator.HasExited, aggregator.Output());
        Assert.True((await http.GetAsync(new Uri(Services.Url(aggregatorPort), "readyz"))).IsSuccessStatusCode, "the aggregator is not ready after the fuzz");
    }
}
