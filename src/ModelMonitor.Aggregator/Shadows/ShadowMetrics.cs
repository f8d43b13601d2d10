using Prometheus;

namespace ModelMonitor.Aggregator.Shadows;

/// <summary>The shadow join's operational metrics (the comparison itself is published by the exporter as
/// modelmonitor_shadow_*).</summary>
internal sealed class ShadowMetrics(IMetricFactory registry)
{
    public Counter PredictionsStored { get; } = registry.CreateCounter("modelmonitor_shadow_join_predictions_stored_total",
        "Predictions of compared models stored by the shadow join (the first of each predictor, prediction_id and model).");

    public Counter PredictionsRepeated { get; } = registry.CreateCounter("modelmonitor_shadow_join_predictions_repeated_total",
        "Predictions of a (predictor, prediction_id, model) already waiting (a retried request): ignored by the comparison.");

    public Counter PredictionsSkipped { get; } = registry.CreateCounter("modelmonitor_shadow_join_predictions_skipped_total",
        "Predictions of compared predictors the join skipped, by reason: late (read more than Shadow:JoinWindow after sent_at), over_cap (a model beyond Shadow:MaxModelsPerPredictor), non_finite (prediction_result), no_shared_ids (an unregistered predictor on probation, see modelmonitor_shadow_join_suspended_predictors).",
        ["reason"]);

    public Counter Pairs { get; } = registry.CreateCounter("modelmonitor_shadow_join_pairs_total",
        "Pairs of predictions of two models of one predictor for the same prediction_id formed by the join.");

    public Counter Expired { get; } = registry.CreateCounter("modelmonitor_shadow_join_predictions_expired_total",
        "Waiting predictions deleted 2 × Shadow:JoinWindow after their sent_at without every compared model having predicted the id.");

    public Gauge Suspended { get; } = registry.CreateGauge("modelmonitor_shadow_join_suspended_predictors",
        "Unregistered predictors not compared for now: fewer than 1% of 5,000 of their predictions paired (their models do not score the same requests, e.g. an A/B split); tried again after an hour.");

    public Gauge Predictors { get; } = registry.CreateGauge("modelmonitor_shadow_join_predictors",
        "Predictors the shadow join compares (two or more models), as last reloaded.");
}
