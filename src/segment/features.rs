//! Features of a golden customer, computed from all of its linked activity
//! (orders, tickets, calls, messages and party attributes), and RFM scores
//! by quantiles of the population.
//!
//! Everything here is a pure function of plain inputs and an `as_of` time,
//! so the same history always gives the same features.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::activity::{CallFact, MessageFact, TicketFact};
use super::expr::Value;
use crate::store::OrderFact;

/// Seconds in a day, for turning time spans into fractional days.
const DAY_SECONDS: f64 = 86_400.0;

/// The built-in feature names rules may use, with what each means. The
/// windowed names (`orders_<N>d`, `spend_<N>d`) follow the configured
/// windows and are listed by [`FeatureSettings::feature_names`].
pub const FEATURES: &[(&str, &str)] = &[
    (
        "orders_total",
        "paid orders, ever (an order two systems report counts once)",
    ),
    ("spend_total", "paid order value, ever"),
    (
        "avg_order_value",
        "spend_total / orders_total (null without orders)",
    ),
    ("refunds", "refunded orders, ever"),
    ("refunded_amount", "value of refunded orders, ever"),
    (
        "recency_days",
        "days since the last paid order (null without one)",
    ),
    (
        "tenure_days",
        "days since the customer was first seen on any channel (null if never)",
    ),
    (
        "last_interaction_days",
        "days since the last order, ticket, call or message (null if none)",
    ),
    ("tickets_total", "help-desk tickets, ever"),
    ("tickets_open", "tickets not solved or closed"),
    (
        "satisfaction_good_share",
        "good ratings / all ratings, 0-1 (null without ratings)",
    ),
    ("calls_total", "calls with the customer, answered or not"),
    ("call_minutes", "minutes of conversation on calls"),
    ("messages_total", "chats, e-mails and other messages"),
    (
        "spend_trend",
        "spend in the last trend window / the window before - 1 (null if that was 0)",
    ),
    (
        "lifecycle",
        "\"new\", \"active\", \"dormant\", \"churned\" or \"reactivated\"",
    ),
    (
        "rfm.r",
        "recency score 1-5 among buyers, 5 = most recent (null without orders)",
    ),
    ("rfm.f", "frequency score 1-5 among buyers, 5 = most orders"),
    ("rfm.m", "monetary score 1-5 among buyers, 5 = most spend"),
    (
        "rfm.segment",
        "the named RFM segment, e.g. \"Champions\" or \"At risk\"",
    ),
];

/// The time spans features look at, from the `[segment]` table of the tier
/// rules file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeatureSettings {
    /// Window lengths in days for `orders_<N>d` and `spend_<N>d`.
    pub windows: Vec<u32>,
    /// `spend_trend` compares the last this-many days with the ones before.
    pub trend_days: u32,
    /// A customer first seen (or first buying) within this many days is new.
    pub new_days: u32,
    /// No paid order for this many days makes a buyer dormant.
    pub dormant_days: u32,
    /// No paid order for this many days makes a buyer churned.
    pub churned_days: u32,
}

impl Default for FeatureSettings {
    fn default() -> Self {
        FeatureSettings {
            windows: vec![30, 90, 365],
            trend_days: 90,
            new_days: 90,
            dormant_days: 180,
            churned_days: 365,
        }
    }
}

impl FeatureSettings {
    /// Every built-in feature name under these settings, windows included.
    pub fn feature_names(&self) -> Vec<String> {
        let mut names: Vec<String> = FEATURES.iter().map(|(name, _)| name.to_string()).collect();
        for days in &self.windows {
            names.push(format!("orders_{days}d"));
            names.push(format!("spend_{days}d"));
        }
        names
    }
}

/// How a custom feature combines one attribute over a customer's parties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// The largest number.
    Max,
    /// The smallest number.
    Min,
    /// The sum of the numbers.
    Sum,
    /// The value of the party the source changed last.
    Latest,
    /// True when any party has a true, non-zero or non-empty value.
    Any,
    /// How many parties have a value.
    Count,
}

/// A party attribute made usable in rules, aggregated over the parties of
/// a golden customer (`[[feature]]` in the tier rules file).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomFeature {
    /// The name rules use.
    pub name: String,
    /// The party attribute it reads (a mapped field kept in `attributes`).
    pub attribute: String,
    pub aggregate: Aggregate,
}

/// What one party contributes to custom features: its attributes and when
/// its source last changed it.
#[derive(Debug, Clone, Copy)]
pub struct PartyAttributes<'a> {
    pub updated_at: Option<DateTime<Utc>>,
    pub attributes: &'a BTreeMap<String, serde_json::Value>,
}

/// All linked activity of one golden customer.
#[derive(Debug, Clone, Default)]
pub struct Activity<'a> {
    pub orders: Vec<&'a OrderFact>,
    pub tickets: Vec<&'a TicketFact>,
    pub calls: Vec<&'a CallFact>,
    pub messages: Vec<&'a MessageFact>,
    pub parties: Vec<PartyAttributes<'a>>,
}

/// Order count and value within one window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WindowTotals {
    pub days: u32,
    pub orders: u32,
    pub spend: f64,
}

