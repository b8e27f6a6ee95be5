//! Golden customer records: stable ids and survivorship.
//!
//! Ids are stable: a re-run on the same data keeps every id and writes
//! nothing. Each existing id goes to the cluster holding most of the
//! records that carried it. When a cluster holds several ids (a merge), it
//! keeps the oldest (by creation time, then id) and the others are recorded
//! as merged into it. A cluster that holds no id of its own gets a new one
//! derived from its smallest member, so a fresh store and the same data give
//! the same ids; when its records came from other customers (a split), where
//! it came from is recorded.
//!
//! Field values follow the survivorship [`rules`], except fields a steward
//! pinned; every field's lineage names the record (or the steward decision)
//! that gave it.

pub mod rules;
pub mod search;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::model::{Party, PartyKey};
use crate::normalize::email::normalize_emails;
use crate::normalize::phone::normalize_phones;
use crate::resolve::parallel::map_in_order;
use crate::steward::PinnedField;
use crate::store::{
    GoldenCustomer, GoldenIdRecord, GoldenLink, IdLineage, LinkEvidence, ResolutionChanges,
    ResolvedCluster,
};

pub use rules::{Rule, SurvivorshipRules};

/// The connector name lineage gives a field a steward pinned; its source id
/// is the decision's id.
pub const STEWARD_LINEAGE: &str = "steward";

/// What is stored now, for planning a resolution pass.
#[derive(Debug, Clone, Copy)]
pub struct CurrentGolden<'a> {
    pub links: &'a [LinkState],
    pub customers: &'a [CustomerState],
    /// Every id ever stored, with its age and where it was merged.
    pub ids: &'a [GoldenIdRecord],
    /// Pinned fields by golden id.
    pub pins: &'a BTreeMap<String, BTreeMap<String, PinnedField>>,
}

/// A stored link as a plan compares against it: the party, its golden id
/// and a digest of its evidence, so a store of a million links is read
/// without holding a million explanations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    pub party: PartyKey,
    pub golden_id: String,
    /// [`evidence_digest`] of the stored evidence.
    pub evidence: u64,
}

impl LinkState {
    /// The state of a link.
    pub fn of(link: &GoldenLink) -> LinkState {
        LinkState {
            party: link.party.clone(),
            golden_id: link.golden_id.clone(),
            evidence: evidence_digest(&link.evidence),
        }
    }
}

/// A stored golden customer as a plan compares against it: its id and a
/// digest of its fields and their lineage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerState {
    pub golden_id: String,
    /// [`record_digest`] of the stored fields and lineage.
    pub record: u64,
}

impl CustomerState {
    /// The state of a golden customer.
    pub fn of(golden: &GoldenCustomer) -> CustomerState {
        CustomerState {
            golden_id: golden.golden_id.clone(),
            record: record_digest(&golden.fields, &golden.lineage),
        }
    }
}

/// A digest of link evidence: equal for equal evidence (its JSON, hashed;
/// a collision would leave one changed link unwritten once in 2⁶⁴).
pub fn evidence_digest(evidence: &LinkEvidence) -> u64 {
    json_digest(evidence)
}

/// A digest of a golden record's fields and lineage, as [`evidence_digest`].
pub fn record_digest(
    fields: &BTreeMap<String, Value>,
    lineage: &BTreeMap<String, PartyKey>,
) -> u64 {
    json_digest(&(fields, lineage))
}

fn json_digest(value: &impl serde::Serialize) -> u64 {
    let bytes = serde_json::to_vec(value).expect("plain data serializes");
    let hash = Sha256::digest(&bytes);
    u64::from_le_bytes(hash[..8].try_into().expect("eight bytes"))
}

/// Plans what a resolution pass changes: golden customers to write, links
/// that moved, ids merged away and where new ids came from. Pure: the
/// caller stores the result.
pub fn plan_changes(
    clusters: Vec<ResolvedCluster>,
    parties: &[Party],
    current: CurrentGolden<'_>,
    rules: &SurvivorshipRules,
) -> ResolutionChanges {
    plan_golden(clusters, parties, current, rules, usize::MAX)
        .next()
        .unwrap_or_default()
}

