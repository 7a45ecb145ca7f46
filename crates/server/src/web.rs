//! Signing in on the web: `/login`, `/logout`, `/set-password`, `/forgot-password`, and `/`.
//! Plain HTML forms that work without JavaScript; the console builds on them. The JSON
//! equivalents are `POST /api/v1/auth/login` and `POST /api/v1/auth/password-reset`.

use crate::console::PageError;
use crate::console::ui::{alert, csrf_field, document, hidden};
use crate::rest::error::{ApiError, ApiResult, ErrorBody};
use crate::rest::extract::ApiJson;
use crate::{AppState, ClientAddr};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use rollcall_core::Error;
use rollcall_core::service::{SESSION_ABSOLUTE_MS, SessionInfo, UserView};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

/// Cookie names: the `__Host-` prefix (which browsers only accept with Secure, no Domain,
/// Path=/) when the site is served over https.
pub(crate) fn cookie_name(state: &AppState, base: &str) -> String {
    if state.base_url.starts_with("https://") {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

/// Puts a new session's cookie on the response that ends a sign-in (password or SSO).
pub(crate) fn with_session_cookie(state: &AppState, mut resp: Response, session_id: &str) -> Response {
    let name = cookie_name(state, "rollcall_session");
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, &name, session_id, SESSION_ABSOLUTE_MS / 1000),
    );
    resp
}

pub(crate) fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if state.base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age_secs}{secure}"
    ))
    .expect("cookie values are hex")
}

pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A page of its own, before sign-in: no navigation, just `body`.
pub(crate) fn page(title: &str, body: Markup) -> Markup {
    document(title, None, body)
}

/// Only a local path: never another site (open redirects), never `//host`.
pub(crate) fn local_path(next: Option<&str>) -> String {
    let safe = |n: &str| {
        n.starts_with('/')
            && !n.starts_with("//")
            && n.chars().all(|c| c.is_ascii_alphanumeric() || "/_-.?=&%~".contains(c))
    };
    match next {
        Some(n) if safe(n) => n.to_owned(),
        _ => "/".to_owned(),
    }
}

fn random_hex() -> String {
    rand::random::<[u8; 32]>().iter().map(|b| format!("{b:02x}")).collect()
}

