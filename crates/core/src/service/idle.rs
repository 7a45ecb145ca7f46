//! The idle-account policy: its settings, the preview, and the run (the `idle-policy` daily
//! job, or an administrator's run with confirmation past the safety cap).
//!
//! A preview and a run compute the same plan ([`Service::idle_plan`]) from the same rows:
//! the run takes the plan-row lock first (so no status change interleaves), computes the
//! plan in its write transaction and applies exactly it. Held back by the safety cap, it
//! writes nothing but its audit entry and the administrators' mail.

use super::{Change, Service, System};
use crate::actor::{Context, Principal};
use crate::audit::AuditAction;
use crate::domain::user::LifecycleAction;
use crate::domain::*;
use crate::ports::{IdleQuery, ReadTx, Tx, UserQuery};
use crate::{Error, Result, RuleCode};
use serde::Serialize;
use serde_json::json;
use std::collections::HashSet;

/// The job name the policy acts as (actor of its audit entries, with channel `job`).
pub const IDLE_JOB: &str = "idle-policy";

/// The policy as channels show it: exemptions by name.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdlePolicyView {
    pub enabled: bool,
    pub idle_days: i64,
    pub never_signed_in_days: i64,
    pub warn_days: i64,
    pub grace_days: i64,
    /// Percent of the active accounts a run may deactivate without confirmation.
    pub max_share: i64,
    pub exempt_types: Vec<String>,
    pub exempt_groups: Vec<String>,
    pub exempt_branches: Vec<String>,
}

/// Changes to the policy; `None` leaves a setting as it is, a list given replaces the
/// stored one (blank names are dropped; an empty list empties it).
#[derive(Clone, Debug, Default)]
pub struct IdlePolicyUpdate {
    pub enabled: Option<bool>,
    pub idle_days: Option<i64>,
    pub never_signed_in_days: Option<i64>,
    pub warn_days: Option<i64>,
    pub grace_days: Option<i64>,
    pub max_share: Option<i64>,
    pub exempt_types: Option<Vec<String>>,
    pub exempt_groups: Option<Vec<String>>,
    pub exempt_branches: Option<Vec<String>>,
}

/// A standing warning: the account and the deactivation date it was mailed.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdleWarningView {
    pub username: String,
    pub deadline: String,
}

/// What a run would do now (CONTRACT.md: `warn`, `deactivate`, `held`, `seats_freed`).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdlePreview {
    pub enabled: bool,
    /// Accounts a run would warn now.
    pub warn: Vec<String>,
    /// Accounts a confirmed run would deactivate now.
    pub deactivate: Vec<String>,
    /// Whether the safety cap holds the run back (it would need confirmation).
    pub held: bool,
    pub seats_freed: i64,
    /// Active accounts, and the most a run may deactivate without confirmation.
    pub active: i64,
    pub cap: i64,
    /// Warnings a run would withdraw (the account is exempt now, or no longer idle under
    /// the policy as set).
    pub withdraw: Vec<String>,
    /// The last active administrator, kept whatever the policy says.
    pub spared: Vec<String>,
    /// Warnings already sent that stand, with their deadlines.
    pub warned: Vec<IdleWarningView>,
}

/// What a run did.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdleRun {
    /// Whether the policy is on (a run of a policy that is off does nothing).
    pub enabled: bool,
    pub warned: Vec<String>,
    pub deactivated: Vec<String>,
    pub withdrawn: Vec<String>,
    /// Held back by the safety cap: nothing was written.
    pub held: bool,
    /// How many a confirmed run would deactivate (when held), or deactivated.
    pub would_deactivate: i64,
    pub confirmed: bool,
    pub seats_freed: i64,
}

/// The plan a preview shows and a run applies.
struct Plan {
    steps: Vec<(IdleCandidate, IdleStep)>,
    spared: Vec<String>,
    active: i64,
    cap: i64,
    held: bool,
}

impl Plan {
    fn names(&self, want: impl Fn(&IdleStep) -> bool) -> Vec<String> {
        self.steps
            .iter()
            .filter(|(_, s)| want(s))
            .map(|(c, _)| c.username.clone())
            .collect()
    }
    fn deactivations(&self) -> usize {
        self.steps.iter().filter(|(_, s)| *s == IdleStep::Deactivate).count()
    }
}

fn policy_principal() -> Principal {
    Principal {
        label: "idle policy".into(),
        ..Principal::superuser()
    }
}

