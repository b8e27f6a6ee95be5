//! The SQL a `sql` stream runs, per dialect: quoted identifiers, keyset
//! paging, and bound parameters converted to each column's type.
//!
//! The only text that ever comes from configuration is an identifier that
//! passed [`super::config::is_identifier`]; every value is a parameter.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use super::config::{FilterOp, Identifier, SqlStreamConfig, TableName};

/// The database a connector talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL: `"x"` identifiers, `$N` parameters.
    Postgres,
    /// MySQL and MariaDB: `` `x` `` identifiers, `?` parameters.
    MySql,
    /// SQLite: `"x"` identifiers, `?` parameters, dynamic types.
    Sqlite,
}

impl Dialect {
    /// The dialect a connection string's scheme names.
    pub fn from_url(url: &str) -> Option<Dialect> {
        let scheme = url.split_once(':')?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            "mysql" | "mariadb" => Some(Dialect::MySql),
            "sqlite" => Some(Dialect::Sqlite),
            _ => None,
        }
    }

    /// A display name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Postgres => "PostgreSQL",
            Dialect::MySql => "MySQL",
            Dialect::Sqlite => "SQLite",
        }
    }

    /// Quotes a validated identifier.
    pub fn quote(self, identifier: &Identifier) -> String {
        // A validated identifier holds no quote characters, so wrapping is
        // enough.
        match self {
            Dialect::MySql => format!("`{}`", identifier.as_str()),
            Dialect::Postgres | Dialect::Sqlite => format!("\"{}\"", identifier.as_str()),
        }
    }

    /// Quotes a validated table name, with its schema when given.
    pub fn quote_table(self, table: &TableName) -> String {
        match &table.schema {
            Some(schema) => format!("{}.{}", self.quote(schema), self.quote(&table.name)),
            None => self.quote(&table.name),
        }
    }
}

/// What a column holds, as far as binding a value compared with it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnKind {
    Bool,
    Int,
    Float,
    /// Exact decimals; bound as text (PostgreSQL casts it to NUMERIC).
    Numeric,
    Text,
    /// PostgreSQL `uuid`; bound as text and cast.
    Uuid,
    /// An instant: PostgreSQL `timestamptz`, MySQL `TIMESTAMP`.
    Timestamptz,
    /// A wall-clock time without zone, taken as UTC: `timestamp`, `DATETIME`.
    Timestamp,
    Date,
    /// SQLite: whatever the value is stored as; bound by its JSON type.
    Dynamic,
    /// Anything else, named by the database.
    Other(String),
}

impl ColumnKind {
    /// The kind of a column from the type name sqlx reports.
    pub fn from_type_name(dialect: Dialect, name: &str) -> ColumnKind {
        if dialect == Dialect::Sqlite {
            return ColumnKind::Dynamic;
        }
        let upper = name.to_ascii_uppercase();
        match (dialect, upper.as_str()) {
            (_, "BOOL" | "BOOLEAN") => ColumnKind::Bool,
            (Dialect::Postgres, "INT2" | "INT4" | "INT8") => ColumnKind::Int,
            (
                Dialect::MySql,
                "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "TINYINT UNSIGNED"
                | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED" | "BIGINT UNSIGNED"
                | "YEAR",
            ) => ColumnKind::Int,
            (Dialect::Postgres, "FLOAT4" | "FLOAT8") | (Dialect::MySql, "FLOAT" | "DOUBLE") => {
                ColumnKind::Float
            }
            (Dialect::Postgres, "NUMERIC") | (Dialect::MySql, "DECIMAL") => ColumnKind::Numeric,
            (Dialect::Postgres, "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CITEXT")
            | (
                Dialect::MySql,
                "CHAR" | "VARCHAR" | "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM"
                | "SET" | "BINARY" | "VARBINARY",
            ) => ColumnKind::Text,
            (Dialect::Postgres, "UUID") => ColumnKind::Uuid,
            (Dialect::Postgres, "TIMESTAMPTZ") | (Dialect::MySql, "TIMESTAMP") => {
                ColumnKind::Timestamptz
            }
            (Dialect::Postgres, "TIMESTAMP") | (Dialect::MySql, "DATETIME") => {
                ColumnKind::Timestamp
            }
            (_, "DATE") => ColumnKind::Date,
            _ => ColumnKind::Other(name.to_string()),
        }
    }

