//! Single sign-on: the identity provider's configuration and what a verified sign-in does —
//! find the account linked to the IdP subject, link one only as the rules allow, or create
//! it just in time; and an administrator's linking and unlinking. Verifying the SAML
//! response itself (signatures, audience, times, replay) is the SAML channel's job; this
//! receives only an identity it has verified.

use super::auth::SignedIn;
use super::users::{NewUser, UserKey};
use super::{Change, Public, Service};
use crate::actor::{Actor, Channel, Context, Principal};
use crate::audit::AuditAction;
use crate::domain::*;
use crate::ports::Tx;
use crate::{ConflictCode, Error, Result, RuleCode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

const SSO_SETTING: &str = "sso";

/// What the identity provider publishes and what rollcall does with its sign-ins.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SsoConfig {
    pub idp_entity_id: String,
    /// Where SP-initiated sign-in sends the AuthnRequest (HTTP-Redirect binding).
    pub sso_url: String,
    /// The IdP's signing certificates (base64 DER), pinned: two during a rollover.
    pub signing_certs: Vec<String>,
    /// Create unknown users at their first sign-in.
    pub jit: bool,
    pub default_type: String,
    pub default_branch: Option<String>,
    pub allow_idp_initiated: bool,
    /// SAML attribute name → rollcall field (`email`, `first_name`, `last_name`, `username`).
    pub mappings: BTreeMap<String, String>,
}

/// The identity-provider subject an account is linked to.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SsoLink {
    /// The identity provider's entity id.
    pub idp: String,
    /// The NameID it asserts for this account.
    pub subject: String,
}

/// An identity the SAML channel has verified.
#[derive(Clone, Debug, Default)]
pub struct SsoIdentity {
    pub name_id: String,
    /// Whether the NameID's format is emailAddress.
    pub name_id_is_email: bool,
    /// Attribute name → values.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// The assertion's id, refused if it comes again before `expires_at`.
    pub assertion_id: String,
    /// The AuthnRequest answered; `None` when the sign-in started at the IdP.
    pub in_response_to: Option<String>,
    pub expires_at: Millis,
}

/// How long an AuthnRequest may wait for its answer.
const REQUEST_LIFETIME_MS: Millis = 10 * 60 * 1000;

const FIELDS: [&str; 4] = ["email", "first_name", "last_name", "username"];

/// The attribute names each field is read from unless a mapping says otherwise.
fn default_names(field: &str) -> &'static [&'static str] {
    match field {
        "email" => &[
            "email",
            "mail",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        ],
        "first_name" => &[
            "firstName",
            "givenName",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
        ],
        "last_name" => &[
            "lastName",
            "sn",
            "surname",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
        ],
        "username" => &["username", "uid"],
        _ => &[],
    }
}

impl SsoConfig {
    /// Checks a configuration before it is stored. An IdP without a signing certificate is a
    /// configuration error, never "no signature check".
    pub fn validate(&self) -> Result<()> {
        if self.signing_certs.is_empty() {
            return Err(Error::invalid(
                "idp_metadata",
                "the IdP metadata has no signing certificate; rollcall won't accept unsigned sign-ins",
            ));
        }
        if self.signing_certs.len() > 2 {
            return Err(Error::invalid(
                "idp_metadata",
                "at most two signing certificates (during a rollover)",
            ));
        }
        if self.idp_entity_id.trim().is_empty() {
            return Err(Error::invalid("idp_metadata", "the IdP metadata has no entityID"));
        }
        if !(self.sso_url.starts_with("https://") || self.sso_url.starts_with("http://")) {
            return Err(Error::invalid(
                "idp_metadata",
                "the IdP metadata has no HTTP-Redirect SingleSignOnService",
            ));
        }
        for field in self.mappings.values() {
            if !FIELDS.contains(&field.as_str()) {
                return Err(Error::invalid(
                    "map",
                    format!("'{field}' is not a field SSO fills; use {}", FIELDS.join(", ")),
                ));
            }
        }
        Ok(())
    }