/// How many customers one slice of a pipeline's [`GoldenPlan`] holds.
pub const PLAN_SLICE: usize = 10_000;

/// [`plan_changes`] a slice of `slice` customers at a time: ids are chosen
/// for every cluster up front (merges and id lineage come with the first
/// slice), then each slice survives its customers' fields and gathers
/// their links as it is drawn, so only one slice is held at once.
pub fn plan_golden<'a>(
    clusters: Vec<ResolvedCluster>,
    parties: &'a [Party],
    current: CurrentGolden<'a>,
    rules: &'a SurvivorshipRules,
    slice: usize,
) -> GoldenPlan<'a> {
    let linked: HashMap<&PartyKey, &LinkState> = current
        .links
        .iter()
        .map(|link| (&link.party, link))
        .collect();
    let ages: HashMap<&str, DateTime<Utc>> = current
        .ids
        .iter()
        .map(|record| (record.golden_id.as_str(), record.created_at))
        .collect();
    let active: HashSet<&str> = current
        .ids
        .iter()
        .filter(|record| record.status == "active")
        .map(|record| record.golden_id.as_str())
        .collect();
    let IdAssignment {
        ids,
        merged,
        lineage,
    } = assign_ids(&clusters, &linked, &ages, &active);
    GoldenPlan {
        pins: PinsByCustomer::new(&merged, current),
        customers: clusters.into_iter().zip(ids),
        by_key: parties
            .iter()
            .map(|party| ((party.connector.as_str(), party.source_id.as_str()), party))
            .collect(),
        linked,
        stored: current
            .customers
            .iter()
            .map(|golden| (golden.golden_id.as_str(), golden))
            .collect(),
        current,
        rules,
        first: Some(ResolutionChanges {
            merged,
            id_lineage: lineage,
            ..ResolutionChanges::default()
        }),
        slice,
    }
}

/// The golden changes of a resolution pass, drawn a slice at a time
/// ([`plan_golden`]).
pub struct GoldenPlan<'a> {
    /// The clusters still to plan, each with its chosen id.
    customers: std::iter::Zip<std::vec::IntoIter<ResolvedCluster>, std::vec::IntoIter<String>>,
    by_key: HashMap<(&'a str, &'a str), &'a Party>,
    linked: HashMap<&'a PartyKey, &'a LinkState>,
    stored: HashMap<&'a str, &'a CustomerState>,
    pins: PinsByCustomer,
    current: CurrentGolden<'a>,
    rules: &'a SurvivorshipRules,
    /// The merges and id lineage of the pass, until the first slice
    /// takes them.
    first: Option<ResolutionChanges>,
    slice: usize,
}

impl Iterator for GoldenPlan<'_> {
    type Item = ResolutionChanges;

    fn next(&mut self) -> Option<ResolutionChanges> {
        let first = self.first.take();
        let is_first = first.is_some();
        let customers: Vec<(ResolvedCluster, String)> =
            self.customers.by_ref().take(self.slice).collect();
        if customers.is_empty() && !is_first {
            return None;
        }
        let mut changes = first.unwrap_or_default();
        let plan = &*self;
        let planned = map_in_order(customers, |(cluster, golden_id)| {
            plan.plan_customer(cluster, golden_id)
        });
        for (golden, links) in planned {
            changes.upserted.extend(golden);
            changes.links.extend(links);
        }
        Some(changes)
    }
}

impl GoldenPlan<'_> {
    /// One customer's golden record (when it changed) and its links (those
    /// new or changed).
    fn plan_customer(
        &self,
        cluster: ResolvedCluster,
        golden_id: String,
    ) -> (Option<GoldenCustomer>, Vec<GoldenLink>) {
        let members: Vec<&Party> = cluster
            .members
            .iter()
            .filter_map(|key| {
                self.by_key
                    .get(&(key.connector.as_str(), key.source_id.as_str()))
                    .copied()
            })
            .collect();
        let pins = self.pins.of(&golden_id, self.current);
        let golden = survive(&golden_id, &members, self.rules, &pins);
        let changed = self
            .stored
            .get(golden_id.as_str())
            .is_none_or(|current| current.record != record_digest(&golden.fields, &golden.lineage));
        let links = cluster
            .members
            .into_iter()
            .zip(cluster.evidence)
            .filter(|(member, evidence)| {
                !self.linked.get(member).is_some_and(|link| {
                    link.golden_id == golden_id && link.evidence == evidence_digest(evidence)
                })
            })
            .map(|(party, evidence)| GoldenLink {
                party,
                golden_id: golden_id.clone(),
                evidence,
            })
            .collect();
        (changed.then_some(golden), links)
    }
}

