//! rollcall's storage: one SQL implementation of `rollcall_core::ports` over SQLite and
//! PostgreSQL.
//!
//! Queries are written once, with `$N` placeholders (which SQLite accepts too), and run on
//! either backend through `SqlTx`'s statement runners, which compile the same code against
//! each driver. Dialect differences live in the migrations and in `tx/dialect.rs` (how a
//! transaction begins, row locks), nowhere else.

mod rows;
mod tx;

use async_trait::async_trait;
use rollcall_core::ports::{ReadTx, Store, Transaction, Tx, UserTx};
use rollcall_core::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;
use std::time::Duration;
pub use tx::copy::TableCount;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a SQLite writer waits for the write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a request waits for a PostgreSQL connection — a free one, or a new one while the
/// server refuses connections — before it is answered 503: long enough for a burst to
/// drain, short enough that clients aren't left hanging while the database is down.
const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many connections serve reads: SQLite readers don't block each other in WAL mode.
const SQLITE_READERS: u32 = 8;

#[derive(Clone)]
pub(crate) enum Pool {
    /// SQLite allows one writer at a time. Write transactions queue, in order, for the one
    /// `write` connection in this process instead of contending for the file's lock, where
    /// SQLite's busy handler sleeps between retries (milliseconds each, which is what made
    /// the tail latency of concurrent writes). Other processes on the same file (a CLI
    /// command beside the server) still meet at the lock, and the busy timeout waits for it.
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
    },
    Postgres(PgPool),
}

/// The store. Cheap to clone; holds a connection pool.
#[derive(Clone)]
pub struct SqlStore {
    pool: Pool,
}

/// A schema against this build's migrations ([`SqlStore::migration_state`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationState {
    /// Whether any migration was ever run here (a new, empty database: no).
    pub ever_migrated: bool,
    /// How many migrations this build carries.
    pub known: usize,
    /// Those not applied yet: (version, description).
    pub pending: Vec<(i64, String)>,
    /// Versions applied that this build doesn't carry.
    pub unknown: Vec<i64>,
}

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of(url: &str) -> Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(Error::invalid("database", "use a sqlite://PATH or postgres://… URL"))
        }
    }
}

/// A database URL with its password hidden, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &creds[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn is_locked(e: &sqlx::Error) -> bool {
    let text = e.to_string();
    text.contains("database is locked") || text.contains("database is busy")
}

pub(crate) fn db_err(e: sqlx::Error) -> Error {
    if is_unreachable(&e) {
        Error::unavailable(e)
    } else if is_nul_in_text(&e) {
        // Found by fuzzing the API: PostgreSQL's text can't hold U+0000, so a name carrying
        // it (a lookup, a filter) is bad input, not a failure. SQLite stores it, and then
        // finds no such name.
        Error::invalid("text", "text can't contain the NUL character (U+0000)")
    } else {
        Error::internal(e)
    }
}

/// PostgreSQL refused a parameter holding U+0000 (SQLSTATE 22021,
/// `character_not_in_repertoire`).
fn is_nul_in_text(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("22021"))
}

/// Whether a driver error says the database is out of reach rather than that a statement
/// failed: the connection broke or was refused, no connection came free in time, or
/// PostgreSQL ended the session (SQLSTATE class 08, `57P01`–`57P03` shutdown and
/// termination, `53300` too many connections).
fn is_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P") || c == "53300"),
        _ => false,
    }
}

/// The SQLite writer's page cache: 32 MiB (a negative `cache_size` is in KiB).
const WRITER_CACHE: &str = "-32768";

