//! One full run through every stage: sync, map, resolve, golden, segment,
//! push. Each stage reads what the previous one stored, so a run that stops
//! half-way is finished by the next one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, NaiveTime, Utc};
use indicatif::ProgressBar;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::config::{ConnectorConfig, Project};
use crate::connectors::{ConnectorError, SourceContext};
use crate::steward::SharedIndex;
use crate::store::{MappedRecord, StageCounts, Store, StoreError};
use crate::{golden, push, segment, steward};

/// Records mapped per transaction.
const MAPPING_BATCH: i64 = 1000;

/// Why a run could not finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("tier rules failed: {0}")]
    Rules(String),
    #[error("survivorship rules: {0}")]
    Golden(#[from] golden::rules::RulesError),
}

/// What one run did, stage by stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunReport {
    pub run_id: i64,
    /// Per connector and stream: fetched, new, changed, unchanged, rejected.
    pub sync: BTreeMap<String, BTreeMap<String, StageCounts>>,
    /// Connectors that failed, with the reason; the run went on without them.
    pub failed_connectors: BTreeMap<String, ConnectorError>,
    pub mapped: u64,
    pub mapping_rejected: u64,
    pub parties: usize,
    pub golden_customers: usize,
    /// Golden customers created or changed.
    pub golden_changed: usize,
    /// Party links created or moved.
    pub links_changed: usize,
    /// Golden customers merged into another.
    pub merged: usize,
    /// Customers whose tier changed (or was first assigned).
    pub tiers_changed: usize,
    /// Customers per tier after the run.
    pub tier_distribution: BTreeMap<String, usize>,
    /// What the push did in each system with a `[push]` sink.
    pub push: Vec<push::SinkReport>,
    /// What the relay of tier events did, with `[events]` configured.
    pub events: Option<push::EventsReport>,
    /// Seconds each stage took (sync, map, resolve, segment, push).
    pub stage_seconds: BTreeMap<String, f64>,
    /// Seconds each connector's sync took.
    pub sync_seconds: BTreeMap<String, f64>,
}

impl RunReport {
    /// Whether the run changed anything stored.
    pub fn changed_anything(&self) -> bool {
        let staged = self
            .sync
            .values()
            .flat_map(BTreeMap::values)
            .any(|counts| counts.new + counts.changed + counts.rejected > 0);
        staged
            || self.mapped + self.mapping_rejected > 0
            || self.golden_changed + self.links_changed + self.merged + self.tiers_changed > 0
            || self.push.iter().any(|sink| sink.acknowledged > 0)
            || self
                .events
                .as_ref()
                .is_some_and(|events| events.delivered > 0)
    }

    fn timed(&mut self, stage: &str, started: Instant) {
        self.stage_seconds
            .insert(stage.to_string(), started.elapsed().as_secs_f64());
    }

    /// Whether every connector, sink and the event relay worked.
    pub fn succeeded(&self) -> bool {
        self.failed_connectors.is_empty()
            && self.push.iter().all(|sink| sink.failed == 0)
            && self
                .events
                .as_ref()
                .is_none_or(|events| events.error.is_none())
    }
}

/// The time tiers are evaluated at: the end of the pinned `as_of` day, or now.
pub fn evaluation_time(project: &Project) -> DateTime<Utc> {
    match project.settings.segment.as_of {
        Some(date) => date
            .and_time(NaiveTime::from_hms_opt(23, 59, 59).unwrap_or_default())
            .and_utc(),
        None => Utc::now(),
    }
}

/// Which connectors a run covers.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Every connector, and every stage after sync.
    Everything,
    /// One connector's sync and mapping only.
    Connector(&'a str),
}

impl Scope<'_> {
    fn includes(&self, connector: &str) -> bool {
        match self {
            Scope::Everything => true,
            Scope::Connector(id) => *id == connector,
        }
    }
}

/// How a scheduled pipeline run reads its sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// Every connector's cursors are forgotten first, so every record is
    /// read again (unchanged ones stay unchanged); then every stage runs.
    Full,
    /// Each connector reads from its cursor; resolution, tiering and push
    /// run only when something new was staged or mapped.
    Incremental,
}

impl RunKind {
    /// The name in the run log and in schedules.
    pub fn name(self) -> &'static str {
        match self {
            RunKind::Full => "full",
            RunKind::Incremental => "incremental",
        }
    }
}

/// Runs the whole pipeline once over every connector, each reading from
/// its cursor: what `tierlink run` does.
pub async fn run_full(
    project: &Project,
    store: &Arc<dyn Store>,
    progress: &ProgressBar,
) -> Result<RunReport, RunError> {
    let context = SourceContext::new(store.clone());
    record_run(store, "full", |run_id| {
        every_stage(project, &context, run_id, false, None, progress)
    })
    .await
}

