//! The `zendesk` sink: the tier as a user tag, added with
//! `PUT /users/{id}/tags` (a union with the user's tags) and the previous
//! tier tag taken away with `DELETE /users/{id}/tags`; never `POST`, which
//! replaces every tag (`../shared/specs/source-apis.md` §3). Or, with
//! `user_field`, the tier in one user field of its own.
//!
//! ```toml
//! [push]
//! sink = "zendesk"
//! # user_field = "customer_tier"   # write this user field instead of tags
//! # Zendesk's write endpoints are not bound by the incremental-export limit
//! # the connector's [rate_limit] follows: give pushes a bucket of their own.
//! rate_limit = { requests_per_second = 3, burst = 10 }
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{compact, BatchOutcome, Carried, Failure, LabelChange, Sink, SinkDefinition};
use crate::config::Problem;
use crate::connectors::http::{HttpApi, HttpMethod};
use crate::connectors::{ConnectorError, SourceContext};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    user_field: Option<String>,
}

pub fn build(definition: &SinkDefinition) -> Result<Arc<dyn Sink>, Vec<Problem>> {
    let settings: Settings = definition.settings()?;
    if settings
        .user_field
        .as_deref()
        .is_some_and(|field| field.trim().is_empty())
    {
        return Err(vec![Problem::new(
            definition.connector.file,
            "push.user_field",
            "must name a user field, or be left out to write tags",
        )]);
    }
    Ok(Arc::new(ZendeskSink {
        api: definition.http_api("zendesk")?,
        user_field: settings.user_field,
    }))
}

#[derive(Debug)]
struct ZendeskSink {
    api: HttpApi,
    user_field: Option<String>,
}

impl ZendeskSink {
    async fn send(
        &self,
        context: &SourceContext,
        method: HttpMethod,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        let shown = format!(
            "{method:?} {path} {}",
            body.as_ref().map(compact).unwrap_or_default()
        );
        self.api
            .call(context, path, method, path, &[], body)
            .await
            .map_err(|error| Failure::of(shown, &error))
    }

    async fn apply_one(
        &self,
        context: &SourceContext,
        change: &LabelChange,
    ) -> Result<(), Failure> {
        let id = &change.source_id;
        if let Some(field) = &self.user_field {
            let body = json!({"user": {"user_fields": {field.as_str(): change.label}}});
            self.send(
                context,
                HttpMethod::Put,
                &format!("/users/{id}.json"),
                Some(body),
            )
            .await?;
            return Ok(());
        }
        let path = format!("/users/{id}/tags.json");
        // Add first, so the user is never without a tier tag in between.
        if let Some(label) = &change.label {
            self.send(
                context,
                HttpMethod::Put,
                &path,
                Some(json!({"tags": [label]})),
            )
            .await?;
        }
        if !change.remove.is_empty() {
            self.send(
                context,
                HttpMethod::Delete,
                &path,
                Some(json!({"tags": change.remove})),
            )
            .await?;
        }
        Ok(())
    }
}

fn is_not_found(error: &ConnectorError) -> bool {
    error.http_status == Some(404)
}

#[async_trait]
impl Sink for ZendeskSink {
    fn batch_size(&self) -> usize {
        1
    }

    async fn apply(&self, context: &SourceContext, changes: &[LabelChange]) -> BatchOutcome {
        let mut outcomes = Vec::with_capacity(changes.len());
        for change in changes {
            outcomes.push(self.apply_one(context, change).await);
        }
        Ok(outcomes)
    }

    async fn read_labels(
        &self,
        context: &SourceContext,
        source_ids: &[String],
    ) -> Result<Vec<Carried>, ConnectorError> {
        let mut carried = Vec::with_capacity(source_ids.len());
        for id in source_ids {
            let (path, pointer) = match &self.user_field {
                Some(field) => (
                    format!("/users/{id}.json"),
                    format!("/user/user_fields/{field}"),
                ),
                None => (format!("/users/{id}/tags.json"), "/tags".to_string()),
            };
            let answer = self
                .api
                .call(
                    context,
                    "read tier labels",
                    HttpMethod::Get,
                    &path,
                    &[],
                    None,
                )
                .await;
            carried.push(match answer {
                Ok(answer) => Carried::Labels(match answer.pointer(&pointer) {
                    Some(Value::Array(tags)) => tags
                        .iter()
                        .filter_map(|tag| tag.as_str().map(str::to_string))
                        .collect(),
                    Some(Value::String(value)) => vec![value.clone()],
                    _ => Vec::new(),
                }),
                Err(error) if is_not_found(&error) => Carried::Gone,
                Err(error) if error.retryable => return Err(error),
                Err(error) => Carried::Unreadable(error.to_string()),
            });
        }
        Ok(carried)
    }

    fn throttled(&self) -> u64 {
        self.api.throttled()
    }
}
