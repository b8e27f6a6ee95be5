//! Fellegi-Sunter scoring: how much each comparison level says about a pair
//! being one customer, learned without labels.
//!
//! For a field at level `k`, `m_k` is the chance of that level among true
//! matches and `u_k` among non-matches; the level's match weight is
//! `log2(m_k / u_k)`. A pair's total weight is the prior weight
//! `log2(λ / (1 - λ))` (λ: the share of candidate pairs that match) plus the
//! weights of its fields; a missing field weighs nothing. The match
//! probability is `2^W / (1 + 2^W)`.
//!
//! Training: `u` from random record pairs (almost all non-matches), drawn
//! with a seeded generator; then `m` and λ by expectation-maximisation over
//! the candidate pairs with `u` held fixed. EM runs over distinct comparison
//! vectors with their counts, so its cost does not grow with the number of
//! pairs. Parameters given in the config are kept as they are. Steward
//! decisions refine the learned values as labelled evidence.

use std::collections::HashMap;

use serde::Serialize;

use super::blocking::Pair;
use super::compare::{compare_pairs, ComparisonVectors, MISSING_LEVEL};
use super::config::ResolveConfig;
use super::rng::SeededRng;
use super::table::RecordTable;

/// Smallest probability any m or u may take, so no level gets an infinite
/// weight from a finite sample.
const FLOOR: f64 = 1e-9;

/// m and u of one scored field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldParams {
    /// Field name.
    pub name: String,
    /// Level labels, in level order.
    pub levels: Vec<String>,
    /// P(level | match) per level.
    pub m: Vec<f64>,
    /// P(level | non-match) per level.
    pub u: Vec<f64>,
    /// m comes from the config and is not trained.
    pub m_fixed: bool,
    /// u comes from the config and is not trained.
    pub u_fixed: bool,
}

impl FieldParams {
    /// Match weight of level `level`: `log2(m / u)`.
    pub fn weight(&self, level: usize) -> f64 {
        (self.m[level] / self.u[level]).log2()
    }
}

/// A trained (or configured) Fellegi-Sunter model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Model {
    /// One entry per scored field, in comparison-vector order.
    pub fields: Vec<FieldParams>,
    /// λ: the share of candidate pairs that match.
    pub prior: f64,
}

/// What training did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrainingReport {
    /// Random pairs compared for u.
    pub u_sample_pairs: usize,
    /// EM iterations run.
    pub em_iterations: usize,
    /// Whether EM met its tolerance before the iteration cap.
    pub em_converged: bool,
    /// Distinct comparison vectors EM ran over.
    pub distinct_vectors: usize,
}

/// One field's part in a pair's weight.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldContribution {
    /// Field name.
    pub field: String,
    /// The level the pair is at, or `missing`.
    pub level: String,
    /// Its match weight (0 when missing).
    pub weight: f64,
}

/// Why a pair scored what it did: the prior and each field's contribution.
/// `prior_weight` plus the field weights is `total_weight`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// `log2(λ / (1 - λ))`.
    pub prior_weight: f64,
    /// One entry per scored field.
    pub fields: Vec<FieldContribution>,
    /// Total match weight.
    pub total_weight: f64,
    /// Match probability.
    pub probability: f64,
}

/// Converts a match weight into a probability.
pub fn probability_of(weight: f64) -> f64 {
    1.0 / (1.0 + (-weight).exp2())
}

impl Model {
    /// The model as configured: fixed m/u where given, otherwise starting
    /// guesses (m falling and u rising with the level) for training.
    pub fn from_config(config: &ResolveConfig) -> Model {
        let fields = config
            .fields
            .iter()
            .filter(|field| !field.levels.is_empty())
            .map(|field| {
                let count = field.levels.len();
                let falling: Vec<f64> = normalized(
                    (0..count)
                        .map(|k| (4.0f64).powi((count - k) as i32))
                        .collect(),
                );
                let rising: Vec<f64> =
                    normalized((0..count).map(|k| (4.0f64).powi(k as i32)).collect());
                let given =
                    |pick: fn(&super::config::LevelSpec) -> Option<f64>| -> Option<Vec<f64>> {
                        field.levels.iter().map(pick).collect()
                    };
                let m = given(|level| level.m);
                let u = given(|level| level.u);
                FieldParams {
                    name: field.name.clone(),
                    levels: field
                        .levels
                        .iter()
                        .map(|level| level.test.label())
                        .collect(),
                    m_fixed: m.is_some(),
                    u_fixed: u.is_some(),
                    m: m.unwrap_or(falling),
                    u: u.unwrap_or(rising),
                }
            })
            .collect();
        Model {
            fields,
            prior: config.training.initial_prior,
        }
    }

