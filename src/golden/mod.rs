//! Golden customer records: stable ids and survivorship.
//!
//! Ids are stable: a cluster keeps the golden id most of its members
//! already carry, so a re-run on the same data yields the same ids. When two
//! golden customers come together, the one with more members survives and
//! the other is recorded as merged into it. A brand-new cluster gets an id
//! derived from its smallest member, so a fresh store and the same data give
//! the same ids.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::model::{Party, PartyKey};
use crate::normalize::email::normalize_emails;
use crate::normalize::phone::normalize_phones;
use crate::resolve::Cluster;
use crate::store::{GoldenCustomer, GoldenLink, ResolutionChanges};

/// Plans what a resolution pass changes: golden customers to write, links
/// that moved, and ids merged away. Pure: the caller stores the result.
pub fn plan_changes(
    clusters: &[Cluster],
    parties: &[Party],
    current_links: &[GoldenLink],
    current_golden: &[GoldenCustomer],
) -> ResolutionChanges {
    let by_key: HashMap<PartyKey, &Party> =
        parties.iter().map(|party| (party.key(), party)).collect();
    let linked: HashMap<&PartyKey, &str> = current_links
        .iter()
        .map(|link| (&link.party, link.golden_id.as_str()))
        .collect();
    let stored: HashMap<&str, &GoldenCustomer> = current_golden
        .iter()
        .map(|golden| (golden.golden_id.as_str(), golden))
        .collect();

    let ids = assign_ids(clusters, &linked);
    let claimed: HashSet<&str> = ids.iter().map(String::as_str).collect();

    let mut changes = ResolutionChanges::default();
    let mut merged_seen = BTreeSet::new();
    for (cluster, golden_id) in clusters.iter().zip(&ids) {
        let members: Vec<&Party> = cluster
            .members
            .iter()
            .filter_map(|key| by_key.get(key).copied())
            .collect();
        let golden = survive(golden_id, &members);
        if stored
            .get(golden_id.as_str())
            .map(|current| (&current.fields, &current.lineage))
            != Some((&golden.fields, &golden.lineage))
        {
            changes.upserted.push(golden);
        }
        for member in &cluster.members {
            let evidence =
                json!({ "shared_keys": cluster.evidence.get(member).cloned().unwrap_or_default() });
            let moved = linked.get(member).copied() != Some(golden_id.as_str());
            let current_evidence = current_links
                .iter()
                .find(|link| &link.party == member)
                .map(|link| &link.evidence);
            if moved || current_evidence != Some(&evidence) {
                changes.links.push(GoldenLink {
                    party: member.clone(),
                    golden_id: golden_id.clone(),
                    evidence,
                });
            }
            // A member's old id that no cluster kept was merged into this one.
            if let Some(old) = linked.get(member) {
                if !claimed.contains(old) && merged_seen.insert(old.to_string()) {
                    changes.merged.push((old.to_string(), golden_id.clone()));
                }
            }
        }
    }
    changes
}

/// Chooses each cluster's golden id. Larger clusters choose first; each
/// takes the existing id most of its members carry (ties to the smaller
/// id), unless a larger cluster took it already (a split), in which case it
/// gets a new id.
fn assign_ids(clusters: &[Cluster], linked: &HashMap<&PartyKey, &str>) -> Vec<String> {
    let mut order: Vec<usize> = (0..clusters.len()).collect();
    order.sort_by_key(|&index| (std::cmp::Reverse(clusters[index].members.len()), index));
    let mut taken: HashSet<String> = linked.values().map(|id| id.to_string()).collect();
    let mut claimed: HashSet<String> = HashSet::new();
    let mut ids = vec![String::new(); clusters.len()];
    for index in order {
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for member in &clusters[index].members {
            if let Some(id) = linked.get(member) {
                *votes.entry(id).or_default() += 1;
            }
        }
        let mut candidates: Vec<(&str, usize)> = votes.into_iter().collect();
        candidates.sort_by_key(|&(id, count)| (std::cmp::Reverse(count), id));
        let kept = candidates
            .into_iter()
            .map(|(id, _)| id.to_string())
            .find(|id| !claimed.contains(id));
        let id = kept.unwrap_or_else(|| new_id(&clusters[index].members[0], &taken));
        taken.insert(id.clone());
        claimed.insert(id.clone());
        ids[index] = id;
    }
    ids
}

