using System.Runtime.CompilerServices;
using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Statistics;
using ModelMonitor.Core.Windows;

namespace ModelMonitor.Core.Aggregation;

/// <summary>One (window, predictor, model) row key; window start in Unix seconds.</summary>
public readonly record struct ModelWindowKey(int WindowSeconds, long WindowStart, string PredictorName, string ModelId);

/// <summary>What one (window, predictor, model) gained since the last flush, with its features.</summary>
public sealed class ModelWindowDelta
{
    public ModelAccumulator Model { get; } = new();

    public Dictionary<string, FeatureAccumulator> Features { get; } = new(StringComparer.Ordinal);

    // The feature names of the record added last, by position, and their accumulators. Records of one model
    // repeat the same names in the same order as the same string instances (decoding shares them), so comparing
    // references finds the accumulator without hashing the name; anything else falls back to the dictionary.
    private string?[] _lastNames = [];
    private FeatureAccumulator?[] _lastAccumulators = [];

    // Feature values added but not yet counted, in arrival order (see AggregationDelta.Add).
    private (FeatureAccumulator Feature, FeatureValue Value)[] _pending = [];
    private int _pendingCount;

    /// <summary>Bytes of the queue's array (kept for reuse).</summary>
    internal long PendingBytes => 32L * _pending.Length;

    /// <summary>Whether the owning delta lists this window among those to settle.</summary>
    internal bool Listed { get; set; }

    public FeatureAccumulator? Recent(int position, string name) =>
        position < _lastNames.Length && ReferenceEquals(_lastNames[position], name) ? _lastAccumulators[position] : null;

    /// <summary>Empties this delta for reuse (its feature accumulators are taken out by the caller first).</summary>
    internal void Reset()
    {
        Model.Reset();
        Features.Clear();
        Array.Clear(_lastNames);
        Array.Clear(_lastAccumulators);
        Array.Clear(_pending, 0, _pendingCount); // the labels and accumulators they name are not held for the next use
        _pendingCount = 0;
        Listed = false;
    }

    /// <summary>Queues <paramref name="value"/> for <paramref name="feature"/>; true when the queue is full and must be settled.</summary>
    internal bool Defer(FeatureAccumulator feature, FeatureValue value)
    {
        if (_pendingCount == _pending.Length)
        {
            Array.Resize(ref _pending, Math.Max(64, _pending.Length * 2));
        }

        _pending[_pendingCount++] = (feature, value);
        return _pendingCount >= AggregationDelta.PendingCapacity;
    }

    /// <summary>Counts the queued values into their accumulators, each accumulator's in the order they were added: the
    /// state is exactly what adding them one by one gave.</summary>
    internal void Settle()
    {
        var pending = _pending;
        for (var i = 0; i < _pendingCount; i++)
        {
            pending[i].Feature.Add(pending[i].Value);
        }

        Array.Clear(pending, 0, _pendingCount);
        _pendingCount = 0;
    }

    public void Remember(int position, string name, FeatureAccumulator accumulator)
    {
        if (position >= _lastNames.Length)
        {
            var size = Math.Max(position + 1, _lastNames.Length * 2);
            Array.Resize(ref _lastNames, size);
            Array.Resize(ref _lastAccumulators, size);
        }
        _lastNames[position] = name;
        _lastAccumulators[position] = accumulator;
    }
}

/// <summary>
/// Everything consumed since the last flush: per-window accumulators, model first/last seen, and the
/// next offset of every partition read. A flush writes it in one transaction, then it is cleared.
/// </summary>
public sealed class AggregationDelta(IReadOnlyList<WindowSize> windows, int categoryCapacity)
{
    // The accumulators of cleared deltas, emptied and reused by the next ones. At thousands of models × features a
    // flush would otherwise make every accumulator garbage after it had lived long enough to be promoted, and the GC
    // took over a third of the aggregator's CPU (BENCHMARKS.md §11). They hold at most what the largest delta held.
    private Stack<ModelWindowDelta> _freeWindows = new();
    private Stack<FeatureAccumulator> _freeFeatures = new();

    public IReadOnlyList<WindowSize> WindowSizes => windows;

    /// <summary>The categorical values each feature accumulator tracks (see <see cref="CategoryCounter"/>).</summary>
    public int CategoryCapacity => categoryCapacity;

    /// <summary>Feature values a window queues before it counts them (see <see cref="Add"/>): about 10 records of 50
    /// features, 16 KB.</summary>
    internal const int PendingCapacity = 512;

    private Dictionary<ModelWindowKey, ModelWindowDelta> _windows = [];

    // The windows that queued values since the last settle, each once (ModelWindowDelta.Listed).
    private List<ModelWindowDelta> _unsettled = [];

    /// <summary>The windows held, with every value added so far counted.</summary>
    public Dictionary<ModelWindowKey, ModelWindowDelta> Windows
    {
        get
        {
            Settle();
            return _windows;
        }
    }

    public Dictionary<(string PredictorName, string ModelId), (DateTimeOffset First, DateTimeOffset Last)> Seen { get; private set; } = [];

