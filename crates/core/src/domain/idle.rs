//! The idle-account policy: its settings and, for one account at one moment, what a run
//! does to it. The service gathers the accounts and applies the steps; this file decides.

use super::{BranchId, DAY_MS, GroupId, Millis, UserId, UserTypeId};
use crate::{Error, Result};
use serde_json::json;

/// The settings row the policy is stored in (one JSON object).
pub const SETTING_KEY: &str = "idle_policy";

/// Days any period may be, at most (a hundred years).
pub const MAX_DAYS: i64 = 36_500;

/// The policy, as stored. Off by default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdlePolicy {
    pub enabled: bool,
    /// An account that has signed in is idle this many days after its last activity.
    pub idle_days: i64,
    /// An account that never signed in is idle this many days after its creation.
    pub never_signed_in_days: i64,
    /// The warning goes this many days before the deactivation (0: no warning).
    pub warn_days: i64,
    /// A reactivated account is not deactivated before this many days have passed.
    pub grace_days: i64,
    /// A run that would deactivate more than this percentage of the active accounts
    /// writes nothing and waits for confirmation.
    pub max_share: i64,
    pub exempt_types: Vec<UserTypeId>,
    pub exempt_groups: Vec<GroupId>,
    pub exempt_branches: Vec<BranchId>,
}

impl Default for IdlePolicy {
    fn default() -> IdlePolicy {
        IdlePolicy {
            enabled: false,
            idle_days: 90,
            never_signed_in_days: 30,
            warn_days: 7,
            grace_days: 14,
            max_share: 10,
            exempt_types: vec![],
            exempt_groups: vec![],
            exempt_branches: vec![],
        }
    }
}

/// An active account the policy may concern, as the store finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdleCandidate {
    pub id: UserId,
    pub username: String,
    pub user_type_id: UserTypeId,
    pub last_login_at: Option<Millis>,
    /// `User::activity_at`.
    pub activity_at: Millis,
    pub reactivated_at: Option<Millis>,
    pub idle_deadline: Option<Millis>,
    /// Exempt by its flag, its type, a group or a branch (warned accounts are read whatever
    /// their exemption, so a run can withdraw a warning that no longer stands).
    pub exempt: bool,
}

/// What a run does to one account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleStep {
    /// Not idle (yet), or warned and its deadline not reached: nothing.
    Wait,
    /// Mail the warning naming this deactivation time.
    Warn { deadline: Millis },
    /// Deactivate now.
    Deactivate,
    /// A warning it was sent no longer stands (exempt now, or the policy changed).
    Withdraw,
}

