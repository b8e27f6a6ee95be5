//! `tierlink serve` over real HTTP on a demo world: every role against the
//! API (401 and 403 where they belong, masking for viewers), a steward's
//! decision followed by a re-tier, runs on demand without overlap,
//! metrics, search, the 360 view, and graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use indicatif::ProgressBar;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tierlink::config::{Role, TokenSettings};
use tierlink::demo::{self, DemoOptions, DemoRun};
use tierlink::serve::auth::token_digest;
use tierlink::serve::scheduler::Clock;
use tierlink::serve::{self as service, AppState};
use tokio::sync::oneshot;

pub const ADMIN: &str = "admin-token-for-tests";
pub const STEWARD: &str = "steward-token-for-tests";
pub const VIEWER: &str = "viewer-token-for-tests";

/// A demo world served on an ephemeral port, with one token per role.
pub struct ServedDemo {
    pub base: String,
    pub demo: Arc<DemoRun>,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl ServedDemo {
    pub async fn start(prefix: &str) -> ServedDemo {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = DemoOptions {
            dir: dir.path().to_path_buf(),
            // Enough customers that the matcher leaves a few pairs for
            // review (about one in 200 customers).
            customers: 1_000,
            seed: 11,
            as_of: NaiveDate::from_ymd_opt(2026, 11, 1).expect("date"),
            credential_prefix: prefix.to_string(),
        };
        let demo = demo::run(&options, &ProgressBar::hidden())
            .await
            .expect("the demo runs");
        let mut project = demo.project.clone();
        for (name, role, token) in [
            ("ada", Role::Admin, ADMIN),
            ("lin", Role::Steward, STEWARD),
            ("vic", Role::Viewer, VIEWER),
        ] {
            project.settings.server.tokens.push(TokenSettings {
                name: name.to_string(),
                role,
                sha256: token_digest(token),
            });
        }
        let state = AppState::new(project, demo.store.clone(), Clock::System).expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(service::serve(state, listener, async {
            stopped.await.ok();
        }));
        ServedDemo {
            base,
            demo: Arc::new(demo),
            stop: Some(stop),
            server,
            _dir: dir,
        }
    }

    /// Stops the service and waits until it has shut down.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        tokio::time::timeout(Duration::from_secs(60), &mut self.server)
            .await
            .expect("the service stops within a minute")
            .expect("the service task")
            .expect("the service ends cleanly");
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(base: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: base.to_string(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the service answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(token), Some(body))
            .await
    }

    /// Waits until no job runs or waits, and returns the runs.
    async fn settle(&self) -> Vec<Value> {
        for _ in 0..600 {
            let (_, jobs) = self.get("/api/v1/jobs", ADMIN).await;
            let busy = jobs
                .as_array()
                .expect("jobs")
                .iter()
                .any(|job| job["running"] == true || job["waiting"] == true);
            if !busy {
                let (_, runs) = self.get("/api/v1/runs?limit=100", ADMIN).await;
                return runs.as_array().expect("runs").clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("jobs still running after a minute");
    }
}

#[tokio::test]
async fn every_role_gets_what_it_may_and_nothing_more() {
    let served = ServedDemo::start("TIERLINK_TEST_SERVE_ROLES_").await;
    let client = Client::new(&served.base);

    // No token, a malformed header, an unknown token: 401 with a challenge.
    let response = reqwest::get(format!("{}/api/v1/review", served.base))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"tierlink\""
    );
    let (status, body) = client.get("/api/v1/me", "not-a-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "the token is not known");
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/me", served.base))
        .header("authorization", format!("Basic {ADMIN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    for (token, name, role) in [
        (ADMIN, "ada", "admin"),
        (STEWARD, "lin", "steward"),
        (VIEWER, "vic", "viewer"),
    ] {
        let (status, me) = client.get("/api/v1/me", token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me, json!({ "name": name, "role": role }));
    }

    // The review queue is readable by all; deciding needs a steward.
    let (status, queue) = client.get("/api/v1/review?limit=50", VIEWER).await;
    assert_eq!(status, StatusCode::OK);
    let open = queue["open"].as_i64().expect("open count");
    assert!(open >= 2, "the demo leaves review items: {queue}");
    let items = queue["items"].as_array().expect("items");
    let first = items[0]["id"].as_i64().expect("an item id");
    // A second item with neither record of the first: accepting the first
    // would settle one that shares a record with it.
    let records = |item: &Value| [item["left"].to_string(), item["right"].to_string()];
    let second = items
        .iter()
        .find(|item| {
            records(item)
                .iter()
                .all(|record| !records(&items[0]).contains(record))
        })
        .and_then(|item| item["id"].as_i64())
        .expect("an item apart from the first");
    let (status, refused) = client
        .post(&format!("/api/v1/review/{first}/accept"), VIEWER, json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(refused["error"].as_str().unwrap().contains("steward role"));

    // A viewer sees the pair with contacts masked and no raw payloads.
    let (_, masked) = client.get(&format!("/api/v1/review/{first}"), VIEWER).await;
    let (_, plain) = client
        .get(&format!("/api/v1/review/{first}"), STEWARD)
        .await;
    assert_eq!(masked["item"]["id"], first);
    for side in ["left", "right"] {
        for phone in plain[side]["phones"].as_array().expect("phones") {
            let phone = phone.as_str().unwrap();
            assert!(!masked.to_string().contains(phone), "a viewer saw {phone}");
        }
        for email in plain[side]["emails"].as_array().expect("emails") {
            assert!(!masked.to_string().contains(email.as_str().unwrap()));
        }
    }
    assert_eq!(
        plain["left"]["connector"],
        plain["item"]["left"]["connector"]
    );

    // A steward accepts: both records end in one customer, decided by lin.
    let (status, outcome) = client
        .post(
            &format!("/api/v1/review/{first}/accept"),
            STEWARD,
            json!({ "reason": "same phone, same company" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["decision"]["actor"], "lin");
    let (_, decided) = client
        .get(&format!("/api/v1/review/{first}"), STEWARD)
        .await;
    assert_eq!(decided["item"]["status"], "accepted");
    assert_eq!(decided["left_golden_id"], decided["right_golden_id"]);
    let golden_id = decided["left_golden_id"]
        .as_str()
        .expect("a golden id")
        .to_string();
    let (status, again) = client
        .post(
            &format!("/api/v1/review/{first}/accept"),
            STEWARD,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    let (status, _) = client
        .post(
            &format!("/api/v1/review/{second}/reject"),
            STEWARD,
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a decision without a body");

    // The decision is re-tiered and pushed by a retier job on its own.
    let runs = client.settle().await;
    assert!(
        runs.iter()
            .any(|run| run["kind"] == "retier" && run["status"] == "succeeded"),
        "{runs:?}"
    );
    let (_, view) = client
        .get(&format!("/api/v1/customers/{golden_id}"), STEWARD)
        .await;
    assert_eq!(view["golden_id"], golden_id.as_str());
    assert!(
        view["tier"]["tier"].is_string(),
        "the merged customer has a tier: {view}"
    );
    assert!(view["records"].as_array().unwrap().len() >= 2);

    // The 360 view for a viewer: contacts masked, raw payloads withheld.
    let (_, viewer_view) = client
        .get(&format!("/api/v1/customers/{golden_id}"), VIEWER)
        .await;
    for phone in view["fields"]["phones"]["value"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let phone = phone.as_str().unwrap();
        assert!(
            !viewer_view.to_string().contains(phone),
            "a viewer saw {phone}"
        );
    }
    assert!(viewer_view["records"]
        .as_array()
        .unwrap()
        .iter()
        .all(|record| record["raw"] == json!({})));

    // Undo by API, audited with the actor.
    let decision_id = outcome["decision"]["id"].as_i64().unwrap();
    let (status, _) = client
        .post(
            &format!("/api/v1/decisions/{decision_id}/undo"),
            STEWARD,
            json!({ "reason": "test" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, decisions) = client.get("/api/v1/decisions", VIEWER).await;
    assert!(decisions
        .as_array()
        .unwrap()
        .iter()
        .all(|decision| decision["actor"] == "lin"));
    assert!(decisions
        .as_array()
        .unwrap()
        .iter()
        .any(|decision| decision["state"] == "undone"));

    // Runs and syncs need an admin.
    let (status, _) = client
        .post("/api/v1/runs", STEWARD, json!({ "kind": "full" }))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = client
        .post("/api/v1/connectors/wecom/sync", STEWARD, Value::Null)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = client
        .post("/api/v1/runs", ADMIN, json!({ "kind": "sideways" }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = client
        .post("/api/v1/connectors/nowhere/sync", ADMIN, Value::Null)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // On demand, asked for three times at once: every request is started
    // (running, or waiting once behind itself) or refused with 409, and
    // each one started ends as one run.
    client.settle().await;
    let mut accepted = 0;
    for _ in 0..3 {
        let (status, answer) = client
            .post("/api/v1/runs", ADMIN, json!({ "kind": "incremental" }))
            .await;
        match status {
            StatusCode::ACCEPTED => {
                assert_eq!(answer["job"], "incremental");
                accepted += 1;
            }
            StatusCode::CONFLICT => assert!(answer["error"]
                .as_str()
                .unwrap()
                .contains("already waiting")),
            other => panic!("{other}: {answer}"),
        }
    }
    assert!(accepted >= 1);
    let (status, _) = client
        .post("/api/v1/connectors/wecom/sync", ADMIN, Value::Null)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let runs = client.settle().await;
    let finished = |kind: &str| runs.iter().filter(|run| run["kind"] == kind).count();
    assert_eq!(finished("incremental"), accepted, "{runs:?}");
    assert_eq!(finished("sync:wecom"), 1);
    // One at a time: no run started before the previous one finished.
    let mut spans: Vec<(String, String)> = runs
        .iter()
        .map(|run| {
            (
                run["started_at"].as_str().unwrap().to_string(),
                run["finished_at"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "runs overlapped: {pair:?}");
    }

    // A connector check by an admin.
    let (status, check) = client
        .post("/api/v1/connectors/shopify/check", ADMIN, Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(check["ok"], true, "{check}");

    served.stop().await;
}

#[tokio::test]
async fn search_tiers_push_metrics_and_health_answer() {
    let served = ServedDemo::start("TIERLINK_TEST_SERVE_READ_").await;
    let client = Client::new(&served.base);

    for path in ["/healthz", "/readyz"] {
        let response = reqwest::get(format!("{}{path}", served.base))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let document: Value = reqwest::get(format!("{}/api/openapi.json", served.base))
        .await
        .unwrap()
        .json()
        .await
        .expect("OpenAPI JSON");
    assert!(document["paths"]["/api/v1/customers/{id}"]["get"].is_object());

    // Search finds a customer by name, by phone and by e-mail prefix.
    let customers = served
        .demo
        .store
        .golden_customers()
        .await
        .expect("customers");
    let customer = customers
        .iter()
        .find(|customer| {
            customer.fields.get("name").is_some_and(Value::is_string)
                && customer
                    .fields
                    .get("phones")
                    .is_some_and(|phones| phones[0].is_string())
                && customer
                    .fields
                    .get("emails")
                    .is_some_and(|emails| emails[0].is_string())
        })
        .expect("a customer with name, phone and e-mail");
    let name = customer.fields["name"].as_str().unwrap();
    let phone = customer.fields["phones"][0].as_str().unwrap();
    let email = customer.fields["emails"][0].as_str().unwrap();
    let national = phone.trim_start_matches("+86");
    for query in [
        name.to_string(),
        national[..7].to_string(),
        email[..email.find('@').unwrap()].to_string(),
    ] {
        let (status, found) = client
            .get(
                &format!("/api/v1/customers?q={}&limit=500", urlencode(&query)),
                STEWARD,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            found["customers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|hit| hit["golden_id"] == customer.golden_id.as_str()),
            "{query:?} did not find {} in {found} ({:?})",
            customer.golden_id,
            customer.fields
        );
    }
    let (_, masked) = client
        .get(&format!("/api/v1/customers?q={}", urlencode(name)), VIEWER)
        .await;
    assert!(
        !masked.to_string().contains(national),
        "a viewer saw a phone in search"
    );
    let (_, nothing) = client.get("/api/v1/customers?q=%E2%80%94", STEWARD).await;
    assert_eq!(nothing["customers"], json!([]));

    // Tiers: counts add up, every system has tiered customers.
    let (_, tiers) = client.get("/api/v1/tiers", VIEWER).await;
    let counted: i64 = tiers["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tier| tier["count"].as_i64().unwrap())
        .sum();
    assert_eq!(counted, tiers["total"].as_i64().unwrap(), "{tiers}");
    assert_eq!(
        tiers["rules_version"],
        served.demo.project.tiers.version.as_str()
    );
    for system in ["wecom", "shopify", "zendesk", "odoo"] {
        assert!(tiers["by_source"][system].is_object(), "{system}: {tiers}");
    }
    let high = tiers["tiers"][0]["key"].as_str().unwrap();
    let (_, in_tier) = client
        .get(&format!("/api/v1/customers?tier={high}&limit=500"), VIEWER)
        .await;
    assert_eq!(
        in_tier["customers"].as_array().unwrap().len() as i64,
        tiers["tiers"][0]["count"].as_i64().unwrap().min(500)
    );
    assert!(in_tier["customers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|hit| hit["tier"] == high));
    let (_, migration) = client
        .get("/api/v1/tiers/migration?since=2000-01-01", VIEWER)
        .await;
    let first_tiers: i64 = migration["moves"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|step| step["from"].is_null())
        .map(|step| step["count"].as_i64().unwrap())
        .sum();
    assert_eq!(
        first_tiers, counted,
        "every customer got a first tier: {migration}"
    );
    let (_, history) = client.get("/api/v1/tiers/history?days=30", VIEWER).await;
    assert!(!history["days"].as_array().unwrap().is_empty());

    // Push status and dead letters; verification needs an admin.
    let (_, push) = client.get("/api/v1/push", VIEWER).await;
    assert!(push
        .as_array()
        .unwrap()
        .iter()
        .any(|system| system["connector"] == "shopify"));
    let (status, letters) = client.get("/api/v1/push/dead-letters", VIEWER).await;
    assert_eq!(status, StatusCode::OK);
    assert!(letters.is_array());
    let (status, _) = client
        .post("/api/v1/push/verify", STEWARD, Value::Null)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, verified) = client
        .post("/api/v1/push/verify?connector=odoo", ADMIN, Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    let report = &verified["reports"][0];
    assert_eq!(report["connector"], "odoo");
    assert_eq!(report["missing_count"], 0, "{report}");
    assert_eq!(report["checked"], report["matching"], "{report}");

    // Connectors and jobs as the UI shows them.
    let (_, connectors) = client.get("/api/v1/connectors", VIEWER).await;
    let wecom = connectors
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "wecom")
        .expect("wecom");
    assert_eq!(wecom["sink"], "wecom");
    assert!(wecom["counts"]["parties"].as_i64().unwrap() > 0);
    let (_, jobs) = client.get("/api/v1/jobs", VIEWER).await;
    assert!(jobs
        .as_array()
        .unwrap()
        .iter()
        .any(|job| job["name"] == "sync:odoo"));

    // Metrics: requests by route pattern, queue sizes, ledger rows.
    let metrics = reqwest::get(format!("{}/metrics", served.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "tierlink_http_requests_total{route=\"GET /api/v1/customers\",status=\"200\"}",
        "tierlink_http_request_seconds_bucket{route=\"GET /api/v1/tiers\",le=\"+Inf\"}",
        "tierlink_review_queue_open ",
        "tierlink_push_ledger_rows{connector=\"shopify\",status=\"delivered\"}",
        "tierlink_customers_by_tier{tier=",
        "# TYPE tierlink_run_seconds histogram",
    ] {
        assert!(metrics.contains(expected), "no {expected} in\n{metrics}");
    }
    assert!(
        !metrics.contains(&customer.golden_id),
        "ids leak into metric labels"
    );
    assert!(!metrics.contains(national), "a phone in the metrics");

    served.stop().await;
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
