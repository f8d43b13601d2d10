using System.Diagnostics;
using ModelMonitor.Testing.Kafka;
using ModelMonitor.Testing.Processes;
using ModelMonitor.Testing.Waiting;
using Xunit.Abstractions;

namespace ModelMonitor.Reliability.Tests;

/// <summary>
/// Scenario 3: the only Kafka broker is unreachable for 30 s while the generator and the test's own probe
/// load post to the API. The API answers 503 + Retry-After quickly, its memory stays bounded, it recovers
/// by itself, the generator's retries land, and nothing acknowledged is lost.
/// </summary>
[Trait("Speed", "Slow")]
public sealed class KafkaOutageTests(ITestOutputHelper output)
{
    private const int Partitions = 8;
    private static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(5);

    // Memory bound during the outage, over the API's own peak before it. Requests cannot pile up: at most
    // 64 in progress and 256 queued (the concurrency limiter), each body a few KB here, and the producer
    // queue only holds what waits for the 5 s delivery timeout. 64 MB is far above that and far below what
    // buffering 30 s of traffic plus retries without bound would take over a longer outage.
    private const long GrowthBound = 64L * 1024 * 1024;

    [Fact]
    public async Task Kafka_unreachable_for_30_s_gives_fast_503s_bounded_memory_and_loses_nothing_acknowledged()
    {
        using var kafka = new ControllableKafkaCluster();
        var topic = KafkaMockCluster.UniqueTopic("outage");
        kafka.CreateTopic(topic, Partitions);
        var ledger = Path.Combine(Path.GetTempPath(), $"modelmonitor-ledger-{Guid.NewGuid():N}.txt");
        var port = ChildProcess.FreePort();
        using var api = await Services.StartApiAsync(port, kafka.BootstrapServers, topic, new Dictionary<string, string?>
        {
            ["Kafka:DeliveryTimeout"] = "00:00:05",
        });
        var clock = Stopwatch.StartNew();
        await using var memory = new MemorySampler(api.ResidentBytes, clock, TimeSpan.FromMilliseconds(200));
        using var generator = Services.StartGenerator(port, ledger, 150, TimeSpan.FromMinutes(3) + (2 * Durations.Outage), Services.NewRunId());
        await using var probe = new ProbeClient(Services.Url(port), clock);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            probe.Start(requestsPerSecond: 10);
            await Task.Delay(TimeSpan.FromSeconds(6));
            var warmEnd = clock.Elapsed;
            Assert.Contains(probe.Results, r => r.Status == 202);

            kafka.SetAllBrokersDown();
            var down = clock.Elapsed;
            await Task.Delay(Durations.Outage);
            var readyDuringOutage = (await http.GetAsync(new Uri(Services.Url(port), "readyz"))).IsSuccessStatusCode;
            kafka.SetAllBrokersUp();
            var up = clock.Elapsed;

            // Recovers by itself: the next probes are acknowledged again, /readyz turns healthy.
            await Eventually.UntilAsync(() => Task.FromResult(probe.Results.Any(r => r.SentAt > up && r.Status == 202)), TimeSpan.FromSeconds(30),
                () => $"no probe acknowledged since Kafka came back: {ProbeClient.Describe(probe.Results.Where(r => r.SentAt > up))}\n{api.Output()}");
            var recovered = probe.Results.Where(r => r.SentAt > up && r.Status == 202).Min(r => r.SentAt + r.Latency) - up;
            await Eventually.UntilAsync(async () => (await http.GetAsync(new Uri(Services.Url(port), "readyz"))).IsSuccessStatusCode,
                TimeSpan.FromSeconds(20), () => "/readyz did not recover");
            // Let the generator's throttled batches land.
            await Task.Delay(TimeSpan.FromSeconds(8));
            await probe.StopAsync();
            await Services.StopGeneratorAsync(generator);
            var summary = Services.Summary(generator);
            output.WriteLine(summary);

            var results = probe.Results;
            // Requests sent once the outage was under way and answered before it ended.
            var during = results.Where(r => r.SentAt > down + TimeSpan.FromSeconds(1) && r.SentAt + r.Latency < up).ToList();
            var failFast = during.Where(r => r.SentAt > down + TimeSpan.FromSeconds(DeliveryTimeout.TotalSeconds + 3)).ToList();
            var p99 = ProbeClient.Quantile(during.Select(r => r.Latency), 0.99);
            var p50FailFast = ProbeClient.Quantile(failFast.Select(r => r.Latency), 0.5);
            var before = memory.Peak(TimeSpan.Zero, warmEnd);
            var outagePeak = memory.Peak(down, up);
            output.WriteLine($"outage: {ProbeClient.Describe(during)}, p99 {p99.TotalMilliseconds:0} ms, p50 after the first {DeliveryTimeout.TotalSeconds + 3:0} s {p50FailFast.TotalMilliseconds:0} ms");
            output.WriteLine($"RSS peak before {MemorySampler.Megabytes(before)}, during the outage {MemorySampler.Megabytes(outagePeak)}; recovered {recovered.TotalSeconds:0.0} s after Kafka came back");
            output.WriteLine($"all probes: {ProbeClient.Describe(results)}");
            foreach (var slow in during.Where(r => r.Latency > DeliveryTimeout + TimeSpan.FromSeconds(1)).Take(20))
            {
                output.WriteLine($"slow 503: sent {(slow.SentAt - down).TotalSeconds:0.0} s into the outage, answered after {slow.Latency.TotalSeconds:0.0} s");
            }

            Assert.True(during.Count > 100, $"only {during.Count} probes during the outage");
            Assert.All(during, r => Assert.True(r.Status == 503 && r.HasRetryAfter, $"during the outage: HTTP {r.Status} {r.Error} (Retry-After {r.HasRetryAfter})"));
            Assert.True(p50FailFast < TimeSpan.FromSeconds(1), $"once Kafka is known to be down, 503 should be immediate (p50 {p50FailFast})");
            Assert.All(results, r => Assert.True(r.Status is 202 or 503, $"HTTP {r.Status} {r.Error} at {r.SentAt}"));
            Assert.False(readyDuringOutage, "/readyz said ready while Kafka was down");
            Assert.True(outagePeak < before + GrowthBound,
                $"RSS grew from {MemorySampler.Megabytes(before)} to {MemorySampler.Megabytes(outagePeak)} during the outage");
            Assert.True(recovered < TimeSpan.FromSeconds(15), $"recovered only {recovered} after Kafka came back");
            Assert.False(api.HasExited);

            // The generator was throttled and its resends landed. (Its bounded batch queue stops it from making
            // records a second or so into the outage: those first records were answered 503 and resent.)
            var acknowledged = Services.ReadLedger(ledger);
            var records = TopicContents.ReadAll(kafka.BootstrapServers, topic, Partitions);
            var missing = TopicContents.Missing(acknowledged, records);
            Assert.True(missing.Count == 0, $"{missing.Count} of {acknowledged.Count} acknowledged generator records are not in Kafka, e.g. {string.Join(", ", missing.Take(5))}");
            var probeMissing = probe.Acknowledged().Except(records.Select(r => r.PredictionId)).ToList();
            Assert.True(probeMissing.Count == 0, $"{probeMissing.Count} acknowledged probe records are not in Kafka");
            // Records answered 503 ("nothing was stored, retry") that are in Kafka all the same: a client that
            // retries them as told gets them counted twice. Reported, not asserted: see the report of issue 6.
            var inKafka = records.Select(r => r.PredictionId).ToHashSet();
            var refusedButStored = results.Where(r => r.Status == 503).SelectMany(r => r.PredictionIds).Count(inKafka.Contains);
            output.WriteLine($"{refusedButStored} probe records answered 503 are in Kafka anyway");
            // Throttled batches are resent after Retry-After without limit; none was given up, so every one of
            // them was acknowledged in the end.
            Assert.Matches(@"throttled=[1-9]", summary);
            Assert.Contains(" gave_up=0 ", summary, StringComparison.Ordinal);
            var startedAt = DateTimeOffset.UtcNow - clock.Elapsed;
            var acknowledgedKeys = acknowledged.ToHashSet();
            var madeDuringOutage = records.Count(r => r.PredictorName != "probe" && acknowledgedKeys.Contains((r.PredictionId, r.ModelId))
                && r.SentAt > startedAt + down && r.SentAt < startedAt + up);
            output.WriteLine($"{acknowledged.Count} generator records acknowledged, {madeDuringOutage} of them made during the outage");
            Assert.True(madeDuringOutage > 0, "no record generated during the outage was acknowledged after it: the generator's retries did not land");

            // Last, so a failure here does not hide the checks above. README: "requests get 503 within
            // Kafka:DeliveryTimeout". librdkafka (2.0.2 at least) reports the records of requests sent in the first seconds
            // of an outage (before its statistics show every broker down) in one burst ~2 x message.timeout.ms
            // after the broker went down; the API must answer by the timeout without waiting for them.
            Assert.True(p99 < DeliveryTimeout + TimeSpan.FromSeconds(1), $"503 p99 {p99} is not below the delivery timeout + 1 s");
        }
        finally
        {
            File.Delete(ledger);
        }
    }
}