impl IdlePolicy {
    /// Checks every rule, naming the field that breaks one.
    pub fn validate(&self) -> Result<()> {
        for (field, v) in [
            ("idle_days", self.idle_days),
            ("never_signed_in_days", self.never_signed_in_days),
            ("warn_days", self.warn_days),
            ("grace_days", self.grace_days),
        ] {
            if !(0..=MAX_DAYS).contains(&v) {
                return Err(Error::invalid(
                    field,
                    format!("{v} is not a number of days from 0 to {MAX_DAYS}"),
                ));
            }
        }
        if !(0..=100).contains(&self.max_share) {
            return Err(Error::invalid(
                "max_share",
                format!(
                    "{}% is not a share of the active accounts: use 0 to 100",
                    self.max_share
                ),
            ));
        }
        for (field, limit) in [
            ("idle_days", self.idle_days),
            ("never_signed_in_days", self.never_signed_in_days),
        ] {
            if limit < self.warn_days {
                return Err(Error::invalid(
                    field,
                    format!(
                        "{limit} days is shorter than the warning period ({} days): the warning must come after the account is last used",
                        self.warn_days
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The stored form.
    pub fn to_stored(&self) -> String {
        let ids = |v: &[i64]| json!(v);
        json!({
            "enabled": self.enabled,
            "idle_days": self.idle_days,
            "never_signed_in_days": self.never_signed_in_days,
            "warn_days": self.warn_days,
            "grace_days": self.grace_days,
            "max_share": self.max_share,
            "exempt_types": ids(&self.exempt_types.iter().map(|t| t.0).collect::<Vec<_>>()),
            "exempt_groups": ids(&self.exempt_groups.iter().map(|g| g.0).collect::<Vec<_>>()),
            "exempt_branches": ids(&self.exempt_branches.iter().map(|b| b.0).collect::<Vec<_>>()),
        })
        .to_string()
    }

    /// Reads the stored form; a missing key keeps its default, a broken row is an error.
    pub fn from_stored(s: &str) -> Result<IdlePolicy> {
        let v: serde_json::Value =
            serde_json::from_str(s).map_err(|e| Error::internal(format!("stored idle policy unreadable: {e}")))?;
        let d = IdlePolicy::default();
        let int = |k: &str, def: i64| v.get(k).and_then(|x| x.as_i64()).unwrap_or(def);
        let ids = |k: &str| -> Vec<i64> {
            v.get(k)
                .and_then(|x| x.as_array())
                .map(|a| a.iter().filter_map(|x| x.as_i64()).collect())
                .unwrap_or_default()
        };
        let p = IdlePolicy {
            enabled: v.get("enabled").and_then(|x| x.as_bool()).unwrap_or(d.enabled),
            idle_days: int("idle_days", d.idle_days),
            never_signed_in_days: int("never_signed_in_days", d.never_signed_in_days),
            warn_days: int("warn_days", d.warn_days),
            grace_days: int("grace_days", d.grace_days),
            max_share: int("max_share", d.max_share),
            exempt_types: ids("exempt_types").into_iter().map(UserTypeId).collect(),
            exempt_groups: ids("exempt_groups").into_iter().map(GroupId).collect(),
            exempt_branches: ids("exempt_branches").into_iter().map(BranchId).collect(),
        };
        Ok(p)
    }

    /// The latest activity time at which an account (signed in before, or never) comes
    /// within the warning period at `now`: what the store's index range is cut at.
    pub fn cutoffs(&self, now: Millis) -> (Millis, Millis) {
        (
            now - (self.idle_days - self.warn_days) * DAY_MS,
            now - (self.never_signed_in_days - self.warn_days) * DAY_MS,
        )
    }

    /// When the account becomes idle: its activity plus the idle (or never-signed-in)
    /// period, and never before the grace period after its last reactivation has passed.
    pub fn due_at(&self, c: &IdleCandidate) -> Millis {
        let limit = if c.last_login_at.is_some() {
            self.idle_days
        } else {
            self.never_signed_in_days
        };
        let due = c.activity_at + limit * DAY_MS;
        match c.reactivated_at {
            Some(r) => due.max(r + self.grace_days * DAY_MS),
            None => due,
        }
    }

    /// What a run at `now` does to the account.
    pub fn step(&self, c: &IdleCandidate, now: Millis) -> IdleStep {
        let due = self.due_at(c);
        let warn_from = due - self.warn_days * DAY_MS;
        match c.idle_deadline {
            Some(_) if c.exempt || now < warn_from => IdleStep::Withdraw,
            Some(deadline) if now >= deadline => IdleStep::Deactivate,
            Some(_) => IdleStep::Wait,
            None if c.exempt || now < warn_from => IdleStep::Wait,
            None if self.warn_days == 0 => IdleStep::Deactivate,
            // Warned the full period ahead, even when the policy was turned on (or the
            // warning period lengthened) after the account became idle.
            None => IdleStep::Warn {
                deadline: due.max(now + self.warn_days * DAY_MS),
            },
        }
    }

    /// Whether deactivating `n` of `active` accounts is more than the safety cap allows
    /// without confirmation.
    pub fn holds(&self, n: usize, active: i64) -> bool {
        n > 0 && (n as i64) * 100 > self.max_share * active
    }

    /// The most accounts a run may deactivate without confirmation.
    pub fn cap(&self, active: i64) -> i64 {
        self.max_share * active / 100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_000 * DAY_MS;

    fn cand(last_login_days_ago: Option<i64>, created_days_ago: i64) -> IdleCandidate {
        let last_login_at = last_login_days_ago.map(|d| NOW - d * DAY_MS);
        IdleCandidate {
            id: UserId(1),
            username: "ada".into(),
            user_type_id: UserTypeId(4),
            last_login_at,
            activity_at: last_login_at.unwrap_or(NOW - created_days_ago * DAY_MS),
            reactivated_at: None,
            idle_deadline: None,
            exempt: false,
        }
    }

    fn policy() -> IdlePolicy {
        IdlePolicy {
            enabled: true,
            idle_days: 30,
            never_signed_in_days: 10,
            warn_days: 5,
            ..IdlePolicy::default()
        }
    }

    #[test]
    fn accounts_are_warned_the_warning_period_before_they_are_idle() {
        let p = policy();
        assert_eq!(p.step(&cand(Some(24), 100), NOW), IdleStep::Wait);
        assert_eq!(
            p.step(&cand(Some(25), 100), NOW),
            IdleStep::Warn {
                deadline: NOW + 5 * DAY_MS
            }
        );
        // Never signed in: counted from the creation, after the shorter period.
        assert_eq!(p.step(&cand(None, 4), NOW), IdleStep::Wait);
        assert_eq!(
            p.step(&cand(None, 5), NOW),
            IdleStep::Warn {
                deadline: NOW + 5 * DAY_MS
            }
        );
        // Long idle when the policy starts: still the whole warning period.
        assert_eq!(
            p.step(&cand(Some(400), 500), NOW),
            IdleStep::Warn {
                deadline: NOW + 5 * DAY_MS
            }
        );
    }

    #[test]
    fn a_warned_account_is_deactivated_at_its_deadline() {
        let p = policy();
        let mut c = cand(Some(40), 100);
        c.idle_deadline = Some(NOW + DAY_MS);
        assert_eq!(p.step(&c, NOW), IdleStep::Wait);
        assert_eq!(p.step(&c, NOW + DAY_MS), IdleStep::Deactivate);
        c.exempt = true;
        assert_eq!(p.step(&c, NOW + DAY_MS), IdleStep::Withdraw);
    }

    #[test]
    fn no_warning_period_means_deactivation_when_due_and_zero_days_at_once() {
        let p = IdlePolicy {
            idle_days: 0,
            never_signed_in_days: 0,
            warn_days: 0,
            grace_days: 0,
            ..policy()
        };
        assert_eq!(p.step(&cand(Some(0), 1), NOW), IdleStep::Deactivate);
        assert_eq!(p.step(&cand(None, 0), NOW), IdleStep::Deactivate);
    }

    #[test]
    fn a_reactivated_account_has_its_grace() {
        let p = IdlePolicy {
            idle_days: 0,
            never_signed_in_days: 0,
            warn_days: 0,
            grace_days: 14,
            ..policy()
        };
        let mut c = cand(Some(100), 200);
        c.reactivated_at = Some(NOW - 13 * DAY_MS);
        c.activity_at = NOW - 13 * DAY_MS;
        assert_eq!(p.step(&c, NOW), IdleStep::Wait);
        assert_eq!(p.step(&c, NOW + DAY_MS), IdleStep::Deactivate);
    }

    #[test]
    fn bad_settings_name_their_field() {
        let field = |p: IdlePolicy| match p.validate() {
            Err(Error::InvalidInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(IdlePolicy {
                max_share: 101,
                ..policy()
            }),
            "max_share"
        );
        assert_eq!(
            field(IdlePolicy {
                max_share: -1,
                ..policy()
            }),
            "max_share"
        );
        assert_eq!(
            field(IdlePolicy {
                idle_days: 3,
                ..policy()
            }),
            "idle_days"
        );
        assert_eq!(
            field(IdlePolicy {
                never_signed_in_days: 4,
                ..policy()
            }),
            "never_signed_in_days"
        );
        assert_eq!(
            field(IdlePolicy {
                grace_days: -1,
                ..policy()
            }),
            "grace_days"
        );
        assert!(policy().validate().is_ok());
        assert!(IdlePolicy::default().validate().is_ok());
    }

    #[test]
    fn the_cap_holds_past_the_share_and_the_policy_round_trips() {
        let p = policy();
        assert!(!p.holds(10, 100));
        assert!(p.holds(11, 100));
        assert!(!p.holds(0, 0));
        assert_eq!(p.cap(100), 10);
        let p = IdlePolicy {
            exempt_types: vec![UserTypeId(3)],
            exempt_groups: vec![GroupId(2)],
            exempt_branches: vec![BranchId(9)],
            ..p
        };
        assert_eq!(IdlePolicy::from_stored(&p.to_stored()).unwrap(), p);
        assert_eq!(IdlePolicy::from_stored("{}").unwrap(), IdlePolicy::default());
    }
}
