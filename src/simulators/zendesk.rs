//! A Zendesk Support simulator: incremental cursor exports of users (with
//! their organizations sideloaded on `include=organizations`) and tickets,
//! satisfaction ratings, single users and organizations, user tags and
//! custom user fields, with Zendesk's authentication, error bodies and per-minute rate
//! limits (see `shared/specs/source-apis.md` §3 and §8).
//!
//! Every endpoint answers with and without the `.json` suffix, as the real
//! API does (clients such as zenpy call the bare form). Records are kept as
//! the JSON objects the real API returns; an index on `(updated_at, id)`
//! gives the incremental exports their order and their cursors.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::{FaultKind, RunningSimulator, SimCore, World, WorldError};

/// The Zendesk account the simulator serves: its credentials and its
/// records in the real API's shapes.
#[derive(Debug, Clone)]
pub struct ZendeskData {
    /// The account's subdomain (`acme` of `acme.zendesk.com`).
    pub subdomain: String,
    /// The agent whose API token authenticates (`{email}/token`).
    pub email: String,
    pub api_token: String,
    /// User objects as the users export returns them.
    pub users: Vec<Value>,
    /// Ticket objects as the tickets export returns them.
    pub tickets: Vec<Value>,
    /// Satisfaction rating objects as `satisfaction_ratings.json` returns them.
    pub satisfaction_ratings: Vec<Value>,
    /// Organization objects, the firms users belong to (`organization_id`).
    pub organizations: Vec<Value>,
}

impl ZendeskData {
    /// Loads credentials from `world.json` and records from `zendesk/*.jsonl`
    /// (a world written before organizations were has none).
    pub fn from_world(world: &World) -> Result<Self, WorldError> {
        let credentials = world.credentials()?.zendesk;
        let organizations = "zendesk/organizations.jsonl";
        Ok(ZendeskData {
            subdomain: credentials.subdomain,
            email: credentials.email,
            api_token: credentials.api_token,
            users: world.read_jsonl("zendesk/users.jsonl")?,
            tickets: world.read_jsonl("zendesk/tickets.jsonl")?,
            satisfaction_ratings: world.read_jsonl("zendesk/satisfaction_ratings.jsonl")?,
            organizations: if world.path(organizations).exists() {
                world.read_jsonl(organizations)?
            } else {
                Vec::new()
            },
        })
    }
}

/// How the simulated account behaves. The defaults are Zendesk's own.
#[derive(Debug, Clone)]
pub struct ZendeskSettings {
    /// Account-wide requests per minute (700 on Enterprise plans); `None`
    /// switches the limit off, e.g. for benchmarks.
    pub requests_per_minute: Option<u32>,
    /// Requests per minute to the incremental export endpoints (10);
    /// `None` switches the limit off.
    pub incremental_requests_per_minute: Option<u32>,
    /// Largest `per_page` of an incremental export (1000).
    pub max_export_page: usize,
    /// Largest `page[size]` / `per_page` of the satisfaction ratings (100).
    pub max_ratings_page: usize,
    /// Changes younger than this are left out of the incremental exports
    /// (one minute on Zendesk). Tests that read their own writes set zero.
    pub export_delay: Duration,
    /// The custom user fields defined in the account (their keys). Keys a
    /// record already carries in `user_fields` are added to these; a
    /// `PUT users/{id}` ignores keys that are not defined, as Zendesk does.
    pub user_fields: Vec<String>,
    /// `Retry-After` seconds of a fault-injected 429 or 503.
    pub fault_retry_after_secs: u64,
    /// OAuth access token lifetime for `Bearer` tokens issued through
    /// [`ZendeskSimulator::issue_oauth_token`].
    pub oauth_token_lifetime: Duration,
}

impl Default for ZendeskSettings {
    fn default() -> Self {
        ZendeskSettings {
            requests_per_minute: Some(700),
            incremental_requests_per_minute: Some(10),
            max_export_page: 1000,
            max_ratings_page: 100,
            export_delay: Duration::from_secs(60),
            user_fields: vec!["customer_tier".to_string()],
            fault_retry_after_secs: 1,
            oauth_token_lifetime: Duration::from_secs(2 * 60 * 60),
        }
    }
}

impl ZendeskSettings {
    /// Defaults with both rate limits off and no export delay: for
    /// benchmarks and tests that read back what they wrote.
    pub fn unlimited() -> Self {
        ZendeskSettings {
            requests_per_minute: None,
            incremental_requests_per_minute: None,
            export_delay: Duration::ZERO,
            ..ZendeskSettings::default()
        }
    }
}

/// The Zendesk simulator; cheap to clone (the state is shared).
#[derive(Clone)]
pub struct ZendeskSimulator {
    inner: Arc<Inner>,
}

struct Inner {
    core: Arc<SimCore>,
    settings: ZendeskSettings,
    email: String,
    api_token: String,
    state: Mutex<Account>,
    limits: Mutex<Limits>,
}

