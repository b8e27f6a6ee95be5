//! Push-back speed: label changes per second into the WeCom, Shopify,
//! Zendesk and Odoo simulators over loopback (rate limits off), and the
//! time to diff one million ledger rows.
//!
//! `cargo bench --bench push` (release build). Environment:
//! - `PUSH_CUSTOMERS` (default 20000): true customers of the generated world
//!   whose records are pushed (0 skips the throughput part);
//! - `PUSH_LEDGER_ROWS` (default 1000000): rows of the diff measurement.
//!
//! Throughput: the world goes through one full run (sync, resolve, tier,
//! first labels); then every tiered customer moves to the next tier and the
//! timed push moves every label (old one removed, new one added) in every
//! system, with the presets' batch sizes and concurrency. A label change is
//! one record's move, however many calls its system needs for it (WeCom: a
//! contact lookup and one `mark_tag` per follow member; Zendesk: a tag add
//! and a tag delete; Shopify: 10 customers per GraphQL request; Odoo: one
//! `write` per group of partners making the same move).
//!
//! Diff: one million linked records of tiered customers and a ledger that
//! acknowledged each one's label, one customer in ten moved to another
//! tier. Timed: the diff in the database (`Store::push_candidates`, which
//! returns only what is not in place) and the plan of those (`plan_push`);
//! for comparison, reading all targets and the whole ledger and diffing in
//! memory, as a snapshot sink does.

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use indicatif::ProgressBar;
use support::env_number;
use tierlink::config::Project;
use tierlink::connectors::SourceContext;
use tierlink::demo::{self, DemoOptions};
use tierlink::pipeline;
use tierlink::push::{plan_push, PushOptions};
use tierlink::simulators::World;
use tierlink::store::{
    self, LedgerRow, LedgerStatus, LedgerUpdate, PushTarget, Store, TierAssignment, TierChange,
};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let customers = env_number("PUSH_CUSTOMERS", 20_000) as u64;
    if customers > 0 {
        runtime.block_on(throughput(customers));
    }
    runtime.block_on(diff(env_number("PUSH_LEDGER_ROWS", 1_000_000)));
}

async fn throughput(customers: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = DemoOptions {
        dir: dir.path().to_path_buf(),
        customers,
        seed: 3,
        as_of: NaiveDate::from_ymd_opt(2026, 11, 1).expect("date"),
        credential_prefix: "TIERLINK_BENCH_".to_string(),
    };
    let started = Instant::now();
    demo::ensure_world(&options, &mut |_| {}).expect("world");
    let world = World::new(dir.path().join("world"));
    let systems = demo::start_systems(&world).await.expect("simulators");
    let erp = world.path("erp/erp.db");
    tierlink::world::load_erp(&world.dir, &format!("sqlite://{}", erp.display()))
        .await
        .expect("erp");
    let config = demo::write_project(&options, &world, &systems, &erp).expect("project");
    let project = Project::load(&config).unwrap_or_else(|problems| panic!("{problems}"));
    let store = demo::open_store(&project).await.expect("store");
    let first = pipeline::run_full(&project, &store, &ProgressBar::hidden())
        .await
        .expect("run");
    let first_labels: usize = first.push.iter().map(|sink| sink.acknowledged).sum();
    println!(
        "world of {customers} customers prepared and run once in {:.1} s ({first_labels} first labels)",
        started.elapsed().as_secs_f64()
    );

    move_every_customer(&project, &store).await;
    let context = SourceContext::new(store.clone());
    let started = Instant::now();
    let reports = pipeline::push_all(
        &project,
        &context,
        None,
        &PushOptions::default(),
        &ProgressBar::hidden(),
    )
    .await
    .expect("push");
    let seconds = started.elapsed().as_secs_f64();
    let mut total = 0;
    let mut api_total = 0;
    for report in &reports {
        assert_eq!(report.failed, 0, "{report:?}");
        total += report.acknowledged;
        if report.sink != "file" {
            api_total += report.acknowledged;
        }
        println!(
            "  {:<8} {:>7} label changes acknowledged",
            report.connector, report.acknowledged
        );
    }
    println!(
        "push: {total} label changes in {seconds:.2} s = {:.0} label changes/s \
         ({api_total} into the four APIs: {:.0}/s counting the whole time)",
        total as f64 / seconds,
        api_total as f64 / seconds
    );
}

/// Moves every tiered customer to the next tier of the rules.
async fn move_every_customer(project: &Project, store: &Arc<dyn Store>) {
    let tiers: Vec<String> = project.tiers.tiers.iter().map(|t| t.key.clone()).collect();
    let changes: Vec<TierChange> = store
        .tier_assignments()
        .await
        .expect("assignments")
        .into_iter()
        .map(|current| {
            let at = tiers.iter().position(|t| *t == current.tier).unwrap_or(0);
            TierChange {
                from_tier: Some(current.tier.clone()),
                assignment: TierAssignment {
                    tier: tiers[(at + 1) % tiers.len()].clone(),
                    rule: "benchmark".to_string(),
                    reason: serde_json::json!({}),
                    assigned_at: Utc::now(),
                    ..current
                },
            }
        })
        .collect();
    store.save_tier_changes(&changes).await.expect("changes");
}

