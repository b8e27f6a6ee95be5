//! Persistence behind one trait, with SQLite (the embedded default) and
//! PostgreSQL (for scale) backends.
//!
//! Both backends run the same queries (`sql.rs` writes them once for both);
//! only the schema differs, in `migrations/sqlite` and `migrations/postgres`,
//! which run when a store is opened. The same story tests run on both.

mod postgres;
mod sql;
mod sqlite;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::golden::{CustomerState, LinkState};
use crate::model::{Call, Entity, Message, Party, PartyKey, Ticket};

pub use crate::resolve::fellegi_sunter::FieldContribution;
pub use postgres::PostgresStore;
pub use sqlite::{resolve_sqlite_path, SqliteStore};

/// Errors from the store. Messages name the operation that failed; they
/// never contain connection passwords.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported store URL scheme in {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("cannot open the store at {url}: {source}")]
    Open {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot migrate the store schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A write the stored state does not allow, e.g. deciding a review
    /// item that is already decided; the message says what and why.
    #[error("{0}")]
    Refused(String),
    #[error("store query failed while {action}: {source}")]
    Query {
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Opens the store named by `url`, creating and migrating it as needed.
/// Relative SQLite paths are taken from `base_dir` (the directory of
/// `tierlink.toml`), so the store does not move with the working directory.
pub async fn open(url: &str, base_dir: &Path) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url, base_dir).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(redact_url(url)))
    }
}

/// Removes the password from a database URL before it is shown anywhere.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match credentials.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// A source record as fetched, before mapping.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceRecord {
    pub source_id: String,
    pub raw: serde_json::Value,
}

/// A record that could not be fetched or mapped, kept with the reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    /// The record's id when one could be read.
    pub source_id: Option<String>,
    pub reason: String,
    /// The raw payload as text, so even undecodable input is kept.
    pub raw: String,
}

/// What one fetched page or file chunk holds; committed in one transaction
/// together with the cursor that follows it.
#[derive(Debug, Clone, Default)]
pub struct StagedBatch {
    pub records: Vec<SourceRecord>,
    pub rejected: Vec<Rejection>,
    /// The stream's cursor after this batch, if it moved.
    pub cursor: Option<serde_json::Value>,
}

/// How a staged batch compared with what was stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StageCounts {
    pub fetched: u64,
    pub new: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub rejected: u64,
}

impl StageCounts {
    pub fn add(&mut self, other: StageCounts) {
        self.fetched += other.fetched;
        self.new += other.new;
        self.changed += other.changed;
        self.unchanged += other.unchanged;
        self.rejected += other.rejected;
    }
}

/// A staged record waiting for its mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct StagedRecord {
    pub source_id: String,
    pub content_hash: String,
    pub raw: serde_json::Value,
}

/// The mapping's result for one staged record.
#[derive(Debug, Clone)]
pub struct MappedRecord {
    pub source_id: String,
    pub content_hash: String,
    pub outcome: Result<Entity, String>,
    /// The raw payload, kept for the rejected-records table on failure.
    pub raw: serde_json::Value,
}

/// A stored party with its store id.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredParty {
    pub id: i64,
    pub party: Party,
}

/// An order reduced to what tiering needs, with the golden customer whose
/// party placed it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderFact {
    pub golden_id: String,
    pub connector: String,
    pub source_id: String,
    pub amount: f64,
    pub status: String,
    pub ordered_at: DateTime<Utc>,
    /// A copy of another order of the same golden customer, which it cites
    /// by number (an ERP order imported from the shop): that order counts,
    /// this one does not.
    pub copy: bool,
}

/// A party's membership in a golden customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoldenLink {
    pub party: PartyKey,
    pub golden_id: String,
    /// Why the party belongs here, e.g. the shared key that linked it.
    pub evidence: LinkEvidence,
}

