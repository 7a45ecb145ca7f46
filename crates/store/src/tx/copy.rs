//! Copying a whole installation from one database to another — SQLite or PostgreSQL on
//! either side — for `backup` (of PostgreSQL, into a SQLite file), `restore` and
//! `migrate-data`.
//!
//! The copy is generic over the schema: the tables, their columns and their foreign keys
//! are read from the target's catalog (both backends carry the same migrations), rows are
//! read from one snapshot of the source and written, parents before children, in one
//! transaction on the target. A value converts to the target column's kind (SQLite keeps a
//! boolean as an integer; PostgreSQL doesn't).

use super::{Arg, Inner, SqlTx, values_list};
use crate::db_err;
use futures_util::TryStreamExt as _;
use rollcall_core::{Error, Result};
use sqlx::{AssertSqlSafe, Row as _, TypeInfo as _, ValueRef as _};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// What a column holds, as far as moving it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
    Bool,
    Bytes,
}

impl Kind {
    fn of_declared(table: &str, column: &str, declared: &str) -> Result<Kind> {
        let t = declared.to_ascii_uppercase();
        Ok(if t.contains("INT") {
            Kind::Int
        } else if t.contains("BOOL") {
            Kind::Bool
        } else if t.contains("TEXT") || t.contains("CHAR") {
            Kind::Text
        } else if t.contains("BLOB") || t.contains("BYTEA") {
            Kind::Bytes
        } else {
            return Err(Error::internal(format!(
                "{table}.{column} has a column type ({declared}) the copy doesn't know"
            )));
        })
    }
}

/// A value as read from the source, before it takes the target column's kind.
#[derive(Debug)]
enum Value {
    Null,
    Int(i64),
    Text(String),
    Bool(bool),
    Bytes(Vec<u8>),
}

impl Value {
    fn into_arg(self, kind: Kind, at: &str) -> Result<Arg<'static>> {
        Ok(match (kind, self) {
            (Kind::Int, Value::Null) => Arg::Int(None),
            (Kind::Text, Value::Null) => Arg::Text(None),
            (Kind::Bool, Value::Null) => Arg::Bool(None),
            (Kind::Bytes, Value::Null) => Arg::Bytes(None),
            (Kind::Int, Value::Int(n)) => Arg::Int(Some(n)),
            (Kind::Int, Value::Bool(b)) => Arg::Int(Some(i64::from(b))),
            (Kind::Bool, Value::Bool(b)) => Arg::Bool(Some(b)),
            (Kind::Bool, Value::Int(n)) => Arg::Bool(Some(n != 0)),
            (Kind::Text, Value::Text(s)) => Arg::Text(Some(Cow::Owned(s))),
            (Kind::Bytes, Value::Bytes(b)) => Arg::Bytes(Some(Cow::Owned(b))),
            (Kind::Bytes, Value::Text(s)) => Arg::Bytes(Some(Cow::Owned(s.into_bytes()))),
            (kind, v) => {
                return Err(Error::internal(format!(
                    "{at}: a {v:?} in the source can't go into a {kind:?} column"
                )));
            }
        })
    }
}

/// Reads column `i` of a row of either driver as a [`Value`], by the type the driver
/// reports (SQLite: the stored value's own type; PostgreSQL: the column's).
macro_rules! read_value {
    ($row:expr, $i:expr, $at:expr) => {{
        let raw = $row.try_get_raw($i).map_err(db_err)?;
        if raw.is_null() {
            Value::Null
        } else {
            let name = raw.type_info().name().to_ascii_uppercase();
            if name.contains("INT") {
                Value::Int($row.try_get::<i64, _>($i).map_err(db_err)?)
            } else if name.contains("BOOL") {
                Value::Bool($row.try_get::<bool, _>($i).map_err(db_err)?)
            } else if name.contains("TEXT") || name.contains("CHAR") || name == "NAME" {
                Value::Text($row.try_get::<String, _>($i).map_err(db_err)?)
            } else if name.contains("BLOB") || name.contains("BYTEA") {
                Value::Bytes($row.try_get::<Vec<u8>, _>($i).map_err(db_err)?)
            } else {
                return Err(Error::internal(format!(
                    "{}: a value of type {name} the copy doesn't know",
                    $at
                )));
            }
        }
    }};
}