/// A scheduled run of `kind` (see [`RunKind`]). With `index` (the one a
/// long-running service keeps), resolution goes through it: only the
/// records the run saved are resolved again.
pub async fn run_scheduled(
    project: &Project,
    context: &SourceContext,
    kind: RunKind,
    index: Option<&SharedIndex>,
    progress: &ProgressBar,
) -> Result<RunReport, RunError> {
    record_run(&context.store, kind.name(), |run_id| async move {
        if kind == RunKind::Full {
            for connector in &project.connectors {
                context.store.reset_cursors(&connector.id).await?;
            }
        }
        every_stage(
            project,
            context,
            run_id,
            kind == RunKind::Incremental,
            index,
            progress,
        )
        .await
    })
    .await
}

/// Every stage in order; with `only_on_news`, the stages after mapping are
/// skipped when the sources brought nothing new.
async fn every_stage(
    project: &Project,
    context: &SourceContext,
    run_id: i64,
    only_on_news: bool,
    index: Option<&SharedIndex>,
    progress: &ProgressBar,
) -> Result<RunReport, RunError> {
    let mut report = RunReport {
        run_id,
        ..RunReport::default()
    };
    ingest_stages(project, context, Scope::Everything, progress, &mut report).await?;
    if !only_on_news || report.changed_anything() {
        let started = Instant::now();
        resolve_stage(project, &context.store, index, progress, &mut report).await?;
        report.timed("resolve", started);
        tier_and_push(project, context, progress, &mut report).await?;
    }
    progress.finish_and_clear();
    Ok(report)
}

/// The segment and push stages, each timed.
async fn tier_and_push(
    project: &Project,
    context: &SourceContext,
    progress: &ProgressBar,
    report: &mut RunReport,
) -> Result<(), RunError> {
    let started = Instant::now();
    segment_stage(project, &context.store, progress, report).await?;
    report.timed("segment", started);
    let started = Instant::now();
    push_stage(project, context, progress, report).await?;
    report.events = relay_events(project, context, progress).await?;
    report.timed("push", started);
    Ok(())
}

/// Sends the tier events not yet delivered, with `[events]` configured.
async fn relay_events(
    project: &Project,
    context: &SourceContext,
    progress: &ProgressBar,
) -> Result<Option<push::EventsReport>, StoreError> {
    let Some(relay) = &project.events else {
        return Ok(None);
    };
    progress.set_message(format!("sending tier events to {}", relay.url()));
    let report = push::relay_tier_events(context.store.as_ref(), context, relay).await?;
    Ok(Some(report))
}

/// Tiers every golden customer again and pushes the labels: what follows a
/// steward's decision, which has already recomputed the golden customers.
pub async fn run_retier(
    project: &Project,
    context: &SourceContext,
    progress: &ProgressBar,
) -> Result<RunReport, RunError> {
    record_run(&context.store, "retier", |run_id| async move {
        let mut report = RunReport {
            run_id,
            ..RunReport::default()
        };
        tier_and_push(project, context, progress, &mut report).await?;
        progress.finish_and_clear();
        Ok(report)
    })
    .await
}

/// Pushes labels (every connector with a `[push]` sink, or only `only`)
/// and, when all are pushed, the tier events not yet delivered, as a run
/// of its own in the run log.
pub async fn run_push(
    project: &Project,
    context: &SourceContext,
    only: Option<&str>,
    progress: &ProgressBar,
) -> Result<RunReport, RunError> {
    record_run(&context.store, "push", |run_id| async move {
        let push = push_all(
            project,
            context,
            only,
            &push::PushOptions::default(),
            progress,
        )
        .await?;
        let events = match only {
            None => relay_events(project, context, progress).await?,
            Some(_) => None,
        };
        progress.finish_and_clear();
        Ok(RunReport {
            run_id,
            push,
            events,
            ..RunReport::default()
        })
    })
    .await
}

/// Syncs and maps one connector; with `full`, its cursors are reset first
/// so everything is read again (unchanged records stay unchanged).
pub async fn run_sync(
    project: &Project,
    store: &Arc<dyn Store>,
    connector_id: &str,
    full: bool,
    progress: &ProgressBar,
) -> Result<RunReport, RunError> {
    let context = SourceContext::new(store.clone());
    run_sync_in(project, &context, connector_id, full, progress).await
}

