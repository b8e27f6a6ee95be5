//! Tier changes sent as events: the relay of the `tier_events` outbox.
//!
//! Tiering writes every change of tier (first assignments included) to the
//! outbox in the transaction that saves it. After each run the relay POSTs
//! the events not yet consumed, oldest first, in batches to the URL of
//! `[events]` in `tierlink.toml`, signed like the `webhook` sink:
//!
//! ```json
//! {"events": [{"id": 17, "golden_id": "G-…", "from_tier": "developing",
//!   "to_tier": "high_value", "rule": "big spender", "reason": {…},
//!   "rules_version": "…", "changed_at": "2026-11-25T08:00:00Z"}]}
//! ```
//!
//! A batch is marked consumed only after a 2xx, so an event is delivered at
//! least once: a receiver de-duplicates by `id`, which only grows. A
//! failed batch stops the relay; its events wait for the next run.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::sinks::{delivery_problems, SignedPost};
use crate::config::{EventSettings, Problem, Secret};
use crate::connectors::SourceContext;
use crate::store::{Store, StoreError, TierEvent};

/// Where tier events go: `[events]`, checked.
#[derive(Debug, Clone)]
pub struct EventRelay {
    post: SignedPost,
    batch_size: usize,
}

/// What one relay pass did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EventsReport {
    pub url: String,
    /// Events the receiver acknowledged in this pass.
    pub delivered: u64,
    /// Why the pass stopped early; its events wait for the next one.
    pub error: Option<String>,
}

impl EventRelay {
    /// Checks `[events]` of `file`: every problem with its field.
    pub fn build(file: &Path, settings: &EventSettings) -> Result<EventRelay, Vec<Problem>> {
        let mut problems = Vec::new();
        match reqwest::Url::parse(&settings.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            Ok(url) => problems.push(Problem::new(
                file,
                "events.url",
                format!("{:?} is not an http(s) URL", url.scheme()),
            )),
            Err(error) => problems.push(
                Problem::new(file, "events.url", format!("not a valid URL: {error}")).with_hint(
                    "write the full URL, e.g. \"https://crm.example.com/hooks/tier-changes\"",
                ),
            ),
        }
        let secret = Secret::from_reference(&settings.secret)
            .map_err(|error| {
                problems.push(
                    Problem::new(file, "events.secret", error.to_string())
                        .with_hint("the receiver checks each request's X-Signature-256 with it"),
                );
            })
            .ok();
        problems.extend(delivery_problems(
            file,
            "events",
            settings.batch_size,
            settings.max_attempts,
            settings.timeout_secs,
        ));
        match secret {
            Some(secret) if problems.is_empty() => Ok(EventRelay {
                post: SignedPost {
                    url: settings.url.clone(),
                    secret,
                    timeout: Duration::from_secs_f64(settings.timeout_secs),
                    max_attempts: settings.max_attempts,
                },
                batch_size: settings.batch_size,
            }),
            _ => Err(problems),
        }
    }

    pub fn url(&self) -> &str {
        &self.post.url
    }
}

/// The request body for a batch of events.
pub fn events_body(events: &[TierEvent]) -> serde_json::Value {
    let events: Vec<serde_json::Value> = events
        .iter()
        .map(|event| {
            let assignment = &event.change.assignment;
            json!({
                "id": event.id,
                "golden_id": assignment.golden_id,
                "from_tier": event.change.from_tier,
                "to_tier": assignment.tier,
                "rule": assignment.rule,
                "reason": assignment.reason,
                "rules_version": assignment.rules_version,
                "changed_at": assignment.assigned_at,
            })
        })
        .collect();
    json!({ "events": events })
}

/// Sends every unconsumed event, batch by batch, marking each batch
/// consumed once acknowledged. Stops at the first batch the receiver does
/// not take (after its retries) or at shutdown.
pub async fn relay_tier_events(
    store: &dyn Store,
    context: &SourceContext,
    relay: &EventRelay,
) -> Result<EventsReport, StoreError> {
    let mut report = EventsReport {
        url: relay.post.url.clone(),
        ..EventsReport::default()
    };
    loop {
        if context.shutdown.is_cancelled() {
            report.error = Some("stopped by shutdown".to_string());
            break;
        }
        let events = store
            .unconsumed_tier_events(relay.batch_size as i64)
            .await?;
        if events.is_empty() {
            break;
        }
        let body = serde_json::to_vec(&events_body(&events)).unwrap_or_default();
        if let Err(failure) = relay.post.send(context, &body).await {
            tracing::warn!(url = %relay.post.url, reason = %failure.reason, waiting = events.len(), "tier events were not delivered");
            report.error = Some(failure.reason);
            break;
        }
        let ids: Vec<i64> = events.iter().map(|event| event.id).collect();
        report.delivered += store.mark_tier_events_consumed(&ids).await?;
        if events.len() < relay.batch_size {
            break;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{TierAssignment, TierChange};

    fn settings(url: &str, secret: &str) -> EventSettings {
        EventSettings {
            url: url.to_string(),
            secret: secret.to_string(),
            batch_size: 100,
            max_attempts: 5,
            timeout_secs: 30.0,
        }
    }

    #[test]
    fn every_problem_of_the_section_names_its_field() {
        let file = Path::new("tierlink.toml");
        let problems = EventRelay::build(
            file,
            &EventSettings {
                batch_size: 0,
                timeout_secs: -1.0,
                ..settings("ftp://example.com/x", "plain-text-secret")
            },
        )
        .expect_err("broken");
        let fields: Vec<&str> = problems
            .iter()
            .map(|problem| problem.field.as_str())
            .collect();
        assert_eq!(
            fields,
            [
                "events.url",
                "events.secret",
                "events.batch_size",
                "events.timeout_secs"
            ]
        );
        // The value written where a reference belongs is never echoed.
        assert!(problems
            .iter()
            .all(|problem| !problem.to_string().contains("plain-text-secret")));

        std::env::set_var("TIERLINK_UNIT_EVENTS_SECRET", "s3cret");
        let relay = EventRelay::build(
            file,
            &settings(
                "https://crm.example.com/hooks",
                "${TIERLINK_UNIT_EVENTS_SECRET}",
            ),
        )
        .expect("valid");
        assert_eq!(relay.url(), "https://crm.example.com/hooks");
        assert!(!format!("{relay:?}").contains("s3cret"));
    }

    #[test]
    fn the_body_flattens_each_change() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-25T08:00:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        let event = TierEvent {
            id: 7,
            change: TierChange {
                from_tier: Some("developing".to_string()),
                assignment: TierAssignment {
                    golden_id: "G-1".to_string(),
                    tier: "high_value".to_string(),
                    rule: "big spender".to_string(),
                    reason: json!({"spend_365d": 52000.0}),
                    rules_version: "v1".to_string(),
                    assigned_at: at,
                },
            },
        };
        assert_eq!(
            events_body(&[event]),
            json!({"events": [{
                "id": 7, "golden_id": "G-1", "from_tier": "developing", "to_tier": "high_value",
                "rule": "big spender", "reason": {"spend_365d": 52000.0}, "rules_version": "v1",
                "changed_at": "2026-11-25T08:00:00Z",
            }]})
        );
    }
}
