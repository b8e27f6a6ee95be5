//! Shopify Admin API simulator: the REST resources a customer-data client
//! reads (`shop`, `customers`, `orders`, with counts), the customer `PUT`
//! that replaces the tag string, and in GraphQL the `tagsAdd` / `tagsRemove`
//! mutations plus the `customer`, `customers` (connection) and `shop`
//! queries, answered the way `{shop}.myshopify.com/admin/api/{YYYY-MM}/`
//! does (`../shared/specs/source-apis.md` §2, §8).
//!
//! Faithful where clients depend on it:
//! - `X-Shopify-Access-Token` auth; anything else is a 401 with Shopify's
//!   `errors` string.
//! - Cursor paging by id with `Link: <...page_info=...>; rel="next"` (and
//!   `rel="previous"`), no `Link` when one page holds everything, and a 400
//!   when a filter comes along with `page_info`.
//! - `orders.json` lists only open orders unless `status` says otherwise.
//! - A leaky bucket per access token (40 calls, 2/s) reported in
//!   `X-Shopify-Shop-Api-Call-Limit`; over it, 429 with `Retry-After: 2.0`.
//!   GraphQL has its own cost bucket reported in `extensions.cost`, and
//!   answers `THROTTLED` when a query costs more than is available.

mod connection;
mod graphql;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use base64::Engine;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use self::connection::ConnectionArgs;
use self::graphql::{FieldKind, GraphqlError, OperationKind, Schema};
use super::{FaultKind, RunningSimulator, SimCore, World, WorldError};

/// A shop as the simulator serves it, loaded from a world directory.
#[derive(Debug, Clone, PartialEq)]
pub struct ShopifyData {
    /// The shop's subdomain (`{shop}.myshopify.com`).
    pub shop: String,
    /// The Admin API access token clients send in `X-Shopify-Access-Token`.
    pub access_token: String,
    /// Customers as `customers.json` returns them (numeric `id`, `tags` as
    /// one comma-separated string, ...).
    pub customers: Vec<Value>,
    /// Orders as `orders.json` returns them.
    pub orders: Vec<Value>,
}

impl ShopifyData {
    /// Reads `world.json` (credentials), `shopify/customers.jsonl` and
    /// `shopify/orders.jsonl`.
    pub fn from_world(world: &World) -> Result<Self, WorldError> {
        let credentials = world.credentials()?.shopify;
        Ok(ShopifyData {
            shop: credentials.shop,
            access_token: credentials.access_token,
            customers: world.read_jsonl("shopify/customers.jsonl")?,
            orders: world.read_jsonl("shopify/orders.jsonl")?,
        })
    }
}

/// The REST leaky bucket: each call adds one, `leak_per_second` drain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeakyBucket {
    pub size: u32,
    pub leak_per_second: f64,
}

/// The GraphQL cost bucket: a query needs its cost in available points,
/// which refill at `restore_rate` per second up to `maximum_available`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostBucket {
    pub maximum_available: f64,
    pub restore_rate: f64,
}

/// A Standard plan's REST bucket: 40 calls, leaking 2 per second.
pub const DEFAULT_REST_BUCKET: LeakyBucket = LeakyBucket {
    size: 40,
    leak_per_second: 2.0,
};

/// A Standard plan's GraphQL bucket: 2000 points, restoring 100 per second.
pub const DEFAULT_COST_BUCKET: CostBucket = CostBucket {
    maximum_available: 2000.0,
    restore_rate: 100.0,
};

/// How the Shopify simulator behaves; the defaults are a Standard plan's.
#[derive(Debug, Clone, PartialEq)]
pub struct ShopifySettings {
    /// REST rate limit per access token: 40 calls, leaking 2/s. `None`
    /// switches it off (benchmarks); the call-limit header then stays `0/40`.
    pub rest_bucket: Option<LeakyBucket>,
    /// GraphQL cost limit per access token: 2000 points, 100/s. `None`
    /// switches throttling off; `extensions.cost` still reports the cost.
    pub graphql_bucket: Option<CostBucket>,
    /// Page size when `limit` is absent: 50.
    pub default_limit: usize,
    /// Largest `limit` accepted: 250; more is a 400.
    pub max_limit: usize,
    /// HTTP status of a `THROTTLED` GraphQL answer: 200 by default; some
    /// shops are reported to send 429, so clients must handle both.
    pub graphql_throttled_status: StatusCode,
    /// Status of an injected server error: 503 by default (502 also occurs).
    pub server_error_status: StatusCode,
}

impl Default for ShopifySettings {
    fn default() -> Self {
        ShopifySettings {
            rest_bucket: Some(DEFAULT_REST_BUCKET),
            graphql_bucket: Some(DEFAULT_COST_BUCKET),
            default_limit: 50,
            max_limit: 250,
            graphql_throttled_status: StatusCode::OK,
            server_error_status: StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// Shop data the simulator cannot serve (e.g. a customer without a numeric
/// `id`); the message names the record.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid Shopify simulator data: {0}")]
pub struct InvalidShopifyData(pub String);

/// The Shopify simulator; clones share one shop.
#[derive(Clone)]
pub struct ShopifySimulator {
    inner: Arc<Inner>,
}

struct Inner {
    core: Arc<SimCore>,
    settings: ShopifySettings,
    shop: String,
    access_token: String,
    currency: String,
    store: Mutex<Store>,
}

#[derive(Debug)]
struct Store {
    customers: BTreeMap<u64, Value>,
    orders: BTreeMap<u64, Value>,
    rest_buckets: HashMap<String, BucketLevel>,
    graphql_buckets: HashMap<String, BucketLevel>,
}

/// A bucket's fill level at an instant.
#[derive(Debug, Clone, Copy)]
struct BucketLevel {
    used: f64,
    at: Instant,
}

impl BucketLevel {
    /// The level now, after draining `per_second` since the last update.
    fn drain(&mut self, per_second: f64, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.used = (self.used - elapsed * per_second).max(0.0);
        self.at = now;
    }
}

/// The REST collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    Customers,
    Orders,
}

impl Resource {
    fn plural(self) -> &'static str {
        match self {
            Resource::Customers => "customers",
            Resource::Orders => "orders",
        }
    }

    fn singular(self) -> &'static str {
        match self {
            Resource::Customers => "customer",
            Resource::Orders => "order",
        }
    }
}

/// What a request asks for, from its method and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Rest(RestCall),
    Graphql,
}

/// The REST calls the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RestCall {
    Shop,
    List(Resource),
    Count(Resource),
    Get(Resource, u64),
    UpdateCustomer(u64),
}

impl Endpoint {
    /// The endpoint for `method` and the path after `/admin/`, or `None`
    /// for anything Shopify would answer 404.
    fn route(method: &Method, path: &str) -> Option<(String, Self)> {
        let rest = path.strip_prefix("api/")?;
        let (version, resource) = rest.split_once('/')?;
        if !is_api_version(version) {
            return None;
        }
        let call = match (method.as_str(), resource) {
            ("POST", "graphql.json") => return Some((version.to_string(), Endpoint::Graphql)),
            ("GET", "shop.json") => RestCall::Shop,
            ("GET", "customers.json") => RestCall::List(Resource::Customers),
            ("GET", "orders.json") => RestCall::List(Resource::Orders),
            ("GET", "customers/count.json") => RestCall::Count(Resource::Customers),
            ("GET", "orders/count.json") => RestCall::Count(Resource::Orders),
            (method, resource) => {
                let (collection, file) = resource.split_once('/')?;
                let id: u64 = file.strip_suffix(".json")?.parse().ok()?;
                match (method, collection) {
                    ("GET", "customers") => RestCall::Get(Resource::Customers, id),
                    ("PUT", "customers") => RestCall::UpdateCustomer(id),
                    ("GET", "orders") => RestCall::Get(Resource::Orders, id),
                    _ => return None,
                }
            }
        };
        Some((version.to_string(), Endpoint::Rest(call)))
    }
}

/// `YYYY-MM` (a real month) or `unstable`.
fn is_api_version(version: &str) -> bool {
    if version == "unstable" {
        return true;
    }
    let bytes = version.as_bytes();
    bytes.len() == 7
        && bytes[4] == b'-'
        && bytes[..4].iter().chain(&bytes[5..]).all(u8::is_ascii_digit)
        && matches!(version[5..].parse::<u8>(), Ok(1..=12))
}

/// A REST answer under construction: status, JSON body and headers.
struct Answer {
    status: StatusCode,
    body: Value,
    headers: Vec<(header::HeaderName, String)>,
}

impl Answer {
    fn ok(body: Value) -> Self {
        Answer {
            status: StatusCode::OK,
            body,
            headers: Vec::new(),
        }
    }

    fn error(status: StatusCode, errors: Value) -> Self {
        Answer {
            status,
            body: json!({ "errors": errors }),
            headers: Vec::new(),
        }
    }

    fn not_found() -> Self {
        Answer::error(StatusCode::NOT_FOUND, json!("Not Found"))
    }

    fn bad_request(parameter: &str, message: impl Into<String>) -> Self {
        Answer::error(
            StatusCode::BAD_REQUEST,
            json!({ parameter: message.into() }),
        )
    }