/// Why a party belongs to its golden customer, as stored on its link (a
/// JSON object: `shared_keys`, `match`, `steward_decisions`). Typed, not
/// free JSON: a million links hold it at once during a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkEvidence {
    /// Match keys (`phone:+86…`, `email:…`) it shares with another member.
    #[serde(default)]
    pub shared_keys: Vec<String>,
    /// The strongest scored link that joined it.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub matched: Option<MatchEvidence>,
    /// Steward decisions whose must-links joined it, in id order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steward_decisions: Vec<i64>,
}

impl std::fmt::Display for LinkEvidence {
    /// As the JSON object it is stored as.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let json = serde_json::to_string(self).map_err(|_| std::fmt::Error)?;
        f.write_str(&json)
    }
}

/// The link that joined a party: the other record, how sure the engine
/// was, and each field's part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchEvidence {
    /// The other record's key, `connector:source_id`.
    pub with: String,
    /// Match probability, to four decimals.
    pub probability: f64,
    /// Match weight to four decimals, or `"strong id"` for a link a strong
    /// identifier made.
    #[serde(with = "match_weight")]
    pub weight: Option<f64>,
    /// The field of the strong-identifier rule that linked the pair
    /// (`uscc`, `order`), when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strong_id: Option<std::sync::Arc<str>>,
    pub explanation: Vec<FieldContribution>,
}

/// A match weight as evidence writes it: a number, or `"strong id"`.
mod match_weight {
    use serde::{Deserialize, Deserializer, Serializer};

    const STRONG_ID: &str = "strong id";

    pub fn serialize<S: Serializer>(
        weight: &Option<f64>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match weight {
            Some(weight) => serializer.serialize_f64(*weight),
            None => serializer.serialize_str(STRONG_ID),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<f64>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Number(f64),
            Label(String),
        }
        match Written::deserialize(deserializer)? {
            Written::Number(weight) => Ok(Some(weight)),
            Written::Label(label) if label == STRONG_ID => Ok(None),
            Written::Label(label) => Err(serde::de::Error::custom(format!(
                "a match weight is a number or {STRONG_ID:?}, not {label:?}"
            ))),
        }
    }
}

/// Records resolution found to be one customer: what the matching engine
/// hands to the golden stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedCluster {
    /// Members in sorted order.
    pub members: Vec<PartyKey>,
    /// For each member, in member order, why it belongs (shared keys,
    /// match scores, steward decisions), stored on its golden link.
    pub evidence: Vec<LinkEvidence>,
}

/// A golden customer as resolution wants it stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoldenCustomer {
    pub golden_id: String,
    /// Survived field values, by field name.
    pub fields: BTreeMap<String, serde_json::Value>,
    /// For each field, the party that gave its value.
    pub lineage: BTreeMap<String, PartyKey>,
}

/// A golden customer found by a search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerHit {
    pub golden_id: String,
    pub fields: BTreeMap<String, serde_json::Value>,
    pub tier: Option<String>,
    /// Source records linked to it.
    pub records: i64,
}

/// Everything one resolution pass changes, written in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResolutionChanges {
    /// Golden customers whose membership or fields changed, or that are new.
    pub upserted: Vec<GoldenCustomer>,
    /// Links that are new or moved to another golden customer.
    pub links: Vec<GoldenLink>,
    /// Golden ids absorbed into another: (absorbed, survivor).
    pub merged: Vec<(String, String)>,
    /// Where new and surviving ids came from, for merges and splits.
    pub id_lineage: Vec<IdLineage>,
}

impl ResolutionChanges {
    pub fn is_empty(&self) -> bool {
        self.upserted.is_empty()
            && self.links.is_empty()
            && self.merged.is_empty()
            && self.id_lineage.is_empty()
    }
}

/// Where a golden id came from, recorded when ids merge or split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdLineage {
    /// The id that exists after the change: the survivor of a merge, or the
    /// new id of a part split off.
    pub new_id: String,
    /// The id it came from: the id absorbed, or the id split.
    pub old_id: String,
    /// `merge` or `split`.
    pub reason: String,
}

