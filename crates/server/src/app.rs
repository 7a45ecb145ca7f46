//! The composition root: from a [`Config`] to a running rollcall — the store, the audit
//! key, the service, the first administrator, the listener, the HTTP application, the
//! scheduled jobs and the mail sender. `rollcall serve` and the integration tests build it
//! the same way; tests only swap the clock and the mail transport.

use crate::config::Config;
use crate::mailer::{MailSender, MailTransport, SmtpTransport};
use anyhow::{Context as _, Result, anyhow};
use rollcall_core::Service;
use rollcall_core::audit::AuditKey;
use rollcall_core::clock::Clock;
use rollcall_store::SqlStore;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How often the scheduled jobs run.
pub const JOB_INTERVAL: Duration = Duration::from_secs(60);

/// Whether [`open_service`] refuses an audit key that isn't the one the log was sealed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyCheck {
    /// Every command that changes anything.
    Refuse,
    /// `audit` commands: they go on regardless, to report what is wrong.
    Report,
}

/// Connects to the configured database, brings its schema up to date and opens the service
/// with the audit key. A missing key file is created only while the audit log holds no entry
/// sealed under a key.
pub async fn open_service(config: &Config, check: KeyCheck) -> Result<Service> {
    let store = SqlStore::connect(&config.database_url).await?;
    store.migrate().await?;
    let service = Service::new(Arc::new(store))
        .with_base_url(&config.public_base_url(None))
        .with_schedule(config.schedule.clone());
    let path = &config.audit_key_file;
    if !path.exists()
        && (service.system().audit_key_matches().await?.is_some() || service.system().audit_key_claimed().await?)
    {
        return Err(anyhow!(
            "the audit key file {} is missing, but this database's audit log was written with a key: restore the file from your backup, or point --audit-key-file at it",
            path.display()
        ));
    }
    let keyed_from = service.system().audit_keyed_from().await?;
    let service = service.with_audit_key(audit_key(path, keyed_from)?);
    if check == KeyCheck::Refuse
        && (service.system().audit_key_matches().await? == Some(false) || !service.system().claim_audit_key().await?)
    {
        return Err(anyhow!(
            "the audit key in {} is not the one this database's audit log was sealed with: point --audit-key-file at the right file (rollcall audit verify shows what is wrong)",
            path.display()
        ));
    }
    Ok(service)
}

/// Reads the audit key from `path` (64 hex digits, and on an installation whose log began
/// before keys existed a second line `keyed_from=N`), creating it — 32 random bytes, mode
/// 0600 — when it doesn't exist yet, recording `keyed_from` when it is past 1. Two
/// processes starting at once end up with the same key: the file appears whole or not at
/// all (written aside, then linked into place).
pub fn audit_key(path: &Path, keyed_from: i64) -> Result<AuditKey> {
    if !path.exists() {
        write_audit_key(path, &AuditKey::generate(), keyed_from)?;
        // Logged by `serve`; quiet for one-off commands, whose stderr is for errors.
        tracing::info!(
            path = %path.display(),
            "created the audit key file: back it up with the database; every rollcall process on this database needs it"
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("can't read the audit key file {}", path.display()))?;
    let mut lines = text.lines();
    let key = lines
        .next()
        .and_then(|l| hex::decode(l.trim()).ok())
        .and_then(|b| AuditKey::from_bytes(&b));
    let boundary = match lines.map(str::trim).find(|l| !l.is_empty()) {
        None => Some(1),
        Some(l) => l
            .strip_prefix("keyed_from=")
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n >= 1),
    };
    match (key, boundary) {
        (Some(k), Some(b)) => Ok(k.keyed_from(b)),
        _ => Err(anyhow!(
            "{} is not a rollcall audit key (64 hex digits, optionally a line keyed_from=N)",
            path.display()
        )),
    }
}

/// Writes `key` to a new file at `path`, mode 0600; an existing file is left as it is.
pub fn write_audit_key(path: &Path, key: &AuditKey, keyed_from: i64) -> Result<()> {
    use std::io::Write as _;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".rollcall.audit-key.{}", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut f = open_private(&tmp)?;
        f.write_all(hex::encode(key.to_bytes()).as_bytes())?;
        f.write_all(b"\n")?;
        if keyed_from > 1 {
            f.write_all(format!("keyed_from={keyed_from}\n").as_bytes())?;
        }
        f.sync_all()?;
        match std::fs::hard_link(&tmp, path) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    written.with_context(|| format!("can't create the audit key file {}", path.display()))
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create_new(true).open(path)
}

