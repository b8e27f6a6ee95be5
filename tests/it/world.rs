//! The world generator end to end: determinism, record shapes as the real
//! APIs return them, exact ground truth, noise at its configured rates,
//! archetype activity, CDR quoting, and loading the ERP into SQLite and
//! (when `TIERLINK_TEST_MYSQL_URL` is set) MariaDB/MySQL.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::OnceLock;

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::Value;
use tierlink::simulators::{read_jsonl, World};
use tierlink::world::{credit_code_check, generate, load_erp, GenerateOptions, Noise};

const CUSTOMERS: u64 = 3_000;

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
}

fn options(seed: u64, customers: u64) -> GenerateOptions {
    GenerateOptions {
        customers,
        seed,
        as_of: as_of(),
        noise: Noise::default(),
    }
}

/// One shared world for the read-only checks (generated once per run).
fn world() -> &'static Path {
    static WORLD: OnceLock<tempfile::TempDir> = OnceLock::new();
    WORLD
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            generate(&options(42, CUSTOMERS), dir.path(), &mut |_| {}).unwrap();
            dir
        })
        .path()
}

fn jsonl(relative: &str) -> Vec<Value> {
    read_jsonl(&world().join(relative)).unwrap()
}

fn csv_rows(relative: &str) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(world().join(relative))
        .unwrap();
    reader
        .records()
        .map(|row| row.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// (system, source id) -> true customer id.
fn truth() -> HashMap<(String, String), String> {
    csv_rows("truth/records.csv")
        .into_iter()
        .map(|row| ((row[0].clone(), row[2].clone()), row[3].clone()))
        .collect()
}

fn archetypes() -> HashMap<String, String> {
    csv_rows("truth/customers.csv")
        .into_iter()
        .map(|row| (row[0].clone(), row[2].clone()))
        .collect()
}

fn id_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn files_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for system in std::fs::read_dir(dir).unwrap() {
        let path = system.unwrap().path();
        if path.is_dir() {
            for file in std::fs::read_dir(&path).unwrap() {
                let file = file.unwrap().path();
                let name = file.strip_prefix(dir).unwrap().display().to_string();
                files.insert(name, std::fs::read(&file).unwrap());
            }
        } else {
            let name = path.strip_prefix(dir).unwrap().display().to_string();
            files.insert(name, std::fs::read(&path).unwrap());
        }
    }
    files
}

#[test]
fn same_seed_gives_byte_identical_files_and_another_seed_does_not() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let third = tempfile::tempdir().unwrap();
    generate(&options(7, 800), first.path(), &mut |_| {}).unwrap();
    generate(&options(7, 800), second.path(), &mut |_| {}).unwrap();
    generate(&options(8, 800), third.path(), &mut |_| {}).unwrap();
    let (a, b, c) = (
        files_of(first.path()),
        files_of(second.path()),
        files_of(third.path()),
    );
    assert!(a.len() >= 18, "{:?}", a.keys());
    assert_eq!(a, b);
    assert_ne!(a["shopify/customers.jsonl"], c["shopify/customers.jsonl"]);
}

#[test]
fn world_json_has_counts_and_credentials_the_simulators_read() {
    let world = World::new(world());
    let credentials = world.credentials().unwrap();
    assert!(credentials.wecom.corp_id.starts_with("ww"));
    assert!(credentials.shopify.access_token.starts_with("shpat_"));
    let document = world.read_json("world.json").unwrap();
    assert_eq!(document["customers"], CUSTOMERS);
    assert_eq!(document["seed"], 42);
    assert_eq!(document["as_of"], "2026-11-01");
    let lines = jsonl("shopify/customers.jsonl").len() as u64;
    assert_eq!(document["counts"]["shopify/customers.jsonl"], lines);
}

