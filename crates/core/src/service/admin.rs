//! Plan and seats, settings, reports, the audit log, and first-start bootstrap.

use super::users::{NewUser, UserFilter, UserView};
use super::{Change, Service, System};
use crate::actor::Context;
use crate::audit::AuditAction;
use crate::audit::{self, ChainVerifier, Problem, VerifyReport};
use crate::domain::*;
use crate::ports::{AuditQuery, AuditRow, ReadTx, UserQuery};
use crate::{ConflictCode, Entity, Error, Result};
use serde::Serialize;
use serde_json::json;

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeatReport {
    /// The plan, seat limit and free seats: platform-wide, so absent for branch administrators.
    pub plan: Option<&'static str>,
    pub limit: Option<i64>,
    /// Seats in use: platform-wide, or in the caller's branches.
    pub used: i64,
    pub free: Option<i64>,
    pub by_type: Vec<TypeSeats>,
    pub by_branch: Vec<BranchSeats>,
    /// The trend and the date the limit is reached: platform-wide, so absent for branch
    /// administrators.
    pub forecast: Option<SeatForecast>,
    /// What is scheduled to change seats in the next 30 days: platform-wide, so absent for
    /// branch administrators.
    pub scheduled: Option<ScheduledSeats>,
}

/// The next 30 days' scheduled changes (at most 1,000 of each, soonest first).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduledSeats {
    /// Scheduled deactivations (each frees a seat).
    pub deactivations: Vec<ScheduledChange>,
    /// Ends of leaves of absence (each takes a seat, if one is free then).
    pub reactivations: Vec<ScheduledChange>,
    /// Accounts the idle policy will deactivate unless they sign in.
    pub idle_deactivations: Vec<ScheduledChange>,
    /// Seats used in 30 days if all of it happens: used − deactivations + reactivations.
    pub used_in_30_days: i64,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduledChange {
    pub username: String,
    /// RFC 3339.
    pub on: String,
}

/// One branch's seats over time, for its page.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BranchSeatHistory {
    pub branch: String,
    pub active: i64,
    pub cap: Option<i64>,
    /// Active accounts per day (days since the epoch, UTC), oldest first, the last 90 days.
    pub history: Vec<(i64, i64)>,
    /// When the cap is reached at the current rate (as the plan's forecast, YYYY-MM-DD).
    pub cap_reached_on: Option<String>,
}

/// An alert of seats used crossing a level of a limit.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeatAlert {
    /// "the plan's limit", "branch North's cap".
    pub scope: String,
    /// 80, 90 or 100 (percent).
    pub level: i64,
    pub used: i64,
    pub limit: i64,
}

/// Where seats are heading, from the daily counts.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeatForecast {
    /// The day (YYYY-MM-DD, UTC) seats used reach the limit at the current rate; absent when
    /// not within a year (flat or falling use, or too little history).
    pub limit_reached_on: Option<String>,
    /// How the date is found.
    pub method: &'static str,
    /// Seats used per day at the fitted rate.
    pub per_day: Option<f64>,
    /// Seats used now minus 30 and 90 days ago (or since the history began).
    pub change_30_days: Option<i64>,
    pub change_90_days: Option<i64>,
    /// Seats used per day, oldest first, over the last 90 days.
    pub history: Vec<SeatDay>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeatDay {
    /// YYYY-MM-DD (UTC).
    pub day: String,
    pub used: i64,
}

/// The idle policy's row in the settings list.
/// Audit entries sealed per transaction.
const SEAL_BATCH: usize = 500;

pub const IDLE_POLICY_KEY: &str = "idle_policy";

/// How [`SeatForecast::limit_reached_on`] is found, said as the report says it.
pub const FORECAST_METHOD: &str = "least-squares line through the daily seats used of the last 30 days, extended to the limit; not within a year when flat or falling";

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TypeSeats {
    pub user_type: String,
    pub active: i64,
}

/// The plan in force, as channels show it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanView {
    pub plan: &'static str,
    pub seat_limit: i64,
    pub seats_used: i64,
    pub seats_free: i64,
}

impl From<PlanState> for PlanView {
    fn from(p: PlanState) -> PlanView {
        PlanView {
            plan: p.tier.name(),
            seat_limit: p.seat_limit,
            seats_used: p.seats_used,
            seats_free: p.seats_free(),
        }
    }
}

