//! Simulators of the source systems tierlink talks to: WeCom, Shopify,
//! Zendesk and Odoo, each serving its real API's paths, parameters, paging,
//! auth, error bodies and rate-limit behaviour over real HTTP on loopback.
//!
//! They exist so that presets, push-back and the demo run against something
//! that answers like the real system (see `../shared/specs/source-apis.md`)
//! without any network. Every simulator shares the pieces in this file:
//!
//! - [`Faults`]: a seeded knob that turns a share of requests into the
//!   system's own rate-limit, server-error or slow answers. A fault is drawn
//!   before a request touches any state, so it never corrupts data.
//! - [`WriteLog`]: every write call a simulator accepted, so tests can check
//!   which labels arrived and that a re-run wrote nothing.
//! - [`TokenClock`]: issued access tokens and their expiry; tests expire every
//!   token at once to exercise refresh in the middle of a sync.
//! - [`serve`]: binds a router on 127.0.0.1 with TCP_NODELAY and adds the
//!   `/_sim/*` admin routes (faults, writes, token expiry).
//!
//! A simulator loads its data from a world directory (see [`World`] for the
//! layout), the one the world generator writes.

pub mod odoo;
pub mod shopify;
pub mod wecom;
pub mod zendesk;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Which kind of trouble a fault injects. Each simulator renders a kind the
/// way its real system does (e.g. WeCom answers a rate limit with errcode
/// 45009 in an HTTP 200 body, Shopify with 429 and `Retry-After: 2.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The system's HTTP-level rate limit answer (429 where it has one).
    RateLimit,
    /// A rate limit signalled in the body of an HTTP 200 (WeCom 45009, a
    /// Shopify GraphQL `THROTTLED`); systems without one use `RateLimit`.
    BodyRateLimit,
    /// A transient server failure (HTTP 5xx, WeCom errcode -1).
    ServerError,
    /// The normal answer, after `slow_ms`.
    Slow,
}

/// The fault knob's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Share of requests, 0.0 to 1.0, that get a fault instead of an answer.
    pub rate: f64,
    /// The kinds to draw from, uniformly; empty means all of them.
    pub kinds: Vec<FaultKind>,
    /// How long a `slow` answer waits, in milliseconds.
    pub slow_ms: u64,
    /// Seed of the draw, so a failing test replays the same faults.
    pub seed: u64,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            rate: 0.0,
            kinds: Vec::new(),
            slow_ms: 1500,
            seed: 1,
        }
    }
}

/// Draws faults for requests, deterministically from the configured seed.
#[derive(Debug, Default)]
pub struct Faults {
    inner: Mutex<(FaultConfig, u64)>,
}

impl Faults {
    /// Replaces the settings and restarts the draw from their seed.
    pub fn set(&self, config: FaultConfig) {
        let seed = config.seed;
        *self.inner.lock().expect("faults lock") = (config, seed);
    }

    pub fn config(&self) -> FaultConfig {
        self.inner.lock().expect("faults lock").0.clone()
    }

    /// Whether this request gets a fault, and which one.
    pub fn draw(&self) -> Option<FaultKind> {
        let mut guard = self.inner.lock().expect("faults lock");
        let (config, state) = &mut *guard;
        if config.rate <= 0.0 {
            return None;
        }
        let roll = unit_interval(splitmix64(state));
        if roll >= config.rate {
            return None;
        }
        let kinds: &[FaultKind] = if config.kinds.is_empty() {
            &[
                FaultKind::RateLimit,
                FaultKind::BodyRateLimit,
                FaultKind::ServerError,
                FaultKind::Slow,
            ]
        } else {
            &config.kinds
        };
        let pick = splitmix64(state) as usize % kinds.len();
        Some(kinds[pick])
    }

    /// How long a `slow` fault waits.
    pub fn slow_delay(&self) -> Duration {
        Duration::from_millis(self.inner.lock().expect("faults lock").0.slow_ms)
    }
}