/// Where a customer stands in the customer lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    New,
    Active,
    Dormant,
    Churned,
    Reactivated,
}

impl Lifecycle {
    /// The name rules compare with.
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::New => "new",
            Lifecycle::Active => "active",
            Lifecycle::Dormant => "dormant",
            Lifecycle::Churned => "churned",
            Lifecycle::Reactivated => "reactivated",
        }
    }
}

/// RFM scores of a buyer and the segment they name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rfm {
    pub r: u8,
    pub f: u8,
    pub m: u8,
    pub segment: &'static str,
}

/// Every feature of one golden customer.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CustomerFeatures {
    pub windows: Vec<WindowTotals>,
    pub orders_total: u32,
    pub spend_total: f64,
    pub avg_order_value: Option<f64>,
    pub refunds: u32,
    pub refunded_amount: f64,
    pub recency_days: Option<f64>,
    pub tenure_days: Option<f64>,
    pub last_interaction_days: Option<f64>,
    pub tickets_total: u32,
    pub tickets_open: u32,
    pub satisfaction_good_share: Option<f64>,
    pub calls_total: u32,
    pub call_minutes: f64,
    pub messages_total: u32,
    pub spend_trend: Option<f64>,
    pub lifecycle: Option<Lifecycle>,
    pub rfm: Option<Rfm>,
    /// Custom features by name.
    pub custom: BTreeMap<String, Value>,
}

impl CustomerFeatures {
    /// The value of a feature by the name rules use; unknown names and
    /// missing values are null.
    pub fn value(&self, name: &str) -> Value {
        let number = |value: f64| Value::Number(value);
        let optional = |value: Option<f64>| value.map_or(Value::Null, Value::Number);
        match name {
            "orders_total" => number(self.orders_total.into()),
            "spend_total" => number(self.spend_total),
            "avg_order_value" => optional(self.avg_order_value),
            "refunds" => number(self.refunds.into()),
            "refunded_amount" => number(self.refunded_amount),
            "recency_days" => optional(self.recency_days),
            "tenure_days" => optional(self.tenure_days),
            "last_interaction_days" => optional(self.last_interaction_days),
            "tickets_total" => number(self.tickets_total.into()),
            "tickets_open" => number(self.tickets_open.into()),
            "satisfaction_good_share" => optional(self.satisfaction_good_share),
            "calls_total" => number(self.calls_total.into()),
            "call_minutes" => number(self.call_minutes),
            "messages_total" => number(self.messages_total.into()),
            "spend_trend" => optional(self.spend_trend),
            "lifecycle" => self
                .lifecycle
                .map_or(Value::Null, |stage| Value::from(stage.as_str())),
            "rfm.r" => self.rfm.map_or(Value::Null, |rfm| number(rfm.r.into())),
            "rfm.f" => self.rfm.map_or(Value::Null, |rfm| number(rfm.f.into())),
            "rfm.m" => self.rfm.map_or(Value::Null, |rfm| number(rfm.m.into())),
            "rfm.segment" => self.rfm.map_or(Value::Null, |rfm| Value::from(rfm.segment)),
            other => self
                .window_value(other)
                .or_else(|| self.custom.get(other).cloned())
                .unwrap_or(Value::Null),
        }
    }

    /// `orders_<N>d` or `spend_<N>d` for a configured window `N`.
    fn window_value(&self, name: &str) -> Option<Value> {
        let (kind, rest) = name.split_once('_')?;
        let days: u32 = rest.strip_suffix('d')?.parse().ok()?;
        let window = self.windows.iter().find(|window| window.days == days)?;
        match kind {
            "orders" => Some(Value::Number(window.orders.into())),
            "spend" => Some(Value::Number(window.spend)),
            _ => None,
        }
    }
}

fn days_between(earlier: DateTime<Utc>, later: DateTime<Utc>) -> f64 {
    (later - earlier).num_seconds() as f64 / DAY_SECONDS
}

