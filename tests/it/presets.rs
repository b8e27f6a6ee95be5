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
