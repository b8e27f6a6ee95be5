//! Segmentation speed: features and tiers for a large synthetic population,
//! and the same RFM query in DuckDB on the same data as the reference.
//!
//! `cargo bench --bench segment` (release build). Environment:
//! - `SEGMENT_CUSTOMERS` (default 1000000) and `SEGMENT_ORDERS` (default
//!   10000000): the population;
//! - `SEGMENT_DUCKDB` (default on when `python3 -c "import duckdb"` works):
//!   write the orders to CSV, convert them to Parquet and time the RFM query
//!   in DuckDB with `benches/segment_duckdb.py`.
//!
//! The data is deterministic (a fixed-seed SplitMix64): orders fall on the
//! two years before the evaluation date, one in twenty is reported a second
//! time by another system (same amount, same day), and a few are refunded
//! or pending. The orders are sorted as the store returns them (by golden
//! id, then time). The timed part is what a tiering run does after reading
//! the store: grouping activity per customer, features, RFM scores and segments,
//! and the tier rules of the shipped `tiers.toml` with explanations.
//!
//! Measured 2026-11-24 on this 2-core machine, quiet, release build:
//! grouping 1.21 s, features + RFM + tiers 4.58 s, total 5.80 s for
//! 1,000,000 customers and 10,000,000 orders; DuckDB 2.0 (2 threads) ran
//! the RFM query alone on the same data as Parquet in 3.86 s; both counted
//! 900,379 buyers (BENCHMARKS.md).

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use support::env_number;
use tierlink::segment::activity::{group_by_customer, LinkedActivity};
use tierlink::segment::{plan_tiers, TierRules};
use tierlink::store::OrderFact;

/// SplitMix64: a small, fast, fixed-seed generator, so every run and the
/// DuckDB reference see the same data.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn synthetic_orders(customers: usize, orders: usize, as_of: DateTime<Utc>) -> Vec<OrderFact> {
    let mut random = SplitMix(20_261_101);
    let mut facts = Vec::with_capacity(orders);
    while facts.len() < orders {
        // Skewed towards low ids, so some customers buy a lot and some never.
        let customer =
            (random.below(customers as u64) * random.below(customers as u64)) / customers as u64;
        let golden_id = format!("G{customer:07}");
        let ordered_at = as_of - Duration::minutes(random.below(730 * 24 * 60) as i64);
        let amount = (1_000 + random.below(200_000)) as f64 / 100.0;
        let status = match random.below(100) {
            0..=2 => "refunded",
            3..=4 => "pending",
            _ => "paid",
        };
        let number = facts.len();
        facts.push(OrderFact {
            golden_id: golden_id.clone(),
            connector: "erp".to_string(),
            source_id: format!("SO{number}"),
            amount,
            status: status.to_string(),
            ordered_at,
            copy: false,
        });
        if random.below(20) == 0 && facts.len() < orders {
            // The web shop reports the same order an hour later.
            facts.push(OrderFact {
                golden_id,
                connector: "shop".to_string(),
                source_id: format!("#{number}"),
                amount,
                status: status.to_string(),
                ordered_at: ordered_at + Duration::minutes(random.below(60) as i64),
                copy: false,
            });
        }
    }
    facts
}

fn write_csv(path: &Path, orders: &[OrderFact]) -> std::io::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        file,
        "golden_id,connector,source_id,amount,status,ordered_at"
    )?;
    for order in orders {
        writeln!(
            file,
            "{},{},{},{:.2},{},{}",
            order.golden_id,
            order.connector,
            order.source_id,
            order.amount,
            order.status,
            order.ordered_at.format("%Y-%m-%d %H:%M:%S")
        )?;
    }
    file.flush()
}

fn main() {
    let customers = env_number("SEGMENT_CUSTOMERS", 1_000_000);
    let order_count = env_number("SEGMENT_ORDERS", 10_000_000);
    let as_of = Utc.with_ymd_and_hms(2026, 11, 1, 23, 59, 59).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules =
        TierRules::load(&root.join("tiers.toml"), &[]).expect("the shipped tiers.toml loads");

    let started = Instant::now();
    let golden_ids: Vec<String> = (0..customers)
        .map(|customer| format!("G{customer:07}"))
        .collect();
    let mut orders = synthetic_orders(customers, order_count, as_of);
    // In the order the store reads them (`Store::order_facts`): by golden
    // id, then time.
    orders.sort_by(|a, b| {
        a.golden_id
            .cmp(&b.golden_id)
            .then(a.ordered_at.cmp(&b.ordered_at))
    });
    println!(
        "generated {customers} customers and {} orders in {:.1} s (not timed)",
        orders.len(),
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let linked = LinkedActivity::default();
    let activities = group_by_customer(&golden_ids, &orders, &linked, &[], &[]);
    let grouped = started.elapsed();
    let plan = plan_tiers(
        &rules,
        &golden_ids,
        &activities,
        &[],
        &HashMap::new(),
        as_of,
    )
    .expect("the rules evaluate");
    let total = started.elapsed();
    let mut distribution: HashMap<&str, usize> = HashMap::new();
    for decision in &plan.decisions {
        *distribution.entry(decision.tier.as_str()).or_default() += 1;
    }
    let mut distribution: Vec<_> = distribution.into_iter().collect();
    distribution.sort();
    println!(
        "tierlink: grouping {:.2} s, features + RFM + tiers {:.2} s, total {:.2} s for {customers} customers / {} orders",
        grouped.as_secs_f64(),
        (total - grouped).as_secs_f64(),
        total.as_secs_f64(),
        orders.len()
    );
    let buyers = plan
        .features
        .iter()
        .filter(|features| features.rfm.is_some())
        .count();
    println!("tiers: {distribution:?}; buyers with RFM scores: {buyers}");

    let duckdb_wanted = std::env::var("SEGMENT_DUCKDB")
        .map(|value| value != "0")
        .unwrap_or(true);
    let duckdb_present = Command::new("python3")
        .args(["-c", "import duckdb"])
        .status()
        .is_ok_and(|status| status.success());
    if !(duckdb_wanted && duckdb_present) {
        println!("DuckDB reference skipped (set SEGMENT_DUCKDB=1 and `pip install duckdb`)");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("orders.csv");
    write_csv(&csv, &orders).expect("writing the orders as CSV");
    drop(plan);
    drop(activities);
    drop(orders);
    let output = Command::new("python3")
        .arg(root.join("benches/segment_duckdb.py"))
        .arg(&csv)
        .arg(as_of.format("%Y-%m-%d %H:%M:%S").to_string())
        .output()
        .expect("python3 runs");
    let report = String::from_utf8_lossy(&output.stdout);
    print!("{report}");
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        return;
    }
    let seconds = report
        .lines()
        .find_map(|line| line.strip_prefix("duckdb_rfm_parquet_seconds="))
        .and_then(|value| value.trim().parse::<f64>().ok());
    if let Some(seconds) = seconds {
        println!(
            "ratio: tierlink total / DuckDB RFM query on Parquet = {:.2}",
            total.as_secs_f64() / seconds
        );
    }
}
