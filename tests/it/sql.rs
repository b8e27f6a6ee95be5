//! Stories of the `sql` connector against real databases: PostgreSQL and
//! MariaDB/MySQL in a fresh database per test (dropped after it, even on
//! panic), SQLite in a temporary file. Each story is written once over a
//! small fixture that creates `customers` with each dialect's DDL.
//!
//! PostgreSQL runs when `TIERLINK_TEST_POSTGRES_URL` is set (an admin URL
//! such as postgres://postgres@127.0.0.1:5432/postgres), MySQL when
//! `TIERLINK_TEST_MYSQL_URL` is (mysql://root@127.0.0.1:3306). Unset: the
//! story is skipped with a note; set but unreachable: the test fails.
//! Records are staged through a real store, the way a sync does.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{Duration, NaiveDate};
use serde_json::{json, Value};
use sqlx::{Connection, Executor, MySqlConnection, PgConnection, SqliteConnection};
use tierlink::connectors::{sql, ConnectorDefinition, Source, SourceContext};
use tierlink::store::{redact_url, StageCounts, Store};
use tokio::sync::mpsc;

const POSTGRES_URL_VAR: &str = "TIERLINK_TEST_POSTGRES_URL";
const MYSQL_URL_VAR: &str = "TIERLINK_TEST_MYSQL_URL";

/// One test per backend for each story; the names end in the backend.
macro_rules! sql_stories {
    ($($story:ident => $postgres:ident, $mysql:ident, $sqlite:ident;)+) => {
        $(
            #[tokio::test]
            async fn $postgres() {
                run_story(Kind::Postgres, stringify!($story), $story).await;
            }

            #[tokio::test]
            async fn $mysql() {
                run_story(Kind::MySql, stringify!($story), $story).await;
            }

            #[tokio::test]
            async fn $sqlite() {
                run_story(Kind::Sqlite, stringify!($story), $story).await;
            }
        )+
    };
}

sql_stories! {
    a_full_sync_reads_every_row_once_with_typed_json_and_then_only_changes
        => full_and_incremental_sync_postgres, full_and_incremental_sync_mysql,
           full_and_incremental_sync_sqlite;
    rows_sharing_a_timestamp_across_page_boundaries_are_all_read
        => equal_timestamps_across_pages_postgres, equal_timestamps_across_pages_mysql,
           equal_timestamps_across_pages_sqlite;
    an_interrupted_sync_resumes_after_the_last_committed_page
        => interrupted_sync_resumes_postgres, interrupted_sync_resumes_mysql,
           interrupted_sync_resumes_sqlite;
    filter_values_are_bound_never_spliced_into_sql
        => filter_values_are_bound_postgres, filter_values_are_bound_mysql,
           filter_values_are_bound_sqlite;
    a_table_without_incremental_column_is_swept_by_primary_key
        => sweep_by_primary_key_postgres, sweep_by_primary_key_mysql,
           sweep_by_primary_key_sqlite;
    a_lookback_rereads_a_window_without_moving_the_cursor_back
        => lookback_rereads_a_window_postgres, lookback_rereads_a_window_mysql,
           lookback_rereads_a_window_sqlite;
    invalid_identifiers_are_config_problems_naming_file_and_field
        => invalid_identifiers_are_rejected_postgres, invalid_identifiers_are_rejected_mysql,
           invalid_identifiers_are_rejected_sqlite;
}

// ---------------------------------------------------------------------------
// Fixture

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Postgres,
    MySql,
    Sqlite,
}

/// A fresh database with the connector's URL and a connection for setup.
struct Fixture {
    kind: Kind,
    /// The URL the connector file uses.
    url: String,
    /// Where the store and SQLite files live.
    dir: PathBuf,
}

