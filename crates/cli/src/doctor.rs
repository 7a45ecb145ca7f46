//! `rollcall doctor`: what an administrator checks before (and after) a start, without
//! changing anything — the configuration, the database and its schema, the audit key, SMTP,
//! the base URL against the session cookies, and the IdP's certificates.

use crate::args::Format;
use crate::output::{Table, emit};
use anyhow::Result;
use rollcall_core::Service;
use rollcall_core::ports::Store as _;
use rollcall_server::config::{Config, ConfigError};
use rollcall_server::mailer::SmtpTransport;
use rollcall_store::SqlStore;
use serde::Serialize;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// A certificate this close to its end is a failure: there is still time to replace it.
const CERTIFICATE_WARNING_DAYS: i64 = 30;

/// How long the SMTP server has to greet.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    /// Merely unset or unusual: said, but the exit status stays 0.
    Warn,
    Fail,
}

#[derive(Serialize)]
struct Check {
    check: &'static str,
    status: Status,
    detail: String,
}

#[derive(Serialize)]
struct Report {
    ok: bool,
    checks: Vec<Check>,
}

#[derive(Default)]
struct Checks(Vec<Check>);

impl Checks {
    fn push(&mut self, check: &'static str, status: Status, detail: impl Into<String>) {
        self.0.push(Check {
            check,
            status,
            detail: detail.into(),
        });
    }
}

