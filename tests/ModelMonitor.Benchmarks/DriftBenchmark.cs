using System.Diagnostics;
using System.Globalization;
using System.Text;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Drift;
using ModelMonitor.Core.References;
using ModelMonitor.Core.Statistics;
using ModelMonitor.Exporter;
using ModelMonitor.References.Drift;
using ModelMonitor.References.Upload;
using ModelMonitor.Storage.References;
using ModelMonitor.Storage.Statistics;

namespace ModelMonitor.Benchmarks;

/// <summary>
/// Scenario "drift" (issue 15), three parts, all in this process:
/// <list type="number">
/// <item>exporter: the renderer on a snapshot of 500 models × 300 features (one window size; a tenth of the features
/// categorical) with the rows' sketches, side by side without references (drift off) and with one reference per model:
/// render time, the references' memory (measured managed heap, and their own estimate), the snapshot's sketch bytes
/// (what the Postgres read adds);</item>
/// <item>upload: a CSV of 20 columns (16 numeric, 4 categorical) generated on the fly into the CSV reader on one thread,
/// at 1 M and 5 M rows: rows/s and the managed heap after each (flat in the file size);</item>
/// <item>accuracy: PSI, Jensen-Shannon and KS from sketches against the same formulas on 1 M raw values (sorted arrays):
/// time of each and the absolute difference.</item>
/// </list>
/// </summary>
internal static class DriftBenchmark
{
    private const int Models = 500;
    private const int Features = 300;
    private const int ValuesPerWindow = 200;
    private const int ReferenceValues = 2_000;

    public static async Task RunAsync(BenchmarkContext context)
    {
        await Task.Yield();
        await ExporterAsync(context);
        await UploadAsync();
        Accuracy();
    }

