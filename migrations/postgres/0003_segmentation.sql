-- Segmentation: the outbox of tier change events, written in the same
-- transaction as the assignment and its history row, and consumed by sinks.
-- Keep in step with migrations/sqlite/0003_segmentation.sql.

CREATE TABLE tier_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    golden_id TEXT NOT NULL,
    from_tier TEXT,
    to_tier TEXT NOT NULL,
    rule TEXT NOT NULL,
    reason JSONB NOT NULL DEFAULT '{}',
    rules_version TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    consumed_at TIMESTAMPTZ
);
CREATE INDEX tier_events_unconsumed ON tier_events (consumed_at, id);
CREATE INDEX tier_history_changed ON tier_history (changed_at);
