using Prometheus;

namespace ModelMonitor.Aggregator.Evaluation;

/// <summary>The evaluation join's operational metrics (names are fixed: dashboards and alerts use them).</summary>
internal sealed class EvaluationMetrics(IMetricFactory registry)
{
    public Counter OutcomesConsumed { get; } = registry.CreateCounter("modelmonitor_evaluation_outcomes_consumed_total",
        "Outcomes read from the outcomes topic (valid and poison).");

    /// <summary>By result: new (first outcome of its prediction_id), replaced (a different value), identical (ignored).</summary>
    public Counter Outcomes { get; } = registry.CreateCounter("modelmonitor_evaluation_outcomes_total",
        "Outcomes written by the join, by result: new, replaced (a different value for the same prediction_id), identical (ignored).", ["result"]);

    public Counter PredictionsStored { get; } = registry.CreateCounter("modelmonitor_evaluation_predictions_stored_total",
        "Predictions of evaluated predictors stored to wait for their outcome.");

    public Counter PredictionsRepeated { get; } = registry.CreateCounter("modelmonitor_evaluation_predictions_repeated_total",
        "Predictions of a (predictor, prediction_id, model) already stored (a retried request): ignored for evaluation.");

    public Counter Pairs { get; } = registry.CreateCounter("modelmonitor_evaluation_pairs_total",
        "(prediction, outcome) pairs counted into evaluation windows (a replaced outcome's pair again).");

    public Counter PairsUnusable { get; } = registry.CreateCounter("modelmonitor_evaluation_pairs_unusable_total",
        "Pairs the predictor's task cannot use (a string actual for regression, a non-finite prediction_result): not counted.");

    public Counter OutcomesExpired { get; } = registry.CreateCounter("modelmonitor_evaluation_outcomes_expired_total",
        "Outcomes deleted at their label horizon without any prediction of their prediction_id having arrived.");

    public Counter PredictionsExpired { get; } = registry.CreateCounter("modelmonitor_evaluation_predictions_expired_total",
        "Predictions deleted at their label horizon without an outcome.");

    public Counter RecordsPoison { get; } = registry.CreateCounter("modelmonitor_evaluation_records_poison_total",
        "Malformed records skipped by the join (predictions or outcomes), logged with topic, partition and offset.", ["topic"]);

    public Counter Writes { get; } = registry.CreateCounter("modelmonitor_evaluation_writes_total", "Successful join transactions.");

    public Counter WriteErrors { get; } = registry.CreateCounter("modelmonitor_evaluation_write_errors_total",
        "Join transactions that failed (Postgres errors, fenced offsets); retried.");

    public Histogram WriteDuration { get; } = registry.CreateHistogram("modelmonitor_evaluation_write_duration_seconds",
        "Duration of successful join transactions.", new HistogramConfiguration { Buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });

    public Gauge LastWrite { get; } = registry.CreateGauge("modelmonitor_evaluation_last_write_timestamp_seconds",
        "Unix time of the last successful join transaction.");

    /// <summary>1 per evaluated predictor: its task and whether configured or inferred from its first outcome.</summary>
    public Gauge Enabled { get; } = registry.CreateGauge("modelmonitor_evaluation_enabled",
        "1 for each evaluated predictor, with its task and source (configured, or inferred from its first outcome).",
        ["predictor_name", "task", "source"]);
}
