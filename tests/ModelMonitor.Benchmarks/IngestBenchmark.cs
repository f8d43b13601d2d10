using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using Confluent.Kafka;
using ModelMonitor.Kafka;

namespace ModelMonitor.Benchmarks;

/// <summary>
/// Scenario 1: predictions/s the ingestion API accepts end to end (HTTP → validation → Kafka delivery
/// report → 202), per batch size, at max rate and rate-limited at 50% / 90% of it; and the same records
/// produced by a bare Confluent.Kafka producer with the API's settings (the ceiling), two ways: one message per
/// prediction keyed by prediction_id (what a service writing straight to Kafka produces), and the very messages
/// the API writes (a request's records packed per partition), which shows the HTTP side's cost alone.
/// The API is a child process; the client (pre-built bodies, HttpClient) and the mock broker live in
/// this process. All three compete for the same 2 cores.
/// </summary>
internal static class IngestBenchmark
{
    private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(15);

    private static readonly (int Batch, int Concurrency)[] Shapes = [(1, 64), (100, 32), (1000, 8)];
    private const int Partitions = 4; // the mock cluster's auto-created topics

    public static async Task RunAsync(BenchmarkContext context)
    {
        var seconds = TimeSpan.FromSeconds(context.Options.Seconds);
        var records = Workload.Records(20_000, _ => DateTimeOffset.UtcNow);
        var perRecord = Workload.PerRecordMessages(records).Select(m => (Partition.Any.Value, m, 1)).ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"records: demo generator, {records.Average(r => r.Features.Count):F1} features on average, {perRecord.Average(m => m.m.Value.Length):F0} B per record as a Kafka value; each phase {seconds.TotalSeconds:F0} s; API defaults (linger 5 ms, lz4, acks=all, idempotent); topics of {Partitions} partitions"));
        Console.WriteLine("bare/s: a bare producer, one message per prediction; api/bare: the goal's ratio; bare packed/s: a bare producer writing the API's own messages");
        Console.WriteLine("batch  conc  run  api max/s   bare/s      api/bare  bare packed/s  @50%: rate  p50 ms  p99 ms  @90%: rate  p50 ms  p99 ms");
        var results = new List<(int Batch, double Api, double Bare, double Packed, double[] Half, double[] NinetyPct)>();
        using var cluster = new MockKafkaCluster();
        foreach (var (batch, concurrency) in Shapes.Where(s => context.Options.Batches.Contains(s.Batch)))
        {
            var payloads = Workload.Payloads(records, batch);
            var packed = Workload.ApiMessages(records, batch, Partitions).Select(m => (m.Partition, m.Message, m.Records)).ToList();
            for (var run = 1; run <= context.Options.Runs; run++)
            {
                var topic = $"bench.ingest.{batch}.{Guid.NewGuid():N}";
                var port = ChildProcess.FreePort();
                await using (var api = ChildProcess.Start("ModelMonitor.Ingestion", [], new Dictionary<string, string>
                {
                    ["Urls"] = $"http://127.0.0.1:{port}",
                    ["Kafka__BootstrapServers"] = cluster.BootstrapServers,
                    ["Auth__Mode"] = "None",
                    ["Kafka__Topic"] = topic,
                    ["Kafka__CreateTopic"] = "false",
                }, context.Options.LogDirectory))
                {
                    await api.WaitHttpOkAsync($"http://127.0.0.1:{port}/readyz", TimeSpan.FromSeconds(60));
                    var url = new Uri($"http://127.0.0.1:{port}/v1/predictions");
                    // Warm-up (connections, topic auto-creation, JIT), not measured. Tiered compilation keeps
                    // re-compiling hot methods for several seconds of load: profiled 6-12 s after start, the JIT
                    // thread took 13-21% of the API's CPU; after 20 s, under 1%. A long-running server has it behind.
                    await LoadAsync(url, payloads, batch, concurrency, WarmUp, ratePerSecond: null);
                    var cpuBefore = api.CpuTime();
                    var max = await LoadAsync(url, payloads, batch, concurrency, seconds, ratePerSecond: null);
                    var apiCores = (api.CpuTime() - cpuBefore).TotalSeconds / seconds.TotalSeconds;
                    var half = await LoadAsync(url, payloads, batch, 256, seconds, ratePerSecond: max.RequestsPerSecond * 0.5);
                    var ninety = await LoadAsync(url, payloads, batch, 256, seconds, ratePerSecond: max.RequestsPerSecond * 0.9);
                    var bare = BareProducer(cluster.BootstrapServers, topic + ".bare", perRecord, seconds);
                    var barePacked = BareProducer(cluster.BootstrapServers, topic + ".packed", packed, seconds);
                    results.Add((batch, max.PredictionsPerSecond, bare, barePacked, [half.PredictionsPerSecond, half.P50, half.P99], [ninety.PredictionsPerSecond, ninety.P50, ninety.P99]));
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{batch,-6} {concurrency,-5} {run,-4} {max.PredictionsPerSecond,-11:F0} {bare,-11:F0} {max.PredictionsPerSecond / bare,-9:P0} {barePacked,-14:F0} {half.PredictionsPerSecond,-11:F0} {half.P50,-7:F1} {half.P99,-7:F1} {ninety.PredictionsPerSecond,-11:F0} {ninety.P50,-7:F1} {ninety.P99,-7:F1}  API process {apiCores:F2} cores = {max.PredictionsPerSecond / apiCores:F0} predictions per API CPU-second{(max.Failures + half.Failures + ninety.Failures > 0 ? $"  non-202: {max.Failures + half.Failures + ninety.Failures}" : "")}"));
                }
            }
        }
        Console.WriteLine("-- median of the runs --");
        Console.WriteLine("batch  api max/s   bare/s      api/bare  bare packed/s  api/packed  @50% p50/p99 ms   @90% p50/p99 ms");
        foreach (var group in results.GroupBy(r => r.Batch))
        {
            double M(Func<(int Batch, double Api, double Bare, double Packed, double[] Half, double[] NinetyPct), double> f) => Stats.Median(group.Select(f));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{group.Key,-6} {M(r => r.Api),-11:F0} {M(r => r.Bare),-11:F0} {M(r => r.Api / r.Bare),-9:P0} {M(r => r.Packed),-14:F0} {M(r => r.Api / r.Packed),-11:P0} {M(r => r.Half[1]),6:F1} / {M(r => r.Half[2]),-8:F1} {M(r => r.NinetyPct[1]),6:F1} / {M(r => r.NinetyPct[2]):F1}"));
        }
    }

    internal sealed record LoadResult(double PredictionsPerSecond, double RequestsPerSecond, double P50, double P99, int Failures);

    /// <summary>
    /// Closed loop (rate null: <paramref name="concurrency"/> requests always in flight) or open loop
    /// (requests start on a fixed schedule, latency counted from the scheduled start, so a stalled
    /// server is not hidden by the client waiting: no coordinated omission).
    /// </summary>
    /// <param name="apiKey">Sent as the bearer credentials of every request (Auth:Mode=ApiKeys), or nothing.</param>
    internal static async Task<LoadResult> LoadAsync(Uri url, List<byte[]> payloads, int batch, int concurrency, TimeSpan duration, double? ratePerSecond,
        string? apiKey = null)
    {
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = concurrency, PooledConnectionLifetime = Timeout.InfiniteTimeSpan };
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        if (apiKey is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }
        var latencies = new List<double>[concurrency];
        var accepted = 0L;
        var failures = 0;
        var next = -1;
        var clock = Stopwatch.StartNew();
        var end = duration;

        async Task<bool> SendOneAsync(int index, List<double> lat, TimeSpan scheduled)
        {
            using var content = new ByteArrayContent(payloads[index % payloads.Count]);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await client.PostAsync(url, content);
            var body = await response.Content.ReadAsStringAsync();
            var took = (clock.Elapsed - scheduled).TotalMilliseconds;
            if ((int)response.StatusCode == 202 && body.Contains("\"rejected\":0", StringComparison.Ordinal))
            {
                Interlocked.Add(ref accepted, batch);
                lat.Add(took);
                return true;
            }
            Interlocked.Increment(ref failures);
            return false;
        }

        var workers = new Task[concurrency];
        for (var w = 0; w < concurrency; w++)
        {
            var lat = latencies[w] = [];
            workers[w] = Task.Run(async () =>
            {
                while (true)
                {
                    var index = Interlocked.Increment(ref next);
                    TimeSpan scheduled;
                    if (ratePerSecond is { } rate)
                    {
                        scheduled = TimeSpan.FromSeconds(index / rate);
                        if (scheduled >= end)
                        {
                            return;
                        }
                        var wait = scheduled - clock.Elapsed;
                        if (wait > TimeSpan.Zero)
                        {
                            await Task.Delay(wait);
                        }
                    }
                    else
                    {
                        scheduled = clock.Elapsed;
                        if (scheduled >= end)
                        {
                            return;
                        }
                    }
                    await SendOneAsync(index, lat, scheduled);
                }
            });
        }
        await Task.WhenAll(workers);
        var elapsed = ratePerSecond is null ? clock.Elapsed.TotalSeconds : Math.Max(clock.Elapsed.TotalSeconds, duration.TotalSeconds);
        var all = latencies.SelectMany(l => l).Order().ToList();
        return new LoadResult(accepted / elapsed, accepted / (double)batch / elapsed, Stats.Quantile(all, 0.5), Stats.Quantile(all, 0.99), failures);
    }

    /// <summary>
    /// The ceiling: <paramref name="messages"/> (partition or <see cref="Partition.Any"/>, message, records it holds)
    /// produced as fast as the client takes them, until every delivery report is in. Returns records per second.
    /// </summary>
    private static double BareProducer(string bootstrapServers, string topic, List<(int Partition, Message<byte[], byte[]> Message, int Records)> messages, TimeSpan duration)
    {
        using var producer = Workload.ApiLikeProducer(bootstrapServers);
        // Warm-up: topic creation and metadata.
        Workload.Produce(producer, topic, messages[0].Message, _ => { });
        producer.Flush(TimeSpan.FromSeconds(10));
        long delivered = 0, failed = 0;
        var clock = Stopwatch.StartNew();
        for (var i = 0; clock.Elapsed < duration; i++)
        {
            var (partition, message, records) = messages[i % messages.Count];
            Workload.Produce(producer, new TopicPartition(topic, partition), message, r =>
            {
                if (r.Error.IsError)
                {
                    Interlocked.Increment(ref failed);
                }
                else
                {
                    Interlocked.Add(ref delivered, records);
                }
            });
        }
        producer.Flush(TimeSpan.FromSeconds(30));
        var seconds = clock.Elapsed.TotalSeconds;
        if (failed > 0)
        {
            Console.WriteLine($"   bare producer: {failed} deliveries failed");
        }
        return delivered / seconds;
    }
}
