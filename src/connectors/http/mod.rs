//! The `http` connector: any JSON HTTP API, declared in the connector file
//! (WeCom, Shopify, Zendesk, Odoo JSON-RPC, …) without code.
//!
//! - [`config`]: the file's fields: base URL, `[auth]`, `[rate_limit]`,
//!   `[retry]`, `[errors]`, `[vars]`, `[secrets]` and `[streams.<name>]`.
//! - `template`: `{{ name }}` placeholders in paths, queries, headers, bodies.
//! - `auth`: fixed credentials and fetched, cached, refreshed tokens.
//! - `retry`: one request with backoff, `Retry-After`, body-level signals.
//! - `paginate`: the paging styles and their resumable positions.
//! - `incremental`: the formats of incremental cursors.
//! - `source`: the [`HttpSource`]: check, and pull with committed cursors.

mod api;
mod auth;
pub mod config;
mod incremental;
mod paginate;
mod retry;
mod source;
mod template;

#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::config::{closest, deserialize_section, env, join_field, Problem, Secret, SecretError};
use crate::connectors::{ConnectorDefinition, Source};

use auth::{Auth, TokenAuth, TokenRequest};
use config::{
    AuthConfig, HttpConnectorConfig, PaginationConfig, Placement, StreamConfig, TokenEndpointConfig,
};
use retry::Redactor;
use source::{Inner, Stream};
use template::{json_placeholders, placeholders, toml_to_json, Vars};

pub use api::HttpApi;
pub use config::HttpMethod;
pub use source::HttpSource;

/// Builds an http source from its connector file, reporting every problem
/// at once.
///
/// A `${NAME}` whose variable is unset is not reported here: the config
/// loader checks every reference of the file and names the field. When that
/// is the only problem, the build fails with no problems of its own.
pub fn build(definition: &ConnectorDefinition) -> Result<Arc<dyn Source>, Vec<Problem>> {
    build_with_env(definition, &env::process_env).map(|source| Arc::new(source) as Arc<dyn Source>)
}

/// The connector's request handle, for push-back: built from the same file
/// as its source, so it authenticates, rate-limits (sharing the limiter with
/// the pulls) and retries the same way.
pub fn api(definition: &ConnectorDefinition) -> Result<HttpApi, Vec<Problem>> {
    build_with_env(definition, &env::process_env).map(|source| source.api())
}

/// What [`build`] does, with the environment lookup given.
pub(crate) fn build_with_env(
    definition: &ConnectorDefinition,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<HttpSource, Vec<Problem>> {
    let file = definition.file;
    let mut builder = Builder {
        file,
        lookup,
        problems: Vec::new(),
        missing_env: false,
    };
    let mut table = builder.interpolate(toml::Value::Table(definition.table.clone()), "");
    let streams_value = match &mut table {
        toml::Value::Table(table) => table.remove("streams"),
        _ => None,
    };
    let config = match deserialize_section::<HttpConnectorConfig>(file, "", table) {
        Ok(config) => Some(config),
        Err(problem) => {
            builder.problems.push(problem);
            None
        }
    };
    let mut streams = Vec::new();
    match streams_value {
        Some(toml::Value::Table(streams_table)) if !streams_table.is_empty() => {
            for (name, value) in streams_table {
                let prefix = format!("streams.{name}");
                match deserialize_section::<StreamConfig>(file, &prefix, value) {
                    Ok(stream) => streams.push((name, stream)),
                    Err(problem) => builder.problems.push(problem),
                }
            }
        }
        _ => builder.problems.push(
            Problem::new(
                file,
                "streams",
                "an http connector needs at least one stream",
            )
            .with_hint(
                "add a table like [streams.customers] with path, records_path and primary_key",
            ),
        ),
    }
    let Some(config) = config else {
        return Err(builder.problems);
    };
    let inner = builder.inner(definition.id, config, streams);
    match inner {
        Some(inner) if builder.problems.is_empty() && !builder.missing_env => {
            Ok(HttpSource::new(inner))
        }
        _ => Err(builder.problems),
    }
}

/// Fields that hold a secret: written only as a whole `${NAME}` reference.
fn is_secret_field(field: &str) -> bool {
    matches!(
        field,
        "auth.token" | "auth.password" | "auth.value" | "auth.client_secret"
    ) || field.starts_with("secrets.")
}

/// Collects problems while turning the parsed file into a runtime source.
struct Builder<'a> {
    file: &'a Path,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<Problem>,
    /// A `${NAME}` was unset; the config loader reports it.
    missing_env: bool,
}

