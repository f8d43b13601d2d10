-- ModelMonitor schema, version 1. Applied once by the migrator at service start (see PostgresMigrator).
-- Every statistic is kept per tumbling window of event time (sent_at), aligned to the epoch.
-- window_seconds is the window size (300 = 5m, 3600 = 1h); window_start its first instant (UTC).

-- Per (window, predictor, model, feature).
CREATE TABLE feature_window_stats (
    window_seconds    integer          NOT NULL,
    window_start      timestamptz      NOT NULL,
    predictor_name    text             NOT NULL,
    model_id          text             NOT NULL,
    feature           text             NOT NULL,
    value_count       bigint           NOT NULL, -- records carrying a non-null value (numeric, non-finite or categorical)
    null_count        bigint           NOT NULL, -- records that sent the feature as JSON null
    default_count     bigint           NOT NULL, -- records naming the feature in default_values_used
    nonfinite_count   bigint           NOT NULL, -- NaN, +Infinity, -Infinity (kept out of the numeric statistics)
    numeric_count     bigint           NOT NULL, -- finite numeric values: the population of mean..p95
    mean              double precision,          -- NULL when numeric_count = 0
    m2                double precision NOT NULL DEFAULT 0, -- sum of squared deviations from the mean (Welford), for merging
    stddev            double precision,          -- sample standard deviation (as Postgres stddev()); NULL below 2 values
    min               double precision,
    max               double precision,
    p05               double precision,          -- quantiles from the DDSketch below (1% relative accuracy)
    p25               double precision,
    p50               double precision,
    p75               double precision,
    p95               double precision,
    sketch            bytea,                     -- serialized DDSketch: mergeable across windows and partitions
    categorical_count bigint           NOT NULL, -- string/boolean values
    categories        jsonb            NOT NULL DEFAULT '{}'::jsonb, -- top values -> count, plus "__other__"
    updated_at        timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (window_seconds, predictor_name, model_id, feature, window_start)
);
CREATE INDEX feature_window_stats_by_time ON feature_window_stats (window_seconds, window_start);

-- Per (window, predictor, model): traffic and the statistics of prediction_result.
CREATE TABLE model_window_stats (
    window_seconds    integer          NOT NULL,
    window_start      timestamptz      NOT NULL,
    predictor_name    text             NOT NULL,
    model_id          text             NOT NULL,
    prediction_count  bigint           NOT NULL, -- predictions (records) in the window
    nonfinite_count   bigint           NOT NULL, -- prediction_result NaN / +-Infinity
    numeric_count     bigint           NOT NULL, -- finite prediction_result values
    mean              double precision,
    m2                double precision NOT NULL DEFAULT 0,
    stddev            double precision,
    min               double precision,
    max               double precision,
    p05               double precision,
    p25               double precision,
    p50               double precision,
    p75               double precision,
    p95               double precision,
    sketch            bytea,
    updated_at        timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (window_seconds, predictor_name, model_id, window_start)
);
CREATE INDEX model_window_stats_by_time ON model_window_stats (window_seconds, window_start);

-- Every model ever seen, with event-time bounds (model age, traffic staleness).
CREATE TABLE models (
    predictor_name    text        NOT NULL,
    model_id          text        NOT NULL,
    first_seen        timestamptz NOT NULL, -- earliest sent_at aggregated
    last_seen         timestamptz NOT NULL, -- latest sent_at aggregated
    PRIMARY KEY (predictor_name, model_id)
);

-- Kafka offsets, committed in the same transaction as the statistics they produced (exactly once).
-- next_offset is the next offset to consume; updates are compare-and-set on it (fencing).
CREATE TABLE consumer_offsets (
    consumer_group    text        NOT NULL,
    topic             text        NOT NULL,
    partition         integer     NOT NULL,
    next_offset       bigint      NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);

-- The ratios dashboards and alerts use, derived in one place. "missing" = absent or null: the
-- model's predictions in the window that carried no value for the feature.
CREATE VIEW feature_stats AS
SELECT f.window_seconds,
       f.window_start,
       f.window_start + make_interval(secs => f.window_seconds) AS window_end,
       f.predictor_name,
       f.model_id,
       f.feature,
       m.prediction_count,
       f.value_count,
       f.numeric_count,
       f.mean, f.stddev, f.min, f.max, f.p05, f.p25, f.p50, f.p75, f.p95,
       f.default_count,
       GREATEST(m.prediction_count - f.value_count, 0) AS missing_count,
       f.nonfinite_count,
       f.categorical_count,
       f.categories,
       f.default_count::double precision / NULLIF(m.prediction_count, 0) AS default_ratio,
       GREATEST(m.prediction_count - f.value_count, 0)::double precision / NULLIF(m.prediction_count, 0) AS missing_ratio,
       f.nonfinite_count::double precision / NULLIF(m.prediction_count, 0) AS nonfinite_ratio
FROM feature_window_stats f
JOIN model_window_stats m USING (window_seconds, window_start, predictor_name, model_id);
