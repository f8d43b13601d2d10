-- The console (issue 19): the overview lists, for every model, the features drifting or with a schema anomaly in the latest
-- drift window. Those rows are few among a window's (every feature of every model against every reference): a partial
-- index reads them alone, whatever the fleet's size.
CREATE INDEX feature_drift_flagged ON feature_drift (window_seconds, window_start)
    WHERE drifting OR schema_anomaly IS NOT NULL;
