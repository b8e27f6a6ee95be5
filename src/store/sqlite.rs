//! The embedded default store: one SQLite file in WAL mode.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::StoreError;

/// The SQLite backend.
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database named by a
    /// `sqlite://PATH` or `sqlite::memory:` URL.
    pub async fn open(url: &str, base_dir: &Path) -> Result<SqliteStore, StoreError> {
        let url = resolve_sqlite_path(url, base_dir);
        let options = SqliteConnectOptions::from_str(&url)
            .map_err(|source| StoreError::Open {
                url: url.clone(),
                source,
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // In WAL mode NORMAL keeps the database consistent after a crash;
            // only the last transactions before a power loss may be lost.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            // Large reads (the push diff, resolution) go through the OS page
            // cache without a copy per page, and each connection keeps 32 MiB
            // of pages of its own.
            .pragma("mmap_size", "268435456")
            .pragma("cache_size", "-32768");
        let in_memory = url.contains(":memory:");
        let pool = SqlitePoolOptions::new()
            // An in-memory database exists once per connection, so keep one.
            .max_connections(if in_memory { 1 } else { 4 })
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                url: url.clone(),
                source,
            })?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(SqliteStore { pool })
    }
}

/// Makes a relative `sqlite://` path relative to `base_dir` (the directory
/// of `tierlink.toml`), for the store and for `sql` connectors alike.
pub fn resolve_sqlite_path(url: &str, base_dir: &Path) -> String {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    if path.starts_with(':') || path.is_empty() || Path::new(path).is_absolute() {
        return url.to_string();
    }
    let absolute = base_dir.join(path);
    match query {
        Some(query) => format!("sqlite://{}?{query}", absolute.display()),
        None => format!("sqlite://{}", absolute.display()),
    }
}

super::sql::impl_store!(SqliteStore, Backend::Sqlite, sqlx::Sqlite);

#[cfg(test)]
mod tests {
    use super::resolve_sqlite_path;
    use std::path::Path;

    #[test]
    fn relative_paths_follow_the_config_directory() {
        let base = Path::new("/srv/tierlink");
        assert_eq!(
            resolve_sqlite_path("sqlite://tierlink.db", base),
            "sqlite:///srv/tierlink/tierlink.db"
        );
        assert_eq!(
            resolve_sqlite_path("sqlite:data/t.db?mode=rwc", base),
            "sqlite:///srv/tierlink/data/t.db?mode=rwc"
        );
        assert_eq!(
            resolve_sqlite_path("sqlite:///var/t.db", base),
            "sqlite:///var/t.db"
        );
        assert_eq!(
            resolve_sqlite_path("sqlite::memory:", base),
            "sqlite::memory:"
        );
    }
}
