//! WeCom (企业微信) external-contact API simulator: the `/cgi-bin/...` paths a
//! WeCom client calls to list external contacts and to tag them, answered the
//! way `qyapi.weixin.qq.com` does (`../shared/specs/source-apis.md` §1, §8).
//!
//! Everything is HTTP 200 with `errcode`/`errmsg` in the body, errors
//! included: bad credentials (40013, 40001), a missing, unknown or expired
//! `access_token` query parameter (41001, 40014, 42001), invalid parameters
//! (40058), unknown contacts (40096), unknown tags (40068), missing follow
//! relationships (84061), duplicate tag names (40071), every listed member
//! unlicensed (701008), rate limits (45009) and "system busy" (-1). WeCom never
//! sends `Retry-After`.
//!
//! `batch/get_by_user` pages with an opaque cursor that names the position by
//! (member, contact) rather than by row number, so tag writes made between
//! two pages never shift a row in or out of the sweep.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::any;
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{splitmix64, FaultKind, RunningSimulator, SimCore, TokenState, World, WorldError};

/// A WeCom corp as the simulator serves it, loaded from a world directory.
#[derive(Debug, Clone, PartialEq)]
pub struct WecomData {
    /// The corp id `gettoken` accepts as `corpid`.
    pub corp_id: String,
    /// The 客户联系 secret `gettoken` accepts as `corpsecret`.
    pub corp_secret: String,
    /// Members with the customer-contact feature, as `get_follow_user_list`
    /// returns them.
    pub follow_users: Vec<String>,
    /// One object per external contact:
    /// `{"external_contact": {...}, "follow_info": [{"userid": ..., "tag_id": [...], ...}]}`
    /// with one `follow_info` entry per member who follows the contact.
    pub contacts: Vec<Value>,
    /// The corp tag groups, in the `tag_group` shape of `get_corp_tag_list`.
    pub tag_groups: Vec<Value>,
}

impl WecomData {
    /// Reads `world.json` (credentials), `wecom/follow_users.json`,
    /// `wecom/contacts.jsonl` and `wecom/corp_tags.json`.
    pub fn from_world(world: &World) -> Result<Self, WorldError> {
        let credentials = world.credentials()?.wecom;
        let follow_users_path = "wecom/follow_users.json";
        let follow_users =
            serde_json::from_value(world.read_json(follow_users_path)?).map_err(|error| {
                WorldError::Parse {
                    path: world.path(follow_users_path),
                    line: 0,
                    message: format!("expected an array of member userids: {error}"),
                }
            })?;
        let tags_path = "wecom/corp_tags.json";
        let tag_groups = match world.read_json(tags_path)? {
            Value::Array(groups) => groups,
            _ => {
                return Err(WorldError::Parse {
                    path: world.path(tags_path),
                    line: 0,
                    message: "expected the tag_group array".to_string(),
                })
            }
        };
        Ok(WecomData {
            corp_id: credentials.corp_id,
            corp_secret: credentials.corp_secret,
            follow_users,
            contacts: world.read_jsonl("wecom/contacts.jsonl")?,
            tag_groups,
        })
    }
}

/// How the WeCom simulator behaves; the defaults are the real API's.
#[derive(Debug, Clone, PartialEq)]
pub struct WecomSettings {
    /// Lifetime of an access token (`expires_in`): 7200 s.
    pub token_lifetime: Duration,
    /// Most members one `batch/get_by_user` call may list: 100.
    pub max_userids_per_batch: usize,
    /// Page size of `batch/get_by_user` when `limit` is absent or 0: 50.
    pub default_batch_limit: usize,
    /// Largest `limit` `batch/get_by_user` accepts: 100.
    pub max_batch_limit: usize,
    /// Members without a customer-contact licence: `batch/get_by_user`
    /// reports them in `fail_info.unlicensed_userid_list` and skips them.
    pub unlicensed_userids: Vec<String>,
    /// Calls per minute each API path accepts before answering 45009;
    /// `None` switches the limit off (benchmarks). Default 10 000, WeCom's
    /// per-corp, per-API quota.
    pub calls_per_minute: Option<u32>,
}

impl Default for WecomSettings {
    fn default() -> Self {
        WecomSettings {
            token_lifetime: Duration::from_secs(7200),
            max_userids_per_batch: 100,
            default_batch_limit: 50,
            max_batch_limit: 100,
            unlicensed_userids: Vec::new(),
            calls_per_minute: Some(10_000),
        }
    }
}

/// Corp data the simulator cannot serve, e.g. a contact line without an
/// `external_userid`; the message names the record.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid WeCom simulator data: {0}")]
pub struct InvalidWecomData(pub String);

/// A corp tag as `get_corp_tag_list` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpTag {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub create_time: i64,
    #[serde(default)]
    pub order: i64,
    #[serde(default)]
    pub deleted: bool,
}

/// A corp tag group as `get_corp_tag_list` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagGroup {
    pub group_id: String,
    pub group_name: String,
    #[serde(default)]
    pub create_time: i64,
    #[serde(default)]
    pub order: i64,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default, rename = "tag")]
    pub tags: Vec<CorpTag>,
}

/// One external contact and the members who follow it.
#[derive(Debug, Clone)]
struct Contact {
    external_contact: Value,
    /// `follow_info` objects; each carries its `tag_id` array.
    follows: Vec<Value>,
}

#[derive(Debug)]
struct CorpState {
    /// Contacts in load order; a contact's index is its stable ordinal.
    contacts: Vec<Contact>,
    by_external_userid: HashMap<String, usize>,
    /// Member userid -> ordinals of the contacts it follows, ascending.
    followed_by_member: HashMap<String, Vec<usize>>,
    tag_groups: Vec<TagGroup>,
    /// Counter mixed into fresh tag and group ids.
    id_counter: u64,
    /// API path -> (start of the current minute window, calls in it).
    quota: HashMap<Endpoint, (Instant, u32)>,
}

/// The WeCom simulator; clones share one corp.
#[derive(Clone)]
pub struct WecomSimulator {
    inner: Arc<Inner>,
}

struct Inner {
    core: Arc<SimCore>,
    settings: WecomSettings,
    corp_id: String,
    corp_secret: String,
    follow_users: Vec<String>,
    /// Key of the cursor mask (derived from the corp id), so a cursor can be
    /// neither read as an offset nor forged.
    cursor_key: u64,
    state: Mutex<CorpState>,
}

/// A WeCom error answer: errcode and the text of errmsg.
#[derive(Debug, Clone, PartialEq)]
struct WecomError {
    code: i64,
    message: String,
}