/// The account's records.
struct Account {
    users: TimeIndexed,
    tickets: TimeIndexed,
    /// Ratings ordered by id.
    ratings: Vec<Value>,
    /// Organizations by id.
    organizations: HashMap<i64, Value>,
    /// Defined custom user field keys.
    user_fields: Vec<String>,
    /// The authenticated agent, answered by `users/me`.
    me: Value,
}

/// Records by id plus their order by `(updated_at, id)`, the order of the
/// incremental exports.
struct TimeIndexed {
    records: HashMap<i64, Value>,
    order: BTreeSet<(i64, i64)>,
}

impl TimeIndexed {
    fn load(records: Vec<Value>, what: &str) -> Result<Self, WorldError> {
        let mut indexed = TimeIndexed {
            records: HashMap::with_capacity(records.len()),
            order: BTreeSet::new(),
        };
        for (index, record) in records.into_iter().enumerate() {
            let invalid = |message: String| WorldError::Parse {
                path: format!("zendesk/{what}.jsonl").into(),
                line: index + 1,
                message,
            };
            let id = record_id(&record).ok_or_else(|| invalid("no integer `id`".into()))?;
            let updated = updated_at(&record)
                .ok_or_else(|| invalid(format!("record {id}: no RFC 3339 `updated_at`")))?;
            indexed.order.insert((updated, id));
            indexed.records.insert(id, record);
        }
        Ok(indexed)
    }

    /// Moves a record to its new place after its `updated_at` changed.
    fn reindex(&mut self, id: i64, old_updated: i64) {
        if let Some(new_updated) = self.records.get(&id).and_then(updated_at) {
            self.order.remove(&(old_updated, id));
            self.order.insert((new_updated, id));
        }
    }
}

fn record_id(record: &Value) -> Option<i64> {
    record.get("id").and_then(Value::as_i64)
}

/// `updated_at` as unix seconds.
fn updated_at(record: &Value) -> Option<i64> {
    let text = record.get("updated_at")?.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.timestamp())
}

fn created_at(record: &Value) -> Option<i64> {
    let text = record.get("created_at")?.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.timestamp())
}

/// Zendesk's own timestamp form, `2024-05-03T02:11:12Z`.
fn zendesk_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Fixed one-minute windows of request counts, as Zendesk's limits count.
struct Limits {
    account: MinuteWindow,
    incremental: MinuteWindow,
}

struct MinuteWindow {
    limit: Option<u32>,
    started: Instant,
    used: u32,
}

impl MinuteWindow {
    fn new(limit: Option<u32>) -> Self {
        MinuteWindow {
            limit,
            started: Instant::now(),
            used: 0,
        }
    }

    fn roll(&mut self, now: Instant) {
        if now.duration_since(self.started) >= Duration::from_secs(60) {
            self.started = now;
            self.used = 0;
        }
    }

    /// Whole seconds until the window resets (at least one).
    fn resets_in(&self, now: Instant) -> u64 {
        let left = Duration::from_secs(60).saturating_sub(now.duration_since(self.started));
        left.as_secs().max(1)
    }

    fn has_room(&self) -> bool {
        self.limit.is_none_or(|limit| self.used < limit)
    }

    fn remaining(&self) -> Option<u32> {
        self.limit.map(|limit| limit.saturating_sub(self.used))
    }
}

/// The account-wide limit headers of one answer.
#[derive(Clone, Copy)]
struct RateHeaders {
    limit: u32,
    remaining: u32,
    reset: u64,
}

impl RateHeaders {
    fn apply(self, response: &mut Response) {
        let headers = response.headers_mut();
        for (name, value) in [
            ("x-rate-limit", self.limit.to_string()),
            ("ratelimit-limit", self.limit.to_string()),
            ("x-rate-limit-remaining", self.remaining.to_string()),
            ("ratelimit-remaining", self.remaining.to_string()),
            ("ratelimit-reset", self.reset.to_string()),
        ] {
            headers.insert(name, HeaderValue::from_str(&value).expect("digits"));
        }
    }
}

/// Which limit an endpoint counts against besides the account's.
#[derive(Clone, Copy, PartialEq)]
enum Endpoint {
    Incremental,
    Standard,
}

