//! Bulk actions over many users: each user in their own transaction, each outcome reported.
//! Large batches run as background jobs whose progress is kept in the database, so any
//! instance can answer a poll.

use super::users::{UserFilter, UserKey, UserUpdate};
use super::{Service, System};
use crate::actor::{Actor, Channel, Context};
use crate::domain::*;
use crate::ports::{JobRecord, UserQuery};
use crate::{Entity, Error, Result};
use serde::Serialize;

/// How long a job stays with the instance running it without news: it saves a chunk's
/// outcomes (and renews this) far more often.
const JOB_LEASE_MS: Millis = 2 * 60 * 1000;
/// Users done between saves of a job's progress (and renewals of its lease).
const JOB_CHUNK: i64 = 100;

/// A bulk job in the hands of one runner: what to do, as whom, and the lease it holds.
#[derive(Debug)]
pub struct BulkRun {
    pub ctx: Context,
    pub job_id: i64,
    pub action: BulkAction,
    lease: Millis,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "action", content = "value", rename_all = "snake_case")]
pub enum BulkAction {
    Deactivate,
    Activate,
    Delete,
    AddToGroup(String),
    RemoveFromGroup(String),
    AddToBranch(String),
    RemoveFromBranch(String),
    ChangeType(String),
}

vocabulary! {
    /// The name of a bulk action, as requests give it.
    BulkActionKind {
        Deactivate = "deactivate",
        Activate = "activate",
        Delete = "delete",
        AddToGroup = "add_to_group",
        RemoveFromGroup = "remove_from_group",
        AddToBranch = "add_to_branch",
        RemoveFromBranch = "remove_from_branch",
        ChangeType = "change_type",
    }
}

/// The names a bulk action may need, one of which it takes (by [`BulkActionKind`]).
#[derive(Clone, Debug, Default)]
pub struct BulkArguments {
    pub group: Option<String>,
    pub branch: Option<String>,
    pub user_type: Option<String>,
}

impl BulkAction {
    /// The action `kind` names, with the argument it needs taken from `args`: the one place
    /// a bulk request becomes an action, for every channel.
    pub fn new(kind: BulkActionKind, args: BulkArguments) -> Result<BulkAction> {
        let need = |v: Option<String>, field: &str| match v.map(|v| v.trim().to_owned()) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(Error::invalid(
                field,
                format!("the {} action needs \"{field}\"", kind.as_str()),
            )),
        };
        Ok(match kind {
            BulkActionKind::Deactivate => BulkAction::Deactivate,
            BulkActionKind::Activate => BulkAction::Activate,
            BulkActionKind::Delete => BulkAction::Delete,
            BulkActionKind::AddToGroup => BulkAction::AddToGroup(need(args.group, "group")?),
            BulkActionKind::RemoveFromGroup => BulkAction::RemoveFromGroup(need(args.group, "group")?),
            BulkActionKind::AddToBranch => BulkAction::AddToBranch(need(args.branch, "branch")?),
            BulkActionKind::RemoveFromBranch => BulkAction::RemoveFromBranch(need(args.branch, "branch")?),
            BulkActionKind::ChangeType => BulkAction::ChangeType(need(args.user_type, "user_type")?),
        })
    }

    /// [`BulkAction::new`] from the action's name.
    pub fn parse(name: &str, args: BulkArguments) -> Result<BulkAction> {
        let kind = BulkActionKind::from_wire(name.trim()).ok_or_else(|| {
            let known: Vec<_> = BulkActionKind::ALL.iter().map(|k| k.as_str()).collect();
            Error::invalid(
                "action",
                format!("unknown bulk action '{name}'; use one of {}", known.join(", ")),
            )
        })?;
        BulkAction::new(kind, args)
    }

    pub fn kind(&self) -> BulkActionKind {
        match self {
            BulkAction::Deactivate => BulkActionKind::Deactivate,
            BulkAction::Activate => BulkActionKind::Activate,
            BulkAction::Delete => BulkActionKind::Delete,
            BulkAction::AddToGroup(_) => BulkActionKind::AddToGroup,
            BulkAction::RemoveFromGroup(_) => BulkActionKind::RemoveFromGroup,
            BulkAction::AddToBranch(_) => BulkActionKind::AddToBranch,
            BulkAction::RemoveFromBranch(_) => BulkActionKind::RemoveFromBranch,
            BulkAction::ChangeType(_) => BulkActionKind::ChangeType,
        }
    }

    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }
}

