//! The probabilistic engine applied to customers: each party becomes one row
//! of normalized match fields (person name keys in any script and order,
//! mobiles, landlines, e-mail keys, firm key, city, street and house
//! number, kind, strong ids, shared orders), and the engine scores the blocked candidate pairs with the
//! built-in customer config (`customers.toml`). Pure: parties in, scored
//! links and review pairs out; the steward module clusters them under the
//! stewards' constraints.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

use super::cluster::Constraints;
use super::config::{FieldKind, ResolveConfig};
use super::engine::{self, Resolution, ScoredPair};
use super::fellegi_sunter::Explanation;
use super::parallel::map_in_order;
use super::table::{FieldValue, RecordTable, TableBuilder};
use crate::model::{OrderCitation, Party, PartyKey, PartyKind};
use crate::normalize::address::{normalize_place, parse_address};
use crate::normalize::company::normalize_company_name;
use crate::normalize::email::{email_match_key, employer_mail_name, normalize_emails};
use crate::normalize::ids::{normalize_uscc, normalize_wechat_unionid};
use crate::normalize::name::normalize_person_name;
use crate::normalize::phone::{normalize_phones, PhoneKind};

/// The built-in customer matching config.
pub const CUSTOMER_MATCHING: &str = include_str!("customers.toml");

/// A project's own matching config, next to `tierlink.toml`; it replaces
/// the built-in one whole.
pub const MATCHING_FILE: &str = "matching.toml";

/// The fields a matching config may compare: what [`match_fields`] gives.
pub const MATCH_FIELDS: [&str; 12] = [
    "name", "mobile", "landline", "email", "company", "city", "street", "kind", "uscc", "unionid",
    "account", "order",
];

/// The attribute naming a company account's contact person (the ERP's
/// `contact_person`): the person other systems know the customer by.
pub const CONTACT_PERSON_ATTRIBUTE: &str = "contact_person";

/// The attribute holding a sales rep's note on a contact (WeCom's
/// `remark`), often the real name behind a nickname: `张伟-字节跳动`.
pub const REMARK_ATTRIBUTE: &str = "remark";

/// The strong id naming the account a record belongs to in its own system
/// (Odoo's `commercial_partner_id`: a company for its contacts, the record
/// itself otherwise). Records of one system with the same account are one
/// customer.
pub const ACCOUNT_ID: &str = "account";

/// Reads a project's matching config: valid as a config, and comparing only
/// fields a party provides. Every problem is listed.
pub fn parse_matching(text: &str) -> Result<ResolveConfig, Vec<String>> {
    let config = ResolveConfig::from_toml(text)
        .map_err(|errors| errors.into_iter().map(|error| error.0).collect::<Vec<_>>())?;
    let unknown: Vec<String> = config
        .fields
        .iter()
        .filter(|field| !MATCH_FIELDS.contains(&field.name.as_str()))
        .map(|field| {
            format!(
                "fields: {:?} is not a match field; use {}",
                field.name,
                MATCH_FIELDS.join(", ")
            )
        })
        .collect();
    if unknown.is_empty() {
        Ok(config)
    } else {
        Err(unknown)
    }
}

/// The built-in customer matching config, parsed once.
pub fn customer_config() -> &'static ResolveConfig {
    static CONFIG: OnceLock<ResolveConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        ResolveConfig::from_toml(CUSTOMER_MATCHING)
            .unwrap_or_else(|errors| panic!("the built-in customers.toml is invalid: {errors:?}"))
    })
}

/// A party's values for the customer config's fields, in its field order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchFields {
    /// Person name keys: a person's, a company account's contact person's,
    /// and any whole name in a rep's remark. A company's own name is its
    /// firm key in `company` only.
    pub name: Vec<String>,
    pub mobile: Vec<String>,
    pub landline: Vec<String>,
    pub email: Vec<String>,
    /// The firm key of the company's name or the employer's; without one,
    /// the name a work e-mail's domain gives the employer (`huawei`).
    pub company: Option<String>,
    pub city: Option<String>,
    /// Street and house number, without the places before them
    /// ([`crate::normalize::address::street_key`]).
    pub street: Option<String>,
    pub kind: &'static str,
    pub uscc: Option<String>,
    pub unionid: Option<String>,
    /// `connector:id` of the record's account in its own system.
    pub account: Option<String>,
    /// `connector:number` of each order the record shares with another
    /// system's record ([`Party::shared_orders`]).
    pub order: Vec<String>,
}

