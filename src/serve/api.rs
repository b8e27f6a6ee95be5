//! The JSON API under `/api/v1`, health, readiness, metrics and the
//! OpenAPI document (`openapi.json`, kept in step with [`routes`] by a
//! test). Reads need any role; steward actions the steward role; runs,
//! syncs and verification the admin role. Phones and e-mails are masked
//! for viewers.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{Duration, NaiveDate};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::ApiError;
use super::jobs::{Job, Refused};
use super::mask::mask_contacts;
use super::metrics::Gauge;
use super::AppState;
use crate::config::{ConnectorConfig, Role};
use crate::golden::search::query_prefix;
use crate::pipeline::RunKind;
use crate::segment::plan::NO_TIER;
use crate::segment::report as tier_report;
use crate::steward::{self, DecisionOutcome, Steward};

/// The OpenAPI 3.1 document of every route below.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Largest page any list returns.
const MAX_LIMIT: i64 = 500;

type ApiResult<T> = Result<T, ApiError>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(openapi))
        .route("/api/v1/me", get(me))
        .route("/api/v1/connectors", get(connectors))
        .route("/api/v1/connectors/{id}/check", post(check_connector))
        .route("/api/v1/connectors/{id}/sync", post(sync_connector))
        .route("/api/v1/jobs", get(jobs))
        .route("/api/v1/runs", get(runs).post(start_run))
        .route("/api/v1/customers", get(search_customers))
        .route("/api/v1/customers/merge", post(merge_customers))
        .route("/api/v1/customers/{id}", get(customer))
        .route("/api/v1/customers/{id}/split", post(split_customer))
        .route("/api/v1/customers/{id}/fields/{field}", put(set_field))
        .route("/api/v1/review", get(review_queue))
        .route("/api/v1/review/{id}", get(review_item))
        .route("/api/v1/review/{id}/accept", post(accept_review))
        .route("/api/v1/review/{id}/reject", post(reject_review))
        .route("/api/v1/decisions", get(decisions))
        .route("/api/v1/decisions/{id}/undo", post(undo_decision))
        .route("/api/v1/tiers", get(tiers))
        .route("/api/v1/tiers/migration", get(tier_migration))
        .route("/api/v1/tiers/history", get(tier_history))
        .route("/api/v1/push", get(push_status))
        .route("/api/v1/push/dead-letters", get(dead_letters))
        .route("/api/v1/push/verify", post(verify_push))
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the store answers.
async fn ready(State(state): State<AppState>) -> Response {
    match state.store.recent_runs(1).await {
        Ok(_) => Json(json!({ "status": "ready" })).into_response(),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "error": error.to_string() })),
        )
            .into_response(),
    }
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// Prometheus metrics: what runs and requests counted, and the sizes of
/// the queues and tables read now.
async fn metrics(State(state): State<AppState>) -> ApiResult<Response> {
    for (key, count) in state.context.limiters.throttled() {
        state.metrics.set_total(
            "tierlink_rate_limited_total",
            vec![("credential", key)],
            count as f64,
        );
    }
    let status = state.store.status().await?;
    let gauge = |name, labels, value: i64| Gauge {
        name,
        labels,
        value: value as f64,
    };
    let mut gauges = vec![
        gauge("tierlink_golden_customers", vec![], status.golden_customers),
        gauge(
            "tierlink_review_queue_open",
            vec![],
            state.store.open_review_count().await?,
        ),
    ];
    for (tier, count) in &status.tiers {
        gauges.push(gauge(
            "tierlink_customers_by_tier",
            vec![("tier", tier.clone())],
            *count,
        ));
    }
    for (connector, counts) in &status.connectors {
        gauges.push(gauge(
            "tierlink_rejected_records",
            vec![("connector", connector.clone())],
            counts.rejected,
        ));
    }
    for push in state.store.push_status().await? {
        for (ledger_status, rows) in &push.rows {
            gauges.push(gauge(
                "tierlink_push_ledger_rows",
                vec![
                    ("connector", push.connector.clone()),
                    ("status", ledger_status.as_str().to_string()),
                ],
                *rows,
            ));
        }
        gauges.push(gauge(
            "tierlink_dead_letters_open",
            vec![("connector", push.connector.clone())],
            push.open_dead_letters,
        ));
    }
    for (name, job) in state.jobs.states() {
        gauges.push(gauge(
            "tierlink_job_running",
            vec![("job", name)],
            i64::from(job.running),
        ));
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(&gauges),
    )
        .into_response())
}

