//! The jobs `tierlink serve` runs, on schedule or on demand, one at a time.
//!
//! Every job writes the same tables, so jobs take turns in one lane. A job
//! is never run twice at once: asking for a job that is already waiting is
//! refused; asking for one that is running queues one more run after it
//! (so a steward's decision made during a re-tier is tiered too).
//! Shutdown cancels the shared context (a sync finishes its page, a push
//! its batches in flight), lets the current job end within a grace period,
//! and starts nothing more; a job cut off by the deadline is abandoned
//! with its open transaction, and the next run finishes its work.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::ProgressBar;
use serde::Serialize;
use tokio::time::Instant;

use super::metrics::Metrics;
use crate::config::Project;
use crate::connectors::SourceContext;
use crate::pipeline::{self, RunKind, RunReport};
use crate::steward::SharedIndex;

/// One job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// The whole pipeline (see [`RunKind`]).
    Pipeline(RunKind),
    /// Tiers and push only: what follows a steward's decision.
    Retier,
    /// Push labels to every system with a sink.
    Push,
    /// One connector's sync and mapping.
    Sync(String),
}

impl Job {
    /// The job's name in schedules, the API, the run log and metrics.
    pub fn name(&self) -> String {
        match self {
            Job::Pipeline(kind) => kind.name().to_string(),
            Job::Retier => "retier".to_string(),
            Job::Push => "push".to_string(),
            Job::Sync(connector) => format!("sync:{connector}"),
        }
    }
}

/// What a job ended with: the run log's status and the run's report.
pub struct JobOutcome {
    pub status: &'static str,
    pub report: Option<RunReport>,
}

/// The work behind each job; the real one runs the pipeline, tests count.
pub type Work = Arc<dyn Fn(Job) -> Pin<Box<dyn Future<Output = JobOutcome> + Send>> + Send + Sync>;

/// Why a job was not started.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error("{0} is already waiting to run")]
    AlreadyWaiting(String),
    #[error("the service is shutting down")]
    ShuttingDown,
}

/// Whether a job is running or waiting for its turn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct JobState {
    pub running: bool,
    pub waiting: bool,
}

/// Runs jobs one at a time.
pub struct JobRunner {
    work: Work,
    metrics: Arc<Metrics>,
    /// Held by the job that runs.
    lane: tokio::sync::Mutex<()>,
    states: Mutex<BTreeMap<String, JobState>>,
    shutdown: tokio_util::sync::CancellationToken,
}

