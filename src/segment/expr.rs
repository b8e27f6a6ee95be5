//! Condition expressions for customer-tier rules.
//!
//! Business users write conditions such as
//! `rfm.r >= 4 and spend_365d >= 10_000 and csat_good >= 0.8` in TOML; this
//! module parses them once ([`parse`]) and evaluates them per customer
//! ([`Expr::matches`]) against a feature lookup.
//!
//! # Grammar
//!
//! ```text
//! expr       := or
//! or         := and ( ("or" | "||") and )*
//! and        := not ( ("and" | "&&") not )*
//! not        := ("not" | "!") not | comparison
//! comparison := additive [ ("==" | "!=" | "<" | "<=" | ">" | ">=") additive
//!                        | ["not"] "in" list ]        -- never chained
//! additive   := term ( ("+" | "-") term )*
//! term       := unary ( ("*" | "/" | "%") unary )*
//! unary      := "-" unary | primary
//! primary    := number | string | "true" | "false" | "null"
//!             | name "(" [ expr ("," expr)* [","] ] ")" | name | "(" expr ")"
//! list       := "[" [ expr ("," expr)* [","] ] "]"
//! name       := [A-Za-z_][A-Za-z0-9_]* ( "." [A-Za-z_][A-Za-z0-9_]* )*
//! number     := digits [ "." digits ] [ ("e" | "E") ["+" | "-"] digits ]
//!               where digits may contain "_" between two digits (10_000)
//! string     := '...' | "..." with escapes \\ \' \" \n \t
//! ```
//!
//! Keywords and function names are case-insensitive; feature names are not.
//! Functions: `coalesce(a, b, ...)`, `is_null(x)`, `min(a, b, ...)`,
//! `max(a, b, ...)`, `abs(x)`, `days(n)`.
//!
//! # Semantics
//!
//! Evaluation is SQL-like and never panics. A missing feature is `null`;
//! arithmetic with `null`, division by zero and results too large for `f64`
//! give `null`; every comparison involving `null` is false (`!=` included);
//! values of different types are never equal; ordering a number against text
//! is a type error. In boolean context `null` counts as false (so `not null`
//! is true) and any other non-boolean is a type error. `min`/`max` skip
//! `null` arguments like PostgreSQL's `LEAST`/`GREATEST`. Every operand is
//! evaluated (no short-circuit), so a rule's type errors do not hide behind
//! the data of the customer at hand. Type errors point at the operator, or
//! at the argument of a function.
//!
//! To stay panic-free on hostile input, nesting deeper than 64 levels
//! (parentheses, `not`, `-`) and syntax trees taller than 256 nodes (for
//! example 300 terms joined by `and`) are parse errors.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Deepest nesting of parentheses, `not` and `-` the parser accepts, so that
/// hostile input such as ten thousand `(` is an error, not a stack overflow.
const MAX_NESTING: usize = 64;
/// Tallest syntax tree accepted; long operator chains are parsed in a loop
/// but build tall trees, which evaluation walks recursively.
const MAX_HEIGHT: usize = 256;

/// A value produced by a feature lookup or by evaluating an expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// Missing or unknown.
    Null,
    /// A truth value.
    Bool(bool),
    /// Any number; integers are stored as `f64` too (exact up to 2^53).
    Number(f64),
    /// Text, compared case-sensitively.
    Text(String),
}

impl From<f64> for Value {
    fn from(number: f64) -> Self {
        Value::Number(number)
    }
}

impl From<i64> for Value {
    fn from(number: i64) -> Self {
        Value::Number(number as f64)
    }
}

impl From<bool> for Value {
    fn from(flag: bool) -> Self {
        Value::Bool(flag)
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::Text(text.to_string())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::Text(text)
    }
}

/// Renders the value as an expression literal, so text is quoted and `null`
/// cannot be confused with the text `"null"` when explaining a decision.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(flag) => write!(f, "{flag}"),
            Value::Number(number) => write!(f, "{number}"),
            Value::Text(text) => {
                f.write_str("\"")?;
                for c in text.chars() {
                    match c {
                        '\\' => f.write_str("\\\\")?,
                        '"' => f.write_str("\\\"")?,
                        '\n' => f.write_str("\\n")?,
                        '\t' => f.write_str("\\t")?,
                        other => write!(f, "{other}")?,
                    }
                }
                f.write_str("\"")
            }
        }
    }
}

/// Names the type as well as the value, for type-error messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(flag) => format!("boolean {flag}"),
        Value::Number(number) => format!("number {number}"),
        Value::Text(_) => format!("text {value}"),
    }
}

/// A parse or evaluation error at a 1-based line and column, counted in
/// characters (not bytes) of the expression text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ExprError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What went wrong.
    pub message: String,
}