impl Fixture {
    /// Runs statements (test data only; the connector never builds SQL so).
    async fn execute(&self, statements: &[String]) {
        macro_rules! run_all {
            ($connection:expr) => {{
                let mut connection = $connection;
                for statement in statements {
                    connection
                        .execute(statement.as_str())
                        .await
                        .unwrap_or_else(|error| panic!("{statement:.200}: {error}"));
                }
                connection.close().await.ok();
            }};
        }
        match self.kind {
            Kind::Postgres => run_all!(PgConnection::connect(&self.url).await.unwrap()),
            Kind::MySql => run_all!(MySqlConnection::connect(&self.url).await.unwrap()),
            Kind::Sqlite => {
                let url = format!("{}?mode=rwc", self.url);
                run_all!(SqliteConnection::connect(&url).await.unwrap())
            }
        }
    }

    /// Creates `customers` with this dialect's types.
    async fn create_customers(&self) {
        let ddl = match self.kind {
            Kind::Postgres => {
                "CREATE TABLE customers (id BIGINT PRIMARY KEY, name TEXT, city TEXT, \
                 status TEXT NOT NULL, balance NUMERIC(12,2), vip BOOLEAN, birthday DATE, \
                 profile JSONB, updated_at TIMESTAMPTZ NOT NULL)"
            }
            Kind::MySql => {
                "CREATE TABLE customers (id BIGINT PRIMARY KEY, name VARCHAR(100), \
                 city VARCHAR(100), status VARCHAR(40) NOT NULL, balance DECIMAL(12,2), \
                 vip BOOLEAN, birthday DATE, profile JSON, updated_at DATETIME(6) NOT NULL) \
                 DEFAULT CHARSET = utf8mb4"
            }
            Kind::Sqlite => {
                "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, city TEXT, \
                 status TEXT NOT NULL, balance DECIMAL(12,2), vip BOOLEAN, birthday DATE, \
                 profile TEXT, updated_at DATETIME NOT NULL)"
            }
        };
        self.execute(&[ddl.to_string()]).await;
    }

