//! An Odoo simulator speaking JSON-RPC as Odoo 17 does (see
//! `shared/specs/source-apis.md` §4 and §8): `POST /web/webclient/version_info`,
//! and `POST /jsonrpc` with the `common` service (`version`, `login`,
//! `authenticate`) and the `object` service (`execute_kw`, `execute`) over
//! `res.partner`, `res.partner.category`, `sale.order` and `res.users`.
//! The same services answer XML-RPC on `/xmlrpc/2/common` and
//! `/xmlrpc/2/object` (see [`xmlrpc`]).
//!
//! Errors come back as Odoo sends them: HTTP 200 with a JSON-RPC `error`
//! whose `data.name` is the Python exception (`odoo.exceptions.AccessDenied`,
//! `builtins.ValueError`, ...). The model layer lives in [`orm`]; this file
//! is the protocol around it.

pub mod orm;
pub mod xmlrpc;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use self::orm::{py_repr, OdooError, Registry};
use super::{FaultKind, RunningSimulator, SimCore, World, WorldError};

/// The Odoo database the simulator serves: credentials and records as
/// `search_read` returns them.
#[derive(Debug, Clone)]
pub struct OdooData {
    pub db: String,
    pub login: String,
    pub api_key: String,
    /// The uid `authenticate` answers for `login`.
    pub uid: i64,
    pub partners: Vec<Value>,
    pub sale_orders: Vec<Value>,
    pub categories: Vec<Value>,
}

impl OdooData {
    /// Loads credentials from `world.json` and records from `odoo/*.jsonl`.
    pub fn from_world(world: &World) -> Result<Self, WorldError> {
        let credentials = world.credentials()?.odoo;
        Ok(OdooData {
            db: credentials.db,
            login: credentials.login,
            api_key: credentials.api_key,
            uid: credentials.uid,
            partners: world.read_jsonl("odoo/res.partner.jsonl")?,
            sale_orders: world.read_jsonl("odoo/sale.order.jsonl")?,
            categories: world.read_jsonl("odoo/res.partner.category.jsonl")?,
        })
    }
}

/// How the simulated server behaves.
///
/// Odoo has no built-in rate limit, so there is none to switch off; the
/// `RateLimit` faults stand for a proxy in front of it.
#[derive(Debug, Clone)]
pub struct OdooSettings {
    /// `server_version` of `version_info` (`17.0`).
    pub server_version: String,
    /// The API user's language and time zone (`res.users.context_get`).
    pub lang: String,
    pub tz: String,
}

impl Default for OdooSettings {
    fn default() -> Self {
        OdooSettings {
            server_version: "17.0".into(),
            lang: "en_US".into(),
            tz: "Asia/Shanghai".into(),
        }
    }
}

/// The Odoo simulator; cheap to clone (the state is shared).
#[derive(Clone)]
pub struct OdooSimulator {
    inner: Arc<Inner>,
}

struct Inner {
    core: Arc<SimCore>,
    settings: OdooSettings,
    db: String,
    login: String,
    api_key: String,
    uid: i64,
    registry: Mutex<Registry>,
}

impl OdooSimulator {
    /// Builds the database; fails naming the file and line of a record
    /// that does not fit its model or points at a missing record.
    pub fn new(data: OdooData, settings: OdooSettings) -> Result<Self, WorldError> {
        let mut registry = Registry::new(data.uid, &data.login, &settings.lang, &settings.tz);
        let files = [
            ("res.partner.category", data.categories),
            ("res.partner", data.partners),
            ("sale.order", data.sale_orders),
        ];
        for (model, records) in files {
            for (index, record) in records.into_iter().enumerate() {
                let invalid = |message: String| WorldError::Parse {
                    path: format!("odoo/{model}.jsonl").into(),
                    line: index + 1,
                    message,
                };
                let Value::Object(record) = record else {
                    return Err(invalid("not a JSON object".into()));
                };
                registry.load(model, record).map_err(invalid)?;
            }
        }
        if let Some((model, id, problem)) = registry.dangling_references().into_iter().next() {
            return Err(WorldError::Parse {
                path: format!("odoo/{model}.jsonl").into(),
                line: 0,
                message: format!("record {id}: {problem}"),
            });
        }
        Ok(OdooSimulator {
            inner: Arc::new(Inner {
                core: SimCore::new(std::time::Duration::from_secs(24 * 60 * 60)),
                settings,
                db: data.db,
                login: data.login,
                api_key: data.api_key,
                uid: data.uid,
                registry: Mutex::new(registry),
            }),
        })
    }

