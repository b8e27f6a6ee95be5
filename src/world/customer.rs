//! The true customers of a world: who each one is, which systems know it,
//! and what it did (purchases, help-desk contacts, calls), drawn from its
//! archetype relative to the as-of date. Everything a system record says is
//! rendered from this truth (see `render`), so ground truth is exact.

use chrono::{Duration, NaiveDate, NaiveDateTime};

use super::data::{CITIES, PRODUCTS, ROADS};
use super::identity::{
    draw_company, draw_person_name, mobile, personal_email, work_email, Company, PersonName,
};
use super::rng::Rng;

/// A customer's purchase pattern relative to the as-of date; segmentation
/// should put each archetype in its expected tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Archetype {
    /// Many, large, recent and frequent orders.
    Champion,
    /// Regular orders over years, the last one recent.
    Loyal,
    /// Started within the year, ordering more and more.
    Growing,
    /// First order within the last 45 days.
    New,
    /// Exactly one very large order, months ago.
    OneTimeBigSpender,
    /// Used to order; the last order 6 to 12 months ago.
    Dormant,
    /// Nothing for more than 400 days.
    Churned,
}

impl Archetype {
    pub const ALL: [Archetype; 7] = [
        Archetype::Champion,
        Archetype::Loyal,
        Archetype::Growing,
        Archetype::New,
        Archetype::OneTimeBigSpender,
        Archetype::Dormant,
        Archetype::Churned,
    ];

    /// Share of customers per ten thousand.
    fn weight(self) -> u32 {
        match self {
            Archetype::Champion => 500,
            Archetype::Loyal => 1500,
            Archetype::Growing => 1200,
            Archetype::New => 1300,
            Archetype::OneTimeBigSpender => 500,
            Archetype::Dormant => 2500,
            Archetype::Churned => 2500,
        }
    }

    /// The name used in `truth/customers.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Archetype::Champion => "champion",
            Archetype::Loyal => "loyal",
            Archetype::Growing => "growing",
            Archetype::New => "new",
            Archetype::OneTimeBigSpender => "one_time_big_spender",
            Archetype::Dormant => "dormant",
            Archetype::Churned => "churned",
        }
    }
}

/// A help-desk contact channel, as Zendesk's `via.channel` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Web,
    Chat,
    Voice,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Web => "web",
            Channel::Chat => "chat",
            Channel::Voice => "voice",
        }
    }
}

/// A purchase, at local (+08:00) time.
#[derive(Debug, Clone, PartialEq)]
pub struct Purchase {
    pub at: NaiveDateTime,
    pub product: usize,
    pub quantity: u32,
    /// Total in fen (0.01 yuan).
    pub amount_fen: i64,
}

/// A help-desk ticket or chat.
#[derive(Debug, Clone, PartialEq)]
pub struct Contacting {
    pub at: NaiveDateTime,
    pub channel: Channel,
    /// "good", "bad", "offered" or "unoffered".
    pub score: &'static str,
    pub subject: usize,
}

/// A phone call to the call centre.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub at: NaiveDateTime,
    /// Seconds from the start of ringing; `None` if nobody answered.
    pub answered_after: Option<u32>,
    pub talk_seconds: u32,
}

/// Which systems know the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Systems {
    pub wecom: bool,
    pub shopify: bool,
    pub zendesk: bool,
    pub odoo: bool,
    pub erp: bool,
}

/// One true customer.
#[derive(Debug, Clone)]
pub struct TrueCustomer {
    pub index: u64,
    /// `C0000001`: the ground-truth id.
    pub id: String,
    pub is_company: bool,
    pub archetype: Archetype,
    /// The person, or the company's contact person.
    pub contact: PersonName,
    pub male: bool,
    pub mobile: String,
    /// A second mobile some systems still have (a changed number).
    pub old_mobile: Option<String>,
    pub email: String,
    /// A work address at the company (company contacts, employees).
    pub work_email: Option<String>,
    /// The company itself, or a person's employer (colleagues share it and
    /// its switchboard).
    pub company: Option<Company>,
    pub city: &'static str,
    pub province: &'static str,
    pub street: String,
    pub systems: Systems,
    /// When the customer first became known.
    pub since: NaiveDateTime,
    pub purchases: Vec<Purchase>,
    pub contacts: Vec<Contacting>,
    pub calls: Vec<Call>,
}

/// Persons per block that may share an employer.
const EMPLOYER_BLOCK: u64 = 16;
const EMPLOYER_SALT: u64 = 0x454d_504c_4f59_4552;