impl WecomError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        WecomError {
            code,
            message: message.into(),
        }
    }

    fn invalid_parameter(detail: impl std::fmt::Display) -> Self {
        WecomError::new(40058, format!("invalid parameter: {detail}"))
    }

    /// The body WeCom sends, errmsg with its usual pointer to the
    /// error-code lookup page.
    fn body(&self) -> Value {
        json!({
            "errcode": self.code,
            "errmsg": format!(
                "{}, more info at https://open.work.weixin.qq.com/devtool/query?e={}",
                self.message, self.code
            ),
        })
    }
}

type ApiResult = Result<Value, WecomError>;

/// The paths the simulator serves, under `/cgi-bin/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Endpoint {
    GetToken,
    FollowUserList,
    BatchGetByUser,
    GetContact,
    GetCorpTagList,
    AddCorpTag,
    DelCorpTag,
    MarkTag,
}

impl Endpoint {
    fn from_path(path: &str) -> Option<Self> {
        Some(match path.trim_end_matches('/') {
            "gettoken" => Endpoint::GetToken,
            "externalcontact/get_follow_user_list" => Endpoint::FollowUserList,
            "externalcontact/batch/get_by_user" => Endpoint::BatchGetByUser,
            "externalcontact/get" => Endpoint::GetContact,
            "externalcontact/get_corp_tag_list" => Endpoint::GetCorpTagList,
            "externalcontact/add_corp_tag" => Endpoint::AddCorpTag,
            "externalcontact/del_corp_tag" => Endpoint::DelCorpTag,
            "externalcontact/mark_tag" => Endpoint::MarkTag,
            _ => return None,
        })
    }
}

impl WecomSimulator {
    /// Builds a simulator over `data`. Fails on a contact line or tag group
    /// that lacks the fields the API needs, naming it.
    pub fn new(data: WecomData, settings: WecomSettings) -> Result<Self, InvalidWecomData> {
        let state = CorpState::load(&data).map_err(InvalidWecomData)?;
        let mut key_seed = data.corp_id.bytes().fold(0x9E37_79B9u64, |acc, byte| {
            acc.rotate_left(5) ^ u64::from(byte)
        });
        let cursor_key = splitmix64(&mut key_seed);
        Ok(WecomSimulator {
            inner: Arc::new(Inner {
                core: SimCore::new(settings.token_lifetime),
                settings,
                corp_id: data.corp_id,
                corp_secret: data.corp_secret,
                follow_users: data.follow_users,
                cursor_key,
                state: Mutex::new(state),
            }),
        })
    }

    /// Faults, write log and tokens shared with the admin routes.
    pub fn core(&self) -> Arc<SimCore> {
        self.inner.core.clone()
    }

