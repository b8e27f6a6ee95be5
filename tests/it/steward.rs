//! The data steward's workflow: decisions are honoured by every later
//! resolution, merges and splits leave id lineage, undo restores what was
//! there, the audit chain verifies and shows tampering, and every steward
//! command works end to end on a small project.

use crate::support::sample_project;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::{json, Value};
use sqlx::Connection;
use tierlink::model::{Call, Entity, Order, OrderStatus, Party, PartyKey};
use tierlink::steward::{
    customer_view, resolve_customers, resolve_with_index, verify_audit_log, ResolutionRules,
    SharedIndex, Steward,
};
use tierlink::store::{
    Decision, FieldContribution, IdLineage, MappedRecord, ReviewCandidate, SourceRecord,
    StagedBatch, Store,
};

use crate::support::store_stories;

store_stories! {
    decisions_survive_reruns_and_undo_restores_the_customers =>
        decisions_survive_reruns_and_undo_restores_the_customers_sqlite,
        decisions_survive_reruns_and_undo_restores_the_customers_postgres;
    decisions_through_an_index_store_what_a_full_pass_would =>
        decisions_through_an_index_store_what_a_full_pass_would_sqlite,
        decisions_through_an_index_store_what_a_full_pass_would_postgres;
    review_decisions_bind_the_next_resolution =>
        review_decisions_bind_the_next_resolution_sqlite,
        review_decisions_bind_the_next_resolution_postgres;
    an_order_two_systems_hold_makes_one_customer =>
        an_order_two_systems_hold_makes_one_customer_sqlite,
        an_order_two_systems_hold_makes_one_customer_postgres;
}

fn key(connector: &str, source_id: &str) -> PartyKey {
    PartyKey {
        connector: connector.to_string(),
        source_id: source_id.to_string(),
    }
}

fn party(connector: &str, source_id: &str, name: &str, phone: Option<&str>) -> Party {
    Party {
        connector: connector.to_string(),
        source_id: source_id.to_string(),
        name: Some(name.to_string()),
        phones: phone.map(str::to_string).into_iter().collect(),
        ..Party::default()
    }
}

/// Stages and maps entities as the pipeline would: each one's JSON is its
/// staged record, mapped back by `decode`.
async fn load_entities<T: serde::Serialize>(
    store: &dyn Store,
    stream: &str,
    entities: &[(String, String, T)],
    decode: fn(Value) -> Result<Entity, String>,
) {
    let run_id = store.start_run("test").await.expect("start run");
    for (connector, source_id, entity) in entities {
        let batch = StagedBatch {
            records: vec![SourceRecord {
                source_id: source_id.clone(),
                raw: serde_json::to_value(entity).expect("entity as JSON"),
            }],
            ..StagedBatch::default()
        };
        store
            .stage_batch(run_id, connector, stream, &batch)
            .await
            .expect("staging an entity");
        let pending = store
            .pending_mapping(connector, stream, "v1", 100)
            .await
            .expect("pending records");
        let mapped: Vec<MappedRecord> = pending
            .into_iter()
            .map(|staged| MappedRecord {
                outcome: decode(staged.raw.clone()),
                source_id: staged.source_id,
                content_hash: staged.content_hash,
                raw: staged.raw,
            })
            .collect();
        store
            .save_mapped(run_id, connector, stream, "v1", &mapped)
            .await
            .expect("mapping an entity");
    }
}

async fn load_parties(store: &dyn Store, parties: &[Party]) {
    let entities: Vec<(String, String, &Party)> = parties
        .iter()
        .map(|party| (party.connector.clone(), party.source_id.clone(), party))
        .collect();
    load_entities(store, "customers", &entities, |raw| {
        serde_json::from_value(raw)
            .map(Entity::Party)
            .map_err(|error| error.to_string())
    })
    .await;
}

/// The golden id each record is linked to.
async fn id_of(store: &dyn Store, record: &PartyKey) -> String {
    store
        .golden_links()
        .await
        .expect("links")
        .into_iter()
        .find(|link| &link.party == record)
        .map(|link| link.golden_id)
        .unwrap_or_else(|| panic!("{record} is not linked"))
}

async fn field(store: &dyn Store, golden_id: &str, name: &str) -> (Value, String) {
    let customer = store
        .golden_customers()
        .await
        .expect("golden customers")
        .into_iter()
        .find(|customer| customer.golden_id == golden_id)
        .unwrap_or_else(|| panic!("no active golden customer {golden_id}"));
    (
        customer.fields[name].clone(),
        customer.lineage[name].to_string(),
    )
}

/// Split, merge, set-field and undo through the library, with a re-run
/// after each that must change nothing.
async fn decisions_survive_reruns_and_undo_restores_the_customers(store: Arc<dyn Store>) {
    decisions_story(store.as_ref(), None).await;
}

