-- Version 3.
-- Each window size keeps its own offsets, so the aggregator writes each size on its own cadence (the 1m rows every
-- flush interval, an open 1h row about once a minute) and every size still counts every record exactly once: a
-- flush advances the offsets of the sizes it writes, in the same transaction as their rows. A row of a size holds the
-- next offset to aggregate into that size. window_seconds 0 marks a row written before this version (one row for
-- every size): a size with no row of its own starts from it.
ALTER TABLE consumer_offsets ADD COLUMN window_seconds integer NOT NULL DEFAULT 0;
ALTER TABLE consumer_offsets DROP CONSTRAINT consumer_offsets_pkey;
ALTER TABLE consumer_offsets ADD PRIMARY KEY (consumer_group, topic, partition, window_seconds);

-- Window rows are rewritten at every flush of their size while their window is open. Room left in each page lets
-- Postgres keep the new version on the same page without touching the indexes (a HOT update) and prune the old
-- versions as it goes.
ALTER TABLE feature_window_stats SET (fillfactor = 70);
ALTER TABLE model_window_stats SET (fillfactor = 70);