/// A new golden id derived from a member key; rehashed on the rare clash.
fn new_id(seed: &PartyKey, taken: &HashSet<String>) -> String {
    let mut input = seed.to_string();
    loop {
        let id = format!("g_{}", &hex::encode(Sha256::digest(input.as_bytes()))[..16]);
        if !taken.contains(&id) {
            return id;
        }
        input.push('+');
    }
}

/// Reads one single-valued field of a party.
type FieldGetter = fn(&Party) -> Option<&str>;

/// The golden record of a cluster. Single-valued fields take the most common
/// value among members (ties to the most recently updated source, then the
/// smallest key); phones and e-mails are the union of normalized values.
pub fn survive(golden_id: &str, members: &[&Party]) -> GoldenCustomer {
    let mut ordered: Vec<&Party> = members.to_vec();
    // Most recently updated first, so ties favour fresher data.
    ordered.sort_by(|a, b| {
        b.source_updated_at
            .cmp(&a.source_updated_at)
            .then_with(|| a.key().cmp(&b.key()))
    });
    let mut fields = BTreeMap::new();
    let mut lineage = BTreeMap::new();
    let single: [(&str, FieldGetter); 3] = [
        ("name", |party| party.name.as_deref()),
        ("company", |party| party.company.as_deref()),
        ("address", |party| party.address.as_deref()),
    ];
    for (field, get) in single {
        if let Some((value, source)) = most_common(&ordered, get) {
            fields.insert(field.to_string(), Value::String(value));
            lineage.insert(field.to_string(), source);
        }
    }
    let kind = if ordered
        .iter()
        .any(|party| party.kind == crate::model::PartyKind::Company)
    {
        "company"
    } else {
        "person"
    };
    fields.insert("kind".to_string(), Value::String(kind.to_string()));

    let mut phones = BTreeSet::new();
    let mut emails = BTreeSet::new();
    for party in &ordered {
        for raw in &party.phones {
            for phone in normalize_phones(raw) {
                if phones.insert(phone.e164) {
                    lineage
                        .entry("phones".to_string())
                        .or_insert_with(|| party.key());
                }
            }
        }
        for raw in &party.emails {
            for email in normalize_emails(raw) {
                if emails.insert(email) {
                    lineage
                        .entry("emails".to_string())
                        .or_insert_with(|| party.key());
                }
            }
        }
    }
    if !phones.is_empty() {
        fields.insert("phones".to_string(), json!(phones));
    }
    if !emails.is_empty() {
        fields.insert("emails".to_string(), json!(emails));
    }
    GoldenCustomer {
        golden_id: golden_id.to_string(),
        fields,
        lineage,
    }
}

