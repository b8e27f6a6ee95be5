//! Push-back against the WeCom, Shopify, Zendesk and Odoo simulators over
//! real HTTP, on a generated world: every linked record ends up carrying
//! exactly its tier label and nothing else in the systems changes; a tier
//! change moves the label; a re-run writes nothing; a fifth of requests
//! failing loses nothing; a push killed mid-way and restarted neither loses
//! nor doubles an effect; `push verify` sees labels changed by hand.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use indicatif::ProgressBar;
use serde_json::{json, Value};
use tierlink::config::Project;
use tierlink::connectors::SourceContext;
use tierlink::demo::{self, DemoOptions, RunningSystems, Simulators};
use tierlink::pipeline::{self, RunReport};
use tierlink::push::{self, verify::tier_labels, PushOptions};
use tierlink::simulators::{zendesk, FaultConfig, FaultKind, World};
use tierlink::store::{LedgerStatus, Store, TierAssignment, TierChange};

/// The variables the test projects read their credentials from; one world
/// for every test, so their values never differ.
const PREFIX: &str = "TIERLINK_TEST_PUSH_";

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).expect("a date")
}

/// One generated world, shared read-only by the tests.
fn world_dir() -> &'static Path {
    static WORLD: OnceLock<tempfile::TempDir> = OnceLock::new();
    WORLD
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            let options = tierlink::world::GenerateOptions {
                customers: 160,
                seed: 5,
                as_of: as_of(),
                noise: tierlink::world::Noise::default(),
            };
            tierlink::world::generate(&options, dir.path(), &mut |_| {}).expect("world");
            dir
        })
        .path()
}

struct Setup {
    dir: tempfile::TempDir,
    project: Project,
    store: Arc<dyn Store>,
    systems: RunningSystems,
    world: World,
}

/// A demo project over fresh simulators of the shared world. `fast_pauses`
/// shortens the pauses after body-level rate limits (a minute for WeCom),
/// and makes Zendesk's fault answers ask for no wait, for fault tests.
async fn setup(fast_pauses: bool) -> Setup {
    let world = World::new(world_dir().to_path_buf());
    let mut simulators = Simulators::from_world(&world).expect("simulators");
    if fast_pauses {
        simulators.zendesk = zendesk::ZendeskSimulator::new(
            zendesk::ZendeskData::from_world(&world).expect("zendesk data"),
            zendesk::ZendeskSettings {
                fault_retry_after_secs: 0,
                ..zendesk::ZendeskSettings::unlimited()
            },
        )
        .expect("zendesk");
    }
    let systems = simulators.serve().await.expect("serve");
    let dir = tempfile::tempdir().expect("temp dir");
    let erp = dir.path().join("erp.db");
    tierlink::world::load_erp(&world.dir, &format!("sqlite://{}", erp.display()))
        .await
        .expect("erp");
    let options = DemoOptions {
        dir: dir.path().to_path_buf(),
        customers: 160,
        seed: 5,
        as_of: as_of(),
        credential_prefix: PREFIX.to_string(),
    };
    let config = demo::write_project(&options, &world, &systems, &erp).expect("project");
    if fast_pauses {
        for (id, from, to) in [
            (
                "wecom",
                "rate_limited_pause_secs = 60",
                "rate_limited_pause_secs = 0.05",
            ),
            (
                "shopify",
                "rate_limited_pause_secs = 2",
                "rate_limited_pause_secs = 0.05",
            ),
        ] {
            let file = dir.path().join(format!("connectors/{id}.toml"));
            let text = std::fs::read_to_string(&file).expect("connector");
            assert!(text.contains(from), "{id}: {from}");
            std::fs::write(&file, text.replace(from, to)).expect("write");
        }
    }
    let project = Project::load(&config).unwrap_or_else(|problems| panic!("{problems}"));
    let store = demo::open_store(&project).await.expect("store");
    Setup {
        dir,
        project,
        store,
        systems,
        world,
    }
}

const SYSTEMS: [&str; 4] = ["wecom", "shopify", "zendesk", "odoo"];

impl Setup {
    async fn run(&self) -> RunReport {
        pipeline::run_full(&self.project, &self.store, &ProgressBar::hidden())
            .await
            .expect("run")
    }

    async fn push(&self) -> RunReport {
        let context = SourceContext::new(self.store.clone());
        pipeline::run_push(&self.project, &context, None, &ProgressBar::hidden())
            .await
            .expect("push")
    }