fn round_cents(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn cents(amount: f64) -> i64 {
    (amount * 100.0).round() as i64
}

/// The orders of one customer with cross-system duplicates removed: a copy
/// that cites the order it was copied from ([`OrderFact::copy`]) is left
/// out; of the rest, two orders from different connectors with the same
/// status, the same amount to the cent and the same (UTC) day are one order
/// reported twice. Within one
/// such group the k-th order of each connector pairs with the k-th of every
/// other, so two real orders of equal value on one day in one system stay
/// two. The first connector by name keeps its orders; the result is sorted
/// by time.
pub fn distinct_orders<'a>(orders: &[&'a OrderFact]) -> Vec<&'a OrderFact> {
    // Day and amount first: they almost always tell orders apart, so the
    // status text is rarely compared.
    fn key(order: &OrderFact) -> (NaiveDate, i64, &str) {
        (
            order.ordered_at.date_naive(),
            cents(order.amount),
            order.status.as_str(),
        )
    }
    // Each order's key once, not once per comparison (its day is a
    // calendar computation).
    let mut keyed: Vec<((NaiveDate, i64, &str), &'a OrderFact)> = orders
        .iter()
        .filter(|order| !order.copy)
        .map(|order| (key(order), *order))
        .collect();
    keyed.sort_by(|(key_a, a), (key_b, b)| {
        key_a
            .cmp(key_b)
            .then_with(|| a.connector.cmp(&b.connector))
            .then_with(|| a.ordered_at.cmp(&b.ordered_at))
            .then_with(|| a.source_id.cmp(&b.source_id))
    });
    let sorted: Vec<&'a OrderFact> = keyed.iter().map(|(_, order)| *order).collect();
    let mut kept = Vec::with_capacity(sorted.len());
    let mut start = 0;
    while start < sorted.len() {
        // The group's first order is not compared with itself: most groups
        // are one order, decided by the day alone.
        let group_key = keyed[start].0;
        let end = start
            + 1
            + keyed[start + 1..]
                .iter()
                .take_while(|(key, _)| *key == group_key)
                .count();
        let group = &sorted[start..end];
        // Orders of one connector are contiguous in the group; the most any
        // connector reported is how many real orders there were.
        let mut per_connector: Vec<&[&'a OrderFact]> = Vec::new();
        let mut from = 0;
        while from < group.len() {
            let connector = &group[from].connector;
            let to = from
                + 1
                + group[from + 1..]
                    .iter()
                    .take_while(|order| &order.connector == connector)
                    .count();
            per_connector.push(&group[from..to]);
            from = to;
        }
        let real = per_connector
            .iter()
            .map(|orders| orders.len())
            .max()
            .unwrap_or(0);
        for index in 0..real {
            if let Some(order) = per_connector.iter().find_map(|orders| orders.get(index)) {
                kept.push(*order);
            }
        }
        start = end;
    }
    kept.sort_by(|a, b| {
        a.ordered_at
            .cmp(&b.ordered_at)
            .then_with(|| a.source_id.cmp(&b.source_id))
    });
    kept
}

/// The features of one customer as of `as_of`, without RFM scores (those
/// need the whole population: see [`add_rfm_scores`]). Activity after
/// `as_of` is ignored, so history can be replayed.
pub fn customer_features(
    activity: &Activity<'_>,
    settings: &FeatureSettings,
    custom: &[CustomFeature],
    as_of: DateTime<Utc>,
) -> CustomerFeatures {
    let past_orders: Vec<&OrderFact> = activity
        .orders
        .iter()
        .copied()
        .filter(|order| order.ordered_at <= as_of)
        .collect();
    let orders = distinct_orders(&past_orders);
    let paid: Vec<&OrderFact> = orders
        .iter()
        .copied()
        .filter(|order| order.status == "paid")
        .collect();
    let refunded = orders.iter().filter(|order| order.status == "refunded");
    let age = |time: DateTime<Utc>| days_between(time, as_of);
    let spend_between = |newest_age: f64, oldest_age: f64| -> f64 {
        paid.iter()
            .filter(|order| {
                let days = age(order.ordered_at);
                days >= newest_age && days < oldest_age
            })
            .map(|order| order.amount)
            .sum()
    };

    let mut features = CustomerFeatures {
        orders_total: paid.len() as u32,
        ..CustomerFeatures::default()
    };
    let total: f64 = paid.iter().map(|order| order.amount).sum();
    features.spend_total = round_cents(total);
    if !paid.is_empty() {
        features.avg_order_value = Some(round_cents(total / paid.len() as f64));
    }
    for order in refunded {
        features.refunds += 1;
        features.refunded_amount += order.amount;
    }
    features.refunded_amount = round_cents(features.refunded_amount);
    features.windows = settings
        .windows
        .iter()
        .map(|&days| {
            let inside: Vec<&&OrderFact> = paid
                .iter()
                .filter(|order| age(order.ordered_at) < f64::from(days))
                .collect();
            WindowTotals {
                days,
                orders: inside.len() as u32,
                spend: round_cents(inside.iter().map(|order| order.amount).sum()),
            }
        })
        .collect();
    let trend = f64::from(settings.trend_days);
    let previous = spend_between(trend, 2.0 * trend);
    if previous > 0.0 {
        features.spend_trend =
            Some(((spend_between(0.0, trend) / previous - 1.0) * 1000.0).round() / 1000.0);
    }
    if let Some(last) = paid.last() {
        features.recency_days = Some(age(last.ordered_at).floor());
    }

    let tickets: Vec<&TicketFact> = activity
        .tickets
        .iter()
        .copied()
        .filter(|ticket| ticket.created_at <= as_of)
        .collect();
    features.tickets_total = tickets.len() as u32;
    features.tickets_open = tickets.iter().filter(|ticket| ticket.is_open()).count() as u32;
    let ratings: Vec<bool> = tickets
        .iter()
        .filter_map(
            |ticket| match ticket.satisfaction.as_deref().map(str::trim) {
                Some(rating) if rating.eq_ignore_ascii_case("good") => Some(true),
                Some(rating) if rating.eq_ignore_ascii_case("bad") => Some(false),
                _ => None,
            },
        )
        .collect();
    if !ratings.is_empty() {
        let good = ratings.iter().filter(|good| **good).count() as f64;
        features.satisfaction_good_share =
            Some((good / ratings.len() as f64 * 1000.0).round() / 1000.0);
    }
    let calls: Vec<&CallFact> = activity
        .calls
        .iter()
        .copied()
        .filter(|call| call.started_at <= as_of)
        .collect();
    features.calls_total = calls.len() as u32;
    features.call_minutes = (calls
        .iter()
        .map(|call| call.talk_seconds.max(0))
        .sum::<i64>() as f64
        / 60.0
        * 10.0)
        .round()
        / 10.0;
    let messages: Vec<&MessageFact> = activity
        .messages
        .iter()
        .copied()
        .filter(|message| message.sent_at <= as_of)
        .collect();
    features.messages_total = messages.len() as u32;

    let touches = orders
        .iter()
        .map(|order| order.ordered_at)
        .chain(tickets.iter().map(|ticket| ticket.created_at))
        .chain(calls.iter().map(|call| call.started_at))
        .chain(messages.iter().map(|message| message.sent_at));
    let (first_seen, last_seen) = touches.fold(
        (None, None),
        |(first, last): (Option<DateTime<Utc>>, Option<DateTime<Utc>>), time| {
            (
                Some(first.map_or(time, |first| first.min(time))),
                Some(last.map_or(time, |last| last.max(time))),
            )
        },
    );
    features.tenure_days = first_seen.map(|time| age(time).floor());
    features.last_interaction_days = last_seen.map(|time| age(time).floor());
    features.lifecycle = lifecycle(&paid, first_seen, settings, as_of);
    for feature in custom {
        features.custom.insert(
            feature.name.clone(),
            aggregate_attribute(&activity.parties, feature),
        );
    }
    features
}

/// The lifecycle stage from the paid orders (sorted by time) and when the
/// customer was first seen on any channel:
/// - never seen: none;
/// - no paid order: `new` if first seen within `new_days`, else `dormant`;
/// - last paid order `churned_days` or more ago: `churned`; `dormant_days`
///   or more ago: `dormant`;
/// - otherwise `new` if the first paid order is within `new_days`,
///   `reactivated` if the first order of the current active spell came after
///   a gap of `dormant_days` or more, else `active`.
pub fn lifecycle(
    paid: &[&OrderFact],
    first_seen: Option<DateTime<Utc>>,
    settings: &FeatureSettings,
    as_of: DateTime<Utc>,
) -> Option<Lifecycle> {
    let first_seen = first_seen?;
    let age = |time: DateTime<Utc>| days_between(time, as_of);
    let dormant = f64::from(settings.dormant_days);
    let (Some(first), Some(last)) = (paid.first(), paid.last()) else {
        return Some(if age(first_seen) < f64::from(settings.new_days) {
            Lifecycle::New
        } else {
            Lifecycle::Dormant
        });
    };
    let since_last = age(last.ordered_at);
    if since_last >= f64::from(settings.churned_days) {
        return Some(Lifecycle::Churned);
    }
    if since_last >= dormant {
        return Some(Lifecycle::Dormant);
    }
    if age(first.ordered_at) < f64::from(settings.new_days) {
        return Some(Lifecycle::New);
    }
    let came_back = paid
        .windows(2)
        .rev()
        .take_while(|pair| age(pair[1].ordered_at) < dormant)
        .any(|pair| days_between(pair[0].ordered_at, pair[1].ordered_at) >= dormant);
    Some(if came_back {
        Lifecycle::Reactivated
    } else {
        Lifecycle::Active
    })
}

/// A party attribute as a rule value: JSON numbers and numeric text are
/// numbers, booleans stay booleans, other text stays text.
fn attribute_value(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Number(number) => number.as_f64().map_or(Value::Null, Value::Number),
        serde_json::Value::Bool(flag) => Value::Bool(*flag),
        serde_json::Value::String(text) => match text.trim().parse::<f64>() {
            Ok(number) if number.is_finite() => Value::Number(number),
            _ if text.trim().is_empty() => Value::Null,
            _ => Value::Text(text.clone()),
        },
        serde_json::Value::Null => Value::Null,
        other => Value::Text(other.to_string()),
    }
}

