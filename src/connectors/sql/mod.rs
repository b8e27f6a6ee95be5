//! The `sql` connector: tables in PostgreSQL, MySQL/MariaDB or SQLite, read
//! incrementally with keyset paging, e.g. an ERP's customers table.
//!
//! ```toml
//! type = "sql"
//! url = "mysql://tierlink_reader@erp-db:3306/erp"
//! password = "${ERP_DB_PASSWORD}"
//!
//! [streams.customers]
//! table = "customers"
//! primary_key = "id"
//! incremental_column = "updated_at"
//! filters = [{ column = "status", op = "=", value = "active" }]
//! ```
//!
//! Configuration values never become SQL text: identifiers are validated
//! and quoted, every value is a bound parameter.

mod config;
mod decode;
mod query;
mod source;
mod write;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::config::{deserialize_section, env, join_field, Problem, Secret, SecretError};

use super::{ConnectorDefinition, Source};

pub use config::{
    is_identifier, FilterOp, Identifier, SqlConnectionConfig, SqlFilter, SqlStreamConfig,
    TableName, MAX_PAGE_SIZE,
};
pub use query::Dialect;
pub use source::{redact, ConnectionUrl, SqlConnection, SqlSource};
pub use write::{ColumnWrite, LabelColumn};

/// Builds a sql source from its connector file, reporting every problem
/// in the connection and every stream at once.
pub fn build(definition: &ConnectorDefinition) -> Result<Arc<dyn Source>, Vec<Problem>> {
    let file = definition.file;
    let mut problems = Vec::new();
    let mut table = definition.table.clone();
    let streams_value = table.remove("streams");
    let connection =
        match deserialize_section::<SqlConnectionConfig>(file, "", toml::Value::Table(table)) {
            Ok(connection) => connection_from(definition, connection, &mut problems),
            Err(problem) => {
                problems.push(problem);
                None
            }
        };

    let mut streams = Vec::new();
    match streams_value {
        Some(toml::Value::Table(streams_table)) => {
            for (name, value) in streams_table {
                let prefix = format!("streams.{name}");
                if let Some(stream) = stream_from(definition, &prefix, value, &mut problems) {
                    streams.push((name, stream));
                }
            }
        }
        _ => problems.push(
            Problem::new(file, "streams", "a sql connector needs at least one stream")
                .with_hint(
                    "add a table like [streams.customers] with table, primary_key and incremental_column",
                ),
        ),
    }
    if let Some(connection) = &connection {
        if connection.dialect == Dialect::Sqlite {
            for (name, stream) in &streams {
                if stream.lookback_seconds.is_some_and(|seconds| seconds > 0) {
                    problems.push(
                        Problem::new(
                            file,
                            format!("streams.{name}.lookback_seconds"),
                            "lookback_seconds is not supported for SQLite, which stores timestamps as text",
                        )
                        .with_hint("remove it; SQLite databases are written by one process, so rows do not commit late"),
                    );
                }
            }
        }
    }
    match connection {
        Some(connection) if problems.is_empty() => {
            Ok(Arc::new(SqlSource::new(definition.id, connection, streams)))
        }
        // A missing `${ENV}` is reported by the config loader with its
        // field; then `problems` may be empty here, and the loader's own
        // problems fail the file.
        _ => Err(problems),
    }
}

