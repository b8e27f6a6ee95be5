//! The webhook receiver over real HTTP: a server on 127.0.0.1 (port 0), a
//! SQLite store in a temporary folder, reqwest as the sender. What a test
//! reads back it reads through a second store opened on the same file, so
//! it sees only what was committed.

use std::collections::BTreeMap;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tierlink::config::Secret;
use tierlink::connectors::webhook::{
    router, SignatureEncoding, WebhookConfig, WebhookStreamConfig,
};
use tierlink::store::{RejectedRecord, StagedRecord, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "whsec_tierlink_test";

/// The connector's config: `orders` takes a list at `orders` with the
/// event id in a header; `customer` takes one record per body with the
/// event id in the body.
fn config() -> WebhookConfig {
    let secret = Secret::resolve("${SHOP_WEBHOOK_SECRET}", |_| Some(SECRET.to_string()))
        .expect("the test secret resolves");
    let mut streams = BTreeMap::new();
    streams.insert(
        "orders".to_string(),
        WebhookStreamConfig {
            records_path: Some("orders".to_string()),
            primary_key: "id".to_string(),
            event_id: None,
            event_id_header: Some("X-Event-Id".to_string()),
        },
    );
    streams.insert(
        "customer".to_string(),
        WebhookStreamConfig {
            records_path: None,
            primary_key: "customer.id".to_string(),
            event_id: Some("event_id".to_string()),
            event_id_header: None,
        },
    );
    WebhookConfig {
        secret,
        signature_header: "X-Hub-Signature-256".to_string(),
        signature_encoding: SignatureEncoding::Hex,
        signature_prefix: Some("sha256=".to_string()),
        timestamp_header: None,
        tolerance_secs: None,
        max_body_bytes: 1024,
        streams,
    }
}

/// A running receiver and the store it writes to.
struct Receiver {
    base: String,
    address: std::net::SocketAddr,
    db_url: String,
    dir: tempfile::TempDir,
    client: reqwest::Client,
}

impl Receiver {
    async fn start(config: WebhookConfig) -> Receiver {
        let dir = tempfile::tempdir().expect("temp dir");
        let db_url = format!("sqlite://{}", dir.path().join("tierlink.db").display());
        let store = tierlink::store::open(&db_url, dir.path())
            .await
            .expect("the SQLite store opens");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let address = listener.local_addr().expect("bound address");
        let app = router(store, vec![("shop".to_string(), Arc::new(config))]);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            base: format!("http://{address}"),
            address,
            db_url,
            dir,
            client: reqwest::Client::new(),
        }
    }

    /// POSTs `body` to a stream with the headers given.
    async fn post(&self, stream: &str, body: &str, headers: &[(&str, String)]) -> (u16, Value) {
        let mut request = self
            .client
            .post(format!("{}/webhooks/shop/{stream}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.expect("the receiver answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a response body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// POSTs a correctly signed body with an event id header.
    async fn send_orders(&self, event_id: &str, body: &str) -> (u16, Value) {
        self.post(
            "orders",
            body,
            &[
                ("X-Hub-Signature-256", sign(body)),
                ("X-Event-Id", event_id.to_string()),
            ],
        )
        .await
    }

    /// A second store on the same database: it sees only committed rows.
    async fn committed(&self) -> Arc<dyn Store> {
        tierlink::store::open(&self.db_url, self.dir.path())
            .await
            .expect("a second store opens")
    }

    async fn staged(&self, stream: &str) -> Vec<StagedRecord> {
        self.committed()
            .await
            .pending_mapping("shop", stream, "test", 1000)
            .await
            .expect("staged records read")
    }

    async fn rejected(&self) -> Vec<RejectedRecord> {
        self.committed()
            .await
            .rejected(Some("shop"), 1000)
            .await
            .expect("rejections read")
    }
}

fn hmac_hex(parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// The header value a GitHub-style sender computes.
fn sign(body: &str) -> String {
    format!("sha256={}", hmac_hex(&[body.as_bytes()]))
}

fn ids(records: &[StagedRecord]) -> Vec<&str> {
    records
        .iter()
        .map(|record| record.source_id.as_str())
        .collect()
}

const TWO_ORDERS: &str =
    r#"{"orders": [{"id": "A-1", "amount": 99.5}, {"id": "A-2", "amount": 12}]}"#;

#[tokio::test]
async fn a_signed_delivery_is_committed_before_it_is_acknowledged() {
    let receiver = Receiver::start(config()).await;
    let (status, body) = receiver.send_orders("evt-1", TWO_ORDERS).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["duplicate"], json!(false));
    assert_eq!(body["event_id"], json!("evt-1"));
    assert_eq!(body["new"], json!(2));
    assert_eq!(body["rejected"], json!(0));
    // Read at once, through another connection: the 200 came after commit.
    let staged = receiver.staged("orders").await;
    assert_eq!(ids(&staged), vec!["A-1", "A-2"]);
    assert_eq!(staged[0].raw, json!({"id": "A-1", "amount": 99.5}));
    assert!(receiver.rejected().await.is_empty());
}

#[tokio::test]
async fn a_wrong_or_missing_signature_is_refused_and_stages_nothing() {
    let receiver = Receiver::start(config()).await;
    let forged = format!("sha256={}", hex::encode([7u8; 32]));
    let (status, body) = receiver
        .post(
            "orders",
            TWO_ORDERS,
            &[
                ("X-Hub-Signature-256", forged.clone()),
                ("X-Event-Id", "evt-1".into()),
            ],
        )
        .await;
    assert_eq!(status, 401, "{body}");
    let reason = body["error"].as_str().expect("a reason");
    assert!(reason.contains("does not match"), "{reason}");
    assert!(!reason.contains(&forged[7..]) && !reason.contains(SECRET));

    // Signed for another body: a tampered delivery.
    let (status, _) = receiver
        .post(
            "orders",
            TWO_ORDERS,
            &[
                ("X-Hub-Signature-256", sign("{}")),
                ("X-Event-Id", "evt-1".into()),
            ],
        )
        .await;
    assert_eq!(status, 401);

    let (status, body) = receiver
        .post("orders", TWO_ORDERS, &[("X-Event-Id", "evt-1".into())])
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"]
        .as_str()
        .is_some_and(|reason| reason.contains("no X-Hub-Signature-256 header")));

    assert!(receiver.staged("orders").await.is_empty());
    assert!(receiver.rejected().await.is_empty());
    // The event id was not used up by the refused deliveries.
    let (status, body) = receiver.send_orders("evt-1", TWO_ORDERS).await;
    assert_eq!((status, &body["duplicate"]), (200, &json!(false)), "{body}");
}

#[tokio::test]
async fn a_redelivered_event_is_a_duplicate_and_is_staged_once() {
    let receiver = Receiver::start(config()).await;
    assert_eq!(receiver.send_orders("evt-9", TWO_ORDERS).await.0, 200);
    let (status, body) = receiver.send_orders("evt-9", TWO_ORDERS).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"duplicate": true, "event_id": "evt-9"}));
    // Even a changed body under the same event id stages nothing.
    let changed = r#"{"orders": [{"id": "A-1", "amount": 1}, {"name": "no key"}]}"#;
    let (status, body) = receiver.send_orders("evt-9", changed).await;
    assert_eq!((status, &body["duplicate"]), (200, &json!(true)));
    let staged = receiver.staged("orders").await;
    assert_eq!(ids(&staged), vec!["A-1", "A-2"]);
    assert_eq!(staged[0].raw["amount"], json!(99.5));
    assert!(receiver.rejected().await.is_empty());
    // A new event with the same records is staged, and they are unchanged.
    let (status, body) = receiver.send_orders("evt-10", TWO_ORDERS).await;
    assert_eq!(status, 200);
    assert_eq!((&body["unchanged"], &body["new"]), (&json!(2), &json!(0)));
}

