//! The data steward's workflow: review what the matcher could not decide,
//! merge and split customers, pin field values, undo any of it, and see a
//! customer's whole picture.
//!
//! Every decision is stored append-only with who made it, when and why,
//! chained into the tamper-evident [`audit`] log, and honoured by every
//! later resolution: accept/merge become must-link constraints,
//! reject/split cannot-link constraints ([`constraints`]), set-field a pin
//! that beats every survivorship rule. After each decision the golden
//! customers are recomputed at once with [`resolve_customers`], the same
//! function the pipeline's resolve stage runs.

pub mod audit;
pub mod constraints;
pub mod incremental;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::golden::rules::RulesError;
use crate::golden::{self, CurrentGolden, CustomerState, LinkState, SurvivorshipRules};
use crate::model::{Call, Message, Order, Party, PartyKey, Ticket};
use crate::normalize::email::normalize_email;
use crate::normalize::phone::{normalize_phone, normalize_phones};
use crate::resolve::config::ResolveConfig;
use crate::resolve::parties::{
    attach_shared_orders, customer_config, parse_matching, shared_order_keys, MATCHING_FILE,
};
use crate::store::{
    Decision, GoldenIdRecord, IdLineage, LinkEvidence, NewDecision, ResolutionChanges,
    ResolvedCluster, ReviewItem, StewardDecision, Store, StoreError, TierAssignment, TierChange,
};

use incremental::ResolutionIndex;

pub use constraints::{
    cluster_with_constraints, decision_standing, pinned_fields, ConstrainedResolution, Constraints,
    DecisionStanding, PairConstraint,
};

/// The golden fields a steward may pin with set-field.
pub const SETTABLE_FIELDS: [&str; 6] = ["name", "company", "address", "kind", "phones", "emails"];

/// A value a steward pinned on a golden field, and the decision that did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PinnedField {
    pub value: Value,
    pub decision_id: i64,
}

/// Why a steward operation could not be done.
#[derive(Debug, thiserror::Error)]
pub enum StewardError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The named review item, customer or decision does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request does not make sense as asked; the message says why.
    #[error("{0}")]
    Invalid(String),
}

/// What one resolution pass did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResolutionOutcome {
    pub parties: usize,
    pub golden_customers: usize,
    pub changes: ResolutionSummary,
}

/// What a resolution pass stored: how many golden customers and links it
/// wrote, and every merge and id lineage row it recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResolutionSummary {
    /// Golden customers new or changed.
    pub upserted: usize,
    /// Links new or moved.
    pub links: usize,
    /// Golden ids absorbed into another: (absorbed, survivor).
    pub merged: Vec<(String, String)>,
    /// Where new and surviving ids came from, for merges and splits.
    pub id_lineage: Vec<IdLineage>,
}

impl ResolutionSummary {
    /// Counts one slice of stored changes in.
    fn add(&mut self, changes: &ResolutionChanges) {
        self.upserted += changes.upserted.len();
        self.links += changes.links.len();
        self.merged.extend(changes.merged.iter().cloned());
        self.id_lineage.extend(changes.id_lineage.iter().cloned());
    }

    /// Whether the pass stored nothing.
    pub fn is_empty(&self) -> bool {
        self.upserted == 0
            && self.links == 0
            && self.merged.is_empty()
            && self.id_lineage.is_empty()
    }
}

/// What a resolution pass decides with: which parties are one customer
/// (the built-in matching config, or the project's `matching.toml`), and
/// which value each golden field keeps (`golden.toml`).
#[derive(Debug, Clone)]
pub struct ResolutionRules {
    pub matching: Arc<ResolveConfig>,
    pub survivorship: SurvivorshipRules,
}

impl Default for ResolutionRules {
    fn default() -> Self {
        ResolutionRules {
            matching: Arc::new(customer_config().clone()),
            survivorship: SurvivorshipRules::default(),
        }
    }
}

