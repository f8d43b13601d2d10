using System.Diagnostics;
using System.Text;
using ModelMonitor.Testing.Kafka;
using ModelMonitor.Testing.Processes;
using Xunit.Abstractions;

namespace ModelMonitor.Reliability.Tests;

/// <summary>
/// Scenario 5: the API (concurrency limit lowered to 4 + 8 queued) is driven at twice the rate it sustains,
/// by clients that ignore Retry-After. It sheds the excess with 429 + Retry-After; the requests it accepts
/// keep a bounded latency and its memory stays flat.
/// </summary>
[Collection(nameof(CpuHeavyTests))]
[Trait("Speed", "Slow")]
public sealed class OverloadTests(ITestOutputHelper output)
{
    private const int MaxConcurrentRequests = 4;
    private const int MaxQueuedRequests = 8;
    private const int RecordsPerRequest = 100;

    // Memory bound over the peak at the measured capacity: at most 12 requests of 100 records are held
    // (~20 KB each) and rejected requests hold nothing, so shedding should cost next to no memory; 64 MB
    // leaves room for GC heap sizing and Kestrel's connection buffers for the extra connections.
    private const long GrowthBound = 64L * 1024 * 1024;

    [Fact]
    public async Task Twice_the_sustainable_rate_and_more_is_shed_with_429_and_Retry_After_with_bounded_latency_and_memory()
    {
        using var kafka = new ControllableKafkaCluster();
        var topic = KafkaMockCluster.UniqueTopic("overload");
        kafka.CreateTopic(topic, 4);
        var port = ChildProcess.FreePort();
        using var api = await Services.StartApiAsync(port, kafka.BootstrapServers, topic, new Dictionary<string, string?>
        {
            ["Ingestion:MaxConcurrentRequests"] = $"{MaxConcurrentRequests}",
            ["Ingestion:MaxQueuedRequests"] = $"{MaxQueuedRequests}",
            ["Ingestion:RetryAfterSeconds"] = "1",
        });
        var clock = Stopwatch.StartNew();
        await using var memory = new MemorySampler(api.ResidentBytes, clock, TimeSpan.FromMilliseconds(100));

        // Capacity: as many closed-loop clients, each sending back to back, as the API admits (in progress +
        // queued): the server is never idle and never has to shed.
        var capacity = await MeasureCapacityAsync(port, clock, TimeSpan.FromSeconds(4));
        var capacityEnd = clock.Elapsed;
        Assert.True(capacity > 10, $"the API sustained only {capacity:0} requests/s");

        // Overload: an open loop at five times that rate, nobody waiting for Retry-After, the same 100-record
        // body every time so the client's own cost stays small. (The closed-loop figure underestimates what
        // the server sustains, by the clients' overhead on 2 shared cores; the assertion below checks that the
        // offered rate really was at least twice the goodput achieved under overload.)
        // The capacity figure comes from a noisy machine: other test assemblies may have held the cores while it
        // was measured, so 5x of it can fall short of what the API then serves (seen: capacity 49/s measured, 242/s
        // served without shedding). The phase is repeated at double the rate until the offered rate is at least
        // twice the goodput, i.e. until it really is an overload (at most 3 times).
        List<ProbeResult> results = [];
        TimeSpan overloadStart = default, overloadEnd = default;
        var offeredRate = 5 * capacity;
        for (var attempt = 1; attempt <= 3; attempt++, offeredRate *= 2)
        {
            await using var probe = new ProbeClient(Services.Url(port), clock, RecordsPerRequest, reuseBody: true);
            overloadStart = clock.Elapsed;
            probe.Start(requestsPerSecond: offeredRate, maxInFlight: 2000);
            await Task.Delay(TimeSpan.FromSeconds(8));
            await probe.StopAsync();
            overloadEnd = clock.Elapsed;
            results = [.. probe.Results];
            var served = results.Count(r => r.Status == 202);
            output.WriteLine($"overload attempt {attempt}: offered {offeredRate:0}/s, sent {results.Count} in 8 s, {served} accepted");
            if (results.Count >= 2 * served)
            {
                break;
            }
        }
        var accepted = results.Where(r => r.Status == 202).ToList();
        var shed = results.Where(r => r.Status is 429 or 503).ToList();
        var acceptedP99 = ProbeClient.Quantile(accepted.Select(r => r.Latency), 0.99);
        var shedP99 = ProbeClient.Quantile(shed.Select(r => r.Latency), 0.99);
        var goodput = accepted.Count / (overloadEnd - overloadStart).TotalSeconds;
        var before = memory.Peak(TimeSpan.Zero, capacityEnd);
        var during = memory.Peak(overloadStart, overloadEnd);
        // Little's law: an accepted request waits behind at most the 4 in progress and 8 queued, each served at
        // the measured rate: ~0.1 s. On 2 shared cores the load loop itself takes CPU from the API (measured
        // p99 0.15-1 s), so the bound is 2.5 s (or 10x Little's figure): it still fails an unbounded queue,
        // where requests offered at 3x for 8 s would wait ~5 s by the end.
        var latencyBound = TimeSpan.FromSeconds(Math.Max(2.5, 10 * (MaxConcurrentRequests + MaxQueuedRequests) / capacity));
        output.WriteLine($"capacity {capacity:0} requests/s ({capacity * RecordsPerRequest:0} predictions/s); offered {results.Count / 8.0:0}/s for 8 s: {ProbeClient.Describe(results)}");
        output.WriteLine($"goodput {goodput:0}/s; accepted p99 {acceptedP99.TotalMilliseconds:0} ms (bound {latencyBound.TotalMilliseconds:0} ms); shed p99 {shedP99.TotalMilliseconds:0} ms");
        output.WriteLine($"RSS peak at capacity {MemorySampler.Megabytes(before)}, under overload {MemorySampler.Megabytes(during)}");

        Assert.All(results, r => Assert.True(r.Status is 202 or 429 or 503, $"HTTP {r.Status} {r.Error}"));
        Assert.All(shed, r => Assert.True(r.HasRetryAfter, $"HTTP {r.Status} without Retry-After"));
        Assert.True(results.Count / (overloadEnd - overloadStart).TotalSeconds >= 2 * goodput, $"offered {results.Count} requests in 8 s: not twice the goodput {goodput:0}/s");
        Assert.True(shed.Count >= results.Count / 4, $"only {shed.Count} of {results.Count} requests shed at twice the capacity");
        Assert.True(goodput >= capacity / 3, $"goodput collapsed to {goodput:0}/s under overload (capacity {capacity:0}/s)");
        Assert.True(acceptedP99 < latencyBound, $"accepted p99 {acceptedP99} over {latencyBound}");
        Assert.True(shedP99 < TimeSpan.FromSeconds(1), $"shedding itself is slow: p99 {shedP99}");
        Assert.True(during < before + GrowthBound, $"RSS grew from {MemorySampler.Megabytes(before)} to {MemorySampler.Megabytes(during)}");

        // And it is fine afterwards.
        var after = await MeasureCapacityAsync(port, clock, TimeSpan.FromSeconds(1));
        Assert.True(after > 0, "the API accepts nothing after the overload");
        Assert.False(api.HasExited);
    }

    private static async Task<double> MeasureCapacityAsync(int port, Stopwatch clock, TimeSpan duration)
    {
        await using var client = new ProbeClient(Services.Url(port), clock, RecordsPerRequest);
        var (body, _) = client.NextBatch();
        using var http = new HttpClient();
        var endpoint = new Uri(Services.Url(port), "v1/predictions");
        var accepted = 0;
        var end = clock.Elapsed + duration;
        var workers = Enumerable.Range(0, MaxConcurrentRequests + MaxQueuedRequests).Select(async _ =>
        {
            while (clock.Elapsed < end)
            {
                using var content = new StringContent(body, Encoding.UTF8, "application/json");
                using var response = await http.PostAsync(endpoint, content);
                if ((int)response.StatusCode == 202)
                {
                    Interlocked.Increment(ref accepted);
                }
            }
        });
        await Task.WhenAll(workers);
        return accepted / duration.TotalSeconds;
    }
}

/// <summary>Tests that load the CPU on purpose run alone, after the others, so they do not skew the others' timings.</summary>
[CollectionDefinition(nameof(CpuHeavyTests), DisableParallelization = true)]
public sealed class CpuHeavyTests;
