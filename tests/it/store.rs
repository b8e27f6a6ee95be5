//! Store stories: each one walks a piece of the pipeline through the
//! `Store` trait and checks what comes back. The same stories run on SQLite
//! and PostgreSQL (see `support::store_stories!`), which is what keeps the
//! two backends' shared queries and separate schemas in step.
//!
//! Timestamps the stories compare are whole seconds in UTC: SQLite keeps
//! them as RFC 3339 text and PostgreSQL with microseconds, and whole
//! seconds survive both exactly.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use tierlink::golden::{CustomerState, LinkState};
use tierlink::model::{
    Call, Entity, Message, Order, OrderStatus, Party, PartyKey, PartyKind, Ticket,
};
use tierlink::store::{
    ConnectorCounts, FieldContribution, GoldenCustomer, GoldenLink, IdLineage, LedgerRow,
    LedgerStatus, LedgerUpdate, LinkEvidence, MappedRecord, MatchEvidence, NewDeadLetter,
    OrderFact, PushTarget, Rejection, ResolutionChanges, SourceRecord, StageCounts, StagedBatch,
    StagedRecord, Store, StoreStatus, TierAssignment, TierChange,
};

use crate::support::store_stories;

store_stories! {
    dead_letters_open_update_resolve_drop_and_reopen
        => dead_letters_open_update_resolve_drop_and_reopen_sqlite,
           dead_letters_open_update_resolve_drop_and_reopen_postgres;
    oversized_records_are_rejected_with_the_reason
        => oversized_records_are_rejected_with_the_reason_sqlite,
           oversized_records_are_rejected_with_the_reason_postgres;
    nul_characters_in_rejected_input_are_stored_on_both_backends
        => nul_characters_in_rejected_input_are_stored_on_both_backends_sqlite,
           nul_characters_in_rejected_input_are_stored_on_both_backends_postgres;
    runs_are_listed_newest_first_with_their_outcome
        => runs_are_listed_newest_first_with_their_outcome_sqlite,
           runs_are_listed_newest_first_with_their_outcome_postgres;
    staging_counts_new_changed_and_unchanged_records
        => staging_counts_new_changed_and_unchanged_records_sqlite,
           staging_counts_new_changed_and_unchanged_records_postgres;
    mapping_marks_records_done_per_version_and_keeps_every_party_field
        => mapping_marks_records_done_per_version_and_keeps_every_party_field_sqlite,
           mapping_marks_records_done_per_version_and_keeps_every_party_field_postgres;
    resolution_and_tiers_follow_golden_customers_through_a_merge
        => resolution_and_tiers_follow_golden_customers_through_a_merge_sqlite,
           resolution_and_tiers_follow_golden_customers_through_a_merge_postgres;
    push_targets_and_ledger_follow_links_and_tiers
        => push_targets_and_ledger_follow_links_and_tiers_sqlite,
           push_targets_and_ledger_follow_links_and_tiers_postgres;
    status_counts_everything_per_connector
        => status_counts_everything_per_connector_sqlite,
           status_counts_everything_per_connector_postgres;
    chinese_text_and_emoji_survive_every_round_trip
        => chinese_text_and_emoji_survive_every_round_trip_sqlite,
           chinese_text_and_emoji_survive_every_round_trip_postgres;
    pushed_deliveries_are_staged_once_per_event_id
        => pushed_deliveries_are_staged_once_per_event_id_sqlite,
           pushed_deliveries_are_staged_once_per_event_id_postgres;
    tickets_calls_and_messages_come_back_as_mapped
        => tickets_calls_and_messages_come_back_as_mapped_sqlite,
           tickets_calls_and_messages_come_back_as_mapped_postgres;
    tier_changes_fill_the_outbox_and_say_since_when_a_tier_holds
        => tier_changes_fill_the_outbox_and_say_since_when_a_tier_holds_sqlite,
           tier_changes_fill_the_outbox_and_say_since_when_a_tier_holds_postgres;
    customers_are_searched_by_prefix_and_tier_and_leave_the_index_when_merged
        => customers_are_searched_by_prefix_and_tier_and_leave_the_index_when_merged_sqlite,
           customers_are_searched_by_prefix_and_tier_and_leave_the_index_when_merged_postgres;
}

// ---------------------------------------------------------------------------
// Helpers

/// A UTC timestamp from RFC 3339 text; whole seconds in every story.
fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test timestamps are valid RFC 3339")
        .with_timezone(&Utc)
}

fn record(source_id: &str, raw: Value) -> SourceRecord {
    SourceRecord {
        source_id: source_id.to_string(),
        raw,
    }
}

fn rejection(source_id: Option<&str>, reason: &str, raw: &str) -> Rejection {
    Rejection {
        source_id: source_id.map(str::to_string),
        reason: reason.to_string(),
        raw: raw.to_string(),
    }
}

fn key(connector: &str, source_id: &str) -> PartyKey {
    PartyKey {
        connector: connector.to_string(),
        source_id: source_id.to_string(),
    }
}

fn party(connector: &str, source_id: &str, name: &str) -> Party {
    Party {
        connector: connector.to_string(),
        source_id: source_id.to_string(),
        name: Some(name.to_string()),
        ..Party::default()
    }
}

fn order(
    connector: &str,
    source_id: &str,
    party_source_id: &str,
    amount: f64,
    when: &str,
) -> Order {
    Order {
        connector: connector.to_string(),
        source_id: source_id.to_string(),
        party_source_id: party_source_id.to_string(),
        amount,
        currency: Some("CNY".to_string()),
        status: OrderStatus::Paid,
        ordered_at: at(when),
        number: None,
        origin_number: None,
    }
}

fn link(connector: &str, source_id: &str, golden_id: &str, shared_keys: &[&str]) -> GoldenLink {
    GoldenLink {
        party: key(connector, source_id),
        golden_id: golden_id.to_string(),
        evidence: LinkEvidence {
            shared_keys: shared_keys.iter().map(ToString::to_string).collect(),
            ..LinkEvidence::default()
        },
    }
}

fn golden(golden_id: &str, fields: &[(&str, Value, PartyKey)]) -> GoldenCustomer {
    GoldenCustomer {
        golden_id: golden_id.to_string(),
        fields: fields
            .iter()
            .map(|(field, value, _)| (field.to_string(), value.clone()))
            .collect(),
        lineage: fields
            .iter()
            .map(|(field, _, from)| (field.to_string(), from.clone()))
            .collect(),
    }
}

fn tier_change(
    golden_id: &str,
    from: Option<&str>,
    to: &str,
    reason: Value,
    rules_version: &str,
    when: &str,
) -> TierChange {
    TierChange {
        from_tier: from.map(str::to_string),
        assignment: TierAssignment {
            golden_id: golden_id.to_string(),
            tier: to.to_string(),
            rule: format!("{to}-rule"),
            reason,
            rules_version: rules_version.to_string(),
            assigned_at: at(when),
        },
    }
}

fn ledger_row(source_id: &str, label: &str, status: LedgerStatus) -> LedgerRow {
    LedgerRow {
        connector: "crm".to_string(),
        source_id: source_id.to_string(),
        golden_id: Some(format!("G-{source_id}")),
        tier: Some(label.to_string()),
        desired_label: Some(label.to_string()),
        acked_label: None,
        unacked_labels: vec![label.to_string()],
        rules_version: "rules-1".to_string(),
        status,
        attempts: 0,
        last_error: None,
    }
}

fn rows(rows: &[LedgerRow]) -> LedgerUpdate {
    LedgerUpdate {
        rows: rows.to_vec(),
        ..LedgerUpdate::default()
    }
}

/// Stages `records` as one batch without cursor or rejections.
async fn stage(
    store: &dyn Store,
    run_id: i64,
    connector: &str,
    stream: &str,
    records: Vec<SourceRecord>,
) -> StageCounts {
    let batch = StagedBatch {
        records,
        ..StagedBatch::default()
    };
    store
        .stage_batch(run_id, connector, stream, &batch)
        .await
        .expect("staging a batch")
}

/// Maps every pending record of a stream with `map`, as the pipeline does:
/// the content hash saved is the one read, so a record staged again in the
/// meantime stays pending.
async fn map_pending(
    store: &dyn Store,
    run_id: i64,
    connector: &str,
    stream: &str,
    version: &str,
    map: impl Fn(&StagedRecord) -> Result<Entity, String>,
) -> (u64, u64) {
    let pending = store
        .pending_mapping(connector, stream, version, 1000)
        .await
        .expect("reading pending records");
    let mapped: Vec<MappedRecord> = pending
        .iter()
        .map(|staged| MappedRecord {
            source_id: staged.source_id.clone(),
            content_hash: staged.content_hash.clone(),
            outcome: map(staged),
            raw: staged.raw.clone(),
        })
        .collect();
    store
        .save_mapped(run_id, connector, stream, version, &mapped)
        .await
        .expect("saving mapped records")
}