/// A golden id as stored, active or merged away, with its age (a merge
/// keeps the older id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GoldenIdRecord {
    pub golden_id: String,
    /// `active` or `merged`.
    pub status: String,
    /// The survivor this id was merged into, when merged.
    pub merged_into: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A candidate pair the matcher could not decide, for a steward to review.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewCandidate {
    pub left: PartyKey,
    pub right: PartyKey,
    /// The posterior probability that the two are one customer.
    pub probability: f64,
    /// The total match weight.
    pub match_weight: f64,
    /// Per-field contributions, largest first as the engine gives them.
    pub explanation: Vec<FieldContribution>,
    /// Higher is reviewed first.
    pub priority: f64,
}

/// A review item as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewItem {
    pub id: i64,
    #[serde(flatten)]
    pub candidate: ReviewCandidate,
    /// `open`, `accepted`, `rejected`, or `settled`: its two records became
    /// one customer without a decision on it (a merge, another item
    /// accepted, new evidence). A settled pair that is a candidate again
    /// (an undo parted them) reopens.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The steward decision that closed the item.
    pub decision_id: Option<i64>,
}

/// What a steward decided. Stored as JSON in `steward_decisions`; every
/// later resolution honours the active ones.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Decision {
    /// A review item accepted: the two records are one customer.
    AcceptMatch {
        review_id: i64,
        left: PartyKey,
        right: PartyKey,
    },
    /// A review item rejected: the two records are different customers.
    RejectMatch {
        review_id: i64,
        left: PartyKey,
        right: PartyKey,
    },
    /// Golden customers merged: all their records are one customer.
    Merge {
        golden_ids: Vec<String>,
        records: Vec<PartyKey>,
    },
    /// Records split off a golden customer into a new one: they stay
    /// together and apart from the records that remain.
    Split {
        golden_id: String,
        leaving: Vec<PartyKey>,
        remaining: Vec<PartyKey>,
    },
    /// A golden field pinned to a value, over every survivorship rule.
    SetField {
        golden_id: String,
        field: String,
        value: serde_json::Value,
    },
    /// An earlier decision withdrawn.
    Undo { decision_id: i64 },
}

impl Decision {
    /// The decision's kind, as stored and audited.
    pub fn action(&self) -> &'static str {
        match self {
            Decision::AcceptMatch { .. } => "accept_match",
            Decision::RejectMatch { .. } => "reject_match",
            Decision::Merge { .. } => "merge",
            Decision::Split { .. } => "split",
            Decision::SetField { .. } => "set_field",
            Decision::Undo { .. } => "undo",
        }
    }
}

/// A decision to record, with who made it and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewDecision {
    pub decision: Decision,
    pub actor: String,
    pub reason: Option<String>,
}

/// A recorded decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StewardDecision {
    pub id: i64,
    pub decision: Decision,
    pub actor: String,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When an `undo` withdrew it; an undone decision no longer binds.
    pub undone_at: Option<DateTime<Utc>>,
}

/// One entry of the append-only audit log. `hash` is SHA-256 over the
/// previous entry's hash and this entry's canonical form (see
/// [`crate::steward::audit`]), so editing any entry breaks the chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub payload: serde_json::Value,
    pub reason: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The source records linked to a golden customer, with their activity,
/// for the customer 360 view.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CustomerActivity {
    /// Each linked record's raw payloads as fetched, by stream.
    pub raw_records: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    pub orders: Vec<crate::model::Order>,
    pub tickets: Vec<crate::model::Ticket>,
    pub calls: Vec<crate::model::Call>,
    pub messages: Vec<crate::model::Message>,
}

/// A golden customer's current tier.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierAssignment {
    pub golden_id: String,
    pub tier: String,
    pub rule: String,
    /// The feature values that decided the tier.
    pub reason: serde_json::Value,
    pub rules_version: String,
    pub assigned_at: DateTime<Utc>,
}

/// A tier change to record: the new assignment and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierChange {
    pub from_tier: Option<String>,
    pub assignment: TierAssignment,
}