/// The reader and writer pools over one SQLite file.
async fn sqlite_pools(opts: SqliteConnectOptions, url: &str) -> Result<Pool> {
    let unreachable = |e: sqlx::Error| Error::internal(format!("can't open database {}: {e}", redact_url(url)));
    let opts = opts
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(SQLITE_BUSY_TIMEOUT);
    // Switching a new file to WAL takes an exclusive lock that the busy timeout
    // doesn't wait for, so processes opening a fresh database together retry.
    // The writer is opened first: it is the connection that makes the file WAL.
    let open = async |connections: u32, opts: SqliteConnectOptions| {
        let mut attempt = 0;
        loop {
            let opened = SqlitePoolOptions::new()
                .max_connections(connections)
                .min_connections(1)
                .acquire_timeout(SQLITE_BUSY_TIMEOUT)
                .connect_with(opts.clone())
                .await;
            match opened {
                Err(e) if attempt < 100 && is_locked(&e) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(10 + (attempt % 7) * 5)).await;
                }
                other => break other.map_err(unreachable),
            }
        }
    };
    // The one writer walks every index a write touches: a page cache of its own
    // the size of a large directory's upper B-tree levels, where SQLite's default
    // (2 MiB) sent a million-user import to the kernel for most pages it read.
    let write = open(1, opts.clone().pragma("cache_size", WRITER_CACHE)).await?;
    let read = open(SQLITE_READERS, opts).await?;
    Ok(Pool::Sqlite { read, write })
}

impl SqlStore {
    /// Connects (creating a SQLite file if missing). Does not migrate.
    pub async fn connect(url: &str) -> Result<SqlStore> {
        let unreachable = |e: sqlx::Error| Error::internal(format!("can't open database {}: {e}", redact_url(url)));
        let pool = match Backend::of(url)? {
            Backend::Sqlite => {
                let opts = SqliteConnectOptions::from_str(url)
                    .map_err(|e| Error::invalid("database", format!("bad SQLite URL: {e}")))?
                    .create_if_missing(true);
                sqlite_pools(opts, url).await?
            }
            Backend::Postgres => {
                let opts = PgConnectOptions::from_str(url)
                    .map_err(|e| Error::invalid("database", format!("bad PostgreSQL URL: {e}")))?;
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
                    .connect_with(opts)
                    .await
                    .map_err(unreachable)?;
                Pool::Postgres(pool)
            }
        };
        Ok(SqlStore { pool })
    }

    /// Brings the schema up to date. Safe to run from several processes at once: sqlx
    /// takes an advisory lock on PostgreSQL; on SQLite the migrations run inside one
    /// `BEGIN IMMEDIATE` transaction, so a second process waits and then finds them applied.
    pub async fn migrate(&self) -> Result<()> {
        let failed = |e: &dyn std::fmt::Display| Error::internal(format!("migration failed: {e}"));
        match &self.pool {
            Pool::Sqlite { write, .. } => {
                let mut tx = write
                    .begin_with(tx::dialect::SQLITE_BEGIN_WRITE)
                    .await
                    .map_err(|e| failed(&e))?;
                SQLITE_MIGRATIONS.run(&mut tx).await.map_err(|e| failed(&e))?;
                tx.commit().await.map_err(|e| failed(&e))?;
            }
            Pool::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await.map_err(|e| failed(&e))?,
        }
        // Keys the SQL of a migration can't compute the way rollcall does, a batch per
        // transaction so sign-ins aren't held up for long.
        let mut filled = 0;
        loop {
            let mut tx = Box::new(self.pool.begin_write().await?);
            let batch = tx.fill_missing_sort_keys().await?;
            tx.commit().await?;
            if batch == 0 {
                break;
            }
            filled += batch;
        }
        if filled > 0 {
            tracing::info!(filled, "filled the sort keys of existing users");
        }
        Ok(())
    }