    fn with_header(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

const CALL_LIMIT_HEADER: &str = "x-shopify-shop-api-call-limit";

impl ShopifySimulator {
    /// Builds a simulator over `data`. Fails on a customer or order without
    /// a numeric `id`, or an id used twice, naming the record.
    pub fn new(data: ShopifyData, settings: ShopifySettings) -> Result<Self, InvalidShopifyData> {
        let customers = index_by_id(data.customers, "customer")?;
        let orders = index_by_id(data.orders, "order")?;
        let currency = orders
            .values()
            .chain(customers.values())
            .find_map(|record| record.get("currency").and_then(Value::as_str))
            .unwrap_or("CNY")
            .to_string();
        Ok(ShopifySimulator {
            inner: Arc::new(Inner {
                // Admin API access tokens of custom apps do not expire; the
                // token clock is unused, so its lifetime is only nominal.
                core: SimCore::new(Duration::from_secs(100 * 365 * 24 * 3600)),
                settings,
                shop: data.shop,
                access_token: data.access_token,
                currency,
                store: Mutex::new(Store {
                    customers,
                    orders,
                    rest_buckets: HashMap::new(),
                    graphql_buckets: HashMap::new(),
                }),
            }),
        })
    }

    /// Faults and write log shared with the admin routes.
    pub fn core(&self) -> Arc<SimCore> {
        self.inner.core.clone()
    }

    /// The API routes (`/admin/api/{version}/...`), without the admin routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/admin/{*path}", any(handle))
            .with_state(self.clone())
    }

    /// Serves the API and the admin routes on `addr` (port 0 picks one).
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<RunningSimulator> {
        super::serve(self.router(), self.core(), addr).await
    }

    /// The tags a customer carries now, in order, or `None` for an unknown id.
    pub fn customer_tags(&self, id: u64) -> Option<Vec<String>> {
        self.store().customers.get(&id).map(tags_of)
    }

    /// A customer as `customers/{id}.json` would return it now.
    pub fn customer(&self, id: u64) -> Option<Value> {
        self.store().customers.get(&id).cloned()
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.inner.store.lock().expect("shopify store lock")
    }

    /// Counts a REST call against the token's bucket: the call-limit header
    /// value, or the 429 answer when the bucket is full.
    fn take_rest_call(&self, token: &str) -> Result<String, Answer> {
        let Some(bucket) = self.inner.settings.rest_bucket else {
            return Ok("0/40".to_string());
        };
        let now = Instant::now();
        let mut store = self.store();
        let level = store
            .rest_buckets
            .entry(token.to_string())
            .or_insert(BucketLevel { used: 0.0, at: now });
        level.drain(bucket.leak_per_second, now);
        if level.used + 1.0 > f64::from(bucket.size) {
            return Err(too_many_requests(bucket));
        }
        level.used += 1.0;
        Ok(format!("{}/{}", level.used.ceil() as u32, bucket.size))
    }

    fn answer_rest(
        &self,
        call: RestCall,
        params: &[(String, String)],
        body: &[u8],
        base: &str,
    ) -> Answer {
        match call {
            RestCall::Shop => Answer::ok(json!({ "shop": self.shop_json() })),
            RestCall::List(resource) => self.list(resource, params, base),
            RestCall::Count(resource) => match compile_filters(resource, params) {
                Ok(filters) => {
                    let store = self.store();
                    let count = collection(&store, resource)
                        .values()
                        .filter(|record| filters.iter().all(|filter| filter.matches(record)))
                        .count();
                    Answer::ok(json!({ "count": count }))
                }
                Err(answer) => answer,
            },
            RestCall::Get(resource, id) => {
                let store = self.store();
                match collection(&store, resource).get(&id) {
                    Some(record) => Answer::ok(json!({
                        resource.singular(): project_fields(record, field_list(params).as_deref()),
                    })),
                    None => Answer::not_found(),
                }
            }
            RestCall::UpdateCustomer(id) => self.update_customer(id, body),
        }
    }

    fn shop_json(&self) -> Value {
        let shop = &self.inner.shop;
        json!({
            "id": shop.bytes().fold(1_000_000u64, |acc, byte| acc.wrapping_mul(31).wrapping_add(u64::from(byte))) % 100_000_000_000,
            "name": shop,
            "myshopify_domain": format!("{shop}.myshopify.com"),
            "domain": format!("{shop}.myshopify.com"),
            "currency": self.inner.currency,
            "plan_name": "basic",
        })
    }

    fn list(&self, resource: Resource, params: &[(String, String)], base: &str) -> Answer {
        let request = match ListRequest::parse(params, &self.inner.settings) {
            Ok(request) => request,
            Err(answer) => return answer,
        };
        let filters = match compile_filters(resource, &request.filter_params) {
            Ok(filters) => filters,
            Err(answer) => return answer,
        };
        let store = self.store();
        let records = collection(&store, resource);
        let page = select_page(records, &filters, request.cursor, request.limit);
        let items: Vec<Value> = page
            .ids
            .iter()
            .map(|id| project_fields(&records[id], request.fields.as_deref()))
            .collect();
        let mut links = Vec::new();
        let link = |direction: Direction, id: u64| {
            let page_info = PageInfo {
                direction,
                boundary_id: id,
                filter_params: request.filter_params.clone(),
            }
            .encode();
            let mut url = format!(
                "{base}/{}.json?limit={}&page_info={page_info}",
                resource.plural(),
                request.limit
            );
            if let Some(fields) = &request.fields {
                url.push_str("&fields=");
                url.push_str(&fields.join(","));
            }
            url
        };
        if let (true, Some(first)) = (page.has_previous, page.ids.first()) {
            links.push(format!(
                "<{}>; rel=\"previous\"",
                link(Direction::Previous, *first)
            ));
        }
        if let (true, Some(last)) = (page.has_next, page.ids.last()) {
            links.push(format!("<{}>; rel=\"next\"", link(Direction::Next, *last)));
        }
        let answer = Answer::ok(json!({ resource.plural(): items }));
        if links.is_empty() {
            answer
        } else {
            answer.with_header(header::LINK, links.join(", "))
        }
    }

    fn update_customer(&self, id: u64, body: &[u8]) -> Answer {
        let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let Some(update) = request.get("customer").and_then(Value::as_object) else {
            return Answer::bad_request("customer", "Required parameter missing or invalid");
        };
        let tags = match update.get("tags") {
            None => None,
            Some(Value::Null) => Some(Vec::new()),
            Some(Value::String(text)) => Some(split_tags(text)),
            Some(_) => {
                return Answer::error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"tags": ["must be a comma-separated string"]}),
                )
            }
        };
        if let Some(problem) = tags.as_deref().and_then(tag_limit_problem) {
            return Answer::error(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "tags": [problem] }),
            );
        }
        let mut store = self.store();
        let Some(customer) = store.customers.get_mut(&id) else {
            return Answer::not_found();
        };
        let mut changed = false;
        for (key, value) in update {
            if READ_ONLY_CUSTOMER_FIELDS.contains(&key.as_str()) || key == "tags" {
                continue;
            }
            if customer.get(key) != Some(value) {
                customer[key.as_str()] = value.clone();
                changed = true;
            }
        }
        if let Some(tags) = tags {
            changed |= set_tags(customer, &tags);
        }
        if changed {
            touch(customer);
        }
        let answer = Answer::ok(json!({ "customer": customer }));
        drop(store);
        self.inner
            .core
            .writes
            .record(format!("PUT customers/{id}.json"), request);
        answer
    }

    fn answer_graphql(&self, token: &str, headers: &HeaderMap, body: &[u8]) -> Answer {
        let request = match graphql_request(headers, body) {
            Some(request) => request,
            None => return Answer::bad_request("query", "Required parameter missing or invalid"),
        };
        let prepared = match self.prepare_graphql(&request) {
            Ok(prepared) => prepared,
            Err(error) => return graphql_errors(&[error]),
        };
        let throttle = match self.take_graphql_cost(token, prepared.cost) {
            Ok(throttle) => throttle,
            Err(throttle) => {
                return Answer {
                    status: self.inner.settings.graphql_throttled_status,
                    body: throttled_body(prepared.cost, throttle),
                    headers: Vec::new(),
                }
            }
        };
        let data = self.execute(&prepared);
        Answer::ok(json!({
            "data": data,
            "extensions": {"cost": cost_extension(prepared.cost, Some(prepared.cost), throttle)},
        }))
    }

    /// Parses, checks and binds a GraphQL request without touching state.
    fn prepare_graphql(&self, request: &GraphqlRequest) -> Result<PreparedGraphql, GraphqlError> {
        let document = graphql::parse(&request.query)?;
        let operation = document.operation(request.operation_name.as_deref())?;
        let (root, root_cost) = match operation.kind {
            OperationKind::Query => ("QueryRoot", 1),
            OperationKind::Mutation => ("Mutation", 10),
            OperationKind::Subscription => {
                return Err(GraphqlError::new(
                    "Subscriptions are not supported",
                    Some(operation.position),
                    "unsupportedOperation",
                ))
            }
        };
        let mut cost = SCHEMA.check(&document, root, &operation.selection, root_cost)?;
        let variables = operation.variable_values(&request.variables)?;
        let mut calls = Vec::new();
        for selection in &operation.selection {
            let graphql::Selection::Field(field) = selection else {
                return Err(GraphqlError::new(
                    "Fragments are not supported on the root type",
                    Some(operation.position),
                    "unsupportedSelection",
                ));
            };
            let call = RootCall::bind(field, &variables)?;
            if let RootCall::Customers(arguments) = &call {
                // A connection costs about one point per node it may return.
                cost += arguments.first as u32;
            }
            calls.push(call);
        }
        Ok(PreparedGraphql {
            document: document.clone(),
            fields: operation
                .selection
                .iter()
                .filter_map(|selection| match selection {
                    graphql::Selection::Field(field) => Some(field.clone()),
                    _ => None,
                })
                .collect(),
            calls,
            cost,
        })
    }

    /// Deducts `cost` from the token's GraphQL bucket: the throttle status
    /// after it, or the status that made it too expensive.
    fn take_graphql_cost(&self, token: &str, cost: u32) -> Result<ThrottleStatus, ThrottleStatus> {
        let Some(bucket) = self.inner.settings.graphql_bucket else {
            let unlimited = DEFAULT_COST_BUCKET;
            return Ok(ThrottleStatus {
                maximum: unlimited.maximum_available,
                available: unlimited.maximum_available,
                restore_rate: unlimited.restore_rate,
            });
        };
        let now = Instant::now();
        let mut store = self.store();
        let level = store
            .graphql_buckets
            .entry(token.to_string())
            .or_insert(BucketLevel { used: 0.0, at: now });
        level.drain(bucket.restore_rate, now);
        let status = |used: f64| ThrottleStatus {
            maximum: bucket.maximum_available,
            available: (bucket.maximum_available - used).max(0.0),
            restore_rate: bucket.restore_rate,
        };
        if f64::from(cost) > bucket.maximum_available - level.used {
            return Err(status(level.used));
        }
        level.used += f64::from(cost);
        Ok(status(level.used))
    }

    fn execute(&self, prepared: &PreparedGraphql) -> Value {
        let mut data = Map::new();
        for (field, call) in prepared.fields.iter().zip(&prepared.calls) {
            let value = match call {
                RootCall::Shop => {
                    let shop = self.shop_json();
                    json!({
                        "__typename": "Shop",
                        "id": format!("gid://shopify/Shop/{}", shop["id"]),
                        "name": shop["name"],
                        "myshopifyDomain": shop["myshopify_domain"],
                        "currencyCode": shop["currency"],
                    })
                }
                RootCall::Customers(arguments) => arguments.page(&self.store().customers),
                RootCall::Customer { id } => {
                    let store = self.store();
                    customer_id_from_gid(id)
                        .and_then(|id| store.customers.get(&id))
                        .map(customer_node)
                        .unwrap_or(Value::Null)
                }
                RootCall::Tags { add, id, tags } => self.change_tags(*add, id, tags),
            };
            data.insert(
                field.response_key().to_string(),
                SCHEMA.project(&prepared.document, &value, &field.selection),
            );
        }
        Value::Object(data)
    }

    /// `tagsAdd` / `tagsRemove` on a customer; the payload object.
    fn change_tags(&self, add: bool, id: &str, tags: &[String]) -> Value {
        let typename = if add {
            "TagsAddPayload"
        } else {
            "TagsRemovePayload"
        };
        let user_error = |field: &str, message: &str| {
            json!({
                "__typename": typename,
                "node": null,
                "userErrors": [{"__typename": "UserError", "field": [field], "message": message}],
            })
        };
        if tags.is_empty() {
            return user_error("tags", "Tags can't be blank");
        }
        if let Some(problem) = tag_limit_problem(tags) {
            return user_error("tags", &problem);
        }
        let mut store = self.store();
        let Some(customer) = customer_id_from_gid(id).and_then(|id| store.customers.get_mut(&id))
        else {
            return user_error("id", "Resource not found");
        };
        let mut current = tags_of(customer);
        let lowered: Vec<String> = tags.iter().map(|tag| tag.to_lowercase()).collect();
        if add {
            for tag in tags {
                if !current
                    .iter()
                    .any(|have| have.to_lowercase() == tag.to_lowercase())
                {
                    current.push(tag.clone());
                }
            }
        } else {
            current.retain(|have| !lowered.contains(&have.to_lowercase()));
        }
        if tag_limit_problem(&current).is_some() {
            return user_error("tags", "Tags exceed the limit of 250 per resource");
        }
        if set_tags(customer, &current) {
            touch(customer);
        }
        let node = customer_node(customer);
        drop(store);
        self.inner.core.writes.record(
            if add { "tagsAdd" } else { "tagsRemove" },
            json!({"id": id, "tags": tags}),
        );
        json!({"__typename": typename, "node": node, "userErrors": []})
    }
}