impl ZendeskSimulator {
    /// Builds the simulator; fails when a record has no `id` or `updated_at`.
    pub fn new(data: ZendeskData, settings: ZendeskSettings) -> Result<Self, WorldError> {
        let users = TimeIndexed::load(data.users, "users")?;
        let tickets = TimeIndexed::load(data.tickets, "tickets")?;
        let organizations = TimeIndexed::load(data.organizations, "organizations")?.records;
        let mut ratings = data.satisfaction_ratings;
        ratings.sort_by_key(|rating| record_id(rating).unwrap_or(i64::MAX));
        let mut user_fields = settings.user_fields.clone();
        for user in users.records.values() {
            if let Some(fields) = user.get("user_fields").and_then(Value::as_object) {
                for key in fields.keys() {
                    if !user_fields.contains(key) {
                        user_fields.push(key.clone());
                    }
                }
            }
        }
        let mut users = users;
        for user in users.records.values_mut() {
            let fields = user
                .as_object_mut()
                .expect("records are objects: they have an id")
                .entry("user_fields")
                .or_insert_with(|| json!({}));
            if let Some(fields) = fields.as_object_mut() {
                for key in &user_fields {
                    fields.entry(key.clone()).or_insert(Value::Null);
                }
            }
        }
        let me_id = users.records.keys().max().copied().unwrap_or(0) + 1;
        let now = zendesk_time(Utc::now());
        let me = json!({
            "id": me_id, "url": null, "name": data.email.split('@').next().unwrap_or_default(),
            "email": data.email, "role": "admin", "active": true, "verified": true,
            "tags": [], "user_fields": {}, "created_at": now, "updated_at": now,
        });
        let limits = Limits {
            account: MinuteWindow::new(settings.requests_per_minute),
            incremental: MinuteWindow::new(settings.incremental_requests_per_minute),
        };
        Ok(ZendeskSimulator {
            inner: Arc::new(Inner {
                core: SimCore::new(settings.oauth_token_lifetime),
                settings,
                email: data.email,
                api_token: data.api_token,
                state: Mutex::new(Account {
                    users,
                    tickets,
                    ratings,
                    organizations,
                    user_fields,
                    me,
                }),
                limits: Mutex::new(limits),
            }),
        })
    }

    pub fn core(&self) -> Arc<SimCore> {
        self.inner.core.clone()
    }

    /// Issues an OAuth access token usable as `Authorization: Bearer ...`.
    pub fn issue_oauth_token(&self) -> String {
        self.inner.core.tokens.issue("zdoauth_")
    }

    /// The tags a user carries now, or `None` for an unknown user.
    pub fn user_tags(&self, user_id: i64) -> Option<Vec<String>> {
        let state = self.inner.state.lock().expect("zendesk state lock");
        state.users.records.get(&user_id).map(tags_of)
    }

    /// A user's custom field values now, or `None` for an unknown user.
    pub fn user_fields(&self, user_id: i64) -> Option<Map<String, Value>> {
        let state = self.inner.state.lock().expect("zendesk state lock");
        state.users.records.get(&user_id).map(|user| {
            user.get("user_fields")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        })
    }

    /// The API routes (without the `/_sim` admin routes, which
    /// [`ZendeskSimulator::serve`] adds).
    pub fn router(&self) -> Router {
        let state = self.inner.clone();
        let mut router = Router::new();
        for suffix in ["", ".json"] {
            router = router
                .route(
                    &format!("/api/v2/incremental/users/cursor{suffix}"),
                    get(export_users),
                )
                .route(
                    &format!("/api/v2/incremental/tickets/cursor{suffix}"),
                    get(export_tickets),
                )
                .route(
                    &format!("/api/v2/satisfaction_ratings{suffix}"),
                    get(list_ratings),
                )
                .route(&format!("/api/v2/users/me{suffix}"), get(show_me));
        }
        router
            .route("/api/v2/users/{id}", get(show_user).put(update_user))
            .route("/api/v2/organizations/{id}", get(show_organization))
            .route(
                "/api/v2/users/{id}/tags",
                get(show_tags)
                    .put(add_tags)
                    .post(set_tags)
                    .delete(remove_tags),
            )
            .route(
                "/api/v2/users/{id}/tags.json",
                get(show_tags)
                    .put(add_tags)
                    .post(set_tags)
                    .delete(remove_tags),
            )
            .with_state(state)
    }

    /// Serves the API and the admin routes on `addr` (port 0 picks one).
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<RunningSimulator> {
        super::serve(self.router(), self.core(), addr).await
    }
}

