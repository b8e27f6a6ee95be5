//! The `http` source: pulls each stream page by page, one staged batch per
//! page, each carrying the stream state that follows it.
//!
//! # The stream cursor
//!
//! The committed cursor of a stream is a [`StreamState`]:
//!
//! - `high_water`: the largest incremental cursor among the committed
//!   records. A new sweep starts from it minus the lookback (with `>=`, so
//!   records at the boundary are fetched again and ignored by staging's
//!   content hash).
//! - `resume`: while a sweep is unfinished, the page after the last
//!   committed one (and the `since` and fan-out value it ran with), so an
//!   interrupted or failed sync continues there instead of starting over.
//! - `next_cursor`: for cursor paging with `keep_final_cursor` (Zendesk
//!   exports), where the next sweep continues.
//!
//! A page that fails is never sent, so the cursor never moves past it.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use super::auth::Auth;
use super::config::{
    ErrorSignals, FanOutConfig, PaginationConfig, RateLimitConfig, RetryConfig, StreamConfig,
};
use super::incremental;
use super::paginate::{Page, Pager, Position};
use super::retry::{Redactor, Session};
use super::template::Vars;
use crate::connectors::{CheckReport, ConnectorError, Source, SourceContext};
use crate::mapping::path::{lookup, lookup_text, scalar_text};
use crate::store::{Rejection, SourceRecord, StagedBatch};

/// Pages a fan-out request may fetch ahead of the one being committed.
const FAN_OUT_BUFFER: usize = 4;

/// One configured stream, ready to run.
#[derive(Debug)]
pub(super) struct Stream {
    pub name: String,
    pub config: StreamConfig,
    /// The body as JSON, before placeholders are filled.
    pub body: Option<Value>,
    /// `{{ since }}` on the first sync (incremental streams).
    pub start: Option<DateTime<Utc>>,
}

/// Everything a connector needs to send requests, shared by its pulls.
#[derive(Debug)]
pub(super) struct Inner {
    pub id: String,
    pub base_url: String,
    pub auth: Auth,
    pub rate_limit: RateLimitConfig,
    pub timeout: Duration,
    pub retry: RetryConfig,
    pub errors: ErrorSignals,
    /// Config vars and `secrets.<name>`.
    pub vars: Vars,
    pub streams: Vec<Stream>,
    pub redactor: Redactor,
    /// Bounds the requests in flight.
    pub concurrency: Semaphore,
    pub max_concurrency: usize,
    /// Answers that said "slow down", for push metrics.
    pub throttled: AtomicU64,
}

/// A source reading a JSON HTTP API as declared in its connector file.
pub struct HttpSource {
    inner: Arc<Inner>,
}

impl fmt::Debug for HttpSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let streams: Vec<&str> = self.inner.streams.iter().map(|s| s.name.as_str()).collect();
        f.debug_struct("HttpSource")
            .field("id", &self.inner.id)
            .field("base_url", &self.inner.base_url)
            .field("auth", &self.inner.auth)
            .field("streams", &streams)
            .finish_non_exhaustive()
    }
}

/// The committed cursor of one stream (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct StreamState {
    /// The largest incremental cursor among committed records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_water: Option<Value>,
    /// Where the next sweep continues (cursor paging with `keep_final_cursor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Where the unfinished sweep continues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Resume>,
}

/// The page after the last committed one of an unfinished sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Resume {
    /// The `since` the sweep started with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Value>,
    /// The first fan-out value of the request to continue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fan_out_from: Option<String>,
    pub position: Position,
}

