//! The Odoo simulator's model layer: the models it serves, their fields as
//! `fields_get` reports them, records, domains, ordering and the ORM methods
//! clients call through `execute_kw`. It knows nothing of HTTP, so JSON-RPC
//! (and any other protocol) shares it.
//!
//! Records are stored with many2one values as bare ids (or `false`) and
//! rendered as Odoo renders them on read: `[id, "display name"]`, many2many
//! as id lists, `false` for empty, naive UTC `YYYY-MM-DD HH:MM:SS` datetimes.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};

use chrono::{NaiveDate, NaiveDateTime, Utc};
use serde_json::{json, Map, Value};

/// An error as Odoo raises it: the exception's dotted name
/// (`odoo.exceptions.AccessDenied`, `builtins.ValueError`, ...) and message.
#[derive(Debug, Clone, PartialEq)]
pub struct OdooError {
    pub name: String,
    pub message: String,
}

impl OdooError {
    pub fn new(name: &str, message: impl Into<String>) -> Self {
        OdooError {
            name: name.to_string(),
            message: message.into(),
        }
    }

    pub fn value_error(message: impl Into<String>) -> Self {
        OdooError::new("builtins.ValueError", message)
    }

    pub fn type_error(message: impl Into<String>) -> Self {
        OdooError::new("builtins.TypeError", message)
    }

    fn validation(message: impl Into<String>) -> Self {
        OdooError::new("odoo.exceptions.ValidationError", message)
    }
}

/// A field's type, with Odoo's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Integer,
    Float,
    Monetary,
    Char,
    Text,
    Boolean,
    Date,
    Datetime,
    Selection,
    Many2one,
    Many2many,
}

impl FieldType {
    fn name(self) -> &'static str {
        match self {
            FieldType::Integer => "integer",
            FieldType::Float => "float",
            FieldType::Monetary => "monetary",
            FieldType::Char => "char",
            FieldType::Text => "text",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Selection => "selection",
            FieldType::Many2one => "many2one",
            FieldType::Many2many => "many2many",
        }
    }

    fn relational(self) -> bool {
        matches!(self, FieldType::Many2one | FieldType::Many2many)
    }
}

/// How a field gets its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Written by clients.
    Stored,
    /// Set by the ORM itself (`id`, `create_date`, `write_date`, ...):
    /// dropped from `create`/`write` values, as Odoo drops them.
    Magic,
    /// Computed on read (`display_name`, `commercial_partner_id`);
    /// values written to it are ignored.
    Computed,
}

/// One field of a model.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub kind: FieldType,
    /// The comodel of a relational field.
    pub relation: Option<String>,
    pub string: String,
    pub required: bool,
    /// `(value, label)` pairs of a selection field.
    pub selection: Vec<(String, String)>,
    origin: Origin,
}

fn field(name: &str, kind: FieldType, string: &str) -> Field {
    Field {
        name: name.to_string(),
        kind,
        relation: None,
        string: string.to_string(),
        required: false,
        selection: Vec::new(),
        origin: Origin::Stored,
    }
}

fn relational(name: &str, kind: FieldType, relation: &str, string: &str) -> Field {
    Field {
        relation: Some(relation.to_string()),
        ..field(name, kind, string)
    }
}

fn selection(name: &str, string: &str, values: &[(&str, &str)]) -> Field {
    Field {
        selection: values
            .iter()
            .map(|(value, label)| (value.to_string(), label.to_string()))
            .collect(),
        ..field(name, FieldType::Selection, string)
    }
}

fn with_origin(mut field: Field, origin: Origin) -> Field {
    field.origin = origin;
    field
}

fn required(mut field: Field) -> Field {
    field.required = true;
    field
}

/// The fields every model has: id, display name and the access log.
fn magic_fields() -> Vec<Field> {
    vec![
        with_origin(field("id", FieldType::Integer, "ID"), Origin::Magic),
        with_origin(
            field("display_name", FieldType::Char, "Display Name"),
            Origin::Computed,
        ),
        with_origin(
            field("create_date", FieldType::Datetime, "Created on"),
            Origin::Magic,
        ),
        with_origin(
            relational("create_uid", FieldType::Many2one, "res.users", "Created by"),
            Origin::Magic,
        ),
        with_origin(
            field("write_date", FieldType::Datetime, "Last Updated on"),
            Origin::Magic,
        ),
        with_origin(
            relational(
                "write_uid",
                FieldType::Many2one,
                "res.users",
                "Last Updated by",
            ),
            Origin::Magic,
        ),
    ]
}

/// A model: its schema and its records.
#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    /// `_description`, used in error messages.
    pub description: String,
    fields: BTreeMap<String, Field>,
    /// `_order`, e.g. `complete_name ASC, id DESC`.
    default_order: String,
    records: BTreeMap<i64, Map<String, Value>>,
    next_id: i64,
}

impl Model {
    fn new(name: &str, description: &str, default_order: &str, fields: Vec<Field>) -> Self {
        let fields = magic_fields()
            .into_iter()
            .chain(fields)
            .map(|field| (field.name.clone(), field))
            .collect();
        Model {
            name: name.to_string(),
            description: description.to_string(),
            fields,
            default_order: default_order.to_string(),
            records: BTreeMap::new(),
            next_id: 1,
        }
    }

    fn has_active(&self) -> bool {
        self.fields.contains_key("active")
    }

    fn field(&self, name: &str) -> Result<&Field, OdooError> {
        self.fields.get(name).ok_or_else(|| {
            OdooError::value_error(format!(
                "Invalid field {} on model {}",
                py_str(name),
                py_str(&self.name)
            ))
        })
    }

    /// Every record id, in id order.
    pub fn ids(&self) -> Vec<i64> {
        self.records.keys().copied().collect()
    }
}

