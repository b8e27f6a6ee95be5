//! The configuration of an `http` connector, as written in
//! `connectors/<id>.toml`.
//!
//! Everything here is plain data read with serde; `super::build` checks
//! what serde cannot (secrets, templates, references between streams) and
//! turns it into the runtime source.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The connector file without its `type`, `description` and `streams`
/// (each stream is read on its own, so every stream's problems are
/// reported).
///
/// ```toml
/// type = "http"
/// base_url = "https://acme.zendesk.com/api/v2"
/// [auth]
/// kind = "basic"
/// username = "ops@acme.example/token"
/// password = "${ZENDESK_TOKEN}"
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpConnectorConfig {
    /// The URL every stream path is appended to, e.g.
    /// `https://shop.myshopify.com/admin/api/2024-01`.
    pub base_url: String,
    /// How requests are authenticated; no authentication when left out.
    #[serde(default)]
    pub auth: AuthConfig,
    /// The request rate allowed on this connector's credential.
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// At most this many requests of this connector are in flight at once
    /// (fan-out requests run in parallel up to this bound).
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: usize,
    /// Seconds one request may take, connecting and reading the body
    /// included, before it counts as failed and is retried. Fractions allowed.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: f64,
    /// How failed requests are retried.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Error signals inside HTTP 200 bodies (WeCom `errcode`, JSON-RPC `error`).
    #[serde(default)]
    pub errors: ErrorSignals,
    /// Values for `{{ name }}` placeholders: numbers, text, lists, tables.
    /// Text may reference environment variables as `${NAME}`.
    #[serde(default)]
    pub vars: toml::Table,
    /// Secrets for `{{ secrets.name }}` placeholders, each written as a
    /// `${ENV_NAME}` reference; never logged, redacted from URLs in errors.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

fn default_max_concurrency() -> usize {
    4
}

fn default_timeout_secs() -> f64 {
    30.0
}

/// How a request proves who sends it. Secrets are `${ENV_NAME}` references.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthConfig {
    /// No authentication.
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token, as a `${ENV_NAME}` reference.
        token: String,
    },
    /// HTTP basic authentication, e.g. Zendesk `email/token` + API token.
    Basic {
        /// The user name (not secret), e.g. `ops@acme.example/token`.
        username: String,
        /// The password or API token, as a `${ENV_NAME}` reference.
        password: String,
    },
    /// A fixed key in a header (e.g. `X-Shopify-Access-Token`) or a query
    /// parameter.
    ApiKey {
        /// The header or query parameter name.
        name: String,
        /// The key, as a `${ENV_NAME}` reference.
        value: String,
        /// Where the key goes: `header` (default) or `query`.
        #[serde(default)]
        location: Placement,
        /// Text put before the key in a header, e.g. `"Token "`.
        #[serde(default)]
        prefix: String,
    },
    /// OAuth 2 client credentials: the token is fetched from `token_url`,
    /// cached until it expires and sent as `Authorization: Bearer`.
    Oauth2ClientCredentials {
        /// The token endpoint, absolute or relative to `base_url`.
        token_url: String,
        /// The client id (not secret).
        client_id: String,
        /// The client secret, as a `${ENV_NAME}` reference.
        client_secret: String,
        /// The scopes to ask for, space separated.
        scope: Option<String>,
    },
    /// A token fetched from an endpoint of the API itself (WeCom
    /// `gettoken`), cached until it expires, refetched on HTTP 401 and on the
    /// `[errors] token_expired_codes`.
    TokenEndpoint(TokenEndpointConfig),
}

/// The `token_endpoint` auth kind.
///
/// ```toml
/// [auth]
/// kind = "token_endpoint"
/// url = "/cgi-bin/gettoken"
/// query = { corpid = "{{ corp_id }}", corpsecret = "{{ secrets.corp_secret }}" }
/// token_path = "access_token"
/// expires_in_path = "expires_in"
/// location = "query"
/// name = "access_token"
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TokenEndpointConfig {
    /// The token URL, absolute or relative to `base_url`.
    pub url: String,
    /// `GET` (default) or `POST`.
    #[serde(default)]
    pub method: HttpMethod,
    /// Query parameters; values may use `{{ vars }}` and `{{ secrets.x }}`.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// A JSON body (a TOML table), with the same placeholders.
    pub body: Option<toml::Table>,
    /// The dotted path of the token in the response, e.g. `access_token`.
    pub token_path: String,
    /// The dotted path of the token's lifetime in seconds, e.g. `expires_in`.
    pub expires_in_path: Option<String>,
    /// The lifetime assumed when the response does not give one.
    #[serde(default = "default_token_lifetime_secs")]
    pub default_expires_in_secs: u64,
    /// Where the token goes on each request: `header` (default) or `query`.
    #[serde(default)]
    pub location: Placement,
    /// The header or query parameter name.
    #[serde(default = "default_token_name")]
    pub name: String,
    /// Text put before the token in a header.
    #[serde(default = "default_token_prefix")]
    pub prefix: String,
}

