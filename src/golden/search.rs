//! How golden customers are found: the terms a customer is indexed by and
//! the term a query is looked up with, both by prefix. Pure; the store keeps
//! the terms beside the golden customers.
//!
//! A name is indexed as folded text (`张伟`, `zhangwei`) and by its pinyin
//! keys in either order (`zhangwei`, `weizhang`), so `张`, `zhang wei` and
//! `Wei Zhang` all find 张伟. A company by its folded name and its core
//! (`北京字节跳动科技有限公司` is also found by `字节`). A phone by E.164 and,
//! for Chinese numbers, by the national number (`138 0013` finds
//! `+8613800138000`). An e-mail by its normalized address.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::normalize::chinese::{fold, strip_accents_lowercase};
use crate::normalize::company::normalize_company_name;
use crate::normalize::email::normalize_email;
use crate::normalize::name::normalize_person_name;
use crate::normalize::phone::normalize_phone;

/// Longest term kept: enough to tell customers apart, bounded for the index.
const MAX_TERM_CHARS: usize = 64;

/// The terms a golden customer with these fields is found by, sorted and
/// without repeats.
pub fn customer_terms(golden_id: &str, fields: &BTreeMap<String, Value>) -> Vec<String> {
    let mut terms = vec![compact(golden_id)];
    if let Some(name) = fields.get("name").and_then(Value::as_str) {
        terms.push(compact(name));
        if let Some(person) = normalize_person_name(name) {
            for key in person.keys {
                // Pinyin keys, in either order: `zhangwei` and `weizhang`.
                let mut tokens: Vec<&str> = key.split_whitespace().collect();
                terms.push(tokens.concat());
                tokens.reverse();
                terms.push(tokens.concat());
            }
        }
    }
    if let Some(company) = fields.get("company").and_then(Value::as_str) {
        terms.push(compact(company));
        if let Some(company) = normalize_company_name(company) {
            terms.push(compact(&company.core));
        }
    }
    for phone in strings(fields.get("phones")) {
        terms.push(phone.to_string());
        if let Some(national) = phone.strip_prefix("+86") {
            terms.push(national.to_string());
        }
    }
    for email in strings(fields.get("emails")) {
        terms.push(email.to_lowercase());
        // Its local part folded as a query without `@` is (`tao.zhang10`).
        if let Some((local, _)) = email.split_once('@') {
            terms.push(compact(local));
        }
    }
    let mut terms: Vec<String> = terms
        .into_iter()
        .filter(|term| !term.is_empty())
        .map(|term| term.chars().take(MAX_TERM_CHARS).collect())
        .collect();
    terms.sort();
    terms.dedup();
    terms
}

/// The prefix a query is looked up with: a phone number as E.164 when it is
/// a whole one (else its digits), an e-mail normalized, anything else folded
/// like a name. `None` for a query with nothing to look up.
pub fn query_prefix(query: &str) -> Option<String> {
    let query = query.trim();
    if query.is_empty() {
        return None;
    }
    if query.contains('@') {
        return normalize_email(query).or_else(|| Some(query.to_lowercase()));
    }
    let digits: String = fold(query).chars().filter(char::is_ascii_digit).collect();
    let phone_like = query
        .chars()
        .all(|c| c.is_ascii_digit() || " +-()（）".contains(c) || c.is_whitespace())
        || fold(query)
            .chars()
            .all(|c| c.is_ascii_digit() || " +-()".contains(c));
    if phone_like && !digits.is_empty() {
        return Some(match normalize_phone(query) {
            Some(phone) if phone.extension.is_none() => phone.e164,
            _ => digits,
        });
    }
    let prefix = compact(query);
    (!prefix.is_empty()).then_some(prefix)
}

/// The exclusive upper end of the range of terms that start with `prefix`.
pub fn prefix_end(prefix: &str) -> String {
    format!("{prefix}{}", char::MAX)
}

/// Folded, lowercase, accents, spaces and punctuation removed:
/// `Zhang  Wei` → `zhangwei`, `G-0001` → `g0001`.
fn compact(text: &str) -> String {
    strip_accents_lowercase(&fold(text))
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

fn strings(value: Option<&Value>) -> impl Iterator<Item = &str> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(value).unwrap()
    }

    fn finds(terms: &[String], query: &str) -> bool {
        let Some(prefix) = query_prefix(query) else {
            return false;
        };
        let end = prefix_end(&prefix);
        terms
            .iter()
            .any(|term| term.as_str() >= prefix.as_str() && term.as_str() < end.as_str())
    }

    #[test]
    fn a_chinese_person_is_found_by_hanzi_pinyin_in_either_order_phone_and_email() {
        let terms = customer_terms(
            "G-0001",
            &fields(json!({
                "name": "张伟",
                "phones": ["+8613800138000"],
                "emails": ["zhang.wei@example.com"],
            })),
        );
        for query in [
            "张",
            "张伟",
            "zhang wei",
            "Wei Zhang",
            "ZHANGW",
            "138 0013",
            "+86 138-0013-8000",
            "008613800138000",
            "zhang.wei@",
            "Zhang.Wei@Example.com",
            "g-0001",
        ] {
            assert!(
                finds(&terms, query),
                "{query:?} should find 张伟 in {terms:?}"
            );
        }
        for query in ["王", "li na", "139", "wang@"] {
            assert!(!finds(&terms, query), "{query:?} should not find 张伟");
        }
    }

    #[test]
    fn an_e_mail_is_found_by_its_local_part_without_the_at_sign() {
        let terms = customer_terms(
            "G-0002",
            &fields(json!({ "name": "张涛", "emails": ["tao.zhang10@feiyang-it.com.cn"] })),
        );
        for query in [
            "tao.zhang10",
            "tao.zhang",
            "tao.zhang10@feiyang",
            "TAO_ZHANG10",
        ] {
            assert!(
                finds(&terms, query),
                "{query:?} should find 张涛 in {terms:?}"
            );
        }
        assert!(!finds(&terms, "feiyang"), "the domain alone finds nobody");
    }

    #[test]
    fn a_company_is_found_by_its_name_and_its_core() {
        let terms = customer_terms(
            "G-0002",
            &fields(json!({ "company": "北京字节跳动科技有限公司" })),
        );
        assert!(finds(&terms, "北京字节"));
        assert!(finds(&terms, "字节跳动"));
        assert!(!finds(&terms, "腾讯"));
    }

    #[test]
    fn traditional_and_full_width_queries_fold_like_the_terms() {
        let terms = customer_terms(
            "G-3",
            &fields(json!({ "name": "陈国华", "phones": ["+8613912345678"] })),
        );
        assert!(finds(&terms, "陳國華"));
        assert!(finds(&terms, "１３９１２３"));
    }

    #[test]
    fn empty_queries_look_up_nothing() {
        assert_eq!(query_prefix("   "), None);
        assert_eq!(query_prefix(" - "), None);
    }

    #[test]
    fn terms_are_sorted_unique_and_bounded() {
        let long = "a".repeat(500);
        let terms = customer_terms(
            "G-4",
            &fields(json!({ "name": long, "emails": ["x@example.com", "X@example.com"] })),
        );
        assert!(terms.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(terms
            .iter()
            .all(|term| term.chars().count() <= MAX_TERM_CHARS));
    }
}
