//! Phone numbers to E.164, China first.
//!
//! Numbers without a country code are read as Chinese (+86). The rules follow
//! how numbers actually appear in Chinese CRM and order data: full-width digits,
//! `+86`/`0086`/`86` prefixes, a trunk `0`, IP long-distance prefixes such as
//! `17951`, landlines with 2- or 3-digit area codes, switchboard extensions and
//! 400/800 service numbers.

use crate::normalize::chinese::nfkc;

/// What kind of line a number is, so that matching can treat a personal mobile
/// as stronger evidence than a landline or a company-wide service number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhoneKind {
    /// Chinese mobile: `1[3-9]` followed by 9 digits.
    Mobile,
    /// Chinese fixed line: area code plus a 7–8 digit subscriber number.
    Landline,
    /// Chinese 400/800 service number, usually shared by a whole company.
    Service,
    /// Any non-Chinese number; validated only by its length.
    International,
}

/// A phone number in canonical form.
///
/// `e164` alone identifies the line, which is why the extension is kept in its
/// own field: two contacts on the same switchboard share `e164`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NormalizedPhone {
    /// E.164 form without extension, e.g. `+8613800138000` or `+861088886666`.
    pub e164: String,
    /// Line kind, derived from the number's shape.
    pub kind: PhoneKind,
    /// Extension digits (`"8001"`), if the source gave one.
    pub extension: Option<String>,
}

impl NormalizedPhone {
    fn chinese(national: &str, kind: PhoneKind) -> Self {
        Self {
            e164: format!("+86{national}"),
            kind,
            extension: None,
        }
    }

    fn with_extension(mut self, extension: &str) -> Self {
        self.extension = Some(extension.to_string());
        self
    }
}

/// Words that introduce an extension. `ext` also covers `ext.` because dots are
/// trimmed from the extension afterwards; longer markers come first so that
/// `ext` is not mistaken for `x`.
const EXTENSION_MARKERS: [&str; 5] = ["ext", "分机", "转", "x", "#"];

/// Longest extension accepted; longer digit runs are more likely a second number.
const MAX_EXTENSION_DIGITS: usize = 6;

/// Normalizes one phone number to E.164, reading numbers without a country
/// code as Chinese. Returns `None` for anything that cannot be dialled from
/// outside on its own (bare subscriber numbers, internal extensions, text).
pub fn normalize_phone(raw: &str) -> Option<NormalizedPhone> {
    // NFKC turns full-width digits, `＋` and `（）` into ASCII; lowercasing lets
    // `EXT`/`X` markers match.
    let text = clean_text(&nfkc(raw).to_ascii_lowercase());
    let (number, extension) = split_marked_extension(strip_label(text.trim())?)?;
    match extension {
        Some(extension) => parse_number(number).map(|phone| phone.with_extension(extension)),
        None => split_dash_extension(number).or_else(|| parse_number(number)),
    }
}

/// Normalizes a field that may hold several numbers (`138… / 010-…`, `、`,
/// `，`, `;`, newlines, ` or `), returning each valid one once, in order of
/// appearance, with its kind and extension. Invalid parts are skipped so one
/// bad entry does not hide the rest; a part that is no number as a whole is
/// read again word by word, for numbers separated by spaces only.
pub fn normalize_phones(raw: &str) -> Vec<NormalizedPhone> {
    // NFKC first so that `，` and `；` become the ASCII separators split on below.
    let text = nfkc(raw).to_ascii_lowercase().replace(" or ", "/");
    let mut phones: Vec<NormalizedPhone> = Vec::new();
    for part in text.split(['/', '、', ',', ';', '\n', '\r']) {
        match normalize_phone(part) {
            Some(phone) => push_new(&mut phones, phone),
            None => {
                for word in part.split_whitespace() {
                    if let Some(phone) = normalize_phone(word) {
                        push_new(&mut phones, phone);
                    }
                }
            }
        }
    }
    phones
}

fn push_new(phones: &mut Vec<NormalizedPhone>, phone: NormalizedPhone) {
    if !phones.contains(&phone) {
        phones.push(phone);
    }
}

/// Masks an E.164 number for logs, keeping the country code, the first three
/// and the last two national digits (`+86138******00`): enough to tell numbers
/// apart while debugging without writing personal data to log files.
pub fn mask_phone(e164: &str) -> String {
    let digits = match e164.strip_prefix('+') {
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => digits,
        // Not E.164: reveal nothing but the length.
        _ => return "*".repeat(e164.chars().count()),
    };
    let (country, national) = digits.split_at(country_code_len(digits).min(digits.len()));
    let masked = if national.len() > 5 {
        let hidden = "*".repeat(national.len() - 5);
        format!(
            "{}{hidden}{}",
            &national[..3],
            &national[national.len() - 2..]
        )
    } else {
        "*".repeat(national.len())
    };
    format!("+{country}{masked}")
}

