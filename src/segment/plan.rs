//! Planning a tiering run: features for every golden customer, the tier the
//! rules give, and what changes once dwell times and triggers are applied.
//!
//! Upgrades (to a tier higher in the file's list) take effect at once; a
//! downgrade waits until the customer has been `min_dwell_days` in the
//! current tier, unless a trigger fired for the customer since its last
//! assignment. The plan is pure: the caller decides whether to apply it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;

use super::features::{add_rfm_scores, customer_features, Activity, CustomerFeatures};
use super::{TierRules, Triggers};
use crate::store::{TierAssignment, TierChange};

/// The label for "no tier yet" in transition matrices.
pub const NO_TIER: &str = "(none)";

/// What the plan says for one customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub golden_id: String,
    /// The tier now, if any.
    pub current: Option<String>,
    /// The tier after this run: the rules' tier, or the current one while a
    /// downgrade waits out the dwell time.
    pub tier: String,
    /// The tier the rules give, before dwell.
    pub ruled: String,
    pub rule: String,
    /// The condition, the feature values it read, and any trigger or hold.
    pub reason: serde_json::Value,
    /// The trigger that fired since the last assignment, if any.
    pub trigger: Option<String>,
    /// Whether a downgrade is held back by the dwell time.
    pub held: bool,
    /// Whether the assignment must be written (new tier, first tier, or a
    /// new rules version for the same tier).
    pub write: bool,
}

impl Decision {
    /// Whether the customer moves from one tier to another (a first
    /// assignment is not a move).
    pub fn moves(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|current| *current != self.tier)
    }
}

/// The outcome of planning a run over the whole population.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierPlan {
    pub rules_version: String,
    pub decisions: Vec<Decision>,
    /// The features of each customer, in the order of `decisions`.
    #[serde(skip)]
    pub features: Vec<CustomerFeatures>,
}

impl TierPlan {
    /// The assignments to write, with where each came from.
    pub fn changes(&self, assigned_at: DateTime<Utc>) -> Vec<TierChange> {
        self.decisions
            .iter()
            .filter(|decision| decision.write)
            .map(|decision| TierChange {
                from_tier: decision.current.clone(),
                assignment: TierAssignment {
                    golden_id: decision.golden_id.clone(),
                    tier: decision.tier.clone(),
                    rule: decision.rule.clone(),
                    reason: decision.reason.clone(),
                    rules_version: self.rules_version.clone(),
                    assigned_at,
                },
            })
            .collect()
    }

    /// Counts of customers by current tier (or [`NO_TIER`]) and tier after
    /// the run.
    pub fn transition_matrix(&self) -> BTreeMap<String, BTreeMap<String, usize>> {
        let mut matrix: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for decision in &self.decisions {
            let from = decision
                .current
                .clone()
                .unwrap_or_else(|| NO_TIER.to_string());
            *matrix
                .entry(from)
                .or_default()
                .entry(decision.tier.clone())
                .or_default() += 1;
        }
        matrix
    }

    /// How many tiered customers would move to another tier, and the share
    /// of the tiered customers that is (0 when nobody has a tier yet, so a
    /// first run never counts as a change).
    pub fn change_share(&self) -> (usize, f64) {
        let tiered = self
            .decisions
            .iter()
            .filter(|decision| decision.current.is_some())
            .count();
        let moving = self
            .decisions
            .iter()
            .filter(|decision| decision.moves())
            .count();
        let share = if tiered == 0 {
            0.0
        } else {
            moving as f64 / tiered as f64
        };
        (moving, share)
    }

    /// Whether the plan changes more tiers than the rules allow without
    /// `--force`.
    pub fn exceeds_change_limit(&self, max_share: f64) -> bool {
        self.change_share().1 > max_share
    }
}