impl ResolutionRules {
    /// Reads `matching.toml` and `golden.toml` from `dir`; a missing file
    /// keeps the built-in default. The error names the file and every
    /// problem in it.
    pub fn load(dir: &Path) -> Result<ResolutionRules, RulesError> {
        let path = dir.join(MATCHING_FILE);
        let matching = match std::fs::read_to_string(&path) {
            Ok(text) => parse_matching(&text).map_err(|problems| RulesError {
                file: path.display().to_string(),
                problem: problems.join("; "),
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => customer_config().clone(),
            Err(error) => {
                return Err(RulesError {
                    file: path.display().to_string(),
                    problem: format!("cannot read it: {error}"),
                })
            }
        };
        Ok(ResolutionRules {
            matching: Arc::new(matching),
            survivorship: SurvivorshipRules::load(dir)?,
        })
    }
}

/// Resolves every party into golden customers, honouring the stewards'
/// decisions (constraints and pins), and stores what changed. The
/// pipeline's resolve stage and every steward decision run this.
pub async fn resolve_customers(
    store: &dyn Store,
    rules: &ResolutionRules,
) -> Result<ResolutionOutcome, StoreError> {
    let parties = stored_parties(store).await?;
    let decisions = store.decisions().await?;
    let resolution = cluster_with_constraints(
        &parties,
        &Constraints::from_decisions(&decisions),
        &rules.matching,
    );
    let golden_customers = resolution.clusters.len();
    let current = all_golden(store).await?;
    let changes = plan_and_store(store, rules, resolution, &parties, &decisions, current).await?;
    Ok(ResolutionOutcome {
        parties: parties.len(),
        golden_customers,
        changes,
    })
}

/// Every stored party, with the orders it shares with other systems'
/// records.
pub async fn stored_parties(store: &dyn Store) -> Result<Vec<Party>, StoreError> {
    stored_parties_sharing(store, &shared_orders(store).await?).await
}

/// Every stored party, with its orders in `shared`.
async fn stored_parties_sharing(
    store: &dyn Store,
    shared: &HashMap<PartyKey, Vec<String>>,
) -> Result<Vec<Party>, StoreError> {
    let mut parties: Vec<Party> = store
        .parties()
        .await?
        .into_iter()
        .map(|stored| stored.party)
        .collect();
    attach_shared_orders(&mut parties, shared);
    Ok(parties)
}

/// Which orders each party shares with another system's record.
async fn shared_orders(store: &dyn Store) -> Result<HashMap<PartyKey, Vec<String>>, StoreError> {
    Ok(shared_order_keys(&store.order_citations().await?))
}

/// The stored golden state a plan is made against: links, customers and
/// id records.
type CurrentState = (Vec<LinkState>, Vec<CustomerState>, Vec<GoldenIdRecord>);

/// Every golden link and customer as a plan compares against them, and
/// every id record.
async fn all_golden(store: &dyn Store) -> Result<CurrentState, StoreError> {
    Ok((
        store.golden_link_states().await?,
        store.golden_customer_states().await?,
        store.golden_ids().await?,
    ))
}

/// Only the golden customers `parties` hold, the id records of the ids
/// the new customers of `clusters` would take, to tell whether a customer
/// outside holds them, and the id records along the merge chain of each
/// `pinned` id, so that a pin set on a customer merged into a touched one
/// since (a split undone) applies as it does in a full pass.
async fn touched_golden(
    store: &dyn Store,
    parties: &[Party],
    clusters: &[ResolvedCluster],
    pinned: impl Iterator<Item = &String>,
) -> Result<CurrentState, StoreError> {
    let mut held: BTreeSet<String> = BTreeSet::new();
    for party in parties {
        if let Some(id) = store.golden_id_of(&party.key()).await? {
            held.insert(id);
        }
    }
    let (mut links, mut customers, mut ids) = (Vec::new(), Vec::new(), Vec::new());
    for id in &held {
        links.extend(store.golden_members(id).await?.iter().map(LinkState::of));
        customers.extend(
            store
                .golden_customer(id)
                .await?
                .as_ref()
                .map(CustomerState::of),
        );
        ids.extend(store.golden_id_record(id).await?);
    }
    for cluster in clusters {
        for candidate in golden::new_id_candidates(&cluster.members[0], NEW_ID_LOOKAHEAD) {
            if !held.contains(&candidate) {
                ids.extend(store.golden_id_record(&candidate).await?);
            }
        }
    }
    let mut chained: BTreeSet<String> = ids.iter().map(|id| id.golden_id.clone()).collect();
    for pinned_id in pinned {
        let mut next = Some(pinned_id.clone());
        while let Some(id) = next.take() {
            if !chained.insert(id.clone()) {
                break;
            }
            if let Some(record) = store.golden_id_record(&id).await? {
                next.clone_from(&record.merged_into);
                ids.push(record);
            }
        }
    }
    Ok((links, customers, ids))
}

/// Closes, as `settled`, the open review items whose two records are now
/// in one of `clusters`: a merge, another item accepted or new evidence
/// joined them, and deciding the item could only part them again behind
/// that decision's back.
async fn settle_joined_review_items(
    store: &dyn Store,
    clusters: &[ResolvedCluster],
) -> Result<(), StoreError> {
    let open = store.open_review_items(i64::MAX).await?;
    if open.is_empty() {
        return Ok(());
    }
    let cluster_of: HashMap<&PartyKey, usize> = clusters
        .iter()
        .enumerate()
        .flat_map(|(index, cluster)| cluster.members.iter().map(move |key| (key, index)))
        .collect();
    let joined: Vec<(PartyKey, PartyKey)> = open
        .into_iter()
        .filter(|item| {
            let (left, right) = (&item.candidate.left, &item.candidate.right);
            matches!((cluster_of.get(left), cluster_of.get(right)), (Some(a), Some(b)) if a == b)
        })
        .map(|item| (item.candidate.left, item.candidate.right))
        .collect();
    if !joined.is_empty() {
        store.settle_review_items(&joined).await?;
    }
    Ok(())
}

/// Derived ids checked per new customer by [`touched_golden`]; a
/// clash is a 64-bit hash collision, so the first is all but always free.
const NEW_ID_LOOKAHEAD: usize = 3;

/// Plans the golden changes of `resolution` against `current` (links,
/// customers and ids of at least its records; `parties` holds at least its
/// members) and stores them with the review pairs.
async fn plan_and_store(
    store: &dyn Store,
    rules: &ResolutionRules,
    mut resolution: ConstrainedResolution,
    parties: &[Party],
    decisions: &[StewardDecision],
    (links, customers, ids): CurrentState,
) -> Result<ResolutionSummary, StoreError> {
    settle_joined_review_items(store, &resolution.clusters).await?;
    let mut reviews = std::mem::take(&mut resolution.reviews);
    let pins = pinned_fields(decisions);
    let current = CurrentGolden {
        links: &links,
        customers: &customers,
        ids: &ids,
        pins: &pins,
    };
    let mut summary = ResolutionSummary::default();
    let mut slices = golden::plan_golden(
        resolution.clusters,
        parties,
        current,
        &rules.survivorship,
        golden::PLAN_SLICE,
    )
    .filter(|slice| !slice.is_empty())
    .inspect(|slice| summary.add(slice))
    .peekable();
    if slices.peek().is_some() {
        store.save_resolution_slices(&mut slices).await?;
    }
    drop(slices);
    if !reviews.is_empty() {
        // Weighed by the customers as just stored, so the first run of a
        // project already puts its most valuable doubts first.
        let mut stored: HashMap<PartyKey, String> = HashMap::new();
        for key in reviews
            .iter()
            .flat_map(|review| [&review.left, &review.right])
        {
            if !stored.contains_key(key) {
                if let Some(golden_id) = store.golden_id_of(key).await? {
                    stored.insert(key.clone(), golden_id);
                }
            }
        }
        let golden_of: HashMap<&PartyKey, &str> = stored
            .iter()
            .map(|(key, golden_id)| (key, golden_id.as_str()))
            .collect();
        let customers: BTreeSet<String> = stored.values().cloned().collect();
        let customers: Vec<String> = customers.into_iter().collect();
        let spend = store.paid_spend(&customers).await?;
        weigh_by_customer_value(&mut reviews, &golden_of, &spend);
        store.save_review_items(&reviews).await?;
    }
    Ok(summary)
}

/// The resolution index a long-running process (the service) keeps
/// between steward decisions and pipeline runs, with the pins it last
/// applied; empty until the first of them builds it.
pub type SharedIndex = tokio::sync::Mutex<Option<IndexedResolution>>;

/// An index, the pinned fields of the decisions it last resolved, and
/// when it last read the stored parties.
pub struct IndexedResolution {
    index: ResolutionIndex,
    pins: BTreeMap<String, BTreeMap<String, PinnedField>>,
    read_at: DateTime<Utc>,
}

/// How far back of its last read an index looks for saved parties: a
/// record another process saved in a transaction that began before the
/// read but committed after it carries the earlier time. Reading a record
/// again changes nothing.
const READ_OVERLAP: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

/// Above this share of the index's records (and at least
/// [`REBUILD_AT_LEAST`] records) changed at once, building the index again
/// is cheaper than applying the changes.
const REBUILD_SHARE: f64 = 0.2;
const REBUILD_AT_LEAST: usize = 10_000;

/// [`resolve_customers`] with `shared` instead of every record: only the
/// records saved since the index last read them, those whose constraints
/// changed, and the customers whose pins changed are resolved again; the
/// stored result is what a full pass gives. The first call (or one that
/// finds a large share of the records changed) resolves in full and builds
/// the index.
pub async fn resolve_with_index(
    store: &dyn Store,
    rules: &ResolutionRules,
    shared: &SharedIndex,
) -> Result<ResolutionOutcome, StoreError> {
    let decisions = store.decisions().await?;
    let constraints = Constraints::from_decisions(&decisions);
    let pins = pinned_fields(&decisions);
    let mut guard = shared.lock().await;
    let read_at = Utc::now();
    let mut changed = Vec::new();
    let shared_orders = shared_orders(store).await?;
    if let Some(indexed) = guard.as_ref() {
        changed = store
            .parties_updated_since(indexed.read_at - READ_OVERLAP)
            .await?;
        attach_shared_orders(&mut changed, &shared_orders);
        changed.extend(
            indexed
                .index
                .with_new_shared_orders(&shared_orders, &changed),
        );
        let rules_changed = indexed.index.config() != rules.matching.as_ref();
        let many = changed.len() > REBUILD_AT_LEAST
            && changed.len() as f64 > REBUILD_SHARE * indexed.index.len() as f64;
        if rules_changed || many {
            *guard = None;
        }
    }
    let Some(indexed) = guard.as_mut() else {
        let parties = stored_parties_sharing(store, &shared_orders).await?;
        let (index, resolution) =
            ResolutionIndex::build_resolved(&parties, &constraints, &rules.matching);
        let golden_customers = resolution.clusters.len();
        let current = all_golden(store).await?;
        let changes =
            plan_and_store(store, rules, resolution, &parties, &decisions, current).await?;
        *guard = Some(IndexedResolution {
            index,
            pins,
            read_at,
        });
        return Ok(ResolutionOutcome {
            parties: parties.len(),
            golden_customers,
            changes,
        });
    };
    indexed.index.set_constraints(&constraints);
    let repinned: BTreeSet<&String> = pins
        .iter()
        .filter(|(id, fields)| indexed.pins.get(*id) != Some(fields))
        .map(|(id, _)| id)
        .chain(indexed.pins.keys().filter(|id| !pins.contains_key(*id)))
        .collect();
    if !repinned.is_empty() {
        let members: Vec<PartyKey> = store
            .golden_links()
            .await?
            .into_iter()
            .filter(|link| repinned.contains(&link.golden_id))
            .map(|link| link.party)
            .collect();
        indexed.index.touch(&members);
    }
    let outcome = indexed.index.apply(&changed, &[]);
    let parties = indexed.index.parties_of(&outcome.resolution.clusters);
    let stored = async {
        let current =
            touched_golden(store, &parties, &outcome.resolution.clusters, pins.keys()).await?;
        plan_and_store(
            store,
            rules,
            outcome.resolution,
            &parties,
            &decisions,
            current,
        )
        .await
    }
    .await;
    match stored {
        Ok(changes) => {
            indexed.pins = pins;
            indexed.read_at = read_at;
            Ok(ResolutionOutcome {
                parties: indexed.index.len(),
                golden_customers: indexed.index.customer_count(),
                changes,
            })
        }
        Err(error) => {
            // The index moved on but the store did not: the next pass
            // builds it again from what is stored.
            *guard = None;
            Err(error)
        }
    }
}

/// Turns each review candidate's uncertainty (its `priority` as the
/// matcher gives it) into uncertainty × value, where value is one plus the
/// paid spend of the golden customers the two records belong to now: a
/// doubtful pair between big customers is reviewed first.
fn weigh_by_customer_value(
    reviews: &mut [crate::store::ReviewCandidate],
    golden_of: &HashMap<&PartyKey, &str>,
    spend: &BTreeMap<String, f64>,
) {
    let value = |key: &PartyKey| {
        golden_of
            .get(key)
            .and_then(|id| spend.get(*id))
            .copied()
            .unwrap_or(0.0)
    };
    for review in reviews {
        review.priority *= 1.0 + value(&review.left) + value(&review.right);
    }
}

/// A decision as recorded, and what recomputing the customers changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionOutcome {
    pub decision: StewardDecision,
    pub resolution: ResolutionOutcome,
}

/// Who decides, and the rules customers are recomputed with.
#[derive(Clone, Copy)]
pub struct Steward<'a> {
    pub store: &'a dyn Store,
    pub rules: &'a ResolutionRules,
    pub actor: &'a str,
    /// The index a long-running process keeps, if any: decisions then
    /// resolve only what they change ([`resolve_with_index`]).
    pub index: Option<&'a SharedIndex>,
}

