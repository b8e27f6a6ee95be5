//! Sending one request with retries: exponential backoff with full jitter,
//! `Retry-After` (seconds, fractional seconds, HTTP-date), body-level error
//! signals in HTTP 200 answers, token refresh, and redaction of secrets
//! from everything an error or a log line shows.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::header::{HeaderMap, LINK, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde_json::Value;

use super::config::{ErrorSignals, HttpMethod, RetryConfig};
use super::source::Inner;
use crate::connectors::rate_limit::RateLimiter;
use crate::connectors::{ConnectorError, SourceContext};
use crate::mapping::path::{lookup, scalar_text};

/// Characters of a response body quoted in an error message.
const EXCERPT_CHARS: usize = 200;

/// One request, ready to send (before authentication is added).
#[derive(Debug, Clone)]
pub(super) struct RequestSpec {
    pub method: HttpMethod,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    /// A form body (`application/x-www-form-urlencoded`), for OAuth 2.
    pub form: Option<Vec<(String, String)>>,
}

/// A successful answer, parsed.
#[derive(Debug, Clone)]
pub(super) struct Response {
    /// The `rel="next"` target of the `Link` header, if any.
    pub link_next: Option<String>,
    pub body: Value,
}

/// What one try of a request came to.
enum Outcome {
    Done(Response),
    /// Worth another try: after `wait` when the source said how long (the
    /// credential's limiter is then paused), else after a backoff.
    Retry {
        reason: String,
        wait: Option<Duration>,
    },
    /// The token was refused as expired: it was dropped, try again at once.
    Refresh {
        reason: String,
    },
    Fail(ConnectorError),
}

/// What a connector uses to send requests during one check or pull.
#[derive(Clone)]
pub(super) struct Session {
    pub inner: Arc<Inner>,
    pub context: SourceContext,
    pub limiter: Arc<RateLimiter>,
}

impl Session {
    /// A session for `inner` on the context's shared client and limiters.
    pub fn new(inner: Arc<Inner>, context: &SourceContext) -> Session {
        let key = inner
            .rate_limit
            .key
            .clone()
            .unwrap_or_else(|| inner.id.clone());
        let limiter = context.limiters.get(
            &key,
            inner.rate_limit.requests_per_second,
            inner.rate_limit.burst,
        );
        Session::with_limiter(inner, context, limiter)
    }

    /// A session for `inner` throttled by `limiter`.
    pub fn with_limiter(
        inner: Arc<Inner>,
        context: &SourceContext,
        limiter: Arc<RateLimiter>,
    ) -> Session {
        Session {
            inner,
            context: context.clone(),
            limiter,
        }
    }

    /// `http connector <id>, stream <stream>`: the start of every message.
    pub fn label(&self, stream: &str) -> String {
        format!("http connector {}, stream {stream}", self.inner.id)
    }

    /// Sends a stream request with the connector's authentication, retrying
    /// what may pass on retry.
    pub async fn send(&self, stream: &str, spec: &RequestSpec) -> Result<Response, ConnectorError> {
        self.send_with_retries(stream, spec, true).await
    }

    /// Sends a token request: no authentication, same retries and signals.
    pub async fn send_unauthenticated(
        &self,
        stream: &str,
        spec: &RequestSpec,
    ) -> Result<Response, ConnectorError> {
        self.send_with_retries(stream, spec, false).await
    }

