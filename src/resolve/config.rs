//! Resolution settings: which fields are compared and how, how candidate
//! pairs are blocked, how the model is trained, and where the decision
//! thresholds sit.
//!
//! The settings are plain data (a TOML file), so a deployment tunes matching
//! without code changes. [`ResolveConfig::validate`] reports every problem at
//! once, naming the field or rule at fault.

use serde::{Deserialize, Serialize};

/// Everything the resolution engine needs to know about a data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveConfig {
    /// The fields of a record, in table column order.
    pub fields: Vec<FieldSpec>,
    /// Deterministic rules on strong identifiers, tried in order before any
    /// score: the first rule that fires decides the pair.
    #[serde(default)]
    pub strong: Vec<StrongRule>,
    /// How candidate pairs are found.
    pub blocking: BlockingConfig,
    /// How m and u probabilities and the prior are learned.
    #[serde(default)]
    pub training: TrainingConfig,
    /// Match-probability thresholds for links and reviews.
    pub thresholds: Thresholds,
    /// Limits on the clusters formed from links.
    #[serde(default)]
    pub clustering: ClusteringConfig,
}

/// One field of the record table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Field name, unique within the config; used by blocking and strong rules.
    pub name: String,
    /// What kind of value the field holds.
    #[serde(default)]
    pub kind: FieldKind,
    /// Comparison levels, tried in order; the first one the pair satisfies is
    /// its level. A pair where either side is empty is at the implicit
    /// "missing" level, which weighs nothing. Empty: the field is not scored
    /// (it may still serve blocking or a strong rule). The last level must be
    /// `else`.
    #[serde(default)]
    pub levels: Vec<LevelSpec>,
}

/// The shape of a field's values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// One string.
    #[default]
    Text,
    /// A small set of strings, such as several phone numbers.
    Set,
    /// A calendar date, `YYYYMMDD` or `YYYY-MM-DD`. A value that is not a valid
    /// date is still compared by the string levels.
    Date,
}

/// One comparison level of a field, with optional fixed m and u. (Unknown
/// keys are caught by [`LevelTest`], which receives every key but m and u.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelSpec {
    /// The test a pair must pass to be at this level.
    #[serde(flatten)]
    pub test: LevelTest,
    /// P(level | match). Given for every level of a field or for none; when
    /// given, training leaves it alone.
    pub m: Option<f64>,
    /// P(level | non-match). Given for every level of a field or for none.
    pub u: Option<f64>,
    /// Weigh agreement by how common the shared value is (an `exact` or
    /// `set_overlap` level only): a pair sharing a value half as common as
    /// the typical shared value gains one bit of weight, twice as common
    /// loses one. See [`crate::resolve::frequency`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub term_frequency: bool,
    /// With `term_frequency`: the most bits a rare value may add (a common
    /// one may take away any number). Unbounded when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term_frequency_max_bonus: Option<u8>,
}

/// The test behind a comparison level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "test", rename_all = "snake_case", deny_unknown_fields)]
pub enum LevelTest {
    /// Identical values (for sets: identical sets; for dates: the same day).
    Exact,
    /// Jaro-Winkler similarity (per character) at least `min`; for sets, the
    /// best pair of elements.
    JaroWinkler {
        /// Lowest similarity in 0..=1 that passes.
        min: f64,
    },
    /// Levenshtein distance (in characters) at most `max`.
    Levenshtein {
        /// Largest edit distance that passes.
        max: usize,
    },
    /// Damerau-Levenshtein distance at most `max`: a swap of neighbours
    /// counts as one edit (optimal string alignment: no substring is edited
    /// twice, which keeps it fast).
    DamerauLevenshtein {
        /// Largest edit distance that passes.
        max: usize,
    },
    /// Both values read as the same number (`"007"` and `"7"`).
    NumericExact,
    /// The sets share at least `min_shared` elements.
    SetOverlap {
        /// Fewest shared elements that pass.
        #[serde(default = "one")]
        min_shared: usize,
    },
    /// Both are dates at most `days` apart.
    DateWithinDays {
        /// Largest distance in days that passes.
        days: u32,
    },
    /// Both are dates in the same year with day and month swapped.
    DateTransposed,
    /// One value, in lowercase Latin letters, spells in toneless pinyin the
    /// start of the other, Han, value, at least its whole brand (the firm
    /// key without trailing trade words): `huawei` and 华为技术, not
    /// `dongfang` and 东方锦程建材. A firm's mail domain or English name
    /// against its Chinese name ([`super::similarity::spells_han_start`],
    /// [`crate::normalize::company::han_brand`]).
    PinyinStart,
    /// Every pair with both values present.
    Else,
}