/// Normalizes a party into its match fields.
pub fn match_fields(party: &Party) -> MatchFields {
    let mut fields = MatchFields {
        kind: party.kind.as_str(),
        ..MatchFields::default()
    };
    let mut names = BTreeSet::new();
    let mut cities = Vec::new();
    if let Some(name) = party.name.as_deref() {
        if party.kind == PartyKind::Company {
            if let Some(company) = normalize_company_name(name) {
                fields.company = Some(company_firm_key(&company));
                cities.extend(
                    company
                        .region
                        .and_then(|region| region.city.or(Some(region.province))),
                );
            }
        } else if let Some(person) = normalize_person_name(name) {
            names.extend(person.keys);
        }
    }
    let attribute = |name: &str| party.attributes.get(name).and_then(|value| value.as_str());
    if let Some(contact) =
        attribute(CONTACT_PERSON_ATTRIBUTE).filter(|_| party.kind == PartyKind::Company)
    {
        names.extend(full_name_keys(contact));
    }
    if fields.company.is_none() {
        if let Some(company) = party.company.as_deref().and_then(normalize_company_name) {
            fields.company = Some(company_firm_key(&company));
        }
    }
    // One remark, or one per member who follows the contact.
    let remarks = match party.attributes.get(REMARK_ATTRIBUTE) {
        Some(serde_json::Value::String(remark)) => vec![remark.as_str()],
        Some(serde_json::Value::Array(remarks)) => remarks
            .iter()
            .filter_map(|remark| remark.as_str())
            .collect(),
        _ => Vec::new(),
    };
    for remark in remarks {
        // `张伟-字节跳动`, `张伟 (采购)`: any part that is a whole name and
        // not a firm's (`德润电子` would read as surname 德).
        for part in remark.split(['-', '—', '_', '/', '(', ')', '（', '）', ',', '，', ' ']) {
            if !names_a_firm(part, fields.company.as_deref()) {
                names.extend(full_name_keys(part));
            }
        }
    }
    fields.name = names.into_iter().collect();
    let mut mobiles = BTreeSet::new();
    let mut landlines = BTreeSet::new();
    for raw in &party.phones {
        for phone in normalize_phones(raw) {
            match phone.kind {
                PhoneKind::Mobile | PhoneKind::International => mobiles.insert(phone.e164),
                PhoneKind::Landline | PhoneKind::Service => landlines.insert(phone.e164),
            };
        }
    }
    fields.mobile = mobiles.into_iter().collect();
    fields.landline = landlines.into_iter().collect();
    let emails: BTreeSet<String> = party
        .emails
        .iter()
        .flat_map(|raw| normalize_emails(raw))
        .map(|email| email_match_key(&email))
        .collect();
    if fields.company.is_none() {
        // A work address names the employer (`huawei` from `@huawei.com`),
        // which the company field's `pinyin_start` level reads against a
        // firm's Chinese name.
        fields.company = emails.iter().find_map(|email| employer_mail_name(email));
    }
    fields.email = emails.into_iter().collect();
    if let Some(address) = party.address.as_deref() {
        let (region, street) = parse_address(address);
        if let Some(region) = region.or_else(|| normalize_place(address)) {
            cities.insert(0, region.city.unwrap_or(region.province));
        }
        fields.street = street;
    }
    fields.city = cities.first().map(|city| city.to_string());
    fields.uscc = party
        .strong_ids
        .get("uscc")
        .and_then(|id| normalize_uscc(id));
    fields.unionid = party
        .strong_ids
        .get("wechat_unionid")
        .and_then(|id| normalize_wechat_unionid(id));
    fields.account = party
        .strong_ids
        .get(ACCOUNT_ID)
        .map(|id| id.trim())
        .filter(|id| !id.is_empty())
        .map(|id| format!("{}:{id}", party.connector));
    fields.order = party.shared_orders.clone();
    fields
}

