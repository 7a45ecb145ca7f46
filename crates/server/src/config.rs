//! The one place configuration is read. Each setting is resolved once, in the order
//! CONTRACT.md fixes — a flag, else an environment variable, else a key of `rollcall.toml`
//! in the working directory, else the default — into a typed [`Config`]. Nothing else in
//! rollcall reads the environment. An empty value counts as unset wherever it comes from.

use lettre::message::Mailbox;
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;

pub const DEFAULT_DATABASE: &str = "sqlite://rollcall.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_AUDIT_KEY_FILE: &str = "rollcall.audit-key";
pub const DEFAULT_LOG: &str = "info";
pub const DEFAULT_MAIL_FROM: &str = "rollcall <rollcall@localhost>";
/// The hour (local time) the daily jobs run at.
pub const DEFAULT_JOBS_HOUR: i64 = 3;
pub const DEFAULT_TIME_ZONE: &str = "UTC";
/// The file read from the working directory.
pub const FILE: &str = "rollcall.toml";

/// Everything a rollcall process is configured with, every value checked.
#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: String,
    /// `host:port`; port 0 picks a free port.
    pub listen: String,
    /// The public base URL (no trailing slash); `None`: `http://` and the listen address.
    pub base_url: Option<String>,
    /// A tracing filter (`ROLLCALL_LOG` syntax), already checked.
    pub log: String,
    /// How log lines are written (`ROLLCALL_LOG_FORMAT`).
    pub log_format: LogFormat,
    pub audit_key_file: PathBuf,
    /// `None`: mail stays in the outbox.
    pub smtp_url: Option<String>,
    pub mail_from: Mailbox,
    /// The first administrator's password, on a start that finds no administrator; `None`:
    /// a random one, printed once. Environment only: a secret has no place in a file that
    /// is copied around with the rest of the configuration.
    pub admin_password: Option<String>,
    /// The first administrator's email, on a start that finds no administrator
    /// (`ROLLCALL_ADMIN_EMAIL`); `None`: `admin@rollcall.invalid`, to be changed.
    pub admin_email: Option<String>,
    /// When the daily jobs run (`jobs_hour` in `time_zone`), and the zone dates such as
    /// `--reactivate-on` are days in.
    pub schedule: rollcall_core::domain::Schedule,
}

impl Config {
    /// The defaults, on the database at `url`: what a test or an embedding program starts
    /// from before setting what it needs.
    pub fn for_database(url: &str) -> Config {
        Config {
            database_url: url.to_owned(),
            listen: DEFAULT_LISTEN.into(),
            base_url: None,
            log: DEFAULT_LOG.into(),
            log_format: LogFormat::Text,
            audit_key_file: DEFAULT_AUDIT_KEY_FILE.into(),
            smtp_url: None,
            mail_from: default_mail_from(),
            admin_password: None,
            admin_email: None,
            schedule: rollcall_core::domain::Schedule::default(),
        }
    }

    /// The process's configuration: `flags` from the command line, then the process
    /// environment, then `./rollcall.toml` if it exists, then the defaults.
    pub fn load(flags: Flags) -> Result<Config, ConfigError> {
        let path = std::path::Path::new(FILE);
        let file = if path.exists() {
            let text =
                std::fs::read_to_string(path).map_err(|e| ConfigError::File(format!("can't read {FILE}: {e}")))?;
            FileConfig::parse(&text)?
        } else {
            FileConfig::default()
        };
        Config::resolve(flags, |name| std::env::var(name).ok(), file)
    }