fn one() -> usize {
    1
}

impl LevelTest {
    /// A short label for explanations, such as `jaro_winkler>=0.92`.
    pub fn label(&self) -> String {
        match self {
            LevelTest::Exact => "exact".into(),
            LevelTest::JaroWinkler { min } => format!("jaro_winkler>={min}"),
            LevelTest::Levenshtein { max } => format!("levenshtein<={max}"),
            LevelTest::DamerauLevenshtein { max } => format!("damerau_levenshtein<={max}"),
            LevelTest::NumericExact => "numeric_exact".into(),
            LevelTest::SetOverlap { min_shared } => format!("shares>={min_shared}"),
            LevelTest::DateWithinDays { days } => format!("within {days} days"),
            LevelTest::DateTransposed => "day/month transposed".into(),
            LevelTest::PinyinStart => "pinyin_start".into(),
            LevelTest::Else => "else".into(),
        }
    }
}

/// A deterministic rule on a strong identifier (tax id, WeChat unionid).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrongRule {
    /// The field holding the identifier.
    pub field: String,
    /// What both sides holding the same value means. Sets: any shared value.
    #[serde(default = "StrongEffect::link")]
    pub when_equal: StrongEffect,
    /// What both sides holding different values means.
    #[serde(default = "StrongEffect::score")]
    pub when_different: StrongEffect,
}

/// The effect of a strong rule on a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrongEffect {
    /// Link, whatever the score says.
    Link,
    /// Never link: the pair becomes a cannot-link constraint.
    NeverLink,
    /// Never link automatically: at most a review.
    Review,
    /// No effect: the score decides.
    Score,
}

impl StrongEffect {
    fn link() -> StrongEffect {
        StrongEffect::Link
    }
    fn score() -> StrongEffect {
        StrongEffect::Score
    }
}

/// Candidate-pair generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockingConfig {
    /// Rules; a pair is a candidate when any rule puts both records in one block.
    pub rules: Vec<BlockingRule>,
    /// Blocks with more records than this are skipped and reported: their
    /// key is too common to say anything, and their pairs grow quadratically.
    #[serde(default = "default_max_block_size")]
    pub max_block_size: usize,
}

fn default_max_block_size() -> usize {
    1000
}

impl BlockingConfig {
    /// The largest block rule `rule` (in config order) pairs.
    pub fn cap_of(&self, rule: usize) -> usize {
        self.rules[rule]
            .max_block_size
            .map_or(self.max_block_size, |cap| cap.min(self.max_block_size))
    }
}

/// One blocking rule: records agreeing on every key part share a block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockingRule {
    /// Name used in reports.
    pub name: String,
    /// Key parts; a record missing any part is not in this rule's blocks.
    pub keys: Vec<BlockingKey>,
    /// A smaller cap on this rule's blocks than `blocking.max_block_size`:
    /// a rule on a name alone pairs only the holders of rare names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_block_size: Option<usize>,
}

/// A blocking key derived from one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockingKey {
    /// The field the key comes from (each element, for a set field).
    pub field: String,
    /// How the key is derived from the value.
    #[serde(default)]
    pub transform: KeyTransform,
}