/// The same decisions as the service takes them, with an index that
/// resolves only what each decision changes: every full re-run after
/// them still changes nothing, so the index stored what a full pass would.
async fn decisions_through_an_index_store_what_a_full_pass_would(store: Arc<dyn Store>) {
    let index = SharedIndex::default();
    decisions_story(store.as_ref(), Some(&index)).await;
    assert!(
        index.lock().await.is_some(),
        "the first decision built the index"
    );

    // Records saved after the index read the store are read into it by the
    // next pass: a shop account of 王芳 (desk/x, by her mobile), a new
    // customer, and 张伟's shop record with a second mobile.
    let rules = ResolutionRules::default();
    let store = store.as_ref();
    let wang = id_of(store, &key("desk", "x")).await;
    let zhang_shop = id_of(store, &key("shop", "a")).await;
    let mut zhang = party("shop", "a", "张伟", Some("+86 138 0013 8000"));
    zhang.phones.push("13700137000".into());
    load_parties(
        store,
        &[
            party("shop", "w", "王芳", Some("139 0013 9000")),
            party("erp", "9", "赵敏", Some("13500135000")),
            zhang,
        ],
    )
    .await;
    let outcome = resolve_with_index(store, &rules, &index)
        .await
        .expect("a pass through the index");
    assert_eq!(id_of(store, &key("shop", "w")).await, wang);
    assert_eq!(id_of(store, &key("shop", "a")).await, zhang_shop);
    let new_customer = id_of(store, &key("erp", "9")).await;
    assert!(![wang, zhang_shop].contains(&new_customer));
    assert!(outcome.changes.links >= 2, "{outcome:?}");
    assert!(
        resolve_customers(store, &rules)
            .await
            .expect("a full pass")
            .changes
            .is_empty(),
        "the index stored what a full pass would"
    );
}

fn order(
    connector: &str,
    id: &str,
    party: &str,
    number: Option<&str>,
    origin: Option<&str>,
) -> Order {
    Order {
        connector: connector.into(),
        source_id: id.into(),
        party_source_id: party.into(),
        amount: 318.0,
        currency: Some("CNY".into()),
        status: OrderStatus::Paid,
        ordered_at: "2026-03-01T10:00:00Z".parse().expect("time"),
        number: number.map(str::to_string),
        origin_number: origin.map(str::to_string),
    }
}

async fn load_orders(store: &dyn Store, orders: &[Order]) {
    let entities: Vec<(String, String, &Order)> = orders
        .iter()
        .map(|order| (order.connector.clone(), order.source_id.clone(), order))
        .collect();
    load_entities(store, "orders", &entities, |raw| {
        serde_json::from_value(raw)
            .map(Entity::Order)
            .map_err(|error| error.to_string())
    })
    .await;
}

/// An ERP order imported from the shop cites the shop's order number, in
/// its own spelling (`1001` for `#1001`): the ERP customer and the shop
/// customer who placed it become one customer when the citing order
/// arrives (the records themselves unchanged), and apart again when it
/// stops citing it; through an index as in full.
async fn an_order_two_systems_hold_makes_one_customer(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let rules = ResolutionRules::default();
    let index = SharedIndex::default();
    let (erp, shop, namesake) = (key("erp", "7"), key("shop", "s1"), key("shop", "s2"));
    let mut fang = party("shop", "s1", "Fang Liu", None);
    fang.emails.push("fangfang88@qq.com".into());
    load_parties(
        store,
        &[
            party("erp", "7", "刘芳", Some("13288951630")),
            fang,
            party("shop", "s2", "Liu Fang", Some("13900001111")),
        ],
    )
    .await;
    load_orders(
        store,
        &[
            order("shop", "5600001", "s1", Some("#1001"), None),
            order("shop", "5600002", "s2", Some("#1002"), None),
            // A number the ERP's own orders also use is not a citation.
            order("erp", "SO-0", "7", Some("#1001"), None),
        ],
    )
    .await;
    assert!(store.order_citations().await.expect("citations").is_empty());
    resolve_with_index(store, &rules, &index)
        .await
        .expect("the index is built");
    assert_ne!(
        id_of(store, &erp).await,
        id_of(store, &shop).await,
        "namesakes so far"
    );

    // The ERP keeps the shop's number its own way: `#1001` is cited as `1001`.
    load_orders(store, &[order("erp", "SO-1", "7", None, Some(" 1001"))]).await;
    let citations = store.order_citations().await.expect("citations");
    assert_eq!(citations.len(), 1, "{citations:?}");
    assert_eq!(
        (
            &citations[0].citing_party,
            citations[0].citing_order.as_str()
        ),
        (&erp, "SO-1")
    );
    assert_eq!(
        (&citations[0].cited_party, citations[0].number.as_str()),
        (&shop, "#1001")
    );
    resolve_with_index(store, &rules, &index)
        .await
        .expect("a pass through the index");
    let fang_id = id_of(store, &shop).await;
    assert_eq!(id_of(store, &erp).await, fang_id, "one order, one customer");
    assert_ne!(id_of(store, &namesake).await, fang_id);
    let evidence = store
        .golden_links()
        .await
        .expect("links")
        .into_iter()
        .find(|link| link.party == erp)
        .expect("the ERP record is linked")
        .evidence;
    assert!(
        evidence
            .shared_keys
            .contains(&"order:shop:#1001".to_string()),
        "{evidence}"
    );
    let matched = evidence.matched.as_ref().expect("a scored link");
    assert_eq!(matched.strong_id.as_deref(), Some("order"), "{evidence}");
    assert!(
        resolve_customers(store, &rules)
            .await
            .expect("a full pass")
            .changes
            .is_empty(),
        "the index stored what a full pass would"
    );

    load_orders(store, &[order("erp", "SO-1", "7", None, None)]).await;
    resolve_with_index(store, &rules, &index)
        .await
        .expect("a pass through the index");
    assert_ne!(
        id_of(store, &erp).await,
        id_of(store, &shop).await,
        "apart again"
    );
    assert!(
        resolve_customers(store, &rules)
            .await
            .expect("a full pass")
            .changes
            .is_empty(),
        "the index stored what a full pass would"
    );
}