    /// The API routes (`/cgi-bin/...`), without the admin routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/cgi-bin/{*path}", any(handle))
            .with_state(self.clone())
    }

    /// Serves the API and the admin routes on `addr` (port 0 picks one).
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<RunningSimulator> {
        super::serve(self.router(), self.core(), addr).await
    }

    /// The corp tag ids on the (member, external contact) relationship now,
    /// or `None` when the member does not follow the contact.
    pub fn relationship_tags(&self, userid: &str, external_userid: &str) -> Option<Vec<String>> {
        let state = self.state();
        let follow = state.follow(userid, external_userid)?;
        Some(tag_ids_of(follow))
    }

    /// The corp tag groups now, deleted ones excluded.
    pub fn tag_groups(&self) -> Vec<TagGroup> {
        self.state().tag_groups.clone()
    }

    fn state(&self) -> MutexGuard<'_, CorpState> {
        self.inner.state.lock().expect("wecom state lock")
    }

    fn answer(
        &self,
        endpoint: Endpoint,
        query: &HashMap<String, String>,
        body: &[u8],
    ) -> ApiResult {
        // gettoken is the one call that needs no token.
        if endpoint != Endpoint::GetToken {
            self.check_token(query)?;
            self.check_quota(endpoint)?;
        }
        match endpoint {
            Endpoint::GetToken => self.get_token(query),
            Endpoint::FollowUserList => Ok(ok(json!({"follow_user": self.inner.follow_users}))),
            Endpoint::BatchGetByUser => self.batch_get_by_user(&parse_body(body)?),
            Endpoint::GetContact => self.get_contact(query),
            Endpoint::GetCorpTagList => self.get_corp_tag_list(&parse_body(body)?),
            Endpoint::AddCorpTag => self.add_corp_tag(&parse_body(body)?),
            Endpoint::DelCorpTag => self.del_corp_tag(&parse_body(body)?),
            Endpoint::MarkTag => self.mark_tag(&parse_body(body)?),
        }
    }

    fn get_token(&self, query: &HashMap<String, String>) -> ApiResult {
        let corp_id = query
            .get("corpid")
            .filter(|value| !value.is_empty())
            .ok_or_else(|| WecomError::new(41002, "corpid missing"))?;
        let secret = query
            .get("corpsecret")
            .filter(|value| !value.is_empty())
            .ok_or_else(|| WecomError::new(41004, "corpsecret missing"))?;
        if *corp_id != self.inner.corp_id {
            return Err(WecomError::new(40013, "invalid corpid"));
        }
        if *secret != self.inner.corp_secret {
            return Err(WecomError::new(40001, "invalid credential"));
        }
        let token = self.inner.core.tokens.issue("");
        Ok(ok(json!({
            "access_token": token,
            "expires_in": self.inner.core.tokens.lifetime().as_secs(),
        })))
    }

    fn check_token(&self, query: &HashMap<String, String>) -> Result<(), WecomError> {
        let token = query
            .get("access_token")
            .filter(|token| !token.is_empty())
            .ok_or_else(|| WecomError::new(41001, "access_token missing"))?;
        match self.inner.core.tokens.check(token) {
            TokenState::Valid => Ok(()),
            TokenState::Expired => Err(WecomError::new(42001, "access_token expired")),
            TokenState::Unknown => Err(WecomError::new(40014, "invalid access_token")),
        }
    }

    /// Counts the call against its API's per-minute quota.
    fn check_quota(&self, endpoint: Endpoint) -> Result<(), WecomError> {
        let Some(limit) = self.inner.settings.calls_per_minute else {
            return Ok(());
        };
        let mut state = self.state();
        let now = Instant::now();
        let window = state.quota.entry(endpoint).or_insert((now, 0));
        if now.duration_since(window.0) >= Duration::from_secs(60) {
            *window = (now, 0);
        }
        if window.1 >= limit {
            return Err(api_freq_out_of_limit());
        }
        window.1 += 1;
        Ok(())
    }

    fn batch_get_by_user(&self, body: &Value) -> ApiResult {
        let settings = &self.inner.settings;
        let userids = string_list(body, "userid_list")?;
        if userids.is_empty() {
            return Err(WecomError::invalid_parameter("userid_list is empty"));
        }
        if userids.len() > settings.max_userids_per_batch {
            return Err(WecomError::invalid_parameter(format!(
                "userid_list holds {} userids, at most {} are allowed",
                userids.len(),
                settings.max_userids_per_batch
            )));
        }
        let limit = match body.get("limit") {
            None | Some(Value::Null) => settings.default_batch_limit,
            Some(value) => match value.as_u64() {
                Some(0) => settings.default_batch_limit,
                Some(limit) if limit as usize <= settings.max_batch_limit => limit as usize,
                _ => {
                    return Err(WecomError::invalid_parameter(format!(
                        "limit must be 1 to {}",
                        settings.max_batch_limit
                    )))
                }
            },
        };
        let mut members: Vec<&str> = Vec::new();
        let mut unlicensed: Vec<&str> = Vec::new();
        for userid in &userids {
            let list = if settings.unlicensed_userids.iter().any(|u| u == userid) {
                &mut unlicensed
            } else {
                &mut members
            };
            if !list.contains(&userid.as_str()) {
                list.push(userid);
            }
        }
        if members.is_empty() {
            return Err(WecomError::new(
                701008,
                "all userids in userid_list are unlicensed",
            ));
        }
        let start = match body.get("cursor").and_then(Value::as_str) {
            None | Some("") => BatchPosition {
                member: 0,
                ordinal: 0,
            },
            Some(cursor) => {
                let (userid, ordinal) = decode_cursor(cursor, self.inner.cursor_key)
                    .ok_or_else(|| WecomError::invalid_parameter("invalid cursor"))?;
                let member = members
                    .iter()
                    .position(|member| *member == userid)
                    .ok_or_else(|| {
                        WecomError::invalid_parameter("cursor does not belong to this userid_list")
                    })?;
                BatchPosition { member, ordinal }
            }
        };
        let state = self.state();
        let (rows, next) = state.batch_rows(&members, start, limit);
        let next_cursor = match next {
            Some(position) => encode_cursor(
                members[position.member],
                position.ordinal,
                self.inner.cursor_key,
            ),
            None => String::new(),
        };
        Ok(ok(json!({
            "external_contact_list": rows,
            "next_cursor": next_cursor,
            "fail_info": {"unlicensed_userid_list": unlicensed},
        })))
    }

    fn get_contact(&self, query: &HashMap<String, String>) -> ApiResult {
        let external_userid = query
            .get("external_userid")
            .filter(|id| !id.is_empty())
            .ok_or_else(|| WecomError::invalid_parameter("external_userid missing"))?;
        let state = self.state();
        let ordinal = *state
            .by_external_userid
            .get(external_userid.as_str())
            .ok_or_else(invalid_external_userid)?;
        let contact = &state.contacts[ordinal];
        let follow_user: Vec<Value> = contact
            .follows
            .iter()
            .map(|follow| {
                let mut detail = follow.clone();
                if let Some(object) = detail.as_object_mut() {
                    object.remove("tag_id");
                    object.insert(
                        "tags".to_string(),
                        Value::Array(state.describe_tags(&tag_ids_of(follow))),
                    );
                }
                detail
            })
            .collect();
        Ok(ok(json!({
            "external_contact": contact.external_contact,
            "follow_user": follow_user,
            "next_cursor": "",
        })))
    }

    fn get_corp_tag_list(&self, body: &Value) -> ApiResult {
        let tag_filter = string_list_or_empty(body, "tag_id")?;
        let group_filter = string_list_or_empty(body, "group_id")?;
        let state = self.state();
        let groups: Vec<TagGroup> = if !group_filter.is_empty() {
            // WeCom ignores tag_id when group_id is given.
            state
                .tag_groups
                .iter()
                .filter(|group| group_filter.contains(&group.group_id))
                .cloned()
                .collect()
        } else if !tag_filter.is_empty() {
            state
                .tag_groups
                .iter()
                .filter_map(|group| {
                    let tags: Vec<CorpTag> = group
                        .tags
                        .iter()
                        .filter(|tag| tag_filter.contains(&tag.id))
                        .cloned()
                        .collect();
                    (!tags.is_empty()).then(|| TagGroup {
                        tags,
                        ..group.clone()
                    })
                })
                .collect()
        } else {
            state.tag_groups.clone()
        };
        Ok(ok(json!({ "tag_group": groups })))
    }

    fn add_corp_tag(&self, body: &Value) -> ApiResult {
        let new_tags = body
            .get("tag")
            .and_then(Value::as_array)
            .filter(|tags| !tags.is_empty())
            .ok_or_else(|| WecomError::invalid_parameter("tag list missing"))?;
        let mut requested: Vec<(String, i64)> = Vec::new();
        for tag in new_tags {
            let name = tag
                .get("name")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .ok_or_else(|| WecomError::invalid_parameter("tag name missing"))?;
            if name.chars().count() > 30 {
                return Err(WecomError::invalid_parameter(
                    "tag name longer than 30 characters",
                ));
            }
            if requested.iter().any(|(existing, _)| existing == name) {
                return Err(duplicate_tag_name());
            }
            let order = tag.get("order").and_then(Value::as_i64).unwrap_or(0);
            requested.push((name.to_string(), order));
        }
        let group_id = body.get("group_id").and_then(Value::as_str).unwrap_or("");
        let group_name = body
            .get("group_name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim();
        let now = unix_now();
        let mut state = self.state();
        let group_index = if !group_id.is_empty() {
            state
                .tag_groups
                .iter()
                .position(|group| group.group_id == group_id)
                .ok_or_else(|| WecomError::new(40068, "invalid tagid"))?
        } else if !group_name.is_empty() {
            match state
                .tag_groups
                .iter()
                .position(|group| group.group_name == group_name)
            {
                Some(index) => index,
                None => {
                    let group_id = state.fresh_id();
                    state.tag_groups.push(TagGroup {
                        group_id,
                        group_name: group_name.to_string(),
                        create_time: now,
                        order: body.get("order").and_then(Value::as_i64).unwrap_or(0),
                        deleted: false,
                        tags: Vec::new(),
                    });
                    state.tag_groups.len() - 1
                }
            }
        } else {
            return Err(WecomError::invalid_parameter(
                "group_id or group_name required",
            ));
        };
        let group = &state.tag_groups[group_index];
        if requested
            .iter()
            .any(|(name, _)| group.tags.iter().any(|tag| &tag.name == name))
        {
            return Err(duplicate_tag_name());
        }
        let mut created = Vec::new();
        for (name, order) in requested {
            created.push(CorpTag {
                id: state.fresh_id(),
                name,
                create_time: now,
                order,
                deleted: false,
            });
        }
        let group = &mut state.tag_groups[group_index];
        group.tags.extend(created.iter().cloned());
        let answer = TagGroup {
            tags: created,
            ..group.clone()
        };
        drop(state);
        self.inner.core.writes.record("add_corp_tag", body.clone());
        Ok(ok(json!({ "tag_group": answer })))
    }

    fn del_corp_tag(&self, body: &Value) -> ApiResult {
        let tag_ids = string_list_or_empty(body, "tag_id")?;
        let group_ids = string_list_or_empty(body, "group_id")?;
        if tag_ids.is_empty() && group_ids.is_empty() {
            return Err(WecomError::invalid_parameter(
                "tag_id and group_id are both empty",
            ));
        }
        let mut state = self.state();
        let known_tag = |id: &String| {
            state
                .tag_groups
                .iter()
                .any(|g| g.tags.iter().any(|t| &t.id == id))
        };
        let known_group = |id: &String| state.tag_groups.iter().any(|g| &g.group_id == id);
        if !tag_ids.iter().all(known_tag) || !group_ids.iter().all(known_group) {
            return Err(WecomError::new(40068, "invalid tagid"));
        }
        let mut removed: Vec<String> = Vec::new();
        state.tag_groups.retain_mut(|group| {
            if group_ids.contains(&group.group_id) {
                removed.extend(group.tags.iter().map(|tag| tag.id.clone()));
                return false;
            }
            group.tags.retain(|tag| {
                let delete = tag_ids.contains(&tag.id);
                if delete {
                    removed.push(tag.id.clone());
                }
                !delete
            });
            // A group lives only as long as it has a tag.
            !group.tags.is_empty()
        });
        for contact in &mut state.contacts {
            for follow in &mut contact.follows {
                let kept: Vec<String> = tag_ids_of(follow)
                    .into_iter()
                    .filter(|id| !removed.contains(id))
                    .collect();
                set_tag_ids(follow, kept);
            }
        }
        drop(state);
        self.inner.core.writes.record("del_corp_tag", body.clone());
        Ok(ok(json!({})))
    }

    fn mark_tag(&self, body: &Value) -> ApiResult {
        let userid = required_str(body, "userid")?;
        let external_userid = required_str(body, "external_userid")?;
        let add = string_list_or_empty(body, "add_tag")?;
        let remove = string_list_or_empty(body, "remove_tag")?;
        if add.is_empty() && remove.is_empty() {
            return Err(WecomError::invalid_parameter(
                "add_tag and remove_tag are both empty",
            ));
        }
        let mut state = self.state();
        let ordinal = *state
            .by_external_userid
            .get(external_userid)
            .ok_or_else(invalid_external_userid)?;
        let follow_index = state.contacts[ordinal]
            .follows
            .iter()
            .position(|follow| follow.get("userid").and_then(Value::as_str) == Some(userid))
            .ok_or_else(|| WecomError::new(84061, "not external contact"))?;
        if !add
            .iter()
            .chain(&remove)
            .all(|id| state.corp_tag(id).is_some())
        {
            return Err(WecomError::new(40068, "invalid tagid"));
        }
        let follow = &mut state.contacts[ordinal].follows[follow_index];
        let mut tags = tag_ids_of(follow);
        tags.retain(|id| !remove.contains(id));
        for id in add {
            if !tags.contains(&id) {
                tags.push(id);
            }
        }
        set_tag_ids(follow, tags);
        drop(state);
        self.inner.core.writes.record("mark_tag", body.clone());
        Ok(ok(json!({})))
    }
}

