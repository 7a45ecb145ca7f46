//! Bulk onboarding from a file: every row validated first (nothing written when any row is
//! bad, unless `partial`), the seats checked before anything is written, then all rows
//! written in one transaction — each through the same rules as a single create or update.

use super::users::{NewUser, Reached, UserKey, UserUpdate};
use super::{Service, System, Welcome};
use crate::actor::{Context, Principal};
use crate::domain::user::LifecycleAction;
use crate::domain::*;
use crate::ports::{ReadTx, Tx, UserQuery};
use crate::{Entity, Error, Result, RuleCode, password};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// One data row of an import file, as the file said it (names not yet resolved).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportRow {
    /// The line in the file (the header is line 1).
    pub line: u64,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub password: Option<String>,
    pub user_type: Option<String>,
    pub branches: Vec<String>,
    pub groups: Vec<String>,
    /// Course codes to enroll the user in (as a learner).
    pub courses: Vec<String>,
    /// `None`: active.
    pub active: Option<bool>,
    pub deactivation_date: Option<Millis>,
    /// Leave of absence: reactivate on this date.
    pub reactivation_date: Option<Millis>,
    pub exclude_from_emails: Option<bool>,
    /// The idle policy never warns or deactivates this account (`None`: as it is, or no).
    pub idle_exempt: Option<bool>,
}

/// A row the file format already refused (a cell that isn't YES/NO, a bad date …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub column: String,
    pub reason: String,
}

pub type Parsed = std::result::Result<ImportRow, RowError>;

#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Write the good rows even when others are bad.
    pub partial: bool,
    /// Update users matched by username instead of refusing them.
    pub update_existing: bool,
    /// Only update: a row naming no existing account is refused (implies
    /// `update_existing`).
    pub update_only: bool,
    /// Write nothing; report what would happen.
    pub dry_run: bool,
    /// `Some(false)`: no welcome emails for this import.
    pub send_welcome: Option<bool>,
    /// Treat the file as the whole roster: who is missing from it is deactivated.
    pub sync: Option<RosterSync>,
    /// Files with more rows to write than this are written in batches rather than in one
    /// transaction; `None`: [`ATOMIC_ROWS`].
    pub atomic_rows: Option<u64>,
}

/// Rows an import writes in one transaction, all or nothing. Above it a file is written in
/// batches so others aren't kept waiting for the write lock; [`ImportOptions::atomic_rows`]
/// moves it.
pub const ATOMIC_ROWS: u64 = 10_000;

impl ImportOptions {
    pub fn atomic_rows(&self) -> u64 {
        self.atomic_rows.unwrap_or(ATOMIC_ROWS)
    }
}

/// A roster sync: the file lists everyone who should be active (within `scope_branch`, or
/// within the importer's reach). Accounts missing from it are deactivated — never deleted,
/// their records kept — unless the deletion guard holds the sync back.
#[derive(Clone, Debug, Default)]
pub struct RosterSync {
    /// Only accounts in this branch are in scope.
    pub scope_branch: Option<String>,
    /// Reactivate deactivated accounts the file lists (otherwise they stay deactivated).
    pub reactivate: bool,
    /// Past the deletion guard, deactivate anyway.
    pub allow_large_deactivation: bool,
    /// Also deactivate accounts the identity provider manages over SCIM (left to SCIM
    /// otherwise).
    pub include_scim: bool,
}

impl RosterSync {
    /// The sync the flags of a channel ask for: `None` without `sync`, and an error naming
    /// the flag when a sync-only flag comes without it.
    pub fn from_flags(
        sync: bool,
        scope_branch: Option<String>,
        reactivate: bool,
        allow_large_deactivation: bool,
        include_scim: bool,
    ) -> Result<Option<RosterSync>> {
        let scope_branch = scope_branch.map(|b| b.trim().to_owned()).filter(|b| !b.is_empty());
        if !sync {
            let stray = [
                ("scope_branch", scope_branch.is_some()),
                ("reactivate", reactivate),
                ("allow_large_deactivation", allow_large_deactivation),
                ("include_scim", include_scim),
            ];
            if let Some((field, _)) = stray.iter().find(|(_, given)| *given) {
                return Err(Error::invalid(*field, "this applies to a roster sync only; add sync"));
            }
            return Ok(None);
        }
        Ok(Some(RosterSync {
            scope_branch,
            reactivate,
            allow_large_deactivation,
            include_scim,
        }))
    }
}

/// What a roster sync did, or would do.
#[derive(Clone, Debug, Serialize, Default, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncReport {
    /// Active accounts in scope before the sync.
    pub active_in_scope: i64,
    /// Every account the sync deactivates (or, held or dry, would), by username.
    pub deactivate: Vec<String>,
    /// How many it did deactivate.
    pub deactivated: u64,
    /// Accounts it could not deactivate, with the reason (the last administrator …).
    pub kept: Vec<SyncKept>,
    /// The deletion guard stopped the sync: nothing was written.
    pub held: bool,
    /// Why it was held.
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncKept {
    pub username: String,
    pub reason: String,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    Refused,
    /// A good row not written (or, in a dry run, that would not be) because the import
    /// as a whole was refused: other rows refused, the seats, a rule the write hit.
    Skipped,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RowReport {
    pub line: u64,
    pub username: String,
    pub outcome: Outcome,
    pub column: Option<String>,
    pub reason: Option<String>,
    /// For an updated row, each field it changes (`email: a@x → b@x`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
}

/// One field an import changes on an existing account.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldChange {
    pub field: String,
    /// As it is (empty when unset); for branches, groups and courses, what it holds now.
    pub from: String,
    /// As the row sets it; for branches, groups and courses, what the row adds.
    pub to: String,
}

impl std::fmt::Display for FieldChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} → {}", self.field, self.from, self.to)
    }
}

/// Why an import was refused as a whole (or, in a dry run, would be).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportRefusal {
    /// The error code the commit answers with (`seat_limit_reached` …).
    pub code: String,
    pub message: String,
}

#[derive(Clone, Debug, Serialize, Default, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportSummary {
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub refused: u64,
    /// Good rows not written because the import as a whole was refused.
    pub skipped: u64,
    pub seats_needed: i64,
    pub seats_free: i64,
    /// Whether anything was written (false for a dry run, or when bad rows stopped it).
    pub written: bool,
    pub dry_run: bool,
    /// Present for a roster sync (`--sync`).
    pub sync: Option<SyncReport>,
    /// Set when the import as a whole is refused, a dry run included: what the commit
    /// answers (for a commit, the error it returns).
    pub refusal: Option<ImportRefusal>,
    /// The file's columns that were read and not kept (filled in by the channel that read
    /// the file: unknown columns skipped on request, and TalentLMS's language and bio).
    pub ignored_columns: Vec<String>,
    /// Refused rows stopped an import that isn't partial (the counts above are then 0).
    #[serde(skip)]
    pub stopped: bool,
}