async fn decisions_story(store: &dyn Store, index: Option<&SharedIndex>) {
    let rules = ResolutionRules::default();
    let steward = Steward {
        store,
        rules: &rules,
        actor: "li.na",
        index,
    };
    let (erp1, shopa, deskx, desky) = (
        key("erp", "1"),
        key("shop", "a"),
        key("desk", "x"),
        key("desk", "y"),
    );
    load_parties(
        store,
        &[
            party("erp", "1", "张伟", Some("13800138000")),
            party("shop", "a", "张伟", Some("+86 138 0013 8000")),
            party("desk", "x", "王芳", Some("13900139000")),
        ],
    )
    .await;
    let ordered_at = "2026-03-01T10:00:00Z".parse().expect("time");
    load_orders(
        store,
        &[Order {
            amount: 88.5,
            ordered_at,
            ..order("desk", "o-1", "x", None, None)
        }],
    )
    .await;
    load_entities(
        store,
        "cdr",
        &[(
            "pbx".to_string(),
            "call-1".to_string(),
            Call {
                connector: "pbx".into(),
                source_id: "call-1".into(),
                caller: Some("13900139000".into()),
                callee: Some("8001".into()),
                direction: Some("inbound".into()),
                started_at: ordered_at,
                talk_seconds: 95,
                disposition: Some("ANSWERED".into()),
            },
        )],
        |raw| {
            serde_json::from_value(raw)
                .map(Entity::Call)
                .map_err(|e| e.to_string())
        },
    )
    .await;
    resolve_customers(store, &rules).await.expect("first pass");
    // A later record makes a younger customer.
    load_parties(store, &[party("desk", "y", "Wang Fang", None)]).await;
    resolve_customers(store, &rules).await.expect("second pass");
    let zhang = id_of(store, &erp1).await;
    let (wang_old, wang_young) = (id_of(store, &deskx).await, id_of(store, &desky).await);
    assert_eq!(id_of(store, &shopa).await, zhang);

    // Split: shop/a leaves as a new customer; the rest keeps the id.
    let split = steward
        .split(
            &zhang,
            std::slice::from_ref(&shopa),
            Some("two people share a phone".into()),
        )
        .await
        .expect("split");
    let split_off = id_of(store, &shopa).await;
    assert_ne!(split_off, zhang);
    assert_eq!(id_of(store, &erp1).await, zhang);
    assert_eq!(
        split.resolution.changes.id_lineage,
        vec![IdLineage {
            new_id: split_off.clone(),
            old_id: zhang.clone(),
            reason: "split".into()
        }]
    );
    assert!(resolve_customers(store, &rules)
        .await
        .expect("re-run")
        .changes
        .is_empty());

    // Merge: the older customer's id survives, whatever the argument order.
    let merge = steward
        .merge(&[wang_young.clone(), wang_old.clone()], None)
        .await
        .expect("merge");
    assert_eq!(
        merge.resolution.changes.merged,
        vec![(wang_young.clone(), wang_old.clone())]
    );
    assert_eq!(id_of(store, &desky).await, wang_old);
    let merged = store
        .golden_ids()
        .await
        .expect("ids")
        .into_iter()
        .find(|record| record.golden_id == wang_young)
        .expect("the absorbed id is kept");
    assert_eq!(
        (merged.status.as_str(), merged.merged_into.as_deref()),
        ("merged", Some(wang_old.as_str()))
    );

    // Set-field pins the name over the survivorship rules.
    let pin = steward
        .set_field(&wang_old, "name", json!("王芳 (VIP)"), None)
        .await
        .expect("set-field");
    let pinned = (json!("王芳 (VIP)"), format!("steward/{}", pin.decision.id));
    assert_eq!(field(store, &wang_old, "name").await, pinned);
    assert!(resolve_customers(store, &rules)
        .await
        .expect("re-run")
        .changes
        .is_empty());
    assert_eq!(field(store, &wang_old, "name").await, pinned);
    let pins = store.pinned_fields().await.expect("pins");
    assert_eq!(pins[&wang_old]["name"].decision_id, pin.decision.id);
    let view = customer_view(store, &wang_old).await.expect("360 view");
    let records: Vec<String> = view
        .records
        .iter()
        .map(|r| r.party.key().to_string())
        .collect();
    assert_eq!(records, vec!["desk/x", "desk/y"]);
    assert_eq!(view.records[0].raw["customers"]["name"], json!("王芳"));
    assert_eq!(view.fields["name"].value, pinned.0);
    let activity: Vec<&str> = view
        .orders
        .iter()
        .map(|order| order.source_id.as_str())
        .chain(view.calls.iter().map(|call| call.source_id.as_str()))
        .collect();
    assert_eq!(activity, vec!["o-1", "call-1"]);
    assert_eq!(
        view.fields["phones"]
            .source
            .as_ref()
            .map(ToString::to_string),
        Some("desk/x".to_string())
    );
    let decided: Vec<i64> = view.decisions.iter().map(|d| d.id).collect();
    assert_eq!(decided, vec![merge.decision.id, pin.decision.id]);
    assert_eq!(
        view.id_lineage,
        vec![IdLineage {
            new_id: wang_old.clone(),
            old_id: wang_young.clone(),
            reason: "merge".into()
        }]
    );
    let absorbed = customer_view(store, &wang_young)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        absorbed.contains(&format!("merged into {wang_old}")),
        "{absorbed}"
    );

    // Undo the merge: desk/y is its own customer again, under its old id.
    steward
        .undo(merge.decision.id, Some("not the same person".into()))
        .await
        .expect("undo merge");
    assert_eq!(id_of(store, &desky).await, wang_young);
    assert_eq!(id_of(store, &deskx).await, wang_old);
    assert_eq!(
        field(store, &wang_young, "name").await,
        (json!("Wang Fang"), "desk/y".to_string())
    );
    assert_eq!(field(store, &wang_old, "name").await, pinned);

    assert!(resolve_customers(store, &rules)
        .await
        .expect("re-run")
        .changes
        .is_empty());

    // Undo the pin: survivorship decides again.
    steward.undo(pin.decision.id, None).await.expect("undo pin");
    assert_eq!(
        field(store, &wang_old, "name").await,
        (json!("王芳"), "desk/x".to_string())
    );
    assert!(resolve_customers(store, &rules)
        .await
        .expect("re-run")
        .changes
        .is_empty());

    // A pin on the part split off, then the split undone: the customer is
    // whole again under its id, the pin came home with the record, and its
    // view lists the decision in force.
    let stray = steward
        .set_field(&split_off, "company", json!("某某贸易 (dup)"), None)
        .await
        .expect("pin the part split off");
    steward
        .undo(split.decision.id, None)
        .await
        .expect("undo split");
    assert_eq!(id_of(store, &shopa).await, zhang);
    assert!(resolve_customers(store, &rules)
        .await
        .expect("re-run")
        .changes
        .is_empty());
    let whole = customer_view(store, &zhang).await.expect("360 view");
    assert_eq!(
        whole.fields["company"]
            .source
            .as_ref()
            .map(ToString::to_string),
        Some(format!("steward/{}", stray.decision.id))
    );
    assert!(
        whole.decisions.iter().any(|d| d.id == stray.decision.id),
        "{:?}",
        whole.decisions
    );

    let decisions = store.decisions().await.expect("decisions");
    let undone: Vec<bool> = decisions.iter().map(|d| d.undone_at.is_some()).collect();
    assert_eq!(undone, vec![true, true, true, false, false, false, false]);
    assert!(steward.undo(split.decision.id, None).await.is_err());
    assert_eq!(
        verify_audit_log(store, None).await.expect("intact").entries,
        7
    );
    let log = store.audit_log().await.expect("audit log");
    assert_eq!(log[0].actor, "li.na");
    assert_eq!(log[0].action, "split");
    assert_eq!(log[0].reason.as_deref(), Some("two people share a phone"));
    assert_eq!(log[0].payload["decision_id"], json!(split.decision.id));
}