/// One custom feature over a customer's parties; parties without the
/// attribute are skipped, and a numeric aggregate of no numbers is null.
pub fn aggregate_attribute(parties: &[PartyAttributes<'_>], feature: &CustomFeature) -> Value {
    let values: Vec<(Option<DateTime<Utc>>, Value)> = parties
        .iter()
        .filter_map(|party| {
            let value = attribute_value(party.attributes.get(&feature.attribute)?);
            (value != Value::Null).then_some((party.updated_at, value))
        })
        .collect();
    let numbers = || {
        values.iter().filter_map(|(_, value)| match value {
            Value::Number(number) => Some(*number),
            _ => None,
        })
    };
    match feature.aggregate {
        Aggregate::Max => numbers()
            .reduce(f64::max)
            .map_or(Value::Null, Value::Number),
        Aggregate::Min => numbers()
            .reduce(f64::min)
            .map_or(Value::Null, Value::Number),
        Aggregate::Sum => numbers()
            .reduce(|a, b| a + b)
            .map_or(Value::Null, Value::Number),
        Aggregate::Count => Value::Number(values.len() as f64),
        Aggregate::Any => Value::Bool(values.iter().any(|(_, value)| match value {
            Value::Bool(flag) => *flag,
            Value::Number(number) => *number != 0.0,
            Value::Text(text) => !text.is_empty(),
            Value::Null => false,
        })),
        // The newest change wins; a party without a time counts as oldest,
        // and among equal times the later party in the list wins.
        Aggregate::Latest => values
            .iter()
            .max_by(|a, b| a.0.cmp(&b.0))
            .map_or(Value::Null, |(_, value)| value.clone()),
    }
}

/// Adds RFM scores and segments to every customer with a paid order, scored
/// 1-5 among those customers (see [`quintile`]): recency by days since the
/// last order, frequency by paid orders, monetary by spend, all ever.
pub fn add_rfm_scores(customers: &mut [CustomerFeatures]) {
    let buyers: Vec<usize> = (0..customers.len())
        .filter(|&index| customers[index].orders_total > 0)
        .collect();
    let column = |value: &dyn Fn(&CustomerFeatures) -> f64| -> Vec<f64> {
        let mut values: Vec<f64> = buyers
            .iter()
            .map(|&index| value(&customers[index]))
            .collect();
        values.sort_unstable_by(f64::total_cmp);
        values
    };
    let recency_of = |features: &CustomerFeatures| features.recency_days.unwrap_or(0.0);
    let frequency_of = |features: &CustomerFeatures| f64::from(features.orders_total);
    let monetary_of = |features: &CustomerFeatures| features.spend_total;
    let recency = column(&recency_of);
    let frequency = column(&frequency_of);
    let monetary = column(&monetary_of);
    for index in buyers {
        let features = &mut customers[index];
        // Fewer days since the last order is better.
        let r = quintile(&recency, recency_of(features), true);
        let f = quintile(&frequency, frequency_of(features), false);
        let m = quintile(&monetary, monetary_of(features), false);
        features.rfm = Some(Rfm {
            r,
            f,
            m,
            segment: rfm_segment(r, f, m),
        });
    }
}

/// The 1-5 score of `value` within the sorted population `sorted`, by its
/// mid-rank: 1 + ⌊5 × (values worse + half the values equal) / n⌋. Equal
/// values always get equal scores; a population of equal values (or of one)
/// scores 3, neither good nor bad.
pub fn quintile(sorted: &[f64], value: f64, lower_is_better: bool) -> u8 {
    let n = sorted.len();
    if n == 0 {
        return 3;
    }
    let below = sorted.partition_point(|other| *other < value);
    let at_or_below = sorted.partition_point(|other| *other <= value);
    let equal = at_or_below - below;
    let worse = if lower_is_better {
        n - at_or_below
    } else {
        below
    };
    let score = 1 + (10 * worse + 5 * equal) / (2 * n);
    score.min(5) as u8
}

/// The standard named RFM segment of a recency score and the rounded mean
/// of the frequency and monetary scores, on the usual 5×5 grid:
///
/// | R \ FM | 1 | 2 | 3 | 4 | 5 |
/// |---|---|---|---|---|---|
/// | 5 | New | Potential loyalist | Potential loyalist | Champions | Champions |
/// | 4 | Promising | Potential loyalist | Potential loyalist | Loyal | Champions |
/// | 3 | About to sleep | About to sleep | Need attention | Loyal | Loyal |
/// | 2 | Hibernating | Hibernating | At risk | At risk | Can't lose |
/// | 1 | Lost | Hibernating | At risk | Can't lose | Can't lose |
pub fn rfm_segment(r: u8, f: u8, m: u8) -> &'static str {
    let fm = (u16::from(f) + u16::from(m)).div_ceil(2);
    match (r.clamp(1, 5), fm.clamp(1, 5)) {
        (5, 1) => "New",
        (4, 1) => "Promising",
        (4..=5, 2..=3) => "Potential loyalist",
        (5, 4) | (4..=5, 5) => "Champions",
        (3..=4, 4) | (3, 5) => "Loyal",
        (3, 1..=2) => "About to sleep",
        (3, 3) => "Need attention",
        (1, 1) => "Lost",
        (1..=2, 1..=2) => "Hibernating",
        (1..=2, 3) | (2, 4) => "At risk",
        _ => "Can't lose",
    }
}

