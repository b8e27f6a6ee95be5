//! String metrics for comparison levels: Jaro-Winkler, Levenshtein and
//! optimal string alignment (Damerau-Levenshtein without repeated edits of
//! one substring).
//!
//! They give exactly what `strsim` gives, per character, but compare a pair
//! of short ASCII strings (at most [`SHORT`] bytes, which is nearly every
//! name, street, date or id) without allocating: Jaro's matched characters
//! are bits of a `u64`, and the edit-distance rows live on the stack. Any
//! other pair goes to `strsim`. Comparison calls these tens of millions of
//! times, so the allocations `strsim` makes per call were a large share of
//! its time.
//!
//! [`spells_han_start`] and [`pinyin_letters`] read Han text in toneless
//! pinyin, so a firm's Latin name or mail domain (`huawei`) meets its
//! Chinese name (华为技术).

use crate::normalize::chinese::{is_han, pinyin_reading, pinyin_readings};

/// Longest string, in bytes, the allocation-free paths take.
pub const SHORT: usize = 64;

/// Both strings are ASCII and at most [`SHORT`] bytes: bytes are characters.
fn short_ascii<'a>(a: &'a str, b: &'a str) -> Option<(&'a [u8], &'a [u8])> {
    (a.len() <= SHORT && b.len() <= SHORT && a.is_ascii() && b.is_ascii())
        .then_some((a.as_bytes(), b.as_bytes()))
}

/// Jaro-Winkler similarity: Jaro plus a boost of `0.1` per shared leading
/// character (at most four) when Jaro is above 0.7.
pub fn jaro_winkler(a: &str, b: &str) -> f64 {
    let Some((a, b)) = short_ascii(a, b) else {
        return strsim::jaro_winkler(a, b);
    };
    let similarity = jaro(a, b);
    if similarity > 0.7 {
        let prefix = a.iter().zip(b).take(4).take_while(|(x, y)| x == y).count();
        similarity + 0.1 * prefix as f64 * (1.0 - similarity)
    } else {
        similarity
    }
}

/// Jaro similarity of two byte strings of at most [`SHORT`] bytes.
fn jaro(a: &[u8], b: &[u8]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return if a.len() == b.len() { 1.0 } else { 0.0 };
    }
    // A character of `a` matches an equal, not yet matched character of `b`
    // at most `window` positions away; the first such one is taken.
    let window = (a.len().max(b.len()) / 2).saturating_sub(1);
    let (mut a_matched, mut b_matched) = (0u64, 0u64);
    let mut matches = 0usize;
    for (i, &x) in a.iter().enumerate() {
        let start = i.saturating_sub(window);
        let end = b.len().min(i + window + 1);
        if let Some(j) = (start..end).find(|&j| b[j] == x && b_matched & (1 << j) == 0) {
            a_matched |= 1 << i;
            b_matched |= 1 << j;
            matches += 1;
        }
    }
    if matches == 0 {
        return 0.0;
    }
    // Half the matched characters that are out of order.
    let mut out_of_order = 0usize;
    let (mut left, mut right) = (a_matched, b_matched);
    while left != 0 {
        let (i, j) = (left.trailing_zeros(), right.trailing_zeros());
        out_of_order += usize::from(a[i as usize] != b[j as usize]);
        left &= left - 1;
        right &= right - 1;
    }
    let transpositions = out_of_order / 2;
    let matches_f = matches as f64;
    ((matches_f / a.len() as f64)
        + (matches_f / b.len() as f64)
        + ((matches - transpositions) as f64 / matches_f))
        / 3.0
}

/// Levenshtein distance: insertions, deletions and substitutions.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let Some((a, b)) = short_ascii(a, b) else {
        return strsim::levenshtein(a, b);
    };
    // `row[j]`: distance between the part of `a` read so far and `b[..j]`
    // (at most SHORT, so a byte holds it).
    let mut row = [0u8; SHORT + 1];
    for (j, cell) in (0u8..).zip(row.iter_mut().take(b.len() + 1)) {
        *cell = j;
    }
    for (i, &x) in (1u8..).zip(a) {
        let mut diagonal = row[0];
        row[0] = i;
        for (j, &y) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + u8::from(x != y)).min(above + 1).min(row[j] + 1);
            diagonal = above;
        }
    }
    usize::from(row[b.len()])
}