/// The models a simulated database serves.
fn schemas() -> Vec<Model> {
    use FieldType::*;
    vec![
        Model::new(
            "res.partner",
            "Contact",
            "complete_name ASC, id DESC",
            vec![
                field("name", Char, "Name"),
                with_origin(
                    field("complete_name", Char, "Complete Name"),
                    Origin::Computed,
                ),
                field("is_company", Boolean, "Is a Company"),
                relational("parent_id", Many2one, "res.partner", "Related Company"),
                with_origin(
                    relational(
                        "commercial_partner_id",
                        Many2one,
                        "res.partner",
                        "Commercial Entity",
                    ),
                    Origin::Computed,
                ),
                selection(
                    "type",
                    "Address Type",
                    &[
                        ("contact", "Contact"),
                        ("invoice", "Invoice Address"),
                        ("delivery", "Delivery Address"),
                        ("other", "Other Address"),
                    ],
                ),
                field("email", Char, "Email"),
                field("phone", Char, "Phone"),
                field("mobile", Char, "Mobile"),
                field("vat", Char, "Tax ID"),
                field("ref", Char, "Reference"),
                field("company_name", Char, "Company Name"),
                field("function", Char, "Job Position"),
                field("street", Char, "Street"),
                field("street2", Char, "Street2"),
                field("zip", Char, "Zip"),
                field("city", Char, "City"),
                field("website", Char, "Website Link"),
                field("comment", Text, "Notes"),
                field("lang", Char, "Language"),
                relational("category_id", Many2many, "res.partner.category", "Tags"),
                field("active", Boolean, "Active"),
            ],
        ),
        Model::new(
            "res.partner.category",
            "Partner Tags",
            "name",
            vec![
                required(field("name", Char, "Tag Name")),
                field("color", Integer, "Color"),
                relational(
                    "parent_id",
                    Many2one,
                    "res.partner.category",
                    "Parent Category",
                ),
                field("active", Boolean, "Active"),
            ],
        ),
        Model::new(
            "sale.order",
            "Sales Order",
            "date_order desc, id desc",
            vec![
                field("name", Char, "Order Reference"),
                required(relational(
                    "partner_id",
                    Many2one,
                    "res.partner",
                    "Customer",
                )),
                field("date_order", Datetime, "Order Date"),
                field("amount_untaxed", Monetary, "Untaxed Amount"),
                field("amount_total", Monetary, "Total"),
                selection(
                    "state",
                    "Status",
                    &[
                        ("draft", "Quotation"),
                        ("sent", "Quotation Sent"),
                        ("sale", "Sales Order"),
                        ("done", "Locked"),
                        ("cancel", "Cancelled"),
                    ],
                ),
                field("client_order_ref", Char, "Customer Reference"),
                field("origin", Char, "Source Document"),
                field("note", Text, "Terms and conditions"),
            ],
        ),
        Model::new(
            "res.users",
            "User",
            "name, login",
            vec![
                field("name", Char, "Name"),
                required(field("login", Char, "Login")),
                field("lang", Char, "Language"),
                field("tz", Char, "Timezone"),
                field("active", Boolean, "Active"),
            ],
        ),
    ]
}

