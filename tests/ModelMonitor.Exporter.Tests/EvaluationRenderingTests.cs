using System.Text;
using ModelMonitor.Core.Evaluation;
using ModelMonitor.Exporter.Evaluation;
using ModelMonitor.Storage.Evaluation;

namespace ModelMonitor.Exporter.Tests;

/// <summary>
/// The evaluation families as text (pure): the samples a regression and a binary model get, nothing for a metric that
/// is not defined, the window's end beside them, the baselines of the published models only, and the per-predictor
/// thresholds the alert rules read.
/// </summary>
public sealed class EvaluationRenderingTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 7, 10, 0, 0, TimeSpan.Zero);

    private static string Render(IReadOnlyList<EvaluationWindowRow> rows, IReadOnlyList<EvaluationBaseline> baselines, EvaluationOptions? options = null) =>
        Encoding.UTF8.GetString(EvaluationRenderer.Render(rows, baselines, options ?? new EvaluationOptions()).Text.Span);

    private static EvaluationSummary Regression()
    {
        var accumulator = new EvaluationAccumulator(EvaluationTask.Regression);
        accumulator.CountPredictions(4);
        accumulator.AddRegression(12, 10, 60, +1); // e = 2
        accumulator.AddRegression(7, 10, 120, +1); // e = -3
        return accumulator.Summarize();
    }

    private static EvaluationSummary Binary()
    {
        var accumulator = new EvaluationAccumulator(EvaluationTask.Binary, 0.5);
        accumulator.CountPredictions(2);
        accumulator.AddBinary(0.9, true, 30, +1);
        accumulator.AddBinary(0.2, false, 30, +1);
        return accumulator.Summarize();
    }

    private static string[] Samples(string text, string family) =>
        [.. text.Split('\n').Where(l => l.StartsWith(family + "{", StringComparison.Ordinal))];

    [Fact]
    public void A_regression_and_a_binary_model_get_the_samples_of_their_task_with_their_window_end()
    {
        var text = Render(
            [
                new EvaluationWindowRow(300, Start, "eta", "eta_v1", Regression()),
                new EvaluationWindowRow(3600, Start, "fraud", "gbm", Binary()),
            ], []);

        Assert.Equal(["modelmonitor_evaluation_mae{predictor_name=\"eta\",model_id=\"eta_v1\",window=\"5m\"} 2.5"], Samples(text, "modelmonitor_evaluation_mae"));
        Assert.Equal(["modelmonitor_evaluation_mean_error{predictor_name=\"eta\",model_id=\"eta_v1\",window=\"5m\"} -0.5"], Samples(text, "modelmonitor_evaluation_mean_error"));
        Assert.Equal(["modelmonitor_evaluation_label_coverage{predictor_name=\"eta\",model_id=\"eta_v1\",window=\"5m\"} 0.5",
            "modelmonitor_evaluation_label_coverage{predictor_name=\"fraud\",model_id=\"gbm\",window=\"1h\"} 1"], Samples(text, "modelmonitor_evaluation_label_coverage"));
        Assert.Equal(["modelmonitor_evaluation_accuracy{predictor_name=\"fraud\",model_id=\"gbm\",window=\"1h\"} 1"], Samples(text, "modelmonitor_evaluation_accuracy"));
        Assert.Equal(["modelmonitor_evaluation_roc_auc{predictor_name=\"fraud\",model_id=\"gbm\",window=\"1h\"} 1"], Samples(text, "modelmonitor_evaluation_roc_auc"));
        // |e| quantiles are the regression model's only; the quantile label is the level as written in the catalogue.
        Assert.Equal(["0.5", "0.9", "0.95", "0.99"], Samples(text, "modelmonitor_evaluation_abs_error_quantile")
            .Select(l => l.Split("quantile=\"")[1].Split('"')[0]));
        Assert.All(Samples(text, "modelmonitor_evaluation_abs_error_quantile"), l => Assert.Contains("model_id=\"eta_v1\"", l, StringComparison.Ordinal));
        Assert.Equal(["modelmonitor_evaluation_window_end_timestamp_seconds{predictor_name=\"eta\",model_id=\"eta_v1\",window=\"5m\"} 1796637900",
            "modelmonitor_evaluation_window_end_timestamp_seconds{predictor_name=\"fraud\",model_id=\"gbm\",window=\"1h\"} 1796641200"],
            Samples(text, "modelmonitor_evaluation_window_end_timestamp_seconds"));
        // Every family has one TYPE line (the text format allows a family once).
        var types = text.Split('\n').Where(l => l.StartsWith("# TYPE ", StringComparison.Ordinal)).ToList();
        Assert.Equal(types.Count, types.Distinct().Count());
    }

    [Fact]
    public void Baselines_are_published_for_the_published_models_and_thresholds_per_predictor()
    {
        var options = new EvaluationOptions { Predictors = { ["eta"] = new EvaluationPredictorOptions { RegressionFactor = 2 } } };
        var text = Render(
            [new EvaluationWindowRow(300, Start, "eta", "eta_v1", Regression())],
            [new EvaluationBaseline("eta", "eta_v1", Regression()), new EvaluationBaseline("eta", "retired_v0", Regression())],
            options);

        Assert.Equal(["modelmonitor_evaluation_baseline_mae{predictor_name=\"eta\",model_id=\"eta_v1\"} 2.5"], Samples(text, "modelmonitor_evaluation_baseline_mae"));
        Assert.Equal(["modelmonitor_evaluation_baseline_labelled_count{predictor_name=\"eta\",model_id=\"eta_v1\"} 2"],
            Samples(text, "modelmonitor_evaluation_baseline_labelled_count"));
        Assert.Empty(Samples(text, "modelmonitor_evaluation_baseline_accuracy"));
        Assert.Equal(["modelmonitor_evaluation_regression_factor{predictor_name=\"eta\"} 2"], Samples(text, "modelmonitor_evaluation_regression_factor"));
        Assert.Equal(["modelmonitor_evaluation_min_label_coverage{predictor_name=\"eta\"} 0.05"], Samples(text, "modelmonitor_evaluation_min_label_coverage"));
    }

    [Fact]
    public void Nothing_is_rendered_without_a_published_window()
    {
        Assert.Equal("", Render([], [new EvaluationBaseline("eta", "eta_v1", Regression())]));
    }
}
