//! Configuration of a `webhook` connector: how pushed requests are
//! authenticated and where their records are in the body.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::Secret;

/// The header that carries the signature when the file names none.
pub const DEFAULT_SIGNATURE_HEADER: &str = "X-Signature-256";

/// The largest body accepted when the file sets no `max_body_bytes`: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// How far a signed timestamp may be from now when the file sets a
/// `timestamp_header` but no `tolerance_secs`: five minutes.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// A webhook connector file, after `type` and `description`.
///
/// ```toml
/// type = "webhook"
/// secret = "${SHOP_WEBHOOK_SECRET}"
/// signature_header = "X-Hub-Signature-256"
/// signature_prefix = "sha256="
///
/// [streams.orders]
/// records_path = "orders"
/// primary_key = "id"
/// event_id_header = "X-Event-Id"
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The shared secret the sender signs every body with (HMAC-SHA256),
    /// written as a reference to an environment variable: `"${NAME}"`.
    pub secret: Secret,
    /// The request header that carries the signature.
    #[serde(default = "default_signature_header")]
    pub signature_header: String,
    /// How the signature is written in the header: `hex` or `base64`.
    #[serde(default)]
    pub signature_encoding: SignatureEncoding,
    /// Text before the signature in the header, e.g. `sha256=` as GitHub
    /// sends it; a signature without it is refused.
    pub signature_prefix: Option<String>,
    /// The request header that carries the time the sender signed the
    /// request, in seconds since 1970. When set, the signed text is
    /// `{timestamp}.{body}` and requests older or newer than
    /// `tolerance_secs` are refused, so a captured request cannot be
    /// replayed later.
    pub timestamp_header: Option<String>,
    /// How many seconds a signed timestamp may be away from now; needs
    /// `timestamp_header`. Defaults to 300.
    pub tolerance_secs: Option<u64>,
    /// The largest body accepted, in bytes; larger requests are refused
    /// with 413. Defaults to 1 MiB.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// The streams this connector receives, by name; each is served at
    /// `POST /webhooks/<connector>/<stream>`.
    #[serde(default)]
    pub streams: BTreeMap<String, WebhookStreamConfig>,
}

impl WebhookConfig {
    /// How many seconds a signed timestamp may be away from now, when
    /// timestamps are checked at all.
    pub fn tolerance(&self) -> Option<u64> {
        self.timestamp_header
            .as_ref()
            .map(|_| self.tolerance_secs.unwrap_or(DEFAULT_TOLERANCE_SECS))
    }
}

/// One kind of pushed event, received at its own URL.
///
/// ```toml
/// [streams.customers]
/// primary_key = "customer.id"
/// event_id = "event.id"
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookStreamConfig {
    /// The dotted path to the array of records in the body, e.g. `data.items`;
    /// leave out when the body itself is one record.
    pub records_path: Option<String>,
    /// The dotted path to the field that identifies a record in the source,
    /// within each record, e.g. `id` or `customer.id`.
    pub primary_key: String,
    /// The dotted path to the event's id in the body (not in a record), e.g.
    /// `event_id`. A delivery whose id was seen before stages nothing.
    pub event_id: Option<String>,
    /// The request header that carries the event's id, e.g. `X-Event-Id`;
    /// instead of `event_id`. With neither, the SHA-256 of the body is the
    /// event id, so only byte-identical redeliveries are recognised.
    pub event_id_header: Option<String>,
}

/// How a signature is written as text.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SignatureEncoding {
    /// Lower- or upper-case hexadecimal, 64 characters.
    #[default]
    Hex,
    /// Standard base64 with padding, as Shopify sends it.
    Base64,
}

fn default_signature_header() -> String {
    DEFAULT_SIGNATURE_HEADER.to_string()
}

fn default_max_body_bytes() -> usize {
    DEFAULT_MAX_BODY_BYTES
}
