//! The HTTP receiver: `POST /webhooks/{connector}/{stream}`.
//!
//! Each request goes through these steps, and the status says where it
//! stopped:
//!
//! | status | meaning | what the sender should do |
//! |---|---|---|
//! | 404 | no such webhook connector or stream | fix the URL |
//! | 413 | the body is larger than `max_body_bytes` | send smaller batches |
//! | 401 | the signature (or its timestamp) is missing, wrong or too old | fix the secret or the clock; do not retry as is |
//! | 400 | the body is not JSON, lacks its event id or its records list; the body was kept as a rejected record | fix the payload |
//! | 503 | the store failed; nothing was committed | retry later |
//! | 200 | committed: `{"duplicate": false, "event_id", "fetched", "new", "changed", "unchanged", "rejected"}` | done |
//! | 200 | the event id was committed before: `{"duplicate": true, "event_id"}`, nothing staged | done |
//!
//! A 200 is sent only after the transaction that staged the records,
//! their rejections and the event id has committed, so an acknowledged
//! delivery is never lost and a redelivered one is never staged twice.
//! Records without a primary key do not fail the request: they are stored
//! as rejections with the reason and counted in `rejected`.
//!
//! Neither the secret nor the received signature is ever logged or echoed.

use std::collections::HashMap;
use std::future::poll_fn;
use std::pin::pin;
use std::sync::Arc;

use axum::body::{Body, HttpBody};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::config::{SignatureEncoding, WebhookConfig, WebhookStreamConfig};
use crate::mapping::path::{lookup, lookup_text};
use crate::store::{Rejection, SourceRecord, StageCounts, StagedBatch, Store};

/// The route every webhook stream is served at.
pub const ROUTE: &str = "/webhooks/{connector}/{stream}";

/// Seconds a sender is asked to wait before retrying after a store failure.
const RETRY_AFTER_SECS: &str = "30";

/// The receiver of every webhook connector given, by connector id.
///
/// Connectors whose file is not a webhook connector have no place here;
/// [`super::receivers`] lists the project's.
pub fn router(store: Arc<dyn Store>, connectors: Vec<(String, Arc<WebhookConfig>)>) -> Router {
    let receiver = Arc::new(Receiver {
        store,
        connectors: connectors.into_iter().collect(),
    });
    Router::new()
        .route(ROUTE, post(receive))
        .with_state(receiver)
}

struct Receiver {
    store: Arc<dyn Store>,
    connectors: HashMap<String, Arc<WebhookConfig>>,
}

/// The answer to an accepted delivery.
#[derive(Debug, Serialize)]
struct Receipt {
    /// Whether the event id was committed before, so nothing was staged.
    duplicate: bool,
    event_id: String,
    /// What was staged, for a delivery that was not a duplicate.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    staged: Option<StageCounts>,
}

/// Why a delivery was refused: the status and a reason for the sender.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    reason: String,
}

impl Refusal {
    fn new(status: StatusCode, reason: impl Into<String>) -> Refusal {
        Refusal {
            status,
            reason: reason.into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.reason })),
        )
            .into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        response
    }
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    Path((connector, stream)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match receiver.handle(&connector, &stream, &headers, body).await {
        Ok(receipt) => {
            tracing::info!(
                %connector,
                %stream,
                event_id = %receipt.event_id,
                duplicate = receipt.duplicate,
                staged = ?receipt.staged,
                "webhook delivery committed"
            );
            (StatusCode::OK, Json(receipt)).into_response()
        }
        Err(refusal) => {
            tracing::warn!(
                %connector,
                %stream,
                status = refusal.status.as_u16(),
                reason = %refusal.reason,
                "webhook delivery refused"
            );
            refusal.into_response()
        }
    }
}

