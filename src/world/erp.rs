//! Loads a world's ERP rows (`erp/customers.jsonl`, `erp/orders.jsonl`) into
//! a real database, SQLite or MySQL/MariaDB, so the `sql` connector reads an
//! ERP the way it would in production. Tables are created if missing and
//! rows are written in batches with `REPLACE INTO`, so loading twice leaves
//! the same rows.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sqlx::QueryBuilder;

/// The customer master table, in SQL both SQLite and MariaDB/MySQL accept.
pub const CUSTOMERS_DDL: &str = "CREATE TABLE IF NOT EXISTS customers (
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
)";

/// The sales order table; `source_ref` is the web-shop order name when the
/// order was imported from the shop.
pub const ORDERS_DDL: &str = "CREATE TABLE IF NOT EXISTS orders (
    id BIGINT PRIMARY KEY,
    order_no VARCHAR(32) NOT NULL,
    customer_id BIGINT NOT NULL,
    amount DECIMAL(12,2) NOT NULL,
    currency CHAR(3) NOT NULL,
    status VARCHAR(16) NOT NULL,
    order_date DATE NOT NULL,
    modified_at DATETIME NOT NULL,
    source_ref VARCHAR(32)
)";

/// MariaDB/MySQL need the character set spelled out for Chinese text.
const MYSQL_TABLE_OPTIONS: &str = " DEFAULT CHARSET=utf8mb4";

/// Rows per INSERT statement.
const BATCH: usize = 500;

/// An ERP customer row as written to `erp/customers.jsonl`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErpCustomer {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub contact_person: Option<String>,
    pub mobile: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub tax_id: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub credit_limit: String,
    pub created_at: String,
    pub modified_at: String,
}

/// An ERP sales order row as written to `erp/orders.jsonl`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErpOrder {
    pub id: i64,
    pub order_no: String,
    pub customer_id: i64,
    pub amount: String,
    pub currency: String,
    pub status: String,
    pub order_date: String,
    pub modified_at: String,
    pub source_ref: Option<String>,
}

/// How many rows were loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ErpLoad {
    pub customers: u64,
    pub orders: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ErpError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not an ERP row: {message}")]
    Row {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("unsupported database URL (use sqlite:, mysql: or mariadb:)")]
    UnsupportedUrl,
}

/// Reads the rows of one JSON Lines file in batches and hands each batch to
/// `load`.
async fn for_each_batch<T, F, Fut>(path: &Path, mut load: F) -> Result<u64, ErpError>
where
    T: for<'de> Deserialize<'de>,
    F: FnMut(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = Result<(), ErpError>>,
{
    let read_error = |source| ErpError::Read {
        path: path.to_path_buf(),
        source,
    };
    let reader = BufReader::new(File::open(path).map_err(read_error)?);
    let mut batch = Vec::with_capacity(BATCH);
    let mut total = 0;
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(read_error)?;
        if line.trim().is_empty() {
            continue;
        }
        let row = serde_json::from_str(&line).map_err(|error| ErpError::Row {
            path: path.to_path_buf(),
            line: index + 1,
            message: error.to_string(),
        })?;
        batch.push(row);
        total += 1;
        if batch.len() == BATCH {
            load(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))).await?;
        }
    }
    if !batch.is_empty() {
        load(batch).await?;
    }
    Ok(total)
}

/// The same loading code for each database kind (sqlx's query builder is
/// typed by database).
macro_rules! load_into {
    ($pool:expr, $db:ty, $table_options:expr, $world:expr) => {{
        let pool = $pool;
        sqlx::query(&format!("{CUSTOMERS_DDL}{}", $table_options))
            .execute(&pool)
            .await?;
        sqlx::query(&format!("{ORDERS_DDL}{}", $table_options))
            .execute(&pool)
            .await?;
        let customers = for_each_batch(&$world.join("erp/customers.jsonl"), |rows: Vec<ErpCustomer>| {
            let pool = pool.clone();
            async move {
                let mut insert = QueryBuilder::<$db>::new(
                    "REPLACE INTO customers (id, code, name, kind, contact_person, mobile, phone, \
                     email, tax_id, province, city, credit_limit, created_at, modified_at) ",
                );
                insert.push_values(rows, |mut row, c| {
                    row.push_bind(c.id)
                        .push_bind(c.code)
                        .push_bind(c.name)
                        .push_bind(c.kind)
                        .push_bind(c.contact_person)
                        .push_bind(c.mobile)
                        .push_bind(c.phone)
                        .push_bind(c.email)
                        .push_bind(c.tax_id)
                        .push_bind(c.province)
                        .push_bind(c.city)
                        .push_bind(c.credit_limit)
                        .push_bind(c.created_at)
                        .push_bind(c.modified_at);
                });
                insert.build().execute(&pool).await?;
                Ok(())
            }
        })
        .await?;
        let orders = for_each_batch(&$world.join("erp/orders.jsonl"), |rows: Vec<ErpOrder>| {
            let pool = pool.clone();
            async move {
                let mut insert = QueryBuilder::<$db>::new(
                    "REPLACE INTO orders (id, order_no, customer_id, amount, currency, status, \
                     order_date, modified_at, source_ref) ",
                );
                insert.push_values(rows, |mut row, o| {
                    row.push_bind(o.id)
                        .push_bind(o.order_no)
                        .push_bind(o.customer_id)
                        .push_bind(o.amount)
                        .push_bind(o.currency)
                        .push_bind(o.status)
                        .push_bind(o.order_date)
                        .push_bind(o.modified_at)
                        .push_bind(o.source_ref);
                });
                insert.build().execute(&pool).await?;
                Ok(())
            }
        })
        .await?;
        pool.close().await;
        Ok(ErpLoad { customers, orders })
    }};
}

/// Creates the ERP tables in `database_url` if missing and loads the rows of
/// the world in `world_dir` into them. `sqlite:` URLs create the file if it
/// does not exist; `mysql:`/`mariadb:` URLs must name an existing database.
pub async fn load_erp(world_dir: &Path, database_url: &str) -> Result<ErpLoad, ErpError> {
    if database_url.starts_with("sqlite:") {
        let options: sqlx::sqlite::SqliteConnectOptions = database_url.parse()?;
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.create_if_missing(true))
            .await?;
        load_into!(pool, sqlx::Sqlite, "", world_dir)
    } else if database_url.starts_with("mysql:") || database_url.starts_with("mariadb:") {
        let url = database_url.replacen("mariadb:", "mysql:", 1);
        let pool = sqlx::mysql::MySqlPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await?;
        load_into!(pool, sqlx::MySql, MYSQL_TABLE_OPTIONS, world_dir)
    } else {
        Err(ErpError::UnsupportedUrl)
    }
}

#[cfg(test)]
mod schema_file_tests {
    #[test]
    fn the_checked_in_schema_is_the_one_the_loader_creates() {
        let file = include_str!("../../samples/erp/schema.sql");
        let statements: Vec<String> = file
            .split(';')
            .map(|statement| {
                let code: Vec<&str> = statement
                    .lines()
                    .filter(|line| !line.starts_with("--"))
                    .collect();
                code.join("\n").trim().to_string()
            })
            .filter(|statement| !statement.is_empty())
            .collect();
        assert_eq!(statements, [super::CUSTOMERS_DDL, super::ORDERS_DDL]);
    }
}
