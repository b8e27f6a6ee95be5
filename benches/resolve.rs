//! Entity-resolution quality and speed.
//!
//! `cargo bench --bench resolve` (release build). It resolves the FEBRL
//! person files (`/work/shared/data/febrl` or `FEBRL_DIR`) with the one
//! config in `benches/febrl.toml`, trained without labels, and reports
//! blocking recall, candidate pairs, pairwise and B-cubed precision, recall
//! and F1 against the files' `true_id`, and the time taken.
//!
//! Then a scale test: `RESOLVE_SCALE_RECORDS` (default 1,000,000; 0 skips)
//! synthetic records, from blocking to clusters with training included.
//! The records are made from FEBRL values: each synthetic person takes its
//! name, street and place from random FEBRL rows and gets its own birth date
//! and id; its duplicates carry FEBRL-like noise (typos, missing values,
//! swapped digits, transposed day and month). Generation is seeded, so every
//! run sees the same records. Peak memory is the process's high-water mark.

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use support::peak_memory_mib;
use tierlink::resolve::cluster::Constraints;
use tierlink::resolve::config::ResolveConfig;
use tierlink::resolve::engine::{resolve, Resolution};
use tierlink::resolve::metrics::{b_cubed, pairwise, Scores};
use tierlink::resolve::rng::SeededRng;
use tierlink::resolve::table::{FieldValue, RecordTable, TableBuilder};

/// A FEBRL file: its header and rows.
struct Febrl {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn read_febrl(path: &Path) -> Febrl {
    let mut reader =
        csv::Reader::from_path(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let header = reader
        .headers()
        .unwrap_or_else(|error| panic!("{}: header: {error}", path.display()))
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .enumerate()
        .map(|(line, record)| {
            record
                .unwrap_or_else(|error| panic!("{}: row {}: {error}", path.display(), line + 2))
                .iter()
                .map(str::to_string)
                .collect()
        })
        .collect();
    Febrl { header, rows }
}

/// Position in the CSV of each config field, and of `true_id`.
fn column_map(febrl: &Febrl, config: &ResolveConfig) -> (Vec<usize>, usize) {
    let position = |name: &str| {
        febrl
            .header
            .iter()
            .position(|column| column == name)
            .unwrap_or_else(|| panic!("FEBRL file has no column `{name}`"))
    };
    let fields = config
        .fields
        .iter()
        .map(|field| position(&field.name))
        .collect();
    (fields, position("true_id"))
}

fn febrl_table(febrl: &Febrl, config: &ResolveConfig) -> (RecordTable, Vec<u32>) {
    let (columns, truth_column) = column_map(febrl, config);
    let mut builder = TableBuilder::new(&config.fields);
    let mut entities: HashMap<&str, u32> = HashMap::new();
    let mut truth = Vec::with_capacity(febrl.rows.len());
    for row in &febrl.rows {
        let values: Vec<FieldValue> = columns
            .iter()
            .map(|&column| FieldValue::Text(&row[column]))
            .collect();
        builder.push(&values).expect("FEBRL row fits the config");
        let next = entities.len() as u32;
        truth.push(*entities.entry(&row[truth_column]).or_insert(next));
    }
    (builder.finish(), truth)
}

fn show(scores: &Scores) -> String {
    format!(
        "P {:.4}  R {:.4}  F1 {:.4}",
        scores.precision, scores.recall, scores.f1
    )
}

fn evaluate_febrl(path: &Path, config: &ResolveConfig) {
    let febrl = read_febrl(path);
    let (table, truth) = febrl_table(&febrl, config);
    let resolution = resolve(&table, config, &Constraints::default(), Some(&truth));
    let name = path
        .file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
    println!("== {name}: {} records", table.len());
    report(&resolution, &truth);
}

/// Prints blocking, training, decision, quality and time figures.
fn report(resolution: &Resolution, truth: &[u32]) {
    for rule in &resolution.blocking.rules {
        println!(
            "  blocking rule {:36} {:>9} pairs {:>9} new  {} oversized blocks",
            rule.name,
            rule.pairs,
            rule.new_pairs,
            rule.oversized.len()
        );
    }
    let recall = resolution.blocking.recall.expect("truth given");
    println!(
        "  candidate pairs {}  blocking recall {:.4} ({} of {} true pairs)",
        resolution.blocking.candidate_pairs, recall.recall, recall.found, recall.true_pairs
    );
    let training = &resolution.training;
    for session in &training.sessions {
        println!(
            "  EM on rule {:36} {:>9} pairs, {} iterations, converged {}, match share {:.4}, held out {}",
            session.rule,
            session.pairs,
            session.iterations,
            session.converged,
            session.match_share,
            session.held_out.join(", ")
        );
    }
    if !training.untrained_fields.is_empty() {
        println!("  untrained m: {}", training.untrained_fields.join(", "));
    }
    println!(
        "  λ {:.3e} ({} iterations, converged {}) over {} distinct vectors; u from {} random pairs",
        resolution.model.prior,
        training.prior_iterations,
        training.prior_converged,
        training.distinct_vectors,
        training.u_sample_pairs
    );
    println!(
        "  links {}  reviews {}  apart {}  flagged {}",
        resolution.decisions.links.len(),
        resolution.decisions.reviews.len(),
        resolution.decisions.apart,
        resolution.clustering.flagged.len()
    );
    println!(
        "  pairwise  {}",
        show(&pairwise(&resolution.clustering.labels, truth))
    );
    println!(
        "  B-cubed   {}",
        show(&b_cubed(&resolution.clustering.labels, truth))
    );
    let timings = &resolution.timings;
    println!(
        "  time {:.3} s blocking to clusters, training included (blocking {:.3}, compare {:.3}, training {:.3}, decide {:.3}, cluster {:.3})",
        timings.total().as_secs_f64(),
        timings.blocking.as_secs_f64(),
        timings.compare.as_secs_f64(),
        timings.training.as_secs_f64(),
        timings.decide.as_secs_f64(),
        timings.cluster.as_secs_f64()
    );
}

/// Applies one random edit (substitute, insert, delete, swap neighbours)
/// at a random character position.
fn typo(rng: &mut SeededRng, value: &str, alphabet: &[char]) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    if chars.is_empty() {
        return value.to_string();
    }
    let at = rng.below(chars.len() as u64) as usize;
    let letter = alphabet[rng.below(alphabet.len() as u64) as usize];
    match rng.below(4) {
        0 => chars[at] = letter,
        1 => chars.insert(at, letter),
        2 if chars.len() > 1 => {
            chars.remove(at);
        }
        _ if at + 1 < chars.len() => chars.swap(at, at + 1),
        _ => chars[at] = letter,
    }
    chars.into_iter().collect()
}

/// Synthetic FEBRL-like records built from the values of `febrl`.
struct Synthesizer<'a> {
    febrl: &'a Febrl,
    rng: SeededRng,
    columns: HashMap<&'static str, usize>,
}

