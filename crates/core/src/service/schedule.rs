//! The daily jobs (`domain::DailyJob`): when each is due, the leases that make one run at a
//! time across instances, the record of each period's run, and the jobs' bodies —
//! scheduled deactivations and reactivations (leave of absence), the trash's retention
//! and the seat snapshot.
//!
//! A run holds the job's *run lease* (`job_leases`, one row per job) while it works; a
//! scheduled run also claims its *period's row* (`job_runs`, unique per job and day), which
//! is finished with the outcome. An instance that stops mid-run leaves both: once the lease
//! has run out, the next instance's tick takes the unfinished period over (every body only
//! does what is still due, so nothing is done twice). A finished period is never run again.

use super::{Change, Service, System, UserKey};
use crate::actor::{Context, Principal};
use crate::audit::AuditAction;
use crate::domain::*;
use crate::ports::ReadTx;
use crate::{ConflictCode, Error, Result};
use serde::Serialize;
use serde_json::json;

/// How long a run's lease holds. Past it, another instance may take the run over: every
/// job finishes well within it (each handles at most 1,000 users a run; the rest are due
/// at the next).
pub const JOB_LEASE_MS: Millis = 15 * 60_000;

/// Most users one run of a job handles; the rest wait for the next run.
const BATCH: i64 = 1000;

/// A daily job as `jobs list` shows it (CONTRACT.md).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DailyJobView {
    pub name: String,
    /// When its latest run (scheduled or asked for) started; absent if it never ran.
    pub last_run: Option<String>,
    /// That run's outcome: `ok`, `failed`, `running`, or `interrupted` (its instance
    /// stopped; the next tick takes a scheduled run over).
    pub outcome: Option<String>,
    /// When it runs next: the configured hour of the next day not yet run (a time already
    /// past means at the next tick).
    pub next_run: String,
}

/// One thing a run did, or a dry run would do.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobAction {
    /// `deactivate`, `reactivate`, `deactivation_refused`, `reactivation_refused`,
    /// `purge`, `snapshot` …
    pub action: String,
    /// The user (or, for a snapshot, the day).
    pub target: String,
    pub note: Option<String>,
}

/// What a run did (or a dry run would do).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobRunReport {
    pub name: String,
    pub dry_run: bool,
    /// The day it ran for, in the configured time zone.
    pub period: String,
    /// `ok` or `failed`.
    pub outcome: String,
    pub actions: Vec<JobAction>,
}

impl JobRunReport {
    /// How many of each action, as recorded with the run and in its audit entry (no names:
    /// a purged user's must not outlive them).
    fn counts(&self) -> serde_json::Value {
        let mut counts = serde_json::Map::new();
        for a in &self.actions {
            let n = counts.entry(a.action.clone()).or_insert(json!(0));
            *n = json!(n.as_i64().unwrap_or(0) + 1);
        }
        counts.into()
    }
}

fn act(action: &str, target: impl Into<String>, note: Option<String>) -> JobAction {
    JobAction {
        action: action.into(),
        target: target.into(),
        note,
    }
}

impl Service {
    /// The schedule the daily jobs run on (03:00 UTC unless configured).
    pub fn with_schedule(mut self, schedule: Schedule) -> Service {
        self.schedule = std::sync::Arc::new(schedule);
        self
    }

    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The daily jobs, their latest run and their next. Needs `settings.manage`.
    pub async fn list_jobs(&self, ctx: &Context) -> Result<Vec<DailyJobView>> {
        self.read(ctx, Some(Area::SettingsManage), async |tx, _| {
            let now = self.now();
            let due = self.schedule.due_period(now);
            let mut out = Vec::new();
            for job in DailyJob::ALL {
                let last = tx.latest_daily_run(job.name()).await?;
                let outcome = match &last {
                    None => None,
                    Some(r) if r.finished_at.is_some() => r.outcome.clone(),
                    Some(_) if tx.job_lease(job.name(), now).await?.is_some() => Some("running".into()),
                    Some(_) => Some("interrupted".into()),
                };
                let done = tx
                    .daily_run(job.name(), &due.to_string())
                    .await?
                    .is_some_and(|r| r.finished_at.is_some());
                let next = if done { due.next() } else { due };
                out.push(DailyJobView {
                    name: job.name().into(),
                    last_run: last.map(|r| format_millis(r.started_at)),
                    outcome,
                    next_run: format_millis(self.schedule.start_of(next)),
                });
            }
            Ok(out)
        })
        .await
    }