/// Which pinned ids' pins may apply to which golden id: a customer takes
/// the pins of its own id and of ids merged into it (now or earlier,
/// following `merged_into`). Built once per pass.
struct PinsByCustomer {
    /// Golden id -> the pinned ids whose merge chain passes through it.
    reached_from: HashMap<String, Vec<String>>,
}

impl PinsByCustomer {
    fn new(merged_now: &[(String, String)], current: CurrentGolden<'_>) -> PinsByCustomer {
        let survivor_of: HashMap<&str, &str> = current
            .ids
            .iter()
            .filter_map(|record| Some((record.golden_id.as_str(), record.merged_into.as_deref()?)))
            .chain(
                merged_now
                    .iter()
                    .map(|(absorbed, survivor)| (absorbed.as_str(), survivor.as_str())),
            )
            .collect();
        let mut reached_from: HashMap<String, Vec<String>> = HashMap::new();
        for pinned_id in current.pins.keys() {
            // Follow the merge chain (bounded, in case of a cycle in bad data).
            let mut id = pinned_id.as_str();
            let mut seen = HashSet::new();
            while seen.insert(id) {
                reached_from
                    .entry(id.to_string())
                    .or_default()
                    .push(pinned_id.clone());
                match survivor_of.get(id) {
                    Some(next) => id = next,
                    None => break,
                }
            }
        }
        PinsByCustomer { reached_from }
    }

    /// The pins that apply to `golden_id`. Per field its own pin wins,
    /// else the latest decision.
    fn of(&self, golden_id: &str, current: CurrentGolden<'_>) -> BTreeMap<String, PinnedField> {
        let mut pins: BTreeMap<String, PinnedField> = BTreeMap::new();
        // Per field: (pinned on this id itself, decision id) of the pin kept.
        let mut ranks: BTreeMap<String, (bool, i64)> = BTreeMap::new();
        for pinned_id in self.reached_from.get(golden_id).into_iter().flatten() {
            let own = pinned_id == golden_id;
            for (field, pin) in &current.pins[pinned_id] {
                let rank = (own, pin.decision_id);
                if ranks.get(field).is_none_or(|best| rank > *best) {
                    ranks.insert(field.clone(), rank);
                    pins.insert(field.clone(), pin.clone());
                }
            }
        }
        pins
    }
}

/// Each cluster's id, and the merges and splits that produced them.
struct IdAssignment {
    ids: Vec<String>,
    merged: Vec<(String, String)>,
    lineage: Vec<IdLineage>,
}