fn candidate(
    left: &PartyKey,
    right: &PartyKey,
    probability: f64,
    priority: f64,
) -> ReviewCandidate {
    ReviewCandidate {
        left: left.clone(),
        right: right.clone(),
        probability,
        match_weight: 1.5,
        explanation: vec![
            FieldContribution {
                field: "name".into(),
                level: "exact".into(),
                weight: 3.2,
            },
            FieldContribution {
                field: "phone".into(),
                level: "different".into(),
                weight: -1.7,
            },
        ],
        priority,
    }
}

/// Review items are kept once per pair, listed by priority, and the
/// decisions on them bind the clusters of every later pass.
async fn review_decisions_bind_the_next_resolution(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let rules = ResolutionRules::default();
    let steward = Steward {
        store,
        rules: &rules,
        actor: "zhao.lei",
        index: None,
    };
    let (erp1, shopa, erp2, shopb) = (
        key("erp", "1"),
        key("shop", "a"),
        key("erp", "2"),
        key("shop", "b"),
    );
    load_parties(
        store,
        &[
            party("erp", "1", "张伟", Some("13800138000")),
            party("shop", "a", "张伟", Some("13800138000")),
            party("erp", "2", "李娜", Some("13900139000")),
            party("shop", "b", "Li Na", Some("13700137000")),
        ],
    )
    .await;
    resolve_customers(store, &rules).await.expect("first pass");
    assert_eq!(id_of(store, &erp1).await, id_of(store, &shopa).await);
    assert_ne!(id_of(store, &erp2).await, id_of(store, &shopb).await);

    let new = store
        .save_review_items(&[
            candidate(&erp1, &shopa, 0.6, 1.0),
            candidate(&shopb, &erp2, 0.7, 5.0),
        ])
        .await
        .expect("saving review items");
    assert_eq!(new, 2);
    // The same pair, written the other way round, updates the open item.
    let again = store
        .save_review_items(&[candidate(&erp2, &shopb, 0.8, 4.0)])
        .await
        .expect("saving again");
    assert_eq!(again, 0);
    let open = store.open_review_items(10).await.expect("open items");
    assert_eq!(open.len(), 2);
    let (li, zhang) = (&open[0], &open[1]);
    assert_eq!(
        (
            &li.candidate.left,
            &li.candidate.right,
            li.candidate.probability
        ),
        (&erp2, &shopb, 0.8)
    );
    assert_eq!(li.candidate.explanation[1].weight, -1.7);
    assert_eq!(zhang.candidate.left, erp1);

    // Rejected while its records are one customer: they part.
    steward
        .reject(zhang.id, Some("father and son".into()))
        .await
        .expect("reject");
    steward.accept(li.id, None).await.expect("accept");
    assert_eq!(id_of(store, &erp2).await, id_of(store, &shopb).await);
    assert_ne!(id_of(store, &erp1).await, id_of(store, &shopa).await);
    assert!(store.open_review_items(10).await.expect("open").is_empty());
    let constraints = store.steward_constraints().await.expect("constraints");
    let pairs = |list: &[tierlink::steward::PairConstraint]| -> Vec<(String, String)> {
        list.iter()
            .map(|pair| (pair.left.to_string(), pair.right.to_string()))
            .collect()
    };
    assert_eq!(
        pairs(&constraints.must_link),
        vec![("erp/2".to_string(), "shop/b".to_string())]
    );
    assert_eq!(
        pairs(&constraints.cannot_link),
        vec![("erp/1".to_string(), "shop/a".to_string())]
    );
    assert!(
        steward.accept(zhang.id, None).await.is_err(),
        "decided already"
    );

    // A decided pair stays decided when the engine proposes it again.
    store
        .save_review_items(&[candidate(&erp1, &shopa, 0.9, 9.0)])
        .await
        .expect("saving again");
    let item = store
        .review_item(zhang.id)
        .await
        .expect("item")
        .expect("exists");
    assert_eq!(
        (item.status.as_str(), item.candidate.probability),
        ("rejected", 0.6)
    );
    assert!(matches!(
        store.decisions().await.expect("decisions")[0].decision,
        Decision::RejectMatch { .. }
    ));
    assert!(resolve_customers(store, &rules)
        .await
        .expect("re-run")
        .changes
        .is_empty());

    // Undoing the rejection reopens the item, and the shared phone joins
    // the records again: nothing is left to review, so the item is
    // settled, and deciding it is refused.
    let rejection = item.decision_id.expect("decided by a decision");
    steward.undo(rejection, None).await.expect("undo");
    assert_eq!(id_of(store, &erp1).await, id_of(store, &shopa).await);
    let reopened = store
        .review_item(zhang.id)
        .await
        .expect("item")
        .expect("exists");
    assert_eq!(
        (reopened.status.as_str(), reopened.decision_id),
        ("settled", None)
    );
    let refused = steward
        .reject(zhang.id, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("settled"), "{refused}");

    // An open item whose customers a steward merges is settled too, and
    // comes back open when the engine proposes the pair again.
    let (erp3, shopc) = (key("erp", "3"), key("shop", "c"));
    load_parties(
        store,
        &[
            party("erp", "3", "王芳", Some("13600136000")),
            party("shop", "c", "Wang Fang", Some("13500135000")),
        ],
    )
    .await;
    resolve_customers(store, &rules).await.expect("new records");
    store
        .save_review_items(&[candidate(&erp3, &shopc, 0.5, 2.0)])
        .await
        .expect("a new item");
    let item = store.open_review_items(10).await.expect("open")[0].clone();
    let (one, two) = (id_of(store, &erp3).await, id_of(store, &shopc).await);
    steward.merge(&[one, two], None).await.expect("merge");
    let merged = store
        .review_item(item.id)
        .await
        .expect("item")
        .expect("exists");
    assert_eq!(merged.status, "settled");
    assert!(store.open_review_items(10).await.expect("open").is_empty());
    store
        .save_review_items(&[candidate(&erp3, &shopc, 0.55, 2.0)])
        .await
        .expect("proposed again");
    let again = store
        .review_item(item.id)
        .await
        .expect("item")
        .expect("exists");
    assert_eq!((again.status.as_str(), again.decided_at), ("open", None));
    assert_eq!(
        verify_audit_log(store, None).await.expect("intact").entries,
        4
    );
}

