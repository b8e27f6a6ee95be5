//! The `tierlink` binary end to end: the README's main job on the bundled
//! sample, a second run that changes nothing, `validate` on broken files,
//! `init`, and `status`.

use crate::support::sample_project;
use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary with `--config <dir>/tierlink.toml` and the arguments.
fn tierlink(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tierlink"))
        .arg("--config")
        .arg(dir.join("tierlink.toml"))
        .args(args)
        .env_remove("TIERLINK_CONFIG")
        .env_remove("TIERLINK__STORE__URL")
        .output()
        .expect("the tierlink binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The number in the tier summary's row for `tier`.
fn tier_count(summary: &str, tier: &str) -> usize {
    summary
        .lines()
        .find(|line| line.trim_start().starts_with(tier))
        .and_then(|line| line.split_whitespace().rev().nth(1))
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no count for {tier} in:\n{summary}"))
}

#[test]
fn the_main_job_tiers_the_sample_and_a_second_run_changes_nothing() {
    let project = sample_project();
    let first = tierlink(project.path(), &["run"]);
    let text = stdout(&first);
    assert!(
        first.status.success(),
        "run failed:\n{text}\n{}",
        stderr(&first)
    );
    assert!(text.contains("Tier summary"), "{text}");
    assert!(!text.contains("Nothing changed"), "{text}");

    // Every tier of the default rules is populated by the sample, and the
    // rows add up to the total.
    let tiers = [
        "high-value",
        "developing",
        "new-low-value",
        "dormant-at-risk",
    ];
    let counts: Vec<usize> = tiers.iter().map(|tier| tier_count(&text, tier)).collect();
    assert!(counts.iter().all(|count| *count > 0), "{text}");
    let total: usize = text
        .lines()
        .find(|line| line.trim_start().starts_with("total"))
        .and_then(|line| line.split_whitespace().last())
        .and_then(|count| count.parse().ok())
        .expect("a total row");
    assert_eq!(counts.iter().sum::<usize>(), total);

    // Duplicates across the three systems were merged: fewer golden
    // customers than source records.
    let status = tierlink(project.path(), &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status is JSON");
    let parties: i64 = ["erp", "shop", "helpdesk"]
        .iter()
        .map(|connector| {
            status["connectors"][connector]["parties"]
                .as_i64()
                .expect("party count")
        })
        .sum();
    let golden = status["golden_customers"].as_i64().expect("golden count");
    assert!(
        golden > 0 && golden < parties,
        "golden {golden}, parties {parties}"
    );
    assert_eq!(golden as usize, total);
    // The malformed rows of the sample are kept, not dropped.
    assert!(status["connectors"]["erp"]["rejected"].as_i64().unwrap() >= 2);
    assert!(status["connectors"]["shop"]["rejected"].as_i64().unwrap() >= 1);

    // Each source system got a label file with one label per linked record.
    for (connector, count) in [("erp", "erp"), ("shop", "shop"), ("helpdesk", "helpdesk")] {
        let labels =
            std::fs::read_to_string(project.path().join(format!("out/labels/{connector}.csv")))
                .expect("label file written");
        let rows: Vec<&str> = labels.lines().skip(1).collect();
        assert_eq!(
            rows.len() as i64,
            status["connectors"][count]["parties"].as_i64().unwrap(),
            "{connector}"
        );
        assert!(
            rows.iter().all(|row| row.contains(",tier:")),
            "{connector}: {labels}"
        );
    }

    // `status` ends with the push ledger: every label delivered.
    let text = stdout(&tierlink(project.path(), &["status"]));
    let ledger = text
        .split("push ledger\n")
        .nth(1)
        .expect("a push ledger table");
    for connector in ["erp", "helpdesk", "shop"] {
        let row = ledger
            .lines()
            .find(|line| line.starts_with(connector))
            .unwrap_or_else(|| panic!("{connector} in:\n{ledger}"));
        let numbers: Vec<i64> = row
            .split_whitespace()
            .skip(1)
            .map(|number| number.parse().expect("a count"))
            .collect();
        let parties = status["connectors"][connector]["parties"].as_i64().unwrap();
        // pending, delivered, failed, dropped, dead letters
        assert_eq!(numbers, [0, parties, 0, 0, 0], "{connector}: {row}");
    }

    let second = tierlink(project.path(), &["run"]);
    let text = stdout(&second);
    assert!(second.status.success(), "{text}");
    assert!(
        text.contains("Nothing changed since the last run"),
        "{text}"
    );
    assert_eq!(
        tiers
            .iter()
            .map(|tier| tier_count(&text, tier))
            .collect::<Vec<_>>(),
        counts
    );

    let report = tierlink(project.path(), &["run", "--json"]);
    let report: serde_json::Value =
        serde_json::from_slice(&report.stdout).expect("run --json is JSON");
    assert_eq!(report["tiers_changed"], 0);
    assert_eq!(report["links_changed"], 0);
    assert_eq!(report["mapped"], 0);
}

#[test]
fn a_changed_source_record_flows_through_to_its_label() {
    let project = sample_project();
    assert!(tierlink(project.path(), &["run"]).status.success());
    // A new customer with a large recent order in the shop.
    let data = project.path().join("samples/data");
    let mut customers = std::fs::read_to_string(data.join("shop_customers.jsonl")).unwrap();
    customers.push_str(
        r#"{"id": 8000001, "first_name": "New", "last_name": "Whale", "email": "whale@example.cn", "phone": "+8613312345678"}"#,
    );
    customers.push('\n');
    std::fs::write(data.join("shop_customers.jsonl"), customers).unwrap();
    let mut orders = std::fs::read_to_string(data.join("shop_orders.jsonl")).unwrap();
    orders.push_str(
        r#"{"id": 999000001, "customer": {"id": 8000001}, "total_price": "50000.00", "currency": "CNY", "financial_status": "paid", "created_at": "2026-10-30T10:00:00+08:00"}"#,
    );
    orders.push('\n');
    std::fs::write(data.join("shop_orders.jsonl"), orders).unwrap();

    let run = tierlink(project.path(), &["run", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).expect("JSON report");
    assert_eq!(report["sync"]["shop"]["customers"]["new"], 1);
    assert_eq!(report["sync"]["shop"]["orders"]["new"], 1);
    assert_eq!(
        report["sync"]["erp"]["customers"]["fetched"], 0,
        "unchanged files are not read"
    );
    let labels = std::fs::read_to_string(project.path().join("out/labels/shop.csv")).unwrap();
    let row = labels
        .lines()
        .find(|line| line.starts_with("8000001,"))
        .expect("new customer labelled");
    assert!(row.contains("tier:high-value"), "{row}");
}

#[test]
fn validate_lists_every_problem_with_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let init = tierlink(dir.path(), &["init", dir.path().to_str().unwrap()]);
    assert!(init.status.success(), "{}", stderr(&init));
    let valid = tierlink(dir.path(), &["validate"]);
    assert!(
        valid.status.success(),
        "the starter is valid: {}",
        stderr(&valid)
    );

    std::fs::write(
        dir.path().join("connectors/example.toml"),
        r#"type = "file"
descripton = "typo"

[streams.customers]
path = "${TIERLINK_TEST_UNSET_EXPORT_DIR}/customers.csv"
format = "xlsx"
primary_key = "id"

[streams.orders]
path = "data/orders.csv"
format = "csv"
primary_key = 42
"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("connectors/crm.toml"),
        "type = \"salesforce\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("connectors/desk.toml"),
        "type = \"file\"\n[streams.contacts]\npath = \"data/customers.csv\"\nformat = \"csv\"\nprimary_key = \"id\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("mappings/desk.toml"),
        "[streams.tickets]\nentity = \"party\"\n[streams.tickets.fields]\nname = \"name\"\n\n[streams.contacts]\nentity = \"party\"\n[streams.contacts.fields]\nnickname = \"name\"\n",
    )
    .unwrap();

    let output = tierlink(dir.path(), &["validate"]);
    assert!(!output.status.success());
    let text = stderr(&output);
    let expected = [
        (
            "connectors/example.toml: streams.customers.path",
            "TIERLINK_TEST_UNSET_EXPORT_DIR is not set",
        ),
        (
            "connectors/example.toml: descripton",
            "did you mean `description`?",
        ),
        (
            "connectors/example.toml: streams.customers.format",
            "unknown variant `xlsx`",
        ),
        (
            "connectors/example.toml: streams.orders.primary_key",
            "invalid type: integer `42`",
        ),
        (
            "connectors/crm.toml: type",
            "unknown connector type \"salesforce\"",
        ),
        (
            "mappings/desk.toml: streams.tickets",
            "has no stream \"tickets\"",
        ),
        (
            "mappings/desk.toml: streams.contacts.fields.nickname",
            "not a canonical field",
        ),
    ];
    for (location, message) in expected {
        assert!(
            text.lines()
                .any(|line| line.contains(location) && line.contains(message)),
            "missing {location:?} / {message:?} in:\n{text}"
        );
    }
    assert!(text.contains("problems found"), "{text}");

    let json = tierlink(dir.path(), &["validate", "--json"]);
    let report: serde_json::Value =
        serde_json::from_slice(&json.stdout).expect("validate --json is JSON");
    assert_eq!(report["valid"], false);
    assert!(report["problems"].as_array().unwrap().len() >= expected.len());
}

#[test]
fn validate_points_at_the_line_and_column_of_a_rule_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        tierlink(dir.path(), &["init", dir.path().to_str().unwrap()])
            .status
            .success()
    );
    let rules = std::fs::read_to_string(dir.path().join("tiers.toml")).unwrap();
    let broken = rules.replace("when = \"orders_365d >= 2\"", "when = \"orders_365d >= \"");
    assert_ne!(rules, broken);
    std::fs::write(dir.path().join("tiers.toml"), &broken).unwrap();
    let line = broken
        .lines()
        .position(|line| line.contains("orders_365d >= \""))
        .unwrap()
        + 1;
    let text = stderr(&tierlink(dir.path(), &["validate"]));
    assert!(
        text.lines().any(|problem| problem.contains("tiers.toml")
            && problem.contains(&format!("line {line}, column"))),
        "{text}"
    );
}

#[test]
fn init_never_overwrites_and_its_starter_runs() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().to_str().unwrap();
    assert!(tierlink(dir.path(), &["init", target]).status.success());
    let again = tierlink(dir.path(), &["init", target]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("not overwriting"));

    let run = tierlink(dir.path(), &["run"]);
    assert!(run.status.success(), "{}", stderr(&run));
    let text = stdout(&run);
    // 张伟 appears twice with the same mobile written two ways: one customer.
    assert!(
        text.contains("4 source records -> 3 golden customers"),
        "{text}"
    );
}