impl Steward<'_> {
    /// Records a decision, then recomputes the golden customers.
    async fn decide(
        &self,
        decision: Decision,
        reason: Option<String>,
    ) -> Result<DecisionOutcome, StewardError> {
        if self.actor.trim().is_empty() {
            return Err(StewardError::Invalid(
                "a decision needs an actor: pass --actor or set $USER".to_string(),
            ));
        }
        let decision = self
            .store
            .record_decision(&NewDecision {
                decision,
                actor: self.actor.to_string(),
                reason,
            })
            .await?;
        let resolution = match self.index {
            Some(index) => resolve_with_index(self.store, self.rules, index).await?,
            None => resolve_customers(self.store, self.rules).await?,
        };
        Ok(DecisionOutcome {
            decision,
            resolution,
        })
    }

    async fn open_item(&self, review_id: i64) -> Result<ReviewItem, StewardError> {
        let item = self.store.review_item(review_id).await?.ok_or_else(|| {
            StewardError::NotFound(format!(
                "there is no review item {review_id}: see `tierlink review list`"
            ))
        })?;
        if item.status == "settled" {
            return Err(StewardError::Invalid(format!(
                "review item {review_id} is already settled: its two records became one customer since it was opened; to part them, use `customer split`"
            )));
        }
        if item.status != "open" {
            return Err(StewardError::Invalid(format!(
                "review item {review_id} is already {}",
                item.status
            )));
        }
        Ok(item)
    }

    /// Accepts a review item: its two records are one customer from now on.
    pub async fn accept(
        &self,
        review_id: i64,
        reason: Option<String>,
    ) -> Result<DecisionOutcome, StewardError> {
        let item = self.open_item(review_id).await?;
        self.decide(
            Decision::AcceptMatch {
                review_id,
                left: item.candidate.left,
                right: item.candidate.right,
            },
            reason,
        )
        .await
    }

    /// Rejects a review item: its two records are never one customer.
    pub async fn reject(
        &self,
        review_id: i64,
        reason: Option<String>,
    ) -> Result<DecisionOutcome, StewardError> {
        let item = self.open_item(review_id).await?;
        self.decide(
            Decision::RejectMatch {
                review_id,
                left: item.candidate.left,
                right: item.candidate.right,
            },
            reason,
        )
        .await
    }

    /// Merges golden customers into one; the oldest id survives.
    pub async fn merge(
        &self,
        golden_ids: &[String],
        reason: Option<String>,
    ) -> Result<DecisionOutcome, StewardError> {
        let distinct: BTreeSet<&String> = golden_ids.iter().collect();
        if distinct.len() < 2 {
            return Err(StewardError::Invalid(
                "name at least two different golden customers to merge".to_string(),
            ));
        }
        let mut records = Vec::new();
        for golden_id in &distinct {
            records.extend(self.members(golden_id).await?);
        }
        self.decide(
            Decision::Merge {
                golden_ids: distinct.into_iter().cloned().collect(),
                records,
            },
            reason,
        )
        .await
    }

    /// Splits records off a golden customer: they become a customer of
    /// their own, apart from the records that remain.
    pub async fn split(
        &self,
        golden_id: &str,
        leaving: &[PartyKey],
        reason: Option<String>,
    ) -> Result<DecisionOutcome, StewardError> {
        let members = self.members(golden_id).await?;
        if leaving.is_empty() {
            return Err(StewardError::Invalid(
                "name the records to split off, e.g. --records erp/C1,shop/9".to_string(),
            ));
        }
        if let Some(stranger) = leaving.iter().find(|key| !members.contains(key)) {
            return Err(StewardError::Invalid(format!(
                "{stranger} is not a record of {golden_id}; its records: {}",
                join_keys(&members)
            )));
        }
        let remaining: Vec<PartyKey> = members
            .iter()
            .filter(|key| !leaving.contains(key))
            .cloned()
            .collect();
        if remaining.is_empty() {
            return Err(StewardError::Invalid(format!(
                "splitting off every record of {golden_id} would leave nothing behind; name only the records that leave"
            )));
        }
        let mut leaving = leaving.to_vec();
        leaving.sort();
        leaving.dedup();
        self.decide(
            Decision::Split {
                golden_id: golden_id.to_string(),
                leaving,
                remaining,
            },
            reason,
        )
        .await
    }

    /// Pins a golden field to a value until the decision is undone.
    pub async fn set_field(
        &self,
        golden_id: &str,
        field: &str,
        value: Value,
        reason: Option<String>,
    ) -> Result<DecisionOutcome, StewardError> {
        if !SETTABLE_FIELDS.contains(&field) {
            return Err(StewardError::Invalid(format!(
                "{field:?} is not a golden field; fields: {}",
                SETTABLE_FIELDS.join(", ")
            )));
        }
        let value = field_value_in_golden_form(field, value)?;
        self.members(golden_id).await?;
        self.decide(
            Decision::SetField {
                golden_id: golden_id.to_string(),
                field: field.to_string(),
                value,
            },
            reason,
        )
        .await
    }

    /// Withdraws a decision; the customers are recomputed without it.
    pub async fn undo(
        &self,
        decision_id: i64,
        reason: Option<String>,
    ) -> Result<DecisionOutcome, StewardError> {
        let decisions = self.store.decisions().await?;
        let Some(target) = decisions.iter().find(|decision| decision.id == decision_id) else {
            return Err(StewardError::NotFound(format!(
                "there is no decision {decision_id}: see `tierlink decision list`"
            )));
        };
        if matches!(target.decision, Decision::Undo { .. }) {
            return Err(StewardError::Invalid(format!(
                "decision {decision_id} is an undo; undo cannot be undone, make the decision again instead"
            )));
        }
        if target.undone_at.is_some() {
            return Err(StewardError::Invalid(format!(
                "decision {decision_id} is undone already"
            )));
        }
        self.decide(Decision::Undo { decision_id }, reason).await
    }

    /// The records of an active golden customer, sorted.
    async fn members(&self, golden_id: &str) -> Result<Vec<PartyKey>, StewardError> {
        active_members(self.store, golden_id).await
    }
}