    async fn send_with_retries(
        &self,
        stream: &str,
        spec: &RequestSpec,
        authenticated: bool,
    ) -> Result<Response, ConnectorError> {
        let retry = &self.inner.retry;
        let max_attempts = retry.max_attempts.max(1);
        let mut attempt = 0;
        let mut refreshes = 0;
        let mut last_reason = String::new();
        while attempt < max_attempts {
            if self.context.shutdown.is_cancelled() {
                return Err(ConnectorError::external(
                    format!("{}: stopped, shutdown was requested", self.label(stream)),
                    true,
                ));
            }
            match self.try_once(stream, spec, authenticated).await {
                Outcome::Done(response) => return Ok(response),
                Outcome::Fail(error) => return Err(error),
                Outcome::Refresh { reason } => {
                    refreshes += 1;
                    if refreshes > 2 {
                        return Err(ConnectorError::external(
                            format!("{reason}; a freshly fetched token was refused too"),
                            false,
                        ));
                    }
                    tracing::info!(connector = %self.inner.id, stream, %reason, "refetching the access token");
                }
                Outcome::Retry { reason, wait } => {
                    attempt += 1;
                    if attempt >= max_attempts {
                        last_reason = reason;
                        break;
                    }
                    let delay = match wait {
                        // The limiter is paused: the next acquire waits.
                        Some(_) => Duration::ZERO,
                        None => backoff(attempt, retry),
                    };
                    tracing::warn!(connector = %self.inner.id, stream, %reason, attempt, ?delay, "retrying a request");
                    last_reason = reason;
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = self.context.shutdown.cancelled() => {}
                    }
                }
            }
        }
        Err(ConnectorError::external(
            format!("{last_reason} (gave up after {max_attempts} attempts)"),
            true,
        ))
    }

    async fn try_once(&self, stream: &str, spec: &RequestSpec, authenticated: bool) -> Outcome {
        let inner = &self.inner;
        let label = self.label(stream);
        // The credential first: fetching a token takes a permit of its own,
        // so holding one here could starve it.
        let credential = if authenticated {
            match inner.auth.credential(self).await {
                Ok(credential) => Some(credential),
                Err(error) => return Outcome::Fail(error),
            }
        } else {
            None
        };
        // The semaphore is never closed; a closed one would only lift the bound.
        let _permit = inner.concurrency.acquire().await.ok();
        self.limiter.acquire().await;
        let mut url = spec.url.clone();
        if let Some((name, value)) = credential.as_ref().and_then(|c| c.query.as_ref()) {
            set_query_param(&mut url, name, value);
        }
        let shown = inner.redactor.url(&url);
        let method = match spec.method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
            HttpMethod::Delete => reqwest::Method::DELETE,
        };
        let what = format!("{label}: {method} {shown}");
        let mut request = self
            .context
            .http
            .request(method, url)
            .timeout(inner.timeout);
        for (name, value) in &spec.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(credential) = &credential {
            if let Some((name, value)) = &credential.header {
                request = request.header(name.as_str(), value.as_str());
            }
            if let Some((username, password)) = &credential.basic {
                request = request.basic_auth(username, Some(password));
            }
        }
        if let Some(body) = &spec.body {
            request = request.json(body);
        }
        if let Some(form) = &spec.form {
            request = request.form(form);
        }
        tracing::debug!(request = %what, "sending");
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                return Outcome::Retry {
                    reason: format!("{what} failed: {}", describe(&error, inner.timeout)),
                    wait: None,
                }
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(error) => {
                return Outcome::Retry {
                    reason: format!(
                        "{what}: reading the answer failed: {}",
                        describe(&error, inner.timeout)
                    ),
                    wait: None,
                }
            }
        };
        let excerpt = || inner.redactor.text(&excerpt(&bytes));
        if status == StatusCode::TOO_MANY_REQUESTS
            || status.is_server_error()
            || status == StatusCode::REQUEST_TIMEOUT
        {
            let reason = format!("{what} answered HTTP {status}: {}", excerpt());
            if status == StatusCode::TOO_MANY_REQUESTS {
                inner.throttled.fetch_add(1, Ordering::Relaxed);
            }
            return match retry_after(&headers) {
                Some(wait) if wait > Duration::from_secs(inner.retry.max_retry_after_secs) => {
                    Outcome::Fail(ConnectorError::external(
                        format!("{reason}; it asks to wait {wait:?}, longer than retry.max_retry_after_secs"),
                        true,
                    ))
                }
                Some(wait) => {
                    self.limiter.pause_for(wait);
                    Outcome::Retry {
                        reason,
                        wait: Some(wait),
                    }
                }
                None => Outcome::Retry { reason, wait: None },
            };
        }
        if status == StatusCode::UNAUTHORIZED {
            let reason = format!("{what} answered HTTP {status}: {}", excerpt());
            if let Some(token) = credential.as_ref().and_then(|c| c.fetched_token.as_deref()) {
                inner.auth.invalidate(token).await;
                return Outcome::Refresh { reason };
            }
            return Outcome::Fail(ConnectorError::external(
                format!("{reason}; check the credentials in [auth]"),
                false,
            ));
        }
        if !status.is_success() {
            return Outcome::Fail(
                ConnectorError::external(
                    format!("{what} answered HTTP {status}: {}", excerpt()),
                    false,
                )
                .with_http_status(status.as_u16()),
            );
        }
        // A write may answer with no body at all (Zendesk's DELETE of tags:
        // 204 No Content); an empty page of a pull is a cut-off answer.
        let no_content = bytes.iter().all(u8::is_ascii_whitespace)
            && (status == StatusCode::NO_CONTENT || spec.method != HttpMethod::Get);
        let body: Value = match serde_json::from_slice(&bytes) {
            _ if no_content => Value::Null,
            Ok(body) => body,
            Err(error) => {
                return Outcome::Retry {
                    reason: format!(
                        "{what} answered HTTP {status} with a body that is not JSON ({error}): {}",
                        excerpt()
                    ),
                    wait: None,
                }
            }
        };
        match classify(&inner.errors, &body) {
            Signal::Ok => {}
            Signal::RateLimited(message) => {
                inner.throttled.fetch_add(1, Ordering::Relaxed);
                let wait = Duration::from_secs_f64(inner.errors.rate_limited_pause_secs.max(0.0));
                self.limiter.pause_for(wait);
                return Outcome::Retry {
                    reason: format!(
                        "{what} was rate limited ({})",
                        inner.redactor.text(&message)
                    ),
                    wait: Some(wait),
                };
            }
            Signal::Retryable(message) => {
                return Outcome::Retry {
                    reason: format!("{what} failed: {}", inner.redactor.text(&message)),
                    wait: None,
                }
            }
            Signal::TokenExpired(message) => {
                let reason = format!(
                    "{what}: the token expired ({})",
                    inner.redactor.text(&message)
                );
                if let Some(token) = credential.as_ref().and_then(|c| c.fetched_token.as_deref()) {
                    inner.auth.invalidate(token).await;
                    return Outcome::Refresh { reason };
                }
                return Outcome::Fail(ConnectorError::external(reason, false));
            }
            Signal::Error(message) => {
                return Outcome::Fail(ConnectorError::external(
                    format!("{what} failed: {}", inner.redactor.text(&message)),
                    false,
                ))
            }
        }
        let link_next = headers
            .get_all(LINK)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(super::paginate::next_link);
        Outcome::Done(Response { link_next, body })
    }
}

