//! Comparison: for each candidate pair and each scored field, the first
//! comparison level the pair satisfies (its "comparison vector").
//!
//! Levels are tried in config order, so `exact` before `jaro_winkler >= 0.92`
//! before `else`; a pair with an empty side is at the missing level. String
//! metrics ([`super::similarity`]) work per character, never per byte, so
//! `张伟` and `张玮` are one substitution apart. Each metric is computed at
//! most once per pair and field, however many levels use it.
//!
//! Pairs are compared on all cores in fixed chunks, each thread writing its
//! own slice of the output, so the result does not depend on scheduling.

use super::blocking::Pair;
use super::config::{LevelSpec, LevelTest, ResolveConfig};
use super::frequency::{TermFrequencies, NO_ADJUSTMENT};
use super::parallel::worker_count;
use super::similarity;
use super::table::{Column, Date, RecordTable, StringId, MISSING};
use crate::normalize::company::han_brand;

/// The level index of a pair with an empty side.
pub const MISSING_LEVEL: u8 = u8::MAX;

/// Comparison vectors of many pairs, row-major. A pair's vector holds its
/// level per scored field, then one term-frequency adjustment byte per
/// term-frequency level ([`super::frequency`]): pair `p`, scored field `f`
/// is at `levels[p * width + f]`, `width` being the fields plus the slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComparisonVectors {
    /// Config indices of the scored fields (those with levels).
    pub fields: Vec<usize>,
    /// Term-frequency adjustment bytes after the levels.
    pub frequency_slots: usize,
    /// Level index per pair and scored field, or [`MISSING_LEVEL`], then the
    /// adjustment bytes.
    pub levels: Vec<u8>,
}

impl ComparisonVectors {
    /// Bytes per pair.
    fn width(&self) -> usize {
        self.fields.len() + self.frequency_slots
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.levels.len().checked_div(self.width()).unwrap_or(0)
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The comparison vector of pair `index`, adjustments included.
    pub fn row(&self, index: usize) -> &[u8] {
        let width = self.width();
        &self.levels[index * width..(index + 1) * width]
    }
}

/// One scored field as the comparator needs it.
struct ScoredField<'a> {
    /// Config index of the field.
    index: usize,
    /// Its levels, in order.
    levels: &'a [LevelSpec],
    /// Parsed dates, for a date field.
    dates: Option<&'a [Option<Date>]>,
    /// The field holds at most one value per record (text or date), kept in
    /// the comparator's rows.
    single: bool,
}

/// Compares one pair field by field; built once per config and table.
pub struct Comparator<'a> {
    table: &'a RecordTable,
    fields: Vec<ScoredField<'a>>,
    frequencies: &'a TermFrequencies,
    /// Per term-frequency slot, its field's position and level.
    frequency_levels: Vec<(usize, u8)>,
    /// The single-valued scored fields' string ids, record by record (one
    /// slot per scored field; set fields' slots are unused): a pair's
    /// values sit in two cache lines rather than one per field and record.
    rows: Vec<StringId>,
}

