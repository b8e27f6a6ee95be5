//! Service API latency under load: customer search and the 360 view of
//! `tierlink serve` on a one-million-customer SQLite store, driven by an
//! open-loop load generator in the same process.
//!
//! `cargo bench --bench api` (release build). Environment:
//! - `API_CUSTOMERS` (default 1000000): golden customers in the store;
//! - `API_RATE` (default 200): requests per second;
//! - `API_SECONDS` (default 60): how long the measured load lasts (0: no
//!   load, only the timing of store calls below);
//! - `API_WARMUP` (default 5): seconds of the same load first, not counted;
//! - `API_VIEW_SHARE` (default 40): percent of requests that are 360 views,
//!   the rest split evenly between the three searches;
//! - `API_BREAKDOWN` (default 5, 0 for none): customers whose 360 view and
//!   searches are then timed store call by store call, without load.
//!
//! The store is built once per size and kept in
//! `$CARGO_TARGET_DIR/bench-api/store-N.db` (else `target/bench-api/`);
//! delete it to build it again. It is built through the public
//! [`Store`] trait as the pipeline writes it: every customer has a record
//! in a CRM and one in a web shop (names in Chinese characters, some in
//! pinyin or Latin script, +86 mobiles typed in different ways, e-mails, a
//! company for some, addresses in the CRM), each staged as a raw record
//! and mapped (`stage_batch`, `pending_mapping`, `save_mapped`), a few
//! orders in each system, the golden customer with survived fields and
//! lineage (`golden::survive`), both links and the search index
//! (`save_resolution`), and a tier with its reason and history
//! (`save_tier_changes`). The resolver does not run: the generator knows
//! which two records are one customer. The data is deterministic (a
//! fixed-seed SplitMix64 per customer), so the load generator draws its
//! queries from the same customers without reading the store.
//!
//! The service (`serve::serve` with a project of no connectors, the
//! shipped `tiers.toml` and one viewer and one steward token) runs on a
//! multi-threaded runtime of its own on 127.0.0.1; the load generator on a
//! single thread. Requests are sent at fixed times (`API_RATE` per second),
//! each on its own task without waiting for earlier answers (open loop),
//! and every latency is measured from the request's scheduled time, so a
//! slow service cannot slow the load down and hide its own queueing
//! (coordinated omission). The mix: 40% 360 views
//! (`GET /api/v1/customers/{id}`) and 60% searches
//! (`GET /api/v1/customers?q=`): a name prefix (the first two characters of
//! the name or of its pinyin), a phone prefix (the first seven digits of
//! the national number) and an e-mail (the local part and `@`), 20% each;
//! half with the viewer token (contacts masked), half with the steward's.
//!
//! Measured 2026-11-24 on this 2-core machine, release build, 1,000,000
//! customers (the store took 26 minutes to build, 6.6 GB): searches alone
//! at 200/s answer with p99 9.4 ms; with 40% 360 views almost nothing is
//! answered, because every view reads all golden ids and all tier
//! assignments (12–16 s for one view without load) and holds a pooled
//! connection meanwhile (BENCHMARKS.md, "Service API under load").

#[path = "support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::env_number;
use tierlink::config::{Project, Role, TokenSettings};
use tierlink::golden::search::query_prefix;
use tierlink::golden::{survive, SurvivorshipRules};
use tierlink::model::{Entity, Order, OrderStatus, Party, PartyKey, PartyKind};
use tierlink::serve::auth::token_digest;
use tierlink::serve::scheduler::Clock;
use tierlink::serve::{self as service, AppState};
use tierlink::store::{
    self, GoldenLink, LinkEvidence, MappedRecord, ResolutionChanges, SourceRecord, StagedBatch,
    Store, TierAssignment, TierChange,
};

const VIEWER: &str = "bench-viewer-token";
const STEWARD: &str = "bench-steward-token";
/// Customers written per transaction of each kind.
const BATCH: u64 = 10_000;
/// How long the load generator waits for an answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// The day the orders end and the tiers were computed.
const AS_OF: (i32, u32, u32) = (2026, 11, 1);

// ---------------------------------------------------------------------------
// Deterministic customers

/// SplitMix64: a small, fast, fixed-seed generator; one per customer, so any
/// customer can be drawn again from its index alone.
struct SplitMix(u64);

impl SplitMix {
    fn for_customer(index: u64) -> SplitMix {
        SplitMix(0x5EED_0A91_u64 ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An item of `(item, weight)` pairs, drawn by weight.
    fn weighted<'a, T>(&mut self, items: &'a [(T, u64)]) -> &'a T {
        let total: u64 = items.iter().map(|(_, weight)| weight).sum();
        let mut draw = self.below(total);
        for (item, weight) in items {
            if draw < *weight {
                return item;
            }
            draw -= weight;
        }
        &items[items.len() - 1].0
    }
}