fn tags_of(record: &Value) -> Vec<String> {
    record
        .get("tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter_map(|tag| tag.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// An answer that ends a request early (boxed: a `Response` is large).
type Refusal = Box<Response>;

fn error(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn invalid(status: StatusCode, error_code: &str, description: &str) -> Response {
    error(
        status,
        json!({"error": error_code, "description": description}),
    )
}

fn not_found() -> Response {
    invalid(StatusCode::NOT_FOUND, "RecordNotFound", "Not found")
}

fn plain(status: StatusCode, retry_after: u64, text: &'static str) -> Response {
    let mut response = (status, text).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

impl Inner {
    /// What every request goes through before it touches the account: the
    /// fault draw, authentication and the rate limits. `Ok` carries the
    /// limit headers for the answer.
    async fn admit(&self, headers: &HeaderMap, endpoint: Endpoint) -> Result<RateHeaders, Refusal> {
        if let Some(fault) = self.core.faults.draw() {
            let retry_after = self.settings.fault_retry_after_secs;
            match fault {
                FaultKind::RateLimit | FaultKind::BodyRateLimit => {
                    return Err(Box::new(plain(
                        StatusCode::TOO_MANY_REQUESTS,
                        retry_after,
                        "Too Many Requests",
                    )))
                }
                FaultKind::ServerError => {
                    return Err(Box::new(plain(
                        StatusCode::SERVICE_UNAVAILABLE,
                        retry_after,
                        "Service Unavailable",
                    )))
                }
                FaultKind::Slow => tokio::time::sleep(self.core.faults.slow_delay()).await,
            }
        }
        if !self.authenticated(headers) {
            return Err(Box::new(error(
                StatusCode::UNAUTHORIZED,
                json!({"error": "Couldn't authenticate you"}),
            )));
        }
        self.take_request(endpoint)
    }

    fn authenticated(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
        else {
            return false;
        };
        let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credentials.trim())
            else {
                return false;
            };
            let expected = format!("{}/token:{}", self.email, self.api_token);
            decoded == expected.as_bytes()
        } else if scheme.eq_ignore_ascii_case("bearer") {
            self.core.tokens.check(credentials.trim()) == super::TokenState::Valid
        } else {
            false
        }
    }

    fn take_request(&self, endpoint: Endpoint) -> Result<RateHeaders, Refusal> {
        let now = Instant::now();
        let mut limits = self.limits.lock().expect("zendesk limits lock");
        limits.account.roll(now);
        limits.incremental.roll(now);
        let over = if !limits.account.has_room() {
            Some(limits.account.resets_in(now))
        } else if endpoint == Endpoint::Incremental && !limits.incremental.has_room() {
            Some(limits.incremental.resets_in(now))
        } else {
            None
        };
        if over.is_none() {
            limits.account.used += 1;
            if endpoint == Endpoint::Incremental {
                limits.incremental.used += 1;
            }
        }
        let rate = RateHeaders {
            limit: limits.account.limit.unwrap_or(u32::MAX),
            remaining: limits.account.remaining().unwrap_or(u32::MAX),
            reset: limits.account.resets_in(now),
        };
        match over {
            None => Ok(rate),
            Some(retry_after) => {
                let mut response = plain(
                    StatusCode::TOO_MANY_REQUESTS,
                    retry_after,
                    "Too Many Requests",
                );
                rate.apply(&mut response);
                Err(Box::new(response))
            }
        }
    }
}

/// Runs `handler` once the request is admitted and puts the limit headers
/// on whatever it answers.
async fn answer(
    inner: &Inner,
    headers: &HeaderMap,
    endpoint: Endpoint,
    handler: impl FnOnce() -> Response,
) -> Response {
    match inner.admit(headers, endpoint).await {
        Err(response) => *response,
        Ok(rate) => {
            let mut response = handler();
            rate.apply(&mut response);
            response
        }
    }
}

/// `http://host:port` of the request, for the `*_url` fields.
fn base_url(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(|host| format!("http://{host}"))
        .filter(|url| reqwest::Url::parse(url).is_ok())
        .unwrap_or_else(|| "http://localhost".to_string())
}

/// An export cursor: the position `(updated_at, id)` of the last record a
/// page covered, in Zendesk's form (base64 of `1580753798.0||432|`).
fn encode_cursor(position: (i64, i64)) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{}.0||{}|", position.0, position.1))
}

fn decode_cursor(cursor: &str) -> Option<(i64, i64)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cursor.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.split("||");
    let time = parts.next()?.split('.').next()?.parse().ok()?;
    let id = parts.next()?.trim_end_matches('|').parse().ok()?;
    Some((time, id))
}

/// Which records of an incremental export one request covers.
struct ExportRequest {
    /// Records after this position.
    after: (i64, i64),
    /// Whether the request started from `start_time` (no previous page).
    first: bool,
    per_page: usize,
}

fn parse_export_request(
    query: &HashMap<String, String>,
    max_page: usize,
    delay: Duration,
) -> Result<ExportRequest, Refusal> {
    let per_page = match query.get("per_page") {
        None => max_page,
        Some(text) => match text.parse::<usize>() {
            Ok(size) if (1..=max_page).contains(&size) => size,
            _ => {
                return Err(Box::new(invalid(
                    StatusCode::BAD_REQUEST,
                    "InvalidPaginationParameter",
                    &format!("per_page must be an integer from 1 to {max_page}"),
                )))
            }
        },
    };
    match (query.get("cursor"), query.get("start_time")) {
        (Some(_), Some(_)) => Err(Box::new(invalid(
            StatusCode::BAD_REQUEST,
            "InvalidPaginationParameter",
            "cursor and start_time cannot be used together",
        ))),
        (Some(cursor), None) => match decode_cursor(cursor) {
            Some(after) => Ok(ExportRequest {
                after,
                first: false,
                per_page,
            }),
            None => Err(Box::new(invalid(
                StatusCode::BAD_REQUEST,
                "InvalidPaginationParameter",
                "Invalid cursor",
            ))),
        },
        (None, Some(start)) => {
            let Ok(start) = start.parse::<i64>() else {
                return Err(Box::new(invalid(
                    StatusCode::BAD_REQUEST,
                    "InvalidValue",
                    "start_time must be a unix epoch time in seconds",
                )));
            };
            if start > Utc::now().timestamp() - delay.as_secs() as i64 {
                return Err(Box::new(invalid(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "InvalidValue",
                    "Too recent start_time. Use a start_time older than 1 minute",
                )));
            }
            // Records updated at or after start_time.
            Ok(ExportRequest {
                after: (start, i64::MIN),
                first: true,
                per_page,
            })
        }
        (None, None) => Err(Box::new(invalid(
            StatusCode::BAD_REQUEST,
            "InvalidValue",
            "start_time or cursor is required",
        ))),
    }
}