    /// The value of a field: from the mapped attribute, else the usual names.
    pub fn field(&self, identity: &SsoIdentity, field: &str) -> Option<String> {
        let mapped: Vec<&str> = self
            .mappings
            .iter()
            .filter(|(_, f)| *f == field)
            .map(|(a, _)| a.as_str())
            .collect();
        let names: Vec<&str> = if mapped.is_empty() {
            default_names(field).to_vec()
        } else {
            mapped
        };
        names
            .iter()
            .find_map(|n| {
                identity
                    .attributes
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(n))
                    .and_then(|(_, v)| v.first())
            })
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }
}

impl Service {
    pub async fn set_sso(&self, ctx: &Context, config: SsoConfig) -> Result<SsoConfig> {
        config.validate()?;
        self.write(ctx, Some(Area::IntegrationsManage), async |tx, who| {
            tx.plan().await?.require(Feature::IdentityIntegration)?;
            // Mappings and defaults can never yield an administrator type.
            let t = self.type_by_name(&mut **tx, &config.default_type).await?;
            Principal::identity_provider("sso").require_rank(&t, "give")?;
            if let Some(b) = &config.default_branch {
                self.branch_by_name(&mut **tx, b).await?;
            }
            let stored = serde_json::to_string(&config).map_err(Error::internal)?;
            tx.set_setting(SSO_SETTING, &stored).await?;
            let changes = json!({ "idp": config.idp_entity_id, "jit": config.jit, "default_type": config.default_type, "certificates": config.signing_certs.len() });
            self.record(&mut **tx, ctx, who, Change::other(AuditAction::SsoSet, "setting", None, "sso", changes))
                .await?;
            Ok(config)
        })
        .await
    }

    pub async fn show_sso(&self, ctx: &Context) -> Result<Option<SsoConfig>> {
        let mut txb = self.store.begin_read().await?;
        self.principal(txb.as_mut(), ctx)
            .await?
            .require(Area::IntegrationsManage)?;
        drop(txb);
        self.public().sso_config().await
    }

    pub async fn disable_sso(&self, ctx: &Context) -> Result<()> {
        self.write(ctx, Some(Area::IntegrationsManage), async |tx, who| {
            tx.set_setting(SSO_SETTING, "").await?;
            // Without single sign-on, passwords are everyone's way in again.
            let only = Setting::PasswordSignIn.key();
            if tx.setting(only).await?.is_some_and(|v| v != PASSWORD_SIGN_IN_EVERYONE) {
                tx.set_setting(only, PASSWORD_SIGN_IN_EVERYONE).await?;
            }
            self.record(
                &mut **tx,
                ctx,
                who,
                Change::other(AuditAction::SsoDisable, "setting", None, "sso", json!({})),
            )
            .await?;
            Ok(())
        })
        .await
    }

    /// Consumes the request the assertion answers (or checks that IdP-initiated sign-in is
    /// allowed) and records the assertion id, committed on its own so that neither can be
    /// used twice even when the sign-in itself is then refused.
    async fn accept_assertion(&self, config: &SsoConfig, identity: &SsoIdentity) -> Result<()> {
        let now = self.now();
        let mut txb = self.store.begin().await?;
        let tx = txb.as_mut();
        match &identity.in_response_to {
            Some(id) if !tx.take_sso_request(id, now).await? => {
                return Err(Error::forbidden("this sign-in answers no outstanding request of ours"));
            }
            Some(_) => {}
            None if !config.allow_idp_initiated => {
                return Err(Error::forbidden(
                    "sign-in started at the identity provider is not allowed",
                ));
            }
            None => {}
        }
        if identity.assertion_id.is_empty()
            || !tx
                .record_sso_assertion(&identity.assertion_id, identity.expires_at, now)
                .await?
        {
            return Err(Error::forbidden("this assertion has already been used"));
        }
        self.commit(txb).await
    }

    /// The subject a user is linked to, for whoever may see that user.
    pub async fn sso_link_of(&self, ctx: &Context, key: &UserKey) -> Result<Option<SsoLink>> {
        // Seeing the user is seeing their link: the same permission and reach.
        let user = self.get_user(ctx, key).await?;
        let mut tx = self.store.begin_read().await?;
        Ok(tx
            .sso_link(UserId(user.id))
            .await?
            .map(|(idp, subject)| SsoLink { idp, subject }))
    }

