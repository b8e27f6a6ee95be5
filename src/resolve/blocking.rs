//! Blocking: which record pairs are worth comparing at all.
//!
//! Comparing every pair of a million records is half a trillion
//! comparisons; blocking only compares records that agree on some cheap key
//! (same phone, same name sound, same birth date and postcode). Each rule
//! derives a key per record; records with equal keys form a block; the
//! candidate pairs are the union over rules of the pairs inside blocks, each
//! pair once.
//!
//! Keys are 64-bit hashes, and blocks are found by sorting `(key, record)`
//! pairs rather than by maps of strings, which keeps memory flat and the
//! work cache-friendly. A hash collision can only add a candidate pair
//! (which scoring then rejects), never lose one.
//!
//! A block larger than the configured cap is skipped and reported: a key
//! shared by thousands of records ("wang", a company switchboard) says
//! nothing about identity, and its pairs would grow quadratically.

use std::hash::{DefaultHasher, Hash, Hasher};

use super::config::{BlockingConfig, BlockingRule, KeyTransform, ResolveConfig};
use super::similarity::pinyin_letters;
use super::table::RecordTable;

/// A candidate pair `(a, b)` with `a < b`.
pub type Pair = (u32, u32);

/// A block skipped because it was larger than the cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OversizedBlock {
    /// Records in the block.
    pub size: usize,
    /// One record in it, to show the key's value.
    pub example_record: u32,
}

/// What one rule contributed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleReport {
    /// Rule name.
    pub name: String,
    /// Blocks of two or more records that were used.
    pub blocks: usize,
    /// Pairs inside this rule's blocks.
    pub pairs: u64,
    /// Of those, pairs no earlier rule had found.
    pub new_pairs: u64,
    /// Blocks skipped for size.
    pub oversized: Vec<OversizedBlock>,
}

/// How well blocking kept the true pairs, when truth is known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockingRecall {
    /// Pairs of records with the same true entity.
    pub true_pairs: u64,
    /// Of those, pairs among the candidates.
    pub found: u64,
    /// `found / true_pairs` (1 when there are no true pairs).
    pub recall: f64,
}

/// The rules that produced a candidate pair: bit `r` is set when rule `r`
/// (in config order) put both records in one block.
pub type RuleMask = u32;

/// The blocking result: candidate pairs and the report.
#[derive(Debug, Clone)]
pub struct Candidates {
    /// Sorted, distinct candidate pairs.
    pub pairs: Vec<Pair>,
    /// Per pair, the rules that produced it (`rules[p]` belongs to `pairs[p]`).
    pub rules: Vec<RuleMask>,
    /// Per-rule counts, skipped blocks and recall.
    pub report: BlockingReport,
}

/// Counts from blocking.
#[derive(Debug, Clone)]
pub struct BlockingReport {
    /// One entry per rule, in config order.
    pub rules: Vec<RuleReport>,
    /// Distinct candidate pairs over all rules.
    pub candidate_pairs: u64,
    /// Recall against truth labels, when given.
    pub recall: Option<BlockingRecall>,
}

/// Finds candidate pairs. `truth`, when given, holds each record's true
/// entity label and adds blocking recall to the report.
pub fn candidate_pairs(
    table: &RecordTable,
    config: &ResolveConfig,
    truth: Option<&[u32]>,
) -> Candidates {
    let blocking: &BlockingConfig = &config.blocking;
    let mut all: Vec<u64> = Vec::new();
    let mut masks: Vec<RuleMask> = Vec::new();
    let mut rules = Vec::new();
    for (index, rule) in blocking.rules.iter().enumerate() {
        let keys = record_keys(table, config, rule);
        let (mut pairs, blocks, oversized) = pairs_in_blocks(keys, blocking.cap_of(index));
        let generated = pairs.len() as u64;
        pairs.sort_unstable();
        pairs.dedup();
        let before = all.len() as u64;
        (all, masks) = merge_distinct(&all, &masks, &pairs, 1 << index);
        rules.push(RuleReport {
            name: rule.name.clone(),
            blocks,
            pairs: generated,
            new_pairs: all.len() as u64 - before,
            oversized,
        });
    }
    let pairs: Vec<Pair> = all.iter().map(|&packed| unpack(packed)).collect();
    let recall = truth.map(|labels| blocking_recall(&pairs, labels));
    Candidates {
        report: BlockingReport {
            rules,
            candidate_pairs: pairs.len() as u64,
            recall,
        },
        pairs,
        rules: masks,
    }
}

