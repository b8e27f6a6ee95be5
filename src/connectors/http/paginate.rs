//! Paging through a stream: where a request starts (`Position`), how each
//! style builds the request for a position and finds the next one.
//!
//! Positions are serialized into the stream's committed cursor, so a sync
//! that stops resumes at the page after the last committed one.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config::{HttpMethod, PaginationConfig, SideloadConfig};
use super::incremental;
use super::retry::{RequestSpec, Response, Session};
use super::source::{resolve_url, Stream};
use super::template::{render, render_json, Vars};
use crate::connectors::ConnectorError;
use crate::mapping::path::{lookup, lookup_text, scalar_text};

/// Where the next request of a stream starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "at", rename_all = "snake_case")]
pub(super) enum Position {
    /// The first page.
    Start,
    /// A page number.
    Page { page: u64 },
    /// An offset.
    Offset { offset: u64 },
    /// An opaque cursor from the previous answer.
    Cursor { cursor: String },
    /// The full URL a `Link` header pointed to.
    NextUrl { url: String },
    /// The largest id seen so far.
    SinceId { since_id: Value },
    /// The last (timestamp, id) seen; `offset` skips rows of that same
    /// timestamp when a whole page shared it.
    Keyset {
        since: Value,
        last_id: Value,
        offset: u64,
    },
}

/// One fetched page.
#[derive(Debug, Clone)]
pub(super) struct Page {
    /// The records, raw (keyset overlap already dropped).
    pub records: Vec<Value>,
    /// The whole answer, for fan-out values outside the records.
    pub body: Value,
    /// Where the next page starts; `None` when this was the last.
    pub next: Option<Position>,
    /// The cursor to continue from after the last page (cursor style).
    pub final_cursor: Option<String>,
    /// The URL requested, redacted, for reports.
    pub url: String,
}

/// What a page's answer means for the paging: the records to keep, where
/// the next page starts, and the cursor to keep after the last page.
struct Advance {
    records: Vec<Value>,
    next: Option<Position>,
    final_cursor: Option<String>,
}

/// Walks the pages of one stream request from a position.
pub(super) struct Pager {
    session: Session,
    stream: usize,
    vars: Vars,
    position: Option<Position>,
}

impl Pager {
    /// A pager over stream number `stream` of the connector, with `vars`
    /// (config vars, secrets, `since`, the fan-out value) starting at `start`.
    pub fn new(session: Session, stream: usize, vars: Vars, start: Position) -> Pager {
        Pager {
            session,
            stream,
            vars,
            position: Some(start),
        }
    }

    fn stream(&self) -> &Stream {
        &self.session.inner.streams[self.stream]
    }

    fn label(&self) -> String {
        self.session.label(&self.stream().name)
    }

    /// Fetches the next page; `None` after the last one.
    pub async fn next_page(&mut self) -> Result<Option<Page>, ConnectorError> {
        let Some(position) = self.position.take() else {
            return Ok(None);
        };
        let spec = self.request(&position)?;
        let shown = self.session.inner.redactor.url(&spec.url);
        let response = self.session.send(&self.stream().name, &spec).await?;
        let records = match extract_records(&response.body, &self.stream().config.records_path) {
            Some(records) => records,
            None => {
                let excerpt: String = self
                    .session
                    .inner
                    .redactor
                    .text(&response.body.to_string())
                    .chars()
                    .take(200)
                    .collect();
                return Err(ConnectorError::external(
                    format!(
                        "{}: {shown}: the answer has no array of records at {:?}: {excerpt}",
                        self.label(),
                        self.stream().config.records_path
                    ),
                    false,
                ));
            }
        };
        let mut records = records;
        for sideload in &self.stream().config.sideloads {
            attach_sideload(&response.body, sideload, &mut records);
        }
        let Advance {
            records,
            next,
            final_cursor,
        } = self.advance(&position, records, &response, &spec)?;
        self.position = next.clone();
        Ok(Some(Page {
            records,
            body: response.body,
            next,
            final_cursor,
            url: shown,
        }))
    }

