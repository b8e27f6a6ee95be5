//! Tests of the file connector: formats, encodings, rejections and the
//! unchanged-file cursor.

use std::path::PathBuf;

use tokio::sync::mpsc;

use super::config::{FileEncoding, FileFormat, FileStreamConfig, PrimaryKey};
use super::source::{name_matches, parse_records, FileSource};
use crate::connectors::Source;
use crate::store::StagedBatch;

fn stream(format: FileFormat, primary_key: &str) -> FileStreamConfig {
    FileStreamConfig::new(PathBuf::new(), format, primary_key)
}

#[test]
fn csv_rows_become_records_and_bad_rows_are_rejected_with_their_line() {
    let text = "id,name,phone\n1,张伟,138 0013 8000\n2,\"Li, Na\",\n,no id,1\n3,too,many,fields\n";
    let parsed = parse_records(text.as_bytes(), &stream(FileFormat::Csv, "id"), 0);
    let ids: Vec<&str> = parsed
        .records
        .iter()
        .map(|record| record.source_id.as_str())
        .collect();
    assert_eq!(ids, vec!["1", "2"]);
    assert_eq!(parsed.records[1].raw["name"], "Li, Na");
    let reasons: Vec<&str> = parsed
        .rejected
        .iter()
        .map(|rejection| rejection.reason.as_str())
        .collect();
    assert_eq!(
        reasons,
        vec![
            "line 4: missing primary key \"id\"",
            "line 5: 4 fields where 3 are expected"
        ]
    );
    assert!(parsed.rejected[1].raw.contains("too"));
}

#[test]
fn gbk_csv_is_decoded_and_undecodable_rows_are_kept_as_rejections() {
    let (mut bytes, _, _) = encoding_rs::GBK.encode("客户编号,客户名称\nC1,北京星河科技有限公司\n");
    let mut bytes = bytes.to_mut().clone();
    // A lone lead byte: not valid GBK.
    bytes.extend_from_slice(b"C2,\x81\n");
    let config = FileStreamConfig {
        encoding: FileEncoding::Gbk,
        ..stream(FileFormat::Csv, "客户编号")
    };
    let parsed = parse_records(&bytes, &config, 0);
    assert_eq!(parsed.records.len(), 1);
    assert_eq!(parsed.records[0].raw["客户名称"], "北京星河科技有限公司");
    assert_eq!(parsed.rejected.len(), 1);
    assert_eq!(parsed.rejected[0].reason, "line 3: not valid GBK text");
}

#[test]
fn headerless_csv_uses_the_configured_columns() {
    let config = FileStreamConfig {
        columns: Some(vec!["src".into(), "dst".into(), "uniqueid".into()]),
        ..stream(FileFormat::Csv, "uniqueid")
    };
    let parsed = parse_records(b"\"13800138000\",\"8001\",\"1714730401.18\"\n", &config, 0);
    assert_eq!(parsed.records[0].source_id, "1714730401.18");
    assert_eq!(parsed.records[0].raw["dst"], "8001");
}

#[test]
fn optional_trailing_columns_and_a_composite_key_read_both_cdr_variants() {
    let config = FileStreamConfig {
        columns: Some(vec!["src".into(), "channel".into(), "start".into()]),
        optional_columns: vec!["uniqueid".into(), "userfield".into()],
        primary_key: PrimaryKey::Composite(vec!["channel".into(), "start".into()]),
        ..stream(FileFormat::Csv, "unused")
    };
    let text = "\"138\",\"SIP/a-1\",\"2024-05-03 10:00:01\"\n\
                \"139\",\"SIP/a-2\",\"2024-05-03 10:00:02\",\"1714730402.2\"\n\
                \"137\",\"SIP/a-3\",\"2024-05-03 10:00:03\",\"1714730403.3\",\"vip\"\n\
                \"136\",\"SIP/a-4\",\"2024-05-03 10:00:04\",\"u\",\"f\",\"extra\"\n\
                \"135\",\"SIP/a-5\"\n";
    let parsed = parse_records(text.as_bytes(), &config, 0);
    let keys: Vec<&str> = parsed
        .records
        .iter()
        .map(|r| r.source_id.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "SIP/a-1|2024-05-03 10:00:01",
            "SIP/a-2|2024-05-03 10:00:02",
            "SIP/a-3|2024-05-03 10:00:03"
        ]
    );
    assert!(parsed.records[0].raw.get("uniqueid").is_none());
    assert_eq!(parsed.records[1].raw["uniqueid"], "1714730402.2");
    assert_eq!(parsed.records[2].raw["userfield"], "vip");
    let reasons: Vec<&str> = parsed.rejected.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "line 4: 6 fields where 3 to 5 are expected",
            "line 5: 2 fields where 3 to 5 are expected"
        ]
    );
}

