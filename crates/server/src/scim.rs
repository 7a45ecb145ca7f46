//! `/scim/v2`: the SCIM 2.0 service provider over HTTP. Bodies are read as JSON whether sent
//! as `application/scim+json` or `application/json`; every answer is `application/scim+json`;
//! every request needs a SCIM token.

use crate::AppState;
use crate::rest::extract::{bearer, request_context};
use crate::routes::Routes;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rollcall_core::domain::TokenScope;
use rollcall_core::service::PasswordChange;
use rollcall_core::{Channel, Context, Entity, Error, Service};
use rollcall_scim::patch::{get_ci, parse_patch};
use rollcall_scim::{ScimError, group, query, schema, user};
use serde_json::Value;
use std::collections::HashMap;

const SCIM_JSON: &str = "application/scim+json";

/// A SCIM answer: a status and a JSON body, as `application/scim+json`.
pub struct ScimJson(StatusCode, Value);

impl IntoResponse for ScimJson {
    fn into_response(self) -> Response {
        let mut resp = (self.0, self.1.to_string()).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        resp
    }
}

/// A SCIM error as a response; internal causes are logged here, never sent.
pub struct ScimFailure(ScimError);

impl From<ScimError> for ScimFailure {
    fn from(e: ScimError) -> Self {
        ScimFailure(e)
    }
}

impl From<Error> for ScimFailure {
    fn from(e: Error) -> Self {
        if let Error::Internal(inner) = &e {
            tracing::error!(error = %inner, "internal error");
        }
        ScimFailure(e.into())
    }
}

impl IntoResponse for ScimFailure {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = ScimJson(status, self.0.to_json()).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, crate::rest::error::RETRY_AFTER_UNAVAILABLE);
        }
        resp
    }
}

type ScimResult = Result<ScimJson, ScimFailure>;

/// The identity provider, from its SCIM token.
pub struct ScimCaller {
    service: Service,
    ctx: Context,
    base: String,
}

impl FromRequestParts<AppState> for ScimCaller {
    type Rejection = ScimFailure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<ScimCaller, ScimFailure> {
        let token = bearer(parts).ok_or(Error::Unauthenticated)?;
        let actor = state
            .service
            .public()
            .authenticate_token(token, TokenScope::Scim)
            .await?;
        let mut ctx = Context::new(actor, Channel::Scim);
        request_context(parts, &mut ctx);
        Ok(ScimCaller {
            service: state.service.clone(),
            ctx,
            base: format!("{}/scim/v2", state.base_url),
        })
    }
}

/// Reads a JSON body sent as `application/scim+json` or `application/json`.
fn json_body(headers: &HeaderMap, bytes: &Bytes) -> Result<Value, ScimFailure> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if !media.is_empty() && media != SCIM_JSON && media != "application/json" {
        return Err(ScimError::new(415, None, "send application/scim+json or application/json").into());
    }
    serde_json::from_slice(bytes).map_err(|e| ScimError::invalid_syntax(format!("the body is not JSON: {e}")).into())
}

/// Query parameters, names compared ignoring case (`startIndex`, `startindex`).
struct Params(HashMap<String, String>);

impl Params {
    fn new(raw: HashMap<String, String>) -> Params {
        Params(raw.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect())
    }
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(&key.to_ascii_lowercase()).map(String::as_str)
    }
    fn int(&self, key: &str) -> Result<Option<i64>, ScimFailure> {
        self.get(key)
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| ScimError::invalid_value(format!("{key} must be an integer")).into())
            })
            .transpose()
    }
}

/// What a list or search asks for.
struct ListRequest {
    filter: Option<String>,
    start_index: Option<i64>,
    count: Option<i64>,
    attributes: Option<String>,
    excluded: Option<String>,
}

impl ListRequest {
    fn from_params(p: &Params) -> Result<ListRequest, ScimFailure> {
        Ok(ListRequest {
            filter: p.get("filter").map(str::to_owned),
            start_index: p.int("startIndex")?,
            count: p.int("count")?,
            attributes: p.get("attributes").map(str::to_owned),
            excluded: p.get("excludedAttributes").map(str::to_owned),
        })
    }

