//! The world generator: a seeded, deterministic population of true
//! customers rendered into every source system's records (WeCom, Shopify,
//! Zendesk, Odoo, an ERP, Asterisk and FreeSWITCH CDRs) with realistic
//! noise, plus exact ground truth, so entity resolution and segmentation can
//! be measured and the simulators and demo have data that looks real.
//!
//! The layout of a world directory is described at
//! [`crate::simulators::World`]; `truth/` adds `records.csv` (every party
//! record and its true customer), `customers.csv` (kind, archetype, name) and
//! `orders.csv` (orders two systems both report).
//!
//! Generation streams: one customer at a time is drawn from its own random
//! stream (world seed + index), rendered and written through buffered files,
//! so memory stays flat for a million customers and the same seed, count and
//! as-of date give byte-identical files.

mod customer;
mod data;
pub mod erp;
mod identity;
mod render;
mod rng;

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime};
use serde::Serialize;
use serde_json::{json, Value};

pub use customer::{draw_customer, Archetype, TrueCustomer};
pub use erp::{load_erp, ErpLoad};
pub use identity::credit_code_check;
pub use identity::{Company, PersonName};

use crate::simulators::{
    Credentials, OdooCredentials, ShopifyCredentials, WecomCredentials, ZendeskCredentials,
};
use rng::{Rng, BASE62, HEX};

/// How often each kind of noise occurs, as a share of the records where it
/// can occur.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Noise {
    /// A one-character edit in a name (or e-mail at half the rate).
    pub typo: f64,
    /// An optional field (phone, e-mail, credit code) left empty.
    pub missing: f64,
    /// A second shop account for the same person, with another e-mail.
    pub shop_duplicate: f64,
    /// A second ERP customer for the same customer, under its short name.
    pub erp_duplicate: f64,
    /// A name written in traditional characters.
    pub traditional: f64,
    /// A Chinese name entered in pinyin in the shop (half that in Zendesk).
    pub pinyin: f64,
    /// A WeChat user shown by a nickname instead of the real name.
    pub nickname: f64,
    /// A call with a withheld number.
    pub anonymous_call: f64,
    /// Customers with an English name.
    pub english_names: f64,
}

impl Default for Noise {
    fn default() -> Self {
        Noise {
            typo: 0.05,
            missing: 0.12,
            shop_duplicate: 0.04,
            erp_duplicate: 0.03,
            traditional: 0.03,
            pinyin: 0.6,
            nickname: 0.55,
            anonymous_call: 0.04,
            english_names: 0.04,
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    pub customers: u64,
    pub seed: u64,
    /// The day activity is relative to ("today" for the archetypes).
    pub as_of: NaiveDate,
    pub noise: Noise,
}

/// Largest world: numbers derived from a customer's index (mobiles, mail
/// boxes, credit codes) are unique below this.
pub const MAX_CUSTOMERS: u64 = 40_000_000;

/// What was written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorldSummary {
    pub seed: u64,
    pub customers: u64,
    pub as_of: NaiveDate,
    /// Lines (records) per file, by path relative to the world directory.
    pub counts: BTreeMap<String, u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid options: {0}")]
    Options(String),
}

/// One output file, counting its lines.
#[derive(Debug)]
pub(crate) struct Sink {
    relative: &'static str,
    path: PathBuf,
    writer: BufWriter<File>,
    lines: u64,
}

impl Sink {
    fn create(dir: &Path, relative: &'static str) -> Result<Self, GenerateError> {
        let path = dir.join(relative);
        let fail = |source| GenerateError::Write {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(fail)?;
        }
        let file = File::create(&path).map_err(fail)?;
        Ok(Sink {
            relative,
            writer: BufWriter::with_capacity(1 << 17, file),
            path,
            lines: 0,
        })
    }

    fn error(&self, source: std::io::Error) -> GenerateError {
        GenerateError::Write {
            path: self.path.clone(),
            source,
        }
    }

    /// One line of text (the newline is added).
    pub(crate) fn write_line(&mut self, line: &str) -> Result<(), GenerateError> {
        self.lines += 1;
        let written = self
            .writer
            .write_all(line.as_bytes())
            .and_then(|_| self.writer.write_all(b"\n"));
        written.map_err(|source| self.error(source))
    }

