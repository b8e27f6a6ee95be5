//! Features of a golden customer, computed from all of its activity, and
//! RFM scores by quantiles of the population.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::store::OrderFact;

/// The feature names rules may use, with what each means.
pub const FEATURES: &[(&str, &str)] = &[
    ("orders_total", "paid orders, ever"),
    ("orders_30d", "paid orders in the last 30 days"),
    ("orders_90d", "paid orders in the last 90 days"),
    ("orders_365d", "paid orders in the last 365 days"),
    ("spend_total", "paid order value, ever"),
    ("spend_30d", "paid order value in the last 30 days"),
    ("spend_90d", "paid order value in the last 90 days"),
    ("spend_365d", "paid order value in the last 365 days"),
    ("avg_order_value", "spend_total / orders_total"),
    ("refunds", "refunded orders, ever"),
    (
        "recency_days",
        "days since the last paid order (null without one)",
    ),
    (
        "tenure_days",
        "days since the first order of any status (null without one)",
    ),
    (
        "rfm.r",
        "recency score 1-5 among buyers, 5 = most recent (null without orders)",
    ),
    ("rfm.f", "frequency score 1-5 among buyers, 5 = most orders"),
    ("rfm.m", "monetary score 1-5 among buyers, 5 = most spend"),
];

/// Named feature values of one customer; a missing name reads as null.
pub type Features = BTreeMap<String, f64>;

/// The activity features of one customer as of `as_of`, without RFM.
pub fn activity_features(orders: &[&OrderFact], as_of: DateTime<Utc>) -> Features {
    let mut features = Features::new();
    let paid: Vec<&&OrderFact> = orders
        .iter()
        .filter(|order| order.status == "paid" && order.ordered_at <= as_of)
        .collect();
    let days_ago = |time: DateTime<Utc>| (as_of - time).num_seconds() as f64 / 86_400.0;
    let total: f64 = paid.iter().map(|order| order.amount).sum();
    features.insert("orders_total".into(), paid.len() as f64);
    features.insert("spend_total".into(), round_cents(total));
    for window in [30.0, 90.0, 365.0] {
        let recent: Vec<&&&OrderFact> = paid
            .iter()
            .filter(|order| days_ago(order.ordered_at) < window)
            .collect();
        features.insert(format!("orders_{window}d"), recent.len() as f64);
        features.insert(
            format!("spend_{window}d"),
            round_cents(recent.iter().map(|order| order.amount).sum()),
        );
    }
    if !paid.is_empty() {
        features.insert(
            "avg_order_value".into(),
            round_cents(total / paid.len() as f64),
        );
    }
    features.insert(
        "refunds".into(),
        orders
            .iter()
            .filter(|order| order.status == "refunded")
            .count() as f64,
    );
    if let Some(last) = paid.iter().map(|order| order.ordered_at).max() {
        features.insert("recency_days".into(), days_ago(last).floor());
    }
    if let Some(first) = orders
        .iter()
        .map(|order| order.ordered_at)
        .filter(|time| *time <= as_of)
        .min()
    {
        features.insert("tenure_days".into(), days_ago(first).floor());
    }
    features
}