/// Chooses each cluster's golden id. Every existing id belongs to the
/// cluster with most of its records (ties to the cluster with the smaller
/// first member); a cluster keeps the oldest id it owns and absorbs the
/// rest; a cluster that owns none gets a new id.
fn assign_ids(
    clusters: &[ResolvedCluster],
    linked: &HashMap<&PartyKey, &LinkState>,
    ages: &HashMap<&str, DateTime<Utc>>,
    active: &HashSet<&str>,
) -> IdAssignment {
    // Per old id: how many of its records each cluster holds.
    let mut holdings: BTreeMap<&str, BTreeMap<usize, usize>> = BTreeMap::new();
    for (index, cluster) in clusters.iter().enumerate() {
        for member in &cluster.members {
            if let Some(link) = linked.get(member) {
                *holdings
                    .entry(link.golden_id.as_str())
                    .or_default()
                    .entry(index)
                    .or_default() += 1;
            }
        }
    }
    let mut owned: Vec<Vec<&str>> = vec![Vec::new(); clusters.len()];
    for (id, counts) in &holdings {
        let most = counts.values().copied().max().unwrap_or(0);
        let tied: Vec<usize> = counts
            .iter()
            .filter(|(_, count)| **count == most)
            .map(|(index, _)| *index)
            .collect();
        // Among equals, the id stays with the record it was derived from,
        // else with the cluster of the smallest first member.
        let owner = tied
            .iter()
            .copied()
            .find(|&index| {
                clusters[index]
                    .members
                    .iter()
                    .any(|member| derived_id(member, 0) == *id)
            })
            .or(tied.first().copied());
        if let Some(owner) = owner {
            owned[owner].push(id);
        }
    }

    // Every id in use, in these clusters or not: a pass over some of the
    // customers must not hand out an id a customer outside holds.
    let mut taken: HashSet<String> = linked
        .values()
        .map(|link| link.golden_id.clone())
        .chain(active.iter().map(|id| id.to_string()))
        .collect();
    let mut assignment = IdAssignment {
        ids: Vec::with_capacity(clusters.len()),
        merged: Vec::new(),
        lineage: Vec::new(),
    };
    for (index, cluster) in clusters.iter().enumerate() {
        let mut mine = owned[index].clone();
        mine.sort_by_key(|id| {
            (
                ages.get(id).copied().unwrap_or(DateTime::<Utc>::MAX_UTC),
                *id,
            )
        });
        let id = match mine.split_first() {
            Some((oldest, absorbed)) => {
                for other in absorbed {
                    assignment
                        .merged
                        .push((other.to_string(), oldest.to_string()));
                    assignment.lineage.push(IdLineage {
                        new_id: oldest.to_string(),
                        old_id: other.to_string(),
                        reason: "merge".to_string(),
                    });
                }
                oldest.to_string()
            }
            None => {
                let id = new_id(&cluster.members[0], &taken);
                taken.insert(id.clone());
                let came_from: BTreeSet<&str> = cluster
                    .members
                    .iter()
                    .filter_map(|member| linked.get(member).map(|link| link.golden_id.as_str()))
                    .collect();
                for old in came_from {
                    assignment.lineage.push(IdLineage {
                        new_id: id.clone(),
                        old_id: old.to_string(),
                        reason: "split".to_string(),
                    });
                }
                id
            }
        };
        assignment.ids.push(id);
    }
    assignment
}

/// A new golden id derived from a member key; rehashed on a clash with an
/// id in use. An id merged away earlier may come back this way, so undoing
/// a merge gives the split-off customer its old id again.
fn new_id(seed: &PartyKey, taken: &HashSet<String>) -> String {
    (0..)
        .map(|attempt| derived_id(seed, attempt))
        .find(|id| !taken.contains(id))
        .unwrap_or_default()
}

/// The ids a new customer whose first member is `seed` would try first:
/// what a pass over some customers must know to be in use or not.
pub fn new_id_candidates(seed: &PartyKey, count: usize) -> Vec<String> {
    (0..count)
        .map(|attempt| derived_id(seed, attempt))
        .collect()
}

/// The id derived from a member key on the given attempt (0 first, more
/// on clashes).
fn derived_id(seed: &PartyKey, attempt: usize) -> String {
    let input = format!("{seed}{}", "+".repeat(attempt));
    format!("g_{}", &hex::encode(Sha256::digest(input.as_bytes()))[..16])
}

/// Reads one single-valued field of a party.
type FieldGetter = fn(&Party) -> Option<&str>;

/// The single-valued fields survivorship rules decide.
const SINGLE_FIELDS: [(&str, FieldGetter); 3] = [
    ("name", |party| party.name.as_deref()),
    ("company", |party| party.company.as_deref()),
    ("address", |party| party.address.as_deref()),
];