    /// Writes a consistent copy of the database to `path` (which must not exist), as a SQLite
    /// file, while the server may keep running: SQLite's `VACUUM INTO`, or for PostgreSQL
    /// every table from one snapshot.
    pub async fn backup(&self, path: &std::path::Path) -> Result<()> {
        if path.exists() {
            return Err(Error::invalid(
                "path",
                format!("{} already exists; choose a new file", path.display()),
            ));
        }
        match &self.pool {
            Pool::Sqlite { read: p, .. } => {
                let target = path
                    .to_str()
                    .ok_or_else(|| Error::invalid("path", "the path is not valid UTF-8"))?;
                sqlx::query("VACUUM INTO $1")
                    .bind(target)
                    .execute(p)
                    .await
                    .map(drop)
                    .map_err(db_err)
            }
            // One snapshot of PostgreSQL, written into a new SQLite file: a backup that
            // `restore` reads into either backend, and that sqlite3 can open.
            Pool::Postgres(_) => {
                let file = SqlStore::open_sqlite_file(path, true).await?;
                let copied = async {
                    file.migrate().await?;
                    self.copy_into(&file).await.map(drop)
                }
                .await;
                file.close().await;
                if copied.is_err() {
                    for suffix in ["", "-wal", "-shm"] {
                        let mut p = path.as_os_str().to_owned();
                        p.push(suffix);
                        let _ = std::fs::remove_file(p);
                    }
                }
                copied
            }
        }
    }

    /// Copies the whole installation — every table of the schema, from one snapshot of this
    /// database — into `target`, which must hold none (a database that was only migrated,
    /// or a new one), in one transaction there. Then counts each table on both sides.
    /// Both must be migrated to the same schema first.
    pub async fn copy_into(&self, target: &SqlStore) -> Result<Vec<TableCount>> {
        let mut dst = target.pool.begin_write().await?;
        if dst.holds_installation().await? {
            return Err(Error::invalid(
                "target",
                "the target database already holds an installation (accounts, courses, tokens or audit entries); copy into an empty database",
            ));
        }
        let tables = dst.schema_tables().await?;
        let mut src = self.pool.begin_read().await?;
        let in_source: std::collections::BTreeSet<String> =
            src.schema_tables().await?.into_iter().map(|t| t.name).collect();
        if let Some(missing) = tables.iter().find(|t| !in_source.contains(&t.name)) {
            return Err(Error::invalid(
                "source",
                format!(
                    "the source has no table {}: bring it up to date with rollcall migrate",
                    missing.name
                ),
            ));
        }
        dst.clear_tables(&tables).await?;
        let mut counts = Vec::with_capacity(tables.len());
        for table in &tables {
            let source = src.count_rows(&table.name).await?;
            let copied = dst.copy_rows_from(&mut src, table).await?;
            if copied != source {
                return Err(Error::internal(format!(
                    "{}: {source} rows in the source, {copied} copied",
                    table.name
                )));
            }
            counts.push(TableCount {
                table: table.name.clone(),
                source,
                target: 0,
            });
        }
        dst.advance_sequences(&tables).await?;
        Box::new(dst).commit().await?;
        drop(src);
        let mut check = target.pool.begin_read().await?;
        for c in &mut counts {
            c.target = check.count_rows(&c.table).await?;
        }
        Ok(counts)
    }

