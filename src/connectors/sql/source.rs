//! Reading tables page by page with keyset paging.
//!
//! With an incremental column a stream is read in (incremental, primary
//! key) order and each page is committed with the cursor
//! `{"incremental": <last value>, "pk": <last pk>}`; the next page, and the
//! next sync, starts strictly after that pair, so rows sharing a timestamp
//! across a page boundary are neither lost nor read twice. Rows whose
//! incremental value is NULL cannot be placed in that order; they are swept
//! by primary key on every sync (staging skips the unchanged ones).
//!
//! Without an incremental column every sync sweeps the table by primary
//! key; the cursor `{"pk": <last pk>}` lets an interrupted sweep resume, and
//! `{"pk": null}` marks a finished one.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{Column, Executor, Statement, TypeInfo};
use tokio::sync::{mpsc, OnceCell};

use super::config::{FilterOp, Identifier, SqlStreamConfig};
use super::decode::{
    decode_sqlite_row, sqlite_stored_value, DecodedRow, MySqlRowDecoder, PgRowDecoder,
};
use super::query::{
    page_query, parse_instant, probe_query, to_param, BuiltQuery, ColumnKind, Dialect, PageStart,
    Param, Pass,
};
use crate::config::Secret;
use crate::connectors::{CheckReport, ConnectorError, Source, SourceContext};
use crate::store::{Rejection, SourceRecord, StagedBatch};

/// Binds every parameter to a query, whatever the database.
macro_rules! bind_all {
    ($query:expr, $params:expr) => {{
        let mut query = $query;
        for param in $params {
            query = match param {
                Param::Bool(value) => query.bind(*value),
                Param::Int(value) => query.bind(*value),
                Param::Float(value) => query.bind(*value),
                Param::Text(value) | Param::TextAs(value, _) => query.bind(value.clone()),
                Param::Timestamptz(value) => query.bind(*value),
                Param::Timestamp(value) => query.bind(*value),
                Param::Date(value) => query.bind(*value),
            };
        }
        query
    }};
}

/// How long to wait for a connection before giving up on this sync.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the connection string comes from.
#[derive(Debug, Clone)]
pub enum ConnectionUrl {
    /// The whole URL is a `${ENV}` secret; it may contain a password.
    Secret(Secret),
    /// A URL written in the file, without a password.
    Plain(String),
}

/// How to reach the database of a `sql` connector.
#[derive(Debug, Clone)]
pub struct SqlConnection {
    /// The connection string.
    pub url: ConnectionUrl,
    /// The password, when the URL has none.
    pub password: Option<Secret>,
    /// The database kind the URL names.
    pub dialect: Dialect,
    /// The directory relative SQLite paths start from.
    pub base_dir: PathBuf,
    /// The most connections opened at once.
    pub max_connections: u32,
}

impl SqlConnection {
    /// The connection for messages: never the password.
    pub fn display(&self) -> String {
        match &self.url {
            ConnectionUrl::Secret(secret) => {
                format!("the {} database in {secret}", self.dialect.name())
            }
            ConnectionUrl::Plain(url) => redact(url),
        }
    }

    /// Removes every secret from a message (sqlx errors may quote the URL).
    fn scrub(&self, message: String) -> String {
        let mut message = message;
        if let ConnectionUrl::Secret(secret) = &self.url {
            let url = secret.expose();
            if let Some(password) = url_password(url).filter(|password| !password.is_empty()) {
                message = message.replace(password, "***");
            }
            if !url.is_empty() {
                message = message.replace(url, &secret.to_string());
            }
        }
        if let Some(password) = &self.password {
            if !password.expose().is_empty() {
                message = message.replace(password.expose(), "***");
            }
        }
        message
    }
}

/// Removes any password from a URL before it is shown: `user:***@host`.
pub fn redact(url: &str) -> String {
    match url_password(url) {
        Some(password) if !password.is_empty() => url.replacen(password, "***", 1),
        _ => url.to_string(),
    }
}

