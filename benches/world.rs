//! Entity resolution on a generated multi-source world, against its truth.
//!
//! `cargo bench --bench world` (release build). `WORLD_CUSTOMERS` (default
//! 100,000) true customers, seed `WORLD_SEED` (default 1), go once through
//! the demo (generator, simulators, ERP database, the preset connectors and
//! mappings, a full pipeline run) into `WORLD_DIR` (default
//! `target/bench-world/<customers>-<seed>`); later runs reuse that store.
//!
//! Then the stored source records are resolved from scratch with the
//! built-in customer matching config (no steward decisions), timed phase
//! by phase, and scored against `truth/records.csv`: pairwise and B-cubed
//! precision, recall and F1 over every source record the truth names.
//!
//! `WORLD_DECISIONS=1` then times steward decisions on a copy of the
//! store: a full resolution pass, and a merge and its undo as the service
//! takes them (the first decision builds the resolution index with a full
//! pass, the next resolves through it).
//!
//! `WORLD_LEVELS=1` prints, per field level, the share of true pairs and
//! of random pairs at it beside the config's m and u.
//!
//! `WORLD_MATCHING=<file>` resolves with that matching config instead (a
//! project's `matching.toml`). `WORLD_MISSES=n` also prints n missed pairs (one customer, kept apart)
//! and n wrong pairs (two customers, joined), with both records' match
//! fields and, where the pair was scored, each field's weight: the way to
//! see what the matcher gets wrong.

#[path = "support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::NaiveDate;
use indicatif::ProgressBar;
use support::{env_number, peak_memory_mib};
use tierlink::demo::{self, DemoOptions};
use tierlink::model::Party;
use tierlink::resolve::cluster::Constraints as EngineConstraints;
use tierlink::resolve::compare::{compare_pairs, MISSING_LEVEL};
use tierlink::resolve::config::ResolveConfig;
use tierlink::resolve::engine;
use tierlink::resolve::frequency::TermFrequencies;
use tierlink::resolve::metrics::{b_cubed, pairwise, Scores};
use tierlink::resolve::parties::{
    customer_config, match_fields, parse_matching, party_scores, party_table, score_parties,
    MatchFields,
};
use tierlink::resolve::rng::SeededRng;
use tierlink::steward::constraints::cluster_scored;
use tierlink::steward::{resolve_customers, Constraints, ResolutionRules, SharedIndex, Steward};

