//! Renders one true customer into the records each system would hold, in
//! the system's own API shape (see `shared/specs/source-apis.md`), with the
//! noise people and systems add: nicknames, pinyin in either order,
//! traditional characters, typos, short and English company names, phone
//! numbers as typed, missing fields, duplicate registrations, and the
//! company switchboard shared by colleagues. Every party record goes to the
//! truth file with its true customer id.

use chrono::{Duration, NaiveDateTime};
use serde_json::{json, Value};

use super::customer::{Call, Contacting, Purchase, TrueCustomer};
use super::data::{NICKNAMES, ODOO_CATEGORIES, PRODUCTS, SALES_REPS, TICKET_SUBJECTS};
use super::identity::{
    e164, personal_email, to_traditional, typed_landline, typed_mobile, typo, Company, PersonName,
};
use super::rng::{mix64, Rng, BASE62, HEX};
use super::{Noise, Output, Sink};
use crate::world::GenerateError;

/// Running ids per system, so ids are unique and ascend in file order.
#[derive(Debug, Default)]
pub(crate) struct Ids {
    wecom: u64,
    shop_customer: u64,
    shop_order: u64,
    shop_line: u64,
    zendesk_user: u64,
    zendesk_ticket: u64,
    zendesk_rating: u64,
    odoo_partner: u64,
    odoo_order: u64,
    erp_customer: u64,
    erp_order: u64,
    call: u64,
}

impl Ids {
    fn next(counter: &mut u64) -> u64 {
        *counter += 1;
        *counter
    }
}

const LOCAL_OFFSET_HOURS: i64 = 8;

/// `2024-05-03T10:11:12+08:00` (Shopify).
fn shopify_time(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S+08:00").to_string()
}

fn utc(at: NaiveDateTime) -> NaiveDateTime {
    at - Duration::hours(LOCAL_OFFSET_HOURS)
}

