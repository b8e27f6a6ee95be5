//! The `webhook` connector: systems push records to tierlink over HTTP
//! instead of tierlink pulling them, e.g. a web shop's "order created"
//! notifications.
//!
//! `tierlink listen` serves every webhook connector's streams at
//! `POST /webhooks/<connector>/<stream>` (see [`receiver`]). Each request is
//! authenticated by an HMAC-SHA256 signature over its exact body,
//! de-duplicated by its event id, and answered only after its records (and
//! the rejections among them) are committed to the store. The mapping stage
//! of the next `tierlink run` or `tierlink sync <id>` maps them like any
//! other staged records; [`Source::pull`] has nothing to fetch.

mod config;
pub mod receiver;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use axum::http::HeaderName;
use tokio::sync::mpsc;

use crate::config::{
    deserialize_section, env, read_toml_table, Problem, Project, Secret, SecretError,
};
use crate::store::StagedBatch;

use super::{CheckReport, ConnectorDefinition, ConnectorError, Source, SourceContext};

pub use config::{
    SignatureEncoding, WebhookConfig, WebhookStreamConfig, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_SIGNATURE_HEADER, DEFAULT_TOLERANCE_SECS,
};
pub use receiver::{router, verify_signature, SignatureError};

/// The `type` of webhook connector files.
pub const KIND: &str = "webhook";

/// The address `tierlink listen` serves on unless told otherwise.
pub const DEFAULT_LISTEN_ADDRESS: &str = "127.0.0.1:8090";

/// Builds a webhook source from its connector file, reporting every
/// problem in the file and its streams at once.
pub fn build(definition: &ConnectorDefinition) -> Result<Arc<dyn Source>, Vec<Problem>> {
    let config = parse(definition.file, &definition.table)?;
    Ok(Arc::new(WebhookSource::new(
        definition.id,
        Arc::new(config),
    )))
}

/// The configuration of every webhook connector in the project, by id, for
/// [`router`]. The files are read again; they were checked when the
/// project loaded, so problems here mean a file changed since.
pub fn receivers(project: &Project) -> Result<Vec<(String, Arc<WebhookConfig>)>, Vec<Problem>> {
    let mut receivers = Vec::new();
    let mut problems = Vec::new();
    for connector in project
        .connectors
        .iter()
        .filter(|connector| connector.kind == KIND)
    {
        match load(&connector.file) {
            Ok(config) => receivers.push((connector.id.clone(), Arc::new(config))),
            Err(found) => problems.extend(found),
        }
    }
    if problems.is_empty() {
        Ok(receivers)
    } else {
        Err(problems)
    }
}

/// Reads one webhook connector file.
pub fn load(file: &Path) -> Result<WebhookConfig, Vec<Problem>> {
    let mut table = read_toml_table(file).map_err(|problem| vec![problem])?;
    let mut problems = env::check_references(file, &table, &env::process_env);
    table.remove("type");
    table.remove("description");
    match parse(file, &table) {
        Ok(config) if problems.is_empty() => Ok(config),
        Ok(_) => Err(problems),
        Err(found) => {
            problems.extend(found);
            Err(problems)
        }
    }
}

