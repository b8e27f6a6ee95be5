//! The presets in `connectors/presets/` and `mappings/presets/`, installed
//! into a project as a user would (only base URLs, paths and credentials
//! changed) and synced end to end: CDR files from disk, and the WeCom,
//! Shopify, Zendesk and Odoo presets against their simulators over real HTTP,
//! including under faults and with a token that expires mid-sync.

use std::path::Path;
use std::sync::{Arc, Once};

use indicatif::ProgressBar;
use sqlx::Row;
use tierlink::config::Project;
use tierlink::pipeline;
use tierlink::presets;
use tierlink::store::{self, Store};

/// The credentials every preset reads from the environment, set once for
/// this test process (the values are the simulators' test credentials).
pub const PRESET_ENV: &[(&str, &str)] = &[
    ("WECOM_CORP_ID", "ww-test-corp"),
    ("WECOM_SECRET", "wecom-test-secret"),
    ("SHOPIFY_ACCESS_TOKEN", "shpat_test_token"),
    ("ZENDESK_EMAIL", "admin@example.com"),
    ("ZENDESK_API_TOKEN", "zendesk-test-token"),
    ("ODOO_DB", "tierlink"),
    ("ODOO_UID", "2"),
    ("ODOO_API_KEY", "odoo-test-key"),
    ("ASTERISK_CDR_DIR", "/nonexistent/asterisk"),
    ("FREESWITCH_CDR_DIR", "/nonexistent/freeswitch"),
    ("ERP_DATABASE_URL", "mysql://reader@127.0.0.1:3306/erp"),
];

pub fn set_preset_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (name, value) in PRESET_ENV {
            std::env::set_var(name, value);
        }
    });
}

/// A project folder with the given connectors (id, connector text, mapping
/// text), the repository's tier rules and a SQLite store inside it.
pub fn project_with(connectors: &[(&str, String, String)]) -> tempfile::TempDir {
    set_preset_env();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("connectors")).unwrap();
    std::fs::create_dir_all(dir.path().join("mappings")).unwrap();
    std::fs::write(
        dir.path().join("tierlink.toml"),
        "[store]\nurl = \"sqlite://tierlink.db\"\n[segment]\nas_of = \"2026-11-01\"\n",
    )
    .unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(repo.join("tiers.toml"), dir.path().join("tiers.toml")).unwrap();
    for (id, connector, mapping) in connectors {
        std::fs::write(dir.path().join(format!("connectors/{id}.toml")), connector).unwrap();
        std::fs::write(dir.path().join(format!("mappings/{id}.toml")), mapping).unwrap();
    }
    dir
}

pub fn load(dir: &Path) -> Project {
    Project::load(&dir.join("tierlink.toml")).unwrap_or_else(|problems| panic!("{problems}"))
}

pub async fn open_store(project: &Project) -> Arc<dyn Store> {
    store::open(&project.settings.store.url, &project.base_dir)
        .await
        .unwrap()
}

/// Syncs one connector and maps its records; panics with the report when
/// anything failed.
pub async fn sync(project: &Project, store: &Arc<dyn Store>, id: &str) -> pipeline::RunReport {
    let report = pipeline::run_sync(project, store, id, false, &ProgressBar::hidden())
        .await
        .unwrap();
    assert!(report.succeeded(), "{id}: {report:?}");
    report
}

/// `SELECT count(*)` of a table's rows from one connector, read straight
/// from the project's SQLite file.
pub async fn count(dir: &Path, table: &str, connector: &str) -> i64 {
    let url = format!("sqlite://{}", dir.join("tierlink.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let row = sqlx::query(&format!(
        "SELECT count(*) AS n FROM {table} WHERE connector = $1"
    ))
    .bind(connector)
    .fetch_one(&pool)
    .await
    .unwrap();
    row.get::<i64, _>("n")
}

#[test]
fn every_preset_loads_as_a_project_once_its_variables_are_set() {
    let installed: Vec<(&str, String, String)> = presets::PRESETS
        .iter()
        .map(|preset| {
            (
                preset.id,
                preset.connector.to_string(),
                preset.mapping.to_string(),
            )
        })
        .collect();
    let dir = project_with(&installed);
    let project = load(dir.path());
    let ids: Vec<&str> = project.connectors.iter().map(|c| c.id.as_str()).collect();
    let mut expected: Vec<&str> = presets::PRESETS.iter().map(|p| p.id).collect();
    expected.sort();
    assert_eq!(ids, expected);
}

