//! Extractors: the authenticated caller, and JSON/query/path with REST-shaped rejections.

use super::error::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use rollcall_core::domain::TokenScope;
use rollcall_core::{Channel, Context, Error, Service};

#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// The request id (set or kept by the request-id layer) and the client address (see
/// [`crate::ClientAddr`]).
pub fn request_context(parts: &Parts, ctx: &mut Context) {
    ctx.request_id = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 128)
        .map(str::to_owned);
    ctx.source = crate::client_addr_of(parts).text();
}

/// The bearer token of a request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// An API caller: a valid `rc_api_` bearer token, resolved to its user. The service still
/// decides every permission from that user's current type.
pub struct Caller {
    pub service: Service,
    pub ctx: Context,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let token = bearer(parts).ok_or(Error::Unauthenticated)?;
        let actor = state
            .service
            .public()
            .authenticate_token(token, TokenScope::Api)
            .await?;
        let mut ctx = Context::new(actor, Channel::Api);
        request_context(parts, &mut ctx);
        Ok(Caller {
            service: state.service.clone(),
            ctx,
        })
    }
}
