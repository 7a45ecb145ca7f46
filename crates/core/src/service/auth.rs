//! Signing in with a password, sessions, and set-password / reset links.
//!
//! Every failure to sign in looks the same from outside — unknown account, wrong password,
//! inactive account — and takes about the same time. Failures back off per account and per
//! address, never locking anyone out for good.

use super::users::UserView;
use super::{Change, Public, Service, System};
use crate::actor::{Actor, Channel, Context, Principal};
use crate::audit::AuditAction;
use crate::domain::*;
use crate::ports::{SessionRecord, Tx};
use crate::{Error, Result, password};
use serde_json::json;
use sha2::{Digest, Sha256};

/// A session ends after this long without use.
pub const SESSION_IDLE_MS: Millis = 30 * 60 * 1000;
/// …and this long after sign-in, whatever the use.
pub const SESSION_ABSOLUTE_MS: Millis = 12 * 60 * 60 * 1000;
/// Failures count within this window from a key's first failure; after it they are
/// forgotten (and the row may be pruned).
pub const FAILURE_WINDOW_MS: Millis = 15 * 60 * 1000;
/// The tally (and audit target) of failed sign-ins with logins that name no account.
const UNKNOWN_LOGIN: &str = "login:unknown";
/// Sessions kept per user: signing in beyond this ends the oldest.
pub const MAX_SESSIONS_PER_USER: i64 = 20;
/// At most one reset link per account in this long.
const RESET_INTERVAL_MS: Millis = 5 * 60 * 1000;
/// How often a session's last use is written (not on every request).
const TOUCH_EVERY_MS: Millis = 60 * 1000;

/// A new session: its id goes in the cookie, the CSRF token in forms.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub session_id: String,
    pub csrf_token: String,
    pub user: UserView,
}

/// What `System::prune_expired` removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub sessions: u64,
    pub sign_in_failures: u64,
    pub sso_state: u64,
}

/// The user behind a valid session.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    pub context: Context,
    pub csrf_token: String,
    pub user: UserView,
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn random_hex() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn wrong() -> Error {
    Error::Unauthenticated
}

/// How many failures a throttling key allows in its window before backing off, and how
/// long the backoff grows (doubling from `first_block_ms` up to `max_block_ms`).
#[derive(Clone, Copy, Debug)]
struct Allowance {
    free: i64,
    first_block_ms: Millis,
    max_block_ms: Millis,
}

impl Allowance {
    fn backoff(self, failures: i64) -> Millis {
        let doublings = (failures - self.free).clamp(0, 30);
        self.first_block_ms
            .saturating_mul(1 << doublings)
            .min(self.max_block_ms)
    }
}

/// One account from one address: the long backoff, so a guesser is slowed to a crawl.
const PAIR: Allowance = Allowance {
    free: 5,
    first_block_ms: 15 * 1000,
    max_block_ms: 15 * 60 * 1000,
};
/// One account from anywhere: a short backoff, so nobody hammering an account from other
/// addresses can keep its owner out for more than a few seconds at a time.
const ACCOUNT: Allowance = Allowance {
    free: 10,
    first_block_ms: 1000,
    max_block_ms: 10 * 1000,
};
/// One address across accounts (password spraying): generous, and short, since many
/// people can share an address.
const ADDRESS: Allowance = Allowance {
    free: 30,
    first_block_ms: 1000,
    max_block_ms: 30 * 1000,
};

/// The longest login that could name an account: no username (128 characters) or email
/// (254 bytes) is longer.
pub const LOGIN_MAX_CHARS: usize = 254;