/// The schema of the GraphQL subset the simulator serves.
static SCHEMA: Schema = Schema {
    fields: &[
        (
            "QueryRoot",
            "customer",
            FieldKind::Object("Customer"),
            &["id"],
        ),
        ("QueryRoot", "shop", FieldKind::Object("Shop"), &[]),
        (
            "QueryRoot",
            "customers",
            FieldKind::Object("CustomerConnection"),
            &[
                "first", "after", "last", "before", "sortKey", "reverse", "query",
            ],
        ),
        (
            "CustomerConnection",
            "nodes",
            FieldKind::Object("Customer"),
            &[],
        ),
        (
            "CustomerConnection",
            "edges",
            FieldKind::Object("CustomerEdge"),
            &[],
        ),
        (
            "CustomerConnection",
            "pageInfo",
            FieldKind::Object("PageInfo"),
            &[],
        ),
        ("CustomerEdge", "cursor", FieldKind::Scalar, &[]),
        ("CustomerEdge", "node", FieldKind::Object("Customer"), &[]),
        ("PageInfo", "hasNextPage", FieldKind::Scalar, &[]),
        ("PageInfo", "hasPreviousPage", FieldKind::Scalar, &[]),
        ("PageInfo", "startCursor", FieldKind::Scalar, &[]),
        ("PageInfo", "endCursor", FieldKind::Scalar, &[]),
        (
            "Mutation",
            "tagsAdd",
            FieldKind::Object("TagsAddPayload"),
            &["id", "tags"],
        ),
        (
            "Mutation",
            "tagsRemove",
            FieldKind::Object("TagsRemovePayload"),
            &["id", "tags"],
        ),
        ("TagsAddPayload", "node", FieldKind::Object("Node"), &[]),
        (
            "TagsAddPayload",
            "userErrors",
            FieldKind::Object("UserError"),
            &[],
        ),
        ("TagsRemovePayload", "node", FieldKind::Object("Node"), &[]),
        (
            "TagsRemovePayload",
            "userErrors",
            FieldKind::Object("UserError"),
            &[],
        ),
        ("Node", "id", FieldKind::Scalar, &[]),
        ("UserError", "field", FieldKind::Scalar, &[]),
        ("UserError", "message", FieldKind::Scalar, &[]),
        ("Customer", "id", FieldKind::Scalar, &[]),
        ("Customer", "legacyResourceId", FieldKind::Scalar, &[]),
        ("Customer", "email", FieldKind::Scalar, &[]),
        ("Customer", "phone", FieldKind::Scalar, &[]),
        ("Customer", "firstName", FieldKind::Scalar, &[]),
        ("Customer", "lastName", FieldKind::Scalar, &[]),
        ("Customer", "displayName", FieldKind::Scalar, &[]),
        ("Customer", "tags", FieldKind::Scalar, &[]),
        ("Customer", "note", FieldKind::Scalar, &[]),
        ("Customer", "state", FieldKind::Scalar, &[]),
        ("Customer", "createdAt", FieldKind::Scalar, &[]),
        ("Customer", "updatedAt", FieldKind::Scalar, &[]),
        ("Customer", "numberOfOrders", FieldKind::Scalar, &[]),
        ("Shop", "id", FieldKind::Scalar, &[]),
        ("Shop", "name", FieldKind::Scalar, &[]),
        ("Shop", "myshopifyDomain", FieldKind::Scalar, &[]),
        ("Shop", "currencyCode", FieldKind::Scalar, &[]),
    ],
    implements: &[("Customer", "Node")],
};

/// Customer fields a `PUT` cannot change.
const READ_ONLY_CUSTOMER_FIELDS: &[&str] = &[
    "id",
    "created_at",
    "updated_at",
    "orders_count",
    "total_spent",
    "last_order_id",
    "last_order_name",
    "currency",
    "admin_graphql_api_id",
];

/// A GraphQL request body.
struct GraphqlRequest {
    query: String,
    variables: Map<String, Value>,
    operation_name: Option<String>,
}

