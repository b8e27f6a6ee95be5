//! `tierlink segment` and `tierlink report`: compute tiers (showing the
//! transitions before applying them) and read tier reports.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use clap::ValueEnum;
use serde_json::json;

use crate::config::Project;
use crate::pipeline::evaluation_time;
use crate::segment::{plan_tiers, report, Population, TierPlan};
use crate::store::Store;

/// Which tier report to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportKind {
    /// Customers per tier with their average RFM scores and activity.
    Tiers,
    /// Moves between tiers since `--since`.
    Migration,
    /// Repeat-purchase rate, churn rate and average customer value per tier.
    Outcomes,
}

/// Plans tiers for every golden customer, prints the transition matrix, and
/// applies the changes unless `dry_run`, or unless more customers would
/// change tier than the rules file allows and `force` is not given.
pub async fn segment_command(
    project: &Project,
    store: &dyn Store,
    dry_run: bool,
    force: bool,
    json_output: bool,
) -> anyhow::Result<ExitCode> {
    let as_of = evaluation_time(project);
    let population = Population::load(store).await?;
    let plan = plan_tiers(
        &project.tiers,
        &population.golden_ids,
        &population.activities(),
        &store.tier_assignments().await?,
        &store.tier_entered_at().await?,
        as_of,
    )
    .map_err(|error| anyhow::anyhow!("tier rules failed: {error}"))?;
    let limit = project.tiers.dynamics.max_change_share;
    let (moving, share) = plan.change_share();
    let refused = !dry_run && !force && plan.exceeds_change_limit(limit);
    let changes = plan.changes(chrono::Utc::now());
    let applied = !dry_run && !refused;
    if applied && !changes.is_empty() {
        store.save_tier_changes(&changes).await?;
    }
    let held = plan
        .decisions
        .iter()
        .filter(|decision| decision.held)
        .count();
    let triggered = plan
        .decisions
        .iter()
        .filter(|decision| decision.trigger.is_some())
        .count();
    if json_output {
        let summary = json!({
            "as_of": as_of,
            "rules_version": plan.rules_version,
            "customers": plan.decisions.len(),
            "moving": moving,
            "change_share": share,
            "max_change_share": limit,
            "held_by_dwell": held,
            "triggered": triggered,
            "written": if applied { changes.len() } else { 0 },
            "applied": applied,
            "dry_run": dry_run,
            "refused": refused,
            "transitions": plan.transition_matrix(),
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{}", transition_text(&plan));
        println!(
            "{moving} of {} customers move ({:.1}% of the tiered; limit {:.0}%), {held} downgrades wait for the dwell time, {triggered} re-tiered by a trigger",
            plan.decisions.len(),
            share * 100.0,
            limit * 100.0
        );
        if dry_run {
            println!("dry run: nothing applied");
        } else if applied {
            println!(
                "applied: {} assignments written (rules version {})",
                changes.len(),
                plan.rules_version
            );
        }
    }
    if refused {
        eprintln!(
            "refused: {:.1}% of the tiered customers would change tier, more than max_change_share = {limit} in {}; \
             review the matrix with --dry-run, then apply with --force",
            share * 100.0,
            project.tiers.file.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The transition matrix as a table: a row per current tier, a column per
/// tier after the run.
fn transition_text(plan: &TierPlan) -> String {
    matrix_text("current \\ new", &plan.transition_matrix())
}

fn matrix_text(corner: &str, matrix: &BTreeMap<String, BTreeMap<String, usize>>) -> String {
    let mut columns: Vec<&String> = matrix.values().flat_map(BTreeMap::keys).collect();
    columns.sort();
    columns.dedup();
    let width = matrix
        .keys()
        .chain(columns.iter().copied())
        .map(|name| name.chars().count())
        .chain([corner.chars().count()])
        .max()
        .unwrap_or(0)
        + 2;
    let pad = |text: &str| format!("{text:<width$}");
    let mut text = pad(corner);
    for column in &columns {
        text.push_str(&pad(column));
    }
    for (row, cells) in matrix {
        text.push('\n');
        text.push_str(&pad(row));
        for column in &columns {
            text.push_str(&pad(&cells.get(*column).copied().unwrap_or(0).to_string()));
        }
    }
    if matrix.is_empty() {
        text.push_str("\n(no customers)");
    }
    text
}

/// Prints one tier report. `since` defaults to the start of the longest
/// feature window before the evaluation time.
pub async fn report_command(
    project: &Project,
    store: &dyn Store,
    kind: ReportKind,
    since: Option<NaiveDate>,
    json_output: bool,
) -> anyhow::Result<ExitCode> {
    let as_of = evaluation_time(project);
    let longest = project
        .tiers
        .features
        .windows
        .iter()
        .max()
        .copied()
        .unwrap_or(365);
    let since: DateTime<Utc> = match since {
        Some(date) => date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
        None => as_of - Duration::days(i64::from(longest)),
    };
    let assignments = store.tier_assignments().await?;
    let output = match kind {
        ReportKind::Migration => {
            let matrix = report::migration(&store.tier_history_since(since).await?, since);
            if json_output {
                json!({ "since": since, "migration": matrix })
            } else {
                println!("moves between tiers since {}:", since.date_naive());
                println!("{}", matrix_text("from \\ to", &matrix));
                return Ok(ExitCode::SUCCESS);
            }
        }
        ReportKind::Tiers | ReportKind::Outcomes => {
            let population = Population::load(store).await?;
            let activities = population.activities();
            let plan = plan_tiers(
                &project.tiers,
                &population.golden_ids,
                &activities,
                &assignments,
                &store.tier_entered_at().await?,
                as_of,
            )
            .map_err(|error| anyhow::anyhow!("tier rules failed: {error}"))?;
            let summaries = report::tier_summaries(
                &assignments,
                &population.golden_ids,
                &plan.features,
                &activities,
                since,
            );
            if json_output {
                json!({
                    "as_of": as_of,
                    "since": since,
                    "distribution": report::distribution(&assignments),
                    "tiers": summaries,
                })
            } else {
                println!("{}", summary_text(project, kind, &summaries, since));
                return Ok(ExitCode::SUCCESS);
            }
        }
    };
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(ExitCode::SUCCESS)
}

fn summary_text(
    project: &Project,
    kind: ReportKind,
    summaries: &BTreeMap<String, report::TierSummary>,
    since: DateTime<Utc>,
) -> String {
    let mut text = String::new();
    let number = |value: Option<f64>| value.map_or("-".to_string(), |value| format!("{value:.2}"));
    match kind {
        ReportKind::Outcomes => {
            let _ = writeln!(
                text,
                "{:<20}{:>10}{:>16}{:>12}{:>16}",
                "tier", "customers", "repeat since", "churned", "avg value"
            );
            let _ = writeln!(
                text,
                "(repeat purchase: a paid order since {})",
                since.date_naive()
            );
        }
        _ => {
            let _ = writeln!(
                text,
                "{:<20}{:>10}{:>7}{:>7}{:>7}{:>9}{:>9}{:>8}{:>10}",
                "tier", "customers", "R", "F", "M", "orders", "tickets", "calls", "messages"
            );
        }
    }
    // In the file's order, highest tier first; tiers no longer defined last.
    let mut keys: Vec<&String> = summaries.keys().collect();
    keys.sort_by_key(|key| project.tiers.rank(key).unwrap_or(usize::MAX));
    for key in keys {
        let summary = &summaries[key];
        let _ = match kind {
            ReportKind::Outcomes => writeln!(
                text,
                "{key:<20}{:>10}{:>15.1}%{:>11.1}%{:>16.2}",
                summary.customers,
                summary.repeat_purchase_rate * 100.0,
                summary.churn_rate * 100.0,
                summary.avg_customer_value
            ),
            _ => writeln!(
                text,
                "{key:<20}{:>10}{:>7}{:>7}{:>7}{:>9.2}{:>9.2}{:>8.2}{:>10.2}",
                summary.customers,
                number(summary.avg_rfm_r),
                number(summary.avg_rfm_f),
                number(summary.avg_rfm_m),
                summary.avg_orders,
                summary.avg_tickets,
                summary.avg_calls,
                summary.avg_messages
            ),
        };
    }
    if summaries.is_empty() {
        text.push_str("(no tiered customers yet: run `tierlink segment` or `tierlink run`)\n");
    }
    text.trim_end().to_string()
}