impl CorpState {
    fn load(data: &WecomData) -> Result<Self, String> {
        let mut contacts = Vec::with_capacity(data.contacts.len());
        let mut by_external_userid = HashMap::new();
        let mut followed_by_member: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, line) in data.contacts.iter().enumerate() {
            let where_ = format!("wecom contact #{}", index + 1);
            let external_contact = line
                .get("external_contact")
                .filter(|value| value.is_object())
                .ok_or_else(|| format!("{where_}: external_contact object missing"))?;
            let external_userid = external_contact
                .get("external_userid")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{where_}: external_contact.external_userid missing"))?;
            let follows = line
                .get("follow_info")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    format!("{where_} ({external_userid}): follow_info array missing")
                })?;
            let ordinal = contacts.len();
            if by_external_userid
                .insert(external_userid.to_string(), ordinal)
                .is_some()
            {
                return Err(format!(
                    "{where_}: external_userid {external_userid} repeated"
                ));
            }
            let mut kept = Vec::with_capacity(follows.len());
            for follow in follows {
                let userid = follow
                    .get("userid")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        format!("{where_} ({external_userid}): follow_info entry without userid")
                    })?;
                followed_by_member
                    .entry(userid.to_string())
                    .or_default()
                    .push(ordinal);
                let mut follow = follow.clone();
                let tags = tag_ids_of(&follow);
                set_tag_ids(&mut follow, tags);
                kept.push(follow);
            }
            contacts.push(Contact {
                external_contact: external_contact.clone(),
                follows: kept,
            });
        }
        let tag_groups = data
            .tag_groups
            .iter()
            .enumerate()
            .map(|(index, group)| {
                serde_json::from_value::<TagGroup>(group.clone())
                    .map_err(|error| format!("wecom tag group #{}: {error}", index + 1))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CorpState {
            contacts,
            by_external_userid,
            followed_by_member,
            id_counter: tag_groups
                .iter()
                .map(|group| group.tags.len() as u64 + 1)
                .sum(),
            tag_groups,
            quota: HashMap::new(),
        })
    }

    fn follow(&self, userid: &str, external_userid: &str) -> Option<&Value> {
        let ordinal = *self.by_external_userid.get(external_userid)?;
        self.contacts[ordinal]
            .follows
            .iter()
            .find(|follow| follow.get("userid").and_then(Value::as_str) == Some(userid))
    }

    fn corp_tag(&self, id: &str) -> Option<(&TagGroup, &CorpTag)> {
        self.tag_groups.iter().find_map(|group| {
            group
                .tags
                .iter()
                .find(|tag| tag.id == id)
                .map(|tag| (group, tag))
        })
    }

    /// `tags` entries of the single-contact detail for the given tag ids.
    fn describe_tags(&self, ids: &[String]) -> Vec<Value> {
        ids.iter()
            .filter_map(|id| self.corp_tag(id))
            .map(|(group, tag)| {
                json!({
                    "group_name": group.group_name,
                    "tag_name": tag.name,
                    "tag_id": tag.id,
                    "type": 1,
                })
            })
            .collect()
    }

    /// Up to `limit` rows from `start` on, walking `members` in order and
    /// each member's contacts by ordinal; also where the next page starts.
    fn batch_rows(
        &self,
        members: &[&str],
        start: BatchPosition,
        limit: usize,
    ) -> (Vec<Value>, Option<BatchPosition>) {
        let mut rows = Vec::with_capacity(limit);
        let mut position = start;
        while position.member < members.len() {
            let member = members[position.member];
            let ordinals = self
                .followed_by_member
                .get(member)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let from = ordinals.partition_point(|ordinal| *ordinal < position.ordinal);
            for ordinal in &ordinals[from..] {
                if rows.len() == limit {
                    return (
                        rows,
                        Some(BatchPosition {
                            member: position.member,
                            ordinal: *ordinal,
                        }),
                    );
                }
                let contact = &self.contacts[*ordinal];
                if let Some(follow) = contact
                    .follows
                    .iter()
                    .find(|follow| follow.get("userid").and_then(Value::as_str) == Some(member))
                {
                    rows.push(json!({
                        "external_contact": contact.external_contact,
                        "follow_info": follow,
                    }));
                }
            }
            position = BatchPosition {
                member: position.member + 1,
                ordinal: 0,
            };
        }
        (rows, None)
    }

    /// A fresh id in WeCom's shape: `et` and 30 more characters.
    fn fresh_id(&mut self) -> String {
        self.id_counter += 1;
        let mut seed = self.id_counter ^ 0x7461_6773;
        loop {
            let id = format!(
                "et{:016x}{:014x}",
                splitmix64(&mut seed),
                splitmix64(&mut seed) >> 8
            );
            let taken = self
                .tag_groups
                .iter()
                .any(|group| group.group_id == id || group.tags.iter().any(|tag| tag.id == id));
            if !taken {
                return id;
            }
        }
    }
}