impl Service {
    pub(crate) async fn load_idle_policy(&self, tx: &mut dyn ReadTx) -> Result<IdlePolicy> {
        match tx.setting(idle::SETTING_KEY).await? {
            Some(s) => IdlePolicy::from_stored(&s),
            None => Ok(IdlePolicy::default()),
        }
    }

    pub(crate) async fn idle_policy_view(&self, tx: &mut dyn ReadTx, p: &IdlePolicy) -> Result<IdlePolicyView> {
        let mut types = vec![];
        for id in &p.exempt_types {
            if let Some(t) = tx.user_type_by_id(*id).await? {
                types.push(t.name);
            }
        }
        let mut groups = vec![];
        for id in &p.exempt_groups {
            if let Some(g) = tx.group_by_id(*id).await? {
                groups.push(g.name);
            }
        }
        let branches = tx
            .branches()
            .await?
            .into_iter()
            .filter(|b| p.exempt_branches.contains(&b.id))
            .map(|b| b.name)
            .collect();
        Ok(IdlePolicyView {
            enabled: p.enabled,
            idle_days: p.idle_days,
            never_signed_in_days: p.never_signed_in_days,
            warn_days: p.warn_days,
            grace_days: p.grace_days,
            max_share: p.max_share,
            exempt_types: types,
            exempt_groups: groups,
            exempt_branches: branches,
        })
    }

    /// The idle policy as set (off, with its defaults, until someone sets it).
    pub async fn idle_policy(&self, ctx: &Context) -> Result<IdlePolicyView> {
        self.read(ctx, Some(Area::SettingsManage), async |tx, _| {
            let p = self.load_idle_policy(&mut **tx).await?;
            self.idle_policy_view(&mut **tx, &p).await
        })
        .await
    }

    /// Changes the policy; every rule is checked on the result, naming the bad field.
    pub async fn set_idle_policy(&self, ctx: &Context, upd: IdlePolicyUpdate) -> Result<IdlePolicyView> {
        self.write(ctx, Some(Area::SettingsManage), async |tx, who| {
            who.require_platform_admin("set the idle policy")?;
            let before = self.load_idle_policy(&mut **tx).await?;
            let mut p = before.clone();
            let set = |slot: &mut i64, v: Option<i64>| {
                if let Some(v) = v {
                    *slot = v;
                }
            };
            if let Some(e) = upd.enabled {
                p.enabled = e;
            }
            set(&mut p.idle_days, upd.idle_days);
            set(&mut p.never_signed_in_days, upd.never_signed_in_days);
            set(&mut p.warn_days, upd.warn_days);
            set(&mut p.grace_days, upd.grace_days);
            set(&mut p.max_share, upd.max_share);
            let named = |v: &Vec<String>| -> Vec<String> {
                v.iter()
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            };
            if let Some(names) = &upd.exempt_types {
                p.exempt_types.clear();
                for n in named(names) {
                    let t = tx
                        .user_type_by_key(&access::type_key(&n))
                        .await?
                        .ok_or_else(|| Error::invalid("exempt_types", format!("there is no user type named '{n}'")))?;
                    if !p.exempt_types.contains(&t.id) {
                        p.exempt_types.push(t.id);
                    }
                }
            }
            if let Some(names) = &upd.exempt_groups {
                p.exempt_groups.clear();
                for n in named(names) {
                    let g = tx
                        .group_by_key(&name_key(&n))
                        .await?
                        .ok_or_else(|| Error::invalid("exempt_groups", format!("there is no group named '{n}'")))?;
                    if !p.exempt_groups.contains(&g.id) {
                        p.exempt_groups.push(g.id);
                    }
                }
            }
            if let Some(names) = &upd.exempt_branches {
                p.exempt_branches.clear();
                for n in named(names) {
                    let b = tx
                        .branch_by_key(&name_key(&n))
                        .await?
                        .ok_or_else(|| Error::invalid("exempt_branches", format!("there is no branch named '{n}'")))?;
                    if !p.exempt_branches.contains(&b.id) {
                        p.exempt_branches.push(b.id);
                    }
                }
            }
            p.validate()?;
            let view = self.idle_policy_view(&mut **tx, &p).await?;
            if p != before {
                let old = self.idle_policy_view(&mut **tx, &before).await?;
                tx.set_setting(idle::SETTING_KEY, &p.to_stored()).await?;
                let changes = json!({ "before": old, "after": view });
                self.record(
                    &mut **tx,
                    ctx,
                    who,
                    Change::other(AuditAction::IdlePolicySet, "setting", None, idle::SETTING_KEY, changes),
                )
                .await?;
            }
            Ok(view)
        })
        .await
    }