impl ExprError {
    /// Translates the position into coordinates of a larger file in which the
    /// expression text begins at `line`, `column` (both 1-based). Only the
    /// expression's first line is shifted right; its later lines start at the
    /// file's column 1 just as they do in the expression.
    pub fn offset(self, line: usize, column: usize) -> ExprError {
        let column = if self.line == 1 {
            column.saturating_add(self.column).saturating_sub(1)
        } else {
            self.column
        };
        ExprError {
            line: line.saturating_add(self.line).saturating_sub(1),
            column,
            message: self.message,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    line: usize,
    column: usize,
}

fn error_at(pos: Pos, message: impl Into<String>) -> ExprError {
    ExprError {
        line: pos.line,
        column: pos.column,
        message: message.into(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Number(f64),
    Text(String),
    Name(String),
    /// A keyword or punctuation in canonical spelling: `&&` becomes `and`.
    Sym(&'static str),
    Eof,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Number(number) => format!("number {number}"),
            Tok::Text(text) => format!("string {}", Value::Text(text.clone())),
            Tok::Name(name) => format!("name '{name}'"),
            Tok::Sym(symbol) => format!("'{symbol}'"),
            Tok::Eof => "end of input".to_string(),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Tok,
    pos: Pos,
}

const KEYWORDS: [&str; 7] = ["and", "or", "not", "in", "true", "false", "null"];

/// Two-character symbols come first so that `<=` is not read as `<`, `=`.
const SYMBOLS: [&str; 19] = [
    "==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "(", ")", "[", "]", ",", "+", "-", "*", "/",
    "%",
];

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits the source into tokens, tracking positions in characters.
struct Lexer {
    chars: Vec<char>,
    index: usize,
    pos: Pos,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.index + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.index += 1;
        if c == '\n' {
            self.pos.line += 1;
            self.pos.column = 1;
        } else {
            self.pos.column += 1;
        }
        Some(c)
    }

    /// Returns the tokens and the position just past the last character.
    fn tokenize(mut self) -> Result<(Vec<Token>, Pos), ExprError> {
        let mut tokens = Vec::new();
        loop {
            while self.peek(0).is_some_and(char::is_whitespace) {
                self.bump();
            }
            let pos = self.pos;
            let Some(c) = self.peek(0) else {
                return Ok((tokens, pos));
            };
            let kind = if c.is_ascii_digit() {
                self.number()?
            } else if c == '"' || c == '\'' {
                self.string()?
            } else if is_name_start(c) {
                self.name()?
            } else {
                self.symbol(c)?
            };
            tokens.push(Token { kind, pos });
        }
    }

    fn symbol(&mut self, c: char) -> Result<Tok, ExprError> {
        let pos = self.pos;
        let found = SYMBOLS.into_iter().find(|symbol| {
            (symbol.chars().enumerate()).all(|(i, expected)| self.peek(i) == Some(expected))
        });
        let Some(symbol) = found else {
            // Single `=`, `&` and `|` are habits from SQL and shells.
            let message = match c {
                '=' => "unexpected '='; use '==' to compare".to_string(),
                '&' => "unexpected '&'; use 'and' or '&&'".to_string(),
                '|' => "unexpected '|'; use 'or' or '||'".to_string(),
                other => format!("unexpected character '{other}'"),
            };
            return Err(error_at(pos, message));
        };
        for _ in symbol.chars() {
            self.bump();
        }
        Ok(Tok::Sym(match symbol {
            "&&" => "and",
            "||" => "or",
            "!" => "not",
            other => other,
        }))
    }

    fn number(&mut self) -> Result<Tok, ExprError> {
        let start = self.pos;
        let mut text = String::new();
        self.digits(&mut text)?;
        if self.peek(0) == Some('.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            text.extend(self.bump());
            self.digits(&mut text)?;
        }
        if matches!(self.peek(0), Some('e' | 'E')) {
            let signed = matches!(self.peek(1), Some('+' | '-'));
            if !self
                .peek(1 + usize::from(signed))
                .is_some_and(|c| c.is_ascii_digit())
            {
                return Err(error_at(self.pos, "exponent needs digits, as in 1e6"));
            }
            text.extend(self.bump());
            if signed {
                text.extend(self.bump());
            }
            self.digits(&mut text)?;
        }
        if let Some(c) = self.peek(0).filter(|&c| is_name_char(c)) {
            let message = format!("unexpected character '{c}' after number");
            return Err(error_at(self.pos, message));
        }
        // The text is well formed by construction; only overflow can fail.
        match text.parse::<f64>() {
            Ok(number) if number.is_finite() => Ok(Tok::Number(number)),
            _ => Err(error_at(start, "number is too large")),
        }
    }

    /// Reads a run of digits; callers have checked that the first is a digit.
    fn digits(&mut self, text: &mut String) -> Result<(), ExprError> {
        while let Some(c) = self.peek(0) {
            if c == '_' && !self.peek(1).is_some_and(|d| d.is_ascii_digit()) {
                // `1__0` and `10_` are typos, not numbers.
                return Err(error_at(
                    self.pos,
                    "digit separator '_' must sit between digits",
                ));
            } else if c.is_ascii_digit() {
                text.push(c);
            } else if c != '_' {
                return Ok(());
            }
            self.bump();
        }
        Ok(())
    }

    fn string(&mut self) -> Result<Tok, ExprError> {
        let start = self.pos;
        let unterminated = || error_at(start, "unterminated string");
        let quote = self.bump().ok_or_else(unterminated)?;
        let mut text = String::new();
        loop {
            let escape_pos = self.pos;
            match self.bump().ok_or_else(unterminated)? {
                '\\' => text.push(match self.bump().ok_or_else(unterminated)? {
                    'n' => '\n',
                    't' => '\t',
                    c @ ('\\' | '\'' | '"') => c,
                    other => {
                        let message =
                            format!("unknown escape '\\{other}'; write '\\\\' for a backslash");
                        return Err(error_at(escape_pos, message));
                    }
                }),
                c if c == quote => return Ok(Tok::Text(text)),
                c => text.push(c),
            }
        }
    }

    fn name(&mut self) -> Result<Tok, ExprError> {
        let mut name = String::new();
        loop {
            while let Some(c) = self.peek(0).filter(|&c| is_name_char(c)) {
                name.push(c);
                self.bump();
            }
            if self.peek(0) != Some('.') {
                break;
            }
            name.extend(self.bump());
            if !self.peek(0).is_some_and(is_name_start) {
                return Err(error_at(self.pos, "expected a name after '.'"));
            }
        }
        // Dotted names are always features, so `custom.in` stays usable.
        let keyword = KEYWORDS.into_iter().find(|k| k.eq_ignore_ascii_case(&name));
        Ok(match keyword {
            Some(keyword) => Tok::Sym(keyword),
            None => Tok::Name(name),
        })
    }
}

/// Binding strength of the prefix `not`: looser than comparisons, tighter
/// than `and`.
const NOT_LEVEL: u8 = 3;
const COMPARISON_LEVEL: u8 = 4;
/// Binding strength of the prefix `-`: tighter than any binary operator.
const NEGATE_LEVEL: u8 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinOp {
    const ALL: [BinOp; 13] = [
        BinOp::Or,
        BinOp::And,
        BinOp::Eq,
        BinOp::Ne,
        BinOp::Lt,
        BinOp::Le,
        BinOp::Gt,
        BinOp::Ge,
        BinOp::Add,
        BinOp::Sub,
        BinOp::Mul,
        BinOp::Div,
        BinOp::Rem,
    ];

    fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }

    /// Higher binds tighter; see also `NOT_LEVEL` and `NEGATE_LEVEL`.
    fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                COMPARISON_LEVEL
            }
            BinOp::Add | BinOp::Sub => 5,
            BinOp::Mul | BinOp::Div | BinOp::Rem => 6,
        }
    }
}

