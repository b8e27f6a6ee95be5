//! Tests of the http connector over real HTTP on 127.0.0.1: every paging
//! style, every auth flow, every retry signal, faults, incremental syncs,
//! interrupted syncs staged through a real store, and config problems.
//!
//! Delays are kept tiny through the config (`base_delay_ms = 1`, pauses of
//! a fraction of a second); `tokio::time::pause` cannot drive real sockets.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::test_server::{Reply, Request, TestServer};
use super::{build_with_env, HttpSource};
use crate::config::Problem;
use crate::connectors::{ConnectorDefinition, ConnectorError, ErrorDomain, Source, SourceContext};
use crate::store::{StageCounts, StagedBatch, Store};

/// The test environment: the only variables secrets may come from.
fn env(name: &str) -> Option<String> {
    let value = match name {
        "API_TOKEN" => "tok-123456",
        "CORP_SECRET" => "corp-secret-xyz",
        "CLIENT_SECRET" => "client-secret-abc",
        _ => return None,
    };
    Some(value.to_string())
}

fn definition(text: &str) -> ConnectorDefinition<'static> {
    ConnectorDefinition {
        id: "api",
        file: Path::new("connectors/api.toml"),
        base_dir: Path::new("."),
        table: text.parse().expect("the test config is TOML"),
    }
}

fn source(text: &str) -> Arc<HttpSource> {
    match build_with_env(&definition(text), &env) {
        Ok(source) => Arc::new(source),
        Err(problems) => panic!("the test config has problems: {problems:#?}"),
    }
}

fn problems(text: &str) -> Vec<Problem> {
    match build_with_env(&definition(text), &env) {
        Ok(_) => panic!("expected problems"),
        Err(problems) => problems,
    }
}

/// A store in a temporary directory, a run, and a context on it.
struct Harness {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    context: SourceContext,
    run_id: i64,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let store = crate::store::open(&url, dir.path())
        .await
        .expect("open the store");
    let run_id = store.start_run("test").await.expect("start a run");
    let context = SourceContext::new(store.clone());
    Harness {
        _dir: dir,
        store,
        context,
        run_id,
    }
}

/// Pulls a stream without staging: every batch sent, and how the pull ended.
async fn pull(
    source: &HttpSource,
    context: &SourceContext,
    stream: &str,
    cursor: Option<Value>,
) -> (Vec<StagedBatch>, Result<(), ConnectorError>) {
    let (sender, mut receiver) = mpsc::channel(10_000);
    let result = source.pull(context, stream, cursor, sender).await;
    let mut batches = Vec::new();
    while let Ok(batch) = receiver.try_recv() {
        batches.push(batch);
    }
    (batches, result)
}

fn ids(batches: &[StagedBatch]) -> Vec<String> {
    batches
        .iter()
        .flat_map(|batch| batch.records.iter().map(|record| record.source_id.clone()))
        .collect()
}

fn last_cursor(batches: &[StagedBatch]) -> Option<Value> {
    batches.iter().rev().find_map(|batch| batch.cursor.clone())
}

/// Syncs a stream as the pipeline does, staging each batch as it comes;
/// with `stop_after`, the sync is killed after that many batches.
async fn sync(
    harness: &Harness,
    source: &Arc<HttpSource>,
    stream: &str,
    stop_after: Option<usize>,
) -> (StageCounts, Result<(), ConnectorError>) {
    let cursor = harness
        .store
        .cursor("api", stream)
        .await
        .expect("read the cursor");
    let (sender, mut receiver) = mpsc::channel(1);
    let task_source = source.clone();
    let task_context = harness.context.clone();
    let stream_name = stream.to_string();
    let pull = tokio::spawn(async move {
        task_source
            .pull(&task_context, &stream_name, cursor, sender)
            .await
    });
    let mut counts = StageCounts::default();
    let mut staged = 0;
    while let Some(batch) = receiver.recv().await {
        let batch_counts = harness
            .store
            .stage_batch(harness.run_id, "api", stream, &batch)
            .await
            .expect("stage a batch");
        counts.add(batch_counts);
        staged += 1;
        if stop_after == Some(staged) {
            pull.abort();
            let _ = pull.await;
            return (
                counts,
                Err(ConnectorError::internal("the test killed the sync")),
            );
        }
    }
    let result = pull.await.expect("the pull task ends");
    (counts, result)
}

/// Every staged source id of a stream.
async fn staged_ids(harness: &Harness, stream: &str) -> Vec<String> {
    let mut ids: Vec<String> = harness
        .store
        .pending_mapping("api", stream, "test", 100_000)
        .await
        .expect("read staged records")
        .into_iter()
        .map(|record| record.source_id)
        .collect();
    ids.sort();
    ids
}

/// Answers `script` in order, then `then` for ever.
fn scripted(script: Vec<Reply>, then: Reply) -> impl Fn(&Request) -> Reply + Send + Sync {
    let calls = AtomicUsize::new(0);
    move |_request| {
        let call = calls.fetch_add(1, Ordering::SeqCst);
        script.get(call).cloned().unwrap_or_else(|| then.clone())
    }
}

/// A seeded generator for reproducible faults (splitmix64).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn numbered(range: std::ops::RangeInclusive<u64>) -> Vec<String> {
    range.map(|id| id.to_string()).collect()
}

// ---------------------------------------------------------------- paging

