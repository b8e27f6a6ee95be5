//! Human-readable summaries printed by the CLI.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::config::Project;
use crate::pipeline::RunReport;
use crate::store::{Backend, Store, StoreStatus};

/// What `validate` found when everything is fine.
pub fn project_summary(project: &Project) -> String {
    let mut text = format!(
        "{}: configuration is valid\n",
        project.config_file.display()
    );
    for connector in &project.connectors {
        let _ = writeln!(
            text,
            "  connector {} ({}): streams {}",
            connector.id,
            connector.kind,
            connector.source.streams().join(", ")
        );
    }
    let _ = write!(
        text,
        "  {} mapping(s), {} tier(s), {} rule(s), rules version {}",
        project.mappings.len(),
        project.tiers.tiers.len(),
        project.tiers.rules.len(),
        project.tiers.version
    );
    text
}

/// The summary of one run, ending with the tier summary.
pub fn run_summary(project: &Project, store: &dyn Store, report: &RunReport) -> String {
    let mut text = format!(
        "tierlink run #{} on {}\n",
        report.run_id,
        backend_name(store.backend())
    );
    if !report.changed_anything() && report.succeeded() {
        text.push_str(
            "Nothing changed since the last run: no new or changed records, tiers or labels.\n",
        );
    }
    write_sync_lines(&mut text, report);
    let _ = writeln!(
        text,
        "  resolve  {} source records -> {} golden customers ({} new or changed, {} links changed, {} merged)",
        report.parties, report.golden_customers, report.golden_changed, report.links_changed, report.merged
    );
    let _ = writeln!(
        text,
        "  tiers    {} customers changed tier (rules version {})",
        report.tiers_changed, project.tiers.version
    );
    if report.push.is_empty() {
        let _ = writeln!(text, "  push     no connector has a [push] sink");
    }
    for sink in &report.push {
        let _ = writeln!(text, "  push     {}", sink_line(sink));
        for error in &sink.errors {
            let _ = writeln!(text, "  FAILED   {}: {error}", sink.connector);
        }
    }
    if let Some(events) = &report.events {
        let _ = write!(text, "  events   {}", events_lines(events));
    }
    text.push('\n');
    text.push_str(&tier_table(project, &report.tier_distribution));
    text
}

/// What the tier-event relay did: a line, and one more if it stopped.
pub fn events_lines(events: &crate::push::EventsReport) -> String {
    let mut text = format!(
        "{} tier event(s) delivered to {}\n",
        events.delivered, events.url
    );
    if let Some(error) = &events.error {
        let _ = writeln!(
            text,
            "  FAILED   tier events: {error} (the rest wait for the next run or `tierlink push`)"
        );
    }
    text
}

/// `connector list` output.
pub fn connector_list(project: &Project) -> String {
    let mut text = String::from("connector       type     streams\n");
    for connector in &project.connectors {
        let _ = writeln!(
            text,
            "{:<15} {:<8} {}{}",
            connector.id,
            connector.kind,
            connector.source.streams().join(", "),
            connector
                .description
                .as_deref()
                .map(|description| format!("  ({description})"))
                .unwrap_or_default()
        );
    }
    text.trim_end().to_string()
}

/// `sync` output: what each stream fetched and how much was mapped.
pub fn sync_summary(report: &RunReport) -> String {
    let mut text = format!("sync run #{}\n", report.run_id);
    write_sync_lines(&mut text, report);
    text.trim_end().to_string()
}

fn write_sync_lines(text: &mut String, report: &RunReport) {
    for (connector, streams) in &report.sync {
        for (stream, counts) in streams {
            let _ = writeln!(
                text,
                "  sync     {connector}/{stream}: {} fetched, {} new, {} changed, {} unchanged, {} rejected",
                counts.fetched, counts.new, counts.changed, counts.unchanged, counts.rejected
            );
        }
    }
    for (connector, error) in &report.failed_connectors {
        let _ = writeln!(text, "  FAILED   {connector}: {error}");
    }
    let _ = writeln!(
        text,
        "  map      {} records mapped, {} rejected{}",
        report.mapped,
        report.mapping_rejected,
        if report.mapping_rejected > 0 {
            " (see `tierlink rejected list`)"
        } else {
            ""
        }
    );
}

/// `rejected list` output.
pub fn rejected_list(records: &[crate::store::RejectedRecord]) -> String {
    if records.is_empty() {
        return "no rejected records".to_string();
    }
    let mut text = String::from("id      connector/stream          source id        reason\n");
    for record in records {
        let location = format!("{}/{}", record.connector, record.stream);
        let _ = writeln!(
            text,
            "{:<7} {:<25} {:<16} {}{}",
            record.id,
            location,
            record.source_id.as_deref().unwrap_or("-"),
            record.reason,
            if record.status == "open" {
                ""
            } else {
                " [retried]"
            }
        );
    }
    text.trim_end().to_string()
}