/// The URL of `path`: itself when absolute, else appended to `base`.
pub(super) fn resolve_url(base: &str, path: &str) -> Result<Url, String> {
    let text = if path.starts_with("http://") || path.starts_with("https://") {
        path.to_string()
    } else if path.is_empty() {
        base.to_string()
    } else {
        format!(
            "{}/{}",
            base.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    };
    Url::parse(&text).map_err(|error| format!("the request URL is not valid: {error}"))
}

impl HttpSource {
    pub(super) fn new(inner: Inner) -> HttpSource {
        HttpSource {
            inner: Arc::new(inner),
        }
    }

    /// The connector's request handle, for push-back.
    pub fn api(&self) -> super::HttpApi {
        super::HttpApi::new(self.inner.clone())
    }

    fn stream_index(&self, name: &str) -> Result<usize, ConnectorError> {
        self.inner
            .streams
            .iter()
            .position(|stream| stream.name == name)
            .ok_or_else(|| {
                ConnectorError::config(format!(
                    "http connector {} has no stream {name:?}",
                    self.inner.id
                ))
            })
    }

    /// `{{ since }}` for a new sweep of `stream`.
    fn since_for(&self, stream: &Stream, state: &StreamState) -> Option<Value> {
        let incremental = stream.config.incremental.as_ref()?;
        let format = incremental.format;
        let committed = state
            .high_water
            .as_ref()
            .and_then(|value| incremental::parse(value, format))
            .map(|time| time - chrono::Duration::seconds(incremental.lookback_secs as i64));
        let since = committed
            .or(stream.start)
            .unwrap_or_else(incremental::epoch);
        Some(incremental::format(since, format))
    }

    /// The pager's variables: config vars, secrets, and `since` if any.
    fn vars_with_since(&self, since: &Option<Value>) -> Vars {
        let mut vars = self.inner.vars.clone();
        if let Some(since) = since {
            vars.insert("since".to_string(), since.clone());
        }
        vars
    }

    /// The fan-out values of `fan_out`, read from its stream's answers,
    /// sorted and without repeats (so a resumed sweep finds its place).
    async fn fan_out_values(
        &self,
        session: &Session,
        fan_out: &FanOutConfig,
    ) -> Result<Vec<String>, ConnectorError> {
        let parent = self.stream_index(&fan_out.stream)?;
        let parent_stream = &self.inner.streams[parent];
        let since = self.since_for(parent_stream, &StreamState::default());
        let mut pager = Pager::new(
            session.clone(),
            parent,
            self.vars_with_since(&since),
            Position::Start,
        );
        let mut values = BTreeSet::new();
        while let Some(page) = pager.next_page().await? {
            if let Some(path) = &fan_out.values_path {
                match lookup(&page.body, path) {
                    Some(Value::Array(items)) => {
                        values.extend(items.iter().filter_map(scalar_text))
                    }
                    Some(Value::Null) | None => {}
                    Some(_) => {
                        return Err(ConnectorError::external(
                            format!(
                                "{}: {}: {path:?} is not a list of fan-out values",
                                session.label(&parent_stream.name),
                                page.url
                            ),
                            false,
                        ))
                    }
                }
            }
            if let Some(field) = &fan_out.value_field {
                values.extend(page.records.iter().filter_map(|r| lookup_text(r, field)));
            }
        }
        Ok(values.into_iter().collect())
    }

    /// The variables of one fan-out request: the value, or the list of values.
    fn fan_out_vars(base: &Vars, fan_out: &FanOutConfig, chunk: &[String]) -> Vars {
        let mut vars = base.clone();
        let value = if fan_out.batch_size <= 1 {
            Value::String(chunk.first().cloned().unwrap_or_default())
        } else {
            Value::Array(chunk.iter().cloned().map(Value::String).collect())
        };
        vars.insert(fan_out.variable.clone(), value);
        vars
    }
}

/// Records per batch when a `gather` stream sends what it held.
const HELD_CHUNK: usize = 1_000;

/// The record a first row starts: the row without its gathered fields,
/// each an empty list that `gather_row` fills.
fn first_of_gathered(row: &Value, gather: &[String]) -> Value {
    let mut record = row.clone();
    if let Value::Object(fields) = &mut record {
        for name in gather {
            fields.insert(name.clone(), Value::Array(Vec::new()));
        }
    }
    record
}

/// Adds a row's value of each gathered field to the record's list of
/// them, kept in the order of their JSON text so the record does not change
/// with the order rows arrive in; a row without the field adds nothing.
fn gather_row(record: &mut Value, mut row: Value, gather: &[String]) {
    for name in gather {
        let Some(value) = row.as_object_mut().and_then(|fields| fields.remove(name)) else {
            continue;
        };
        if let Some(Value::Array(values)) = record.get_mut(name) {
            let text = value.to_string();
            if let Err(at) = values.binary_search_by_key(&text, |kept| kept.to_string()) {
                values.insert(at, value);
            }
        }
    }
}

/// Turns pages into batches and keeps the stream state they lead to.
struct Committer<'a> {
    stream: &'a Stream,
    label: String,
    state: StreamState,
    seen: HashSet<String>,
    /// With `gather`: the sweep's records, held until its last page (a
    /// record is whole only when every row of it has come), and where each
    /// one is.
    held: Vec<SourceRecord>,
    held_at: HashMap<String, usize>,
    batches: mpsc::Sender<StagedBatch>,
}