pub async fn doctor(loaded: Result<Config, ConfigError>, format: Format) -> Result<ExitCode> {
    let mut checks = Checks::default();
    match loaded {
        Ok(config) => {
            checks.push(
                "configuration",
                Status::Ok,
                format!(
                    "valid (database {}, listen {})",
                    rollcall_store::redact_url(&config.database_url),
                    config.listen
                ),
            );
            database(&config, &mut checks).await;
            smtp(&config, &mut checks).await;
            base_url(&config, &mut checks);
        }
        Err(e) => checks.push("configuration", Status::Fail, e.to_string()),
    }
    let report = Report {
        ok: checks.0.iter().all(|c| c.status != Status::Fail),
        checks: checks.0,
    };
    let mut table = Table::new(&["STATUS", "CHECK", "DETAIL"]);
    for c in &report.checks {
        let status = match c.status {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        table.row(vec![status.into(), c.check.into(), c.detail.clone()]);
    }
    emit(format, &table, &report)?;
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Reachable, migrated by this version; then what lives in it: the audit key's match and
/// the single sign-on certificates.
async fn database(config: &Config, checks: &mut Checks) {
    if let Some(path) = config.database_url.strip_prefix("sqlite:") {
        let path = std::path::Path::new(path.trim_start_matches("//").split('?').next().unwrap_or(""));
        if !path.exists() {
            checks.push(
                "database",
                Status::Warn,
                format!(
                    "no SQLite database at {} yet: the first rollcall serve creates it",
                    path.display()
                ),
            );
            return;
        }
    }
    let store = match SqlStore::connect_existing(&config.database_url).await {
        Ok(s) => s,
        Err(e) => {
            checks.push("database", Status::Fail, format!("can't be opened: {e}"));
            return;
        }
    };
    if let Err(e) = store.ping().await {
        checks.push("database", Status::Fail, format!("does not answer: {e}"));
        return;
    }
    checks.push("database", Status::Ok, "reachable");
    match store.migration_state().await {
        Err(e) => checks.push("schema", Status::Fail, format!("can't be read: {e}")),
        Ok(m) if !m.unknown.is_empty() => checks.push(
            "schema",
            Status::Fail,
            format!(
                "migrated by a newer rollcall (versions {:?} are unknown to this one): run that version",
                m.unknown
            ),
        ),
        Ok(m) if !m.pending.is_empty() => {
            let status = if m.ever_migrated { Status::Fail } else { Status::Warn };
            let detail = if m.ever_migrated {
                format!(
                    "{} of {} migrations not applied (the first: {} {}): rollcall migrate applies them",
                    m.pending.len(),
                    m.known,
                    m.pending[0].0,
                    m.pending[0].1
                )
            } else {
                "empty: rollcall serve (or rollcall migrate) creates the schema".to_owned()
            };
            checks.push("schema", status, detail);
        }
        Ok(m) => {
            checks.push("schema", Status::Ok, format!("up to date ({} migrations)", m.known));
            let service = Service::new(Arc::new(store.clone()));
            audit_key(config, &service, checks).await;
            certificates(&service, checks).await;
        }
    }
    store.close().await;
}

async fn audit_key(config: &Config, service: &Service, checks: &mut Checks) {
    let path = &config.audit_key_file;
    let sealed_with_key = async {
        Ok::<_, rollcall_core::Error>(
            service.system().audit_key_matches().await?.is_some() || service.system().audit_key_claimed().await?,
        )
    };
    if !path.exists() {
        match sealed_with_key.await {
            Ok(true) => checks.push(
                "audit key",
                Status::Fail,
                format!(
                    "{} is missing, but the audit log was sealed with a key: restore the file from your backup",
                    path.display()
                ),
            ),
            Ok(false) => checks.push(
                "audit key",
                Status::Warn,
                format!("{} does not exist yet; the first start creates it", path.display()),
            ),
            Err(e) => checks.push("audit key", Status::Fail, format!("can't be checked: {e}")),
        }
        return;
    }
    let keyed_from = service.system().audit_keyed_from().await.unwrap_or(1);
    let key = match rollcall_server::app::audit_key(path, keyed_from) {
        Ok(k) => k,
        Err(e) => {
            checks.push("audit key", Status::Fail, format!("{e:#}"));
            return;
        }
    };
    match service.clone().with_audit_key(key).system().audit_key_matches().await {
        Ok(Some(false)) => checks.push(
            "audit key",
            Status::Fail,
            format!(
                "{} is not the key this database's audit log was sealed with",
                path.display()
            ),
        ),
        Ok(_) => checks.push(
            "audit key",
            Status::Ok,
            format!("{} matches the audit log", path.display()),
        ),
        Err(e) => checks.push("audit key", Status::Fail, format!("can't be checked: {e}")),
    }
}

async fn certificates(service: &Service, checks: &mut Checks) {
    let sso = match service.public().sso_config().await {
        Ok(Some(c)) => c,
        Ok(None) => {
            checks.push("single sign-on", Status::Ok, "not configured");
            return;
        }
        Err(e) => {
            checks.push("single sign-on", Status::Fail, format!("can't be read: {e}"));
            return;
        }
    };
    let now = chrono::Utc::now().timestamp();
    for (i, cert) in sso.signing_certs.iter().enumerate() {
        let which = if sso.signing_certs.len() > 1 {
            format!("the IdP's signing certificate {}", i + 1)
        } else {
            "the IdP's signing certificate".to_owned()
        };
        match rollcall_saml::certificate_not_after(cert) {
            Err(e) => checks.push("saml certificate", Status::Fail, format!("{which}: {e}")),
            Ok(end) => {
                let (status, detail) = certificate_status(&which, end, now);
                checks.push("saml certificate", status, detail);
            }
        }
    }
}

/// A certificate ending at `end`, seen at `now` (both seconds since the epoch).
fn certificate_status(which: &str, end: i64, now: i64) -> (Status, String) {
    let day = chrono::DateTime::from_timestamp(end, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let days = (end - now).div_euclid(86_400);
    if end <= now {
        (
            Status::Fail,
            format!(
                "{which} expired on {day}: no SSO sign-in can succeed; load the IdP's new metadata with rollcall sso set"
            ),
        )
    } else if days <= CERTIFICATE_WARNING_DAYS {
        (
            Status::Fail,
            format!(
                "{which} expires on {day}, in {days} days: load the IdP's new metadata with rollcall sso set before then"
            ),
        )
    } else {
        (Status::Ok, format!("{which} is valid until {day} ({days} days)"))
    }
}

async fn smtp(config: &Config, checks: &mut Checks) {
    let Some(url) = &config.smtp_url else {
        checks.push(
            "smtp",
            Status::Warn,
            "not configured (ROLLCALL_SMTP_URL): mail stays in the outbox (rollcall mail list)",
        );
        return;
    };
    match SmtpTransport::check(url, SMTP_TIMEOUT).await {
        Ok(()) => checks.push("smtp", Status::Ok, "the server answers"),
        Err(e) => checks.push("smtp", Status::Fail, format!("the server can't be reached: {e}")),
    }
}

/// The base URL decides whether session cookies are `Secure` (and `__Host-`): over plain
/// HTTP to an address others reach, sessions would travel readable.
fn base_url(config: &Config, checks: &mut Checks) {
    let Some(base) = &config.base_url else {
        checks.push(
            "base url",
            Status::Warn,
            format!(
                "not configured (ROLLCALL_BASE_URL): links in mail and SAML use http://{}, and session cookies are not Secure",
                config.listen
            ),
        );
        return;
    };
    if base.starts_with("https://") {
        checks.push("base url", Status::Ok, format!("{base}: session cookies are Secure"));
        return;
    }
    let host = base
        .trim_start_matches("http://")
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let local = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if local {
        checks.push(
            "base url",
            Status::Warn,
            format!("{base}: plain HTTP on this machine only; use https:// for anyone else to sign in"),
        );
    } else {
        checks.push(
            "base url",
            Status::Fail,
            format!("{base}: session cookies would travel without Secure over plain HTTP; use an https:// address (behind a TLS proxy, its address)"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_fails_from_thirty_days_before_its_end() {
        let end = 1_800_000_000;
        let day = 86_400;
        assert_eq!(certificate_status("c", end, end - 31 * day - 1).0, Status::Ok);
        let (status, detail) = certificate_status("c", end, end - 10 * day);
        assert_eq!(status, Status::Fail);
        assert!(detail.contains("in 10 days"), "{detail}");
        let (status, detail) = certificate_status("c", end, end + 1);
        assert_eq!(status, Status::Fail);
        assert!(detail.contains("expired on 2027-01-15"), "{detail}");
    }
}
