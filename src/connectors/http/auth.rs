//! Authentication: fixed credentials (bearer, basic, API key) and fetched
//! tokens (OAuth 2 client credentials, a token endpoint such as WeCom's
//! `gettoken`), cached until they expire and refetched when the source
//! says they expired (HTTP 401 or a configured body code).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::config::{HttpMethod, Placement};
use super::retry::{RequestSpec, Session};
use super::source::resolve_url;
use super::template::{render, render_json};
use crate::config::Secret;
use crate::connectors::ConnectorError;
use crate::mapping::path::{lookup, lookup_text};

/// How requests are authenticated, with secrets resolved.
#[derive(Debug)]
pub(super) enum Auth {
    None,
    Bearer(Secret),
    Basic {
        username: String,
        password: Secret,
    },
    ApiKey {
        name: String,
        value: Secret,
        location: Placement,
        prefix: String,
    },
    Fetched(Box<TokenAuth>),
}

/// A token fetched from an endpoint and cached.
#[derive(Debug)]
pub(super) struct TokenAuth {
    pub request: TokenRequest,
    pub token_path: String,
    pub expires_in_path: Option<String>,
    pub default_lifetime: Duration,
    pub location: Placement,
    pub name: String,
    pub prefix: String,
    pub cache: tokio::sync::Mutex<Option<CachedToken>>,
}

/// How a token is asked for.
#[derive(Debug)]
pub(super) enum TokenRequest {
    /// `grant_type=client_credentials` posted as a form.
    ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret: Secret,
        scope: Option<String>,
    },
    /// A request of the API's own, templated with vars and secrets.
    Endpoint {
        url: String,
        method: HttpMethod,
        query: BTreeMap<String, String>,
        body: Option<Value>,
    },
}

/// A fetched token and when to fetch the next one.
pub(super) struct CachedToken {
    value: String,
    refresh_at: Instant,
}

impl fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedToken")
            .field("value", &"***")
            .field("refresh_at", &self.refresh_at)
            .finish()
    }
}

/// What one request carries to authenticate.
#[derive(Default)]
pub(super) struct Credential {
    /// A header (name, value).
    pub header: Option<(String, String)>,
    /// A query parameter (name, value).
    pub query: Option<(String, String)>,
    /// Basic authentication (user, password).
    pub basic: Option<(String, String)>,
    /// The fetched token used, so a refusal can drop exactly that token.
    pub fetched_token: Option<String>,
}

fn placed(location: Placement, name: &str, value: String) -> Credential {
    match location {
        Placement::Header => Credential {
            header: Some((name.to_string(), value)),
            ..Credential::default()
        },
        Placement::Query => Credential {
            query: Some((name.to_string(), value)),
            ..Credential::default()
        },
    }
}

impl Auth {
    /// The credential for the next request, fetching a token if none is
    /// cached or the cached one is about to expire.
    pub async fn credential(&self, session: &Session) -> Result<Credential, ConnectorError> {
        Ok(match self {
            Auth::None => Credential::default(),
            Auth::Bearer(token) => Credential {
                header: Some((
                    "Authorization".to_string(),
                    format!("Bearer {}", token.expose()),
                )),
                ..Credential::default()
            },
            Auth::Basic { username, password } => Credential {
                basic: Some((username.clone(), password.expose().to_string())),
                ..Credential::default()
            },
            Auth::ApiKey {
                name,
                value,
                location,
                prefix,
            } => {
                let value = match location {
                    Placement::Header => format!("{prefix}{}", value.expose()),
                    Placement::Query => value.expose().to_string(),
                };
                placed(*location, name, value)
            }
            Auth::Fetched(token_auth) => {
                // Boxed: fetching a token sends a request, and sending a
                // request asks for a credential.
                let token = Box::pin(token_auth.token(session)).await?;
                let value = match token_auth.location {
                    Placement::Header => format!("{}{token}", token_auth.prefix),
                    Placement::Query => token.clone(),
                };
                Credential {
                    fetched_token: Some(token),
                    ..placed(token_auth.location, &token_auth.name, value)
                }
            }
        })
    }

