//! The outbox: mail is rendered and queued inside the transaction of the change that causes
//! it; a sender (in `rollcall serve`) delivers it with retries, then gives up ("dead").

use super::Service;
use crate::actor::Context;
use crate::domain::mail::{self, Message};
use crate::domain::*;
use crate::ports::{OutboxMail, PasswordToken, Tx};
use crate::{Error, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Attempts before a message is given up as dead.
pub const MAX_ATTEMPTS: i64 = 6;
/// How long a set-password or reset link works.
pub const LINK_LIFETIME_MS: Millis = 60 * 60 * 1000;
/// How long a sender holds a message it is trying to deliver.
const LEASE_MS: Millis = 5 * 60 * 1000;

#[derive(Clone, Debug, Serialize)]
pub struct MailView {
    pub id: i64,
    pub to: String,
    pub template: String,
    pub subject: String,
    pub body: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

impl From<OutboxMail> for MailView {
    fn from(m: OutboxMail) -> MailView {
        MailView {
            id: m.id,
            to: m.to_address,
            template: m.template,
            subject: m.subject,
            body: m.body,
            status: m.status,
            attempts: m.attempts,
            last_error: m.last_error,
            created_at: format_millis(m.created_at),
            sent_at: m.sent_at.map(format_millis),
        }
    }
}

/// Whether the welcome email goes, as a request or row said (`None`: the default, yes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Welcome(pub Option<bool>);

impl Service {
    /// Queues `msg` for `user` in `tx` — unless the user is excluded from emails, which stops
    /// all mail to them. Returns whether it was queued.
    pub(crate) async fn queue_mail(&self, tx: &mut dyn Tx, user: &User, msg: Message) -> Result<bool> {
        if user.exclude_from_emails {
            return Ok(false);
        }
        let now = now_millis();
        let m = OutboxMail {
            id: 0,
            user_id: Some(user.id),
            to_address: user.email.to_string(),
            template: msg.template.as_str().into(),
            subject: msg.subject,
            body: msg.body,
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
            sent_at: None,
        };
        tx.enqueue_mail(&m).await?;
        Ok(true)
    }

    /// A single-use link (256 random bits, one hour) built from the configured base URL —
    /// never from a request's Host header. Only its SHA-256 is stored.
    pub(crate) async fn password_link(&self, tx: &mut dyn Tx, user: &User, purpose: &str) -> Result<String> {
        let token = hex::encode(rand::random::<[u8; 32]>());
        let now = now_millis();
        let t = PasswordToken {
            user_id: user.id,
            purpose: purpose.into(),
            token_hash: hex::encode(Sha256::digest(token.as_bytes())),
            created_at: now,
            expires_at: now + LINK_LIFETIME_MS,
        };
        tx.insert_password_token(&t).await?;
        Ok(format!("{}/set-password?token={token}", self.base_url))
    }

    /// The welcome email of a new account, unless the request said no, the `welcome_email`
    /// setting is off, or the user is excluded from emails.
    pub(crate) async fn welcome(&self, tx: &mut dyn Tx, user: &User, wanted: Welcome) -> Result<()> {
        if wanted.0 == Some(false) || user.exclude_from_emails {
            return Ok(());
        }
        if tx.setting(Setting::WelcomeEmail.key()).await?.as_deref() == Some("off") {
            return Ok(());
        }
        let link = match user.has_password {
            true => None,
            false => Some(self.password_link(tx, user, "set").await?),
        };
        self.queue_mail(tx, user, mail::welcome(user, &self.base_url, link.as_deref()))
            .await?;
        Ok(())
    }

    /// The outbox, newest first (for the operator: bodies may hold set-password links).
    pub async fn list_mail(&self, ctx: &Context, limit: i64) -> Result<Vec<MailView>> {
        let mut txb = self.store.begin_read().await?;
        let tx = txb.as_mut();
        self.principal(tx, ctx).await?.require(Area::SettingsManage)?;
        Ok(tx
            .list_mail(limit.clamp(1, 10_000))
            .await?
            .into_iter()
            .map(MailView::from)
            .collect())
    }

    /// Due messages, each leased to this sender so another instance doesn't send it too.
    pub async fn claim_due_mail(&self, limit: i64) -> Result<Vec<OutboxMail>> {
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let mut claimed = vec![];
        for mut m in tx.due_mail(now, limit).await? {
            if tx.claim_mail(m.id, m.next_attempt_at, now + LEASE_MS).await? {
                m.next_attempt_at = now + LEASE_MS;
                claimed.push(m);
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    pub async fn mail_delivered(&self, mut m: OutboxMail) -> Result<()> {
        let lease = m.next_attempt_at;
        m.status = "sent".into();
        m.attempts += 1;
        m.sent_at = Some(now_millis());
        m.last_error = None;
        self.save_mail(&m, lease).await
    }

    /// Records a failed attempt: retried with exponential backoff (1, 2, 4 … minutes), then
    /// dead after [`MAX_ATTEMPTS`].
    pub async fn mail_failed(&self, mut m: OutboxMail, error: &str) -> Result<()> {
        let lease = m.next_attempt_at;
        m.attempts += 1;
        m.last_error = Some(error.chars().take(500).collect());
        if m.attempts >= MAX_ATTEMPTS {
            m.status = "dead".into();
        } else {
            m.next_attempt_at = now_millis() + 60_000 * (1 << (m.attempts - 1));
        }
        self.save_mail(&m, lease).await
    }

    /// Saves an outcome only while the lease taken by `claim_due_mail` still holds; if it
    /// ran out and another sender took the message, that sender's outcome wins.
    async fn save_mail(&self, m: &OutboxMail, lease: Millis) -> Result<()> {
        if m.id == 0 {
            return Err(Error::internal("a mail without an id"));
        }
        let mut tx = self.store.begin().await?;
        if !tx.update_mail(m, lease).await? {
            tracing::warn!(mail = m.id, "a mail's lease ran out before its outcome was saved");
        }
        tx.commit().await
    }
}