/// The records of an active golden customer; an error names a merged id's
/// survivor.
async fn active_members(store: &dyn Store, golden_id: &str) -> Result<Vec<PartyKey>, StewardError> {
    match store.golden_id_record(golden_id).await? {
        None => Err(StewardError::NotFound(format!(
            "there is no golden customer {golden_id}"
        ))),
        Some(record) if record.status != "active" => Err(StewardError::Invalid(format!(
            "golden customer {golden_id} was merged into {}; use that id",
            record.merged_into.as_deref().unwrap_or("another customer")
        ))),
        Some(_) => Ok(store
            .golden_members(golden_id)
            .await?
            .into_iter()
            .map(|link| link.party)
            .collect()),
    }
}

/// Whether `value` has the shape of golden field `field`: `kind` is
/// person or company, phones and e-mails a non-empty list of text, the
/// rest non-empty text.
/// A value for a golden field, checked and written the way the golden
/// record writes it: phones in E.164 and e-mails normalized, each once, so
/// a pinned value compares and pushes like a resolved one. Anything that is
/// not a phone or an e-mail is named in the error.
fn field_value_in_golden_form(field: &str, value: Value) -> Result<Value, StewardError> {
    let invalid =
        |expected: &str| StewardError::Invalid(format!("{field} must be {expected}, not {value}"));
    match field {
        "kind" if matches!(value.as_str(), Some("person" | "company")) => Ok(value),
        "kind" => Err(invalid("\"person\" or \"company\"")),
        "phones" | "emails" => {
            let items: Vec<&str> = value
                .as_array()
                .map(|items| items.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if items.is_empty() || items.len() != value.as_array().map_or(0, Vec::len) {
                return Err(invalid("a non-empty list of text"));
            }
            let mut normalized: Vec<String> = Vec::new();
            for item in items {
                let found = if field == "phones" {
                    normalize_phone(item).map(|phone| phone.e164)
                } else {
                    normalize_email(item)
                };
                let Some(found) = found else {
                    let kind = if field == "phones" {
                        "phone number"
                    } else {
                        "e-mail address"
                    };
                    return Err(StewardError::Invalid(format!(
                        "{item:?} is not a {kind} tierlink can read"
                    )));
                };
                if !normalized.contains(&found) {
                    normalized.push(found);
                }
            }
            normalized.sort();
            Ok(Value::from(normalized))
        }
        _ if value.as_str().is_some_and(|text| !text.trim().is_empty()) => Ok(value),
        _ => Err(invalid("non-empty text")),
    }
}

fn join_keys(keys: &[PartyKey]) -> String {
    keys.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses `connector/source_id` (the source id may itself hold slashes).
pub fn parse_party_key(text: &str) -> Result<PartyKey, StewardError> {
    match text.trim().split_once('/') {
        Some((connector, source_id)) if !connector.is_empty() && !source_id.is_empty() => {
            Ok(PartyKey {
                connector: connector.to_string(),
                source_id: source_id.to_string(),
            })
        }
        _ => Err(StewardError::Invalid(format!(
            "{text:?} is not a record key; write connector/source_id, e.g. erp/C1"
        ))),
    }
}

/// A golden field's value and the record (or steward decision) it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldView {
    pub value: Value,
    pub source: Option<PartyKey>,
}

/// A source record linked to the customer: its mapped fields, its raw
/// payloads by stream and why it is linked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkedRecord {
    pub party: Party,
    pub evidence: LinkEvidence,
    pub raw: BTreeMap<String, Value>,
}