/// [`run_sync`] with the caller's context (its rate limiters and shutdown).
pub async fn run_sync_in(
    project: &Project,
    context: &SourceContext,
    connector_id: &str,
    full: bool,
    progress: &ProgressBar,
) -> Result<RunReport, RunError> {
    record_run(
        &context.store,
        &format!("sync:{connector_id}"),
        |run_id| async move {
            let mut report = RunReport {
                run_id,
                ..RunReport::default()
            };
            if full {
                context.store.reset_cursors(connector_id).await?;
            }
            ingest_stages(
                project,
                context,
                Scope::Connector(connector_id),
                progress,
                &mut report,
            )
            .await?;
            progress.finish_and_clear();
            Ok(report)
        },
    )
    .await
}

/// Records a run in the run log around `work`, with its outcome.
async fn record_run<F, Fut>(
    store: &Arc<dyn Store>,
    kind: &str,
    work: F,
) -> Result<RunReport, RunError>
where
    F: FnOnce(i64) -> Fut,
    Fut: std::future::Future<Output = Result<RunReport, RunError>>,
{
    let run_id = store.start_run(kind).await?;
    let result = work(run_id).await;
    let (status, summary) = match &result {
        Ok(report) if report.succeeded() => (
            "succeeded",
            serde_json::to_value(report).unwrap_or_default(),
        ),
        Ok(report) => ("partial", serde_json::to_value(report).unwrap_or_default()),
        Err(error) => ("failed", serde_json::json!({ "error": error.to_string() })),
    };
    store.finish_run(run_id, status, &summary).await?;
    result
}

/// Sync then map: what every run does first.
async fn ingest_stages(
    project: &Project,
    context: &SourceContext,
    scope: Scope<'_>,
    progress: &ProgressBar,
    report: &mut RunReport,
) -> Result<(), RunError> {
    let started = Instant::now();
    sync_stage(project, context, scope, progress, report).await?;
    report.timed("sync", started);
    let started = Instant::now();
    map_stage(project, &context.store, scope, progress, report).await?;
    report.timed("map", started);
    Ok(())
}

async fn sync_stage(
    project: &Project,
    context: &SourceContext,
    scope: Scope<'_>,
    progress: &ProgressBar,
    report: &mut RunReport,
) -> Result<(), RunError> {
    for connector in project
        .connectors
        .iter()
        .filter(|connector| scope.includes(&connector.id))
    {
        let started = Instant::now();
        let synced = sync_connector(context, connector, progress, report.run_id).await;
        report
            .sync_seconds
            .insert(connector.id.clone(), started.elapsed().as_secs_f64());
        match synced {
            Ok(streams) => {
                report.sync.insert(connector.id.clone(), streams);
            }
            Err(SyncError::Connector(error)) => {
                tracing::warn!(connector = %connector.id, %error, "connector failed; the run goes on without it");
                report.failed_connectors.insert(connector.id.clone(), error);
            }
            Err(SyncError::Store(error)) => return Err(error.into()),
        }
    }
    Ok(())
}

/// Maps every staged record not yet mapped with its current mapping.
async fn map_stage(
    project: &Project,
    store: &Arc<dyn Store>,
    scope: Scope<'_>,
    progress: &ProgressBar,
    report: &mut RunReport,
) -> Result<(), RunError> {
    progress.set_message("mapping records");
    for (connector_id, mapping) in project.mappings.iter().filter(|(id, _)| scope.includes(id)) {
        for stream in mapping.streams.keys() {
            loop {
                let pending = store
                    .pending_mapping(connector_id, stream, &mapping.version, MAPPING_BATCH)
                    .await?;
                if pending.is_empty() {
                    break;
                }
                let mapped: Vec<MappedRecord> = pending
                    .into_iter()
                    .map(|record| MappedRecord {
                        outcome: mapping.map_record(
                            connector_id,
                            stream,
                            &record.source_id,
                            &record.raw,
                        ),
                        source_id: record.source_id,
                        content_hash: record.content_hash,
                        raw: record.raw,
                    })
                    .collect();
                let (ok, rejected) = store
                    .save_mapped(
                        report.run_id,
                        connector_id,
                        stream,
                        &mapping.version,
                        &mapped,
                    )
                    .await?;
                report.mapped += ok;
                report.mapping_rejected += rejected;
                progress.inc(ok + rejected);
            }
        }
    }
    Ok(())
}

