-- Version 6: evaluation (README "Evaluation", docs/evaluation.md). Actual outcomes (late labels) are joined with the
-- predictions of the same (predictor_name, prediction_id) by the aggregator's evaluation worker, exactly once: these
-- tables and the offsets of both Kafka topics (consumer_offsets, consumer group Evaluation:ConsumerGroup, window_seconds 0)
-- are written in one transaction per batch.

-- Predictors that are evaluated: configured (Evaluation:Predictors:<name>:Task) or switched on by their first outcome.
CREATE TABLE evaluation_predictors (
    predictor_name text        PRIMARY KEY,
    task           text        NOT NULL CHECK (task IN ('regression', 'binary', 'multiclass')),
    source         text        NOT NULL CHECK (source IN ('configured', 'inferred')),
    enabled_at     timestamptz NOT NULL DEFAULT now()
);

-- The predictions of evaluated predictors, kept until their label horizon (expires_at = sent_at + horizon). The first
-- prediction of a (predictor, prediction_id, model) counts; a repeat (a retried request) is ignored.
CREATE TABLE evaluation_predictions (
    predictor_name    text             NOT NULL,
    prediction_id     text             NOT NULL,
    model_id          text             NOT NULL,
    sent_at           timestamptz      NOT NULL,
    prediction_result double precision NOT NULL,
    expires_at        timestamptz      NOT NULL,
    PRIMARY KEY (predictor_name, prediction_id, model_id)
);
CREATE INDEX evaluation_predictions_expiry ON evaluation_predictions (expires_at);

-- The outcome of each (predictor, prediction_id): the last one received (a different value replaces it, an identical
-- one is ignored), kept until observed_at + horizon. matched: some prediction was paired with it.
CREATE TABLE evaluation_outcomes (
    predictor_name text             NOT NULL,
    prediction_id  text             NOT NULL,
    actual_number  double precision,           -- a number, or 1 / 0 for a boolean
    actual_label   text,                       -- a string label
    actual_kind    text             NOT NULL CHECK (actual_kind IN ('number', 'label', 'boolean')),
    observed_at    timestamptz      NOT NULL,
    matched        boolean          NOT NULL DEFAULT false,
    expires_at     timestamptz      NOT NULL,
    PRIMARY KEY (predictor_name, prediction_id)
);
CREATE INDEX evaluation_outcomes_expiry ON evaluation_outcomes (expires_at);

-- Model quality per (window of the predictions' sent_at, predictor, model). The columns are computed from state (the
-- mergeable statistics, EvaluationAccumulator's binary format) at every write; NULL where undefined or not of the task.
CREATE TABLE evaluation_window_stats (
    window_seconds   integer          NOT NULL,
    window_start     timestamptz      NOT NULL,
    predictor_name   text             NOT NULL,
    model_id         text             NOT NULL,
    task             text             NOT NULL,
    prediction_count bigint           NOT NULL,  -- predictions tracked for evaluation
    labelled_count   bigint           NOT NULL,  -- of them, paired with an outcome
    label_coverage   double precision,           -- labelled_count / prediction_count
    mae              double precision,
    rmse             double precision,
    mean_error       double precision,           -- mean of prediction_result − actual (positive: over-predicting)
    mape             double precision,           -- a ratio (0.1 = 10 %), over non-zero actuals
    r2               double precision,
    abs_error_p50    double precision,
    abs_error_p90    double precision,
    abs_error_p95    double precision,
    abs_error_p99    double precision,
    accuracy         double precision,
    precision        double precision,
    recall           double precision,
    f1               double precision,
    log_loss         double precision,
    brier            double precision,
    roc_auc          double precision,
    label_delay_p50  double precision,           -- seconds from sent_at to observed_at
    label_delay_p90  double precision,
    label_delay_p99  double precision,
    state            bytea            NOT NULL,
    updated_at       timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (window_seconds, predictor_name, model_id, window_start)
) WITH (fillfactor = 70);
