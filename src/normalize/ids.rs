//! Strong identifiers: codes that name exactly one company or person.
//!
//! Resolution links two records outright when they share one of these, so a
//! wrong value is worse than none: every function here validates the value's
//! structure and check character and returns `None` for anything that does not
//! pass. A typo'd code never becomes a key.

use std::sync::LazyLock;

use crate::normalize::chinese::nfkc;

/// Characters of the 统一社会信用代码 (GB 32100-2015): digits and capital
/// letters without I, O, S, V and Z. A character's value is its index.
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// The registration authorities of GB 32100-2015, the first character of a
/// credit code: 1–9 (机构编制, 外交, 司法行政, 文化, 民政, 旅游, 宗教, 工会,
/// 工商), A (中央军委改革和编制办公室), N (农业) and Y (其他).
const REGISTRATION_AUTHORITIES: &[u8] = b"123456789ANY";

/// First two digits of the division code of an organization registered at
/// central level, which belongs to no province.
const CENTRAL_LEVEL: &str = "10";

/// The first two digits of every administrative division code (GB/T 2260):
/// the provincial-level divisions of the regions table (`11` 北京 … `82` 澳门)
/// and [`CENTRAL_LEVEL`]. Only the province is checked, since codes of
/// prefectures and counties are renamed and merged while the credit codes
/// issued under them stay valid.
static PROVINCE_CODES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    include_str!("data/regions.tsv")
        .lines()
        .filter_map(|line| line.split_once('\t')?.0.strip_suffix("0000"))
        .chain([CENTRAL_LEVEL])
        .collect()
});

/// Weights of positions 1–17: `3^(i-1) mod 31`.
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Weights of the eight body characters of an organization code (GB 11714-1997).
const ORGANIZATION_CODE_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// Normalizes a 统一社会信用代码 (unified social credit code): NFKC (full-width
/// input), a leading label (`统一社会信用代码：`) and the `CN` country prefix
/// of a VAT number (as Odoo's `vat` field holds it) dropped, uppercase, spaces
/// and dashes removed. Returns the 18-character code only if every character
/// is in the code's alphabet, the first names a registration authority,
/// positions 3–8 are an administrative division code of a province, the
/// first 17 are not a placeholder (see [`is_placeholder`]) and the check
/// character (position 18) matches GB 32100-2015. A checksum alone passes
/// one made-up code in 31, `000000000000000000` among them.
pub fn normalize_uscc(raw: &str) -> Option<String> {
    let code = compact_uppercase(raw);
    let code = match code.strip_prefix("CN") {
        Some(rest) if rest.len() == 18 => rest.to_string(),
        _ => code,
    };
    let bytes = code.as_bytes();
    let valid = bytes.len() == 18
        && bytes.iter().all(|b| USCC_ALPHABET.contains(b))
        && REGISTRATION_AUTHORITIES.contains(&bytes[0])
        && is_division_code(&bytes[2..8])
        && !is_placeholder(&bytes[..17])
        && uscc_check_character(&bytes[..17]) == Some(bytes[17]);
    valid.then_some(code)
}

/// The check character for the first 17 characters of a credit code, or `None`
/// if one is outside the alphabet.
pub fn uscc_check_character(body: &[u8]) -> Option<u8> {
    if body.len() != 17 {
        return None;
    }
    let mut sum = 0;
    for (&c, weight) in body.iter().zip(USCC_WEIGHTS) {
        let value = USCC_ALPHABET.iter().position(|&a| a == c)? as u32;
        sum += value * weight;
    }
    let check = (31 - sum % 31) % 31;
    Some(USCC_ALPHABET[check as usize])
}

/// Normalizes a 组织机构代码 (organization code, GB 11714), written
/// `12345678-9` or without the dash, to its 9 characters if the check
/// character is right.
pub fn normalize_organization_code(raw: &str) -> Option<String> {
    let code = compact_uppercase(raw);
    is_valid_organization_code(&code).then_some(code)
}

/// Normalizes an old-style 15-character 税务登记号 (tax registration number):
/// a 6-digit administrative division code followed by the organization code.
/// Returns the 15 characters if the division is in a province and the
/// organization code is valid.
pub fn normalize_old_tax_id(raw: &str) -> Option<String> {
    let code = compact_uppercase(raw);
    // `is_division_code` checks six ASCII digits first, so byte 6 is a
    // character boundary.
    let valid = code.len() == 15
        && is_division_code(&code.as_bytes()[..6])
        && is_valid_organization_code(&code[6..]);
    valid.then_some(code)
}

