//! Test databases for the store stories.
//!
//! Every story runs against a fresh, empty store on each backend:
//!
//! - SQLite: a new database file in a temporary directory, removed with it.
//! - PostgreSQL: a new database on the server named by the environment
//!   variable [`POSTGRES_URL_VAR`], created for the story and dropped after
//!   it, even when the story panics. When the variable is unset the
//!   PostgreSQL run is skipped with a note on stderr; when it is set but the
//!   server cannot be reached the test fails, so a broken CI database never
//!   passes silently.

use std::future::Future;
use std::panic;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{Connection, PgConnection};
use tierlink::store::{redact_url, Backend, Store};

/// Names the PostgreSQL server (as an admin that may create databases) the
/// PostgreSQL variants run on, e.g. `postgres://postgres@127.0.0.1:5432/postgres`.
pub const POSTGRES_URL_VAR: &str = "TIERLINK_TEST_POSTGRES_URL";

/// Generates one `#[tokio::test]` per backend for each store story.
///
/// A story is an `async fn(Arc<dyn Store>)`. `macro_rules!` cannot glue
/// identifiers together, so each line names the two tests explicitly; a
/// compile-time check makes sure they are `<story>_sqlite` and
/// `<story>_postgres`, so a filter like `cargo test _postgres` selects
/// exactly one backend.
///
/// ```ignore
/// store_stories! {
///     runs_story => runs_story_sqlite, runs_story_postgres;
/// }
/// ```
macro_rules! store_stories {
    ($($story:ident => $sqlite:ident, $postgres:ident;)+) => {
        $(
            const _: () = assert!(
                $crate::support::is_story_test(stringify!($sqlite), stringify!($story), "_sqlite")
                    && $crate::support::is_story_test(
                        stringify!($postgres),
                        stringify!($story),
                        "_postgres"
                    ),
                concat!(
                    "the tests of story `",
                    stringify!($story),
                    "` must be named `",
                    stringify!($story),
                    "_sqlite` and `",
                    stringify!($story),
                    "_postgres`"
                ),
            );

            #[tokio::test]
            async fn $sqlite() {
                $crate::support::with_sqlite_store($story).await;
            }

            #[tokio::test]
            async fn $postgres() {
                $crate::support::with_postgres_store(stringify!($story), $story).await;
            }
        )+
    };
}
pub(crate) use store_stories;

/// Whether `test` is exactly `story` followed by `suffix`; `const` so the
/// macro can check test names at compile time.
pub const fn is_story_test(test: &str, story: &str, suffix: &str) -> bool {
    let (test, story, suffix) = (test.as_bytes(), story.as_bytes(), suffix.as_bytes());
    if test.len() != story.len() + suffix.len() {
        return false;
    }
    let mut i = 0;
    while i < test.len() {
        let expected = if i < story.len() {
            story[i]
        } else {
            suffix[i - story.len()]
        };
        if test[i] != expected {
            return false;
        }
        i += 1;
    }
    true
}

/// Runs `story` on a fresh SQLite store in a temporary directory.
pub async fn with_sqlite_store<S, F>(story: S)
where
    S: FnOnce(Arc<dyn Store>) -> F,
    F: Future<Output = ()>,
{
    let dir = tempfile::TempDir::new().expect("cannot create a temporary directory for SQLite");
    let path = dir.path().join("tierlink.db");
    let url = format!("sqlite://{}", path.display());
    let store = tierlink::store::open(&url, dir.path())
        .await
        .unwrap_or_else(|error| panic!("cannot open the SQLite store at {url}: {error}"));
    assert_eq!(store.backend(), Backend::Sqlite);
    story(store).await;
    // The story owned the store, so its pool is closed before the directory
    // (dropped here) is removed.
    drop(dir);
}

/// Runs `story` on a fresh PostgreSQL database, or skips with a note when
/// [`POSTGRES_URL_VAR`] is unset.
pub async fn with_postgres_store<S, F>(story_name: &str, story: S)
where
    S: FnOnce(Arc<dyn Store>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let admin_url = match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => {
            eprintln!(
                "skipped the PostgreSQL run of `{story_name}`: {POSTGRES_URL_VAR} is not set or empty \
                 (set it to e.g. postgres://postgres@127.0.0.1:5432/postgres to run it)"
            );
            return;
        }
    };

    let database = TestDatabase::create(&admin_url).await;
    let store = match tierlink::store::open(&database.url, std::path::Path::new(".")).await {
        Ok(store) => store,
        Err(error) => {
            database.drop_database().await;
            panic!(
                "cannot open the PostgreSQL store on {}: {error}",
                redact_url(&database.url)
            );
        }
    };
    assert_eq!(store.backend(), Backend::Postgres);

    // The story runs as its own task so that a panic in it comes back here
    // as a JoinError instead of unwinding past the cleanup. The task owns
    // the store; when it ends its pool is dropped, and DROP ... WITH (FORCE)
    // ends any connection the pool has not closed yet.
    let outcome = tokio::spawn(story(store)).await;
    database.drop_database().await;
    match outcome {
        Ok(()) => {}
        Err(error) if error.is_panic() => panic::resume_unwind(error.into_panic()),
        Err(error) => panic!("the story `{story_name}` did not finish: {error}"),
    }
}

