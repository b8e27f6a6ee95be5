//! From a million customer source records to golden customers.
//!
//! `cargo bench --bench golden` (release build). `GOLDEN_RECORDS` (default
//! 1,000,000) records made from the world generator's true customers
//! (`support/customers.rs`) go through what a pipeline run does in memory
//! between reading the parties and writing the result: match fields into a
//! table, blocking, comparison, λ, decisions, explained links, clustering
//! under (no) steward constraints with each member's evidence, then golden
//! ids and survivorship against an empty store, drawn a slice of customers
//! at a time as a pipeline run stores them. Each step's time and the
//! process's peak memory so far are printed; the total is the goal's
//! "blocking to golden records, training included". With `GOLDEN_RERUN=1`
//! the pass is run again against what the first one wrote, as a re-run of
//! the pipeline on unchanged records plans against the stored golden state.

#[path = "support/customers.rs"]
mod customers;
#[path = "support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::Utc;
use customers::first_records;
use support::{env_number, peak_memory_mib};
use tierlink::golden::{
    plan_golden, CurrentGolden, CustomerState, LinkState, SurvivorshipRules, PLAN_SLICE,
};
use tierlink::model::Party;
use tierlink::resolve::cluster::Constraints as PairConstraints;
use tierlink::resolve::engine::resolve;
use tierlink::resolve::metrics::{b_cubed, pairwise, Scores};
use tierlink::resolve::parties::{customer_config, party_scores, party_table};
use tierlink::steward::constraints::cluster_scored;
use tierlink::steward::Constraints;
use tierlink::store::{GoldenIdRecord, ResolutionChanges, ResolvedCluster};

fn main() {
    let total = env_number("GOLDEN_RECORDS", 1_000_000);
    let rerun = env_number("GOLDEN_RERUN", 0) == 1;
    let started = Instant::now();
    let (parties, customers) = first_records(total);
    println!(
        "{} records of {customers} customers made in {:.1} s; peak memory {:.0} MiB",
        parties.len(),
        started.elapsed().as_secs_f64(),
        peak_memory_mib()
    );
    let pins = BTreeMap::new();
    let mut stored = Stored::default();
    let empty = CurrentGolden {
        links: &[],
        customers: &[],
        ids: &[],
        pins: &pins,
    };
    pass(&parties, empty, |slice| {
        if rerun {
            stored.keep(slice);
        }
    });
    if rerun {
        println!(
            "\nagain, against a store holding that result ({} customers, {} links; peak memory so far {:.0} MiB):",
            stored.customers.len(),
            stored.links.len(),
            peak_memory_mib()
        );
        let current = CurrentGolden {
            links: &stored.links,
            customers: &stored.customers,
            ids: &stored.ids,
            pins: &pins,
        };
        pass(&parties, current, |_| {});
    }
}

/// What a store would hold after a pass.
#[derive(Default)]
struct Stored {
    customers: Vec<CustomerState>,
    links: Vec<LinkState>,
    ids: Vec<GoldenIdRecord>,
}

impl Stored {
    fn keep(&mut self, slice: ResolutionChanges) {
        self.ids
            .extend(slice.upserted.iter().map(|customer| GoldenIdRecord {
                golden_id: customer.golden_id.clone(),
                status: "active".into(),
                merged_into: None,
                created_at: Utc::now(),
            }));
        self.customers
            .extend(slice.upserted.iter().map(CustomerState::of));
        self.links.extend(slice.links.iter().map(LinkState::of));
    }
}

