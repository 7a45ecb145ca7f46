//! API and SCIM tokens: the list, issuing one (its secret shown once), and revoking.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use rollcall_core::domain::TokenScope;
use rollcall_core::service::{IssuedToken, UserKey};
use serde::Deserialize;

use super::ui::{Input, done, hidden, layout, post_form, table};
use super::{ConsoleUser, CsrfForm, PageError, non_empty};
use crate::AppState;

/// The tokens, and `issued` with its secret when one was just made.
async fn tokens_page(
    state: &AppState,
    user: &ConsoleUser,
    issued: Option<&IssuedToken>,
) -> Result<Response, PageError> {
    let list = state.service.list_tokens(user.ctx()).await?;
    let scim_base = format!("{}/scim/v2", state.base_url);
    let body = html! {
        h1 { "Tokens" }
        @if let Some(t) = issued {
            (done(html! { "Token " strong { (t.view.name) } " created. Copy it now; it is shown only once:" }))
            p { code id="new-token" { (t.token) } }
        }
        (table(&["Name", "Scope", "User", "Created", ""], html! {
            @for t in &list {
                tr {
                    td { (t.name) }
                    td { (t.scope) }
                    td { (t.user.as_deref().unwrap_or("—")) }
                    td { (t.created_at) }
                    td {
                        @if t.revoked_at.is_none() {
                            (post_form("/admin/tokens/revoke", user.csrf(), hidden("name", &t.name), "Revoke"))
                        } @else {
                            "revoked"
                        }
                    }
                }
            }
        }))
        h2 { "Connecting an identity provider" }
        p { "An identity provider provisions users and groups over SCIM 2.0 with a SCIM token (scope SCIM, below). Give it these values:" }
        (table(&["Identity provider", "Field", "Value"], html! {
            tr { td { "Okta" } td { "SCIM connector base URL" } td { code id="scim-base-okta" { (scim_base) } } }
            tr { td { "Okta" } td { "Unique identifier field for users" } td { code { "userName" } } }
            tr { td { "Okta" } td { "Authentication mode" } td { "HTTP Header — the SCIM token as the Bearer value" } }
            tr { td { "Microsoft Entra ID" } td { "Tenant URL" } td { code id="scim-base-entra" { (scim_base) } } }
            tr { td { "Microsoft Entra ID" } td { "Secret token" } td { "the SCIM token" } }
        }))
        h2 { "New token" }
        (post_form("/admin/tokens", user.csrf(), html! {
            (Input::new("name", "Name").kind("text").render())
            p {
                label for="scope" { "Scope" }
                select id="scope" name="scope" {
                    option value="api" { "API (acts as a user)" }
                    option value="scim" { "SCIM (identity provider)" }
                }
            }
            (Input::new("username", "User (API tokens)").kind("text").render())
        }, "Create"))
    };
    let mut resp = layout(user, "Tokens", body).into_response();
    // A page showing a secret must not be cached (as no page is; this one above all).
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

pub(super) async fn page(State(state): State<AppState>, user: ConsoleUser) -> Result<Response, PageError> {
    tokens_page(&state, &user, None).await
}

#[derive(Deserialize)]
pub(super) struct TokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    username: String,
}

pub(super) async fn create(
    State(state): State<AppState>,
    CsrfForm { user, form: f }: CsrfForm<TokenForm>,
) -> Result<Response, PageError> {
    let scope = TokenScope::parse(&f.scope)?;
    let owner = non_empty(&f.username).map(UserKey::Username);
    let issued = state
        .service
        .create_token(user.ctx(), f.name.trim(), scope, owner.as_ref(), None)
        .await?;
    tokens_page(&state, &user, Some(&issued)).await
}

#[derive(Deserialize)]
pub(super) struct RevokeForm {
    #[serde(default)]
    name: String,
}

pub(super) async fn revoke(
    State(state): State<AppState>,
    CsrfForm { user, form: f }: CsrfForm<RevokeForm>,
) -> Result<Response, PageError> {
    state.service.revoke_token(user.ctx(), f.name.trim()).await?;
    Ok(Redirect::to("/admin/tokens").into_response())
}
