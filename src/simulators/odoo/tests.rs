use super::*;
use crate::simulators::FaultConfig;

fn data() -> OdooData {
    let partners = (1..=7)
        .map(|id| {
            json!({
                "id": id, "name": format!("Partner {id}"), "is_company": id == 1,
                "parent_id": if id == 2 { json!([1, "Partner 1"]) } else { json!(false) },
                "email": format!("p{id}@example.com"), "phone": false,
                "category_id": if id == 3 { json!([10]) } else { json!([]) },
                "active": id != 7,
                // Two partners share a write_date so a page boundary falls inside it.
                "write_date": format!("2024-05-0{} 00:00:00", id.min(5)),
            })
        })
        .collect();
    OdooData {
        db: "acme".into(),
        login: "api@acme.test".into(),
        api_key: "key-123".into(),
        uid: 2,
        partners,
        sale_orders: vec![json!({
            "id": 1, "name": "S00001", "partner_id": [3, "Partner 3"],
            "date_order": "2024-05-03 01:00:00", "amount_total": 10.0, "state": "sale",
            "write_date": "2024-05-03 01:00:00",
        })],
        categories: vec![json!({"id": 10, "name": "tier_silver", "active": true})],
    }
}

async fn start() -> (OdooSimulator, RunningSimulator) {
    let simulator = OdooSimulator::new(data(), OdooSettings::default()).expect("valid data");
    let running = simulator
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .expect("serves");
    (simulator, running)
}

