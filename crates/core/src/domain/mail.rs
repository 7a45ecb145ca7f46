//! Mail rollcall sends: the templates, rendered to plain text. Rendering happens in the
//! transaction of the change that causes the mail, so the outbox holds exactly what will go.

use super::{Millis, User, format_millis};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Template {
    Welcome,
    SetPassword,
    PasswordReset,
    IdleWarning,
    SsoAdminLinked,
}

impl Template {
    pub fn as_str(self) -> &'static str {
        match self {
            Template::Welcome => "welcome",
            Template::SetPassword => "set_password",
            Template::PasswordReset => "password_reset",
            Template::IdleWarning => "idle_warning",
            Template::SsoAdminLinked => "sso_admin_linked",
        }
    }
}

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
            "{}\n\nYou haven't signed in for a while. Your account {} will be deactivated on {} unless you sign in before then:\n{base_url}/login\n\nYour training records are kept either way.\n",
            greeting(user),
            user.username,
            format_millis(deactivate_on)
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
    fn every_template_names_the_user() {
        for m in [
            set_password(&ada(), "L"),
            password_reset(&ada(), "L"),
            idle_warning(&ada(), "https://x", 86_400_000),
            sso_admin_linked(&ada(), &ada(), "Administrator", "https://idp", "root"),
        ] {
            assert!(m.body.starts_with("Hello Ada,"), "{:?}", m.template);
            assert!(!m.subject.is_empty());
        }
    }
}
