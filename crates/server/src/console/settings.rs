//! Console settings: every platform setting, and single sign-on (upload the IdP's metadata,
//! JIT, default type, mappings; rollcall's own metadata URL).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Router, routing::get};
use rollcall_core::Error;
use rollcall_core::service::SsoConfig;
use serde::Deserialize;
use std::collections::BTreeMap;

use super::{error_page, layout, posted, signed_in};
use crate::AppState;
use crate::web::esc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/settings", get(settings).post(setting_save))
        .route("/admin/settings/sso", axum::routing::post(sso_save))
}

async fn settings(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (info, areas) = match signed_in(&state, &headers, "/admin/settings").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let list = try_page!(state.service.settings(&info.context).await);
    let csrf = esc(&info.csrf_token);
    let rows: String = list
        .iter()
        .map(|s| {
            format!(
                "<tr><td><label for=\"s-{key}\">{key}</label></td><td><form method=\"post\" action=\"/admin/settings\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"key\" value=\"{key}\">\
                 <input id=\"s-{key}\" name=\"value\" value=\"{value}\"> <button type=\"submit\">Save</button></form></td><td>{default}</td></tr>",
                key = esc(s.key),
                value = esc(&s.value),
                default = esc(&s.default),
            )
        })
        .collect();
    let sso = try_page!(state.service.show_sso(&info.context).await);
    let current = match &sso {
        Some(c) => format!(
            "<p>Signing in through <strong>{}</strong> ({} signing certificate(s)); just-in-time accounts {}; IdP-initiated sign-in {}.</p>",
            esc(&c.idp_entity_id),
            c.signing_certs.len(),
            if c.jit { "on" } else { "off" },
            if c.allow_idp_initiated { "allowed" } else { "refused" }
        ),
        None => "<p>Single sign-on is not configured.</p>".to_owned(),
    };
    let link_existing = list
        .iter()
        .find(|s| s.key == "sso_link_existing")
        .map_or("off", |s| s.value.as_str());
    let linking = format!(
        "<p>A sign-in reaches only the account linked to its NameID: accounts it creates, and those an administrator links on the user's page. \
         Existing accounts nobody linked are linked at sign-in by: <strong>{}</strong> (setting <code>sso_link_existing</code>: off, username or email; never accounts above Instructor).</p>",
        esc(link_existing)
    );
    let mappings: String = sso
        .as_ref()
        .map(|c| c.mappings.iter().map(|(k, v)| format!("{k}={v}\n")).collect())
        .unwrap_or_default();
    let body = format!(
        "<h1>Settings</h1><table><thead><tr><th scope=\"col\">Setting</th><th scope=\"col\">Value</th><th scope=\"col\">Default</th></tr></thead><tbody>{rows}</tbody></table>\
         <h2>Single sign-on (SAML)</h2>{current}{linking}<p>Give your identity provider rollcall's metadata: <a href=\"/saml/metadata\">{base}/saml/metadata</a>.</p>\
         <form method=\"post\" action=\"/admin/settings/sso\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p><label for=\"metadata\">Identity provider metadata (XML)</label><textarea id=\"metadata\" name=\"metadata\" rows=\"6\" cols=\"70\" required></textarea></p>\
         <p><label><input type=\"checkbox\" name=\"jit\" value=\"1\"{jit}> Create accounts at first sign-in</label></p>\
         <p><label for=\"default_type\">Type of those accounts</label><input id=\"default_type\" name=\"default_type\" value=\"{default_type}\"></p>\
         <p><label for=\"default_branch\">Their branch (optional)</label><input id=\"default_branch\" name=\"default_branch\" value=\"{default_branch}\"></p>\
         <p><label><input type=\"checkbox\" name=\"allow_idp_initiated\" value=\"1\"{idp}> Allow sign-in started at the identity provider</label></p>\
         <p><label for=\"mappings\">Attribute mappings, one <code>SAML_ATTRIBUTE=field</code> per line (email, first_name, last_name, username)</label><textarea id=\"mappings\" name=\"mappings\" rows=\"4\" cols=\"70\">{mappings}</textarea></p>\
         <p><button type=\"submit\">Save single sign-on</button></p></form>",
        base = esc(&state.base_url),
        jit = if sso.as_ref().is_none_or(|c| c.jit) {
            " checked"
        } else {
            ""
        },
        default_type = esc(sso.as_ref().map_or("learner", |c| c.default_type.as_str())),
        default_branch = esc(sso.as_ref().and_then(|c| c.default_branch.as_deref()).unwrap_or("")),
        idp = if sso.as_ref().is_some_and(|c| c.allow_idp_initiated) {
            " checked"
        } else {
            ""
        },
        mappings = esc(&mappings),
    );
    layout(&info, &areas, "Settings", &body)
}

#[derive(Deserialize)]
pub struct SettingForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
}

async fn setting_save(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<SettingForm>,
) -> Response {
    let info = match posted(&state, &headers, &f.csrf, "/admin/settings").await {
        Ok(i) => i,
        Err(r) => return r,
    };
    try_page!(state.service.set_setting(&info.context, &f.key, &f.value).await);
    Redirect::to("/admin/settings").into_response()
}

#[derive(Deserialize)]
pub struct SsoForm {
    #[serde(default)]
    csrf: String,
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

async fn sso_save(State(state): State<AppState>, headers: HeaderMap, axum::Form(f): axum::Form<SsoForm>) -> Response {
    let info = match posted(&state, &headers, &f.csrf, "/admin/settings").await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let metadata = match rollcall_saml::parse_idp_metadata(&f.metadata) {
        Ok(m) => m,
        Err(e) => return error_page(Error::invalid("metadata", e.to_string())),
    };
    let mut mappings = BTreeMap::new();
    for line in f.mappings.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((attribute, field)) = line.split_once('=') else {
            return error_page(Error::invalid(
                "mappings",
                format!("'{line}' is not SAML_ATTRIBUTE=field"),
            ));
        };
        mappings.insert(attribute.trim().to_owned(), field.trim().to_owned());
    }
    let config = SsoConfig {
        idp_entity_id: metadata.entity_id,
        sso_url: metadata.sso_url,
        signing_certs: metadata.signing_certs,
        jit: f.jit.is_some(),
        default_type: f.default_type.trim().to_owned(),
        default_branch: (!f.default_branch.trim().is_empty()).then(|| f.default_branch.trim().to_owned()),
        allow_idp_initiated: f.allow_idp_initiated.is_some(),
        mappings,
    };
    try_page!(state.service.set_sso(&info.context, config).await);
    Redirect::to("/admin/settings").into_response()
}
