//! The `file` sink: a label export for systems without an API. The file
//! holds every labelled record of the connector (source id, label, golden
//! id, tier, rules version), as CSV or JSON Lines, and is replaced
//! atomically (written aside, synced, renamed) on every push that changes
//! something.
//!
//! ```toml
//! [push]
//! sink = "file"
//! format = "csv"                      # or "jsonl"
//! path = "out/labels/erp.csv"         # default: <paths.output>/labels/<id>.<format>
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use super::{BatchOutcome, Carried, Failure, LabelChange, Sink, SinkDefinition};
use crate::config::Problem;
use crate::connectors::{ConnectorError, SourceContext};

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Format {
    Csv,
    Jsonl,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "default_format")]
    format: Format,
    path: Option<PathBuf>,
}

fn default_format() -> Format {
    Format::Csv
}

pub fn build(definition: &SinkDefinition) -> Result<Arc<dyn Sink>, Vec<Problem>> {
    let settings: Settings = definition.settings()?;
    let extension = match settings.format {
        Format::Csv => "csv",
        Format::Jsonl => "jsonl",
    };
    let path = match settings.path {
        Some(path) if path.is_absolute() => path,
        Some(path) => definition.connector.base_dir.join(path),
        None => definition
            .output_dir
            .join("labels")
            .join(format!("{}.{extension}", definition.connector.id)),
    };
    Ok(Arc::new(FileSink {
        path,
        format: settings.format,
    }))
}

#[derive(Debug)]
struct FileSink {
    path: PathBuf,
    format: Format,
}

/// One line of the export.
#[derive(serde::Serialize, Deserialize)]
struct Line {
    source_id: String,
    label: String,
    golden_id: String,
    tier: String,
    rules_version: String,
}

impl FileSink {
    fn write(&self, changes: &[LabelChange]) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut partial = self.path.clone().into_os_string();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let mut lines: Vec<Line> = changes
            .iter()
            .filter_map(|change| {
                Some(Line {
                    source_id: change.source_id.clone(),
                    label: change.label.clone()?,
                    golden_id: change.golden_id.clone().unwrap_or_default(),
                    tier: change.tier.clone().unwrap_or_default(),
                    rules_version: change.rules_version.clone(),
                })
            })
            .collect();
        lines.sort_by(|a, b| a.source_id.cmp(&b.source_id));
        let file = std::fs::File::create(&partial)?;
        let mut out = std::io::BufWriter::new(file);
        match self.format {
            Format::Csv => {
                let mut writer = csv::Writer::from_writer(&mut out);
                for line in &lines {
                    writer.serialize(line)?;
                }
                writer.flush()?;
            }
            Format::Jsonl => {
                for line in &lines {
                    serde_json::to_writer(&mut out, line)?;
                    out.write_all(b"\n")?;
                }
            }
        }
        let file = out.into_inner().map_err(|error| error.into_error())?;
        file.sync_all()?;
        std::fs::rename(&partial, &self.path)
    }

    fn read(&self) -> Result<Vec<Line>, String> {
        let text = std::fs::read_to_string(&self.path).map_err(|error| error.to_string())?;
        match self.format {
            Format::Csv => csv::Reader::from_reader(text.as_bytes())
                .deserialize()
                .collect::<Result<_, _>>()
                .map_err(|error| error.to_string()),
            Format::Jsonl => text
                .lines()
                .filter(|line| !line.trim().is_empty())
                .map(|line| serde_json::from_str(line).map_err(|error| error.to_string()))
                .collect(),
        }
    }
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

#[async_trait]
impl Sink for FileSink {
    fn batch_size(&self) -> usize {
        usize::MAX
    }

    fn snapshot(&self) -> bool {
        true
    }

    fn read_batch_size(&self) -> usize {
        usize::MAX
    }

    async fn apply(&self, _context: &SourceContext, changes: &[LabelChange]) -> BatchOutcome {
        match self.write(changes) {
            Ok(()) => Ok(vec![Ok(()); changes.len()]),
            Err(error) => Err(Failure {
                retryable: true,
                ..Failure::refused(
                    format!("writing {} failed: {error}", shown(&self.path)),
                    format!("write {} labels to {}", changes.len(), shown(&self.path)),
                )
            }),
        }
    }

    async fn read_labels(
        &self,
        _context: &SourceContext,
        source_ids: &[String],
    ) -> Result<Vec<Carried>, ConnectorError> {
        let lines = self.read().map_err(|error| {
            ConnectorError::external(
                format!("reading {} failed: {error}", shown(&self.path)),
                false,
            )
        })?;
        let by_id: std::collections::HashMap<&str, &str> = lines
            .iter()
            .map(|line| (line.source_id.as_str(), line.label.as_str()))
            .collect();
        Ok(source_ids
            .iter()
            .map(|id| match by_id.get(id.as_str()) {
                Some(label) => Carried::Labels(vec![label.to_string()]),
                None => Carried::Labels(Vec::new()),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(id: &str, label: Option<&str>) -> LabelChange {
        LabelChange {
            source_id: id.to_string(),
            golden_id: Some(format!("G-{id}")),
            tier: Some("high-value".to_string()),
            label: label.map(str::to_string),
            remove: Vec::new(),
            rules_version: "v1".to_string(),
        }
    }

    #[tokio::test]
    async fn both_formats_write_every_label_and_read_them_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = crate::store::open("sqlite::memory:", dir.path())
            .await
            .expect("store");
        let context = SourceContext::new(store);
        for format in [Format::Csv, Format::Jsonl] {
            let sink = FileSink {
                path: dir.path().join(format!("labels/erp.{format:?}")),
                format,
            };
            let changes = [
                change("b-2", Some("高价值客户")),
                change("a-1", Some("tier:high-value, \"quoted\"")),
                change("c-3", None),
            ];
            let outcomes = sink.apply(&context, &changes).await.expect("written");
            assert_eq!(outcomes.len(), 3);
            let ids = ["a-1".to_string(), "b-2".to_string(), "c-3".to_string()];
            let carried = sink.read_labels(&context, &ids).await.expect("read");
            assert_eq!(
                carried,
                [
                    Carried::Labels(vec!["tier:high-value, \"quoted\"".to_string()]),
                    Carried::Labels(vec!["高价值客户".to_string()]),
                    // A record without a label is not in the file.
                    Carried::Labels(Vec::new()),
                ],
                "{format:?}"
            );
            let text = std::fs::read_to_string(&sink.path).expect("file");
            assert!(text.find("a-1") < text.find("b-2"), "sorted: {text}");
            assert!(!dir
                .path()
                .join(format!("labels/erp.{format:?}.partial"))
                .exists());
        }
    }
}