/// One step of SplitMix64: a small, well-mixed generator that needs no crate
/// and gives the same sequence on every platform.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit_interval(value: u64) -> f64 {
    (value >> 11) as f64 / (1u64 << 53) as f64
}

/// A write call a simulator accepted: what was called and with what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Write {
    /// e.g. `mark_tag`, `PUT customers/207119551.json`, `res.partner.write`.
    pub call: String,
    /// The request body (or the JSON-RPC arguments) as received.
    pub body: Value,
}

/// Every accepted write, in order.
#[derive(Debug, Default)]
pub struct WriteLog {
    writes: Mutex<Vec<Write>>,
}

impl WriteLog {
    pub fn record(&self, call: impl Into<String>, body: Value) {
        self.writes.lock().expect("write log lock").push(Write {
            call: call.into(),
            body,
        });
    }

    pub fn all(&self) -> Vec<Write> {
        self.writes.lock().expect("write log lock").clone()
    }

    pub fn len(&self) -> usize {
        self.writes.lock().expect("write log lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&self) {
        self.writes.lock().expect("write log lock").clear();
    }
}

/// Whether a presented access token is usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    Valid,
    /// Was issued, but its lifetime is over or it was expired by a test.
    Expired,
    /// Was never issued.
    Unknown,
}

/// Access tokens a simulator issued, with their expiry.
#[derive(Debug)]
pub struct TokenClock {
    lifetime: Duration,
    issued: Mutex<(u64, HashMap<String, Instant>)>,
}

impl TokenClock {
    pub fn new(lifetime: Duration) -> Self {
        TokenClock {
            lifetime,
            issued: Mutex::new((0, HashMap::new())),
        }
    }

    /// Issues a fresh token that starts with `prefix`, valid for the lifetime.
    pub fn issue(&self, prefix: &str) -> String {
        let mut guard = self.issued.lock().expect("token lock");
        guard.0 += 1;
        let mut seed = guard.0 ^ 0x5EED;
        let token = format!("{prefix}{:016x}{:08x}", splitmix64(&mut seed), guard.0);
        guard
            .1
            .insert(token.clone(), Instant::now() + self.lifetime);
        token
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    pub fn check(&self, token: &str) -> TokenState {
        match self.issued.lock().expect("token lock").1.get(token) {
            None => TokenState::Unknown,
            Some(until) if Instant::now() >= *until => TokenState::Expired,
            Some(_) => TokenState::Valid,
        }
    }

    /// Expires every issued token now (they stay known, so callers get the
    /// system's "expired" answer rather than "invalid").
    pub fn expire_all(&self) {
        let now = Instant::now();
        for until in self.issued.lock().expect("token lock").1.values_mut() {
            *until = now;
        }
    }
}

/// The state every simulator shares: faults, the write log and tokens.
#[derive(Debug)]
pub struct SimCore {
    pub faults: Faults,
    pub writes: WriteLog,
    pub tokens: TokenClock,
}

impl SimCore {
    pub fn new(token_lifetime: Duration) -> Arc<Self> {
        Arc::new(SimCore {
            faults: Faults::default(),
            writes: WriteLog::default(),
            tokens: TokenClock::new(token_lifetime),
        })
    }
}

/// The admin routes every simulator serves next to its API:
/// `GET|PUT /_sim/faults`, `GET|DELETE /_sim/writes`,
/// `POST /_sim/expire-tokens`.
pub fn admin_routes(core: Arc<SimCore>) -> Router {
    async fn get_faults(State(core): State<Arc<SimCore>>) -> Json<FaultConfig> {
        Json(core.faults.config())
    }
    async fn put_faults(
        State(core): State<Arc<SimCore>>,
        Json(config): Json<FaultConfig>,
    ) -> Json<FaultConfig> {
        core.faults.set(config.clone());
        Json(config)
    }
    async fn get_writes(State(core): State<Arc<SimCore>>) -> Json<Vec<Write>> {
        Json(core.writes.all())
    }
    async fn clear_writes(State(core): State<Arc<SimCore>>) -> Json<Value> {
        core.writes.clear();
        Json(serde_json::json!({"cleared": true}))
    }
    async fn expire_tokens(State(core): State<Arc<SimCore>>) -> Json<Value> {
        core.tokens.expire_all();
        Json(serde_json::json!({"expired": true}))
    }
    Router::new()
        .route("/_sim/faults", get(get_faults).put(put_faults))
        .route("/_sim/writes", get(get_writes).delete(clear_writes))
        .route("/_sim/expire-tokens", post(expire_tokens))
        .with_state(core)
}

/// A simulator serving on loopback until dropped or shut down.
#[derive(Debug)]
pub struct RunningSimulator {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base_url: String,
    pub address: SocketAddr,
    shutdown: CancellationToken,
}

impl RunningSimulator {
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Serves `api` plus the admin routes of `core` on `address` (port 0 picks a
/// free one) with TCP_NODELAY on every connection.
pub async fn serve(
    api: Router,
    core: Arc<SimCore>,
    address: SocketAddr,
) -> std::io::Result<RunningSimulator> {
    use axum::serve::ListenerExt;
    let listener = tokio::net::TcpListener::bind(address).await?;
    let address = listener.local_addr()?;
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "simulator: could not set TCP_NODELAY");
        }
    });
    let app = api.merge(admin_routes(core));
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "simulator stopped");
        }
    });
    Ok(RunningSimulator {
        base_url: format!("http://{address}"),
        address,
        shutdown,
    })
}