fn source_ids(records: &[StagedRecord]) -> Vec<&str> {
    records.iter().map(|r| r.source_id.as_str()).collect()
}

// ---------------------------------------------------------------------------
// Stories

/// `start_run` opens a run as `running`; `finish_run` stamps its end and
/// summary; `recent_runs` lists newest first and honours the limit.
async fn runs_are_listed_newest_first_with_their_outcome(store: Arc<dyn Store>) {
    assert!(store
        .recent_runs(10)
        .await
        .expect("listing runs")
        .is_empty());

    // The store stamps times itself, so bracket them with the test's clock
    // (a second of slack on each side for SQLite's and PostgreSQL's rounding).
    let before = Utc::now() - Duration::seconds(1);
    let pull = store.start_run("pull").await.expect("starting a run");
    let full = store.start_run("run").await.expect("starting a run");
    assert!(full > pull, "run ids must increase: {pull} then {full}");

    let running = store.recent_runs(10).await.expect("listing runs");
    assert_eq!(running.len(), 2);
    for run in &running {
        assert_eq!(run.status, "running");
        assert_eq!(run.finished_at, None, "an unfinished run has no end");
        assert_eq!(
            run.summary,
            json!({}),
            "an unfinished run has an empty summary"
        );
    }

    let pull_summary = json!({
        "connectors": {"crm": {"fetched": 120, "new": 100, "changed": 15, "unchanged": 5}},
        "rejected": 3,
        "duration_seconds": 12.5,
        "warnings": ["slow source", null, true],
    });
    let failure = json!({"error": "mapping failed", "stage": "map"});
    store
        .finish_run(pull, "succeeded", &pull_summary)
        .await
        .expect("finishing a run");
    store
        .finish_run(full, "failed", &failure)
        .await
        .expect("finishing a run");
    let after = Utc::now() + Duration::seconds(1);

    let runs = store.recent_runs(10).await.expect("listing runs");
    let ids: Vec<i64> = runs.iter().map(|run| run.id).collect();
    assert_eq!(ids, vec![full, pull], "newest run first");
    let (newest, oldest) = (&runs[0], &runs[1]);
    assert_eq!(
        (newest.kind.as_str(), newest.status.as_str()),
        ("run", "failed")
    );
    assert_eq!(
        (oldest.kind.as_str(), oldest.status.as_str()),
        ("pull", "succeeded")
    );
    assert_eq!(newest.summary, failure);
    assert_eq!(oldest.summary, pull_summary, "summary JSON round-trips");
    for run in &runs {
        let finished = run.finished_at.expect("a finished run has an end time");
        assert!(
            before <= run.started_at && run.started_at <= finished && finished <= after,
            "run {} times out of order: {before} <= {} <= {finished} <= {after}",
            run.id,
            run.started_at
        );
    }

    let limited = store.recent_runs(1).await.expect("listing runs");
    assert_eq!(limited, vec![newest.clone()], "the limit keeps the newest");
}

/// Staging compares each record with what is stored: new, changed and
/// unchanged are counted; rejections are kept with reason and raw text; the
/// cursor moves with the batch and stays when a batch has none.
async fn staging_counts_new_changed_and_unchanged_records(store: Arc<dyn Store>) {
    let run = store.start_run("pull").await.expect("starting a run");
    assert_eq!(
        store.cursor("crm", "customers").await.expect("cursor"),
        None
    );

    let alice = json!({"id": "c-001", "name": "Alice", "tier": null});
    let bob = json!({"id": "c-002", "name": "Bob", "tags": ["a", "b"]});
    let carol = json!({"id": "c-003", "name": "Carol", "spend": 12.5});

    // Batch 1: everything is new; one line could not be parsed.
    let first = StagedBatch {
        records: vec![
            record("c-001", alice.clone()),
            record("c-002", bob.clone()),
            record("c-003", carol.clone()),
        ],
        rejected: vec![rejection(Some("c-004"), "missing name", "c-004,,")],
        cursor: Some(json!({"offset": 4})),
    };
    let counts = store
        .stage_batch(run, "crm", "customers", &first)
        .await
        .expect("staging batch 1");
    assert_eq!(
        counts,
        StageCounts {
            fetched: 4,
            new: 3,
            changed: 0,
            unchanged: 0,
            rejected: 1
        }
    );
    assert_eq!(
        store.cursor("crm", "customers").await.expect("cursor"),
        Some(json!({"offset": 4})),
        "the cursor is committed with its batch"
    );

    // Batch 2: the same records again, with object keys written in another
    // order (the content hash must not depend on it), and no cursor.
    let second = StagedBatch {
        records: vec![
            record(
                "c-001",
                json!({"tier": null, "name": "Alice", "id": "c-001"}),
            ),
            record("c-002", bob.clone()),
            record("c-003", carol.clone()),
        ],
        rejected: vec![],
        cursor: None,
    };
    let counts = store
        .stage_batch(run, "crm", "customers", &second)
        .await
        .expect("staging batch 2");
    assert_eq!(
        counts,
        StageCounts {
            fetched: 3,
            new: 0,
            changed: 0,
            unchanged: 3,
            rejected: 0
        }
    );
    assert_eq!(
        store.cursor("crm", "customers").await.expect("cursor"),
        Some(json!({"offset": 4})),
        "a batch without cursor leaves the previous one"
    );

    // Batch 3: Alice changed, Bob did not, Dave is new; a rejection without
    // a readable id; the cursor moves again.
    let alice_renamed = json!({"id": "c-001", "name": "Alice Wong", "tier": null});
    let dave = json!({"id": "c-005", "name": "Dave"});
    let third = StagedBatch {
        records: vec![
            record("c-001", alice_renamed.clone()),
            record("c-002", bob.clone()),
            record("c-005", dave.clone()),
        ],
        rejected: vec![rejection(None, "not valid UTF-8", "\u{fffd}\u{fffd},x")],
        cursor: Some(json!({"offset": 9, "file": "customers.csv"})),
    };
    let counts = store
        .stage_batch(run, "crm", "customers", &third)
        .await
        .expect("staging batch 3");
    assert_eq!(
        counts,
        StageCounts {
            fetched: 4,
            new: 1,
            changed: 1,
            unchanged: 1,
            rejected: 1
        }
    );
    assert_eq!(
        store.cursor("crm", "customers").await.expect("cursor"),
        Some(json!({"offset": 9, "file": "customers.csv"}))
    );

    // Cursors belong to one (connector, stream).
    assert_eq!(store.cursor("crm", "orders").await.expect("cursor"), None);
    assert_eq!(
        store.cursor("shop", "customers").await.expect("cursor"),
        None
    );

    // The changed record was stored, not only counted: what waits for
    // mapping is the latest content of each record, one row per id.
    let pending = store
        .pending_mapping("crm", "customers", "m1", 100)
        .await
        .expect("pending records");
    let staged: Vec<(&str, &Value)> = pending
        .iter()
        .map(|r| (r.source_id.as_str(), &r.raw))
        .collect();
    assert_eq!(
        staged,
        vec![
            ("c-001", &alice_renamed),
            ("c-002", &bob),
            ("c-003", &carol),
            ("c-005", &dave),
        ]
    );

    // Another connector's rejection, to check the filter.
    let shop = StagedBatch {
        records: vec![],
        rejected: vec![rejection(Some("s-1"), "bad date", "s-1;31/02/2024")],
        cursor: None,
    };
    store
        .stage_batch(run, "shop", "customers", &shop)
        .await
        .expect("staging the shop batch");

    let rejected = store.rejected(Some("crm"), 10).await.expect("rejected");
    let seen: Vec<(&str, &str, Option<&str>, &str, &str)> = rejected
        .iter()
        .map(|r| {
            (
                r.connector.as_str(),
                r.stream.as_str(),
                r.source_id.as_deref(),
                r.reason.as_str(),
                r.raw.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                "crm",
                "customers",
                None,
                "not valid UTF-8",
                "\u{fffd}\u{fffd},x"
            ),
            ("crm", "customers", Some("c-004"), "missing name", "c-004,,"),
        ],
        "newest first, only the crm connector"
    );
    let all = store.rejected(None, 10).await.expect("rejected");
    assert_eq!(all.len(), 3, "no filter lists every connector");
    assert_eq!(all[0].connector, "shop");
    let newest_crm = store.rejected(Some("crm"), 1).await.expect("rejected");
    assert_eq!(
        newest_crm,
        vec![rejected[0].clone()],
        "the limit keeps the newest"
    );
}