impl<'a> Comparator<'a> {
    /// A comparator for the scored fields of `config` over `table`, with
    /// term-frequency adjustments from `frequencies`.
    pub fn new(
        table: &'a RecordTable,
        config: &'a ResolveConfig,
        frequencies: &'a TermFrequencies,
    ) -> Comparator<'a> {
        let fields: Vec<ScoredField> = config
            .fields
            .iter()
            .enumerate()
            .filter(|(_, field)| !field.levels.is_empty())
            .map(|(index, field)| {
                let (dates, single) = match table.column(index) {
                    Column::Date { dates, .. } => (Some(dates.as_slice()), true),
                    Column::Text(_) => (None, true),
                    Column::Set { .. } => (None, false),
                };
                ScoredField {
                    index,
                    levels: field.levels.as_slice(),
                    dates,
                    single,
                }
            })
            .collect();
        let mut rows = vec![MISSING; table.len() * fields.len()];
        for (position, field) in fields.iter().enumerate() {
            let column = match table.column(field.index) {
                Column::Text(ids) | Column::Date { text: ids, .. } => ids,
                Column::Set { .. } => continue,
            };
            for (row, &id) in rows.chunks_exact_mut(fields.len()).zip(column) {
                row[position] = id;
            }
        }
        Comparator {
            table,
            fields,
            frequencies,
            frequency_levels: frequencies
                .levels()
                .map(|level| (level.position, level.level))
                .collect(),
            rows,
        }
    }

    /// Config indices of the scored fields.
    pub fn scored_fields(&self) -> Vec<usize> {
        self.fields.iter().map(|field| field.index).collect()
    }

    /// Bytes of one comparison vector.
    pub fn width(&self) -> usize {
        self.fields.len() + self.frequency_levels.len()
    }

    /// Writes the comparison vector of records `a` and `b` into `out`
    /// ([`Comparator::width`] bytes).
    pub fn compare_into(&self, a: u32, b: u32, out: &mut [u8]) {
        let width = self.fields.len();
        let row_a = &self.rows[a as usize * width..][..width];
        let row_b = &self.rows[b as usize * width..][..width];
        for (position, (slot, field)) in out.iter_mut().zip(&self.fields).enumerate() {
            let (left, right) = if field.single {
                (single(&row_a[position]), single(&row_b[position]))
            } else {
                (
                    self.table.ids(field.index, a),
                    self.table.ids(field.index, b),
                )
            };
            *slot = if left.is_empty() || right.is_empty() {
                MISSING_LEVEL
            } else {
                let dates = field
                    .dates
                    .map(|dates| (dates[a as usize], dates[b as usize]));
                let mut pair = ValuePair {
                    table: self.table,
                    left,
                    right,
                    dates,
                    jaro_winkler: None,
                    levenshtein: None,
                    damerau: None,
                };
                field
                    .levels
                    .iter()
                    .position(|level| pair.passes(&level.test))
                    .map_or(MISSING_LEVEL, |level| level as u8)
            };
        }
        for (slot, &(position, level)) in self.frequency_levels.iter().enumerate() {
            out[width + slot] = if out[position] == level {
                let field = self.fields[position].index;
                self.frequencies.adjustment(
                    slot,
                    self.table.ids(field, a),
                    self.table.ids(field, b),
                )
            } else {
                NO_ADJUSTMENT
            };
        }
    }
}

/// One string id as a slice: empty when it is [`MISSING`].
fn single(id: &StringId) -> &[StringId] {
    if *id == MISSING {
        &[]
    } else {
        std::slice::from_ref(id)
    }
}

/// Two non-empty values of one field, with metrics computed on demand.
struct ValuePair<'a> {
    table: &'a RecordTable,
    left: &'a [StringId],
    right: &'a [StringId],
    dates: Option<(Option<Date>, Option<Date>)>,
    jaro_winkler: Option<f64>,
    levenshtein: Option<usize>,
    damerau: Option<usize>,
}

