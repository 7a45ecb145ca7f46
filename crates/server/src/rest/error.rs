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
            _ => ApiError::bad_request(r.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> ApiError {
        ApiError::bad_request(r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> ApiError {
        ApiError::bad_request(r.body_text())
    }
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
