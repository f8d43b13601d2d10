using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using Dapper;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Testing.Kafka;
using ModelMonitor.Testing.Metrics;
using ModelMonitor.Testing.Postgres;
using Npgsql;

namespace ModelMonitor.Benchmarks;

/// <summary>
/// Issue 14: the aggregator (child process, windows 1m,5m,1h, every other setting default) under a sustained rate of
/// records spread evenly over M models × F numeric features, for each cell of a grid. This process produces what the
/// API writes for requests of 100 records (one message per partition per request) at the rate, every 100 ms, with
/// sent_at = now, onto a 16-partition topic of the mock broker (16 × ~5 MiB, so its retention does not cut a short
/// lag), plus a probe record every 500 ms (model freshness_probe/marker, prediction_result = its sequence number).
/// Measured after a warm-up minute, from the aggregator's /metrics and Postgres:
/// - consumed/s, lag (messages between position and high watermark, summed over partitions: at the end of the
///   warm-up, the maximum after it, at the end), messages lost to retention;
/// - flushes, flush time (average and share of wall time), rows written per second, aggregator CPU per record;
/// - freshness: produce → the probe's 1m row holding its number in Postgres (p50, p99, max);
/// - Postgres bytes per stored row (feature_window_stats + model_window_stats, with indexes and TOAST);
/// - then an exporter (child process, caps raised to hold every model and feature) on the same database: series,
///   refresh time, scrape p50, RSS, bytes of RSS per series.
/// </summary>
internal static class CardinalityBenchmark
{
    private const int Partitions = 16;
    private const int RequestSize = 100;
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(100);
    private static TimeSpan WarmUp { get; set; } = TimeSpan.FromSeconds(60);

