//! Term frequencies: agreement on a rare value says more than agreement on
//! a common one. Two records sharing 欧阳娜娜 are far likelier one person
//! than two sharing 张伟, yet one `set_overlap` level gives both the same u.
//!
//! A level marked `term_frequency = true` (an `exact` or `set_overlap`
//! level) has its weight adjusted by how common the shared value is. For
//! each such field the table's values are counted (a record counts once per
//! value it holds); a pair at the level shares at least one value, and the
//! rarest one it shares is the one that counts. Against the *typical*
//! shared value, the count a randomly chosen value occurrence has (Σc²/Σc,
//! the share of agreeing pairs each value makes up), every halving of the
//! count adds one bit of weight and every doubling takes one away: the
//! configured u stays the level's average, as Splink's term-frequency
//! adjustment keeps it, without a per-dataset reference.
//!
//! Counts and the typical count are both taken to whole powers of two, so
//! the adjustment is a whole number of bits that changes only when a count
//! crosses a power of two. The resolution index relies on that: it rescores
//! the holders of a value when its class changes and everything when the
//! typical count's class does, and so stays equal to a full run.

use super::compare::MISSING_LEVEL;
use super::config::{LevelTest, ResolveConfig};
use super::table::{RecordTable, StringId};

/// The adjustment byte of a pair that is not at a term-frequency level.
pub const NO_ADJUSTMENT: u8 = MISSING_LEVEL;

/// The adjustment byte of a zero adjustment; bytes above add bits.
const ZERO: i32 = 128;

/// Largest adjustment either way, in bits.
const MAX_BITS: i32 = 60;

/// A level weighed by term frequency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrequencyLevel {
    /// Config index of the field.
    pub field: usize,
    /// Position of the field among the scored fields (in comparison-vector
    /// order).
    pub position: usize,
    /// The level's index.
    pub level: u8,
    /// Most bits a rare value adds.
    pub max_bonus: i32,
}

/// The term-frequency levels of `config`, in field order: slot `k` of a
/// comparison vector's adjustments belongs to entry `k`.
pub fn frequency_levels(config: &ResolveConfig) -> Vec<FrequencyLevel> {
    config
        .fields
        .iter()
        .enumerate()
        .filter(|(_, field)| !field.levels.is_empty())
        .enumerate()
        .filter_map(|(position, (field, spec))| {
            let level = spec.levels.iter().position(|level| {
                level.term_frequency
                    && matches!(level.test, LevelTest::Exact | LevelTest::SetOverlap { .. })
            })?;
            Some(FrequencyLevel {
                field,
                position,
                level: level as u8,
                max_bonus: spec.levels[level]
                    .term_frequency_max_bonus
                    .map_or(MAX_BITS, i32::from)
                    .min(MAX_BITS),
            })
        })
        .collect()
}

/// The adjustment in bits an adjustment byte stands for (0 for
/// [`NO_ADJUSTMENT`]).
pub fn adjustment_bits(byte: u8) -> f64 {
    if byte == NO_ADJUSTMENT {
        0.0
    } else {
        f64::from(i32::from(byte) - ZERO)
    }
}

/// `floor(log2(count))`, the class of a count (0 for 0 and 1).
fn class_of(count: u64) -> i32 {
    63 - count.max(1).leading_zeros() as i32
}

/// One term-frequency field's counts.
#[derive(Debug, Clone)]
struct FieldCounts {
    level: FrequencyLevel,
    /// Records holding each value, by string id.
    counts: Vec<u32>,
    /// Σc over all values.
    total: u64,
    /// Σc² over all values.
    squares: u64,
}

impl FieldCounts {
    fn count(&self, id: StringId) -> u32 {
        self.counts.get(id as usize).copied().unwrap_or(0)
    }

    /// The class of the typical shared value's count.
    fn typical_class(&self) -> i32 {
        class_of(self.squares.checked_div(self.total).unwrap_or(0))
    }

    fn change(&mut self, id: StringId, up: bool) {
        let slot = id as usize;
        if slot >= self.counts.len() {
            self.counts.resize(slot + 1, 0);
        }
        let count = &mut self.counts[slot];
        let before = u64::from(*count);
        if up {
            *count += 1;
            self.total += 1;
            self.squares += 2 * before + 1;
        } else {
            *count -= 1;
            self.total -= 1;
            self.squares -= 2 * before - 1;
        }
    }
}

/// Value counts of every term-frequency field over the records counted.
#[derive(Debug, Clone)]
pub struct TermFrequencies {
    fields: Vec<FieldCounts>,
}

