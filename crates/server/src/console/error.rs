//! What a page shows when it can't show itself: one error page for every core error, with
//! the REST API's status and wording (`rest/error.rs`), and the refusals of the console's
//! extractors (no session, a bad CSRF token, a request that doesn't parse).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use rollcall_core::Error;

use super::ui::{alert, document};

#[derive(Debug)]
pub(crate) enum PageError {
    /// No session: sign in, then come back to `next` (a local path and query).
    SignIn { next: Option<String> },
    /// A form's CSRF token is missing or wrong: the form is stale or forged.
    BadToken,
    /// The core refused or failed.
    Core(Error),
    /// The request itself doesn't parse (a form body or upload that isn't one).
    Malformed { status: StatusCode, message: String },
}

impl From<Error> for PageError {
    fn from(e: Error) -> PageError {
        PageError::Core(e)
    }
}

impl PageError {
    /// An extractor's rejection, shown with its status and text.
    pub(crate) fn malformed(rejection: impl IntoResponse + std::fmt::Display) -> PageError {
        let message = rejection.to_string();
        PageError::Malformed {
            status: rejection.into_response().status(),
            message,
        }
    }
}

/// The bare page an error is shown on: a heading, the message, a way home.
fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = html! {
        h1 { (title) }
        (alert(message))
        p { a href="/" { "Home" } }
    };
    (status, document(title, None, body)).into_response()
}

/// The page a stale or forged form gets (a 403 that says nothing about why).
fn refused() -> Response {
    let body = html! {
        h1 { "Refused" }
        p { "The form had expired. " a href="/login" { "Try again" } "." }
    };
    (StatusCode::FORBIDDEN, document("Refused", None, body)).into_response()
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = match self {
            PageError::SignIn { next: None } => return Redirect::to("/login").into_response(),
            PageError::SignIn { next: Some(next) } => {
                let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
                return Redirect::to(&format!("/login?next={next}")).into_response();
            }
            PageError::BadToken => return refused(),
            PageError::Malformed { status, message } => return error_page(status, "Invalid request", &message),
            PageError::Core(e) => e,
        };
        // Each variant by name, as the REST API maps them: a new one must be placed here.
        let (status, title) = match &e {
            Error::InvalidInput { .. } => (StatusCode::BAD_REQUEST, "Invalid input"),
            Error::ConfirmationRequired(_) => (StatusCode::BAD_REQUEST, "Confirmation required"),
            // The session ended between being read and being used: sign in again.
            Error::Unauthenticated => return Redirect::to("/login").into_response(),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "Forbidden"),
            Error::PlanFeatureUnavailable { .. } => (StatusCode::FORBIDDEN, "Not in your plan"),
            Error::NotFound { .. } => (StatusCode::NOT_FOUND, "Not found"),
            Error::UsernameTaken(_) | Error::EmailTaken(_) => (StatusCode::CONFLICT, "Already taken"),
            Error::Conflict { .. } => (StatusCode::CONFLICT, "Conflict"),
            Error::SeatLimitReached { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "No seat free"),
            Error::BranchSeatCapReached { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "Branch full"),
            Error::RuleViolated { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "Refused"),
            Error::RateLimited { retry_after_secs } => {
                let mut resp = error_page(StatusCode::TOO_MANY_REQUESTS, "Too many requests", &e.to_string());
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
                return resp;
            }
            Error::Internal(inner) if inner.is_unavailable() => {
                tracing::error!(error = %inner, "database unavailable");
                let mut resp = error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Briefly unavailable",
                    "rollcall can't reach its database just now; please try again in a few seconds.",
                );
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, crate::rest::error::RETRY_AFTER_UNAVAILABLE);
                return resp;
            }
            Error::Internal(inner) => {
                // Logged inside the request's span, which carries the request id; the page
                // says nothing of what failed.
                tracing::error!(error = %inner, "console page failed");
                return error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Error",
                    "Something went wrong; please try again.",
                );
            }
        };
        error_page(status, title, &e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::error::ApiError;
    use rollcall_core::{ConflictCode, Entity, RuleCode};

    /// One of each core error.
    fn every_error() -> Vec<Error> {
        vec![
            Error::invalid("email", "not an email"),
            Error::ConfirmationRequired("type the username".into()),
            Error::Unauthenticated,
            Error::forbidden("this needs users.manage"),
            Error::PlanFeatureUnavailable {
                plan: "free".into(),
                feature: "SSO".into(),
            },
            Error::not_found(Entity::User, "42"),
            Error::UsernameTaken("ada".into()),
            Error::EmailTaken("ada@example.org".into()),
            Error::conflict(ConflictCode::AlreadyActive, "already active"),
            Error::SeatLimitReached { used: 5, limit: 5 },
            Error::BranchSeatCapReached {
                branch: "north".into(),
                cap: 2,
            },
            Error::rule(RuleCode::LastAdministrator, "the last administrator stays"),
            Error::RateLimited { retry_after_secs: 3 },
            Error::internal("disk on fire"),
        ]
    }

    #[test]
    fn pages_answer_core_errors_with_the_status_rest_does() {
        for (page, api) in every_error().into_iter().zip(every_error()) {
            let name = format!("{api:?}");
            let api = ApiError::from(api);
            let page = PageError::from(page).into_response();
            if api.status == StatusCode::UNAUTHORIZED {
                assert_eq!(page.status(), StatusCode::SEE_OTHER, "{name}: sign in again");
                assert_eq!(page.headers()[header::LOCATION], "/login");
            } else {
                assert_eq!(page.status(), api.status, "{name}");
            }
        }
    }

    #[test]
    fn a_seat_limit_is_422_with_the_core_s_words() {
        let e = Error::SeatLimitReached { used: 5, limit: 5 };
        let words = e.to_string();
        let resp = PageError::from(e).into_response();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = body_text(resp);
        assert!(body.contains(&words), "{body}");
    }

    #[test]
    fn internal_errors_show_nothing_of_what_failed() {
        let body = body_text(PageError::from(Error::internal("disk on fire")).into_response());
        assert!(
            !body.contains("disk") && body.contains("Something went wrong"),
            "{body}"
        );
    }

    #[test]
    fn signing_in_comes_back_to_the_page() {
        let resp = PageError::SignIn {
            next: Some("/admin/users?status=trash".into()),
        }
        .into_response();
        assert_eq!(
            resp.headers()[header::LOCATION],
            "/login?next=%2Fadmin%2Fusers%3Fstatus%3Dtrash"
        );
    }

    fn body_text(resp: Response) -> String {
        let bytes = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(axum::body::to_bytes(resp.into_body(), usize::MAX))
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}
