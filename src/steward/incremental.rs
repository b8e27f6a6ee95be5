//! Incremental resolution: new, changed and deleted records resolved
//! against an index of everything resolved before, without scoring or
//! clustering the rest again.
//!
//! The index keeps the blocks (records by blocking key), every scored
//! candidate pair that links, is reviewed or is kept apart by a strong id,
//! and the customers. A change:
//!
//! 1. takes the old version of each changed record out of its blocks and
//!    drops its pairs;
//! 2. puts the new version into its blocks and scores it against the
//!    members of every block it shares (within its rule's size cap). A
//!    block that crosses the cap either way has every member scored again,
//!    since its pairs appear or vanish for all of them. So has every holder
//!    of a term-frequency value whose count crosses a power of two (its
//!    weight changes by a bit), and every record when the typical count
//!    does ([`crate::resolve::frequency`]);
//! 3. gathers the records whose customer can change: the changed records,
//!    everything linked to them, the customers they were in, the records
//!    stewards tied to them, and so on until nothing new is reached;
//! 4. clusters just those with [`cluster_scored`], the very code a full run
//!    uses, from the stored pairs.
//!
//! Clustering is greedy over links strongest first, but no link or
//! constraint ever reaches outside what step 3 gathers, so the result is
//! the one a full run over the final records gives: same customers, same
//! review pairs, same evidence. The model (m, u, prior) is the one the index
//! was built with; with a config whose m and u are set (the built-in
//! customer config) that is exactly what a full run uses. A config that
//! trains its model is re-trained by a full run, not by a change.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::constraints::{cluster_scored, customer_groups, ConstrainedResolution, Constraints};
use crate::model::{Party, PartyKey};
use crate::resolve::blocking::{block_cap, block_keys_of, candidate_pairs, Pair};
use crate::resolve::compare::compare_pairs;
use crate::resolve::config::ResolveConfig;
use crate::resolve::engine::{decide, ScoredPair};
use crate::resolve::fellegi_sunter::{Explanation, Model};
use crate::resolve::frequency::TermFrequencies;
use crate::resolve::parties::{
    party_table, push_party, strong_id_names, strongest_first, PartyPair, PartyScores,
};
use crate::resolve::table::{StringId, TableBuilder};
use crate::store::ResolvedCluster;

/// Records scored together: enough to keep both cores busy, few enough
/// that their candidate pairs stay small.
const SCORE_SLICE: usize = 20_000;

/// What a stored pair is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PairKind {
    Link,
    Review,
    NeverLink,
}

/// A scored pair of table rows that matters to clustering.
#[derive(Debug, Clone)]
struct StoredPair {
    a: u32,
    b: u32,
    kind: PairKind,
    weight: f64,
    probability: f64,
    /// The strong rule that decided it, if one did.
    strong_rule: Option<usize>,
    /// The comparison levels, for the explanation.
    vector: Box<[u8]>,
}

/// One version of a record in the table.
struct Row {
    party: Party,
    /// Block keys it sits in while live.
    blocks: Vec<u64>,
    /// Ids of its stored pairs while live.
    pairs: Vec<usize>,
    live: bool,
}

/// Everything resolved so far, ready to take changes.
pub struct ResolutionIndex {
    config: ResolveConfig,
    model: Model,
    table: TableBuilder,
    rows: Vec<Row>,
    live: HashMap<PartyKey, u32>,
    blocks: HashMap<u64, Vec<u32>>,
    /// Value counts of the term-frequency fields over the live rows.
    frequencies: TermFrequencies,
    /// Per term-frequency slot, the live rows holding each value: rescored
    /// when the value's class changes.
    holders: Vec<HashMap<StringId, Vec<u32>>>,
    pairs: Vec<Option<StoredPair>>,
    constraints: Constraints,
    /// Live row -> its customer's label (the smallest member key's row).
    customer_of: HashMap<u32, u32>,
    /// Customer label -> member rows.
    members: HashMap<u32, Vec<u32>>,
    /// Records named by steward constraints, with the records they are
    /// tied to.
    tied: HashMap<PartyKey, Vec<PartyKey>>,
    /// Records whose constraints changed since the last change was applied.
    unsettled: Vec<PartyKey>,
}

/// What a change did: the customers of the records it reached, as a full
/// run would form them (evidence and reviews included).
pub struct IncrementalOutcome {
    /// Live records whose customer was recomputed.
    pub reached: usize,
    /// The recomputed customers and their review pairs.
    pub resolution: ConstrainedResolution,
}

/// The model a full run over `parties` scores with: the configured one,
/// trained on the parties' candidate pairs where the config asks for it.
fn trained_model(parties: &[Party], config: &ResolveConfig) -> Model {
    let model = Model::from_config(config);
    let fixed = model
        .fields
        .iter()
        .all(|field| field.m_fixed && field.u_fixed);
    if fixed && config.training.em_max_iterations == 0 {
        return model;
    }
    let table = party_table(parties, config);
    let candidates = candidate_pairs(&table, config, None);
    Model::train(
        &table,
        config,
        &compare_pairs(
            &table,
            config,
            &TermFrequencies::of_table(&table, config),
            &candidates.pairs,
        ),
        &candidates.rules,
    )
    .0
}