/// Sets (or replaces) one query parameter of a URL, keeping the others.
pub(super) fn set_query_param(url: &mut Url, name: &str, value: &str) {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(key, _)| key != name)
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    let mut pairs = url.query_pairs_mut();
    pairs.clear();
    for (key, value) in &kept {
        pairs.append_pair(key, value);
    }
    pairs.append_pair(name, value);
}

/// A transport error in words, without the URL (which may carry secrets).
fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!("timed out after {timeout:?}");
    }
    let mut text = if error.is_connect() {
        "could not connect".to_string()
    } else {
        error_kind(error).to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What kind of transport failure a reqwest error is; its `Display` would
/// include the URL.
fn error_kind(error: &reqwest::Error) -> &'static str {
    if error.is_body() || error.is_decode() {
        "reading the body failed"
    } else if error.is_request() {
        "sending the request failed"
    } else if error.is_redirect() {
        "too many redirects"
    } else {
        "the request failed"
    }
}

/// `text` as a URL query encodes it (`application/x-www-form-urlencoded`).
fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// The first characters of a body, on one line.
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut excerpt: String = text
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > EXCERPT_CHARS {
        excerpt.push('…');
    }
    if excerpt.trim().is_empty() {
        "(empty body)".to_string()
    } else {
        excerpt
    }
}

/// The wait a `Retry-After` header asks for.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, Utc::now())
}

/// Parses `Retry-After`: whole or fractional seconds (`120`, Shopify's
/// `2.0`) or an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`, also the
/// obsolete RFC 850 and asctime forms). A date in the past means no wait.
pub(super) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let date = DateTime::parse_from_rfc2822(value)
        .map(|date| date.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(value, "%A, %d-%b-%y %H:%M:%S GMT")
                .ok()
                .map(|date| date.and_utc())
        })
        .or_else(|| {
            NaiveDateTime::parse_from_str(value, "%a %b %e %H:%M:%S %Y")
                .ok()
                .map(|date| date.and_utc())
        })?;
    Some((date - now).to_std().unwrap_or(Duration::ZERO))
}

/// The backoff before try `attempt + 1` (attempt counts from 1): full
/// jitter, uniformly random between zero and `base * 2^(attempt-1)`,
/// capped at `max_delay_ms`.
pub(super) fn backoff(attempt: u32, retry: &RetryConfig) -> Duration {
    let exponent = attempt.saturating_sub(1).min(32);
    let ceiling = retry
        .base_delay_ms
        .saturating_mul(1u64 << exponent)
        .min(retry.max_delay_ms);
    Duration::from_millis((ceiling as f64 * random_unit()).round() as u64)
}