/// Everything known about one golden customer: the 360 view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerView {
    pub golden_id: String,
    pub fields: BTreeMap<String, FieldView>,
    pub records: Vec<LinkedRecord>,
    pub orders: Vec<Order>,
    pub tickets: Vec<Ticket>,
    pub calls: Vec<Call>,
    pub messages: Vec<Message>,
    pub tier: Option<TierAssignment>,
    pub tier_history: Vec<TierChange>,
    /// Merges and splits this id took part in.
    pub id_lineage: Vec<IdLineage>,
    /// Active decisions naming this customer or one of its records.
    pub decisions: Vec<StewardDecision>,
}

/// The 360 view of an active golden customer.
pub async fn customer_view(
    store: &dyn Store,
    golden_id: &str,
) -> Result<CustomerView, StewardError> {
    let members = active_members(store, golden_id).await?;
    let customer = store.golden_customer(golden_id).await?.ok_or_else(|| {
        StewardError::NotFound(format!("there is no golden customer {golden_id}"))
    })?;
    let mut evidence: BTreeMap<PartyKey, LinkEvidence> = store
        .golden_members(golden_id)
        .await?
        .into_iter()
        .map(|link| (link.party, link.evidence))
        .collect();
    let parties = store.parties_by_keys(&members).await?;
    let mut phones = BTreeSet::new();
    for party in &parties {
        for raw in &party.phones {
            phones.insert(raw.trim().to_string());
            for phone in normalize_phones(raw) {
                // CDRs write numbers in full or nationally.
                if let Some(national) = phone.e164.strip_prefix("+86") {
                    phones.insert(national.to_string());
                }
                phones.insert(phone.e164);
            }
        }
    }
    let phones: Vec<String> = phones.into_iter().collect();
    let mut activity = store.customer_activity(&members, &phones).await?;
    let records = parties
        .into_iter()
        .map(|party| {
            let key = party.key();
            LinkedRecord {
                evidence: evidence.remove(&key).unwrap_or_default(),
                raw: activity
                    .raw_records
                    .remove(&key.to_string())
                    .unwrap_or_default(),
                party,
            }
        })
        .collect();
    let fields = customer
        .fields
        .iter()
        .map(|(field, value)| {
            (
                field.clone(),
                FieldView {
                    value: value.clone(),
                    source: customer.lineage.get(field).cloned(),
                },
            )
        })
        .collect();
    // A pin in force here may have been set on a customer merged into this
    // one since (a split undone): its field's lineage names the decision.
    let pins_in_force: BTreeSet<i64> = customer
        .lineage
        .values()
        .filter(|source| source.connector == golden::STEWARD_LINEAGE)
        .filter_map(|source| source.source_id.parse().ok())
        .collect();
    let decisions = store
        .decisions()
        .await?
        .into_iter()
        .filter(|decision| {
            decision.undone_at.is_none()
                && (names(&decision.decision, golden_id, &members)
                    || pins_in_force.contains(&decision.id))
        })
        .collect();
    Ok(CustomerView {
        golden_id: golden_id.to_string(),
        fields,
        records,
        orders: activity.orders,
        tickets: activity.tickets,
        calls: activity.calls,
        messages: activity.messages,
        tier: store.tier_assignment(golden_id).await?,
        tier_history: store.tier_history(golden_id).await?,
        id_lineage: store.id_lineage(golden_id).await?,
        decisions,
    })
}