impl ImportSummary {
    /// Whether writing what this dry run previewed, with the same options, would change
    /// anything: the free seats suffice and some row would be created or updated (none is
    /// when refused rows stop an import that isn't partial).
    pub fn can_commit(&self) -> bool {
        let leavers = self.sync.as_ref().map_or(0, |s| s.deactivate.len() as i64);
        !self.stopped
            && !self.held()
            && self.refusal.is_none()
            && self.seats_needed <= self.seats_free + leavers
            && (self.created + self.updated > 0 || leavers > 0)
    }

    /// Whether the deletion guard held a roster sync back (nothing written).
    pub fn held(&self) -> bool {
        self.sync.as_ref().is_some_and(|s| s.held)
    }
}

/// What the first pass decided for a good row.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Plan {
    Create,
    Update,
    /// A roster sync without `update_existing` found the account deactivated and was asked
    /// to reactivate it: only its status changes.
    Reactivate,
    Unchanged,
}

/// The rows of the file, read afresh for each pass (the file is never held in memory).
pub type Source<'a> = &'a mut (dyn FnMut() -> Result<Box<dyn Iterator<Item = Parsed> + Send + 'a>> + Send);

/// How long an upload waits between the console's preview and its commit.
pub const UPLOAD_LIFETIME_MS: Millis = 60 * 60 * 1000;

impl Service {
    /// Keeps an import file for the console's wizard under a random id (only its digest
    /// stored), so the file — passwords included — never travels in a page. Only its
    /// uploader gets it back, within the hour.
    pub async fn stash_import_upload(&self, ctx: &Context, body: &[u8]) -> Result<String> {
        let mut txb = self.store.begin().await?;
        let tx = txb.as_mut();
        let who = self.principal(tx, ctx).await?;
        who.require(Area::ImportRun)?;
        let owner = who
            .user_id
            .ok_or_else(|| Error::forbidden("only a signed-in user keeps an upload"))?;
        let id = hex::encode(rand::random::<[u8; 32]>());
        // One upload waits per user: a new one replaces it, so storage stays bounded.
        tx.delete_import_uploads(None, Some(owner), i64::MAX).await?;
        tx.insert_import_upload(&upload_key(&id), owner, self.now(), body)
            .await?;
        txb.commit().await?;
        Ok(id)
    }

    /// The upload kept under `id`, for its uploader; `not_found` when it is someone else's,
    /// expired or unknown alike.
    pub async fn import_upload(&self, ctx: &Context, id: &str) -> Result<Vec<u8>> {
        self.read(ctx, Some(Area::ImportRun), async |tx, who| {
            match tx.import_upload(&upload_key(id)).await? {
                Some((owner, at, body)) if Some(owner) == who.user_id && at > self.now() - UPLOAD_LIFETIME_MS => {
                    Ok(body)
                }
                _ => Err(Error::not_found(Entity::Upload, "this upload (start the import again)")),
            }
        })
        .await
    }

    /// Drops an upload once its import has run: only the caller's own (the delete is
    /// conditioned on the uploader, so the body isn't read again to check).
    pub async fn discard_import_upload(&self, ctx: &Context, id: &str) -> Result<()> {
        let mut txb = self.store.begin().await?;
        let who = self.principal(txb.as_mut(), ctx).await?;
        who.require(Area::ImportRun)?;
        let owner = who
            .user_id
            .ok_or_else(|| Error::not_found(Entity::Upload, "this upload"))?;
        txb.delete_import_uploads(Some(&upload_key(id)), Some(owner), i64::MAX)
            .await?;
        txb.commit().await
    }

    /// Imports users. `report` receives every row's outcome, in file order; the summary
    /// comes back at the end. Errors that stop the whole import (no seats, no permission,
    /// the database) are returned as errors.
    pub async fn import_users(
        &self,
        ctx: &Context,
        source: Source<'_>,
        opts: ImportOptions,
        report: &mut (dyn FnMut(RowReport) + Send),
    ) -> Result<ImportSummary> {
        // Pass 1: validate every row against a snapshot, writing nothing.
        let mut summary = ImportSummary {
            dry_run: opts.dry_run,
            ..ImportSummary::default()
        };
        let mut plans: HashMap<u64, Plan> = HashMap::new();
        let mut row_seats: HashMap<u64, i64> = HashMap::new();
        let mut changes: HashMap<u64, Vec<FieldChange>> = HashMap::new();
        let mut refused: Vec<RowReport> = vec![];
        let mut leavers: Vec<(UserId, String)> = vec![];
        {
            self.read(ctx, Some(Area::ImportRun), async |tx, who| {
                who.require(Area::UsersManage)?;
                let plan = tx.plan().await?;
                summary.seats_free = plan.seats_free();
                let mut known = Lookups::default();
                let mut rows = source()?.peekable();
                let mut chunk: Vec<Parsed> = Vec::with_capacity(BATCH);
                while rows.peek().is_some() {
                    chunk.clear();
                    chunk.extend(rows.by_ref().take(BATCH));
                    known.prefetch_users(&mut **tx, &chunk).await?;
                    for parsed in chunk.drain(..) {
                        summary.rows += 1;
                        let row = match parsed {
                            Ok(r) => r,
                            Err(e) => {
                                refused.push(RowReport {
                                    line: e.line,
                                    username: String::new(),
                                    outcome: Outcome::Refused,
                                    column: Some(e.column),
                                    reason: Some(e.reason),
                                    changes: vec![],
                                });
                                continue;
                            }
                        };
                        match self.check_row(&mut **tx, who, &row, &opts, &mut known).await? {
                            Ok((p, seats, changed)) => {
                                summary.seats_needed += seats;
                                if seats > 0 {
                                    row_seats.insert(row.line, seats);
                                }
                                if !changed.is_empty() {
                                    changes.insert(row.line, changed);
                                }
                                plans.insert(row.line, p);
                            }
                            Err((column, reason)) => refused.push(RowReport {
                                line: row.line,
                                username: row.username.clone(),
                                outcome: Outcome::Refused,
                                column: Some(column),
                                reason: Some(reason),
                                changes: vec![],
                            }),
                        }
                    }
                }
                if let Some(sync) = &opts.sync {
                    let (report, missing) = self.sync_plan(&mut **tx, who, sync, &known.seen_names).await?;
                    summary.sync = Some(report);
                    leavers = missing;
                }
                Ok(())
            })
            .await?;
        }
        summary.refused = refused.len() as u64;
        if let Some(sync) = summary.sync.as_mut()
            && summary.refused > 0
        {
            // Who a refused row names can't be told for sure, and deactivating them for a
            // typo would be the worst outcome: a sync needs every row good.
            sync.held = true;
            sync.reason = Some(format!(
                "{} rows were refused, and a roster sync deactivates only against a file whose every row is good; nothing was written — fix them and run it again",
                summary.refused
            ));
        }
        let held = summary.held();
        let stop = (!refused.is_empty() && !opts.partial) || held;
        let short_of_seats = summary.seats_needed > summary.seats_free + leavers.len() as i64;
        // A dry run rehearses the commit — the same writes in a transaction rolled back — so
        // that what it says is what the commit would do. Only a roster sync (whose leavers
        // are deactivated each in a transaction of their own) and a file too large for one
        // transaction are previewed from the validating pass instead.
        let rehearsable = opts.sync.is_none() && plans.len() as u64 <= opts.atomic_rows();
        if stop || (opts.dry_run && (short_of_seats || !rehearsable)) {
            let why_not = if held {
                summary.sync.as_ref().and_then(|s| s.reason.clone())
            } else if stop {
                Some(format!(
                    "not written: {} rows were refused (fix them, or import with --partial to write the rest)",
                    summary.refused
                ))
            } else if short_of_seats {
                let refusal = refusal_of(&seats_refused(summary.seats_needed, summary.seats_free));
                let why = refusal.message.clone();
                summary.refusal = Some(refusal);
                Some(why)
            } else {
                None
            };
            let planned = |line| match plans.get(&line) {
                Some(Plan::Create) => Outcome::Created,
                Some(Plan::Update | Plan::Reactivate) => Outcome::Updated,
                Some(Plan::Unchanged) | None => Outcome::Unchanged,
            };
            report_unwritten(
                source,
                refused,
                &changes,
                planned,
                why_not.as_deref(),
                &mut summary,
                report,
            )?;
            summary.stopped = stop && summary.refused > 0 && !opts.partial;
            return Ok(summary);
        }
        // Refused early, from the snapshot, before any hashing; the reservation below
        // decides for good. A sync's leavers give their seats back first.
        if short_of_seats {
            return Err(seats_refused(summary.seats_needed, summary.seats_free));
        }
        if opts.dry_run {
            return self
                .rehearse(
                    ctx, source, &opts, &plans, &row_seats, refused, changes, summary, report,
                )
                .await;
        }
        if let Some(sync) = summary.sync.as_mut() {
            // Leavers first, so the newcomers of a full plan find their seats.
            for (id, username) in leavers {
                match self.deactivate_user(ctx, &UserKey::Id(id)).await {
                    Ok(_) => sync.deactivated += 1,
                    Err(e @ Error::Internal(_)) => return Err(e),
                    Err(e) => sync.kept.push(SyncKept {
                        username,
                        reason: e.to_string(),
                    }),
                }
            }
        }

        // Pass 2: write the good rows, a batch per transaction, so other writers (sign-ins,
        // SCIM, the console) get the write lock between batches. The seats the file needs
        // are reserved first, in one step: a full plan refuses the import before anything
        // is written, and nobody takes those seats while it writes. Each batch hands its
        // rows' seats back from the reservation and takes them again in its own
        // transaction. A writer that dies leaves the reservation to lapse (the minute job
        // gives the seats back).
        let reservation = hex::encode(rand::random::<[u8; 16]>());
        {
            let mut txb = self.store.begin().await?;
            let lease = self.now() + RESERVATION_LEASE_MS;
            if !txb.reserve_seats(&reservation, summary.seats_needed, lease).await? {
                let free = txb.plan().await?.seats_free();
                return Err(seats_refused(summary.seats_needed, free));
            }
            txb.commit().await?;
        }
        let written = self
            .write_batches(
                ctx,
                source,
                &opts,
                &plans,
                &row_seats,
                refused,
                &mut changes,
                &reservation,
                &mut summary,
                report,
            )
            .await;
        // Whatever happened, the seats no row took go back.
        let mut txb = self.store.begin().await?;
        txb.end_seat_reservation(&reservation).await?;
        txb.commit().await?;
        let done = summary.created + summary.updated + summary.unchanged;
        match written {
            Ok(()) => {}
            // Batches already committed stay written: say so, whatever the channel.
            Err(e) if done > 0 && !matches!(e, Error::Internal(_)) => {
                return Err(Error::rule(
                    RuleCode::ImportStopped,
                    format!(
                        "the import stopped after writing {done} of its rows (the data changed while it ran): {e}; run the file again with --update-existing to finish it"
                    ),
                ));
            }
            Err(e) => return Err(e),
        }
        // Written: a row created or updated, or a leaver deactivated (a file of unchanged
        // rows writes nothing).
        let deactivated = summary.sync.as_ref().map_or(0, |s| s.deactivated);
        summary.written = summary.created + summary.updated + deactivated > 0;
        if summary.created + summary.updated > 0 {
            self.after_bulk_write().await;
        }
        Ok(summary)
    }

    /// The write pass of an import. Up to [`ImportOptions::atomic_rows`] rows to write go in
    /// one transaction: all of them or, refused or killed midway, none. A larger file goes
    /// in batches of [`BATCH`], a transaction each, so that other writers (sign-ins, SCIM,
    /// the console) get the write lock between batches; stopped midway, it leaves whole
    /// batches written, and the same file run again with `--update-existing` finishes it.
    /// Either way the seats are drawn from `reservation`, and rows are reported once
    /// committed, never before.
    #[allow(clippy::too_many_arguments)]
    async fn write_batches(
        &self,
        ctx: &Context,
        source: Source<'_>,
        opts: &ImportOptions,
        plans: &HashMap<u64, Plan>,
        row_seats: &HashMap<u64, i64>,
        refused: Vec<RowReport>,
        changes: &mut HashMap<u64, Vec<FieldChange>>,
        reservation: &str,
        summary: &mut ImportSummary,
        report: &mut (dyn FnMut(RowReport) + Send),
    ) -> Result<()> {
        let mut refused = refused.into_iter().peekable();
        let pass = WritePass {
            opts,
            plans,
            row_seats,
            reservation,
        };
        let planned = |parsed: Parsed| match parsed {
            Ok(r) if plans.contains_key(&r.line) => Some(r),
            _ => None,
        };
        let mut rows = source()?.filter_map(planned);
        if plans.len() as u64 <= opts.atomic_rows() {
            // Every password hashed before the transaction begins: the write lock is never
            // held while argon2 runs.
            let all: Vec<ImportRow> = rows.collect();
            let hashes = hash_all(&all, plans).await?;
            let mut txb = self.store.begin().await?;
            let who = self.principal(txb.as_mut(), ctx).await?;
            let step = self.write_all_in(txb.as_mut(), ctx, &who, &pass, all, hashes);
            let outcomes = step.await?;
            self.commit(txb).await?;
            report_written(summary, outcomes, changes, &mut refused, report);
        } else {
            // The courses rows name, by code key, read once per file.
            let mut courses: HashMap<String, Course> = HashMap::new();
            let mut written = 0u64;
            let mut settle_at = 4 * BATCH as u64;
            loop {
                let batch: Vec<ImportRow> = rows.by_ref().take(BATCH).collect();
                if batch.is_empty() {
                    break;
                }
                // Hashed before the write lock is taken, a batch at a time, so no more than a
                // batch of hashes is ever held.
                let hashes = hash_all(&batch, plans).await?;
                let mut txb = self.store.begin().await?;
                let who = self.principal(txb.as_mut(), ctx).await?;
                let step = self.write_batch(txb.as_mut(), ctx, &who, &pass, &mut courses, batch, hashes);
                let outcomes = step.await?;
                self.commit(txb).await?;
                written += outcomes.len() as u64;
                if written >= settle_at {
                    // Each time the rows written double: the work it saves grows as fast.
                    self.after_bulk_write().await;
                    settle_at = written * 2;
                }
                report_written(summary, outcomes, changes, &mut refused, report);
            }
        }
        for rest in refused {
            report(rest);
        }
        Ok(())
    }

    /// Writes every planned row inside `tx`, a batch at a time: the one-transaction import,
    /// and the dry run's rehearsal of it.
    async fn write_all_in(
        &self,
        tx: &mut dyn Tx,
        ctx: &Context,
        who: &Principal,
        pass: &WritePass<'_>,
        mut all: Vec<ImportRow>,
        hashes: Vec<Option<String>>,
    ) -> Result<Vec<(u64, String, Outcome)>> {
        let mut courses: HashMap<String, Course> = HashMap::new();
        let mut hashes = hashes.into_iter();
        let mut outcomes = Vec::with_capacity(all.len());
        // Batches are taken from the front; reversed, each comes off the end.
        all.reverse();
        while !all.is_empty() {
            let batch: Vec<ImportRow> = all.drain(all.len().saturating_sub(BATCH)..).rev().collect();
            let batch_hashes = hashes.by_ref().take(batch.len()).collect();
            let step = self.write_batch(tx, ctx, who, pass, &mut courses, batch, batch_hashes);
            outcomes.extend(step.await?);
        }
        Ok(outcomes)
    }

    /// A dry run that rehearses the commit: the planned rows written, with every rule the
    /// commit meets (seats, branch caps, the last administrator …), in one transaction
    /// that is then rolled back. Only the hashing is left out.
    #[allow(clippy::too_many_arguments)]
    async fn rehearse(
        &self,
        ctx: &Context,
        source: Source<'_>,
        opts: &ImportOptions,
        plans: &HashMap<u64, Plan>,
        row_seats: &HashMap<u64, i64>,
        refused: Vec<RowReport>,
        mut changes: HashMap<u64, Vec<FieldChange>>,
        mut summary: ImportSummary,
        report: &mut (dyn FnMut(RowReport) + Send),
    ) -> Result<ImportSummary> {
        let all: Vec<ImportRow> = source()?
            .filter_map(|parsed| parsed.ok().filter(|r| plans.contains_key(&r.line)))
            .collect();
        let hashes = all
            .iter()
            .map(|r| r.password.as_ref().map(|_| String::from("$rehearsal$")))
            .collect();
        let mut txb = self.store.begin().await?;
        let reservation = hex::encode(rand::random::<[u8; 16]>());
        let lease = self.now() + RESERVATION_LEASE_MS;
        let written = if txb.reserve_seats(&reservation, summary.seats_needed, lease).await? {
            let who = self.principal(txb.as_mut(), ctx).await?;
            let pass = WritePass {
                opts,
                plans,
                row_seats,
                reservation: &reservation,
            };
            let step = self.write_all_in(txb.as_mut(), ctx, &who, &pass, all, hashes);
            step.await
        } else {
            let free = txb.plan().await?.seats_free();
            Err(seats_refused(summary.seats_needed, free))
        };
        // Nothing of the rehearsal is kept: dropped uncommitted, the transaction rolls back.
        drop(txb);
        match written {
            Ok(outcomes) => {
                let mut refused = refused.into_iter().peekable();
                report_written(&mut summary, outcomes, &mut changes, &mut refused, report);
                for rest in refused {
                    report(rest);
                }
            }
            Err(e @ Error::Internal(_)) => return Err(e),
            Err(e) => {
                let refusal = refusal_of(&e);
                let why = refusal.message.clone();
                summary.refusal = Some(refusal);
                report_unwritten(
                    source,
                    refused,
                    &changes,
                    |_| Outcome::Skipped,
                    Some(&why),
                    &mut summary,
                    report,
                )?;
            }
        }
        Ok(summary)
    }

    /// Writes one batch of planned rows inside `tx`, its seats drawn from `reservation`;
    /// returns each row's outcome (line, username), in file order.
    #[allow(clippy::too_many_arguments)]
    async fn write_batch(
        &self,
        tx: &mut dyn Tx,
        ctx: &Context,
        who: &Principal,
        pass: &WritePass<'_>,
        courses: &mut HashMap<String, Course>,
        batch: Vec<ImportRow>,
        hashes: Vec<Option<String>>,
    ) -> Result<Vec<(u64, String, Outcome)>> {
        let WritePass {
            opts,
            plans,
            row_seats,
            reservation,
        } = *pass;
        let seats: i64 = batch.iter().filter_map(|r| row_seats.get(&r.line)).sum();
        let lease = self.now() + RESERVATION_LEASE_MS;
        if !tx.draw_reserved_seats(reservation, seats, lease).await? {
            return Err(Error::internal("an import's seat reservation ran out"));
        }
        let mut outcomes = Vec::with_capacity(batch.len());
        // The batch's new accounts are written together, after its updates (no two rows
        // name the same account, so the order between them changes nothing).
        let mut creates = vec![];
        let mut created = vec![];
        for (row, hash) in batch.into_iter().zip(hashes) {
            let outcome = match plans[&row.line] {
                Plan::Create => {
                    creates.push((new_user_of(&row, opts), hash));
                    created.push((row.line, row.username, row.courses));
                    continue;
                }
                Plan::Update => {
                    self.import_update(tx, ctx, who, &row, hash, opts).await?;
                    self.import_courses(tx, ctx, who, &row.username, &row.courses).await?;
                    Outcome::Updated
                }
                Plan::Reactivate => {
                    let key = UserKey::Username(row.username.clone());
                    let reached = self.reach_to_change(tx, who, &key).await?;
                    self.transition(tx, ctx, who, reached, LifecycleAction::Activate)
                        .await?;
                    Outcome::Updated
                }
                Plan::Unchanged => Outcome::Unchanged,
            };
            outcomes.push((row.line, row.username, outcome));
        }
        let views = if creates.is_empty() {
            vec![]
        } else {
            self.create_all_in(tx, ctx, who, creates).await?
        };
        // The new accounts' courses, enrolled together.
        let ids: HashMap<String, UserId> = views.iter().map(|v| (name_key(&v.username), UserId(v.id))).collect();
        let mut enrolments: Vec<(UserId, &str, Course)> = vec![];
        for (_, username, codes) in &created {
            let id = *ids
                .get(&name_key(username.trim()))
                .ok_or_else(|| Error::internal(format!("imported user '{username}' was not created")))?;
            for code in codes {
                let key = name_key(code.trim());
                let c = match courses.get(&key) {
                    Some(c) => c.clone(),
                    None => {
                        let c = self.course(tx, code).await?;
                        courses.insert(key, c.clone());
                        c
                    }
                };
                enrolments.push((id, username.as_str(), c));
            }
        }
        let pairs: Vec<(UserId, &str, &Course)> = enrolments.iter().map(|(u, n, c)| (*u, *n, c)).collect();
        self.enroll_all_in(tx, ctx, who, &pairs).await?;
        for (line, username, _) in created {
            outcomes.push((line, username, Outcome::Created));
        }
        outcomes.sort_by_key(|(line, _, _)| *line);
        Ok(outcomes)
    }

    /// Decides what a row would do: create, update or nothing, and how many seats it takes —
    /// or why it is refused (column, reason).
    async fn check_row(
        &self,
        tx: &mut dyn ReadTx,
        who: &Principal,
        row: &ImportRow,
        opts: &ImportOptions,
        known: &mut Lookups,
    ) -> Result<std::result::Result<(Plan, i64, Vec<FieldChange>), (String, String)>> {
        let refuse = |column: &str, reason: String| Ok(Err((column.to_owned(), reason)));
        let field_error = |e: Error| match e {
            Error::InvalidInput { field, message } => Ok(Err((field, message))),
            other => Err(other),
        };
        let username = match Username::parse(&row.username) {
            Ok(u) => u,
            Err(e) => return field_error(e),
        };
        let email = match Email::parse(&row.email) {
            Ok(e) => e,
            Err(e) => return field_error(e),
        };
        for (field, value) in [("first_name", &row.first_name), ("last_name", &row.last_name)] {
            if let Err(e) = PersonName::parse(field, value) {
                return field_error(e);
            }
        }
        if let Some(p) = &row.password
            && let Err(e) = password::check_policy(p)
        {
            return field_error(e);
        }
        if let Some(first) = known.seen_names.insert(username.key(), row.line) {
            return refuse(
                "username",
                format!("'{username}' is already on line {first} (usernames ignore case)"),
            );
        }
        if let Some(first) = known.seen_emails.insert(email.key(), row.line) {
            return refuse(
                "email",
                format!("'{email}' is already on line {first} (emails ignore case)"),
            );
        }
        let existing = known.by_username.get(&username.key()).cloned();
        if let Some(other) = known.by_email.get(&email.key())
            && existing.as_ref().is_none_or(|e| e.id != other.id)
        {
            return refuse("email", format!("'{email}' is used by another account"));
        }
        let user_type = match &row.user_type {
            Some(t) => match known.user_type(tx, t).await? {
                Some(t) => Some(t),
                None => return refuse("user_type", format!("unknown user type '{t}'")),
            },
            None => None,
        };
        if let Some(t) = &user_type {
            if let Err(e) = who.require_rank(t, "give the type of") {
                return refuse("user_type", e.to_string());
            }
            if !t.builtin && tx.plan().await?.require(Feature::CustomUserTypes).is_err() {
                return refuse("user_type", "the plan does not include custom user types".into());
            }
        }
        for b in &row.branches {
            match known.branch(tx, b).await? {
                Some(branch) if who.sees(&[branch.id]) => {}
                _ => return refuse("branches", format!("unknown branch '{b}'")),
            }
        }
        for g in &row.groups {
            match known.group(tx, g).await? {
                Some(group) if who.branch_ids().is_none() || group.branch_id.is_some_and(|b| who.sees(&[b])) => {}
                _ => return refuse("groups", format!("unknown group '{g}'")),
            }
        }
        let mut courses = Vec::with_capacity(row.courses.len());
        for code in &row.courses {
            let key = name_key(code.trim());
            if !known.courses.contains_key(&key) {
                // Whether the importer manages it depends on the importer only: asked once.
                let found = match tx.course_by_code(&key).await? {
                    Some(c) => {
                        let manages = self.manages(tx, who, &c).await?;
                        Some((c, manages))
                    }
                    None => None,
                };
                known.courses.insert(key.clone(), found);
            }
            match &known.courses[&key] {
                Some((c, true)) => courses.push((c.id, c.code.clone())),
                Some(_) => return refuse("courses", format!("you can't enroll users in course '{code}'")),
                None => return refuse("courses", format!("unknown course '{code}'")),
            }
        }
        let active = row.active.unwrap_or(true);
        let Some(user) = existing else {
            if opts.update_only {
                return refuse(
                    "username",
                    format!("no account is called '{username}' (this import only updates existing accounts)"),
                );
            }
            return Ok(Ok((Plan::Create, i64::from(active), vec![])));
        };
        // An account the importer can't see is only "not available": the report doesn't
        // tell a branch administrator that it lies in another branch.
        let branch_ids: Vec<BranchId> = tx.user_branches(user.id).await?.into_iter().map(|b| b.id).collect();
        if !who.sees(&branch_ids) {
            return refuse("username", format!("the username '{username}' is not available"));
        }
        let active = stays_active(row, user.status, opts);
        if opts.sync.is_some() && !opts.update_existing && user.status != UserStatus::Trash {
            // A sync's roster names who stays; without --update-existing it changes only
            // the status it was asked to.
            let current_type = self.type_by_id(tx, user.user_type_id).await?;
            if active && !user.status.holds_seat() {
                if let Err(e) = who.require_change(&user, &current_type, &branch_ids) {
                    return refuse("username", e.to_string());
                }
                let status = FieldChange {
                    field: "status".into(),
                    from: user.status.as_str().into(),
                    to: UserStatus::Active.as_str().into(),
                };
                return Ok(Ok((Plan::Reactivate, 1, vec![status])));
            }
            return Ok(Ok((Plan::Unchanged, 0, vec![])));
        }
        if !opts.update_existing && !opts.update_only {
            return refuse(
                "username",
                format!("'{username}' already exists (use --update-existing to update it)"),
            );
        }
        if user.status == UserStatus::Trash {
            return refuse("username", format!("'{username}' is in the trash; restore it first"));
        }
        let current_type = self.type_by_id(tx, user.user_type_id).await?;
        if let Err(e) = who.require_change(&user, &current_type, &branch_ids) {
            return refuse("username", e.to_string());
        }
        let groups: Vec<String> = tx.user_groups(user.id).await?.into_iter().map(|g| g.name).collect();
        let branches: Vec<String> = tx.user_branches(user.id).await?.into_iter().map(|b| b.name).collect();
        let mut changed = vec![];
        let mut change = |field: &str, from: String, to: String| {
            if from != to {
                changed.push(FieldChange {
                    field: field.into(),
                    from,
                    to,
                });
            }
        };
        change("email", user.email.to_string(), email.to_string());
        change(
            "first_name",
            user.first_name.to_string(),
            row.first_name.trim().to_owned(),
        );
        change("last_name", user.last_name.to_string(), row.last_name.trim().to_owned());
        if let Some(t) = user_type.as_ref().filter(|t| t.id != user.user_type_id) {
            change("user_type", current_type.name.clone(), t.name.clone());
        }
        // Branches, groups and courses are only ever added by an import: what it holds, and
        // what it will hold.
        let added = |field: &str, held: &[String], named: &[String], change: &mut dyn FnMut(&str, String, String)| {
            let keys: HashSet<String> = held.iter().map(|h| name_key(h)).collect();
            let mut after = held.to_vec();
            for n in named {
                let n = n.trim();
                if !keys.contains(&name_key(n)) && !after.iter().any(|a| name_key(a) == name_key(n)) {
                    after.push(n.to_owned());
                }
            }
            change(field, held.join(", "), after.join(", "));
        };
        added("branches", &branches, &row.branches, &mut change);
        added("groups", &groups, &row.groups, &mut change);
        let enrolled: HashSet<CourseId> = tx
            .enrollments_of_user(user.id)
            .await?
            .into_iter()
            .map(|e| e.course_id)
            .collect();
        let to_enrol: Vec<String> = courses
            .iter()
            .filter(|(id, _)| !enrolled.contains(id))
            .map(|(_, code)| code.clone())
            .collect();
        if !to_enrol.is_empty() {
            change("courses", String::new(), format!("enrolled in {}", to_enrol.join(", ")));
        }
        if active != user.status.holds_seat() {
            let to = if active {
                UserStatus::Active
            } else {
                UserStatus::Deactivated
            };
            change("status", user.status.as_str().into(), to.as_str().into());
        }
        if !self.same_password(tx, &user, row.password.as_deref()).await? {
            change("password", "[redacted]".into(), "[new]".into());
        }
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
        if let Some(x) = row.exclude_from_emails {
            change("exclude_from_emails", yes_no(user.exclude_from_emails), yes_no(x));
        }
        if let Some(x) = row.idle_exempt {
            change("idle_exempt", yes_no(user.idle_exempt), yes_no(x));
        }
        let date = |d: Option<Millis>| d.map(format_millis).unwrap_or_default();
        if let Some(d) = row.deactivation_date {
            change("deactivation_date", date(user.deactivate_at), date(Some(d)));
        }
        if let Some(d) = row.reactivation_date {
            change("reactivation_date", date(user.reactivate_at), date(Some(d)));
        }
        if changed.is_empty() {
            return Ok(Ok((Plan::Unchanged, 0, vec![])));
        }
        let seats = i64::from(active && !user.status.holds_seat());
        Ok(Ok((Plan::Update, seats, changed)))
    }

    /// Who a roster sync would deactivate: the active accounts in scope (the branch named,
    /// within the importer's reach; SCIM's own accounts only when asked) that the file does
    /// not list — never the importer. And whether the deletion guard holds it back.
    async fn sync_plan(
        &self,
        tx: &mut dyn ReadTx,
        who: &Principal,
        sync: &RosterSync,
        listed: &HashMap<String, u64>,
    ) -> Result<(SyncReport, Vec<(UserId, String)>)> {
        let branch = match &sync.scope_branch {
            Some(name) => {
                let b = self.branch_by_name(tx, name).await?;
                who.require_branch(b.id, name)?;
                Some(b.id)
            }
            None => None,
        };
        let mut query = UserQuery {
            status: Some(UserStatus::Active),
            branch,
            scope: who.branch_ids().map(<[BranchId]>::to_vec),
            scim_linked: (!sync.include_scim).then_some(false),
            limit: SYNC_PAGE,
            ..UserQuery::default()
        };
        let active_in_scope = tx.count_users(&query).await?;
        let mut missing = vec![];
        loop {
            let page = tx.list_users(&query).await?;
            let Some(last) = page.last() else { break };
            query.after = Some(UserCursor { id: last.id });
            let full = page.len() as i64 == SYNC_PAGE;
            missing.extend(
                page.into_iter()
                    .filter(|u| Some(u.id) != who.user_id && !listed.contains_key(&u.username.key()))
                    .map(|u| (u.id, u.username.to_string())),
            );
            if !full {
                break;
            }
        }
        let setting = async |tx: &mut dyn ReadTx, s: Setting| -> Result<i64> {
            let v = match tx.setting(s.key()).await? {
                Some(v) => s.parse_value(&v)?,
                None => s.default_value(),
            };
            Ok(match v {
                SettingValue::Days(n) | SettingValue::Count(n) => n,
                other => return Err(Error::internal(format!("{} holds {other}", s.key()))),
            })
        };
        let max_share = setting(tx, Setting::SyncMaxDeactivationShare).await?;
        let max_count = setting(tx, Setting::SyncMaxDeactivations).await?;
        let n = missing.len() as i64;
        // More than the share of the active accounts in scope, or more than the count:
        // whichever comes first (Microsoft Entra's accidental-deletion threshold).
        let reason = if n * 100 > max_share * active_in_scope {
            Some(format!(
                "the sync would deactivate {n} of the {active_in_scope} active accounts in scope, more than {max_share}% (setting sync_max_deactivation_share); nothing was written — check the file, or allow it (--allow-large-deactivation)"
            ))
        } else if n > max_count {
            Some(format!(
                "the sync would deactivate {n} accounts, more than {max_count} (setting sync_max_deactivations); nothing was written — check the file, or allow it (--allow-large-deactivation)"
            ))
        } else {
            None
        };
        let held = reason.is_some() && !sync.allow_large_deactivation;
        let report = SyncReport {
            active_in_scope,
            deactivate: missing.iter().map(|(_, name)| name.clone()).collect(),
            deactivated: 0,
            kept: vec![],
            held,
            reason: reason.filter(|_| held),
        };
        Ok((report, missing))
    }

    /// Enrolls the imported user in the row's courses.
    async fn import_courses(
        &self,
        tx: &mut dyn Tx,
        ctx: &Context,
        who: &Principal,
        username: &str,
        codes: &[String],
    ) -> Result<()> {
        if codes.is_empty() {
            return Ok(());
        }
        let user = tx
            .user_by_username(&name_key(username.trim()))
            .await?
            .ok_or_else(|| Error::not_found(Entity::User, username))?;
        for code in codes {
            let c = self.course(tx, code).await?;
            self.enroll_in(tx, ctx, who, &user, &c, CourseRole::Learner).await?;
        }
        Ok(())
    }

    /// Whether the row's password (if any) is the one the user already has, so re-importing
    /// a file with passwords changes nothing.
    async fn same_password(&self, tx: &mut dyn ReadTx, user: &User, given: Option<&str>) -> Result<bool> {
        let Some(given) = given else { return Ok(true) };
        let Some(stored) = tx.password_hash(user.id).await? else {
            return Ok(false);
        };
        password::verify_off_thread(given, Some(stored)).await
    }

    async fn import_update(
        &self,
        tx: &mut dyn Tx,
        ctx: &Context,
        who: &Principal,
        row: &ImportRow,
        hash: Option<String>,
        opts: &ImportOptions,
    ) -> Result<()> {
        let key = UserKey::Username(row.username.clone());
        let mut reached: Reached = self.reach_to_change(tx, who, &key).await?;
        let active = stays_active(row, reached.user.status, opts);
        if active
            && !reached.user.status.holds_seat()
            && let Some(u) = self
                .transition(tx, ctx, who, reached.clone(), LifecycleAction::Activate)
                .await?
        {
            reached.user = u;
        }
        let upd = UserUpdate {
            email: Some(row.email.clone()),
            first_name: Some(row.first_name.clone()),
            last_name: Some(row.last_name.clone()),
            user_type: row.user_type.clone(),
            add_branches: row.branches.clone(),
            add_groups: row.groups.clone(),
            exclude_from_emails: row.exclude_from_emails,
            idle_exempt: row.idle_exempt,
            deactivate_at: row.deactivation_date.map(Some),
            reactivate_at: row.reactivation_date.map(Some),
            ..UserUpdate::default()
        };
        let user = self.update_in(tx, ctx, who, reached, &upd, hash).await?;
        if !active && user.status.holds_seat() {
            let r = self.reach_to_change(tx, who, &UserKey::Id(user.id)).await?;
            self.transition(tx, ctx, who, r, LifecycleAction::Deactivate).await?;
        }
        Ok(())
    }
}

/// What the check of an import's rows has read: the accounts a batch of rows names (read
/// in one query per batch), and the types, branches and groups the file names (read once).
#[derive(Default)]
struct Lookups {
    /// The line each username and email of the file is first on.
    seen_names: HashMap<String, u64>,
    seen_emails: HashMap<String, u64>,
    by_username: HashMap<String, User>,
    by_email: HashMap<String, User>,
    types: HashMap<String, Option<UserType>>,
    branches: HashMap<String, Option<Branch>>,
    groups: HashMap<String, Option<Group>>,
    /// By code key: the course, and whether the importer manages it.
    courses: HashMap<String, Option<(Course, bool)>>,
}

impl Lookups {
    /// Reads the accounts the rows' usernames and emails name, replacing the last batch's.
    async fn prefetch_users(&mut self, tx: &mut dyn ReadTx, rows: &[Parsed]) -> Result<()> {
        let ok = rows.iter().filter_map(|r| r.as_ref().ok());
        let names: Vec<String> = ok
            .clone()
            .filter_map(|r| Username::parse(&r.username).ok())
            .map(|u| u.key())
            .collect();
        let emails: Vec<String> = ok
            .filter_map(|r| Email::parse(&r.email).ok())
            .map(|e| e.key())
            .collect();
        self.by_username.clear();
        self.by_email.clear();
        for u in tx.users_by_keys(&names, &emails).await? {
            self.by_email.insert(u.email.key(), u.clone());
            self.by_username.insert(u.username.key(), u);
        }
        Ok(())
    }

    async fn user_type(&mut self, tx: &mut dyn ReadTx, name: &str) -> Result<Option<UserType>> {
        let key = access::type_key(name);
        if !self.types.contains_key(&key) {
            let found = tx.user_type_by_key(&key).await?;
            self.types.insert(key.clone(), found);
        }
        Ok(self.types[&key].clone())
    }

    async fn branch(&mut self, tx: &mut dyn ReadTx, name: &str) -> Result<Option<Branch>> {
        let key = name_key(name.trim());
        if !self.branches.contains_key(&key) {
            let found = tx.branch_by_key(&key).await?;
            self.branches.insert(key.clone(), found);
        }
        Ok(self.branches[&key].clone())
    }

    async fn group(&mut self, tx: &mut dyn ReadTx, name: &str) -> Result<Option<Group>> {
        let key = name_key(name.trim());
        if !self.groups.contains_key(&key) {
            let found = tx.group_by_key(&key).await?;
            self.groups.insert(key.clone(), found);
        }
        Ok(self.groups[&key].clone())
    }
}

/// The account a row creates.
fn new_user_of(row: &ImportRow, opts: &ImportOptions) -> NewUser {
    NewUser {
        username: row.username.clone(),
        email: row.email.clone(),
        first_name: row.first_name.clone(),
        last_name: row.last_name.clone(),
        password: row.password.clone(),
        user_type: row.user_type.clone(),
        branches: row.branches.clone(),
        groups: row.groups.clone(),
        active: row.active.unwrap_or(true),
        external_id: None,
        exclude_from_emails: row.exclude_from_emails.unwrap_or(false),
        idle_exempt: row.idle_exempt.unwrap_or(false),
        deactivate_at: row.deactivation_date,
        reactivate_at: row.reactivation_date,
        send_welcome: Welcome(opts.send_welcome).0,
    }
}

/// Whether a row leaves an existing account active. A file without a status leaves the
/// status as it is; a roster sync reactivates a deactivated account only when asked to
/// (and the row doesn't say it is inactive).
fn stays_active(row: &ImportRow, current: UserStatus, opts: &ImportOptions) -> bool {
    match &opts.sync {
        Some(sync) if !current.holds_seat() => sync.reactivate && row.active != Some(false),
        _ => row.active.unwrap_or(current.holds_seat()),
    }
}

/// Users a roster sync reads per page while looking for the missing ones.
const SYNC_PAGE: i64 = 1_000;

/// Rows per batch (of hashing, and of writing: one transaction each).
const BATCH: usize = 256;
/// How long an import's seat reservation outlives its last batch; each batch renews it.
const RESERVATION_LEASE_MS: Millis = 5 * 60 * 1000;

fn count(summary: &mut ImportSummary, outcome: Outcome) {
    match outcome {
        Outcome::Created => summary.created += 1,
        Outcome::Updated => summary.updated += 1,
        Outcome::Unchanged => summary.unchanged += 1,
        Outcome::Skipped => summary.skipped += 1,
        Outcome::Refused => {}
    }
}

/// What the write pass writes: the rows' plans and seats, and the reservation they draw on.
#[derive(Clone, Copy)]
struct WritePass<'a> {
    opts: &'a ImportOptions,
    plans: &'a HashMap<u64, Plan>,
    row_seats: &'a HashMap<u64, i64>,
    reservation: &'a str,
}