    private static async Task ExporterAsync(BenchmarkContext context)
    {
        var runs = context.Options.Runs;
        Console.WriteLine($"-- exporter: {Models} models × {Features} features ({Models * Features:N0} feature rows, one window size), {ValuesPerWindow} values a window, one reference of {ReferenceValues} values per feature --");
        var random = new Random(15);
        var snapshot = Snapshot(random);
        var sketchBytes = snapshot.Windows.Sum(w => w.Features.Sum(f => (long)(f.Sketch?.Length ?? 0)) + w.Models.Sum(m => (long)(m.Sketch?.Length ?? 0)));
        var options = new ExporterOptions();
        var before = Heap();
        var references = new DriftReferences(References(random), new DriftOptions()); // each profile built, prepared, dropped
        var after = Heap();
        GC.KeepAlive(references);
        (string Label, DriftInput? Input)[] variants =
        [
            ("off", null),
            ("on", new DriftInput(references, new DriftOptions())),
            ("on, js only", new DriftInput(references, new DriftOptions { Methods = "jensen_shannon" })),
            // What the exporter does at a refresh whose windows did not change (DriftTextCache): filled by the warm-up run.
            ("on, unchanged", new DriftInput(references, new DriftOptions(), new DriftTextCache())),
        ];
        Console.WriteLine("run  drift          series     render ms  allocated MB");
        var times = variants.ToDictionary(v => v.Label, _ => new List<double>());
        long statisticsBytes = 0, driftBytes = 0;
        for (var run = 1; run <= runs + 1; run++)
        {
            foreach (var (label, input) in variants)
            {
                var allocated = GC.GetTotalAllocatedBytes(precise: true);
                var started = Stopwatch.GetTimestamp();
                var exposition = ExpositionRenderer.Render(snapshot, options, 64 * 1024 * 1024, input);
                var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                var mb = (GC.GetTotalAllocatedBytes(precise: true) - allocated) / 1048576.0;
                if (label == "on")
                {
                    (statisticsBytes, driftBytes) = (exposition.Segments[0].Length, exposition.Segments[^1].Length);
                }
                if (run > 1)
                {
                    times[label].Add(ms);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{run - 1,-4} {label,-14} {exposition.Series,-10:N0} {ms,-10:F0} {mb,-12:F0}"));
                }
            }
        }

        // The aggregator's drift history of the same window: the rows worked out, then written to Postgres (binary COPY).
        var window = snapshot.Windows[0];
        var historyStarted = Stopwatch.GetTimestamp();
        var (featureDrift, predictionDrift) = DriftHistoryRows.Of(window.Models, window.Features, references, new DriftOptions(), window.WindowSeconds);
        var computeMs = Stopwatch.GetElapsedTime(historyStarted).TotalMilliseconds;
        await using var dataSource = Npgsql.NpgsqlDataSource.Create(await context.NewDatabaseAsync("drift_history"));
        await new ModelMonitor.Storage.SchemaMigrator(dataSource, Microsoft.Extensions.Logging.Abstractions.NullLogger<ModelMonitor.Storage.SchemaMigrator>.Instance).MigrateAsync(CancellationToken.None);
        var writeStarted = Stopwatch.GetTimestamp();
        await new ModelMonitor.Storage.Drift.DriftHistoryStore(dataSource).WriteAsync(window.WindowSeconds, window.WindowStart, 0, featureDrift, predictionDrift, CancellationToken.None);
        var writeMs = Stopwatch.GetElapsedTime(writeStarted).TotalMilliseconds;
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var size = new Npgsql.NpgsqlCommand("SELECT pg_total_relation_size('feature_drift') + pg_total_relation_size('prediction_drift')", connection);
        var bytes = (long)(await size.ExecuteScalarAsync())!;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"drift history of the window (aggregator): {featureDrift.Count + predictionDrift.Count:N0} rows worked out in {computeMs:F0} ms, written in {writeMs:F0} ms ({(featureDrift.Count + predictionDrift.Count) / (writeMs / 1000):N0} rows/s), {bytes / 1048576.0:F1} MB in Postgres ({(double)bytes / (featureDrift.Count + predictionDrift.Count):F0} B per row)"));

        var off = Stats.Median(times["off"]);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"median render: off {off:F0} ms, on {Stats.Median(times["on"]):F0} ms (+{(Stats.Median(times["on"]) / off) - 1:P0}), jensen_shannon only {Stats.Median(times["on, js only"]):F0} ms (+{(Stats.Median(times["on, js only"]) / off) - 1:P0}), on with the windows unchanged since the last refresh {Stats.Median(times["on, unchanged"]):F0} ms (+{(Stats.Median(times["on, unchanged"]) / off) - 1:P0}); references held: {(after - before) / 1048576.0:F1} MB measured (managed heap), {references.EstimatedBytes / 1048576.0:F1} MB estimated; the rows' sketches the read adds: {sketchBytes / 1048576.0:F1} MB ({(double)sketchBytes / (Models * (Features + 1)):F0} B per row); exposition text: statistics {statisticsBytes / 1048576.0:F0} MB, drift families {driftBytes / 1048576.0:F0} MB"));
    }

    private static long Heap()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static double Normal(Random random) => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    private static StatisticsSnapshot Snapshot(Random random)
    {
        var start = StatisticsReader.LatestCompletedWindowStart(DateTimeOffset.UtcNow, 300, TimeSpan.Zero);
        var models = new List<ModelRow>();
        var modelRows = new List<ModelWindowRow>();
        var featureRows = new List<FeatureWindowRow>();
        for (var m = 0; m < Models; m++)
        {
            var (predictor, model) = ($"predictor_{m / 5}", $"model_{m}");
            models.Add(new ModelRow { PredictorName = predictor, ModelId = model, FirstSeen = DateTime.UtcNow.AddDays(-3), LastSeen = DateTime.UtcNow });
            modelRows.Add(new ModelWindowRow { PredictorName = predictor, ModelId = model, PredictionCount = ValuesPerWindow, Mean = 1, Sketch = Sketch(random, ValuesPerWindow, 100, 10) });
            for (var f = 0; f < Features; f++)
            {
                var row = new FeatureWindowRow { PredictorName = predictor, ModelId = model, Feature = $"feature_{f:D3}", ValueCount = ValuesPerWindow };
                if (f % 10 == 9)
                {
                    row.CategoricalCount = ValuesPerWindow;
                    row.Categories = """{"a": 80, "b": 60, "c": 40, "d": 20}""";
                }
                else
                {
                    row.NumericCount = ValuesPerWindow;
                    row.Mean = f;
                    row.Sketch = Sketch(random, ValuesPerWindow, 50 + f, 5 + (f % 7));
                }

                featureRows.Add(row);
            }
        }

        return new StatisticsSnapshot(models, [new WindowSnapshot(300, start, modelRows, featureRows, [])]);
    }

    private static byte[] Sketch(Random random, int values, double mean, double sd)
    {
        var sketch = new DDSketch();
        for (var i = 0; i < values; i++)
        {
            sketch.Add(mean + (sd * Normal(random)));
        }

        return sketch.Serialize();
    }

    private static IEnumerable<LoadedReference> References(Random random)
    {
        for (var m = 0; m < Models; m++)
        {
            var profile = new ReferenceProfile(ReferenceStore.CategoryCapacity);
            profile.AddRows(ReferenceValues);
            for (var i = 0; i < ReferenceValues; i++)
            {
                profile.Prediction.Add(100 + (10 * Normal(random)));
            }

            for (var f = 0; f < Features; f++)
            {
                var feature = profile.Feature($"feature_{f:D3}");
                for (var i = 0; i < ReferenceValues; i++)
                {
                    feature.Add(f % 10 == 9 ? FeatureValue.FromString("abcd"[i % 4].ToString()) : FeatureValue.FromNumber(50 + f + ((5 + (f % 7)) * Normal(random))));
                }
            }

            // Thresholds as an upload stores them: every method of every feature, for windows of every size.
            var thresholds = new List<StoredThreshold>();
            for (var f = 0; f < Features; f++)
            {
                foreach (var method in f % 10 == 9 ? DriftMethods.Categorical : DriftMethods.Numeric)
                {
                    thresholds.Add(new StoredThreshold(0, new ReferenceThreshold($"feature_{f:D3}", method, 0.15, 50, 0.05, 0.03)));
                }
            }

            yield return new LoadedReference(new ReferenceKey($"predictor_{m / 5}", $"model_{m}", "training"), ReferenceKinds.Uploaded, profile, thresholds);
        }
    }

    private static async Task UploadAsync()
    {
        Console.WriteLine("-- upload: CSV of 20 columns (16 numeric, 4 categorical), generated on the fly, one thread --");
        Console.WriteLine("rows        seconds  rows/s      managed heap after MB  peak working set MB");
        foreach (var rows in new[] { 1_000_000, 5_000_000 })
        {
            var builder = new ReferenceBuilder(ReferenceStore.CategoryCapacity);
            using var csv = new GeneratedCsv(rows);
            var started = Stopwatch.GetTimestamp();
            await CsvReferenceReader.ReadAsync(csv, builder, new UploadLimits(long.MaxValue, 2_000, 1_024), CancellationToken.None);
            var (profile, thresholds) = builder.Complete();
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            var heap = Heap() / 1048576.0;
            GC.KeepAlive(profile);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{rows,-11:N0} {seconds,-8:F1} {rows / seconds,-11:N0} {heap,-22:F0} {Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0,-8:F0} ({thresholds.Count} thresholds, {csv.Bytes / 1048576.0:F0} MB of CSV)"));
        }
    }

    /// <summary>A CSV produced as it is read (nothing held but 10,000 distinct rows, replayed): 16 numeric columns and 4
    /// categorical ones. Replaying pre-rendered rows keeps the generator's own cost (formatting numbers) out of the figure.</summary>
    private sealed class GeneratedCsv : Stream
    {
        private const int DistinctRows = 10_000;
        private readonly int _rows;
        private readonly byte[][] _lines;
        private byte[] _pending = Encoding.UTF8.GetBytes(string.Join(',', Enumerable.Range(0, 20).Select(c => c < 16 ? $"num_{c}" : $"cat_{c}")) + "\n");
        private int _offset;
        private int _row;

        public GeneratedCsv(int rows)
        {
            _rows = rows;
            var random = new Random(7);
            _lines = [.. Enumerable.Range(0, DistinctRows).Select(_ => Encoding.UTF8.GetBytes(string.Join(',', Enumerable.Range(0, 20).Select(c => c < 16
                ? ((c * 10) + (random.NextDouble() * 100)).ToString("F4", CultureInfo.InvariantCulture)
                : $"market_{random.Next(20)}")) + "\n"))];
        }

        public long Bytes { get; private set; }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var written = 0;
            while (written < buffer.Length)
            {
                if (_offset == _pending.Length)
                {
                    if (_row == _rows)
                    {
                        break;
                    }

                    _pending = _lines[_row++ % DistinctRows];
                    _offset = 0;
                }

                var n = Math.Min(buffer.Length - written, _pending.Length - _offset);
                _pending.AsSpan(_offset, n).CopyTo(buffer[written..]);
                _offset += n;
                written += n;
            }

            Bytes += written;
            return written;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => Task.FromResult(Read(buffer, offset, count));

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => Bytes; set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private static void Accuracy()
    {
        Console.WriteLine("-- accuracy: 1,000,000 reference and 1,000,000 window values (normal vs normal shifted by 0.3 sd and stretched 10%) --");
        var random = new Random(3);
        var reference = Enumerable.Range(0, 1_000_000).Select(_ => 100 + (15 * Normal(random))).ToArray();
        var current = Enumerable.Range(0, 1_000_000).Select(_ => 104.5 + (16.5 * Normal(random))).ToArray();

        var started = Stopwatch.GetTimestamp();
        var sortedReference = reference.Order().ToArray();
        var sortedCurrent = current.Order().ToArray();
        var edges = NumericReference.EdgeQuantiles.Select(q => sortedReference[(int)Math.Floor(q * (sortedReference.Length - 1))]).Distinct().ToArray();
        var (min, max) = (sortedReference[0], sortedReference[^1]);
        double[] Shares(double[] sorted, bool js)
        {
            var shares = new double[edges.Length + (js ? 3 : 1)];
            foreach (var v in sorted)
            {
                var found = Array.BinarySearch(edges, v);
                var bin = found >= 0 ? found : ~found;
                shares[js ? (v < min ? 0 : v > max ? shares.Length - 1 : 1 + bin) : bin] += 1.0 / sorted.Length;
            }

            return shares;
        }

        var rawPsi = Divergence.Psi(Shares(sortedReference, false), Shares(sortedCurrent, false));
        var rawJs = Divergence.JensenShannonDistance(Shares(sortedReference, true), Shares(sortedCurrent, true));
        double rawKs = 0;
        for (int i = 0, j = 0; i < sortedReference.Length || j < sortedCurrent.Length;)
        {
            var x = i < sortedReference.Length && (j >= sortedCurrent.Length || sortedReference[i] <= sortedCurrent[j]) ? sortedReference[i] : sortedCurrent[j];
            while (i < sortedReference.Length && sortedReference[i] == x)
            {
                i++;
            }

            while (j < sortedCurrent.Length && sortedCurrent[j] == x)
            {
                j++;
            }

            rawKs = Math.Max(rawKs, Math.Abs(((double)i / sortedReference.Length) - ((double)j / sortedCurrent.Length)));
        }

        var rawMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;

        started = Stopwatch.GetTimestamp();
        var referenceDistribution = new NumericDistribution();
        var currentDistribution = new NumericDistribution();
        foreach (var v in reference)
        {
            referenceDistribution.Add(v);
        }

        foreach (var v in current)
        {
            currentDistribution.Add(v);
        }

        var sketchAddMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        started = Stopwatch.GetTimestamp();
        var points = new List<SketchPoint>();
        currentDistribution.Sketch.CopyPoints(points);
        var result = NumericDrift.Compare(NumericReference.From(referenceDistribution)!, points)!.Value;
        var compareMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        Console.WriteLine("measure          raw values  sketches   |difference|");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"psi              {rawPsi,-11:F6} {result.Psi,-10:F6} {Math.Abs(rawPsi - result.Psi):E2}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"jensen_shannon   {rawJs,-11:F6} {result.JensenShannon,-10:F6} {Math.Abs(rawJs - result.JensenShannon):E2}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ks               {rawKs,-11:F6} {result.Ks,-10:F6} {Math.Abs(rawKs - result.Ks):E2}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"time: raw (sort both, bin, merge) {rawMs:F0} ms; sketches: adding the 2 M values {sketchAddMs:F0} ms (the aggregator's work anyway), comparing {compareMs:F2} ms; sketch bins: reference {referenceDistribution.Sketch.BinCount}, window {currentDistribution.Sketch.BinCount}"));
    }
}
