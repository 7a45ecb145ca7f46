//! Mail rollcall sends: the templates, rendered to plain text. Rendering happens in the
//! transaction of the change that causes the mail, so the outbox holds exactly what will go.

use super::{Millis, User, format_millis};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Template {
    Welcome,
    SetPassword,
    PasswordReset,
    IdleWarning,
    DeactivationRefused,
    ReactivationRefused,
    SsoAdminLinked,
    IdlePolicySummary,
    SeatAlert,
}

impl Template {
    pub fn as_str(self) -> &'static str {
        match self {
            Template::Welcome => "welcome",
            Template::SetPassword => "set_password",
            Template::PasswordReset => "password_reset",
            Template::IdleWarning => "idle_warning",
            Template::DeactivationRefused => "deactivation_refused",
            Template::ReactivationRefused => "reactivation_refused",
            Template::SsoAdminLinked => "sso_admin_linked",
            Template::IdlePolicySummary => "idle_policy_summary",
            Template::SeatAlert => "seat_alert",
        }
    }
}

/// Where a single-use link goes in a queued message. The outbox never holds a live link:
/// the token is minted when the message is handed to the mail server, and only its digest
/// is kept. Control characters can't appear in any value a template prints, so the marker
/// can't be forged by a name.
pub const LINK_PLACEHOLDER: &str = "\u{1}single-use link\u{1}";

/// How a queued message shows its link to whoever reads the outbox.
pub const LINK_REDACTED: &str = "[a single-use link, made when the message is sent]";

/// A rendered message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub template: Template,
    pub subject: String,
    pub body: String,
}

fn greeting(user: &User) -> String {
    format!("Hello {},", user.first_name)
}

/// The first message an account receives. Without a password, it carries the link to set one.
pub fn welcome(user: &User, base_url: &str, set_password_link: Option<&str>) -> Message {
    let access = match set_password_link {
        Some(link) => format!(
            "Choose your password here (the link works once, for one hour; ask your administrator for a new one if it expires):\n{link}\n"
        ),
        None => "Sign in with the password you were given.\n".to_owned(),
    };
    Message {
        template: Template::Welcome,
        subject: "Welcome to your learning platform".into(),
        body: format!(
            "{}\n\nAn account has been created for you.\n\nUsername: {}\nSign in at: {base_url}/login\n\n{access}",
            greeting(user),
            user.username
        ),
    }
}

/// The welcome of an account whose way in is single sign-on: no password to choose.
pub fn welcome_sso(user: &User, base_url: &str) -> Message {
    Message {
        template: Template::Welcome,
        subject: "Welcome to your learning platform".into(),
        body: format!(
            "{}\n\nAn account has been created for you.\n\nUsername: {}\nSign in at: {base_url}/login\n\nChoose \"Sign in with single sign-on\" and use your organisation's account; there is no separate password.\n",
            greeting(user),
            user.username
        ),
    }
}

pub fn set_password(user: &User, link: &str) -> Message {
    Message {
        template: Template::SetPassword,
        subject: "Set your password".into(),
        body: format!(
            "{}\n\nSet your password here (the link works once, for one hour):\n{link}\n",
            greeting(user)
        ),
    }
}

pub fn password_reset(user: &User, link: &str) -> Message {
    Message {
        template: Template::PasswordReset,
        subject: "Reset your password".into(),
        body: format!(
            "{}\n\nSomeone asked to reset the password of {}. If it was you, choose a new one here (the link works once, for one hour):\n{link}\n\nIf it wasn't, ignore this message; your password stays as it is.\n",
            greeting(user),
            user.username
        ),
    }
}

pub fn idle_warning(user: &User, base_url: &str, deactivate_on: Millis) -> Message {
    Message {
        template: Template::IdleWarning,
        subject: "Your account will be deactivated".into(),
        body: format!(
            "{}\n\nYou haven't signed in for a while. Your account {} will be deactivated on {} unless you sign in before then. Signing in keeps your account:\n{base_url}/login\n\nYour training records are kept either way.\n",
            greeting(user),
            user.username,
            format_millis(deactivate_on)
        ),
    }
}

/// To an administrator: a scheduled deactivation was refused because `user` is the last
/// active administrator; the date was cleared, so it won't be tried again.
pub fn deactivation_refused(admin: &User, user: &User, base_url: &str, scheduled_for: Millis) -> Message {
    Message {
        template: Template::DeactivationRefused,
        subject: "A scheduled deactivation was refused".into(),
        body: format!(
            "{}\n\n{} was scheduled to be deactivated on {}, but is the last active administrator, so rollcall refused and cleared the date. Make another user an administrator, then schedule it again if it is still wanted:\n{base_url}/admin\n",
            greeting(admin),
            user.username,
            format_millis(scheduled_for)
        ),
    }
}

