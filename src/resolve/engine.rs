//! The resolution pipeline over a record table: blocking, comparison,
//! training, deterministic rules and scoring, decisions, the review queue and
//! clustering. Pure: records and constraints in, decisions out.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::blocking::{candidate_pairs, BlockingReport, Pair};
use super::cluster::{cluster, Clustering, Constraints, Link};
use super::compare::{compare_pairs, ComparisonVectors};
use super::config::{ResolveConfig, StrongEffect};
use super::fellegi_sunter::{probability_of, Explanation, Model, TrainingReport};
use super::frequency::TermFrequencies;
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

/// The strong rules with their fields looked up once.
struct StrongRules(Vec<(usize, StrongEffect, StrongEffect)>);

impl StrongRules {
    fn new(config: &ResolveConfig) -> StrongRules {
        StrongRules(
            config
                .strong
                .iter()
                .filter_map(|rule| {
                    let field = config.field_index(&rule.field)?;
                    Some((field, rule.when_equal, rule.when_different))
                })
                .collect(),
        )
    }

    /// The first rule that decides the pair, with its effect. A rule whose
    /// field is empty on either side, or whose effect is `score`, does not.
    fn effect(&self, table: &RecordTable, a: u32, b: u32) -> Option<(usize, StrongEffect)> {
        self.0
            .iter()
            .enumerate()
            .find_map(|(index, &(field, when_equal, when_different))| {
                let (left, right) = (table.ids(field, a), table.ids(field, b));
                if left.is_empty() || right.is_empty() {
                    return None;
                }
                let shares = left.iter().any(|id| right.contains(id));
                let effect = if shares { when_equal } else { when_different };
                (effect != StrongEffect::Score).then_some((index, effect))
            })
    }
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
    let strong_rules = StrongRules::new(config);
    let mut decisions = Decisions::default();
    for (row, &(a, b)) in pairs.iter().enumerate() {
        let weight = prior_weight
            + comparisons
                .row(row)
                .iter()
                .zip(&weights)
                .filter(|(level, _)| **level != super::compare::MISSING_LEVEL)
                .map(|(&level, levels)| levels[level as usize])
                .sum::<f64>()
            + model.frequency_weight(comparisons.row(row));
        let probability = probability_of(weight);
        let by_score = if probability >= thresholds.link {
            Decision::Link
        } else if probability >= thresholds.review {
            Decision::Review
        } else {
            Decision::Apart
        };
        let strong = strong_rules.effect(table, a, b);
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
pub fn review_queue(
    reviews: &[ScoredPair],
    record_values: &[f64],
    constraints: &Constraints,
) -> Vec<ReviewItem> {
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
    /// Time spent per phase.
    pub timings: PhaseTimings,
}

/// Wall-clock time of each phase of [`resolve`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PhaseTimings {
    /// Finding candidate pairs.
    pub blocking: Duration,
    /// Comparing candidate pairs.
    pub compare: Duration,
    /// Estimating u, m and the prior.
    pub training: Duration,
    /// Strong rules, scores and thresholds.
    pub decide: Duration,
    /// Forming clusters.
    pub cluster: Duration,
}

impl PhaseTimings {
    /// All phases together.
    pub fn total(&self) -> Duration {
        self.blocking + self.compare + self.training + self.decide + self.cluster
    }
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
    let mut timings = PhaseTimings::default();
    let mut clock = Instant::now();
    let mut lap = |slot: &mut Duration| {
        *slot = clock.elapsed();
        clock = Instant::now();
    };
    let candidates = candidate_pairs(table, config, truth);
    lap(&mut timings.blocking);
    let frequencies = TermFrequencies::of_table(table, config);
    let comparisons = compare_pairs(table, config, &frequencies, &candidates.pairs);
    lap(&mut timings.compare);
    let (model, training) = Model::train(table, config, &comparisons, &candidates.rules);
    lap(&mut timings.training);
    let decisions = decide(table, config, &model, &candidates.pairs, &comparisons);
    lap(&mut timings.decide);
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
    all_constraints
        .cannot_link
        .extend_from_slice(&decisions.never_link);
    let clustering = cluster(
        table.len(),
        &links,
        &all_constraints,
        config.clustering.max_cluster_size,
    );
    lap(&mut timings.cluster);
    Resolution {
        blocking: candidates.report,
        model,
        training,
        comparisons,
        decisions,
        clustering,
        timings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::table::{FieldValue, TableBuilder};

    const CONFIG: &str = r#"
        [[fields]]
        name = "name"
        levels = [
            { test = "exact", m = 0.9, u = 0.01 },
            { test = "jaro_winkler", min = 0.9, m = 0.08, u = 0.04 },
            { test = "else", m = 0.02, u = 0.95 },
        ]
        [[fields]]
        name = "phones"
        kind = "set"
        levels = [
            { test = "set_overlap", m = 0.9, u = 0.001 },
            { test = "else", m = 0.1, u = 0.999 },
        ]
        [[fields]]
        name = "tax_id"
        [[strong]]
        field = "tax_id"
        when_equal = "link"
        when_different = "never_link"
        [blocking]
        rules = [
            { name = "name", keys = [{ field = "name", transform = { kind = "soundex" } }] },
            { name = "phone", keys = [{ field = "phones" }] },
            { name = "tax", keys = [{ field = "tax_id" }] },
        ]
        [training]
        em_max_iterations = 0
        initial_prior = 0.1
        [thresholds]
        link = 0.9
        review = 0.3
    "#;

    fn table(config: &ResolveConfig) -> RecordTable {
        let rows: [(&str, &[&str], &str); 7] = [
            ("zhang wei", &["138"], "T1"),
            ("zhang wei", &["138"], ""),
            ("zhang wei", &["139"], "T2"),
            ("li na", &["200"], "T1"),
            ("li na", &["201"], ""),
            ("wang fang", &["300"], "T3"),
            ("wang fang", &["300"], "T4"),
        ];
        let mut builder = TableBuilder::new(&config.fields);
        for (name, phones, tax) in rows {
            builder
                .push(&[
                    FieldValue::Text(name),
                    FieldValue::Many(phones),
                    FieldValue::Text(tax),
                ])
                .unwrap();
        }
        builder.finish()
    }

    fn pairs_of(scored: &[ScoredPair]) -> Vec<(u32, u32)> {
        scored.iter().map(|pair| (pair.a, pair.b)).collect()
    }

    #[test]
    fn strong_ids_decide_first_then_scores_and_thresholds() {
        let config = ResolveConfig::from_toml(CONFIG).unwrap();
        let table = table(&config);
        let resolution = resolve(&table, &config, &Constraints::default(), None);
        let decisions = &resolution.decisions;
        // (0,1) by score; (0,3) by the shared tax id although nothing else agrees.
        assert_eq!(pairs_of(&decisions.links), vec![(0, 1), (0, 3)]);
        assert_eq!(decisions.links[1].strong_rule, Some(0));
        assert!(decisions.links[1].probability < 0.01);
        // Name agrees, phones do not: a coin toss for a steward.
        assert_eq!(pairs_of(&decisions.reviews), vec![(1, 2), (3, 4)]);
        // Different tax ids keep pairs apart for good, even a perfect score.
        assert_eq!(decisions.never_link, vec![(0, 2), (5, 6)]);
        assert!(resolution
            .comparisons
            .row(0)
            .iter()
            .all(|&level| level == 0));
        assert_eq!(resolution.clustering.labels, vec![0, 0, 2, 0, 4, 5, 6]);
    }

    #[test]
    fn a_strong_review_rule_caps_a_link_at_review() {
        let config = ResolveConfig::from_toml(&CONFIG.replace(
            "when_different = \"never_link\"",
            "when_different = \"review\"",
        ))
        .unwrap();
        let resolution = resolve(&table(&config), &config, &Constraints::default(), None);
        assert!(pairs_of(&resolution.decisions.reviews).contains(&(5, 6)));
        assert!(resolution.decisions.never_link.is_empty());
        assert_ne!(
            resolution.clustering.labels[5],
            resolution.clustering.labels[6]
        );
    }

    #[test]
    fn every_link_and_review_is_explained_field_by_field() {
        let config = ResolveConfig::from_toml(CONFIG).unwrap();
        let resolution = resolve(&table(&config), &config, &Constraints::default(), None);
        for pair in resolution
            .decisions
            .links
            .iter()
            .chain(&resolution.decisions.reviews)
        {
            let explanation = resolution.explain(pair);
            let sum: f64 = explanation.prior_weight
                + explanation
                    .fields
                    .iter()
                    .map(|field| field.weight)
                    .sum::<f64>();
            assert!((sum - pair.weight).abs() < 1e-9);
            assert!((explanation.probability - pair.probability).abs() < 1e-12);
            assert_eq!(explanation.fields.len(), 2);
        }
        let first = resolution.explain(&resolution.decisions.links[0]);
        assert_eq!(&*first.fields[0].level, "exact");
        assert!((first.fields[0].weight - 90f64.log2()).abs() < 1e-9);
        assert_eq!(&*first.fields[1].level, "shares>=1");
    }

    #[test]
    fn the_review_queue_puts_uncertain_valuable_pairs_first() {
        let config = ResolveConfig::from_toml(CONFIG).unwrap();
        let resolution = resolve(&table(&config), &config, &Constraints::default(), None);
        let values = [0.0, 0.0, 100.0, 0.0, 10.0, 0.0, 0.0];
        let queue = review_queue(
            &resolution.decisions.reviews,
            &values,
            &Constraints::default(),
        );
        let order: Vec<(u32, u32)> = queue
            .iter()
            .map(|item| (item.pair.a, item.pair.b))
            .collect();
        assert_eq!(order, vec![(1, 2), (3, 4)]);
        let item = &queue[0];
        let uncertainty = 1.0 - 2.0 * (item.pair.probability - 0.5).abs();
        assert!((item.priority - uncertainty * 100.0).abs() < 1e-9);
        // More value at stake on the other pair turns the order around.
        let values = [0.0, 0.0, 1.0, 0.0, 1000.0, 0.0, 0.0];
        let queue = review_queue(
            &resolution.decisions.reviews,
            &values,
            &Constraints::default(),
        );
        assert_eq!((queue[0].pair.a, queue[0].pair.b), (3, 4));
        // Pairs a steward already decided leave the queue.
        let decided = Constraints {
            must_link: vec![(4, 3)],
            cannot_link: vec![],
        };
        let queue = review_queue(&resolution.decisions.reviews, &values, &decided);
        assert_eq!(queue.len(), 1);
        assert_eq!((queue[0].pair.a, queue[0].pair.b), (1, 2));
    }

    #[test]
    fn steward_constraints_override_scores() {
        let config = ResolveConfig::from_toml(CONFIG).unwrap();
        let constraints = Constraints {
            must_link: vec![(3, 4)],
            cannot_link: vec![(0, 1)],
        };
        let resolution = resolve(&table(&config), &config, &constraints, None);
        // 0-1 kept apart; 0-3 still linked by tax id; 3-4 joined by the steward.
        assert_eq!(resolution.clustering.labels, vec![0, 1, 2, 0, 0, 5, 6]);
        assert_eq!(resolution.clustering.refused.len(), 1);
    }

    #[test]
    fn the_same_input_gives_the_same_result() {
        let mut config = ResolveConfig::from_toml(CONFIG).unwrap();
        config.training.em_max_iterations = 50;
        let table = table(&config);
        let first = resolve(&table, &config, &Constraints::default(), None);
        let second = resolve(&table, &config, &Constraints::default(), None);
        assert_eq!(first.clustering, second.clustering);
        assert_eq!(first.decisions.links, second.decisions.links);
        assert_eq!(first.model, second.model);
        assert_eq!(first.comparisons, second.comparisons);
    }
}
