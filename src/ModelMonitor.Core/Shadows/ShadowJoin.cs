using System.Runtime.InteropServices;
using ModelMonitor.Core.Windows;

namespace ModelMonitor.Core.Shadows;

/// <summary>A prediction of a model of a predictor the shadow join compares (a value: a batch holds it inline in its id's
/// group, not as an object of its own that would outlive the young generation with the batch).</summary>
public readonly record struct ShadowPrediction(string PredictorName, string PredictionId, string ModelId, DateTimeOffset SentAt, double PredictionResult);

/// <summary>A window row of the comparison of models <paramref name="ModelA"/> and <paramref name="ModelB"/> (ordinal
/// order: A before B).</summary>
public readonly record struct ShadowPairKey(int WindowSeconds, DateTimeOffset WindowStart, string PredictorName, string ModelA, string ModelB);

/// <summary>A window row of one model's prediction count.</summary>
public readonly record struct ShadowModelKey(int WindowSeconds, DateTimeOffset WindowStart, string PredictorName, string ModelId);

/// <summary>What a batch adds to the shadow windows, and which prediction ids are complete.</summary>
public sealed class ShadowContributions
{
    public Dictionary<ShadowPairKey, ShadowAccumulator> Pairs { get; } = [];

    public Dictionary<ShadowModelKey, long> Predictions { get; } = [];

    /// <summary>(predictor, prediction_id)s that every joined model of the predictor has predicted: their stored
    /// predictions can go (every pair they can form is formed).</summary>
    public List<(string PredictorName, string PredictionId)> Complete { get; } = [];

    /// <summary>Pairs formed (each counted once, in every window size).</summary>
    public long PairCount { get; internal set; }

    /// <summary>Per predictor: new predictions counted and pairs formed (<see cref="ComparisonProbation"/>).</summary>
    public Dictionary<string, (long Predictions, long Pairs)> PerPredictor { get; } = new(StringComparer.Ordinal);
}

/// <summary>
/// The shadow join as a pure function of what one batch touched: every stored prediction of the prediction ids that got a
/// new prediction, the new ones flagged. Two predictions of one (predictor, prediction_id) by different models whose
/// sent_at are at most the join window apart form a pair; a pair is formed once, in the batch that stores its later
/// prediction, and counts in the window (of each size) of its earlier sent_at. Each new prediction counts once in its
/// model's window by its own sent_at (the match ratios' denominators).
/// </summary>
public static class ShadowJoin
{
    /// <param name="stored">Stored predictions of the touched ids, the ones this batch inserted included.</param>
    /// <param name="inserted">Whether a stored prediction was inserted by this batch.</param>
    /// <param name="joinedModels">How many models of the predictor the join compares (an id is complete with that many).</param>
    /// <param name="thresholdOf">The binary threshold of a predictor, or null when it is not binary.</param>
    public static ShadowContributions Contribute(IEnumerable<ShadowPrediction> stored, Func<ShadowPrediction, bool> inserted,
        IReadOnlyList<WindowSize> windows, TimeSpan joinWindow, Func<string, int> joinedModels, Func<string, double?> thresholdOf)
    {
        var groups = new List<ShadowIdGroup>();
        foreach (var group in stored.GroupBy(p => (p.PredictorName, p.PredictionId)))
        {
            var idGroup = new ShadowIdGroup(group.Key.PredictorName, group.Key.PredictionId, stored: true);
            foreach (var prediction in group)
            {
                idGroup.Add(prediction, inserted(prediction));
            }
            groups.Add(idGroup);
        }
        return Contribute(groups, windows, joinWindow, joinedModels, thresholdOf);
    }

