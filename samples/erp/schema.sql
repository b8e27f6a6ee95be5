-- The ERP schema the `erp` preset reads (also what `tierlink demo` loads).
-- SQLite and MariaDB/MySQL accept it as written.
CREATE TABLE IF NOT EXISTS customers (
    id BIGINT PRIMARY KEY,
    code VARCHAR(32) NOT NULL,
    name VARCHAR(200) NOT NULL,
    kind VARCHAR(16) NOT NULL,
    contact_person VARCHAR(100),
    mobile VARCHAR(64),
    phone VARCHAR(64),
    email VARCHAR(200),
    tax_id VARCHAR(18),
    province VARCHAR(32),
    city VARCHAR(32),
    credit_limit DECIMAL(12,2) NOT NULL DEFAULT 0,
    created_at DATETIME NOT NULL,
    modified_at DATETIME NOT NULL
);

CREATE TABLE IF NOT EXISTS orders (
    id BIGINT PRIMARY KEY,
    order_no VARCHAR(32) NOT NULL,
    customer_id BIGINT NOT NULL,
    amount DECIMAL(12,2) NOT NULL,
    currency CHAR(3) NOT NULL,
    status VARCHAR(16) NOT NULL,
    order_date DATE NOT NULL,
    modified_at DATETIME NOT NULL,
    source_ref VARCHAR(32)
);