/// A pass through the index that the store refuses leaves nothing half
/// stored and drops the index; the next pass builds it again from what is
/// stored and stores what a full pass would.
#[tokio::test]
async fn an_indexed_pass_the_store_refuses_drops_the_index() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("tierlink.db").display());
    let store = tierlink::store::open(&url, dir.path())
        .await
        .expect("store");
    let store = store.as_ref();
    let rules = ResolutionRules::default();
    let index = SharedIndex::default();
    load_parties(store, &[party("erp", "1", "张伟", Some("13800138000"))]).await;
    resolve_with_index(store, &rules, &index)
        .await
        .expect("the first pass builds the index");
    assert!(index.lock().await.is_some());

    let mut connection = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("connect");
    sqlx::query(
        "CREATE TRIGGER refuse_links BEFORE INSERT ON golden_links
         BEGIN SELECT RAISE(ABORT, 'links refused'); END",
    )
    .execute(&mut connection)
    .await
    .expect("a trigger");
    load_parties(store, &[party("shop", "a", "张伟", Some("13800138000"))]).await;
    let error = resolve_with_index(store, &rules, &index)
        .await
        .expect_err("the store refuses the new link");
    assert!(error.to_string().contains("links refused"), "{error}");
    assert!(index.lock().await.is_none(), "the index was dropped");
    assert!(
        store.golden_links().await.expect("links").len() == 1,
        "nothing of the refused pass was stored"
    );

    sqlx::query("DROP TRIGGER refuse_links")
        .execute(&mut connection)
        .await
        .expect("dropping the trigger");
    resolve_with_index(store, &rules, &index)
        .await
        .expect("the next pass");
    assert!(index.lock().await.is_some(), "built again");
    assert_eq!(
        id_of(store, &key("shop", "a")).await,
        id_of(store, &key("erp", "1")).await
    );
    assert!(resolve_customers(store, &rules)
        .await
        .expect("a full pass")
        .changes
        .is_empty());
}

