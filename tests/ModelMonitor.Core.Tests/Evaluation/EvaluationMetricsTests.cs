using ModelMonitor.Core.Evaluation;
using static ModelMonitor.Core.Tests.Evaluation.EvaluationPairs;

namespace ModelMonitor.Core.Tests.Evaluation;

public sealed class EvaluationMetricsTests
{
    [Fact]
    public void Regression_metrics_equal_a_direct_computation_over_the_pairs()
    {
        var pairs = Generate(EvaluationTask.Regression, 5_000, seed: 1);
        var summary = Build(EvaluationTask.Regression, pairs, predictions: 8_000).Summarize();

        var errors = pairs.Select(p => p.Prediction - p.Actual).ToArray();
        var nonZero = pairs.Where(p => p.Actual != 0).ToArray();
        var mean = pairs.Average(p => p.Actual);
        Assert.Equal(8_000, summary.PredictionCount);
        Assert.Equal(5_000, summary.LabelledCount);
        Assert.Equal(5_000.0 / 8_000, summary.LabelCoverage);
        AssertClose(errors.Average(Math.Abs), summary.Mae);
        AssertClose(Math.Sqrt(errors.Average(e => e * e)), summary.Rmse);
        AssertClose(errors.Average(), summary.MeanError);
        AssertClose(nonZero.Average(p => Math.Abs(p.Prediction - p.Actual) / Math.Abs(p.Actual)), summary.Mape);
        AssertClose(1 - (errors.Sum(e => e * e) / pairs.Sum(p => (p.Actual - mean) * (p.Actual - mean))), summary.R2);
        AssertQuantiles(errors.Select(Math.Abs), EvaluationQuantiles.AbsError, summary.AbsErrorQuantiles);
        AssertQuantiles(pairs.Select(p => Math.Max(0, p.Delay)), EvaluationQuantiles.LabelDelay, summary.LabelDelayQuantiles);
        Assert.All([summary.Accuracy, summary.Precision, summary.Recall, summary.F1, summary.LogLoss, summary.Brier, summary.RocAuc], Assert.Null);
    }

    [Fact]
    public void Binary_metrics_equal_a_direct_computation_over_the_pairs()
    {
        var pairs = Generate(EvaluationTask.Binary, 3_000, seed: 2);
        const double threshold = 0.4;
        var summary = Build(EvaluationTask.Binary, pairs, threshold: threshold).Summarize();

        var (tp, fp, tn, fn) = (0, 0, 0, 0);
        foreach (var pair in pairs)
        {
            _ = (pair.Prediction >= threshold, pair.Actual == 1) switch
            {
                (true, true) => tp++,
                (true, false) => fp++,
                (false, false) => tn++,
                (false, true) => fn++,
            };
        }

        var (precision, recall) = ((double)tp / (tp + fp), (double)tp / (tp + fn));
        AssertClose((double)(tp + tn) / pairs.Length, summary.Accuracy);
        AssertClose(precision, summary.Precision);
        AssertClose(recall, summary.Recall);
        AssertClose(2 * precision * recall / (precision + recall), summary.F1);
        AssertClose(pairs.Average(p =>
        {
            var q = Math.Clamp(p.Prediction, 1e-15, 1 - 1e-15);
            return -((p.Actual * Math.Log(q)) + ((1 - p.Actual) * Math.Log(1 - q)));
        }), summary.LogLoss);
        AssertClose(pairs.Average(p => (p.Prediction - p.Actual) * (p.Prediction - p.Actual)), summary.Brier);
        AssertQuantiles(pairs.Select(p => Math.Max(0, p.Delay)), EvaluationQuantiles.LabelDelay, summary.LabelDelayQuantiles);

        // Within the documented bound of the exact pairwise AUC (ties ½), which these continuous scores make non-zero.
        var (exact, bound) = ExactAuc(pairs);
        Assert.InRange(bound, 1e-6, 1e-2);
        Assert.InRange(summary.RocAuc!.Value, exact - bound - 1e-12, exact + bound + 1e-12);
        Assert.All([summary.Mae, summary.Rmse, summary.MeanError, summary.Mape, summary.R2], Assert.Null);
        Assert.Empty(summary.AbsErrorQuantiles);
    }

