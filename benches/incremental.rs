//! Incremental resolution against a million records.
//!
//! `cargo bench --bench incremental` (release build). Source records are
//! made from the world generator's true customers (seed 5): an ERP record
//! (hanzi name, mobile, e-mail, employer), often a shop record (pinyin name,
//! e-mail) and sometimes a WeCom record (name, mobile), until there are
//! `INCREMENTAL_RECORDS` (default 1,000,000). The index is built over all of
//! them with the built-in customer config; then one change of
//! `INCREMENTAL_CHANGES` (default 10,000) records arrives: half new records
//! (new customers, and new shop accounts of known ones), half edits of
//! known records (a new mobile or e-mail). The change is timed; then a full
//! run over the final records checks that both give the same customers.

#[path = "support/customers.rs"]
mod customers;
#[path = "support/mod.rs"]
mod support;

use std::time::Instant;

use customers::{first_records, records_of, shop_record};
use support::{env_number, peak_memory_mib};
use tierlink::model::Party;
use tierlink::resolve::parties::customer_config;
use tierlink::steward::incremental::ResolutionIndex;
use tierlink::steward::{cluster_with_constraints, Constraints};

fn main() {
    let total = env_number("INCREMENTAL_RECORDS", 1_000_000);
    let changes = env_number("INCREMENTAL_CHANGES", 10_000);
    let config = customer_config();

    let started = Instant::now();
    let (records, next_customer) = first_records(total);
    println!(
        "{} records of {next_customer} customers made in {:.1} s",
        records.len(),
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let mut index = ResolutionIndex::build(&records, &Constraints::default(), config);
    let (links, reviews, never, blocks) = index.sizes();
    println!(
        "index built (blocking, scoring, clustering all records): {:.1} s, {} customers, \
         {links} links, {reviews} review pairs, {never} never-links, {blocks} blocks; peak memory {:.0} MiB",
        started.elapsed().as_secs_f64(),
        index.customers().len(),
        peak_memory_mib()
    );

    // Half new records, half edits of records already resolved.
    let mut upserts: Vec<Party> = Vec::with_capacity(changes);
    let mut customer = next_customer;
    while upserts.len() < changes / 4 {
        upserts.extend(records_of(customer));
        customer += 1;
    }
    let mut known = 0u64;
    while upserts.len() < changes / 2 {
        let person = customers::customer(known * 97 % next_customer);
        upserts.push(shop_record(&person, 1));
        known += 1;
    }
    let step = records.len() / (changes - upserts.len()).max(1);
    let mut edited: Vec<Party> = records
        .iter()
        .step_by(step.max(1))
        .take(changes - upserts.len())
        .cloned()
        .collect();
    for (position, record) in edited.iter_mut().enumerate() {
        if position % 2 == 0 {
            record.phones = vec![format!("139{:08}", position)];
        } else {
            record.emails = vec![format!("changed{position}@example.com")];
        }
    }
    upserts.extend(edited);

    let started = Instant::now();
    let outcome = index.apply(&upserts, &[]);
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} changed records ({} new) resolved incrementally in {seconds:.3} s: {} records reached, \
         {} customers recomputed; peak memory {:.0} MiB",
        upserts.len(),
        changes / 2,
        outcome.reached,
        outcome.resolution.clusters.len(),
        peak_memory_mib()
    );

    let mut final_records: std::collections::BTreeMap<_, Party> = records
        .into_iter()
        .map(|party| (party.key(), party))
        .collect();
    for party in upserts {
        final_records.insert(party.key(), party);
    }
    let parties: Vec<Party> = final_records.into_values().collect();
    let started = Instant::now();
    let full = cluster_with_constraints(&parties, &Constraints::default(), config);
    let mut full_customers: Vec<_> = full
        .clusters
        .into_iter()
        .map(|cluster| cluster.members)
        .collect();
    full_customers.sort();
    println!(
        "full run over the final {} records: {:.1} s; same customers as incremental: {}",
        parties.len(),
        started.elapsed().as_secs_f64(),
        full_customers == index.customers()
    );
}
