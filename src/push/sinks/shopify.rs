//! The `shopify` sink: namespaced customer tags (`tier:high-value`) added
//! with GraphQL `tagsAdd` and the previous tier tag removed with
//! `tagsRemove` (`../shared/specs/source-apis.md` §2). Both change only the
//! named tags, so tags other apps or people set are never touched; the
//! REST `PUT customers/{id}.json`, which replaces the whole tag string, is
//! never used. Several customers go in one request as aliased mutations.
//!
//! ```toml
//! [push]
//! sink = "shopify"
//! batch_size = 10              # customers per GraphQL request
//! graphql_path = "/graphql.json"
//! ```

use std::fmt::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{compact, BatchOutcome, Carried, Failure, LabelChange, Sink, SinkDefinition};
use crate::config::Problem;
use crate::connectors::http::{HttpApi, HttpMethod};
use crate::connectors::{ConnectorError, SourceContext};

/// Shopify's ceiling on `nodes(ids:)`.
const MAX_NODES: usize = 250;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "default_batch_size")]
    batch_size: usize,
    #[serde(default = "default_graphql_path")]
    graphql_path: String,
}

fn default_batch_size() -> usize {
    10
}

fn default_graphql_path() -> String {
    "/graphql.json".to_string()
}

pub fn build(definition: &SinkDefinition) -> Result<Arc<dyn Sink>, Vec<Problem>> {
    let settings: Settings = definition.settings()?;
    if !(1..=50).contains(&settings.batch_size) {
        return Err(vec![Problem::new(
            definition.connector.file,
            "push.batch_size",
            "must be between 1 and 50 customers a request",
        )
        .with_hint(
            "each customer costs two mutations of the request's query cost",
        )]);
    }
    Ok(Arc::new(ShopifySink {
        api: definition.http_api("shopify")?,
        batch_size: settings.batch_size,
        graphql_path: settings.graphql_path,
    }))
}

#[derive(Debug)]
struct ShopifySink {
    api: HttpApi,
    batch_size: usize,
    graphql_path: String,
}

/// The GraphQL id of a customer whose source id is the REST id (or already
/// a GraphQL id).
fn customer_gid(source_id: &str) -> String {
    if source_id.starts_with("gid://") {
        source_id.to_string()
    } else {
        format!("gid://shopify/Customer/{source_id}")
    }
}

/// One aliased `tagsAdd`/`tagsRemove` pair per change, with variables.
fn mutation(changes: &[LabelChange]) -> (String, Value) {
    let mut declarations = Vec::new();
    let mut fields = String::new();
    let mut variables = Map::new();
    for (index, change) in changes.iter().enumerate() {
        declarations.push(format!("$id{index}: ID!"));
        variables.insert(format!("id{index}"), json!(customer_gid(&change.source_id)));
        if let Some(label) = &change.label {
            declarations.push(format!("$add{index}: [String!]!"));
            variables.insert(format!("add{index}"), json!([label]));
            let _ = write!(
                fields,
                " add{index}: tagsAdd(id: $id{index}, tags: $add{index}) {{ node {{ id }} userErrors {{ field message }} }}"
            );
        }
        if !change.remove.is_empty() {
            declarations.push(format!("$remove{index}: [String!]!"));
            variables.insert(format!("remove{index}"), json!(change.remove));
            let _ = write!(
                fields,
                " remove{index}: tagsRemove(id: $id{index}, tags: $remove{index}) {{ node {{ id }} userErrors {{ field message }} }}"
            );
        }
    }
    let query = format!(
        "mutation TierLabels({}) {{{fields} }}",
        declarations.join(", ")
    );
    (query, Value::Object(variables))
}

