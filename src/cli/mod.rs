//! The command line. Thin: it parses arguments, calls the library and
//! prints. `--json` gives machine-readable output where a script would read it.

mod init;
mod output;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::Project;
use crate::pipeline;
use crate::store::{self, Store};

/// tierlink: pull customers from every system, resolve them into golden
/// records, tier them, and push the tier back into every system.
#[derive(Debug, Parser)]
#[command(name = "tierlink", version, about)]
pub struct Cli {
    /// The configuration file; the folders it names are relative to it.
    #[arg(
        long,
        short,
        global = true,
        env = "TIERLINK_CONFIG",
        default_value = "tierlink.toml"
    )]
    pub config: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a starter tierlink.toml, tier rules, an example connector,
    /// mapping and data file into a folder.
    Init {
        /// The folder to write into; created if missing. Existing files are
        /// never overwritten.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Load every configuration file and report every problem at once.
    Validate {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the whole pipeline once: sync, map, resolve, tier, push.
    Run {
        /// Print the run report as JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Show what is stored: counts per connector, golden customers, tiers.
    Status {
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Parses the command line and runs the command; the process exit code
/// says whether it worked.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match execute(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Init { dir } => {
            let written = init::write_starter(&dir)?;
            for file in &written {
                println!("wrote {}", file.display());
            }
            println!(
                "next: cd {} && tierlink validate && tierlink run",
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { json } => match Project::load(&cli.config) {
            Ok(project) => {
                if json {
                    println!("{}", serde_json::json!({ "valid": true, "problems": [] }));
                } else {
                    println!("{}", output::project_summary(&project));
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(problems) => {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({ "valid": false, "problems": problems })
                    );
                } else {
                    eprintln!("{problems}");
                }
                Ok(ExitCode::FAILURE)
            }
        },
        Command::Run { json } => {
            let project = load_project(&cli.config)?;
            let store = open_store(&project).await?;
            let progress = progress_bar(json);
            let report = pipeline::run_full(&project, &store, &progress).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{}", output::run_summary(&project, store.as_ref(), &report));
            }
            Ok(if report.succeeded() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Status { json } => {
            let project = load_project(&cli.config)?;
            let store = open_store(&project).await?;
            let status = store.status().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                println!("{}", output::status_summary(&project, &status));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Loads the project; on problems, the error lists them all.
fn load_project(config: &Path) -> anyhow::Result<Project> {
    Project::load(config)
        .map_err(|problems| anyhow::anyhow!("the configuration has problems:\n{problems}"))
}

async fn open_store(project: &Project) -> anyhow::Result<Arc<dyn Store>> {
    Ok(store::open(&project.settings.store.url, &project.base_dir).await?)
}

/// A spinner with a running count on a terminal; nothing when output is
/// piped or JSON is asked for.
fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({pos} records, {elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