    pub fn core(&self) -> Arc<SimCore> {
        self.inner.core.clone()
    }

    /// The tag (category) ids a partner carries now, or `None` for an
    /// unknown partner.
    pub fn partner_categories(&self, partner_id: i64) -> Option<Vec<i64>> {
        let registry = self.inner.registry.lock().expect("odoo registry lock");
        registry.related("res.partner", partner_id, "category_id")
    }

    /// Every partner tag as `(id, name)`, archived ones included.
    pub fn categories(&self) -> Vec<(i64, String)> {
        let registry = self.inner.registry.lock().expect("odoo registry lock");
        let model = registry
            .model("res.partner.category")
            .expect("served model");
        model
            .ids()
            .into_iter()
            .filter_map(|id| {
                let record = registry.record("res.partner.category", id)?;
                Some((id, record["name"].as_str().unwrap_or_default().to_string()))
            })
            .collect()
    }

    /// A record as `read` renders it, or `None` when it does not exist.
    pub fn record(&self, model: &str, id: i64) -> Option<Value> {
        let registry = self.inner.registry.lock().expect("odoo registry lock");
        registry.record(model, id)
    }

    /// The API routes (without the `/_sim` admin routes, which
    /// [`OdooSimulator::serve`] adds).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/web/webclient/version_info", post(version_info))
            .route("/jsonrpc", post(jsonrpc))
            .route("/xmlrpc/2/common", post(xmlrpc_common))
            .route("/xmlrpc/2/object", post(xmlrpc_object))
            .with_state(self.inner.clone())
    }

    /// Serves the API and the admin routes on `addr` (port 0 picks one).
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<RunningSimulator> {
        super::serve(self.router(), self.core(), addr).await
    }
}

/// The body nginx sends when its `limit_req` rejects a request.
const PROXY_429: &str = "<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n\
<center><h1>429 Too Many Requests</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// What a fault turns a request into.
enum Trouble {
    /// An answer from the proxy in front of Odoo (its 429 page).
    Proxy(Response),
    /// An error raised inside Odoo, sent in the protocol's error form.
    Odoo(OdooError),
}

/// A JSON-RPC answer carrying Odoo's error envelope (always HTTP 200).
fn rpc_error(id: &Value, error: &OdooError) -> Response {
    let exception = error.name.rsplit('.').next().unwrap_or(&error.name);
    let debug = format!(
        "Traceback (most recent call last):\n  File \"/usr/lib/python3/dist-packages/odoo/http.py\", \
         line 1775, in _serve_db\n    return service_model.retrying(self._serve_ir_http, self.env)\n\
         {}: {}\n",
        if error.name.starts_with("builtins.") {
            exception.to_string()
        } else {
            error.name.clone()
        },
        error.message
    );
    Json(json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": 200,
            "message": "Odoo Server Error",
            "data": {
                "name": error.name,
                "debug": debug,
                "message": error.message,
                "arguments": [error.message],
                "context": {},
            },
        },
    }))
    .into_response()
}

fn rpc_result(id: &Value, result: Value) -> Response {
    Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
}

impl Inner {
    /// The fault drawn for this request; `None` to go on.
    async fn trouble(&self) -> Option<Trouble> {
        match self.core.faults.draw()? {
            FaultKind::RateLimit | FaultKind::BodyRateLimit => {
                let mut response = (StatusCode::TOO_MANY_REQUESTS, PROXY_429).into_response();
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
                Some(Trouble::Proxy(response))
            }
            // Odoo retries a serialization failure a few times, then gives
            // the client the last one.
            FaultKind::ServerError => Some(Trouble::Odoo(OdooError::new(
                "psycopg2.errors.SerializationFailure",
                "could not serialize access due to concurrent update\n",
            ))),
            FaultKind::Slow => {
                tokio::time::sleep(self.core.faults.slow_delay()).await;
                None
            }
        }
    }