impl ResolutionIndex {
    /// Resolves `parties` in full under `constraints` and keeps the index.
    pub fn build(
        parties: &[Party],
        constraints: &Constraints,
        config: &ResolveConfig,
    ) -> ResolutionIndex {
        let frequencies = TermFrequencies::new(config);
        let mut index = ResolutionIndex {
            config: config.clone(),
            model: trained_model(parties, config),
            table: TableBuilder::new(&config.fields),
            rows: Vec::with_capacity(parties.len()),
            live: HashMap::with_capacity(parties.len()),
            blocks: HashMap::new(),
            holders: vec![HashMap::new(); frequencies.slots()],
            frequencies,
            pairs: Vec::new(),
            constraints: Constraints::default(),
            customer_of: HashMap::with_capacity(parties.len()),
            members: HashMap::new(),
            tied: HashMap::new(),
            unsettled: Vec::new(),
        };
        index.set_constraints(constraints);
        index.change(parties, &[], false);
        index
    }

    /// [`ResolutionIndex::build`], also returning the customers of all the
    /// records with evidence and review pairs, as a full run gives them:
    /// one scoring pass for both.
    pub fn build_resolved(
        parties: &[Party],
        constraints: &Constraints,
        config: &ResolveConfig,
    ) -> (ResolutionIndex, ConstrainedResolution) {
        let mut index = ResolutionIndex::build(&[], constraints, config);
        index.model = trained_model(parties, config);
        let (_, resolution) = index.change(parties, &[], true);
        (index, resolution.unwrap_or_default())
    }

    /// The steward constraints later changes are resolved under (all of
    /// them, as [`Constraints::from_decisions`] gives them after a
    /// decision). Records whose constraints changed are resolved again on
    /// the next [`ResolutionIndex::apply`], even an empty one.
    pub fn set_constraints(&mut self, constraints: &Constraints) {
        let pairs = |constraints: &Constraints| -> BTreeSet<(PartyKey, PartyKey, bool)> {
            let must = constraints.must_link.iter().map(|pair| (pair, true));
            let cannot = constraints.cannot_link.iter().map(|pair| (pair, false));
            must.chain(cannot)
                .map(|(pair, must)| (pair.left.clone(), pair.right.clone(), must))
                .collect()
        };
        let (before, after) = (pairs(&self.constraints), pairs(constraints));
        for (left, right, _) in before.symmetric_difference(&after) {
            self.unsettled.push(left.clone());
            self.unsettled.push(right.clone());
        }
        self.tied.clear();
        for pair in constraints.must_link.iter().chain(&constraints.cannot_link) {
            self.tied
                .entry(pair.left.clone())
                .or_default()
                .push(pair.right.clone());
            self.tied
                .entry(pair.right.clone())
                .or_default()
                .push(pair.left.clone());
        }
        self.constraints = constraints.clone();
    }

    /// The matching config the index scores with.
    pub fn config(&self) -> &ResolveConfig {
        &self.config
    }

    /// Live records.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether no record is live.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Records `keys` to be resolved again on the next change, e.g. the
    /// members of a customer whose pinned fields a steward changed.
    pub fn touch(&mut self, keys: &[PartyKey]) {
        self.unsettled.extend_from_slice(keys);
    }

    /// The number of customers.
    pub fn customer_count(&self) -> usize {
        self.members.len()
    }

    /// The live records, other than `changed`, whose shared orders
    /// ([`Party::shared_orders`]) are no longer those in `now` (an order
    /// citing theirs arrived or went), carrying `now`'s: the records to
    /// apply again although they did not change themselves.
    pub fn with_new_shared_orders(
        &self,
        now: &HashMap<PartyKey, Vec<String>>,
        changed: &[Party],
    ) -> Vec<Party> {
        let changed: HashSet<PartyKey> = changed.iter().map(Party::key).collect();
        let mut moved: Vec<Party> = self
            .live
            .iter()
            .filter(|(key, _)| !changed.contains(*key))
            .map(|(key, &row)| (&self.rows[row as usize].party, now.get(key)))
            .filter(|(party, keys)| {
                party.shared_orders.as_slice() != keys.map_or(&[][..], Vec::as_slice)
            })
            .map(|(party, keys)| Party {
                shared_orders: keys.cloned().unwrap_or_default(),
                ..party.clone()
            })
            .collect();
        moved.sort_by(Party::key_cmp);
        moved
    }

    /// The live records that are members of `clusters`.
    pub fn parties_of(&self, clusters: &[ResolvedCluster]) -> Vec<Party> {
        clusters
            .iter()
            .flat_map(|cluster| &cluster.members)
            .filter_map(|key| self.live.get(key))
            .map(|&row| self.rows[row as usize].party.clone())
            .collect()
    }