    /// Resolves every setting from its sources, highest first. `env` looks a variable up.
    pub fn resolve(
        flags: Flags,
        env: impl Fn(&str) -> Option<String>,
        file: FileConfig,
    ) -> Result<Config, ConfigError> {
        let pick = |flag: Option<(&'static str, String)>, var: &'static str, key: Option<(&'static str, String)>| {
            first_set([
                flag.map(|(name, v)| (Source::Flag(name), v)),
                env(var).map(|v| (Source::Env(var), v)),
                key.map(|(name, v)| (Source::File(name), v)),
            ])
        };
        let database_url = pick(
            flags.database.map(|v| ("--database", v)),
            "ROLLCALL_DATABASE_URL",
            file.database.map(|v| ("database", v)),
        )
        .map_or_else(|| DEFAULT_DATABASE.to_owned(), |(_, v)| v);
        let listen = match pick(
            flags.listen.map(|v| ("--listen", v)),
            "ROLLCALL_LISTEN",
            file.listen.map(|v| ("listen", v)),
        ) {
            None => DEFAULT_LISTEN.to_owned(),
            Some((source, v)) => check(source, v, check_listen)?,
        };
        let base_url = pick(
            flags.base_url.map(|v| ("--base-url", v)),
            "ROLLCALL_BASE_URL",
            file.base_url.map(|v| ("base_url", v)),
        )
        .map(|(source, v)| check(source, v, check_base_url))
        .transpose()?;
        let log = match pick(None, "ROLLCALL_LOG", file.log.map(|v| ("log", v))) {
            None => DEFAULT_LOG.to_owned(),
            Some((source, v)) => check(source, v, check_log)?,
        };
        let log_format = match pick(None, "ROLLCALL_LOG_FORMAT", file.log_format.map(|v| ("log_format", v))) {
            None => LogFormat::Text,
            Some((source, v)) => match v.trim().to_ascii_lowercase().as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => {
                    return Err(ConfigError::Invalid {
                        source,
                        value: v,
                        problem: "is not a log format (text or json)".into(),
                    });
                }
            },
        };
        let audit_key_file = pick(
            flags.audit_key_file.map(|v| ("--audit-key-file", v)),
            "ROLLCALL_AUDIT_KEY_FILE",
            file.audit_key_file.map(|v| ("audit_key_file", v)),
        )
        .map_or_else(|| DEFAULT_AUDIT_KEY_FILE.into(), |(_, v)| PathBuf::from(v));
        let smtp_url = pick(None, "ROLLCALL_SMTP_URL", file.smtp_url.map(|v| ("smtp_url", v)))
            .map(|(source, v)| check(source, v, check_smtp_url))
            .transpose()?;
        let mail_from = match pick(None, "ROLLCALL_MAIL_FROM", file.mail_from.map(|v| ("mail_from", v))) {
            None => default_mail_from(),
            Some((source, v)) => v.parse::<Mailbox>().map_err(|e| ConfigError::Invalid {
                source,
                value: v.clone(),
                problem: format!("is not a mailbox like 'Training <training@example.org>' ({e})"),
            })?,
        };
        let admin_password = pick(None, "ROLLCALL_ADMIN_PASSWORD", None).map(|(_, v)| v);
        let admin_email = match pick(None, "ROLLCALL_ADMIN_EMAIL", None) {
            None => None,
            Some((source, v)) => match rollcall_core::domain::Email::parse(&v) {
                Ok(_) => Some(v.trim().to_owned()),
                Err(_) => {
                    return Err(ConfigError::Invalid {
                        source,
                        value: v,
                        problem: "is not an email address like admin@example.org".into(),
                    });
                }
            },
        };
        let (hour_source, hour) = match pick(
            flags.jobs_hour.map(|v| ("--jobs-hour", v)),
            "ROLLCALL_JOBS_HOUR",
            file.jobs_hour.map(|v| ("jobs_hour", v.to_string())),
        ) {
            None => (None, DEFAULT_JOBS_HOUR),
            Some((source, v)) => match v.trim().parse::<i64>() {
                Ok(h) if (0..24).contains(&h) => (Some(source), h),
                _ => {
                    return Err(ConfigError::Invalid {
                        source,
                        value: v,
                        problem: "is not an hour from 0 to 23".into(),
                    });
                }
            },
        };
        let (zone_source, zone) = match pick(
            flags.time_zone.map(|v| ("--time-zone", v)),
            "ROLLCALL_TIME_ZONE",
            file.time_zone.map(|v| ("time_zone", v)),
        ) {
            None => (None, DEFAULT_TIME_ZONE.to_owned()),
            Some((source, v)) => (Some(source), v),
        };
        // The hour is checked above: only the zone can be refused here.
        let schedule = rollcall_core::domain::Schedule::new(hour, &zone).map_err(|_| ConfigError::Invalid {
            source: zone_source.or(hour_source).unwrap_or(Source::File("time_zone")),
            value: zone.clone(),
            problem: "is not a known time zone (an IANA name such as UTC or Europe/Berlin)".into(),
        })?;
        Ok(Config {
            database_url,
            listen,
            base_url,
            log,
            log_format,
            audit_key_file,
            smtp_url,
            mail_from,
            admin_password,
            admin_email,
            schedule,
        })
    }