    fn version(&self) -> Value {
        let mut numbers = self
            .settings
            .server_version
            .split('.')
            .map(|part| part.parse::<i64>().unwrap_or(0));
        let major = numbers.next().unwrap_or(0);
        let minor = numbers.next().unwrap_or(0);
        json!({
            "server_version": self.settings.server_version,
            "server_version_info": [major, minor, 0, "final", 0, ""],
            "server_serie": format!("{major}.{minor}"),
            "protocol_version": 1,
        })
    }

    fn check_db(&self, db: &Value) -> Result<(), OdooError> {
        if db.as_str() == Some(self.db.as_str()) {
            return Ok(());
        }
        Err(OdooError::new(
            "psycopg2.OperationalError",
            format!(
                "connection to server at \"localhost\" (127.0.0.1), port 5432 failed: FATAL:  \
                 database {} does not exist\n",
                db.as_str()
                    .map(|name| format!("\"{name}\""))
                    .unwrap_or_else(|| py_repr(db))
            ),
        ))
    }

    /// `common.login` / `common.authenticate`: the uid, or `false`.
    fn authenticate(&self, args: &[Value], method: &str) -> Result<Value, OdooError> {
        let wanted = if method == "login" { 3 } else { 4 };
        if args.len() != wanted {
            return Err(OdooError::type_error(format!(
                "exp_{method}() takes {wanted} positional arguments but {} were given",
                args.len()
            )));
        }
        self.check_db(&args[0])?;
        let matches = args[1].as_str() == Some(self.login.as_str())
            && args[2].as_str() == Some(self.api_key.as_str());
        Ok(if matches {
            json!(self.uid)
        } else {
            Value::Bool(false)
        })
    }

    /// Odoo's dispatcher runs `int(params[1])` on the uid, so `"2"` is
    /// accepted as well as `2`.
    fn check_credentials(&self, db: &Value, uid: &Value, key: &Value) -> Result<(), OdooError> {
        self.check_db(db)?;
        if python_int(uid) == Some(self.uid) && key.as_str() == Some(self.api_key.as_str()) {
            Ok(())
        } else {
            Err(OdooError::new(
                "odoo.exceptions.AccessDenied",
                "Access Denied",
            ))
        }
    }

    fn dispatch(&self, service: &str, method: &str, args: &[Value]) -> Result<Value, OdooError> {
        match (service, method) {
            ("common", "version") => Ok(self.version()),
            ("common", "login" | "authenticate") => self.authenticate(args, method),
            ("common", other) => Err(OdooError::new(
                "builtins.KeyError",
                format!("'exp_{other}'"),
            )),
            ("object", "execute_kw" | "execute") => {
                if args.len() < 5 {
                    return Err(OdooError::type_error(format!(
                        "{method}() missing required positional arguments: \
                         'db', 'uid', 'password', 'model' and 'method' are needed"
                    )));
                }
                self.check_credentials(&args[0], &args[1], &args[2])?;
                let model = args[3].as_str().unwrap_or_default();
                let name = args[4].as_str().unwrap_or_default();
                let (call_args, kwargs) = if method == "execute_kw" {
                    let call_args = match args.get(5) {
                        None | Some(Value::Null) => Vec::new(),
                        Some(Value::Array(items)) => items.clone(),
                        Some(other) => {
                            return Err(OdooError::type_error(format!(
                                "execute_kw() args must be a list, not {}",
                                py_repr(other)
                            )))
                        }
                    };
                    let kwargs = match args.get(6) {
                        None | Some(Value::Null) => Map::new(),
                        Some(Value::Object(map)) => map.clone(),
                        Some(other) => {
                            return Err(OdooError::type_error(format!(
                                "execute_kw() kwargs must be a dict, not {}",
                                py_repr(other)
                            )))
                        }
                    };
                    (call_args, kwargs)
                } else {
                    (args[5..].to_vec(), Map::new())
                };
                self.execute(model, name, call_args, kwargs)
            }
            ("object", other) => Err(OdooError::new(
                "builtins.NameError",
                format!("Method not available {other}"),
            )),
            (other, _) => Err(OdooError::new("builtins.KeyError", format!("'{other}'"))),
        }
    }

