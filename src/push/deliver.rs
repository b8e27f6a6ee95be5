//! Sending a push plan through a sink.
//!
//! Per chunk of changes: the ledger rows are written ahead (desired label,
//! the label among the unacknowledged ones, status pending), the chunk goes
//! out in batches with bounded concurrency, and the answers are written in
//! one transaction: acknowledged rows become delivered (and resolve their
//! dead letters), failed rows keep their reason and get a dead letter. A
//! process killed anywhere leaves every record either acknowledged or
//! pending with all the labels it may carry noted, so the next push neither
//! loses nor doubles an effect.

use std::sync::Arc;

use indicatif::ProgressBar;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::plan::{acknowledged, failed, plan_push, PlanCounts, PlannedChange};
use super::sinks::{Failure, LabelChange, Sink};
use super::PushSettings;
use crate::config::ConnectorConfig;
use crate::connectors::SourceContext;
use crate::segment::TierRules;
use crate::store::{LedgerUpdate, NewDeadLetter, StoreError};

/// Changes written ahead and answered per store transaction.
const CHUNK: usize = 1000;

/// Failure reasons a report quotes.
const QUOTED_ERRORS: usize = 5;

/// How to push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushOptions {
    /// Plan and count only; send nothing, write nothing.
    pub dry_run: bool,
    /// Changes a dry run shows.
    pub sample_size: usize,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            dry_run: false,
            sample_size: 5,
        }
    }
}

/// What a push did (or, dry, would do) in one connector's system.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SinkReport {
    pub connector: String,
    pub sink: String,
    pub counts: PlanCounts,
    /// A few of the changes, for a dry run.
    pub sample: Vec<LabelChange>,
    /// Changes sent.
    pub sent: usize,
    /// Changes the system acknowledged.
    pub acknowledged: usize,
    pub failed: usize,
    /// Failed changes kept as dead letters (all failures unless the push
    /// was stopped).
    pub dead_lettered: usize,
    /// Answers that said "slow down" during this push.
    pub throttled: u64,
    /// The first few failure reasons.
    pub errors: Vec<String>,
    /// Whether shutdown stopped the push before every change was sent.
    pub stopped: bool,
}

/// Pushes one connector's labels: plans against the ledger and, unless
/// dry, delivers the changes.
pub async fn push_connector(
    context: &SourceContext,
    connector: &ConnectorConfig,
    push: &PushSettings,
    rules: &TierRules,
    options: &PushOptions,
    progress: &ProgressBar,
) -> Result<SinkReport, StoreError> {
    let store = &context.store;
    let snapshot = push.sink.snapshot();
    let plan = if snapshot {
        // A snapshot holds every label: plan over everything.
        let targets = store.push_targets(&connector.id).await?;
        let ledger = store.ledger(&connector.id).await?;
        plan_push(
            &connector.id,
            &connector.kind,
            &targets,
            ledger,
            rules,
            true,
        )
    } else {
        // The database leaves out the records already in place.
        let labels: Vec<(String, String)> = rules
            .tiers
            .iter()
            .filter_map(|tier| {
                let label = rules.label_for(&tier.key, &connector.id, &connector.kind)?;
                Some((tier.key.clone(), label))
            })
            .collect();
        let candidates = store.push_candidates(&connector.id, &labels).await?;
        let mut plan = plan_push(
            &connector.id,
            &connector.kind,
            &candidates.targets,
            candidates.ledger,
            rules,
            false,
        );
        plan.counts.unchanged += candidates.in_place;
        plan
    };
    let mut report = SinkReport {
        connector: connector.id.clone(),
        sink: push.kind.clone(),
        counts: plan.counts,
        sample: plan
            .changes
            .iter()
            .take(options.sample_size)
            .map(|planned| planned.change.clone())
            .collect(),
        ..SinkReport::default()
    };
    if options.dry_run || plan.changes.is_empty() {
        return Ok(report);
    }
    let throttled_before = push.sink.throttled();
    progress.set_message(format!("pushing labels to {}", connector.id));
    if snapshot {
        // One write of everything: the changes first, then the rest.
        store.save_ledger(&written_ahead(&plan.changes)).await?;
        let mut all: Vec<LabelChange> = plan.changes.iter().map(|p| p.change.clone()).collect();
        all.extend(plan.unchanged.iter().cloned());
        let outcomes = match push.sink.apply(context, &all).await {
            Ok(outcomes) if outcomes.len() == all.len() => outcomes,
            Ok(outcomes) => vec![Err(miscounted(outcomes.len(), all.len())); all.len()],
            Err(failure) => vec![Err(failure); all.len()],
        };
        let outcomes = &outcomes[..plan.changes.len()];
        record(context, &plan.changes, outcomes, &mut report).await?;
        progress.inc(plan.changes.len() as u64);
    } else {
        for chunk in plan.changes.chunks(CHUNK) {
            if context.shutdown.is_cancelled() {
                report.stopped = true;
                break;
            }
            store.save_ledger(&written_ahead(chunk)).await?;
            let outcomes = send_chunk(context, push, chunk).await;
            record(context, chunk, &outcomes, &mut report).await?;
            progress.inc(chunk.len() as u64);
        }
    }
    report.throttled = push.sink.throttled().saturating_sub(throttled_before);
    Ok(report)
}

