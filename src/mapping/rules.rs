//! One field's mapping rule: where its value comes from and how it is cleaned.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::path::{lookup, lookup_all, scalar_text};
use crate::config::{deserialize_section, Problem};

/// How one canonical field is computed from a record. Written either as a
/// bare path (`name = "contact_name"`) or as a table:
///
/// ```toml
/// phones = { path = "mobile", split = "/" }
/// status = { path = "state", map = { "已付款" = "paid" }, default = "paid" }
/// ordered_at = { path = "date", format = "%Y-%m-%d %H:%M", timezone = "+08:00" }
/// ```
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    /// A dotted path into the record. An array there yields each element.
    pub path: Option<String>,
    /// Several paths: single-valued fields take the first that has a value,
    /// multi-valued fields (phones, emails) take them all.
    pub first_of: Option<Vec<String>>,
    /// Several paths whose values are joined into one text with `join`,
    /// e.g. a first and a last name.
    pub concat: Option<Vec<String>>,
    /// The separator for `concat`; a space unless set.
    pub join: Option<String>,
    /// A constant instead of a path.
    pub value: Option<toml::Value>,
    /// Splits text into several values at this separator (e.g. "/" or ",").
    pub split: Option<String>,
    /// Keeps only what this regular expression matches in each value: its
    /// first capture group if it has one, else the whole match. A value it
    /// does not match is dropped (e.g. `"(\\d{11})"` pulls a mobile number
    /// out of free text).
    pub regex: Option<String>,
    /// The compiled `regex`, built once when the mapping loads.
    #[serde(skip)]
    compiled_regex: Option<regex::Regex>,
    /// Lower-cases each value.
    #[serde(default)]
    pub lower: bool,
    /// Upper-cases each value.
    #[serde(default)]
    pub upper: bool,
    /// Replaces values (after trimming) by others, e.g. source statuses by
    /// canonical ones. Values not listed pass through unchanged.
    pub map: Option<BTreeMap<String, String>>,
    /// The value to use when the record has none.
    pub default: Option<String>,
    /// For times: a chrono format such as `%Y-%m-%d %H:%M:%S`, or
    /// `rfc3339` (the default), `unix_seconds`, `unix_millis`.
    pub format: Option<String>,
    /// For times without an offset: the source's UTC offset, e.g. `+08:00`.
    /// Defaults to UTC.
    pub timezone: Option<String>,
    /// For custom attributes: parse the value as a number so rules can
    /// compare it numerically.
    #[serde(default)]
    pub number: bool,
}

impl FieldRule {
    /// Reads a rule from its TOML form, checking that it is complete.
    pub fn from_toml(file: &Path, field: &str, value: toml::Value) -> Result<FieldRule, Problem> {
        let mut rule = match value {
            toml::Value::String(path) => FieldRule {
                path: Some(path),
                ..FieldRule::default()
            },
            value @ toml::Value::Table(_) => deserialize_section(file, field, value)?,
            _ => {
                return Err(
                    Problem::new(file, field, "expected a path (text) or a rule table").with_hint(
                        "write `field = \"path.in.record\"` or `field = { path = \"...\", ... }`",
                    ),
                )
            }
        };
        let sources = [
            rule.path.is_some(),
            rule.first_of.is_some(),
            rule.concat.is_some(),
            rule.value.is_some(),
        ];
        if sources.iter().filter(|set| **set).count() != 1 {
            return Err(Problem::new(
                file,
                field,
                "a rule needs exactly one of `path`, `first_of`, `concat` or `value`",
            ));
        }
        if let Some(pattern) = &rule.regex {
            match regex::Regex::new(pattern) {
                Ok(compiled) => rule.compiled_regex = Some(compiled),
                Err(error) => {
                    return Err(Problem::new(
                        file,
                        format!("{field}.regex"),
                        format!("not a valid regular expression: {error}"),
                    ))
                }
            }
        }
        if rule.lower && rule.upper {
            return Err(Problem::new(
                file,
                field,
                "`lower` and `upper` cannot both be set",
            ));
        }
        if let Some(timezone) = &rule.timezone {
            if parse_offset(timezone).is_none() {
                return Err(Problem::new(
                    file,
                    format!("{field}.timezone"),
                    format!("{timezone:?} is not a UTC offset"),
                )
                .with_hint("write it like \"+08:00\" or \"-05:00\""));
            }
        }
        Ok(rule)
    }

