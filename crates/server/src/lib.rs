//! rollcall's HTTP side: the axum application over the one [`Service`] — health, metrics
//! and the REST API — the background jobs and mail sender `rollcall serve` runs, and the
//! composition root ([`App`]) that puts them together from a [`Config`]. Handlers
//! translate; the service decides.

pub mod app;
pub mod config;
pub mod console;
pub mod jobs;
pub mod mailer;
pub mod metrics;
pub mod rest;
pub mod routes;
pub mod saml;
pub mod scim;
pub mod throttle;
pub mod web;

pub use app::App;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
pub use config::Config;
use rollcall_core::Service;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Largest request body accepted (JSON; CSV imports will set their own).
pub const BODY_LIMIT: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    pub metrics: Arc<metrics::Metrics>,
    /// The public base URL (no trailing slash): SCIM locations are built from it, never
    /// from the Host header.
    pub base_url: Arc<str>,
    /// SAML responses validated at once (off the async workers); beyond it, 503.
    pub saml_validations: Arc<tokio::sync::Semaphore>,
    /// Requests per client address to `/saml/login` and `/saml/acs`.
    pub saml_rate: Arc<throttle::RateLimiter>,
    /// Password-reset requests per client address (`/forgot-password` and its JSON twin):
    /// each may look accounts up and queue mail, so nobody may send them without bound.
    pub reset_rate: Arc<throttle::RateLimiter>,
}

/// Reset requests an address may send at once, then one every ten seconds.
pub const RESET_BURST: u32 = 10;
pub const RESET_PER_SECOND: f64 = 0.1;

/// The whole application: health, readiness, metrics, and `/api/v1`.
pub fn app(service: Service, base_url: &str) -> Router {
    let base_url: Arc<str> = base_url.trim_end_matches('/').into();
    let state = AppState {
        service,
        metrics: Arc::new(metrics::Metrics::default()),
        base_url,
        saml_validations: Arc::new(tokio::sync::Semaphore::new(saml::MAX_VALIDATIONS)),
        saml_rate: Arc::new(throttle::RateLimiter::new(saml::RATE_BURST, saml::RATE_PER_SECOND)),
        reset_rate: Arc::new(throttle::RateLimiter::new(RESET_BURST, RESET_PER_SECOND)),
    };
    let (api, _doc) = rest::router();
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/login", get(web::login_page).post(web::login_submit))
        .route("/logout", axum::routing::post(web::logout))
        .route(
            "/set-password",
            get(web::set_password_page).post(web::set_password_submit),
        )
        .route("/forgot-password", get(web::forgot_page).post(web::forgot_submit))
        .merge(api)
        .merge(saml::router(state.clone()))
        .merge(console::router())
        .nest("/scim/v2", scim::router())
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(page_headers))
        .layer(middleware::from_fn_with_state(state.clone(), client_address))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(middleware::from_fn(refuse_token_in_query))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
                    // The path only: a query string could carry what must not be logged.
                    let id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                }))
                .layer(PropagateRequestIdLayer::new(request_id)),
        )
        .with_state(state)
}

/// The OpenAPI document of `/api/v1`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    rest::router().1
}

async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // A fixed set of labels: arbitrary extension methods must not grow the metrics.
    let method = match req.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m,
        _ => "OTHER",
    }
    .to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let start = Instant::now();
    let resp = next.run(req).await;
    state
        .metrics
        .observe(&method, &route, resp.status().as_u16(), start.elapsed().as_secs_f64());
    resp
}

/// The client's address, as throttling, rate limits, the audit log and the logs see it:
/// the TCP peer, or — only when the peer is one of the `trusted_proxies` — the right-most
/// address in `X-Forwarded-For` that isn't itself a trusted proxy. `None` when the server
/// runs without connection info (in-process tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    /// The address as text, for the service calls that take a source.
    pub fn text(self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<ClientAddr, Infallible> {
        Ok(client_addr_of(parts))
    }
}

/// The address [`client_address`] decided for this request.
pub fn client_addr_of(parts: &Parts) -> ClientAddr {
    parts
        .extensions
        .get::<ClientAddr>()
        .copied()
        .unwrap_or(ClientAddr(None))
}

/// Decides the client address once per request. The setting is read from the database
/// only when the request carries `X-Forwarded-For` — per request, so a change made on any
/// instance holds at once everywhere; a request without the header costs nothing.
async fn client_address(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical());
    let client = match peer {
        None => None,
        Some(peer) => {
            let forwarded: Vec<String> = req
                .headers()
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::to_owned)
                .collect();
            if forwarded.is_empty() {
                Some(peer)
            } else {
                match state.service.public().trusted_proxies().await {
                    Ok(trusted) => {
                        let hops: Vec<&str> = forwarded.iter().map(String::as_str).collect();
                        Some(trusted.client(peer, &hops))
                    }
                    Err(e) => {
                        // Believe no header rather than fail the request.
                        tracing::error!(error = %e, "can't read trusted_proxies; using the peer address");
                        Some(peer)
                    }
                }
            }
        }
    };
    req.extensions_mut().insert(ClientAddr(client));
    // Also as a header the console's session lookup reads (it sees headers only). Whatever
    // a client sent under this name is dropped first, so only this layer ever sets it.
    req.headers_mut().remove(CLIENT_HEADER);
    if let Some(ip) = client
        && let Ok(v) = axum::http::HeaderValue::from_str(&ip.to_string())
    {
        req.headers_mut().insert(CLIENT_HEADER, v);
    }
    next.run(req).await
}

/// The client address as [`client_address`] decided it, for handlers that read headers.
pub(crate) const CLIENT_HEADER: &str = "x-rollcall-client-address";

/// Tokens belong in the Authorization header; one in a URL ends up in logs and histories.
async fn refuse_token_in_query(req: Request, next: Next) -> Response {
    let query = req.uri().query().unwrap_or("");
    if query.contains("access_token=") || rollcall_core::domain::token::looks_like_token(query) {
        return rest::error::ApiError::new(
            StatusCode::BAD_REQUEST,
            "token_in_query",
            "tokens are refused in the URL; send them as 'Authorization: Bearer …'",
        )
        .into_response();
    }
    next.run(req).await
}

/// What every HTML page is sent with. Pages show personal data, so no cache keeps them
/// (`no-store`); no other site may frame them (clickjacking); and the policy allows only
/// rollcall's own stylesheet and forms — no script at all, no inline style.
const PAGE_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

async fn page_headers(req: Request, next: Next) -> Response {
    use axum::http::{HeaderValue, header};
    let mut resp = next.run(req).await;
    let html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html {
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_POLICY));
        h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        h.entry(header::REFERRER_POLICY)
            .or_insert(HeaderValue::from_static("same-origin"));
    }
    resp
}

/// Liveness: the process answers.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the database answers. The reason for a failure goes to the log, not the client.
async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.service.system().ready().await {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(e) => {
            tracing::error!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
        }
    }
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    match state.metrics.render(&state.service).await {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metrics failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// Registers for SIGTERM and Ctrl-C now (so a signal that arrives as soon as the server
/// announces itself is not lost) and returns a future that completes on either.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Ok(async move {
        #[cfg(unix)]
        let term = term.recv();
        #[cfg(not(unix))]
        let term = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term => {},
        }
        tracing::info!("shutting down: draining in-flight requests");
    })
}
