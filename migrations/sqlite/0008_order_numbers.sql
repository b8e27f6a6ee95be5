-- An order's number as other systems cite it, and for an order copied from
-- another system that system's number: one order in two systems ties their
-- customer records together.
ALTER TABLE orders ADD COLUMN number TEXT;
ALTER TABLE orders ADD COLUMN origin_number TEXT;
CREATE INDEX orders_number ON orders (number) WHERE number IS NOT NULL;
CREATE INDEX orders_origin_number ON orders (origin_number) WHERE origin_number IS NOT NULL;