#[test]
fn wecom_contacts_look_like_batch_get_by_user() {
    let follow_users: Vec<String> = serde_json::from_value(
        World::new(world())
            .read_json("wecom/follow_users.json")
            .unwrap(),
    )
    .unwrap();
    assert!(follow_users.len() >= 12);
    let contacts = jsonl("wecom/contacts.jsonl");
    assert!(!contacts.is_empty());
    let mut nicknames = 0;
    for line in &contacts {
        let contact = &line["external_contact"];
        let id = contact["external_userid"].as_str().unwrap();
        assert_eq!(id.len(), 30, "{id}");
        let kind = contact["type"].as_i64().unwrap();
        assert_eq!(id.starts_with("wo"), kind == 2, "{id}");
        assert!(id.starts_with("wm") || id.starts_with("wo"));
        assert!(contact["name"].is_string());
        if kind == 2 {
            assert!(contact["corp_full_name"]
                .as_str()
                .unwrap()
                .ends_with("公司"));
        }
        for follow in line["follow_info"].as_array().unwrap() {
            assert!(follow_users.contains(&follow["userid"].as_str().unwrap().to_string()));
            assert!(follow["createtime"].is_i64());
            assert!(follow["remark_mobiles"].is_array());
            assert!(follow["tag_id"].as_array().unwrap().is_empty());
        }
        if contact["name"]
            .as_str()
            .unwrap()
            .chars()
            .any(|c| c.is_ascii_alphabetic() || c == '老')
        {
            nicknames += 1;
        }
    }
    assert!(nicknames > 0, "no WeChat nicknames");
}

#[test]
fn shopify_records_have_the_rest_shapes() {
    let customers = jsonl("shopify/customers.jsonl");
    let ids: HashSet<u64> = customers
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), customers.len());
    let mut emails = HashSet::new();
    for customer in &customers {
        assert!(customer["total_spent"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .is_ok());
        assert!(customer["orders_count"].is_u64());
        assert_eq!(customer["currency"], "CNY");
        assert!(customer["tags"].is_string());
        assert!(customer["updated_at"].as_str().unwrap().ends_with("+08:00"));
        DateTimeCheck::rfc3339(&customer["created_at"]);
        if let Some(phone) = customer["phone"].as_str() {
            assert!(phone.starts_with("+861") && phone.len() == 14, "{phone}");
        }
        if let Some(email) = customer["email"].as_str() {
            assert!(
                emails.insert(email.to_string()),
                "shop e-mails are unique: {email}"
            );
        }
        assert_eq!(customer["default_address"]["country_code"], "CN");
    }
    let statuses = [
        "paid",
        "refunded",
        "partially_refunded",
        "pending",
        "voided",
    ];
    let orders = jsonl("shopify/orders.jsonl");
    let mut names = HashSet::new();
    for order in &orders {
        assert!(ids.contains(&order["customer"]["id"].as_u64().unwrap()));
        assert!(names.insert(order["name"].as_str().unwrap().to_string()));
        assert!(order["name"].as_str().unwrap().starts_with('#'));
        assert!(order["total_price"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .is_ok());
        assert!(statuses.contains(&order["financial_status"].as_str().unwrap()));
        assert_eq!(
            order["cancelled_at"].is_string(),
            order["financial_status"] == "voided"
        );
        assert!(order["line_items"].as_array().unwrap().len() == 1);
        DateTimeCheck::rfc3339(&order["processed_at"]);
    }
    // orders_count agrees with the orders file.
    let mut per_customer: HashMap<u64, u64> = HashMap::new();
    for order in &orders {
        *per_customer
            .entry(order["customer"]["id"].as_u64().unwrap())
            .or_default() += 1;
    }
    for customer in &customers {
        let id = customer["id"].as_u64().unwrap();
        assert_eq!(
            customer["orders_count"].as_u64().unwrap(),
            per_customer.get(&id).copied().unwrap_or(0)
        );
    }
}

struct DateTimeCheck;

impl DateTimeCheck {
    fn rfc3339(value: &Value) {
        chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap()).unwrap();
    }
    fn naive(value: &Value, format: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(value.as_str().unwrap(), format).unwrap()
    }
}