impl JobRunner {
    pub fn new(
        work: Work,
        metrics: Arc<Metrics>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> JobRunner {
        JobRunner {
            work,
            metrics,
            lane: tokio::sync::Mutex::new(()),
            states: Mutex::new(BTreeMap::new()),
            shutdown,
        }
    }

    /// Starts `job` in the background, after the job running now if any.
    pub fn start(self: &Arc<Self>, job: Job) -> Result<(), Refused> {
        if self.shutdown.is_cancelled() {
            return Err(Refused::ShuttingDown);
        }
        let name = job.name();
        {
            let mut states = self.lock_states();
            let state = states.entry(name.clone()).or_default();
            if state.waiting {
                return Err(Refused::AlreadyWaiting(name));
            }
            state.waiting = true;
        }
        let runner = self.clone();
        tokio::spawn(async move { runner.run(job, name).await });
        Ok(())
    }

    async fn run(&self, job: Job, name: String) {
        let _turn = self.lane.lock().await;
        {
            let mut states = self.lock_states();
            let state = states.entry(name.clone()).or_default();
            state.waiting = false;
            if self.shutdown.is_cancelled() {
                return;
            }
            state.running = true;
        }
        tracing::info!(job = %name, "job started");
        let started = Instant::now();
        let outcome = (self.work)(job).await;
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(job = %name, status = outcome.status, seconds, "job finished");
        self.metrics
            .record_run(&name, outcome.status, seconds, outcome.report.as_ref());
        self.lock_states().entry(name).or_default().running = false;
    }

    /// Every job seen so far, by name.
    pub fn states(&self) -> BTreeMap<String, JobState> {
        self.lock_states().clone()
    }

    /// Stops starting jobs and waits up to `grace` for the running one.
    /// Whether it ended in time.
    pub async fn shut_down(&self, grace: Duration) -> bool {
        self.shutdown.cancel();
        tokio::time::timeout(grace, self.lane.lock()).await.is_ok()
    }

    fn lock_states(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, JobState>> {
        self.states
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The real work: each job runs its pipeline function with the service's
/// shared context (one HTTP client, rate limiters and shutdown). Pipeline
/// runs resolve through the service's resolution `index`, which steward
/// decisions use too: only the records saved since it last read them are
/// resolved again.
pub fn pipeline_work(
    project: Arc<Project>,
    context: SourceContext,
    index: Arc<SharedIndex>,
) -> Work {
    Arc::new(move |job| {
        let project = project.clone();
        let context = context.clone();
        let index = index.clone();
        Box::pin(async move {
            let progress = ProgressBar::hidden();
            let result = match &job {
                Job::Pipeline(kind) => {
                    pipeline::run_scheduled(&project, &context, *kind, Some(&index), &progress)
                        .await
                }
                Job::Retier => pipeline::run_retier(&project, &context, &progress).await,
                Job::Push => pipeline::run_push(&project, &context, None, &progress).await,
                Job::Sync(connector) => {
                    // New records arrive without being resolved: the next
                    // run or decision reads them into the index.
                    pipeline::run_sync_in(&project, &context, connector, false, &progress).await
                }
            };
            match result {
                Ok(report) => JobOutcome {
                    status: if report.succeeded() {
                        "succeeded"
                    } else {
                        "partial"
                    },
                    report: Some(report),
                },
                Err(error) => {
                    tracing::error!(job = %job.name(), %error, "job failed");
                    JobOutcome {
                        status: "failed",
                        report: None,
                    }
                }
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Work that takes a minute and records how many jobs ran at once.
    fn slow_work(active: Arc<AtomicUsize>, most: Arc<AtomicUsize>, done: Arc<AtomicUsize>) -> Work {
        Arc::new(move |_job| {
            let (active, most, done) = (active.clone(), most.clone(), done.clone());
            Box::pin(async move {
                let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(60)).await;
                active.fetch_sub(1, Ordering::SeqCst);
                done.fetch_add(1, Ordering::SeqCst);
                JobOutcome {
                    status: "succeeded",
                    report: None,
                }
            })
        })
    }

    #[tokio::test(start_paused = true)]
    async fn jobs_take_turns_and_one_job_waits_at_most_once() {
        let (active, most, done) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let runner = Arc::new(JobRunner::new(
            slow_work(active, most.clone(), done.clone()),
            Arc::new(Metrics::default()),
            Default::default(),
        ));
        runner.start(Job::Pipeline(RunKind::Full)).unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(runner.states()["full"].running);
        // Running: one more run may wait behind it, not two.
        runner.start(Job::Pipeline(RunKind::Full)).unwrap();
        assert_eq!(
            runner.start(Job::Pipeline(RunKind::Full)),
            Err(Refused::AlreadyWaiting("full".into()))
        );
        runner.start(Job::Sync("crm".into())).unwrap();
        tokio::time::sleep(Duration::from_secs(200)).await;
        assert_eq!(done.load(Ordering::SeqCst), 3);
        assert_eq!(most.load(Ordering::SeqCst), 1, "two jobs ran at once");
        assert_eq!(runner.states()["sync:crm"], JobState::default());
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_lets_the_running_job_finish_and_starts_nothing_more() {
        let (active, most, done) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let runner = Arc::new(JobRunner::new(
            slow_work(active, most, done.clone()),
            Arc::new(Metrics::default()),
            Default::default(),
        ));
        runner.start(Job::Push).unwrap();
        runner.start(Job::Retier).unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            !runner.shut_down(Duration::from_secs(10)).await,
            "a minute-long job ended in 10 s"
        );
        assert!(runner.shut_down(Duration::from_secs(120)).await);
        assert_eq!(runner.start(Job::Push), Err(Refused::ShuttingDown));
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert_eq!(
            done.load(Ordering::SeqCst),
            1,
            "the waiting job ran after shutdown"
        );
    }
}