#[tokio::test]
async fn page_numbers_stop_on_a_short_or_an_empty_page() {
    for total in [7usize, 6] {
        let server = TestServer::start(move |request| {
            let page: usize = request
                .param("page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            let size: usize = request
                .param("per_page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            let items: Vec<Value> = (1..=total)
                .skip((page - 1) * size)
                .take(size)
                .map(|id| json!({"id": id}))
                .collect();
            Reply::json(json!({"items": items}))
        })
        .await;
        let source = source(&format!(
            r#"base_url = "{}"
            [streams.items]
            path = "/items"
            records_path = "items"
            primary_key = "id"
            pagination = {{ style = "page_number", param = "page", size_param = "per_page", size = 3 }}
            "#,
            server.url
        ));
        let harness = harness().await;
        let (batches, result) = pull(&source, &harness.context, "items", None).await;
        result.expect("the pull succeeds");
        assert_eq!(ids(&batches), numbered(1..=total as u64));
        let pages: Vec<String> = server
            .requests()
            .iter()
            .map(|r| r.param("page").unwrap_or_default().to_string())
            .collect();
        assert_eq!(pages, vec!["1", "2", "3"], "{total} records");
        assert_eq!(
            last_cursor(&batches),
            Some(json!({})),
            "the sweep is complete"
        );
    }
}

#[tokio::test]
async fn offset_and_limit_go_into_a_json_body_as_numbers() {
    let server = TestServer::start(|request| {
        let body = request.json();
        let offset = body["offset"].as_u64().unwrap_or(999) as usize;
        let limit = body["limit"].as_u64().unwrap_or(0) as usize;
        let rows: Vec<Value> = (1..=5)
            .skip(offset)
            .take(limit)
            .map(|id| json!({"id": id}))
            .collect();
        Reply::json(json!({"result": rows}))
    })
    .await;
    let source = source(&format!(
        r#"base_url = "{}"
        [streams.rows]
        method = "POST"
        path = "/rows"
        body = {{ offset = "{{{{ offset }}}}", limit = "{{{{ limit }}}}", label = "from {{{{ offset }}}}" }}
        records_path = "result"
        primary_key = "id"
        pagination = {{ style = "offset_limit", limit = 2 }}
        "#,
        server.url
    ));
    let harness = harness().await;
    let (batches, result) = pull(&source, &harness.context, "rows", None).await;
    result.expect("the pull succeeds");
    assert_eq!(ids(&batches), numbered(1..=5));
    let bodies: Vec<Value> = server.requests().iter().map(Request::json).collect();
    assert_eq!(
        bodies,
        vec![
            json!({"offset": 0, "limit": 2, "label": "from 0"}),
            json!({"offset": 2, "limit": 2, "label": "from 2"}),
            json!({"offset": 4, "limit": 2, "label": "from 4"}),
        ]
    );
}

/// A Zendesk-like incremental cursor export over `users`.
fn zendesk_server(users: Arc<Mutex<Vec<Value>>>) -> impl Fn(&Request) -> Reply + Send + Sync {
    move |request| {
        let users = users.lock().expect("users").clone();
        let start = match (request.param("cursor"), request.param("start_time")) {
            (Some(_), Some(_)) => {
                return Reply::text(
                    400,
                    r#"{"error":"InvalidPaginationParameter","description":"cursor and start_time"}"#,
                )
            }
            (Some(cursor), None) => cursor.trim_start_matches('c').parse().unwrap_or(0),
            (None, Some(_)) => 0,
            (None, None) => return Reply::text(400, r#"{"error":"start_time is required"}"#),
        };
        let page: Vec<Value> = users.iter().skip(start).take(2).cloned().collect();
        let end = start + page.len();
        Reply::json(json!({
            "users": page,
            "after_cursor": format!("c{end}"),
            "after_url": format!("https://x.zendesk.com/api/v2/incremental/users/cursor.json?cursor=c{end}"),
            "end_of_stream": end >= users.len(),
        }))
    }
}

#[tokio::test]
async fn a_cursor_export_sends_only_the_cursor_and_continues_from_it_next_sync() {
    let users = Arc::new(Mutex::new(
        (1..=5)
            .map(|id| json!({"id": id, "generated_timestamp": 1_714_000_000 + id}))
            .collect::<Vec<_>>(),
    ));
    let server = TestServer::start(zendesk_server(users.clone())).await;
    let source = source(&format!(
        r#"base_url = "{}/api/v2"
        [streams.users]
        path = "/incremental/users/cursor.json"
        query = {{ start_time = "{{{{ since }}}}", per_page = "2" }}
        records_path = "users"
        primary_key = "id"
        incremental = {{ cursor_field = "generated_timestamp", format = "unix_seconds" }}
        pagination = {{ style = "cursor", cursor_path = "after_cursor", param = "cursor", only_cursor = true, stop_path = "end_of_stream", keep_final_cursor = true }}
        "#,
        server.url
    ));
    let harness = harness().await;
    let (batches, result) = pull(&source, &harness.context, "users", None).await;
    result.expect("the first sync succeeds");
    assert_eq!(ids(&batches), numbered(1..=5));
    let queries: Vec<Vec<(String, String)>> =
        server.requests().iter().map(|r| r.query.clone()).collect();
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    assert_eq!(
        queries,
        vec![
            vec![pair("per_page", "2"), pair("start_time", "0")],
            vec![pair("cursor", "c2")],
            vec![pair("cursor", "c4")],
        ]
    );
    // Each page's cursor says where an interrupted sync resumes.
    assert_eq!(
        batches[0]
            .cursor
            .as_ref()
            .map(|c| c["resume"]["position"].clone()),
        Some(json!({"at": "cursor", "cursor": "c2"}))
    );
    let cursor = last_cursor(&batches);
    assert_eq!(
        cursor,
        Some(json!({"high_water": 1_714_000_005, "next_cursor": "c5"}))
    );

    users
        .lock()
        .expect("users")
        .extend((6..=7).map(|id| json!({"id": id, "generated_timestamp": 1_714_000_000 + id})));
    let before = server.requests().len();
    let (batches, result) = pull(&source, &harness.context, "users", cursor).await;
    result.expect("the second sync succeeds");
    assert_eq!(ids(&batches), numbered(6..=7));
    assert_eq!(server.requests()[before].query, vec![pair("cursor", "c5")]);
}

#[tokio::test]
async fn sideloaded_organizations_are_put_into_their_users_on_every_page() {
    let organizations = [
        json!({"id": 70, "name": "深圳立信嘉禾电子有限公司"}),
        json!({"id": 71, "name": "华为技术有限公司"}),
    ];
    // Users 1 and 3 at firm 70, user 2 at 71, user 4 at none, user 5 at a
    // firm the answer leaves out.
    let users: Vec<Value> = [
        (1, json!(70)),
        (2, json!(71)),
        (3, json!("70")),
        (4, Value::Null),
        (5, json!(99)),
    ]
    .into_iter()
    .map(|(id, organization)| json!({"id": id, "organization_id": organization}))
    .collect();
    let export = zendesk_server(Arc::new(Mutex::new(users)));
    let server = TestServer::start(move |request| {
        let mut reply = export(request);
        if request.param("include") == Some("organizations") {
            let page: Value = serde_json::from_slice(&reply.body).expect("a JSON page");
            let wanted: Vec<String> = page["users"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|user| user["organization_id"].to_string().replace('"', ""))
                .collect();
            let sideloaded: Vec<Value> = organizations
                .iter()
                .filter(|organization| wanted.contains(&organization["id"].to_string()))
                .cloned()
                .collect();
            let mut page = page;
            page["organizations"] = Value::Array(sideloaded);
            reply = Reply::json(page);
        }
        reply
    })
    .await;
    let source = source(&format!(
        r#"base_url = "{}/api/v2"
        [streams.users]
        path = "/incremental/users/cursor.json"
        query = {{ start_time = "0", include = "organizations" }}
        records_path = "users"
        primary_key = "id"
        pagination = {{ style = "cursor", cursor_path = "after_cursor", param = "cursor", only_cursor = true, keep_query = ["include"], stop_path = "end_of_stream" }}
        [[streams.users.sideloads]]
        path = "organizations"
        field = "organization_id"
        into = "organization"
        "#,
        server.url
    ));
    let harness = harness().await;
    let (batches, result) = pull(&source, &harness.context, "users", None).await;
    result.expect("the sync succeeds");
    let firms: Vec<(String, Value)> = batches
        .iter()
        .flat_map(|batch| &batch.records)
        .map(|record| {
            (
                record.source_id.clone(),
                record.raw["organization"]["name"].clone(),
            )
        })
        .collect();
    let firm = |id: &str, name: Value| (id.to_string(), name);
    assert_eq!(
        firms,
        vec![
            firm("1", json!("深圳立信嘉禾电子有限公司")),
            firm("2", json!("华为技术有限公司")),
            firm("3", json!("深圳立信嘉禾电子有限公司")),
            firm("4", Value::Null),
            firm("5", Value::Null),
        ]
    );
    // Follow-up pages carry the cursor and the include, not start_time.
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    let queries: Vec<Vec<(String, String)>> =
        server.requests().iter().map(|r| r.query.clone()).collect();
    assert_eq!(
        queries,
        vec![
            vec![pair("include", "organizations"), pair("start_time", "0")],
            vec![pair("include", "organizations"), pair("cursor", "c2")],
            vec![pair("include", "organizations"), pair("cursor", "c4")],
        ]
    );
}

#[tokio::test]
async fn link_headers_are_followed_with_nothing_but_the_next_url() {
    let customers: Vec<Value> = (1..=5)
        .map(|id| json!({"id": id, "updated_at": format!("2024-05-0{id}T10:00:00-04:00")}))
        .collect();
    let server = TestServer::start(move |request| {
        if request.header("x-shopify-access-token") != Some("tok-123456") {
            return Reply::text(401, r#"{"errors":"[API] Invalid API key or access token"}"#);
        }
        let limit: usize = request.param("limit").and_then(|l| l.parse().ok()).unwrap_or(50);
        let start = match request.param("page_info") {
            Some(page_info) => {
                if request.query.iter().any(|(k, _)| k != "page_info" && k != "limit") {
                    return Reply::text(
                        400,
                        r#"{"errors":{"page_info":["updated_at_min cannot be passed when page_info is present"]}}"#,
                    );
                }
                page_info.trim_start_matches('p').parse().unwrap_or(0)
            }
            None => {
                assert_eq!(request.param("updated_at_min"), Some("1970-01-01T00:00:00Z"));
                0
            }
        };
        let page: Vec<Value> = customers.iter().skip(start).take(limit).cloned().collect();
        let end = start + page.len();
        let mut reply = Reply::json(json!({"customers": page}));
        if end < customers.len() {
            reply = reply.with_header(
                "Link",
                &format!(
                    "<http://shop.invalid/admin/api/2024-01/customers.json?limit={limit}&page_info=prev>; rel=\"previous\", </admin/api/2024-01/customers.json?limit={limit}&page_info=p{end}>; rel=\"next\""
                ),
            );
        }
        reply
    })
    .await;
    let source = source(&format!(
        r#"base_url = "{}/admin/api/2024-01"
        [auth]
        kind = "api_key"
        name = "X-Shopify-Access-Token"
        value = "${{API_TOKEN}}"
        [streams.customers]
        path = "/customers.json"
        query = {{ updated_at_min = "{{{{ since }}}}", limit = "2" }}
        records_path = "customers"
        primary_key = "id"
        pagination = {{ style = "link_header" }}
        incremental = {{ cursor_field = "updated_at", format = "rfc3339" }}
        "#,
        server.url
    ));
    let harness = harness().await;
    let (batches, result) = pull(&source, &harness.context, "customers", None).await;
    result.expect("the pull succeeds");
    assert_eq!(ids(&batches), numbered(1..=5));
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[1].query.len(), 2, "{:?}", requests[1].query);
    assert_eq!(requests[2].param("page_info"), Some("p4"));
    assert_eq!(
        last_cursor(&batches),
        Some(json!({"high_water": "2024-05-05T14:00:00Z"}))
    );
}

#[tokio::test]
async fn since_id_pages_start_after_the_largest_id_seen() {
    let ids_in_shop = [3u64, 8, 15, 16, 42];
    let server = TestServer::start(move |request| {
        let since: u64 = request
            .param("since_id")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let limit: usize = request
            .param("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(50);
        let orders: Vec<Value> = ids_in_shop
            .iter()
            .filter(|id| **id > since)
            .take(limit)
            .map(|id| json!({"id": id, "order": {"number": id}}))
            .collect();
        Reply::json(json!({"orders": orders}))
    })
    .await;
    let source = source(&format!(
        r#"base_url = "{}"
        [streams.orders]
        path = "/orders.json"
        query = {{ status = "any", limit = "2" }}
        records_path = "orders"
        primary_key = "id"
        pagination = {{ style = "since_id", limit = 2 }}
        "#,
        server.url
    ));
    let harness = harness().await;
    let (batches, result) = pull(&source, &harness.context, "orders", None).await;
    result.expect("the pull succeeds");
    assert_eq!(ids(&batches), vec!["3", "8", "15", "16", "42"]);
    let sent: Vec<Option<String>> = server
        .requests()
        .iter()
        .map(|r| r.param("since_id").map(String::from))
        .collect();
    assert_eq!(sent, vec![None, Some("8".into()), Some("16".into())]);
}

/// An Odoo-like JSON-RPC `search_read` on `partners`, honouring the
/// domain's `write_date >=`, the order, offset and limit.
fn odoo_server(partners: Arc<Mutex<Vec<Value>>>) -> impl Fn(&Request) -> Reply + Send + Sync {
    move |request| {
        let body = request.json();
        let args = &body["params"]["args"];
        let since = args[5][0][0][2].as_str().unwrap_or("").to_string();
        let kwargs = &args[6];
        let offset = kwargs["offset"].as_u64().unwrap_or(0) as usize;
        let limit = kwargs["limit"].as_u64().unwrap_or(0) as usize;
        assert_eq!(kwargs["order"], "write_date asc, id asc");
        assert_eq!(args[2], "odoo-key-in-body", "the secret reaches the body");
        let mut rows: Vec<Value> = partners
            .lock()
            .expect("partners")
            .iter()
            .filter(|p| p["write_date"].as_str().unwrap_or("") >= since.as_str())
            .cloned()
            .collect();
        rows.sort_by_key(|p| {
            (
                p["write_date"].as_str().unwrap_or("").to_string(),
                p["id"].as_u64(),
            )
        });
        let page: Vec<Value> = rows.into_iter().skip(offset).take(limit).collect();
        Reply::json(json!({"jsonrpc": "2.0", "id": 1, "result": page}))
    }
}

fn odoo_config(url: &str) -> String {
    format!(
        r#"base_url = "{url}"
        [vars]
        db = "prod"
        uid = 2
        [secrets]
        key = "${{ODOO_KEY}}"
        [errors]
        error_path = "error"
        name_path = "error.data.name"
        retryable_names = ["odoo.exceptions.ConcurrencyError"]
        [retry]
        base_delay_ms = 1
        [streams.partners]
        method = "POST"
        path = "/jsonrpc"
        records_path = "result"
        primary_key = "id"
        pagination = {{ style = "keyset", limit = 2 }}
        incremental = {{ cursor_field = "write_date", format = "naive_utc", lookback_secs = 0 }}
        [streams.partners.body]
        jsonrpc = "2.0"
        method = "call"
        id = 1
        params = {{ service = "object", method = "execute_kw", args = ["{{{{ db }}}}", "{{{{ uid }}}}", "{{{{ secrets.key }}}}", "res.partner", "search_read", [[["write_date", ">=", "{{{{ since }}}}"]]], {{ fields = ["name", "write_date"], limit = "{{{{ limit }}}}", offset = "{{{{ offset }}}}", order = "write_date asc, id asc" }}] }}
        "#
    )
}

fn odoo_env(name: &str) -> Option<String> {
    (name == "ODOO_KEY").then(|| "odoo-key-in-body".to_string())
}

#[tokio::test]
async fn keyset_paging_overlaps_on_the_timestamp_and_drops_rows_already_seen() {
    let dates = [
        (1, "2024-05-01 00:00:00"),
        (2, "2024-05-01 00:00:00"),
        (3, "2024-05-01 00:00:00"),
        (4, "2024-05-02 08:00:00"),
        (5, "2024-05-02 08:00:00"),
        (6, "2024-05-03 09:30:00"),
        (7, "2024-05-03 09:30:00"),
    ];
    let partners = Arc::new(Mutex::new(
        dates
            .iter()
            .map(|(id, date)| json!({"id": id, "name": format!("P{id}"), "write_date": date}))
            .collect::<Vec<_>>(),
    ));
    let server = TestServer::start(odoo_server(partners)).await;
    let source = Arc::new(
        build_with_env(&definition(&odoo_config(&server.url)), &odoo_env).expect("config loads"),
    );
    let harness = harness().await;
    let (batches, result) = pull(&source, &harness.context, "partners", None).await;
    result.expect("the pull succeeds");
    assert_eq!(
        ids(&batches),
        numbered(1..=7),
        "each row exactly once, in order"
    );
    let first = server.requests()[0].json();
    assert_eq!(first["params"]["args"][0], "prod");
    assert_eq!(
        first["params"]["args"][1], 2,
        "a whole placeholder keeps its type"
    );
    assert_eq!(
        first["params"]["args"][5][0][0],
        json!(["write_date", ">=", "1970-01-01 00:00:00"])
    );
    assert_eq!(
        last_cursor(&batches),
        Some(json!({"high_water": "2024-05-03 09:30:00"}))
    );
}

// ---------------------------------------------------------------- fan-out, dedupe, auth

/// A WeCom-like API: `gettoken`, the follow users, and contacts per
/// follow user with body cursors; `expired` tokens answer 42001.
struct WeCom {
    server: TestServer,
    token_fetches: Arc<AtomicUsize>,
}

async fn wecom(expire_first_token_after: usize, expire_with_401: bool) -> WeCom {
    let token_fetches = Arc::new(AtomicUsize::new(0));
    let contact_calls = Arc::new(AtomicUsize::new(0));
    let fetches = token_fetches.clone();
    // Who follows whom: contacts c1..c6, several followed by two members.
    let follows: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        ("lisi", vec!["c1", "c2", "c3"]),
        ("wangwu", vec!["c2", "c4"]),
        ("zhangsan", vec!["c1", "c5", "c6"]),
    ]);
    let server = TestServer::start(move |request| {
        if request.path == "/cgi-bin/gettoken" {
            assert_eq!(request.param("corpid"), Some("ww-corp"));
            assert_eq!(request.param("corpsecret"), Some("corp-secret-xyz"));
            let n = fetches.fetch_add(1, Ordering::SeqCst) + 1;
            return Reply::json(json!({"errcode": 0, "errmsg": "ok", "access_token": format!("TOKEN{n}"), "expires_in": 7200}));
        }
        let token = request.param("access_token").unwrap_or_default().to_string();
        if !token.starts_with("TOKEN") {
            return Reply::json(json!({"errcode": 41001, "errmsg": "access_token missing"}));
        }
        match request.path.as_str() {
            "/cgi-bin/externalcontact/get_follow_user_list" => Reply::json(
                json!({"errcode": 0, "errmsg": "ok", "follow_user": ["zhangsan", "lisi", "wangwu", "lisi"]}),
            ),
            "/cgi-bin/externalcontact/batch/get_by_user" => {
                let call = contact_calls.fetch_add(1, Ordering::SeqCst);
                if token == "TOKEN1" && call >= expire_first_token_after {
                    return if expire_with_401 {
                        Reply::text(401, "unauthorized")
                    } else {
                        Reply::json(json!({"errcode": 42001, "errmsg": "access_token expired"}))
                    };
                }
                let body = request.json();
                let users: Vec<String> = body["userid_list"]
                    .as_array()
                    .map(|list| list.iter().filter_map(|u| u.as_str().map(String::from)).collect())
                    .unwrap_or_default();
                let rows: Vec<Value> = users
                    .iter()
                    .flat_map(|user| {
                        follows.get(user.as_str()).cloned().unwrap_or_default().into_iter().map(move |contact| {
                            json!({"external_contact": {"external_userid": contact, "name": format!("name {contact}")},
                                   "follow_info": {"userid": user, "remark_mobiles": ["138 0013 8000"]}})
                        })
                    })
                    .collect();
                let start: usize = body["cursor"].as_str().and_then(|c| c.parse().ok()).unwrap_or(0);
                let limit = body["limit"].as_u64().unwrap_or(50) as usize;
                let page: Vec<Value> = rows.iter().skip(start).take(limit).cloned().collect();
                let end = start + page.len();
                let next = if end < rows.len() { end.to_string() } else { String::new() };
                Reply::json(json!({"errcode": 0, "errmsg": "ok", "external_contact_list": page, "next_cursor": next}))
            }
            other => Reply::text(404, &format!("no route {other}")),
        }
    })
    .await;
    WeCom {
        server,
        token_fetches,
    }
}

fn wecom_config(url: &str, batch_size: usize) -> String {
    format!(
        r#"base_url = "{url}/cgi-bin"
        max_concurrency = 2
        [vars]
        corp_id = "ww-corp"
        [secrets]
        corp_secret = "${{CORP_SECRET}}"
        [auth]
        kind = "token_endpoint"
        url = "/gettoken"
        query = {{ corpid = "{{{{ corp_id }}}}", corpsecret = "{{{{ secrets.corp_secret }}}}" }}
        token_path = "access_token"
        expires_in_path = "expires_in"
        location = "query"
        name = "access_token"
        [errors]
        code_path = "errcode"
        rate_limited_codes = [45009, 45033]
        rate_limited_pause_secs = 0.05
        retryable_codes = [-1, 6000]
        token_expired_codes = [40014, 42001]
        [retry]
        base_delay_ms = 1
        [streams.follow_users]
        path = "/externalcontact/get_follow_user_list"
        records_path = "follow_user"
        primary_key = ""
        sync = false
        [streams.contacts]
        method = "POST"
        path = "/externalcontact/batch/get_by_user"
        body = {{ userid_list = ["{{{{ fan_out }}}}"], cursor = "{{{{ cursor }}}}", limit = 2 }}
        records_path = "external_contact_list"
        primary_key = "external_contact.external_userid"
        dedupe = true
        pagination = {{ style = "cursor", cursor_path = "next_cursor" }}
        fan_out = {{ stream = "follow_users", values_path = "follow_user", batch_size = {batch_size} }}
        "#
    )
}

#[tokio::test]
async fn fan_out_runs_per_follow_user_dedupes_and_refreshes_an_expired_token() {
    let wecom = wecom(2, false).await;
    let source = source(&wecom_config(&wecom.server.url, 1));
    assert_eq!(
        source.streams(),
        vec!["contacts"],
        "helper streams are not synced"
    );
    let harness = harness().await;
    let (batches, result) = pull(&source, &harness.context, "contacts", None).await;
    result.expect("the pull succeeds");
    let mut got = ids(&batches);
    got.sort();
    assert_eq!(
        got,
        vec!["c1", "c2", "c3", "c4", "c5", "c6"],
        "each contact once"
    );
    assert_eq!(
        wecom.token_fetches.load(Ordering::SeqCst),
        2,
        "42001 refetched the token"
    );
    let contact_requests = wecom
        .server
        .requests_to("/cgi-bin/externalcontact/batch/get_by_user");
    let users: BTreeSet<String> = contact_requests
        .iter()
        .map(|r| r.json()["userid_list"].to_string())
        .collect();
    assert_eq!(
        users,
        BTreeSet::from([
            "[\"lisi\"]".to_string(),
            "[\"wangwu\"]".to_string(),
            "[\"zhangsan\"]".to_string()
        ])
    );
    assert!(contact_requests
        .iter()
        .all(|r| r.param("access_token").is_some()));
    assert_eq!(last_cursor(&batches), Some(json!({})));
}

#[tokio::test]
async fn repeated_rows_gather_each_follow_members_info_into_one_record() {
    let wecom = wecom(usize::MAX, false).await;
    let config = wecom_config(&wecom.server.url, 1).replace(
        "dedupe = true",
        "dedupe = true\n        gather = [\"follow_info\"]",
    );
    let source = source(&config);
    let harness = harness().await;
    let (batches, result) = pull(&source, &harness.context, "contacts", None).await;
    result.expect("the pull succeeds");
    // Each record is sent once, whole, after the last page, with the cursor.
    assert_eq!(
        ids(&batches),
        ["c1", "c2", "c3", "c4", "c5", "c6"],
        "in the order the records first came"
    );
    assert_eq!(batches.len(), 1);
    assert_eq!(last_cursor(&batches), Some(json!({})));
    let last: BTreeMap<String, Value> = batches
        .iter()
        .flat_map(|batch| &batch.records)
        .map(|record| (record.source_id.clone(), record.raw.clone()))
        .collect();
    let followers = |contact: &str| -> BTreeSet<String> {
        last[contact]["follow_info"]
            .as_array()
            .expect("follow_info is gathered into a list")
            .iter()
            .map(|follow| follow["userid"].as_str().unwrap().to_string())
            .collect()
    };
    let set = |users: &[&str]| {
        users
            .iter()
            .map(|user| user.to_string())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(followers("c1"), set(&["lisi", "zhangsan"]));
    assert_eq!(followers("c2"), set(&["lisi", "wangwu"]));
    assert_eq!(followers("c3"), set(&["lisi"]));
    assert_eq!(followers("c6"), set(&["zhangsan"]));
    assert_eq!(last["c1"]["external_contact"]["name"], json!("name c1"));

    // A position inside a sweep, as an earlier version stored it, is not
    // resumed from: c1 would be gathered from zhangsan's row alone.
    let inside = json!({"resume": {"fan_out_from": "zhangsan", "position": {"at": "start"}}});
    let (again, result) = pull(&source, &harness.context, "contacts", Some(inside)).await;
    result.expect("the pull succeeds");
    assert_eq!(ids(&again), ids(&batches), "the whole sweep again");
}

#[tokio::test]
async fn a_gathering_sweep_that_fails_sends_no_record_and_no_cursor() {
    // Member "a" answers, member "b" has no permission: the sweep fails
    // after a's rows, which must not be stored half gathered.
    let server = TestServer::start(|request| match request.path.as_str() {
        "/cgi-bin/gettoken" => Reply::json(
            json!({"errcode": 0, "errmsg": "ok", "access_token": "TOKEN1", "expires_in": 7200}),
        ),
        "/cgi-bin/externalcontact/get_follow_user_list" => {
            Reply::json(json!({"errcode": 0, "errmsg": "ok", "follow_user": ["a", "b"]}))
        }
        _ if request.json()["userid_list"] == json!(["a"]) => Reply::json(json!({
            "errcode": 0, "errmsg": "ok", "next_cursor": "",
            "external_contact_list": [{"external_contact": {"external_userid": "c1"}, "follow_info": {"userid": "a"}}],
        })),
        _ => Reply::json(json!({"errcode": 60011, "errmsg": "no privilege to access/modify contact"})),
    })
    .await;
    let source = source(&wecom_config(&server.url, 1).replace(
        "dedupe = true",
        "dedupe = true\n        gather = [\"follow_info\"]",
    ));
    let harness = harness().await;
    let (batches, result) = pull(&source, &harness.context, "contacts", None).await;
    let error = result.expect_err("member b's page fails the sweep");
    assert!(error.to_string().contains("60011"), "{error}");
    assert!(ids(&batches).is_empty(), "nothing half gathered is sent");
    assert_eq!(last_cursor(&batches), None, "the next sweep starts over");
}

#[tokio::test]
async fn fan_out_values_go_in_batches_and_a_401_refreshes_the_token() {
    let wecom = wecom(1, true).await;
    let source = source(&wecom_config(&wecom.server.url, 2));
    let harness = harness().await;
    let (batches, result) = pull(&source, &harness.context, "contacts", None).await;
    result.expect("the pull succeeds");
    let mut got = ids(&batches);
    got.sort();
    assert_eq!(got, vec!["c1", "c2", "c3", "c4", "c5", "c6"]);
    assert_eq!(
        wecom.token_fetches.load(Ordering::SeqCst),
        2,
        "401 refetched the token"
    );
    let lists: BTreeSet<String> = wecom
        .server
        .requests_to("/cgi-bin/externalcontact/batch/get_by_user")
        .iter()
        .map(|r| r.json()["userid_list"].to_string())
        .collect();
    assert_eq!(
        lists,
        BTreeSet::from([
            "[\"lisi\",\"wangwu\"]".to_string(),
            "[\"zhangsan\"]".to_string()
        ])
    );
}

#[tokio::test]
async fn oauth2_client_credentials_fetch_cache_and_refresh_the_token() {
    let issued = Arc::new(AtomicUsize::new(0));
    let api_calls = Arc::new(AtomicUsize::new(0));
    let (issued_in, calls_in) = (issued.clone(), api_calls.clone());
    let server = TestServer::start(move |request| {
        if request.path == "/oauth/token" {
            let form: BTreeMap<String, String> = request.form().into_iter().collect();
            assert_eq!(form.get("grant_type").map(String::as_str), Some("client_credentials"));
            assert_eq!(form.get("client_id").map(String::as_str), Some("tierlink"));
            assert_eq!(form.get("client_secret").map(String::as_str), Some("client-secret-abc"));
            assert_eq!(form.get("scope").map(String::as_str), Some("read:customers"));
            let n = issued_in.fetch_add(1, Ordering::SeqCst) + 1;
            return Reply::json(json!({"access_token": format!("A{n}"), "token_type": "bearer", "expires_in": 3600}));
        }
        let call = calls_in.fetch_add(1, Ordering::SeqCst);
        let auth = request.header("authorization").unwrap_or_default().to_string();
        // The first token is revoked after two calls.
        if auth == "Bearer A1" && call >= 2 || !auth.starts_with("Bearer A") {
            return Reply::text(401, r#"{"error":"invalid_token"}"#);
        }
        let page: u64 = request.param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let items: Vec<Value> = if page <= 4 { vec![json!({"id": page})] } else { vec![] };
        Reply::json(json!({"data": items}))
    })
    .await;
    let source = source(&format!(
        r#"base_url = "{}"
        [auth]
        kind = "oauth2_client_credentials"
        token_url = "/oauth/token"
        client_id = "tierlink"
        client_secret = "${{CLIENT_SECRET}}"
        scope = "read:customers"
        [streams.customers]
        path = "/customers"
        records_path = "data"
        primary_key = "id"
        pagination = {{ style = "page_number", param = "page", size = 1 }}
        "#,
        server.url
    ));
    let harness = harness().await;
    let (batches, result) = pull(&source, &harness.context, "customers", None).await;
    result.expect("the pull succeeds");
    assert_eq!(ids(&batches), numbered(1..=4));
    assert_eq!(
        issued.load(Ordering::SeqCst),
        2,
        "cached, then refetched once after the 401"
    );
}

#[tokio::test]
async fn fixed_credentials_go_where_they_are_configured() {
    let server = TestServer::start(|_| Reply::json(json!([{"id": 1}]))).await;
    let cases = [
        (
            r#"kind = "bearer"
            token = "${API_TOKEN}""#,
            "authorization",
            "Bearer tok-123456",
        ),
        (
            r#"kind = "basic"
            username = "ops@acme.example/token"
            password = "${API_TOKEN}""#,
            "authorization",
            "Basic b3BzQGFjbWUuZXhhbXBsZS90b2tlbjp0b2stMTIzNDU2",
        ),
        (
            r#"kind = "api_key"
            name = "X-Api-Key"
            prefix = "Key "
            value = "${API_TOKEN}""#,
            "x-api-key",
            "Key tok-123456",
        ),
        (
            r#"kind = "api_key"
            name = "key"
            location = "query"
            value = "${API_TOKEN}""#,
            "?key",
            "tok-123456",
        ),
    ];
    let harness = harness().await;
    for (auth, place, expected) in cases {
        let source = source(&format!(
            "base_url = \"{}\"\n[auth]\n{auth}\n[streams.s]\npath = \"/s\"\nrecords_path = \"\"\nprimary_key = \"id\"\n",
            server.url
        ));
        let (batches, result) = pull(&source, &harness.context, "s", None).await;
        result.expect("the pull succeeds");
        assert_eq!(ids(&batches), vec!["1"]);
        let request = server.requests().pop().expect("a request");
        let got = match place.strip_prefix('?') {
            Some(param) => request.param(param).map(String::from),
            None => request.header(place).map(String::from),
        };
        assert_eq!(got.as_deref(), Some(expected), "{auth}");
        let shown = format!("{source:?}");
        assert!(
            !shown.contains("tok-123456"),
            "Debug shows no secret: {shown}"
        );
    }
}

// ---------------------------------------------------------------- retries

fn one_page_config(url: &str, extra: &str) -> String {
    format!(
        r#"base_url = "{url}"
        timeout_secs = 0.3
        [secrets]
        token = "${{API_TOKEN}}"
        [retry]
        max_attempts = 4
        base_delay_ms = 1
        max_delay_ms = 5
        {extra}
        [streams.items]
        path = "/items"
        query = {{ auth = "{{{{ secrets.token }}}}", q = "a b" }}
        records_path = "items"
        primary_key = "id"
        "#
    )
}

fn ok_page() -> Reply {
    Reply::json(json!({"errcode": 0, "items": [{"id": 1}, {"id": 2}]}))
}

/// Pulls `items` from a server answering `faults` first, then a good page;
/// returns the result, the requests made and the time taken.
async fn pull_through(
    faults: Vec<Reply>,
    extra: &str,
) -> (Result<Vec<String>, ConnectorError>, usize, Duration) {
    let server = TestServer::start(scripted(faults, ok_page())).await;
    let source = source(&one_page_config(&server.url, extra));
    let harness = harness().await;
    let started = Instant::now();
    let (batches, result) = pull(&source, &harness.context, "items", None).await;
    let elapsed = started.elapsed();
    (
        result.map(|()| ids(&batches)),
        server.requests().len(),
        elapsed,
    )
}

#[tokio::test]
async fn a_429_waits_for_retry_after_in_seconds_fractions_or_a_date() {
    for (retry_after, at_least) in [("1", 1000), ("0.3", 300), ("date", 900)] {
        // An HTTP-date two seconds ahead: at least one whole second away.
        let retry_after = match retry_after {
            "date" => (chrono::Utc::now() + chrono::Duration::seconds(2))
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string(),
            seconds => seconds.to_string(),
        };
        let retry_after = retry_after.as_str();
        let fault = Reply::text(429, "Too Many Requests").with_header("Retry-After", retry_after);
        let (result, requests, elapsed) = pull_through(vec![fault], "").await;
        assert_eq!(result.expect("retried to success"), vec!["1", "2"]);
        assert_eq!(requests, 2, "{retry_after}");
        assert!(
            elapsed >= Duration::from_millis(at_least),
            "Retry-After {retry_after} waited only {elapsed:?}"
        );
    }
}

#[tokio::test]
async fn server_errors_timeouts_hang_ups_and_non_json_are_retried() {
    let slow = ok_page().after(Duration::from_millis(1500));
    let cases = [
        (
            "5xx",
            vec![Reply::text(503, "busy"), Reply::text(500, "oops")],
        ),
        ("timeout", vec![slow]),
        ("hang-up", vec![Reply::hang_up()]),
        ("not JSON", vec![Reply::text(200, "<html>gateway</html>")]),
    ];
    for (name, faults) in cases {
        let count = faults.len();
        let (result, requests, _) = pull_through(faults, "").await;
        assert_eq!(result.expect(name), vec!["1", "2"], "{name}");
        assert_eq!(requests, count + 1, "{name}");
    }
}

#[tokio::test]
async fn body_level_signals_in_http_200_are_retried_or_fail() {
    let wecom_errors = r#"[errors]
        code_path = "errcode"
        rate_limited_codes = [45009]
        rate_limited_pause_secs = 0.25
        retryable_codes = [-1]"#;
    let limited = Reply::json(json!({"errcode": 45009, "errmsg": "api freq out of limit"}));
    let (result, requests, elapsed) = pull_through(vec![limited], wecom_errors).await;
    assert_eq!(result.expect("45009 is retried"), vec!["1", "2"]);
    assert_eq!(requests, 2);
    assert!(
        elapsed >= Duration::from_millis(250),
        "the credential paused: {elapsed:?}"
    );

    let busy = Reply::json(json!({"errcode": -1, "errmsg": "system busy"}));
    let (result, requests, _) = pull_through(vec![busy.clone(), busy], wecom_errors).await;
    assert!(result.is_ok());
    assert_eq!(requests, 3);

    let unknown = Reply::json(json!({"errcode": 40096, "errmsg": "invalid external userid"}));
    let (result, requests, _) = pull_through(vec![unknown], wecom_errors).await;
    let error = result.expect_err("an unknown code fails");
    assert_eq!(requests, 1);
    assert!(!error.retryable);
    assert!(
        error
            .message
            .contains("errcode 40096: invalid external userid"),
        "{error}"
    );

    let odoo_errors = r#"[errors]
        error_path = "error"
        name_path = "error.data.name"
        retryable_names = ["odoo.exceptions.ConcurrencyError"]"#;
    let rpc_error = |name: &str| {
        Reply::json(
            json!({"jsonrpc": "2.0", "id": 1, "error": {"code": 200, "message": "Odoo Server Error", "data": {"name": name, "message": "x", "debug": "Traceback"}}}),
        )
    };
    let (result, requests, _) = pull_through(
        vec![rpc_error("odoo.exceptions.ConcurrencyError")],
        odoo_errors,
    )
    .await;
    assert!(result.is_ok(), "a retryable JSON-RPC error is retried");
    assert_eq!(requests, 2);
    let (result, requests, _) =
        pull_through(vec![rpc_error("odoo.exceptions.AccessError")], odoo_errors).await;
    let error = result.expect_err("an access error fails");
    assert_eq!(requests, 1);
    assert!(
        error.message.contains("odoo.exceptions.AccessError"),
        "{error}"
    );
}

#[tokio::test]
async fn errors_name_connector_stream_url_and_status_without_secrets() {
    let (result, requests, _) =
        pull_through(vec![Reply::text(404, r#"{"error":"RecordNotFound"}"#)], "").await;
    let error = result.expect_err("404 fails");
    assert_eq!(requests, 1, "a 404 is not retried");
    assert_eq!(error.domain, ErrorDomain::External);
    assert!(!error.retryable);
    let message = &error.message;
    assert!(
        message.starts_with("http connector api, stream items: GET http://127.0.0.1:"),
        "{message}"
    );
    assert!(
        message.contains("/items?auth=***&q=a+b answered HTTP 404"),
        "{message}"
    );
    assert!(message.contains("RecordNotFound"), "{message}");
    assert!(!message.contains("tok-123456"), "{message}");

    // Retries run out: the error says so and may pass later.
    let (result, requests, _) = pull_through(vec![Reply::text(500, "down"); 9], "").await;
    let error = result.expect_err("gives up");
    assert_eq!(requests, 4);
    assert!(error.retryable);
    assert!(
        error.message.contains("gave up after 4 attempts"),
        "{error}"
    );
}

#[tokio::test]
async fn a_page_that_never_parses_fails_without_moving_the_cursor() {
    let server = TestServer::start(|request| {
        if request.param("page") == Some("2") {
            Reply::text(200, "{\"items\": [truncated")
        } else {
            Reply::json(json!({"items": [{"id": 1}, {"id": 2}]}))
        }
    })
    .await;
    let source = source(&format!(
        r#"base_url = "{}"
        [retry]
        max_attempts = 3
        base_delay_ms = 1
        [streams.items]
        path = "/items"
        records_path = "items"
        primary_key = "id"
        pagination = {{ style = "page_number", param = "page", size = 2 }}
        "#,
        server.url
    ));
    let harness = harness().await;
    let (counts, result) = sync(&harness, &source, "items", None).await;
    let error = result.expect_err("the sync fails");
    assert!(error.retryable);
    assert!(error.message.contains("not JSON"), "{error}");
    assert_eq!(counts.new, 2, "the first page is kept");
    let cursor = harness.store.cursor("api", "items").await.expect("cursor");
    assert_eq!(
        cursor,
        Some(json!({"resume": {"position": {"at": "page", "page": 2}}})),
        "the cursor stops before the failed page"
    );
}

#[tokio::test]
async fn records_without_a_primary_key_are_rejected_with_the_raw_json() {
    let server =
        TestServer::start(|_| Reply::json(json!({"items": [{"id": 1}, {"name": "no id"}]}))).await;
    let source = source(&one_page_config(&server.url, ""));
    let harness = harness().await;
    let (batches, result) = pull(&source, &harness.context, "items", None).await;
    result.expect("the pull succeeds");
    assert_eq!(ids(&batches), vec!["1"]);
    let rejected = &batches[0].rejected;
    assert_eq!(rejected.len(), 1);
    assert!(
        rejected[0].reason.contains("record 2 of"),
        "{}",
        rejected[0].reason
    );
    assert!(rejected[0].reason.ends_with("missing primary key \"id\""));
    assert!(!rejected[0].reason.contains("tok-123456"));
    assert_eq!(rejected[0].raw, r#"{"name":"no id"}"#);
}

// ---------------------------------------------------------------- syncs through the store

/// A paged, filterable customer API whose data the test changes.
fn customer_server(
    customers: Arc<Mutex<Vec<Value>>>,
    faults: Option<u64>,
) -> impl Fn(&Request) -> Reply + Send + Sync {
    let rng = Mutex::new(SplitMix(faults.unwrap_or(0)));
    move |request| {
        if faults.is_some() {
            let draw = rng.lock().expect("rng").next();
            if draw % 100 < 20 {
                return match (draw >> 8) % 5 {
                    0 => Reply::text(500, "internal error"),
                    1 => Reply::text(429, "slow down").with_header("Retry-After", "0"),
                    2 => Reply::hang_up(),
                    3 => Reply::text(200, "{\"customers\": [{\"id\""),
                    _ => Reply::json(json!({"errcode": -1, "errmsg": "system busy"})),
                };
            }
        }
        let since = request.param("updated_at_min").unwrap_or("").to_string();
        let page: usize = request
            .param("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        let size: usize = request
            .param("limit")
            .and_then(|p| p.parse().ok())
            .unwrap_or(3);
        let mut rows: Vec<Value> = customers
            .lock()
            .expect("customers")
            .iter()
            .filter(|c| c["updated_at"].as_str().unwrap_or("") >= since.as_str())
            .cloned()
            .collect();
        rows.sort_by_key(|c| c["id"].as_u64());
        let rows: Vec<Value> = rows
            .into_iter()
            .skip((page - 1) * size)
            .take(size)
            .collect();
        Reply::json(json!({"errcode": 0, "customers": rows}))
    }
}

fn customer_config(url: &str) -> String {
    format!(
        r#"base_url = "{url}"
        [retry]
        max_attempts = 12
        base_delay_ms = 1
        max_delay_ms = 4
        [errors]
        code_path = "errcode"
        retryable_codes = [-1]
        [streams.customers]
        path = "/customers"
        query = {{ updated_at_min = "{{{{ since }}}}" }}
        records_path = "customers"
        primary_key = "id"
        pagination = {{ style = "page_number", param = "page", size_param = "limit", size = 3 }}
        incremental = {{ cursor_field = "updated_at", format = "rfc3339", lookback_secs = 60, start = "2024-01-01T00:00:00Z" }}
        "#
    )
}

fn customer(id: u64, updated_at: &str) -> Value {
    json!({"id": id, "name": format!("C{id}"), "updated_at": updated_at})
}

fn customers(count: u64) -> Vec<Value> {
    (1..=count)
        .map(|id| customer(id, &format!("2024-05-01T10:{:02}:00Z", id % 60)))
        .collect()
}

#[tokio::test]
async fn a_fifth_of_requests_failing_still_yields_every_record_exactly_once() {
    let data = Arc::new(Mutex::new(customers(50)));
    let server = TestServer::start(customer_server(data, Some(20_240_503))).await;
    let source = source(&customer_config(&server.url));
    let harness = harness().await;
    let (counts, result) = sync(&harness, &source, "customers", None).await;
    result.expect("the sync succeeds despite the faults");
    assert_eq!((counts.fetched, counts.new), (50, 50), "{counts:?}");
    assert_eq!(staged_ids(&harness, "customers").await.len(), 50);
    assert!(
        server.requests().len() > 17,
        "faults were answered and retried"
    );
}

#[tokio::test]
async fn a_second_sync_fetches_only_what_changed() {
    let data = Arc::new(Mutex::new(customers(6)));
    let server = TestServer::start(customer_server(data.clone(), None)).await;
    let source = source(&customer_config(&server.url));
    let harness = harness().await;
    let (counts, result) = sync(&harness, &source, "customers", None).await;
    result.expect("first sync");
    assert_eq!(counts.new, 6);
    assert_eq!(
        server.requests()[0].param("updated_at_min"),
        Some("2024-01-01T00:00:00Z")
    );
    let cursor = harness
        .store
        .cursor("api", "customers")
        .await
        .expect("cursor");
    assert_eq!(cursor, Some(json!({"high_water": "2024-05-01T10:06:00Z"})));

    {
        let mut data = data.lock().expect("data");
        data[1] = customer(2, "2024-05-02T08:00:00Z");
        data[3] = customer(4, "2024-05-02T09:00:00Z");
        data.push(customer(7, "2024-05-02T09:30:00Z"));
    }
    let before = server.requests().len();
    let (counts, result) = sync(&harness, &source, "customers", None).await;
    result.expect("second sync");
    assert_eq!(
        server.requests()[before].param("updated_at_min"),
        Some("2024-05-01T10:05:00Z"),
        "the committed cursor minus the lookback"
    );
    // 5 and 6 fall in the lookback window and are unchanged.
    assert_eq!(
        (counts.fetched, counts.new, counts.changed, counts.unchanged),
        (5, 1, 2, 2),
        "{counts:?}"
    );
    let cursor = harness
        .store
        .cursor("api", "customers")
        .await
        .expect("cursor");
    assert_eq!(cursor, Some(json!({"high_water": "2024-05-02T09:30:00Z"})));
}

#[tokio::test]
async fn an_interrupted_sync_resumes_at_the_next_page_and_loses_nothing() {
    let data = Arc::new(Mutex::new(customers(20)));
    let server = TestServer::start(customer_server(data, None)).await;
    let source = source(&customer_config(&server.url));
    let harness = harness().await;
    let (counts, result) = sync(&harness, &source, "customers", Some(3)).await;
    assert!(result.is_err(), "killed");
    assert_eq!(counts.new, 9);
    let cursor = harness
        .store
        .cursor("api", "customers")
        .await
        .expect("cursor");
    assert_eq!(
        cursor.as_ref().map(|c| c["resume"].clone()),
        Some(json!({"since": "2024-01-01T00:00:00Z", "position": {"at": "page", "page": 4}}))
    );

    let before = server.requests().len();
    let (counts, result) = sync(&harness, &source, "customers", None).await;
    result.expect("the restarted sync succeeds");
    assert_eq!(
        (counts.fetched, counts.new),
        (11, 11),
        "only the pages not yet committed"
    );
    let restarted = &server.requests()[before];
    assert_eq!(restarted.param("page"), Some("4"));
    assert_eq!(
        restarted.param("updated_at_min"),
        Some("2024-01-01T00:00:00Z")
    );
    let expected: BTreeSet<String> = numbered(1..=20).into_iter().collect();
    let staged: Vec<String> = staged_ids(&harness, "customers").await;
    assert_eq!(staged.len(), 20);
    assert_eq!(staged.into_iter().collect::<BTreeSet<_>>(), expected);
    let cursor = harness
        .store
        .cursor("api", "customers")
        .await
        .expect("cursor");
    assert_eq!(cursor, Some(json!({"high_water": "2024-05-01T10:20:00Z"})));
}

#[tokio::test]
async fn an_interrupted_fan_out_resumes_at_its_follow_user() {
    let wecom = wecom(usize::MAX, false).await;
    let source = source(&wecom_config(&wecom.server.url, 1));
    let harness = harness().await;
    // lisi's contacts come in two pages; stop after the first.
    let (_, result) = sync(&harness, &source, "contacts", Some(1)).await;
    assert!(result.is_err());
    let cursor = harness
        .store
        .cursor("api", "contacts")
        .await
        .expect("cursor");
    assert_eq!(
        cursor.as_ref().map(|c| c["resume"].clone()),
        Some(json!({"fan_out_from": "lisi", "position": {"at": "cursor", "cursor": "2"}}))
    );
    let (_, result) = sync(&harness, &source, "contacts", None).await;
    result.expect("the restarted sync succeeds");
    assert_eq!(
        staged_ids(&harness, "contacts").await,
        vec!["c1", "c2", "c3", "c4", "c5", "c6"]
    );
    assert_eq!(
        harness
            .store
            .cursor("api", "contacts")
            .await
            .expect("cursor"),
        Some(json!({}))
    );
}

#[tokio::test]
async fn check_authenticates_and_samples_one_page_without_writing() {
    let wecom = wecom(usize::MAX, false).await;
    let source = source(&wecom_config(&wecom.server.url, 1));
    let harness = harness().await;
    let report = source.check(&harness.context).await.expect("check passes");
    assert_eq!(report.streams.len(), 1);
    let (stream, summary) = &report.streams[0];
    assert_eq!(stream, "contacts");
    assert!(
        summary.contains("2 records on the first page, first id \"c1\""),
        "{summary}"
    );
    assert!(!summary.contains("TOKEN"), "{summary}");
    assert_eq!(
        harness
            .store
            .cursor("api", "contacts")
            .await
            .expect("cursor"),
        None
    );
    assert_eq!(wecom.token_fetches.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------- config

#[test]
fn config_problems_name_their_fields() {
    let found = problems(
        r#"base_url = "not a url"
        timeout_secs = 0
        [auth]
        kind = "bearer"
        token = "plain-text-token"
        [streams.a]
        path = "/a/{{ sinse }}"
        records_path = "items"
        primary_key = "id"
        pagination = { style = "keyset", limit = 10 }
        fan_out = { stream = "bb", values_path = "x" }
        incremental = { cursor_field = "updated_at", start = "yesterday" }
        [streams.b]
        path = "/b"
        records_path = "items"
        primary_key = "id"
        pagination = { style = "pages" }
        [streams.c]
        path = "/c"
        query = { start_time = "0" }
        records_path = "items"
        primary_key = "id"
        pagination = { style = "cursor", cursor_path = "after", only_cursor = true, keep_query = ["include"] }
        sideloads = [{ path = "orgs", field = "org_id", into = "org.name" }]
        gather = ["follow_info"]
        "#,
    );
    let fields: Vec<(&str, &str)> = found
        .iter()
        .map(|p| (p.field.as_str(), p.message.as_str()))
        .collect();
    let has = |field: &str, fragment: &str| {
        assert!(
            fields
                .iter()
                .any(|(f, m)| *f == field && m.contains(fragment)),
            "no problem at {field} containing {fragment:?} in {fields:#?}"
        );
    };
    has("streams.b.pagination.style", "unknown variant `pages`");
    has("base_url", "not a valid URL");
    has(
        "streams.c.pagination.keep_query",
        "\"include\" is not a parameter of the stream's query",
    );
    has("streams.c.sideloads[0].into", "not a plain field name");
    has("streams.c.gather", "the stream does not dedupe");
    has("timeout_secs", "positive");
    has("auth.token", "must be written as a reference");
    has("streams.a.path", "unknown placeholder {{ sinse }}");
    has("streams.a.fan_out.stream", "there is no stream \"bb\"");
    has(
        "streams.a.incremental.start",
        "\"yesterday\" is not written in the format rfc3339",
    );
    let sinse = found
        .iter()
        .find(|p| p.field == "streams.a.path")
        .expect("path problem");
    assert_eq!(sinse.hint.as_deref(), Some("did you mean {{ since }}?"));
    assert!(!format!("{found:?}").contains("plain-text-token"));

    let unknown_kind = problems(
        "base_url = \"https://x.example\"\n[auth]\nkind = \"oauth\"\n[streams.a]\npath = \"/\"\nrecords_path = \"\"\nprimary_key = \"id\"\n",
    );
    assert!(
        unknown_kind
            .iter()
            .any(|p| p.field.starts_with("auth") && p.message.contains("unknown variant `oauth`")),
        "{unknown_kind:#?}"
    );
    let keyset = problems(
        "base_url = \"https://x.example\"\n[streams.a]\npath = \"/\"\nrecords_path = \"\"\nprimary_key = \"id\"\npagination = { style = \"keyset\", limit = 5 }\n",
    );
    assert!(keyset
        .iter()
        .any(|p| p.field == "streams.a.pagination" && p.message.contains("no [incremental]")));
}

#[test]
fn a_missing_environment_variable_is_left_to_the_loader() {
    let result = build_with_env(
        &definition(
            "base_url = \"https://x.example\"\n[auth]\nkind = \"bearer\"\ntoken = \"${NOT_SET_ANYWHERE}\"\n[streams.a]\npath = \"/\"\nrecords_path = \"\"\nprimary_key = \"id\"\n",
        ),
        &env,
    );
    // The loader's `${NAME}` check names the variable and the field.
    assert!(matches!(result, Err(problems) if problems.is_empty()));
}