/// A tier change event in the outbox, for sinks to consume.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierEvent {
    pub id: i64,
    /// The change: from (none for a first assignment), to, rule, reason,
    /// rules version and time.
    pub change: TierChange,
}

/// The label a source record should carry, joined from links and tiers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PushTarget {
    pub party: PartyKey,
    pub golden_id: String,
    pub tier: String,
    pub rules_version: String,
}

/// What [`Store::push_candidates`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushCandidates {
    pub targets: Vec<PushTarget>,
    pub ledger: Vec<LedgerRow>,
    /// Records with nothing to do: linked records carrying their
    /// acknowledged label (or of customers without a tier), and ledger rows
    /// without a customer and without a label.
    pub in_place: usize,
}

/// Where a ledger row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerStatus {
    /// The desired label differs from the acknowledged one: to send.
    Pending,
    /// The system acknowledged the desired label.
    Delivered,
    /// The last push failed; it has an open dead letter and is retried by
    /// every push until it succeeds or a steward drops it.
    Failed,
    /// A steward dropped its dead letter: not retried until the desired
    /// label changes.
    Dropped,
}

impl LedgerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerStatus::Pending => "pending",
            LedgerStatus::Delivered => "delivered",
            LedgerStatus::Failed => "failed",
            LedgerStatus::Dropped => "dropped",
        }
    }

    /// The status stored as `text`; an unknown word reads as pending, so the
    /// row is sent again rather than forgotten.
    pub fn parse(text: &str) -> LedgerStatus {
        match text {
            "delivered" => LedgerStatus::Delivered,
            "failed" => LedgerStatus::Failed,
            "dropped" => LedgerStatus::Dropped,
            _ => LedgerStatus::Pending,
        }
    }
}

/// One row of the push ledger: the label a source record should carry, the
/// last one the system acknowledged, and the ones sent but not acknowledged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LedgerRow {
    pub connector: String,
    pub source_id: String,
    /// The golden customer the record belongs to, when it has one.
    pub golden_id: Option<String>,
    pub tier: Option<String>,
    /// The label the record should carry; `None`: no tier label at all.
    pub desired_label: Option<String>,
    pub acked_label: Option<String>,
    /// Labels sent whose answer never came or was a failure: they may be
    /// applied, so the next change removes them too.
    pub unacked_labels: Vec<String>,
    pub rules_version: String,
    pub status: LedgerStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// A push that failed, kept with what was sent and answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewDeadLetter {
    pub connector: String,
    pub source_id: String,
    pub label: Option<String>,
    /// The request, secrets redacted.
    pub request: String,
    pub response: Option<String>,
    pub reason: String,
    pub attempts: i64,
}

/// A stored dead letter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    pub id: i64,
    pub letter: NewDeadLetter,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When a later push delivered the record.
    pub resolved_at: Option<DateTime<Utc>>,
    pub dropped_at: Option<DateTime<Utc>>,
    pub dropped_by: Option<String>,
    pub drop_reason: Option<String>,
}

/// What one step of a push writes, in one transaction: ledger rows, the
/// dead letters of the records that failed, and the records whose open
/// dead letters a delivery resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LedgerUpdate {
    pub rows: Vec<LedgerRow>,
    pub dead_letters: Vec<NewDeadLetter>,
    /// (connector, source id) of records delivered after a failure.
    pub resolved: Vec<(String, String)>,
}

/// Ledger counts of one connector, for `push status` and `tierlink status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PushStatus {
    pub connector: String,
    /// Rows per ledger status.
    pub rows: BTreeMap<LedgerStatus, i64>,
    pub open_dead_letters: i64,
}

/// A finished or running pipeline run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub summary: serde_json::Value,
}

/// A rejected record as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejectedRecord {
    pub id: i64,
    pub connector: String,
    pub stream: String,
    pub source_id: Option<String>,
    pub reason: String,
    pub raw: String,
    pub rejected_at: DateTime<Utc>,
    /// `open`; `retried` when a retry was asked for; `closed` when the
    /// record mapped later or was rejected again anew.
    pub status: String,
}