    /// <summary>The join of groups of one (predictor, prediction_id) each (<see cref="ShadowBatch"/>, or stored ones). A group
    /// not <see cref="ShadowIdGroup.Stored"/> is never listed in <see cref="ShadowContributions.Complete"/>: nothing of it
    /// waits in the table. The entries of a group are sorted by model (in place).</summary>
    public static ShadowContributions Contribute(IEnumerable<ShadowIdGroup> groups, IReadOnlyList<WindowSize> windows, TimeSpan joinWindow,
        Func<string, int> joinedModels, Func<string, double?> thresholdOf)
    {
        var result = new ShadowContributions();
        var blocks = new Blocks(windows);
        string? current = null; // one instance per run of a predictor's groups: the blocks compare it by reference
        var (threshold, joined) = ((double?)null, 0);
        foreach (var group in groups)
        {
            var predictor = current is not null && string.Equals(group.PredictorName, current, StringComparison.Ordinal) ? current : group.PredictorName;
            if (!ReferenceEquals(predictor, current))
            {
                current = predictor;
                (threshold, joined) = (thresholdOf(predictor), joinedModels(predictor));
            }
            // Ordinal model order: each pair is (a, b) with a before b, its difference b − a.
            var entries = group.Entries;
            if (entries.Length > 1)
            {
                entries.Sort(static (x, y) => string.CompareOrdinal(x.Prediction.ModelId, y.Prediction.ModelId));
            }
            var (predictions, pairs) = (0L, 0L);
            for (var i = 0; i < entries.Length; i++)
            {
                var (a, aNew) = entries[i];
                if (aNew)
                {
                    predictions++;
                    for (var w = 0; w < windows.Count; w++)
                    {
                        blocks.Of(w, a.SentAt, predictor).Count(a.ModelId);
                    }
                }
                for (var j = i + 1; j < entries.Length; j++)
                {
                    var (b, bNew) = entries[j];
                    if ((!aNew && !bNew) || (a.SentAt - b.SentAt).Duration() > joinWindow)
                    {
                        continue; // counted when the later of them was stored, or too far apart
                    }
                    var earlier = a.SentAt <= b.SentAt ? a.SentAt : b.SentAt;
                    for (var w = 0; w < windows.Count; w++)
                    {
                        blocks.Of(w, earlier, predictor).Pair(a.ModelId, b.ModelId).Add(a.PredictionResult, b.PredictionResult, threshold);
                    }
                    pairs++;
                }
            }
            result.PairCount += pairs;
            ref var counts = ref CollectionsMarshal.GetValueRefOrAddDefault(result.PerPredictor, predictor, out _);
            counts = (counts.Predictions + predictions, counts.Pairs + pairs);
            if (group.Stored && entries.Length >= joined)
            {
                result.Complete.Add((group.PredictorName, group.PredictionId));
            }
        }
        blocks.CopyTo(result);
        return result;
    }

    /// <summary>The counts and pairs of one (window size, window start, predictor), its models by position: the ids of a
    /// batch mostly share their windows, so a prediction costs a comparison with the last block of its size rather than a
    /// hash of its key's strings per window and per pair.</summary>
    private sealed class Block(int windowSeconds, DateTimeOffset start, string predictor)
    {
        private readonly List<string> _models = new(4);
        private readonly List<long> _counts = new(4);
        private readonly Dictionary<(int A, int B), ShadowAccumulator> _pairs = [];

        public int WindowSeconds { get; } = windowSeconds;

        public DateTimeOffset Start { get; } = start;

        public string Predictor { get; } = predictor;

        public void Count(string model) => _counts[IndexOf(model)]++;

        public ShadowAccumulator Pair(string a, string b)
        {
            ref var accumulator = ref CollectionsMarshal.GetValueRefOrAddDefault(_pairs, (IndexOf(a), IndexOf(b)), out _);
            return accumulator ??= new ShadowAccumulator();
        }

        private int IndexOf(string model)
        {
            for (var i = 0; i < _models.Count; i++)
            {
                if (string.Equals(_models[i], model, StringComparison.Ordinal))
                {
                    return i;
                }
            }
            _models.Add(model);
            _counts.Add(0);
            return _models.Count - 1;
        }

        public void CopyTo(ShadowContributions result)
        {
            for (var i = 0; i < _models.Count; i++)
            {
                if (_counts[i] > 0)
                {
                    result.Predictions[new ShadowModelKey(WindowSeconds, Start, Predictor, _models[i])] = _counts[i];
                }
            }
            foreach (var ((a, b), accumulator) in _pairs)
            {
                result.Pairs[new ShadowPairKey(WindowSeconds, Start, Predictor, _models[a], _models[b])] = accumulator;
            }
        }
    }

    /// <summary>Every block of a batch, with the last one used per window size.</summary>
    private sealed class Blocks(IReadOnlyList<WindowSize> windows)
    {
        private readonly Dictionary<(int WindowSeconds, DateTimeOffset Start, string Predictor), Block> _all = [];
        private readonly Block?[] _last = new Block?[windows.Count];

        public Block Of(int window, DateTimeOffset sentAt, string predictor)
        {
            var size = windows[window];
            var start = size.WindowStart(sentAt);
            var last = _last[window];
            if (last is not null && last.Start == start && ReferenceEquals(last.Predictor, predictor))
            {
                return last;
            }
            ref var block = ref CollectionsMarshal.GetValueRefOrAddDefault(_all, (size.Seconds, start, predictor), out _);
            return _last[window] = block ??= new Block(size.Seconds, start, predictor);
        }

        public void CopyTo(ShadowContributions result)
        {
            foreach (var block in _all.Values)
            {
                block.CopyTo(result);
            }
        }
    }
}