/// The golden record of a cluster. Single-valued fields follow `rules`;
/// phones and e-mails are the union of normalized values; `kind` is
/// company when any member is. A pinned field takes the steward's value
/// over everything, with the decision as its lineage.
pub fn survive(
    golden_id: &str,
    members: &[&Party],
    rules: &SurvivorshipRules,
    pins: &BTreeMap<String, PinnedField>,
) -> GoldenCustomer {
    let mut ordered: Vec<&Party> = members.to_vec();
    // Most recently updated first (undated last), then by key: the order
    // every rule breaks ties in.
    ordered.sort_by(|a, b| {
        b.source_updated_at
            .cmp(&a.source_updated_at)
            .then_with(|| a.key_cmp(b))
    });
    let mut fields = BTreeMap::new();
    let mut lineage = BTreeMap::new();
    for (field, get) in SINGLE_FIELDS {
        if let Some((value, source)) = choose(rules.rule_for(field), &ordered, get) {
            fields.insert(field.to_string(), Value::String(value));
            lineage.insert(field.to_string(), source);
        }
    }
    let company = ordered
        .iter()
        .find(|party| party.kind == crate::model::PartyKind::Company);
    let kind_source = company.or(ordered.first());
    fields.insert(
        "kind".to_string(),
        json!(if company.is_some() {
            "company"
        } else {
            "person"
        }),
    );
    if let Some(source) = kind_source {
        lineage.insert("kind".to_string(), source.key());
    }

    let mut phones = BTreeSet::new();
    let mut emails = BTreeSet::new();
    for party in &ordered {
        for raw in &party.phones {
            for phone in normalize_phones(raw) {
                if phones.insert(phone.e164) {
                    lineage
                        .entry("phones".to_string())
                        .or_insert_with(|| party.key());
                }
            }
        }
        for raw in &party.emails {
            for email in normalize_emails(raw) {
                if emails.insert(email) {
                    lineage
                        .entry("emails".to_string())
                        .or_insert_with(|| party.key());
                }
            }
        }
    }
    if !phones.is_empty() {
        fields.insert("phones".to_string(), json!(phones));
    }
    if !emails.is_empty() {
        fields.insert("emails".to_string(), json!(emails));
    }
    for (field, pin) in pins {
        fields.insert(field.clone(), pin.value.clone());
        lineage.insert(
            field.clone(),
            PartyKey {
                connector: STEWARD_LINEAGE.to_string(),
                source_id: pin.decision_id.to_string(),
            },
        );
    }
    GoldenCustomer {
        golden_id: golden_id.to_string(),
        fields,
        lineage,
    }
}

/// The value `rule` picks among `ordered` (most recent first) and the
/// party that gave it; `None` when no member has a non-empty value.
fn choose(rule: &Rule, ordered: &[&Party], get: FieldGetter) -> Option<(String, PartyKey)> {
    let candidates: Vec<(&str, &Party)> = ordered
        .iter()
        .filter_map(|party| {
            get(party)
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .map(|value| (value, *party))
        })
        .collect();
    let picked = match rule {
        Rule::MostRecent => candidates.first().copied(),
        Rule::SourcePriority { sources } => candidates
            .iter()
            .min_by_key(|(_, party)| {
                sources
                    .iter()
                    .position(|source| *source == party.connector)
                    .unwrap_or(sources.len())
            })
            .copied(),
        Rule::MostFrequent => most_frequent(&candidates),
        Rule::MostComplete => {
            let longest = candidates
                .iter()
                .map(|(value, _)| value.chars().count())
                .max()?;
            let complete: Vec<(&str, &Party)> = candidates
                .iter()
                .filter(|(value, _)| value.chars().count() == longest)
                .copied()
                .collect();
            most_frequent(&complete)
        }
    };
    picked.map(|(value, party)| (value.to_string(), party.key()))
}