/// (system, source id) -> true customer id, from `truth/records.csv`.
fn read_truth(world: &Path) -> HashMap<(String, String), String> {
    let path = world.join("truth/records.csv");
    let mut reader =
        csv::Reader::from_path(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    reader
        .records()
        .map(|row| {
            let row = row.unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            ((row[0].to_string(), row[2].to_string()), row[3].to_string())
        })
        .collect()
}

/// Runs the demo into `dir` unless its store is already there.
fn ensure_store(dir: &Path, customers: u64, seed: u64) {
    let done = dir.join("resolved");
    if done.exists() {
        return;
    }
    let options = DemoOptions {
        dir: dir.to_path_buf(),
        customers,
        seed,
        as_of: NaiveDate::from_ymd_opt(2026, 11, 1).expect("a date"),
        credential_prefix: String::new(),
    };
    let started = Instant::now();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let run = runtime
        .block_on(demo::run(&options, &ProgressBar::hidden()))
        .expect("the demo runs");
    println!(
        "demo run (generate, sync, map, resolve, tier, push): {} source records in {:.0} s; \
         the pipeline's own score: P {:.4} R {:.4}",
        run.report.parties,
        started.elapsed().as_secs_f64(),
        run.truth.precision,
        run.truth.recall
    );
    drop(run);
    std::fs::write(&done, "").expect("marker");
}

async fn load_parties(dir: &Path) -> Vec<Party> {
    let store = tierlink::store::open("sqlite://tierlink.db", dir)
        .await
        .expect("the demo store");
    tierlink::steward::stored_parties(store.as_ref())
        .await
        .expect("parties")
}

fn show(scores: &Scores) -> String {
    format!(
        "{:.4} / {:.4} / {:.4}",
        scores.precision, scores.recall, scores.f1
    )
}

/// Times a full resolution pass and two steward decisions through the
/// service's index, on a copy of the store in `dir`.
async fn time_decisions(dir: &Path) {
    let copy = tempfile::tempdir().expect("a temp dir");
    std::fs::copy(dir.join("tierlink.db"), copy.path().join("tierlink.db")).expect("copy");
    let store = tierlink::store::open("sqlite://tierlink.db", copy.path())
        .await
        .expect("the copied store");
    let rules = ResolutionRules::default();
    let started = Instant::now();
    let full = resolve_customers(store.as_ref(), &rules)
        .await
        .expect("full pass");
    println!(
        "\nfull resolution pass over {} records: {:.1} s ({} changes)",
        full.parties,
        started.elapsed().as_secs_f64(),
        full.changes.links
    );
    let index = SharedIndex::default();
    let steward = Steward {
        store: store.as_ref(),
        rules: &rules,
        actor: "bench",
        index: Some(&index),
    };
    let ids: Vec<String> = store
        .golden_customers()
        .await
        .expect("customers")
        .into_iter()
        .take(2)
        .map(|customer| customer.golden_id)
        .collect();
    let started = Instant::now();
    let merge = steward.merge(&ids, None).await.expect("merge");
    println!(
        "first decision (merge; builds the index with a full pass): {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    steward.undo(merge.decision.id, None).await.expect("undo");
    println!(
        "next decision (undo the merge, through the index): {:.2} s",
        started.elapsed().as_secs_f64()
    );
}

/// What the oracle of [`evidence_ceiling`] may join records through, each
/// kind including the ones before it.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Evidence {
    /// A mobile, an e-mail key, a credit code, a unionid, an account, an order.
    Identifiers,
    /// A street and house number too.
    Streets,
    /// A name key no other customer's record holds too: a name that,
    /// in this data, tells its holder apart.
    UnsharedNames,
    /// Any name key too.
    Names,
}

/// Pairwise recall of an oracle that knows the truth but may only join two
/// records of one customer that share a value of the `evidence` kinds,
/// directly or through a chain of such records: how much of the truth the
/// data can show at all.
fn evidence_ceiling(parties: &[&Party], truth: &[u32], evidence: Evidence) -> f64 {
    let mut parent: Vec<usize> = (0..parties.len()).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let fields: Vec<MatchFields> = parties.iter().map(|party| match_fields(party)).collect();
    // Name key -> the customer holding it, or None once a second does.
    let mut name_holder: HashMap<&str, Option<u32>> = HashMap::new();
    for (index, fields) in fields.iter().enumerate() {
        for key in &fields.name {
            name_holder
                .entry(key.as_str())
                .and_modify(|holder| {
                    if *holder != Some(truth[index]) {
                        *holder = None;
                    }
                })
                .or_insert(Some(truth[index]));
        }
    }
    let mut first_holder: HashMap<(u32, String), usize> = HashMap::new();
    for (index, fields) in fields.iter().enumerate() {
        let mut values: Vec<String> = fields
            .mobile
            .iter()
            .chain(&fields.email)
            .cloned()
            .chain(fields.uscc.clone())
            .chain(fields.unionid.clone())
            .chain(fields.account.clone())
            .chain(fields.order.iter().cloned())
            .collect();
        if evidence >= Evidence::Streets {
            values.extend(fields.street.iter().map(|key| format!("street:{key}")));
        }
        if evidence >= Evidence::UnsharedNames {
            values.extend(
                fields
                    .name
                    .iter()
                    .filter(|key| {
                        evidence == Evidence::Names || name_holder[key.as_str()].is_some()
                    })
                    .map(|key| format!("name:{key}")),
            );
        }
        for value in values {
            let holder = *first_holder.entry((truth[index], value)).or_insert(index);
            let (a, b) = (find(&mut parent, holder), find(&mut parent, index));
            parent[a] = b;
        }
    }
    let labels: Vec<u32> = (0..parties.len())
        .map(|index| find(&mut parent, index) as u32)
        .collect();
    pairwise(&labels, truth).recall
}

/// Which match fields two parties both have, and whether they agree:
/// `name= mobile≠ city=`.
fn agreeing_fields(a: &Party, b: &Party) -> String {
    let (a, b) = (match_fields(a), match_fields(b));
    let sets = [
        ("name", &a.name, &b.name),
        ("mobile", &a.mobile, &b.mobile),
        ("landline", &a.landline, &b.landline),
        ("email", &a.email, &b.email),
    ];
    let mut out = Vec::new();
    for (name, x, y) in sets {
        if !x.is_empty() && !y.is_empty() {
            let agree = x.iter().any(|value| y.contains(value));
            out.push(format!("{name}{}", if agree { "=" } else { "≠" }));
        }
    }
    for (name, x, y) in [
        ("company", &a.company, &b.company),
        ("city", &a.city, &b.city),
        ("street", &a.street, &b.street),
    ] {
        if let (Some(x), Some(y)) = (x, y) {
            out.push(format!("{name}{}", if x == y { "=" } else { "≠" }));
        }
    }
    if a.kind != b.kind {
        out.push("kinds differ".to_string());
    }
    out.join(" ")
}

/// Prints both parties' match fields and, if the pair is a candidate,
/// each field's contribution.
fn explain_pair(a: &Party, b: &Party, matching: &ResolveConfig) {
    for party in [a, b] {
        println!(
            "    {}/{} {:?} {:?}",
            party.connector,
            party.source_id,
            party.name.as_deref().unwrap_or(""),
            match_fields(party)
        );
    }
    let scores = score_parties(&[a.clone(), b.clone()], matching);
    match scores.links.iter().chain(&scores.reviews).next() {
        Some(pair) => {
            let fields: Vec<String> = pair
                .explanation
                .fields
                .iter()
                .map(|field| format!("{} {} {:+.1}", field.field, field.level, field.weight))
                .collect();
            println!(
                "    p {:.4}: {}",
                pair.explanation.probability,
                fields.join(", ")
            );
        }
        None => println!("    below review, or not a candidate pair"),
    }
}

fn main() {
    let customers = env_number("WORLD_CUSTOMERS", 100_000);
    let seed = env_number("WORLD_SEED", 1);
    let misses = env_number("WORLD_MISSES", 0) as usize;
    let dir = std::env::var_os("WORLD_DIR").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("target/bench-world")
                .join(format!("{customers}-{seed}"))
        },
        PathBuf::from,
    );
    ensure_store(&dir, customers, seed);
    let truth_of = read_truth(&dir.join("world"));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let parties = runtime.block_on(load_parties(&dir));
    let before = peak_memory_mib();

    let matching = match std::env::var_os("WORLD_MATCHING") {
        Some(path) => {
            let text = std::fs::read_to_string(&path).expect("WORLD_MATCHING is readable");
            parse_matching(&text).unwrap_or_else(|problems| panic!("{problems:?}"))
        }
        None => customer_config().clone(),
    };
    // What `cluster_with_constraints` does, step by step, to time each.
    let started = Instant::now();
    let table = party_table(&parties, &matching);
    let normalized = started.elapsed().as_secs_f64();
    let engine_run = engine::resolve(&table, &matching, &EngineConstraints::default(), None);
    let scored = Instant::now();
    let scores = party_scores(&engine_run, &parties, &matching);
    let explained = scored.elapsed().as_secs_f64();
    let joined = Instant::now();
    let resolution = cluster_scored(&parties, &Constraints::default(), &scores);
    let grouped = joined.elapsed().as_secs_f64();
    let seconds = started.elapsed().as_secs_f64();
    let phases = &engine_run.timings;

    let position: HashMap<(&str, &str), usize> = parties
        .iter()
        .enumerate()
        .map(|(index, party)| ((party.connector.as_str(), party.source_id.as_str()), index))
        .collect();
    let mut cluster_of = vec![u32::MAX; parties.len()];
    for (label, cluster) in resolution.clusters.iter().enumerate() {
        for member in &cluster.members {
            cluster_of[position[&(member.connector.as_str(), member.source_id.as_str())]] =
                label as u32;
        }
    }
    let mut true_ids: HashMap<&str, u32> = HashMap::new();
    let (mut predicted, mut truth, mut known) = (Vec::new(), Vec::new(), Vec::new());
    for (index, party) in parties.iter().enumerate() {
        let key = (party.connector.clone(), party.source_id.clone());
        if let Some(customer) = truth_of.get(&key) {
            let next = true_ids.len() as u32;
            truth.push(*true_ids.entry(customer.as_str()).or_insert(next));
            predicted.push(cluster_of[index]);
            known.push(index);
        }
    }
    println!(
        "{} source records ({} named by the truth, {} true customers) -> {} golden customers, \
         {} review pairs",
        parties.len(),
        known.len(),
        true_ids.len(),
        resolution.clusters.len(),
        resolution.reviews.len()
    );
    println!(
        "resolution from scratch: {seconds:.2} s, peak memory {:.0} MiB (parties loaded: {before:.0} MiB)",
        peak_memory_mib()
    );
    println!(
        "  match fields {normalized:.2} s, blocking {:.2} s ({} candidate pairs), compare {:.2} s, \
         training {:.2} s, decide {:.2} s, engine clusters {:.2} s, explained links {explained:.2} s, \
         customers {grouped:.2} s",
        phases.blocking.as_secs_f64(),
        engine_run.blocking.candidate_pairs,
        phases.compare.as_secs_f64(),
        phases.training.as_secs_f64(),
        phases.decide.as_secs_f64(),
        phases.cluster.as_secs_f64(),
    );
    println!(
        "pairwise P / R / F1: {}",
        show(&pairwise(&predicted, &truth))
    );
    println!(
        "B-cubed  P / R / F1: {}",
        show(&b_cubed(&predicted, &truth))
    );

    let known_parties: Vec<&Party> = known.iter().map(|&index| &parties[index]).collect();
    println!(
        "ceiling: a linker that never errs and joins a customer's records only through a shared \
         mobile, e-mail, strong id or order reaches pairwise recall {:.4}; through a shared street \
         address too, {:.4}; through a name no other customer holds too, {:.4}; through any \
         shared name too, {:.4}",
        evidence_ceiling(&known_parties, &truth, Evidence::Identifiers),
        evidence_ceiling(&known_parties, &truth, Evidence::Streets),
        evidence_ceiling(&known_parties, &truth, Evidence::UnsharedNames),
        evidence_ceiling(&known_parties, &truth, Evidence::Names)
    );

    if env_number("WORLD_LEVELS", 0) == 1 {
        print_levels(&known_parties, &truth, &matching);
    }
    if env_number("WORLD_DECISIONS", 0) == 1 {
        runtime.block_on(time_decisions(&dir));
    }
    if misses > 0 {
        print_examples(&parties, &known, &predicted, &truth, misses, &matching);
    }
}

