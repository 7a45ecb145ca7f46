//! Validated names: usernames, emails, and person names.

use crate::{Error, Result};
use std::fmt;

const USERNAME_MAX: usize = 128;
const EMAIL_MAX: usize = 254;
const PERSON_NAME_MAX: usize = 100;

/// The key under which a name is unique: case-insensitive, so `Ada` and `ADA` collide.
pub fn name_key(s: &str) -> String {
    s.to_lowercase()
}

fn reject_controls(field: &str, s: &str) -> Result<()> {
    if s.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// A login name: 1–128 characters of letters, digits and `. _ - @ + '`; unique ignoring case.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> Result<Self> {
        const FIELD: &str = "username";
        reject_controls(FIELD, s)?;
        if s.is_empty() {
            return Err(Error::invalid(FIELD, "must not be empty"));
        }
        if s.chars().count() > USERNAME_MAX {
            return Err(Error::invalid(
                FIELD,
                format!("must be at most {USERNAME_MAX} characters"),
            ));
        }
        if let Some(c) = s.chars().find(|c| !(c.is_alphanumeric() || "._-@+'".contains(*c))) {
            return Err(Error::invalid(
                FIELD,
                format!("'{s}' contains '{c}'; use letters, digits and . _ - @ + ' only"),
            ));
        }
        Ok(Username(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn key(&self) -> String {
        name_key(&self.0)
    }
}

/// An email address: RFC 5321 syntax, at most 254 characters, a domain with a dot.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self> {
        const FIELD: &str = "email";
        reject_controls(FIELD, s)?;
        if s.len() > EMAIL_MAX {
            return Err(Error::invalid(FIELD, format!("must be at most {EMAIL_MAX} bytes")));
        }
        let parsed = email_address::EmailAddress::parse_with_options(
            s,
            email_address::Options::default().without_display_text(),
        )
        .map_err(|e| Error::invalid(FIELD, format!("'{s}' is not an email address ({e})")))?;
        let domain = parsed.domain();
        if !domain.contains('.') || domain.starts_with('[') || s.chars().any(char::is_whitespace) {
            return Err(Error::invalid(
                FIELD,
                format!("'{s}' is not an email address with a domain name"),
            ));
        }
        Ok(Email(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn key(&self) -> String {
        name_key(&self.0)
    }
}

/// A first or last name: trimmed, 1–100 characters, no control characters.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(field: &str, s: &str) -> Result<Self> {
        reject_controls(field, s)?;
        let s = s.trim();
        if s.is_empty() {
            return Err(Error::invalid(field, "must not be empty"));
        }
        if s.chars().count() > PERSON_NAME_MAX {
            return Err(Error::invalid(
                field,
                format!("must be at most {PERSON_NAME_MAX} characters"),
            ));
        }
        Ok(PersonName(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_like {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(&self.0) }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { fmt::Debug::fmt(&self.0, f) }
        }
    )*};
}
string_like!(Username, Email, PersonName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(Username::parse("Ada.Lovelace").unwrap().key(), "ada.lovelace");
        assert!(Username::parse("jürgen_m-1@corp").is_ok());
        assert!(Username::parse("").is_err());
        assert!(Username::parse("has space").is_err());
        assert!(Username::parse("tab\there").is_err());
        assert!(Username::parse("nul\0").is_err());
        assert!(Username::parse("semi;colon").is_err());
        assert!(Username::parse(&"a".repeat(128)).is_ok());
        assert!(Username::parse(&"a".repeat(129)).is_err());
        assert_eq!(
            Username::parse("ADA").unwrap().key(),
            Username::parse("ada").unwrap().key()
        );
    }

    #[test]
    fn emails() {
        assert_eq!(Email::parse("Ada@Example.ORG").unwrap().key(), "ada@example.org");
        assert!(Email::parse("first.last+tag@sub.example.co.uk").is_ok());
        for bad in [
            "",
            "plain",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@b.com\n",
            "Ada <ada@x.org>",
            "@x.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let long = format!("{}@example.org", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn person_names() {
        assert_eq!(PersonName::parse("first_name", "  Erwin ").unwrap().as_str(), "Erwin");
        assert_eq!(
            PersonName::parse("last_name", "Schrödinger").unwrap().as_str(),
            "Schrödinger"
        );
        assert!(PersonName::parse("first_name", "   ").is_err());
        assert!(PersonName::parse("first_name", "bell\u{7}").is_err());
        assert!(PersonName::parse("first_name", &"x".repeat(101)).is_err());
    }
}