    fn set_faults(&self, faults: FaultConfig) {
        let simulators = &self.systems.simulators;
        simulators.wecom.core().faults.set(faults.clone());
        simulators.shopify.core().faults.set(faults.clone());
        simulators.zendesk.core().faults.set(faults.clone());
        simulators.odoo.core().faults.set(faults);
    }

    /// Write calls the four systems received, per system.
    fn writes(&self) -> BTreeMap<&'static str, usize> {
        let simulators = &self.systems.simulators;
        BTreeMap::from([
            ("wecom", simulators.wecom.core().writes.len()),
            ("shopify", simulators.shopify.core().writes.len()),
            ("zendesk", simulators.zendesk.core().writes.len()),
            ("odoo", simulators.odoo.core().writes.len()),
        ])
    }

    fn clear_writes(&self) {
        let simulators = &self.systems.simulators;
        simulators.wecom.core().writes.clear();
        simulators.shopify.core().writes.clear();
        simulators.zendesk.core().writes.clear();
        simulators.odoo.core().writes.clear();
    }

    /// Every record's labels in every system: (system, record) -> labels.
    /// A WeCom record is one (contact, follow member) relationship,
    /// `"<external_userid>|<member>"`.
    fn labels(&self) -> BTreeMap<(String, String), BTreeSet<String>> {
        let simulators = &self.systems.simulators;
        let mut labels = BTreeMap::new();
        let tag_names: HashMap<String, String> = simulators
            .wecom
            .tag_groups()
            .into_iter()
            .flat_map(|group| group.tags)
            .map(|tag| (tag.id, tag.name))
            .collect();
        for contact in self
            .world
            .read_jsonl("wecom/contacts.jsonl")
            .expect("contacts")
        {
            let id = contact["external_contact"]["external_userid"]
                .as_str()
                .expect("id");
            for follow in contact["follow_info"].as_array().expect("follows") {
                let member = follow["userid"].as_str().expect("member");
                let tags = simulators
                    .wecom
                    .relationship_tags(member, id)
                    .expect("relationship");
                labels.insert(
                    ("wecom".to_string(), format!("{id}|{member}")),
                    tags.iter().map(|tag| tag_names[tag].clone()).collect(),
                );
            }
        }
        for customer in self
            .world
            .read_jsonl("shopify/customers.jsonl")
            .expect("customers")
        {
            let id = customer["id"].as_u64().expect("id");
            let tags = simulators.shopify.customer_tags(id).expect("customer");
            labels.insert(
                ("shopify".to_string(), id.to_string()),
                tags.into_iter().collect(),
            );
        }
        for user in self.world.read_jsonl("zendesk/users.jsonl").expect("users") {
            let id = user["id"].as_i64().expect("id");
            let tags = simulators.zendesk.user_tags(id).expect("user");
            labels.insert(
                ("zendesk".to_string(), id.to_string()),
                tags.into_iter().collect(),
            );
        }
        let categories: HashMap<i64, String> = simulators.odoo.categories().into_iter().collect();
        for partner in self
            .world
            .read_jsonl("odoo/res.partner.jsonl")
            .expect("partners")
        {
            let id = partner["id"].as_i64().expect("id");
            let tags = simulators.odoo.partner_categories(id).expect("partner");
            labels.insert(
                ("odoo".to_string(), id.to_string()),
                tags.iter().map(|tag| categories[tag].clone()).collect(),
            );
        }
        labels
    }

    /// The label each linked record of the API systems should carry now.
    async fn desired(&self) -> HashMap<(String, String), String> {
        let mut desired = HashMap::new();
        for system in SYSTEMS {
            let connector = self.project.connector(system).expect("connector");
            for target in self.store.push_targets(system).await.expect("targets") {
                let label = self
                    .project
                    .tiers
                    .label_for(&target.tier, system, &connector.kind)
                    .expect("label");
                desired.insert((system.to_string(), target.party.source_id), label);
            }
        }
        desired
    }

    fn tier_labels(&self) -> BTreeSet<String> {
        SYSTEMS
            .iter()
            .flat_map(|system| {
                tier_labels(
                    &self.project.tiers,
                    self.project.connector(system).expect("connector"),
                )
            })
            .collect()
    }

    /// Each record carries its own labels from `before` minus any tier
    /// label, plus exactly its desired tier label.
    async fn assert_exactly_current_labels(
        &self,
        before: &BTreeMap<(String, String), BTreeSet<String>>,
    ) {
        let desired = self.desired().await;
        let tier_labels = self.tier_labels();
        let after = self.labels();
        let mut linked = BTreeMap::<&str, usize>::new();
        for ((system, record), labels) in &after {
            let source_id = record.split('|').next().expect("id");
            let wanted = desired.get(&(system.clone(), source_id.to_string()));
            let mut expected: BTreeSet<String> = before[&(system.clone(), record.clone())]
                .iter()
                .filter(|label| !tier_labels.contains(*label))
                .cloned()
                .collect();
            if let Some(label) = wanted {
                expected.insert(label.clone());
                *linked.entry(system.as_str()).or_default() += 1;
            }
            assert_eq!(labels, &expected, "{system} {record}");
        }
        for system in SYSTEMS {
            assert!(
                linked.get(system).copied().unwrap_or(0) > 10,
                "{system}: {linked:?}"
            );
        }
    }
}