/// The JSON body `{"query", "variables", "operationName"}`, or a raw query
/// sent as `application/graphql`.
fn graphql_request(headers: &HeaderMap, body: &[u8]) -> Option<GraphqlRequest> {
    let raw = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/graphql"));
    if raw {
        return Some(GraphqlRequest {
            query: String::from_utf8(body.to_vec()).ok()?,
            variables: Map::new(),
            operation_name: None,
        });
    }
    let request: Value = serde_json::from_slice(body).ok()?;
    Some(GraphqlRequest {
        query: request.get("query")?.as_str()?.to_string(),
        variables: match request.get("variables") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(variables)) => variables.clone(),
            Some(_) => return None,
        },
        operation_name: request
            .get("operationName")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// A checked request, ready to run.
struct PreparedGraphql {
    document: graphql::Document,
    fields: Vec<graphql::Field>,
    calls: Vec<RootCall>,
    cost: u32,
}

/// A root field with its arguments bound.
enum RootCall {
    Shop,
    Customers(ConnectionArgs),
    Customer {
        id: String,
    },
    Tags {
        add: bool,
        id: String,
        tags: Vec<String>,
    },
}

impl RootCall {
    fn bind(field: &graphql::Field, variables: &Map<String, Value>) -> Result<Self, GraphqlError> {
        let argument = |name: &str| -> Result<Value, GraphqlError> {
            match field.argument(name) {
                Some(value) => value.resolve(variables),
                None => Err(GraphqlError::new(
                    format!(
                        "Field '{}' is missing required arguments: {name}",
                        field.name
                    ),
                    Some(field.position),
                    "missingRequiredArguments",
                )),
            }
        };
        let invalid = |name: &str, expected: &str| {
            GraphqlError::new(
                format!(
                    "Argument '{name}' on Field '{}' has an invalid value. Expected type '{expected}'.",
                    field.name
                ),
                Some(field.position),
                "argumentLiteralsIncompatible",
            )
        };
        Ok(match field.name.as_str() {
            "shop" => RootCall::Shop,
            "customers" => RootCall::Customers(ConnectionArgs::bind(field, variables)?),
            "customer" => RootCall::Customer {
                id: argument("id")?
                    .as_str()
                    .ok_or_else(|| invalid("id", "ID!"))?
                    .to_string(),
            },
            name @ ("tagsAdd" | "tagsRemove") => {
                let id = argument("id")?
                    .as_str()
                    .ok_or_else(|| invalid("id", "ID!"))?
                    .to_string();
                // Shopify takes a list of tags or one comma-separated string.
                let tags = match argument("tags")? {
                    Value::String(text) => split_tags(&text),
                    Value::Array(items) => items
                        .iter()
                        .map(|item| item.as_str().map(str::trim).map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| invalid("tags", "[String!]!"))?
                        .into_iter()
                        .filter(|tag| !tag.is_empty())
                        .collect(),
                    _ => return Err(invalid("tags", "[String!]!")),
                };
                RootCall::Tags {
                    add: name == "tagsAdd",
                    id,
                    tags,
                }
            }
            other => {
                return Err(GraphqlError::new(
                    format!("Field '{other}' is not supported by this simulator"),
                    Some(field.position),
                    "undefinedField",
                ))
            }
        })
    }
}

/// `extensions.cost.throttleStatus`.
#[derive(Debug, Clone, Copy)]
struct ThrottleStatus {
    maximum: f64,
    available: f64,
    restore_rate: f64,
}

fn cost_extension(requested: u32, actual: Option<u32>, throttle: ThrottleStatus) -> Value {
    json!({
        "requestedQueryCost": requested,
        "actualQueryCost": actual,
        "throttleStatus": {
            "maximumAvailable": throttle.maximum,
            "currentlyAvailable": throttle.available.floor(),
            "restoreRate": throttle.restore_rate,
        },
    })
}

fn throttled_body(requested: u32, throttle: ThrottleStatus) -> Value {
    json!({
        "errors": [{
            "message": "Throttled",
            "extensions": {
                "code": "THROTTLED",
                "documentation": "https://shopify.dev/api/usage/rate-limits",
            },
        }],
        "extensions": {"cost": cost_extension(requested, None, throttle)},
    })
}

fn graphql_errors(errors: &[GraphqlError]) -> Answer {
    Answer::ok(json!({
        "errors": errors.iter().map(GraphqlError::to_json).collect::<Vec<_>>(),
    }))
}

fn too_many_requests(bucket: LeakyBucket) -> Answer {
    Answer::error(
        StatusCode::TOO_MANY_REQUESTS,
        json!(format!(
            "Exceeded {} calls per second for api client. Reduce request rates to resume uninterrupted service.",
            bucket.leak_per_second
        )),
    )
    .with_header(header::RETRY_AFTER, "2.0")
    .with_header(
        header::HeaderName::from_static(CALL_LIMIT_HEADER),
        format!("{0}/{0}", bucket.size),
    )
}

/// The GraphQL `Customer` object for a REST customer record.
fn customer_node(customer: &Value) -> Value {
    let id = customer
        .get("id")
        .and_then(Value::as_u64)
        .unwrap_or_default();
    let text = |key: &str| customer.get(key).cloned().unwrap_or(Value::Null);
    let name = [text("first_name"), text("last_name")]
        .iter()
        .filter_map(|part| part.as_str().map(str::to_string))
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    json!({
        "__typename": "Customer",
        "id": format!("gid://shopify/Customer/{id}"),
        "legacyResourceId": id.to_string(),
        "email": text("email"),
        "phone": text("phone"),
        "firstName": text("first_name"),
        "lastName": text("last_name"),
        "displayName": if name.is_empty() { text("email") } else { json!(name) },
        "tags": tags_of(customer),
        "note": text("note"),
        "state": customer.get("state").and_then(Value::as_str).map(str::to_uppercase),
        "createdAt": customer.get("created_at").and_then(Value::as_str).and_then(utc_text),
        "updatedAt": customer.get("updated_at").and_then(Value::as_str).and_then(utc_text),
        "numberOfOrders": customer.get("orders_count").and_then(Value::as_u64).unwrap_or(0).to_string(),
    })
}

/// A REST timestamp as GraphQL's `DateTime` (UTC, `Z`).
fn utc_text(text: &str) -> Option<String> {
    DateTime::parse_from_rfc3339(text).ok().map(|time| {
        time.with_timezone(&Utc)
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    })
}

fn customer_id_from_gid(gid: &str) -> Option<u64> {
    gid.strip_prefix("gid://shopify/Customer/")?.parse().ok()
}

/// The tags of a record's comma-separated `tags` string.
fn tags_of(record: &Value) -> Vec<String> {
    record
        .get("tags")
        .and_then(Value::as_str)
        .map(split_tags)
        .unwrap_or_default()
}

/// Splits a tag string at commas, trimming and dropping empty and repeated
/// (case-insensitively) tags, as Shopify stores them.
fn split_tags(text: &str) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for tag in text.split(',').map(str::trim).filter(|tag| !tag.is_empty()) {
        if !tags
            .iter()
            .any(|have| have.to_lowercase() == tag.to_lowercase())
        {
            tags.push(tag.to_string());
        }
    }
    tags
}

/// Why a tag list breaks Shopify's limits (250 tags of at most 255
/// characters), if it does.
fn tag_limit_problem(tags: &[String]) -> Option<String> {
    if tags.len() > 250 {
        return Some(format!(
            "{} tags given, at most 250 are allowed",
            tags.len()
        ));
    }
    tags.iter()
        .find(|tag| tag.chars().count() > 255)
        .map(|tag| {
            format!(
                "tag starting '{}' is longer than 255 characters",
                tag.chars().take(20).collect::<String>()
            )
        })
}

/// Writes `tags` as the record's tag string; whether it changed.
fn set_tags(record: &mut Value, tags: &[String]) -> bool {
    let text = tags.join(", ");
    if record.get("tags").and_then(Value::as_str) == Some(text.as_str()) {
        return false;
    }
    record["tags"] = json!(text);
    true
}

/// Sets `updated_at` to now, in the offset the record already uses.
fn touch(record: &mut Value) {
    let offset = record
        .get("updated_at")
        .and_then(Value::as_str)
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|time| *time.offset())
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
    record["updated_at"] = json!(Utc::now()
        .with_timezone(&offset)
        .to_rfc3339_opts(SecondsFormat::Secs, false));
}

fn index_by_id(
    records: Vec<Value>,
    kind: &str,
) -> Result<BTreeMap<u64, Value>, InvalidShopifyData> {
    let mut indexed = BTreeMap::new();
    for (index, record) in records.into_iter().enumerate() {
        let id = record
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| InvalidShopifyData(format!("{kind} #{}: no numeric id", index + 1)))?;
        if indexed.insert(id, record).is_some() {
            return Err(InvalidShopifyData(format!(
                "{kind} #{}: id {id} repeated",
                index + 1
            )));
        }
    }
    Ok(indexed)
}

fn collection(store: &Store, resource: Resource) -> &BTreeMap<u64, Value> {
    match resource {
        Resource::Customers => &store.customers,
        Resource::Orders => &store.orders,
    }
}

/// The `fields` parameter as a list, if given.
fn field_list(params: &[(String, String)]) -> Option<Vec<String>> {
    params
        .iter()
        .find(|(name, _)| name == "fields")
        .map(|(_, value)| {
            value
                .split(',')
                .map(str::trim)
                .filter(|field| !field.is_empty())
                .map(str::to_string)
                .collect()
        })
}

