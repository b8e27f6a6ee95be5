//! Just enough GraphQL for the Shopify simulator: a parser of executable
//! documents (operations, variables, aliases, arguments with every literal
//! kind, inline fragments, named fragments; directives are parsed and
//! ignored), a check of selections against a small schema table, and a
//! projection of JSON results onto the selection set.
//!
//! It is no full engine: there is no type coercion beyond what the resolvers
//! in the simulator do. Every problem becomes a [`GraphqlError`] in the
//! shape GraphQL servers answer with, never a panic.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

/// A line and column (both from 1) in the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// One entry of a GraphQL `errors` array.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphqlError {
    pub message: String,
    pub position: Option<Position>,
    /// `extensions.code`, e.g. `undefinedField`.
    pub code: &'static str,
}

impl GraphqlError {
    pub fn new(message: impl Into<String>, position: Option<Position>, code: &'static str) -> Self {
        GraphqlError {
            message: message.into(),
            position,
            code,
        }
    }

    /// The error as an element of the response's `errors` array.
    pub fn to_json(&self) -> Value {
        let mut error = json!({"message": self.message, "extensions": {"code": self.code}});
        if let Some(position) = self.position {
            error["locations"] = json!([{"line": position.line, "column": position.column}]);
        }
        error
    }
}

/// A parsed executable document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub operations: Vec<Operation>,
    pub fragments: HashMap<String, Fragment>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    Query,
    Mutation,
    Subscription,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub kind: OperationKind,
    pub name: Option<String>,
    pub variables: Vec<VariableDefinition>,
    pub selection: Vec<Selection>,
    pub position: Position,
}

/// `$name: Type = default` of an operation.
#[derive(Debug, Clone, PartialEq)]
pub struct VariableDefinition {
    pub name: String,
    /// The type as written, e.g. `[String!]!`.
    pub type_text: String,
    pub default: Option<InputValue>,
}

impl VariableDefinition {
    fn non_null(&self) -> bool {
        self.type_text.ends_with('!')
    }
}

/// `fragment Name on Type { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fragment {
    pub type_condition: String,
    pub selection: Vec<Selection>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    Field(Field),
    InlineFragment {
        type_condition: Option<String>,
        selection: Vec<Selection>,
    },
    FragmentSpread {
        name: String,
        position: Position,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub alias: Option<String>,
    pub name: String,
    pub arguments: Vec<(String, InputValue)>,
    pub selection: Vec<Selection>,
    pub position: Position,
}

impl Field {
    /// The key of this field in the response.
    pub fn response_key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }

    pub fn argument(&self, name: &str) -> Option<&InputValue> {
        self.arguments
            .iter()
            .find(|(argument, _)| argument == name)
            .map(|(_, value)| value)
    }
}

/// An argument or default value as written.
#[derive(Debug, Clone, PartialEq)]
pub enum InputValue {
    Variable(String),
    Int(i64),
    Float(f64),
    String(String),
    Boolean(bool),
    Null,
    Enum(String),
    List(Vec<InputValue>),
    Object(Vec<(String, InputValue)>),
}

impl InputValue {
    /// The value as JSON, variables replaced by their values.
    pub fn resolve(&self, variables: &Map<String, Value>) -> Result<Value, GraphqlError> {
        Ok(match self {
            InputValue::Variable(name) => variables.get(name).cloned().ok_or_else(|| {
                GraphqlError::new(
                    format!("Variable ${name} is used but not declared"),
                    None,
                    "variableNotDefined",
                )
            })?,
            InputValue::Int(value) => json!(value),
            InputValue::Float(value) => json!(value),
            InputValue::String(value) | InputValue::Enum(value) => json!(value),
            InputValue::Boolean(value) => json!(value),
            InputValue::Null => Value::Null,
            InputValue::List(items) => Value::Array(
                items
                    .iter()
                    .map(|item| item.resolve(variables))
                    .collect::<Result<_, _>>()?,
            ),
            InputValue::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(name, value)| Ok((name.clone(), value.resolve(variables)?)))
                    .collect::<Result<_, GraphqlError>>()?,
            ),
        })
    }
}

/// Parses a GraphQL executable document.
pub fn parse(source: &str) -> Result<Document, GraphqlError> {
    let tokens = tokenize(source)?;
    Parser { tokens, at: 0 }.document()
}

