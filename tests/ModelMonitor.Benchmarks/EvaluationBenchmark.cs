using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Dapper;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Evaluation;
using ModelMonitor.Core.Windows;
using ModelMonitor.DemoTraffic.Sending;
using ModelMonitor.Kafka;
using ModelMonitor.Testing.Metrics;
using ModelMonitor.Testing.Postgres;
using Npgsql;

namespace ModelMonitor.Benchmarks;

/// <summary>
/// `run.sh evaluation` (issue 16, BENCHMARKS.md section 13), three parts, the services as child processes on the mock
/// Kafka cluster:
/// <list type="number">
/// <item>API: outcomes/s and predictions/s accepted by POST /v1/outcomes and /v1/predictions (batches of 100,
/// <see cref="Concurrency"/> requests in flight as the ingest scenario), side by side in one API process, after a warm-up
/// of both; the order alternates between runs.</item>
/// <item>join: the API and the aggregator (defaults: windows 5m,1h, Evaluation:FlushInterval 2 s; predictor
/// <see cref="Predictor"/> configured as regression) on a private Postgres (shared_buffers 128MB, fsync off). After a
/// warm-up of every path, three measured phases through the API: (a) <see cref="StatisticsRecords"/> demo-generator
/// records of predictors not evaluated (statistics only; the join reads and skips them); (b) the pre-load,
/// <see cref="Ids"/> prediction ids of <see cref="Predictor"/> predicted by two models (2 × Ids records: statistics, and
/// the join stores them); (c) the Ids outcomes, until modelmonitor_evaluation_pairs_total has grown by 2 × Ids. Per phase
/// the CPU time of the aggregator (/proc of the child) and of Postgres (the postmaster, its live children and what it
/// reaped), and the wall time. Predictions are sent only while the slower of the two consumers is fewer than
/// <see cref="Backlog"/> records behind (the mock broker keeps ~5 MB per partition); the join's progress is its
/// committed offsets in Postgres. Then the tables' sizes (predictions pending after (b), outcomes after (c)).</item>
/// <item>freshness, in the last run on the same services: a steady mix of 1,000 prediction ids/s (two models each:
/// 2,000 records/s) and 1,000 outcomes/s (of ids predicted <see cref="OutcomeDelay"/> earlier) for
/// <see cref="Steady"/>; the first outcome of every request is a sample, from its 202 to its row in evaluation_outcomes
/// (Postgres polled every 100 ms).</item>
/// </list>
/// And a profile in this process of the join's pure code: decode of prediction and outcome messages, the pair's
/// contribution to the windows.
/// </summary>
internal static class EvaluationBenchmark
{
    internal const string Predictor = "bench_eta";
    internal const int RequestSize = 100;
    internal const int Concurrency = 32; // the ingest scenario's for batches of 100
    private const int Ids = 200_000;
    private const int StatisticsRecords = 200_000;
    private const int PreStartIds = 5_000; // sent before the aggregator starts, so both topics exist when its join subscribes
    private const int PreStartStatistics = 10_000;
    private const int WarmUpIds = 25_000; // then a warm-up of every path before the measured phases (tiered JIT)
    private const int WarmUpStatistics = 50_000;
    // Prediction records sent and not yet read by both consumers. The mock broker kept ~1,950 of the API's messages of
    // these records per partition (~49k records; 5 MiB of lz4 batches) when filled without a consumer: half of that.
    internal const double Backlog = 100_000;
    private const double OutcomeBacklog = 100_000; // outcomes: ~115 B each
    private const int SteadyIdsPerSecond = 1_000;
    private static readonly TimeSpan ApiWarmUp = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan Steady = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan OutcomeDelay = TimeSpan.FromSeconds(5);
    internal static readonly TimeSpan PhaseTimeout = TimeSpan.FromSeconds(180);

    public static async Task RunAsync(BenchmarkContext context)
    {
        var demo = Workload.Records(20_000, _ => DateTimeOffset.UtcNow);
        using var cluster = new MockKafkaCluster();
        await ApiAsync(context, cluster, demo);
        await JoinAsync(context, cluster, demo);
        Profile(demo);
    }

    // ---------------------------------------------------------------- 1. the API

