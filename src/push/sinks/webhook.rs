//! The `webhook` sink: label changes POSTed as JSON to a URL, signed with
//! HMAC-SHA256 so the receiver can check they come from tierlink.
//!
//! Each request carries a batch:
//! `{"connector": "...", "changes": [{"source_id", "golden_id", "tier",
//! "label", "remove", "rules_version"}]}`, with the headers
//! `X-Signature-256: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">`,
//! `X-Signature-Timestamp: <unix seconds>` and `X-Delivery-Id` (the SHA-256
//! of the body, the same on every retry, for de-duplication). Any 2xx
//! acknowledges the whole batch; 429 and 5xx are retried with backoff,
//! honouring `Retry-After`. A tierlink `webhook` connector with
//! `signature_prefix = "sha256="` and
//! `timestamp_header = "X-Signature-Timestamp"` verifies these requests.
//!
//! ```toml
//! [push]
//! sink = "webhook"
//! url = "https://crm.example.com/hooks/tiers"
//! secret = "${TIER_WEBHOOK_SECRET}"
//! batch_size = 100
//! ```

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{BatchOutcome, Carried, Failure, LabelChange, Sink, SinkDefinition};
use crate::config::{Problem, Secret};
use crate::connectors::{ConnectorError, SourceContext};

pub const SIGNATURE_HEADER: &str = "X-Signature-256";
pub const TIMESTAMP_HEADER: &str = "X-Signature-Timestamp";
pub const DELIVERY_HEADER: &str = "X-Delivery-Id";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    url: String,
    secret: Secret,
    #[serde(default = "default_batch_size")]
    batch_size: usize,
    #[serde(default = "default_max_attempts")]
    max_attempts: u32,
    #[serde(default = "default_timeout_secs")]
    timeout_secs: f64,
}

fn default_batch_size() -> usize {
    100
}
fn default_max_attempts() -> u32 {
    5
}
fn default_timeout_secs() -> f64 {
    30.0
}

pub fn build(definition: &SinkDefinition) -> Result<Arc<dyn Sink>, Vec<Problem>> {
    let settings: Settings = definition.settings()?;
    let file = definition.connector.file;
    let mut problems = Vec::new();
    if let Err(error) = reqwest::Url::parse(&settings.url) {
        problems.push(
            Problem::new(file, "push.url", format!("not a valid URL: {error}"))
                .with_hint("write the full URL, e.g. \"https://crm.example.com/hooks/tiers\""),
        );
    }
    problems.extend(delivery_problems(
        file,
        "push",
        settings.batch_size,
        settings.max_attempts,
        settings.timeout_secs,
    ));
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Arc::new(WebhookSink {
        connector: definition.connector.id.to_string(),
        batch_size: settings.batch_size,
        post: SignedPost {
            timeout: Duration::from_secs_f64(settings.timeout_secs),
            url: settings.url,
            secret: settings.secret,
            max_attempts: settings.max_attempts,
        },
    }))
}

struct WebhookSink {
    connector: String,
    batch_size: usize,
    post: SignedPost,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink")
            .field("connector", &self.connector)
            .field("url", &self.post.url)
            .finish_non_exhaustive()
    }
}

/// The problems of the delivery settings every signed POST has, named
/// `{section}.batch_size`, `{section}.max_attempts`, `{section}.timeout_secs`.
pub fn delivery_problems(
    file: &std::path::Path,
    section: &str,
    batch_size: usize,
    max_attempts: u32,
    timeout_secs: f64,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    if batch_size == 0 {
        problems.push(Problem::new(
            file,
            format!("{section}.batch_size"),
            "must be at least 1",
        ));
    }
    if max_attempts == 0 {
        problems.push(Problem::new(
            file,
            format!("{section}.max_attempts"),
            "must be at least 1",
        ));
    }
    if !(timeout_secs > 0.0 && timeout_secs.is_finite()) {
        problems.push(Problem::new(
            file,
            format!("{section}.timeout_secs"),
            "must be a positive number of seconds",
        ));
    }
    problems
}

/// `sha256=<hex>` of HMAC-SHA256 over `{timestamp}.{body}`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// JSON bodies POSTed to one URL, signed with [`signature`], with a
/// delivery id (the body's SHA-256, the same on every retry); 408, 429
/// and 5xx are retried with backoff, honouring `Retry-After`. The
/// `webhook` sink and the tier-event relay ([`crate::push::events`]) send
/// through it.
#[derive(Debug, Clone)]
pub struct SignedPost {
    pub url: String,
    pub secret: Secret,
    pub timeout: Duration,
    /// Attempts per body, the first included.
    pub max_attempts: u32,
}