impl Service {
    /// Counts this attempt under every key before the password is checked, in one statement
    /// per key (serialised on the key's row), so parallel guesses all count. An attempt
    /// refused because a key is blocked counts under none of them (the transaction is
    /// dropped). From a key's free failures on, it is blocked for the backoff before the
    /// check, so guesses sent alongside this one wait.
    async fn reserve_attempt(&self, keys: &[(String, Allowance)], now: Millis) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let mut blocked_until: Option<Millis> = None;
        let mut to_block = Vec::new();
        for (k, allowance) in keys {
            let f = tx.reserve_sign_in_attempt(k, now, now - FAILURE_WINDOW_MS).await?;
            if let Some(until) = f.blocked_until.filter(|&until| until > now) {
                blocked_until = blocked_until.max(Some(until));
            } else if f.failures >= allowance.free {
                to_block.push((k, now + allowance.backoff(f.failures)));
            }
        }
        if let Some(until) = blocked_until {
            // Dropped, not committed: a refused attempt counts nowhere.
            drop(tx);
            return Err(Error::RateLimited {
                retry_after_secs: (until - now + 999) / 1000,
            });
        }
        for (k, until) in to_block {
            tx.block_sign_in(k, until).await?;
        }
        tx.commit().await
    }

    /// Records the sign-in and opens a session for `user`, inside `tx`. Shared by every way
    /// of signing in (password, SAML).
    pub(crate) async fn start_session(
        &self,
        tx: &mut dyn Tx,
        user: &User,
        source: Option<&str>,
        channel: Channel,
        changes: serde_json::Value,
    ) -> Result<(String, String, UserView)> {
        let now = self.now();
        tx.set_last_login(user.id, now).await?;
        let session_id = random_hex();
        let csrf_token = random_hex();
        let record = SessionRecord {
            id_hash: sha256_hex(&session_id),
            user_id: user.id,
            csrf_token: csrf_token.clone(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + SESSION_ABSOLUTE_MS,
        };
        tx.insert_session(&record).await?;
        // A user's sessions are bounded: the newest are kept, the oldest end.
        tx.trim_user_sessions(user.id, MAX_SESSIONS_PER_USER).await?;
        let ctx = Context {
            actor: Actor::User(user.id),
            channel,
            request_id: None,
            source: source.map(str::to_owned),
        };
        let who = Principal {
            user_id: Some(user.id),
            label: user.username.to_string(),
            ..Principal::superuser()
        };
        self.record(tx, &ctx, &who, Change::user(AuditAction::UserSignIn, user, changes))
            .await?;
        let fresh = tx.user_by_id(user.id).await?.ok_or(Error::Unauthenticated)?;
        let view = self.view_of(tx, &fresh).await?;
        Ok((session_id, csrf_token, view))
    }
}