    /// Links `user` to the configured identity provider's `subject` (a NameID), or unlinks
    /// them (`None`), as an administrator's change: the caller has reached the user to
    /// change them (`users.manage` and the reach rules). Audited; linking an account of
    /// administrator rank mails every active administrator. Returns whether it changed.
    pub(crate) async fn set_sso_subject_in(
        &self,
        tx: &mut dyn Tx,
        ctx: &Context,
        who: &Principal,
        user: &User,
        user_type: &UserType,
        subject: Option<&str>,
    ) -> Result<bool> {
        let current = tx.sso_link(user.id).await?;
        let Some(subject) = subject.map(str::trim).filter(|s| !s.is_empty()) else {
            let Some((issuer, _)) = current else {
                return Ok(false);
            };
            tx.set_sso_link(user.id, None).await?;
            self.record(
                tx,
                ctx,
                who,
                Change::user(AuditAction::UserSsoUnlink, user, json!({ "idp": issuer })),
            )
            .await?;
            return Ok(true);
        };
        if subject.len() > 1024 || subject.chars().any(char::is_control) {
            return Err(Error::invalid("sso_subject", "1 to 1024 bytes, no control characters"));
        }
        let config = match tx.setting(SSO_SETTING).await? {
            Some(s) if !s.is_empty() => serde_json::from_str::<SsoConfig>(&s).map_err(Error::internal)?,
            _ => {
                return Err(Error::invalid(
                    "sso_subject",
                    "single sign-on is not configured; set it up first (rollcall sso set)",
                ));
            }
        };
        let issuer = config.idp_entity_id.as_str();
        if current.as_ref().is_some_and(|(i, s)| i == issuer && s == subject) {
            return Ok(false);
        }
        if tx
            .user_by_sso_link(issuer, subject)
            .await?
            .is_some_and(|other| other.id != user.id)
        {
            return Err(Error::conflict(
                ConflictCode::SsoSubjectTaken,
                "another account is linked to this sign-in; unlink it first",
            ));
        }
        tx.set_sso_link(user.id, Some((issuer, subject))).await?;
        let changes = json!({ "idp": issuer, "subject": subject, "by": "administrator" });
        self.record(tx, ctx, who, Change::user(AuditAction::UserSsoLink, user, changes))
            .await?;
        if user_type.base >= BaseRole::BranchAdministrator {
            self.mail_administrators_of_link(tx, user, user_type, issuer, &who.label)
                .await?;
        }
        Ok(true)
    }

    /// Tells every active administrator that an account of administrator rank was linked.
    async fn mail_administrators_of_link(
        &self,
        tx: &mut dyn Tx,
        linked: &User,
        user_type: &UserType,
        issuer: &str,
        by: &str,
    ) -> Result<()> {
        for admin in self.active_administrators(tx).await? {
            let msg = crate::domain::mail::sso_admin_linked(&admin, linked, &user_type.name, issuer, by);
            self.queue_mail(tx, &admin, msg).await?;
        }
        Ok(())
    }
}

/// A refused sign-in about an existing account: the reason is logged for the operator; the
/// browser learns only that single sign-on failed.
fn refuse(user: &User, reason: &'static str) -> Error {
    tracing::warn!(user = user.id.0, reason, "single sign-on refused");
    Error::forbidden("single sign-on could not sign you in; ask your administrator")
}

/// Whether single sign-on is set up.
pub(crate) async fn sso_configured(tx: &mut dyn crate::ports::ReadTx) -> Result<bool> {
    Ok(tx.setting(SSO_SETTING).await?.is_some_and(|s| !s.is_empty()))
}

/// Whether `user` may sign in (or reset their password) with a password: everyone may,
/// unless the setting `password_sign_in` names the one break-glass administrator who
/// still does, single sign-on being everyone else's way in. A login naming no account is
/// refused alike.
pub(crate) async fn password_allowed(tx: &mut dyn crate::ports::ReadTx, user: Option<&User>) -> Result<bool> {
    let Some(only) = tx.setting(Setting::PasswordSignIn.key()).await? else {
        return Ok(true);
    };
    if only == PASSWORD_SIGN_IN_EVERYONE || !sso_configured(tx).await? {
        return Ok(true);
    }
    Ok(user.is_some_and(|u| u.username.key() == name_key(&only)))
}

/// The answer to a password sign-in that single sign-on replaces.
pub(crate) fn sso_only() -> Error {
    Error::rule(
        RuleCode::SsoOnly,
        "this organisation signs in with single sign-on; use \"Sign in with single sign-on\"",
    )
}

