//! The `wecom` sink: the tier as a corp tag (企业标签) in one tag group, on
//! the relationship of every member who follows the customer
//! (`../shared/specs/source-apis.md` §1).
//!
//! The group and its tags are looked up with `get_corp_tag_list` and created
//! with `add_corp_tag` when missing (a 40071 "name exists" from a concurrent
//! creator is settled by listing again). Each follow member's relationship
//! gets one `mark_tag` that adds the new tier tag and removes the previous
//! ones in the same call. Only tags tierlink wrote are ever removed.
//!
//! ```toml
//! [push]
//! sink = "wecom"
//! tag_group = "客户等级"
//! ```

use std::collections::{BTreeSet, HashMap};
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
    #[serde(default = "default_tag_group")]
    tag_group: String,
}

fn default_tag_group() -> String {
    "客户等级".to_string()
}

pub fn build(definition: &SinkDefinition) -> Result<Arc<dyn Sink>, Vec<Problem>> {
    let settings: Settings = definition.settings()?;
    if settings.tag_group.trim().is_empty() {
        return Err(vec![Problem::new(
            definition.connector.file,
            "push.tag_group",
            "must name a tag group",
        )]);
    }
    Ok(Arc::new(WecomSink {
        api: definition.http_api("wecom")?,
        group: settings.tag_group,
        tags: tokio::sync::Mutex::new(HashMap::new()),
    }))
}

#[derive(Debug)]
struct WecomSink {
    api: HttpApi,
    group: String,
    /// Tag ids of the group by name, as last listed or created.
    tags: tokio::sync::Mutex<HashMap<String, String>>,
}

impl WecomSink {
    async fn post(
        &self,
        context: &SourceContext,
        path: &str,
        body: Value,
    ) -> Result<Value, ConnectorError> {
        self.api
            .call(context, path, HttpMethod::Post, path, &[], Some(body))
            .await
    }

    /// Lists the group's tags into the cache.
    async fn list(
        &self,
        context: &SourceContext,
        cache: &mut HashMap<String, String>,
    ) -> Result<(), ConnectorError> {
        let answer = self
            .post(
                context,
                "/externalcontact/get_corp_tag_list",
                json!({"tag_id": [], "group_id": []}),
            )
            .await?;
        cache.clear();
        for group in answer["tag_group"].as_array().into_iter().flatten() {
            if group["group_name"].as_str() != Some(self.group.as_str()) || group["deleted"] == true
            {
                continue;
            }
            for tag in group["tag"].as_array().into_iter().flatten() {
                if let (Some(name), Some(id), false) = (
                    tag["name"].as_str(),
                    tag["id"].as_str(),
                    tag["deleted"] == true,
                ) {
                    cache.insert(name.to_string(), id.to_string());
                }
            }
        }
        Ok(())
    }

    /// The ids of `names` in the group; with `create`, tags that do not
    /// exist are created, else they are left out.
    async fn tag_ids(
        &self,
        context: &SourceContext,
        names: &[String],
        create: bool,
    ) -> Result<HashMap<String, String>, ConnectorError> {
        let mut cache = self.tags.lock().await;
        if names.iter().any(|name| !cache.contains_key(name)) {
            self.list(context, &mut cache).await?;
        }
        if create {
            for name in names {
                if cache.contains_key(name) {
                    continue;
                }
                let body = json!({"group_name": self.group, "tag": [{"name": name}]});
                // A 40071 means another writer created it: listing again
                // settles either way.
                let created = self
                    .post(context, "/externalcontact/add_corp_tag", body)
                    .await;
                self.list(context, &mut cache).await?;
                if !cache.contains_key(name) {
                    return Err(created.err().unwrap_or_else(|| {
                        ConnectorError::external(
                            format!(
                                "tag {name:?} was created but group {:?} does not list it",
                                self.group
                            ),
                            true,
                        )
                    }));
                }
            }
        }
        Ok(names
            .iter()
            .filter_map(|name| cache.get(name).map(|id| (name.clone(), id.clone())))
            .collect())
    }

    /// The contact's follow members and, per member, the names of its tags
    /// in the group.
    async fn follows(
        &self,
        context: &SourceContext,
        external_userid: &str,
    ) -> Result<Vec<(String, BTreeSet<String>)>, ConnectorError> {
        let mut follows = Vec::new();
        let mut cursor = String::new();
        loop {
            let answer = self
                .api
                .call(
                    context,
                    "/externalcontact/get",
                    HttpMethod::Get,
                    "/externalcontact/get",
                    &[("external_userid", external_userid), ("cursor", &cursor)],
                    None,
                )
                .await?;
            for follow in answer["follow_user"].as_array().into_iter().flatten() {
                let Some(userid) = follow["userid"].as_str() else {
                    continue;
                };
                let tags = follow["tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|tag| tag["group_name"].as_str() == Some(self.group.as_str()))
                    .filter_map(|tag| tag["tag_name"].as_str().map(str::to_string))
                    .collect();
                follows.push((userid.to_string(), tags));
            }
            match answer["next_cursor"].as_str() {
                Some(next) if !next.is_empty() && next != cursor => cursor = next.to_string(),
                _ => return Ok(follows),
            }
        }
    }

    async fn apply_one(
        &self,
        context: &SourceContext,
        change: &LabelChange,
    ) -> Result<(), Failure> {
        let add: Vec<String> = change.label.iter().cloned().collect();
        let request = format!(
            "mark_tag {} add {add:?} remove {:?}",
            change.source_id, change.remove
        );
        let added = self
            .tag_ids(context, &add, true)
            .await
            .map_err(|error| Failure::of(&request, &error))?;
        let removed = self
            .tag_ids(context, &change.remove, false)
            .await
            .map_err(|error| Failure::of(&request, &error))?;
        let add_ids: Vec<&String> = add.iter().filter_map(|name| added.get(name)).collect();
        let remove_ids: Vec<&String> = change
            .remove
            .iter()
            .filter_map(|name| removed.get(name))
            .collect();
        if add_ids.is_empty() && remove_ids.is_empty() {
            // Nothing to add, and the tags to remove no longer exist.
            return Ok(());
        }
        let follows = self
            .follows(context, &change.source_id)
            .await
            .map_err(|error| Failure::of(&request, &error))?;
        if follows.is_empty() {
            return Err(Failure::refused(
                format!(
                    "no member follows external contact {} any more",
                    change.source_id
                ),
                request,
            ));
        }
        for (userid, _) in follows {
            let body = json!({
                "userid": userid,
                "external_userid": change.source_id,
                "add_tag": add_ids,
                "remove_tag": remove_ids,
            });
            let shown = format!("POST /externalcontact/mark_tag {}", compact(&body));
            self.post(context, "/externalcontact/mark_tag", body)
                .await
                .map_err(|error| Failure::of(shown, &error))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Sink for WecomSink {
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
            carried.push(match self.follows(context, id).await {
                Ok(follows) if follows.is_empty() => Carried::Gone,
                // A label counts as carried when every member's relationship
                // carries it.
                Ok(follows) => {
                    let mut members = follows.into_iter().map(|(_, tags)| tags);
                    let first = members.next().unwrap_or_default();
                    let common = members.fold(first, |all, tags| &all & &tags);
                    Carried::Labels(common.into_iter().collect())
                }
                Err(error) if error.message.contains("errcode 40096") => Carried::Gone,
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