    /// The variables of a request at `position`: the pager's own plus the
    /// page variables of the stream's style.
    fn vars_for(&self, position: &Position) -> Vars {
        let mut vars = self.vars.clone();
        let mut set = |name: &str, value: Value| {
            vars.insert(name.to_string(), value);
        };
        match (&self.stream().config.pagination, position) {
            (PaginationConfig::PageNumber { start, size, .. }, position) => {
                let page = match position {
                    Position::Page { page } => *page,
                    _ => *start,
                };
                set("page", page.into());
                set("size", (*size).into());
                set("limit", (*size).into());
            }
            (PaginationConfig::OffsetLimit { limit, .. }, position) => {
                let offset = match position {
                    Position::Offset { offset } => *offset,
                    _ => 0,
                };
                set("offset", offset.into());
                set("limit", (*limit).into());
            }
            (PaginationConfig::Cursor { .. }, position) => {
                let cursor = match position {
                    Position::Cursor { cursor } => cursor.clone(),
                    _ => String::new(),
                };
                set("cursor", cursor.into());
            }
            (PaginationConfig::SinceId { limit, .. }, position) => {
                let since_id = match position {
                    Position::SinceId { since_id } => since_id.clone(),
                    _ => Value::from(0),
                };
                set("since_id", since_id);
                if let Some(limit) = limit {
                    set("limit", (*limit).into());
                }
            }
            (PaginationConfig::Keyset { limit, .. }, position) => {
                if let Position::Keyset { since, offset, .. } = position {
                    set("since", since.clone());
                    set("offset", (*offset).into());
                } else {
                    set("offset", 0.into());
                }
                set("limit", (*limit).into());
            }
            (PaginationConfig::None | PaginationConfig::LinkHeader, _) => {}
        }
        vars
    }

    /// The request for `position`.
    fn request(&self, position: &Position) -> Result<RequestSpec, ConnectorError> {
        let stream = self.stream();
        let config = &stream.config;
        let inner = &self.session.inner;
        let label = self.label();
        let config_error = |message: String| ConnectorError::config(format!("{label}: {message}"));
        let vars = self.vars_for(position);
        let mut headers = Vec::with_capacity(config.headers.len());
        for (name, template) in &config.headers {
            headers.push((name.clone(), render(template, &vars).map_err(config_error)?));
        }
        if let Position::NextUrl { url } = position {
            // Exactly the URL the source gave: Shopify refuses filters
            // next to `page_info`.
            return Ok(RequestSpec {
                method: HttpMethod::Get,
                url: resolve_url(&inner.base_url, url).map_err(config_error)?,
                headers,
                body: None,
                form: None,
            });
        }
        let path = render(&config.path, &vars).map_err(config_error)?;
        let mut url = resolve_url(&inner.base_url, &path).map_err(config_error)?;
        let mut pairs: Vec<(String, String)> = Vec::new();
        // Follow-up requests of an `only_cursor` stream carry only the
        // cursor and the query parameters named in `keep_query`.
        let kept: Option<&[String]> = match (&config.pagination, position) {
            (
                PaginationConfig::Cursor {
                    only_cursor: true,
                    keep_query,
                    ..
                },
                Position::Cursor { .. },
            ) => Some(keep_query),
            _ => None,
        };
        for (name, template) in &config.query {
            if kept.is_none_or(|kept| kept.contains(name)) {
                pairs.push((name.clone(), render(template, &vars).map_err(config_error)?));
            }
        }
        let text = |name: &str| vars.get(name).and_then(scalar_text).unwrap_or_default();
        match &config.pagination {
            PaginationConfig::PageNumber {
                param, size_param, ..
            } => {
                if let Some(param) = param {
                    pairs.push((param.clone(), text("page")));
                }
                if let Some(size_param) = size_param {
                    pairs.push((size_param.clone(), text("size")));
                }
            }
            PaginationConfig::OffsetLimit {
                offset_param,
                limit_param,
                ..
            } => {
                if let Some(offset_param) = offset_param {
                    pairs.push((offset_param.clone(), text("offset")));
                }
                if let Some(limit_param) = limit_param {
                    pairs.push((limit_param.clone(), text("limit")));
                }
            }
            PaginationConfig::Cursor {
                param: Some(param), ..
            } => {
                if let Position::Cursor { cursor } = position {
                    pairs.push((param.clone(), cursor.clone()));
                }
            }
            PaginationConfig::SinceId { param, .. } => {
                if let Position::SinceId { since_id } = position {
                    pairs.push((param.clone(), scalar_text(since_id).unwrap_or_default()));
                }
            }
            _ => {}
        }
        if !pairs.is_empty() {
            url.query_pairs_mut().extend_pairs(pairs);
        }
        let body = stream
            .body
            .as_ref()
            .map(|body| render_json(body, &vars))
            .transpose()
            .map_err(config_error)?;
        Ok(RequestSpec {
            method: config.method,
            url,
            headers,
            body,
            form: None,
        })
    }