fn assert_all_delivered(report: &RunReport) {
    assert_eq!(report.push.len(), 5, "{:?}", report.push);
    for sink in &report.push {
        assert_eq!(sink.failed, 0, "{sink:?}");
    }
}

/// Moves every tiered customer to the next tier of the rules.
async fn rotate_tiers(setup: &Setup) {
    rotate_tiers_in(&setup.project, &setup.store).await;
}

async fn rotate_tiers_in(project: &Project, store: &Arc<dyn Store>) {
    let tiers: Vec<String> = project
        .tiers
        .tiers
        .iter()
        .map(|tier| tier.key.clone())
        .collect();
    let changes: Vec<TierChange> = store
        .tier_assignments()
        .await
        .expect("assignments")
        .into_iter()
        .map(|current| {
            let at = tiers
                .iter()
                .position(|tier| *tier == current.tier)
                .expect("tier");
            TierChange {
                from_tier: Some(current.tier.clone()),
                assignment: TierAssignment {
                    tier: tiers[(at + 1) % tiers.len()].clone(),
                    rule: "moved by the test".to_string(),
                    reason: json!({}),
                    assigned_at: Utc::now(),
                    ..current
                },
            }
        })
        .collect();
    store
        .save_tier_changes(&changes)
        .await
        .expect("tier changes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_linked_record_carries_exactly_its_tier_label_and_a_tier_change_moves_it() {
    let setup = setup(false).await;
    let before = setup.labels();

    let report = setup.run().await;
    assert_all_delivered(&report);
    for sink in &report.push {
        assert!(sink.acknowledged > 10, "{sink:?}");
    }
    setup.assert_exactly_current_labels(&before).await;
    assert!(setup.dir.path().join("out/labels/erp.csv").exists());

    // Nothing changed: the next run makes no write call anywhere (the
    // labels it pushed come back in the sync as changed records).
    setup.clear_writes();
    let again = setup.run().await;
    assert!(
        again.push.iter().all(|sink| sink.sent == 0),
        "{:?}",
        again.push
    );
    assert!(
        setup.writes().values().all(|count| *count == 0),
        "{:?}",
        setup.writes()
    );

    // Every customer moves tier: the old label goes, the new one comes, in
    // every system.
    rotate_tiers(&setup).await;
    let moved = setup.push().await;
    assert_all_delivered(&moved);
    assert!(
        moved.push.iter().all(|sink| sink.counts.update > 10),
        "{:?}",
        moved.push
    );
    setup.assert_exactly_current_labels(&before).await;

    // The dry run after it has nothing left to do.
    let context = SourceContext::new(setup.store.clone());
    let options = PushOptions {
        dry_run: true,
        ..PushOptions::default()
    };
    let dry = pipeline::push_all(
        &setup.project,
        &context,
        None,
        &options,
        &ProgressBar::hidden(),
    )
    .await
    .expect("dry run");
    for sink in &dry {
        assert_eq!(
            (sink.counts.create, sink.counts.update, sink.sent),
            (0, 0, 0),
            "{sink:?}"
        );
        assert!(sink.counts.unchanged > 10, "{sink:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_a_fifth_of_requests_failing_every_label_still_arrives() {
    let setup = setup(true).await;
    let before = setup.labels();
    setup.set_faults(crate::presets::a_fifth_of_requests_fail(17));
    let report = setup.run().await;
    assert!(report.failed_connectors.is_empty(), "{report:?}");
    assert!(
        report.push.iter().any(|sink| sink.throttled > 0),
        "faults were drawn: {:?}",
        report.push
    );
    // A label that ran out of retries is a dead letter, retried by the
    // next push; a few pushes deliver everything.
    let mut pushes = 1;
    while report_pending(&setup).await > 0 {
        assert!(pushes < 5, "labels still pending after {pushes} pushes");
        setup.push().await;
        pushes += 1;
    }
    setup.set_faults(FaultConfig::default());
    setup.assert_exactly_current_labels(&before).await;
    assert!(setup
        .store
        .dead_letters(None, true)
        .await
        .expect("letters")
        .is_empty());
}

/// Ledger rows not delivered.
async fn report_pending(setup: &Setup) -> i64 {
    setup
        .store
        .push_status()
        .await
        .expect("status")
        .iter()
        .flat_map(|status| status.rows.iter())
        .filter(|(status, _)| **status != LedgerStatus::Delivered)
        .map(|(_, count)| *count)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_killed_mid_way_and_restarted_neither_loses_nor_doubles_a_label() {
    let setup = setup(false).await;
    let before = setup.labels();
    assert_all_delivered(&setup.run().await);

    // Every customer changes tier, and the push of those changes is killed
    // (SIGKILL) part of the way through: some labels are applied but not
    // acknowledged.
    rotate_tiers(&setup).await;
    setup.clear_writes();
    setup.set_faults(FaultConfig {
        rate: 1.0,
        kinds: vec![FaultKind::Slow],
        slow_ms: 15,
        seed: 1,
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_tierlink"))
        .arg("--config")
        .arg(setup.dir.path().join("tierlink.toml"))
        .arg("push")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start tierlink push");
    let started = Instant::now();
    while setup.writes().values().sum::<usize>() < 40 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the push never got going: {:?}",
            setup.writes()
        );
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the push ended before the kill"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().expect("kill");
    child.wait().expect("reap");
    let pending = report_pending(&setup).await;
    assert!(pending > 0, "the kill came too late to test anything");

    // Before the restart every customer moves again: a label applied but
    // never acknowledged must go as well, or the record would carry two.
    rotate_tiers(&setup).await;
    setup.set_faults(FaultConfig::default());
    assert_all_delivered(&setup.push().await);
    setup.assert_exactly_current_labels(&before).await;
    assert_eq!(report_pending(&setup).await, 0);
}

/// Sends a request as a client of the simulated Zendesk would.
async fn zendesk_call(setup: &Setup, method: reqwest::Method, path: &str, body: Value) {
    let credentials = setup.world.credentials().expect("credentials").zendesk;
    let response = reqwest::Client::new()
        .request(
            method,
            format!("{}/api/v2{path}", setup.systems.zendesk.base_url),
        )
        .basic_auth(
            format!("{}/token", credentials.email),
            Some(credentials.api_token),
        )
        .json(&body)
        .send()
        .await
        .expect("zendesk call");
    assert!(response.status().is_success(), "{}", response.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_verify_sees_labels_changed_by_hand_and_repair_puts_back_only_its_own() {
    let setup = setup(false).await;
    assert_all_delivered(&setup.run().await);
    let zendesk = setup.project.connector("zendesk").expect("zendesk");
    let settings = zendesk.push.as_ref().expect("push");
    let context = SourceContext::new(setup.store.clone());
    let verify =
        |repair| push::verify_connector(&context, zendesk, settings, &setup.project.tiers, repair);

    let clean = verify(false).await.expect("verify");
    assert!(clean.clean(), "{clean:?}");
    assert!(
        clean.checked > 10 && clean.matching == clean.checked,
        "{clean:?}"
    );

    // Someone removes one user's tier tag, and adds a second tier tag to
    // another user, by hand.
    let ledger = setup.store.ledger("zendesk").await.expect("ledger");
    let (lost, doubled) = (&ledger[0], &ledger[1]);
    let lost_label = lost.acked_label.clone().expect("label");
    let other_label = setup
        .tier_labels()
        .into_iter()
        .find(|label| Some(label) != doubled.acked_label.as_ref() && label.starts_with("tier_"))
        .expect("another zendesk label");
    zendesk_call(
        &setup,
        reqwest::Method::DELETE,
        &format!("/users/{}/tags.json", lost.source_id),
        json!({"tags": [lost_label]}),
    )
    .await;
    zendesk_call(
        &setup,
        reqwest::Method::PUT,
        &format!("/users/{}/tags.json", doubled.source_id),
        json!({"tags": [other_label]}),
    )
    .await;

    let drift = verify(false).await.expect("verify");
    assert_eq!(drift.missing_count, 1, "{drift:?}");
    assert_eq!(drift.missing[0].source_id, lost.source_id);
    assert_eq!(drift.missing[0].expected, lost_label);
    assert_eq!(drift.extra_count, 1, "{drift:?}");
    assert_eq!(drift.extra[0].source_id, doubled.source_id);
    assert_eq!(drift.checked, clean.checked);

    // Repair puts the removed label back and leaves the hand-added one.
    let repair = verify(true).await.expect("repair");
    assert_eq!(repair.marked_for_repair, 1);
    let pushed = pipeline::run_push(
        &setup.project,
        &context,
        Some("zendesk"),
        &ProgressBar::hidden(),
    )
    .await
    .expect("push");
    assert_eq!(pushed.push[0].acknowledged, 1, "{:?}", pushed.push);
    let after = verify(false).await.expect("verify");
    assert_eq!(
        (after.missing_count, after.extra_count),
        (0, 1),
        "{after:?}"
    );
    let id: i64 = doubled.source_id.parse().expect("id");
    let tags = setup
        .systems
        .simulators
        .zendesk
        .user_tags(id)
        .expect("user");
    assert!(tags.contains(&other_label), "{tags:?}");
}

/// The ERP preset reading `database_url`, pushing into a `customer_tier`
/// column of its customers table through the `sql` sink.
fn erp_pushing_into_a_column(variable: &str) -> (&'static str, String, String) {
    let preset = tierlink::presets::find("erp").expect("erp preset");
    let text = preset
        .connector
        .replace("${ERP_DATABASE_URL}", &format!("${{{variable}}}"));
    let file_sink = "\n[push]\nsink = \"file\"\n";
    assert!(text.contains(file_sink));
    let text = text.replace(
        file_sink,
        "\n[push]\nsink = \"sql\"\ntable = \"customers\"\nkey_column = \"id\"\nkey_type = \"integer\"\nlabel_column = \"customer_tier\"\n",
    );
    ("erp", text, preset.mapping.to_string())
}

/// A database of the ERP world, reached by sqlx in the test.
enum ErpDatabase {
    Sqlite(sqlx::SqlitePool),
    MySql(sqlx::MySqlPool),
}

impl ErpDatabase {
    async fn execute(&self, sql: &str) {
        match self {
            ErpDatabase::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
            ErpDatabase::MySql(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        }
        .expect(sql);
    }

    async fn tiers(&self) -> BTreeMap<String, Option<String>> {
        let sql = "SELECT CAST(id AS CHAR) AS id, customer_tier FROM customers";
        let rows: Vec<(String, Option<String>)> = match self {
            ErpDatabase::Sqlite(pool) => sqlx::query_as(&sql.replace("CHAR", "TEXT"))
                .fetch_all(pool)
                .await
                .expect(sql),
            ErpDatabase::MySql(pool) => sqlx::query_as(sql).fetch_all(pool).await.expect(sql),
        };
        rows.into_iter().collect()
    }
}

/// The ERP's label column holds each customer's current label, except the
/// row somebody else wrote, which is left alone and dead-lettered.
async fn sql_sink_writes_the_column(database_url: &str, database: ErpDatabase, variable: &str) {
    tierlink::world::load_erp(world_dir(), database_url)
        .await
        .expect("erp");
    database
        .execute("ALTER TABLE customers ADD COLUMN customer_tier VARCHAR(64)")
        .await;
    let foreign_id = database
        .tiers()
        .await
        .keys()
        .next()
        .expect("a customer")
        .clone();
    database
        .execute(&format!(
            "UPDATE customers SET customer_tier = 'VIP (set by sales)' WHERE id = {foreign_id}"
        ))
        .await;
    std::env::set_var(variable, database_url);
    let dir = crate::presets::project_with(&[erp_pushing_into_a_column(variable)]);
    let project = crate::presets::load(dir.path());
    let store = crate::presets::open_store(&project).await;

    for round in 0..2 {
        if round == 1 {
            rotate_tiers_in(&project, &store).await;
        }
        let context = SourceContext::new(store.clone());
        let report = if round == 0 {
            pipeline::run_full(&project, &store, &ProgressBar::hidden()).await
        } else {
            pipeline::run_push(&project, &context, None, &ProgressBar::hidden()).await
        }
        .expect("run");
        let sink = &report.push[0];
        assert_eq!(sink.failed, 1, "round {round}: {sink:?}");
        let connector = project.connector("erp").expect("erp");
        let desired: HashMap<String, String> = store
            .push_targets("erp")
            .await
            .expect("targets")
            .into_iter()
            .map(|target| {
                let label = project
                    .tiers
                    .label_for(&target.tier, "erp", &connector.kind)
                    .expect("label");
                (target.party.source_id, label)
            })
            .collect();
        let column = database.tiers().await;
        assert_eq!(column.len(), desired.len());
        for (id, value) in &column {
            if *id == foreign_id {
                assert_eq!(value.as_deref(), Some("VIP (set by sales)"));
            } else {
                assert_eq!(
                    value.as_ref(),
                    desired.get(id),
                    "round {round}, customer {id}"
                );
            }
        }
        let letters = store
            .dead_letters(Some("erp"), true)
            .await
            .expect("letters");
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].letter.source_id, foreign_id);
        assert!(
            letters[0].letter.reason.contains("VIP (set by sales)"),
            "{:?}",
            letters[0]
        );
    }
}

#[tokio::test]
async fn the_sql_sink_writes_a_label_column_in_sqlite_and_leaves_foreign_values() {
    let database = tempfile::tempdir().expect("temp dir");
    let path = database.path().join("erp.db");
    let url = format!("sqlite://{}", path.display());
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options)
        .await
        .expect("sqlite");
    sql_sink_writes_the_column(
        &url,
        ErpDatabase::Sqlite(pool),
        "TIERLINK_TEST_PUSH_ERP_SQLITE",
    )
    .await;
}

/// On MariaDB when `TIERLINK_TEST_MYSQL_URL` names a server (CI sets it), in
/// a database made for this test and dropped after it.
#[tokio::test]
async fn the_sql_sink_writes_a_label_column_in_mariadb() {
    use sqlx::Connection;
    let Ok(server) = std::env::var("TIERLINK_TEST_MYSQL_URL") else {
        eprintln!("TIERLINK_TEST_MYSQL_URL is not set: the MariaDB run of the sql sink is skipped");
        return;
    };
    let name = format!("tierlink_push_{}", std::process::id());
    let mut admin = sqlx::MySqlConnection::connect(&server)
        .await
        .expect("mariadb");
    sqlx::query(&format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        .execute(&mut admin)
        .await
        .expect("create database");
    let url = format!("{}/{name}", server.trim_end_matches('/'));
    let outcome = tokio::spawn(async move {
        let pool = sqlx::MySqlPool::connect(&url).await.expect("pool");
        sql_sink_writes_the_column(
            &url,
            ErpDatabase::MySql(pool),
            "TIERLINK_TEST_PUSH_ERP_MYSQL",
        )
        .await;
    })
    .await;
    sqlx::query(&format!("DROP DATABASE `{name}`"))
        .execute(&mut admin)
        .await
        .expect("drop database");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}

/// What the test's webhook receiver got, and which record it refuses.
#[derive(Default)]
struct Receiver {
    /// (signature valid, delivery id matches the body, body)
    requests: std::sync::Mutex<Vec<(bool, bool, Value)>>,
    refuse: std::sync::Mutex<Option<String>>,
}

const WEBHOOK_SECRET: &str = "webhook-secret-for-the-push-test";

/// Serves `router` on a free port of 127.0.0.1 until the test ends.
async fn serve_locally(router: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

fn header(headers: &axum::http::HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Whether `X-Signature-256` is the HMAC-SHA256 of "{timestamp}.{body}".
fn signed_with_the_test_secret(headers: &axum::http::HeaderMap, body: &[u8]) -> bool {
    use hmac::Mac;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("key");
    mac.update(format!("{}.", header(headers, "X-Signature-Timestamp")).as_bytes());
    mac.update(body);
    header(headers, "X-Signature-256")
        == format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn receive(
    axum::extract::State(receiver): axum::extract::State<Arc<Receiver>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    use sha2::Digest;
    let signed = signed_with_the_test_secret(&headers, &body);
    let delivery = header(&headers, "X-Delivery-Id") == hex::encode(sha2::Sha256::digest(&body));
    let value: Value = serde_json::from_slice(&body).unwrap_or_default();
    let refused = receiver.refuse.lock().expect("lock").clone();
    let refuse = refused.is_some_and(|id| {
        value["changes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|change| change["source_id"] == id.as_str())
    });
    receiver
        .requests
        .lock()
        .expect("lock")
        .push((signed, delivery, value));
    if refuse {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    }
}

async fn tierlink_cli(dir: &Path, args: &[&str]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tierlink"));
    command
        .current_dir(dir)
        .args(args)
        .env("TIERLINK_TEST_WEBHOOK_SECRET", WEBHOOK_SECRET);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("run tierlink");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_label_is_dead_lettered_retried_dropped_and_reopened_from_the_cli() {
    let receiver = Arc::new(Receiver::default());
    let address = serve_locally(
        axum::Router::new()
            .route("/tiers", axum::routing::post(receive))
            .with_state(receiver.clone()),
    )
    .await;

    let project = crate::support::sample_project();
    let shop = project.path().join("connectors/shop.toml");
    let text = std::fs::read_to_string(&shop).expect("shop connector");
    let file_sink = "[push]\nsink = \"file\"\n";
    assert!(text.contains(file_sink));
    std::fs::write(
        &shop,
        text.replace(
            file_sink,
            &format!(
                "[push]\nsink = \"webhook\"\nurl = \"http://{address}/tiers\"\nsecret = \"${{TIERLINK_TEST_WEBHOOK_SECRET}}\"\nbatch_size = 50\nmax_attempts = 2\n"
            ),
        ),
    )
    .expect("write");
    let refused = "7000000";
    *receiver.refuse.lock().expect("lock") = Some(refused.to_string());

    // The run delivers every label but the refused one, which becomes a
    // dead letter (its batch was refused, then sent one by one).
    let (ok, text) = tierlink_cli(project.path(), &["run"]).await;
    assert!(!ok, "a refused label fails the run:\n{text}");
    assert!(text.contains("1 dead-lettered"), "{text}");
    let (ok, text) = tierlink_cli(project.path(), &["push", "dead-letters", "list"]).await;
    assert!(ok, "{text}");
    assert!(text.contains(refused) && text.contains("422"), "{text}");
    let id = text
        .lines()
        .nth(1)
        .and_then(|line| line.split_whitespace().next())
        .expect("a dead letter id")
        .to_string();

    // A dry run sends nothing and shows it will be retried.
    let sent = receiver.requests.lock().expect("lock").len();
    let (ok, text) = tierlink_cli(
        project.path(),
        &["push", "--dry-run", "--connector", "shop"],
    )
    .await;
    assert!(ok, "{text}");
    assert!(
        text.contains("nothing was sent") && text.contains(refused),
        "{text}"
    );
    assert_eq!(receiver.requests.lock().expect("lock").len(), sent);

    // Dropped: no longer retried, shown as blocked.
    let (ok, text) = tierlink_cli(
        project.path(),
        &[
            "push",
            "dead-letters",
            "drop",
            &id,
            "--reason",
            "test customer",
            "--actor",
            "tester",
        ],
    )
    .await;
    assert!(ok, "{text}");
    let (ok, text) = tierlink_cli(project.path(), &["push", "--json"]).await;
    assert!(ok, "{text}");
    let reports: Value = serde_json::from_str(&text).expect("json");
    let shop_report = reports
        .as_array()
        .expect("reports")
        .iter()
        .find(|report| report["connector"] == "shop")
        .expect("shop");
    assert_eq!(shop_report["counts"]["blocked"], 1, "{shop_report}");
    assert_eq!(shop_report["sent"], 0, "{shop_report}");

    // Reopened once the receiver takes it: delivered, the letter resolved.
    *receiver.refuse.lock().expect("lock") = None;
    let (ok, text) = tierlink_cli(project.path(), &["push", "dead-letters", "retry", &id]).await;
    assert!(ok, "{text}");
    assert!(text.contains("1 acknowledged"), "{text}");
    let (_, text) = tierlink_cli(project.path(), &["push", "dead-letters", "list"]).await;
    assert!(text.contains("no dead letters"), "{text}");
    let (ok, text) = tierlink_cli(project.path(), &["push", "status"]).await;
    assert!(ok && text.contains("shop"), "{text}");

    // Every request was signed and carried its delivery id; every shop
    // record's label arrived.
    let requests = receiver.requests.lock().expect("lock");
    assert!(requests
        .iter()
        .all(|(signed, delivery, _)| *signed && *delivery));
    let accepted: BTreeSet<String> = requests
        .iter()
        .flat_map(|(_, _, body)| body["changes"].as_array().cloned().unwrap_or_default())
        .filter_map(|change| change["source_id"].as_str().map(str::to_string))
        .collect();
    assert!(accepted.contains(refused));
    assert!(accepted.len() > 100, "{}", accepted.len());
}

/// The tier events the test's receiver got: (signature valid, body).
#[derive(Default)]
struct EventReceiver {
    requests: std::sync::Mutex<Vec<(bool, Value)>>,
    unavailable: std::sync::atomic::AtomicBool,
}

async fn receive_events(
    axum::extract::State(receiver): axum::extract::State<Arc<EventReceiver>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    if receiver
        .unavailable
        .load(std::sync::atomic::Ordering::SeqCst)
    {
        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
    }
    let signed = signed_with_the_test_secret(&headers, &body);
    let value: Value = serde_json::from_slice(&body).unwrap_or_default();
    receiver
        .requests
        .lock()
        .expect("lock")
        .push((signed, value));
    axum::http::StatusCode::NO_CONTENT
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tier_change_reaches_the_events_url_once_even_after_it_was_down() {
    let receiver = Arc::new(EventReceiver::default());
    let address = serve_locally(
        axum::Router::new()
            .route("/tier-changes", axum::routing::post(receive_events))
            .with_state(receiver.clone()),
    )
    .await;

    let project = crate::support::sample_project();
    let settings = project.path().join("tierlink.toml");
    let mut text = std::fs::read_to_string(&settings).expect("tierlink.toml");
    text.push_str(&format!(
        "\n[events]\nurl = \"http://{address}/tier-changes\"\nsecret = \"${{TIERLINK_TEST_WEBHOOK_SECRET}}\"\nbatch_size = 7\nmax_attempts = 2\n"
    ));
    std::fs::write(&settings, text).expect("write");

    // The receiver is down: the run tiers everyone, says the events wait,
    // and fails.
    receiver
        .unavailable
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let (ok, text) = tierlink_cli(project.path(), &["run"]).await;
    assert!(!ok, "an undelivered event fails the run:\n{text}");
    assert!(
        text.contains("0 tier event(s) delivered") && text.contains("FAILED   tier events"),
        "{text}"
    );
    assert!(text.contains("503"), "{text}");

    // Back up: the next push delivers every first assignment, in batches of
    // at most 7, each signed.
    receiver
        .unavailable
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let (ok, text) = tierlink_cli(project.path(), &["push"]).await;
    assert!(ok, "{text}");
    // Every test that sets it sets the same value.
    std::env::set_var("TIERLINK_TEST_WEBHOOK_SECRET", WEBHOOK_SECRET);
    let loaded = Project::load(&settings).expect("project");
    let store = demo::open_store(&loaded).await.expect("store");
    let assignments = store.tier_assignments().await.expect("assignments");
    assert!(assignments.len() > 100, "{}", assignments.len());
    assert!(
        text.contains(&format!(
            "events: {} tier event(s) delivered",
            assignments.len()
        )),
        "{text}"
    );
    let events = |from: usize| -> Vec<Value> {
        let requests = receiver.requests.lock().expect("lock");
        assert!(requests.iter().all(|(signed, _)| *signed));
        assert!(requests.iter().all(|(_, body)| body["events"]
            .as_array()
            .is_some_and(|events| events.len() <= 7)));
        requests[from..]
            .iter()
            .flat_map(|(_, body)| body["events"].as_array().cloned().unwrap_or_default())
            .collect()
    };
    let first = events(0);
    let ids: Vec<i64> = first
        .iter()
        .filter_map(|event| event["id"].as_i64())
        .collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "each once, in order"
    );
    let tiers: BTreeMap<&str, &str> = assignments
        .iter()
        .map(|assignment| (assignment.golden_id.as_str(), assignment.tier.as_str()))
        .collect();
    assert_eq!(first.len(), tiers.len());
    for event in &first {
        let golden_id = event["golden_id"].as_str().expect("golden id");
        assert_eq!(event["from_tier"], Value::Null, "{event}");
        assert_eq!(event["to_tier"], tiers[golden_id], "{event}");
        assert!(
            event["rule"].is_string() && event["reason"].is_object(),
            "{event}"
        );
    }

    // Nothing changed: nothing is sent.
    let sent = receiver.requests.lock().expect("lock").len();
    let (ok, text) = tierlink_cli(project.path(), &["run"]).await;
    assert!(ok && text.contains("0 tier event(s) delivered"), "{text}");
    assert_eq!(receiver.requests.lock().expect("lock").len(), sent);

    // Every customer moves: each move arrives with where it came from.
    rotate_tiers_in(&loaded, &store).await;
    let (ok, text) = tierlink_cli(project.path(), &["push"]).await;
    assert!(ok, "{text}");
    let moves = events(sent);
    assert_eq!(moves.len(), tiers.len());
    for event in &moves {
        let golden_id = event["golden_id"].as_str().expect("golden id");
        assert_eq!(event["from_tier"], tiers[golden_id], "{event}");
        assert_ne!(event["to_tier"], event["from_tier"], "{event}");
        assert_eq!(event["rule"], "moved by the test", "{event}");
    }
}