impl Public<'_> {
    /// The `trusted_proxies` setting as it is now (read per use, so a change made on any
    /// instance holds everywhere at once).
    pub async fn trusted_proxies(self) -> Result<TrustedProxies> {
        let mut tx = self.service.store.begin_read().await?;
        match tx.setting(Setting::TrustedProxies.key()).await? {
            Some(v) => TrustedProxies::parse(&v),
            None => Ok(TrustedProxies::default()),
        }
    }

    /// Signs in with a username (or email) and password. A new session id is made at every
    /// sign-in, so a session id planted before sign-in is never the one that ends up
    /// authenticated.
    pub async fn sign_in_password(self, login: &str, given: &str, source: Option<&str>) -> Result<SignedIn> {
        // Before any database work: nothing longer can name an account.
        if login.trim().chars().count() > LOGIN_MAX_CHARS {
            return Err(Error::invalid(
                "login",
                format!("must be at most {LOGIN_MAX_CHARS} characters"),
            ));
        }
        let now = self.service.now();
        let login_key = name_key(login.trim());
        let (user, stored) = {
            let mut tx = self.service.store.begin_read().await?;
            let user = match tx.user_by_username(&login_key).await? {
                Some(u) => Some(u),
                None => tx.user_by_email(&login_key).await?,
            };
            // Single sign-on as the only way in: refused before any password is looked at,
            // alike for every login but the break-glass administrator's.
            if !super::sso::password_allowed(tx.as_mut(), user.as_ref()).await? {
                return Err(super::sso::sso_only());
            }
            let stored = match &user {
                Some(u) => tx.password_hash(u.id).await?,
                None => None,
            };
            (user, stored)
        };
        // One allowance per account (named by username or by email alike; an unknown login
        // by its digest, never the attacker's text), one per account and address, one per
        // address. Sorted, so concurrent attempts lock rows in one order.
        let account = match &user {
            Some(u) => format!("user:{}", u.id),
            None => format!("login:{}", sha256_hex(&login_key)),
        };
        let mut keys = vec![(format!("acct:{account}"), ACCOUNT)];
        if let Some(addr) = source {
            keys.push((format!("pair:{account}@{addr}"), PAIR));
            keys.push((format!("addr:{addr}"), ADDRESS));
        }
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        self.service.reserve_attempt(&keys, now).await?;
        let verified = password::verify_off_thread(given, stored.clone()).await?;
        let user = match user {
            Some(u) if verified && u.status.holds_seat() => u,
            _ => {
                // The attempt was counted before the check; the audit log's tally counts it
                // too, to be written as one entry per account and address per window. Logins
                // naming no account share one tally per address, so a caller sending made-up
                // names can't have the audit log keep an entry for each.
                tracing::info!("sign-in refused");
                let mut tx = self.service.store.begin().await?;
                let window = now - now.rem_euclid(FAILURE_WINDOW_MS);
                let user_id = user.as_ref().map(|u| u.id);
                let tallied = if user_id.is_some() {
                    account.as_str()
                } else {
                    UNKNOWN_LOGIN
                };
                tx.tally_sign_in_failure(tallied, source.unwrap_or(""), window, user_id, now)
                    .await?;
                tx.commit().await?;
                return Err(wrong());
            }
        };
        let rehash = match stored.as_deref() {
            Some(s) if password::needs_rehash(s) => password::hash_off_thread(Some(given.to_owned())).await?,
            _ => None,
        };
        let mut txb = self.service.store.begin().await?;
        let tx = txb.as_mut();
        // The account's and this address's allowance for it start afresh. The address's own
        // allowance only takes this attempt back: signing in to one's own account mustn't
        // wipe out the failures of a sprayer sharing the address, nor count as one.
        for (k, _) in &keys {
            if k.starts_with("addr:") {
                tx.release_sign_in_attempt(k).await?;
            } else {
                tx.clear_sign_in_failures(k).await?;
            }
        }
        if let Some(h) = &rehash {
            tx.set_password_hash(user.id, Some(h)).await?;
        }
        let changes = json!({ "method": "password", "rehashed": rehash.is_some() });
        let (session_id, csrf_token, view) = self
            .service
            .start_session(tx, &user, source, Channel::Console, changes)
            .await?;
        self.service.commit(txb).await?;
        Ok(SignedIn {
            session_id,
            csrf_token,
            user: view,
        })
    }

    /// The user behind a session id, if the session is live and the user active.
    pub async fn session(self, session_id: &str) -> Result<SessionInfo> {
        let now = self.service.now();
        let id_hash = sha256_hex(session_id);
        let (record, user) = {
            let mut tx = self.service.store.begin_read().await?;
            let Some(record) = tx.session(&id_hash).await? else {
                return Err(Error::Unauthenticated);
            };
            let user = tx.user_by_id(record.user_id).await?.ok_or(Error::Unauthenticated)?;
            (record, user)
        };
        let expired = now >= record.expires_at || now - record.last_seen_at >= SESSION_IDLE_MS;
        if expired || !user.status.holds_seat() {
            let mut tx = self.service.store.begin().await?;
            tx.delete_session(&id_hash).await?;
            tx.commit().await?;
            return Err(Error::Unauthenticated);
        }
        if now - record.last_seen_at >= TOUCH_EVERY_MS {
            let mut tx = self.service.store.begin().await?;
            tx.touch_session(&id_hash, now).await?;
            tx.commit().await?;
        }
        let context = Context::new(Actor::User(user.id), Channel::Console);
        let mut tx = self.service.store.begin_read().await?;
        let view = self.service.view_of(tx.as_mut(), &user).await?;
        Ok(SessionInfo {
            context,
            csrf_token: record.csrf_token,
            user: view,
        })
    }

    pub async fn sign_out(self, session_id: &str) -> Result<()> {
        let mut tx = self.service.store.begin().await?;
        tx.delete_session(&sha256_hex(session_id)).await?;
        tx.commit().await
    }

    /// Mails a reset link if the login names an active account that receives mail. The
    /// answer is the same either way, so it reveals nothing.
    pub async fn request_password_reset(self, login: &str) -> Result<()> {
        // No account has a longer name: the same answer, without touching the database.
        if login.trim().chars().count() > LOGIN_MAX_CHARS {
            return Ok(());
        }
        let key = name_key(login.trim());
        let mut txb = self.service.store.begin().await?;
        let tx = txb.as_mut();
        let user = match tx.user_by_username(&key).await? {
            Some(u) => Some(u),
            None => tx.user_by_email(&key).await?,
        };
        let now = self.service.now();
        // Whose way in is single sign-on gets no reset link (the same answer all the same).
        let user = match user {
            Some(u) if !super::sso::password_allowed(tx, Some(&u)).await? => None,
            other => other,
        };
        if let Some(u) = user.filter(|u| u.status.holds_seat()) {
            // At most one link every few minutes, and the newest replaces the older ones, so
            // nobody can flood an inbox or collect live links.
            let since = now - RESET_INTERVAL_MS;
            if !tx.recent_password_token(u.id, "reset", since).await?
                && !tx.recent_link_mail(u.id, "reset", since).await?
            {
                tx.retire_password_tokens(u.id, "reset", now).await?;
                let msg = crate::domain::mail::password_reset(&u, crate::domain::mail::LINK_PLACEHOLDER);
                self.service.queue_mail_with_link(tx, &u, msg, "reset").await?;
                let ctx = Context::new(Actor::User(u.id), Channel::Console);
                let who = Principal {
                    user_id: Some(u.id),
                    label: u.username.to_string(),
                    ..Principal::superuser()
                };
                self.service
                    .record(
                        tx,
                        &ctx,
                        &who,
                        Change::user(AuditAction::UserPasswordResetRequested, &u, json!({})),
                    )
                    .await?;
            }
        }
        self.service.commit(txb).await
    }

    /// Sets a password from a set-password or reset link: once, within the hour. Ends every
    /// session of the user.
    pub async fn set_password_with_token(self, token: &str, new_password: &str) -> Result<()> {
        password::check_policy(new_password)?;
        let hash = password::hash_off_thread(Some(new_password.to_owned())).await?;
        let mut txb = self.service.store.begin().await?;
        let tx = txb.as_mut();
        let invalid = || Error::invalid("token", "this link is invalid, used or expired; ask for a new one");
        let (user_id, purpose) = tx
            .use_password_token(&sha256_hex(token.trim()), self.service.now())
            .await?
            .ok_or_else(invalid)?;
        let user = tx
            .user_by_id(user_id)
            .await?
            .filter(|u| u.status != UserStatus::Trash)
            .ok_or_else(invalid)?;
        tx.set_password_hash(user.id, hash.as_deref()).await?;
        tx.delete_user_sessions(user.id).await?;
        let ctx = Context::new(Actor::User(user.id), Channel::Console);
        let who = Principal {
            user_id: Some(user.id),
            label: user.username.to_string(),
            ..Principal::superuser()
        };
        self.service
            .record(
                tx,
                &ctx,
                &who,
                Change::user(
                    AuditAction::UserSetPassword,
                    &user,
                    json!({ "via": purpose, "password": "[redacted]" }),
                ),
            )
            .await?;
        self.service.commit(txb).await
    }
}