#[test]
fn json_lines_keep_good_lines_and_reject_malformed_ones() {
    let text = "{\"id\": 1, \"customer\": {\"id\": 7}}\r\n\n{\"id\": 2,\n{\"name\": \"no id\"}\n";
    let parsed = parse_records(text.as_bytes(), &stream(FileFormat::Jsonl, "id"), 0);
    assert_eq!(parsed.records.len(), 1);
    assert_eq!(parsed.records[0].raw["customer"]["id"], 7);
    assert_eq!(parsed.rejected.len(), 2);
    assert!(parsed.rejected[0]
        .reason
        .starts_with("line 3: malformed JSON"));
    assert_eq!(parsed.rejected[0].raw, "{\"id\": 2,");
    assert_eq!(
        parsed.rejected[1].reason,
        "line 4: missing primary key \"id\""
    );
}

#[test]
fn a_json_document_yields_the_array_at_records_path() {
    let config = FileStreamConfig {
        records_path: Some("data.customers".into()),
        ..stream(FileFormat::Json, "id")
    };
    let parsed = parse_records(
        br#"{"data": {"customers": [{"id": "a"}, {"id": "b"}]}}"#,
        &config,
        0,
    );
    assert_eq!(parsed.records.len(), 2);
    let missing = parse_records(br#"{"data": {}}"#, &config, 0);
    assert!(missing.rejected[0].reason.contains("no array of records"));
}

#[tokio::test]
async fn an_unchanged_file_is_not_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("customers.csv");
    std::fs::write(&path, "id,name\n1,a\n2,b\n").unwrap();
    let source = FileSource::new(
        "crm",
        vec![(
            "customers".into(),
            FileStreamConfig {
                path: path.clone(),
                ..stream(FileFormat::Csv, "id")
            },
        )],
    );
    let store = crate::store::open("sqlite::memory:", dir.path())
        .await
        .unwrap();
    let context = crate::connectors::SourceContext::new(store);
    let pull = |cursor| {
        let source = &source;
        let context = &context;
        async move {
            let (sender, mut receiver) = mpsc::channel(8);
            source
                .pull(context, "customers", cursor, sender)
                .await
                .unwrap();
            let mut batches = Vec::new();
            while let Some(batch) = receiver.recv().await {
                batches.push(batch);
            }
            batches
        }
    };
    let first = pull(None).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].records.len(), 2);
    let cursor = first[0].cursor.clone();
    assert!(cursor.is_some());
    assert!(pull(cursor.clone()).await.is_empty());
    std::fs::write(&path, "id,name\n1,a\n2,b\n3,c\n").unwrap();
    assert_eq!(pull(cursor).await[0].records.len(), 3);
    assert!(source.check(&context).await.unwrap().streams[0]
        .1
        .contains("3 records"));
}

/// Pulls a stream and collects every batch it sends.
async fn pull_all(
    source: &FileSource,
    stream: &str,
    cursor: Option<serde_json::Value>,
) -> Vec<StagedBatch> {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::open("sqlite::memory:", dir.path())
        .await
        .unwrap();
    let context = crate::connectors::SourceContext::new(store);
    let (sender, mut receiver) = mpsc::channel(64);
    source.pull(&context, stream, cursor, sender).await.unwrap();
    let mut batches = Vec::new();
    while let Some(batch) = receiver.recv().await {
        batches.push(batch);
    }
    batches
}

