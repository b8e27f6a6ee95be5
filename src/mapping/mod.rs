//! Mappings: how the records of each stream become canonical entities.
//!
//! A mapping file `mappings/<connector id>.toml` has one table per stream:
//!
//! ```toml
//! [streams.customers]
//! entity = "party"
//!
//! [streams.customers.fields]
//! name = "contact_name"                     # a path into the record
//! phones = { path = "mobile", split = "/" } # several values in one field
//! kind = { value = "company" }              # a constant
//! "attributes.industry" = "industry"        # a custom feature for tier rules
//! ```
//!
//! Mapping is a pure function of the record: it never fails the run. A
//! record that cannot be mapped gets a reason and is rejected.

pub mod path;
mod rules;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::config::{deserialize_section, read_toml_table, ConnectorConfig, Problem};
use crate::model::{
    Call, Entity, EntityKind, Message, Order, OrderStatus, Party, PartyKind, Ticket,
};

pub use rules::FieldRule;

/// The canonical fields each entity may set (parties also take
/// `attributes.<name>` and `strong_ids.<name>`), and those it must set.
fn entity_fields(entity: EntityKind) -> (&'static [&'static str], &'static [&'static str]) {
    match entity {
        EntityKind::Party => (
            &[
                "kind",
                "name",
                "phones",
                "emails",
                "company",
                "address",
                "updated_at",
            ],
            &[],
        ),
        EntityKind::Order => (
            &[
                "party_source_id",
                "amount",
                "currency",
                "status",
                "ordered_at",
                "number",
                "origin_number",
            ],
            &["party_source_id", "amount", "ordered_at"],
        ),
        EntityKind::Ticket => (
            &[
                "party_source_id",
                "channel",
                "status",
                "created_at",
                "solved_at",
                "satisfaction",
            ],
            &["status", "created_at"],
        ),
        EntityKind::Call => (
            &[
                "caller",
                "callee",
                "direction",
                "started_at",
                "talk_seconds",
                "disposition",
            ],
            &["started_at"],
        ),
        EntityKind::Message => (
            &["party_source_id", "phone", "channel", "sent_at"],
            &["channel", "sent_at"],
        ),
    }
}

/// The mapping of one connector.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub file: PathBuf,
    /// A hash of the file: when it changes, staged records are mapped again.
    pub version: String,
    pub streams: BTreeMap<String, StreamMapping>,
}

/// How one stream's records become one kind of entity.
#[derive(Debug, Clone)]
pub struct StreamMapping {
    pub entity: EntityKind,
    /// Canonical field name to the rule that computes it.
    pub fields: BTreeMap<String, FieldRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamHeader {
    entity: EntityKind,
}

impl Mapping {
    /// Loads a mapping file and checks it against its connector's streams,
    /// reporting every problem.
    pub fn load(file: &Path, connector: &ConnectorConfig) -> Result<Mapping, Vec<Problem>> {
        let mut table = read_toml_table(file).map_err(|problem| vec![problem])?;
        let text = std::fs::read(file).unwrap_or_default();
        let version = hex::encode(&Sha256::digest(&text)[..8]);
        let mut problems = Vec::new();
        let streams_value = table.remove("streams");
        for key in table.keys() {
            problems.push(
                Problem::new(file, key.clone(), "unknown field in a mapping file")
                    .with_hint("a mapping file has only [streams.<name>] tables"),
            );
        }
        let Some(toml::Value::Table(streams_table)) = streams_value else {
            problems.push(
                Problem::new(
                    file,
                    "streams",
                    "a mapping needs a [streams.<name>] table per stream",
                )
                .with_hint(format!(
                    "the connector's streams: {}",
                    connector.source.streams().join(", ")
                )),
            );
            return Err(problems);
        };
        let known_streams = connector.source.streams();
        let mut streams = BTreeMap::new();
        for (name, value) in streams_table {
            let prefix = format!("streams.{name}");
            if !known_streams.contains(&name) {
                problems.push(
                    Problem::new(
                        file,
                        &prefix,
                        format!("connector {:?} has no stream {name:?}", connector.id),
                    )
                    .with_hint(format!(
                        "map one of its streams: {}",
                        known_streams.join(", ")
                    )),
                );
                continue;
            }
            match load_stream(file, &prefix, value) {
                Ok(stream) => {
                    streams.insert(name, stream);
                }
                Err(found) => problems.extend(found),
            }
        }
        if problems.is_empty() {
            Ok(Mapping {
                file: file.to_path_buf(),
                version,
                streams,
            })
        } else {
            Err(problems)
        }
    }

