//! `tierlink demo`: the whole product on one machine, with nothing to set up.
//!
//! It generates a customer world (or reuses the one already in the demo
//! folder), starts the WeCom, Shopify, Zendesk and Odoo simulators on
//! loopback, loads the ERP's tables into a SQLite database, writes a project
//! whose connectors are the presets pointed at all of that, and runs the
//! pipeline on the embedded SQLite store. A second demo run on the same
//! folder finds nothing changed.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use chrono::NaiveDate;

use crate::config::Project;
use crate::presets;
use crate::simulators::{odoo, shopify, wecom, zendesk, RunningSimulator, World};
use crate::store::{GoldenLink, Store};
use crate::world;

/// What the demo generates and where it works.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The demo folder: the world, the project and the store go here.
    pub dir: PathBuf,
    /// True customers in the generated world.
    pub customers: u64,
    /// The world's seed; the same seed gives the same world.
    pub seed: u64,
    /// The evaluation date of the world and of the tiers.
    pub as_of: NaiveDate,
    /// Put before the names of the credential variables the project's
    /// connectors read (`WECOM_SECRET` ...), so several demo projects can
    /// share one process; empty for the demo itself.
    pub credential_prefix: String,
}

/// The simulators the demo started, stopped when dropped.
pub struct RunningSystems {
    pub wecom: RunningSimulator,
    pub shopify: RunningSimulator,
    pub zendesk: RunningSimulator,
    pub odoo: RunningSimulator,
    /// The simulators themselves, to look at their state.
    pub simulators: Simulators,
}

/// The four API simulators, built from a world.
pub struct Simulators {
    pub wecom: wecom::WecomSimulator,
    pub shopify: shopify::ShopifySimulator,
    pub zendesk: zendesk::ZendeskSimulator,
    pub odoo: odoo::OdooSimulator,
}

/// Environment variables the demo's connectors read their credentials from.
/// The demo sets them in its own process only.
const CREDENTIAL_VARIABLES: [&str; 8] = [
    "WECOM_CORP_ID",
    "WECOM_SECRET",
    "SHOPIFY_ACCESS_TOKEN",
    "ZENDESK_EMAIL",
    "ZENDESK_API_TOKEN",
    "ODOO_DB",
    "ODOO_UID",
    "ODOO_API_KEY",
];

/// Generates the world unless the folder already holds the same one
/// (same seed, size and date); returns whether it generated.
/// `progress` hears how many customers are written so far.
pub fn ensure_world(options: &DemoOptions, progress: &mut dyn FnMut(u64)) -> anyhow::Result<bool> {
    let world_dir = options.dir.join("world");
    let wanted = world::GenerateOptions {
        customers: options.customers,
        seed: options.seed,
        as_of: options.as_of,
        noise: world::Noise::default(),
    };
    if let Ok(text) = std::fs::read_to_string(world_dir.join("world.json")) {
        let existing: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if existing["seed"] == serde_json::json!(options.seed)
            && existing["customers"] == serde_json::json!(options.customers)
            && existing["as_of"] == serde_json::json!(options.as_of.to_string())
        {
            return Ok(false);
        }
    }
    world::generate(&wanted, &world_dir, progress)
        .with_context(|| format!("cannot generate the world in {}", world_dir.display()))?;
    Ok(true)
}

impl Simulators {
    /// The simulators of a world with their rate limits off, so the demo
    /// runs at full speed; everything else (paging, auth, error shapes)
    /// behaves as the real systems do.
    pub fn from_world(world: &World) -> anyhow::Result<Simulators> {
        Ok(Simulators {
            wecom: wecom::WecomSimulator::new(
                wecom::WecomData::from_world(world)?,
                wecom::WecomSettings {
                    calls_per_minute: None,
                    ..wecom::WecomSettings::default()
                },
            )?,
            shopify: shopify::ShopifySimulator::new(
                shopify::ShopifyData::from_world(world)?,
                shopify::ShopifySettings {
                    rest_bucket: None,
                    graphql_bucket: None,
                    ..shopify::ShopifySettings::default()
                },
            )?,
            zendesk: zendesk::ZendeskSimulator::new(
                zendesk::ZendeskData::from_world(world)?,
                zendesk::ZendeskSettings::unlimited(),
            )?,
            odoo: odoo::OdooSimulator::new(
                odoo::OdooData::from_world(world)?,
                odoo::OdooSettings::default(),
            )?,
        })
    }