impl Committer<'_> {
    /// Sends one page as a batch, with the state after it: `resume` when
    /// the sweep goes on, none when this page ended it. A `gather` stream
    /// holds its records until the last page and then sends them all, with
    /// no cursor before: an interrupted sweep starts again from the start.
    async fn commit(&mut self, page: Page, resume: Option<Resume>) -> Result<(), ConnectorError> {
        let config = &self.stream.config;
        let mut records = Vec::with_capacity(page.records.len());
        let mut rejected = Vec::new();
        for (index, raw) in page.records.into_iter().enumerate() {
            let Some(source_id) = lookup_text(&raw, &config.primary_key) else {
                rejected.push(Rejection {
                    source_id: None,
                    reason: format!(
                        "{}: record {} of {}: missing primary key {:?}",
                        self.label,
                        index + 1,
                        page.url,
                        config.primary_key
                    ),
                    raw: raw.to_string(),
                });
                continue;
            };
            if config.gather.is_empty() && config.dedupe && !self.seen.insert(source_id.clone()) {
                continue;
            }
            if let Some(incremental) = &config.incremental {
                let format = incremental.format;
                let time = lookup(&raw, &incremental.cursor_field)
                    .and_then(|value| incremental::parse(value, format));
                let high = self
                    .state
                    .high_water
                    .as_ref()
                    .and_then(|value| incremental::parse(value, format));
                if let Some(time) = time {
                    if high.is_none_or(|high| time > high) {
                        self.state.high_water = Some(incremental::format(time, format));
                    }
                }
            }
            if config.gather.is_empty() {
                records.push(SourceRecord { source_id, raw });
            } else if let Some(&at) = self.held_at.get(&source_id) {
                gather_row(&mut self.held[at].raw, raw, &config.gather);
            } else {
                let mut record = first_of_gathered(&raw, &config.gather);
                gather_row(&mut record, raw, &config.gather);
                self.held_at.insert(source_id.clone(), self.held.len());
                self.held.push(SourceRecord {
                    source_id,
                    raw: record,
                });
            }
        }
        let finished = resume.is_none();
        if !config.gather.is_empty() {
            if !finished {
                // Rejections are kept at once; records and the cursor wait.
                return match rejected.is_empty() {
                    true => Ok(()),
                    false => {
                        self.send(StagedBatch {
                            rejected,
                            ..StagedBatch::default()
                        })
                        .await
                    }
                };
            }
            self.held_at.clear();
            let mut held = std::mem::take(&mut self.held);
            // All but the last chunk go without a cursor.
            while held.len() > HELD_CHUNK {
                let rest = held.split_off(HELD_CHUNK);
                let chunk = std::mem::replace(&mut held, rest);
                self.send(StagedBatch {
                    records: chunk,
                    ..StagedBatch::default()
                })
                .await?;
            }
            records = held;
        }
        self.state.resume = resume;
        if finished {
            if let PaginationConfig::Cursor {
                keep_final_cursor: true,
                ..
            } = config.pagination
            {
                if page.final_cursor.is_some() {
                    self.state.next_cursor = page.final_cursor;
                }
            }
        }
        let cursor = serde_json::to_value(&self.state).map_err(|error| {
            ConnectorError::internal(format!("{}: cannot write the cursor: {error}", self.label))
        })?;
        self.send(StagedBatch {
            records,
            rejected,
            cursor: Some(cursor),
        })
        .await
    }

    async fn send(&self, batch: StagedBatch) -> Result<(), ConnectorError> {
        self.batches.send(batch).await.map_err(|_| {
            ConnectorError::internal(format!(
                "{}: the sync stopped receiving records",
                self.label
            ))
        })
    }

    /// Ends a sweep that had nothing to fetch (a fan-out without values).
    async fn finish_empty(&mut self) -> Result<(), ConnectorError> {
        self.state.resume = None;
        let cursor = serde_json::to_value(&self.state).ok();
        self.send(StagedBatch {
            cursor,
            ..StagedBatch::default()
        })
        .await
    }
}