    /// Every value the rule finds, as trimmed non-empty text, split and
    /// mapped, without duplicates.
    pub fn texts(&self, record: &Value) -> Result<Vec<String>, String> {
        let mut texts = Vec::new();
        for value in self.raw_values(record) {
            let Some(text) = scalar_text(&value) else {
                continue;
            };
            let parts: Vec<&str> = match &self.split {
                Some(separator) => text.split(separator.as_str()).collect(),
                None => vec![text.as_str()],
            };
            for part in parts {
                let Some(part) = self.clean(part) else {
                    continue;
                };
                let mapped = self.map_value(&part);
                if !texts.contains(&mapped) {
                    texts.push(mapped);
                }
            }
        }
        if texts.is_empty() {
            texts.extend(self.default.clone());
        }
        Ok(texts)
    }

    /// The first value the rule finds, or the default.
    pub fn text(&self, record: &Value) -> Result<Option<String>, String> {
        Ok(self.texts(record)?.into_iter().next())
    }

    /// The value as a number; money may carry currency signs and thousands
    /// separators (`¥1,234.50`).
    pub fn number(&self, record: &Value) -> Result<Option<f64>, String> {
        let Some(text) = self.text(record)? else {
            return Ok(None);
        };
        parse_number(&text)
            .map(Some)
            .ok_or_else(|| format!("{text:?} is not a number"))
    }

    /// The value as a UTC timestamp.
    pub fn timestamp(&self, record: &Value) -> Result<Option<DateTime<Utc>>, String> {
        let Some(text) = self.text(record)? else {
            return Ok(None);
        };
        let offset = self
            .timezone
            .as_deref()
            .and_then(parse_offset)
            .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset is valid"));
        parse_timestamp(&text, self.format.as_deref(), offset).map(Some)
    }

    /// The value as JSON for a custom attribute: numbers stay numbers, and
    /// text becomes a number when the rule says `number = true`. Several
    /// texts (every tag of a list, each follow member's remark) are kept as
    /// a list.
    pub fn json(&self, record: &Value) -> Result<Option<Value>, String> {
        if self.number {
            return Ok(self
                .number(record)?
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number));
        }
        let values = self.raw_values(record);
        match values.first() {
            Some(value @ (Value::Number(_) | Value::Bool(_)))
                if self.map.is_none() && values.len() == 1 =>
            {
                Ok(Some(value.clone()))
            }
            _ => {
                let mut texts = self.texts(record)?;
                Ok(match texts.len() {
                    0 => None,
                    1 => texts.pop().map(Value::String),
                    _ => Some(Value::Array(texts.into_iter().map(Value::String).collect())),
                })
            }
        }
    }

    /// The raw values at the rule's paths, arrays flattened.
    fn raw_values(&self, record: &Value) -> Vec<Value> {
        if let Some(constant) = &self.value {
            return vec![toml_to_json(constant)];
        }
        if let Some(paths) = &self.concat {
            let parts: Vec<String> = paths
                .iter()
                .filter_map(|path| lookup_all(record, path).into_iter().find_map(scalar_text))
                .collect();
            return match parts.is_empty() {
                true => Vec::new(),
                false => vec![Value::String(
                    parts.join(self.join.as_deref().unwrap_or(" ")),
                )],
            };
        }
        let paths: Vec<&String> = match (&self.path, &self.first_of) {
            (Some(path), _) => vec![path],
            (None, Some(paths)) => paths.iter().collect(),
            (None, None) => Vec::new(),
        };
        let mut values = Vec::new();
        let mut add = |value: &Value| match value {
            Value::Array(items) => values.extend(items.iter().cloned()),
            value => values.push(value.clone()),
        };
        for path in paths {
            // The plain lookup first: it does not allocate, and it finds
            // the one value of a path that crosses no list.
            match lookup(record, path) {
                Some(value) => add(value),
                None => lookup_all(record, path).into_iter().for_each(&mut add),
            }
        }
        values
    }

    /// Trims, extracts with `regex` and changes case; `None` when nothing
    /// is left.
    fn clean(&self, text: &str) -> Option<String> {
        // NUL is never meaningful in a name or an address, and PostgreSQL
        // refuses it in text.
        let without_nul = text.replace('\0', "");
        let mut text = without_nul.trim();
        if let Some(regex) = &self.compiled_regex {
            let captures = regex.captures(text)?;
            text = captures.get(1).or_else(|| captures.get(0))?.as_str().trim();
        }
        if text.is_empty() {
            return None;
        }
        Some(if self.lower {
            text.to_lowercase()
        } else if self.upper {
            text.to_uppercase()
        } else {
            text.to_string()
        })
    }

    fn map_value(&self, text: &str) -> String {
        self.map
            .as_ref()
            .and_then(|map| map.get(text))
            .cloned()
            .unwrap_or_else(|| text.to_string())
    }
}