    /// Stored pairs: (links, review pairs, strong never-links), and the
    /// blocks holding two or more records.
    pub fn sizes(&self) -> (usize, usize, usize, usize) {
        let mut counts = [0; 3];
        for pair in self.pairs.iter().flatten() {
            counts[pair.kind as usize] += 1;
        }
        let blocks = self.blocks.values().filter(|rows| rows.len() > 1).count();
        (counts[0], counts[1], counts[2], blocks)
    }

    /// The current customers as sorted member lists, sorted.
    pub fn customers(&self) -> Vec<Vec<PartyKey>> {
        let mut customers: Vec<Vec<PartyKey>> = self
            .members
            .values()
            .map(|rows| {
                let mut keys: Vec<PartyKey> = rows
                    .iter()
                    .map(|&row| self.rows[row as usize].party.key())
                    .collect();
                keys.sort();
                keys
            })
            .collect();
        customers.sort();
        customers
    }

    /// Resolves new or changed records (`upserts`, a later version of a
    /// record replacing the earlier one) and deleted ones (`removals`),
    /// and returns the customers of every record the change reached.
    pub fn apply(&mut self, upserts: &[Party], removals: &[PartyKey]) -> IncrementalOutcome {
        let (reached, resolution) = self.change(upserts, removals, true);
        IncrementalOutcome {
            reached,
            resolution: resolution.unwrap_or_default(),
        }
    }

    /// Applies a change; returns how many records it reached and, when
    /// `detailed`, their customers as a full run forms them.
    fn change(
        &mut self,
        upserts: &[Party],
        removals: &[PartyKey],
        detailed: bool,
    ) -> (usize, Option<ConstrainedResolution>) {
        let mut size_before: HashMap<u64, usize> = HashMap::new();
        let mut class_before: HashMap<(usize, StringId), i32> = HashMap::new();
        let typical_before: Vec<i32> = (0..self.frequencies.slots())
            .map(|slot| self.frequencies.typical_class(slot))
            .collect();
        let mut reached: Vec<u32> = std::mem::take(&mut self.unsettled)
            .iter()
            .filter_map(|key| self.live.get(key).copied())
            .collect();

        let mut leaving: Vec<PartyKey> = removals.to_vec();
        leaving.extend(upserts.iter().map(Party::key));
        leaving.sort();
        leaving.dedup();
        for key in &leaving {
            if let Some(row) = self.live.remove(key) {
                self.count_values(row, false, &mut class_before);
                reached.extend(self.retire(row, &mut size_before));
            }
        }
        let mut rescore: BTreeSet<u32> = BTreeSet::new();
        // The same record twice in one change: the later version wins.
        let mut newest: HashMap<PartyKey, usize> = HashMap::new();
        for (position, party) in upserts.iter().enumerate() {
            newest.insert(party.key(), position);
        }
        for (position, party) in upserts.iter().enumerate() {
            if newest[&party.key()] != position {
                continue;
            }
            let row = push_party(&mut self.table, &self.config, party);
            self.count_values(row, true, &mut class_before);
            let keys = block_keys_of(self.table.table(), &self.config, row);
            for &key in &keys {
                let block = self.blocks.entry(key).or_default();
                size_before.entry(key).or_insert(block.len());
                block.push(row);
            }
            self.rows.push(Row {
                party: party.clone(),
                blocks: keys,
                pairs: Vec::new(),
                live: true,
            });
            self.live.insert(party.key(), row);
            rescore.insert(row);
        }
        for (key, before) in size_before {
            let block = self.blocks.get(&key).map_or(&[][..], Vec::as_slice);
            if self.usable(key, before) != self.usable(key, block.len()) {
                rescore.extend(block.iter().copied());
            }
            if block.is_empty() {
                self.blocks.remove(&key);
            }
        }
        // A value whose count crossed a power of two weighs differently for
        // every holder; a new typical count, for everyone.
        let retyped = (0..self.frequencies.slots())
            .any(|slot| self.frequencies.typical_class(slot) != typical_before[slot]);
        if retyped {
            rescore.extend(self.live.values().copied());
        } else {
            for ((slot, id), before) in class_before {
                if self.frequencies.value_class(slot, id) != before {
                    rescore.extend(self.holders[slot].get(&id).into_iter().flatten().copied());
                }
            }
        }
        for &row in &rescore {
            reached.extend(self.drop_pairs(row));
        }
        self.score(&rescore);
        reached.extend(rescore.iter().copied());

        let region = self.region(reached);
        let resolution = self.recluster(&region, detailed);
        (region.len(), resolution)
    }

    /// Counts (`up`) or uncounts the term-frequency values of `row`,
    /// noting each value's class before the change began.
    fn count_values(
        &mut self,
        row: u32,
        up: bool,
        class_before: &mut HashMap<(usize, StringId), i32>,
    ) {
        let table = self.table.table();
        let levels: Vec<_> = self.frequencies.levels().collect();
        for (slot, level) in levels.into_iter().enumerate() {
            for &id in table.ids(level.field, row) {
                class_before
                    .entry((slot, id))
                    .or_insert_with(|| self.frequencies.value_class(slot, id));
                let holders = self.holders[slot].entry(id).or_default();
                if up {
                    holders.push(row);
                } else {
                    holders.retain(|&holder| holder != row);
                    if holders.is_empty() {
                        self.holders[slot].remove(&id);
                    }
                }
            }
        }
        if up {
            self.frequencies.add(table, row);
        } else {
            self.frequencies.remove(table, row);
        }
    }