    /// Who a run at `now` would warn, deactivate and withdraw warnings from, under `policy`.
    /// The accounts the idle policy will deactivate by `until` if nobody signs in: those it
    /// would deactivate now, and the warned (or about to be) with their deadline. Empty
    /// while the policy is off.
    pub(crate) async fn idle_deactivations_until(
        &self,
        tx: &mut dyn ReadTx,
        until: Millis,
    ) -> Result<Vec<(String, Millis)>> {
        let policy = self.load_idle_policy(tx).await?;
        if !policy.enabled {
            return Ok(vec![]);
        }
        let now = self.now();
        let plan = self.idle_plan(tx, &policy, now).await?;
        let mut due: Vec<(String, Millis)> = plan
            .steps
            .iter()
            .filter_map(|(c, step)| match step {
                IdleStep::Deactivate => Some((c.username.clone(), now)),
                IdleStep::Warn { deadline } => Some((c.username.clone(), *deadline)),
                IdleStep::Wait => c.idle_deadline.map(|d| (c.username.clone(), d)),
                IdleStep::Withdraw => None,
            })
            .filter(|(_, d)| *d <= until)
            .collect();
        due.sort_by_key(|(_, d)| *d);
        Ok(due)
    }

    async fn idle_plan(&self, tx: &mut dyn ReadTx, policy: &IdlePolicy, now: Millis) -> Result<Plan> {
        let (signed_in_before, never_before) = policy.cutoffs(now);
        let q = IdleQuery {
            signed_in_before,
            never_before,
            exempt_types: policy.exempt_types.clone(),
            exempt_groups: policy.exempt_groups.clone(),
            exempt_branches: policy.exempt_branches.clone(),
        };
        let mut all = tx.idle_candidates(&q).await?;
        let found: HashSet<UserId> = all.iter().map(|c| c.id).collect();
        for w in tx.idle_warned(&q).await? {
            if !found.contains(&w.id) {
                all.push(w);
            }
        }
        // The longest idle first; the id breaks ties, so the order is total.
        all.sort_unstable_by_key(|c| (c.activity_at, c.id));
        let mut steps: Vec<(IdleCandidate, IdleStep)> = all
            .into_iter()
            .map(|c| {
                let s = policy.step(&c, now);
                (c, s)
            })
            .collect();

        // The last-administrator guard: when every active administrator would be warned or
        // deactivated (or stands warned), the most recently active one is kept out of it.
        let admin = BaseRole::Administrator.builtin_id();
        let affected = |(c, s): &(IdleCandidate, IdleStep)| {
            c.user_type_id == admin
                && match s {
                    IdleStep::Warn { .. } | IdleStep::Deactivate => true,
                    IdleStep::Wait => c.idle_deadline.is_some(),
                    IdleStep::Withdraw => false,
                }
        };
        let mut spared = vec![];
        let n_affected = steps.iter().filter(|x| affected(x)).count() as i64;
        if n_affected > 0
            && tx.count_active_of_type(admin).await? <= n_affected
            && let Some(last) = steps.iter_mut().rev().find(|x| affected(x))
        {
            last.1 = if last.0.idle_deadline.is_some() {
                IdleStep::Withdraw
            } else {
                IdleStep::Wait
            };
            spared.push(last.0.username.clone());
        }
        let active = tx
            .count_users(&UserQuery {
                status: Some(UserStatus::Active),
                ..UserQuery::default()
            })
            .await?;
        let mut plan = Plan {
            steps,
            spared,
            active,
            cap: policy.cap(active),
            held: false,
        };
        plan.held = policy.holds(plan.deactivations(), active);
        Ok(plan)
    }