    /// One JSON Lines record.
    pub(crate) fn write_json(&mut self, value: &Value) -> Result<(), GenerateError> {
        self.lines += 1;
        let written = serde_json::to_writer(&mut self.writer, value)
            .map_err(std::io::Error::from)
            .and_then(|_| self.writer.write_all(b"\n"));
        written.map_err(|source| self.error(source))
    }

    /// One CSV row, quoted where a field needs it (RFC 4180).
    pub(crate) fn write_csv(&mut self, fields: &[&str]) -> Result<(), GenerateError> {
        let row: Vec<String> = fields
            .iter()
            .map(|field| {
                if field.contains([',', '"', '\n', '\r']) {
                    format!("\"{}\"", field.replace('"', "\"\""))
                } else {
                    field.to_string()
                }
            })
            .collect();
        self.write_line(&row.join(","))
    }

    fn finish(mut self, counts: &mut BTreeMap<String, u64>) -> Result<(), GenerateError> {
        self.writer.flush().map_err(|source| self.error(source))?;
        counts.insert(self.relative.to_string(), self.lines);
        Ok(())
    }
}

/// Every streamed output file.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) wecom_contacts: Sink,
    pub(crate) shop_customers: Sink,
    pub(crate) shop_orders: Sink,
    pub(crate) zendesk_users: Sink,
    pub(crate) zendesk_tickets: Sink,
    pub(crate) zendesk_ratings: Sink,
    pub(crate) zendesk_organizations: Sink,
    /// Organizations already written (colleagues share their employer's).
    pub(crate) zendesk_organization_ids: HashSet<u64>,
    pub(crate) odoo_partners: Sink,
    pub(crate) odoo_orders: Sink,
    pub(crate) erp_customers: Sink,
    pub(crate) erp_orders: Sink,
    pub(crate) asterisk: Sink,
    pub(crate) freeswitch: Sink,
    pub(crate) truth_records: Sink,
    pub(crate) truth_customers: Sink,
    pub(crate) truth_orders: Sink,
    pub(crate) zendesk_subdomain: String,
    pub(crate) as_of_midnight: NaiveDateTime,
}

impl Output {
    fn create(
        dir: &Path,
        zendesk_subdomain: String,
        as_of: NaiveDate,
    ) -> Result<Self, GenerateError> {
        let mut output = Output {
            wecom_contacts: Sink::create(dir, "wecom/contacts.jsonl")?,
            shop_customers: Sink::create(dir, "shopify/customers.jsonl")?,
            shop_orders: Sink::create(dir, "shopify/orders.jsonl")?,
            zendesk_users: Sink::create(dir, "zendesk/users.jsonl")?,
            zendesk_tickets: Sink::create(dir, "zendesk/tickets.jsonl")?,
            zendesk_ratings: Sink::create(dir, "zendesk/satisfaction_ratings.jsonl")?,
            zendesk_organizations: Sink::create(dir, "zendesk/organizations.jsonl")?,
            zendesk_organization_ids: HashSet::new(),
            odoo_partners: Sink::create(dir, "odoo/res.partner.jsonl")?,
            odoo_orders: Sink::create(dir, "odoo/sale.order.jsonl")?,
            erp_customers: Sink::create(dir, "erp/customers.jsonl")?,
            erp_orders: Sink::create(dir, "erp/orders.jsonl")?,
            asterisk: Sink::create(dir, "asterisk/Master.csv")?,
            freeswitch: Sink::create(dir, "freeswitch/Master.csv")?,
            truth_records: Sink::create(dir, "truth/records.csv")?,
            truth_customers: Sink::create(dir, "truth/customers.csv")?,
            truth_orders: Sink::create(dir, "truth/orders.csv")?,
            zendesk_subdomain,
            as_of_midnight: as_of.and_hms_opt(0, 0, 0).expect("midnight"),
        };
        output
            .truth_records
            .write_line("system,stream,source_id,customer_id")?;
        output
            .truth_customers
            .write_line("customer_id,kind,archetype,name")?;
        output
            .truth_orders
            .write_line("system,order_id,true_order_id")?;
        // Counts are of records, not of header lines.
        for sink in [
            &mut output.truth_records,
            &mut output.truth_customers,
            &mut output.truth_orders,
        ] {
            sink.lines = 0;
        }
        Ok(output)
    }

