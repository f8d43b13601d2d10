using System.Diagnostics;
using System.Globalization;
using System.Text;
using Dapper;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Shadows;
using ModelMonitor.Core.Windows;
using ModelMonitor.Kafka;
using ModelMonitor.Testing.Postgres;
using Npgsql;
using static ModelMonitor.Benchmarks.EvaluationBenchmark;

namespace ModelMonitor.Benchmarks;

/// <summary>
/// `run.sh shadow` (issue 17): what the shadow join costs the aggregator. Per run two configurations, each on a fresh topic
/// of the mock Kafka cluster and a fresh database of a private Postgres (shared_buffers 128MB, fsync off), the API and the
/// aggregator as child processes as in `run.sh evaluation` (aggregator defaults: windows 5m,1h): join off (Shadow:Enabled and
/// Evaluation:Enabled false) and join on (Shadow:Enabled true, Shadow:ReloadInterval 1 s). In both, <see cref="Predictor"/> is
/// registered first (PUT /v1/predictors, primary p, shadows s1 and s2). After a warm-up, a measured phase of N prediction ids
/// (--shadow-ids), each predicted by p, s1 and s2 (same prediction_id and sent_at, a demo record's features): the three
/// models' predictions of 100 ids go in three consecutive requests of 100, as three prediction services would send them,
/// while the consumers are fewer than <see cref="Backlog"/> records behind. The clock stops when the statistics have read
/// every record and, join on, modelmonitor_shadow_join_pairs_total has grown by 3 × N. Measured: wall time, CPU of the
/// aggregator (/proc of the child) and of Postgres; every second the aggregator's RSS and shadow_predictions' rows and
/// pg_total_relation_size. The order of the two configurations alternates between runs; medians are printed. Then a
/// profile in this process of ShadowJoin.Contribute and of ShadowAccumulator's Serialize, Deserialize and Merge.
/// </summary>
internal static class ShadowBenchmark
{
    private const int PreStartIds = 1_000; // sent before the aggregator starts, so the topic exists when it subscribes
    private const int MaxWarmUpIds = 20_000;
    private static readonly string[] Models = ["p", "s1", "s2"];

    private sealed record Result(bool On, double Records, double Seconds, double AggregatorCpu, double PostgresCpu, long PeakRss, long PeakRows, long PeakBytes)
    {
        public string Config => On ? "join on" : "join off";

        public double Rate => Records / Seconds;

        public double AggregatorUs => 1e6 * AggregatorCpu / Records;

        public double PostgresUs => 1e6 * PostgresCpu / Records;
    }

    /// <summary>What the sampler saw (every second): the aggregator's RSS throughout, the join's table while measuring.</summary>
    private sealed class Peaks
    {
        public volatile bool Measuring;
        public long Rss, Rows, Bytes;
    }