/// How a blocking key is derived from a value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum KeyTransform {
    /// The value itself.
    #[default]
    Value,
    /// The first `chars` characters.
    Prefix {
        /// How many characters.
        chars: usize,
    },
    /// The last `chars` characters (a mobile's last digits: with a prefix
    /// rule on the same field, one mistyped digit still meets its match).
    Suffix {
        /// How many characters.
        chars: usize,
    },
    /// The Soundex code of a Latin-script name; a value without Latin letters
    /// is its own key.
    Soundex,
    /// The whitespace-separated tokens in sorted order ("wei zhang" and
    /// "zhang wei" share a key).
    SortedTokens,
    /// The first `letters` letters of the value read in toneless pinyin
    /// (立信嘉禾 and `lixinjiahe` share `lixi`), so Han and Latin spellings
    /// of one name meet ([`super::similarity::pinyin_letters`]).
    PinyinPrefix {
        /// How many letters.
        letters: usize,
    },
}

/// Training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingConfig {
    /// Random record pairs drawn to estimate u.
    #[serde(default = "default_u_sample_pairs")]
    pub u_sample_pairs: usize,
    /// Seed of the random sampling, so training is repeatable.
    #[serde(default)]
    pub seed: u64,
    /// Upper bound on the iterations of each expectation-maximisation
    /// session (one per blocking rule, over the pairs that rule produced,
    /// with the fields its keys use held out) and of the λ estimate over all
    /// record pairs. 0 turns training off: m and λ stay as configured.
    #[serde(default = "default_em_max_iterations")]
    pub em_max_iterations: usize,
    /// A session stops when no parameter moves more than this; the λ
    /// estimate when λ moves less than this share of itself.
    #[serde(default = "default_em_tolerance")]
    pub em_tolerance: f64,
    /// With EM on: the starting guess of the share of a blocking rule's
    /// pairs that match, in that rule's session, and of λ. With EM off
    /// (`em_max_iterations = 0`): the prior itself, the share of candidate
    /// pairs that match.
    #[serde(default = "default_prior")]
    pub initial_prior: f64,
    /// Labelled pairs count like this many pairs of prior evidence when
    /// steward decisions refine m and u.
    #[serde(default = "default_label_prior_strength")]
    pub label_prior_strength: f64,
}

fn default_u_sample_pairs() -> usize {
    1_000_000
}
fn default_em_max_iterations() -> usize {
    100
}
fn default_em_tolerance() -> f64 {
    1e-6
}
fn default_prior() -> f64 {
    0.1
}
fn default_label_prior_strength() -> f64 {
    100.0
}

impl Default for TrainingConfig {
    fn default() -> Self {
        TrainingConfig {
            u_sample_pairs: default_u_sample_pairs(),
            seed: 0,
            em_max_iterations: default_em_max_iterations(),
            em_tolerance: default_em_tolerance(),
            initial_prior: default_prior(),
            label_prior_strength: default_label_prior_strength(),
        }
    }
}

/// Decision thresholds on the match probability.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// At or above: linked automatically.
    pub link: f64,
    /// At or above (and below `link`): sent to a steward.
    pub review: f64,
}

/// Clustering limits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusteringConfig {
    /// Largest cluster automatic links may form; links that would exceed it
    /// are flagged instead.
    #[serde(default = "default_max_cluster_size")]
    pub max_cluster_size: usize,
}

fn default_max_cluster_size() -> usize {
    50
}

impl Default for ClusteringConfig {
    fn default() -> Self {
        ClusteringConfig {
            max_cluster_size: default_max_cluster_size(),
        }
    }
}

/// A configuration problem, naming where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("resolution config: {0}")]
pub struct ConfigError(pub String);

/// Most comparison levels one field may have (the level index is a byte, and
/// one value is reserved for "missing").
pub const MAX_LEVELS: usize = 32;

