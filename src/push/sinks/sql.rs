//! The `sql` sink: the tier label written into one column of a table, by
//! the record's key, with bound parameters. The column is only written
//! where it is empty or holds a label tierlink wrote; a value somebody else
//! put there is left alone and the record is reported.
//!
//! It connects like the connector (`url`, `password`), or to the database
//! named in `[push]`, through a writable session of its own: give that
//! user UPDATE on the one column.
//!
//! ```toml
//! [push]
//! sink = "sql"
//! table = "customers"
//! key_column = "id"
//! key_type = "integer"          # or "text" (default)
//! label_column = "customer_tier"
//! # url = "${ERP_WRITE_URL}"    # another connection for writing
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use super::{BatchOutcome, Carried, Failure, LabelChange, Sink, SinkDefinition};
use crate::config::{deserialize_section, Problem, Secret};
use crate::connectors::sql::{
    connection_from, ColumnWrite, Identifier, LabelColumn, SqlConnectionConfig, TableName,
};
use crate::connectors::{ConnectorError, SourceContext};

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum KeyType {
    Text,
    Integer,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    table: TableName,
    key_column: Identifier,
    label_column: Identifier,
    #[serde(default = "default_key_type")]
    key_type: KeyType,
    url: Option<String>,
    password: Option<Secret>,
}

fn default_key_type() -> KeyType {
    KeyType::Text
}

pub fn build(definition: &SinkDefinition) -> Result<Arc<dyn Sink>, Vec<Problem>> {
    let settings: Settings = definition.settings()?;
    let connector = definition.connector;
    // The connection: [push]'s own, or the connector's.
    let mut table = toml::Table::new();
    match &settings.url {
        Some(url) => {
            table.insert("url".to_string(), toml::Value::String(url.clone()));
        }
        None if definition.connector_kind == "sql" => {
            for key in ["url", "password", "max_connections"] {
                if let Some(value) = connector.table.get(key) {
                    table.insert(key.to_string(), value.clone());
                }
            }
        }
        None => {
            return Err(vec![Problem::new(
                connector.file,
                "push.url",
                "the sql sink needs a database: this connector is not a sql connector",
            )
            .with_hint("add url = \"${LABELS_DB_URL}\" to [push]")]);
        }
    }
    let config: SqlConnectionConfig =
        deserialize_section(connector.file, "push", toml::Value::Table(table))
            .map_err(|problem| vec![problem])?;
    let config = SqlConnectionConfig {
        password: settings.password.clone().or(config.password),
        ..config
    };
    let mut problems = Vec::new();
    let Some(connection) = connection_from(connector, config, &mut problems) else {
        return Err(problems);
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Arc::new(SqlSink {
        column: LabelColumn::new(
            connector.id,
            connection,
            settings.table,
            settings.key_column,
            settings.label_column,
            settings.key_type == KeyType::Integer,
        ),
    }))
}

#[derive(Debug)]
struct SqlSink {
    column: LabelColumn,
}

#[async_trait]
impl Sink for SqlSink {
    fn batch_size(&self) -> usize {
        50
    }

    async fn apply(&self, _context: &SourceContext, changes: &[LabelChange]) -> BatchOutcome {
        let mut outcomes = Vec::with_capacity(changes.len());
        for change in changes {
            let request = format!(
                "UPDATE set {:?} where key = {:?}",
                change.label, change.source_id
            );
            outcomes.push(
                match self
                    .column
                    .write(&change.source_id, change.label.as_deref(), &change.remove)
                    .await
                {
                    Ok(ColumnWrite::Written) => Ok(()),
                    Ok(ColumnWrite::NoRow) => Err(Failure::refused(
                        format!("no row has key {:?}", change.source_id),
                        request,
                    )),
                    Ok(ColumnWrite::Foreign(value)) => Err(Failure::refused(
                        format!(
                            "the column holds {value:?}, which tierlink did not write; it was left alone"
                        ),
                        request,
                    )),
                    Err(error) => Err(Failure::of(request, &error)),
                },
            );
        }
        Ok(outcomes)
    }

    async fn read_labels(
        &self,
        _context: &SourceContext,
        source_ids: &[String],
    ) -> Result<Vec<Carried>, ConnectorError> {
        let found = self.column.read(source_ids).await?;
        Ok(source_ids
            .iter()
            .map(|id| match found.get(id) {
                Some(value) => Carried::Labels(value.iter().cloned().collect()),
                None => Carried::Gone,
            })
            .collect())
    }
}