#[test]
fn zendesk_users_tickets_and_ratings_have_the_api_shapes() {
    let users = jsonl("zendesk/users.jsonl");
    let user_ids: HashSet<u64> = users.iter().map(|u| u["id"].as_u64().unwrap()).collect();
    for user in &users {
        assert_eq!(user["role"], "end-user");
        assert!(user["tags"].is_array() && user["user_fields"].is_object());
        assert!(user["updated_at"].as_str().unwrap().ends_with('Z'));
    }
    let tickets = jsonl("zendesk/tickets.jsonl");
    let channels: HashSet<&str> = tickets
        .iter()
        .map(|t| t["via"]["channel"].as_str().unwrap())
        .collect();
    assert!(
        channels.contains("chat") && channels.contains("email"),
        "{channels:?}"
    );
    for ticket in &tickets {
        assert!(user_ids.contains(&ticket["requester_id"].as_u64().unwrap()));
        assert!(ticket["generated_timestamp"].is_i64());
        let score = ticket["satisfaction_rating"]["score"].as_str().unwrap();
        assert!(["good", "bad", "offered", "unoffered"].contains(&score));
    }
    let rated: HashSet<u64> = tickets
        .iter()
        .filter(|t| ["good", "bad"].contains(&t["satisfaction_rating"]["score"].as_str().unwrap()))
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    let ratings = jsonl("zendesk/satisfaction_ratings.jsonl");
    assert_eq!(ratings.len(), rated.len());
    assert!(ratings
        .iter()
        .all(|r| rated.contains(&r["ticket_id"].as_u64().unwrap())));
}

#[test]
fn odoo_partners_use_false_for_empty_and_valid_credit_codes() {
    let partners = jsonl("odoo/res.partner.jsonl");
    let by_id: HashMap<u64, &Value> = partners
        .iter()
        .map(|p| (p["id"].as_u64().unwrap(), p))
        .collect();
    let mut companies_with_vat = 0;
    for partner in &partners {
        for field in ["email", "phone", "vat", "parent_id"] {
            assert!(
                !partner[field].is_null(),
                "{field} is false, not null, when empty"
            );
        }
        DateTimeCheck::naive(&partner["write_date"], "%Y-%m-%d %H:%M:%S");
        if let Some(vat) = partner["vat"].as_str() {
            assert!(partner["is_company"].as_bool().unwrap());
            assert_eq!(vat.len(), 18);
            assert_eq!(credit_code_check(&vat[..17]), vat.chars().nth(17), "{vat}");
            companies_with_vat += 1;
        }
        if let Some(parent) = partner["parent_id"].as_array() {
            let company = by_id[&parent[0].as_u64().unwrap()];
            assert!(company["is_company"].as_bool().unwrap());
            assert_eq!(parent[1], company["name"]);
        }
    }
    assert!(companies_with_vat > 0);
    let states = ["sale", "done", "cancel", "draft"];
    for order in jsonl("odoo/sale.order.jsonl") {
        assert!(by_id.contains_key(&order["partner_id"][0].as_u64().unwrap()));
        assert!(order["name"].as_str().unwrap().starts_with('S'));
        assert!(order["amount_total"].is_number());
        assert!(states.contains(&order["state"].as_str().unwrap()));
    }
    assert!(!jsonl("odoo/res.partner.category.jsonl").is_empty());
}

#[test]
fn truth_covers_every_party_record_exactly_once() {
    let truth = truth();
    let customers: HashSet<String> = archetypes().into_keys().collect();
    assert_eq!(customers.len() as u64, CUSTOMERS);
    let mut seen = HashSet::new();
    let sources = [
        ("wecom", "wecom/contacts.jsonl"),
        ("shopify", "shopify/customers.jsonl"),
        ("zendesk", "zendesk/users.jsonl"),
        ("odoo", "odoo/res.partner.jsonl"),
        ("erp", "erp/customers.jsonl"),
    ];
    for (system, file) in sources {
        for record in jsonl(file) {
            let id = if system == "wecom" {
                id_text(&record["external_contact"]["external_userid"])
            } else {
                id_text(&record["id"])
            };
            let key = (system.to_string(), id);
            let customer = truth
                .get(&key)
                .unwrap_or_else(|| panic!("{key:?} has no truth"));
            assert!(customers.contains(customer));
            assert!(seen.insert(key));
        }
    }
    assert_eq!(
        seen.len(),
        truth.len(),
        "truth lists only records that exist"
    );
    // Each customer is in 1 to 5 systems.
    let mut systems: HashMap<&String, HashSet<&String>> = HashMap::new();
    for ((system, _), customer) in &truth {
        systems.entry(customer).or_default().insert(system);
    }
    assert_eq!(systems.len() as u64, CUSTOMERS);
    assert!(systems.values().any(|s| s.len() == 1) && systems.values().any(|s| s.len() >= 4));
}