impl Public<'_> {
    /// The stored configuration, for the SAML channel (no caller: it is public metadata).
    pub async fn sso_config(self) -> Result<Option<SsoConfig>> {
        let mut tx = self.service.store.begin_read().await?;
        match tx.setting(SSO_SETTING).await? {
            Some(s) if !s.is_empty() => serde_json::from_str(&s).map(Some).map_err(Error::internal),
            _ => Ok(None),
        }
    }

    /// Starts an SP-initiated sign-in: a fresh AuthnRequest id, remembered in the database
    /// so whichever instance receives the answer can consume it once.
    pub async fn sso_begin(self) -> Result<(SsoConfig, String)> {
        let config = self
            .sso_config()
            .await?
            .ok_or_else(|| Error::forbidden("single sign-on is not configured"))?;
        // An XML ID must not start with a digit.
        let request_id = format!("_{}", hex::encode(rand::random::<[u8; 20]>()));
        let now = self.service.now();
        let mut txb = self.service.store.begin().await?;
        txb.as_mut().plan().await?.require(Feature::IdentityIntegration)?;
        txb.as_mut()
            .insert_sso_request(&request_id, now + REQUEST_LIFETIME_MS, now)
            .await?;
        self.service.commit(txb).await?;
        Ok((config, request_id))
    }

    /// Signs in a verified identity. The account is found by its stored link — the IdP's
    /// entity id and the NameID — never by its name. An account nobody linked is linked only
    /// when `sso_link_existing` allows it (by the asserted username or email) and it ranks no
    /// higher than Instructor; otherwise, if the asserted username or email belongs to an
    /// unlinked account, the sign-in is refused (never merged). Unknown identities get an
    /// account when just-in-time provisioning is on, linked at creation. Deactivated and
    /// trashed accounts are refused, never reactivated.
    pub async fn sso_sign_in(self, identity: &SsoIdentity, source: Option<&str>) -> Result<SignedIn> {
        let config = self
            .sso_config()
            .await?
            .ok_or_else(|| Error::forbidden("single sign-on is not configured"))?;
        self.service.accept_assertion(&config, identity).await?;
        let issuer = config.idp_entity_id.as_str();
        let subject = identity.name_id.trim();
        if subject.is_empty() {
            return Err(Error::forbidden("the identity provider sent an empty NameID"));
        }
        let username = config.field(identity, "username").unwrap_or_else(|| subject.to_owned());
        // The email the identity provider asserted (an attribute, or an emailAddress NameID)
        // in the signed assertion: what `sso_link_existing = email` counts as verified.
        let email = config
            .field(identity, "email")
            .or_else(|| identity.name_id_is_email.then(|| subject.to_owned()));
        let ctx = Context {
            actor: Actor::Sso,
            channel: Channel::Sso,
            request_id: None,
            source: source.map(str::to_owned),
        };

        let mut txb = self.service.store.begin().await?;
        let tx = txb.as_mut();
        tx.plan().await?.require(Feature::IdentityIntegration)?;
        let who = Principal::identity_provider("sso");
        let user = match tx.user_by_sso_link(issuer, subject).await? {
            Some(u) => tx.lock_user(u.id).await?.ok_or(Error::Unauthenticated)?,
            None => {
                let by_username = tx.user_by_username(&name_key(username.trim())).await?;
                let by_email = match email.as_deref().map(Email::parse) {
                    Some(Ok(e)) => tx.user_by_email(&e.key()).await?,
                    _ => None,
                };
                let mode = tx
                    .setting(Setting::SsoLinkExisting.key())
                    .await?
                    .unwrap_or_else(|| "off".into());
                let candidate = match mode.as_str() {
                    "username" => by_username.clone().map(|u| (u, "username")),
                    "email" => by_email.clone().map(|u| (u, "email")),
                    _ => None,
                };
                match (candidate, by_username.or(by_email)) {
                    (Some((u, by)), _) => {
                        let user = tx.lock_user(u.id).await?.ok_or(Error::Unauthenticated)?;
                        let t = self.service.type_by_id(tx, user.user_type_id).await?;
                        if tx.sso_link(user.id).await?.is_some() {
                            return Err(refuse(
                                &user,
                                "the matching account is linked to another identity-provider subject",
                            ));
                        }
                        if t.base > BaseRole::Instructor {
                            return Err(refuse(
                                &user,
                                "the matching account ranks above Instructor; only an administrator can link it (rollcall user set U --sso-subject NAMEID)",
                            ));
                        }
                        if user.status.holds_seat() {
                            tx.set_sso_link(user.id, Some((issuer, subject))).await?;
                            let changes = json!({ "idp": issuer, "subject": subject, "by": by });
                            self.service
                                .record(tx, &ctx, &who, Change::user(AuditAction::UserSsoLink, &user, changes))
                                .await?;
                        }
                        user
                    }
                    (None, Some(taken)) => {
                        return Err(refuse(
                            &taken,
                            "the asserted username or email belongs to an account not linked to this subject; an administrator can link it, or sso_link_existing allow it",
                        ));
                    }
                    (None, None) if !config.jit => {
                        return Err(Error::forbidden(
                            "no account for this sign-in, and accounts aren't created at sign-in",
                        ));
                    }
                    (None, None) => {
                        let email = email
                            .ok_or_else(|| Error::invalid("email", "the identity provider sent no email address"))?;
                        let input = NewUser {
                            username: username.clone(),
                            email,
                            first_name: config.field(identity, "first_name").unwrap_or_else(|| username.clone()),
                            last_name: config.field(identity, "last_name").unwrap_or_else(|| "-".into()),
                            user_type: Some(config.default_type.clone()),
                            branches: config.default_branch.iter().cloned().collect(),
                            active: true,
                            // Signed in through the IdP: no password, so no set-password mail either.
                            send_welcome: Some(false),
                            ..NewUser::default()
                        };
                        let view = self.service.create_in(tx, &ctx, &who, input, None).await?;
                        let id = UserId(view.id);
                        tx.set_sso_link(id, Some((issuer, subject))).await?;
                        tx.lock_user(id).await?.ok_or(Error::Unauthenticated)?
                    }
                }
            }
        };
        if !user.status.holds_seat() {
            return Err(Error::forbidden("this account is deactivated; ask an administrator"));
        }
        let changes = json!({ "method": "saml", "idp": issuer });
        let (session_id, csrf_token, view) = self
            .service
            .start_session(tx, &user, source, Channel::Sso, changes)
            .await?;
        self.service.commit(txb).await?;
        Ok(SignedIn {
            session_id,
            csrf_token,
            user: view,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SsoConfig {
        SsoConfig {
            idp_entity_id: "https://idp.example.org".into(),
            sso_url: "https://idp.example.org/sso".into(),
            signing_certs: vec!["MIIB".into()],
            jit: true,
            default_type: "learner".into(),
            default_branch: None,
            allow_idp_initiated: false,
            mappings: BTreeMap::new(),
        }
    }

    #[test]
    fn an_idp_without_a_certificate_is_refused() {
        assert!(config().validate().is_ok());
        let none = SsoConfig {
            signing_certs: vec![],
            ..config()
        };
        assert!(
            none.validate()
                .unwrap_err()
                .to_string()
                .contains("no signing certificate")
        );
        let three = SsoConfig {
            signing_certs: vec!["a".into(), "b".into(), "c".into()],
            ..config()
        };
        assert!(three.validate().is_err());
        let mut bad_map = config();
        bad_map.mappings.insert("role".into(), "user_type".into());
        assert!(bad_map.validate().is_err(), "mappings can't set the user type");
    }

    #[test]
    fn fields_come_from_mappings_or_the_usual_names() {
        let mut id = SsoIdentity {
            name_id: "ada@corp".into(),
            ..SsoIdentity::default()
        };
        id.attributes.insert(
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname".into(),
            vec!["Ada".into()],
        );
        id.attributes.insert("Mail".into(), vec!["ada@example.org".into()]);
        id.attributes.insert("department".into(), vec!["North".into()]);
        let c = config();
        assert_eq!(c.field(&id, "first_name").as_deref(), Some("Ada"));
        assert_eq!(
            c.field(&id, "email").as_deref(),
            Some("ada@example.org"),
            "names match ignoring case"
        );
        assert_eq!(c.field(&id, "username"), None);
        let mut mapped = config();
        mapped.mappings.insert("department".into(), "last_name".into());
        assert_eq!(mapped.field(&id, "last_name").as_deref(), Some("North"));
    }
}