const ASTERISK_WITH_UNIQUEID: &str = "\
\"\",\"13800138000\",\"8001\",\"from-trunk\",\"\"\"张三\"\" <13800138000>\",\"SIP/trunk-00000012\",\"SIP/8001-00000013\",\"Dial\",\"SIP/8001,30\",\"2024-05-03 10:00:01\",\"2024-05-03 10:00:09\",\"2024-05-03 10:04:11\",250,242,\"ANSWERED\",\"DOCUMENTATION\",\"1714730401.18\",\"\"
\"\",\"+86 139 0013 9000\",\"8002\",\"from-trunk\",\"\"\"\"\" <+86 139 0013 9000>\",\"SIP/trunk-00000014\",\"\",\"Dial\",\"SIP/8002,30\",\"2024-05-03 11:00:00\",,\"2024-05-03 11:00:30\",30,0,\"NO ANSWER\",\"DOCUMENTATION\",\"1714734000.20\",\"\"
";

const ASTERISK_DEFAULT_COLUMNS: &str = "\
\"\",\"013700137000\",\"8003\",\"from-trunk\",\"\"\"\"\" <013700137000>\",\"SIP/trunk-00000020\",\"SIP/8003-00000021\",\"Dial\",\"SIP/8003,30\",\"2024-05-04 09:30:00\",\"2024-05-04 09:30:05\",\"2024-05-04 09:31:05\",65,60,\"ANSWERED\",\"DOCUMENTATION\"
";

