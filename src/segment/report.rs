//! Tier reports: the distribution, the migration between tiers over a
//! period, and per-tier activity, RFM and outcome summaries. Pure functions
//! over stored assignments, history and computed features.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::features::{distinct_orders, Activity, CustomerFeatures, Lifecycle};
use super::plan::NO_TIER;
use crate::store::{TierAssignment, TierChange};

/// Customers per tier.
pub fn distribution(assignments: &[TierAssignment]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for assignment in assignments {
        *counts.entry(assignment.tier.clone()).or_default() += 1;
    }
    counts
}

/// Moves between tiers recorded at or after `since`, counted by (from, to);
/// first assignments count from [`NO_TIER`]; a new rules version that kept
/// the tier is not a move.
pub fn migration(
    history: &[TierChange],
    since: DateTime<Utc>,
) -> BTreeMap<String, BTreeMap<String, usize>> {
    let mut matrix: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for change in history
        .iter()
        .filter(|change| change.assignment.assigned_at >= since)
    {
        let from = change
            .from_tier
            .clone()
            .unwrap_or_else(|| NO_TIER.to_string());
        if from == change.assignment.tier {
            continue;
        }
        *matrix
            .entry(from)
            .or_default()
            .entry(change.assignment.tier.clone())
            .or_default() += 1;
    }
    matrix
}

/// Averages and outcomes of the customers of one tier.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TierSummary {
    pub customers: usize,
    /// Mean RFM scores among the tier's buyers (null without buyers).
    pub avg_rfm_r: Option<f64>,
    pub avg_rfm_f: Option<f64>,
    pub avg_rfm_m: Option<f64>,
    pub avg_orders: f64,
    pub avg_tickets: f64,
    pub avg_calls: f64,
    pub avg_messages: f64,
    /// Share of the tier's customers with a paid order at or after `since`.
    pub repeat_purchase_rate: f64,
    /// Share of the tier's customers whose lifecycle stage is churned.
    pub churn_rate: f64,
    /// Mean lifetime spend of the tier's customers.
    pub avg_customer_value: f64,
    /// Mean spend at or after `since`.
    pub avg_spend_since: f64,
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, count) = values.fold((0.0, 0usize), |(sum, count), value| {
        (sum + value, count + 1)
    });
    (count > 0).then(|| (sum / count as f64 * 100.0).round() / 100.0)
}