fn toml_to_json(value: &toml::Value) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn parse_offset(text: &str) -> Option<FixedOffset> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("utc") || text == "Z" {
        return FixedOffset::east_opt(0);
    }
    let sign = match text.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let (hours, minutes) = text[1..].split_once(':').unwrap_or((&text[1..], "0"));
    let seconds = hours.parse::<i32>().ok()? * 3600 + minutes.parse::<i32>().ok()? * 60;
    FixedOffset::east_opt(sign * seconds)
}

/// Parses money or a plain number: drops currency signs, spaces and
/// thousands separators.
pub fn parse_number(text: &str) -> Option<f64> {
    let cleaned: String = text
        .chars()
        .filter(|c| {
            !matches!(
                c,
                ',' | ' ' | '¥' | '￥' | '$' | '€' | '£' | '元' | '\u{a0}'
            )
        })
        .collect();
    let cleaned = cleaned.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    cleaned
        .parse::<f64>()
        .ok()
        .filter(|number| number.is_finite())
}

fn parse_timestamp(
    text: &str,
    format: Option<&str>,
    offset: FixedOffset,
) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    match format.unwrap_or("rfc3339") {
        "rfc3339" => DateTime::parse_from_rfc3339(text)
            .map(|time| time.with_timezone(&Utc))
            .or_else(|_| parse_naive(text, "%Y-%m-%dT%H:%M:%S", offset))
            .or_else(|_| parse_naive(text, "%Y-%m-%d %H:%M:%S", offset))
            .map_err(|_| format!("{text:?} is not an RFC 3339 time; set `format` in the mapping")),
        "unix_seconds" => text
            .parse::<i64>()
            .ok()
            .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
            .ok_or_else(|| format!("{text:?} is not a Unix time in seconds")),
        "unix_millis" => text
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_millis)
            .ok_or_else(|| format!("{text:?} is not a Unix time in milliseconds")),
        format => DateTime::parse_from_str(text, format)
            .map(|time| time.with_timezone(&Utc))
            .or_else(|_| parse_naive(text, format, offset))
            .map_err(|_| format!("{text:?} does not match the format {format:?}")),
    }
}