#[async_trait]
impl Source for HttpSource {
    fn streams(&self) -> Vec<String> {
        self.inner
            .streams
            .iter()
            .filter(|stream| stream.config.sync)
            .map(|stream| stream.name.clone())
            .collect()
    }

    async fn check(&self, context: &SourceContext) -> Result<CheckReport, ConnectorError> {
        let session = Session::new(self.inner.clone(), context);
        // Authenticate first, so a credential problem is named as such.
        self.inner.auth.credential(&session).await?;
        let Some(index) = self
            .inner
            .streams
            .iter()
            .position(|stream| stream.config.sync)
        else {
            return Ok(CheckReport {
                streams: Vec::new(),
            });
        };
        let stream = &self.inner.streams[index];
        let since = self.since_for(stream, &StreamState::default());
        let mut vars = self.vars_with_since(&since);
        if let Some(fan_out) = &stream.config.fan_out {
            let values = self.fan_out_values(&session, fan_out).await?;
            if values.is_empty() {
                return Ok(CheckReport {
                    streams: vec![(
                        stream.name.clone(),
                        format!("stream {:?} gave no fan-out values", fan_out.stream),
                    )],
                });
            }
            let size = fan_out.batch_size.max(1).min(values.len());
            vars = Self::fan_out_vars(&vars, fan_out, &values[..size]);
        }
        let mut pager = Pager::new(session, index, vars, Position::Start);
        let Some(page) = pager.next_page().await? else {
            return Ok(CheckReport {
                streams: Vec::new(),
            });
        };
        let first = page
            .records
            .iter()
            .find_map(|record| lookup_text(record, &stream.config.primary_key))
            .map(|id| format!(", first id {id:?}"))
            .unwrap_or_default();
        Ok(CheckReport {
            streams: vec![(
                stream.name.clone(),
                format!(
                    "{}: {} records on the first page{first}",
                    page.url,
                    page.records.len()
                ),
            )],
        })
    }