    /// What a run would do now: exactly who it would warn and deactivate (the run applies
    /// the same plan), the seats freed, and whether the safety cap would hold it back.
    pub async fn idle_preview(&self, ctx: &Context) -> Result<IdlePreview> {
        self.read(ctx, Some(Area::SettingsManage), async |tx, _| {
            let policy = self.load_idle_policy(&mut **tx).await?;
            let plan = self.idle_plan(&mut **tx, &policy, self.now()).await?;
            let deactivate = plan.names(|s| *s == IdleStep::Deactivate);
            let warned = plan
                .steps
                .iter()
                .filter(|(_, s)| *s == IdleStep::Wait || *s == IdleStep::Deactivate)
                .filter_map(|(c, _)| {
                    c.idle_deadline.map(|d| IdleWarningView {
                        username: c.username.clone(),
                        deadline: format_millis(d),
                    })
                })
                .collect();
            Ok(IdlePreview {
                enabled: policy.enabled,
                warn: plan.names(|s| matches!(s, IdleStep::Warn { .. })),
                seats_freed: deactivate.len() as i64,
                deactivate,
                held: plan.held,
                active: plan.active,
                cap: plan.cap,
                withdraw: plan.names(|s| *s == IdleStep::Withdraw),
                spared: plan.spared.clone(),
                warned,
            })
        })
        .await
    }

    /// The accounts holding an idle warning, with the deadline each was mailed, soonest
    /// first.
    pub async fn idle_warnings(&self, ctx: &Context) -> Result<Vec<IdleWarningView>> {
        self.read(ctx, Some(Area::SettingsManage), async |tx, _| {
            let mut w = tx.idle_warned(&IdleQuery::default()).await?;
            w.sort_unstable_by_key(|c| (c.idle_deadline, c.id));
            Ok(w.into_iter()
                .filter_map(|c| {
                    c.idle_deadline.map(|d| IdleWarningView {
                        username: c.username,
                        deadline: format_millis(d),
                    })
                })
                .collect())
        })
        .await
    }

    /// Runs the policy now, as an administrator: what the preview lists. Past the safety
    /// cap it writes nothing (and says so, `held`) unless `confirm`.
    pub async fn run_idle_policy(&self, ctx: &Context, confirm: bool) -> Result<IdleRun> {
        self.write(ctx, Some(Area::SettingsManage), async |tx, who| {
            who.require(Area::UsersManage)?;
            who.require_platform_admin("run the idle policy")?;
            let policy = self.load_idle_policy(&mut **tx).await?;
            if !policy.enabled {
                return Err(Error::rule(
                    RuleCode::IdlePolicyOff,
                    "the idle policy is off; turn it on first (rollcall idle-policy set --enabled true)",
                ));
            }
            self.apply_idle_policy(&mut **tx, ctx, who, &policy, confirm).await
        })
        .await
    }

