//! Resolution: which parties are the same customer.
//!
//! The probabilistic engine works on a [`table::RecordTable`] of declared
//! fields, so any normalized key (a pinyin name, a company core) plugs in as
//! one more field in the config:
//!
//! - [`config`]: fields, comparison levels, blocking rules, thresholds (TOML);
//! - [`table`]: records as interned columns with dense `u32` ids;
//! - [`blocking`]: candidate pairs from several keys, with a block-size cap
//!   and a recall report;
//! - [`compare`]: each pair's comparison level per field, in parallel;
//! - [`similarity`]: Jaro-Winkler and edit distances, allocation-free for
//!   short ASCII strings;
//! - [`fellegi_sunter`]: m/u match weights, u from random pairs, m by
//!   expectation-maximisation once per blocking rule (that rule's fields
//!   held out), the prior over all record pairs, refinement from steward
//!   labels, per-field explanations;
//! - [`frequency`]: term frequencies, so a shared rare value weighs more
//!   than a shared common one;
//! - [`engine`]: strong-identifier rules, thresholds, the review queue and
//!   the whole pipeline in [`engine::resolve`];
//! - [`parties`]: customer parties as normalized match fields, scored with
//!   the built-in customer config (`customers.toml`);
//! - [`cluster`]: connected components under must-link and cannot-link
//!   constraints and a cluster-size cap;
//! - [`metrics`]: pairwise and B-cubed precision, recall and F1.

pub mod blocking;
pub mod cluster;
pub mod compare;
pub mod config;
pub mod engine;
pub mod fellegi_sunter;
pub mod frequency;
pub mod metrics;
pub mod parallel;
pub mod parties;
pub mod rng;
pub mod similarity;
pub mod table;

use std::collections::BTreeSet;

use crate::model::Party;
use crate::normalize::email::{email_match_key, normalize_emails};
use crate::normalize::phone::{normalize_phones, PhoneKind};

/// The exact match keys of a party: `phone:+86...`, `email:...` and
/// `order:<connector>:<number>` (an order it shares with another system's
/// record), shown as evidence on golden links. Landlines are left out: a
/// company switchboard is shared by many different people.
pub fn match_keys(party: &Party) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for raw in &party.phones {
        for phone in normalize_phones(raw) {
            if matches!(phone.kind, PhoneKind::Mobile | PhoneKind::International) {
                keys.insert(format!("phone:{}", phone.e164));
            }
        }
    }
    for raw in &party.emails {
        for email in normalize_emails(raw) {
            keys.insert(format!("email:{}", email_match_key(&email)));
        }
    }
    for order in &party.shared_orders {
        keys.insert(format!("order:{order}"));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn party(connector: &str, id: &str, phones: &[&str], emails: &[&str]) -> Party {
        Party {
            connector: connector.into(),
            source_id: id.into(),
            phones: phones.iter().map(|phone| phone.to_string()).collect(),
            emails: emails.iter().map(|email| email.to_string()).collect(),
            ..Party::default()
        }
    }

    #[test]
    fn exact_keys_fold_phone_and_email_spellings_and_leave_landlines_out() {
        let shop = party(
            "shop",
            "9",
            &["13800138000", "(010) 88886666"],
            &["Li.Si@Example.com"],
        );
        let erp = party("erp", "C1", &["+86 138-0013-8000"], &["li.si@example.com "]);
        let expected: BTreeSet<String> = [
            "email:li.si@example.com".to_string(),
            "phone:+8613800138000".to_string(),
        ]
        .into();
        assert_eq!(match_keys(&shop), expected);
        assert_eq!(match_keys(&erp), expected);
        assert!(match_keys(&party("desk", "u8", &["010-8888 6666"], &[])).is_empty());
    }
}
