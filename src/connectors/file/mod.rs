//! The `file` connector: CSV, JSON Lines and JSON files on disk, e.g. a
//! nightly export from an ERP or a shop.

mod config;
mod source;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::config::{closest, deserialize_section, env, Problem};

use super::{ConnectorDefinition, Source};

pub use config::{FileEncoding, FileFormat, FileStreamConfig};
pub use source::FileSource;

/// Builds a file source from its connector file, reporting every stream's
/// problems at once.
pub fn build(definition: &ConnectorDefinition) -> Result<Arc<dyn Source>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut table = definition.table.clone();
    let streams_value = table.remove("streams");
    for key in table.keys() {
        let hint = match closest(key, &["type", "description", "streams"]) {
            Some(meant) => format!("did you mean `{meant}`?"),
            None => "a file connector has `type`, `description` and `[streams.<name>]` tables"
                .to_string(),
        };
        problems.push(
            Problem::new(
                definition.file,
                key.clone(),
                "unknown field for a file connector",
            )
            .with_hint(hint),
        );
    }
    let Some(toml::Value::Table(streams_table)) = streams_value else {
        problems.push(
            Problem::new(
                definition.file,
                "streams",
                "a file connector needs at least one stream",
            )
            .with_hint("add a table like [streams.customers] with path, format and primary_key"),
        );
        return Err(problems);
    };
    let mut streams = Vec::new();
    for (name, value) in streams_table {
        let prefix = format!("streams.{name}");
        match deserialize_section::<FileStreamConfig>(definition.file, &prefix, value) {
            Ok(stream) if stream.follow && stream.format == FileFormat::Json => problems.push(
                Problem::new(
                    definition.file,
                    format!("{prefix}.follow"),
                    "a JSON document cannot be followed",
                )
                .with_hint("follow CSV or JSON Lines files, whose records are lines"),
            ),
            Ok(stream)
                if stream.follow
                    && stream.format == FileFormat::Csv
                    && stream.columns.is_none() =>
            {
                problems.push(
                    Problem::new(
                        definition.file,
                        format!("{prefix}.columns"),
                        "a followed CSV file needs its columns",
                    )
                    .with_hint("list the column names, e.g. the Asterisk Master.csv columns"),
                )
            }
            Ok(stream) if !stream.optional_columns.is_empty() && stream.columns.is_none() => {
                problems.push(
                    Problem::new(
                        definition.file,
                        format!("{prefix}.optional_columns"),
                        "optional columns follow the `columns` of a file without a header",
                    )
                    .with_hint("set `columns` too, or drop `optional_columns` for a file with a header row"),
                )
            }
            Ok(stream) => {
                // `${NAME}` in a path is allowed; a missing variable is
                // reported by the config loader with the field.
                let Ok(path) = env::interpolate(&stream.path.to_string_lossy(), &env::process_env)
                else {
                    continue;
                };
                let path = definition.base_dir.join(path);
                streams.push((name, FileStreamConfig { path, ..stream }));
            }
            Err(problem) => problems.push(problem),
        }
    }
    if streams.is_empty() && problems.is_empty() {
        problems.push(Problem::new(
            definition.file,
            "streams",
            "a file connector needs at least one stream",
        ));
    }
    if problems.is_empty() {
        Ok(Arc::new(FileSource::new(definition.id, streams)))
    } else {
        Err(problems)
    }
}
