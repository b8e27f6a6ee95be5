//! The push plan: what each record of one connector should carry, against
//! what the ledger says the system acknowledged. Pure.
//!
//! A record's labels to remove are only ever labels tierlink wrote: the one
//! the system acknowledged and the ones sent without an answer (they may
//! have been applied). Labels anybody else put on a record are never
//! touched.

use std::collections::HashMap;

use serde::Serialize;

use super::sinks::LabelChange;
use crate::segment::TierRules;
use crate::store::{LedgerRow, LedgerStatus, PushTarget};

/// How the changes of a plan split, for `push --dry-run`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlanCounts {
    /// Records getting their first tier label.
    pub create: usize,
    /// Records moving from one label to another (or retried after a failure).
    pub update: usize,
    /// Records whose tier label goes, their customer no longer tiered.
    pub remove: usize,
    /// Records that already carry their label.
    pub unchanged: usize,
    /// Records a steward dropped from pushing until their label changes.
    pub blocked: usize,
}

/// A change to send, with the ledger row to write before sending it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedChange {
    pub change: LabelChange,
    /// The row written ahead: desired label set, the label counted among the
    /// unacknowledged ones, status pending.
    pub row: LedgerRow,
    /// Whether the record had an open dead letter (its status was failed).
    pub was_failed: bool,
}

/// What one connector's push would do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushPlan {
    pub connector: String,
    pub changes: Vec<PlannedChange>,
    /// Records already carrying their label, as changes with nothing to
    /// remove: kept only when asked for (snapshot sinks).
    pub unchanged: Vec<LabelChange>,
    pub counts: PlanCounts,
}

/// Diffs the labels `targets` should carry against the `ledger`.
/// `keep_unchanged` keeps the unchanged records in [`PushPlan::unchanged`].
pub fn plan_push(
    connector_id: &str,
    connector_kind: &str,
    targets: &[PushTarget],
    ledger: Vec<LedgerRow>,
    rules: &TierRules,
    keep_unchanged: bool,
) -> PushPlan {
    let mut ledger: HashMap<String, LedgerRow> = ledger
        .into_iter()
        .map(|row| (row.source_id.clone(), row))
        .collect();
    let mut plan = PushPlan {
        connector: connector_id.to_string(),
        ..PushPlan::default()
    };
    for target in targets {
        let label = rules.label_for(&target.tier, connector_id, connector_kind);
        let previous = ledger.remove(&target.party.source_id);
        let desired = Desired {
            source_id: &target.party.source_id,
            golden_id: Some(target.golden_id.as_str()),
            tier: Some(target.tier.as_str()),
            label,
            rules_version: &target.rules_version,
        };
        plan.add(connector_id, desired, previous, keep_unchanged);
    }
    // Records in the ledger that no tiered customer claims any more: their
    // label goes.
    let mut orphans: Vec<LedgerRow> = ledger.into_values().collect();
    orphans.sort_by(|a, b| a.source_id.cmp(&b.source_id));
    for row in orphans {
        let source_id = row.source_id.clone();
        let rules_version = row.rules_version.clone();
        let desired = Desired {
            source_id: &source_id,
            golden_id: None,
            tier: None,
            label: None,
            rules_version: &rules_version,
        };
        plan.add(connector_id, desired, Some(row), keep_unchanged);
    }
    plan
}

/// What one record should carry.
struct Desired<'a> {
    source_id: &'a str,
    golden_id: Option<&'a str>,
    tier: Option<&'a str>,
    label: Option<String>,
    rules_version: &'a str,
}

