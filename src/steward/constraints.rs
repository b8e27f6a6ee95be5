//! What stewards decided, as constraints on resolution.
//!
//! Every active accept, reject, merge and split decision says of some
//! record pairs that they are (must-link) or are not (cannot-link) one
//! customer. Decisions can contradict each other (a merge, then a split of
//! the same records); [`Constraints::from_decisions`] lets the newer
//! decision win, so the constraints handed to clustering never conflict and
//! every one of them can be honoured.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::model::{Party, PartyKey};
use crate::resolve::config::ResolveConfig;
use crate::resolve::match_keys;
use crate::resolve::parallel::map_in_order;
use crate::resolve::parties::{score_parties, PartyPair, PartyScores};
use crate::steward::PinnedField;
use crate::store::{
    Decision, FieldContribution, LinkEvidence, MatchEvidence, ResolvedCluster, ReviewCandidate,
    StewardDecision,
};

/// One record pair a decision constrains.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PairConstraint {
    /// The smaller key of the pair.
    pub left: PartyKey,
    pub right: PartyKey,
    /// The decision that set it.
    pub decision_id: i64,
}

/// The consistent must-link and cannot-link pairs of the active decisions:
/// no cannot-link pair is connected by must-links.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Constraints {
    pub must_link: Vec<PairConstraint>,
    pub cannot_link: Vec<PairConstraint>,
}

/// Whether a pair must or must not be one customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Must,
    Cannot,
}

/// The pairs a decision constrains.
fn decision_pairs(decision: &Decision) -> Vec<(PartyKey, PartyKey, Link)> {
    match decision {
        Decision::AcceptMatch { left, right, .. } => {
            vec![(left.clone(), right.clone(), Link::Must)]
        }
        Decision::RejectMatch { left, right, .. } => {
            vec![(left.clone(), right.clone(), Link::Cannot)]
        }
        Decision::Merge { records, .. } => star(records, Link::Must),
        Decision::Split {
            leaving, remaining, ..
        } => {
            let mut pairs = star(leaving, Link::Must);
            // A record named on both sides leaves.
            let staying = remaining.iter().filter(|key| !leaving.contains(key));
            for stay in staying {
                for away in leaving {
                    pairs.push((stay.clone(), away.clone(), Link::Cannot));
                }
            }
            pairs
        }
        Decision::SetField { .. } | Decision::Undo { .. } => Vec::new(),
    }
}

/// Must-links from the first record to every other: enough to hold a
/// group together.
fn star(records: &[PartyKey], link: Link) -> Vec<(PartyKey, PartyKey, Link)> {
    records
        .iter()
        .skip(1)
        .map(|other| (records[0].clone(), other.clone(), link))
        .collect()
}

impl Constraints {
    /// The constraints of the decisions not undone. A newer decision
    /// overrides an older one on the same pair, and a newer decision's
    /// pairs are kept over older ones that would contradict them through
    /// a chain of must-links.
    pub fn from_decisions(decisions: &[StewardDecision]) -> Constraints {
        settle(decisions).0
    }
}

/// Per active decision that pairs records, how many of its pairs still
/// bind and how many a newer decision contradicts (the same pair decided
/// the other way, or a chain of newer pairs): a decision whose pairs all
/// were contradicted no longer binds, though it is not undone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DecisionStanding {
    pub binding: usize,
    pub overridden: usize,
}

/// [`DecisionStanding`] of each active decision that pairs records.
pub fn decision_standing(decisions: &[StewardDecision]) -> BTreeMap<i64, DecisionStanding> {
    settle(decisions).1
}