    /// The run itself, inside `tx`: the plan computed under the plan-row lock, then applied
    /// step by step with the policy as actor.
    async fn apply_idle_policy(
        &self,
        tx: &mut dyn Tx,
        ctx: &Context,
        who: &Principal,
        policy: &IdlePolicy,
        confirm: bool,
    ) -> Result<IdleRun> {
        // Every status change takes this lock: nothing changes who is active between the
        // plan and its application, and two runs apply one after the other.
        tx.lock_seats().await?;
        let now = self.now();
        let plan = self.idle_plan(tx, policy, now).await?;
        let job = Context {
            request_id: ctx.request_id.clone(),
            ..Context::job(IDLE_JOB)
        };
        let pwho = policy_principal();
        let would = plan.deactivations() as i64;
        let mut run = IdleRun {
            enabled: true,
            warned: vec![],
            deactivated: vec![],
            withdrawn: vec![],
            held: false,
            would_deactivate: would,
            confirmed: confirm,
            seats_freed: 0,
        };
        if plan.held && !confirm {
            run.held = true;
            let changes = json!({
                "would_deactivate": would,
                "active": plan.active,
                "max_share": policy.max_share,
                "cap": plan.cap,
            });
            self.record(
                tx,
                &job,
                &pwho,
                Change::other(AuditAction::IdlePolicyHeld, "setting", None, idle::SETTING_KEY, changes),
            )
            .await?;
            let summary = format!(
                "The idle-account policy would deactivate {would} of {} active accounts, more than its safety cap of {}% ({} accounts), so it changed nothing. Review the preview, then confirm the run (console, `rollcall idle-policy run --confirm`, or the API's `confirm`).",
                plan.active, policy.max_share, plan.cap
            );
            self.mail_admins_idle_summary(tx, &summary).await?;
            return Ok(run);
        }
        for (c, step) in &plan.steps {
            match *step {
                IdleStep::Wait => {}
                IdleStep::Warn { deadline } => {
                    let Some(mut u) = tx.lock_user(c.id).await? else {
                        continue;
                    };
                    u.idle_warned_at = Some(now);
                    u.idle_deadline = Some(deadline);
                    tx.update_user(&u).await?;
                    let msg = mail::idle_warning(&u, self.base_url(), deadline);
                    let mailed = self.queue_mail(tx, &u, msg).await?;
                    let changes = json!({ "deadline": format_millis(deadline), "mailed": mailed });
                    self.record(tx, &job, &pwho, Change::user(AuditAction::UserIdleWarn, &u, changes))
                        .await?;
                    run.warned.push(c.username.clone());
                }
                IdleStep::Withdraw => {
                    let Some(mut u) = tx.lock_user(c.id).await? else {
                        continue;
                    };
                    let was = u.idle_deadline.take();
                    u.idle_warned_at = None;
                    tx.update_user(&u).await?;
                    let changes = json!({ "deadline": [was.map(format_millis), None::<String>] });
                    self.record(
                        tx,
                        &job,
                        &pwho,
                        Change::user(AuditAction::UserIdleWarningWithdrawn, &u, changes),
                    )
                    .await?;
                    run.withdrawn.push(c.username.clone());
                }
                IdleStep::Deactivate => {
                    let reached = self.reach_locked(tx, &pwho, &crate::service::UserKey::Id(c.id)).await?;
                    if self
                        .transition(tx, &job, &pwho, reached, LifecycleAction::Deactivate)
                        .await?
                        .is_some()
                    {
                        run.deactivated.push(c.username.clone());
                    }
                }
            }
        }
        run.seats_freed = run.deactivated.len() as i64;
        let changed = !(run.warned.is_empty() && run.deactivated.is_empty() && run.withdrawn.is_empty());
        if changed {
            let changes = json!({
                "warned": run.warned.len(),
                "deactivated": run.deactivated.len(),
                "withdrawn": run.withdrawn.len(),
                "confirmed": confirm,
                "active": plan.active,
            });
            self.record(
                tx,
                ctx,
                who,
                Change::other(AuditAction::IdlePolicyRun, "setting", None, idle::SETTING_KEY, changes),
            )
            .await?;
            let summary = format!(
                "The idle-account policy warned {} account(s), deactivated {} (freeing {} seat(s)) and withdrew {} warning(s){}.\n\nDeactivated: {}\nWarned: {}",
                run.warned.len(),
                run.deactivated.len(),
                run.seats_freed,
                run.withdrawn.len(),
                if confirm { ", confirmed past the safety cap" } else { "" },
                list_or_none(&run.deactivated),
                list_or_none(&run.warned),
            );
            self.mail_admins_idle_summary(tx, &summary).await?;
        }
        Ok(run)
    }

    async fn mail_admins_idle_summary(&self, tx: &mut dyn Tx, summary: &str) -> Result<()> {
        let admins = self.active_administrators(tx).await?;
        for admin in &admins {
            let msg = mail::idle_policy_summary(admin, self.base_url(), summary);
            self.queue_mail(tx, admin, msg).await?;
        }
        Ok(())
    }
}

fn list_or_none(v: &[String]) -> String {
    const SHOWN: usize = 50;
    if v.is_empty() {
        return "none".into();
    }
    let mut s = v.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if v.len() > SHOWN {
        s.push_str(&format!(" and {} more", v.len() - SHOWN));
    }
    s
}

impl System<'_> {
    /// The `idle-policy` daily job: warns and deactivates what the preview lists, with the
    /// policy as actor (channel `job`). Does nothing while the policy is off; past the
    /// safety cap it writes nothing, audits the hold and mails the administrators, and
    /// waits for an administrator's confirmed run.
    pub async fn run_idle_policy(self) -> Result<IdleRun> {
        let ctx = Context::job(IDLE_JOB);
        let mut txb = self.service.store.begin().await?;
        let policy = self.service.load_idle_policy(txb.as_mut()).await?;
        if !policy.enabled {
            return Ok(IdleRun {
                enabled: false,
                warned: vec![],
                deactivated: vec![],
                withdrawn: vec![],
                held: false,
                would_deactivate: 0,
                confirmed: false,
                seats_freed: 0,
            });
        }
        let run = self
            .service
            .apply_idle_policy(txb.as_mut(), &ctx, &policy_principal(), &policy, false)
            .await?;
        self.service.commit(txb).await?;
        Ok(run)
    }
}
