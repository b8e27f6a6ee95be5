//! Loading and validating the configuration: `tierlink.toml`, the connector
//! files, the mapping files and the tier rules.
//!
//! Loading never stops at the first problem: every file is read and every
//! problem is collected with its file, field and a hint, so one
//! `tierlink validate` shows everything to fix.

pub mod env;
mod problems;
mod secret;
mod settings;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

pub use problems::{closest, deserialize_section, join_field, read_toml_table, Problem, Problems};
pub use secret::{Secret, SecretError};
pub use settings::{
    EventSettings, PathSettings, Role, ScheduleSettings, SegmentSettings, ServerSettings, Settings,
    StoreSettings, TokenSettings,
};

use crate::connectors::{self, ConnectorDefinition, Source};
use crate::mapping::Mapping;
use crate::segment::TierRules;

/// A connector as configured: its id (the file name), kind and source.
#[derive(Debug, Clone)]
pub struct ConnectorConfig {
    /// The file stem of `connectors/<id>.toml`; names the source system.
    pub id: String,
    pub file: PathBuf,
    /// The connector kind, the file's `type`.
    pub kind: String,
    pub description: Option<String>,
    pub source: Arc<dyn Source>,
    /// Where tier labels go back into this system (`[push]`), if anywhere.
    pub push: Option<crate::push::PushSettings>,
    /// When `tierlink serve` syncs this connector on its own (cron with
    /// seconds), besides the pipeline's schedules.
    pub schedule: Option<String>,
}

/// Everything configured, loaded and checked.
#[derive(Debug, Clone)]
pub struct Project {
    pub config_file: PathBuf,
    /// The directory of `tierlink.toml`; relative paths start here.
    pub base_dir: PathBuf,
    pub settings: Settings,
    /// `settings.paths`, made absolute.
    pub paths: PathSettings,
    pub connectors: Vec<ConnectorConfig>,
    /// Mappings by connector id.
    pub mappings: BTreeMap<String, Mapping>,
    pub tiers: TierRules,
    /// Where tier changes are sent (`[events]`), if anywhere.
    pub events: Option<crate::push::EventRelay>,
}

impl Project {
    /// Loads every configuration file, returning every problem found.
    pub fn load(config_file: &Path) -> Result<Project, Problems> {
        let mut problems = Problems::default();
        let base_dir = config_file
            .parent()
            .map(|dir| {
                if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                }
            })
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let settings = match load_settings(config_file) {
            Ok(settings) => settings,
            Err(problem) => {
                // Without settings the other files cannot be found.
                problems.push(problem);
                return Err(problems);
            }
        };
        check_schedules(config_file, &settings.schedule, &mut problems);
        check_tokens(config_file, &settings.server.tokens, &mut problems);
        let events = settings.events.as_ref().and_then(|events| {
            crate::push::EventRelay::build(config_file, events)
                .map_err(|found| problems.extend(found))
                .ok()
        });
        let paths = settings.paths.resolved_against(&base_dir);

        let (connectors, broken_connectors) =
            load_connectors(&paths.connectors, &base_dir, &paths.output, &mut problems);
        let mappings = load_mappings(
            &paths.mappings,
            &connectors,
            &broken_connectors,
            &mut problems,
        );
        for connector in &connectors {
            if !mappings.contains_key(&connector.id) {
                problems.push(
                    Problem::new(&connector.file, "", "this connector has no mapping file")
                        .with_hint(format!(
                            "create {} so its records can be mapped to customers and orders",
                            paths
                                .mappings
                                .join(format!("{}.toml", connector.id))
                                .display()
                        )),
                );
            }
        }
        if let Err(error) = crate::steward::ResolutionRules::load(&base_dir) {
            problems.push(
                Problem::new(Path::new(&error.file), "", error.problem)
                    .with_hint("matching.toml replaces the built-in matching config (src/resolve/customers.toml) whole; golden.toml holds the survivorship rules"),
            );
        }
        let tiers = TierRules::load(&paths.tiers, &connectors);
        let tiers = match tiers {
            Ok(tiers) => Some(tiers),
            Err(found) => {
                problems.extend(found);
                None
            }
        };

        match tiers {
            Some(tiers) if problems.is_empty() => Ok(Project {
                config_file: config_file.to_path_buf(),
                base_dir,
                settings,
                paths,
                connectors,
                mappings,
                tiers,
                events,
            }),
            _ => Err(problems),
        }
    }

    /// The connector with this id.
    pub fn connector(&self, id: &str) -> Option<&ConnectorConfig> {
        self.connectors.iter().find(|connector| connector.id == id)
    }
}