const LETTERS: [char; 26] = [
    'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's',
    't', 'u', 'v', 'w', 'x', 'y', 'z',
];
const DIGITS: [char; 10] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
const COLUMNS: [&str; 10] = [
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
];

impl<'a> Synthesizer<'a> {
    fn new(febrl: &'a Febrl, seed: u64) -> Synthesizer<'a> {
        let columns = COLUMNS
            .iter()
            .map(|&name| {
                let position = febrl.header.iter().position(|column| column == name);
                (
                    name,
                    position.unwrap_or_else(|| panic!("FEBRL file has no column `{name}`")),
                )
            })
            .collect();
        Synthesizer {
            febrl,
            rng: SeededRng::new(seed),
            columns,
        }
    }

    /// A value of `column` from a random FEBRL row (non-empty when possible).
    fn pick(&mut self, column: &str) -> String {
        let position = self.columns[column];
        for _ in 0..8 {
            let row = &self.febrl.rows[self.rng.below(self.febrl.rows.len() as u64) as usize];
            if !row[position].is_empty() {
                return row[position].clone();
            }
        }
        String::new()
    }

    /// A new person, values in [`COLUMNS`] order.
    fn person(&mut self, index: u64) -> Vec<String> {
        let place = self.febrl.rows[self.rng.below(self.febrl.rows.len() as u64) as usize].clone();
        let at = |name: &str, columns: &HashMap<&str, usize>| place[columns[name]].clone();
        let year = 1910 + self.rng.below(100);
        let month = 1 + self.rng.below(12);
        let day = 1 + self.rng.below(28);
        vec![
            self.pick("given_name"),
            self.pick("surname"),
            (1 + self.rng.below(400)).to_string(),
            self.pick("address_1"),
            self.pick("address_2"),
            at("suburb", &self.columns),
            at("postcode", &self.columns),
            at("state", &self.columns),
            format!("{year}{month:02}{day:02}"),
            // Distinct per person, scrambled so neighbours do not share digits.
            format!("{:08}", (index.wrapping_mul(2_654_435_761)) % 100_000_000),
        ]
    }

    /// A duplicate of `person` with one to three corrupted fields.
    fn duplicate(&mut self, person: &[String]) -> Vec<String> {
        let mut record = person.to_vec();
        let edits = 1 + self.rng.below(3);
        for _ in 0..edits {
            let field = self.rng.below(COLUMNS.len() as u64) as usize;
            let value = &record[field];
            record[field] = match (COLUMNS[field], self.rng.below(10)) {
                (_, 0) => String::new(),
                ("date_of_birth", 1) if value.len() == 8 => {
                    format!("{}{}{}", &value[..4], &value[6..], &value[4..6])
                }
                ("date_of_birth" | "soc_sec_id" | "postcode" | "street_number", _) => {
                    typo(&mut self.rng, value, &DIGITS)
                }
                ("state", _) => self.pick("state"),
                _ => typo(&mut self.rng, value, &LETTERS),
            };
        }
        record
    }
}

/// `count` synthetic records in config field order, with their entity labels.
fn synthetic_table(febrl: &Febrl, config: &ResolveConfig, count: usize) -> (RecordTable, Vec<u32>) {
    let order: Vec<usize> = config
        .fields
        .iter()
        .map(|field| {
            COLUMNS
                .iter()
                .position(|&column| column == field.name)
                .unwrap_or_else(|| panic!("the synthesizer makes no field `{}`", field.name))
        })
        .collect();
    let mut synthesizer = Synthesizer::new(febrl, 42);
    let mut builder = TableBuilder::new(&config.fields);
    let mut truth = Vec::with_capacity(count);
    let mut entity = 0u32;
    let mut push = |record: &[String], entity: u32, builder: &mut TableBuilder| {
        let values: Vec<FieldValue> = order
            .iter()
            .map(|&column| FieldValue::Text(&record[column]))
            .collect();
        builder
            .push(&values)
            .expect("synthetic record fits the config");
        truth.push(entity);
    };
    let mut made = 0;
    while made < count {
        let person = synthesizer.person(u64::from(entity));
        push(&person, entity, &mut builder);
        made += 1;
        // Duplicates per person: 0 (60%), 1 (25%), 2 (10%), 3 (5%).
        let roll = synthesizer.rng.below(100);
        let duplicates = match roll {
            0..60 => 0,
            60..85 => 1,
            85..95 => 2,
            _ => 3,
        };
        for _ in 0..duplicates {
            if made == count {
                break;
            }
            let record = synthesizer.duplicate(&person);
            push(&record, entity, &mut builder);
            made += 1;
        }
        entity += 1;
    }
    (builder.finish(), truth)
}

fn scale_test(febrl: &Febrl, config: &ResolveConfig, count: usize) {
    let start = Instant::now();
    let (table, truth) = synthetic_table(febrl, config, count);
    println!(
        "== synthetic: {} records, {} entities, generated in {:.2} s, table {:.0} MiB",
        table.len(),
        truth.iter().max().map_or(0, |max| max + 1),
        start.elapsed().as_secs_f64(),
        table.heap_bytes() as f64 / (1024.0 * 1024.0)
    );
    let resolution = resolve(&table, config, &Constraints::default(), Some(&truth));
    report(&resolution, &truth);
    println!(
        "  peak resident memory {:.0} MiB (whole process, generation included)",
        peak_memory_mib()
    );
}

fn main() {
    let config_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/febrl.toml");
    let text = std::fs::read_to_string(&config_path)
        .unwrap_or_else(|error| panic!("{}: {error}", config_path.display()));
    let config = ResolveConfig::from_toml(&text).unwrap_or_else(|errors| {
        panic!(
            "{}: {}",
            config_path.display(),
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    });
    let dir = std::env::var_os("FEBRL_DIR")
        .map_or_else(|| PathBuf::from("/work/shared/data/febrl"), PathBuf::from);
    let only_scale = std::env::var("RESOLVE_ONLY_SCALE").is_ok_and(|value| value == "1");
    if !only_scale {
        for file in ["febrl1.csv", "febrl2.csv"] {
            evaluate_febrl(&dir.join(file), &config);
        }
    }
    let count: usize = std::env::var("RESOLVE_SCALE_RECORDS")
        .ok()
        .map(|value| value.parse().expect("RESOLVE_SCALE_RECORDS is a number"))
        .unwrap_or(1_000_000);
    if count > 0 {
        scale_test(&read_febrl(&dir.join("febrl2.csv")), &config, count);
    }
}
