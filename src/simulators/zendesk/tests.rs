use super::*;
use crate::simulators::FaultConfig;

fn user(id: i64, updated_at: &str, tags: &[&str]) -> Value {
    json!({
        "id": id, "name": format!("User {id}"), "email": format!("u{id}@example.com"),
        "phone": null, "external_id": null, "organization_id": null, "role": "end-user",
        "tags": tags, "user_fields": {}, "created_at": "2024-01-01T00:00:00Z",
        "updated_at": updated_at,
    })
}

fn organization(id: i64, name: &str) -> Value {
    json!({
        "id": id, "name": name, "domain_names": [], "external_id": null, "tags": [],
        "organization_fields": {}, "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
    })
}

fn ticket(id: i64, updated_at: &str, status: &str) -> Value {
    json!({
        "id": id, "requester_id": 1, "status": status, "subject": "Help",
        "tags": [], "via": {"channel": "chat"}, "satisfaction_rating": {"score": "good"},
        "created_at": "2024-01-01T00:00:00Z", "updated_at": updated_at,
        "generated_timestamp": 1,
    })
}

fn rating(id: i64, score: &str, created_at: &str) -> Value {
    json!({
        "id": id, "score": score, "comment": if id % 2 == 0 { "great" } else { "" },
        "reason": null, "ticket_id": id, "requester_id": 1, "assignee_id": 9,
        "group_id": 3, "created_at": created_at, "updated_at": created_at,
    })
}

fn data() -> ZendeskData {
    ZendeskData {
        subdomain: "acme".into(),
        email: "agent@acme.test".into(),
        api_token: "tok123".into(),
        // Two users share an updated_at so a page boundary falls inside it.
        users: vec![
            user(5, "2024-03-01T00:00:00Z", &[]),
            user(3, "2024-01-01T00:00:00Z", &["vip"]),
            user(4, "2024-02-01T00:00:00Z", &[]),
            user(1, "2024-02-01T00:00:00Z", &["old", "b2b"]),
            user(2, "2023-12-01T00:00:00Z", &[]),
        ]
        .into_iter()
        .map(|mut user| {
            // Users 1 and 4 work at one firm, user 3 at another.
            let organization = match user["id"].as_i64() {
                Some(1 | 4) => json!(70),
                Some(3) => json!(71),
                _ => Value::Null,
            };
            user["organization_id"] = organization;
            user
        })
        .collect(),
        tickets: vec![
            ticket(10, "2024-01-01T00:00:00Z", "open"),
            ticket(11, "2024-01-02T00:00:00Z", "deleted"),
            ticket(12, "2024-01-03T00:00:00Z", "solved"),
        ],
        satisfaction_ratings: (1..=7)
            .map(|id| {
                let score = ["good", "bad", "offered"][id as usize % 3];
                rating(id, score, &format!("2024-01-0{id}T00:00:00Z"))
            })
            .collect(),
        organizations: vec![
            organization(70, "深圳立信嘉禾电子有限公司"),
            organization(71, "华为技术有限公司"),
        ],
    }
}

async fn start(settings: ZendeskSettings) -> (ZendeskSimulator, RunningSimulator) {
    let simulator = ZendeskSimulator::new(data(), settings).expect("valid data");
    let running = simulator
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .expect("serves");
    (simulator, running)
}

fn basic() -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode("agent@acme.test/token:tok123");
    format!("Basic {encoded}")
}