/// Why a mutation's answer is not a success, if it is not.
fn mutation_problem(data: &Value, alias: &str) -> Option<String> {
    let payload = data.get(alias)?;
    if payload.is_null() {
        return Some(format!("{alias} answered null"));
    }
    let errors = payload["userErrors"]
        .as_array()
        .filter(|errors| !errors.is_empty())?;
    Some(
        errors
            .iter()
            .map(|error| {
                error["message"]
                    .as_str()
                    .unwrap_or("unknown error")
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

impl ShopifySink {
    async fn graphql(
        &self,
        context: &SourceContext,
        query: String,
        variables: Value,
    ) -> Result<Value, ConnectorError> {
        let body = json!({"query": query, "variables": variables});
        let answer = self
            .api
            .call(
                context,
                "graphql",
                HttpMethod::Post,
                &self.graphql_path,
                &[],
                Some(body),
            )
            .await?;
        // Connectors whose [errors] do not name `errors` still fail here.
        if let Some(errors) = answer.get("errors").filter(|errors| !errors.is_null()) {
            return Err(ConnectorError::external(
                format!(
                    "http connector {}, graphql answered errors: {}",
                    self.api.connector(),
                    compact(errors)
                ),
                false,
            ));
        }
        Ok(answer)
    }
}

#[async_trait]
impl Sink for ShopifySink {
    fn batch_size(&self) -> usize {
        self.batch_size
    }

    fn read_batch_size(&self) -> usize {
        MAX_NODES
    }

    async fn apply(&self, context: &SourceContext, changes: &[LabelChange]) -> BatchOutcome {
        let (query, variables) = mutation(changes);
        let request = format!("POST {} {}", self.graphql_path, compact(&variables));
        let answer = self
            .graphql(context, query, variables)
            .await
            .map_err(|error| Failure::of(&request, &error))?;
        let data = &answer["data"];
        Ok(changes
            .iter()
            .enumerate()
            .map(|(index, change)| {
                let problems: Vec<String> = [format!("add{index}"), format!("remove{index}")]
                    .iter()
                    .filter_map(|alias| mutation_problem(data, alias))
                    .collect();
                if problems.is_empty() {
                    Ok(())
                } else {
                    Err(Failure {
                        response: Some(compact(data)),
                        ..Failure::refused(
                            format!("customer {}: {}", change.source_id, problems.join("; ")),
                            request.clone(),
                        )
                    })
                }
            })
            .collect())
    }

    async fn read_labels(
        &self,
        context: &SourceContext,
        source_ids: &[String],
    ) -> Result<Vec<Carried>, ConnectorError> {
        let mut carried = Vec::with_capacity(source_ids.len());
        for ids in source_ids.chunks(MAX_NODES) {
            let gids: Vec<String> = ids.iter().map(|id| customer_gid(id)).collect();
            let answer = self
                .graphql(
                    context,
                    "query TierLabels($ids: [ID!]!) { nodes(ids: $ids) { ... on Customer { id tags } } }"
                        .to_string(),
                    json!({ "ids": gids }),
                )
                .await?;
            let nodes = answer["data"]["nodes"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for index in 0..ids.len() {
                carried.push(match nodes.get(index) {
                    Some(node) if node.is_object() => Carried::Labels(
                        node["tags"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|tag| tag.as_str().map(str::to_string))
                            .collect(),
                    ),
                    _ => Carried::Gone,
                });
            }
        }
        Ok(carried)
    }

    fn throttled(&self) -> u64 {
        self.api.throttled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(id: &str, label: Option<&str>, remove: &[&str]) -> LabelChange {
        LabelChange {
            source_id: id.to_string(),
            golden_id: None,
            tier: None,
            label: label.map(str::to_string),
            remove: remove.iter().map(|l| l.to_string()).collect(),
            rules_version: "v".to_string(),
        }
    }

    #[test]
    fn a_batch_becomes_aliased_mutations_with_variables() {
        let (query, variables) = mutation(&[
            change("1", Some("tier:a"), &[]),
            change("gid://shopify/Customer/2", Some("tier:b"), &["tier:a"]),
            change("3", None, &["tier:c"]),
        ]);
        assert!(query.starts_with("mutation TierLabels($id0: ID!, $add0: [String!]!, $id1: ID!"));
        assert!(query.contains("add0: tagsAdd(id: $id0, tags: $add0)"));
        assert!(query.contains("remove1: tagsRemove(id: $id1, tags: $remove1)"));
        assert!(!query.contains("add2:"));
        assert!(!query.contains("remove0:"));
        assert_eq!(variables["id0"], "gid://shopify/Customer/1");
        assert_eq!(variables["id1"], "gid://shopify/Customer/2");
        assert_eq!(variables["remove2"], json!(["tier:c"]));
    }

    #[test]
    fn user_errors_and_null_payloads_are_problems() {
        let data = json!({
            "add0": {"node": {"id": "x"}, "userErrors": []},
            "add1": {"node": null, "userErrors": [{"field": ["id"], "message": "Customer does not exist"}]},
            "add2": null,
        });
        assert_eq!(mutation_problem(&data, "add0"), None);
        assert_eq!(
            mutation_problem(&data, "add1").as_deref(),
            Some("Customer does not exist")
        );
        assert_eq!(
            mutation_problem(&data, "add2").as_deref(),
            Some("add2 answered null")
        );
        assert_eq!(mutation_problem(&data, "remove0"), None);
    }
}