fn default_token_lifetime_secs() -> u64 {
    3600
}

fn default_token_name() -> String {
    "Authorization".to_string()
}

fn default_token_prefix() -> String {
    "Bearer ".to_string()
}

/// Where a key or token is sent.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// In a request header.
    #[default]
    Header,
    /// In a query parameter.
    Query,
}

/// HTTP methods a stream, token request or push-back call uses.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
pub enum HttpMethod {
    /// `GET`.
    #[default]
    #[serde(rename = "GET", alias = "get")]
    Get,
    /// `POST`.
    #[serde(rename = "POST", alias = "post")]
    Post,
    /// `PUT`.
    #[serde(rename = "PUT", alias = "put")]
    Put,
    /// `DELETE`.
    #[serde(rename = "DELETE", alias = "delete")]
    Delete,
}

/// The request rate allowed on a credential.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Average requests per second; 0 means no limit.
    #[serde(default)]
    pub requests_per_second: f64,
    /// Requests allowed in a burst above the average.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// The credential's name: connectors sharing an account share one key,
    /// and so one limit and one pause. Defaults to the connector id.
    pub key: Option<String>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            requests_per_second: 0.0,
            burst: default_burst(),
            key: None,
        }
    }
}

fn default_burst() -> u32 {
    1
}

/// Retries of failed requests: exponential backoff with full jitter.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Tries per request, the first included.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// The backoff before the second try, in milliseconds; it doubles each try.
    #[serde(default = "default_base_delay_ms")]
    pub base_delay_ms: u64,
    /// The longest backoff between tries, in milliseconds.
    #[serde(default = "default_max_delay_ms")]
    pub max_delay_ms: u64,
    /// The longest `Retry-After` honoured; a longer one fails the request
    /// (as retryable later) instead of blocking the sync.
    #[serde(default = "default_max_retry_after_secs")]
    pub max_retry_after_secs: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: default_max_attempts(),
            base_delay_ms: default_base_delay_ms(),
            max_delay_ms: default_max_delay_ms(),
            max_retry_after_secs: default_max_retry_after_secs(),
        }
    }
}

fn default_max_attempts() -> u32 {
    5
}

fn default_base_delay_ms() -> u64 {
    500
}

fn default_max_delay_ms() -> u64 {
    30_000
}

fn default_max_retry_after_secs() -> u64 {
    900
}

/// Error signals in bodies answered with HTTP 200.
///
/// ```toml
/// [errors]
/// code_path = "errcode"
/// rate_limited_codes = [45009, 45033]
/// retryable_codes = [-1, 6000]
/// token_expired_codes = [40014, 42001]
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ErrorSignals {
    /// The dotted path of an error code; a code not in `ok_codes` is an error.
    pub code_path: Option<String>,
    /// Codes meaning success.
    #[serde(default = "default_ok_codes")]
    pub ok_codes: Vec<i64>,
    /// Codes meaning "too many requests": every request on the credential
    /// pauses `rate_limited_pause_secs`, then the request is retried.
    #[serde(default)]
    pub rate_limited_codes: Vec<i64>,
    /// Seconds to pause the credential after a rate-limited code (WeCom's
    /// 45009 window lasts a minute).
    #[serde(default = "default_rate_limited_pause_secs")]
    pub rate_limited_pause_secs: f64,
    /// Codes worth retrying with backoff (WeCom -1 "system busy", 6000).
    #[serde(default)]
    pub retryable_codes: Vec<i64>,
    /// Codes meaning the access token expired: it is refetched and the
    /// request retried.
    #[serde(default)]
    pub token_expired_codes: Vec<i64>,
    /// A dotted path whose presence (not null or false) means an error, e.g.
    /// JSON-RPC's `error`.
    pub error_path: Option<String>,
    /// Paths of text put into the error message when a signal fires.
    #[serde(default = "default_message_paths")]
    pub message_paths: Vec<String>,
    /// The path of an error's name (Odoo `error.data.name`), compared with
    /// `retryable_names`.
    pub name_path: Option<String>,
    /// Error names worth retrying, e.g. a serialization failure.
    #[serde(default)]
    pub retryable_names: Vec<String>,
    /// Error names meaning "too many requests", e.g. Shopify GraphQL's
    /// `THROTTLED`: the credential pauses `rate_limited_pause_secs`, then the
    /// request is retried.
    #[serde(default)]
    pub rate_limited_names: Vec<String>,
}