async fn get_json(url: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .get(url)
        .header("Authorization", basic())
        .send()
        .await
        .expect("answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn send(method: reqwest::Method, url: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .request(method, url)
        .header("Authorization", basic())
        .json(&body)
        .send()
        .await
        .expect("answers")
}

fn ids(records: &Value) -> Vec<i64> {
    records
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_paged_users_export_returns_every_user_once_then_only_newer_changes() {
    let (_simulator, running) = start(ZendeskSettings::unlimited()).await;
    let mut url = format!(
        "{}/api/v2/incremental/users/cursor.json?start_time=0&per_page=2",
        running.base_url
    );
    let mut seen = Vec::new();
    let final_cursor = loop {
        let (status, page) = get_json(&url).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(ids(&page["users"]));
        assert!(page["after_url"].as_str().unwrap().contains("cursor="));
        if page["end_of_stream"] == json!(true) {
            break page["after_cursor"].as_str().unwrap().to_string();
        }
        url = format!("{}&per_page=2", page["after_url"].as_str().unwrap());
    };
    // Ordered by updated_at, then id.
    assert_eq!(seen, vec![2, 3, 1, 4, 5]);

    let again = format!(
        "{}/api/v2/incremental/users/cursor?cursor={final_cursor}",
        running.base_url
    );
    let (_, page) = get_json(&again).await;
    assert_eq!(ids(&page["users"]), Vec::<i64>::new());
    assert_eq!(page["end_of_stream"], json!(true));

    let tagged = send(
        reqwest::Method::PUT,
        &format!("{}/api/v2/users/3/tags.json", running.base_url),
        json!({"tags": ["tier_gold"]}),
    )
    .await;
    assert_eq!(tagged.status(), StatusCode::OK);
    let (_, page) = get_json(&again).await;
    assert_eq!(ids(&page["users"]), vec![3]);
    assert_eq!(page["users"][0]["tags"], json!(["vip", "tier_gold"]));
}

#[tokio::test]
async fn include_organizations_sideloads_the_firms_of_each_page_once() {
    let (_simulator, running) = start(ZendeskSettings::unlimited()).await;
    let base = format!("{}/api/v2/incremental/users/cursor.json", running.base_url);
    // Pages by (updated_at, id): [2, 3], [1, 4], [5].
    let (_, first) = get_json(&format!(
        "{base}?start_time=0&per_page=2&include=organizations"
    ))
    .await;
    assert_eq!(ids(&first["users"]), vec![2, 3]);
    assert_eq!(ids(&first["organizations"]), vec![71]);
    let cursor = first["after_cursor"].as_str().unwrap();
    let (_, second) = get_json(&format!(
        "{base}?cursor={cursor}&per_page=2&include=users,organizations"
    ))
    .await;
    assert_eq!(ids(&second["users"]), vec![1, 4]);
    assert_eq!(ids(&second["organizations"]), vec![70]);
    assert_eq!(
        second["organizations"][0]["name"],
        json!("深圳立信嘉禾电子有限公司")
    );
    // Without include, no sideload.
    let (_, plain) = get_json(&format!("{base}?start_time=0")).await;
    assert!(plain.get("organizations").is_none());

    let (status, shown) = get_json(&format!(
        "{}/api/v2/organizations/71.json",
        running.base_url
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["organization"]["name"], json!("华为技术有限公司"));
    let (status, _) = get_json(&format!("{}/api/v2/organizations/99", running.base_url)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn changes_younger_than_the_export_delay_are_left_out() {
    let settings = ZendeskSettings {
        export_delay: Duration::from_secs(60),
        ..ZendeskSettings::unlimited()
    };
    let (_simulator, running) = start(settings).await;
    send(
        reqwest::Method::PUT,
        &format!("{}/api/v2/users/2/tags", running.base_url),
        json!({"tags": ["fresh"]}),
    )
    .await;
    let (_, page) = get_json(&format!(
        "{}/api/v2/incremental/users/cursor.json?start_time=0",
        running.base_url
    ))
    .await;
    assert_eq!(ids(&page["users"]), vec![3, 1, 4, 5]);
    assert_eq!(page["end_of_stream"], json!(true));
}

#[tokio::test]
async fn export_parameters_are_checked_as_zendesk_checks_them() {
    let (_simulator, running) = start(ZendeskSettings::default()).await;
    let base = format!("{}/api/v2/incremental/users/cursor.json", running.base_url);
    let future = Utc::now().timestamp() + 3600;
    let (status, body) = get_json(&format!("{base}?start_time={future}")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["description"]
        .as_str()
        .unwrap()
        .starts_with("Too recent start_time."));
    let (status, _) = get_json(&base).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = get_json(&format!("{base}?start_time=0&per_page=1001")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "InvalidPaginationParameter");
    let (status, _) = get_json(&format!("{base}?cursor=not-a-cursor")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_tickets_export_can_leave_out_deleted_tickets() {
    let (_simulator, running) = start(ZendeskSettings::unlimited()).await;
    let base = format!("{}/api/v2/incremental/tickets/cursor", running.base_url);
    let (_, all) = get_json(&format!("{base}?start_time=0")).await;
    assert_eq!(ids(&all["tickets"]), vec![10, 11, 12]);
    let (_, kept) = get_json(&format!("{base}.json?start_time=0&exclude_deleted=true")).await;
    assert_eq!(ids(&kept["tickets"]), vec![10, 12]);
    // start_time keeps records updated at or after it.
    let since = DateTime::parse_from_rfc3339("2024-01-02T00:00:00Z")
        .unwrap()
        .timestamp();
    let (_, later) = get_json(&format!("{base}?start_time={since}")).await;
    assert_eq!(ids(&later["tickets"]), vec![11, 12]);
}

#[tokio::test]
async fn bad_credentials_are_refused_and_oauth_tokens_expire() {
    let (simulator, running) = start(ZendeskSettings::unlimited()).await;
    let me = format!("{}/api/v2/users/me.json", running.base_url);
    let client = reqwest::Client::new();
    let wrong = base64::engine::general_purpose::STANDARD.encode("agent@acme.test/token:nope");
    for authorization in [format!("Basic {wrong}"), "Bearer forged".to_string()] {
        let response = client
            .get(&me)
            .header("Authorization", authorization)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"error": "Couldn't authenticate you"}));
    }
    let (status, body) = get_json(&me).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user"]["email"], "agent@acme.test");

    let token = simulator.issue_oauth_token();
    let bearer = |token: &str| client.get(&me).bearer_auth(token.to_string()).send();
    assert_eq!(bearer(&token).await.unwrap().status(), StatusCode::OK);
    simulator.core().tokens.expire_all();
    assert_eq!(
        bearer(&token).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let fresh = simulator.issue_oauth_token();
    assert_eq!(bearer(&fresh).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn rate_limits_answer_429_with_an_integer_retry_after() {
    let settings = ZendeskSettings {
        requests_per_minute: Some(4),
        incremental_requests_per_minute: Some(2),
        ..ZendeskSettings::unlimited()
    };
    let (_simulator, running) = start(settings).await;
    let client = reqwest::Client::new();
    let export = format!(
        "{}/api/v2/incremental/users/cursor.json?start_time=0",
        running.base_url
    );
    let me = format!("{}/api/v2/users/me", running.base_url);
    let call = |url: String| client.get(url).header("Authorization", basic()).send();
    let first = call(export.clone()).await.unwrap();
    assert_eq!(first.headers()["x-rate-limit"], "4");
    assert_eq!(first.headers()["x-rate-limit-remaining"], "3");
    call(export.clone()).await.unwrap();
    let third = call(export.clone()).await.unwrap();
    assert_eq!(
        third.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "incremental 2/min"
    );
    assert!(third.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let wait: u64 = third.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait));
    let fourth = call(me.clone()).await.unwrap();
    assert_eq!(fourth.status(), StatusCode::OK);
    assert_eq!(fourth.headers()["x-rate-limit-remaining"], "1");
    call(me.clone()).await.unwrap();
    let over = call(me).await.unwrap();
    assert_eq!(
        over.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "account 4/min"
    );
    assert_eq!(over.headers()["x-rate-limit-remaining"], "0");
}

#[tokio::test]
async fn every_fault_kind_answers_as_zendesk_and_leaves_state_alone() {
    let (simulator, running) = start(ZendeskSettings::unlimited()).await;
    let tags_url = format!("{}/api/v2/users/1/tags.json", running.base_url);
    for (kind, status) in [
        (FaultKind::RateLimit, StatusCode::TOO_MANY_REQUESTS),
        (FaultKind::BodyRateLimit, StatusCode::TOO_MANY_REQUESTS),
        (FaultKind::ServerError, StatusCode::SERVICE_UNAVAILABLE),
    ] {
        simulator.core().faults.set(FaultConfig {
            rate: 1.0,
            kinds: vec![kind],
            ..FaultConfig::default()
        });
        let response = send(reqwest::Method::POST, &tags_url, json!({"tags": ["x"]})).await;
        assert_eq!(response.status(), status, "{kind:?}");
        assert!(response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .is_ok());
        assert_eq!(simulator.user_tags(1).unwrap(), vec!["old", "b2b"]);
        assert!(simulator.core().writes.is_empty());
    }
    simulator.core().faults.set(FaultConfig {
        rate: 1.0,
        kinds: vec![FaultKind::Slow],
        slow_ms: 50,
        ..FaultConfig::default()
    });
    let started = Instant::now();
    let response = send(reqwest::Method::POST, &tags_url, json!({"tags": ["x"]})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(simulator.user_tags(1).unwrap(), vec!["x"]);
}

#[tokio::test]
async fn tag_calls_add_replace_and_remove_and_are_logged() {
    let (simulator, running) = start(ZendeskSettings::unlimited()).await;
    let url = format!("{}/api/v2/users/1/tags", running.base_url);
    let added = send(
        reqwest::Method::PUT,
        &url,
        json!({"tags": ["tier_vip", "old"]}),
    )
    .await;
    assert_eq!(added.status(), StatusCode::OK);
    let added: Value = added.json().await.unwrap();
    assert_eq!(added["tags"], json!(["old", "b2b", "tier_vip"]));
    let before = simulator.inner.state.lock().unwrap().users.records[&1]["updated_at"].clone();
    // Adding present tags changes nothing, not even updated_at.
    send(reqwest::Method::PUT, &url, json!({"tags": ["tier_vip"]})).await;
    let after = simulator.inner.state.lock().unwrap().users.records[&1]["updated_at"].clone();
    assert_eq!(before, after);

    let removed = send(
        reqwest::Method::DELETE,
        &format!("{url}.json"),
        json!({"tags": ["old"]}),
    )
    .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    assert_eq!(simulator.user_tags(1).unwrap(), vec!["b2b", "tier_vip"]);

    let set = send(reqwest::Method::POST, &url, json!({"tags": ["tier_gold"]})).await;
    assert_eq!(set.status(), StatusCode::CREATED);
    assert_eq!(simulator.user_tags(1).unwrap(), vec!["tier_gold"]);
    let (_, shown) = get_json(&url).await;
    assert_eq!(shown["tags"], json!(["tier_gold"]));

    let calls: Vec<String> = simulator
        .core()
        .writes
        .all()
        .into_iter()
        .map(|write| write.call)
        .collect();
    assert_eq!(
        calls,
        vec![
            "PUT users/1/tags.json",
            "PUT users/1/tags.json",
            "DELETE users/1/tags.json",
            "POST users/1/tags.json"
        ]
    );
    let missing = send(
        reqwest::Method::PUT,
        &format!("{}/api/v2/users/999/tags.json", running.base_url),
        json!({"tags": ["x"]}),
    )
    .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let bad = send(reqwest::Method::PUT, &url, json!({"tags": [1, 2]})).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn updating_a_user_sets_defined_fields_and_replaces_tags() {
    let (simulator, running) = start(ZendeskSettings::unlimited()).await;
    let url = format!("{}/api/v2/users/1.json", running.base_url);
    let (status, shown) = get_json(&url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["user"]["user_fields"], json!({"customer_tier": null}));

    let response = send(
        reqwest::Method::PUT,
        &url,
        json!({"user": {"user_fields": {"customer_tier": "vip", "undefined_field": 1}}}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["user_fields"], json!({"customer_tier": "vip"}));
    assert_eq!(simulator.user_tags(1).unwrap(), vec!["old", "b2b"]);
    assert_eq!(
        simulator.user_fields(1).unwrap()["customer_tier"],
        json!("vip")
    );

    send(
        reqwest::Method::PUT,
        &format!("{}/api/v2/users/1", running.base_url),
        json!({"user": {"tags": ["tier_vip"]}}),
    )
    .await;
    assert_eq!(simulator.user_tags(1).unwrap(), vec!["tier_vip"]);
    assert_eq!(simulator.core().writes.len(), 2);
    assert_eq!(simulator.core().writes.all()[0].call, "PUT users/1.json");

    let (status, _) = get_json(&format!("{}/api/v2/users/999", running.base_url)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let no_user = send(reqwest::Method::PUT, &url, json!({"name": "x"})).await;
    assert_eq!(no_user.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn satisfaction_ratings_page_by_cursor_and_by_offset() {
    let (_simulator, running) = start(ZendeskSettings::unlimited()).await;
    let base = format!("{}/api/v2/satisfaction_ratings", running.base_url);
    let mut url = format!("{base}?score=received&page[size]=2");
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let last_page = loop {
        let (status, page) = get_json(&url).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(ids(&page["satisfaction_ratings"]));
        pages.push(ids(&page["satisfaction_ratings"]));
        if page["meta"]["has_more"] == json!(false) {
            assert_eq!(page["links"]["next"], Value::Null);
            break page;
        }
        url = page["links"]["next"].as_str().unwrap().to_string();
    };
    // links.prev goes back one page, with the same filter.
    let (_, previous) = get_json(last_page["links"]["prev"].as_str().unwrap()).await;
    assert_eq!(
        ids(&previous["satisfaction_ratings"]),
        pages[pages.len() - 2]
    );
    // Scores cycle good, bad, offered by id % 3: received = good or bad.
    assert_eq!(
        seen,
        vec![1, 2, 3, 4, 5, 6, 7]
            .into_iter()
            .filter(|id| id % 3 != 2)
            .collect::<Vec<_>>()
    );

    let start = DateTime::parse_from_rfc3339("2024-01-03T00:00:00Z")
        .unwrap()
        .timestamp();
    let end = DateTime::parse_from_rfc3339("2024-01-05T00:00:00Z")
        .unwrap()
        .timestamp();
    let (_, window) = get_json(&format!("{base}.json?start_time={start}&end_time={end}")).await;
    assert_eq!(ids(&window["satisfaction_ratings"]), vec![3, 4, 5]);
    assert_eq!(window["count"], 3);

    let (_, offset) = get_json(&format!("{base}.json?per_page=3&page=2")).await;
    assert_eq!(ids(&offset["satisfaction_ratings"]), vec![4, 5, 6]);
    assert!(offset["next_page"].as_str().unwrap().contains("page=3"));

    let (status, body) = get_json(&format!("{base}?page[size]=101")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "InvalidPaginationParameter");
    let (status, _) = get_json(&format!("{base}?score=great")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[test]
fn cursors_round_trip_in_zendesk_form() {
    assert_eq!(encode_cursor((1580753798, 432)), "MTU4MDc1Mzc5OC4wfHw0MzJ8");
    assert_eq!(
        decode_cursor("MTU4MDc1Mzc5OC4wfHw0MzJ8"),
        Some((1580753798, 432))
    );
    assert_eq!(decode_cursor("%%%"), None);
}

#[test]
fn tag_changes_follow_the_verbs() {
    let current = vec!["a".to_string(), "b".to_string()];
    let requested = vec!["b".to_string(), "c".to_string()];
    assert_eq!(
        changed_tags(&current, &requested, TagChange::Add),
        ["a", "b", "c"]
    );
    assert_eq!(
        changed_tags(&current, &requested, TagChange::Set),
        ["b", "c"]
    );
    assert_eq!(changed_tags(&current, &requested, TagChange::Remove), ["a"]);
}

#[test]
fn loading_names_the_record_without_updated_at() {
    let mut broken = data();
    broken.users.push(json!({"id": 77}));
    let Err(error) = ZendeskSimulator::new(broken, ZendeskSettings::default()) else {
        panic!("a user without updated_at must be refused");
    };
    let message = error.to_string();
    assert!(
        message.contains("zendesk/users.jsonl:6") && message.contains("record 77"),
        "{message}"
    );
}

#[tokio::test]
async fn a_world_directory_loads_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: String| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    let lines = |records: &[Value]| -> String {
        records.iter().map(|record| format!("{record}\n")).collect()
    };
    let data = data();
    write(
        "world.json",
        json!({"credentials": {
            "wecom": {"corp_id": "c", "corp_secret": "s"},
            "shopify": {"shop": "s", "access_token": "t"},
            "zendesk": {"subdomain": "acme", "email": "agent@acme.test", "api_token": "tok123"},
            "odoo": {"db": "d", "login": "l", "api_key": "k", "uid": 2}}})
        .to_string(),
    );
    write("zendesk/users.jsonl", lines(&data.users));
    write("zendesk/tickets.jsonl", lines(&data.tickets));
    write(
        "zendesk/satisfaction_ratings.jsonl",
        lines(&data.satisfaction_ratings),
    );
    let loaded = ZendeskData::from_world(&World::new(dir.path())).unwrap();
    assert_eq!(loaded.subdomain, "acme");
    assert_eq!(loaded.users.len(), 5);
    let simulator = ZendeskSimulator::new(loaded, ZendeskSettings::unlimited()).unwrap();
    let running = simulator
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (status, body) = get_json(&format!("{}/api/v2/users/3", running.base_url)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user"]["tags"], json!(["vip"]));
}