/// `2024-05-03T02:11:12Z` (Zendesk).
fn zendesk_time(at: NaiveDateTime) -> String {
    utc(at).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `2024-05-03 02:11:12`, naive UTC (Odoo).
fn odoo_time(at: NaiveDateTime) -> String {
    utc(at).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `2024-05-03 10:11:12`, local time (ERP, CDR).
fn local_time(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn unix(at: NaiveDateTime) -> i64 {
    utc(at).and_utc().timestamp()
}

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// The latest moment the customer did anything, for `updated_at` fields.
fn last_activity(customer: &TrueCustomer) -> NaiveDateTime {
    let mut last = customer.since;
    if let Some(purchase) = customer.purchases.last() {
        last = last.max(purchase.at);
    }
    if let Some(contact) = customer.contacts.last() {
        last = last.max(contact.at);
    }
    last
}

/// Where each purchase was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Booking {
    Shop { also_erp: bool },
    Erp,
    Odoo,
}

fn book(rng: &mut Rng, customer: &TrueCustomer) -> Vec<Booking> {
    let systems = customer.systems;
    customer
        .purchases
        .iter()
        .map(|_| {
            let back_office = systems.erp || systems.odoo;
            if systems.shopify && (!back_office || rng.chance(0.6)) {
                return Booking::Shop {
                    also_erp: systems.erp && rng.chance(0.7),
                };
            }
            match (systems.erp, systems.odoo) {
                (true, true) if rng.chance(0.5) => Booking::Odoo,
                (true, _) => Booking::Erp,
                _ => Booking::Odoo,
            }
        })
        .collect()
}

/// The name a system shows for a person: hanzi (maybe traditional), with
/// a typo at the configured rate.
fn hanzi_name(rng: &mut Rng, name: &PersonName, noise: &Noise) -> String {
    let mut text = name.full();
    if rng.chance(noise.traditional) {
        text = to_traditional(&text);
    }
    if rng.chance(noise.typo) {
        text = typo(rng, &text);
    }
    text
}

/// (first_name, last_name) as typed into a Western form: pinyin in either
/// order, hanzi split, or everything in the first name.
fn western_name(rng: &mut Rng, name: &PersonName, noise: &Noise) -> (String, String) {
    let (mut first, mut last) = match name {
        PersonName::Chinese { surname, given, .. } if !rng.chance(noise.pinyin) => {
            match rng.below(4) {
                0 => (format!("{surname}{given}"), String::new()),
                _ => (given.clone(), surname.to_string()),
            }
        }
        _ => {
            let (first, last) = name.latin();
            if matches!(name, PersonName::Chinese { .. }) && rng.chance(0.3) {
                (last, first)
            } else {
                (first, last)
            }
        }
    };
    if rng.chance(noise.typo) {
        if rng.chance(0.5) || last.is_empty() {
            first = typo(rng, &first);
        } else {
            last = typo(rng, &last);
        }
    }
    (first, last)
}

fn maybe_typo(rng: &mut Rng, text: String, rate: f64) -> String {
    if rng.chance(rate) {
        typo(rng, &text)
    } else {
        text
    }
}

fn or_false(value: Option<String>) -> Value {
    value.map_or(Value::Bool(false), Value::String)
}

/// Writes every record of `customer` to `out`.
pub(crate) fn render_customer(
    customer: &TrueCustomer,
    rng: &mut Rng,
    noise: &Noise,
    ids: &mut Ids,
    out: &mut Output,
) -> Result<(), GenerateError> {
    let bookings = book(rng, customer);
    out.truth_customers.write_csv(&[
        customer.id.as_str(),
        if customer.is_company {
            "company"
        } else {
            "person"
        },
        customer.archetype.as_str(),
        customer.true_name().as_str(),
    ])?;
    if customer.systems.wecom {
        render_wecom(customer, rng, noise, ids, out)?;
    }
    let mut shop_orders = Vec::new();
    if customer.systems.shopify {
        shop_orders = render_shopify(customer, &bookings, rng, noise, ids, out)?;
    }
    if customer.systems.zendesk {
        render_zendesk(customer, rng, noise, ids, out)?;
    }
    if customer.systems.odoo {
        render_odoo(customer, &bookings, rng, noise, ids, out)?;
    }
    if customer.systems.erp {
        render_erp(customer, &bookings, &shop_orders, rng, noise, ids, out)?;
    }
    render_calls(customer, rng, noise, ids, out)
}

fn render_wecom(
    customer: &TrueCustomer,
    rng: &mut Rng,
    noise: &Noise,
    ids: &mut Ids,
    out: &mut Output,
) -> Result<(), GenerateError> {
    let serial = Ids::next(&mut ids.wecom);
    let corp_user = match &customer.company {
        Some(_) if customer.is_company => rng.chance(0.8),
        Some(_) => rng.chance(0.3),
        None => false,
    };
    let prefix = if corp_user { "wo" } else { "wm" };
    let mut id_chars = String::with_capacity(30);
    id_chars.push_str(prefix);
    let mut unique = mix64(serial);
    for _ in 0..11 {
        id_chars.push(BASE62[(unique % 62) as usize] as char);
        unique /= 62;
    }
    id_chars.push_str(&rng.token(BASE62, 17));
    let external_userid = id_chars;
    let real_name = hanzi_name(rng, &customer.contact, noise);
    let name = if corp_user || !rng.chance(noise.nickname) {
        real_name.clone()
    } else {
        match rng.below(4) {
            0 => format!("老{}", customer.contact.surname()),
            _ => rng.pick(NICKNAMES).to_string(),
        }
    };
    let gender = if rng.chance(0.1) {
        0
    } else if customer.male {
        1
    } else {
        2
    };
    let mut contact = json!({
        "external_userid": external_userid,
        "name": name,
        "type": if corp_user { 2 } else { 1 },
        "gender": gender,
    });
    if rng.chance(0.4) {
        let unionid = format!("o{}", rng.token(BASE62, 27));
        contact["unionid"] = Value::String(unionid);
    }
    if let (true, Some(company)) = (corp_user, &customer.company) {
        contact["corp_name"] = Value::String(company.short_name());
        contact["corp_full_name"] = Value::String(company.legal_name());
    }
    let followers = 1 + rng.below(if customer.is_company { 3 } else { 2 }) as usize;
    let first_rep = rng.below(SALES_REPS.len() as u64) as usize;
    let surname = customer.contact.surname();
    let follow_info: Vec<Value> = (0..followers)
        .map(|k| {
            let userid = SALES_REPS[(first_rep + k * 5) % SALES_REPS.len()];
            let remark = match rng.below(6) {
                0 => format!("{surname}总"),
                1 => format!("{surname}{}", if customer.male { "哥" } else { "姐" }),
                2 => format!("{surname}经理"),
                3 => match &customer.company {
                    Some(company) => format!("{real_name}-{}", company.short_name()),
                    None => real_name.clone(),
                },
                _ => real_name.clone(),
            };
            let mut mobiles = Vec::new();
            if !rng.chance(noise.missing) {
                let number = match &customer.old_mobile {
                    Some(old) if rng.chance(0.5) => old.clone(),
                    _ => customer.mobile.clone(),
                };
                mobiles.push(typed_mobile(rng, &number));
            }
            if let Some(company) = &customer.company {
                if rng.chance(0.2) {
                    mobiles.push(typed_landline(rng, &company.switchboard, company.area_code));
                }
            }
            let remark_corp_name = match &customer.company {
                Some(company) if rng.chance(0.7) => company.name_variant(rng),
                _ => String::new(),
            };
            let description = match (&customer.company, rng.below(3)) {
                (Some(company), 0) => format!("{}采购", company.short_name()),
                (_, 1) => "展会认识".to_string(),
                _ => String::new(),
            };
            let added = customer.since + Duration::days(k as i64 * rng.range(0, 90));
            let add_way = *rng.pick(&[1, 1, 2, 3, 4, 201]);
            let state = if rng.chance(0.3) {
                (*rng.pick(&["渠道A", "官网", "展会2025", "老客推荐"])).to_string()
            } else {
                String::new()
            };
            json!({
                "userid": userid,
                "remark": remark,
                "description": description,
                "createtime": unix(added),
                "tag_id": [],
                "remark_corp_name": remark_corp_name,
                "remark_mobiles": mobiles,
                "add_way": add_way,
                "oper_userid": if add_way == 1 { external_userid.clone() } else { userid.to_string() },
                "state": state,
            })
        })
        .collect();
    out.wecom_contacts.write_json(&json!({
        "external_contact": contact,
        "follow_info": follow_info,
    }))?;
    out.truth_records
        .write_csv(&["wecom", "contacts", &external_userid, &customer.id])
}

fn shop_customer_id(serial: u64) -> u64 {
    // Shopify ids are large integers that grow with time.
    6_800_000_000_000 + serial * 131 + serial % 97
}

fn shop_order_id(serial: u64) -> u64 {
    5_600_000_000_000 + serial * 257 + serial % 89
}

/// The shop order names, by purchase position, for the ERP to cite.
fn render_shopify(
    customer: &TrueCustomer,
    bookings: &[Booking],
    rng: &mut Rng,
    noise: &Noise,
    ids: &mut Ids,
    out: &mut Output,
) -> Result<Vec<Option<(u64, String)>>, GenerateError> {
    let accounts = if rng.chance(noise.shop_duplicate) {
        2
    } else {
        1
    };
    let account_ids: Vec<u64> = (0..accounts)
        .map(|_| shop_customer_id(Ids::next(&mut ids.shop_customer)))
        .collect();
    let emails: Vec<Option<String>> = (0..accounts)
        .map(|account| {
            if account == 1 {
                // Registered again with another mailbox.
                return Some(personal_email(
                    rng,
                    &customer.contact,
                    customer.index + 60_000_000,
                ));
            }
            if rng.chance(noise.missing) {
                return None;
            }
            Some(match &customer.work_email {
                Some(work) if rng.chance(0.5) => work.clone(),
                _ => customer.email.clone(),
            })
        })
        .collect();
    let mut names = Vec::new();
    for _ in 0..accounts {
        names.push(western_name(rng, &customer.contact, noise));
    }
    let mut per_account: Vec<Vec<(u64, String, i64, NaiveDateTime)>> = vec![Vec::new(); accounts];
    let mut by_position = vec![None; bookings.len()];
    for (position, (purchase, booking)) in customer.purchases.iter().zip(bookings).enumerate() {
        if !matches!(booking, Booking::Shop { .. }) {
            continue;
        }
        let account = if accounts == 2 && rng.chance(0.3) {
            1
        } else {
            0
        };
        let serial = Ids::next(&mut ids.shop_order);
        let order_id = shop_order_id(serial);
        let name = format!("#{}", 1000 + serial);
        let (spent, order) = shop_order(
            customer,
            purchase,
            order_id,
            &name,
            account_ids[account],
            emails[account].as_deref(),
            rng,
            ids,
        );
        out.shop_orders.write_json(&order)?;
        if let Booking::Shop { also_erp: true } = booking {
            by_position[position] = Some((order_id, name.clone()));
        }
        per_account[account].push((order_id, name, spent, purchase.at));
    }
    for account in 0..accounts {
        let orders = &per_account[account];
        let created = if account == 0 {
            customer.since
        } else {
            orders.first().map_or(customer.since, |o| o.3) - Duration::minutes(rng.range(5, 600))
        };
        let updated = orders.last().map_or(created, |o| o.3).max(created)
            + Duration::minutes(rng.range(1, 90));
        let phone = if account == 0 && !rng.chance(noise.missing) {
            Some(e164(
                customer
                    .old_mobile
                    .as_deref()
                    .filter(|_| rng.chance(0.3))
                    .unwrap_or(&customer.mobile),
            ))
        } else {
            None
        };
        let (first, last) = &names[account];
        let company = customer
            .company
            .as_ref()
            .map(|company| company.name_variant(rng));
        let address_phone = match &customer.company {
            Some(company) if rng.chance(0.4) => {
                Some(typed_landline(rng, &company.switchboard, company.area_code))
            }
            _ => None,
        };
        let tags = if rng.chance(0.15) {
            (*rng.pick(&["wholesale", "newsletter", "展会客户", "wholesale, 华东"])).to_string()
        } else {
            String::new()
        };
        let total: i64 = orders.iter().map(|o| o.2).sum();
        let last_order = orders.last();
        let record = json!({
            "id": account_ids[account],
            "email": emails[account],
            "created_at": shopify_time(created),
            "updated_at": shopify_time(updated),
            "first_name": first,
            "last_name": last,
            "orders_count": orders.len(),
            "state": if rng.chance(0.9) { "enabled" } else { "disabled" },
            "total_spent": yuan(total),
            "last_order_id": last_order.map(|o| o.0),
            "last_order_name": last_order.map(|o| o.1.clone()),
            "note": Value::Null,
            "verified_email": emails[account].is_some(),
            "multipass_identifier": Value::Null,
            "tax_exempt": false,
            "tags": tags,
            "currency": "CNY",
            "phone": phone,
            "admin_graphql_api_id": format!("gid://shopify/Customer/{}", account_ids[account]),
            "default_address": {
                "id": account_ids[account] + 7_000_000_000,
                "customer_id": account_ids[account],
                "first_name": first,
                "last_name": last,
                "company": company,
                "address1": customer.street,
                "address2": "",
                "city": customer.city,
                "province": customer.province,
                "country": "China",
                "zip": Value::Null,
                "phone": address_phone,
                "name": format!("{first} {last}").trim().to_string(),
                "country_code": "CN",
                "country_name": "China",
                "default": true,
            },
        });
        out.shop_customers.write_json(&record)?;
        out.truth_records.write_csv(&[
            "shopify",
            "customers",
            &account_ids[account].to_string(),
            &customer.id,
        ])?;
    }
    Ok(by_position)
}

/// One shop order and what it added to the customer's `total_spent`.
#[allow(clippy::too_many_arguments)]
fn shop_order(
    customer: &TrueCustomer,
    purchase: &Purchase,
    order_id: u64,
    name: &str,
    customer_id: u64,
    email: Option<&str>,
    rng: &mut Rng,
    ids: &mut Ids,
) -> (i64, Value) {
    let recent =
        purchase.at + Duration::days(10) > customer.purchases.last().map_or(purchase.at, |p| p.at);
    let status = match rng.below(100) {
        0..=84 => "paid",
        85..=88 => "refunded",
        89..=92 => "partially_refunded",
        93..=95 if recent => "pending",
        93..=95 => "paid",
        _ => "voided",
    };
    let created = purchase.at;
    let (product, sku, _) = PRODUCTS[purchase.product];
    let line_id = 14_000_000_000_000 + Ids::next(&mut ids.shop_line) * 17;
    let unit = purchase.amount_fen / i64::from(purchase.quantity);
    let total = unit * i64::from(purchase.quantity);
    let mut refunds = Vec::new();
    let mut updated = created + Duration::minutes(rng.range(1, 60 * 48));
    let spent = match status {
        "refunded" | "partially_refunded" => {
            let refunded = if status == "refunded" {
                total
            } else {
                total / 2
            };
            let at = created + Duration::days(rng.range(2, 20));
            updated = at;
            refunds.push(json!({
                "id": 900_000_000_000 + order_id % 1_000_000_000,
                "order_id": order_id,
                "created_at": shopify_time(at),
                "processed_at": shopify_time(at),
                "note": "客户申请退款",
                "transactions": [{"kind": "refund", "status": "success", "amount": yuan(refunded), "currency": "CNY"}],
            }));
            total - refunded
        }
        "paid" => total,
        _ => 0,
    };
    let cancelled_at =
        (status == "voided").then(|| shopify_time(created + Duration::hours(rng.range(1, 30))));
    if let Some(cancelled) = &cancelled_at {
        updated = chrono::NaiveDateTime::parse_from_str(&cancelled[..19], "%Y-%m-%dT%H:%M:%S")
            .expect("our own format");
    }
    let order = json!({
        "id": order_id,
        "admin_graphql_api_id": format!("gid://shopify/Order/{order_id}"),
        "name": name,
        "order_number": name[1..].parse::<u64>().expect("numeric order name"),
        "customer": {"id": customer_id},
        "email": email.unwrap_or(""),
        "total_price": yuan(total),
        "subtotal_price": yuan(total),
        "total_tax": "0.00",
        "currency": "CNY",
        "financial_status": status,
        "cancelled_at": cancelled_at,
        "cancel_reason": if status == "voided" { Value::from("customer") } else { Value::Null },
        "created_at": shopify_time(created),
        "processed_at": shopify_time(created),
        "updated_at": shopify_time(updated),
        "line_items": [{
            "id": line_id,
            "title": product,
            "sku": sku,
            "quantity": purchase.quantity,
            "price": yuan(unit),
            "product_id": 8_000_000_000_000u64 + purchase.product as u64,
        }],
        "refunds": refunds,
    });
    (spent, order)
}

fn organization_id(customer: &TrueCustomer) -> Option<u64> {
    customer.company.as_ref().map(|company| {
        let digits: u64 = company.credit_code[8..16]
            .parse()
            .expect("the organisation code body is digits");
        360_000_000_000 + digits
    })
}

/// A Zendesk organization, written once per firm when its first user is:
/// an agent gave it the registered name or, for one in three, the firm's
/// short name (华信科技), with the firm's web domain.
fn render_organization(
    id: u64,
    company: &Company,
    since: NaiveDateTime,
    out: &mut Output,
) -> Result<(), GenerateError> {
    let name = if id % 3 == 0 {
        company.short_name()
    } else {
        company.legal_name()
    };
    out.zendesk_organizations.write_json(&json!({
        "id": id,
        "url": format!("https://{}.zendesk.com/api/v2/organizations/{id}.json", out.zendesk_subdomain),
        "name": name,
        "domain_names": [company.domain],
        "details": "",
        "notes": "",
        "external_id": Value::Null,
        "group_id": Value::Null,
        "shared_tickets": false,
        "shared_comments": false,
        "tags": [],
        "organization_fields": {},
        "created_at": zendesk_time(since),
        "updated_at": zendesk_time(since),
    }))
}

fn render_zendesk(
    customer: &TrueCustomer,
    rng: &mut Rng,
    noise: &Noise,
    ids: &mut Ids,
    out: &mut Output,
) -> Result<(), GenerateError> {
    let user_id = 381_000_000_000 + Ids::next(&mut ids.zendesk_user) * 7;
    let name = if rng.chance(noise.pinyin * 0.5) {
        let (first, last) = western_name(rng, &customer.contact, noise);
        format!("{first} {last}").trim().to_string()
    } else {
        hanzi_name(rng, &customer.contact, noise)
    };
    let email = (!rng.chance(noise.missing)).then(|| {
        let email = match &customer.work_email {
            Some(work) if rng.chance(0.6) => work.clone(),
            _ => customer.email.clone(),
        };
        maybe_typo(rng, email, noise.typo * 0.5)
    });
    let phone = if rng.chance(noise.missing) {
        None
    } else {
        match &customer.company {
            Some(company) if rng.chance(0.25) => {
                Some(typed_landline(rng, &company.switchboard, company.area_code))
            }
            _ => Some(typed_mobile(rng, &customer.mobile)),
        }
    };
    let organization = organization_id(customer);
    if let (Some(id), Some(company)) = (organization, &customer.company) {
        if out.zendesk_organization_ids.insert(id) {
            render_organization(id, company, customer.since, out)?;
        }
    }
    let updated = last_activity(customer);
    out.zendesk_users.write_json(&json!({
        "id": user_id,
        "url": format!("https://{}.zendesk.com/api/v2/users/{user_id}.json", out.zendesk_subdomain),
        "name": name,
        "email": email,
        "phone": phone,
        "external_id": Value::Null,
        "organization_id": organization,
        "role": "end-user",
        "active": true,
        "verified": email.is_some(),
        "locale": "zh-cn",
        "time_zone": "Beijing",
        "tags": [],
        "user_fields": {},
        "created_at": zendesk_time(customer.since),
        "updated_at": zendesk_time(updated),
    }))?;
    out.truth_records
        .write_csv(&["zendesk", "users", &user_id.to_string(), &customer.id])?;
    for contact in &customer.contacts {
        render_ticket(contact, user_id, organization, rng, ids, out)?;
    }
    Ok(())
}

fn render_ticket(
    contact: &Contacting,
    user_id: u64,
    organization: Option<u64>,
    rng: &mut Rng,
    ids: &mut Ids,
    out: &mut Output,
) -> Result<(), GenerateError> {
    let ticket_id = Ids::next(&mut ids.zendesk_ticket);
    let as_of_midnight = out.as_of_midnight;
    let solved = contact.at + Duration::hours(rng.range(1, 96));
    let (status, updated) = if solved + Duration::days(4) < as_of_midnight {
        ("closed", solved + Duration::days(4))
    } else if solved < as_of_midnight {
        ("solved", solved)
    } else {
        (
            *rng.pick(&["new", "open", "pending"]),
            contact.at + Duration::minutes(30),
        )
    };
    let subject = TICKET_SUBJECTS[contact.subject];
    let assignee = 382_000_000_000u64 + rng.below(12);
    let group = 383_000_000_000u64 + rng.below(3);
    let rating = match contact.score {
        "good" | "bad" => {
            let rating_id = 384_000_000_000 + Ids::next(&mut ids.zendesk_rating);
            let comment = if contact.score == "good" {
                "处理很及时，谢谢"
            } else {
                "等了好几天没人回复"
            };
            let rated = solved + Duration::hours(rng.range(1, 48));
            out.zendesk_ratings.write_json(&json!({
                "id": rating_id,
                "url": format!("https://{}.zendesk.com/api/v2/satisfaction_ratings/{rating_id}.json", out.zendesk_subdomain),
                "assignee_id": assignee,
                "group_id": group,
                "requester_id": user_id,
                "ticket_id": ticket_id,
                "score": contact.score,
                "comment": comment,
                "reason": if contact.score == "bad" { Value::from("The issue took too long to resolve") } else { Value::Null },
                "created_at": zendesk_time(rated),
                "updated_at": zendesk_time(rated),
            }))?;
            json!({"id": rating_id, "score": contact.score, "comment": comment})
        }
        score => json!({"score": score}),
    };
    let tags: Vec<&str> = match contact.channel.as_str() {
        "chat" => vec!["zopim_chat"],
        "voice" => vec!["voice"],
        _ => vec![],
    };
    out.zendesk_tickets.write_json(&json!({
        "id": ticket_id,
        "url": format!("https://{}.zendesk.com/api/v2/tickets/{ticket_id}.json", out.zendesk_subdomain),
        "requester_id": user_id,
        "submitter_id": user_id,
        "assignee_id": assignee,
        "group_id": group,
        "organization_id": organization,
        "status": status,
        "subject": subject,
        "description": subject,
        "tags": tags,
        "via": {"channel": contact.channel.as_str(), "source": {"from": {}, "to": {}, "rel": Value::Null}},
        "satisfaction_rating": rating,
        "created_at": zendesk_time(contact.at),
        "updated_at": zendesk_time(updated),
        "generated_timestamp": unix(updated),
    }))
}

fn render_odoo(
    customer: &TrueCustomer,
    bookings: &[Booking],
    rng: &mut Rng,
    noise: &Noise,
    ids: &mut Ids,
    out: &mut Output,
) -> Result<(), GenerateError> {
    let updated = last_activity(customer) + Duration::minutes(rng.range(1, 600));
    let categories = |rng: &mut Rng| -> Vec<u64> {
        if rng.chance(0.2) {
            vec![1 + rng.below(ODOO_CATEGORIES.len() as u64)]
        } else {
            Vec::new()
        }
    };
    let active = !rng.chance(0.03);
    let person_name = hanzi_name(rng, &customer.contact, noise);
    let mobile = (!rng.chance(noise.missing)).then(|| typed_mobile(rng, &customer.mobile));
    let (order_partner, order_partner_name) = match (&customer.company, customer.is_company) {
        (Some(company), true) => {
            let company_id = Ids::next(&mut ids.odoo_partner);
            let company_name = match rng.below(10) {
                0..=6 => company.legal_name(),
                7 | 8 => company.place_in_middle(rng.chance(0.5)),
                _ => maybe_typo(rng, company.legal_name(), 1.0),
            };
            let vat = (!rng.chance(noise.missing)).then(|| company.credit_code.clone());
            let switchboard = typed_landline(rng, &company.switchboard, company.area_code);
            out.odoo_partners.write_json(&json!({
                "id": company_id,
                "name": company_name,
                "display_name": company_name,
                "is_company": true,
                "company_type": "company",
                "type": "contact",
                "parent_id": false,
                "commercial_partner_id": [company_id, company_name],
                "email": format!("info@{}", company.domain),
                "phone": switchboard,
                "vat": or_false(vat),
                "street": customer.street,
                "city": company.city,
                "category_id": categories(rng),
                "active": active,
                "create_date": odoo_time(customer.since),
                "write_date": odoo_time(updated),
            }))?;
            out.truth_records.write_csv(&[
                "odoo",
                "res.partner",
                &company_id.to_string(),
                &customer.id,
            ])?;
            let contact_id = Ids::next(&mut ids.odoo_partner);
            let display = format!("{company_name}, {person_name}");
            out.odoo_partners.write_json(&json!({
                "id": contact_id,
                "name": person_name,
                "display_name": display,
                "is_company": false,
                "company_type": "person",
                "type": "contact",
                "function": *rng.pick(&["采购经理", "总经理", "行政", "财务"]),
                "parent_id": [company_id, company_name],
                "commercial_partner_id": [company_id, company_name],
                "email": or_false(customer.work_email.clone().filter(|_| !rng.chance(noise.missing))),
                "phone": or_false(mobile),
                "vat": false,
                "street": customer.street,
                "city": company.city,
                "category_id": [],
                "active": active,
                "create_date": odoo_time(customer.since),
                "write_date": odoo_time(updated),
            }))?;
            out.truth_records.write_csv(&[
                "odoo",
                "res.partner",
                &contact_id.to_string(),
                &customer.id,
            ])?;
            (company_id, company_name)
        }
        _ => {
            let partner_id = Ids::next(&mut ids.odoo_partner);
            // Employees sometimes leave the company switchboard as their phone.
            let phone = match &customer.company {
                Some(company) if rng.chance(0.3) => {
                    Some(typed_landline(rng, &company.switchboard, company.area_code))
                }
                _ => mobile,
            };
            let email = (!rng.chance(noise.missing)).then(|| customer.email.clone());
            out.odoo_partners.write_json(&json!({
                "id": partner_id,
                "name": person_name,
                "display_name": person_name,
                "is_company": false,
                "company_type": "person",
                "type": "contact",
                "parent_id": false,
                "commercial_partner_id": [partner_id, person_name],
                "email": or_false(email),
                "phone": or_false(phone),
                "vat": false,
                "street": customer.street,
                "city": customer.city,
                "category_id": categories(rng),
                "active": active,
                "create_date": odoo_time(customer.since),
                "write_date": odoo_time(updated),
            }))?;
            out.truth_records.write_csv(&[
                "odoo",
                "res.partner",
                &partner_id.to_string(),
                &customer.id,
            ])?;
            (partner_id, person_name)
        }
    };
    for (purchase, booking) in customer.purchases.iter().zip(bookings) {
        if *booking != Booking::Odoo {
            continue;
        }
        let order_id = Ids::next(&mut ids.odoo_order);
        let state = match rng.below(100) {
            0..=59 => "done",
            60..=89 => "sale",
            90..=96 => "cancel",
            _ => "draft",
        };
        out.odoo_orders.write_json(&json!({
            "id": order_id,
            "name": format!("S{order_id:05}"),
            "partner_id": [order_partner, order_partner_name],
            "date_order": odoo_time(purchase.at),
            "amount_total": purchase.amount_fen as f64 / 100.0,
            "state": state,
            "client_order_ref": false,
            "create_date": odoo_time(purchase.at),
            "write_date": odoo_time(purchase.at + Duration::hours(rng.range(1, 72))),
        }))?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn render_erp(
    customer: &TrueCustomer,
    bookings: &[Booking],
    shop_orders: &[Option<(u64, String)>],
    rng: &mut Rng,
    noise: &Noise,
    ids: &mut Ids,
    out: &mut Output,
) -> Result<(), GenerateError> {
    let copies = if rng.chance(noise.erp_duplicate) {
        2
    } else {
        1
    };
    let mut customer_ids = Vec::new();
    for copy in 0..copies {
        let erp_id = 100_000 + Ids::next(&mut ids.erp_customer);
        customer_ids.push(erp_id);
        let (name, contact_person, tax_id, credit_limit) =
            match (&customer.company, customer.is_company) {
                (Some(company), true) => {
                    let name = if copy == 0 {
                        maybe_typo(rng, company.legal_name(), noise.typo)
                    } else {
                        company.short_name()
                    };
                    let contact = hanzi_name(rng, &customer.contact, noise);
                    let tax = (!rng.chance(noise.missing)).then(|| company.credit_code.clone());
                    (name, Some(contact), tax, 10_000 * rng.range(1, 50))
                }
                _ => {
                    let name = customer.contact.full();
                    let name = if rng.chance(noise.typo) {
                        typo(rng, &name)
                    } else {
                        name
                    };
                    (name, None, None, 0)
                }
            };
        let mobile = (!rng.chance(noise.missing)).then(|| {
            if rng.chance(0.7) {
                customer.mobile.clone()
            } else {
                typed_mobile(rng, &customer.mobile)
            }
        });
        let phone = customer
            .company
            .as_ref()
            .filter(|_| rng.chance(0.6))
            .map(|company| typed_landline(rng, &company.switchboard, company.area_code));
        let email = (!rng.chance(noise.missing * 2.0)).then(|| {
            customer
                .work_email
                .clone()
                .filter(|_| rng.chance(0.6))
                .unwrap_or_else(|| customer.email.clone())
        });
        let created = customer.since + Duration::days(copy * rng.range(30, 300));
        let modified = created.max(last_activity(customer)) + Duration::minutes(rng.range(1, 600));
        out.erp_customers.write_json(&json!({
            "id": erp_id,
            "code": format!("KH{erp_id:07}"),
            "name": name,
            "kind": if customer.is_company { "company" } else { "person" },
            "contact_person": contact_person,
            "mobile": mobile,
            "phone": phone,
            "email": email,
            "tax_id": tax_id,
            "province": customer.province,
            "city": customer.city,
            "credit_limit": format!("{credit_limit}.00"),
            "created_at": local_time(created),
            "modified_at": local_time(modified),
        }))?;
        out.truth_records
            .write_csv(&["erp", "customers", &erp_id.to_string(), &customer.id])?;
    }
    for (position, (purchase, booking)) in customer.purchases.iter().zip(bookings).enumerate() {
        let source_ref = match booking {
            Booking::Erp => None,
            Booking::Shop { also_erp: true } => shop_orders.get(position).cloned().flatten(),
            _ => continue,
        };
        let order_id = 500_000 + Ids::next(&mut ids.erp_order);
        let ordered = match source_ref {
            // Imported from the shop up to a day later.
            Some(_) => purchase.at + Duration::minutes(rng.range(5, 24 * 60)),
            None => purchase.at,
        };
        let status = match rng.below(100) {
            0..=69 => "completed",
            70..=84 => "shipped",
            85..=94 => "approved",
            _ => "cancelled",
        };
        let owner = customer_ids[if customer_ids.len() == 2 && rng.chance(0.3) {
            1
        } else {
            0
        }];
        out.erp_orders.write_json(&json!({
            "id": order_id,
            "order_no": format!("SO{}{order_id:07}", ordered.format("%Y%m%d")),
            "customer_id": owner,
            "amount": yuan(purchase.amount_fen),
            "currency": "CNY",
            "status": status,
            "order_date": ordered.format("%Y-%m-%d").to_string(),
            "modified_at": local_time(ordered + Duration::hours(rng.range(1, 120))),
            // One import job in three keeps the shop's number without its
            // `#` (1001 for #1001).
            "source_ref": source_ref.as_ref().map(|(_, name)| match order_id % 3 {
                0 => name.trim_start_matches('#').to_string(),
                _ => name.clone(),
            }),
        }))?;
        if let Some((shop_id, _)) = source_ref {
            let true_order = format!("{}-{}", customer.id, position + 1);
            out.truth_orders
                .write_csv(&["shopify", &shop_id.to_string(), &true_order])?;
            out.truth_orders
                .write_csv(&["erp", &order_id.to_string(), &true_order])?;
        }
    }
    Ok(())
}

/// A caller number in the shapes trunks deliver it.
fn caller_number(rng: &mut Rng, customer: &TrueCustomer, noise: &Noise) -> String {
    if rng.chance(noise.anonymous_call) {
        return if rng.chance(0.7) {
            "anonymous".to_string()
        } else {
            String::new()
        };
    }
    if let Some(company) = &customer.company {
        if rng.chance(0.25) {
            let landline = &company.switchboard;
            return if rng.chance(0.8) {
                landline.clone()
            } else {
                landline[company.area_code.len()..].to_string()
            };
        }
    }
    let mobile = &customer.mobile;
    match rng.below(20) {
        0..=8 => mobile.clone(),
        9..=11 => format!("86{mobile}"),
        12..=15 => format!("+86{mobile}"),
        _ => format!("0{mobile}"),
    }
}

fn uuid(rng: &mut Rng) -> String {
    let a = rng.token(HEX, 32);
    let variant = ["8", "9", "a", "b"][rng.below(4) as usize];
    format!(
        "{}-{}-4{}-{variant}{}-{}",
        &a[..8],
        &a[8..12],
        &a[13..16],
        &a[17..20],
        &a[20..]
    )
}

/// An Asterisk CSV string field: quoted, quotes doubled.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

fn render_calls(
    customer: &TrueCustomer,
    rng: &mut Rng,
    noise: &Noise,
    ids: &mut Ids,
    out: &mut Output,
) -> Result<(), GenerateError> {
    for call in &customer.calls {
        let serial = Ids::next(&mut ids.call);
        let number = caller_number(rng, customer, noise);
        let extension = 8001 + rng.below(16);
        let Call {
            at,
            answered_after,
            talk_seconds,
        } = *call;
        let ring = answered_after.unwrap_or(rng.range(10, 40) as u32);
        let end = at + Duration::seconds(i64::from(ring + talk_seconds));
        let duration = ring + talk_seconds;
        let answer = answered_after.map(|after| at + Duration::seconds(i64::from(after)));
        let busy = answer.is_none() && rng.chance(0.3);
        if rng.chance(0.7) {
            let caller_name = if number.is_empty() || number == "anonymous" {
                String::new()
            } else if rng.chance(0.2) {
                customer.contact.full()
            } else {
                number.clone()
            };
            let clid = if number.is_empty() {
                String::new()
            } else {
                format!("\"{caller_name}\" <{number}>")
            };
            let disposition = match (answer.is_some(), busy) {
                (true, _) => "ANSWERED",
                (false, true) => "BUSY",
                (false, false) => "NO ANSWER",
            };
            let fields = [
                quoted(""),
                quoted(&number),
                quoted(&extension.to_string()),
                quoted("from-trunk"),
                quoted(&clid),
                quoted(&format!("SIP/trunk-{:08x}", serial * 2)),
                quoted(&format!("SIP/{extension}-{:08x}", serial * 2 + 1)),
                quoted("Dial"),
                quoted(&format!("SIP/{extension},30")),
                quoted(&local_time(at)),
                answer.map_or(String::new(), |answer| quoted(&local_time(answer))),
                quoted(&local_time(end)),
                duration.to_string(),
                talk_seconds.to_string(),
                quoted(disposition),
                quoted("DOCUMENTATION"),
                quoted(&format!("{}.{}", unix(at), serial)),
                quoted(""),
            ];
            out.asterisk.write_line(&fields.join(","))?;
        } else {
            let cause = match (answer.is_some(), busy) {
                (true, _) => "NORMAL_CLEARING",
                (false, true) => "USER_BUSY",
                (false, false) => "NO_ANSWER",
            };
            let caller_name = if number.is_empty() || number == "anonymous" {
                ""
            } else {
                number.as_str()
            };
            let bleg = if answer.is_some() {
                uuid(rng)
            } else {
                String::new()
            };
            let fields = [
                caller_name.to_string(),
                number.clone(),
                extension.to_string(),
                "public".to_string(),
                local_time(at),
                answer.map_or(String::new(), local_time),
                local_time(end),
                duration.to_string(),
                talk_seconds.to_string(),
                cause.to_string(),
                uuid(rng),
                bleg,
                String::new(),
                "PCMA".to_string(),
                "PCMA".to_string(),
            ];
            let line: Vec<String> = fields.iter().map(|field| quoted(field)).collect();
            out.freeswitch.write_line(&line.join(","))?;
        }
    }
    Ok(())
}

/// The partner categories file: pre-existing groups that are not tiers.
pub(crate) fn odoo_categories(out: &mut Sink) -> Result<(), GenerateError> {
    for (index, name) in ODOO_CATEGORIES.iter().enumerate() {
        out.write_json(&json!({
            "id": index + 1,
            "name": name,
            "display_name": name,
            "color": index % 12,
            "parent_id": false,
            "active": true,
        }))?;
    }
    Ok(())
}