    [Fact]
    public void Roc_auc_equals_the_exact_pairwise_auc_when_scores_are_bin_centres()
    {
        // Few distinct scores (many ties between positives and negatives), each at the centre of its bin.
        var random = new Random(3);
        var pairs = Enumerable.Range(0, 2_000).Select(_ =>
        {
            var positive = random.Next(3) == 0;
            var bin = Math.Min(999, (int)(Math.Sqrt(random.NextDouble()) * 40) * 25 + (positive ? 200 : 0));
            return new Pair((bin + 0.5) / 1_000, positive ? 1 : 0, 1);
        }).ToArray();

        var (exact, bound) = ExactAuc(pairs);
        Assert.True(bound > 0.01, "ties make the bound wide, the value is still exact");
        Assert.Equal(exact, Build(EvaluationTask.Binary, pairs).Summarize().RocAuc);
    }

    [Fact]
    public void Multiclass_metrics_are_accuracy_and_the_macro_means_over_the_classes_seen()
    {
        var pairs = Generate(EvaluationTask.Multiclass, 3_000, seed: 4);
        // Class 7 is only predicted (its recall counts as 0), class 9 is actual twice and predicted once.
        pairs = [.. pairs, new Pair(7, 1, 10), new Pair(2, 9, 10), new Pair(9, 9, 10)];
        var summary = Build(EvaluationTask.Multiclass, pairs).Summarize();

        var classes = pairs.SelectMany(p => new[] { p.Prediction, p.Actual }).Distinct().ToArray();
        Assert.Equal(7, classes.Length);
        double TruePositives(double c) => pairs.Count(p => p.Prediction == c && p.Actual == c);
        var precision = classes.Average(c => pairs.Count(p => p.Prediction == c) is var predicted and > 0 ? TruePositives(c) / predicted : 0);
        var recall = classes.Average(c => pairs.Count(p => p.Actual == c) is var actual and > 0 ? TruePositives(c) / actual : 0);
        AssertClose((double)pairs.Count(p => p.Prediction == p.Actual) / pairs.Length, summary.Accuracy);
        AssertClose(precision, summary.Precision);
        AssertClose(recall, summary.Recall);
        AssertClose(2 * precision * recall / (precision + recall), summary.F1);
        AssertQuantiles(pairs.Select(p => Math.Max(0, p.Delay)), EvaluationQuantiles.LabelDelay, summary.LabelDelayQuantiles);
        Assert.All([summary.LogLoss, summary.Brier, summary.RocAuc, summary.Mae, summary.R2], Assert.Null);
    }

    [Fact]
    public void A_confusion_of_3_tp_1_fp_4_tn_2_fn_gives_the_hand_computed_metrics()
    {
        Pair[] pairs =
        [
            new(0.9, 1, 0), new(0.8, 1, 0), new(0.6, 1, 0),        // tp
            new(0.7, 0, 0),                                         // fp
            new(0.1, 0, 0), new(0.2, 0, 0), new(0.3, 0, 0), new(0.4, 0, 0), // tn
            new(0.45, 1, 0), new(0.05, 1, 0),                       // fn
        ];
        var summary = Build(EvaluationTask.Binary, pairs).Summarize();

        Assert.Equal(0.7, summary.Accuracy);
        Assert.Equal(0.75, summary.Precision);
        Assert.Equal(0.6, summary.Recall);
        AssertClose(2.0 / 3, summary.F1, 1e-15);
        // Positives 0.9, 0.8, 0.6, 0.45, 0.05 against negatives 0.7, 0.4, 0.3, 0.2, 0.1: 5 + 5 + 4 + 4 + 0 of 25 pairs.
        AssertClose(18.0 / 25, summary.RocAuc, 1e-15);
        AssertClose((0.01 + 0.04 + 0.16 + 0.49 + 0.01 + 0.04 + 0.09 + 0.16 + 0.3025 + 0.9025) / 10, summary.Brier, 1e-15);
    }