    /// The records to keep and where the next page starts.
    fn advance(
        &self,
        position: &Position,
        records: Vec<Value>,
        response: &Response,
        spec: &RequestSpec,
    ) -> Result<Advance, ConnectorError> {
        let stream = self.stream();
        let count = records.len() as u64;
        let next = match &stream.config.pagination {
            PaginationConfig::None => None,
            PaginationConfig::PageNumber { start, size, .. } => {
                let page = match position {
                    Position::Page { page } => *page,
                    _ => *start,
                };
                (count > 0 && count >= *size).then_some(Position::Page { page: page + 1 })
            }
            PaginationConfig::OffsetLimit { limit, .. } => {
                let offset = match position {
                    Position::Offset { offset } => *offset,
                    _ => 0,
                };
                (count > 0 && count >= *limit).then_some(Position::Offset {
                    offset: offset + count,
                })
            }
            PaginationConfig::Cursor {
                cursor_path,
                stop_path,
                more_path,
                ..
            } => {
                let current = match position {
                    Position::Cursor { cursor } => Some(cursor.clone()),
                    _ => None,
                };
                let next = lookup(&response.body, cursor_path).and_then(scalar_text);
                let stop = stop_path
                    .as_deref()
                    .and_then(|path| lookup(&response.body, path))
                    .is_some_and(|value| value == &Value::Bool(true))
                    || more_path.as_deref().is_some_and(|path| {
                        lookup(&response.body, path) != Some(&Value::Bool(true))
                    });
                let final_cursor = next.clone().or_else(|| current.clone());
                let next = match next {
                    Some(next) if !stop && current.as_ref() != Some(&next) => {
                        Some(Position::Cursor { cursor: next })
                    }
                    _ => None,
                };
                return Ok(Advance {
                    records,
                    next,
                    final_cursor,
                });
            }
            PaginationConfig::LinkHeader => {
                let next = match &response.link_next {
                    Some(link) => {
                        let mut url = spec.url.join(link).map_err(|error| {
                            ConnectorError::external(
                                format!(
                                    "{}: the Link header's next URL is not a URL: {error}",
                                    self.label()
                                ),
                                false,
                            )
                        })?;
                        // The credential is added to each request; never
                        // keep one in a stored position.
                        if let Some(name) = self.session.inner.auth.query_param_name() {
                            let kept: Vec<(String, String)> = url
                                .query_pairs()
                                .filter(|(key, _)| key != name)
                                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                                .collect();
                            url.query_pairs_mut().clear().extend_pairs(kept);
                        }
                        (url != spec.url).then(|| Position::NextUrl {
                            url: url.to_string(),
                        })
                    }
                    None => None,
                };
                next
            }
            PaginationConfig::SinceId {
                id_field, limit, ..
            } => {
                let id_field = id_field
                    .as_deref()
                    .unwrap_or(stream.config.primary_key.as_str());
                let largest = records
                    .iter()
                    .filter_map(|record| lookup(record, id_field))
                    .filter(|id| scalar_text(id).is_some())
                    .max_by(|a, b| compare_ids(a, b))
                    .cloned();
                let short = limit.is_some_and(|limit| count < limit);
                match largest {
                    Some(since_id) if !short => Some(Position::SinceId { since_id }),
                    _ => None,
                }
            }
            PaginationConfig::Keyset { id_field, limit } => {
                return self.advance_keyset(position, records, id_field, *limit);
            }
        };
        Ok(Advance {
            records,
            next,
            final_cursor: None,
        })
    }

