using System.Buffers;
using System.Globalization;
using ModelMonitor.Core.Evaluation;
using ModelMonitor.Core.Windows;
using ModelMonitor.Exporter.Text;
using ModelMonitor.Storage.Evaluation;

namespace ModelMonitor.Exporter.Evaluation;

/// <summary>
/// The evaluation families: for each (predictor, model, window size) the latest window that reached Evaluation:MinLabelled
/// labelled predictions (labels arrive late: the newest windows have few), as modelmonitor_evaluation_&lt;metric&gt;{predictor_name,
/// model_id, window}, with that window's end in modelmonitor_evaluation_window_end_timestamp_seconds. A metric undefined for
/// the window (another task's, or no positive prediction for precision) has no sample. Also, per predictor, the thresholds
/// the alert rules compare with (Evaluation:RegressionFactor, Evaluation:MinLabelCoverage). Pure.
/// </summary>
public static class EvaluationRenderer
{
    private static readonly string[] Labels = ["predictor_name", "model_id", "window"];
    private static readonly string[] QuantileLabels = ["predictor_name", "model_id", "window", "quantile"];
    private static readonly string[] PredictorLabels = ["predictor_name"];

    private static readonly (string Name, string Help, Func<EvaluationSummary, double?> Value)[] Gauges =
    [
        ("modelmonitor_evaluation_mae", "Mean absolute error |prediction_result − actual| of the window's labelled predictions (regression).", s => s.Mae),
        ("modelmonitor_evaluation_rmse", "Root mean squared error of the window's labelled predictions (regression).", s => s.Rmse),
        ("modelmonitor_evaluation_mean_error", "Mean of prediction_result − actual (regression; positive: over-predicting).", s => s.MeanError),
        ("modelmonitor_evaluation_mape", "Mean absolute percentage error as a ratio (0.1 = 10 %), over labelled predictions with a non-zero actual (regression).", s => s.Mape),
        ("modelmonitor_evaluation_r2", "Coefficient of determination 1 − SSE/SST of the window's labelled predictions (regression).", s => s.R2),
        ("modelmonitor_evaluation_accuracy", "Share of labelled predictions whose class (binary: score ≥ threshold) equals the actual (binary, multiclass).", s => s.Accuracy),
        ("modelmonitor_evaluation_precision", "Binary: TP/(TP+FP) at the threshold; multiclass: macro average over classes.", s => s.Precision),
        ("modelmonitor_evaluation_recall", "Binary: TP/(TP+FN) at the threshold; multiclass: macro average over classes.", s => s.Recall),
        ("modelmonitor_evaluation_f1", "Harmonic mean of precision and recall.", s => s.F1),
        ("modelmonitor_evaluation_log_loss", "Mean binary cross-entropy of the scores, clamped to [1e-15, 1 − 1e-15] (binary).", s => s.LogLoss),
        ("modelmonitor_evaluation_brier", "Mean squared difference between the score (clamped to [0, 1]) and the 0/1 actual (binary).", s => s.Brier),
        ("modelmonitor_evaluation_roc_auc", "Area under the ROC curve from 1,000-bin score histograms per class (binary; docs/evaluation.md states the bound).", s => s.RocAuc),
        ("modelmonitor_evaluation_labelled_count", "Predictions of the window paired with an outcome.", s => s.LabelledCount),
        ("modelmonitor_evaluation_label_coverage", "Labelled predictions / predictions tracked for evaluation in the window.", s => s.LabelCoverage),
        ("modelmonitor_evaluation_prediction_count", "Predictions of the window tracked for evaluation (labelled or not).", s => s.PredictionCount),
    ];

