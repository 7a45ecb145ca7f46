//! The stylesheet, `console.css`, compiled in and served at a URL carrying a hash of its
//! contents (`/console-<hash>.css`), so browsers may keep it for a year: a changed sheet is
//! a new URL. `/console.css` serves the same sheet for anything that names it directly.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const STYLESHEET: &str = include_str!("console.css");

/// `/console-<first 16 hex digits of the sheet's SHA-256>.css`, computed once.
static HASHED_PATH: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::digest(STYLESHEET.as_bytes());
    let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("/console-{hash}.css")
});

/// The URL pages link the stylesheet by.
pub(crate) fn href() -> &'static str {
    HASHED_PATH.as_str()
}

/// At its hashed URL the sheet never changes, so it may be kept as long as browsers keep
/// anything.
pub(super) async fn immutable() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// At the plain URL it changes with each release: cached, but checked again before use.
pub(super) async fn plain() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        STYLESHEET,
    )
        .into_response()
}