#[tokio::test]
async fn concurrent_redeliveries_stage_the_event_once() {
    let receiver = Arc::new(Receiver::start(config()).await);
    let sends: Vec<_> = (0..8)
        .map(|_| {
            let receiver = receiver.clone();
            tokio::spawn(async move { receiver.send_orders("evt-race", TWO_ORDERS).await })
        })
        .collect();
    let mut first_deliveries = 0;
    for send in sends {
        let (status, body) = send.await.expect("the send finishes");
        assert_eq!(status, 200, "{body}");
        if body["duplicate"] == json!(false) {
            first_deliveries += 1;
        }
    }
    assert_eq!(first_deliveries, 1);
    assert_eq!(receiver.staged("orders").await.len(), 2);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let receiver = Receiver::start(config()).await;
    let records: Vec<Value> = (0..100)
        .map(|i| json!({"id": format!("B-{i}"), "note": "x".repeat(20)}))
        .collect();
    let body = json!({ "orders": records }).to_string();
    assert!(body.len() > 1024);
    let (status, reply) = receiver.send_orders("evt-big", &body).await;
    assert_eq!(status, 413, "{reply}");
    assert!(reply["error"]
        .as_str()
        .is_some_and(|reason| reason.contains("max_body_bytes")));
    assert!(receiver.staged("orders").await.is_empty());

    // Without a Content-Length (chunked), the limit holds while reading.
    let mut stream = tokio::net::TcpStream::connect(receiver.address)
        .await
        .expect("connect");
    let chunk = "y".repeat(800);
    let request = format!(
        "POST /webhooks/shop/orders HTTP/1.1\r\nHost: {}\r\nX-Hub-Signature-256: sha256=00\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         {len:x}\r\n{chunk}\r\n{len:x}\r\n{chunk}\r\n0\r\n\r\n",
        receiver.address,
        len = chunk.len(),
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .expect("read the response");
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.starts_with("HTTP/1.1 413"),
        "{}",
        response.lines().next().unwrap_or_default()
    );
}

