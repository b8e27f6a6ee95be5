//! Reading a file stream into batches of records.
//!
//! The cursor of a file stream is the SHA-256 of the file: an unchanged
//! file is not read again. A changed file is read whole; staging compares
//! each record's content hash, so only new and changed records go on.

use std::borrow::Cow;
use std::path::Path;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::config::{FileEncoding, FileFormat, FileStreamConfig};
use crate::connectors::{CheckReport, ConnectorError, Source, SourceContext};
use crate::mapping::path::lookup_text;
use crate::store::{Rejection, SourceRecord, StagedBatch};

/// Records per batch; each batch is committed in one transaction.
const BATCH_SIZE: usize = 1000;

/// A source reading one file per stream.
#[derive(Debug)]
pub struct FileSource {
    id: String,
    streams: Vec<(String, FileStreamConfig)>,
}

impl FileSource {
    pub fn new(id: &str, streams: Vec<(String, FileStreamConfig)>) -> FileSource {
        FileSource {
            id: id.to_string(),
            streams,
        }
    }

    fn stream(&self, name: &str) -> Result<&FileStreamConfig, ConnectorError> {
        self.streams
            .iter()
            .find(|(stream, _)| stream == name)
            .map(|(_, config)| config)
            .ok_or_else(|| {
                ConnectorError::config(format!("connector {} has no stream {name:?}", self.id))
            })
    }
}

#[async_trait]
impl Source for FileSource {
    fn streams(&self) -> Vec<String> {
        self.streams.iter().map(|(name, _)| name.clone()).collect()
    }

    async fn check(&self, _context: &SourceContext) -> Result<CheckReport, ConnectorError> {
        let mut streams = Vec::new();
        for (name, config) in &self.streams {
            let bytes = read_file(&config.path).await?;
            let parsed = parse_records(&bytes, config);
            let sample = parsed
                .records
                .first()
                .map(|record| format!(", first id {:?}", record.source_id))
                .unwrap_or_default();
            streams.push((
                name.clone(),
                format!(
                    "{}: {} bytes, {} records, {} unreadable{sample}",
                    config.path.display(),
                    bytes.len(),
                    parsed.records.len(),
                    parsed.rejected.len()
                ),
            ));
        }
        Ok(CheckReport { streams })
    }

    async fn pull(
        &self,
        _context: &SourceContext,
        stream: &str,
        cursor: Option<serde_json::Value>,
        batches: mpsc::Sender<StagedBatch>,
    ) -> Result<(), ConnectorError> {
        let config = self.stream(stream)?;
        let bytes = read_file(&config.path).await?;
        let fingerprint = serde_json::json!({ "sha256": hex::encode(Sha256::digest(&bytes)) });
        if cursor.as_ref() == Some(&fingerprint) {
            return Ok(());
        }
        let parsed = parse_records(&bytes, config);
        let mut records = parsed.records.into_iter().peekable();
        let mut rejected = parsed.rejected;
        loop {
            let chunk: Vec<SourceRecord> = records.by_ref().take(BATCH_SIZE).collect();
            let last = records.peek().is_none();
            let batch = StagedBatch {
                records: chunk,
                rejected: if last {
                    std::mem::take(&mut rejected)
                } else {
                    Vec::new()
                },
                // Only the last batch moves the cursor: a file read half-way
                // is read again from the start.
                cursor: last.then(|| fingerprint.clone()),
            };
            if batches.send(batch).await.is_err() {
                return Err(ConnectorError::internal(
                    "the sync stopped receiving records",
                ));
            }
            if last {
                return Ok(());
            }
        }
    }
}

async fn read_file(path: &Path) -> Result<Vec<u8>, ConnectorError> {
    tokio::fs::read(path).await.map_err(|error| {
        let retryable = error.kind() != std::io::ErrorKind::NotFound;
        ConnectorError::external(
            format!("cannot read {}: {error}", path.display()),
            retryable,
        )
    })
}

/// The records of a file, and the rows that could not be read.
#[derive(Debug, Default)]
pub(super) struct ParsedFile {
    pub records: Vec<SourceRecord>,
    pub rejected: Vec<Rejection>,
}

/// Parses a whole file. Never fails: unreadable rows become rejections.
pub(super) fn parse_records(bytes: &[u8], config: &FileStreamConfig) -> ParsedFile {
    let mut parsed = ParsedFile::default();
    match config.format {
        FileFormat::Csv => parse_csv(bytes, config, &mut parsed),
        FileFormat::Jsonl => {
            for (index, line) in bytes.split(|byte| *byte == b'\n').enumerate() {
                let line = trim_line(line);
                if line.is_empty() {
                    continue;
                }
                let location = format!("line {}", index + 1);
                match decode(line, config.encoding) {
                    Some(text) => match serde_json::from_str(&text) {
                        Ok(value) => keep(value, &location, config, &mut parsed),
                        Err(error) => parsed.rejected.push(Rejection {
                            source_id: None,
                            reason: format!("{location}: malformed JSON: {error}"),
                            raw: text.into_owned(),
                        }),
                    },
                    None => reject_undecodable(line, &location, config.encoding, &mut parsed),
                }
            }
        }
        FileFormat::Json => parse_json_document(bytes, config, &mut parsed),
    }
    parsed
}

