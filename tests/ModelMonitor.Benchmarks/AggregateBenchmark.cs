using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using Dapper;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Statistics;
using ModelMonitor.Core.Windows;
using ModelMonitor.Kafka;
using ModelMonitor.Testing.Metrics;
using Npgsql;

namespace ModelMonitor.Benchmarks;

/// <summary>
/// Scenario 2: predictions/s consumed, aggregated and committed to Postgres by the aggregator (a child
/// process, default settings: windows 5m,1h, flush every 5 s or 200k records). The topic holds what the API
/// writes for requests of 100 records (one message per partition per request). It is pre-filled, then kept
/// topped up: this process produces only while the aggregator's backlog (produced − consumed, from its /metrics)
/// is under <see cref="Backlog"/> records, so the aggregator is never starved and the mock broker never holds
/// more than ~5 MB per partition (it would delete unread data). The rate is Δ(predictions committed in Postgres:
/// the sum of the 5-minute windows' prediction_count) / Δt between the first and the last commit seen.
/// </summary>
internal static class AggregateBenchmark
{
    private const int Backlog = 30_000;
    private const int RequestSize = 100;
    private const int Partitions = 4; // the mock cluster's auto-created topics

    // Not measured: the first seconds after the first commit, while tiered compilation still re-compiles the hot
    // path (profiled: the JIT thread took ~9% of the aggregator's CPU in them).
    private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(10);

