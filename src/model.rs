//! The canonical model: what mappings produce from source records.
//!
//! Every entity carries the connector it came from and its id in that
//! source, so any value can be traced back to the record that gave it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The kinds of canonical entity a mapping can produce from a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// A customer as one source system knows it.
    Party,
    /// A purchase or invoice.
    Order,
    /// A service request in a help desk.
    Ticket,
    /// A call-centre record, linked to a party by phone number.
    Call,
    /// A chat, e-mail or other touch.
    Message,
}

impl EntityKind {
    /// Every entity kind, for listing valid choices in error hints.
    pub const ALL: [EntityKind; 5] = [
        EntityKind::Party,
        EntityKind::Order,
        EntityKind::Ticket,
        EntityKind::Call,
        EntityKind::Message,
    ];

    /// The name used in mapping files.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Party => "party",
            EntityKind::Order => "order",
            EntityKind::Ticket => "ticket",
            EntityKind::Call => "call",
            EntityKind::Message => "message",
        }
    }
}

/// Whether a party is a person or a company contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PartyKind {
    #[default]
    Person,
    Company,
}

impl PartyKind {
    /// The name used in mapping files and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            PartyKind::Person => "person",
            PartyKind::Company => "company",
        }
    }

    /// Parses the stored or mapped form; anything but "company" is a person.
    pub fn parse(text: &str) -> PartyKind {
        if text.trim().eq_ignore_ascii_case("company") {
            PartyKind::Company
        } else {
            PartyKind::Person
        }
    }
}

/// A customer as one source system knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Party {
    /// The connector (source system) that holds this record.
    pub connector: String,
    /// The record's id in that source.
    pub source_id: String,
    pub kind: PartyKind,
    pub name: Option<String>,
    /// Phone numbers as the source wrote them; normalized when matching.
    pub phones: Vec<String>,
    /// E-mail addresses as the source wrote them.
    pub emails: Vec<String>,
    pub company: Option<String>,
    pub address: Option<String>,
    /// Strong identifiers such as a WeChat unionid or a credit code, by name.
    pub strong_ids: BTreeMap<String, String>,
    /// Any other mapped field, usable by tier rules as a custom feature.
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// When the source last changed this record, if it says.
    pub source_updated_at: Option<DateTime<Utc>>,
    /// The orders this record shares with another system's record, as
    /// `connector:number` of the order both cite (see
    /// [`Order::origin_number`]). Not mapped and not stored: filled from
    /// the stored orders when customers are resolved.
    #[serde(skip)]
    pub shared_orders: Vec<String>,
}

impl Party {
    /// The key that names this party across the whole hub.
    pub fn key(&self) -> PartyKey {
        PartyKey {
            connector: self.connector.clone(),
            source_id: self.source_id.clone(),
        }
    }

    /// Orders parties as their keys order, without copying the keys.
    pub fn key_cmp(&self, other: &Party) -> std::cmp::Ordering {
        (&self.connector, &self.source_id).cmp(&(&other.connector, &other.source_id))
    }
}

/// Identifies one party: a source record in one connector.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PartyKey {
    pub connector: String,
    pub source_id: String,
}

impl std::fmt::Display for PartyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.connector, self.source_id)
    }
}

/// What happened to an order's money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    #[default]
    Paid,
    Pending,
    Refunded,
    Cancelled,
}

impl OrderStatus {
    /// Every status, for listing valid choices in error hints.
    pub const ALL: [OrderStatus; 4] = [
        OrderStatus::Paid,
        OrderStatus::Pending,
        OrderStatus::Refunded,
        OrderStatus::Cancelled,
    ];

    /// The name used in mapping files and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Paid => "paid",
            OrderStatus::Pending => "pending",
            OrderStatus::Refunded => "refunded",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    /// Parses a canonical status name.
    pub fn parse(text: &str) -> Option<OrderStatus> {
        OrderStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

/// A purchase or invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub connector: String,
    pub source_id: String,
    /// The source id of the party that placed the order, in the same connector.
    pub party_source_id: String,
    pub amount: f64,
    pub currency: Option<String>,
    pub status: OrderStatus,
    pub ordered_at: DateTime<Utc>,
    /// The order's number as people and other systems cite it (a web
    /// shop's `#1001`), when it differs from the source id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// For an order copied from another system (an ERP importing the web
    /// shop's orders): that system's number for it. The two records are
    /// one order, so their customers are one customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_number: Option<String>,
}

/// One order naming another system's order by its number (an ERP order
/// imported from the web shop, citing the shop's `#1001`): a pair of order
/// records that are one order, and so a pair of customer records that are
/// one customer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OrderCitation {
    /// The citing order's party.
    pub citing_party: PartyKey,
    /// The citing order's source id.
    pub citing_order: String,
    /// The cited order's party, in another connector.
    pub cited_party: PartyKey,
    /// The number both orders carry.
    pub number: String,
}

/// A service request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub connector: String,
    pub source_id: String,
    /// The requester's source id in the same connector, when known.
    pub party_source_id: Option<String>,
    /// How the request came in: email, chat, voice, web...
    pub channel: Option<String>,
    /// The source's status, e.g. new, open, pending, solved, closed.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub solved_at: Option<DateTime<Utc>>,
    /// The customer's rating, as `good` or `bad` when given.
    pub satisfaction: Option<String>,
}

/// A call-centre record. CDRs carry no customer id: the call links to a
/// party through the caller's (inbound) or callee's (outbound) number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub connector: String,
    pub source_id: String,
    pub caller: Option<String>,
    pub callee: Option<String>,
    /// `inbound` or `outbound`, when the source says.
    pub direction: Option<String>,
    pub started_at: DateTime<Utc>,
    /// Seconds of conversation (billsec); 0 for unanswered calls.
    pub talk_seconds: i64,
    /// e.g. ANSWERED, NO ANSWER, BUSY, FAILED.
    pub disposition: Option<String>,
}

/// A chat, e-mail, visit or other touch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub connector: String,
    pub source_id: String,
    /// The party's source id in the same connector, when the source has one.
    pub party_source_id: Option<String>,
    /// Otherwise the phone number that links it to a party.
    pub phone: Option<String>,
    pub channel: String,
    pub sent_at: DateTime<Utc>,
}

/// One canonical entity produced by a mapping.
#[derive(Debug, Clone, PartialEq)]
pub enum Entity {
    Party(Party),
    Order(Order),
    Ticket(Ticket),
    Call(Call),
    Message(Message),
}