/// Resolves parties into golden customers, honouring every steward
/// decision, with the survivorship rules of `golden.toml`: in full, or
/// through `index`.
async fn resolve_stage(
    project: &Project,
    store: &Arc<dyn Store>,
    index: Option<&SharedIndex>,
    progress: &ProgressBar,
    report: &mut RunReport,
) -> Result<(), RunError> {
    progress.set_message("resolving customers");
    let rules = steward::ResolutionRules::load(&project.base_dir)?;
    let outcome = match index {
        Some(index) => steward::resolve_with_index(store.as_ref(), &rules, index).await?,
        None => steward::resolve_customers(store.as_ref(), &rules).await?,
    };
    report.parties = outcome.parties;
    report.golden_customers = outcome.golden_customers;
    report.golden_changed = outcome.changes.upserted;
    report.links_changed = outcome.changes.links;
    report.merged = outcome.changes.merged.len();
    Ok(())
}

async fn segment_stage(
    project: &Project,
    store: &Arc<dyn Store>,
    progress: &ProgressBar,
    report: &mut RunReport,
) -> Result<(), RunError> {
    progress.set_message("tiering customers");
    let population = segment::Population::load(store.as_ref()).await?;
    let plan = segment::plan_tiers(
        &project.tiers,
        &population.golden_ids,
        &population.activities(),
        &store.tier_assignments().await?,
        &store.tier_entered_at().await?,
        evaluation_time(project),
    )
    .map_err(RunError::Rules)?;
    let limit = project.tiers.dynamics.max_change_share;
    if plan.exceeds_change_limit(limit) {
        let (moving, share) = plan.change_share();
        return Err(RunError::Rules(format!(
            "{moving} customers ({:.1}%) would change tier, more than max_change_share = {limit} in {}; \
             check with `tierlink segment --dry-run`, then apply with `tierlink segment --force`",
            share * 100.0,
            project.tiers.file.display()
        )));
    }
    let tier_changes = plan.changes(Utc::now());
    report.tiers_changed = tier_changes.len();
    if !tier_changes.is_empty() {
        store.save_tier_changes(&tier_changes).await?;
    }
    for assignment in store.tier_assignments().await? {
        *report.tier_distribution.entry(assignment.tier).or_default() += 1;
    }
    Ok(())
}

async fn push_stage(
    project: &Project,
    context: &SourceContext,
    progress: &ProgressBar,
    report: &mut RunReport,
) -> Result<(), RunError> {
    report.push = push_all(
        project,
        context,
        None,
        &push::PushOptions::default(),
        progress,
    )
    .await?;
    Ok(())
}

/// Pushes the labels of every connector with a `[push]` sink (or only
/// `only`), one report per connector.
pub async fn push_all(
    project: &Project,
    context: &SourceContext,
    only: Option<&str>,
    options: &push::PushOptions,
    progress: &ProgressBar,
) -> Result<Vec<push::SinkReport>, StoreError> {
    let mut reports = Vec::new();
    for connector in &project.connectors {
        if only.is_some_and(|id| id != connector.id) {
            continue;
        }
        let Some(settings) = &connector.push else {
            continue;
        };
        progress.set_message(format!("pushing labels to {}", connector.id));
        let report = push::push_connector(
            context,
            connector,
            settings,
            &project.tiers,
            options,
            progress,
        )
        .await?;
        for error in &report.errors {
            tracing::warn!(connector = %connector.id, %error, "a label was not delivered");
        }
        reports.push(report);
    }
    Ok(reports)
}

enum SyncError {
    Connector(ConnectorError),
    Store(StoreError),
}

/// Pulls every stream of a connector into the staging tables.
async fn sync_connector(
    context: &SourceContext,
    connector: &ConnectorConfig,
    progress: &ProgressBar,
    run_id: i64,
) -> Result<BTreeMap<String, StageCounts>, SyncError> {
    let store = &context.store;
    let mut streams = BTreeMap::new();
    for stream in connector.source.streams() {
        progress.set_message(format!("syncing {}/{stream}", connector.id));
        let cursor = store
            .cursor(&connector.id, &stream)
            .await
            .map_err(SyncError::Store)?;
        let (sender, mut batches) = mpsc::channel(4);
        let source = connector.source.clone();
        let stream_name = stream.clone();
        let task_context = context.clone();
        let pull = tokio::spawn(async move {
            source
                .pull(&task_context, &stream_name, cursor, sender)
                .await
        });
        let mut counts = StageCounts::default();
        while let Some(batch) = batches.recv().await {
            let staged = store
                .stage_batch(run_id, &connector.id, &stream, &batch)
                .await
                .map_err(SyncError::Store)?;
            progress.inc(staged.fetched);
            counts.add(staged);
        }
        match pull.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(SyncError::Connector(error)),
            Err(join_error) => {
                return Err(SyncError::Connector(ConnectorError::internal(format!(
                    "the connector task failed: {join_error}"
                ))))
            }
        }
        streams.insert(stream, counts);
    }
    Ok(streams)
}