    /// Connects to a database that must exist already: a SQLite URL naming no file is
    /// refused instead of creating one.
    pub async fn connect_existing(url: &str) -> Result<SqlStore> {
        if Backend::of(url)? == Backend::Sqlite {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| Error::invalid("database", format!("bad SQLite URL: {e}")))?;
            let path = opts.get_filename();
            if !path.is_file() {
                return Err(Error::invalid(
                    "database",
                    format!("there is no SQLite database at {}", path.display()),
                ));
            }
            return SqlStore::open_sqlite_file(path, false).await;
        }
        SqlStore::connect(url).await
    }

    /// Opens the SQLite database in the file at `path`; `create` makes a new one when there is none.
    pub async fn open_sqlite_file(path: &std::path::Path, create: bool) -> Result<SqlStore> {
        let shown = path.display().to_string();
        let opts = SqliteConnectOptions::new().filename(path).create_if_missing(create);
        Ok(SqlStore {
            pool: sqlite_pools(opts, &shown).await?,
        })
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite { .. } => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// How this database's schema stands against the migrations this build carries, without
    /// changing anything: those not applied yet, and versions applied that this build
    /// doesn't know (a newer rollcall migrated it).
    pub async fn migration_state(&self) -> Result<MigrationState> {
        let known = SqlStore::migration_versions(self.backend());
        let (has_table, applied): (bool, Vec<(i64,)>) = match &self.pool {
            Pool::Sqlite { read, .. } => {
                let (n,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
                )
                .fetch_one(read)
                .await
                .map_err(db_err)?;
                let applied = if n > 0 {
                    sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success")
                        .fetch_all(read)
                        .await
                        .map_err(db_err)?
                } else {
                    vec![]
                };
                (n > 0, applied)
            }
            Pool::Postgres(p) => {
                let (exists,): (bool,) = sqlx::query_as("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                    .fetch_one(p)
                    .await
                    .map_err(db_err)?;
                let applied = if exists {
                    sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success")
                        .fetch_all(p)
                        .await
                        .map_err(db_err)?
                } else {
                    vec![]
                };
                (exists, applied)
            }
        };
        let applied: std::collections::BTreeSet<i64> = applied.into_iter().map(|(v,)| v).collect();
        let known_versions: std::collections::BTreeSet<i64> = known.iter().map(|(v, _)| *v).collect();
        Ok(MigrationState {
            ever_migrated: has_table,
            known: known.len(),
            pending: known.into_iter().filter(|(v, _)| !applied.contains(v)).collect(),
            unknown: applied.difference(&known_versions).copied().collect(),
        })
    }

    /// The migration versions each backend knows, for the lockstep test.
    pub fn migration_versions(backend: Backend) -> Vec<(i64, String)> {
        let m = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        m.iter().map(|m| (m.version, m.description.to_string())).collect()
    }

    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Pool::Postgres(p) => p.close().await,
        }
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn begin(&self) -> Result<Box<dyn Tx>> {
        Ok(Box::new(self.pool.begin_write().await?))
    }

    async fn begin_read(&self) -> Result<Box<dyn ReadTx>> {
        Ok(Box::new(self.pool.begin_read().await?))
    }

    async fn ping(&self) -> Result<()> {
        match &self.pool {
            Pool::Sqlite { read: p, .. } => sqlx::query("SELECT 1").execute(p).await.map(drop),
            Pool::Postgres(p) => sqlx::query("SELECT 1").execute(p).await.map(drop),
        }
        .map_err(db_err)
    }

    async fn refresh_statistics(&self) -> Result<Vec<String>> {
        let Pool::Postgres(p) = &self.pool else {
            return Ok(vec![]);
        };
        // autovacuum's own threshold: 50 rows plus a tenth of the table.
        const STALE: &str = "SELECT relname::text FROM pg_stat_user_tables WHERE schemaname = current_schema() \
             AND n_mod_since_analyze > 50 + 0.1 * n_live_tup ORDER BY relname";
        let stale: Vec<(String,)> = sqlx::query_as(STALE).fetch_all(p).await.map_err(db_err)?;
        let mut analyzed = vec![];
        for (table,) in stale {
            let sql = format!("ANALYZE \"{}\"", table.replace('"', "\"\""));
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(p).await.map_err(db_err)?;
            analyzed.push(table);
        }
        Ok(analyzed)
    }

    async fn after_bulk_write(&self) -> Result<()> {
        match &self.pool {
            // On the writer connection, so it does not wait behind (or for) our own writer;
            // readers still in the log make it checkpoint what it can and return.
            Pool::Sqlite { write, .. } => sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(write)
                .await
                .map(drop),
            Pool::Postgres(p) => {
                sqlx::query("ANALYZE users, user_branches, group_members, enrollments, audit_log, audit_personal")
                    .execute(p)
                    .await
                    .map(drop)
            }
        }
        .map_err(db_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://rollcall.db"), "sqlite://rollcall.db");
    }

    #[test]
    fn migrations_are_in_lockstep() {
        let sqlite = SqlStore::migration_versions(Backend::Sqlite);
        assert!(!sqlite.is_empty());
        assert_eq!(sqlite, SqlStore::migration_versions(Backend::Postgres));
    }

    #[test]
    fn backend_from_url() {
        assert_eq!(Backend::of("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of("postgresql://h/db").unwrap(), Backend::Postgres);
        assert!(Backend::of("mysql://h/db").is_err());
    }
}
