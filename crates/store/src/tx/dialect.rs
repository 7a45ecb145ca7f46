//! Where SQLite and PostgreSQL differ outside the migrations: how a transaction begins and
//! how a read locks rows. Everything else (`RETURNING`, `ON CONFLICT`, `IS NOT DISTINCT
//! FROM`, `$N` placeholders) both accept as written.

use super::{Inner, SqlTx};
use crate::{Pool, db_err};
use rollcall_core::Result;

/// SQLite's write transactions, and its migrations: IMMEDIATE takes the write lock now; a
/// deferred transaction that reads first could fail when upgrading, which the busy timeout
/// can't wait out.
pub(crate) const SQLITE_BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// One snapshot for the whole read, as SQLite gives: a paged walk (audit verify) must not
/// see entries sealed after it began.
const POSTGRES_BEGIN_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

impl Pool {
    /// A transaction that will write. PostgreSQL's default (READ COMMITTED) with row locks
    /// where a read decides a write (`FOR UPDATE`, or the plan row's counter update).
    pub(crate) async fn begin_write(&self) -> Result<SqlTx> {
        let inner = match self {
            Pool::Sqlite { write, .. } => Inner::Sqlite(write.begin_with(SQLITE_BEGIN_WRITE).await.map_err(db_err)?),
            Pool::Postgres(p) => Inner::Postgres(p.begin().await.map_err(db_err)?),
        };
        Ok(SqlTx { inner })
    }

    /// A transaction that only reads.
    pub(crate) async fn begin_read(&self) -> Result<SqlTx> {
        let inner = match self {
            Pool::Sqlite { read, .. } => Inner::Sqlite(read.begin().await.map_err(db_err)?),
            Pool::Postgres(p) => Inner::Postgres(p.begin_with(POSTGRES_BEGIN_READ).await.map_err(db_err)?),
        };
        Ok(SqlTx { inner })
    }
}

impl SqlTx {
    /// Appended to a `SELECT` whose rows the transaction will change: PostgreSQL locks them
    /// until it ends; SQLite has no `FOR UPDATE`, and needs none (a write transaction holds
    /// the database's write lock from its start).
    pub(super) fn for_update(&self) -> &'static str {
        match self.inner {
            Inner::Sqlite(_) => "",
            Inner::Postgres(_) => " FOR UPDATE",
        }
    }
}