    /// A timestamp literal `seconds` after 2024-05-01 00:00:00 UTC.
    fn at(&self, seconds: i64) -> String {
        let base = NaiveDate::from_ymd_opt(2024, 5, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let text = (base + Duration::seconds(seconds))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
        match self.kind {
            Kind::Postgres => format!("'{text}+00'"),
            _ => format!("'{text}'"),
        }
    }

    /// Inserts customers `ids` (1-based); row i is changed at `seconds(i)`.
    async fn insert_customers(
        &self,
        ids: std::ops::RangeInclusive<i64>,
        seconds: impl Fn(i64) -> i64,
    ) {
        let rows: Vec<String> = ids
            .map(|id| {
                let name = if id % 10 == 0 {
                    format!("'张伟{id}'")
                } else {
                    format!("'Customer {id}'")
                };
                let city = if id % 3 == 0 { "NULL" } else { "'北京'" };
                let status = if id % 2 == 0 { "active" } else { "inactive" };
                let vip = if id % 5 == 0 { "TRUE" } else { "FALSE" };
                format!(
                    "({id}, {name}, {city}, '{status}', {}.50, {vip}, '1990-01-{:02}', '{{\"level\": {}}}', {})",
                    id * 3,
                    id % 28 + 1,
                    id % 4,
                    self.at(seconds(id))
                )
            })
            .collect();
        let statements: Vec<String> = rows
            .chunks(500)
            .map(|chunk| {
                format!(
                    "INSERT INTO customers (id, name, city, status, balance, vip, birthday, profile, updated_at) VALUES {}",
                    chunk.join(", ")
                )
            })
            .collect();
        self.execute(&statements).await;
    }

    /// Builds the connector from connector-file text (after `url`).
    fn source(&self, streams: &str) -> Arc<dyn Source> {
        let text = format!("url = {:?}\n{streams}", self.url);
        let file = self.dir.join("erp.toml");
        let table: toml::Table = text.parse().expect("test connector files are TOML");
        sql::build(&ConnectorDefinition {
            id: "erp",
            file: &file,
            base_dir: &self.dir,
            table,
        })
        .unwrap_or_else(|problems| panic!("the test connector is valid: {problems:?}"))
    }

    async fn store(&self) -> Arc<dyn Store> {
        let url = format!("sqlite://{}", self.dir.join("store.db").display());
        tierlink::store::open(&url, &self.dir)
            .await
            .expect("the store opens")
    }
}

const CUSTOMERS: &str = r#"
[streams.customers]
table = "customers"
primary_key = "id"
incremental_column = "updated_at"
page_size = 1000
"#;

/// What one sync fetched and how staging counted it.
struct Synced {
    ids: Vec<String>,
    counts: StageCounts,
    records: Vec<Value>,
}

/// Syncs one stream into the store as the pipeline does; with `pages`,
/// stops after staging that many batches, as if the process died.
async fn sync(
    source: &Arc<dyn Source>,
    store: &Arc<dyn Store>,
    stream: &str,
    pages: Option<usize>,
) -> Synced {
    let run_id = store.start_run("test").await.unwrap();
    let cursor = store.cursor("erp", stream).await.unwrap();
    let (sender, mut batches) = mpsc::channel(1);
    let task_source = source.clone();
    let context = SourceContext::new(store.clone());
    let stream_name = stream.to_string();
    let pull = tokio::spawn(async move {
        task_source
            .pull(&context, &stream_name, cursor, sender)
            .await
    });
    let mut synced = Synced {
        ids: Vec::new(),
        counts: StageCounts::default(),
        records: Vec::new(),
    };
    let mut staged_pages = 0;
    while let Some(batch) = batches.recv().await {
        let counts = store
            .stage_batch(run_id, "erp", stream, &batch)
            .await
            .unwrap();
        synced.counts.add(counts);
        for record in batch.records {
            synced.ids.push(record.source_id);
            synced.records.push(record.raw);
        }
        assert!(batch.rejected.is_empty(), "rejected: {:?}", batch.rejected);
        staged_pages += 1;
        if pages == Some(staged_pages) {
            drop(batches);
            pull.abort();
            let _ = pull.await;
            return synced;
        }
    }
    pull.await.unwrap().expect("the pull succeeds");
    synced
}

fn unique(ids: &[String]) -> usize {
    ids.iter().collect::<BTreeSet<_>>().len()
}

// ---------------------------------------------------------------------------
// Stories

async fn a_full_sync_reads_every_row_once_with_typed_json_and_then_only_changes(fx: Fixture) {
    fx.create_customers().await;
    // Seven rows share each timestamp, so groups straddle page boundaries.
    fx.insert_customers(1..=2500, |id| id / 7).await;
    let source = fx.source(CUSTOMERS);
    let store = fx.store().await;

    let first = sync(&source, &store, "customers", None).await;
    assert_eq!(first.ids.len(), 2500);
    assert_eq!(unique(&first.ids), 2500);
    assert_eq!(first.counts.new, 2500);

    let record = |id: &str| {
        first
            .records
            .iter()
            .find(|record| record["id"] == json!(id.parse::<i64>().unwrap()))
            .unwrap_or_else(|| panic!("record {id}"))
            .clone()
    };
    let ten = record("10");
    assert_eq!(ten["name"], "张伟10");
    assert_eq!(ten["city"], "北京");
    assert_eq!(ten["status"], "active");
    assert_eq!(ten["vip"], true);
    assert_eq!(ten["birthday"], "1990-01-11");
    assert_eq!(ten["updated_at"], "2024-05-01T00:00:01Z");
    match fx.kind {
        Kind::Sqlite => assert_eq!(ten["balance"], json!(30.5)),
        _ => assert_eq!(ten["balance"], "30.50"),
    }
    match fx.kind {
        Kind::Postgres => assert_eq!(ten["profile"], json!({"level": 2})),
        // MariaDB's JSON is LONGTEXT; SQLite's is TEXT.
        _ => assert_eq!(
            serde_json::from_str::<Value>(ten["profile"].as_str().unwrap()).unwrap(),
            json!({"level": 2})
        ),
    }
    assert_eq!(record("3")["city"], Value::Null);
    assert_eq!(record("3")["vip"], false);

    let cursor = store.cursor("erp", "customers").await.unwrap().unwrap();
    assert_eq!(cursor["pk"], json!(2500));

    let later = 10_000;
    fx.execute(&[format!(
        "UPDATE customers SET name = '王芳', updated_at = {} WHERE id IN (5, 1200, 2400)",
        fx.at(later)
    )])
    .await;
    fx.insert_customers(2501..=2502, |_| later + 1).await;
    let second = sync(&source, &store, "customers", None).await;
    let mut ids = second.ids.clone();
    ids.sort();
    assert_eq!(ids, vec!["1200", "2400", "2501", "2502", "5"]);
    assert_eq!((second.counts.changed, second.counts.new), (3, 2));

    let third = sync(&source, &store, "customers", None).await;
    assert!(third.ids.is_empty());
}

async fn rows_sharing_a_timestamp_across_page_boundaries_are_all_read(fx: Fixture) {
    fx.create_customers().await;
    fx.insert_customers(1..=30, |_| 60).await;
    fx.insert_customers(31..=33, |_| 120).await;
    let source = fx.source(
        r#"
        [streams.customers]
        table = "customers"
        columns = ["name", "updated_at"]
        primary_key = "id"
        incremental_column = "updated_at"
        page_size = 7
        "#,
    );
    let store = fx.store().await;
    let synced = sync(&source, &store, "customers", None).await;
    assert_eq!(synced.ids.len(), 33);
    assert_eq!(unique(&synced.ids), 33);
    // The primary key is always read, the unlisted columns are not.
    assert_eq!(synced.records[0].as_object().unwrap().len(), 3);

    // Two more rows at the cursor's own timestamp, with higher ids.
    fx.insert_customers(34..=35, |_| 120).await;
    let again = sync(&source, &store, "customers", None).await;
    assert_eq!(again.ids, vec!["34", "35"]);
}

async fn an_interrupted_sync_resumes_after_the_last_committed_page(fx: Fixture) {
    fx.create_customers().await;
    fx.insert_customers(1..=2500, |id| id / 3).await;
    let source = fx.source(CUSTOMERS);
    let store = fx.store().await;

    let interrupted = sync(&source, &store, "customers", Some(1)).await;
    assert_eq!(interrupted.ids.len(), 1000);
    let resumed = sync(&source, &store, "customers", None).await;
    assert_eq!(resumed.ids.len(), 1500);
    let mut all = interrupted.ids.clone();
    all.extend(resumed.ids);
    assert_eq!(unique(&all), 2500);
    assert_eq!(all.len(), 2500);
    let status = store.status().await.unwrap();
    assert_eq!(status.connectors["erp"].staged, 2500);
}

async fn filter_values_are_bound_never_spliced_into_sql(fx: Fixture) {
    fx.create_customers().await;
    fx.insert_customers(1..=20, |id| id).await;
    fx.execute(&["UPDATE customers SET status = ''' OR 1=1 --' WHERE id = 7".to_string()])
        .await;
    let source = fx.source(
        r#"
        [streams.customers]
        table = "customers"
        primary_key = "id"
        incremental_column = "updated_at"
        filters = [{ column = "status", op = "=", value = "' OR 1=1 --" }]

        [streams.vip]
        table = "customers"
        primary_key = "id"
        filters = [
            { column = "id", op = "in", value = [2, 4, 5, "10"] },
            { column = "vip", op = "=", value = true },
            { column = "updated_at", op = ">=", value = "2024-05-01 00:00:05" },
        ]
        "#,
    );
    let store = fx.store().await;
    let injected = sync(&source, &store, "customers", None).await;
    assert_eq!(injected.ids, vec!["7"]);
    let vip = sync(&source, &store, "vip", None).await;
    assert_eq!(vip.ids, vec!["5", "10"]);

    let report = source
        .check(&SourceContext::new(store.clone()))
        .await
        .expect("check passes");
    assert!(report.streams[0].1.contains("first id 7"), "{report:?}");
}

async fn a_table_without_incremental_column_is_swept_by_primary_key(fx: Fixture) {
    fx.create_customers().await;
    fx.insert_customers(1..=25, |id| id).await;
    let source = fx.source(
        r#"
        [streams.customers]
        table = "customers"
        primary_key = "id"
        page_size = 10
        "#,
    );
    let store = fx.store().await;
    let interrupted = sync(&source, &store, "customers", Some(1)).await;
    assert_eq!(interrupted.ids.len(), 10);
    let rest = sync(&source, &store, "customers", None).await;
    assert_eq!(rest.ids.len(), 15);
    assert_eq!(
        store.cursor("erp", "customers").await.unwrap(),
        Some(json!({ "pk": null }))
    );
    // A finished sweep starts over; staging sees nothing changed.
    let again = sync(&source, &store, "customers", None).await;
    assert_eq!(again.ids.len(), 25);
    assert_eq!(again.counts.unchanged, 25);
}

async fn a_lookback_rereads_a_window_without_moving_the_cursor_back(fx: Fixture) {
    let streams = r#"
        [streams.customers]
        table = "customers"
        primary_key = "id"
        incremental_column = "updated_at"
        page_size = 3
        lookback_seconds = 30
        "#;
    if fx.kind == Kind::Sqlite {
        let file = fx.dir.join("erp.toml");
        let problems = sql::build(&ConnectorDefinition {
            id: "erp",
            file: &file,
            base_dir: &fx.dir,
            table: format!("url = {:?}\n{streams}", fx.url).parse().unwrap(),
        })
        .unwrap_err();
        assert_eq!(problems[0].field, "streams.customers.lookback_seconds");
        return;
    }
    fx.create_customers().await;
    fx.insert_customers(1..=10, |id| id * 10).await;
    let source = fx.source(streams);
    let store = fx.store().await;
    assert_eq!(sync(&source, &store, "customers", None).await.ids.len(), 10);
    let cursor = store.cursor("erp", "customers").await.unwrap();
    // The window (70 s and later) is read again; nothing in it changed,
    // and the cursor stays where it was.
    let again = sync(&source, &store, "customers", None).await;
    assert_eq!(again.ids, vec!["7", "8", "9", "10"]);
    assert_eq!(again.counts.unchanged, 4);
    assert_eq!(store.cursor("erp", "customers").await.unwrap(), cursor);
    // A row changed late, with a timestamp inside the window, is caught.
    fx.execute(&[format!(
        "UPDATE customers SET name = 'late', updated_at = {} WHERE id = 3",
        fx.at(85)
    )])
    .await;
    let late = sync(&source, &store, "customers", None).await;
    assert_eq!(late.ids, vec!["7", "8", "3", "9", "10"]);
    assert_eq!(late.counts.changed, 1);
}

async fn invalid_identifiers_are_config_problems_naming_file_and_field(fx: Fixture) {
    fx.create_customers().await;
    let text = format!(
        "url = {:?}\n[streams.customers]\ntable = \"customers; DROP TABLE x\"\nprimary_key = \"id\"\n",
        fx.url
    );
    let file = fx.dir.join("erp.toml");
    let problems = sql::build(&ConnectorDefinition {
        id: "erp",
        file: &file,
        base_dir: &fx.dir,
        table: text.parse().unwrap(),
    })
    .unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].file, file);
    assert_eq!(problems[0].field, "streams.customers.table");
    assert!(problems[0].to_string().contains("customers; DROP TABLE x"));

    // A missing column is found by check, naming connector, stream and table.
    let source = fx.source(
        "[streams.customers]\ntable = \"customers\"\nprimary_key = \"id\"\nincremental_column = \"changed_on\"\n",
    );
    let store = fx.store().await;
    let error = source.check(&SourceContext::new(store)).await.unwrap_err();
    assert!(
        error
            .message
            .contains("connector erp, stream customers, table customers"),
        "{error}"
    );
}

