//! Core errors as REST responses: `{"error": {"code", "message"}}` with the fitting status.
//! The match is exhaustive, so a new core error must be given a status here.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rollcall_core::Error;
use serde::Serialize;

/// What a client is told while the database is out of reach (the cause goes to the log).
pub const UNAVAILABLE: &str = "the service is briefly unavailable (its database can't be reached); try again shortly";

/// When to try again while the database is out of reach, in seconds.
pub const RETRY_AFTER_UNAVAILABLE: header::HeaderValue = header::HeaderValue::from_static("5");

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code to match on (e.g. `seat_limit_reached`, `not_found`).
    pub code: String,
    /// A sentence for people.
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", message)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let status = match &e {
            Error::InvalidInput { .. } | Error::ConfirmationRequired(_) => StatusCode::BAD_REQUEST,
            Error::Unauthenticated => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) | Error::PlanFeatureUnavailable { .. } => StatusCode::FORBIDDEN,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::UsernameTaken(_) | Error::EmailTaken(_) | Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::SeatLimitReached { .. } | Error::BranchSeatCapReached { .. } | Error::RuleViolated { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Internal(inner) if inner.is_unavailable() => {
                tracing::error!(error = %inner, "database unavailable");
                return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", UNAVAILABLE);
            }
            Error::Internal(inner) => {
                // Logged inside the request's span (it carries the request id); never echoed.
                tracing::error!(error = %inner, "internal error");
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; the server log has details",
                );
            }
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is too large",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send a JSON body with Content-Type: application/json",
            ),
            _ => ApiError::bad_request(in_our_words(&r.body_text())),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> ApiError {
        ApiError::bad_request(in_our_words(&r.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> ApiError {
        ApiError::bad_request(in_our_words(&r.body_text()))
    }
}

/// A request the extractors refused, said in rollcall's words rather than serde's and
/// axum's: which field, and what it must be.
fn in_our_words(text: &str) -> String {
    let (what, detail) = [
        ("Failed to deserialize query string: ", "the query string"),
        ("Failed to deserialize the JSON body into the target type: ", "the body"),
        ("Failed to parse the request body as JSON: ", "the body"),
        ("Invalid URL: ", "the path"),
    ]
    .into_iter()
    .find_map(|(prefix, what)| text.strip_prefix(prefix).map(|d| (what, d)))
    .unwrap_or(("the request", text));
    // serde_json appends where it stopped; the field name says more.
    let detail = detail.rsplit_once(" at line ").map_or(detail, |(d, _)| d);
    if text.starts_with("Failed to parse the request body as JSON") {
        return format!("the body is not valid JSON ({detail})");
    }
    let (field, why) = match detail.split_once(": ") {
        Some((f, why)) if !f.contains(' ') => (Some(f), why),
        _ => (None, detail),
    };
    let named = |f: Option<&str>, sentence: String| match f {
        Some(f) => format!("{f}: {sentence}"),
        None => sentence,
    };
    let ticked = |s: &str| s.split('`').skip(1).step_by(2).map(str::to_owned).collect::<Vec<_>>();
    if let Some(rest) = why.strip_prefix("unknown field ") {
        let names = ticked(rest);
        let (unknown, known) = names.split_first().map_or(("?", &[][..]), |(u, k)| (u.as_str(), k));
        return format!("{} has no field '{unknown}'; it takes {}", what, known.join(", "));
    }
    if let Some(rest) = why.strip_prefix("missing field ") {
        return format!(
            "{} needs the field '{}'",
            what,
            ticked(rest).first().map_or("?", String::as_str)
        );
    }
    // `… with value `abc` to a `i64`` (several segments) or `Cannot parse `abc` to a `i64``.
    if what == "the path"
        && let Some(value) = ticked(why).first()
    {
        return format!("the path segment '{value}' must be a whole number");
    }
    if why.contains("invalid digit") || why.contains("to a `i64`") || why.contains("expected i64") {
        return named(field, "must be a whole number".into());
    }
    if why.contains("not `true` or `false`") || why.contains("expected a boolean") {
        return named(field, "must be true or false".into());
    }
    if let Some(rest) = why.strip_prefix("invalid type: ") {
        // `integer `5`, expected a string`
        let (got, wanted) = rest.split_once(", expected ").unwrap_or((rest, "another type"));
        return named(
            field,
            format!("must be {wanted}, not {}", got.split(' ').next().unwrap_or(got)),
        );
    }
    named(field, why.to_owned())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(header::RETRY_AFTER, RETRY_AFTER_UNAVAILABLE);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::in_our_words;

    #[test]
    fn refused_requests_are_explained_in_our_words() {
        for (axum_said, we_say) in [
            (
                "Failed to deserialize query string: limit: invalid digit found in string",
                "limit: must be a whole number",
            ),
            (
                "Failed to deserialize query string: frob: unknown field `frob`, expected one of `status`, `q`",
                "the query string has no field 'frob'; it takes status, q",
            ),
            (
                "Failed to deserialize query string: never_logged_in: provided string was not `true` or `false`",
                "never_logged_in: must be true or false",
            ),
            (
                "Failed to deserialize the JSON body into the target type: username: invalid type: integer `5`, expected a string at line 1 column 13",
                "username: must be a string, not integer",
            ),
            (
                "Failed to parse the request body as JSON: EOF while parsing an object at line 1 column 15",
                "the body is not valid JSON (EOF while parsing an object)",
            ),
            (
                "Failed to deserialize the JSON body into the target type: missing field `username` at line 1 column 13",
                "the body needs the field 'username'",
            ),
            (
                "Invalid URL: Cannot parse value at index 2 with value `abc` to a `i64`",
                "the path segment 'abc' must be a whole number",
            ),
            // One path segment is said another way.
            (
                "Invalid URL: Cannot parse `abc` to a `i64`",
                "the path segment 'abc' must be a whole number",
            ),
        ] {
            assert_eq!(in_our_words(axum_said), we_say, "{axum_said}");
        }
    }
}
