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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