    /// One ORM call; writes are logged once they succeed.
    fn execute(
        &self,
        model: &str,
        method: &str,
        args: Vec<Value>,
        kwargs: Map<String, Value>,
    ) -> Result<Value, OdooError> {
        let mut registry = self.registry.lock().expect("odoo registry lock");
        let result = call(&mut registry, model, method, args.clone(), kwargs.clone())?;
        if matches!(method, "create" | "write") {
            self.core.writes.record(
                format!("{model}.{method}"),
                json!({"args": args, "kwargs": kwargs}),
            );
        }
        Ok(result)
    }
}

/// Binds positional and keyword arguments to a method's parameters as
/// Python does, with Python's `TypeError`s.
fn bind(
    method: &str,
    parameters: &[(&str, bool)],
    args: Vec<Value>,
    mut kwargs: Map<String, Value>,
) -> Result<Vec<Option<Value>>, OdooError> {
    if args.len() > parameters.len() {
        return Err(OdooError::type_error(format!(
            "{method}() takes from 1 to {} positional arguments but {} were given",
            parameters.len() + 1,
            args.len() + 1
        )));
    }
    let mut bound: Vec<Option<Value>> = args.into_iter().map(Some).collect();
    bound.resize(parameters.len(), None);
    for (index, (name, required)) in parameters.iter().enumerate() {
        if let Some(value) = kwargs.remove(*name) {
            if bound[index].is_some() {
                return Err(OdooError::type_error(format!(
                    "{method}() got multiple values for argument '{name}'"
                )));
            }
            bound[index] = Some(value);
        }
        if *required && bound[index].is_none() {
            return Err(OdooError::type_error(format!(
                "{method}() missing 1 required positional argument: '{name}'"
            )));
        }
    }
    if let Some(unexpected) = kwargs.keys().next() {
        return Err(OdooError::type_error(format!(
            "{method}() got an unexpected keyword argument '{unexpected}'"
        )));
    }
    Ok(bound)
}

/// A present, non-`false`, non-null argument.
fn given(value: &Option<Value>) -> Option<&Value> {
    value
        .as_ref()
        .filter(|value| !matches!(value, Value::Null | Value::Bool(false)))
}

fn field_names(value: &Option<Value>) -> Result<Vec<String>, OdooError> {
    match given(value) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_string).ok_or_else(|| {
                    OdooError::type_error(format!(
                        "field names must be strings, not {}",
                        py_repr(item)
                    ))
                })
            })
            .collect(),
        Some(Value::String(single)) => Ok(vec![single.clone()]),
        Some(other) => Err(OdooError::type_error(format!(
            "fields must be a list of field names, not {}",
            py_repr(other)
        ))),
    }
}

fn count(value: &Option<Value>, name: &str) -> Result<Option<usize>, OdooError> {
    match given(value) {
        None => Ok(None),
        Some(Value::Number(number)) if number.as_u64().is_some() => {
            Ok(number.as_u64().map(|n| n as usize))
        }
        Some(other) => Err(OdooError::type_error(format!(
            "{name} must be a non-negative integer, not {}",
            py_repr(other)
        ))),
    }
}

fn record_ids(value: &Option<Value>) -> Result<Vec<i64>, OdooError> {
    match value {
        Some(Value::Number(number)) => number
            .as_i64()
            .map(|id| vec![id])
            .ok_or_else(|| OdooError::type_error("ids must be integers")),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_i64().ok_or_else(|| {
                    OdooError::type_error(format!("ids must be integers, not {}", py_repr(item)))
                })
            })
            .collect(),
        Some(other) => Err(OdooError::type_error(format!(
            "ids must be a list of integers, not {}",
            py_repr(other)
        ))),
        None => Ok(Vec::new()),
    }
}

