-- Version 2.
-- m2 is stored divided by 4^m2_scale (M2 = m2 × 4^m2_scale): for values near the double range (1e308) the sum of
-- squared deviations is beyond it (1e616), while mean and stddev stay representable. m2_scale is 0 unless a value
-- reached 2^448 in magnitude (see RunningMoments), so existing rows are unchanged.
ALTER TABLE feature_window_stats ADD COLUMN m2_scale integer NOT NULL DEFAULT 0;
ALTER TABLE model_window_stats ADD COLUMN m2_scale integer NOT NULL DEFAULT 0;

-- boolean_count splits categorical_count into strings and booleans, so each window knows how many values of each
-- JSON type a feature got: numbers (numeric_count + nonfinite_count), strings, booleans. A feature whose values do
-- not all have one type (tenure_months sent as 12 by one caller and as "12" by another) has type mismatches: the
-- values outside the window's majority type.
ALTER TABLE feature_window_stats ADD COLUMN boolean_count bigint NOT NULL DEFAULT 0;

-- Predictors and models retired by an operator (`retire` command of the aggregator): not exported, so they stop
-- paging at once. model_id '' retires every model of the predictor. A model that serves again after retired_at
-- is exported again (its last_seen passes retired_at): retiring never hides live traffic.
CREATE TABLE retired_models (
    predictor_name text        NOT NULL,
    model_id       text        NOT NULL DEFAULT '', -- '' = every model of the predictor
    retired_at     timestamptz NOT NULL DEFAULT now(),
    reason         text        NOT NULL DEFAULT '',
    PRIMARY KEY (predictor_name, model_id)
);

-- feature_stats gains null_count (documented for feature_window_stats, missing before), the type counts and ratios.
DROP VIEW feature_stats;
CREATE VIEW feature_stats AS
SELECT f.window_seconds,
       f.window_start,
       f.window_start + make_interval(secs => f.window_seconds) AS window_end,
       f.predictor_name,
       f.model_id,
       f.feature,
       m.prediction_count,
       f.value_count,
       f.null_count,
       f.numeric_count,
       f.mean, f.stddev, f.min, f.max, f.p05, f.p25, f.p50, f.p75, f.p95,
       f.default_count,
       GREATEST(m.prediction_count - f.value_count, 0) AS missing_count,
       f.nonfinite_count,
       f.categorical_count,
       f.boolean_count,
       f.categorical_count - f.boolean_count AS string_count,
       f.value_count - GREATEST(f.numeric_count + f.nonfinite_count, f.categorical_count - f.boolean_count, f.boolean_count) AS type_mismatch_count,
       f.categories,
       f.default_count::double precision / NULLIF(m.prediction_count, 0) AS default_ratio,
       GREATEST(m.prediction_count - f.value_count, 0)::double precision / NULLIF(m.prediction_count, 0) AS missing_ratio,
       f.nonfinite_count::double precision / NULLIF(m.prediction_count, 0) AS nonfinite_ratio,
       (f.value_count - GREATEST(f.numeric_count + f.nonfinite_count, f.categorical_count - f.boolean_count, f.boolean_count))::double precision
           / NULLIF(f.value_count, 0) AS type_mismatch_ratio
FROM feature_window_stats f
JOIN model_window_stats m USING (window_seconds, window_start, predictor_name, model_id);