impl Document {
    /// The operation to run: the one named `operation_name`, or the only one.
    pub fn operation(&self, operation_name: Option<&str>) -> Result<&Operation, GraphqlError> {
        match operation_name {
            Some(name) => self
                .operations
                .iter()
                .find(|operation| operation.name.as_deref() == Some(name))
                .ok_or_else(|| {
                    GraphqlError::new(
                        format!("No operation named \"{name}\""),
                        None,
                        "operationNotFound",
                    )
                }),
            None if self.operations.len() == 1 => Ok(&self.operations[0]),
            None => Err(GraphqlError::new(
                "An operation name is required when the document holds several operations",
                None,
                "operationNameRequired",
            )),
        }
    }
}

impl Operation {
    /// The operation's variable values: those supplied, then defaults;
    /// a non-null variable with neither is an error.
    pub fn variable_values(
        &self,
        supplied: &Map<String, Value>,
    ) -> Result<Map<String, Value>, GraphqlError> {
        let mut values = Map::new();
        for definition in &self.variables {
            let value = match supplied.get(&definition.name) {
                Some(value) => value.clone(),
                None => match &definition.default {
                    Some(default) => default.resolve(&Map::new())?,
                    None => Value::Null,
                },
            };
            if value.is_null() && definition.non_null() {
                return Err(GraphqlError::new(
                    format!(
                        "Variable ${} of type {} was provided invalid value",
                        definition.name, definition.type_text
                    ),
                    Some(self.position),
                    "INVALID_VARIABLE",
                ));
            }
            values.insert(definition.name.clone(), value);
        }
        Ok(values)
    }
}

/// What a schema field returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Scalar,
    /// An object (or a list of them) of the named type.
    Object(&'static str),
}

/// A schema as a table of (type, field, kind, accepted arguments).
/// Interfaces are types too; `implements` says which concrete type a
/// fragment on an interface may name.
pub struct Schema {
    pub fields: &'static [(
        &'static str,
        &'static str,
        FieldKind,
        &'static [&'static str],
    )],
    /// (concrete type, interface) pairs.
    pub implements: &'static [(&'static str, &'static str)],
}