    [Fact]
    public void Accuracy_counts_predictions_at_or_above_the_threshold_as_positive()
    {
        var summary = Build(EvaluationTask.Binary, [new(0.7, 1, 0), new(0.7, 0, 0), new(0.69999, 1, 0), new(0.2, 0, 0)], threshold: 0.7).Summarize();
        Assert.Equal(0.5, summary.Accuracy);  // 0.7 is positive: one right, one wrong; 0.69999 is negative
        Assert.Equal(0.5, summary.Precision);
        Assert.Equal(0.5, summary.Recall);

        // Any finite threshold: above 1 nothing is predicted positive.
        Assert.Null(Build(EvaluationTask.Binary, [new(0.9, 1, 0)], threshold: 2).Summarize().Precision);
    }

    [Fact]
    public void Scores_outside_zero_one_are_clamped_for_log_loss_brier_and_auc()
    {
        var summary = Build(EvaluationTask.Binary, [new(1.5, 1, 0), new(-2, 0, 0), new(7, 0, 0), new(0.5, 1, 0)]).Summarize();

        var worst = -Math.Log(1 - (1 - 1e-15));
        AssertClose((-Math.Log(1 - 1e-15) - Math.Log(1 - 1e-15) + worst - Math.Log(0.5)) / 4, summary.LogLoss);
        Assert.Equal((0 + 0 + 1 + 0.25) / 4, summary.Brier);
        // Clamped: 1 (pos), 0 (neg), 1 (neg), 0.5 (pos): pairs 1 > 0, 1 ~ 1 (½), 0.5 > 0, 0.5 < 1.
        Assert.Equal(2.5 / 4, summary.RocAuc);
    }

    [Fact]
    public void Undefined_binary_metrics_are_null_and_f1_is_zero_when_precision_and_recall_are()
    {
        var onlyPositives = Build(EvaluationTask.Binary, [new(0.9, 1, 0), new(0.2, 1, 0)]).Summarize();
        Assert.Null(onlyPositives.RocAuc);
        Assert.NotNull(onlyPositives.Precision);

        var nothingPredicted = Build(EvaluationTask.Binary, [new(0.1, 1, 0), new(0.2, 0, 0)]).Summarize();
        Assert.Null(nothingPredicted.Precision);
        Assert.Null(nothingPredicted.F1);
        Assert.Equal(0, nothingPredicted.Recall);

        var allWrong = Build(EvaluationTask.Binary, [new(0.9, 0, 0), new(0.2, 1, 0)]).Summarize();
        Assert.Equal(0, allWrong.Precision);
        Assert.Equal(0, allWrong.Recall);
        Assert.Equal(0, allWrong.F1);
        Assert.Equal(0, allWrong.RocAuc);

        var noActualPositive = Build(EvaluationTask.Binary, [new(0.9, 0, 0)]).Summarize();
        Assert.Null(noActualPositive.Recall);
    }

    [Theory]
    [MemberData(nameof(Tasks), MemberType = typeof(EvaluationPairs))]
    public void An_empty_accumulator_has_no_metric_and_no_coverage(EvaluationTask task)
    {
        var accumulator = new EvaluationAccumulator(task);
        Assert.True(accumulator.IsEmpty);
        var summary = accumulator.Summarize();
        Assert.Equal(0, summary.PredictionCount);
        Assert.Equal(0, summary.LabelledCount);
        Assert.All(Scalars(summary).Skip(2), Assert.Null);
        Assert.Empty(summary.LabelDelayQuantiles);
        Assert.Empty(summary.AbsErrorQuantiles);

        // Predictions without outcomes: coverage 0, still no metric.
        accumulator.CountPredictions(10);
        Assert.False(accumulator.IsEmpty);
        Assert.Equal(0, accumulator.Summarize().LabelCoverage);
        Assert.Null(accumulator.Summarize().Accuracy);
    }