    /// <summary>Partition → the offset after the last message read.</summary>
    public Dictionary<int, long> NextOffsets { get; private set; } = [];

    /// <summary>Model rows plus feature rows held.</summary>
    public int RowCount { get; private set; }

    /// <summary>Prediction logs read since the last flush (all kinds).</summary>
    public int RecordCount { get; private set; }

    /// <summary>The earliest end (Unix seconds) of the windows held; <see cref="long.MaxValue"/> when none. A window that
    /// has ended is complete but for late records, and worth writing soon (the exporter publishes complete windows).</summary>
    public long EarliestWindowEnd { get; private set; } = long.MaxValue;

    /// <summary>The earliest start (Unix seconds) of the windows held; <see cref="long.MaxValue"/> when none.</summary>
    public long EarliestWindowStart { get; private set; } = long.MaxValue;

    // EstimatedBytes, MergeInto, Clear: called once per flush or less, each call a loop over every row held. The runtime's
    // tiering would run them unoptimised, then instrumented, for their first 60 calls (minutes at one flush every few
    // seconds: MergeInto alone was 7% of the aggregator's CPU three minutes into a run at 1,000 × 50, BENCHMARKS.md §11),
    // so they are compiled optimised at once.

    /// <summary>Approximate bytes the accumulators hold in memory, O(rows): the aggregator samples it to bound memory.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public long EstimatedBytes()
    {
        long bytes = 0;
        foreach (var (key, delta) in _windows)
        {
            // The key, the dictionary entry, the delta object and its feature dictionary, the values it has queued.
            bytes += 200 + delta.Model.EstimatedBytes + delta.PendingBytes;
            foreach (var (name, feature) in delta.Features)
            {
                bytes += 40 + (2L * name.Length) + feature.EstimatedBytes;
            }
        }

        return bytes;
    }

    public bool IsEmpty => NextOffsets.Count == 0;

    /// <summary>Counts a valid, in-time record into every configured window.</summary>
    /// <remarks>
    /// The feature values are queued in their model window and counted <see cref="PendingCapacity"/> at a time, or
    /// when anything reads the delta. At 1,000 models × 50 features a record's 50 values go to 50 accumulators that
    /// have left the CPU caches since that model's previous record, so counting each at once was a chain of cache
    /// misses per value, the largest cost per record (BENCHMARKS.md §11); counted together, a window's accumulators
    /// take their values one after another while they are in cache. Each accumulator still takes its values in
    /// arrival order, so the result is exactly that of counting them one by one.
    /// </remarks>
    public void Add(PredictionLog log)
    {
        foreach (var window in windows)
        {
            var delta = Window(new ModelWindowKey(window.Seconds, window.WindowStart(log.SentAt).ToUnixTimeSeconds(), log.PredictorName, log.ModelId));
            delta.Model.Add(log.PredictionResult);
            var features = log.Features;
            for (var i = 0; i < features.Count; i++)
            {
                var (name, value) = features[i];
                var feature = delta.Recent(i, name);
                if (feature is null)
                {
                    feature = Feature(delta, name);
                    delta.Remember(i, name, feature);
                }

                if (!delta.Listed)
                {
                    delta.Listed = true;
                    _unsettled.Add(delta);
                }

                if (delta.Defer(feature, value))
                {
                    delta.Settle(); // it stays listed: settling it again counts nothing
                }
            }

            for (var i = 0; i < log.DefaultValuesUsed.Count; i++)
            {
                var name = log.DefaultValuesUsed[i];
                if (!AppearsBefore(log.DefaultValuesUsed, name, i))
                {
                    Feature(delta, name).AddDefault();
                }
            }
        }

        SawModel((log.PredictorName, log.ModelId), log.SentAt, log.SentAt);
    }

    /// <summary>
    /// Adds everything this delta holds to <paramref name="target"/>, whose window sizes are each a multiple of every size
    /// here: each window here lies inside exactly one window of each target size (windows are aligned to the Unix epoch),
    /// so merging its accumulators there gives what adding its records to the target would have, up to the rounding of
    /// merged moments (counts and sketch bins are exact). The partitions' next offsets move to the later of the two, and
    /// the records read are added. This delta is unchanged.
    /// </summary>
    /// <remarks>
    /// The aggregator adds each record once, to the shortest window size, and merges that into the longer sizes when it
    /// writes: at 1,000 models × 50 features every record otherwise touched 150 accumulators scattered over a gigabyte
    /// instead of 50, the largest cost per record (BENCHMARKS.md §11).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // see EstimatedBytes
    public void MergeInto(AggregationDelta target)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (!Nests(this, target))
        {
            throw new ArgumentException($"Windows of {string.Join(",", windows)} do not nest in windows of {string.Join(",", target.WindowSizes)}.", nameof(target));
        }

        target.Settle(); // its windows are merged into below, after what they queued
        foreach (var (key, source) in Windows)
        {
            foreach (var size in target.WindowSizes)
            {
                var start = size.WindowStart(DateTimeOffset.FromUnixTimeSeconds(key.WindowStart)).ToUnixTimeSeconds();
                var delta = target.Window(new ModelWindowKey(size.Seconds, start, key.PredictorName, key.ModelId));
                delta.Model.Merge(source.Model);
                foreach (var (name, feature) in source.Features)
                {
                    target.Feature(delta, name).Merge(feature);
                }
            }
        }