    public static async Task RunAsync(BenchmarkContext context)
    {
        var options = context.Options;
        var duration = TimeSpan.FromSeconds(options.CardinalitySeconds);
        // A minute (half the measured time for short runs): tiered compilation, the first window rows, the first long-window flushes.
        WarmUp = TimeSpan.FromSeconds(Math.Min(60, options.CardinalitySeconds / 2));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"aggregator (windows 1m,5m,1h, defaults otherwise) at {options.Rate:N0} records/s in requests of {RequestSize}, {Partitions} partitions; per cell {WarmUp.TotalSeconds:F0} s warm-up + {duration.TotalSeconds:F0} s measured; extra settings: {(options.AggregatorSettings.Count == 0 ? "none" : string.Join(' ', options.AggregatorSettings))}"));
        Console.WriteLine("models×features  keys     consumed/s  lag end-warm/max/end  lost  flushes  flush ms avg  flush share  rows/s   CPU µs/record  freshness p50/p99/max s  PG bytes/row  exporter series  refresh s  scrape ms  RSS MB  RSS B/series");
        using var cluster = new ControllableKafkaCluster();
        // Its own Postgres with the server's default shared_buffers (128MB, what the postgres:15 image of docker-compose.yml
        // runs) rather than the test clusters' 32MB: the write path is what this measures.
        await using var postgres = await PostgresServer.CreateAsync(sharedBuffers: "128MB");
        var cpuPerRecord = new List<(string Cell, double Us)>();
        foreach (var (models, features) in options.Grid)
        {
            var us = await RunCellAsync(context, postgres, cluster, models, features, duration);
            cpuPerRecord.Add(($"{models}×{features}", us));
        }
        if (cpuPerRecord.Count > 1)
        {
            var baseline = cpuPerRecord[0].Us;
            Console.WriteLine("CPU per record relative to the first cell: " + string.Join(", ",
                cpuPerRecord.Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Cell} {c.Us / baseline:F2}×"))));
        }
    }

    private static async Task<double> RunCellAsync(BenchmarkContext context, PostgresServer postgres, ControllableKafkaCluster cluster, int models, int features, TimeSpan duration)
    {
        var options = context.Options;
        var database = await postgres.CreateDatabaseAsync($"cardinality_{models}x{features}");
        var topic = $"bench.cardinality.{Guid.NewGuid():N}";
        cluster.CreateTopic(topic, Partitions);
        var port = ChildProcess.FreePort();
        var environment = new Dictionary<string, string>
        {
            ["Urls"] = $"http://127.0.0.1:{port}",
            ["ConnectionStrings__Postgres"] = database,
            ["Kafka__BootstrapServers"] = cluster.BootstrapServers,
            ["Auth__Mode"] = "None",
            ["Kafka__Topic"] = topic,
            // A group of its own: the previous cell's aggregator is killed without leaving its group, and a new member of
            // the same group would get no partitions until the dead one's session timed out (45 s).
            ["Aggregator__ConsumerGroup"] = $"cardinality-{models}x{features}-{Guid.NewGuid():N}",
            ["Aggregator__Windows"] = "1m,5m,1h",
        };
        foreach (var setting in options.AggregatorSettings)
        {
            var keyValue = setting.Split('=', 2);
            environment[keyValue[0].Replace(":", "__", StringComparison.Ordinal)] = keyValue[1];
        }
        await using var aggregator = ChildProcess.Start("ModelMonitor.Aggregator", [], environment, options.LogDirectory);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
        await aggregator.WaitHttpOkAsync($"http://127.0.0.1:{port}/healthz", TimeSpan.FromSeconds(60));

        using var producer = Workload.ApiLikeProducer(cluster.BootstrapServers);
        var generator = new CardinalityRecords(models, features);
        var produced = new ConcurrentDictionary<long, long>(); // probe seq → Stopwatch timestamp when produced
        var clock = Stopwatch.StartNew();
        var total = WarmUp + duration;
        using var stop = new CancellationTokenSource(total);
        var sendCpu = TimeSpan.Zero;
        var send = Task.Run(async () =>
        {
            long probe = 0;
            var nextProbe = TimeSpan.Zero;
            var ticks = 0L;
            var perTick = options.Rate * Tick.TotalSeconds;
            var carry = 0.0;
            var started = Process.GetCurrentProcess().TotalProcessorTime;
            while (!stop.IsCancellationRequested)
            {
                var now = DateTimeOffset.UtcNow;
                carry += perTick;
                var count = (int)carry;
                carry -= count;
                var records = generator.Next(count, now);
                if (clock.Elapsed >= nextProbe)
                {
                    probe++;
                    records.Add(CardinalityRecords.Probe(probe, now));
                    produced[probe] = Stopwatch.GetTimestamp();
                    nextProbe += TimeSpan.FromMilliseconds(500);
                }
                foreach (var (partition, message, _) in Workload.ApiMessages(records, RequestSize, Partitions))
                {
                    Workload.Produce(producer, new TopicPartition(topic, partition), message, _ => { });
                }
                producer.Poll(TimeSpan.Zero);
                ticks++;
                var wait = Tick * ticks - clock.Elapsed;
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, CancellationToken.None);
                }
            }
            producer.Flush(TimeSpan.FromSeconds(30));
            sendCpu = Process.GetCurrentProcess().TotalProcessorTime - started;
        });

        await using var db = NpgsqlDataSource.Create(database);
        var freshness = new List<double>();
        var poll = Task.Run(async () =>
        {
            long seen = 0;
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(200, CancellationToken.None);
                long visible;
                try
                {
                    await using var connection = await db.OpenConnectionAsync();
                    visible = (long)(await connection.ExecuteScalarAsync<double?>(
                        "SELECT max(max) FROM model_window_stats WHERE predictor_name = 'freshness_probe' AND window_seconds = 60") ?? 0);
                }
                catch (PostgresException)
                {
                    continue; // not migrated yet
                }
                var now = Stopwatch.GetTimestamp();
                for (var s = seen + 1; s <= visible; s++)
                {
                    if (produced.TryGetValue(s, out var at) && clock.Elapsed > WarmUp)
                    {
                        freshness.Add(Stopwatch.GetElapsedTime(at, now).TotalSeconds);
                    }
                }
                seen = Math.Max(seen, visible);
            }
        });

        // Samples of the aggregator's /metrics: at the end of the warm-up, every 5 s after it, at the end.
        Sample? warm = null, end = null;
        var maxLag = 0.0;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(5), stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
            var sample = await SampleAsync(http, aggregator, clock.Elapsed);
            if (sample is null)
            {
                continue;
            }
            if (clock.Elapsed >= WarmUp)
            {
                warm ??= sample;
                maxLag = Math.Max(maxLag, sample.Lag);
                end = sample;
            }
        }
        await Task.WhenAll(send, poll);
        end = await SampleAsync(http, aggregator, clock.Elapsed) ?? end;

        var cell = $"{models}×{features}";
        if (warm is null || end is null || end.At <= warm.At)
        {
            Console.WriteLine($"{cell,-16} no /metrics samples after the warm-up; see {aggregator.LogPath}");
            return double.NaN;
        }
        var seconds = (end.At - warm.At).TotalSeconds;
        var records = end.Records - warm.Records;
        var flushes = end.Flushes - warm.Flushes;
        var flushSeconds = end.FlushSeconds - warm.FlushSeconds;
        var cpuUs = (end.Cpu - warm.Cpu).TotalMicroseconds / Math.Max(records, 1);
        var bytesPerRow = await BytesPerRowAsync(db);
        var exporter = await MeasureExporterAsync(context, database);
        freshness.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{cell,-16} {models * features,-8:N0} {records / seconds,-11:F0} {$"{warm.Lag:F0}/{maxLag:F0}/{end.Lag:F0}",-21} {end.Lost,-5:F0} {flushes,-8:F0} {(flushes > 0 ? 1000 * flushSeconds / flushes : 0),-13:F0} {flushSeconds / seconds,-12:P0} {(end.Rows - warm.Rows) / seconds,-8:F0} {cpuUs,-14:F1} {$"{Stats.Quantile(freshness, 0.5):F1}/{Stats.Quantile(freshness, 0.99):F1}/{(freshness.Count > 0 ? freshness[^1] : double.NaN):F1}",-24} {bytesPerRow,-13:F0} {exporter}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{"",-16} (this process sent {options.Rate:N0}/s using {sendCpu.TotalSeconds / total.TotalSeconds:F2} cores; aggregator RSS at the end {aggregator.RssBytes() / 1048576.0:F0} MB; {freshness.Count} probes)"));
        return cpuUs;
    }

    private sealed record Sample(TimeSpan At, double Records, double Lag, double Lost, double Flushes, double FlushSeconds, double Rows, TimeSpan Cpu);

    private static async Task<Sample?> SampleAsync(HttpClient http, ChildProcess aggregator, TimeSpan at)
    {
        string text;
        try
        {
            text = await http.GetStringAsync("/metrics");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
        return new Sample(at,
            Exposition.Sample(text, "modelmonitor_aggregator_records_consumed_total"),
            Exposition.Sum(text, "modelmonitor_aggregator_consumer_lag"),
            Exposition.Sample(text, "modelmonitor_aggregator_messages_lost_total"),
            Exposition.Sample(text, "modelmonitor_aggregator_flushes_total"),
            Exposition.Sample(text, "modelmonitor_aggregator_flush_duration_seconds_sum"),
            Exposition.Sample(text, "modelmonitor_aggregator_rows_written_total"),
            aggregator.CpuTime());
    }

    private static async Task<double> BytesPerRowAsync(NpgsqlDataSource db)
    {
        await using var connection = await db.OpenConnectionAsync();
        return await connection.ExecuteScalarAsync<double>(
            """
            SELECT (pg_total_relation_size('feature_window_stats') + pg_total_relation_size('model_window_stats'))::double precision
                   / greatest((SELECT count(*) FROM feature_window_stats) + (SELECT count(*) FROM model_window_stats), 1)
            """);
    }

    /// <summary>An exporter on the cell's database, its caps raised so it holds everything: series, last refresh, scrape p50, RSS.</summary>
    private static async Task<string> MeasureExporterAsync(BenchmarkContext context, string database)
    {
        var port = ChildProcess.FreePort();
        await using var exporter = ChildProcess.Start("ModelMonitor.Exporter", [], new Dictionary<string, string>
        {
            ["Urls"] = $"http://127.0.0.1:{port}",
            ["ConnectionStrings__Postgres"] = database,
            ["Exporter__MaxModels"] = "100000",
            ["Exporter__MaxFeaturesPerModel"] = "100000",
            ["Exporter__CompletionDelay"] = "00:00:00",
        }, context.Options.LogDirectory);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) };
        await exporter.WaitHttpOkAsync($"http://127.0.0.1:{port}/readyz", TimeSpan.FromSeconds(180));
        var text = await http.GetStringAsync("/metrics");
        var series = Exposition.Sample(text, "modelmonitor_exporter_series");
        var refresh = Exposition.Sample(text, "modelmonitor_exporter_refresh_duration_seconds");
        var scrapes = new List<double>();
        for (var i = 0; i < 5; i++)
        {
            var watch = Stopwatch.StartNew();
            using var response = await http.GetAsync("/metrics/statistics", HttpCompletionOption.ResponseContentRead);
            scrapes.Add(watch.Elapsed.TotalMilliseconds);
        }
        scrapes.Sort();
        var rss = exporter.RssBytes();
        return string.Create(CultureInfo.InvariantCulture,
            $"{series,-16:N0} {refresh,-10:F2} {scrapes[scrapes.Count / 2],-10:F0} {rss / 1048576.0,-7:F0} {(series > 0 ? rss / series : double.NaN):F0}");
    }

    /// <summary>Records spread round-robin over M models (10 per predictor) × F numeric features, values from a seeded generator.</summary>
    private sealed class CardinalityRecords(int models, int features)
    {
        private readonly Random _random = new(42);
        private readonly string[] _names = [.. Enumerable.Range(0, features).Select(f => $"f{f:D3}")];
        private long _sequence;

        public List<PredictionLog> Next(int count, DateTimeOffset sentAt)
        {
            var output = new List<PredictionLog>(count + 1);
            for (var i = 0; i < count; i++)
            {
                var n = _sequence++;
                var model = (int)(n % models);
                var values = new KeyValuePair<string, FeatureValue>[features];
                for (var f = 0; f < features; f++)
                {
                    values[f] = new(_names[f], FeatureValue.FromNumber(Math.Round(f + (_random.NextDouble() * 10), 3)));
                }
                output.Add(new PredictionLog(sentAt, $"c{n}", $"p{model / 10:D4}", $"m{model:D5}", values, Math.Round(_random.NextDouble() * 100, 3), []));
            }
            return output;
        }

        public static PredictionLog Probe(long sequence, DateTimeOffset sentAt) =>
            new(sentAt, $"probe-{sequence}", "freshness_probe", "marker", [new("seq", FeatureValue.FromNumber(sequence))], sequence, []);
    }
}
