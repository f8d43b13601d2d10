using System.Globalization;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelMonitor.Core.Security;
using ModelMonitor.Kafka;
using ModelMonitor.Security;
using ModelMonitor.Testing.Security;

namespace ModelMonitor.Benchmarks;

/// <summary>
/// Issue 18's speed goal: what authentication costs the ingestion API, side by side in one run with Auth:Mode=None. Per
/// run and configuration, a fresh API process (child) on the mock Kafka cluster: a warm-up, then batches of 100 at the
/// API's maximum rate (closed loop, 32 in flight: throughput), then batches of 100 at a fixed 1,000 requests/s (100,000
/// predictions/s, about a third of the maximum; open loop): API CPU per prediction, and p50 and p99 per request
/// (scheduled start to answer). CPU is compared at a fixed rate, not at the maximum: at the maximum the API, the client
/// and the broker fight over the 2 cores, and CPU per prediction moves ±15% from run to run with the contention alone. With ApiKeys every request carries a key from a keys
/// file (the lookup is cached, so the cost is parsing, hashing, authorization and the key's token bucket); the order of the
/// configurations alternates between runs.
/// </summary>
internal static class AuthBenchmark
{
    private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(15);
    private const int Batch = 100;
    private const double FixedRate = 1_000;

    public static async Task RunAsync(BenchmarkContext context)
    {
        var seconds = TimeSpan.FromSeconds(context.Options.Seconds);
        var payloads = Workload.Payloads(Workload.Records(20_000, _ => DateTimeOffset.UtcNow), Batch);
        using var keys = new TestKeysFile();
        var key = keys.Add("bench", "write:predictions", rate: 1_000_000); // through the token bucket, never refused
        Profile(keys.Path, key);
        using var cluster = new MockKafkaCluster();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"batches of {Batch}; max phase {seconds.TotalSeconds:F0} s closed loop (32 in flight); fixed phase {seconds.TotalSeconds:F0} s at {FixedRate} requests/s; warm-up {WarmUp.TotalSeconds:F0} s"));
        Console.WriteLine("run  auth      max predictions/s  @1,000 req/s: API CPU-s  µs API CPU/prediction  p50 ms  p99 ms  non-202");
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
                var max = await IngestBenchmark.LoadAsync(url, payloads, Batch, 32, seconds, ratePerSecond: null, apiKey);
                var cpuBefore = api.CpuTime();
                var fixedRate = await IngestBenchmark.LoadAsync(url, payloads, Batch, 64, seconds, ratePerSecond: FixedRate, apiKey);
                var cpu = (api.CpuTime() - cpuBefore).TotalSeconds;
                var perPrediction = cpu * 1e6 / (fixedRate.PredictionsPerSecond * seconds.TotalSeconds);
                results.Add((mode, perPrediction, fixedRate.P50, fixedRate.P99));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{run,-4} {mode,-9} {max.PredictionsPerSecond,-18:F0} {cpu,-23:F2} {perPrediction,-22:F2} {fixedRate.P50,-7:F2} {fixedRate.P99,-7:F2} {max.Failures + fixedRate.Failures}"));
            }
        }
        double Median(string mode, Func<(string Mode, double CpuPerPrediction, double P50, double P99), double> f) =>
            Stats.Median(results.Where(r => r.Mode == mode).Select(f));
        var cpuOn = Median("ApiKeys", r => r.CpuPerPrediction);
        var cpuOff = Median("None", r => r.CpuPerPrediction);
        var p50On = Median("ApiKeys", r => r.P50);
        var p50Off = Median("None", r => r.P50);
        // Each run measures both configurations back to back: the ratio within a run cancels what drifts between runs.
        var paired = Stats.Median(Enumerable.Range(0, results.Count / 2).Select(i =>
        {
            var pair = results.Skip(2 * i).Take(2).ToList();
            return pair.Single(r => r.Mode == "ApiKeys").CpuPerPrediction / pair.Single(r => r.Mode == "None").CpuPerPrediction;
        }));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"auth on / off API CPU per prediction at {FixedRate} requests/s: {cpuOn / cpuOff:F3} by the medians ({cpuOn:F2} / {cpuOff:F2} µs), {paired:F3} by the median of the runs' ratios; goal ≤ 1.05"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"auth on − off p50 per request at {FixedRate} requests/s: {p50On - p50Off:+0.000;-0.000} ms (medians {p50On:F3} / {p50Off:F3} ms; goal ≤ 0.2 ms)"));
    }

    /// <summary>
    /// The cost of authentication alone, in this process: the pipeline's own steps for one request (the scheme's
    /// authentication, the scope policy's evaluation, the key's token bucket), timed over many requests for a key from a keys
    /// file (cached, as in steady state) and for Auth:Mode=None (the anonymous caller). What it adds per request, divided by
    /// the 100 predictions of a request, against the API's CPU per prediction above, is the share the goal bounds.
    /// </summary>
    public static void Profile(string keysFile, string key)
    {
        // Two rounds (the first one pays the JIT's tiering for both); the second is reported.
        foreach (var (mode, round) in new[] { ("None", 1), ("ApiKeys", 1), ("None", 2), ("ApiKeys", 2) })
        {
            var builder = WebApplication.CreateBuilder();
            builder.Logging.ClearProviders();
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Auth:Mode"] = mode, ["Auth:KeysFile"] = keysFile });
            builder.AddApiSecurity();
            using var app = builder.Build();
            var policies = app.Services.GetRequiredService<IAuthorizationPolicyProvider>();
            var evaluator = app.Services.GetRequiredService<IPolicyEvaluator>();
            var limiter = app.Services.GetRequiredService<IOptions<RateLimiterOptions>>().Value.GlobalLimiter!;
            var policy = policies.GetPolicyAsync(ApiScopes.WritePredictions).GetAwaiter().GetResult()!;
            var once = () =>
            {
                var context = new DefaultHttpContext { RequestServices = app.Services };
                context.Connection.RemoteIpAddress = System.Net.IPAddress.Loopback;
                context.Request.Headers.Authorization = $"Bearer {key}";
                var authenticated = evaluator.AuthenticateAsync(policy, context).GetAwaiter().GetResult();
                var authorized = evaluator.AuthorizeAsync(policy, authenticated, context, null).GetAwaiter().GetResult();
                using var lease = limiter.AttemptAcquire(context);
                if (!authorized.Succeeded || !lease.IsAcquired)
                {
                    throw new InvalidOperationException($"{mode}: the request was not authorized");
                }
            };
            for (var i = 0; i < 20_000; i++)
            {
                once();
            }
            const int n = 200_000;
            var cpu = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            for (var i = 0; i < n; i++)
            {
                once();
            }
            var elapsed = clock.Elapsed.TotalMilliseconds * 1000 / n;
            var used = (System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds * 1000 / n;
            if (round == 1)
            {
                continue;
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"profile: authentication + authorization + rate limit per request, Auth:Mode={mode}: {elapsed:F2} µs ({used:F2} µs CPU; {elapsed / Batch:F3} µs per prediction in batches of {Batch})"));
        }
    }
}