/// Per scored field and level, the share of the true pairs (every pair of
/// records of one customer) and of 1,000,000 random record pairs at that
/// level, beside the config's m and u: what fixed m and u should be on
/// this world.
fn print_levels(parties: &[&Party], truth: &[u32], matching: &ResolveConfig) {
    let owned: Vec<Party> = parties.iter().map(|party| (*party).clone()).collect();
    let table = party_table(&owned, matching);
    let mut members: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (index, customer) in truth.iter().enumerate() {
        members.entry(*customer).or_default().push(index as u32);
    }
    let mut true_pairs = Vec::new();
    for records in members.values() {
        for (at, &a) in records.iter().enumerate() {
            true_pairs.extend(records[at + 1..].iter().map(|&b| (a, b)));
        }
    }
    let mut rng = SeededRng::new(7);
    let count = owned.len() as u64;
    let random_pairs: Vec<(u32, u32)> = (0..1_000_000)
        .map(|_| (rng.below(count) as u32, rng.below(count) as u32))
        .filter(|(a, b)| a != b && truth[*a as usize] != truth[*b as usize])
        .collect();
    let no_frequencies = TermFrequencies::new(matching);
    let shares = |pairs: &[(u32, u32)]| {
        let vectors = compare_pairs(&table, matching, &no_frequencies, pairs);
        let mut counts: BTreeMap<(usize, u8), usize> = BTreeMap::new();
        for row in 0..vectors.len() {
            for (slot, &field) in vectors.fields.iter().enumerate() {
                *counts.entry((field, vectors.row(row)[slot])).or_default() += 1;
            }
        }
        (counts, vectors.len().max(1) as f64)
    };
    let ((m_counts, m_total), (u_counts, u_total)) = (shares(&true_pairs), shares(&random_pairs));
    println!(
        "\nlevels: share of {} true pairs (m) and {} random pairs (u), config's in brackets",
        true_pairs.len(),
        random_pairs.len()
    );
    for (index, field) in matching.fields.iter().enumerate() {
        for (level, spec) in field.levels.iter().enumerate() {
            let share = |counts: &BTreeMap<(usize, u8), usize>, total: f64| {
                counts.get(&(index, level as u8)).copied().unwrap_or(0) as f64 / total
            };
            println!(
                "  {:<9} {:<28} m {:.5} ({:?})  u {:.5} ({:?})",
                field.name,
                spec.test.label(),
                share(&m_counts, m_total),
                spec.m,
                share(&u_counts, u_total),
                spec.u
            );
        }
        let missing = |counts: &BTreeMap<(usize, u8), usize>, total: f64| {
            counts.get(&(index, MISSING_LEVEL)).copied().unwrap_or(0) as f64 / total
        };
        if !field.levels.is_empty() {
            println!(
                "  {:<9} {:<28} m {:.5}  u {:.5}",
                field.name,
                "missing",
                missing(&m_counts, m_total),
                missing(&u_counts, u_total)
            );
        }
    }
}