/// Draws customer `index` of the world with `seed`, active up to `as_of`.
pub fn draw_customer(seed: u64, index: u64, as_of: NaiveDate, english_share: f64) -> TrueCustomer {
    let mut rng = Rng::new(seed, index);
    let is_company = rng.chance(0.25);
    let archetype = Archetype::ALL[rng.weighted_index(Archetype::ALL.iter().map(|a| a.weight()))];
    let (contact, male) = draw_person_name(&mut rng, english_share);
    let mobile = mobile(&mut rng, index);
    let old_mobile = rng
        .chance(0.08)
        .then(|| super::identity::mobile(&mut rng, index + 50_000_000));
    let email = personal_email(&mut rng, &contact, index);
    let company = if is_company {
        Some(draw_company(&mut rng, 2 * index))
    } else if rng.chance(0.35) {
        let block = index / EMPLOYER_BLOCK;
        let mut employer_rng = Rng::new(seed ^ EMPLOYER_SALT, block);
        Some(draw_company(&mut employer_rng, 2 * block + 1))
    } else {
        None
    };
    let work_email = company
        .as_ref()
        .map(|company| work_email(&contact, company, index % EMPLOYER_BLOCK));
    let (city, province) = match &company {
        Some(company) if is_company || rng.chance(0.8) => (company.city, company.province),
        _ => {
            let city = CITIES[rng.weighted_index(CITIES.iter().map(|c| c.5))];
            (city.0, city.2)
        }
    };
    let street = format!("{}{}号", rng.pick(ROADS), rng.range(1, 999));
    let purchases = draw_purchases(&mut rng, archetype, is_company, as_of);
    let first_purchase = purchases
        .first()
        .map(|p| p.at)
        .expect("every archetype buys");
    let since =
        first_purchase - Duration::days(rng.range(0, 60)) - Duration::minutes(rng.range(0, 600));
    let contacts = draw_contacts(&mut rng, archetype, &purchases, as_of);
    let calls = draw_calls(&mut rng, archetype, &purchases, as_of);
    let systems = draw_systems(&mut rng, is_company);
    TrueCustomer {
        index,
        id: format!("C{:07}", index + 1),
        is_company,
        archetype,
        contact,
        male,
        mobile,
        old_mobile,
        email,
        work_email,
        company,
        city,
        province,
        street,
        systems,
        since,
        purchases,
        contacts,
        calls,
    }
}

impl TrueCustomer {
    /// The name in `truth/customers.csv`: the person's, or the company's
    /// registered name.
    pub fn true_name(&self) -> String {
        match (&self.company, self.is_company) {
            (Some(company), true) => company.legal_name(),
            _ => self.contact.full(),
        }
    }
}

fn draw_systems(rng: &mut Rng, is_company: bool) -> Systems {
    let shares = if is_company {
        [0.55, 0.3, 0.35, 0.5, 0.7]
    } else {
        [0.5, 0.65, 0.35, 0.15, 0.45]
    };
    let mut systems = Systems {
        wecom: rng.chance(shares[0]),
        shopify: rng.chance(shares[1]),
        zendesk: rng.chance(shares[2]),
        odoo: rng.chance(shares[3]),
        erp: rng.chance(shares[4]),
    };
    // Every customer bought something, so some system that records orders
    // knows it.
    if !(systems.shopify || systems.odoo || systems.erp) {
        if is_company {
            systems.erp = true;
        } else {
            systems.shopify = true;
        }
    }
    systems
}

/// A moment on the day `days_ago` days before `as_of`, in business hours.
fn moment(rng: &mut Rng, as_of: NaiveDate, days_ago: i64) -> NaiveDateTime {
    let day = as_of - Duration::days(days_ago);
    day.and_hms_opt(8, 0, 0).expect("valid time") + Duration::seconds(rng.range(0, 14 * 3600 - 1))
}

fn draw_purchases(
    rng: &mut Rng,
    archetype: Archetype,
    is_company: bool,
    as_of: NaiveDate,
) -> Vec<Purchase> {
    // (count, days ago of the last order, days ago of the first, unit scale)
    let (count, last_ago, first_ago, scale) = match archetype {
        Archetype::Champion => (
            rng.range(12, 30),
            rng.range(1, 20),
            rng.range(500, 900),
            3.0,
        ),
        Archetype::Loyal => (
            rng.range(6, 14),
            rng.range(1, 60),
            rng.range(500, 1000),
            1.2,
        ),
        Archetype::Growing => (rng.range(3, 8), rng.range(1, 45), rng.range(120, 360), 1.5),
        Archetype::New => (rng.range(1, 2), rng.range(1, 30), rng.range(30, 45), 1.0),
        Archetype::OneTimeBigSpender => (1, rng.range(30, 300), 0, 30.0),
        Archetype::Dormant => (
            rng.range(2, 6),
            rng.range(181, 365),
            rng.range(400, 900),
            1.0,
        ),
        Archetype::Churned => (
            rng.range(1, 6),
            rng.range(400, 700),
            rng.range(700, 1100),
            0.8,
        ),
    };
    let first_ago = first_ago.max(last_ago);
    let mut days: Vec<i64> = (0..count)
        .map(|i| match (i, archetype) {
            (0, _) => last_ago,
            (1, _) => first_ago,
            // Growing customers order more often lately: squeeze towards now.
            (_, Archetype::Growing) => {
                let u = rng.unit();
                last_ago + ((first_ago - last_ago) as f64 * u * u) as i64
            }
            _ => rng.range(last_ago, first_ago),
        })
        .collect();
    days.sort_unstable_by(|a, b| b.cmp(a));
    let company_scale = if is_company { 3.0 } else { 1.0 };
    let total = days.len();
    days.into_iter()
        .enumerate()
        .map(|(position, days_ago)| {
            let product = rng.below(PRODUCTS.len() as u64) as usize;
            let quantity = rng.range(1, 3) as u32;
            let growth = if archetype == Archetype::Growing {
                0.5 + position as f64 / total as f64
            } else {
                1.0
            };
            let base = f64::from(PRODUCTS[product].2) * f64::from(quantity);
            let amount = base * scale * company_scale * growth * (0.8 + 0.4 * rng.unit());
            Purchase {
                at: moment(rng, as_of, days_ago),
                product,
                quantity,
                // A whole number of fen per unit, so every system's total agrees.
                amount_fen: (amount * 100.0 / f64::from(quantity)).round() as i64
                    * i64::from(quantity),
            }
        })
        .collect()
}