#[tokio::test]
async fn the_asterisk_preset_reads_master_csv_with_and_without_uniqueid_and_follows_it() {
    let cdr = tempfile::tempdir().unwrap();
    let master = cdr.path().join("Master.csv");
    std::fs::write(&master, ASTERISK_WITH_UNIQUEID).unwrap();
    let preset = presets::find("asterisk").unwrap();
    let connector = presets::customize(
        preset.connector,
        &[(
            "${ASTERISK_CDR_DIR}",
            cdr.path().to_str().expect("a UTF-8 temp path"),
        )],
    )
    .unwrap();
    let dir = project_with(&[("asterisk", connector, preset.mapping.to_string())]);
    let project = load(dir.path());
    let store = open_store(&project).await;
    sync(&project, &store, "asterisk").await;
    assert_eq!(count(dir.path(), "calls", "asterisk").await, 2);

    // Asterisk appends; a PBX without loguniqueid writes 16 columns.
    let mut appended = ASTERISK_WITH_UNIQUEID.to_string();
    appended.push_str(ASTERISK_DEFAULT_COLUMNS);
    std::fs::write(&master, appended).unwrap();
    let report = sync(&project, &store, "asterisk").await;
    assert_eq!(count(dir.path(), "calls", "asterisk").await, 3);
    let fetched: u64 = report.sync["asterisk"]
        .values()
        .map(|counts| counts.fetched)
        .sum();
    assert_eq!(fetched, 1, "only the appended row is read");
    assert_eq!(count(dir.path(), "rejected_records", "asterisk").await, 0);

    let url = format!("sqlite://{}", dir.path().join("tierlink.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let rows = sqlx::query(
        "SELECT caller, direction, talk_seconds, disposition FROM calls ORDER BY started_at",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let calls: Vec<(String, String, i64, String)> = rows
        .iter()
        .map(|row| {
            (
                row.get("caller"),
                row.get("direction"),
                row.get("talk_seconds"),
                row.get("disposition"),
            )
        })
        .collect();
    assert_eq!(
        calls,
        [
            (
                "13800138000".into(),
                "inbound".into(),
                242,
                "ANSWERED".into()
            ),
            (
                "+86 139 0013 9000".into(),
                "inbound".into(),
                0,
                "NO ANSWER".into()
            ),
            (
                "013700137000".into(),
                "inbound".into(),
                60,
                "ANSWERED".into()
            ),
        ]
    );
}

#[tokio::test]
async fn the_freeswitch_preset_reads_its_example_template() {
    let cdr = tempfile::tempdir().unwrap();
    std::fs::write(
        cdr.path().join("Master.csv"),
        "\"张三\",\"13800138000\",\"8001\",\"public\",\"2024-05-03 10:00:01\",\"2024-05-03 10:00:09\",\"2024-05-03 10:04:11\",\"250\",\"242\",\"NORMAL_CLEARING\",\"a1b2c3d4-0000-4000-8000-000000000001\",\"\",\"\",\"PCMA\",\"PCMA\"\n\
         \"\",\"0755-12345678\",\"8002\",\"public\",\"2024-05-03 11:00:00\",\"\",\"2024-05-03 11:00:20\",\"20\",\"0\",\"NO_ANSWER\",\"a1b2c3d4-0000-4000-8000-000000000002\",\"\",\"\",\"PCMA\",\"PCMA\"\n",
    )
    .unwrap();
    let preset = presets::find("freeswitch").unwrap();
    let connector = presets::customize(
        preset.connector,
        &[("${FREESWITCH_CDR_DIR}", cdr.path().to_str().unwrap())],
    )
    .unwrap();
    let dir = project_with(&[("freeswitch", connector, preset.mapping.to_string())]);
    let project = load(dir.path());
    let store = open_store(&project).await;
    sync(&project, &store, "freeswitch").await;
    assert_eq!(count(dir.path(), "calls", "freeswitch").await, 2);
    assert_eq!(count(dir.path(), "rejected_records", "freeswitch").await, 0);
}

// ---- Against the simulators, over real HTTP ----

use serde_json::{json, Value};
use tierlink::simulators::{shopify, wecom, FaultConfig, FaultKind, RunningSimulator};

const LOOPBACK: &str = "127.0.0.1:0";

/// Faults on a fifth of all requests, of every kind, with short slow answers.
pub fn a_fifth_of_requests_fail(seed: u64) -> FaultConfig {
    FaultConfig {
        rate: 0.2,
        kinds: vec![
            FaultKind::RateLimit,
            FaultKind::BodyRateLimit,
            FaultKind::ServerError,
            FaultKind::Slow,
        ],
        slow_ms: 100,
        seed,
    }
}

/// Parties of a connector in the project's store.
async fn party_ids(store: &Arc<dyn Store>, connector: &str) -> Vec<String> {
    let mut ids: Vec<String> = store
        .parties()
        .await
        .unwrap()
        .into_iter()
        .filter(|stored| stored.party.connector == connector)
        .map(|stored| stored.party.source_id)
        .collect();
    ids.sort();
    ids
}

/// A corp whose `contacts` customers are followed by one to three of five
/// members, so `batch/get_by_user` returns several rows per customer and
/// pages through more than 100 rows per member.
fn wecom_corp(contacts: usize) -> wecom::WecomData {
    let members = ["zhangsan", "lisi", "wangwu", "zhaoliu", "qianqi"];
    let contacts = (0..contacts)
        .map(|index| {
            let followers = 1 + index % 3;
            let follow_info: Vec<Value> = (0..followers)
                .map(|offset| {
                    json!({
                        "userid": members[(index + offset) % members.len()],
                        "remark": format!("客户{index}"),
                        "createtime": 1_700_000_000 + index as i64,
                        "tag_id": [],
                        // Each member noted another number.
                        "remark_mobiles": [format!("13{} {:04} {:04}", 8 - offset, index / 10_000, index % 10_000)],
                        "add_way": 1,
                        "oper_userid": members[(index + offset) % members.len()],
                    })
                })
                .collect();
            json!({
                "external_contact": {
                    "external_userid": format!("wm{index:028}"),
                    "name": format!("客户{index}"),
                    "type": 1 + (index % 2),
                    "gender": 1,
                    "corp_name": "腾讯",
                    "corp_full_name": "腾讯科技（深圳）有限公司",
                },
                "follow_info": follow_info,
            })
        })
        .collect();
    wecom::WecomData {
        corp_id: "ww-test-corp".into(),
        corp_secret: "wecom-test-secret".into(),
        follow_users: members.iter().map(|member| member.to_string()).collect(),
        contacts,
        tag_groups: Vec::new(),
    }
}

/// The WeCom preset pointed at a simulator, pausing 50 ms (not a minute)
/// after a 45009.
fn wecom_connector(simulator: &RunningSimulator) -> (&'static str, String, String) {
    let preset = presets::find("wecom").unwrap();
    let text = presets::with_base_url(preset.connector, &format!("{}/cgi-bin", simulator.base_url))
        .unwrap();
    let text = presets::customize(
        &text,
        &[
            (
                "rate_limited_pause_secs = 60",
                "rate_limited_pause_secs = 0.05",
            ),
            ("requests_per_second = 20", "requests_per_second = 0"),
        ],
    )
    .unwrap();
    ("wecom", text, preset.mapping.to_string())
}

#[tokio::test]
async fn the_wecom_preset_syncs_every_contact_once_under_faults_and_token_expiry() {
    let corp = wecom_corp(420);
    let expected: Vec<String> = {
        let mut ids: Vec<String> = (0..420).map(|index| format!("wm{index:028}")).collect();
        ids.sort();
        ids
    };
    let (simulator, running) = serve_wecom_expiring_mid_sync(corp).await;
    let dir = project_with(&[wecom_connector(&running)]);
    let project = load(dir.path());
    let store = open_store(&project).await;

    simulator.core().faults.set(a_fifth_of_requests_fail(11));
    sync(&project, &store, "wecom").await;

    assert_eq!(party_ids(&store, "wecom").await, expected);
    assert_eq!(count(dir.path(), "rejected_records", "wecom").await, 0);
    let parties = store.parties().await.unwrap();
    let first = parties
        .iter()
        .find(|stored| stored.party.source_id == expected[1])
        .unwrap();
    // Followed by two members: both members' numbers.
    assert_eq!(first.party.phones, ["138 0000 0001", "137 0000 0001"]);
    assert_eq!(
        first.party.attributes["follow_user"],
        json!(["lisi", "wangwu"])
    );
    assert_eq!(
        first.party.company.as_deref(),
        Some("腾讯科技（深圳）有限公司")
    );

    // Nothing changed in WeCom: the next sweep stores nothing new.
    simulator.core().faults.set(FaultConfig::default());
    let report = sync(&project, &store, "wecom").await;
    let counts = &report.sync["wecom"]["contacts"];
    assert_eq!((counts.new, counts.changed), (0, 0), "{counts:?}");
}

/// Serves a WeCom simulator whose tokens all expire just before the 3rd and
/// the 8th contact page is served: a token that expires mid-sync, twice.
async fn serve_wecom_expiring_mid_sync(
    data: wecom::WecomData,
) -> (wecom::WecomSimulator, RunningSimulator) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let simulator = wecom::WecomSimulator::new(data, wecom::WecomSettings::default()).unwrap();
    let core = simulator.core();
    let pages = Arc::new(AtomicUsize::new(0));
    let expire = core.clone();
    let router = simulator.router().layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let expire = expire.clone();
            let pages = pages.clone();
            async move {
                if request.uri().path().ends_with("/batch/get_by_user") {
                    let page = pages.fetch_add(1, Ordering::SeqCst) + 1;
                    if page == 3 || page == 8 {
                        expire.tokens.expire_all();
                    }
                }
                next.run(request).await
            }
        },
    ));
    let running = tierlink::simulators::serve(router, core, LOOPBACK.parse().unwrap())
        .await
        .unwrap();
    (simulator, running)
}

