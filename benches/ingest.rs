//! Ingest throughput: records per second from a source into the store.
//!
//! `cargo bench --bench ingest` (release build). Environment:
//! - `INGEST_RECORDS` (default 200000): records per measurement;
//! - `TIERLINK_BENCH_POSTGRES_URL` (an admin URL such as
//!   postgres://postgres@127.0.0.1:5432/postgres): also measure staging into
//!   PostgreSQL, and the `sql` connector reading a PostgreSQL table.
//!
//! Each measurement stages into a fresh store in batches of 1,000 records,
//! each batch in one transaction with its cursor, as a sync does. The HTTP
//! source is a local server on 127.0.0.1 serving pages of 1,000 records.
//! Results are written down in BENCHMARKS.md.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tierlink::connectors::file::{FileFormat, FileSource, FileStreamConfig};
use tierlink::connectors::{find_kind, ConnectorDefinition, Source, SourceContext};
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
        store
            .stage_batch(run, "bench", "customers", batch)
            .await
            .expect("stage");
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
                .map(|index| SourceRecord {
                    source_id: index.to_string(),
                    raw: customer(*index),
                })
                .collect(),
            rejected: Vec::new(),
            cursor: Some(json!({ "after": chunk.last() })),
        })
        .collect()
}

/// Builds a connector of `kind` from TOML text, as the config loader does.
fn build_source(kind: &str, toml_text: &str, base_dir: &std::path::Path) -> Arc<dyn Source> {
    let table: toml::Table = toml_text.parse().expect("bench connector TOML");
    let definition = ConnectorDefinition {
        id: "bench",
        file: std::path::Path::new("bench.toml"),
        base_dir,
        table,
    };
    (find_kind(kind).expect("kind registered").build)(&definition)
        .expect("bench connector is valid")
}

/// Pulls `stream` into a fresh SQLite store; returns (records staged,
/// records per second end to end, records per second pulled without storing).
async fn pull_into_sqlite(source: Arc<dyn Source>, stream: &str) -> (u64, f64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = fresh_sqlite(dir.path()).await;
    let context = SourceContext::new(store.clone());
    let run = store.start_run("bench").await.expect("run");

    let start = Instant::now();
    let (sender, mut receiver) = tokio::sync::mpsc::channel(4);
    let (pull_source, pull_context, name) = (source.clone(), context.clone(), stream.to_string());
    let pull =
        tokio::spawn(async move { pull_source.pull(&pull_context, &name, None, sender).await });
    let mut pulled = 0;
    while let Some(batch) = receiver.recv().await {
        pulled += batch.records.len() as u64;
    }
    pull.await.expect("join").expect("pull");
    let pull_rate = pulled as f64 / start.elapsed().as_secs_f64();

    let start = Instant::now();
    let (sender, mut receiver) = tokio::sync::mpsc::channel(4);
    let (pull_source, pull_context, name) = (source, context, stream.to_string());
    let pull =
        tokio::spawn(async move { pull_source.pull(&pull_context, &name, None, sender).await });
    let mut staged = 0;
    while let Some(batch) = receiver.recv().await {
        staged += store
            .stage_batch(run, "bench", stream, &batch)
            .await
            .expect("stage")
            .new;
    }
    pull.await.expect("join").expect("pull");
    (
        staged,
        staged as f64 / start.elapsed().as_secs_f64(),
        pull_rate,
    )
}

/// A local HTTP API serving `count` customers in pages: `GET /customers?page=N&per_page=M`.
async fn serve_customers(count: usize) -> std::net::SocketAddr {
    use axum::extract::{Query, State};
    use axum::routing::get;
    let pages: Arc<Vec<serde_json::Value>> = Arc::new((0..count).map(customer).collect());
    let app = axum::Router::new()
        .route(
            "/customers",
            get(
                |State(all): State<Arc<Vec<serde_json::Value>>>,
                 Query(query): Query<std::collections::HashMap<String, usize>>| async move {
                    let page = query.get("page").copied().unwrap_or(1).max(1);
                    let size = query.get("per_page").copied().unwrap_or(1000);
                    let start = ((page - 1) * size).min(all.len());
                    let end = (start + size).min(all.len());
                    axum::Json(json!({ "customers": &all[start..end] }))
                },
            ),
        )
        .with_state(pages);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    address
}