impl Default for ErrorSignals {
    fn default() -> Self {
        ErrorSignals {
            code_path: None,
            ok_codes: default_ok_codes(),
            rate_limited_codes: Vec::new(),
            rate_limited_pause_secs: default_rate_limited_pause_secs(),
            retryable_codes: Vec::new(),
            token_expired_codes: Vec::new(),
            error_path: None,
            message_paths: default_message_paths(),
            name_path: None,
            retryable_names: Vec::new(),
            rate_limited_names: Vec::new(),
        }
    }
}

fn default_ok_codes() -> Vec<i64> {
    vec![0]
}

fn default_rate_limited_pause_secs() -> f64 {
    60.0
}

fn default_message_paths() -> Vec<String> {
    ["errmsg", "error.message", "error.data.name", "message"]
        .into_iter()
        .map(String::from)
        .collect()
}

/// One stream: a request, how to page through it and where its records are.
///
/// ```toml
/// [streams.customers]
/// path = "/customers.json"
/// query = { updated_at_min = "{{ since }}", limit = "250" }
/// records_path = "customers"
/// primary_key = "id"
/// pagination = { style = "link_header" }
/// incremental = { cursor_field = "updated_at", format = "rfc3339", lookback_secs = 60 }
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// `GET` (default) or `POST`.
    #[serde(default)]
    pub method: HttpMethod,
    /// The path after `base_url` (or a full URL); may hold placeholders.
    pub path: String,
    /// Query parameters; values may hold placeholders.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Request headers; values may hold placeholders.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body, written as a TOML table. A string that is exactly one
    /// placeholder becomes the variable's JSON value (a number, a list);
    /// a list item that is one placeholder of a list is spliced in.
    pub body: Option<toml::Table>,
    /// The dotted path of the array of records in the response; `""` when
    /// the response itself is the array.
    pub records_path: String,
    /// The dotted path of a record's id, e.g. `external_contact.external_userid`.
    pub primary_key: String,
    /// Drop records whose primary key was already seen in this sync (WeCom
    /// returns one row per following member).
    #[serde(default)]
    pub dedupe: bool,
    /// With `dedupe`, top-level fields whose value on each repeated row is
    /// gathered into a list on the record instead of dropped (WeCom's
    /// `follow_info`: one per member who follows the contact). Records are
    /// held until the sweep's last page, then sent; an interrupted sweep
    /// starts again from the start.
    #[serde(default)]
    pub gather: Vec<String>,
    /// `false` for a stream that only feeds another stream's `fan_out` and
    /// is not synced itself.
    #[serde(default = "default_true")]
    pub sync: bool,
    /// How to get the next page.
    #[serde(default)]
    pub pagination: PaginationConfig,
    /// Fetch only what changed since the last sync.
    pub incremental: Option<IncrementalConfig>,
    /// Run this stream's request once per value taken from another stream.
    pub fan_out: Option<FanOutConfig>,
    /// Related objects the answer carries beside the records, attached to
    /// the records that refer to them (Zendesk's `include=organizations`).
    #[serde(default)]
    pub sideloads: Vec<SideloadConfig>,
}

/// Related objects an API returns beside a page's records, each put into
/// the records that hold its id, so a mapping can read it like a nested
/// object (`organization.name`).
///
/// ```toml
/// [[streams.users.sideloads]]
/// path = "organizations"
/// field = "organization_id"
/// into = "organization"
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SideloadConfig {
    /// The dotted path of the array of related objects in the answer.
    pub path: String,
    /// The dotted path of an object's id.
    #[serde(default = "default_id_field")]
    pub key: String,
    /// The dotted path of the related object's id in a record.
    pub field: String,
    /// The name the object is put under in each record that refers to it.
    pub into: String,
}

fn default_true() -> bool {
    true
}