/// Functions of exactly one argument.
#[derive(Debug, Clone, Copy)]
enum Func1 {
    IsNull,
    Abs,
    Days,
}

/// Functions of two or more arguments.
#[derive(Debug, Clone, Copy)]
enum FuncN {
    Coalesce,
    Min,
    Max,
}

/// Splitting functions by arity lets the tree hold exactly one argument for
/// `abs` and friends, so evaluation never indexes into an argument list.
#[derive(Debug, Clone, Copy)]
enum Callee {
    One(Func1),
    Many(FuncN),
}

const FUNCTIONS: [(&str, Callee); 6] = [
    ("coalesce", Callee::Many(FuncN::Coalesce)),
    ("is_null", Callee::One(Func1::IsNull)),
    ("min", Callee::Many(FuncN::Min)),
    ("max", Callee::Many(FuncN::Max)),
    ("abs", Callee::One(Func1::Abs)),
    ("days", Callee::One(Func1::Days)),
];

#[derive(Debug, Clone)]
struct Node {
    kind: NodeKind,
    /// The operator, function name or literal that errors about the node
    /// point at.
    pos: Pos,
    height: usize,
}

#[derive(Debug, Clone)]
enum NodeKind {
    Literal(Value),
    Feature(String),
    Not(Box<Node>),
    Negate(Box<Node>),
    Binary {
        op: BinOp,
        lhs: Box<Node>,
        rhs: Box<Node>,
    },
    In {
        needle: Box<Node>,
        list: Vec<Node>,
        negated: bool,
    },
    Call1 {
        name: &'static str,
        func: Func1,
        arg: Box<Node>,
    },
    CallN {
        name: &'static str,
        func: FuncN,
        args: Vec<Node>,
    },
}

impl NodeKind {
    fn children(&self) -> Vec<&Node> {
        match self {
            NodeKind::Literal(_) | NodeKind::Feature(_) => Vec::new(),
            NodeKind::Not(operand) | NodeKind::Negate(operand) => vec![operand],
            NodeKind::Call1 { arg, .. } => vec![arg],
            NodeKind::Binary { lhs, rhs, .. } => vec![lhs, rhs],
            NodeKind::In { needle, list, .. } => std::iter::once(&**needle).chain(list).collect(),
            NodeKind::CallN { args, .. } => args.iter().collect(),
        }
    }
}

/// Precedence-climbing parser over the token list.
struct Parser {
    tokens: Vec<Token>,
    /// Returned once the tokens run out, so lookahead never fails.
    end: Token,
    index: usize,
    depth: usize,
}

impl Parser {
    fn peek_at(&self, ahead: usize) -> &Token {
        self.tokens.get(self.index + ahead).unwrap_or(&self.end)
    }

    fn peek(&self) -> &Token {
        self.peek_at(0)
    }

