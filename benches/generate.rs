//! World generation throughput: customers per second, streaming every
//! system's files and the ground truth to disk.
//!
//! `cargo bench --bench generate` (release build). Environment:
//! `GENERATE_CUSTOMERS` (default 100000): customers per measurement;
//! `GENERATE_DIR`: where to write (default a temporary folder, removed).
//! Peak memory is measured on the CLI instead:
//! `/usr/bin/time -v target/release/tierlink generate --customers 1000000 --seed 1 --out DIR`.

use std::time::Instant;

use chrono::NaiveDate;
use tierlink::world::{generate, GenerateOptions, Noise};

fn main() {
    let customers: u64 = std::env::var("GENERATE_CUSTOMERS")
        .ok()
        .map(|value| value.parse().expect("GENERATE_CUSTOMERS is a number"))
        .unwrap_or(100_000);
    let temporary = tempfile::tempdir().expect("temporary folder");
    let dir = std::env::var("GENERATE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| temporary.path().to_path_buf());
    let options = GenerateOptions {
        customers,
        seed: 1,
        as_of: NaiveDate::from_ymd_opt(2026, 11, 1).expect("valid date"),
        noise: Noise::default(),
    };
    let started = Instant::now();
    let summary = generate(&options, &dir, &mut |_| {}).expect("generate");
    let seconds = started.elapsed().as_secs_f64();
    let records: u64 = summary.counts.values().sum();
    let bytes: u64 = walk_size(&dir);
    println!(
        "generate: {customers} customers, {records} records, {:.1} MB in {seconds:.2} s = {:.0} customers/s, {:.0} records/s",
        bytes as f64 / 1e6,
        customers as f64 / seconds,
        records as f64 / seconds
    );
}

fn walk_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("world folder")
        .map(|entry| {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk_size(&path)
            } else {
                std::fs::metadata(&path).map_or(0, |meta| meta.len())
            }
        })
        .sum()
}
