//! Segmentation: features, RFM scores and tier rules.
//!
//! The tier rules file (`tiers.toml`) lists the tiers (key, names, goal,
//! actions, and the label each source system receives) and ordered rules
//! whose `when` conditions are expressions over features; the first rule
//! that matches decides, and `default` applies when none does. The file's
//! content hash is the rules version stored with every assignment.

pub mod activity;
pub mod expr;
pub mod features;
pub mod plan;
pub mod report;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::config::{deserialize_section, ConnectorConfig, Problem};
use expr::Expr;
use features::{CustomFeature, CustomerFeatures, FeatureSettings};

pub use plan::{plan_tiers, Decision, TierPlan};

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

/// How tiers move: the `[segment]` table of the tier rules file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TierDynamics {
    /// A customer stays this many days in a tier before a downgrade takes
    /// effect (upgrades take effect at once), so tiers do not flicker.
    pub min_dwell_days: u32,
    /// `tierlink segment` refuses to apply, without `--force`, when more
    /// than this share of the tiered customers would change tier.
    pub max_change_share: f64,
}

impl Default for TierDynamics {
    fn default() -> Self {
        TierDynamics {
            min_dwell_days: 30,
            max_change_share: 0.2,
        }
    }
}

/// Events that re-tier a customer at once, even against the dwell time:
/// the `[triggers]` table of the tier rules file. Each is off when absent.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Triggers {
    /// A paid order of at least this amount since the last assignment.
    pub order_above: Option<f64>,
    /// This many days without any interaction were reached since the last
    /// assignment.
    pub silent_days: Option<u32>,
    /// A bad satisfaction rating on a ticket opened since the last assignment.
    pub bad_rating: bool,
}

/// The loaded tier rules file.
#[derive(Debug, Clone)]
pub struct TierRules {
    pub file: PathBuf,
    /// A hash of the file, stored with every assignment.
    pub version: String,
    /// The tier of customers no rule matches.
    pub default_tier: String,
    /// Tiers from highest to lowest: moving down the list is a downgrade.
    pub tiers: Vec<Tier>,
    pub rules: Vec<Rule>,
    /// Windows and lifecycle thresholds of the features (`[features]`).
    pub features: FeatureSettings,
    /// Party attributes usable in rules (`[[custom_feature]]`).
    pub custom_features: Vec<CustomFeature>,
    pub dynamics: TierDynamics,
    pub triggers: Triggers,
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
        // Labels may name systems not connected yet (they apply once a
        // connector with that id or type exists), so an unknown name is a
        // warning, not an error: it may also be a typo.
        for (index, tier) in tiers.iter().enumerate() {
            for target in tier.labels.keys() {
                let known = connectors
                    .iter()
                    .any(|connector| &connector.id == target || &connector.kind == target);
                if !known {
                    tracing::info!(
                        file = %file.display(),
                        field = %format!("tier[{index}].labels.{target}"),
                        "no connector has this id or type yet; the label applies once one does"
                    );
                }
            }
        }