/// The password part of `scheme://user:password@host/...`, if any. The
/// credentials end at the last '@' before the path, so a password holding
/// an unescaped '@' is still found whole.
pub fn url_password(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority_end = rest[..rest.rfind('@')?].len();
    let credentials = &rest[..authority_end];
    // A '/' before the last '@' would mean the '@' is in the path.
    if credentials.contains('/') {
        return None;
    }
    credentials.split_once(':').map(|(_, password)| password)
}

/// A pool of connections to one of the three databases.
#[derive(Debug, Clone)]
pub(super) enum SqlPool {
    Postgres(PgPool),
    MySql(MySqlPool),
    Sqlite(SqlitePool),
}

impl SqlPool {
    fn close_in_background(self) {
        let close = async move {
            match self {
                SqlPool::Postgres(pool) => pool.close().await,
                SqlPool::MySql(pool) => pool.close().await,
                SqlPool::Sqlite(pool) => pool.close().await,
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(close);
            }
            // Without a runtime the pool's connections close as it drops;
            // starting `close` marks it closed at once.
            Err(_) => drop(close),
        }
    }
}

/// A source reading one table per stream from PostgreSQL, MySQL/MariaDB or
/// SQLite. Its pool is opened on first use and closed when it is dropped.
pub struct SqlSource {
    id: String,
    connection: SqlConnection,
    streams: Vec<(String, SqlStreamConfig)>,
    pool: OnceCell<SqlPool>,
}

impl std::fmt::Debug for SqlSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlSource")
            .field("id", &self.id)
            .field("connection", &self.connection.display())
            .field("streams", &self.streams)
            .finish_non_exhaustive()
    }
}

impl Drop for SqlSource {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.close_in_background();
        }
    }
}

/// A stream made ready to read: its column kinds and converted filters.
struct ReadyStream<'a> {
    name: &'a str,
    config: &'a SqlStreamConfig,
    pk_kind: ColumnKind,
    incremental_kind: Option<ColumnKind>,
    filters: Vec<(Identifier, FilterOp, Vec<Param>)>,
}

/// One page read and decoded.
#[derive(Default)]
struct Page {
    records: Vec<SourceRecord>,
    rejected: Vec<Rejection>,
    rows: usize,
    /// The last row's (incremental, pk) in cursor form.
    last: Option<(Value, Value)>,
}

/// A cursor as committed: either key may be missing or null.
#[derive(Debug, Default, PartialEq)]
struct StoredCursor {
    incremental: Option<Value>,
    pk: Option<Value>,
}

impl StoredCursor {
    fn parse(cursor: Option<Value>) -> Result<StoredCursor, String> {
        let present = |value: Option<&Value>| value.filter(|value| !value.is_null()).cloned();
        match cursor {
            None | Some(Value::Null) => Ok(StoredCursor::default()),
            Some(Value::Object(object)) => Ok(StoredCursor {
                incremental: present(object.get("incremental")),
                pk: present(object.get("pk")),
            }),
            Some(other) => Err(format!("the stored cursor {other} is not an object")),
        }
    }
}

impl SqlSource {
    /// A source for connector `id` reading `streams` over `connection`.
    pub fn new(
        id: &str,
        connection: SqlConnection,
        streams: Vec<(String, SqlStreamConfig)>,
    ) -> SqlSource {
        SqlSource {
            id: id.to_string(),
            connection,
            streams,
            pool: OnceCell::new(),
        }
    }

    fn stream(&self, name: &str) -> Result<&SqlStreamConfig, ConnectorError> {
        crate::connectors::stream_config(&self.id, &self.streams, name)
    }

    /// "connector erp, stream customers, table erp.customers".
    fn place(&self, stream: &str, config: &SqlStreamConfig) -> String {
        format!(
            "connector {}, stream {stream}, table {}",
            self.id, config.table
        )
    }