/// Reports committed rows in file order, each after the refused rows before it.
fn report_written(
    summary: &mut ImportSummary,
    outcomes: Vec<(u64, String, Outcome)>,
    changes: &mut HashMap<u64, Vec<FieldChange>>,
    refused: &mut std::iter::Peekable<std::vec::IntoIter<RowReport>>,
    report: &mut (dyn FnMut(RowReport) + Send),
) {
    for (line, username, outcome) in outcomes {
        while let Some(r) = refused.next_if(|r| r.line < line) {
            report(r);
        }
        count(summary, outcome);
        let changes = match outcome {
            Outcome::Updated => changes.remove(&line).unwrap_or_default(),
            _ => vec![],
        };
        report(RowReport {
            line,
            username,
            outcome,
            column: None,
            reason: None,
            changes,
        });
    }
}

/// Reports every row of a file nothing is written from: the refused ones with their
/// reasons, the others `Skipped` with `why_not` — or, for a preview, as `planned`.
fn report_unwritten(
    source: Source<'_>,
    refused: Vec<RowReport>,
    changes: &HashMap<u64, Vec<FieldChange>>,
    planned: impl Fn(u64) -> Outcome,
    why_not: Option<&str>,
    summary: &mut ImportSummary,
    report: &mut (dyn FnMut(RowReport) + Send),
) -> Result<()> {
    let mut refused = refused.into_iter().peekable();
    for parsed in source()? {
        let (line, username) = match &parsed {
            Ok(r) => (r.line, r.username.clone()),
            Err(e) => (e.line, String::new()),
        };
        if let Some(r) = refused.next_if(|r| r.line == line) {
            report(r);
            continue;
        }
        let outcome = if why_not.is_some() {
            Outcome::Skipped
        } else {
            planned(line)
        };
        count(summary, outcome);
        report(RowReport {
            line,
            username,
            outcome,
            column: None,
            reason: why_not.map(str::to_owned),
            changes: match outcome {
                Outcome::Updated | Outcome::Skipped => changes.get(&line).cloned().unwrap_or_default(),
                _ => vec![],
            },
        });
    }
    for rest in refused {
        report(rest);
    }
    Ok(())
}