/// Length of the ITU country code at the start of `digits`: `1` and `7` are
/// one digit, the listed prefixes are complete two-digit codes, all others
/// (e.g. 852, 886) have three digits.
fn country_code_len(digits: &str) -> usize {
    const TWO_DIGIT_CODES: [&str; 44] = [
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
        "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
        "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
    ];
    if digits.starts_with('1') || digits.starts_with('7') {
        1
    } else if TWO_DIGIT_CODES.iter().any(|code| digits.starts_with(code)) {
        2
    } else {
        3
    }
}

/// Dashes other than `-` that people and input methods put between digit
/// groups: em and en dash, hyphen, non-breaking hyphen, minus.
const DASHES: [char; 5] = ['—', '–', '‐', '‑', '−'];

/// `text` with what is not part of a number taken out: invisible format
/// characters (a BOM, zero-width spaces), notes in brackets that hold no
/// digit (`13800138000(微信同号)`, `（本人）`), and, after a country code,
/// the `(0)` of the trunk prefix (`+44 (0)20 7946 0958`); other dashes
/// become `-`.
fn clean_text(text: &str) -> String {
    let mut cleaned = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if matches!(c, '\u{200b}'..='\u{200f}' | '\u{2060}' | '\u{feff}') {
            continue;
        }
        if let Some(closer) = match c {
            '(' => Some(')'),
            '[' => Some(']'),
            '【' => Some('】'),
            _ => None,
        } {
            let rest: String = chars.clone().collect();
            if let Some(end) = rest.find(closer) {
                let inside = &rest[..end];
                if !inside.bytes().any(|b| b.is_ascii_digit()) {
                    for _ in 0..inside.chars().count() + 1 {
                        chars.next();
                    }
                    cleaned.push(' ');
                    continue;
                }
            }
        }
        cleaned.push(if DASHES.contains(&c) { '-' } else { c });
    }
    if cleaned.trim_start().starts_with('+') {
        cleaned = cleaned.replacen("(0)", " ", 1);
    }
    cleaned
}

/// Labels that mark a fax line, which reaches no person.
const FAX_LABELS: [&str; 2] = ["传真", "fax"];

/// Drops a label in front of the number (`手机：138…`, `Tel: 010-…`,
/// `mobile 138…`). Returns `None` for fax numbers and for text without digits.
fn strip_label(text: &str) -> Option<&str> {
    let start = text.find(|c: char| c.is_ascii_digit() || matches!(c, '+' | '(' | '[' | '【'))?;
    let label = &text[..start];
    if !label.chars().any(char::is_alphabetic) {
        return Some(text);
    }
    if FAX_LABELS.iter().any(|fax| label.contains(fax)) {
        return None;
    }
    Some(&text[start..])
}

/// Splits `number 转 8001` style input into number and extension. Returns
/// `None` when a marker is present but not followed by a plausible extension,
/// because then the field is not a phone number we understand.
fn split_marked_extension(text: &str) -> Option<(&str, Option<&str>)> {
    let Some((number, extension)) = EXTENSION_MARKERS
        .iter()
        .find_map(|marker| text.split_once(marker))
    else {
        return Some((text, None));
    };
    let extension = extension.trim_matches(|c: char| c.is_whitespace() || c == '.' || c == ':');
    is_extension(extension).then_some((number, Some(extension)))
}

/// `010-88886666-8001`: a trailing dash group after a complete landline is an
/// extension. Only landlines qualify; other kinds are not written that way.
fn split_dash_extension(number: &str) -> Option<NormalizedPhone> {
    let (head, tail) = number.rsplit_once('-')?;
    let tail = tail.trim();
    if !is_extension(tail) {
        return None;
    }
    parse_number(head)
        .filter(|phone| phone.kind == PhoneKind::Landline)
        .map(|phone| phone.with_extension(tail))
}