/// What retrying rejected records did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RetryOutcome {
    /// Rejections whose staged record will be mapped again on the next run.
    pub remapped: u64,
    /// Rejections of unreadable input whose stream will be read again from
    /// the start on the next sync.
    pub refetched: u64,
}

/// Counts of what is stored, for `tierlink status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StoreStatus {
    /// Per connector: staged records, parties, orders and rejected records.
    pub connectors: BTreeMap<String, ConnectorCounts>,
    pub golden_customers: i64,
    /// Golden customers per tier.
    pub tiers: BTreeMap<String, i64>,
    pub last_run: Option<RunRecord>,
}

/// Per-connector counts in [`StoreStatus`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ConnectorCounts {
    pub staged: i64,
    pub parties: i64,
    pub orders: i64,
    pub rejected: i64,
}

/// The store: every read and write the pipeline makes.
///
/// Methods that change several tables do so in one transaction, so a crash
/// leaves either all of a step's effects or none of them.
#[async_trait]
pub trait Store: Send + Sync {
    fn backend(&self) -> Backend;

    /// Records the start of a run and returns its id.
    async fn start_run(&self, kind: &str) -> StoreResult<i64>;
    /// Records how a run ended.
    async fn finish_run(
        &self,
        run_id: i64,
        status: &str,
        summary: &serde_json::Value,
    ) -> StoreResult<()>;
    /// The most recent runs, newest first.
    async fn recent_runs(&self, limit: i64) -> StoreResult<Vec<RunRecord>>;