/// One JSON-RPC call; returns the HTTP status and the body.
async fn rpc(running: &RunningSimulator, path: &str, params: Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", running.base_url))
        .json(&json!({"jsonrpc": "2.0", "method": "call", "params": params, "id": 7}))
        .send()
        .await
        .expect("answers");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn execute(
    running: &RunningSimulator,
    model: &str,
    method: &str,
    args: Value,
    kwargs: Value,
) -> Value {
    let (status, body) = rpc(
        running,
        "/jsonrpc",
        json!({"service": "object", "method": "execute_kw",
               "args": ["acme", 2, "key-123", model, method, args, kwargs]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], 7);
    body
}

fn error_name(body: &Value) -> &str {
    body["error"]["data"]["name"].as_str().unwrap_or("")
}

#[tokio::test]
async fn clients_get_the_version_then_authenticate() {
    let (_simulator, running) = start().await;
    let (status, info) = rpc(&running, "/web/webclient/version_info", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["result"]["server_version"], "17.0");
    assert_eq!(
        info["result"]["server_version_info"],
        json!([17, 0, 0, "final", 0, ""])
    );
    assert_eq!(info["result"]["server_serie"], "17.0");
    assert_eq!(info["result"]["protocol_version"], 1);
    let (_, version) = rpc(
        &running,
        "/jsonrpc",
        json!({"service": "common", "method": "version", "args": []}),
    )
    .await;
    assert_eq!(version["result"], info["result"]);

    let authenticate = |login: &str, key: &str, db: &str| json!({"service": "common", "method": "authenticate", "args": [db, login, key, {}]});
    let (_, good) = rpc(
        &running,
        "/jsonrpc",
        authenticate("api@acme.test", "key-123", "acme"),
    )
    .await;
    assert_eq!(good["result"], 2);
    let (_, bad_key) = rpc(
        &running,
        "/jsonrpc",
        authenticate("api@acme.test", "wrong", "acme"),
    )
    .await;
    assert_eq!(bad_key["result"], false);
    let (_, login) = rpc(
        &running,
        "/jsonrpc",
        json!({"service": "common", "method": "login", "args": ["acme", "api@acme.test", "key-123"]}),
    )
    .await;
    assert_eq!(login["result"], 2);
    let (_, bad_db) = rpc(
        &running,
        "/jsonrpc",
        authenticate("api@acme.test", "key-123", "other"),
    )
    .await;
    assert_eq!(error_name(&bad_db), "psycopg2.OperationalError");

    let (_, counted) = rpc(
        &running,
        "/jsonrpc",
        json!({"service": "object", "method": "execute",
               "args": ["acme", 2, "key-123", "res.partner", "search_count", [["is_company", "=", true]]]}),
    )
    .await;
    assert_eq!(
        counted["result"], 1,
        "execute passes the rest as positional arguments"
    );
    let context = execute(&running, "res.users", "context_get", json!([]), json!({})).await;
    assert_eq!(
        context["result"],
        json!({"lang": "en_US", "tz": "Asia/Shanghai", "uid": 2})
    );
}

#[tokio::test]
async fn a_bad_api_key_gets_access_denied_in_an_http_200_envelope() {
    let (_simulator, running) = start().await;
    let (status, body) = rpc(
        &running,
        "/jsonrpc",
        json!({"service": "object", "method": "execute_kw",
               "args": ["acme", 2, "stolen", "res.partner", "search", [[]]]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["error"]["code"], 200);
    assert_eq!(body["error"]["message"], "Odoo Server Error");
    assert_eq!(error_name(&body), "odoo.exceptions.AccessDenied");
    assert_eq!(body["error"]["data"]["message"], "Access Denied");
    assert_eq!(body["error"]["data"]["arguments"], json!(["Access Denied"]));
    assert_eq!(body["error"]["data"]["context"], json!({}));
    assert!(body["error"]["data"]["debug"]
        .as_str()
        .unwrap()
        .starts_with("Traceback"));
}

#[tokio::test]
async fn a_keyset_paged_search_read_returns_every_partner_once() {
    let (_simulator, running) = start().await;
    let fields = json!(["name", "parent_id", "category_id", "write_date"]);
    let mut seen: Vec<i64> = Vec::new();
    let mut offset = 0;
    loop {
        let body = execute(
            &running,
            "res.partner",
            "search_read",
            json!([[["write_date", ">=", "2024-01-01 00:00:00"], ["active", "in", [true, false]]]]),
            json!({"fields": fields, "limit": 3, "offset": offset, "order": "write_date asc, id asc"}),
        )
        .await;
        let rows = body["result"].as_array().unwrap().clone();
        if rows.is_empty() {
            break;
        }
        offset += rows.len();
        seen.extend(rows.iter().map(|row| row["id"].as_i64().unwrap()));
        assert_eq!(
            rows[0].as_object().unwrap().len(),
            5,
            "id plus the four fields"
        );
    }
    assert_eq!(seen, vec![1, 2, 3, 4, 5, 6, 7]);

    let body = execute(
        &running,
        "res.partner",
        "search_read",
        json!([[["id", "=", 2]]]),
        json!({"fields": ["parent_id"]}),
    )
    .await;
    assert_eq!(
        body["result"],
        json!([{"id": 2, "parent_id": [1, "Partner 1"]}])
    );
    let count = execute(
        &running,
        "res.partner",
        "search_count",
        json!([[]]),
        json!({}),
    )
    .await;
    assert_eq!(
        count["result"], 6,
        "archived partner 7 is left out by default"
    );
    let read = execute(
        &running,
        "sale.order",
        "read",
        json!([[1]]),
        json!({"fields": ["partner_id", "amount_total"]}),
    )
    .await;
    assert_eq!(
        read["result"],
        json!([{"id": 1, "partner_id": [3, "Partner 3"], "amount_total": 10.0}])
    );
    let fields = execute(
        &running,
        "res.partner",
        "fields_get",
        json!([]),
        json!({"attributes": ["type", "relation"]}),
    )
    .await;
    assert_eq!(
        fields["result"]["category_id"],
        json!({"type": "many2many", "relation": "res.partner.category"})
    );
}

#[tokio::test]
async fn tag_write_back_finds_or_creates_the_category_and_links_it() {
    let (simulator, running) = start().await;
    let found = execute(
        &running,
        "res.partner.category",
        "search",
        json!([[["name", "=", "tier_gold"]]]),
        json!({}),
    )
    .await;
    assert_eq!(found["result"], json!([]));
    let created = execute(
        &running,
        "res.partner.category",
        "create",
        json!([{"name": "tier_gold"}]),
        json!({}),
    )
    .await;
    let gold = created["result"]
        .as_i64()
        .expect("a dict creates one record and returns its id");
    let listed = execute(
        &running,
        "res.partner.category",
        "create",
        json!([]),
        json!({"vals_list": [{"name": "tier_bronze"}]}),
    )
    .await;
    assert_eq!(
        listed["result"],
        json!([gold + 1]),
        "a list of dicts returns a list of ids"
    );

    let swap = execute(
        &running,
        "res.partner",
        "write",
        json!([[3], {"category_id": [[3, 10], [4, gold]]}]),
        json!({}),
    )
    .await;
    assert_eq!(swap["result"], true);
    assert_eq!(simulator.partner_categories(3).unwrap(), vec![gold]);
    // Linking again changes no tags.
    execute(
        &running,
        "res.partner",
        "write",
        json!([[3], {"category_id": [[4, gold]]}]),
        json!({}),
    )
    .await;
    assert_eq!(simulator.partner_categories(3).unwrap(), vec![gold]);
    let names: Vec<String> = simulator
        .categories()
        .into_iter()
        .map(|(_, name)| name)
        .collect();
    assert_eq!(names, vec!["tier_silver", "tier_gold", "tier_bronze"]);

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
            "res.partner.category.create",
            "res.partner.category.create",
            "res.partner.write",
            "res.partner.write"
        ]
    );
    let changed = execute(
        &running,
        "res.partner",
        "search",
        json!([[["write_date", ">", "2024-06-01 00:00:00"]]]),
        json!({}),
    )
    .await;
    assert_eq!(changed["result"], json!([3]), "write bumps write_date");
}

#[tokio::test]
async fn unknown_models_fields_methods_and_arguments_get_odoo_errors() {
    let (simulator, running) = start().await;
    let cases = [
        (
            "res.nothing",
            "search",
            json!([[]]),
            json!({}),
            "odoo.exceptions.UserError",
        ),
        (
            "res.partner",
            "frobnicate",
            json!([]),
            json!({}),
            "builtins.AttributeError",
        ),
        (
            "res.partner",
            "_private",
            json!([]),
            json!({}),
            "odoo.exceptions.AccessError",
        ),
        (
            "res.partner",
            "search_read",
            json!([[["nope", "=", 1]]]),
            json!({}),
            "builtins.ValueError",
        ),
        (
            "res.partner",
            "search_read",
            json!([[]]),
            json!({"fields": ["nope"]}),
            "builtins.ValueError",
        ),
        (
            "res.partner",
            "search_read",
            json!([[]]),
            json!({"colour": 1}),
            "builtins.TypeError",
        ),
        (
            "res.partner",
            "write",
            json!([[1], {"nope": 1}]),
            json!({}),
            "builtins.ValueError",
        ),
        (
            "res.partner",
            "write",
            json!([[999], {"name": "x"}]),
            json!({}),
            "odoo.exceptions.MissingError",
        ),
    ];
    for (model, method, args, kwargs, expected) in cases {
        let body = execute(&running, model, method, args, kwargs).await;
        assert_eq!(error_name(&body), expected, "{model}.{method}: {body}");
    }
    assert!(
        simulator.core().writes.is_empty(),
        "failed writes are not logged"
    );
    let response = reqwest::Client::new()
        .post(format!("{}/jsonrpc", running.base_url))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_name(&body), "werkzeug.exceptions.BadRequest");
}

#[tokio::test]
async fn every_fault_kind_answers_as_odoo_behind_a_proxy_and_leaves_state_alone() {
    let (simulator, running) = start().await;
    let write = json!({"service": "object", "method": "execute_kw",
        "args": ["acme", 2, "key-123", "res.partner", "write", [[1], {"category_id": [[4, 10]]}]]});
    for kind in [
        FaultKind::RateLimit,
        FaultKind::BodyRateLimit,
        FaultKind::ServerError,
    ] {
        simulator.core().faults.set(FaultConfig {
            rate: 1.0,
            kinds: vec![kind],
            ..FaultConfig::default()
        });
        let response = reqwest::Client::new()
            .post(format!("{}/jsonrpc", running.base_url))
            .json(&json!({"jsonrpc": "2.0", "method": "call", "params": write, "id": 1}))
            .send()
            .await
            .unwrap();
        if kind == FaultKind::ServerError {
            assert_eq!(response.status(), StatusCode::OK);
            let body: Value = response.json().await.unwrap();
            assert_eq!(error_name(&body), "psycopg2.errors.SerializationFailure");
        } else {
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "{kind:?}");
            assert!(response
                .text()
                .await
                .unwrap()
                .contains("429 Too Many Requests"));
        }
        assert_eq!(simulator.partner_categories(1).unwrap(), Vec::<i64>::new());
        assert!(simulator.core().writes.is_empty());
    }
    simulator.core().faults.set(FaultConfig {
        rate: 1.0,
        kinds: vec![FaultKind::Slow],
        slow_ms: 30,
        ..FaultConfig::default()
    });
    let started = std::time::Instant::now();
    let (_, body) = rpc(&running, "/jsonrpc", write).await;
    assert_eq!(body["result"], true);
    assert!(started.elapsed() >= std::time::Duration::from_millis(30));
    assert_eq!(simulator.partner_categories(1).unwrap(), vec![10]);
}

