//! `tierlink segment` and `tierlink report` end to end on a copy of the
//! bundled sample: the dry run shows the transition matrix and applies
//! nothing, a large change is refused without `--force`, and reports read
//! what was applied.

use crate::support::sample_project;
use std::path::Path;
use std::process::{Command, Output};

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

fn json_of(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

/// The sum of every cell of a transition matrix.
fn matrix_total(matrix: &serde_json::Value) -> u64 {
    matrix
        .as_object()
        .expect("a matrix")
        .values()
        .flat_map(|row| row.as_object().expect("a row").values())
        .map(|count| count.as_u64().expect("a count"))
        .sum()
}

#[test]
fn dry_run_shows_the_matrix_and_a_large_change_needs_force() {
    let project = sample_project();
    let dir = project.path();
    let run = json_of(&tierlink(dir, &["run", "--json"]));
    let tiered: u64 = run["tier_distribution"]
        .as_object()
        .unwrap()
        .values()
        .map(|count| count.as_u64().unwrap())
        .sum();
    assert!(tiered > 0);

    // Nothing changed since the run: nothing moves.
    let again = json_of(&tierlink(dir, &["segment", "--json"]));
    assert_eq!(again["moving"], 0);
    assert_eq!(again["written"], 0);
    assert_eq!(matrix_total(&again["transitions"]), tiered);

    // Without the dormant rules, every dormant customer is upgraded: far
    // more than a fifth of the customers.
    let rules = std::fs::read_to_string(dir.join("tiers.toml")).unwrap();
    let start = rules
        .find("[[rule]]\nname = \"valuable customer slipping away\"")
        .unwrap();
    let end = rules
        .find("[[rule]]\nname = \"champions and loyal big spenders\"")
        .unwrap();
    let edited = format!("{}{}", &rules[..start], &rules[end..]);
    std::fs::write(dir.join("tiers.toml"), edited).unwrap();

    let dry = json_of(&tierlink(dir, &["segment", "--dry-run", "--json"]));
    let moving = dry["moving"].as_u64().unwrap();
    assert!(moving as f64 > 0.2 * tiered as f64, "{dry}");
    assert_eq!(dry["applied"], false);
    assert!(dry["transitions"]["dormant-at-risk"]
        .as_object()
        .unwrap()
        .keys()
        .any(|tier| tier != "dormant-at-risk"));
    let text = tierlink(dir, &["segment", "--dry-run"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("current \\ new") && text.contains("dry run: nothing applied"),
        "{text}"
    );

    let refused = tierlink(dir, &["segment"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    let still = json_of(&tierlink(dir, &["segment", "--dry-run", "--json"]));
    assert_eq!(still["moving"], moving, "the refused run applied nothing");

    let forced = json_of(&tierlink(dir, &["segment", "--force", "--json"]));
    assert_eq!(forced["applied"], true);
    assert_eq!(forced["moving"], moving);
    let settled = json_of(&tierlink(dir, &["segment", "--json"]));
    assert_eq!(settled["moving"], 0);

    // The moves are in the migration report, and the distribution adds up.
    let migration = json_of(&tierlink(
        dir,
        &["report", "migration", "--since", "2000-01-01", "--json"],
    ));
    let moves: u64 = migration["migration"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(from, _)| *from != "(none)")
        .flat_map(|(_, row)| row.as_object().unwrap().values())
        .map(|count| count.as_u64().unwrap())
        .sum();
    assert_eq!(moves, moving);
    let tiers = json_of(&tierlink(dir, &["report", "tiers", "--json"]));
    let distributed: u64 = tiers["distribution"]
        .as_object()
        .unwrap()
        .values()
        .map(|count| count.as_u64().unwrap())
        .sum();
    assert_eq!(distributed, tiered);
    let outcomes = json_of(&tierlink(dir, &["report", "outcomes", "--json"]));
    let high = &outcomes["tiers"]["high-value"];
    assert!(
        high["avg_customer_value"].as_f64().unwrap() > 0.0,
        "{outcomes}"
    );
    let rate = high["repeat_purchase_rate"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&rate));
}

#[test]
fn a_broken_segment_table_is_reported_with_the_field() {
    let project = sample_project();
    let dir = project.path();
    let rules = std::fs::read_to_string(dir.join("tiers.toml")).unwrap();
    let broken = rules.replace("max_change_share = 0.2", "max_change_share = 2.0");
    assert_ne!(rules, broken);
    std::fs::write(dir.join("tiers.toml"), broken).unwrap();
    let output = tierlink(dir, &["segment", "--dry-run"]);
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("segment.max_change_share"), "{text}");
}