async fn diff(rows: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store::open("sqlite://ledger.db", dir.path())
        .await
        .expect("store");
    let rules = tierlink::segment::TierRules::load(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tiers.toml")),
        &[],
    )
    .expect("rules");
    let tiers: Vec<String> = rules.tiers.iter().map(|t| t.key.clone()).collect();
    let label = |tier: &str| rules.label_for(tier, "shop", "http").expect("label");
    let started = Instant::now();
    // Setup: a million linked records of tiered customers, written straight
    // into the tables, and a ledger that acknowledged each one's label; then
    // one customer in ten moves to the next tier.
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new().filename(dir.path().join("ledger.db")),
    )
    .await
    .expect("pool");
    let now = Utc::now().to_rfc3339();
    for start in (0..rows).step_by(10_000) {
        let mut tx = pool.begin().await.expect("tx");
        for index in start..(start + 10_000).min(rows) {
            let moved = index % 10 == 0;
            let at = index % tiers.len();
            let tier = if moved {
                &tiers[(at + 1) % tiers.len()]
            } else {
                &tiers[at]
            };
            let golden_id = format!("g_{index:016x}");
            sqlx::query("INSERT INTO golden_links (connector, source_id, golden_id, linked_at) VALUES ('shop', $1, $2, $3)")
                .bind(format!("{:012}", index * 7 + 1))
                .bind(&golden_id)
                .bind(&now)
                .execute(&mut *tx)
                .await
                .expect("link");
            sqlx::query("INSERT INTO tier_assignments (golden_id, tier, rule, rules_version, assigned_at) VALUES ($1, $2, 'bench', 'v1', $3)")
                .bind(&golden_id)
                .bind(tier)
                .bind(&now)
                .execute(&mut *tx)
                .await
                .expect("tier");
        }
        tx.commit().await.expect("commit");
    }
    let ledger: Vec<LedgerRow> = (0..rows)
        .map(|index| {
            let tier = &tiers[index % tiers.len()];
            LedgerRow {
                connector: "shop".to_string(),
                source_id: format!("{:012}", index * 7 + 1),
                golden_id: Some(format!("g_{index:016x}")),
                tier: Some(tier.clone()),
                desired_label: Some(label(tier)),
                acked_label: Some(label(tier)),
                unacked_labels: Vec::new(),
                rules_version: "v1".to_string(),
                status: LedgerStatus::Delivered,
                attempts: 1,
                last_error: None,
            }
        })
        .collect();
    for chunk in ledger.chunks(50_000) {
        store
            .save_ledger(&LedgerUpdate {
                rows: chunk.to_vec(),
                ..LedgerUpdate::default()
            })
            .await
            .expect("save");
    }
    sqlx::query("ANALYZE")
        .execute(&pool)
        .await
        .expect("analyze");
    println!(
        "ledger: {rows} linked records, tiers and ledger rows written in {:.1} s (setup, not timed)",
        started.elapsed().as_secs_f64()
    );

    // The diff a push makes: in the database, then the plan of what differs.
    let labels: Vec<(String, String)> = tiers
        .iter()
        .map(|tier| (tier.clone(), label(tier)))
        .collect();
    let started = Instant::now();
    let candidates = store
        .push_candidates("shop", &labels)
        .await
        .expect("candidates");
    let query_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut plan = plan_push(
        "shop",
        "http",
        &candidates.targets,
        candidates.ledger,
        &rules,
        false,
    );
    plan.counts.unchanged += candidates.in_place;
    let plan_seconds = started.elapsed().as_secs_f64();
    assert_eq!(plan.counts.update, rows.div_ceil(10));
    assert_eq!(plan.counts.unchanged, rows - rows.div_ceil(10));
    println!(
        "diff: {rows} ledger rows: database diff {query_seconds:.2} s, plan {plan_seconds:.2} s \
         ({} to send), {:.2} s in all",
        plan.changes.len(),
        query_seconds + plan_seconds
    );

    // For comparison: reading the whole ledger and the targets, diffing in
    // memory (what a snapshot sink does).
    let started = Instant::now();
    let targets: Vec<PushTarget> = store.push_targets("shop").await.expect("targets");
    let ledger = store.ledger("shop").await.expect("ledger");
    let load_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let full = plan_push("shop", "http", &targets, ledger, &rules, false);
    assert_eq!(full.counts, plan.counts);
    println!(
        "full load: targets and ledger read in {load_seconds:.2} s, diffed in memory in {:.2} s",
        started.elapsed().as_secs_f64()
    );
}