/// An error that refuses an import as a whole, as its summary carries it.
fn refusal_of(e: &Error) -> ImportRefusal {
    ImportRefusal {
        code: e.code().to_owned(),
        message: e.to_string(),
    }
}

impl Service {
    /// [`Store::after_bulk_write`](crate::ports::Store::after_bulk_write), whose failure
    /// leaves the import written: a log left to the next automatic checkpoint, or statistics
    /// left stale, cost space and time, not data.
    async fn after_bulk_write(&self) {
        if let Err(e) = self.store.after_bulk_write().await {
            tracing::warn!(error = %e, "could not settle the database after an import's writes");
        }
    }
}

/// The batch's passwords hashed (for the rows that will be written), in row order; as many
/// at once as the hashing limit allows.
async fn hash_all(batch: &[ImportRow], plans: &HashMap<u64, Plan>) -> Result<Vec<Option<String>>> {
    // A task only for a row that has a password to hash: most files have none.
    let handles: Vec<_> = batch
        .iter()
        .map(|r| {
            r.password
                .clone()
                .filter(|_| plans.get(&r.line).is_some_and(|p| *p != Plan::Unchanged))
                .map(|p| tokio::spawn(password::hash_off_thread(Some(p))))
        })
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(match h {
            Some(h) => h.await.map_err(Error::internal)??,
            None => None,
        });
    }
    Ok(out)
}

fn upload_key(id: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(id.trim().as_bytes()))
}

fn seats_refused(needed: i64, free: i64) -> Error {
    Error::rule(
        RuleCode::SeatLimitReached,
        format!(
            "this import needs {needed} seats but only {free} are free; nothing was written — deactivate accounts or move to a larger plan first"
        ),
    )
}

impl System<'_> {
    /// Gives back the seats of imports that died while writing (the minute job).
    pub async fn end_lapsed_seat_reservations(self) -> Result<i64> {
        let mut txb = self.service.store.begin().await?;
        let n = txb.end_lapsed_seat_reservations(self.service.now()).await?;
        txb.commit().await?;
        Ok(n)
    }

    /// Drops uploads left waiting past their hour (the minute job).
    pub async fn prune_import_uploads(self) -> Result<u64> {
        let mut txb = self.service.store.begin().await?;
        let n = txb
            .delete_import_uploads(None, None, self.service.now() - UPLOAD_LIFETIME_MS)
            .await?;
        txb.commit().await?;
        Ok(n)
    }
}
