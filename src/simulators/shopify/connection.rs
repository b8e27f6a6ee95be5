//! The GraphQL `customers` connection: `first`/`after` cursor paging over a
//! sort key (`ID`, `UPDATED_AT`, `CREATED_AT`, optionally `reverse`), with
//! the `query` search string narrowed to what a sync client sends:
//! `updated_at:>'2024-05-01T00:00:00Z'`-style comparisons on `updated_at`
//! and `created_at`, and `id:>N`, joined by spaces or `AND`.
//!
//! Cursors are opaque to clients (base64 of the sort key and position);
//! a cursor made under another sort key is rejected.

use std::collections::BTreeMap;

use base64::Engine;
use chrono::{DateTime, FixedOffset};
use serde_json::{json, Map, Value};

use super::graphql::{Field, GraphqlError};
use super::{customer_node, parse_timestamp, Filter};

/// The sort keys of `customers` the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(super) enum SortKey {
    Id,
    UpdatedAt,
    CreatedAt,
}

/// The bound arguments of a `customers(...)` field.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ConnectionArgs {
    pub first: usize,
    after: Option<Position>,
    sort_key: SortKey,
    reverse: bool,
    filters: Vec<Filter>,
}

/// Where a record sits in the sort order: (sort value, id).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
struct Position {
    value: i64,
    id: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Cursor {
    sort_key: SortKey,
    last_value: i64,
    last_id: u64,
}

/// Most nodes one page may ask for.
pub(super) const MAX_FIRST: usize = 250;

impl ConnectionArgs {
    /// Binds `customers(first:, after:, sortKey:, reverse:, query:)`.
    pub(super) fn bind(
        field: &Field,
        variables: &Map<String, Value>,
    ) -> Result<Self, GraphqlError> {
        let error = |message: String, code: &'static str| {
            GraphqlError::new(message, Some(field.position), code)
        };
        let argument = |name: &str| -> Result<Value, GraphqlError> {
            field
                .argument(name)
                .map(|value| value.resolve(variables))
                .unwrap_or(Ok(Value::Null))
        };
        if !argument("last")?.is_null() || !argument("before")?.is_null() {
            return Err(error(
                "Backward paging (last/before) is not supported by this simulator".into(),
                "unsupportedArgument",
            ));
        }
        let first = match argument("first")? {
            Value::Null => {
                return Err(error(
                    "you must provide one of first or last".into(),
                    "argumentLiteralsIncompatible",
                ))
            }
            value => value
                .as_u64()
                .map(|first| first as usize)
                .filter(|first| *first <= MAX_FIRST)
                .ok_or_else(|| {
                    error(
                        format!("The first argument must be an integer from 0 to {MAX_FIRST}"),
                        "argumentLiteralsIncompatible",
                    )
                })?,
        };
        let sort_key = match argument("sortKey")? {
            Value::Null => SortKey::Id,
            Value::String(key) => match key.as_str() {
                "ID" => SortKey::Id,
                "UPDATED_AT" => SortKey::UpdatedAt,
                "CREATED_AT" => SortKey::CreatedAt,
                other => {
                    return Err(error(
                        format!("sortKey {other} is not supported by this simulator"),
                        "unsupportedArgument",
                    ))
                }
            },
            _ => {
                return Err(error(
                    "sortKey must be an enum value".into(),
                    "argumentLiteralsIncompatible",
                ))
            }
        };
        let reverse = argument("reverse")?.as_bool().unwrap_or(false);
        let after = match argument("after")? {
            Value::Null => None,
            Value::String(cursor) => Some(decode_cursor(&cursor, sort_key).ok_or_else(|| {
                error(
                    format!("Invalid cursor for customers: {cursor}"),
                    "invalidCursor",
                )
            })?),
            _ => {
                return Err(error(
                    "after must be a string".into(),
                    "argumentLiteralsIncompatible",
                ))
            }
        };
        let filters = match argument("query")? {
            Value::Null => Vec::new(),
            Value::String(query) => {
                search_filters(&query).map_err(|message| error(message, "unsupportedSearch"))?
            }
            _ => {
                return Err(error(
                    "query must be a string".into(),
                    "argumentLiteralsIncompatible",
                ))
            }
        };
        Ok(ConnectionArgs {
            first,
            after,
            sort_key,
            reverse,
            filters,
        })
    }

    /// One page of the connection over `customers`, as a
    /// `CustomerConnection` object.
    pub(super) fn page(&self, customers: &BTreeMap<u64, Value>) -> Value {
        let mut matching: Vec<(Position, &Value)> = customers
            .values()
            .filter(|customer| self.filters.iter().all(|filter| filter.matches(customer)))
            .filter_map(|customer| Some((position(customer, self.sort_key)?, customer)))
            .collect();
        matching.sort_by_key(|(position, _)| *position);
        if self.reverse {
            matching.reverse();
        }
        let start = match self.after {
            None => 0,
            Some(after) => matching.partition_point(|(position, _)| {
                if self.reverse {
                    *position >= after
                } else {
                    *position <= after
                }
            }),
        };
        let rest = &matching[start..];
        let page = &rest[..self.first.min(rest.len())];
        let edges: Vec<Value> = page
            .iter()
            .map(|(position, customer)| {
                json!({
                    "__typename": "CustomerEdge",
                    "cursor": encode_cursor(self.sort_key, *position),
                    "node": customer_node(customer),
                })
            })
            .collect();
        let cursor_at = |index: Option<usize>| {
            index
                .and_then(|index| edges.get(index))
                .map(|edge| edge["cursor"].clone())
                .unwrap_or(Value::Null)
        };
        json!({
            "__typename": "CustomerConnection",
            "nodes": edges.iter().map(|edge| edge["node"].clone()).collect::<Vec<_>>(),
            "pageInfo": {
                "__typename": "PageInfo",
                "hasNextPage": rest.len() > page.len(),
                "hasPreviousPage": start > 0,
                "startCursor": cursor_at(Some(0)),
                "endCursor": cursor_at(edges.len().checked_sub(1)),
            },
            "edges": edges,
        })
    }
}