    /// Trains u on random pairs and m and λ by EM on `comparisons` (the
    /// candidate pairs' vectors), as the config says.
    pub fn train(
        table: &RecordTable,
        config: &ResolveConfig,
        comparisons: &ComparisonVectors,
    ) -> (Model, TrainingReport) {
        let mut model = Model::from_config(config);
        let training = &config.training;
        let mut sampled = 0;
        if model.fields.iter().any(|field| !field.u_fixed) && table.len() >= 2 {
            let pairs = random_pairs(table.len(), training.u_sample_pairs, training.seed);
            sampled = pairs.len();
            model.estimate_u(&compare_pairs(table, config, &pairs));
        }
        let (iterations, converged, distinct) = model.expectation_maximisation(
            comparisons,
            training.em_max_iterations,
            training.em_tolerance,
        );
        (
            model,
            TrainingReport {
                u_sample_pairs: sampled,
                em_iterations: iterations,
                em_converged: converged,
                distinct_vectors: distinct,
            },
        )
    }

    /// Sets the unfixed u to the level frequencies among `random` pairs
    /// (add-one smoothed, so a level never seen still has a finite weight).
    pub fn estimate_u(&mut self, random: &ComparisonVectors) {
        for (position, field) in self.fields.iter_mut().enumerate() {
            if field.u_fixed {
                continue;
            }
            let mut counts = vec![1.0; field.levels.len()];
            for pair in 0..random.len() {
                let level = random.row(pair)[position];
                if level != MISSING_LEVEL {
                    counts[level as usize] += 1.0;
                }
            }
            field.u = normalized(counts);
        }
    }

    /// Expectation-maximisation of the unfixed m and of λ over the pairs in
    /// `comparisons`, u held fixed. Returns (iterations, converged, distinct
    /// vectors).
    pub fn expectation_maximisation(
        &mut self,
        comparisons: &ComparisonVectors,
        max_iterations: usize,
        tolerance: f64,
    ) -> (usize, bool, usize) {
        let patterns = distinct_vectors(comparisons);
        if patterns.is_empty() {
            return (0, true, 0);
        }
        let total: f64 = patterns.iter().map(|(_, count)| *count as f64).sum();
        for iteration in 1..=max_iterations {
            let mut matched: Vec<Vec<f64>> = self
                .fields
                .iter()
                .map(|field| vec![0.0; field.levels.len()])
                .collect();
            let mut matched_total = 0.0;
            for (vector, count) in &patterns {
                let probability = self.probability(vector) * *count as f64;
                matched_total += probability;
                for (position, &level) in vector.iter().enumerate() {
                    if level != MISSING_LEVEL {
                        matched[position][level as usize] += probability;
                    }
                }
            }
            let mut change: f64 = 0.0;
            for (field, counts) in self.fields.iter_mut().zip(matched) {
                if field.m_fixed || counts.iter().sum::<f64>() <= 0.0 {
                    continue;
                }
                let m = normalized(counts);
                for (old, new) in field.m.iter().zip(&m) {
                    change = change.max((old - new).abs());
                }
                field.m = m;
            }
            let prior = (matched_total / total).clamp(FLOOR, 1.0 - FLOOR);
            change = change.max((prior - self.prior).abs());
            self.prior = prior;
            if change < tolerance {
                return (iteration, true, patterns.len());
            }
        }
        (max_iterations, false, patterns.len())
    }

    /// Refines the unfixed m (from matches) and u (from non-matches) with
    /// steward-labelled pairs: each current value counts as `strength` pairs
    /// of evidence, each labelled pair as one.
    pub fn refine_with_labels(
        &mut self,
        labelled: &ComparisonVectors,
        is_match: &[bool],
        strength: f64,
    ) {
        for (position, field) in self.fields.iter_mut().enumerate() {
            let mut match_counts = vec![0.0; field.levels.len()];
            let mut non_match_counts = vec![0.0; field.levels.len()];
            for (pair, &matched) in is_match.iter().enumerate().take(labelled.len()) {
                let level = labelled.row(pair)[position];
                if level == MISSING_LEVEL {
                    continue;
                }
                let counts = if matched {
                    &mut match_counts
                } else {
                    &mut non_match_counts
                };
                counts[level as usize] += 1.0;
            }
            if !field.m_fixed {
                field.m = blend(&field.m, &match_counts, strength);
            }
            if !field.u_fixed {
                field.u = blend(&field.u, &non_match_counts, strength);
            }
        }
    }

    /// Total match weight of a comparison vector.
    pub fn weight(&self, vector: &[u8]) -> f64 {
        self.prior_weight()
            + vector
                .iter()
                .zip(&self.fields)
                .filter(|(level, _)| **level != MISSING_LEVEL)
                .map(|(&level, field)| field.weight(level as usize))
                .sum::<f64>()
    }