/// Numbers for `/metrics`: read without a caller, never personal.
#[derive(Clone, Debug)]
pub struct MetricsSnapshot {
    pub seat_limit: i64,
    pub seats_used: i64,
    pub deactivated: i64,
    pub trash: i64,
    /// Messages waiting to go out, and given up after repeated failures.
    pub mail_pending: i64,
    pub mail_dead: i64,
    /// Daily job runs recorded: (job, outcome, runs).
    pub job_runs: Vec<(String, String, i64)>,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BranchSeats {
    pub branch: String,
    pub active: i64,
    pub cap: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdleReport {
    /// Idle for this many days (or never signed in when `None`).
    pub days: Option<i64>,
    /// Seats the listed accounts hold: every idle account is active, so one each.
    pub seats_held: i64,
    pub users: Vec<UserView>,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettingView {
    pub key: &'static str,
    pub value: String,
    pub default: String,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntryView {
    pub id: i64,
    pub at: String,
    pub actor_kind: String,
    pub actor: Option<String>,
    pub channel: String,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<i64>,
    pub target: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub changes: serde_json::Value,
    pub source: Option<String>,
    pub request_id: Option<String>,
    pub sealed: bool,
    pub erased: bool,
}

impl AuditEntryView {
    /// `names`: the current usernames of the people the entries reference by id.
    fn from_row(r: AuditRow, names: &std::collections::HashMap<i64, String>) -> AuditEntryView {
        let data: serde_json::Value = r
            .personal
            .as_ref()
            .and_then(|p| p.data.as_deref())
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or(json!({}));
        let text = |k: &str| data.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        AuditEntryView {
            id: r.id,
            at: format_millis(r.at),
            actor_kind: r.actor_kind,
            actor: text("actor"),
            channel: r.channel,
            action: r.action,
            target_kind: r.target_kind,
            target_id: r.target_id,
            target: text("target"),
            changes: {
                let mut c = data.get("changes").cloned().unwrap_or(json!({}));
                audit::resolve_people(&mut c, &|id| names.get(&id).cloned());
                c
            },
            source: text("source"),
            request_id: r.request_id,
            sealed: r.chain_seq.is_some(),
            erased: r.personal.as_ref().is_some_and(|p| p.erased_at.is_some()),
        }
    }
}

/// Filters of the audit list, by name.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub since: Option<Millis>,
    /// Exactly this action.
    pub action: Option<AuditAction>,
    pub actor: Option<String>,
    pub target: Option<String>,
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

impl Service {
    pub async fn plan(&self, ctx: &Context) -> Result<PlanState> {
        // The plan is platform-wide: branch administrators see their branches' seats in the
        // seat report instead.
        self.read(ctx, Some(Area::PlanManage), async |tx, _| tx.plan().await)
            .await
    }

    /// Records the plan bought. Moving below the seats in use is refused, saying how many
    /// accounts must be deactivated first.
    pub async fn set_plan(&self, ctx: &Context, tier: PlanTier, seats: Option<i64>) -> Result<PlanState> {
        let limit = tier.seat_limit(seats)?;
        self.write(ctx, Some(Area::PlanManage), async |tx, who| {
            let before = tx.plan().await?;
            if before.tier == tier && before.seat_limit == limit {
                return Ok(before);
            }
            if !tx.set_plan(tier, limit).await? {
                let used = tx.plan().await?.seats_used;
                return Err(Error::conflict(
                    ConflictCode::SeatsInUse,
                    format!(
                        "{used} accounts are active but the {} plan has {limit} seats; deactivate {} accounts first",
                        tier.name(),
                        used - limit
                    ),
                ));
            }
            let changes =
                json!({ "plan": [before.tier.name(), tier.name()], "seat_limit": [before.seat_limit, limit] });
            self.record(
                &mut **tx,
                ctx,
                who,
                Change::other(AuditAction::PlanSet, "plan", None, tier.name(), changes),
            )
            .await?;
            tx.plan().await
        })
        .await
    }

    /// How many accounts `idle_report` would list: each holds a seat. Counted, not loaded.
    pub async fn idle_count(&self, ctx: &Context, days: Option<i64>) -> Result<i64> {
        self.count_users(ctx, &idle_filter(days)).await
    }

    /// Active accounts per day over the last `days` days, oldest first (days since the
    /// epoch, UTC). Platform-wide, so for those who see every report.
    pub async fn seat_history(&self, ctx: &Context, days: i64) -> Result<Vec<(i64, i64)>> {
        self.read(ctx, Some(Area::ReportsAll), async |tx, who| {
            if who.branch_ids().is_some() {
                return Err(Error::forbidden("the platform's history is for administrators"));
            }
            tx.seat_history(self.now().div_euclid(DAY_MS) - days.clamp(1, 3650) + 1)
                .await
        })
        .await
    }

    /// The feature areas the caller holds right now: what a console offers them.
    pub async fn my_areas(&self, ctx: &Context) -> Result<Vec<Area>> {
        self.read(ctx, None, async |_, who| {
            Ok(Area::ALL.iter().copied().filter(|a| who.areas.contains(*a)).collect())
        })
        .await
    }

    pub async fn seat_report(&self, ctx: &Context) -> Result<SeatReport> {
        self.read(ctx, Some(Area::ReportsAll), async |tx, who| {
            let plan = tx.plan().await?;
            let types = tx.user_types().await?;
            let by_type = if who.branch_ids().is_some() {
                vec![]
            } else {
                tx.active_by_type()
                    .await?
                    .into_iter()
                    .map(|(id, n)| TypeSeats {
                        user_type: types
                            .iter()
                            .find(|t| t.id == id)
                            .map(|t| t.name.clone())
                            .unwrap_or_default(),
                        active: n,
                    })
                    .collect()
            };
            let by_branch = tx
                .branches()
                .await?
                .into_iter()
                .filter(|b| who.sees(&[b.id]))
                .map(|b| BranchSeats {
                    branch: b.name,
                    active: b.active_users,
                    cap: b.seat_cap,
                })
                .collect();
            let report = match who.branch_ids() {
                None => SeatReport {
                    plan: Some(plan.tier.name()),
                    limit: Some(plan.seat_limit),
                    used: plan.seats_used,
                    free: Some(plan.seats_free()),
                    by_type,
                    by_branch,
                    forecast: Some(self.forecast(&mut **tx, plan.seat_limit).await?),
                    scheduled: Some(self.scheduled_seats(&mut **tx, plan.seats_used).await?),
                },
                Some(_) => SeatReport {
                    plan: None,
                    limit: None,
                    used: tx
                        .count_users(&UserQuery {
                            status: Some(UserStatus::Active),
                            scope: who.branch_ids().map(<[BranchId]>::to_vec),
                            ..UserQuery::default()
                        })
                        .await?,
                    free: None,
                    by_type,
                    by_branch,
                    forecast: None,
                    scheduled: None,
                },
            };
            Ok(report)
        })
        .await
    }

    /// What is scheduled to change seats over the next 30 days.
    async fn scheduled_seats(&self, tx: &mut dyn ReadTx, used: i64) -> Result<ScheduledSeats> {
        let now = self.now();
        let until = now + 30 * DAY_MS;
        let view = |rows: Vec<(String, Millis)>| {
            rows.into_iter()
                .map(|(username, on)| ScheduledChange {
                    username,
                    on: format_millis(on),
                })
                .collect::<Vec<_>>()
        };
        // Dates already past are due at the next run: counted from the start of time.
        let deactivations = view(tx.scheduled_between(false, i64::MIN, until, 1000).await?);
        let reactivations = view(tx.scheduled_between(true, i64::MIN, until, 1000).await?);
        let idle_deactivations = view(self.idle_deactivations_until(tx, until).await?);
        let idle_only = idle_deactivations
            .iter()
            .filter(|i| !deactivations.iter().any(|d| d.username == i.username))
            .count() as i64;
        Ok(ScheduledSeats {
            used_in_30_days: used - deactivations.len() as i64 - idle_only + reactivations.len() as i64,
            deactivations,
            reactivations,
            idle_deactivations,
        })
    }

    /// A branch's daily counts and, with a cap, the date it is reached at the current rate:
    /// for whoever sees reports and the branch.
    pub async fn branch_seat_history(&self, ctx: &Context, name: &str) -> Result<BranchSeatHistory> {
        self.read(ctx, Some(Area::ReportsAll), async |tx, who| {
            let b = self.branch_by_name(&mut **tx, name).await?;
            who.require_branch(b.id, name)?;
            let now = self.now();
            let today = now.div_euclid(DAY_MS);
            let history = tx.scoped_seat_history("branch", b.id.0, today - 89).await?;
            let series: Vec<(Millis, i64)> = history.iter().map(|&(d, n)| (d * DAY_MS, n)).collect();
            let cap_reached_on = b
                .seat_cap
                .and_then(|cap| forecast::limit_reached_on(&series, cap, now))
                .map(|d| format_millis(d)[..10].to_owned());
            Ok(BranchSeatHistory {
                branch: b.name,
                active: b.active_users,
                cap: b.seat_cap,
                history,
                cap_reached_on,
            })
        })
        .await
    }

    /// The platform's trend and forecast from the last 90 days' counts.
    async fn forecast(&self, tx: &mut dyn ReadTx, limit: i64) -> Result<SeatForecast> {
        let now = self.now();
        let today = now.div_euclid(DAY_MS);
        let days = tx.seat_history(today - 89).await?;
        let series: Vec<(Millis, i64)> = days.iter().map(|&(d, n)| (d * DAY_MS, n)).collect();
        Ok(SeatForecast {
            limit_reached_on: forecast::limit_reached_on(&series, limit, now)
                .map(|d| format_millis(d)[..10].to_owned()),
            method: FORECAST_METHOD,
            per_day: forecast::fitted_line(&days, today).map(|(slope, _)| (slope * 100.0).round() / 100.0),
            change_30_days: forecast::change_over(&series, 30, now),
            change_90_days: forecast::change_over(&series, 90, now),
            history: days
                .iter()
                .map(|&(d, n)| SeatDay {
                    day: format_millis(d * DAY_MS)[..10].to_owned(),
                    used: n,
                })
                .collect(),
        })
    }

    /// Active accounts never signed in (`days` = None) or not in `days` days.
    pub async fn idle_report(&self, ctx: &Context, days: Option<i64>) -> Result<IdleReport> {
        let mut users = vec![];
        let mut filter = UserFilter {
            limit: Some(super::users::MAX_PAGE),
            ..idle_filter(days)
        };
        loop {
            let page = self.list_users(ctx, &filter).await?;
            users.extend(page.items);
            match page.next_cursor {
                Some(c) => filter.cursor = Some(c),
                None => break,
            }
        }
        Ok(IdleReport {
            days,
            seats_held: users.len() as i64,
            users,
        })
    }

    pub async fn settings(&self, ctx: &Context) -> Result<Vec<SettingView>> {
        self.read(ctx, Some(Area::SettingsManage), async |tx, _| {
            let mut out = vec![];
            for s in Setting::ALL {
                let value = match tx.setting(s.key()).await? {
                    Some(v) => v,
                    None => s.default_value().to_string(),
                };
                out.push(SettingView {
                    key: s.key(),
                    value,
                    default: s.default_value().to_string(),
                });
            }
            // The idle policy is several settings with rules between them, changed by its
            // own command; listed here so `settings show` shows everything.
            let p = self.load_idle_policy(&mut **tx).await?;
            let v = self.idle_policy_view(&mut **tx, &p).await?;
            let exempt = [("types", &v.exempt_types), ("groups", &v.exempt_groups), ("branches", &v.exempt_branches)]
                .iter()
                .filter(|(_, names)| !names.is_empty())
                .map(|(what, names)| format!(", exempt {what}: {}", names.join("|")))
                .collect::<String>();
            out.push(SettingView {
                key: IDLE_POLICY_KEY,
                value: format!(
                    "{}: idle {} days, never signed in {} days, warn {} days before, grace {} days, max share {}%{exempt}",
                    if v.enabled { "on" } else { "off" },
                    v.idle_days,
                    v.never_signed_in_days,
                    v.warn_days,
                    v.grace_days,
                    v.max_share
                ),
                default: "off".into(),
            });
            Ok(out)
        })
        .await
    }

    pub async fn set_setting(&self, ctx: &Context, key: &str, value: &str) -> Result<SettingView> {
        if key.trim().eq_ignore_ascii_case(IDLE_POLICY_KEY) {
            return Err(Error::invalid(
                "key",
                "the idle policy has its own command: rollcall idle-policy set (PATCH /api/v1/idle-policy)",
            ));
        }
        let setting = Setting::parse_key(key)?;
        let value = setting.parse_value(value)?.to_string();
        self.write(ctx, Some(Area::SettingsManage), async |tx, who| {
            let mut value = value.clone();
            if setting == Setting::PasswordSignIn && value != PASSWORD_SIGN_IN_EVERYONE {
                // Single sign-on becomes everyone's way in but one administrator's: it must
                // be there, and so must they.
                if !super::sso::sso_configured(&mut **tx).await? {
                    return Err(Error::invalid(
                        "value",
                        "set up single sign-on first: with password_sign_in naming one administrator, everyone else signs in through it",
                    ));
                }
                let admin = tx
                    .user_by_username(&name_key(&value))
                    .await?
                    .filter(|u| u.status.holds_seat() && u.user_type_id == BaseRole::Administrator.builtin_id())
                    .ok_or_else(|| {
                        Error::invalid(
                            "value",
                            format!("'{value}' is not an active Administrator; the one who may still use a password must be"),
                        )
                    })?;
                value = admin.username.to_string();
            }
            if setting == Setting::ScimDefaultType {
                // The identity provider may only give types up to Instructor.
                // A value naming no type is a bad value, not a missing resource (found by
                // schemathesis: it answered 404).
                let t = tx
                    .user_type_by_key(&access::type_key(&value))
                    .await?
                    .ok_or_else(|| Error::invalid("value", format!("no user type is called '{value}'")))?;
                crate::actor::Principal::identity_provider("scim").require_rank(&t, "give")?;
            }
            let before = tx
                .setting(setting.key())
                .await?
                .unwrap_or_else(|| setting.default_value().to_string());
            // Setting what is already set changes nothing, and the audit log says nothing.
            if before != value {
                tx.set_setting(setting.key(), &value).await?;
                let changes = json!({ setting.key(): [before, value] });
                self.record(
                    &mut **tx,
                    ctx,
                    who,
                    Change::other(AuditAction::SettingsSet, "setting", None, setting.key(), changes),
                )
                .await?;
            }
            Ok(SettingView {
                key: setting.key(),
                value,
                default: setting.default_value().to_string(),
            })
        })
        .await
    }

    /// A setting's value for the server's own decisions (no caller, no audit).
    pub(crate) async fn setting_value(&self, setting: Setting) -> Result<SettingValue> {
        let mut tx = self.store.begin_read().await?;
        match tx.setting(setting.key()).await? {
            Some(v) => setting.parse_value(&v),
            None => Ok(setting.default_value()),
        }
    }

    pub async fn list_audit(&self, ctx: &Context, filter: &AuditFilter) -> Result<Vec<AuditEntryView>> {
        self.read(ctx, Some(Area::AuditView), async |tx, _| {
            let mut q = AuditQuery {
                since: filter.since,
                action: filter.action.map(|a| a.as_str().to_owned()),
                before: filter.before,
                limit: filter.limit.unwrap_or(100).clamp(1, 1000),
                ..AuditQuery::default()
            };
            // Names resolve to ids, so entries survive renames; a purged user's entries are
            // found by nobody's name, as it should be.
            for (name, slot) in [(&filter.actor, &mut q.actor_user), (&filter.target, &mut q.target_user)] {
                if let Some(name) = name {
                    let u = tx
                        .user_by_username(&name_key(name.trim()))
                        .await?
                        .ok_or_else(|| Error::not_found(Entity::User, name))?;
                    *slot = Some(u.id);
                }
            }
            let rows = tx.list_audit(&q).await?;
            // Other people are stored by id; their names are today's, and a purged user's gone.
            let mut ids = vec![];
            for r in &rows {
                if let Some(v) = r
                    .personal
                    .as_ref()
                    .and_then(|p| p.data.as_deref())
                    .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                {
                    audit::people_in(&v, &mut ids);
                }
            }
            ids.sort_unstable();
            ids.dedup();
            let ids: Vec<UserId> = ids.into_iter().map(UserId).collect();
            let names: std::collections::HashMap<i64, String> = tx
                .usernames_of(&ids)
                .await?
                .into_iter()
                .map(|(id, n)| (id.0, n))
                .collect();
            Ok(rows.into_iter().map(|r| AuditEntryView::from_row(r, &names)).collect())
        })
        .await
    }

    /// Seals what is committed, then walks the whole chain. Names the first entry that was
    /// edited, removed or reordered, and every row the sealer refused.
    pub async fn verify_audit(&self, ctx: &Context) -> Result<VerifyReport> {
        self.verify_audit_against(ctx, None).await
    }

    /// As [`Service::verify_audit`], and checks the chain still reaches a head kept earlier
    /// (`(seq, hash)`) with the same hash there: a cut-off or rewritten chain is named.
    pub async fn verify_audit_against(&self, ctx: &Context, expect: Option<(i64, &str)>) -> Result<VerifyReport> {
        {
            let mut txb = self.store.begin_read().await?;
            let tx = txb.as_mut();
            self.principal(tx, ctx).await?.require(Area::AuditView)?;
        }
        let key = self.audit_key()?;
        if let Some((seq, hash)) = expect
            && (seq < 1 || hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(Error::invalid(
                "expect_head",
                "a kept head is SEQ:HASH, as `audit verify` printed it (a position from 1 and a 64-digit hex hash)",
            ));
        }
        self.system().seal_audit().await?;
        let mut tx = self.store.begin_read().await?;
        let mut head = tx.audit_head().await?;
        let unsealed = tx.count_unsealed_audit().await?;
        // Authenticated positions begin where the key file says; a database that says
        // otherwise was edited to pass keyed entries off as unkeyed ones.
        let moved = (head.keyed_from != key.boundary()).then(|| Problem {
            entry_id: None,
            position: head.keyed_from.min(key.boundary()),
            reason: format!(
                "the database says authenticated entries begin at position {}, the audit key file at {}: the boundary was moved by hand",
                head.keyed_from,
                key.boundary()
            ),
        });
        head.keyed_from = key.boundary();
        let mut v = ChainVerifier::new(key, head.keyed_from);
        if let Some((seq, hash)) = expect {
            v = v.expecting(seq, hash);
        }
        let mut problem: Option<Problem> = moved;
        'pages: loop {
            let rows = tx.audit_chain(v.verified(), 1000).await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                if let Err(p) = v.check(row) {
                    problem.get_or_insert(p);
                    break 'pages;
                }
            }
        }
        if problem.is_none() {
            problem = v.finish(&head).err();
        }
        let refused = tx
            .refused_audit(1000)
            .await?
            .iter()
            .map(|r| audit::Refused {
                entry_id: r.id,
                reason: audit::refusal_reason(key, r),
            })
            .collect();
        Ok(VerifyReport {
            sealed: v.verified(),
            unsealed,
            erased: v.erased,
            head_seq: head.seq,
            head_hash: head.hash,
            keyed_from: head.keyed_from,
            problem,
            refused,
        })
    }

    /// A scheduled deactivation the rules refused (the last administrator): clears the date
    /// so the daily job doesn't retry it, audits the refusal and mails every active
    /// administrator — once, even when several instances run the job.
    pub(crate) async fn refuse_scheduled_deactivation(
        &self,
        ctx: &Context,
        id: UserId,
        why: &Error,
        threshold: Millis,
    ) -> Result<()> {
        let mut txb = self.store.begin().await?;
        let tx = txb.as_mut();
        let Some(mut user) = tx.lock_user(id).await? else {
            return Ok(());
        };
        let now = self.now();
        let Some(scheduled) = user.deactivate_at.filter(|d| *d <= threshold) else {
            // Another instance refused it already, or someone rescheduled it meanwhile.
            return Ok(());
        };
        user.deactivate_at = None;
        user.updated_at = now;
        tx.update_user(&user).await?;
        let who = crate::actor::Principal::superuser();
        let changes = json!({
            "deactivate_at": [Some(format_millis(scheduled)), None::<String>],
            "refused": why.code(),
        });
        self.record(
            tx,
            ctx,
            &who,
            Change::user(AuditAction::UserScheduledDeactivationRefused, &user, changes),
        )
        .await?;
        let admins = self.active_administrators(tx).await?;
        for admin in &admins {
            let msg = mail::deactivation_refused(admin, &user, self.base_url(), scheduled);
            self.queue_mail(tx, admin, msg).await?;
        }
        self.commit(txb).await
    }
}

/// Idle accounts: active (holding a seat) and never signed in (`days` = None) or not in
/// `days` days. What [`Service::idle_report`] lists, for channels that page through it.
pub fn idle_filter(days: Option<i64>) -> UserFilter {
    UserFilter {
        status: Some(UserStatus::Active),
        idle_days: days,
        never_logged_in: days.is_none(),
        ..UserFilter::default()
    }
}

impl System<'_> {
    /// The minute job's refresh of the database's planner statistics
    /// ([`Store::refresh_statistics`](crate::ports::Store::refresh_statistics)): the tables analyzed.
    pub async fn refresh_statistics(self) -> Result<Vec<String>> {
        self.service.store.refresh_statistics().await
    }

    /// Writes the sort keys of users stored without them (by an older version still
    /// running during a rolling upgrade), so sorted lists include them; the minute job
    /// runs it. Returns how many.
    pub async fn fill_missing_sort_keys(self) -> Result<u64> {
        let mut filled = 0;
        loop {
            let mut tx = self.service.store.begin().await?;
            let batch = tx.fill_missing_sort_keys().await?;
            tx.commit().await?;
            if batch == 0 {
                return Ok(filled);
            }
            filled += batch;
        }
    }

    /// Writes today's count of active accounts, overall, per branch and per user type (the
    /// daily snapshot; rewriting the day keeps it current).
    pub async fn record_seat_history(self) -> Result<()> {
        let mut txb = self.service.store.begin().await?;
        let tx = txb.as_mut();
        let day = self.service.now().div_euclid(DAY_MS);
        let used = tx.plan().await?.seats_used;
        tx.record_seat_day(day, used).await?;
        for b in tx.branches().await? {
            tx.record_scoped_seat_day(day, "branch", b.id.0, b.active_users).await?;
        }
        for (t, n) in tx.active_by_type().await? {
            tx.record_scoped_seat_day(day, "type", t.0, n).await?;
        }
        self.service.commit(txb).await
    }

    /// Mails administrators (and audits) each time seats used cross 80, 90 or 100% of the
    /// plan's limit or of a branch's cap — once per crossing, re-armed after use falls 5
    /// points below. Returns the alerts sent (or, for a dry run, that would be).
    pub async fn run_seat_alerts(self, dry_run: bool) -> Result<Vec<SeatAlert>> {
        let service = self.service;
        let ctx = Context::job("seat-alerts");
        let who = crate::actor::Principal::superuser();
        let mut txb = service.store.begin().await?;
        let tx = txb.as_mut();
        // Serialised with every change to who is active, and with another run.
        tx.lock_seats().await?;
        let plan = tx.plan().await?;
        let mut scopes = vec![(
            "plan".to_owned(),
            None,
            "the plan's limit".to_owned(),
            plan.seats_used,
            plan.seat_limit,
        )];
        for b in tx.branches().await? {
            if let Some(cap) = b.seat_cap {
                let what = format!("branch {}'s cap", b.name);
                scopes.push((format!("branch:{}", b.id.0), Some(b), what, 0, cap));
            }
        }
        let admins = service.active_administrators(tx).await?;
        let mut sent = vec![];
        for (scope, branch, what, used, limit) in scopes {
            let used = branch.as_ref().map_or(used, |b| b.active_users);
            let fired = tx.seat_alert_levels(&scope).await?;
            let (still, now) = forecast::alert_levels(&fired, used, limit);
            if still != fired && !dry_run {
                tx.set_seat_alert_levels(&scope, &still).await?;
            }
            for level in now {
                sent.push(SeatAlert {
                    scope: what.clone(),
                    level,
                    used,
                    limit,
                });
                if dry_run {
                    continue;
                }
                let changes = json!({ "level": level, "used": used, "limit": limit });
                let change = match &branch {
                    Some(b) => Change::other(AuditAction::BranchSeatAlert, "branch", Some(b.id.0), &b.name, changes),
                    None => Change::other(AuditAction::PlanSeatAlert, "plan", None, plan.tier.name(), changes),
                };
                service.record(tx, &ctx, &who, change).await?;
                for admin in &admins {
                    let msg = mail::seat_alert(admin, service.base_url(), &what, level, used, limit);
                    service.queue_mail(tx, admin, msg).await?;
                }
            }
        }
        if dry_run {
            // Nothing was written; dropping the transaction ends it.
            return Ok(sent);
        }
        service.commit(txb).await?;
        Ok(sent)
    }

    /// Whether this service's audit key is the one the chain head was last sealed with;
    /// `None` while nothing has been sealed under a key. Channels check it at start-up so a
    /// process with a missing or wrong key file doesn't write entries that can't be checked
    /// against the others.
    pub async fn audit_key_matches(self) -> Result<Option<bool>> {
        let mut tx = self.service.store.begin_read().await?;
        let mut head = tx.audit_head().await?;
        if let Some(k) = &self.service.audit_key {
            head.keyed_from = k.boundary();
        }
        if head.seq < head.keyed_from {
            return Ok(None);
        }
        Ok(Some(
            self.service.audit_key.as_ref().is_some_and(|k| k.head_tag_valid(&head)),
        ))
    }

    /// Binds the database to this service's audit key: the first process to start with a
    /// key records its fingerprint (under the chain head's lock, so two first starts agree);
    /// every later one must hold the same key. `false` when it doesn't — such a process
    /// would write entries every other instance's sealer refuses.
    pub async fn claim_audit_key(self) -> Result<bool> {
        let key = self.service.audit_key()?;
        let mut tx = self.service.store.begin().await?;
        tx.lock_audit_head().await?;
        let ok = audit::claim_key(tx.as_mut(), key).await?;
        tx.commit().await?;
        Ok(ok)
    }

    /// Whether some process has bound this database to an audit key already.
    pub async fn audit_key_claimed(self) -> Result<bool> {
        let mut tx = self.service.store.begin_read().await?;
        Ok(tx.setting(audit::KEY_FINGERPRINT_SETTING).await?.is_some())
    }

    /// Where the database says authenticated positions begin (1, unless the log was sealed
    /// before keys existed): what a new key file records, once.
    pub async fn audit_keyed_from(self) -> Result<i64> {
        let mut tx = self.service.store.begin_read().await?;
        Ok(tx.audit_head().await?.keyed_from)
    }

    /// Seals every committed, unsealed audit entry into the chain, in batches. Concurrent
    /// sealers queue on the chain head, so the chain never forks. A row without a valid tag
    /// (not written by this service: inserted or edited by hand) is refused — marked, logged
    /// and left out of the chain, which continues past it — and `verify_audit` reports it.
    pub async fn seal_audit(self) -> Result<i64> {
        let key = self.service.audit_key()?;
        let mut sealed = 0;
        loop {
            let mut tx = self.service.store.begin().await?;
            let mut head = tx.lock_audit_head().await?;
            // The boundary is the key file's, whatever the database says.
            head.keyed_from = key.boundary();
            let rows = tx.unsealed_audit(SEAL_BATCH as i64).await?;
            if rows.is_empty() {
                return Ok(sealed);
            }
            let before = head.seq;
            let mut seals = Vec::with_capacity(rows.len());
            for row in &rows {
                if !key.entry_tag_valid(row) {
                    tracing::error!(
                        entry = row.id,
                        action = %row.action,
                        "audit entry refused: it has no valid authentication tag (written into the database by hand?); it is not sealed into the chain"
                    );
                    tx.refuse_audit(row.id, self.service.now()).await?;
                    continue;
                }
                let seq = head.seq + 1;
                let hash = key.link(&head, seq, &audit::entry_digest(row));
                seals.push(crate::ports::AuditSeal {
                    id: row.id,
                    seq,
                    prev_hash: std::mem::take(&mut head.hash),
                    hash: hash.clone(),
                });
                head.seq = seq;
                head.hash = hash;
            }
            tx.seal_audits(&seals).await?;
            if head.seq != before {
                head.tag = Some(key.head_tag(&head));
                tx.set_audit_head(&head).await?;
            }
            tx.commit().await?;
            sealed += head.seq - before;
            if rows.len() < SEAL_BATCH {
                return Ok(sealed);
            }
        }
    }

    /// First start: when no active administrator exists, creates `admin`. Returns the
    /// generated password when none was given (to be shown once).
    pub async fn ensure_first_admin(
        self,
        password: Option<String>,
        email: Option<String>,
    ) -> Result<Option<(String, Option<String>)>> {
        {
            let mut tx = self.service.store.begin_read().await?;
            if tx.count_active_of_type(BaseRole::Administrator.builtin_id()).await? > 0 {
                return Ok(None);
            }
        }
        let generated = password.is_none().then(crate::password::random_password);
        let input = NewUser {
            username: "admin".into(),
            email: email.unwrap_or_else(|| "admin@rollcall.invalid".into()),
            first_name: "Platform".into(),
            last_name: "Administrator".into(),
            password: password.or_else(|| generated.clone()),
            user_type: Some(BaseRole::Administrator.key().into()),
            active: true,
            // The first administrator has no real address to welcome.
            send_welcome: Some(false),
            ..NewUser::default()
        };
        let ctx = Context::system("first_start");
        let created = self.service.create_user(&ctx, input).await;
        if created.is_err() {
            // Another instance starting at the same moment may have created it.
            let mut tx = self.service.store.begin_read().await?;
            if tx.count_active_of_type(BaseRole::Administrator.builtin_id()).await? > 0 {
                return Ok(None);
            }
        }
        let user = created.map_err(|e| match e {
            Error::UsernameTaken(_) => Error::conflict(
                ConflictCode::NoAdministrator,
                "no active administrator exists and the username 'admin' is taken; make a user an administrator with 'rollcall user set U --type administrator'",
            ),
            other => other,
        })?;
        Ok(Some((user.username, generated)))
    }

    /// Seat and status counts for monitoring. The active count is the seat counter, O(1).
    pub async fn metrics_snapshot(self) -> Result<MetricsSnapshot> {
        let mut tx = self.service.store.begin_read().await?;
        let plan = tx.plan().await?;
        let count = |status| crate::ports::UserQuery {
            status: Some(status),
            ..Default::default()
        };
        let deactivated = tx.count_users(&count(UserStatus::Deactivated)).await?;
        let trash = tx.count_users(&count(UserStatus::Trash)).await?;
        let (mail_pending, mail_dead) = tx.mail_backlog().await?;
        let job_runs = tx.daily_run_counts().await?;
        Ok(MetricsSnapshot {
            seat_limit: plan.seat_limit,
            seats_used: plan.seats_used,
            deactivated,
            trash,
            mail_pending,
            mail_dead,
            job_runs,
        })
    }
}
