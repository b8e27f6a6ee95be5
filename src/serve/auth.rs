//! Who is calling: bearer tokens checked against the configured SHA-256
//! digests, and the role each route needs. A missing or unknown token is a
//! 401; a known token whose role is too low is a 403.

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::AppState;
use crate::config::{Role, TokenSettings};

/// The configured tokens, by digest.
#[derive(Debug, Default)]
pub struct Tokens {
    by_digest: HashMap<String, Caller>,
}

/// Who made a request and what they may do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

impl Tokens {
    pub fn new(settings: &[TokenSettings]) -> Tokens {
        Tokens {
            by_digest: settings
                .iter()
                .map(|token| {
                    (
                        token.sha256.trim().to_ascii_lowercase(),
                        Caller {
                            name: token.name.clone(),
                            role: token.role,
                        },
                    )
                })
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }

    /// The caller a token belongs to.
    pub fn caller(&self, token: &str) -> Option<&Caller> {
        self.by_digest.get(&token_digest(token))
    }
}

/// The SHA-256 of a token, as configured.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token: 32 bytes from the operating system, hex-encoded
/// behind a `tl_` prefix that makes it recognisable in a secret scanner.
pub fn new_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(std::io::Error::other)?;
    Ok(format!("tl_{}", hex::encode(bytes)))
}

impl Caller {
    /// Refuses with 403 unless the caller's role is at least `needed`.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "{} is a {}; this needs the {} role",
                    self.name,
                    self.role.name(),
                    needed.name()
                ),
            ))
        }
    }

    /// Whether phones and e-mails are shown to this caller.
    pub fn sees_contacts(&self) -> bool {
        self.role >= Role::Steward
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = |message: &str| {
            ApiError::new(StatusCode::UNAUTHORIZED, message)
                .with_header(header::WWW_AUTHENTICATE, "Bearer realm=\"tierlink\"")
        };
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("send an API token: Authorization: Bearer <token>"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| unauthorized("the Authorization header must be: Bearer <token>"))?;
        state
            .tokens
            .caller(token)
            .cloned()
            .ok_or_else(|| unauthorized("the token is not known"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(&[TokenSettings {
            name: "lin".into(),
            role: Role::Steward,
            sha256: token_digest("secret-token").to_uppercase(),
        }])
    }

    #[test]
    fn a_token_is_known_by_its_digest_only() {
        let tokens = tokens();
        assert_eq!(
            tokens.caller("secret-token"),
            Some(&Caller {
                name: "lin".into(),
                role: Role::Steward
            })
        );
        assert_eq!(tokens.caller("secret-token "), None);
        assert_eq!(tokens.caller(&token_digest("secret-token")), None);
    }

    #[test]
    fn roles_include_the_roles_below_them() {
        let steward = Caller {
            name: "lin".into(),
            role: Role::Steward,
        };
        assert!(steward.require(Role::Viewer).is_ok());
        assert!(steward.require(Role::Steward).is_ok());
        let refused = steward.require(Role::Admin).unwrap_err();
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(steward.sees_contacts());
        assert!(!Caller {
            name: "v".into(),
            role: Role::Viewer
        }
        .sees_contacts());
    }

    #[test]
    fn new_tokens_differ_and_are_long() {
        let first = new_token().unwrap();
        assert_ne!(first, new_token().unwrap());
        assert_eq!(first.len(), 3 + 64);
    }
}