    /// Whether a block of `size` records under `key` is paired: at least
    /// two and no more than its rule's cap.
    fn usable(&self, key: u64, size: usize) -> bool {
        (2..=block_cap(&self.config, key)).contains(&size)
    }

    /// Takes a record version out of the index; returns the rows whose
    /// customer may change with it.
    fn retire(&mut self, row: u32, size_before: &mut HashMap<u64, usize>) -> Vec<u32> {
        let keys = std::mem::take(&mut self.rows[row as usize].blocks);
        for key in keys {
            if let Some(block) = self.blocks.get_mut(&key) {
                size_before.entry(key).or_insert(block.len());
                block.retain(|&member| member != row);
            }
        }
        let mut reached = self.drop_pairs(row);
        if let Some(label) = self.customer_of.remove(&row) {
            if let Some(members) = self.members.get_mut(&label) {
                members.retain(|&member| member != row);
                reached.extend(members.iter().copied());
                if members.is_empty() {
                    self.members.remove(&label);
                }
            }
        }
        let retired = &mut self.rows[row as usize];
        retired.live = false;
        retired.party = Party::default();
        reached
    }

    /// Forgets every stored pair of `row`; returns the other records.
    fn drop_pairs(&mut self, row: u32) -> Vec<u32> {
        let mut others = Vec::new();
        for id in std::mem::take(&mut self.rows[row as usize].pairs) {
            if let Some(pair) = self.pairs[id].take() {
                let other = if pair.a == row { pair.b } else { pair.a };
                self.rows[other as usize].pairs.retain(|&kept| kept != id);
                others.push(other);
            }
        }
        others
    }

    /// Scores each row of `rows` against the members of its usable blocks
    /// and stores the pairs that link, need review or never link.
    fn score(&mut self, rows: &BTreeSet<u32>) {
        let rows: Vec<u32> = rows.iter().copied().collect();
        // In slices, so a full build never holds every candidate at once;
        // a pair of two rescored rows is scored from its smaller row only.
        for slice in rows.chunks(SCORE_SLICE) {
            let mut candidates: Vec<Pair> = Vec::new();
            for &row in slice {
                for key in &self.rows[row as usize].blocks {
                    let block = &self.blocks[key];
                    if !self.usable(*key, block.len()) {
                        continue;
                    }
                    candidates.extend(
                        block
                            .iter()
                            .filter(|&&other| {
                                other != row && (other > row || rows.binary_search(&other).is_err())
                            })
                            .map(|&other| (row.min(other), row.max(other))),
                    );
                }
            }
            candidates.sort_unstable();
            candidates.dedup();
            self.score_pairs(&candidates);
        }
    }

    /// Compares and decides `candidates` and stores the pairs that link,
    /// need review or never link.
    fn score_pairs(&mut self, candidates: &[Pair]) {
        let table = self.table.table();
        let comparisons = compare_pairs(table, &self.config, &self.frequencies, candidates);
        let decisions = decide(table, &self.config, &self.model, candidates, &comparisons);
        let stored = |pair: &ScoredPair, kind: PairKind| StoredPair {
            a: pair.a,
            b: pair.b,
            kind,
            weight: if pair.strong_rule.is_some() && kind == PairKind::Link {
                f64::INFINITY
            } else {
                pair.weight
            },
            probability: pair.probability,
            strong_rule: pair.strong_rule,
            vector: comparisons.row(pair.row).into(),
        };
        let mut found: Vec<StoredPair> = Vec::new();
        found.extend(
            decisions
                .links
                .iter()
                .map(|pair| stored(pair, PairKind::Link)),
        );
        found.extend(
            decisions
                .reviews
                .iter()
                .map(|pair| stored(pair, PairKind::Review)),
        );
        let never: HashSet<Pair> = decisions.never_link.iter().copied().collect();
        let index_of: HashMap<Pair, usize> = candidates
            .iter()
            .enumerate()
            .map(|(row, &pair)| (pair, row))
            .collect();
        for &(a, b) in &never {
            let row = index_of[&(a, b)];
            found.push(StoredPair {
                a,
                b,
                kind: PairKind::NeverLink,
                weight: f64::NEG_INFINITY,
                probability: 0.0,
                strong_rule: None,
                vector: comparisons.row(row).into(),
            });
        }
        for pair in found {
            let id = self.pairs.len();
            self.rows[pair.a as usize].pairs.push(id);
            self.rows[pair.b as usize].pairs.push(id);
            self.pairs.push(Some(pair));
        }
    }