/// The most common value and the first (most recent) party that has it;
/// among equally common values, the one seen first.
fn most_frequent<'a>(candidates: &[(&'a str, &'a Party)]) -> Option<(&'a str, &'a Party)> {
    let mut counts: Vec<(&str, usize, &Party)> = Vec::new();
    for &(value, party) in candidates {
        match counts.iter_mut().find(|(seen, _, _)| *seen == value) {
            Some(entry) => entry.1 += 1,
            None => counts.push((value, 1, party)),
        }
    }
    // `max_by_key` keeps the last maximum; iterate reversed to keep the first.
    counts
        .into_iter()
        .rev()
        .max_by_key(|(_, count, _)| *count)
        .map(|(value, _, party)| (value, party))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steward::{cluster_with_constraints, Constraints};
    use chrono::TimeZone;

    fn party(connector: &str, id: &str, name: &str, phone: &str) -> Party {
        Party {
            connector: connector.into(),
            source_id: id.into(),
            name: Some(name.into()),
            phones: vec![phone.into()],
            ..Party::default()
        }
    }

    /// What the store holds, updated as `save_resolution` would, with a
    /// clock so ids have ages.
    #[derive(Default)]
    struct Held {
        links: Vec<GoldenLink>,
        golden: Vec<GoldenCustomer>,
        ids: Vec<GoldenIdRecord>,
        pins: BTreeMap<String, BTreeMap<String, PinnedField>>,
        clock: i64,
    }

    impl Held {
        /// The held links and customers as a store reads them for a plan.
        fn states(&self) -> (Vec<LinkState>, Vec<CustomerState>) {
            (
                self.links.iter().map(LinkState::of).collect(),
                self.golden.iter().map(CustomerState::of).collect(),
            )
        }

        fn plan(&self, parties: &[Party], rules: &SurvivorshipRules) -> ResolutionChanges {
            let (links, customers) = self.states();
            plan_changes(
                cluster_with_constraints(
                    parties,
                    &Constraints::default(),
                    crate::resolve::parties::customer_config(),
                )
                .clusters,
                parties,
                CurrentGolden {
                    links: &links,
                    customers: &customers,
                    ids: &self.ids,
                    pins: &self.pins,
                },
                rules,
            )
        }

        fn run(&mut self, parties: &[Party]) -> ResolutionChanges {
            let changes = self.plan(parties, &SurvivorshipRules::default());
            self.clock += 1;
            for link in &changes.links {
                self.links.retain(|current| current.party != link.party);
                self.links.push(link.clone());
            }
            for customer in &changes.upserted {
                self.golden
                    .retain(|current| current.golden_id != customer.golden_id);
                self.golden.push(customer.clone());
                match self
                    .ids
                    .iter_mut()
                    .find(|record| record.golden_id == customer.golden_id)
                {
                    Some(record) => {
                        record.status = "active".into();
                        record.merged_into = None;
                    }
                    None => self.ids.push(GoldenIdRecord {
                        golden_id: customer.golden_id.clone(),
                        status: "active".into(),
                        merged_into: None,
                        created_at: Utc.timestamp_opt(self.clock, 0).unwrap(),
                    }),
                }
            }
            for (absorbed, survivor) in &changes.merged {
                self.golden
                    .retain(|customer| &customer.golden_id != absorbed);
                for record in &mut self.ids {
                    if &record.golden_id == absorbed {
                        record.status = "merged".into();
                        record.merged_into = Some(survivor.clone());
                    }
                }
            }
            changes
        }

        fn id_of(&self, source_id: &str) -> String {
            self.links
                .iter()
                .find(|link| link.party.source_id == source_id)
                .map(|link| link.golden_id.clone())
                .unwrap()
        }
    }

    #[test]
    fn a_rerun_on_the_same_data_changes_nothing() {
        let parties = vec![
            party("erp", "1", "张伟", "13800138000"),
            party("shop", "a", "Zhang Wei", "+86 138 0013 8000"),
            party("erp", "2", "李娜", "13900139000"),
        ];
        let mut held = Held::default();
        let first = held.run(&parties);
        assert_eq!(first.upserted.len(), 2);
        assert_eq!(first.links.len(), 3);
        assert!(first.id_lineage.is_empty());
        let second = held.plan(&parties, &SurvivorshipRules::default());
        assert!(second.is_empty(), "{second:?}");
    }

    #[test]
    fn a_merge_keeps_the_older_id_even_of_the_smaller_customer() {
        let mut parties = vec![party("desk", "x", "张伟", "13700137000")];
        let mut held = Held::default();
        held.run(&parties);
        let older = held.id_of("x");
        parties.push(party("erp", "1", "张伟", "13800138000"));
        parties.push(party("shop", "a", "张伟", "13800138000"));
        held.run(&parties);
        let newer = held.id_of("1");
        assert_ne!(older, newer);

        // The desk record gains the shared mobile: the two customers merge.
        parties[0].phones.push("13800138000".into());
        let merge = held.run(&parties);
        assert_eq!(merge.merged, vec![(newer.clone(), older.clone())]);
        assert_eq!(
            merge.id_lineage,
            vec![IdLineage {
                new_id: older.clone(),
                old_id: newer,
                reason: "merge".into()
            }]
        );
        assert!(merge.links.iter().all(|link| link.golden_id == older));
        assert_eq!(held.golden.len(), 1);
        assert_eq!(
            held.golden[0].fields["phones"],
            json!(["+8613700137000", "+8613800138000"])
        );
    }

    #[test]
    fn a_plan_drawn_in_slices_is_the_plan_made_at_once() {
        let mut parties = vec![party("desk", "x", "张伟", "13700137000")];
        let mut held = Held::default();
        held.run(&parties);
        parties.push(party("erp", "1", "张伟", "13800138000"));
        parties.push(party("shop", "a", "张伟", "13800138000"));
        parties.push(party("erp", "2", "李娜", "13900139000"));
        parties.push(party("erp", "3", "王芳", "13600136000"));
        held.run(&parties);
        // A merge, a new customer and changed links in one pass.
        parties[0].phones.push("13800138000".into());
        parties.push(party("erp", "4", "赵敏", "13500135000"));
        let rules = SurvivorshipRules::default();
        let at_once = held.plan(&parties, &rules);
        assert!(!at_once.merged.is_empty() && !at_once.upserted.is_empty());

        let clusters = cluster_with_constraints(
            &parties,
            &Constraints::default(),
            crate::resolve::parties::customer_config(),
        )
        .clusters;
        let (links, customers) = held.states();
        let current = CurrentGolden {
            links: &links,
            customers: &customers,
            ids: &held.ids,
            pins: &held.pins,
        };
        let slices: Vec<ResolutionChanges> =
            plan_golden(clusters, &parties, current, &rules, 1).collect();
        assert_eq!(slices.len(), 4, "one slice per customer");
        assert_eq!(slices[0].merged, at_once.merged);
        assert_eq!(slices[0].id_lineage, at_once.id_lineage);
        assert!(slices[1..]
            .iter()
            .all(|slice| slice.merged.is_empty() && slice.id_lineage.is_empty()));
        assert!(slices.iter().all(|slice| slice.upserted.len() <= 1));
        let joined = |part: fn(&ResolutionChanges) -> usize| slices.iter().map(part).sum::<usize>();
        assert_eq!(joined(|slice| slice.upserted.len()), at_once.upserted.len());
        assert_eq!(joined(|slice| slice.links.len()), at_once.links.len());
        let upserted: Vec<GoldenCustomer> = slices
            .iter()
            .flat_map(|slice| slice.upserted.clone())
            .collect();
        let links: Vec<GoldenLink> = slices
            .iter()
            .flat_map(|slice| slice.links.clone())
            .collect();
        assert_eq!(upserted, at_once.upserted);
        assert_eq!(links, at_once.links);
    }

    #[test]
    fn a_split_gives_the_part_that_leaves_a_new_id_with_its_origin() {
        let mut parties = vec![
            party("erp", "1", "王芳", "13800138000"),
            party("shop", "a", "王芳", "13800138000"),
            party("desk", "x", "王芳", "13800138000"),
        ];
        let mut held = Held::default();
        held.run(&parties);
        let original = held.id_of("1");

        parties[2].phones = vec!["13600136000".into()];
        let split = held.run(&parties);
        let moved: Vec<&GoldenLink> = split
            .links
            .iter()
            .filter(|link| link.golden_id != original)
            .collect();
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].party.source_id, "x");
        assert!(split.merged.is_empty());
        assert_eq!(
            split.id_lineage,
            vec![IdLineage {
                new_id: moved[0].golden_id.clone(),
                old_id: original.clone(),
                reason: "split".into()
            }]
        );
        assert_eq!(held.id_of("1"), original);
    }

    #[test]
    fn an_undone_merge_gives_the_absorbed_customer_its_id_back() {
        let mut parties = vec![
            party("erp", "1", "王芳", "13800138000"),
            party("desk", "x", "王芳", "13600136000"),
        ];
        let mut held = Held::default();
        held.run(&parties);
        let (first, second) = (held.id_of("1"), held.id_of("x"));
        parties[1].phones.push("13800138000".into());
        held.run(&parties);
        assert_eq!(held.id_of("x"), held.id_of("1"));
        parties[1].phones.pop();
        held.run(&parties);
        assert_eq!((held.id_of("1"), held.id_of("x")), (first, second));
    }

    fn dated(connector: &str, id: &str, name: &str, day: u32) -> Party {
        Party {
            source_updated_at: Some(Utc.with_ymd_and_hms(2026, 3, day, 0, 0, 0).unwrap()),
            ..party(connector, id, name, "13800138000")
        }
    }

    #[test]
    fn each_survivorship_rule_picks_its_value_and_lineage() {
        let a = dated("erp", "1", "张伟", 1);
        let b = dated("shop", "a", "Zhang Wei", 2);
        let c = dated("desk", "x", "Zhang  Wei Jr.", 3);
        let d = dated("crm", "k", "Zhang Wei", 1);
        let members = [&a, &b, &c, &d];
        let pick = |text: &str| {
            let rules = SurvivorshipRules::parse(text).unwrap();
            let golden = survive("g_1", &members, &rules, &BTreeMap::new());
            (
                golden.fields["name"].clone(),
                golden.lineage["name"].to_string(),
            )
        };
        assert_eq!(pick(""), (json!("Zhang Wei"), "shop/a".to_string()));
        assert_eq!(
            pick("default = \"most_recent\""),
            (json!("Zhang  Wei Jr."), "desk/x".to_string())
        );
        assert_eq!(
            pick("default = \"most_complete\""),
            (json!("Zhang  Wei Jr."), "desk/x".to_string())
        );
        assert_eq!(
            pick("[fields]\nname = { rule = \"source_priority\", sources = [\"erp\", \"shop\"] }"),
            (json!("张伟"), "erp/1".to_string())
        );
        // Unlisted connectors come after the listed ones.
        assert_eq!(
            pick("[fields]\nname = { rule = \"source_priority\", sources = [\"crm\"] }"),
            (json!("Zhang Wei"), "crm/k".to_string())
        );
        let golden = survive(
            "g_1",
            &members,
            &SurvivorshipRules::default(),
            &BTreeMap::new(),
        );
        assert_eq!(golden.fields["phones"], json!(["+8613800138000"]));
        assert_eq!(golden.fields["kind"], json!("person"));
        assert_eq!(golden.lineage["phones"].to_string(), "desk/x");
    }

    #[test]
    fn a_pinned_field_wins_over_every_rule_and_follows_a_merge() {
        let mut parties = vec![
            party("erp", "1", "张伟", "13800138000"),
            party("desk", "x", "Zhang Wei", "13600136000"),
        ];
        let mut held = Held::default();
        held.run(&parties);
        let pinned_id = held.id_of("x");
        held.pins.insert(
            pinned_id.clone(),
            BTreeMap::from([(
                "name".to_string(),
                PinnedField {
                    value: json!("张伟 (VIP)"),
                    decision_id: 7,
                },
            )]),
        );
        held.run(&parties);
        let pinned = held
            .golden
            .iter()
            .find(|golden| golden.golden_id == pinned_id)
            .unwrap();
        assert_eq!(pinned.fields["name"], json!("张伟 (VIP)"));
        assert_eq!(pinned.lineage["name"].to_string(), "steward/7");

        // Merged into the older customer, the pin goes along.
        parties[1].phones.push("13800138000".into());
        held.run(&parties);
        assert_eq!(held.golden.len(), 1);
        assert_eq!(held.golden[0].fields["name"], json!("张伟 (VIP)"));
    }
}
