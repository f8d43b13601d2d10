using ModelMonitor.Core.Contracts;
using ModelMonitor.Core.Windows;

namespace ModelMonitor.Core.Evaluation;

/// <summary>A prediction kept for evaluation until its outcome's horizon.</summary>
public sealed record PendingPrediction(string PredictorName, string PredictionId, string ModelId, DateTimeOffset SentAt, double PredictionResult);

/// <summary>The outcome of a (predictor, prediction_id) as stored.</summary>
public sealed record StoredOutcome(ActualValue Actual, DateTimeOffset ObservedAt);

/// <summary>How one predictor is evaluated.</summary>
public sealed record PredictorEvaluation(EvaluationTask Task, double Threshold, Func<ActualValue, bool> IsPositive);

/// <summary>The evaluation row of one window of one model.</summary>
public readonly record struct EvaluationKey(int WindowSeconds, DateTimeOffset WindowStart, string PredictorName, string ModelId);

/// <summary>
/// One stored prediction touched by a batch: it was <paramref name="Inserted"/> by this batch (a new prediction), or its
/// outcome changed in this batch (<paramref name="Previous"/> the outcome it had before, null when it had none).
/// <paramref name="Current"/> is its outcome after the batch (null: still unlabelled).
/// </summary>
public sealed record JoinRow(PendingPrediction Prediction, bool Inserted, StoredOutcome? Previous, StoredOutcome? Current);

/// <summary>What a batch adds to the evaluation windows, and counts of what it did.</summary>
public sealed class EvaluationContributions
{
    public Dictionary<EvaluationKey, EvaluationAccumulator> Rows { get; } = [];

    /// <summary>Pairs counted (a replaced outcome's pair counts again).</summary>
    public long Pairs { get; internal set; }

    /// <summary>Pairs taken back because their outcome was replaced by a different one.</summary>
    public long Retracted { get; internal set; }

    /// <summary>Pairs that cannot be evaluated for the predictor's task (a string actual for regression, a non-finite
    /// prediction_result): not counted.</summary>
    public long Unusable { get; internal set; }
}

/// <summary>
/// The join of predictions and outcomes, as a pure function of the rows one batch touched: for each window size, a new
/// prediction counts once in its window (by sent_at) and, when its (predictor, prediction_id) has an outcome, adds its
/// pair; a stored prediction whose outcome changed takes back the pair of the previous outcome (if any) and adds the
/// pair of the new one. Sums, counts and sketches retract exactly (see <see cref="EvaluationAccumulator"/>), so a
/// replaced outcome leaves the window as if only the last value had ever arrived.
/// </summary>
public static class EvaluationJoin
{
    public static EvaluationContributions Contribute(IEnumerable<JoinRow> rows, IReadOnlyList<WindowSize> windows,
        Func<string, PredictorEvaluation> settingsOf)
    {
        var result = new EvaluationContributions();
        foreach (var row in rows)
        {
            var prediction = row.Prediction;
            var settings = settingsOf(prediction.PredictorName);
            foreach (var window in windows)
            {
                var key = new EvaluationKey(window.Seconds, window.WindowStart(prediction.SentAt), prediction.PredictorName, prediction.ModelId);
                if (!result.Rows.TryGetValue(key, out var accumulator))
                {
                    accumulator = new EvaluationAccumulator(settings.Task, settings.Threshold);
                    result.Rows.Add(key, accumulator);
                }
                var first = window.Seconds == windows[0].Seconds; // counted once, not per size
                if (row.Inserted)
                {
                    accumulator.CountPredictions(1);
                }
                else if (row.Previous is { } previous && Add(accumulator, settings, prediction, previous, -1) && first)
                {
                    result.Retracted++;
                }
                if (row.Current is { } current)
                {
                    if (Add(accumulator, settings, prediction, current, +1))
                    {
                        result.Pairs += first ? 1 : 0;
                    }
                    else
                    {
                        result.Unusable += first ? 1 : 0;
                    }
                }
            }
        }
        return result;
    }

    /// <summary>Adds (sign +1) or takes back (−1) one (prediction, outcome) pair; false when the task cannot use it.</summary>
    public static bool Add(EvaluationAccumulator accumulator, PredictorEvaluation settings, PendingPrediction prediction, StoredOutcome outcome, int sign)
    {
        var result = prediction.PredictionResult;
        var actual = outcome.Actual;
        var delay = (outcome.ObservedAt - prediction.SentAt).TotalSeconds;
        switch (settings.Task)
        {
            case EvaluationTask.Regression:
                if (actual.Kind == ActualKind.Label || !double.IsFinite(result))
                {
                    return false;
                }
                accumulator.AddRegression(result, actual.Number, delay, sign);
                return true;
            case EvaluationTask.Binary:
                if (!double.IsFinite(result))
                {
                    return false;
                }
                accumulator.AddBinary(result, settings.IsPositive(actual), delay, sign);
                return true;
            default:
                accumulator.AddMulticlass(EvaluationAccumulator.ClassOf(result), actual.AsClass(), delay, sign);
                return true;
        }
    }
}