/// Surnames with their pinyin, weighted roughly by frequency (a few
/// compound ones), so common names collide as they do in reality.
const SURNAMES: &[((&str, &str), u64)] = &[
    (("王", "wang"), 720),
    (("李", "li"), 700),
    (("张", "zhang"), 670),
    (("刘", "liu"), 540),
    (("陈", "chen"), 450),
    (("杨", "yang"), 310),
    (("黄", "huang"), 220),
    (("赵", "zhao"), 200),
    (("吴", "wu"), 180),
    (("周", "zhou"), 170),
    (("徐", "xu"), 130),
    (("孙", "sun"), 130),
    (("马", "ma"), 120),
    (("朱", "zhu"), 110),
    (("胡", "hu"), 100),
    (("郭", "guo"), 100),
    (("何", "he"), 90),
    (("高", "gao"), 90),
    (("林", "lin"), 90),
    (("罗", "luo"), 80),
    (("郑", "zheng"), 80),
    (("梁", "liang"), 70),
    (("谢", "xie"), 60),
    (("宋", "song"), 60),
    (("唐", "tang"), 50),
    (("许", "xu"), 50),
    (("韩", "han"), 50),
    (("冯", "feng"), 50),
    (("邓", "deng"), 50),
    (("曹", "cao"), 40),
    (("彭", "peng"), 40),
    (("曾", "zeng"), 40),
    (("萧", "xiao"), 30),
    (("欧阳", "ouyang"), 8),
    (("司马", "sima"), 3),
    (("诸葛", "zhuge"), 2),
];

/// Common whole given names with pinyin, weighted.
const GIVEN_NAMES: &[((&str, &str), u64)] = &[
    (("伟", "wei"), 300),
    (("芳", "fang"), 250),
    (("娜", "na"), 220),
    (("秀英", "xiuying"), 200),
    (("敏", "min"), 200),
    (("静", "jing"), 200),
    (("丽", "li"), 180),
    (("强", "qiang"), 180),
    (("磊", "lei"), 180),
    (("军", "jun"), 170),
    (("洋", "yang"), 160),
    (("勇", "yong"), 160),
    (("艳", "yan"), 150),
    (("杰", "jie"), 150),
    (("娟", "juan"), 140),
    (("涛", "tao"), 140),
    (("明", "ming"), 130),
    (("超", "chao"), 130),
    (("秀兰", "xiulan"), 120),
    (("霞", "xia"), 120),
    (("平", "ping"), 110),
    (("刚", "gang"), 110),
    (("桂英", "guiying"), 100),
    (("建华", "jianhua"), 90),
    (("志强", "zhiqiang"), 80),
    (("海燕", "haiyan"), 70),
];

/// Characters of the rarer two-character given names, with pinyin.
const GIVEN_CHARS: &[(&str, &str)] = &[
    ("子", "zi"),
    ("梓", "zi"),
    ("宇", "yu"),
    ("浩", "hao"),
    ("泽", "ze"),
    ("思", "si"),
    ("文", "wen"),
    ("博", "bo"),
    ("欣", "xin"),
    ("怡", "yi"),
    ("佳", "jia"),
    ("晨", "chen"),
    ("雨", "yu"),
    ("涵", "han"),
    ("俊", "jun"),
    ("嘉", "jia"),
    ("一", "yi"),
    ("诺", "nuo"),
    ("睿", "rui"),
    ("轩", "xuan"),
    ("婷", "ting"),
    ("萱", "xuan"),
    ("鑫", "xin"),
    ("宁", "ning"),
];

const LATIN_FIRST: &[&str] = &[
    "Michael", "David", "James", "John", "Robert", "Daniel", "Kevin", "Jason", "Eric", "Peter",
    "Sarah", "Emily", "Jessica", "Anna", "Linda", "Grace", "Lucy", "Sophie", "Thomas", "Mark",
];
const LATIN_LAST: &[&str] = &[
    "Smith", "Johnson", "Brown", "Miller", "Wilson", "Taylor", "Anderson", "Thomas", "Martin",
    "Walker", "Wright", "Green", "Hall", "Young", "Müller", "Schmidt", "Dubois", "Rossi", "Tanaka",
    "O'Brien",
];

/// Company brand (字号) and industry words, and legal forms.
const BRANDS: &[&str] = &[
    "华信", "恒达", "鼎盛", "博远", "天成", "宏图", "瑞丰", "中联", "金桥", "新元", "嘉禾", "汇通",
    "东方", "长江", "远航", "启明",
];
const INDUSTRIES: &[&str] = &[
    "科技",
    "贸易",
    "电子",
    "物流",
    "建材",
    "食品",
    "医疗器械",
    "信息技术",
    "咨询",
    "实业",
];
const LEGAL_FORMS: &[&str] = &["有限公司", "有限责任公司", "股份有限公司"];
/// City (province prefix included where people write it) and a road.
const CITIES: &[(&str, &str)] = &[
    ("上海市浦东新区", "世纪大道"),
    ("北京市朝阳区", "建国路"),
    ("广东省深圳市南山区", "科技园路"),
    ("广东省广州市天河区", "天河路"),
    ("浙江省杭州市西湖区", "文三路"),
    ("江苏省南京市鼓楼区", "中山路"),
    ("四川省成都市武侯区", "人民南路"),
    ("湖北省武汉市洪山区", "珞喻路"),
];
/// Mobile prefixes of the three carriers.
const MOBILE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
    "156", "157", "158", "159", "166", "176", "177", "178", "180", "181", "182", "183", "185",
    "186", "187", "188", "189", "191", "198", "199",
];
const MAIL_PROVIDERS: &[(&str, u64)] = &[
    ("qq.com", 35),
    ("163.com", 25),
    ("126.com", 10),
    ("sina.com", 5),
    ("139.com", 5),
    ("foxmail.com", 5),
    ("gmail.com", 8),
    ("outlook.com", 7),
];

/// A number in `0..modulus` unique to `key` (an affine map with a factor
/// prime to the modulus), so phones and mailboxes do not repeat.
fn scatter(key: u64, modulus: u64, factor: u64) -> u64 {
    (key.wrapping_mul(factor).wrapping_add(12_345)) % modulus
}