    public static async Task RunAsync(BenchmarkContext context)
    {
        var ids = Math.Max(RequestSize, context.Options.ShadowIds / RequestSize * RequestSize);
        var warmUpIds = Math.Min(MaxWarmUpIds, ids);
        var demo = Workload.Records(20_000, _ => DateTimeOffset.UtcNow);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"-- API + aggregator (windows 5m,1h), Postgres shared_buffers 128MB; {Predictor} registered (primary p, shadows s1, s2) in both configurations; warm-up {warmUpIds:N0} ids, then {ids:N0} ids × 3 models = {3 * ids:N0} records through the API (per 100 ids, one request per model), sent while the consumers are < {Backlog:N0} records behind; join on: until modelmonitor_shadow_join_pairs_total grew by {3 * ids:N0} --"));
        Console.WriteLine("run  config    records   wall s  records/s  aggregator CPU-s  µs aggregator CPU/record  Postgres CPU-s  µs Postgres CPU/record  aggregator RSS peak MiB  shadow_predictions peak rows  peak MiB");
        using var cluster = new MockKafkaCluster();
        await using var postgres = await PostgresServer.CreateAsync(sharedBuffers: "128MB");
        var results = new List<Result>();
        for (var run = 1; run <= context.Options.Runs; run++)
        {
            // Alternating order: neither configuration always gets the later (warmer, or fuller) minutes.
            foreach (var on in run % 2 == 1 ? new[] { false, true } : [true, false])
            {
                var r = await RunOnceAsync(context, cluster, postgres, demo, on, ids, warmUpIds);
                results.Add(r);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{run,-4} {r.Config,-9} {r.Records,-9:N0} {r.Seconds,-7:F1} {r.Rate,-10:F0} {r.AggregatorCpu,-17:F2} {r.AggregatorUs,-25:F2} {r.PostgresCpu,-15:F2} {r.PostgresUs,-23:F2} {r.PeakRss / 1048576.0,-24:F0} {r.PeakRows,-29:N0} {r.PeakBytes / 1048576.0:F1}"));
            }
        }
        var off = results.Where(r => !r.On).ToList();
        var onRuns = results.Where(r => r.On).ToList();
        Console.WriteLine($"-- median of {context.Options.Runs} run(s) --");
        Console.WriteLine("config    records   wall s  aggregator CPU s  µs aggregator CPU per record  Postgres CPU s  µs Postgres CPU per record  aggregator RSS peak MiB");
        foreach (var group in new[] { off, onRuns })
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{group[0].Config,-9} {group[0].Records,-9:N0} {Stats.Median(group.Select(r => r.Seconds)),-7:F1} {Stats.Median(group.Select(r => r.AggregatorCpu)),-17:F2} {Stats.Median(group.Select(r => r.AggregatorUs)),-29:F2} {Stats.Median(group.Select(r => r.PostgresCpu)),-15:F2} {Stats.Median(group.Select(r => r.PostgresUs)),-27:F2} {Stats.Median(group.Select(r => r.PeakRss / 1048576.0)):F0}"));
        }
        // Both figures: the ratio of the medians, and the median of each run's ratio (its two configurations ran back to back,
        // so they share that minute's machine: the paired figure is the steadier one on a box whose speed drifts).
        var perRun = off.Zip(onRuns, (a, b) => b.AggregatorUs / a.AggregatorUs).ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"join on / off aggregator CPU per record: {Stats.Median(onRuns.Select(r => r.AggregatorUs)) / Stats.Median(off.Select(r => r.AggregatorUs)):F2} by the medians, {Stats.Median(perRun):F2} by the median of the runs' ratios (target ≤ 1.25; per run: {string.Join(", ", perRun.Select(r => r.ToString("F2", CultureInfo.InvariantCulture)))})"));

        // The waiting predictions are bounded by the arrival skew between the models of an id: by Little's law, rows ≈ rate ×
        // mean wait, so they scale with the rate.
        var (rows, bytes, rate) = (Stats.Median(onRuns.Select(r => (double)r.PeakRows)), Stats.Median(onRuns.Select(r => (double)r.PeakBytes)),
            Stats.Median(onRuns.Select(r => r.Rate)));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"join state (join on, medians): shadow_predictions peak {rows:N0} rows, {bytes / 1048576.0:F2} MiB (pg_total_relation_size: the high-water mark, dead rows included until autovacuum), at {rate:F0} predictions/s ({rate / 3:F0} ids/s); per 100k predictions/s: {rows * 100_000 / rate:N0} rows, {bytes * 100_000 / rate / 1048576.0:F2} MiB; mean wait of a prediction ≈ peak rows / rate = {1000 * rows / rate:F0} ms (an upper bound: the peak, not the mean)"));
        Profile(demo);
    }

    private static async Task<Result> RunOnceAsync(BenchmarkContext context, MockKafkaCluster cluster, PostgresServer postgres, List<PredictionLog> demo,
        bool on, int ids, int warmUpIds)
    {
        // Built per configuration, before any service runs: the join skips predictions read Shadow:JoinWindow (10 min) after sent_at.
        var sentAt = DateTimeOffset.UtcNow;
        var (preStart, warmUp, measured) = (Payloads(demo, "a", PreStartIds, sentAt), Payloads(demo, "w", warmUpIds, sentAt), Payloads(demo, "m", ids, sentAt));
        var database = await postgres.CreateDatabaseAsync("shadow");
        var topic = $"bench.shadow.{Guid.NewGuid():N}";
        var apiPort = ChildProcess.FreePort();
        await using var api = StartApi(context, cluster, topic, apiPort, database);
        await api.WaitHttpOkAsync($"http://127.0.0.1:{apiPort}/readyz", TimeSpan.FromSeconds(60));
        await RegisterAsync(new Uri($"http://127.0.0.1:{apiPort}/v1/predictors/{Predictor}"));
        var predictionsUrl = new Uri($"http://127.0.0.1:{apiPort}/v1/predictions");
        await SendAsync(predictionsUrl, preStart, RequestSize, preStart.Count, Timeout.InfiniteTimeSpan, retry: true);

        var aggregatorPort = ChildProcess.FreePort();
        await using var aggregator = ChildProcess.Start("ModelMonitor.Aggregator", [], new Dictionary<string, string>
        {
            ["Urls"] = $"http://127.0.0.1:{aggregatorPort}",
            ["ConnectionStrings__Postgres"] = database,
            ["Kafka__BootstrapServers"] = cluster.BootstrapServers,
            ["Auth__Mode"] = "None",
            ["Kafka__Topic"] = topic,
            ["Kafka__OutcomesTopic"] = topic + ".outcomes",
            ["Kafka__CreateTopic"] = "false",
            ["Aggregator__ConsumerGroup"] = $"bench-aggregator-{topic}",
            ["Evaluation__ConsumerGroup"] = $"bench-evaluation-{topic}",
            ["Evaluation__Enabled"] = "false",
            ["Shadow__Enabled"] = on ? "true" : "false",
            ["Shadow__ReloadInterval"] = "00:00:01",
        }, context.Options.LogDirectory);
        await aggregator.WaitHttpOkAsync($"http://127.0.0.1:{aggregatorPort}/healthz", TimeSpan.FromSeconds(60));
        await using var db = NpgsqlDataSource.Create(database);
        await using var monitor = new EvaluationBenchmark.Monitor(aggregator, new Uri($"http://127.0.0.1:{aggregatorPort}/metrics"), db, $"bench-evaluation-{topic}", topic);

        // Progress: records read by the statistics and, join on, by the join too (its offsets committed in Postgres).
        double Read(Snapshot s) => on ? s.ReadByBoth : s.StatsRecords;
        bool Done(Snapshot start, Snapshot s, double records) =>
            s.StatsRecords - start.StatsRecords >= records && (!on || s.ShadowPairs - start.ShadowPairs >= records); // 3 pairs per id, 3 records
        Task SendPredictionsAsync(List<byte[]> payloads, Snapshot start) =>
            SendAsync(predictionsUrl, payloads, RequestSize, payloads.Count, Timeout.InfiniteTimeSpan, retry: true,
                gate: sent => sent <= Read(monitor.Current) - Read(start) + Backlog);

        var none = new Snapshot(0, 0, 0, 0, 0, 0, 0, 0, 0);
        await monitor.WaitAsync("start", s => Done(none, s, 3.0 * PreStartIds) && (!on || s.ShadowPredictors >= 1));
        var pg = await PostgresCpu.OfAsync(db);
        var peaks = new Peaks();
        using var stop = new CancellationTokenSource();
        var sampler = SampleAsync(aggregator, db, peaks, stop.Token);

        var warm = monitor.Current;
        await SendPredictionsAsync(warmUp, warm);
        await monitor.WaitAsync("warm-up", s => Done(warm, s, 3.0 * warmUpIds));

        var begin = monitor.Current;
        var (cpu, pgCpu) = (aggregator.CpuTime(), pg.Total());
        peaks.Measuring = true;
        var clock = Stopwatch.StartNew();
        await SendPredictionsAsync(measured, begin);
        await monitor.WaitAsync("measured", s => Done(begin, s, 3.0 * ids));
        var seconds = clock.Elapsed.TotalSeconds;
        var (aggregatorCpu, postgresCpu) = ((aggregator.CpuTime() - cpu).TotalSeconds, (pg.Total() - pgCpu).TotalSeconds);
        await stop.CancelAsync();
        await sampler;
        return new Result(on, 3.0 * ids, seconds, aggregatorCpu, postgresCpu, peaks.Rss, peaks.Rows, peaks.Bytes);
    }

    /// <summary>Every second: the aggregator's RSS; while measuring, shadow_predictions' rows and size (in both
    /// configurations, so that Postgres does the same extra work in both).</summary>
    private static Task SampleAsync(ChildProcess aggregator, NpgsqlDataSource db, Peaks peaks, CancellationToken cancellationToken) => Task.Run(async () =>
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                peaks.Rss = Math.Max(peaks.Rss, aggregator.RssBytes());
                if (peaks.Measuring)
                {
                    await using var connection = await db.OpenConnectionAsync(cancellationToken);
                    var (rows, bytes) = await connection.QuerySingleAsync<(long, long)>(new CommandDefinition(
                        "SELECT (SELECT count(*) FROM shadow_predictions), pg_total_relation_size('shadow_predictions')", cancellationToken: cancellationToken));
                    (peaks.Rows, peaks.Bytes) = (Math.Max(peaks.Rows, rows), Math.Max(peaks.Bytes, bytes));
                }
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException or NpgsqlException)
            {
                // stopping, or the aggregator is gone (the phase's wait reports it)
            }
            try
            {
                await Task.Delay(1000, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }, CancellationToken.None);

    private static async Task RegisterAsync(Uri url)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var clock = Stopwatch.StartNew();
        while (true)
        {
            using var content = new StringContent("""{"primary_model_id":"p","shadow_model_ids":["s1","s2"]}""", Encoding.UTF8, "application/json");
            using var response = await client.PutAsync(url, content);
            if (response.IsSuccessStatusCode)
            {
                return;
            }
            if (clock.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new InvalidOperationException($"PUT {url} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            }
            await Task.Delay(500); // e.g. 503 while the API migrates the schema
        }
    }

    /// <summary>Model <paramref name="model"/>'s prediction of id <paramref name="i"/>: p a demo record's, the shadows near it.</summary>
    private static double Prediction(List<PredictionLog> demo, int i, int model) => model switch
    {
        0 => Primary(demo, i),
        1 => Shadow(demo, i),
        _ => (Primary(demo, i) * 0.9) + 1,
    };

    /// <summary>Ids 0…count of <see cref="Predictor"/> with <paramref name="prefix"/>, per 100 ids one request per model.</summary>
    private static List<byte[]> Payloads(List<PredictionLog> demo, string prefix, int count, DateTimeOffset sentAt)
    {
        var records = new List<PredictionLog>(3 * count);
        foreach (var chunk in Enumerable.Range(0, count).Chunk(RequestSize))
        {
            for (var model = 0; model < Models.Length; model++)
            {
                foreach (var i in chunk)
                {
                    var record = demo[i % demo.Count];
                    records.Add(new PredictionLog(sentAt, Id(prefix, i), Predictor, Models[model], record.Features, Prediction(demo, i, model), record.DefaultValuesUsed));
                }
            }
        }
        return Workload.Payloads(records, RequestSize);
    }

    /// <summary>The join's pure code, one thread, process CPU time, best of 3.</summary>
    private static void Profile(List<PredictionLog> demo)
    {
        const int Count = 100_000;
        const int Operations = 5_000;
        var sentAt = DateTimeOffset.UtcNow;
        var predictions = Enumerable.Range(0, Count)
            .SelectMany(i => Models.Select((model, k) => new ShadowPrediction(Predictor, Id("x", i), model, sentAt, Prediction(demo, i, k)))).ToList();
        WindowSize[] windows = [WindowSize.Parse("5m"), WindowSize.Parse("1h")];
        using var self = Process.GetCurrentProcess();
        double Cpu()
        {
            self.Refresh();
            return self.TotalProcessorTime.TotalMicroseconds;
        }
        double contributeUs = double.MaxValue, serializeUs = double.MaxValue, deserializeUs = double.MaxValue, mergeUs = double.MaxValue;
        ShadowContributions? contributions = null;
        for (var round = 0; round < 3; round++)
        {
            // As the join's worker does: each prediction into the batch's groups as it is read, then the join of the groups.
            var started = Cpu();
            var shadowBatch = new ShadowBatch();
            foreach (var prediction in predictions)
            {
                shadowBatch.Add(prediction);
            }
            contributions = ShadowJoin.Contribute(shadowBatch.Groups, windows, TimeSpan.FromMinutes(10), _ => Models.Length, _ => null);
            contributeUs = Math.Min(contributeUs, (Cpu() - started) / predictions.Count);
            if (contributions.PairCount != 3L * Count || contributions.Complete.Count != 0)
            {
                throw new InvalidOperationException($"profile: {contributions.PairCount} pairs, {contributions.Complete.Count} complete ids");
            }
        }
        // A window row's state (the 1h window of p and s1: Count pairs), and a batch's contribution (1,000 pairs) merged into it,
        // as the store does per touched row: read, merge, write.
        var window = contributions!.Pairs.First(p => p.Key.WindowSeconds == 3600 && p.Key.ModelB == "s1").Value;
        var state = window.Serialize();
        var batch = new ShadowAccumulator();
        for (var i = 0; i < 1_000; i++)
        {
            batch.Add(Prediction(demo, i, 0), Prediction(demo, i, 1), null);
        }
        for (var round = 0; round < 3; round++)
        {
            var started = Cpu();
            for (var i = 0; i < Operations; i++)
            {
                window.Serialize();
            }
            serializeUs = Math.Min(serializeUs, (Cpu() - started) / Operations);
            started = Cpu();
            var copies = new List<ShadowAccumulator>(Operations);
            for (var i = 0; i < Operations; i++)
            {
                copies.Add(ShadowAccumulator.Deserialize(state));
            }
            deserializeUs = Math.Min(deserializeUs, (Cpu() - started) / Operations);
            started = Cpu();
            foreach (var copy in copies)
            {
                copy.Merge(batch);
            }
            mergeUs = Math.Min(mergeUs, (Cpu() - started) / Operations);
        }
        Console.WriteLine();
        // The join's read of a record: its key from a Kafka message of 25 records as the API writes them (the client's JSON
        // verbatim, features before prediction_result), for a compared predictor and for one the join skips.
        var records = Encoding.UTF8.GetString(DemoTraffic.Sending.PredictionPayloadWriter.ToBytes(demo.Take(25_000).ToList(), DemoTraffic.Sending.PayloadFormat.Ndjson))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => PredictionLogCodec.EncodeVerbatim(Encoding.UTF8.GetBytes(line))).ToList();
        var messages = records.Chunk(25).Select(chunk => chunk.SelectMany(r => r.Append(PredictionMessages.Separator)).SkipLast(1).ToArray()).ToList();
        var keys = new List<PredictionKey>(32);
        var errors = new List<string>();
        double DecodeUs(Func<string, bool> wanted)
        {
            var best = double.MaxValue;
            for (var round = 0; round < 3; round++)
            {
                var started = Cpu();
                foreach (var message in messages)
                {
                    keys.Clear();
                    PredictionKeys.Decode(message, wanted, keys, errors);
                }
                best = Math.Min(best, (Cpu() - started) / records.Count);
            }
            return best;
        }
        var wantedUs = DecodeUs(_ => true);
        var skippedUs = DecodeUs(_ => false);
        // The same from the messages' keys header (PredictionKeyHeader), as the API writes it.
        var logs = demo.Take(25_000).ToList();
        var headers = Enumerable.Range(0, logs.Count).Chunk(25).Select(chunk => PredictionKeyHeader.Encode(logs, chunk)).ToList();
        double HeaderUs(Func<string, bool> wanted)
        {
            var best = double.MaxValue;
            for (var round = 0; round < 3; round++)
            {
                var started = Cpu();
                foreach (var header in headers)
                {
                    keys.Clear();
                    PredictionKeyHeader.Decode(header, wanted, keys);
                }
                best = Math.Min(best, (Cpu() - started) / logs.Count);
            }
            return best;
        }
        var headerWantedUs = HeaderUs(_ => true);
        var headerSkippedUs = HeaderUs(_ => false);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"profile: the key of a record ({records.Average(r => r.Length):F0} B, verbatim) read by the join from its JSON {wantedUs:F2} µs (compared predictor), {skippedUs:F2} µs (skipped predictor); from the message's keys header ({headers.Average(h => h.Length) / 25:F0} B per record) {headerWantedUs:F2} µs, {headerSkippedUs:F2} µs; errors {errors.Count}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"profile of the join's pure code (one thread, process CPU time, best of 3): ShadowBatch.Add and ShadowJoin.Contribute of {Count:N0} ids × 3 models (all in one batch, windows 5m,1h; {contributions.PairCount:N0} pairs, {contributions.Pairs.Count} comparison rows) {contributeUs:F2} µs per prediction; ShadowAccumulator of a window ({window.Count:N0} pairs, serialized {state.Length:N0} B): Serialize {serializeUs:F2} µs, Deserialize {deserializeUs:F2} µs, Merge of a batch's (1,000 pairs) {mergeUs:F2} µs"));
    }
}