async fn me(caller: Caller) -> Json<Caller> {
    Json(caller)
}

fn connector<'a>(state: &'a AppState, id: &str) -> ApiResult<&'a ConnectorConfig> {
    state
        .project
        .connector(id)
        .ok_or_else(|| ApiError::not_found(format!("there is no connector {id:?}")))
}

async fn connectors(State(state): State<AppState>, _caller: Caller) -> ApiResult<Json<Value>> {
    let status = state.store.status().await?;
    let list: Vec<Value> = state
        .project
        .connectors
        .iter()
        .map(|connector| {
            json!({
                "id": connector.id,
                "type": connector.kind,
                "description": connector.description,
                "streams": connector.source.streams(),
                "sink": connector.push.as_ref().map(|push| push.kind.clone()),
                "schedule": connector.schedule,
                "counts": status.connectors.get(&connector.id).copied().unwrap_or_default(),
            })
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

/// Tests the connection and reads a sample, writing nothing.
async fn check_connector(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Role::Admin)?;
    let connector = connector(&state, &id)?;
    Ok(Json(match connector.source.check(&state.context).await {
        Ok(report) => json!({
            "ok": true,
            "streams": report.streams.into_iter().collect::<BTreeMap<_, _>>(),
        }),
        Err(error) => json!({ "ok": false, "error": error.to_string(), "domain": error.domain }),
    }))
}

fn started(job: &Job, result: Result<(), Refused>) -> ApiResult<Response> {
    match result {
        Ok(()) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "job": job.name(), "started": true })),
        )
            .into_response()),
        Err(refused) => Err(ApiError::new(StatusCode::CONFLICT, refused.to_string())),
    }
}

async fn sync_connector(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    connector(&state, &id)?;
    let job = Job::Sync(id);
    started(&job, state.jobs.start(job.clone()))
}

/// Every job, with its schedule, next run and whether it runs now.
async fn jobs(State(state): State<AppState>, _caller: Caller) -> Json<Value> {
    let states = state.jobs.states();
    let now = state.clock.now();
    let names = ["full", "incremental", "retier", "push"]
        .into_iter()
        .map(str::to_string)
        .chain(
            state
                .project
                .connectors
                .iter()
                .map(|connector| format!("sync:{}", connector.id)),
        );
    let list: Vec<Value> = names
        .map(|name| {
            let scheduled = state.schedules.iter().find(|job| job.job.name() == name);
            let job_state = states.get(&name).copied().unwrap_or_default();
            json!({
                "name": name,
                "schedule": scheduled.map(|job| job.expression.clone()),
                "next_run": scheduled.and_then(|job| job.next_after(now)),
                "running": job_state.running,
                "waiting": job_state.waiting,
            })
        })
        .collect();
    Json(Value::Array(list))
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<i64>,
}

impl Limit {
    fn or(&self, default: i64) -> i64 {
        self.limit.unwrap_or(default).clamp(1, MAX_LIMIT)
    }
}