impl Receiver {
    async fn handle(
        &self,
        connector: &str,
        stream: &str,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<Receipt, Refusal> {
        let config = self.connectors.get(connector).ok_or_else(|| {
            Refusal::new(
                StatusCode::NOT_FOUND,
                format!("there is no webhook connector {connector:?} here: check the URL against the list `tierlink listen` prints"),
            )
        })?;
        let stream_config = config.streams.get(stream).ok_or_else(|| {
            Refusal::new(
                StatusCode::NOT_FOUND,
                format!("the webhook connector {connector:?} has no stream {stream:?}: check the URL, or add [streams.{stream}] to its file"),
            )
        })?;
        let body = read_body(headers, body, config.max_body_bytes).await?;
        verify_signature(config, headers, &body, chrono::Utc::now().timestamp())
            .map_err(|error| Refusal::new(StatusCode::UNAUTHORIZED, error.to_string()))?;

        let delivery = parse_delivery(stream_config, headers, &body);
        let staged = self
            .store
            .stage_pushed(None, connector, stream, &delivery.event_id, &delivery.batch)
            .await
            .map_err(|error| {
                tracing::error!(%connector, %stream, %error, "cannot stage a webhook delivery");
                Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the store is unavailable and nothing was committed: send the delivery again later",
                )
            })?;
        if let Some(reason) = delivery.unreadable {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                format!("{reason}; the body was kept as a rejected record"),
            ));
        }
        Ok(Receipt {
            duplicate: staged.is_none(),
            event_id: delivery.event_id,
            staged,
        })
    }
}