    /// Runs a daily job now, whatever its schedule (the day's scheduled run still happens).
    /// Never two runs of one job at once: while another holds the job's lease this is a
    /// `job_running` conflict. A dry run reports what the job would do and writes nothing.
    /// Needs `settings.manage`; audited as `job.run` by the caller.
    pub async fn run_job(&self, ctx: &Context, name: &str, dry_run: bool) -> Result<JobRunReport> {
        let job = DailyJob::parse(name)?;
        self.require_area(ctx, Area::SettingsManage).await?;
        let now = self.now();
        let today = self.schedule.today(now);
        if dry_run {
            return self.run_body(job, today, true).await;
        }
        let holder = self.instance.to_string();
        let mut tx = self.store.begin().await?;
        if !tx.claim_job_lease(job.name(), &holder, now, now + JOB_LEASE_MS).await? {
            let until = tx.job_lease(job.name(), now).await?.map_or(now, |(_, until)| until);
            return Err(Error::conflict(
                ConflictCode::JobRunning,
                format!(
                    "job '{job}' is already running (its lease runs until {}); try again when it has finished",
                    format_millis(until)
                ),
            ));
        }
        let run = tx.start_manual_run(job.name(), &holder, now).await?;
        tx.commit().await?;
        let run = DailyRun {
            service: self,
            job,
            period: today,
            run,
            holder,
        };
        run.finish(ctx, None).await
    }

    /// The job's body: does (or with `dry`, lists) what is due on `today`.
    async fn run_body(&self, job: DailyJob, today: Day, dry: bool) -> Result<JobRunReport> {
        let threshold = self.schedule.due_threshold(today, self.now());
        let actions = match job {
            DailyJob::ScheduledLifecycle => {
                let mut actions = self.system().scheduled_deactivations(threshold, dry).await?;
                actions.extend(self.scheduled_reactivations(threshold, dry).await?);
                actions
            }
            DailyJob::TrashPurge => self.system().purge_trash(dry).await?,
            DailyJob::SeatSnapshot => self.seat_snapshot(today, dry).await?,
            DailyJob::IdlePolicy => self.idle_policy_job(dry).await?,
            DailyJob::SeatAlerts => self
                .system()
                .run_seat_alerts(dry)
                .await?
                .into_iter()
                .map(|a| JobAction {
                    action: "seat_alert".into(),
                    target: a.scope,
                    note: Some(format!("{}% ({} of {})", a.level, a.used, a.limit)),
                })
                .collect(),
        };
        Ok(JobRunReport {
            name: job.name().into(),
            dry_run: dry,
            period: today.to_string(),
            outcome: "ok".into(),
            actions,
        })
    }

    /// The idle policy as a daily job: a run (the policy's own cap holds it back when it
    /// would deactivate too many), or its preview for a dry run.
    async fn idle_policy_job(&self, dry: bool) -> Result<Vec<JobAction>> {
        fn act(action: &'static str, names: Vec<String>) -> impl Iterator<Item = JobAction> {
            names.into_iter().map(move |target| JobAction {
                action: action.to_owned(),
                target,
                note: None,
            })
        }
        let (warn, deactivate, withdraw, held, count) = if dry {
            let p = self.idle_preview(&Context::job(super::IDLE_JOB)).await?;
            if !p.enabled {
                return Ok(vec![]);
            }
            let n = p.deactivate.len() as i64;
            (p.warn, p.deactivate, p.withdraw, p.held, n)
        } else {
            let r = self.system().run_idle_policy().await?;
            (r.warned, r.deactivated, r.withdrawn, r.held, r.would_deactivate)
        };
        let mut actions: Vec<JobAction> = act("idle_warn", warn).collect();
        if held {
            actions.push(JobAction {
                action: "held".into(),
                target: format!("{count} deactivations"),
                note: Some("past the safety cap: waiting for an administrator's confirmation".into()),
            });
        } else {
            actions.extend(act("deactivate", deactivate));
        }
        actions.extend(act("idle_warning_withdrawn", withdraw));
        Ok(actions)
    }

    async fn username_of(&self, tx: &mut dyn ReadTx, id: UserId) -> Result<String> {
        Ok(tx
            .user_by_id(id)
            .await?
            .map_or_else(|| format!("#{}", id.0), |u| u.username.to_string()))
    }