/// The signed-in user of a request, if any.
pub async fn session_of(state: &AppState, headers: &HeaderMap) -> Option<(String, SessionInfo)> {
    let id = cookie(headers, &cookie_name(state, "rollcall_session"))?;
    match state.service.public().session(&id).await {
        Ok(mut info) => {
            // What the console does is recorded with where it came from, as for the API.
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
            info.context.source = header(crate::CLIENT_HEADER);
            info.context.request_id = header("x-request-id");
            Some((id, info))
        }
        Err(Error::Internal(e)) => {
            tracing::error!(error = %e, "can't read a session");
            None
        }
        // An unknown, expired or ended session is no session.
        Err(
            Error::Unauthenticated
            | Error::InvalidInput { .. }
            | Error::NotFound { .. }
            | Error::Forbidden(_)
            | Error::UsernameTaken(_)
            | Error::EmailTaken(_)
            | Error::SeatLimitReached { .. }
            | Error::BranchSeatCapReached { .. }
            | Error::PlanFeatureUnavailable { .. }
            | Error::ConfirmationRequired(_)
            | Error::RuleViolated { .. }
            | Error::Conflict { .. }
            | Error::RateLimited { .. },
        ) => None,
    }
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Whether the sign-in page offers single sign-on: it is set up (read per view; an
/// unreadable database offers nothing more than the form).
async fn sso_offered(state: &AppState) -> bool {
    state.service.public().sso_config().await.is_ok_and(|c| c.is_some())
}

fn login_form(csrf: &str, next: &str, error: Option<&str>, sso: bool) -> Markup {
    let relay: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    page(
        "Sign in",
        html! {
            h1 { "Sign in" }
            @if let Some(e) = error { (alert(e)) }
            @if sso {
                p { a class="button" href={ "/saml/login?RelayState=" (relay) } { "Sign in with single sign-on" } }
                p { "Or with a password:" }
            }
            form method="post" action="/login" {
                (csrf_field(csrf))
                (hidden("next", next))
                p {
                    label for="login" { "Username or email" } br;
                    input id="login" name="login" autocomplete="username" required;
                }
                p {
                    label for="password" { "Password" } br;
                    input id="password" name="password" type="password" autocomplete="current-password" required;
                }
                p { button type="submit" { "Sign in" } }
            }
            p { a href="/forgot-password" { "Forgot your password?" } }
        },
    )
}

/// A form's CSRF token before sign-in: a random value in a cookie and in the form, which a
/// cross-site page can't read to copy (double submit).
fn with_form_token(state: &AppState, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    let name = cookie_name(state, "rollcall_form");
    match cookie(headers, &name) {
        // Only a value this server could have made goes back into a page.
        Some(t) if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) => (t, None),
        _ => {
            let t = random_hex();
            let c = set_cookie(state, &name, &t, 3600);
            (t, Some(c))
        }
    }
}

fn form_token_ok(state: &AppState, headers: &HeaderMap, sent: &str) -> bool {
    cookie(headers, &cookie_name(state, "rollcall_form")).is_some_and(|c| same(&c, sent))
}

pub async fn login_page(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<NextQuery>) -> Response {
    let (token, cookie) = with_form_token(&state, &headers);
    let sso = sso_offered(&state).await;
    let mut resp = login_form(&token, &local_path(q.next.as_deref()), None, sso).into_response();
    if let Some(c) = cookie {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

#[derive(Deserialize)]
pub struct LoginForm {
    login: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

/// What a form with a missing or wrong CSRF token gets, as in the console.
fn forbidden_page() -> Response {
    PageError::BadToken.into_response()
}

pub async fn login_submit(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    if !form_token_ok(&state, &headers, &f.csrf) {
        return forbidden_page();
    }
    let next = local_path(f.next.as_deref());
    let result = state
        .service
        .public()
        .sign_in_password(&f.login, &f.password, client.text().as_deref())
        .await;
    // Read only to draw the form again.
    let sso = result.is_err() && sso_offered(&state).await;
    match result {
        Ok(signed) => with_session_cookie(&state, Redirect::to(&next).into_response(), &signed.session_id),
        Err(e) => match SignInFailure::from(e) {
            SignInFailure::RateLimited(retry_after_secs) => {
                let mut resp = (
                    StatusCode::TOO_MANY_REQUESTS,
                    login_form(
                        &f.csrf,
                        &next,
                        Some(&format!("Too many attempts. Try again in {retry_after_secs} seconds.")),
                        sso,
                    ),
                )
                    .into_response();
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                resp
            }
            SignInFailure::BadLogin(_) => (
                StatusCode::BAD_REQUEST,
                login_form(&f.csrf, &next, Some("That is not a username or email."), sso),
            )
                .into_response(),
            SignInFailure::Internal(Error::Internal(e)) => failed_page(&e, "sign-in failed"),
            SignInFailure::Internal(e) => {
                tracing::error!(error = %e, "sign-in failed");
                (StatusCode::INTERNAL_SERVER_ERROR, went_wrong()).into_response()
            }
            SignInFailure::SsoOnly(message) => {
                (StatusCode::FORBIDDEN, login_form(&f.csrf, &next, Some(&message), sso)).into_response()
            }
            SignInFailure::Refused => (
                StatusCode::UNAUTHORIZED,
                login_form(&f.csrf, &next, Some("Wrong username or password."), sso),
            )
                .into_response(),
        },
    }
}

/// The JSON route's answer to a failed sign-in.
fn json_sign_in_failure(e: Error) -> Response {
    match SignInFailure::from(e) {
        SignInFailure::RateLimited(retry_after_secs) => {
            let mut resp = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many attempts; try again in {retry_after_secs} seconds"),
            )
            .into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            resp
        }
        SignInFailure::BadLogin(e) | SignInFailure::Internal(e) => ApiError::from(e).into_response(),
        SignInFailure::SsoOnly(message) => ApiError::new(StatusCode::FORBIDDEN, "sso_only", message).into_response(),
        SignInFailure::Refused => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "wrong username or password",
        )
        .into_response(),
    }
}

/// How a failed sign-in is answered, the same on the form and the JSON route.
enum SignInFailure {
    /// Unknown account, wrong password, inactive account: one answer, so none is told from
    /// another.
    Refused,
    RateLimited(i64),
    /// The login is not a username or email at all.
    BadLogin(Error),
    /// Single sign-on is this account's only way in (said alike for every login).
    SsoOnly(String),
    Internal(Error),
}

impl From<Error> for SignInFailure {
    fn from(e: Error) -> SignInFailure {
        match e {
            Error::RateLimited { retry_after_secs } => SignInFailure::RateLimited(retry_after_secs),
            Error::InvalidInput { .. } => SignInFailure::BadLogin(e),
            Error::Internal(_) => SignInFailure::Internal(e),
            Error::RuleViolated {
                code: rollcall_core::RuleCode::SsoOnly,
                message,
            } => SignInFailure::SsoOnly(message),
            Error::Unauthenticated
            | Error::NotFound { .. }
            | Error::Forbidden(_)
            | Error::UsernameTaken(_)
            | Error::EmailTaken(_)
            | Error::SeatLimitReached { .. }
            | Error::BranchSeatCapReached { .. }
            | Error::PlanFeatureUnavailable { .. }
            | Error::ConfirmationRequired(_)
            | Error::RuleViolated { .. }
            | Error::Conflict { .. } => SignInFailure::Refused,
        }
    }
}

/// The sign-out form: only its CSRF token (a missing one is refused like a wrong one).
#[derive(Deserialize, Default)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// A page saying something failed, and nothing of what.
/// The page for a failure inside rollcall: 503 with `Retry-After` while the database is out
/// of reach, else 500. Either way the cause goes to the log only.
pub(crate) fn failed_page(e: &rollcall_core::error::InternalError, what: &str) -> Response {
    if e.is_unavailable() {
        tracing::error!(error = %e, "{what}: database unavailable");
        let body = page(
            "Briefly unavailable",
            html! { h1 { "Briefly unavailable" } p { "rollcall can't reach its database just now; please try again in a few seconds." } },
        );
        let mut resp = (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, crate::rest::error::RETRY_AFTER_UNAVAILABLE);
        return resp;
    }
    tracing::error!(error = %e, "{what}");
    (StatusCode::INTERNAL_SERVER_ERROR, went_wrong()).into_response()
}

fn went_wrong() -> Markup {
    page(
        "Error",
        html! { h1 { "Something went wrong" } p { "Please try again." } },
    )
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap, Form(f): Form<LogoutForm>) -> Response {
    let Some((id, info)) = session_of(&state, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    if !same(&info.csrf_token, &f.csrf) {
        return forbidden_page();
    }
    if let Err(e) = state.service.public().sign_out(&id).await {
        tracing::error!(error = %e, "sign-out failed");
    }
    let mut resp = Redirect::to("/login").into_response();
    let name = cookie_name(&state, "rollcall_session");
    resp.headers_mut()
        .append(header::SET_COOKIE, set_cookie(&state, &name, "", 0));
    resp
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

fn set_password_form(csrf: &str, token: &str, error: Option<&str>) -> Markup {
    page(
        "Choose a password",
        html! {
            h1 { "Choose a password" }
            @if let Some(e) = error { (alert(e)) }
            form method="post" action="/set-password" {
                (csrf_field(csrf))
                (hidden("token", token))
                p {
                    label for="password" { "New password (8 characters or more)" } br;
                    input id="password" name="password" type="password" autocomplete="new-password" required minlength="8";
                }
                p {
                    label for="confirm" { "Again" } br;
                    input id="confirm" name="confirm" type="password" autocomplete="new-password" required;
                }
                p { button type="submit" { "Set password" } }
            }
        },
    )
}

pub async fn set_password_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    let (csrf, cookie) = with_form_token(&state, &headers);
    let mut resp = set_password_form(&csrf, q.token.as_deref().unwrap_or(""), None).into_response();
    if let Some(c) = cookie {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    // The token is in this page's URL: keep it out of Referer headers.
    resp.headers_mut()
        .insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    resp
}

#[derive(Deserialize)]
pub struct SetPasswordForm {
    csrf: String,
    token: String,
    password: String,
    confirm: String,
}

pub async fn set_password_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<SetPasswordForm>,
) -> Response {
    if !form_token_ok(&state, &headers, &f.csrf) {
        return forbidden_page();
    }
    if f.password != f.confirm {
        return (
            StatusCode::BAD_REQUEST,
            set_password_form(&f.csrf, &f.token, Some("The two passwords differ.")),
        )
            .into_response();
    }
    match state
        .service
        .public()
        .set_password_with_token(&f.token, &f.password)
        .await
    {
        Ok(()) => page(
            "Password set",
            html! { h1 { "Password set" } p { a href="/login" { "Sign in" } " with your new password." } },
        )
        .into_response(),
        Err(Error::Internal(e)) => failed_page(&e, "setting a password failed"),
        // A weak password, or a link that is unknown, used or expired: said on the form.
        Err(
            e @ (Error::InvalidInput { .. }
            | Error::NotFound { .. }
            | Error::Unauthenticated
            | Error::Forbidden(_)
            | Error::UsernameTaken(_)
            | Error::EmailTaken(_)
            | Error::SeatLimitReached { .. }
            | Error::BranchSeatCapReached { .. }
            | Error::PlanFeatureUnavailable { .. }
            | Error::ConfirmationRequired(_)
            | Error::RuleViolated { .. }
            | Error::Conflict { .. }
            | Error::RateLimited { .. }),
        ) => (
            StatusCode::BAD_REQUEST,
            set_password_form(&f.csrf, &f.token, Some(&e.to_string())),
        )
            .into_response(),
    }
}

pub async fn forgot_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (csrf, cookie) = with_form_token(&state, &headers);
    let mut resp = page(
        "Forgot your password?",
        html! {
            h1 { "Forgot your password?" }
            form method="post" action="/forgot-password" {
                (csrf_field(&csrf))
                p {
                    label for="login" { "Username or email" } br;
                    input id="login" name="login" required;
                }
                p { button type="submit" { "Send a reset link" } }
            }
        },
    )
    .into_response();
    if let Some(c) = cookie {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

#[derive(Deserialize)]
pub struct ForgotForm {
    csrf: String,
    login: String,
}

/// How long the address must wait before another reset request, if it must.
fn reset_wait(state: &AppState, client: &ClientAddr) -> Option<u64> {
    let addr = client.0?;
    state.reset_rate.check(addr).err().map(|wait| wait.as_secs().max(1))
}

pub async fn forgot_submit(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    Form(f): Form<ForgotForm>,
) -> Response {
    if !form_token_ok(&state, &headers, &f.csrf) {
        return forbidden_page();
    }
    if let Some(secs) = reset_wait(&state, &client) {
        let mut resp = (
            StatusCode::TOO_MANY_REQUESTS,
            page(
                "Too many requests",
                html! { h1 { "Too many requests" } (alert(format!("Try again in {secs} seconds."))) },
            ),
        )
            .into_response();
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return resp;
    }
    if let Err(e) = state.service.public().request_password_reset(&f.login).await {
        tracing::error!(error = %e, "password reset request failed");
    }
    page(
        "Check your mail",
        html! {
            h1 { "Check your mail" }
            p { "If that account exists, a reset link is on its way. It works once, for one hour." }
        },
    )
    .into_response()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonLogin {
    /// Username or email.
    pub login: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResult {
    pub user: UserView,
    /// Send this as the `csrf` field of state-changing console forms.
    pub csrf_token: String,
}

/// Signs in; the session cookie comes back in `Set-Cookie`.
#[utoipa::path(post, path = "/auth/login", tag = "sign-in", request_body = JsonLogin,
    responses((status = 200, body = LoginResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody, description = "unknown account or wrong password: the same answer"), (status = 403, body = ErrorBody, description = "`sso_only`: single sign-on is the way in (setting `password_sign_in`)"), (status = 429, body = ErrorBody)),
    security(()))]
pub async fn json_login(
    State(state): State<AppState>,
    client: ClientAddr,
    ApiJson(b): ApiJson<JsonLogin>,
) -> ApiResult<Response> {
    let signed = match state
        .service
        .public()
        .sign_in_password(&b.login, &b.password, client.text().as_deref())
        .await
    {
        Ok(signed) => signed,
        Err(e) => return Ok(json_sign_in_failure(e)),
    };
    let resp = axum::Json(LoginResult {
        user: signed.user,
        csrf_token: signed.csrf_token,
    })
    .into_response();
    Ok(with_session_cookie(&state, resp, &signed.session_id))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// Username or email.
    pub login: String,
}

/// Mails a reset link if the account exists; the answer is the same either way.
#[utoipa::path(post, path = "/auth/password-reset", tag = "sign-in", request_body = ResetRequest,
    responses((status = 202, description = "accepted, whether or not the account exists"), (status = 400, body = ErrorBody), (status = 429, body = ErrorBody, description = "too many requests from this address; see Retry-After")),
    security(()))]
pub async fn json_password_reset(
    State(state): State<AppState>,
    client: ClientAddr,
    ApiJson(b): ApiJson<ResetRequest>,
) -> ApiResult<Response> {
    if let Some(secs) = reset_wait(&state, &client) {
        let mut resp = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many reset requests from your address; try again in {secs} seconds"),
        )
        .into_response();
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Ok(resp);
    }
    state.service.public().request_password_reset(&b.login).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}
