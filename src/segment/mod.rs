//! Segmentation: features, RFM scores and tier rules.
//!
//! The tier rules file (`tiers.toml`) lists the tiers (key, names, goal,
//! actions, and the label each source system receives) and ordered rules
//! whose `when` conditions are expressions over features; the first rule
//! that matches decides, and `default` applies when none does. The file's
//! content hash is the rules version stored with every assignment.

pub mod expr;
pub mod features;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::config::{deserialize_section, ConnectorConfig, Problem};
use crate::store::{OrderFact, TierAssignment, TierChange};
use expr::{Expr, Value};
use features::{activity_features, add_rfm_scores, Features, FEATURES};

/// One tier as the business defines it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// The stable key, used in the store and in reports (`high-value`).
    pub key: String,
    /// The English display name.
    pub name_en: String,
    /// The Chinese display name.
    pub name_zh: String,
    /// What the business wants to achieve with these customers.
    #[serde(default)]
    pub goal: String,
    /// Example actions for the people who serve them.
    #[serde(default)]
    pub actions: Vec<String>,
    /// The label pushed to source systems.
    pub label: String,
    /// Labels for particular connectors, by connector id or kind, where a
    /// system needs a different form (`wecom = "客户等级:高价值"`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// One ordered rule: customers matching `when` get `tier`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub tier: String,
    pub when: Expr,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleText {
    name: String,
    tier: String,
    when: String,
}

/// The loaded tier rules file.
#[derive(Debug, Clone)]
pub struct TierRules {
    pub file: PathBuf,
    /// A hash of the file, stored with every assignment.
    pub version: String,
    /// The tier of customers no rule matches.
    pub default_tier: String,
    pub tiers: Vec<Tier>,
    pub rules: Vec<Rule>,
}

impl TierRules {
    /// Loads and checks the rules file; every problem is reported, and
    /// expression errors carry the line and column in the file.
    pub fn load(file: &Path, connectors: &[ConnectorConfig]) -> Result<TierRules, Vec<Problem>> {
        let text = std::fs::read_to_string(file).map_err(|error| {
            vec![Problem::new(
                file,
                "",
                format!("cannot read the tier rules: {error}"),
            )]
        })?;
        let mut table: toml::Table = text.parse().map_err(|error: toml::de::Error| {
            vec![Problem::new(
                file,
                "",
                format!("not valid TOML: {}", error.to_string().trim()),
            )]
        })?;
        let version = hex::encode(&Sha256::digest(text.as_bytes())[..8]);
        let mut problems = Vec::new();

        let default_tier = match table.remove("default") {
            Some(toml::Value::String(tier)) => tier,
            _ => {
                problems.push(
                    Problem::new(file, "default", "missing the default tier")
                        .with_hint("add `default = \"<tier key>\"` for customers no rule matches"),
                );
                String::new()
            }
        };
        let tiers: Vec<Tier> = list(&mut table, "tier")
            .into_iter()
            .enumerate()
            .filter_map(|(index, value)| {
                deserialize_section(file, &format!("tier[{index}]"), value)
                    .map_err(|problem| problems.push(problem))
                    .ok()
            })
            .collect();
        if tiers.is_empty() {
            problems.push(
                Problem::new(file, "tier", "no tiers are defined").with_hint("add [[tier]] tables"),
            );
        }
        let tier_keys: Vec<&str> = tiers.iter().map(|tier| tier.key.as_str()).collect();
        if !default_tier.is_empty() && !tier_keys.contains(&default_tier.as_str()) {
            problems.push(
                Problem::new(
                    file,
                    "default",
                    format!("{default_tier:?} is not a defined tier"),
                )
                .with_hint(format!("use one of: {}", tier_keys.join(", "))),
            );
        }
        for (index, tier) in tiers.iter().enumerate() {
            for target in tier.labels.keys() {
                let known = connectors
                    .iter()
                    .any(|connector| &connector.id == target || &connector.kind == target);
                if !known {
                    problems.push(
                        Problem::new(
                            file,
                            format!("tier[{index}].labels.{target}"),
                            "no connector has this id or kind",
                        )
                        .with_hint("name a connector id (its file name) or a connector type"),
                    );
                }
            }
        }

        let known_features: Vec<&str> = FEATURES.iter().map(|(name, _)| *name).collect();
        let mut rules = Vec::new();
        for (index, value) in list(&mut table, "rule").into_iter().enumerate() {
            let field = format!("rule[{index}]");
            let Ok(rule) = deserialize_section::<RuleText>(file, &field, value)
                .map_err(|problem| problems.push(problem))
            else {
                continue;
            };
            if !tier_keys.contains(&rule.tier.as_str()) {
                problems.push(
                    Problem::new(
                        file,
                        format!("{field}.tier"),
                        format!("{:?} is not a defined tier", rule.tier),
                    )
                    .with_hint(format!("use one of: {}", tier_keys.join(", "))),
                );
            }
            let (line, column) = position_of(&text, &rule.when);
            match expr::parse(&rule.when) {
                Ok(when) => {
                    for variable in when.variables() {
                        if !known_features.contains(&variable.as_str()) {
                            problems.push(
                                Problem::new(
                                    file,
                                    format!("{field}.when"),
                                    format!("unknown feature {variable:?}"),
                                )
                                .with_hint(format!("features: {}", known_features.join(", "))),
                            );
                        }
                    }
                    rules.push(Rule {
                        name: rule.name,
                        tier: rule.tier,
                        when,
                    });
                }
                Err(error) => problems.push(Problem::new(
                    file,
                    format!("{field}.when"),
                    error.offset(line, column).to_string(),
                )),
            }
        }
        for key in table.keys() {
            problems.push(
                Problem::new(file, key.clone(), "unknown field in the tier rules")
                    .with_hint("the file has `default`, [[tier]] and [[rule]] tables"),
            );
        }
        if problems.is_empty() {
            Ok(TierRules {
                file: file.to_path_buf(),
                version,
                default_tier,
                tiers,
                rules,
            })
        } else {
            Err(problems)
        }
    }

