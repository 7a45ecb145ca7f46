//! API and SCIM tokens: issue (shown once), list, revoke, and authenticate.

use super::users::UserKey;
use super::{Change, Public, Service};
use crate::actor::{Actor, Context};
use crate::audit::AuditAction;
use crate::domain::token::{self, Token, TokenScope};
use crate::domain::*;
use crate::ports::ReadTx;
use crate::{ConflictCode, Entity, Error, Result};
use serde::Serialize;
use serde_json::json;

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    pub scope: TokenScope,
    pub user: Option<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// A token just issued: the secret is here and nowhere else, ever again.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IssuedToken {
    #[serde(flatten)]
    pub view: TokenView,
    pub token: String,
}

impl Service {
    async fn token_view(&self, tx: &mut dyn ReadTx, t: &Token) -> Result<TokenView> {
        let user = match t.user_id {
            Some(id) => tx.user_by_id(id).await?.map(|u| u.username.to_string()),
            None => None,
        };
        Ok(TokenView {
            id: t.id,
            name: t.name.clone(),
            scope: t.scope,
            user,
            created_at: format_millis(t.created_at),
            expires_at: t.expires_at.map(format_millis),
            revoked_at: t.revoked_at.map(format_millis),
        })
    }

    /// Issues a token. API tokens act as `user` (who must be active and within the
    /// caller's reach); SCIM tokens act as the identity provider and need a plan with SCIM.
    pub async fn create_token(
        &self,
        ctx: &Context,
        name: &str,
        scope: TokenScope,
        user: Option<&UserKey>,
        expires_at: Option<Millis>,
    ) -> Result<IssuedToken> {
        let name = token::validate_name(name)?;
        if expires_at.is_some_and(|e| e <= self.now()) {
            return Err(Error::invalid("expires_at", "must be in the future"));
        }
        self.write(ctx, Some(Area::IntegrationsManage), async |tx, who| {
            let user_id = match (scope, user) {
                (TokenScope::Api, Some(key)) => {
                    let u = self.reach_user(&mut **tx, who, key).await?;
                    if !u.status.holds_seat() {
                        return Err(Error::conflict(
                            ConflictCode::UserNotActive,
                            format!("user '{}' is not active", u.username),
                        ));
                    }
                    Some(u.id)
                }
                (TokenScope::Api, None) => {
                    return Err(Error::invalid("user", "an API token acts as a user: name one"));
                }
                (TokenScope::Scim, Some(_)) => {
                    return Err(Error::invalid(
                        "user",
                        "a SCIM token acts as the identity provider, not as a user",
                    ));
                }
                (TokenScope::Scim, None) => {
                    tx.plan().await?.require(Feature::IdentityIntegration)?;
                    None
                }
            };
            let (secret, lookup, secret_hash) = token::generate(scope);
            let mut t = Token {
                id: 0,
                name,
                scope,
                user_id,
                lookup,
                secret_hash,
                created_at: self.now(),
                expires_at,
                revoked_at: None,
            };
            t.id = tx.insert_token(&t).await?;
            let view = self.token_view(&mut **tx, &t).await?;
            // The user by id, not by name: this entry is about the token, and a purge of the user
            // erases names only from entries by or about them.
            let changes = json!({
                "scope": scope.as_str(),
                "user_id": user_id.map(|u| u.0),
                "expires_at": view.expires_at,
                "token": "[redacted]",
            });
            self.record(
                &mut **tx,
                ctx,
                who,
                Change::other(AuditAction::TokenCreate, "token", Some(t.id), &t.name, changes),
            )
            .await?;
            Ok(IssuedToken { view, token: secret })
        })
        .await
    }

    pub async fn list_tokens(&self, ctx: &Context) -> Result<Vec<TokenView>> {
        self.read(ctx, Some(Area::IntegrationsManage), async |tx, _| {
            let mut out = vec![];
            for t in tx.tokens().await? {
                out.push(self.token_view(&mut **tx, &t).await?);
            }
            Ok(out)
        })
        .await
    }

    pub async fn revoke_token(&self, ctx: &Context, name: &str) -> Result<TokenView> {
        self.write(ctx, Some(Area::IntegrationsManage), async |tx, who| {
            let mut t = tx
                .token_by_name(&name_key(name.trim()))
                .await?
                .ok_or_else(|| Error::not_found(Entity::Token, name))?;
            if t.revoked_at.is_none() {
                let now = self.now();
                tx.revoke_token(t.id, now).await?;
                t.revoked_at = Some(now);
                self.record(
                    &mut **tx,
                    ctx,
                    who,
                    Change::other(AuditAction::TokenRevoke, "token", Some(t.id), &t.name, json!({})),
                )
                .await?;
            }
            let view = self.token_view(&mut **tx, &t).await?;
            Ok(view)
        })
        .await
    }
}

impl Public<'_> {
    /// Turns a presented bearer token into the actor it stands for. Every failure — unknown,
    /// malformed, wrong scope, revoked, expired, or a user who is no longer active — is the
    /// same `Unauthenticated`, so a caller learns nothing about which.
    pub async fn authenticate_token(self, presented: &str, scope: TokenScope) -> Result<Actor> {
        let Some((presented_scope, lookup)) = token::parse(presented) else {
            return Err(Error::Unauthenticated);
        };
        if presented_scope != scope {
            return Err(Error::Unauthenticated);
        }
        let mut tx = self.service.store.begin_read().await?;
        let Some(t) = tx.token_by_lookup(lookup).await? else {
            return Err(Error::Unauthenticated);
        };
        if !token::matches(presented, &t.secret_hash) || !t.is_usable(self.service.now()) || t.scope != scope {
            return Err(Error::Unauthenticated);
        }
        match (t.scope, t.user_id) {
            (TokenScope::Api, Some(user_id)) => {
                let active = tx.user_by_id(user_id).await?.is_some_and(|u| u.status.holds_seat());
                if active {
                    Ok(Actor::ApiToken {
                        token_id: t.id,
                        user_id,
                    })
                } else {
                    Err(Error::Unauthenticated)
                }
            }
            (TokenScope::Scim, None) => Ok(Actor::ScimClient { token_id: t.id }),
            _ => Err(Error::Unauthenticated),
        }
    }
}
