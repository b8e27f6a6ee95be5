//! Order numbers as a join key.
//!
//! An ERP that imports a web shop's orders keeps the shop's order number,
//! but rarely as the shop wrote it: Shopify names an order `#1001`, and the
//! import may store `1001`, `＃1001` (a Chinese input method's full-width
//! sign) or `#1001 ` with a trailing blank; ERP numbers themselves appear as
//! `XSDD-000123` in one system and `xsdd000123` in another. The key keeps
//! only what identifies the order: its letters and digits, in upper case.

use super::chinese::nfkc;

/// The form two systems' numbers for one order share: NFKC-folded (full-width
/// to half-width), upper-cased, with everything but letters and digits
/// removed. `None` when nothing is left.
pub fn order_number_key(raw: &str) -> Option<String> {
    let key: String = nfkc(raw)
        .chars()
        .flat_map(char::to_uppercase)
        .filter(|c| c.is_alphanumeric())
        .collect();
    (!key.is_empty()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_order_written_differently_has_one_key() {
        for (raw, key) in [
            ("#1001", Some("1001")),
            ("1001", Some("1001")),
            ("＃１００１", Some("1001")),
            (" #1001 ", Some("1001")),
            ("XSDD-000123", Some("XSDD000123")),
            ("xsdd 000123", Some("XSDD000123")),
            ("SO/2024/0042", Some("SO20240042")),
            ("订单1001", Some("订单1001")),
            ("#", None),
            ("  ", None),
            ("", None),
        ] {
            assert_eq!(order_number_key(raw).as_deref(), key, "{raw:?}");
        }
    }

    #[test]
    fn different_numbers_keep_different_keys() {
        assert_ne!(order_number_key("#1001"), order_number_key("#1002"));
        // Leading zeros are part of some systems' numbers.
        assert_ne!(order_number_key("#01001"), order_number_key("#1001"));
    }

    proptest! {
        #[test]
        fn the_key_is_its_own_key(raw in "[#＃ a-zA-Z0-9０-９ａ-ｚ_/.订单-]{0,20}") {
            if let Some(key) = order_number_key(&raw) {
                prop_assert_eq!(order_number_key(&key), Some(key.clone()));
                prop_assert!(key.chars().all(char::is_alphanumeric));
            }
        }
    }
}