/// One resolution pass over `parties` against `current`, each step timed;
/// every planned slice goes to `store`.
fn pass(parties: &[Party], current: CurrentGolden<'_>, mut store: impl FnMut(ResolutionChanges)) {
    let config = customer_config();
    let mut steps: Vec<(&str, f64)> = Vec::new();
    let mut clock = Instant::now();
    // A step's time and the peak memory so far; steps that only check
    // the result are shown but not counted.
    let mut lap = |step: &'static str, counted: bool| {
        let seconds = clock.elapsed().as_secs_f64();
        println!(
            "{step:<40} {seconds:>6.2} s   peak memory {:>6.0} MiB",
            peak_memory_mib()
        );
        if counted {
            steps.push((step, seconds));
        }
        clock = Instant::now();
    };
    let table = party_table(parties, config);
    lap("match fields into a table", true);
    let resolution = resolve(&table, config, &PairConstraints::default(), None);
    let timings = resolution.timings;
    lap("blocking, comparison, training, decisions", true);
    for (phase, time) in [
        ("blocking", timings.blocking),
        ("comparison", timings.compare),
        ("training", timings.training),
        ("decisions", timings.decide),
        ("engine clustering", timings.cluster),
    ] {
        println!("  {phase:<38} {:>6.2} s", time.as_secs_f64());
    }
    for rule in &resolution.blocking.rules {
        println!(
            "  rule {:<14} {:>9} pairs, {:>9} new, {:>7} blocks, {} skipped for size",
            rule.name,
            rule.pairs,
            rule.new_pairs,
            rule.blocks,
            rule.oversized.len()
        );
    }
    println!(
        "  {} candidate pairs, {} links, {} review pairs",
        resolution.blocking.candidate_pairs,
        resolution.decisions.links.len(),
        resolution.decisions.reviews.len()
    );
    let scores = party_scores(&resolution, parties, config);
    drop(resolution);
    drop(table);
    lap("explained links, strongest first", true);
    let resolved = cluster_scored(parties, &Constraints::default(), &scores);
    drop(scores);
    lap("clusters with evidence", true);
    let (pairwise_scores, b_cubed_scores) = against_truth(parties, &resolved.clusters);
    println!(
        "  against the true customers: pairwise P / R / F1 {:.4} / {:.4} / {:.4}, B-cubed F1 {:.4}",
        pairwise_scores.precision, pairwise_scores.recall, pairwise_scores.f1, b_cubed_scores.f1
    );
    lap("(scoring against the truth, not counted)", false);
    // Drawn a slice at a time and handed on, as a pipeline run hands each
    // slice to the store's one transaction.
    let (mut upserted, mut links) = (0, 0);
    for slice in plan_golden(
        resolved.clusters,
        parties,
        current,
        &SurvivorshipRules::default(),
        PLAN_SLICE,
    ) {
        upserted += slice.upserted.len();
        links += slice.links.len();
        store(slice);
    }
    lap("golden ids and survivorship", true);
    let seconds: f64 = steps.iter().map(|(_, seconds)| seconds).sum();
    println!(
        "{} records: {} golden customers and {} links written in {seconds:.1} s; peak memory {:.0} MiB",
        parties.len(),
        upserted,
        links,
        peak_memory_mib()
    );
}

/// Pairwise and B-cubed scores of `clusters` against the true customers:
/// every record's source id names its true customer (a shop account's as
/// `<customer>-<account>`).
fn against_truth(parties: &[Party], clusters: &[ResolvedCluster]) -> (Scores, Scores) {
    let position: HashMap<(&str, &str), usize> = parties
        .iter()
        .enumerate()
        .map(|(index, party)| ((party.connector.as_str(), party.source_id.as_str()), index))
        .collect();
    let mut predicted = vec![0u32; parties.len()];
    for (label, cluster) in clusters.iter().enumerate() {
        for member in &cluster.members {
            predicted[position[&(member.connector.as_str(), member.source_id.as_str())]] =
                label as u32;
        }
    }
    let mut customers: HashMap<&str, u32> = HashMap::new();
    let truth: Vec<u32> = parties
        .iter()
        .map(|party| {
            let customer = match party.connector.as_str() {
                "shop" => party
                    .source_id
                    .rsplit_once('-')
                    .map_or(party.source_id.as_str(), |(customer, _)| customer),
                _ => party.source_id.as_str(),
            };
            let next = customers.len() as u32;
            *customers.entry(customer).or_insert(next)
        })
        .collect();
    (pairwise(&predicted, &truth), b_cubed(&predicted, &truth))
}