impl ValuePair<'_> {
    fn both_dates(&self) -> Option<(Date, Date)> {
        match self.dates {
            Some((Some(a), Some(b))) => Some((a, b)),
            _ => None,
        }
    }

    /// The best value of `metric` over all element pairs (one pair unless a
    /// side is a set); identical ids short-cut to `identical`.
    fn best<T: Copy>(
        &self,
        identical: T,
        metric: fn(&str, &str) -> T,
        better: fn(T, T) -> bool,
    ) -> T {
        let mut best: Option<T> = None;
        for &x in self.left {
            for &y in self.right {
                let value = if x == y {
                    identical
                } else {
                    metric(self.table.string(x), self.table.string(y))
                };
                if best.is_none_or(|current| better(value, current)) {
                    best = Some(value);
                }
            }
        }
        best.unwrap_or(identical)
    }

    fn passes(&mut self, test: &LevelTest) -> bool {
        match *test {
            LevelTest::Exact => {
                self.left == self.right
                    || self
                        .both_dates()
                        .is_some_and(|(a, b)| a.day_number == b.day_number)
            }
            LevelTest::JaroWinkler { min } => {
                let similarity = match self.jaro_winkler {
                    Some(value) => value,
                    None => {
                        let value = self.best(1.0, similarity::jaro_winkler, |a, b| a > b);
                        self.jaro_winkler = Some(value);
                        value
                    }
                };
                similarity >= min
            }
            LevelTest::Levenshtein { max } => {
                let distance = match self.levenshtein {
                    Some(value) => value,
                    None => {
                        let value = self.best(0, similarity::levenshtein, |a, b| a < b);
                        self.levenshtein = Some(value);
                        value
                    }
                };
                distance <= max
            }
            LevelTest::DamerauLevenshtein { max } => {
                let distance = match self.damerau {
                    Some(value) => value,
                    None => {
                        let value = self.best(0, similarity::osa_distance, |a, b| a < b);
                        self.damerau = Some(value);
                        value
                    }
                };
                distance <= max
            }
            LevelTest::NumericExact => self.left.iter().any(|&x| {
                let x = self.table.string(x).parse::<f64>();
                self.right
                    .iter()
                    .any(|&y| match (&x, self.table.string(y).parse::<f64>()) {
                        (Ok(x), Ok(y)) => x == &y,
                        _ => false,
                    })
            }),
            LevelTest::SetOverlap { min_shared } => {
                shared_count(self.left, self.right) >= min_shared
            }
            LevelTest::DateWithinDays { days } => self
                .both_dates()
                .is_some_and(|(a, b)| a.day_number.abs_diff(b.day_number) <= days),
            LevelTest::DateTransposed => self.both_dates().is_some_and(|(a, b)| {
                a.year == b.year && a.month == b.day && a.day == b.month && a.month != a.day
            }),
            LevelTest::PinyinStart => self.left.iter().any(|&x| {
                let x = self.table.string(x);
                self.right.iter().any(|&y| {
                    let y = self.table.string(y);
                    let spells_brand = |letters, han| {
                        let brand = han_brand(han).chars().count();
                        similarity::spells_han_start(letters, han, brand)
                    };
                    match (x.is_ascii(), y.is_ascii()) {
                        (true, false) => spells_brand(x, y),
                        (false, true) => spells_brand(y, x),
                        _ => false,
                    }
                })
            }),
            LevelTest::Else => true,
        }
    }
}