/// `undone`, `active`, or how much of it newer decisions overrode
/// (`overridden`, `partly_overridden`).
pub fn decision_state(
    decision: &StewardDecision,
    standing: Option<&DecisionStanding>,
) -> &'static str {
    match standing {
        _ if decision.undone_at.is_some() => "undone",
        Some(standing) if standing.overridden > 0 && standing.binding == 0 => "overridden",
        Some(standing) if standing.overridden > 0 => "partly_overridden",
        _ => "active",
    }
}

/// Every decision as JSON with its `state` ([`decision_state`]), as
/// `decision list --json` and the API list them.
pub fn decisions_with_state(decisions: &[StewardDecision]) -> Vec<Value> {
    let standing = decision_standing(decisions);
    decisions
        .iter()
        .map(|decision| {
            let mut value = serde_json::to_value(decision).unwrap_or_default();
            value["state"] = decision_state(decision, standing.get(&decision.id)).into();
            value
        })
        .collect()
}

/// Whether a decision names the customer or one of its records.
fn names(decision: &Decision, golden_id: &str, members: &[PartyKey]) -> bool {
    match decision {
        Decision::AcceptMatch { left, right, .. } | Decision::RejectMatch { left, right, .. } => {
            members.contains(left) || members.contains(right)
        }
        Decision::Merge {
            golden_ids,
            records,
        } => {
            golden_ids.iter().any(|id| id == golden_id)
                || records.iter().any(|r| members.contains(r))
        }
        Decision::Split {
            golden_id: split_id,
            leaving,
            ..
        } => split_id == golden_id || leaving.iter().any(|r| members.contains(r)),
        Decision::SetField {
            golden_id: pinned_id,
            ..
        } => pinned_id == golden_id,
        Decision::Undo { .. } => false,
    }
}