    /// Whether a primary key of this kind can page the table.
    pub fn usable_as_primary_key(&self) -> bool {
        matches!(
            self,
            ColumnKind::Int
                | ColumnKind::Text
                | ColumnKind::Uuid
                | ColumnKind::Numeric
                | ColumnKind::Dynamic
        )
    }

    /// Whether an incremental column of this kind can page the table.
    pub fn usable_as_incremental(&self) -> bool {
        matches!(
            self,
            ColumnKind::Int
                | ColumnKind::Float
                | ColumnKind::Numeric
                | ColumnKind::Text
                | ColumnKind::Timestamptz
                | ColumnKind::Timestamp
                | ColumnKind::Date
                | ColumnKind::Dynamic
        )
    }

    /// Whether the kind holds timestamps, which `lookback_seconds` needs.
    pub fn is_timestamp(&self) -> bool {
        matches!(self, ColumnKind::Timestamptz | ColumnKind::Timestamp)
    }
}

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// Text that PostgreSQL must cast to this (fixed) type name.
    TextAs(String, &'static str),
    Timestamptz(DateTime<Utc>),
    Timestamp(NaiveDateTime),
    Date(NaiveDate),
}

/// Converts a value from configuration or a cursor to a parameter for a
/// column of `kind`, or says why it does not fit.
pub fn to_param(value: &Value, kind: &ColumnKind) -> Result<Param, String> {
    let text = || match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    };
    let fail = |what: &str| format!("{value} is not {what}");
    match kind {
        ColumnKind::Dynamic => match value {
            Value::Bool(flag) => Ok(Param::Int(i64::from(*flag))),
            Value::Number(number) => match number.as_i64() {
                Some(int) => Ok(Param::Int(int)),
                None => number
                    .as_f64()
                    .map(Param::Float)
                    .ok_or_else(|| fail("a number")),
            },
            Value::String(text) => Ok(Param::Text(text.clone())),
            _ => Err(fail("text, a number or a boolean")),
        },
        ColumnKind::Bool => match value {
            Value::Bool(flag) => Ok(Param::Bool(*flag)),
            Value::Number(number) if number.as_i64() == Some(0) => Ok(Param::Bool(false)),
            Value::Number(number) if number.as_i64() == Some(1) => Ok(Param::Bool(true)),
            Value::String(text) => match text.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Param::Bool(true)),
                "false" | "0" => Ok(Param::Bool(false)),
                _ => Err(fail("a boolean")),
            },
            _ => Err(fail("a boolean")),
        },
        ColumnKind::Int => match value {
            Value::Number(number) => number.as_i64().map(Param::Int),
            Value::String(text) => text.trim().parse().ok().map(Param::Int),
            _ => None,
        }
        .ok_or_else(|| fail("an integer")),
        ColumnKind::Float => match value {
            Value::Number(number) => number.as_f64().map(Param::Float),
            Value::String(text) => text.trim().parse().ok().map(Param::Float),
            _ => None,
        }
        .ok_or_else(|| fail("a number")),
        ColumnKind::Numeric => match value {
            Value::Number(_) | Value::String(_) => {
                let text = text().unwrap_or_default();
                if is_decimal(&text) {
                    Ok(Param::TextAs(text, "NUMERIC"))
                } else {
                    Err(fail("a decimal number"))
                }
            }
            _ => Err(fail("a decimal number")),
        },
        ColumnKind::Text | ColumnKind::Other(_) => match value {
            Value::Array(_) | Value::Object(_) | Value::Null => Err(fail("text")),
            _ => Ok(Param::Text(text().unwrap_or_default())),
        },
        ColumnKind::Uuid => match value {
            Value::String(text) => Ok(Param::TextAs(text.clone(), "UUID")),
            _ => Err(fail("a UUID")),
        },
        ColumnKind::Timestamptz => parse_instant(value)
            .map(Param::Timestamptz)
            .ok_or_else(|| fail("a timestamp (RFC 3339, or YYYY-MM-DD HH:MM:SS in UTC)")),
        ColumnKind::Timestamp => parse_instant(value)
            .map(|instant| Param::Timestamp(instant.naive_utc()))
            .ok_or_else(|| fail("a timestamp (RFC 3339, or YYYY-MM-DD HH:MM:SS in UTC)")),
        ColumnKind::Date => match value {
            Value::String(text) => NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                .ok()
                .map(Param::Date),
            _ => None,
        }
        .ok_or_else(|| fail("a date (YYYY-MM-DD)")),
    }
}