#[tokio::test]
async fn malformed_json_is_refused_with_400_and_kept_as_a_rejected_record() {
    let receiver = Receiver::start(config()).await;
    let broken = r#"{"orders": [{"id": "A-1", "amount": 99.5},"#;
    let (status, body) = receiver.send_orders("evt-broken", broken).await;
    assert_eq!(status, 400, "{body}");
    let reason = body["error"].as_str().expect("a reason");
    assert!(reason.contains("not valid JSON"), "{reason}");
    assert!(reason.contains("kept as a rejected record"), "{reason}");
    let rejected = receiver.rejected().await;
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].raw, broken);
    assert_eq!(rejected[0].stream, "orders");
    assert!(rejected[0].reason.contains("not valid JSON"));
    // The sender's retry of the same delivery is not kept twice.
    assert_eq!(receiver.send_orders("evt-broken", broken).await.0, 400);
    assert_eq!(receiver.rejected().await.len(), 1);
    assert!(receiver.staged("orders").await.is_empty());
}

#[tokio::test]
async fn a_record_without_a_key_becomes_a_rejection_with_its_reason() {
    let receiver = Receiver::start(config()).await;
    let body = r#"{"orders": [{"id": "A-1"}, {"amount": 5, "note": "no id"}]}"#;
    let (status, reply) = receiver.send_orders("evt-2", body).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!((&reply["new"], &reply["rejected"]), (&json!(1), &json!(1)));
    assert_eq!(ids(&receiver.staged("orders").await), vec!["A-1"]);
    let rejected = receiver.rejected().await;
    assert_eq!(rejected.len(), 1);
    assert!(
        rejected[0].reason.contains("no primary key at `id`"),
        "{}",
        rejected[0].reason
    );
    assert_eq!(
        serde_json::from_str::<Value>(&rejected[0].raw).expect("raw JSON"),
        json!({"amount": 5, "note": "no id"})
    );
}