    /// A failed query: a retryable external error unless the database
    /// refused the statement itself (a missing table or column, a type
    /// mismatch), which only a config change fixes.
    fn query_error(&self, place: &str, error: sqlx::Error) -> ConnectorError {
        let message = self.connection.scrub(format!(
            "{place}: query on {} failed: {error}",
            self.connection.display()
        ));
        match error {
            sqlx::Error::Database(_) => ConnectorError::config(format!(
                "{message} (check the table, column names and filter values in the connector file)"
            )),
            _ => ConnectorError::external(message, true),
        }
    }

    /// The pool, connecting on first use.
    async fn pool(&self) -> Result<&SqlPool, ConnectorError> {
        self.pool.get_or_try_init(|| self.connect()).await
    }

    async fn connect(&self) -> Result<SqlPool, ConnectorError> {
        open_pool(&self.id, &self.connection, true).await
    }

    /// Checks that the stream's table and columns exist, learns their
    /// types, and converts the filter values to them.
    async fn ready<'a>(
        &self,
        pool: &SqlPool,
        name: &'a str,
        config: &'a SqlStreamConfig,
    ) -> Result<ReadyStream<'a>, ConnectorError> {
        let place = self.place(name, config);
        let dialect = self.connection.dialect;
        let (sql, _) = probe_query(dialect, config);
        let columns: Vec<(String, String)> = match pool {
            SqlPool::Postgres(pool) => pool.prepare(&sql).await.map(|statement| {
                statement
                    .columns()
                    .iter()
                    .map(|c| (c.name().to_string(), c.type_info().name().to_string()))
                    .collect()
            }),
            SqlPool::MySql(pool) => pool.prepare(&sql).await.map(|statement| {
                statement
                    .columns()
                    .iter()
                    .map(|c| (c.name().to_string(), c.type_info().name().to_string()))
                    .collect()
            }),
            SqlPool::Sqlite(pool) => pool.prepare(&sql).await.map(|statement| {
                statement
                    .columns()
                    .iter()
                    .map(|c| (c.name().to_string(), c.type_info().name().to_string()))
                    .collect()
            }),
        }
        .map_err(|error| self.query_error(&place, error))?;
        if let SqlPool::Sqlite(pool) = pool {
            self.check_sqlite_columns(pool, &place, config).await?;
        }
        let kind_of = |column: &Identifier| -> ColumnKind {
            let type_name = columns
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(column.as_str()))
                .map(|(_, type_name)| type_name.as_str())
                .unwrap_or("");
            ColumnKind::from_type_name(dialect, type_name)
        };
        let pk_kind = kind_of(&config.primary_key);
        if !pk_kind.usable_as_primary_key() {
            return Err(ConnectorError::config(format!(
                "{place}: the primary key {} has type {pk_kind:?}; use a text or integer column",
                config.primary_key
            )));
        }
        let incremental_kind = config.incremental_column.as_ref().map(&kind_of);
        if let (Some(column), Some(kind)) = (&config.incremental_column, &incremental_kind) {
            if !kind.usable_as_incremental() {
                return Err(ConnectorError::config(format!(
                    "{place}: the incremental column {column} has type {kind:?}; use a timestamp, date, number or text column"
                )));
            }
            if config.lookback_seconds.is_some_and(|seconds| seconds > 0) && !kind.is_timestamp() {
                return Err(ConnectorError::config(format!(
                    "{place}: lookback_seconds needs a timestamp incremental column on PostgreSQL or MySQL; {column} is {kind:?}"
                )));
            }
        }
        let mut filters = Vec::new();
        for (index, filter) in config.filters.iter().enumerate() {
            let kind = kind_of(&filter.column);
            let values = match (&filter.op, toml_to_json(&filter.value)) {
                (FilterOp::In, Value::Array(items)) => items,
                (_, value) => vec![value],
            };
            let params = values
                .iter()
                .map(|value| to_param(value, &kind))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| {
                    ConnectorError::config(format!(
                        "{place}: filters[{index}] on column {}: {error}",
                        filter.column
                    ))
                })?;
            filters.push((filter.column.clone(), filter.op, params));
        }
        Ok(ReadyStream {
            name,
            config,
            pk_kind,
            incremental_kind,
            filters,
        })
    }

    /// SQLite takes a double-quoted name that is not a column for a string
    /// literal, so a misspelt column would silently compare a constant:
    /// every column the stream names is looked up in the table first.
    async fn check_sqlite_columns(
        &self,
        pool: &SqlitePool,
        place: &str,
        config: &SqlStreamConfig,
    ) -> Result<(), ConnectorError> {
        let names: Vec<String> = match &config.table.schema {
            Some(schema) => sqlx::query_scalar("SELECT name FROM pragma_table_info(?, ?)")
                .bind(config.table.name.as_str())
                .bind(schema.as_str()),
            None => sqlx::query_scalar("SELECT name FROM pragma_table_info(?)")
                .bind(config.table.name.as_str()),
        }
        .fetch_all(pool)
        .await
        .map_err(|error| self.query_error(place, error))?;
        let (_, used) = probe_query(Dialect::Sqlite, config);
        let missing: Vec<&str> = used
            .iter()
            .map(Identifier::as_str)
            .filter(|column| !names.iter().any(|name| name.eq_ignore_ascii_case(column)))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ConnectorError::config(format!(
                "{place}: no such column{} {} (the table has: {})",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", "),
                names.join(", ")
            )))
        }
    }

    /// Runs one page query and decodes its rows.
    async fn fetch_page(
        &self,
        pool: &SqlPool,
        stream: &ReadyStream<'_>,
        query: &BuiltQuery,
    ) -> Result<Page, ConnectorError> {
        let place = self.place(stream.name, stream.config);
        let mut page = Page::default();
        let incremental = stream.config.incremental_column.as_ref();
        let pk = &stream.config.primary_key;
        // `$decoder` makes the row decoder from the first row, once per
        // page: the column types are looked at once, not on every row.
        macro_rules! run {
            ($pool:expr, $decoder:expr, $keys:expr) => {{
                let rows = bind_all!(sqlx::query(&query.sql), &query.params)
                    .fetch_all($pool)
                    .await
                    .map_err(|error| self.query_error(&place, error))?;
                page.rows = rows.len();
                if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
                    let decode = $decoder(first);
                    page.records.reserve(rows.len());
                    for row in &rows {
                        let decoded: DecodedRow = decode(row);
                        self.keep(&place, stream, decoded, &mut page);
                    }
                    let keys_of = $keys;
                    let keys: Result<(Value, Value), String> = keys_of(&decode, last);
                    page.last = Some(keys.map_err(|error| {
                        ConnectorError::config(format!(
                            "{place}: cannot page on the last row read: {error}"
                        ))
                    })?);
                }
            }};
        }
        match pool {
            SqlPool::Postgres(pool) => {
                run!(
                    pool,
                    |first: &PgRow| {
                        let decoder = PgRowDecoder::new(first);
                        move |row: &PgRow| decoder.decode(row)
                    },
                    |decode: &dyn Fn(&PgRow) -> DecodedRow, row: &PgRow| {
                        last_keys(&decode(row), incremental, pk)
                    }
                )
            }
            SqlPool::MySql(pool) => {
                run!(
                    pool,
                    |first: &MySqlRow| {
                        let decoder = MySqlRowDecoder::new(first);
                        move |row: &MySqlRow| decoder.decode(row)
                    },
                    |decode: &dyn Fn(&MySqlRow) -> DecodedRow, row: &MySqlRow| {
                        last_keys(&decode(row), incremental, pk)
                    }
                )
            }
            SqlPool::Sqlite(pool) => {
                run!(
                    pool,
                    |_: &SqliteRow| decode_sqlite_row,
                    |_: &dyn Fn(&SqliteRow) -> DecodedRow, row: &SqliteRow| {
                        let stored =
                            |column: &Identifier| sqlite_stored_value(row, column.as_str());
                        Ok::<_, String>((
                            match incremental {
                                Some(column) => stored(column)?,
                                None => Value::Null,
                            },
                            stored(pk)?,
                        ))
                    }
                )
            }
        }
        if let Some((_, pk_value)) = &page.last {
            if pk_value.is_null() {
                return Err(ConnectorError::config(format!(
                    "{place}: the primary key {pk} is NULL in the last row of a page, so the table cannot be paged; use a NOT NULL unique column"
                )));
            }
        }
        Ok(page)
    }

    /// Adds one decoded row to the page as a record or a rejection.
    fn keep(&self, place: &str, stream: &ReadyStream<'_>, decoded: DecodedRow, page: &mut Page) {
        let pk = stream.config.primary_key.as_str();
        let source_id = match lookup(&decoded.object, pk) {
            Some(Value::String(text)) => Some(text.clone()),
            Some(Value::Number(number)) => Some(number.to_string()),
            _ => None,
        };
        let raw = Value::Object(decoded.object);
        if !decoded.errors.is_empty() {
            let columns: Vec<String> = decoded
                .errors
                .iter()
                .map(|(column, error)| format!("column {column} ({error})"))
                .collect();
            page.rejected.push(Rejection {
                source_id,
                reason: format!("{place}: cannot decode {}", columns.join("; ")),
                raw: raw.to_string(),
            });
            return;
        }
        match source_id {
            Some(source_id) => page.records.push(SourceRecord { source_id, raw }),
            None => page.rejected.push(Rejection {
                source_id: None,
                reason: format!("{place}: the primary key {pk} is NULL or not text or a number"),
                raw: raw.to_string(),
            }),
        }
    }

    /// A cursor value converted back to a parameter for its column.
    fn cursor_param(
        &self,
        stream: &ReadyStream<'_>,
        value: &Value,
        kind: &ColumnKind,
    ) -> Result<Param, ConnectorError> {
        to_param(value, kind).map_err(|error| {
            ConnectorError::internal(format!(
                "{}: the stored cursor does not fit the column: {error}; \
                 reset the stream's cursor to read it again from the start",
                self.place(stream.name, stream.config)
            ))
        })
    }

    async fn send(
        &self,
        batches: &mpsc::Sender<StagedBatch>,
        batch: StagedBatch,
    ) -> Result<(), ConnectorError> {
        batches
            .send(batch)
            .await
            .map_err(|_| ConnectorError::internal("the sync stopped receiving records"))
    }

    /// Sweeps the rows whose incremental value is NULL, by primary key,
    /// without moving the cursor.
    async fn pull_null_incremental(
        &self,
        context: &SourceContext,
        pool: &SqlPool,
        stream: &ReadyStream<'_>,
        batches: &mpsc::Sender<StagedBatch>,
    ) -> Result<bool, ConnectorError> {
        let page_size = stream.config.page_size;
        let mut start = PageStart::Beginning;
        loop {
            if context.shutdown.is_cancelled() {
                return Ok(false);
            }
            let query = page_query(
                self.connection.dialect,
                stream.config,
                &stream.filters,
                Pass::NullIncremental,
                &start,
                page_size,
            );
            let page = self.fetch_page(pool, stream, &query).await?;
            if page.rows == 0 {
                return Ok(true);
            }
            let full = page.rows >= page_size as usize;
            let last_pk = page.last.as_ref().map(|(_, pk)| pk.clone());
            self.send(
                batches,
                StagedBatch {
                    records: page.records,
                    rejected: page.rejected,
                    cursor: None,
                },
            )
            .await?;
            match (full, last_pk) {
                (true, Some(pk)) => {
                    start = PageStart::PkAfter(self.cursor_param(stream, &pk, &stream.pk_kind)?)
                }
                _ => return Ok(true),
            }
        }
    }

    async fn pull_incremental(
        &self,
        context: &SourceContext,
        pool: &SqlPool,
        stream: &ReadyStream<'_>,
        kind: &ColumnKind,
        stored: StoredCursor,
        batches: &mpsc::Sender<StagedBatch>,
    ) -> Result<(), ConnectorError> {
        if !self
            .pull_null_incremental(context, pool, stream, batches)
            .await?
        {
            return Ok(());
        }
        let page_size = stream.config.page_size;
        let lookback = stream
            .config
            .lookback_seconds
            .filter(|seconds| *seconds > 0);
        // With a lookback the pages before the stored position must not
        // move the cursor back; they only re-read.
        let stored_instant = stored.incremental.as_ref().and_then(parse_instant);
        let mut start = match (&stored.incremental, &stored.pk, lookback) {
            (Some(_), _, Some(seconds)) => {
                let from = stored_instant
                    .map(|instant| instant - chrono::Duration::seconds(i64::from(seconds)))
                    .ok_or_else(|| {
                        ConnectorError::internal(format!(
                            "{}: the stored cursor is not a timestamp",
                            self.place(stream.name, stream.config)
                        ))
                    })?;
                let from = Value::String(from.to_rfc3339());
                PageStart::IncrementalFrom(self.cursor_param(stream, &from, kind)?)
            }
            (Some(incremental), Some(pk), None) => PageStart::After {
                incremental: self.cursor_param(stream, incremental, kind)?,
                pk: self.cursor_param(stream, pk, &stream.pk_kind)?,
            },
            _ => PageStart::Beginning,
        };
        loop {
            if context.shutdown.is_cancelled() {
                return Ok(());
            }
            let query = page_query(
                self.connection.dialect,
                stream.config,
                &stream.filters,
                Pass::Main,
                &start,
                page_size,
            );
            let page = self.fetch_page(pool, stream, &query).await?;
            let Some((last_incremental, last_pk)) = page.last.clone() else {
                return Ok(());
            };
            let behind_stored = match (stored_instant, parse_instant(&last_incremental)) {
                (Some(stored), Some(last)) => lookback.is_some() && last < stored,
                _ => false,
            };
            let cursor =
                (!behind_stored).then(|| json!({ "incremental": last_incremental, "pk": last_pk }));
            let full = page.rows >= page_size as usize;
            self.send(
                batches,
                StagedBatch {
                    records: page.records,
                    rejected: page.rejected,
                    cursor,
                },
            )
            .await?;
            if !full {
                return Ok(());
            }
            start = PageStart::After {
                incremental: self.cursor_param(stream, &last_incremental, kind)?,
                pk: self.cursor_param(stream, &last_pk, &stream.pk_kind)?,
            };
        }
    }

    async fn pull_sweep(
        &self,
        context: &SourceContext,
        pool: &SqlPool,
        stream: &ReadyStream<'_>,
        stored: StoredCursor,
        batches: &mpsc::Sender<StagedBatch>,
    ) -> Result<(), ConnectorError> {
        let page_size = stream.config.page_size;
        let mut start = match &stored.pk {
            Some(pk) => PageStart::PkAfter(self.cursor_param(stream, pk, &stream.pk_kind)?),
            None => PageStart::Beginning,
        };
        loop {
            if context.shutdown.is_cancelled() {
                return Ok(());
            }
            let query = page_query(
                self.connection.dialect,
                stream.config,
                &stream.filters,
                Pass::Main,
                &start,
                page_size,
            );
            let page = self.fetch_page(pool, stream, &query).await?;
            let full = page.rows >= page_size as usize;
            let last_pk = page.last.as_ref().map(|(_, pk)| pk.clone());
            // A short page ends the sweep: the next sync starts over.
            let cursor = match (&last_pk, full) {
                (Some(pk), true) => json!({ "pk": pk }),
                _ => json!({ "pk": null }),
            };
            self.send(
                batches,
                StagedBatch {
                    records: page.records,
                    rejected: page.rejected,
                    cursor: Some(cursor),
                },
            )
            .await?;
            match (full, last_pk) {
                (true, Some(pk)) => {
                    start = PageStart::PkAfter(self.cursor_param(stream, &pk, &stream.pk_kind)?)
                }
                _ => return Ok(()),
            }
        }
    }

    /// A row-count estimate from the catalog, when the database keeps one.
    async fn estimate_rows(&self, pool: &SqlPool, config: &SqlStreamConfig) -> Option<i64> {
        match pool {
            SqlPool::Postgres(pool) => {
                let name = self.connection.dialect.quote_table(&config.table);
                sqlx::query_scalar::<_, f32>(
                    "SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)",
                )
                .bind(name)
                .fetch_optional(pool)
                .await
                .ok()
                .flatten()
                .filter(|estimate| *estimate >= 0.0)
                .map(|estimate| estimate as i64)
            }
            SqlPool::MySql(pool) => sqlx::query_scalar::<_, u64>(
                "SELECT TABLE_ROWS FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
            )
            .bind(
                config
                    .table
                    .schema
                    .as_ref()
                    .map(|schema| schema.to_string()),
            )
            .bind(config.table.name.to_string())
            .fetch_optional(pool)
            .await
            .ok()
            .flatten()
            .and_then(|estimate| i64::try_from(estimate).ok()),
            SqlPool::Sqlite(_) => None,
        }
    }
}