/// Most blocking rules a config may have (each candidate pair records the
/// rules that found it as bits of a `u32`, for training per rule).
pub const MAX_BLOCKING_RULES: usize = 32;

impl ResolveConfig {
    /// Parses TOML text and validates it.
    pub fn from_toml(text: &str) -> Result<ResolveConfig, Vec<ConfigError>> {
        let config: ResolveConfig =
            toml::from_str(text).map_err(|error| vec![ConfigError(error.to_string())])?;
        config.validate()?;
        Ok(config)
    }

    /// Index of the field called `name`.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|field| field.name == name)
    }

    /// Checks the config; returns every problem found, not just the first.
    pub fn validate(&self) -> Result<(), Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut problem = |text: String| errors.push(ConfigError(text));
        for (index, field) in self.fields.iter().enumerate() {
            let name = &field.name;
            if self.fields[..index].iter().any(|other| &other.name == name) {
                problem(format!("field `{name}` is declared twice"));
            }
            if field.levels.len() > MAX_LEVELS {
                problem(format!("field `{name}`: more than {MAX_LEVELS} levels"));
            }
            if !field.levels.is_empty()
                && field.levels.last().map(|l| &l.test) != Some(&LevelTest::Else)
            {
                problem(format!("field `{name}`: the last level must be `else`"));
            }
            for (position, level) in field.levels.iter().enumerate() {
                let label = level.test.label();
                if level.test == LevelTest::Else && position + 1 != field.levels.len() {
                    problem(format!("field `{name}`: `else` must be the last level"));
                }
                if let LevelTest::JaroWinkler { min } = level.test {
                    if !(0.0..=1.0).contains(&min) {
                        problem(format!(
                            "field `{name}`, level {label}: min must be within 0..=1"
                        ));
                    }
                }
                let date_only = matches!(
                    level.test,
                    LevelTest::DateWithinDays { .. } | LevelTest::DateTransposed
                );
                if date_only && field.kind != FieldKind::Date {
                    problem(format!(
                        "field `{name}`, level {label}: needs kind = \"date\""
                    ));
                }
                if matches!(level.test, LevelTest::SetOverlap { .. })
                    && field.kind != FieldKind::Set
                {
                    problem(format!(
                        "field `{name}`, level {label}: needs kind = \"set\""
                    ));
                }
                if level.term_frequency
                    && !matches!(level.test, LevelTest::Exact | LevelTest::SetOverlap { .. })
                {
                    problem(format!(
                        "field `{name}`, level {label}: term_frequency needs an exact or set_overlap level"
                    ));
                }
                if level.term_frequency_max_bonus.is_some() && !level.term_frequency {
                    problem(format!(
                        "field `{name}`, level {label}: term_frequency_max_bonus needs term_frequency = true"
                    ));
                }
                for (what, value) in [("m", level.m), ("u", level.u)] {
                    if let Some(value) = value {
                        if !(value > 0.0 && value <= 1.0) {
                            problem(format!(
                                "field `{name}`, level {label}: {what} must be in (0, 1]"
                            ));
                        }
                    }
                }
            }
            if field
                .levels
                .iter()
                .filter(|level| level.term_frequency)
                .count()
                > 1
            {
                problem(format!(
                    "field `{name}`: term_frequency may be set on one level only"
                ));
            }
            for (what, given) in [
                (
                    "m",
                    field
                        .levels
                        .iter()
                        .filter(|level| level.m.is_some())
                        .count(),
                ),
                (
                    "u",
                    field
                        .levels
                        .iter()
                        .filter(|level| level.u.is_some())
                        .count(),
                ),
            ] {
                if given != 0 && given != field.levels.len() {
                    problem(format!(
                        "field `{name}`: {what} is given for some levels but not all"
                    ));
                }
            }
        }
        for rule in &self.strong {
            if self.field_index(&rule.field).is_none() {
                problem(format!("strong rule: unknown field `{}`", rule.field));
            }
        }
        if self.blocking.rules.is_empty() {
            problem("blocking: at least one rule is needed".into());
        }
        if self.blocking.rules.len() > MAX_BLOCKING_RULES {
            problem(format!("blocking: more than {MAX_BLOCKING_RULES} rules"));
        }
        if self.blocking.max_block_size < 2 {
            problem("blocking: max_block_size must be at least 2".into());
        }
        for rule in &self.blocking.rules {
            if rule.keys.is_empty() {
                problem(format!("blocking rule `{}`: no keys", rule.name));
            }
            if rule.max_block_size.is_some_and(|cap| cap < 2) {
                problem(format!(
                    "blocking rule `{}`: max_block_size must be at least 2",
                    rule.name
                ));
            }
            for key in &rule.keys {
                if self.field_index(&key.field).is_none() {
                    problem(format!(
                        "blocking rule `{}`: unknown field `{}`",
                        rule.name, key.field
                    ));
                }
                if matches!(
                    key.transform,
                    KeyTransform::Prefix { chars: 0 }
                        | KeyTransform::Suffix { chars: 0 }
                        | KeyTransform::PinyinPrefix { letters: 0 }
                ) {
                    problem(format!(
                        "blocking rule `{}`: prefix or suffix of 0 characters",
                        rule.name
                    ));
                }
            }
        }
        let training = &self.training;
        if !(training.initial_prior > 0.0 && training.initial_prior < 1.0) {
            problem("training: initial_prior must be strictly between 0 and 1".into());
        }
        if training.u_sample_pairs == 0 {
            problem("training: u_sample_pairs must be positive".into());
        }
        let Thresholds { link, review } = self.thresholds;
        if !(0.0..=1.0).contains(&link) || !(0.0..=1.0).contains(&review) || review > link {
            problem("thresholds: need 0 <= review <= link <= 1".into());
        }
        if self.clustering.max_cluster_size < 2 {
            problem("clustering: max_cluster_size must be at least 2".into());
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
        [[fields]]
        name = "name"
        levels = [
            { test = "exact" },
            { test = "jaro_winkler", min = 0.9 },
            { test = "else" },
        ]
        [[fields]]
        name = "tax_id"
        [[strong]]
        field = "tax_id"
        when_different = "never_link"
        [blocking]
        rules = [{ name = "name", keys = [{ field = "name", transform = { kind = "prefix", chars = 3 } }] }]
        [thresholds]
        link = 0.95
        review = 0.5
    "#;

    #[test]
    fn a_valid_config_parses_with_defaults() {
        let config = ResolveConfig::from_toml(SAMPLE).expect("valid");
        assert_eq!(config.fields[1].levels.len(), 0);
        assert_eq!(config.strong[0].when_equal, StrongEffect::Link);
        assert_eq!(config.strong[0].when_different, StrongEffect::NeverLink);
        assert_eq!(config.blocking.max_block_size, 1000);
        assert_eq!(
            config.blocking.rules[0].keys[0].transform,
            KeyTransform::Prefix { chars: 3 }
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_place() {
        let text = SAMPLE
            .replace("{ test = \"else\" },", "{ test = \"date_transposed\" },")
            .replace("field = \"tax_id\"\n", "field = \"vat\"\n")
            .replace("review = 0.5", "review = 0.99");
        let typo = SAMPLE.replace("min = 0.9", "minimum = 0.9");
        let error = ResolveConfig::from_toml(&typo).expect_err("unknown key");
        assert!(error[0].to_string().contains("minimum"), "{error:?}");
        let errors = ResolveConfig::from_toml(&text).expect_err("invalid");
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|e| e.contains("`name`: the last level must be `else`")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|e| e.contains("needs kind = \"date\"")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|e| e.contains("unknown field `vat`")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|e| e.contains("review <= link")),
            "{text:?}"
        );
    }
}