/// A remark's part names a firm: its name ends in trade words (`德润电子`,
/// `信达物流`) or begins the record's own firm key `company` (`字节跳动` of
/// `字节跳动科技`).
fn names_a_firm(part: &str, company: Option<&str>) -> bool {
    normalize_company_name(part).is_some_and(|firm| {
        firm.industry.is_some()
            || company.is_some_and(|key| key.starts_with(&company_firm_key(&firm)))
    })
}

/// The keys of a person name that shows both surname and given name; a
/// bare surname or title (`张总`, `老王`) says too little to match on.
fn full_name_keys(text: &str) -> Vec<String> {
    normalize_person_name(text)
        .filter(|name| name.given_name.is_some() || name.display.contains(' '))
        .map(|name| name.keys)
        .unwrap_or_default()
}

/// The orders each customer record shares with another system's record
/// ([`Party::shared_orders`]), from the stored citations: both the citing
/// and the cited order's party hold `connector:number` of the cited order.
/// A citation whose number names orders of more than one record elsewhere
/// (two shops both have a `#1001`) says nothing and is left out.
pub fn shared_order_keys(citations: &[OrderCitation]) -> HashMap<PartyKey, Vec<String>> {
    let mut cited: BTreeMap<(&PartyKey, &str), BTreeSet<&PartyKey>> = BTreeMap::new();
    let mut numbers: HashMap<(&PartyKey, &str), &str> = HashMap::new();
    for citation in citations {
        let order = (&citation.citing_party, citation.citing_order.as_str());
        cited
            .entry(order)
            .or_default()
            .insert(&citation.cited_party);
        numbers.insert(order, &citation.number);
    }
    let mut keys: HashMap<PartyKey, BTreeSet<String>> = HashMap::new();
    for (order, parties) in cited {
        let [cited_party] = parties.into_iter().collect::<Vec<_>>()[..] else {
            continue;
        };
        let key = format!("{}:{}", cited_party.connector, numbers[&order]);
        for party in [order.0, cited_party] {
            keys.entry(party.clone()).or_default().insert(key.clone());
        }
    }
    keys.into_iter()
        .map(|(party, keys)| (party, keys.into_iter().collect()))
        .collect()
}

/// Sets each party's [`Party::shared_orders`] from `keys`.
pub fn attach_shared_orders(parties: &mut [Party], keys: &HashMap<PartyKey, Vec<String>>) {
    for party in parties {
        party.shared_orders = keys.get(&party.key()).cloned().unwrap_or_default();
    }
}

/// A firm's name as a key: its brand with its trade words (同创机械设备 and
/// 同创贸易 are different firms), without the place or the legal form, so
/// 北京XX科技有限公司 and XX科技(北京)有限公司 agree.
fn company_firm_key(company: &crate::normalize::company::CompanyName) -> String {
    match company.industry.as_deref() {
        // `huawei technologies`: Latin words stay words.
        Some(industry) if company.core.is_ascii() => format!("{} {industry}", company.core),
        Some(industry) => format!("{}{industry}", company.core),
        None => company.core.clone(),
    }
}

/// A scored pair of parties (indexes into the input), with its explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct PartyPair {
    pub a: usize,
    pub b: usize,
    pub probability: f64,
    /// Total match weight; infinite for a strong-identifier link.
    pub weight: f64,
    /// The field of the strong-identifier rule that decided the pair.
    pub strong_id: Option<Arc<str>>,
    pub explanation: Explanation,
}

/// What scoring the parties found: links (strongest first), pairs for a
/// steward, and pairs strong ids keep apart for good.
#[derive(Debug, Clone, Default)]
pub struct PartyScores {
    pub links: Vec<PartyPair>,
    pub reviews: Vec<PartyPair>,
    pub never_link: Vec<(usize, usize)>,
}