fn parse_csv(bytes: &[u8], config: &FileStreamConfig, parsed: &mut ParsedFile) {
    let delimiter = u8::try_from(config.delimiter).unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(config.columns.is_none())
        .flexible(true)
        .from_reader(bytes);
    let header: Vec<String> = match &config.columns {
        Some(columns) => columns.clone(),
        None => match reader.byte_headers() {
            Ok(header) => header
                .iter()
                .map(|field| {
                    decode(field, config.encoding)
                        .map(|text| text.trim().to_string())
                        .unwrap_or_default()
                })
                .collect(),
            Err(error) => {
                parsed.rejected.push(Rejection {
                    source_id: None,
                    reason: format!("unreadable CSV header: {error}"),
                    raw: String::from_utf8_lossy(
                        bytes
                            .iter()
                            .take(1024)
                            .copied()
                            .collect::<Vec<u8>>()
                            .as_slice(),
                    )
                    .into_owned(),
                });
                return;
            }
        },
    };
    for row in reader.byte_records() {
        let row = match row {
            Ok(row) => row,
            Err(error) => {
                let line = error
                    .position()
                    .map(|position| position.line())
                    .unwrap_or(0);
                parsed.rejected.push(Rejection {
                    source_id: None,
                    reason: format!("line {line}: unreadable CSV row: {error}"),
                    raw: String::new(),
                });
                continue;
            }
        };
        let line = row.position().map(|position| position.line()).unwrap_or(0);
        let location = format!("line {line}");
        if row.len() != header.len() {
            parsed.rejected.push(Rejection {
                source_id: None,
                reason: format!(
                    "{location}: {} fields where the header has {}",
                    row.len(),
                    header.len()
                ),
                raw: String::from_utf8_lossy(row.as_slice()).into_owned(),
            });
            continue;
        }
        let mut object = serde_json::Map::new();
        let mut undecodable = false;
        for (name, field) in header.iter().zip(row.iter()) {
            match decode(field, config.encoding) {
                Some(text) => {
                    object.insert(name.clone(), serde_json::Value::String(text.into_owned()));
                }
                None => undecodable = true,
            }
        }
        if undecodable {
            reject_undecodable(row.as_slice(), &location, config.encoding, parsed);
            continue;
        }
        keep(serde_json::Value::Object(object), &location, config, parsed);
    }
}

fn parse_json_document(bytes: &[u8], config: &FileStreamConfig, parsed: &mut ParsedFile) {
    let Some(text) = decode(bytes, config.encoding) else {
        reject_undecodable(bytes, "the document", config.encoding, parsed);
        return;
    };
    let document: serde_json::Value = match serde_json::from_str(&text) {
        Ok(document) => document,
        Err(error) => {
            parsed.rejected.push(Rejection {
                source_id: None,
                reason: format!("malformed JSON document: {error}"),
                raw: text.into_owned(),
            });
            return;
        }
    };
    let records = match &config.records_path {
        Some(path) => crate::mapping::path::lookup(&document, path).cloned(),
        None => Some(document),
    };
    match records {
        Some(serde_json::Value::Array(items)) => {
            for (index, item) in items.into_iter().enumerate() {
                keep(item, &format!("record {}", index + 1), config, parsed);
            }
        }
        _ => parsed.rejected.push(Rejection {
            source_id: None,
            reason: format!(
                "the document has no array of records at {:?}",
                config.records_path.as_deref().unwrap_or("the top level")
            ),
            raw: text.into_owned(),
        }),
    }
}

/// Keeps a record that has a primary key, rejects one that has none.
fn keep(
    value: serde_json::Value,
    location: &str,
    config: &FileStreamConfig,
    parsed: &mut ParsedFile,
) {
    match lookup_text(&value, &config.primary_key) {
        Some(source_id) => parsed.records.push(SourceRecord {
            source_id,
            raw: value,
        }),
        None => parsed.rejected.push(Rejection {
            source_id: None,
            reason: format!("{location}: missing primary key {:?}", config.primary_key),
            raw: value.to_string(),
        }),
    }
}

fn reject_undecodable(
    bytes: &[u8],
    location: &str,
    encoding: FileEncoding,
    parsed: &mut ParsedFile,
) {
    parsed.rejected.push(Rejection {
        source_id: None,
        reason: format!("{location}: not valid {} text", encoding_name(encoding)),
        // Kept lossily so the row can be inspected; the bytes were unreadable.
        raw: String::from_utf8_lossy(bytes).into_owned(),
    });
}

fn trim_line(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line)
}

fn encoding_name(encoding: FileEncoding) -> &'static str {
    match encoding {
        FileEncoding::Utf8 => "UTF-8",
        FileEncoding::Gbk => "GBK",
        FileEncoding::Gb18030 => "GB18030",
    }
}

/// Decodes bytes strictly: `None` when they are not valid in the encoding.
pub(super) fn decode(bytes: &[u8], encoding: FileEncoding) -> Option<Cow<'_, str>> {
    let encoding = match encoding {
        FileEncoding::Utf8 => {
            let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            return std::str::from_utf8(bytes).ok().map(Cow::Borrowed);
        }
        FileEncoding::Gbk => encoding_rs::GBK,
        FileEncoding::Gb18030 => encoding_rs::GB18030,
    };
    encoding.decode_without_bom_handling_and_without_replacement(bytes)
}