/// Optimal string alignment distance: Levenshtein plus swaps of two
/// neighbouring characters, no substring edited twice.
pub fn osa_distance(a: &str, b: &str) -> usize {
    let Some((a, b)) = short_ascii(a, b) else {
        return strsim::osa_distance(a, b);
    };
    // Three rows of the distance matrix: two back, one back, current; the
    // references rotate, the rows stay put.
    let mut rows = [[0u8; SHORT + 1]; 3];
    let [first, second, third] = &mut rows;
    let (mut before, mut previous, mut current) = (first, second, third);
    for (j, cell) in (0u8..).zip(previous.iter_mut().take(b.len() + 1)) {
        *cell = j;
    }
    for (i, &x) in a.iter().enumerate() {
        current[0] = i as u8 + 1;
        for (j, &y) in b.iter().enumerate() {
            let mut distance = (previous[j] + u8::from(x != y))
                .min(previous[j + 1] + 1)
                .min(current[j] + 1);
            if i > 0 && j > 0 && x != y && x == b[j - 1] && a[i - 1] == y {
                distance = distance.min(before[j - 1] + 1);
            }
            current[j + 1] = distance;
        }
        (before, previous, current) = (previous, current, before);
    }
    usize::from(previous[b.len()])
}

/// Latin `letters` spell, in toneless pinyin, the first `min_chars` or more
/// (at least two) characters of Han text `han`, ending where a character
/// ends (`huawei` and 华为技术, `lixinjiahe` and 立信嘉禾电子, not `lixinj`):
/// how a Chinese firm's mail domain or English name often writes its
/// brand. Any reading of a character counts (`zhongqing` and `chongqing`
/// for 重庆); an ASCII letter or digit in `han` spells itself. `han` must
/// start with two Han characters. Of several words, the first one or more
/// run together may spell it (`hainashengshi building materials` and
/// 海纳盛世建材, `lixin jiahe` and 立信嘉禾).
pub fn spells_han_start(letters: &str, han: &str, min_chars: usize) -> bool {
    fn spells(rest: &[u8], han: &[char], spelled: usize, min: usize) -> bool {
        let Some((&c, later)) = han.split_first() else {
            return rest.is_empty() && spelled >= min;
        };
        if rest.is_empty() {
            return spelled >= min;
        }
        if c.is_ascii_alphanumeric() {
            return rest[0] == c.to_ascii_lowercase() as u8
                && spells(&rest[1..], later, spelled + 1, min);
        }
        pinyin_readings(c).iter().any(|reading| {
            let spelled_as = |form: &str| {
                rest.starts_with(form.as_bytes())
                    && spells(&rest[form.len()..], later, spelled + 1, min)
            };
            // ü is written v, u or yu (吕梁: lvliang, luliang, lyuliang).
            spelled_as(reading)
                || (reading.contains('v')
                    && (spelled_as(&reading.replace('v', "u"))
                        || spelled_as(&reading.replace('v', "yu"))))
        })
    }
    let han: Vec<char> = han.chars().collect();
    if han.len() < 2
        || !is_han(han[0])
        || !is_han(han[1])
        || !letters
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b' ')
    {
        return false;
    }
    let mut run = Vec::with_capacity(letters.len());
    letters.split_whitespace().any(|word| {
        run.extend_from_slice(word.as_bytes());
        spells(&run, &han, 0, min_chars.max(2))
    })
}

