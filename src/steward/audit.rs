//! The audit log's hash chain.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash followed by
//! the entry's canonical form, so changing, removing or reordering any entry
//! changes every hash after it. [`verify`] recomputes the chain and names
//! the first entry that does not fit; [`reconcile`] checks that the
//! decisions resolution honours (`steward_decisions`) are exactly the ones
//! the chain recorded, undos included. The chain has no key: whoever can
//! write the database can write a new consistent chain, and only a head
//! hash kept elsewhere (printed by `tierlink decision verify`, checked with
//! `--head`) shows that the log was rewritten or cut short.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::store::{AuditEntry, Decision, StewardDecision};

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The parts of an entry its hash covers.
#[derive(Debug, Clone, Copy)]
pub struct AuditFields<'a> {
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub action: &'a str,
    pub payload: &'a Value,
    pub reason: Option<&'a str>,
}

/// JSON text with object keys sorted at every level and no whitespace, so
/// the same value always hashes the same whatever map order produced it.
pub fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(key, value)| (key.clone(), sorted(value)))
                    .collect::<BTreeMap<_, _>>()
                    .into_iter()
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// The hash of an entry that follows `prev_hash`: hex SHA-256 of
/// `prev_hash || canonical entry`, the entry being the canonical JSON of its
/// time (RFC 3339, microseconds), actor, action, payload and reason.
pub fn entry_hash(prev_hash: &str, entry: &AuditFields<'_>) -> String {
    #[derive(Serialize)]
    struct Canonical<'a> {
        at: String,
        actor: &'a str,
        action: &'a str,
        payload: Value,
        reason: Option<&'a str>,
    }
    let canonical = serde_json::to_value(Canonical {
        at: entry.at.to_rfc3339_opts(SecondsFormat::Micros, true),
        actor: entry.actor,
        action: entry.action,
        payload: entry.payload.clone(),
        reason: entry.reason,
    })
    .map(|value| canonical_json(&value))
    .unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(canonical.as_bytes());
    hex::encode(hasher.finalize())
}

/// Why an audit entry does not fit the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("audit entry {entry_id} is not the entry that was written: {problem}")]
pub struct ChainBreak {
    pub entry_id: i64,
    pub problem: String,
}

/// Checks the chain from the first entry on (entries oldest first) and
/// returns the first entry that was changed, or whose predecessor was
/// removed or changed.
pub fn verify(entries: &[AuditEntry]) -> Result<(), ChainBreak> {
    let mut expected_prev = GENESIS_HASH.to_string();
    for entry in entries {
        if entry.prev_hash != expected_prev {
            return Err(ChainBreak {
                entry_id: entry.id,
                problem: format!(
                    "it follows hash {}, but the entry before it has hash {expected_prev}",
                    entry.prev_hash
                ),
            });
        }
        let recomputed = entry_hash(
            &entry.prev_hash,
            &AuditFields {
                at: entry.at,
                actor: &entry.actor,
                action: &entry.action,
                payload: &entry.payload,
                reason: entry.reason.as_deref(),
            },
        );
        if recomputed != entry.hash {
            return Err(ChainBreak {
                entry_id: entry.id,
                problem: format!(
                    "its content hashes to {recomputed}, but {} was recorded",
                    entry.hash
                ),
            });
        }
        expected_prev = entry.hash.clone();
    }
    Ok(())
}

/// Why the decisions in force differ from what the audit log recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("steward decision {decision_id} is not what the audit log recorded: {problem}")]
pub struct DecisionMismatch {
    pub decision_id: i64,
    pub problem: String,
}