/// Runs an ORM method of `model` with Python call semantics.
fn call(
    registry: &mut Registry,
    model: &str,
    method: &str,
    mut args: Vec<Value>,
    mut kwargs: Map<String, Value>,
) -> Result<Value, OdooError> {
    if registry.model(model).is_none() {
        return Err(OdooError::new(
            "odoo.exceptions.UserError",
            format!("Object {model} doesn't exist"),
        ));
    }
    if method.starts_with('_') {
        return Err(OdooError::new(
            "odoo.exceptions.AccessError",
            format!("Private methods (such as {model}.{method}) cannot be called remotely."),
        ));
    }
    let context = kwargs.remove("context").unwrap_or(Value::Null);
    let active_test = context.get("active_test") != Some(&Value::Bool(false));
    match method {
        "search_read" => {
            let [domain, fields, offset, limit, order] = bind(
                method,
                &[
                    ("domain", false),
                    ("fields", false),
                    ("offset", false),
                    ("limit", false),
                    ("order", false),
                ],
                args,
                kwargs,
            )?
            .try_into()
            .expect("five parameters");
            let ids = registry.search(
                model,
                domain.as_ref().unwrap_or(&Value::Null),
                count(&offset, "offset")?.unwrap_or(0),
                count(&limit, "limit")?,
                given(&order).and_then(Value::as_str),
                active_test,
            )?;
            Ok(json!(registry.read(
                model,
                &ids,
                &field_names(&fields)?,
                true
            )?))
        }
        "search" => {
            let [domain, offset, limit, order] = bind(
                method,
                &[
                    ("domain", true),
                    ("offset", false),
                    ("limit", false),
                    ("order", false),
                ],
                args,
                kwargs,
            )?
            .try_into()
            .expect("four parameters");
            let ids = registry.search(
                model,
                domain.as_ref().unwrap_or(&Value::Null),
                count(&offset, "offset")?.unwrap_or(0),
                count(&limit, "limit")?,
                given(&order).and_then(Value::as_str),
                active_test,
            )?;
            Ok(json!(ids))
        }
        "search_count" => {
            let [domain, limit] =
                bind(method, &[("domain", true), ("limit", false)], args, kwargs)?
                    .try_into()
                    .expect("two parameters");
            let ids = registry.search(
                model,
                domain.as_ref().unwrap_or(&Value::Null),
                0,
                count(&limit, "limit")?,
                Some("id"),
                active_test,
            )?;
            Ok(json!(ids.len()))
        }
        "read" => {
            let ids = record_ids(&take_ids(&mut args, &mut kwargs, method)?)?;
            let [fields, load] = bind(method, &[("fields", false), ("load", false)], args, kwargs)?
                .try_into()
                .expect("two parameters");
            let classic = match &load {
                None => true,
                Some(Value::String(load)) => load == "_classic_read",
                Some(_) => false,
            };
            Ok(json!(registry.read(
                model,
                &ids,
                &field_names(&fields)?,
                classic
            )?))
        }
        "create" => {
            let [values] = bind(method, &[("vals_list", true)], args, kwargs)?
                .try_into()
                .expect("one parameter");
            match values.expect("required") {
                Value::Object(single) => Ok(json!(registry.create(model, &[single])?[0])),
                Value::Array(list) => {
                    let maps = list
                        .into_iter()
                        .map(|item| match item {
                            Value::Object(map) => Ok(map),
                            other => Err(OdooError::value_error(format!(
                                "create() takes a dict or a list of dicts, not {}",
                                py_repr(&other)
                            ))),
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(json!(registry.create(model, &maps)?))
                }
                other => Err(OdooError::value_error(format!(
                    "create() takes a dict or a list of dicts, not {}",
                    py_repr(&other)
                ))),
            }
        }
        "write" => {
            let ids = record_ids(&take_ids(&mut args, &mut kwargs, method)?)?;
            let [values] = bind(method, &[("vals", true)], args, kwargs)?
                .try_into()
                .expect("one parameter");
            let Some(Value::Object(values)) = values else {
                return Err(OdooError::value_error("write() takes a dict of values"));
            };
            registry.write(model, &ids, &values)?;
            Ok(Value::Bool(true))
        }
        "fields_get" => {
            let [allfields, attributes] = bind(
                method,
                &[("allfields", false), ("attributes", false)],
                args,
                kwargs,
            )?
            .try_into()
            .expect("two parameters");
            registry.fields_get(model, &field_names(&allfields)?, &field_names(&attributes)?)
        }
        "context_get" if model == "res.users" => {
            bind(method, &[], args, kwargs)?;
            let user = registry
                .record("res.users", registry.uid)
                .expect("the API user exists");
            Ok(json!({"lang": user["lang"], "tz": user["tz"], "uid": registry.uid}))
        }
        _ => Err(OdooError::new(
            "builtins.AttributeError",
            format!("The method '{model}.{method}' does not exist"),
        )),
    }
}

/// The record ids a record method is called on: the first positional
/// argument (or `ids` given by keyword).
fn take_ids(
    args: &mut Vec<Value>,
    kwargs: &mut Map<String, Value>,
    method: &str,
) -> Result<Option<Value>, OdooError> {
    if let Some(ids) = kwargs.remove("ids") {
        return Ok(Some(ids));
    }
    if args.is_empty() {
        return Err(OdooError::type_error(format!(
            "{method}() missing 1 required positional argument: 'ids'"
        )));
    }
    Ok(Some(args.remove(0)))
}

async fn version_info(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|request| request.get("id").cloned())
        .unwrap_or(Value::Null);
    match inner.trouble().await {
        Some(Trouble::Proxy(response)) => return response,
        Some(Trouble::Odoo(error)) => return rpc_error(&id, &error),
        None => {}
    }
    rpc_result(&id, inner.version())
}

async fn jsonrpc(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let request: Result<Value, _> = serde_json::from_slice(&body);
    let id = request
        .as_ref()
        .ok()
        .and_then(|request| request.get("id").cloned())
        .unwrap_or(Value::Null);
    match inner.trouble().await {
        Some(Trouble::Proxy(response)) => return response,
        Some(Trouble::Odoo(error)) => return rpc_error(&id, &error),
        None => {}
    }
    let Ok(request) = request else {
        return rpc_error(
            &id,
            &OdooError::new(
                "werkzeug.exceptions.BadRequest",
                "400 Bad Request: Invalid JSON data",
            ),
        );
    };
    let params = request.get("params").cloned().unwrap_or(Value::Null);
    let service = params.get("service").and_then(Value::as_str).unwrap_or("");
    let method = params.get("method").and_then(Value::as_str).unwrap_or("");
    let args = match params.get("args") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(args)) => args.clone(),
        Some(other) => {
            return rpc_error(
                &id,
                &OdooError::type_error(format!("args must be a list, not {}", py_repr(other))),
            )
        }
    };
    match inner.dispatch(service, method, &args) {
        Ok(result) => rpc_result(&id, result),
        Err(error) => rpc_error(&id, &error),
    }
}