/// The consistent constraints and each decision's standing.
fn settle(decisions: &[StewardDecision]) -> (Constraints, BTreeMap<i64, DecisionStanding>) {
    let mut active: Vec<&StewardDecision> = decisions
        .iter()
        .filter(|decision| decision.undone_at.is_none())
        .collect();
    // Newest first: the first word on a pair is the last one spoken.
    active.sort_by_key(|decision| std::cmp::Reverse(decision.id));
    let mut standing: BTreeMap<i64, DecisionStanding> = BTreeMap::new();
    let mut seen_pairs: BTreeMap<(PartyKey, PartyKey), Link> = BTreeMap::new();
    let mut pairs = Vec::new();
    for decision in active {
        for (a, b, link) in decision_pairs(&decision.decision) {
            if a == b {
                continue;
            }
            let (left, right) = if a < b { (a, b) } else { (b, a) };
            let counts = standing.entry(decision.id).or_default();
            match seen_pairs.get(&(left.clone(), right.clone())) {
                Some(newer) if *newer != link => counts.overridden += 1,
                Some(_) => counts.binding += 1,
                None => {
                    seen_pairs.insert((left.clone(), right.clone()), link);
                    pairs.push((
                        PairConstraint {
                            left,
                            right,
                            decision_id: decision.id,
                        },
                        link,
                    ));
                }
            }
        }
    }

    let mut index: HashMap<PartyKey, usize> = HashMap::new();
    for (pair, _) in &pairs {
        for key in [&pair.left, &pair.right] {
            let next = index.len();
            index.entry(key.clone()).or_insert(next);
        }
    }
    let mut groups = ConstrainedSets::new(index.len());
    let mut constraints = Constraints::default();
    for (pair, link) in pairs {
        let (a, b) = (index[&pair.left], index[&pair.right]);
        let counts = standing.entry(pair.decision_id).or_default();
        let kept = match link {
            Link::Must => groups.union(a, b),
            Link::Cannot => groups.forbid(a, b),
        };
        if !kept {
            counts.overridden += 1;
            continue;
        }
        counts.binding += 1;
        match link {
            Link::Must => constraints.must_link.push(pair),
            Link::Cannot => constraints.cannot_link.push(pair),
        }
    }
    constraints.must_link.sort();
    constraints.cannot_link.sort();
    (constraints, standing)
}

/// The value each active set-field decision pins, by golden id then
/// field; a later decision on the same field replaces an earlier one.
pub fn pinned_fields(
    decisions: &[StewardDecision],
) -> BTreeMap<String, BTreeMap<String, PinnedField>> {
    let mut active: Vec<&StewardDecision> = decisions
        .iter()
        .filter(|decision| decision.undone_at.is_none())
        .collect();
    active.sort_by_key(|decision| decision.id);
    let mut pins: BTreeMap<String, BTreeMap<String, PinnedField>> = BTreeMap::new();
    for decision in active {
        if let Decision::SetField {
            golden_id,
            field,
            value,
        } = &decision.decision
        {
            pins.entry(golden_id.clone()).or_default().insert(
                field.clone(),
                PinnedField {
                    value: value.clone(),
                    decision_id: decision.id,
                },
            );
        }
    }
    pins
}

/// The groups the constraints and links form, and why members joined.
struct Joined<'a> {
    groups: ConstrainedSets,
    /// Pairs a steward decided, as `(smaller, larger)` indexes.
    steward_pairs: BTreeSet<(usize, usize)>,
    /// Member -> the decisions whose must-links joined it.
    steward_links: BTreeMap<usize, BTreeSet<i64>>,
    /// Member -> the strongest link that joined it.
    best_link: HashMap<usize, &'a PartyPair>,
}

/// Joins the parties: steward cannot-links forbid, must-links join, strong
/// ids keep apart what no steward joined, then links join strongest first
/// where no constraint forbids. Constraints naming a record that is not in
/// `parties` are ignored.
fn join<'a>(parties: &[Party], constraints: &Constraints, scores: &'a PartyScores) -> Joined<'a> {
    let position: HashMap<PartyKey, usize> = parties
        .iter()
        .enumerate()
        .map(|(index, party)| (party.key(), index))
        .collect();
    let mut groups = ConstrainedSets::new(parties.len());
    for pair in &constraints.cannot_link {
        if let (Some(&a), Some(&b)) = (position.get(&pair.left), position.get(&pair.right)) {
            groups.forbid(a, b);
        }
    }
    let steward_pairs: BTreeSet<(usize, usize)> = constraints
        .must_link
        .iter()
        .chain(&constraints.cannot_link)
        .filter_map(|pair| Some((*position.get(&pair.left)?, *position.get(&pair.right)?)))
        .map(|(a, b)| (a.min(b), a.max(b)))
        .collect();
    let mut steward_links: BTreeMap<usize, BTreeSet<i64>> = BTreeMap::new();
    for pair in &constraints.must_link {
        if let (Some(&a), Some(&b)) = (position.get(&pair.left), position.get(&pair.right)) {
            if groups.union(a, b) {
                steward_links.entry(a).or_default().insert(pair.decision_id);
                steward_links.entry(b).or_default().insert(pair.decision_id);
            }
        }
    }
    // Strong ids keep pairs apart unless a steward joined them.
    for &(a, b) in &scores.never_link {
        if groups.find(a) != groups.find(b) {
            groups.forbid(a, b);
        }
    }
    let mut best_link: HashMap<usize, &PartyPair> = HashMap::new();
    for link in &scores.links {
        if groups.union(link.a, link.b) {
            for member in [link.a, link.b] {
                best_link.entry(member).or_insert(link);
            }
        }
    }
    Joined {
        groups,
        steward_pairs,
        steward_links,
        best_link,
    }
}

