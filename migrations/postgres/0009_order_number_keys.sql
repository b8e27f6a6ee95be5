-- Order numbers are joined by a key that keeps only their letters and
-- digits, upper-cased (`normalize::order::order_number_key`), so an ERP's
-- `1001` meets the web shop's `#1001`. Rows stored before carry the key
-- the same SQL gives for ASCII numbers; a row mapped again gets the full
-- key (full-width digits folded too).
ALTER TABLE orders ADD COLUMN number_key TEXT;
ALTER TABLE orders ADD COLUMN origin_number_key TEXT;
UPDATE orders SET
    number_key = NULLIF(UPPER(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(number, '#', ''), ' ', ''), '-', ''), '_', ''), '/', ''), '.', '')), ''),
    origin_number_key = NULLIF(UPPER(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(origin_number, '#', ''), ' ', ''), '-', ''), '_', ''), '/', ''), '.', '')), '');
DROP INDEX orders_number;
DROP INDEX orders_origin_number;
CREATE INDEX orders_number_key ON orders (number_key) WHERE number_key IS NOT NULL;
CREATE INDEX orders_origin_number_key ON orders (origin_number_key) WHERE origin_number_key IS NOT NULL;
