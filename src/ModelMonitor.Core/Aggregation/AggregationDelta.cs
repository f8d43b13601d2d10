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

    public FeatureAccumulator? Recent(int position, string name) =>
        position < _lastNames.Length && ReferenceEquals(_lastNames[position], name) ? _lastAccumulators[position] : null;

    /// <summary>Empties this delta for reuse (its feature accumulators are taken out by the caller first).</summary>
    internal void Reset()
    {
        Model.Reset();
        Features.Clear();
        Array.Clear(_lastNames);
        Array.Clear(_lastAccumulators);
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
    private readonly Stack<ModelWindowDelta> _freeWindows = new();
    private readonly Stack<FeatureAccumulator> _freeFeatures = new();

    public Dictionary<ModelWindowKey, ModelWindowDelta> Windows { get; } = [];

    public Dictionary<(string PredictorName, string ModelId), (DateTimeOffset First, DateTimeOffset Last)> Seen { get; } = [];

    /// <summary>Partition → the offset after the last message read.</summary>
    public Dictionary<int, long> NextOffsets { get; } = [];

    /// <summary>Model rows plus feature rows held.</summary>
    public int RowCount { get; private set; }

    /// <summary>Prediction logs read since the last flush (all kinds).</summary>
    public int RecordCount { get; private set; }

    /// <summary>The earliest end (Unix seconds) of the windows held; <see cref="long.MaxValue"/> when none. A window that
    /// has ended is complete but for late records, and worth writing soon (the exporter publishes complete windows).</summary>
    public long EarliestWindowEnd { get; private set; } = long.MaxValue;

    /// <summary>Approximate bytes the accumulators hold in memory, O(rows): the aggregator samples it to bound memory.</summary>
    public long EstimatedBytes()
    {
        long bytes = 0;
        foreach (var (key, delta) in Windows)
        {
            // The key, the dictionary entry, the delta object and its feature dictionary.
            bytes += 200 + delta.Model.EstimatedBytes;
            foreach (var (name, feature) in delta.Features)
            {
                bytes += 40 + (2L * name.Length) + feature.EstimatedBytes;
            }
        }

        return bytes;
    }

    public bool IsEmpty => NextOffsets.Count == 0;

    /// <summary>Counts a valid, in-time record into every configured window.</summary>
    public void Add(PredictionLog log)
    {
        foreach (var window in windows)
        {
            var key = new ModelWindowKey(window.Seconds, window.WindowStart(log.SentAt).ToUnixTimeSeconds(), log.PredictorName, log.ModelId);
            if (!Windows.TryGetValue(key, out var delta))
            {
                delta = _freeWindows.TryPop(out var free) ? free : new ModelWindowDelta();
                Windows.Add(key, delta);
                RowCount++;
                EarliestWindowEnd = Math.Min(EarliestWindowEnd, key.WindowStart + key.WindowSeconds);
            }

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
                feature.Add(value);
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

        var model = (log.PredictorName, log.ModelId);
        Seen[model] = Seen.TryGetValue(model, out var seen)
            ? (seen.First < log.SentAt ? seen.First : log.SentAt, seen.Last > log.SentAt ? seen.Last : log.SentAt)
            : (log.SentAt, log.SentAt);
    }

    /// <summary>Marks a message read up to <paramref name="nextOffset"/>; it held <paramref name="records"/> prediction logs.</summary>
    public void Advance(int partition, long nextOffset, int records = 1)
    {
        NextOffsets[partition] = nextOffset;
        RecordCount += records;
    }

    public void Clear()
    {
        foreach (var delta in Windows.Values)
        {
            foreach (var feature in delta.Features.Values)
            {
                feature.Reset();
                _freeFeatures.Push(feature);
            }

            delta.Reset();
            _freeWindows.Push(delta);
        }

        Windows.Clear();
        Seen.Clear();
        NextOffsets.Clear();
        RowCount = 0;
        RecordCount = 0;
        EarliestWindowEnd = long.MaxValue;
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