#[test]
fn a_missing_configuration_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let output = tierlink(dir.path(), &["run"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("tierlink init"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn connectors_are_listed_checked_and_synced_one_at_a_time() {
    let project = sample_project();
    let list = stdout(&tierlink(project.path(), &["connector", "list"]));
    for id in ["erp", "shop", "helpdesk"] {
        assert!(list.contains(id), "{list}");
    }
    let check = tierlink(project.path(), &["connector", "check", "erp"]);
    let text = stdout(&check);
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(
        text.contains("customers:") && text.contains("first id \"C00000\""),
        "{text}"
    );
    let unknown = tierlink(project.path(), &["connector", "check", "crm"]);
    assert!(!unknown.status.success());
    assert!(stderr(&unknown).contains("no connector \"crm\""));

    let sync = tierlink(project.path(), &["sync", "shop", "--json"]);
    let report: serde_json::Value =
        serde_json::from_slice(&sync.stdout).expect("sync --json is JSON");
    assert!(report["sync"]["shop"]["customers"]["new"].as_u64().unwrap() > 100);
    assert!(
        report["sync"].get("erp").is_none(),
        "only the named connector syncs"
    );
    assert!(report["mapped"].as_u64().unwrap() > 100);

    let again = tierlink(project.path(), &["sync", "shop", "--json"]);
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["sync"]["shop"]["customers"]["fetched"], 0);
    let full = tierlink(project.path(), &["sync", "shop", "--full", "--json"]);
    let full: serde_json::Value = serde_json::from_slice(&full.stdout).unwrap();
    let customers = &full["sync"]["shop"]["customers"];
    assert!(
        customers["fetched"].as_u64().unwrap() > 100,
        "--full reads everything again"
    );
    assert_eq!(customers["new"], 0);
    assert_eq!(customers["changed"], 0);
}

#[test]
fn rejected_records_are_listed_shown_and_retried_after_a_mapping_fix() {
    let project = sample_project();
    assert!(tierlink(project.path(), &["run"]).status.success());
    let list = tierlink(project.path(), &["rejected", "list", "--json"]);
    let records: serde_json::Value =
        serde_json::from_slice(&list.stdout).expect("rejected list --json");
    let records = records.as_array().unwrap();
    let bad_amount = records
        .iter()
        .find(|record| record["source_id"] == "SO999999")
        .expect("the order with amount N/A is rejected");
    assert!(
        bad_amount["reason"]
            .as_str()
            .unwrap()
            .contains("field amount"),
        "{bad_amount}"
    );
    assert!(records.iter().any(|record| record["reason"]
        .as_str()
        .unwrap()
        .contains("malformed JSON")));

    let id = bad_amount["id"].as_i64().unwrap().to_string();
    let show = stdout(&tierlink(project.path(), &["rejected", "show", &id]));
    assert!(show.contains("N/A"), "the raw payload is kept: {show}");

    // Fix the mapping: an amount that is not a number counts as 0.
    let mapping = project.path().join("mappings/erp.toml");
    let text = std::fs::read_to_string(&mapping).unwrap();
    std::fs::write(
        &mapping,
        text.replace(
            "amount = \"金额\"",
            "amount = { path = \"金额\", map = { \"N/A\" = \"0\" } }",
        ),
    )
    .unwrap();
    let retry = tierlink(project.path(), &["rejected", "retry", &id]);
    assert!(
        stdout(&retry).contains("1 to map again"),
        "{}",
        stdout(&retry)
    );
    let run = tierlink(project.path(), &["run", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    // The mapping changed, so every ERP record is mapped again; this time the
    // order maps.
    assert_eq!(report["mapping_rejected"], 0, "{report}");
    let open = tierlink(project.path(), &["rejected", "list", "--json"]);
    let open: serde_json::Value = serde_json::from_slice(&open.stdout).unwrap();
    assert!(open
        .as_array()
        .unwrap()
        .iter()
        .all(|record| record["source_id"] != "SO999999"));
    // Mapping again never piles up copies of the same rejection.
    let all = tierlink(project.path(), &["rejected", "list", "--all", "--json"]);
    let all: serde_json::Value = serde_json::from_slice(&all.stdout).unwrap();
    let copies = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|record| record["source_id"] == "SO999999")
        .count();
    assert_eq!(copies, 1);
}

#[test]
fn environment_variables_override_the_configuration_file() {
    let project = sample_project();
    let elsewhere = project.path().join("other-store.db");
    let output = Command::new(env!("CARGO_BIN_EXE_tierlink"))
        .arg("--config")
        .arg(project.path().join("tierlink.toml"))
        .args(["status", "--json"])
        .env(
            "TIERLINK__STORE__URL",
            format!("sqlite://{}", elsewhere.display()),
        )
        .output()
        .expect("the tierlink binary runs");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        elsewhere.exists(),
        "the store was opened where the environment said"
    );
    assert!(!project.path().join("tierlink.db").exists());

    let bad = Command::new(env!("CARGO_BIN_EXE_tierlink"))
        .arg("--config")
        .arg(project.path().join("tierlink.toml"))
        .arg("validate")
        .env("TIERLINK__SCHEDULE__FULL", "every night")
        .output()
        .expect("the tierlink binary runs");
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("schedule.full"), "{}", stderr(&bad));
}

#[test]
fn a_sync_killed_mid_way_and_restarted_stages_every_record_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        tierlink(dir.path(), &["init", dir.path().to_str().unwrap()])
            .status
            .success()
    );
    let count = 60_000;
    let lines: Vec<String> = (0..count)
        .map(|index| {
            format!(r#"{{"id": {index}, "name": "客户{index}", "phone": "+86138{index:08}"}}"#)
        })
        .collect();
    std::fs::write(dir.path().join("data/big.jsonl"), lines.join("\n") + "\n").unwrap();
    std::fs::write(
        dir.path().join("connectors/big.toml"),
        "type = \"file\"\n[streams.customers]\npath = \"data/big.jsonl\"\nformat = \"jsonl\"\nprimary_key = \"id\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("mappings/big.toml"),
        "[streams.customers]\nentity = \"party\"\n[streams.customers.fields]\nname = \"name\"\nphones = \"phone\"\n",
    )
    .unwrap();

    // Read straight from the SQLite file, read-only: a WAL reader never
    // waits for the writer it is watching.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let staged = |dir: &Path| -> i64 {
        let database = dir.join("tierlink.db");
        if !database.exists() {
            return 0;
        }
        runtime.block_on(async {
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&database)
                .read_only(true);
            let Ok(mut connection) = sqlx::ConnectOptions::connect(&options).await else {
                return 0;
            };
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM staged_records WHERE connector = 'big'",
            )
            .fetch_one(&mut connection)
            .await
            .unwrap_or(0)
        })
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_tierlink"))
        .arg("--config")
        .arg(dir.path().join("tierlink.toml"))
        .args(["sync", "big"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start a sync");
    // Kill the process once some batches are committed, but not all.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut seen = 0;
    while std::time::Instant::now() < deadline {
        seen = staged(dir.path());
        if seen > 0 || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().ok();
    child.wait().unwrap();
    assert!(
        seen > 0,
        "the sync committed some batches before it was killed"
    );

    let restart = tierlink(dir.path(), &["sync", "big", "--json"]);
    assert!(restart.status.success(), "{}", stderr(&restart));
    let report: serde_json::Value = serde_json::from_slice(&restart.stdout).unwrap();
    let counts = &report["sync"]["big"]["customers"];
    let new = counts["new"].as_i64().unwrap();
    let unchanged = counts["unchanged"].as_i64().unwrap();
    // Whatever the kill left committed is recognised; the rest is new.
    assert_eq!(new + unchanged, count);
    assert_eq!(staged(dir.path()), count);
    // The file's cursor moved only with its last batch: a third sync reads nothing.
    let third = tierlink(dir.path(), &["sync", "big", "--json"]);
    let third: serde_json::Value = serde_json::from_slice(&third.stdout).unwrap();
    assert_eq!(third["sync"]["big"]["customers"]["fetched"], 0);
}

#[test]
fn a_preset_is_listed_added_and_then_asks_for_its_credentials() {
    let dir = sample_project();
    let listed = tierlink(dir.path(), &["preset", "list", "--json"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let presets: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let ids: Vec<&str> = presets
        .as_array()
        .unwrap()
        .iter()
        .map(|preset| preset["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "wecom",
            "shopify",
            "zendesk",
            "odoo",
            "asterisk",
            "freeswitch",
            "erp"
        ]
    );

    let added = tierlink(dir.path(), &["preset", "add", "zendesk", "--as", "desk"]);
    assert!(added.status.success(), "{}", stderr(&added));
    assert!(dir.path().join("connectors/desk.toml").exists());
    assert!(dir.path().join("mappings/desk.toml").exists());
    let again = tierlink(dir.path(), &["preset", "add", "zendesk", "--as", "desk"]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("not overwriting"),
        "{}",
        stderr(&again)
    );

    let validated = Command::new(env!("CARGO_BIN_EXE_tierlink"))
        .arg("--config")
        .arg(dir.path().join("tierlink.toml"))
        .arg("validate")
        .env_remove("ZENDESK_EMAIL")
        .env_remove("ZENDESK_API_TOKEN")
        .output()
        .unwrap();
    assert!(!validated.status.success());
    let problems = stderr(&validated);
    assert!(
        problems.contains("connectors/desk.toml") && problems.contains("ZENDESK_API_TOKEN"),
        "{problems}"
    );
    // A steward reads and decides without any system's credentials.
    for args in [
        &["review", "list"][..],
        &["decision", "verify"],
        &["decision", "list"],
    ] {
        let steward = Command::new(env!("CARGO_BIN_EXE_tierlink"))
            .arg("--config")
            .arg(dir.path().join("tierlink.toml"))
            .args(args)
            .env_remove("ZENDESK_EMAIL")
            .env_remove("ZENDESK_API_TOKEN")
            .output()
            .unwrap();
        assert!(steward.status.success(), "{args:?}: {}", stderr(&steward));
    }
    let unknown = tierlink(dir.path(), &["preset", "add", "salesforce"]);
    assert!(stderr(&unknown).contains("the presets are wecom, shopify"));
}

/// The ERP imports some shop orders, keeping the shop's order number: the
/// ERP customer and the shop customer who placed such an order must end
/// as one golden customer, whatever else their records share.
fn every_order_two_systems_report_is_one_customers(demo_dir: &Path) {
    let world = demo_dir.join("world");
    let read_jsonl = |relative: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(world.join(relative))
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    };
    let id = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    // The ERP cites `#1001` as `#1001` or `1001`.
    let number = |value: &serde_json::Value| id(value).trim_start_matches('#').to_string();
    let shop_customer_of: std::collections::HashMap<String, String> =
        read_jsonl("shopify/orders.jsonl")
            .iter()
            .map(|order| (number(&order["name"]), id(&order["customer"]["id"])))
            .collect();
    let cited: Vec<(String, String)> = read_jsonl("erp/orders.jsonl")
        .iter()
        .filter(|order| order["source_ref"].is_string())
        .map(|order| {
            (
                id(&order["customer_id"]),
                shop_customer_of[&number(&order["source_ref"])].clone(),
            )
        })
        .collect();
    assert!(cited.len() > 20, "the world has cross-reported orders");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let links = runtime.block_on(async {
        let store = tierlink::store::open("sqlite://tierlink.db", demo_dir)
            .await
            .unwrap();
        store.golden_links().await.unwrap()
    });
    let golden: std::collections::HashMap<(String, String), String> = links
        .into_iter()
        .map(|link| ((link.party.connector, link.party.source_id), link.golden_id))
        .collect();
    for (erp, shop) in cited {
        let of =
            |connector: &str, id: &str| golden[&(connector.to_string(), id.to_string())].clone();
        assert_eq!(
            of("erp", &erp),
            of("shopify", &shop),
            "erp/{erp} and shopify/{shop}"
        );
    }
}

#[test]
fn the_demo_runs_the_whole_product_and_a_second_demo_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let demo = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tierlink"))
            .args(["demo", "--customers", "400", "--dir"])
            .arg(&demo_dir)
            .args(extra)
            .env_remove("TIERLINK_CONFIG")
            .output()
            .unwrap()
    };
    let first = demo(&[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let summary = stdout(&first);
    for system in [
        "wecom",
        "shopify",
        "zendesk",
        "odoo",
        "erp",
        "asterisk",
        "freeswitch",
    ] {
        assert!(
            summary.contains(&format!("  sync     {system}/")),
            "{system} missing in:\n{summary}"
        );
    }
    assert!(summary.contains("0 rejected"), "{summary}");
    assert!(tier_count(&summary, "high-value") > 0, "{summary}");
    assert!(summary.contains("pairwise precision"), "{summary}");
    assert!(demo_dir.join("world/truth/records.csv").exists());
    every_order_two_systems_report_is_one_customers(&demo_dir);

    let again = demo(&["--json"]);
    assert!(again.status.success(), "{}", stderr(&again));
    let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["run"]["tiers_changed"], 0, "{report}");
    assert_eq!(report["run"]["golden_changed"], 0, "{report}");
    assert!(
        report["truth"]["precision"].as_f64().unwrap() > 0.9,
        "{report}"
    );
    // The world's behaviour archetypes land where a tier manager expects.
    let share = |archetype: &str, tier: &str| {
        let row = &report["tiers_by_archetype"][archetype];
        let total: u64 = row
            .as_object()
            .map(|cells| cells.values().filter_map(|n| n.as_u64()).sum())
            .unwrap_or(0);
        assert!(total > 0, "no {archetype} customers tiered: {report}");
        row[tier].as_u64().unwrap_or(0) as f64 / total as f64
    };
    assert!(share("champion", "high-value") > 0.6, "{report}");
    assert!(share("churned", "dormant-at-risk") > 0.8, "{report}");
    assert!(share("new", "dormant-at-risk") < 0.2, "{report}");
}

#[test]
fn the_service_needs_a_token_answers_with_it_and_stops_on_ctrl_c() {
    let project = sample_project();
    let dir = project.path();
    let refused = tierlink(dir, &["serve"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("tierlink token new"),
        "{}",
        stderr(&refused)
    );

    let made = tierlink(dir, &["token", "new", "--name", "ops", "--role", "admin"]);
    assert!(made.status.success(), "{}", stderr(&made));
    let token = stdout(&made)
        .lines()
        .last()
        .expect("the token")
        .trim()
        .to_string();
    assert!(token.starts_with("tl_"), "{}", stdout(&made));
    let config = std::fs::read_to_string(dir.join("tierlink.toml")).unwrap();
    assert!(config.contains("[[server.tokens]]\nname = \"ops\"\nrole = \"admin\"\nsha256 = \""));
    assert!(!config.contains(&token), "the token itself was stored");
    assert!(tierlink(dir, &["validate"]).status.success());
    assert!(tierlink(dir, &["run"]).status.success());

    let mut service = Command::new(env!("CARGO_BIN_EXE_tierlink"))
        .arg("--config")
        .arg(dir.join("tierlink.toml"))
        .args(["serve", "--address", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the service");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(
        service.stdout.take().expect("stdout"),
    ));
    let first = lines.next().expect("a line").expect("text");
    let base = first
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (me, tiers) = runtime.block_on(async {
        let http = reqwest::Client::new();
        let get =
            |path: &str, token: &str| http.get(format!("{base}{path}")).bearer_auth(token).send();
        let me: serde_json::Value = get("/api/v1/me", &token)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let refused = get("/api/v1/me", "tl_not_a_token").await.unwrap();
        assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);
        let tiers: serde_json::Value = get("/api/v1/tiers", &token)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (me, tiers)
    });
    assert_eq!(me, serde_json::json!({ "name": "ops", "role": "admin" }));
    assert!(tiers["total"].as_i64().unwrap() > 0, "{tiers}");

    // Ctrl-C: the service stops cleanly.
    let interrupted = Command::new("kill")
        .args(["-INT", &service.id().to_string()])
        .status()
        .expect("kill");
    assert!(interrupted.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = service.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the service did not stop"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(rest.last().map(String::as_str), Some("stopped"), "{rest:?}");
}

#[test]
fn bad_tokens_and_schedules_are_problems_with_their_field() {
    let project = sample_project();
    let dir = project.path();
    let config = std::fs::read_to_string(dir.join("tierlink.toml")).unwrap();
    std::fs::write(
        dir.join("tierlink.toml"),
        format!("{config}\n[[server.tokens]]\nname = \"ops\"\nrole = \"admin\"\nsha256 = \"abc\"\n\n[[server.tokens]]\nname = \"ops\"\nrole = \"viewer\"\nsha256 = \"{}\"\n", "a".repeat(64)),
    )
    .unwrap();
    let connector = dir.join("connectors/shop.toml");
    let text = std::fs::read_to_string(&connector).unwrap();
    std::fs::write(
        &connector,
        format!("schedule = \"every five minutes\"\n{text}"),
    )
    .unwrap();
    let output = tierlink(dir, &["validate"]);
    assert!(!output.status.success());
    let problems = stderr(&output);
    for expected in [
        "server.tokens[0].sha256",
        "server.tokens[1].name",
        "tierlink token new",
        "shop.toml",
        "not a valid cron expression \"every five minutes\"",
    ] {
        assert!(
            problems.contains(expected),
            "no {expected:?} in:\n{problems}"
        );
    }
}

#[test]
fn a_project_matching_toml_replaces_the_built_in_matching() {
    let golden_customers = |matching: Option<&str>| -> i64 {
        let project = sample_project();
        let dir = project.path();
        if let Some(text) = matching {
            std::fs::write(dir.join("matching.toml"), text).unwrap();
        }
        let run = tierlink(dir, &["run"]);
        assert!(run.status.success(), "{}", stderr(&run));
        let status: serde_json::Value =
            serde_json::from_str(&stdout(&tierlink(dir, &["status", "--json"]))).unwrap();
        status["golden_customers"].as_i64().expect("a count")
    };
    let built_in = tierlink::resolve::parties::CUSTOMER_MATCHING;
    let default = golden_customers(None);
    assert_eq!(
        golden_customers(Some(built_in)),
        default,
        "the same config, the same customers"
    );
    // Nothing but a strong identifier is sure enough to link.
    let cautious = built_in
        .replace("link = 0.998", "link = 0.999999999")
        .replace("review = 0.8", "review = 0.99999999");
    assert!(golden_customers(Some(&cautious)) > default);

    let project = sample_project();
    std::fs::write(
        project.path().join("matching.toml"),
        format!("{built_in}\n[[fields]]\nname = \"postcode\"\n"),
    )
    .unwrap();
    let output = tierlink(project.path(), &["validate"]);
    assert!(!output.status.success());
    let problems = stderr(&output);
    assert!(problems.contains("matching.toml"), "{problems}");
    assert!(
        problems.contains("\"postcode\" is not a match field"),
        "{problems}"
    );
}

/// `tierlink connector list | head -0`: a reader that closes the pipe
/// ends the output quietly (SIGPIPE, as for `ls`), never with a panic.
#[test]
fn a_reader_that_stops_early_ends_the_output_without_a_panic() {
    let project = sample_project();
    for _ in 0..3 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tierlink"))
            .arg("--config")
            .arg(project.path().join("tierlink.toml"))
            .args(["connector", "list"])
            .env_remove("TIERLINK_CONFIG")
            .env_remove("TIERLINK__STORE__URL")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the tierlink binary runs");
        drop(child.stdout.take());
        let output = child.wait_with_output().expect("it ends");
        assert_ne!(output.status.code(), Some(101), "{}", stderr(&output));
        assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
    }
}