/// One true customer, as the generator knows it.
struct Customer {
    index: u64,
    /// The name as the CRM writes it (characters for Chinese names).
    name: String,
    /// The name as the shop writes it (pinyin or Latin for some).
    shop_name: String,
    /// The name's pinyin, or the Latin name, lowercase without spaces.
    latin: String,
    company: Option<String>,
    address: Option<String>,
    /// The 11-digit national mobile number, and a second one for some.
    mobile: String,
    second_mobile: Option<String>,
    email: String,
    /// Whether the CRM record carries the e-mail too.
    crm_has_email: bool,
    crm_orders: u64,
    shop_orders: u64,
}

impl Customer {
    fn draw(index: u64) -> Customer {
        let mut rng = SplitMix::for_customer(index);
        let (name, shop_name, latin, stem) = if rng.chance(8) {
            let first = *rng.pick(LATIN_FIRST);
            let last = *rng.pick(LATIN_LAST);
            let name = format!("{first} {last}");
            let stem = format!("{}.{}", first.to_lowercase(), ascii_lower(last));
            (
                name.clone(),
                name,
                ascii_lower(&format!("{first}{last}")),
                stem,
            )
        } else {
            let (surname, surname_pinyin) = *rng.weighted(SURNAMES);
            let (given, given_pinyin) = if rng.chance(55) {
                let (given, pinyin) = *rng.weighted(GIVEN_NAMES);
                (given.to_string(), pinyin.to_string())
            } else {
                let (a, a_pinyin) = *rng.pick(GIVEN_CHARS);
                let (b, b_pinyin) = *rng.pick(GIVEN_CHARS);
                (format!("{a}{b}"), format!("{a_pinyin}{b_pinyin}"))
            };
            let name = format!("{surname}{given}");
            let shop_name = if rng.chance(25) {
                format!(
                    "{} {}",
                    capitalized(&given_pinyin),
                    capitalized(surname_pinyin)
                )
            } else {
                name.clone()
            };
            let stem = if rng.chance(50) {
                format!("{surname_pinyin}{given_pinyin}")
            } else {
                format!("{given_pinyin}.{surname_pinyin}")
            };
            (
                name,
                shop_name,
                format!("{surname_pinyin}{given_pinyin}"),
                stem,
            )
        };
        let company = rng.chance(20).then(|| {
            let city = rng.pick(CITIES).0;
            let city = city.split('市').next().unwrap_or(city);
            let city = city.rsplit('省').next().unwrap_or(city);
            format!(
                "{city}{}{}{}",
                rng.pick(BRANDS),
                rng.pick(INDUSTRIES),
                rng.pick(LEGAL_FORMS)
            )
        });
        let address = rng.chance(60).then(|| {
            let (city, road) = *rng.pick(CITIES);
            format!("{city}{road}{}号", 1 + rng.below(999))
        });
        let mobile = format!(
            "{}{:08}",
            rng.pick(MOBILE_PREFIXES),
            scatter(index, 100_000_000, 48_213_907)
        );
        let second_mobile = rng.chance(15).then(|| {
            format!(
                "{}{:08}",
                rng.pick(MOBILE_PREFIXES),
                scatter(index, 100_000_000, 71_234_567)
            )
        });
        let provider = *rng.weighted(MAIL_PROVIDERS);
        let unique = scatter(index, 10_000_000, 7_654_321);
        let email = if provider == "qq.com" {
            format!("{}@qq.com", 100_000_000 + unique * 97 % 900_000_000)
        } else {
            match rng.below(3) {
                0 => format!("{stem}{}@{provider}", unique % 100_000),
                1 => format!("{stem}_{unique}@{provider}"),
                _ => format!("{stem}.{unique}@{provider}"),
            }
        };
        Customer {
            index,
            name,
            shop_name,
            latin,
            company,
            address,
            mobile,
            second_mobile,
            email,
            crm_has_email: rng.chance(60),
            crm_orders: rng.below(3),
            shop_orders: rng.below(5),
            // The order details are drawn by `orders`, from their own seed.
        }
    }

    fn crm_key(&self) -> PartyKey {
        PartyKey {
            connector: "crm".into(),
            source_id: format!("C{:08}", self.index),
        }
    }

    fn shop_key(&self) -> PartyKey {
        PartyKey {
            connector: "shop".into(),
            source_id: format!("7{:012}", self.index * 7 + 3),
        }
    }

    /// The golden id the pipeline would give the cluster: derived from its
    /// smallest member key.
    fn golden_id(&self) -> String {
        let digest = Sha256::digest(self.crm_key().to_string().as_bytes());
        format!("g_{}", &hex::encode(digest)[..16])
    }

    /// The two source records: the CRM types phones by hand, the shop keeps
    /// E.164 and always has the e-mail.
    fn parties(&self) -> [Party; 2] {
        let mut rng = SplitMix::for_customer(self.index ^ 0xC0FFEE);
        let (a, b, c) = (&self.mobile[..3], &self.mobile[3..7], &self.mobile[7..]);
        let typed = match rng.below(5) {
            0 => format!("{a} {b} {c}"),
            1 => format!("{a}-{b}-{c}"),
            2 => format!("+86 {}", self.mobile),
            _ => self.mobile.clone(),
        };
        let mut crm_phones = vec![typed];
        crm_phones.extend(self.second_mobile.clone());
        let updated = |days: u64| {
            Some(as_of() - chrono::Duration::days(days as i64) - chrono::Duration::minutes(17))
        };
        let crm = Party {
            connector: "crm".into(),
            source_id: self.crm_key().source_id,
            kind: if self.company.is_some() {
                PartyKind::Company
            } else {
                PartyKind::Person
            },
            name: Some(self.name.clone()),
            phones: crm_phones,
            emails: if self.crm_has_email {
                vec![self.email.clone()]
            } else {
                Vec::new()
            },
            company: self.company.clone(),
            address: self.address.clone(),
            attributes: BTreeMap::from([(
                "owner".to_string(),
                json!(format!("sales{:02}", self.index % 40)),
            )]),
            source_updated_at: updated(rng.below(700)),
            ..Party::default()
        };
        let shop = Party {
            connector: "shop".into(),
            source_id: self.shop_key().source_id,
            kind: PartyKind::Person,
            name: Some(self.shop_name.clone()),
            phones: vec![format!("+86{}", self.mobile)],
            emails: vec![self.email.clone()],
            attributes: BTreeMap::from([("accepts_marketing".to_string(), json!(rng.chance(40)))]),
            source_updated_at: updated(rng.below(700)),
            ..Party::default()
        };
        [crm, shop]
    }