fn is_extension(text: &str) -> bool {
    (1..=MAX_EXTENSION_DIGITS).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// Parses a number without extension: digits plus optional leading `+`.
fn parse_number(number: &str) -> Option<NormalizedPhone> {
    let number = number.trim();
    let number = number.strip_prefix("tel:").unwrap_or(number);
    let (digits, explicit_plus) = collect_digits(number)?;
    if explicit_plus || is_north_american_grouping(number) {
        return parse_with_country_code(&digits);
    }
    // Dialled forms can't be confused with each other: a domestic number is at
    // most 13 digits, IP-dial + domestic at least 15, and only the
    // international form has `00` after the optional carrier prefix.
    parse_domestic(&digits)
        .or_else(|| strip_ip_dial_prefix(&digits).and_then(parse_domestic))
        .or_else(|| strip_international_prefix(&digits).and_then(parse_with_country_code))
}

/// Keeps the digits and notes a leading `+`. Separators may appear anywhere;
/// any other character (letters, a `+` after digits) rejects the number.
fn collect_digits(number: &str) -> Option<(String, bool)> {
    let mut digits = String::new();
    let mut explicit_plus = false;
    for c in number.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if c == '+' && digits.is_empty() && !explicit_plus {
            explicit_plus = true;
        } else if !is_separator(c) {
            return None;
        }
    }
    (!digits.is_empty()).then_some((digits, explicit_plus))
}

/// Characters people put between digit groups; full-width `（）［］` are
/// already ASCII after NFKC, `【】` are not.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '.' | '(' | ')' | '[' | ']' | '【' | '】')
}

/// What follows an IP long-distance carrier prefix, libphonenumber's
/// `1(?:[12]\d{3}|79\d{2}|9[0-7]\d{2})` (`17951`, `17911`, `12593`,
/// `17909`, `19300`), if `digits` start with one.
fn strip_ip_dial_prefix(digits: &str) -> Option<&str> {
    match digits.as_bytes() {
        [b'1', b'1' | b'2', _, _, _, ..]
        | [b'1', b'7', b'9', _, _, ..]
        | [b'1', b'9', b'0'..=b'7', _, _, ..] => Some(&digits[5..]),
        _ => None,
    }
}

/// Strips China's international prefix, libphonenumber's
/// `(1(?:[12]\d{3}|79\d{2}|9[0-7]\d{2}))?00`, leaving country code + number.
fn strip_international_prefix(digits: &str) -> Option<&str> {
    strip_ip_dial_prefix(digits)
        .unwrap_or(digits)
        .strip_prefix("00")
}

/// `1 (415) 555-2671`: a North American number with its country code but
/// no `+`, the area code in brackets. Only that form: `1-415-555-2671` is
/// also eleven digits starting with 1, which is how a Chinese mobile with
/// stray separators looks, and Chinese numbers come first.
fn is_north_american_grouping(number: &str) -> bool {
    let Some(rest) = number.trim_start().strip_prefix('1') else {
        return false;
    };
    let Some((area, line)) = rest
        .trim_start()
        .strip_prefix('(')
        .and_then(|rest| rest.split_once(')'))
    else {
        return false;
    };
    let line_digits = line.chars().filter(char::is_ascii_digit).count();
    area.len() == 3
        && area.bytes().all(|b| b.is_ascii_digit())
        && !area.starts_with(['0', '1'])
        && line_digits == 7
        && line.chars().all(|c| c.is_ascii_digit() || is_separator(c))
}

/// Reads digits that start with a country code (after `+` or `00`).
fn parse_with_country_code(digits: &str) -> Option<NormalizedPhone> {
    if let Some(national) = digits.strip_prefix("86") {
        return parse_chinese_national(national);
    }
    // E.164 allows at most 15 digits; fewer than 8 is never a full number.
    let plausible = (8..=15).contains(&digits.len()) && !digits.starts_with('0');
    plausible.then(|| NormalizedPhone {
        e164: format!("+{digits}"),
        kind: PhoneKind::International,
        extension: None,
    })
}

/// Reads a Chinese number dialled inside China (no `+`/`00`).
fn parse_domestic(digits: &str) -> Option<NormalizedPhone> {
    if let Some(after_trunk) = digits.strip_prefix('0') {
        return parse_after_trunk(after_trunk);
    }
    // `86` without `+` is only trusted in front of a complete mobile; for
    // shorter numbers it is too likely part of the number itself.
    if digits.len() == 13 && digits.starts_with("861") {
        return parse_mobile(&digits[2..]);
    }
    parse_mobile(digits).or_else(|| parse_service(digits))
}

