using System.Globalization;
using ModelMonitor.Kafka;
using ModelMonitor.Testing.Security;

namespace ModelMonitor.Benchmarks;

/// <summary>
/// Issue 18's speed goal: what authentication costs the ingestion API, side by side in one run with Auth:Mode=None. Per
/// run and configuration, a fresh API process (child) on the mock Kafka cluster: a warm-up, then batches of 100 at the
/// API's maximum rate (closed loop, 32 in flight: API CPU per prediction), then batches of 100 at a fixed 200 requests/s
/// (open loop: p50 and p99 per request, scheduled start to answer). With ApiKeys every request carries a key from a keys
/// file (the lookup is cached, so the cost is parsing, hashing, authorization and the key's token bucket); the order of the
/// configurations alternates between runs.
/// </summary>
internal static class AuthBenchmark
{
    private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(15);
    private const int Batch = 100;
    private const double LatencyRate = 200;

    public static async Task RunAsync(BenchmarkContext context)
    {
        var seconds = TimeSpan.FromSeconds(context.Options.Seconds);
        var payloads = Workload.Payloads(Workload.Records(20_000, _ => DateTimeOffset.UtcNow), Batch);
        using var keys = new TestKeysFile();
        var key = keys.Add("bench", "write:predictions", rate: 1_000_000); // through the token bucket, never refused
        using var cluster = new MockKafkaCluster();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"batches of {Batch}; max phase {seconds.TotalSeconds:F0} s closed loop (32 in flight); latency phase {seconds.TotalSeconds:F0} s at {LatencyRate} requests/s; warm-up {WarmUp.TotalSeconds:F0} s"));
        Console.WriteLine("run  auth      predictions/s  API CPU-s  µs API CPU/prediction  @200 req/s p50 ms  p99 ms  non-202");
        var results = new List<(string Mode, double CpuPerPrediction, double P50, double P99)>();
        for (var run = 1; run <= context.Options.Runs; run++)
        {
            foreach (var mode in run % 2 == 1 ? new[] { "None", "ApiKeys" } : ["ApiKeys", "None"])
            {
                var port = ChildProcess.FreePort();
                var topic = $"bench.auth.{Guid.NewGuid():N}";
                await using var api = ChildProcess.Start("ModelMonitor.Ingestion", [], new Dictionary<string, string>
                {
                    ["Urls"] = $"http://127.0.0.1:{port}",
                    ["Kafka__BootstrapServers"] = cluster.BootstrapServers,
                    ["Kafka__Topic"] = topic,
                    ["Kafka__CreateTopic"] = "false",
                    ["Auth__Mode"] = mode,
                    ["Auth__KeysFile"] = keys.Path,
                }, context.Options.LogDirectory);
                await api.WaitHttpOkAsync($"http://127.0.0.1:{port}/readyz", TimeSpan.FromSeconds(60));
                var url = new Uri($"http://127.0.0.1:{port}/v1/predictions");
                var apiKey = mode == "ApiKeys" ? key : null;
                await IngestBenchmark.LoadAsync(url, payloads, Batch, 32, WarmUp, ratePerSecond: null, apiKey);
                var cpuBefore = api.CpuTime();
                var max = await IngestBenchmark.LoadAsync(url, payloads, Batch, 32, seconds, ratePerSecond: null, apiKey);
                var cpu = (api.CpuTime() - cpuBefore).TotalSeconds;
                var latency = await IngestBenchmark.LoadAsync(url, payloads, Batch, 64, seconds, ratePerSecond: LatencyRate, apiKey);
                var perPrediction = cpu * 1e6 / (max.PredictionsPerSecond * seconds.TotalSeconds);
                results.Add((mode, perPrediction, latency.P50, latency.P99));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{run,-4} {mode,-9} {max.PredictionsPerSecond,-14:F0} {cpu,-10:F2} {perPrediction,-22:F2} {latency.P50,-18:F2} {latency.P99,-7:F2} {max.Failures + latency.Failures}"));
            }
        }
        double Median(string mode, Func<(string Mode, double CpuPerPrediction, double P50, double P99), double> f) =>
            Stats.Median(results.Where(r => r.Mode == mode).Select(f));
        var cpuOn = Median("ApiKeys", r => r.CpuPerPrediction);
        var cpuOff = Median("None", r => r.CpuPerPrediction);
        var p50On = Median("ApiKeys", r => r.P50);
        var p50Off = Median("None", r => r.P50);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"auth on / off API CPU per prediction: {cpuOn / cpuOff:F3} (medians {cpuOn:F2} / {cpuOff:F2} µs; goal ≤ 1.05)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"auth on − off p50 per request at {LatencyRate} requests/s: {p50On - p50Off:+0.000;-0.000} ms (medians {p50On:F3} / {p50Off:F3} ms; goal ≤ 0.2 ms)"));
    }
}