    /// Maps one record of `stream` whose source id is `source_id`.
    pub fn map_record(
        &self,
        connector: &str,
        stream: &str,
        source_id: &str,
        record: &serde_json::Value,
    ) -> Result<Entity, String> {
        let mapping = self
            .streams
            .get(stream)
            .ok_or_else(|| format!("no mapping for stream {stream:?}"))?;
        match mapping.entity {
            EntityKind::Party => {
                map_party(mapping, connector, source_id, record).map(Entity::Party)
            }
            EntityKind::Order => {
                map_order(mapping, connector, source_id, record).map(Entity::Order)
            }
            EntityKind::Ticket => {
                map_ticket(&Fields { mapping, record }, connector, source_id).map(Entity::Ticket)
            }
            EntityKind::Call => {
                map_call(&Fields { mapping, record }, connector, source_id).map(Entity::Call)
            }
            EntityKind::Message => {
                map_message(&Fields { mapping, record }, connector, source_id).map(Entity::Message)
            }
        }
    }
}

fn load_stream(
    file: &Path,
    prefix: &str,
    value: toml::Value,
) -> Result<StreamMapping, Vec<Problem>> {
    let toml::Value::Table(mut table) = value else {
        return Err(vec![Problem::new(file, prefix, "expected a table")]);
    };
    let mut problems = Vec::new();
    let fields_value = table.remove("fields");
    let header = deserialize_section::<StreamHeader>(file, prefix, toml::Value::Table(table))
        .map_err(|problem| vec![problem])?;
    let (allowed, required_fields) = entity_fields(header.entity);
    let Some(toml::Value::Table(fields_table)) = fields_value else {
        return Err(vec![Problem::new(
            file,
            format!("{prefix}.fields"),
            "missing the [fields] table",
        )
        .with_hint(format!("map some of: {}", allowed.join(", ")))]);
    };
    let mut fields = BTreeMap::new();
    for (name, value) in fields_table {
        let field_path = format!("{prefix}.fields.{name}");
        let custom = header.entity == EntityKind::Party
            && (name.starts_with("attributes.") || name.starts_with("strong_ids."));
        if !custom && !allowed.contains(&name.as_str()) {
            let mut hint = format!(
                "{} fields are: {}",
                header.entity.as_str(),
                allowed.join(", ")
            );
            if header.entity == EntityKind::Party {
                hint.push_str(", attributes.<name>, strong_ids.<name>");
            }
            problems.push(Problem::new(file, &field_path, "not a canonical field").with_hint(hint));
            continue;
        }
        match FieldRule::from_toml(file, &field_path, value) {
            Ok(rule) => {
                fields.insert(name, rule);
            }
            Err(problem) => problems.push(problem),
        }
    }
    for required in required_fields {
        if !fields.contains_key(*required) {
            problems.push(
                Problem::new(
                    file,
                    format!("{prefix}.fields.{required}"),
                    format!("a {} mapping must set this field", header.entity.as_str()),
                )
                .with_hint("map it from a field of the record"),
            );
        }
    }
    if problems.is_empty() {
        Ok(StreamMapping {
            entity: header.entity,
            fields,
        })
    } else {
        Err(problems)
    }
}

fn map_party(
    mapping: &StreamMapping,
    connector: &str,
    source_id: &str,
    record: &serde_json::Value,
) -> Result<Party, String> {
    let mut party = Party {
        connector: connector.to_string(),
        source_id: source_id.to_string(),
        ..Party::default()
    };
    for (name, rule) in &mapping.fields {
        let fail = |message: String| format!("field {name}: {message}");
        match name.as_str() {
            "kind" => {
                if let Some(kind) = rule.text(record).map_err(fail)? {
                    party.kind = PartyKind::parse(&kind);
                }
            }
            "name" => party.name = rule.text(record).map_err(fail)?,
            "phones" => party.phones = rule.texts(record).map_err(fail)?,
            "emails" => party.emails = rule.texts(record).map_err(fail)?,
            "company" => party.company = rule.text(record).map_err(fail)?,
            "address" => party.address = rule.text(record).map_err(fail)?,
            "updated_at" => party.source_updated_at = rule.timestamp(record).map_err(fail)?,
            other => {
                if let Some(key) = other.strip_prefix("strong_ids.") {
                    if let Some(value) = rule.text(record).map_err(fail)? {
                        party.strong_ids.insert(key.to_string(), value);
                    }
                } else if let Some(key) = other.strip_prefix("attributes.") {
                    if let Some(value) = rule.json(record).map_err(fail)? {
                        party.attributes.insert(key.to_string(), value);
                    }
                }
            }
        }
    }
    Ok(party)
}

fn map_order(
    mapping: &StreamMapping,
    connector: &str,
    source_id: &str,
    record: &serde_json::Value,
) -> Result<Order, String> {
    let required = |name: &str| {
        mapping
            .fields
            .get(name)
            .ok_or_else(|| format!("field {name}: not mapped"))
    };
    let with_field = |name: &'static str| move |message: String| format!("field {name}: {message}");
    let party_source_id = required("party_source_id")?
        .text(record)
        .map_err(with_field("party_source_id"))?
        .ok_or("field party_source_id: missing, so the order cannot be linked to a customer")?;
    let amount = required("amount")?
        .number(record)
        .map_err(with_field("amount"))?
        .ok_or("field amount: missing")?;
    let ordered_at = required("ordered_at")?
        .timestamp(record)
        .map_err(with_field("ordered_at"))?
        .ok_or("field ordered_at: missing")?;
    let currency = match mapping.fields.get("currency") {
        Some(rule) => rule.text(record).map_err(with_field("currency"))?,
        None => None,
    };
    let status = match mapping.fields.get("status") {
        Some(rule) => match rule.text(record).map_err(with_field("status"))? {
            Some(text) => OrderStatus::parse(&text).ok_or_else(|| {
                let known: Vec<&str> = OrderStatus::ALL
                    .iter()
                    .map(|status| status.as_str())
                    .collect();
                format!(
                    "field status: {text:?} is not one of {}; add a `map` to the mapping rule",
                    known.join(", ")
                )
            })?,
            None => OrderStatus::default(),
        },
        None => OrderStatus::default(),
    };
    let optional_text = |name: &'static str| match mapping.fields.get(name) {
        Some(rule) => rule
            .text(record)
            .map(|text| {
                text.map(|text| text.trim().to_string())
                    .filter(|text| !text.is_empty())
            })
            .map_err(with_field(name)),
        None => Ok(None),
    };
    Ok(Order {
        connector: connector.to_string(),
        source_id: source_id.to_string(),
        party_source_id,
        amount,
        currency,
        status,
        ordered_at,
        number: optional_text("number")?,
        origin_number: optional_text("origin_number")?,
    })
}