    /// The tier with this key.
    pub fn tier(&self, key: &str) -> Option<&Tier> {
        self.tiers.iter().find(|tier| tier.key == key)
    }

    /// The label `tier` carries in a connector, by id first, then kind.
    pub fn label_for(
        &self,
        tier: &str,
        connector_id: &str,
        connector_kind: &str,
    ) -> Option<String> {
        let tier = self.tier(tier)?;
        let label = tier
            .labels
            .get(connector_id)
            .or_else(|| tier.labels.get(connector_kind))
            .unwrap_or(&tier.label);
        Some(label.clone())
    }

    /// The tier of one customer and why: the first matching rule and the
    /// values of the features it looked at.
    pub fn decide(
        &self,
        features: &Features,
    ) -> Result<(String, String, serde_json::Value), String> {
        let lookup = |name: &str| {
            features
                .get(name)
                .map(|value| Value::Number(*value))
                .unwrap_or(Value::Null)
        };
        for rule in &self.rules {
            let matched = rule
                .when
                .matches(&lookup)
                .map_err(|error| format!("rule {:?}: {error}", rule.name))?;
            if matched {
                let looked_at: BTreeMap<String, Option<f64>> = rule
                    .when
                    .variables()
                    .into_iter()
                    .map(|name| {
                        let value = features.get(&name).copied();
                        (name, value)
                    })
                    .collect();
                return Ok((
                    rule.tier.clone(),
                    rule.name.clone(),
                    json!({ "when": rule.when.source(), "features": looked_at }),
                ));
            }
        }
        Ok((
            self.default_tier.clone(),
            "default".to_string(),
            json!({ "when": "no rule matched", "features": {} }),
        ))
    }
}

/// Takes an array of tables (`[[tier]]`) out of the file's table.
fn list(table: &mut toml::Table, key: &str) -> Vec<toml::Value> {
    match table.remove(key) {
        Some(toml::Value::Array(items)) => items,
        Some(other) => vec![other],
        None => Vec::new(),
    }
}

/// The 1-based line and column where `needle` first appears in `text`,
/// counted in characters, so expression errors point into the file.
fn position_of(text: &str, needle: &str) -> (usize, usize) {
    let Some(offset) = text.find(needle) else {
        return (1, 1);
    };
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|tail| tail.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

/// The tiers every golden customer should have as of `as_of`, compared with
/// the current assignments: returns only the changes. A customer without
/// orders still gets a tier (the rules decide what no activity means).
pub fn plan_tiers(
    rules: &TierRules,
    golden_ids: &[String],
    orders: &[OrderFact],
    current: &[TierAssignment],
    as_of: DateTime<Utc>,
) -> Result<Vec<TierChange>, String> {
    let mut by_customer: BTreeMap<&str, Vec<&OrderFact>> = BTreeMap::new();
    for order in orders {
        by_customer
            .entry(order.golden_id.as_str())
            .or_default()
            .push(order);
    }
    let mut customers: BTreeMap<String, Features> = golden_ids
        .iter()
        .map(|id| {
            let orders = by_customer
                .get(id.as_str())
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            (id.clone(), activity_features(orders, as_of))
        })
        .collect();
    add_rfm_scores(&mut customers);

    let current: BTreeMap<&str, &TierAssignment> = current
        .iter()
        .map(|assignment| (assignment.golden_id.as_str(), assignment))
        .collect();
    let now = Utc::now();
    let mut changes = Vec::new();
    for (golden_id, features) in &customers {
        let (tier, rule, reason) = rules.decide(features)?;
        let previous = current.get(golden_id.as_str());
        let unchanged = previous.is_some_and(|assignment| {
            assignment.tier == tier && assignment.rules_version == rules.version
        });
        if unchanged {
            continue;
        }
        changes.push(TierChange {
            from_tier: previous.map(|assignment| assignment.tier.clone()),
            assignment: TierAssignment {
                golden_id: golden_id.clone(),
                tier,
                rule,
                reason,
                rules_version: rules.version.clone(),
                assigned_at: now,
            },
        });
    }
    Ok(changes)
}
