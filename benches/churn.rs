//! Golden-id churn: how many golden ids change when the same data is run
//! again, and when 1% more source records arrive.
//!
//! `cargo bench --bench churn` (release build). `CHURN_CUSTOMERS` (default
//! 20000) sets the size of the generated world (seed 9).
//!
//! 1. A "base" world is the generated one without 1% of its customer
//!    records (chosen by a hash of their ids, in every system), nor the
//!    orders, tickets and ratings that point at them.
//! 2. The base world goes through a full run (simulators, ERP, presets),
//!    then a second full run on the same data: no golden id may change.
//! 3. The simulators and the ERP then serve the whole world, every cursor
//!    is reset, and a third run resolves the 1% new records against the
//!    stored golden customers.
//!
//! Each golden id of run 2 is then: kept (all its records still carry it),
//! merged (its records moved, together, into a customer that also holds
//! records of another earlier customer: a merge the new records brought),
//! or changed (anything else: records split off or moved alone). Changed
//! ids are the churn; the goal is at most 0.1% of the earlier ids.

#[path = "support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Instant;

use chrono::NaiveDate;
use indicatif::ProgressBar;
use serde_json::Value;
use support::env_number;
use tierlink::config::Project;
use tierlink::demo::{self, DemoOptions};
use tierlink::pipeline;
use tierlink::simulators::World;
use tierlink::store::GoldenLink;

