//! The steward's commands: `review`, `customer` and `decision`. Each
//! decision is made through [`crate::steward::Steward`], which records it
//! in the audit log and recomputes the golden customers at once.

use std::fmt::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::model::{Party, PartyKey};
use crate::steward::{
    self, decision_standing, CustomerView, DecisionOutcome, ResolutionRules, Steward,
};
use crate::store::{Decision, ReviewItem, StewardDecision, Store};

/// Who decides and why; on every decision.
#[derive(Debug, Args)]
pub struct DecisionArgs {
    /// Who makes the decision (default: $USER).
    #[arg(long, env = "USER")]
    actor: Option<String>,
    /// Why, kept in the audit log.
    #[arg(long)]
    reason: Option<String>,
    /// Print the decision, what it changed and the decisions it overrides
    /// as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Open review items, highest priority first.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..))]
        limit: i64,
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// One review item with its two records and the per-field explanation.
    Show {
        /// The item's id, from `review list`.
        id: i64,
        /// Print the item as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The two records are one customer.
    Accept {
        /// The item's id, from `review list`.
        id: i64,
        #[command(flatten)]
        decision: DecisionArgs,
    },
    /// The two records are different customers.
    Reject {
        /// The item's id, from `review list`.
        id: i64,
        #[command(flatten)]
        decision: DecisionArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum CustomerCommand {
    /// The 360 view: records, golden fields with lineage, activity, tier.
    Show {
        /// The golden customer's id, or one of its records as
        /// `connector/source_id`.
        golden_id: String,
        /// Print the view as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Customers whose name, phone, e-mail, company or id starts with TEXT.
    Find {
        text: String,
        /// Only customers in this tier.
        #[arg(long)]
        tier: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..))]
        limit: i64,
        /// Print the customers as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Merge golden customers into one; the oldest id survives.
    Merge {
        /// Two or more golden ids.
        #[arg(required = true, num_args = 2..)]
        golden_ids: Vec<String>,
        #[command(flatten)]
        decision: DecisionArgs,
    },
    /// Split records off a customer into a new one.
    Split {
        /// The golden customer the records leave.
        golden_id: String,
        /// The records that leave, as connector/source_id, comma-separated.
        #[arg(long, required = true, value_delimiter = ',')]
        records: Vec<String>,
        #[command(flatten)]
        decision: DecisionArgs,
    },
    /// Pin a golden field to a value over every survivorship rule, until
    /// the decision is undone. Phones and e-mails take a comma-separated list.
    SetField {
        /// The golden customer's id.
        golden_id: String,
        /// name, company, address, kind, phones or emails.
        field: String,
        /// The value to pin.
        value: String,
        #[command(flatten)]
        decision: DecisionArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum DecisionCommand {
    /// Every decision, oldest first.
    List {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Withdraw a decision; the customers are recomputed without it.
    Undo {
        /// The decision's id, from `decision list`.
        id: i64,
        #[command(flatten)]
        decision: DecisionArgs,
    },
    /// Check the audit log's hash chain, that the decisions in force are
    /// exactly the audited ones, and print the head hash to keep elsewhere.
    Verify {
        /// A head hash printed by an earlier verify: fails if no entry has
        /// it any more (the log was rewritten or cut short since).
        #[arg(long, value_name = "HASH")]
        head: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn actor(args: &DecisionArgs) -> anyhow::Result<&str> {
    args.actor
        .as_deref()
        .filter(|actor| !actor.trim().is_empty())
        .ok_or_else(|| anyhow::anyhow!("who decides? pass --actor NAME (or set $USER)"))
}

/// Runs a `review` command.
pub async fn review(
    store: &dyn Store,
    rules: &ResolutionRules,
    command: ReviewCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        ReviewCommand::List { limit, json } => {
            let items = store.open_review_items(limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&items)?);
            } else {
                let open = store.open_review_count().await?;
                println!("{}", review_list(&items, open));
            }
        }
        ReviewCommand::Show { id, json } => {
            let Some(item) = store.review_item(id).await? else {
                anyhow::bail!("there is no review item {id}: see `tierlink review list`");
            };
            let keys = [item.candidate.left.clone(), item.candidate.right.clone()];
            let parties = store.parties_by_keys(&keys).await?;
            let mut records = Vec::new();
            for key in &keys {
                records.push(ReviewRecord {
                    golden_id: store.golden_id_of(key).await?,
                    party: parties.iter().find(|party| party.key() == *key).cloned(),
                    key: key.clone(),
                });
            }
            if json {
                let mut value = serde_json::to_value(&item)?;
                value["records"] = serde_json::to_value(&records)?;
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                println!("{}", review_detail(&item, &records));
            }
        }
        ReviewCommand::Accept { id, decision } => {
            let steward = Steward {
                store,
                rules,
                actor: actor(&decision)?,
                index: None,
            };
            print_outcome(
                store,
                &steward.accept(id, decision.reason.clone()).await?,
                decision.json,
            )
            .await?;
        }
        ReviewCommand::Reject { id, decision } => {
            let steward = Steward {
                store,
                rules,
                actor: actor(&decision)?,
                index: None,
            };
            print_outcome(
                store,
                &steward.reject(id, decision.reason.clone()).await?,
                decision.json,
            )
            .await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a `customer` command.
pub async fn customer(
    store: &dyn Store,
    rules: &ResolutionRules,
    command: CustomerCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        CustomerCommand::Show { golden_id, json } => {
            let golden_id = match steward::parse_party_key(&golden_id) {
                Ok(record) if store.golden_customer(&golden_id).await?.is_none() => {
                    store.golden_id_of(&record).await?.ok_or_else(|| {
                        anyhow::anyhow!("no golden customer holds the record {record}")
                    })?
                }
                _ => golden_id,
            };
            let view = steward::customer_view(store, &golden_id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                println!("{}", customer_text(&view));
            }
        }
        CustomerCommand::Find {
            text,
            tier,
            limit,
            json,
        } => {
            let Some(prefix) = crate::golden::search::query_prefix(&text) else {
                anyhow::bail!("nothing to search for in {text:?}");
            };
            let hits = store
                .search_customers(Some(&prefix), tier.as_deref(), limit)
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&hits)?);
            } else {
                println!("{}", customer_hits(&hits));
            }
        }
        CustomerCommand::Merge {
            golden_ids,
            decision,
        } => {
            let steward = Steward {
                store,
                rules,
                actor: actor(&decision)?,
                index: None,
            };
            print_outcome(
                store,
                &steward.merge(&golden_ids, decision.reason.clone()).await?,
                decision.json,
            )
            .await?;
        }
        CustomerCommand::Split {
            golden_id,
            records,
            decision,
        } => {
            let leaving = records
                .iter()
                .map(|text| steward::parse_party_key(text))
                .collect::<Result<Vec<_>, _>>()?;
            let steward = Steward {
                store,
                rules,
                actor: actor(&decision)?,
                index: None,
            };
            print_outcome(
                store,
                &steward
                    .split(&golden_id, &leaving, decision.reason.clone())
                    .await?,
                decision.json,
            )
            .await?;
        }
        CustomerCommand::SetField {
            golden_id,
            field,
            value,
            decision,
        } => {
            let value = field_value(&field, &value);
            let steward = Steward {
                store,
                rules,
                actor: actor(&decision)?,
                index: None,
            };
            print_outcome(
                store,
                &steward
                    .set_field(&golden_id, &field, value, decision.reason.clone())
                    .await?,
                decision.json,
            )
            .await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a `decision` command.
pub async fn decision(
    store: &dyn Store,
    rules: &ResolutionRules,
    command: DecisionCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        DecisionCommand::List { json } => {
            let decisions = store.decisions().await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&steward::decisions_with_state(&decisions))?
                );
            } else {
                println!("{}", decision_list(&decisions));
            }
        }
        DecisionCommand::Undo { id, decision } => {
            let steward = Steward {
                store,
                rules,
                actor: actor(&decision)?,
                index: None,
            };
            print_outcome(
                store,
                &steward.undo(id, decision.reason.clone()).await?,
                decision.json,
            )
            .await?;
        }
        DecisionCommand::Verify { head, json } => {
            match steward::verify_audit_log(store, head.as_deref()).await {
                Ok(verified) if json => println!("{}", serde_json::to_string_pretty(&verified)?),
                Ok(verified) => println!(
                    "audit log intact: {} entries, every hash verified, every decision in force as audited\nhead {} (keep it elsewhere; `decision verify --head` checks the log still reaches it)",
                    verified.entries, verified.head
                ),
                Err(error) => {
                    eprintln!("audit log TAMPERED: {error}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A set-field value: phones and e-mails are lists (comma-separated),
/// every other field text.
fn field_value(field: &str, text: &str) -> Value {
    if matches!(field, "phones" | "emails") {
        Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| Value::String(item.to_string()))
                .collect(),
        )
    } else {
        Value::String(text.to_string())
    }
}

/// An earlier decision the new one contradicts, and how much of it.
#[derive(Debug, serde::Serialize)]
struct Overridden {
    decision_id: i64,
    action: &'static str,
    actor: String,
    /// Its record pairs that no longer bind, and all of them.
    pairs_overridden: usize,
    pairs: usize,
}

/// Prints what a decision changed, and the earlier decisions it
/// overrides, as text or (`json`) one JSON object.
async fn print_outcome(
    store: &dyn Store,
    outcome: &DecisionOutcome,
    json: bool,
) -> anyhow::Result<()> {
    let decision = &outcome.decision;
    let decisions = store.decisions().await?;
    let before: Vec<StewardDecision> = decisions
        .iter()
        .filter(|earlier| earlier.id != decision.id)
        .cloned()
        .collect();
    let (before, after) = (decision_standing(&before), decision_standing(&decisions));
    let overrides: Vec<Overridden> = decisions
        .iter()
        .filter(|earlier| earlier.id != decision.id)
        .filter_map(|earlier| {
            let was = before.get(&earlier.id).copied().unwrap_or_default();
            let now = after.get(&earlier.id).copied().unwrap_or_default();
            (now.overridden > was.overridden).then(|| Overridden {
                decision_id: earlier.id,
                action: earlier.decision.action(),
                actor: earlier.actor.clone(),
                pairs_overridden: now.overridden,
                pairs: now.overridden + now.binding,
            })
        })
        .collect();
    if json {
        let mut value = serde_json::to_value(outcome)?;
        value["overrides"] = serde_json::to_value(&overrides)?;
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let changes = &outcome.resolution.changes;
    println!(
        "decision {} ({}) recorded for {}; {} golden customers recomputed, {} links moved, {} merged",
        decision.id,
        decision.decision.action(),
        decision.actor,
        changes.upserted,
        changes.links,
        changes.merged.len()
    );
    for (absorbed, survivor) in &changes.merged {
        println!("  {absorbed} merged into {survivor}");
    }
    for lineage in changes.id_lineage.iter().filter(|l| l.reason == "split") {
        println!("  {} split off {}", lineage.new_id, lineage.old_id);
    }
    for earlier in &overrides {
        println!(
            "  overrides decision {} ({} by {}): {} of its {} record pairs no longer bind",
            earlier.decision_id,
            earlier.action,
            earlier.actor,
            earlier.pairs_overridden,
            earlier.pairs
        );
    }
    if !matches!(decision.decision, Decision::Undo { .. }) {
        println!("undo with: tierlink decision undo {}", decision.id);
    }
    if changes.upserted > 0 {
        println!("tiers and labels follow with the next `tierlink run` (or `tierlink segment` and `tierlink push`)");
    }
    Ok(())
}

/// The items shown, highest priority first, and how many are open in all.
fn review_list(items: &[ReviewItem], open: i64) -> String {
    if items.is_empty() {
        return "no open review items".to_string();
    }
    let mut text = String::from("id      priority  probability  weight  left / right\n");
    for item in items {
        let candidate = &item.candidate;
        let _ = writeln!(
            text,
            "{:<7} {:>8.2}  {:>11.3}  {:>6.2}  {} / {}",
            item.id,
            candidate.priority,
            candidate.probability,
            candidate.match_weight,
            candidate.left,
            candidate.right
        );
    }
    if open > items.len() as i64 {
        let _ = writeln!(
            text,
            "{} of {open} open items; see more with --limit",
            items.len()
        );
    }
    text.push_str("see one with `tierlink review show ID`");
    text
}

/// One record of a review item as `review show` gives it: what the source
/// holds and the customer it belongs to now.
#[derive(Debug, serde::Serialize)]
struct ReviewRecord {
    key: PartyKey,
    golden_id: Option<String>,
    party: Option<Party>,
}

fn review_detail(item: &ReviewItem, records: &[ReviewRecord]) -> String {
    let candidate = &item.candidate;
    let mut text = format!(
        "review item {} ({})\n  probability {:.3}, match weight {:.2}, priority {:.2}\n",
        item.id, item.status, candidate.probability, candidate.match_weight, candidate.priority
    );
    for record in records {
        let customer = record
            .golden_id
            .as_deref()
            .map_or_else(|| "no customer".to_string(), |id| format!("customer {id}"));
        let _ = writeln!(text, "  {} ({customer})", record.key);
        let Some(party) = &record.party else {
            let _ = writeln!(text, "    (the record is no longer stored)");
            continue;
        };
        let list = |values: &[String]| values.join(", ");
        for (label, value) in [
            ("name", party.name.clone().unwrap_or_default()),
            ("phones", list(&party.phones)),
            ("emails", list(&party.emails)),
            ("company", party.company.clone().unwrap_or_default()),
            ("address", party.address.clone().unwrap_or_default()),
        ] {
            if !value.is_empty() {
                let _ = writeln!(text, "    {label:<8} {value}");
            }
        }
        for (name, value) in &party.strong_ids {
            let _ = writeln!(text, "    {name:<8} {value}");
        }
    }
    text.push_str("  field contributions:\n");
    for contribution in &candidate.explanation {
        let _ = writeln!(
            text,
            "    {:<12} {:<16} {:>+7.2}",
            contribution.field, contribution.level, contribution.weight
        );
    }
    // The fields' sum and the prior (the share of blocked pairs that
    // match) make up the match weight.
    let fields: f64 = candidate.explanation.iter().map(|c| c.weight).sum();
    let _ = writeln!(
        text,
        "    {:<29} {:>+7.2}\n    {:<29} {:>+7.2}",
        "prior",
        candidate.match_weight - fields,
        "match weight",
        candidate.match_weight
    );
    if item.status == "open" {
        let _ = write!(
            text,
            "decide with `tierlink review accept {0}` or `tierlink review reject {0}`",
            item.id
        );
    }
    text
}

fn decision_list(decisions: &[StewardDecision]) -> String {
    if decisions.is_empty() {
        return "no decisions yet".to_string();
    }
    let standing = decision_standing(decisions);
    let mut text = String::new();
    for decision in decisions {
        let state = match decision.undone_at {
            Some(at) => format!("undone {}", at.format("%Y-%m-%d %H:%M")),
            None => steward::decision_state(decision, standing.get(&decision.id)).replace('_', " "),
        };
        let _ = writeln!(
            text,
            "{:<5} {} {:<12} {:<14} {} {}{}",
            decision.id,
            decision.created_at.format("%Y-%m-%d %H:%M"),
            decision.actor,
            decision.decision.action(),
            describe(&decision.decision),
            state,
            decision
                .reason
                .as_deref()
                .map(|reason| format!(" ({reason})"))
                .unwrap_or_default()
        );
    }
    text.trim_end().to_string()
}

/// `customer find` output: one line per customer.
fn customer_hits(hits: &[crate::store::CustomerHit]) -> String {
    if hits.is_empty() {
        return "no customer found".to_string();
    }
    let mut text = String::new();
    for hit in hits {
        let field = |name: &str| match hit.fields.get(name) {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        };
        let _ = writeln!(
            text,
            "{}  {}  {}  {}  tier {}  {} record(s)",
            hit.golden_id,
            field("name"),
            field("company"),
            field("phones"),
            hit.tier.as_deref().unwrap_or("-"),
            hit.records
        );
    }
    text.push_str("see one with `tierlink customer show ID`");
    text
}

fn describe(decision: &Decision) -> String {
    let keys = |keys: &[crate::model::PartyKey]| {
        keys.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    match decision {
        Decision::AcceptMatch {
            review_id,
            left,
            right,
        }
        | Decision::RejectMatch {
            review_id,
            left,
            right,
        } => format!("review {review_id}: {left} / {right};"),
        Decision::Merge { golden_ids, .. } => format!("{};", golden_ids.join(" + ")),
        Decision::Split {
            golden_id, leaving, ..
        } => format!("{} off {golden_id};", keys(leaving)),
        Decision::SetField {
            golden_id,
            field,
            value,
        } => format!("{golden_id}.{field} = {value};"),
        Decision::Undo { decision_id } => format!("decision {decision_id};"),
    }
}

fn customer_text(view: &CustomerView) -> String {
    let mut text = format!("golden customer {}\n", view.golden_id);
    match &view.tier {
        Some(tier) => {
            let _ = writeln!(
                text,
                "  tier {} (rule {}, rules version {})",
                tier.tier, tier.rule, tier.rules_version
            );
        }
        None => text.push_str("  no tier yet\n"),
    }
    text.push_str("fields:\n");
    for (field, view) in &view.fields {
        let source = view
            .source
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_else(|| "-".to_string());
        let _ = writeln!(text, "  {field:<8} {}  <- {source}", view.value);
    }
    let _ = writeln!(text, "records ({}):", view.records.len());
    for record in &view.records {
        let _ = writeln!(
            text,
            "  {}  {}  evidence {}",
            record.party.key(),
            record.party.name.as_deref().unwrap_or("-"),
            record.evidence
        );
        for (stream, raw) in &record.raw {
            let _ = writeln!(text, "    {stream}: {raw}");
        }
    }
    let paid: f64 = view.orders.iter().map(|order| order.amount).sum();
    let _ = writeln!(
        text,
        "activity: {} orders ({paid:.2} total), {} tickets, {} calls, {} messages",
        view.orders.len(),
        view.tickets.len(),
        view.calls.len(),
        view.messages.len()
    );
    for order in &view.orders {
        let _ = writeln!(
            text,
            "  order {}/{} {} {:.2} {}",
            order.connector,
            order.source_id,
            order.ordered_at.format("%Y-%m-%d"),
            order.amount,
            order.status.as_str()
        );
    }
    for ticket in &view.tickets {
        let _ = writeln!(
            text,
            "  ticket {}/{} {} {}",
            ticket.connector,
            ticket.source_id,
            ticket.created_at.format("%Y-%m-%d"),
            ticket.status
        );
    }
    for call in &view.calls {
        let _ = writeln!(
            text,
            "  call {}/{} {} {}s",
            call.connector,
            call.source_id,
            call.started_at.format("%Y-%m-%d %H:%M"),
            call.talk_seconds
        );
    }
    for message in &view.messages {
        let _ = writeln!(
            text,
            "  message {}/{} {} {}",
            message.connector,
            message.source_id,
            message.sent_at.format("%Y-%m-%d %H:%M"),
            message.channel
        );
    }
    if !view.tier_history.is_empty() {
        text.push_str("tier history:\n");
        for change in &view.tier_history {
            let _ = writeln!(
                text,
                "  {} {} -> {} ({})",
                change.assignment.assigned_at.format("%Y-%m-%d"),
                change.from_tier.as_deref().unwrap_or("-"),
                change.assignment.tier,
                change.assignment.rule
            );
        }
    }
    for lineage in &view.id_lineage {
        let _ = writeln!(
            text,
            "id lineage: {} <- {} ({})",
            lineage.new_id, lineage.old_id, lineage.reason
        );
    }
    if !view.decisions.is_empty() {
        text.push_str("steward decisions:\n");
        text.push_str(&decision_list(&view.decisions));
        text.push('\n');
    }
    text.trim_end().to_string()
}