fn shopify_shop(customers: usize) -> shopify::ShopifyData {
    let customers_json = (1..=customers)
        .map(|id| {
            json!({
                "id": 7_000_000 + id as u64,
                "email": format!("c{id}@example.com"),
                "phone": format!("+86138{:08}", id),
                "first_name": "Wei",
                "last_name": format!("Zhang{id}"),
                "tags": "wholesale",
                "orders_count": 1,
                "total_spent": "199.65",
                "currency": "CNY",
                "state": "enabled",
                "created_at": "2024-05-01T10:11:12+08:00",
                "updated_at": format!("2024-05-{:02}T10:11:12+08:00", 1 + id % 28),
                "default_address": {"company": "星河科技", "city": "北京", "province": "北京"},
            })
        })
        .collect();
    let statuses = ["paid", "refunded", "pending", "voided"];
    let orders = (1..=customers * 2)
        .map(|id| {
            let cancelled = id % 10 == 0;
            json!({
                "id": 9_000_000 + id as u64,
                "name": format!("#{}", 1000 + id),
                "customer": {"id": 7_000_000 + (1 + id % customers) as u64},
                "email": "x@example.com",
                "total_price": format!("{}.50", 100 + id),
                "currency": "CNY",
                "financial_status": statuses[id % statuses.len()],
                "cancelled_at": if cancelled { json!("2024-06-02T10:00:00+08:00") } else { Value::Null },
                "closed_at": if id % 3 == 0 { json!("2024-06-01T10:00:00+08:00") } else { Value::Null },
                "created_at": "2024-05-20T10:00:00+08:00",
                "processed_at": "2024-05-20T10:00:00+08:00",
                "updated_at": format!("2024-06-{:02}T10:00:00+08:00", 1 + id % 28),
                "line_items": [],
                "refunds": [],
            })
        })
        .collect();
    shopify::ShopifyData {
        shop: "tierlink-test".into(),
        access_token: "shpat_test_token".into(),
        customers: customers_json,
        orders,
    }
}

fn shopify_connector(simulator: &RunningSimulator) -> (&'static str, String, String) {
    let preset = presets::find("shopify").unwrap();
    let text = presets::with_base_url(
        preset.connector,
        &format!("{}/admin/api/2024-01", simulator.base_url),
    )
    .unwrap();
    // The real bucket (2/s) is kept; only the burst is the simulator's size.
    ("shopify", text, preset.mapping.to_string())
}

