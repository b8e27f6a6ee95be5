//! `${NAME}` references to environment variables in connector files.
//!
//! Secrets must be written this way (see [`super::Secret`]); other values,
//! such as a folder that differs between machines, may be. Every reference
//! in a file is checked when the file loads, so a missing variable is
//! reported with its field, together with every other problem.

use std::path::Path;

use super::{join_field, Problem};

/// Reports every `${NAME}` in the table's strings whose variable is unset.
pub fn check_references(
    file: &Path,
    table: &toml::Table,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (key, value) in table {
        check_value(file, key, value, lookup, &mut problems);
    }
    problems
}

fn check_value(
    file: &Path,
    field: &str,
    value: &toml::Value,
    lookup: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) {
    match value {
        toml::Value::String(text) => {
            for name in references(text) {
                if lookup(name).is_none() {
                    problems.push(
                        Problem::new(
                            file,
                            field,
                            format!("the environment variable {name} is not set"),
                        )
                        .with_hint(format!("export {name} before running tierlink")),
                    );
                }
            }
        }
        toml::Value::Table(table) => {
            for (key, value) in table {
                check_value(file, &join_field(field, key), value, lookup, problems);
            }
        }
        toml::Value::Array(items) => {
            for (index, value) in items.iter().enumerate() {
                check_value(file, &format!("{field}[{index}]"), value, lookup, problems);
            }
        }
        _ => {}
    }
}

/// Replaces every `${NAME}` in `text` by the variable's value.
pub fn interpolate(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut result = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        result.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            result.push_str(&rest[start..]);
            return Ok(result);
        };
        let name = &after[..end];
        let value =
            lookup(name).ok_or_else(|| format!("the environment variable {name} is not set"))?;
        result.push_str(&value);
        rest = &after[end + 1..];
    }
    result.push_str(rest);
    Ok(result)
}

/// The variable names referenced in `text`.
fn references(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        names.push(&after[..end]);
        rest = &after[end + 1..];
    }
    names
}

/// Looks a variable up in the process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        (name == "EXPORT_DIR").then(|| "/srv/exports".to_string())
    }

    #[test]
    fn interpolates_known_variables_and_names_missing_ones() {
        assert_eq!(
            interpolate("${EXPORT_DIR}/a.csv", &lookup).unwrap(),
            "/srv/exports/a.csv"
        );
        assert_eq!(interpolate("plain", &lookup).unwrap(), "plain");
        assert_eq!(interpolate("x${", &lookup).unwrap(), "x${");
        assert_eq!(
            interpolate("${NOPE}/a", &lookup).unwrap_err(),
            "the environment variable NOPE is not set"
        );
    }

    #[test]
    fn reports_every_missing_reference_with_its_field() {
        let table: toml::Table = r#"
            token = "${API_TOKEN}"
            [streams.a]
            path = "${EXPORT_DIR}/a.csv"
            headers = ["${H1}", "ok"]
        "#
        .parse()
        .unwrap();
        let problems = check_references(Path::new("c.toml"), &table, &lookup);
        let fields: Vec<&str> = problems
            .iter()
            .map(|problem| problem.field.as_str())
            .collect();
        assert_eq!(fields, vec!["streams.a.headers[0]", "token"]);
    }
}
