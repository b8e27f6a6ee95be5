-- Customer search: the terms each active golden customer is found by
-- (names and their pinyin keys, company names and cores, phones, e-mails,
-- the id), searched by prefix. Written with the golden customers; a store
-- migrated from 0004 is indexed when `tierlink serve` starts.
-- Keep in step with migrations/sqlite/0005_search.sql.

CREATE TABLE customer_search (
    -- Byte order, so a prefix is a range scan of the primary key.
    term TEXT COLLATE "C" NOT NULL,
    golden_id TEXT NOT NULL,
    PRIMARY KEY (term, golden_id)
);
CREATE INDEX customer_search_golden ON customer_search (golden_id);
CREATE INDEX tier_assignments_tier ON tier_assignments (tier, golden_id);