/// FNV-1a, to pick records by id the same way on every run.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Rewrites a JSON Lines file of the world keeping the lines whose key (at
/// `pointer`) is not dropped for `system`; returns how many went.
fn keep_lines(
    dir: &Path,
    file: &str,
    pointer: &str,
    system: &str,
    dropped: &BTreeSet<(String, String)>,
) -> usize {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).expect("world file");
    let mut kept = String::new();
    let mut gone = 0;
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let value: Value = serde_json::from_str(line).expect("json line");
        let key = value.pointer(pointer).map(text_of).unwrap_or_default();
        if dropped.contains(&(system.to_string(), key)) {
            gone += 1;
        } else {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    std::fs::write(&path, kept).expect("write world file");
    gone
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// The base world: the full one without 1% of its customer records.
fn base_world(full: &Path, base: &Path) -> usize {
    copy_dir(full, base);
    let _ = std::fs::remove_file(base.join("erp/erp.db"));
    let partners = std::fs::read_to_string(full.join("odoo/res.partner.jsonl")).expect("partners");
    let odoo_parents: BTreeSet<String> = partners
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .flat_map(|partner| {
            ["/parent_id/0", "/commercial_partner_id/0"]
                .iter()
                .filter_map(|pointer| partner.pointer(pointer).map(text_of))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut reader = csv::Reader::from_path(full.join("truth/records.csv")).expect("truth");
    let dropped: BTreeSet<(String, String)> = reader
        .records()
        .map(|record| record.expect("truth record"))
        .map(|record| (record[0].to_string(), record[2].to_string()))
        .filter(|(system, id)| fnv(&format!("{system}/{id}")) % 100 == 37)
        // Odoo companies whose contacts point at them stay.
        .filter(|(system, id)| system != "odoo" || !odoo_parents.contains(id))
        .collect();
    let records = [
        (
            "wecom/contacts.jsonl",
            "/external_contact/external_userid",
            "wecom",
        ),
        ("shopify/customers.jsonl", "/id", "shopify"),
        ("shopify/orders.jsonl", "/customer/id", "shopify"),
        ("zendesk/users.jsonl", "/id", "zendesk"),
        ("zendesk/tickets.jsonl", "/requester_id", "zendesk"),
        (
            "zendesk/satisfaction_ratings.jsonl",
            "/requester_id",
            "zendesk",
        ),
        ("odoo/res.partner.jsonl", "/id", "odoo"),
        ("odoo/sale.order.jsonl", "/partner_id/0", "odoo"),
        ("erp/customers.jsonl", "/id", "erp"),
        ("erp/orders.jsonl", "/customer_id", "erp"),
    ];
    for (file, pointer, system) in records {
        keep_lines(base, file, pointer, system, &dropped);
    }
    dropped.len()
}

/// Serves `world`, writes the project over it and runs the pipeline once.
async fn run_over(
    options: &DemoOptions,
    world: &World,
    erp_name: &str,
    reset: bool,
) -> Vec<GoldenLink> {
    let systems = demo::start_systems(world).await.expect("simulators");
    let erp = options.dir.join(erp_name);
    if !erp.exists() {
        tierlink::world::load_erp(&world.dir, &format!("sqlite://{}", erp.display()))
            .await
            .expect("erp");
    }
    let config = demo::write_project(options, world, &systems, &erp).expect("project");
    let project = Project::load(&config).unwrap_or_else(|problems| panic!("{problems}"));
    let store = demo::open_store(&project).await.expect("store");
    if reset {
        for connector in &project.connectors {
            store.reset_cursors(&connector.id).await.expect("reset");
        }
    }
    let started = Instant::now();
    let report = pipeline::run_full(&project, &store, &ProgressBar::hidden())
        .await
        .expect("run");
    println!(
        "  run: {} source records -> {} golden customers in {:.1} s",
        report.parties,
        report.golden_customers,
        started.elapsed().as_secs_f64()
    );
    store.golden_links().await.expect("links")
}

fn ids(links: &[GoldenLink]) -> HashMap<(String, String), String> {
    links
        .iter()
        .map(|link| {
            (
                (link.party.connector.clone(), link.party.source_id.clone()),
                link.golden_id.clone(),
            )
        })
        .collect()
}

/// (kept, merged, changed) golden ids of `before` in `after`.
fn compare(
    before: &HashMap<(String, String), String>,
    after: &HashMap<(String, String), String>,
) -> (usize, usize, usize) {
    let mut members: BTreeMap<&str, Vec<&(String, String)>> = BTreeMap::new();
    for (record, id) in before {
        members.entry(id.as_str()).or_default().push(record);
    }
    // Per new id: the earlier ids of the records it holds.
    let mut earlier_of_new: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for (record, id) in before {
        if let Some(new) = after.get(record) {
            earlier_of_new
                .entry(new.as_str())
                .or_default()
                .insert(id.as_str());
        }
    }
    let (mut kept, mut merged, mut changed) = (0, 0, 0);
    for (id, records) in &members {
        let now: BTreeSet<&str> = records
            .iter()
            .filter_map(|record| after.get(*record).map(String::as_str))
            .collect();
        if now.len() == 1 && now.contains(id) {
            kept += 1;
        } else if now.len() == 1
            && now.iter().all(|new| {
                earlier_of_new
                    .get(new)
                    .is_some_and(|earlier| earlier.len() > 1)
            })
        {
            merged += 1;
        } else {
            changed += 1;
        }
    }
    (kept, merged, changed)
}

fn main() {
    let customers = env_number("CHURN_CUSTOMERS", 20_000) as u64;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = DemoOptions {
            dir: dir.path().join("project"),
            customers,
            seed: 9,
            as_of: NaiveDate::from_ymd_opt(2026, 11, 1).expect("date"),
            credential_prefix: "TIERLINK_CHURN_".to_string(),
        };
        std::fs::create_dir_all(&options.dir).expect("project dir");
        let full_dir = dir.path().join("full");
        tierlink::world::generate(
            &tierlink::world::GenerateOptions {
                customers,
                seed: options.seed,
                as_of: options.as_of,
                noise: tierlink::world::Noise::default(),
            },
            &full_dir,
            &mut |_| {},
        )
        .expect("world");
        let base_dir = dir.path().join("base");
        let dropped = base_world(&full_dir, &base_dir);
        println!("world of {customers} customers; {dropped} customer records held back (1%)");

        let base = World::new(base_dir);
        let first = ids(&run_over(&options, &base, "erp-base.db", false).await);
        let second = ids(&run_over(&options, &base, "erp-base.db", false).await);
        let (kept, merged, changed) = compare(&first, &second);
        println!(
            "same data again: {kept} golden ids kept, {merged} merged, {changed} changed (goal: 0 changed)"
        );

        let full = World::new(full_dir);
        let third = ids(&run_over(&options, &full, "erp-full.db", true).await);
        let (kept, merged, changed) = compare(&second, &third);
        let total = kept + merged + changed;
        let new_records = third.len() - second.len();
        println!(
            "1% more records ({new_records} new): of {total} golden ids, {kept} kept, {merged} merged by the new records, \
             {changed} changed = {:.3}% churn (goal: at most 0.1%)",
            100.0 * changed as f64 / total.max(1) as f64
        );
    });
}