/// Editing an audit row or a decision row in the database is found by
/// verification, which names the entry or the decision; a cut-off tail
/// shows against a head hash kept from before.
#[tokio::test]
async fn verification_finds_an_audit_entry_edited_in_the_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("tierlink.db").display());
    let store = tierlink::store::open(&url, dir.path())
        .await
        .expect("store");
    let rules = ResolutionRules::default();
    load_parties(
        store.as_ref(),
        &[
            party("erp", "1", "张伟", Some("13800138000")),
            party("erp", "2", "李娜", Some("13900139000")),
        ],
    )
    .await;
    resolve_customers(store.as_ref(), &rules)
        .await
        .expect("resolve");
    let steward = Steward {
        store: store.as_ref(),
        rules: &rules,
        actor: "li.na",
        index: None,
    };
    let (one, two) = (
        id_of(store.as_ref(), &key("erp", "1")).await,
        id_of(store.as_ref(), &key("erp", "2")).await,
    );
    steward
        .set_field(&one, "name", json!("张伟 VIP"), None)
        .await
        .expect("pin");
    steward
        .merge(&[one, two], Some("same household".into()))
        .await
        .expect("merge");
    steward.undo(2, None).await.expect("undo");
    let verified = verify_audit_log(store.as_ref(), None)
        .await
        .expect("intact");
    assert_eq!(verified.entries, 3);
    let head = verified.head;

    let mut connection = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("connect");
    // The decision resolution honours, changed in its own table: the chain
    // still verifies, the decision does not.
    edit(
        &mut connection,
        "UPDATE steward_decisions SET actor = 'mallory' WHERE id = 1",
    )
    .await;
    let error = broken(store.as_ref(), None).await;
    assert!(
        error.contains("steward decision 1 ") && error.contains("mallory"),
        "{error}"
    );
    edit(
        &mut connection,
        "UPDATE steward_decisions SET actor = 'li.na' WHERE id = 1",
    )
    .await;
    edit(
        &mut connection,
        "UPDATE steward_decisions SET undone_at = NULL WHERE id = 2",
    )
    .await;
    let error = broken(store.as_ref(), None).await;
    assert!(
        error.contains("steward decision 2 ") && error.contains("in force"),
        "{error}"
    );

    // The newest decision and its entry removed together: only the head
    // kept elsewhere shows it.
    edit(
        &mut connection,
        "DELETE FROM steward_decisions WHERE id = 3",
    )
    .await;
    edit(&mut connection, "DELETE FROM audit_log WHERE id = 3").await;
    let cut = verify_audit_log(store.as_ref(), None)
        .await
        .expect("consistent");
    assert_eq!(cut.entries, 2);
    let error = broken(store.as_ref(), Some(&head)).await;
    assert!(error.contains("cut short"), "{error}");

    edit(
        &mut connection,
        "UPDATE audit_log SET reason = 'nobody asked' WHERE id = 2",
    )
    .await;
    let error = broken(store.as_ref(), None).await;
    assert!(error.contains("audit entry 2 "), "{error}");
}

