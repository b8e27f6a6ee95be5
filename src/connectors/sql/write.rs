//! Writing one column of a table, for the `sql` push sink: the tier label of
//! each source record, by its key, with bound parameters only.

use std::collections::HashMap;

use sqlx::Row;
use tokio::sync::OnceCell;

use super::config::{Identifier, TableName};
use super::query::Dialect;
use super::source::{open_pool, SqlConnection, SqlPool};
use crate::connectors::ConnectorError;

/// What one label write found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnWrite {
    Written,
    /// No row has the key.
    NoRow,
    /// The column holds a value tierlink did not write; it was left alone.
    Foreign(String),
}

/// One value for the key column.
#[derive(Debug, Clone)]
enum Key {
    Int(i64),
    Text(String),
}

/// A table's label column, written through a pool of its own (sources read
/// through read-only sessions).
pub struct LabelColumn {
    connector: String,
    connection: SqlConnection,
    table: TableName,
    key_column: Identifier,
    label_column: Identifier,
    integer_keys: bool,
    pool: OnceCell<SqlPool>,
}

impl std::fmt::Debug for LabelColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabelColumn")
            .field("connector", &self.connector)
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

/// Runs a statement macro on whichever database the pool is.
macro_rules! on_pool {
    ($pool:expr, $run:ident) => {
        match $pool {
            SqlPool::Postgres(pool) => $run!(pool),
            SqlPool::MySql(pool) => $run!(pool),
            SqlPool::Sqlite(pool) => $run!(pool),
        }
    };
}

impl LabelColumn {
    pub fn new(
        connector: &str,
        connection: SqlConnection,
        table: TableName,
        key_column: Identifier,
        label_column: Identifier,
        integer_keys: bool,
    ) -> LabelColumn {
        LabelColumn {
            connector: connector.to_string(),
            connection,
            table,
            key_column,
            label_column,
            integer_keys,
            pool: OnceCell::new(),
        }
    }

    async fn pool(&self) -> Result<&SqlPool, ConnectorError> {
        self.pool
            .get_or_try_init(|| open_pool(&self.connector, &self.connection, false))
            .await
    }

    fn key(&self, source_id: &str) -> Result<Key, ConnectorError> {
        if self.integer_keys {
            source_id.trim().parse().map(Key::Int).map_err(|_| {
                ConnectorError::config(format!(
                    "connector {}: source id {source_id:?} is not an integer, but key_type is \"integer\"",
                    self.connector
                ))
            })
        } else {
            Ok(Key::Text(source_id.to_string()))
        }
    }

    fn placeholder(&self, index: usize) -> String {
        match self.connection.dialect {
            Dialect::MySql => "?".to_string(),
            Dialect::Postgres | Dialect::Sqlite => format!("${index}"),
        }
    }

    fn failed(&self, action: &str, error: sqlx::Error) -> ConnectorError {
        ConnectorError::external(
            format!(
                "connector {}: {action} {}.{} failed: {error}",
                self.connector,
                self.table,
                self.label_column.as_str()
            ),
            matches!(error, sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)),
        )
    }

    /// Sets the label of the row with `source_id` to `label` (none: NULL),
    /// only where the column is empty or holds one of `ours` (labels
    /// tierlink wrote) or the label already.
    pub async fn write(
        &self,
        source_id: &str,
        label: Option<&str>,
        ours: &[String],
    ) -> Result<ColumnWrite, ConnectorError> {
        let key = self.key(source_id)?;
        let dialect = self.connection.dialect;
        let table = dialect.quote_table(&self.table);
        let column = dialect.quote(&self.label_column);
        let key_column = dialect.quote(&self.key_column);
        let mut allowed: Vec<&str> = ours.iter().map(String::as_str).collect();
        allowed.extend(label);
        let list: Vec<String> = (3..3 + allowed.len())
            .map(|index| self.placeholder(index))
            .collect();
        let in_list = if list.is_empty() {
            String::new()
        } else {
            format!(" OR {column} IN ({})", list.join(", "))
        };
        let update = format!(
            "UPDATE {table} SET {column} = {} WHERE {key_column} = {} AND ({column} IS NULL{in_list})",
            self.placeholder(1),
            self.placeholder(2),
        );
        let pool = self.pool().await?;
        macro_rules! run_update {
            ($pool:expr) => {{
                let mut query = sqlx::query(&update).bind(label);
                query = match &key {
                    Key::Int(value) => query.bind(*value),
                    Key::Text(value) => query.bind(value.clone()),
                };
                for value in &allowed {
                    query = query.bind(*value);
                }
                query.execute($pool).await.map(|done| done.rows_affected())
            }};
        }
        let affected =
            on_pool!(pool, run_update).map_err(|error| self.failed("updating", error))?;
        if affected > 0 {
            return Ok(ColumnWrite::Written);
        }
        // MySQL counts a row set to the value it held as unaffected.
        match self.read_one(&key).await? {
            None => Ok(ColumnWrite::NoRow),
            Some(current) if current.as_deref() == label => Ok(ColumnWrite::Written),
            Some(None) => Ok(ColumnWrite::Written),
            Some(Some(current)) => Ok(ColumnWrite::Foreign(current)),
        }
    }

    async fn read_one(&self, key: &Key) -> Result<Option<Option<String>>, ConnectorError> {
        let dialect = self.connection.dialect;
        let select = format!(
            "SELECT {} FROM {} WHERE {} = {}",
            dialect.quote(&self.label_column),
            dialect.quote_table(&self.table),
            dialect.quote(&self.key_column),
            self.placeholder(1)
        );
        let pool = self.pool().await?;
        macro_rules! run_select {
            ($pool:expr) => {{
                let query = sqlx::query(&select);
                let query = match key {
                    Key::Int(value) => query.bind(*value),
                    Key::Text(value) => query.bind(value.clone()),
                };
                query
                    .fetch_optional($pool)
                    .await
                    .map(|row| row.map(|row| row.try_get::<Option<String>, _>(0).unwrap_or(None)))
            }};
        }
        on_pool!(pool, run_select).map_err(|error| self.failed("reading", error))
    }

    /// The label column of each source id's row (`None`: no such row).
    pub async fn read(
        &self,
        source_ids: &[String],
    ) -> Result<HashMap<String, Option<String>>, ConnectorError> {
        let mut found = HashMap::new();
        for id in source_ids {
            let key = self.key(id)?;
            if let Some(value) = self.read_one(&key).await? {
                found.insert(id.clone(), value);
            }
        }
        Ok(found)
    }
}