fn round_cents(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Adds `rfm.r`, `rfm.f` and `rfm.m` to every customer that has a paid
/// order, scored 1-5 by quintile among those customers. Equal values always
/// get equal scores: a score is 1 + 5 × (share of buyers strictly worse).
pub fn add_rfm_scores(customers: &mut BTreeMap<String, Features>) {
    let buyers: Vec<&String> = customers
        .iter()
        .filter(|(_, features)| features.get("orders_total").copied().unwrap_or(0.0) > 0.0)
        .map(|(id, _)| id)
        .collect();
    let column = |name: &str| -> Vec<f64> {
        let mut values: Vec<f64> = buyers
            .iter()
            .map(|id| customers[*id].get(name).copied().unwrap_or(0.0))
            .collect();
        values.sort_by(f64::total_cmp);
        values
    };
    let recency = column("recency_days");
    let frequency = column("orders_total");
    let monetary = column("spend_total");
    let scores: Vec<(String, [f64; 3])> = buyers
        .iter()
        .map(|id| {
            let features = &customers[*id];
            let value = |name: &str| features.get(name).copied().unwrap_or(0.0);
            (
                (*id).clone(),
                [
                    // Fewer days since the last order is better.
                    quintile(&recency, value("recency_days"), true),
                    quintile(&frequency, value("orders_total"), false),
                    quintile(&monetary, value("spend_total"), false),
                ],
            )
        })
        .collect();
    for (id, [r, f, m]) in scores {
        if let Some(features) = customers.get_mut(&id) {
            features.insert("rfm.r".into(), r);
            features.insert("rfm.f".into(), f);
            features.insert("rfm.m".into(), m);
        }
    }
}

/// The 1-5 score of `value` within `sorted`: 1 + 5 × the share of values
/// strictly worse than it, capped at 5.
pub fn quintile(sorted: &[f64], value: f64, lower_is_better: bool) -> f64 {
    if sorted.is_empty() {
        return 1.0;
    }
    let worse = if lower_is_better {
        sorted.len() - sorted.partition_point(|other| *other <= value)
    } else {
        sorted.partition_point(|other| *other < value)
    };
    (1 + (5 * worse) / sorted.len()).min(5) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn order(amount: f64, status: &str, day: u32) -> OrderFact {
        OrderFact {
            golden_id: "g".into(),
            connector: "erp".into(),
            source_id: format!("o{day}{status}"),
            amount,
            status: status.into(),
            ordered_at: Utc.with_ymd_and_hms(2024, 6, day, 12, 0, 0).unwrap(),
        }
    }

    #[test]
    fn activity_counts_only_paid_orders_within_windows() {
        let orders = [
            order(100.0, "paid", 1),
            order(50.5, "paid", 20),
            order(70.0, "refunded", 25),
            order(9.0, "paid", 30),
        ];
        let refs: Vec<&OrderFact> = orders.iter().collect();
        let as_of = Utc.with_ymd_and_hms(2024, 6, 25, 12, 0, 0).unwrap();
        let features = activity_features(&refs, as_of);
        // The order of 30 June lies after as_of and does not count yet.
        assert_eq!(features["orders_total"], 2.0);
        assert_eq!(features["spend_total"], 150.5);
        assert_eq!(features["avg_order_value"], 75.25);
        assert_eq!(features["refunds"], 1.0);
        assert_eq!(features["recency_days"], 5.0);
        assert_eq!(features["tenure_days"], 24.0);
        assert_eq!(features["orders_30d"], 2.0);
    }

    #[test]
    fn no_orders_means_no_recency_and_no_rfm() {
        let mut customers = BTreeMap::from([("g".to_string(), activity_features(&[], Utc::now()))]);
        add_rfm_scores(&mut customers);
        assert_eq!(customers["g"]["orders_total"], 0.0);
        assert!(!customers["g"].contains_key("recency_days"));
        assert!(!customers["g"].contains_key("rfm.r"));
    }

    #[test]
    fn quintiles_spread_scores_and_keep_ties_equal() {
        let sorted: Vec<f64> = (1..=10).map(f64::from).collect();
        let scores: Vec<f64> = sorted
            .iter()
            .map(|value| quintile(&sorted, *value, false))
            .collect();
        assert_eq!(
            scores,
            vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 5.0, 5.0]
        );
        let recency: Vec<f64> = sorted
            .iter()
            .map(|value| quintile(&sorted, *value, true))
            .collect();
        assert_eq!(
            recency,
            vec![5.0, 5.0, 4.0, 4.0, 3.0, 3.0, 2.0, 2.0, 1.0, 1.0]
        );
        let ties = [3.0, 3.0, 3.0, 3.0];
        assert!(ties
            .iter()
            .all(|value| quintile(&ties, *value, false) == 1.0));
        assert_eq!(quintile(&[7.0], 7.0, false), 1.0);
    }
}