/// One page of an incremental export plus the cursor fields.
fn export_page(
    records: &TimeIndexed,
    request: &ExportRequest,
    cutoff: i64,
    keep: impl Fn(&Value) -> bool,
    key: &str,
    url: &str,
) -> Value {
    let mut page = Vec::new();
    let mut last = request.after;
    let mut remaining = records
        .order
        .range((
            std::ops::Bound::Excluded(request.after),
            std::ops::Bound::Unbounded,
        ))
        .take_while(|(time, _)| *time <= cutoff)
        .peekable();
    while page.len() < request.per_page {
        let Some(&position) = remaining.next() else {
            break;
        };
        last = position;
        let record = &records.records[&position.1];
        if keep(record) {
            page.push(record.clone());
        }
    }
    let end_of_stream = remaining.peek().is_none();
    let after_cursor = encode_cursor(last);
    let before = (!request.first).then(|| encode_cursor(request.after));
    json!({
        key: page,
        "after_url": with_query(url, &[("cursor", after_cursor.as_str())]),
        "after_cursor": after_cursor,
        "before_url": before.as_ref().map(|cursor| with_query(url, &[("cursor", cursor.as_str())])),
        "before_cursor": before,
        "end_of_stream": end_of_stream,
    })
}

async fn export_users(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    answer(&inner, &headers, Endpoint::Incremental, || {
        let settings = &inner.settings;
        let request =
            match parse_export_request(&query, settings.max_export_page, settings.export_delay) {
                Ok(request) => request,
                Err(response) => return *response,
            };
        let cutoff = Utc::now().timestamp() - settings.export_delay.as_secs() as i64;
        let url = format!(
            "{}/api/v2/incremental/users/cursor.json",
            base_url(&headers)
        );
        let state = inner.state.lock().expect("zendesk state lock");
        let mut page = export_page(&state.users, &request, cutoff, |_| true, "users", &url);
        if included(&query, "organizations") {
            let organizations = sideloaded_organizations(&state, &page["users"]);
            page["organizations"] = Value::Array(organizations);
        }
        Json(page).into_response()
    })
    .await
}

/// Whether the request's `include` (comma separated) names `sideload`.
fn included(query: &HashMap<String, String>, sideload: &str) -> bool {
    query
        .get("include")
        .is_some_and(|include| include.split(',').any(|name| name.trim() == sideload))
}

/// The organizations the users of a page belong to, each once, in the
/// order the users name them.
fn sideloaded_organizations(state: &Account, users: &Value) -> Vec<Value> {
    let mut seen = BTreeSet::new();
    users
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|user| user.get("organization_id").and_then(Value::as_i64))
        .filter(|id| seen.insert(*id))
        .filter_map(|id| state.organizations.get(&id).cloned())
        .collect()
}

async fn export_tickets(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    answer(&inner, &headers, Endpoint::Incremental, || {
        let settings = &inner.settings;
        let request =
            match parse_export_request(&query, settings.max_export_page, settings.export_delay) {
                Ok(request) => request,
                Err(response) => return *response,
            };
        let exclude_deleted = query
            .get("exclude_deleted")
            .is_some_and(|value| value == "true");
        let cutoff = Utc::now().timestamp() - settings.export_delay.as_secs() as i64;
        let url = format!(
            "{}/api/v2/incremental/tickets/cursor.json",
            base_url(&headers)
        );
        let keep = |ticket: &Value| {
            !(exclude_deleted && ticket.get("status").and_then(Value::as_str) == Some("deleted"))
        };
        let state = inner.state.lock().expect("zendesk state lock");
        let page = export_page(&state.tickets, &request, cutoff, keep, "tickets", &url);
        Json(page).into_response()
    })
    .await
}

/// Whether a rating matches the `score` filter of the list endpoint.
fn score_matches(filter: &str, rating: &Value) -> bool {
    let score = rating.get("score").and_then(Value::as_str).unwrap_or("");
    let commented = rating
        .get("comment")
        .and_then(Value::as_str)
        .is_some_and(|comment| !comment.trim().is_empty());
    let received = score == "good" || score == "bad";
    match filter {
        "received" => received,
        "received_with_comment" => received && commented,
        "received_without_comment" => received && !commented,
        "good_with_comment" => score == "good" && commented,
        "good_without_comment" => score == "good" && !commented,
        "bad_with_comment" => score == "bad" && commented,
        "bad_without_comment" => score == "bad" && !commented,
        other => score == other,
    }
}

