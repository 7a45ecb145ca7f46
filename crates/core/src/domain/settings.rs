//! The settings catalogue: each key, its allowed values and its default.

use crate::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// Send a welcome email when an account is created.
    WelcomeEmail,
    /// What a SCIM DELETE does: `deactivate` (default; records kept) or `delete`.
    ScimDelete,
    /// Days a deleted user stays restorable in the trash before purge.
    DeletionRetentionDays,
    /// Whether SCIM may take over accounts created outside SCIM (matched by userName).
    ScimLinkExisting,
    /// The user type SCIM gives when the identity provider sends none or an unknown one.
    ScimDefaultType,
    /// What the enterprise `department` does: `create` (the branch of that name, created
    /// if missing), `existing` (only branches that exist), `off` (ignored).
    ScimDepartment,
    /// Whether a single sign-on may link an existing account nobody linked: `off`
    /// (default), `username` (the asserted username) or `email` (the email the identity
    /// provider asserted). Never accounts above the Instructor rank.
    SsoLinkExisting,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettingValue {
    Bool(bool),
    Choice(&'static str),
    Days(i64),
    Text(String),
}

impl std::fmt::Display for SettingValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingValue::Bool(b) => f.write_str(if *b { "on" } else { "off" }),
            SettingValue::Choice(c) => f.write_str(c),
            SettingValue::Days(d) => write!(f, "{d}"),
            SettingValue::Text(t) => f.write_str(t),
        }
    }
}

impl Setting {
    pub const ALL: [Setting; 7] = [
        Setting::WelcomeEmail,
        Setting::ScimDelete,
        Setting::DeletionRetentionDays,
        Setting::ScimLinkExisting,
        Setting::ScimDefaultType,
        Setting::ScimDepartment,
        Setting::SsoLinkExisting,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Setting::WelcomeEmail => "welcome_email",
            Setting::ScimDelete => "scim_delete",
            Setting::DeletionRetentionDays => "deletion_retention_days",
            Setting::ScimLinkExisting => "scim_link_existing",
            Setting::ScimDefaultType => "scim_default_type",
            Setting::ScimDepartment => "scim_department",
            Setting::SsoLinkExisting => "sso_link_existing",
        }
    }
    pub fn parse_key(s: &str) -> Result<Setting> {
        let k = s.trim().to_ascii_lowercase();
        Setting::ALL.into_iter().find(|x| x.key() == k).ok_or_else(|| {
            let keys: Vec<_> = Setting::ALL.iter().map(|s| s.key()).collect();
            Error::invalid("key", format!("unknown setting '{s}'; settings: {}", keys.join(", ")))
        })
    }
    pub fn default_value(self) -> SettingValue {
        match self {
            Setting::WelcomeEmail => SettingValue::Bool(true),
            Setting::ScimDelete => SettingValue::Choice("deactivate"),
            Setting::DeletionRetentionDays => SettingValue::Days(30),
            Setting::ScimLinkExisting => SettingValue::Bool(false),
            Setting::ScimDefaultType => SettingValue::Text("learner".into()),
            Setting::ScimDepartment => SettingValue::Choice("create"),
            Setting::SsoLinkExisting => SettingValue::Choice("off"),
        }
    }
    pub fn parse_value(self, s: &str) -> Result<SettingValue> {
        let v = s.trim().to_ascii_lowercase();
        let bad = |allowed: &str| Error::invalid(self.key(), format!("'{s}' is not allowed; use {allowed}"));
        match self {
            Setting::WelcomeEmail | Setting::ScimLinkExisting => match v.as_str() {
                "on" | "true" | "yes" | "1" => Ok(SettingValue::Bool(true)),
                "off" | "false" | "no" | "0" => Ok(SettingValue::Bool(false)),
                _ => Err(bad("on or off")),
            },
            Setting::ScimDelete => match v.as_str() {
                "deactivate" => Ok(SettingValue::Choice("deactivate")),
                "delete" => Ok(SettingValue::Choice("delete")),
                _ => Err(bad("deactivate or delete")),
            },
            Setting::ScimDefaultType => {
                let t = s.trim();
                if t.is_empty() || t.chars().count() > 64 || t.chars().any(char::is_control) {
                    return Err(bad("the name of a user type"));
                }
                Ok(SettingValue::Text(t.to_owned()))
            }
            Setting::ScimDepartment => match v.as_str() {
                "create" => Ok(SettingValue::Choice("create")),
                "existing" => Ok(SettingValue::Choice("existing")),
                "off" => Ok(SettingValue::Choice("off")),
                _ => Err(bad("create, existing or off")),
            },
            Setting::SsoLinkExisting => match v.as_str() {
                "off" => Ok(SettingValue::Choice("off")),
                "username" => Ok(SettingValue::Choice("username")),
                "email" => Ok(SettingValue::Choice("email")),
                _ => Err(bad("off, username or email")),
            },
            Setting::DeletionRetentionDays => match v.parse::<i64>() {
                Ok(d) if (1..=3650).contains(&d) => Ok(SettingValue::Days(d)),
                _ => Err(bad("a number of days from 1 to 3650")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_default() {
        assert_eq!(Setting::parse_key("Welcome_Email").unwrap(), Setting::WelcomeEmail);
        assert!(Setting::parse_key("colour").is_err());
        assert_eq!(
            Setting::WelcomeEmail.parse_value("OFF").unwrap(),
            SettingValue::Bool(false)
        );
        assert!(Setting::WelcomeEmail.parse_value("maybe").is_err());
        assert_eq!(Setting::ScimDelete.parse_value("delete").unwrap().to_string(), "delete");
        assert!(Setting::ScimDelete.parse_value("purge").is_err());
        assert!(Setting::DeletionRetentionDays.parse_value("0").is_err());
        assert_eq!(Setting::DeletionRetentionDays.default_value(), SettingValue::Days(30));
        assert_eq!(Setting::SsoLinkExisting.default_value().to_string(), "off");
        assert_eq!(
            Setting::SsoLinkExisting.parse_value("Email").unwrap(),
            SettingValue::Choice("email")
        );
        assert!(Setting::SsoLinkExisting.parse_value("on").is_err());
    }
}