    /// Keyset paging: drop the overlap, then start the next page at the
    /// last (timestamp, id) of this one.
    fn advance_keyset(
        &self,
        position: &Position,
        records: Vec<Value>,
        id_field: &str,
        limit: u64,
    ) -> Result<Advance, ConnectorError> {
        let Some(incremental) = &self.stream().config.incremental else {
            return Err(ConnectorError::config(format!(
                "{}: keyset pagination needs [incremental]",
                self.label()
            )));
        };
        let format = incremental.format;
        let field = incremental.cursor_field.as_str();
        let count = records.len() as u64;
        let (since, last_id, offset) = match position {
            Position::Keyset {
                since,
                last_id,
                offset,
            } => (
                incremental::parse(since, format),
                Some(last_id.clone()),
                *offset,
            ),
            _ => (
                self.vars
                    .get("since")
                    .and_then(|since| incremental::parse(since, format)),
                None,
                0,
            ),
        };
        let seen = |record: &Value| -> bool {
            let (Some(since), Some(last_id)) = (since, &last_id) else {
                return false;
            };
            let time = lookup(record, field).and_then(|value| incremental::parse(value, format));
            let id = lookup(record, id_field);
            time == Some(since)
                && id.is_some_and(|id| compare_ids(id, last_id) != Ordering::Greater)
        };
        let next = match records.last() {
            Some(last) if count >= limit => {
                let time = lookup(last, field).and_then(|value| incremental::parse(value, format));
                let id = lookup(last, id_field).filter(|id| scalar_text(id).is_some());
                let (Some(time), Some(id)) = (time, id) else {
                    return Err(ConnectorError::external(
                        format!(
                            "{}: the last record of a page has no readable {field:?} and {id_field:?}, so keyset paging cannot go on",
                            self.label()
                        ),
                        false,
                    ));
                };
                Some(Position::Keyset {
                    since: incremental::format(time, format),
                    last_id: id.clone(),
                    offset: if since == Some(time) {
                        offset + count
                    } else {
                        0
                    },
                })
            }
            _ => None,
        };
        let kept = records.into_iter().filter(|record| !seen(record)).collect();
        Ok(Advance {
            records: kept,
            next,
            final_cursor: None,
        })
    }
}

/// The array of records at `path` (`""`: the answer itself); `null` is an
/// empty page, anything else that is not an array is no records at all.
pub(super) fn extract_records(body: &Value, path: &str) -> Option<Vec<Value>> {
    let found = if path.is_empty() {
        Some(body)
    } else {
        lookup(body, path)
    };
    match found? {
        Value::Array(items) => Some(items.clone()),
        Value::Null => Some(Vec::new()),
        _ => None,
    }
}

/// Puts each related object of the answer's `sideload.path` array into the
/// records whose `sideload.field` holds its `sideload.key`, under
/// `sideload.into`. Ids compare as text, so `42` meets `"42"`; a record
/// whose object the answer lacks is left as it is.
pub(super) fn attach_sideload(body: &Value, sideload: &SideloadConfig, records: &mut [Value]) {
    let Some(Value::Array(objects)) = lookup(body, &sideload.path) else {
        return;
    };
    let by_id: HashMap<String, &Value> = objects
        .iter()
        .filter_map(|object| Some((lookup_text(object, &sideload.key)?, object)))
        .collect();
    for record in records {
        let Some(object) = lookup_text(record, &sideload.field).and_then(|id| by_id.get(&id))
        else {
            continue;
        };
        if let Value::Object(fields) = record {
            fields.insert(sideload.into.clone(), (*object).clone());
        }
    }
}