/// The most common non-empty value and the first party (in `ordered`) that
/// has it.
fn most_common(ordered: &[&Party], get: FieldGetter) -> Option<(String, PartyKey)> {
    let mut counts: Vec<(String, usize, PartyKey)> = Vec::new();
    for party in ordered {
        let Some(value) = get(party).map(str::trim).filter(|value| !value.is_empty()) else {
            continue;
        };
        match counts.iter_mut().find(|(seen, _, _)| seen == value) {
            Some(entry) => entry.1 += 1,
            None => counts.push((value.to_string(), 1, party.key())),
        }
    }
    // `max_by_key` keeps the last maximum; iterate reversed to keep the first.
    counts
        .into_iter()
        .rev()
        .max_by_key(|(_, count, _)| *count)
        .map(|(value, _, source)| (value, source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::cluster_by_exact_keys;

    fn party(connector: &str, id: &str, name: &str, phone: &str) -> Party {
        Party {
            connector: connector.into(),
            source_id: id.into(),
            name: Some(name.into()),
            phones: vec![phone.into()],
            ..Party::default()
        }
    }

    fn apply(
        changes: &ResolutionChanges,
        links: &mut Vec<GoldenLink>,
        golden: &mut Vec<GoldenCustomer>,
    ) {
        for link in &changes.links {
            links.retain(|current| current.party != link.party);
            links.push(link.clone());
        }
        for customer in &changes.upserted {
            golden.retain(|current| current.golden_id != customer.golden_id);
            golden.push(customer.clone());
        }
        golden.retain(|customer| {
            !changes
                .merged
                .iter()
                .any(|(absorbed, _)| absorbed == &customer.golden_id)
        });
    }

    #[test]
    fn a_rerun_on_the_same_data_changes_nothing() {
        let parties = vec![
            party("erp", "1", "张伟", "13800138000"),
            party("shop", "a", "Zhang Wei", "+86 138 0013 8000"),
            party("erp", "2", "李娜", "13900139000"),
        ];
        let clusters = cluster_by_exact_keys(&parties);
        let first = plan_changes(&clusters, &parties, &[], &[]);
        assert_eq!(first.upserted.len(), 2);
        assert_eq!(first.links.len(), 3);
        let (mut links, mut golden) = (Vec::new(), Vec::new());
        apply(&first, &mut links, &mut golden);
        let second = plan_changes(&clusters, &parties, &links, &golden);
        assert!(second.is_empty(), "{second:?}");
    }

    #[test]
    fn a_merge_keeps_the_larger_customers_id_and_records_the_other() {
        let mut parties = vec![
            party("erp", "1", "张伟", "13800138000"),
            party("shop", "a", "张伟", "13800138000"),
            party("desk", "x", "张伟", "13700137000"),
        ];
        let (mut links, mut golden) = (Vec::new(), Vec::new());
        let first = plan_changes(&cluster_by_exact_keys(&parties), &parties, &links, &golden);
        apply(&first, &mut links, &mut golden);
        let big = links
            .iter()
            .find(|link| link.party.source_id == "1")
            .unwrap()
            .golden_id
            .clone();
        let small = links
            .iter()
            .find(|link| link.party.source_id == "x")
            .unwrap()
            .golden_id
            .clone();
        assert_ne!(big, small);

        // The desk record gains the shared mobile: the two customers merge.
        parties[2].phones.push("13800138000".into());
        let second = plan_changes(&cluster_by_exact_keys(&parties), &parties, &links, &golden);
        assert_eq!(second.merged, vec![(small.clone(), big.clone())]);
        assert!(second.links.iter().all(|link| link.golden_id == big));
        apply(&second, &mut links, &mut golden);
        assert_eq!(golden.len(), 1);
        assert_eq!(
            golden[0].fields["phones"],
            json!(["+8613700137000", "+8613800138000"])
        );
    }

    #[test]
    fn a_split_keeps_the_id_with_the_larger_part() {
        let mut parties = vec![
            party("erp", "1", "王芳", "13800138000"),
            party("shop", "a", "王芳", "13800138000"),
            party("desk", "x", "王芳", "13800138000"),
        ];
        let (mut links, mut golden) = (Vec::new(), Vec::new());
        apply(
            &plan_changes(&cluster_by_exact_keys(&parties), &parties, &links, &golden),
            &mut links,
            &mut golden,
        );
        let original = links[0].golden_id.clone();

        parties[2].phones = vec!["13600136000".into()];
        let changes = plan_changes(&cluster_by_exact_keys(&parties), &parties, &links, &golden);
        let moved: Vec<&GoldenLink> = changes
            .links
            .iter()
            .filter(|link| link.golden_id != original)
            .collect();
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].party.source_id, "x");
        assert!(changes.merged.is_empty());
    }

    #[test]
    fn survivorship_prefers_the_most_common_value_and_keeps_lineage() {
        let a = party("erp", "1", "张伟", "13800138000");
        let b = party("shop", "a", "Zhang Wei", "13800138000");
        let c = party("desk", "x", "Zhang Wei", "13800138000");
        let golden = survive("g_1", &[&a, &b, &c]);
        assert_eq!(golden.fields["name"], json!("Zhang Wei"));
        assert_eq!(golden.lineage["name"].to_string(), "desk/x");
        assert_eq!(golden.fields["phones"], json!(["+8613800138000"]));
        assert_eq!(golden.fields["kind"], json!("person"));
    }
}
