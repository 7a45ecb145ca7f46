//! The settings catalogue: each key, its allowed values and its default.

use crate::{Error, Result};
use ipnet::IpNet;
use std::net::IpAddr;

/// `password_sign_in`'s default: anyone with a password may use it.
pub const PASSWORD_SIGN_IN_EVERYONE: &str = "everyone";

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
    /// Whether SCIM sees groups made in rollcall: found by `/Groups` filters and reads, and
    /// linked (not refused as a duplicate) by a POST of their displayName.
    ScimLinkExistingGroups,
    /// The user type SCIM gives when the identity provider sends none or an unknown one.
    ScimDefaultType,
    /// What the enterprise `department` does: `create` (the branch of that name, created
    /// if missing), `existing` (only branches that exist), `off` (ignored).
    ScimDepartment,
    /// Whether a single sign-on may link an existing account nobody linked: `off`
    /// (default), `username` (the asserted username) or `email` (the email the identity
    /// provider asserted). Never accounts above the Instructor rank.
    SsoLinkExisting,
    /// Reverse proxies whose `X-Forwarded-For` is believed: comma-separated CIDRs (a bare
    /// address is its own /32 or /128); empty (the default) believes no header.
    TrustedProxies,
    /// A roster sync deactivating more than this percent of the active accounts in its
    /// scope is held back (0–100, default 10).
    SyncMaxDeactivationShare,
    /// A roster sync deactivating more than this many accounts is held back (default 50).
    SyncMaxDeactivations,
    /// Who may sign in with a password: `everyone` (default), or the username of the one
    /// break-glass administrator who still may once single sign-on is everyone else's only
    /// way in.
    PasswordSignIn,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettingValue {
    Bool(bool),
    Choice(&'static str),
    Days(i64),
    /// A percentage or a count.
    Count(i64),
    Text(String),
}

impl std::fmt::Display for SettingValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingValue::Bool(b) => f.write_str(if *b { "on" } else { "off" }),
            SettingValue::Choice(c) => f.write_str(c),
            SettingValue::Days(d) | SettingValue::Count(d) => write!(f, "{d}"),
            SettingValue::Text(t) => f.write_str(t),
        }
    }
}

impl Setting {
    pub const ALL: [Setting; 12] = [
        Setting::WelcomeEmail,
        Setting::ScimDelete,
        Setting::DeletionRetentionDays,
        Setting::ScimLinkExisting,
        Setting::ScimLinkExistingGroups,
        Setting::ScimDefaultType,
        Setting::ScimDepartment,
        Setting::SsoLinkExisting,
        Setting::TrustedProxies,
        Setting::SyncMaxDeactivationShare,
        Setting::SyncMaxDeactivations,
        Setting::PasswordSignIn,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Setting::WelcomeEmail => "welcome_email",
            Setting::ScimDelete => "scim_delete",
            Setting::DeletionRetentionDays => "deletion_retention_days",
            Setting::ScimLinkExisting => "scim_link_existing",
            Setting::ScimLinkExistingGroups => "scim_link_existing_groups",
            Setting::ScimDefaultType => "scim_default_type",
            Setting::ScimDepartment => "scim_department",
            Setting::SsoLinkExisting => "sso_link_existing",
            Setting::TrustedProxies => "trusted_proxies",
            Setting::SyncMaxDeactivationShare => "sync_max_deactivation_share",
            Setting::SyncMaxDeactivations => "sync_max_deactivations",
            Setting::PasswordSignIn => "password_sign_in",
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
            Setting::ScimLinkExisting | Setting::ScimLinkExistingGroups => SettingValue::Bool(false),
            Setting::ScimDefaultType => SettingValue::Text("learner".into()),
            Setting::ScimDepartment => SettingValue::Choice("create"),
            Setting::SsoLinkExisting => SettingValue::Choice("off"),
            Setting::TrustedProxies => SettingValue::Text(String::new()),
            Setting::SyncMaxDeactivationShare => SettingValue::Count(10),
            Setting::SyncMaxDeactivations => SettingValue::Count(50),
            Setting::PasswordSignIn => SettingValue::Text(PASSWORD_SIGN_IN_EVERYONE.into()),
        }
    }
    pub fn parse_value(self, s: &str) -> Result<SettingValue> {
        let v = s.trim().to_ascii_lowercase();
        let bad = |allowed: &str| Error::invalid(self.key(), format!("'{s}' is not allowed; use {allowed}"));
        match self {
            Setting::WelcomeEmail | Setting::ScimLinkExisting | Setting::ScimLinkExistingGroups => match v.as_str() {
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
            Setting::TrustedProxies => Ok(SettingValue::Text(TrustedProxies::parse(s)?.to_string())),
            Setting::PasswordSignIn => {
                let t = s.trim();
                if t.eq_ignore_ascii_case(PASSWORD_SIGN_IN_EVERYONE) {
                    return Ok(SettingValue::Text(PASSWORD_SIGN_IN_EVERYONE.into()));
                }
                if t.is_empty() || t.chars().count() > 128 || t.chars().any(char::is_control) {
                    return Err(bad("everyone, or the username of the break-glass administrator"));
                }
                Ok(SettingValue::Text(t.to_owned()))
            }
            Setting::SyncMaxDeactivationShare => match v.trim_end_matches('%').parse::<i64>() {
                Ok(p) if (0..=100).contains(&p) => Ok(SettingValue::Count(p)),
                _ => Err(bad("a percentage from 0 to 100")),
            },
            Setting::SyncMaxDeactivations => match v.parse::<i64>() {
                Ok(n) if (0..=1_000_000_000).contains(&n) => Ok(SettingValue::Count(n)),
                _ => Err(bad("a number of accounts, 0 or more")),
            },
            Setting::DeletionRetentionDays => match v.parse::<i64>() {
                Ok(d) if (1..=3650).contains(&d) => Ok(SettingValue::Days(d)),
                _ => Err(bad("a number of days from 1 to 3650")),
            },
        }
    }
}

