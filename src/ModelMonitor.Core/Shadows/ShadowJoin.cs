using System.Runtime.InteropServices;
using ModelMonitor.Core.Windows;

namespace ModelMonitor.Core.Shadows;

/// <summary>A prediction of a model of a predictor the shadow join compares.</summary>
public sealed record ShadowPrediction(string PredictorName, string PredictionId, string ModelId, DateTimeOffset SentAt, double PredictionResult);

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
        var result = new ShadowContributions();
        var isNew = new List<bool>();
        foreach (var group in stored.GroupBy(p => (p.PredictorName, p.PredictionId)))
        {
            // Ordinal model order: each pair is (a, b) with a before b, its difference b − a.
            var predictions = group.ToArray();
            if (predictions.Length > 1)
            {
                Array.Sort(predictions, static (x, y) => string.CompareOrdinal(x.ModelId, y.ModelId));
            }
            var threshold = thresholdOf(group.Key.PredictorName);
            var pairsBefore = result.PairCount;
            isNew.Clear();
            foreach (var prediction in predictions)
            {
                isNew.Add(inserted(prediction));
            }
            for (var i = 0; i < predictions.Length; i++)
            {
                var a = predictions[i];
                if (isNew[i])
                {
                    foreach (var window in windows)
                    {
                        CollectionsMarshal.GetValueRefOrAddDefault(result.Predictions,
                            new ShadowModelKey(window.Seconds, window.WindowStart(a.SentAt), a.PredictorName, a.ModelId), out _)++;
                    }
                }
                for (var j = i + 1; j < predictions.Length; j++)
                {
                    var b = predictions[j];
                    if ((!isNew[i] && !isNew[j]) || (a.SentAt - b.SentAt).Duration() > joinWindow)
                    {
                        continue; // counted when the later of them was stored, or too far apart
                    }
                    var earlier = a.SentAt <= b.SentAt ? a.SentAt : b.SentAt;
                    foreach (var window in windows)
                    {
                        ref var accumulator = ref CollectionsMarshal.GetValueRefOrAddDefault(result.Pairs,
                            new ShadowPairKey(window.Seconds, window.WindowStart(earlier), a.PredictorName, a.ModelId, b.ModelId), out _);
                        (accumulator ??= new ShadowAccumulator()).Add(a.PredictionResult, b.PredictionResult, threshold);
                    }
                    result.PairCount++;
                }
            }
            ref var counts = ref CollectionsMarshal.GetValueRefOrAddDefault(result.PerPredictor, group.Key.PredictorName, out _);
            counts = (counts.Predictions + isNew.Count(n => n), counts.Pairs + (result.PairCount - pairsBefore));
            if (predictions.Length >= joinedModels(group.Key.PredictorName))
            {
                result.Complete.Add(group.Key);
            }
        }
        return result;
    }
}
