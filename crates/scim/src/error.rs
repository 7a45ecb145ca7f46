//! SCIM errors (RFC 7644 §3.12): a status, an optional `scimType`, and a `detail`.

use rollcall_core::Error;
use serde_json::{Value, json};

pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> ScimError {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }
    pub fn invalid_value(detail: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("invalidValue"), detail)
    }
    pub fn invalid_syntax(detail: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("invalidSyntax"), detail)
    }
    pub fn invalid_filter(detail: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("invalidFilter"), detail)
    }
    pub fn invalid_path(detail: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("invalidPath"), detail)
    }
    pub fn not_found(detail: impl Into<String>) -> ScimError {
        ScimError::new(404, None, detail)
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({ "schemas": [ERROR_SCHEMA], "status": self.status.to_string(), "detail": self.detail });
        if let Some(t) = self.scim_type {
            v["scimType"] = json!(t);
        }
        v
    }
}

impl From<crate::filter::FilterError> for ScimError {
    fn from(e: crate::filter::FilterError) -> ScimError {
        ScimError::invalid_filter(e.to_string())
    }
}

/// Core errors in SCIM terms. A seat limit is a 403 naming the limit — never a 409, which
/// an identity provider would take for a duplicate, and never a 5xx it would retry forever.
impl From<Error> for ScimError {
    fn from(e: Error) -> ScimError {
        match e {
            Error::InvalidInput { .. } | Error::ConfirmationRequired(_) | Error::RuleViolated { .. } => {
                ScimError::invalid_value(e.to_string())
            }
            Error::NotFound { .. } => ScimError::not_found(e.to_string()),
            Error::Forbidden(_)
            | Error::SeatLimitReached { .. }
            | Error::BranchSeatCapReached { .. }
            | Error::PlanFeatureUnavailable { .. } => ScimError::new(403, None, e.to_string()),
            Error::Unauthenticated => ScimError::new(401, None, "a valid SCIM token is required"),
            Error::RateLimited { .. } => ScimError::new(429, None, e.to_string()),
            Error::UsernameTaken(_) | Error::EmailTaken(_) => ScimError::new(409, Some("uniqueness"), e.to_string()),
            Error::Conflict { code, .. } if code.is_uniqueness() => {
                ScimError::new(409, Some("uniqueness"), e.to_string())
            }
            Error::Conflict { .. } => ScimError::new(409, None, e.to_string()),
            // Never echoed: the HTTP adapter logs the cause before converting.
            Error::Internal(inner) if inner.is_unavailable() => ScimError::new(
                503,
                None,
                "the service is briefly unavailable (its database can't be reached); try again shortly",
            ),
            Error::Internal(_) => ScimError::new(500, None, "internal error; the server log has details"),
        }
    }
}
