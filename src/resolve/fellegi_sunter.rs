//! Fellegi-Sunter scoring: how much each comparison level says about a pair
//! being one customer, learned without labels.
//!
//! For a field at level `k`, `m_k` is the chance of that level among true
//! matches and `u_k` among non-matches; the level's match weight is
//! `log2(m_k / u_k)`. A pair's total weight is the prior weight
//! `log2(λ / (1 - λ))` (λ: the prior of a match, see training) plus the
//! weights of its fields; a missing field weighs nothing. The match
//! probability is `2^W / (1 + 2^W)`.
//!
//! Training (m per blocking rule, as Splink trains it):
//!
//! - `u` from random record pairs (almost all non-matches), drawn with a
//!   seeded generator;
//! - `m` by expectation-maximisation with `u` held fixed, once per blocking
//!   rule, over the candidate pairs that rule produced. The fields the rule's
//!   keys use are held out of that session: its non-matching pairs agree on
//!   them by construction, and EM would read that agreement as a match
//!   signal (over all candidates at once it drives λ to 1). Each field's `m`
//!   is the average over the sessions where it was free;
//! - λ, the probability that two records drawn at random match, with `m` and
//!   `u` fixed: the expected number of matches among the candidate pairs
//!   (the pairs blocking left out are taken as non-matches) over the number
//!   of all record pairs. Because `u` describes random pairs, λ is the prior
//!   of a random pair too, and a candidate's agreement on its blocking
//!   fields counts as evidence in its weight.
//!
//! EM runs over distinct comparison vectors with their counts, so its cost
//! does not grow with the number of pairs. Parameters given in the config
//! are kept as they are; with `em_max_iterations = 0` nothing but u is
//! trained and λ is `initial_prior`. Steward decisions refine the learned
//! values as labelled evidence.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use super::blocking::{Pair, RuleMask};
use super::compare::{compare_pairs, ComparisonVectors, MISSING_LEVEL};
use super::config::ResolveConfig;
use super::frequency::{adjustment_bits, frequency_levels, TermFrequencies, NO_ADJUSTMENT};
use super::rng::SeededRng;
use super::table::RecordTable;

/// Smallest probability any m or u may take, so no level gets an infinite
/// weight from a finite sample.
const FLOOR: f64 = 1e-9;

/// m and u of one scored field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldParams {
    /// Field name.
    pub name: Arc<str>,
    /// Level labels, in level order.
    pub levels: Vec<Arc<str>>,
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
    /// λ, the prior of a match: trained, the share of all record pairs that
    /// match; with training off, `initial_prior` as configured.
    pub prior: f64,
    /// Per term-frequency slot of a comparison vector (after the levels),
    /// the position of its field in `fields`.
    pub frequency_positions: Vec<usize>,
    /// Per slot, the level's label with each adjustment, by adjustment
    /// byte (made once, so explanations share them).
    #[serde(skip)]
    frequency_labels: Vec<Vec<Arc<str>>>,
}

/// What training did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainingReport {
    /// Random pairs compared for u.
    pub u_sample_pairs: usize,
    /// One EM session per blocking rule that produced pairs (none when m is
    /// fixed or EM is off).
    pub sessions: Vec<EmSession>,
    /// Scored fields with unfixed m that no session could train (held out
    /// by every rule, or missing in every pair): they keep their starting m.
    pub untrained_fields: Vec<String>,
    /// Iterations of the λ estimate (0 when EM is off).
    pub prior_iterations: usize,
    /// Whether the λ estimate met its tolerance before the iteration cap.
    pub prior_converged: bool,
    /// Distinct comparison vectors among all candidate pairs.
    pub distinct_vectors: usize,
}

/// One EM session: m estimated on the pairs of one blocking rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmSession {
    /// The blocking rule.
    pub rule: String,
    /// Candidate pairs the rule produced.
    pub pairs: u64,
    /// Scored fields held out because the rule's keys use them.
    pub held_out: Vec<String>,
    /// Iterations run.
    pub iterations: usize,
    /// Whether EM met its tolerance before the iteration cap.
    pub converged: bool,
    /// The share of the rule's pairs that match, as the session found it.
    pub match_share: f64,
}

