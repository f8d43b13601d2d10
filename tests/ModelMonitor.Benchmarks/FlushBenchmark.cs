using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using ModelMonitor.Core.Aggregation;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Statistics;
using ModelMonitor.Core.Windows;
using ModelMonitor.Storage;
using ModelMonitor.Storage.Statistics;
using ModelMonitor.Testing.Postgres;
using Npgsql;
using NpgsqlTypes;

namespace ModelMonitor.Benchmarks;

/// <summary>
/// `run.sh flush`: the aggregator's write of one window size's open rows, alone (no Kafka, no consumer), with and without
/// <see cref="WindowFlush.ReuseWrittenRows"/>, side by side: the same deltas (1,000 models × 50 numeric features in one
/// 1m window, 15 records per model per flush: 5 s of 3,000 records/s) flushed alternately into two databases of one
/// Postgres (shared_buffers 128MB, fsync off). Wall time per flush (what the 1m rows' freshness waits for) and this
/// process's CPU per flush (the aggregator's share), medians over the flushes after the first.
/// A third mode measures the alternative issue 14 names, append-only partial rows (not built): each flush COPYs only
/// what the delta holds (binary COPY, no read back, no quantiles) into a table of partials, and at the window's end the
/// window's partials are read back and merged into one row per key (measured once, after the last flush; its final
/// write of those rows costs what one read-back write does).
/// </summary>
internal static class FlushBenchmark
{
    private const int Models = 1000;
    private const int Features = 50;
    private const int RecordsPerModel = 15;
    private const int Flushes = 12;

    public static async Task RunAsync(BenchmarkContext context)
    {
        _ = context;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Models} models × {Features} numeric features, window 1m, {RecordsPerModel} records per model per flush, {Flushes} flushes per mode, alternating"));
        await using var postgres = await PostgresServer.CreateAsync(sharedBuffers: "128MB");
        var modes = new List<Mode>();
        foreach (var kind in new[] { Kind.ReadBack, Kind.Reuse, Kind.Partials })
        {
            var dataSource = NpgsqlDataSource.Create(await postgres.CreateDatabaseAsync($"flush_{kind}".ToLowerInvariant()));
            await new SchemaMigrator(dataSource, NullLogger<SchemaMigrator>.Instance).MigrateAsync(CancellationToken.None);
            modes.Add(new Mode(kind, dataSource, new StatisticsStore(dataSource, 50)));
        }

        await using (var connection = await modes[2].DataSource.OpenConnectionAsync())
        {
            await using var create = new NpgsqlCommand(PartialsTable, connection);
            await create.ExecuteNonQueryAsync();
        }

        var window = WindowSize.Parse("1m");
        var start = window.WindowStart(DateTimeOffset.UtcNow);
        var random = new Random(7);
        var names = Enumerable.Range(0, Features).Select(f => $"feature_{f:D3}").ToArray();
        long offset = 0;
        for (var flush = 0; flush < Flushes; flush++)
        {
            var delta = new AggregationDelta([window], 50);
            for (var m = 0; m < Models; m++)
            {
                for (var r = 0; r < RecordsPerModel; r++)
                {
                    var features = new List<KeyValuePair<string, FeatureValue>>(Features);
                    for (var f = 0; f < Features; f++)
                    {
                        features.Add(new(names[f], FeatureValue.FromNumber(Math.Round(100 + (f * 3) + (10 * Normal(random)), 2))));
                    }

                    delta.Add(new PredictionLog(
                        start.AddSeconds(random.NextDouble() * 59),
                        $"{flush}-{m}-{r}",
                        $"predictor_{m / 10:D3}",
                        $"model_{m:D4}",
                        features,
                        random.NextDouble(),
                        []));
                }
            }

            var expected = offset == 0 ? new Dictionary<int, long>() : new Dictionary<int, long> { [0] = offset };
            delta.Advance(0, offset + (Models * RecordsPerModel));
            _ = delta.Windows; // count the queued values before timing: the consumer does that as it reads
            foreach (var mode in flush % 2 == 0 ? modes : Enumerable.Reverse(modes))
            {
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                var started = Stopwatch.GetTimestamp();
                var (outcome, rows) = mode.Kind == Kind.Partials
                    ? (FlushOutcome.Committed, await AppendPartialsAsync(mode.DataSource, delta, flush))
                    : await mode.Store.FlushAsync("bench", "t", [new WindowFlush(window.Seconds, delta, expected, mode.Kind == Kind.Reuse)], CancellationToken.None);
                var wall = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                var used = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds;
                if (outcome != FlushOutcome.Committed)
                {
                    throw new InvalidOperationException($"flush {flush} was {outcome}");
                }

                if (flush > 0)
                {
                    mode.Wall.Add(wall);
                    mode.Cpu.Add(used);
                }

                mode.Rows = rows;
            }

            offset += Models * RecordsPerModel;
        }

