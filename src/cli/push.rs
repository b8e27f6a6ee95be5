//! `tierlink push`: deliver tier labels into the source systems, show what
//! would change, handle dead letters, and verify what the systems carry.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};

use super::output::{events_lines, push_status_table, sink_line};
use crate::config::Project;
use crate::connectors::SourceContext;
use crate::pipeline;
use crate::push::{self, PushOptions, SinkReport, VerifyReport};
use crate::store::{DeadLetter, Store};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PushArgs {
    #[command(subcommand)]
    pub command: Option<PushCommand>,
    /// Show per system what would be created, updated, removed, left
    /// unchanged or blocked, with a sample; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only this connector.
    #[arg(long)]
    pub connector: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PushCommand {
    /// Labels that could not be delivered: list, retry now, or drop.
    #[command(subcommand)]
    DeadLetters(DeadLetterCommand),
    /// Read the labels back from each system and report drift (a label
    /// removed or added by hand, a record gone).
    Verify {
        /// Only this connector.
        #[arg(long)]
        connector: Option<String>,
        /// Push again the labels that were removed behind tierlink's back.
        #[arg(long)]
        repair: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The push ledger per system: pending, delivered, failed, dropped, and
    /// open dead letters.
    Status {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeadLetterCommand {
    /// Open dead letters, newest first.
    List {
        /// Only this connector.
        #[arg(long)]
        connector: Option<String>,
        /// Resolved and dropped ones too.
        #[arg(long)]
        all: bool,
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Reopen dead letters (dropped ones too) and push their records now.
    Retry {
        /// Dead letter ids.
        ids: Vec<i64>,
        /// Every open or dropped dead letter.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
    /// Stop retrying these records until their label changes.
    Drop {
        /// Dead letter ids.
        #[arg(required = true)]
        ids: Vec<i64>,
        /// Why (kept with the letter).
        #[arg(long)]
        reason: String,
        /// Who drops them (default: $USER).
        #[arg(long, env = "USER")]
        actor: Option<String>,
    },
}

/// A context whose shutdown token Ctrl-C cancels: the push finishes the
/// batches in flight, records their answers, and stops.
fn context_stopped_by_ctrl_c(store: Arc<dyn Store>) -> SourceContext {
    let context = SourceContext::new(store);
    let shutdown = context.shutdown.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("stopping after the batches in flight (Ctrl-C again to abort)");
            shutdown.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    context
}

fn check_connector(project: &Project, id: Option<&str>) -> anyhow::Result<()> {
    if let Some(id) = id {
        match project.connector(id) {
            None => anyhow::bail!("there is no connector {id:?}"),
            Some(connector) if connector.push.is_none() => anyhow::bail!(
                "connector {id} has no [push] table, so nothing is pushed to it; add one to {}",
                connector.file.display()
            ),
            Some(_) => {}
        }
    }
    if project.connectors.iter().all(|c| c.push.is_none()) {
        anyhow::bail!(
            "no connector has a [push] table; add one (e.g. [push] sink = \"file\") to a connector file"
        );
    }
    Ok(())
}

/// Runs `tierlink push ...`.
pub async fn push_command(
    project: &Project,
    store: Arc<dyn Store>,
    args: PushArgs,
    progress: indicatif::ProgressBar,
) -> anyhow::Result<ExitCode> {
    match args.command {
        None => {
            check_connector(project, args.connector.as_deref())?;
            let context = context_stopped_by_ctrl_c(store);
            let (reports, events) = if args.dry_run {
                let options = PushOptions {
                    dry_run: true,
                    ..PushOptions::default()
                };
                let reports = pipeline::push_all(
                    project,
                    &context,
                    args.connector.as_deref(),
                    &options,
                    &progress,
                )
                .await?;
                (reports, None)
            } else {
                let run =
                    pipeline::run_push(project, &context, args.connector.as_deref(), &progress)
                        .await?;
                (run.push, run.events)
            };
            progress.finish_and_clear();
            if args.json {
                println!("{}", serde_json::to_string_pretty(&reports)?);
            } else if args.dry_run {
                print!("{}", dry_run_text(&reports));
            } else {
                for report in &reports {
                    println!("{}", sink_line(report));
                    for error in &report.errors {
                        println!("  failed: {error}");
                    }
                }
                if let Some(events) = &events {
                    print!("events: {}", events_lines(events));
                }
            }
            let failed = reports.iter().any(|r| r.failed > 0 || r.stopped)
                || events.is_some_and(|events| events.error.is_some());
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Some(PushCommand::Status { json }) => {
            let status = store.push_status().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", push_status_table(&status));
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(PushCommand::Verify {
            connector,
            repair,
            json,
        }) => {
            check_connector(project, connector.as_deref())?;
            let context = context_stopped_by_ctrl_c(store);
            let mut reports: Vec<VerifyReport> = Vec::new();
            for config in &project.connectors {
                if connector.as_deref().is_some_and(|id| id != config.id) {
                    continue;
                }
                let Some(settings) = &config.push else {
                    continue;
                };
                if !settings.sink.readable() {
                    eprintln!(
                        "{}: a {} sink cannot be read back; not verified",
                        config.id, settings.kind
                    );
                    continue;
                }
                progress.set_message(format!("reading labels back from {}", config.id));
                let report =
                    push::verify_connector(&context, config, settings, &project.tiers, repair)
                        .await
                        .map_err(|error| anyhow::anyhow!("connector {}: {error}", config.id))?;
                reports.push(report);
            }
            let repushed = if repair && reports.iter().any(|r| r.marked_for_repair > 0) {
                let mut pushed = Vec::new();
                for report in reports.iter().filter(|r| r.marked_for_repair > 0) {
                    pushed.extend(
                        pipeline::run_push(project, &context, Some(&report.connector), &progress)
                            .await?
                            .push,
                    );
                }
                pushed
            } else {
                Vec::new()
            };
            progress.finish_and_clear();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"verify": reports, "repair": repushed})
                    )?
                );
            } else {
                print!("{}", verify_text(&reports));
                for report in &repushed {
                    println!("repair: {}", sink_line(report));
                }
            }
            let clean = reports.iter().all(VerifyReport::clean)
                || (repair && repushed.iter().all(|r| r.failed == 0));
            Ok(if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Some(PushCommand::DeadLetters(command)) => {
            dead_letters(project, store, command, progress).await
        }
    }
}

async fn dead_letters(
    project: &Project,
    store: Arc<dyn Store>,
    command: DeadLetterCommand,
    progress: indicatif::ProgressBar,
) -> anyhow::Result<ExitCode> {
    match command {
        DeadLetterCommand::List {
            connector,
            all,
            json,
        } => {
            let letters = store.dead_letters(connector.as_deref(), !all).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&letters)?);
            } else if letters.is_empty() {
                println!("no dead letters");
            } else {
                print!("{}", letters_text(&letters));
            }
            Ok(ExitCode::SUCCESS)
        }
        DeadLetterCommand::Retry { ids, all } => {
            let ids = if all {
                store
                    .dead_letters(None, false)
                    .await?
                    .into_iter()
                    .filter(|letter| letter.resolved_at.is_none())
                    .map(|letter| letter.id)
                    .collect()
            } else {
                ids
            };
            if ids.is_empty() {
                anyhow::bail!("which dead letters? give their ids, or --all");
            }
            let reopened = store.retry_dead_letters(&ids).await?;
            let mut connectors: Vec<String> = reopened
                .iter()
                .map(|letter| letter.letter.connector.clone())
                .collect();
            connectors.sort();
            connectors.dedup();
            println!("reopened {} dead letters", reopened.len());
            let context = context_stopped_by_ctrl_c(store);
            let mut failed = false;
            for connector in connectors {
                if project
                    .connector(&connector)
                    .and_then(|c| c.push.as_ref())
                    .is_none()
                {
                    println!("{connector}: no [push] sink any more; left pending");
                    continue;
                }
                for report in pipeline::run_push(project, &context, Some(&connector), &progress)
                    .await?
                    .push
                {
                    failed |= report.failed > 0;
                    println!("{}", sink_line(&report));
                }
            }
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        DeadLetterCommand::Drop { ids, reason, actor } => {
            let actor = actor
                .filter(|actor| !actor.trim().is_empty())
                .ok_or_else(|| {
                    anyhow::anyhow!("who drops them? pass --actor NAME (or set $USER)")
                })?;
            if reason.trim().is_empty() {
                anyhow::bail!("say why with --reason");
            }
            let dropped = store.drop_dead_letters(&ids, &actor, &reason).await?;
            println!(
                "dropped {} of {} dead letters; their records are not retried until their label changes",
                dropped.len(),
                ids.len()
            );
            Ok(if dropped.len() == ids.len() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn dry_run_text(reports: &[SinkReport]) -> String {
    let mut text =
        String::from("connector    sink       create  update  remove  unchanged  blocked\n");
    for report in reports {
        let counts = report.counts;
        let _ = writeln!(
            text,
            "{:<12} {:<8} {:>8} {:>7} {:>7} {:>10} {:>8}",
            report.connector,
            report.sink,
            counts.create,
            counts.update,
            counts.remove,
            counts.unchanged,
            counts.blocked
        );
    }
    for report in reports.iter().filter(|r| !r.sample.is_empty()) {
        let _ = writeln!(text, "\n{} (sample):", report.connector);
        for change in &report.sample {
            let _ = writeln!(
                text,
                "  {:<24} {} {}",
                change.source_id,
                change
                    .label
                    .as_deref()
                    .map(|l| format!("+{l}"))
                    .unwrap_or_default(),
                change
                    .remove
                    .iter()
                    .map(|l| format!("-{l}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    }
    text.push_str("\nnothing was sent (dry run)\n");
    text
}

fn verify_text(reports: &[VerifyReport]) -> String {
    let mut text = String::new();
    for report in reports {
        let _ = writeln!(
            text,
            "{:<12} {} checked, {} as expected, {} lost their label, {} carry another tier label, {} gone, {} unreadable",
            report.connector,
            report.checked,
            report.matching,
            report.missing_count,
            report.extra_count,
            report.gone.len(),
            report.unreadable.len()
        );
        for drift in &report.missing {
            let _ = writeln!(
                text,
                "  missing  {}: expected {:?}, found {:?}",
                drift.source_id, drift.expected, drift.found
            );
        }
        for drift in &report.extra {
            let _ = writeln!(
                text,
                "  extra    {}: expected {:?}, found {:?} (not removed: tierlink did not write it)",
                drift.source_id, drift.expected, drift.found
            );
        }
        for id in report.gone.iter().take(20) {
            let _ = writeln!(text, "  gone     {id}");
        }
        for (id, reason) in report.unreadable.iter().take(20) {
            let _ = writeln!(text, "  unreadable {id}: {reason}");
        }
        if report.marked_for_repair > 0 {
            let _ = writeln!(text, "  {} marked for repair", report.marked_for_repair);
        }
    }
    text
}

fn letters_text(letters: &[DeadLetter]) -> String {
    let mut text = String::from(
        "id     connector    record                label                    attempts  reason\n",
    );
    for letter in letters {
        let state = if letter.resolved_at.is_some() {
            " (resolved)"
        } else if letter.dropped_at.is_some() {
            " (dropped)"
        } else {
            ""
        };
        let _ = writeln!(
            text,
            "{:<6} {:<12} {:<21} {:<24} {:>8}  {}{state}",
            letter.id,
            letter.letter.connector,
            letter.letter.source_id,
            letter.letter.label.as_deref().unwrap_or("(none)"),
            letter.letter.attempts,
            letter.letter.reason
        );
    }
    text
}
