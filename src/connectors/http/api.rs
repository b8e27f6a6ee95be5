//! A connector's own authenticated requests, for push-back: the sinks of
//! WeCom, Shopify, Zendesk and Odoo write through the connector that reads
//! the same system, so they share its credential, its token cache, its rate
//! limit (through the context's limiters, with the pulls), its retries and
//! its error signals.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::Value;

use super::config::HttpMethod;
use super::retry::{RequestSpec, Session};
use super::source::{resolve_url, Inner};
use super::template::render_json;
use crate::connectors::{ConnectorError, SourceContext};

/// Sends requests as one http connector.
#[derive(Debug, Clone)]
pub struct HttpApi {
    inner: Arc<Inner>,
    /// A bucket of its own (requests per second, burst) instead of the
    /// connector's, for APIs whose write endpoints have their own quota.
    own_limit: Option<(f64, u32)>,
}

impl HttpApi {
    pub(super) fn new(inner: Arc<Inner>) -> HttpApi {
        HttpApi {
            inner,
            own_limit: None,
        }
    }

    /// The same handle throttled by a bucket of its own, keyed
    /// `<connector>/push`, rather than the connector's.
    pub fn with_own_rate_limit(self, requests_per_second: f64, burst: u32) -> HttpApi {
        HttpApi {
            own_limit: Some((requests_per_second, burst)),
            ..self
        }
    }

    /// The connector's id.
    pub fn connector(&self) -> &str {
        &self.inner.id
    }

    /// Sends one request (`path` relative to the connector's `base_url`, or
    /// a full URL) with the connector's authentication, rate limit and
    /// retries, and returns the JSON answer. `what` names the call in
    /// errors and logs.
    pub async fn call(
        &self,
        context: &SourceContext,
        what: &str,
        method: HttpMethod,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Value, ConnectorError> {
        let mut url = resolve_url(&self.inner.base_url, path).map_err(|message| {
            ConnectorError::config(format!("{}: {message}", self.label(what)))
        })?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let spec = RequestSpec {
            method,
            url,
            headers: Vec::new(),
            body,
            form: None,
        };
        let session = match self.own_limit {
            Some((rate, burst)) => {
                let key = format!("{}/push", self.inner.id);
                let limiter = context.limiters.get(&key, rate, burst);
                Session::with_limiter(self.inner.clone(), context, limiter)
            }
            None => Session::new(self.inner.clone(), context),
        };
        Ok(session.send(what, &spec).await?.body)
    }

    /// Fills `{{ var }}` and `{{ secrets.name }}` placeholders of the
    /// connector's `[vars]` and `[secrets]` in a JSON template, e.g. Odoo's
    /// database, uid and API key in an `execute_kw` call.
    pub fn render(&self, template: &Value) -> Result<Value, ConnectorError> {
        render_json(template, &self.inner.vars).map_err(|message| {
            ConnectorError::config(format!("http connector {}: {message}", self.inner.id))
        })
    }

    /// `text` with every secret of the connector replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        self.inner.redactor.text(text)
    }

    /// How many answers so far said "slow down" (HTTP 429 or a body-level
    /// rate-limit code), pulls and pushes together.
    pub fn throttled(&self) -> u64 {
        self.inner.throttled.load(Ordering::Relaxed)
    }

    fn label(&self, what: &str) -> String {
        format!("http connector {}, {what}", self.inner.id)
    }
}
