//! `tierlink serve`: one process running the HTTP API, the web UI, the
//! Prometheus metrics and the scheduler. Every route calls the same library
//! functions as the CLI (the steward, the pipeline, push); nothing here
//! re-implements them.
//!
//! - [`auth`]: bearer tokens and roles;
//! - [`api`]: the JSON API under `/api/v1`, described by `/api/openapi.json`;
//! - [`jobs`] and [`scheduler`]: runs on schedule and on demand;
//! - [`metrics`]: the Prometheus metrics at `/metrics`;
//! - [`ui`]: the embedded web UI at `/`.

mod api;
pub mod auth;
mod error;
pub mod jobs;
mod mask;
pub mod metrics;
pub mod scheduler;
mod ui;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tokio::time::Instant;

use crate::config::Project;
use crate::connectors::SourceContext;
use crate::steward::{ResolutionRules, SharedIndex};
use crate::store::Store;
use auth::Tokens;
use jobs::{Job, JobRunner};
use metrics::Metrics;
use scheduler::{Clock, Scheduled};

/// How long shutdown waits for the running job before abandoning it.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// What every request handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub project: Arc<Project>,
    pub store: Arc<dyn Store>,
    pub resolution: Arc<ResolutionRules>,
    /// Kept between steward decisions and pipeline runs so each resolves
    /// only the records it changed or that were saved since.
    pub index: Arc<SharedIndex>,
    pub tokens: Arc<Tokens>,
    pub jobs: Arc<JobRunner>,
    pub schedules: Arc<Vec<Scheduled>>,
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
    /// The context jobs run in; its rate limiters count throttling.
    pub context: SourceContext,
}

impl AppState {
    /// The state for `project` on `store`, with jobs that run the pipeline.
    pub fn new(
        project: Project,
        store: Arc<dyn Store>,
        clock: Clock,
    ) -> Result<AppState, crate::golden::rules::RulesError> {
        let resolution = ResolutionRules::load(&project.base_dir)?;
        let project = Arc::new(project);
        let context = SourceContext::new(store.clone());
        let metrics = Arc::new(Metrics::default());
        let index = Arc::new(SharedIndex::default());
        let jobs = Arc::new(JobRunner::new(
            jobs::pipeline_work(project.clone(), context.clone(), index.clone()),
            metrics.clone(),
            context.shutdown.clone(),
        ));
        Ok(AppState {
            tokens: Arc::new(Tokens::new(&project.settings.server.tokens)),
            schedules: Arc::new(scheduler::schedules(&project)),
            project,
            store,
            resolution: Arc::new(resolution),
            index,
            jobs,
            clock,
            metrics,
            context,
        })
    }
}

/// Every route: the API, metrics, health, the OpenAPI document and the UI.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(api::routes())
        .merge(ui::routes())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

/// Counts and times every request by its route pattern (never by its
/// concrete path, which would carry ids and search terms into metrics).
async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let route = format!("{method} {route}");
    state.metrics.observe(
        "tierlink_http_request_seconds",
        vec![("route", route.clone())],
        started.elapsed().as_secs_f64(),
    );
    state.metrics.add(
        "tierlink_http_requests_total",
        vec![
            ("route", route),
            ("status", response.status().as_u16().to_string()),
        ],
        1.0,
    );
    response
}

/// Runs the service until `shutdown` completes: indexes customers for
/// search if the store predates search, starts the scheduler, serves on
/// `listener`, then stops the scheduler and lets the running job finish
/// (within [`SHUTDOWN_GRACE`]).
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let indexed = state.store.index_customers_for_search().await?;
    if indexed > 0 {
        tracing::info!(customers = indexed, "indexed customers for search");
    }
    let stop = state.context.shutdown.clone();
    let scheduler = {
        let jobs = state.jobs.clone();
        tokio::spawn(scheduler::run_schedules(
            state.schedules.as_ref().clone(),
            state.clock,
            stop.clone(),
            move |job: &Job| {
                if let Err(refused) = jobs.start(job.clone()) {
                    tracing::warn!(job = %job.name(), %refused, "scheduled job not started");
                }
            },
        ))
    };
    let jobs = state.jobs.clone();
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            stop.cancel();
        })
        .await?;
    scheduler.await.ok();
    if !jobs.shut_down(SHUTDOWN_GRACE).await {
        tracing::warn!(
            "the running job did not finish within {SHUTDOWN_GRACE:?}; it is abandoned and the next run finishes its work"
        );
    }
    Ok(())
}
