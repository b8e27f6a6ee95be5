//! The `http` connector kind through the public API: `tierlink validate`
//! problems of broken connector files (`Project::load`), and a Zendesk-like
//! cursor export built from the registry and synced twice into a real store.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tierlink::config::{Problem, Project};
use tierlink::connectors::{find_kind, ConnectorDefinition, Source, SourceContext};
use tierlink::store::{StageCounts, Store};
use tokio::sync::mpsc;

#[path = "../../src/connectors/http/test_server.rs"]
mod test_server;

use test_server::{Reply, TestServer};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A project folder with the given connector files and no mappings.
fn project(connectors: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("tierlink.toml"),
        "[store]\nurl = \"sqlite://t.db\"\n[paths]\nconnectors = \"connectors\"\nmappings = \"mappings\"\ntiers = \"tiers.toml\"\noutput = \"out\"\n",
    )
    .expect("write tierlink.toml");
    std::fs::copy(repo().join("tiers.toml"), dir.path().join("tiers.toml")).expect("copy tiers");
    std::fs::create_dir_all(dir.path().join("connectors")).expect("connectors folder");
    std::fs::create_dir_all(dir.path().join("mappings")).expect("mappings folder");
    for (name, text) in connectors {
        std::fs::write(dir.path().join("connectors").join(name), text).expect("write connector");
    }
    dir
}

fn problems_of(dir: &Path, file: &str) -> Vec<Problem> {
    let problems = match Project::load(&dir.join("tierlink.toml")) {
        Ok(_) => panic!("the broken project loaded"),
        Err(problems) => problems,
    };
    problems
        .iter()
        .filter(|problem| problem.file.ends_with(file))
        .cloned()
        .collect()
}

const STREAM: &str =
    "[streams.users]\npath = \"/users.json\"\nrecords_path = \"users\"\nprimary_key = \"id\"\n";

#[test]
fn validate_reports_every_problem_of_broken_http_connectors() {
    let dir = project(&[
        (
            "unknown_auth.toml",
            &format!("type = \"http\"\nbase_url = \"https://x.example\"\n[auth]\nkind = \"oauth\"\n{STREAM}"),
        ),
        (
            "plain_secret.toml",
            &format!("type = \"http\"\nbase_url = \"https://x.example\"\n[auth]\nkind = \"bearer\"\ntoken = \"zd-live-abc123\"\n{STREAM}"),
        ),
        (
            "missing_env.toml",
            &format!("type = \"http\"\nbase_url = \"https://x.example\"\n[auth]\nkind = \"bearer\"\ntoken = \"${{TIERLINK_IT_NEVER_SET_TOKEN}}\"\n{STREAM}"),
        ),
        (
            "bad_stream.toml",
            "type = \"http\"\nbase_url = \"https://x.example\"\n[streams.users]\npath = \"/users/{{ page }}\"\nrecords_path = \"users\"\nprimary_key = \"id\"\npagination = { style = \"cursor\" }\n",
        ),
    ]);
    let dir = dir.path();

    let unknown = problems_of(dir, "unknown_auth.toml");
    assert_eq!(unknown.len(), 1, "{unknown:#?}");
    assert!(unknown[0].field.starts_with("auth"), "{unknown:#?}");
    assert!(
        unknown[0].message.contains("unknown variant `oauth`"),
        "{unknown:#?}"
    );
    assert!(
        unknown[0].message.contains("oauth2_client_credentials"),
        "lists the kinds"
    );

    let plain = problems_of(dir, "plain_secret.toml");
    assert_eq!(plain.len(), 1, "{plain:#?}");
    assert_eq!(plain[0].field, "auth.token");
    assert!(plain[0].message.contains("must be written as a reference"));
    assert!(
        !format!("{plain:?}").contains("zd-live-abc123"),
        "the value is never shown"
    );

    let missing = problems_of(dir, "missing_env.toml");
    assert_eq!(missing.len(), 1, "reported once: {missing:#?}");
    assert_eq!(missing[0].field, "auth.token");
    assert_eq!(
        missing[0].message,
        "the environment variable TIERLINK_IT_NEVER_SET_TOKEN is not set"
    );

    let stream = problems_of(dir, "bad_stream.toml");
    assert_eq!(stream.len(), 1, "{stream:#?}");
    assert_eq!(stream[0].field, "streams.users.pagination");
    assert!(
        stream[0].message.contains("missing field `cursor_path`"),
        "{stream:#?}"
    );
}

