-- Version 4: reference profiles, what drift is measured against (README "Drift").
-- A reference holds, per feature and for prediction_result, the same mergeable statistics as a window row, built from
-- an upload (name 'training' or any other, kind 'uploaded'), from a frozen production period ('pinned'), or from the
-- model's own recent traffic ('production', rebuilt by the aggregator). Replacing one is one transaction: the old row
-- and everything under it go, the new ones come.
CREATE TABLE reference_profiles (
    id                bigserial   PRIMARY KEY,
    predictor_name    text        NOT NULL,
    model_id          text        NOT NULL,
    name              text        NOT NULL,          -- the `reference` label of the drift metrics
    kind              text        NOT NULL CHECK (kind IN ('uploaded', 'pinned', 'production')),
    source            text        NOT NULL,          -- media type of an upload, or 'windows'
    period_start      timestamptz,                   -- pinned and production: the period merged
    period_end        timestamptz,
    row_count         bigint      NOT NULL,          -- uploaded rows, or predictions in the period
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (predictor_name, model_id, name)
);

-- One row per feature (subject 'feature') and one for prediction_result (subject 'prediction', feature '').
-- Columns as in feature_window_stats; observed_type: numeric, categorical, boolean or mixed.
CREATE TABLE reference_features (
    reference_id      bigint           NOT NULL REFERENCES reference_profiles (id) ON DELETE CASCADE,
    subject           text             NOT NULL CHECK (subject IN ('feature', 'prediction')),
    feature           text             NOT NULL,
    observed_type     text             NOT NULL,
    value_count       bigint           NOT NULL,
    null_count        bigint           NOT NULL,
    default_count     bigint           NOT NULL,
    nonfinite_count   bigint           NOT NULL,
    numeric_count     bigint           NOT NULL,
    mean              double precision,
    m2                double precision NOT NULL DEFAULT 0,
    m2_scale          integer          NOT NULL DEFAULT 0,
    stddev            double precision,
    min               double precision,
    max               double precision,
    p05               double precision,
    p25               double precision,
    p50               double precision,
    p75               double precision,
    p95               double precision,
    sketch            bytea,
    categorical_count bigint           NOT NULL,
    boolean_count     bigint           NOT NULL,
    categories        jsonb            NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (reference_id, subject, feature)
);

-- Adaptive thresholds (mean + 3 standard deviations of the distances of the reference's own windows to it, never
-- below the method's floor). window_seconds 0: for windows of every size (an upload's chunks).
CREATE TABLE reference_thresholds (
    reference_id      bigint           NOT NULL REFERENCES reference_profiles (id) ON DELETE CASCADE,
    subject           text             NOT NULL,
    feature           text             NOT NULL,
    window_seconds    integer          NOT NULL,
    method            text             NOT NULL CHECK (method IN ('psi', 'jensen_shannon', 'ks', 'wasserstein', 'linf')),
    threshold         double precision NOT NULL,
    windows           integer          NOT NULL,     -- reference windows (chunks) the threshold comes from
    distance_mean     double precision NOT NULL,
    distance_stddev   double precision NOT NULL,
    PRIMARY KEY (reference_id, subject, feature, window_seconds, method)
);