    /// The base URL links are built from: the configured one, else `http://` and the address
    /// the server listens on (`bound`, once known — port 0 becomes the port it got), else
    /// the listen address.
    pub fn public_base_url(&self, bound: Option<std::net::SocketAddr>) -> String {
        match (&self.base_url, bound) {
            (Some(base), _) => base.trim_end_matches('/').to_owned(),
            (None, Some(addr)) => format!("http://{addr}"),
            (None, None) => format!("http://{}", self.listen),
        }
    }
}

fn default_mail_from() -> Mailbox {
    DEFAULT_MAIL_FROM.parse().expect("the default sender is a mailbox")
}

/// How log lines are written: for people (`text`), or one JSON object per line for a log
/// collector (`json`), with the request's id and route in each line written inside it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// What the command line set; clap parses the flags, this module decides what they mean.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    pub database: Option<String>,
    pub listen: Option<String>,
    pub base_url: Option<String>,
    pub audit_key_file: Option<String>,
    pub jobs_hour: Option<String>,
    pub time_zone: Option<String>,
}

/// `rollcall.toml`: every key optional, unknown keys refused (a misspelt key would
/// otherwise be silently ignored).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub database: Option<String>,
    pub listen: Option<String>,
    pub base_url: Option<String>,
    pub log: Option<String>,
    pub log_format: Option<String>,
    pub audit_key_file: Option<String>,
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    /// The hour (0–23, local time) the daily jobs run at.
    pub jobs_hour: Option<i64>,
    /// An IANA time zone name: the daily jobs' hour and scheduled dates are in it.
    pub time_zone: Option<String>,
}

impl FileConfig {
    pub fn parse(text: &str) -> Result<FileConfig, ConfigError> {
        toml::from_str(text).map_err(|e| {
            ConfigError::File(format!(
                "{FILE} is not valid (keys: database, listen, base_url, log, log_format, audit_key_file, smtp_url, mail_from, jobs_hour, time_zone): {e}"
            ))
        })
    }
}

