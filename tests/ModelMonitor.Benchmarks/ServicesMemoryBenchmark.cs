using System.Diagnostics;
using System.Globalization;
using ModelMonitor.Kafka;

namespace ModelMonitor.Benchmarks;

/// <summary>
/// Scenario 7: the deployment's three services as separate child processes (the ingestion API, the aggregator
/// and the exporter, as in docker-compose.yml: windows 5m,1h, every other setting default), with the mock Kafka
/// broker in this process and the private Postgres, under the demo generator (a child process, 2,000
/// predictions/s in batches of 100, no incidents, rate held flat). RSS of each service every 10 s: first,
/// last, max and least-squares slopes, so that a leak in one service cannot hide in a shared process.
/// </summary>
internal static class ServicesMemoryBenchmark
{
    private const int Rate = 2000;

    public static async Task RunAsync(BenchmarkContext context, TimeSpan duration)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ingestion API, aggregator and exporter as separate processes, mock Kafka, demo generator at {Rate}/s (batches of 100), {duration.TotalMinutes:F1} min, RSS sampled every 10 s"));
        var database = await context.NewDatabaseAsync("services");
        using var kafka = new MockKafkaCluster();
        var shared = new Dictionary<string, string>
        {
            ["ConnectionStrings__Postgres"] = database,
            ["Kafka__BootstrapServers"] = kafka.BootstrapServers,
            ["Auth__Mode"] = "None",
            ["Aggregator__Windows"] = "5m,1h",
        };
        var services = new List<(string Name, ChildProcess Process, string Url)>();
        try
        {
            foreach (var project in new[] { "ModelMonitor.Ingestion", "ModelMonitor.Aggregator", "ModelMonitor.Exporter" })
            {
                var url = $"http://127.0.0.1:{ChildProcess.FreePort()}";
                var settings = new Dictionary<string, string>(shared) { ["Urls"] = url };
                services.Add((project["ModelMonitor.".Length..], ChildProcess.Start(project, [], settings, context.Options.LogDirectory), url));
            }
            foreach (var (_, process, url) in services)
            {
                await process.WaitHttpOkAsync(url + "/healthz", TimeSpan.FromSeconds(120));
            }

            string? summary = null;
            await using var load = ChildProcess.Start("ModelMonitor.DemoTraffic",
                ["--url", services[0].Url, "--rate", Rate.ToString(CultureInfo.InvariantCulture), "--no-incidents", "--no-outcomes", "--demo-day", "1000h",
                 "--batch-size", "100", "--duration", $"{(int)duration.TotalSeconds + 5}s", "--json-summary", "--status-interval", "60s"],
                new Dictionary<string, string>(), context.Options.LogDirectory, line =>
                {
                    if (line.StartsWith('{'))
                    {
                        summary = line;
                    }
                });

            var rss = services.ToDictionary(s => s.Name, _ => new List<(double Minutes, double Mb)>());
            var clock = Stopwatch.StartNew();
            Console.WriteLine("   minute  " + string.Join("  ", services.Select(s => $"{s.Name + " MB",-14}")));
            while (true)
            {
                foreach (var (name, process, _) in services)
                {
                    rss[name].Add((clock.Elapsed.TotalMinutes, process.RssBytes() / 1048576.0));
                }
                if (Math.Abs(clock.Elapsed.TotalMinutes - Math.Round(clock.Elapsed.TotalMinutes)) < 0.05)
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"   {clock.Elapsed.TotalMinutes,6:F1}  {string.Join("  ", services.Select(s => $"{rss[s.Name][^1].Mb,-14:F0}"))}"));
                }
                if (clock.Elapsed >= duration)
                {
                    break;
                }
                await Task.Delay(TimeSpan.FromSeconds(10) - TimeSpan.FromTicks(clock.Elapsed.Ticks % TimeSpan.FromSeconds(10).Ticks));
            }
            await load.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
            await Task.Delay(200);
            Console.WriteLine($"   load generator summary: {summary ?? "(none)"}");
            foreach (var (name, _, _) in services)
            {
                var samples = rss[name];
                var secondHalf = samples.Where(r => r.Minutes >= samples[^1].Minutes / 2).ToList();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"   {name}: RSS first {samples[0].Mb:F0} MB, last {samples[^1].Mb:F0} MB, max {samples.Max(r => r.Mb):F0} MB; slope {SteadyLoadBenchmark.Slope(samples):F2} MB/min overall, {SteadyLoadBenchmark.Slope(secondHalf):F2} MB/min over the second half ({samples.Count} samples)"));
            }
        }
        finally
        {
            foreach (var (_, process, _) in services)
            {
                await process.DisposeAsync();
            }
        }
    }
}
