//! Resolution: which parties are the same customer.
//!
//! Two engines live here. [`cluster_by_exact_keys`] links parties that share
//! an exact normalized key: a mobile phone number in E.164 form or an e-mail
//! match key. Landlines are not used as keys, because a company switchboard
//! is shared by many different people.
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
//! - [`fellegi_sunter`]: m/u match weights, u from random pairs, m and the
//!   prior by expectation-maximisation, refinement from steward labels,
//!   per-field explanations;
//! - [`engine`]: strong-identifier rules, thresholds, the review queue and
//!   the whole pipeline in [`engine::resolve`];
//! - [`cluster`]: connected components under must-link and cannot-link
//!   constraints and a cluster-size cap;
//! - [`metrics`]: pairwise and B-cubed precision, recall and F1.

pub mod blocking;
pub mod cluster;
pub mod compare;
pub mod config;
pub mod engine;
pub mod fellegi_sunter;
pub mod metrics;
pub mod parties;
pub mod rng;
pub mod table;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::{Party, PartyKey};
use crate::normalize::email::{email_match_key, normalize_emails};
use crate::normalize::phone::{normalize_phones, PhoneKind};

/// Parties that are one customer, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Members in sorted order; the first is the cluster's smallest key.
    pub members: Vec<PartyKey>,
    /// For each member, the keys it shares with another member.
    pub evidence: BTreeMap<PartyKey, Vec<String>>,
}

/// The exact match keys of a party: `phone:+86...` and `email:...`.
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
    keys
}

/// Groups parties into clusters: two parties sharing any match key are in
/// one cluster, transitively. Every party is in exactly one cluster, and the
/// result is sorted by each cluster's smallest member, so the same input
/// always gives the same output.
pub fn cluster_by_exact_keys(parties: &[Party]) -> Vec<Cluster> {
    let mut order: Vec<usize> = (0..parties.len()).collect();
    order.sort_by_key(|&index| parties[index].key());
    let keys: Vec<BTreeSet<String>> = parties.iter().map(match_keys).collect();

    let mut sets = DisjointSets::new(parties.len());
    let mut first_holder: HashMap<&str, usize> = HashMap::new();
    for &index in &order {
        for key in &keys[index] {
            match first_holder.get(key.as_str()) {
                Some(&holder) => sets.union(holder, index),
                None => {
                    first_holder.insert(key, index);
                }
            }
        }
    }

    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &index in &order {
        groups.entry(sets.find(index)).or_default().push(index);
    }
    let mut clusters: Vec<Cluster> = groups
        .into_values()
        .map(|members| {
            let mut key_count: HashMap<&str, usize> = HashMap::new();
            for &member in &members {
                for key in &keys[member] {
                    *key_count.entry(key).or_default() += 1;
                }
            }
            let evidence = members
                .iter()
                .map(|&member| {
                    let shared = keys[member]
                        .iter()
                        .filter(|key| key_count.get(key.as_str()).copied().unwrap_or(0) > 1)
                        .cloned()
                        .collect();
                    (parties[member].key(), shared)
                })
                .collect();
            Cluster {
                members: members
                    .iter()
                    .map(|&member| parties[member].key())
                    .collect(),
                evidence,
            }
        })
        .collect();
    clusters.sort_by(|a, b| a.members[0].cmp(&b.members[0]));
    clusters
}

/// Union-find with path halving and union by size.
struct DisjointSets {
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl DisjointSets {
    fn new(count: usize) -> DisjointSets {
        DisjointSets {
            parent: (0..count).collect(),
            size: vec![1; count],
        }
    }

    fn find(&mut self, mut item: usize) -> usize {
        while self.parent[item] != item {
            self.parent[item] = self.parent[self.parent[item]];
            item = self.parent[item];
        }
        item
    }

    fn union(&mut self, a: usize, b: usize) {
        let (mut a, mut b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        if self.size[a] < self.size[b] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b] = a;
        self.size[a] += self.size[b];
    }
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
    fn links_differently_written_phones_and_emails_transitively() {
        let parties = vec![
            party("erp", "C1", &["+86 138-0013-8000"], &[]),
            party("shop", "9", &["13800138000"], &["Li.Si@Example.com"]),
            party("desk", "u7", &[], &["li.si@example.com "]),
            party("desk", "u8", &["010-8888 6666"], &[]),
            party("erp", "C2", &["(010) 88886666"], &[]),
        ];
        let clusters = cluster_by_exact_keys(&parties);
        let members: Vec<Vec<String>> = clusters
            .iter()
            .map(|cluster| cluster.members.iter().map(ToString::to_string).collect())
            .collect();
        assert_eq!(
            members,
            vec![
                vec!["desk/u7", "erp/C1", "shop/9"],
                // A shared landline is not evidence of one customer.
                vec!["desk/u8"],
                vec!["erp/C2"],
            ]
        );
        let evidence = &clusters[0].evidence[&PartyKey {
            connector: "shop".into(),
            source_id: "9".into(),
        }];
        assert_eq!(
            evidence,
            &vec![
                "email:li.si@example.com".to_string(),
                "phone:+8613800138000".to_string()
            ]
        );
    }

    #[test]
    fn the_same_input_in_any_order_gives_the_same_clusters() {
        let mut parties = vec![
            party("a", "1", &["13800138000"], &[]),
            party("b", "2", &["13900139000"], &["x@y.cn"]),
            party("c", "3", &["13800138000"], &["x@y.cn"]),
            party("d", "4", &[], &[]),
        ];
        let expected = cluster_by_exact_keys(&parties);
        parties.reverse();
        assert_eq!(cluster_by_exact_keys(&parties), expected);
        assert_eq!(expected.len(), 2);
    }
}
