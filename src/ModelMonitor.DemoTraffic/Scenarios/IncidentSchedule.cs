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

    /// <summary>
    /// A courier shortage makes deliveries in the biggest markets 40% longer than eta_v12 expects: its error against the
    /// actual outcomes roughly doubles, while the shadow eta_v13_shadow follows (concept drift: nothing in the inputs changes).
    /// </summary>
    QualityDrop,
}

/// <summary>
/// When each incident starts, as an offset from the start of live traffic (null: never). An incident,
/// once started, lasts for the rest of the run. Backfilled history never has incidents.
/// </summary>
public sealed record IncidentSchedule(TimeSpan? DefaultStuckAt, TimeSpan? NaNAt, TimeSpan? ShiftAt, TimeSpan? SilenceAt,
    TimeSpan? TypeMismatchAt = null, TimeSpan? UnitChangeAt = null, TimeSpan? GradualDriftAt = null, TimeSpan? QualityDropAt = null)
{
    public const double UnitFactor = 1000;
    public const double DriftPerMinute = 2;

    public const double NaNRate = 0.20;
    public const double TypeMismatchRate = 0.10;
    public const double ShiftFactor = 1.40;

    /// <summary>Quality drop: deliveries in <see cref="DemoScenarios.ShortageMarkets"/> take this times what eta_v12 expects.</summary>
    public const double QualityDropFactor = 1.40;

    /// <summary>Defaults chosen so the shipped alerts fire within the first minutes of the local run.</summary>
    public static IncidentSchedule Default { get; } = new(
        TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(3), TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(5),
        TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(90));

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
        IncidentKind.QualityDrop => QualityDropAt,
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
        IncidentKind.QualityDrop =>
            $"quality drop: a courier shortage makes deliveries in {string.Join(", ", DemoScenarios.ShortageMarkets)} take {(QualityDropFactor - 1) * 100:0}% longer; " +
            $"{DemoScenarios.EtaPrimaryModel} does not follow (its MAE against the actuals more than doubles), the shadow {DemoScenarios.EtaShadowModel} does (alerts ModelMonitorEvaluationRegression, and ModelMonitorShadowDivergence: the shadow no longer agrees with its primary)",
        _ => kind.ToString(),
    };

    /// <summary>
    /// The minutes a delivery takes beyond <paramref name="etaEstimate"/> (eta_v12's unshifted estimate) during the quality drop:
    /// in a shortage market, (<see cref="QualityDropFactor"/> − 1) times the estimate; otherwise, and before the drop, none.
    /// </summary>
    public double ShortageMinutes(double etaEstimate, string? market, TimeSpan? liveElapsed) =>
        IsActive(IncidentKind.QualityDrop, liveElapsed) && DemoScenarios.IsShortageMarket(market) ? (QualityDropFactor - 1) * etaEstimate : 0;

    /// <summary>How far the gradual drift has gone at <paramref name="liveElapsed"/> (0 before it starts, and in backfill).</summary>
    public double GradualDriftOffset(TimeSpan? liveElapsed) =>
        liveElapsed is { } elapsed && GradualDriftAt is { } start && elapsed >= start ? (elapsed - start).TotalMinutes * DriftPerMinute : 0;
}
