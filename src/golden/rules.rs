//! Survivorship rules: which member's value a golden field takes.
//!
//! They live in `golden.toml` next to `tierlink.toml`, optional:
//!
//! ```toml
//! # The rule for every field not named below.
//! default = "most_frequent"
//!
//! [fields]
//! name = { rule = "source_priority", sources = ["erp", "shop"] }
//! address = "most_recent"
//! company = "most_complete"
//! ```
//!
//! Rules apply to the single-valued fields (`name`, `company`, `address`);
//! phones and e-mails are always the union of every member's normalized
//! values, and `kind` is `company` when any member is a company.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The file name of the survivorship rules, next to `tierlink.toml`.
pub const RULES_FILE: &str = "golden.toml";

/// The golden fields survivorship rules choose a value for.
pub const RULE_FIELDS: [&str; 3] = ["name", "company", "address"];

/// How one field's value is chosen among a cluster's members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rule {
    /// The value of the first listed connector that has one (its most
    /// recently updated record); unlisted connectors come after, most
    /// recent first.
    SourcePriority { sources: Vec<String> },
    /// The value of the most recently updated record.
    MostRecent,
    /// The value most members share; ties to the most recent record.
    MostFrequent,
    /// The longest value, as the most complete; ties to the most frequent.
    MostComplete,
}

/// The rule per field, and the rule for the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SurvivorshipRules {
    pub default: Rule,
    pub fields: BTreeMap<String, Rule>,
}

impl Default for SurvivorshipRules {
    fn default() -> Self {
        SurvivorshipRules {
            default: Rule::MostFrequent,
            fields: BTreeMap::new(),
        }
    }
}

/// A rule as written: a bare name, or a table with its sources.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RuleText {
    Name(String),
    Table {
        rule: String,
        #[serde(default)]
        sources: Vec<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    default: Option<RuleText>,
    #[serde(default)]
    fields: BTreeMap<String, RuleText>,
}

/// Why the survivorship rules could not be read; names the file and field.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct RulesError {
    pub file: String,
    pub problem: String,
}

impl SurvivorshipRules {
    /// Reads `golden.toml` from `dir`; without the file, the default rules
    /// (most frequent value everywhere).
    pub fn load(dir: &Path) -> Result<SurvivorshipRules, RulesError> {
        let path = dir.join(RULES_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(SurvivorshipRules::default())
            }
            Err(error) => {
                return Err(RulesError {
                    file: path.display().to_string(),
                    problem: format!("cannot read it: {error}"),
                })
            }
        };
        SurvivorshipRules::parse(&text).map_err(|problem| RulesError {
            file: path.display().to_string(),
            problem,
        })
    }

    /// Parses the rules from TOML text; the error names the field at fault.
    pub fn parse(text: &str) -> Result<SurvivorshipRules, String> {
        let file: RulesFile = toml::from_str(text).map_err(|error| error.to_string())?;
        let default = match file.default {
            Some(rule) => parse_rule("default", rule)?,
            None => Rule::MostFrequent,
        };
        let mut fields = BTreeMap::new();
        for (field, rule) in file.fields {
            if !RULE_FIELDS.contains(&field.as_str()) {
                return Err(format!(
                    "fields.{field}: no survivorship rule applies to {field:?}; rules apply to {}",
                    RULE_FIELDS.join(", ")
                ));
            }
            let rule = parse_rule(&format!("fields.{field}"), rule)?;
            fields.insert(field, rule);
        }
        Ok(SurvivorshipRules { default, fields })
    }

    /// The rule for `field`.
    pub fn rule_for(&self, field: &str) -> &Rule {
        self.fields.get(field).unwrap_or(&self.default)
    }
}

fn parse_rule(at: &str, text: RuleText) -> Result<Rule, String> {
    let (name, sources) = match text {
        RuleText::Name(name) => (name, Vec::new()),
        RuleText::Table { rule, sources } => (rule, sources),
    };
    let rule = match name.as_str() {
        "source_priority" => {
            if sources.is_empty() {
                return Err(format!(
                    "{at}: source_priority needs `sources`, the connectors in order of trust, e.g. {{ rule = \"source_priority\", sources = [\"erp\", \"shop\"] }}"
                ));
            }
            return Ok(Rule::SourcePriority { sources });
        }
        "most_recent" => Rule::MostRecent,
        "most_frequent" => Rule::MostFrequent,
        "most_complete" => Rule::MostComplete,
        other => {
            return Err(format!(
                "{at}: unknown rule {other:?}; use source_priority, most_recent, most_frequent or most_complete"
            ))
        }
    };
    if !sources.is_empty() {
        return Err(format!("{at}: only source_priority takes `sources`"));
    }
    Ok(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_from_names_and_tables() {
        let rules = SurvivorshipRules::parse(
            r#"
            default = "most_recent"
            [fields]
            name = { rule = "source_priority", sources = ["erp", "shop"] }
            company = "most_complete"
            "#,
        )
        .unwrap();
        assert_eq!(rules.default, Rule::MostRecent);
        assert_eq!(
            rules.rule_for("name"),
            &Rule::SourcePriority {
                sources: vec!["erp".into(), "shop".into()]
            }
        );
        assert_eq!(rules.rule_for("company"), &Rule::MostComplete);
        assert_eq!(rules.rule_for("address"), &Rule::MostRecent);
    }

    #[test]
    fn mistakes_name_the_field() {
        let unknown = SurvivorshipRules::parse("[fields]\nname = \"newest\"").unwrap_err();
        assert!(
            unknown.contains("fields.name") && unknown.contains("newest"),
            "{unknown}"
        );
        let no_sources = SurvivorshipRules::parse("default = \"source_priority\"").unwrap_err();
        assert!(
            no_sources.starts_with("default: source_priority needs"),
            "{no_sources}"
        );
        let field = SurvivorshipRules::parse("[fields]\nphones = \"most_recent\"").unwrap_err();
        assert!(field.starts_with("fields.phones"), "{field}");
    }

    #[test]
    fn a_missing_file_gives_the_default_rules() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            SurvivorshipRules::load(dir.path()).unwrap(),
            SurvivorshipRules::default()
        );
        std::fs::write(dir.path().join(RULES_FILE), "default = 3").unwrap();
        let error = SurvivorshipRules::load(dir.path()).unwrap_err();
        assert!(error.to_string().contains(RULES_FILE), "{error}");
    }
}