/// Elements two sorted, distinct id lists share.
fn shared_count(left: &[StringId], right: &[StringId]) -> usize {
    let (mut i, mut j, mut shared) = (0, 0, 0);
    while i < left.len() && j < right.len() {
        match left[i].cmp(&right[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    shared
}

/// Compares every pair, in parallel; row `p` of the result is `pairs[p]`.
/// Each thread takes one contiguous share of the pairs and writes only its
/// share of the output, so the result is the same for any thread count.
pub fn compare_pairs(
    table: &RecordTable,
    config: &ResolveConfig,
    frequencies: &TermFrequencies,
    pairs: &[Pair],
) -> ComparisonVectors {
    let comparator = Comparator::new(table, config, frequencies);
    let fields = comparator.scored_fields();
    let width = comparator.width();
    let mut levels = vec![MISSING_LEVEL; pairs.len() * width];
    if width > 0 && !pairs.is_empty() {
        let share = pairs.len().div_ceil(worker_count());
        std::thread::scope(|scope| {
            for (pair_share, out_share) in pairs.chunks(share).zip(levels.chunks_mut(share * width))
            {
                let comparator = &comparator;
                scope.spawn(move || {
                    for (&(a, b), out) in pair_share.iter().zip(out_share.chunks_mut(width)) {
                        comparator.compare_into(a, b, out);
                    }
                });
            }
        });
    }
    ComparisonVectors {
        fields,
        frequency_slots: frequencies.slots(),
        levels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::config::{BlockingConfig, FieldKind, FieldSpec, LevelSpec, Thresholds};
    use crate::resolve::table::{FieldValue, TableBuilder};

    fn level(test: LevelTest) -> LevelSpec {
        LevelSpec {
            test,
            term_frequency: false,
            term_frequency_max_bonus: None,
            m: None,
            u: None,
        }
    }

    fn config(kind: FieldKind, tests: Vec<LevelTest>) -> ResolveConfig {
        ResolveConfig {
            fields: vec![FieldSpec {
                name: "f".into(),
                kind,
                levels: tests.into_iter().map(level).collect(),
            }],
            strong: Vec::new(),
            blocking: BlockingConfig {
                rules: Vec::new(),
                max_block_size: 10,
            },
            training: Default::default(),
            thresholds: Thresholds {
                link: 0.9,
                review: 0.5,
            },
            clustering: Default::default(),
        }
    }

    /// The level index of (left, right) under `tests` (an `else` is appended).
    fn level_of(
        kind: FieldKind,
        mut tests: Vec<LevelTest>,
        left: FieldValue,
        right: FieldValue,
    ) -> u8 {
        tests.push(LevelTest::Else);
        let config = config(kind, tests);
        let mut builder = TableBuilder::new(&config.fields);
        builder.push(&[left]).unwrap();
        builder.push(&[right]).unwrap();
        let table = builder.finish();
        compare_pairs(&table, &config, &TermFrequencies::new(&config), &[(0, 1)]).levels[0]
    }

    fn text(kind: FieldKind, tests: Vec<LevelTest>, left: &str, right: &str) -> u8 {
        level_of(kind, tests, FieldValue::Text(left), FieldValue::Text(right))
    }

    #[test]
    fn a_latin_name_meets_the_han_name_it_spells() {
        let tests = || vec![LevelTest::Exact, LevelTest::PinyinStart];
        assert_eq!(text(FieldKind::Text, tests(), "huawei", "华为技术"), 1);
        assert_eq!(
            text(FieldKind::Text, tests(), "立信嘉禾电子", "lixinjiahe"),
            1
        );
        assert_eq!(text(FieldKind::Text, tests(), "huawei", "华信科技"), 2);
        assert_eq!(
            text(FieldKind::Text, tests(), "huawei technologies", "华为技术"),
            1
        );
        // Half a brand is another firm's.
        assert_eq!(
            text(FieldKind::Text, tests(), "dongfang", "东方锦程建材"),
            2
        );
        assert_eq!(text(FieldKind::Text, tests(), "huawei", "huawei"), 0);
        // Two Latin or two Han values never read across.
        assert_eq!(text(FieldKind::Text, tests(), "huawei", "huaweitech"), 2);
        assert_eq!(text(FieldKind::Text, tests(), "华为", "华为技术"), 2);
    }

    #[test]
    fn string_levels_take_the_first_that_passes() {
        let tests = || {
            vec![
                LevelTest::Exact,
                LevelTest::JaroWinkler { min: 0.92 },
                LevelTest::JaroWinkler { min: 0.8 },
            ]
        };
        assert_eq!(text(FieldKind::Text, tests(), "martha", "martha"), 0);
        // Jaro-Winkler of martha/marhta is 0.961.
        assert_eq!(text(FieldKind::Text, tests(), "martha", "marhta"), 1);
        // dixon/dicksonx: 0.813.
        assert_eq!(text(FieldKind::Text, tests(), "dixon", "dicksonx"), 2);
        assert_eq!(text(FieldKind::Text, tests(), "martha", "zoe"), 3);
        assert_eq!(text(FieldKind::Text, tests(), "", "zoe"), MISSING_LEVEL);
        assert_eq!(
            level_of(
                FieldKind::Text,
                tests(),
                FieldValue::Missing,
                FieldValue::Missing
            ),
            MISSING_LEVEL
        );
    }

    #[test]
    fn edit_distances_count_characters_not_bytes() {
        let tests = || vec![LevelTest::Levenshtein { max: 1 }];
        assert_eq!(text(FieldKind::Text, tests(), "张伟", "张玮"), 0);
        assert_eq!(text(FieldKind::Text, tests(), "张伟", "李玮"), 1);
        assert_eq!(text(FieldKind::Text, tests(), "smith", "smyth"), 0);
        let swaps = || vec![LevelTest::DamerauLevenshtein { max: 1 }];
        assert_eq!(text(FieldKind::Text, swaps(), "smith", "smiht"), 0);
        assert_eq!(text(FieldKind::Text, tests(), "smith", "smiht"), 1);
    }

    #[test]
    fn numeric_exact_reads_numbers() {
        let tests = || vec![LevelTest::NumericExact];
        assert_eq!(text(FieldKind::Text, tests(), "007", "7"), 0);
        assert_eq!(text(FieldKind::Text, tests(), "7.0", "7"), 0);
        assert_eq!(text(FieldKind::Text, tests(), "7", "8"), 1);
        assert_eq!(text(FieldKind::Text, tests(), "seven", "seven "), 1);
    }

    #[test]
    fn set_levels_compare_elements() {
        let tests = || {
            vec![
                LevelTest::Exact,
                LevelTest::SetOverlap { min_shared: 2 },
                LevelTest::SetOverlap { min_shared: 1 },
                LevelTest::JaroWinkler { min: 0.9 },
            ]
        };
        let set = |values: &'static [&'static str]| FieldValue::Many(values);
        assert_eq!(
            level_of(FieldKind::Set, tests(), set(&["1", "2"]), set(&["2", "1"])),
            0
        );
        assert_eq!(
            level_of(
                FieldKind::Set,
                tests(),
                set(&["1", "2", "3"]),
                set(&["2", "1"])
            ),
            1
        );
        assert_eq!(
            level_of(FieldKind::Set, tests(), set(&["1", "9"]), set(&["2", "1"])),
            2
        );
        // Best element pair: 13800138000 vs 13800138001.
        assert_eq!(
            level_of(
                FieldKind::Set,
                tests(),
                set(&["13800138000", "5"]),
                set(&["13800138001"])
            ),
            3
        );
        assert_eq!(
            level_of(FieldKind::Set, tests(), set(&["a"]), set(&["zzzz"])),
            4
        );
        assert_eq!(
            level_of(FieldKind::Set, tests(), set(&[]), set(&["1"])),
            MISSING_LEVEL
        );
    }

    #[test]
    fn date_levels_know_the_calendar() {
        let tests = || {
            vec![
                LevelTest::Exact,
                LevelTest::DateWithinDays { days: 1 },
                LevelTest::DateTransposed,
                LevelTest::Levenshtein { max: 1 },
                LevelTest::DateWithinDays { days: 365 },
            ]
        };
        let date = |a, b| text(FieldKind::Date, tests(), a, b);
        assert_eq!(date("19900203", "1990-02-03"), 0);
        // Across a month end.
        assert_eq!(date("19900131", "19900201"), 1);
        assert_eq!(date("19900203", "19900302"), 2);
        // Same day and month is not a transposition.
        assert_eq!(date("19900303", "19910303"), 3);
        // One typo in the digits.
        assert_eq!(date("19900203", "19900903"), 3);
        assert_eq!(date("19900203", "19901125"), 4);
        assert_eq!(date("19900203", "19551203"), 5);
        // Not a calendar date: only the string levels apply.
        assert_eq!(date("19901302", "19901302"), 0);
        assert_eq!(date("19901302", "19901303"), 3);
    }

    #[test]
    fn parallel_comparison_matches_one_by_one() {
        let config = config(
            FieldKind::Text,
            vec![
                LevelTest::Exact,
                LevelTest::JaroWinkler { min: 0.8 },
                LevelTest::Else,
            ],
        );
        let names = ["anna", "anne", "ann", "bob", "", "bobby", "hannah", "anna"];
        let mut builder = TableBuilder::new(&config.fields);
        for name in names {
            builder.push(&[FieldValue::Text(name)]).unwrap();
        }
        let table = builder.finish();
        let pairs: Vec<Pair> = (0..8u32)
            .flat_map(|a| (a + 1..8).map(move |b| (a, b)))
            .collect();
        let frequencies = TermFrequencies::of_table(&table, &config);
        let all = compare_pairs(&table, &config, &frequencies, &pairs);
        let comparator = Comparator::new(&table, &config, &frequencies);
        for (row, &(a, b)) in pairs.iter().enumerate() {
            let mut out = [0u8];
            comparator.compare_into(a, b, &mut out);
            assert_eq!(all.row(row), out);
        }
        assert_eq!(all.len(), 28);
    }
}
