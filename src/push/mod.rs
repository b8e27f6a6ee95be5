//! Push-back: the tier label every source record should carry, diffed
//! against the push ledger, delivered by a sink, and marked delivered only
//! after the sink acknowledged it.
//!
//! The sink here is a label export per source system: a CSV file in
//! `out/labels/<connector>.csv` holding every labelled record of that
//! system, replaced atomically. Sinks that write into the systems' own APIs
//! plug in beside it.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::segment::TierRules;
use crate::store::{LedgerRow, PushTarget};

/// What one connector's push would change.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PushPlan {
    pub connector: String,
    /// Every label the connector's records should carry now, in source order.
    pub desired: Vec<LedgerRow>,
    /// How many of them differ from what the system acknowledged.
    pub changed: usize,
}

/// Diffs the labels `targets` should carry against the ledger. Pure.
pub fn plan(
    connector_id: &str,
    connector_kind: &str,
    targets: &[PushTarget],
    ledger: &[LedgerRow],
    rules: &TierRules,
) -> PushPlan {
    let acked: HashMap<&str, &LedgerRow> = ledger
        .iter()
        .map(|row| (row.source_id.as_str(), row))
        .collect();
    let mut plan = PushPlan {
        connector: connector_id.to_string(),
        ..PushPlan::default()
    };
    for target in targets {
        let Some(label) = rules.label_for(&target.tier, connector_id, connector_kind) else {
            continue;
        };
        let previous = acked.get(target.party.source_id.as_str());
        let delivered = previous.is_some_and(|row| {
            row.status == "delivered" && row.acked_label.as_deref() == Some(label.as_str())
        });
        if !delivered {
            plan.changed += 1;
        }
        plan.desired.push(LedgerRow {
            connector: connector_id.to_string(),
            source_id: target.party.source_id.clone(),
            desired_label: label,
            acked_label: previous.and_then(|row| row.acked_label.clone()),
            rules_version: target.rules_version.clone(),
            status: if delivered { "delivered" } else { "pending" }.to_string(),
            attempts: previous.map(|row| row.attempts).unwrap_or(0),
            last_error: None,
        });
    }
    plan
}

/// The label export file of a connector.
pub fn label_file(output_dir: &Path, connector_id: &str) -> PathBuf {
    output_dir
        .join("labels")
        .join(format!("{connector_id}.csv"))
}

/// Writes every desired label of a connector to its export file, replacing
/// the previous file atomically (write aside, then rename), and returns the
/// rows acknowledged: the pending ones, now delivered.
pub fn deliver_to_file(output_dir: &Path, plan: &PushPlan) -> std::io::Result<Vec<LedgerRow>> {
    let file = label_file(output_dir, &plan.connector);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let partial = file.with_extension("csv.partial");
    {
        let mut writer =
            csv::Writer::from_writer(std::io::BufWriter::new(std::fs::File::create(&partial)?));
        writer.write_record(["source_id", "label", "rules_version"])?;
        for row in &plan.desired {
            writer.write_record([&row.source_id, &row.desired_label, &row.rules_version])?;
        }
        let mut inner = writer.into_inner().map_err(|error| error.into_error())?;
        inner.flush()?;
        inner.get_ref().sync_all()?;
    }
    std::fs::rename(&partial, &file)?;
    Ok(plan
        .desired
        .iter()
        .filter(|row| row.status != "delivered")
        .map(|row| LedgerRow {
            acked_label: Some(row.desired_label.clone()),
            status: "delivered".to_string(),
            attempts: row.attempts + 1,
            last_error: None,
            ..row.clone()
        })
        .collect())
}