/// A PostgreSQL database created for one story.
struct TestDatabase {
    admin_url: String,
    name: String,
    /// The URL of the new database, for `tierlink::store::open`.
    url: String,
}

impl TestDatabase {
    /// Creates a uniquely named, empty UTF-8 database. Panics with the
    /// (redacted) URL when the server cannot be reached: a set URL means the
    /// PostgreSQL runs are wanted.
    async fn create(admin_url: &str) -> TestDatabase {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the system clock is before 1970")
            .as_nanos();
        let name = format!(
            "tierlink_test_{}_{nanos}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = admin_connection(admin_url).await;
        // template0 rather than template1: concurrent tests may not copy a
        // template someone is connected to, and nobody connects to template0.
        // UTF8 so the Chinese and emoji stories test the store, not the
        // server's default encoding.
        sqlx::query(&format!(
            "CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'"
        ))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|error| panic!("cannot create the test database {name}: {error}"));
        admin.close().await.ok();
        TestDatabase {
            url: with_database(admin_url, &name),
            admin_url: admin_url.to_string(),
            name,
        }
    }

    /// Drops the database. A failure is reported but not raised here: the
    /// caller may be about to re-raise the story's own panic, which matters
    /// more; a leaked database only costs disk space and is easy to spot by
    /// its `tierlink_test_` name.
    async fn drop_database(&self) {
        let result = async {
            let mut admin = PgConnection::connect(&self.admin_url).await?;
            sqlx::query(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin)
            .await?;
            admin.close().await
        }
        .await;
        if let Err(error) = result {
            eprintln!(
                "warning: cannot drop the test database {}: {error}",
                self.name
            );
        }
    }
}

/// How long to wait for the admin connection; a host that drops packets
/// would otherwise hang the test for the operating system's TCP timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects as admin, failing the test with a clear message when the
/// server named by a set [`POSTGRES_URL_VAR`] is unreachable.
async fn admin_connection(admin_url: &str) -> PgConnection {
    let error = match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(admin_url)).await
    {
        Ok(Ok(connection)) => return connection,
        Ok(Err(error)) => error.to_string(),
        Err(_) => format!("no answer within {} seconds", CONNECT_TIMEOUT.as_secs()),
    };
    panic!(
        "{POSTGRES_URL_VAR} is set to {}, but connecting to it failed: {error}\n\
         start the server, fix the URL, or unset {POSTGRES_URL_VAR} to skip the PostgreSQL runs",
        redact_url(admin_url)
    )
}

/// Replaces the database in a `postgres://` URL, keeping credentials, host
/// and query parameters (such as `sslmode`).
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    // The authority cannot hold a '/', so the first one after it starts the
    // path, which is the database name.
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |at| authority_start + at);
    let mut out = format!("{}/{database}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[test]
fn with_database_replaces_only_the_database_name() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
        "postgres://postgres@127.0.0.1:5432/t1"
    );
    assert_eq!(
        with_database("postgres://u:p@db:5432", "t1"),
        "postgres://u:p@db:5432/t1"
    );
    assert_eq!(
        with_database("postgresql://db/admin?sslmode=disable", "t1"),
        "postgresql://db/t1?sslmode=disable"
    );
}

#[test]
fn story_test_names_are_checked() {
    assert!(is_story_test("runs_sqlite", "runs", "_sqlite"));
    assert!(!is_story_test("run_sqlite", "runs", "_sqlite"));
    assert!(!is_story_test("runs_postgres", "runs", "_sqlite"));
}

/// The repository root, where the bundled sample project lives.
pub fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copies a folder tree.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for entry in std::fs::read_dir(from).expect("read folder") {
        let entry = entry.expect("folder entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy file");
        }
    }
}

/// A copy of the bundled sample project in a temporary folder, so tests
/// never touch the repository's own store or outputs.
pub fn sample_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for file in ["tierlink.toml", "tiers.toml"] {
        std::fs::copy(repo().join(file), dir.path().join(file)).expect("copy config");
    }
    for folder in ["connectors", "mappings", "samples/data"] {
        copy_dir(&repo().join(folder), &dir.path().join(folder));
    }
    dir
}