    public static async Task RunAsync(BenchmarkContext context)
    {
        var duration = TimeSpan.FromSeconds(Math.Max(context.Options.Seconds * 2, 15));
        var records = Workload.Records(50_000, i => DateTimeOffset.UtcNow.AddSeconds(-i % 60));
        var messages = Workload.ApiMessages(records, RequestSize, Partitions);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"records: demo generator, {records.Average(r => r.Features.Count):F1} features; as the API writes requests of {RequestSize}: {messages.Average(m => m.Records):F1} records and {messages.Average(m => m.Message.Value.Length):F0} B per message; measured for {duration.TotalSeconds:F0} s from {WarmUp.TotalSeconds:F0} s after the first commit; backlog kept ≤ {Backlog:N0} records"));
        Console.WriteLine("run  committed/s  messages/s  aggregator CPU (cores)  predictions per CPU-second  flushes  flush ms avg  flush share of CPU time");
        var rates = new List<double[]>();
        using var cluster = new MockKafkaCluster();
        for (var run = 1; run <= context.Options.Runs; run++)
        {
            rates.Add(await RunOnceAsync(context, cluster, messages, duration, run));
        }
        Console.WriteLine("-- median of the runs --");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"committed {Stats.Median(rates.Select(r => r[0])):F0} predictions/s, consumed {Stats.Median(rates.Select(r => r[1])):F0} messages/s, {Stats.Median(rates.Select(r => r[2])):F2} cores, {Stats.Median(rates.Select(r => r[3])):F0} predictions per CPU-second"));
        Profile(Workload.PerRecordMessages(records));
    }

    private static async Task<double[]> RunOnceAsync(BenchmarkContext context, MockKafkaCluster cluster,
        List<(int Partition, Message<byte[], byte[]> Message, int Records)> messages, TimeSpan duration, int run)
    {
        var database = await context.NewDatabaseAsync("aggregate");
        var topic = $"bench.aggregate.{Guid.NewGuid():N}";
        using var producer = Workload.ApiLikeProducer(cluster.BootstrapServers);
        // produced and consumed count messages; the backlog bound is in records.
        var backlog = (long)(Backlog / messages.Average(m => m.Records));
        long produced = 0;
        void ProduceNext()
        {
            var (partition, message, _) = messages[(int)(produced % messages.Count)];
            Workload.Produce(producer, new TopicPartition(topic, partition), message, _ => { });
            produced++;
        }
        while (produced < backlog)
        {
            ProduceNext();
        }
        producer.Flush(TimeSpan.FromSeconds(30));

        var port = ChildProcess.FreePort();
        await using var aggregator = ChildProcess.Start("ModelMonitor.Aggregator", [], new Dictionary<string, string>
        {
            ["Urls"] = $"http://127.0.0.1:{port}",
            ["ConnectionStrings__Postgres"] = database,
            ["Kafka__BootstrapServers"] = cluster.BootstrapServers,
            ["Auth__Mode"] = "None",
            ["Kafka__Topic"] = topic,
        }, context.Options.LogDirectory);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
        await aggregator.WaitHttpOkAsync($"http://127.0.0.1:{port}/healthz", TimeSpan.FromSeconds(60));

        using var stop = new CancellationTokenSource();
        long consumed = 0;
        var topUp = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    Interlocked.Exchange(ref consumed, (long)Metric(await http.GetStringAsync("/metrics", stop.Token), "modelmonitor_aggregator_messages_consumed_total"));
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                }
                while (!stop.IsCancellationRequested && produced - Interlocked.Read(ref consumed) < backlog)
                {
                    ProduceNext();
                }
                producer.Poll(TimeSpan.Zero);
                await Task.Delay(50, CancellationToken.None);
            }
        });

        await using var db = NpgsqlDataSource.Create(database);
        (TimeSpan At, long Committed, TimeSpan Cpu, double Consumed)? first = null, last = null;
        var clock = Stopwatch.StartNew();
        var lastValue = 0L;
        TimeSpan? firstCommitAt = null;
        while (clock.Elapsed < TimeSpan.FromSeconds(120) && (first is null || clock.Elapsed - first.Value.At < duration))
        {
            await Task.Delay(50);
            long committed;
            try
            {
                await using var connection = await db.OpenConnectionAsync();
                committed = await connection.ExecuteScalarAsync<long?>("SELECT sum(prediction_count)::bigint FROM model_window_stats WHERE window_seconds = 300") ?? 0;
            }
            catch (PostgresException)
            {
                continue; // schema not migrated yet
            }
            if (committed != lastValue)
            {
                lastValue = committed;
                var sample = (clock.Elapsed, committed, aggregator.CpuTime(), (double)Interlocked.Read(ref consumed));
                firstCommitAt ??= clock.Elapsed;
                if (clock.Elapsed - firstCommitAt >= WarmUp)
                {
                    first ??= sample;
                    last = sample;
                }
            }
        }
        var metricsText = await http.GetStringAsync("/metrics");
        await stop.CancelAsync();
        await topUp;
        if (first is null || last is null || last.Value.At == first.Value.At)
        {
            Console.WriteLine($"{run,-4} fewer than two commits seen within 120 s; see {aggregator.LogPath}");
            return [0, 0, 0, 0];
        }
        var seconds = (last.Value.At - first.Value.At).TotalSeconds;
        var committedRate = (last.Value.Committed - first.Value.Committed) / seconds;
        var consumedRate = (last.Value.Consumed - first.Value.Consumed) / seconds;
        var cores = (last.Value.Cpu - first.Value.Cpu).TotalSeconds / seconds;
        var flushes = Metric(metricsText, "modelmonitor_aggregator_flushes_total");
        var flushSeconds = Metric(metricsText, "modelmonitor_aggregator_flush_duration_seconds_sum");
        var cpuTotal = aggregator.CpuTime().TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{run,-4} {committedRate,-12:F0} {consumedRate,-11:F0} {cores,-23:F2} {committedRate / cores,-27:F0} {flushes,-8:F0} {1000 * flushSeconds / flushes,-13:F0} {flushSeconds / cpuTotal:P0} (wall time of flushes / process CPU)"));
        return [committedRate, consumedRate, cores, committedRate / cores];
    }

    /// <summary>The value of an unlabelled sample in Prometheus text.</summary>
    public static double Metric(string text, string name) => Exposition.Sample(text, name);

    /// <summary>
    /// Where the time goes, per record, single thread, in this process: decode (PredictionLogCodec.TryDecode,
    /// as the consumer does) and accumulate (the public accumulators the aggregator's delta uses, for
    /// 2 windows). The remainder of the aggregator's CPU time is Kafka fetch/consume, flushes and the host.
    /// </summary>
    private static void Profile(List<Message<byte[], byte[]>> messages)
    {
        var logs = new PredictionLog[messages.Count];
        // Process CPU time, not wall time: other work on the 2 cores would otherwise count as ours.
        using var self = Process.GetCurrentProcess();
        var watch = new CpuWatch(self);
        double decodeUs = double.MaxValue, accumulateUs = double.MaxValue, rewriteUs = double.MaxValue, tokenizeUs = double.MaxValue;
        var windows = new[] { WindowSize.Parse("5m"), WindowSize.Parse("1h") };
        for (var round = 0; round < 3; round++)
        {
            // Floors of decoding: the NaN/Infinity pre-scan alone, and a bare token walk of the JSON.
            watch.Restart();
            for (var i = 0; i < messages.Count; i++)
            {
                ModelMonitor.Core.Json.NonFiniteLiterals.Rewrite(messages[i].Value, out _);
            }
            rewriteUs = Math.Min(rewriteUs, watch.Elapsed.TotalMicroseconds / messages.Count);
            watch.Restart();
            var tokens = 0L;
            for (var i = 0; i < messages.Count; i++)
            {
                var reader = new System.Text.Json.Utf8JsonReader(messages[i].Value);
                while (reader.Read())
                {
                    tokens++;
                }
            }
            tokenizeUs = Math.Min(tokenizeUs, watch.Elapsed.TotalMicroseconds / messages.Count);
            GC.KeepAlive(tokens);

            watch.Restart();
            for (var i = 0; i < messages.Count; i++)
            {
                PredictionLogCodec.TryDecode(messages[i].Value, out var decoded, out _);
                logs[i] = decoded!;
            }
            decodeUs = Math.Min(decodeUs, watch.Elapsed.TotalMicroseconds / messages.Count);

            watch.Restart();
            var models = new Dictionary<(long, string, string), (ModelAccumulator Model, Dictionary<string, FeatureAccumulator> Features)>();
            foreach (var log in logs)
            {
                foreach (var window in windows)
                {
                    var key = (window.WindowStart(log!.SentAt).ToUnixTimeSeconds() * 10 + window.Seconds, log.PredictorName, log.ModelId);
                    if (!models.TryGetValue(key, out var entry))
                    {
                        models[key] = entry = (new ModelAccumulator(), new Dictionary<string, FeatureAccumulator>(StringComparer.Ordinal));
                    }
                    entry.Model.Add(log.PredictionResult);
                    foreach (var (name, value) in log.Features)
                    {
                        if (!entry.Features.TryGetValue(name, out var feature))
                        {
                            entry.Features[name] = feature = new FeatureAccumulator();
                        }
                        feature.Add(value);
                    }
                }
            }
            accumulateUs = Math.Min(accumulateUs, watch.Elapsed.TotalMicroseconds / messages.Count);
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"profile (one thread, process CPU time, best of 3 over {messages.Count:N0} records): decode {decodeUs:F2} µs/record ({1e6 / decodeUs:F0}/s alone), accumulate 2 windows {accumulateUs:F2} µs/record ({1e6 / accumulateUs:F0}/s alone); decode+accumulate bound {1e6 / (decodeUs + accumulateUs):F0}/s per core; inside decode, floors: NaN/Infinity pre-scan {rewriteUs:F2} µs, bare Utf8JsonReader token walk {tokenizeUs:F2} µs"));
    }

    /// <summary>A stopwatch over the process's CPU time (user + system).</summary>
    private sealed class CpuWatch(Process process)
    {
        private TimeSpan _start;

        public TimeSpan Elapsed
        {
            get
            {
                process.Refresh();
                return process.TotalProcessorTime - _start;
            }
        }

        public void Restart()
        {
            process.Refresh();
            _start = process.TotalProcessorTime;
        }
    }
}
