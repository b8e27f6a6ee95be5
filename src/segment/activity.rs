//! Links tickets, calls and messages to golden customers and groups all
//! activity per customer, as plain facts the features are computed from.
//!
//! Tickets and messages name their party in the same connector; calls (and
//! messages without a party id) carry only a phone number, which links them
//! to the golden customer whose parties have that number. A number that
//! belongs to several golden customers links to none, since it cannot say
//! whose call it was.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::features::{Activity, PartyAttributes};
use crate::model::{Call, Message, Party, PartyKey, Ticket};
use crate::normalize::phone::normalize_phone;
use crate::store::{GoldenLink, OrderFact};

/// A ticket of a golden customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketFact {
    pub golden_id: String,
    pub connector: String,
    pub source_id: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// `good` or `bad` when the customer rated the service.
    pub satisfaction: Option<String>,
}

impl TicketFact {
    /// Whether the ticket still waits for an answer: anything but solved or
    /// closed (help desks spell them in any case).
    pub fn is_open(&self) -> bool {
        let status = self.status.trim();
        !(status.eq_ignore_ascii_case("solved") || status.eq_ignore_ascii_case("closed"))
    }
}

/// A call with a golden customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallFact {
    pub golden_id: String,
    pub connector: String,
    pub source_id: String,
    pub started_at: DateTime<Utc>,
    pub talk_seconds: i64,
}

/// A chat, e-mail or other message with a golden customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageFact {
    pub golden_id: String,
    pub connector: String,
    pub source_id: String,
    pub channel: String,
    pub sent_at: DateTime<Utc>,
}

/// Every activity fact of the population, linked to golden customers.
#[derive(Debug, Clone, Default)]
pub struct LinkedActivity {
    pub tickets: Vec<TicketFact>,
    pub calls: Vec<CallFact>,
    pub messages: Vec<MessageFact>,
}

/// Finds golden customers by party and by phone number.
struct Linker<'a> {
    by_party: HashMap<(&'a str, &'a str), &'a str>,
    /// E.164 number → golden id, or `None` when several customers share it.
    by_phone: HashMap<String, Option<&'a str>>,
}

impl<'a> Linker<'a> {
    fn new(parties: &'a [Party], links: &'a [GoldenLink]) -> Linker<'a> {
        let by_party: HashMap<(&str, &str), &str> = links
            .iter()
            .map(|link| {
                (
                    (link.party.connector.as_str(), link.party.source_id.as_str()),
                    link.golden_id.as_str(),
                )
            })
            .collect();
        let mut by_phone: HashMap<String, Option<&str>> = HashMap::new();
        for party in parties {
            let Some(&golden_id) =
                by_party.get(&(party.connector.as_str(), party.source_id.as_str()))
            else {
                continue;
            };
            for phone in party.phones.iter().filter_map(|raw| normalize_phone(raw)) {
                by_phone
                    .entry(phone.e164)
                    .and_modify(|owner| {
                        if *owner != Some(golden_id) {
                            *owner = None;
                        }
                    })
                    .or_insert(Some(golden_id));
            }
        }
        Linker { by_party, by_phone }
    }

    fn party(&self, connector: &str, source_id: Option<&str>) -> Option<&'a str> {
        self.by_party.get(&(connector, source_id?)).copied()
    }

    fn phone(&self, raw: Option<&str>) -> Option<&'a str> {
        let phone = normalize_phone(raw?)?;
        self.by_phone.get(&phone.e164).copied().flatten()
    }
}