    /// The live rows whose customer can change: `start`, and everything
    /// linked to them, in a customer with them, or tied to them by a
    /// steward, until nothing new is reached.
    fn region(&self, start: Vec<u32>) -> Vec<u32> {
        let mut seen: HashSet<u32> = HashSet::new();
        let mut queue: Vec<u32> = start
            .into_iter()
            .filter(|&row| self.rows[row as usize].live)
            .collect();
        while let Some(row) = queue.pop() {
            if !seen.insert(row) {
                continue;
            }
            let record = &self.rows[row as usize];
            for &id in &record.pairs {
                let Some(pair) = &self.pairs[id] else {
                    continue;
                };
                if pair.kind == PairKind::Link {
                    let other = if pair.a == row { pair.b } else { pair.a };
                    queue.push(other);
                }
            }
            if let Some(label) = self.customer_of.get(&row) {
                queue.extend(self.members[label].iter().copied());
            }
            if let Some(tied) = self.tied.get(&record.party.key()) {
                queue.extend(tied.iter().filter_map(|key| self.live.get(key).copied()));
            }
        }
        let mut region: Vec<u32> = seen.into_iter().collect();
        region.sort_unstable();
        region
    }

    /// Clusters `region` from its stored pairs and records the customers.
    /// With `detailed`, the customers come with evidence and review pairs
    /// as a full run gives them; without (building the index), only who
    /// belongs together is worked out.
    fn recluster(&mut self, region: &[u32], detailed: bool) -> Option<ConstrainedResolution> {
        let local: HashMap<u32, usize> = region
            .iter()
            .enumerate()
            .map(|(position, &row)| (row, position))
            .collect();
        let parties: Vec<Party> = region
            .iter()
            .map(|&row| self.rows[row as usize].party.clone())
            .collect();
        let mut scores = PartyScores::default();
        let strong_ids = strong_id_names(&self.config);
        let mut seen: HashSet<usize> = HashSet::new();
        for &row in region {
            for &id in &self.rows[row as usize].pairs {
                let Some(pair) = &self.pairs[id] else {
                    continue;
                };
                let (Some(&a), Some(&b)) = (local.get(&pair.a), local.get(&pair.b)) else {
                    continue;
                };
                if !seen.insert(id) {
                    continue;
                }
                let explained = || PartyPair {
                    a,
                    b,
                    probability: pair.probability,
                    weight: pair.weight,
                    strong_id: pair.strong_rule.map(|rule| strong_ids[rule].clone()),
                    explanation: if detailed {
                        self.model.explain(&pair.vector)
                    } else {
                        Explanation {
                            prior_weight: 0.0,
                            fields: Vec::new(),
                            total_weight: pair.weight,
                            probability: pair.probability,
                        }
                    },
                };
                match pair.kind {
                    PairKind::Link => scores.links.push(explained()),
                    PairKind::Review if detailed => scores.reviews.push(explained()),
                    PairKind::Review => {}
                    PairKind::NeverLink => scores.never_link.push((a, b)),
                }
            }
        }
        strongest_first(&mut scores.links, &parties);
        // Reviews and never-links in candidate order, as a full run lists them.
        scores
            .reviews
            .sort_by_key(|pair| (region[pair.a.min(pair.b)], region[pair.a.max(pair.b)]));
        scores.never_link.sort_unstable();
        let (groups, resolution) = if detailed {
            let resolution = cluster_scored(&parties, &self.constraints, &scores);
            let row_of: HashMap<PartyKey, u32> = region
                .iter()
                .map(|&row| (self.rows[row as usize].party.key(), row))
                .collect();
            let groups: Vec<Vec<u32>> = resolution
                .clusters
                .iter()
                .map(|cluster| cluster.members.iter().map(|key| row_of[key]).collect())
                .collect();
            (groups, Some(resolution))
        } else {
            let groups = customer_groups(&parties, &self.constraints, &scores)
                .into_iter()
                .map(|members| members.into_iter().map(|member| region[member]).collect())
                .collect();
            (groups, None)
        };
        for &row in region {
            if let Some(label) = self.customer_of.remove(&row) {
                self.members.remove(&label);
            }
        }
        for rows in groups {
            let label = rows[0];
            for &row in &rows {
                self.customer_of.insert(row, label);
            }
            self.members.insert(label, rows);
        }
        resolution
    }