    /// Match probability of a comparison vector.
    pub fn probability(&self, vector: &[u8]) -> f64 {
        probability_of(self.weight(vector))
    }

    /// `log2(λ / (1 - λ))`.
    pub fn prior_weight(&self) -> f64 {
        (self.prior / (1.0 - self.prior)).log2()
    }

    /// Level weights per field, for scoring many pairs quickly.
    pub fn weight_table(&self) -> Vec<Vec<f64>> {
        self.fields
            .iter()
            .map(|field| {
                (0..field.levels.len())
                    .map(|level| field.weight(level))
                    .collect()
            })
            .collect()
    }

    /// Each field's level and contribution for one comparison vector.
    pub fn explain(&self, vector: &[u8]) -> Explanation {
        let fields: Vec<FieldContribution> = vector
            .iter()
            .zip(&self.fields)
            .map(|(&level, field)| {
                if level == MISSING_LEVEL {
                    FieldContribution {
                        field: field.name.clone(),
                        level: "missing".into(),
                        weight: 0.0,
                    }
                } else {
                    FieldContribution {
                        field: field.name.clone(),
                        level: field.levels[level as usize].clone(),
                        weight: field.weight(level as usize),
                    }
                }
            })
            .collect();
        let prior_weight = self.prior_weight();
        let total_weight = prior_weight + fields.iter().map(|field| field.weight).sum::<f64>();
        Explanation {
            prior_weight,
            fields,
            total_weight,
            probability: probability_of(total_weight),
        }
    }
}

/// Scales to sum 1 with every entry at least [`FLOOR`].
fn normalized(values: Vec<f64>) -> Vec<f64> {
    let floored: Vec<f64> = values.into_iter().map(|value| value.max(0.0)).collect();
    let sum: f64 = floored.iter().sum();
    let shares: Vec<f64> = floored
        .iter()
        .map(|value| {
            if sum > 0.0 {
                (value / sum).max(FLOOR)
            } else {
                1.0 / floored.len() as f64
            }
        })
        .collect();
    let sum: f64 = shares.iter().sum();
    shares.into_iter().map(|value| value / sum).collect()
}

/// `current` weighted as `strength` observations, plus `counts`.
fn blend(current: &[f64], counts: &[f64], strength: f64) -> Vec<f64> {
    normalized(
        current
            .iter()
            .zip(counts)
            .map(|(probability, count)| probability * strength + count)
            .collect(),
    )
}

/// Distinct comparison vectors with how often each occurs, in vector order
/// (so sums over them run in the same order on every run).
fn distinct_vectors(comparisons: &ComparisonVectors) -> Vec<(Vec<u8>, u64)> {
    let mut counts: HashMap<&[u8], u64> = HashMap::new();
    for pair in 0..comparisons.len() {
        *counts.entry(comparisons.row(pair)).or_default() += 1;
    }
    let mut patterns: Vec<(Vec<u8>, u64)> = counts
        .into_iter()
        .map(|(vector, count)| (vector.to_vec(), count))
        .collect();
    patterns.sort_unstable();
    patterns
}