    fn at(&self, ahead: usize, symbol: &str) -> bool {
        matches!(&self.peek_at(ahead).kind, Tok::Sym(found) if *found == symbol)
    }

    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        self.index += 1;
        token
    }

    fn eat(&mut self, symbol: &str) -> bool {
        let found = self.at(0, symbol);
        if found {
            self.index += 1;
        }
        found
    }

    fn node(&self, kind: NodeKind, pos: Pos) -> Result<Node, ExprError> {
        let height = 1 + kind.children().iter().map(|c| c.height).max().unwrap_or(0);
        if height > MAX_HEIGHT {
            return Err(error_at(pos, "expression is too long or too deeply nested"));
        }
        Ok(Node { kind, pos, height })
    }

    /// Runs `parse` one nesting level deeper, refusing to pass the limit.
    fn nested(
        &mut self,
        parse: impl FnOnce(&mut Self) -> Result<Node, ExprError>,
    ) -> Result<Node, ExprError> {
        if self.depth >= MAX_NESTING {
            return Err(error_at(self.peek().pos, "expression is nested too deeply"));
        }
        self.depth += 1;
        let result = parse(self);
        self.depth -= 1;
        result
    }

    fn expr(&mut self) -> Result<Node, ExprError> {
        self.nested(|parser| parser.binary(1))
    }

    /// Parses operators binding at least as tightly as `min_level`.
    fn binary(&mut self, min_level: u8) -> Result<Node, ExprError> {
        let mut lhs = self.unary(min_level)?;
        // Comparisons do not associate: `a < b < c` is almost always a typo.
        let mut compared = false;
        loop {
            let token = self.peek().clone();
            let op = BinOp::ALL
                .into_iter()
                .find(|op| token.kind == Tok::Sym(op.symbol()));
            let negated = self.at(0, "not") && self.at(1, "in");
            let level = match op {
                Some(op) => op.precedence(),
                None if negated || self.at(0, "in") => COMPARISON_LEVEL,
                None => return Ok(lhs),
            };
            if level < min_level {
                return Ok(lhs);
            }
            if compared && level == COMPARISON_LEVEL {
                let message = "comparisons cannot be chained; combine them with 'and'";
                return Err(error_at(token.pos, message));
            }
            compared = level == COMPARISON_LEVEL;
            self.advance();
            let kind = match op {
                Some(op) => NodeKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(self.binary(level + 1)?),
                },
                None => {
                    if negated {
                        self.advance(); // the `in` after `not`
                    }
                    if !self.eat("[") {
                        let found = self.peek();
                        let message =
                            format!("expected '[' after 'in', found {}", found.kind.describe());
                        return Err(error_at(found.pos, message));
                    }
                    let list = self.items("]", "list")?;
                    NodeKind::In {
                        needle: Box::new(lhs),
                        list,
                        negated,
                    }
                }
            };
            lhs = self.node(kind, token.pos)?;
        }
    }

    fn unary(&mut self, min_level: u8) -> Result<Node, ExprError> {
        let pos = self.peek().pos;
        // `not` binds looser than comparisons, so `1 + not x` is rejected
        // (by `primary`) rather than silently regrouped.
        let kind = if min_level <= NOT_LEVEL && self.eat("not") {
            NodeKind::Not(Box::new(self.nested(|parser| parser.binary(NOT_LEVEL))?))
        } else if self.eat("-") {
            NodeKind::Negate(Box::new(self.nested(|parser| parser.unary(NEGATE_LEVEL))?))
        } else {
            return self.primary();
        };
        self.node(kind, pos)
    }

    fn primary(&mut self) -> Result<Node, ExprError> {
        let token = self.advance();
        let kind = match token.kind {
            Tok::Number(number) => NodeKind::Literal(Value::Number(number)),
            Tok::Text(text) => NodeKind::Literal(Value::Text(text)),
            Tok::Sym("true") => NodeKind::Literal(Value::Bool(true)),
            Tok::Sym("false") => NodeKind::Literal(Value::Bool(false)),
            Tok::Sym("null") => NodeKind::Literal(Value::Null),
            Tok::Name(name) if self.at(0, "(") => return self.call(&name, token.pos),
            Tok::Name(name) => NodeKind::Feature(name),
            Tok::Sym("(") => {
                let inner = self.expr()?;
                if !self.eat(")") {
                    let (found, open) = (self.peek(), token.pos);
                    let message = format!(
                        "expected ')' to close '(' at line {}, column {}, found {}",
                        open.line,
                        open.column,
                        found.kind.describe()
                    );
                    return Err(error_at(found.pos, message));
                }
                return Ok(inner);
            }
            Tok::Sym("[") => {
                return Err(error_at(
                    token.pos,
                    "a list [...] is only allowed after 'in'",
                ))
            }
            Tok::Eof if self.tokens.is_empty() => {
                return Err(error_at(token.pos, "expression is empty"))
            }
            Tok::Eof => return Err(error_at(token.pos, "unexpected end of expression")),
            other => {
                let message = format!("unexpected {}", other.describe());
                return Err(error_at(token.pos, message));
            }
        };
        self.node(kind, token.pos)
    }

    /// Parses `expr, expr, ...` up to and including `close`; a trailing
    /// comma is fine, as lists in TOML often have one.
    fn items(&mut self, close: &str, context: &str) -> Result<Vec<Node>, ExprError> {
        let mut items = Vec::new();
        while !self.eat(close) {
            items.push(self.expr()?);
            if !self.eat(",") && !self.at(0, close) {
                let found = self.peek();
                let message = format!(
                    "expected ',' or '{close}' in {context}, found {}",
                    found.kind.describe()
                );
                return Err(error_at(found.pos, message));
            }
        }
        Ok(items)
    }

    fn call(&mut self, written: &str, pos: Pos) -> Result<Node, ExprError> {
        let Some((name, callee)) = FUNCTIONS
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(written))
        else {
            let known: Vec<&str> = FUNCTIONS.iter().map(|(name, _)| *name).collect();
            let message = format!("unknown function '{written}'; known: {}", known.join(", "));
            return Err(error_at(pos, message));
        };
        self.advance(); // the `(`
        let args = self.items(")", "arguments")?;
        let kind = match callee {
            Callee::One(func) => match <[Node; 1]>::try_from(args) {
                Ok([arg]) => NodeKind::Call1 {
                    name,
                    func,
                    arg: Box::new(arg),
                },
                Err(args) => {
                    let message = format!("{name} takes exactly 1 argument, found {}", args.len());
                    return Err(error_at(pos, message));
                }
            },
            Callee::Many(func) if args.len() >= 2 => NodeKind::CallN { name, func, args },
            Callee::Many(_) => {
                let message = format!("{name} takes at least 2 arguments, found {}", args.len());
                return Err(error_at(pos, message));
            }
        };
        self.node(kind, pos)
    }
}

/// Parses a condition expression; see the module documentation for the
/// grammar. Errors point at the offending token.
pub fn parse(source: &str) -> Result<Expr, ExprError> {
    let lexer = Lexer {
        chars: source.chars().collect(),
        index: 0,
        pos: Pos { line: 1, column: 1 },
    };
    let (tokens, end) = lexer.tokenize()?;
    let end = Token {
        kind: Tok::Eof,
        pos: end,
    };
    let mut parser = Parser {
        tokens,
        end,
        index: 0,
        depth: 0,
    };
    let root = parser.expr()?;
    let rest = parser.peek();
    if rest.kind != Tok::Eof {
        let message = format!(
            "expected 'and', 'or' or the end of the expression, found {}",
            rest.kind.describe()
        );
        return Err(error_at(rest.pos, message));
    }
    Ok(Expr {
        source: source.to_string(),
        root,
    })
}

/// A parsed condition expression, ready to evaluate against many customers.
#[derive(Debug, Clone)]
pub struct Expr {
    source: String,
    root: Node,
}

type Lookup<'a> = &'a dyn Fn(&str) -> Value;

impl Expr {
    /// Evaluates the expression, asking `lookup` for each feature it reads;
    /// `lookup` returns [`Value::Null`] for features the customer lacks.
    pub fn evaluate(&self, lookup: &dyn Fn(&str) -> Value) -> Result<Value, ExprError> {
        eval(&self.root, lookup)
    }

    /// Evaluates the expression as a condition: `null` counts as false and
    /// any other non-boolean result is an error.
    pub fn matches(&self, lookup: &dyn Fn(&str) -> Value) -> Result<bool, ExprError> {
        truth("a condition", self.evaluate(lookup)?).map_err(|m| error_at(self.root.pos, m))
    }