/// Links tickets (by requester), messages (by party, else by phone) and
/// calls (by the customer's side of the call: the caller of an inbound
/// call, the callee of an outbound one, either when the source does not
/// say) to golden customers. Activity that links to no one is left out.
pub fn link_activity(
    parties: &[Party],
    links: &[GoldenLink],
    tickets: &[Ticket],
    calls: &[Call],
    messages: &[Message],
) -> LinkedActivity {
    let linker = Linker::new(parties, links);
    let tickets = tickets
        .iter()
        .filter_map(|ticket| {
            Some(TicketFact {
                golden_id: linker
                    .party(&ticket.connector, ticket.party_source_id.as_deref())?
                    .to_string(),
                connector: ticket.connector.clone(),
                source_id: ticket.source_id.clone(),
                status: ticket.status.clone(),
                created_at: ticket.created_at,
                satisfaction: ticket.satisfaction.clone(),
            })
        })
        .collect();
    let calls = calls
        .iter()
        .filter_map(|call| {
            let direction = call.direction.as_deref().map(str::trim).unwrap_or("");
            let golden_id = if direction.eq_ignore_ascii_case("inbound") {
                linker.phone(call.caller.as_deref())
            } else if direction.eq_ignore_ascii_case("outbound") {
                linker.phone(call.callee.as_deref())
            } else {
                linker
                    .phone(call.caller.as_deref())
                    .or_else(|| linker.phone(call.callee.as_deref()))
            }?;
            Some(CallFact {
                golden_id: golden_id.to_string(),
                connector: call.connector.clone(),
                source_id: call.source_id.clone(),
                started_at: call.started_at,
                talk_seconds: call.talk_seconds,
            })
        })
        .collect();
    let messages = messages
        .iter()
        .filter_map(|message| {
            let golden_id = linker
                .party(&message.connector, message.party_source_id.as_deref())
                .or_else(|| linker.phone(message.phone.as_deref()))?;
            Some(MessageFact {
                golden_id: golden_id.to_string(),
                connector: message.connector.clone(),
                source_id: message.source_id.clone(),
                channel: message.channel.clone(),
                sent_at: message.sent_at,
            })
        })
        .collect();
    LinkedActivity {
        tickets,
        calls,
        messages,
    }
}

/// Where each order's customer is in `golden_ids`. The store gives both
/// sorted by golden id; then one walk through both in step finds them all
/// without hashing. In any other order, each id is looked up with `slot`.
fn order_slots(
    golden_ids: &[String],
    orders: &[OrderFact],
    slot: &dyn Fn(&str) -> Option<usize>,
) -> Vec<Option<usize>> {
    let sorted = golden_ids.windows(2).all(|pair| pair[0] < pair[1])
        && orders
            .windows(2)
            .all(|pair| pair[0].golden_id <= pair[1].golden_id);
    if !sorted {
        return orders.iter().map(|order| slot(&order.golden_id)).collect();
    }
    let mut position = 0;
    orders
        .iter()
        .map(|order| {
            while golden_ids
                .get(position)
                .is_some_and(|id| *id < order.golden_id)
            {
                position += 1;
            }
            (golden_ids.get(position) == Some(&order.golden_id)).then_some(position)
        })
        .collect()
}