impl SignedPost {
    /// Sends `body` until a 2xx, a refusal, `max_attempts` or shutdown.
    pub async fn send(&self, context: &SourceContext, body: &[u8]) -> Result<(), Failure> {
        let delivery = hex::encode(Sha256::digest(body));
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.post_once(context, body, &delivery).await {
                Ok(()) => return Ok(()),
                Err((failure, wait)) => {
                    if !failure.retryable
                        || attempt >= self.max_attempts
                        || context.shutdown.is_cancelled()
                    {
                        return Err(failure);
                    }
                    let backoff = Duration::from_millis(200 * 2u64.pow(attempt.min(8)));
                    tokio::select! {
                        () = tokio::time::sleep(wait.unwrap_or(backoff)) => {}
                        () = context.shutdown.cancelled() => {}
                    }
                }
            }
        }
    }

    /// One attempt: `Ok` on 2xx; else the failure and how long the
    /// receiver asked to wait.
    async fn post_once(
        &self,
        context: &SourceContext,
        body: &[u8],
        delivery: &str,
    ) -> Result<(), (Failure, Option<Duration>)> {
        let timestamp = chrono::Utc::now().timestamp();
        let request = format!("POST {} ({} bytes)", self.url, body.len());
        let answer = context
            .http
            .post(&self.url)
            .timeout(self.timeout)
            .header("Content-Type", "application/json")
            .header(
                SIGNATURE_HEADER,
                signature(self.secret.expose(), timestamp, body),
            )
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(DELIVERY_HEADER, delivery)
            .body(body.to_vec())
            .send()
            .await;
        let response = match answer {
            Ok(response) => response,
            Err(error) => {
                let failure = Failure {
                    retryable: true,
                    ..Failure::refused(format!("{request} failed: {error}"), request)
                };
                return Err((failure, None));
            }
        };
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<f64>().ok())
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
            .map(|seconds| Duration::from_secs_f64(seconds.min(300.0)));
        let text = response.text().await.unwrap_or_default();
        let excerpt: String = text.chars().take(200).collect();
        let retry = status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error();
        let failure = Failure {
            response: Some(excerpt.clone()),
            retryable: retry,
            ..Failure::refused(
                format!("{request} answered HTTP {status}: {excerpt}"),
                request,
            )
        };
        Err((failure, wait))
    }
}

#[async_trait]
impl Sink for WebhookSink {
    fn batch_size(&self) -> usize {
        self.batch_size
    }

    async fn apply(&self, context: &SourceContext, changes: &[LabelChange]) -> BatchOutcome {
        let body = serde_json::to_vec(&json!({"connector": self.connector, "changes": changes}))
            .unwrap_or_default();
        self.post.send(context, &body).await?;
        Ok(vec![Ok(()); changes.len()])
    }

    fn readable(&self) -> bool {
        false
    }

    async fn read_labels(
        &self,
        _context: &SourceContext,
        _source_ids: &[String],
    ) -> Result<Vec<Carried>, ConnectorError> {
        Err(ConnectorError::config(format!(
            "connector {}: a webhook receiver cannot be read back, so its labels cannot be verified",
            self.connector
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::webhook::{parse, verify_signature};

    #[test]
    fn a_tierlink_webhook_connector_verifies_what_the_sink_signs() {
        std::env::set_var("TIERLINK_UNIT_PUSH_WEBHOOK_SECRET", "shared secret 共享");
        let receiver = parse(
            std::path::Path::new("connectors/tiers-in.toml"),
            &toml::from_str(
                "secret = \"${TIERLINK_UNIT_PUSH_WEBHOOK_SECRET}\"\n\
                 signature_prefix = \"sha256=\"\n\
                 timestamp_header = \"X-Signature-Timestamp\"\n\
                 [streams.tiers]\nrecords_path = \"changes\"\nprimary_key = \"source_id\"\n",
            )
            .expect("toml"),
        )
        .expect("receiver config");
        let body = br#"{"connector":"shop","changes":[]}"#;
        let now = chrono::Utc::now().timestamp();
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            SIGNATURE_HEADER,
            signature("shared secret 共享", now, body)
                .parse()
                .expect("header"),
        );
        headers.insert(TIMESTAMP_HEADER, now.to_string().parse().expect("header"));
        assert!(verify_signature(&receiver, &headers, body, now).is_ok());
        // Another body, or another secret, does not verify.
        assert!(verify_signature(&receiver, &headers, b"{}", now).is_err());
        headers.insert(
            SIGNATURE_HEADER,
            signature("wrong", now, body).parse().expect("header"),
        );
        assert!(verify_signature(&receiver, &headers, body, now).is_err());
    }
}