impl System<'_> {
    /// Forgets what has expired: sessions past their idle or absolute end, sign-in
    /// failures older than their window (and no longer blocking), and SAML request and
    /// assertion ids past their expiry. The minute job runs this on every instance.
    /// Writes the failed sign-ins of every window that has ended to the audit log: one entry
    /// per account (or login naming none) and address per window, with the count — never
    /// one per attempt, never what was typed. Returns the entries written.
    pub async fn audit_sign_in_failures(self) -> Result<u64> {
        const BATCH: i64 = 500;
        let ctx = Context::new(
            Actor::System {
                job: "sign-in failures",
            },
            Channel::Console,
        );
        let who = Principal::superuser();
        let mut written = 0;
        loop {
            let now = self.service.now();
            let ended = now - now.rem_euclid(FAILURE_WINDOW_MS);
            let mut txb = self.service.store.begin().await?;
            let tx = txb.as_mut();
            let tallies = tx.take_sign_in_failure_tallies(ended, BATCH).await?;
            let n = tallies.len() as i64;
            let mut changes = Vec::with_capacity(tallies.len());
            for t in tallies {
                let what = json!({
                    "failures": t.failures,
                    "window_start": format_millis(t.window_start),
                    "window_end": format_millis(t.window_start + FAILURE_WINDOW_MS),
                    "last_failure_at": format_millis(t.last_failure_at),
                    "address": (!t.address.is_empty()).then_some(t.address.as_str()),
                });
                let user = match t.user_id {
                    Some(id) => tx.user_by_id(id).await?,
                    None => None,
                };
                changes.push(match user {
                    Some(u) => Change::user(AuditAction::UserSignInFailed, &u, what),
                    // Logins that name no account, together: never the text typed.
                    None => Change::other(AuditAction::UserSignInFailed, "login", None, UNKNOWN_LOGIN, what),
                });
            }
            written += changes.len() as u64;
            if !changes.is_empty() {
                self.service.record_all(tx, &ctx, &who, changes).await?;
            }
            self.service.commit(txb).await?;
            if n < BATCH {
                return Ok(written);
            }
        }
    }

    pub async fn prune_expired(self) -> Result<Pruned> {
        let now = self.service.now();
        let mut tx = self.service.store.begin().await?;
        let pruned = Pruned {
            sessions: tx.prune_sessions(now, now - SESSION_IDLE_MS).await?,
            sign_in_failures: tx.prune_sign_in_failures(now - FAILURE_WINDOW_MS, now).await?,
            sso_state: tx.prune_sso_state(now).await?,
        };
        tx.commit().await?;
        Ok(pruned)
    }
}