const RATING_SCORES: &[&str] = &[
    "offered",
    "unoffered",
    "received",
    "received_with_comment",
    "received_without_comment",
    "good",
    "good_with_comment",
    "good_without_comment",
    "bad",
    "bad_with_comment",
    "bad_without_comment",
];

async fn list_ratings(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    answer(&inner, &headers, Endpoint::Standard, || {
        let bound = |name: &str| -> Result<Option<i64>, Refusal> {
            match query.get(name) {
                None => Ok(None),
                Some(text) => text.parse().map(Some).map_err(|_| {
                    invalid(
                        StatusCode::BAD_REQUEST,
                        "InvalidValue",
                        &format!("{name} must be a unix epoch time in seconds"),
                    )
                    .into()
                }),
            }
        };
        let (start, end) = match (bound("start_time"), bound("end_time")) {
            (Ok(start), Ok(end)) => (start, end),
            (Err(response), _) | (_, Err(response)) => return *response,
        };
        let score = query.get("score").map(String::as_str);
        if let Some(score) = score {
            if !RATING_SCORES.contains(&score) {
                return invalid(
                    StatusCode::BAD_REQUEST,
                    "InvalidValue",
                    &format!("score must be one of {}", RATING_SCORES.join(", ")),
                );
            }
        }
        let state = inner.state.lock().expect("zendesk state lock");
        let matching = |rating: &&Value| {
            let created = created_at(rating).unwrap_or(0);
            score.is_none_or(|score| score_matches(score, rating))
                && start.is_none_or(|start| created >= start)
                && end.is_none_or(|end| created <= end)
        };
        let url = format!("{}/api/v2/satisfaction_ratings.json", base_url(&headers));
        let max = inner.settings.max_ratings_page;
        if let Some(size) = query.get("page[size]") {
            let size = match size.parse::<usize>() {
                Ok(size) if (1..=max).contains(&size) => size,
                _ => {
                    return invalid(
                        StatusCode::BAD_REQUEST,
                        "InvalidPaginationParameter",
                        &format!("page[size] is limited to {max}"),
                    )
                }
            };
            let cursor_of = |name: &str| -> Result<Option<i64>, Refusal> {
                match query.get(name).map(|cursor| decode_rating_cursor(cursor)) {
                    None => Ok(None),
                    Some(Some(id)) => Ok(Some(id)),
                    Some(None) => Err(Box::new(invalid(
                        StatusCode::BAD_REQUEST,
                        "InvalidPaginationParameter",
                        &format!("{name} is not a valid cursor"),
                    ))),
                }
            };
            let (after, before) = match (cursor_of("page[after]"), cursor_of("page[before]")) {
                (Ok(after), Ok(before)) => (after, before),
                (Err(response), _) | (_, Err(response)) => return *response,
            };
            let id_of = |rating: &Value| record_id(rating).unwrap_or(0);
            let candidates: Vec<&Value> = state
                .ratings
                .iter()
                .filter(|rating| after.is_none_or(|after| id_of(rating) > after))
                .filter(|rating| before.is_none_or(|before| id_of(rating) < before))
                .filter(matching)
                .collect();
            // Paging backwards takes the ratings just before the cursor.
            let (page, has_more): (Vec<Value>, bool) = if before.is_some() {
                let skip = candidates.len().saturating_sub(size);
                (
                    candidates[skip..]
                        .iter()
                        .map(|rating| (*rating).clone())
                        .collect(),
                    skip > 0,
                )
            } else {
                let page = candidates
                    .iter()
                    .take(size)
                    .map(|rating| (*rating).clone())
                    .collect();
                (page, candidates.len() > size)
            };
            let first = page.first().and_then(record_id).map(encode_rating_cursor);
            let last = page.last().and_then(record_id).map(encode_rating_cursor);
            let link = |direction: &str, cursor: &String| {
                let mut pairs: Vec<(String, String)> = query
                    .iter()
                    .filter(|(name, _)| !name.starts_with("page["))
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect();
                pairs.sort();
                pairs.push(("page[size]".into(), size.to_string()));
                pairs.push((format!("page[{direction}]"), cursor.clone()));
                let pairs: Vec<(&str, &str)> = pairs
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.as_str()))
                    .collect();
                with_query(&url, &pairs)
            };
            let paged_back = before.is_some();
            // Going forward, `next` exists while more follow; going back,
            // the ratings after this page are known to exist.
            let next_exists = paged_back || has_more;
            let prev_exists = if paged_back {
                has_more
            } else {
                after.is_some()
            };
            return Json(json!({
                "satisfaction_ratings": page,
                "meta": {"has_more": has_more, "after_cursor": last, "before_cursor": first},
                "links": {
                    "next": last
                        .as_ref()
                        .filter(|_| next_exists)
                        .map(|cursor| link("after", cursor)),
                    "prev": first
                        .as_ref()
                        .filter(|_| prev_exists)
                        .map(|cursor| link("before", cursor)),
                },
            }))
            .into_response();
        }
        let per_page = match query.get("per_page").map(|text| text.parse::<usize>()) {
            None => max,
            Some(Ok(size)) if (1..=max).contains(&size) => size,
            Some(_) => {
                return invalid(
                    StatusCode::BAD_REQUEST,
                    "InvalidPaginationParameter",
                    &format!("per_page must be an integer from 1 to {max}"),
                )
            }
        };
        let page_number = match query.get("page").map(|text| text.parse::<usize>()) {
            None => 1,
            Some(Ok(page)) if page >= 1 => page,
            Some(_) => {
                return invalid(
                    StatusCode::BAD_REQUEST,
                    "InvalidPaginationParameter",
                    "page must be a positive integer",
                )
            }
        };
        let all: Vec<&Value> = state.ratings.iter().filter(matching).collect();
        let count = all.len();
        let page: Vec<Value> = all
            .into_iter()
            .skip((page_number - 1) * per_page)
            .take(per_page)
            .cloned()
            .collect();
        let page_url = |number: usize| {
            with_query(
                &url,
                &[
                    ("page", &number.to_string()),
                    ("per_page", &per_page.to_string()),
                ],
            )
        };
        Json(json!({
            "satisfaction_ratings": page,
            "next_page": (page_number * per_page < count).then(|| page_url(page_number + 1)),
            "previous_page": (page_number > 1).then(|| page_url(page_number - 1)),
            "count": count,
        }))
        .into_response()
    })
    .await
}

