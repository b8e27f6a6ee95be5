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
        crate::connectors::stream_config(&self.id, &self.streams, name)
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
            let files = files_of(config).await?;
            let (mut bytes_read, mut records, mut unreadable, mut first_id) = (0, 0, 0, None);
            for file in &files {
                let bytes = read_file(file).await?;
                let parsed = parse_records(&bytes, config, 0);
                bytes_read += bytes.len();
                records += parsed.records.len();
                unreadable += parsed.rejected.len();
                if first_id.is_none() {
                    first_id = parsed
                        .records
                        .first()
                        .map(|record| record.source_id.clone());
                }
            }
            let sample = first_id
                .map(|id| format!(", first id {id:?}"))
                .unwrap_or_default();
            streams.push((
                name.clone(),
                format!(
                    "{}: {} file(s), {bytes_read} bytes, {records} records, {unreadable} unreadable{sample}",
                    config.path.display(),
                    files.len(),
                ),
            ));
        }
        Ok(CheckReport { streams })
    }

    async fn pull(
        &self,
        context: &SourceContext,
        stream: &str,
        cursor: Option<serde_json::Value>,
        batches: mpsc::Sender<StagedBatch>,
    ) -> Result<(), ConnectorError> {
        let config = self.stream(stream)?;
        if config.follow {
            return pull_appended(context, config, cursor, &batches).await;
        }
        // The cursor maps each file read to the SHA-256 it had: an unchanged
        // file is not read again.
        let mut seen = cursor
            .as_ref()
            .and_then(|cursor| cursor.get("files"))
            .and_then(serde_json::Value::as_object)
            .cloned()
            .unwrap_or_default();
        for file in files_of(config).await? {
            if context.shutdown.is_cancelled() {
                return Ok(());
            }
            let bytes = read_file(&file).await?;
            let name = file
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            let fingerprint = serde_json::Value::String(hex::encode(Sha256::digest(&bytes)));
            if seen.get(&name) == Some(&fingerprint) {
                continue;
            }
            seen.insert(name, fingerprint);
            let parsed = parse_records(&bytes, config, 0);
            // Only a file's last batch moves the cursor: a file read half-way
            // is read again from its start.
            let cursor = serde_json::json!({ "files": seen });
            send_in_batches(parsed, Some(cursor), &batches).await?;
        }
        Ok(())
    }
}