/// An instant from RFC 3339 text, `YYYY-MM-DD HH:MM:SS[.f]` (UTC) or a
/// bare date (midnight UTC).
pub fn parse_instant(value: &Value) -> Option<DateTime<Utc>> {
    let Value::String(text) = value else {
        return None;
    };
    let text = text.trim();
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Some(instant.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Some(naive.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|naive| naive.and_utc())
}

fn is_decimal(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    !(whole.is_empty() && fraction.is_empty())
        && whole.chars().all(|c| c.is_ascii_digit())
        && fraction.chars().all(|c| c.is_ascii_digit())
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq)]
pub enum PageStart {
    /// From the first row.
    Beginning,
    /// Rows whose incremental value is at least this (the lookback window).
    IncrementalFrom(Param),
    /// Rows after this (incremental, primary key) pair.
    After { incremental: Param, pk: Param },
    /// Rows whose primary key is after this one (no incremental column).
    PkAfter(Param),
}

/// Which rows a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Rows with a non-NULL incremental value in (incremental, pk) order,
    /// or every row in pk order when there is no incremental column.
    Main,
    /// Rows whose incremental value is NULL, in pk order: they cannot be
    /// placed in the keyset, so they are swept on every sync.
    NullIncremental,
}

/// SQL text with its parameters in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltQuery {
    pub sql: String,
    pub params: Vec<Param>,
}

/// Collects placeholders and their parameters in order.
struct Binder {
    dialect: Dialect,
    params: Vec<Param>,
}

impl Binder {
    fn push(&mut self, param: Param) -> String {
        let cast = match (&param, self.dialect) {
            (Param::TextAs(_, cast), Dialect::Postgres) => Some(*cast),
            // MySQL would compare a text parameter with a DECIMAL as a float.
            (Param::TextAs(_, "NUMERIC"), Dialect::MySql) => Some("DECIMAL(65, 30)"),
            _ => None,
        };
        self.params.push(param);
        let placeholder = match self.dialect {
            Dialect::Postgres => format!("${}", self.params.len()),
            Dialect::MySql | Dialect::Sqlite => "?".to_string(),
        };
        match cast {
            Some(cast) => format!("CAST({placeholder} AS {cast})"),
            None => placeholder,
        }
    }
}

