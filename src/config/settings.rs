//! `tierlink.toml`: where the store is, where the other files are, schedules
//! and the server address. Every value can be overridden by an environment
//! variable `TIERLINK__SECTION__KEY`, e.g. `TIERLINK__STORE__URL`.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The contents of `tierlink.toml`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub store: StoreSettings,
    #[serde(default)]
    pub paths: PathSettings,
    #[serde(default)]
    pub schedule: ScheduleSettings,
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub segment: SegmentSettings,
    /// Where tier changes are sent as events, if anywhere.
    pub events: Option<EventSettings>,
}

/// Where tierlink keeps its data.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// `sqlite://PATH` (relative to this file's directory) or
    /// `postgres://user@host/db`. Put a password in the environment
    /// (`TIERLINK__STORE__URL`), not in this file.
    #[serde(default = "default_store_url")]
    pub url: String,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            url: default_store_url(),
        }
    }
}

fn default_store_url() -> String {
    "sqlite://tierlink.db".to_string()
}

/// Where the other configuration files and the outputs are, relative to the
/// directory of `tierlink.toml`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PathSettings {
    /// The folder of connector files, one `<id>.toml` per connector.
    pub connectors: PathBuf,
    /// The folder of mapping files, `<connector id>.toml`.
    pub mappings: PathBuf,
    /// The tier rules file.
    pub tiers: PathBuf,
    /// Where file outputs (label exports) are written.
    pub output: PathBuf,
}

impl Default for PathSettings {
    fn default() -> Self {
        PathSettings {
            connectors: "connectors".into(),
            mappings: "mappings".into(),
            tiers: "tiers.toml".into(),
            output: "out".into(),
        }
    }
}

impl PathSettings {
    /// Makes every path absolute against `base`.
    pub fn resolved_against(&self, base: &Path) -> PathSettings {
        PathSettings {
            connectors: base.join(&self.connectors),
            mappings: base.join(&self.mappings),
            tiers: base.join(&self.tiers),
            output: base.join(&self.output),
        }
    }
}

/// When `tierlink serve` runs the pipeline, as cron expressions with seconds
/// (`sec min hour day-of-month month day-of-week`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSettings {
    /// A full run over everything, e.g. `"0 0 2 * * *"` (02:00 daily).
    pub full: Option<String>,
    /// An incremental run over what changed, e.g. `"0 */5 * * * *"`.
    pub incremental: Option<String>,
}

/// The HTTP server of `tierlink serve`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// The address to listen on.
    #[serde(default = "default_server_address")]
    pub address: String,
    /// Who may call the API and open the UI: one `[[server.tokens]]` table
    /// per token, made with `tierlink token new`.
    #[serde(default)]
    pub tokens: Vec<TokenSettings>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            address: default_server_address(),
            tokens: Vec::new(),
        }
    }
}

/// One API token. Only its SHA-256 is configured, so the file (and the
/// process) never hold the token itself.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// Who holds the token; the actor of their steward decisions.
    pub name: String,
    pub role: Role,
    /// The token's SHA-256, 64 hexadecimal digits.
    pub sha256: String,
}

/// What a token may do. Each role may do everything the roles before it may.
#[derive(
    Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything, with phones and e-mails masked.
    Viewer,
    /// Also sees phones and e-mails, decides review items, merges, splits,
    /// sets fields and undoes decisions.
    Steward,
    /// Also starts runs and syncs and verifies what the systems carry.
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Steward => "steward",
            Role::Admin => "admin",
        }
    }
}

fn default_server_address() -> String {
    "127.0.0.1:8080".to_string()
}

/// How tiers are computed.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct SegmentSettings {
    /// Evaluate recency and windows as of this date instead of today. Pin it
    /// to replay history or to make a fixed sample give the same tiers on
    /// any day; leave it out in production.
    pub as_of: Option<NaiveDate>,
}

/// `[events]`: every tier change (first assignments included) POSTed as a
/// signed JSON event to a URL after each run, from the `tier_events`
/// outbox; an event is marked consumed only once the receiver answered
/// 2xx, so none is lost and a failed delivery is retried by the next run.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EventSettings {
    pub url: String,
    /// The signing key as a reference to an environment variable,
    /// `"${TIER_EVENTS_SECRET}"`.
    pub secret: String,
    /// Events per request.
    #[serde(default = "default_event_batch_size")]
    pub batch_size: usize,
    /// Attempts per request, the first included.
    #[serde(default = "default_event_max_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_event_timeout_secs")]
    pub timeout_secs: f64,
}

fn default_event_batch_size() -> usize {
    100
}

fn default_event_max_attempts() -> u32 {
    5
}

fn default_event_timeout_secs() -> f64 {
    30.0
}