impl Schema {
    fn field(&self, type_name: &str, field: &str) -> Option<(FieldKind, &'static [&'static str])> {
        self.fields
            .iter()
            .find(|(ty, name, _, _)| *ty == type_name && *name == field)
            .map(|(_, _, kind, arguments)| (*kind, *arguments))
    }

    fn has_type(&self, type_name: &str) -> bool {
        self.fields.iter().any(|(ty, ..)| *ty == type_name)
    }

    fn fits(&self, concrete: &str, condition: &str) -> bool {
        concrete == condition
            || self
                .implements
                .iter()
                .any(|(ty, interface)| *ty == concrete && *interface == condition)
    }

    /// Checks a selection on `type_name`: every field exists, takes only
    /// known arguments, and has a sub-selection exactly when it is an
    /// object. Returns the query cost: one point per object field, `root_cost`
    /// per field of a mutation root instead.
    pub fn check(
        &self,
        document: &Document,
        type_name: &str,
        selection: &[Selection],
        root_cost: u32,
    ) -> Result<u32, GraphqlError> {
        let mut cost = 0;
        for item in selection {
            match item {
                Selection::Field(field) => {
                    if field.name == "__typename" {
                        continue;
                    }
                    let (kind, arguments) =
                        self.field(type_name, &field.name).ok_or_else(|| {
                            GraphqlError::new(
                                format!(
                                    "Field '{}' doesn't exist on type '{type_name}'",
                                    field.name
                                ),
                                Some(field.position),
                                "undefinedField",
                            )
                        })?;
                    if let Some((unknown, _)) = field
                        .arguments
                        .iter()
                        .find(|(name, _)| !arguments.contains(&name.as_str()))
                    {
                        return Err(GraphqlError::new(
                            format!("Field '{}' doesn't accept argument '{unknown}'", field.name),
                            Some(field.position),
                            "argumentNotAccepted",
                        ));
                    }
                    match kind {
                        FieldKind::Scalar if !field.selection.is_empty() => {
                            return Err(GraphqlError::new(
                                format!(
                                    "Selections can't be made on scalars (field '{}')",
                                    field.name
                                ),
                                Some(field.position),
                                "selectionMismatch",
                            ))
                        }
                        FieldKind::Scalar => {}
                        FieldKind::Object(_) if field.selection.is_empty() => {
                            return Err(GraphqlError::new(
                                format!("Field must have selections (field '{}')", field.name),
                                Some(field.position),
                                "selectionMismatch",
                            ))
                        }
                        FieldKind::Object(object) => {
                            cost += root_cost.max(1)
                                + self.check(document, object, &field.selection, 0)?;
                        }
                    }
                }
                Selection::InlineFragment {
                    type_condition,
                    selection,
                } => {
                    let on = type_condition.as_deref().unwrap_or(type_name);
                    cost += self.check_fragment(document, on, selection)?;
                }
                Selection::FragmentSpread { name, position } => {
                    let fragment = document.fragments.get(name).ok_or_else(|| {
                        GraphqlError::new(
                            format!("Fragment {name} was used, but not defined"),
                            Some(*position),
                            "useAndDefineFragment",
                        )
                    })?;
                    cost += self.check_fragment(
                        document,
                        &fragment.type_condition,
                        &fragment.selection,
                    )?;
                }
            }
        }
        Ok(cost)
    }

    fn check_fragment(
        &self,
        document: &Document,
        on: &str,
        selection: &[Selection],
    ) -> Result<u32, GraphqlError> {
        if !self.has_type(on) {
            return Err(GraphqlError::new(
                format!("No such type {on}, so it can't be a fragment condition"),
                None,
                "undefinedType",
            ));
        }
        self.check(document, on, selection, 0)
    }

    /// Projects `value` (an object whose `__typename` names its concrete
    /// type, or null, or a list of such) onto `selection`.
    pub fn project(&self, document: &Document, value: &Value, selection: &[Selection]) -> Value {
        match value {
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.project(document, item, selection))
                    .collect(),
            ),
            Value::Object(object) => {
                let mut out = Map::new();
                self.project_into(document, object, selection, &mut out);
                Value::Object(out)
            }
            other => other.clone(),
        }
    }

    fn project_into(
        &self,
        document: &Document,
        object: &Map<String, Value>,
        selection: &[Selection],
        out: &mut Map<String, Value>,
    ) {
        let concrete = object
            .get("__typename")
            .and_then(Value::as_str)
            .unwrap_or_default();
        for item in selection {
            match item {
                Selection::Field(field) => {
                    let value = object.get(&field.name).cloned().unwrap_or(Value::Null);
                    let projected = if field.selection.is_empty() {
                        value
                    } else {
                        self.project(document, &value, &field.selection)
                    };
                    out.insert(field.response_key().to_string(), projected);
                }
                Selection::InlineFragment {
                    type_condition,
                    selection,
                } => {
                    if type_condition
                        .as_deref()
                        .is_none_or(|condition| self.fits(concrete, condition))
                    {
                        self.project_into(document, object, selection, out);
                    }
                }
                Selection::FragmentSpread { name, .. } => {
                    if let Some(fragment) = document.fragments.get(name) {
                        if self.fits(concrete, &fragment.type_condition) {
                            self.project_into(document, object, &fragment.selection, out);
                        }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Punctuator(char),
    Spread,
    Name(String),
    Int(i64),
    Float(f64),
    String(String),
}

fn tokenize(source: &str) -> Result<Vec<(Token, Position)>, GraphqlError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let (mut at, mut line, mut line_start) = (0, 1, 0);
    while at < chars.len() {
        let position = Position {
            line,
            column: at - line_start + 1,
        };
        let c = chars[at];
        match c {
            '\n' => {
                at += 1;
                line += 1;
                line_start = at;
            }
            ' ' | '\t' | '\r' | ',' | '\u{feff}' => at += 1,
            '#' => {
                while at < chars.len() && chars[at] != '\n' {
                    at += 1;
                }
            }
            '!' | '$' | '&' | '(' | ')' | ':' | '=' | '@' | '[' | ']' | '{' | '|' | '}' => {
                tokens.push((Token::Punctuator(c), position));
                at += 1;
            }
            '.' => {
                if chars.get(at + 1) == Some(&'.') && chars.get(at + 2) == Some(&'.') {
                    tokens.push((Token::Spread, position));
                    at += 3;
                } else {
                    return Err(syntax_error("unexpected '.'", position));
                }
            }
            '"' => {
                if chars.get(at + 1) == Some(&'"') && chars.get(at + 2) == Some(&'"') {
                    let start = at + 3;
                    let mut end = start;
                    while end + 2 < chars.len()
                        && !(chars[end] == '"' && chars[end + 1] == '"' && chars[end + 2] == '"')
                    {
                        if chars[end] == '\n' {
                            line += 1;
                            line_start = end + 1;
                        }
                        end += 1;
                    }
                    if end + 2 >= chars.len() {
                        return Err(syntax_error("unterminated block string", position));
                    }
                    let text: String = chars[start..end].iter().collect();
                    tokens.push((Token::String(text.trim().to_string()), position));
                    at = end + 3;
                } else {
                    let (text, next) = string_literal(&chars, at + 1, position)?;
                    tokens.push((Token::String(text), position));
                    at = next;
                }
            }
            c if c == '-' || c.is_ascii_digit() => {
                let start = at;
                at += 1;
                let mut float = false;
                while at < chars.len()
                    && (chars[at].is_ascii_digit()
                        || matches!(chars[at], '.' | 'e' | 'E')
                        || (matches!(chars[at], '+' | '-') && matches!(chars[at - 1], 'e' | 'E')))
                {
                    float |= matches!(chars[at], '.' | 'e' | 'E');
                    at += 1;
                }
                let text: String = chars[start..at].iter().collect();
                let token = if float {
                    text.parse().ok().map(Token::Float)
                } else {
                    text.parse().ok().map(Token::Int)
                };
                tokens.push((
                    token
                        .ok_or_else(|| syntax_error(&format!("invalid number {text}"), position))?,
                    position,
                ));
            }
            c if c == '_' || c.is_ascii_alphabetic() => {
                let start = at;
                while at < chars.len() && (chars[at] == '_' || chars[at].is_ascii_alphanumeric()) {
                    at += 1;
                }
                tokens.push((Token::Name(chars[start..at].iter().collect()), position));
            }
            other => {
                return Err(syntax_error(
                    &format!("unexpected character '{other}'"),
                    position,
                ))
            }
        }
    }
    Ok(tokens)
}

/// A quoted string from just after its opening quote; returns the text and
/// the index after the closing quote.
fn string_literal(
    chars: &[char],
    mut at: usize,
    position: Position,
) -> Result<(String, usize), GraphqlError> {
    let mut text = String::new();
    loop {
        match chars.get(at) {
            None | Some('\n') => return Err(syntax_error("unterminated string", position)),
            Some('"') => return Ok((text, at + 1)),
            Some('\\') => {
                let escaped = chars
                    .get(at + 1)
                    .ok_or_else(|| syntax_error("unterminated string", position))?;
                at += 2;
                match escaped {
                    '"' => text.push('"'),
                    '\\' => text.push('\\'),
                    '/' => text.push('/'),
                    'b' => text.push('\u{8}'),
                    'f' => text.push('\u{c}'),
                    'n' => text.push('\n'),
                    'r' => text.push('\r'),
                    't' => text.push('\t'),
                    'u' => {
                        let hex: String =
                            chars.get(at..at + 4).unwrap_or_default().iter().collect();
                        let decoded = u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| syntax_error("invalid unicode escape", position))?;
                        text.push(decoded);
                        at += 4;
                    }
                    other => {
                        return Err(syntax_error(&format!("invalid escape \\{other}"), position))
                    }
                }
            }
            Some(c) => {
                text.push(*c);
                at += 1;
            }
        }
    }
}

fn syntax_error(detail: &str, position: Position) -> GraphqlError {
    GraphqlError::new(
        format!(
            "syntax error, {detail} at [{}, {}]",
            position.line, position.column
        ),
        Some(position),
        "syntaxError",
    )
}

struct Parser {
    tokens: Vec<(Token, Position)>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(token, _)| token)
    }

    fn position(&self) -> Position {
        self.tokens
            .get(self.at)
            .or(self.tokens.last())
            .map(|(_, position)| *position)
            .unwrap_or(Position { line: 1, column: 1 })
    }

    fn unexpected(&self) -> GraphqlError {
        let found = match self.peek() {
            None => "end of file".to_string(),
            Some(Token::Punctuator(c)) => format!("'{c}'"),
            Some(Token::Spread) => "'...'".to_string(),
            Some(Token::Name(name)) => format!("'{name}'"),
            Some(Token::Int(value)) => value.to_string(),
            Some(Token::Float(value)) => value.to_string(),
            Some(Token::String(value)) => format!("\"{value}\""),
        };
        syntax_error(&format!("unexpected {found}"), self.position())
    }

    fn eat(&mut self, punctuator: char) -> bool {
        if self.peek() == Some(&Token::Punctuator(punctuator)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, punctuator: char) -> Result<(), GraphqlError> {
        if self.eat(punctuator) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn name(&mut self) -> Result<String, GraphqlError> {
        match self.peek() {
            Some(Token::Name(name)) => {
                let name = name.clone();
                self.at += 1;
                Ok(name)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn document(mut self) -> Result<Document, GraphqlError> {
        let mut operations = Vec::new();
        let mut fragments = HashMap::new();
        if self.peek().is_none() {
            return Err(self.unexpected());
        }
        while self.peek().is_some() {
            let position = self.position();
            match self.peek() {
                Some(Token::Punctuator('{')) => operations.push(Operation {
                    kind: OperationKind::Query,
                    name: None,
                    variables: Vec::new(),
                    selection: self.selection_set()?,
                    position,
                }),
                Some(Token::Name(keyword)) if keyword == "fragment" => {
                    self.at += 1;
                    let name = self.name()?;
                    if self.name()? != "on" {
                        return Err(syntax_error("expected 'on'", self.position()));
                    }
                    let type_condition = self.name()?;
                    self.directives()?;
                    let selection = self.selection_set()?;
                    fragments.insert(
                        name,
                        Fragment {
                            type_condition,
                            selection,
                        },
                    );
                }
                Some(Token::Name(keyword)) => {
                    let kind = match keyword.as_str() {
                        "query" => OperationKind::Query,
                        "mutation" => OperationKind::Mutation,
                        "subscription" => OperationKind::Subscription,
                        _ => return Err(self.unexpected()),
                    };
                    self.at += 1;
                    let name = match self.peek() {
                        Some(Token::Name(_)) => Some(self.name()?),
                        _ => None,
                    };
                    let variables = self.variable_definitions()?;
                    self.directives()?;
                    operations.push(Operation {
                        kind,
                        name,
                        variables,
                        selection: self.selection_set()?,
                        position,
                    });
                }
                _ => return Err(self.unexpected()),
            }
        }
        Ok(Document {
            operations,
            fragments,
        })
    }

    fn variable_definitions(&mut self) -> Result<Vec<VariableDefinition>, GraphqlError> {
        let mut definitions = Vec::new();
        if !self.eat('(') {
            return Ok(definitions);
        }
        while !self.eat(')') {
            self.expect('$')?;
            let name = self.name()?;
            self.expect(':')?;
            let type_text = self.type_reference()?;
            let default = if self.eat('=') {
                Some(self.value(true)?)
            } else {
                None
            };
            self.directives()?;
            definitions.push(VariableDefinition {
                name,
                type_text,
                default,
            });
        }
        Ok(definitions)
    }

    fn type_reference(&mut self) -> Result<String, GraphqlError> {
        let mut text = if self.eat('[') {
            let inner = self.type_reference()?;
            self.expect(']')?;
            format!("[{inner}]")
        } else {
            self.name()?
        };
        if self.eat('!') {
            text.push('!');
        }
        Ok(text)
    }

    fn directives(&mut self) -> Result<(), GraphqlError> {
        while self.eat('@') {
            self.name()?;
            self.arguments()?;
        }
        Ok(())
    }

    fn selection_set(&mut self) -> Result<Vec<Selection>, GraphqlError> {
        self.expect('{')?;
        let mut selection = Vec::new();
        while !self.eat('}') {
            if self.peek() == Some(&Token::Spread) {
                let position = self.position();
                self.at += 1;
                match self.peek() {
                    Some(Token::Name(name)) if name != "on" => {
                        let name = self.name()?;
                        self.directives()?;
                        selection.push(Selection::FragmentSpread { name, position });
                    }
                    _ => {
                        let type_condition = match self.peek() {
                            Some(Token::Name(_)) => {
                                self.name()?;
                                Some(self.name()?)
                            }
                            _ => None,
                        };
                        self.directives()?;
                        selection.push(Selection::InlineFragment {
                            type_condition,
                            selection: self.selection_set()?,
                        });
                    }
                }
                continue;
            }
            let position = self.position();
            let first = self.name()?;
            let (alias, name) = if self.eat(':') {
                (Some(first), self.name()?)
            } else {
                (None, first)
            };
            let arguments = self.arguments()?;
            self.directives()?;
            let nested = if self.peek() == Some(&Token::Punctuator('{')) {
                self.selection_set()?
            } else {
                Vec::new()
            };
            selection.push(Selection::Field(Field {
                alias,
                name,
                arguments,
                selection: nested,
                position,
            }));
        }
        Ok(selection)
    }

    fn arguments(&mut self) -> Result<Vec<(String, InputValue)>, GraphqlError> {
        let mut arguments = Vec::new();
        if !self.eat('(') {
            return Ok(arguments);
        }
        while !self.eat(')') {
            let name = self.name()?;
            self.expect(':')?;
            arguments.push((name, self.value(false)?));
        }
        Ok(arguments)
    }

    fn value(&mut self, constant: bool) -> Result<InputValue, GraphqlError> {
        let token = self.peek().cloned().ok_or_else(|| self.unexpected())?;
        let value = match token {
            Token::Punctuator('$') if !constant => {
                self.at += 1;
                return Ok(InputValue::Variable(self.name()?));
            }
            Token::Punctuator('[') => {
                self.at += 1;
                let mut items = Vec::new();
                while !self.eat(']') {
                    items.push(self.value(constant)?);
                }
                return Ok(InputValue::List(items));
            }
            Token::Punctuator('{') => {
                self.at += 1;
                let mut fields = Vec::new();
                while !self.eat('}') {
                    let name = self.name()?;
                    self.expect(':')?;
                    fields.push((name, self.value(constant)?));
                }
                return Ok(InputValue::Object(fields));
            }
            Token::Int(value) => InputValue::Int(value),
            Token::Float(value) => InputValue::Float(value),
            Token::String(value) => InputValue::String(value),
            Token::Name(name) => match name.as_str() {
                "true" => InputValue::Boolean(true),
                "false" => InputValue::Boolean(false),
                "null" => InputValue::Null,
                _ => InputValue::Enum(name),
            },
            _ => return Err(self.unexpected()),
        };
        self.at += 1;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_operations_variables_aliases_literals_and_fragments() {
        let document = parse(
            r#"
            # tier push
            mutation Push($id: ID!, $tags: [String!]! = ["a"]) @live {
              first: tagsAdd(id: $id, tags: $tags) { node { id ... on Customer { tags } } ...Errors }
              tagsRemove(id: "gid://shopify/Customer/1", tags: ["x\"y", "\u00e9"], n: -1.5e2, o: {k: [true, null, RED]}) { userErrors { field } }
            }
            fragment Errors on TagsAddPayload { userErrors { message } }
            "#,
        )
        .unwrap();
        let operation = document.operation(None).unwrap();
        assert_eq!(operation.kind, OperationKind::Mutation);
        assert_eq!(operation.name.as_deref(), Some("Push"));
        assert_eq!(operation.variables[1].type_text, "[String!]!");
        let Selection::Field(first) = &operation.selection[0] else {
            panic!("field expected")
        };
        assert_eq!(first.response_key(), "first");
        assert_eq!(
            first.argument("id"),
            Some(&InputValue::Variable("id".into()))
        );
        let Selection::Field(second) = &operation.selection[1] else {
            panic!("field expected")
        };
        assert_eq!(
            second
                .argument("tags")
                .unwrap()
                .resolve(&Map::new())
                .unwrap(),
            json!(["x\"y", "é"])
        );
        assert_eq!(second.argument("n"), Some(&InputValue::Float(-150.0)));
        assert_eq!(
            second.argument("o").unwrap().resolve(&Map::new()).unwrap(),
            json!({"k": [true, null, "RED"]})
        );
        assert!(document.fragments.contains_key("Errors"));
        let values = operation.variable_values(&Map::new());
        assert_eq!(values.unwrap_err().code, "INVALID_VARIABLE");
    }

    #[test]
    fn syntax_errors_name_the_position_instead_of_panicking() {
        for broken in [
            "",
            "{",
            "mutation { tagsAdd(id: ) { node { id } } }",
            "{ a(b: \"open) }",
            "{ a . b }",
            "query { a(b: 1e) }",
        ] {
            let error = parse(broken).unwrap_err();
            assert_eq!(error.code, "syntaxError", "{broken}: {error:?}");
        }
        let error = parse("{\n  shop {\n    name\n  ").unwrap_err();
        assert!(error.message.contains("end of file"), "{}", error.message);
    }
}