/// `count` random pairs of distinct records out of `records`, fixed by `seed`.
pub fn random_pairs(records: usize, count: usize, seed: u64) -> Vec<Pair> {
    let mut rng = SeededRng::new(seed);
    let records = records as u64;
    (0..count)
        .map(|_| {
            let a = rng.below(records);
            // Draw b from the other records: shift past a.
            let mut b = rng.below(records - 1);
            if b >= a {
                b += 1;
            }
            (a.min(b) as u32, a.max(b) as u32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model with two fields of three levels each.
    fn model(m: [[f64; 3]; 2], u: [[f64; 3]; 2], prior: f64) -> Model {
        Model {
            fields: (0..2)
                .map(|field| FieldParams {
                    name: format!("f{field}"),
                    levels: vec!["exact".into(), "close".into(), "else".into()],
                    m: m[field].to_vec(),
                    u: u[field].to_vec(),
                    m_fixed: false,
                    u_fixed: false,
                })
                .collect(),
            prior,
        }
    }

    fn draw(rng: &mut SeededRng, probabilities: &[f64]) -> u8 {
        let mut roll = rng.unit();
        for (level, probability) in probabilities.iter().enumerate() {
            if roll < *probability {
                return level as u8;
            }
            roll -= probability;
        }
        (probabilities.len() - 1) as u8
    }

    /// Comparison vectors drawn from known parameters; fields are
    /// conditionally independent given the match status, as the model assumes.
    fn synthetic(
        truth: &Model,
        pairs: usize,
        seed: u64,
    ) -> (ComparisonVectors, Vec<bool>, Vec<ComparisonVectors>) {
        let mut rng = SeededRng::new(seed);
        let mut levels = Vec::new();
        let mut non_match_levels = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..pairs {
            let is_match = rng.unit() < truth.prior;
            labels.push(is_match);
            for field in &truth.fields {
                levels.push(draw(&mut rng, if is_match { &field.m } else { &field.u }));
            }
            for field in &truth.fields {
                non_match_levels.push(draw(&mut rng, &field.u));
            }
        }
        let vectors = |levels| ComparisonVectors {
            fields: vec![0, 1],
            levels,
        };
        (vectors(levels), labels, vec![vectors(non_match_levels)])
    }

    #[test]
    fn em_recovers_known_m_and_prior_from_unlabelled_pairs() {
        let truth = model(
            [[0.85, 0.1, 0.05], [0.7, 0.2, 0.1]],
            [[0.01, 0.04, 0.95], [0.05, 0.15, 0.8]],
            0.3,
        );
        let (candidates, _, random) = synthetic(&truth, 200_000, 11);
        let mut learned = model([[0.4, 0.3, 0.3]; 2], [[0.3, 0.3, 0.4]; 2], 0.5);
        learned.estimate_u(&random[0]);
        let (_, converged, distinct) = learned.expectation_maximisation(&candidates, 500, 1e-9);
        assert!(converged);
        assert_eq!(distinct, 9);
        assert!(
            (learned.prior - 0.3).abs() < 0.01,
            "prior {}",
            learned.prior
        );
        for (learned, truth) in learned.fields.iter().zip(&truth.fields) {
            for (got, want) in learned.m.iter().zip(&truth.m) {
                assert!((got - want).abs() < 0.02, "m {got} vs {want}");
            }
            for (got, want) in learned.u.iter().zip(&truth.u) {
                assert!((got - want).abs() < 0.01, "u {got} vs {want}");
            }
        }
    }

    #[test]
    fn labels_pull_m_and_u_toward_what_stewards_decided() {
        let truth = model(
            [[0.9, 0.05, 0.05], [0.6, 0.3, 0.1]],
            [[0.02, 0.08, 0.9], [0.1, 0.1, 0.8]],
            0.5,
        );
        let (labelled, is_match, _) = synthetic(&truth, 50_000, 5);
        let mut refined = model([[1.0 / 3.0; 3]; 2], [[1.0 / 3.0; 3]; 2], 0.5);
        refined.fields[1].u_fixed = true;
        refined.refine_with_labels(&labelled, &is_match, 10.0);
        for (got, want) in refined.fields[0].m.iter().zip(&truth.fields[0].m) {
            assert!((got - want).abs() < 0.02, "m {got} vs {want}");
        }
        for (got, want) in refined.fields[0].u.iter().zip(&truth.fields[0].u) {
            assert!((got - want).abs() < 0.02, "u {got} vs {want}");
        }
        // Fixed parameters stay as configured.
        assert_eq!(refined.fields[1].u, vec![1.0 / 3.0; 3]);
    }

    #[test]
    fn explanations_sum_to_the_total_weight_and_missing_weighs_nothing() {
        let model = model(
            [[0.8, 0.15, 0.05], [0.7, 0.2, 0.1]],
            [[0.01, 0.09, 0.9], [0.05, 0.15, 0.8]],
            0.01,
        );
        for vector in [
            [0, 2],
            [1, MISSING_LEVEL],
            [MISSING_LEVEL, MISSING_LEVEL],
            [2, 0],
        ] {
            let explanation = model.explain(&vector);
            let sum =
                explanation.prior_weight + explanation.fields.iter().map(|f| f.weight).sum::<f64>();
            assert!((sum - explanation.total_weight).abs() < 1e-12);
            assert!((explanation.total_weight - model.weight(&vector)).abs() < 1e-12);
            assert!((explanation.probability - model.probability(&vector)).abs() < 1e-12);
        }
        let explanation = model.explain(&[0, MISSING_LEVEL]);
        assert_eq!(explanation.fields[1].level, "missing");
        assert_eq!(explanation.fields[1].weight, 0.0);
        assert!((explanation.fields[0].weight - (0.8f64 / 0.01).log2()).abs() < 1e-12);
        assert!((explanation.prior_weight - (0.01f64 / 0.99).log2()).abs() < 1e-12);
    }

    #[test]
    fn random_pairs_are_distinct_records_and_repeatable() {
        let pairs = random_pairs(5, 1000, 3);
        assert!(pairs.iter().all(|&(a, b)| a < b && b < 5));
        assert_eq!(pairs, random_pairs(5, 1000, 3));
        assert_ne!(pairs, random_pairs(5, 1000, 4));
        assert_eq!(probability_of(0.0), 0.5);
    }
}
