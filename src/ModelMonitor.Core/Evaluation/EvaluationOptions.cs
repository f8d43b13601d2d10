using ModelMonitor.Core.Contracts;

namespace ModelMonitor.Core.Evaluation;

/// <summary>
/// Evaluation settings (section "Evaluation"), read by the API (the label horizon of outcomes), the aggregator (the join)
/// and the exporter (what is published). Evaluation is opt-in per predictor (<see cref="Predictors"/>) and switches on by
/// itself for a predictor when its first outcome arrives (the task inferred from the actual value).
/// </summary>
public sealed class EvaluationOptions
{
    public const string SectionName = "Evaluation";

    /// <summary>Off: the aggregator does not consume outcomes nor store predictions for evaluation.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How long a prediction waits for its outcome, and an outcome for its predictions (per predictor overridable).</summary>
    public TimeSpan LabelHorizon { get; set; } = TimeSpan.FromDays(30);

    /// <summary>The exporter publishes, per window size, the latest window with at least this many labelled predictions.</summary>
    public int MinLabelled { get; set; } = 30;

    /// <summary>The Kafka consumer group of the join (its offsets are stored in Postgres with its results).</summary>
    public string ConsumerGroup { get; set; } = "modelmonitor-evaluation";

    /// <summary>How often the join writes what it read (one transaction with the offsets of both topics).</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A write also happens once this many records (predictions and outcomes) are held.</summary>
    public int MaxBufferedRecords { get; set; } = 50_000;

    /// <summary>How often expired predictions and outcomes are deleted (and counted).</summary>
    public TimeSpan ExpiryInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>ModelMonitorEvaluationRegression fires when MAE or RMSE exceed this factor times the model's trailing
    /// 7-day value, or accuracy falls below it divided by this factor (exported for the rule).</summary>
    public double RegressionFactor { get; set; } = 1.5;

    /// <summary>How often the exporter recomputes each model's trailing 7-day quality (the regression alert's baseline).</summary>
    public TimeSpan BaselineInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>ModelMonitorLabelCoverageLow fires when the published window's label coverage is below this (exported).</summary>
    public double MinLabelCoverage { get; set; } = 0.05;

    /// <summary>Per predictor: Task (regression, binary, multiclass), Threshold, PositiveLabel, LabelHorizon, factors.</summary>
    public Dictionary<string, EvaluationPredictorOptions> Predictors { get; set; } = new(StringComparer.Ordinal);

    public TimeSpan HorizonOf(string predictor) =>
        Predictors.TryGetValue(predictor, out var p) && p.LabelHorizon is { } horizon ? horizon : LabelHorizon;

    /// <summary>The longest horizon of any predictor: what the API accepts as an outcome's age.</summary>
    public TimeSpan LongestHorizon => Predictors.Values.Select(p => p.LabelHorizon ?? LabelHorizon).Append(LabelHorizon).Max();

    public double RegressionFactorOf(string predictor) =>
        Predictors.TryGetValue(predictor, out var p) && p.RegressionFactor is { } factor ? factor : RegressionFactor;

    public double MinLabelCoverageOf(string predictor) =>
        Predictors.TryGetValue(predictor, out var p) && p.MinLabelCoverage is { } coverage ? coverage : MinLabelCoverage;

    public double ThresholdOf(string predictor) =>
        Predictors.TryGetValue(predictor, out var p) ? p.Threshold : 0.5;

    /// <summary>Whether an actual counts as the positive class of a binary predictor: equal (as a class name, see
    /// <see cref="ActualValue.AsClass"/>) to its PositiveLabel, or when none is set, true or 1.</summary>
    public bool IsPositive(string predictor, ActualValue actual)
    {
        var name = actual.AsClass();
        return Predictors.TryGetValue(predictor, out var p) && p.PositiveLabel is { } positive
            ? string.Equals(name, positive, StringComparison.Ordinal)
            : name is "true" or "1";
    }

    /// <summary>The task inferred from a predictor's first outcome: a number → regression, a boolean → binary, a string
    /// label → multiclass (which of two string labels is positive cannot be guessed: configure binary with PositiveLabel).</summary>
    public static EvaluationTask InferTask(ActualValue actual) => actual.Kind switch
    {
        ActualKind.Number => EvaluationTask.Regression,
        ActualKind.Boolean => EvaluationTask.Binary,
        _ => EvaluationTask.Multiclass,
    };

