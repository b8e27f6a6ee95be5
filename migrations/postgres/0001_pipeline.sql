-- The whole pipeline's schema on PostgreSQL. Timestamps are TIMESTAMPTZ,
-- JSON is JSONB. Keep in step with migrations/sqlite/0001_pipeline.sql.

CREATE TABLE runs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    summary JSONB NOT NULL DEFAULT '{}'
);

-- Raw records exactly as fetched, one row per (connector, stream, source id).
CREATE TABLE staged_records (
    connector TEXT NOT NULL,
    stream TEXT NOT NULL,
    source_id TEXT NOT NULL,
    raw TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    fetched_at TIMESTAMPTZ NOT NULL,
    run_id BIGINT,
    -- The content hash and mapping version last mapped; pending when either differs.
    mapped_hash TEXT,
    mapping_version TEXT,
    PRIMARY KEY (connector, stream, source_id)
);

CREATE TABLE rejected_records (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connector TEXT NOT NULL,
    stream TEXT NOT NULL,
    source_id TEXT,
    reason TEXT NOT NULL,
    raw TEXT NOT NULL,
    rejected_at TIMESTAMPTZ NOT NULL,
    run_id BIGINT,
    -- open; retried (a steward asked for another try); closed (mapped later, or rejected again anew)
    status TEXT NOT NULL DEFAULT 'open'
);
CREATE INDEX rejected_records_source ON rejected_records (connector, stream, source_id);

CREATE TABLE connector_state (
    connector TEXT NOT NULL,
    stream TEXT NOT NULL,
    cursor TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (connector, stream)
);

-- Event ids of pushed deliveries (webhooks) already staged, claimed in the
-- transaction that stages the delivery, so a redelivery stages nothing.
CREATE TABLE webhook_events (
    connector TEXT NOT NULL,
    event_id TEXT NOT NULL,
    stream TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (connector, event_id)
);

-- Canonical entities.
CREATE TABLE parties (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connector TEXT NOT NULL,
    source_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT,
    phones JSONB NOT NULL DEFAULT '[]',
    emails JSONB NOT NULL DEFAULT '[]',
    company TEXT,
    address TEXT,
    strong_ids JSONB NOT NULL DEFAULT '{}',
    attributes JSONB NOT NULL DEFAULT '{}',
    source_updated_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (connector, source_id)
);

CREATE TABLE orders (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connector TEXT NOT NULL,
    source_id TEXT NOT NULL,
    party_source_id TEXT NOT NULL,
    amount DOUBLE PRECISION NOT NULL,
    currency TEXT,
    status TEXT NOT NULL,
    ordered_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (connector, source_id)
);
CREATE INDEX orders_party ON orders (connector, party_source_id);

CREATE TABLE tickets (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connector TEXT NOT NULL,
    source_id TEXT NOT NULL,
    party_source_id TEXT,
    channel TEXT,
    status TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    solved_at TIMESTAMPTZ,
    satisfaction TEXT,
    UNIQUE (connector, source_id)
);

CREATE TABLE calls (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connector TEXT NOT NULL,
    source_id TEXT NOT NULL,
    caller TEXT,
    callee TEXT,
    direction TEXT,
    started_at TIMESTAMPTZ NOT NULL,
    talk_seconds BIGINT NOT NULL DEFAULT 0,
    disposition TEXT,
    UNIQUE (connector, source_id)
);

CREATE TABLE messages (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connector TEXT NOT NULL,
    source_id TEXT NOT NULL,
    party_source_id TEXT,
    phone TEXT,
    channel TEXT NOT NULL,
    sent_at TIMESTAMPTZ NOT NULL,
    UNIQUE (connector, source_id)
);

-- Golden customers and how parties belong to them.
CREATE TABLE golden_customers (
    golden_id TEXT PRIMARY KEY,
    fields JSONB NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'active',
    merged_into TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE golden_links (
    connector TEXT NOT NULL,
    source_id TEXT NOT NULL,
    golden_id TEXT NOT NULL,
    evidence JSONB NOT NULL DEFAULT '{}',
    linked_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (connector, source_id)
);
CREATE INDEX golden_links_golden ON golden_links (golden_id);

CREATE TABLE field_lineage (
    golden_id TEXT NOT NULL,
    field TEXT NOT NULL,
    connector TEXT NOT NULL,
    source_id TEXT NOT NULL,
    PRIMARY KEY (golden_id, field)
);

CREATE TABLE review_queue (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    left_connector TEXT NOT NULL,
    left_source_id TEXT NOT NULL,
    right_connector TEXT NOT NULL,
    right_source_id TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    evidence JSONB NOT NULL DEFAULT '{}',
    priority DOUBLE PRECISION NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'open',
    created_at TIMESTAMPTZ NOT NULL,
    decided_at TIMESTAMPTZ
);

CREATE TABLE steward_decisions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    undone_at TIMESTAMPTZ
);

-- Append-only; each entry's hash covers the previous entry's hash.
CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

CREATE TABLE tier_assignments (
    golden_id TEXT PRIMARY KEY,
    tier TEXT NOT NULL,
    rule TEXT NOT NULL,
    reason JSONB NOT NULL DEFAULT '{}',
    rules_version TEXT NOT NULL,
    assigned_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE tier_history (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    golden_id TEXT NOT NULL,
    from_tier TEXT,
    to_tier TEXT NOT NULL,
    rule TEXT NOT NULL,
    reason JSONB NOT NULL DEFAULT '{}',
    rules_version TEXT NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX tier_history_golden ON tier_history (golden_id);

CREATE TABLE push_ledger (
    connector TEXT NOT NULL,
    source_id TEXT NOT NULL,
    desired_label TEXT NOT NULL,
    acked_label TEXT,
    rules_version TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (connector, source_id)
);

CREATE TABLE dead_letters (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connector TEXT NOT NULL,
    source_id TEXT NOT NULL,
    request TEXT NOT NULL,
    response TEXT,
    reason TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    dropped_at TIMESTAMPTZ
);