    /// The distinct feature names the expression reads, sorted.
    pub fn variables(&self) -> Vec<String> {
        fn collect(node: &Node, names: &mut BTreeSet<String>) {
            if let NodeKind::Feature(name) = &node.kind {
                names.insert(name.clone());
            }
            for child in node.kind.children() {
                collect(child, names);
            }
        }
        let mut names = BTreeSet::new();
        collect(&self.root, &mut names);
        names.into_iter().collect()
    }

    /// The text the expression was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }
}

// Evaluation recurses once per tree level, so the recursive function keeps
// its frame small and hands the work of each operator to helpers.
fn eval(node: &Node, lookup: Lookup) -> Result<Value, ExprError> {
    let result = match &node.kind {
        NodeKind::Literal(value) => Ok(value.clone()),
        NodeKind::Feature(name) => Ok(lookup(name)),
        NodeKind::Not(operand) => truth("'not'", eval(operand, lookup)?).map(|b| Value::Bool(!b)),
        NodeKind::Negate(operand) => negate(eval(operand, lookup)?),
        NodeKind::Binary { op, lhs, rhs } => apply(*op, &eval(lhs, lookup)?, &eval(rhs, lookup)?),
        NodeKind::In {
            needle,
            list,
            negated,
        } => return eval_in(needle, list, *negated, lookup),
        NodeKind::Call1 { name, func, arg } => return call1(name, *func, arg, lookup),
        NodeKind::CallN { name, func, args } => return call_n(name, *func, args, lookup),
    };
    result.map_err(|message| error_at(node.pos, message))
}

fn negate(value: Value) -> Result<Value, String> {
    match value {
        Value::Number(number) => Ok(Value::Number(-number)),
        Value::Null => Ok(Value::Null),
        other => Err(format!("cannot negate {}", describe(&other))),
    }
}

fn eval_in(
    needle: &Node,
    list: &[Node],
    negated: bool,
    lookup: Lookup,
) -> Result<Value, ExprError> {
    let needle = eval(needle, lookup)?;
    let mut found = false;
    for item in list {
        found |= equal(&needle, &eval(item, lookup)?);
    }
    Ok(Value::Bool(needle != Value::Null && found != negated))
}

fn call1(name: &str, func: Func1, arg: &Node, lookup: Lookup) -> Result<Value, ExprError> {
    match (func, eval(arg, lookup)?) {
        (Func1::IsNull, value) => Ok(Value::Bool(value == Value::Null)),
        (_, Value::Null) => Ok(Value::Null),
        (Func1::Abs, Value::Number(number)) => Ok(Value::Number(number.abs())),
        (Func1::Days, Value::Number(number)) => Ok(Value::Number(number)),
        (_, other) => {
            let message = format!("{name} needs a number, found {}", describe(&other));
            Err(error_at(arg.pos, message))
        }
    }
}

fn call_n(name: &str, func: FuncN, args: &[Node], lookup: Lookup) -> Result<Value, ExprError> {
    let mut values = Vec::with_capacity(args.len());
    for arg in args {
        values.push(eval(arg, lookup)?);
    }
    if let FuncN::Coalesce = func {
        let first_known = values.into_iter().find(|v| *v != Value::Null);
        return Ok(first_known.unwrap_or(Value::Null));
    }
    let mut best: Option<f64> = None;
    for (arg, value) in args.iter().zip(values) {
        let number = match value {
            Value::Number(number) => number,
            Value::Null => continue,
            other => {
                let message = format!("{name} needs numbers, found {}", describe(&other));
                return Err(error_at(arg.pos, message));
            }
        };
        best = Some(match (best, func) {
            (Some(current), FuncN::Max) => current.max(number),
            (Some(current), _) => current.min(number),
            (None, _) => number,
        });
    }
    Ok(best.map_or(Value::Null, Value::Number))
}

/// Reads `value` in boolean context, where `null` counts as false.
fn truth(context: &str, value: Value) -> Result<bool, String> {
    match value {
        Value::Bool(flag) => Ok(flag),
        Value::Null => Ok(false),
        other => Err(format!(
            "{context} needs true or false, found {}",
            describe(&other)
        )),
    }
}

/// Equality for `==` and `in`: `null` equals nothing, and values of
/// different types are never equal.
fn equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => a == b,
        (Value::Text(a), Value::Text(b)) => a == b,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        _ => false,
    }
}

fn apply(op: BinOp, left: &Value, right: &Value) -> Result<Value, String> {
    let context = format!("'{}'", op.symbol());
    let order = |accept: fn(Ordering) -> bool| {
        ordering(&context, left, right).map(|o| Value::Bool(o.is_some_and(accept)))
    };
    let number = |compute: fn(f64, f64) -> f64| arithmetic(&context, left, right, compute);
    match op {
        // Both sides are checked before combining, so `false and 5` is an
        // error for every customer rather than only for some.
        BinOp::Or | BinOp::And => {
            let (l, r) = (
                truth(&context, left.clone())?,
                truth(&context, right.clone())?,
            );
            Ok(Value::Bool(if op == BinOp::Or { l || r } else { l && r }))
        }
        BinOp::Eq => Ok(Value::Bool(equal(left, right))),
        BinOp::Ne => {
            let known = *left != Value::Null && *right != Value::Null;
            Ok(Value::Bool(known && !equal(left, right)))
        }
        BinOp::Lt => order(Ordering::is_lt),
        BinOp::Le => order(Ordering::is_le),
        BinOp::Gt => order(Ordering::is_gt),
        BinOp::Ge => order(Ordering::is_ge),
        BinOp::Add => number(|a, b| a + b),
        BinOp::Sub => number(|a, b| a - b),
        BinOp::Mul => number(|a, b| a * b),
        BinOp::Div => number(|a, b| a / b),
        BinOp::Rem => number(|a, b| a % b),
    }
}