/// `url` with `pairs` as its percent-encoded query; `url` is one of ours,
/// built on [`base_url`], so it parses.
fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    reqwest::Url::parse_with_params(url, pairs)
        .expect("URLs built on base_url parse")
        .to_string()
}

fn encode_rating_cursor(id: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("rating:{id}"))
}

fn decode_rating_cursor(cursor: &str) -> Option<i64> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("rating:")?
        .parse()
        .ok()
}

async fn show_me(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    answer(&inner, &headers, Endpoint::Standard, || {
        let state = inner.state.lock().expect("zendesk state lock");
        Json(json!({"user": state.me})).into_response()
    })
    .await
}

/// The numeric id of a `{id}` or `{id}.json` path segment.
fn path_id(segment: &str) -> Option<i64> {
    segment
        .strip_suffix(".json")
        .unwrap_or(segment)
        .parse()
        .ok()
}

/// One record by its `{id}` path segment, answered as `{"<key>": record}`.
async fn show_one(
    inner: &Inner,
    headers: &HeaderMap,
    id: &str,
    key: &str,
    find: impl Fn(&Account, i64) -> Option<&Value>,
) -> Response {
    answer(inner, headers, Endpoint::Standard, || {
        let state = inner.state.lock().expect("zendesk state lock");
        match path_id(id).and_then(|id| find(&state, id)) {
            Some(record) => Json(json!({ key: record })).into_response(),
            None => not_found(),
        }
    })
    .await
}

async fn show_user(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    show_one(&inner, &headers, &id, "user", |state, id| {
        state.users.records.get(&id)
    })
    .await
}

async fn show_organization(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    show_one(&inner, &headers, &id, "organization", |state, id| {
        state.organizations.get(&id)
    })
    .await
}

async fn show_tags(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    answer(&inner, &headers, Endpoint::Standard, || {
        let state = inner.state.lock().expect("zendesk state lock");
        match path_id(&id).and_then(|id| state.users.records.get(&id)) {
            Some(user) => Json(json!({"tags": tags_of(user)})).into_response(),
            None => not_found(),
        }
    })
    .await
}

/// How a tags call changes a user's tags.
#[derive(Clone, Copy)]
enum TagChange {
    /// `PUT`: a union with the present tags.
    Add,
    /// `POST`: the given tags replace all.
    Set,
    /// `DELETE`: the given tags are removed.
    Remove,
}

/// The tags of a tags call body, `{"tags": [...]}` (a comma-separated
/// string is accepted too, as Zendesk does).
fn requested_tags(body: &Value) -> Option<Vec<String>> {
    match body.get("tags")? {
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(|tag| tag.trim().to_string()))
            .collect(),
        Value::String(text) => Some(
            text.split([',', ' '])
                .map(str::trim)
                .filter(|tag| !tag.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        _ => None,
    }
}

/// The tags after `change`; pure, so the endpoints and tests share it.
fn changed_tags(current: &[String], requested: &[String], change: TagChange) -> Vec<String> {
    match change {
        TagChange::Add => {
            let mut tags = current.to_vec();
            for tag in requested {
                if !tag.is_empty() && !tags.contains(tag) {
                    tags.push(tag.clone());
                }
            }
            tags
        }
        TagChange::Set => {
            let mut tags: Vec<String> = Vec::new();
            for tag in requested {
                if !tag.is_empty() && !tags.contains(tag) {
                    tags.push(tag.clone());
                }
            }
            tags
        }
        TagChange::Remove => current
            .iter()
            .filter(|tag| !requested.contains(tag))
            .cloned()
            .collect(),
    }
}

fn parse_body(body: &Bytes) -> Result<Value, Refusal> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|parse| {
        invalid(
            StatusCode::BAD_REQUEST,
            "InvalidJSON",
            &format!("the request body is not valid JSON: {parse}"),
        )
        .into()
    })
}

