using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Evaluation;
using ModelMonitor.Core.Windows;

namespace ModelMonitor.Core.Tests.Evaluation;

public sealed class EvaluationJoinTests
{
    private static readonly WindowSize[] Windows = [WindowSize.Parse("1m"), WindowSize.Parse("1h")];
    private static readonly DateTimeOffset SentAt = new(2026, 12, 7, 10, 15, 30, TimeSpan.Zero);
    private static readonly PredictorEvaluation Regression = new(EvaluationTask.Regression, 0.5, _ => false);

    private static PendingPrediction Prediction(string model, double result) => new("eta", "d-1", model, SentAt, result);

    private static StoredOutcome Outcome(double actual) => new(ActualValue.Of(actual), SentAt.AddMinutes(20));

    [Fact]
    public void A_new_labelled_prediction_counts_once_in_its_window_of_every_size()
    {
        var result = EvaluationJoin.Contribute([new JoinRow(Prediction("a", 12), Inserted: true, Previous: null, Current: Outcome(10))], Windows, _ => Regression);

        Assert.Equal([(60, new DateTimeOffset(2026, 12, 7, 10, 15, 0, TimeSpan.Zero)), (3600, new DateTimeOffset(2026, 12, 7, 10, 0, 0, TimeSpan.Zero))],
            result.Rows.Keys.Select(k => (k.WindowSeconds, k.WindowStart)).Order());
        Assert.All(result.Rows.Values, row =>
        {
            var summary = row.Summarize();
            Assert.Equal((1L, 1L, 2.0, 2.0), (summary.PredictionCount, summary.LabelledCount, summary.Mae, summary.MeanError));
            Assert.Equal(1200, summary.LabelDelayQuantiles[0].Value, 0.01 * 1200);
        });
        Assert.Equal((1L, 0L, 0L), (result.Pairs, result.Retracted, result.Unusable));
    }

    [Fact]
    public void A_replaced_outcome_leaves_the_window_as_if_only_the_new_value_had_arrived()
    {
        // What Postgres holds: the pairs of two models with the old outcome 10, and a third prediction with outcome 40.
        var stored = new EvaluationAccumulator(EvaluationTask.Regression);
        stored.CountPredictions(3);
        stored.AddRegression(12, 10, 1200, +1);
        stored.AddRegression(7, 10, 1200, +1);
        stored.AddRegression(41, 40, 1200, +1);

        var replaced = EvaluationJoin.Contribute(
            [
                new JoinRow(Prediction("a", 12), Inserted: false, Previous: Outcome(10), Current: Outcome(15)),
                new JoinRow(Prediction("b", 7), Inserted: false, Previous: Outcome(10), Current: Outcome(15)),
            ], [Windows[0]], _ => Regression);
        foreach (var contribution in replaced.Rows.Values)
        {
            stored.Merge(EvaluationAccumulator.Deserialize(contribution.Serialize())); // as the store merges a contribution
        }

        var expected = new EvaluationAccumulator(EvaluationTask.Regression);
        expected.CountPredictions(3);
        expected.AddRegression(12, 15, 1200, +1);
        expected.AddRegression(7, 15, 1200, +1);
        expected.AddRegression(41, 40, 1200, +1);
        var (actual, want) = (stored.Summarize(), expected.Summarize());
        Assert.Equal((want.PredictionCount, want.LabelledCount), (actual.PredictionCount, actual.LabelledCount));
        Assert.Equal(want.Mae!.Value, actual.Mae!.Value, 1e-12);
        Assert.Equal(want.Rmse!.Value, actual.Rmse!.Value, 1e-12);
        Assert.Equal(want.AbsErrorQuantiles, actual.AbsErrorQuantiles);
        Assert.Equal((2L, 2L), (replaced.Pairs, replaced.Retracted));
    }

    [Fact]
    public void Pairs_the_task_cannot_use_are_counted_apart_and_not_evaluated()
    {
        var result = EvaluationJoin.Contribute(
            [
                new JoinRow(Prediction("a", 12), Inserted: true, Previous: null, Current: new StoredOutcome(ActualValue.Of("late"), SentAt)),
                new JoinRow(Prediction("b", double.NaN), Inserted: true, Previous: null, Current: Outcome(3)),
            ], [Windows[0]], _ => Regression);

        Assert.Equal((0L, 2L), (result.Pairs, result.Unusable));
        Assert.All(result.Rows.Values, row => Assert.Equal((1L, 0L, (double?)null), (row.PredictionCount, row.LabelledCount, row.Summarize().Mae)));
    }

    [Fact]
    public void A_binary_pair_is_positive_by_the_predictors_rule_and_a_multiclass_one_compares_class_names()
    {
        var binary = new PredictorEvaluation(EvaluationTask.Binary, 0.3, actual => actual.AsClass() == "fraud");
        var multiclass = new PredictorEvaluation(EvaluationTask.Multiclass, 0.5, _ => false);
        var result = EvaluationJoin.Contribute(
            [
                new JoinRow(new PendingPrediction("fraud", "o-1", "f", SentAt, 0.35), Inserted: true, Previous: null,
                    Current: new StoredOutcome(ActualValue.Of("fraud"), SentAt)),
                new JoinRow(new PendingPrediction("kind", "o-1", "k", SentAt, 2), Inserted: true, Previous: null,
                    Current: new StoredOutcome(ActualValue.Of("2"), SentAt)),
            ], [Windows[0]], predictor => predictor == "fraud" ? binary : multiclass);

        var fraud = result.Rows.Single(r => r.Key.PredictorName == "fraud").Value.Summarize();
        Assert.Equal((1.0, 1.0), (fraud.Accuracy, fraud.Recall)); // 0.35 ≥ 0.3 predicts the positive "fraud"
        Assert.Equal(1.0, result.Rows.Single(r => r.Key.PredictorName == "kind").Value.Summarize().Accuracy);
    }
}
