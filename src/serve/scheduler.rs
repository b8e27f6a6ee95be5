//! Cron schedules: the pipeline's full and incremental runs from
//! `[schedule]` in `tierlink.toml`, and a connector's own sync from the
//! `schedule` of its file. Expressions have seconds
//! (`sec min hour day-of-month month day-of-week`) and are read in UTC.
//!
//! Time comes from a [`Clock`]: the system's in service, and one that
//! follows tokio's (pausable) clock in tests, so a day of schedules runs in
//! milliseconds.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::jobs::Job;
use crate::config::Project;
use crate::pipeline::RunKind;

/// One job on a schedule.
#[derive(Debug, Clone)]
pub struct Scheduled {
    pub job: Job,
    pub expression: String,
    schedule: cron::Schedule,
}

impl Scheduled {
    /// The first time after `after` the job is due.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.after(&after).next()
    }
}

/// A job's schedule as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleView {
    pub name: String,
    pub schedule: String,
    pub next_run: Option<DateTime<Utc>>,
}

/// Every scheduled job of the project. The expressions were checked when
/// the project loaded; one that does not parse is left out with a warning.
pub fn schedules(project: &Project) -> Vec<Scheduled> {
    let pipeline = [
        (RunKind::Full, &project.settings.schedule.full),
        (RunKind::Incremental, &project.settings.schedule.incremental),
    ]
    .into_iter()
    .filter_map(|(kind, expression)| Some((Job::Pipeline(kind), expression.clone()?)));
    let connectors = project.connectors.iter().filter_map(|connector| {
        Some((Job::Sync(connector.id.clone()), connector.schedule.clone()?))
    });
    pipeline
        .chain(connectors)
        .filter_map(|(job, expression)| match cron::Schedule::from_str(&expression) {
            Ok(schedule) => Some(Scheduled {
                job,
                expression,
                schedule,
            }),
            Err(error) => {
                tracing::warn!(job = %job.name(), %expression, %error, "not a cron expression; not scheduled");
                None
            }
        })
        .collect()
}

/// Where the time comes from.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The system's wall clock.
    System,
    /// `start` at the moment `at`, then moving with tokio's clock.
    Following {
        start: DateTime<Utc>,
        at: tokio::time::Instant,
    },
}

impl Clock {
    /// A clock that reads `start` now and moves with tokio's clock.
    pub fn starting_at(start: DateTime<Utc>) -> Clock {
        Clock::Following {
            start,
            at: tokio::time::Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Following { start, at } => {
                *start + chrono::Duration::from_std(at.elapsed()).unwrap_or(chrono::Duration::MAX)
            }
        }
    }
}

/// Fires each scheduled job when it is due, until `shutdown`. A job due
/// while it still runs is handled by `fire` (the job runner queues it once).
/// Times missed while the process was down are not made up.
pub async fn run_schedules(
    scheduled: Vec<Scheduled>,
    clock: Clock,
    shutdown: CancellationToken,
    fire: impl Fn(&Job),
) {
    let now = clock.now();
    let mut due: Vec<(Option<DateTime<Utc>>, Scheduled)> = scheduled
        .into_iter()
        .map(|job| (job.next_after(now), job))
        .collect();
    loop {
        let Some(next) = due.iter().filter_map(|(at, _)| *at).min() else {
            shutdown.cancelled().await;
            return;
        };
        let wait = (next - clock.now()).to_std().unwrap_or_default();
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        let now = clock.now();
        for (at, job) in &mut due {
            if at.is_some_and(|at| at <= now) {
                fire(&job.job);
                *at = job.next_after(now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    fn scheduled(job: Job, expression: &str) -> Scheduled {
        Scheduled {
            job,
            expression: expression.to_string(),
            schedule: cron::Schedule::from_str(expression).unwrap(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn jobs_fire_when_due_on_a_paused_clock() {
        let start = DateTime::parse_from_rfc3339("2026-11-23T23:58:30Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = Clock::starting_at(start);
        type Fired = Vec<(String, DateTime<Utc>)>;
        let fired: Arc<Mutex<Fired>> = Arc::default();
        let shutdown = CancellationToken::new();
        let task = {
            let fired = fired.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(run_schedules(
                vec![
                    scheduled(Job::Pipeline(RunKind::Incremental), "0 */5 * * * *"),
                    scheduled(Job::Pipeline(RunKind::Full), "0 0 2 * * *"),
                    scheduled(Job::Sync("crm".into()), "30 0 0 * * *"),
                ],
                clock,
                shutdown,
                move |job| fired.lock().unwrap().push((job.name(), clock.now())),
            ))
        };
        // 02:10 of the next day: 27 incremental runs (00:00 ... 02:10),
        // the full run at 02:00 and the connector at 00:00:30.
        tokio::time::sleep(Duration::from_secs(2 * 3600 + 11 * 60 + 40)).await;
        shutdown.cancel();
        task.await.unwrap();
        let fired = fired.lock().unwrap();
        let count = |name: &str| fired.iter().filter(|(job, _)| job == name).count();
        assert_eq!(count("incremental"), 27);
        assert_eq!(count("full"), 1);
        assert_eq!(count("sync:crm"), 1);
        let full_at = fired.iter().find(|(job, _)| job == "full").unwrap().1;
        assert_eq!(full_at.to_rfc3339(), "2026-11-24T02:00:00+00:00");
        assert!(fired.windows(2).all(|pair| pair[0].1 <= pair[1].1));
    }

    #[tokio::test(start_paused = true)]
    async fn without_schedules_it_waits_for_shutdown() {
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run_schedules(
            Vec::new(),
            Clock::starting_at(Utc::now()),
            shutdown.clone(),
            |_| panic!("nothing is scheduled"),
        ));
        tokio::time::sleep(Duration::from_secs(86_400)).await;
        assert!(!task.is_finished());
        shutdown.cancel();
        task.await.unwrap();
    }
}
