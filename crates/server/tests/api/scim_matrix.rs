//! The SCIM half of the authorization matrix: every SCIM route, enumerated from the router
//! itself, for every kind of caller the REST matrix has (whose API tokens SCIM must refuse),
//! for a SCIM token, and for a revoked SCIM token.

use super::matrix::ACTORS;
use super::*;

/// The REST matrix's callers, then a SCIM token and a revoked one.
const SCIM_ACTORS: usize = ACTORS.len() + 2;

struct ScimRow {
    method: &'static str,
    route: &'static str,
    path: &'static str,
    body: Option<Value>,
    /// What the SCIM token gets; everyone else is 401.
    scim: u16,
}

fn user_body(name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": format!("{name}@example.org"),
        "name": {"givenName": "M", "familyName": name},
        "emails": [{"value": format!("{name}@example.org"), "primary": true}],
        "active": true
    })
}

fn group_body(name: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name})
}

fn search() -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "count": 5})
}

fn deactivate() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]
    })
}

/// In order: the SCIM token's writes to `{user}` and `{group}` end with their deletion.
fn rows() -> Vec<ScimRow> {
    let row = |method, route, path, body, scim| ScimRow {
        method,
        route,
        path,
        body,
        scim,
    };
    vec![
        row("GET", "/ServiceProviderConfig", "/ServiceProviderConfig", None, 200),
        row("GET", "/Schemas", "/Schemas", None, 200),
        row(
            "GET",
            "/Schemas/{id}",
            "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
            None,
            200,
        ),
        row("GET", "/ResourceTypes", "/ResourceTypes", None, 200),
        row("GET", "/ResourceTypes/{id}", "/ResourceTypes/User", None, 200),
        row("POST", "/.search", "/.search", Some(search()), 200),
        row("GET", "/Users", "/Users", None, 200),
        row("POST", "/Users", "/Users", Some(user_body("matrix_new")), 201),
        row("POST", "/Users/.search", "/Users/.search", Some(search()), 200),
        row("GET", "/Users/{id}", "/Users/{user}", None, 200),
        row(
            "PUT",
            "/Users/{id}",
            "/Users/{user}",
            Some(user_body("matrix_user")),
            200,
        ),
        row("PATCH", "/Users/{id}", "/Users/{user}", Some(deactivate()), 200),
        row("DELETE", "/Users/{id}", "/Users/{user}", None, 204),
        row("GET", "/Groups", "/Groups", None, 200),
        row("POST", "/Groups", "/Groups", Some(group_body("Matrix new")), 201),
        row("POST", "/Groups/.search", "/Groups/.search", Some(search()), 200),
        row("GET", "/Groups/{id}", "/Groups/{group}", None, 200),
        row(
            "PUT",
            "/Groups/{id}",
            "/Groups/{group}",
            Some(group_body("Matrix renamed")),
            200,
        ),
        row(
            "PATCH",
            "/Groups/{id}",
            "/Groups/{group}",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "displayName", "value": "Matrix patched"}]
            })),
            200,
        ),
        row("DELETE", "/Groups/{id}", "/Groups/{group}", None, 204),
    ]
}

#[test]
fn every_scim_route_has_a_row() {
    let routes = rollcall_server::scim::routes();
    let mut served: Vec<(&str, &str)> = routes.table().to_vec();
    let mut covered: Vec<(&str, &str)> = rows().iter().map(|r| (r.method, r.route)).collect();
    served.sort();
    covered.sort();
    assert_eq!(covered, served, "every SCIM route has exactly one row in the matrix");
}

both_backends!(every_scim_route_for_every_caller, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let cli = Context::cli();
    // The REST matrix's callers with their API tokens (revoked, of a deactivated user …).
    let (rest_tokens, _) = super::matrix::fixture(&app).await;
    let mut tokens: Vec<(String, Option<String>)> = ACTORS
        .iter()
        .map(|a| ((*a).to_owned(), rest_tokens[a].clone()))
        .collect();
    let scim = app.scim_token("idp").await;
    let revoked = app.scim_token("idp-old").await;
    app.service.revoke_token(&cli, "idp-old").await.unwrap();
    tokens.push(("scim".into(), Some(scim.clone())));
    tokens.push(("scim_revoked".into(), Some(revoked)));
    assert_eq!(tokens.len(), SCIM_ACTORS);

    let (status, user) = app.scim("POST", "/Users", &scim, Some(user_body("matrix_user"))).await;
    assert_eq!(status, 201, "{user}");
    let (status, group) = app.scim("POST", "/Groups", &scim, Some(group_body("Matrix"))).await;
    assert_eq!(status, 201, "{group}");
    let fill = |path: &str| {
        path.replace("{user}", user["id"].as_str().unwrap())
            .replace("{group}", group["id"].as_str().unwrap())
    };

    let mut failures = vec![];
    for row in rows() {
        // The SCIM token last, so the refusals are checked against rows that still exist.
        for (actor, token) in &tokens {
            let expected = if actor == "scim" { row.scim } else { 401 };
            let path = fill(row.path);
            let (status, resp) = match token {
                Some(t) => app.scim(row.method, &path, t, row.body.clone()).await,
                None => {
                    let mut req = app
                        .http
                        .request(row.method.parse().unwrap(), format!("{}/scim/v2{path}", app.base));
                    if let Some(b) = &row.body {
                        req = req.json(b);
                    }
                    let resp = req.send().await.unwrap();
                    let status = resp.status().as_u16();
                    (status, resp.json().await.unwrap_or(Value::Null))
                }
            };
            if status != expected {
                failures.push(format!(
                    "{} {path} as {actor}: expected {expected}, got {status} {resp}",
                    row.method
                ));
            }
            if status >= 400 {
                assert_eq!(
                    resp["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
                    "{} {path} as {actor}: a SCIM error body {resp}",
                    row.method
                );
            }
        }
    }
    assert!(failures.is_empty(), "SCIM matrix mismatches:\n{}", failures.join("\n"));
});