/// `status` output.
pub fn status_summary(project: &Project, status: &StoreStatus) -> String {
    let mut text = String::from("connector       staged  parties   orders rejected\n");
    for (connector, counts) in &status.connectors {
        let _ = writeln!(
            text,
            "{connector:<14} {:>7} {:>8} {:>8} {:>8}",
            counts.staged, counts.parties, counts.orders, counts.rejected
        );
    }
    let _ = writeln!(text, "\ngolden customers: {}", status.golden_customers);
    match &status.last_run {
        Some(run) => {
            let _ = writeln!(
                text,
                "last run: #{} {} {} at {}",
                run.id,
                run.kind,
                run.status,
                run.started_at.format("%Y-%m-%d %H:%M:%S UTC")
            );
        }
        None => text.push_str("no run yet: try `tierlink run`\n"),
    }
    text.push('\n');
    let distribution: BTreeMap<String, usize> = status
        .tiers
        .iter()
        .map(|(tier, count)| (tier.clone(), *count as usize))
        .collect();
    text.push_str(&tier_table(project, &distribution));
    text
}

/// Customers per tier in the rules file's order, with names and shares.
fn tier_table(project: &Project, distribution: &BTreeMap<String, usize>) -> String {
    let total: usize = distribution.values().sum();
    let mut text = String::from(
        "Tier summary\n  tier              name                                customers   share\n",
    );
    for tier in &project.tiers.tiers {
        let count = distribution.get(&tier.key).copied().unwrap_or(0);
        let share = if total == 0 {
            0.0
        } else {
            100.0 * count as f64 / total as f64
        };
        let name = format!("{} {}", tier.name_en, tier.name_zh);
        let _ = writeln!(
            text,
            "  {:<17} {}{count:>9} {share:>6.1}%",
            tier.key,
            pad(&name, 36)
        );
    }
    let _ = write!(text, "  {:<17} {:<36}{total:>9}", "total", "");
    text
}

/// Pads to a display width, counting CJK characters as two columns.
fn pad(text: &str, width: usize) -> String {
    let used: usize = text
        .chars()
        .map(|c| if c > '\u{2e80}' { 2 } else { 1 })
        .sum();
    format!("{text}{}", " ".repeat(width.saturating_sub(used)))
}

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    }
}

/// How the demo's golden customers compare with the generated truth.
pub fn demo_truth(score: &crate::demo::TruthScore) -> String {
    format!(
        "resolution against the world's ground truth: {} source records of {} true customers \
         became {} golden customers; pairwise precision {:.3}, recall {:.3}",
        score.records, score.true_customers, score.golden_customers, score.precision, score.recall
    )
}

/// What to try after the demo.
pub fn demo_next_steps(dir: &std::path::Path) -> String {
    let config = dir.join("tierlink.toml");
    let config = config.display();
    format!(
        "next (the simulators stopped with the demo; the store stays):\n  \
         set -a; . {}/demo.env; set +a\n  \
         tierlink --config {config} status\n  \
         tierlink --config {config} review list\n  \
         tierlink --config {config} segment --dry-run\n  \
         tierlink demo            # again: nothing changed",
        dir.display()
    )
}

/// Where the world's behaviour archetypes landed: one row per archetype,
/// one column per tier (highest first), each cell a share of the row.
pub fn demo_archetypes(
    project: &Project,
    matrix: &BTreeMap<String, BTreeMap<String, usize>>,
) -> String {
    let tiers: Vec<&str> = project
        .tiers
        .tiers
        .iter()
        .map(|tier| tier.key.as_str())
        .collect();
    let mut text = format!("{:<22}", "tiers by archetype");
    for tier in &tiers {
        let _ = write!(text, "{tier:>17}");
    }
    text.push('\n');
    for (archetype, row) in matrix {
        let total: usize = row.values().sum();
        let _ = write!(text, "{archetype:<22}");
        for tier in &tiers {
            let count = row.get(*tier).copied().unwrap_or(0);
            let share = if total == 0 {
                0.0
            } else {
                100.0 * count as f64 / total as f64
            };
            let _ = write!(text, "{:>16.1}%", share);
        }
        text.push('\n');
    }
    text.trim_end().to_string()
}

/// One line on what a push did in one system.
pub fn sink_line(sink: &crate::push::SinkReport) -> String {
    let mut line = format!(
        "{:<12} {:<8} {} sent, {} acknowledged, {} failed, {} dead-lettered, {} unchanged",
        sink.connector,
        sink.sink,
        sink.sent,
        sink.acknowledged,
        sink.failed,
        sink.dead_lettered,
        sink.counts.unchanged
    );
    if sink.counts.blocked > 0 {
        let _ = write!(line, ", {} blocked", sink.counts.blocked);
    }
    if sink.throttled > 0 {
        let _ = write!(line, ", throttled {} times", sink.throttled);
    }
    if sink.stopped {
        line.push_str(" (stopped before the end)");
    }
    line
}

/// The push ledger per system: `push status`, and the end of `status`.
pub fn push_status_table(status: &[crate::store::PushStatus]) -> String {
    use crate::store::LedgerStatus;
    let mut text =
        String::from("connector     pending  delivered  failed  dropped  dead letters\n");
    for row in status {
        let count = |status| row.rows.get(&status).copied().unwrap_or(0);
        let _ = writeln!(
            text,
            "{:<12} {:>8} {:>10} {:>7} {:>8} {:>13}",
            row.connector,
            count(LedgerStatus::Pending),
            count(LedgerStatus::Delivered),
            count(LedgerStatus::Failed),
            count(LedgerStatus::Dropped),
            row.open_dead_letters
        );
    }
    text
}