/// A customer's place under `sort_key`; records without the sort field sort
/// first.
fn position(customer: &Value, sort_key: SortKey) -> Option<Position> {
    let id = customer.get("id").and_then(Value::as_u64)?;
    let time = |field: &str| {
        customer
            .get(field)
            .and_then(Value::as_str)
            .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
            .map(|time| time.timestamp_millis())
            .unwrap_or(i64::MIN)
    };
    let value = match sort_key {
        SortKey::Id => 0,
        SortKey::UpdatedAt => time("updated_at"),
        SortKey::CreatedAt => time("created_at"),
    };
    Some(Position { value, id })
}

fn encode_cursor(sort_key: SortKey, position: Position) -> String {
    let cursor = Cursor {
        sort_key,
        last_value: position.value,
        last_id: position.id,
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&cursor).expect("cursor serializes"))
}

fn decode_cursor(text: &str, sort_key: SortKey) -> Option<Position> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()?;
    let cursor: Cursor = serde_json::from_slice(&bytes).ok()?;
    (cursor.sort_key == sort_key).then_some(Position {
        value: cursor.last_value,
        id: cursor.last_id,
    })
}

/// The filters of a search string such as
/// `updated_at:>'2024-05-01T00:00:00Z' AND id:>100`, or why it cannot be
/// served.
pub(super) fn search_filters(query: &str) -> Result<Vec<Filter>, String> {
    let mut filters = Vec::new();
    for term in search_terms(query)? {
        if term == "AND" {
            continue;
        }
        if term == "OR" || term == "NOT" || term.starts_with('-') {
            return Err(format!(
                "search operator {term} is not supported by this simulator"
            ));
        }
        let (field, condition) = term
            .split_once(':')
            .ok_or_else(|| format!("search term {term} is not supported by this simulator"))?;
        let (operator, value) = ["<=", ">=", "<", ">"]
            .iter()
            .find_map(|operator| {
                condition
                    .strip_prefix(operator)
                    .map(|value| (*operator, value))
            })
            .unwrap_or(("=", condition));
        let value = value.trim_matches(|c| c == '\'' || c == '"');
        let filter = match field {
            "updated_at" | "created_at" => {
                let field = if field == "updated_at" {
                    "updated_at"
                } else {
                    "created_at"
                };
                let time: DateTime<FixedOffset> = parse_timestamp(value)
                    .ok_or_else(|| format!("{value} in {term} is not a date-time"))?;
                match operator {
                    ">=" => Filter::AtLeast(field, time),
                    ">" => Filter::After(field, time),
                    "<=" => Filter::AtMost(field, time),
                    "<" => Filter::Before(field, time),
                    _ => Filter::Exactly(field, time),
                }
            }
            "id" => {
                let id: u64 = value
                    .parse()
                    .map_err(|_| format!("{value} in {term} is not an id"))?;
                match operator {
                    ">" => Filter::SinceId(id),
                    ">=" => Filter::SinceId(id.saturating_sub(1)),
                    "=" => Filter::Ids(vec![id]),
                    _ => {
                        return Err(format!(
                            "search term {term} is not supported by this simulator"
                        ))
                    }
                }
            }
            _ => {
                return Err(format!(
                    "search field {field} is not supported by this simulator"
                ))
            }
        };
        filters.push(filter);
    }
    Ok(filters)
}

/// Splits a search string at spaces outside quotes.
fn search_terms(query: &str) -> Result<Vec<String>, String> {
    let mut terms = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in query.chars() {
        match (quote, c) {
            (Some(open), c) if c == open => {
                quote = None;
                current.push(c);
            }
            (Some(_), c) => current.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                current.push(c);
            }
            (None, c) if c.is_whitespace() => {
                if !current.is_empty() {
                    terms.push(std::mem::take(&mut current));
                }
            }
            (None, c) => current.push(c),
        }
    }
    if quote.is_some() {
        return Err(format!("unterminated quote in search {query}"));
    }
    if !current.is_empty() {
        terms.push(current);
    }
    Ok(terms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_strings_become_filters() {
        let filters =
            search_filters("updated_at:>'2024-05-01T00:00:00Z' AND created_at:<=2024-06-01 id:>=7")
                .unwrap();
        let may = parse_timestamp("2024-05-01T00:00:00Z").unwrap();
        let june = parse_timestamp("2024-06-01").unwrap();
        assert_eq!(
            filters,
            vec![
                Filter::After("updated_at", may),
                Filter::AtMost("created_at", june),
                Filter::SinceId(6),
            ]
        );
        for unsupported in [
            "email:a@b.c",
            "id:1 OR id:2",
            "-tag:vip",
            "updated_at:>'2024",
            "updated_at:>soon",
        ] {
            assert!(search_filters(unsupported).is_err(), "{unsupported}");
        }
    }

    #[test]
    fn cursors_belong_to_their_sort_key() {
        let position = Position { value: 5, id: 9 };
        let cursor = encode_cursor(SortKey::UpdatedAt, position);
        assert_eq!(decode_cursor(&cursor, SortKey::UpdatedAt), Some(position));
        assert_eq!(decode_cursor(&cursor, SortKey::Id), None);
        assert_eq!(decode_cursor("garbage!", SortKey::Id), None);
    }
}