/// The (incremental, pk) of a decoded row, as record values.
fn last_keys(
    decoded: &DecodedRow,
    incremental: Option<&Identifier>,
    pk: &Identifier,
) -> Result<(Value, Value), String> {
    let get = |column: &Identifier| -> Result<Value, String> {
        if let Some((_, error)) = decoded
            .errors
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(column.as_str()))
        {
            return Err(format!("column {column}: {error}"));
        }
        lookup(&decoded.object, column.as_str())
            .cloned()
            .ok_or_else(|| format!("column {column} is not in the row"))
    };
    Ok((
        match incremental {
            Some(column) => get(column)?,
            None => Value::Null,
        },
        get(pk)?,
    ))
}

/// A column's value by name; MySQL and SQLite names are case-insensitive.
fn lookup<'a>(object: &'a serde_json::Map<String, Value>, column: &str) -> Option<&'a Value> {
    object.get(column).or_else(|| {
        object
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(column))
            .map(|(_, value)| value)
    })
}

/// A filter value from TOML as JSON; dates and times become RFC 3339 text.
fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(text) => Value::String(text.clone()),
        toml::Value::Integer(int) => Value::from(*int),
        toml::Value::Float(float) => serde_json::Number::from_f64(*float)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        toml::Value::Boolean(flag) => Value::Bool(*flag),
        toml::Value::Datetime(datetime) => Value::String(datetime.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(_) => Value::Null,
    }
}