/// For the missed pairs whose records share a name and no other value
/// either has: how many other customers' records hold that name too. A
/// matcher that linked them on the name alone would choose among that
/// many customers.
fn print_namesakes(parties: &[Party], known: &[usize], truth: &[u32], missed: &[(usize, usize)]) {
    let names: Vec<Vec<String>> = known
        .iter()
        .map(|&index| match_fields(&parties[index]).name)
        .collect();
    let mut holders: HashMap<&str, Vec<u32>> = HashMap::new();
    for (row, keys) in names.iter().enumerate() {
        for key in keys {
            holders.entry(key.as_str()).or_default().push(truth[row]);
        }
    }
    let mut others: Vec<usize> = missed
        .iter()
        .filter(|&&(x, y)| agreeing_fields(&parties[known[x]], &parties[known[y]]) == "name=")
        .map(|&(x, y)| {
            let mut customers: Vec<u32> = names[x]
                .iter()
                .filter(|key| names[y].contains(key))
                .flat_map(|key| holders[key.as_str()].iter().copied())
                .filter(|&customer| customer != truth[x])
                .collect();
            customers.sort_unstable();
            customers.dedup();
            customers.len()
        })
        .collect();
    if others.is_empty() {
        return;
    }
    others.sort_unstable();
    let shared = others.iter().filter(|&&count| count > 0).count();
    println!(
        "  of the {} that share a name and nothing else, {shared} share it with another \
         customer's record too; other customers holding it: median {}, 90th percentile {}",
        others.len(),
        others[others.len() / 2],
        others[others.len() * 9 / 10],
    );
}

