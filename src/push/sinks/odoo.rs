//! The `odoo` sink: the tier as a partner tag (`res.partner.category`),
//! found by name or created, and written with x2many commands that unlink
//! the previous tier tag `(3, id)` and link the new one `(4, id)`; never
//! `(6, 0, ids)`, which replaces every tag (`../shared/specs/source-apis.md`
//! §4). Partners making the same move share one `write` call. When two
//! categories carry the same name (a concurrent create), the lowest id wins.
//!
//! The calls go through JSON-RPC `execute_kw` with the connector's
//! credentials, by default its `db`, `uid` and `secrets.api_key`.
//!
//! ```toml
//! [push]
//! sink = "odoo"
//! batch_size = 100
//! ```

use std::collections::{BTreeMap, HashMap};
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
    #[serde(default = "default_batch_size")]
    batch_size: usize,
    #[serde(default = "default_path")]
    path: String,
    #[serde(default = "default_model")]
    model: String,
    #[serde(default = "default_tag_model")]
    tag_model: String,
    #[serde(default = "default_field")]
    field: String,
    /// The first three `execute_kw` arguments, templated from the
    /// connector's `[vars]` and `[secrets]`.
    #[serde(default = "default_credentials")]
    credentials: [String; 3],
}

fn default_batch_size() -> usize {
    100
}
fn default_path() -> String {
    "/jsonrpc".to_string()
}
fn default_model() -> String {
    "res.partner".to_string()
}
fn default_tag_model() -> String {
    "res.partner.category".to_string()
}
fn default_field() -> String {
    "category_id".to_string()
}
fn default_credentials() -> [String; 3] {
    [
        "{{ db }}".to_string(),
        "{{ uid }}".to_string(),
        "{{ secrets.api_key }}".to_string(),
    ]
}

pub fn build(definition: &SinkDefinition) -> Result<Arc<dyn Sink>, Vec<Problem>> {
    let settings: Settings = definition.settings()?;
    if settings.batch_size == 0 {
        return Err(vec![Problem::new(
            definition.connector.file,
            "push.batch_size",
            "must be at least 1",
        )]);
    }
    Ok(Arc::new(OdooSink {
        api: definition.http_api("odoo")?,
        settings,
        tags: tokio::sync::Mutex::new(HashMap::new()),
    }))
}

struct OdooSink {
    api: HttpApi,
    settings: Settings,
    /// Category ids by name.
    tags: tokio::sync::Mutex<HashMap<String, i64>>,
}

impl std::fmt::Debug for OdooSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OdooSink")
            .field("connector", &self.api.connector())
            .field("model", &self.settings.model)
            .finish_non_exhaustive()
    }
}

impl OdooSink {
    /// `execute_kw(db, uid, key, model, method, args, kwargs)`.
    async fn execute(
        &self,
        context: &SourceContext,
        model: &str,
        method: &str,
        args: Value,
        kwargs: Value,
    ) -> Result<Value, ConnectorError> {
        let credentials = self.api.render(&json!(self.settings.credentials))?;
        let mut call_args = credentials.as_array().cloned().unwrap_or_default();
        call_args.extend([json!(model), json!(method), args, kwargs]);
        let body = json!({
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"service": "object", "method": "execute_kw", "args": call_args},
            "id": 1,
        });
        let what = format!("{model}.{method}");
        let answer = self
            .api
            .call(
                context,
                &what,
                HttpMethod::Post,
                &self.settings.path,
                &[],
                Some(body),
            )
            .await?;
        if let Some(error) = answer.get("error").filter(|error| !error.is_null()) {
            return Err(ConnectorError::external(
                format!(
                    "http connector {}, {what} failed: {}",
                    self.api.connector(),
                    compact(error)
                ),
                false,
            ));
        }
        Ok(answer["result"].clone())
    }

    /// Category ids of `names`; with `create`, missing ones are created.
    async fn tag_ids(
        &self,
        context: &SourceContext,
        names: &[String],
        create: bool,
    ) -> Result<HashMap<String, i64>, ConnectorError> {
        let mut cache = self.tags.lock().await;
        let missing: Vec<&String> = names
            .iter()
            .filter(|name| !cache.contains_key(*name))
            .collect();
        if !missing.is_empty() {
            let found = self
                .execute(
                    context,
                    &self.settings.tag_model,
                    "search_read",
                    json!([[["name", "in", missing]]]),
                    json!({"fields": ["name"], "order": "id asc"}),
                )
                .await?;
            for record in found.as_array().into_iter().flatten() {
                if let (Some(name), Some(id)) = (record["name"].as_str(), record["id"].as_i64()) {
                    // Lowest id first: the first seen wins.
                    cache.entry(name.to_string()).or_insert(id);
                }
            }
        }
        if create {
            for name in names {
                if cache.contains_key(name) {
                    continue;
                }
                let created = self
                    .execute(
                        context,
                        &self.settings.tag_model,
                        "create",
                        json!([{"name": name}]),
                        json!({}),
                    )
                    .await?;
                let id = match &created {
                    Value::Number(id) => id.as_i64(),
                    Value::Array(ids) => ids.first().and_then(Value::as_i64),
                    _ => None,
                }
                .ok_or_else(|| {
                    ConnectorError::external(
                        format!(
                            "creating tag {name:?} answered {}, not an id",
                            compact(&created)
                        ),
                        false,
                    )
                })?;
                cache.insert(name.clone(), id);
            }
        }
        Ok(names
            .iter()
            .filter_map(|name| cache.get(name).map(|id| (name.clone(), *id)))
            .collect())
    }
}