/// Reads a webhook connector's table (without `type` and `description`).
///
/// An unset `${NAME}` in `secret` is not reported here: the config loader
/// reports every unset reference with its field, and reporting it twice
/// would only add noise.
pub fn parse(file: &Path, table: &toml::Table) -> Result<WebhookConfig, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut table = table.clone();
    let streams_value = table.remove("streams");
    let secret_env_unset = matches!(
        table.get("secret"),
        Some(toml::Value::String(reference))
            if matches!(Secret::from_reference(reference), Err(SecretError::MissingEnv(_)))
    );
    let config = match deserialize_section::<WebhookConfig>(file, "", toml::Value::Table(table)) {
        Ok(config) => {
            check_connector(file, &config, &mut problems);
            Some(config)
        }
        Err(mut problem) => {
            if problem.field.is_empty() && problem.message == "missing field `secret`" {
                problem.field = "secret".to_string();
            }
            if problem.field == "secret" {
                problem.hint = Some(
                    "put the signing secret the sender was given in an environment variable and write secret = \"${SHOP_WEBHOOK_SECRET}\"".to_string(),
                );
            }
            if !(secret_env_unset && problem.field == "secret") {
                problems.push(problem);
            }
            None
        }
    };

    let mut streams = std::collections::BTreeMap::new();
    match streams_value {
        Some(toml::Value::Table(streams_table)) if !streams_table.is_empty() => {
            for (name, value) in streams_table {
                let prefix = format!("streams.{name}");
                if !is_url_name(&name) {
                    problems.push(
                        Problem::new(file, &prefix, format!("{name:?} cannot name a stream in a URL"))
                            .with_hint("name the stream with lowercase letters, digits, '-' and '_' only"),
                    );
                }
                match deserialize_section::<WebhookStreamConfig>(file, &prefix, value) {
                    Ok(stream) => {
                        check_stream(file, &prefix, &stream, &mut problems);
                        streams.insert(name, stream);
                    }
                    Err(problem) => problems.push(problem),
                }
            }
        }
        _ => problems.push(
            Problem::new(file, "streams", "a webhook connector needs at least one stream")
                .with_hint(
                    "add a table like [streams.orders] with primary_key (and records_path when the body holds a list of records)",
                ),
        ),
    }

    match config {
        Some(config) if problems.is_empty() => Ok(WebhookConfig { streams, ..config }),
        _ => Err(problems),
    }
}

/// Checks what serde cannot: header names, limits and field combinations.
fn check_connector(file: &Path, config: &WebhookConfig, problems: &mut Vec<Problem>) {
    check_header_name(file, "signature_header", &config.signature_header, problems);
    if let Some(header) = &config.timestamp_header {
        check_header_name(file, "timestamp_header", header, problems);
    }
    if config.tolerance_secs.is_some() && config.timestamp_header.is_none() {
        problems.push(
            Problem::new(
                file,
                "tolerance_secs",
                "tolerance_secs needs timestamp_header: without a signed timestamp there is nothing to compare",
            )
            .with_hint("add timestamp_header = \"<the header the sender puts its signing time in>\", or remove tolerance_secs"),
        );
    }
    if config.tolerance_secs == Some(0) {
        problems.push(
            Problem::new(
                file,
                "tolerance_secs",
                "a tolerance of 0 seconds refuses almost every request",
            )
            .with_hint("allow for clock skew and network delay, e.g. 300"),
        );
    }
    if config.max_body_bytes == 0 {
        problems.push(
            Problem::new(file, "max_body_bytes", "max_body_bytes must be at least 1")
                .with_hint("leave it out for 1 MiB (1048576)"),
        );
    }
    if config.secret.expose().is_empty() {
        problems.push(
            Problem::new(
                file,
                "secret",
                format!(
                    "the environment variable {} is empty",
                    config.secret.env_name()
                ),
            )
            .with_hint("set it to the signing secret the sender was given"),
        );
    }
}

fn check_stream(
    file: &Path,
    prefix: &str,
    stream: &WebhookStreamConfig,
    problems: &mut Vec<Problem>,
) {
    if stream.event_id.is_some() && stream.event_id_header.is_some() {
        problems.push(
            Problem::new(
                file,
                format!("{prefix}.event_id_header"),
                "set event_id or event_id_header, not both",
            )
            .with_hint(
                "use event_id for an id in the body, event_id_header for one in a request header",
            ),
        );
    }
    if let Some(header) = &stream.event_id_header {
        check_header_name(file, &format!("{prefix}.event_id_header"), header, problems);
    }
    for (field, value) in [
        ("primary_key", Some(&stream.primary_key)),
        ("records_path", stream.records_path.as_ref()),
        ("event_id", stream.event_id.as_ref()),
    ] {
        if value.is_some_and(|value| value.trim().is_empty()) {
            problems.push(
                Problem::new(file, format!("{prefix}.{field}"), "the path is empty").with_hint(
                    "write a dotted path such as `id` or `data.items`, or leave the field out",
                ),
            );
        }
    }
}