async fn xmlrpc_common(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    xmlrpc_call(&inner, "common", &body).await
}

async fn xmlrpc_object(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    xmlrpc_call(&inner, "object", &body).await
}

/// One XML-RPC call to `service`; Odoo answers faults with HTTP 200.
async fn xmlrpc_call(inner: &Inner, service: &str, body: &[u8]) -> Response {
    let outcome = match inner.trouble().await {
        Some(Trouble::Proxy(response)) => return response,
        Some(Trouble::Odoo(error)) => Err(error),
        None => match xmlrpc::parse_call(&String::from_utf8_lossy(body)) {
            Err(problem) => Err(OdooError::new("xml.parsers.expat.ExpatError", problem)),
            Ok(call) => inner.dispatch(service, &call.method, &call.params),
        },
    };
    let document = match outcome {
        Ok(result) => xmlrpc::response(&result),
        Err(error) => xmlrpc::fault(&error),
    };
    ([(header::CONTENT_TYPE, "text/xml")], document).into_response()
}

#[cfg(test)]
mod tests;

/// What Python's `int(value)` gives for a JSON value, if it accepts it: an
/// integer, a float (truncated) or a decimal string (surrounding spaces
/// allowed).
fn python_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number
            .as_i64()
            .or_else(|| number.as_f64().map(|float| float.trunc() as i64)),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod python_int_tests {
    use super::python_int;
    use serde_json::json;

    #[test]
    fn reads_a_uid_as_python_int_does() {
        assert_eq!(python_int(&json!(2)), Some(2));
        assert_eq!(python_int(&json!(" 2 ")), Some(2));
        assert_eq!(python_int(&json!(2.9)), Some(2));
        assert_eq!(python_int(&json!("2.0")), None);
        assert_eq!(python_int(&json!(false)), None);
    }
}
