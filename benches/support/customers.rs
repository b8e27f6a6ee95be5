//! Customer source records made from the world generator's true customers
//! (seed 5), as the ERP, the web shop and WeCom would hold them: an ERP
//! record for each (hanzi name, mobile, e-mail, employer, address), a shop
//! account for six in ten (pinyin name, e-mail, city), a WeCom contact for
//! four in ten (name, mobile, sometimes an old one). Each bench uses a
//! part of them.
#![allow(dead_code)]

use chrono::NaiveDate;
use tierlink::model::{Party, PartyKind};
use tierlink::world::{draw_customer, TrueCustomer};

const SEED: u64 = 5;

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).expect("a date")
}

/// True customer `index` of the seeded world.
pub fn customer(index: u64) -> TrueCustomer {
    draw_customer(SEED, index, as_of(), 0.04)
}

pub fn erp_record(customer: &TrueCustomer) -> Party {
    Party {
        connector: "erp".into(),
        source_id: customer.id.clone(),
        kind: PartyKind::Person,
        name: Some(customer.contact.full()),
        phones: vec![customer.mobile.clone()],
        emails: vec![customer.email.clone()],
        company: customer
            .company
            .as_ref()
            .map(|company| company.legal_name()),
        address: Some(format!("{}{}", customer.city, customer.street)),
        ..Party::default()
    }
}

/// The customer's shop account number `account` (a second account uses
/// the work e-mail where there is one).
pub fn shop_record(customer: &TrueCustomer, account: u32) -> Party {
    let (first, last) = customer.contact.latin();
    let email = match (account, &customer.work_email) {
        (0, _) | (_, None) => customer.email.clone(),
        (_, Some(work)) => work.clone(),
    };
    Party {
        connector: "shop".into(),
        source_id: format!("{}-{account}", customer.id),
        name: Some(format!("{first} {last}")),
        emails: vec![email],
        address: Some(customer.city.to_string()),
        ..Party::default()
    }
}

pub fn wecom_record(customer: &TrueCustomer) -> Party {
    Party {
        connector: "wecom".into(),
        source_id: customer.id.clone(),
        name: Some(customer.contact.full()),
        phones: vec![customer
            .old_mobile
            .clone()
            .unwrap_or(customer.mobile.clone())],
        ..Party::default()
    }
}

/// The records of customer `index`.
pub fn records_of(index: u64) -> Vec<Party> {
    let customer = customer(index);
    let mut records = vec![erp_record(&customer)];
    if index % 10 < 6 {
        records.push(shop_record(&customer, 0));
    }
    if index % 5 < 2 {
        records.push(wecom_record(&customer));
    }
    records
}

/// The first `total` records, and how many customers they came from.
pub fn first_records(total: usize) -> (Vec<Party>, u64) {
    let mut records = Vec::with_capacity(total);
    let mut customers = 0u64;
    while records.len() < total {
        records.extend(records_of(customers));
        customers += 1;
    }
    records.truncate(total);
    (records, customers)
}