fn check_header_name(file: &Path, field: &str, name: &str, problems: &mut Vec<Problem>) {
    if HeaderName::from_bytes(name.as_bytes()).is_err() {
        problems.push(
            Problem::new(
                file,
                field,
                format!("{name:?} is not a valid HTTP header name"),
            )
            .with_hint("use letters, digits and '-', e.g. X-Signature-256"),
        );
    }
}

/// Whether `name` can stand in a URL path as it is.
fn is_url_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// A webhook connector as a [`Source`]: records arrive by push, so pulling
/// fetches nothing; checking confirms the configuration.
#[derive(Debug)]
pub struct WebhookSource {
    id: String,
    config: Arc<WebhookConfig>,
}

impl WebhookSource {
    /// A source for the connector `id`.
    pub fn new(id: &str, config: Arc<WebhookConfig>) -> WebhookSource {
        WebhookSource {
            id: id.to_string(),
            config,
        }
    }

    /// The connector's configuration, as the receiver uses it.
    pub fn config(&self) -> &Arc<WebhookConfig> {
        &self.config
    }
}

#[async_trait]
impl Source for WebhookSource {
    fn streams(&self) -> Vec<String> {
        self.config.streams.keys().cloned().collect()
    }

    async fn check(&self, _context: &SourceContext) -> Result<CheckReport, ConnectorError> {
        let config = &self.config;
        match Secret::from_reference(&config.secret.to_string()) {
            Ok(secret) if secret.expose().is_empty() => {
                return Err(ConnectorError::config(format!(
                    "the secret {} is empty: set it to the signing secret the sender was given",
                    config.secret
                )))
            }
            Ok(_) => {}
            Err(error) => {
                return Err(ConnectorError::config(format!(
                    "the secret {} cannot be read: {error}; export it before `tierlink listen`",
                    config.secret
                )))
            }
        }
        let mut signature = format!(
            "HMAC-SHA256 in {} ({}",
            config.signature_header,
            match config.signature_encoding {
                SignatureEncoding::Hex => "hex",
                SignatureEncoding::Base64 => "base64",
            }
        );
        if let Some(prefix) = &config.signature_prefix {
            signature.push_str(&format!(" after {prefix:?}"));
        }
        signature.push(')');
        if let (Some(header), Some(tolerance)) = (&config.timestamp_header, config.tolerance()) {
            signature.push_str(&format!(
                " over {{{header}}}.{{body}}, refused beyond {tolerance} s"
            ));
        }
        let streams = config
            .streams
            .iter()
            .map(|(name, stream)| {
                let event_id = match (&stream.event_id, &stream.event_id_header) {
                    (Some(path), _) => format!("body `{path}`"),
                    (None, Some(header)) => format!("header {header}"),
                    (None, None) => "SHA-256 of the body".to_string(),
                };
                let records = match &stream.records_path {
                    Some(path) => format!("the list at `{path}`"),
                    None => "the body".to_string(),
                };
                (
                    name.clone(),
                    format!(
                        "receives POST /webhooks/{}/{name} while `tierlink listen` runs (default address {DEFAULT_LISTEN_ADDRESS}); \
                         signature: {signature}; event id: {event_id}; records: {records}, key `{}`; at most {} bytes",
                        self.id, stream.primary_key, config.max_body_bytes
                    ),
                )
            })
            .collect();
        Ok(CheckReport { streams })
    }

    async fn pull(
        &self,
        _context: &SourceContext,
        stream: &str,
        _cursor: Option<serde_json::Value>,
        _batches: mpsc::Sender<StagedBatch>,
    ) -> Result<(), ConnectorError> {
        // Records arrive by push and are staged by the receiver; the mapping
        // stage picks them up from the store.
        if self.config.streams.contains_key(stream) {
            Ok(())
        } else {
            Err(ConnectorError::config(format!(
                "connector {} has no stream {stream:?}",
                self.id
            )))
        }
    }
}