    /// The orders in both systems, over the two years before [`AS_OF`].
    fn orders(&self) -> Vec<Order> {
        let mut rng = SplitMix::for_customer(self.index ^ 0x0DD5);
        let [crm, shop] = self.parties();
        let mut orders = Vec::new();
        for (party, count, prefix) in [
            (&crm, self.crm_orders, "SO"),
            (&shop, self.shop_orders, "#"),
        ] {
            for number in 0..count {
                orders.push(Order {
                    connector: party.connector.clone(),
                    source_id: format!("{prefix}{:08}{number}", self.index),
                    party_source_id: party.source_id.clone(),
                    amount: (2_000 + rng.below(400_000)) as f64 / 100.0,
                    currency: Some("CNY".into()),
                    status: match rng.below(100) {
                        0..=2 => OrderStatus::Refunded,
                        3..=5 => OrderStatus::Pending,
                        _ => OrderStatus::Paid,
                    },
                    ordered_at: as_of()
                        - chrono::Duration::minutes(rng.below(730 * 24 * 60) as i64),
                    number: None,
                    origin_number: None,
                });
            }
        }
        orders
    }

    /// The tier the shipped rules would roughly give, with a reason shaped
    /// like the segmenter's (the condition and the features it read).
    fn tier(&self, orders: &[Order], rules_version: &str) -> TierChange {
        let paid: Vec<&Order> = orders
            .iter()
            .filter(|order| order.status == OrderStatus::Paid)
            .collect();
        let recency_days = paid
            .iter()
            .map(|order| (as_of() - order.ordered_at).num_days())
            .min();
        let year: Vec<&&Order> = paid
            .iter()
            .filter(|order| (as_of() - order.ordered_at).num_days() <= 365)
            .collect();
        let spend_365d: f64 = year.iter().map(|order| order.amount).sum();
        let spend_total: f64 = paid.iter().map(|order| order.amount).sum();
        let (tier, rule, when) = match recency_days {
            Some(days) if days > 180 => (
                "dormant-at-risk",
                "gone quiet",
                r#"lifecycle in ["dormant", "churned"]"#,
            ),
            Some(days) if spend_365d >= 20_000.0 && days <= 90 => (
                "high-value",
                "large spend this year",
                "spend_365d >= 20000 and recency_days <= 90",
            ),
            _ if year.len() >= 2 => ("developing", "repeat buyer", "orders_365d >= 2"),
            _ => ("new-low-value", "default", ""),
        };
        TierChange {
            from_tier: None,
            assignment: TierAssignment {
                golden_id: self.golden_id(),
                tier: tier.into(),
                rule: rule.into(),
                reason: json!({
                    "when": when,
                    "features": {
                        "orders_total": paid.len(),
                        "orders_365d": year.len(),
                        "spend_total": (spend_total * 100.0).round() / 100.0,
                        "spend_365d": (spend_365d * 100.0).round() / 100.0,
                        "recency_days": recency_days,
                    },
                }),
                rules_version: rules_version.into(),
                assigned_at: as_of() + chrono::Duration::hours(3),
            },
        }
    }
}