    async fn pull(
        &self,
        context: &SourceContext,
        stream_name: &str,
        cursor: Option<Value>,
        batches: mpsc::Sender<StagedBatch>,
    ) -> Result<(), ConnectorError> {
        let index = self.stream_index(stream_name)?;
        let stream = &self.inner.streams[index];
        let session = Session::new(self.inner.clone(), context);
        let label = session.label(stream_name);
        let state: StreamState = match cursor {
            None => StreamState::default(),
            Some(cursor) => serde_json::from_value(cursor).unwrap_or_else(|error| {
                tracing::warn!(connector = %self.inner.id, stream = stream_name, %error,
                    "the stored cursor is not an http connector cursor; syncing from the start");
                StreamState::default()
            }),
        };
        // A gathering stream never stores a position inside a sweep; one
        // left by an earlier version is not resumed from (its records
        // would be gathered from half the rows).
        let resume = state
            .resume
            .clone()
            .filter(|_| stream.config.gather.is_empty());
        let mut committer = Committer {
            stream,
            label: label.clone(),
            state,
            seen: HashSet::new(),
            held: Vec::new(),
            held_at: HashMap::new(),
            batches,
        };
        let (since, fan_out_from, start) = match resume {
            Some(resume) => (resume.since, resume.fan_out_from, resume.position),
            None => {
                let start = match (&stream.config.pagination, &committer.state.next_cursor) {
                    (
                        PaginationConfig::Cursor {
                            keep_final_cursor: true,
                            ..
                        },
                        Some(cursor),
                    ) => Position::Cursor {
                        cursor: cursor.clone(),
                    },
                    _ => Position::Start,
                };
                (self.since_for(stream, &committer.state), None, start)
            }
        };
        let vars = self.vars_with_since(&since);

        let Some(fan_out) = &stream.config.fan_out else {
            let mut pager = Pager::new(session, index, vars, start);
            loop {
                if context.shutdown.is_cancelled() {
                    return Ok(());
                }
                let Some(page) = pager.next_page().await? else {
                    return Ok(());
                };
                let resume = page.next.clone().map(|position| Resume {
                    since: since.clone(),
                    fan_out_from: None,
                    position,
                });
                let finished = resume.is_none();
                committer.commit(page, resume).await?;
                if finished {
                    return Ok(());
                }
            }
        };

        let mut values = self.fan_out_values(&session, fan_out).await?;
        let mut start = Some(start);
        if let Some(from) = &fan_out_from {
            values.retain(|value| value >= from);
            if values.first() != Some(from) {
                // The value the sweep stopped at is gone: its page is moot.
                start = None;
            }
        }
        let mut chunks: VecDeque<Vec<String>> = values
            .chunks(fan_out.batch_size.max(1))
            .map(<[String]>::to_vec)
            .collect();
        if chunks.is_empty() {
            return committer.finish_empty().await;
        }
        // Requests run ahead up to the concurrency bound; pages are
        // committed strictly in order, so the cursor always says exactly
        // what is stored. Dropping the set aborts what still runs.
        let mut tasks = JoinSet::new();
        let mut pending: VecDeque<(String, mpsc::Receiver<Result<Page, ConnectorError>>)> =
            VecDeque::new();
        let window = self.inner.max_concurrency.max(1);
        let spawn = |chunk: Vec<String>,
                     position: Position,
                     tasks: &mut JoinSet<()>|
         -> (String, mpsc::Receiver<Result<Page, ConnectorError>>) {
            let (sender, receiver) = mpsc::channel(FAN_OUT_BUFFER);
            let first = chunk.first().cloned().unwrap_or_default();
            let mut pager = Pager::new(
                session.clone(),
                index,
                Self::fan_out_vars(&vars, fan_out, &chunk),
                position,
            );
            tasks.spawn(async move {
                loop {
                    match pager.next_page().await {
                        Ok(Some(page)) => {
                            let last = page.next.is_none();
                            if sender.send(Ok(page)).await.is_err() || last {
                                return;
                            }
                        }
                        Ok(None) => return,
                        Err(error) => {
                            let _ = sender.send(Err(error)).await;
                            return;
                        }
                    }
                }
            });
            (first, receiver)
        };
        while pending.len() < window {
            let Some(chunk) = chunks.pop_front() else {
                break;
            };
            let position = start.take().unwrap_or(Position::Start);
            pending.push_back(spawn(chunk, position, &mut tasks));
        }
        while let Some((first, mut receiver)) = pending.pop_front() {
            loop {
                if context.shutdown.is_cancelled() {
                    return Ok(());
                }
                let page = match receiver.recv().await {
                    Some(Ok(page)) => page,
                    Some(Err(error)) => return Err(error),
                    None => {
                        return Err(ConnectorError::internal(format!(
                            "{label}: a fan-out request for {first:?} stopped without an answer"
                        )))
                    }
                };
                let next_first = pending
                    .front()
                    .map(|(value, _)| value.clone())
                    .or_else(|| chunks.front().and_then(|chunk| chunk.first().cloned()));
                let resume = match (&page.next, next_first) {
                    (Some(position), _) => Some(Resume {
                        since: since.clone(),
                        fan_out_from: Some(first.clone()),
                        position: position.clone(),
                    }),
                    (None, Some(next_first)) => Some(Resume {
                        since: since.clone(),
                        fan_out_from: Some(next_first),
                        position: Position::Start,
                    }),
                    (None, None) => None,
                };
                let last_of_request = page.next.is_none();
                committer.commit(page, resume).await?;
                if last_of_request {
                    break;
                }
            }
            if let Some(chunk) = chunks.pop_front() {
                pending.push_back(spawn(chunk, Position::Start, &mut tasks));
            }
        }
        Ok(())
    }
}