/// Every named RFM segment, for documentation and validation.
pub const RFM_SEGMENTS: [&str; 11] = [
    "Champions",
    "Loyal",
    "Potential loyalist",
    "New",
    "Promising",
    "Need attention",
    "About to sleep",
    "At risk",
    "Can't lose",
    "Hibernating",
    "Lost",
];

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(month: u32, day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, month, day, 12, 0, 0).unwrap()
    }

    fn order(
        connector: &str,
        id: &str,
        amount: f64,
        status: &str,
        time: DateTime<Utc>,
    ) -> OrderFact {
        OrderFact {
            golden_id: "g".into(),
            connector: connector.into(),
            source_id: id.into(),
            amount,
            status: status.into(),
            ordered_at: time,
            copy: false,
        }
    }

    fn ticket(id: &str, status: &str, time: DateTime<Utc>, rating: Option<&str>) -> TicketFact {
        TicketFact {
            golden_id: "g".into(),
            connector: "helpdesk".into(),
            source_id: id.into(),
            status: status.into(),
            created_at: time,
            satisfaction: rating.map(str::to_string),
        }
    }

    fn features_of(orders: &[OrderFact], as_of: DateTime<Utc>) -> CustomerFeatures {
        let activity = Activity {
            orders: orders.iter().collect(),
            ..Activity::default()
        };
        customer_features(&activity, &FeatureSettings::default(), &[], as_of)
    }

    #[test]
    fn order_features_count_paid_orders_within_windows_and_ignore_the_future() {
        let orders = [
            order("erp", "1", 100.0, "paid", at(1, 1)),
            order("erp", "2", 50.5, "paid", at(6, 20)),
            order("erp", "3", 70.0, "refunded", at(6, 21)),
            order("erp", "4", 9.0, "paid", at(6, 30)),
            order("erp", "5", 20.0, "pending", at(6, 22)),
        ];
        let features = features_of(&orders, at(6, 25));
        assert_eq!(features.orders_total, 2);
        assert_eq!(features.spend_total, 150.5);
        assert_eq!(features.avg_order_value, Some(75.25));
        assert_eq!((features.refunds, features.refunded_amount), (1, 70.0));
        assert_eq!(features.recency_days, Some(5.0));
        assert_eq!(features.value("orders_30d"), Value::Number(1.0));
        assert_eq!(features.value("spend_30d"), Value::Number(50.5));
        assert_eq!(features.value("orders_365d"), Value::Number(2.0));
        assert_eq!(
            features.value("orders_7d"),
            Value::Null,
            "not a configured window"
        );
        // First seen with the first order of any status, 1 January.
        assert_eq!(features.tenure_days, Some(176.0));
        assert_eq!(
            features.last_interaction_days,
            Some(3.0),
            "the pending order of 22 June"
        );
    }

    #[test]
    fn an_order_two_systems_report_counts_once() {
        let orders = [
            order("erp", "SO-1", 199.99, "paid", at(3, 1)),
            // The shop reports the same order later that day, to the cent.
            order(
                "shop",
                "#1001",
                199.990_000_1,
                "paid",
                at(3, 1) + chrono::Duration::hours(3),
            ),
            // Same amount on another day: a different order.
            order("shop", "#1002", 199.99, "paid", at(3, 2)),
            // Two equal orders on one day in one system are two orders, and
            // the other system's one copy pairs with the first of them.
            order("erp", "SO-2", 50.0, "paid", at(4, 1)),
            order("erp", "SO-3", 50.0, "paid", at(4, 1)),
            order("shop", "#1003", 50.0, "paid", at(4, 1)),
            // A refund is not the duplicate of a payment.
            order("shop", "#1004", 50.0, "refunded", at(4, 1)),
        ];
        let refs: Vec<&OrderFact> = orders.iter().collect();
        let kept: Vec<&str> = distinct_orders(&refs)
            .iter()
            .map(|order| order.source_id.as_str())
            .collect();
        assert_eq!(kept, ["SO-1", "#1002", "#1004", "SO-2", "SO-3"]);
        let features = features_of(&orders, at(6, 1));
        assert_eq!(features.orders_total, 4);
        assert_eq!(features.spend_total, 499.98);
        assert_eq!(features.refunds, 1);
    }

    #[test]
    fn a_copy_citing_the_order_it_came_from_never_counts() {
        // The ERP imported the shop's #1001 the next day, as completed.
        let orders = [
            order("shop", "#1001", 80.0, "paid", at(3, 1)),
            OrderFact {
                copy: true,
                ..order("erp", "SO-9", 80.0, "paid", at(3, 2))
            },
            order("erp", "SO-10", 80.0, "paid", at(3, 2)),
        ];
        let refs: Vec<&OrderFact> = orders.iter().collect();
        let kept: Vec<&str> = distinct_orders(&refs)
            .iter()
            .map(|order| order.source_id.as_str())
            .collect();
        assert_eq!(kept, ["#1001", "SO-10"]);
        assert_eq!(features_of(&orders, at(6, 1)).spend_total, 160.0);
    }

    #[test]
    fn a_customer_without_any_activity_has_counts_of_zero_and_no_values() {
        let features = features_of(&[], at(6, 1));
        assert_eq!(features.orders_total, 0);
        assert_eq!(features.avg_order_value, None);
        assert_eq!(features.value("recency_days"), Value::Null);
        assert_eq!(features.value("tenure_days"), Value::Null);
        assert_eq!(features.value("satisfaction_good_share"), Value::Null);
        assert_eq!(features.value("spend_trend"), Value::Null);
        assert_eq!(features.value("lifecycle"), Value::Null);
        assert_eq!(features.value("rfm.segment"), Value::Null);
        assert_eq!(features.value("no_such_feature"), Value::Null);
    }

    #[test]
    fn service_features_count_tickets_ratings_calls_and_messages() {
        let tickets = [
            ticket("t1", "solved", at(5, 1), Some("good")),
            ticket("t2", "Open", at(5, 10), Some("bad")),
            ticket("t3", "CLOSED", at(5, 11), Some("good")),
            ticket("t4", "pending", at(5, 12), None),
            ticket("t5", "new", at(7, 1), Some("bad")),
        ];
        let calls = [
            CallFact {
                golden_id: "g".into(),
                connector: "pbx".into(),
                source_id: "c1".into(),
                started_at: at(5, 2),
                talk_seconds: 90,
            },
            CallFact {
                golden_id: "g".into(),
                connector: "pbx".into(),
                source_id: "c2".into(),
                started_at: at(5, 3),
                talk_seconds: 0,
            },
        ];
        let messages = [MessageFact {
            golden_id: "g".into(),
            connector: "wecom".into(),
            source_id: "m1".into(),
            channel: "chat".into(),
            sent_at: at(5, 20),
        }];
        let activity = Activity {
            tickets: tickets.iter().collect(),
            calls: calls.iter().collect(),
            messages: messages.iter().collect(),
            ..Activity::default()
        };
        let features = customer_features(&activity, &FeatureSettings::default(), &[], at(6, 1));
        assert_eq!(features.tickets_total, 4, "the July ticket is after as_of");
        assert_eq!(features.tickets_open, 2);
        assert_eq!(features.satisfaction_good_share, Some(0.667));
        assert_eq!((features.calls_total, features.call_minutes), (2, 1.5));
        assert_eq!(features.messages_total, 1);
        assert_eq!(features.tenure_days, Some(31.0));
        assert_eq!(features.last_interaction_days, Some(12.0));
        // Seen recently but never bought: a new prospect.
        assert_eq!(features.value("lifecycle"), Value::from("new"));
    }

    #[test]
    fn spend_trend_compares_the_last_window_with_the_one_before() {
        let as_of = at(12, 1);
        let orders = [
            order(
                "erp",
                "1",
                100.0,
                "paid",
                as_of - chrono::Duration::days(120),
            ),
            order(
                "erp",
                "2",
                150.0,
                "paid",
                as_of - chrono::Duration::days(10),
            ),
        ];
        assert_eq!(features_of(&orders, as_of).spend_trend, Some(0.5));
        let only_recent = [order(
            "erp",
            "2",
            150.0,
            "paid",
            as_of - chrono::Duration::days(10),
        )];
        assert_eq!(
            features_of(&only_recent, as_of).spend_trend,
            None,
            "nothing to compare with"
        );
    }

    #[test]
    fn lifecycle_stages_follow_purchases_and_gaps() {
        let as_of = at(12, 1);
        let ago = |days: i64| as_of - chrono::Duration::days(days);
        let stage = |days: &[i64]| {
            let orders: Vec<OrderFact> = days
                .iter()
                .enumerate()
                .map(|(index, days)| order("erp", &index.to_string(), 10.0, "paid", ago(*days)))
                .collect();
            features_of(&orders, as_of).lifecycle
        };
        assert_eq!(stage(&[30]), Some(Lifecycle::New));
        assert_eq!(stage(&[300, 200, 100, 20]), Some(Lifecycle::Active));
        assert_eq!(stage(&[300, 200]), Some(Lifecycle::Dormant));
        assert_eq!(stage(&[700, 400]), Some(Lifecycle::Churned));
        assert_eq!(stage(&[600, 20]), Some(Lifecycle::Reactivated));
        assert_eq!(stage(&[600, 100, 20]), Some(Lifecycle::Reactivated));
        assert_eq!(stage(&[]), None);
    }

    fn party(
        updated: u32,
        attributes: serde_json::Value,
    ) -> (Option<DateTime<Utc>>, BTreeMap<String, serde_json::Value>) {
        let map = attributes
            .as_object()
            .unwrap()
            .clone()
            .into_iter()
            .collect();
        (Some(at(1, updated)), map)
    }

    #[test]
    fn custom_features_aggregate_party_attributes() {
        let parties = [
            party(
                1,
                serde_json::json!({"credit": "5000", "level": "gold", "vip": false}),
            ),
            party(
                3,
                serde_json::json!({"credit": 12000, "level": "silver", "vip": true}),
            ),
            party(2, serde_json::json!({"credit": null, "level": "platinum"})),
        ];
        let refs: Vec<PartyAttributes> = parties
            .iter()
            .map(|(updated_at, attributes)| PartyAttributes {
                updated_at: *updated_at,
                attributes,
            })
            .collect();
        let feature = |attribute: &str, aggregate| CustomFeature {
            name: "x".into(),
            attribute: attribute.into(),
            aggregate,
        };
        assert_eq!(
            aggregate_attribute(&refs, &feature("credit", Aggregate::Max)),
            Value::Number(12000.0)
        );
        assert_eq!(
            aggregate_attribute(&refs, &feature("credit", Aggregate::Min)),
            Value::Number(5000.0)
        );
        assert_eq!(
            aggregate_attribute(&refs, &feature("credit", Aggregate::Sum)),
            Value::Number(17000.0)
        );
        assert_eq!(
            aggregate_attribute(&refs, &feature("credit", Aggregate::Count)),
            Value::Number(2.0)
        );
        assert_eq!(
            aggregate_attribute(&refs, &feature("level", Aggregate::Latest)),
            Value::from("silver")
        );
        assert_eq!(
            aggregate_attribute(&refs, &feature("vip", Aggregate::Any)),
            Value::Bool(true)
        );
        assert_eq!(
            aggregate_attribute(&refs, &feature("level", Aggregate::Max)),
            Value::Null,
            "no numbers"
        );
        assert_eq!(
            aggregate_attribute(&refs, &feature("missing", Aggregate::Any)),
            Value::Bool(false)
        );
        assert_eq!(
            aggregate_attribute(&[], &feature("credit", Aggregate::Count)),
            Value::Number(0.0)
        );
    }

    #[test]
    fn quintiles_spread_scores_and_keep_ties_equal() {
        let sorted: Vec<f64> = (1..=10).map(f64::from).collect();
        let scores: Vec<u8> = sorted
            .iter()
            .map(|value| quintile(&sorted, *value, false))
            .collect();
        assert_eq!(scores, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
        let recency: Vec<u8> = sorted
            .iter()
            .map(|value| quintile(&sorted, *value, true))
            .collect();
        assert_eq!(recency, [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]);
    }

    #[test]
    fn quintile_edge_cases_are_deterministic() {
        // All equal: everyone in the middle, in either direction.
        let equal = [4.0; 7];
        assert!(equal
            .iter()
            .all(|value| quintile(&equal, *value, false) == 3));
        assert!(equal
            .iter()
            .all(|value| quintile(&equal, *value, true) == 3));
        // Fewer than five customers.
        assert_eq!(quintile(&[7.0], 7.0, false), 3);
        let two = [1.0, 2.0];
        assert_eq!(
            (quintile(&two, 1.0, false), quintile(&two, 2.0, false)),
            (2, 4)
        );
        // Ties at a boundary share one score whichever side they straddle.
        let ties = [1.0, 2.0, 2.0, 2.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        let scores: Vec<u8> = ties
            .iter()
            .map(|value| quintile(&ties, *value, false))
            .collect();
        assert_eq!(scores, [1, 2, 2, 2, 2, 3, 4, 4, 5, 5]);
        assert_eq!(quintile(&[], 1.0, false), 3);
    }

    #[test]
    fn rfm_scores_go_to_buyers_only_with_a_named_segment() {
        let as_of = at(12, 1);
        let ago = |days: i64| as_of - chrono::Duration::days(days);
        let customers: Vec<Vec<OrderFact>> = vec![
            vec![
                order("erp", "a1", 900.0, "paid", ago(2)),
                order("erp", "a2", 900.0, "paid", ago(5)),
                order("erp", "a3", 900.0, "paid", ago(9)),
            ],
            vec![order("erp", "b1", 10.0, "paid", ago(300))],
            vec![],
        ];
        let mut features: Vec<CustomerFeatures> = customers
            .iter()
            .map(|orders| features_of(orders, as_of))
            .collect();
        add_rfm_scores(&mut features);
        assert_eq!(
            features[0].rfm,
            Some(Rfm {
                r: 4,
                f: 4,
                m: 4,
                segment: "Loyal"
            })
        );
        assert_eq!(
            features[1].rfm,
            Some(Rfm {
                r: 2,
                f: 2,
                m: 2,
                segment: "Hibernating"
            })
        );
        assert_eq!(features[2].rfm, None);
        assert_eq!(features[0].value("rfm.segment"), Value::from("Loyal"));
        assert_eq!(features[1].value("rfm.r"), Value::Number(2.0));
    }

    #[test]
    fn every_cell_of_the_rfm_grid_names_a_standard_segment() {
        let expected = [
            (
                5,
                [
                    "New",
                    "Potential loyalist",
                    "Potential loyalist",
                    "Champions",
                    "Champions",
                ],
            ),
            (
                4,
                [
                    "Promising",
                    "Potential loyalist",
                    "Potential loyalist",
                    "Loyal",
                    "Champions",
                ],
            ),
            (
                3,
                [
                    "About to sleep",
                    "About to sleep",
                    "Need attention",
                    "Loyal",
                    "Loyal",
                ],
            ),
            (
                2,
                [
                    "Hibernating",
                    "Hibernating",
                    "At risk",
                    "At risk",
                    "Can't lose",
                ],
            ),
            (
                1,
                ["Lost", "Hibernating", "At risk", "Can't lose", "Can't lose"],
            ),
        ];
        for (r, row) in expected {
            for (fm, segment) in (1u8..=5).zip(row) {
                assert_eq!(rfm_segment(r, fm, fm), segment, "R{r} FM{fm}");
                assert!(RFM_SEGMENTS.contains(&segment));
            }
        }
        // F and M are averaged, rounding up.
        assert_eq!(rfm_segment(5, 5, 2), "Champions");
        assert_eq!(rfm_segment(1, 1, 2), "Hibernating");
    }
}
