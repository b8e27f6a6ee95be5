-- Keep in step with migrations/postgres/0006_view_indexes.sql.

-- The 360 view reads one customer's records and activity by key; without
-- these, each read walked every row of a connector (or every call).
CREATE INDEX staged_records_source ON staged_records (connector, source_id, stream);
CREATE INDEX tickets_party ON tickets (connector, party_source_id);
CREATE INDEX messages_party ON messages (connector, party_source_id);
CREATE INDEX calls_caller ON calls (caller);
CREATE INDEX calls_callee ON calls (callee);