#[tokio::test]
async fn the_shopify_preset_syncs_customers_and_every_order_status_under_faults() {
    let shop = shopify_shop(600);
    let simulator =
        shopify::ShopifySimulator::new(shop, shopify::ShopifySettings::default()).unwrap();
    let running = simulator.serve(LOOPBACK.parse().unwrap()).await.unwrap();
    let dir = project_with(&[shopify_connector(&running)]);
    let project = load(dir.path());
    let store = open_store(&project).await;

    simulator.core().faults.set(a_fifth_of_requests_fail(5));
    sync(&project, &store, "shopify").await;
    assert_eq!(party_ids(&store, "shopify").await.len(), 600);
    // status=any: closed and cancelled orders too, not only open ones.
    assert_eq!(count(dir.path(), "orders", "shopify").await, 1200);
    assert_eq!(count(dir.path(), "rejected_records", "shopify").await, 0);

    // Shopify rejected no request for carrying a filter next to page_info,
    // and no write was made while reading.
    assert!(simulator.core().writes.is_empty());

    simulator.core().faults.set(FaultConfig::default());
    let report = sync(&project, &store, "shopify").await;
    for counts in report.sync["shopify"].values() {
        assert_eq!((counts.new, counts.changed), (0, 0), "{counts:?}");
    }
}

/// Runs the whole pipeline once; it must succeed.
async fn run_pipeline(project: &Project, store: &Arc<dyn Store>) {
    let report = pipeline::run_full(project, store, &ProgressBar::hidden())
        .await
        .unwrap();
    assert!(report.succeeded(), "{report:?}");
}

/// The golden customer a source record resolved to.
async fn golden_id(store: &Arc<dyn Store>, connector: &str, source_id: &str) -> String {
    let key = tierlink::model::PartyKey {
        connector: connector.into(),
        source_id: source_id.into(),
    };
    store.golden_id_of(&key).await.unwrap().expect("resolved")
}

/// One shopper registered twice, with another mailbox and no phone: the
/// street address on both accounts, through the preset's mapping, makes
/// them one customer; a neighbour of the same name stays apart.
#[tokio::test]
async fn two_shop_accounts_at_one_street_address_are_one_customer() {
    let mut shop = shopify_shop(3);
    let addresses = [
        ("Fang", "Wang", "科技园路 1 号"),
        ("芳", "王", "科技园路1号"),
        ("Fang", "Wang", "科技园路2号"),
    ];
    for (customer, (first, last, street)) in shop.customers.iter_mut().zip(addresses) {
        customer["first_name"] = json!(first);
        customer["last_name"] = json!(last);
        customer["phone"] = Value::Null;
        customer["default_address"] =
            json!({"province": "广东", "city": "深圳", "address1": street, "address2": ""});
    }
    let simulator =
        shopify::ShopifySimulator::new(shop, shopify::ShopifySettings::default()).unwrap();
    let running = simulator.serve(LOOPBACK.parse().unwrap()).await.unwrap();
    let dir = project_with(&[shopify_connector(&running)]);
    let project = load(dir.path());
    let store = open_store(&project).await;
    run_pipeline(&project, &store).await;

    let (first, second, neighbour) = (
        golden_id(&store, "shopify", "7000001").await,
        golden_id(&store, "shopify", "7000002").await,
        golden_id(&store, "shopify", "7000003").await,
    );
    assert_eq!(first, second);
    assert_ne!(first, neighbour);
    let stored = store.parties().await.unwrap();
    let address = stored
        .iter()
        .find(|stored| stored.party.source_id == "7000002")
        .and_then(|stored| stored.party.address.clone());
    assert_eq!(address.as_deref(), Some("广东 深圳 科技园路1号"));
}