fn as_of() -> DateTime<Utc> {
    let (year, month, day) = AS_OF;
    Utc.with_ymd_and_hms(year, month, day, 0, 0, 0).unwrap()
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Lowercase ASCII letters only (`O'Brien` → `obrien`, `Müller` → `mller`).
fn ascii_lower(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

// ---------------------------------------------------------------------------
// The store

/// Where built stores are kept: `$CARGO_TARGET_DIR/bench-api`, else the
/// repository's `target/bench-api`.
fn cache_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("bench-api")
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Stages `records` of one connector's stream and maps them as the pipeline
/// does: read back as pending, decoded into entities, saved as mapped.
async fn stage_and_map<T: serde::Serialize>(
    store: &dyn Store,
    run_id: i64,
    connector: &str,
    stream: &str,
    records: &[(String, T)],
    decode: fn(Value) -> Result<Entity, String>,
) {
    if records.is_empty() {
        return;
    }
    let batch = StagedBatch {
        records: records
            .iter()
            .map(|(source_id, entity)| SourceRecord {
                source_id: source_id.clone(),
                raw: serde_json::to_value(entity).expect("entity as JSON"),
            })
            .collect(),
        ..StagedBatch::default()
    };
    store
        .stage_batch(run_id, connector, stream, &batch)
        .await
        .expect("staging records");
    // Batches are written from the highest source ids down, so the pending
    // records are always the first in source-id order.
    let pending = store
        .pending_mapping(connector, stream, "bench-v1", records.len() as i64)
        .await
        .expect("pending records");
    assert_eq!(
        pending.len(),
        records.len(),
        "every staged record is pending"
    );
    let mapped: Vec<MappedRecord> = pending
        .into_iter()
        .map(|staged| MappedRecord {
            outcome: decode(staged.raw.clone()),
            source_id: staged.source_id,
            content_hash: staged.content_hash,
            raw: staged.raw,
        })
        .collect();
    store
        .save_mapped(run_id, connector, stream, "bench-v1", &mapped)
        .await
        .expect("saving mapped records");
}

/// Time spent in each part of the build.
#[derive(Default)]
struct BuildTimes {
    records: Duration,
    golden: Duration,
    tiers: Duration,
}

/// Builds the store of `customers` customers at `path`, batch by batch.
async fn build_store(path: &Path, customers: u64, rules_version: &str) {
    let store = store::open(&sqlite_url(path), Path::new("."))
        .await
        .expect("a new store");
    let run_id = store.start_run("bench").await.expect("a run");
    let rules = SurvivorshipRules::default();
    let no_pins = BTreeMap::new();
    let started = Instant::now();
    let mut times = BuildTimes::default();
    let mut orders_written = 0u64;
    let mut done = 0u64;
    // From the highest index down: see `stage_and_map`.
    let mut end = customers;
    while end > 0 {
        let start = end.saturating_sub(BATCH);
        let batch: Vec<Customer> = (start..end).map(Customer::draw).collect();

        let step = Instant::now();
        let mut parties: BTreeMap<&str, Vec<(String, Party)>> = BTreeMap::new();
        let mut orders: BTreeMap<String, Vec<(String, Order)>> = BTreeMap::new();
        let mut all_orders = Vec::with_capacity(batch.len());
        for customer in &batch {
            for party in customer.parties() {
                let connector = if party.connector == "crm" {
                    "crm"
                } else {
                    "shop"
                };
                parties
                    .entry(connector)
                    .or_default()
                    .push((party.source_id.clone(), party));
            }
            let customer_orders = customer.orders();
            for order in &customer_orders {
                orders
                    .entry(order.connector.clone())
                    .or_default()
                    .push((order.source_id.clone(), order.clone()));
            }
            orders_written += customer_orders.len() as u64;
            all_orders.push(customer_orders);
        }
        for (connector, records) in &parties {
            stage_and_map(
                store.as_ref(),
                run_id,
                connector,
                "customers",
                records,
                |raw| {
                    serde_json::from_value(raw)
                        .map(Entity::Party)
                        .map_err(|error| error.to_string())
                },
            )
            .await;
        }
        for (connector, records) in &orders {
            stage_and_map(
                store.as_ref(),
                run_id,
                connector,
                "orders",
                records,
                |raw| {
                    serde_json::from_value(raw)
                        .map(Entity::Order)
                        .map_err(|error| error.to_string())
                },
            )
            .await;
        }
        times.records += step.elapsed();

        let step = Instant::now();
        let mut changes = ResolutionChanges::default();
        for customer in &batch {
            let golden_id = customer.golden_id();
            let members = customer.parties();
            let golden = survive(&golden_id, &[&members[0], &members[1]], &rules, &no_pins);
            let mut shared_keys = vec![format!("phone:+86{}", customer.mobile)];
            if customer.crm_has_email {
                shared_keys.insert(0, format!("email:{}", customer.email.to_lowercase()));
            }
            for party in &members {
                changes.links.push(GoldenLink {
                    party: party.key(),
                    golden_id: golden_id.clone(),
                    evidence: LinkEvidence {
                        shared_keys: shared_keys.clone(),
                        ..LinkEvidence::default()
                    },
                });
            }
            changes.upserted.push(golden);
        }
        store
            .save_resolution(&changes)
            .await
            .expect("saving golden customers");
        times.golden += step.elapsed();

        let step = Instant::now();
        let tiers: Vec<TierChange> = batch
            .iter()
            .zip(&all_orders)
            .map(|(customer, orders)| customer.tier(orders, rules_version))
            .collect();
        store.save_tier_changes(&tiers).await.expect("saving tiers");
        times.tiers += step.elapsed();

        done += batch.len() as u64;
        end = start;
        if done % 50_000 == 0 || end == 0 {
            let seconds = started.elapsed().as_secs_f64();
            eprintln!(
                "store: {done}/{customers} customers, {orders_written} orders, {seconds:.0} s \
                 (records {:.0} s, golden {:.0} s, tiers {:.0} s), about {:.0} s left",
                times.records.as_secs_f64(),
                times.golden.as_secs_f64(),
                times.tiers.as_secs_f64(),
                seconds / done as f64 * (customers - done) as f64,
            );
        }
    }
    store
        .finish_run(run_id, "succeeded", &json!({ "bench": "api" }))
        .await
        .expect("finishing the run");
    println!(
        "built the store of {customers} customers ({} source records, {orders_written} orders) \
         in {:.0} s: staging and mapping {:.0} s, golden customers, links and search index {:.0} s, \
         tiers {:.0} s",
        customers * 2,
        started.elapsed().as_secs_f64(),
        times.records.as_secs_f64(),
        times.golden.as_secs_f64(),
        times.tiers.as_secs_f64(),
    );
}

/// The store of `customers` customers, built unless a complete one is kept.
fn ensure_store(runtime: &tokio::runtime::Runtime, customers: u64, rules_version: &str) -> PathBuf {
    let dir = cache_dir();
    std::fs::create_dir_all(&dir).expect("the cache folder");
    let path = dir.join(format!("store-{customers}.db"));
    let complete = dir.join(format!("store-{customers}.complete"));
    if complete.exists() && path.exists() {
        println!("using the store built earlier: {}", path.display());
        return path;
    }
    for suffix in ["", "-wal", "-shm"] {
        let stale = PathBuf::from(format!("{}{suffix}", path.display()));
        if stale.exists() {
            std::fs::remove_file(&stale).expect("removing an unfinished store");
        }
    }
    eprintln!(
        "building the store at {} (kept for later runs)",
        path.display()
    );
    runtime.block_on(build_store(&path, customers, rules_version));
    std::fs::write(&complete, format!("{}\n", Utc::now().to_rfc3339())).expect("marker");
    path
}

// ---------------------------------------------------------------------------
// The service

/// A project folder for the store: no connectors, the shipped tier rules
/// and two tokens.
fn project_for(store_path: &Path, customers: u64) -> Project {
    let dir = cache_dir().join(format!("project-{customers}"));
    for folder in ["connectors", "mappings"] {
        std::fs::create_dir_all(dir.join(folder)).expect("project folders");
    }
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tiers.toml"),
        dir.join("tiers.toml"),
    )
    .expect("copying tiers.toml");
    std::fs::write(
        dir.join("tierlink.toml"),
        format!(
            "[store]\nurl = {:?}\n\n[segment]\nas_of = \"2026-11-01\"\n",
            sqlite_url(store_path)
        ),
    )
    .expect("tierlink.toml");
    let mut project = Project::load(&dir.join("tierlink.toml"))
        .unwrap_or_else(|problems| panic!("the bench project loads: {problems}"));
    for (name, role, token) in [
        ("vic", Role::Viewer, VIEWER),
        ("lin", Role::Steward, STEWARD),
    ] {
        project.settings.server.tokens.push(TokenSettings {
            name: name.into(),
            role,
            sha256: token_digest(token),
        });
    }
    project
}

/// Starts the service on `runtime` on an ephemeral port; returns its base
/// URL and the store it serves.
fn start_service(runtime: &tokio::runtime::Runtime, project: Project) -> (String, Arc<dyn Store>) {
    runtime.block_on(async move {
        let store = store::open(&project.settings.store.url, &project.base_dir)
            .await
            .expect("the store opens");
        let state = AppState::new(project, store.clone(), Clock::System).expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            // Runs until the process ends.
            service::serve(state, listener, std::future::pending())
                .await
                .expect("the service runs");
        });
        (base, store)
    })
}