    /// Serves each simulator on its own loopback port.
    pub async fn serve(self) -> anyhow::Result<RunningSystems> {
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("a socket address");
        Ok(RunningSystems {
            wecom: self.wecom.serve(loopback).await?,
            shopify: self.shopify.serve(loopback).await?,
            zendesk: self.zendesk.serve(loopback).await?,
            odoo: self.odoo.serve(loopback).await?,
            simulators: self,
        })
    }
}

/// Starts the four API simulators of a world on loopback, rate limits off.
pub async fn start_systems(world: &World) -> anyhow::Result<RunningSystems> {
    Simulators::from_world(world)?.serve().await
}

/// Writes the demo project into `options.dir`: `tierlink.toml`, the tier
/// rules, and one connector and mapping per system, each a preset with only
/// its address, paths and credential names changed. Sets the credentials
/// in this process's environment.
pub fn write_project(
    options: &DemoOptions,
    world: &World,
    systems: &RunningSystems,
    erp_database: &Path,
) -> anyhow::Result<PathBuf> {
    let credentials = world.credentials()?;
    let values = [
        credentials.wecom.corp_id.clone(),
        credentials.wecom.corp_secret.clone(),
        credentials.shopify.access_token.clone(),
        credentials.zendesk.email.clone(),
        credentials.zendesk.api_token.clone(),
        credentials.odoo.db.clone(),
        credentials.odoo.uid.to_string(),
        credentials.odoo.api_key.clone(),
    ];
    let prefix = &options.credential_prefix;
    for (name, value) in CREDENTIAL_VARIABLES.iter().zip(values) {
        let name = format!("{prefix}{name}");
        // Unchanged values are not written again: other threads may be
        // reading them.
        if std::env::var(&name).ok().as_deref() != Some(value.as_str()) {
            std::env::set_var(name, value);
        }
    }

    let dir = &options.dir;
    for folder in ["connectors", "mappings"] {
        std::fs::create_dir_all(dir.join(folder))
            .with_context(|| format!("cannot create {}", dir.join(folder).display()))?;
    }
    std::fs::write(
        dir.join("tierlink.toml"),
        format!(
            "# Written by `tierlink demo`: the presets pointed at local simulators.\n\
             [store]\nurl = \"sqlite://tierlink.db\"\n\n\
             [paths]\nconnectors = \"connectors\"\nmappings = \"mappings\"\ntiers = \"tiers.toml\"\noutput = \"out\"\n\n\
             [segment]\n# The generated world's activity is relative to this date.\nas_of = \"{}\"\n",
            options.as_of
        ),
    )?;
    std::fs::write(dir.join("tiers.toml"), include_str!("../tiers.toml"))?;
    let mut env_file = String::from(
        "# The demo systems' credentials, for tierlink commands on this project:\n# set -a; . ./demo.env; set +a\n",
    );
    for name in CREDENTIAL_VARIABLES {
        let name = format!("{prefix}{name}");
        let value = std::env::var(&name).unwrap_or_default();
        let _ = writeln!(env_file, "{name}={value}");
    }
    std::fs::write(dir.join("demo.env"), env_file)?;

    let world_dir = std::fs::canonicalize(&world.dir)?;
    let path_text = |path: &Path| path.to_string_lossy().replace('\\', "/");
    let connectors: Vec<(&str, String)> = vec![
        (
            "wecom",
            unlimited(presets::with_base_url(
                find("wecom").connector,
                &format!("{}/cgi-bin", systems.wecom.base_url),
            )?),
        ),
        (
            "shopify",
            unlimited(presets::with_base_url(
                find("shopify").connector,
                &format!("{}/admin/api/2024-01", systems.shopify.base_url),
            )?),
        ),
        (
            "zendesk",
            unlimited(presets::with_base_url(
                find("zendesk").connector,
                &format!("{}/api/v2", systems.zendesk.base_url),
            )?),
        ),
        (
            "odoo",
            unlimited(presets::with_base_url(
                find("odoo").connector,
                &systems.odoo.base_url,
            )?),
        ),
        (
            "asterisk",
            presets::customize(
                find("asterisk").connector,
                &[(
                    "${ASTERISK_CDR_DIR}",
                    &path_text(&world_dir.join("asterisk")),
                )],
            )?,
        ),
        (
            "freeswitch",
            presets::customize(
                find("freeswitch").connector,
                &[(
                    "${FREESWITCH_CDR_DIR}",
                    &path_text(&world_dir.join("freeswitch")),
                )],
            )?,
        ),
        (
            "erp",
            presets::customize(
                find("erp").connector,
                &[(
                    "${ERP_DATABASE_URL}",
                    &format!(
                        "sqlite://{}",
                        path_text(&std::fs::canonicalize(erp_database)?)
                    ),
                )],
            )?,
        ),
    ];
    for (id, mut text) in connectors {
        for name in CREDENTIAL_VARIABLES {
            text = text.replace(&format!("${{{name}}}"), &format!("${{{prefix}{name}}}"));
        }
        std::fs::write(dir.join(format!("connectors/{id}.toml")), text)?;
        std::fs::write(dir.join(format!("mappings/{id}.toml")), find(id).mapping)?;
    }
    Ok(dir.join("tierlink.toml"))
}