/// A WeCom contact knows the customer's employer by its Chinese name; the
/// shop knows only a work address at the firm's domain. Through both
/// presets' mappings the two are one customer; a shopper of the same name
/// with a free mailbox, and a colleague at the same domain, stay apart.
#[tokio::test]
async fn a_work_address_meets_the_chinese_firm_name_it_spells() {
    let mut corp = wecom_corp(1);
    let contact = &mut corp.contacts[0];
    contact["external_contact"]["name"] = json!("李婷凯");
    contact["external_contact"]["corp_name"] = json!("立信嘉禾");
    contact["external_contact"]["corp_full_name"] = json!("深圳立信嘉禾电子有限公司");
    contact["follow_info"][0]["remark"] = json!("李婷凯-立信嘉禾电子");
    contact["follow_info"][0]["remark_mobiles"] = json!([]);
    let wecom_simulator =
        wecom::WecomSimulator::new(corp, wecom::WecomSettings::default()).unwrap();
    let wecom_running = wecom_simulator
        .serve(LOOPBACK.parse().unwrap())
        .await
        .unwrap();

    let mut shop = shopify_shop(3);
    let shoppers = [
        ("Tingkai", "Li", "tingkai.li@lixinjiahe-elec8k.com"),
        ("Tingkai", "Li", "litingkai@qq.com"),
        ("Fang", "Wang", "wang.fang@lixinjiahe-elec8k.com"),
    ];
    for (customer, (first, last, email)) in shop.customers.iter_mut().zip(shoppers) {
        customer["first_name"] = json!(first);
        customer["last_name"] = json!(last);
        customer["email"] = json!(email);
        customer["phone"] = Value::Null;
        customer["default_address"] = Value::Null;
    }
    let shop_simulator =
        shopify::ShopifySimulator::new(shop, shopify::ShopifySettings::default()).unwrap();
    let shop_running = shop_simulator
        .serve(LOOPBACK.parse().unwrap())
        .await
        .unwrap();

    let dir = project_with(&[
        wecom_connector(&wecom_running),
        shopify_connector(&shop_running),
    ]);
    let project = load(dir.path());
    let store = open_store(&project).await;
    run_pipeline(&project, &store).await;

    let contact = golden_id(&store, "wecom", &format!("wm{:028}", 0)).await;
    let at_work = golden_id(&store, "shopify", "7000001").await;
    let namesake = golden_id(&store, "shopify", "7000002").await;
    let colleague = golden_id(&store, "shopify", "7000003").await;
    assert_eq!(contact, at_work);
    assert_ne!(contact, namesake);
    assert_ne!(contact, colleague);
}

#[tokio::test]
async fn a_bad_shopify_token_fails_the_sync_with_a_clear_error() {
    let simulator =
        shopify::ShopifySimulator::new(shopify_shop(3), shopify::ShopifySettings::default())
            .unwrap();
    let running = simulator.serve(LOOPBACK.parse().unwrap()).await.unwrap();
    let (id, connector, mapping) = shopify_connector(&running);
    let connector = presets::customize(
        &connector,
        &[(
            "${SHOPIFY_ACCESS_TOKEN}",
            "${TIERLINK_TEST_WRONG_SHOPIFY_TOKEN}",
        )],
    )
    .unwrap();
    std::env::set_var("TIERLINK_TEST_WRONG_SHOPIFY_TOKEN", "shpat_wrong");
    let dir = project_with(&[(id, connector, mapping)]);
    let project = load(dir.path());
    let store = open_store(&project).await;
    let report = pipeline::run_sync(&project, &store, "shopify", false, &ProgressBar::hidden())
        .await
        .unwrap();
    let error = report.failed_connectors["shopify"].to_string();
    assert!(error.contains("401"), "{error}");
    assert!(!error.contains("shpat_wrong"), "the token leaked: {error}");
}

use tierlink::simulators::{odoo, zendesk, World};

/// A small generated world, shared by the tests that serve it.
fn generated_world() -> &'static Path {
    static WORLD: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    WORLD
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let options = tierlink::world::GenerateOptions {
                customers: 1_500,
                seed: 42,
                as_of: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
                noise: tierlink::world::Noise::default(),
            };
            tierlink::world::generate(&options, dir.path(), &mut |_| {}).unwrap();
            dir
        })
        .path()
}

/// Lines of a world file.
fn lines(world: &Path, relative: &str) -> usize {
    std::fs::read_to_string(world.join(relative))
        .unwrap()
        .lines()
        .filter(|line| !line.trim().is_empty())
        .count()
}

/// The generated world's credentials in the variables the presets read.
fn world_env_names(preset: &str, world: &World) -> Vec<(String, String)> {
    let credentials = world.credentials().unwrap();
    let pairs: Vec<(&str, String)> = match preset {
        "zendesk" => vec![
            ("ZENDESK_EMAIL", credentials.zendesk.email),
            ("ZENDESK_API_TOKEN", credentials.zendesk.api_token),
        ],
        "odoo" => vec![
            ("ODOO_DB", credentials.odoo.db),
            ("ODOO_UID", credentials.odoo.uid.to_string()),
            ("ODOO_API_KEY", credentials.odoo.api_key),
        ],
        _ => unreachable!("no credentials for {preset}"),
    };
    pairs
        .into_iter()
        .map(|(name, value)| {
            let renamed = format!("TIERLINK_TEST_WORLD_{name}");
            std::env::set_var(&renamed, value);
            (format!("${{{name}}}"), format!("${{{renamed}}}"))
        })
        .collect()
}