/// Distinct comparison vectors with how often each occurs.
pub type Patterns = Vec<(Vec<u8>, u64)>;

/// One field's part in a pair's weight: the comparison level reached and
/// the weight (log-likelihood ratio) it added. Names and labels are shared
/// with the model, so explaining a million links copies no text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldContribution {
    /// Field name.
    pub field: Arc<str>,
    /// The level the pair is at, or `missing`.
    pub level: Arc<str>,
    /// Its match weight (0 when missing); at a term-frequency level, with
    /// the adjustment the label names (`shares>=1, common (-2)`).
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
        let fields: Vec<FieldParams> = config
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
                    name: field.name.as_str().into(),
                    levels: field
                        .levels
                        .iter()
                        .map(|level| level.test.label().into())
                        .collect(),
                    m_fixed: m.is_some(),
                    u_fixed: u.is_some(),
                    m: m.unwrap_or(falling),
                    u: u.unwrap_or(rising),
                }
            })
            .collect();
        let levels = frequency_levels(config);
        let frequency_labels = levels
            .iter()
            .map(|level| {
                let base = &fields[level.position].levels[level.level as usize];
                (0..=u8::MAX)
                    .map(|byte| adjusted_label(base, adjustment_bits(byte)))
                    .collect()
            })
            .collect();
        Model {
            fields,
            prior: config.training.initial_prior,
            frequency_positions: levels.iter().map(|level| level.position).collect(),
            frequency_labels,
        }
    }

    /// Trains u on random pairs, m by EM per blocking rule and λ over all
    /// record pairs, as the config says (see the module docs).
    /// `comparisons` holds the candidate pairs' vectors and `rules` the
    /// blocking rules that produced each of them.
    pub fn train(
        table: &RecordTable,
        config: &ResolveConfig,
        comparisons: &ComparisonVectors,
        rules: &[RuleMask],
    ) -> (Model, TrainingReport) {
        let mut model = Model::from_config(config);
        let training = &config.training;
        let mut report = TrainingReport {
            u_sample_pairs: 0,
            sessions: Vec::new(),
            untrained_fields: Vec::new(),
            prior_iterations: 0,
            prior_converged: true,
            distinct_vectors: 0,
        };
        if model.fields.iter().any(|field| !field.u_fixed) && table.len() >= 2 {
            let pairs = random_pairs(table.len(), training.u_sample_pairs, training.seed);
            report.u_sample_pairs = pairs.len();
            // u is the level's average over all values: no adjustments.
            let unweighted = TermFrequencies::new(config);
            model.estimate_u(&compare_pairs(table, config, &unweighted, &pairs));
        }
        if training.em_max_iterations == 0 {
            return (model, report);
        }
        let by_rule = distinct_by_rule(comparisons, rules);
        if model.fields.iter().any(|field| !field.m_fixed) {
            report.sessions =
                model.train_m_per_rule(config, &by_rule, &mut report.untrained_fields);
        }
        let all = merge_rules(&by_rule);
        report.distinct_vectors = all.len();
        let record_pairs = table.len() as f64 * (table.len() as f64 - 1.0) / 2.0;
        (report.prior_iterations, report.prior_converged) = model.estimate_prior(
            &all,
            record_pairs,
            training.em_max_iterations,
            training.em_tolerance,
        );
        (model, report)
    }

    /// One EM session per blocking rule with pairs, each starting from this
    /// model's m and `initial_prior` and holding out the rule's key fields;
    /// then each unfixed m becomes the average of the sessions that trained
    /// it. Fields no session trained are added to `untrained`.
    fn train_m_per_rule(
        &mut self,
        config: &ResolveConfig,
        by_rule: &[(RuleMask, Patterns)],
        untrained: &mut Vec<String>,
    ) -> Vec<EmSession> {
        let training = &config.training;
        let scored: Vec<usize> = config
            .fields
            .iter()
            .enumerate()
            .filter(|(_, field)| !field.levels.is_empty())
            .map(|(index, _)| index)
            .collect();
        let mut sums: Vec<Vec<f64>> = self
            .fields
            .iter()
            .map(|field| vec![0.0; field.levels.len()])
            .collect();
        let mut trained = vec![0usize; self.fields.len()];
        let mut sessions = Vec::new();
        for (index, rule) in config.blocking.rules.iter().enumerate() {
            let held: Vec<bool> = scored
                .iter()
                .map(|&field| {
                    rule.keys
                        .iter()
                        .any(|key| config.field_index(&key.field) == Some(field))
                })
                .collect();
            let patterns = rule_patterns(by_rule, 1 << index, &held);
            let pairs: u64 = patterns.iter().map(|(_, count)| count).sum();
            if pairs == 0 {
                continue;
            }
            let mut session = self.clone();
            session.prior = training.initial_prior;
            let (iterations, converged) = session.expectation_maximisation(
                &patterns,
                training.em_max_iterations,
                training.em_tolerance,
            );
            for (position, field) in session.fields.iter().enumerate() {
                let observed = patterns
                    .iter()
                    .any(|(vector, _)| vector[position] != MISSING_LEVEL);
                if field.m_fixed || !observed {
                    continue;
                }
                trained[position] += 1;
                for (sum, m) in sums[position].iter_mut().zip(&field.m) {
                    *sum += m;
                }
            }
            sessions.push(EmSession {
                rule: rule.name.clone(),
                pairs,
                held_out: self
                    .fields
                    .iter()
                    .zip(&held)
                    .filter(|(_, &held)| held)
                    .map(|(field, _)| field.name.to_string())
                    .collect(),
                iterations,
                converged,
                match_share: session.prior,
            });
        }
        for ((field, sum), count) in self.fields.iter_mut().zip(sums).zip(trained) {
            if field.m_fixed {
                continue;
            }
            if count == 0 {
                untrained.push(field.name.to_string());
            } else {
                field.m = normalized(sum);
            }
        }
        sessions
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

    /// Expectation-maximisation of the unfixed m and of λ (here: the share
    /// of `patterns` that match) with u held fixed. A field missing from
    /// every pattern keeps its m. Returns (iterations, converged).
    pub fn expectation_maximisation(
        &mut self,
        patterns: &[(Vec<u8>, u64)],
        max_iterations: usize,
        tolerance: f64,
    ) -> (usize, bool) {
        if patterns.is_empty() {
            return (0, true);
        }
        let total: f64 = patterns.iter().map(|(_, count)| *count as f64).sum();
        for iteration in 1..=max_iterations {
            let mut matched: Vec<Vec<f64>> = self
                .fields
                .iter()
                .map(|field| vec![0.0; field.levels.len()])
                .collect();
            let mut matched_total = 0.0;
            for (vector, count) in patterns {
                let probability = self.probability(vector) * *count as f64;
                matched_total += probability;
                for (counts, &level) in matched.iter_mut().zip(vector) {
                    if level != MISSING_LEVEL {
                        counts[level as usize] += probability;
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
                return (iteration, true);
            }
        }
        (max_iterations, false)
    }

    /// λ as the share of all `record_pairs` that match, m and u fixed: the
    /// fixed point of `λ = Σ P(match | vector; λ) / record_pairs` over the
    /// candidate `patterns` (pairs blocking left out count as non-matches).
    /// Stops when λ moves by less than `tolerance` relative to itself.
    /// Returns (iterations, converged).
    pub fn estimate_prior(
        &mut self,
        patterns: &[(Vec<u8>, u64)],
        record_pairs: f64,
        max_iterations: usize,
        tolerance: f64,
    ) -> (usize, bool) {
        if patterns.is_empty() || record_pairs <= 0.0 {
            return (0, true);
        }
        // The fields' part of each weight does not change between iterations.
        let field_weights: Vec<(f64, f64)> = patterns
            .iter()
            .map(|(vector, count)| (self.fields_weight(vector), *count as f64))
            .collect();
        for iteration in 1..=max_iterations {
            let prior_weight = self.prior_weight();
            let expected: f64 = field_weights
                .iter()
                .map(|&(weight, count)| probability_of(prior_weight + weight) * count)
                .sum();
            let prior = (expected / record_pairs).clamp(FLOOR * FLOOR, 1.0 - FLOOR);
            let change = (prior - self.prior).abs() / self.prior;
            self.prior = prior;
            if change < tolerance {
                return (iteration, true);
            }
        }
        (max_iterations, false)
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
        self.prior_weight() + self.fields_weight(vector)
    }

    /// The fields' part of a comparison vector's weight (the prior left out).
    fn fields_weight(&self, vector: &[u8]) -> f64 {
        vector
            .iter()
            .zip(&self.fields)
            .filter(|(level, _)| **level != MISSING_LEVEL)
            .map(|(&level, field)| field.weight(level as usize))
            .sum::<f64>()
            + self.frequency_weight(vector)
    }

    /// The term-frequency adjustments of a comparison vector, in bits.
    pub fn frequency_weight(&self, vector: &[u8]) -> f64 {
        vector
            .get(self.fields.len()..)
            .unwrap_or_default()
            .iter()
            .map(|&byte| adjustment_bits(byte))
            .sum()
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
        static MISSING: OnceLock<Arc<str>> = OnceLock::new();
        let missing = MISSING.get_or_init(|| "missing".into());
        let mut fields: Vec<FieldContribution> = vector
            .iter()
            .zip(&self.fields)
            .map(|(&level, field)| {
                if level == MISSING_LEVEL {
                    FieldContribution {
                        field: field.name.clone(),
                        level: missing.clone(),
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
        let adjustments = vector.get(self.fields.len()..).unwrap_or_default();
        for (slot, (&position, &byte)) in
            self.frequency_positions.iter().zip(adjustments).enumerate()
        {
            if byte != NO_ADJUSTMENT {
                fields[position].weight += adjustment_bits(byte);
                fields[position].level = self.frequency_labels[slot][byte as usize].clone();
            }
        }
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

/// A term-frequency level's label with its adjustment: `shares>=1, rare
/// (+2)`, `exact, common (-1)`, or the level's own label at 0.
fn adjusted_label(base: &Arc<str>, bits: f64) -> Arc<str> {
    if bits > 0.0 {
        format!("{base}, rare ({bits:+})").into()
    } else if bits < 0.0 {
        format!("{base}, common ({bits:+})").into()
    } else {
        base.clone()
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

/// Distinct comparison vectors with their counts, per set of blocking
/// rules that produced the pairs, in (rules, vector) order (so sums over
/// them run in the same order on every run).
fn distinct_by_rule(
    comparisons: &ComparisonVectors,
    rules: &[RuleMask],
) -> Vec<(RuleMask, Patterns)> {
    let mut counts: HashMap<(RuleMask, &[u8]), u64> = HashMap::new();
    for (pair, &mask) in rules.iter().enumerate().take(comparisons.len()) {
        *counts.entry((mask, comparisons.row(pair))).or_default() += 1;
    }
    let mut flat: Vec<(RuleMask, &[u8], u64)> = counts
        .into_iter()
        .map(|((mask, vector), count)| (mask, vector, count))
        .collect();
    flat.sort_unstable();
    flat.chunk_by(|x, y| x.0 == y.0)
        .map(|group| {
            (
                group[0].0,
                group
                    .iter()
                    .map(|&(_, vector, count)| (vector.to_vec(), count))
                    .collect(),
            )
        })
        .collect()
}

/// The patterns of the pairs rule `bit` produced, with the `held` positions
/// set to missing (so they neither weigh in nor get counted), merged.
fn rule_patterns(by_rule: &[(RuleMask, Patterns)], bit: RuleMask, held: &[bool]) -> Patterns {
    let mut counts: HashMap<Vec<u8>, u64> = HashMap::new();
    for (_, patterns) in by_rule.iter().filter(|(mask, _)| mask & bit != 0) {
        for (vector, count) in patterns {
            let masked: Vec<u8> = vector
                .iter()
                .zip(held)
                .map(|(&level, &held)| if held { MISSING_LEVEL } else { level })
                .collect();
            *counts.entry(masked).or_default() += count;
        }
    }
    sorted(counts)
}

/// The patterns of all candidate pairs, whatever rules produced them.
fn merge_rules(by_rule: &[(RuleMask, Patterns)]) -> Patterns {
    let mut counts: HashMap<&[u8], u64> = HashMap::new();
    for (vector, count) in by_rule.iter().flat_map(|(_, patterns)| patterns) {
        *counts.entry(vector.as_slice()).or_default() += count;
    }
    sorted(
        counts
            .into_iter()
            .map(|(vector, count)| (vector.to_vec(), count)),
    )
}

/// Patterns in vector order.
fn sorted(counts: impl IntoIterator<Item = (Vec<u8>, u64)>) -> Patterns {
    let mut patterns: Patterns = counts.into_iter().collect();
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
    use crate::resolve::blocking::{candidate_pairs, Candidates};
    use crate::resolve::table::{FieldValue, TableBuilder};

    /// A model with two fields of three levels each.
    fn model(m: [[f64; 3]; 2], u: [[f64; 3]; 2], prior: f64) -> Model {
        Model {
            fields: (0..2)
                .map(|field| FieldParams {
                    name: format!("f{field}").into(),
                    levels: vec!["exact".into(), "close".into(), "else".into()],
                    m: m[field].to_vec(),
                    u: u[field].to_vec(),
                    m_fixed: false,
                    u_fixed: false,
                })
                .collect(),
            prior,
            frequency_positions: Vec::new(),
            frequency_labels: Vec::new(),
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
            frequency_slots: 0,
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
        let patterns = merge_rules(&distinct_by_rule(&candidates, &vec![1; candidates.len()]));
        assert_eq!(patterns.len(), 9);
        let (_, converged) = learned.expectation_maximisation(&patterns, 500, 1e-9);
        assert!(converged);
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

    const BLOCKED: &str = r#"
        [[fields]]
        name = "given"
        levels = [{ test = "exact" }, { test = "jaro_winkler", min = 0.9 }, { test = "else" }]
        [[fields]]
        name = "surname"
        levels = [{ test = "exact" }, { test = "jaro_winkler", min = 0.9 }, { test = "else" }]
        [[fields]]
        name = "city"
        levels = [{ test = "exact" }, { test = "else" }]
        [[fields]]
        name = "born"
        levels = [{ test = "exact" }, { test = "damerau_levenshtein", max = 1 }, { test = "else" }]
        [blocking]
        rules = [
            { name = "city + surname", keys = [{ field = "city" }, { field = "surname" }] },
            { name = "born", keys = [{ field = "born" }] },
        ]
        [training]
        u_sample_pairs = 50000
        seed = 3
        [thresholds]
        link = 0.9
        review = 0.5
    "#;

    /// People spread over few cities and surnames, a third of them twice
    /// with one typo: most pairs the city-and-surname rule blocks are
    /// different people who agree on both fields. Returns the table and
    /// each record's person.
    fn blocked_people(config: &ResolveConfig) -> (RecordTable, Vec<u32>) {
        fn word(rng: &mut SeededRng, letters: usize) -> String {
            (0..letters)
                .map(|_| char::from(b'a' + rng.below(26) as u8))
                .collect()
        }
        let mut rng = SeededRng::new(8);
        let given: Vec<String> = (0..400).map(|_| word(&mut rng, 7)).collect();
        let surnames: Vec<String> = (0..40).map(|_| word(&mut rng, 7)).collect();
        let cities: Vec<String> = (0..25).map(|_| word(&mut rng, 8)).collect();
        let mut builder = TableBuilder::new(&config.fields);
        let mut truth = Vec::new();
        let mut push = |person: &[String], builder: &mut TableBuilder, entity: u32| {
            let values: Vec<FieldValue> =
                person.iter().map(|value| FieldValue::Text(value)).collect();
            builder.push(&values).unwrap();
            truth.push(entity);
        };
        for entity in 0..4500u32 {
            let mut pick =
                |values: &[String]| values[rng.below(values.len() as u64) as usize].clone();
            let person = [
                pick(&given),
                pick(&surnames),
                pick(&cities),
                format!(
                    "19{:02}{:02}{:02}",
                    20 + rng.below(70),
                    1 + rng.below(12),
                    1 + rng.below(28)
                ),
            ];
            push(&person, &mut builder, entity);
            if rng.below(3) == 0 {
                let mut copy = person.clone();
                let field = rng.below(4) as usize;
                let mut chars: Vec<char> = copy[field].chars().collect();
                let at = rng.below(chars.len() as u64) as usize;
                chars[at] = if field == 3 {
                    char::from(b'0' + ((chars[at] as u8 - b'0' + 1) % 10))
                } else {
                    char::from(b'a' + ((chars[at] as u8 - b'a' + 1) % 26))
                };
                copy[field] = chars.into_iter().collect();
                push(&copy, &mut builder, entity);
            }
        }
        (builder.finish(), truth)
    }

    /// Pairwise precision and recall, over the candidates, of calling a
    /// pair a match at probability 0.5 or more.
    fn classify(
        model: &Model,
        candidates: &Candidates,
        vectors: &ComparisonVectors,
        truth: &[u32],
    ) -> (f64, f64) {
        let (mut found, mut right, mut true_pairs) = (0.0, 0.0, 0.0);
        for (row, &(a, b)) in candidates.pairs.iter().enumerate() {
            let same = truth[a as usize] == truth[b as usize];
            let called = model.probability(vectors.row(row)) >= 0.5;
            true_pairs += f64::from(u8::from(same));
            found += f64::from(u8::from(called));
            right += f64::from(u8::from(called && same));
        }
        (right / found, right / true_pairs)
    }

    #[test]
    fn training_per_blocking_rule_survives_where_em_over_all_candidates_collapses() {
        let config = ResolveConfig::from_toml(BLOCKED).unwrap();
        let (table, truth) = blocked_people(&config);
        let candidates = candidate_pairs(&table, &config, Some(&truth));
        assert_eq!(candidates.report.recall.unwrap().recall, 1.0);
        let frequencies = TermFrequencies::of_table(&table, &config);
        let vectors = compare_pairs(&table, &config, &frequencies, &candidates.pairs);
        let true_pairs = candidates.report.recall.unwrap().true_pairs as f64;
        assert!(true_pairs / (candidates.pairs.len() as f64) < 0.2);

        let (model, report) = Model::train(&table, &config, &vectors, &candidates.rules);
        let held: Vec<(&str, Vec<String>)> = report
            .sessions
            .iter()
            .map(|session| (session.rule.as_str(), session.held_out.clone()))
            .collect();
        assert_eq!(
            held,
            vec![
                (
                    "city + surname",
                    vec!["surname".to_string(), "city".to_string()]
                ),
                ("born", vec!["born".to_string()]),
            ]
        );
        assert!(report.untrained_fields.is_empty());
        // Only the birth-date rule trains the city; its matching pairs have
        // their one typo in one of the other three fields, so 2/3 of them
        // agree on the city (a wrong guess or no training is far off).
        let city_exact = model.fields[2].m[0];
        assert!((city_exact - 2.0 / 3.0).abs() < 0.05, "m {city_exact}");
        // λ is the share of all record pairs that match.
        let record_pairs = (table.len() * (table.len() - 1) / 2) as f64;
        let share = model.prior * record_pairs / true_pairs;
        assert!(
            (0.9..1.1).contains(&share),
            "λ {} vs truth {}",
            model.prior,
            true_pairs / record_pairs
        );
        let (precision, recall) = classify(&model, &candidates, &vectors, &truth);
        assert!(
            precision > 0.98 && recall > 0.98,
            "P {precision} R {recall}"
        );

        // The same EM over every candidate at once, nothing held out: the
        // pairs agreeing on city and surname pass for matches.
        let mut naive = Model::from_config(&config);
        naive
            .fields
            .iter_mut()
            .zip(&model.fields)
            .for_each(|(naive, trained)| naive.u = trained.u.clone());
        let all = merge_rules(&distinct_by_rule(&vectors, &candidates.rules));
        naive.expectation_maximisation(&all, 100, 1e-6);
        let (naive_precision, _) = classify(&naive, &candidates, &vectors, &truth);
        assert!(naive.prior > 0.9, "λ {}", naive.prior);
        assert!(naive_precision < 0.5, "P {naive_precision}");
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
        assert_eq!(&*explanation.fields[1].level, "missing");
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
