//! Configuration of a `sql` connector: the connection and its streams.
//!
//! Nothing here is ever pasted into SQL as text except identifiers, and an
//! identifier is only accepted when it matches `^[A-Za-z_][A-Za-z0-9_]*$`
//! (a table may be `schema.table`); it is then quoted for the dialect.
//! Filter values are bound as query parameters.

use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::config::Secret;

/// The most rows one page may ask for.
pub const MAX_PAGE_SIZE: u32 = 100_000;

/// The connection part of a `sql` connector file (everything but `streams`).
///
/// ```toml
/// type = "sql"
/// url = "mysql://tierlink_reader@erp-db:3306/erp"
/// password = "${ERP_DB_PASSWORD}"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlConnectionConfig {
    /// The connection string: `postgres://…`, `mysql://…` (also MariaDB) or
    /// `sqlite://PATH` (relative to `tierlink.toml`). Either the whole URL
    /// is one `${ENV}` reference (then it may contain a password), or it is
    /// written out without a password and `password` holds it.
    pub url: String,
    /// The database password as a `${ENV}` reference, for a `url` written
    /// without one.
    pub password: Option<Secret>,
    /// The most connections the connector opens at once (default 2).
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}

fn default_max_connections() -> u32 {
    2
}

/// One table read as one stream.
///
/// ```toml
/// [streams.customers]
/// table = "erp.customers"
/// columns = ["id", "name", "mobile", "updated_at"]
/// primary_key = "id"
/// incremental_column = "updated_at"
/// page_size = 1000
/// filters = [{ column = "status", op = "=", value = "active" }]
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SqlStreamConfig {
    /// The table to read: a name, or `schema.table` (for MySQL the schema
    /// is the database).
    pub table: TableName,
    /// The columns to read; leave out (or write `["*"]`) for every column.
    /// The primary key and incremental column are always read.
    #[serde(default, deserialize_with = "deserialize_columns")]
    pub columns: Option<Vec<Identifier>>,
    /// The column that identifies a row: one column holding text or an
    /// integer, unique and never NULL.
    pub primary_key: Identifier,
    /// A column that grows when a row changes, such as `updated_at` (a
    /// timestamp) or a version number. With it a sync reads only rows
    /// changed since the last one; without it every sync reads the whole
    /// table (unchanged rows are then skipped by their content hash).
    pub incremental_column: Option<Identifier>,
    /// Rows per page; each page is committed with its cursor.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Conditions every row must meet, joined with AND; values are bound
    /// as parameters, never written into the SQL.
    #[serde(default)]
    pub filters: Vec<SqlFilter>,
    /// For a timestamp `incremental_column`: also re-read rows changed up
    /// to this many seconds before the cursor, for sources whose clocks or
    /// transactions commit late. Re-read rows that did not change are
    /// skipped by their content hash.
    pub lookback_seconds: Option<u32>,
}

fn default_page_size() -> u32 {
    1000
}

/// One condition on a column.
///
/// ```toml
/// filters = [
///     { column = "status", op = "in", value = ["active", "frozen"] },
///     { column = "deleted", op = "=", value = false },
/// ]
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SqlFilter {
    /// The column compared.
    pub column: Identifier,
    /// The comparison: `=`, `!=`, `<`, `<=`, `>`, `>=` or `in`.
    pub op: FilterOp,
    /// The value compared with: text, a number, a boolean or a date/time;
    /// a non-empty list for `in`. Converted to the column's type and bound
    /// as a parameter.
    pub value: toml::Value,
}

/// The comparisons a filter may use.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum FilterOp {
    /// Equal.
    #[serde(rename = "=")]
    Eq,
    /// Not equal (rows where the column is NULL never match).
    #[serde(rename = "!=")]
    Ne,
    /// Less than.
    #[serde(rename = "<")]
    Lt,
    /// Less than or equal.
    #[serde(rename = "<=")]
    Le,
    /// Greater than.
    #[serde(rename = ">")]
    Gt,
    /// Greater than or equal.
    #[serde(rename = ">=")]
    Ge,
    /// One of a list of values.
    #[serde(rename = "in")]
    In,
}

impl FilterOp {
    /// The SQL operator; a fixed string, never taken from configuration.
    pub fn sql(self) -> &'static str {
        match self {
            FilterOp::Eq => "=",
            FilterOp::Ne => "<>",
            FilterOp::Lt => "<",
            FilterOp::Le => "<=",
            FilterOp::Gt => ">",
            FilterOp::Ge => ">=",
            FilterOp::In => "IN",
        }
    }
}

/// A validated column name: `^[A-Za-z_][A-Za-z0-9_]*$`, at most 64 bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identifier(String);

impl Identifier {
    /// Accepts `name` when it is a plain identifier.
    pub fn parse(name: &str) -> Result<Identifier, String> {
        if is_identifier(name) {
            Ok(Identifier(name.to_string()))
        } else {
            Err(format!(
                "{name:?} is not a valid column name: use letters, digits and '_' only, \
                 not starting with a digit, at most 64 characters"
            ))
        }
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Identifier {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Identifier::parse(&name).map_err(serde::de::Error::custom)
    }
}

/// A validated table name, optionally qualified by its schema.
#[derive(Clone, PartialEq, Eq)]
pub struct TableName {
    /// The schema (PostgreSQL), database (MySQL) or attached database
    /// (SQLite) the table is in, when given.
    pub schema: Option<Identifier>,
    /// The table itself.
    pub name: Identifier,
}

impl TableName {
    /// Accepts `table` or `schema.table`, each part a plain identifier.
    pub fn parse(text: &str) -> Result<TableName, String> {
        let invalid = || {
            format!(
                "{text:?} is not a valid table name: use letters, digits and '_' only, \
                 optionally as schema.table"
            )
        };
        let (schema, name) = match text.split_once('.') {
            Some((schema, name)) => (Some(schema), name),
            None => (None, text),
        };
        let name = Identifier::parse(name).map_err(|_| invalid())?;
        let schema = match schema {
            Some(schema) => Some(Identifier::parse(schema).map_err(|_| invalid())?),
            None => None,
        };
        Ok(TableName { schema, name })
    }
}

impl fmt::Debug for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

impl<'de> Deserialize<'de> for TableName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        TableName::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// `columns`: a list of identifiers, where `["*"]` means every column.
fn deserialize_columns<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<Identifier>>, D::Error> {
    let names = Vec::<String>::deserialize(deserializer)?;
    if names.is_empty() || names == ["*"] {
        return Ok(None);
    }
    names
        .iter()
        .map(|name| Identifier::parse(name).map_err(serde::de::Error::custom))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Whether `name` is a plain SQL identifier tierlink will quote and use.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    name.len() <= 64
        && (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
