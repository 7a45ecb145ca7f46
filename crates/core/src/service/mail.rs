//! The outbox: mail is rendered and queued inside the transaction of the change that causes
//! it; a sender (in `rollcall serve`) delivers it with retries, then gives up ("dead").

use super::{Service, System};
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
            body: m.body.replace(mail::LINK_PLACEHOLDER, mail::LINK_REDACTED),
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
        self.queue(tx, user, msg, None).await
    }

    /// Queues `msg`, whose body holds [`mail::LINK_PLACEHOLDER`] where a single-use link of
    /// `purpose` (`set` or `reset`) goes. The link is minted when the message is sent.
    pub(crate) async fn queue_mail_with_link(
        &self,
        tx: &mut dyn Tx,
        user: &User,
        msg: Message,
        purpose: &str,
    ) -> Result<bool> {
        debug_assert!(msg.body.contains(mail::LINK_PLACEHOLDER));
        self.queue(tx, user, msg, Some(purpose)).await
    }

    async fn queue(&self, tx: &mut dyn Tx, user: &User, msg: Message, link: Option<&str>) -> Result<bool> {
        if user.exclude_from_emails {
            return Ok(false);
        }
        let now = self.now();
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
            link_purpose: link.map(str::to_owned),
        };
        tx.enqueue_mail(&m).await?;
        self.mail_queued.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(true)
    }

    /// Mints the single-use link (256 random bits, one hour) a message carries, as it is
    /// sent: built from the configured base URL — never from a request's Host header — with
    /// only its SHA-256 stored, replacing any unused link of the same purpose. `false` when
    /// the message must not go: its recipient is gone, no longer active, or has another
    /// address now (a link must never reach an address the account no longer has).
    async fn mint_link(&self, tx: &mut dyn Tx, m: &mut OutboxMail) -> Result<bool> {
        let Some(purpose) = m.link_purpose.clone() else {
            return Ok(true);
        };
        let user = match m.user_id {
            Some(id) => tx.user_by_id(id).await?,
            None => None,
        };
        let Some(user) = user.filter(|u| u.status.holds_seat() && u.email.key() == name_key(&m.to_address)) else {
            return Ok(false);
        };
        let token = hex::encode(rand::random::<[u8; 32]>());
        let now = self.now();
        tx.retire_password_tokens(user.id, &purpose, now).await?;
        let t = PasswordToken {
            user_id: user.id,
            purpose,
            token_hash: hex::encode(Sha256::digest(token.as_bytes())),
            created_at: now,
            expires_at: now + LINK_LIFETIME_MS,
        };
        tx.insert_password_token(&t).await?;
        let link = format!("{}/set-password?token={token}", self.base_url);
        m.body = m.body.replace(mail::LINK_PLACEHOLDER, &link);
        Ok(true)
    }

    /// The welcome email of a new account, unless the request said no, the `welcome_email`
    /// setting is off, or the user is excluded from emails.
    pub(crate) async fn welcome(&self, tx: &mut dyn Tx, user: &User, wanted: Welcome) -> Result<()> {
        // An account created deactivated (a leaver on file, a seat not yet given) has
        // nothing to be welcomed to; it is welcomed by nothing later either.
        if wanted.0 == Some(false) || user.exclude_from_emails || !user.status.holds_seat() {
            return Ok(());
        }
        if tx.setting(Setting::WelcomeEmail.key()).await?.as_deref() == Some("off") {
            return Ok(());
        }
        if user.has_password {
            self.queue_mail(tx, user, mail::welcome(user, &self.base_url, None))
                .await?;
        } else if matches!(user.origin, Origin::Scim | Origin::Sso) && super::sso::sso_configured(tx).await? {
            // Provisioned by the identity provider, signing in through it: no password to
            // set, so no set-password link.
            self.queue_mail(tx, user, mail::welcome_sso(user, &self.base_url))
                .await?;
        } else {
            let msg = mail::welcome(user, &self.base_url, Some(mail::LINK_PLACEHOLDER));
            self.queue_mail_with_link(tx, user, msg, "set").await?;
        }
        Ok(())
    }

    /// The outbox, newest first. Queued messages show where their link goes, never a live
    /// link (none exists before sending); sent messages keep no body.
    pub async fn list_mail(&self, ctx: &Context, limit: i64) -> Result<Vec<MailView>> {
        self.read(ctx, Some(Area::SettingsManage), async |tx, _| {
            Ok(tx
                .list_mail(limit.clamp(1, 10_000))
                .await?
                .into_iter()
                .map(MailView::from)
                .collect())
        })
        .await
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
        } else if m.status != "pending" {
            tx.drop_mail_body(m.id).await?;
        }
        tx.commit().await
    }
}

impl System<'_> {
    /// Due messages, each leased to this sender so another instance doesn't send it too,
    /// ready to send: links are minted now (see `mint_link`), in the returned copies only.
    /// A message that must not go any more is given up at once.
    pub async fn claim_due_mail(self, limit: i64) -> Result<Vec<OutboxMail>> {
        let now = self.service.now();
        let mut tx = self.service.store.begin().await?;
        let mut claimed = vec![];
        for mut m in tx.due_mail(now, limit).await? {
            if !tx.claim_mail(m.id, m.next_attempt_at, now + LEASE_MS).await? {
                continue;
            }
            m.next_attempt_at = now + LEASE_MS;
            if self.service.mint_link(tx.as_mut(), &mut m).await? {
                claimed.push(m);
            } else {
                m.status = "dead".into();
                m.last_error = Some("not sent: the account is no longer active at this address".into());
                tx.update_mail(&m, m.next_attempt_at).await?;
                tx.drop_mail_body(m.id).await?;
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records a delivery and drops the body: a sent message's link is in the recipient's
    /// mailbox and nowhere else.
    pub async fn mail_delivered(self, mut m: OutboxMail) -> Result<()> {
        let lease = m.next_attempt_at;
        m.status = "sent".into();
        m.attempts += 1;
        m.sent_at = Some(self.service.now());
        m.last_error = None;
        self.service.save_mail(&m, lease).await
    }

    /// Records a failed attempt: retried with exponential backoff (1, 2, 4 … minutes), then
    /// dead after [`MAX_ATTEMPTS`].
    pub async fn mail_failed(self, mut m: OutboxMail, error: &str) -> Result<()> {
        let lease = m.next_attempt_at;
        m.attempts += 1;
        m.last_error = Some(error.chars().take(500).collect());
        if m.attempts >= MAX_ATTEMPTS {
            m.status = "dead".into();
        } else {
            m.next_attempt_at = self.service.now() + 60_000 * (1 << (m.attempts - 1));
        }
        self.service.save_mail(&m, lease).await
    }
}