    private static async Task ApiAsync(BenchmarkContext context, MockKafkaCluster cluster, List<PredictionLog> demo)
    {
        var seconds = TimeSpan.FromSeconds(context.Options.Seconds);
        var predictions = Workload.Payloads(demo, RequestSize);
        var observedAt = DateTimeOffset.UtcNow;
        var outcomes = Enumerable.Range(0, demo.Count).Chunk(RequestSize)
            .Select(c => OutcomeBody(c.Select(i => (demo[i].PredictionId, Actual(Primary(demo, i), i))), observedAt)).ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"-- API: batches of {RequestSize}, {Concurrency} requests in flight, {seconds.TotalSeconds:F0} s per phase after {ApiWarmUp.TotalSeconds:F0} s of both; request bodies {predictions.Average(p => p.Length) / RequestSize:F0} B per prediction, {outcomes.Average(p => p.Length) / RequestSize:F0} B per outcome --"));
        Console.WriteLine("run  predictions/s  outcomes/s  outcomes/predictions  API predictions per CPU-s  API outcomes per CPU-s");
        var results = new List<double[]>();
        for (var run = 1; run <= context.Options.Runs; run++)
        {
            var topic = $"bench.evaluation-api.{Guid.NewGuid():N}";
            var port = ChildProcess.FreePort();
            await using var api = StartApi(context, cluster, topic, port);
            await api.WaitHttpOkAsync($"http://127.0.0.1:{port}/readyz", TimeSpan.FromSeconds(60));
            var predictionsUrl = new Uri($"http://127.0.0.1:{port}/v1/predictions");
            var outcomesUrl = new Uri($"http://127.0.0.1:{port}/v1/outcomes");
            await SendAsync(predictionsUrl, predictions, RequestSize, long.MaxValue, ApiWarmUp / 2);
            await SendAsync(outcomesUrl, outcomes, RequestSize, long.MaxValue, ApiWarmUp / 2);
            async Task<(double Rate, double PerCpu, int Failures)> MeasureAsync(Uri url, List<byte[]> payloads)
            {
                var cpu = api.CpuTime();
                var load = await SendAsync(url, payloads, RequestSize, long.MaxValue, seconds);
                return (load.Records / load.Seconds, load.Records / (api.CpuTime() - cpu).TotalSeconds, load.Failures);
            }
            // Alternating order: neither kind always gets the later (warmer, or more loaded) seconds.
            (double Rate, double PerCpu, int Failures) p, o;
            if (run % 2 == 1)
            {
                p = await MeasureAsync(predictionsUrl, predictions);
                o = await MeasureAsync(outcomesUrl, outcomes);
            }
            else
            {
                o = await MeasureAsync(outcomesUrl, outcomes);
                p = await MeasureAsync(predictionsUrl, predictions);
            }
            results.Add([p.Rate, o.Rate, p.PerCpu, o.PerCpu]);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{run,-4} {p.Rate,-14:F0} {o.Rate,-11:F0} {o.Rate / p.Rate,-21:F2} {p.PerCpu,-26:F0} {o.PerCpu:F0}{(p.Failures + o.Failures > 0 ? $"  non-202: {p.Failures + o.Failures}" : "")}"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"median: predictions {Stats.Median(results.Select(r => r[0])):F0}/s, outcomes {Stats.Median(results.Select(r => r[1])):F0}/s ({Stats.Median(results.Select(r => r[1] / r[0])):F2}× predictions); per API CPU-second {Stats.Median(results.Select(r => r[2])):F0} predictions, {Stats.Median(results.Select(r => r[3])):F0} outcomes"));
    }

    // ---------------------------------------------------------------- 2. the join

    private sealed record Phase(string Name, double Records, double Seconds, double AggregatorCpu, double PostgresCpu, double ApiCpu, double Writes,
        double WriteSeconds)
    {
        public double PerAggregatorCpu => Records / AggregatorCpu;

        public double PerBothCpu => Records / (AggregatorCpu + PostgresCpu);
    }

    private sealed record Sizes(long Predictions, long PredictionBytes, long PredictionHeap, long PredictionIndexes, long Outcomes, long OutcomeBytes,
        long OutcomeHeap, long OutcomeIndexes, long WindowRows);

    private static async Task JoinAsync(BenchmarkContext context, MockKafkaCluster cluster, List<PredictionLog> demo)
    {
        // Built once, before any service runs: the runs send the same bodies into fresh topics and databases.
        var sentAt = DateTimeOffset.UtcNow;
        var preStart = (Workload.Payloads(Evaluated(demo, "w", 0, PreStartIds, sentAt), RequestSize), OutcomeBodies(demo, "w", 0, PreStartIds, sentAt));
        var warmUp = (Workload.Payloads(Evaluated(demo, "v", 0, WarmUpIds, sentAt), RequestSize), OutcomeBodies(demo, "v", 0, WarmUpIds, sentAt));
        var statistics = Workload.Payloads(demo, RequestSize);
        var evaluated = Workload.Payloads(Evaluated(demo, "p", 0, Ids, sentAt), RequestSize);
        var outcomes = OutcomeBodies(demo, "p", 0, Ids, sentAt);
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"-- join: API + aggregator (windows 5m,1h; Evaluation:FlushInterval 2 s; {Predictor} configured as regression), Postgres shared_buffers 128MB; phases: statistics only ({StatisticsRecords:N0} demo records of predictors not evaluated), pre-load ({Ids:N0} ids × 2 models = {2 * Ids:N0} records of {Predictor}), join ({Ids:N0} outcomes → {2 * Ids:N0} pairs); all through the API in batches of {RequestSize}; predictions sent while both consumers are < {Backlog:N0} records behind --"));
        Console.WriteLine("run  phase              records   wall s  records/s  aggregator CPU-s  per aggregator CPU-s  Postgres CPU-s  per (aggregator+Postgres) CPU-s  API CPU-s  join writes  ms/write");
        await using var postgres = await PostgresServer.CreateAsync(sharedBuffers: "128MB");
        var runs = new List<(Phase[] Phases, Sizes Sizes)>();
        for (var run = 1; run <= context.Options.Runs; run++)
        {
            runs.Add(await JoinOnceAsync(context, cluster, postgres, demo, run, freshness: run == context.Options.Runs,
                preStart, warmUp, statistics, evaluated, outcomes));
        }
        Console.WriteLine("-- median of the runs --");
        foreach (var name in runs[0].Phases.Select(p => p.Name))
        {
            var phases = runs.Select(r => r.Phases.First(p => p.Name == name)).ToList();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name,-18}: {Stats.Median(phases.Select(p => p.Records / p.Seconds)),8:F0} records/s wall, {Stats.Median(phases.Select(p => p.PerAggregatorCpu)),8:F0} per aggregator CPU-second ({Stats.Median(phases.Select(p => 1e6 * p.AggregatorCpu / p.Records)):F1} µs), Postgres {Stats.Median(phases.Select(p => 1e6 * p.PostgresCpu / p.Records)):F1} µs per record, {Stats.Median(phases.Select(p => p.PerBothCpu)):F0} per (aggregator + Postgres) CPU-second"));
        }
        var sizes = runs.Select(r => r.Sizes).ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Postgres growth: {Stats.Median(sizes.Select(s => (double)s.PredictionBytes / s.Predictions)):F0} B per pending prediction (evaluation_predictions) = {Stats.Median(sizes.Select(s => (double)s.PredictionBytes / s.Predictions)) / 1.048576:F0} MiB per million; {Stats.Median(sizes.Select(s => (double)s.OutcomeBytes / s.Outcomes)):F0} B per outcome (evaluation_outcomes, after the join marked them matched) = {Stats.Median(sizes.Select(s => (double)s.OutcomeBytes / s.Outcomes)) / 1.048576:F0} MiB per million"));
    }

    private static async Task<(Phase[] Phases, Sizes Sizes)> JoinOnceAsync(BenchmarkContext context, MockKafkaCluster cluster, PostgresServer postgres,
        List<PredictionLog> demo, int run, bool freshness, (List<byte[]> Predictions, List<byte[]> Outcomes) preStart,
        (List<byte[]> Predictions, List<byte[]> Outcomes) warmUp, List<byte[]> statistics, List<byte[]> evaluated, List<byte[]> outcomes)
    {
        var database = await postgres.CreateDatabaseAsync("evaluation");
        var topic = $"bench.evaluation.{Guid.NewGuid():N}";
        var apiPort = ChildProcess.FreePort();
        await using var api = StartApi(context, cluster, topic, apiPort);
        await api.WaitHttpOkAsync($"http://127.0.0.1:{apiPort}/readyz", TimeSpan.FromSeconds(60));
        var predictionsUrl = new Uri($"http://127.0.0.1:{apiPort}/v1/predictions");
        var outcomesUrl = new Uri($"http://127.0.0.1:{apiPort}/v1/outcomes");

        // Before the aggregator starts (so both topics exist when its join subscribes): statistics records, predictions of the
        // evaluated predictor and their outcomes; the aggregator starts on them.
        await SendAsync(predictionsUrl, statistics, RequestSize, PreStartStatistics / RequestSize, Timeout.InfiniteTimeSpan, retry: true);
        await SendAsync(predictionsUrl, preStart.Predictions, RequestSize, preStart.Predictions.Count, Timeout.InfiniteTimeSpan, retry: true);
        await SendAsync(outcomesUrl, preStart.Outcomes, RequestSize, preStart.Outcomes.Count, Timeout.InfiniteTimeSpan, retry: true);

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
            // Groups of their own: a previous run's members, still known to the broker, do not delay this run's assignment.
            ["Aggregator__ConsumerGroup"] = $"bench-aggregator-{topic}",
            ["Evaluation__ConsumerGroup"] = $"bench-evaluation-{topic}",
            [$"Evaluation__Predictors__{Predictor}__Task"] = "regression",
        }, context.Options.LogDirectory);
        await aggregator.WaitHttpOkAsync($"http://127.0.0.1:{aggregatorPort}/healthz", TimeSpan.FromSeconds(60));
        await using var db = NpgsqlDataSource.Create(database);
        await using var monitor = new Monitor(aggregator, new Uri($"http://127.0.0.1:{aggregatorPort}/metrics"), db, $"bench-evaluation-{topic}", topic);
        const double PreStartRecords = PreStartStatistics + (2.0 * PreStartIds);
        await monitor.WaitAsync("start", s => s.StatsRecords >= PreStartRecords && s.Stored >= 2 * PreStartIds && s.Pairs >= 2 * PreStartIds && s.JoinCaughtUp);
        var pg = await PostgresCpu.OfAsync(db);

        async Task<Phase> PhaseAsync(string name, double records, Func<Snapshot, Task> send, Func<Snapshot, Snapshot, bool> done)
        {
            var start = monitor.Current;
            var (cpu, pgCpu, apiCpu) = (aggregator.CpuTime(), pg.Total(), api.CpuTime());
            var clock = Stopwatch.StartNew();
            await send(start);
            await monitor.WaitAsync(name, s => done(start, s));
            var seconds = clock.Elapsed.TotalSeconds;
            var end = monitor.Current;
            var phase = new Phase(name, records, seconds, (aggregator.CpuTime() - cpu).TotalSeconds, (pg.Total() - pgCpu).TotalSeconds,
                (api.CpuTime() - apiCpu).TotalSeconds, end.Writes - start.Writes, end.WriteSeconds - start.WriteSeconds);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{run,-4} {name,-18} {records,-9:N0} {seconds,-7:F1} {records / seconds,-10:F0} {phase.AggregatorCpu,-17:F2} {phase.PerAggregatorCpu,-21:F0} {phase.PostgresCpu,-15:F2} {phase.PerBothCpu,-32:F0} {phase.ApiCpu,-10:F2} {phase.Writes,-12:F0} {1000 * phase.WriteSeconds / phase.Writes:F0}"));
            return phase;
        }

        // Predictions go out while the slower consumer is less than Backlog records behind (retention of the mock broker).
        Task SendPredictionsAsync(List<byte[]> payloads, long requests, Snapshot start) =>
            SendAsync(predictionsUrl, payloads, RequestSize, requests, Timeout.InfiniteTimeSpan, retry: true,
                gate: sent => sent <= monitor.Current.ReadByBoth - start.ReadByBoth + Backlog);

        // Warm-up of every path (not measured): statistics only, evaluated predictions, their outcomes.
        var warm = monitor.Current;
        await SendPredictionsAsync(statistics, WarmUpStatistics / RequestSize, warm);
        await SendPredictionsAsync(warmUp.Predictions, warmUp.Predictions.Count, warm);
        await SendAsync(outcomesUrl, warmUp.Outcomes, RequestSize, warmUp.Outcomes.Count, Timeout.InfiniteTimeSpan, retry: true);
        await monitor.WaitAsync("warm-up", s => s.StatsRecords - warm.StatsRecords >= WarmUpStatistics + (2.0 * WarmUpIds)
            && s.Pairs - warm.Pairs >= 2.0 * WarmUpIds && s.JoinCaughtUp);

        var statisticsPhase = await PhaseAsync("statistics only", StatisticsRecords,
            start => SendPredictionsAsync(statistics, StatisticsRecords / RequestSize, start),
            (start, s) => s.StatsRecords - start.StatsRecords >= StatisticsRecords && s.JoinCaughtUp);
        var preload = await PhaseAsync("pre-load", 2.0 * Ids,
            start => SendPredictionsAsync(evaluated, evaluated.Count, start),
            (start, s) => s.StatsRecords - start.StatsRecords >= 2.0 * Ids && s.Stored - start.Stored >= 2.0 * Ids);
        var pending = await SizesAsync(db);
        var join = await PhaseAsync("join (outcomes)", Ids,
            start => SendAsync(outcomesUrl, outcomes, RequestSize, outcomes.Count, Timeout.InfiniteTimeSpan, retry: true,
                gate: sent => sent <= monitor.Current.OutcomesRead - start.OutcomesRead + OutcomeBacklog),
            (start, s) => s.Pairs - start.Pairs >= 2.0 * Ids);
        var joined = await SizesAsync(db);
        var sizes = pending with { Outcomes = joined.Outcomes, OutcomeBytes = joined.OutcomeBytes, OutcomeHeap = joined.OutcomeHeap, OutcomeIndexes = joined.OutcomeIndexes, WindowRows = joined.WindowRows };
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"     Postgres after the pre-load: evaluation_predictions {sizes.Predictions:N0} rows, {sizes.PredictionBytes / 1048576.0:F1} MiB (heap {sizes.PredictionHeap / 1048576.0:F1}, indexes {sizes.PredictionIndexes / 1048576.0:F1}) = {(double)sizes.PredictionBytes / sizes.Predictions:F0} B per pending prediction, {(double)sizes.PredictionBytes / sizes.Predictions / 1.048576:F0} MiB per million"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"     after the join: evaluation_outcomes {sizes.Outcomes:N0} rows, {sizes.OutcomeBytes / 1048576.0:F1} MiB (heap {sizes.OutcomeHeap / 1048576.0:F1}, indexes {sizes.OutcomeIndexes / 1048576.0:F1}) = {(double)sizes.OutcomeBytes / sizes.Outcomes:F0} B per outcome; evaluation_window_stats {sizes.WindowRows} rows"));
        if (freshness)
        {
            await FreshnessAsync(predictionsUrl, outcomesUrl, demo, db, aggregator, api, pg, monitor);
        }
        return ([statisticsPhase, preload, join], sizes);
    }

    private static async Task<Sizes> SizesAsync(NpgsqlDataSource db)
    {
        await using var connection = await db.OpenConnectionAsync();
        var row = await connection.QuerySingleAsync<(long, long, long, long, long, long, long, long, long)>(
            """
            SELECT (SELECT count(*) FROM evaluation_predictions), pg_total_relation_size('evaluation_predictions'),
                   pg_relation_size('evaluation_predictions'), pg_indexes_size('evaluation_predictions'),
                   (SELECT count(*) FROM evaluation_outcomes), pg_total_relation_size('evaluation_outcomes'),
                   pg_relation_size('evaluation_outcomes'), pg_indexes_size('evaluation_outcomes'),
                   (SELECT count(*) FROM evaluation_window_stats)
            """);
        return new Sizes(row.Item1, row.Item2, row.Item3, row.Item4, row.Item5, row.Item6, row.Item7, row.Item8, row.Item9);
    }

    // ---------------------------------------------------------------- 3. freshness under a steady mix

    private static async Task FreshnessAsync(Uri predictionsUrl, Uri outcomesUrl, List<PredictionLog> demo, NpgsqlDataSource db, ChildProcess aggregator,
        ChildProcess api, PostgresCpu pg, Monitor monitor)
    {
        const int PredictionRequestIds = RequestSize / 2; // two models each
        var predictionInterval = TimeSpan.FromSeconds((double)PredictionRequestIds / SteadyIdsPerSecond);
        var outcomeInterval = TimeSpan.FromSeconds((double)RequestSize / SteadyIdsPerSecond);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"-- freshness: steady {SteadyIdsPerSecond:N0} prediction ids/s × 2 models ({2 * SteadyIdsPerSecond:N0} records/s) and {SteadyIdsPerSecond:N0} outcomes/s (of ids predicted {OutcomeDelay.TotalSeconds:F0} s before) for {Steady.TotalSeconds:F0} s, on the services of this run; a sample per outcome request: 202 → its row in evaluation_outcomes (polled every 100 ms) --"));
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = Concurrency, PooledConnectionLifetime = Timeout.InfiniteTimeSpan };
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        var samples = new ConcurrentDictionary<string, (long Posted, long Accepted)>(StringComparer.Ordinal);
        var seen = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        var failures = 0;
        var requests = new ConcurrentBag<Task>();
        var clock = Stopwatch.StartNew();
        var (cpu, pgCpu, apiCpu) = (aggregator.CpuTime(), pg.Total(), api.CpuTime());
        var before = monitor.Current;

        async Task ScheduleAsync(TimeSpan first, TimeSpan interval, TimeSpan end, Func<int, Task> send)
        {
            for (var i = 0; ; i++)
            {
                var at = first + (interval * i);
                if (at >= end)
                {
                    return;
                }
                if (at - clock.Elapsed is { Ticks: > 0 } wait)
                {
                    await Task.Delay(wait);
                }
                requests.Add(send(i));
            }
        }

        async Task SendPredictionsAsync(int i)
        {
            var body = PredictionPayloadWriter.ToBytes(Evaluated(demo, "s", i * PredictionRequestIds, PredictionRequestIds, DateTimeOffset.UtcNow), PayloadFormat.Json);
            if (!await PostAsync(client, predictionsUrl, body))
            {
                Interlocked.Increment(ref failures);
            }
        }

        async Task SendOutcomesAsync(int i)
        {
            var ids = Enumerable.Range(i * RequestSize, RequestSize).ToList();
            var body = OutcomeBody(ids.Select(id => (Id("s", id), Actual(Primary(demo, id), id))), DateTimeOffset.UtcNow);
            var posted = Stopwatch.GetTimestamp();
            if (await PostAsync(client, outcomesUrl, body))
            {
                samples[Id("s", ids[0])] = (posted, Stopwatch.GetTimestamp());
            }
            else
            {
                Interlocked.Increment(ref failures);
            }
        }

        using var stop = new CancellationTokenSource();
        var poll = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var pending = samples.Keys.Where(k => !seen.ContainsKey(k)).ToArray();
                if (pending.Length > 0)
                {
                    await using var connection = await db.OpenConnectionAsync();
                    var found = await connection.QueryAsync<string>(
                        "SELECT prediction_id FROM evaluation_outcomes WHERE predictor_name = @predictor AND prediction_id = ANY(@pending)",
                        new { predictor = Predictor, pending });
                    var now = Stopwatch.GetTimestamp();
                    foreach (var id in found)
                    {
                        seen.TryAdd(id, now);
                    }
                }
                await Task.Delay(100, CancellationToken.None);
            }
        });
        var predictions = ScheduleAsync(TimeSpan.Zero, predictionInterval, Steady + OutcomeDelay, SendPredictionsAsync);
        var outcomesSent = ScheduleAsync(OutcomeDelay, outcomeInterval, Steady + OutcomeDelay, SendOutcomesAsync);
        await Task.WhenAll(predictions, outcomesSent);
        await Task.WhenAll(requests);
        var loadSeconds = clock.Elapsed.TotalSeconds;
        var (aggregatorCores, postgresCores, apiCores) = ((aggregator.CpuTime() - cpu).TotalSeconds / loadSeconds, (pg.Total() - pgCpu).TotalSeconds / loadSeconds,
            (api.CpuTime() - apiCpu).TotalSeconds / loadSeconds);
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(30) && samples.Keys.Any(k => !seen.ContainsKey(k)))
        {
            await Task.Delay(100);
        }
        await stop.CancelAsync();
        await poll;
        var after = monitor.Current;

        var fromAccepted = samples.Where(s => seen.ContainsKey(s.Key)).Select(s => Stopwatch.GetElapsedTime(s.Value.Accepted, seen[s.Key]).TotalSeconds).Order().ToList();
        var fromPosted = samples.Where(s => seen.ContainsKey(s.Key)).Select(s => Stopwatch.GetElapsedTime(s.Value.Posted, seen[s.Key]).TotalSeconds).Order().ToList();
        var postLatency = samples.Values.Select(s => Stopwatch.GetElapsedTime(s.Posted, s.Accepted).TotalMilliseconds).Order().ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"outcome freshness over {fromAccepted.Count} samples ({samples.Count - fromAccepted.Count} never seen within 30 s after the load): 202 → Postgres p50 {Stats.Quantile(fromAccepted, 0.5):F2} s, p99 {Stats.Quantile(fromAccepted, 0.99):F2} s, max {(fromAccepted.Count > 0 ? fromAccepted[^1] : double.NaN):F2} s; from the POST's start p99 {Stats.Quantile(fromPosted, 0.99):F2} s (the POST itself p50 {Stats.Quantile(postLatency, 0.5):F1} ms, p99 {Stats.Quantile(postLatency, 0.99):F1} ms)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"       during the load: aggregator {aggregatorCores:F2} cores, Postgres {postgresCores:F2} cores, API {apiCores:F2} cores; join writes {after.Writes - before.Writes:F0}, {1000 * (after.WriteSeconds - before.WriteSeconds) / (after.Writes - before.Writes):F0} ms on average, {after.SlowWrites - before.SlowWrites:F0} of them over 1 s{(failures > 0 ? $"; non-202: {failures}" : "")}"));
    }

    // ---------------------------------------------------------------- profile of the join's pure code

    /// <summary>Per record, one thread, process CPU time, best of 3: what the join does in the aggregator besides SQL.</summary>
    private static void Profile(List<PredictionLog> demo)
    {
        const int Count = 10_000;
        var sentAt = DateTimeOffset.UtcNow;
        var messages = Workload.ApiMessages(Evaluated(demo, "x", 0, Count, sentAt), RequestSize, 4).Select(m => m.Message.Value).ToList();
        var observedAt = sentAt.AddMinutes(30);
        var outcomeList = Enumerable.Range(0, Count).Select(i => new Outcome(Predictor, Id("x", i), ActualValue.Of(Actual(Primary(demo, i), i)), observedAt)).ToList();
        var outcomeMessages = outcomeList.Chunk(RequestSize).SelectMany(c => OutcomeMessages.Plan(c, 4, new KafkaOptions().MaxMessageBytes).Messages).Select(m => m.Value).ToList();
        var rows = Enumerable.Range(0, Count).SelectMany(i => new[] { "primary", "shadow" }.Select(model => new JoinRow(
            new PendingPrediction(Predictor, Id("x", i), model, sentAt, model == "primary" ? Primary(demo, i) : Shadow(demo, i)), false, null,
            new StoredOutcome(outcomeList[i].Actual, observedAt)))).ToList();
        WindowSize[] windows = [WindowSize.Parse("5m"), WindowSize.Parse("1h")];
        var settings = new PredictorEvaluation(EvaluationTask.Regression, 0.5, _ => false);
        using var self = Process.GetCurrentProcess();
        double Cpu()
        {
            self.Refresh();
            return self.TotalProcessorTime.TotalMicroseconds;
        }
        double predictionUs = double.MaxValue, skippedUs = double.MaxValue, fullUs = double.MaxValue, outcomeUs = double.MaxValue, contributeUs = double.MaxValue;
        var logs = new List<PredictionLog>();
        var keys = new List<PredictionKey>();
        var outcomesRead = new List<Outcome>();
        var errors = new List<string>();
        for (var round = 0; round < 3; round++)
        {
            // What the join reads of a prediction record: its keys when its predictor is evaluated, its predictor_name
            // when not (PredictionKeys); beside the full decode the statistics need.
            var started = Cpu();
            foreach (var message in messages)
            {
                keys.Clear();
                PredictionKeys.Decode(message, _ => true, keys, errors);
            }
            predictionUs = Math.Min(predictionUs, (Cpu() - started) / (2.0 * Count));
            started = Cpu();
            foreach (var message in messages)
            {
                keys.Clear();
                PredictionKeys.Decode(message, _ => false, keys, errors);
            }
            skippedUs = Math.Min(skippedUs, (Cpu() - started) / (2.0 * Count));
            started = Cpu();
            foreach (var message in messages)
            {
                logs.Clear();
                PredictionMessages.Decode(message, logs, errors);
            }
            fullUs = Math.Min(fullUs, (Cpu() - started) / (2.0 * Count));
            started = Cpu();
            foreach (var message in outcomeMessages)
            {
                outcomesRead.Clear();
                OutcomeMessages.Decode(message, outcomesRead, errors);
            }
            outcomeUs = Math.Min(outcomeUs, (Cpu() - started) / Count);
            started = Cpu();
            var contributions = EvaluationJoin.Contribute(rows, windows, _ => settings);
            contributeUs = Math.Min(contributeUs, (Cpu() - started) / Count);
            if (contributions.Pairs != 2 * Count || errors.Count > 0)
            {
                throw new InvalidOperationException($"profile: {contributions.Pairs} pairs, {errors.Count} errors");
            }
        }
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"profile of the join's own code (one thread, process CPU time, best of 3 over {Count:N0} ids × 2 models): the join reads {predictionUs:F2} µs per prediction record of an evaluated predictor and {skippedUs:F2} µs per record of one that is not (PredictionKeys; a full decode: {fullUs:F2} µs), decode of outcome messages {outcomeUs:F2} µs per outcome, contribution of an outcome's 2 pairs to 2 window sizes {contributeUs:F2} µs"));
    }

    // ---------------------------------------------------------------- records, bodies, sending

    internal static string Id(string prefix, int i) => string.Create(CultureInfo.InvariantCulture, $"{prefix}-{i:D8}");

    internal static double Primary(List<PredictionLog> demo, int i) =>
        double.IsFinite(demo[i % demo.Count].PredictionResult) ? demo[i % demo.Count].PredictionResult : 10;

    internal static double Shadow(List<PredictionLog> demo, int i) => (Primary(demo, i) * 1.05) + 0.5;

    /// <summary>The actual of id <paramref name="i"/>: its primary prediction ± up to 5, deterministic.</summary>
    private static double Actual(double prediction, int i) => prediction + ((uint)i * 2654435761u % 1000 / 100.0) - 5;

    /// <summary>Ids <paramref name="from"/>… of <see cref="Predictor"/>, each predicted by "primary" and "shadow" with a demo record's features.</summary>
    private static List<PredictionLog> Evaluated(List<PredictionLog> demo, string prefix, int from, int count, DateTimeOffset sentAt)
    {
        var output = new List<PredictionLog>(2 * count);
        for (var i = from; i < from + count; i++)
        {
            var record = demo[i % demo.Count];
            var id = Id(prefix, i);
            output.Add(new PredictionLog(sentAt, id, Predictor, "primary", record.Features, Primary(demo, i), record.DefaultValuesUsed));
            output.Add(new PredictionLog(sentAt, id, Predictor, "shadow", record.Features, Shadow(demo, i), record.DefaultValuesUsed));
        }
        return output;
    }

    private static List<byte[]> OutcomeBodies(List<PredictionLog> demo, string prefix, int from, int count, DateTimeOffset sentAt) =>
        [.. Enumerable.Range(from, count).Chunk(RequestSize).Select(c => OutcomeBody(c.Select(i => (Id(prefix, i), Actual(Primary(demo, i), i))), sentAt.AddSeconds(1)))];

    /// <summary>A JSON array of outcomes of <see cref="Predictor"/>, as a caller sends them.</summary>
    private static byte[] OutcomeBody(IEnumerable<(string Id, double Actual)> outcomes, DateTimeOffset observedAt)
    {
        var at = observedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        var body = new StringBuilder("[");
        foreach (var (id, actual) in outcomes)
        {
            if (body.Length > 1)
            {
                body.Append(',');
            }
            body.Append(CultureInfo.InvariantCulture, $$"""{"prediction_id":"{{id}}","predictor_name":"{{Predictor}}","actual":{{actual:R}},"observed_at":"{{at}}"}""");
        }
        return Encoding.UTF8.GetBytes(body.Append(']').ToString());
    }

    /// <param name="postgres">A connection string: the API then serves the predictor registry (PUT /v1/predictors/…).</param>
    internal static ChildProcess StartApi(BenchmarkContext context, MockKafkaCluster cluster, string topic, int port, string? postgres = null)
    {
        var environment = new Dictionary<string, string>
        {
            ["Urls"] = $"http://127.0.0.1:{port}",
            ["Kafka__BootstrapServers"] = cluster.BootstrapServers,
            ["Auth__Mode"] = "None",
            ["Kafka__Topic"] = topic,
            ["Kafka__OutcomesTopic"] = topic + ".outcomes",
            ["Kafka__CreateTopic"] = "false", // the mock cluster cannot: topics auto-create with 4 partitions
        };
        if (postgres is not null)
        {
            environment["ConnectionStrings__Postgres"] = postgres;
        }
        return ChildProcess.Start("ModelMonitor.Ingestion", [], environment, context.Options.LogDirectory);
    }

    internal sealed record LoadResult(double Records, double Seconds, int Failures);

    /// <summary>
    /// Closed loop, <see cref="Concurrency"/> requests in flight: payloads[i % Count] for i &lt; <paramref name="requests"/> or
    /// until <paramref name="duration"/>; request i starts once <paramref name="gate"/> allows (i + 1) × records each.
    /// A request not answered 202 with nothing rejected counts as a failure, and is sent again when <paramref name="retry"/>.
    /// </summary>
    internal static async Task<LoadResult> SendAsync(Uri url, List<byte[]> payloads, int recordsEach, long requests, TimeSpan duration,
        bool retry = false, Func<double, bool>? gate = null)
    {
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = Concurrency, PooledConnectionLifetime = Timeout.InfiniteTimeSpan };
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        long accepted = 0, next = -1;
        var failures = 0;
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, Concurrency).Select(_ => Task.Run(async () =>
        {
            while (true)
            {
                var index = Interlocked.Increment(ref next);
                if (index >= requests || (duration != Timeout.InfiniteTimeSpan && clock.Elapsed >= duration))
                {
                    return;
                }
                while (gate is not null && !gate((index + 1.0) * recordsEach))
                {
                    await Task.Delay(5);
                }
                while (true)
                {
                    if (await PostAsync(client, url, payloads[(int)(index % payloads.Count)]))
                    {
                        Interlocked.Add(ref accepted, recordsEach);
                        break;
                    }
                    Interlocked.Increment(ref failures);
                    if (!retry)
                    {
                        break;
                    }
                    await Task.Delay(100);
                }
            }
        })).ToArray();
        await Task.WhenAll(workers);
        return new LoadResult(accepted, clock.Elapsed.TotalSeconds, failures);
    }

    internal static async Task<bool> PostAsync(HttpClient client, Uri url, byte[] payload)
    {
        using var content = new ByteArrayContent(payload);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        try
        {
            using var response = await client.PostAsync(url, content);
            var body = await response.Content.ReadAsStringAsync();
            return (int)response.StatusCode == 202 && body.Contains("\"rejected\":0", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    // ---------------------------------------------------------------- the aggregator's progress and Postgres's CPU

    /// <summary>What the aggregator has done so far: its /metrics and the join's offsets committed in Postgres.</summary>
    internal sealed record Snapshot(double StatsRecords, double StatsMessages, double Stored, double Pairs, double OutcomesRead, double Writes,
        double WriteSeconds, double SlowWrites, double JoinMessages, double ShadowPairs = 0, double ShadowStored = 0, double ShadowPredictors = 0)
    {
        /// <summary>The join commits offsets of the predictions topic (messages) every 2 s.</summary>
        public bool JoinCaughtUp => StatsMessages > 0 && JoinMessages >= StatsMessages;

        /// <summary>Prediction records read by both consumers (the join's messages at the statistics' records per message).</summary>
        public double ReadByBoth => StatsMessages == 0 ? 0 : Math.Min(StatsRecords, StatsRecords * JoinMessages / StatsMessages);
    }

    internal sealed class Monitor : IAsyncDisposable
    {
        private readonly ChildProcess _aggregator;
        private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private volatile Snapshot _current = new(0, 0, 0, 0, 0, 0, 0, 0, 0);

        public Monitor(ChildProcess aggregator, Uri metrics, NpgsqlDataSource db, string group, string topic)
        {
            _aggregator = aggregator;
            _loop = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    try
                    {
                        var text = await _http.GetStringAsync(metrics, _stop.Token);
                        await using var connection = await db.OpenConnectionAsync(_stop.Token);
                        var joinMessages = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                            "SELECT coalesce(sum(next_offset), 0)::bigint FROM consumer_offsets WHERE consumer_group = @group AND topic = @topic AND window_seconds = 0",
                            new { group, topic }, cancellationToken: _stop.Token));
                        _current = new Snapshot(
                            Exposition.Sample(text, "modelmonitor_aggregator_records_consumed_total"),
                            Exposition.Sample(text, "modelmonitor_aggregator_messages_consumed_total"),
                            Exposition.Sample(text, "modelmonitor_evaluation_predictions_stored_total"),
                            Exposition.Sample(text, "modelmonitor_evaluation_pairs_total"),
                            Exposition.Sample(text, "modelmonitor_evaluation_outcomes_consumed_total"),
                            Exposition.Sample(text, "modelmonitor_evaluation_writes_total"),
                            Exposition.Sample(text, "modelmonitor_evaluation_write_duration_seconds_sum"),
                            Exposition.Sample(text, "modelmonitor_evaluation_write_duration_seconds_count") - Bucket(text, "modelmonitor_evaluation_write_duration_seconds", 1),
                            joinMessages,
                            Exposition.Sample(text, "modelmonitor_shadow_join_pairs_total"),
                            Exposition.Sample(text, "modelmonitor_shadow_join_predictions_stored_total"),
                            Exposition.Sample(text, "modelmonitor_shadow_join_predictors"));
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException or OperationCanceledException or NpgsqlException)
                    {
                        // not up yet, not migrated yet, or stopping
                    }
                    await Task.Delay(100, CancellationToken.None);
                }
            });
        }

        public Snapshot Current => _current;

        /// <summary>The cumulative count of histogram <paramref name="name"/>'s bucket le=<paramref name="bound"/>.</summary>
        private static double Bucket(string text, string name, double bound)
        {
            var prefix = name + "_bucket{le=\"";
            foreach (var line in text.Split('\n'))
            {
                if (line.StartsWith(prefix, StringComparison.Ordinal)
                    && double.TryParse(line.AsSpan(prefix.Length, line.IndexOf('"', prefix.Length) - prefix.Length), NumberStyles.Float, CultureInfo.InvariantCulture, out var le)
                    && le == bound)
                {
                    return double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
                }
            }
            return 0;
        }

        public async Task WaitAsync(string what, Func<Snapshot, bool> done)
        {
            var clock = Stopwatch.StartNew();
            while (!done(_current))
            {
                if (_aggregator.HasExited || clock.Elapsed > PhaseTimeout)
                {
                    throw new TimeoutException($"{what}: not done within {PhaseTimeout.TotalSeconds:F0} s ({_current}); see {_aggregator.LogPath}");
                }
                await Task.Delay(50);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _loop;
            _stop.Dispose();
            _http.Dispose();
        }
    }

    /// <summary>
    /// Postgres's CPU time: the postmaster's own and what it reaped from exited children (cutime, cstime), plus every live
    /// child's (the backends, autovacuum, checkpointer, WAL writer): the server's whole cost, whichever backend did the work.
    /// </summary>
    internal sealed class PostgresCpu(int postmaster)
    {
        private const double TicksPerSecond = 100; // USER_HZ, 100 on Linux

        public static async Task<PostgresCpu> OfAsync(NpgsqlDataSource db)
        {
            await using var connection = await db.OpenConnectionAsync();
            var backend = await connection.ExecuteScalarAsync<int>("SELECT pg_backend_pid()");
            return new PostgresCpu(Stat(backend)?.Parent ?? throw new InvalidOperationException($"no /proc/{backend}/stat"));
        }

        public TimeSpan Total()
        {
            var own = Stat(postmaster) ?? throw new InvalidOperationException("the postmaster is gone");
            var ticks = own.Ticks + own.ChildTicks;
            foreach (var directory in Directory.EnumerateDirectories("/proc"))
            {
                if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid != postmaster
                    && Stat(pid) is { } child && child.Parent == postmaster)
                {
                    ticks += child.Ticks + child.ChildTicks;
                }
            }
            return TimeSpan.FromSeconds(ticks / TicksPerSecond);
        }

        /// <summary>/proc/PID/stat: ppid (field 4), utime + stime (14, 15), cutime + cstime (16, 17).</summary>
        private static (int Parent, long Ticks, long ChildTicks)? Stat(int pid)
        {
            string text;
            try
            {
                text = File.ReadAllText($"/proc/{pid}/stat");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null; // exited meanwhile
            }
            var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
            long Field(int number) => long.Parse(fields[number - 3], CultureInfo.InvariantCulture);
            return ((int)Field(4), Field(14) + Field(15), Field(16) + Field(17));
        }
    }
}