/// The administrator a first start created.
#[derive(Clone, Debug)]
pub struct FirstAdmin {
    pub username: String,
    /// The random password, when none was configured: for the terminal, once.
    pub generated_password: Option<String>,
}

/// A built application, listening, not yet serving.
pub struct App {
    service: Service,
    listener: TcpListener,
    base_url: String,
    first_admin: Option<FirstAdmin>,
    mail: Option<MailSender>,
    mail_polls: bool,
}

/// What tests may change about how an [`App`] is composed.
pub struct AppBuilder {
    config: Config,
    clock: Option<Arc<dyn Clock>>,
    transport: Option<Arc<dyn MailTransport>>,
    mail_polls: bool,
    first_admin: bool,
}

impl AppBuilder {
    /// The clock the service reads the time from (the system's unless given).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> AppBuilder {
        self.clock = Some(clock);
        self
    }

    /// Where mail goes instead of the configured SMTP server.
    pub fn mail_transport(mut self, transport: Arc<dyn MailTransport>) -> AppBuilder {
        self.transport = Some(transport);
        self
    }

    /// Mail is sent only when asked ([`App::mail_sender`]), never by the polling task: for
    /// tests that look at the outbox before anything is sent.
    pub fn send_mail_on_demand(mut self) -> AppBuilder {
        self.mail_polls = false;
        self
    }

    /// No first administrator: for tests whose fixtures make every user themselves, on a
    /// database that starts empty.
    pub fn without_first_admin(mut self) -> AppBuilder {
        self.first_admin = false;
        self
    }

    /// Opens the service, creates the first administrator on a database without one,
    /// and binds the listen address.
    pub async fn build(self) -> Result<App> {
        let config = self.config;
        let mut service = open_service(&config, KeyCheck::Refuse).await?;
        if let Some(clock) = self.clock {
            service = service.with_clock(clock);
        }
        let first_admin = match self.first_admin {
            true => {
                service
                    .system()
                    .ensure_first_admin(config.admin_password.clone(), config.admin_email.clone())
                    .await?
            }
            false => None,
        }
        .map(|(username, generated_password)| FirstAdmin {
            username,
            generated_password,
        });
        let listener = TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("can't listen on {}", config.listen))?;
        let base_url = config.public_base_url(Some(listener.local_addr()?));
        let service = service.with_base_url(&base_url);
        let transport: Option<Arc<dyn MailTransport>> = match (self.transport, &config.smtp_url) {
            (Some(t), _) => Some(t),
            (None, Some(url)) => Some(Arc::new(SmtpTransport::new(url).context("the SMTP URL is not usable")?)),
            (None, None) => {
                tracing::info!(
                    "no SMTP server is configured (ROLLCALL_SMTP_URL): mail stays in the outbox (rollcall mail list)"
                );
                None
            }
        };
        let mail = transport.map(|t| MailSender::new(service.clone(), t, config.mail_from.clone()));
        Ok(App {
            service,
            listener,
            base_url,
            first_admin,
            mail,
            mail_polls: self.mail_polls,
        })
    }
}

impl App {
    /// The application as configured.
    pub async fn build(config: Config) -> Result<App> {
        App::builder(config).build().await
    }

    pub fn builder(config: Config) -> AppBuilder {
        AppBuilder {
            config,
            clock: None,
            transport: None,
            mail_polls: true,
            first_admin: true,
        }
    }

    /// The service everything is served from.
    pub fn service(&self) -> &Service {
        &self.service
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The public base URL links and SCIM locations are built from.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The administrator this start created, if it created one.
    pub fn first_admin(&self) -> Option<&FirstAdmin> {
        self.first_admin.as_ref()
    }

    /// The mail sender, when mail has somewhere to go.
    pub fn mail_sender(&self) -> Option<&MailSender> {
        self.mail.as_ref()
    }

    /// Serves until `shutdown` completes, then drains in-flight requests. The scheduled
    /// jobs and the mail sender run meanwhile and stop with it.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        tracing::info!(base_url = %self.base_url, "rollcall serving");
        // Stopped when serving ends, and also when this future is dropped unfinished.
        let _jobs = AbortOnDrop(crate::jobs::spawn(self.service.clone(), JOB_INTERVAL));
        let _mailer = match self.mail {
            Some(sender) if self.mail_polls => Some(AbortOnDrop(sender.spawn(crate::mailer::POLL))),
            _ => None,
        };
        let app = crate::app(self.service, &self.base_url).into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, app).with_graceful_shutdown(shutdown).await
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