    /// <summary>Renders the evaluation families into one text segment.</summary>
    public static (ReadOnlyMemory<byte> Text, long Series) Render(IReadOnlyList<EvaluationWindowRow> rows, IReadOnlyList<EvaluationBaseline> baselines,
        EvaluationOptions options)
    {
        var buffer = new ArrayBufferWriter<byte>(4096 + (rows.Count * 1024));
        var writer = new PrometheusTextWriter(buffer);
        long series = 0;
        if (rows.Count == 0)
        {
            return (buffer.WrittenMemory, 0);
        }
        var ordered = rows.OrderBy(r => r.PredictorName, StringComparer.Ordinal).ThenBy(r => r.ModelId, StringComparer.Ordinal)
            .ThenBy(r => r.WindowSeconds).Select(r => (Row: r, Labels: new[] { r.PredictorName, r.ModelId, new WindowSize(r.WindowSeconds).ToString() }))
            .ToList();
        foreach (var (metric, help, value) in Gauges)
        {
            writer.WriteFamilyHeader(metric, help, MetricType.Gauge);
            foreach (var (row, labels) in ordered)
            {
                if (value(row.Summary) is { } number && double.IsFinite(number))
                {
                    writer.WriteSample(metric, Labels, labels, number);
                    series++;
                }
            }
        }
        series += Quantiles(writer, "modelmonitor_evaluation_abs_error_quantile",
            "Quantiles of |prediction_result − actual| (regression; DDSketch, 1 % relative error).", ordered, s => s.AbsErrorQuantiles);
        series += Quantiles(writer, "modelmonitor_evaluation_label_delay_quantile",
            "Quantiles of the label delay observed_at − sent_at in seconds (DDSketch, 1 % relative error).", ordered, s => s.LabelDelayQuantiles);

        const string windowEnd = "modelmonitor_evaluation_window_end_timestamp_seconds";
        writer.WriteFamilyHeader(windowEnd, "End (Unix time) of the window the modelmonitor_evaluation_* series of the same labels describe: the latest with Evaluation:MinLabelled labels.",
            MetricType.Gauge);
        foreach (var (row, labels) in ordered)
        {
            writer.WriteSample(windowEnd, Labels, labels, (row.WindowStart.AddSeconds(row.WindowSeconds)).ToUnixTimeMilliseconds() / 1000.0);
            series++;
        }

        // Only the models published above: a baseline is read less often, and a model retired since must not linger.
        var published = ordered.Select(o => (o.Row.PredictorName, o.Row.ModelId)).ToHashSet();
        series += Baselines(writer, [.. baselines.Where(b => published.Contains((b.PredictorName, b.ModelId)))]);

        var predictors = ordered.Select(o => o.Row.PredictorName).Distinct().ToList();
        const string factor = "modelmonitor_evaluation_regression_factor";
        writer.WriteFamilyHeader(factor, "Evaluation:RegressionFactor of the predictor: ModelMonitorEvaluationRegression fires when MAE or RMSE exceed it times their trailing 7-day average, or accuracy falls below that average divided by it.",
            MetricType.Gauge);
        foreach (var predictor in predictors)
        {
            writer.WriteSample(factor, PredictorLabels, [predictor], options.RegressionFactorOf(predictor));
            series++;
        }
        const string coverage = "modelmonitor_evaluation_min_label_coverage";
        writer.WriteFamilyHeader(coverage, "Evaluation:MinLabelCoverage of the predictor: ModelMonitorLabelCoverageLow fires below it.", MetricType.Gauge);
        foreach (var predictor in predictors)
        {
            writer.WriteSample(coverage, PredictorLabels, [predictor], options.MinLabelCoverageOf(predictor));
            series++;
        }
        return (buffer.WrittenMemory, series);
    }

    private static readonly (string Name, string Help, Func<EvaluationSummary, double?> Value)[] BaselineGauges =
    [
        ("modelmonitor_evaluation_baseline_mae", "MAE of every labelled prediction of the model's trailing 7 days (before its current window of the largest size), pooled.", s => s.Mae),
        ("modelmonitor_evaluation_baseline_rmse", "RMSE of every labelled prediction of the model's trailing 7 days, pooled.", s => s.Rmse),
        ("modelmonitor_evaluation_baseline_accuracy", "Accuracy of every labelled prediction of the model's trailing 7 days, pooled.", s => s.Accuracy),
        ("modelmonitor_evaluation_baseline_labelled_count", "Labelled predictions of the model's trailing 7 days: what the baseline rests on.", s => s.LabelledCount),
    ];

    private static readonly string[] ModelLabels = ["predictor_name", "model_id"];

    /// <summary>modelmonitor_evaluation_baseline_&lt;metric&gt;{predictor_name, model_id}: what ModelMonitorEvaluationRegression compares
    /// the latest windows with.</summary>
    private static long Baselines(PrometheusTextWriter writer, IReadOnlyList<EvaluationBaseline> baselines)
    {
        long series = 0;
        var ordered = baselines.OrderBy(b => b.PredictorName, StringComparer.Ordinal).ThenBy(b => b.ModelId, StringComparer.Ordinal).ToList();
        foreach (var (metric, help, value) in BaselineGauges)
        {
            writer.WriteFamilyHeader(metric, help, MetricType.Gauge);
            foreach (var baseline in ordered)
            {
                if (value(baseline.Summary) is { } number && double.IsFinite(number) && baseline.Summary.LabelledCount > 0)
                {
                    writer.WriteSample(metric, ModelLabels, [baseline.PredictorName, baseline.ModelId], number);
                    series++;
                }
            }
        }
        return series;
    }

    private static long Quantiles(PrometheusTextWriter writer, string metric, string help,
        List<(EvaluationWindowRow Row, string[] Labels)> rows, Func<EvaluationSummary, IReadOnlyList<(double Quantile, double Value)>> quantiles)
    {
        long series = 0;
        writer.WriteFamilyHeader(metric, help, MetricType.Gauge);
        foreach (var (row, labels) in rows)
        {
            foreach (var (q, value) in quantiles(row.Summary))
            {
                if (double.IsFinite(value))
                {
                    writer.WriteSample(metric, QuantileLabels, [.. labels, q.ToString(CultureInfo.InvariantCulture)], value);
                    series++;
                }
            }
        }
        return series;
    }
}