#[test]
fn cross_reported_orders_match_between_shop_and_erp() {
    let shop: HashMap<String, Value> = jsonl("shopify/orders.jsonl")
        .into_iter()
        .map(|o| (id_text(&o["id"]), o))
        .collect();
    let erp: HashMap<String, Value> = jsonl("erp/orders.jsonl")
        .into_iter()
        .map(|o| (id_text(&o["id"]), o))
        .collect();
    let mut pairs: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for row in csv_rows("truth/orders.csv") {
        pairs
            .entry(row[2].clone())
            .or_default()
            .push((row[0].clone(), row[1].clone()));
    }
    assert!(!pairs.is_empty());
    for (true_order, reports) in pairs {
        assert_eq!(reports.len(), 2, "{true_order}");
        let shop_order = &shop[&reports.iter().find(|r| r.0 == "shopify").unwrap().1];
        let erp_order = &erp[&reports.iter().find(|r| r.0 == "erp").unwrap().1];
        // The import keeps the shop's order name, sometimes without its `#`.
        let cited = erp_order["source_ref"].as_str().expect("a cited name");
        let name = shop_order["name"].as_str().expect("an order name");
        assert_eq!(cited.trim_start_matches('#'), &name[1..], "{true_order}");
        assert_eq!(erp_order["amount"], shop_order["total_price"]);
    }
    let refs = || erp.values().filter_map(|o| o["source_ref"].as_str());
    assert!(refs().any(|r| r.starts_with('#')) && refs().any(|r| !r.starts_with('#')));
    let with_ref = erp.values().filter(|o| o["source_ref"].is_string()).count();
    let without_ref = erp.values().filter(|o| o["source_ref"].is_null()).count();
    assert!(with_ref > 0 && without_ref > 0);
}

#[test]
fn credit_codes_in_the_erp_are_valid() {
    let codes: Vec<String> = jsonl("erp/customers.jsonl")
        .iter()
        .filter_map(|c| c["tax_id"].as_str().map(str::to_string))
        .collect();
    assert!(!codes.is_empty());
    for code in codes {
        assert_eq!(
            credit_code_check(&code[..17]),
            code.chars().nth(17),
            "{code}"
        );
    }
}

/// Latest order date per true customer, over every system that has orders.
fn last_orders() -> HashMap<String, NaiveDate> {
    let truth = truth();
    let mut last: HashMap<String, NaiveDate> = HashMap::new();
    let mut note = |customer: &String, date: NaiveDate| {
        let entry = last.entry(customer.clone()).or_insert(date);
        *entry = (*entry).max(date);
    };
    for order in jsonl("shopify/orders.jsonl") {
        let customer = &truth[&("shopify".to_string(), id_text(&order["customer"]["id"]))];
        let at =
            chrono::DateTime::parse_from_rfc3339(order["created_at"].as_str().unwrap()).unwrap();
        note(customer, at.date_naive());
    }
    for order in jsonl("erp/orders.jsonl") {
        let customer = &truth[&("erp".to_string(), id_text(&order["customer_id"]))];
        note(
            customer,
            NaiveDate::parse_from_str(order["order_date"].as_str().unwrap(), "%Y-%m-%d").unwrap(),
        );
    }
    for order in jsonl("odoo/sale.order.jsonl") {
        let customer = &truth[&("odoo".to_string(), id_text(&order["partner_id"][0]))];
        note(
            customer,
            DateTimeCheck::naive(&order["date_order"], "%Y-%m-%d %H:%M:%S").date(),
        );
    }
    last
}

