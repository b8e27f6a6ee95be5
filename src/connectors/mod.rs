//! Source connectors: the trait every kind implements and the registry that
//! maps a connector file's `type = "..."` to its implementation.
//!
//! Adding a kind means adding a folder here (its config, its source, its
//! tests) and one line in [`registry`].

pub mod file;
pub mod http;
pub mod rate_limit;
pub mod sql;
pub mod webhook;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Problem;
use crate::store::{StagedBatch, Store};
use rate_limit::RateLimiters;

/// What a source may use while it works, shared by every connector of one
/// process.
#[derive(Clone)]
pub struct SourceContext {
    /// The store, for reading what earlier streams staged (fan-out).
    pub store: Arc<dyn Store>,
    /// One HTTP client, so connections are pooled and kept alive.
    pub http: reqwest::Client,
    /// Rate limits per credential, shared with push-back.
    pub limiters: Arc<RateLimiters>,
    /// Cancelled when the process is asked to stop: finish or abandon the
    /// current page, never commit half of one.
    pub shutdown: CancellationToken,
}

impl SourceContext {
    /// A context with a default HTTP client and no shutdown requested.
    pub fn new(store: Arc<dyn Store>) -> SourceContext {
        let http = reqwest::Client::builder()
            .user_agent(concat!("tierlink/", env!("CARGO_PKG_VERSION")))
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default();
        SourceContext {
            store,
            http,
            limiters: Arc::new(RateLimiters::default()),
            shutdown: CancellationToken::new(),
        }
    }
}

impl fmt::Debug for SourceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceContext").finish_non_exhaustive()
    }
}

/// A connector file after its common header (`type`, `description`) has
/// been read: what a kind needs to build its source.
pub struct ConnectorDefinition<'a> {
    /// The connector's id, its file stem.
    pub id: &'a str,
    /// The connector file, for error messages.
    pub file: &'a Path,
    /// The directory of `tierlink.toml`; relative paths in the file start here.
    pub base_dir: &'a Path,
    /// The kind-specific rest of the file.
    pub table: toml::Table,
}

/// Builds a source from a connector file, or says every problem in it.
pub type BuildSource = fn(&ConnectorDefinition) -> Result<Arc<dyn Source>, Vec<Problem>>;

/// One connector kind in the registry.
pub struct ConnectorKind {
    /// The `type` value that selects this kind.
    pub name: &'static str,
    /// One line on what the kind reads.
    pub summary: &'static str,
    /// Builds a source from a connector file.
    pub build: BuildSource,
}

/// Every connector kind tierlink knows.
pub fn registry() -> &'static [ConnectorKind] {
    static KINDS: [ConnectorKind; 4] = [
        ConnectorKind {
            name: "file",
            summary: "CSV, JSON Lines or JSON files on disk",
            build: file::build,
        },
        ConnectorKind {
            name: "sql",
            summary: "tables in PostgreSQL, MySQL/MariaDB or SQLite, read incrementally",
            build: sql::build,
        },
        ConnectorKind {
            name: "http",
            summary: "any JSON HTTP API, declared in the connector file",
            build: http::build,
        },
        ConnectorKind {
            name: "webhook",
            summary: "records pushed over HTTP and signed with HMAC-SHA256 (`tierlink listen`)",
            build: webhook::build,
        },
    ];
    &KINDS
}

/// The kind registered under `name`.
pub fn find_kind(name: &str) -> Option<&'static ConnectorKind> {
    registry().iter().find(|kind| kind.name == name)
}

/// Whose fault a connector error is, which decides what helps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorDomain {
    /// The configuration is wrong: fix the connector file.
    Config,
    /// The source system failed or refused: it may pass on retry.
    External,
    /// tierlink itself failed (e.g. the store).
    Internal,
}

/// Why a connector could not check or pull.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectorError {
    pub domain: ErrorDomain,
    pub message: String,
    /// Whether trying again later can help.
    pub retryable: bool,
    /// The HTTP status the source refused the request with, if it did
    /// (e.g. 404: the record is not there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
}

impl ConnectorError {
    pub fn config(message: impl Into<String>) -> ConnectorError {
        ConnectorError {
            domain: ErrorDomain::Config,
            message: message.into(),
            retryable: false,
            http_status: None,
        }
    }

    pub fn external(message: impl Into<String>, retryable: bool) -> ConnectorError {
        ConnectorError {
            domain: ErrorDomain::External,
            message: message.into(),
            retryable,
            http_status: None,
        }
    }

    /// The same error, noting the HTTP status the source answered.
    pub fn with_http_status(self, status: u16) -> ConnectorError {
        ConnectorError {
            http_status: Some(status),
            ..self
        }
    }

    pub fn internal(message: impl Into<String>) -> ConnectorError {
        ConnectorError {
            domain: ErrorDomain::Internal,
            message: message.into(),
            retryable: false,
            http_status: None,
        }
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if self.retryable {
            write!(f, " (retrying later may help)")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConnectorError {}

/// The configuration of `name` among a connector's streams, or an error
/// naming the connector and the stream.
pub fn stream_config<'a, T>(
    connector: &str,
    streams: &'a [(String, T)],
    name: &str,
) -> Result<&'a T, ConnectorError> {
    streams
        .iter()
        .find(|(stream, _)| stream == name)
        .map(|(_, config)| config)
        .ok_or_else(|| {
            ConnectorError::config(format!("connector {connector} has no stream {name:?}"))
        })
}

/// What `check` found: the connector works and a sample of what it reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    /// Per stream: a short description of what was reached and sampled.
    pub streams: Vec<(String, String)>,
}

/// A system tierlink pulls records from.
#[async_trait]
pub trait Source: Send + Sync + fmt::Debug {
    /// The streams this connector yields, in the order they are synced.
    fn streams(&self) -> Vec<String>;

    /// Tests the connection and reads a sample without writing anything.
    async fn check(&self, context: &SourceContext) -> Result<CheckReport, ConnectorError>;

    /// Pulls one stream from `cursor` on, sending batches of records, each
    /// with the cursor that follows it. The receiver commits every batch
    /// with its cursor in one transaction, so a failure never moves the
    /// cursor past records that were not stored.
    async fn pull(
        &self,
        context: &SourceContext,
        stream: &str,
        cursor: Option<serde_json::Value>,
        batches: mpsc::Sender<StagedBatch>,
    ) -> Result<(), ConnectorError>;
}
