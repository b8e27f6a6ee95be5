//! Ingest throughput: records per second from a source into the store.
//!
//! `cargo bench --bench ingest` (release build). Environment:
//! - `INGEST_RECORDS` (default 200000): records per measurement;
//! - `TIERLINK_BENCH_POSTGRES_URL`: also measure staging into PostgreSQL.
//!
//! Each measurement stages into a fresh store in batches of 1,000 records,
//! each batch in one transaction with its cursor, as a sync does. Results
//! are written down in BENCHMARKS.md.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tierlink::connectors::file::{FileEncoding, FileFormat, FileSource, FileStreamConfig};
use tierlink::connectors::{Source, SourceContext};
use tierlink::store::{self, SourceRecord, StagedBatch, Store};

fn customer(index: usize) -> serde_json::Value {
    json!({
        "id": 7_000_000 + index,
        "first_name": "Wei",
        "last_name": format!("Zhang{index}"),
        "email": format!("zhang.wei{index}@example.cn"),
        "phone": format!("+86138{:08}", index),
        "tags": "wholesale, 华东",
        "total_spent": format!("{}.50", index % 10_000),
        "updated_at": "2026-10-01T10:11:12+08:00",
        "default_address": {"company": "上海云图信息技术有限公司", "city": "上海"},
    })
}

async fn fresh_sqlite(dir: &std::path::Path) -> Arc<dyn Store> {
    store::open(&format!("sqlite://{}", dir.join("bench.db").display()), dir)
        .await
        .expect("open SQLite")
}

/// Stages pre-built batches; returns records per second.
async fn stage_batches(store: &Arc<dyn Store>, batches: &[StagedBatch]) -> f64 {
    let run = store.start_run("bench").await.expect("run");
    let records: usize = batches.iter().map(|batch| batch.records.len()).sum();
    let start = Instant::now();
    for batch in batches {
        store.stage_batch(run, "bench", "customers", batch).await.expect("stage");
    }
    records as f64 / start.elapsed().as_secs_f64()
}

fn batches(count: usize) -> Vec<StagedBatch> {
    (0..count)
        .collect::<Vec<_>>()
        .chunks(1000)
        .map(|chunk| StagedBatch {
            records: chunk
                .iter()
                .map(|index| SourceRecord { source_id: index.to_string(), raw: customer(*index) })
                .collect(),
            rejected: Vec::new(),
            cursor: Some(json!({ "after": chunk.last() })),
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("INGEST_RECORDS").ok().and_then(|n| n.parse().ok()).unwrap_or(200_000);
    println!("ingest benchmark: {count} records, batches of 1000");
    let prepared = batches(count);

    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = fresh_sqlite(dir.path()).await;
    println!("stage new records into SQLite:        {:>10.0} records/s", stage_batches(&sqlite, &prepared).await);
    println!("stage unchanged records into SQLite:  {:>10.0} records/s", stage_batches(&sqlite, &prepared).await);

    // The file connector end to end: read a JSON Lines file, parse, stage.
    let file_dir = tempfile::tempdir().expect("temp dir");
    let path = file_dir.path().join("customers.jsonl");
    let lines: Vec<String> = (0..count).map(|index| customer(index).to_string()).collect();
    std::fs::write(&path, lines.join("\n") + "\n").expect("write JSONL");
    let source = FileSource::new(
        "bench",
        vec![(
            "customers".into(),
            FileStreamConfig {
                path,
                format: FileFormat::Jsonl,
                primary_key: "id".into(),
                encoding: FileEncoding::Utf8,
                delimiter: ',',
                columns: None,
                records_path: None,
                pattern: None,
                follow: false,
            },
        )],
    );
    let store = fresh_sqlite(file_dir.path()).await;
    let context = SourceContext::new(store.clone());
    let run = store.start_run("bench").await.expect("run");
    let start = Instant::now();
    let (sender, mut receiver) = tokio::sync::mpsc::channel(4);
    let pull_context = context.clone();
    let pull = tokio::spawn(async move { source.pull(&pull_context, "customers", None, sender).await });
    let mut staged = 0;
    while let Some(batch) = receiver.recv().await {
        staged += store.stage_batch(run, "bench", "customers", &batch).await.expect("stage").new;
    }
    pull.await.expect("join").expect("pull");
    assert_eq!(staged as usize, count);
    println!("file (JSON Lines) -> SQLite:          {:>10.0} records/s", count as f64 / start.elapsed().as_secs_f64());

    if let Ok(url) = std::env::var("TIERLINK_BENCH_POSTGRES_URL") {
        let postgres = store::open(&url, dir.path()).await.expect("open PostgreSQL");
        println!("stage new records into PostgreSQL:    {:>10.0} records/s", stage_batches(&postgres, &prepared).await);
    }
}