/// Groups orders, linked activity and party attributes by golden customer,
/// one [`Activity`] per id in `golden_ids` (empty for a customer without any).
pub fn group_by_customer<'a>(
    golden_ids: &'a [String],
    orders: &'a [OrderFact],
    linked: &'a LinkedActivity,
    parties: &'a [Party],
    links: &'a [GoldenLink],
) -> Vec<Activity<'a>> {
    // Built on first use: sorted orders need no lookups.
    let index: std::cell::OnceCell<HashMap<&str, usize>> = std::cell::OnceCell::new();
    let slot = |golden_id: &str| {
        index
            .get_or_init(|| {
                golden_ids
                    .iter()
                    .enumerate()
                    .map(|(position, id)| (id.as_str(), position))
                    .collect()
            })
            .get(golden_id)
            .copied()
    };
    let mut grouped: Vec<Activity<'a>> = vec![Activity::default(); golden_ids.len()];
    // Orders are the bulk: find each one's customer once, then give every
    // customer a list of the right size instead of growing a million small
    // ones.
    let slots = order_slots(golden_ids, orders, &slot);
    let mut counts = vec![0usize; golden_ids.len()];
    for position in slots.iter().flatten() {
        counts[*position] += 1;
    }
    for (activity, count) in grouped.iter_mut().zip(counts) {
        activity.orders.reserve_exact(count);
    }
    for (order, position) in orders.iter().zip(slots) {
        if let Some(position) = position {
            grouped[position].orders.push(order);
        }
    }
    for ticket in &linked.tickets {
        if let Some(position) = slot(&ticket.golden_id) {
            grouped[position].tickets.push(ticket);
        }
    }
    for call in &linked.calls {
        if let Some(position) = slot(&call.golden_id) {
            grouped[position].calls.push(call);
        }
    }
    for message in &linked.messages {
        if let Some(position) = slot(&message.golden_id) {
            grouped[position].messages.push(message);
        }
    }
    let golden_of: BTreeMap<PartyKey, &str> = links
        .iter()
        .map(|link| (link.party.clone(), link.golden_id.as_str()))
        .collect();
    for party in parties {
        if let Some(position) = golden_of
            .get(&party.key())
            .and_then(|golden_id| slot(golden_id))
        {
            grouped[position].parties.push(PartyAttributes {
                updated_at: party.source_updated_at,
                attributes: &party.attributes,
            });
        }
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn party(connector: &str, id: &str, phones: &[&str]) -> Party {
        Party {
            connector: connector.into(),
            source_id: id.into(),
            phones: phones.iter().map(|phone| phone.to_string()).collect(),
            ..Party::default()
        }
    }

    fn link(connector: &str, id: &str, golden_id: &str) -> GoldenLink {
        GoldenLink {
            party: PartyKey {
                connector: connector.into(),
                source_id: id.into(),
            },
            golden_id: golden_id.into(),
            evidence: crate::store::LinkEvidence::default(),
        }
    }

    fn call(id: &str, caller: &str, callee: &str, direction: Option<&str>) -> Call {
        Call {
            connector: "pbx".into(),
            source_id: id.into(),
            caller: Some(caller.into()),
            callee: Some(callee.into()),
            direction: direction.map(str::to_string),
            started_at: Utc.with_ymd_and_hms(2024, 5, 1, 9, 0, 0).unwrap(),
            talk_seconds: 60,
            disposition: Some("ANSWERED".into()),
        }
    }

    #[test]
    fn activity_links_by_party_and_by_the_customers_side_of_a_call() {
        let parties = [
            party("erp", "C1", &["138 0013 8000"]),
            party("shop", "7", &["+86 139 1111 2222"]),
            // Two customers share the office number: it links to neither.
            party("erp", "C2", &["010-8888 6666"]),
            party("shop", "8", &["+86 10 8888 6666"]),
        ];
        let links = [
            link("erp", "C1", "G1"),
            link("shop", "7", "G1"),
            link("erp", "C2", "G2"),
            link("shop", "8", "G3"),
        ];
        let when = Utc.with_ymd_and_hms(2024, 5, 1, 9, 0, 0).unwrap();
        let tickets = [
            Ticket {
                connector: "erp".into(),
                source_id: "T1".into(),
                party_source_id: Some("C1".into()),
                channel: None,
                status: "open".into(),
                created_at: when,
                solved_at: None,
                satisfaction: Some("bad".into()),
            },
            Ticket {
                connector: "erp".into(),
                source_id: "T2".into(),
                party_source_id: None,
                channel: None,
                status: "open".into(),
                created_at: when,
                solved_at: None,
                satisfaction: None,
            },
        ];
        let calls = [
            call("inbound", "+8613800138000", "4008001234", Some("inbound")),
            call("outbound", "4008001234", "13911112222", Some("OUTBOUND")),
            call("unknown", "4008001234", "+86 138 0013 8000", None),
            call("shared", "01088886666", "4008001234", Some("inbound")),
            call("wrong side", "4008001234", "13800138000", Some("inbound")),
        ];
        let messages = [
            Message {
                connector: "shop".into(),
                source_id: "M1".into(),
                party_source_id: Some("7".into()),
                phone: None,
                channel: "chat".into(),
                sent_at: when,
            },
            Message {
                connector: "wecom".into(),
                source_id: "M2".into(),
                party_source_id: None,
                phone: Some("13800138000".into()),
                channel: "wecom".into(),
                sent_at: when,
            },
        ];
        let linked = link_activity(&parties, &links, &tickets, &calls, &messages);
        let ticket_ids: Vec<(&str, &str)> = linked
            .tickets
            .iter()
            .map(|t| (t.source_id.as_str(), t.golden_id.as_str()))
            .collect();
        assert_eq!(ticket_ids, [("T1", "G1")]);
        let call_ids: Vec<(&str, &str)> = linked
            .calls
            .iter()
            .map(|c| (c.source_id.as_str(), c.golden_id.as_str()))
            .collect();
        assert_eq!(
            call_ids,
            [("inbound", "G1"), ("outbound", "G1"), ("unknown", "G1")]
        );
        let message_ids: Vec<(&str, &str)> = linked
            .messages
            .iter()
            .map(|m| (m.source_id.as_str(), m.golden_id.as_str()))
            .collect();
        assert_eq!(message_ids, [("M1", "G1"), ("M2", "G1")]);

        let ids = ["G1".to_string(), "G2".to_string(), "G9".to_string()];
        let grouped = group_by_customer(&ids, &[], &linked, &parties, &links);
        assert_eq!(
            (
                grouped[0].tickets.len(),
                grouped[0].calls.len(),
                grouped[0].messages.len()
            ),
            (1, 3, 2)
        );
        assert_eq!(grouped[0].parties.len(), 2);
        assert_eq!(grouped[1].parties.len(), 1);
        assert!(grouped[2].parties.is_empty() && grouped[2].calls.is_empty());
        assert!(linked.tickets[0].is_open());
    }

    #[test]
    fn orders_group_the_same_whether_or_not_they_come_sorted_by_customer() {
        let order = |golden_id: &str, source_id: &str| OrderFact {
            golden_id: golden_id.into(),
            connector: "erp".into(),
            source_id: source_id.into(),
            amount: 1.0,
            status: "paid".into(),
            ordered_at: Utc.with_ymd_and_hms(2024, 5, 1, 9, 0, 0).unwrap(),
            copy: false,
        };
        let golden_ids: Vec<String> = ["G1", "G2", "G4"].map(String::from).to_vec();
        // Sorted as the store gives them, with an order of a customer that
        // is not in the list (merged away) before, between and after.
        let sorted = vec![
            order("G0", "a"),
            order("G1", "b"),
            order("G1", "c"),
            order("G3", "d"),
            order("G4", "e"),
            order("G9", "f"),
        ];
        let mut shuffled = sorted.clone();
        shuffled.reverse();
        let linked = LinkedActivity::default();
        let ids_of = |orders: &[OrderFact]| -> Vec<Vec<String>> {
            group_by_customer(&golden_ids, orders, &linked, &[], &[])
                .iter()
                .map(|activity| {
                    let mut ids: Vec<String> = activity
                        .orders
                        .iter()
                        .map(|order| order.source_id.clone())
                        .collect();
                    ids.sort();
                    ids
                })
                .collect()
        };
        let expected = vec![
            vec!["b".to_string(), "c".to_string()],
            vec![],
            vec!["e".to_string()],
        ];
        assert_eq!(ids_of(&sorted), expected);
        assert_eq!(ids_of(&shuffled), expected);
        // Ids out of order fall back to lookups.
        let unsorted_ids: Vec<String> = ["G4", "G1", "G2"].map(String::from).to_vec();
        let grouped = group_by_customer(&unsorted_ids, &sorted, &linked, &[], &[]);
        assert_eq!(grouped[0].orders.len(), 1);
        assert_eq!(grouped[1].orders.len(), 2);
    }
}