        let features: FeatureSettings = table_section(file, &mut table, "features", &mut problems);
        let dynamics: TierDynamics = table_section(file, &mut table, "segment", &mut problems);
        let triggers: Triggers = table_section(file, &mut table, "triggers", &mut problems);
        if !(0.0..=1.0).contains(&dynamics.max_change_share) {
            problems.push(
                Problem::new(
                    file,
                    "segment.max_change_share",
                    "must be a share between 0 and 1",
                )
                .with_hint("0.2 lets a run change at most a fifth of the tiers"),
            );
        }
        if features.windows.is_empty() || features.windows.contains(&0) || features.trend_days == 0
        {
            problems.push(Problem::new(
                file,
                "features",
                "windows and trend_days must be whole days above 0",
            ));
        }
        let builtin = features.feature_names();
        let mut custom_features: Vec<CustomFeature> = Vec::new();
        for (index, value) in list(&mut table, "custom_feature").into_iter().enumerate() {
            let field = format!("custom_feature[{index}]");
            let Ok(feature) = deserialize_section::<CustomFeature>(file, &field, value)
                .map_err(|problem| problems.push(problem))
            else {
                continue;
            };
            let clashes = builtin.contains(&feature.name)
                || custom_features
                    .iter()
                    .any(|other| other.name == feature.name);
            if clashes
                || expr::parse(&feature.name)
                    .map(|parsed| parsed.variables() != [feature.name.clone()])
                    .unwrap_or(true)
            {
                problems.push(
                    Problem::new(
                        file,
                        format!("{field}.name"),
                        format!("{:?} is taken or not a plain name", feature.name),
                    )
                    .with_hint("use letters, digits and _ , not the name of a built-in feature"),
                );
                continue;
            }
            custom_features.push(feature);
        }
        let known_features: Vec<&str> = builtin
            .iter()
            .map(String::as_str)
            .chain(custom_features.iter().map(|feature| feature.name.as_str()))
            .collect();
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
                    .with_hint("the file has `default`, [features], [segment], [triggers], [[tier]], [[custom_feature]] and [[rule]]"),
            );
        }
        if problems.is_empty() {
            Ok(TierRules {
                file: file.to_path_buf(),
                version,
                default_tier,
                tiers,
                rules,
                features,
                custom_features,
                dynamics,
                triggers,
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

    /// The position of a tier from the top (0 = highest), if defined.
    pub fn rank(&self, tier: &str) -> Option<usize> {
        self.tiers.iter().position(|defined| defined.key == tier)
    }

    /// The tier of one customer and why: the first matching rule, and the
    /// values of the features its condition reads (the explanation stored
    /// with the assignment).
    pub fn decide(&self, features: &CustomerFeatures) -> Result<RuleOutcome, String> {
        let lookup = |name: &str| features.value(name);
        for rule in &self.rules {
            let matched = rule
                .when
                .matches(&lookup)
                .map_err(|error| format!("rule {:?}: {error}", rule.name))?;
            if matched {
                let looked_at: BTreeMap<String, expr::Value> = rule
                    .when
                    .variables()
                    .into_iter()
                    .map(|name| {
                        let value = features.value(&name);
                        (name, value)
                    })
                    .collect();
                return Ok(RuleOutcome {
                    tier: rule.tier.clone(),
                    rule: rule.name.clone(),
                    reason: json!({ "when": rule.when.source(), "features": looked_at }),
                });
            }
        }
        Ok(RuleOutcome {
            tier: self.default_tier.clone(),
            rule: "default".to_string(),
            reason: json!({ "when": "no rule matched", "features": {} }),
        })
    }
}

/// What the rules say about one customer.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleOutcome {
    pub tier: String,
    /// The matching rule's name, or `default`.
    pub rule: String,
    /// The condition and the feature values it read.
    pub reason: serde_json::Value,
}

/// Takes an optional table (`[segment]`) out of the file's table and reads
/// it, recording a problem (and using the defaults) when it is malformed.
fn table_section<T: serde::de::DeserializeOwned + Default>(
    file: &Path,
    table: &mut toml::Table,
    key: &str,
    problems: &mut Vec<Problem>,
) -> T {
    match table.remove(key) {
        Some(value) => deserialize_section(file, key, value)
            .map_err(|problem| problems.push(problem))
            .unwrap_or_default(),
        None => T::default(),
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

/// Everything tiering reads from the store, owned, so the pure functions can
/// borrow from it: golden ids, orders, linked activity, parties and links.
#[derive(Debug, Clone, Default)]
pub struct Population {
    pub golden_ids: Vec<String>,
    pub orders: Vec<crate::store::OrderFact>,
    pub linked: activity::LinkedActivity,
    pub parties: Vec<crate::model::Party>,
    pub links: Vec<crate::store::GoldenLink>,
}

impl Population {
    /// Reads the population from the store and links calls and messages to
    /// golden customers.
    pub async fn load(store: &dyn crate::store::Store) -> crate::store::StoreResult<Population> {
        let golden_ids = store
            .golden_customers()
            .await?
            .into_iter()
            .map(|golden| golden.golden_id)
            .collect();
        let parties: Vec<crate::model::Party> = store
            .parties()
            .await?
            .into_iter()
            .map(|stored| stored.party)
            .collect();
        let links = store.golden_links().await?;
        let linked = activity::link_activity(
            &parties,
            &links,
            &store.tickets().await?,
            &store.calls().await?,
            &store.messages().await?,
        );
        Ok(Population {
            golden_ids,
            orders: store.order_facts().await?,
            linked,
            parties,
            links,
        })
    }

    /// The activity of each golden customer, parallel to `golden_ids`.
    pub fn activities(&self) -> Vec<features::Activity<'_>> {
        activity::group_by_customer(
            &self.golden_ids,
            &self.orders,
            &self.linked,
            &self.parties,
            &self.links,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<TierRules, Vec<Problem>> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tiers.toml");
        std::fs::write(&file, text).unwrap();
        TierRules::load(&file, &[])
    }

    fn shipped() -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tiers.toml")).unwrap()
    }

    #[test]
    fn the_shipped_rules_carry_four_tiers_with_goals_actions_and_labels() {
        let rules = load(&shipped()).unwrap_or_else(|problems| panic!("{problems:?}"));
        let keys: Vec<&str> = rules.tiers.iter().map(|tier| tier.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "high-value",
                "developing",
                "new-low-value",
                "dormant-at-risk"
            ]
        );
        for tier in &rules.tiers {
            assert!(
                !tier.goal.is_empty() && !tier.actions.is_empty(),
                "{}",
                tier.key
            );
            for system in ["wecom", "shopify", "zendesk", "odoo"] {
                assert!(tier.labels.contains_key(system), "{} {system}", tier.key);
            }
        }
        assert_eq!(
            rules.label_for("high-value", "crm", "wecom").as_deref(),
            Some("高价值客户")
        );
        assert_eq!(
            rules.label_for("high-value", "zendesk", "http").as_deref(),
            Some("tier_high_value")
        );
        assert_eq!(
            rules.label_for("high-value", "erp", "file").as_deref(),
            Some("tier:high-value")
        );
        // The rules read more than spend.
        let read: Vec<String> = rules
            .rules
            .iter()
            .flat_map(|rule| rule.when.variables())
            .collect();
        for feature in [
            "rfm.segment",
            "lifecycle",
            "satisfaction_good_share",
            "spend_trend",
        ] {
            assert!(read.iter().any(|name| name == feature), "{feature}");
        }
        assert_eq!(
            rules.dynamics,
            TierDynamics {
                min_dwell_days: 30,
                max_change_share: 0.2
            }
        );
        assert_eq!(rules.triggers.order_above, Some(10000.0));
        assert_eq!(rules.rank("dormant-at-risk"), Some(3));
    }

    #[test]
    fn settings_sections_and_custom_features_are_checked_with_their_field() {
        let base = shipped();
        let with = |extra: &str| load(&format!("{base}\n{extra}"));
        let fields = |result: Result<TierRules, Vec<Problem>>| -> Vec<String> {
            result
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(|problem| problem.field)
                .collect()
        };
        let custom = "[[custom_feature]]\nname = \"credit\"\nattribute = \"credit_limit\"\naggregate = \"max\"\n\n[[rule]]\nname = \"credit\"\ntier = \"high-value\"\nwhen = \"credit >= 50000\"\n";
        let rules = with(custom).unwrap_or_else(|problems| panic!("{problems:?}"));
        assert_eq!(rules.custom_features[0].aggregate, features::Aggregate::Max);
        assert!(fields(with(
            "[[custom_feature]]\nname = \"recency_days\"\nattribute = \"x\"\naggregate = \"max\"\n"
        ))
        .contains(&"custom_feature[0].name".to_string()));
        assert!(!fields(with(
            "[[custom_feature]]\nname = \"x\"\nattribute = \"x\"\naggregate = \"median\"\n"
        ))
        .is_empty());
        assert!(fields(with(
            "[[rule]]\nname = \"typo\"\ntier = \"developing\"\nwhen = \"credit >= 1\"\n"
        ))
        .iter()
        .any(|field| field.ends_with(".when")));
        let broken = base.replace("min_dwell_days = 30", "min_dwel_days = 30");
        assert!(fields(load(&broken))
            .iter()
            .any(|field| field.starts_with("segment")));
        let windows = base.replace("windows = [30, 90, 365]", "windows = [0, 90]");
        assert!(fields(load(&windows)).contains(&"features".to_string()));
        // A window configured is a feature rules may read.
        let seven = base.replace("windows = [30, 90, 365]", "windows = [7, 30, 90, 365]");
        let rules = load(&format!("{seven}\n[[rule]]\nname = \"week\"\ntier = \"developing\"\nwhen = \"orders_7d >= 1\"\n"));
        assert!(rules.is_ok(), "{rules:?}");
    }
}