    /// Reactivates deactivated users whose leave ends by `threshold`, each in its own
    /// transaction through the ordinary activation (seat limit, branch caps). When no seat
    /// is free the account stays deactivated: the date is cleared, the refusal audited and
    /// every active administrator mailed, once.
    async fn scheduled_reactivations(&self, threshold: Millis, dry: bool) -> Result<Vec<JobAction>> {
        let ctx = Context::system("scheduled_reactivation");
        let due = {
            let mut tx = self.store.begin_read().await?;
            let ids = tx.users_due_for_reactivation(threshold, BATCH).await?;
            let mut due = Vec::with_capacity(ids.len());
            for id in ids {
                due.push((id, self.username_of(tx.as_mut(), id).await?));
            }
            due
        };
        let mut actions = Vec::new();
        for (id, username) in due {
            if dry {
                actions.push(act("reactivate", username, Some("if a seat is free".into())));
                continue;
            }
            match self.activate_user(&ctx, &UserKey::Id(id)).await {
                Ok(v) => actions.push(act("reactivate", v.username, None)),
                Err(e @ (Error::SeatLimitReached { .. } | Error::BranchSeatCapReached { .. })) => {
                    tracing::warn!(user = id.0, error = %e, "scheduled reactivation refused: no seat is free; the date is cleared");
                    if self.refuse_scheduled_reactivation(&ctx, id, &e, threshold).await? {
                        actions.push(act("reactivation_refused", username, Some(e.to_string())));
                    }
                }
                Err(e) => {
                    tracing::warn!(user = id.0, error = %e, "scheduled reactivation failed");
                    actions.push(act("reactivation_failed", username, Some(e.code().into())));
                }
            }
        }
        Ok(actions)
    }

    /// A scheduled reactivation without a free seat: clears the date (so it isn't retried
    /// and mailed about every day), audits the refusal and mails every active administrator
    /// naming the account — once, even when several instances run the job. `false` when
    /// another instance did it already or the date was changed meanwhile.
    async fn refuse_scheduled_reactivation(
        &self,
        ctx: &Context,
        id: UserId,
        why: &Error,
        threshold: Millis,
    ) -> Result<bool> {
        let mut txb = self.store.begin().await?;
        let tx = txb.as_mut();
        let Some(mut user) = tx.lock_user(id).await? else {
            return Ok(false);
        };
        let Some(scheduled) = user
            .reactivate_at
            .filter(|d| *d <= threshold && user.status == UserStatus::Deactivated)
        else {
            return Ok(false);
        };
        user.reactivate_at = None;
        user.updated_at = self.now();
        tx.update_user(&user).await?;
        let changes = json!({
            "reactivate_at": [Some(format_millis(scheduled)), None::<String>],
            "refused": why.code(),
        });
        self.record(
            tx,
            ctx,
            &Principal::superuser(),
            Change::user(AuditAction::UserScheduledReactivationRefused, &user, changes),
        )
        .await?;
        let admins = self.active_administrators(tx).await?;
        let reason = match why {
            Error::BranchSeatCapReached { branch, cap } => {
                format!("branch '{branch}' has reached its seat cap of {cap}")
            }
            Error::SeatLimitReached { used, limit } => {
                format!("all {limit} seats of the plan are in use ({used} used)")
            }
            other => other.to_string(),
        };
        for admin in &admins {
            let msg = mail::reactivation_refused(admin, &user, self.base_url(), scheduled, &reason);
            self.queue_mail(tx, admin, msg).await?;
        }
        self.commit(txb).await?;
        Ok(true)
    }

    /// Records the day's count of seats used, under the day in the configured time zone.
    async fn seat_snapshot(&self, today: Day, dry: bool) -> Result<Vec<JobAction>> {
        let used = if dry {
            self.store.begin_read().await?.plan().await?.seats_used
        } else {
            let mut txb = self.store.begin().await?;
            let used = txb.plan().await?.seats_used;
            txb.record_seat_day(today.epoch_day(), used).await?;
            self.commit(txb).await?;
            used
        };
        Ok(vec![act(
            "snapshot",
            today.to_string(),
            Some(format!("{used} seats used")),
        )])
    }
}

/// A daily job's run in progress: its lease is held and (for a scheduled run) its period's
/// row claimed. Dropped without [`DailyRun::run`], it is abandoned as a stopped instance
/// would abandon it: the lease runs out and another instance takes the period over.
pub struct DailyRun<'a> {
    service: &'a Service,
    job: DailyJob,
    period: Day,
    run: i64,
    holder: String,
}

impl DailyRun<'_> {
    pub fn period(&self) -> Day {
        self.period
    }

    /// Does the job's work and records the outcome (audited as `job.run` by the system).
    pub async fn run(self) -> Result<JobRunReport> {
        let ctx = Context::system(self.job.name());
        let period = Some(self.period);
        self.finish(&ctx, period).await
    }

    /// Runs the body, then records its end and the audit entry in one transaction, if the
    /// run is still this holder's; releases the lease either way.
    async fn finish(self, ctx: &Context, period: Option<Day>) -> Result<JobRunReport> {
        let s = self.service;
        let result = s.run_body(self.job, self.period, false).await;
        let (outcome, detail) = match &result {
            Ok(report) => ("ok", report.counts()),
            Err(Error::Internal(_)) => ("failed", json!({ "error": "internal error (see the server's log)" })),
            Err(e) => ("failed", json!({ "error": e.to_string() })),
        };
        let mut txb = s.store.begin().await?;
        let tx = txb.as_mut();
        let mine = tx
            .finish_daily_run(self.run, &self.holder, s.now(), outcome, &detail.to_string())
            .await?;
        if mine {
            let who = s.principal(tx, ctx).await?;
            let changes = json!({
                "period": period.map(|p| p.to_string()),
                "outcome": outcome,
                "done": detail,
            });
            s.record(
                tx,
                ctx,
                &who,
                Change::other(AuditAction::JobRun, "job", None, self.job.name(), changes),
            )
            .await?;
        } else {
            tracing::warn!(job = %self.job, "the run's lease ran out and another instance took it over; its outcome is theirs");
        }
        tx.release_job_lease(self.job.name(), &self.holder).await?;
        s.commit(txb).await?;
        let mut report = result?;
        report.outcome = outcome.into();
        Ok(report)
    }
}