/// Sets a user's attributes, bumping `updated_at` only when something
/// changed (as a no-op save does not touch the record).
fn update_user_record(account: &mut Account, id: i64, update: impl FnOnce(&mut Value)) {
    let Some(user) = account.users.records.get_mut(&id) else {
        return;
    };
    let before = user.clone();
    update(user);
    if *user != before {
        let old_updated = updated_at(&before).unwrap_or(0);
        user["updated_at"] = json!(zendesk_time(Utc::now()));
        account.users.reindex(id, old_updated);
    }
}

async fn change_tags(
    inner: Arc<Inner>,
    headers: HeaderMap,
    id: String,
    query: HashMap<String, String>,
    body: Bytes,
    change: TagChange,
) -> Response {
    answer(&inner, &headers, Endpoint::Standard, || {
        let body = match parse_body(&body) {
            Ok(body) => body,
            Err(response) => return *response,
        };
        // DELETE may name the tags in the query (`?tags=a,b`) instead.
        let body = match (body.get("tags"), query.get("tags")) {
            (None, Some(tags)) => json!({"tags": tags}),
            _ => body,
        };
        let Some(requested) = requested_tags(&body) else {
            return invalid(
                StatusCode::BAD_REQUEST,
                "InvalidValue",
                "tags must be an array of strings",
            );
        };
        let mut state = inner.state.lock().expect("zendesk state lock");
        let Some(id) = path_id(&id).filter(|id| state.users.records.contains_key(id)) else {
            return not_found();
        };
        let verb = match change {
            TagChange::Add => "PUT",
            TagChange::Set => "POST",
            TagChange::Remove => "DELETE",
        };
        inner
            .core
            .writes
            .record(format!("{verb} users/{id}/tags.json"), body.clone());
        update_user_record(&mut state, id, |user| {
            let tags = changed_tags(&tags_of(user), &requested, change);
            user["tags"] = json!(tags);
        });
        let tags = tags_of(&state.users.records[&id]);
        match change {
            TagChange::Add => Json(json!({"tags": tags})).into_response(),
            TagChange::Set => (StatusCode::CREATED, Json(json!({"tags": tags}))).into_response(),
            TagChange::Remove => StatusCode::NO_CONTENT.into_response(),
        }
    })
    .await
}

async fn add_tags(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    change_tags(inner, headers, id, query, body, TagChange::Add).await
}

async fn set_tags(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    change_tags(inner, headers, id, query, body, TagChange::Set).await
}

async fn remove_tags(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    change_tags(inner, headers, id, query, body, TagChange::Remove).await
}

/// User attributes a `PUT users/{id}` may set besides `user_fields`/`tags`.
const WRITABLE_USER_ATTRIBUTES: &[&str] = &[
    "name",
    "email",
    "phone",
    "external_id",
    "organization_id",
    "role",
    "notes",
    "details",
    "alias",
    "time_zone",
    "locale",
];

async fn update_user(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    answer(&inner, &headers, Endpoint::Standard, || {
        let body = match parse_body(&body) {
            Ok(body) => body,
            Err(response) => return *response,
        };
        let Some(changes) = body.get("user").and_then(Value::as_object) else {
            return invalid(
                StatusCode::BAD_REQUEST,
                "InvalidValue",
                "the body must hold a `user` object",
            );
        };
        let tags = match changes.get("tags") {
            None => None,
            Some(_) => match requested_tags(&Value::Object(changes.clone())) {
                Some(tags) => Some(tags),
                None => {
                    return invalid(
                        StatusCode::BAD_REQUEST,
                        "InvalidValue",
                        "tags must be an array of strings",
                    )
                }
            },
        };
        let mut state = inner.state.lock().expect("zendesk state lock");
        let Some(id) = path_id(&id).filter(|id| state.users.records.contains_key(id)) else {
            return not_found();
        };
        inner
            .core
            .writes
            .record(format!("PUT users/{id}.json"), body.clone());
        let defined = state.user_fields.clone();
        update_user_record(&mut state, id, |user| {
            for (name, value) in changes {
                if WRITABLE_USER_ATTRIBUTES.contains(&name.as_str()) {
                    user[name.as_str()] = value.clone();
                }
            }
            if let Some(values) = changes.get("user_fields").and_then(Value::as_object) {
                for (key, value) in values {
                    if defined.contains(key) {
                        user["user_fields"][key.as_str()] = value.clone();
                    }
                }
            }
            if let Some(tags) = &tags {
                user["tags"] = json!(changed_tags(&[], tags, TagChange::Set));
            }
        });
        Json(json!({"user": state.users.records[&id]})).into_response()
    })
    .await
}

#[cfg(test)]
mod tests;