/// The first `count` letters of `text` read in toneless pinyin: each Han
/// character by its most common reading, ASCII letters and digits as
/// themselves in lowercase, anything else skipped (`立信嘉禾` and
/// `lixinjiahe` both give `lixi` for 4). Fewer when the text runs out.
pub fn pinyin_letters(text: &str, count: usize) -> String {
    let mut letters = String::with_capacity(count);
    for c in text.chars() {
        if letters.len() >= count {
            break;
        }
        if c.is_ascii_alphanumeric() {
            letters.push(c.to_ascii_lowercase());
        } else if let Some(reading) = pinyin_reading(c) {
            letters.push_str(reading);
        }
    }
    letters.truncate(count);
    letters
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn latin_letters_meet_the_han_name_they_spell() {
        assert!(spells_han_start("huawei", "华为技术", 2));
        assert!(spells_han_start("lixinjiahe", "立信嘉禾电子", 2));
        assert!(spells_han_start("lixinjiahedianzi", "立信嘉禾电子", 2));
        assert!(spells_han_start("zhongqing", "重庆钢铁", 2));
        assert!(spells_han_start("chongqing", "重庆钢铁", 2));
        assert!(spells_han_start("lvyuan", "绿源", 2));
        for spelling in ["lvliang", "luliang", "lyuliang"] {
            assert!(spells_han_start(spelling, "吕梁", 2), "{spelling}");
        }
        assert!(!spells_han_start("lyliang", "吕梁", 2));
        assert!(spells_han_start("huaxin3d", "华信3D打印", 2));
        assert!(
            !spells_han_start("a1shiye", "A1实业", 2),
            "starts with two Han"
        );
        // A syllable cut short, one character, another firm, not Latin.
        assert!(!spells_han_start("lixinj", "立信嘉禾电子", 2));
        assert!(!spells_han_start("li", "立信嘉禾电子", 2));
        assert!(!spells_han_start("lixinkeji", "立信嘉禾电子", 2));
        assert!(!spells_han_start("huaweijishuyouxian", "华为技术", 2));
        assert!(!spells_han_start("Huawei", "华为技术", 2));
        assert!(!spells_han_start("huawei", "Huawei", 2));
        assert!(!spells_han_start("", "华为", 2));
        // The first characters only, where the whole brand is asked for.
        assert!(!spells_han_start("dongfang", "东方锦程建材", 4));
        assert!(spells_han_start("dongfangjincheng", "东方锦程建材", 4));
        // The first words of a Latin name, run together.
        assert!(spells_han_start(
            "hainashengshi building materials",
            "海纳盛世建材",
            4
        ));
        assert!(spells_han_start(
            "lixin jiahe electronics",
            "立信嘉禾电子",
            4
        ));
        assert!(!spells_han_start("lixin electronics", "立信嘉禾电子", 4));
        assert!(!spells_han_start(
            "building hainashengshi",
            "海纳盛世建材",
            4
        ));
    }

    #[test]
    fn pinyin_letters_read_han_and_latin_alike() {
        assert_eq!(pinyin_letters("立信嘉禾电子", 4), "lixi");
        assert_eq!(pinyin_letters("lixinjiahe", 4), "lixi");
        assert_eq!(pinyin_letters("Li Xin", 4), "lixi");
        assert_eq!(pinyin_letters("华为", 12), "huawei");
        assert_eq!(pinyin_letters("—", 4), "");
    }

    #[test]
    fn known_values() {
        assert!((jaro_winkler("martha", "marhta") - 0.961).abs() < 0.001);
        assert!((jaro_winkler("dixon", "dicksonx") - 0.813).abs() < 0.001);
        assert_eq!(jaro_winkler("", ""), 1.0);
        assert_eq!(jaro_winkler("a", ""), 0.0);
        assert_eq!(jaro_winkler("abc", "xyz"), 0.0);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(osa_distance("ab", "bca"), 3);
        assert_eq!(osa_distance("smith", "smiht"), 1);
        assert_eq!(levenshtein("smith", "smiht"), 2);
        // Past the allocation-free paths: the same definitions.
        assert_eq!(levenshtein("张伟", "张玮"), 1);
        let long = "a".repeat(SHORT + 1);
        assert_eq!(levenshtein(&long, "a"), SHORT);
    }

    proptest! {
        /// Every metric equals strsim's, bit for bit, on short strings over
        /// a small alphabet (so matches, swaps and repeats are common) and
        /// on strings past the short path.
        #[test]
        fn metrics_equal_strsim(
            a in "[abcde]{0,12}|[a-z]{0,70}|[a-c张伟]{0,6}",
            b in "[abcde]{0,12}|[a-z]{0,70}|[a-c张伟]{0,6}",
        ) {
            prop_assert_eq!(
                jaro_winkler(&a, &b).to_bits(),
                strsim::jaro_winkler(&a, &b).to_bits()
            );
            prop_assert_eq!(levenshtein(&a, &b), strsim::levenshtein(&a, &b));
            prop_assert_eq!(osa_distance(&a, &b), strsim::osa_distance(&a, &b));
        }
    }
}