/// A world directory, as the world generator writes it and the simulators
/// read it. Every `.jsonl` file holds one JSON object per line, in the
/// system's own API shape (`../shared/specs/source-apis.md`):
///
/// - `world.json`: seed, counts and the simulators' credentials
///   (see [`Credentials`]).
/// - `wecom/follow_users.json`: array of member userids;
///   `wecom/contacts.jsonl`: `{"external_contact": {...}, "follow_info": [{...}, ...]}`,
///   one line per external contact with one `follow_info` object per member
///   who follows it; `wecom/corp_tags.json`: the `tag_group` array.
/// - `shopify/customers.jsonl`, `shopify/orders.jsonl`.
/// - `zendesk/users.jsonl`, `zendesk/tickets.jsonl`,
///   `zendesk/satisfaction_ratings.jsonl`.
/// - `odoo/res.partner.jsonl`, `odoo/sale.order.jsonl`,
///   `odoo/res.partner.category.jsonl` (as `search_read` returns them).
/// - `asterisk/Master.csv`, `freeswitch/Master.csv`, `erp/` and `truth/`
///   are read by connectors and benchmarks, not by the simulators.
#[derive(Debug, Clone)]
pub struct World {
    pub dir: PathBuf,
}

/// The simulators' credentials, stored in `world.json` under `credentials`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Credentials {
    pub wecom: WecomCredentials,
    pub shopify: ShopifyCredentials,
    pub zendesk: ZendeskCredentials,
    pub odoo: OdooCredentials,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WecomCredentials {
    pub corp_id: String,
    pub corp_secret: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShopifyCredentials {
    pub shop: String,
    pub access_token: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZendeskCredentials {
    pub subdomain: String,
    pub email: String,
    pub api_token: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OdooCredentials {
    pub db: String,
    pub login: String,
    pub api_key: String,
    pub uid: i64,
}

impl World {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        World { dir: dir.into() }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// The credentials in `world.json`.
    pub fn credentials(&self) -> Result<Credentials, WorldError> {
        let path = self.path("world.json");
        let text = read_text(&path)?;
        let world: Value = serde_json::from_str(&text).map_err(|error| WorldError::Parse {
            path: path.clone(),
            line: error.line(),
            message: error.to_string(),
        })?;
        serde_json::from_value(world.get("credentials").cloned().unwrap_or(Value::Null)).map_err(
            |error| WorldError::Parse {
                path,
                line: 0,
                message: format!("credentials: {error}"),
            },
        )
    }

    /// One JSON document (e.g. `wecom/follow_users.json`).
    pub fn read_json(&self, relative: &str) -> Result<Value, WorldError> {
        let path = self.path(relative);
        let text = read_text(&path)?;
        serde_json::from_str(&text).map_err(|error| WorldError::Parse {
            path,
            line: error.line(),
            message: error.to_string(),
        })
    }

    /// Every object of a JSON Lines file; blank lines are skipped.
    pub fn read_jsonl(&self, relative: &str) -> Result<Vec<Value>, WorldError> {
        let path = self.path(relative);
        read_jsonl(&path)
    }
}

/// Every object of a JSON Lines file; blank lines are skipped.
pub fn read_jsonl(path: &Path) -> Result<Vec<Value>, WorldError> {
    let text = read_text(path)?;
    let mut records = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(line).map_err(|error| WorldError::Parse {
            path: path.to_path_buf(),
            line: index + 1,
            message: error.to_string(),
        })?;
        records.push(record);
    }
    Ok(records)
}

fn read_text(path: &Path) -> Result<String, WorldError> {
    std::fs::read_to_string(path).map_err(|source| WorldError::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not valid JSON: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_follow_the_rate_and_replay_from_the_seed() {
        let faults = Faults::default();
        faults.set(FaultConfig {
            rate: 0.2,
            seed: 7,
            ..FaultConfig::default()
        });
        let first: Vec<_> = (0..10_000).map(|_| faults.draw()).collect();
        let hits = first.iter().filter(|fault| fault.is_some()).count();
        assert!((1_800..2_200).contains(&hits), "{hits} faults in 10000");
        faults.set(FaultConfig {
            rate: 0.2,
            seed: 7,
            ..FaultConfig::default()
        });
        let again: Vec<_> = (0..10_000).map(|_| faults.draw()).collect();
        assert_eq!(first, again);
    }

    #[test]
    fn no_faults_at_rate_zero_and_only_configured_kinds() {
        let faults = Faults::default();
        assert!((0..1000).all(|_| faults.draw().is_none()));
        faults.set(FaultConfig {
            rate: 1.0,
            kinds: vec![FaultKind::Slow],
            ..FaultConfig::default()
        });
        assert!((0..1000).all(|_| faults.draw() == Some(FaultKind::Slow)));
    }

    #[test]
    fn tokens_are_valid_until_expired_and_unknown_tokens_are_told_apart() {
        let clock = TokenClock::new(Duration::from_secs(7200));
        let token = clock.issue("tok_");
        assert_eq!(clock.check(&token), TokenState::Valid);
        assert_eq!(clock.check("tok_forged"), TokenState::Unknown);
        clock.expire_all();
        assert_eq!(clock.check(&token), TokenState::Expired);
        let fresh = clock.issue("tok_");
        assert_ne!(fresh, token);
        assert_eq!(clock.check(&fresh), TokenState::Valid);
    }

    #[tokio::test]
    async fn admin_routes_set_faults_and_list_writes() {
        let core = SimCore::new(Duration::from_secs(60));
        core.writes
            .record("mark_tag", serde_json::json!({"add_tag": ["t1"]}));
        let running = serve(Router::new(), core.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let client = reqwest::Client::new();
        let writes: Vec<Write> = client
            .get(format!("{}/_sim/writes", running.base_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(writes.len(), 1);
        assert_eq!(writes[0].call, "mark_tag");
        client
            .put(format!("{}/_sim/faults", running.base_url))
            .json(&serde_json::json!({"rate": 0.5, "kinds": ["server_error"]}))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
        assert_eq!(core.faults.config().rate, 0.5);
        assert_eq!(core.faults.config().kinds, vec![FaultKind::ServerError]);
    }
}