impl Builder<'_> {
    fn problem(&mut self, field: impl Into<String>, message: impl Into<String>, hint: &str) {
        let problem = Problem::new(self.file, field, message);
        self.problems.push(if hint.is_empty() {
            problem
        } else {
            problem.with_hint(hint)
        });
    }

    /// Resolves a secret written as `${NAME}`.
    fn secret(&mut self, field: &str, reference: &str) -> Option<Secret> {
        match Secret::resolve(reference, self.lookup) {
            Ok(secret) => Some(secret),
            Err(SecretError::MissingEnv(_)) => {
                self.missing_env = true;
                None
            }
            Err(error @ SecretError::NotAReference) => {
                self.problem(
                    field,
                    error.to_string(),
                    "put the value in an environment variable and write \"${NAME}\" here",
                );
                None
            }
        }
    }

    /// Replaces `${NAME}` by the variable in every string of the file,
    /// except in secret fields, which must stay whole references.
    fn interpolate(&mut self, value: toml::Value, field: &str) -> toml::Value {
        match value {
            toml::Value::String(text) if !is_secret_field(field) => {
                match env::interpolate(&text, self.lookup) {
                    Ok(text) => toml::Value::String(text),
                    Err(_) => {
                        self.missing_env = true;
                        toml::Value::String(text)
                    }
                }
            }
            toml::Value::Array(items) => toml::Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(index, item)| self.interpolate(item, &format!("{field}[{index}]")))
                    .collect(),
            ),
            toml::Value::Table(table) => toml::Value::Table(
                table
                    .into_iter()
                    .map(|(key, item)| {
                        let item = self.interpolate(item, &join_field(field, &key));
                        (key, item)
                    })
                    .collect(),
            ),
            other => other,
        }
    }

    /// Reports placeholders that cannot be parsed or name nothing known.
    fn check_names(
        &mut self,
        field: &str,
        names: Result<Vec<String>, String>,
        known: &BTreeSet<String>,
    ) {
        match names {
            Err(message) => self.problem(field, message, "write placeholders as {{ name }}"),
            Ok(names) => {
                for name in names {
                    if known.contains(&name) {
                        continue;
                    }
                    let candidates: Vec<&str> = known.iter().map(String::as_str).collect();
                    let hint = match closest(&name, &candidates) {
                        Some(meant) => format!("did you mean {{{{ {meant} }}}}?"),
                        None => format!(
                            "known here: {}",
                            if candidates.is_empty() {
                                "none".to_string()
                            } else {
                                candidates.join(", ")
                            }
                        ),
                    };
                    self.problem(
                        field,
                        format!("unknown placeholder {{{{ {name} }}}}"),
                        &hint,
                    );
                }
            }
        }
    }

    fn check_template(&mut self, field: &str, template: &str, known: &BTreeSet<String>) {
        let names =
            placeholders(template).map(|names| names.into_iter().map(String::from).collect());
        self.check_names(field, names, known);
    }

    fn auth(&mut self, config: &AuthConfig, known: &BTreeSet<String>) -> Option<Auth> {
        Some(match config {
            AuthConfig::None => Auth::None,
            AuthConfig::Bearer { token } => Auth::Bearer(self.secret("auth.token", token)?),
            AuthConfig::Basic { username, password } => Auth::Basic {
                username: username.clone(),
                password: self.secret("auth.password", password)?,
            },
            AuthConfig::ApiKey {
                name,
                value,
                location,
                prefix,
            } => Auth::ApiKey {
                name: name.clone(),
                value: self.secret("auth.value", value)?,
                location: *location,
                prefix: prefix.clone(),
            },
            AuthConfig::Oauth2ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scope,
            } => Auth::Fetched(Box::new(TokenAuth {
                request: TokenRequest::ClientCredentials {
                    token_url: token_url.clone(),
                    client_id: client_id.clone(),
                    client_secret: self.secret("auth.client_secret", client_secret)?,
                    scope: scope.clone(),
                },
                token_path: "access_token".to_string(),
                expires_in_path: Some("expires_in".to_string()),
                default_lifetime: Duration::from_secs(3600),
                location: Placement::Header,
                name: "Authorization".to_string(),
                prefix: "Bearer ".to_string(),
                cache: tokio::sync::Mutex::new(None),
            })),
            AuthConfig::TokenEndpoint(endpoint) => {
                let TokenEndpointConfig {
                    url,
                    method,
                    query,
                    body,
                    token_path,
                    expires_in_path,
                    default_expires_in_secs,
                    location,
                    name,
                    prefix,
                } = endpoint;
                self.check_template("auth.url", url, known);
                for (key, template) in query {
                    self.check_template(&format!("auth.query.{key}"), template, known);
                }
                let body = body
                    .as_ref()
                    .map(|body| toml_to_json(&toml::Value::Table(body.clone())));
                if let Some(body) = &body {
                    self.check_names("auth.body", json_placeholders(body), known);
                }
                Auth::Fetched(Box::new(TokenAuth {
                    request: TokenRequest::Endpoint {
                        url: url.clone(),
                        method: *method,
                        query: query.clone(),
                        body,
                    },
                    token_path: token_path.clone(),
                    expires_in_path: expires_in_path.clone(),
                    default_lifetime: Duration::from_secs((*default_expires_in_secs).max(1)),
                    location: *location,
                    name: name.clone(),
                    prefix: match location {
                        Placement::Header => prefix.clone(),
                        Placement::Query => String::new(),
                    },
                    cache: tokio::sync::Mutex::new(None),
                }))
            }
        })
    }

    fn inner(
        &mut self,
        id: &str,
        config: HttpConnectorConfig,
        streams: Vec<(String, StreamConfig)>,
    ) -> Option<Inner> {
        let redactor = Redactor::default();
        let mut vars = Vars::new();
        for (name, value) in &config.vars {
            vars.insert(name.clone(), toml_to_json(value));
        }
        for (name, reference) in &config.secrets {
            if let Some(secret) = self.secret(&format!("secrets.{name}"), reference) {
                redactor.add(secret.expose());
                vars.insert(
                    format!("secrets.{name}"),
                    serde_json::Value::String(secret.expose().to_string()),
                );
            }
        }
        let static_names: BTreeSet<String> = config
            .vars
            .keys()
            .cloned()
            .chain(config.secrets.keys().map(|name| format!("secrets.{name}")))
            .collect();

        let base_url = config.base_url.clone();
        if !self.missing_env {
            if let Err(error) = reqwest::Url::parse(&base_url) {
                self.problem(
                    "base_url",
                    format!("not a valid URL: {error}"),
                    "write the full URL, e.g. \"https://acme.zendesk.com/api/v2\"",
                );
            }
        }
        if !(config.timeout_secs > 0.0 && config.timeout_secs.is_finite()) {
            self.problem("timeout_secs", "must be a positive number of seconds", "");
        }
        if config.max_concurrency == 0 {
            self.problem("max_concurrency", "must be at least 1", "");
        }
        if config.retry.max_attempts == 0 {
            self.problem(
                "retry.max_attempts",
                "must be at least 1 (the first try counts)",
                "",
            );
        }
        let pause = config.errors.rate_limited_pause_secs;
        if pause.is_nan() || pause < 0.0 {
            self.problem("errors.rate_limited_pause_secs", "must not be negative", "");
        }
        let auth = self.auth(&config.auth, &static_names);

        let stream_names: Vec<&str> = streams.iter().map(|(name, _)| name.as_str()).collect();
        let mut built = Vec::with_capacity(streams.len());
        for (name, stream) in &streams {
            built.push(self.stream(name, stream, &streams, &stream_names, &static_names));
        }
        if streams.iter().all(|(_, stream)| !stream.sync) && !streams.is_empty() {
            self.problem(
                "streams",
                "every stream has sync = false, so nothing would be synced",
                "set sync = true (the default) on the streams to sync",
            );
        }
        let auth = auth?;
        let streams: Vec<Stream> = built.into_iter().collect::<Option<_>>()?;
        Some(Inner {
            id: id.to_string(),
            base_url,
            auth,
            rate_limit: config.rate_limit,
            timeout: Duration::from_secs_f64(config.timeout_secs.clamp(0.001, 86_400.0)),
            retry: config.retry,
            errors: config.errors,
            vars,
            streams,
            redactor,
            concurrency: Semaphore::new(config.max_concurrency.max(1)),
            max_concurrency: config.max_concurrency.max(1),
            throttled: AtomicU64::new(0),
        })
    }

    fn stream(
        &mut self,
        name: &str,
        stream: &StreamConfig,
        all: &[(String, StreamConfig)],
        names: &[&str],
        static_names: &BTreeSet<String>,
    ) -> Option<Stream> {
        let prefix = format!("streams.{name}");
        let field = |rest: &str| format!("{prefix}.{rest}");
        let mut known = static_names.clone();
        let page_vars: &[&str] = match &stream.pagination {
            PaginationConfig::None | PaginationConfig::LinkHeader => &[],
            PaginationConfig::PageNumber { .. } => &["page", "size", "limit"],
            PaginationConfig::OffsetLimit { .. } => &["offset", "limit"],
            PaginationConfig::Cursor { .. } => &["cursor"],
            PaginationConfig::SinceId { .. } => &["since_id", "limit"],
            PaginationConfig::Keyset { .. } => &["offset", "limit"],
        };
        known.extend(page_vars.iter().map(|name| name.to_string()));
        match &stream.pagination {
            PaginationConfig::PageNumber { size: 0, .. } => {
                self.problem(field("pagination.size"), "must be at least 1", "");
            }
            PaginationConfig::OffsetLimit { limit: 0, .. }
            | PaginationConfig::Keyset { limit: 0, .. }
            | PaginationConfig::SinceId { limit: Some(0), .. } => {
                self.problem(field("pagination.limit"), "must be at least 1", "");
            }
            PaginationConfig::Keyset { .. } if stream.incremental.is_none() => {
                self.problem(
                    field("pagination"),
                    "keyset pagination pages on the incremental cursor, but the stream has no [incremental]",
                    "add incremental = { cursor_field = \"write_date\", format = \"naive_utc\" }",
                );
            }
            PaginationConfig::Cursor { keep_query, .. } => {
                for kept in keep_query {
                    if !stream.query.contains_key(kept) {
                        self.problem(
                            field("pagination.keep_query"),
                            format!("{kept:?} is not a parameter of the stream's query"),
                            "name parameters of [streams.<name>] query",
                        );
                    }
                }
            }
            _ => {}
        }
        if !stream.gather.is_empty() && !stream.dedupe {
            self.problem(
                field("gather"),
                "gathers repeated rows, but the stream does not dedupe",
                "add dedupe = true",
            );
        }
        for gathered in &stream.gather {
            if gathered.is_empty() || gathered.contains('.') {
                self.problem(
                    field("gather"),
                    format!("{gathered:?} is not a top-level field name"),
                    "",
                );
            }
        }
        for (index, sideload) in stream.sideloads.iter().enumerate() {
            if sideload.into.is_empty() || sideload.into.contains('.') {
                self.problem(
                    field(&format!("sideloads[{index}].into")),
                    format!("{:?} is not a plain field name", sideload.into),
                    "a name without dots, e.g. \"organization\"",
                );
            }
        }
        let mut start = None;
        if let Some(incremental) = &stream.incremental {
            known.insert("since".to_string());
            if let Some(text) = &incremental.start {
                let value = serde_json::Value::String(text.clone());
                match incremental::parse(&value, incremental.format) {
                    Some(time) => start = Some(time),
                    None => self.problem(
                        field("incremental.start"),
                        format!("{text:?} is not written in the format {}", incremental.format.name()),
                        "rfc3339: 2024-05-01T00:00:00Z; unix_seconds: 1714521600; naive_utc: 2024-05-01 00:00:00",
                    ),
                }
            }
        }
        if let Some(fan_out) = &stream.fan_out {
            known.insert(fan_out.variable.clone());
            match all.iter().find(|(other, _)| *other == fan_out.stream) {
                None => {
                    let hint = match closest(&fan_out.stream, names) {
                        Some(meant) => format!("did you mean {meant:?}?"),
                        None => format!("streams of this connector: {}", names.join(", ")),
                    };
                    self.problem(
                        field("fan_out.stream"),
                        format!("there is no stream {:?}", fan_out.stream),
                        &hint,
                    );
                }
                Some((other, _)) if other == name => {
                    self.problem(
                        field("fan_out.stream"),
                        "a stream cannot fan out over itself",
                        "",
                    );
                }
                Some((_, parent)) if parent.fan_out.is_some() => {
                    self.problem(
                        field("fan_out.stream"),
                        format!(
                            "stream {:?} fans out itself; fan out from a plain stream",
                            fan_out.stream
                        ),
                        "",
                    );
                }
                Some(_) => {}
            }
            if fan_out.values_path.is_some() == fan_out.value_field.is_some() {
                self.problem(
                    field("fan_out"),
                    "set exactly one of values_path (a list in the answer) and value_field (a field of each record)",
                    "",
                );
            }
            if fan_out.batch_size == 0 {
                self.problem(field("fan_out.batch_size"), "must be at least 1", "");
            }
        }
        self.check_template(&field("path"), &stream.path, &known);
        for (key, template) in &stream.query {
            self.check_template(&field(&format!("query.{key}")), template, &known);
        }
        for (key, template) in &stream.headers {
            self.check_template(&field(&format!("headers.{key}")), template, &known);
        }
        let body = stream
            .body
            .as_ref()
            .map(|body| toml_to_json(&toml::Value::Table(body.clone())));
        if let Some(body) = &body {
            self.check_names(&field("body"), json_placeholders(body), &known);
        }
        Some(Stream {
            name: name.to_string(),
            config: stream.clone(),
            body,
            start,
        })
    }
}
