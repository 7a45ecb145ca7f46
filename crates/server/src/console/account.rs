//! The signed-in user's own account: who they are, and signing out everywhere.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::ui::{layout, post_form};
use super::{ConsoleUser, CsrfForm, NoFields, PageError};
use crate::AppState;

pub(super) async fn page(user: ConsoleUser) -> Markup {
    let u = &user.info.user;
    let body = html! {
        h1 { "Your account" }
        p { (u.first_name) " " (u.last_name) " (" (u.username) ", " (u.email) "), " (u.user_type) "." }
        h2 { "Sessions" }
        (post_form("/account/sessions", user.csrf(), html! {
            p { "Signs you out of rollcall on every browser and device, this one included — for a lost laptop or a shared computer." }
        }, "Sign out everywhere"))
    };
    layout(&user, "Your account", body)
}

pub(super) async fn end_sessions(
    State(state): State<AppState>,
    CsrfForm { user, .. }: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    state.service.end_sessions(user.ctx(), &user.me()).await?;
    Ok(Redirect::to("/login").into_response())
}