/// Which trigger fired for a customer since `since` (its last assignment),
/// if any: a large paid order, a bad rating, or the silence threshold
/// crossed.
pub fn fired_trigger(
    triggers: &Triggers,
    activity: &Activity<'_>,
    features: &CustomerFeatures,
    since: DateTime<Utc>,
    as_of: DateTime<Utc>,
) -> Option<String> {
    let recent = |time: DateTime<Utc>| time > since && time <= as_of;
    if let Some(amount) = triggers.order_above {
        let big = activity.orders.iter().find(|order| {
            order.status == "paid" && order.amount >= amount && recent(order.ordered_at)
        });
        if let Some(order) = big {
            return Some(format!(
                "order {}/{} of {} (at least {amount})",
                order.connector, order.source_id, order.amount
            ));
        }
    }
    if triggers.bad_rating {
        let bad = activity.tickets.iter().find(|ticket| {
            recent(ticket.created_at)
                && ticket
                    .satisfaction
                    .as_deref()
                    .is_some_and(|rating| rating.trim().eq_ignore_ascii_case("bad"))
        });
        if let Some(ticket) = bad {
            return Some(format!(
                "bad rating on ticket {}/{}",
                ticket.connector, ticket.source_id
            ));
        }
    }
    if let (Some(days), Some(silent)) = (triggers.silent_days, features.last_interaction_days) {
        let over = silent - f64::from(days);
        if over >= 0.0 && recent(as_of - Duration::seconds((over * 86_400.0) as i64)) {
            return Some(format!("{silent} days without interaction (limit {days})"));
        }
    }
    None
}