impl TermFrequencies {
    /// No records counted yet.
    pub fn new(config: &ResolveConfig) -> TermFrequencies {
        TermFrequencies {
            fields: frequency_levels(config)
                .into_iter()
                .map(|level| FieldCounts {
                    level,
                    counts: Vec::new(),
                    total: 0,
                    squares: 0,
                })
                .collect(),
        }
    }

    /// Counts every record of `table`: what a full run weighs with.
    pub fn of_table(table: &RecordTable, config: &ResolveConfig) -> TermFrequencies {
        let mut frequencies = TermFrequencies::new(config);
        for record in 0..table.len() as u32 {
            frequencies.add(table, record);
        }
        frequencies
    }

    /// How many adjustment slots a comparison vector has.
    pub fn slots(&self) -> usize {
        self.fields.len()
    }

    /// The term-frequency levels, slot by slot.
    pub fn levels(&self) -> impl Iterator<Item = FrequencyLevel> + '_ {
        self.fields.iter().map(|field| field.level)
    }

    /// Counts the values of `record`.
    pub fn add(&mut self, table: &RecordTable, record: u32) {
        for field in &mut self.fields {
            for &id in table.ids(field.level.field, record) {
                field.change(id, true);
            }
        }
    }

    /// Uncounts the values of `record` (counted before).
    pub fn remove(&mut self, table: &RecordTable, record: u32) {
        for field in &mut self.fields {
            for &id in table.ids(field.level.field, record) {
                field.change(id, false);
            }
        }
    }

    /// The class of value `id` in `slot`: the adjustment of pairs sharing
    /// it changes exactly when this does.
    pub fn value_class(&self, slot: usize, id: StringId) -> i32 {
        class_of(u64::from(self.fields[slot].count(id)))
    }

    /// The class of the typical count in `slot`: when it changes, every
    /// adjustment of the slot does.
    pub fn typical_class(&self, slot: usize) -> i32 {
        self.fields[slot].typical_class()
    }

    /// The adjustment byte of a pair at `slot`'s level holding `left` and
    /// `right` (sorted id lists): from the rarest value both hold.
    pub fn adjustment(&self, slot: usize, left: &[StringId], right: &[StringId]) -> u8 {
        let field = &self.fields[slot];
        let rarest = left
            .iter()
            .filter(|id| right.binary_search(id).is_ok())
            .map(|&id| field.count(id))
            .min();
        let Some(count) = rarest else {
            return NO_ADJUSTMENT;
        };
        let bits = field.typical_class() - class_of(u64::from(count));
        (ZERO + bits.clamp(-MAX_BITS, field.level.max_bonus)) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::table::{FieldValue, TableBuilder};

    const CONFIG: &str = r#"
        [[fields]]
        name = "name"
        kind = "set"
        levels = [
            { test = "set_overlap", m = 0.8, u = 0.004, term_frequency = true },
            { test = "else", m = 0.2, u = 0.996 },
        ]
        [[fields]]
        name = "city"
        levels = [
            { test = "exact", m = 0.8, u = 0.1 },
            { test = "else", m = 0.2, u = 0.9 },
        ]
        [blocking]
        rules = [{ name = "name", keys = [{ field = "name" }] }]
        [thresholds]
        link = 0.9
        review = 0.5
    "#;

    fn table(names: &[&[&str]]) -> (RecordTable, ResolveConfig) {
        let config = ResolveConfig::from_toml(CONFIG).expect("valid config");
        let mut builder = TableBuilder::new(&config.fields);
        for name in names {
            builder
                .push(&[FieldValue::Many(name), FieldValue::Missing])
                .expect("a record");
        }
        (builder.finish(), config)
    }

    fn id(table: &RecordTable, record: u32, value: &str) -> StringId {
        *table
            .ids(0, record)
            .iter()
            .find(|&&id| table.string(id) == value)
            .expect("the value")
    }

    #[test]
    fn classes_are_whole_powers_of_two() {
        assert_eq!(
            [0, 1, 2, 3, 4, 7, 8, 1023, 1024].map(class_of),
            [0, 0, 1, 1, 2, 2, 3, 9, 10]
        );
    }

    #[test]
    fn rare_values_add_bits_and_common_ones_take_them_away() {
        // 张伟 held by 8 records, 欧阳娜娜 by 2, 王芳 by 4: Σc²/Σc = 84/14 = 6,
        // class 2.
        let mut names: Vec<&[&str]> = vec![&["张伟"]; 8];
        names.extend([&["欧阳娜娜"][..], &["欧阳娜娜"]]);
        names.extend([&["王芳"][..]; 4]);
        let (table, config) = table(&names);
        let frequencies = TermFrequencies::of_table(&table, &config);
        assert_eq!(frequencies.slots(), 1);
        assert_eq!(frequencies.typical_class(0), 2);
        let common = id(&table, 0, "张伟");
        let rare = id(&table, 8, "欧阳娜娜");
        let typical = id(&table, 10, "王芳");
        assert_eq!(
            adjustment_bits(frequencies.adjustment(0, &[common], &[common])),
            -1.0
        );
        assert_eq!(
            adjustment_bits(frequencies.adjustment(0, &[rare], &[rare])),
            1.0
        );
        assert_eq!(
            adjustment_bits(frequencies.adjustment(0, &[typical], &[typical])),
            0.0
        );
        // Sharing both a common and a rare value: the rare one counts.
        let mut both = [common, rare];
        both.sort_unstable();
        assert_eq!(
            adjustment_bits(frequencies.adjustment(0, &both, &both)),
            1.0
        );
        assert_eq!(frequencies.adjustment(0, &[common], &[rare]), NO_ADJUSTMENT);
        assert_eq!(adjustment_bits(NO_ADJUSTMENT), 0.0);
    }

    #[test]
    fn a_rare_value_adds_no_more_than_the_bonus_allows() {
        let mut names: Vec<&[&str]> = vec![&["张伟"]; 64];
        names.extend([&["欧阳娜娜"][..], &["欧阳娜娜"]]);
        let (table, _) = table(&names);
        let capped = ResolveConfig::from_toml(&CONFIG.replace(
            "term_frequency = true",
            "term_frequency = true, term_frequency_max_bonus = 2",
        ))
        .expect("valid config");
        let rare = id(&table, 64, "欧阳娜娜");
        let open = ResolveConfig::from_toml(CONFIG).expect("valid config");
        let unbounded = TermFrequencies::of_table(&table, &open);
        let bounded = TermFrequencies::of_table(&table, &capped);
        // Σc²/Σc = 4100/66 = 62: class 5, against class 1 for a pair.
        assert_eq!(
            adjustment_bits(unbounded.adjustment(0, &[rare], &[rare])),
            4.0
        );
        assert_eq!(
            adjustment_bits(bounded.adjustment(0, &[rare], &[rare])),
            2.0
        );
    }

    #[test]
    fn explanations_name_the_adjustment_and_weights_include_it() {
        let config = ResolveConfig::from_toml(CONFIG).expect("valid config");
        let model = crate::resolve::fellegi_sunter::Model::from_config(&config);
        let plain = model.explain(&[0, 0, NO_ADJUSTMENT]);
        let common = model.explain(&[0, 0, (ZERO - 2) as u8]);
        assert_eq!(&*plain.fields[0].level, "shares>=1");
        assert_eq!(&*common.fields[0].level, "shares>=1, common (-2)");
        assert_eq!(common.fields[0].weight, plain.fields[0].weight - 2.0);
        assert_eq!(common.total_weight, plain.total_weight - 2.0);
        assert_eq!(model.weight(&[0, 0, (ZERO - 2) as u8]), common.total_weight);
        let rare = model.explain(&[0, 0, (ZERO + 1) as u8]);
        assert_eq!(&*rare.fields[0].level, "shares>=1, rare (+1)");
    }

    #[test]
    fn removing_a_record_undoes_adding_it() {
        let (table, config) = table(&[&["张伟", "zhang wei"], &["张伟"], &["李娜"]]);
        let all = TermFrequencies::of_table(&table, &config);
        let mut changed = all.clone();
        changed.remove(&table, 0);
        assert_eq!(changed.value_class(0, id(&table, 1, "张伟")), 0);
        changed.add(&table, 0);
        for slot in 0..all.slots() {
            assert_eq!(changed.fields[slot].counts, all.fields[slot].counts);
            assert_eq!(changed.fields[slot].total, all.fields[slot].total);
            assert_eq!(changed.fields[slot].squares, all.fields[slot].squares);
        }
    }

    #[test]
    fn only_marked_value_levels_are_weighed_by_frequency() {
        let config = ResolveConfig::from_toml(CONFIG).expect("valid config");
        assert_eq!(
            frequency_levels(&config),
            vec![FrequencyLevel {
                field: 0,
                position: 0,
                level: 0,
                max_bonus: MAX_BITS,
            }]
        );
        let fuzzy = CONFIG.replace(
            r#"{ test = "else", m = 0.2, u = 0.996 }"#,
            r#"{ test = "jaro_winkler", min = 0.9, m = 0.1, u = 0.01, term_frequency = true },
               { test = "else", m = 0.1, u = 0.986 }"#,
        );
        let errors = ResolveConfig::from_toml(&fuzzy).expect_err("refused");
        assert!(
            errors[0]
                .0
                .contains("term_frequency needs an exact or set_overlap level"),
            "{errors:?}"
        );
    }
}
