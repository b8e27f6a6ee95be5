-- The steward's workflow on SQLite: review items keyed by their pair, the
-- match weight and the decision that closed them; the reason of each audit
-- entry and a chain that cannot fork; where golden ids came from.
-- Keep in step with migrations/postgres/0002_steward.sql.

ALTER TABLE review_queue ADD COLUMN match_weight REAL NOT NULL DEFAULT 0;
ALTER TABLE review_queue ADD COLUMN decision_id INTEGER;
-- A pair is stored with its smaller party key on the left, once.
CREATE UNIQUE INDEX review_queue_pair
    ON review_queue (left_connector, left_source_id, right_connector, right_source_id);
CREATE INDEX review_queue_open ON review_queue (status, priority);

ALTER TABLE audit_log ADD COLUMN reason TEXT;
-- Two writers appending after the same entry would fork the chain; the
-- second one fails instead.
CREATE UNIQUE INDEX audit_log_chain ON audit_log (prev_hash);

-- Where a golden id came from: a merge (new_id absorbed old_id) or a split
-- (new_id was cut out of old_id).
CREATE TABLE golden_id_lineage (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    new_id TEXT NOT NULL,
    old_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX golden_id_lineage_new ON golden_id_lineage (new_id);
CREATE INDEX golden_id_lineage_old ON golden_id_lineage (old_id);
