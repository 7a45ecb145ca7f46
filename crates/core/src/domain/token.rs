//! API and SCIM tokens: how they look, how they are stored, how they are checked.
//!
//! A token reads `rc_api_…` or `rc_scim_…` (a prefix secret scanners recognise), followed by
//! 12 characters that are a public lookup key and 40 that are the secret: about 238 bits of
//! randomness in all. Only a SHA-256 of the whole token is stored — a slow hash is not
//! needed for a value this random — and it is compared in constant time.

use super::{Millis, UserId};
use crate::{Error, Result};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const LOOKUP_LEN: usize = 12;
const SECRET_LEN: usize = 40;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenScope {
    /// The REST API, acting as one user with that user's current permissions.
    Api,
    /// The SCIM server, acting as the identity provider.
    Scim,
}

wire_string!(TokenScope);

impl TokenScope {
    pub const ALL: &'static [TokenScope] = &[TokenScope::Api, TokenScope::Scim];
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Api => "api",
            TokenScope::Scim => "scim",
        }
    }
    pub fn parse(s: &str) -> Result<TokenScope> {
        match s.trim().to_ascii_lowercase().as_str() {
            "api" => Ok(TokenScope::Api),
            "scim" => Ok(TokenScope::Scim),
            _ => Err(Error::invalid(
                "scope",
                format!("unknown token scope '{s}'; use api or scim"),
            )),
        }
    }
    fn prefix(self) -> &'static str {
        match self {
            TokenScope::Api => "rc_api_",
            TokenScope::Scim => "rc_scim_",
        }
    }
}

/// A token as stored: never the secret itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub id: i64,
    pub name: String,
    pub scope: TokenScope,
    pub user_id: Option<UserId>,
    pub lookup: String,
    pub secret_hash: String,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

impl Token {
    pub fn is_usable(&self, now: Millis) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

fn random_chars(n: usize) -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn hash(presented: &str) -> String {
    hex::encode(Sha256::digest(presented.as_bytes()))
}

/// A fresh token: (the whole token, shown once; its lookup key; the hash to store).
pub fn generate(scope: TokenScope) -> (String, String, String) {
    let lookup = random_chars(LOOKUP_LEN);
    let token = format!("{}{lookup}{}", scope.prefix(), random_chars(SECRET_LEN));
    let h = hash(&token);
    (token, lookup, h)
}

/// The scope and lookup key of a presented token, if it has the shape of one.
pub fn parse(presented: &str) -> Option<(TokenScope, &str)> {
    [TokenScope::Api, TokenScope::Scim].into_iter().find_map(|scope| {
        let rest = presented.strip_prefix(scope.prefix())?;
        (rest.len() == LOOKUP_LEN + SECRET_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| (scope, &rest[..LOOKUP_LEN]))
    })
}

/// Whether `presented` is the token whose hash is `stored_hash`, in constant time.
pub fn matches(presented: &str, stored_hash: &str) -> bool {
    hash(presented).as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

/// Whether a string looks like a rollcall token (to refuse one in a URL).
pub fn looks_like_token(s: &str) -> bool {
    s.contains("rc_api_") || s.contains("rc_scim_")
}

pub fn validate_name(s: &str) -> Result<String> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 64 || s.chars().any(char::is_control) {
        return Err(Error::invalid("name", "a token name has 1 to 64 characters"));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_are_checked() {
        let (token, lookup, h) = generate(TokenScope::Api);
        assert!(token.starts_with("rc_api_"));
        assert_eq!(token.len(), 7 + 52);
        assert_eq!(parse(&token), Some((TokenScope::Api, lookup.as_str())));
        assert!(matches(&token, &h));
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(!matches(&forged, &h));
        assert_ne!(generate(TokenScope::Api).0, token);
        let (scim, _, _) = generate(TokenScope::Scim);
        assert_eq!(parse(&scim).unwrap().0, TokenScope::Scim);
    }

    #[test]
    fn malformed_tokens_are_refused() {
        assert!(parse("rc_api_short").is_none());
        assert!(parse("Bearer rc_api_x").is_none());
        assert!(parse(&format!("rc_api_{}", "!".repeat(52))).is_none());
        assert!(parse(&format!("gh_{}", "a".repeat(52))).is_none());
        assert!(looks_like_token("x?access=rc_api_abc"));
    }

    #[test]
    fn expiry_and_revocation() {
        let t = Token {
            id: 1,
            name: "ci".into(),
            scope: TokenScope::Api,
            user_id: None,
            lookup: "x".into(),
            secret_hash: "y".into(),
            created_at: 0,
            expires_at: Some(100),
            revoked_at: None,
        };
        assert!(t.is_usable(99));
        assert!(!t.is_usable(100));
        assert!(
            !Token {
                revoked_at: Some(5),
                expires_at: None,
                ..t
            }
            .is_usable(1)
        );
    }
}