/// The folders `tierlink.toml` names, made absolute, without loading the
/// files in them (for commands that add files to a project).
pub fn project_paths(config_file: &Path) -> Result<PathSettings, Problem> {
    let settings = load_settings(config_file)?;
    let base_dir = match config_file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    Ok(settings.paths.resolved_against(base_dir))
}

/// Where the store of `tierlink.toml` is, as (the file's folder, store
/// URL), without loading connectors, mappings or tiers: what the steward's
/// commands need, so a steward runs them without the systems' credentials.
pub fn store_location(config_file: &Path) -> Result<(PathBuf, String), Problem> {
    let settings = load_settings(config_file)?;
    let base_dir = match config_file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    Ok((base_dir.to_path_buf(), settings.store.url))
}

/// Reads `tierlink.toml` with `TIERLINK__SECTION__KEY` overrides.
fn load_settings(config_file: &Path) -> Result<Settings, Problem> {
    if !config_file.exists() {
        return Err(
            Problem::new(config_file, "", "the configuration file does not exist").with_hint(
                "run `tierlink init` to write a starter configuration, or pass --config PATH",
            ),
        );
    }
    // Parse the file alone first: TOML syntax errors then carry line and column.
    read_toml_table(config_file)?;
    let built = config::Config::builder()
        .add_source(config::File::from(config_file).format(config::FileFormat::Toml))
        .add_source(
            config::Environment::with_prefix("TIERLINK")
                .prefix_separator("__")
                .separator("__"),
        )
        .build()
        .map_err(|error| Problem::new(config_file, "", error.to_string()))?;
    built.try_deserialize::<Settings>().map_err(|error| {
        Problem::new(config_file, "", error.to_string()).with_hint(
            "check the field against the documented settings; values from TIERLINK__SECTION__KEY environment variables count too",
        )
    })
}

fn check_schedules(config_file: &Path, schedule: &ScheduleSettings, problems: &mut Problems) {
    for (field, expression) in [
        ("schedule.full", &schedule.full),
        ("schedule.incremental", &schedule.incremental),
    ] {
        if let Some(problem) = expression
            .as_deref()
            .and_then(|expression| cron_problem(config_file, field, expression))
        {
            problems.push(problem);
        }
    }
}

fn check_tokens(config_file: &Path, tokens: &[TokenSettings], problems: &mut Problems) {
    let mut names = BTreeSet::new();
    for (index, token) in tokens.iter().enumerate() {
        let field = format!("server.tokens[{index}]");
        if token.name.trim().is_empty() || !names.insert(token.name.as_str()) {
            problems.push(
                Problem::new(
                    config_file,
                    format!("{field}.name"),
                    format!("{:?} is empty or used twice", token.name),
                )
                .with_hint("give every token its holder's own name"),
            );
        }
        let digest = token.sha256.trim();
        if digest.len() != 64 || !digest.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            problems.push(
                Problem::new(config_file, format!("{field}.sha256"), "must be 64 hexadecimal digits, the SHA-256 of the token")
                    .with_hint("make a token with `tierlink token new --name NAME --role ROLE` and paste the table it prints"),
            );
        }
    }
}

/// The problem with a cron expression, if it does not parse.
fn cron_problem(file: &Path, field: &str, expression: &str) -> Option<Problem> {
    let error = cron::Schedule::from_str(expression).err()?;
    Some(
        Problem::new(
            file,
            field,
            format!("not a valid cron expression {expression:?}: {error}"),
        )
        .with_hint(
            "use six fields: sec min hour day-of-month month day-of-week, e.g. \"0 */5 * * * *\"",
        ),
    )
}

/// The `*.toml` files directly in `dir`, sorted by name.
pub fn toml_files(dir: &Path) -> Result<Vec<PathBuf>, std::io::Error> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// The id a file names: its stem, which must be a simple identifier so it
/// can name the connector in URLs, tables and labels.
fn file_id(file: &Path, problems: &mut Problems) -> Option<String> {
    let stem = file.file_stem()?.to_string_lossy().to_string();
    let valid = !stem.is_empty()
        && stem
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if valid {
        Some(stem)
    } else {
        problems.push(
            Problem::new(file, "", format!("{stem:?} is not a valid id"))
                .with_hint("name the file with lowercase letters, digits, '-' and '_' only"),
        );
        None
    }
}