/// A random number in [0, 1) for jitter. The standard library's hasher keys
/// are random per process; a counter makes every draw differ.
fn random_unit() -> f64 {
    static DRAWS: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(DRAWS.fetch_add(1, Ordering::Relaxed));
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// What a 200 body says about the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Signal {
    Ok,
    /// Too many requests: pause the credential, then retry.
    RateLimited(String),
    /// A transient failure: retry with backoff.
    Retryable(String),
    /// The access token expired: refetch it, then retry.
    TokenExpired(String),
    /// An error retrying will not fix.
    Error(String),
}

/// Reads the body-level error signals configured in `[errors]`.
pub(super) fn classify(signals: &ErrorSignals, body: &Value) -> Signal {
    let details = || {
        let parts: Vec<String> = signals
            .message_paths
            .iter()
            .filter_map(|path| lookup(body, path).and_then(scalar_text))
            .collect();
        parts.join("; ")
    };
    if let Some(path) = &signals.code_path {
        let code = lookup(body, path).and_then(|value| match value {
            Value::Number(number) => number.as_i64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        });
        if let Some(code) = code {
            if !signals.ok_codes.contains(&code) {
                let message = format!("{path} {code}: {}", details());
                return if signals.rate_limited_codes.contains(&code) {
                    Signal::RateLimited(message)
                } else if signals.retryable_codes.contains(&code) {
                    Signal::Retryable(message)
                } else if signals.token_expired_codes.contains(&code) {
                    Signal::TokenExpired(message)
                } else {
                    Signal::Error(message)
                };
            }
        }
    }
    if let Some(path) = &signals.error_path {
        let present = lookup(body, path)
            .is_some_and(|value| !matches!(value, Value::Null | Value::Bool(false)));
        if present {
            let name = signals
                .name_path
                .as_deref()
                .and_then(|name_path| lookup(body, name_path))
                .and_then(scalar_text);
            let message = format!("the answer carries {path}: {}", details());
            return match name {
                Some(name) if signals.rate_limited_names.contains(&name) => {
                    Signal::RateLimited(message)
                }
                Some(name) if signals.retryable_names.contains(&name) => Signal::Retryable(message),
                _ => Signal::Error(message),
            };
        }
    }
    Signal::Ok
}

/// Removes secrets from what errors and logs show: the configured secret
/// values, fetched tokens, and the values of query parameters whose names
/// say they are secret.
#[derive(Debug, Default)]
pub(super) struct Redactor {
    secrets: RwLock<Vec<String>>,
}

/// Query parameter names (lowercase fragments) whose values are hidden.
const SECRET_PARAM_WORDS: [&str; 6] = ["token", "secret", "key", "password", "signature", "sig"];

impl Redactor {
    /// Hides `value` from now on wherever it appears.
    pub fn add(&self, value: &str) {
        // Very short values would hide ordinary text and protect little.
        if value.len() < 4 {
            return;
        }
        let mut secrets = self.secrets.write().unwrap_or_else(|p| p.into_inner());
        if !secrets.iter().any(|known| known == value) {
            secrets.push(value.to_string());
        }
    }

    /// `text` with every known secret (and its URL-encoded form) replaced.
    pub fn text(&self, text: &str) -> String {
        let secrets = self.secrets.read().unwrap_or_else(|p| p.into_inner());
        let mut text = text.to_string();
        for secret in secrets.iter() {
            text = text.replace(secret.as_str(), "***");
            let encoded = form_encode(secret);
            if encoded != *secret {
                text = text.replace(encoded.as_str(), "***");
            }
        }
        text
    }