    /// The query parameter the credential travels in, if it is one; such a
    /// parameter is removed from URLs the source hands back (`Link`).
    pub fn query_param_name(&self) -> Option<&str> {
        match self {
            Auth::ApiKey {
                name,
                location: Placement::Query,
                ..
            } => Some(name),
            Auth::Fetched(token_auth) if token_auth.location == Placement::Query => {
                Some(&token_auth.name)
            }
            _ => None,
        }
    }

    /// Drops `used` from the cache if it is still the cached token, so the
    /// next request fetches a new one; other requests may have done so already.
    pub async fn invalidate(&self, used: &str) {
        if let Auth::Fetched(token_auth) = self {
            let mut cache = token_auth.cache.lock().await;
            if cache.as_ref().is_some_and(|cached| cached.value == used) {
                *cache = None;
            }
        }
    }
}

impl TokenAuth {
    /// The cached token, or a new one. One fetch at a time: requests that
    /// wait meanwhile get the fetched token.
    async fn token(&self, session: &Session) -> Result<String, ConnectorError> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.as_ref() {
            if Instant::now() < cached.refresh_at {
                return Ok(cached.value.clone());
            }
        }
        let (value, lifetime) = self.fetch(session).await?;
        session.inner.redactor.add(&value);
        // Refresh a little before the source would refuse the token.
        let margin = (lifetime / 10).min(Duration::from_secs(60));
        *cache = Some(CachedToken {
            value: value.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(margin),
        });
        Ok(value)
    }

    async fn fetch(&self, session: &Session) -> Result<(String, Duration), ConnectorError> {
        let inner = &session.inner;
        let label = session.label("auth");
        let config_error = |message: String| ConnectorError::config(format!("{label}: {message}"));
        let spec = match &self.request {
            TokenRequest::ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scope,
            } => {
                let mut form = vec![
                    ("grant_type".to_string(), "client_credentials".to_string()),
                    ("client_id".to_string(), client_id.clone()),
                    (
                        "client_secret".to_string(),
                        client_secret.expose().to_string(),
                    ),
                ];
                if let Some(scope) = scope {
                    form.push(("scope".to_string(), scope.clone()));
                }
                RequestSpec {
                    method: HttpMethod::Post,
                    url: resolve_url(&inner.base_url, token_url).map_err(config_error)?,
                    headers: vec![("Accept".to_string(), "application/json".to_string())],
                    body: None,
                    form: Some(form),
                }
            }
            TokenRequest::Endpoint {
                url,
                method,
                query,
                body,
            } => {
                let mut url = resolve_url(
                    &inner.base_url,
                    &render(url, &inner.vars).map_err(config_error)?,
                )
                .map_err(config_error)?;
                for (name, template) in query {
                    let value = render(template, &inner.vars).map_err(config_error)?;
                    url.query_pairs_mut().append_pair(name, &value);
                }
                let body = body
                    .as_ref()
                    .map(|body| render_json(body, &inner.vars))
                    .transpose()
                    .map_err(config_error)?;
                RequestSpec {
                    method: *method,
                    url,
                    headers: Vec::new(),
                    body,
                    form: None,
                }
            }
        };
        let response = session.send_unauthenticated("auth", &spec).await?;
        let Some(token) = lookup_text(&response.body, &self.token_path) else {
            return Err(ConnectorError::external(
                format!(
                    "{label}: the token answer from {} has no token at {:?}",
                    inner.redactor.url(&spec.url),
                    self.token_path
                ),
                false,
            ));
        };
        let lifetime = self
            .expires_in_path
            .as_deref()
            .and_then(|path| lookup(&response.body, path))
            .and_then(|value| match value {
                Value::Number(number) => number.as_f64(),
                Value::String(text) => text.trim().parse().ok(),
                _ => None,
            })
            .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(self.default_lifetime);
        Ok((token, lifetime))
    }
}