    public static EvaluationTask? ParseTask(string text) => text.Trim().ToLowerInvariant() switch
    {
        "regression" => EvaluationTask.Regression,
        "binary" => EvaluationTask.Binary,
        "multiclass" => EvaluationTask.Multiclass,
        _ => null,
    };

    public static string TaskName(EvaluationTask task) => task switch
    {
        EvaluationTask.Regression => "regression",
        EvaluationTask.Binary => "binary",
        _ => "multiclass",
    };

    /// <summary>What is wrong with these settings (empty when valid), each naming the setting.</summary>
    public IReadOnlyList<string> Problems()
    {
        var errors = new List<string>();
        if (LabelHorizon <= TimeSpan.Zero || LabelHorizon > TimeSpan.FromDays(366))
        {
            errors.Add($"Evaluation:LabelHorizon must be between 0 and 366 days (got {LabelHorizon}).");
        }
        if (MinLabelled < 1)
        {
            errors.Add($"Evaluation:MinLabelled must be at least 1 (got {MinLabelled}).");
        }
        if (string.IsNullOrWhiteSpace(ConsumerGroup))
        {
            errors.Add("Evaluation:ConsumerGroup must not be empty.");
        }
        if (FlushInterval < TimeSpan.FromMilliseconds(100) || FlushInterval > TimeSpan.FromMinutes(5))
        {
            errors.Add($"Evaluation:FlushInterval must be between 100 ms and 5 minutes (got {FlushInterval}).");
        }
        if (MaxBufferedRecords < 100)
        {
            errors.Add($"Evaluation:MaxBufferedRecords must be at least 100 (got {MaxBufferedRecords}).");
        }
        if (ExpiryInterval < TimeSpan.FromSeconds(1))
        {
            errors.Add($"Evaluation:ExpiryInterval must be at least 1 s (got {ExpiryInterval}).");
        }
        if (BaselineInterval < TimeSpan.FromSeconds(1))
        {
            errors.Add($"Evaluation:BaselineInterval must be at least 1 s (got {BaselineInterval}).");
        }
        if (!(RegressionFactor > 1) || !double.IsFinite(RegressionFactor))
        {
            errors.Add($"Evaluation:RegressionFactor must be a finite number above 1 (got {RegressionFactor}).");
        }
        if (!(MinLabelCoverage is >= 0 and <= 1))
        {
            errors.Add($"Evaluation:MinLabelCoverage must be between 0 and 1 (got {MinLabelCoverage}).");
        }
        foreach (var (name, p) in Predictors)
        {
            if (p.Task is { } task && ParseTask(task) is null)
            {
                errors.Add($"Evaluation:Predictors:{name}:Task must be regression, binary or multiclass (got '{task}').");
            }
            if (!double.IsFinite(p.Threshold))
            {
                errors.Add($"Evaluation:Predictors:{name}:Threshold must be a finite number (got {p.Threshold}).");
            }
            if (p.LabelHorizon is { } horizon && (horizon <= TimeSpan.Zero || horizon > TimeSpan.FromDays(366)))
            {
                errors.Add($"Evaluation:Predictors:{name}:LabelHorizon must be between 0 and 366 days (got {horizon}).");
            }
            if (p.RegressionFactor is { } factor && !(factor > 1 && double.IsFinite(factor)))
            {
                errors.Add($"Evaluation:Predictors:{name}:RegressionFactor must be a finite number above 1 (got {factor}).");
            }
            if (p.MinLabelCoverage is { } coverage && !(coverage is >= 0 and <= 1))
            {
                errors.Add($"Evaluation:Predictors:{name}:MinLabelCoverage must be between 0 and 1 (got {coverage}).");
            }
        }
        return errors;
    }
}

/// <summary>One predictor's evaluation settings (Evaluation:Predictors:&lt;name&gt;).</summary>
public sealed class EvaluationPredictorOptions
{
    /// <summary>regression, binary or multiclass; configured, evaluation is on from the start.</summary>
    public string? Task { get; set; }

    /// <summary>Binary: a score at or above it predicts the positive class.</summary>
    public double Threshold { get; set; } = 0.5;

    /// <summary>Binary: the actual that is the positive class ("fraud"); unset: true or 1.</summary>
    public string? PositiveLabel { get; set; }

    public TimeSpan? LabelHorizon { get; set; }

    public double? RegressionFactor { get; set; }

    public double? MinLabelCoverage { get; set; }
}