#[test]
fn archetypes_show_in_the_order_history() {
    let archetypes = archetypes();
    let last = last_orders();
    assert_eq!(
        last.len() as u64,
        CUSTOMERS,
        "every customer has an order somewhere"
    );
    for (customer, archetype) in &archetypes {
        let days = (as_of() - last[customer]).num_days();
        match archetype.as_str() {
            "churned" => assert!(days > 365, "{customer} churned but ordered {days} days ago"),
            "dormant" => assert!((180..=366).contains(&days), "{customer} dormant: {days}"),
            "champion" | "new" => assert!(days <= 31, "{customer} {archetype}: {days}"),
            "loyal" | "growing" => assert!(days <= 62, "{customer} {archetype}: {days}"),
            _ => assert!(days <= 301, "{customer} {archetype}: {days}"),
        }
    }
    let kinds: HashSet<&str> = archetypes.values().map(String::as_str).collect();
    assert_eq!(kinds.len(), 7);
}

#[test]
fn noise_occurs_at_roughly_the_configured_rates() {
    let noise = Noise::default();
    let truth = truth();
    // Duplicate shop accounts.
    let mut shop_accounts: HashMap<&String, u32> = HashMap::new();
    for ((system, _), customer) in &truth {
        if system == "shopify" {
            *shop_accounts.entry(customer).or_default() += 1;
        }
    }
    let duplicated =
        shop_accounts.values().filter(|n| **n == 2).count() as f64 / shop_accounts.len() as f64;
    assert!(
        (noise.shop_duplicate * 0.5..noise.shop_duplicate * 1.6).contains(&duplicated),
        "{duplicated}"
    );
    // Typos in ERP person names against the true name.
    let names: HashMap<String, String> = csv_rows("truth/customers.csv")
        .into_iter()
        .map(|row| (row[0].clone(), row[3].clone()))
        .collect();
    let persons: Vec<Value> = jsonl("erp/customers.jsonl")
        .into_iter()
        .filter(|c| c["kind"] == "person")
        .collect();
    let misspelt = persons
        .iter()
        .filter(|c| {
            let customer = &truth[&("erp".to_string(), id_text(&c["id"]))];
            c["name"].as_str().unwrap() != names[customer]
        })
        .count() as f64
        / persons.len() as f64;
    assert!(
        (noise.typo * 0.5..noise.typo * 1.6).contains(&misspelt),
        "{misspelt}"
    );
    // Common names collide between different customers.
    let mut by_name: HashMap<&String, u32> = HashMap::new();
    for name in names.values() {
        *by_name.entry(name).or_default() += 1;
    }
    assert!(
        by_name.values().any(|n| *n >= 3),
        "no common name is shared"
    );
    // Chinese names in pinyin in the shop.
    let shop = jsonl("shopify/customers.jsonl");
    let latin = shop
        .iter()
        .filter(|c| c["last_name"].as_str().unwrap().is_ascii())
        .count() as f64
        / shop.len() as f64;
    assert!(
        (noise.pinyin * 0.8..noise.pinyin * 1.3).contains(&latin),
        "{latin}"
    );
    // Colleagues share a switchboard: one landline on records of different customers.
    let mut landline_owners: HashMap<String, HashSet<String>> = HashMap::new();
    for partner in jsonl("erp/customers.jsonl") {
        if let Some(phone) = partner["phone"].as_str() {
            let digits: String = phone
                .chars()
                .take_while(|c| *c != '转')
                .filter(char::is_ascii_digit)
                .collect();
            let customer = truth[&("erp".to_string(), id_text(&partner["id"]))].clone();
            landline_owners.entry(digits).or_default().insert(customer);
        }
    }
    assert!(
        landline_owners.values().any(|owners| owners.len() >= 2),
        "no shared switchboard"
    );
}