/// Sends parsed records in batches of [`BATCH_SIZE`]; the last batch carries
/// the rejections and `cursor`.
async fn send_in_batches(
    parsed: ParsedFile,
    cursor: Option<serde_json::Value>,
    batches: &mpsc::Sender<StagedBatch>,
) -> Result<(), ConnectorError> {
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
            cursor: if last { cursor.clone() } else { None },
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

/// The files a stream reads: its `path`, or the matching files of a folder
/// in name order.
async fn files_of(config: &FileStreamConfig) -> Result<Vec<std::path::PathBuf>, ConnectorError> {
    let metadata = tokio::fs::metadata(&config.path).await.map_err(|error| {
        ConnectorError::external(
            format!("cannot read {}: {error}", config.path.display()),
            false,
        )
    })?;
    if !metadata.is_dir() {
        return Ok(vec![config.path.clone()]);
    }
    let mut entries = tokio::fs::read_dir(&config.path).await.map_err(|error| {
        ConnectorError::external(
            format!("cannot list {}: {error}", config.path.display()),
            true,
        )
    })?;
    let mut files = Vec::new();
    while let Ok(Some(entry)) = entries.next_entry().await {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let wanted = config
            .pattern
            .as_deref()
            .is_none_or(|pattern| name_matches(pattern, &name));
        if wanted && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Whether `name` matches a pattern with at most one `*`.
pub(super) fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        Some((prefix, suffix)) => {
            name.len() >= prefix.len() + suffix.len()
                && name.starts_with(prefix)
                && name.ends_with(suffix)
        }
        None => pattern == name,
    }
}

/// How many bytes of a followed file's start identify it across syncs.
const HEAD_BYTES: usize = 1024;

/// The cursor of a followed file: how far it was read, and a hash of its
/// first bytes, which changes when the file is rotated.
fn follow_cursor(bytes: &[u8], offset: usize) -> serde_json::Value {
    let head = &bytes[..offset.min(HEAD_BYTES)];
    serde_json::json!({ "offset": offset, "head": hex::encode(Sha256::digest(head)) })
}

/// Reads what was appended to a followed file since `cursor`, in batches of
/// whole lines, each committed with the offset after its last line.
async fn pull_appended(
    context: &SourceContext,
    config: &FileStreamConfig,
    cursor: Option<serde_json::Value>,
    batches: &mpsc::Sender<StagedBatch>,
) -> Result<(), ConnectorError> {
    let bytes = read_file(&config.path).await?;
    let mut start = cursor
        .as_ref()
        .and_then(|cursor| cursor.get("offset"))
        .and_then(serde_json::Value::as_u64)
        .and_then(|offset| usize::try_from(offset).ok())
        .unwrap_or(0);
    let rotated = start > bytes.len() || cursor.as_ref() != Some(&follow_cursor(&bytes, start));
    if rotated {
        start = 0;
    }
    // A line without its newline is still being written: leave it for later.
    let Some(end) = bytes
        .iter()
        .rposition(|byte| *byte == b'\n')
        .map(|index| index + 1)
    else {
        return Ok(());
    };
    if end <= start {
        return Ok(());
    }
    let mut line_number = bytes[..start].iter().filter(|byte| **byte == b'\n').count() as u64;
    let mut chunk_start = start;
    while chunk_start < end {
        if context.shutdown.is_cancelled() {
            return Ok(());
        }
        let mut chunk_end = chunk_start;
        for _ in 0..BATCH_SIZE {
            match bytes[chunk_end..end].iter().position(|byte| *byte == b'\n') {
                Some(newline) => chunk_end += newline + 1,
                None => break,
            }
        }
        let parsed = parse_records(&bytes[chunk_start..chunk_end], config, line_number);
        line_number += bytes[chunk_start..chunk_end]
            .iter()
            .filter(|byte| **byte == b'\n')
            .count() as u64;
        let batch = StagedBatch {
            records: parsed.records,
            rejected: parsed.rejected,
            cursor: Some(follow_cursor(&bytes, chunk_end)),
        };
        if batches.send(batch).await.is_err() {
            return Err(ConnectorError::internal(
                "the sync stopped receiving records",
            ));
        }
        chunk_start = chunk_end;
    }
    Ok(())
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

/// Parses a whole file, or a run of whole lines starting after line
/// `line_offset`. Never fails: unreadable rows become rejections. A record
/// whose key repeats replaces the earlier one (later rows supersede).
pub(super) fn parse_records(
    bytes: &[u8],
    config: &FileStreamConfig,
    line_offset: u64,
) -> ParsedFile {
    let mut parsed = ParsedFile::default();
    match config.format {
        FileFormat::Csv => parse_csv(bytes, config, line_offset, &mut parsed),
        FileFormat::Jsonl => {
            for (index, line) in bytes.split(|byte| *byte == b'\n').enumerate() {
                let line = trim_line(line);
                if line.is_empty() {
                    continue;
                }
                let location = format!("line {}", line_offset + index as u64 + 1);
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
    keep_last_of_each_key(&mut parsed.records);
    parsed
}

/// Drops earlier records whose primary key appears again later.
fn keep_last_of_each_key(records: &mut Vec<SourceRecord>) {
    let mut last_index = std::collections::HashMap::new();
    for (index, record) in records.iter().enumerate() {
        last_index.insert(record.source_id.clone(), index);
    }
    if last_index.len() == records.len() {
        return;
    }
    let mut index = 0;
    records.retain(|record| {
        let keep = last_index.get(&record.source_id) == Some(&index);
        index += 1;
        keep
    });
}

fn parse_csv(bytes: &[u8], config: &FileStreamConfig, line_offset: u64, parsed: &mut ParsedFile) {
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
        let line = line_offset + row.position().map(|position| position.line()).unwrap_or(0);
        let location = format!("line {line}");
        let optional = if config.columns.is_some() {
            config.optional_columns.len()
        } else {
            0
        };
        if row.len() < header.len() || row.len() > header.len() + optional {
            let expected = if optional == 0 {
                format!("{}", header.len())
            } else {
                format!("{} to {}", header.len(), header.len() + optional)
            };
            parsed.rejected.push(Rejection {
                source_id: None,
                reason: format!(
                    "{location}: {} fields where {expected} are expected",
                    row.len()
                ),
                raw: String::from_utf8_lossy(row.as_slice()).into_owned(),
            });
            continue;
        }
        let mut object = serde_json::Map::new();
        let mut undecodable = false;
        let names = header.iter().chain(config.optional_columns.iter());
        for (name, field) in names.zip(row.iter()) {
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
    let fields = config.primary_key.fields();
    let parts: Option<Vec<String>> = fields
        .iter()
        .map(|field| lookup_text(&value, field))
        .collect();
    match parts {
        Some(parts) => parsed.records.push(SourceRecord {
            source_id: parts.join("|"),
            raw: value,
        }),
        None => parsed.rejected.push(Rejection {
            source_id: None,
            reason: format!(
                "{location}: missing primary key {}",
                fields
                    .iter()
                    .map(|field| format!("{field:?}"))
                    .collect::<Vec<_>>()
                    .join(" + ")
            ),
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
