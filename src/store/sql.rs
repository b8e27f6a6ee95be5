//! The store's queries, written once for both backends.
//!
//! Every query here is valid on SQLite and PostgreSQL: `$N` placeholders
//! (sqlx binds them by number on SQLite too), `ON CONFLICT ... DO UPDATE`,
//! `IS DISTINCT FROM` and `RETURNING`. Values are bound as types both
//! drivers map the same way: text, `i64`, `f64`, `DateTime<Utc>` and
//! `Json<T>` for the JSON columns. The macro expands the same method bodies
//! for each backend's pool type.

use sha2::{Digest, Sha256};

/// The hash that decides whether a fetched record changed: SHA-256 over the
/// record's JSON text (serde_json writes object keys in a stable order).
pub(crate) fn content_hash_of_text(raw: &str) -> String {
    hex::encode(Sha256::digest(raw.as_bytes()))
}

/// Text as both databases accept it: PostgreSQL refuses NUL characters in
/// text, so they become U+FFFD, the replacement character.
pub(crate) fn without_nul(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        std::borrow::Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Wraps a sqlx error with the action that failed.
pub(crate) fn query_error(action: &'static str) -> impl FnOnce(sqlx::Error) -> super::StoreError {
    move |source| super::StoreError::Query { action, source }
}

/// The largest record staged, as JSON text; a larger one is rejected with
/// the reason rather than bloating the store (source APIs do send runaway
/// fields, e.g. an embedded file).
pub(crate) const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// Rows per multi-row statement when staging: 7 parameters a row stays well
/// under both databases' parameter limits.
pub(crate) const STAGE_CHUNK: usize = 500;

macro_rules! impl_store {
    ($store:ty, $backend:expr, $db:ty) => {
        use std::collections::BTreeMap;
        use std::fmt::Write as _;

        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use futures_util::TryStreamExt;
        use sqlx::types::Json;
        use sqlx::Row;

        use crate::golden::{CustomerState, LinkState};
        use crate::model::{Call, Entity, Message, Party, PartyKey, PartyKind, Ticket};
        use crate::normalize::order::order_number_key;
        use crate::store::sql::{content_hash_of_text, query_error, without_nul, MAX_RECORD_BYTES, STAGE_CHUNK};
        use crate::store::{
            AuditEntry, Backend, ConnectorCounts, CustomerActivity, CustomerHit, Decision, GoldenCustomer,
            DeadLetter, GoldenIdRecord, GoldenLink, IdLineage, LinkEvidence, LedgerRow, LedgerStatus, LedgerUpdate, MappedRecord, NewDecision, OrderFact,
            PushCandidates, PushStatus, PushTarget, RejectedRecord, RetryOutcome, ReviewCandidate, ReviewItem, RunRecord,
            StageCounts, StagedBatch, StagedRecord, StewardDecision, Store, StoreResult,
            StoreStatus, StoredParty, TierAssignment, TierChange, TierEvent,
        };

        fn tier_change_from_row<R: Row>(row: &R, to: &str, at: &str) -> TierChange
        where
            for<'r> &'r str: sqlx::ColumnIndex<R>,
            for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> Json<serde_json::Value>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        {
            TierChange {
                from_tier: row.get("from_tier"),
                assignment: TierAssignment {
                    golden_id: row.get("golden_id"),
                    tier: row.get(to),
                    rule: row.get("rule"),
                    reason: row.get::<Json<serde_json::Value>, _>("reason").0,
                    rules_version: row.get("rules_version"),
                    assigned_at: row.get(at),
                },
            }
        }

        fn tier_assignment_from_row<R: Row>(row: &R) -> TierAssignment
        where
            for<'r> &'r str: sqlx::ColumnIndex<R>,
            for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> Json<serde_json::Value>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        {
            TierAssignment {
                golden_id: row.get("golden_id"),
                tier: row.get("tier"),
                rule: row.get("rule"),
                reason: row.get::<Json<serde_json::Value>, _>("reason").0,
                rules_version: row.get("rules_version"),
                assigned_at: row.get("assigned_at"),
            }
        }

        fn golden_link_from_row<R: Row>(row: &R) -> GoldenLink
        where
            for<'r> &'r str: sqlx::ColumnIndex<R>,
            for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> Json<Option<LinkEvidence>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        {
            GoldenLink {
                party: PartyKey {
                    connector: row.get("connector"),
                    source_id: row.get("source_id"),
                },
                golden_id: row.get("golden_id"),
                evidence: row
                    .get::<Json<Option<LinkEvidence>>, _>("evidence")
                    .0
                    .unwrap_or_default(),
            }
        }

        fn rejected_from_row<R: Row>(row: &R) -> RejectedRecord
        where
            for<'r> &'r str: sqlx::ColumnIndex<R>,
            for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        {
            RejectedRecord {
                id: row.get("id"),
                connector: row.get("connector"),
                stream: row.get("stream"),
                source_id: row.get("source_id"),
                reason: row.get("reason"),
                raw: row.get("raw"),
                rejected_at: row.get("rejected_at"),
                status: row.get("status"),
            }
        }


        fn ledger_row_from_row<R: Row>(row: &R) -> LedgerRow
        where
            for<'r> &'r str: sqlx::ColumnIndex<R>,
            for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        {
            let unacked: String = row.get("unacked_labels");
            let status: String = row.get("status");
            LedgerRow {
                connector: row.get("connector"),
                source_id: row.get("source_id"),
                golden_id: row.get("golden_id"),
                tier: row.get("tier"),
                desired_label: row.get("desired_label"),
                acked_label: row.get("acked_label"),
                // Written by save_ledger; unreadable text (edited by hand)
                // reads as nothing unacknowledged.
                unacked_labels: serde_json::from_str(&unacked).unwrap_or_default(),
                rules_version: row.get("rules_version"),
                status: LedgerStatus::parse(&status),
                attempts: row.get("attempts"),
                last_error: row.get("last_error"),
            }
        }

        fn dead_letter_from_row<R: Row>(row: R) -> DeadLetter
        where
            for<'r> &'r str: sqlx::ColumnIndex<R>,
            for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> Option<DateTime<Utc>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        {
            DeadLetter {
                id: row.get("id"),
                letter: crate::store::NewDeadLetter {
                    connector: row.get("connector"),
                    source_id: row.get("source_id"),
                    label: row.get("label"),
                    request: row.get("request"),
                    response: row.get("response"),
                    reason: row.get("reason"),
                    attempts: row.get("attempts"),
                },
                created_at: row.get("created_at"),
                updated_at: row.get("updated_at"),
                resolved_at: row.get("resolved_at"),
                dropped_at: row.get("dropped_at"),
                dropped_by: row.get("dropped_by"),
                drop_reason: row.get("drop_reason"),
            }
        }

        fn review_item_from_row<R: Row>(row: &R) -> ReviewItem
        where
            for<'r> &'r str: sqlx::ColumnIndex<R>,
            for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> f64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> Json<Vec<crate::store::FieldContribution>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> Option<DateTime<Utc>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        {
            ReviewItem {
                id: row.get("id"),
                candidate: ReviewCandidate {
                    left: PartyKey { connector: row.get("left_connector"), source_id: row.get("left_source_id") },
                    right: PartyKey { connector: row.get("right_connector"), source_id: row.get("right_source_id") },
                    probability: row.get("score"),
                    match_weight: row.get("match_weight"),
                    explanation: row.get::<Json<Vec<crate::store::FieldContribution>>, _>("evidence").0,
                    priority: row.get("priority"),
                },
                status: row.get("status"),
                created_at: row.get("created_at"),
                decided_at: row.get("decided_at"),
                decision_id: row.get("decision_id"),
            }
        }


        fn party_from_row<R: Row>(row: &R) -> Party
        where
            for<'r> &'r str: sqlx::ColumnIndex<R>,
            for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> Json<Vec<String>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> Json<BTreeMap<String, String>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> Json<BTreeMap<String, serde_json::Value>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> Option<DateTime<Utc>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        {
            Party {
                connector: row.get("connector"),
                source_id: row.get("source_id"),
                kind: PartyKind::parse(&row.get::<String, _>("kind")),
                name: row.get("name"),
                phones: row.get::<Json<Vec<String>>, _>("phones").0,
                emails: row.get::<Json<Vec<String>>, _>("emails").0,
                company: row.get("company"),
                address: row.get("address"),
                strong_ids: row.get::<Json<BTreeMap<String, String>>, _>("strong_ids").0,
                attributes: row
                    .get::<Json<BTreeMap<String, serde_json::Value>>, _>("attributes")
                    .0,
                source_updated_at: row.get("source_updated_at"),
                shared_orders: Vec::new(),
            }
        }

        const REVIEW_COLUMNS: &str = "id, left_connector, left_source_id, right_connector, right_source_id, score, \
            match_weight, evidence, priority, status, created_at, decided_at, decision_id";

        impl $store {
            /// Writes one resolution pass's changes (or one slice of them)
            /// inside the caller's transaction.
            async fn write_resolution(
                tx: &mut sqlx::Transaction<'_, $db>,
                changes: &crate::store::ResolutionChanges,
                now: DateTime<Utc>,
            ) -> StoreResult<()> {
                for golden in &changes.upserted {
                    sqlx::query(
                        "INSERT INTO golden_customers (golden_id, fields, status, created_at, updated_at)
                         VALUES ($1, $2, 'active', $3, $3)
                         ON CONFLICT (golden_id) DO UPDATE SET fields = excluded.fields, status = 'active',
                           merged_into = NULL, updated_at = excluded.updated_at",
                    )
                    .bind(&golden.golden_id)
                    .bind(Json(&golden.fields))
                    .bind(now)
                    .execute(&mut **tx)
                    .await
                    .map_err(query_error("saving golden customers"))?;
                    sqlx::query("DELETE FROM field_lineage WHERE golden_id = $1")
                        .bind(&golden.golden_id)
                        .execute(&mut **tx)
                        .await
                        .map_err(query_error("saving field lineage"))?;
                    for (field, party) in &golden.lineage {
                        sqlx::query(
                            "INSERT INTO field_lineage (golden_id, field, connector, source_id) VALUES ($1, $2, $3, $4)",
                        )
                        .bind(&golden.golden_id)
                        .bind(field)
                        .bind(&party.connector)
                        .bind(&party.source_id)
                        .execute(&mut **tx)
                        .await
                        .map_err(query_error("saving field lineage"))?;
                    }
                }
                for link in &changes.links {
                    sqlx::query(
                        "INSERT INTO golden_links (connector, source_id, golden_id, evidence, linked_at)
                         VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (connector, source_id) DO UPDATE SET golden_id = excluded.golden_id,
                           evidence = excluded.evidence, linked_at = excluded.linked_at",
                    )
                    .bind(&link.party.connector)
                    .bind(&link.party.source_id)
                    .bind(&link.golden_id)
                    .bind(Json(&link.evidence))
                    .bind(now)
                    .execute(&mut **tx)
                    .await
                    .map_err(query_error("saving golden links"))?;
                }
                for (absorbed, survivor) in &changes.merged {
                    sqlx::query(
                        "UPDATE golden_customers SET status = 'merged', merged_into = $1, updated_at = $2 WHERE golden_id = $3",
                    )
                    .bind(survivor)
                    .bind(now)
                    .bind(absorbed)
                    .execute(&mut **tx)
                    .await
                    .map_err(query_error("recording merges"))?;
                    sqlx::query("DELETE FROM field_lineage WHERE golden_id = $1")
                        .bind(absorbed)
                        .execute(&mut **tx)
                        .await
                        .map_err(query_error("recording merges"))?;
                    sqlx::query("DELETE FROM tier_assignments WHERE golden_id = $1")
                        .bind(absorbed)
                        .execute(&mut **tx)
                        .await
                        .map_err(query_error("recording merges"))?;
                }
                for lineage in &changes.id_lineage {
                    sqlx::query(
                        "INSERT INTO golden_id_lineage (new_id, old_id, reason, recorded_at) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&lineage.new_id)
                    .bind(&lineage.old_id)
                    .bind(&lineage.reason)
                    .bind(now)
                    .execute(&mut **tx)
                    .await
                    .map_err(query_error("recording golden id lineage"))?;
                }
                let absorbed: Vec<&str> = changes.merged.iter().map(|(absorbed, _)| absorbed.as_str()).collect();
                Self::replace_search_terms(tx, &changes.upserted, &absorbed).await?;
                Ok(())
            }

            /// Replaces the search terms of `customers` and removes those of
            /// `removed`, inside a resolution's transaction.
            async fn replace_search_terms(
                tx: &mut sqlx::Transaction<'_, $db>,
                customers: &[GoldenCustomer],
                removed: &[&str],
            ) -> StoreResult<()> {
                let mut ids: Vec<&str> = removed.to_vec();
                ids.extend(customers.iter().map(|customer| customer.golden_id.as_str()));
                for chunk in ids.chunks(STAGE_CHUNK) {
                    let mut query = sqlx::QueryBuilder::<$db>::new("DELETE FROM customer_search WHERE golden_id IN (");
                    let mut list = query.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    query.push(")");
                    query.build().persistent(false).execute(&mut **tx).await.map_err(query_error("indexing customers for search"))?;
                }
                let terms: Vec<(&str, String)> = customers
                    .iter()
                    .flat_map(|customer| {
                        crate::golden::search::customer_terms(&customer.golden_id, &customer.fields)
                            .into_iter()
                            .map(move |term| (customer.golden_id.as_str(), term))
                    })
                    .collect();
                for chunk in terms.chunks(STAGE_CHUNK) {
                    let mut query = sqlx::QueryBuilder::<$db>::new("INSERT INTO customer_search (term, golden_id) ");
                    query.push_values(chunk, |mut row, (golden_id, term)| {
                        row.push_bind(term.as_str()).push_bind(*golden_id);
                    });
                    query.push(" ON CONFLICT DO NOTHING");
                    query.build().persistent(false).execute(&mut **tx).await.map_err(query_error("indexing customers for search"))?;
                }
                Ok(())
            }

            /// Stages records and rejections and moves the cursor in one
            /// transaction, for [`Store::stage_batch`] and
            /// [`Store::stage_pushed`]. With an `event_id`, the event is
            /// recorded in the same transaction, and `None` is returned
            /// without staging anything when it was recorded before.
            async fn stage_in_transaction(
                &self,
                run_id: Option<i64>,
                connector: &str,
                stream: &str,
                event_id: Option<&str>,
                batch: &StagedBatch,
            ) -> StoreResult<Option<StageCounts>> {
                let now = Utc::now();
                let mut counts = StageCounts {
                    fetched: (batch.records.len() + batch.rejected.len()) as u64,
                    rejected: batch.rejected.len() as u64,
                    ..StageCounts::default()
                };
                let mut tx = self.pool.begin().await.map_err(query_error("staging records"))?;
                if let Some(event_id) = event_id {
                    // Claiming the event id first makes a concurrent
                    // redelivery wait for this transaction, then find it.
                    let claimed = sqlx::query(
                        "INSERT INTO webhook_events (connector, event_id, stream, received_at) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (connector, event_id) DO NOTHING",
                    )
                    .bind(connector)
                    .bind(event_id)
                    .bind(stream)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_error("recording a pushed event"))?
                    .rows_affected();
                    if claimed == 0 {
                        tx.rollback().await.map_err(query_error("recording a pushed event"))?;
                        return Ok(None);
                    }
                }
                // Hash every record once; a key repeated within the batch
                // keeps its last version.
                let mut hashed: Vec<(&str, String, String)> = Vec::with_capacity(batch.records.len());
                let mut position: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
                let mut oversized = Vec::new();
                for record in &batch.records {
                    let raw = record.raw.to_string();
                    if raw.len() > MAX_RECORD_BYTES {
                        oversized.push(crate::store::Rejection {
                            source_id: Some(record.source_id.clone()),
                            reason: format!(
                                "the record is {} bytes of JSON, over the limit of {MAX_RECORD_BYTES}",
                                raw.len()
                            ),
                            // Enough of it to see what it is.
                            raw: raw.chars().take(4096).collect(),
                        });
                        continue;
                    }
                    let hash = content_hash_of_text(&raw);
                    match position.get(record.source_id.as_str()) {
                        Some(&index) => hashed[index] = (record.source_id.as_str(), raw, hash),
                        None => {
                            position.insert(record.source_id.as_str(), hashed.len());
                            hashed.push((record.source_id.as_str(), raw, hash));
                        }
                    }
                }
                counts.unchanged += (batch.records.len() - hashed.len() - oversized.len()) as u64;
                counts.rejected += oversized.len() as u64;
                // What is stored already, in a few round trips for the batch.
                let mut stored: std::collections::HashMap<String, String> = std::collections::HashMap::new();
                for chunk in hashed.chunks(STAGE_CHUNK) {
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "SELECT source_id, content_hash FROM staged_records WHERE connector = ",
                    );
                    query.push_bind(connector).push(" AND stream = ").push_bind(stream).push(" AND source_id IN (");
                    let mut ids = query.separated(", ");
                    for (source_id, _, _) in chunk {
                        ids.push_bind(*source_id);
                    }
                    query.push(")");
                    // Not kept as a prepared statement: PostgreSQL would reuse
                    // a plan made while the table was empty (a sequential
                    // scan) long after the table grew.
                    let rows = query
                        .build()
                        .persistent(false)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(query_error("staging records"))?;
                    stored.extend(rows.into_iter().map(|row| (row.get(0), row.get(1))));
                }
                let mut to_write = Vec::with_capacity(hashed.len());
                for (source_id, raw, hash) in &hashed {
                    match stored.get(*source_id) {
                        Some(previous) if previous == hash => counts.unchanged += 1,
                        Some(_) => {
                            counts.changed += 1;
                            to_write.push((source_id, raw, hash));
                        }
                        None => {
                            counts.new += 1;
                            to_write.push((source_id, raw, hash));
                        }
                    }
                }
                for chunk in to_write.chunks(STAGE_CHUNK) {
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO staged_records (connector, stream, source_id, raw, content_hash, fetched_at, run_id) ",
                    );
                    query.push_values(chunk, |mut row, (source_id, raw, hash)| {
                        row.push_bind(connector)
                            .push_bind(stream)
                            .push_bind(**source_id)
                            .push_bind(raw.as_str())
                            .push_bind(hash.as_str())
                            .push_bind(now)
                            .push_bind(run_id);
                    });
                    query.push(
                        " ON CONFLICT (connector, stream, source_id) DO UPDATE
                         SET raw = excluded.raw, content_hash = excluded.content_hash,
                             fetched_at = excluded.fetched_at, run_id = excluded.run_id",
                    );
                    query
                        .build()
                        .execute(&mut *tx)
                        .await
                        .map_err(query_error("staging records"))?;
                }
                for rejection in batch.rejected.iter().chain(&oversized) {
                    sqlx::query(
                        "INSERT INTO rejected_records (connector, stream, source_id, reason, raw, rejected_at, run_id)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(connector)
                    .bind(stream)
                    .bind(&rejection.source_id)
                    .bind(&rejection.reason)
                    .bind(without_nul(&rejection.raw))
                    .bind(now)
                    .bind(run_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_error("rejecting records"))?;
                }
                if let Some(cursor) = &batch.cursor {
                    sqlx::query(
                        "INSERT INTO connector_state (connector, stream, cursor, updated_at) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (connector, stream) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
                    )
                    .bind(connector)
                    .bind(stream)
                    .bind(cursor.to_string())
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_error("committing a cursor"))?;
                }
                tx.commit().await.map_err(query_error("staging records"))?;
                Ok(Some(counts))
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> Backend {
                $backend
            }

            async fn start_run(&self, kind: &str) -> StoreResult<i64> {
                let row = sqlx::query(
                    "INSERT INTO runs (kind, status, started_at) VALUES ($1, 'running', $2) RETURNING id",
                )
                .bind(kind)
                .bind(Utc::now())
                .fetch_one(&self.pool)
                .await
                .map_err(query_error("starting a run"))?;
                Ok(row.get::<i64, _>(0))
            }

            async fn finish_run(
                &self,
                run_id: i64,
                status: &str,
                summary: &serde_json::Value,
            ) -> StoreResult<()> {
                sqlx::query("UPDATE runs SET status = $1, finished_at = $2, summary = $3 WHERE id = $4")
                    .bind(status)
                    .bind(Utc::now())
                    .bind(Json(summary))
                    .bind(run_id)
                    .execute(&self.pool)
                    .await
                    .map_err(query_error("finishing a run"))?;
                Ok(())
            }

            async fn recent_runs(&self, limit: i64) -> StoreResult<Vec<RunRecord>> {
                let rows = sqlx::query(
                    "SELECT id, kind, status, started_at, finished_at, summary FROM runs ORDER BY id DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("listing runs"))?;
                Ok(rows
                    .into_iter()
                    .map(|row| RunRecord {
                        id: row.get("id"),
                        kind: row.get("kind"),
                        status: row.get("status"),
                        started_at: row.get("started_at"),
                        finished_at: row.get("finished_at"),
                        summary: row.get::<Json<serde_json::Value>, _>("summary").0,
                    })
                    .collect())
            }

            async fn cursor(
                &self,
                connector: &str,
                stream: &str,
            ) -> StoreResult<Option<serde_json::Value>> {
                let row = sqlx::query(
                    "SELECT cursor FROM connector_state WHERE connector = $1 AND stream = $2",
                )
                .bind(connector)
                .bind(stream)
                .fetch_optional(&self.pool)
                .await
                .map_err(query_error("reading a cursor"))?;
                Ok(row.and_then(|row| serde_json::from_str(&row.get::<String, _>(0)).ok()))
            }

            async fn stage_batch(
                &self,
                run_id: i64,
                connector: &str,
                stream: &str,
                batch: &StagedBatch,
            ) -> StoreResult<StageCounts> {
                // Without an event id a batch is always staged.
                Ok(self
                    .stage_in_transaction(Some(run_id), connector, stream, None, batch)
                    .await?
                    .unwrap_or_default())
            }

            async fn stage_pushed(
                &self,
                run_id: Option<i64>,
                connector: &str,
                stream: &str,
                event_id: &str,
                batch: &StagedBatch,
            ) -> StoreResult<Option<StageCounts>> {
                self.stage_in_transaction(run_id, connector, stream, Some(event_id), batch)
                    .await
            }

            async fn pending_mapping(
                &self,
                connector: &str,
                stream: &str,
                mapping_version: &str,
                limit: i64,
            ) -> StoreResult<Vec<StagedRecord>> {
                let rows = sqlx::query(
                    "SELECT source_id, content_hash, raw FROM staged_records
                     WHERE connector = $1 AND stream = $2
                       AND (mapped_hash IS DISTINCT FROM content_hash OR mapping_version IS DISTINCT FROM $3)
                     ORDER BY source_id LIMIT $4",
                )
                .bind(connector)
                .bind(stream)
                .bind(mapping_version)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("reading records to map"))?;
                Ok(rows
                    .into_iter()
                    .map(|row| StagedRecord {
                        source_id: row.get("source_id"),
                        content_hash: row.get("content_hash"),
                        // Staged text was written from a serde_json value.
                        raw: serde_json::from_str(&row.get::<String, _>("raw"))
                            .unwrap_or(serde_json::Value::Null),
                    })
                    .collect())
            }

            async fn save_mapped(
                &self,
                run_id: i64,
                connector: &str,
                stream: &str,
                mapping_version: &str,
                records: &[MappedRecord],
            ) -> StoreResult<(u64, u64)> {
                let now = Utc::now();
                let (mut mapped, mut rejected) = (0, 0);
                let mut tx = self.pool.begin().await.map_err(query_error("saving mapped records"))?;
                for record in records {
                    // This mapping outcome replaces any earlier one: an old
                    // rejection of the record is closed.
                    sqlx::query(
                        "UPDATE rejected_records SET status = 'closed'
                         WHERE connector = $1 AND stream = $2 AND source_id = $3 AND status = 'open'",
                    )
                    .bind(connector)
                    .bind(stream)
                    .bind(&record.source_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_error("closing earlier rejections"))?;
                    match &record.outcome {
                        Ok(Entity::Party(party)) => {
                            sqlx::query(
                                "INSERT INTO parties (connector, source_id, kind, name, phones, emails, company, address,
                                                      strong_ids, attributes, source_updated_at, updated_at)
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                                 ON CONFLICT (connector, source_id) DO UPDATE SET
                                   kind = excluded.kind, name = excluded.name, phones = excluded.phones,
                                   emails = excluded.emails, company = excluded.company, address = excluded.address,
                                   strong_ids = excluded.strong_ids, attributes = excluded.attributes,
                                   source_updated_at = excluded.source_updated_at, updated_at = excluded.updated_at",
                            )
                            .bind(&party.connector)
                            .bind(&party.source_id)
                            .bind(party.kind.as_str())
                            .bind(&party.name)
                            .bind(Json(&party.phones))
                            .bind(Json(&party.emails))
                            .bind(&party.company)
                            .bind(&party.address)
                            .bind(Json(&party.strong_ids))
                            .bind(Json(&party.attributes))
                            .bind(party.source_updated_at)
                            .bind(now)
                            .execute(&mut *tx)
                            .await
                            .map_err(query_error("saving parties"))?;
                            mapped += 1;
                        }
                        Ok(Entity::Order(order)) => {
                            sqlx::query(
                                "INSERT INTO orders (connector, source_id, party_source_id, amount, currency, status, ordered_at, updated_at, number, origin_number, number_key, origin_number_key)
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                                 ON CONFLICT (connector, source_id) DO UPDATE SET
                                   party_source_id = excluded.party_source_id, amount = excluded.amount,
                                   currency = excluded.currency, status = excluded.status,
                                   ordered_at = excluded.ordered_at, updated_at = excluded.updated_at,
                                   number = excluded.number, origin_number = excluded.origin_number,
                                   number_key = excluded.number_key, origin_number_key = excluded.origin_number_key",
                            )
                            .bind(&order.connector)
                            .bind(&order.source_id)
                            .bind(&order.party_source_id)
                            .bind(order.amount)
                            .bind(&order.currency)
                            .bind(order.status.as_str())
                            .bind(order.ordered_at)
                            .bind(now)
                            .bind(order.number.as_deref().map(without_nul))
                            .bind(order.origin_number.as_deref().map(without_nul))
                            .bind(order.number.as_deref().and_then(order_number_key))
                            .bind(order.origin_number.as_deref().and_then(order_number_key))
                            .execute(&mut *tx)
                            .await
                            .map_err(query_error("saving orders"))?;
                            mapped += 1;
                        }
                        Ok(Entity::Ticket(ticket)) => {
                            sqlx::query(
                                "INSERT INTO tickets (connector, source_id, party_source_id, channel, status, created_at, solved_at, satisfaction)
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                                 ON CONFLICT (connector, source_id) DO UPDATE SET
                                   party_source_id = excluded.party_source_id, channel = excluded.channel,
                                   status = excluded.status, created_at = excluded.created_at,
                                   solved_at = excluded.solved_at, satisfaction = excluded.satisfaction",
                            )
                            .bind(&ticket.connector)
                            .bind(&ticket.source_id)
                            .bind(&ticket.party_source_id)
                            .bind(&ticket.channel)
                            .bind(&ticket.status)
                            .bind(ticket.created_at)
                            .bind(ticket.solved_at)
                            .bind(&ticket.satisfaction)
                            .execute(&mut *tx)
                            .await
                            .map_err(query_error("saving tickets"))?;
                            mapped += 1;
                        }
                        Ok(Entity::Call(call)) => {
                            sqlx::query(
                                "INSERT INTO calls (connector, source_id, caller, callee, direction, started_at, talk_seconds, disposition)
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                                 ON CONFLICT (connector, source_id) DO UPDATE SET
                                   caller = excluded.caller, callee = excluded.callee, direction = excluded.direction,
                                   started_at = excluded.started_at, talk_seconds = excluded.talk_seconds,
                                   disposition = excluded.disposition",
                            )
                            .bind(&call.connector)
                            .bind(&call.source_id)
                            .bind(&call.caller)
                            .bind(&call.callee)
                            .bind(&call.direction)
                            .bind(call.started_at)
                            .bind(call.talk_seconds)
                            .bind(&call.disposition)
                            .execute(&mut *tx)
                            .await
                            .map_err(query_error("saving calls"))?;
                            mapped += 1;
                        }
                        Ok(Entity::Message(message)) => {
                            sqlx::query(
                                "INSERT INTO messages (connector, source_id, party_source_id, phone, channel, sent_at)
                                 VALUES ($1, $2, $3, $4, $5, $6)
                                 ON CONFLICT (connector, source_id) DO UPDATE SET
                                   party_source_id = excluded.party_source_id, phone = excluded.phone,
                                   channel = excluded.channel, sent_at = excluded.sent_at",
                            )
                            .bind(&message.connector)
                            .bind(&message.source_id)
                            .bind(&message.party_source_id)
                            .bind(&message.phone)
                            .bind(&message.channel)
                            .bind(message.sent_at)
                            .execute(&mut *tx)
                            .await
                            .map_err(query_error("saving messages"))?;
                            mapped += 1;
                        }
                        Err(reason) => {
                            sqlx::query(
                                "INSERT INTO rejected_records (connector, stream, source_id, reason, raw, rejected_at, run_id)
                                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                            )
                            .bind(connector)
                            .bind(stream)
                            .bind(&record.source_id)
                            .bind(reason)
                            .bind(record.raw.to_string())
                            .bind(now)
                            .bind(run_id)
                            .execute(&mut *tx)
                            .await
                            .map_err(query_error("rejecting records"))?;
                            rejected += 1;
                        }
                    }
                    sqlx::query(
                        "UPDATE staged_records SET mapped_hash = $1, mapping_version = $2
                         WHERE connector = $3 AND stream = $4 AND source_id = $5",
                    )
                    .bind(&record.content_hash)
                    .bind(mapping_version)
                    .bind(connector)
                    .bind(stream)
                    .bind(&record.source_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_error("marking records mapped"))?;
                }
                tx.commit().await.map_err(query_error("saving mapped records"))?;
                Ok((mapped, rejected))
            }

            async fn rejected(
                &self,
                connector: Option<&str>,
                limit: i64,
            ) -> StoreResult<Vec<RejectedRecord>> {
                let rows = sqlx::query(
                    "SELECT id, connector, stream, source_id, reason, raw, rejected_at, status FROM rejected_records
                     WHERE ($1 IS NULL OR connector = $1) ORDER BY id DESC LIMIT $2",
                )
                .bind(connector)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("listing rejected records"))?;
                Ok(rows.into_iter().map(|row| rejected_from_row(&row)).collect())
            }

            async fn rejected_record(&self, id: i64) -> StoreResult<Option<RejectedRecord>> {
                let row = sqlx::query(
                    "SELECT id, connector, stream, source_id, reason, raw, rejected_at, status FROM rejected_records WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(query_error("reading a rejected record"))?;
                Ok(row.map(|row| rejected_from_row(&row)))
            }

            async fn retry_rejected(&self, ids: &[i64]) -> StoreResult<RetryOutcome> {
                let mut outcome = RetryOutcome::default();
                let mut tx = self.pool.begin().await.map_err(query_error("retrying rejected records"))?;
                for id in ids {
                    let row = sqlx::query(
                        "SELECT connector, stream, source_id FROM rejected_records WHERE id = $1 AND status = 'open'",
                    )
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(query_error("retrying rejected records"))?;
                    let Some(row) = row else { continue };
                    let (connector, stream, source_id): (String, String, Option<String>) =
                        (row.get("connector"), row.get("stream"), row.get("source_id"));
                    let remapped = sqlx::query(
                        "UPDATE staged_records SET mapped_hash = NULL
                         WHERE connector = $1 AND stream = $2 AND source_id = $3",
                    )
                    .bind(&connector)
                    .bind(&stream)
                    .bind(&source_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_error("retrying rejected records"))?
                    .rows_affected();
                    if remapped > 0 {
                        outcome.remapped += 1;
                    } else {
                        sqlx::query("DELETE FROM connector_state WHERE connector = $1 AND stream = $2")
                            .bind(&connector)
                            .bind(&stream)
                            .execute(&mut *tx)
                            .await
                            .map_err(query_error("retrying rejected records"))?;
                        outcome.refetched += 1;
                    }
                    sqlx::query("UPDATE rejected_records SET status = 'retried' WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(query_error("retrying rejected records"))?;
                }
                tx.commit().await.map_err(query_error("retrying rejected records"))?;
                Ok(outcome)
            }

            async fn reset_cursors(&self, connector: &str) -> StoreResult<u64> {
                let result = sqlx::query("DELETE FROM connector_state WHERE connector = $1")
                    .bind(connector)
                    .execute(&self.pool)
                    .await
                    .map_err(query_error("resetting cursors"))?;
                Ok(result.rows_affected())
            }

            async fn parties(&self) -> StoreResult<Vec<StoredParty>> {
                let rows = sqlx::query(
                    "SELECT id, connector, source_id, kind, name, phones, emails, company, address,
                            strong_ids, attributes, source_updated_at
                     FROM parties ORDER BY connector, source_id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("loading parties"))?;
                Ok(rows
                    .iter()
                    .map(|row| StoredParty {
                        id: row.get("id"),
                        party: party_from_row(row),
                    })
                    .collect())
            }

            async fn order_citations(&self) -> StoreResult<Vec<crate::model::OrderCitation>> {
                let mut rows = sqlx::query(
                    "SELECT r.connector AS citing_connector, r.party_source_id AS citing_party,
                            r.source_id AS citing_order, o.connector AS cited_connector,
                            o.party_source_id AS cited_party, o.number
                     FROM orders r
                     JOIN orders o ON o.number_key = r.origin_number_key AND o.connector <> r.connector
                     WHERE r.origin_number_key IS NOT NULL
                     ORDER BY r.connector, r.source_id, o.connector, o.source_id",
                )
                .fetch(&self.pool);
                let mut citations = Vec::new();
                while let Some(row) = rows.try_next().await.map_err(query_error("loading order citations"))? {
                    citations.push(crate::model::OrderCitation {
                        citing_party: PartyKey {
                            connector: row.get("citing_connector"),
                            source_id: row.get("citing_party"),
                        },
                        citing_order: row.get("citing_order"),
                        cited_party: PartyKey {
                            connector: row.get("cited_connector"),
                            source_id: row.get("cited_party"),
                        },
                        number: row.get("number"),
                    });
                }
                Ok(citations)
            }

            async fn order_facts(&self) -> StoreResult<Vec<OrderFact>> {
                let rows = sqlx::query(
                    "SELECT l.golden_id, o.connector, o.source_id, o.amount, o.status, o.ordered_at,
                            CASE WHEN o.origin_number_key IS NOT NULL AND EXISTS (
                                SELECT 1 FROM orders c
                                JOIN golden_links cl ON cl.connector = c.connector AND cl.source_id = c.party_source_id
                                WHERE c.number_key = o.origin_number_key AND c.connector <> o.connector
                                  AND cl.golden_id = l.golden_id
                            ) THEN 1 ELSE 0 END AS copy
                     FROM orders o
                     JOIN golden_links l ON l.connector = o.connector AND l.source_id = o.party_source_id
                     ORDER BY l.golden_id, o.ordered_at",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("loading orders"))?;
                Ok(rows
                    .into_iter()
                    .map(|row| OrderFact {
                        golden_id: row.get("golden_id"),
                        connector: row.get("connector"),
                        source_id: row.get("source_id"),
                        amount: row.get("amount"),
                        status: row.get("status"),
                        ordered_at: row.get("ordered_at"),
                        copy: row.get::<i32, _>("copy") == 1,
                    })
                    .collect())
            }

            async fn paid_spend(&self, golden_ids: &[String]) -> StoreResult<BTreeMap<String, f64>> {
                let mut spend = BTreeMap::new();
                for golden_id in golden_ids {
                    let total: Option<f64> = sqlx::query_scalar(
                        "SELECT SUM(o.amount) FROM golden_links l
                         JOIN orders o ON o.connector = l.connector AND o.party_source_id = l.source_id
                         WHERE l.golden_id = $1 AND o.status = 'paid'
                           AND NOT (o.origin_number_key IS NOT NULL AND EXISTS (
                               SELECT 1 FROM orders c
                               JOIN golden_links cl ON cl.connector = c.connector AND cl.source_id = c.party_source_id
                               WHERE c.number_key = o.origin_number_key AND c.connector <> o.connector
                                 AND cl.golden_id = l.golden_id
                           ))",
                    )
                    .bind(golden_id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(query_error("summing a customer's paid orders"))?;
                    spend.insert(golden_id.clone(), total.unwrap_or(0.0));
                }
                Ok(spend)
            }

            async fn tickets(&self) -> StoreResult<Vec<Ticket>> {
                let rows = sqlx::query(
                    "SELECT connector, source_id, party_source_id, channel, status, created_at, solved_at, satisfaction
                     FROM tickets ORDER BY connector, source_id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("loading tickets"))?;
                Ok(rows.into_iter().map(|row| Ticket {
                    connector: row.get("connector"),
                    source_id: row.get("source_id"),
                    party_source_id: row.get("party_source_id"),
                    channel: row.get("channel"),
                    status: row.get("status"),
                    created_at: row.get("created_at"),
                    solved_at: row.get("solved_at"),
                    satisfaction: row.get("satisfaction"),
                }).collect())
            }

            async fn calls(&self) -> StoreResult<Vec<Call>> {
                let rows = sqlx::query(
                    "SELECT connector, source_id, caller, callee, direction, started_at, talk_seconds, disposition
                     FROM calls ORDER BY connector, source_id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("loading calls"))?;
                Ok(rows.into_iter().map(|row| Call {
                    connector: row.get("connector"),
                    source_id: row.get("source_id"),
                    caller: row.get("caller"),
                    callee: row.get("callee"),
                    direction: row.get("direction"),
                    started_at: row.get("started_at"),
                    talk_seconds: row.get("talk_seconds"),
                    disposition: row.get("disposition"),
                }).collect())
            }

            async fn messages(&self) -> StoreResult<Vec<Message>> {
                let rows = sqlx::query(
                    "SELECT connector, source_id, party_source_id, phone, channel, sent_at
                     FROM messages ORDER BY connector, source_id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("loading messages"))?;
                Ok(rows.into_iter().map(|row| Message {
                    connector: row.get("connector"),
                    source_id: row.get("source_id"),
                    party_source_id: row.get("party_source_id"),
                    phone: row.get("phone"),
                    channel: row.get("channel"),
                    sent_at: row.get("sent_at"),
                }).collect())
            }

            async fn golden_links(&self) -> StoreResult<Vec<GoldenLink>> {
                let rows = sqlx::query(
                    "SELECT connector, source_id, golden_id, evidence FROM golden_links ORDER BY connector, source_id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("loading golden links"))?;
                Ok(rows
                    .into_iter()
                    .map(|row| golden_link_from_row(&row))
                    .collect())
            }

            async fn golden_link_states(&self) -> StoreResult<Vec<LinkState>> {
                let mut rows = sqlx::query(
                    "SELECT connector, source_id, golden_id, evidence FROM golden_links ORDER BY connector, source_id",
                )
                .fetch(&self.pool);
                let mut states = Vec::new();
                while let Some(row) = rows.try_next().await.map_err(query_error("loading golden links"))? {
                    states.push(LinkState::of(&golden_link_from_row(&row)));
                }
                Ok(states)
            }

            async fn golden_customer_states(&self) -> StoreResult<Vec<CustomerState>> {
                // One row per lineage entry, a customer's rows together.
                let mut rows = sqlx::query(
                    "SELECT g.golden_id, g.fields, l.field, l.connector, l.source_id \
                     FROM golden_customers g LEFT JOIN field_lineage l ON l.golden_id = g.golden_id \
                     WHERE g.status = 'active' ORDER BY g.golden_id, l.field",
                )
                .fetch(&self.pool);
                let mut states = Vec::new();
                let mut current: Option<GoldenCustomer> = None;
                while let Some(row) = rows.try_next().await.map_err(query_error("loading golden customers"))? {
                    let golden_id: String = row.get("golden_id");
                    let customer = match current.take() {
                        Some(customer) if customer.golden_id == golden_id => customer,
                        finished => {
                            states.extend(finished.as_ref().map(CustomerState::of));
                            GoldenCustomer {
                                fields: row
                                    .get::<Json<BTreeMap<String, serde_json::Value>>, _>("fields")
                                    .0,
                                lineage: BTreeMap::new(),
                                golden_id,
                            }
                        }
                    };
                    let customer = current.insert(customer);
                    if let Some(field) = row.get::<Option<String>, _>("field") {
                        customer.lineage.insert(
                            field,
                            PartyKey {
                                connector: row.get("connector"),
                                source_id: row.get("source_id"),
                            },
                        );
                    }
                }
                states.extend(current.as_ref().map(CustomerState::of));
                Ok(states)
            }

            async fn golden_customers(&self) -> StoreResult<Vec<GoldenCustomer>> {
                let rows = sqlx::query(
                    "SELECT golden_id, fields FROM golden_customers WHERE status = 'active' ORDER BY golden_id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("loading golden customers"))?;
                let lineage_rows = sqlx::query(
                    "SELECT golden_id, field, connector, source_id FROM field_lineage ORDER BY golden_id, field",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("loading field lineage"))?;
                let mut lineage: BTreeMap<String, BTreeMap<String, PartyKey>> = BTreeMap::new();
                for row in lineage_rows {
                    lineage.entry(row.get("golden_id")).or_default().insert(
                        row.get("field"),
                        PartyKey {
                            connector: row.get("connector"),
                            source_id: row.get("source_id"),
                        },
                    );
                }
                Ok(rows
                    .into_iter()
                    .map(|row| {
                        let golden_id: String = row.get("golden_id");
                        GoldenCustomer {
                            lineage: lineage.remove(&golden_id).unwrap_or_default(),
                            fields: row
                                .get::<Json<BTreeMap<String, serde_json::Value>>, _>("fields")
                                .0,
                            golden_id,
                        }
                    })
                    .collect())
            }

            async fn save_resolution(&self, changes: &crate::store::ResolutionChanges) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(query_error("saving golden records"))?;
                Self::write_resolution(&mut tx, changes, Utc::now()).await?;
                tx.commit().await.map_err(query_error("saving golden records"))?;
                Ok(())
            }

            async fn save_resolution_slices(
                &self,
                slices: &mut (dyn Iterator<Item = crate::store::ResolutionChanges> + Send),
            ) -> StoreResult<()> {
                let now = Utc::now();
                let mut tx = self.pool.begin().await.map_err(query_error("saving golden records"))?;
                for slice in slices {
                    Self::write_resolution(&mut tx, &slice, now).await?;
                }
                tx.commit().await.map_err(query_error("saving golden records"))?;
                Ok(())
            }

            async fn search_customers(
                &self,
                prefix: Option<&str>,
                tier: Option<&str>,
                limit: i64,
            ) -> StoreResult<Vec<CustomerHit>> {
                let select = "SELECT g.golden_id, g.fields, t.tier,
                        (SELECT COUNT(*) FROM golden_links l WHERE l.golden_id = g.golden_id) AS records
                     FROM golden_customers g LEFT JOIN tier_assignments t ON t.golden_id = g.golden_id";
                let rows = match (prefix, tier) {
                    (Some(prefix), tier) => {
                        // Distinct customers among the first matching terms,
                        // so a one-letter prefix stays a bounded range scan.
                        sqlx::query(&format!(
                            "{select} WHERE g.golden_id IN (SELECT DISTINCT golden_id FROM
                                (SELECT golden_id FROM customer_search WHERE term >= $1 AND term < $2 ORDER BY term LIMIT $3) matched)
                             AND g.status = 'active' AND ($4 = '' OR t.tier = $4)
                             ORDER BY g.golden_id LIMIT $5"
                        ))
                        .bind(prefix)
                        .bind(crate::golden::search::prefix_end(prefix))
                        .bind(limit.saturating_mul(20).max(1000))
                        .bind(tier.unwrap_or(""))
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await
                    }
                    (None, Some(tier)) => {
                        sqlx::query(&format!(
                            "{select} WHERE t.tier = $1 AND g.status = 'active' ORDER BY g.golden_id LIMIT $2"
                        ))
                        .bind(tier)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await
                    }
                    (None, None) => {
                        sqlx::query(&format!("{select} WHERE g.status = 'active' ORDER BY g.golden_id LIMIT $1"))
                            .bind(limit)
                            .fetch_all(&self.pool)
                            .await
                    }
                }
                .map_err(query_error("searching customers"))?;
                Ok(rows
                    .into_iter()
                    .map(|row| CustomerHit {
                        golden_id: row.get("golden_id"),
                        fields: row.get::<Json<BTreeMap<String, serde_json::Value>>, _>("fields").0,
                        tier: row.get("tier"),
                        records: row.get("records"),
                    })
                    .collect())
            }

            async fn index_customers_for_search(&self) -> StoreResult<u64> {
                let indexed: Option<String> = sqlx::query_scalar("SELECT golden_id FROM customer_search LIMIT 1")
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(query_error("indexing customers for search"))?;
                if indexed.is_some() {
                    return Ok(0);
                }
                let customers = self.golden_customers().await?;
                let mut tx = self.pool.begin().await.map_err(query_error("indexing customers for search"))?;
                Self::replace_search_terms(&mut tx, &customers, &[]).await?;
                tx.commit().await.map_err(query_error("indexing customers for search"))?;
                Ok(customers.len() as u64)
            }

            async fn golden_id_of(&self, party: &PartyKey) -> StoreResult<Option<String>> {
                sqlx::query_scalar("SELECT golden_id FROM golden_links WHERE connector = $1 AND source_id = $2")
                    .bind(&party.connector)
                    .bind(&party.source_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(query_error("finding a record's golden customer"))
            }

            async fn golden_members(&self, golden_id: &str) -> StoreResult<Vec<GoldenLink>> {
                let rows = sqlx::query(
                    "SELECT connector, source_id, golden_id, evidence FROM golden_links WHERE golden_id = $1
                     ORDER BY connector, source_id",
                )
                .bind(golden_id)
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("loading a golden customer's links"))?;
                Ok(rows
                    .into_iter()
                    .map(|row| golden_link_from_row(&row))
                    .collect())
            }

            async fn golden_customer(&self, golden_id: &str) -> StoreResult<Option<GoldenCustomer>> {
                let Some(row) = sqlx::query(
                    "SELECT fields FROM golden_customers WHERE golden_id = $1 AND status = 'active'",
                )
                .bind(golden_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(query_error("loading a golden customer"))?
                else {
                    return Ok(None);
                };
                let lineage = sqlx::query(
                    "SELECT field, connector, source_id FROM field_lineage WHERE golden_id = $1 ORDER BY field",
                )
                .bind(golden_id)
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("loading field lineage"))?
                .into_iter()
                .map(|row| {
                    (
                        row.get::<String, _>("field"),
                        PartyKey {
                            connector: row.get("connector"),
                            source_id: row.get("source_id"),
                        },
                    )
                })
                .collect();
                Ok(Some(GoldenCustomer {
                    golden_id: golden_id.to_string(),
                    fields: row.get::<Json<BTreeMap<String, serde_json::Value>>, _>("fields").0,
                    lineage,
                }))
            }

            async fn parties_by_keys(&self, keys: &[PartyKey]) -> StoreResult<Vec<Party>> {
                let mut parties = Vec::with_capacity(keys.len());
                for key in keys {
                    let row = sqlx::query(
                        "SELECT connector, source_id, kind, name, phones, emails, company, address,
                                strong_ids, attributes, source_updated_at
                         FROM parties WHERE connector = $1 AND source_id = $2",
                    )
                    .bind(&key.connector)
                    .bind(&key.source_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(query_error("loading parties"))?;
                    parties.extend(row.as_ref().map(party_from_row));
                }
                Ok(parties)
            }

            async fn parties_updated_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<Party>> {
                let rows = sqlx::query(
                    "SELECT connector, source_id, kind, name, phones, emails, company, address,
                            strong_ids, attributes, source_updated_at
                     FROM parties WHERE updated_at >= $1 ORDER BY connector, source_id",
                )
                .bind(since)
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("loading changed parties"))?;
                Ok(rows.iter().map(party_from_row).collect())
            }

            async fn golden_id_record(&self, golden_id: &str) -> StoreResult<Option<GoldenIdRecord>> {
                let row = sqlx::query(
                    "SELECT golden_id, status, merged_into, created_at FROM golden_customers WHERE golden_id = $1",
                )
                .bind(golden_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(query_error("loading a golden id"))?;
                Ok(row.map(|row| GoldenIdRecord {
                    golden_id: row.get("golden_id"),
                    status: row.get("status"),
                    merged_into: row.get("merged_into"),
                    created_at: row.get("created_at"),
                }))
            }

            async fn golden_ids(&self) -> StoreResult<Vec<GoldenIdRecord>> {
                let rows = sqlx::query(
                    "SELECT golden_id, status, merged_into, created_at FROM golden_customers ORDER BY golden_id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("loading golden ids"))?;
                Ok(rows.into_iter().map(|row| GoldenIdRecord {
                    golden_id: row.get("golden_id"),
                    status: row.get("status"),
                    merged_into: row.get("merged_into"),
                    created_at: row.get("created_at"),
                }).collect())
            }

            async fn id_lineage(&self, golden_id: &str) -> StoreResult<Vec<IdLineage>> {
                let rows = sqlx::query(
                    "SELECT new_id, old_id, reason FROM golden_id_lineage WHERE new_id = $1 OR old_id = $1 ORDER BY id",
                )
                .bind(golden_id)
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("loading golden id lineage"))?;
                Ok(rows.into_iter().map(|row| IdLineage {
                    new_id: row.get("new_id"),
                    old_id: row.get("old_id"),
                    reason: row.get("reason"),
                }).collect())
            }

            async fn customer_activity(
                &self,
                records: &[PartyKey],
                phones: &[String],
            ) -> StoreResult<CustomerActivity> {
                let mut activity = CustomerActivity::default();
                for record in records {
                    let raw = sqlx::query(
                        "SELECT stream, raw FROM staged_records WHERE connector = $1 AND source_id = $2 ORDER BY stream",
                    )
                    .bind(&record.connector)
                    .bind(&record.source_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(query_error("loading raw records"))?;
                    let by_stream = raw
                        .into_iter()
                        .map(|row| {
                            let text: String = row.get("raw");
                            let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
                            (row.get::<String, _>("stream"), value)
                        })
                        .collect();
                    activity.raw_records.insert(record.to_string(), by_stream);
                    let orders = sqlx::query(
                        "SELECT connector, source_id, party_source_id, amount, currency, status, ordered_at, number, origin_number
                         FROM orders WHERE connector = $1 AND party_source_id = $2 ORDER BY ordered_at, source_id",
                    )
                    .bind(&record.connector)
                    .bind(&record.source_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(query_error("loading a customer's orders"))?;
                    activity.orders.extend(orders.into_iter().map(|row| crate::model::Order {
                        connector: row.get("connector"),
                        source_id: row.get("source_id"),
                        party_source_id: row.get("party_source_id"),
                        amount: row.get("amount"),
                        currency: row.get("currency"),
                        status: crate::model::OrderStatus::parse(&row.get::<String, _>("status")).unwrap_or_default(),
                        ordered_at: row.get("ordered_at"),
                        number: row.get("number"),
                        origin_number: row.get("origin_number"),
                    }));
                    let tickets = sqlx::query(
                        "SELECT connector, source_id, party_source_id, channel, status, created_at, solved_at, satisfaction
                         FROM tickets WHERE connector = $1 AND party_source_id = $2 ORDER BY created_at, source_id",
                    )
                    .bind(&record.connector)
                    .bind(&record.source_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(query_error("loading a customer's tickets"))?;
                    activity.tickets.extend(tickets.into_iter().map(|row| crate::model::Ticket {
                        connector: row.get("connector"),
                        source_id: row.get("source_id"),
                        party_source_id: row.get("party_source_id"),
                        channel: row.get("channel"),
                        status: row.get("status"),
                        created_at: row.get("created_at"),
                        solved_at: row.get("solved_at"),
                        satisfaction: row.get("satisfaction"),
                    }));
                    let messages = sqlx::query(
                        "SELECT connector, source_id, party_source_id, phone, channel, sent_at
                         FROM messages WHERE connector = $1 AND party_source_id = $2 ORDER BY sent_at, source_id",
                    )
                    .bind(&record.connector)
                    .bind(&record.source_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(query_error("loading a customer's messages"))?;
                    activity.messages.extend(messages.into_iter().map(|row| crate::model::Message {
                        connector: row.get("connector"),
                        source_id: row.get("source_id"),
                        party_source_id: row.get("party_source_id"),
                        phone: row.get("phone"),
                        channel: row.get("channel"),
                        sent_at: row.get("sent_at"),
                    }));
                }
                for phone in phones {
                    let calls = sqlx::query(
                        "SELECT connector, source_id, caller, callee, direction, started_at, talk_seconds, disposition
                         FROM calls WHERE caller = $1 OR callee = $1 ORDER BY started_at, source_id",
                    )
                    .bind(phone)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(query_error("loading a customer's calls"))?;
                    for row in calls {
                        let call = crate::model::Call {
                            connector: row.get("connector"),
                            source_id: row.get("source_id"),
                            caller: row.get("caller"),
                            callee: row.get("callee"),
                            direction: row.get("direction"),
                            started_at: row.get("started_at"),
                            talk_seconds: row.get("talk_seconds"),
                            disposition: row.get("disposition"),
                        };
                        if !activity.calls.contains(&call) {
                            activity.calls.push(call);
                        }
                    }
                }
                activity.calls.sort_by(|a, b| a.started_at.cmp(&b.started_at).then_with(|| a.source_id.cmp(&b.source_id)));
                Ok(activity)
            }

            async fn save_review_items(&self, candidates: &[ReviewCandidate]) -> StoreResult<u64> {
                let now = Utc::now();
                let mut new = 0;
                let mut tx = self.pool.begin().await.map_err(query_error("saving review items"))?;
                for candidate in candidates {
                    let (left, right) = if candidate.left <= candidate.right {
                        (&candidate.left, &candidate.right)
                    } else {
                        (&candidate.right, &candidate.left)
                    };
                    let inserted = sqlx::query(
                        "INSERT INTO review_queue (left_connector, left_source_id, right_connector, right_source_id,
                                                   score, match_weight, evidence, priority, status, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9)
                         ON CONFLICT (left_connector, left_source_id, right_connector, right_source_id) DO NOTHING",
                    )
                    .bind(&left.connector)
                    .bind(&left.source_id)
                    .bind(&right.connector)
                    .bind(&right.source_id)
                    .bind(candidate.probability)
                    .bind(candidate.match_weight)
                    .bind(Json(&candidate.explanation))
                    .bind(candidate.priority)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_error("saving review items"))?
                    .rows_affected();
                    if inserted > 0 {
                        new += 1;
                        continue;
                    }
                    // Known pair: an open or settled item takes the new
                    // score and is open; a decided one stays.
                    sqlx::query(
                        "UPDATE review_queue SET score = $1, match_weight = $2, evidence = $3, priority = $4,
                                                status = 'open', decided_at = NULL
                         WHERE left_connector = $5 AND left_source_id = $6 AND right_connector = $7
                           AND right_source_id = $8 AND status IN ('open', 'settled')",
                    )
                    .bind(candidate.probability)
                    .bind(candidate.match_weight)
                    .bind(Json(&candidate.explanation))
                    .bind(candidate.priority)
                    .bind(&left.connector)
                    .bind(&left.source_id)
                    .bind(&right.connector)
                    .bind(&right.source_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_error("saving review items"))?;
                }
                tx.commit().await.map_err(query_error("saving review items"))?;
                Ok(new)
            }

            async fn settle_review_items(&self, pairs: &[(PartyKey, PartyKey)]) -> StoreResult<u64> {
                let now = Utc::now();
                let mut settled = 0;
                let mut tx = self.pool.begin().await.map_err(query_error("settling review items"))?;
                for (a, b) in pairs {
                    let (left, right) = if a <= b { (a, b) } else { (b, a) };
                    settled += sqlx::query(
                        "UPDATE review_queue SET status = 'settled', decided_at = $1
                         WHERE left_connector = $2 AND left_source_id = $3 AND right_connector = $4
                           AND right_source_id = $5 AND status = 'open'",
                    )
                    .bind(now)
                    .bind(&left.connector)
                    .bind(&left.source_id)
                    .bind(&right.connector)
                    .bind(&right.source_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_error("settling review items"))?
                    .rows_affected();
                }
                tx.commit().await.map_err(query_error("settling review items"))?;
                Ok(settled)
            }

            async fn open_review_items(&self, limit: i64) -> StoreResult<Vec<ReviewItem>> {
                let rows = sqlx::query(&format!(
                    "SELECT {REVIEW_COLUMNS} FROM review_queue WHERE status = 'open' ORDER BY priority DESC, id LIMIT $1"
                ))
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("listing review items"))?;
                Ok(rows.iter().map(review_item_from_row).collect())
            }

            async fn tiers_by_connector(&self) -> StoreResult<BTreeMap<String, BTreeMap<String, i64>>> {
                let rows = sqlx::query(
                    "SELECT l.connector, t.tier, COUNT(DISTINCT l.golden_id) AS customers
                     FROM golden_links l JOIN tier_assignments t ON t.golden_id = l.golden_id
                     GROUP BY l.connector, t.tier",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("counting tiers per system"))?;
                let mut counts: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
                for row in rows {
                    counts
                        .entry(row.get("connector"))
                        .or_default()
                        .insert(row.get("tier"), row.get("customers"));
                }
                Ok(counts)
            }

            async fn open_review_count(&self) -> StoreResult<i64> {
                sqlx::query_scalar("SELECT COUNT(*) FROM review_queue WHERE status = 'open'")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(query_error("counting review items"))
            }

            async fn review_item(&self, id: i64) -> StoreResult<Option<ReviewItem>> {
                let row = sqlx::query(&format!("SELECT {REVIEW_COLUMNS} FROM review_queue WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(query_error("loading a review item"))?;
                Ok(row.as_ref().map(review_item_from_row))
            }

            async fn record_decision(&self, new: &NewDecision) -> StoreResult<StewardDecision> {
                use chrono::SubsecRound;
                // Microseconds: what PostgreSQL keeps, so the hashed time
                // reads back exactly.
                let now = Utc::now().trunc_subsecs(6);
                let payload = serde_json::to_string(&new.decision)
                    .map_err(|error| super::StoreError::Refused(format!("cannot encode the decision: {error}")))?;
                let mut tx = self.pool.begin().await.map_err(query_error("recording a decision"))?;
                let id: i64 = sqlx::query(
                    "INSERT INTO steward_decisions (kind, payload, actor, reason, created_at)
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(new.decision.action())
                .bind(&payload)
                .bind(&new.actor)
                .bind(&new.reason)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(query_error("recording a decision"))?
                .get(0);
                match &new.decision {
                    Decision::AcceptMatch { review_id, .. } | Decision::RejectMatch { review_id, .. } => {
                        let status = if matches!(new.decision, Decision::AcceptMatch { .. }) { "accepted" } else { "rejected" };
                        let closed = sqlx::query(
                            "UPDATE review_queue SET status = $1, decided_at = $2, decision_id = $3
                             WHERE id = $4 AND status = 'open'",
                        )
                        .bind(status)
                        .bind(now)
                        .bind(id)
                        .bind(review_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(query_error("closing a review item"))?
                        .rows_affected();
                        if closed == 0 {
                            return Err(super::StoreError::Refused(format!(
                                "review item {review_id} does not exist or is already decided"
                            )));
                        }
                    }
                    Decision::Undo { decision_id } => {
                        let undone = sqlx::query(
                            "UPDATE steward_decisions SET undone_at = $1 WHERE id = $2 AND undone_at IS NULL AND kind <> 'undo'",
                        )
                        .bind(now)
                        .bind(decision_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(query_error("undoing a decision"))?
                        .rows_affected();
                        if undone == 0 {
                            return Err(super::StoreError::Refused(format!(
                                "decision {decision_id} does not exist, is an undo, or is undone already"
                            )));
                        }
                        // An undone review decision reopens its item.
                        sqlx::query(
                            "UPDATE review_queue SET status = 'open', decided_at = NULL, decision_id = NULL WHERE decision_id = $1",
                        )
                        .bind(decision_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(query_error("reopening a review item"))?;
                    }
                    Decision::Merge { .. } | Decision::Split { .. } | Decision::SetField { .. } => {}
                }
                let prev_hash: String = sqlx::query("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(query_error("reading the audit chain"))?
                    .map(|row| row.get(0))
                    .unwrap_or_else(|| crate::steward::audit::GENESIS_HASH.to_string());
                let audit_payload = serde_json::json!({ "decision_id": id, "decision": &new.decision });
                let hash = crate::steward::audit::entry_hash(
                    &prev_hash,
                    &crate::steward::audit::AuditFields {
                        at: now,
                        actor: &new.actor,
                        action: new.decision.action(),
                        payload: &audit_payload,
                        reason: new.reason.as_deref(),
                    },
                );
                sqlx::query(
                    "INSERT INTO audit_log (at, actor, action, payload, reason, prev_hash, hash)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(now)
                .bind(&new.actor)
                .bind(new.decision.action())
                .bind(crate::steward::audit::canonical_json(&audit_payload))
                .bind(&new.reason)
                .bind(&prev_hash)
                .bind(&hash)
                .execute(&mut *tx)
                .await
                .map_err(query_error("appending to the audit log"))?;
                tx.commit().await.map_err(query_error("recording a decision"))?;
                Ok(StewardDecision {
                    id,
                    decision: new.decision.clone(),
                    actor: new.actor.clone(),
                    reason: new.reason.clone(),
                    created_at: now,
                    undone_at: None,
                })
            }

            async fn decisions(&self) -> StoreResult<Vec<StewardDecision>> {
                let rows = sqlx::query(
                    "SELECT id, payload, actor, reason, created_at, undone_at FROM steward_decisions ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("loading steward decisions"))?;
                rows.into_iter()
                    .map(|row| {
                        let id: i64 = row.get("id");
                        let decision = serde_json::from_str(&row.get::<String, _>("payload")).map_err(|error| {
                            super::StoreError::Refused(format!("steward decision {id} cannot be read: {error}"))
                        })?;
                        Ok(StewardDecision {
                            id,
                            decision,
                            actor: row.get("actor"),
                            reason: row.get("reason"),
                            created_at: row.get("created_at"),
                            undone_at: row.get("undone_at"),
                        })
                    })
                    .collect()
            }

            async fn audit_log(&self) -> StoreResult<Vec<AuditEntry>> {
                let rows = sqlx::query(
                    "SELECT id, at, actor, action, payload, reason, prev_hash, hash FROM audit_log ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("loading the audit log"))?;
                Ok(rows.into_iter().map(|row| {
                    let text: String = row.get("payload");
                    AuditEntry {
                        id: row.get("id"),
                        at: row.get("at"),
                        actor: row.get("actor"),
                        action: row.get("action"),
                        // Text that is not JSON (tampered) still shows, and fails verification.
                        payload: serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
                        reason: row.get("reason"),
                        prev_hash: row.get("prev_hash"),
                        hash: row.get("hash"),
                    }
                }).collect())
            }

            async fn tier_assignments(&self) -> StoreResult<Vec<TierAssignment>> {
                let rows = sqlx::query(
                    "SELECT golden_id, tier, rule, reason, rules_version, assigned_at FROM tier_assignments ORDER BY golden_id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("loading tier assignments"))?;
                Ok(rows.iter().map(tier_assignment_from_row).collect())
            }

            async fn tier_assignment(&self, golden_id: &str) -> StoreResult<Option<TierAssignment>> {
                let row = sqlx::query(
                    "SELECT golden_id, tier, rule, reason, rules_version, assigned_at FROM tier_assignments WHERE golden_id = $1",
                )
                .bind(golden_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(query_error("loading a tier assignment"))?;
                Ok(row.as_ref().map(tier_assignment_from_row))
            }

            async fn save_tier_changes(&self, changes: &[TierChange]) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(query_error("saving tiers"))?;
                for change in changes {
                    let assignment = &change.assignment;
                    sqlx::query(
                        "INSERT INTO tier_assignments (golden_id, tier, rule, reason, rules_version, assigned_at)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (golden_id) DO UPDATE SET tier = excluded.tier, rule = excluded.rule,
                           reason = excluded.reason, rules_version = excluded.rules_version,
                           assigned_at = excluded.assigned_at",
                    )
                    .bind(&assignment.golden_id)
                    .bind(&assignment.tier)
                    .bind(&assignment.rule)
                    .bind(Json(&assignment.reason))
                    .bind(&assignment.rules_version)
                    .bind(assignment.assigned_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_error("saving tier assignments"))?;
                    sqlx::query(
                        "INSERT INTO tier_history (golden_id, from_tier, to_tier, rule, reason, rules_version, changed_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&assignment.golden_id)
                    .bind(&change.from_tier)
                    .bind(&assignment.tier)
                    .bind(&assignment.rule)
                    .bind(Json(&assignment.reason))
                    .bind(&assignment.rules_version)
                    .bind(assignment.assigned_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_error("saving tier history"))?;
                    if change.from_tier.as_deref() != Some(assignment.tier.as_str()) {
                        sqlx::query(
                            "INSERT INTO tier_events (golden_id, from_tier, to_tier, rule, reason, rules_version, created_at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        )
                        .bind(&assignment.golden_id)
                        .bind(&change.from_tier)
                        .bind(&assignment.tier)
                        .bind(&assignment.rule)
                        .bind(Json(&assignment.reason))
                        .bind(&assignment.rules_version)
                        .bind(assignment.assigned_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(query_error("saving tier events"))?;
                    }
                }
                tx.commit().await.map_err(query_error("saving tiers"))?;
                Ok(())
            }

            async fn tier_history(&self, golden_id: &str) -> StoreResult<Vec<TierChange>> {
                let rows = sqlx::query(
                    "SELECT golden_id, from_tier, to_tier, rule, reason, rules_version, changed_at
                     FROM tier_history WHERE golden_id = $1 ORDER BY id",
                )
                .bind(golden_id)
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("loading tier history"))?;
                Ok(rows.iter().map(|row| tier_change_from_row(row, "to_tier", "changed_at")).collect())
            }

            async fn tier_entered_at(&self) -> StoreResult<std::collections::HashMap<String, DateTime<Utc>>> {
                let rows = sqlx::query(
                    "SELECT golden_id, changed_at FROM tier_history
                     WHERE from_tier IS NULL OR from_tier <> to_tier ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("loading tier history"))?;
                // Later rows overwrite earlier ones: the last move counts.
                Ok(rows
                    .into_iter()
                    .map(|row| (row.get::<String, _>("golden_id"), row.get::<DateTime<Utc>, _>("changed_at")))
                    .collect())
            }

            async fn tier_history_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<TierChange>> {
                let rows = sqlx::query(
                    "SELECT golden_id, from_tier, to_tier, rule, reason, rules_version, changed_at
                     FROM tier_history WHERE changed_at >= $1 ORDER BY id",
                )
                .bind(since)
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("loading tier history"))?;
                Ok(rows.iter().map(|row| tier_change_from_row(row, "to_tier", "changed_at")).collect())
            }

            async fn unconsumed_tier_events(&self, limit: i64) -> StoreResult<Vec<TierEvent>> {
                let rows = sqlx::query(
                    "SELECT id, golden_id, from_tier, to_tier, rule, reason, rules_version, created_at
                     FROM tier_events WHERE consumed_at IS NULL ORDER BY id LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("loading tier events"))?;
                Ok(rows
                    .iter()
                    .map(|row| TierEvent {
                        id: row.get("id"),
                        change: tier_change_from_row(row, "to_tier", "created_at"),
                    })
                    .collect())
            }

            async fn mark_tier_events_consumed(&self, ids: &[i64]) -> StoreResult<u64> {
                let now = Utc::now();
                let mut tx = self.pool.begin().await.map_err(query_error("consuming tier events"))?;
                let mut consumed = 0;
                for id in ids {
                    consumed += sqlx::query(
                        "UPDATE tier_events SET consumed_at = $1 WHERE id = $2 AND consumed_at IS NULL",
                    )
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_error("consuming tier events"))?
                    .rows_affected();
                }
                tx.commit().await.map_err(query_error("consuming tier events"))?;
                Ok(consumed)
            }

            async fn push_targets(&self, connector: &str) -> StoreResult<Vec<PushTarget>> {
                let rows = sqlx::query(
                    "SELECT l.connector, l.source_id, l.golden_id, t.tier, t.rules_version
                     FROM golden_links l JOIN tier_assignments t ON t.golden_id = l.golden_id
                     WHERE l.connector = $1 ORDER BY l.source_id",
                )
                .bind(connector)
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("loading push targets"))?;
                Ok(rows.into_iter().map(|row| PushTarget {
                    party: PartyKey {
                        connector: row.get("connector"),
                        source_id: row.get("source_id"),
                    },
                    golden_id: row.get("golden_id"),
                    tier: row.get("tier"),
                    rules_version: row.get("rules_version"),
                }).collect())
            }

            async fn push_candidates(
                &self,
                connector: &str,
                labels: &[(String, String)],
            ) -> StoreResult<PushCandidates> {
                let action = "diffing the push ledger";
                // The label of each tier, as bound parameters from $2 on.
                let mut label_of_tier = String::from("CASE t.tier");
                for index in 0..labels.len() {
                    let _ = write!(
                        label_of_tier,
                        " WHEN ${} THEN CAST(${} AS TEXT)",
                        2 + 2 * index,
                        3 + 2 * index
                    );
                }
                label_of_tier.push_str(" ELSE CAST(NULL AS TEXT) END");
                let linked = "SELECT 1 FROM golden_links l JOIN tier_assignments t ON t.golden_id = l.golden_id
                              WHERE l.connector = p.connector AND l.source_id = p.source_id";
                let targets_query = format!(
                    "SELECT l.source_id AS target_id, l.golden_id AS target_golden_id, t.tier AS target_tier,
                            t.rules_version AS target_rules_version,
                            p.connector, p.source_id, p.golden_id, p.tier, p.desired_label, p.acked_label,
                            p.unacked_labels, p.rules_version, p.status, p.attempts, p.last_error
                     FROM golden_links l
                     JOIN tier_assignments t ON t.golden_id = l.golden_id
                     LEFT JOIN push_ledger p ON p.connector = l.connector AND p.source_id = l.source_id
                     WHERE l.connector = $1
                       AND NOT COALESCE(p.status IN ('delivered', 'dropped') AND p.unacked_labels = '[]'
                                        AND p.acked_label = {label_of_tier}, FALSE)
                     ORDER BY l.source_id"
                );
                let mut query = sqlx::query(&targets_query).bind(connector);
                for (tier, label) in labels {
                    query = query.bind(tier).bind(label);
                }
                // Ledger rows no tiered customer claims: those still holding
                // a label come back; the others only count.
                let orphans_query = format!(
                    "SELECT connector, source_id, golden_id, tier, desired_label, acked_label, unacked_labels,
                            rules_version, status, attempts, last_error
                     FROM push_ledger p
                     WHERE p.connector = $1 AND NOT EXISTS ({linked})
                     ORDER BY p.source_id"
                );
                let orphans = sqlx::query(&orphans_query).bind(connector);
                let linked_records =
                    sqlx::query_scalar("SELECT COUNT(*) FROM golden_links WHERE connector = $1")
                        .bind(connector);
                // One after the other: run at once, SQLite's readers slowed
                // each other down (measured).
                let rows = query.fetch_all(&self.pool).await.map_err(query_error(action))?;
                let orphans = orphans.fetch_all(&self.pool).await.map_err(query_error(action))?;
                let linked_records: i64 =
                    linked_records.fetch_one(&self.pool).await.map_err(query_error(action))?;
                let mut candidates = PushCandidates::default();
                for row in rows {
                    let source_id: String = row.get("target_id");
                    candidates.targets.push(PushTarget {
                        party: PartyKey {
                            connector: connector.to_string(),
                            source_id,
                        },
                        golden_id: row.get("target_golden_id"),
                        tier: row.get("target_tier"),
                        rules_version: row.get("target_rules_version"),
                    });
                    if row.get::<Option<String>, _>("connector").is_some() {
                        candidates.ledger.push(ledger_row_from_row(&row));
                    }
                }
                let mut quiet_orphans = 0;
                for row in &orphans {
                    let row = ledger_row_from_row(row);
                    if row.acked_label.is_none() && row.unacked_labels.is_empty() {
                        quiet_orphans += 1;
                    } else {
                        candidates.ledger.push(row);
                    }
                }
                // Every linked record not sent back as a candidate needs
                // nothing (those of customers without a tier included).
                candidates.in_place = (linked_records as usize)
                    .saturating_sub(candidates.targets.len())
                    + quiet_orphans;
                Ok(candidates)
            }

            async fn ledger(&self, connector: &str) -> StoreResult<Vec<LedgerRow>> {
                let rows = sqlx::query(
                    "SELECT connector, source_id, golden_id, tier, desired_label, acked_label, unacked_labels,
                            rules_version, status, attempts, last_error
                     FROM push_ledger WHERE connector = $1 ORDER BY source_id",
                )
                .bind(connector)
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("loading the push ledger"))?;
                Ok(rows.iter().map(ledger_row_from_row).collect())
            }

            async fn save_ledger(&self, update: &LedgerUpdate) -> StoreResult<()> {
                let now: DateTime<Utc> = Utc::now();
                let action = "saving the push ledger";
                let mut tx = self.pool.begin().await.map_err(query_error(action))?;
                for row in &update.rows {
                    let unacked = serde_json::to_string(&row.unacked_labels).unwrap_or_else(|_| "[]".to_string());
                    sqlx::query(
                        "INSERT INTO push_ledger (connector, source_id, golden_id, tier, desired_label, acked_label,
                                                  unacked_labels, rules_version, status, attempts, last_error, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                         ON CONFLICT (connector, source_id) DO UPDATE SET golden_id = excluded.golden_id,
                           tier = excluded.tier, desired_label = excluded.desired_label,
                           acked_label = excluded.acked_label, unacked_labels = excluded.unacked_labels,
                           rules_version = excluded.rules_version, status = excluded.status,
                           attempts = excluded.attempts, last_error = excluded.last_error,
                           updated_at = excluded.updated_at",
                    )
                    .bind(&row.connector)
                    .bind(&row.source_id)
                    .bind(&row.golden_id)
                    .bind(&row.tier)
                    .bind(&row.desired_label)
                    .bind(&row.acked_label)
                    .bind(unacked)
                    .bind(&row.rules_version)
                    .bind(row.status.as_str())
                    .bind(row.attempts)
                    .bind(&row.last_error)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_error(action))?;
                }
                for letter in &update.dead_letters {
                    let updated = sqlx::query(
                        "UPDATE dead_letters SET label = $1, request = $2, response = $3, reason = $4,
                                attempts = $5, updated_at = $6
                         WHERE connector = $7 AND source_id = $8 AND resolved_at IS NULL AND dropped_at IS NULL",
                    )
                    .bind(&letter.label)
                    .bind(without_nul(&letter.request).as_ref())
                    .bind(letter.response.as_deref().map(without_nul).as_deref())
                    .bind(without_nul(&letter.reason).as_ref())
                    .bind(letter.attempts)
                    .bind(now)
                    .bind(&letter.connector)
                    .bind(&letter.source_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_error(action))?;
                    if updated.rows_affected() == 0 {
                        sqlx::query(
                            "INSERT INTO dead_letters (connector, source_id, label, request, response, reason,
                                                       attempts, created_at, updated_at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                        )
                        .bind(&letter.connector)
                        .bind(&letter.source_id)
                        .bind(&letter.label)
                        .bind(without_nul(&letter.request).as_ref())
                        .bind(letter.response.as_deref().map(without_nul).as_deref())
                        .bind(without_nul(&letter.reason).as_ref())
                        .bind(letter.attempts)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(query_error(action))?;
                    }
                }
                for (connector, source_id) in &update.resolved {
                    sqlx::query(
                        "UPDATE dead_letters SET resolved_at = $1, updated_at = $1
                         WHERE connector = $2 AND source_id = $3 AND resolved_at IS NULL",
                    )
                    .bind(now)
                    .bind(connector)
                    .bind(source_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_error(action))?;
                }
                tx.commit().await.map_err(query_error(action))?;
                Ok(())
            }

            async fn dead_letters(
                &self,
                connector: Option<&str>,
                open_only: bool,
            ) -> StoreResult<Vec<DeadLetter>> {
                let rows = sqlx::query(
                    "SELECT id, connector, source_id, label, request, response, reason, attempts, created_at,
                            updated_at, resolved_at, dropped_at, dropped_by, drop_reason
                     FROM dead_letters
                     WHERE ($1 IS NULL OR connector = $1)
                       AND (NOT $2 OR (resolved_at IS NULL AND dropped_at IS NULL))
                     ORDER BY id DESC",
                )
                .bind(connector)
                .bind(open_only)
                .fetch_all(&self.pool)
                .await
                .map_err(query_error("listing dead letters"))?;
                Ok(rows.into_iter().map(dead_letter_from_row).collect())
            }

            async fn drop_dead_letters(
                &self,
                ids: &[i64],
                actor: &str,
                reason: &str,
            ) -> StoreResult<Vec<DeadLetter>> {
                let action = "dropping dead letters";
                let now: DateTime<Utc> = Utc::now();
                let mut tx = self.pool.begin().await.map_err(query_error(action))?;
                let mut dropped = Vec::new();
                for id in ids {
                    let row = sqlx::query(
                        "UPDATE dead_letters SET dropped_at = $1, dropped_by = $2, drop_reason = $3, updated_at = $1
                         WHERE id = $4 AND resolved_at IS NULL AND dropped_at IS NULL
                         RETURNING id, connector, source_id, label, request, response, reason, attempts, created_at,
                                   updated_at, resolved_at, dropped_at, dropped_by, drop_reason",
                    )
                    .bind(now)
                    .bind(actor)
                    .bind(reason)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(query_error(action))?;
                    let Some(row) = row else { continue };
                    let letter = dead_letter_from_row(row);
                    sqlx::query(
                        "UPDATE push_ledger SET status = 'dropped', updated_at = $1
                         WHERE connector = $2 AND source_id = $3 AND status IN ('failed', 'pending')",
                    )
                    .bind(now)
                    .bind(&letter.letter.connector)
                    .bind(&letter.letter.source_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_error(action))?;
                    dropped.push(letter);
                }
                tx.commit().await.map_err(query_error(action))?;
                Ok(dropped)
            }

            async fn retry_dead_letters(&self, ids: &[i64]) -> StoreResult<Vec<DeadLetter>> {
                let action = "reopening dead letters";
                let now: DateTime<Utc> = Utc::now();
                let mut tx = self.pool.begin().await.map_err(query_error(action))?;
                let mut reopened = Vec::new();
                for id in ids {
                    let row = sqlx::query(
                        "UPDATE dead_letters SET dropped_at = NULL, dropped_by = NULL, drop_reason = NULL, updated_at = $1
                         WHERE id = $2 AND resolved_at IS NULL
                           AND NOT EXISTS (SELECT 1 FROM dead_letters other
                                           WHERE other.connector = dead_letters.connector
                                             AND other.source_id = dead_letters.source_id
                                             AND other.id <> dead_letters.id
                                             AND other.resolved_at IS NULL AND other.dropped_at IS NULL)
                         RETURNING id, connector, source_id, label, request, response, reason, attempts, created_at,
                                   updated_at, resolved_at, dropped_at, dropped_by, drop_reason",
                    )
                    .bind(now)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(query_error(action))?;
                    let Some(row) = row else { continue };
                    let letter = dead_letter_from_row(row);
                    sqlx::query(
                        "UPDATE push_ledger SET status = 'failed', updated_at = $1
                         WHERE connector = $2 AND source_id = $3 AND status = 'dropped'",
                    )
                    .bind(now)
                    .bind(&letter.letter.connector)
                    .bind(&letter.letter.source_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_error(action))?;
                    reopened.push(letter);
                }
                tx.commit().await.map_err(query_error(action))?;
                Ok(reopened)
            }

            async fn push_status(&self) -> StoreResult<Vec<PushStatus>> {
                let action = "counting the push ledger";
                let mut by_connector: BTreeMap<String, PushStatus> = BTreeMap::new();
                let rows = sqlx::query(
                    "SELECT connector, status, COUNT(*) AS n FROM push_ledger GROUP BY connector, status",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(query_error(action))?;
                for row in rows {
                    let connector: String = row.get("connector");
                    let status: String = row.get("status");
                    let entry = by_connector.entry(connector.clone()).or_insert_with(|| PushStatus {
                        connector,
                        ..PushStatus::default()
                    });
                    *entry.rows.entry(LedgerStatus::parse(&status)).or_default() += row.get::<i64, _>("n");
                }
                let rows = sqlx::query(
                    "SELECT connector, COUNT(*) AS n FROM dead_letters
                     WHERE resolved_at IS NULL AND dropped_at IS NULL GROUP BY connector",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(query_error(action))?;
                for row in rows {
                    let connector: String = row.get("connector");
                    by_connector.entry(connector.clone()).or_insert_with(|| PushStatus {
                        connector,
                        ..PushStatus::default()
                    }).open_dead_letters = row.get("n");
                }
                Ok(by_connector.into_values().collect())
            }

            async fn status(&self) -> StoreResult<StoreStatus> {
                let mut status = StoreStatus::default();
                let counts: [(&str, fn(&mut ConnectorCounts, i64)); 4] = [
                    ("SELECT connector, COUNT(*) FROM staged_records GROUP BY connector", |c, n| c.staged = n),
                    ("SELECT connector, COUNT(*) FROM parties GROUP BY connector", |c, n| c.parties = n),
                    ("SELECT connector, COUNT(*) FROM orders GROUP BY connector", |c, n| c.orders = n),
                    ("SELECT connector, COUNT(*) FROM rejected_records GROUP BY connector", |c, n| c.rejected = n),
                ];
                for (query, set) in counts {
                    let rows = sqlx::query(query)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(query_error("counting stored records"))?;
                    for row in rows {
                        let entry = status.connectors.entry(row.get::<String, _>(0)).or_default();
                        set(entry, row.get::<i64, _>(1));
                    }
                }
                status.golden_customers = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM golden_customers WHERE status = 'active'",
                )
                .fetch_one(&self.pool)
                .await
                .map_err(query_error("counting golden customers"))?;
                let rows = sqlx::query("SELECT tier, COUNT(*) FROM tier_assignments GROUP BY tier")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(query_error("counting tiers"))?;
                status.tiers = rows
                    .into_iter()
                    .map(|row| (row.get::<String, _>(0), row.get::<i64, _>(1)))
                    .collect();
                status.last_run = self.recent_runs(1).await?.into_iter().next();
                Ok(status)
            }
        }
    };
}

pub(crate) use impl_store;
