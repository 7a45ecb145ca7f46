//! The SAML endpoints: `/saml/metadata`, `/saml/login` (SP-initiated, HTTP-Redirect) and
//! `/saml/acs` (HTTP-POST). The response is verified by `rollcall_saml`; what a verified
//! sign-in may do (request consumed once, replay, IdP-initiated, linking, JIT) is decided by
//! the core.
//!
//! Over https, an SP-initiated sign-in is bound to the browser that started it: `/saml/login`
//! leaves the request id in a short-lived cookie, and `/saml/acs` accepts an answer to that
//! request only from a browser holding it. Without this, someone could start a sign-in
//! themselves and have a victim's browser post the answer (login CSRF), signing the victim
//! in as them. The cookie has to cross the IdP's cross-site POST, so it is `SameSite=None`,
//! which browsers accept only with `Secure`: over plain http the binding can't be kept.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Router, routing::get, routing::post};
use chrono::Utc;
use maud::html;
use rollcall_core::Error;
use rollcall_core::service::SsoIdentity;
use rollcall_saml::response::{Expected, MAX_RESPONSE};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::web::{cookie, cookie_name, local_path, page, with_session_cookie};
use crate::{AppState, ClientAddr};

/// The cookie naming the SAML request a browser started.
const REQUEST_COOKIE: &str = "rollcall_saml_request";
/// As long as the core keeps a request open.
const REQUEST_COOKIE_SECS: i64 = 10 * 60;

fn bound_to_browser(state: &AppState) -> bool {
    state.base_url.starts_with("https://")
}

fn request_cookie(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let same_site = if bound_to_browser(state) {
        "SameSite=None; Secure"
    } else {
        "SameSite=Lax"
    };
    let name = cookie_name(state, REQUEST_COOKIE);
    HeaderValue::from_str(&format!(
        "{name}={value}; HttpOnly; Path=/; Max-Age={max_age}; {same_site}"
    ))
    .expect("request ids are hex")
}

/// SAML responses validated at once on one instance; more wait for nobody (503).
pub const MAX_VALIDATIONS: usize = 4;
/// Requests to `/saml/login` and `/saml/acs` per client address: this many at once…
pub const RATE_BURST: u32 = 30;
/// …then this many a second.
pub const RATE_PER_SECOND: f64 = 2.0;

pub fn router(state: AppState) -> Router<AppState> {
    let limited = Router::new()
        .route("/saml/login", get(login))
        // The decoded response may be 256 KiB; base64 makes it a third larger.
        .route(
            "/saml/acs",
            post(acs).layer(axum::extract::DefaultBodyLimit::max(MAX_RESPONSE * 4 / 3 + 8 * 1024)),
        )
        .route_layer(axum::middleware::from_fn_with_state(state, rate_limited));
    Router::new().route("/saml/metadata", get(metadata)).merge(limited)
}

/// Per client address, before any work: 429 with Retry-After past the burst.
async fn rate_limited(
    State(state): State<AppState>,
    client: ClientAddr,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(addr) = client.0
        && let Err(wait) = state.saml_rate.check(addr)
    {
        let secs = wait.as_secs().max(1);
        tracing::warn!(source = %addr, "SAML request rate-limited");
        let mut resp = refused(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-in attempts from your address; try again in a moment.",
        );
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return resp;
    }
    next.run(req).await
}

