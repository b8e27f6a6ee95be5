-- Push-back: the ledger per (connector, source record) and the dead letters.
-- The ledger written by the label export of 0001 held only file exports,
-- which every push rewrites whole, so it is replaced, not migrated.
-- Keep in step with migrations/postgres/0004_push.sql.

DROP TABLE push_ledger;
DROP TABLE dead_letters;

CREATE TABLE push_ledger (
    connector TEXT NOT NULL,
    source_id TEXT NOT NULL,
    golden_id TEXT,
    tier TEXT,
    -- The label the record should carry; NULL: no tier label at all.
    desired_label TEXT,
    -- The last label the system acknowledged.
    acked_label TEXT,
    -- Labels sent but not acknowledged (a JSON array): they may be applied,
    -- so the next change removes them too.
    unacked_labels TEXT NOT NULL DEFAULT '[]',
    rules_version TEXT NOT NULL,
    -- pending | delivered | failed | dropped
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (connector, source_id)
);
CREATE INDEX push_ledger_status ON push_ledger (connector, status);

CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    connector TEXT NOT NULL,
    source_id TEXT NOT NULL,
    label TEXT,
    request TEXT NOT NULL,
    response TEXT,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    -- Set when a later push delivered the record.
    resolved_at TEXT,
    -- Set when a steward dropped it: the record is not retried until its
    -- desired label changes.
    dropped_at TEXT,
    dropped_by TEXT,
    drop_reason TEXT
);
CREATE INDEX dead_letters_open ON dead_letters (connector, source_id, resolved_at, dropped_at);