/// Checks every decision against its audit entry (the one whose payload
/// names its `decision_id`): the same decision, actor, reason and time, and
/// undone exactly when, and at the time, an audited undo withdrew it. A
/// decision without an entry, or an audited decision without its row, is
/// a mismatch too.
pub fn reconcile(
    decisions: &[StewardDecision],
    entries: &[AuditEntry],
) -> Result<(), DecisionMismatch> {
    let mut audited: BTreeMap<i64, &AuditEntry> = BTreeMap::new();
    let mut undone_at: BTreeMap<i64, DateTime<Utc>> = BTreeMap::new();
    for entry in entries {
        let Some(id) = entry.payload.get("decision_id").and_then(Value::as_i64) else {
            continue;
        };
        audited.insert(id, entry);
        let undo = entry
            .payload
            .get("decision")
            .and_then(|decision| serde_json::from_value::<Decision>(decision.clone()).ok());
        if let Some(Decision::Undo { decision_id }) = undo {
            undone_at.insert(decision_id, entry.at);
        }
    }
    let mismatch = |decision_id: i64, problem: String| DecisionMismatch {
        decision_id,
        problem,
    };
    for decision in decisions {
        let id = decision.id;
        let Some(entry) = audited.remove(&id) else {
            return Err(mismatch(id, "no audit entry records it".to_string()));
        };
        let recorded = entry.payload.get("decision").cloned().unwrap_or_default();
        let in_force = serde_json::to_value(&decision.decision).unwrap_or_default();
        if recorded != in_force || entry.action != decision.decision.action() {
            return Err(mismatch(
                id,
                format!(
                    "it says {}, audit entry {} recorded {}",
                    canonical_json(&in_force),
                    entry.id,
                    canonical_json(&recorded)
                ),
            ));
        }
        if entry.actor != decision.actor || entry.reason != decision.reason {
            return Err(mismatch(
                id,
                format!(
                    "made by {:?} because {:?}, audit entry {} recorded {:?} because {:?}",
                    decision.actor, decision.reason, entry.id, entry.actor, entry.reason
                ),
            ));
        }
        if entry.at != decision.created_at {
            return Err(mismatch(
                id,
                format!(
                    "made at {}, audit entry {} recorded {}",
                    decision.created_at, entry.id, entry.at
                ),
            ));
        }
        let audited_undo = undone_at.get(&id).copied();
        if decision.undone_at != audited_undo {
            let state = |at: Option<DateTime<Utc>>| {
                at.map_or_else(|| "in force".to_string(), |at| format!("undone at {at}"))
            };
            return Err(mismatch(
                id,
                format!(
                    "it is {}, the audit log has it {}",
                    state(decision.undone_at),
                    state(audited_undo)
                ),
            ));
        }
    }
    match audited.into_iter().next() {
        Some((id, entry)) => Err(mismatch(
            id,
            format!("audit entry {} records it, but it is gone", entry.id),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain(actions: &[&str]) -> Vec<AuditEntry> {
        let mut entries = Vec::new();
        let mut prev = GENESIS_HASH.to_string();
        for (index, action) in actions.iter().enumerate() {
            let at = DateTime::parse_from_rfc3339("2026-03-01T08:00:00.123456Z")
                .unwrap()
                .with_timezone(&Utc);
            let payload = json!({ "n": index, "b": [1, { "z": 1, "a": 2 }] });
            let hash = entry_hash(
                &prev,
                &AuditFields {
                    at,
                    actor: "li.na",
                    action,
                    payload: &payload,
                    reason: Some("same phone"),
                },
            );
            entries.push(AuditEntry {
                id: index as i64 + 1,
                at,
                actor: "li.na".into(),
                action: action.to_string(),
                payload,
                reason: Some("same phone".into()),
                prev_hash: prev.clone(),
                hash: hash.clone(),
            });
            prev = hash;
        }
        entries
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let value: Value =
            serde_json::from_str(r#"{"b":{"y":1,"x":[{"d":1,"c":2}]},"a":null}"#).unwrap();
        assert_eq!(
            canonical_json(&value),
            r#"{"a":null,"b":{"x":[{"c":2,"d":1}],"y":1}}"#
        );
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert_eq!(verify(&chain(&["merge", "split", "undo"])), Ok(()));
        assert_eq!(verify(&[]), Ok(()));
    }

    #[test]
    fn the_first_changed_entry_is_named() {
        let mut entries = chain(&["merge", "split", "undo"]);
        entries[1].reason = Some("changed later".into());
        assert_eq!(verify(&entries).unwrap_err().entry_id, 2);

        let mut entries = chain(&["merge", "split", "undo"]);
        entries[2].payload = json!({ "n": 99 });
        assert_eq!(verify(&entries).unwrap_err().entry_id, 3);
    }

    /// A decision row and its audit entry, written the way the store does.
    fn recorded(id: i64, decision: Decision, prev: &str) -> (StewardDecision, AuditEntry) {
        let at = DateTime::parse_from_rfc3339("2026-03-01T08:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc)
            + chrono::Duration::seconds(id);
        let payload = json!({ "decision_id": id, "decision": &decision });
        let fields = AuditFields {
            at,
            actor: "li.na",
            action: decision.action(),
            payload: &payload,
            reason: Some("same phone"),
        };
        let hash = entry_hash(prev, &fields);
        let entry = AuditEntry {
            id,
            at,
            actor: "li.na".into(),
            action: decision.action().into(),
            payload: payload.clone(),
            reason: Some("same phone".into()),
            prev_hash: prev.to_string(),
            hash,
        };
        let row = StewardDecision {
            id,
            decision,
            actor: "li.na".into(),
            reason: Some("same phone".into()),
            created_at: at,
            undone_at: None,
        };
        (row, entry)
    }

    fn merge_then_undo() -> (Vec<StewardDecision>, Vec<AuditEntry>) {
        let merge = Decision::Merge {
            golden_ids: vec!["g1".into(), "g2".into()],
            records: Vec::new(),
        };
        let (mut first, first_entry) = recorded(1, merge, GENESIS_HASH);
        let (second, second_entry) =
            recorded(2, Decision::Undo { decision_id: 1 }, &first_entry.hash);
        first.undone_at = Some(second_entry.at);
        (vec![first, second], vec![first_entry, second_entry])
    }

    #[test]
    fn decisions_in_force_must_be_the_audited_ones() {
        let (decisions, entries) = merge_then_undo();
        assert_eq!(verify(&entries), Ok(()));
        assert_eq!(reconcile(&decisions, &entries), Ok(()));

        // A decision's content, actor or undo changed in its table only.
        let mut changed = decisions.clone();
        changed[0].decision = Decision::Merge {
            golden_ids: vec!["g1".into(), "g3".into()],
            records: Vec::new(),
        };
        assert_eq!(reconcile(&changed, &entries).unwrap_err().decision_id, 1);
        let mut changed = decisions.clone();
        changed[0].actor = "mallory".into();
        assert!(reconcile(&changed, &entries)
            .unwrap_err()
            .problem
            .contains("mallory"));
        let mut changed = decisions.clone();
        changed[0].undone_at = None;
        assert!(reconcile(&changed, &entries)
            .unwrap_err()
            .problem
            .contains("in force"));

        // A decision added or removed behind the log's back.
        let mut added = decisions.clone();
        added.push(StewardDecision {
            id: 3,
            ..decisions[1].clone()
        });
        assert_eq!(reconcile(&added, &entries).unwrap_err().decision_id, 3);
        assert_eq!(
            reconcile(&decisions[..1], &entries)
                .unwrap_err()
                .decision_id,
            2
        );
    }

    #[test]
    fn a_removed_entry_breaks_the_next_one() {
        let mut entries = chain(&["merge", "split", "undo"]);
        entries.remove(1);
        let broken = verify(&entries).unwrap_err();
        assert_eq!(broken.entry_id, 3);
        assert!(broken.problem.contains("follows hash"), "{broken}");
    }
}