/// Adds a party's match fields to a table of `config`'s fields; returns
/// its record id.
pub fn push_party(builder: &mut TableBuilder, config: &ResolveConfig, party: &Party) -> u32 {
    push_match_fields(builder, config, &match_fields(party))
}

/// Adds a party's match fields, already normalized, to a table of
/// `config`'s fields; returns its record id.
fn push_match_fields(
    builder: &mut TableBuilder,
    config: &ResolveConfig,
    fields: &MatchFields,
) -> u32 {
    let parts: Vec<Vec<&str>> = config
        .fields
        .iter()
        .map(|spec| field_parts(fields, &spec.name))
        .collect();
    let values: Vec<FieldValue<'_>> = config
        .fields
        .iter()
        .zip(&parts)
        .map(|(spec, parts)| match (spec.kind, parts.as_slice()) {
            (_, []) => FieldValue::Missing,
            (FieldKind::Set, parts) => FieldValue::Many(parts),
            (_, [text, ..]) => FieldValue::Text(text),
        })
        .collect();
    builder
        .push(&values)
        .expect("the customer fields match the customer config")
}

/// Scores every blocked candidate pair of `parties` with `config` (fields
/// as [`match_fields`] gives them).
pub fn score_parties(parties: &[Party], config: &ResolveConfig) -> PartyScores {
    let table = party_table(parties, config);
    let resolution = engine::resolve(&table, config, &Constraints::default(), None);
    party_scores(&resolution, parties, config)
}

/// The match fields of `parties` as a table of `config`'s fields, row `i`
/// for party `i`. Normalizing is spread over the cores a batch at a time;
/// rows are added in party order.
pub fn party_table(parties: &[Party], config: &ResolveConfig) -> RecordTable {
    const BATCH: usize = 1 << 16;
    let mut builder = TableBuilder::new(&config.fields);
    for batch in parties.chunks(BATCH) {
        for fields in map_in_order(batch.iter().collect(), match_fields) {
            push_match_fields(&mut builder, config, &fields);
        }
    }
    builder.finish()
}

/// The links (strongest first), review pairs and never-links of an engine
/// run with `config` over [`party_table`]`(parties)`, explained.
pub fn party_scores(
    resolution: &Resolution,
    parties: &[Party],
    config: &ResolveConfig,
) -> PartyScores {
    let strong_ids = strong_id_names(config);
    // A strong rule that links makes the weight infinite; one that only
    // holds a pair back for review leaves the score's weight.
    let pair = |scored: &ScoredPair, link: bool| PartyPair {
        strong_id: scored.strong_rule.map(|rule| strong_ids[rule].clone()),
        a: scored.a as usize,
        b: scored.b as usize,
        probability: scored.probability,
        weight: if link && scored.strong_rule.is_some() {
            f64::INFINITY
        } else {
            scored.weight
        },
        explanation: resolution.explain(scored),
    };
    let mut links: Vec<PartyPair> = resolution
        .decisions
        .links
        .iter()
        .map(|scored| pair(scored, true))
        .collect();
    strongest_first(&mut links, parties);
    PartyScores {
        links,
        reviews: resolution
            .decisions
            .reviews
            .iter()
            .map(|scored| pair(scored, false))
            .collect(),
        never_link: resolution
            .decisions
            .never_link
            .iter()
            .map(|&(a, b)| (a as usize, b as usize))
            .collect(),
    }
}

/// The field of each of `config`'s strong rules, in rule order, to share
/// with the pairs they decide.
pub fn strong_id_names(config: &ResolveConfig) -> Vec<Arc<str>> {
    config
        .strong
        .iter()
        .map(|rule| Arc::from(rule.field.as_str()))
        .collect()
}

