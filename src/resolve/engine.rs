//! The resolution pipeline over a record table: blocking, comparison,
//! training, deterministic rules and scoring, decisions, the review queue and
//! clustering. Pure: records and constraints in, decisions out.

use std::collections::HashSet;

use serde::Serialize;

use super::blocking::{candidate_pairs, BlockingReport, Pair};
use super::cluster::{cluster, Clustering, Constraints, Link};
use super::compare::{compare_pairs, ComparisonVectors};
use super::config::{ResolveConfig, StrongEffect};
use super::fellegi_sunter::{probability_of, Explanation, Model, TrainingReport};
use super::table::RecordTable;

/// What happens to a candidate pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Same customer: linked automatically.
    Link,
    /// Uncertain: a steward decides.
    Review,
    /// Different customers.
    Apart,
}

/// A scored candidate pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScoredPair {
    /// One record.
    pub a: u32,
    /// The other record (`a < b`).
    pub b: u32,
    /// Index of the pair's comparison vector.
    pub row: usize,
    /// Total match weight.
    pub weight: f64,
    /// Match probability.
    pub probability: f64,
    /// The decision.
    pub decision: Decision,
    /// The strong rule (index into the config's `strong`) that decided the
    /// pair, if one did.
    pub strong_rule: Option<usize>,
}

/// A pair waiting for a steward, with how much deciding it matters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ReviewItem {
    /// The pair.
    pub pair: ScoredPair,
    /// `uncertainty × value`: uncertainty is 1 at probability 0.5 and 0 at
    /// 0 or 1; value is the two records' value summed.
    pub priority: f64,
}

/// Pairs sorted into decisions.
#[derive(Debug, Clone, Default)]
pub struct Decisions {
    /// Auto-links.
    pub links: Vec<ScoredPair>,
    /// Pairs for review.
    pub reviews: Vec<ScoredPair>,
    /// Pairs a strong rule keeps apart for good (cannot-link constraints).
    pub never_link: Vec<Pair>,
    /// Pairs decided apart (only counted, to keep memory flat).
    pub apart: u64,
}

/// The outcome of the strong rules for a pair: the deciding rule and effect.
fn strong_effect(table: &RecordTable, config: &ResolveConfig, a: u32, b: u32) -> Option<(usize, StrongEffect)> {
    config.strong.iter().enumerate().find_map(|(index, rule)| {
        let field = config.field_index(&rule.field)?;
        let (left, right) = (table.ids(field, a), table.ids(field, b));
        if left.is_empty() || right.is_empty() {
            return None;
        }
        let shares = left.iter().any(|id| right.contains(id));
        let effect = if shares { rule.when_equal } else { rule.when_different };
        (effect != StrongEffect::Score).then_some((index, effect))
    })
}

/// Applies strong rules, then the model and thresholds, to every candidate
/// pair (`comparisons` row `p` belongs to `pairs[p]`).
pub fn decide(
    table: &RecordTable,
    config: &ResolveConfig,
    model: &Model,
    pairs: &[Pair],
    comparisons: &ComparisonVectors,
) -> Decisions {
    let weights = model.weight_table();
    let prior_weight = model.prior_weight();
    let thresholds = config.thresholds;
    let mut decisions = Decisions::default();
    for (row, &(a, b)) in pairs.iter().enumerate() {
        let weight = prior_weight
            + comparisons
                .row(row)
                .iter()
                .zip(&weights)
                .filter(|(level, _)| **level != super::compare::MISSING_LEVEL)
                .map(|(&level, levels)| levels[level as usize])
                .sum::<f64>();
        let probability = probability_of(weight);
        let by_score = if probability >= thresholds.link {
            Decision::Link
        } else if probability >= thresholds.review {
            Decision::Review
        } else {
            Decision::Apart
        };
        let strong = strong_effect(table, config, a, b);
        let decision = match strong.map(|(_, effect)| effect) {
            Some(StrongEffect::Link) => Decision::Link,
            Some(StrongEffect::NeverLink) => {
                decisions.never_link.push((a, b));
                Decision::Apart
            }
            Some(StrongEffect::Review) if by_score == Decision::Link => Decision::Review,
            _ => by_score,
        };
        let scored = ScoredPair {
            a,
            b,
            row,
            weight,
            probability,
            decision,
            strong_rule: strong.map(|(index, _)| index),
        };
        match decision {
            Decision::Link => decisions.links.push(scored),
            Decision::Review => decisions.reviews.push(scored),
            Decision::Apart => decisions.apart += 1,
        }
    }
    decisions
}

/// Orders review pairs by priority (`uncertainty × value`, highest first;
/// ties by record ids). `record_values` holds a value per record, such as
/// the customer's spend; pairs a steward already decided are left out.
pub fn review_queue(reviews: &[ScoredPair], record_values: &[f64], constraints: &Constraints) -> Vec<ReviewItem> {
    let decided: HashSet<(u32, u32)> = constraints
        .must_link
        .iter()
        .chain(&constraints.cannot_link)
        .map(|&(a, b)| (a.min(b), a.max(b)))
        .collect();
    let mut queue: Vec<ReviewItem> = reviews
        .iter()
        .filter(|pair| !decided.contains(&(pair.a, pair.b)))
        .map(|pair| {
            let uncertainty = 1.0 - 2.0 * (pair.probability - 0.5).abs();
            let value = record_values[pair.a as usize] + record_values[pair.b as usize];
            ReviewItem {
                pair: *pair,
                priority: uncertainty * value,
            }
        })
        .collect();
    queue.sort_by(|x, y| {
        y.priority
            .total_cmp(&x.priority)
            .then((x.pair.a, x.pair.b).cmp(&(y.pair.a, y.pair.b)))
    });
    queue
}

/// Everything one resolution pass found.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// Candidate counts, skipped blocks, recall.
    pub blocking: BlockingReport,
    /// The model used.
    pub model: Model,
    /// What training did.
    pub training: TrainingReport,
    /// Comparison vectors of the candidate pairs (see [`ScoredPair::row`]).
    pub comparisons: ComparisonVectors,
    /// Pair decisions.
    pub decisions: Decisions,
    /// The clusters.
    pub clustering: Clustering,
}

impl Resolution {
    /// Each field's level and contribution for a scored pair.
    pub fn explain(&self, pair: &ScoredPair) -> Explanation {
        self.model.explain(self.comparisons.row(pair.row))
    }
}

/// Runs the whole pipeline: blocking, comparison, training (unless every
/// m and u is configured, in which case only λ is fitted), decisions and
/// clustering. `truth`, when given, adds blocking recall to the report.
pub fn resolve(
    table: &RecordTable,
    config: &ResolveConfig,
    constraints: &Constraints,
    truth: Option<&[u32]>,
) -> Resolution {
    let candidates = candidate_pairs(table, config, truth);
    let comparisons = compare_pairs(table, config, &candidates.pairs);
    let (model, training) = Model::train(table, config, &comparisons);
    let decisions = decide(table, config, &model, &candidates.pairs, &comparisons);
    let links: Vec<Link> = decisions
        .links
        .iter()
        .map(|pair| Link {
            a: pair.a,
            b: pair.b,
            weight: if pair.strong_rule.is_some() {
                f64::INFINITY
            } else {
                pair.weight
            },
        })
        .collect();
    let mut all_constraints = constraints.clone();
    all_constraints.cannot_link.extend_from_slice(&decisions.never_link);
    let clustering = cluster(table.len(), &links, &all_constraints, config.clustering.max_cluster_size);
    Resolution {
        blocking: candidates.report,
        model,
        training,
        comparisons,
        decisions,
        clustering,
    }
}
