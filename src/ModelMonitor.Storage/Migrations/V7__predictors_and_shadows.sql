-- Version 7: the predictor registry, primary changes and the shadow comparison (README "Predictors and shadows",
-- docs/predictors.md).

-- Registered predictors (PUT /v1/predictors/{name}, or the registry file Predictors:File, source 'file'). A predictor
-- without a row is unregistered: its model with the most traffic in the last hour is its inferred primary.
CREATE TABLE predictors (
    predictor_name   text        PRIMARY KEY,
    primary_model_id text,                              -- NULL: registered without a primary (inferred)
    shadow_model_ids text[]      NOT NULL DEFAULT '{}',
    team             text,
    labels           jsonb       NOT NULL DEFAULT '{}',
    max_model_age    interval,
    source           text        NOT NULL CHECK (source IN ('api', 'file')),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Registered models of a predictor (PUT /v1/predictors/{name}/models/{model_id}).
CREATE TABLE predictor_models (
    predictor_name    text        NOT NULL,
    model_id          text        NOT NULL,
    trained_at        timestamptz,
    training_data_end timestamptz,
    version_info      jsonb       NOT NULL DEFAULT '{}',
    source            text        NOT NULL CHECK (source IN ('api', 'file')),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (predictor_name, model_id)
);

-- Who changed the registry, when, and what (the request body, or the file's entry).
CREATE TABLE predictor_registry_audit (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    actor          text        NOT NULL,            -- the client address, or 'file:<path>'
    action         text        NOT NULL,            -- put_predictor, delete_predictor, put_model, delete_model, retire, ...
    predictor_name text        NOT NULL,
    model_id       text,
    body           jsonb
);
CREATE INDEX predictor_registry_audit_predictor ON predictor_registry_audit (predictor_name, at);

-- The current primary of every predictor that has one, registered or inferred, and the history of changes (the
-- aggregator's primary watcher; annotations and ModelMonitorPrimaryModelChanged).
CREATE TABLE predictor_primaries (
    predictor_name text        PRIMARY KEY,
    model_id       text        NOT NULL,
    source         text        NOT NULL CHECK (source IN ('registered', 'inferred')),
    since          timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE predictor_primary_changes (
    predictor_name    text        NOT NULL,
    changed_at        timestamptz NOT NULL,
    model_id          text        NOT NULL,
    previous_model_id text        NOT NULL,
    source            text        NOT NULL,
    PRIMARY KEY (predictor_name, changed_at)
);

-- The shadow join's waiting predictions: models of a predictor with two or more models, first per (predictor,
-- prediction_id, model); deleted once every joined model of the predictor has sent its prediction of the id, or
-- 2 × Shadow:JoinWindow after sent_at.
CREATE TABLE shadow_predictions (
    predictor_name    text             NOT NULL,
    prediction_id     text             NOT NULL,
    model_id          text             NOT NULL,
    sent_at           timestamptz      NOT NULL,
    prediction_result double precision NOT NULL,
    PRIMARY KEY (predictor_name, prediction_id, model_id)
);
CREATE INDEX shadow_predictions_sent_at ON shadow_predictions (sent_at);

-- Predictions of each joined model per window (the denominators of the match ratios).
CREATE TABLE shadow_model_window_stats (
    window_seconds   integer     NOT NULL,
    window_start     timestamptz NOT NULL,
    predictor_name   text        NOT NULL,
    model_id         text        NOT NULL,
    prediction_count bigint      NOT NULL,
    PRIMARY KEY (window_seconds, predictor_name, model_id, window_start)
);

-- The comparison of two models of a predictor per window (of the pair's earlier sent_at), model_a before model_b (ordinal), every
-- difference taken as b − a (the exporter turns it into shadow − primary). Columns are computed from state
-- (ShadowAccumulator's binary format) at every write.
CREATE TABLE shadow_window_stats (
    window_seconds  integer          NOT NULL,
    window_start    timestamptz      NOT NULL,
    predictor_name  text             NOT NULL,
    model_a         text             NOT NULL,
    model_b         text             NOT NULL,
    pairs           bigint           NOT NULL,
    diff_mean       double precision,            -- mean of b − a
    abs_diff_mean   double precision,
    abs_diff_p50    double precision,
    abs_diff_p90    double precision,
    abs_diff_p95    double precision,
    abs_diff_p99    double precision,
    correlation     double precision,
    agreement_ratio double precision,            -- binary predictors: both on the same side of the threshold
    state           bytea            NOT NULL,
    updated_at      timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (window_seconds, predictor_name, model_a, model_b, window_start)
) WITH (fillfactor = 70);