/// Where a `batch/get_by_user` page starts: the member's index in the
/// request's (licensed, de-duplicated) userid list and the first contact
/// ordinal to include for that member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchPosition {
    member: usize,
    ordinal: usize,
}

/// Encodes a batch position as an opaque cursor: the member userid and the
/// contact ordinal with a checksum, masked with a key stream and base64url
/// encoded, so clients cannot read or forge an offset.
fn encode_cursor(userid: &str, ordinal: usize, key: u64) -> String {
    let mut plain = Vec::with_capacity(userid.len() + 16);
    plain.extend_from_slice(&(ordinal as u64).to_le_bytes());
    plain.extend_from_slice(userid.as_bytes());
    let checksum = checksum(&plain, key);
    plain.extend_from_slice(&checksum.to_le_bytes());
    mask(&mut plain, key);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(plain)
}

/// The (userid, ordinal) inside a cursor from [`encode_cursor`], or `None`
/// for anything that was not issued with this key.
fn decode_cursor(cursor: &str, key: u64) -> Option<(String, usize)> {
    let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    if bytes.len() < 16 {
        return None;
    }
    mask(&mut bytes, key);
    let (plain, sum) = bytes.split_at(bytes.len() - 8);
    if checksum(plain, key).to_le_bytes() != sum {
        return None;
    }
    let ordinal = u64::from_le_bytes(plain[..8].try_into().ok()?);
    let userid = String::from_utf8(plain[8..].to_vec()).ok()?;
    Some((userid, usize::try_from(ordinal).ok()?))
}

fn mask(bytes: &mut [u8], key: u64) {
    let mut state = key;
    for chunk in bytes.chunks_mut(8) {
        let stream = splitmix64(&mut state).to_le_bytes();
        for (byte, mask) in chunk.iter_mut().zip(stream) {
            *byte ^= mask;
        }
    }
}

fn checksum(bytes: &[u8], key: u64) -> u64 {
    let mut state = key ^ 0xC0FF_EE00;
    for byte in bytes {
        state ^= u64::from(*byte);
        splitmix64(&mut state);
    }
    splitmix64(&mut state)
}

/// The `tag_id` list of a follow_info object (absent counts as empty).
fn tag_ids_of(follow: &Value) -> Vec<String> {
    follow
        .get("tag_id")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn set_tag_ids(follow: &mut Value, ids: Vec<String>) {
    if let Some(object) = follow.as_object_mut() {
        object.insert("tag_id".to_string(), json!(ids));
    }
}

/// An `errcode: 0` answer with `fields` merged in.
fn ok(fields: Value) -> Value {
    let mut body = json!({"errcode": 0, "errmsg": "ok"});
    if let (Some(body), Value::Object(fields)) = (body.as_object_mut(), fields) {
        body.extend(fields);
    }
    body
}

fn parse_body(body: &[u8]) -> Result<Value, WecomError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(WecomError::new(47001, "data format error")),
    }
}

fn required_str<'a>(body: &'a Value, field: &str) -> Result<&'a str, WecomError> {
    body.get(field)
        .and_then(Value::as_str)
        .filter(|value| !value.is_empty())
        .ok_or_else(|| WecomError::invalid_parameter(format!("{field} missing")))
}

fn string_list(body: &Value, field: &str) -> Result<Vec<String>, WecomError> {
    body.get(field)
        .and_then(Value::as_array)
        .ok_or_else(|| WecomError::invalid_parameter(format!("{field} missing")))?
        .iter()
        .map(|item| {
            item.as_str()
                .map(str::to_string)
                .ok_or_else(|| WecomError::invalid_parameter(format!("{field} holds a non-string")))
        })
        .collect()
}

fn string_list_or_empty(body: &Value, field: &str) -> Result<Vec<String>, WecomError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(_) => string_list(body, field),
    }
}

fn invalid_external_userid() -> WecomError {
    WecomError::new(40096, "invalid external userid")
}

fn duplicate_tag_name() -> WecomError {
    WecomError::new(40071, "tag name already exists")
}

fn api_freq_out_of_limit() -> WecomError {
    WecomError::new(45009, "api freq out of limit")
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0)
}