impl<'a> System<'a> {
    /// The minute tick's part: runs every daily job whose period is due and not finished,
    /// unless another instance holds its lease. Returns what ran.
    pub async fn run_due_jobs(self) -> Vec<(DailyJob, Result<JobRunReport>)> {
        let mut out = Vec::new();
        for job in DailyJob::ALL {
            match self.begin_daily_run(job).await {
                Ok(Some(run)) => out.push((job, run.run().await)),
                Ok(None) => {}
                Err(e) => out.push((job, Err(e))),
            }
        }
        out
    }

    /// Takes the job's lease and its due period, if that period is unfinished and nobody
    /// holds the lease; `None` otherwise.
    pub async fn begin_daily_run(self, job: DailyJob) -> Result<Option<DailyRun<'a>>> {
        let s = self.service;
        let now = s.now();
        let period = s.schedule.due_period(now);
        if now < s.schedule.start_of(period) {
            return Ok(None);
        }
        {
            // Most ticks find the day done: a read, no write.
            let mut tx = s.store.begin_read().await?;
            if tx
                .daily_run(job.name(), &period.to_string())
                .await?
                .is_some_and(|r| r.finished_at.is_some())
            {
                return Ok(None);
            }
        }
        let holder = s.instance.to_string();
        let mut tx = s.store.begin().await?;
        if !tx.claim_job_lease(job.name(), &holder, now, now + JOB_LEASE_MS).await? {
            return Ok(None);
        }
        let Some(run) = tx
            .start_daily_run(job.name(), &period.to_string(), &holder, now)
            .await?
        else {
            tx.release_job_lease(job.name(), &holder).await?;
            tx.commit().await?;
            return Ok(None);
        };
        tx.commit().await?;
        Ok(Some(DailyRun {
            service: s,
            job,
            period,
            run,
            holder,
        }))
    }

    /// Scheduled deactivations due on the day the service's clock is on (what the
    /// `scheduled-lifecycle` job does first). Returns how many users were deactivated.
    pub async fn run_scheduled_deactivations(self) -> Result<usize> {
        let s = self.service;
        let threshold = s.schedule.due_threshold(s.schedule.today(s.now()), s.now());
        let actions = self.scheduled_deactivations(threshold, false).await?;
        Ok(actions.iter().filter(|a| a.action == "deactivate").count())
    }

    /// Deactivates users whose scheduled date is at or before `threshold`. Each in its own
    /// transaction, so one refusal doesn't hold back the others. The last administrator's
    /// is refused once and visibly: the date is cleared, the refusal audited and the
    /// administrators mailed, so the job doesn't try again.
    pub(crate) async fn scheduled_deactivations(self, threshold: Millis, dry: bool) -> Result<Vec<JobAction>> {
        let s = self.service;
        let ctx = Context::system("scheduled_deactivation");
        let due = {
            let mut tx = s.store.begin_read().await?;
            let ids = tx.users_due_for_deactivation(threshold, BATCH).await?;
            let mut due = Vec::with_capacity(ids.len());
            for id in ids {
                due.push((id, s.username_of(tx.as_mut(), id).await?));
            }
            due
        };
        let mut actions = Vec::new();
        for (id, username) in due {
            if dry {
                actions.push(act("deactivate", username, None));
                continue;
            }
            match s.deactivate_user(&ctx, &UserKey::Id(id)).await {
                Ok(v) => actions.push(act("deactivate", v.username, None)),
                Err(e) if e.code() == "last_administrator" => {
                    tracing::warn!(user = id.0, error = %e, "scheduled deactivation refused; the date is cleared");
                    s.refuse_scheduled_deactivation(&ctx, id, &e, threshold).await?;
                    actions.push(act("deactivation_refused", username, Some(e.to_string())));
                }
                Err(e) => {
                    tracing::warn!(user = id.0, error = %e, "scheduled deactivation refused");
                    actions.push(act("deactivation_failed", username, Some(e.code().into())));
                }
            }
        }
        Ok(actions)
    }
}