        foreach (var (model, (first, last)) in Seen)
        {
            target.SawModel(model, first, last);
        }

        foreach (var (partition, next) in NextOffsets)
        {
            target.NextOffsets[partition] = Math.Max(next, target.NextOffsets.GetValueOrDefault(partition));
        }

        target.RecordCount += RecordCount;
    }

    /// <summary>
    /// Moves everything this delta holds to <paramref name="target"/> (see <see cref="MergeInto"/>) and empties this one.
    /// When the target is empty and counts the same window sizes, the two exchange their contents instead: nothing is
    /// merged or copied.
    /// </summary>
    public void MoveInto(AggregationDelta target)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (target.IsEmpty && target.CategoryCapacity == categoryCapacity && target.WindowSizes.SequenceEqual(windows))
        {
            (_windows, target._windows) = (target._windows, _windows);
            (_unsettled, target._unsettled) = (target._unsettled, _unsettled);
            (Seen, target.Seen) = (target.Seen, Seen);
            (NextOffsets, target.NextOffsets) = (target.NextOffsets, NextOffsets);
            (_freeWindows, target._freeWindows) = (target._freeWindows, _freeWindows);
            (_freeFeatures, target._freeFeatures) = (target._freeFeatures, _freeFeatures);
            (RowCount, target.RowCount) = (target.RowCount, RowCount);
            (RecordCount, target.RecordCount) = (target.RecordCount, RecordCount);
            (EarliestWindowEnd, target.EarliestWindowEnd) = (target.EarliestWindowEnd, EarliestWindowEnd);
            (EarliestWindowStart, target.EarliestWindowStart) = (target.EarliestWindowStart, EarliestWindowStart);
            Clear(); // the target's empty delta, now here: clears nothing but keeps the invariants in one place
            return;
        }

        MergeInto(target);
        Clear();
    }

    /// <summary>Whether every window of <paramref name="source"/> lies inside one window of each size of
    /// <paramref name="target"/> (each target size a multiple of each source size).</summary>
    public static bool Nests(AggregationDelta source, AggregationDelta target)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        return source.WindowSizes.All(s => target.WindowSizes.All(t => t.Seconds % s.Seconds == 0));
    }

    /// <summary>Marks a message read up to <paramref name="nextOffset"/>; it held <paramref name="records"/> prediction logs.</summary>
    public void Advance(int partition, long nextOffset, int records = 1)
    {
        NextOffsets[partition] = nextOffset;
        RecordCount += records;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // see EstimatedBytes
    public void Clear()
    {
        _unsettled.Clear(); // what they queued is dropped with them (Reset)
        foreach (var delta in _windows.Values)
        {
            foreach (var feature in delta.Features.Values)
            {
                feature.Reset();
                _freeFeatures.Push(feature);
            }

            delta.Reset();
            _freeWindows.Push(delta);
        }

        _windows.Clear();
        Seen.Clear();
        NextOffsets.Clear();
        RowCount = 0;
        RecordCount = 0;
        EarliestWindowEnd = long.MaxValue;
        EarliestWindowStart = long.MaxValue;
    }

    // default_values_used should not repeat a name; if it does, the record still counts once.
    private static bool AppearsBefore(IReadOnlyList<string> names, string name, int index)
    {
        for (var j = 0; j < index; j++)
        {
            if (string.Equals(names[j], name, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Counts every queued value.</summary>
    private void Settle()
    {
        if (_unsettled.Count == 0)
        {
            return;
        }

        foreach (var delta in _unsettled)
        {
            delta.Settle();
            delta.Listed = false;
        }

        _unsettled.Clear();
    }

    private ModelWindowDelta Window(ModelWindowKey key)
    {
        if (!_windows.TryGetValue(key, out var delta))
        {
            delta = _freeWindows.TryPop(out var free) ? free : new ModelWindowDelta();
            _windows.Add(key, delta);
            RowCount++;
            EarliestWindowEnd = Math.Min(EarliestWindowEnd, key.WindowStart + key.WindowSeconds);
            EarliestWindowStart = Math.Min(EarliestWindowStart, key.WindowStart);
        }

        return delta;
    }

    private void SawModel((string PredictorName, string ModelId) model, DateTimeOffset first, DateTimeOffset last) =>
        Seen[model] = Seen.TryGetValue(model, out var seen)
            ? (seen.First < first ? seen.First : first, seen.Last > last ? seen.Last : last)
            : (first, last);

    private FeatureAccumulator Feature(ModelWindowDelta delta, string name)
    {
        if (!delta.Features.TryGetValue(name, out var feature))
        {
            feature = _freeFeatures.TryPop(out var free) ? free : new FeatureAccumulator(categoryCapacity);
            delta.Features.Add(name, feature);
            RowCount++;
        }

        return feature;
    }
}
