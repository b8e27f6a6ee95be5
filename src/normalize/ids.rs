//! Strong identifiers: codes that name exactly one company or person.
//!
//! Resolution links two records outright when they share one of these, so a
//! wrong value is worse than none: every function here validates the value's
//! structure and check character and returns `None` for anything that does not
//! pass. A typo'd code never becomes a key.

use crate::normalize::chinese::nfkc;

/// Characters of the 统一社会信用代码 (GB 32100-2015): digits and capital
/// letters without I, O, S, V and Z. A character's value is its index.
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Weights of positions 1–17: `3^(i-1) mod 31`.
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Weights of the eight body characters of an organization code (GB 11714-1997).
const ORGANIZATION_CODE_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// Normalizes a 统一社会信用代码 (unified social credit code): NFKC (full-width
/// input), uppercase, spaces and dashes removed. Returns the 18-character code
/// only if every character is in the code's alphabet, positions 3–8 (the
/// administrative division) are digits and the check character (position 18)
/// matches GB 32100-2015.
pub fn normalize_uscc(raw: &str) -> Option<String> {
    let code = compact_uppercase(raw);
    let bytes = code.as_bytes();
    let valid = bytes.len() == 18
        && bytes.iter().all(|b| USCC_ALPHABET.contains(b))
        && bytes[2..8].iter().all(u8::is_ascii_digit)
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
/// Returns the 15 characters if both parts are well formed.
pub fn normalize_old_tax_id(raw: &str) -> Option<String> {
    let code = compact_uppercase(raw);
    let valid = code.len() == 15
        && code.as_bytes()[..6].iter().all(u8::is_ascii_digit)
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

fn is_valid_organization_code(code: &str) -> bool {
    let bytes = code.as_bytes();
    if bytes.len() != 9 {
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

/// NFKC, uppercase, and spaces/dashes removed: how codes are retyped from
/// business licences and invoices.
fn compact_uppercase(raw: &str) -> String {
    nfkc(raw)
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
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
            alphabet_char(),
            alphabet_char(),
            "[0-9]{6}",
            prop::collection::vec(alphabet_char(), 9),
        )
            .prop_map(|(authority, kind, division, organization)| {
                let mut body = vec![authority, kind];
                body.extend_from_slice(division.as_bytes());
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