#[async_trait]
impl Source for SqlSource {
    fn streams(&self) -> Vec<String> {
        self.streams.iter().map(|(name, _)| name.clone()).collect()
    }

    async fn check(&self, _context: &SourceContext) -> Result<CheckReport, ConnectorError> {
        let pool = self.pool().await?;
        let mut streams = Vec::new();
        for (name, config) in &self.streams {
            let stream = self.ready(pool, name, config).await?;
            let query = page_query(
                self.connection.dialect,
                config,
                &stream.filters,
                Pass::Main,
                &PageStart::Beginning,
                1,
            );
            let page = self.fetch_page(pool, &stream, &query).await?;
            let estimate = self
                .estimate_rows(pool, config)
                .await
                .map(|rows| format!(", about {rows} rows"))
                .unwrap_or_default();
            let sample = match page.last.as_ref().map(|(_, pk)| pk) {
                Some(Value::String(id)) => format!("first id {id:?}"),
                Some(other) => format!("first id {other}"),
                None => "no rows match".to_string(),
            };
            streams.push((
                name.clone(),
                format!(
                    "{} table {}{estimate}, {sample}",
                    self.connection.dialect.name(),
                    config.table
                ),
            ));
        }
        Ok(CheckReport { streams })
    }

    async fn pull(
        &self,
        context: &SourceContext,
        stream: &str,
        cursor: Option<Value>,
        batches: mpsc::Sender<StagedBatch>,
    ) -> Result<(), ConnectorError> {
        let config = self.stream(stream)?;
        let stored = StoredCursor::parse(cursor).map_err(|error| {
            ConnectorError::internal(format!("{}: {error}", self.place(stream, config)))
        })?;
        let pool = self.pool().await?;
        let ready = self.ready(pool, stream, config).await?;
        match ready.incremental_kind.clone() {
            Some(kind) => {
                self.pull_incremental(context, pool, &ready, &kind, stored, &batches)
                    .await
            }
            None => {
                self.pull_sweep(context, pool, &ready, stored, &batches)
                    .await
            }
        }
    }
}