/// Parses a time without an offset (or a bare date, at midnight) in `offset`.
fn parse_naive(text: &str, format: &str, offset: FixedOffset) -> Result<DateTime<Utc>, ()> {
    let naive = NaiveDateTime::parse_from_str(text, format)
        .or_else(|_| {
            NaiveDate::parse_from_str(text, format)
                .map(|date| date.and_hms_opt(0, 0, 0).unwrap_or_default())
        })
        .map_err(|_| ())?;
    offset
        .from_local_datetime(&naive)
        .single()
        .map(|time| time.with_timezone(&Utc))
        .ok_or(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(toml_text: &str) -> FieldRule {
        let value: toml::Table = toml_text.parse().expect("test TOML parses");
        let value = value.get("f").cloned().expect("test TOML has f");
        FieldRule::from_toml(Path::new("m.toml"), "f", value).expect("rule is valid")
    }

    #[test]
    fn texts_split_map_and_dedupe() {
        let record =
            json!({"mobile": "138 0013 8000/13900139000/138 0013 8000", "list": ["a", "", "b"]});
        assert_eq!(
            rule(r#"f = { path = "mobile", split = "/" }"#)
                .texts(&record)
                .unwrap(),
            vec!["138 0013 8000", "13900139000"]
        );
        assert_eq!(
            rule(r#"f = "list""#).texts(&record).unwrap(),
            vec!["a", "b"]
        );
        let status =
            rule(r#"f = { path = "state", map = { "已付款" = "paid" }, default = "pending" }"#);
        assert_eq!(
            status
                .text(&json!({"state": " 已付款 "}))
                .unwrap()
                .as_deref(),
            Some("paid")
        );
        assert_eq!(
            status
                .text(&json!({"state": "refunded"}))
                .unwrap()
                .as_deref(),
            Some("refunded")
        );
        assert_eq!(status.text(&json!({})).unwrap().as_deref(), Some("pending"));
        let first = rule(r#"f = { first_of = ["a", "b"] }"#);
        assert_eq!(
            first.text(&json!({"a": "", "b": "x"})).unwrap().as_deref(),
            Some("x")
        );
        let full_name = rule(r#"f = { concat = ["first", "last"] }"#);
        assert_eq!(
            full_name
                .text(&json!({"first": "Wei", "last": "Zhang"}))
                .unwrap()
                .as_deref(),
            Some("Wei Zhang")
        );
        assert_eq!(
            full_name
                .text(&json!({"last": "Zhang"}))
                .unwrap()
                .as_deref(),
            Some("Zhang")
        );
        assert_eq!(full_name.text(&json!({})).unwrap(), None);
        assert_eq!(
            rule(r#"f = { value = "company" }"#)
                .text(&json!({}))
                .unwrap()
                .as_deref(),
            Some("company")
        );
    }

    #[test]
    fn regex_extracts_and_case_changes() {
        let mobile = rule(r#"f = { path = "note", regex = "(1[3-9]\\d{9})" }"#);
        assert_eq!(
            mobile
                .texts(&json!({"note": "call 13800138000 after 6pm"}))
                .unwrap(),
            vec!["13800138000"]
        );
        assert!(mobile
            .texts(&json!({"note": "no number"}))
            .unwrap()
            .is_empty());
        let whole = rule(r#"f = { path = "code", regex = "[A-Z]+", lower = true }"#);
        assert_eq!(
            whole.text(&json!({"code": "x-VIP-2"})).unwrap().as_deref(),
            Some("vip")
        );
        assert_eq!(
            rule(r#"f = { path = "c", upper = true }"#)
                .text(&json!({"c": "sh"}))
                .unwrap()
                .as_deref(),
            Some("SH")
        );
    }

    #[test]
    fn numbers_accept_money_and_reject_text() {
        let amount = rule(r#"f = "total""#);
        for (raw, expected) in [
            ("¥1,234.50", 1234.5),
            ("599", 599.0),
            ("-12.5", -12.5),
            ("88元", 88.0),
            ("12 CNY", 12.0),
        ] {
            assert_eq!(
                amount.number(&json!({"total": raw})).unwrap(),
                Some(expected),
                "{raw}"
            );
        }
        assert_eq!(amount.number(&json!({"total": 42})).unwrap(), Some(42.0));
        assert!(amount
            .number(&json!({"total": "lots"}))
            .unwrap_err()
            .contains("not a number"));
        assert_eq!(amount.number(&json!({})).unwrap(), None);
    }

    #[test]
    fn timestamps_follow_format_and_timezone() {
        let beijing =
            rule(r#"f = { path = "t", format = "%Y-%m-%d %H:%M:%S", timezone = "+08:00" }"#);
        let time = beijing
            .timestamp(&json!({"t": "2024-05-03 10:00:00"}))
            .unwrap()
            .unwrap();
        assert_eq!(time.to_rfc3339(), "2024-05-03T02:00:00+00:00");
        let date_only = rule(r#"f = { path = "t", format = "%Y-%m-%d" }"#);
        assert_eq!(
            date_only
                .timestamp(&json!({"t": "2024-05-03"}))
                .unwrap()
                .unwrap()
                .to_rfc3339(),
            "2024-05-03T00:00:00+00:00"
        );
        let rfc = rule(r#"f = "t""#);
        assert_eq!(
            rfc.timestamp(&json!({"t": "2024-05-03T10:11:12-04:00"}))
                .unwrap()
                .unwrap()
                .to_rfc3339(),
            "2024-05-03T14:11:12+00:00"
        );
        let unix = rule(r#"f = { path = "t", format = "unix_seconds" }"#);
        assert_eq!(
            unix.timestamp(&json!({"t": 1525779812}))
                .unwrap()
                .unwrap()
                .to_rfc3339(),
            "2018-05-08T11:43:32+00:00"
        );
        assert!(date_only
            .timestamp(&json!({"t": "03/05/2024"}))
            .unwrap_err()
            .contains("does not match"));
    }

    #[test]
    fn incomplete_rules_are_refused() {
        for text in [
            r#"f = { split = "/" }"#,
            r#"f = { path = "a", value = 1 }"#,
            "f = 3",
            r#"f = { path = "a", timezone = "Beijing" }"#,
            r#"f = { path = "a", colour = "red" }"#,
        ] {
            let value: toml::Table = text.parse().unwrap();
            let result = FieldRule::from_toml(Path::new("m.toml"), "f", value["f"].clone());
            assert!(result.is_err(), "{text}");
        }
    }
}