/// Loads every connector file; returns the connectors that loaded and the
/// ids of those that did not (their problems are in `problems`).
fn load_connectors(
    dir: &Path,
    base_dir: &Path,
    output_dir: &Path,
    problems: &mut Problems,
) -> (Vec<ConnectorConfig>, Vec<String>) {
    let files = match toml_files(dir) {
        Ok(files) => files,
        Err(error) => {
            problems.push(
                Problem::new(
                    dir,
                    "",
                    format!("cannot read the connectors folder: {error}"),
                )
                .with_hint("create it, or set paths.connectors in tierlink.toml"),
            );
            return (Vec::new(), Vec::new());
        }
    };
    let (mut connectors, mut broken) = (Vec::new(), Vec::new());
    for file in files {
        let Some(id) = file_id(&file, problems) else {
            continue;
        };
        match load_connector(&file, &id, base_dir, output_dir) {
            Ok(connector) => connectors.push(connector),
            Err(found) => {
                problems.extend(found);
                broken.push(id);
            }
        }
    }
    (connectors, broken)
}

/// The fields every connector file has, whatever its kind.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectorHeader {
    /// The connector kind, a name in the registry.
    #[serde(rename = "type")]
    kind: String,
    /// What this source system is, for people reading the config.
    description: Option<String>,
    /// A cron expression (with seconds) for syncing this connector alone.
    schedule: Option<String>,
}

fn load_connector(
    file: &Path,
    id: &str,
    base_dir: &Path,
    output_dir: &Path,
) -> Result<ConnectorConfig, Vec<Problem>> {
    let mut table = read_toml_table(file).map_err(|problem| vec![problem])?;
    let mut problems = env::check_references(file, &table, &env::process_env);
    let push_table = match table.remove("push") {
        None => None,
        Some(toml::Value::Table(push)) => Some(push),
        Some(_) => {
            problems.push(
                Problem::new(file, "push", "must be a table")
                    .with_hint("write [push] with sink = \"...\" under it"),
            );
            None
        }
    };
    let mut header = toml::Table::new();
    for key in ["type", "description", "schedule"] {
        if let Some(value) = table.remove(key) {
            header.insert(key.to_string(), value);
        }
    }
    let header: ConnectorHeader = match deserialize_section(file, "", toml::Value::Table(header)) {
        Ok(header) => header,
        Err(problem) => {
            problems.push(problem);
            return Err(problems);
        }
    };
    if let Some(problem) = header
        .schedule
        .as_deref()
        .and_then(|expression| cron_problem(file, "schedule", expression))
    {
        problems.push(problem);
    }
    let Some(kind) = connectors::find_kind(&header.kind) else {
        let known: Vec<&str> = connectors::registry()
            .iter()
            .map(|kind| kind.name)
            .collect();
        problems.push(
            Problem::new(
                file,
                "type",
                format!("unknown connector type {:?}", header.kind),
            )
            .with_hint(format!("use one of: {}", known.join(", "))),
        );
        return Err(problems);
    };
    let definition = ConnectorDefinition {
        id,
        file,
        base_dir,
        table,
    };
    let source = match (kind.build)(&definition) {
        Ok(source) if problems.is_empty() => source,
        Ok(_) => return Err(problems),
        Err(found) => {
            problems.extend(found);
            return Err(problems);
        }
    };
    let push = push_table
        .map(|push| crate::push::build(&definition, &header.kind, push, output_dir))
        .transpose()?;
    Ok(ConnectorConfig {
        id: id.to_string(),
        file: file.to_path_buf(),
        kind: header.kind,
        description: header.description,
        source,
        push,
        schedule: header.schedule,
    })
}

fn load_mappings(
    dir: &Path,
    connectors: &[ConnectorConfig],
    broken_connectors: &[String],
    problems: &mut Problems,
) -> BTreeMap<String, Mapping> {
    let files = match toml_files(dir) {
        Ok(files) => files,
        Err(error) => {
            problems.push(
                Problem::new(dir, "", format!("cannot read the mappings folder: {error}"))
                    .with_hint("create it, or set paths.mappings in tierlink.toml"),
            );
            return BTreeMap::new();
        }
    };
    let mut mappings = BTreeMap::new();
    for file in files {
        let Some(id) = file_id(&file, problems) else {
            continue;
        };
        if broken_connectors.contains(&id) {
            // Its connector's problems are reported; its streams are unknown.
            continue;
        }
        let Some(connector) = connectors.iter().find(|connector| connector.id == id) else {
            let known: Vec<&str> = connectors
                .iter()
                .map(|connector| connector.id.as_str())
                .collect();
            problems.push(
                Problem::new(
                    &file,
                    "",
                    format!("there is no connector {id:?} for this mapping"),
                )
                .with_hint(format!(
                    "name the mapping after a connector file; connectors: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )),
            );
            continue;
        };
        match Mapping::load(&file, connector) {
            Ok(mapping) => {
                mappings.insert(id, mapping);
            }
            Err(found) => problems.extend(found),
        }
    }
    mappings
}
