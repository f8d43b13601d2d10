namespace ModelMonitor.Evaluation.Tests;

/// <summary>Model-quality metrics computed directly from raw (prediction, actual) pairs: the answers the pipeline's
/// mergeable statistics must reproduce (docs/evaluation.md has the formulas).</summary>
internal static class Exact
{
    public static Dictionary<string, double> Regression(IReadOnlyList<(double Prediction, double Actual)> pairs)
    {
        var n = pairs.Count;
        var errors = pairs.Select(p => p.Prediction - p.Actual).ToList();
        var meanActual = pairs.Average(p => p.Actual);
        var sse = errors.Sum(e => e * e);
        var sst = pairs.Sum(p => (p.Actual - meanActual) * (p.Actual - meanActual));
        var nonZero = pairs.Where(p => p.Actual != 0).ToList();
        return new Dictionary<string, double>
        {
            ["mae"] = errors.Sum(Math.Abs) / n,
            ["rmse"] = Math.Sqrt(sse / n),
            ["mean_error"] = errors.Sum() / n,
            ["mape"] = nonZero.Sum(p => Math.Abs(p.Prediction - p.Actual) / Math.Abs(p.Actual)) / nonZero.Count,
            ["r2"] = 1 - (sse / sst),
            ["labelled_count"] = n,
        };
    }

    public static Dictionary<string, double> Binary(IReadOnlyList<(double Score, bool Positive)> pairs, double threshold)
    {
        long tp = 0, fp = 0, tn = 0, fn = 0;
        foreach (var (score, positive) in pairs)
        {
            var predicted = score >= threshold;
            (tp, fp, tn, fn) = (predicted, positive) switch
            {
                (true, true) => (tp + 1, fp, tn, fn),
                (true, false) => (tp, fp + 1, tn, fn),
                (false, false) => (tp, fp, tn + 1, fn),
                _ => (tp, fp, tn, fn + 1),
            };
        }
        double precision = tp / (double)(tp + fp), recall = tp / (double)(tp + fn);
        static double Clamp(double p) => Math.Clamp(p, 1e-15, 1 - 1e-15);
        return new Dictionary<string, double>
        {
            ["accuracy"] = (tp + tn) / (double)pairs.Count,
            ["precision"] = precision,
            ["recall"] = recall,
            ["f1"] = 2 * precision * recall / (precision + recall),
            ["log_loss"] = pairs.Average(p => p.Positive ? -Math.Log(Clamp(p.Score)) : -Math.Log(1 - Clamp(p.Score))),
            ["brier"] = pairs.Average(p => Math.Pow(Math.Clamp(p.Score, 0, 1) - (p.Positive ? 1 : 0), 2)),
            ["labelled_count"] = pairs.Count,
        };
    }

    /// <summary>ROC AUC by its definition: the share of (positive, negative) pairs the score orders right, ties half.</summary>
    public static double RocAuc(IReadOnlyList<(double Score, bool Positive)> pairs)
    {
        var positives = pairs.Where(p => p.Positive).Select(p => p.Score).ToList();
        var negatives = pairs.Where(p => !p.Positive).Select(p => p.Score).ToList();
        double wins = 0;
        foreach (var p in positives)
        {
            foreach (var n in negatives)
            {
                wins += p > n ? 1 : p == n ? 0.5 : 0;
            }
        }
        return wins / (positives.Count * (double)negatives.Count);
    }

    /// <summary>Relative closeness for sums computed in another order (and, for replaced outcomes, taken back).</summary>
    public static void Close(double expected, double? actual, string what, double tolerance = 1e-9)
    {
        Assert.True(actual is not null, $"{what}: no value (expected {expected})");
        Assert.True(Math.Abs(expected - actual!.Value) <= tolerance * Math.Max(1, Math.Abs(expected)), $"{what}: expected {expected:R}, got {actual:R}");
    }
}