#[test]
fn cdr_files_follow_asterisk_and_freeswitch_quoting() {
    let asterisk = std::fs::read_to_string(world().join("asterisk/Master.csv")).unwrap();
    let mut shapes = HashSet::new();
    for line in asterisk.lines() {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(line.as_bytes());
        let fields: Vec<String> = reader
            .records()
            .next()
            .unwrap()
            .unwrap()
            .iter()
            .map(str::to_string)
            .collect();
        assert_eq!(fields.len(), 18, "{line}");
        let raw: Vec<&str> = split_top_level(line);
        assert!(
            raw[12].chars().all(|c| c.is_ascii_digit()),
            "duration unquoted: {line}"
        );
        assert!(
            raw[13].chars().all(|c| c.is_ascii_digit()),
            "billsec unquoted: {line}"
        );
        if fields[14] == "ANSWERED" {
            assert!(raw[10].starts_with('"'));
        } else {
            assert_eq!(
                raw[10], "",
                "unanswered calls have an empty unquoted answer: {line}"
            );
        }
        let src = &fields[1];
        shapes.insert(match src.as_str() {
            "" | "anonymous" => "withheld",
            s if s.starts_with("+86") => "+86",
            s if s.starts_with("86") && s.len() == 13 => "86",
            s if s.starts_with("01") && s.len() == 12 => "trunk0",
            s if s.starts_with('1') && s.len() == 11 => "mobile",
            _ => "landline",
        });
        assert!(fields[2].parse::<u32>().is_ok(), "dst is an extension");
    }
    assert!(shapes.len() >= 5, "{shapes:?}");
    let freeswitch = std::fs::read_to_string(world().join("freeswitch/Master.csv")).unwrap();
    for line in freeswitch.lines() {
        let raw = split_top_level(line);
        assert_eq!(raw.len(), 15, "{line}");
        assert!(
            raw.iter().all(|f| f.starts_with('"') && f.ends_with('"')),
            "{line}"
        );
    }
}

/// Splits a CSV line on commas outside quotes, keeping the quotes.
fn split_top_level(line: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (at, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                fields.push(&line[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    fields.push(&line[start..]);
    fields
}

#[tokio::test]
async fn erp_rows_load_into_sqlite_twice_without_duplicates() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("erp.db").display());
    let first = load_erp(world(), &url).await.unwrap();
    let again = load_erp(world(), &url).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(first.customers as usize, jsonl("erp/customers.jsonl").len());
    let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let (customers,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM customers")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    let (orders,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM orders")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(
        (customers as u64, orders as u64),
        (first.customers, first.orders)
    );
    let (referenced,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM orders WHERE source_ref LIKE '#%'")
            .fetch_one(&mut connection)
            .await
            .unwrap();
    assert!(referenced > 0);
}

#[tokio::test]
async fn erp_rows_load_into_mariadb_when_configured() {
    use sqlx::{Connection, Executor};
    let Ok(admin_url) = std::env::var("TIERLINK_TEST_MYSQL_URL") else {
        eprintln!("TIERLINK_TEST_MYSQL_URL is not set: skipping the MariaDB load");
        return;
    };
    let database = format!(
        "tierlink_world_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_000
    );
    let mut admin = sqlx::MySqlConnection::connect(&admin_url).await.unwrap();
    admin
        .execute(format!("CREATE DATABASE {database}").as_str())
        .await
        .unwrap();
    let url = format!("{}/{database}", admin_url.trim_end_matches('/'));
    let loaded = load_erp(world(), &url).await;
    let counted = async {
        let mut connection = sqlx::MySqlConnection::connect(&url).await?;
        let (name,): (String,) = sqlx::query_as("SELECT name FROM customers ORDER BY id LIMIT 1")
            .fetch_one(&mut connection)
            .await?;
        let (orders,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM orders")
            .fetch_one(&mut connection)
            .await?;
        Ok::<_, sqlx::Error>((name, orders))
    }
    .await;
    admin
        .execute(format!("DROP DATABASE {database}").as_str())
        .await
        .unwrap();
    let loaded = loaded.unwrap();
    let (name, orders) = counted.unwrap();
    let first = &jsonl("erp/customers.jsonl")[0];
    assert_eq!(
        name,
        first["name"].as_str().unwrap(),
        "Chinese text survives"
    );
    assert_eq!(orders as u64, loaded.orders);
}