        var compaction = await CompactAsync(modes[2].DataSource, start);

        Console.WriteLine("mode                         rows/flush  flush ms p50 (min-max)  CPU ms p50 (this process)  rows reused");
        foreach (var mode in modes)
        {
            var name = mode.Kind switch { Kind.ReadBack => "read back (lock, select)", Kind.Reuse => "reuse written rows", _ => "append partials (COPY)" };
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name,-28} {mode.Rows,-11} {Stats.Median(mode.Wall),6:F0} ({mode.Wall.Min():F0}-{mode.Wall.Max():F0})      {Stats.Median(mode.Cpu),6:F0}                     {mode.Store.RowsReused:N0}"));
            await mode.DataSource.DisposeAsync();
        }

        // Per window of 12 flushes, the aggregator's CPU: every flush rewriting the rows, against every flush appending
        // partials plus the compaction at the window's end and its one write of the merged rows (a read-back write).
        var rewrite = Stats.Median(modes[0].Cpu);
        var appended = Stats.Median(modes[2].Cpu);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"compaction at the window's end: {compaction.Partials:N0} partial rows read and merged into {compaction.Rows:N0}: {compaction.WallMs:F0} ms, {compaction.CpuMs:F0} CPU ms (then one write of those rows, ~{rewrite:F0} CPU ms as above)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"aggregator CPU per window of {Flushes} flushes: rewriting every flush {Flushes * rewrite:F0} ms; partials {Flushes * appended:F0} + {compaction.CpuMs:F0} + {rewrite:F0} = {(Flushes * appended) + compaction.CpuMs + rewrite:F0} ms ({((Flushes * appended) + compaction.CpuMs + rewrite) / (Flushes * rewrite):P0})"));
        // The same design with the open windows' merged state kept in memory (the partials then only for readers and a
        // restart): no compaction read, and the final write needs no read back (what a write of reused rows costs).
        var reused = Stats.Median(modes[1].Cpu);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  with the open windows' state kept in memory instead (estimate from the lines above): {Flushes * appended:F0} + {reused:F0} = {(Flushes * appended) + reused:F0} ms ({((Flushes * appended) + reused) / (Flushes * rewrite):P0})"));
    }

    private const string PartialsTable = """
        CREATE TABLE feature_window_partials (
            window_seconds int NOT NULL, window_start timestamptz NOT NULL, predictor_name text NOT NULL, model_id text NOT NULL,
            feature text NOT NULL, flush bigint NOT NULL, value_count bigint NOT NULL, null_count bigint NOT NULL,
            default_count bigint NOT NULL, nonfinite_count bigint NOT NULL, numeric_count bigint NOT NULL, mean double precision,
            m2 double precision NOT NULL, m2_scale int NOT NULL, min double precision, max double precision, sketch bytea);
        CREATE INDEX ON feature_window_partials (window_seconds, window_start);
        """;

    /// <summary>What a flush of the partials design writes: each feature row's delta alone, by binary COPY, in one
    /// transaction (where the offsets would be stored too).</summary>
    private static async Task<int> AppendPartialsAsync(NpgsqlDataSource dataSource, AggregationDelta delta, int flush)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        var buffer = new byte[1 << 16];
        var rows = 0;
        await using (var writer = await connection.BeginBinaryImportAsync(
            "COPY feature_window_partials (window_seconds, window_start, predictor_name, model_id, feature, flush, value_count, null_count, " +
            "default_count, nonfinite_count, numeric_count, mean, m2, m2_scale, min, max, sketch) FROM STDIN (FORMAT BINARY)"))
        {
            foreach (var (key, model) in delta.Windows)
            {
                var windowStart = DateTime.UnixEpoch.AddSeconds(key.WindowStart);
                foreach (var (name, feature) in model.Features)
                {
                    var numbers = feature.Numeric;
                    await writer.StartRowAsync();
                    await writer.WriteAsync(key.WindowSeconds, NpgsqlDbType.Integer);
                    await writer.WriteAsync(windowStart, NpgsqlDbType.TimestampTz);
                    await writer.WriteAsync(key.PredictorName, NpgsqlDbType.Text);
                    await writer.WriteAsync(key.ModelId, NpgsqlDbType.Text);
                    await writer.WriteAsync(name, NpgsqlDbType.Text);
                    await writer.WriteAsync((long)flush, NpgsqlDbType.Bigint);
                    await writer.WriteAsync(feature.ValueCount, NpgsqlDbType.Bigint);
                    await writer.WriteAsync(feature.NullCount, NpgsqlDbType.Bigint);
                    await writer.WriteAsync(feature.DefaultCount, NpgsqlDbType.Bigint);
                    await writer.WriteAsync(feature.NonFiniteCount, NpgsqlDbType.Bigint);
                    await writer.WriteAsync(numbers.Count, NpgsqlDbType.Bigint);
                    await writer.WriteAsync(numbers.Moments.Mean, NpgsqlDbType.Double);
                    await writer.WriteAsync(numbers.Moments.ScaledM2, NpgsqlDbType.Double);
                    await writer.WriteAsync(numbers.Moments.ScaleExponent, NpgsqlDbType.Integer);
                    await writer.WriteAsync(numbers.Moments.Min, NpgsqlDbType.Double);
                    await writer.WriteAsync(numbers.Moments.Max, NpgsqlDbType.Double);
                    var length = numbers.Sketch.Serialize(buffer);
                    await writer.WriteAsync(new ArraySegment<byte>(buffer, 0, length), NpgsqlDbType.Bytea);
                    rows++;
                }
            }

            await writer.CompleteAsync();
        }

        await transaction.CommitAsync();
        return rows;
    }

    /// <summary>The partials design's compaction of one window: its partial rows read in key order and merged into one
    /// accumulator per key, whose quantiles and sketch bytes are made as a write of the row would.</summary>
    private static async Task<(long Partials, long Rows, double WallMs, double CpuMs)> CompactAsync(NpgsqlDataSource dataSource, DateTimeOffset windowStart)
    {
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var started = Stopwatch.GetTimestamp();
        long partials = 0, rows = 0;
        var merged = new FeatureAccumulator(50);
        var part = new FeatureAccumulator(50);
        var levels = NumericDistribution.ReportedQuantiles.ToArray();
        var quantiles = new double[levels.Length];
        var buffer = new byte[1 << 16];
        var sketch = new byte[1 << 16];
        (string, string, string)? current = null;
        void Finish()
        {
            if (current is not null)
            {
                merged.Numeric.Quantiles(levels, quantiles);
                _ = merged.Numeric.Sketch.Serialize(buffer);
                rows++;
            }

            merged.Reset();
        }

        await using var connection = await dataSource.OpenConnectionAsync();
        await using var command = new NpgsqlCommand(
            "SELECT predictor_name, model_id, feature, value_count, null_count, default_count, nonfinite_count, numeric_count, mean, m2, m2_scale, min, max, sketch " +
            "FROM feature_window_partials WHERE window_seconds = 60 AND window_start = @start ORDER BY predictor_name, model_id, feature", connection);
        command.Parameters.Add(new NpgsqlParameter<DateTime>("start", windowStart.UtcDateTime));
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var key = (reader.GetString(0), reader.GetString(1), reader.GetString(2));
            if (current != key)
            {
                Finish();
                current = key;
            }

            part.LoadCounts(reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5), reader.GetInt64(6), booleanCount: 0, []);
            var length = (int)reader.GetBytes(13, 0, sketch, 0, sketch.Length);
            part.Numeric.Load(reader.GetInt64(7), reader.GetDouble(8), reader.GetDouble(9), reader.GetDouble(11), reader.GetDouble(12), reader.GetInt32(10), sketch.AsSpan(0, length));
            merged.Merge(part);
            partials++;
        }

        Finish();
        return (partials, rows, Stopwatch.GetElapsedTime(started).TotalMilliseconds, (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds);
    }

    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    private enum Kind
    {
        ReadBack,
        Reuse,
        Partials,
    }

    private sealed record Mode(Kind Kind, NpgsqlDataSource DataSource, StatisticsStore Store)
    {
        public List<double> Wall { get; } = [];

        public List<double> Cpu { get; } = [];

        public int Rows { get; set; }
    }
}