/// Pagination styles. Page variables (`page`, `offset`, `limit`, `cursor`,
/// `since_id`) may also be used as placeholders, e.g. in a POST body.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(tag = "style", rename_all = "snake_case", deny_unknown_fields)]
pub enum PaginationConfig {
    /// One request, one page.
    #[default]
    None,
    /// `?page=1,2,…`; stops on an empty or short page.
    PageNumber {
        /// The query parameter of the page number; leave out to send it only
        /// through `{{ page }}`.
        param: Option<String>,
        /// The first page's number.
        #[serde(default = "default_first_page")]
        start: u64,
        /// The query parameter of the page size, if any.
        size_param: Option<String>,
        /// Records per page; a shorter page is the last.
        size: u64,
    },
    /// `?offset=0&limit=100`, then `offset=100`…; stops on an empty or short page.
    OffsetLimit {
        /// The query parameter of the offset, if sent as one.
        offset_param: Option<String>,
        /// The query parameter of the limit, if sent as one.
        limit_param: Option<String>,
        /// Records per page.
        limit: u64,
    },
    /// An opaque cursor read from each response (WeCom `next_cursor`,
    /// Zendesk `after_cursor`); stops when the cursor is missing or empty,
    /// when `stop_path` is true, or when `more_path` is not true.
    Cursor {
        /// The dotted path of the next cursor in the response.
        cursor_path: String,
        /// The query parameter carrying the cursor on follow-up requests;
        /// leave out when `{{ cursor }}` is placed in the body or query.
        param: Option<String>,
        /// Follow-up requests carry only the cursor parameter, not the
        /// stream's `query` (Zendesk exports reject `start_time` with `cursor`).
        #[serde(default)]
        only_cursor: bool,
        /// With `only_cursor`, the query parameters follow-up requests still
        /// carry (Zendesk's `include` of sideloads).
        #[serde(default)]
        keep_query: Vec<String>,
        /// A dotted path that is true on the last page (`end_of_stream`).
        stop_path: Option<String>,
        /// A dotted path that is true while more pages follow
        /// (`meta.has_more`); the sweep stops on a page where it is not.
        more_path: Option<String>,
        /// Keep the last cursor after a complete sweep and continue from it
        /// next sync (Zendesk incremental exports).
        #[serde(default)]
        keep_final_cursor: bool,
    },
    /// The `Link: <…>; rel="next"` header (Shopify). Follow-up requests are
    /// exactly the next URL: no stream query is added to them.
    LinkHeader,
    /// `?since_id=<largest id so far>` (Shopify REST); stops on an empty page
    /// or, with `limit`, a short one.
    SinceId {
        /// The query parameter.
        #[serde(default = "default_since_id_param")]
        param: String,
        /// The dotted path of the id in a record; defaults to `primary_key`.
        id_field: Option<String>,
        /// Records per page, if the request asks for a fixed number.
        limit: Option<u64>,
    },
    /// Keyset on (incremental cursor, id), e.g. Odoo's domain
    /// `[["write_date", ">=", "{{ since }}"]]` ordered `write_date asc, id asc`:
    /// each page starts at the last timestamp seen (`>=`, overlapping) and
    /// rows up to the last (timestamp, id) already seen are dropped.
    Keyset {
        /// The dotted path of the id that breaks timestamp ties.
        #[serde(default = "default_id_field")]
        id_field: String,
        /// Records per page; a shorter page is the last.
        limit: u64,
    },
}

fn default_first_page() -> u64 {
    1
}

fn default_since_id_param() -> String {
    "since_id".to_string()
}

fn default_id_field() -> String {
    "id".to_string()
}

/// Incremental sync on a timestamp in each record.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IncrementalConfig {
    /// The dotted path of the record's last-change time, e.g. `updated_at`.
    pub cursor_field: String,
    /// How the time is written, in records and in `{{ since }}`.
    #[serde(default)]
    pub format: CursorFormat,
    /// Seconds subtracted from the last committed time when the next sync
    /// starts, to pick up late writes; unchanged records are ignored by staging.
    #[serde(default)]
    pub lookback_secs: u64,
    /// `{{ since }}` on the first sync, in `format`; the epoch by default.
    pub start: Option<String>,
}

/// Formats of an incremental cursor.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum CursorFormat {
    /// `2024-05-03T10:11:12Z` (any offset is read).
    #[default]
    Rfc3339,
    /// Seconds since the epoch, `1714730401`.
    UnixSeconds,
    /// Odoo's naive UTC `2024-05-03 02:11:12`.
    NaiveUtc,
}

impl CursorFormat {
    /// The name written in the connector file.
    pub fn name(self) -> &'static str {
        match self {
            CursorFormat::Rfc3339 => "rfc3339",
            CursorFormat::UnixSeconds => "unix_seconds",
            CursorFormat::NaiveUtc => "naive_utc",
        }
    }
}

/// Run a stream once per value of another stream (WeCom: contacts per
/// following member).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FanOutConfig {
    /// The stream of this connector whose request yields the values.
    pub stream: String,
    /// The dotted path of an array of values in that stream's responses,
    /// e.g. `follow_user`; leave out to use `value_field` of its records.
    pub values_path: Option<String>,
    /// The dotted path of the value in each of that stream's records.
    pub value_field: Option<String>,
    /// The placeholder name of the value (or of the list of values).
    #[serde(default = "default_fan_out_variable")]
    pub variable: String,
    /// Values per request: 1 sends each value alone; more sends a list
    /// (WeCom `userid_list` takes up to 100).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
}

fn default_fan_out_variable() -> String {
    "fan_out".to_string()
}

fn default_batch_size() -> usize {
    1
}