/// To every active administrator, after an idle-policy run that changed something or was
/// held back by the safety cap.
pub fn idle_policy_summary(admin: &User, base_url: &str, summary: &str) -> Message {
    Message {
        template: Template::IdlePolicySummary,
        subject: "Idle-account policy: what today's run did".into(),
        body: format!(
            "{}\n\n{summary}\n\nThe policy, its preview and the warned accounts: {base_url}/admin/idle-policy\n",
            greeting(admin)
        ),
    }
}

/// To every active administrator: seats used crossed a level of a limit (`what`: "the
/// plan's limit", "branch North's cap").
pub fn seat_alert(admin: &User, base_url: &str, what: &str, level: i64, used: i64, limit: i64) -> Message {
    Message {
        template: Template::SeatAlert,
        subject: format!("Seats: {level}% of {what} in use"),
        body: format!(
            "{}\n\n{used} of {limit} seats of {what} are in use: {level}% or more. Free seats by deactivating accounts nobody uses (the idle report and the idle-account policy find them), or raise the limit. The seat report and its forecast:\n{base_url}/admin\n\nYou hear of this level again only after use falls 5 points below it and crosses it again.\n",
            greeting(admin)
        ),
    }
}

/// To every active administrator: a leave of absence ended, but no seat was free, so the
/// account stays deactivated and its reactivation date is cleared.
pub fn reactivation_refused(admin: &User, user: &User, base_url: &str, scheduled_for: Millis, why: &str) -> Message {
    Message {
        template: Template::ReactivationRefused,
        subject: format!("{} could not be reactivated: no seat is free", user.username),
        body: format!(
            "{}\n\n{} was scheduled to be reactivated on {}, but {why}. The account stays deactivated and rollcall cleared the date. Free a seat (or raise the limit), then reactivate it:\nrollcall user activate {}\n{base_url}/admin/users/{}\n",
            greeting(admin),
            user.username,
            format_millis(scheduled_for),
            user.username,
            user.id.0
        ),
    }
}

/// To every active administrator: an account of administrator rank can now be signed in to
/// through the identity provider.
pub fn sso_admin_linked(admin: &User, linked: &User, user_type: &str, idp: &str, by: &str) -> Message {
    Message {
        template: Template::SsoAdminLinked,
        subject: "An administrator account was linked to single sign-on".into(),
        body: format!(
            "{}\n\nThe {user_type} account {} can now be signed in to through the identity provider {idp} (linked by {by}).\n\nIf nobody meant to do this, unlink it at once: rollcall user set {} --no-sso-subject\n",
            greeting(admin),
            linked.username,
            linked.username
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ada() -> User {
        crate::domain::user::sample_user("ada")
    }

    #[test]
    fn welcome_carries_the_link_only_without_a_password() {
        let m = welcome(
            &ada(),
            "https://lms.example.org",
            Some("https://lms.example.org/set-password?token=x"),
        );
        assert!(m.body.contains("Hello Ada,") && m.body.contains("Username: ada"));
        assert!(m.body.contains("https://lms.example.org/set-password?token=x"));
        let m = welcome(&ada(), "https://lms.example.org", None);
        assert!(!m.body.contains("set-password"));
        assert!(m.body.contains("https://lms.example.org/login"));
    }

    #[test]
    fn the_idle_warning_says_the_date_and_that_signing_in_keeps_the_account() {
        let m = idle_warning(&ada(), "https://x", 86_400_000);
        assert!(m.body.contains("1970-01-02"), "{}", m.body);
        assert!(m.body.contains("Signing in keeps your account"), "{}", m.body);
    }

    #[test]
    fn every_template_names_the_user() {
        for m in [
            set_password(&ada(), "L"),
            password_reset(&ada(), "L"),
            idle_warning(&ada(), "https://x", 86_400_000),
            idle_policy_summary(&ada(), "https://x", "The idle-account policy warned 1 account."),
            sso_admin_linked(&ada(), &ada(), "Administrator", "https://idp", "root"),
        ] {
            assert!(m.body.starts_with("Hello Ada,"), "{:?}", m.template);
            assert!(!m.subject.is_empty());
        }
    }
}