/// Which users a bulk action is for.
#[derive(Clone, Debug)]
pub enum BulkTargets {
    Ids(Vec<i64>),
    /// Every user the filter matches (within the caller's scope), cursor and limit ignored.
    Filter(UserFilter),
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BulkOutcome {
    /// The user's id; job results name no one, so a purge leaves nothing behind in them.
    pub id: i64,
    pub ok: bool,
    pub status: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobView {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub total: i64,
    pub done: i64,
    pub failed: i64,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// Per-user outcomes so far, in the order the users were named, a page at a time.
    pub results: Vec<BulkOutcome>,
    /// Pass as `results_after` for the next page of results; absent on the last.
    pub results_next: Option<i64>,
}

/// Which page of a job's per-user outcomes to show.
#[derive(Clone, Copy, Debug, Default)]
pub struct ResultsPage {
    /// Outcomes after this position (`results_next` of the previous page).
    pub after: Option<i64>,
    /// At most this many (default 1,000, at most 10,000).
    pub limit: Option<i64>,
}

impl From<JobRecord> for JobView {
    fn from(j: JobRecord) -> JobView {
        JobView {
            id: j.id,
            kind: j.kind,
            status: j.status,
            total: j.total,
            done: j.done,
            failed: j.failed,
            created_at: format_millis(j.created_at),
            finished_at: j.finished_at.map(format_millis),
            results: serde_json::from_str(&j.results).unwrap_or_default(),
            results_next: None,
        }
    }
}

/// Most users a bulk request may name or match.
pub const MAX_BULK: usize = 1_000_000;

impl Service {
    /// Resolves the targets to user ids the caller may see. Deletion needs `confirm` equal
    /// to the number of users it will touch, so nobody deletes more than they meant to.
    pub async fn bulk_targets(
        &self,
        ctx: &Context,
        action: &BulkAction,
        targets: &BulkTargets,
        confirm: Option<i64>,
    ) -> Result<Vec<UserId>> {
        self.read(ctx, Some(Area::UsersManage), async |tx, who| {
            let ids: Vec<UserId> = match targets {
                BulkTargets::Ids(ids) => {
                    if ids.is_empty() || ids.len() > MAX_BULK {
                        return Err(Error::invalid("ids", format!("name 1 to {MAX_BULK} user ids")));
                    }
                    let mut seen = std::collections::BTreeSet::new();
                    ids.iter()
                        .filter(|id| seen.insert(**id))
                        .map(|id| UserId(*id))
                        .collect()
                }
                BulkTargets::Filter(filter) => {
                    let mut f = filter.clone();
                    f.cursor = None;
                    let mut q: UserQuery = self.user_query(&mut **tx, who, &f).await?;
                    q.limit = 10_000;
                    let mut ids = vec![];
                    loop {
                        let page = tx.list_users(&q).await?;
                        let full = page.len() as i64 == q.limit;
                        q.after = page.last().map(|u| crate::domain::UserCursor { id: u.id });
                        ids.extend(page.into_iter().map(|u| u.id));
                        if ids.len() > MAX_BULK {
                            return Err(Error::invalid(
                                "filter",
                                format!("matches more than {MAX_BULK} users; narrow it"),
                            ));
                        }
                        if !full {
                            break;
                        }
                    }
                    ids
                }
            };
            if *action == BulkAction::Delete && confirm != Some(ids.len() as i64) {
                return Err(Error::ConfirmationRequired(format!(
                    "deleting {} users erases their records after the retention period; confirm with the count: \"confirm\": {}",
                    ids.len(),
                    ids.len()
                )));
            }
            Ok(ids)
        })
        .await
    }

    /// Applies the action to one user; the outcome is reported, never raised.
    async fn bulk_one(&self, ctx: &Context, action: &BulkAction, id: UserId) -> BulkOutcome {
        let key = UserKey::Id(id);
        let result = match action {
            BulkAction::Deactivate => self.deactivate_user(ctx, &key).await.map(Some),
            BulkAction::Activate => self.activate_user(ctx, &key).await.map(Some),
            BulkAction::Delete => match self.get_user(ctx, &key).await {
                Ok(u) => self.delete_user(ctx, &key, Some(&u.username), false, None).await,
                Err(e) => Err(e),
            },
            other => {
                let mut upd = UserUpdate::default();
                match other {
                    BulkAction::AddToGroup(g) => upd.add_groups = vec![g.clone()],
                    BulkAction::RemoveFromGroup(g) => upd.remove_groups = vec![g.clone()],
                    BulkAction::AddToBranch(b) => upd.add_branches = vec![b.clone()],
                    BulkAction::RemoveFromBranch(b) => upd.remove_branches = vec![b.clone()],
                    BulkAction::ChangeType(t) => upd.user_type = Some(t.clone()),
                    BulkAction::Deactivate | BulkAction::Activate | BulkAction::Delete => {
                        unreachable!("handled above")
                    }
                }
                self.update_user(ctx, &key, upd).await.map(Some)
            }
        };
        match result {
            Ok(view) => BulkOutcome {
                id: id.0,
                ok: true,
                status: view.map(|v| v.status.as_str().to_owned()),
                code: None,
                message: None,
            },
            Err(e) => {
                if let Error::Internal(_) = e {
                    tracing::error!(user = id.0, error = %e, "bulk action failed");
                }
                let message = match &e {
                    Error::Internal(_) => "internal error".to_owned(),
                    other => other.to_string(),
                };
                BulkOutcome {
                    id: id.0,
                    ok: false,
                    status: None,
                    code: Some(e.code().to_owned()),
                    message: Some(message),
                }
            }
        }
    }

    /// Applies the action to every user, in order; returns each outcome.
    pub async fn bulk_apply(&self, ctx: &Context, action: &BulkAction, ids: &[UserId]) -> Vec<BulkOutcome> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.bulk_one(ctx, action, *id).await);
        }
        out
    }

    /// Records a background job for a large bulk action: the action, who asked, and every
    /// user it is for, so any instance can finish it (see `claim_abandoned_job`). The
    /// caller runs it with `run_bulk_job`, holding its lease.
    pub async fn start_bulk_job(
        &self,
        ctx: &Context,
        action: &BulkAction,
        ids: &[UserId],
    ) -> Result<(JobView, BulkRun)> {
        let mut txb = self.store.begin().await?;
        let tx = txb.as_mut();
        let who = self.principal(tx, ctx).await?;
        who.require(Area::UsersManage)?;
        let now = self.now();
        let mut job = JobRecord {
            id: 0,
            kind: format!("bulk.{}", action.name()),
            status: "running".into(),
            created_by: who.user_id,
            total: ids.len() as i64,
            done: 0,
            failed: 0,
            results: "[]".into(),
            created_at: now,
            finished_at: None,
            action: Some(serde_json::to_string(action).map_err(Error::internal)?),
            actor: ctx.actor.stored(),
            channel: Some(ctx.channel.as_str().into()),
            request_id: ctx.request_id.clone(),
            lease_until: Some(now + JOB_LEASE_MS),
        };
        job.id = tx.insert_job(&job).await?;
        tx.insert_job_items(job.id, ids).await?;
        txb.commit().await?;
        let run = BulkRun {
            ctx: ctx.clone(),
            job_id: job.id,
            action: action.clone(),
            lease: now + JOB_LEASE_MS,
        };
        Ok((job.into(), run))
    }

    async fn run_bulk_job_steps(&self, run: &BulkRun, held: &mut Millis) -> Result<()> {
        let mut after = -1;
        loop {
            // Renew the lease before acting, so a runner that stalled past it doesn't act
            // on a chunk alongside the one that took the job over.
            let lease = self.now() + JOB_LEASE_MS;
            let mut tx = self.store.begin().await?;
            if !tx.advance_job(run.job_id, *held, (0, 0), lease, None).await? {
                tracing::warn!(
                    job = run.job_id,
                    "bulk job taken over by another instance; stopping here"
                );
                return Ok(());
            }
            tx.commit().await?;
            *held = lease;
            let pending = {
                let mut tx = self.store.begin_read().await?;
                tx.pending_job_items(run.job_id, after, JOB_CHUNK).await?
            };
            let ids: Vec<UserId> = pending.iter().map(|(_, id)| *id).collect();
            let outcomes = self.bulk_apply(&run.ctx, &run.action, &ids).await;
            let mut saved = Vec::with_capacity(outcomes.len());
            for ((seq, _), outcome) in pending.iter().zip(&outcomes) {
                saved.push((
                    *seq,
                    outcome.ok,
                    serde_json::to_string(outcome).map_err(Error::internal)?,
                ));
            }
            let now = self.now();
            let finished = (pending.len() as i64) < JOB_CHUNK;
            let mut tx = self.store.begin().await?;
            let progress = tx.finish_job_items(run.job_id, &saved).await?;
            let lease = now + JOB_LEASE_MS;
            if !tx
                .advance_job(run.job_id, *held, progress, lease, finished.then_some(now))
                .await?
            {
                // Taken over: the new runner redoes this chunk's unsaved outcomes.
                tracing::warn!(
                    job = run.job_id,
                    "bulk job taken over by another instance; stopping here"
                );
                return Ok(());
            }
            tx.commit().await?;
            *held = lease;
            if finished {
                return Ok(());
            }
            after = pending.last().map_or(after, |(seq, _)| *seq);
        }
    }

    /// A job's progress, for whoever started it, or anyone who manages users without a
    /// branch restriction.
    pub async fn job(&self, ctx: &Context, id: i64, page: ResultsPage) -> Result<JobView> {
        self.read(ctx, Some(Area::UsersManage), async |tx, who| {
            let job = tx.job(id).await?.ok_or_else(|| Error::not_found(Entity::Job, id))?;
            let mine = job.created_by.is_some() && job.created_by == who.user_id;
            if !mine && who.branch_ids().is_some() {
                return Err(Error::not_found(Entity::Job, id));
            }
            let limit = page.limit.unwrap_or(1_000);
            if !(1..=10_000).contains(&limit) {
                return Err(Error::invalid("results_limit", "must be between 1 and 10000"));
            }
            let after = page.after.unwrap_or(-1);
            let outcomes = tx.job_outcomes(id, after, limit).await?;
            let legacy = job.action.is_none();
            let mut view = JobView::from(job);
            if legacy {
                // Jobs from before migration 0012 keep their outcomes in one list.
                return Ok(view);
            }
            view.results_next = (outcomes.len() as i64 == limit)
                .then(|| outcomes.last().map(|(seq, _)| *seq))
                .flatten();
            view.results = outcomes
                .iter()
                .map(|(_, o)| serde_json::from_str(o).map_err(Error::internal))
                .collect::<Result<_>>()?;
            Ok(view)
        })
        .await
    }
}