    fn from_body(body: &Value) -> Result<ListRequest, ScimFailure> {
        let text = |k: &str| -> Option<String> {
            match get_ci(body, k)? {
                Value::String(s) => Some(s.clone()),
                Value::Array(a) => Some(a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")),
                _ => None,
            }
        };
        let int = |k: &str| -> Result<Option<i64>, ScimFailure> {
            match get_ci(body, k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| ScimError::invalid_value(format!("{k} must be an integer")).into()),
            }
        };
        Ok(ListRequest {
            filter: text("filter"),
            start_index: int("startIndex")?,
            count: int("count")?,
            attributes: text("attributes"),
            excluded: text("excludedAttributes"),
        })
    }
}

/// Trims a resource per `attributes`/`excludedAttributes`.
fn projected(resource: Value, attributes: Option<&str>, excluded: Option<&str>) -> Result<Value, ScimFailure> {
    let a = query::attribute_list(attributes)?;
    let e = query::attribute_list(excluded)?;
    Ok(query::project(resource, &a, &e))
}

fn id_of(raw: &str, kind: Entity) -> Result<i64, ScimFailure> {
    raw.parse::<i64>().map_err(|_| Error::not_found(kind, raw).into())
}

/// Every SCIM route, recorded (the authorization matrix reads the table).
pub fn routes() -> Routes<AppState> {
    Routes::new()
        .get("/ServiceProviderConfig", service_provider_config)
        .get("/Schemas", schemas)
        .get("/Schemas/{id}", one_schema)
        .get("/ResourceTypes", resource_types)
        .get("/ResourceTypes/{id}", one_resource_type)
        .post("/.search", search_all)
        .get("/Users", list_users)
        .post("/Users", create_user)
        .post("/Users/.search", search_users)
        .get("/Users/{id}", get_user)
        .put("/Users/{id}", replace_user)
        .patch("/Users/{id}", patch_user)
        .delete("/Users/{id}", delete_user)
        .get("/Groups", list_groups)
        .post("/Groups", create_group)
        .post("/Groups/.search", search_groups)
        .get("/Groups/{id}", get_group)
        .put("/Groups/{id}", replace_group)
        .patch("/Groups/{id}", patch_group)
        .delete("/Groups/{id}", delete_group)
}

pub fn router() -> Router<AppState> {
    routes().into_router().fallback(not_found)
}

async fn not_found(State(_): State<AppState>) -> ScimFailure {
    ScimError::not_found("no such SCIM endpoint").into()
}

async fn service_provider_config(c: ScimCaller) -> ScimResult {
    Ok(ScimJson(StatusCode::OK, schema::service_provider_config(&c.base)))
}

async fn schemas(c: ScimCaller) -> ScimResult {
    let all = schema::all_schemas(&c.base, &c.service.scim_grantable_types(&c.ctx).await?);
    Ok(ScimJson(
        StatusCode::OK,
        schema::list_response(all.len() as i64, 1, all),
    ))
}

