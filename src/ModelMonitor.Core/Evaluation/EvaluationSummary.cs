namespace ModelMonitor.Core.Evaluation;

/// <summary>What the predictions of a model are evaluated as: which (prediction, outcome) pairs and metrics apply.</summary>
public enum EvaluationTask
{
    /// <summary>A numeric prediction against a numeric outcome.</summary>
    Regression,

    /// <summary>A score (the prediction result) against a positive or negative outcome.</summary>
    Binary,

    /// <summary>A predicted class against the actual class, both strings (see <see cref="EvaluationAccumulator.ClassOf"/>).</summary>
    Multiclass,
}

/// <summary>The quantile levels an <see cref="EvaluationSummary"/> reports, ascending.</summary>
public static class EvaluationQuantiles
{
    public static readonly double[] LabelDelay = [0.5, 0.9, 0.99];

    public static readonly double[] AbsError = [0.5, 0.9, 0.95, 0.99];
}

/// <summary>
/// The model quality metrics of one <see cref="EvaluationAccumulator"/>, over its n = <paramref name="LabelledCount"/>
/// (prediction, outcome) pairs. Null means not defined: no pair, a zero denominator, or a metric of another task.
/// </summary>
/// <param name="PredictionCount">Predictions tracked for evaluation, labelled or not.</param>
/// <param name="LabelledCount">Pairs counted: n.</param>
/// <param name="LabelCoverage">LabelledCount / PredictionCount; null when PredictionCount = 0. Not clamped: above 1 when
/// outcomes were paired with predictions counted elsewhere (e.g. in another window).</param>
/// <param name="LabelDelayQuantiles">Quantiles <see cref="EvaluationQuantiles.LabelDelay"/> of max(0, delay) in seconds,
/// within 1% relative error of the lower nearest rank (see <see cref="Statistics.DDSketch"/>); empty without pairs.</param>
/// <param name="Mae">Regression, e = prediction − actual: Σ|e| / n.</param>
/// <param name="Rmse">Regression: sqrt(Σe² / n).</param>
/// <param name="MeanError">Regression: Σe / n; positive when over-predicting.</param>
/// <param name="Mape">Regression: Σ(|e| / |actual|) / n_nonzero over the pairs with actual ≠ 0, a ratio (not percent);
/// null when every actual is 0.</param>
/// <param name="R2">Regression: 1 − SSE / SST with SSE = Σe² and SST = Σy² − (Σy)² / n (y the actuals). Null when n &lt; 2
/// or SST ≤ n·ε·Σy² (ε = 2⁻⁵²). The plain sums (needed to retract pairs) cancel when the actuals' spread is small against
/// their mean: SST's rounding error is up to about n·ε·Σy², so below that floor SST is noise (constant actuals such as
/// 0.1 leave a tiny non-zero SST), and above it R² loses about log10(Σy² / SST) of its 16 significant digits.</param>
/// <param name="AbsErrorQuantiles">Regression: quantiles <see cref="EvaluationQuantiles.AbsError"/> of |e|, within 1%
/// relative error of the lower nearest rank; empty otherwise.</param>
/// <param name="Accuracy">Binary: (tp + tn) / n, a pair predicted positive when score ≥ threshold. Multiclass: Σ tp_c / n.</param>
/// <param name="Precision">Binary: tp / (tp + fp), null without a predicted positive. Multiclass: the macro mean over the
/// classes seen (actual ∪ predicted) of tp_c / predicted_c, 0 for a class never predicted (sklearn's zero_division=0).</param>
/// <param name="Recall">Binary: tp / (tp + fn), null without an actual positive. Multiclass: the macro mean of
/// tp_c / actual_c, 0 for a class never actual.</param>
/// <param name="F1">2·P·R / (P + R) of the precision and recall above: null when either is, 0 when P + R = 0. In multiclass
/// the harmonic mean of the macro precision and macro recall, which is not sklearn's macro F1 (the mean of the per-class F1).</param>
/// <param name="LogLoss">Binary: mean of −[y·ln p + (1 − y)·ln(1 − p)], p = clamp(score, 10⁻¹⁵, 1 − 10⁻¹⁵), y = 1 for a
/// positive outcome.</param>
/// <param name="Brier">Binary: mean of (p − y)², p = clamp(score, 0, 1).</param>
/// <param name="RocAuc">Binary: the ROC AUC from histograms of clamp(score, 0, 1) per outcome class over 1,000 equal-width
/// bins, b = min(999, ⌊p·1000⌋): Σ_b pos_b·(neg_&lt;b + ½·neg_b) / (P·N), P and N the positive and negative counts. A
/// (positive, negative) pair in one bin counts ½, so the result is exact when no positive and negative share a bin, and
/// off by at most ½·Σ_b pos_b·neg_b / (P·N) otherwise. When every bin holds a single distinct score (e.g. scores at bin
/// centres (k + ½) / 1000) it equals the pairwise AUC with ties counted ½, sklearn's roc_auc_score. Null unless both
/// outcome classes are present.</param>
public sealed record EvaluationSummary(
    long PredictionCount,
    long LabelledCount,
    double? LabelCoverage,
    IReadOnlyList<(double Quantile, double Value)> LabelDelayQuantiles,
    double? Mae,
    double? Rmse,
    double? MeanError,
    double? Mape,
    double? R2,
    IReadOnlyList<(double Quantile, double Value)> AbsErrorQuantiles,
    double? Accuracy,
    double? Precision,
    double? Recall,
    double? F1,
    double? LogLoss,
    double? Brier,
    double? RocAuc);
