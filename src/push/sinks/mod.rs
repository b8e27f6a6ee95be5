//! Sinks: how a tier label reaches one kind of system. One file per kind and
//! an explicit [`registry`], like the connector kinds.
//!
//! A connector file chooses its sink in a `[push]` table:
//!
//! ```toml
//! [push]
//! sink = "wecom"          # a name in the registry
//! concurrency = 4         # batches in flight (default 4)
//! tag_group = "客户等级"   # the rest is the sink's own
//! ```

mod file;
mod odoo;
mod shopify;
mod sql;
mod webhook;
mod wecom;
mod zendesk;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::config::{deserialize_section, Problem};
use crate::connectors::{http, ConnectorDefinition, ConnectorError, SourceContext};

pub use webhook::{delivery_problems, SignedPost};

/// One record's label change: carry `label` (none: carry no tier label),
/// and drop the `remove` labels, which tierlink wrote earlier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelChange {
    pub source_id: String,
    pub golden_id: Option<String>,
    pub tier: Option<String>,
    pub label: Option<String>,
    pub remove: Vec<String>,
    pub rules_version: String,
}

/// Why a change was not delivered, with what was sent and answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: String,
    /// The request, secrets redacted.
    pub request: String,
    pub response: Option<String>,
    /// Whether the system was unavailable (worth trying again later) rather
    /// than refusing the request.
    pub retryable: bool,
}

impl Failure {
    /// A failure of `request` for the reason an API call gave.
    pub fn of(request: impl Into<String>, error: &ConnectorError) -> Failure {
        Failure {
            reason: error.to_string(),
            request: request.into(),
            response: None,
            retryable: error.retryable,
        }
    }

    /// A refusal: retrying the same request will not help.
    pub fn refused(reason: impl Into<String>, request: impl Into<String>) -> Failure {
        Failure {
            reason: reason.into(),
            request: request.into(),
            response: None,
            retryable: false,
        }
    }
}

/// What became of a batch: an outcome per change, in order, or one failure
/// for the whole batch (when the system refused it, the engine then sends
/// its changes one by one, so one bad record cannot hold back the others).
pub type BatchOutcome = Result<Vec<Result<(), Failure>>, Failure>;

/// The tier labels a record carries now, as read back by `push verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carried {
    /// Every label the record carries (verify keeps the tier labels).
    Labels(Vec<String>),
    /// The system no longer has the record.
    Gone,
    /// The record could not be read.
    Unreadable(String),
}

/// A system tier labels are pushed into.
#[async_trait]
pub trait Sink: Send + Sync + fmt::Debug {
    /// How many changes one [`Sink::apply`] call may carry.
    fn batch_size(&self) -> usize;

    /// Whether the sink writes a whole snapshot (a file export): it then
    /// receives every labelled record in one batch, changed or not.
    fn snapshot(&self) -> bool {
        false
    }

    /// Applies a batch of changes.
    async fn apply(&self, context: &SourceContext, changes: &[LabelChange]) -> BatchOutcome;

    /// Whether [`Sink::read_labels`] can read anything back (a webhook
    /// receiver cannot).
    fn readable(&self) -> bool {
        true
    }

    /// Reads back what the records carry, one answer per source id.
    async fn read_labels(
        &self,
        context: &SourceContext,
        source_ids: &[String],
    ) -> Result<Vec<Carried>, ConnectorError>;

    /// How many records one [`Sink::read_labels`] call may ask for.
    fn read_batch_size(&self) -> usize {
        100
    }

    /// Answers so far that said "slow down".
    fn throttled(&self) -> u64 {
        0
    }
}

/// What a sink kind is built from.
pub struct SinkDefinition<'a> {
    /// The connector the sink writes back to (its file minus `[push]`).
    pub connector: &'a ConnectorDefinition<'a>,
    /// The connector's `type`.
    pub connector_kind: &'a str,
    /// The sink's own fields of `[push]`.
    pub table: toml::Table,
    /// Where file exports go by default (`paths.output`).
    pub output_dir: &'a Path,
    /// `push.rate_limit`: a bucket of the push's own (requests per second,
    /// burst) instead of the connector's.
    pub rate_limit: Option<(f64, u32)>,
}

impl SinkDefinition<'_> {
    /// The sink's fields as `T`, problems naming `push.<field>`.
    pub fn settings<T: serde::de::DeserializeOwned>(&self) -> Result<T, Vec<Problem>> {
        deserialize_section(
            self.connector.file,
            "push",
            toml::Value::Table(self.table.clone()),
        )
        .map_err(|problem| vec![problem])
    }

    /// The connector's request handle, for sinks that write through an
    /// `http` connector's API.
    pub fn http_api(&self, sink: &str) -> Result<http::HttpApi, Vec<Problem>> {
        if self.connector_kind != "http" {
            return Err(vec![Problem::new(
                self.connector.file,
                "push.sink",
                format!(
                    "the {sink} sink writes through an http connector; this one is {:?}",
                    self.connector_kind
                ),
            )
            .with_hint(format!(
                "put the [push] table into the {sink} preset's connector file"
            ))]);
        }
        let api = http::api(self.connector)?;
        Ok(match self.rate_limit {
            Some((rate, burst)) => api.with_own_rate_limit(rate, burst),
            None => api,
        })
    }
}

/// Builds a sink, or says every problem with its settings.
pub type BuildSink = fn(&SinkDefinition) -> Result<Arc<dyn Sink>, Vec<Problem>>;

/// One sink kind in the registry.
pub struct SinkKind {
    /// The `push.sink` value that selects it.
    pub name: &'static str,
    pub summary: &'static str,
    pub build: BuildSink,
}

/// Every sink kind tierlink knows.
pub fn registry() -> &'static [SinkKind] {
    static KINDS: [SinkKind; 7] = [
        SinkKind {
            name: "wecom",
            summary: "WeCom corp tags on every follow member's relationship (mark_tag)",
            build: wecom::build,
        },
        SinkKind {
            name: "shopify",
            summary:
                "Shopify customer tags, added and removed one by one (GraphQL tagsAdd/tagsRemove)",
            build: shopify::build,
        },
        SinkKind {
            name: "zendesk",
            summary: "Zendesk user tags (add and delete), or a user field",
            build: zendesk::build,
        },
        SinkKind {
            name: "odoo",
            summary:
                "Odoo partner tags (res.partner.category), linked and unlinked, never replaced",
            build: odoo::build,
        },
        SinkKind {
            name: "sql",
            summary: "an UPDATE of one column of a table in the sql connector's database",
            build: sql::build,
        },
        SinkKind {
            name: "file",
            summary: "a CSV or JSON Lines export of every record's label, replaced atomically",
            build: file::build,
        },
        SinkKind {
            name: "webhook",
            summary: "tier changes POSTed as JSON, signed with HMAC-SHA256",
            build: webhook::build,
        },
    ];
    &KINDS
}

/// The sink kind registered under `name`.
pub fn find_kind(name: &str) -> Option<&'static SinkKind> {
    registry().iter().find(|kind| kind.name == name)
}

/// `"..."` with the quotes of JSON text, for request descriptions.
fn compact(value: &serde_json::Value) -> String {
    value.to_string()
}