fn written_ahead(changes: &[PlannedChange]) -> LedgerUpdate {
    LedgerUpdate {
        rows: changes.iter().map(|planned| planned.row.clone()).collect(),
        ..LedgerUpdate::default()
    }
}

fn miscounted(got: usize, sent: usize) -> Failure {
    Failure::refused(
        format!("the sink answered {got} outcomes for {sent} changes"),
        "",
    )
}

/// Sends a chunk in batches, at most `push.concurrency` at once; one
/// outcome per change, in order.
async fn send_chunk(
    context: &SourceContext,
    push: &PushSettings,
    chunk: &[PlannedChange],
) -> Vec<Result<(), Failure>> {
    let batch_size = push.sink.batch_size().max(1);
    let permits = Arc::new(Semaphore::new(push.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for (index, batch) in chunk.chunks(batch_size).enumerate() {
        let changes: Vec<LabelChange> = batch.iter().map(|p| p.change.clone()).collect();
        let sink = push.sink.clone();
        let context = context.clone();
        // The semaphore is never closed.
        let permit = permits.clone().acquire_owned().await.ok();
        tasks.spawn(async move {
            let _permit = permit;
            (index, send_batch(sink.as_ref(), &context, &changes).await)
        });
    }
    let mut by_batch: Vec<Option<Vec<Result<(), Failure>>>> =
        vec![None; chunk.len().div_ceil(batch_size)];
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, outcomes)) => by_batch[index] = Some(outcomes),
            Err(error) => tracing::error!(%error, "a push task failed"),
        }
    }
    let mut outcomes = Vec::with_capacity(chunk.len());
    for (batch, answered) in chunk.chunks(batch_size).zip(by_batch) {
        match answered {
            Some(answered) => outcomes.extend(answered),
            None => outcomes.extend(batch.iter().map(|_| {
                Err(Failure {
                    retryable: true,
                    ..Failure::refused("the push task failed before it answered", "")
                })
            })),
        }
    }
    outcomes
}

/// Sends one batch; when the system refuses the whole batch, sends its
/// changes one by one so that one bad record cannot hold back the others.
async fn send_batch(
    sink: &dyn Sink,
    context: &SourceContext,
    changes: &[LabelChange],
) -> Vec<Result<(), Failure>> {
    match sink.apply(context, changes).await {
        Ok(outcomes) if outcomes.len() == changes.len() => outcomes,
        Ok(outcomes) => vec![Err(miscounted(outcomes.len(), changes.len())); changes.len()],
        Err(failure)
            if changes.len() == 1 || failure.retryable || context.shutdown.is_cancelled() =>
        {
            vec![Err(failure); changes.len()]
        }
        Err(_) => {
            let mut outcomes = Vec::with_capacity(changes.len());
            for change in changes {
                let single = std::slice::from_ref(change);
                outcomes.push(match sink.apply(context, single).await {
                    Ok(mut answered) if answered.len() == 1 => answered.remove(0),
                    Ok(answered) => Err(miscounted(answered.len(), 1)),
                    Err(failure) => Err(failure),
                });
            }
            outcomes
        }
    }
}

/// Writes the answers of a chunk: delivered rows, failed rows and their dead
/// letters, resolved dead letters, in one transaction.
async fn record(
    context: &SourceContext,
    chunk: &[PlannedChange],
    outcomes: &[Result<(), Failure>],
    report: &mut SinkReport,
) -> Result<(), StoreError> {
    let stopping = context.shutdown.is_cancelled();
    let mut update = LedgerUpdate::default();
    for (planned, outcome) in chunk.iter().zip(outcomes) {
        report.sent += 1;
        match outcome {
            Ok(()) => {
                report.acknowledged += 1;
                update.rows.push(acknowledged(planned));
                if planned.was_failed {
                    update
                        .resolved
                        .push((planned.row.connector.clone(), planned.row.source_id.clone()));
                }
            }
            Err(failure) => {
                report.failed += 1;
                if report.errors.len() < QUOTED_ERRORS {
                    report
                        .errors
                        .push(format!("{}: {}", planned.change.source_id, failure.reason));
                }
                if stopping {
                    // Stopped, not refused: the row stays pending, its label
                    // noted as possibly applied by the write-ahead.
                    continue;
                }
                let row = failed(planned, &failure.reason);
                report.dead_lettered += 1;
                update.dead_letters.push(NewDeadLetter {
                    connector: row.connector.clone(),
                    source_id: row.source_id.clone(),
                    label: row.desired_label.clone(),
                    request: failure.request.clone(),
                    response: failure.response.clone(),
                    reason: failure.reason.clone(),
                    attempts: row.attempts,
                });
                update.rows.push(row);
            }
        }
    }
    context.store.save_ledger(&update).await
}
