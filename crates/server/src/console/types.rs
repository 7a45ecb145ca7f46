//! User types: the list, cloning a custom type from a base, and one type's feature areas.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use rollcall_core::domain::Area;
use rollcall_core::service::TypeView;
use rollcall_core::{Entity, Error};
use serde::Deserialize;

use super::ui::{Input, alert, csrf_field, layout, post_form, select, table};
use super::{ConsoleUser, CsrfForm, FormPairs, PageError, url_part};
use crate::AppState;

pub(super) async fn list(State(state): State<AppState>, user: ConsoleUser) -> Result<Markup, PageError> {
    let types = state.service.list_types(user.ctx()).await?;
    let body = html! {
        h1 { "User types" }
        (table(&["Name", "Based on", "Kind", "Areas"], html! {
            @for t in &types {
                tr {
                    td { a href={ "/admin/types/" (url_part(&t.name)) } { (t.name) } }
                    td { (t.base) }
                    td { (if t.builtin { "built-in" } else { "custom" }) }
                    td { (t.areas.len()) }
                }
            }
        }))
        h2 { "New custom type" }
        (post_form("/admin/types", user.csrf(), html! {
            (Input::new("name", "Name").required().render())
            (select("base", "Clone from", "learner", &[
                ("learner", "Learner"),
                ("instructor", "Instructor"),
                ("branch-administrator", "Branch Administrator (a limited one, once areas are taken away)"),
                ("administrator", "Administrator (a limited one, once areas are taken away)"),
            ]))
        }, "Create"))
    };
    Ok(layout(&user, "User types", body))
}

#[derive(Deserialize)]
pub(super) struct NewTypeForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    base: String,
}

pub(super) async fn create(
    State(state): State<AppState>,
    CsrfForm { user, form: f }: CsrfForm<NewTypeForm>,
) -> Result<Response, PageError> {
    let created = state
        .service
        .create_type(user.ctx(), f.name.trim(), &f.base, &[])
        .await?;
    Ok(Redirect::to(&format!("/admin/types/{}", url_part(&created.name))).into_response())
}

/// One type's feature areas as checkboxes; areas its base lacks are shown but can't be
/// switched on (and the core refuses them if a browser sends them anyway). With `error`, the
/// core's refusal of the last change is shown above, as a 422.
fn type_form(user: &ConsoleUser, t: &TypeView, error: Option<&str>) -> Response {
    let base = t.base.areas();
    let body = html! {
        h1 { (t.name) }
        p { "Based on " (t.base) "." }
        @if let Some(e) = error { (alert(e)) }
        form method="post" action={ "/admin/types/" (url_part(&t.name)) } {
            (csrf_field(user.csrf()))
            fieldset {
                legend { "Feature areas" }
                ul class="plain" {
                    @for a in Area::ALL {
                        @let allowed = base.contains(*a);
                        li {
                            label {
                                input type="checkbox" name="area" value=(a.name()) id={ "area-" (a.name()) }
                                    checked[t.areas.contains(a)] disabled[!allowed || t.builtin];
                                " " (a.name())
                            }
                            @if !allowed { " " small { "(not available to this base type)" } }
                        }
                    }
                }
            }
            @if t.builtin {
                p { "Built-in types can't be changed; clone one instead." }
            } @else {
                p { button type="submit" { "Save" } }
            }
        }
    };
    let page = layout(user, &t.name, body);
    match error {
        None => page.into_response(),
        Some(_) => (StatusCode::UNPROCESSABLE_ENTITY, page).into_response(),
    }
}

async fn find_type(state: &AppState, user: &ConsoleUser, name: &str) -> Result<TypeView, Error> {
    state
        .service
        .list_types(user.ctx())
        .await?
        .into_iter()
        .find(|t| t.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| Error::not_found(Entity::UserType, name))
}

pub(super) async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let t = find_type(&state, &user, &name).await?;
    Ok(type_form(&user, &t, None))
}

pub(super) async fn edit(
    State(state): State<AppState>,
    Path(name): Path<String>,
    CsrfForm { user, form }: CsrfForm<FormPairs>,
) -> Result<Response, PageError> {
    let t = find_type(&state, &user, &name).await?;
    let wanted = form
        .all("area")
        .iter()
        .map(|a| Area::parse(a))
        .collect::<Result<Vec<Area>, Error>>()?;
    let deny: Vec<Area> = Area::ALL.iter().copied().filter(|a| !wanted.contains(a)).collect();
    match state.service.edit_type(user.ctx(), &t.name, &wanted, &deny).await {
        Ok(updated) => Ok(type_form(&user, &updated, None)),
        // What refuses the change is shown on the type's page, the choice still to be made;
        // what refuses the request goes to the error page.
        Err(e @ (Error::Internal(_) | Error::Forbidden(_) | Error::Unauthenticated)) => Err(e.into()),
        Err(
            e @ (Error::InvalidInput { .. }
            | Error::RuleViolated { .. }
            | Error::Conflict { .. }
            | Error::NotFound { .. }
            | Error::UsernameTaken(_)
            | Error::EmailTaken(_)
            | Error::SeatLimitReached { .. }
            | Error::BranchSeatCapReached { .. }
            | Error::PlanFeatureUnavailable { .. }
            | Error::ConfirmationRequired(_)
            | Error::RateLimited { .. }),
        ) => Ok(type_form(&user, &t, Some(&e.to_string()))),
    }
}
