//! Configuration: flags override environment variables (both handled by clap), which
//! override `rollcall.toml` in the working directory, which overrides the defaults.

use anyhow::{Context as _, Result};
use rollcall_core::audit::AuditKey;
use serde::Deserialize;

pub const DEFAULT_DATABASE: &str = "sqlite://rollcall.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_AUDIT_KEY_FILE: &str = "rollcall.audit-key";

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub database: Option<String>,
    pub listen: Option<String>,
    pub base_url: Option<String>,
    pub log: Option<String>,
    pub audit_key_file: Option<String>,
}

impl FileConfig {
    pub fn load() -> Result<FileConfig> {
        let path = std::path::Path::new("rollcall.toml");
        if !path.exists() {
            return Ok(FileConfig::default());
        }
        let text = std::fs::read_to_string(path).context("can't read rollcall.toml")?;
        toml::from_str(&text)
            .context("rollcall.toml is not valid (keys: database, listen, base_url, log, audit_key_file)")
    }
}

/// Reads the audit key from `path` (64 hex digits, and on an installation whose log began
/// before keys existed a second line `keyed_from=N`), creating it — 32 random bytes, mode
/// 0600 — when it doesn't exist yet, recording `keyed_from` when it is past 1. Two
/// processes starting at once end up with the same key: the file appears whole or not at
/// all (written aside, then linked into place).
pub fn audit_key(path: &std::path::Path, keyed_from: i64) -> Result<AuditKey> {
    use std::io::Write as _;
    if !path.exists() {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let tmp = dir.join(format!(".rollcall.audit-key.{}", std::process::id()));
        let written = (|| -> std::io::Result<()> {
            let mut f = open_private(&tmp)?;
            f.write_all(hex::encode(AuditKey::generate().to_bytes()).as_bytes())?;
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
        written.with_context(|| format!("can't create the audit key file {}", path.display()))?;
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
        _ => Err(anyhow::anyhow!(
            "{} is not a rollcall audit key (64 hex digits, optionally a line keyed_from=N)",
            path.display()
        )),
    }
}

#[cfg(unix)]
fn open_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create_new(true).open(path)
}