/// Resolves the connection string and password; `None` when they are
/// unusable (the problems say why).
pub(crate) fn connection_from(
    definition: &ConnectorDefinition,
    config: SqlConnectionConfig,
    problems: &mut Vec<Problem>,
) -> Option<SqlConnection> {
    let file = definition.file;
    let use_password_hint =
        "write the url without the password and add password = \"${DB_PASSWORD}\", \
         or put the whole url in an environment variable: url = \"${ERP_DB_URL}\"";
    let (url, text) = match Secret::from_reference(&config.url) {
        Ok(secret) => {
            let text = secret.expose().to_string();
            (ConnectionUrl::Secret(secret), text)
        }
        Err(SecretError::MissingEnv(_)) => return None,
        Err(SecretError::NotAReference) => {
            if source::url_password(&config.url).is_some() {
                problems.push(
                    Problem::new(
                        file,
                        "url",
                        "the url contains a password written in the file",
                    )
                    .with_hint(use_password_hint),
                );
                return None;
            }
            // Other `${NAME}` references (a host, a database) are allowed.
            let Ok(text) = env::interpolate(&config.url, &env::process_env) else {
                return None;
            };
            if source::url_password(&text).is_some() {
                problems.push(
                    Problem::new(
                        file,
                        "url",
                        "an environment variable inside the url adds a password to it",
                    )
                    .with_hint(use_password_hint),
                );
                return None;
            }
            (ConnectionUrl::Plain(text.clone()), text)
        }
    };
    let shown = match &url {
        ConnectionUrl::Secret(secret) => format!("the url in {secret}"),
        ConnectionUrl::Plain(text) => format!("{text:?}"),
    };
    let Some(dialect) = Dialect::from_url(&text) else {
        problems.push(
            Problem::new(
                file,
                "url",
                format!("{shown} does not name a supported database"),
            )
            .with_hint("start it with postgres://, mysql:// (also for MariaDB) or sqlite://"),
        );
        return None;
    };
    if let Some(password) = &config.password {
        if dialect == Dialect::Sqlite {
            problems.push(
                Problem::new(file, "password", "a SQLite database has no password")
                    .with_hint("remove the field"),
            );
        } else if source::url_password(&text).is_some() {
            problems.push(
                Problem::new(
                    file,
                    "password",
                    format!("{shown} already has a password; {password} would replace it"),
                )
                .with_hint("keep the password in one place"),
            );
        }
    }
    if config.max_connections == 0 {
        problems.push(
            Problem::new(file, "max_connections", "must be at least 1")
                .with_hint("leave it out for 2"),
        );
    }
    Some(SqlConnection {
        url,
        password: config.password,
        dialect,
        base_dir: definition.base_dir.to_path_buf(),
        max_connections: config.max_connections,
    })
}

/// Reads one `[streams.<name>]` table, or adds its problems.
fn stream_from(
    definition: &ConnectorDefinition,
    prefix: &str,
    value: toml::Value,
    problems: &mut Vec<Problem>,
) -> Option<SqlStreamConfig> {
    let file = definition.file;
    let value = match value {
        toml::Value::Table(mut table) => {
            if table.remove("where").is_some() {
                problems.push(
                    Problem::new(
                        file,
                        join_field(prefix, "where"),
                        "free SQL conditions are not accepted",
                    )
                    .with_hint(
                        "use filters = [{ column = \"status\", op = \"=\", value = \"active\" }] \
                         with op one of =, !=, <, <=, >, >=, in",
                    ),
                );
            }
            toml::Value::Table(table)
        }
        other => other,
    };
    let stream = match deserialize_section::<SqlStreamConfig>(file, prefix, value) {
        Ok(stream) => stream,
        Err(problem) => {
            problems.push(problem);
            return None;
        }
    };
    let before = problems.len();
    if stream.page_size == 0 || stream.page_size > MAX_PAGE_SIZE {
        problems.push(
            Problem::new(
                file,
                join_field(prefix, "page_size"),
                format!("{} is not between 1 and {MAX_PAGE_SIZE}", stream.page_size),
            )
            .with_hint("leave it out for 1000"),
        );
    }
    if stream.lookback_seconds.is_some() && stream.incremental_column.is_none() {
        problems.push(
            Problem::new(
                file,
                join_field(prefix, "lookback_seconds"),
                "lookback_seconds needs an incremental_column",
            )
            .with_hint("set incremental_column to a timestamp column such as updated_at, or remove lookback_seconds"),
        );
    }
    for (index, filter) in stream.filters.iter().enumerate() {
        let field = join_field(prefix, &format!("filters[{index}].value"));
        let scalar =
            |value: &toml::Value| !matches!(value, toml::Value::Array(_) | toml::Value::Table(_));
        match (&filter.op, &filter.value) {
            (FilterOp::In, toml::Value::Array(items))
                if !items.is_empty() && items.iter().all(scalar) => {}
            (FilterOp::In, _) => problems.push(
                Problem::new(file, field, "`in` needs a non-empty list of values")
                    .with_hint("write value = [\"a\", \"b\"]"),
            ),
            (_, value) if scalar(value) => {}
            (op, _) => problems.push(
                Problem::new(
                    file,
                    field,
                    format!(
                        "`{}` compares with one value, not a list or table",
                        op.sql()
                    ),
                )
                .with_hint("use op = \"in\" for a list"),
            ),
        }
    }
    (problems.len() == before).then_some(stream)
}