#[test]
fn a_world_directory_loads_and_dangling_references_are_named() {
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
            "zendesk": {"subdomain": "z", "email": "e", "api_token": "t"},
            "odoo": {"db": "acme", "login": "api@acme.test", "api_key": "key-123", "uid": 2}}})
        .to_string(),
    );
    write("odoo/res.partner.jsonl", lines(&data.partners));
    write("odoo/sale.order.jsonl", lines(&data.sale_orders));
    write("odoo/res.partner.category.jsonl", lines(&data.categories));
    let world = World::new(dir.path());
    let loaded = OdooData::from_world(&world).unwrap();
    assert_eq!(loaded.partners.len(), 7);
    let simulator = OdooSimulator::new(loaded, OdooSettings::default()).unwrap();
    assert_eq!(simulator.partner_categories(3), Some(vec![10]));

    let mut broken = data;
    broken.sale_orders[0]["partner_id"] = json!([99, "Gone"]);
    let Err(error) = OdooSimulator::new(broken, OdooSettings::default()) else {
        panic!("an order of a missing partner must be refused");
    };
    let message = error.to_string();
    assert!(
        message.contains("sale.order") && message.contains("res.partner 99"),
        "{message}"
    );
}

/// Posts an XML-RPC call with already encoded `<param>` values and
/// decodes the answer (a result value, or a fault struct).
async fn xml_call(
    running: &RunningSimulator,
    path: &str,
    method: &str,
    params: &[&str],
) -> (bool, Value) {
    let params: String = params
        .iter()
        .map(|value| format!("<param>\n<value>{value}</value>\n</param>\n"))
        .collect();
    let document = format!(
        "<?xml version='1.0'?>\n<methodCall>\n<methodName>{method}</methodName>\n<params>\n{params}</params>\n</methodCall>\n"
    );
    let response = reqwest::Client::new()
        .post(format!("{}{path}", running.base_url))
        .header("Content-Type", "text/xml")
        .body(document)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let is_fault = text.contains("<fault>");
    let as_call = text
        .replace("methodResponse", "methodCall")
        .replace("<fault>", "<params><param>")
        .replace("</fault>", "</param></params>")
        .replacen("<params>", "<methodName>answer</methodName><params>", 1);
    let mut decoded =
        xmlrpc::parse_call(&as_call).unwrap_or_else(|problem| panic!("{problem}: {text}"));
    (is_fault, decoded.params.remove(0))
}