fn last_cursor(batches: &[StagedBatch]) -> Option<serde_json::Value> {
    batches.iter().rev().find_map(|batch| batch.cursor.clone())
}

fn ids(batches: &[StagedBatch]) -> Vec<String> {
    batches
        .iter()
        .flat_map(|batch| batch.records.iter().map(|record| record.source_id.clone()))
        .collect()
}

#[test]
fn later_rows_supersede_earlier_rows_with_the_same_key() {
    let parsed = parse_records(b"id,v\n1,a\n2,b\n1,c\n", &stream(FileFormat::Csv, "id"), 0);
    let rows: Vec<(String, String)> = parsed
        .records
        .iter()
        .map(|record| {
            (
                record.source_id.clone(),
                record.raw["v"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![("2".into(), "b".into()), ("1".into(), "c".into())]
    );
}

#[test]
fn patterns_match_with_one_star() {
    assert!(name_matches("orders-*.csv", "orders-2024-05.csv"));
    assert!(name_matches("*.csv", "a.csv"));
    assert!(!name_matches("orders-*.csv", "orders.csv"));
    assert!(!name_matches("*.csv", "a.csv.partial"));
    assert!(name_matches("exact.csv", "exact.csv"));
}

#[tokio::test]
async fn a_folder_is_read_file_by_file_and_only_changed_files_again() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("orders-1.csv"), "id,v\n1,a\n").unwrap();
    std::fs::write(dir.path().join("orders-2.csv"), "id,v\n2,b\n").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not data").unwrap();
    let source = FileSource::new(
        "erp",
        vec![(
            "orders".into(),
            FileStreamConfig {
                path: dir.path().to_path_buf(),
                pattern: Some("orders-*.csv".into()),
                ..stream(FileFormat::Csv, "id")
            },
        )],
    );
    let first = pull_all(&source, "orders", None).await;
    assert_eq!(ids(&first), vec!["1", "2"]);
    let cursor = last_cursor(&first);
    assert!(pull_all(&source, "orders", cursor.clone()).await.is_empty());
    std::fs::write(dir.path().join("orders-3.csv"), "id,v\n3,c\n").unwrap();
    let third = pull_all(&source, "orders", cursor).await;
    assert_eq!(ids(&third), vec!["3"], "only the new file is read");
}

#[tokio::test]
async fn a_followed_file_yields_appended_lines_and_survives_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Master.csv");
    let columns = vec!["src".to_string(), "dst".to_string(), "uniqueid".to_string()];
    let source = FileSource::new(
        "pbx",
        vec![(
            "cdr".into(),
            FileStreamConfig {
                path: path.clone(),
                follow: true,
                columns: Some(columns),
                ..stream(FileFormat::Csv, "uniqueid")
            },
        )],
    );
    std::fs::write(
        &path,
        "\"138\",\"8001\",\"1.1\"\n\"139\",\"8002\",\"1.2\"\n\"137\",\"80",
    )
    .unwrap();
    let first = pull_all(&source, "cdr", None).await;
    assert_eq!(
        ids(&first),
        vec!["1.1", "1.2"],
        "the half-written line waits"
    );
    let cursor = last_cursor(&first);

    let mut appended = std::fs::read(&path).unwrap();
    appended.extend_from_slice(b"03\",\"1.3\"\nnot,\"enough\"\n");
    std::fs::write(&path, &appended).unwrap();
    let second = pull_all(&source, "cdr", cursor).await;
    assert_eq!(ids(&second), vec!["1.3"]);
    assert_eq!(second[0].rejected.len(), 1);
    assert!(
        second[0].rejected[0].reason.starts_with("line 4:"),
        "{}",
        second[0].rejected[0].reason
    );
    let cursor = last_cursor(&second);
    assert!(pull_all(&source, "cdr", cursor.clone())
        .await
        .iter()
        .all(|batch| batch.records.is_empty()));

    // Rotated: a new, shorter file with other content is read from its start.
    std::fs::write(&path, "\"150\",\"8009\",\"2.1\"\n").unwrap();
    assert_eq!(ids(&pull_all(&source, "cdr", cursor).await), vec!["2.1"]);
}