/// Plans the tiers of every golden customer as of `as_of`. `activities` is
/// parallel to `golden_ids`; `entered` says since when each customer is in
/// its current tier (the time of its assignment when missing). Errors name
/// the rule that failed to evaluate.
pub fn plan_tiers(
    rules: &TierRules,
    golden_ids: &[String],
    activities: &[Activity<'_>],
    current: &[TierAssignment],
    entered: &HashMap<String, DateTime<Utc>>,
    as_of: DateTime<Utc>,
) -> Result<TierPlan, String> {
    let mut features: Vec<CustomerFeatures> = on_every_core(activities, |activity| {
        customer_features(activity, &rules.features, &rules.custom_features, as_of)
    });
    add_rfm_scores(&mut features);
    let outcomes = on_every_core(&features, |customer| rules.decide(customer));
    let current: HashMap<&str, &TierAssignment> = current
        .iter()
        .map(|assignment| (assignment.golden_id.as_str(), assignment))
        .collect();
    let dwell = Duration::days(i64::from(rules.dynamics.min_dwell_days));
    let mut decisions = Vec::with_capacity(golden_ids.len());
    for (((golden_id, activity), customer), outcome) in golden_ids
        .iter()
        .zip(activities)
        .zip(&features)
        .zip(outcomes)
    {
        let outcome = outcome?;
        let previous = current.get(golden_id.as_str()).copied();
        let mut reason = outcome.reason;
        let mut trigger = None;
        let mut held = false;
        let mut tier = outcome.tier.clone();
        if let Some(previous) = previous {
            trigger = fired_trigger(
                &rules.triggers,
                activity,
                customer,
                previous.assigned_at,
                as_of,
            );
            let downgrade = match (rules.rank(&previous.tier), rules.rank(&outcome.tier)) {
                (Some(from), Some(to)) => to > from,
                _ => false,
            };
            let since = entered
                .get(golden_id)
                .copied()
                .unwrap_or(previous.assigned_at);
            if downgrade && trigger.is_none() && as_of - since < dwell {
                held = true;
                tier = previous.tier.clone();
            }
        }
        if let Some(fired) = &trigger {
            reason["trigger"] = json!(fired);
        }
        if held {
            reason["held"] = json!(format!(
                "downgrade to {} waits until {} days in {}",
                outcome.tier, rules.dynamics.min_dwell_days, tier
            ));
        }
        let write = match previous {
            None => true,
            Some(_) if held => false,
            Some(previous) => previous.tier != tier || previous.rules_version != rules.version,
        };
        decisions.push(Decision {
            golden_id: golden_id.clone(),
            current: previous.map(|assignment| assignment.tier.clone()),
            tier,
            ruled: outcome.tier,
            rule: outcome.rule,
            reason,
            trigger,
            held,
            write,
        });
    }
    Ok(TierPlan {
        rules_version: rules.version.clone(),
        decisions,
        features,
    })
}

/// `work` applied to every item, the items split over the machine's cores;
/// the results in the items' order. Pure per item, so the split never
/// changes a result.
fn on_every_core<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    if cores < 2 || items.len() < 1_000 {
        return items.iter().map(&work).collect();
    }
    let chunk = items.len().div_ceil(cores);
    std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(work).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::activity::TicketFact;
    use crate::store::OrderFact;
    use chrono::TimeZone;

    #[test]
    fn work_split_over_cores_keeps_the_order() {
        let items: Vec<u64> = (0..10_001).collect();
        let doubled: Vec<u64> = items.iter().map(|n| n * 2).collect();
        assert_eq!(on_every_core(&items, |n| n * 2), doubled);
        assert_eq!(on_every_core(&items[..3], |n| n * 2), doubled[..3]);
    }

    const RULES: &str = r#"
default = "low"

[segment]
min_dwell_days = 30
max_change_share = 0.5

[triggers]
order_above = 1000
silent_days = 60
bad_rating = true

[[tier]]
key = "high"
name_en = "High"
name_zh = "高"
label = "tier:high"

[[tier]]
key = "mid"
name_en = "Mid"
name_zh = "中"
label = "tier:mid"

[[tier]]
key = "low"
name_en = "Low"
name_zh = "低"
label = "tier:low"

[[rule]]
name = "big"
tier = "high"
when = "spend_total >= 1000"

[[rule]]
name = "buyer"
tier = "mid"
when = "orders_total >= 1 and recency_days < 100"
"#;

    fn rules(text: &str) -> TierRules {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tiers.toml");
        std::fs::write(&file, text).unwrap();
        TierRules::load(&file, &[]).unwrap_or_else(|problems| panic!("{problems:?}"))
    }

    fn as_of() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 6, 30, 12, 0, 0).unwrap()
    }

    fn order(id: &str, amount: f64, days_ago: i64) -> OrderFact {
        OrderFact {
            golden_id: "g".into(),
            connector: "shop".into(),
            source_id: id.into(),
            amount,
            status: "paid".into(),
            ordered_at: as_of() - Duration::days(days_ago),
            copy: false,
        }
    }

    fn assignment(tier: &str, version: &str, days_ago: i64) -> TierAssignment {
        TierAssignment {
            golden_id: "g".into(),
            tier: tier.into(),
            rule: "earlier".into(),
            reason: json!({}),
            rules_version: version.into(),
            assigned_at: as_of() - Duration::days(days_ago),
        }
    }

    fn plan_one(rules: &TierRules, activity: Activity<'_>, current: &[TierAssignment]) -> Decision {
        let plan = plan_tiers(
            rules,
            &["g".to_string()],
            &[activity],
            current,
            &HashMap::new(),
            as_of(),
        )
        .unwrap();
        plan.decisions.into_iter().next().unwrap()
    }

    #[test]
    fn a_first_assignment_stores_the_rule_and_the_feature_values_it_read() {
        let rules = rules(RULES);
        let orders = [order("1", 400.0, 10), order("2", 700.0, 40)];
        let decision = plan_one(
            &rules,
            Activity {
                orders: orders.iter().collect(),
                ..Activity::default()
            },
            &[],
        );
        assert_eq!(
            (decision.tier.as_str(), decision.rule.as_str()),
            ("high", "big")
        );
        assert!(decision.write && !decision.moves());
        assert_eq!(
            decision.reason,
            json!({ "when": "spend_total >= 1000", "features": { "spend_total": 1100.0 } })
        );
        let changes = TierPlan {
            rules_version: rules.version.clone(),
            decisions: vec![decision],
            features: Vec::new(),
        }
        .changes(as_of());
        assert_eq!(changes[0].from_tier, None);
        assert_eq!(changes[0].assignment.rules_version, rules.version);
    }

    #[test]
    fn upgrades_apply_at_once_and_downgrades_wait_for_the_dwell_time() {
        let rules = rules(RULES);
        let small = [order("1", 50.0, 10)];
        // low → mid is an upgrade: at once, even a day after the last change.
        let up = plan_one(
            &rules,
            Activity {
                orders: small.iter().collect(),
                ..Activity::default()
            },
            &[assignment("low", &rules.version, 1)],
        );
        assert_eq!(
            (up.tier.as_str(), up.held, up.moves()),
            ("mid", false, true)
        );
        // high → mid after 10 days in high: held, nothing written.
        let held = plan_one(
            &rules,
            Activity {
                orders: small.iter().collect(),
                ..Activity::default()
            },
            &[assignment("high", &rules.version, 10)],
        );
        assert_eq!(
            (
                held.tier.as_str(),
                held.ruled.as_str(),
                held.held,
                held.write
            ),
            ("high", "mid", true, false)
        );
        assert!(held.reason["held"].as_str().unwrap().contains("30 days"));
        // After 30 days the downgrade goes through.
        let down = plan_one(
            &rules,
            Activity {
                orders: small.iter().collect(),
                ..Activity::default()
            },
            &[assignment("high", &rules.version, 31)],
        );
        assert_eq!((down.tier.as_str(), down.held), ("mid", false));
    }

    #[test]
    fn the_tier_entry_time_decides_dwell_not_a_later_rules_version_refresh() {
        let rules = rules(RULES);
        let small = [order("1", 50.0, 10)];
        let refreshed = assignment("high", "older-version", 2);
        let entered = HashMap::from([("g".to_string(), as_of() - Duration::days(45))]);
        let activities = [Activity {
            orders: small.iter().collect(),
            ..Activity::default()
        }];
        let plan = plan_tiers(
            &rules,
            &["g".to_string()],
            &activities,
            &[refreshed],
            &entered,
            as_of(),
        )
        .unwrap();
        assert_eq!(plan.decisions[0].tier, "mid");
    }

    #[test]
    fn triggers_re_tier_at_once_against_the_dwell_time() {
        let rules = rules(RULES);
        let current = [assignment("high", &rules.version, 5)];
        // A bad rating since the assignment.
        let orders = [order("1", 50.0, 80)];
        let tickets = [TicketFact {
            golden_id: "g".into(),
            connector: "helpdesk".into(),
            source_id: "t9".into(),
            status: "open".into(),
            created_at: as_of() - Duration::days(1),
            satisfaction: Some("bad".into()),
        }];
        let decision = plan_one(
            &rules,
            Activity {
                orders: orders.iter().collect(),
                tickets: tickets.iter().collect(),
                ..Activity::default()
            },
            &current,
        );
        assert_eq!(decision.tier, "mid");
        assert_eq!(
            decision.trigger.as_deref(),
            Some("bad rating on ticket helpdesk/t9")
        );
        assert_eq!(
            decision.reason["trigger"],
            json!("bad rating on ticket helpdesk/t9")
        );
        // Sixty days of silence reached since the assignment (it was made
        // on day 63 of silence minus 5 = 58, before the limit).
        let quiet = [order("1", 50.0, 63)];
        let silent = plan_one(
            &rules,
            Activity {
                orders: quiet.iter().collect(),
                ..Activity::default()
            },
            &current,
        );
        assert_eq!(silent.tier, "mid");
        assert!(silent
            .trigger
            .unwrap()
            .starts_with("63 days without interaction"));
        // Silence that was already over the limit at the assignment is old news.
        let long_quiet = [order("1", 50.0, 90)];
        let old = plan_one(
            &rules,
            Activity {
                orders: long_quiet.iter().collect(),
                ..Activity::default()
            },
            &current,
        );
        assert_eq!(
            (old.tier.as_str(), old.held, old.trigger),
            ("high", true, None)
        );
        // A big order since the assignment: an upgrade anyway, and reported.
        let big = [order("9", 1500.0, 1)];
        let low = [assignment("low", &rules.version, 5)];
        let upgrade = plan_one(
            &rules,
            Activity {
                orders: big.iter().collect(),
                ..Activity::default()
            },
            &low,
        );
        assert_eq!(upgrade.tier, "high");
        assert_eq!(
            upgrade.trigger.as_deref(),
            Some("order shop/9 of 1500 (at least 1000)")
        );
    }

    #[test]
    fn the_transition_matrix_and_change_share_leave_first_assignments_out() {
        let rules = rules(RULES);
        let big = [order("1", 5000.0, 1)];
        let small = [order("2", 10.0, 1)];
        let ids: Vec<String> = ["a", "b", "c", "d"].map(str::to_string).to_vec();
        let activities = [
            Activity {
                orders: big.iter().collect(),
                ..Activity::default()
            },
            Activity {
                orders: small.iter().collect(),
                ..Activity::default()
            },
            Activity::default(),
            Activity::default(),
        ];
        let current = [
            TierAssignment {
                golden_id: "a".into(),
                ..assignment("low", &rules.version, 100)
            },
            TierAssignment {
                golden_id: "b".into(),
                ..assignment("mid", &rules.version, 100)
            },
            TierAssignment {
                golden_id: "c".into(),
                ..assignment("low", &rules.version, 100)
            },
        ];
        let plan = plan_tiers(
            &rules,
            &ids,
            &activities,
            &current,
            &HashMap::new(),
            as_of(),
        )
        .unwrap();
        let matrix = plan.transition_matrix();
        assert_eq!(
            matrix["low"],
            BTreeMap::from([("high".to_string(), 1), ("low".to_string(), 1)])
        );
        assert_eq!(matrix["mid"], BTreeMap::from([("mid".to_string(), 1)]));
        assert_eq!(matrix[NO_TIER], BTreeMap::from([("low".to_string(), 1)]));
        let (moving, share) = plan.change_share();
        assert_eq!(moving, 1);
        assert!((share - 1.0 / 3.0).abs() < 1e-9);
        assert!(!plan.exceeds_change_limit(0.5));
        assert!(plan.exceeds_change_limit(0.2));
        // Only the move and the first assignment are written.
        let written: Vec<String> = plan
            .changes(as_of())
            .into_iter()
            .map(|change| change.assignment.golden_id)
            .collect();
        assert_eq!(written, ["a", "d"]);
    }

    #[test]
    fn every_rule_operator_works_on_customer_features() {
        let orders = [order("1", 120.0, 10), order("2", 80.0, 20)];
        let conditions = [
            ("orders_total == 2", true),
            ("orders_total != 2", false),
            ("spend_total > 199.99", true),
            ("spend_total >= 200", true),
            ("recency_days < 10", false),
            ("recency_days <= 10", true),
            ("spend_total / orders_total == avg_order_value", true),
            ("orders_total * 50 + 100 - spend_total == 0", true),
            ("orders_total % 2 == 0", true),
            ("-recency_days == -10", true),
            ("orders_total == 2 and spend_total > 1000", false),
            ("orders_total == 2 or spend_total > 1000", true),
            ("not (orders_total == 2)", false),
            ("lifecycle in ['new', 'active']", true),
            ("lifecycle not in ['new', 'active']", false),
            ("rfm.segment == 'Need attention'", true),
            ("satisfaction_good_share >= 0", false),
            ("is_null(satisfaction_good_share)", true),
            ("coalesce(satisfaction_good_share, 1) == 1", true),
            ("max(orders_30d, 1) == 2 and min(spend_30d, 50) == 50", true),
            ("abs(0 - orders_total) == 2 and days(1) == 1", true),
        ];
        for (condition, expected) in conditions {
            let text = RULES
                .replace("spend_total >= 1000", condition)
                .replace("name = \"big\"", "name = \"probe\"");
            let rules = rules(&text);
            let decision = plan_one(
                &rules,
                Activity {
                    orders: orders.iter().collect(),
                    ..Activity::default()
                },
                &[],
            );
            assert_eq!(
                decision.rule == "probe",
                expected,
                "{condition}: {decision:?}"
            );
        }
    }

    #[test]
    fn a_rule_that_fails_to_evaluate_names_itself() {
        let rules = rules(&RULES.replace("spend_total >= 1000", "lifecycle > 3"));
        let orders = [order("1", 120.0, 10)];
        let activities = [Activity {
            orders: orders.iter().collect(),
            ..Activity::default()
        }];
        let error = plan_tiers(
            &rules,
            &["g".to_string()],
            &activities,
            &[],
            &HashMap::new(),
            as_of(),
        )
        .unwrap_err();
        assert!(error.starts_with("rule \"big\""), "{error}");
    }
}