/// Members per group root, each group in key order, groups by first member.
fn members_by_group(
    parties: &[Party],
    groups: &mut ConstrainedSets,
) -> BTreeMap<usize, Vec<usize>> {
    let mut order: Vec<usize> = (0..parties.len()).collect();
    order.sort_by(|&a, &b| parties[a].key_cmp(&parties[b]));
    let mut clustered: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &index in &order {
        clustered.entry(groups.find(index)).or_default().push(index);
    }
    clustered
}

/// The customers [`cluster_scored`] forms, as member indexes into
/// `parties` (each in key order), without evidence or review pairs: what
/// an index needs to know who belongs together. `scores.reviews` and the
/// explanations are not read.
pub fn customer_groups(
    parties: &[Party],
    constraints: &Constraints,
    scores: &PartyScores,
) -> Vec<Vec<usize>> {
    let mut groups = join(parties, constraints, scores).groups;
    members_by_group(parties, &mut groups)
        .into_values()
        .collect()
}

/// Clusters and steward work from one resolution pass.
#[derive(Debug, Clone, Default)]
pub struct ConstrainedResolution {
    /// Clusters sorted by their smallest member.
    pub clusters: Vec<ResolvedCluster>,
    /// Pairs in the review band, not yet decided by a steward, with their
    /// explanations; `priority` still to be set by the caller.
    pub reviews: Vec<ReviewCandidate>,
}

/// Groups parties into customers with the probabilistic engine
/// ([`crate::resolve::parties`]) while honouring the constraints: must-link
/// pairs are joined first, auto-links then join strongest first, and no
/// link ever joins two groups a cannot-link pair (a steward's, or a strong
/// identifier's that no steward overrode) keeps apart. Constraints naming a
/// record that no longer exists are ignored. Clusters come sorted by their
/// smallest member, so the same input gives the same output.
pub fn cluster_with_constraints(
    parties: &[Party],
    constraints: &Constraints,
    matching: &ResolveConfig,
) -> ConstrainedResolution {
    cluster_scored(parties, constraints, &score_parties(parties, matching))
}

/// [`cluster_with_constraints`] with the parties already scored (`scores`
/// indexes into `parties`, links strongest first): what incremental
/// resolution hands over for the records a change touches.
pub fn cluster_scored(
    parties: &[Party],
    constraints: &Constraints,
    scores: &PartyScores,
) -> ConstrainedResolution {
    let Joined {
        mut groups,
        steward_pairs,
        steward_links,
        best_link,
    } = join(parties, constraints, scores);
    let clustered = members_by_group(parties, &mut groups);
    let mut clusters: Vec<ResolvedCluster> =
        map_in_order(clustered.into_values().collect(), |members| {
            let evidence = members_evidence(parties, &members, &best_link, &steward_links);
            ResolvedCluster {
                members: members
                    .iter()
                    .map(|&member| parties[member].key())
                    .collect(),
                evidence,
            }
        });
    clusters.sort_by(|a, b| a.members[0].cmp(&b.members[0]));
    let reviews = scores
        .reviews
        .iter()
        .filter(|pair| !steward_pairs.contains(&(pair.a.min(pair.b), pair.a.max(pair.b))))
        .filter(|pair| groups.find(pair.a) != groups.find(pair.b))
        .map(|pair| {
            let (left, right) = (parties[pair.a].key(), parties[pair.b].key());
            let (left, right) = if left <= right {
                (left, right)
            } else {
                (right, left)
            };
            ReviewCandidate {
                left,
                right,
                probability: pair.probability,
                match_weight: pair.weight,
                explanation: pair.explanation.fields.clone(),
                priority: 1.0 - 2.0 * (pair.probability - 0.5).abs(),
            }
        })
        .collect();
    ConstrainedResolution { clusters, reviews }
}