// ---------------------------------------------------------------------------
// The load

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    View,
    Name,
    Phone,
    Email,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::View, Kind::Name, Kind::Phone, Kind::Email];

    fn label(self) -> &'static str {
        match self {
            Kind::View => "360 view `GET /api/v1/customers/{id}`",
            Kind::Name => "search by name prefix (2 characters)",
            Kind::Phone => "search by phone prefix (7 digits)",
            Kind::Email => "search by e-mail (`local-part@`)",
        }
    }
}

/// One request to make: its kind, path and query, and token.
struct Planned {
    kind: Kind,
    path: String,
    query: Option<String>,
    token: &'static str,
}

/// The `number`-th request of the run: a random customer, and a kind by
/// the mix (`view_share` percent views, the rest split between searches).
fn plan_request(number: u64, customers: u64, view_share: u64) -> Planned {
    let mut rng = SplitMix(0xA11_0AD ^ number.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let customer = Customer::draw(rng.below(customers));
    let token = if rng.chance(50) { VIEWER } else { STEWARD };
    let kind = if rng.below(100) < view_share {
        Kind::View
    } else {
        [Kind::Name, Kind::Phone, Kind::Email][rng.below(3) as usize]
    };
    let query = match kind {
        Kind::View => None,
        Kind::Name => {
            let source = if rng.chance(50) {
                &customer.name
            } else {
                &customer.latin
            };
            Some(source.chars().take(2).collect())
        }
        Kind::Phone => Some(customer.mobile[..7].to_string()),
        Kind::Email => {
            let local = customer.email.split('@').next().unwrap_or_default();
            Some(format!("{local}@"))
        }
    };
    let path = match kind {
        Kind::View => format!("/api/v1/customers/{}", customer.golden_id()),
        _ => "/api/v1/customers".to_string(),
    };
    Planned {
        kind,
        path,
        query,
        token,
    }
}

/// What one request measured.
struct Outcome {
    kind: Kind,
    /// From the scheduled send time to the whole body read.
    latency: Duration,
    /// The HTTP status, or `None` when the request failed.
    status: Option<u16>,
    /// Customers a search returned.
    hits: usize,
    /// What went wrong, for a failed request: the status and the error the
    /// service gave, or why no answer came.
    error: Option<String>,
    /// When the answer was complete, since the start of the measured load.
    finished: Duration,
}

/// Sends one request and reads the whole answer: the status, the customers
/// a search found, and what went wrong if anything did.
async fn send(
    client: &reqwest::Client,
    base: &str,
    planned: &Planned,
) -> (Option<u16>, usize, Option<String>) {
    let mut request = client
        .get(format!("{base}{}", planned.path))
        .bearer_auth(planned.token);
    if let Some(query) = &planned.query {
        request = request.query(&[("q", query)]);
    }
    let failed = |error: reqwest::Error| {
        let why = if error.is_timeout() {
            format!("no answer within {} s", CLIENT_TIMEOUT.as_secs())
        } else {
            format!("request failed: {error}")
        };
        (None, 0, Some(why))
    };
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return failed(error),
    };
    let status = response.status().as_u16();
    let body = match response.bytes().await {
        Ok(body) => body,
        Err(error) => return failed(error),
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if status != 200 {
        let message = body["error"].as_str().unwrap_or("(no message)");
        return (Some(status), 0, Some(format!("{status}: {message}")));
    }
    let hits = body["customers"].as_array().map_or(0, Vec::len);
    (Some(status), hits, None)
}

/// Sends `rate` requests a second for `warmup + seconds`, open loop, and
/// returns the outcomes of those scheduled after the warm-up.
async fn run_load(
    base: String,
    customers: u64,
    view_share: u64,
    rate: f64,
    warmup: f64,
    seconds: f64,
) -> (Vec<Outcome>, Duration) {
    let client = reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .expect("an HTTP client");
    let base: Arc<str> = base.into();
    let warmup_requests = (warmup * rate).round() as u64;
    let total = warmup_requests + (seconds * rate).round() as u64;
    let start = tokio::time::Instant::now() + Duration::from_millis(200);
    let measured_from = start + Duration::from_secs_f64(warmup_requests as f64 / rate);
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let mut late = Duration::ZERO;
    for number in 0..total {
        let scheduled = start + Duration::from_secs_f64(number as f64 / rate);
        tokio::time::sleep_until(scheduled).await;
        late = late.max(scheduled.elapsed());
        let planned = plan_request(number, customers, view_share);
        let (client, base, sender) = (client.clone(), base.clone(), sender.clone());
        let counted = number >= warmup_requests;
        tokio::spawn(async move {
            let (status, hits, error) = send(&client, &base, &planned).await;
            let now = tokio::time::Instant::now();
            if counted {
                sender
                    .send(Outcome {
                        kind: planned.kind,
                        latency: now - scheduled,
                        status,
                        hits,
                        error,
                        finished: now - measured_from,
                    })
                    .ok();
            }
        });
        if number + 1 == warmup_requests {
            eprintln!("warm-up done; measuring for {seconds} s");
        }
    }
    drop(sender);
    let mut outcomes = Vec::new();
    while let Some(outcome) = receiver.recv().await {
        outcomes.push(outcome);
    }
    (outcomes, late)
}

fn millis(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// The nearest-rank percentile of sorted latencies.
fn percentile(sorted: &[Duration], share: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (share * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The Markdown table of the outcomes, per kind, all searches, and all.
fn report(outcomes: &[Outcome], seconds: f64) -> String {
    let mut table = String::from(
        "| request | count | errors | p50 | p90 | p99 | max | achieved rate | customers found (mean of answers) |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    let groups: Vec<(String, Vec<Kind>)> = Kind::ALL
        .iter()
        .map(|kind| (kind.label().to_string(), vec![*kind]))
        .chain([
            (
                "all searches".to_string(),
                vec![Kind::Name, Kind::Phone, Kind::Email],
            ),
            ("**all requests**".to_string(), Kind::ALL.to_vec()),
        ])
        .collect();
    for (label, kinds) in groups {
        let chosen: Vec<&Outcome> = outcomes
            .iter()
            .filter(|outcome| kinds.contains(&outcome.kind))
            .collect();
        if chosen.is_empty() {
            continue;
        }
        let mut latencies: Vec<Duration> = chosen.iter().map(|outcome| outcome.latency).collect();
        latencies.sort();
        let errors = chosen
            .iter()
            .filter(|outcome| outcome.status != Some(200))
            .count();
        // Answers over the time from the first scheduled request to the
        // last answer (at least the planned duration).
        let span = chosen
            .iter()
            .map(|outcome| outcome.finished.as_secs_f64())
            .fold(seconds, f64::max);
        let searches = kinds.iter().all(|kind| *kind != Kind::View);
        let answered = chosen.len() - errors;
        let hits = if searches && answered > 0 {
            format!(
                "{:.1}",
                chosen.iter().map(|outcome| outcome.hits).sum::<usize>() as f64 / answered as f64
            )
        } else {
            String::new()
        };
        table.push_str(&format!(
            "| {label} | {} | {errors} | {} | {} | {} | {} | {:.1}/s | {hits} |\n",
            chosen.len(),
            millis(percentile(&latencies, 0.50)),
            millis(percentile(&latencies, 0.90)),
            millis(percentile(&latencies, 0.99)),
            millis(latencies.last().copied().unwrap_or_default()),
            chosen.len() as f64 / span,
        ));
    }
    let mut errors: BTreeMap<&str, usize> = BTreeMap::new();
    for error in outcomes
        .iter()
        .filter_map(|outcome| outcome.error.as_deref())
    {
        *errors.entry(error).or_default() += 1;
    }
    if !errors.is_empty() {
        table.push_str("\nFailed requests:\n");
        for (error, count) in errors {
            table.push_str(&format!("- {count} × {error}\n"));
        }
    }
    table
}

// ---------------------------------------------------------------------------
// Where the time goes

/// Times each store call a search and the 360 view make, one at a time
/// and without load, for `samples` customers; prints the median and the
/// slowest of each.
async fn breakdown(store: &dyn Store, customers: u64, samples: u64) {
    let mut calls: Vec<(&str, Vec<Duration>)> = Vec::new();
    let mut add = |call: &'static str, since: Instant| {
        let elapsed = since.elapsed();
        match calls.iter_mut().find(|(name, _)| *name == call) {
            Some((_, times)) => times.push(elapsed),
            None => calls.push((call, vec![elapsed])),
        }
    };
    let mut rng = SplitMix(0xB4EA_CD0E);
    for _ in 0..samples {
        let customer = Customer::draw(rng.below(customers));
        let golden_id = customer.golden_id();
        let local = customer.email.split('@').next().unwrap_or_default();
        // Untimed: the first query after the previous customer's
        // full-table reads pays for them (freeing and paging, about 0.5 s).
        store.golden_customer(&golden_id).await.expect("customer");
        for (call, query) in [
            (
                "search: name, 2 characters",
                customer.name.chars().take(2).collect(),
            ),
            (
                "search: pinyin, 2 letters",
                customer.latin.chars().take(2).collect(),
            ),
            ("search: phone, 7 digits", customer.mobile[..7].to_string()),
            ("search: e-mail `local-part@`", format!("{local}@")),
        ] {
            let prefix = query_prefix(&query).expect("a prefix");
            let since = Instant::now();
            store
                .search_customers(Some(&prefix), None, 50)
                .await
                .expect("search");
            add(call, since);
        }

        // The calls of `steward::customer_view`, in its order.
        let since = Instant::now();
        let record = store
            .golden_id_record(&golden_id)
            .await
            .expect("golden id")
            .expect("a stored golden id");
        assert_eq!(record.status, "active", "{golden_id} is active");
        add("view: golden_id_record (its status)", since);
        let since = Instant::now();
        let members: Vec<PartyKey> = store
            .golden_members(&golden_id)
            .await
            .expect("members")
            .into_iter()
            .map(|link| link.party)
            .collect();
        add("view: golden_members", since);
        let since = Instant::now();
        store.golden_customer(&golden_id).await.expect("customer");
        add("view: golden_customer (fields, lineage)", since);
        let since = Instant::now();
        store.golden_members(&golden_id).await.expect("evidence");
        add("view: golden_members again (evidence)", since);
        let since = Instant::now();
        let parties = store.parties_by_keys(&members).await.expect("parties");
        add("view: parties_by_keys", since);
        let phones: BTreeSet<String> = parties
            .iter()
            .flat_map(|party| party.phones.iter().cloned())
            .chain([customer.mobile.clone(), format!("+86{}", customer.mobile)])
            .collect();
        let phones: Vec<String> = phones.into_iter().collect();
        let since = Instant::now();
        let activity = store
            .customer_activity(&members, &phones)
            .await
            .expect("activity");
        add(
            "view: customer_activity (raw records, orders, tickets, messages, calls)",
            since,
        );
        assert_eq!(
            activity.orders.len() as u64,
            customer.crm_orders + customer.shop_orders
        );
        let since = Instant::now();
        store.decisions().await.expect("decisions");
        add("view: decisions (every decision)", since);
        let since = Instant::now();
        let tier = store.tier_assignment(&golden_id).await.expect("tier");
        assert!(tier.is_some(), "{golden_id} has a tier");
        add("view: tier_assignment", since);
        let since = Instant::now();
        store.tier_history(&golden_id).await.expect("history");
        add("view: tier_history", since);
        let since = Instant::now();
        store.id_lineage(&golden_id).await.expect("lineage");
        add("view: id_lineage", since);
    }
    println!(
        "\nStore calls of a search and of the 360 view, one at a time without load \
         ({samples} customers):\n\n| call | median | slowest |\n|---|---|---|"
    );
    for (call, mut times) in calls {
        times.sort();
        println!(
            "| {call} | {} | {} |",
            millis(percentile(&times, 0.5)),
            millis(times[times.len() - 1])
        );
    }
}

fn main() {
    let customers = env_number("API_CUSTOMERS", 1_000_000.0) as u64;
    let rate = env_number("API_RATE", 200.0);
    let seconds = env_number("API_SECONDS", 60.0);
    let warmup = env_number("API_WARMUP", 5.0);
    let samples = env_number("API_BREAKDOWN", 5.0) as u64;
    let view_share = (env_number("API_VIEW_SHARE", 40.0) as u64).min(100);
    assert!(customers > 0 && rate > 0.0, "sizes must be positive");

    // The service gets a multi-threaded runtime of its own, as
    // `tierlink serve` has; the load generator runs on this thread.
    let server = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the service runtime");
    let rules = tierlink::segment::TierRules::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tiers.toml"),
        &[],
    )
    .expect("the shipped tiers.toml loads");
    let store_path = ensure_store(&server, customers, &rules.version);
    let size = std::fs::metadata(&store_path).map_or(0, |meta| meta.len());
    println!(
        "store: {} ({:.2} GB)",
        store_path.display(),
        size as f64 / 1e9
    );
    let (base, store) = start_service(&server, project_for(&store_path, customers));
    println!(
        "service on {base}; {rate} requests/s for {seconds} s after {warmup} s of warm-up, \
         open loop ({view_share}% 360 views, the rest searches)"
    );

    if seconds <= 0.0 {
        // No load: only the store calls, e.g. to check a fix.
        server.block_on(breakdown(store.as_ref(), customers, samples.max(1)));
        return;
    }
    let load = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the load runtime");
    let (outcomes, late) =
        load.block_on(run_load(base, customers, view_share, rate, warmup, seconds));
    println!(
        "\n{} customers, {rate} requests/s for {seconds} s (latest send {} after its time):\n",
        customers,
        millis(late)
    );
    println!("{}", report(&outcomes, seconds));

    if samples > 0 {
        if outcomes.iter().any(|outcome| outcome.status != Some(200)) {
            // Let the service finish or drop what it still works on.
            std::thread::sleep(Duration::from_secs(10));
        }
        server.block_on(breakdown(store.as_ref(), customers, samples));
    }
}