/// Opens a pool on `connection`; a `read_only` one refuses writes (the
/// sources), a writable one serves the `sql` push sink.
pub(super) async fn open_pool(
    id: &str,
    connection: &SqlConnection,
    read_only: bool,
) -> Result<SqlPool, ConnectorError> {
    let url = match &connection.url {
        ConnectionUrl::Secret(secret) => secret.expose().to_string(),
        ConnectionUrl::Plain(url) => url.clone(),
    };
    let bad_url = |error: sqlx::Error| {
        ConnectorError::config(connection.scrub(format!(
            "connector {}: {} is not a valid connection string: {error}",
            id,
            connection.display()
        )))
    };
    let unreachable = |error: sqlx::Error| {
        ConnectorError::external(
            connection.scrub(format!(
                "connector {}: cannot connect to {}: {error}",
                id,
                connection.display()
            )),
            true,
        )
    };
    let password = connection.password.as_ref().map(Secret::expose);
    let max = connection.max_connections.max(1);
    match connection.dialect {
        Dialect::Postgres => {
            let mut options = PgConnectOptions::from_str(&url).map_err(bad_url)?;
            if let Some(password) = password {
                options = options.password(password);
            }
            // Sources only read; make their sessions refuse writes too.
            if read_only {
                options = options.options([("default_transaction_read_only", "on")]);
            }
            PgPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await
                .map(SqlPool::Postgres)
                .map_err(unreachable)
        }
        Dialect::MySql => {
            let url = match url.split_once("://") {
                Some(("mariadb", rest)) => format!("mysql://{rest}"),
                _ => url,
            };
            let mut options = MySqlConnectOptions::from_str(&url).map_err(bad_url)?;
            if let Some(password) = password {
                options = options.password(password);
            }
            MySqlPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await
                .map(SqlPool::MySql)
                .map_err(unreachable)
        }
        Dialect::Sqlite => {
            let url = crate::store::resolve_sqlite_path(&url, &connection.base_dir);
            let options = SqliteConnectOptions::from_str(&url)
                .map_err(bad_url)?
                .read_only(read_only)
                .create_if_missing(false)
                .busy_timeout(Duration::from_secs(30));
            SqlitePoolOptions::new()
                .max_connections(if url.contains(":memory:") { 1 } else { max })
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await
                .map(SqlPool::Sqlite)
                .map_err(unreachable)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_found_and_redacted() {
        assert_eq!(url_password("postgres://u:p%40ss@db/x"), Some("p%40ss"));
        assert_eq!(url_password("postgres://u:p@ss@db/x"), Some("p@ss"));
        assert_eq!(url_password("mysql://root@127.0.0.1:3306"), None);
        assert_eq!(url_password("sqlite://data/a@b.db"), None);
        assert_eq!(
            redact("mysql://erp:s3cret@db:3306/erp"),
            "mysql://erp:***@db:3306/erp"
        );
    }

    #[test]
    fn cursors_parse_with_missing_or_null_keys() {
        assert_eq!(StoredCursor::parse(None), Ok(StoredCursor::default()));
        assert_eq!(
            StoredCursor::parse(Some(
                json!({"incremental": "2024-01-01T00:00:00Z", "pk": 7})
            )),
            Ok(StoredCursor {
                incremental: Some(json!("2024-01-01T00:00:00Z")),
                pk: Some(json!(7)),
            })
        );
        assert_eq!(
            StoredCursor::parse(Some(json!({"pk": null}))),
            Ok(StoredCursor::default())
        );
        assert!(StoredCursor::parse(Some(json!("x"))).is_err());
    }
}