/// Orders two numbers or two texts; `None` (compares false) for `null` and
/// NaN.
fn ordering(context: &str, left: &Value, right: &Value) -> Result<Option<Ordering>, String> {
    match (left, right) {
        (Value::Null, _) | (_, Value::Null) => Ok(None),
        (Value::Number(a), Value::Number(b)) => Ok(a.partial_cmp(b)),
        (Value::Text(a), Value::Text(b)) => Ok(Some(a.cmp(b))),
        _ => Err(format!(
            "{context} cannot compare {} with {}",
            describe(left),
            describe(right)
        )),
    }
}

fn arithmetic(
    context: &str,
    left: &Value,
    right: &Value,
    compute: fn(f64, f64) -> f64,
) -> Result<Value, String> {
    // Types are checked before nulls so `'a' + x` fails for every customer,
    // not only for those who happen to have `x`.
    for operand in [left, right] {
        if matches!(operand, Value::Bool(_) | Value::Text(_)) {
            return Err(format!(
                "{context} needs numbers, found {}",
                describe(operand)
            ));
        }
    }
    let (Value::Number(a), Value::Number(b)) = (left, right) else {
        return Ok(Value::Null);
    };
    // Division by zero and overflow give null rather than inf or NaN.
    let result = compute(*a, *b);
    Ok(if result.is_finite() {
        Value::Number(result)
    } else {
        Value::Null
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One customer's features, including text with Chinese characters.
    fn customer(name: &str) -> Value {
        match name {
            "spend_365d" => 12_000.0.into(),
            "rfm.r" => 4_i64.into(),
            "csat_good" => 0.85.into(),
            "zero" => 0_i64.into(),
            "name" => "Alice".into(),
            "city" => "上海".into(),
            "vip" => true.into(),
            _ => Value::Null,
        }
    }

    fn eval_str(source: &str) -> Result<Value, ExprError> {
        parse(source)?.evaluate(&customer)
    }

    fn num(n: f64) -> Value {
        Value::Number(n)
    }

    fn check_values(cases: &[(&str, Value)]) {
        for (source, expected) in cases {
            let actual = eval_str(source).unwrap_or_else(|e| panic!("{source}: {e}"));
            assert_eq!(&actual, expected, "{source}");
        }
    }

    fn check_bools(cases: &[(&str, bool)]) {
        let cases: Vec<(&str, Value)> = cases.iter().map(|&(s, b)| (s, Value::Bool(b))).collect();
        check_values(&cases);
    }

    #[test]
    fn arithmetic_and_its_precedence() {
        check_values(&[
            ("1 + 2 * 3", num(7.0)),
            ("(1 + 2) * 3", num(9.0)),
            ("10 - 4 - 3", num(3.0)),
            ("2 * 3 % 4", num(2.0)),
            ("7 / 2", num(3.5)),
            ("7 % 3", num(1.0)),
            ("-2 * 3", num(-6.0)),
            ("- -2", num(2.0)),
            ("-rfm.r + 10", num(6.0)),
            ("spend_365d / 1_000", num(12.0)),
            ("1 / 0", Value::Null),
            ("5 % zero", Value::Null),
            ("1e308 * 10", Value::Null),
            ("missing + 1", Value::Null),
            ("-missing", Value::Null),
        ]);
    }

    #[test]
    fn number_literals() {
        check_values(&[
            ("10_000", num(10_000.0)),
            ("1_000.5", num(1000.5)),
            ("1e3", num(1000.0)),
            ("2.5E-1", num(0.25)),
            ("1e+2", num(100.0)),
            ("0.125", num(0.125)),
        ]);
    }

    #[test]
    fn strings_with_escapes_and_chinese() {
        check_values(&[
            (r#""上海市""#, "上海市".into()),
            (r"'it\'s'", "it's".into()),
            (r#""a\\b""#, r"a\b".into()),
            (r#""say \"hi\"""#, r#"say "hi""#.into()),
            (r#"'say "hi"'"#, r#"say "hi""#.into()),
            (r#""tab\tnew\nline""#, "tab\tnew\nline".into()),
        ]);
        check_bools(&[("city == \"上海\"", true), ("'客户' < '客服'", true)]);
    }

    #[test]
    fn comparisons() {
        check_bools(&[
            ("1 < 2", true),
            ("2 < 2", false),
            ("2 <= 2", true),
            ("3 > 2", true),
            ("2 >= 3", false),
            ("2 == 2.0", true),
            ("2 != 2", false),
            ("'abc' < 'abd'", true),
            ("name == 'Alice'", true),
            ("name == 'alice'", false),
            ("name != 'Bob'", true),
            ("1 == '1'", false),
            ("1 != '1'", true),
            ("vip == true", true),
            ("1 + 1 == 2 and 3 * 2 > 5", true),
        ]);
    }

    #[test]
    fn null_semantics() {
        check_bools(&[
            ("missing == null", false),
            ("null == null", false),
            ("missing != 1", false),
            ("missing < 1", false),
            ("missing >= missing", false),
            ("not missing", true),
            ("missing and true", false),
            ("missing or vip", true),
            ("missing in [1, null]", false),
            ("missing not in [1]", false),
            ("rfm.r not in [1, null]", true),
        ]);
        assert!(!parse("missing").unwrap().matches(&customer).unwrap());
    }

    #[test]
    fn logic_and_its_precedence() {
        check_bools(&[
            ("true or false and false", true),
            ("(true or false) and false", false),
            ("not false and false", false),
            ("not (false and false)", true),
            ("not 1 > 2", true),
            ("not not true", true),
            ("false or false or true", true),
            (
                "rfm.r >= 4 and spend_365d >= 10000 and csat_good >= 0.8",
                true,
            ),
        ]);
    }

    #[test]
    fn keywords_are_case_insensitive_and_symbols_are_synonyms() {
        check_bools(&[
            ("TRUE AND Not FALSE", true),
            ("false Or true", true),
            ("true && !false", true),
            ("false || true", true),
            ("!(1 > 2) && (1 < 2)", true),
            ("is_null(NULL)", true),
            ("rfm.r IN [4, 5]", true),
            ("rfm.r Not In [4]", false),
            ("COALESCE(missing, 1) == Max(0, 1)", true),
        ]);
    }

    #[test]
    fn in_lists() {
        check_bools(&[
            ("rfm.r in [3, 4, 5]", true),
            ("rfm.r in []", false),
            ("rfm.r not in []", true),
            ("name in ['Bob', 'Alice',]", true),
            ("name not in ['Bob']", true),
            ("city in ['北京', '上海']", true),
            ("rfm.r in [2 + 2]", true),
            ("'4' in [4]", false),
            ("rfm.r in [\n  1,\n  4\n]", true),
        ]);
    }

    #[test]
    fn functions() {
        check_values(&[
            ("coalesce(missing, 5)", num(5.0)),
            ("coalesce(missing, null)", Value::Null),
            ("coalesce(name, 'x', 1)", "Alice".into()),
            ("is_null(missing)", true.into()),
            ("is_null(0)", false.into()),
            ("min(3, 1, 2)", num(1.0)),
            ("max(3, 1, 2)", num(3.0)),
            ("min(missing, 2)", num(2.0)),
            ("max(missing, null)", Value::Null),
            ("abs(-3)", num(3.0)),
            ("abs(missing)", Value::Null),
            ("days(30)", num(30.0)),
            ("days(missing)", Value::Null),
        ]);
    }

    #[test]
    fn multi_line_condition() {
        let expr = parse("rfm.r >= 4\n  AND vip\n  and city == '上海'").unwrap();
        assert!(expr.matches(&customer).unwrap());
    }

    #[test]
    fn parse_errors_point_at_the_offending_token() {
        let cases: &[(&str, usize, usize, &str)] = &[
            ("", 1, 1, "empty"),
            ("rfm.r >= ", 1, 10, "unexpected end"),
            ("  \n ", 2, 2, "empty"),
            ("name == \"abc", 1, 9, "unterminated string"),
            ("foo(1) > 2", 1, 1, "unknown function 'foo'"),
            ("a < b < c", 1, 7, "chained"),
            ("a in [1] not in [2]", 1, 10, "chained"),
            ("a == 1 b", 1, 8, "found name 'b'"),
            ("abs(1, 2)", 1, 1, "exactly 1 argument, found 2"),
            ("x + min(1)", 1, 5, "at least 2 arguments, found 1"),
            ("a > 1\nand b >< 2", 2, 8, "unexpected '<'"),
            // Byte offsets would put '=' at column 27; characters put it at 21.
            ("city == \"上海市\" and x = 1", 1, 21, "use '=='"),
            ("1__0 > x", 1, 2, "digit separator"),
            ("10_ > x", 1, 3, "digit separator"),
            (
                "(a > 1",
                1,
                7,
                "expected ')' to close '(' at line 1, column 1",
            ),
            ("x in (1, 2)", 1, 6, "expected '['"),
            ("x in [1 2]", 1, 9, "expected ',' or ']'"),
            ("[1, 2]", 1, 1, "only allowed after 'in'"),
            ("\"a\\q\" == x", 1, 3, "unknown escape"),
            ("rfm. r > 1", 1, 5, "expected a name after '.'"),
            ("a & b", 1, 3, "use 'and'"),
            ("1e > 0", 1, 2, "exponent"),
            ("10abc", 1, 3, "after number"),
            ("1e400", 1, 1, "too large"),
            ("x > 1 #", 1, 7, "unexpected character '#'"),
            ("'客户' == 名字", 1, 9, "unexpected character '名'"),
            ("max(1, 2 3)", 1, 10, "expected ',' or ')'"),
            ("x > 1)", 1, 6, "found ')'"),
            ("a == not b", 1, 6, "unexpected 'not'"),
        ];
        for &(source, line, column, fragment) in cases {
            let error = parse(source).expect_err(source);
            assert_eq!(
                (error.line, error.column),
                (line, column),
                "{source}: {error}"
            );
            assert!(error.message.contains(fragment), "{source}: {error}");
        }
    }

    #[test]
    fn nesting_limits_give_errors_not_stack_overflows() {
        let deep_ok = format!("{}1{}", "(".repeat(60), ")".repeat(60));
        assert_eq!(eval_str(&deep_ok).unwrap(), num(1.0));
        assert!(eval_str(&format!("{}true", "not ".repeat(60))).is_ok());
        for hostile in [
            "(".repeat(10_000),
            "-".repeat(10_000),
            "not ".repeat(10_000),
            vec!["1"; 10_000].join(" + "),
            vec!["true"; 10_000].join(" and "),
        ] {
            assert!(parse(&hostile).is_err());
        }
    }

    #[test]
    fn type_errors_at_evaluation_carry_positions() {
        let cases: &[(&str, usize, usize, &str)] = &[
            (
                "spend_365d and vip",
                1,
                12,
                "'and' needs true or false, found number 12000",
            ),
            ("vip\n  or name", 2, 3, "'or' needs true or false"),
            // Both sides are always checked, so the type error is not hidden.
            ("false and 1", 1, 7, "'and' needs true or false"),
            ("true or 'x'", 1, 6, "'or' needs true or false"),
            ("not 5", 1, 1, "'not' needs true or false"),
            ("'a' + 1", 1, 5, "'+' needs numbers"),
            ("name * missing", 1, 6, "'*' needs numbers"),
            ("-'a'", 1, 1, "cannot negate text \"a\""),
            (
                "name < 5",
                1,
                6,
                "'<' cannot compare text \"Alice\" with number 5",
            ),
            ("true >= false", 1, 6, "cannot compare"),
            ("abs('x')", 1, 5, "abs needs a number"),
            ("min(1, 'x')", 1, 8, "min needs numbers"),
        ];
        for &(source, line, column, fragment) in cases {
            let error = eval_str(source).expect_err(source);
            assert_eq!(
                (error.line, error.column),
                (line, column),
                "{source}: {error}"
            );
            assert!(error.message.contains(fragment), "{source}: {error}");
        }
        let sum = parse("1 + 2").unwrap();
        assert_eq!(sum.evaluate(&customer).unwrap(), num(3.0));
        let error = sum.matches(&customer).unwrap_err();
        assert_eq!((error.line, error.column), (1, 3));
        assert!(
            error.message.contains("a condition needs true or false"),
            "{error}"
        );
    }

    #[test]
    fn variables_are_distinct_and_sorted() {
        let expr = parse("rfm.r >= 4 and spend > min(spend, x) or rfm.r in [custom.tier]").unwrap();
        assert_eq!(expr.variables(), ["custom.tier", "rfm.r", "spend", "x"]);
        assert!(parse("1 < 2").unwrap().variables().is_empty());
    }

    #[test]
    fn source_is_kept() {
        let text = "vip  AND rfm.r > 3";
        assert_eq!(parse(text).unwrap().source(), text);
    }

    #[test]
    fn offset_translates_to_file_coordinates() {
        let first_line = parse("a = 1").unwrap_err();
        assert_eq!((first_line.line, first_line.column), (1, 3));
        let moved = first_line.offset(10, 12);
        assert_eq!((moved.line, moved.column), (10, 14));
        let later_line = parse("a > 1\n  and b >< 2").unwrap_err().offset(10, 12);
        assert_eq!((later_line.line, later_line.column), (11, 10));
        assert_eq!(later_line.to_string(), "line 11, column 10: unexpected '<'");
    }

    #[test]
    fn display_and_conversions() {
        assert_eq!(Value::from(10_000_i64).to_string(), "10000");
        assert_eq!(Value::from(0.5).to_string(), "0.5");
        assert_eq!(Value::from("a\"b\\上").to_string(), r#""a\"b\\上""#);
        assert_eq!(Value::from(String::from("x")), Value::Text("x".into()));
        assert_eq!(Value::from(false).to_string(), "false");
        assert_eq!(Value::Null.to_string(), "null");
        // Display output is a literal that parses back to the same value.
        let text = Value::from("tab\there \"q\" \\ 上海");
        assert_eq!(eval_str(&text.to_string()).unwrap(), text);
    }

    fn feature_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<f64>().prop_map(Value::Number),
            (-100_i64..100).prop_map(Value::from),
            "[a-z上海]{0,3}".prop_map(Value::Text),
        ]
    }

    /// Well-formed sources; composites are parenthesised so comparisons
    /// never chain.
    fn expression_source() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            prop::sample::select(vec!["x", "y", "rfm.r", "null", "true", "'上海'", "0"])
                .prop_map(String::from),
            (-1000_i64..1000).prop_map(|n| n.to_string()),
        ];
        leaf.prop_recursive(4, 48, 4, |inner| {
            let binary_ops = vec![
                "and", "or", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%",
            ];
            prop_oneof![
                (
                    inner.clone(),
                    prop::sample::select(binary_ops),
                    inner.clone()
                )
                    .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
                inner.clone().prop_map(|a| format!("(not {a})")),
                inner.clone().prop_map(|a| format!("-({a})")),
                (
                    prop::sample::select(vec!["coalesce", "min", "max"]),
                    prop::collection::vec(inner.clone(), 2..4)
                )
                    .prop_map(|(f, args)| format!("{f}({})", args.join(", "))),
                (
                    prop::sample::select(vec!["is_null", "abs", "days"]),
                    inner.clone()
                )
                    .prop_map(|(f, a)| format!("{f}({a})")),
                (
                    inner.clone(),
                    any::<bool>(),
                    prop::collection::vec(inner, 0..3)
                )
                    .prop_map(|(a, negated, list)| {
                        let op = if negated { "not in" } else { "in" };
                        format!("({a} {op} [{}])", list.join(", "))
                    }),
            ]
        })
    }

    fn token_soup() -> impl Strategy<Value = String> {
        let pieces = vec![
            "x", "rfm.r", "1", "2.5e3", "10_000", "'上海'", "\"a\\\"", "(", ")", "[", "]", ",",
            "and", "OR", "not", "in", "&&", "||", "!", "==", "!=", "<", "<=", ">", ">=", "=", "+",
            "-", "*", "/", "%", "min", "abs", "null", "true", "\n", ".", "_", "'",
        ];
        prop::collection::vec(prop::sample::select(pieces), 0..20).prop_map(|v| v.join(" "))
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_text(source in any::<String>()) {
            let _ = parse(&source);
        }

        #[test]
        fn parse_never_panics_on_token_soup(source in token_soup()) {
            if let Err(error) = parse(&source) {
                prop_assert!(error.line >= 1 && error.column >= 1);
            }
        }

        #[test]
        fn evaluate_never_panics(
            source in expression_source(),
            x in feature_value(),
            y in feature_value(),
            r in feature_value(),
        ) {
            let expr = parse(&source);
            prop_assert!(expr.is_ok(), "{source}: {expr:?}");
            let lookup = |name: &str| match name {
                "x" => x.clone(),
                "y" => y.clone(),
                "rfm.r" => r.clone(),
                _ => Value::Null,
            };
            if let Ok(expr) = expr {
                let _ = expr.evaluate(&lookup);
                let _ = expr.matches(&lookup);
            }
        }

        #[test]
        fn integer_comparisons_agree_with_rust(
            a in -(1_i64 << 53)..=(1_i64 << 53),
            b in -(1_i64 << 53)..=(1_i64 << 53),
        ) {
            let lookup = |name: &str| match name {
                "x" => Value::from(a),
                "y" => Value::from(b),
                _ => Value::Null,
            };
            let less = parse("x < y").map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(less.matches(&lookup), Ok(a < b));
            let literal = parse(&format!("{a} <= {b}")).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(literal.matches(&lookup), Ok(a <= b));
            for (op, expected) in [("==", a == b), ("!=", a != b), (">", a > b), (">=", a >= b)] {
                let expr = parse(&format!("x {op} y")).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(expr.matches(&lookup), Ok(expected), "{}", op);
            }
        }
    }
}