fn busy() -> Response {
    let mut resp = refused(
        StatusCode::SERVICE_UNAVAILABLE,
        "Too many sign-ins are being checked right now; try again in a moment.",
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

/// rollcall's SAML service-provider metadata, from the configured base URL.
async fn metadata(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
        rollcall_saml::sp_metadata(&state.base_url),
    )
        .into_response()
}

fn refused(status: StatusCode, message: &str) -> Response {
    let body = html! {
        h1 { "Single sign-on failed" }
        p { (message) }
        p { a href="/login" { "Back to sign-in" } }
    };
    (status, page("Sign-in failed", body)).into_response()
}

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

async fn login(State(state): State<AppState>, Query(q): Query<LoginQuery>) -> Response {
    match state.service.public().sso_begin().await {
        Ok((config, request_id)) => {
            let relay = local_path(q.relay_state.as_deref());
            let url = rollcall_saml::request::authn_request_url(
                &config.sso_url,
                &request_id,
                &rollcall_saml::sp_entity_id(&state.base_url),
                &rollcall_saml::acs_url(&state.base_url),
                Utc::now(),
                Some(&relay),
            );
            let mut resp = Redirect::to(&url).into_response();
            resp.headers_mut().append(
                header::SET_COOKIE,
                request_cookie(&state, &request_id, REQUEST_COOKIE_SECS),
            );
            resp
        }
        Err(e) => sign_in_error(e),
    }
}

#[derive(Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

async fn acs(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    Form(f): Form<AcsForm>,
) -> Response {
    let config = match state.service.public().sso_config().await {
        Ok(Some(config)) => config,
        Ok(None) => return refused(StatusCode::NOT_FOUND, "Single sign-on is not configured."),
        Err(e) => return sign_in_error(e),
    };
    // Validation is CPU work: off the async workers, a few at a time, and a full house
    // answers at once rather than queueing.
    let Ok(permit) = state.saml_validations.clone().try_acquire_owned() else {
        tracing::warn!(source = ?client.0, "SAML response refused: too many validations in flight");
        return busy();
    };
    let sp_entity_id = rollcall_saml::sp_entity_id(&state.base_url);
    let acs_url = rollcall_saml::acs_url(&state.base_url);
    let saml_response = f.saml_response;
    let checked = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let expected = Expected {
            idp_entity_id: &config.idp_entity_id,
            signing_certs: &config.signing_certs,
            sp_entity_id: &sp_entity_id,
            acs_url: &acs_url,
            now: Utc::now(),
        };
        rollcall_saml::response::decode_post(&saml_response)
            .and_then(|xml| rollcall_saml::response::validate(&xml, &expected))
    })
    .await;
    let verified = match checked {
        Ok(Ok(v)) => v,
        Ok(Err(refusal)) => {
            // The reason is for the operator; the browser learns only that it failed.
            tracing::warn!(reason = %refusal, source = ?client.0, "SAML response refused");
            return refused(
                StatusCode::FORBIDDEN,
                "The identity provider's answer could not be accepted.",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "SAML validation task failed");
            return refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong; please try again.",
            );
        }
    };
    if let Some(request) = &verified.in_response_to {
        let started_here = cookie(&headers, &cookie_name(&state, REQUEST_COOKIE))
            .is_some_and(|held| bool::from(held.as_bytes().ct_eq(request.as_bytes())));
        if bound_to_browser(&state) && !started_here {
            tracing::warn!(
                reason = "the response answers a sign-in this browser did not start",
                source = ?client.0,
                "SAML response refused"
            );
            return refused(
                StatusCode::FORBIDDEN,
                "This sign-in was started in another browser. Start it again here.",
            );
        }
    }
    let identity = SsoIdentity {
        name_id: verified.name_id,
        name_id_is_email: verified.name_id_is_email,
        attributes: verified.attributes,
        assertion_id: verified.assertion_id,
        in_response_to: verified.in_response_to,
        expires_at: verified.expires_at.timestamp_millis(),
    };
    match state
        .service
        .public()
        .sso_sign_in(&identity, client.text().as_deref())
        .await
    {
        Ok(signed) => {
            let mut to = Redirect::to(&local_path(f.relay_state.as_deref())).into_response();
            to.headers_mut()
                .append(header::SET_COOKIE, request_cookie(&state, "", 0));
            with_session_cookie(&state, to, &signed.session_id)
        }
        Err(e) => {
            tracing::warn!(reason = %e, source = ?client.0, "SAML sign-in refused");
            sign_in_error(e)
        }
    }
}

fn sign_in_error(e: Error) -> Response {
    match e {
        Error::Internal(e) if e.is_unavailable() => crate::web::failed_page(&e, "single sign-on failed"),
        Error::Internal(e) => {
            tracing::error!(error = %e, "single sign-on failed");
            refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong; please try again.",
            )
        }
        Error::SeatLimitReached { .. } | Error::BranchSeatCapReached { .. } => refused(
            StatusCode::FORBIDDEN,
            "Every seat is taken, so no account can be created for you. Ask your administrator.",
        ),
        Error::Forbidden(message) => refused(StatusCode::FORBIDDEN, &message),
        // Anything else (a taken username or email, a bad attribute) is logged by the caller
        // and never shown: the browser learns only that the sign-in failed.
        Error::InvalidInput { .. }
        | Error::NotFound { .. }
        | Error::Unauthenticated
        | Error::UsernameTaken(_)
        | Error::EmailTaken(_)
        | Error::PlanFeatureUnavailable { .. }
        | Error::ConfirmationRequired(_)
        | Error::RuleViolated { .. }
        | Error::RateLimited { .. }
        | Error::Conflict { .. } => refused(
            StatusCode::FORBIDDEN,
            "Single sign-on could not sign you in; ask your administrator.",
        ),
    }
}