    /// Review pairs between different customers over the whole index, as
    /// a full run lists them: `(left, right)` keys in order.
    pub fn review_pairs(&self) -> BTreeMap<(PartyKey, PartyKey), f64> {
        let decided: HashSet<(PartyKey, PartyKey)> = self
            .constraints
            .must_link
            .iter()
            .chain(&self.constraints.cannot_link)
            .map(|pair| (pair.left.clone(), pair.right.clone()))
            .collect();
        self.pairs
            .iter()
            .flatten()
            .filter(|pair| pair.kind == PairKind::Review)
            .filter(|pair| self.customer_of.get(&pair.a) != self.customer_of.get(&pair.b))
            .map(|pair| {
                let (a, b) = (
                    self.rows[pair.a as usize].party.key(),
                    self.rows[pair.b as usize].party.key(),
                );
                let key = if a <= b { (a, b) } else { (b, a) };
                (key, pair.probability)
            })
            .filter(|(key, _)| !decided.contains(key))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::model::PartyKind;
    use crate::resolve::parties::{customer_config, CUSTOMER_MATCHING};
    use crate::steward::constraints::{cluster_with_constraints, PairConstraint};

    const NAMES: [&str; 6] = ["张伟", "Wei Zhang", "李娜", "王芳", "Fang Wang", "张 伟"];
    const PHONES: [&str; 5] = [
        "13800138000",
        "+86 138 0013 8000",
        "13900001111",
        "13700002222",
        "13800138001",
    ];
    const EMAILS: [&str; 4] = ["zw@qq.com", "lina@163.com", "wf@corp.cn", ""];
    const COMPANIES: [&str; 3] = ["北京星河科技有限公司", "星河科技(北京)有限公司", ""];

    /// A small party from choices, so many share names, phones and firms.
    fn party(id: u8, choice: [u8; 5]) -> Party {
        let pick = |options: &[&str], at: u8| options[at as usize % options.len()].to_string();
        let is_company = choice[4] % 5 == 0;
        Party {
            connector: ["erp", "shop", "desk"][id as usize % 3].to_string(),
            source_id: format!("r{id}"),
            kind: if is_company {
                PartyKind::Company
            } else {
                PartyKind::Person
            },
            name: Some(if is_company {
                pick(&COMPANIES[..2], choice[0])
            } else {
                pick(&NAMES, choice[0])
            }),
            phones: vec![pick(&PHONES, choice[1])],
            emails: vec![pick(&EMAILS, choice[2])]
                .into_iter()
                .filter(|e| !e.is_empty())
                .collect(),
            company: Some(pick(&COMPANIES, choice[3])).filter(|c| !c.is_empty()),
            ..Party::default()
        }
    }

    /// A config whose blocks overflow at four records, and a rule on the
    /// name alone at three, so changes push blocks over their caps and
    /// back.
    fn small_blocks() -> ResolveConfig {
        let config = ResolveConfig::from_toml(
            &CUSTOMER_MATCHING
                .replace("max_block_size = 200", "max_block_size = 4")
                .replace(
                    "[[blocking.rules]]\nname = \"mobile\"",
                    "[[blocking.rules]]\nname = \"rare name\"\nkeys = [{ field = \"name\" }]\nmax_block_size = 3\n\n[[blocking.rules]]\nname = \"mobile\"",
                ),
        )
        .unwrap();
        assert!(config.blocking.rules[0].max_block_size == Some(3));
        config
    }

    fn full(
        parties: &BTreeMap<PartyKey, Party>,
        constraints: &Constraints,
        config: &ResolveConfig,
    ) -> (Vec<Vec<PartyKey>>, BTreeSet<(PartyKey, PartyKey)>) {
        let parties: Vec<Party> = parties.values().cloned().collect();
        let resolution = cluster_with_constraints(&parties, constraints, config);
        let mut customers: Vec<Vec<PartyKey>> = resolution
            .clusters
            .into_iter()
            .map(|cluster| cluster.members)
            .collect();
        customers.sort();
        let reviews = resolution
            .reviews
            .into_iter()
            .map(|review| (review.left, review.right))
            .collect();
        (customers, reviews)
    }

    fn incremental(
        index: &ResolutionIndex,
    ) -> (Vec<Vec<PartyKey>>, BTreeSet<(PartyKey, PartyKey)>) {
        (
            index.customers(),
            index.review_pairs().into_keys().collect(),
        )
    }

    fn key(id: u8) -> PartyKey {
        party(id, [0; 5]).key()
    }

    #[test]
    fn a_value_growing_common_is_weighed_again_for_every_holder() {
        // A shared name weighs 2.585 bits with the prior; a link needs
        // 3.17: a name rarer than the typical one (+1 bit) links, a
        // typical one goes to review.
        let config = names_only(
            r#"{ test = "set_overlap", m = 0.9, u = 0.1, term_frequency = true },
               { test = "else", m = 0.1, u = 0.9 }"#,
            r#"{ name = "name", keys = [{ field = "name" }] }"#,
        );
        // Eight 张伟 make the typical count 6 (Σc²/Σc = 68/10): class 2.
        let mut parties = by_key(
            (0..8)
                .map(|id| person(id, "张伟"))
                .chain([person(8, "欧阳娜娜"), person(9, "欧阳娜娜")]),
        );
        let all: Vec<Party> = parties.values().cloned().collect();
        let mut index = ResolutionIndex::build(&all, &Constraints::default(), &config);
        let start = full(&parties, &Constraints::default(), &config);
        assert!(start.0.contains(&vec![key_of(8), key_of(9)]), "{start:?}");
        assert_eq!(incremental(&index), start);

        // Two more: 欧阳娜娜 is held by four (class 2, now typical; Σc²/Σc
        // = 80/12 keeps class 2), so the first two no longer link either.
        let more = [person(10, "欧阳娜娜"), person(11, "欧阳娜娜")];
        index.apply(&more, &[]);
        parties.extend(by_key(more));
        let end = full(&parties, &Constraints::default(), &config);
        assert!(end.1.contains(&(key_of(8), key_of(9))), "{end:?}");
        assert_eq!(incremental(&index), end);
    }

    /// A config of one set field, `name`, with `levels` and one blocking
    /// `rule`: a shared name weighs 2.585 bits with the prior at u = 0.1,
    /// and a link needs 3.17.
    fn names_only(levels: &str, rule: &str) -> ResolveConfig {
        ResolveConfig::from_toml(&format!(
            r#"
            [[fields]]
            name = "name"
            kind = "set"
            levels = [{levels}]
            [blocking]
            rules = [{rule}]
            [training]
            em_max_iterations = 0
            initial_prior = 0.4
            [thresholds]
            link = 0.9
            review = 0.5
            "#
        ))
        .unwrap()
    }

    /// A person record of the ERP with only a name.
    fn person(id: u8, name: &str) -> Party {
        Party {
            connector: "erp".into(),
            source_id: format!("r{id}"),
            name: Some(name.into()),
            ..Party::default()
        }
    }

    fn key_of(id: u8) -> PartyKey {
        person(id, "").key()
    }

    fn by_key(parties: impl IntoIterator<Item = Party>) -> BTreeMap<PartyKey, Party> {
        parties
            .into_iter()
            .map(|party| (party.key(), party))
            .collect()
    }

    #[test]
    fn a_rule_with_its_own_cap_pairs_only_blocks_within_it() {
        // A shared name links; the name rule pairs blocks of two at most
        // (the global cap is 1000).
        let config = names_only(
            r#"{ test = "set_overlap", m = 0.9, u = 0.01 }, { test = "else", m = 0.1, u = 0.99 }"#,
            r#"{ name = "rare name", keys = [{ field = "name" }], max_block_size = 2 }"#,
        );
        let mut parties = by_key((0..3).map(|id| person(id, "欧阳娜娜")));
        let all: Vec<Party> = parties.values().cloned().collect();
        let mut index = ResolutionIndex::build(&all, &Constraints::default(), &config);
        let start = full(&parties, &Constraints::default(), &config);
        assert_eq!(
            start.0.len(),
            3,
            "a block of three is not paired: {start:?}"
        );
        assert_eq!(incremental(&index), start);

        index.apply(&[], &[key_of(2)]);
        parties.remove(&key_of(2));
        let end = full(&parties, &Constraints::default(), &config);
        assert_eq!(end.0, vec![vec![key_of(0), key_of(1)]]);
        assert_eq!(incremental(&index), end);
    }

    #[test]
    fn records_whose_shared_orders_change_are_applied_again_as_a_full_run_sees_them() {
        let config = customer_config();
        let mut parties = by_key([person(0, "刘芳"), person(1, "Fang Liu"), person(2, "李娜")]);
        let all: Vec<Party> = parties.values().cloned().collect();
        let mut index = ResolutionIndex::build(&all, &Constraints::default(), config);
        assert_eq!(full(&parties, &Constraints::default(), config).0.len(), 3);
        let cited = HashMap::from([
            (key_of(0), vec!["shop:#1001".to_string()]),
            (key_of(1), vec!["shop:#1001".to_string()]),
        ]);
        // r1 arrives changed on its own; r0 only through the citation.
        let changed = [Party {
            shared_orders: cited[&key_of(1)].clone(),
            ..person(1, "Fang Liu")
        }];
        let moved = index.with_new_shared_orders(&cited, &changed);
        assert_eq!(moved.len(), 1, "{moved:?}");
        assert_eq!(
            (moved[0].key(), &moved[0].shared_orders),
            (key_of(0), &cited[&key_of(0)])
        );
        let upserts: Vec<Party> = changed.iter().cloned().chain(moved).collect();
        index.apply(&upserts, &[]);
        for party in &upserts {
            parties.insert(party.key(), party.clone());
        }
        let linked = full(&parties, &Constraints::default(), config);
        assert!(linked.0.contains(&vec![key_of(0), key_of(1)]), "{linked:?}");
        assert_eq!(incremental(&index), linked);
        assert!(
            index.with_new_shared_orders(&cited, &[]).is_empty(),
            "nothing moved since"
        );

        // The citation goes: both are applied again, and part.
        let moved = index.with_new_shared_orders(&HashMap::new(), &[]);
        assert_eq!(
            moved.iter().map(Party::key).collect::<Vec<_>>(),
            [key_of(0), key_of(1)]
        );
        assert!(moved.iter().all(|party| party.shared_orders.is_empty()));
        index.apply(&moved, &[]);
        for party in moved {
            parties.insert(party.key(), party);
        }
        let apart = full(&parties, &Constraints::default(), config);
        assert_eq!(apart.0.len(), 3);
        assert_eq!(incremental(&index), apart);
    }

    #[test]
    fn a_change_reaches_only_the_customers_it_touches() {
        let config = customer_config();
        let parties = vec![
            party(0, [0, 0, 0, 2, 1]),
            party(1, [1, 1, 0, 2, 1]),
            party(2, [2, 2, 1, 2, 1]),
            party(3, [3, 3, 2, 2, 1]),
        ];
        let mut index = ResolutionIndex::build(&parties, &Constraints::default(), config);
        assert_eq!(index.len(), 4);
        assert!(index.customers().contains(&vec![key(0), key(1)]));
        // 李娜 gets 王芳's phone: only those two are reached.
        let outcome = index.apply(&[party(2, [2, 3, 1, 2, 1])], &[]);
        assert_eq!(outcome.reached, 2, "{:?}", index.customers());
        // Two versions of one record in a change: the later one counts.
        index.apply(&[party(3, [3, 1, 0, 2, 1]), party(3, [3, 3, 2, 2, 1])], &[]);
        assert!(
            index.customers().contains(&vec![key(0), key(1)]),
            "{:?}",
            index.customers()
        );
        assert_eq!(index.len(), 4);
        // 张伟 of the shop leaves; the other one stands alone.
        let outcome = index.apply(&[], &[key(1)]);
        assert_eq!(outcome.reached, 1);
        assert!(index.customers().contains(&vec![key(0)]));
        assert_eq!(index.len(), 3);
    }

    #[derive(Debug, Clone)]
    enum Change {
        Upsert(u8, [u8; 5]),
        Remove(u8),
    }

    fn change() -> impl Strategy<Value = Change> {
        prop_oneof![
            3 => (0u8..14, any::<[u8; 5]>()).prop_map(|(id, choice)| Change::Upsert(id, choice)),
            1 => (0u8..14).prop_map(Change::Remove),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any stream of upserts and removals, in batches, ends in the
        /// customers and review pairs a full run over the final records
        /// gives, under steward constraints and with blocks that overflow.
        #[test]
        fn incremental_ends_where_a_full_run_starts(
            batches in prop::collection::vec(prop::collection::vec(change(), 1..5), 1..8),
            must in prop::collection::vec((0u8..14, 0u8..14), 0..3),
            cannot in prop::collection::vec((0u8..14, 0u8..14), 0..3),
            decided_at in 0usize..8,
        ) {
            let config = small_blocks();
            let pairs = |list: &[(u8, u8)], first_id: i64| -> Vec<PairConstraint> {
                list.iter()
                    .filter(|(a, b)| a != b)
                    .enumerate()
                    .map(|(at, &(a, b))| {
                        let (left, right) = if key(a) < key(b) { (key(a), key(b)) } else { (key(b), key(a)) };
                        PairConstraint { left, right, decision_id: first_id + at as i64 }
                    })
                    .collect()
            };
            // Cannot-links between records a must-link joins would
            // contradict; decisions never produce those.
            let must_link = pairs(&must, 1);
            let cannot_link: Vec<PairConstraint> = pairs(&cannot, 10)
                .into_iter()
                .filter(|pair| !must_link.iter().any(|m| m.left == pair.left || m.left == pair.right || m.right == pair.left || m.right == pair.right))
                .collect();
            let constraints = Constraints { must_link, cannot_link };

            let mut current: BTreeMap<PartyKey, Party> = BTreeMap::new();
            let mut index = ResolutionIndex::build(&[], &Constraints::default(), &config);
            let mut active = Constraints::default();
            for (number, batch) in batches.iter().enumerate() {
                // Stewards decide after a while: the constraints arrive
                // with a later batch, not with the first records.
                if number == decided_at % batches.len() {
                    active = constraints.clone();
                    index.set_constraints(&active);
                }
                let mut upserts = Vec::new();
                let mut removals = Vec::new();
                for change in batch {
                    match *change {
                        Change::Upsert(id, choice) => {
                            let party = party(id, choice);
                            current.insert(party.key(), party.clone());
                            upserts.retain(|kept: &Party| kept.key() != party.key());
                            removals.retain(|kept| *kept != party.key());
                            upserts.push(party);
                        }
                        Change::Remove(id) => {
                            current.remove(&key(id));
                            upserts.retain(|kept: &Party| kept.key() != key(id));
                            removals.push(key(id));
                        }
                    }
                }
                index.apply(&upserts, &removals);
                prop_assert_eq!(incremental(&index), full(&current, &active, &config));
            }
            // A decision alone, with no new records, takes effect too.
            index.set_constraints(&Constraints::default());
            index.apply(&[], &[]);
            prop_assert_eq!(incremental(&index), full(&current, &Constraints::default(), &config));
            // Built at once from the final records, the index agrees too.
            let finals: Vec<Party> = current.values().cloned().collect();
            let rebuilt = ResolutionIndex::build(&finals, &constraints, &config);
            prop_assert_eq!(rebuilt.customers(), full(&current, &constraints, &config).0);
            let (resolved, resolution) = ResolutionIndex::build_resolved(&finals, &constraints, &config);
            let expected = cluster_with_constraints(&finals, &constraints, &config);
            prop_assert_eq!(resolved.customers(), full(&current, &constraints, &config).0);
            prop_assert_eq!(resolution.clusters, expected.clusters);
            let pairs = |reviews: &[crate::store::ReviewCandidate]| -> BTreeSet<(PartyKey, PartyKey)> {
                reviews.iter().map(|review| (review.left.clone(), review.right.clone())).collect()
            };
            prop_assert_eq!(pairs(&resolution.reviews), pairs(&expected.reviews));
        }
    }
}