#[async_trait]
impl Sink for OdooSink {
    fn batch_size(&self) -> usize {
        self.settings.batch_size
    }

    fn read_batch_size(&self) -> usize {
        self.settings.batch_size
    }

    async fn apply(&self, context: &SourceContext, changes: &[LabelChange]) -> BatchOutcome {
        let request = |what: &str| format!("{}.write {what}", self.settings.model);
        let labels: Vec<String> = changes.iter().filter_map(|c| c.label.clone()).collect();
        let removed: Vec<String> = changes.iter().flat_map(|c| c.remove.clone()).collect();
        let added = self
            .tag_ids(context, &labels, true)
            .await
            .map_err(|error| Failure::of(request("(finding or creating tags)"), &error))?;
        let existing = self
            .tag_ids(context, &removed, false)
            .await
            .map_err(|error| Failure::of(request("(finding tags)"), &error))?;
        let mut outcomes: Vec<Result<(), Failure>> = vec![Ok(()); changes.len()];
        // Partners making the same move share one write.
        let mut moves: BTreeMap<String, (Vec<Value>, Vec<i64>)> = BTreeMap::new();
        for (index, change) in changes.iter().enumerate() {
            let Ok(partner) = change.source_id.parse::<i64>() else {
                outcomes[index] = Err(Failure::refused(
                    format!("{:?} is not an Odoo record id", change.source_id),
                    request(""),
                ));
                continue;
            };
            let mut commands: Vec<Value> = change
                .remove
                .iter()
                .filter_map(|name| existing.get(name))
                .map(|id| json!([3, id]))
                .collect();
            if let Some(id) = change.label.as_ref().and_then(|name| added.get(name)) {
                commands.push(json!([4, id]));
            }
            if !commands.is_empty() {
                moves
                    .entry(compact(&Value::Array(commands.clone())))
                    .or_insert_with(|| (commands, Vec::new()))
                    .1
                    .push(partner);
            }
        }
        for (commands, ids) in moves.into_values() {
            let args = json!([ids, {self.settings.field.as_str(): commands}]);
            let shown = request(&compact(&args));
            // One missing partner fails the whole write: the batch fails, and
            // the engine sends its changes one by one (link and unlink are
            // idempotent, so the writes that went through are harmless).
            self.execute(context, &self.settings.model, "write", args, json!({}))
                .await
                .map_err(|error| Failure::of(shown, &error))?;
        }
        Ok(outcomes)
    }

    async fn read_labels(
        &self,
        context: &SourceContext,
        source_ids: &[String],
    ) -> Result<Vec<Carried>, ConnectorError> {
        let ids: Vec<i64> = source_ids.iter().filter_map(|id| id.parse().ok()).collect();
        let records = self
            .execute(
                context,
                &self.settings.model,
                "search_read",
                json!([[["id", "in", ids], ["active", "in", [true, false]]]]),
                json!({"fields": [self.settings.field]}),
            )
            .await?;
        let mut tag_ids_by_record: HashMap<i64, Vec<i64>> = HashMap::new();
        for record in records.as_array().into_iter().flatten() {
            if let Some(id) = record["id"].as_i64() {
                let tags = record[&self.settings.field]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_i64)
                    .collect();
                tag_ids_by_record.insert(id, tags);
            }
        }
        let mut all_tags: Vec<i64> = tag_ids_by_record.values().flatten().copied().collect();
        all_tags.sort_unstable();
        all_tags.dedup();
        let names = self
            .execute(
                context,
                &self.settings.tag_model,
                "search_read",
                json!([[["id", "in", all_tags]]]),
                json!({"fields": ["name"]}),
            )
            .await?;
        let name_of: HashMap<i64, String> = names
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|tag| Some((tag["id"].as_i64()?, tag["name"].as_str()?.to_string())))
            .collect();
        Ok(source_ids
            .iter()
            .map(|id| {
                match id
                    .parse::<i64>()
                    .ok()
                    .and_then(|id| tag_ids_by_record.get(&id))
                {
                    Some(tags) => Carried::Labels(
                        tags.iter()
                            .filter_map(|tag| name_of.get(tag).cloned())
                            .collect(),
                    ),
                    None => Carried::Gone,
                }
            })
            .collect())
    }

    fn throttled(&self) -> u64 {
        self.api.throttled()
    }
}