fn find(id: &str) -> &'static presets::Preset {
    presets::find(id).expect("every demo system has a preset")
}

/// The demo talks to local simulators: no client-side rate limit.
fn unlimited(text: String) -> String {
    text.lines()
        .map(|line| {
            if line.starts_with("requests_per_second = ") {
                "requests_per_second = 0".to_string()
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// How well the golden customers match the world's ground truth: pairwise
/// precision and recall over source records known to both.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TruthScore {
    pub records: usize,
    pub true_customers: usize,
    pub golden_customers: usize,
    pub precision: f64,
    pub recall: f64,
}

/// Compares golden links with `truth/records.csv` (system, stream,
/// source_id, customer_id); connector ids are the system names.
pub fn score_against_truth(world: &World, links: &[GoldenLink]) -> anyhow::Result<TruthScore> {
    let path = world.path("truth/records.csv");
    let mut reader =
        csv::Reader::from_path(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut truth: HashMap<(String, String), String> = HashMap::new();
    for row in reader.records() {
        let row = row.with_context(|| format!("{}: unreadable row", path.display()))?;
        truth.insert((row[0].to_string(), row[2].to_string()), row[3].to_string());
    }
    let mut by_golden: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut by_true: BTreeMap<&str, usize> = BTreeMap::new();
    let mut records = 0;
    for link in links {
        let key = (link.party.connector.clone(), link.party.source_id.clone());
        if let Some(customer) = truth.get(&key) {
            records += 1;
            by_golden
                .entry(link.golden_id.as_str())
                .or_default()
                .push(customer.as_str());
            *by_true.entry(customer.as_str()).or_default() += 1;
        }
    }
    let pairs = |n: usize| (n * n.saturating_sub(1) / 2) as f64;
    let mut predicted = 0.0;
    let mut correct = 0.0;
    for members in by_golden.values() {
        predicted += pairs(members.len());
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for customer in members {
            *counts.entry(customer).or_default() += 1;
        }
        correct += counts.values().map(|&n| pairs(n)).sum::<f64>();
    }
    let actual: f64 = by_true.values().map(|&n| pairs(n)).sum();
    Ok(TruthScore {
        records,
        true_customers: by_true.len(),
        golden_customers: by_golden.len(),
        precision: if predicted > 0.0 {
            correct / predicted
        } else {
            1.0
        },
        recall: if actual > 0.0 { correct / actual } else { 1.0 },
    })
}

/// How many true customers of each archetype (from `truth/customers.csv`)
/// landed in each tier: archetype -> tier -> customers. A true customer
/// counts once, in the tier of the golden customer holding most of its
/// records; customers without a tiered golden customer are left out.
pub fn tiers_by_archetype(
    world: &World,
    links: &[GoldenLink],
    assignments: &[crate::store::TierAssignment],
) -> anyhow::Result<BTreeMap<String, BTreeMap<String, usize>>> {
    let read = |relative: &str| -> anyhow::Result<Vec<csv::StringRecord>> {
        let path = world.path(relative);
        let mut reader = csv::Reader::from_path(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        reader
            .records()
            .collect::<Result<_, _>>()
            .with_context(|| format!("{}: unreadable row", path.display()))
    };
    let archetype: HashMap<String, String> = read("truth/customers.csv")?
        .into_iter()
        .map(|row| (row[0].to_string(), row[2].to_string()))
        .collect();
    let customer_of: HashMap<(String, String), String> = read("truth/records.csv")?
        .into_iter()
        .map(|row| ((row[0].to_string(), row[2].to_string()), row[3].to_string()))
        .collect();
    let tier: HashMap<&str, &str> = assignments
        .iter()
        .map(|assignment| (assignment.golden_id.as_str(), assignment.tier.as_str()))
        .collect();
    // True customer -> golden id -> records there.
    let mut holdings: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for link in links {
        let key = (link.party.connector.clone(), link.party.source_id.clone());
        if let Some(customer) = customer_of.get(&key) {
            *holdings
                .entry(customer.as_str())
                .or_default()
                .entry(link.golden_id.as_str())
                .or_default() += 1;
        }
    }
    let mut matrix: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for (customer, goldens) in holdings {
        let main = goldens
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(golden, _)| *golden);
        let (Some(kind), Some(tier)) = (
            archetype.get(customer),
            main.and_then(|golden| tier.get(golden)),
        ) else {
            continue;
        };
        *matrix
            .entry(kind.clone())
            .or_default()
            .entry(tier.to_string())
            .or_default() += 1;
    }
    Ok(matrix)
}

/// A few lines on what the demo set up, for the top of its output.
pub fn describe_setup(world: &World, systems: &RunningSystems, generated: bool) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "world    {} ({})",
        world.dir.display(),
        if generated { "generated" } else { "reused" }
    );
    for (name, running) in [
        ("wecom", &systems.wecom),
        ("shopify", &systems.shopify),
        ("zendesk", &systems.zendesk),
        ("odoo", &systems.odoo),
    ] {
        let _ = writeln!(text, "system   {name:<8} simulator at {}", running.base_url);
    }
    text
}

/// Opens the demo's store for a project.
pub async fn open_store(project: &Project) -> anyhow::Result<Arc<dyn Store>> {
    Ok(crate::store::open(&project.settings.store.url, &project.base_dir).await?)
}

/// Everything one demo run did.
pub struct DemoRun {
    pub project: Project,
    pub store: Arc<dyn Store>,
    pub systems: RunningSystems,
    pub world: World,
    pub generated: bool,
    pub report: crate::pipeline::RunReport,
    pub truth: TruthScore,
    /// archetype -> tier -> true customers (see [`tiers_by_archetype`]).
    pub archetypes: BTreeMap<String, BTreeMap<String, usize>>,
}

/// Runs the demo: world, simulators, ERP database, project, one full
/// pipeline run, and the resolution score against the world's truth. The
/// simulators keep serving until the returned [`DemoRun`] is dropped.
pub async fn run(
    options: &DemoOptions,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<DemoRun> {
    std::fs::create_dir_all(&options.dir)
        .with_context(|| format!("cannot create {}", options.dir.display()))?;
    progress.set_message("generating the customer world");
    let generated = ensure_world(options, &mut |done| {
        progress.set_message(format!("generating the customer world: {done} customers"));
    })?;
    let world = World::new(options.dir.join("world"));
    progress.set_message("starting the WeCom, Shopify, Zendesk and Odoo simulators");
    let systems = start_systems(&world).await?;
    progress.set_message("loading the ERP database");
    let erp_database = world.path("erp/erp.db");
    if !erp_database.exists() || generated {
        let _ = std::fs::remove_file(&erp_database);
        world::load_erp(&world.dir, &format!("sqlite://{}", erp_database.display()))
            .await
            .context("cannot load the ERP database")?;
    }
    let config = write_project(options, &world, &systems, &erp_database)?;
    let project = Project::load(&config)
        .map_err(|problems| anyhow::anyhow!("the demo project has problems:\n{problems}"))?;
    let store = open_store(&project).await?;
    let report = crate::pipeline::run_full(&project, &store, progress).await?;
    let links = store.golden_links().await?;
    let truth = score_against_truth(&world, &links)?;
    let archetypes = tiers_by_archetype(&world, &links, &store.tier_assignments().await?)?;
    Ok(DemoRun {
        project,
        store,
        systems,
        world,
        generated,
        report,
        truth,
        archetypes,
    })
}
