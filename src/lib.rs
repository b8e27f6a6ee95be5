//! tierlink: a customer-data integration hub.
//!
//! It pulls customers and their activity from every source system, resolves
//! duplicates into one golden customer record, tiers each golden customer
//! with declarative rules, and pushes the same tier label back into every
//! source system.
//!
//! # Layout
//!
//! The modules follow the pipeline, in the order data flows through them:
//!
//! - [`config`]: `tierlink.toml`, connector and mapping files, secrets, and
//!   `validate`, which reports every problem in every file at once.
//! - [`connectors`]: the source trait, the registry from `type = "..."` to an
//!   implementation, and one folder per connector kind.
//! - [`mapping`]: turns a raw source record into a canonical entity.
//! - [`model`]: the canonical entities (party, order, ...).
//! - [`normalize`]: canonical value forms (phones, emails) used for matching.
//! - [`resolve`]: groups parties that are the same customer.
//! - [`golden`]: stable golden customer ids and survivorship of fields.
//! - [`steward`]: the data steward's decisions (review, merge, split,
//!   set-field, undo), the hash-chained audit log and the customer 360 view.
//! - [`segment`]: features, RFM scores and tier rules.
//! - [`push`]: the push ledger and the sinks that deliver tier labels.
//! - [`store`]: persistence behind one trait, SQLite and PostgreSQL.
//! - [`demo`]: `tierlink demo`, the whole product on generated data and
//!   local simulators.
//! - [`presets`]: ready-made connector and mapping files for common systems.
//! - [`pipeline`]: one full run through every stage.
//! - [`serve`]: `tierlink serve`: the HTTP API, web UI, metrics and the
//!   scheduler, over the same library functions as the CLI.
//! - [`cli`]: the command line; thin, it parses arguments and calls the library.
//! - [`simulators`]: WeCom, Shopify, Zendesk and Odoo API simulators on
//!   loopback, for tests, benchmarks and `tierlink demo`.
//! - [`world`]: the seeded world generator: true customers rendered into
//!   every source system's records with realistic noise and exact ground truth.

/// mimalloc for every binary that links tierlink (the CLI, the service,
/// tests and benchmarks): resolution allocates many small strings and maps
/// on both cores, where glibc's allocator spent a quarter of the time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod cli;
pub mod config;
pub mod connectors;
pub mod demo;
pub mod golden;
pub mod mapping;
pub mod model;
pub mod normalize;
pub mod pipeline;
pub mod presets;
pub mod push;
pub mod resolve;
pub mod segment;
pub mod serve;
pub mod simulators;
pub mod steward;
pub mod store;
pub mod world;