fn pack(a: u32, b: u32) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

fn unpack(packed: u64) -> Pair {
    ((packed >> 32) as u32, packed as u32)
}

/// Merges the sorted, distinct pairs of one rule (`right`, marked `bit`)
/// into the sorted, distinct pairs found so far (`left`, with their masks):
/// one sorted, distinct list with the union of the masks.
fn merge_distinct(
    left: &[u64],
    left_masks: &[RuleMask],
    right: &[u64],
    bit: RuleMask,
) -> (Vec<u64>, Vec<RuleMask>) {
    let mut merged = Vec::with_capacity(left.len() + right.len());
    let mut masks = Vec::with_capacity(left.len() + right.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        match left[i].cmp(&right[j]) {
            std::cmp::Ordering::Less => {
                merged.push(left[i]);
                masks.push(left_masks[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                merged.push(right[j]);
                masks.push(bit);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                merged.push(left[i]);
                masks.push(left_masks[i] | bit);
                i += 1;
                j += 1;
            }
        }
    }
    merged.extend_from_slice(&left[i..]);
    masks.extend_from_slice(&left_masks[i..]);
    merged.extend_from_slice(&right[j..]);
    masks.extend(std::iter::repeat_n(bit, right.len() - j));
    (merged, masks)
}

/// `(key, record)` for every key a record has under `rule`. A set field
/// gives one key per element, so a record may sit in several blocks.
fn record_keys(
    table: &RecordTable,
    config: &ResolveConfig,
    rule: &BlockingRule,
) -> Vec<(u64, u32)> {
    let parts = rule_parts(config, rule);
    let mut keys = Vec::with_capacity(table.len());
    let mut combined: Vec<u64> = Vec::new();
    let mut next: Vec<u64> = Vec::new();
    for record in 0..table.len() as u32 {
        keys_of_record(table, &parts, record, &mut combined, &mut next);
        keys.extend(combined.iter().map(|&key| (key, record)));
    }
    keys
}

/// Bits of an index block key that hold the rule's position.
const RULE_SHIFT: u32 = 58;

/// Every block key of one record under all rules: what an index of blocks
/// that grows record by record needs. The top bits of a key hold the rule's
/// position, so blocks of different rules never meet and [`block_cap`]
/// knows each block's cap.
pub fn block_keys_of(table: &RecordTable, config: &ResolveConfig, record: u32) -> Vec<u64> {
    let mut all = Vec::new();
    let (mut combined, mut next) = (Vec::new(), Vec::new());
    for (position, rule) in config.blocking.rules.iter().enumerate() {
        let parts = rule_parts(config, rule);
        keys_of_record(table, &parts, record, &mut combined, &mut next);
        let rule_bits = (position as u64) << RULE_SHIFT;
        all.extend(
            combined
                .iter()
                .map(|&key| (mix(key) >> (64 - RULE_SHIFT)) | rule_bits),
        );
    }
    all.sort_unstable();
    all.dedup();
    all
}

/// The largest block the rule behind index block key `key` pairs.
pub fn block_cap(config: &ResolveConfig, key: u64) -> usize {
    config.blocking.cap_of((key >> RULE_SHIFT) as usize)
}

/// The fields and transforms a rule's key is made of.
fn rule_parts(config: &ResolveConfig, rule: &BlockingRule) -> Vec<(usize, KeyTransform)> {
    rule.keys
        .iter()
        .filter_map(|key| {
            config
                .field_index(&key.field)
                .map(|field| (field, key.transform))
        })
        .collect()
}

/// Leaves in `combined` the sorted, distinct keys of `record` under a rule
/// made of `parts` (none when a part's field is empty).
fn keys_of_record(
    table: &RecordTable,
    parts: &[(usize, KeyTransform)],
    record: u32,
    combined: &mut Vec<u64>,
    next: &mut Vec<u64>,
) {
    combined.clear();
    combined.push(0x51_7c_c1_b7_27_22_0a_95);
    for &(field, transform) in parts {
        next.clear();
        for &id in table.ids(field, record) {
            let Some(part) = derive_key(table.string(id), id, transform) else {
                continue;
            };
            next.extend(combined.iter().map(|&prefix| mix(prefix ^ part)));
        }
        std::mem::swap(combined, next);
        if combined.is_empty() {
            break;
        }
    }
    combined.sort_unstable();
    combined.dedup();
}

/// A 64-bit key for one value; `None` when the transform leaves nothing.
fn derive_key(value: &str, id: u32, transform: KeyTransform) -> Option<u64> {
    match transform {
        // The interned id already identifies the value exactly.
        KeyTransform::Value => Some(u64::from(id) | (1 << 40)),
        KeyTransform::Prefix { chars } => {
            let end = value
                .char_indices()
                .nth(chars)
                .map_or(value.len(), |(at, _)| at);
            Some(hash_text(&value[..end]))
        }
        KeyTransform::Suffix { chars } => {
            let start = value
                .char_indices()
                .rev()
                .nth(chars.saturating_sub(1))
                .map_or(0, |(at, _)| at);
            Some(hash_text(&value[start..]))
        }
        KeyTransform::Soundex => soundex(value).map(|code| hash_text(&code)),
        KeyTransform::SortedTokens => {
            let mut tokens: Vec<&str> = value.split_whitespace().collect();
            tokens.sort_unstable();
            (!tokens.is_empty()).then(|| hash_text(&tokens.join(" ")))
        }
        KeyTransform::PinyinPrefix { letters } => {
            let letters = pinyin_letters(value, letters);
            (!letters.is_empty()).then(|| hash_text(&letters))
        }
    }
}

fn hash_text(text: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// A bijective 64-bit mixer (the SplitMix64 finaliser).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// American Soundex of the Latin letters in `value` (first letter plus three
/// digits). A value with no Latin letters is its own key, so CJK names
/// still block by their characters.
pub fn soundex(value: &str) -> Option<String> {
    fn code(letter: char) -> char {
        match letter {
            'b' | 'f' | 'p' | 'v' => '1',
            'c' | 'g' | 'j' | 'k' | 'q' | 's' | 'x' | 'z' => '2',
            'd' | 't' => '3',
            'l' => '4',
            'm' | 'n' => '5',
            'r' => '6',
            // Vowels and y separate equal codes; h and w do not.
            'h' | 'w' => '-',
            _ => '0',
        }
    }
    let letters: Vec<char> = value
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let Some(&first) = letters.first() else {
        let trimmed = value.trim();
        return (!trimmed.is_empty()).then(|| trimmed.to_string());
    };
    let mut result = String::with_capacity(4);
    result.push(first.to_ascii_uppercase());
    let mut last = code(first);
    for &letter in &letters[1..] {
        let digit = code(letter);
        match digit {
            '-' => continue,
            '0' => last = '0',
            _ if digit != last => {
                result.push(digit);
                last = digit;
                if result.len() == 4 {
                    break;
                }
            }
            _ => {}
        }
    }
    while result.len() < 4 {
        result.push('0');
    }
    Some(result)
}

/// Sorts the keys and emits the pairs of every block within the cap.
fn pairs_in_blocks(
    mut keys: Vec<(u64, u32)>,
    cap: usize,
) -> (Vec<u64>, usize, Vec<OversizedBlock>) {
    keys.sort_unstable();
    let mut pairs = Vec::new();
    let mut blocks = 0;
    let mut oversized = Vec::new();
    for block in keys.chunk_by(|a, b| a.0 == b.0) {
        if block.len() < 2 {
            continue;
        }
        if block.len() > cap {
            oversized.push(OversizedBlock {
                size: block.len(),
                example_record: block[0].1,
            });
            continue;
        }
        blocks += 1;
        for (position, &(_, a)) in block.iter().enumerate() {
            pairs.extend(block[position + 1..].iter().map(|&(_, b)| pack(a, b)));
        }
    }
    (pairs, blocks, oversized)
}

/// Share of the true pairs (records with equal labels) among `pairs`.
pub fn blocking_recall(pairs: &[Pair], labels: &[u32]) -> BlockingRecall {
    let true_pairs = true_pair_count(labels);
    let found = pairs
        .iter()
        .filter(|&&(a, b)| labels[a as usize] == labels[b as usize])
        .count() as u64;
    BlockingRecall {
        true_pairs,
        found,
        recall: if true_pairs == 0 {
            1.0
        } else {
            found as f64 / true_pairs as f64
        },
    }
}

/// Number of unordered pairs of records sharing a label.
pub fn true_pair_count(labels: &[u32]) -> u64 {
    let mut sorted = labels.to_vec();
    sorted.sort_unstable();
    sorted
        .chunk_by(|a, b| a == b)
        .map(|group| {
            let n = group.len() as u64;
            n * (n - 1) / 2
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::resolve::config::{BlockingKey, FieldKind, FieldSpec, Thresholds};
    use crate::resolve::table::{FieldValue, TableBuilder};

    fn config(rules: Vec<BlockingRule>, cap: usize) -> ResolveConfig {
        let field = |name: &str, kind| FieldSpec {
            name: name.into(),
            kind,
            levels: Vec::new(),
        };
        ResolveConfig {
            fields: vec![
                field("name", FieldKind::Text),
                field("phones", FieldKind::Set),
            ],
            strong: Vec::new(),
            blocking: BlockingConfig {
                rules,
                max_block_size: cap,
            },
            training: Default::default(),
            thresholds: Thresholds {
                link: 0.9,
                review: 0.5,
            },
            clustering: Default::default(),
        }
    }

    fn rule(name: &str, field: &str, transform: KeyTransform) -> BlockingRule {
        BlockingRule {
            name: name.into(),
            keys: vec![BlockingKey {
                field: field.into(),
                transform,
            }],
            max_block_size: None,
        }
    }

    fn table(config: &ResolveConfig, rows: &[(&str, &[&str])]) -> RecordTable {
        let mut builder = TableBuilder::new(&config.fields);
        for (name, phones) in rows {
            builder
                .push(&[FieldValue::Text(name), FieldValue::Many(phones)])
                .unwrap();
        }
        builder.finish()
    }

    #[test]
    fn soundex_codes_names_that_sound_alike_the_same() {
        assert_eq!(soundex("Robert").as_deref(), Some("R163"));
        assert_eq!(soundex("Rupert").as_deref(), Some("R163"));
        assert_eq!(soundex("Ashcraft").as_deref(), Some("A261"));
        assert_eq!(soundex("Tymczak").as_deref(), Some("T522"));
        assert_eq!(soundex("Pfister").as_deref(), Some("P236"));
        assert_eq!(soundex("Lee").as_deref(), Some("L000"));
        assert_eq!(soundex("张伟").as_deref(), Some("张伟"));
        assert_eq!(soundex("  "), None);
    }

    #[test]
    fn a_pinyin_prefix_puts_han_and_latin_spellings_in_one_block() {
        let key = |value| derive_key(value, 0, KeyTransform::PinyinPrefix { letters: 4 });
        assert_eq!(key("立信嘉禾电子"), key("lixinjiahe"));
        assert_eq!(key("华为技术"), key("Huawei"));
        assert_ne!(key("立信嘉禾电子"), key("华为技术"));
        assert_eq!(key("——"), None);
    }

    #[test]
    fn a_prefix_and_a_suffix_rule_meet_one_mistyped_digit_anywhere() {
        let config = config(
            vec![
                rule("head", "phones", KeyTransform::Prefix { chars: 6 }),
                rule("tail", "phones", KeyTransform::Suffix { chars: 5 }),
            ],
            10,
        );
        let table = table(
            &config,
            &[
                ("a", &["13800138000"]),
                ("b", &["13900138000"]), // third digit mistyped
                ("c", &["13800138009"]), // last digit mistyped
                ("d", &["15000000000"]),
                ("e", &["8000"]), // shorter than the suffix: the whole value
            ],
        );
        let candidates = candidate_pairs(&table, &config, None);
        assert_eq!(candidates.pairs, vec![(0, 1), (0, 2)]);
        assert_eq!(candidates.rules, vec![0b10, 0b01]);
    }

    #[test]
    fn pairs_are_the_union_over_rules_each_once_with_recall() {
        let config = config(
            vec![
                rule("name", "name", KeyTransform::Soundex),
                rule("phone", "phones", KeyTransform::Value),
                rule("prefix", "name", KeyTransform::Prefix { chars: 2 }),
                rule("initial", "name", KeyTransform::Prefix { chars: 1 }),
            ],
            10,
        );
        let table = table(
            &config,
            &[
                ("robert", &["1"]),
                ("rupert", &["2"]),
                ("alice", &["2", "3"]),
                ("bob", &["3"]),
                ("ronald", &[]),
            ],
        );
        let truth = [0, 0, 1, 1, 2];
        let candidates = candidate_pairs(&table, &config, Some(&truth));
        // soundex: (0,1); phones: (1,2) via "2", (2,3) via "3";
        // prefix "ro": (0,4) — "ru" differs; initial "r": all three r-names.
        assert_eq!(
            candidates.pairs,
            vec![(0, 1), (0, 4), (1, 2), (1, 4), (2, 3)]
        );
        // Each pair knows every rule that found it.
        assert_eq!(
            candidates.rules,
            vec![0b1001, 0b1100, 0b0010, 0b1000, 0b0010]
        );
        let rules = &candidates.report.rules;
        assert_eq!((rules[0].pairs, rules[0].new_pairs), (1, 1));
        assert_eq!((rules[1].pairs, rules[1].new_pairs), (2, 2));
        assert_eq!((rules[2].pairs, rules[2].new_pairs), (1, 1));
        assert_eq!((rules[3].pairs, rules[3].new_pairs), (3, 1));
        let recall = candidates.report.recall.unwrap();
        assert_eq!((recall.true_pairs, recall.found), (2, 2));
        assert_eq!(recall.recall, 1.0);
    }

    #[test]
    fn blocks_over_the_cap_are_skipped_and_reported() {
        let config = config(
            vec![
                rule("prefix", "name", KeyTransform::Prefix { chars: 1 }),
                rule("tokens", "name", KeyTransform::SortedTokens),
            ],
            3,
        );
        let table = table(
            &config,
            &[
                ("wang fang", &[]),
                ("wang li", &[]),
                ("wang wei", &[]),
                ("fang wang", &[]),
                ("wei wang", &[]),
                ("li na", &[]),
            ],
        );
        let truth = [0, 1, 2, 0, 2, 3];
        let candidates = candidate_pairs(&table, &config, Some(&truth));
        let prefix = &candidates.report.rules[0];
        assert_eq!(
            prefix.oversized,
            vec![OversizedBlock {
                size: 4,
                example_record: 0
            }]
        );
        assert_eq!(prefix.pairs, 0);
        // Sorted tokens find the reversed names anyway.
        assert_eq!(candidates.pairs, vec![(0, 3), (2, 4)]);
        assert_eq!(candidates.report.recall.unwrap().recall, 1.0);

        let only_prefix = self::config(
            vec![rule("prefix", "name", KeyTransform::Prefix { chars: 1 })],
            3,
        );
        let candidates = candidate_pairs(&table, &only_prefix, Some(&truth));
        let recall = candidates.report.recall.unwrap();
        assert_eq!(
            (recall.true_pairs, recall.found, recall.recall),
            (2, 0, 0.0)
        );
    }

    #[test]
    fn a_rule_may_cap_its_blocks_below_the_global_cap() {
        let mut rules = vec![
            rule("prefix", "name", KeyTransform::Prefix { chars: 1 }),
            rule("tokens", "name", KeyTransform::SortedTokens),
        ];
        rules[0].max_block_size = Some(2);
        let config = config(rules, 10);
        let table = table(
            &config,
            &[
                ("wang fang", &[]),
                ("wei wang", &[]),
                ("wang wei", &[]),
                ("li na", &[]),
                ("lu yi", &[]),
            ],
        );
        let candidates = candidate_pairs(&table, &config, None);
        // The three `w` names overflow the prefix rule's own cap; the two
        // `l` names do not; the tokens rule still pairs wei wang.
        assert_eq!(candidates.report.rules[0].oversized.len(), 1);
        assert_eq!(candidates.pairs, vec![(1, 2), (3, 4)]);
        assert_eq!(
            (config.blocking.cap_of(0), config.blocking.cap_of(1)),
            (2, 10)
        );
        // The index's block keys carry their rule, and so its cap.
        let caps: BTreeSet<usize> = block_keys_of(&table, &config, 1)
            .into_iter()
            .map(|key| block_cap(&config, key))
            .collect();
        assert_eq!(caps, BTreeSet::from([2, 10]));
    }

    #[test]
    fn records_missing_a_key_part_are_in_no_block() {
        let config = config(vec![rule("phone", "phones", KeyTransform::Value)], 10);
        let table = table(&config, &[("a", &[]), ("b", &[]), ("c", &["1"])]);
        assert!(candidate_pairs(&table, &config, None).pairs.is_empty());
    }
}