    [Fact]
    public void Label_coverage_is_labelled_over_predictions_and_not_clamped()
    {
        var pairs = Generate(EvaluationTask.Regression, 6, seed: 5);
        Assert.Equal(0.5, Build(EvaluationTask.Regression, pairs, predictions: 12).Summarize().LabelCoverage);
        // Outcomes of predictions counted elsewhere (another window): above 1.
        Assert.Equal(2, Build(EvaluationTask.Regression, pairs, predictions: 3).Summarize().LabelCoverage);
        // No prediction counted: undefined, whatever the pairs.
        var summary = Build(EvaluationTask.Regression, pairs).Summarize();
        Assert.Null(summary.LabelCoverage);
        Assert.NotNull(summary.Mae);
    }

    [Theory]
    [InlineData(3.0)]
    [InlineData(0.1)]      // Σy² − (Σy)²/n is rounding noise, not exactly 0
    [InlineData(-123.456)]
    public void Constant_actuals_have_no_r2(double actual)
    {
        var pairs = Enumerable.Range(0, 1_000).Select(i => new Pair(actual + (i % 7) - 3, actual, 0)).ToArray();
        var summary = Build(EvaluationTask.Regression, pairs).Summarize();
        Assert.Null(summary.R2);
        Assert.NotNull(summary.Rmse);

        // One pair: no R² either, even with a non-zero actual.
        Assert.Null(Build(EvaluationTask.Regression, [new(1, 2, 0)]).Summarize().R2);
        Assert.Equal(1 - (1.0 / 2), Build(EvaluationTask.Regression, [new(1, 2, 0), new(4, 4, 0)]).Summarize().R2);
    }

    [Fact]
    public void Mape_is_null_when_every_actual_is_zero_and_skips_the_zero_actuals_otherwise()
    {
        var zeros = Build(EvaluationTask.Regression, [new(1, 0, 0), new(-2, 0, 0)]).Summarize();
        Assert.Null(zeros.Mape);
        Assert.Equal(1.5, zeros.Mae);
        Assert.Null(zeros.R2);

        var mixed = Build(EvaluationTask.Regression, [new(1, 0, 0), new(3, 2, 0), new(-6, -4, 0)]).Summarize();
        Assert.Equal((0.5 + 0.5) / 2, mixed.Mape);
        Assert.Equal((1.0 + 1 - 2) / 3, mixed.MeanError);
    }

    [Fact]
    public void Label_delays_below_zero_count_as_zero()
    {
        var summary = Build(EvaluationTask.Regression, [new(1, 1, -30), new(1, 1, -1), new(1, 1, 100)]).Summarize();
        Assert.Equal(new[] { (0.5, 0.0), (0.9, 0.0), (0.99, 0.0) }, summary.LabelDelayQuantiles);
    }

    [Fact]
    public void Classes_beyond_the_hundredth_are_counted_as_other()
    {
        var accumulator = new EvaluationAccumulator(EvaluationTask.Multiclass);
        for (var c = 0; c < 150; c++)
        {
            accumulator.AddMulticlass($"class {c}", $"class {c}", 0, 1);
        }

        accumulator.AddMulticlass("class 120", "class 130", 0, 1); // both "other": a miss
        var summary = accumulator.Summarize();
        Assert.Equal(151, summary.LabelledCount);
        AssertClose(150.0 / 151, summary.Accuracy);
        // 100 exact classes and "other" with tp 50 of 51 predicted and 51 actual.
        AssertClose((100 + (50.0 / 51)) / 101, summary.Precision);
        AssertClose((100 + (50.0 / 51)) / 101, summary.Recall);

        var restored = EvaluationAccumulator.Deserialize(accumulator.Serialize());
        Assert.Equal(Scalars(summary), Scalars(restored.Summarize()));
        // Retracting a class never kept takes it from "other".
        restored.AddMulticlass("class 140", "class 140", 0, -1);
        AssertClose(149.0 / 150, restored.Summarize().Accuracy);
    }

