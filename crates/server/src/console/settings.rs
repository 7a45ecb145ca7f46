//! Console settings: every platform setting, and single sign-on (upload the IdP's metadata,
//! JIT, default type, mappings; rollcall's own metadata URL).

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use rollcall_core::Error;
use rollcall_core::service::SsoConfig;
use serde::Deserialize;
use std::collections::BTreeMap;

use super::ui::{Input, checkbox, csrf_field, hidden, layout, table};
use super::{ConsoleUser, CsrfForm, PageError, non_empty};
use crate::AppState;

pub(super) async fn page(State(state): State<AppState>, user: ConsoleUser) -> Result<Markup, PageError> {
    let list = state.service.settings(user.ctx()).await?;
    let sso = state.service.show_sso(user.ctx()).await?;
    let link_existing = list
        .iter()
        .find(|s| s.key == "sso_link_existing")
        .map_or("off", |s| s.value.as_str());
    let mappings: String = sso
        .as_ref()
        .map(|c| c.mappings.iter().map(|(k, v)| format!("{k}={v}\n")).collect())
        .unwrap_or_default();
    let body = html! {
        h1 { "Settings" }
        (table(&["Setting", "Value", "Default"], html! {
            @for s in &list {
                @let id = format!("s-{}", s.key);
                tr {
                    td { label for=(id) { (s.key) } }
                    td {
                        form method="post" action="/admin/settings" {
                            (csrf_field(user.csrf()))
                            (hidden("key", s.key))
                            input id=(id) name="value" value=(s.value);
                            " "
                            button type="submit" { "Save" }
                        }
                    }
                    td { (s.default) }
                }
            }
        }))
        h2 { "Single sign-on (SAML)" }
        @match &sso {
            Some(c) => p {
                "Signing in through " strong { (c.idp_entity_id) } " (" (c.signing_certs.len()) " signing certificate(s)); "
                "just-in-time accounts " (if c.jit { "on" } else { "off" }) "; "
                "IdP-initiated sign-in " (if c.allow_idp_initiated { "allowed" } else { "refused" }) "."
            },
            None => p { "Single sign-on is not configured." },
        }
        p {
            "A sign-in reaches only the account linked to its NameID: accounts it creates, and those an administrator links on the user's page. "
            "Existing accounts nobody linked are linked at sign-in by: " strong { (link_existing) }
            " (setting " code { "sso_link_existing" } ": off, username or email; never accounts above Instructor)."
        }
        p {
            "Give your identity provider rollcall's metadata: "
            a href="/saml/metadata" { (state.base_url) "/saml/metadata" } "."
        }
        form method="post" action="/admin/settings/sso" {
            (csrf_field(user.csrf()))
            p {
                label for="metadata" { "Identity provider metadata (XML)" }
                textarea id="metadata" name="metadata" rows="6" cols="70" required {}
            }
            (checkbox("jit", "Create accounts at first sign-in", sso.as_ref().is_none_or(|c| c.jit)))
            (Input::new("default_type", "Type of those accounts")
                .value(sso.as_ref().map_or("learner", |c| c.default_type.as_str()))
                .render())
            (Input::new("default_branch", "Their branch (optional)")
                .value(sso.as_ref().and_then(|c| c.default_branch.as_deref()).unwrap_or(""))
                .render())
            (checkbox("allow_idp_initiated", "Allow sign-in started at the identity provider", sso.as_ref().is_some_and(|c| c.allow_idp_initiated)))
            p {
                label for="mappings" {
                    "Attribute mappings, one " code { "SAML_ATTRIBUTE=field" } " per line (email, first_name, last_name, username)"
                }
                textarea id="mappings" name="mappings" rows="4" cols="70" { (mappings) }
            }
            p { button type="submit" { "Save single sign-on" } }
        }
    };
    Ok(layout(&user, "Settings", body))
}

#[derive(Deserialize)]
pub(super) struct SettingForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
}

pub(super) async fn save(
    State(state): State<AppState>,
    CsrfForm { user, form: f }: CsrfForm<SettingForm>,
) -> Result<Response, PageError> {
    state.service.set_setting(user.ctx(), &f.key, &f.value).await?;
    Ok(Redirect::to("/admin/settings").into_response())
}

#[derive(Deserialize)]
pub(super) struct SsoForm {
    #[serde(default)]
    metadata: String,
    jit: Option<String>,
    #[serde(default)]
    default_type: String,
    #[serde(default)]
    default_branch: String,
    allow_idp_initiated: Option<String>,
    #[serde(default)]
    mappings: String,
}

pub(super) async fn sso_save(
    State(state): State<AppState>,
    CsrfForm { user, form: f }: CsrfForm<SsoForm>,
) -> Result<Response, PageError> {
    // Who may change single sign-on is asked before the metadata is parsed, so a caller
    // without the right learns nothing from how the form is read (set_sso checks again).
    state
        .service
        .require_area(user.ctx(), rollcall_core::domain::Area::IntegrationsManage)
        .await?;
    let metadata =
        rollcall_saml::parse_idp_metadata(&f.metadata).map_err(|e| Error::invalid("metadata", e.to_string()))?;
    let mut mappings = BTreeMap::new();
    for line in f.mappings.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (attribute, field) = line
            .split_once('=')
            .ok_or_else(|| Error::invalid("mappings", format!("'{line}' is not SAML_ATTRIBUTE=field")))?;
        mappings.insert(attribute.trim().to_owned(), field.trim().to_owned());
    }
    let config = SsoConfig {
        idp_entity_id: metadata.entity_id,
        sso_url: metadata.sso_url,
        signing_certs: metadata.signing_certs,
        jit: f.jit.is_some(),
        default_type: f.default_type.trim().to_owned(),
        default_branch: non_empty(&f.default_branch),
        allow_idp_initiated: f.allow_idp_initiated.is_some(),
        mappings,
    };
    state.service.set_sso(user.ctx(), config).await?;
    Ok(Redirect::to("/admin/settings").into_response())
}