/// Mapping is tracked per record and mapping version: mapped records stop
/// being pending, a new version or new content makes them pending again,
/// and parties come back exactly as mapped.
async fn mapping_marks_records_done_per_version_and_keeps_every_party_field(store: Arc<dyn Store>) {
    let run = store.start_run("pull").await.expect("starting a run");
    // One export mixing customers and orders, plus a record that will not map.
    let counts = stage(
        &*store,
        run,
        "crm",
        "export",
        vec![
            record("a-1", json!({"type": "company", "name": "Acme Trading"})),
            record("a-2", json!({"type": "person", "name": "Li Lei"})),
            record(
                "o-1",
                json!({"type": "order", "customer": "a-2", "total": 99.9}),
            ),
            record("x-9", json!({"type": "unknown", "weird": [1, 2]})),
        ],
    )
    .await;
    assert_eq!(counts.new, 4);

    let pending = store
        .pending_mapping("crm", "export", "m1", 100)
        .await
        .expect("pending records");
    assert_eq!(source_ids(&pending), vec!["a-1", "a-2", "o-1", "x-9"]);
    let limited = store
        .pending_mapping("crm", "export", "m1", 2)
        .await
        .expect("pending records");
    assert_eq!(
        limited,
        pending[..2].to_vec(),
        "the limit takes the first ones"
    );

    let acme = Party {
        connector: "crm".to_string(),
        source_id: "a-1".to_string(),
        kind: PartyKind::Company,
        name: Some("Acme Trading".to_string()),
        phones: vec!["+86 138 0013 8000".to_string(), "021-5555 0101".to_string()],
        emails: vec![
            "sales@acme.example".to_string(),
            "Boss@Acme.Example".to_string(),
        ],
        company: Some("Acme Trading Co., Ltd.".to_string()),
        address: Some("1 Bund Road, Shanghai".to_string()),
        strong_ids: BTreeMap::from([
            ("credit_code".to_string(), "91310000MA1FL0XX1X".to_string()),
            ("wechat_unionid".to_string(), "oUnion_123".to_string()),
        ]),
        attributes: BTreeMap::from([
            ("employees".to_string(), json!(250)),
            ("rating".to_string(), json!(4.75)),
            ("balance".to_string(), json!(-1200.5)),
            ("segment".to_string(), json!("enterprise")),
            ("vip".to_string(), json!(true)),
            ("tags".to_string(), json!(["b2b", 7, null])),
            (
                "profile".to_string(),
                json!({"since": 2019, "region": "east"}),
            ),
        ]),
        source_updated_at: Some(at("2024-03-01T08:30:00Z")),
        shared_orders: Vec::new(),
    };
    let li_lei = Party {
        kind: PartyKind::Person,
        ..party("crm", "a-2", "Li Lei")
    };
    let order_1 = order("crm", "o-1", "a-2", 99.9, "2024-03-02T10:00:00Z");
    let map_v1 = |staged: &StagedRecord| match staged.source_id.as_str() {
        "a-1" => Ok(Entity::Party(acme.clone())),
        "a-2" => Ok(Entity::Party(li_lei.clone())),
        "o-1" => Ok(Entity::Order(order_1.clone())),
        _ => Err("unknown record type \"unknown\"".to_string()),
    };
    let saved = map_pending(&*store, run, "crm", "export", "m1", map_v1).await;
    assert_eq!(saved, (3, 1), "three mapped, one rejected");

    assert!(
        store
            .pending_mapping("crm", "export", "m1", 100)
            .await
            .expect("pending records")
            .is_empty(),
        "everything mapped with m1, including the rejection, is done"
    );
    let pending_m2 = store
        .pending_mapping("crm", "export", "m2", 100)
        .await
        .expect("pending records");
    assert_eq!(
        pending_m2, pending,
        "a new mapping version makes every record pending again"
    );

    let parties = store.parties().await.expect("parties");
    let stored: Vec<&Party> = parties.iter().map(|p| &p.party).collect();
    assert_eq!(
        stored,
        vec![&acme, &li_lei],
        "every party field round-trips"
    );
    assert_ne!(parties[0].id, parties[1].id, "parties have distinct ids");

    let rejected = store.rejected(Some("crm"), 10).await.expect("rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].stream, "export");
    assert_eq!(rejected[0].source_id.as_deref(), Some("x-9"));
    assert_eq!(rejected[0].reason, "unknown record type \"unknown\"");
    let raw: Value = serde_json::from_str(&rejected[0].raw).expect("the raw text is the JSON");
    assert_eq!(raw, json!({"type": "unknown", "weird": [1, 2]}));

    let status = store.status().await.expect("status");
    assert_eq!(
        status.connectors.get("crm"),
        Some(&ConnectorCounts {
            staged: 4,
            parties: 2,
            orders: 1,
            rejected: 1
        })
    );

    // Li Lei's record changes in the source: only it is pending again, with
    // its new content hash.
    let counts = stage(
        &*store,
        run,
        "crm",
        "export",
        vec![record(
            "a-2",
            json!({"type": "person", "name": "Li Lei", "email": "li@example.cn"}),
        )],
    )
    .await;
    assert_eq!(counts.changed, 1);
    let pending = store
        .pending_mapping("crm", "export", "m1", 100)
        .await
        .expect("pending records");
    assert_eq!(source_ids(&pending), vec!["a-2"]);
    assert_ne!(
        pending[0].content_hash, pending_m2[1].content_hash,
        "new content, new hash"
    );

    // Mapping it again updates the party in place.
    let li_lei_v2 = Party {
        emails: vec!["li@example.cn".to_string()],
        source_updated_at: Some(at("2024-03-05T09:00:00Z")),
        ..li_lei.clone()
    };
    let saved = map_pending(&*store, run, "crm", "export", "m1", |_| {
        Ok(Entity::Party(li_lei_v2.clone()))
    })
    .await;
    assert_eq!(saved, (1, 0));
    let after = store.parties().await.expect("parties");
    assert_eq!(after.len(), 2, "an updated party is not a second party");
    assert_eq!(after[1].id, parties[1].id, "the party keeps its id");
    assert_eq!(after[1].party, li_lei_v2);
    assert_eq!(after[0], parties[0], "other parties are untouched");
}

/// Resolution writes golden customers with lineage, links and merges; order
/// facts follow the links; tiers keep a history; a merge drops the absorbed
/// customer from the listing and removes its tier.
async fn resolution_and_tiers_follow_golden_customers_through_a_merge(store: Arc<dyn Store>) {
    let run = store.start_run("run").await.expect("starting a run");
    stage(
        &*store,
        run,
        "crm",
        "customers",
        vec![
            record("c-1", json!({"n": 1})),
            record("c-2", json!({"n": 2})),
        ],
    )
    .await;
    stage(
        &*store,
        run,
        "shop",
        "orders",
        vec![record("so-1", json!({"n": 3}))],
    )
    .await;
    stage(
        &*store,
        run,
        "crm",
        "orders",
        vec![
            record("co-1", json!({"n": 4})),
            record("co-2", json!({"n": 5})),
            record("co-9", json!({"n": 6})),
            record("co-3", json!({"n": 7})),
            record("co-4", json!({"n": 8})),
        ],
    )
    .await;
    map_pending(&*store, run, "crm", "customers", "m1", |staged| {
        Ok(Entity::Party(party("crm", &staged.source_id, "customer")))
    })
    .await;
    let shop_order = Order {
        number: Some("#1001".to_string()),
        ..order("shop", "so-1", "s-1", 300.0, "2024-01-05T12:00:00Z")
    };
    map_pending(&*store, run, "shop", "orders", "m1", |_| {
        Ok(Entity::Order(shop_order.clone()))
    })
    .await;
    let crm_orders = [
        order("crm", "co-1", "c-1", 120.5, "2024-01-10T09:00:00Z"),
        order("crm", "co-2", "c-2", 80.0, "2024-01-01T09:00:00Z"),
        // Placed by a party no golden customer holds: not an order fact.
        order("crm", "co-9", "c-9", 1.0, "2024-01-02T09:00:00Z"),
        Order {
            status: OrderStatus::Refunded,
            ..order("crm", "co-3", "c-2", 999.0, "2024-01-03T09:00:00Z")
        },
        // The shop's #1001 imported into the CRM under Bob: a copy only
        // once Bob and Alice are one customer.
        Order {
            origin_number: Some("#1001".to_string()),
            ..order("crm", "co-4", "c-2", 300.0, "2024-01-06T09:00:00Z")
        },
    ];
    map_pending(&*store, run, "crm", "orders", "m1", |staged| {
        let order = crm_orders
            .iter()
            .find(|o| o.source_id == staged.source_id)
            .expect("a staged order");
        Ok(Entity::Order(order.clone()))
    })
    .await;

    // Pass 1: Alice is crm/c-1 and shop/s-1; Bob is crm/c-2.
    let alice = golden(
        "G-1",
        &[
            ("name", json!("Alice"), key("crm", "c-1")),
            ("email", json!("alice@example.com"), key("shop", "s-1")),
        ],
    );
    let bob = golden("G-2", &[("name", json!("Bob"), key("crm", "c-2"))]);
    let links = [
        link("crm", "c-1", "G-1", &["rule:new"]),
        link("shop", "s-1", "G-1", &["email:alice@example.com"]),
        link("crm", "c-2", "G-2", &["rule:new"]),
    ];
    // Stored as a pipeline stores a large pass: in slices, one transaction.
    let mut slices = vec![
        ResolutionChanges {
            upserted: vec![alice.clone()],
            links: links[..2].to_vec(),
            merged: vec![],
            id_lineage: vec![],
        },
        ResolutionChanges {
            upserted: vec![bob.clone()],
            links: links[2..].to_vec(),
            merged: vec![],
            id_lineage: vec![],
        },
    ]
    .into_iter();
    store
        .save_resolution_slices(&mut slices)
        .await
        .expect("saving resolution pass 1");

    assert_eq!(
        store.golden_customers().await.expect("golden customers"),
        vec![alice.clone(), bob.clone()]
    );
    assert_eq!(
        store.golden_links().await.expect("golden links"),
        vec![links[0].clone(), links[2].clone(), links[1].clone()],
        "links listed by connector and source id"
    );
    // What a plan compares against, read row by row: the same digests as
    // the whole rows give.
    assert_eq!(
        store.golden_link_states().await.expect("link states"),
        [&links[0], &links[2], &links[1]].map(LinkState::of)
    );
    assert_eq!(
        store
            .golden_customer_states()
            .await
            .expect("customer states"),
        [&alice, &bob].map(CustomerState::of)
    );
    assert_ne!(
        CustomerState::of(&alice).record,
        CustomerState::of(&GoldenCustomer {
            lineage: BTreeMap::new(),
            ..alice.clone()
        })
        .record,
        "lineage is part of the digest"
    );
    let fact = |golden_id: &str, o: &Order| OrderFact {
        golden_id: golden_id.to_string(),
        connector: o.connector.clone(),
        source_id: o.source_id.clone(),
        amount: o.amount,
        status: o.status.as_str().to_string(),
        ordered_at: o.ordered_at,
        copy: false,
    };
    assert_eq!(
        store.order_facts().await.expect("order facts"),
        vec![
            // Per golden customer, oldest order first, across connectors.
            fact("G-1", &shop_order),
            fact("G-1", &crm_orders[0]),
            fact("G-2", &crm_orders[1]),
            fact("G-2", &crm_orders[3]),
            fact("G-2", &crm_orders[4]),
        ]
    );
    // What a doubtful pair between them weighs: paid orders only.
    assert_eq!(
        store
            .paid_spend(&["G-1".into(), "G-2".into(), "G-none".into()])
            .await
            .expect("paid spend"),
        BTreeMap::from([
            ("G-1".to_string(), 420.5),
            ("G-2".to_string(), 380.0),
            ("G-none".to_string(), 0.0),
        ])
    );

    // Tiers: first assignments, then Alice moves up under new rules.
    let alice_gold = tier_change(
        "G-1",
        None,
        "gold",
        json!({"monetary": 420.5, "frequency": 2, "note": "top 10%"}),
        "rules-1",
        "2024-02-01T00:00:00Z",
    );
    let bob_silver = tier_change(
        "G-2",
        None,
        "silver",
        json!({"monetary": 80.0, "frequency": 1}),
        "rules-1",
        "2024-02-01T00:00:00Z",
    );
    store
        .save_tier_changes(&[alice_gold.clone(), bob_silver.clone()])
        .await
        .expect("saving tiers");
    assert_eq!(
        store.tier_assignments().await.expect("tier assignments"),
        vec![alice_gold.assignment.clone(), bob_silver.assignment.clone()]
    );
    let alice_platinum = tier_change(
        "G-1",
        Some("gold"),
        "platinum",
        json!({"monetary": 5000, "frequency": 12}),
        "rules-2",
        "2024-03-01T00:00:00Z",
    );
    store
        .save_tier_changes(std::slice::from_ref(&alice_platinum))
        .await
        .expect("saving tiers");
    assert_eq!(
        store.tier_assignments().await.expect("tier assignments"),
        vec![
            alice_platinum.assignment.clone(),
            bob_silver.assignment.clone()
        ],
        "a new assignment replaces the old one"
    );
    assert_eq!(
        store.tier_history("G-1").await.expect("tier history"),
        vec![alice_gold.clone(), alice_platinum.clone()],
        "history keeps every change, oldest first"
    );
    assert_eq!(
        store.tier_history("G-2").await.expect("tier history"),
        vec![bob_silver.clone()]
    );
    assert!(store
        .tier_history("G-404")
        .await
        .expect("tier history")
        .is_empty());

    // Pass 2: Bob turns out to be Alice; G-2 is absorbed into G-1.
    let merged_alice = golden(
        "G-1",
        &[
            ("name", json!("Alice"), key("crm", "c-1")),
            ("email", json!("alice@example.com"), key("shop", "s-1")),
            ("phone", json!("+8613800138000"), key("crm", "c-2")),
        ],
    );
    let moved = link("crm", "c-2", "G-1", &["phone:+8613800138000"]);
    store
        .save_resolution(&ResolutionChanges {
            upserted: vec![merged_alice.clone()],
            links: vec![moved.clone()],
            merged: vec![("G-2".to_string(), "G-1".to_string())],
            id_lineage: vec![IdLineage {
                new_id: "G-1".to_string(),
                old_id: "G-2".to_string(),
                reason: "merge".to_string(),
            }],
        })
        .await
        .expect("saving resolution pass 2");

    assert_eq!(
        store.golden_customers().await.expect("golden customers"),
        vec![merged_alice.clone()],
        "the absorbed customer is no longer listed; the survivor's lineage is intact"
    );
    assert_eq!(
        store.golden_links().await.expect("golden links"),
        vec![links[0].clone(), moved.clone(), links[1].clone()]
    );
    assert_eq!(
        store.tier_assignments().await.expect("tier assignments"),
        vec![alice_platinum.assignment.clone()],
        "the merge removed the absorbed customer's tier"
    );
    let ids = store.golden_ids().await.expect("golden ids");
    assert_eq!(
        ids.iter()
            .map(|record| (
                record.golden_id.as_str(),
                record.status.as_str(),
                record.merged_into.as_deref()
            ))
            .collect::<Vec<_>>(),
        vec![("G-1", "active", None), ("G-2", "merged", Some("G-1"))],
        "the absorbed id is kept, marked as merged into the survivor"
    );
    assert!(ids[0].created_at <= ids[1].created_at);
    let lineage = vec![IdLineage {
        new_id: "G-1".to_string(),
        old_id: "G-2".to_string(),
        reason: "merge".to_string(),
    }];
    assert_eq!(store.id_lineage("G-2").await.expect("lineage"), lineage);
    assert_eq!(store.id_lineage("G-1").await.expect("lineage"), lineage);
    let facts = store.order_facts().await.expect("order facts");
    assert_eq!(
        facts,
        vec![
            fact("G-1", &crm_orders[1]),
            fact("G-1", &crm_orders[3]),
            fact("G-1", &shop_order),
            OrderFact {
                copy: true,
                ..fact("G-1", &crm_orders[4])
            },
            fact("G-1", &crm_orders[0]),
        ],
        "Bob's orders now count for Alice, but for the copy of her shop order"
    );
    assert_eq!(
        store.paid_spend(&["G-1".into()]).await.expect("paid spend"),
        BTreeMap::from([("G-1".to_string(), 500.5)])
    );

    let status = store.status().await.expect("status");
    assert_eq!(status.golden_customers, 1);
    assert_eq!(status.tiers, BTreeMap::from([("platinum".to_string(), 1)]));
}

/// Push targets join each connector's links with the current tiers; the
/// ledger upserts rows and lists them by source id.
async fn push_targets_and_ledger_follow_links_and_tiers(store: Arc<dyn Store>) {
    store
        .save_resolution(&ResolutionChanges {
            upserted: vec![
                golden("G-1", &[("name", json!("Alice"), key("crm", "c-1"))]),
                golden("G-2", &[("name", json!("Bob"), key("crm", "c-2"))]),
                golden("G-3", &[("name", json!("Carol"), key("crm", "c-3"))]),
            ],
            links: vec![
                link("crm", "c-2", "G-2", &[]),
                link("crm", "c-1", "G-1", &[]),
                link("shop", "s-1", "G-1", &[]),
                // Carol has no tier yet: nothing to push for her.
                link("crm", "c-3", "G-3", &[]),
            ],
            merged: vec![],
            id_lineage: vec![],
        })
        .await
        .expect("saving resolution");
    store
        .save_tier_changes(&[
            tier_change(
                "G-1",
                None,
                "gold",
                json!({}),
                "rules-1",
                "2024-02-01T00:00:00Z",
            ),
            tier_change(
                "G-2",
                None,
                "silver",
                json!({}),
                "rules-2",
                "2024-02-01T00:00:00Z",
            ),
        ])
        .await
        .expect("saving tiers");

    let target =
        |connector: &str, source_id: &str, golden_id: &str, tier: &str, rules: &str| PushTarget {
            party: key(connector, source_id),
            golden_id: golden_id.to_string(),
            tier: tier.to_string(),
            rules_version: rules.to_string(),
        };
    assert_eq!(
        store.push_targets("crm").await.expect("push targets"),
        vec![
            target("crm", "c-1", "G-1", "gold", "rules-1"),
            target("crm", "c-2", "G-2", "silver", "rules-2"),
        ]
    );
    assert_eq!(
        store.push_targets("shop").await.expect("push targets"),
        vec![target("shop", "s-1", "G-1", "gold", "rules-1")],
        "one golden customer's tier goes to every connector holding it"
    );
    assert!(store
        .push_targets("erp")
        .await
        .expect("push targets")
        .is_empty());

    // First save: both pending; another connector's row stays separate.
    let shop_row = LedgerRow {
        connector: "shop".to_string(),
        ..ledger_row("s-1", "gold", LedgerStatus::Pending)
    };
    store
        .save_ledger(&rows(&[
            ledger_row("c-2", "silver", LedgerStatus::Pending),
            ledger_row("c-1", "gold", LedgerStatus::Pending),
            shop_row.clone(),
        ]))
        .await
        .expect("saving the ledger");
    assert_eq!(
        store.ledger("crm").await.expect("ledger"),
        vec![
            ledger_row("c-1", "gold", LedgerStatus::Pending),
            ledger_row("c-2", "silver", LedgerStatus::Pending),
        ],
        "sorted by source id"
    );

    // Second save overwrites: c-1 was delivered, c-2 keeps failing.
    let delivered = LedgerRow {
        acked_label: Some("gold".to_string()),
        unacked_labels: Vec::new(),
        attempts: 1,
        ..ledger_row("c-1", "gold", LedgerStatus::Delivered)
    };
    let failed = LedgerRow {
        attempts: 3,
        last_error: Some("HTTP 503 from crm".to_string()),
        ..ledger_row("c-2", "silver", LedgerStatus::Failed)
    };
    store
        .save_ledger(&rows(&[delivered.clone(), failed.clone()]))
        .await
        .expect("saving the ledger");
    assert_eq!(
        store.ledger("crm").await.expect("ledger"),
        vec![delivered.clone(), failed.clone()]
    );

    // Third save: c-2 finally goes through; its old error must be cleared,
    // not kept.
    let recovered = LedgerRow {
        acked_label: Some("silver".to_string()),
        unacked_labels: Vec::new(),
        attempts: 4,
        last_error: None,
        rules_version: "rules-2".to_string(),
        ..ledger_row("c-2", "silver", LedgerStatus::Delivered)
    };
    store
        .save_ledger(&rows(std::slice::from_ref(&recovered)))
        .await
        .expect("saving the ledger");
    assert_eq!(
        store.ledger("crm").await.expect("ledger"),
        vec![delivered.clone(), recovered]
    );
    assert_eq!(
        store.ledger("shop").await.expect("ledger"),
        vec![shop_row.clone()]
    );
    assert!(store.ledger("erp").await.expect("ledger").is_empty());

    // The diff in the database: records whose acknowledged label is the
    // one their tier gives are left out; the rest come with their rows.
    let labels = |gold: &str| {
        vec![
            ("gold".to_string(), gold.to_string()),
            ("silver".to_string(), "silver".to_string()),
        ]
    };
    let in_place = store
        .push_candidates("crm", &labels("gold"))
        .await
        .expect("candidates");
    assert!(
        in_place.targets.is_empty() && in_place.ledger.is_empty(),
        "{in_place:?}"
    );
    // c-1 and c-2 carry their labels; Carol (c-3) has no tier.
    assert_eq!(in_place.in_place, 3);
    let renamed = store
        .push_candidates("crm", &labels("GOLD"))
        .await
        .expect("candidates");
    assert_eq!(
        renamed.targets,
        vec![target("crm", "c-1", "G-1", "gold", "rules-1")]
    );
    assert_eq!(renamed.ledger, vec![delivered.clone()]);
    assert_eq!(renamed.in_place, 2);
    let pending = store
        .push_candidates("shop", &labels("gold"))
        .await
        .expect("candidates");
    assert_eq!(pending.targets.len(), 1);
    assert_eq!(pending.ledger, vec![shop_row]);
    // A ledger row no tiered customer claims comes back while it still
    // holds a label; without one it is in place.
    let orphan = LedgerRow {
        acked_label: Some("bronze".to_string()),
        unacked_labels: Vec::new(),
        ..ledger_row("c-9", "bronze", LedgerStatus::Delivered)
    };
    let cleared = LedgerRow {
        desired_label: None,
        unacked_labels: Vec::new(),
        ..ledger_row("c-8", "bronze", LedgerStatus::Delivered)
    };
    store
        .save_ledger(&rows(&[orphan.clone(), cleared]))
        .await
        .expect("saving the ledger");
    let orphans = store
        .push_candidates("crm", &labels("gold"))
        .await
        .expect("candidates");
    assert!(orphans.targets.is_empty());
    assert_eq!(orphans.ledger, vec![orphan]);
    assert_eq!(orphans.in_place, 4);
}

/// `status` counts what each connector holds in every table, active golden
/// customers, the tier distribution and the latest run.
async fn status_counts_everything_per_connector(store: Arc<dyn Store>) {
    assert_eq!(
        store.status().await.expect("status"),
        StoreStatus::default(),
        "an empty store reports nothing"
    );

    let first = store.start_run("pull").await.expect("starting a run");
    store
        .finish_run(first, "succeeded", &json!({"fetched": 5}))
        .await
        .expect("finishing a run");
    let second = store.start_run("run").await.expect("starting a run");

    // crm: three staged records (two parties, one order), one fetch rejection.
    let crm = StagedBatch {
        records: vec![
            record("c-1", json!({"n": 1})),
            record("c-2", json!({"n": 2})),
            record("o-1", json!({"n": 3})),
        ],
        rejected: vec![rejection(Some("c-3"), "no id", "c-3")],
        cursor: None,
    };
    store
        .stage_batch(second, "crm", "export", &crm)
        .await
        .expect("staging crm");
    map_pending(&*store, second, "crm", "export", "m1", |staged| {
        Ok(match staged.source_id.as_str() {
            "o-1" => Entity::Order(order("crm", "o-1", "c-1", 10.0, "2024-01-01T00:00:00Z")),
            id => Entity::Party(party("crm", id, "customer")),
        })
    })
    .await;
    // shop: one staged record whose mapping fails.
    stage(
        &*store,
        second,
        "shop",
        "customers",
        vec![record("s-1", json!({}))],
    )
    .await;
    map_pending(&*store, second, "shop", "customers", "m1", |_| {
        Err("no name".to_string())
    })
    .await;
    // erp: only a rejection, still a connector worth listing.
    let erp = StagedBatch {
        rejected: vec![rejection(None, "unreadable", "\u{1}")],
        ..StagedBatch::default()
    };
    store
        .stage_batch(second, "erp", "customers", &erp)
        .await
        .expect("staging erp");

    // Four golden customers, then G-4 merges into G-3: three active.
    store
        .save_resolution(&ResolutionChanges {
            upserted: ["G-1", "G-2", "G-3", "G-4"]
                .into_iter()
                .map(|id| golden(id, &[]))
                .collect(),
            links: vec![],
            merged: vec![],
            id_lineage: vec![],
        })
        .await
        .expect("saving resolution");
    let when = "2024-02-01T00:00:00Z";
    store
        .save_tier_changes(&[
            tier_change("G-1", None, "gold", json!({}), "r1", when),
            tier_change("G-2", None, "gold", json!({}), "r1", when),
            tier_change("G-3", None, "silver", json!({}), "r1", when),
            tier_change("G-4", None, "bronze", json!({}), "r1", when),
        ])
        .await
        .expect("saving tiers");
    store
        .save_resolution(&ResolutionChanges {
            merged: vec![("G-4".to_string(), "G-3".to_string())],
            ..ResolutionChanges::default()
        })
        .await
        .expect("saving the merge");

    let status = store.status().await.expect("status");
    let counts = |staged, parties, orders, rejected| ConnectorCounts {
        staged,
        parties,
        orders,
        rejected,
    };
    assert_eq!(
        status.connectors,
        BTreeMap::from([
            ("crm".to_string(), counts(3, 2, 1, 1)),
            ("erp".to_string(), counts(0, 0, 0, 1)),
            ("shop".to_string(), counts(1, 0, 0, 1)),
        ])
    );
    assert_eq!(
        status.golden_customers, 3,
        "merged customers are not counted"
    );
    assert_eq!(
        status.tiers,
        BTreeMap::from([("gold".to_string(), 2), ("silver".to_string(), 1)])
    );
    let last_run = status.last_run.expect("there is a last run");
    assert_eq!(
        (
            last_run.id,
            last_run.kind.as_str(),
            last_run.status.as_str()
        ),
        (second, "run", "running"),
        "the latest run, even while it is running"
    );
    assert_eq!(last_run.finished_at, None);
}

/// Chinese names and emoji pass through every text and JSON column
/// unchanged, on both backends.
async fn chinese_text_and_emoji_survive_every_round_trip(store: Arc<dyn Store>) {
    let run = store.start_run("拉取 🚀").await.expect("starting a run");
    let summary = json!({"备注": "全部完成 ✅", "连接器": ["客户系统", "商城🛒"]});
    store
        .finish_run(run, "succeeded", &summary)
        .await
        .expect("finishing a run");
    let runs = store.recent_runs(1).await.expect("listing runs");
    assert_eq!(runs[0].kind, "拉取 🚀");
    assert_eq!(runs[0].summary, summary);

    let raw = json!({
        "编号": "客户-001",
        "姓名": "张伟 🐉",
        "备注": "VIP客户 ✨，喜欢🍵",
        "地址": {"城市": "上海", "街道": "南京东路100号"},
        "标签": ["老客户", "👍", "𠮷野家"],
    });
    let batch = StagedBatch {
        records: vec![record("客户-001", raw.clone())],
        rejected: vec![rejection(
            Some("客户-002"),
            "手机号无效：📵",
            "客户-002,李娜,😀,坏行",
        )],
        cursor: Some(json!({"文件": "客户名单 2024.csv", "行": 3})),
    };
    store
        .stage_batch(run, "客户系统", "客户", &batch)
        .await
        .expect("staging");
    assert_eq!(
        store.cursor("客户系统", "客户").await.expect("cursor"),
        batch.cursor
    );
    let again = store
        .stage_batch(
            run,
            "客户系统",
            "客户",
            &StagedBatch {
                records: batch.records.clone(),
                ..StagedBatch::default()
            },
        )
        .await
        .expect("staging again");
    assert_eq!(again.unchanged, 1, "the same text hashes the same");

    let pending = store
        .pending_mapping("客户系统", "客户", "映射-1", 10)
        .await
        .expect("pending records");
    assert_eq!(source_ids(&pending), vec!["客户-001"]);
    assert_eq!(pending[0].raw, raw, "raw JSON round-trips");

    let zhang = Party {
        connector: "客户系统".to_string(),
        source_id: "客户-001".to_string(),
        kind: PartyKind::Person,
        name: Some("张伟 🐉".to_string()),
        phones: vec!["138 0013 8000（手机）".to_string()],
        emails: vec!["张伟@例子.中国".to_string()],
        company: Some("上海某某科技有限公司".to_string()),
        address: Some("上海市黄浦区南京东路100号".to_string()),
        strong_ids: BTreeMap::from([("微信".to_string(), "o6_张伟_🐉".to_string())]),
        attributes: BTreeMap::from([
            ("昵称".to_string(), json!("小伟😊")),
            ("积分".to_string(), json!(8888)),
        ]),
        source_updated_at: Some(at("2024-02-10T16:00:00+08:00")),
        shared_orders: Vec::new(),
    };
    let saved = map_pending(&*store, run, "客户系统", "客户", "映射-1", |_| {
        Ok(Entity::Party(zhang.clone()))
    })
    .await;
    assert_eq!(saved, (1, 0));
    let parties = store.parties().await.expect("parties");
    assert_eq!(parties.len(), 1);
    assert_eq!(parties[0].party, zhang);

    let rejected = store
        .rejected(Some("客户系统"), 10)
        .await
        .expect("rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].stream, "客户");
    assert_eq!(rejected[0].source_id.as_deref(), Some("客户-002"));
    assert_eq!(rejected[0].reason, "手机号无效：📵");
    assert_eq!(rejected[0].raw, "客户-002,李娜,😀,坏行");

    let customer = golden(
        "G-张伟",
        &[
            ("name", json!("张伟 🐉"), zhang.key()),
            ("company", json!("上海某某科技有限公司"), zhang.key()),
        ],
    );
    let evidence = LinkEvidence {
        shared_keys: vec!["phone:+8613800138000".into(), "name:张伟🐉".into()],
        matched: Some(MatchEvidence {
            with: "微信/wm-张伟".into(),
            probability: 0.9991,
            weight: None,
            strong_id: Some("微信".into()),
            explanation: vec![FieldContribution {
                field: "name".into(),
                level: "同名 🔗".into(),
                weight: 7.6439,
            }],
        }),
        steward_decisions: vec![3, 7],
    };
    store
        .save_resolution(&ResolutionChanges {
            upserted: vec![customer.clone()],
            links: vec![GoldenLink {
                party: zhang.key(),
                golden_id: "G-张伟".to_string(),
                evidence: evidence.clone(),
            }],
            merged: vec![],
            id_lineage: vec![],
        })
        .await
        .expect("saving resolution");
    assert_eq!(
        store.golden_customers().await.expect("golden customers"),
        vec![customer]
    );
    assert_eq!(
        store.golden_links().await.expect("golden links")[0].evidence,
        evidence
    );

    let gold = tier_change(
        "G-张伟",
        None,
        "金卡 🥇",
        json!({"理由": "消费满一万 💰", "金额": 10000.5}),
        "规则-v1",
        "2024-02-11T00:00:00Z",
    );
    store
        .save_tier_changes(std::slice::from_ref(&gold))
        .await
        .expect("saving tiers");
    assert_eq!(
        store.tier_history("G-张伟").await.expect("tier history"),
        vec![gold.clone()]
    );
    assert_eq!(
        store.push_targets("客户系统").await.expect("push targets"),
        vec![PushTarget {
            party: zhang.key(),
            golden_id: "G-张伟".to_string(),
            tier: "金卡 🥇".to_string(),
            rules_version: "规则-v1".to_string(),
        }]
    );
    let row = LedgerRow {
        connector: "客户系统".to_string(),
        source_id: "客户-001".to_string(),
        golden_id: Some("G-张伟".to_string()),
        tier: Some("金卡 🥇".to_string()),
        desired_label: Some("金卡 🥇".to_string()),
        acked_label: Some("银卡 🥈".to_string()),
        unacked_labels: vec!["金卡 🥇".to_string(), "铜卡".to_string()],
        rules_version: "规则-v1".to_string(),
        status: LedgerStatus::Failed,
        attempts: 2,
        last_error: Some("接口返回错误：标签不存在 ❌".to_string()),
    };
    store
        .save_ledger(&rows(std::slice::from_ref(&row)))
        .await
        .expect("saving the ledger");
    assert_eq!(store.ledger("客户系统").await.expect("ledger"), vec![row]);

    let status = store.status().await.expect("status");
    assert_eq!(status.tiers, BTreeMap::from([("金卡 🥇".to_string(), 1)]));
    assert!(status.connectors.contains_key("客户系统"));
}

/// PostgreSQL refuses NUL in text; a binary-garbage row must still be kept
/// as a rejection rather than failing the whole batch.
async fn nul_characters_in_rejected_input_are_stored_on_both_backends(store: Arc<dyn Store>) {
    let run = store.start_run("sync").await.expect("starting a run");
    let batch = StagedBatch {
        records: vec![record("1", json!({"id": "1", "note": "nul \u{0} inside"}))],
        rejected: vec![rejection(None, "line 2: malformed JSON", "{\"id\":2\u{0}}")],
        cursor: None,
    };
    let counts = store
        .stage_batch(run, "crm", "customers", &batch)
        .await
        .expect("staging with NUL");
    assert_eq!((counts.new, counts.rejected), (1, 1));
    let rejected = store
        .rejected(Some("crm"), 10)
        .await
        .expect("listing rejections");
    assert_eq!(rejected[0].raw, "{\"id\":2\u{FFFD}}");
}

/// `stage_pushed` stages a delivery's records and rejections with its event
/// id in one transaction, without a run; the same event id again (even with
/// other content, even on another stream) stages nothing and returns
/// `None`; another connector's event ids are its own.
async fn pushed_deliveries_are_staged_once_per_event_id(store: Arc<dyn Store>) {
    let batch = StagedBatch {
        records: vec![
            record("A-1", json!({"id": "A-1", "amount": 99.5})),
            record("A-2", json!({"id": "A-2", "amount": 12})),
        ],
        rejected: vec![rejection(
            None,
            "the record has no primary key at `id`",
            "{\"amount\":5}",
        )],
        cursor: None,
    };
    let counts = store
        .stage_pushed(None, "shop", "orders", "evt-1", &batch)
        .await
        .expect("staging a pushed delivery");
    assert_eq!(
        counts,
        Some(StageCounts {
            fetched: 3,
            new: 2,
            changed: 0,
            unchanged: 0,
            rejected: 1,
        })
    );

    let changed = StagedBatch {
        records: vec![record("A-1", json!({"id": "A-1", "amount": 1}))],
        rejected: vec![rejection(None, "again", "{}")],
        cursor: None,
    };
    for stream in ["orders", "refunds"] {
        assert_eq!(
            store
                .stage_pushed(Some(7), "shop", stream, "evt-1", &changed)
                .await
                .expect("a redelivery"),
            None,
            "{stream}"
        );
    }
    let staged = store
        .pending_mapping("shop", "orders", "v1", 10)
        .await
        .expect("reading pending records");
    assert_eq!(source_ids(&staged), vec!["A-1", "A-2"]);
    assert_eq!(staged[0].raw["amount"], json!(99.5));
    assert_eq!(
        store
            .rejected(Some("shop"), 10)
            .await
            .expect("listing rejections")
            .len(),
        1
    );

    // A new event with a changed record is staged as a change.
    let counts = store
        .stage_pushed(None, "shop", "orders", "evt-2", &changed)
        .await
        .expect("a new event")
        .expect("not a duplicate");
    assert_eq!((counts.changed, counts.rejected), (1, 1));
    // Event ids are per connector.
    assert!(store
        .stage_pushed(None, "crm", "orders", "evt-1", &StagedBatch::default())
        .await
        .expect("another connector")
        .is_some());
    let status = store.status().await.expect("status");
    assert_eq!(status.connectors["shop"].staged, 2);
    assert_eq!(status.connectors["shop"].rejected, 2);
}

/// A runaway record (here 2 MiB of text in one field) is kept as a
/// rejection with the reason, and the rest of its batch is staged.
async fn oversized_records_are_rejected_with_the_reason(store: Arc<dyn Store>) {
    let run = store.start_run("sync").await.expect("starting a run");
    let batch = StagedBatch {
        records: vec![
            record("small", json!({"id": "small"})),
            record(
                "huge",
                json!({"id": "huge", "attachment": "x".repeat(2 * 1024 * 1024)}),
            ),
        ],
        rejected: Vec::new(),
        cursor: Some(json!({"page": 2})),
    };
    let counts = store
        .stage_batch(run, "crm", "customers", &batch)
        .await
        .expect("staging");
    assert_eq!((counts.fetched, counts.new, counts.rejected), (2, 1, 1));
    let rejected = store
        .rejected(Some("crm"), 10)
        .await
        .expect("listing rejections");
    assert_eq!(rejected[0].source_id.as_deref(), Some("huge"));
    assert!(
        rejected[0].reason.contains("over the limit"),
        "{}",
        rejected[0].reason
    );
    assert_eq!(
        store.cursor("crm", "customers").await.expect("cursor"),
        Some(json!({"page": 2}))
    );
}

// ---------------------------------------------------------------------------
// Segmentation

async fn tickets_calls_and_messages_come_back_as_mapped(store: Arc<dyn Store>) {
    let run_id = store.start_run("test").await.expect("starting a run");
    let ticket = Ticket {
        connector: "helpdesk".to_string(),
        source_id: "T-1".to_string(),
        party_source_id: Some("u-1".to_string()),
        channel: Some("email".to_string()),
        status: "solved".to_string(),
        created_at: at("2024-03-01T08:00:00Z"),
        solved_at: Some(at("2024-03-02T08:00:00Z")),
        satisfaction: Some("good".to_string()),
    };
    let call = Call {
        connector: "pbx".to_string(),
        source_id: "CDR-1".to_string(),
        caller: Some("+8613800138000".to_string()),
        callee: Some("4008001234".to_string()),
        direction: Some("inbound".to_string()),
        started_at: at("2024-03-03T09:00:00Z"),
        talk_seconds: 95,
        disposition: Some("ANSWERED".to_string()),
    };
    let message = Message {
        connector: "wecom".to_string(),
        source_id: "MSG-1".to_string(),
        party_source_id: None,
        phone: Some("13800138000".to_string()),
        channel: "企业微信".to_string(),
        sent_at: at("2024-03-04T10:00:00Z"),
    };
    for (connector, stream, entity) in [
        ("helpdesk", "tickets", Entity::Ticket(ticket.clone())),
        ("pbx", "cdr", Entity::Call(call.clone())),
        ("wecom", "messages", Entity::Message(message.clone())),
    ] {
        stage(
            store.as_ref(),
            run_id,
            connector,
            stream,
            vec![record("x", json!({"x": 1}))],
        )
        .await;
        let (mapped, rejected) =
            map_pending(store.as_ref(), run_id, connector, stream, "m1", |_| {
                Ok(entity.clone())
            })
            .await;
        assert_eq!((mapped, rejected), (1, 0));
    }
    assert_eq!(store.tickets().await.expect("tickets"), vec![ticket]);
    assert_eq!(store.calls().await.expect("calls"), vec![call]);
    assert_eq!(store.messages().await.expect("messages"), vec![message]);
}

async fn tier_changes_fill_the_outbox_and_say_since_when_a_tier_holds(store: Arc<dyn Store>) {
    store
        .save_tier_changes(&[
            tier_change(
                "G-1",
                None,
                "silver",
                json!({"features": {"spend_total": 10.5}}),
                "r1",
                "2024-01-01T00:00:00Z",
            ),
            tier_change("G-2", None, "gold", json!({}), "r1", "2024-01-01T00:00:00Z"),
        ])
        .await
        .expect("saving tiers");
    store
        .save_tier_changes(&[
            tier_change(
                "G-1",
                Some("silver"),
                "gold",
                json!({}),
                "r1",
                "2024-02-01T00:00:00Z",
            ),
            // A new rules version that keeps the tier: history, no event.
            tier_change(
                "G-2",
                Some("gold"),
                "gold",
                json!({}),
                "r2",
                "2024-03-01T00:00:00Z",
            ),
        ])
        .await
        .expect("saving tiers");

    let events = store.unconsumed_tier_events(10).await.expect("events");
    let summary: Vec<(&str, Option<&str>, &str)> = events
        .iter()
        .map(|event| {
            (
                event.change.assignment.golden_id.as_str(),
                event.change.from_tier.as_deref(),
                event.change.assignment.tier.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("G-1", None, "silver"),
            ("G-2", None, "gold"),
            ("G-1", Some("silver"), "gold")
        ]
    );
    assert_eq!(
        events[0].change.assignment.reason,
        json!({"features": {"spend_total": 10.5}})
    );
    assert_eq!(
        events[2].change.assignment.assigned_at,
        at("2024-02-01T00:00:00Z")
    );
    assert_eq!(
        store.unconsumed_tier_events(1).await.expect("events").len(),
        1,
        "limit"
    );

    let consumed = store
        .mark_tier_events_consumed(&[events[0].id, events[1].id])
        .await
        .expect("consuming");
    assert_eq!(consumed, 2);
    assert_eq!(
        store
            .mark_tier_events_consumed(&[events[0].id])
            .await
            .expect("consuming"),
        0,
        "already consumed"
    );
    let left = store.unconsumed_tier_events(10).await.expect("events");
    assert_eq!(
        left.iter().map(|event| event.id).collect::<Vec<_>>(),
        [events[2].id]
    );

    // G-2's refresh under rules r2 did not move it: it is gold since January.
    let entered = store.tier_entered_at().await.expect("entry times");
    assert_eq!(entered.get("G-1"), Some(&at("2024-02-01T00:00:00Z")));
    assert_eq!(entered.get("G-2"), Some(&at("2024-01-01T00:00:00Z")));

    let since = store
        .tier_history_since(at("2024-02-01T00:00:00Z"))
        .await
        .expect("history");
    let rows: Vec<(&str, &str)> = since
        .iter()
        .map(|change| {
            (
                change.assignment.golden_id.as_str(),
                change.assignment.rules_version.as_str(),
            )
        })
        .collect();
    assert_eq!(rows, [("G-1", "r1"), ("G-2", "r2")]);
}

fn letter(source_id: &str, reason: &str, attempts: i64) -> NewDeadLetter {
    NewDeadLetter {
        connector: "crm".to_string(),
        source_id: source_id.to_string(),
        label: Some("gold".to_string()),
        request: format!("PUT /customers/{source_id}"),
        response: Some("{\"error\":\"boom\"}".to_string()),
        reason: reason.to_string(),
        attempts,
    }
}

/// A failed record has one open dead letter, updated on each failure; a
/// delivery resolves it; a steward can drop one (its ledger row is then
/// blocked) and reopen it (pending again).
async fn dead_letters_open_update_resolve_drop_and_reopen(store: Arc<dyn Store>) {
    let failed = |id: &str, attempts| LedgerRow {
        attempts,
        ..ledger_row(id, "gold", LedgerStatus::Failed)
    };
    store
        .save_ledger(&LedgerUpdate {
            rows: vec![failed("c-1", 1), failed("c-2", 1)],
            dead_letters: vec![letter("c-1", "HTTP 503", 1), letter("c-2", "HTTP 422", 1)],
            resolved: Vec::new(),
        })
        .await
        .expect("first failures");
    // c-1 fails again: the same letter, updated, not a second one.
    store
        .save_ledger(&LedgerUpdate {
            rows: vec![failed("c-1", 2)],
            dead_letters: vec![letter("c-1", "HTTP 504", 2)],
            resolved: Vec::new(),
        })
        .await
        .expect("second failure");
    let open = store.dead_letters(None, true).await.expect("open letters");
    assert_eq!(open.len(), 2, "{open:?}");
    let c1 = open
        .iter()
        .find(|l| l.letter.source_id == "c-1")
        .expect("c-1");
    assert_eq!(
        (c1.letter.reason.as_str(), c1.letter.attempts),
        ("HTTP 504", 2)
    );
    assert_eq!(c1.letter.response.as_deref(), Some("{\"error\":\"boom\"}"));
    let status = store.push_status().await.expect("push status");
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].rows.get(&LedgerStatus::Failed), Some(&2));
    assert_eq!(status[0].open_dead_letters, 2);

    // c-1 is delivered: its letter is resolved.
    let delivered = LedgerRow {
        acked_label: Some("gold".to_string()),
        unacked_labels: Vec::new(),
        ..ledger_row("c-1", "gold", LedgerStatus::Delivered)
    };
    store
        .save_ledger(&LedgerUpdate {
            rows: vec![delivered],
            dead_letters: Vec::new(),
            resolved: vec![("crm".to_string(), "c-1".to_string())],
        })
        .await
        .expect("delivery");
    let open = store.dead_letters(Some("crm"), true).await.expect("open");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].letter.source_id, "c-2");
    let all = store.dead_letters(None, false).await.expect("all");
    assert!(all
        .iter()
        .any(|l| l.letter.source_id == "c-1" && l.resolved_at.is_some()));
    assert!(store
        .dead_letters(Some("shop"), false)
        .await
        .expect("none")
        .is_empty());

    // A steward drops c-2: blocked, and dropping again does nothing.
    let dropped = store
        .drop_dead_letters(&[open[0].id], "王芳", "customer asked not to be tagged")
        .await
        .expect("drop");
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].dropped_by.as_deref(), Some("王芳"));
    assert!(store
        .drop_dead_letters(&[open[0].id], "x", "y")
        .await
        .expect("again")
        .is_empty());
    let ledger = store.ledger("crm").await.expect("ledger");
    assert_eq!(ledger[1].status, LedgerStatus::Dropped);
    assert!(store
        .dead_letters(None, true)
        .await
        .expect("open")
        .is_empty());

    // Reopened: open again, the row failed (retried by the next push).
    let reopened = store
        .retry_dead_letters(&[open[0].id])
        .await
        .expect("retry");
    assert_eq!(reopened.len(), 1);
    assert!(reopened[0].dropped_at.is_none());
    assert_eq!(
        store.ledger("crm").await.expect("ledger")[1].status,
        LedgerStatus::Failed
    );
    assert_eq!(store.dead_letters(None, true).await.expect("open").len(), 1);
    // A resolved letter cannot be reopened.
    assert!(store
        .retry_dead_letters(&[c1.id])
        .await
        .expect("resolved")
        .is_empty());
}