/// Reads the mapped fields of one record, naming the field in every error.
struct Fields<'a> {
    mapping: &'a StreamMapping,
    record: &'a serde_json::Value,
}

impl Fields<'_> {
    fn rule(&self, name: &str) -> Option<&FieldRule> {
        self.mapping.fields.get(name)
    }

    fn text(&self, name: &str) -> Result<Option<String>, String> {
        match self.rule(name) {
            Some(rule) => rule
                .text(self.record)
                .map_err(|message| format!("field {name}: {message}")),
            None => Ok(None),
        }
    }

    fn required_text(&self, name: &str) -> Result<String, String> {
        self.text(name)?
            .ok_or_else(|| format!("field {name}: missing"))
    }

    fn time(&self, name: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
        match self.rule(name) {
            Some(rule) => rule
                .timestamp(self.record)
                .map_err(|message| format!("field {name}: {message}")),
            None => Ok(None),
        }
    }

    fn required_time(&self, name: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
        self.time(name)?
            .ok_or_else(|| format!("field {name}: missing"))
    }

    fn number(&self, name: &str) -> Result<Option<f64>, String> {
        match self.rule(name) {
            Some(rule) => rule
                .number(self.record)
                .map_err(|message| format!("field {name}: {message}")),
            None => Ok(None),
        }
    }
}

fn map_ticket(fields: &Fields, connector: &str, source_id: &str) -> Result<Ticket, String> {
    Ok(Ticket {
        connector: connector.to_string(),
        source_id: source_id.to_string(),
        party_source_id: fields.text("party_source_id")?,
        channel: fields.text("channel")?,
        status: fields.required_text("status")?,
        created_at: fields.required_time("created_at")?,
        solved_at: fields.time("solved_at")?,
        satisfaction: fields.text("satisfaction")?,
    })
}

fn map_call(fields: &Fields, connector: &str, source_id: &str) -> Result<Call, String> {
    let talk_seconds = fields.number("talk_seconds")?.unwrap_or(0.0);
    if talk_seconds < 0.0 {
        return Err(format!("field talk_seconds: {talk_seconds} is negative"));
    }
    Ok(Call {
        connector: connector.to_string(),
        source_id: source_id.to_string(),
        caller: fields.text("caller")?,
        callee: fields.text("callee")?,
        direction: fields.text("direction")?,
        started_at: fields.required_time("started_at")?,
        talk_seconds: talk_seconds.round() as i64,
        disposition: fields.text("disposition")?,
    })
}

fn map_message(fields: &Fields, connector: &str, source_id: &str) -> Result<Message, String> {
    let party_source_id = fields.text("party_source_id")?;
    let phone = fields.text("phone")?;
    if party_source_id.is_none() && phone.is_none() {
        return Err("fields party_source_id and phone: both missing, so the message cannot be linked to a customer".into());
    }
    Ok(Message {
        connector: connector.to_string(),
        source_id: source_id.to_string(),
        party_source_id,
        phone,
        channel: fields.required_text("channel")?,
        sent_at: fields.required_time("sent_at")?,
    })
}