#[tokio::test]
async fn a_body_that_is_one_record_takes_its_event_id_from_the_body() {
    let receiver = Receiver::start(config()).await;
    let body = r#"{"event_id": "c-1", "customer": {"id": 42, "name": "王芳"}}"#;
    let (status, reply) = receiver
        .post("customer", body, &[("X-Hub-Signature-256", sign(body))])
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["event_id"], json!("c-1"));
    let staged = receiver.staged("customer").await;
    assert_eq!(ids(&staged), vec!["42"]);
    assert_eq!(staged[0].raw["customer"]["name"], json!("王芳"));

    let no_id = r#"{"customer": {"id": 43}}"#;
    let (status, reply) = receiver
        .post("customer", no_id, &[("X-Hub-Signature-256", sign(no_id))])
        .await;
    assert_eq!(status, 400, "{reply}");
    assert!(reply["error"]
        .as_str()
        .is_some_and(|reason| reason.contains("no event id at `event_id`")));
    assert_eq!(receiver.rejected().await.len(), 1);
    assert_eq!(receiver.staged("customer").await.len(), 1);
}

#[tokio::test]
async fn an_old_timestamp_is_refused_as_a_replay() {
    let receiver = Receiver::start(WebhookConfig {
        timestamp_header: Some("X-Timestamp".to_string()),
        tolerance_secs: Some(300),
        ..config()
    })
    .await;
    let signed_at = |seconds_ago: i64| {
        let timestamp = (chrono::Utc::now().timestamp() - seconds_ago).to_string();
        let signature = format!(
            "sha256={}",
            hmac_hex(&[timestamp.as_bytes(), b".", TWO_ORDERS.as_bytes()])
        );
        vec![
            ("X-Hub-Signature-256", signature),
            ("X-Timestamp", timestamp),
            ("X-Event-Id", "evt-t".to_string()),
        ]
    };
    let (status, body) = receiver.post("orders", TWO_ORDERS, &signed_at(3600)).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"]
        .as_str()
        .is_some_and(|reason| reason.contains("tolerance of 300 seconds")));
    assert!(receiver.staged("orders").await.is_empty());

    let (status, body) = receiver.post("orders", TWO_ORDERS, &signed_at(5)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(receiver.staged("orders").await.len(), 2);
}

#[tokio::test]
async fn unknown_connectors_and_streams_are_not_found() {
    let receiver = Receiver::start(config()).await;
    let response = receiver
        .client
        .post(format!("{}/webhooks/erp/orders", receiver.base))
        .body("{}")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status().as_u16(), 404);
    let (status, body) = receiver.send_orders("evt-x", "{}").await;
    assert_eq!(status, 400, "an empty object has no orders list: {body}");
    let (status, _) = receiver
        .post("invoices", "{}", &[("X-Hub-Signature-256", sign("{}"))])
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_store_failure_answers_503_and_commits_nothing() {
    let receiver = Receiver::start(config()).await;
    // Break the last write of the transaction: the rejection insert.
    let mut connection = <sqlx::SqliteConnection as sqlx::Connection>::connect(&receiver.db_url)
        .await
        .expect("a raw connection");
    sqlx::query("ALTER TABLE rejected_records RENAME TO rejected_records_away")
        .execute(&mut connection)
        .await
        .expect("rename the table");
    let body = r#"{"orders": [{"id": "A-1"}, {"no": "key"}]}"#;
    let response = receiver
        .client
        .post(format!("{}/webhooks/shop/orders", receiver.base))
        .header("X-Hub-Signature-256", sign(body))
        .header("X-Event-Id", "evt-503")
        .body(body)
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok()),
        Some("30")
    );
    assert!(receiver.staged("orders").await.is_empty());
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events")
        .fetch_one(&mut connection)
        .await
        .expect("count events");
    assert_eq!(
        events, 0,
        "the event id is not used up by a failed delivery"
    );

    // Once the store works again, the sender's retry is accepted.
    sqlx::query("ALTER TABLE rejected_records_away RENAME TO rejected_records")
        .execute(&mut connection)
        .await
        .expect("rename the table back");
    let (status, reply) = receiver.send_orders("evt-503", body).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!((&reply["new"], &reply["rejected"]), (&json!(1), &json!(1)));
}