impl System<'_> {
    /// Runs a job's users not done yet, a chunk at a time. Each chunk's outcomes are saved
    /// with the job's lease renewed — only while this runner still holds it, so if another
    /// instance has taken the job over (this one stalled past its lease) this one stops.
    /// An instance that stops loses at most one chunk's progress, which whoever takes the
    /// job over redoes. A job that fails midway is marked `failed` with what it reached.
    pub async fn run_bulk_job(self, run: BulkRun) -> Result<()> {
        let mut held = run.lease;
        let result = self.service.run_bulk_job_steps(&run, &mut held).await;
        if result.is_err() {
            let mut tx = self.service.store.begin().await?;
            tx.fail_job(run.job_id, held, self.service.now()).await?;
            tx.commit().await?;
        }
        result
    }

    /// Takes over one bulk job whose instance stopped (its lease ran out), to be finished
    /// with `run_bulk_job` as the party that started it — with their permissions as they
    /// are now. A job that can't be resumed is marked failed.
    pub async fn claim_abandoned_job(self) -> Result<Option<BulkRun>> {
        loop {
            let now = self.service.now();
            let lease = now + JOB_LEASE_MS;
            let mut tx = self.service.store.begin().await?;
            let Some(mut job) = tx.claim_abandoned_job(now, lease).await? else {
                return Ok(None);
            };
            let action: Option<BulkAction> = job.action.as_deref().and_then(|a| serde_json::from_str(a).ok());
            let actor = job.actor.as_deref().and_then(Actor::from_stored);
            let channel = job.channel.as_deref().and_then(Channel::parse);
            if let (Some(action), Some(actor), Some(channel)) = (action, actor, channel) {
                tx.commit().await?;
                let mut ctx = Context::new(actor, channel);
                ctx.request_id = job.request_id.clone();
                return Ok(Some(BulkRun {
                    ctx,
                    job_id: job.id,
                    action,
                    lease,
                }));
            }
            // Started before jobs kept what resuming needs.
            job.status = "failed".into();
            job.finished_at = Some(now);
            tx.update_job(&job).await?;
            tx.commit().await?;
        }
    }
}