/// The `trusted_proxies` setting: the networks whose connections may name the client in
/// `X-Forwarded-For`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// Entries read from `X-Forwarded-For` at most: a longer chain is cut at its right end.
const MAX_FORWARDED_HOPS: usize = 32;

impl TrustedProxies {
    /// Parses comma-separated CIDRs (or bare addresses); empty means none. A bad entry is
    /// refused naming the setting and the entry.
    pub fn parse(s: &str) -> Result<TrustedProxies> {
        let mut nets = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let net = part
                .parse::<IpNet>()
                .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    Error::invalid(
                        Setting::TrustedProxies.key(),
                        format!("'{part}' is not a network in CIDR notation (like 10.0.0.0/8 or fd00::/8)"),
                    )
                })?;
            let net = net.trunc();
            if !nets.contains(&net) {
                nets.push(net);
            }
        }
        Ok(TrustedProxies(nets))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn trusts(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        self.0.iter().any(|n| n.contains(&addr))
    }

    /// The client behind a connection from `peer` that sent these `X-Forwarded-For`
    /// values (in header order): the peer itself unless it is a trusted proxy; otherwise
    /// the right-most forwarded address that is not itself a trusted proxy. An entry that
    /// isn't an address ends the walk at the hop that forwarded it.
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded_for.iter().flat_map(|v| v.split(',')).map(str::trim).collect();
        let mut client = peer;
        for hop in hops.iter().rev().take(MAX_FORWARDED_HOPS) {
            let Some(addr) = parse_hop(hop) else {
                return client;
            };
            client = addr.to_canonical();
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }
}

/// An address as proxies write it: `192.0.2.1`, `2001:db8::1`, `192.0.2.1:4711`,
/// `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
}

impl std::fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(IpNet::to_string).collect();
        f.write_str(&parts.join(","))
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

    #[test]
    fn trusted_proxies_parse_and_pick_the_client() {
        let t = TrustedProxies::parse(" 10.0.0.0/8, 192.168.1.7 ,fd00::/8,").unwrap();
        assert_eq!(t.to_string(), "10.0.0.0/8,192.168.1.7/32,fd00::/8");
        assert_eq!(
            Setting::TrustedProxies.parse_value("10.1.2.3/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        let err = Setting::TrustedProxies
            .parse_value("10.0.0.0/8,10.0.0.0/33")
            .unwrap_err();
        assert!(err.to_string().contains("trusted_proxies"), "{err}");
        assert!(err.to_string().contains("10.0.0.0/33"), "{err}");
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // An untrusted peer is the client, whatever it claims.
        assert_eq!(t.client(ip("203.0.113.9"), &["198.51.100.1"]), ip("203.0.113.9"));
        // Through trusted proxies: the right-most address that isn't one.
        assert_eq!(
            t.client(ip("10.0.0.1"), &["1.1.1.1, 198.51.100.1", "192.168.1.7"]),
            ip("198.51.100.1")
        );
        assert_eq!(t.client(ip("10.0.0.1"), &["[2001:db8::1]:4711"]), ip("2001:db8::1"));
        assert_eq!(t.client(ip("::ffff:10.0.0.1"), &["198.51.100.2"]), ip("198.51.100.2"));
        // Garbage stops the walk at the proxy that forwarded it; no header: the peer.
        assert_eq!(t.client(ip("10.0.0.1"), &["nonsense"]), ip("10.0.0.1"));
        assert_eq!(t.client(ip("10.0.0.1"), &[]), ip("10.0.0.1"));
        assert_eq!(
            TrustedProxies::default().client(ip("10.0.0.1"), &["1.2.3.4"]),
            ip("10.0.0.1")
        );
    }
}