// ---------------------------------------------------------------------------
// Databases

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_nanos();
    format!(
        "tierlink_sqlsrc_{}_{nanos}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The admin URL from `var`, or `None` (with a note) when it is unset.
fn admin_url(var: &str, story: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            eprintln!("skipped `{story}` on this backend: {var} is not set");
            None
        }
    }
}

/// `url` with its path (the database) replaced.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let start = base.find("://").map_or(0, |at| at + 3);
    let end = base[start..].find('/').map_or(base.len(), |at| start + at);
    let mut out = format!("{}/{database}", &base[..end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

async fn run_story<S, F>(kind: Kind, story_name: &str, story: S)
where
    S: FnOnce(Fixture) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("a temporary directory");
    let name = unique_name();
    let (url, admin) = match kind {
        Kind::Sqlite => (
            format!("sqlite://{}", dir.path().join("erp.db").display()),
            None,
        ),
        Kind::Postgres => {
            let Some(admin) = admin_url(POSTGRES_URL_VAR, story_name) else {
                return;
            };
            let mut connection = PgConnection::connect(&admin).await.unwrap_or_else(|error| {
                panic!(
                    "{POSTGRES_URL_VAR} is set to {} but connecting failed: {error}",
                    redact_url(&admin)
                )
            });
            connection
                .execute(
                    format!("CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
                        .as_str(),
                )
                .await
                .expect("create the test database");
            connection.close().await.ok();
            (with_database(&admin, &name), Some(admin))
        }
        Kind::MySql => {
            let Some(admin) = admin_url(MYSQL_URL_VAR, story_name) else {
                return;
            };
            let mut connection = MySqlConnection::connect(&admin)
                .await
                .unwrap_or_else(|error| {
                    panic!(
                        "{MYSQL_URL_VAR} is set to {} but connecting failed: {error}",
                        redact_url(&admin)
                    )
                });
            connection
                .execute(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4").as_str())
                .await
                .expect("create the test database");
            connection.close().await.ok();
            (with_database(&admin, &name), Some(admin))
        }
    };
    let fixture = Fixture {
        kind,
        url,
        dir: dir.path().to_path_buf(),
    };
    // The story runs as its own task, so a panic comes back here and the
    // database is dropped before it is re-raised.
    let outcome = tokio::spawn(story(fixture)).await;
    if let Some(admin) = admin {
        drop_database(kind, &admin, &name).await;
    }
    drop(dir);
    if let Err(error) = outcome {
        if error.is_panic() {
            std::panic::resume_unwind(error.into_panic());
        }
        panic!("the story `{story_name}` did not finish: {error}");
    }
}

async fn drop_database(kind: Kind, admin: &str, name: &str) {
    let result = match kind {
        Kind::Postgres => {
            async {
                let mut connection = PgConnection::connect(admin).await?;
                connection
                    .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
                    .await?;
                connection.close().await
            }
            .await
        }
        Kind::MySql => {
            async {
                let mut connection = MySqlConnection::connect(admin).await?;
                connection
                    .execute(format!("DROP DATABASE IF EXISTS `{name}`").as_str())
                    .await?;
                connection.close().await
            }
            .await
        }
        Kind::Sqlite => Ok(()),
    };
    if let Err(error) = result {
        eprintln!("warning: cannot drop the test database {name}: {error}");
    }
}

#[test]
fn with_database_keeps_credentials_and_options() {
    assert_eq!(
        with_database("mysql://root@127.0.0.1:3306", "t1"),
        "mysql://root@127.0.0.1:3306/t1"
    );
    assert_eq!(
        with_database(
            "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
            "t1"
        ),
        "postgres://postgres@127.0.0.1:5432/t1?sslmode=disable"
    );
}