/// Stages every batch of one pull like the pipeline does.
async fn sync(
    store: &Arc<dyn Store>,
    context: &SourceContext,
    source: &Arc<dyn Source>,
    run_id: i64,
) -> StageCounts {
    let cursor = store.cursor("desk", "users").await.expect("cursor");
    let (sender, mut batches) = mpsc::channel(2);
    let (task_source, task_context) = (source.clone(), context.clone());
    let pull = tokio::spawn(async move {
        task_source
            .pull(&task_context, "users", cursor, sender)
            .await
    });
    let mut counts = StageCounts::default();
    while let Some(batch) = batches.recv().await {
        counts.add(
            store
                .stage_batch(run_id, "desk", "users", &batch)
                .await
                .expect("stage"),
        );
    }
    pull.await.expect("pull task").expect("pull succeeds");
    counts
}

#[tokio::test]
async fn a_zendesk_like_export_syncs_through_the_registry_into_the_store() {
    std::env::set_var("TIERLINK_IT_DESK_TOKEN", "desk-token-987");
    let users = Arc::new(Mutex::new(
        (1..=5)
            .map(|id| json!({"id": id, "name": format!("U{id}"), "updated_at": format!("2024-05-0{id}T00:00:00Z")}))
            .collect::<Vec<Value>>(),
    ));
    let data = users.clone();
    let server = TestServer::start(move |request| {
        // Basic auth of "ops@acme.example/token:desk-token-987".
        if request.header("authorization")
            != Some("Basic b3BzQGFjbWUuZXhhbXBsZS90b2tlbjpkZXNrLXRva2VuLTk4Nw==")
        {
            return Reply::text(401, r#"{"error":"Couldn't authenticate you"}"#);
        }
        let users = data.lock().expect("users").clone();
        let start: usize = match (request.param("cursor"), request.param("start_time")) {
            (Some(cursor), None) => cursor.parse().unwrap_or(0),
            (None, Some(_)) => 0,
            _ => return Reply::text(400, r#"{"error":"InvalidPaginationParameter"}"#),
        };
        let page: Vec<Value> = users.iter().skip(start).take(2).cloned().collect();
        let end = start + page.len();
        Reply::json(json!({"users": page, "after_cursor": end.to_string(), "end_of_stream": end >= users.len()}))
    })
    .await;
    let text = format!(
        r#"
        base_url = "{}/api/v2"
        [auth]
        kind = "basic"
        username = "ops@acme.example/token"
        password = "${{TIERLINK_IT_DESK_TOKEN}}"
        [rate_limit]
        requests_per_second = 50
        burst = 5
        [streams.users]
        path = "/incremental/users/cursor.json"
        query = {{ start_time = "1714521600" }}
        records_path = "users"
        primary_key = "id"
        pagination = {{ style = "cursor", cursor_path = "after_cursor", param = "cursor", only_cursor = true, stop_path = "end_of_stream", keep_final_cursor = true }}
        "#,
        server.url
    );
    let kind = find_kind("http").expect("the http kind is registered");
    let definition = ConnectorDefinition {
        id: "desk",
        file: Path::new("connectors/desk.toml"),
        base_dir: Path::new("."),
        table: text.parse().expect("TOML"),
    };
    let source = (kind.build)(&definition).expect("the connector builds");
    assert!(!format!("{source:?}").contains("desk-token-987"));

    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let store = tierlink::store::open(&url, dir.path())
        .await
        .expect("store");
    let context = SourceContext::new(store.clone());
    let report = source.check(&context).await.expect("check passes");
    assert!(report.streams[0]
        .1
        .contains("2 records on the first page, first id \"1\""));
    assert_eq!(
        store.cursor("desk", "users").await.expect("cursor"),
        None,
        "check writes nothing"
    );

    let run_id = store.start_run("test").await.expect("run");
    let counts = sync(&store, &context, &source, run_id).await;
    assert_eq!((counts.fetched, counts.new), (5, 5));
    assert_eq!(
        store.cursor("desk", "users").await.expect("cursor"),
        Some(json!({"next_cursor": "5"}))
    );

    users
        .lock()
        .expect("users")
        .push(json!({"id": 6, "name": "U6", "updated_at": "2024-05-06T00:00:00Z"}));
    let counts = sync(&store, &context, &source, run_id).await;
    assert_eq!((counts.fetched, counts.new), (1, 1), "only the new user");
}