impl PushPlan {
    fn add(
        &mut self,
        connector_id: &str,
        desired: Desired,
        previous: Option<LedgerRow>,
        keep_unchanged: bool,
    ) {
        let acked = previous.as_ref().and_then(|row| row.acked_label.clone());
        let unacked = previous
            .as_ref()
            .map(|row| row.unacked_labels.clone())
            .unwrap_or_default();
        let status = previous.as_ref().map(|row| row.status);
        let same_desired = previous
            .as_ref()
            .is_some_and(|row| row.desired_label == desired.label);
        let in_place = acked == desired.label && unacked.iter().all(|l| Some(l) == acked.as_ref());
        if in_place && status != Some(LedgerStatus::Failed) && status != Some(LedgerStatus::Pending)
        {
            self.counts.unchanged += 1;
            if keep_unchanged {
                if let Some(label) = desired.label {
                    self.unchanged.push(LabelChange {
                        source_id: desired.source_id.to_string(),
                        golden_id: desired.golden_id.map(str::to_string),
                        tier: desired.tier.map(str::to_string),
                        label: Some(label),
                        remove: Vec::new(),
                        rules_version: desired.rules_version.to_string(),
                    });
                }
            }
            return;
        }
        if status == Some(LedgerStatus::Dropped) && same_desired {
            self.counts.blocked += 1;
            return;
        }
        let mut remove: Vec<String> = Vec::new();
        for label in acked.iter().chain(&unacked) {
            if Some(label) != desired.label.as_ref() && !remove.contains(label) {
                remove.push(label.clone());
            }
        }
        if desired.label.is_none() && remove.is_empty() {
            // Nothing to carry and nothing of tierlink's to take away.
            self.counts.unchanged += 1;
            return;
        }
        match (&desired.label, &acked) {
            (None, _) => self.counts.remove += 1,
            (Some(_), None) if remove.is_empty() => self.counts.create += 1,
            (Some(_), _) => self.counts.update += 1,
        }
        let mut unacked_after = unacked;
        if let Some(label) = &desired.label {
            if Some(label) != acked.as_ref() && !unacked_after.contains(label) {
                unacked_after.push(label.clone());
            }
        }
        let attempts = match &previous {
            Some(row) if same_desired => row.attempts,
            _ => 0,
        };
        let change = LabelChange {
            source_id: desired.source_id.to_string(),
            golden_id: desired.golden_id.map(str::to_string),
            tier: desired.tier.map(str::to_string),
            label: desired.label.clone(),
            remove,
            rules_version: desired.rules_version.to_string(),
        };
        let row = LedgerRow {
            connector: connector_id.to_string(),
            source_id: desired.source_id.to_string(),
            golden_id: change.golden_id.clone(),
            tier: change.tier.clone(),
            desired_label: desired.label,
            acked_label: acked,
            unacked_labels: unacked_after,
            rules_version: change.rules_version.clone(),
            status: LedgerStatus::Pending,
            attempts,
            last_error: previous.as_ref().and_then(|row| row.last_error.clone()),
        };
        self.changes.push(PlannedChange {
            change,
            row,
            was_failed: status == Some(LedgerStatus::Failed),
        });
    }
}

/// The ledger row after the system acknowledged `planned`.
pub fn acknowledged(planned: &PlannedChange) -> LedgerRow {
    LedgerRow {
        acked_label: planned.row.desired_label.clone(),
        unacked_labels: Vec::new(),
        status: LedgerStatus::Delivered,
        attempts: planned.row.attempts + 1,
        last_error: None,
        ..planned.row.clone()
    }
}