async fn one_schema(c: ScimCaller, Path(id): Path<String>) -> ScimResult {
    let all = schema::all_schemas(&c.base, &c.service.scim_grantable_types(&c.ctx).await?);
    let found = all
        .into_iter()
        .find(|s| s["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(&id)));
    found
        .map(|s| ScimJson(StatusCode::OK, s))
        .ok_or_else(|| ScimError::not_found(format!("no schema '{id}'")).into())
}

async fn resource_types(c: ScimCaller) -> ScimResult {
    let all = schema::resource_types(&c.base);
    Ok(ScimJson(
        StatusCode::OK,
        schema::list_response(all.len() as i64, 1, all),
    ))
}

async fn one_resource_type(c: ScimCaller, Path(id): Path<String>) -> ScimResult {
    let found = schema::resource_types(&c.base)
        .into_iter()
        .find(|r| r["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(&id)));
    found
        .map(|r| ScimJson(StatusCode::OK, r))
        .ok_or_else(|| ScimError::not_found(format!("no resource type '{id}'")).into())
}

async fn users_page(c: &ScimCaller, req: ListRequest) -> ScimResult {
    let predicate = req.filter.as_deref().map(query::user_filter).transpose()?;
    let (start, count) = query::paging(req.start_index, req.count);
    let (total, users) = c.service.scim_list_users(&c.ctx, predicate, start - 1, count).await?;
    list_response(&req, total, start, users.iter().map(|u| user::to_json(u, &c.base)))
}

/// A list response of these resources, each projected as the request asks.
fn list_response(req: &ListRequest, total: i64, start: i64, resources: impl Iterator<Item = Value>) -> ScimResult {
    let resources = resources
        .map(|r| projected(r, req.attributes.as_deref(), req.excluded.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ScimJson(StatusCode::OK, schema::list_response(total, start, resources)))
}

async fn list_users(c: ScimCaller, Query(raw): Query<HashMap<String, String>>) -> ScimResult {
    let req = ListRequest::from_params(&Params::new(raw))?;
    users_page(&c, req).await
}

async fn search_users(c: ScimCaller, headers: HeaderMap, bytes: Bytes) -> ScimResult {
    let req = ListRequest::from_body(&json_body(&headers, &bytes)?)?;
    users_page(&c, req).await
}

/// 201 with the resource and its `Location`.
fn created(location: &str, body: Value) -> Response {
    let mut resp = ScimJson(StatusCode::CREATED, body).into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

async fn create_user(c: ScimCaller, headers: HeaderMap, bytes: Bytes) -> Result<Response, ScimFailure> {
    let (state, password) = user::from_json(&json_body(&headers, &bytes)?, None)?;
    let view = c.service.scim_create_user(&c.ctx, state, password).await?;
    Ok(created(
        &user::location(&c.base, view.id),
        user::to_json(&view, &c.base),
    ))
}

async fn get_user(c: ScimCaller, Path(id): Path<String>, Query(raw): Query<HashMap<String, String>>) -> ScimResult {
    let p = Params::new(raw);
    let view = c.service.scim_get_user(&c.ctx, id_of(&id, Entity::User)?).await?;
    Ok(ScimJson(
        StatusCode::OK,
        projected(
            user::to_json(&view, &c.base),
            p.get("attributes"),
            p.get("excludedAttributes"),
        )?,
    ))
}

async fn replace_user(c: ScimCaller, Path(id): Path<String>, headers: HeaderMap, bytes: Bytes) -> ScimResult {
    let id = id_of(&id, Entity::User)?;
    let current = c.service.scim_get_user(&c.ctx, id).await?;
    let (state, password) = user::from_json(&json_body(&headers, &bytes)?, Some(&current.state))?;
    let change = password.map_or(PasswordChange::Keep, PasswordChange::Set);
    let view = c.service.scim_update_user(&c.ctx, id, state, change).await?;
    Ok(ScimJson(StatusCode::OK, user::to_json(&view, &c.base)))
}

async fn patch_user(c: ScimCaller, Path(id): Path<String>, headers: HeaderMap, bytes: Bytes) -> ScimResult {
    let id = id_of(&id, Entity::User)?;
    let ops = parse_patch(&json_body(&headers, &bytes)?)?;
    let current = c.service.scim_get_user(&c.ctx, id).await?;
    let (state, password) = user::apply_patch(&current.state, &ops)?;
    let view = if state == current.state && password == PasswordChange::Keep {
        current
    } else {
        c.service.scim_update_user(&c.ctx, id, state, password).await?
    };
    Ok(ScimJson(StatusCode::OK, user::to_json(&view, &c.base)))
}

async fn delete_user(c: ScimCaller, Path(id): Path<String>) -> Result<StatusCode, ScimFailure> {
    c.service.scim_delete_user(&c.ctx, id_of(&id, Entity::User)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// POST /.search: Users, then Groups. A filter naming attributes of only one of them selects
/// only from that one; a filter neither understands is refused.
async fn search_all(c: ScimCaller, headers: HeaderMap, bytes: Bytes) -> ScimResult {
    let req = ListRequest::from_body(&json_body(&headers, &bytes)?)?;
    let (user_pred, group_pred) = match req.filter.as_deref() {
        None => (Some(None), Some(None)),
        Some(f) => {
            let (u, g) = (query::user_filter(f), query::group_filter(f));
            if let (Err(e), Err(_)) = (&u, &g) {
                return Err(e.clone().into());
            }
            (u.ok().map(Some), g.ok().map(Some))
        }
    };
    let (start, count) = query::paging(req.start_index, req.count);
    let mut resources = vec![];
    let mut total = 0;
    let users_total = match user_pred {
        Some(p) => {
            let (n, users) = c.service.scim_list_users(&c.ctx, p, start - 1, count).await?;
            for u in &users {
                resources.push(projected(
                    user::to_json(u, &c.base),
                    req.attributes.as_deref(),
                    req.excluded.as_deref(),
                )?);
            }
            n
        }
        None => 0,
    };
    total += users_total;
    if let Some(p) = group_pred {
        let offset = (start - 1 - users_total).max(0);
        let room = count - resources.len() as i64;
        let (n, groups) = c.service.scim_list_groups(&c.ctx, p, offset, room).await?;
        for g in &groups {
            resources.push(projected(
                group::to_json(g, &c.base),
                req.attributes.as_deref(),
                req.excluded.as_deref(),
            )?);
        }
        total += n;
    }
    Ok(ScimJson(StatusCode::OK, schema::list_response(total, start, resources)))
}

async fn groups_page(c: &ScimCaller, req: ListRequest) -> ScimResult {
    let predicate = req.filter.as_deref().map(query::group_filter).transpose()?;
    let (start, count) = query::paging(req.start_index, req.count);
    let (total, groups) = c.service.scim_list_groups(&c.ctx, predicate, start - 1, count).await?;
    list_response(&req, total, start, groups.iter().map(|g| group::to_json(g, &c.base)))
}

async fn list_groups(c: ScimCaller, Query(raw): Query<HashMap<String, String>>) -> ScimResult {
    let req = ListRequest::from_params(&Params::new(raw))?;
    groups_page(&c, req).await
}

async fn search_groups(c: ScimCaller, headers: HeaderMap, bytes: Bytes) -> ScimResult {
    let req = ListRequest::from_body(&json_body(&headers, &bytes)?)?;
    groups_page(&c, req).await
}

async fn create_group(c: ScimCaller, headers: HeaderMap, bytes: Bytes) -> Result<Response, ScimFailure> {
    let input = group::from_json(&json_body(&headers, &bytes)?)?;
    let view = c
        .service
        .scim_create_group(&c.ctx, &input.display_name, input.external_id, input.members)
        .await?;
    Ok(created(
        &group::location(&c.base, view.id),
        group::to_json(&view, &c.base),
    ))
}

async fn get_group(c: ScimCaller, Path(id): Path<String>, Query(raw): Query<HashMap<String, String>>) -> ScimResult {
    let p = Params::new(raw);
    let view = c.service.scim_get_group(&c.ctx, id_of(&id, Entity::Group)?).await?;
    Ok(ScimJson(
        StatusCode::OK,
        projected(
            group::to_json(&view, &c.base),
            p.get("attributes"),
            p.get("excludedAttributes"),
        )?,
    ))
}

async fn replace_group(c: ScimCaller, Path(id): Path<String>, headers: HeaderMap, bytes: Bytes) -> ScimResult {
    let id = id_of(&id, Entity::Group)?;
    let input = group::from_json(&json_body(&headers, &bytes)?)?;
    let view = c
        .service
        .scim_change_group(&c.ctx, id, group::replace_changes(input))
        .await?;
    Ok(ScimJson(StatusCode::OK, group::to_json(&view, &c.base)))
}

async fn patch_group(c: ScimCaller, Path(id): Path<String>, headers: HeaderMap, bytes: Bytes) -> ScimResult {
    let id = id_of(&id, Entity::Group)?;
    let changes = group::patch_changes(&parse_patch(&json_body(&headers, &bytes)?)?)?;
    let view = c.service.scim_change_group(&c.ctx, id, changes).await?;
    Ok(ScimJson(StatusCode::OK, group::to_json(&view, &c.base)))
}

async fn delete_group(c: ScimCaller, Path(id): Path<String>) -> Result<StatusCode, ScimFailure> {
    c.service.scim_delete_group(&c.ctx, id_of(&id, Entity::Group)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