/// The organization code inside a company identifier of any generation: a
/// credit code carries it at positions 9–17, an old tax id at 7–15, and an
/// organization code is one. This is what links a company that registered
/// before 2015 under its tax id with its later credit code. `None` if the
/// input is none of these or its embedded code fails its own check (as it
/// does for credit codes of sole proprietors, which have no organization code).
pub fn organization_code(raw: &str) -> Option<String> {
    if let Some(uscc) = normalize_uscc(raw) {
        let code = &uscc[8..17];
        return is_valid_organization_code(code).then(|| code.to_string());
    }
    if let Some(tax_id) = normalize_old_tax_id(raw) {
        return Some(tax_id[6..].to_string());
    }
    normalize_organization_code(raw)
}

/// True for 8 body characters and the GB 11714 check character, unless the
/// body is a placeholder (`00000000-0` passes the check).
fn is_valid_organization_code(code: &str) -> bool {
    let bytes = code.as_bytes();
    if bytes.len() != 9 || is_placeholder(&bytes[..8]) {
        return false;
    }
    let mut sum = 0;
    for (&c, weight) in bytes[..8].iter().zip(ORGANIZATION_CODE_WEIGHTS) {
        let value = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return false,
        };
        sum += value * weight;
    }
    let expected = match 11 - sum % 11 {
        10 => b'X',
        11 => b'0',
        digit => b'0' + digit as u8,
    };
    bytes[8] == expected
}