/// A table of the schema: its columns in order, with their kinds.
#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) name: String,
    columns: Vec<(String, Kind)>,
}

/// How many rows one table held in the source's snapshot and holds in the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableCount {
    pub table: String,
    pub source: u64,
    pub target: u64,
}

/// Tables that belong to the database engine or the migrator, not to the installation.
fn is_internal(table: &str) -> bool {
    table.starts_with("sqlite_") || table == "_sqlx_migrations"
}

/// `name` as a quoted identifier (every name comes from the catalog; quoting keeps a
/// reserved word such as `groups` or `plan` a name on both backends).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl SqlTx {
    /// The installation's tables, parents before the tables that refer to them.
    pub(crate) async fn schema_tables(&mut self) -> Result<Vec<Table>> {
        let sqlite = matches!(self.inner, Inner::Sqlite(_));
        let names: Vec<(String,)> = if sqlite {
            self.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", &[])
                .await?
        } else {
            self.fetch_all(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
                &[],
            )
            .await?
        };
        let names: Vec<String> = names.into_iter().map(|(n,)| n).filter(|n| !is_internal(n)).collect();
        let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut columns: BTreeMap<String, Vec<(String, Kind)>> = BTreeMap::new();
        for name in &names {
            let (cols, refs): (Vec<(String, String)>, Vec<(String,)>) = if sqlite {
                (
                    self.fetch_all(
                        "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
                        &[name.into()],
                    )
                    .await?,
                    self.fetch_all(
                        "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list($1)",
                        &[name.into()],
                    )
                    .await?,
                )
            } else {
                (
                    self.fetch_all(
                        "SELECT column_name::text, data_type::text FROM information_schema.columns \
                         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                        &[name.into()],
                    )
                    .await?,
                    self.fetch_all(
                        "SELECT DISTINCT parent.relname::text FROM pg_constraint c \
                         JOIN pg_class child ON child.oid = c.conrelid \
                         JOIN pg_class parent ON parent.oid = c.confrelid \
                         JOIN pg_namespace ns ON ns.oid = child.relnamespace \
                         WHERE c.contype = 'f' AND ns.nspname = current_schema() AND child.relname = $1",
                        &[name.into()],
                    )
                    .await?,
                )
            };
            let kinds = cols
                .into_iter()
                .map(|(c, t)| Kind::of_declared(name, &c, &t).map(|k| (c, k)))
                .collect::<Result<Vec<_>>>()?;
            columns.insert(name.clone(), kinds);
            parents.insert(
                name.clone(),
                refs.into_iter().map(|(p,)| p).filter(|p| p != name).collect(),
            );
        }
        // Parents first (Kahn's algorithm, alphabetical among equals so the order is stable).
        let mut ordered = Vec::with_capacity(names.len());
        let mut placed = BTreeSet::new();
        while placed.len() < names.len() {
            let ready: Vec<String> = names
                .iter()
                .filter(|n| !placed.contains(*n) && parents[*n].iter().all(|p| placed.contains(p)))
                .cloned()
                .collect();
            if ready.is_empty() {
                return Err(Error::internal("the schema's foreign keys form a cycle"));
            }
            for n in ready {
                placed.insert(n.clone());
                ordered.push(Table {
                    columns: columns.remove(&n).unwrap_or_default(),
                    name: n,
                });
            }
        }
        Ok(ordered)
    }

    pub(crate) async fn count_rows(&mut self, table: &str) -> Result<u64> {
        let n = self
            .fetch_i64(AssertSqlSafe(format!("SELECT COUNT(*) FROM {}", ident(table))), &[])
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Whether this database holds an installation someone used: any account, audit entry,
    /// course or token. A database that was only migrated holds none of them.
    pub(crate) async fn holds_installation(&mut self) -> Result<bool> {
        for table in ["users", "audit_log", "courses", "api_tokens"] {
            if self.count_rows(table).await? > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Empties every table (the rows the migrations seed), children first.
    pub(crate) async fn clear_tables(&mut self, tables: &[Table]) -> Result<()> {
        for t in tables.iter().rev() {
            self.execute(AssertSqlSafe(format!("DELETE FROM {}", ident(&t.name))), &[])
                .await?;
        }
        Ok(())
    }

    /// Copies every row of `table` from `source` (a snapshot) into this transaction;
    /// returns how many rows were copied.
    pub(crate) async fn copy_rows_from(&mut self, source: &mut SqlTx, table: &Table) -> Result<u64> {
        let names: Vec<String> = table.columns.iter().map(|(c, _)| ident(c)).collect();
        let select = format!("SELECT {} FROM {}", names.join(", "), ident(&table.name));
        let insert = format!("INSERT INTO {} ({}) VALUES ", ident(&table.name), names.join(", "));
        // PostgreSQL binds cheaply; SQLite's driver pays per parameter per parameter.
        let per_statement = match self.inner {
            Inner::Sqlite(_) => super::rows_per_statement(names.len()),
            Inner::Postgres(_) => (8192 / names.len().max(1)).max(1),
        };
        let mut batch: Vec<Vec<Arg<'static>>> = Vec::with_capacity(per_statement);
        let mut copied = 0u64;
        let width = table.columns.len();
        macro_rules! each_row {
            ($conn:expr) => {{
                let mut rows = sqlx::query(AssertSqlSafe(select.clone())).fetch($conn);
                while let Some(row) = rows.try_next().await.map_err(db_err)? {
                    if row.columns().len() != width {
                        return Err(Error::internal(format!(
                            "{}: the source has other columns",
                            table.name
                        )));
                    }
                    let mut values = Vec::with_capacity(width);
                    for (i, (column, kind)) in table.columns.iter().enumerate() {
                        let at = format!("{}.{column}", table.name);
                        values.push(read_value!(row, i, at).into_arg(*kind, &at)?);
                    }
                    batch.push(values);
                    if batch.len() == per_statement {
                        copied += self.insert_rows(&insert, std::mem::take(&mut batch)).await?;
                    }
                }
            }};
        }
        match &mut source.inner {
            Inner::Sqlite(t) => each_row!(&mut **t),
            Inner::Postgres(t) => each_row!(&mut **t),
        }
        if !batch.is_empty() {
            copied += self.insert_rows(&insert, batch).await?;
        }
        Ok(copied)
    }

    async fn insert_rows(&mut self, insert: &str, rows: Vec<Vec<Arg<'static>>>) -> Result<u64> {
        let (values, args) = values_list(rows);
        self.execute(AssertSqlSafe(format!("{insert}{values}")), &args).await
    }

    /// On PostgreSQL, moves each identity column's sequence past the ids copied in, so the
    /// next row made gets a new id (SQLite's AUTOINCREMENT follows inserted ids by itself).
    pub(crate) async fn advance_sequences(&mut self, tables: &[Table]) -> Result<()> {
        if matches!(self.inner, Inner::Sqlite(_)) {
            return Ok(());
        }
        for t in tables.iter().filter(|t| t.columns.iter().any(|(c, _)| c == "id")) {
            let (sequence,): (Option<String>,) = self
                .fetch_one("SELECT pg_get_serial_sequence($1, 'id')", &[ident(&t.name).into()])
                .await?;
            let Some(sequence) = sequence else { continue };
            let highest = self
                .fetch_i64(
                    AssertSqlSafe(format!("SELECT COALESCE(MAX(id), 0) FROM {}", ident(&t.name))),
                    &[],
                )
                .await?;
            if highest > 0 {
                // Never below where the migrations left it (user types reserve ids to 100).
                let _: (i64,) = self
                    .fetch_one(
                        AssertSqlSafe(format!(
                            "SELECT setval($1::regclass, GREATEST($2, (SELECT last_value FROM {sequence})))"
                        )),
                        &[sequence.as_str().into(), highest.into()],
                    )
                    .await?;
            }
        }
        Ok(())
    }
}