async fn runs(
    State(state): State<AppState>,
    _caller: Caller,
    Query(limit): Query<Limit>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        serde_json::to_value(state.store.recent_runs(limit.or(20)).await?).unwrap_or_default(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunRequest {
    kind: String,
}

async fn start_run(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<RunRequest>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let job = match request.kind.as_str() {
        "full" => Job::Pipeline(RunKind::Full),
        "incremental" => Job::Pipeline(RunKind::Incremental),
        "retier" => Job::Retier,
        "push" => Job::Push,
        other => {
            return Err(ApiError::bad_request(format!(
                "kind {other:?} is not a run; use full, incremental, retier or push"
            )))
        }
    };
    started(&job, state.jobs.start(job.clone()))
}

/// A value as the caller may see it.
fn shown<T: serde::Serialize>(caller: &Caller, value: &T) -> Json<Value> {
    let mut value = serde_json::to_value(value).unwrap_or_default();
    if !caller.sees_contacts() {
        mask_contacts(&mut value);
    }
    Json(value)
}

#[derive(Deserialize)]
struct Search {
    q: Option<String>,
    tier: Option<String>,
    limit: Option<i64>,
}

/// Customers by name, phone, e-mail, company or id (prefix), in a tier.
async fn search_customers(
    State(state): State<AppState>,
    caller: Caller,
    Query(search): Query<Search>,
) -> ApiResult<Json<Value>> {
    let query = search.q.as_deref().unwrap_or("");
    let prefix = query_prefix(query);
    if prefix.is_none() && !query.trim().is_empty() {
        return Ok(Json(json!({ "customers": [] })));
    }
    let tier = search.tier.as_deref().filter(|tier| !tier.is_empty());
    let limit = Limit {
        limit: search.limit,
    }
    .or(50);
    let hits = state
        .store
        .search_customers(prefix.as_deref(), tier, limit)
        .await?;
    let customers: Vec<Value> = hits
        .into_iter()
        .map(|hit| {
            let field = |name: &str| hit.fields.get(name).cloned().unwrap_or(Value::Null);
            json!({
                "golden_id": hit.golden_id,
                "name": field("name"),
                "company": field("company"),
                "phones": hit.fields.get("phones").cloned().unwrap_or_else(|| json!([])),
                "emails": hit.fields.get("emails").cloned().unwrap_or_else(|| json!([])),
                "tier": hit.tier,
                "records": hit.records,
            })
        })
        .collect();
    Ok(shown(&caller, &json!({ "customers": customers })))
}

/// The 360 view.
async fn customer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let view = steward::customer_view(state.store.as_ref(), &id).await?;
    Ok(shown(&caller, &view))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: Option<String>,
}

/// The body of a decision: none, `null`, or an object with a reason.
type ReasonBody = Option<Json<Option<Reason>>>;

fn reason(body: ReasonBody) -> Option<String> {
    body.and_then(|Json(body)| body?.reason)
        .filter(|reason| !reason.trim().is_empty())
}

/// A steward decision made: the golden customers are recomputed already;
/// tiers and labels follow in a re-tier job.
fn decided(state: &AppState, outcome: DecisionOutcome) -> Json<DecisionOutcome> {
    if let Err(refused) = state.jobs.start(Job::Retier) {
        tracing::info!(%refused, "re-tier after a decision not started");
    }
    Json(outcome)
}

fn steward<'a>(state: &'a AppState, caller: &'a Caller) -> ApiResult<Steward<'a>> {
    caller.require(Role::Steward)?;
    Ok(Steward {
        store: state.store.as_ref(),
        rules: &state.resolution,
        actor: &caller.name,
        index: Some(&state.index),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MergeRequest {
    golden_ids: Vec<String>,
    reason: Option<String>,
}

async fn merge_customers(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<MergeRequest>,
) -> ApiResult<Json<DecisionOutcome>> {
    let outcome = steward(&state, &caller)?
        .merge(&request.golden_ids, request.reason)
        .await?;
    Ok(decided(&state, outcome))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SplitRequest {
    /// The records that leave, as `connector/source_id`.
    records: Vec<String>,
    reason: Option<String>,
}

async fn split_customer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(request): Json<SplitRequest>,
) -> ApiResult<Json<DecisionOutcome>> {
    let leaving = request
        .records
        .iter()
        .map(|text| steward::parse_party_key(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| ApiError::bad_request(error.to_string()))?;
    let outcome = steward(&state, &caller)?
        .split(&id, &leaving, request.reason)
        .await?;
    Ok(decided(&state, outcome))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetFieldRequest {
    /// Text, or a list of text for phones and e-mails.
    value: Value,
    reason: Option<String>,
}

async fn set_field(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, field)): Path<(String, String)>,
    Json(request): Json<SetFieldRequest>,
) -> ApiResult<Json<DecisionOutcome>> {
    let outcome = steward(&state, &caller)?
        .set_field(&id, &field, request.value, request.reason)
        .await?;
    Ok(decided(&state, outcome))
}

async fn review_queue(
    State(state): State<AppState>,
    _caller: Caller,
    Query(limit): Query<Limit>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!({
        "open": state.store.open_review_count().await?,
        "items": state.store.open_review_items(limit.or(50)).await?,
    })))
}

/// A review item with its two records side by side and the golden
/// customers they belong to now.
async fn review_item(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let item = state
        .store
        .review_item(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no review item {id}")))?;
    let keys = [item.candidate.left.clone(), item.candidate.right.clone()];
    let parties = state.store.parties_by_keys(&keys).await?;
    let party = |key| parties.iter().find(|party| &party.key() == key);
    let left_golden_id = state.store.golden_id_of(&keys[0]).await?;
    let right_golden_id = state.store.golden_id_of(&keys[1]).await?;
    Ok(shown(
        &caller,
        &json!({
            "item": item,
            "left": party(&keys[0]),
            "right": party(&keys[1]),
            "left_golden_id": left_golden_id,
            "right_golden_id": right_golden_id,
        }),
    ))
}

async fn accept_review(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    body: ReasonBody,
) -> ApiResult<Json<DecisionOutcome>> {
    let outcome = steward(&state, &caller)?.accept(id, reason(body)).await?;
    Ok(decided(&state, outcome))
}

async fn reject_review(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    body: ReasonBody,
) -> ApiResult<Json<DecisionOutcome>> {
    let outcome = steward(&state, &caller)?.reject(id, reason(body)).await?;
    Ok(decided(&state, outcome))
}

async fn decisions(State(state): State<AppState>, _caller: Caller) -> ApiResult<Json<Value>> {
    let decisions = state.store.decisions().await?;
    Ok(Json(Value::from(steward::decisions_with_state(&decisions))))
}

async fn undo_decision(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    body: ReasonBody,
) -> ApiResult<Json<DecisionOutcome>> {
    let outcome = steward(&state, &caller)?.undo(id, reason(body)).await?;
    Ok(decided(&state, outcome))
}

/// Tiers with their counts, the rules version and tiers per system.
async fn tiers(State(state): State<AppState>, _caller: Caller) -> ApiResult<Json<Value>> {
    let status = state.store.status().await?;
    let rules = &state.project.tiers;
    let tiers: Vec<Value> = rules
        .tiers
        .iter()
        .map(|tier| {
            json!({
                "key": tier.key,
                "name_en": tier.name_en,
                "name_zh": tier.name_zh,
                "goal": tier.goal,
                "actions": tier.actions,
                "label": tier.label,
                "count": status.tiers.get(&tier.key).copied().unwrap_or(0),
            })
        })
        .collect();
    Ok(Json(json!({
        "rules_version": rules.version,
        "default_tier": rules.default_tier,
        "total": status.golden_customers,
        "tiers": tiers,
        "by_source": state.store.tiers_by_connector().await?,
    })))
}

#[derive(Deserialize)]
struct Period {
    since: Option<NaiveDate>,
    days: Option<i64>,
}

/// Moves between tiers since a date (default: 90 days ago).
async fn tier_migration(
    State(state): State<AppState>,
    _caller: Caller,
    Query(period): Query<Period>,
) -> ApiResult<Json<Value>> {
    let now = state.clock.now();
    let since = match period.since {
        Some(date) => date.and_time(chrono::NaiveTime::MIN).and_utc(),
        None => now - Duration::days(period.days.unwrap_or(90).clamp(1, 3660)),
    };
    let history = state.store.tier_history_since(since).await?;
    let moves: Vec<Value> = tier_report::migration(&history, since)
        .into_iter()
        .flat_map(|(from, targets)| {
            targets.into_iter().map(move |(to, count)| {
                json!({
                    "from": (from != NO_TIER).then_some(from.clone()),
                    "to": to,
                    "count": count,
                })
            })
        })
        .collect();
    Ok(Json(json!({
        "since": since.date_naive(),
        "until": now.date_naive(),
        "moves": moves,
    })))
}

/// Tier changes per day, by the tier moved into.
async fn tier_history(
    State(state): State<AppState>,
    _caller: Caller,
    Query(period): Query<Period>,
) -> ApiResult<Json<Value>> {
    let days = period.days.unwrap_or(90).clamp(1, 3660);
    let since = state.clock.now() - Duration::days(days);
    let mut by_day: BTreeMap<NaiveDate, BTreeMap<String, usize>> = BTreeMap::new();
    for change in state.store.tier_history_since(since).await? {
        if change.from_tier.as_deref() == Some(change.assignment.tier.as_str()) {
            continue;
        }
        *by_day
            .entry(change.assignment.assigned_at.date_naive())
            .or_default()
            .entry(change.assignment.tier)
            .or_default() += 1;
    }
    let days: Vec<Value> = by_day
        .into_iter()
        .map(|(date, changes)| json!({ "date": date, "changes": changes }))
        .collect();
    Ok(Json(json!({ "days": days })))
}

async fn push_status(State(state): State<AppState>, _caller: Caller) -> ApiResult<Json<Value>> {
    Ok(Json(
        serde_json::to_value(state.store.push_status().await?).unwrap_or_default(),
    ))
}

#[derive(Deserialize)]
struct DeadLetterQuery {
    connector: Option<String>,
    /// Include delivered and dropped letters.
    all: Option<bool>,
    limit: Option<i64>,
}

async fn dead_letters(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<DeadLetterQuery>,
) -> ApiResult<Json<Value>> {
    let limit = Limit { limit: query.limit }.or(50) as usize;
    let mut letters = state
        .store
        .dead_letters(query.connector.as_deref(), !query.all.unwrap_or(false))
        .await?;
    letters.truncate(limit);
    Ok(shown(&caller, &letters))
}

#[derive(Deserialize)]
struct VerifyQuery {
    connector: Option<String>,
    /// Mark drifted records so the next push restores their labels, and
    /// start that push.
    repair: Option<bool>,
}

/// Reads the labels back from every readable sink and compares them with
/// the ledger.
async fn verify_push(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<VerifyQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(Role::Admin)?;
    let repair = query.repair.unwrap_or(false);
    let mut reports = Vec::new();
    let mut skipped = Vec::new();
    for config in &state.project.connectors {
        if query.connector.as_deref().is_some_and(|id| id != config.id) {
            continue;
        }
        let Some(settings) = &config.push else {
            continue;
        };
        if !settings.sink.readable() {
            skipped.push(json!({ "connector": config.id, "reason": format!("a {} sink cannot be read back", settings.kind) }));
            continue;
        }
        let report = crate::push::verify_connector(
            &state.context,
            config,
            settings,
            &state.project.tiers,
            repair,
        )
        .await
        .map_err(|error| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("connector {}: {error}", config.id),
            )
        })?;
        reports.push(report);
    }
    let repush = repair && reports.iter().any(|report| report.marked_for_repair > 0);
    if repush {
        if let Err(refused) = state.jobs.start(Job::Push) {
            tracing::info!(%refused, "push after repair not started");
        }
    }
    Ok(shown(
        &caller,
        &json!({ "reports": reports, "skipped": skipped, "push_started": repush }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route is in the OpenAPI document and every documented path is
    /// a route.
    #[test]
    fn the_openapi_document_describes_exactly_the_routes() {
        let document: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        assert_eq!(document["openapi"], "3.1.0");
        let documented: Vec<String> = document["paths"]
            .as_object()
            .expect("paths")
            .keys()
            .cloned()
            .collect();
        let source = include_str!("api.rs");
        let mut routed: Vec<String> = source
            .lines()
            .filter_map(|line| line.trim().strip_prefix(".route(\""))
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_string)
            .collect();
        routed.sort();
        let mut documented_sorted = documented.clone();
        documented_sorted.sort();
        assert_eq!(routed, documented_sorted);
    }
}