    /// The stream's committed cursor.
    async fn cursor(&self, connector: &str, stream: &str)
        -> StoreResult<Option<serde_json::Value>>;
    /// Stages fetched records and rejections, and moves the cursor, in one
    /// transaction. Records whose content did not change are counted and
    /// left alone.
    async fn stage_batch(
        &self,
        run_id: i64,
        connector: &str,
        stream: &str,
        batch: &StagedBatch,
    ) -> StoreResult<StageCounts>;
    /// Stages a pushed delivery (e.g. a webhook request): its records and
    /// rejections and its event id, in one transaction. Returns `None`, and
    /// stages nothing, when the connector already committed `event_id`, so
    /// a redelivered event is never staged twice. `run_id` is `None` when
    /// no run is in progress, as for a receiver that runs on its own.
    async fn stage_pushed(
        &self,
        run_id: Option<i64>,
        connector: &str,
        stream: &str,
        event_id: &str,
        batch: &StagedBatch,
    ) -> StoreResult<Option<StageCounts>>;
    /// Staged records not yet mapped with this mapping version, or changed
    /// since, in source id order.
    async fn pending_mapping(
        &self,
        connector: &str,
        stream: &str,
        mapping_version: &str,
        limit: i64,
    ) -> StoreResult<Vec<StagedRecord>>;
    /// Stores mapped entities, rejects what failed to map, and marks the
    /// staged records as mapped, in one transaction. Returns how many were
    /// mapped and how many rejected.
    async fn save_mapped(
        &self,
        run_id: i64,
        connector: &str,
        stream: &str,
        mapping_version: &str,
        records: &[MappedRecord],
    ) -> StoreResult<(u64, u64)>;
    /// Rejected records, newest first, optionally for one connector.
    async fn rejected(
        &self,
        connector: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<RejectedRecord>>;
    /// One rejected record.
    async fn rejected_record(&self, id: i64) -> StoreResult<Option<RejectedRecord>>;
    /// Marks open rejections as retried, in one transaction: a staged record
    /// that failed to map becomes pending again; a row that could not be read
    /// resets its stream's cursor so the next sync reads the input again.
    async fn retry_rejected(&self, ids: &[i64]) -> StoreResult<RetryOutcome>;
    /// Forgets a connector's cursors, so its next sync reads everything.
    async fn reset_cursors(&self, connector: &str) -> StoreResult<u64>;

    /// Every party.
    async fn parties(&self) -> StoreResult<Vec<StoredParty>>;
    /// Every order whose party belongs to a golden customer.
    async fn order_facts(&self) -> StoreResult<Vec<OrderFact>>;
    /// Every order citing another connector's order by its number
    /// (`origin_number` equal to the other's `number`), once per cited
    /// order, in citing order.
    async fn order_citations(&self) -> StoreResult<Vec<crate::model::OrderCitation>>;
    /// The paid spend of each of `golden_ids` (0 for one without paid
    /// orders; a copy of another of its orders not counted), by golden id.
    async fn paid_spend(&self, golden_ids: &[String]) -> StoreResult<BTreeMap<String, f64>>;

    /// Every ticket.
    async fn tickets(&self) -> StoreResult<Vec<Ticket>>;
    /// Every call record.
    async fn calls(&self) -> StoreResult<Vec<Call>>;
    /// Every message.
    async fn messages(&self) -> StoreResult<Vec<Message>>;

    /// Every current link from a party to its golden customer.
    async fn golden_links(&self) -> StoreResult<Vec<GoldenLink>>;
    /// Every current golden customer.
    async fn golden_customers(&self) -> StoreResult<Vec<GoldenCustomer>>;
    /// [`Store::golden_links`] as a resolution plan compares against them,
    /// read row by row: each link's party, golden id and evidence digest.
    async fn golden_link_states(&self) -> StoreResult<Vec<LinkState>>;
    /// [`Store::golden_customers`] as a plan compares against them, read
    /// row by row: each id with the digest of its fields and lineage.
    async fn golden_customer_states(&self) -> StoreResult<Vec<CustomerState>>;
    /// Applies one resolution pass's changes in one transaction.
    async fn save_resolution(&self, changes: &ResolutionChanges) -> StoreResult<()>;
    /// Applies one resolution pass planned a slice at a time, all slices in
    /// one transaction: each is written and dropped before the next is
    /// drawn, so a pass over a million customers never holds them all.
    async fn save_resolution_slices(
        &self,
        slices: &mut (dyn Iterator<Item = ResolutionChanges> + Send),
    ) -> StoreResult<()>;

    /// The links of one golden customer, by party key.
    async fn golden_members(&self, golden_id: &str) -> StoreResult<Vec<GoldenLink>>;
    /// The golden customer a source record is linked to.
    async fn golden_id_of(&self, party: &PartyKey) -> StoreResult<Option<String>>;
    /// Active golden customers with a search term starting with `prefix`
    /// (see [`crate::golden::search`]), only those in `tier` if given;
    /// without a prefix, the first by id. At most `limit`, by id.
    async fn search_customers(
        &self,
        prefix: Option<&str>,
        tier: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<CustomerHit>>;
    /// Indexes every active golden customer for search if nothing is
    /// indexed yet (a store from before search); how many were indexed.
    async fn index_customers_for_search(&self) -> StoreResult<u64>;
    /// One golden customer, if it is active.
    async fn golden_customer(&self, golden_id: &str) -> StoreResult<Option<GoldenCustomer>>;
    /// The stored parties among `keys`, by key.
    async fn parties_by_keys(&self, keys: &[PartyKey]) -> StoreResult<Vec<Party>>;
    /// The parties saved (new or changed) at or after `since`, in key order.
    async fn parties_updated_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<Party>>;
    /// Every golden id ever stored, active or merged, with its age.
    async fn golden_ids(&self) -> StoreResult<Vec<GoldenIdRecord>>;
    /// One golden id, active or merged.
    async fn golden_id_record(&self, golden_id: &str) -> StoreResult<Option<GoldenIdRecord>>;
    /// Where ids came from: every merge and split that produced or
    /// absorbed `golden_id`, oldest first.
    async fn id_lineage(&self, golden_id: &str) -> StoreResult<Vec<IdLineage>>;
    /// The raw payloads and activity of the given records; calls are found
    /// by `phones` (caller or callee as written in the CDR).
    async fn customer_activity(
        &self,
        records: &[PartyKey],
        phones: &[String],
    ) -> StoreResult<CustomerActivity>;

    /// Saves review candidates, one item per pair (either order): an open
    /// or settled item takes the new score and explanation and is open, a
    /// decided item stays as decided. Returns how many items are new.
    async fn save_review_items(&self, candidates: &[ReviewCandidate]) -> StoreResult<u64>;
    /// Marks the open items of these pairs (either order) `settled`.
    /// Returns how many it closed.
    async fn settle_review_items(&self, pairs: &[(PartyKey, PartyKey)]) -> StoreResult<u64>;
    /// Open review items, highest priority first.
    async fn open_review_items(&self, limit: i64) -> StoreResult<Vec<ReviewItem>>;
    /// One review item, open or decided.
    async fn review_item(&self, id: i64) -> StoreResult<Option<ReviewItem>>;
    /// Per connector, its customers (golden customers with a record in
    /// it) per tier.
    async fn tiers_by_connector(&self) -> StoreResult<BTreeMap<String, BTreeMap<String, i64>>>;
    /// How many review items wait for a steward.
    async fn open_review_count(&self) -> StoreResult<i64>;

    /// Records a decision and its audit entry in one transaction. An
    /// accept or reject closes its review item; an undo marks its target
    /// undone. Fails if a review item is no longer open or an undo's target
    /// is missing or undone already.
    async fn record_decision(&self, decision: &NewDecision) -> StoreResult<StewardDecision>;
    /// Every decision, oldest first.
    async fn decisions(&self) -> StoreResult<Vec<StewardDecision>>;
    /// The whole audit log, oldest first.
    async fn audit_log(&self) -> StoreResult<Vec<AuditEntry>>;

    /// The record pairs the active decisions say are, and are not, one
    /// customer, made consistent (see [`crate::steward::Constraints`]).
    async fn steward_constraints(&self) -> StoreResult<crate::steward::Constraints> {
        Ok(crate::steward::Constraints::from_decisions(
            &self.decisions().await?,
        ))
    }
    /// The fields stewards pinned, by golden id then field, as the active
    /// set-field decisions leave them (the latest per field wins).
    async fn pinned_fields(
        &self,
    ) -> StoreResult<BTreeMap<String, BTreeMap<String, crate::steward::PinnedField>>> {
        Ok(crate::steward::pinned_fields(&self.decisions().await?))
    }

    /// Every current tier assignment.
    async fn tier_assignments(&self) -> StoreResult<Vec<TierAssignment>>;
    /// One golden customer's current tier, if it has one.
    async fn tier_assignment(&self, golden_id: &str) -> StoreResult<Option<TierAssignment>>;
    /// Writes new assignments and their history rows in one transaction,
    /// with an outbox event for every change of tier (first assignments
    /// included; a new rules version that keeps the tier is not an event).
    async fn save_tier_changes(&self, changes: &[TierChange]) -> StoreResult<()>;
    /// Since when each tiered customer is in its current tier: the time of
    /// the last history row that moved it there.
    async fn tier_entered_at(&self) -> StoreResult<HashMap<String, DateTime<Utc>>>;
    /// Every tier history row recorded at or after `since`, oldest first.
    async fn tier_history_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<TierChange>>;
    /// Tier change events not consumed yet, oldest first.
    async fn unconsumed_tier_events(&self, limit: i64) -> StoreResult<Vec<TierEvent>>;
    /// Marks events consumed; returns how many were still unconsumed.
    async fn mark_tier_events_consumed(&self, ids: &[i64]) -> StoreResult<u64>;
    /// A golden customer's tier history, oldest first: (from, to, rule,
    /// reason, rules version, time).
    async fn tier_history(&self, golden_id: &str) -> StoreResult<Vec<TierChange>>;

    /// The tier each party should carry, for every party of a tiered golden
    /// customer in `connector`.
    async fn push_targets(&self, connector: &str) -> StoreResult<Vec<PushTarget>>;
    /// What a push of `connector` has to look at, diffed in the database:
    /// the linked records of tiered customers whose label (`labels`: tier
    /// -> label) is not acknowledged in the ledger, their ledger rows, the
    /// ledger rows no tiered customer claims that still hold a label, and
    /// how many records are in place. Only these need planning, so the
    /// diff of a large ledger reads only what changed.
    async fn push_candidates(
        &self,
        connector: &str,
        labels: &[(String, String)],
    ) -> StoreResult<PushCandidates>;
    /// The push ledger of one connector, by source id.
    async fn ledger(&self, connector: &str) -> StoreResult<Vec<LedgerRow>>;
    /// Upserts ledger rows, upserts the open dead letter of each failed
    /// record and resolves those of delivered ones, in one transaction.
    async fn save_ledger(&self, update: &LedgerUpdate) -> StoreResult<()>;
    /// Dead letters, newest first: of one connector or all, open ones only
    /// or every one.
    async fn dead_letters(
        &self,
        connector: Option<&str>,
        open_only: bool,
    ) -> StoreResult<Vec<DeadLetter>>;
    /// Drops open dead letters: their ledger rows are not retried until the
    /// desired label changes. Returns the letters dropped.
    async fn drop_dead_letters(
        &self,
        ids: &[i64],
        actor: &str,
        reason: &str,
    ) -> StoreResult<Vec<DeadLetter>>;
    /// Reopens dead letters (dropped or open, not resolved): their ledger
    /// rows are failed again, so the next push retries them and a delivery
    /// resolves them. Returns the letters reopened.
    async fn retry_dead_letters(&self, ids: &[i64]) -> StoreResult<Vec<DeadLetter>>;
    /// Ledger counts per connector.
    async fn push_status(&self) -> StoreResult<Vec<PushStatus>>;

    /// Counts of what is stored.
    async fn status(&self) -> StoreResult<StoreStatus>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matched(weight: Option<f64>) -> LinkEvidence {
        LinkEvidence {
            shared_keys: vec!["phone:+8613800138000".into()],
            matched: Some(MatchEvidence {
                with: "shop/7".into(),
                probability: 0.9991,
                weight,
                strong_id: weight.is_none().then(|| "uscc".into()),
                explanation: vec![FieldContribution {
                    field: "name".into(),
                    level: "shares>=1".into(),
                    weight: 7.6439,
                }],
            }),
            steward_decisions: vec![],
        }
    }

    #[test]
    fn link_evidence_is_written_as_the_json_object_readers_know() {
        assert_eq!(
            serde_json::to_value(matched(None)).unwrap(),
            json!({
                "shared_keys": ["phone:+8613800138000"],
                "match": {
                    "with": "shop/7",
                    "probability": 0.9991,
                    "weight": "strong id",
                    "strong_id": "uscc",
                    "explanation": [{"field": "name", "level": "shares>=1", "weight": 7.6439}],
                },
            })
        );
        let scored = serde_json::to_value(matched(Some(12.5))).unwrap();
        assert_eq!(scored["match"]["weight"], json!(12.5));
        assert!(scored["match"].get("strong_id").is_none(), "{scored}");
        for evidence in [matched(None), matched(Some(-3.25)), LinkEvidence::default()] {
            let text = evidence.to_string();
            assert_eq!(
                serde_json::from_str::<LinkEvidence>(&text).unwrap(),
                evidence
            );
        }
    }

    #[test]
    fn link_evidence_reads_empty_objects_and_refuses_an_unknown_weight() {
        assert_eq!(
            serde_json::from_value::<LinkEvidence>(json!({})).unwrap(),
            LinkEvidence::default()
        );
        let mut written = serde_json::to_value(matched(None)).unwrap();
        written["match"]["weight"] = json!("very strong");
        let error = serde_json::from_value::<LinkEvidence>(written).unwrap_err();
        assert!(error.to_string().contains("\"very strong\""), "{error}");
    }
}