/// The ledger row after sending `planned` failed for `reason`. The label
/// stays among the unacknowledged ones: it may have been applied.
pub fn failed(planned: &PlannedChange, reason: &str) -> LedgerRow {
    LedgerRow {
        status: LedgerStatus::Failed,
        attempts: planned.row.attempts + 1,
        last_error: Some(reason.to_string()),
        ..planned.row.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PartyKey;

    fn rules() -> TierRules {
        let file = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tiers.toml"));
        TierRules::load(file, &[]).expect("the shipped rules")
    }

    fn target(id: &str, tier: &str) -> PushTarget {
        PushTarget {
            party: PartyKey {
                connector: "shop".to_string(),
                source_id: id.to_string(),
            },
            golden_id: format!("G-{id}"),
            tier: tier.to_string(),
            rules_version: "v1".to_string(),
        }
    }

    fn row(id: &str, acked: Option<&str>, unacked: &[&str], status: LedgerStatus) -> LedgerRow {
        LedgerRow {
            connector: "shop".to_string(),
            source_id: id.to_string(),
            golden_id: Some(format!("G-{id}")),
            tier: None,
            desired_label: acked.map(str::to_string),
            acked_label: acked.map(str::to_string),
            unacked_labels: unacked.iter().map(|l| l.to_string()).collect(),
            rules_version: "v1".to_string(),
            status,
            attempts: 1,
            last_error: None,
        }
    }

    fn plan(targets: &[PushTarget], ledger: Vec<LedgerRow>) -> PushPlan {
        // The shipped rules label the shop by its kind's fallback: `label`.
        plan_push("shop", "file", targets, ledger, &rules(), true)
    }

    const HIGH: &str = "tier:high-value";
    const DEV: &str = "tier:developing";
    const LOW: &str = "tier:new-low-value";

    #[test]
    fn a_record_without_a_ledger_row_gets_its_first_label() {
        let plan = plan(&[target("1", "high-value")], Vec::new());
        assert_eq!(plan.counts.create, 1);
        let planned = &plan.changes[0];
        assert_eq!(planned.change.label.as_deref(), Some(HIGH));
        assert!(planned.change.remove.is_empty());
        // Written ahead: the label may be applied from here on.
        assert_eq!(planned.row.unacked_labels, [HIGH]);
        assert_eq!(planned.row.status, LedgerStatus::Pending);
        assert_eq!(acknowledged(planned).acked_label.as_deref(), Some(HIGH));
        assert!(acknowledged(planned).unacked_labels.is_empty());
    }

    #[test]
    fn a_delivered_label_is_unchanged_and_kept_for_snapshots() {
        let plan = plan(
            &[target("1", "high-value")],
            vec![row("1", Some(HIGH), &[], LedgerStatus::Delivered)],
        );
        assert!(plan.changes.is_empty());
        assert_eq!(plan.counts.unchanged, 1);
        assert_eq!(plan.unchanged[0].label.as_deref(), Some(HIGH));
    }

    #[test]
    fn a_tier_change_removes_only_the_label_tierlink_wrote() {
        let plan = plan(
            &[target("1", "developing")],
            vec![row("1", Some(HIGH), &[], LedgerStatus::Delivered)],
        );
        assert_eq!(plan.counts.update, 1);
        assert_eq!(plan.changes[0].change.label.as_deref(), Some(DEV));
        assert_eq!(plan.changes[0].change.remove, [HIGH]);
    }

    #[test]
    fn labels_sent_without_an_answer_are_removed_too() {
        // Killed after sending DEV: the next tier change takes DEV away as
        // well, or the record would carry two tier labels.
        let plan = plan(
            &[target("1", "new-low-value")],
            vec![row("1", Some(HIGH), &[DEV], LedgerStatus::Pending)],
        );
        assert_eq!(plan.changes[0].change.remove, [HIGH, DEV]);
        assert_eq!(plan.changes[0].row.unacked_labels, [DEV, LOW]);
        // The same label resent after a kill removes nothing it wants.
        let plan = plan_push(
            "shop",
            "file",
            &[target("1", "developing")],
            vec![row("1", Some(HIGH), &[DEV], LedgerStatus::Pending)],
            &rules(),
            false,
        );
        assert_eq!(plan.changes[0].change.remove, [HIGH]);
        assert_eq!(plan.changes[0].change.label.as_deref(), Some(DEV));
    }

    #[test]
    fn a_record_no_longer_tiered_loses_its_label() {
        let plan = plan(&[], vec![row("9", Some(LOW), &[], LedgerStatus::Delivered)]);
        assert_eq!(plan.counts.remove, 1);
        assert_eq!(plan.changes[0].change.label, None);
        assert_eq!(plan.changes[0].change.remove, [LOW]);
        // Once removed, there is nothing left to do.
        let done = LedgerRow {
            acked_label: None,
            desired_label: None,
            ..row("9", None, &[], LedgerStatus::Delivered)
        };
        let plan = plan_push("shop", "file", &[], vec![done], &rules(), false);
        assert!(plan.changes.is_empty());
        assert_eq!(plan.counts.unchanged, 1);
    }

    #[test]
    fn failed_rows_are_retried_and_dropped_ones_wait_for_a_new_label() {
        let failed = LedgerRow {
            desired_label: Some(DEV.to_string()),
            ..row("1", Some(HIGH), &[DEV], LedgerStatus::Failed)
        };
        let dropped = LedgerRow {
            desired_label: Some(DEV.to_string()),
            ..row("2", Some(HIGH), &[DEV], LedgerStatus::Dropped)
        };
        let moved_on = LedgerRow {
            desired_label: Some(DEV.to_string()),
            ..row("3", Some(HIGH), &[DEV], LedgerStatus::Dropped)
        };
        let plan = plan(
            &[
                target("1", "developing"),
                target("2", "developing"),
                target("3", "new-low-value"),
            ],
            vec![failed, dropped, moved_on],
        );
        assert_eq!(plan.counts.blocked, 1);
        assert_eq!(plan.counts.update, 2);
        let ids: Vec<&str> = plan
            .changes
            .iter()
            .map(|p| p.change.source_id.as_str())
            .collect();
        assert_eq!(ids, ["1", "3"]);
        assert!(plan.changes[0].was_failed);
        // A retry of the same label counts its attempts on.
        assert_eq!(plan.changes[0].row.attempts, 1);
        assert_eq!(plan.changes[1].row.attempts, 0);
        let failure = super::failed(&plan.changes[0], "HTTP 503");
        assert_eq!(failure.status, LedgerStatus::Failed);
        assert_eq!(failure.unacked_labels, [DEV]);
    }
}