    [Theory]
    [InlineData(2.0, "2")]
    [InlineData(0.5, "0.5")]
    [InlineData(-0.0, "0")]
    [InlineData(-3.0, "-3")]
    [InlineData(0.1, "0.1")]
    [InlineData(1e21, "1E+21")]
    [InlineData(123456789.0, "123456789")]
    public void ClassOf_formats_invariantly_without_a_trailing_zero(double value, string expected) =>
        Assert.Equal(expected, EvaluationAccumulator.ClassOf(value));

    [Fact]
    public void Invalid_inputs_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new EvaluationAccumulator(EvaluationTask.Binary, double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => new EvaluationAccumulator((EvaluationTask)7));
        Assert.Throws<ArgumentOutOfRangeException>(() => EvaluationAccumulator.ClassOf(double.PositiveInfinity));

        var regression = new EvaluationAccumulator(EvaluationTask.Regression);
        Assert.Throws<ArgumentOutOfRangeException>(() => regression.CountPredictions(-1));
        Assert.Throws<ArgumentException>(() => regression.AddRegression(double.NaN, 1, 0, 1));
        Assert.Throws<ArgumentException>(() => regression.AddRegression(1, double.PositiveInfinity, 0, 1));
        Assert.Throws<ArgumentException>(() => regression.AddRegression(1e300, -1e300, 0, 1)); // the squared error overflows
        Assert.Throws<ArgumentException>(() => regression.AddRegression(1, 1, double.NaN, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => regression.AddRegression(1, 1, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => regression.AddRegression(1, 1, 0, 2));
        Assert.Throws<InvalidOperationException>(() => regression.AddBinary(0.5, true, 0, 1));
        Assert.Throws<InvalidOperationException>(() => regression.AddMulticlass("a", "a", 0, 1));
        Assert.True(regression.IsEmpty);

        var binary = new EvaluationAccumulator(EvaluationTask.Binary);
        Assert.Throws<ArgumentException>(() => binary.AddBinary(double.NaN, true, 0, 1));
        Assert.Throws<ArgumentException>(() => binary.AddBinary(0.5, true, double.NegativeInfinity, 1));
        Assert.Throws<InvalidOperationException>(() => binary.AddRegression(1, 1, 0, 1));

        var multiclass = new EvaluationAccumulator(EvaluationTask.Multiclass);
        Assert.Throws<ArgumentNullException>(() => multiclass.AddMulticlass(null!, "a", 0, 1));
        Assert.True(binary.IsEmpty && multiclass.IsEmpty);
    }

    // The pairwise AUC of the clamped scores, ties counted ½, and the documented bound ½·Σ_b pos_b·neg_b / (P·N).
    private static (double Auc, double Bound) ExactAuc(Pair[] pairs)
    {
        var scores = pairs.Select(p => (Score: Math.Clamp(p.Prediction, 0, 1), Positive: p.Actual == 1)).ToArray();
        var positives = scores.Where(s => s.Positive).Select(s => s.Score).ToArray();
        var negatives = scores.Where(s => !s.Positive).Select(s => s.Score).ToArray();
        double concordant = 0;
        foreach (var p in positives)
        {
            foreach (var n in negatives)
            {
                concordant += p > n ? 1 : p == n ? 0.5 : 0;
            }
        }

        static int Bin(double score) => Math.Min(999, (int)Math.Floor(score * 1_000));
        var negativesPerBin = negatives.CountBy(Bin).ToDictionary();
        var sharedPairs = positives.CountBy(Bin).Sum(b => (double)b.Value * negativesPerBin.GetValueOrDefault(b.Key));
        var total = (double)positives.Length * negatives.Length;
        return (concordant / total, 0.5 * sharedPairs / total);
    }
}