/// Runs one statement on the database behind the store's back.
async fn edit(connection: &mut sqlx::SqliteConnection, statement: &str) {
    sqlx::query(statement)
        .execute(connection)
        .await
        .unwrap_or_else(|error| panic!("{statement}: {error}"));
}

/// Why verification fails; panics if it does not.
async fn broken(store: &dyn Store, head: Option<&str>) -> String {
    verify_audit_log(store, head)
        .await
        .expect_err("verification finds the change")
        .to_string()
}

// ---------------------------------------------------------------------------
// The commands, end to end on a copy of the bundled sample.

fn tierlink(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tierlink"))
        .arg("--config")
        .arg(dir.join("tierlink.toml"))
        .args(args)
        .env_remove("TIERLINK_CONFIG")
        .env_remove("TIERLINK__STORE__URL")
        .env_remove("USER")
        .output()
        .expect("the tierlink binary runs")
}

/// The id of the open review item of a pair, found in `review list`.
fn review_id(dir: &Path, a: &PartyKey, b: &PartyKey) -> String {
    let items = json_of(dir, &["review", "list", "--json", "--limit", "100000"]);
    let key = |value: &Value| PartyKey {
        connector: value["connector"].as_str().expect("connector").into(),
        source_id: value["source_id"].as_str().expect("source_id").into(),
    };
    items
        .as_array()
        .expect("a list")
        .iter()
        .find(|item| {
            let (left, right) = (key(&item["left"]), key(&item["right"]));
            (&left, &right) == (a, b) || (&left, &right) == (b, a)
        })
        .and_then(|item| item["id"].as_i64())
        .unwrap_or_else(|| panic!("no open review item for {a} and {b}"))
        .to_string()
}

/// Runs a command that must succeed and returns its standard output.
fn ok(dir: &Path, args: &[&str]) -> String {
    let output = tierlink(dir, args);
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "tierlink {args:?} failed:\n{out}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

fn json_of(dir: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&ok(dir, args)).expect("JSON output")
}

