//! Secrets in configuration files.
//!
//! A connector file may hold a secret only as a reference to an environment
//! variable, `${ZENDESK_TOKEN}`. The value is read from the environment when
//! the file is loaded and never printed: `Debug` and `Display` show the
//! reference, not the value, so a secret cannot leak into a log, an error or
//! the database by accident.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A secret value read from an environment variable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    env_name: String,
    value: String,
}

impl Secret {
    /// Resolves a `${ENV_NAME}` reference against the process environment.
    pub fn from_reference(reference: &str) -> Result<Secret, SecretError> {
        Secret::resolve(reference, |name| std::env::var(name).ok())
    }

    /// Resolves a `${ENV_NAME}` reference with the given variable lookup.
    pub fn resolve(
        reference: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Secret, SecretError> {
        let env_name = parse_reference(reference).ok_or(SecretError::NotAReference)?;
        let value =
            lookup(env_name).ok_or_else(|| SecretError::MissingEnv(env_name.to_string()))?;
        Ok(Secret {
            env_name: env_name.to_string(),
            value,
        })
    }

    /// The secret itself, for the one place that must send it (a header, a
    /// connection string). Never log what this returns.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// The name of the environment variable the secret came from.
    pub fn env_name(&self) -> &str {
        &self.env_name
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(${{{}}})", self.env_name)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${{{}}}", self.env_name)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let reference = String::deserialize(deserializer)?;
        Secret::from_reference(&reference).map_err(serde::de::Error::custom)
    }
}

/// Why a secret could not be read. The messages never contain the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a secret must be written as a reference to an environment variable, like \"${{MY_TOKEN}}\", never as the value itself")]
    NotAReference,
    #[error("the environment variable {0} is not set")]
    MissingEnv(String),
}

/// Returns `NAME` from `${NAME}` when the whole text is one such reference.
fn parse_reference(text: &str) -> Option<&str> {
    let name = text.trim().strip_prefix("${")?.strip_suffix('}')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    let valid = (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        (name == "SHOP_TOKEN").then(|| "shpat_very_secret".to_string())
    }

    #[test]
    fn resolves_a_reference_and_hides_the_value() {
        let secret = Secret::resolve("${SHOP_TOKEN}", lookup).expect("resolves");
        assert_eq!(secret.expose(), "shpat_very_secret");
        assert_eq!(format!("{secret:?}"), "Secret(${SHOP_TOKEN})");
        assert_eq!(secret.to_string(), "${SHOP_TOKEN}");
        assert!(!format!("{secret:?}{secret}").contains("very_secret"));
    }

    #[test]
    fn refuses_plain_values_and_bad_references() {
        for text in [
            "shpat_very_secret",
            "${}",
            "${1ABC}",
            "$SHOP_TOKEN",
            "${SHOP-TOKEN}",
            "x${A}",
        ] {
            assert_eq!(
                Secret::resolve(text, lookup),
                Err(SecretError::NotAReference),
                "{text}"
            );
        }
    }

    #[test]
    fn names_a_missing_variable_without_any_value() {
        let error = Secret::resolve("${NOT_SET_ANYWHERE}", lookup).unwrap_err();
        assert_eq!(error, SecretError::MissingEnv("NOT_SET_ANYWHERE".into()));
        assert!(error.to_string().contains("NOT_SET_ANYWHERE"));
    }
}