/// Orders ids: numerically when both are numbers (or numeric text), else as text.
pub(super) fn compare_ids(a: &Value, b: &Value) -> Ordering {
    let number = |value: &Value| match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok(),
        _ => None,
    };
    match (number(a), number(b)) {
        (Some(a), Some(b)) => a.total_cmp(&b),
        _ => scalar_text(a).cmp(&scalar_text(b)),
    }
}

/// The `rel="next"` target of one `Link` header value, e.g.
/// `<https://x/c.json?page_info=abc>; rel="next", <…>; rel="previous"`.
pub(super) fn next_link(header: &str) -> Option<String> {
    split_links(header).into_iter().find_map(|link| {
        let link = link.trim();
        let rest = link.strip_prefix('<')?;
        let end = rest.find('>')?;
        let (target, params) = (&rest[..end], &rest[end + 1..]);
        let is_next = params.split(';').any(|param| {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        is_next.then(|| target.trim().to_string())
    })
}

/// Splits a `Link` header at the commas between links (not those inside
/// `<…>` or quotes).
fn split_links(header: &str) -> Vec<&str> {
    let mut links = Vec::new();
    let (mut in_url, mut in_quotes, mut start) = (false, false, 0);
    for (index, c) in header.char_indices() {
        match c {
            '<' if !in_quotes => in_url = true,
            '>' if !in_quotes => in_url = false,
            '"' if !in_url => in_quotes = !in_quotes,
            ',' if !in_url && !in_quotes => {
                links.push(&header[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    links.push(&header[start..]);
    links
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_next_link_is_found_among_others() {
        let shopify = "<https://s.myshopify.com/admin/api/2024-01/customers.json?limit=2&page_info=prev1>; rel=\"previous\", <https://s.myshopify.com/admin/api/2024-01/customers.json?limit=2&page_info=eyJ,x>; rel=\"next\"";
        assert_eq!(
            next_link(shopify).as_deref(),
            Some(
                "https://s.myshopify.com/admin/api/2024-01/customers.json?limit=2&page_info=eyJ,x"
            )
        );
        assert_eq!(
            next_link("</p?page=2>; rel=next").as_deref(),
            Some("/p?page=2")
        );
        assert_eq!(
            next_link("</a>; title=\"x, rel=next\", </b>; rel=\"last next\"").as_deref(),
            Some("/b")
        );
        assert_eq!(next_link("<https://x/p?page=1>; rel=\"previous\""), None);
        assert_eq!(next_link(""), None);
        assert_eq!(next_link("garbage; rel=next"), None);
    }

    #[test]
    fn ids_compare_as_numbers_when_they_are() {
        assert_eq!(compare_ids(&json!(9), &json!(10)), Ordering::Less);
        assert_eq!(compare_ids(&json!("9"), &json!(10)), Ordering::Less);
        assert_eq!(compare_ids(&json!("b"), &json!("a")), Ordering::Greater);
    }

    #[test]
    fn records_are_found_at_their_path() {
        let body = json!({"data": {"items": [1, 2]}, "none": null, "text": "x"});
        assert_eq!(
            extract_records(&body, "data.items"),
            Some(vec![json!(1), json!(2)])
        );
        assert_eq!(extract_records(&body, "none"), Some(vec![]));
        assert_eq!(extract_records(&body, "text"), None);
        assert_eq!(extract_records(&body, "missing"), None);
        assert_eq!(
            extract_records(&json!([{"id": 1}]), ""),
            Some(vec![json!({"id": 1})])
        );
    }
}
