//! `{{ name }}` placeholders in paths, query values, headers and bodies.
//!
//! The engine is deliberately tiny: a placeholder names one variable (a
//! config var, `secrets.<name>`, a page variable, `since`, the fan-out
//! value), with optional spaces inside the braces. In a JSON body, a string
//! that is exactly one placeholder becomes the variable's JSON value, so a
//! number stays a number and a list stays a list; a list item that is one
//! placeholder of a list is spliced into the enclosing list.

use std::collections::BTreeMap;

use serde_json::Value;

/// Variables by name; secrets are under `secrets.<name>`.
pub type Vars = BTreeMap<String, Value>;

/// A piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// Splits a template into text and placeholders.
fn parse(template: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            pieces.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(format!("unclosed placeholder in {template:?}"));
        };
        let name = after[..end].trim();
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !valid {
            return Err(format!(
                "{:?} is not a placeholder name (letters, digits, '_' and '.')",
                &after[..end]
            ));
        }
        pieces.push(Piece::Var(name));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

/// The placeholder names in a template, or why it cannot be parsed.
pub fn placeholders(template: &str) -> Result<Vec<&str>, String> {
    Ok(parse(template)?
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Var(name) => Some(name),
            Piece::Text(_) => None,
        })
        .collect())
}

/// Every placeholder in the strings of a JSON value.
pub fn json_placeholders(value: &Value) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    collect_json(value, &mut names)?;
    Ok(names)
}

fn collect_json(value: &Value, names: &mut Vec<String>) -> Result<(), String> {
    match value {
        Value::String(text) => {
            names.extend(placeholders(text)?.into_iter().map(String::from));
        }
        Value::Array(items) => {
            for item in items {
                collect_json(item, names)?;
            }
        }
        Value::Object(object) => {
            for item in object.values() {
                collect_json(item, names)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A variable as text: strings as they are, null as nothing, other values
/// as JSON.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn lookup<'a>(vars: &'a Vars, name: &str) -> Result<&'a Value, String> {
    vars.get(name)
        .ok_or_else(|| format!("no value for the placeholder {{{{ {name} }}}}"))
}

/// Fills every placeholder of a text template.
pub fn render(template: &str, vars: &Vars) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    for piece in parse(template)? {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Var(name) => out.push_str(&text_of(lookup(vars, name)?)),
        }
    }
    Ok(out)
}

/// The variable a string stands for when the whole string is one placeholder.
fn whole_placeholder(text: &str) -> Option<&str> {
    match parse(text).ok()?.as_slice() {
        [Piece::Var(name)]
            if text.trim_start().starts_with("{{") && text.trim_end().ends_with("}}") =>
        {
            Some(name)
        }
        _ => None,
    }
}

/// Fills the placeholders in every string of a JSON value.
pub fn render_json(value: &Value, vars: &Vars) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) => match whole_placeholder(text) {
            Some(name) => lookup(vars, name)?.clone(),
            None => Value::String(render(text, vars)?),
        },
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let spliced = match item {
                    Value::String(text) => whole_placeholder(text)
                        .map(|name| lookup(vars, name))
                        .transpose()?
                        .and_then(Value::as_array),
                    _ => None,
                };
                match spliced {
                    Some(values) => out.extend(values.iter().cloned()),
                    None => out.push(render_json(item, vars)?),
                }
            }
            Value::Array(out)
        }
        Value::Object(object) => {
            let mut out = serde_json::Map::with_capacity(object.len());
            for (key, item) in object {
                out.insert(key.clone(), render_json(item, vars)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// A TOML value as JSON; dates and times become their RFC 3339 text.
pub fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(text) => Value::String(text.clone()),
        toml::Value::Integer(number) => Value::from(*number),
        toml::Value::Float(number) => serde_json::Number::from_f64(*number)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        toml::Value::Boolean(flag) => Value::Bool(*flag),
        toml::Value::Datetime(datetime) => Value::String(datetime.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Value::Object(
            table
                .iter()
                .map(|(key, value)| (key.clone(), toml_to_json(value)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Vars {
        let mut vars = Vars::new();
        vars.insert("page".into(), json!(3));
        vars.insert("name".into(), json!("zhang san"));
        vars.insert("users".into(), json!(["a", "b"]));
        vars.insert("none".into(), Value::Null);
        vars.insert("secrets.key".into(), json!("s3cr3t"));
        vars
    }

    #[test]
    fn text_templates_fill_every_placeholder() {
        let vars = vars();
        assert_eq!(
            render("/p/{{page}}/{{ name }}", &vars).unwrap(),
            "/p/3/zhang san"
        );
        assert_eq!(render("plain", &vars).unwrap(), "plain");
        assert_eq!(render("k={{ secrets.key }}", &vars).unwrap(), "k=s3cr3t");
        assert_eq!(render("[{{none}}]", &vars).unwrap(), "[]");
        assert_eq!(render("{{ users }}", &vars).unwrap(), "[\"a\",\"b\"]");
        assert_eq!(
            render("{{ nope }}", &vars).unwrap_err(),
            "no value for the placeholder {{ nope }}"
        );
        assert!(render("{{ page", &vars).unwrap_err().contains("unclosed"));
        assert!(render("{{ a b }}", &vars)
            .unwrap_err()
            .contains("not a placeholder"));
        assert_eq!(placeholders("{{a}}-{{ b.c }}").unwrap(), vec!["a", "b.c"]);
    }

    #[test]
    fn a_whole_placeholder_keeps_its_json_type_and_lists_splice() {
        let vars = vars();
        let body = json!({
            "offset": "{{ page }}",
            "label": "page {{ page }}",
            "userid_list": ["{{ users }}"],
            "nested": [["x", "{{ page }}"], "{{ users }}"],
            "flag": true,
        });
        assert_eq!(
            render_json(&body, &vars).unwrap(),
            json!({
                "offset": 3,
                "label": "page 3",
                "userid_list": ["a", "b"],
                "nested": [["x", 3], "a", "b"],
                "flag": true,
            })
        );
        assert_eq!(
            render_json(&json!({"list": "{{ users }}"}), &vars).unwrap(),
            json!({"list": ["a", "b"]})
        );
        let mut names = json_placeholders(&body).unwrap();
        names.sort();
        assert_eq!(names, vec!["page", "page", "page", "users", "users"]);
    }

    #[test]
    fn toml_tables_become_json() {
        let table: toml::Table = "a = 1\nb = [\"x\", 2.5, true]\n[c]\nd = 1979-05-27T07:32:00Z"
            .parse()
            .unwrap();
        assert_eq!(
            toml_to_json(&toml::Value::Table(table)),
            json!({"a": 1, "b": ["x", 2.5, true], "c": {"d": "1979-05-27T07:32:00Z"}})
        );
    }
}
