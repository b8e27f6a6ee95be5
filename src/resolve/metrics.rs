//! Quality of a clustering against truth labels.
//!
//! Pairwise scores count record pairs: a predicted pair (two records in one
//! predicted cluster) is right when the truth has them together too. They
//! weigh big clusters quadratically. B-cubed scores average per record the
//! overlap of its predicted and true clusters, so every record counts once.

use serde::Serialize;

/// Precision, recall and their harmonic mean.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scores {
    /// Share of predicted links that are right.
    pub precision: f64,
    /// Share of true links that were predicted.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
}

impl Scores {
    fn new(precision: f64, recall: f64) -> Scores {
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        Scores {
            precision,
            recall,
            f1,
        }
    }
}

/// Sizes of the groups of equal keys, per record position.
fn group_sizes<K: Ord + Copy>(keys: &[K]) -> Vec<u64> {
    let mut order: Vec<(K, usize)> = keys.iter().copied().zip(0..).collect();
    order.sort_unstable();
    let mut sizes = vec![0; keys.len()];
    for group in order.chunk_by(|a, b| a.0 == b.0) {
        for &(_, position) in group {
            sizes[position] = group.len() as u64;
        }
    }
    sizes
}

fn pairs_within(keys_sizes: &[u64]) -> u64 {
    // Each record of a group of n contributes (n - 1) / 2 pairs.
    keys_sizes.iter().map(|&n| n - 1).sum::<u64>() / 2
}

/// Pairwise precision, recall and F1 of `predicted` cluster labels against
/// `truth` labels (one label per record, both the same length).
pub fn pairwise(predicted: &[u32], truth: &[u32]) -> Scores {
    assert_eq!(
        predicted.len(),
        truth.len(),
        "one label per record on both sides"
    );
    let joint: Vec<(u32, u32)> = predicted
        .iter()
        .copied()
        .zip(truth.iter().copied())
        .collect();
    let predicted_pairs = pairs_within(&group_sizes(predicted));
    let true_pairs = pairs_within(&group_sizes(truth));
    let correct = pairs_within(&group_sizes(&joint));
    let ratio = |part: u64, whole: u64| {
        if whole == 0 {
            1.0
        } else {
            part as f64 / whole as f64
        }
    };
    Scores::new(ratio(correct, predicted_pairs), ratio(correct, true_pairs))
}

/// B-cubed precision, recall and F1: per record, the share of its predicted
/// cluster that truly belongs with it (precision) and the share of its true
/// cluster that was predicted with it (recall), averaged over records.
pub fn b_cubed(predicted: &[u32], truth: &[u32]) -> Scores {
    assert_eq!(
        predicted.len(),
        truth.len(),
        "one label per record on both sides"
    );
    if predicted.is_empty() {
        return Scores::new(1.0, 1.0);
    }
    let joint: Vec<(u32, u32)> = predicted
        .iter()
        .copied()
        .zip(truth.iter().copied())
        .collect();
    let predicted_sizes = group_sizes(predicted);
    let true_sizes = group_sizes(truth);
    let overlap = group_sizes(&joint);
    let count = predicted.len() as f64;
    let precision = overlap
        .iter()
        .zip(&predicted_sizes)
        .map(|(&o, &p)| o as f64 / p as f64)
        .sum::<f64>()
        / count;
    let recall = overlap
        .iter()
        .zip(&true_sizes)
        .map(|(&o, &t)| o as f64 / t as f64)
        .sum::<f64>()
        / count;
    Scores::new(precision, recall)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_counts_record_pairs() {
        // Truth: {0,1,2} {3}; predicted: {0,1} {2,3}.
        let truth = [0, 0, 0, 3];
        let predicted = [0, 0, 2, 2];
        let scores = pairwise(&predicted, &truth);
        // Predicted pairs: (0,1) right, (2,3) wrong; true pairs: 3.
        assert_eq!(scores.precision, 0.5);
        assert!((scores.recall - 1.0 / 3.0).abs() < 1e-12);
        assert!((scores.f1 - 0.4).abs() < 1e-12);
        assert_eq!(pairwise(&truth, &truth).f1, 1.0);
    }

    #[test]
    fn b_cubed_averages_per_record() {
        let truth = [0, 0, 0, 3];
        let predicted = [0, 0, 2, 2];
        let scores = b_cubed(&predicted, &truth);
        // Precision: 1, 1, 1/2, 1/2 -> 0.75. Recall: 2/3, 2/3, 1/3, 1 -> 2/3.
        assert!((scores.precision - 0.75).abs() < 1e-12);
        assert!((scores.recall - 2.0 / 3.0).abs() < 1e-12);
        let all_apart = [0, 1, 2, 3];
        assert_eq!(b_cubed(&all_apart, &all_apart).f1, 1.0);
        assert_eq!(pairwise(&all_apart, &all_apart).f1, 1.0);
    }
}