/// Where a value came from, as an error names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Flag(&'static str),
    Env(&'static str),
    File(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(name) => write!(f, "{name}"),
            Source::Env(name) => write!(f, "{name}"),
            Source::File(key) => write!(f, "{key} in {FILE}"),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// A value that doesn't do: which source gave it, and why.
    Invalid {
        source: Source,
        value: String,
        problem: String,
    },
    /// `rollcall.toml` can't be read or parsed.
    File(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The value is left out: it may hold a password (an SMTP URL's, say).
            ConfigError::Invalid { source, problem, .. } => write!(f, "{source} {problem}"),
            ConfigError::File(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The precedence itself: the first source that holds a non-empty value.
pub fn first_set<const N: usize>(candidates: [Option<(Source, String)>; N]) -> Option<(Source, String)> {
    candidates.into_iter().flatten().find(|(_, v)| !v.is_empty())
}

fn check(source: Source, value: String, rule: fn(&str) -> Result<(), String>) -> Result<String, ConfigError> {
    match rule(&value) {
        Ok(()) => Ok(value),
        Err(problem) => Err(ConfigError::Invalid { source, value, problem }),
    }
}

fn check_listen(v: &str) -> Result<(), String> {
    match v.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ => Err("is not an address like 127.0.0.1:8080 (host:port; port 0 picks a free one)".into()),
    }
}

fn check_base_url(v: &str) -> Result<(), String> {
    let rest = v.strip_prefix("https://").or_else(|| v.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') && !v.contains(['?', '#']) => Ok(()),
        _ => Err("is not a base URL like https://lms.example.org (http or https, no query)".into()),
    }
}

fn check_log(v: &str) -> Result<(), String> {
    tracing_subscriber::EnvFilter::try_new(v)
        .map(drop)
        .map_err(|e| format!("is not a valid tracing filter ({e})"))
}

fn check_smtp_url(v: &str) -> Result<(), String> {
    lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(v)
        .map(drop)
        .map_err(|e| {
            format!("is not a usable SMTP URL like smtp://mail.internal:25 or smtps://user:pass@mail.example.org ({e})")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The `NAME=value` settings a deployment file gives rollcall: systemd's
    /// `Environment=` lines, or the Containerfile's `ENV` block.
    fn deployment_env(text: &str) -> Vec<(String, String)> {
        text.lines()
            .map(|l| l.trim().trim_start_matches("Environment=").trim_start_matches("ENV "))
            .map(|l| l.trim_end_matches('\\').trim())
            .filter_map(|l| l.split_once('='))
            .filter(|(k, _)| k.starts_with("ROLLCALL_"))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn the_shipped_systemd_unit_and_containerfile_configure_a_valid_server() {
        for (file, text, listen) in [
            (
                "deploy/rollcall.service",
                include_str!("../../../deploy/rollcall.service"),
                "127.0.0.1:8080",
            ),
            ("Containerfile", include_str!("../../../Containerfile"), "0.0.0.0:8080"),
        ] {
            let vars: HashMap<String, String> = deployment_env(text).into_iter().collect();
            assert_eq!(vars.len(), 4, "{file}: {vars:?}");
            let config = Config::resolve(Flags::default(), |k| vars.get(k).cloned(), FileConfig::default())
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(config.database_url, "sqlite:///var/lib/rollcall/rollcall.db", "{file}");
            assert_eq!(
                config.audit_key_file,
                PathBuf::from("/var/lib/rollcall/rollcall.audit-key"),
                "{file}"
            );
            assert_eq!(config.listen, listen, "{file}");
            assert_eq!(config.log_format, LogFormat::Json, "{file}");
        }
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| vars.get(name).cloned()
    }

    fn file(text: &str) -> FileConfig {
        FileConfig::parse(text).unwrap()
    }

    #[test]
    fn the_first_non_empty_source_wins() {
        let flag = Some((Source::Flag("--listen"), "a:1".to_owned()));
        let var = Some((Source::Env("ROLLCALL_LISTEN"), "b:2".to_owned()));
        let key = Some((Source::File("listen"), "c:3".to_owned()));
        assert_eq!(first_set([flag.clone(), var.clone(), key.clone()]), flag);
        assert_eq!(first_set([None, var.clone(), key.clone()]), var);
        assert_eq!(
            first_set([Some((Source::Flag("--listen"), String::new())), None, key.clone()]),
            key,
            "an empty value counts as unset"
        );
        assert_eq!(first_set([None, None, None]), None);
    }

    #[test]
    fn flags_then_environment_then_file_then_defaults() {
        let toml = "database = 'sqlite://file.db'\nlisten = '0.0.0.0:3000'\nbase_url = 'https://file.example'\n\
                    log = 'debug'\naudit_key_file = 'file.key'\nsmtp_url = 'smtp://file.example:25'\n\
                    mail_from = 'File <file@example.org>'\n";
        let from_file = Config::resolve(Flags::default(), env(&[]), file(toml)).unwrap();
        assert_eq!(from_file.database_url, "sqlite://file.db");
        assert_eq!(from_file.listen, "0.0.0.0:3000");
        assert_eq!(from_file.base_url.as_deref(), Some("https://file.example"));
        assert_eq!(from_file.log, "debug");
        assert_eq!(from_file.audit_key_file, PathBuf::from("file.key"));
        assert_eq!(from_file.smtp_url.as_deref(), Some("smtp://file.example:25"));
        assert_eq!(from_file.mail_from.to_string(), "File <file@example.org>");

        let vars = env(&[
            ("ROLLCALL_DATABASE_URL", "sqlite://env.db"),
            ("ROLLCALL_LISTEN", "127.0.0.1:0"),
            ("ROLLCALL_BASE_URL", "https://env.example"),
            ("ROLLCALL_LOG", "warn"),
            ("ROLLCALL_AUDIT_KEY_FILE", "env.key"),
            ("ROLLCALL_SMTP_URL", "smtp://env.example:25"),
            ("ROLLCALL_MAIL_FROM", "env@example.org"),
            ("ROLLCALL_ADMIN_PASSWORD", "a long first passphrase"),
            ("ROLLCALL_ADMIN_EMAIL", "ops@example.org"),
        ]);
        let from_env = Config::resolve(Flags::default(), &vars, file(toml)).unwrap();
        assert_eq!(from_env.database_url, "sqlite://env.db");
        assert_eq!(from_env.listen, "127.0.0.1:0");
        assert_eq!(from_env.base_url.as_deref(), Some("https://env.example"));
        assert_eq!(from_env.log, "warn");
        assert_eq!(from_env.audit_key_file, PathBuf::from("env.key"));
        assert_eq!(from_env.smtp_url.as_deref(), Some("smtp://env.example:25"));
        assert_eq!(from_env.mail_from.to_string(), "env@example.org");
        assert_eq!(from_env.admin_password.as_deref(), Some("a long first passphrase"));
        assert_eq!(from_env.admin_email.as_deref(), Some("ops@example.org"));

        let flags = Flags {
            database: Some("postgres://flag/db".into()),
            listen: Some("[::1]:9000".into()),
            base_url: Some("http://flag.example/".into()),
            audit_key_file: Some("flag.key".into()),
            ..Flags::default()
        };
        let from_flags = Config::resolve(flags, &vars, file(toml)).unwrap();
        assert_eq!(from_flags.database_url, "postgres://flag/db");
        assert_eq!(from_flags.listen, "[::1]:9000");
        assert_eq!(from_flags.base_url.as_deref(), Some("http://flag.example/"));
        assert_eq!(from_flags.audit_key_file, PathBuf::from("flag.key"));

        let defaults = Config::resolve(
            Flags::default(),
            env(&[("ROLLCALL_SMTP_URL", "")]),
            FileConfig::default(),
        )
        .unwrap();
        assert_eq!(defaults.database_url, DEFAULT_DATABASE);
        assert_eq!(defaults.listen, DEFAULT_LISTEN);
        assert_eq!(defaults.base_url, None);
        assert_eq!(defaults.log, DEFAULT_LOG);
        assert_eq!(defaults.audit_key_file, PathBuf::from(DEFAULT_AUDIT_KEY_FILE));
        assert_eq!(defaults.smtp_url, None, "an empty variable is unset");
        assert_eq!(defaults.mail_from.to_string(), DEFAULT_MAIL_FROM);
        assert_eq!(defaults.admin_password, None);
    }

    #[test]
    fn the_base_url_defaults_to_the_listen_address() {
        let mut config = Config::for_database("sqlite://x.db");
        assert_eq!(config.public_base_url(None), "http://127.0.0.1:8080");
        let bound = "127.0.0.1:41234".parse().unwrap();
        assert_eq!(config.public_base_url(Some(bound)), "http://127.0.0.1:41234");
        config.base_url = Some("https://lms.example.org/".into());
        assert_eq!(config.public_base_url(Some(bound)), "https://lms.example.org");
    }

    #[test]
    fn errors_name_the_source_of_the_bad_value() {
        let err = |flags: Flags, vars: &[(&str, &str)], toml: &str| {
            Config::resolve(flags, env(vars), file(toml)).unwrap_err().to_string()
        };
        let listen = Flags {
            listen: Some("8080".into()),
            ..Flags::default()
        };
        assert!(err(listen, &[], "").starts_with("--listen is not an address"));
        assert!(err(Flags::default(), &[("ROLLCALL_LISTEN", "nowhere")], "").starts_with("ROLLCALL_LISTEN is not"));
        assert!(err(Flags::default(), &[], "listen = 'host:port'").starts_with("listen in rollcall.toml is not"));
        assert!(
            err(Flags::default(), &[("ROLLCALL_BASE_URL", "lms.example.org")], "").starts_with("ROLLCALL_BASE_URL")
        );
        assert!(err(Flags::default(), &[], "log = 'rollcall=loud'").starts_with("log in rollcall.toml is not a valid"));
        let smtp = err(Flags::default(), &[("ROLLCALL_SMTP_URL", "ftp://user:secret@mail")], "");
        assert!(smtp.starts_with("ROLLCALL_SMTP_URL is not a usable SMTP URL"), "{smtp}");
        assert!(!smtp.contains("secret"), "the value is not repeated: {smtp}");
        assert!(err(Flags::default(), &[], "mail_from = 'not an address'").starts_with("mail_from in rollcall.toml"));
        // A bad value lower down doesn't matter when a higher source is set.
        assert!(
            Config::resolve(
                Flags::default(),
                env(&[("ROLLCALL_LISTEN", "127.0.0.1:1")]),
                file("listen = 'bad'")
            )
            .is_ok()
        );
    }

    #[test]
    fn the_schedule_comes_from_flag_env_file_or_default() {
        let defaults = Config::resolve(Flags::default(), env(&[]), FileConfig::default()).unwrap();
        assert_eq!(
            (defaults.schedule.hour(), defaults.schedule.time_zone_name()),
            (3, "UTC")
        );
        let from_file = Config::resolve(
            Flags::default(),
            env(&[]),
            file("jobs_hour = 22\ntime_zone = 'Europe/Berlin'\n"),
        )
        .unwrap();
        assert_eq!(
            (from_file.schedule.hour(), from_file.schedule.time_zone_name()),
            (22, "Europe/Berlin")
        );
        let flags = Flags {
            jobs_hour: Some("0".into()),
            time_zone: Some("America/New_York".into()),
            ..Flags::default()
        };
        let vars = env(&[("ROLLCALL_JOBS_HOUR", "5"), ("ROLLCALL_TIME_ZONE", "Asia/Tokyo")]);
        let from_env = Config::resolve(Flags::default(), &vars, file("jobs_hour = 22\n")).unwrap();
        assert_eq!(
            (from_env.schedule.hour(), from_env.schedule.time_zone_name()),
            (5, "Asia/Tokyo")
        );
        let from_flags = Config::resolve(flags, &vars, FileConfig::default()).unwrap();
        assert_eq!(
            (from_flags.schedule.hour(), from_flags.schedule.time_zone_name()),
            (0, "America/New_York")
        );
    }

    #[test]
    fn a_bad_hour_or_zone_names_its_source() {
        let err = |vars: &[(&str, &str)], toml: &str| {
            Config::resolve(Flags::default(), env(vars), file(toml))
                .unwrap_err()
                .to_string()
        };
        let e = err(&[("ROLLCALL_JOBS_HOUR", "24")], "");
        assert_eq!(e, "ROLLCALL_JOBS_HOUR is not an hour from 0 to 23");
        let e = err(&[], "jobs_hour = -1");
        assert_eq!(e, "jobs_hour in rollcall.toml is not an hour from 0 to 23");
        let e = err(&[], "time_zone = 'Mars/Olympus'");
        assert!(
            e.starts_with("time_zone in rollcall.toml is not a known time zone"),
            "{e}"
        );
        let flags = Flags {
            time_zone: Some("Nowhere".into()),
            ..Flags::default()
        };
        let e = Config::resolve(flags, env(&[]), FileConfig::default())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--time-zone is not a known time zone"), "{e}");
    }

    #[test]
    fn the_file_refuses_unknown_keys() {
        let e = FileConfig::parse("databse = 'sqlite://x.db'").unwrap_err().to_string();
        assert!(e.starts_with("rollcall.toml is not valid"), "{e}");
        assert!(
            FileConfig::parse("admin_password = 'x'").is_err(),
            "the password is environment only"
        );
    }
}
