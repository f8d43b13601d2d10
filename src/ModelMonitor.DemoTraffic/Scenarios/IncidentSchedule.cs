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

    /// <summary>eta_prediction's distance_km arrives in metres: an upstream unit change (×1000).</summary>
    UnitChange,

    /// <summary>eta_prediction's weather_temp_c warms by 2 °C a minute: a gradual drift away from the training data.</summary>
    GradualDrift,
}

/// <summary>
/// When each incident starts, as an offset from the start of live traffic (null: never). An incident,
/// once started, lasts for the rest of the run. Backfilled history never has incidents.
/// </summary>
public sealed record IncidentSchedule(TimeSpan? DefaultStuckAt, TimeSpan? NaNAt, TimeSpan? ShiftAt, TimeSpan? SilenceAt,
    TimeSpan? TypeMismatchAt = null, TimeSpan? UnitChangeAt = null, TimeSpan? GradualDriftAt = null)
{
    public const double UnitFactor = 1000;
    public const double DriftPerMinute = 2;

    public const double NaNRate = 0.20;
    public const double TypeMismatchRate = 0.10;
    public const double ShiftFactor = 1.40;

    /// <summary>Defaults chosen so the shipped alerts fire within the first minutes of the local run.</summary>
    public static IncidentSchedule Default { get; } = new(
        TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(3), TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(5),
        TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(1));

    public static IncidentSchedule None { get; } = new(null, null, null, null);

    public TimeSpan? StartOf(IncidentKind kind) => kind switch
    {
        IncidentKind.DefaultStuck => DefaultStuckAt,
        IncidentKind.NaNValues => NaNAt,
        IncidentKind.PredictionShift => ShiftAt,
        IncidentKind.PredictorSilence => SilenceAt,
        IncidentKind.TypeMismatch => TypeMismatchAt,
        IncidentKind.UnitChange => UnitChangeAt,
        IncidentKind.GradualDrift => GradualDriftAt,
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
            $"prediction shift: {DemoScenarios.EtaPrimaryModel} prediction_result is now x{ShiftFactor:0.00} (alert ModelMonitorPredictionDrift against its training reference; ModelMonitorPredictionShift needs a week of history in Prometheus)",
        IncidentKind.PredictorSilence =>
            $"silence: predictor {DemoScenarios.PrepTimePredictor} stopped sending for the rest of the run (alert ModelMonitorPredictorStale)",
        IncidentKind.TypeMismatch =>
            $"type mismatch: {DemoScenarios.FraudModel} feature {DemoScenarios.TypeMismatchFeature} arrives as a string in ~{TypeMismatchRate * 100:0}% of records (alert ModelMonitorFeatureTypeMismatch)",
        IncidentKind.UnitChange =>
            $"unit change: {DemoScenarios.EtaPredictor}'s {DemoScenarios.UnitChangeFeature} now arrives in metres (x{UnitFactor:0}) (alerts ModelMonitorFeatureDrift, ModelMonitorSchemaSkew)",
        IncidentKind.GradualDrift =>
            $"gradual drift: {DemoScenarios.EtaPredictor}'s {DemoScenarios.GradualDriftFeature} warms by {DriftPerMinute:0} °C a minute (alert ModelMonitorFeatureDrift)",
        _ => kind.ToString(),
    };

    /// <summary>How far the gradual drift has gone at <paramref name="liveElapsed"/> (0 before it starts, and in backfill).</summary>
    public double GradualDriftOffset(TimeSpan? liveElapsed) =>
        liveElapsed is { } elapsed && GradualDriftAt is { } start && elapsed >= start ? (elapsed - start).TotalMinutes * DriftPerMinute : 0;
}
