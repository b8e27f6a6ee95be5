//! The PostgreSQL store, for scale and for several workers sharing one
//! database.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

use super::{redact_url, StoreError};

/// The PostgreSQL backend.
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to and migrates the database named by a `postgres://` URL.
    pub async fn open(url: &str) -> Result<PostgresStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|source| StoreError::Open {
                url: redact_url(url),
                source,
            })?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(PostgresStore { pool })
    }
}

super::sql::impl_store!(PostgresStore, Backend::Postgres, sqlx::Postgres);