/// Odoo's datetime form.
pub fn odoo_now() -> String {
    Utc::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A Python `repr` of a JSON value, as Odoo's messages quote values.
pub fn py_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => py_str(text),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(py_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(key, value)| format!("{}: {}", py_str(key), py_repr(value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn py_str(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Whether a stored value counts as empty (Odoo's `false`/NULL).
fn is_empty(value: &Value) -> bool {
    matches!(value, Value::Null | Value::Bool(false))
        || value.as_array().is_some_and(|items| items.is_empty())
}

/// Compares two non-empty scalar values as PostgreSQL would.
fn compare(left: &Value, right: &Value) -> Ordering {
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&b.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Value::String(a), Value::String(b)) => a.cmp(b),
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        _ => left.to_string().cmp(&right.to_string()),
    }
}

/// SQL `LIKE` matching with `%` and `_` wildcards and `\` escapes.
fn like(text: &str, pattern: &str, case_insensitive: bool) -> bool {
    let fold = |s: &str| -> Vec<char> {
        if case_insensitive {
            s.to_lowercase().chars().collect()
        } else {
            s.chars().collect()
        }
    };
    let text = fold(text);
    let pattern = fold(pattern);
    fn matches(text: &[char], pattern: &[char]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some(('%', rest)) => (0..=text.len()).any(|skip| matches(&text[skip..], rest)),
            Some(('_', rest)) => !text.is_empty() && matches(&text[1..], rest),
            Some(('\\', rest)) if !rest.is_empty() => {
                text.first() == Some(&rest[0]) && matches(&text[1..], &rest[1..])
            }
            Some((c, rest)) => text.first() == Some(c) && matches(&text[1..], rest),
        }
    }
    matches(&text, &pattern)
}

/// A comparison operator of a domain leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    In,
    NotIn,
    Like,
    NotLike,
    ILike,
    NotILike,
    EqLike,
    EqILike,
    EqOrTrue,
    ChildOf,
    ParentOf,
}

impl Operator {
    fn parse(text: &str) -> Option<Operator> {
        Some(match text.to_lowercase().as_str() {
            "=" | "==" => Operator::Eq,
            "!=" | "<>" => Operator::Ne,
            ">" => Operator::Gt,
            ">=" => Operator::Ge,
            "<" => Operator::Lt,
            "<=" => Operator::Le,
            "in" => Operator::In,
            "not in" => Operator::NotIn,
            "like" => Operator::Like,
            "not like" => Operator::NotLike,
            "ilike" => Operator::ILike,
            "not ilike" => Operator::NotILike,
            "=like" => Operator::EqLike,
            "=ilike" => Operator::EqILike,
            "=?" => Operator::EqOrTrue,
            "child_of" => Operator::ChildOf,
            "parent_of" => Operator::ParentOf,
            _ => return None,
        })
    }

    /// Whether the operator is a negation that also keeps empty values.
    fn negative(self) -> bool {
        matches!(
            self,
            Operator::Ne | Operator::NotIn | Operator::NotLike | Operator::NotILike
        )
    }

    fn positive(self) -> Operator {
        match self {
            Operator::Ne => Operator::Eq,
            Operator::NotIn => Operator::In,
            Operator::NotLike => Operator::Like,
            Operator::NotILike => Operator::ILike,
            other => other,
        }
    }
}

/// A parsed domain in tree form.
#[derive(Debug, Clone)]
enum Domain {
    True,
    False,
    And(Box<Domain>, Box<Domain>),
    Or(Box<Domain>, Box<Domain>),
    Not(Box<Domain>),
    Leaf {
        path: String,
        operator: Operator,
        value: Value,
        /// The leaf as given, for error messages.
        text: String,
    },
}

impl Domain {
    /// Whether any leaf names `field` (e.g. `active`, which turns off the
    /// default `active = True` filter).
    fn mentions(&self, field: &str) -> bool {
        match self {
            Domain::True | Domain::False => false,
            Domain::And(a, b) | Domain::Or(a, b) => a.mentions(field) || b.mentions(field),
            Domain::Not(inner) => inner.mentions(field),
            Domain::Leaf { path, .. } => path.split('.').next() == Some(field),
        }
    }
}

/// Parses a domain in Odoo's prefix notation; consecutive terms are
/// joined by an implicit `&`.
fn parse_domain(domain: &Value) -> Result<Domain, OdooError> {
    let invalid = || OdooError::value_error(format!("Invalid domain: {}", py_repr(domain)));
    let terms = match domain {
        Value::Null | Value::Bool(false) => return Ok(Domain::True),
        Value::Array(terms) => terms,
        _ => return Err(invalid()),
    };
    let mut position = 0;
    let mut parts = Vec::new();
    while position < terms.len() {
        parts.push(parse_term(terms, &mut position).ok_or_else(invalid)??);
    }
    Ok(parts
        .into_iter()
        .rev()
        .reduce(|right, left| Domain::And(Box::new(left), Box::new(right)))
        .unwrap_or(Domain::True))
}

/// One term starting at `position`; `None` when the operands run out.
fn parse_term(terms: &[Value], position: &mut usize) -> Option<Result<Domain, OdooError>> {
    let term = terms.get(*position)?;
    *position += 1;
    Some(match term {
        Value::String(op) if op == "&" || op == "|" => {
            let left = match parse_term(terms, position)? {
                Ok(domain) => domain,
                Err(error) => return Some(Err(error)),
            };
            let right = match parse_term(terms, position)? {
                Ok(domain) => domain,
                Err(error) => return Some(Err(error)),
            };
            Ok(if op == "&" {
                Domain::And(Box::new(left), Box::new(right))
            } else {
                Domain::Or(Box::new(left), Box::new(right))
            })
        }
        Value::String(op) if op == "!" => match parse_term(terms, position)? {
            Ok(inner) => Ok(Domain::Not(Box::new(inner))),
            Err(error) => Err(error),
        },
        Value::Array(leaf) => parse_leaf(leaf),
        _ => Err(OdooError::value_error(format!(
            "Invalid domain term {}",
            py_repr(term)
        ))),
    })
}

fn parse_leaf(leaf: &[Value]) -> Result<Domain, OdooError> {
    let text = format!(
        "({})",
        leaf.iter().map(py_repr).collect::<Vec<_>>().join(", ")
    );
    let invalid = || OdooError::value_error(format!("Invalid leaf {text}"));
    let [left, operator, value] = leaf else {
        return Err(invalid());
    };
    // The constant leaves (1, '=', 1) and (0, '=', 1).
    if let (Some(left), Some("="), Some(1)) = (left.as_i64(), operator.as_str(), value.as_i64()) {
        return match left {
            1 => Ok(Domain::True),
            0 => Ok(Domain::False),
            _ => Err(invalid()),
        };
    }
    let (Some(path), Some(operator)) = (left.as_str(), operator.as_str()) else {
        return Err(invalid());
    };
    let operator = Operator::parse(operator)
        .ok_or_else(|| OdooError::value_error(format!("Invalid leaf {text}: unknown operator")))?;
    if matches!(operator, Operator::In | Operator::NotIn) && !value.is_array() {
        return Err(OdooError::value_error(format!(
            "Invalid leaf {text}: the value of {} must be a list",
            py_repr(&leaf[1])
        )));
    }
    Ok(Domain::Leaf {
        path: path.to_string(),
        operator,
        value: value.clone(),
        text,
    })
}

/// A stored record: field name to stored value.
type Record = Map<String, Value>;

/// One `order` item: a field and whether it sorts descending.
type OrderItem = (String, bool);

/// Parses `write_date asc, id asc` (Odoo's `order` syntax) and checks the
/// fields.
fn parse_order(model: &Model, order: &str) -> Result<Vec<OrderItem>, OdooError> {
    let invalid = || {
        OdooError::value_error(format!(
            "Invalid \"order\" specified ({order}). A valid \"order\" specification is a \
             comma-separated list of valid field names (optionally followed by asc/desc for \
             the direction)"
        ))
    };
    let mut items = Vec::new();
    for item in order.split(',') {
        let words: Vec<&str> = item.split_whitespace().collect();
        let (name, descending) = match words.as_slice() {
            [name] => (*name, false),
            [name, direction] if direction.eq_ignore_ascii_case("asc") => (*name, false),
            [name, direction] if direction.eq_ignore_ascii_case("desc") => (*name, true),
            _ => return Err(invalid()),
        };
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(invalid());
        }
        model.field(name)?;
        items.push((name.to_string(), descending));
    }
    Ok(items)
}

/// The database: every model and the identity of the API user.
#[derive(Debug, Clone)]
pub struct Registry {
    models: BTreeMap<String, Model>,
    /// The uid writes are logged under.
    pub uid: i64,
}

/// What a record looked like before a request touched it, to undo the
/// request when it fails (Odoo rolls the transaction back).
#[derive(Default)]
struct Journal {
    /// `(model, id, record before)`; `None` for a record the request created.
    saved: Vec<(String, i64, Option<Record>)>,
    next_ids: Vec<(String, i64)>,
}

impl Registry {
    /// An empty database with the served models and the API user.
    pub fn new(uid: i64, login: &str, lang: &str, tz: &str) -> Self {
        let mut registry = Registry {
            models: schemas()
                .into_iter()
                .map(|model| (model.name.clone(), model))
                .collect(),
            uid,
        };
        let user = json!({
            "id": uid, "name": login, "login": login, "lang": lang, "tz": tz, "active": true,
        });
        registry
            .load("res.users", user.as_object().expect("object").clone())
            .expect("the API user fits res.users");
        registry
    }

    pub fn model(&self, name: &str) -> Option<&Model> {
        self.models.get(name)
    }

    /// Adds a record as `search_read` returns it (many2one as
    /// `[id, "name"]`). Fields the schema lacks are added as custom fields
    /// typed from the value (char, boolean, integer or float).
    pub fn load(&mut self, model_name: &str, record: Map<String, Value>) -> Result<i64, String> {
        let model = self
            .models
            .get_mut(model_name)
            .ok_or_else(|| format!("unknown model {model_name}"))?;
        let id = record
            .get("id")
            .and_then(Value::as_i64)
            .ok_or("no integer `id`")?;
        let mut stored = Map::new();
        for (name, value) in record {
            if !model.fields.contains_key(&name) {
                let kind = match &value {
                    Value::Bool(_) => FieldType::Boolean,
                    Value::Number(number) if number.is_i64() => FieldType::Integer,
                    Value::Number(_) => FieldType::Float,
                    Value::String(_) | Value::Null => FieldType::Char,
                    _ => {
                        return Err(format!(
                            "record {id}: field `{name}` is not in the {model_name} schema \
                             and its value is not a scalar"
                        ))
                    }
                };
                model.fields.insert(name.clone(), field(&name, kind, &name));
            }
            let kind = model.fields[&name].kind;
            let origin = model.fields[&name].origin;
            if origin == Origin::Computed {
                continue;
            }
            let value = match (kind, value) {
                (FieldType::Many2one, Value::Array(pair)) => match pair.first() {
                    Some(Value::Number(id)) => Value::Number(id.clone()),
                    _ => return Err(format!("record {id}: `{name}` is not [id, name]")),
                },
                (FieldType::Many2one, Value::Number(id)) => Value::Number(id),
                (FieldType::Many2one, empty) if is_empty(&empty) => Value::Bool(false),
                (FieldType::Many2many, Value::Array(ids))
                    if ids.iter().all(|id| id.as_i64().is_some()) =>
                {
                    Value::Array(ids)
                }
                (FieldType::Many2one | FieldType::Many2many, _) => {
                    return Err(format!("record {id}: `{name}` is not a {}", kind.name()))
                }
                (_, Value::Null) => Value::Bool(false),
                (_, value) => value,
            };
            stored.insert(name, value);
        }
        model.next_id = model.next_id.max(id + 1);
        model.records.insert(id, stored);
        Ok(id)
    }

    /// A record's stored or computed value of `field` (unrendered:
    /// many2one as an id).
    fn value(&self, model: &Model, id: i64, field: &Field) -> Value {
        let record = &model.records[&id];
        match (model.name.as_str(), field.name.as_str()) {
            (_, "id") => json!(id),
            (_, "display_name") => json!(self.display_name(model, id)),
            ("res.partner", "complete_name") => json!(self.display_name(model, id)),
            ("res.partner", "commercial_partner_id") => {
                json!(self.commercial_partner(model, id))
            }
            _ => match record.get(&field.name) {
                Some(value) => value.clone(),
                None => match field.kind {
                    FieldType::Integer => json!(0),
                    FieldType::Float | FieldType::Monetary => json!(0.0),
                    FieldType::Many2many => json!([]),
                    _ => Value::Bool(false),
                },
            },
        }
    }

    fn display_name(&self, model: &Model, id: i64) -> String {
        let Some(record) = model.records.get(&id) else {
            return String::new();
        };
        let name = |record: &Map<String, Value>| {
            record
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        match model.name.as_str() {
            // A contact of a company shows as "Company, Contact".
            "res.partner" => {
                let parent = record.get("parent_id").and_then(Value::as_i64);
                let is_company = record.get("is_company") == Some(&Value::Bool(true));
                match parent.and_then(|parent| model.records.get(&parent)) {
                    Some(_) if !is_company && !name(record).is_empty() => format!(
                        "{}, {}",
                        self.display_name(model, parent.expect("checked")),
                        name(record)
                    ),
                    _ => name(record),
                }
            }
            // Nested tags show as "Parent / Child".
            "res.partner.category" => {
                match record
                    .get("parent_id")
                    .and_then(Value::as_i64)
                    .filter(|parent| *parent != id && model.records.contains_key(parent))
                {
                    Some(parent) => {
                        format!("{} / {}", self.display_name(model, parent), name(record))
                    }
                    None => name(record),
                }
            }
            _ => name(record),
        }
    }

    /// The company a contact belongs to, or the partner itself.
    fn commercial_partner(&self, model: &Model, id: i64) -> i64 {
        let mut current = id;
        let mut visited = HashSet::new();
        while visited.insert(current) {
            let Some(record) = model.records.get(&current) else {
                break;
            };
            if record.get("is_company") == Some(&Value::Bool(true)) {
                return current;
            }
            match record.get("parent_id").and_then(Value::as_i64) {
                Some(parent) if model.records.contains_key(&parent) => current = parent,
                _ => return current,
            }
        }
        current
    }

    /// A value as `read` renders it.
    fn render(&self, model: &Model, id: i64, field: &Field, classic: bool) -> Value {
        let value = self.value(model, id, field);
        match (field.kind, value.as_i64()) {
            (FieldType::Many2one, Some(target)) if classic => {
                let comodel = &self.models[field.relation.as_deref().expect("relational")];
                json!([target, self.display_name(comodel, target)])
            }
            _ => value,
        }
    }

    fn model_or_error(&self, name: &str) -> Result<&Model, OdooError> {
        self.models.get(name).ok_or_else(|| {
            OdooError::new(
                "odoo.exceptions.UserError",
                format!("Object {name} doesn't exist"),
            )
        })
    }

    /// The ids matching `domain`, sorted by `order` (or the model's
    /// `_order`), after `offset`, at most `limit`.
    pub fn search(
        &self,
        model_name: &str,
        domain: &Value,
        offset: usize,
        limit: Option<usize>,
        order: Option<&str>,
        active_test: bool,
    ) -> Result<Vec<i64>, OdooError> {
        let model = self.model_or_error(model_name)?;
        let ids = self.matching(model, domain, active_test)?;
        let order = match order.filter(|order| !order.trim().is_empty()) {
            Some(order) => parse_order(model, order)?,
            None => parse_order(model, &model.default_order)?,
        };
        let mut keyed: Vec<(i64, Vec<Value>)> = ids
            .iter()
            .map(|id| (*id, self.sort_key(model, *id, &order)))
            .collect();
        let by_order = |a: &(i64, Vec<Value>), b: &(i64, Vec<Value>)| {
            for (index, (_, descending)) in order.iter().enumerate() {
                let ordering = null_last_compare(&a.1[index], &b.1[index]);
                let ordering = if *descending {
                    ordering.reverse()
                } else {
                    ordering
                };
                if ordering != Ordering::Equal {
                    return ordering;
                }
            }
            a.0.cmp(&b.0)
        };
        // A page needs only the first offset + limit rows in order: select
        // them in linear time, then sort just those.
        let wanted = limit.map_or(keyed.len(), |limit| offset.saturating_add(limit));
        if wanted < keyed.len() {
            keyed.select_nth_unstable_by(wanted, by_order);
            keyed.truncate(wanted);
        }
        keyed.sort_unstable_by(by_order);
        Ok(keyed.into_iter().skip(offset).map(|(id, _)| id).collect())
    }

    fn sort_key(&self, model: &Model, id: i64, order: &[OrderItem]) -> Vec<Value> {
        order
            .iter()
            .map(|(name, _)| {
                let field = &model.fields[name];
                let value = self.value(model, id, field);
                match (field.kind, value.as_i64()) {
                    // A many2one sorts by the target's name.
                    (FieldType::Many2one, Some(target)) => {
                        let comodel = &self.models[field.relation.as_deref().expect("relational")];
                        json!(self.display_name(comodel, target))
                    }
                    _ if field.kind != FieldType::Boolean && is_empty(&value) => Value::Null,
                    _ => value,
                }
            })
            .collect()
    }

    fn matching(
        &self,
        model: &Model,
        domain: &Value,
        active_test: bool,
    ) -> Result<Vec<i64>, OdooError> {
        let mut parsed = parse_domain(domain)?;
        if active_test && model.has_active() && !parsed.mentions("active") {
            parsed = Domain::And(
                Box::new(Domain::Leaf {
                    path: "active".into(),
                    operator: Operator::Eq,
                    value: Value::Bool(true),
                    text: "('active', '=', True)".into(),
                }),
                Box::new(parsed),
            );
        }
        self.check_domain(model, &parsed)?;
        let mut ids = Vec::new();
        for id in model.records.keys() {
            if self.evaluate(model, *id, &parsed)? {
                ids.push(*id);
            }
        }
        Ok(ids)
    }

    /// Checks every leaf's field path before any record is evaluated, so
    /// an empty model still reports a bad field.
    fn check_domain(&self, model: &Model, domain: &Domain) -> Result<(), OdooError> {
        match domain {
            Domain::True | Domain::False => Ok(()),
            Domain::And(a, b) | Domain::Or(a, b) => {
                self.check_domain(model, a)?;
                self.check_domain(model, b)
            }
            Domain::Not(inner) => self.check_domain(model, inner),
            Domain::Leaf { path, text, .. } => {
                let mut current = model;
                let segments: Vec<&str> = path.split('.').collect();
                for (index, segment) in segments.iter().enumerate() {
                    let field = current.fields.get(*segment).ok_or_else(|| {
                        OdooError::value_error(format!(
                            "Invalid field {}.{segment} in leaf {text}",
                            current.name
                        ))
                    })?;
                    if index + 1 < segments.len() {
                        let relation = field.relation.as_deref().ok_or_else(|| {
                            OdooError::value_error(format!(
                                "Invalid field {}.{segment} in leaf {text}: not relational",
                                current.name
                            ))
                        })?;
                        current = &self.models[relation];
                    }
                }
                Ok(())
            }
        }
    }

    fn evaluate(&self, model: &Model, id: i64, domain: &Domain) -> Result<bool, OdooError> {
        Ok(match domain {
            Domain::True => true,
            Domain::False => false,
            Domain::And(a, b) => self.evaluate(model, id, a)? && self.evaluate(model, id, b)?,
            Domain::Or(a, b) => self.evaluate(model, id, a)? || self.evaluate(model, id, b)?,
            Domain::Not(inner) => !self.evaluate(model, id, inner)?,
            Domain::Leaf {
                path,
                operator,
                value,
                text,
            } => self.evaluate_leaf(model, id, path, *operator, value, text)?,
        })
    }

    fn evaluate_leaf(
        &self,
        model: &Model,
        id: i64,
        path: &str,
        operator: Operator,
        value: &Value,
        text: &str,
    ) -> Result<bool, OdooError> {
        let (head, rest) = match path.split_once('.') {
            Some((head, rest)) => (head, Some(rest)),
            None => (path, None),
        };
        let field = &model.fields[head];
        let stored = self.value(model, id, field);
        if let Some(rest) = rest {
            // A path through a relation: the related records must match the
            // rest of the leaf.
            let comodel = &self.models[field.relation.as_deref().expect("checked")];
            let targets = related_ids(&stored);
            for target in targets {
                if comodel.records.contains_key(&target)
                    && self.evaluate_leaf(comodel, target, rest, operator, value, text)?
                {
                    return Ok(true);
                }
            }
            return Ok(false);
        }
        if operator == Operator::EqOrTrue {
            if is_empty(value) {
                return Ok(true);
            }
            return self.evaluate_leaf(model, id, path, Operator::Eq, value, text);
        }
        if matches!(operator, Operator::ChildOf | Operator::ParentOf) {
            return self.hierarchy(model, id, field, operator, value, text);
        }
        let value = normalize_operand(field, value, text)?;
        if field.kind.relational() {
            return Ok(self.relational_matches(field, &stored, operator, &value));
        }
        if operator.negative() {
            let positive = operator.positive();
            return Ok(!scalar_matches(field, &stored, positive, &value));
        }
        Ok(scalar_matches(field, &stored, operator, &value))
    }

    fn relational_matches(
        &self,
        field: &Field,
        stored: &Value,
        operator: Operator,
        value: &Value,
    ) -> bool {
        let targets = related_ids(stored);
        let positive = operator.positive();
        let matched = match value {
            // `= False`: no related record.
            empty if is_empty(empty) && !matches!(positive, Operator::In) => targets.is_empty(),
            Value::Number(_) | Value::Array(_)
                if matches!(positive, Operator::Eq | Operator::In) =>
            {
                let wanted: Vec<Value> = match value {
                    Value::Array(items) => items.clone(),
                    single => vec![single.clone()],
                };
                let wants_empty = wanted.iter().any(is_empty);
                (wants_empty && targets.is_empty())
                    || targets
                        .iter()
                        .any(|target| wanted.iter().any(|want| want.as_i64() == Some(*target)))
            }
            // Strings compare with the related records' names.
            Value::String(_) => {
                let comodel = &self.models[field.relation.as_deref().expect("relational")];
                let name_field = text_field();
                targets.iter().any(|target| {
                    scalar_matches(
                        &name_field,
                        &json!(self.display_name(comodel, *target)),
                        positive,
                        value,
                    )
                })
            }
            Value::Number(_) => targets.iter().any(|target| {
                scalar_matches(
                    &field_of(FieldType::Integer),
                    &json!(target),
                    positive,
                    value,
                )
            }),
            _ => false,
        };
        if operator.negative() {
            !matched
        } else {
            matched
        }
    }

    fn hierarchy(
        &self,
        model: &Model,
        id: i64,
        field: &Field,
        operator: Operator,
        value: &Value,
        text: &str,
    ) -> Result<bool, OdooError> {
        let roots: Vec<i64> = match value {
            Value::Array(items) => items.iter().filter_map(Value::as_i64).collect(),
            Value::Number(number) => number.as_i64().into_iter().collect(),
            _ => {
                return Err(OdooError::value_error(format!(
                    "Invalid leaf {text}: child_of and parent_of take ids"
                )))
            }
        };
        let parent_field = match model.fields.get("parent_id") {
            Some(parent) if parent.relation.as_deref() == Some(model.name.as_str()) => parent,
            _ => {
                return Err(OdooError::value_error(format!(
                    "Invalid leaf {text}: {} has no parent hierarchy",
                    model.name
                )))
            }
        };
        let ancestors = |start: i64| {
            let mut chain = vec![start];
            let mut current = start;
            let mut seen = HashSet::new();
            while seen.insert(current) {
                match model
                    .records
                    .get(&current)
                    .and_then(|record| record.get(&parent_field.name))
                    .and_then(Value::as_i64)
                {
                    Some(parent) => {
                        chain.push(parent);
                        current = parent;
                    }
                    None => break,
                }
            }
            chain
        };
        let targets = related_ids(&self.value(model, id, field));
        let targets = if field.name == "id" {
            vec![id]
        } else {
            targets
        };
        Ok(targets.iter().any(|target| match operator {
            Operator::ChildOf => ancestors(*target).iter().any(|a| roots.contains(a)),
            _ => roots.iter().any(|root| ancestors(*root).contains(target)),
        }))
    }

    /// `search_read`/`read` rows for `ids` with `fields` (all when empty).
    pub fn read(
        &self,
        model_name: &str,
        ids: &[i64],
        fields: &[String],
        classic: bool,
    ) -> Result<Vec<Value>, OdooError> {
        let model = self.model_or_error(model_name)?;
        let missing: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| !model.records.contains_key(id))
            .collect();
        if !missing.is_empty() {
            return Err(missing_error(model, &missing, self.uid));
        }
        let selected: Vec<&Field> = if fields.is_empty() {
            model.fields.values().collect()
        } else {
            let mut selected = vec![&model.fields["id"]];
            for name in fields {
                let field = model.field(name)?;
                if field.name != "id" {
                    selected.push(field);
                }
            }
            selected
        };
        Ok(ids
            .iter()
            .map(|id| {
                let row: Map<String, Value> = selected
                    .iter()
                    .map(|field| (field.name.clone(), self.render(model, *id, field, classic)))
                    .collect();
                Value::Object(row)
            })
            .collect())
    }

    /// `fields_get`: the schema as Odoo describes it.
    pub fn fields_get(
        &self,
        model_name: &str,
        only: &[String],
        attributes: &[String],
    ) -> Result<Value, OdooError> {
        let model = self.model_or_error(model_name)?;
        let mut described = Map::new();
        for field in model.fields.values() {
            if !only.is_empty() && !only.contains(&field.name) {
                continue;
            }
            let mut description = json!({
                "type": field.kind.name(),
                "string": field.string,
                "required": field.required,
                "readonly": field.origin != Origin::Stored,
                "store": field.origin != Origin::Computed,
                "searchable": true,
                "sortable": field.origin != Origin::Computed || field.name == "display_name",
                "name": field.name,
            });
            if let Some(relation) = &field.relation {
                description["relation"] = json!(relation);
            }
            if field.kind == FieldType::Selection {
                description["selection"] = json!(field.selection);
            }
            if !attributes.is_empty() {
                let kept: Map<String, Value> = description
                    .as_object()
                    .expect("object")
                    .iter()
                    .filter(|(name, _)| attributes.contains(name))
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect();
                description = Value::Object(kept);
            }
            described.insert(field.name.clone(), description);
        }
        Ok(Value::Object(described))
    }

    /// `create`: one record per values map; returns the new ids. Fails
    /// without a trace when any values are invalid.
    pub fn create(
        &mut self,
        model_name: &str,
        values: &[Map<String, Value>],
    ) -> Result<Vec<i64>, OdooError> {
        let mut journal = Journal::default();
        let created = values
            .iter()
            .map(|vals| self.create_one(model_name, vals, &mut journal))
            .collect::<Result<Vec<i64>, OdooError>>();
        if created.is_err() {
            self.roll_back(journal);
        }
        created
    }

    /// `write`: the same values on every record of `ids`; bumps
    /// `write_date` as Odoo's access log does.
    pub fn write(
        &mut self,
        model_name: &str,
        ids: &[i64],
        values: &Map<String, Value>,
    ) -> Result<(), OdooError> {
        let mut journal = Journal::default();
        let result = self.write_records(model_name, ids, values, &mut journal);
        if result.is_err() {
            self.roll_back(journal);
        }
        result
    }

    fn roll_back(&mut self, journal: Journal) {
        for (model, id, record) in journal.saved.into_iter().rev() {
            let records = &mut self.models.get_mut(&model).expect("journaled").records;
            match record {
                Some(record) => records.insert(id, record),
                None => records.remove(&id),
            };
        }
        for (model, next_id) in journal.next_ids.into_iter().rev() {
            self.models.get_mut(&model).expect("journaled").next_id = next_id;
        }
    }

    fn create_one(
        &mut self,
        model_name: &str,
        vals: &Map<String, Value>,
        journal: &mut Journal,
    ) -> Result<i64, OdooError> {
        let model = self.model_or_error(model_name)?;
        for name in vals.keys() {
            model.field(name)?;
        }
        let id = model.next_id;
        let now = odoo_now();
        let mut record = Map::new();
        for field in model.fields.values() {
            let default = match field.name.as_str() {
                "active" => Some(json!(true)),
                "create_date" | "write_date" => Some(json!(now)),
                "create_uid" | "write_uid" => Some(json!(self.uid)),
                "state" if model_name == "sale.order" => Some(json!("draft")),
                "type" if model_name == "res.partner" => Some(json!("contact")),
                "date_order" => Some(json!(now)),
                "name" if model_name == "sale.order" => Some(json!(format!("S{id:05}"))),
                _ => None,
            };
            if let Some(default) = default {
                record.insert(field.name.clone(), default);
            }
        }
        journal
            .next_ids
            .push((model_name.to_string(), model.next_id));
        journal.saved.push((model_name.to_string(), id, None));
        let model = self.models.get_mut(model_name).expect("checked");
        model.next_id += 1;
        model.records.insert(id, record);
        self.apply_values(model_name, id, vals, journal)?;
        let model = &self.models[model_name];
        for field in model.fields.values().filter(|field| field.required) {
            if is_empty(&self.value(model, id, field)) {
                return Err(not_null_error(model, field));
            }
        }
        if model_name == "res.partner" {
            let record = &model.records[&id];
            let unnamed = record.get("name").is_none_or(is_empty);
            let contact = record.get("type").and_then(Value::as_str) == Some("contact");
            if unnamed && contact {
                return Err(OdooError::validation("Contacts require a name"));
            }
        }
        Ok(id)
    }

    fn write_records(
        &mut self,
        model_name: &str,
        ids: &[i64],
        vals: &Map<String, Value>,
        journal: &mut Journal,
    ) -> Result<(), OdooError> {
        let model = self.model_or_error(model_name)?;
        for name in vals.keys() {
            model.field(name)?;
        }
        let missing: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| !model.records.contains_key(id))
            .collect();
        if !missing.is_empty() {
            return Err(missing_error(model, &missing, self.uid));
        }
        let now = odoo_now();
        for id in ids {
            self.save(model_name, *id, journal);
            self.apply_values(model_name, *id, vals, journal)?;
            let record = self
                .models
                .get_mut(model_name)
                .expect("checked")
                .records
                .get_mut(id)
                .expect("checked");
            record.insert("write_date".into(), json!(now));
            record.insert("write_uid".into(), json!(self.uid));
            let model = &self.models[model_name];
            for field in model.fields.values().filter(|field| field.required) {
                if vals.contains_key(&field.name) && is_empty(&self.value(model, *id, field)) {
                    return Err(not_null_error(model, field));
                }
            }
        }
        Ok(())
    }

    fn save(&self, model_name: &str, id: i64, journal: &mut Journal) {
        let record = self.models[model_name].records.get(&id).cloned();
        journal.saved.push((model_name.to_string(), id, record));
    }

    /// Converts and stores `vals` on one record.
    fn apply_values(
        &mut self,
        model_name: &str,
        id: i64,
        vals: &Map<String, Value>,
        journal: &mut Journal,
    ) -> Result<(), OdooError> {
        for (name, value) in vals {
            let field = self.models[model_name].fields[name].clone();
            if field.origin != Origin::Stored {
                continue;
            }
            let converted = match field.kind {
                FieldType::Many2many => {
                    let current = related_ids(&self.value(&self.models[model_name], id, &field));
                    json!(self.apply_commands(model_name, &field, current, value, journal)?)
                }
                _ => self.convert(model_name, &field, value)?,
            };
            self.models
                .get_mut(model_name)
                .expect("checked")
                .records
                .get_mut(&id)
                .expect("created or checked")
                .insert(name.clone(), converted);
        }
        Ok(())
    }

    /// A written scalar or many2one value in its stored form.
    fn convert(&self, model_name: &str, field: &Field, value: &Value) -> Result<Value, OdooError> {
        let wrong = || {
            OdooError::value_error(format!(
                "Wrong value for {model_name}.{}: {}",
                field.name,
                py_repr(value)
            ))
        };
        if field.kind != FieldType::Boolean && is_empty(value) {
            return Ok(Value::Bool(false));
        }
        Ok(match field.kind {
            FieldType::Boolean => Value::Bool(!is_empty(value) && value != &json!(0)),
            FieldType::Char | FieldType::Text => match value {
                Value::String(_) => value.clone(),
                Value::Number(number) => json!(number.to_string()),
                _ => return Err(wrong()),
            },
            FieldType::Integer => json!(value.as_f64().ok_or_else(wrong)? as i64),
            FieldType::Float | FieldType::Monetary => json!(value.as_f64().ok_or_else(wrong)?),
            FieldType::Selection => {
                let text = value.as_str().ok_or_else(wrong)?;
                if !field.selection.iter().any(|(option, _)| option == text) {
                    return Err(wrong());
                }
                value.clone()
            }
            FieldType::Datetime => {
                let text = value.as_str().ok_or_else(wrong)?;
                let parsed = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
                    .or_else(|_| {
                        NaiveDate::parse_from_str(text, "%Y-%m-%d")
                            .map(|date| date.and_hms_opt(0, 0, 0).expect("midnight"))
                    })
                    .map_err(|_| {
                        OdooError::value_error(format!(
                            "time data {} does not match format '%Y-%m-%d %H:%M:%S'",
                            py_str(text)
                        ))
                    })?;
                json!(parsed.format("%Y-%m-%d %H:%M:%S").to_string())
            }
            FieldType::Date => {
                let text = value.as_str().ok_or_else(wrong)?;
                NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
                    OdooError::value_error(format!(
                        "time data {} does not match format '%Y-%m-%d'",
                        py_str(text)
                    ))
                })?;
                value.clone()
            }
            FieldType::Many2one => {
                let target = value.as_i64().ok_or_else(wrong)?;
                let comodel = &self.models[field.relation.as_deref().expect("relational")];
                if !comodel.records.contains_key(&target) {
                    return Err(foreign_key_error(&self.models[model_name], field));
                }
                json!(target)
            }
            FieldType::Many2many => unreachable!("many2many values are commands"),
        })
    }

    /// Applies x2many commands (or a plain id list, which replaces) to the
    /// current ids.
    fn apply_commands(
        &mut self,
        model_name: &str,
        field: &Field,
        mut ids: Vec<i64>,
        value: &Value,
        journal: &mut Journal,
    ) -> Result<Vec<i64>, OdooError> {
        let comodel_name = field.relation.clone().expect("relational");
        let wrong = || {
            OdooError::value_error(format!(
                "Wrong value for {model_name}.{}: {}",
                field.name,
                py_repr(value)
            ))
        };
        let commands = value.as_array().ok_or_else(wrong)?;
        if commands.iter().all(|item| item.as_i64().is_some()) {
            let replacement = Value::Array(vec![json!(6), json!(0), value.clone()]);
            return self.apply_commands(
                model_name,
                field,
                ids,
                &Value::Array(vec![replacement]),
                journal,
            );
        }
        for command in commands {
            let parts = command.as_array().ok_or_else(wrong)?;
            let code = parts.first().and_then(Value::as_i64).ok_or_else(wrong)?;
            let target = parts.get(1).and_then(Value::as_i64);
            let exists = |registry: &Registry, target: i64| {
                registry.models[&comodel_name].records.contains_key(&target)
            };
            match code {
                // (0, 0, values): create a related record and link it.
                0 => {
                    let vals = parts.get(2).and_then(Value::as_object).ok_or_else(wrong)?;
                    let created = self.create_one(&comodel_name, vals, journal)?;
                    ids.push(created);
                }
                // (1, id, values): update a linked record.
                1 => {
                    let target = target.ok_or_else(wrong)?;
                    let vals = parts.get(2).and_then(Value::as_object).ok_or_else(wrong)?;
                    self.write_records(&comodel_name, &[target], vals, journal)?;
                }
                // (2, id): delete the related record.
                2 => {
                    let target = target.ok_or_else(wrong)?;
                    if !exists(self, target) {
                        return Err(missing_error(
                            &self.models[&comodel_name],
                            &[target],
                            self.uid,
                        ));
                    }
                    self.save(&comodel_name, target, journal);
                    self.models
                        .get_mut(&comodel_name)
                        .expect("checked")
                        .records
                        .remove(&target);
                    ids.retain(|id| *id != target);
                }
                // (3, id): unlink.
                3 => {
                    let target = target.ok_or_else(wrong)?;
                    ids.retain(|id| *id != target);
                }
                // (4, id): link (idempotent).
                4 => {
                    let target = target.ok_or_else(wrong)?;
                    if !exists(self, target) {
                        return Err(foreign_key_error(&self.models[model_name], field));
                    }
                    if !ids.contains(&target) {
                        ids.push(target);
                    }
                }
                // (5,): unlink all.
                5 => ids.clear(),
                // (6, 0, ids): replace all.
                6 => {
                    let replacement = parts.get(2).and_then(Value::as_array).ok_or_else(wrong)?;
                    let mut replaced = Vec::new();
                    for item in replacement {
                        let target = item.as_i64().ok_or_else(wrong)?;
                        if !exists(self, target) {
                            return Err(foreign_key_error(&self.models[model_name], field));
                        }
                        if !replaced.contains(&target) {
                            replaced.push(target);
                        }
                    }
                    ids = replaced;
                }
                _ => return Err(wrong()),
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// Relational values that point at no record, as `(model, id,
    /// problem)`: a loaded world must not carry them.
    pub fn dangling_references(&self) -> Vec<(String, i64, String)> {
        let mut problems = Vec::new();
        for model in self.models.values() {
            let relational_fields: Vec<&Field> = model
                .fields
                .values()
                .filter(|field| field.kind.relational() && field.origin == Origin::Stored)
                .collect();
            for (id, record) in &model.records {
                for field in &relational_fields {
                    let comodel = &self.models[field.relation.as_deref().expect("relational")];
                    let targets = record.get(&field.name).map(related_ids).unwrap_or_default();
                    for target in targets {
                        if !comodel.records.contains_key(&target) {
                            problems.push((
                                model.name.clone(),
                                *id,
                                format!(
                                    "`{}` points at {} {target}, which does not exist",
                                    field.name, comodel.name
                                ),
                            ));
                        }
                    }
                }
            }
        }
        problems
    }

    /// The many2many ids of a record (for accessors).
    pub fn related(&self, model_name: &str, id: i64, field_name: &str) -> Option<Vec<i64>> {
        let model = self.models.get(model_name)?;
        let field = model.fields.get(field_name)?;
        model
            .records
            .contains_key(&id)
            .then(|| related_ids(&self.value(model, id, field)))
    }

    /// A record as `read` renders it, all fields (for accessors).
    pub fn record(&self, model_name: &str, id: i64) -> Option<Value> {
        self.read(model_name, &[id], &[], true)
            .ok()
            .and_then(|mut rows| rows.pop())
    }
}

fn related_ids(value: &Value) -> Vec<i64> {
    match value {
        Value::Number(id) => id.as_i64().into_iter().collect(),
        Value::Array(ids) => ids.iter().filter_map(Value::as_i64).collect(),
        _ => Vec::new(),
    }
}

fn text_field() -> Field {
    field_of(FieldType::Char)
}

fn field_of(kind: FieldType) -> Field {
    field("value", kind, "value")
}

fn null_last_compare(left: &Value, right: &Value) -> Ordering {
    // PostgreSQL sorts NULL after every value in ascending order.
    match (left.is_null(), right.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => compare(left, right),
    }
}

/// Brings a leaf's operand to the stored form: dates on datetime fields
/// become midnight datetimes.
fn normalize_operand(field: &Field, value: &Value, text: &str) -> Result<Value, OdooError> {
    if field.kind != FieldType::Datetime {
        return Ok(value.clone());
    }
    let one = |item: &Value| -> Result<Value, OdooError> {
        let Some(text_value) = item.as_str() else {
            return Ok(item.clone());
        };
        NaiveDateTime::parse_from_str(text_value, "%Y-%m-%d %H:%M:%S")
            .or_else(|_| {
                NaiveDate::parse_from_str(text_value, "%Y-%m-%d")
                    .map(|date| date.and_hms_opt(0, 0, 0).expect("midnight"))
            })
            .map(|parsed| json!(parsed.format("%Y-%m-%d %H:%M:%S").to_string()))
            .map_err(|_| {
                OdooError::value_error(format!(
                    "Invalid leaf {text}: {} is not a datetime",
                    py_str(text_value)
                ))
            })
    };
    match value {
        Value::Array(items) => Ok(Value::Array(
            items.iter().map(one).collect::<Result<_, _>>()?,
        )),
        single => one(single),
    }
}

/// A positive scalar comparison; empty stored values match only `= False`
/// or an `in` list holding `False`.
fn scalar_matches(field: &Field, stored: &Value, operator: Operator, value: &Value) -> bool {
    let boolean = field.kind == FieldType::Boolean;
    let stored_empty = !boolean && is_empty(stored);
    let equal = |want: &Value| -> bool {
        if boolean {
            let truthy = |v: &Value| !is_empty(v) && v != &json!(0);
            truthy(stored) == truthy(want)
        } else if is_empty(want) {
            stored_empty
        } else {
            !stored_empty && compare(stored, want) == Ordering::Equal
        }
    };
    match operator {
        Operator::Eq => equal(value),
        Operator::In => value
            .as_array()
            .is_some_and(|items| items.iter().any(equal)),
        Operator::Gt | Operator::Ge | Operator::Lt | Operator::Le => {
            if stored_empty || is_empty(value) && !boolean {
                return false;
            }
            let ordering = compare(stored, value);
            match operator {
                Operator::Gt => ordering == Ordering::Greater,
                Operator::Ge => ordering != Ordering::Less,
                Operator::Lt => ordering == Ordering::Less,
                _ => ordering != Ordering::Greater,
            }
        }
        Operator::Like | Operator::ILike | Operator::EqLike | Operator::EqILike => {
            if stored_empty {
                return false;
            }
            let stored_text = match stored {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let pattern = match value {
                Value::String(pattern) => pattern.clone(),
                other => other.to_string(),
            };
            match operator {
                Operator::Like => like(&stored_text, &format!("%{pattern}%"), false),
                Operator::ILike => like(&stored_text, &format!("%{pattern}%"), true),
                Operator::EqLike => like(&stored_text, &pattern, false),
                _ => like(&stored_text, &pattern, true),
            }
        }
        _ => false,
    }
}

fn missing_error(model: &Model, ids: &[i64], uid: i64) -> OdooError {
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    OdooError::new(
        "odoo.exceptions.MissingError",
        format!(
            "Record does not exist or has been deleted.\n(Record: {}({},), User: {uid})",
            model.name,
            ids.join(", ")
        ),
    )
}

fn not_null_error(model: &Model, field: &Field) -> OdooError {
    OdooError::validation(format!(
        "The operation cannot be completed:\n- Create/update: a mandatory field is not set.\n\
         - Delete: another model requires the record being deleted. If possible, archive it \
         instead.\n\nModel: {} ({})\nField: {} ({})",
        model.description, model.name, field.string, field.name
    ))
}

fn foreign_key_error(model: &Model, field: &Field) -> OdooError {
    OdooError::validation(format!(
        "The operation cannot be completed: another model requires the record being deleted. \
         If possible, archive it instead.\n\nModel: {} ({}), Constraint: {}_{}_fkey",
        model.description,
        model.name,
        model.name.replace('.', "_"),
        field.name
    ))
}

#[cfg(test)]
mod tests;