/// Sorts links strongest first; equal weights in party-key order, so the
/// result does not depend on the order the parties were loaded in.
pub fn strongest_first(links: &mut [PartyPair], parties: &[Party]) {
    // A pair's two parties, the one with the smaller key first.
    let ordered = |pair: &PartyPair| {
        let (a, b) = (&parties[pair.a], &parties[pair.b]);
        if a.key_cmp(b).is_le() {
            (a, b)
        } else {
            (b, a)
        }
    };
    links.sort_by(|x, y| {
        let ((x_first, x_second), (y_first, y_second)) = (ordered(x), ordered(y));
        y.weight.total_cmp(&x.weight).then_with(|| {
            x_first
                .key_cmp(y_first)
                .then_with(|| x_second.key_cmp(y_second))
        })
    });
}

/// The values a party holds for a field of the customer config: one for a
/// text field, any number for a set field, none when it has no value.
fn field_parts<'a>(fields: &'a MatchFields, name: &str) -> Vec<&'a str> {
    let text = |value: &'a Option<String>| value.iter().map(String::as_str).collect();
    let set = |values: &'a Vec<String>| values.iter().map(String::as_str).collect();
    match name {
        "name" => set(&fields.name),
        "mobile" => set(&fields.mobile),
        "landline" => set(&fields.landline),
        "email" => set(&fields.email),
        "company" => text(&fields.company),
        "city" => text(&fields.city),
        "street" => text(&fields.street),
        "kind" => vec![fields.kind],
        "uscc" => text(&fields.uscc),
        "unionid" => text(&fields.unionid),
        "account" => text(&fields.account),
        "order" => set(&fields.order),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(id: &str, name: &str, phone: &str, email: &str) -> Party {
        Party {
            connector: id.split('/').next().unwrap().into(),
            source_id: id.split('/').nth(1).unwrap().into(),
            name: Some(name.into()),
            phones: if phone.is_empty() {
                vec![]
            } else {
                vec![phone.into()]
            },
            emails: if email.is_empty() {
                vec![]
            } else {
                vec![email.into()]
            },
            ..Party::default()
        }
    }

    fn linked_pairs(scores: &PartyScores) -> Vec<(usize, usize)> {
        scores.links.iter().map(|pair| (pair.a, pair.b)).collect()
    }

    #[test]
    fn a_project_matching_config_compares_only_match_fields() {
        let built_in = parse_matching(CUSTOMER_MATCHING).expect("the built-in config");
        assert_eq!(&built_in, customer_config());
        let stricter = CUSTOMER_MATCHING.replace("link = 0.998", "link = 0.9999");
        assert_eq!(parse_matching(&stricter).unwrap().thresholds.link, 0.9999);
        let unknown = format!("{CUSTOMER_MATCHING}\n[[fields]]\nname = \"postcode\"\n");
        let problems = parse_matching(&unknown).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|problem| problem.contains("\"postcode\" is not a match field")),
            "{problems:?}"
        );
        assert!(parse_matching("[thresholds]\nlink = 2").is_err());
    }

    #[test]
    fn the_built_in_config_parses_and_covers_every_match_field() {
        let names: Vec<&str> = customer_config()
            .fields
            .iter()
            .map(|field| field.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "name", "mobile", "landline", "email", "company", "city", "street", "kind", "uscc",
                "unionid", "account", "order"
            ]
        );
    }

    #[test]
    fn one_person_spelled_three_ways_links_and_a_namesake_stays_apart() {
        let parties = vec![
            person("erp/1", "张伟", "138 0013 8000", ""),
            person("shop/7", "Wei Zhang", "+86 138-0013-8000", "zw@qq.com"),
            person("desk/3", "ZHANG Wei", "", "ZW@qq.com"),
            person("shop/9", "张伟", "139 0000 1111", "other@163.com"),
        ];
        let scores = score_parties(&parties, customer_config());
        let linked: BTreeSet<(usize, usize)> =
            scores.links.iter().map(|pair| (pair.a, pair.b)).collect();
        assert!(linked.contains(&(0, 1)), "{scores:?}");
        assert!(linked.contains(&(1, 2)), "{scores:?}");
        assert!(
            !linked.iter().any(|&(a, b)| a == 3 || b == 3),
            "a namesake with another phone and e-mail is not linked: {scores:?}"
        );
        let explanation = &scores.links[0].explanation;
        let sum: f64 = explanation.prior_weight
            + explanation
                .fields
                .iter()
                .map(|field| field.weight)
                .sum::<f64>();
        assert!((sum - explanation.total_weight).abs() < 1e-9);
    }

    #[test]
    fn the_same_credit_code_links_companies_and_different_ones_never_do() {
        let company = |id: &str, name: &str, uscc: &str| Party {
            kind: PartyKind::Company,
            strong_ids: [("uscc".to_string(), uscc.to_string())].into(),
            ..person(id, name, "", "")
        };
        let parties = vec![
            company("erp/1", "北京星河科技有限公司", "91110108MA01A2B3C4"),
            company("odoo/5", "星河科技(北京)有限公司", "91110108MA01A2B3C4"),
            company("erp/2", "北京星河科技有限公司", "91310115MA1K3Y8U0X"),
        ];
        let valid: Vec<Option<String>> = parties
            .iter()
            .map(|party| normalize_uscc(&party.strong_ids["uscc"]))
            .collect();
        let scores = score_parties(&parties, customer_config());
        if valid[0].is_some() {
            assert!(scores
                .links
                .iter()
                .any(|pair| (pair.a, pair.b) == (0, 1) && pair.weight.is_infinite()));
        }
        if valid[0].is_some() && valid[2].is_some() {
            assert!(scores.never_link.contains(&(0, 2)), "{scores:?}");
        }
    }

    fn citation(citing: &str, order: &str, cited: &str, number: &str) -> OrderCitation {
        let key = |id: &str| PartyKey {
            connector: id.split('/').next().unwrap().into(),
            source_id: id.split('/').nth(1).unwrap().into(),
        };
        OrderCitation {
            citing_party: key(citing),
            citing_order: order.into(),
            cited_party: key(cited),
            number: number.into(),
        }
    }

    #[test]
    fn both_records_of_a_cited_order_share_its_key_and_an_ambiguous_number_none() {
        let keys = shared_order_keys(&[
            citation("erp/7", "SO-1", "shop/s1", "#1001"),
            citation("erp/7", "SO-2", "shop/s1", "#1002"),
            // #1003 is an order of two shops' customers: nobody can tell which.
            citation("erp/8", "SO-3", "shop/s2", "#1003"),
            citation("erp/8", "SO-3", "shop2/t9", "#1003"),
            citation("odoo/4", "S00009", "shop/s3", "#1004"),
        ]);
        let of = |connector: &str, id: &str| {
            keys.get(&PartyKey {
                connector: connector.into(),
                source_id: id.into(),
            })
            .cloned()
            .unwrap_or_default()
        };
        assert_eq!(of("erp", "7"), ["shop:#1001", "shop:#1002"]);
        assert_eq!(of("shop", "s1"), ["shop:#1001", "shop:#1002"]);
        assert_eq!(of("odoo", "4"), ["shop:#1004"]);
        assert_eq!(of("shop", "s3"), ["shop:#1004"]);
        for (connector, id) in [("erp", "8"), ("shop", "s2"), ("shop2", "t9")] {
            assert!(of(connector, id).is_empty(), "{connector}/{id}");
        }
        assert_eq!(keys.len(), 4);
    }

    #[test]
    fn one_order_in_two_systems_links_records_that_share_nothing_else() {
        let mut parties = vec![
            person("erp/7", "刘芳", "13288951630", ""),
            person("shop/s1", "Fang Liu", "", "fangfang88@qq.com"),
            person("shop/s2", "Liu Fang", "", "liu.f@163.com"),
        ];
        let apart = score_parties(&parties, customer_config());
        assert!(apart.links.is_empty(), "namesakes: {apart:?}");
        let keys = shared_order_keys(&[citation("erp/7", "SO-1", "shop/s1", "#1001")]);
        attach_shared_orders(&mut parties, &keys);
        assert_eq!(match_fields(&parties[1]).order, ["shop:#1001"]);
        let scores = score_parties(&parties, customer_config());
        let [link] = &scores.links[..] else {
            panic!("one link: {scores:?}");
        };
        assert_eq!((link.a, link.b), (0, 1));
        assert!(link.weight.is_infinite(), "a strong rule decides: {link:?}");
        assert_eq!(link.strong_id.as_deref(), Some("order"));
        // Evidence names the order both records share.
        assert!(crate::resolve::match_keys(&parties[0]).contains("order:shop:#1001"));
    }

    #[test]
    fn a_strong_rule_that_holds_a_pair_for_review_keeps_the_scores_weight() {
        // Sharing a mobile and a name links; a rule that sends every pair
        // sharing a mobile to a steward makes it a review pair, weighed by
        // its score, not infinitely.
        let parties = vec![
            person("erp/1", "刘芳", "13288951630", ""),
            person("shop/1", "Fang Liu", "13288951630", ""),
        ];
        let linked = score_parties(&parties, customer_config());
        let [link] = &linked.links[..] else {
            panic!("one link: {linked:?}");
        };
        let mut config = customer_config().clone();
        config.strong.insert(
            0,
            crate::resolve::config::StrongRule {
                field: "mobile".into(),
                when_equal: crate::resolve::config::StrongEffect::Review,
                when_different: crate::resolve::config::StrongEffect::Score,
            },
        );
        let held = score_parties(&parties, &config);
        assert!(held.links.is_empty(), "{held:?}");
        let [review] = &held.reviews[..] else {
            panic!("one review pair: {held:?}");
        };
        assert_eq!(review.strong_id.as_deref(), Some("mobile"));
        assert!(review.weight.is_finite(), "{review:?}");
        assert_eq!(review.weight, link.weight);
    }

    #[test]
    fn a_firm_name_counts_once_so_one_brand_in_two_cities_stays_apart() {
        let firm = |id: &str, name: &str| Party {
            kind: PartyKind::Company,
            ..person(id, name, "", "")
        };
        let parties = vec![
            firm("erp/1", "武汉星辰安泰新能源有限公司"),
            firm("erp/2", "北京星辰安泰新能源有限公司"),
        ];
        let fields = match_fields(&parties[0]);
        assert!(fields.name.is_empty(), "{fields:?}");
        assert_eq!(fields.company.as_deref(), Some("星辰安泰新能源"));
        let scores = score_parties(&parties, customer_config());
        assert!(
            scores.links.is_empty() && scores.reviews.is_empty(),
            "{scores:?}"
        );
    }

    #[test]
    fn a_company_account_links_with_its_contact_person_at_the_same_firm() {
        let account = Party {
            kind: PartyKind::Company,
            attributes: [(CONTACT_PERSON_ATTRIBUTE.to_string(), "李婷凯".into())].into(),
            ..person("erp/1", "长沙九州同创科技有限公司", "", "")
        };
        let contact = Party {
            company: Some("九州同创科技".into()),
            ..person("wecom/wo1", "李婷凯", "", "")
        };
        let stranger = Party {
            company: Some("九州同创科技".into()),
            ..person("wecom/wo2", "王芳", "", "")
        };
        let scores = score_parties(&[account, contact, stranger], customer_config());
        assert_eq!(linked_pairs(&scores), [(0, 1)], "{scores:?}");
        assert!(scores.reviews.is_empty(), "{scores:?}");
    }

    #[test]
    fn a_work_address_names_the_employer_a_chinese_firm_name_spells() {
        let employee = Party {
            company: Some("深圳立信嘉禾电子有限公司".into()),
            ..person("wecom/wo1", "李婷凯", "", "")
        };
        let parties = vec![
            employee,
            person(
                "desk/7",
                "Li Tingkai",
                "",
                "tingkai.li@lixinjiahe-elec8k.com",
            ),
            person("desk/8", "王芳", "", "wang.fang@lixinjiahe-elec8k.com"),
            person("desk/9", "李婷凯", "", "litingkai@qq.com"),
        ];
        assert_eq!(
            match_fields(&parties[1]).company.as_deref(),
            Some("lixinjiahe")
        );
        assert_eq!(match_fields(&parties[3]).company, None);
        let english = Party {
            company: Some("Huawei Technologies Co., Ltd.".into()),
            ..person("shop/1", "Li Tingkai", "", "")
        };
        assert_eq!(
            match_fields(&english).company.as_deref(),
            Some("huawei technologies")
        );
        let scores = score_parties(&parties, customer_config());
        let linked = linked_pairs(&scores);
        assert_eq!(
            linked,
            [(0, 1)],
            "a colleague and a namesake at a free mail provider stay apart: {scores:?}"
        );
        let company = scores.links[0]
            .explanation
            .fields
            .iter()
            .find(|field| field.field.as_ref() == "company")
            .expect("the company comparison is explained");
        assert_eq!(company.level.as_ref(), "pinyin_start", "{company:?}");
    }

    #[test]
    fn a_remark_adds_the_real_name_behind_a_nickname_but_not_the_firm() {
        let with_remark = |remark: &str, company: Option<&str>| Party {
            attributes: [(REMARK_ATTRIBUTE.to_string(), remark.into())].into(),
            company: company.map(Into::into),
            ..person("wecom/wm1", "快乐每一天", "", "")
        };
        let names = |party: &Party| match_fields(party).name;
        let nickname = names(&with_remark("", None));
        let with = |keys: &[&str]| {
            let mut all: Vec<String> = keys.iter().map(|key| key.to_string()).collect();
            all.extend(nickname.iter().cloned());
            all.sort();
            all
        };
        assert_eq!(
            names(&with_remark("李伟-德润电子", None)),
            with(&["li wei"])
        );
        assert_eq!(
            names(&with_remark("张伟 (信达物流)", None)),
            with(&["wei zhang"])
        );
        assert_eq!(
            names(&with_remark(
                "字节跳动/张伟",
                Some("北京字节跳动科技有限公司")
            )),
            with(&["wei zhang"])
        );
        assert_eq!(names(&with_remark("张总", None)), with(&[]));
        // Each follow member's remark: 张总 from one, the name from another.
        let followed_twice = Party {
            attributes: [(
                REMARK_ATTRIBUTE.to_string(),
                serde_json::json!(["张总", "张伟"]),
            )]
            .into(),
            ..with_remark("", None)
        };
        assert_eq!(names(&followed_twice), with(&["wei zhang"]));
    }

    #[test]
    fn one_name_at_one_street_address_links_and_a_housemate_stays_apart() {
        let at = |id: &str, name: &str, email: &str, address: &str| Party {
            address: Some(address.into()),
            ..person(id, name, "", email)
        };
        let parties = vec![
            at(
                "shop/1",
                "Wang Fang",
                "wf@qq.com",
                "广东 深圳 科技园路 1 号",
            ),
            at(
                "shop/2",
                "王芳",
                "fang.w@163.com",
                "深圳市南山区科技园路1号",
            ),
            at("odoo/3", "李强", "lq@126.com", "深圳 科技园路1号"),
            at("shop/4", "王芳", "wangfang@sina.com", "深圳 科技园路2号"),
            Party {
                kind: PartyKind::Company,
                ..at("odoo/5", "深圳星河科技有限公司", "", "深圳 科技园路1号")
            },
        ];
        assert_eq!(
            match_fields(&parties[1]).street.as_deref(),
            Some("科技园路1号")
        );
        let scores = score_parties(&parties, customer_config());
        let linked = linked_pairs(&scores);
        assert_eq!(
            linked,
            [(0, 1)],
            "a namesake next door, a housemate and a firm in the building stay apart: {scores:?}"
        );
        assert!(scores.reviews.is_empty(), "{scores:?}");
    }
}