/// Keeps only the named top-level fields of a record.
fn project_fields(record: &Value, fields: Option<&[String]>) -> Value {
    match (fields, record.as_object()) {
        (Some(fields), Some(object)) => Value::Object(
            object
                .iter()
                .filter(|(key, _)| fields.contains(key))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        ),
        _ => record.clone(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Direction {
    Next,
    Previous,
}

/// What a `page_info` cursor carries: the direction, the id the page
/// starts after (or ends before), and the first request's filters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct PageInfo {
    direction: Direction,
    #[serde(rename = "last_id")]
    boundary_id: u64,
    #[serde(rename = "filters")]
    filter_params: Vec<(String, String)>,
}

impl PageInfo {
    fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("page_info serializes");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    fn decode(text: &str) -> Option<Self> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// A list request's paging part.
struct ListRequest {
    limit: usize,
    fields: Option<Vec<String>>,
    cursor: Option<(Direction, u64)>,
    filter_params: Vec<(String, String)>,
}

impl ListRequest {
    fn parse(params: &[(String, String)], settings: &ShopifySettings) -> Result<Self, Answer> {
        let limit = match params.iter().find(|(name, _)| name == "limit") {
            None => settings.default_limit,
            Some((_, value)) => match value.parse::<usize>() {
                Ok(limit) if (1..=settings.max_limit).contains(&limit) => limit,
                _ => {
                    return Err(Answer::bad_request(
                        "limit",
                        format!("must be between 1 and {}", settings.max_limit),
                    ))
                }
            },
        };
        let fields = field_list(params);
        let paging = ["limit", "fields", "page_info"];
        let Some((_, page_info)) = params.iter().find(|(name, _)| name == "page_info") else {
            let filter_params = params
                .iter()
                .filter(|(name, _)| !paging.contains(&name.as_str()))
                .cloned()
                .collect();
            return Ok(ListRequest {
                limit,
                fields,
                cursor: None,
                filter_params,
            });
        };
        if let Some((name, _)) = params
            .iter()
            .find(|(name, _)| !paging.contains(&name.as_str()))
        {
            return Err(Answer::bad_request(
                "page_info",
                format!(
                    "{name} cannot be passed when page_info is present. See https://shopify.dev/api/usage/pagination-rest for more information."
                ),
            ));
        }
        let page_info = PageInfo::decode(page_info)
            .ok_or_else(|| Answer::bad_request("page_info", "Invalid value."))?;
        Ok(ListRequest {
            limit,
            fields,
            cursor: Some((page_info.direction, page_info.boundary_id)),
            filter_params: page_info.filter_params,
        })
    }
}

/// A list filter, compiled from the query parameters.
#[derive(Debug, Clone, PartialEq)]
enum Filter {
    Ids(Vec<u64>),
    SinceId(u64),
    AtLeast(&'static str, DateTime<FixedOffset>),
    AtMost(&'static str, DateTime<FixedOffset>),
    /// Strictly later (GraphQL search `field:>`).
    After(&'static str, DateTime<FixedOffset>),
    /// Strictly earlier (GraphQL search `field:<`).
    Before(&'static str, DateTime<FixedOffset>),
    Exactly(&'static str, DateTime<FixedOffset>),
    Status(OrderStatus),
    FinancialStatus(String),
    FulfillmentStatus(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OrderStatus {
    Open,
    Closed,
    Cancelled,
    Any,
}

impl Filter {
    fn matches(&self, record: &Value) -> bool {
        let text = |key: &str| record.get(key).and_then(Value::as_str);
        let present = |key: &str| record.get(key).is_some_and(|value| !value.is_null());
        let time = |key: &str| text(key).and_then(|value| DateTime::parse_from_rfc3339(value).ok());
        match self {
            Filter::Ids(ids) => record
                .get("id")
                .and_then(Value::as_u64)
                .is_some_and(|id| ids.contains(&id)),
            Filter::SinceId(since) => record
                .get("id")
                .and_then(Value::as_u64)
                .is_some_and(|id| id > *since),
            Filter::AtLeast(field, bound) => time(field).is_some_and(|time| time >= *bound),
            Filter::AtMost(field, bound) => time(field).is_some_and(|time| time <= *bound),
            Filter::After(field, bound) => time(field).is_some_and(|time| time > *bound),
            Filter::Before(field, bound) => time(field).is_some_and(|time| time < *bound),
            Filter::Exactly(field, bound) => time(field).is_some_and(|time| time == *bound),
            Filter::Status(OrderStatus::Any) => true,
            Filter::Status(OrderStatus::Open) => !present("closed_at") && !present("cancelled_at"),
            Filter::Status(OrderStatus::Closed) => present("closed_at"),
            Filter::Status(OrderStatus::Cancelled) => present("cancelled_at"),
            Filter::FinancialStatus(wanted) => {
                let status = text("financial_status").unwrap_or_default();
                match wanted.as_str() {
                    "any" => true,
                    "unpaid" => matches!(status, "pending" | "authorized" | "partially_paid"),
                    wanted => status == wanted,
                }
            }
            Filter::FulfillmentStatus(wanted) => {
                let status = text("fulfillment_status");
                match wanted.as_str() {
                    "any" => true,
                    "shipped" => status == Some("fulfilled"),
                    "partial" => status == Some("partial"),
                    "unshipped" => status.is_none(),
                    "unfulfilled" => matches!(status, None | Some("partial")),
                    wanted => status == Some(wanted),
                }
            }
        }
    }
}

/// The filters of a list or count request; orders default to `status=open`.
fn compile_filters(resource: Resource, params: &[(String, String)]) -> Result<Vec<Filter>, Answer> {
    let mut filters = Vec::new();
    let mut status_given = false;
    for (name, value) in params {
        let filter = match (resource, name.as_str()) {
            (_, "ids") => Filter::Ids(
                value
                    .split(',')
                    .map(|id| id.trim().parse())
                    .collect::<Result<_, _>>()
                    .map_err(|_| Answer::bad_request("ids", "expected comma-separated ids"))?,
            ),
            (_, "since_id") => Filter::SinceId(
                value
                    .parse()
                    .map_err(|_| Answer::bad_request("since_id", "expected an id"))?,
            ),
            (_, "created_at_min") => Filter::AtLeast("created_at", timestamp(name, value)?),
            (_, "created_at_max") => Filter::AtMost("created_at", timestamp(name, value)?),
            (_, "updated_at_min") => Filter::AtLeast("updated_at", timestamp(name, value)?),
            (_, "updated_at_max") => Filter::AtMost("updated_at", timestamp(name, value)?),
            (Resource::Orders, "processed_at_min") => {
                Filter::AtLeast("processed_at", timestamp(name, value)?)
            }
            (Resource::Orders, "processed_at_max") => {
                Filter::AtMost("processed_at", timestamp(name, value)?)
            }
            (Resource::Orders, "status") => {
                status_given = true;
                Filter::Status(match value.as_str() {
                    "open" => OrderStatus::Open,
                    "closed" => OrderStatus::Closed,
                    "cancelled" => OrderStatus::Cancelled,
                    "any" => OrderStatus::Any,
                    _ => return Err(Answer::bad_request("status", "is not a valid status")),
                })
            }
            (Resource::Orders, "financial_status") => Filter::FinancialStatus(value.clone()),
            (Resource::Orders, "fulfillment_status") => Filter::FulfillmentStatus(value.clone()),
            // Shopify ignores parameters it does not know.
            _ => continue,
        };
        filters.push(filter);
    }
    if resource == Resource::Orders && !status_given {
        filters.push(Filter::Status(OrderStatus::Open));
    }
    Ok(filters)
}

/// A timestamp parameter: RFC 3339, or a date or zone-less date-time in UTC.
fn timestamp(name: &str, value: &str) -> Result<DateTime<FixedOffset>, Answer> {
    parse_timestamp(value).ok_or_else(|| Answer::bad_request(name, "is not a valid date-time"))
}

/// RFC 3339, or a date or zone-less date-time taken as UTC.
fn parse_timestamp(value: &str) -> Option<DateTime<FixedOffset>> {
    let utc = FixedOffset::east_opt(0).expect("zero offset");
    DateTime::parse_from_rfc3339(value).ok().or_else(|| {
        NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S")
            .or_else(|_| NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S"))
            .ok()
            .or_else(|| {
                NaiveDate::parse_from_str(value, "%Y-%m-%d")
                    .ok()
                    .and_then(|date| date.and_hms_opt(0, 0, 0))
            })
            .map(|naive| naive.and_local_timezone(utc).unwrap())
    })
}

/// One page of ids and whether records lie before and after it.
struct Page {
    ids: Vec<u64>,
    has_previous: bool,
    has_next: bool,
}

fn select_page(
    records: &BTreeMap<u64, Value>,
    filters: &[Filter],
    cursor: Option<(Direction, u64)>,
    limit: usize,
) -> Page {
    let matches = |record: &&Value| filters.iter().all(|filter| filter.matches(record));
    let mut ids: Vec<u64> = match cursor {
        None => records
            .values()
            .filter(matches)
            .take(limit + 1)
            .filter_map(record_id)
            .collect(),
        Some((Direction::Next, after)) => records
            .range(after.saturating_add(1)..)
            .map(|(_, record)| record)
            .filter(matches)
            .take(limit + 1)
            .filter_map(record_id)
            .collect(),
        Some((Direction::Previous, before)) => {
            let mut ids: Vec<u64> = records
                .range(..before)
                .rev()
                .map(|(_, record)| record)
                .filter(matches)
                .take(limit + 1)
                .filter_map(record_id)
                .collect();
            let has_previous = ids.len() > limit;
            ids.truncate(limit);
            ids.reverse();
            let has_next = ids.last().is_some_and(|last| {
                records
                    .range(last + 1..)
                    .map(|(_, record)| record)
                    .any(|record| matches(&record))
            });
            return Page {
                ids,
                has_previous,
                has_next,
            };
        }
    };
    let has_next = ids.len() > limit;
    ids.truncate(limit);
    let has_previous = ids.first().is_some_and(|first| {
        records
            .range(..first)
            .map(|(_, record)| record)
            .any(|record| matches(&record))
    });
    Page {
        ids,
        has_previous,
        has_next,
    }
}

fn record_id(record: &Value) -> Option<u64> {
    record.get("id").and_then(Value::as_u64)
}

async fn handle(
    State(sim): State<ShopifySimulator>,
    method: Method,
    Path(path): Path<String>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Response {
    let Some((version, endpoint)) = Endpoint::route(&method, &path) else {
        return Answer::not_found().into_response();
    };
    let settings = &sim.inner.settings;
    match sim.inner.core.faults.draw() {
        Some(FaultKind::BodyRateLimit) if endpoint == Endpoint::Graphql => {
            let bucket = settings.graphql_bucket.unwrap_or(DEFAULT_COST_BUCKET);
            let throttle = ThrottleStatus {
                maximum: bucket.maximum_available,
                available: 0.0,
                restore_rate: bucket.restore_rate,
            };
            return Answer {
                status: settings.graphql_throttled_status,
                body: throttled_body(10, throttle),
                headers: Vec::new(),
            }
            .into_response();
        }
        Some(FaultKind::RateLimit | FaultKind::BodyRateLimit) => {
            return too_many_requests(settings.rest_bucket.unwrap_or(DEFAULT_REST_BUCKET))
                .into_response()
        }
        Some(FaultKind::ServerError) => {
            let status = settings.server_error_status;
            return Answer::error(
                status,
                json!(status.canonical_reason().unwrap_or("Service Unavailable")),
            )
            .into_response();
        }
        Some(FaultKind::Slow) => tokio::time::sleep(sim.inner.core.faults.slow_delay()).await,
        None => {}
    }
    let token = headers
        .get("x-shopify-access-token")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if token.is_empty() || token != sim.inner.access_token {
        return Answer::error(
            StatusCode::UNAUTHORIZED,
            json!("[API] Invalid API key or access token (unrecognized login or wrong password)"),
        )
        .into_response();
    }
    let call = match endpoint {
        Endpoint::Graphql => return sim.answer_graphql(token, &headers, &body).into_response(),
        Endpoint::Rest(call) => call,
    };
    let call_limit = match sim.take_rest_call(token) {
        Ok(call_limit) => call_limit,
        Err(answer) => return answer.into_response(),
    };
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("127.0.0.1");
    let base = format!("http://{host}/admin/api/{version}");
    sim.answer_rest(call, &params, &body, &base)
        .with_header(
            header::HeaderName::from_static(CALL_LIMIT_HEADER),
            call_limit,
        )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulators::FaultConfig;

    const TOKEN: &str = "shpat_test_token";

    fn customer(id: u64, updated: &str, tags: &str) -> Value {
        json!({
            "id": id, "email": format!("c{id}@example.com"), "phone": "+8613800138000",
            "first_name": "Bob", "last_name": format!("N{id}"), "tags": tags,
            "orders_count": 1, "total_spent": "10.00", "currency": "CNY", "state": "enabled",
            "created_at": "2024-01-01T00:00:00+08:00", "updated_at": updated,
        })
    }

    fn order(id: u64, financial: &str, closed: bool, cancelled: bool) -> Value {
        json!({
            "id": id, "name": format!("#{id}"), "customer": {"id": 1}, "total_price": "9.90",
            "currency": "CNY", "financial_status": financial, "fulfillment_status": null,
            "closed_at": if closed { json!("2024-05-02T00:00:00+08:00") } else { Value::Null },
            "cancelled_at": if cancelled { json!("2024-05-02T00:00:00+08:00") } else { Value::Null },
            "processed_at": "2024-05-01T00:00:00+08:00", "updated_at": "2024-05-01T00:00:00+08:00",
        })
    }

    fn data() -> ShopifyData {
        ShopifyData {
            shop: "tierlink-test".into(),
            access_token: TOKEN.into(),
            customers: (1..=7)
                .map(|i| {
                    let day = if i % 2 == 0 {
                        "2024-05-03"
                    } else {
                        "2024-04-03"
                    };
                    customer(i * 100, &format!("{day}T10:11:12-04:00"), "wholesale")
                })
                .collect(),
            orders: vec![
                order(1001, "paid", false, false),
                order(1002, "pending", false, false),
                order(1003, "paid", true, false),
                order(1004, "refunded", true, true),
            ],
        }
    }

    struct Harness {
        sim: ShopifySimulator,
        running: RunningSimulator,
        client: reqwest::Client,
    }

    impl Harness {
        async fn start(settings: ShopifySettings) -> Self {
            let sim = ShopifySimulator::new(data(), settings).unwrap();
            let running = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
            Harness {
                sim,
                running,
                client: reqwest::Client::new(),
            }
        }

        fn url(&self, path: &str) -> String {
            format!("{}/admin/api/2024-01/{path}", self.running.base_url)
        }

        async fn get(&self, path: &str) -> reqwest::Response {
            self.get_url(&self.url(path)).await
        }

        async fn get_url(&self, url: &str) -> reqwest::Response {
            self.client
                .get(url)
                .header("X-Shopify-Access-Token", TOKEN)
                .send()
                .await
                .unwrap()
        }

        async fn graphql(&self, body: Value) -> (StatusCode, Value) {
            let response = self
                .client
                .post(self.url("graphql.json"))
                .header("X-Shopify-Access-Token", TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap();
            (response.status(), response.json().await.unwrap())
        }
    }

    fn unthrottled() -> ShopifySettings {
        ShopifySettings {
            rest_bucket: None,
            graphql_bucket: None,
            ..ShopifySettings::default()
        }
    }

    fn link(response: &reqwest::Response, rel: &str) -> Option<String> {
        let header = response
            .headers()
            .get("link")?
            .to_str()
            .unwrap()
            .to_string();
        header.split(", ").find_map(|part| {
            part.ends_with(&format!("rel=\"{rel}\""))
                .then(|| part[1..part.find('>').unwrap()].to_string())
        })
    }

    fn ids(body: &Value, key: &str) -> Vec<u64> {
        body[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|record| record["id"].as_u64().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn paged_customer_read_returns_every_customer_once_in_id_order() {
        let h = Harness::start(unthrottled()).await;
        let first = h.get("customers.json?limit=3").await;
        assert_eq!(first.status(), 200);
        assert!(link(&first, "previous").is_none());
        let mut next = link(&first, "next");
        let mut seen = ids(&first.json().await.unwrap(), "customers");
        let mut pages = vec![seen.clone()];
        while let Some(url) = next {
            assert!(url.contains("limit=3&page_info="), "{url}");
            let response = h.get_url(&url).await;
            assert_eq!(response.status(), 200);
            assert!(link(&response, "previous").is_some());
            next = link(&response, "next");
            let page = ids(&response.json().await.unwrap(), "customers");
            seen.extend(&page);
            pages.push(page);
        }
        assert_eq!(seen, vec![100, 200, 300, 400, 500, 600, 700]);
        assert_eq!(pages.len(), 3);

        // rel="previous" of the last page leads back to the middle page.
        let last = h
            .get_url(&link(&h.get("customers.json?limit=3").await, "next").unwrap())
            .await;
        let last = h.get_url(&link(&last, "next").unwrap()).await;
        let back = h.get_url(&link(&last, "previous").unwrap()).await;
        assert_eq!(ids(&back.json().await.unwrap(), "customers"), pages[1]);

        let single = h.get("customers.json?limit=250").await;
        assert!(single.headers().get("link").is_none());
        assert_eq!(ids(&single.json().await.unwrap(), "customers").len(), 7);
    }

    #[tokio::test]
    async fn filters_travel_inside_page_info_and_cannot_be_repeated_next_to_it() {
        let h = Harness::start(unthrottled()).await;
        let first = h
            .get("customers.json?updated_at_min=2024-05-01T00:00:00Z&limit=2&fields=id,tags")
            .await;
        let next = link(&first, "next").unwrap();
        assert!(next.contains("fields=id,tags"));
        let body: Value = first.json().await.unwrap();
        assert_eq!(ids(&body, "customers"), vec![200, 400]);
        assert_eq!(
            body["customers"][0],
            json!({"id": 200, "tags": "wholesale"})
        );
        let second = h.get_url(&next).await;
        assert!(link(&second, "next").is_none());
        assert_eq!(ids(&second.json().await.unwrap(), "customers"), vec![600]);

        let mixed = h
            .get_url(&format!("{next}&updated_at_min=2024-05-01T00:00:00Z"))
            .await;
        assert_eq!(mixed.status(), 400);
        let error: Value = mixed.json().await.unwrap();
        assert!(error["errors"]["page_info"]
            .as_str()
            .unwrap()
            .starts_with("updated_at_min cannot be passed when page_info is present"));
        let forged = h.get("customers.json?page_info=bm90LWpzb24").await;
        assert_eq!(forged.status(), 400);

        let by_ids = h.get("customers.json?ids=300,100&since_id=100").await;
        assert_eq!(ids(&by_ids.json().await.unwrap(), "customers"), vec![300]);
        let count: Value = h
            .get("customers/count.json?updated_at_min=2024-05-01")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(count, json!({"count": 3}));
        let bad_date = h.get("customers.json?created_at_min=yesterday").await;
        assert_eq!(bad_date.status(), 400);
    }

    #[tokio::test]
    async fn limit_over_the_maximum_is_rejected() {
        let h = Harness::start(unthrottled()).await;
        assert_eq!(h.get("customers.json?limit=251").await.status(), 400);
        assert_eq!(h.get("orders.json?limit=0").await.status(), 400);
        assert_eq!(h.get("customers.json?limit=250").await.status(), 200);
        let default: Value = h.get("customers.json").await.json().await.unwrap();
        assert_eq!(default["customers"].as_array().unwrap().len(), 7);
    }

    #[tokio::test]
    async fn orders_default_to_open_and_filter_by_status() {
        let h = Harness::start(unthrottled()).await;
        let list = |query: &'static str| {
            let h = &h;
            async move {
                ids(
                    &h.get(&format!("orders.json{query}"))
                        .await
                        .json()
                        .await
                        .unwrap(),
                    "orders",
                )
            }
        };
        assert_eq!(list("").await, vec![1001, 1002]);
        assert_eq!(list("?status=any").await, vec![1001, 1002, 1003, 1004]);
        assert_eq!(list("?status=closed").await, vec![1003, 1004]);
        assert_eq!(list("?status=cancelled").await, vec![1004]);
        assert_eq!(
            list("?status=any&financial_status=paid").await,
            vec![1001, 1003]
        );
        assert_eq!(list("?financial_status=unpaid").await, vec![1002]);
        assert_eq!(
            list("?status=any&processed_at_min=2024-06-01").await,
            Vec::<u64>::new()
        );
        let count: Value = h.get("orders/count.json").await.json().await.unwrap();
        assert_eq!(count["count"], 2);
        let one: Value = h
            .get("orders/1003.json?fields=id,name")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(one, json!({"order": {"id": 1003, "name": "#1003"}}));
        assert_eq!(h.get("orders/9.json").await.status(), 404);
    }

    #[tokio::test]
    async fn access_token_and_api_version_are_checked() {
        let h = Harness::start(unthrottled()).await;
        for token in [None, Some("shpat_wrong")] {
            let mut request = h.client.get(h.url("customers.json"));
            if let Some(token) = token {
                request = request.header("X-Shopify-Access-Token", token);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401);
            let body: Value = response.json().await.unwrap();
            assert_eq!(
                body["errors"],
                "[API] Invalid API key or access token (unrecognized login or wrong password)"
            );
        }
        let shop: Value = h.get("shop.json").await.json().await.unwrap();
        assert_eq!(
            shop["shop"]["myshopify_domain"],
            "tierlink-test.myshopify.com"
        );
        assert_eq!(shop["shop"]["currency"], "CNY");
        for path in [
            "/admin/api/2024-13/shop.json",
            "/admin/api/v1/shop.json",
            "/admin/shop.json",
            "/admin/api/2024-01/products.json",
        ] {
            let response = h.get_url(&format!("{}{path}", h.running.base_url)).await;
            assert_eq!(response.status(), 404, "{path}");
        }
        assert_eq!(
            h.get_url(&format!(
                "{}/admin/api/unstable/shop.json",
                h.running.base_url
            ))
            .await
            .status(),
            200
        );
    }

    #[tokio::test]
    async fn put_customer_replaces_the_whole_tag_string_and_is_logged() {
        let h = Harness::start(unthrottled()).await;
        let put = |body: Value| {
            h.client
                .put(h.url("customers/200.json"))
                .header("X-Shopify-Access-Token", TOKEN)
                .json(&body)
                .send()
        };
        let before = h.sim.customer(200).unwrap();
        let update =
            json!({"customer": {"id": 200, "tags": "tier:gold, VIP, tier:gold", "note": "x"}});
        let response = put(update.clone()).await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["customer"]["tags"], "tier:gold, VIP");
        assert_eq!(h.sim.customer_tags(200).unwrap(), vec!["tier:gold", "VIP"]);
        let after = h.sim.customer(200).unwrap();
        assert_ne!(after["updated_at"], before["updated_at"]);
        assert!(after["updated_at"].as_str().unwrap().ends_with("-04:00"));
        assert_eq!(after["note"], "x");

        // The same tags again change nothing, but the call is logged.
        put(update.clone()).await.unwrap();
        assert_eq!(
            h.sim.customer(200).unwrap()["updated_at"],
            after["updated_at"]
        );
        let writes = h.sim.core().writes.all();
        assert_eq!(writes.len(), 2);
        assert_eq!(writes[0].call, "PUT customers/200.json");
        assert_eq!(writes[0].body, update);

        // Clients send the whole customer back; read-only fields are ignored.
        let mut whole = h.sim.customer(400).unwrap();
        whole["tags"] = json!("wholesale, tier:silver");
        whole["orders_count"] = json!(99);
        whole["updated_at"] = json!("1999-01-01T00:00:00Z");
        let response = h
            .client
            .put(h.url("customers/400.json"))
            .header("X-Shopify-Access-Token", TOKEN)
            .json(&json!({ "customer": whole }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let stored = h.sim.customer(400).unwrap();
        assert_eq!(stored["tags"], "wholesale, tier:silver");
        assert_eq!(stored["orders_count"], 1);
        assert!(stored["updated_at"].as_str().unwrap().starts_with("20"));
        assert_ne!(stored["updated_at"], "1999-01-01T00:00:00Z");
        h.sim.core().writes.clear();
        put(update.clone()).await.unwrap();
        put(update.clone()).await.unwrap();

        let missing_root = put(json!({"tags": "x"})).await.unwrap();
        assert_eq!(missing_root.status(), 400);
        let body: Value = missing_root.json().await.unwrap();
        assert_eq!(
            body["errors"]["customer"],
            "Required parameter missing or invalid"
        );
        let too_long = put(json!({"customer": {"tags": "x".repeat(256)}}))
            .await
            .unwrap();
        assert_eq!(too_long.status(), 422);
        let unknown = h
            .client
            .put(h.url("customers/999.json"))
            .header("X-Shopify-Access-Token", TOKEN)
            .json(&json!({"customer": {"tags": "x"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status(), 404);
        assert_eq!(h.sim.core().writes.len(), 2);
    }

    #[tokio::test]
    async fn leaky_bucket_moves_the_call_limit_header_then_answers_429() {
        let h = Harness::start(ShopifySettings {
            rest_bucket: Some(LeakyBucket {
                size: 3,
                leak_per_second: 0.01,
            }),
            ..ShopifySettings::default()
        })
        .await;
        for used in 1..=3 {
            let response = h.get("shop.json").await;
            assert_eq!(response.status(), 200);
            assert_eq!(
                response.headers()[CALL_LIMIT_HEADER],
                format!("{used}/3").as_str()
            );
        }
        let limited = h.get("shop.json").await;
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.headers()["retry-after"], "2.0");
        let body: Value = limited.json().await.unwrap();
        assert!(body["errors"].as_str().unwrap().starts_with("Exceeded"));

        let open = Harness::start(unthrottled()).await;
        for _ in 0..60 {
            assert_eq!(open.get("shop.json").await.status(), 200);
        }
    }

    #[tokio::test]
    async fn faults_answer_in_shopify_shape_and_leave_state_alone() {
        let h = Harness::start(unthrottled()).await;
        let add = json!({
            "query": "mutation($id: ID!, $tags: [String!]!) { tagsAdd(id: $id, tags: $tags) { node { id } userErrors { field message } } }",
            "variables": {"id": "gid://shopify/Customer/100", "tags": ["tier:gold"]},
        });
        let set = |kind| {
            h.sim.core().faults.set(FaultConfig {
                rate: 1.0,
                kinds: vec![kind],
                slow_ms: 30,
                ..FaultConfig::default()
            })
        };
        set(FaultKind::RateLimit);
        let response = h.get("customers.json").await;
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "2.0");
        assert_eq!(h.graphql(add.clone()).await.0, 429);
        set(FaultKind::ServerError);
        assert_eq!(h.get("customers.json").await.status(), 503);
        assert_eq!(h.graphql(add.clone()).await.0, 503);
        set(FaultKind::BodyRateLimit);
        assert_eq!(h.get("customers.json").await.status(), 429);
        let (status, body) = h.graphql(add.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(body["errors"][0]["extensions"]["code"], "THROTTLED");
        assert!(body.get("data").is_none());
        assert_eq!(h.sim.customer_tags(100).unwrap(), vec!["wholesale"]);
        assert!(h.sim.core().writes.is_empty());

        set(FaultKind::Slow);
        let started = Instant::now();
        let (status, body) = h.graphql(add).await;
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert_eq!(status, 200);
        assert_eq!(body["data"]["tagsAdd"]["userErrors"], json!([]));
        assert_eq!(
            h.sim.customer_tags(100).unwrap(),
            vec!["wholesale", "tier:gold"]
        );
    }

    #[tokio::test]
    async fn graphql_tags_add_and_remove_change_only_the_named_tags() {
        let h = Harness::start(ShopifySettings::default()).await;
        let before = h.sim.customer(300).unwrap();
        let (status, body) = h
            .graphql(json!({
                "query": "mutation Tier($id: ID!, $tags: [String!]!) { tagsAdd(id: $id, tags: $tags) { node { id ... on Customer { tags } } userErrors { field message } } }",
                "variables": {"id": "gid://shopify/Customer/300", "tags": ["tier:gold", "VIP"]},
                "operationName": "Tier",
            }))
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            body["data"]["tagsAdd"],
            json!({"node": {"id": "gid://shopify/Customer/300", "tags": ["wholesale", "tier:gold", "VIP"]}, "userErrors": []})
        );
        let throttle = &body["extensions"]["cost"]["throttleStatus"];
        assert_eq!(throttle["maximumAvailable"], 2000.0);
        assert!(throttle["currentlyAvailable"].as_f64().unwrap() < 2000.0);

        // Inline literals, an alias, and a re-add of a present tag.
        let (_, body) = h
            .graphql(json!({"query": r#"mutation { swap: tagsRemove(id: "gid://shopify/Customer/300", tags: ["tier:gold"]) { userErrors { message } } again: tagsAdd(id: "gid://shopify/Customer/300", tags: "VIP") { node { id } } }"#}))
            .await;
        assert_eq!(body["data"]["swap"], json!({"userErrors": []}));
        assert_eq!(
            body["data"]["again"]["node"]["id"],
            "gid://shopify/Customer/300"
        );
        assert_eq!(h.sim.customer_tags(300).unwrap(), vec!["wholesale", "VIP"]);
        assert_ne!(
            h.sim.customer(300).unwrap()["updated_at"],
            before["updated_at"]
        );
        let calls: Vec<String> = h
            .sim
            .core()
            .writes
            .all()
            .into_iter()
            .map(|w| w.call)
            .collect();
        assert_eq!(calls, ["tagsAdd", "tagsRemove", "tagsAdd"]);

        let (_, read) = h
            .graphql(json!({"query": r#"{ customer(id: "gid://shopify/Customer/300") { legacyResourceId tags } shop { name } }"#}))
            .await;
        assert_eq!(
            read["data"]["customer"],
            json!({"legacyResourceId": "300", "tags": ["wholesale", "VIP"]})
        );
        assert_eq!(read["data"]["shop"]["name"], "tierlink-test");

        let (_, missing) = h
            .graphql(json!({"query": r#"mutation { tagsAdd(id: "gid://shopify/Customer/1", tags: ["x"]) { node { id } userErrors { field message } } }"#}))
            .await;
        assert_eq!(missing["data"]["tagsAdd"]["node"], Value::Null);
        assert_eq!(
            missing["data"]["tagsAdd"]["userErrors"][0]["field"],
            json!(["id"])
        );
    }

    #[tokio::test]
    async fn graphql_customers_connection_pages_by_sort_key_and_search() {
        let h = Harness::start(ShopifySettings::default()).await;
        let query = "query Sync($after: String) { customers(first: 2, after: $after, sortKey: UPDATED_AT, query: \"updated_at:>'2024-05-01T00:00:00Z'\") { pageInfo { hasNextPage endCursor } nodes { legacyResourceId updatedAt } } }";
        let mut after = Value::Null;
        let mut seen = Vec::new();
        loop {
            let (status, body) = h
                .graphql(json!({"query": query, "variables": {"after": after}}))
                .await;
            assert_eq!(status, 200, "{body}");
            let connection = &body["data"]["customers"];
            for node in connection["nodes"].as_array().unwrap() {
                seen.push(node["legacyResourceId"].as_str().unwrap().to_string());
            }
            assert_eq!(body["extensions"]["cost"]["requestedQueryCost"], 5);
            if connection["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = connection["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(seen, ["200", "400", "600"]);

        let (_, all) = h
            .graphql(json!({"query": "{ customers(first: 250, reverse: true) { edges { cursor node { id } } } }"}))
            .await;
        let edges = all["data"]["customers"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), 7);
        assert_eq!(edges[0]["node"]["id"], "gid://shopify/Customer/700");
        let (_, over) = h
            .graphql(json!({"query": "{ customers(first: 251) { nodes { id } } }"}))
            .await;
        assert_eq!(
            over["errors"][0]["extensions"]["code"],
            "argumentLiteralsIncompatible"
        );
        let (_, search) = h
            .graphql(json!({"query": "{ customers(first: 5, query: \"email:c100@example.com\") { nodes { id } } }"}))
            .await;
        assert_eq!(
            search["errors"][0]["extensions"]["code"],
            "unsupportedSearch"
        );
    }

    #[tokio::test]
    async fn unsupported_or_broken_graphql_gets_an_error_body() {
        let h = Harness::start(ShopifySettings::default()).await;
        for (query, code) in [
            ("{ products(first: 5) { nodes { id } } }", "undefinedField"),
            (
                "mutation { tagsAdd(id: \"x\") { node { id } } }",
                "missingRequiredArguments",
            ),
            (
                "mutation { tagsAdd(id: \"x\", tags: [\"a\"]) }",
                "selectionMismatch",
            ),
            (
                "mutation($id: ID!) { tagsAdd(id: $id, tags: [\"a\"]) { node { id } } }",
                "INVALID_VARIABLE",
            ),
            (
                "{ customer(id: \"gid://shopify/Customer/100\") { tags { x } } }",
                "selectionMismatch",
            ),
            ("mutation { tagsAdd(id: ", "syntaxError"),
            ("subscription { shop { name } }", "unsupportedOperation"),
        ] {
            let (status, body) = h.graphql(json!({ "query": query })).await;
            assert_eq!(status, 200, "{query}");
            assert_eq!(
                body["errors"][0]["extensions"]["code"], code,
                "{query}: {body}"
            );
            assert!(body.get("data").is_none(), "{query}");
        }
        assert!(h.sim.core().writes.is_empty());
        let response = h
            .client
            .post(h.url("graphql.json"))
            .header("X-Shopify-Access-Token", TOKEN)
            .json(&json!({"variables": {}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
    }

    #[tokio::test]
    async fn graphql_answers_throttled_when_the_cost_bucket_is_empty() {
        let h = Harness::start(ShopifySettings {
            graphql_bucket: Some(CostBucket {
                maximum_available: 15.0,
                restore_rate: 0.001,
            }),
            graphql_throttled_status: StatusCode::TOO_MANY_REQUESTS,
            ..ShopifySettings::default()
        })
        .await;
        let add = json!({"query": r#"mutation { tagsAdd(id: "gid://shopify/Customer/100", tags: ["a"]) { node { id } } }"#});
        let (status, first) = h.graphql(add.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(first["extensions"]["cost"]["requestedQueryCost"], 11);
        let (status, throttled) = h.graphql(add).await;
        assert_eq!(status, 429);
        assert_eq!(throttled["errors"][0]["extensions"]["code"], "THROTTLED");
        assert_eq!(h.sim.core().writes.len(), 1);
    }

    /// A `world.json` with every simulator's credentials, as the generator writes it.
    const WORLD_JSON: &str = r#"{"seed": 1, "credentials": {
        "wecom": {"corp_id": "wwWORLD", "corp_secret": "s"},
        "shopify": {"shop": "world-shop", "access_token": "shpat_world"},
        "zendesk": {"subdomain": "z", "email": "a@b.c", "api_token": "t"},
        "odoo": {"db": "d", "login": "l", "api_key": "k", "uid": 2}}}"#;

    #[test]
    fn loads_a_world_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("shopify")).unwrap();
        std::fs::write(dir.path().join("world.json"), WORLD_JSON).unwrap();
        let lines = |records: &[Value]| {
            records
                .iter()
                .map(|record| format!("{record}\n"))
                .collect::<String>()
        };
        std::fs::write(
            dir.path().join("shopify/customers.jsonl"),
            lines(&data().customers),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("shopify/orders.jsonl"),
            lines(&data().orders),
        )
        .unwrap();
        let loaded = ShopifyData::from_world(&World::new(dir.path())).unwrap();
        assert_eq!(loaded.shop, "world-shop");
        assert_eq!(loaded.access_token, "shpat_world");
        assert_eq!(loaded.customers, data().customers);
        assert_eq!(loaded.orders.len(), 4);
    }

    #[test]
    fn loading_names_the_record_without_an_id() {
        let mut broken = data();
        broken.orders.push(json!({"name": "#9"}));
        let error = ShopifySimulator::new(broken, ShopifySettings::default())
            .err()
            .unwrap();
        assert!(error.to_string().contains("order #5"), "{error}");
    }
}