/// Why each member of one customer belongs, in member order: the match
/// keys it shares with another member, the strongest link that joined it,
/// and the steward decisions that did.
fn members_evidence(
    parties: &[Party],
    members: &[usize],
    best_link: &HashMap<usize, &PartyPair>,
    steward_links: &BTreeMap<usize, BTreeSet<i64>>,
) -> Vec<LinkEvidence> {
    // A customer of one record shares nothing with anyone.
    let keys: Vec<BTreeSet<String>> = if members.len() > 1 {
        members
            .iter()
            .map(|&member| match_keys(&parties[member]))
            .collect()
    } else {
        vec![BTreeSet::new()]
    };
    let mut key_count: HashMap<&str, usize> = HashMap::new();
    for key in keys.iter().flatten() {
        *key_count.entry(key).or_default() += 1;
    }
    members
        .iter()
        .zip(&keys)
        .map(|(&member, keys)| {
            let shared_keys = keys
                .iter()
                .filter(|key| key_count.get(key.as_str()).copied().unwrap_or(0) > 1)
                .cloned()
                .collect();
            // Rounded: stores may reformat JSON numbers, and evidence must
            // read back equal or every run would rewrite it.
            let matched = best_link.get(&member).map(|link| {
                let other = if link.a == member { link.b } else { link.a };
                MatchEvidence {
                    with: parties[other].key().to_string(),
                    probability: round4(link.probability),
                    weight: link.weight.is_finite().then(|| round4(link.weight)),
                    strong_id: link.strong_id.clone(),
                    explanation: link
                        .explanation
                        .fields
                        .iter()
                        .map(|field| FieldContribution {
                            weight: round4(field.weight),
                            ..field.clone()
                        })
                        .collect(),
                }
            });
            LinkEvidence {
                shared_keys,
                matched,
                steward_decisions: steward_links
                    .get(&member)
                    .map(|decisions| decisions.iter().copied().collect())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// `value` to four decimals.
fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// Union-find whose groups carry the members they must never join.
struct ConstrainedSets {
    parent: Vec<usize>,
    /// Per root: members of other groups this group must stay apart from.
    apart: Vec<Vec<usize>>,
}

impl ConstrainedSets {
    fn new(count: usize) -> ConstrainedSets {
        ConstrainedSets {
            parent: (0..count).collect(),
            apart: vec![Vec::new(); count],
        }
    }

    fn find(&mut self, mut item: usize) -> usize {
        while self.parent[item] != item {
            self.parent[item] = self.parent[self.parent[item]];
            item = self.parent[item];
        }
        item
    }

    /// Whether `a` and `b` are in one group now (joined if allowed).
    fn union(&mut self, a: usize, b: usize) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return true;
        }
        let apart_a = self.apart[ra].clone();
        if apart_a.into_iter().any(|other| self.find(other) == rb) {
            return false;
        }
        let (big, small) = if self.apart[ra].len() >= self.apart[rb].len() {
            (ra, rb)
        } else {
            (rb, ra)
        };
        self.parent[small] = big;
        let moved = std::mem::take(&mut self.apart[small]);
        self.apart[big].extend(moved);
        true
    }

    /// Keeps `a` and `b` apart from now on; false if they are already
    /// in one group.
    fn forbid(&mut self, a: usize, b: usize) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        self.apart[ra].push(b);
        self.apart[rb].push(a);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use proptest::prelude::*;
    use serde_json::json;

    fn key(id: usize) -> PartyKey {
        PartyKey {
            connector: "erp".into(),
            source_id: format!("{id:02}"),
        }
    }

    fn party(id: usize, phone: usize) -> Party {
        Party {
            connector: "erp".into(),
            source_id: format!("{id:02}"),
            phones: vec![format!("1380013{:04}", phone)],
            ..Party::default()
        }
    }

    fn recorded(id: i64, decision: Decision) -> StewardDecision {
        StewardDecision {
            id,
            decision,
            actor: "li.na".into(),
            reason: None,
            created_at: Utc::now(),
            undone_at: None,
        }
    }

    fn cluster_of(clusters: &[ResolvedCluster], member: &PartyKey) -> usize {
        clusters
            .iter()
            .position(|cluster| cluster.members.contains(member))
            .unwrap()
    }

    #[test]
    fn a_reject_splits_a_shared_phone_and_an_accept_joins_strangers() {
        // 0, 1 and 2 share a phone; 3 has its own.
        let parties = vec![party(0, 1), party(1, 1), party(2, 1), party(3, 2)];
        let decisions = vec![
            recorded(
                1,
                Decision::RejectMatch {
                    review_id: 1,
                    left: key(0),
                    right: key(2),
                },
            ),
            recorded(
                2,
                Decision::AcceptMatch {
                    review_id: 2,
                    left: key(3),
                    right: key(2),
                },
            ),
        ];
        let clusters = cluster_with_constraints(
            &parties,
            &Constraints::from_decisions(&decisions),
            crate::resolve::parties::customer_config(),
        )
        .clusters;
        let members: Vec<Vec<String>> = clusters
            .iter()
            .map(|cluster| cluster.members.iter().map(ToString::to_string).collect())
            .collect();
        assert_eq!(
            members,
            vec![vec!["erp/00", "erp/01"], vec!["erp/02", "erp/03"]]
        );
        assert_eq!(
            serde_json::to_value(&clusters[1].evidence[1]).unwrap(),
            json!({ "shared_keys": [], "steward_decisions": [2] })
        );
    }

    #[test]
    fn the_newer_decision_wins_and_an_undone_one_binds_no_more() {
        let merge = recorded(
            1,
            Decision::Merge {
                golden_ids: vec!["g_a".into(), "g_b".into()],
                records: vec![key(0), key(1), key(2)],
            },
        );
        let split = recorded(
            2,
            Decision::Split {
                golden_id: "g_a".into(),
                leaving: vec![key(2)],
                remaining: vec![key(0), key(1)],
            },
        );
        let constraints = Constraints::from_decisions(&[merge.clone(), split.clone()]);
        let pairs = |list: &[PairConstraint]| -> Vec<(String, String, i64)> {
            list.iter()
                .map(|pair| {
                    (
                        pair.left.to_string(),
                        pair.right.to_string(),
                        pair.decision_id,
                    )
                })
                .collect()
        };
        assert_eq!(
            pairs(&constraints.must_link),
            vec![("erp/00".into(), "erp/01".into(), 1)]
        );
        assert_eq!(
            pairs(&constraints.cannot_link),
            vec![
                ("erp/00".into(), "erp/02".into(), 2),
                ("erp/01".into(), "erp/02".into(), 2)
            ]
        );
        // The merge's pair with the split-off record no longer binds.
        let standing = decision_standing(&[merge.clone(), split.clone()]);
        assert_eq!(
            standing[&1],
            DecisionStanding {
                binding: 1,
                overridden: 1
            }
        );
        assert_eq!(standing[&2].overridden, 0);
        let undone = StewardDecision {
            undone_at: Some(Utc::now()),
            ..split
        };
        let constraints = Constraints::from_decisions(&[merge.clone(), undone.clone()]);
        assert_eq!(constraints.must_link.len(), 2);
        assert!(constraints.cannot_link.is_empty());
        assert_eq!(decision_standing(&[merge, undone])[&1].overridden, 0);
    }

    #[test]
    fn a_decision_every_pair_of_which_a_newer_one_contradicts_is_overridden() {
        let accept = |id: i64, a: usize, b: usize| {
            recorded(
                id,
                Decision::AcceptMatch {
                    review_id: id,
                    left: key(a),
                    right: key(b),
                },
            )
        };
        let reject = recorded(
            3,
            Decision::RejectMatch {
                review_id: 3,
                left: key(0),
                right: key(2),
            },
        );
        // 0-1 and 1-2 accepted, then 0-2 rejected: the oldest accept loses.
        let standing = decision_standing(&[accept(1, 0, 1), accept(2, 1, 2), reject]);
        assert_eq!((standing[&1].binding, standing[&1].overridden), (0, 1));
        assert_eq!((standing[&2].binding, standing[&2].overridden), (1, 0));
        assert_eq!((standing[&3].binding, standing[&3].overridden), (1, 0));
        // The same pair decided twice the same way: both bind.
        let standing = decision_standing(&[accept(1, 0, 1), accept(2, 0, 1)]);
        assert_eq!(standing[&1].overridden + standing[&2].overridden, 0);
    }

    #[test]
    fn the_latest_pin_of_a_field_wins_until_undone() {
        let pin = |id, value: &str| {
            recorded(
                id,
                Decision::SetField {
                    golden_id: "g_a".into(),
                    field: "name".into(),
                    value: json!(value),
                },
            )
        };
        let mut decisions = vec![pin(1, "张伟"), pin(2, "张伟 (VIP)")];
        assert_eq!(
            pinned_fields(&decisions)["g_a"]["name"],
            PinnedField {
                value: json!("张伟 (VIP)"),
                decision_id: 2
            }
        );
        decisions[1].undone_at = Some(Utc::now());
        assert_eq!(
            pinned_fields(&decisions)["g_a"]["name"].value,
            json!("张伟")
        );
    }

    /// A random steward decision over records 0..8.
    fn decision_strategy() -> impl Strategy<Value = (u8, Vec<usize>, usize)> {
        (
            0u8..5,
            proptest::collection::vec(0usize..8, 2..5),
            0usize..64,
        )
    }

    fn to_decision(kind: u8, records: &[usize], pick: usize, earlier: i64) -> Decision {
        let (left, right) = (key(records[0]), key(records[1]));
        match kind {
            0 => Decision::AcceptMatch {
                review_id: 1,
                left,
                right,
            },
            1 => Decision::RejectMatch {
                review_id: 1,
                left,
                right,
            },
            2 => Decision::Merge {
                golden_ids: vec![],
                records: records.iter().map(|&id| key(id)).collect(),
            },
            3 => {
                let cut = 1 + pick % (records.len() - 1);
                Decision::Split {
                    golden_id: "g".into(),
                    leaving: records[..cut].iter().map(|&id| key(id)).collect(),
                    remaining: records[cut..].iter().map(|&id| key(id)).collect(),
                }
            }
            _ => Decision::Undo {
                decision_id: 1 + (pick as i64 % earlier.max(1)),
            },
        }
    }

    proptest! {
        /// Whatever stewards decide, in any order and with undos, the
        /// clusters honour every constraint in force, and the latest
        /// decision's own pairs are all in force.
        #[test]
        fn clusters_never_violate_a_constraint(
            phones in proptest::collection::vec(0usize..4, 8),
            steps in proptest::collection::vec(decision_strategy(), 1..12),
        ) {
            let parties: Vec<Party> = phones.iter().enumerate().map(|(id, &phone)| party(id, phone)).collect();
            let mut decisions: Vec<StewardDecision> = Vec::new();
            for (kind, records, pick) in steps {
                let id = decisions.len() as i64 + 1;
                let decision = to_decision(kind, &records, pick, id - 1);
                if let Decision::Undo { decision_id } = decision {
                    let Some(target) = decisions.iter_mut().find(|d| d.id == decision_id) else { continue };
                    if matches!(target.decision, Decision::Undo { .. }) || target.undone_at.is_some() {
                        continue;
                    }
                    target.undone_at = Some(Utc::now());
                }
                decisions.push(recorded(id, decision));
            }
            let constraints = Constraints::from_decisions(&decisions);
            let clusters = cluster_with_constraints(&parties, &constraints, crate::resolve::parties::customer_config())
                .clusters;
            for pair in &constraints.must_link {
                prop_assert_eq!(cluster_of(&clusters, &pair.left), cluster_of(&clusters, &pair.right), "must-link {:?}", pair);
            }
            for pair in &constraints.cannot_link {
                prop_assert_ne!(cluster_of(&clusters, &pair.left), cluster_of(&clusters, &pair.right), "cannot-link {:?}", pair);
            }
            let latest = decisions.iter().rev().find(|d| d.undone_at.is_none() && !matches!(d.decision, Decision::Undo { .. }));
            if let Some(latest) = latest {
                for (a, b, link) in decision_pairs(&latest.decision) {
                    if a == b { continue; }
                    let same = cluster_of(&clusters, &a) == cluster_of(&clusters, &b);
                    prop_assert_eq!(same, link == Link::Must, "latest decision {:?} on {} and {}", latest.id, a, b);
                }
            }
        }
    }
}