/// Reads the body, refusing it with 413 as soon as it is larger than `limit`.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, Refusal> {
    let too_large = || {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than this connector's max_body_bytes ({limit} bytes): send fewer records per delivery, or raise max_body_bytes in the connector file"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let mut body = pin!(body);
    let mut bytes = Vec::with_capacity(declared.map_or(0, |length| length as usize));
    while let Some(frame) = poll_fn(|context| body.as_mut().poll_frame(context)).await {
        let frame = frame.map_err(|error| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                format!("the body could not be read: {error}"),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

/// Why a signature was refused. The messages name headers and what to fix,
/// never the secret or the signature received.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request has no {0} header: sign the exact body with HMAC-SHA256 and the shared secret and send the signature there")]
    Missing(String),
    #[error("the {header} header does not start with {prefix:?}: send the signature as {prefix}<signature>")]
    MissingPrefix { header: String, prefix: String },
    #[error("the {header} header is not a {encoding} HMAC-SHA256 signature")]
    NotEncoded {
        header: String,
        encoding: &'static str,
    },
    #[error("the request has no {0} header: send the signing time in seconds since 1970 there")]
    MissingTimestamp(String),
    #[error("the {0} header is not a whole number of seconds since 1970")]
    BadTimestamp(String),
    #[error("the signature does not match the body: sign the exact body bytes{signed_timestamp} with HMAC-SHA256 and the secret this connector was given")]
    Mismatch { signed_timestamp: &'static str },
    #[error("the time in {header} is {skew} seconds away from now, more than the tolerance of {tolerance} seconds: a replayed request, or the sender's clock is wrong")]
    Stale {
        header: String,
        skew: u64,
        tolerance: u64,
    },
}

/// Verifies a request's HMAC-SHA256 signature over its exact body bytes
/// (`{timestamp}.{body}` when the connector has a `timestamp_header`), in
/// constant time, and the timestamp's distance from `now` (seconds since
/// 1970).
pub fn verify_signature(
    config: &WebhookConfig,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let header = &config.signature_header;
    let text = headers
        .get(header.as_str())
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .ok_or_else(|| SignatureError::Missing(header.clone()))?;
    let text = match config.signature_prefix.as_deref().filter(|p| !p.is_empty()) {
        Some(prefix) => text
            .strip_prefix(prefix)
            .ok_or_else(|| SignatureError::MissingPrefix {
                header: header.clone(),
                prefix: prefix.to_string(),
            })?,
        None => text,
    };
    let (decoded, encoding) = match config.signature_encoding {
        SignatureEncoding::Hex => (hex::decode(text).ok(), "hex"),
        SignatureEncoding::Base64 => (
            base64::engine::general_purpose::STANDARD.decode(text).ok(),
            "base64",
        ),
    };
    let decoded = decoded.ok_or_else(|| SignatureError::NotEncoded {
        header: header.clone(),
        encoding,
    })?;

    let timestamp = match &config.timestamp_header {
        Some(name) => {
            let text = headers
                .get(name.as_str())
                .and_then(|value| value.to_str().ok())
                .map(str::trim)
                .filter(|text| !text.is_empty())
                .ok_or_else(|| SignatureError::MissingTimestamp(name.clone()))?;
            let seconds: i64 = text
                .parse()
                .map_err(|_| SignatureError::BadTimestamp(name.clone()))?;
            Some((name, text, seconds))
        }
        None => None,
    };

    // HMAC accepts a key of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(config.secret.expose().as_bytes()) else {
        return Err(SignatureError::Mismatch {
            signed_timestamp: "",
        });
    };
    if let Some((_, text, _)) = &timestamp {
        mac.update(text.as_bytes());
        mac.update(b".");
    }
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&decoded)
        .map_err(|_| SignatureError::Mismatch {
            signed_timestamp: if timestamp.is_some() {
                " prefixed by \"{timestamp}.\""
            } else {
                ""
            },
        })?;

    if let (Some((name, _, seconds)), Some(tolerance)) = (timestamp, config.tolerance()) {
        let skew = now.abs_diff(seconds);
        if skew > tolerance {
            return Err(SignatureError::Stale {
                header: name.clone(),
                skew,
                tolerance,
            });
        }
    }
    Ok(())
}

/// A verified body turned into what is staged.
struct Delivery {
    event_id: String,
    batch: StagedBatch,
    /// Why the body as a whole could not be read; it is then the batch's
    /// one rejection and the sender gets a 400.
    unreadable: Option<String>,
}

/// The event id and records of a verified body. Nothing is dropped: a body
/// that cannot be read becomes one rejection carrying its text, a record
/// without a key becomes a rejection with the reason.
fn parse_delivery(stream: &WebhookStreamConfig, headers: &HeaderMap, body: &[u8]) -> Delivery {
    let body_hash = || format!("sha256:{}", hex::encode(Sha256::digest(body)));
    let header_id = stream.event_id_header.as_ref().map(|name| {
        headers
            .get(name.as_str())
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .ok_or_else(|| format!("the request has no {name} header with the event id"))
    });
    let unreadable = |event_id: String, reason: String| Delivery {
        event_id,
        batch: StagedBatch {
            rejected: vec![Rejection {
                source_id: None,
                reason: reason.clone(),
                raw: String::from_utf8_lossy(body).into_owned(),
            }],
            ..StagedBatch::default()
        },
        unreadable: Some(reason),
    };

    let document: serde_json::Value = match serde_json::from_slice(body) {
        Ok(document) => document,
        Err(error) => {
            // A redelivery of the same broken body is recognised by its id
            // (or its hash) and not kept twice.
            let event_id = match header_id {
                Some(Ok(id)) => id,
                _ => body_hash(),
            };
            return unreadable(event_id, format!("the body is not valid JSON: {error}"));
        }
    };

    let event_id = match (&stream.event_id, header_id) {
        (Some(path), _) => lookup_text(&document, path)
            .ok_or_else(|| format!("the body has no event id at `{path}`")),
        (None, Some(found)) => found,
        (None, None) => Ok(body_hash()),
    };
    let event_id = match event_id {
        Ok(id) => id,
        Err(reason) => return unreadable(body_hash(), reason),
    };

    let items: Vec<serde_json::Value> = match &stream.records_path {
        Some(path) => match lookup(&document, path) {
            Some(serde_json::Value::Array(items)) => items.clone(),
            Some(_) => {
                return unreadable(
                    event_id,
                    format!("`{path}` in the body is not a list of records"),
                )
            }
            None => {
                return unreadable(
                    event_id,
                    format!("the body has no list of records at `{path}`"),
                )
            }
        },
        None => vec![document],
    };

    let mut batch = StagedBatch::default();
    for item in items {
        match lookup_text(&item, &stream.primary_key) {
            Some(source_id) => batch.records.push(SourceRecord {
                source_id,
                raw: item,
            }),
            None => batch.rejected.push(Rejection {
                source_id: None,
                reason: format!(
                    "the record has no primary key at `{}`: the sender must include it, or primary_key in the connector file must name the field",
                    stream.primary_key
                ),
                raw: item.to_string(),
            }),
        }
    }
    Delivery {
        event_id,
        batch,
        unreadable: None,
    }
}
