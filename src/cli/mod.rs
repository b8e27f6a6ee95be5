//! The command line. Thin: it parses arguments, calls the library and
//! prints. `--json` gives machine-readable output where a script would read it.

mod init;
mod output;
mod push;
mod segment;
mod steward;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::{Problems, Project};
use crate::connectors::{webhook, SourceContext};
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
    /// List connectors or check one.
    #[command(subcommand)]
    Connector(ConnectorCommand),
    /// Sync one connector and map its records (no tiering or push).
    Sync {
        /// The connector id (its file name in connectors/).
        id: String,
        /// Forget the connector's cursors first and read everything again;
        /// unchanged records are still recognised and left alone.
        #[arg(long)]
        full: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Records that could not be read or mapped, kept with their reason.
    #[command(subcommand)]
    Rejected(RejectedCommand),
    /// Run the whole product on one machine: generate a customer world,
    /// start WeCom, Shopify, Zendesk and Odoo simulators, point the presets
    /// at them and run the pipeline on an embedded SQLite store.
    Demo {
        /// The demo folder (world, project, store); reused on the next run.
        #[arg(long, default_value = "demo")]
        dir: PathBuf,
        /// True customers in the generated world.
        #[arg(long, default_value_t = 3000)]
        customers: u64,
        /// The world's seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The world's "today": its activity and the tiers are relative to it.
        #[arg(long, default_value = "2026-11-01")]
        as_of: chrono::NaiveDate,
        /// Print the run report as JSON.
        #[arg(long)]
        json: bool,
        /// Then keep the simulators running and serve the API and web UI
        /// on the demo (with an admin, a steward and a viewer token made
        /// for this session) until Ctrl-C.
        #[arg(long)]
        serve: bool,
        /// The address to serve on, with --serve.
        #[arg(long, default_value = "127.0.0.1:8080")]
        address: String,
    },
    /// Ready-made connectors for common systems: list them, or add one to
    /// this project.
    #[command(subcommand)]
    Preset(PresetCommand),
    /// Compute every golden customer's tier and apply the changes; shows the
    /// transition matrix (current -> new tier) with counts.
    Segment {
        /// Show the transition matrix and apply nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply even when more customers would change tier than
        /// `[segment] max_change_share` in the tier rules allows.
        #[arg(long)]
        force: bool,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Tier reports: distribution with RFM and activity averages, moves
    /// between tiers, or outcomes per tier.
    Report {
        /// Which report.
        #[arg(value_enum, default_value = "tiers")]
        kind: segment::ReportKind,
        /// The start of the period (YYYY-MM-DD); by default the longest
        /// feature window before the evaluation date.
        #[arg(long)]
        since: Option<chrono::NaiveDate>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Receive pushed records for every webhook connector until Ctrl-C;
    /// the next `run` or `sync <id>` maps them.
    Listen {
        /// The address to listen on.
        #[arg(long, default_value = crate::connectors::webhook::DEFAULT_LISTEN_ADDRESS)]
        address: String,
    },
    /// Generate a seeded world of customers as every source system would
    /// hold them, with ground truth (for the simulators, demo and measuring).
    Generate {
        /// How many true customers.
        #[arg(long)]
        customers: u64,
        /// The random seed; the same seed, count and date give identical files.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The folder to write into; created if missing, files replaced.
        #[arg(long)]
        out: PathBuf,
        /// The day activity is relative to (YYYY-MM-DD); default today.
        #[arg(long)]
        as_of: Option<chrono::NaiveDate>,
    },
    /// Match pairs waiting for a steward: list, show, accept, reject.
    #[command(subcommand)]
    Review(steward::ReviewCommand),
    /// One golden customer: the 360 view, merge, split, set a field.
    #[command(subcommand)]
    Customer(steward::CustomerCommand),
    /// Steward decisions: list them, undo one, verify the audit log.
    #[command(subcommand)]
    Decision(steward::DecisionCommand),
    /// Deliver tier labels into the source systems (`--dry-run` to see what
    /// would change), handle dead letters, verify what the systems carry.
    Push(push::PushArgs),
    /// Run the service until Ctrl-C: the HTTP API, the web UI, Prometheus
    /// metrics at /metrics and the scheduled runs of [schedule].
    Serve {
        /// The address to listen on (default: [server] address).
        #[arg(long)]
        address: Option<String>,
    },
    /// API tokens for `tierlink serve`.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token: it is printed once, and only its SHA-256 is added to
    /// tierlink.toml as a [[server.tokens]] table.
    New {
        /// Who holds it; the actor of their steward decisions.
        #[arg(long)]
        name: String,
        /// viewer, steward or admin.
        #[arg(long, value_enum)]
        role: crate::config::Role,
        /// Print the table instead of adding it to tierlink.toml.
        #[arg(long)]
        print_only: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConnectorCommand {
    /// List the configured connectors with their kind and streams.
    List {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Test a connector's connection and read a sample, writing nothing.
    Check {
        /// The connector id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PresetCommand {
    /// List the presets.
    List {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Copy a preset's connector and mapping into this project's folders;
    /// then fill in its ${VARIABLES} (and base_url) and run
    /// `tierlink connector check`.
    Add {
        /// The preset, from `tierlink preset list`.
        preset: String,
        /// The connector id to install it as (default: the preset's name).
        #[arg(long = "as")]
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RejectedCommand {
    /// List rejected records, newest first.
    List {
        /// Only this connector's.
        #[arg(long)]
        connector: Option<String>,
        /// Include rejections already retried.
        #[arg(long)]
        all: bool,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one rejected record with its raw payload.
    Show {
        /// The rejection's id, from `rejected list`.
        id: i64,
    },
    /// Retry rejected records: records that failed to map are mapped again
    /// (after a mapping fix), unreadable input is read again.
    Retry {
        /// The rejections' ids.
        ids: Vec<i64>,
        /// Retry every open rejection (of `--connector`, if given).
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        /// With --all: only this connector's.
        #[arg(long)]
        connector: Option<String>,
    },
}

/// Parses the command line and runs the command; the process exit code
/// says whether it worked.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve { .. } | Command::Listen { .. }) {
        end_quietly_on_closed_pipe();
    }
    init_logging();
    match execute(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `tierlink review list | head`: a reader that stops early ends the output
/// the way it ends `ls` or `grep`, instead of `println!` panicking on the
/// closed pipe. Not for the servers, which must outlive a closed peer.
fn end_quietly_on_closed_pipe() {
    // SAFETY: `signal` only sets this process's disposition of SIGPIPE back
    // to the default; no handler runs Rust code.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
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
                let push = store.push_status().await?;
                if !push.is_empty() {
                    println!("push ledger\n{}", output::push_status_table(&push));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Connector(ConnectorCommand::List { json }) => {
            let project = load_project(&cli.config)?;
            if json {
                let list: Vec<_> = project
                    .connectors
                    .iter()
                    .map(|connector| {
                        serde_json::json!({
                            "id": connector.id,
                            "type": connector.kind,
                            "description": connector.description,
                            "streams": connector.source.streams(),
                            "file": connector.file,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!("{}", output::connector_list(&project));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Connector(ConnectorCommand::Check { id }) => {
            let project = load_project(&cli.config)?;
            let connector = find_connector(&project, &id)?;
            let store = open_store(&project).await?;
            match connector.source.check(&SourceContext::new(store)).await {
                Ok(report) => {
                    println!("{id}: OK");
                    for (stream, detail) in report.streams {
                        println!("  {stream}: {detail}");
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    eprintln!("{id}: FAILED ({:?}): {error}", error.domain);
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Sync { id, full, json } => {
            let project = load_project(&cli.config)?;
            find_connector(&project, &id)?;
            let store = open_store(&project).await?;
            let report =
                pipeline::run_sync(&project, &store, &id, full, &progress_bar(json)).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{}", output::sync_summary(&report));
            }
            Ok(if report.succeeded() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Rejected(command) => {
            let project = load_project(&cli.config)?;
            let store = open_store(&project).await?;
            rejected_command(store.as_ref(), command).await
        }
        Command::Demo {
            dir,
            customers,
            seed,
            as_of,
            json,
            serve,
            address,
        } => {
            let options = crate::demo::DemoOptions {
                dir,
                customers,
                seed,
                as_of,
                credential_prefix: String::new(),
            };
            let progress = progress_bar(json);
            let demo = crate::demo::run(&options, &progress).await?;
            progress.finish_and_clear();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "run": demo.report,
                        "truth": demo.truth,
                        "tiers_by_archetype": demo.archetypes,
                    }))?
                );
            } else {
                print!(
                    "{}",
                    crate::demo::describe_setup(&demo.world, &demo.systems, demo.generated)
                );
                println!(
                    "{}",
                    output::run_summary(&demo.project, demo.store.as_ref(), &demo.report)
                );
                println!("{}", output::demo_truth(&demo.truth));
                println!(
                    "{}\n",
                    output::demo_archetypes(&demo.project, &demo.archetypes)
                );
                if !serve {
                    println!("{}", output::demo_next_steps(&options.dir));
                }
            }
            if serve {
                serve_demo(demo, &address).await?;
                return Ok(ExitCode::SUCCESS);
            }
            Ok(if demo.report.succeeded() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Preset(PresetCommand::List { json }) => {
            if json {
                let list: Vec<_> = crate::presets::PRESETS
                    .iter()
                    .map(|preset| serde_json::json!({"id": preset.id, "summary": preset.summary}))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for preset in crate::presets::PRESETS {
                    println!("{:<12} {}", preset.id, preset.summary);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Preset(PresetCommand::Add { preset, name }) => {
            let Some(found) = crate::presets::find(&preset) else {
                let names: Vec<&str> = crate::presets::PRESETS.iter().map(|p| p.id).collect();
                anyhow::bail!("no preset {preset:?}; the presets are {}", names.join(", "));
            };
            let paths = crate::config::project_paths(&cli.config)
                .map_err(|problem| anyhow::anyhow!("{problem}"))?;
            let name = name.unwrap_or_else(|| found.id.to_string());
            for file in crate::presets::install(found, &name, &paths.connectors, &paths.mappings)? {
                println!("wrote {}", file.display());
            }
            println!("next: fill in the ${{VARIABLES}} in connectors/{name}.toml, then `tierlink connector check {name}`");
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate {
            customers,
            seed,
            out,
            as_of,
        } => {
            let options = crate::world::GenerateOptions {
                customers,
                seed,
                as_of: as_of.unwrap_or_else(|| chrono::Local::now().date_naive()),
                noise: crate::world::Noise::default(),
            };
            let summary = crate::world::generate(&options, &out, &mut |done| {
                eprintln!("generated {done}/{customers} customers");
            })?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Review(command) => {
            let (store, rules) = open_for_steward(&cli.config).await?;
            steward::review(store.as_ref(), &rules, command).await
        }
        Command::Customer(command) => {
            let (store, rules) = open_for_steward(&cli.config).await?;
            steward::customer(store.as_ref(), &rules, command).await
        }
        Command::Decision(command) => {
            let (store, rules) = open_for_steward(&cli.config).await?;
            steward::decision(store.as_ref(), &rules, command).await
        }
        Command::Push(args) => {
            let project = load_project(&cli.config)?;
            let store = open_store(&project).await?;
            let progress = progress_bar(args.json);
            push::push_command(&project, store, args, progress).await
        }
        Command::Segment {
            dry_run,
            force,
            json,
        } => {
            let project = load_project(&cli.config)?;
            let store = open_store(&project).await?;
            segment::segment_command(&project, store.as_ref(), dry_run, force, json).await
        }
        Command::Report { kind, since, json } => {
            let project = load_project(&cli.config)?;
            let store = open_store(&project).await?;
            segment::report_command(&project, store.as_ref(), kind, since, json).await
        }
        Command::Serve { address } => {
            let project = load_project(&cli.config)?;
            if project.settings.server.tokens.is_empty() {
                anyhow::bail!(
                    "{} has no API tokens, so nobody could use the service: make one with `tierlink token new --name YOU --role admin`",
                    project.config_file.display()
                );
            }
            let address = address.unwrap_or_else(|| project.settings.server.address.clone());
            let store = open_store(&project).await?;
            serve_until_ctrl_c(project, store, &address).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(TokenCommand::New {
            name,
            role,
            print_only,
        }) => {
            let token = crate::serve::auth::new_token()?;
            let table = format!(
                "\n[[server.tokens]]\nname = {}\nrole = \"{}\"\nsha256 = \"{}\"\n",
                toml::Value::String(name.clone()),
                role.name(),
                crate::serve::auth::token_digest(&token)
            );
            if print_only {
                println!("add to {}:{table}", cli.config.display());
            } else {
                use std::io::Write as _;
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&cli.config)
                    .and_then(|mut file| file.write_all(table.as_bytes()))
                    .map_err(|error| {
                        anyhow::anyhow!("cannot add the token to {}: {error}", cli.config.display())
                    })?;
                println!("added {name} ({}) to {}", role.name(), cli.config.display());
            }
            println!("the token, shown only now (tierlink keeps its SHA-256 only):\n{token}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Listen { address } => {
            let project = load_project(&cli.config)?;
            let receivers = webhook::receivers(&project).map_err(|problems| {
                anyhow::anyhow!("the configuration has problems:\n{}", Problems(problems))
            })?;
            if receivers.is_empty() {
                anyhow::bail!("there is no webhook connector to listen for: add connectors/<id>.toml with type = \"webhook\"");
            }
            let store = open_store(&project).await?;
            let listener = tokio::net::TcpListener::bind(&address)
                .await
                .map_err(|error| {
                    anyhow::anyhow!("cannot listen on {address}: {error}; pass another --address")
                })?;
            let local = listener.local_addr()?;
            println!("listening on http://{local}; accepting:");
            for (id, config) in &receivers {
                for stream in config.streams.keys() {
                    println!("  POST http://{local}/webhooks/{id}/{stream}");
                }
            }
            println!("received records are mapped by the next `tierlink run` or `tierlink sync <id>`; Ctrl-C stops");
            axum::serve(listener, webhook::router(store, receivers))
                .with_graceful_shutdown(async {
                    // On Ctrl-C requests in flight finish; new ones are refused.
                    tokio::signal::ctrl_c().await.ok();
                })
                .await?;
            println!("stopped");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Serves `project` on `address` until Ctrl-C.
async fn serve_until_ctrl_c(
    project: Project,
    store: Arc<dyn Store>,
    address: &str,
) -> anyhow::Result<()> {
    let state =
        crate::serve::AppState::new(project, store, crate::serve::scheduler::Clock::System)?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|error| {
            anyhow::anyhow!("cannot listen on {address}: {error}; pass another --address")
        })?;
    let local = listener.local_addr()?;
    println!("serving on http://{local}  (web UI at /, API at /api/v1, OpenAPI at /api/openapi.json, metrics at /metrics)");
    for job in state.schedules.iter() {
        println!("  scheduled: {} at \"{}\"", job.job.name(), job.expression);
    }
    println!("Ctrl-C stops: requests in flight and the running job finish first");
    crate::serve::serve(state, listener, async {
        tokio::signal::ctrl_c().await.ok();
        eprintln!(
            "stopping: finishing the running job (up to {:?})",
            crate::serve::SHUTDOWN_GRACE
        );
    })
    .await?;
    println!("stopped");
    Ok(())
}

/// Serves the demo with tokens made for this session, keeping its
/// simulators running so scheduled and on-demand runs reach them.
async fn serve_demo(demo: crate::demo::DemoRun, address: &str) -> anyhow::Result<()> {
    let mut project = demo.project;
    let mut tokens = Vec::new();
    for (name, role) in [
        ("demo-admin", crate::config::Role::Admin),
        ("demo-steward", crate::config::Role::Steward),
        ("demo-viewer", crate::config::Role::Viewer),
    ] {
        let token = crate::serve::auth::new_token()?;
        project
            .settings
            .server
            .tokens
            .push(crate::config::TokenSettings {
                name: name.to_string(),
                role,
                sha256: crate::serve::auth::token_digest(&token),
            });
        tokens.push((name, token));
    }
    println!("\nsign in to the web UI with one of these tokens (valid while this process runs):");
    for (name, token) in &tokens {
        println!("  {name:<13} {token}");
    }
    let _systems = demo.systems;
    serve_until_ctrl_c(project, demo.store, address).await
}

async fn rejected_command(store: &dyn Store, command: RejectedCommand) -> anyhow::Result<ExitCode> {
    match command {
        RejectedCommand::List {
            connector,
            all,
            limit,
            json,
        } => {
            let records: Vec<_> = store
                .rejected(connector.as_deref(), limit)
                .await?
                .into_iter()
                .filter(|record| all || record.status == "open")
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&records)?);
            } else {
                println!("{}", output::rejected_list(&records));
            }
        }
        RejectedCommand::Show { id } => {
            let Some(record) = store.rejected_record(id).await? else {
                anyhow::bail!("there is no rejected record {id}: see `tierlink rejected list`");
            };
            println!("{}", serde_json::to_string_pretty(&record)?);
        }
        RejectedCommand::Retry {
            ids,
            all,
            connector,
        } => {
            let ids: Vec<i64> = if all {
                store
                    .rejected(connector.as_deref(), i64::MAX)
                    .await?
                    .into_iter()
                    .filter(|record| record.status == "open")
                    .map(|record| record.id)
                    .collect()
            } else {
                ids
            };
            if ids.is_empty() {
                anyhow::bail!("name the rejections to retry, or pass --all");
            }
            let outcome = store.retry_rejected(&ids).await?;
            println!(
                "{} to map again, {} to read again from the source; run `tierlink run` (or `tierlink sync <id>`) to retry them",
                outcome.remapped, outcome.refetched
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn find_connector<'a>(
    project: &'a Project,
    id: &str,
) -> anyhow::Result<&'a crate::config::ConnectorConfig> {
    project.connector(id).ok_or_else(|| {
        let known: Vec<&str> = project
            .connectors
            .iter()
            .map(|connector| connector.id.as_str())
            .collect();
        anyhow::anyhow!(
            "there is no connector {id:?}; connectors: {}",
            known.join(", ")
        )
    })
}

/// Loads the project; on problems, the error lists them all.
fn load_project(config: &Path) -> anyhow::Result<Project> {
    Project::load(config)
        .map_err(|problems| anyhow::anyhow!("the configuration has problems:\n{problems}"))
}

/// The store and resolution rules, from `tierlink.toml`'s store settings
/// and the matching and survivorship files beside it: the connectors (and
/// their credentials) are not loaded.
async fn open_for_steward(
    config: &Path,
) -> anyhow::Result<(Arc<dyn Store>, crate::steward::ResolutionRules)> {
    let (base_dir, url) = crate::config::store_location(config)
        .map_err(|problem| anyhow::anyhow!("the configuration has problems:\n{problem}"))?;
    let rules = crate::steward::ResolutionRules::load(&base_dir)?;
    Ok((store::open(&url, &base_dir).await?, rules))
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