async fn handle(
    State(sim): State<WecomSimulator>,
    Path(path): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Some(endpoint) = Endpoint::from_path(&path) else {
        return (
            axum::http::StatusCode::NOT_FOUND,
            format!("/cgi-bin/{path} is not a WeCom API this simulator serves"),
        )
            .into_response();
    };
    match sim.inner.core.faults.draw() {
        Some(FaultKind::RateLimit | FaultKind::BodyRateLimit) => {
            return Json(api_freq_out_of_limit().body()).into_response()
        }
        Some(FaultKind::ServerError) => {
            return Json(WecomError::new(-1, "system busy").body()).into_response()
        }
        Some(FaultKind::Slow) => tokio::time::sleep(sim.inner.core.faults.slow_delay()).await,
        None => {}
    }
    // A repeated parameter keeps its first value, as WeCom's front end does.
    let mut params = HashMap::new();
    for (name, value) in query {
        params.entry(name).or_insert(value);
    }
    let answer = sim.answer(endpoint, &params, &body);
    Json(answer.unwrap_or_else(|error| error.body())).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulators::FaultConfig;
    use std::collections::HashSet;

    const CORP: &str = "ww0123456789abcdef";
    const SECRET: &str = "contact-secret";

    fn contact(id: &str, name: &str, follows: &[(&str, &[&str])]) -> Value {
        json!({
            "external_contact": {"external_userid": id, "name": name, "type": 1},
            "follow_info": follows.iter().map(|(userid, tags)| json!({
                "userid": userid, "remark": name, "createtime": 1_700_000_000,
                "tag_id": tags, "remark_mobiles": ["138 0013 8000"], "add_way": 1,
            })).collect::<Vec<_>>(),
        })
    }

    fn data() -> WecomData {
        WecomData {
            corp_id: CORP.into(),
            corp_secret: SECRET.into(),
            follow_users: vec!["zhangsan".into(), "lisi".into(), "wangwu".into()],
            contacts: vec![
                contact("wo1", "李四", &[("zhangsan", &["etVIP"]), ("lisi", &[])]),
                contact("wo2", "王五", &[("zhangsan", &[])]),
                contact("wo3", "赵六", &[("lisi", &["etNORMAL"])]),
                contact("wo4", "钱七", &[("lisi", &[]), ("zhangsan", &[])]),
                contact("wo5", "孙八", &[("zhangsan", &[]), ("wangwu", &[])]),
            ],
            tag_groups: vec![json!({
                "group_id": "etGROUP1", "group_name": "客户等级", "create_time": 1_557_838_797,
                "order": 1, "deleted": false,
                "tag": [
                    {"id": "etVIP", "name": "VIP", "create_time": 1_557_838_797, "order": 1, "deleted": false},
                    {"id": "etNORMAL", "name": "普通", "create_time": 1_557_838_797, "order": 2, "deleted": false},
                ],
            })],
        }
    }

    struct Harness {
        sim: WecomSimulator,
        running: RunningSimulator,
        client: reqwest::Client,
    }

    impl Harness {
        async fn start(settings: WecomSettings) -> Self {
            let sim = WecomSimulator::new(data(), settings).unwrap();
            let running = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
            Harness {
                sim,
                running,
                client: reqwest::Client::new(),
            }
        }

        async fn token(&self) -> String {
            let body = self
                .get(&format!("gettoken?corpid={CORP}&corpsecret={SECRET}"))
                .await;
            assert_eq!(body["errcode"], 0, "{body}");
            assert_eq!(body["expires_in"], 7200);
            body["access_token"].as_str().unwrap().to_string()
        }

        async fn get(&self, path_and_query: &str) -> Value {
            let response = self
                .client
                .get(format!(
                    "{}/cgi-bin/{path_and_query}",
                    self.running.base_url
                ))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            assert!(response.headers().get("retry-after").is_none());
            response.json().await.unwrap()
        }

        async fn post(&self, path: &str, token: &str, body: Value) -> Value {
            let response = self
                .client
                .post(format!(
                    "{}/cgi-bin/externalcontact/{path}?access_token={token}",
                    self.running.base_url
                ))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            assert!(response.headers().get("retry-after").is_none());
            response.json().await.unwrap()
        }
    }

    fn unlicensed_wangwu() -> WecomSettings {
        WecomSettings {
            unlicensed_userids: vec!["wangwu".into()],
            ..WecomSettings::default()
        }
    }

    #[tokio::test]
    async fn paged_batch_read_returns_every_relationship_once_despite_tag_writes() {
        let h = Harness::start(unlicensed_wangwu()).await;
        let token = h.token().await;
        let follow = h
            .get(&format!(
                "externalcontact/get_follow_user_list?access_token={token}"
            ))
            .await;
        assert_eq!(follow["follow_user"], json!(["zhangsan", "lisi", "wangwu"]));

        let mut seen = Vec::new();
        let mut cursor = String::new();
        let mut pages = 0;
        loop {
            let page = h
                .post(
                    "batch/get_by_user",
                    &token,
                    json!({"userid_list": ["zhangsan", "lisi", "wangwu"], "cursor": cursor, "limit": 2}),
                )
                .await;
            assert_eq!(page["errcode"], 0, "{page}");
            assert_eq!(
                page["fail_info"]["unlicensed_userid_list"],
                json!(["wangwu"])
            );
            for row in page["external_contact_list"].as_array().unwrap() {
                seen.push((
                    row["follow_info"]["userid"].as_str().unwrap().to_string(),
                    row["external_contact"]["external_userid"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                ));
            }
            pages += 1;
            if pages == 1 {
                // A tag write between pages must not move the sweep.
                let marked = h
                    .post(
                        "mark_tag",
                        &token,
                        json!({"userid": "lisi", "external_userid": "wo4", "add_tag": ["etVIP"]}),
                    )
                    .await;
                assert_eq!(marked["errcode"], 0);
            }
            cursor = page["next_cursor"].as_str().unwrap().to_string();
            if cursor.is_empty() {
                break;
            }
            assert!(
                !cursor.chars().all(|c| c.is_ascii_digit()),
                "cursor {cursor} must be opaque"
            );
        }
        let expected: HashSet<(String, String)> = [
            ("zhangsan", "wo1"),
            ("zhangsan", "wo2"),
            ("zhangsan", "wo4"),
            ("zhangsan", "wo5"),
            ("lisi", "wo1"),
            ("lisi", "wo3"),
            ("lisi", "wo4"),
        ]
        .iter()
        .map(|(u, e)| (u.to_string(), e.to_string()))
        .collect();
        assert_eq!(seen.len(), expected.len(), "{seen:?}");
        assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), expected);
        assert_eq!(pages, 4);
    }

    #[tokio::test]
    async fn batch_read_rejects_bad_limits_cursors_and_unlicensed_only_lists() {
        let h = Harness::start(unlicensed_wangwu()).await;
        let token = h.token().await;
        let over = h
            .post(
                "batch/get_by_user",
                &token,
                json!({"userid_list": ["zhangsan"], "limit": 101}),
            )
            .await;
        assert_eq!(over["errcode"], 40058);
        let too_many: Vec<String> = (0..101).map(|i| format!("user{i}")).collect();
        let many = h
            .post(
                "batch/get_by_user",
                &token,
                json!({"userid_list": too_many}),
            )
            .await;
        assert_eq!(many["errcode"], 40058);
        let forged = h
            .post(
                "batch/get_by_user",
                &token,
                json!({"userid_list": ["zhangsan"], "cursor": "MTA"}),
            )
            .await;
        assert_eq!(forged["errcode"], 40058);
        let unlicensed = h
            .post(
                "batch/get_by_user",
                &token,
                json!({"userid_list": ["wangwu"]}),
            )
            .await;
        assert_eq!(unlicensed["errcode"], 701008);
        let default_limit = h
            .post(
                "batch/get_by_user",
                &token,
                json!({"userid_list": ["zhangsan"]}),
            )
            .await;
        assert_eq!(
            default_limit["external_contact_list"]
                .as_array()
                .unwrap()
                .len(),
            4
        );
        assert_eq!(default_limit["next_cursor"], "");
        let malformed = h
            .client
            .post(format!(
                "{}/cgi-bin/externalcontact/batch/get_by_user?access_token={token}",
                h.running.base_url
            ))
            .body("{not json")
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        assert_eq!(malformed["errcode"], 47001);
    }

    #[tokio::test]
    async fn credentials_and_tokens_are_checked_like_wecom() {
        let h = Harness::start(WecomSettings::default()).await;
        let bad_corp = h
            .get(&format!("gettoken?corpid=wrong&corpsecret={SECRET}"))
            .await;
        assert_eq!(bad_corp["errcode"], 40013);
        let bad_secret = h
            .get(&format!("gettoken?corpid={CORP}&corpsecret=wrong"))
            .await;
        assert_eq!(bad_secret["errcode"], 40001);
        assert!(!bad_secret["errmsg"].as_str().unwrap().contains(SECRET));
        let missing = h.get("externalcontact/get_follow_user_list").await;
        assert_eq!(missing["errcode"], 41001);
        let unknown = h
            .get("externalcontact/get_follow_user_list?access_token=forged")
            .await;
        assert_eq!(unknown["errcode"], 40014);

        let token = h.token().await;
        h.client
            .post(format!("{}/_sim/expire-tokens", h.running.base_url))
            .send()
            .await
            .unwrap();
        let expired = h
            .get(&format!(
                "externalcontact/get_follow_user_list?access_token={token}"
            ))
            .await;
        assert_eq!(expired["errcode"], 42001);
        let fresh = h.token().await;
        let listed = h
            .get(&format!(
                "externalcontact/get_follow_user_list?access_token={fresh}"
            ))
            .await;
        assert_eq!(listed["errcode"], 0);
    }

    #[tokio::test]
    async fn mark_tag_swaps_tags_on_one_relationship_and_is_logged() {
        let h = Harness::start(WecomSettings::default()).await;
        let token = h.token().await;
        let swap = json!({"userid": "zhangsan", "external_userid": "wo1",
            "add_tag": ["etNORMAL"], "remove_tag": ["etVIP"]});
        assert_eq!(h.post("mark_tag", &token, swap.clone()).await["errcode"], 0);
        assert_eq!(
            h.sim.relationship_tags("zhangsan", "wo1"),
            Some(vec!["etNORMAL".to_string()])
        );
        assert_eq!(h.sim.relationship_tags("lisi", "wo1"), Some(vec![]));
        // Re-sending the same swap changes nothing, but the call is logged.
        assert_eq!(h.post("mark_tag", &token, swap.clone()).await["errcode"], 0);
        assert_eq!(
            h.sim.relationship_tags("zhangsan", "wo1"),
            Some(vec!["etNORMAL".to_string()])
        );
        let writes = h.sim.core().writes.all();
        assert_eq!(writes.len(), 2);
        assert_eq!(writes[0].call, "mark_tag");
        assert_eq!(writes[0].body, swap);

        let detail = h
            .get(&format!(
                "externalcontact/get?access_token={token}&external_userid=wo1"
            ))
            .await;
        assert_eq!(detail["external_contact"]["name"], "李四");
        let zhangsan = detail["follow_user"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["userid"] == "zhangsan")
            .unwrap();
        assert_eq!(
            zhangsan["tags"],
            json!([{"group_name": "客户等级", "tag_name": "普通", "tag_id": "etNORMAL", "type": 1}])
        );
        let batch = h
            .post(
                "batch/get_by_user",
                &token,
                json!({"userid_list": ["zhangsan"], "limit": 1}),
            )
            .await;
        assert_eq!(
            batch["external_contact_list"][0]["follow_info"]["tag_id"],
            json!(["etNORMAL"])
        );

        let unknown_tag = h
            .post(
                "mark_tag",
                &token,
                json!({"userid": "zhangsan", "external_userid": "wo1", "add_tag": ["etNOPE"]}),
            )
            .await;
        assert_eq!(unknown_tag["errcode"], 40068);
        let no_relation = h
            .post(
                "mark_tag",
                &token,
                json!({"userid": "lisi", "external_userid": "wo2", "add_tag": ["etVIP"]}),
            )
            .await;
        assert_eq!(no_relation["errcode"], 84061);
        let unknown_contact = h
            .get(&format!(
                "externalcontact/get?access_token={token}&external_userid=woNOPE"
            ))
            .await;
        assert_eq!(unknown_contact["errcode"], 40096);
        assert_eq!(
            h.sim.core().writes.len(),
            2,
            "rejected calls are not logged"
        );
        assert_eq!(h.sim.relationship_tags("lisi", "wo2"), None);
    }

    #[tokio::test]
    async fn corp_tags_are_listed_created_and_deleted() {
        let h = Harness::start(WecomSettings::default()).await;
        let token = h.token().await;
        let created = h
            .post("add_corp_tag", &token, json!({"group_name": "tierlink", "tag": [{"name": "tier:gold", "order": 1}, {"name": "tier:silver"}]}))
            .await;
        assert_eq!(created["errcode"], 0, "{created}");
        let group_id = created["tag_group"]["group_id"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(group_id.starts_with("et") && group_id.len() > 20);
        let gold = created["tag_group"]["tag"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(gold.starts_with("et") && gold != group_id);
        assert_eq!(created["tag_group"]["tag"].as_array().unwrap().len(), 2);

        let duplicate = h
            .post(
                "add_corp_tag",
                &token,
                json!({"group_id": group_id, "tag": [{"name": "tier:gold"}]}),
            )
            .await;
        assert_eq!(duplicate["errcode"], 40071);
        let into_existing = h
            .post(
                "add_corp_tag",
                &token,
                json!({"group_name": "tierlink", "tag": [{"name": "tier:bronze"}]}),
            )
            .await;
        assert_eq!(into_existing["tag_group"]["group_id"], group_id.as_str());
        assert_eq!(into_existing["tag_group"]["tag"][0]["name"], "tier:bronze");

        let all = h.post("get_corp_tag_list", &token, json!({})).await;
        assert_eq!(all["tag_group"].as_array().unwrap().len(), 2);
        let one_tag = h
            .post(
                "get_corp_tag_list",
                &token,
                json!({"tag_id": [gold], "group_id": []}),
            )
            .await;
        assert_eq!(
            one_tag["tag_group"][0]["tag"],
            json!([created["tag_group"]["tag"][0]])
        );
        let by_group = h
            .post(
                "get_corp_tag_list",
                &token,
                json!({"group_id": ["etGROUP1"]}),
            )
            .await;
        assert_eq!(by_group["tag_group"][0]["tag"].as_array().unwrap().len(), 2);
        assert_eq!(h.sim.tag_groups()[1].tags.len(), 3);

        let mark = json!({"userid": "lisi", "external_userid": "wo3", "add_tag": [gold]});
        assert_eq!(h.post("mark_tag", &token, mark).await["errcode"], 0);
        let deleted = h
            .post("del_corp_tag", &token, json!({"tag_id": [gold]}))
            .await;
        assert_eq!(deleted["errcode"], 0);
        assert_eq!(
            h.sim.relationship_tags("lisi", "wo3"),
            Some(vec!["etNORMAL".to_string()])
        );
        let unknown = h
            .post("del_corp_tag", &token, json!({"tag_id": ["etNOPE"]}))
            .await;
        assert_eq!(unknown["errcode"], 40068);
        let calls: Vec<String> = h
            .sim
            .core()
            .writes
            .all()
            .into_iter()
            .map(|w| w.call)
            .collect();
        assert_eq!(
            calls,
            ["add_corp_tag", "add_corp_tag", "mark_tag", "del_corp_tag"]
        );
    }

    #[tokio::test]
    async fn faults_answer_in_wecom_shape_and_leave_state_alone() {
        let h = Harness::start(WecomSettings::default()).await;
        let token = h.token().await;
        let mark = json!({"userid": "zhangsan", "external_userid": "wo2", "add_tag": ["etVIP"]});
        for (kind, errcode) in [
            (FaultKind::RateLimit, 45009),
            (FaultKind::BodyRateLimit, 45009),
            (FaultKind::ServerError, -1),
        ] {
            h.sim.core().faults.set(FaultConfig {
                rate: 1.0,
                kinds: vec![kind],
                ..FaultConfig::default()
            });
            let answer = h.post("mark_tag", &token, mark.clone()).await;
            assert_eq!(answer["errcode"], errcode, "{kind:?}: {answer}");
        }
        assert_eq!(h.sim.relationship_tags("zhangsan", "wo2"), Some(vec![]));
        assert!(h.sim.core().writes.is_empty());

        h.sim.core().faults.set(FaultConfig {
            rate: 1.0,
            kinds: vec![FaultKind::Slow],
            slow_ms: 50,
            ..FaultConfig::default()
        });
        let started = Instant::now();
        assert_eq!(h.post("mark_tag", &token, mark).await["errcode"], 0);
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(
            h.sim.relationship_tags("zhangsan", "wo2"),
            Some(vec!["etVIP".to_string()])
        );
    }

    #[tokio::test]
    async fn per_minute_quota_answers_45009_and_can_be_switched_off() {
        let limited = Harness::start(WecomSettings {
            calls_per_minute: Some(2),
            ..WecomSettings::default()
        })
        .await;
        let token = limited.token().await;
        let path = format!("externalcontact/get_follow_user_list?access_token={token}");
        assert_eq!(limited.get(&path).await["errcode"], 0);
        assert_eq!(limited.get(&path).await["errcode"], 0);
        assert_eq!(limited.get(&path).await["errcode"], 45009);
        // Another API has its own quota.
        let tags = limited.post("get_corp_tag_list", &token, json!({})).await;
        assert_eq!(tags["errcode"], 0);

        let unlimited = Harness::start(WecomSettings {
            calls_per_minute: None,
            ..WecomSettings::default()
        })
        .await;
        let token = unlimited.token().await;
        let path = format!("externalcontact/get_follow_user_list?access_token={token}");
        for _ in 0..5 {
            assert_eq!(unlimited.get(&path).await["errcode"], 0);
        }
    }

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        let cursor = encode_cursor("zhangsan", 42, 7);
        assert_eq!(
            decode_cursor(&cursor, 7),
            Some(("zhangsan".to_string(), 42))
        );
        assert_eq!(decode_cursor(&cursor, 8), None);
        let mut tampered = cursor.into_bytes();
        tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            decode_cursor(&String::from_utf8(tampered).unwrap(), 7),
            None
        );
    }

    /// A `world.json` with every simulator's credentials, as the generator writes it.
    const WORLD_JSON: &str = r#"{"seed": 1, "credentials": {
        "wecom": {"corp_id": "wwWORLD", "corp_secret": "s"},
        "shopify": {"shop": "world-shop", "access_token": "shpat_world"},
        "zendesk": {"subdomain": "z", "email": "a@b.c", "api_token": "t"},
        "odoo": {"db": "d", "login": "l", "api_key": "k", "uid": 2}}}"#;

    #[test]
    fn loads_a_world_directory_and_names_a_broken_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("wecom")).unwrap();
        std::fs::write(dir.path().join("world.json"), WORLD_JSON).unwrap();
        std::fs::write(
            dir.path().join("wecom/follow_users.json"),
            r#"["zhangsan"]"#,
        )
        .unwrap();
        let line = contact("wo1", "李四", &[("zhangsan", &["etVIP"])]);
        std::fs::write(
            dir.path().join("wecom/contacts.jsonl"),
            format!("{line}\n\n"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("wecom/corp_tags.json"),
            json!(data().tag_groups).to_string(),
        )
        .unwrap();
        let world = World::new(dir.path());
        let loaded = WecomData::from_world(&world).unwrap();
        assert_eq!(loaded.corp_id, "wwWORLD");
        assert_eq!(loaded.follow_users, vec!["zhangsan"]);
        assert_eq!(loaded.contacts, vec![line]);
        let sim = WecomSimulator::new(loaded, WecomSettings::default()).unwrap();
        assert_eq!(
            sim.relationship_tags("zhangsan", "wo1"),
            Some(vec!["etVIP".to_string()])
        );

        std::fs::write(
            dir.path().join("wecom/follow_users.json"),
            r#"{"follow_user": []}"#,
        )
        .unwrap();
        let error = WecomData::from_world(&world).unwrap_err().to_string();
        assert!(error.contains("follow_users.json"), "{error}");
    }

    #[test]
    fn loading_names_the_contact_that_lacks_an_id() {
        let mut broken = data();
        broken
            .contacts
            .push(json!({"external_contact": {"name": "x"}, "follow_info": []}));
        let error = WecomSimulator::new(broken, WecomSettings::default())
            .err()
            .unwrap();
        assert!(error.to_string().contains("contact #6"), "{error}");
    }
}