fn near_activity(rng: &mut Rng, purchases: &[Purchase], as_of: NaiveDate) -> NaiveDateTime {
    // Within twelve days after a purchase, in opening hours, before as_of.
    let purchase_day = rng.pick(purchases).at.date();
    let days_ago = (as_of - purchase_day).num_days() - rng.range(0, 12);
    moment(rng, as_of, days_ago.max(1))
}

fn draw_contacts(
    rng: &mut Rng,
    archetype: Archetype,
    purchases: &[Purchase],
    as_of: NaiveDate,
) -> Vec<Contacting> {
    let (count, good_share) = match archetype {
        Archetype::Champion => (rng.range(0, 3), 0.85),
        Archetype::Loyal => (rng.range(0, 2), 0.8),
        Archetype::Churned => (rng.range(1, 4), 0.3),
        Archetype::New => (rng.range(0, 1), 0.65),
        _ => (rng.range(0, 2), 0.65),
    };
    let mut contacts: Vec<Contacting> = (0..count)
        .map(|_| {
            let at = near_activity(rng, purchases, as_of);
            let channel = match rng.below(20) {
                0..=7 => Channel::Email,
                8..=12 => Channel::Web,
                13..=17 => Channel::Chat,
                _ => Channel::Voice,
            };
            let score = if rng.chance(0.6) {
                if rng.chance(good_share) {
                    "good"
                } else {
                    "bad"
                }
            } else if rng.chance(0.5) {
                "offered"
            } else {
                "unoffered"
            };
            Contacting {
                at,
                channel,
                score,
                subject: rng.below(super::data::TICKET_SUBJECTS.len() as u64) as usize,
            }
        })
        .collect();
    contacts.sort_by_key(|contact| contact.at);
    contacts
}

fn draw_calls(
    rng: &mut Rng,
    archetype: Archetype,
    purchases: &[Purchase],
    as_of: NaiveDate,
) -> Vec<Call> {
    let count = match archetype {
        Archetype::Champion => rng.range(1, 5),
        Archetype::Churned | Archetype::Dormant => rng.range(0, 2),
        _ => rng.range(0, 3),
    };
    let mut calls: Vec<Call> = (0..count)
        .map(|_| {
            let answered = rng.chance(0.8);
            Call {
                at: near_activity(rng, purchases, as_of),
                answered_after: answered.then(|| rng.range(3, 25) as u32),
                talk_seconds: if answered {
                    rng.range(20, 900) as u32
                } else {
                    0
                },
            }
        })
        .collect();
    calls.sort_by_key(|call| call.at);
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_of() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
    }

    #[test]
    fn archetypes_shape_the_purchase_history() {
        for index in 0..3_000 {
            let customer = draw_customer(11, index, as_of(), 0.04);
            let midnight = as_of().and_hms_opt(0, 0, 0).unwrap();
            let last = customer.purchases.last().unwrap().at;
            let days_since_last = (midnight - last).num_days();
            match customer.archetype {
                Archetype::Churned => assert!(days_since_last >= 365, "{days_since_last}"),
                Archetype::Dormant => assert!((180..=365).contains(&days_since_last)),
                Archetype::New => {
                    assert!((midnight - customer.purchases[0].at).num_days() <= 45)
                }
                Archetype::OneTimeBigSpender => assert_eq!(customer.purchases.len(), 1),
                Archetype::Champion => {
                    assert!(customer.purchases.len() >= 12 && days_since_last <= 20)
                }
                _ => assert!(days_since_last <= 60),
            }
            assert!(customer.since <= customer.purchases[0].at);
            assert!(customer.contacts.iter().all(|c| c.at < midnight));
            let systems = customer.systems;
            assert!(systems.shopify || systems.odoo || systems.erp);
        }
    }

    #[test]
    fn colleagues_in_a_block_share_an_employer() {
        let customers: Vec<TrueCustomer> =
            (0..16).map(|i| draw_customer(5, i, as_of(), 0.0)).collect();
        let employers: Vec<&Company> = customers
            .iter()
            .filter(|c| !c.is_company)
            .filter_map(|c| c.company.as_ref())
            .collect();
        assert!(employers.len() >= 2, "expected colleagues in a block of 16");
        assert!(employers.windows(2).all(|pair| pair[0] == pair[1]));
    }
}