fn world_connector(
    preset_id: &'static str,
    base_url: &str,
    world: &World,
) -> (&'static str, String, String) {
    let preset = presets::find(preset_id).unwrap();
    let renames = world_env_names(preset_id, world);
    let mut replacements: Vec<(&str, &str)> = renames
        .iter()
        .map(|(from, to)| (from.as_str(), to.as_str()))
        .collect();
    // Local simulators: no client-side throttle needed for the test's speed.
    let throttle = if preset_id == "zendesk" {
        "requests_per_second = 0.16"
    } else {
        "requests_per_second = 10"
    };
    replacements.push((throttle, "requests_per_second = 0"));
    let text = presets::customize(preset.connector, &replacements).unwrap();
    let text = presets::with_base_url(&text, base_url).unwrap();
    (preset_id, text, preset.mapping.to_string())
}

#[tokio::test]
async fn the_zendesk_preset_exports_users_tickets_and_ratings_under_faults() {
    let world_dir = generated_world();
    let world = World::new(world_dir);
    let simulator = zendesk::ZendeskSimulator::new(
        zendesk::ZendeskData::from_world(&world).unwrap(),
        zendesk::ZendeskSettings::unlimited(),
    )
    .unwrap();
    let running = simulator.serve(LOOPBACK.parse().unwrap()).await.unwrap();
    let dir = project_with(&[world_connector(
        "zendesk",
        &format!("{}/api/v2", running.base_url),
        &world,
    )]);
    let project = load(dir.path());
    let store = open_store(&project).await;

    simulator.core().faults.set(a_fifth_of_requests_fail(3));
    sync(&project, &store, "zendesk").await;
    let users = lines(world_dir, "zendesk/users.jsonl");
    assert_eq!(party_ids(&store, "zendesk").await.len(), users);
    // Each user's organization came sideloaded with its page: its name is
    // the user's company.
    let read = |relative: &str| -> Vec<Value> {
        std::fs::read_to_string(world_dir.join(relative))
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    };
    let firm_names: std::collections::HashMap<String, String> = read("zendesk/organizations.jsonl")
        .iter()
        .map(|firm| {
            (
                firm["id"].to_string(),
                firm["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: std::collections::HashMap<String, Option<String>> = read("zendesk/users.jsonl")
        .iter()
        .map(|user| {
            let firm = firm_names
                .get(&user["organization_id"].to_string())
                .cloned();
            (user["id"].to_string(), firm)
        })
        .collect();
    let companies: std::collections::HashMap<String, Option<String>> = store
        .parties()
        .await
        .unwrap()
        .into_iter()
        .filter(|stored| stored.party.connector == "zendesk")
        .map(|stored| (stored.party.source_id, stored.party.company))
        .collect();
    assert!(expected.values().filter(|firm| firm.is_some()).count() > users / 10);
    assert_eq!(companies, expected);
    assert_eq!(
        count(dir.path(), "tickets", "zendesk").await as usize,
        lines(world_dir, "zendesk/tickets.jsonl")
    );
    let received = std::fs::read_to_string(world_dir.join("zendesk/satisfaction_ratings.jsonl"))
        .unwrap()
        .lines()
        .filter(|line| {
            let rating: Value = serde_json::from_str(line).unwrap();
            matches!(rating["score"].as_str(), Some("good" | "bad"))
        })
        .count();
    assert_eq!(
        count(dir.path(), "messages", "zendesk").await as usize,
        received
    );
    assert_eq!(count(dir.path(), "rejected_records", "zendesk").await, 0);

    // The next poll continues from the kept cursors and finds nothing new.
    simulator.core().faults.set(FaultConfig::default());
    let report = sync(&project, &store, "zendesk").await;
    for counts in report.sync["zendesk"].values() {
        assert_eq!((counts.new, counts.changed), (0, 0), "{counts:?}");
    }
}

#[tokio::test]
async fn the_odoo_preset_pages_partners_and_orders_on_write_date_under_faults() {
    let world_dir = generated_world();
    let world = World::new(world_dir);
    let simulator = odoo::OdooSimulator::new(
        odoo::OdooData::from_world(&world).unwrap(),
        odoo::OdooSettings::default(),
    )
    .unwrap();
    let running = simulator.serve(LOOPBACK.parse().unwrap()).await.unwrap();
    let dir = project_with(&[world_connector("odoo", &running.base_url, &world)]);
    let project = load(dir.path());
    let store = open_store(&project).await;

    simulator.core().faults.set(a_fifth_of_requests_fail(9));
    sync(&project, &store, "odoo").await;
    assert_eq!(
        party_ids(&store, "odoo").await.len(),
        lines(world_dir, "odoo/res.partner.jsonl"),
        "archived partners included"
    );
    assert_eq!(
        count(dir.path(), "orders", "odoo").await as usize,
        lines(world_dir, "odoo/sale.order.jsonl")
    );
    assert_eq!(count(dir.path(), "rejected_records", "odoo").await, 0);

    simulator.core().faults.set(FaultConfig::default());
    let report = sync(&project, &store, "odoo").await;
    for counts in report.sync["odoo"].values() {
        assert_eq!((counts.new, counts.changed), (0, 0), "{counts:?}");
    }
}

#[tokio::test]
async fn a_bad_odoo_key_fails_with_access_denied() {
    let world = World::new(generated_world());
    let simulator = odoo::OdooSimulator::new(
        odoo::OdooData::from_world(&world).unwrap(),
        odoo::OdooSettings::default(),
    )
    .unwrap();
    let running = simulator.serve(LOOPBACK.parse().unwrap()).await.unwrap();
    let (id, connector, mapping) = world_connector("odoo", &running.base_url, &world);
    let connector = presets::customize(
        &connector,
        &[(
            "${TIERLINK_TEST_WORLD_ODOO_API_KEY}",
            "${TIERLINK_TEST_WRONG_ODOO_KEY}",
        )],
    )
    .unwrap();
    std::env::set_var("TIERLINK_TEST_WRONG_ODOO_KEY", "not-the-key");
    let dir = project_with(&[(id, connector, mapping)]);
    let project = load(dir.path());
    let store = open_store(&project).await;
    let report = pipeline::run_sync(&project, &store, "odoo", false, &ProgressBar::hidden())
        .await
        .unwrap();
    let error = report.failed_connectors["odoo"].to_string();
    assert!(error.contains("Access Denied"), "{error}");
    assert!(!error.contains("not-the-key"), "the key leaked: {error}");
}

/// Loads the generated world's ERP into a database and syncs the `erp`
/// preset from it.
async fn erp_preset_reads(database_url: &str) {
    let world_dir = generated_world();
    tierlink::world::load_erp(world_dir, database_url)
        .await
        .unwrap();
    let preset = presets::find("erp").unwrap();
    // One variable per backend: the SQLite and MariaDB tests run at once.
    let backend = database_url.split(':').next().unwrap().to_uppercase();
    let variable = format!("TIERLINK_TEST_ERP_URL_{backend}");
    let connector = presets::customize(
        preset.connector,
        &[("${ERP_DATABASE_URL}", &format!("${{{variable}}}"))],
    )
    .unwrap();
    std::env::set_var(&variable, database_url);
    let dir = project_with(&[("erp", connector, preset.mapping.to_string())]);
    let project = load(dir.path());
    let store = open_store(&project).await;
    sync(&project, &store, "erp").await;
    assert_eq!(
        party_ids(&store, "erp").await.len(),
        lines(world_dir, "erp/customers.jsonl")
    );
    assert_eq!(
        count(dir.path(), "orders", "erp").await as usize,
        lines(world_dir, "erp/orders.jsonl")
    );
    assert_eq!(count(dir.path(), "rejected_records", "erp").await, 0);
    let report = sync(&project, &store, "erp").await;
    for counts in report.sync["erp"].values() {
        assert_eq!(
            counts.fetched, 0,
            "nothing changed since the cursor: {counts:?}"
        );
    }
}

#[tokio::test]
async fn the_erp_preset_reads_the_world_erp_from_sqlite() {
    let database = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", database.path().join("erp.db").display());
    erp_preset_reads(&url).await;
}

/// On MariaDB when `TIERLINK_TEST_MYSQL_URL` names a server (CI sets it), in
/// a database made for this test and dropped after it.
#[tokio::test]
async fn the_erp_preset_reads_the_world_erp_from_mariadb() {
    use sqlx::Connection;
    let Ok(server) = std::env::var("TIERLINK_TEST_MYSQL_URL") else {
        eprintln!(
            "TIERLINK_TEST_MYSQL_URL is not set: the MariaDB run of the erp preset is skipped"
        );
        return;
    };
    let name = format!("tierlink_erp_{}", std::process::id());
    let mut admin = sqlx::MySqlConnection::connect(&server).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = format!("{}/{name}", server.trim_end_matches('/'));
    let outcome = tokio::spawn(async move { erp_preset_reads(&url).await }).await;
    sqlx::query(&format!("DROP DATABASE `{name}`"))
        .execute(&mut admin)
        .await
        .unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}
