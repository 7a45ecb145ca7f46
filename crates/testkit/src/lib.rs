//! A fresh database per test, on either backend, and the tests' own configuration.
//!
//! SQLite: a file in a temporary directory, removed on drop. PostgreSQL: a new database on
//! the server named by `ROLLCALL_TEST_POSTGRES_URL`, dropped on drop. Without that variable
//! PostgreSQL tests are skipped — except under `CI=true`, where they fail, so CI can't pass
//! without them.
#![allow(clippy::unwrap_used)] // test and benchmark support: a failure ends the run

use sqlx::Connection;
use std::path::{Path, PathBuf};

/// The environment variables tests read, each read here only (rollcall itself reads its
/// configuration in `rollcall_server::config`).
mod test_env {
    pub fn var(name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

pub const POSTGRES_ENV: &str = "ROLLCALL_TEST_POSTGRES_URL";

/// The audit key every in-process test service uses (`Service::with_audit_key`), so entries
/// written by one test service verify under another on the same database.
pub const TEST_AUDIT_KEY: [u8; 32] = *b"rollcall-test-audit-key-32-bytes";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

/// Whether the tests run under CI (`CI=true` or `CI=1`), where a test whose peer (PostgreSQL,
/// Chromium, a Python checker) is missing fails instead of skipping. The one place tests ask.
pub fn in_ci() -> bool {
    test_env::var("CI").is_some_and(|v| v == "true" || v == "1")
}

/// The project's checkout, where `.ci/run` makes the Python venv (`.venv`).
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's Python (with the test peers' packages), or `ROLLCALL_PYTHON`.
pub fn python() -> PathBuf {
    test_env::var("ROLLCALL_PYTHON").map_or_else(|| project_root().join(".venv/bin/python"), PathBuf::from)
}

/// Whether the venv's Python has `module`; under CI a missing one fails the test instead
/// (`.ci/run` installs them), elsewhere the test says it skips.
pub fn python_has(module: &str) -> bool {
    let python = python();
    let has = std::process::Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        assert!(!in_ci(), "CI=true but the venv has no {module} (.ci/run installs it)");
        eprintln!("skipping: no {module} in {}", python.display());
    }
    has
}

/// The venv's `scim2` command (scim2-cli), or `ROLLCALL_SCIM2_CLI`.
pub fn scim2_cli() -> PathBuf {
    test_env::var("ROLLCALL_SCIM2_CLI").map_or_else(|| project_root().join(".venv/bin/scim2"), PathBuf::from)
}

/// axe-core's `axe.min.js`: `ROLLCALL_AXE_JS`, else the copy PyPI's `axe-playwright-python`
/// bundles in the venv; `None` when neither exists.
pub fn axe_js() -> Option<PathBuf> {
    test_env::var("ROLLCALL_AXE_JS").map(PathBuf::from).or_else(|| {
        std::fs::read_dir(project_root().join(".venv/lib"))
            .ok()?
            .flatten()
            .map(|python| python.path().join("site-packages/axe_playwright_python/axe.min.js"))
            .find(|p| p.exists())
    })
}

/// A bound on a poll or a walk, so a test that would wait or page forever fails instead,
/// naming what it waited for.
pub struct Deadline {
    until: std::time::Instant,
    what: &'static str,
}

impl Deadline {
    pub fn after(limit: std::time::Duration, what: &'static str) -> Deadline {
        Deadline {
            until: std::time::Instant::now() + limit,
            what,
        }
    }

    /// Fails the test once the deadline has passed.
    #[track_caller]
    pub fn check(&self) {
        assert!(std::time::Instant::now() < self.until, "gave up waiting: {}", self.what);
    }

    /// Awaits `f`, failing the test if it doesn't finish by the deadline.
    pub async fn run<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        let left = self.until.saturating_duration_since(std::time::Instant::now());
        match tokio::time::timeout(left, f).await {
            Ok(v) => v,
            Err(_) => panic!("gave up waiting: {}", self.what),
        }
    }
}

/// Replaces the database name in a PostgreSQL URL.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{db}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl TestDb {
    pub async fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => Some(TestDb::sqlite()),
            Backend::Postgres => TestDb::postgres().await,
        }
    }

    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("rollcall.db").display());
        TestDb {
            url,
            backend: Backend::Sqlite,
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// Runs raw SQL against the test database, as someone editing it by hand would.
    pub async fn execute(&self, sql: &str) {
        let r = match self.backend {
            Backend::Sqlite => sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&mut sqlx::SqliteConnection::connect(&self.url).await.expect("connect"))
                .await
                .map(drop),
            Backend::Postgres => sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&mut sqlx::PgConnection::connect(&self.url).await.expect("connect"))
                .await
                .map(drop),
        };
        r.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Reads one text value by raw SQL (the first column of the first row).
    pub async fn fetch_text(&self, sql: &str) -> Option<String> {
        match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await.expect("connect");
                sqlx::query_as::<_, (Option<String>,)>(sqlx::AssertSqlSafe(sql.to_owned()))
                    .fetch_optional(&mut c)
                    .await
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.expect("connect");
                sqlx::query_as::<_, (Option<String>,)>(sqlx::AssertSqlSafe(sql.to_owned()))
                    .fetch_optional(&mut c)
                    .await
            }
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .and_then(|(v,)| v)
    }

    /// `None` (skip) when PostgreSQL isn't configured outside CI.
    pub async fn postgres() -> Option<TestDb> {
        let Some(admin_url) = test_env::var(POSTGRES_ENV) else {
            assert!(
                !in_ci(),
                "CI=true but {POSTGRES_ENV} is not set: the PostgreSQL tests must run in CI"
            );
            eprintln!("skipping: set {POSTGRES_ENV} to run the PostgreSQL half of this test");
            return None;
        };
        let name = format!("rollcall_test_{:016x}", rand::random::<u64>());
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_ENV} is set but PostgreSQL is unreachable: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create a test database");
        let _ = conn.close().await;
        Some(TestDb {
            url: with_database(&admin_url, &name),
            backend: Backend::Postgres,
            _dir: None,
            postgres: Some((admin_url, name)),
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Drop may run inside a runtime; a separate thread with its own runtime can block.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await?;
                conn.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop a test database");
        }
    }
}

/// Declares a test that runs once per backend: `both_backends!(name, |db| async move {...})`
/// expands to `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::TestDb::new($crate::Backend::Sqlite)
                    .await
                    .expect("sqlite");
                ($body)(db).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::TestDb::new($crate::Backend::Postgres).await {
                    ($body)(db).await;
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5432/test", "x"),
            "postgres://u@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
