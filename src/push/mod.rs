//! Push-back: the tier label every source record should carry, delivered
//! into the systems the records came from, exactly once in effect.
//!
//! - [`plan`]: pure; diffs the labels the records should carry against the
//!   push ledger: what to add, what to remove (only labels tierlink wrote),
//!   what is unchanged or blocked.
//! - [`deliver`]: sends a plan through a sink in batches with bounded
//!   concurrency, writing ahead what it is about to send and marking a label
//!   delivered only after the system acknowledged it; failures become dead
//!   letters, retried by every push until they succeed or are dropped.
//! - [`verify`]: reads the labels back and reports drift; `--repair`
//!   re-applies.
//! - [`sinks`]: one file per system kind and the registry.
//! - [`events`]: tier changes from the `tier_events` outbox, POSTed to the
//!   URL of `[events]` in `tierlink.toml`.

pub mod deliver;
pub mod events;
pub mod plan;
pub mod sinks;
pub mod verify;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::config::{closest, deserialize_section, Problem};
use crate::connectors::ConnectorDefinition;

pub use deliver::{push_connector, PushOptions, SinkReport};
pub use events::{relay_tier_events, EventRelay, EventsReport};
pub use plan::{plan_push, PlanCounts, PushPlan};
pub use sinks::{Carried, Failure, LabelChange, Sink};
pub use verify::{verify_connector, VerifyReport};

/// Batches in flight per sink unless `push.concurrency` says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// A connector's `[push]` table, built.
#[derive(Clone)]
pub struct PushSettings {
    /// The `push.sink` kind.
    pub kind: String,
    pub sink: Arc<dyn Sink>,
    /// Batches in flight at once.
    pub concurrency: usize,
}

impl fmt::Debug for PushSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushSettings")
            .field("kind", &self.kind)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

/// The fields of `[push]` every sink has.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommonSettings {
    sink: String,
    #[serde(default = "default_concurrency")]
    concurrency: usize,
    /// A request bucket of the push's own, for APIs whose write endpoints
    /// have their own quota; without it pushes share the connector's.
    rate_limit: Option<OwnRateLimit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnRateLimit {
    requests_per_second: f64,
    #[serde(default = "default_burst")]
    burst: u32,
}

fn default_burst() -> u32 {
    1
}

fn default_concurrency() -> usize {
    DEFAULT_CONCURRENCY
}

/// Builds a connector's `[push]` table into its sink.
pub fn build(
    connector: &ConnectorDefinition,
    connector_kind: &str,
    mut table: toml::Table,
    output_dir: &Path,
) -> Result<PushSettings, Vec<Problem>> {
    let mut common = toml::Table::new();
    for key in ["sink", "concurrency", "rate_limit"] {
        if let Some(value) = table.remove(key) {
            common.insert(key.to_string(), value);
        }
    }
    let common: CommonSettings =
        deserialize_section(connector.file, "push", toml::Value::Table(common))
            .map_err(|problem| vec![problem])?;
    let Some(kind) = sinks::find_kind(&common.sink) else {
        let known: Vec<&str> = sinks::registry().iter().map(|kind| kind.name).collect();
        let hint = match closest(&common.sink, &known) {
            Some(near) => format!("did you mean {near:?}? Sinks: {}", known.join(", ")),
            None => format!("use one of: {}", known.join(", ")),
        };
        return Err(vec![Problem::new(
            connector.file,
            "push.sink",
            format!("unknown sink {:?}", common.sink),
        )
        .with_hint(hint)]);
    };
    if common.concurrency == 0 {
        return Err(vec![Problem::new(
            connector.file,
            "push.concurrency",
            "must be at least 1",
        )]);
    }
    let definition = sinks::SinkDefinition {
        connector,
        connector_kind,
        table,
        output_dir,
        rate_limit: common
            .rate_limit
            .map(|limit| (limit.requests_per_second, limit.burst)),
    };
    Ok(PushSettings {
        kind: kind.name.to_string(),
        sink: (kind.build)(&definition)?,
        concurrency: common.concurrency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(connector_kind: &str, push: &str) -> Vec<Problem> {
        let table: toml::Table = toml::from_str(push).expect("toml");
        let definition = ConnectorDefinition {
            id: "shop",
            file: Path::new("connectors/shop.toml"),
            base_dir: Path::new("."),
            table: toml::Table::new(),
        };
        match build(&definition, connector_kind, table, Path::new("out")) {
            Ok(settings) => panic!("expected problems, built {settings:?}"),
            Err(problems) => problems,
        }
    }

    #[test]
    fn a_bad_push_table_names_the_field_and_what_to_do() {
        let unknown = problems("file", "sink = \"wecomm\"");
        assert_eq!(unknown[0].field, "push.sink");
        assert!(unknown[0]
            .hint
            .as_deref()
            .unwrap_or("")
            .contains("\"wecom\""));

        let wrong_connector = problems("file", "sink = \"wecom\"");
        assert_eq!(wrong_connector[0].field, "push.sink");
        assert!(wrong_connector[0].message.contains("http connector"));

        let typo = problems("file", "sink = \"file\"\nformat = \"xml\"");
        assert_eq!(typo[0].field, "push.format");

        let zero = problems("file", "sink = \"file\"\nconcurrency = 0");
        assert_eq!(zero[0].field, "push.concurrency");

        let webhook = problems(
            "file",
            "sink = \"webhook\"\nurl = \"not a url\"\nsecret = \"${TIERLINK_UNIT_UNSET_SECRET}\"",
        );
        assert!(
            webhook.iter().any(|p| p.field.starts_with("push.")),
            "{webhook:?}"
        );
    }

    #[test]
    fn the_file_sink_builds_with_its_default_path() {
        let definition = ConnectorDefinition {
            id: "erp",
            file: Path::new("connectors/erp.toml"),
            base_dir: Path::new("."),
            table: toml::Table::new(),
        };
        let table: toml::Table = toml::from_str("sink = \"file\"\nconcurrency = 2").expect("toml");
        let settings = build(&definition, "sql", table, Path::new("out")).expect("builds");
        assert_eq!((settings.kind.as_str(), settings.concurrency), ("file", 2));
        assert!(settings.sink.snapshot());
    }
}