/// What [`verify_audit_log`] found when everything fits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditVerified {
    pub entries: usize,
    /// The newest entry's hash ([`audit::GENESIS_HASH`] for an empty log):
    /// kept elsewhere and passed back as `head`, it shows a log rewritten
    /// or cut short since.
    pub head: String,
}

/// Checks the whole audit chain, that the decisions in force are exactly
/// the audited ones ([`audit::reconcile`]) and, with `head`, that the entry
/// of that hash is still in the chain.
pub async fn verify_audit_log(
    store: &dyn Store,
    head: Option<&str>,
) -> Result<AuditVerified, StewardError> {
    let entries = store.audit_log().await?;
    audit::verify(&entries).map_err(|broken| StewardError::Invalid(broken.to_string()))?;
    let decisions = store.decisions().await?;
    audit::reconcile(&decisions, &entries)
        .map_err(|mismatch| StewardError::Invalid(mismatch.to_string()))?;
    let newest = entries
        .last()
        .map_or(audit::GENESIS_HASH, |entry| entry.hash.as_str());
    if let Some(head) = head.map(str::trim) {
        let kept = head == audit::GENESIS_HASH || entries.iter().any(|entry| entry.hash == head);
        if !kept {
            return Err(StewardError::Invalid(format!(
                "no audit entry has the hash {head} any more: the log was rewritten or cut short since that hash was its head (its head is now {newest})"
            )));
        }
    }
    Ok(AuditVerified {
        entries: entries.len(),
        head: newest.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_doubtful_pair_between_big_customers_is_reviewed_first() {
        use crate::store::ReviewCandidate;
        let key = |id: &str| PartyKey {
            connector: "erp".into(),
            source_id: id.into(),
        };
        let candidate = |a: &str, b: &str, uncertainty: f64| ReviewCandidate {
            left: key(a),
            right: key(b),
            probability: 0.9,
            match_weight: 3.0,
            explanation: Vec::new(),
            priority: uncertainty,
        };
        let mut reviews = vec![candidate("1", "2", 0.9), candidate("3", "4", 0.5)];
        let keys = [key("1"), key("3"), key("4")];
        let golden_of = HashMap::from([(&keys[0], "g1"), (&keys[1], "g3"), (&keys[2], "g3")]);
        let spend = BTreeMap::from([("g1".to_string(), 10.0), ("g3".to_string(), 500.0)]);
        weigh_by_customer_value(&mut reviews, &golden_of, &spend);
        assert_eq!(reviews[0].priority, 0.9 * (1.0 + 10.0));
        assert_eq!(reviews[1].priority, 0.5 * (1.0 + 500.0 + 500.0));
    }

    #[test]
    fn record_keys_parse_and_bad_ones_say_how_to_write_them() {
        assert_eq!(
            parse_party_key(" erp/C1/2 ").unwrap(),
            PartyKey {
                connector: "erp".into(),
                source_id: "C1/2".into()
            }
        );
        for bad in ["erp", "/C1", "erp/"] {
            let error = parse_party_key(bad).unwrap_err().to_string();
            assert!(error.contains("connector/source_id"), "{error}");
        }
    }

    #[test]
    fn set_field_values_must_fit_the_field() {
        let form = |field: &str, value: Value| field_value_in_golden_form(field, value);
        assert_eq!(form("name", json!("张伟")).unwrap(), json!("张伟"));
        assert!(form("kind", json!("company")).is_ok());
        assert_eq!(
            form(
                "phones",
                json!(["138 0013 8000", "+8613800138000", "010-88886666"])
            )
            .unwrap(),
            json!(["+861088886666", "+8613800138000"])
        );
        assert_eq!(
            form("emails", json!([" Bob@Example.COM "])).unwrap(),
            json!(["bob@example.com"])
        );
        let kind = form("kind", json!("vip")).unwrap_err().to_string();
        assert!(kind.contains("person"), "{kind}");
        let phone = form("phones", json!(["not-a-phone", "123"]))
            .unwrap_err()
            .to_string();
        assert!(phone.contains("not-a-phone"), "{phone}");
        assert!(form("emails", json!(["bogus"])).is_err());
        assert!(form("emails", json!([])).is_err());
        assert!(form("phones", json!([1380013])).is_err());
        assert!(form("name", json!(" ")).is_err());
    }
}