async fn customers_are_searched_by_prefix_and_tier_and_leave_the_index_when_merged(
    store: Arc<dyn Store>,
) {
    let zhang = golden(
        "G-1",
        &[
            ("name", json!("张伟"), key("crm", "c-1")),
            ("phones", json!(["+8613800138000"]), key("crm", "c-1")),
            (
                "emails",
                json!(["zhang.wei@example.com"]),
                key("shop", "s-1"),
            ),
        ],
    );
    let firm = golden(
        "G-2",
        &[(
            "company",
            json!("北京字节跳动科技有限公司"),
            key("erp", "e-1"),
        )],
    );
    let zhao = golden("G-3", &[("name", json!("Zhao Wei"), key("shop", "s-3"))]);
    store
        .save_resolution(&ResolutionChanges {
            upserted: vec![zhang.clone(), firm.clone(), zhao.clone()],
            links: vec![
                link("crm", "c-1", "G-1", &[]),
                link("shop", "s-1", "G-1", &[]),
                link("erp", "e-1", "G-2", &[]),
                link("shop", "s-3", "G-3", &[]),
            ],
            merged: vec![],
            id_lineage: vec![],
        })
        .await
        .expect("saving golden customers");
    store
        .save_tier_changes(&[
            tier_change("G-1", None, "gold", json!({}), "v1", "2026-01-01T00:00:00Z"),
            tier_change(
                "G-2",
                None,
                "silver",
                json!({}),
                "v1",
                "2026-01-01T00:00:00Z",
            ),
            tier_change("G-3", None, "gold", json!({}), "v1", "2026-01-01T00:00:00Z"),
        ])
        .await
        .expect("tiers");

    let found = |prefix: &'static str, tier: Option<&'static str>| {
        let store = store.clone();
        async move {
            store
                .search_customers(Some(prefix), tier, 10)
                .await
                .expect("search")
                .into_iter()
                .map(|hit| hit.golden_id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(found("张", None).await, vec!["G-1"]);
    assert_eq!(found("zhangwei", None).await, vec!["G-1"]);
    assert_eq!(found("138001", None).await, vec!["G-1"]);
    assert_eq!(found("zhang.wei@", None).await, vec!["G-1"]);
    assert_eq!(found("字节", None).await, vec!["G-2"]);
    assert_eq!(
        found("zh", None).await,
        vec!["G-1", "G-3"],
        "by id, each once"
    );
    assert_eq!(found("zh", Some("gold")).await, vec!["G-1", "G-3"]);
    assert_eq!(found("zh", Some("silver")).await, Vec::<String>::new());
    let hits = store
        .search_customers(None, Some("gold"), 10)
        .await
        .expect("by tier");
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].golden_id, "G-1");
    assert_eq!(hits[0].tier.as_deref(), Some("gold"));
    assert_eq!(hits[0].records, 2);
    assert_eq!(hits[0].fields, zhang.fields);
    assert_eq!(
        store
            .search_customers(None, None, 2)
            .await
            .expect("first")
            .len(),
        2
    );
    assert_eq!(
        store
            .index_customers_for_search()
            .await
            .expect("indexed already"),
        0
    );

    assert_eq!(
        store
            .golden_id_of(&key("shop", "s-1"))
            .await
            .expect("lookup")
            .as_deref(),
        Some("G-1")
    );
    assert_eq!(
        store
            .golden_id_of(&key("shop", "nope"))
            .await
            .expect("lookup"),
        None
    );
    let by_connector = store.tiers_by_connector().await.expect("tiers per system");
    assert_eq!(
        by_connector["shop"],
        BTreeMap::from([("gold".to_string(), 2)])
    );
    assert_eq!(
        by_connector["crm"],
        BTreeMap::from([("gold".to_string(), 1)])
    );
    assert_eq!(
        by_connector["erp"],
        BTreeMap::from([("silver".to_string(), 1)])
    );

    // Zhao merges into Zhang: found by both names, as one customer.
    let mut merged = zhang.clone();
    merged.fields.insert("name".into(), json!("Zhao Wei"));
    store
        .save_resolution(&ResolutionChanges {
            upserted: vec![merged],
            links: vec![link("shop", "s-3", "G-1", &[])],
            merged: vec![("G-3".to_string(), "G-1".to_string())],
            id_lineage: vec![],
        })
        .await
        .expect("merging");
    assert_eq!(found("zhao", None).await, vec!["G-1"]);
    assert_eq!(found("zh", None).await, vec!["G-1"]);
    assert_eq!(
        found("张", None).await,
        Vec::<String>::new(),
        "the old name left the index"
    );
}
