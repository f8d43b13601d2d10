namespace ModelMonitor.DemoTraffic.Scenarios;

public enum IncidentKind
{
    /// <summary>prep_time_v4's store_avg_prep_minutes_7d is always defaulted.</summary>
    DefaultStuck,

    /// <summary>fraud_score's merchant_risk_ratio is NaN in ~20% of records.</summary>
    NaNValues,

    /// <summary>eta_v12's prediction_result shifts by +40%.</summary>
    PredictionShift,

    /// <summary>The prep_time predictor stops sending.</summary>
    PredictorSilence,

    /// <summary>fraud_score's account_age_days arrives as a string ("412") in ~10% of records: a caller changed its type.</summary>
    TypeMismatch,
}

/// <summary>
/// When each incident starts, as an offset from the start of live traffic (null: never). An incident,
/// once started, lasts for the rest of the run. Backfilled history never has incidents.
/// </summary>
public sealed record IncidentSchedule(TimeSpan? DefaultStuckAt, TimeSpan? NaNAt, TimeSpan? ShiftAt, TimeSpan? SilenceAt,
    TimeSpan? TypeMismatchAt = null)
{
    public const double NaNRate = 0.20;
    public const double TypeMismatchRate = 0.10;
    public const double ShiftFactor = 1.40;

    /// <summary>Defaults chosen so the shipped alerts fire within the first minutes of the local run.</summary>
    public static IncidentSchedule Default { get; } = new(
        TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(3), TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(5));

    public static IncidentSchedule None { get; } = new(null, null, null, null);

    public TimeSpan? StartOf(IncidentKind kind) => kind switch
    {
        IncidentKind.DefaultStuck => DefaultStuckAt,
        IncidentKind.NaNValues => NaNAt,
        IncidentKind.PredictionShift => ShiftAt,
        IncidentKind.PredictorSilence => SilenceAt,
        IncidentKind.TypeMismatch => TypeMismatchAt,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>True when <paramref name="kind"/> is in effect at <paramref name="liveElapsed"/> (null: backfill).</summary>
    public bool IsActive(IncidentKind kind, TimeSpan? liveElapsed) =>
        liveElapsed is { } elapsed && StartOf(kind) is { } start && elapsed >= start;

    /// <summary>What the incident does, for the line printed when it starts.</summary>
    public static string Describe(IncidentKind kind) => kind switch
    {
        IncidentKind.DefaultStuck =>
            $"default stuck: {DemoScenarios.PrepTimeModel} feature {DemoScenarios.StuckDefaultFeature} now always uses its default (alert ModelMonitorFeatureDefaultRatioHigh)",
        IncidentKind.NaNValues =>
            $"NaN values: {DemoScenarios.FraudModel} feature {DemoScenarios.NaNFeature} is NaN in ~{NaNRate * 100:0}% of records (alert ModelMonitorFeatureNonFiniteValues)",
        IncidentKind.PredictionShift =>
            $"prediction shift: {DemoScenarios.EtaPrimaryModel} prediction_result is now x{ShiftFactor:0.00} (ModelMonitorPredictionShift needs a week of history in Prometheus: in a fresh local run nothing fires, see the README)",
        IncidentKind.PredictorSilence =>
            $"silence: predictor {DemoScenarios.PrepTimePredictor} stopped sending for the rest of the run (alert ModelMonitorPredictorStale)",
        IncidentKind.TypeMismatch =>
            $"type mismatch: {DemoScenarios.FraudModel} feature {DemoScenarios.TypeMismatchFeature} arrives as a string in ~{TypeMismatchRate * 100:0}% of records (alert ModelMonitorFeatureTypeMismatch)",
        _ => kind.ToString(),
    };
}