#[tokio::test]
async fn xml_rpc_clients_share_the_same_database() {
    let (simulator, running) = start().await;
    let (fault, uid) = xml_call(
        &running,
        "/xmlrpc/2/common",
        "authenticate",
        &[
            "<string>acme</string>",
            "<string>api@acme.test</string>",
            "<string>key-123</string>",
            "<struct></struct>",
        ],
    )
    .await;
    assert!(!fault);
    assert_eq!(uid, json!(2));
    let credentials = [
        "<string>acme</string>",
        "<int>2</int>",
        "<string>key-123</string>",
    ];
    let mut search = credentials.to_vec();
    search.extend([
        "<string>res.partner</string>",
        "<string>search_read</string>",
        "<array><data><value><array><data><value><array><data><value><string>id</string></value><value><string>&lt;=</string></value><value><int>2</int></value></data></array></value></data></array></value></data></array>",
        "<struct><member><name>fields</name><value><array><data><value><string>parent_id</string></value></data></array></value></member></struct>",
    ]);
    let (fault, rows) = xml_call(&running, "/xmlrpc/2/object", "execute_kw", &search).await;
    assert!(!fault, "{rows}");
    assert_eq!(
        rows,
        json!([{"id": 1, "parent_id": false}, {"id": 2, "parent_id": [1, "Partner 1"]}])
    );

    let mut write = credentials.to_vec();
    write.extend([
        "<string>res.partner</string>",
        "<string>write</string>",
        "<array><data><value><array><data><value><int>4</int></value></data></array></value><value><struct><member><name>category_id</name><value><array><data><value><array><data><value><int>4</int></value><value><int>10</int></value></data></array></value></data></array></value></member></struct></value></data></array>",
    ]);
    let (fault, written) = xml_call(&running, "/xmlrpc/2/object", "execute_kw", &write).await;
    assert!(!fault);
    assert_eq!(written, json!(true));
    assert_eq!(simulator.partner_categories(4).unwrap(), vec![10]);

    let denied = [
        "<string>acme</string>",
        "<int>2</int>",
        "<string>bad</string>",
        "<string>res.partner</string>",
        "<string>search</string>",
        "<array><data><value><array><data></data></array></value></data></array>",
    ];
    let (fault, body) = xml_call(&running, "/xmlrpc/2/object", "execute_kw", &denied).await;
    assert!(fault);
    assert_eq!(
        body,
        json!({"faultCode": 3, "faultString": "Access Denied"})
    );

    simulator.core().faults.set(FaultConfig {
        rate: 1.0,
        kinds: vec![FaultKind::ServerError],
        ..FaultConfig::default()
    });
    let (fault, body) = xml_call(&running, "/xmlrpc/2/object", "execute_kw", &write).await;
    assert!(fault);
    assert_eq!(body["faultCode"], 1);
    assert!(body["faultString"]
        .as_str()
        .unwrap()
        .contains("SerializationFailure"));
    simulator.core().faults.set(FaultConfig::default());

    let response = reqwest::Client::new()
        .post(format!("{}/xmlrpc/2/common", running.base_url))
        .body("<methodCall><methodName>version")
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    assert!(
        text.contains("<fault>") && text.contains("ExpatError"),
        "{text}"
    );
}