/// NFKC, a leading label dropped (up to its colon, which NFKC makes of `：`,
/// and any Chinese before the code), uppercase, and spaces/dashes removed:
/// how codes are retyped from business licences and invoices.
fn compact_uppercase(raw: &str) -> String {
    let text = nfkc(raw);
    let value = text.rsplit_once(':').map_or(&*text, |(_, value)| value);
    value
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

/// True for a division code of six digits whose first two are a province's
/// (see [`PROVINCE_CODES`]); `000000` and `990100` are none.
fn is_division_code(division: &[u8]) -> bool {
    division.len() == 6
        && division.iter().all(u8::is_ascii_digit)
        && PROVINCE_CODES
            .iter()
            .any(|province| division.starts_with(province.as_bytes()))
}

/// True for what people type into a required code field when they have no
/// code: one character repeated (`000000000000000000`) or digits counting up
/// or down (`123456789012345678`). The check character cannot catch these: a
/// made-up body gets whatever check character makes it pass.
fn is_placeholder(body: &[u8]) -> bool {
    let steps = |step: u8| {
        body.windows(2)
            .all(|pair| pair[0].is_ascii_digit() && pair[1] == b'0' + (pair[0] - b'0' + step) % 10)
    };
    body.windows(2).all(|pair| pair[0] == pair[1]) || steps(1) || steps(9)
}

/// Checks a WeChat `unionid` (or `openid`, which has the same shape): 28
/// characters of `[A-Za-z0-9_-]` starting with `o`. The value is case-sensitive
/// and returned exactly, trimmed.
pub fn normalize_wechat_unionid(raw: &str) -> Option<String> {
    let id = raw.trim();
    let valid = id.len() == 28 && id.starts_with('o') && id.bytes().all(is_wechat_id_byte);
    valid.then(|| id.to_string())
}

/// Checks a WeCom `external_userid`: 32 characters of `[A-Za-z0-9_-]`
/// starting with `wo` (customers who are WeChat users) or `wm`.
pub fn normalize_wecom_external_userid(raw: &str) -> Option<String> {
    let id = raw.trim();
    let valid = id.len() == 32
        && (id.starts_with("wo") || id.starts_with("wm"))
        && id.bytes().all(is_wechat_id_byte);
    valid.then(|| id.to_string())
}

fn is_wechat_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn validates_credit_codes() {
        let cases = [
            ("91350100M000100Y43", Some("91350100M000100Y43")),
            ("91350100m000100y43", Some("91350100M000100Y43")),
            (
                "９１３５０１００Ｍ０００１００Ｙ４３",
                Some("91350100M000100Y43"),
            ),
            (" 9135 0100 M000 100Y 43 ", Some("91350100M000100Y43")),
            ("91350100-M000100Y4-3", Some("91350100M000100Y43")),
            // Wrong check character, one changed digit, swapped characters.
            ("91350100M000100Y44", None),
            ("91350100M000100Y53", None),
            ("91350100M000010Y43", None),
            // Letters outside the alphabet, letters in the division code.
            ("91350100M000100I43", None),
            ("913501O0M000100Y43", None),
            // Placeholders with a right check character.
            ("000000000000000000", None),
            ("111111111111111115", None),
            ("123456789012345678", None),
            // Registration authorities: B and 0 are none, Y, N and A are.
            ("B1350100M000100Y41", None),
            ("01350100M000100Y4C", None),
            ("Y1350100M000100Y4D", Some("Y1350100M000100Y4D")),
            ("N2350100M000100Y4J", Some("N2350100M000100Y4J")),
            ("A1350100M000100Y42", Some("A1350100M000100Y42")),
            // Divisions: no province 99, 00 or 20; 10 is central level.
            ("91990100M000100Y4U", None),
            ("91000000M000100Y45", None),
            ("91200100M000100Y4P", None),
            ("91100000M000100Y4U", Some("91100000M000100Y4U")),
            ("91820000M000100Y43", Some("91820000M000100Y43")),
            // A VAT number's country prefix and a label.
            ("CN91350100M000100Y43", Some("91350100M000100Y43")),
            ("cn 9135 0100 M000 100Y 43", Some("91350100M000100Y43")),
            (
                "统一社会信用代码：91350100M000100Y43",
                Some("91350100M000100Y43"),
            ),
            ("税号: CN91350100M000100Y43", Some("91350100M000100Y43")),
            ("CN91350100M000100Y44", None),
            ("CN0091350100M000100Y43", None),
            ("9135010", None),
            ("91350100M000100Y430", None),
            ("", None),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_uscc(input).as_deref(), expected, "{input:?}");
        }
    }

    #[test]
    fn validates_organization_codes_and_old_tax_ids() {
        // The worked example of GB 11714.
        assert_eq!(
            normalize_organization_code("D2143569-X").as_deref(),
            Some("D2143569X")
        );
        assert_eq!(
            normalize_organization_code("d2143569-x").as_deref(),
            Some("D2143569X")
        );
        assert_eq!(normalize_organization_code("D2143569-1"), None);
        assert_eq!(normalize_organization_code("D2143596-X"), None);
        assert_eq!(
            normalize_organization_code("组织机构代码：D2143569-X").as_deref(),
            Some("D2143569X")
        );
        // Placeholders, each with its right check character.
        for placeholder in [
            "00000000-0",
            "000000000",
            "11111111-7",
            "AAAAAAAA-4",
            "12345678-8",
            "87654321-0",
        ] {
            assert_eq!(
                normalize_organization_code(placeholder),
                None,
                "{placeholder}"
            );
            assert_eq!(organization_code(placeholder), None, "{placeholder}");
        }
        for placeholder in ["000000000000000", "110108000000000", "123456789012345"] {
            assert_eq!(normalize_old_tax_id(placeholder), None, "{placeholder}");
        }
        assert_eq!(organization_code("000000000000000000"), None);
        let org = with_org_check("D2143570");
        assert_eq!(
            normalize_organization_code(&org).as_deref(),
            Some(org.as_str())
        );
        let dashed = format!("{}-{}", &org[..8], &org[8..]);
        assert_eq!(
            normalize_organization_code(&dashed).as_deref(),
            Some(org.as_str())
        );
        let tax_id = format!("110108{org}");
        assert_eq!(
            normalize_old_tax_id(&tax_id).as_deref(),
            Some(tax_id.as_str())
        );
        assert_eq!(normalize_old_tax_id(&format!("11010{org}")), None);
        assert_eq!(normalize_old_tax_id(&format!("1101A8{org}")), None);
        // No province 00 or 99.
        assert_eq!(normalize_old_tax_id(&format!("000000{org}")), None);
        assert_eq!(normalize_old_tax_id(&format!("990100{org}")), None);
        let broken = format!(
            "110108{}{}",
            &org[..8],
            if &org[8..] == "1" { "2" } else { "1" }
        );
        assert_eq!(normalize_old_tax_id(&broken), None);
    }

    #[test]
    fn links_credit_code_and_old_tax_id_by_organization_code() {
        let org = with_org_check("MA01B2C3");
        let body = format!("91110108{org}");
        let check = uscc_check_character(body.as_bytes()).map(char::from);
        let uscc = format!("{body}{}", check.unwrap_or('?'));
        assert_eq!(organization_code(&uscc), Some(org.clone()));
        assert_eq!(organization_code(&format!("CN{uscc}")), Some(org.clone()));
        assert_eq!(
            organization_code(&format!("110108{org}")),
            Some(org.clone())
        );
        assert_eq!(organization_code(&org), Some(org));
        assert_eq!(organization_code("not a code"), None);
    }

    #[test]
    fn checks_wechat_ids() {
        let unionid = "oGZUI0egBJY1zhBYw2KhdUfwVJJE";
        assert_eq!(normalize_wechat_unionid(unionid).as_deref(), Some(unionid));
        assert_eq!(
            normalize_wechat_unionid(&format!(" {unionid}\n")).as_deref(),
            Some(unionid)
        );
        assert_eq!(normalize_wechat_unionid("ozyn…"), None);
        assert_eq!(normalize_wechat_unionid(&unionid[1..]), None);
        assert_eq!(
            normalize_wechat_unionid(&unionid.replacen('o', "x", 1)),
            None
        );
        assert_eq!(
            normalize_wechat_unionid("oGZUI0egBJY1zhBYw2KhdUfw VJJE"),
            None
        );
        let external = "woAJ2GCAAAXtWyujaWJHDDGi0mACHAAA";
        assert_eq!(
            normalize_wecom_external_userid(external).as_deref(),
            Some(external)
        );
        assert_eq!(normalize_wecom_external_userid(&external[..31]), None);
        assert_eq!(normalize_wecom_external_userid(unionid), None);
    }

    fn with_org_check(body: &str) -> String {
        ('0'..='9')
            .chain(std::iter::once('X'))
            .map(|check| format!("{body}{check}"))
            .find(|code| is_valid_organization_code(code))
            .unwrap_or_default()
    }

    fn alphabet_char() -> impl Strategy<Value = u8> {
        prop::sample::select(USCC_ALPHABET.to_vec())
    }

    /// A valid credit code built from random parts and its computed check.
    fn valid_uscc() -> impl Strategy<Value = String> {
        (
            prop::sample::select(REGISTRATION_AUTHORITIES.to_vec()),
            alphabet_char(),
            prop::sample::select(PROVINCE_CODES.clone()),
            "[0-9]{4}",
            prop::collection::vec(alphabet_char(), 9),
        )
            .prop_map(|(authority, kind, province, district, organization)| {
                let mut body = vec![authority, kind];
                body.extend_from_slice(province.as_bytes());
                body.extend_from_slice(district.as_bytes());
                body.extend(organization);
                let check = uscc_check_character(&body).unwrap_or(b'?');
                body.push(check);
                String::from_utf8(body).unwrap_or_default()
            })
    }

    proptest! {
        #[test]
        fn accepts_generated_codes(code in valid_uscc()) {
            prop_assert_eq!(normalize_uscc(&code), Some(code.clone()));
            prop_assert_eq!(normalize_uscc(&code.to_lowercase()), Some(code.clone()));
        }

        #[test]
        fn rejects_every_single_character_change(
            code in valid_uscc(),
            position in 0..18usize,
            replacement in "[0-9A-Za-z]",
        ) {
            let mut changed = code.clone().into_bytes();
            let replacement = replacement.as_bytes()[0];
            prop_assume!(!changed[position].eq_ignore_ascii_case(&replacement));
            changed[position] = replacement;
            let changed = String::from_utf8(changed).unwrap_or_default();
            prop_assert_eq!(normalize_uscc(&changed), None, "{} -> {}", code, changed);
        }

        #[test]
        fn idempotent_and_panic_free(raw in any::<String>()) {
            for normalize in [normalize_uscc, normalize_old_tax_id, normalize_organization_code, normalize_wechat_unionid, normalize_wecom_external_userid] {
                if let Some(first) = normalize(&raw) {
                    prop_assert_eq!(normalize(&first), Some(first.clone()));
                }
            }
            let _ = organization_code(&raw);
        }
    }
}