/// Fills a PostgreSQL table with `count` customers and returns the bench
/// database's URL; the caller drops it.
async fn postgres_table(admin_url: &str, count: usize) -> (String, String) {
    use sqlx::Connection;
    let name = format!("tierlink_bench_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect PostgreSQL");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut admin)
        .await
        .expect("drop");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create");
    let url = format!(
        "{}/{name}",
        admin_url.rsplit_once('/').expect("URL with a database").0
    );
    let mut connection = sqlx::PgConnection::connect(&url)
        .await
        .expect("connect bench database");
    sqlx::query(
        "CREATE TABLE customers (id BIGINT PRIMARY KEY, name TEXT, email TEXT, phone TEXT, city TEXT,
         total_spent NUMERIC(12,2), updated_at TIMESTAMPTZ NOT NULL)",
    )
    .execute(&mut connection)
    .await
    .expect("create table");
    sqlx::query(
        "INSERT INTO customers SELECT i, '张伟' || i, 'zhang.wei' || i || '@example.cn', '+86138' || lpad(i::text, 8, '0'),
         '上海', (i % 10000) + 0.5, timestamptz '2026-01-01' + (i || ' seconds')::interval
         FROM generate_series(1, $1) AS i",
    )
    .bind(count as i64)
    .execute(&mut connection)
    .await
    .expect("fill table");
    // Incremental columns are indexed in any table synced this way.
    sqlx::query("CREATE INDEX customers_updated ON customers (updated_at, id)")
        .execute(&mut connection)
        .await
        .expect("index");
    (url, name)
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("INGEST_RECORDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    println!("ingest benchmark: {count} records, batches of 1000");
    let prepared = batches(count);

    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = fresh_sqlite(dir.path()).await;
    println!(
        "stage new records into SQLite:        {:>10.0} records/s",
        stage_batches(&sqlite, &prepared).await
    );
    println!(
        "stage unchanged records into SQLite:  {:>10.0} records/s",
        stage_batches(&sqlite, &prepared).await
    );

    // The file connector end to end: read a JSON Lines file, parse, stage.
    let file_dir = tempfile::tempdir().expect("temp dir");
    let path = file_dir.path().join("customers.jsonl");
    let lines: Vec<String> = (0..count)
        .map(|index| customer(index).to_string())
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").expect("write JSONL");
    let source = FileSource::new(
        "bench",
        vec![(
            "customers".into(),
            FileStreamConfig::new(path, FileFormat::Jsonl, "id"),
        )],
    );
    let store = fresh_sqlite(file_dir.path()).await;
    let context = SourceContext::new(store.clone());
    let run = store.start_run("bench").await.expect("run");
    let start = Instant::now();
    let (sender, mut receiver) = tokio::sync::mpsc::channel(4);
    let pull_context = context.clone();
    let pull =
        tokio::spawn(async move { source.pull(&pull_context, "customers", None, sender).await });
    let mut staged = 0;
    while let Some(batch) = receiver.recv().await {
        staged += store
            .stage_batch(run, "bench", "customers", &batch)
            .await
            .expect("stage")
            .new;
    }
    pull.await.expect("join").expect("pull");
    assert_eq!(staged as usize, count);
    println!(
        "file (JSON Lines) -> SQLite:          {:>10.0} records/s",
        count as f64 / start.elapsed().as_secs_f64()
    );

    // The http connector against a local API, pages of 1,000.
    let address = serve_customers(count).await;
    let http = build_source(
        "http",
        &format!(
            r#"base_url = "http://{address}"
[streams.customers]
path = "/customers"
records_path = "customers"
primary_key = "id"
pagination = {{ style = "page_number", param = "page", size_param = "per_page", size = 1000 }}
"#
        ),
        file_dir.path(),
    );
    let (staged, rate, pull_rate) = pull_into_sqlite(http, "customers").await;
    assert_eq!(staged as usize, count);
    println!("http (local API) pulled:              {pull_rate:>10.0} records/s");
    println!("http (local API) -> SQLite:           {rate:>10.0} records/s");

    if let Ok(admin_url) = std::env::var("TIERLINK_BENCH_POSTGRES_URL") {
        let (url, name) = postgres_table(&admin_url, count).await;
        let sql = build_source(
            "sql",
            &format!(
                r#"url = "{url}"
[streams.customers]
table = "customers"
primary_key = "id"
incremental_column = "updated_at"
page_size = 1000
"#
            ),
            file_dir.path(),
        );
        let (staged, rate, pull_rate) = pull_into_sqlite(sql, "customers").await;
        assert_eq!(staged as usize, count);
        println!("sql (PostgreSQL table) pulled:        {pull_rate:>10.0} rows/s");
        println!("sql (PostgreSQL table) -> SQLite:     {rate:>10.0} rows/s");

        let postgres = store::open(&url, dir.path())
            .await
            .expect("open PostgreSQL store");
        println!(
            "stage new records into PostgreSQL:    {:>10.0} records/s",
            stage_batches(&postgres, &prepared).await
        );
        drop(postgres);
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connect PostgreSQL");
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .expect("drop");
    }
}
