//! Branches and groups.

use super::access::UserTypeId;
use crate::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BranchId(pub i64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub i64);

/// A sub-organisation. `active_users` is maintained with every status and membership change
/// so a seat cap is checked in O(1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Branch<I = BranchId> {
    /// [`Unsaved`](super::Unsaved) until the row is written.
    pub id: I,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub default_type_id: Option<UserTypeId>,
    pub seat_cap: Option<i64>,
    pub active_users: i64,
}

impl Branch<super::Unsaved> {
    /// The row as written, under the id the store gave it.
    pub fn saved(self, id: BranchId) -> Branch {
        Branch {
            id,
            name: self.name,
            slug: self.slug,
            description: self.description,
            default_type_id: self.default_type_id,
            seat_cap: self.seat_cap,
            active_users: self.active_users,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group<I = GroupId> {
    /// [`Unsaved`](super::Unsaved) until the row is written.
    pub id: I,
    pub name: String,
    pub branch_id: Option<BranchId>,
    /// The code a learner types to join.
    pub key: Option<String>,
    pub description: String,
    pub external_id: Option<String>,
    /// Managed by the identity provider over SCIM.
    pub scim_linked: bool,
    pub created_at: super::Millis,
    pub updated_at: super::Millis,
}

impl Group<super::Unsaved> {
    /// The row as written, under the id the store gave it.
    pub fn saved(self, id: GroupId) -> Group {
        Group {
            id,
            name: self.name,
            branch_id: self.branch_id,
            key: self.key,
            description: self.description,
            external_id: self.external_id,
            scim_linked: self.scim_linked,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// Validates a branch or group name: 1–100 characters, no control characters, no `|`
/// (the CSV multi-value separator).
pub fn validate_org_name(field: &str, s: &str) -> Result<String> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 100 {
        return Err(Error::invalid(field, "must have 1 to 100 characters"));
    }
    if s.chars().any(|c| c.is_control() || c == '|') {
        return Err(Error::invalid(field, "must not contain control characters or '|'"));
    }
    Ok(s.to_owned())
}

/// A URL-safe slug from a branch name: lowercase ASCII letters, digits and dashes.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-').to_owned();
    if slug.is_empty() { "branch".to_owned() } else { slug }
}

/// A group key: 4–64 characters of letters, digits, `-` and `_`.
pub fn validate_group_key(s: &str) -> Result<String> {
    let s = s.trim();
    if !(4..=64).contains(&s.chars().count()) || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(Error::invalid(
            "key",
            "a group key has 4 to 64 letters, digits, '-' or '_'",
        ));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_slugs_and_keys() {
        assert_eq!(validate_org_name("name", " North ").unwrap(), "North");
        assert!(validate_org_name("name", "").is_err());
        assert!(validate_org_name("name", "a|b").is_err());
        assert_eq!(slugify("North & South Ops"), "north-south-ops");
        assert_eq!(slugify("Ünïcode"), "n-code");
        assert_eq!(slugify("!!!"), "branch");
        assert!(validate_group_key("SAFE-2026").is_ok());
        assert!(validate_group_key("abc").is_err());
        assert!(validate_group_key("has space").is_err());
    }
}
