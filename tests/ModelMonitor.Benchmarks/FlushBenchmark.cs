using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using ModelMonitor.Core.Aggregation;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Windows;
using ModelMonitor.Storage;
using ModelMonitor.Storage.Statistics;
using ModelMonitor.Testing.Postgres;
using Npgsql;

namespace ModelMonitor.Benchmarks;

/// <summary>
/// `run.sh flush`: the aggregator's write of one window size's open rows, alone (no Kafka, no consumer), with and without
/// <see cref="WindowFlush.ReuseWrittenRows"/>, side by side: the same deltas (1,000 models × 50 numeric features in one
/// 1m window, 15 records per model per flush: 5 s of 3,000 records/s) flushed alternately into two databases of one
/// Postgres (shared_buffers 128MB, fsync off). Wall time per flush (what the 1m rows' freshness waits for) and this
/// process's CPU per flush (the aggregator's share), medians over the flushes after the first.
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
        foreach (var reuse in new[] { false, true })
        {
            var dataSource = NpgsqlDataSource.Create(await postgres.CreateDatabaseAsync(reuse ? "flush_reuse" : "flush_read_back"));
            await new SchemaMigrator(dataSource, NullLogger<SchemaMigrator>.Instance).MigrateAsync(CancellationToken.None);
            modes.Add(new Mode(reuse, dataSource, new StatisticsStore(dataSource, 50)));
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
                var (outcome, rows) = await mode.Store.FlushAsync("bench", "t", [new WindowFlush(window.Seconds, delta, expected, mode.Reuse)], CancellationToken.None);
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

        Console.WriteLine("mode                         rows/flush  flush ms p50 (min-max)  CPU ms p50 (this process)  rows reused");
        foreach (var mode in modes)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{(mode.Reuse ? "reuse written rows" : "read back (lock, select)"),-28} {mode.Rows,-11} {Stats.Median(mode.Wall),6:F0} ({mode.Wall.Min():F0}-{mode.Wall.Max():F0})      {Stats.Median(mode.Cpu),6:F0}                     {mode.Store.RowsReused:N0}"));
            await mode.DataSource.DisposeAsync();
        }
    }

    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    private sealed record Mode(bool Reuse, NpgsqlDataSource DataSource, StatisticsStore Store)
    {
        public List<double> Wall { get; } = [];

        public List<double> Cpu { get; } = [];

        public int Rows { get; set; }
    }
}
