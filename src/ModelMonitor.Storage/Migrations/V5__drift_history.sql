-- Version 5: drift history (README "Drift"). The distances of every completed window against every reference of its
-- model, as the exporter exports them for the latest window, written once per window by the aggregator's drift history
-- worker (ModelMonitor.References/Drift/DriftHistoryWorker) a little after the window ends, and again if records
-- arrive late into it: what Prometheus shows for
-- its retention, kept here with the windows' own retention (Aggregator:Retention), for SQL and for history.
-- A distance is NULL where the method does not apply (psi, jensen_shannon, ks, wasserstein for numeric features;
-- linf, jensen_shannon, psi for categorical ones) or the window had no values to compare.
CREATE TABLE feature_drift (
    window_seconds        integer          NOT NULL,
    window_start          timestamptz      NOT NULL,
    predictor_name        text             NOT NULL,
    model_id              text             NOT NULL,
    feature               text             NOT NULL,
    reference             text             NOT NULL,  -- training, production, or a pinned / uploaded name
    psi                   double precision,
    jensen_shannon        double precision,
    ks                    double precision,
    wasserstein           double precision,
    linf                  double precision,
    out_of_range_ratio    double precision,           -- numeric features
    unseen_category_ratio double precision,           -- categorical features
    schema_anomaly        text CHECK (schema_anomaly IN ('new_feature', 'type_mismatch', 'missing_feature')),
    alert_method          text,                       -- Drift:AlertMethod when the row was written
    alert_threshold       double precision,           -- that method's threshold (adaptive or fixed)
    drifting              boolean,                    -- that method's distance above its threshold
    computed_at           timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (window_seconds, predictor_name, model_id, feature, reference, window_start)
);

-- prediction_result against each reference: the numeric methods.
CREATE TABLE prediction_drift (
    window_seconds        integer          NOT NULL,
    window_start          timestamptz      NOT NULL,
    predictor_name        text             NOT NULL,
    model_id              text             NOT NULL,
    reference             text             NOT NULL,
    psi                   double precision,
    jensen_shannon        double precision,
    ks                    double precision,
    wasserstein           double precision,
    out_of_range_ratio    double precision,
    alert_method          text,
    alert_threshold       double precision,
    drifting              boolean,
    computed_at           timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (window_seconds, predictor_name, model_id, reference, window_start)
);

-- The windows whose drift is stored, with the predictions they held then: a window whose rows changed since (records
-- that arrived late) has another count and is stored again.
CREATE TABLE drift_windows (
    window_seconds        integer          NOT NULL,
    window_start          timestamptz      NOT NULL,
    prediction_count      bigint           NOT NULL,
    computed_at           timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (window_seconds, window_start)
);

-- Retention deletes by (window_seconds, window_start), like the window tables.
CREATE INDEX feature_drift_window ON feature_drift (window_seconds, window_start);
CREATE INDEX prediction_drift_window ON prediction_drift (window_seconds, window_start);