/// One summary per tier of the current assignments. `golden_ids`,
/// `features` and `activities` are parallel; customers without an
/// assignment are left out.
pub fn tier_summaries(
    assignments: &[TierAssignment],
    golden_ids: &[String],
    features: &[CustomerFeatures],
    activities: &[Activity<'_>],
    since: DateTime<Utc>,
) -> BTreeMap<String, TierSummary> {
    let tier_of: BTreeMap<&str, &str> = assignments
        .iter()
        .map(|assignment| (assignment.golden_id.as_str(), assignment.tier.as_str()))
        .collect();
    // Per member: its features, paid orders since `since`, and their value.
    let mut members: BTreeMap<&str, Vec<(&CustomerFeatures, usize, f64)>> = BTreeMap::new();
    for ((golden_id, customer), activity) in golden_ids.iter().zip(features).zip(activities) {
        let Some(tier) = tier_of.get(golden_id.as_str()) else {
            continue;
        };
        let bought: Vec<f64> = distinct_orders(&activity.orders)
            .iter()
            .filter(|order| order.status == "paid" && order.ordered_at >= since)
            .map(|order| order.amount)
            .collect();
        members
            .entry(tier)
            .or_default()
            .push((customer, bought.len(), bought.iter().sum()));
    }
    members
        .into_iter()
        .map(|(tier, customers)| {
            let count = customers.len();
            let share = |test: &dyn Fn(&(&CustomerFeatures, usize, f64)) -> bool| {
                (customers.iter().filter(|customer| test(customer)).count() as f64 / count as f64
                    * 1000.0)
                    .round()
                    / 1000.0
            };
            let rfm = |pick: fn(&super::features::Rfm) -> u8| {
                mean(customers.iter().filter_map(|(customer, _, _)| {
                    customer.rfm.as_ref().map(|rfm| f64::from(pick(rfm)))
                }))
            };
            let average = |pick: fn(&CustomerFeatures) -> f64| {
                mean(customers.iter().map(|(customer, _, _)| pick(customer))).unwrap_or(0.0)
            };
            let summary = TierSummary {
                customers: count,
                avg_rfm_r: rfm(|rfm| rfm.r),
                avg_rfm_f: rfm(|rfm| rfm.f),
                avg_rfm_m: rfm(|rfm| rfm.m),
                avg_orders: average(|customer| customer.orders_total.into()),
                avg_tickets: average(|customer| customer.tickets_total.into()),
                avg_calls: average(|customer| customer.calls_total.into()),
                avg_messages: average(|customer| customer.messages_total.into()),
                repeat_purchase_rate: share(&|(_, orders, _)| *orders > 0),
                churn_rate: share(&|(customer, _, _)| {
                    customer.lifecycle == Some(Lifecycle::Churned)
                }),
                avg_customer_value: average(|customer| customer.spend_total),
                avg_spend_since: mean(customers.iter().map(|(_, _, spend)| *spend)).unwrap_or(0.0),
            };
            (tier.to_string(), summary)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::features::{Rfm, WindowTotals};
    use crate::store::OrderFact;
    use chrono::TimeZone;
    use serde_json::json;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 6, day, 12, 0, 0).unwrap()
    }

    fn change(golden_id: &str, from: Option<&str>, to: &str, day: u32) -> TierChange {
        TierChange {
            from_tier: from.map(str::to_string),
            assignment: TierAssignment {
                golden_id: golden_id.into(),
                tier: to.into(),
                rule: "r".into(),
                reason: json!({}),
                rules_version: "v".into(),
                assigned_at: at(day),
            },
        }
    }

    #[test]
    fn migration_counts_moves_in_the_period_and_skips_version_refreshes() {
        let history = [
            change("a", None, "low", 1),
            change("a", Some("low"), "high", 10),
            change("b", None, "low", 11),
            change("b", Some("low"), "low", 12),
            change("c", Some("high"), "low", 15),
        ];
        let matrix = migration(&history, at(10));
        assert_eq!(matrix["low"], BTreeMap::from([("high".to_string(), 1)]));
        assert_eq!(matrix[NO_TIER], BTreeMap::from([("low".to_string(), 1)]));
        assert_eq!(matrix["high"], BTreeMap::from([("low".to_string(), 1)]));
        let assignments: Vec<TierAssignment> = history
            .iter()
            .map(|change| change.assignment.clone())
            .collect();
        assert_eq!(
            distribution(&assignments[..2]),
            BTreeMap::from([("high".to_string(), 1), ("low".to_string(), 1)])
        );
    }

    #[test]
    fn summaries_give_averages_and_outcomes_per_tier() {
        let ids = ["a".to_string(), "b".to_string(), "c".to_string()];
        let order = |id: &str, golden: &str, day: u32| OrderFact {
            golden_id: golden.into(),
            connector: "shop".into(),
            source_id: id.into(),
            amount: 100.0,
            status: "paid".into(),
            ordered_at: at(day),
            copy: false,
        };
        let orders = [order("1", "a", 2), order("2", "a", 20), order("3", "b", 3)];
        let activities = [
            Activity {
                orders: vec![&orders[0], &orders[1]],
                ..Activity::default()
            },
            Activity {
                orders: vec![&orders[2]],
                ..Activity::default()
            },
            Activity::default(),
        ];
        let features = [
            CustomerFeatures {
                orders_total: 2,
                spend_total: 200.0,
                tickets_total: 1,
                rfm: Some(Rfm {
                    r: 5,
                    f: 4,
                    m: 4,
                    segment: "Champions",
                }),
                windows: vec![WindowTotals {
                    days: 30,
                    orders: 2,
                    spend: 200.0,
                }],
                ..CustomerFeatures::default()
            },
            CustomerFeatures {
                orders_total: 1,
                spend_total: 100.0,
                lifecycle: Some(Lifecycle::Churned),
                rfm: Some(Rfm {
                    r: 1,
                    f: 2,
                    m: 2,
                    segment: "Hibernating",
                }),
                ..CustomerFeatures::default()
            },
            CustomerFeatures::default(),
        ];
        let assignments: Vec<TierAssignment> = [("a", "high"), ("b", "high"), ("c", "low")]
            .iter()
            .map(|(id, tier)| change(id, None, tier, 1).assignment)
            .collect();
        let summaries = tier_summaries(&assignments, &ids, &features, &activities, at(10));
        let high = &summaries["high"];
        assert_eq!(high.customers, 2);
        assert_eq!((high.avg_rfm_r, high.avg_rfm_f), (Some(3.0), Some(3.0)));
        assert_eq!((high.avg_orders, high.avg_tickets), (1.5, 0.5));
        assert_eq!(
            high.repeat_purchase_rate, 0.5,
            "only a bought again after the 10th"
        );
        assert_eq!(high.churn_rate, 0.5);
        assert_eq!(
            (high.avg_customer_value, high.avg_spend_since),
            (150.0, 50.0)
        );
        let low = &summaries["low"];
        assert_eq!(
            (low.customers, low.avg_rfm_m, low.repeat_purchase_rate),
            (1, None, 0.0)
        );
    }
}