/// Prints up to `count` missed and `count` wrong pairs, spread over the
/// records, with the systems involved counted for all of them.
fn print_examples(
    parties: &[Party],
    known: &[usize],
    predicted: &[u32],
    truth: &[u32],
    count: usize,
    matching: &ResolveConfig,
) {
    let mut by_true: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    let mut by_cluster: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (row, (&cluster, &customer)) in predicted.iter().zip(truth).enumerate() {
        by_true.entry(customer).or_default().push(row);
        by_cluster.entry(cluster).or_default().push(row);
    }
    let pair_kinds = |rows: &[usize], same: &dyn Fn(usize, usize) -> bool| {
        let mut found = Vec::new();
        for (i, &x) in rows.iter().enumerate() {
            for &y in &rows[i + 1..] {
                if !same(x, y) {
                    found.push((x, y));
                }
            }
        }
        found
    };
    let missed: Vec<(usize, usize)> = by_true
        .values()
        .flat_map(|rows| pair_kinds(rows, &|x, y| predicted[x] == predicted[y]))
        .collect();
    let wrong: Vec<(usize, usize)> = by_cluster
        .values()
        .flat_map(|rows| pair_kinds(rows, &|x, y| truth[x] == truth[y]))
        .collect();
    for (title, pairs) in [("missed", &missed), ("wrong", &wrong)] {
        let mut systems: BTreeMap<String, usize> = BTreeMap::new();
        for &(x, y) in pairs.iter() {
            let (a, b) = (&parties[known[x]], &parties[known[y]]);
            let mut names = [
                format!("{}:{}", a.connector, a.kind.as_str()),
                format!("{}:{}", b.connector, b.kind.as_str()),
            ];
            names.sort();
            *systems.entry(names.join(" + ")).or_default() += 1;
        }
        println!("\n{} {title} pairs by systems and kinds:", pairs.len());
        for (names, pairs) in &systems {
            println!("  {pairs:>7}  {names}");
        }
        let mut agreements: BTreeMap<String, usize> = BTreeMap::new();
        for &(x, y) in pairs.iter() {
            let pair = agreeing_fields(&parties[known[x]], &parties[known[y]]);
            *agreements.entry(pair).or_default() += 1;
        }
        let mut agreements: Vec<(String, usize)> = agreements.into_iter().collect();
        agreements.sort_by_key(|(_, pairs)| std::cmp::Reverse(*pairs));
        println!("  by the fields both records have (=: agree, ≠: differ):");
        for (fields, pairs) in agreements.iter().take(25) {
            println!("  {pairs:>7}  {fields}");
        }
        if title == "missed" {
            print_namesakes(parties, known, truth, pairs);
        }
        let step = (pairs.len() / count.max(1)).max(1);
        for &(x, y) in pairs.iter().step_by(step).take(count) {
            println!("  {title}:");
            explain_pair(&parties[known[x]], &parties[known[y]], matching);
        }
    }
}