    fn finish(self, counts: &mut BTreeMap<String, u64>) -> Result<(), GenerateError> {
        for sink in [
            self.wecom_contacts,
            self.shop_customers,
            self.shop_orders,
            self.zendesk_users,
            self.zendesk_tickets,
            self.zendesk_ratings,
            self.zendesk_organizations,
            self.odoo_partners,
            self.odoo_orders,
            self.erp_customers,
            self.erp_orders,
            self.asterisk,
            self.freeswitch,
            self.truth_records,
            self.truth_customers,
            self.truth_orders,
        ] {
            sink.finish(counts)?;
        }
        Ok(())
    }
}

/// The simulators' credentials, drawn from the seed (so they are stable for
/// a world and differ between worlds).
pub fn credentials(seed: u64) -> Credentials {
    let mut rng = Rng::new(seed, u64::MAX);
    Credentials {
        wecom: WecomCredentials {
            corp_id: format!("ww{}", rng.token(HEX, 16)),
            corp_secret: rng.token(BASE62, 43),
        },
        shopify: ShopifyCredentials {
            shop: format!("tierlink-demo-{}", rng.token(HEX, 6)),
            access_token: format!("shpat_{}", rng.token(HEX, 32)),
        },
        zendesk: ZendeskCredentials {
            subdomain: format!("tierlink{}", rng.token(HEX, 4)),
            email: "agent@tierlink-demo.example".to_string(),
            api_token: rng.token(BASE62, 40),
        },
        odoo: OdooCredentials {
            db: "tierlink".to_string(),
            login: "admin@tierlink-demo.example".to_string(),
            api_key: rng.token(HEX, 40),
            uid: 2,
        },
    }
}

fn write_document(dir: &Path, relative: &str, value: &Value) -> Result<(), GenerateError> {
    let path = dir.join(relative);
    let fail = |source| GenerateError::Write {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    text.push('\n');
    std::fs::write(&path, text).map_err(fail)
}

/// Generates a world into `dir` (created if missing; files are replaced).
/// `progress` is called with the number of customers written so far, every
/// 10,000 customers and at the end.
pub fn generate(
    options: &GenerateOptions,
    dir: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<WorldSummary, GenerateError> {
    if options.customers == 0 || options.customers > MAX_CUSTOMERS {
        return Err(GenerateError::Options(format!(
            "customers must be between 1 and {MAX_CUSTOMERS}, not {}",
            options.customers
        )));
    }
    let credentials = credentials(options.seed);
    let mut counts = BTreeMap::new();
    let follow_users: Vec<&str> = data::SALES_REPS.to_vec();
    write_document(dir, "wecom/follow_users.json", &json!(follow_users))?;
    let corp_tags = json!([{
        "group_id": "etSOURCE0000000000000000000001",
        "group_name": "客户来源",
        "create_time": 1_557_838_797,
        "order": 1,
        "deleted": false,
        "tag": [
            {"id": "etSOURCEWEB00000000000000000001", "name": "官网", "create_time": 1_557_838_797, "order": 1, "deleted": false},
            {"id": "etSOURCEFAIR0000000000000000002", "name": "展会", "create_time": 1_557_838_797, "order": 2, "deleted": false},
        ],
    }]);
    write_document(dir, "wecom/corp_tags.json", &corp_tags)?;
    let mut categories = Sink::create(dir, "odoo/res.partner.category.jsonl")?;
    render::odoo_categories(&mut categories)?;
    categories.finish(&mut counts)?;
    counts.insert(
        "wecom/follow_users.json".to_string(),
        follow_users.len() as u64,
    );

    let mut output = Output::create(dir, credentials.zendesk.subdomain.clone(), options.as_of)?;
    let mut ids = render::Ids::default();
    for index in 0..options.customers {
        let customer = customer::draw_customer(
            options.seed,
            index,
            options.as_of,
            options.noise.english_names,
        );
        let mut rng = Rng::new(options.seed ^ 0x5245_4e44_4552, index);
        render::render_customer(&customer, &mut rng, &options.noise, &mut ids, &mut output)?;
        if (index + 1) % 10_000 == 0 {
            progress(index + 1);
        }
    }
    output.finish(&mut counts)?;
    if options.customers % 10_000 != 0 {
        progress(options.customers);
    }
    let summary = WorldSummary {
        seed: options.seed,
        customers: options.customers,
        as_of: options.as_of,
        counts,
    };
    write_document(
        dir,
        "world.json",
        &json!({
            "seed": summary.seed,
            "customers": summary.customers,
            "as_of": summary.as_of,
            "counts": summary.counts,
            "noise": options.noise,
            "credentials": credentials,
        }),
    )?;
    Ok(summary)
}