/// Reads a Chinese number following `+86`. A stray trunk `0`, as in
/// `+86 (0)755 …`, is tolerated because it is common in signatures.
fn parse_chinese_national(national: &str) -> Option<NormalizedPhone> {
    if let Some(after_trunk) = national.strip_prefix('0') {
        return parse_after_trunk(after_trunk);
    }
    parse_mobile(national)
        .or_else(|| parse_service(national))
        .or_else(|| parse_landline(national))
}

/// After a trunk `0` comes an area code, or (written sloppily) a mobile.
fn parse_after_trunk(national: &str) -> Option<NormalizedPhone> {
    parse_mobile(national).or_else(|| parse_landline(national))
}

fn parse_mobile(national: &str) -> Option<NormalizedPhone> {
    let is_mobile = national.len() == 11 && matches!(national.as_bytes(), [b'1', b'3'..=b'9', ..]);
    is_mobile.then(|| NormalizedPhone::chinese(national, PhoneKind::Mobile))
}

fn parse_service(national: &str) -> Option<NormalizedPhone> {
    let is_service =
        national.len() == 10 && (national.starts_with("400") || national.starts_with("800"));
    is_service.then(|| NormalizedPhone::chinese(national, PhoneKind::Service))
}

/// Landline without trunk `0`: `10` and `2x` are 2-digit area codes followed by
/// 8 digits; other area codes have 3 digits followed by 7 or 8 digits. `400`
/// and `800` are not area codes, so those numbers stay service-only and a
/// normalized number re-parses to the same kind.
fn parse_landline(national: &str) -> Option<NormalizedPhone> {
    let is_landline = match national.as_bytes() {
        [b'1', b'0', ..] | [b'2', ..] => national.len() == 10,
        [b'3'..=b'9', ..] => {
            (national.len() == 10 || national.len() == 11)
                && !national.starts_with("400")
                && !national.starts_with("800")
        }
        _ => false,
    };
    is_landline.then(|| NormalizedPhone::chinese(national, PhoneKind::Landline))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use PhoneKind::{International, Landline, Mobile, Service};

    type Expected = Option<(&'static str, PhoneKind, Option<&'static str>)>;

    const fn ok(e164: &'static str, kind: PhoneKind) -> Expected {
        Some((e164, kind, None))
    }

    const fn ext(e164: &'static str, kind: PhoneKind, extension: &'static str) -> Expected {
        Some((e164, kind, Some(extension)))
    }

    const M: Expected = ok("+8613800138000", Mobile);
    const BEIJING: Expected = ok("+861088886666", Landline);
    const SHENZHEN: Expected = ok("+8675512345678", Landline);
    const SHENZHEN_EXT: Expected = ext("+8675512345678", Landline, "8001");
    const US: Expected = ok("+14155550123", International);
    const UK: Expected = ok("+442079460958", International);

    const CASES: &[(&str, Expected)] = &[
        // Mobiles with separators.
        ("13800138000", M),
        ("138 0013 8000", M),
        ("138-0013-8000", M),
        ("138.0013.8000", M),
        ("【138】0013 8000", M),
        ("19012345678", ok("+8619012345678", Mobile)),
        ("17951234567", ok("+8617951234567", Mobile)),
        // Full-width input.
        ("１３８００１３８０００", M),
        ("＋８６ １３８ ００１３ ８０００", M),
        ("（+86）13800138000", M),
        // Country-code prefixes.
        ("+86 138 0013 8000", M),
        ("+86-13800138000", M),
        ("(+86) 13800138000", M),
        ("0086 13800138000", M),
        ("008613800138000", M),
        ("8613800138000", M),
        ("86 138 0013 8000", M),
        ("tel:+8613800138000", M),
        // Trunk 0 before a mobile.
        ("013800138000", M),
        // IP-dial prefixes.
        ("17951 13800138000", M),
        ("17911-13800138000", M),
        ("12593 13800138000", M),
        ("17951 0086 13800138000", M),
        ("17951 010 8888 6666", BEIJING),
        ("1790913800138000", M),
        ("17909 0755 12345678", SHENZHEN),
        // Landlines: 2-digit area codes (010, 02x) + 8 digits.
        ("010-8888 6666", BEIJING),
        ("01088886666", BEIJING),
        ("(010)88886666", BEIJING),
        ("021-66668888", ok("+862166668888", Landline)),
        ("+86 10 8888 6666", BEIJING),
        ("0086-10-88886666", BEIJING),
        // Landlines: 3-digit area codes + 7 or 8 digits.
        ("0755-12345678", SHENZHEN),
        ("075512345678", SHENZHEN),
        ("0755 1234 5678", SHENZHEN),
        ("0571 8888888", ok("+865718888888", Landline)),
        ("+86 (0)755 1234 5678", SHENZHEN),
        // Extensions, one per marker.
        ("010-88886666-8001", ext("+861088886666", Landline, "8001")),
        ("0755-12345678-8001", SHENZHEN_EXT),
        ("0755-12345678转8001", SHENZHEN_EXT),
        ("0755-12345678 分机 8001", SHENZHEN_EXT),
        ("0755-12345678 ext 8001", SHENZHEN_EXT),
        ("0755-12345678 EXT. 8001", SHENZHEN_EXT),
        ("0755-12345678 x8001", SHENZHEN_EXT),
        ("0755-12345678#8001", SHENZHEN_EXT),
        ("０７５５－１２３４５６７８＃８００１", SHENZHEN_EXT),
        // Service numbers.
        ("400-820-8820", ok("+864008208820", Service)),
        ("800 810 8888", ok("+868008108888", Service)),
        ("+86 400 820 8820", ok("+864008208820", Service)),
        ("400-820-8820 转 2", ext("+864008208820", Service, "2")),
        // International numbers.
        ("+1 (415) 555-0123", US),
        ("00 1 415 555 0123", US),
        ("+44 20 7946 0958", UK),
        ("17911 00 44 20 7946 0958", UK),
        ("+44 (0)20 7946 0958", UK),
        ("1 (415) 555-0123", US),
        // Notes in brackets, other dashes, invisible characters.
        ("13800138000(微信同号)", M),
        ("13800138000（同微信）", M),
        ("138 0013 8000(本人)", M),
        ("010—88886666", BEIJING),
        ("010–88886666", BEIJING),
        ("138‐0013‐8000", M),
        ("138−0013−8000", M),
        ("+86—13800138000", M),
        ("\u{feff}13800138000", M),
        ("138\u{200b}00138000", M),
        ("+852 2345 6789", ok("+85223456789", International)),
        // Labels.
        ("手机：13800138000", M),
        ("手机 138 0013 8000", M),
        ("Tel: +86 10 8888 6666", BEIJING),
        ("电话:0755-12345678转8001", SHENZHEN_EXT),
        ("Mobile 13800138000", M),
        ("传真：010-88886666", None),
        ("Fax: 010-88886666", None),
        // Garbage and incomplete numbers.
        ("88886666", None),
        ("8888666", None),
        ("8001", None),
        ("anonymous", None),
        ("", None),
        ("   ", None),
        ("call me", None),
        ("12345678901", None),
        ("1380013800", None),
        ("138001380000", None),
        ("+86 1380013800", None),
        ("010-8888666", None),
        ("0755-123456", None),
        ("0400-1234567", None),
        ("+123", None),
        ("+1234567890123456", None),
        ("138+0013 8000", None),
        ("0755-12345678 转", None),
        ("0755-12345678 x abc", None),
    ];

    #[test]
    fn normalizes_single_numbers() {
        for &(input, expected) in CASES {
            let actual = normalize_phone(input);
            let actual = actual
                .as_ref()
                .map(|p| (p.e164.as_str(), p.kind, p.extension.as_deref()));
            assert_eq!(actual, expected, "input: {input:?}");
        }
    }

    #[test]
    fn splits_multi_value_fields() {
        const A: &str = "+8613800138000";
        const B: &str = "+8613900139000";
        let cases: &[(&str, &[&str])] = &[
            ("13800138000 / 010-88886666", &[A, "+861088886666"]),
            ("13800138000、13900139000，+86 138 0013 8000", &[A, B]),
            (
                "13800138000;anonymous\n0755-12345678",
                &[A, "+8675512345678"],
            ),
            ("13800138000 or 13900139000", &[A, B]),
            ("13800138000；13900139000", &[A, B]),
            ("13800138000 13900139000", &[A, B]),
            ("手机:13800138000 传真:010-88886666", &[A]),
            ("电话：010-88886666，传真：010-88886667", &["+861088886666"]),
            ("8001, n/a", &[]),
            ("", &[]),
        ];
        for &(input, expected) in cases {
            let phones = normalize_phones(input);
            let actual: Vec<&str> = phones.iter().map(|p| p.e164.as_str()).collect();
            assert_eq!(actual, expected, "input: {input:?}");
        }
    }

    #[test]
    fn multi_value_keeps_different_extensions() {
        let phones = normalize_phones("010-88886666转8001 / 010-88886666转8002");
        let extensions: Vec<_> = phones.iter().map(|p| p.extension.as_deref()).collect();
        assert_eq!(extensions, [Some("8001"), Some("8002")]);
    }

    #[test]
    fn masks_numbers_for_logs() {
        let cases = [
            ("+8613800138000", "+86138******00"),
            ("+861088886666", "+86108*****66"),
            ("+14155550123", "+1415*****23"),
            ("+85223456789", "+852234***89"),
            ("+86123", "+86***"),
            ("garbage", "*******"),
            ("", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(mask_phone(input), expected, "input: {input:?}");
        }
    }

    fn mobile() -> impl Strategy<Value = String> {
        "1[3-9][0-9]{9}"
    }

    fn landline() -> impl Strategy<Value = String> {
        prop_oneof![
            ("(10|2[0-9])", "[2-8][0-9]{7}").prop_map(|(area, sub)| format!("0{area}{sub}")),
            ("[3-9][0-9]{2}", "[2-8][0-9]{6,7}")
                .prop_filter("400/800 are service prefixes", |(area, _)| {
                    area != "400" && area != "800"
                })
                .prop_map(|(area, sub)| format!("0{area}{sub}")),
        ]
    }

    /// Writes `mobile` the way a messy source system might.
    fn format_mobile(mobile: &str, prefix: &str, separators: &[&str], full_width: bool) -> String {
        let mut text = prefix.to_string();
        for (digit, separator) in mobile.chars().zip(separators) {
            text.push_str(separator);
            text.push(digit);
        }
        if !full_width {
            return text;
        }
        text.chars()
            .map(|c| match c {
                '0'..='9' | '+' | '(' | ')' => {
                    char::from_u32(c as u32 - 0x20 + 0xFF00).unwrap_or(c)
                }
                ' ' => '\u{3000}',
                _ => c,
            })
            .collect()
    }

    /// Writes a landline (`0` + area + subscriber) the way sources do.
    fn format_landline(number: &str, area_len: usize, style: usize) -> String {
        let (area, subscriber) = number[1..].split_at(area_len);
        match style {
            0 => format!("0{area}-{subscriber}"),
            1 => format!("(0{area}){subscriber}"),
            2 => format!("+86 {area} {subscriber}"),
            3 => format!("0086-{area}-{subscriber}"),
            4 => format!("+86 (0){area} {subscriber}"),
            5 => format!("17951 0{area} {subscriber}"),
            _ => format!("电话：０{area} {subscriber}"),
        }
    }

    proptest! {
        #[test]
        fn formatting_does_not_change_landlines(number in landline(), style in 0..7usize) {
            let area_len = if number[1..].starts_with('1') || number[1..].starts_with('2') { 2 } else { 3 };
            let formatted = format_landline(&number, area_len, style);
            let phone = normalize_phone(&formatted);
            prop_assert_eq!(
                phone.map(|p| (p.e164, p.kind)),
                Some((format!("+86{}", &number[1..]), Landline)),
                "formatted: {:?}", formatted
            );
        }

        #[test]
        fn never_panics(raw in any::<String>()) {
            let _ = normalize_phone(&raw);
            let _ = normalize_phones(&raw);
            let _ = mask_phone(&raw);
        }

        #[test]
        fn never_panics_on_phone_like_text(raw in "[0-9０-９+＋()（） \\-./,、转x#ext]{0,40}") {
            let _ = normalize_phone(&raw);
            let _ = normalize_phones(&raw);
        }

        #[test]
        fn e164_output_is_idempotent(number in prop_oneof![mobile(), landline()]) {
            let first = normalize_phone(&number);
            prop_assert!(first.is_some(), "{} rejected", number);
            let again = first.as_ref().and_then(|p| normalize_phone(&p.e164));
            prop_assert_eq!(again, first);
        }

        #[test]
        fn formatting_does_not_change_mobiles(
            number in mobile(),
            prefix in prop::sample::select(
                vec!["", "+86", "+86 ", "0086", "0086-", "86", "86 ", "(+86)", "(+86) ", "0", "17951 "],
            ),
            separators in prop::collection::vec(
                prop::sample::select(vec!["", "", " ", "-", "."]),
                11,
            ),
            full_width in any::<bool>(),
        ) {
            let formatted = format_mobile(&number, prefix, &separators, full_width);
            let phone = normalize_phone(&formatted);
            prop_assert_eq!(
                phone.map(|p| (p.e164, p.kind)),
                Some((format!("+86{number}"), Mobile)),
                "formatted: {:?}", formatted
            );
        }
    }
}