/// The quoted select list: the configured columns (or `*`) plus the primary
/// key and incremental column when they are not among them.
pub fn select_list(dialect: Dialect, stream: &SqlStreamConfig) -> String {
    match &stream.columns {
        None => "*".to_string(),
        Some(columns) => {
            let mut names: Vec<&Identifier> = columns.iter().collect();
            for extra in [
                Some(&stream.primary_key),
                stream.incremental_column.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                if !names.contains(&extra) {
                    names.push(extra);
                }
            }
            names
                .iter()
                .map(|name| dialect.quote(name))
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

/// The query reading one page of a stream.
///
/// `filters` are the configured filters with their values already
/// converted (one parameter per value; several for `in`).
pub fn page_query(
    dialect: Dialect,
    stream: &SqlStreamConfig,
    filters: &[(Identifier, FilterOp, Vec<Param>)],
    pass: Pass,
    start: &PageStart,
    limit: u32,
) -> BuiltQuery {
    let mut binder = Binder {
        dialect,
        params: Vec::new(),
    };
    let mut conditions = Vec::new();
    for (column, op, values) in filters {
        let column = dialect.quote(column);
        if *op == FilterOp::In {
            let placeholders: Vec<String> = values
                .iter()
                .map(|value| binder.push(value.clone()))
                .collect();
            conditions.push(format!("{column} IN ({})", placeholders.join(", ")));
        } else if let Some(value) = values.first() {
            conditions.push(format!(
                "{column} {} {}",
                op.sql(),
                binder.push(value.clone())
            ));
        }
    }
    let pk = dialect.quote(&stream.primary_key);
    let incremental = stream
        .incremental_column
        .as_ref()
        .map(|column| dialect.quote(column));
    let order = match (&incremental, pass) {
        (Some(incremental), Pass::Main) => {
            conditions.push(format!("{incremental} IS NOT NULL"));
            format!("{incremental}, {pk}")
        }
        (Some(incremental), Pass::NullIncremental) => {
            conditions.push(format!("{incremental} IS NULL"));
            pk.clone()
        }
        (None, _) => pk.clone(),
    };
    match (start, &incremental, pass) {
        (PageStart::Beginning, _, _) => {}
        (PageStart::IncrementalFrom(from), Some(incremental), Pass::Main) => {
            conditions.push(format!("{incremental} >= {}", binder.push(from.clone())));
        }
        (
            PageStart::After {
                incremental: last,
                pk: last_pk,
            },
            Some(incremental),
            Pass::Main,
        ) => {
            // (inc, pk) > (last, last_pk), in a form each optimiser turns
            // into a range scan of an (inc, pk) index. `inc > $1 OR (inc =
            // $1 AND pk > $2)` is not one: PostgreSQL filters the index from
            // its start, so every page would cost more than the one before.
            match dialect {
                // Row values: an index condition on PostgreSQL, and on
                // SQLite (3.15 and later) a range on the index.
                Dialect::Postgres | Dialect::Sqlite => {
                    let first = binder.push(last.clone());
                    let second = binder.push(last_pk.clone());
                    conditions.push(format!("({incremental}, {pk}) > ({first}, {second})"));
                }
                // MySQL and MariaDB optimise row comparisons poorly; the
                // leading `inc >= last` gives them a range on the index.
                Dialect::MySql => {
                    let first = binder.push(last.clone());
                    let second = binder.push(last.clone());
                    let third = binder.push(last_pk.clone());
                    conditions.push(format!(
                        "{incremental} >= {first} AND ({incremental} > {second} OR {pk} > {third})"
                    ));
                }
            }
        }
        (PageStart::PkAfter(last_pk), _, _) => {
            conditions.push(format!("{pk} > {}", binder.push(last_pk.clone())));
        }
        // A start that does not fit the pass reads from the beginning.
        _ => {}
    }
    let mut sql = format!(
        "SELECT {} FROM {}",
        select_list(dialect, stream),
        dialect.quote_table(&stream.table)
    );
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    let limit = binder.push(Param::Int(i64::from(limit)));
    sql.push_str(&format!(" ORDER BY {order} LIMIT {limit}"));
    BuiltQuery {
        sql,
        params: binder.params,
    }
}

/// A query selecting no rows that names every column the stream uses, so
/// preparing it checks they exist and reports their types.
pub fn probe_query(dialect: Dialect, stream: &SqlStreamConfig) -> (String, Vec<Identifier>) {
    let mut columns = vec![stream.primary_key.clone()];
    if let Some(incremental) = &stream.incremental_column {
        columns.push(incremental.clone());
    }
    for filter in &stream.filters {
        columns.push(filter.column.clone());
    }
    if let Some(selected) = &stream.columns {
        columns.extend(selected.iter().cloned());
    }
    let mut unique: Vec<Identifier> = Vec::new();
    for column in columns {
        if !unique.contains(&column) {
            unique.push(column);
        }
    }
    let list: Vec<String> = unique.iter().map(|column| dialect.quote(column)).collect();
    (
        format!(
            "SELECT {} FROM {} WHERE 1 = 0",
            list.join(", "),
            dialect.quote_table(&stream.table)
        ),
        unique,
    )
}