#[tokio::test]
async fn every_steward_command_works_end_to_end() {
    let project = sample_project();
    let dir = project.path();
    ok(dir, &["run"]);
    let url = format!("sqlite://{}", dir.join("tierlink.db").display());
    let store = tierlink::store::open(&url, dir).await.expect("store");
    let links = store.golden_links().await.expect("links");
    // A customer with several records, and two single-record customers.
    let mut by_customer: std::collections::BTreeMap<&str, Vec<&PartyKey>> = Default::default();
    for link in &links {
        by_customer
            .entry(&link.golden_id)
            .or_default()
            .push(&link.party);
    }
    let records = by_customer
        .values()
        .find(|records| records.len() >= 2)
        .cloned()
        .expect("the sample has a customer with several records");
    let singles: Vec<(String, PartyKey)> = by_customer
        .iter()
        .filter(|(_, records)| records.len() == 1)
        .take(2)
        .map(|(id, records)| (id.to_string(), records[0].clone()))
        .collect();

    // review list / show / reject / accept
    // The run put its uncertain pairs in the queue, each explained field by
    // field.
    let queued = json_of(dir, &["review", "list", "--json", "--limit", "500"]);
    for item in queued.as_array().expect("a list") {
        let probability = item["probability"].as_f64().expect("probability");
        assert!((0.8..0.998).contains(&probability), "{item}");
        assert!(
            item["explanation"]
                .as_array()
                .is_some_and(|fields| !fields.is_empty()),
            "{item}"
        );
    }
    // Weighed by the customers' spend on the project's first run already.
    assert!(
        queued
            .as_array()
            .expect("a list")
            .iter()
            .any(|item| item["priority"].as_f64().expect("priority") > 1.0),
        "{queued}"
    );
    store
        .save_review_items(&[
            candidate(&singles[0].1, &singles[1].1, 0.55, 2.0),
            candidate(records[0], records[1], 0.62, 1.0),
        ])
        .await
        .expect("review items");
    let listed = json_of(dir, &["review", "list", "--json", "--limit", "1"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let first = review_id(dir, &singles[0].1, &singles[1].1);
    let shown = ok(dir, &["review", "show", &first]);
    assert!(shown.contains("name") && shown.contains("+3.20"), "{shown}");
    let missing_actor = tierlink(dir, &["review", "accept", &first]);
    assert!(!missing_actor.status.success());
    assert!(
        String::from_utf8_lossy(&missing_actor.stderr).contains("--actor"),
        "{missing_actor:?}"
    );
    // The second item's records are one customer now: rejected before
    // anything resolves again (which would settle the item), they part.
    let second = review_id(dir, records[0], records[1]);
    ok(dir, &["review", "reject", &second, "--actor", "li.na"]);
    assert_ne!(
        id_of(store.as_ref(), records[0]).await,
        id_of(store.as_ref(), records[1]).await
    );
    let accepted = ok(
        dir,
        &[
            "review",
            "accept",
            &first,
            "--actor",
            "li.na",
            "--reason",
            "same address",
        ],
    );
    assert!(accepted.contains("accept_match"), "{accepted}");
    assert_eq!(
        id_of(store.as_ref(), &singles[0].1).await,
        id_of(store.as_ref(), &singles[1].1).await
    );
    let again = tierlink(dir, &["review", "accept", &second, "--actor", "li.na"]);
    assert!(!again.status.success(), "an item is decided once");

    // customer show / split / merge / set-field
    let view = json_of(dir, &["customer", "show", &singles[0].0, "--json"]);
    assert_eq!(view["records"].as_array().map(Vec::len), Some(2));
    assert!(view["fields"]["name"]["source"].is_object(), "{view}");
    assert!(view["records"][0]["raw"]["customers"].is_object(), "{view}");
    // Found by name, and shown by one of its records.
    let name = view["fields"]["name"]["value"].as_str().expect("a name");
    let found = ok(dir, &["customer", "find", name]);
    assert!(found.contains(&singles[0].0), "{found}");
    let by_record = json_of(
        dir,
        &["customer", "show", &singles[0].1.to_string(), "--json"],
    );
    assert_eq!(by_record["golden_id"], json!(singles[0].0));
    let text = ok(dir, &["customer", "show", &singles[0].0]);
    assert!(
        text.contains("records (2)") && text.contains("activity:"),
        "{text}"
    );

    let split = ok(
        dir,
        &[
            "customer",
            "split",
            &singles[0].0,
            "--records",
            &singles[1].1.to_string(),
            "--actor",
            "li.na",
        ],
    );
    assert!(split.contains("split off"), "{split}");
    // It parts what the accepted review item joined, and says so.
    assert!(
        split.contains("overrides decision") && split.contains("accept_match"),
        "{split}"
    );
    let standing = json_of(dir, &["decision", "list", "--json"]);
    let accepted = standing
        .as_array()
        .expect("a list")
        .iter()
        .find(|decision| decision["decision"]["action"] == "accept_match")
        .expect("the accept");
    assert_eq!(accepted["state"], "overridden", "{standing}");
    let split_off = id_of(store.as_ref(), &singles[1].1).await;
    assert_ne!(split_off, singles[0].0);

    // As JSON: what changed, and the split it overrides.
    let merged = json_of(
        dir,
        &[
            "customer",
            "merge",
            &singles[0].0,
            &split_off,
            "--actor",
            "li.na",
            "--json",
        ],
    );
    assert_eq!(
        merged["decision"]["decision"]["action"], "merge",
        "{merged}"
    );
    assert_eq!(
        merged["resolution"]["changes"]["merged"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{merged}"
    );
    assert_eq!(merged["overrides"][0]["action"], "split", "{merged}");

    ok(
        dir,
        &[
            "customer",
            "set-field",
            &singles[0].0,
            "name",
            "王小明",
            "--actor",
            "li.na",
        ],
    );
    let view = json_of(dir, &["customer", "show", &singles[0].0, "--json"]);
    assert_eq!(view["fields"]["name"]["value"], json!("王小明"));
    assert_eq!(
        view["fields"]["name"]["source"]["connector"],
        json!("steward")
    );

    // A full re-run keeps every decision.
    ok(dir, &["run"]);
    assert_ne!(
        id_of(store.as_ref(), records[0]).await,
        id_of(store.as_ref(), records[1]).await
    );
    let view = json_of(dir, &["customer", "show", &singles[0].0, "--json"]);
    assert_eq!(view["fields"]["name"]["value"], json!("王小明"));

    // decision list / undo / verify
    let decisions = json_of(dir, &["decision", "list", "--json"]);
    assert_eq!(decisions.as_array().map(Vec::len), Some(5));
    let merge_id = decisions[3]["id"].as_i64().expect("id").to_string();
    assert_eq!(decisions[3]["decision"]["action"], json!("merge"));
    ok(dir, &["decision", "undo", &merge_id, "--actor", "li.na"]);
    assert_eq!(id_of(store.as_ref(), &singles[1].1).await, split_off);
    let listed = ok(dir, &["decision", "list"]);
    assert!(listed.contains("undone"), "{listed}");
    let verified = ok(dir, &["decision", "verify"]);
    assert!(verified.contains("6 entries"), "{verified}");
    let head = json_of(dir, &["decision", "verify", "--json"])["head"]
        .as_str()
        .expect("head")
        .to_string();
    assert!(verified.contains(&head), "{verified}");
    ok(dir, &["decision", "verify", "--head", &head]);

    let mut connection = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("connect");
    sqlx::query("UPDATE audit_log SET actor = 'mallory' WHERE id = 3")
        .execute(&mut connection)
        .await
        .expect("tampering");
    let verify = tierlink(dir, &["decision", "verify"]);
    assert!(!verify.status.success());
    assert!(
        String::from_utf8_lossy(&verify.stderr).contains("audit entry 3 "),
        "{verify:?}"
    );
}
