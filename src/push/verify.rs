//! `push verify`: reads the labels back from a system and compares them
//! with what the ledger says the system acknowledged.
//!
//! Drift is a delivered label the record no longer carries (someone removed
//! a tier tag by hand), a record the system no longer has, or a tier label
//! the record carries besides its own (someone added one by hand; tierlink
//! reports it and never removes it, as it did not write it). `--repair`
//! marks the records that lost their label pending again and pushes them.

use std::collections::BTreeSet;

use serde::Serialize;

use super::sinks::Carried;
use super::PushSettings;
use crate::config::ConnectorConfig;
use crate::connectors::{ConnectorError, SourceContext};
use crate::segment::TierRules;
use crate::store::{LedgerRow, LedgerStatus, LedgerUpdate, StoreError};

/// Drifted records a report lists in full.
const LISTED: usize = 20;

/// One record whose labels differ from the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub source_id: String,
    /// The label the ledger says the system acknowledged.
    pub expected: String,
    /// The tier labels the record carries now.
    pub found: Vec<String>,
}

/// What `push verify` found in one system.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VerifyReport {
    pub connector: String,
    /// Records read back.
    pub checked: usize,
    /// Records carrying exactly the label the ledger expects.
    pub matching: usize,
    /// Records that lost their label (the first few listed in `missing`).
    pub missing_count: usize,
    pub missing: Vec<Drift>,
    /// Records carrying another tier label besides their own.
    pub extra_count: usize,
    pub extra: Vec<Drift>,
    /// Records the system no longer has.
    pub gone: Vec<String>,
    /// Records that could not be read, with the reason.
    pub unreadable: Vec<(String, String)>,
    /// Records marked pending again by `--repair`.
    pub marked_for_repair: usize,
}

impl VerifyReport {
    /// Whether the system carries exactly what the ledger says.
    pub fn clean(&self) -> bool {
        self.missing_count == 0
            && self.extra_count == 0
            && self.gone.is_empty()
            && self.unreadable.is_empty()
    }
}

/// Every label the rules give this connector's records.
pub fn tier_labels(rules: &TierRules, connector: &ConnectorConfig) -> BTreeSet<String> {
    rules
        .tiers
        .iter()
        .filter_map(|tier| rules.label_for(&tier.key, &connector.id, &connector.kind))
        .collect()
}

/// Reads back the labels of every delivered record of `connector` and
/// compares them with the ledger; with `repair`, marks the records that
/// lost their label pending again (the caller then pushes).
pub async fn verify_connector(
    context: &SourceContext,
    connector: &ConnectorConfig,
    push: &PushSettings,
    rules: &TierRules,
    repair: bool,
) -> Result<VerifyReport, VerifyError> {
    let known = tier_labels(rules, connector);
    let delivered: Vec<LedgerRow> = context
        .store
        .ledger(&connector.id)
        .await?
        .into_iter()
        .filter(|row| row.status == LedgerStatus::Delivered && row.acked_label.is_some())
        .collect();
    let mut report = VerifyReport {
        connector: connector.id.clone(),
        ..VerifyReport::default()
    };
    let mut to_repair = Vec::new();
    let batch = push.sink.read_batch_size().max(1);
    for rows in delivered.chunks(batch) {
        let ids: Vec<String> = rows.iter().map(|row| row.source_id.clone()).collect();
        let carried = push.sink.read_labels(context, &ids).await?;
        for (row, carried) in rows.iter().zip(carried) {
            report.checked += 1;
            let expected = row.acked_label.clone().unwrap_or_default();
            let labels = match carried {
                Carried::Labels(labels) => labels,
                Carried::Gone => {
                    report.gone.push(row.source_id.clone());
                    continue;
                }
                Carried::Unreadable(reason) => {
                    report.unreadable.push((row.source_id.clone(), reason));
                    continue;
                }
            };
            let found: Vec<String> = labels
                .into_iter()
                .filter(|label| known.contains(label))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let drift = || Drift {
                source_id: row.source_id.clone(),
                expected: expected.clone(),
                found: found.clone(),
            };
            if !found.contains(&expected) {
                report.missing_count += 1;
                if report.missing.len() < LISTED {
                    report.missing.push(drift());
                }
                to_repair.push(row.clone());
            } else if found.len() > 1 {
                report.extra_count += 1;
                if report.extra.len() < LISTED {
                    report.extra.push(drift());
                }
            } else {
                report.matching += 1;
            }
        }
    }
    if repair && !to_repair.is_empty() {
        report.marked_for_repair = to_repair.len();
        let rows = to_repair
            .into_iter()
            .map(|row| LedgerRow {
                acked_label: None,
                status: LedgerStatus::Pending,
                ..row
            })
            .collect();
        context
            .store
            .save_ledger(&LedgerUpdate {
                rows,
                ..LedgerUpdate::default()
            })
            .await?;
    }
    Ok(report)
}

/// Why a verify could not finish.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading labels back failed: {0}")]
    Read(#[from] ConnectorError),
}