    /// A URL fit to show: no password, secret query values hidden.
    pub fn url(&self, url: &Url) -> String {
        let mut shown = url.clone();
        let _ = shown.set_password(None);
        if shown.query().is_some() {
            let pairs: Vec<(String, String)> = shown
                .query_pairs()
                .map(|(name, value)| {
                    let lower = name.to_ascii_lowercase();
                    let hidden = SECRET_PARAM_WORDS.iter().any(|word| lower.contains(word));
                    let value = if hidden {
                        "***".to_string()
                    } else {
                        value.into_owned()
                    };
                    (name.into_owned(), value)
                })
                .collect();
            shown.query_pairs_mut().clear().extend_pairs(pairs);
        }
        self.text(shown.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn retry_after_reads_seconds_fractions_and_dates() {
        let now = Utc.with_ymd_and_hms(2015, 10, 21, 7, 27, 0).unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after(" 2.0 ", now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            parse_retry_after("0.25", now),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:28:30 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_retry_after("Wed Oct 21 07:29:00 2015", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO),
            "a past date means no wait"
        );
        for bad in ["", "-1", "soon", "NaN", "inf"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn backoff_stays_within_its_exponential_ceiling_and_the_cap() {
        let retry = RetryConfig {
            max_attempts: 10,
            base_delay_ms: 100,
            max_delay_ms: 1000,
            max_retry_after_secs: 1,
        };
        for attempt in 1..=40 {
            let ceiling = (100u64 << (attempt - 1).min(20)).min(1000);
            let mut seen_positive = false;
            for _ in 0..200 {
                let delay = backoff(attempt, &retry).as_millis() as u64;
                assert!(delay <= ceiling, "attempt {attempt}: {delay} > {ceiling}");
                seen_positive |= delay > 0;
            }
            assert!(seen_positive, "jitter is not stuck at zero");
        }
        let spread: std::collections::BTreeSet<u128> =
            (0..50).map(|_| backoff(4, &retry).as_millis()).collect();
        assert!(
            spread.len() > 10,
            "full jitter spreads the delays: {spread:?}"
        );
    }

    #[test]
    fn body_signals_are_classified() {
        let wecom = ErrorSignals {
            code_path: Some("errcode".into()),
            rate_limited_codes: vec![45009, 45033],
            retryable_codes: vec![-1, 6000],
            token_expired_codes: vec![40014, 42001],
            ..ErrorSignals::default()
        };
        let signal = |body: Value| classify(&wecom, &body);
        assert_eq!(signal(json!({"errcode": 0, "x": 1})), Signal::Ok);
        assert_eq!(signal(json!({"x": 1})), Signal::Ok);
        assert!(matches!(
            signal(json!({"errcode": 45009})),
            Signal::RateLimited(_)
        ));
        assert!(matches!(
            signal(json!({"errcode": "-1"})),
            Signal::Retryable(_)
        ));
        assert!(matches!(
            signal(json!({"errcode": 42001})),
            Signal::TokenExpired(_)
        ));
        assert_eq!(
            signal(json!({"errcode": 40096, "errmsg": "invalid external userid"})),
            Signal::Error("errcode 40096: invalid external userid".into())
        );
        let odoo = ErrorSignals {
            error_path: Some("error".into()),
            name_path: Some("error.data.name".into()),
            retryable_names: vec!["odoo.exceptions.ConcurrencyError".into()],
            ..ErrorSignals::default()
        };
        let access = json!({"error": {"code": 200, "message": "Odoo Server Error",
            "data": {"name": "odoo.exceptions.AccessError", "message": "denied"}}});
        assert_eq!(
            classify(&odoo, &access),
            Signal::Error(
                "the answer carries error: Odoo Server Error; odoo.exceptions.AccessError".into()
            )
        );
        let busy = json!({"error": {"data": {"name": "odoo.exceptions.ConcurrencyError"}}});
        assert!(matches!(classify(&odoo, &busy), Signal::Retryable(_)));
        assert_eq!(
            classify(&odoo, &json!({"result": [], "error": null})),
            Signal::Ok
        );
        let shopify = ErrorSignals {
            error_path: Some("errors".into()),
            name_path: Some("errors[0].extensions.code".into()),
            rate_limited_names: vec!["THROTTLED".into()],
            ..ErrorSignals::default()
        };
        let throttled =
            json!({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]});
        assert!(matches!(
            classify(&shopify, &throttled),
            Signal::RateLimited(_)
        ));
        let invalid = json!({"errors": [{"message": "Invalid id", "extensions": {"code": "BAD"}}]});
        assert!(matches!(classify(&shopify, &invalid), Signal::Error(_)));
    }

    #[test]
    fn urls_and_text_are_redacted() {
        let redactor = Redactor::default();
        redactor.add("s3cr3t/value");
        let url = Url::parse(
            "https://user:pw@api.example/cgi?corpid=ww1&corpsecret=abc&access_token=t0k&x=s3cr3t%2Fvalue",
        )
        .unwrap();
        let shown = redactor.url(&url);
        assert_eq!(
            shown,
            "https://user@api.example/cgi?corpid=ww1&corpsecret=***&access_token=***&x=***"
        );
        assert_eq!(redactor.text("token s3cr3t/value here"), "token *** here");
    }

    #[test]
    fn a_query_parameter_is_replaced_not_repeated() {
        let mut url = Url::parse("https://a.example/p?access_token=old&page_info=x").unwrap();
        set_query_param(&mut url, "access_token", "new");
        assert_eq!(
            url.as_str(),
            "https://a.example/p?page_info=x&access_token=new"
        );
    }
}
