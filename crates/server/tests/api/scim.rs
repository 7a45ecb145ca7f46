//! The SCIM 2.0 service provider over HTTP, driven by the request bodies identity providers
//! really send (`fixtures/scim/`), on SQLite and PostgreSQL: every status code is checked, and
//! so is the state read back afterwards (through SCIM, the REST API or the service).

use super::*;
use rollcall_core::domain::{PlanTier, UserStatus};
use rollcall_core::service::{AuditFilter, UserFilter, UserView};

const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const INDEX: &str = include_str!("fixtures/scim/index.tsv");
const FILTERS: &str = include_str!("fixtures/scim/filters.txt");

/// A recorded request body by file name.
fn fixture(file: &str) -> &'static str {
    match file {
        "okta-create-user.json" => include_str!("fixtures/scim/okta-create-user.json"),
        "okta-deactivate-pathless.json" => include_str!("fixtures/scim/okta-deactivate-pathless.json"),
        "okta-reactivate-pathless.json" => include_str!("fixtures/scim/okta-reactivate-pathless.json"),
        "okta-password-pathless.json" => include_str!("fixtures/scim/okta-password-pathless.json"),
        "okta-put-full-user.json" => include_str!("fixtures/scim/okta-put-full-user.json"),
        "okta-group-add-members.json" => include_str!("fixtures/scim/okta-group-add-members.json"),
        "okta-group-remove-member-filter.json" => include_str!("fixtures/scim/okta-group-remove-member-filter.json"),
        "okta-group-replace-members.json" => include_str!("fixtures/scim/okta-group-replace-members.json"),
        "okta-group-rename-pathless.json" => include_str!("fixtures/scim/okta-group-rename-pathless.json"),
        "entra-create-user.json" => include_str!("fixtures/scim/entra-create-user.json"),
        "entra-disable-string-bool.json" => include_str!("fixtures/scim/entra-disable-string-bool.json"),
        "entra-enable-string-bool.json" => include_str!("fixtures/scim/entra-enable-string-bool.json"),
        "entra-replace-capitalised.json" => include_str!("fixtures/scim/entra-replace-capitalised.json"),
        "entra-add-single-valued.json" => include_str!("fixtures/scim/entra-add-single-valued.json"),
        "entra-pathless-dotted-keys.json" => include_str!("fixtures/scim/entra-pathless-dotted-keys.json"),
        "entra-create-group.json" => include_str!("fixtures/scim/entra-create-group.json"),
        "entra-group-add-member.json" => include_str!("fixtures/scim/entra-group-add-member.json"),
        "entra-group-remove-member-value.json" => include_str!("fixtures/scim/entra-group-remove-member-value.json"),
        other => panic!("index.tsv names {other}, which this test does not know: add it to fixture()"),
    }
}

/// The rows of index.tsv: file, method, path, expected effect.
fn index() -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
    INDEX
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 4, "index.tsv row: {l}");
            (cols[0], cols[1], cols[2], cols[3])
        })
        .collect()
}

/// A fixture as JSON, its placeholders (`{id}`, `{user1}`, `{group}`) replaced by real ids.
fn body(file: &str, vars: &[(&str, &str)]) -> Value {
    let mut text = fixture(file).to_owned();
    for (k, v) in vars {
        text = text.replace(&format!("{{{k}}}"), v);
    }
    for placeholder in ["{id}", "{user1}", "{user2}", "{group}"] {
        assert!(!text.contains(placeholder), "{file}: {placeholder} left unreplaced");
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Sends a fixture with the method and path index.tsv gives it (`{id}`: the resource's id).
async fn send(app: &TestApp, token: &str, file: &str, id: &str, vars: &[(&str, &str)]) -> (u16, Value) {
    let (_, method, path, _) = index()
        .into_iter()
        .find(|row| row.0 == file)
        .unwrap_or_else(|| panic!("{file} is not in index.tsv"));
    app.scim(method, &path.replace("{id}", id), token, Some(body(file, vars)))
        .await
}

/// Percent-encodes a query parameter value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// GET `/{resource}?filter=…`.
async fn filtered(app: &TestApp, token: &str, resource: &str, filter: &str) -> (u16, Value) {
    app.scim("GET", &format!("/{resource}?filter={}", enc(filter)), token, None)
        .await
}

/// The `userName`s of a list response, in order.
fn user_names(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("no Resources: {list}"))
        .iter()
        .map(|r| r["userName"].as_str().unwrap().to_owned())
        .collect()
}

/// The ids of a list response, in order.
fn ids(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("no Resources: {list}"))
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A group's member ids, sorted (no `members` key means none).
fn members(group: &Value) -> Vec<String> {
    let mut out: Vec<String> = group["members"]
        .as_array()
        .map(|m| m.iter().map(|x| x["value"].as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    out.sort();
    out
}

#[track_caller]
fn assert_error(status: u16, body: &Value, want: u16, scim_type: Option<&str>) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["schemas"], json!([ERROR_SCHEMA]), "{body}");
    assert_eq!(body["status"], json!(want.to_string()), "status is a string: {body}");
    assert_eq!(body["scimType"].as_str(), scim_type, "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
}

async fn get_ok(app: &TestApp, token: &str, path: &str) -> Value {
    let (status, body) = app.scim("GET", path, token, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// POSTs a user; returns its id.
async fn create_user(app: &TestApp, token: &str, name: &str, extra: Value) -> String {
    let mut b = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "name": {"givenName": "Test", "familyName": name},
        "emails": [{"value": format!("{name}@example.org"), "primary": true}],
    });
    b.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let (status, resp) = app.scim("POST", "/Users", token, Some(b)).await;
    assert_eq!(status, 201, "{name}: {resp}");
    resp["id"].as_str().unwrap().to_owned()
}

/// The user as every channel shows it (through the service, as the CLI would).
async fn user_view(app: &TestApp, id: &str) -> UserView {
    app.service
        .get_user(&Context::cli(), &UserKey::Id(UserId(id.parse().unwrap())))
        .await
        .unwrap()
}

async fn seats_used(app: &TestApp) -> i64 {
    app.service.plan(&Context::cli()).await.unwrap().seats_used
}

/// Audit entries about a user that record a password being set.
async fn password_entries(app: &TestApp, username: &str) -> Vec<String> {
    let filter = AuditFilter {
        target: Some(username.into()),
        limit: Some(1000),
        ..AuditFilter::default()
    };
    let entries = app.service.list_audit(&Context::cli(), &filter).await.unwrap();
    for e in &entries {
        assert!(
            !e.changes.to_string().contains("Passw0rd"),
            "a password in the audit log: {e:?}"
        );
    }
    entries
        .into_iter()
        .filter(|e| e.changes["password"] == "[redacted]")
        .map(|e| e.action)
        .collect()
}

both_backends!(okta_user_fixtures_have_their_effects, |db: TestDb| async move {
    // Every row of the index names a known fixture that is valid JSON (with ids filled in).
    let rows = index();
    assert_eq!(rows.len(), 18);
    for (file, method, path, _) in &rows {
        assert!(["POST", "PATCH", "PUT"].contains(method), "{file}");
        assert!(path.starts_with("/Users") || path.starts_with("/Groups"), "{file}");
        body(file, &[("id", "1"), ("user1", "1"), ("user2", "2"), ("group", "3")]);
    }

    let app = TestApp::start(db).await;
    let t = app.scim_token("okta").await;

    // Create: password set, groups and locale ignored, externalId kept.
    let (status, ada) = send(&app, &t, "okta-create-user.json", "", &[]).await;
    assert_eq!(status, 201, "{ada}");
    let id = ada["id"].as_str().unwrap().to_owned();
    assert!(id.parse::<i64>().is_ok(), "ids are numeric strings: {ada}");
    assert_eq!(ada["userName"], "ada.lovelace@example.org");
    assert_eq!(ada["externalId"], "00u1ab2cd3EF4gh5i6j7");
    assert_eq!(ada["name"]["givenName"], "Ada");
    assert_eq!(ada["name"]["familyName"], "Lovelace");
    assert_eq!(ada["emails"][0]["value"], "ada.lovelace@example.org");
    assert_eq!(ada["active"], true);
    assert!(ada.get("password").is_none() && ada.get("locale").is_none() && ada.get("groups").is_none());
    assert!(!ada.to_string().contains("Passw0rd"), "{ada}");
    assert_eq!(get_ok(&app, &t, &format!("/Users/{id}")).await, ada);
    let view = user_view(&app, &id).await;
    assert_eq!((view.status.as_str(), view.origin.as_str()), ("active", "scim"));
    assert_eq!(view.external_id.as_deref(), Some("00u1ab2cd3EF4gh5i6j7"));
    assert!(view.groups.is_empty(), "{view:?}");
    assert_eq!(
        password_entries(&app, "ada.lovelace@example.org").await,
        ["user.create"]
    );
    assert_eq!(seats_used(&app).await, 1);

    // Deactivate path-less: active false, seat freed, record kept.
    let (status, resp) = send(&app, &t, "okta-deactivate-pathless.json", &id, &[]).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["active"], false);
    assert_eq!(get_ok(&app, &t, &format!("/Users/{id}")).await["active"], false);
    assert_eq!(user_view(&app, &id).await.status, "deactivated");
    assert_eq!(seats_used(&app).await, 0);

    // Reactivate path-less: a seat is free.
    let (status, resp) = send(&app, &t, "okta-reactivate-pathless.json", &id, &[]).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["active"], true);
    assert_eq!(get_ok(&app, &t, &format!("/Users/{id}")).await["active"], true);
    assert_eq!(user_view(&app, &id).await.status, "active");
    assert_eq!(seats_used(&app).await, 1);

    // Password path-less: set (audited, redacted), never returned.
    let (status, resp) = send(&app, &t, "okta-password-pathless.json", &id, &[]).await;
    assert_eq!(status, 200, "{resp}");
    assert!(
        resp.get("password").is_none() && !resp.to_string().contains("n3w-Passw0rd"),
        "{resp}"
    );
    assert_eq!(
        password_entries(&app, "ada.lovelace@example.org").await.len(),
        2,
        "the password change is recorded"
    );

    // PUT: names and email replaced; read-only groups and id ignored.
    let (status, resp) = send(&app, &t, "okta-put-full-user.json", &id, &[("id", &id)]).await;
    assert_eq!(status, 200, "{resp}");
    let got = get_ok(&app, &t, &format!("/Users/{id}")).await;
    assert_eq!(resp, got);
    assert_eq!(got["id"], json!(id));
    assert_eq!(got["userName"], "ada.lovelace@example.org");
    assert_eq!(got["name"], json!({"givenName": "Augusta Ada", "familyName": "King"}));
    assert_eq!(got["emails"][0]["value"], "ada.king@example.org");
    assert_eq!(got["externalId"], "00u1ab2cd3EF4gh5i6j7");
    assert_eq!(got["active"], true);
    assert!(got.get("groups").is_none(), "{got}");
    let view = user_view(&app, &id).await;
    assert_eq!(
        (view.first_name.as_str(), view.last_name.as_str(), view.email.as_str()),
        ("Augusta Ada", "King", "ada.king@example.org")
    );
    assert!(view.groups.is_empty(), "groups are read-only: {view:?}");
    assert!(app.service.list_groups(&Context::cli()).await.unwrap().is_empty());
    // A PUT of a missing user is 404.
    let (status, resp) = send(&app, &t, "okta-put-full-user.json", "999999", &[("id", "999999")]).await;
    assert_error(status, &resp, 404, None);
});

both_backends!(okta_reactivation_without_a_free_seat_is_403, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let t = app.scim_token("okta").await;
    let (status, ada) = send(&app, &t, "okta-create-user.json", "", &[]).await;
    assert_eq!(status, 201, "{ada}");
    let id = ada["id"].as_str().unwrap().to_owned();
    let (status, _) = send(&app, &t, "okta-deactivate-pathless.json", &id, &[]).await;
    assert_eq!(status, 200);
    create_user(&app, &t, "linus", json!({})).await;
    app.service
        .set_plan(&Context::cli(), PlanTier::Enterprise, Some(1))
        .await
        .unwrap();
    assert_eq!(seats_used(&app).await, 1);

    let (status, resp) = send(&app, &t, "okta-reactivate-pathless.json", &id, &[]).await;
    assert_error(status, &resp, 403, None);
    assert!(
        resp["detail"].as_str().unwrap().contains("seat limit reached: 1 of 1"),
        "the detail names the limit: {resp}"
    );
    assert_eq!(get_ok(&app, &t, &format!("/Users/{id}")).await["active"], false);
    assert_eq!(user_view(&app, &id).await.status, "deactivated");
    // The same through Entra's string boolean, and through a PUT.
    let (status, resp) = send(&app, &t, "entra-enable-string-bool.json", &id, &[]).await;
    assert_error(status, &resp, 403, None);
    let (status, resp) = send(&app, &t, "okta-put-full-user.json", &id, &[("id", &id)]).await;
    assert_error(status, &resp, 403, None);
    // Refused before anything changed.
    assert_eq!(user_view(&app, &id).await.last_name, "Lovelace");
    assert_eq!(seats_used(&app).await, 1);

    app.service
        .set_plan(&Context::cli(), PlanTier::Enterprise, Some(2))
        .await
        .unwrap();
    let (status, resp) = send(&app, &t, "okta-reactivate-pathless.json", &id, &[]).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["active"], true);
    assert_eq!(user_view(&app, &id).await.status, "active");
    assert_eq!(seats_used(&app).await, 2);
});

both_backends!(okta_group_fixtures_have_their_effects, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let t = app.scim_token("okta").await;
    let u1 = create_user(&app, &t, "ada", json!({})).await;
    let u2 = create_user(&app, &t, "grace", json!({})).await;
    let u3 = create_user(&app, &t, "linus", json!({})).await;
    let (status, group) = app
        .scim(
            "POST",
            "/Groups",
            &t,
            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Engineering", "members": [{"value": u3}]})),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    let g = group["id"].as_str().unwrap().to_owned();
    assert!(g.parse::<i64>().is_ok());
    assert_eq!(members(&group), [u3.as_str()]);
    let vars = [("user1", u1.as_str()), ("user2", u2.as_str()), ("group", g.as_str())];
    let path = format!("/Groups/{g}");

    // Add two: the existing member is kept.
    let (status, resp) = send(&app, &t, "okta-group-add-members.json", &g, &vars).await;
    assert!(status == 200 || status == 204, "{status} {resp}");
    assert_eq!(members(&get_ok(&app, &t, &path).await), sorted(&[&u1, &u2, &u3]));
    assert_eq!(user_view(&app, &u1).await.groups, ["Engineering"]);

    // Remove by filter: only that member.
    let (status, resp) = send(&app, &t, "okta-group-remove-member-filter.json", &g, &vars).await;
    assert!(status == 200 || status == 204, "{status} {resp}");
    assert_eq!(members(&get_ok(&app, &t, &path).await), sorted(&[&u2, &u3]));
    assert!(user_view(&app, &u1).await.groups.is_empty());

    // Replace: exactly these.
    let (status, resp) = send(&app, &t, "okta-group-replace-members.json", &g, &vars).await;
    assert!(status == 200 || status == 204, "{status} {resp}");
    assert_eq!(members(&get_ok(&app, &t, &path).await), [u2.as_str()]);
    assert!(user_view(&app, &u3).await.groups.is_empty());

    // Rename path-less: the id inside the value is ignored.
    let (status, resp) = send(&app, &t, "okta-group-rename-pathless.json", &g, &vars).await;
    assert!(status == 200 || status == 204, "{status} {resp}");
    let got = get_ok(&app, &t, &path).await;
    assert_eq!(got["displayName"], "Engineering Trainees");
    assert_eq!(got["id"], json!(g));
    assert_eq!(members(&got), [u2.as_str()]);
    let groups = app.service.list_groups(&Context::cli()).await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(
        (groups[0].name.as_str(), groups[0].members),
        ("Engineering Trainees", 1)
    );
    // A rename whose value carries some other id still renames this group only.
    let (status, _) = send(
        &app,
        &t,
        "okta-group-rename-pathless.json",
        &g,
        &[("user1", &u1), ("user2", &u2), ("group", "424242")],
    )
    .await;
    assert!(status == 200 || status == 204);
    assert_eq!(get_ok(&app, &t, &path).await["id"], json!(g));
});

both_backends!(entra_user_fixtures_have_their_effects, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let t = app.scim_token("entra").await;

    // Create: enterprise department → branch (created), manager as a string accepted.
    let (status, grace) = send(&app, &t, "entra-create-user.json", "", &[]).await;
    assert_eq!(status, 201, "{grace}");
    let id = grace["id"].as_str().unwrap().to_owned();
    let path = format!("/Users/{id}");
    assert_eq!(grace["userName"], "grace.hopper@example.org");
    assert_eq!(grace["externalId"], "8c0a2f4e-5b1d-4d3a-9a7e-0f6b1c2d3e4f");
    assert_eq!(grace[ENTERPRISE]["department"], "North");
    assert_eq!(grace["active"], true);
    assert!(
        grace.get("userType").is_none(),
        "the default type is not shown: {grace}"
    );
    let view = user_view(&app, &id).await;
    assert_eq!(view.branches, ["North"]);
    assert_eq!(view.user_type, "Learner");
    let branches = app.service.list_branches(&Context::cli()).await.unwrap();
    assert_eq!(branches.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(), ["North"]);

    // "False" / "True" as strings.
    let (status, resp) = send(&app, &t, "entra-disable-string-bool.json", &id, &[]).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(get_ok(&app, &t, &path).await["active"], false);
    assert_eq!(user_view(&app, &id).await.status, "deactivated");
    assert_eq!(seats_used(&app).await, 0);
    let (status, resp) = send(&app, &t, "entra-enable-string-bool.json", &id, &[]).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(get_ok(&app, &t, &path).await["active"], true);
    assert_eq!(user_view(&app, &id).await.status, "active");
    assert_eq!(seats_used(&app).await, 1);

    // Capitalised ops: names and the work email replaced.
    let (status, resp) = send(&app, &t, "entra-replace-capitalised.json", &id, &[]).await;
    assert_eq!(status, 200, "{resp}");
    let got = get_ok(&app, &t, &path).await;
    assert_eq!(
        got["name"],
        json!({"givenName": "Amazing Grace", "familyName": "Hopper"})
    );
    assert_eq!(got["emails"][0]["value"], "amazing.grace@example.org");
    let view = user_view(&app, &id).await;
    assert_eq!(
        (view.first_name.as_str(), view.email.as_str()),
        ("Amazing Grace", "amazing.grace@example.org")
    );

    // Add on single-valued attributes (unmapped ones here): accepted, nothing else changes.
    let before = get_ok(&app, &t, &path).await;
    let (status, resp) = send(&app, &t, "entra-add-single-valued.json", &id, &[]).await;
    assert_eq!(status, 200, "{resp}");
    let after = get_ok(&app, &t, &path).await;
    assert_eq!(after["name"], before["name"]);
    assert_eq!(after["emails"], before["emails"]);
    assert_eq!(after[ENTERPRISE], before[ENTERPRISE]);
    // Add on a mapped single-valued attribute acts as replace.
    let add = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "Add", "path": "name.familyName", "value": "Hopper-Murray"},
        {"op": "Add", "path": "externalId", "value": "ext-2"}
    ]});
    let (status, resp) = app.scim("PATCH", &path, &t, Some(add)).await;
    assert_eq!(status, 200, "{resp}");
    let got = get_ok(&app, &t, &path).await;
    assert_eq!(got["name"]["familyName"], "Hopper-Murray");
    assert_eq!(got["externalId"], "ext-2");
    assert_eq!(user_view(&app, &id).await.last_name, "Hopper-Murray");

    // Path-less dotted and URN keys.
    let (status, resp) = send(&app, &t, "entra-pathless-dotted-keys.json", &id, &[]).await;
    assert_eq!(status, 200, "{resp}");
    let got = get_ok(&app, &t, &path).await;
    assert_eq!(got["name"], json!({"givenName": "Grace B.", "familyName": "Hopper"}));
    assert_eq!(got[ENTERPRISE]["department"], "South");
    let view = user_view(&app, &id).await;
    assert_eq!(view.first_name, "Grace B.");
    assert_eq!(view.branches, ["South"], "moved from North to South");
});

both_backends!(entra_group_fixtures_have_their_effects, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let t = app.scim_token("entra").await;
    let u1 = create_user(&app, &t, "ada", json!({})).await;
    let u2 = create_user(&app, &t, "grace", json!({})).await;
    let u3 = create_user(&app, &t, "linus", json!({})).await;

    // Create with an extra schema URN: no members.
    let (status, group) = send(&app, &t, "entra-create-group.json", "", &[]).await;
    assert_eq!(status, 201, "{group}");
    let g = group["id"].as_str().unwrap().to_owned();
    let path = format!("/Groups/{g}");
    assert_eq!(group["displayName"], "Safety Officers");
    assert_eq!(group["externalId"], "5f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b");
    assert!(members(&group).is_empty(), "{group}");
    let got = get_ok(&app, &t, &path).await;
    assert_eq!(got["displayName"], "Safety Officers");
    assert!(members(&got).is_empty());
    // The same name again is a conflict.
    let (status, resp) = send(&app, &t, "entra-create-group.json", "", &[]).await;
    assert_error(status, &resp, 409, Some("uniqueness"));

    // Add a member with `$ref: null`, then two more.
    let (status, resp) = send(&app, &t, "entra-group-add-member.json", &g, &[("user1", &u1)]).await;
    assert!(status == 200 || status == 204, "{status} {resp}");
    assert_eq!(members(&get_ok(&app, &t, &path).await), [u1.as_str()]);
    for u in [&u2, &u3] {
        let (status, _) = send(&app, &t, "entra-group-add-member.json", &g, &[("user1", u)]).await;
        assert!(status == 200 || status == 204);
    }
    assert_eq!(members(&get_ok(&app, &t, &path).await), sorted(&[&u1, &u2, &u3]));

    // Remove by a value list: only the listed member goes.
    let (status, resp) = send(&app, &t, "entra-group-remove-member-value.json", &g, &[("user1", &u2)]).await;
    assert!(status == 200 || status == 204, "{status} {resp}");
    let got = get_ok(&app, &t, &path).await;
    assert_eq!(members(&got), sorted(&[&u1, &u3]));
    assert!(user_view(&app, &u2).await.groups.is_empty());
    assert_eq!(user_view(&app, &u1).await.groups, ["Safety Officers"]);
    assert_eq!(user_view(&app, &u3).await.groups, ["Safety Officers"]);

    // A member that does not exist is refused, and nothing changes.
    let (status, resp) = send(&app, &t, "entra-group-add-member.json", &g, &[("user1", "999999")]).await;
    assert_error(status, &resp, 400, Some("invalidValue"));
    assert_eq!(members(&get_ok(&app, &t, &path).await), sorted(&[&u1, &u3]));
});

both_backends!(
    identity_provider_filters_answer_200_with_the_right_users,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        let t = app.scim_token("idp").await;
        let (status, ada) = send(&app, &t, "okta-create-user.json", "", &[]).await;
        assert_eq!(status, 201);
        let ada_id = ada["id"].as_str().unwrap().to_owned();
        let (status, _) = send(&app, &t, "entra-create-user.json", "", &[]).await;
        assert_eq!(status, 201);
        let (status, _) = send(&app, &t, "entra-create-group.json", "", &[]).await;
        assert_eq!(status, 201);
        create_user(&app, &t, "linus", json!({})).await;
        // Not linked to SCIM: never in a SCIM answer.
        app.user("outsider", "learner", &[]).await;

        let ada_name = "ada.lovelace@example.org";
        let grace = "grace.hopper@example.org";
        let lines: Vec<&str> = FILTERS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        assert_eq!(lines.len(), 7);
        for line in &lines {
            let resource = if line.starts_with("displayName") {
                "Groups"
            } else {
                "Users"
            };
            let (status, resp) = filtered(&app, &t, resource, line).await;
            assert_eq!(status, 200, "{line}: {resp}");
            assert!(resp["totalResults"].is_i64(), "{line}: {resp}");
        }

        let users = |f: &'static str| {
            let app = &app;
            let t = &t;
            async move {
                let (status, resp) = filtered(app, t, "Users", f).await;
                assert_eq!(status, 200, "{f}: {resp}");
                assert_eq!(resp["totalResults"], json!(user_names(&resp).len()), "{f}: {resp}");
                user_names(&resp)
            }
        };
        assert_eq!(users(r#"userName eq "ada.lovelace@example.org""#).await, [ada_name]);
        assert_eq!(users(r#"userName Eq "ADA.LOVELACE@EXAMPLE.ORG""#).await, [ada_name]);
        assert_eq!(
            users(r#"externalId eq "8c0a2f4e-5b1d-4d3a-9a7e-0f6b1c2d3e4f""#).await,
            [grace]
        );
        assert_eq!(
            users(r#"emails[type eq "work"].value eq "grace.hopper@example.org""#).await,
            [grace]
        );
        assert_eq!(
            users(r#"emails[type eq "work"].value eq "GRACE.HOPPER@example.org""#).await,
            [grace]
        );
        assert_eq!(
            users(r#"userName eq "ada.lovelace@example.org" and active eq true"#).await,
            [ada_name]
        );
        assert_eq!(
            users(r#"meta.lastModified gt "2026-01-01T00:00:00Z""#).await,
            [ada_name, grace, "linus"]
        );
        assert!(users(r#"meta.lastModified gt "2999-01-01T00:00:00Z""#).await.is_empty());
        let (_, groups) = filtered(&app, &t, "Groups", r#"displayName eq "Safety Officers""#).await;
        assert_eq!(groups["totalResults"], 1, "{groups}");
        assert_eq!(groups["Resources"][0]["displayName"], "Safety Officers");

        // A deactivated user no longer matches `active eq true`.
        let (status, _) = send(&app, &t, "okta-deactivate-pathless.json", &ada_id, &[]).await;
        assert_eq!(status, 200);
        assert!(
            users(r#"userName eq "ada.lovelace@example.org" and active eq true"#)
                .await
                .is_empty()
        );
        assert_eq!(users("active eq false").await, [ada_name]);

        // No match: 200 with nothing.
        let (status, resp) = filtered(&app, &t, "Users", r#"userName eq "nobody@example.org""#).await;
        assert_eq!(status, 200, "{resp}");
        assert_eq!(resp["totalResults"], 0);
        assert!(resp["Resources"].as_array().is_none_or(Vec::is_empty), "{resp}");
        let (status, resp) = filtered(&app, &t, "Groups", r#"displayName eq "Nobody""#).await;
        assert_eq!((status, resp["totalResults"].as_i64()), (200, Some(0)));
        assert!(users(r#"userName eq "outsider""#).await.is_empty());
    }
);

both_backends!(filter_operators_and_invalid_filters, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let t = app.scim_token("idp").await;
    let (status, _) = send(&app, &t, "okta-create-user.json", "", &[]).await;
    assert_eq!(status, 201);
    let (status, _) = send(&app, &t, "entra-create-user.json", "", &[]).await;
    assert_eq!(status, 201);
    create_user(&app, &t, "linus", json!({})).await;
    let ada = "ada.lovelace@example.org";
    let grace = "grace.hopper@example.org";

    let users = |f: &'static str| {
        let app = &app;
        let t = &t;
        async move {
            let (status, resp) = filtered(app, t, "Users", f).await;
            assert_eq!(status, 200, "{f}: {resp}");
            user_names(&resp)
        }
    };
    assert_eq!(users(r#"userName co "LOVELACE""#).await, [ada]);
    assert_eq!(users(r#"userName sw "grace""#).await, [grace]);
    assert_eq!(users(r#"userName ew "@example.org""#).await, [ada, grace]);
    assert_eq!(users(r#"emails.value ew "example.org""#).await, [ada, grace, "linus"]);
    assert_eq!(users("externalId pr").await, [ada, grace]);
    assert_eq!(
        users(r#"not (userName eq "ada.lovelace@example.org")"#).await,
        [grace, "linus"]
    );
    assert_eq!(
        users(r#"userName eq "ada.lovelace@example.org" or userName eq "linus""#).await,
        [ada, "linus"]
    );
    assert_eq!(
        users(r#"(userName sw "ada" or userName sw "grace") and not (externalId eq "00u1ab2cd3EF4gh5i6j7")"#).await,
        [grace]
    );
    assert_eq!(users(r#"name.familyName eq "hopper""#).await, [grace]);
    // Each operator on first and last names, which never match each other's part.
    assert_eq!(users(r#"name.givenName eq "GRACE""#).await, [grace]);
    assert_eq!(users(r#"name.givenName sw "a""#).await, [ada]);
    assert_eq!(users(r#"name.givenName ew "t""#).await, ["linus"]);
    assert_eq!(users(r#"name.givenName ne "Ada""#).await, [grace, "linus"]);
    assert!(
        users(r#"name.givenName co "lin""#).await.is_empty(),
        "linus is a family name"
    );
    assert_eq!(users(r#"name.familyName co "OPP""#).await, [grace]);
    assert_eq!(users(r#"name.familyName ew "us""#).await, ["linus"]);
    assert!(
        users(r#"name.familyName sw "test""#).await.is_empty(),
        "Test is a given name"
    );
    // Case is ignored in any script, on SQLite too.
    create_user(
        &app,
        &t,
        "emile",
        json!({"name": {"givenName": "Émile", "familyName": "Zola"}}),
    )
    .await;
    assert_eq!(users(r#"name.givenName eq "émile""#).await, ["emile"]);
    assert_eq!(users(r#"name.givenName sw "ÉM""#).await, ["emile"]);
    assert_eq!(
        users(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "North""#).await,
        [grace]
    );

    // 10,000 open brackets: refused as a filter, not a crash.
    let deep = format!("{}userName eq \"x\"{}", "(".repeat(10_000), ")".repeat(10_000));
    let (status, resp) = filtered(&app, &t, "Users", &deep).await;
    assert_error(status, &resp, 400, Some("invalidFilter"));
    let (status, resp) = app
        .scim(
            "POST",
            "/Users/.search",
            &t,
            Some(json!({"filter": "(".repeat(10_000)})),
        )
        .await;
    assert_error(status, &resp, 400, Some("invalidFilter"));
    let just_deep = format!("{}userName eq \"x\"{}", "(".repeat(40), ")".repeat(40));
    let (status, resp) = filtered(&app, &t, "Users", &just_deep).await;
    assert_error(status, &resp, 400, Some("invalidFilter"));
    // Unknown operator, unknown attribute, malformed.
    for bad in [
        r#"userName xx "ada""#,
        r#"userName like "ada""#,
        r#"shoeSize eq "9""#,
        r#"userName eq"#,
        r#"userName eq "ada" and"#,
        r#"active gt true"#,
    ] {
        let (status, resp) = filtered(&app, &t, "Users", bad).await;
        assert_error(status, &resp, 400, Some("invalidFilter"));
    }
    let (status, resp) = filtered(&app, &t, "Groups", r#"displayName zz "x""#).await;
    assert_error(status, &resp, 400, Some("invalidFilter"));
});

/// Creates `n` users through SCIM; returns their ids in id order.
async fn many_users(app: &TestApp, token: &str, n: usize) -> Vec<String> {
    let mut created = vec![];
    for i in 0..n {
        created.push(create_user(app, token, &format!("user{i}"), json!({})).await);
    }
    created.sort_by_key(|i| i.parse::<i64>().unwrap());
    created
}

both_backends!(start_index_pages_by_id, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let t = app.scim_token("idp").await;
    let by_id = many_users(&app, &t, 7).await;

    // Groups page the same way.
    let mut groups = vec![];
    for name in ["G1", "G2", "G3", "G4"] {
        let (status, g) = app
            .scim("POST", "/Groups", &t, Some(json!({"displayName": name})))
            .await;
        assert_eq!(status, 201, "{g}");
        groups.push(g["id"].as_str().unwrap().to_owned());
    }
    let page = get_ok(&app, &t, "/Groups?startIndex=2&count=2").await;
    assert_eq!(
        (page["totalResults"].as_i64(), page["startIndex"].as_i64()),
        (Some(4), Some(2))
    );
    assert_eq!(ids(&page), groups[1..3].to_vec());

    let page = get_ok(&app, &t, "/Users?startIndex=3&count=2").await;
    assert_eq!(page["totalResults"], json!(7));
    assert_eq!(page["startIndex"], json!(3));
    assert_eq!(page["itemsPerPage"], json!(2));
    assert_eq!(ids(&page), by_id[2..4].to_vec(), "the 3rd and 4th by id: {page}");
    // Stable: the same page again, and pages that tile the whole list.
    assert_eq!(
        ids(&get_ok(&app, &t, "/Users?startIndex=3&count=2").await),
        by_id[2..4].to_vec()
    );
    let mut all = vec![];
    for start in [1, 4, 7] {
        all.extend(ids(
            &get_ok(&app, &t, &format!("/Users?startIndex={start}&count=3")).await
        ));
    }
    assert_eq!(all, by_id);
    let page = get_ok(&app, &t, "/Users?startIndex=7&count=5").await;
    assert_eq!(
        (page["itemsPerPage"].as_i64(), ids(&page)),
        (Some(1), vec![by_id[6].clone()])
    );
    let page = get_ok(&app, &t, "/Users?startIndex=50").await;
    assert_eq!(
        (page["totalResults"].as_i64(), page["itemsPerPage"].as_i64()),
        (Some(7), Some(0))
    );
    // The same in a search body.
    let (status, page) = app
        .scim("POST", "/Users/.search", &t, Some(json!({"startIndex": 3, "count": 2})))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), by_id[2..4].to_vec());
});

both_backends!(list_counts_are_numbers_and_capped, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let t = app.scim_token("idp").await;
    let by_id = many_users(&app, &t, 7).await;

    let page = get_ok(&app, &t, "/Users?count=2").await;
    assert_eq!(
        page["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    for key in ["totalResults", "startIndex", "itemsPerPage"] {
        assert!(page[key].is_i64(), "{key} is a JSON number: {page}");
    }
    assert_eq!(
        (page["totalResults"].as_i64(), page["startIndex"].as_i64()),
        (Some(7), Some(1))
    );
    assert_eq!(ids(&page), by_id[..2].to_vec());
    assert_eq!(ids(&get_ok(&app, &t, "/Users").await), by_id, "ordered by id");

    // count=0: the total only.
    let page = get_ok(&app, &t, "/Users?count=0").await;
    assert_eq!(page["totalResults"], json!(7));
    assert_eq!(page["itemsPerPage"], json!(0));
    assert!(page["Resources"].as_array().is_none_or(Vec::is_empty), "{page}");
    let (status, resp) = app.scim("GET", "/Users?count=two", &t, None).await;
    assert_error(status, &resp, 400, Some("invalidValue"));

    // count above 200 is capped at 200; the default page is 100 (inactive users: the plan has 100 seats).
    let mut by_id = by_id;
    for i in 7..205 {
        by_id.push(create_user(&app, &t, &format!("user{i}"), json!({"active": false})).await);
    }
    by_id.sort_by_key(|i| i.parse::<i64>().unwrap());
    let page = get_ok(&app, &t, "/Users?count=1000").await;
    assert_eq!(page["totalResults"], json!(205));
    assert_eq!(page["itemsPerPage"], json!(200));
    assert_eq!(ids(&page), by_id[..200].to_vec());
    let (status, page) = app
        .scim("POST", "/Users/.search", &t, Some(json!({"count": 5000})))
        .await;
    assert_eq!((status, page["itemsPerPage"].as_i64()), (200, Some(200)));
    let page = get_ok(&app, &t, "/Users").await;
    assert_eq!(page["itemsPerPage"], json!(100), "the default page");
});

both_backends!(deactivation_frees_a_seat_and_keeps_records, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let t = app.scim_token("idp").await;
    let root = app.user("root", "administrator", &[]).await;
    let admin = app.token("root-token", root).await;
    let (status, ada) = send(&app, &t, "okta-create-user.json", "", &[]).await;
    assert_eq!(status, 201);
    let id = ada["id"].as_str().unwrap().to_owned();
    let path = format!("/Users/{id}");
    let (_, plan) = app.call("GET", "/api/v1/plan", Some(&admin), None).await;
    assert_eq!(plan["seats_used"], 2, "{plan}");

    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let (status, resp) = app.scim("PATCH", &path, &t, Some(patch.clone())).await;
    assert_eq!((status, &resp["active"]), (200, &json!(false)), "{resp}");
    let (_, plan) = app.call("GET", "/api/v1/plan", Some(&admin), None).await;
    assert_eq!(plan["seats_used"], 1, "{plan}");
    let (status, rest) = app
        .call("GET", &format!("/api/v1/users/{id}"), Some(&admin), None)
        .await;
    assert_eq!(status, 200, "{rest}");
    assert_eq!(rest["status"], "deactivated");
    assert_eq!(rest["username"], "ada.lovelace@example.org");
    assert_eq!(rest["external_id"], "00u1ab2cd3EF4gh5i6j7");
    assert!(
        rest.get("password").is_none() && rest.get("password_hash").is_none(),
        "{rest}"
    );
    assert_eq!(get_ok(&app, &t, &path).await["active"], false);
    // Deactivating again changes nothing.
    let (status, _) = app.scim("PATCH", &path, &t, Some(patch)).await;
    assert_eq!(status, 200);
    assert_eq!(seats_used(&app).await, 1);
    // Created inactive: no seat taken.
    create_user(&app, &t, "dormant", json!({"active": false})).await;
    assert_eq!(seats_used(&app).await, 1);
});

both_backends!(delete_unlinks_and_a_new_post_relinks, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let t = app.scim_token("idp").await;
    let (status, ada) = send(&app, &t, "okta-create-user.json", "", &[]).await;
    assert_eq!(status, 201);
    let id = ada["id"].as_str().unwrap().to_owned();
    let path = format!("/Users/{id}");
    assert_eq!(seats_used(&app).await, 1);

    // DELETE (default): deactivated and unlinked; SCIM answers 404, the record stays.
    let (status, resp) = app.scim("DELETE", &path, &t, None).await;
    assert_eq!(status, 204, "{resp}");
    let (status, resp) = app.scim("GET", &path, &t, None).await;
    assert_error(status, &resp, 404, None);
    let (status, resp) = app.scim("DELETE", &path, &t, None).await;
    assert_error(status, &resp, 404, None);
    let (status, resp) = app
        .scim("PATCH", &path, &t, Some(body("okta-deactivate-pathless.json", &[])))
        .await;
    assert_error(status, &resp, 404, None);
    let (status, resp) = filtered(&app, &t, "Users", r#"userName eq "ada.lovelace@example.org""#).await;
    assert_eq!((status, resp["totalResults"].as_i64()), (200, Some(0)), "{resp}");
    assert_eq!(user_view(&app, &id).await.status, "deactivated");
    assert_eq!(seats_used(&app).await, 0);

    // A later POST of the same userName re-links and reactivates the same account.
    let (status, again) = send(&app, &t, "okta-create-user.json", "", &[]).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["id"], json!(id));
    assert_eq!(again["active"], true);
    assert_eq!(user_view(&app, &id).await.status, "active");
    assert_eq!(seats_used(&app).await, 1);
    assert_eq!(
        get_ok(&app, &t, &path).await["active"],
        true,
        "re-linked: SCIM sees it again"
    );
    let (_, list) = filtered(&app, &t, "Users", r#"userName eq "ada.lovelace@example.org""#).await;
    assert_eq!(list["totalResults"], 1, "{list}");
});

both_backends!(delete_moves_to_the_trash_when_set, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let t = app.scim_token("idp").await;
    let root = app.user("root", "administrator", &[]).await;
    let admin = app.token("root-token", root).await;
    let (status, ada) = send(&app, &t, "okta-create-user.json", "", &[]).await;
    assert_eq!(status, 201);
    let id = ada["id"].as_str().unwrap().to_owned();
    let path = format!("/Users/{id}");
    app.service
        .set_setting(&Context::cli(), "scim_delete", "delete")
        .await
        .unwrap();

    let (status, _) = app.scim("DELETE", &path, &t, None).await;
    assert_eq!(status, 204);
    let (status, resp) = app.scim("GET", &path, &t, None).await;
    assert_error(status, &resp, 404, None);
    let (status, trash) = app.call("GET", "/api/v1/users?status=trash", Some(&admin), None).await;
    assert_eq!(status, 200, "{trash}");
    let in_trash: Vec<i64> = trash["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    assert_eq!(in_trash, [id.parse::<i64>().unwrap()], "{trash}");
    assert_eq!(user_view(&app, &id).await.status, "trash");
    assert_eq!(seats_used(&app).await, 1, "only root holds a seat");
    let page = app
        .service
        .list_users(
            &Context::cli(),
            &UserFilter {
                status: Some(UserStatus::Trash),
                ..UserFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    // A trashed account keeps its userName until purged.
    let (status, resp) = send(&app, &t, "okta-create-user.json", "", &[]).await;
    assert_error(status, &resp, 409, Some("uniqueness"));
});

both_backends!(uniqueness_and_user_types, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let t = app.scim_token("idp").await;
    let (status, _) = send(&app, &t, "okta-create-user.json", "", &[]).await;
    assert_eq!(status, 201);

    // userName and email are unique ignoring case.
    let mut dup = body("okta-create-user.json", &[]);
    dup["userName"] = json!("ADA.Lovelace@Example.ORG");
    dup["emails"] = json!([{"value": "someone.else@example.org", "primary": true}]);
    let (status, resp) = app.scim("POST", "/Users", &t, Some(dup)).await;
    assert_error(status, &resp, 409, Some("uniqueness"));
    let mut dup = body("okta-create-user.json", &[]);
    dup["userName"] = json!("ada2");
    dup["emails"] = json!([{"value": "ADA.LOVELACE@example.org", "primary": true}]);
    let (status, resp) = app.scim("POST", "/Users", &t, Some(dup)).await;
    assert_error(status, &resp, 409, Some("uniqueness"));
    let (_, list) = app.scim("GET", "/Users", &t, None).await;
    assert_eq!(list["totalResults"], 1, "{list}");
    // A rename onto another account's userName is refused too.
    let linus = create_user(&app, &t, "linus", json!({})).await;
    let rename = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "userName", "value": "Ada.Lovelace@example.org"}]});
    let (status, resp) = app.scim("PATCH", &format!("/Users/{linus}"), &t, Some(rename)).await;
    assert_error(status, &resp, 409, Some("uniqueness"));
    assert_eq!(user_view(&app, &linus).await.username, "linus");

    // userType: absent → default; a known non-admin type; unknown → default; admin → 403.
    let id = create_user(&app, &t, "plain", json!({})).await;
    assert_eq!(user_view(&app, &id).await.user_type, "Learner");
    let id = create_user(&app, &t, "teacher", json!({"userType": "Instructor"})).await;
    assert_eq!(user_view(&app, &id).await.user_type, "Instructor");
    assert_eq!(
        get_ok(&app, &t, &format!("/Users/{id}")).await["userType"],
        "Instructor"
    );
    let id = create_user(&app, &t, "wizard", json!({"userType": "Wizard"})).await;
    assert_eq!(user_view(&app, &id).await.user_type, "Learner");
    assert!(
        get_ok(&app, &t, &format!("/Users/{id}"))
            .await
            .get("userType")
            .is_none()
    );
    for (name, admin_type) in [
        ("boss", "Administrator"),
        ("branchboss", "Branch Administrator"),
        ("boss2", "administrator"),
    ] {
        let b = json!({"userName": name, "name": {"givenName": "B", "familyName": "Oss"}, "emails": [{"value": format!("{name}@example.org")}], "userType": admin_type});
        let (status, resp) = app.scim("POST", "/Users", &t, Some(b)).await;
        assert_error(status, &resp, 403, None);
        let (_, found) = filtered(&app, &t, "Users", &format!("userName eq \"{name}\"")).await;
        assert_eq!(found["totalResults"], 0, "{found}");
        let missing = app
            .service
            .get_user(&Context::cli(), &UserKey::Username(name.into()))
            .await;
        assert!(missing.is_err(), "{name} was created: {missing:?}");
    }
    // Promoting a user to an administrator by PATCH is refused the same way.
    let promote = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "userType", "value": "Administrator"}]});
    let (status, resp) = app.scim("PATCH", &format!("/Users/{linus}"), &t, Some(promote)).await;
    assert_error(status, &resp, 403, None);
    assert_eq!(user_view(&app, &linus).await.user_type, "Learner");
});

both_backends!(
    users_from_other_channels_are_invisible_unless_linking_is_on,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        let t = app.scim_token("idp").await;
        let bob = app.user("bob", "learner", &[]).await;
        let bob_scim = json!({"userName": "Bob", "name": {"givenName": "Bob", "familyName": "Builder"}, "emails": [{"value": "bob@example.org"}], "externalId": "okta-bob"});

        let (status, resp) = app.scim("GET", &format!("/Users/{bob}"), &t, None).await;
        assert_error(status, &resp, 404, None);
        let (_, list) = app.scim("GET", "/Users", &t, None).await;
        assert_eq!(list["totalResults"], 0, "{list}");
        let patch = body("okta-deactivate-pathless.json", &[]);
        let (status, resp) = app.scim("PATCH", &format!("/Users/{bob}"), &t, Some(patch)).await;
        assert_error(status, &resp, 404, None);
        let (status, resp) = app.scim("DELETE", &format!("/Users/{bob}"), &t, None).await;
        assert_error(status, &resp, 404, None);
        let (status, resp) = app.scim("POST", "/Users", &t, Some(bob_scim.clone())).await;
        assert_error(status, &resp, 409, Some("uniqueness"));
        let view = user_view(&app, &bob.to_string()).await;
        assert_eq!(
            (view.status.as_str(), view.last_name.as_str(), view.external_id.clone()),
            ("active", "bob", None)
        );

        // With scim_link_existing on, the POST links the account.
        app.service
            .set_setting(&Context::cli(), "scim_link_existing", "on")
            .await
            .unwrap();
        let (status, resp) = app.scim("POST", "/Users", &t, Some(bob_scim)).await;
        assert_eq!(status, 201, "{resp}");
        assert_eq!(resp["id"], json!(bob.to_string()));
        let got = get_ok(&app, &t, &format!("/Users/{bob}")).await;
        assert_eq!(got["externalId"], "okta-bob");
        assert_eq!(got["name"]["familyName"], "Builder");
        let view = user_view(&app, &bob.to_string()).await;
        assert_eq!((view.last_name.as_str(), view.origin.as_str()), ("Builder", "cli"));
        let (_, list) = app.scim("GET", "/Users", &t, None).await;
        assert_eq!(list["totalResults"], 1, "{list}");
    }
);

both_backends!(authentication_and_plan, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let t = app.scim_token("idp").await;
    let root = app.user("root", "administrator", &[]).await;
    let api = app.token("api", root).await;
    assert!(api.starts_with("rc_api_"));
    assert_eq!(get_ok(&app, &t, "/Users").await["totalResults"], 0);

    // No token.
    let resp = app
        .http
        .get(format!("{}/scim/v2/Users", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["content-type"], "application/scim+json");
    let b: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_error(401, &b, 401, None);
    let resp = app
        .http
        .post(format!("{}/scim/v2/Users", app.base))
        .header("content-type", "application/scim+json")
        .body(body("okta-create-user.json", &[]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // An API token, a made-up token, a revoked SCIM token.
    let (status, b) = app.scim("GET", "/Users", &api, None).await;
    assert_error(status, &b, 401, None);
    let (status, b) = app.scim("GET", "/Users", "rc_scim_nonsense", None).await;
    assert_error(status, &b, 401, None);
    let old = app.scim_token("old").await;
    assert_eq!(app.scim("GET", "/Users", &old, None).await.0, 200);
    app.service.revoke_token(&Context::cli(), "old").await.unwrap();
    let (status, b) = app.scim("GET", "/Users", &old, None).await;
    assert_error(status, &b, 401, None);
    let (status, b) = app
        .scim("POST", "/Users", &old, Some(body("okta-create-user.json", &[])))
        .await;
    assert_error(status, &b, 401, None);
    // A SCIM token is no good for the REST API either.
    assert_eq!(app.call("GET", "/api/v1/users", Some(&t), None).await.0, 401);
    // Nothing was created by any of them.
    assert_eq!(get_ok(&app, &t, "/Users").await["totalResults"], 0);
    assert_eq!(seats_used(&app).await, 1);

    // The free plan has no SCIM.
    app.service
        .set_plan(&Context::cli(), PlanTier::Free, None)
        .await
        .unwrap();
    let (status, b) = app.scim("GET", "/Users", &t, None).await;
    assert_error(status, &b, 403, None);
    let (status, b) = app
        .scim("POST", "/Users", &t, Some(body("okta-create-user.json", &[])))
        .await;
    assert_error(status, &b, 403, None);
    let (status, b) = app.scim("GET", "/Groups", &t, None).await;
    assert_error(status, &b, 403, None);
    assert!(
        app.service
            .get_user(&Context::cli(), &UserKey::Username("ada.lovelace@example.org".into()))
            .await
            .is_err()
    );
    app.service
        .set_plan(&Context::cli(), PlanTier::Core, None)
        .await
        .unwrap();
    let (status, _) = send(&app, &t, "okta-create-user.json", "", &[]).await;
    assert_eq!(status, 201);
});

both_backends!(concurrent_member_adds_all_land, |db: TestDb| async move {
    let app = Arc::new(TestApp::start(db).await);
    let t = app.scim_token("idp").await;
    let mut users = vec![];
    for i in 0..10 {
        users.push(create_user(&app, &t, &format!("member{i}"), json!({})).await);
    }
    let (status, group) = app
        .scim("POST", "/Groups", &t, Some(json!({"displayName": "Crowd"})))
        .await;
    assert_eq!(status, 201, "{group}");
    let g = group["id"].as_str().unwrap().to_owned();
    let path = format!("/Groups/{g}");

    let mut handles = vec![];
    for u in &users {
        let (app, t, path) = (app.clone(), t.clone(), path.clone());
        let patch = body("okta-group-add-members.json", &[("user1", u), ("user2", u)]);
        handles.push(tokio::spawn(
            async move { app.scim("PATCH", &path, &t, Some(patch)).await },
        ));
    }
    for h in handles {
        let (status, resp) = h.await.unwrap();
        assert!(status == 200 || status == 204, "{status} {resp}");
    }
    let got = get_ok(&app, &t, &path).await;
    let want: Vec<&str> = users.iter().map(String::as_str).collect();
    assert_eq!(members(&got), sorted(&want), "{got}");
    let groups = app.service.list_groups(&Context::cli()).await.unwrap();
    assert_eq!(groups[0].members, 10);

    // The same add again: 200, still one membership.
    for _ in 0..2 {
        let patch = body("entra-group-add-member.json", &[("user1", &users[0])]);
        let (status, resp) = app.scim("PATCH", &path, &t, Some(patch)).await;
        assert_eq!(status, 200, "{resp}");
        assert_eq!(members(&resp).len(), 10, "{resp}");
    }
    let got = get_ok(&app, &t, &path).await;
    assert_eq!(members(&got), sorted(&want));
    assert_eq!(user_view(&app, &users[0]).await.groups, ["Crowd"]);
});

both_backends!(attribute_projection_and_search, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let t = app.scim_token("idp").await;
    let (status, grace) = send(&app, &t, "entra-create-user.json", "", &[]).await;
    assert_eq!(status, 201);
    let id = grace["id"].as_str().unwrap().to_owned();
    create_user(&app, &t, "linus", json!({})).await;

    let got = get_ok(&app, &t, &format!("/Users/{id}?attributes=userName")).await;
    let mut keys: Vec<&str> = got.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["id", "schemas", "userName"], "{got}");
    assert_eq!(got["userName"], "grace.hopper@example.org");
    let list = get_ok(&app, &t, "/Users?attributes=userName").await;
    for r in list["Resources"].as_array().unwrap() {
        let mut keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["id", "schemas", "userName"], "{r}");
    }

    let got = get_ok(&app, &t, &format!("/Users/{id}?excludedAttributes=emails")).await;
    assert!(got.get("emails").is_none(), "{got}");
    assert_eq!(got["userName"], "grace.hopper@example.org");
    assert_eq!(got["name"]["givenName"], "Grace");
    assert_eq!(got[ENTERPRISE]["department"], "North");
    assert!(got.get("meta").is_some() && got.get("id").is_some());

    // POST /Users/.search with a filter (and attributes as a list).
    let search = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "userName sw \"GRACE\"",
        "attributes": ["userName", "name.familyName"],
        "startIndex": 1,
        "count": 10
    });
    let (status, resp) = app.scim("POST", "/Users/.search", &t, Some(search)).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["totalResults"], 1, "{resp}");
    assert_eq!(resp["Resources"][0]["id"], json!(id));
    assert_eq!(resp["Resources"][0]["name"], json!({"familyName": "Hopper"}));
    assert!(resp["Resources"][0].get("emails").is_none(), "{resp}");
    let (status, resp) = app
        .scim(
            "POST",
            "/Users/.search",
            &t,
            Some(json!({"filter": "userName eq \"linus\""})),
        )
        .await;
    assert_eq!((status, user_names(&resp)), (200, vec!["linus".to_owned()]), "{resp}");
    let (status, resp) = app
        .scim(
            "POST",
            "/Users/.search",
            &t,
            Some(json!({"filter": "userName qq \"linus\""})),
        )
        .await;
    assert_error(status, &resp, 400, Some("invalidFilter"));
});

both_backends!(content_types, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let t = app.scim_token("idp").await;

    // Answers are application/scim+json: a list, a resource, an error.
    for path in ["/Users", "/Users/999999", "/ServiceProviderConfig"] {
        let resp = app
            .http
            .get(format!("{}/scim/v2{path}", app.base))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("application/scim+json"), "{path}: {ct}");
        let _: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    }

    // A body sent as application/json is accepted too.
    let (status, resp) = app
        .call(
            "POST",
            "/scim/v2/Users",
            Some(&t),
            Some(body("okta-create-user.json", &[])),
        )
        .await;
    assert_eq!(status, 201, "{resp}");
    let id = resp["id"].as_str().unwrap().to_owned();
    let resp = app
        .http
        .patch(format!("{}/scim/v2/Users/{id}", app.base))
        .bearer_auth(&t)
        .header("content-type", "application/json; charset=utf-8")
        .body(body("okta-deactivate-pathless.json", &[]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/scim+json")
    );
    assert_eq!(get_ok(&app, &t, &format!("/Users/{id}")).await["active"], false);
    let resp = app
        .http
        .post(format!("{}/scim/v2/Users", app.base))
        .bearer_auth(&t)
        .header("content-type", "application/scim+json")
        .body(body("entra-create-user.json", &[]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/scim+json")
    );
    assert!(resp.headers()["location"].to_str().unwrap().contains("/scim/v2/Users/"));
    // Not JSON at all: a SCIM error.
    let resp = app
        .http
        .post(format!("{}/scim/v2/Users", app.base))
        .bearer_auth(&t)
        .header("content-type", "application/scim+json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let b: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_error(status, &b, 400, Some("invalidSyntax"));
});

/// Gives a user another type, as an administrator would (through the service, as the CLI).
async fn retype(app: &TestApp, id: &str, user_type: &str) {
    let upd = rollcall_core::service::UserUpdate {
        user_type: Some(user_type.into()),
        ..Default::default()
    };
    app.service
        .update_user(&Context::cli(), &UserKey::Id(UserId(id.parse().unwrap())), upd)
        .await
        .unwrap();
}

fn patch_op(op: &str, path: &str, value: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": op, "path": path, "value": value}]})
}

both_backends!(
    the_identity_provider_takes_access_away_whatever_the_type,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        let t = app.scim_token("idp").await;
        app.user("root", "administrator", &[]).await;
        let ada = create_user(&app, &t, "ada", json!({})).await;
        retype(&app, &ada, "administrator").await;
        let path = format!("/Users/{ada}");

        // Anything that adds or changes access stays beyond the identity provider's rank.
        for (what, patch) in [
            ("a name", patch_op("replace", "name.familyName", json!("Byron"))),
            ("the type", patch_op("replace", "userType", json!("Learner"))),
            (
                "the email",
                patch_op("replace", "emails[type eq \"work\"].value", json!("x@example.org")),
            ),
        ] {
            let (status, resp) = app.scim("PATCH", &path, &t, Some(patch)).await;
            assert_error(status, &resp, 403, None);
            let view = user_view(&app, &ada).await;
            assert_eq!(
                (view.user_type.as_str(), view.last_name.as_str()),
                ("Administrator", "ada"),
                "{what}"
            );
        }
        // Taking access away needs no rank.
        let (status, resp) = app
            .scim("PATCH", &path, &t, Some(patch_op("replace", "active", json!(false))))
            .await;
        assert_eq!((status, &resp["active"]), (200, &json!(false)), "{resp}");
        assert_eq!(user_view(&app, &ada).await.status, "deactivated");
        let (status, resp) = app
            .scim("PATCH", &path, &t, Some(patch_op("replace", "active", json!(false))))
            .await;
        assert_eq!(status, 200, "again: {resp}");
        let (status, resp) = app
            .scim("PATCH", &path, &t, Some(body("okta-reactivate-pathless.json", &[])))
            .await;
        assert_error(status, &resp, 403, None);
        assert_eq!(user_view(&app, &ada).await.status, "deactivated");

        // PUT of the whole user with active false, from a type above the IdP's (Entra's
        // string boolean too).
        let bea = create_user(&app, &t, "bea", json!({})).await;
        retype(&app, &bea, "branch-administrator").await;
        let put = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "bea",
            "name": {"givenName": "Test", "familyName": "bea"},
            "emails": [{"value": "bea@example.org", "primary": true}],
            "active": false,
        });
        let (status, resp) = app.scim("PUT", &format!("/Users/{bea}"), &t, Some(put)).await;
        assert_eq!((status, &resp["active"]), (200, &json!(false)), "{resp}");
        assert_eq!(user_view(&app, &bea).await.status, "deactivated");
        let eve = create_user(&app, &t, "eve", json!({})).await;
        retype(&app, &eve, "administrator").await;
        let (status, resp) = app
            .scim(
                "PATCH",
                &format!("/Users/{eve}"),
                &t,
                Some(body("entra-disable-string-bool.json", &[])),
            )
            .await;
        assert_eq!(status, 200, "{resp}");
        assert_eq!(user_view(&app, &eve).await.status, "deactivated");

        // Deprovisioning with the IdP's whole picture — another type, another name — still
        // takes access away; the rest is ignored.
        let fay = create_user(&app, &t, "fay", json!({})).await;
        retype(&app, &fay, "administrator").await;
        let put = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "fay",
            "userType": "learner",
            "name": {"givenName": "Fay", "familyName": "Renamed"},
            "emails": [{"value": "fay.new@example.org", "primary": true}],
            "active": false,
        });
        let (status, resp) = app.scim("PUT", &format!("/Users/{fay}"), &t, Some(put)).await;
        assert_eq!((status, &resp["active"]), (200, &json!(false)), "{resp}");
        let view = user_view(&app, &fay).await;
        assert_eq!(
            (view.status.as_str(), view.user_type.as_str(), view.email.as_str()),
            ("deactivated", "Administrator", "fay@example.org")
        );

        // DELETE deactivates and unlinks — even when deletion is set to move accounts to the
        // trash (whose retention ends in erasure): above the IdP's rank it only deactivates.
        app.service
            .set_setting(&Context::cli(), "scim_delete", "delete")
            .await
            .unwrap();
        let cid = create_user(&app, &t, "cid", json!({})).await;
        retype(&app, &cid, "administrator").await;
        let (status, resp) = app.scim("DELETE", &format!("/Users/{cid}"), &t, None).await;
        assert_eq!(status, 204, "{resp}");
        let (status, resp) = app.scim("GET", &format!("/Users/{cid}"), &t, None).await;
        assert_error(status, &resp, 404, None);
        assert_eq!(user_view(&app, &cid).await.status, "deactivated");
        app.service
            .set_setting(&Context::cli(), "scim_delete", "deactivate")
            .await
            .unwrap();

        // The last administrator stays: a SCIM error, never a 5xx, and nothing changes.
        let dee = create_user(&app, &t, "dee", json!({})).await;
        retype(&app, &dee, "administrator").await;
        app.service
            .deactivate_user(&Context::cli(), &UserKey::Username("root".into()))
            .await
            .unwrap();
        let (status, resp) = app
            .scim(
                "PATCH",
                &format!("/Users/{dee}"),
                &t,
                Some(patch_op("replace", "active", json!(false))),
            )
            .await;
        assert_error(status, &resp, 400, Some("invalidValue"));
        let (status, resp) = app.scim("DELETE", &format!("/Users/{dee}"), &t, None).await;
        assert_error(status, &resp, 400, Some("invalidValue"));
        assert_eq!(user_view(&app, &dee).await.status, "active");
        assert_eq!(get_ok(&app, &t, &format!("/Users/{dee}")).await["active"], true);
    }
);

both_backends!(
    group_members_are_scim_users_and_strangers_get_one_error,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        let t = app.scim_token("idp").await;
        let sue = create_user(&app, &t, "sue", json!({})).await;
        let pam = create_user(&app, &t, "pam", json!({})).await;
        retype(&app, &pam, "administrator").await;
        let local = app.user("local", "learner", &[]).await.to_string();
        let gone = create_user(&app, &t, "gone", json!({})).await;
        app.service
            .set_setting(&Context::cli(), "scim_delete", "delete")
            .await
            .unwrap();
        let (status, _) = app.scim("DELETE", &format!("/Users/{gone}"), &t, None).await;
        assert_eq!(status, 204);
        let unlinked = create_user(&app, &t, "unlinked", json!({})).await;
        app.service
            .set_setting(&Context::cli(), "scim_delete", "deactivate")
            .await
            .unwrap();
        let (status, _) = app.scim("DELETE", &format!("/Users/{unlinked}"), &t, None).await;
        assert_eq!(status, 204);

        let (status, group) = app
            .scim(
                "POST",
                "/Groups",
                &t,
                Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Crew"})),
            )
            .await;
        assert_eq!(status, 201, "{group}");
        let gpath = format!("/Groups/{}", group["id"].as_str().unwrap());
        let add = |id: &str| patch_op("add", "members", json!([{"value": id}]));
        let mut answers = vec![];
        for (case, id) in [
            ("no such user", "987654"),
            ("made outside SCIM", local.as_str()),
            ("in the trash", gone.as_str()),
            ("unlinked by a DELETE", unlinked.as_str()),
        ] {
            let (status, resp) = app.scim("PATCH", &gpath, &t, Some(add(id))).await;
            assert_error(status, &resp, 400, Some("invalidValue"));
            answers.push((case, status, resp));
        }
        let (status, resp) = app
            .scim(
                "POST",
                "/Groups",
                &t,
                Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Other", "members": [{"value": local}]})),
            )
            .await;
        answers.push(("created with a member made outside SCIM", status, resp));
        for (case, status, resp) in &answers[1..] {
            assert_eq!(
                (status, resp),
                (&answers[0].1, &answers[0].2),
                "{case} answers differently from {}",
                answers[0].0
            );
        }
        assert!(
            get_ok(&app, &t, &gpath)
                .await
                .get("members")
                .is_none_or(|m| m == &json!([]))
        );
        assert!(user_view(&app, &local).await.groups.is_empty());

        let (status, resp) = app.scim("PATCH", &gpath, &t, Some(add(&sue))).await;
        assert_eq!(status, 200, "{resp}");
        assert_eq!(members(&get_ok(&app, &t, &gpath).await), vec![sue]);
        // Membership adds access: not for a user above the identity provider's rank.
        let (status, resp) = app.scim("PATCH", &gpath, &t, Some(add(&pam))).await;
        assert_error(status, &resp, 403, None);
        assert!(user_view(&app, &pam).await.groups.is_empty());
    }
);

both_backends!(
    scim_link_existing_never_links_an_account_above_instructor,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        let t = app.scim_token("idp").await;
        app.service
            .set_setting(&Context::cli(), "scim_link_existing", "on")
            .await
            .unwrap();
        app.user("root", "administrator", &[]).await;
        app.user("boss", "branch-administrator", &[]).await;
        let teach = app.user("teach", "instructor", &[]).await;
        let post = |name: &str| json!({"userName": name, "name": {"givenName": "G", "familyName": "F"}, "emails": [{"value": format!("{name}@example.org")}]});
        for name in ["root", "boss"] {
            let (status, resp) = app.scim("POST", "/Users", &t, Some(post(name))).await;
            assert_error(status, &resp, 409, Some("uniqueness"));
            let (_, found) = filtered(&app, &t, "Users", &format!("userName eq \"{name}\"")).await;
            assert_eq!(found["totalResults"], 0, "{name} was linked: {found}");
        }
        let (status, resp) = app.scim("POST", "/Users", &t, Some(post("teach"))).await;
        assert_eq!((status, &resp["id"]), (201, &json!(teach.to_string())), "{resp}");

        // An account SCIM made, promoted by an administrator and then unlinked by a DELETE,
        // doesn't come back to the identity provider either.
        let zed = create_user(&app, &t, "zed", json!({})).await;
        retype(&app, &zed, "administrator").await;
        let (status, _) = app.scim("DELETE", &format!("/Users/{zed}"), &t, None).await;
        assert_eq!(status, 204);
        let (status, resp) = app.scim("POST", "/Users", &t, Some(post("zed"))).await;
        assert_error(status, &resp, 409, Some("uniqueness"));
        let view = user_view(&app, &zed).await;
        assert_eq!(
            (view.status.as_str(), view.user_type.as_str()),
            ("deactivated", "Administrator")
        );
    }
);

both_backends!(
    requests_that_change_nothing_write_no_audit_entry,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        let token = app.scim_token("idp").await;
        let id = create_user(&app, &token, "ada", json!({"active": true})).await;
        let count = || async {
            let filter = AuditFilter {
                limit: Some(10_000),
                ..AuditFilter::default()
            };
            app.service.list_audit(&Context::cli(), &filter).await.unwrap().len()
        };
        let before = count().await;
        // Entra's periodic "active: True", and a PUT of what is already there.
        let enable: Value = serde_json::from_str(fixture("entra-enable-string-bool.json")).unwrap();
        let (status, body) = app.scim("PATCH", &format!("/Users/{id}"), &token, Some(enable)).await;
        assert_eq!(status, 200, "{body}");
        let same = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ada",
            "name": {"givenName": "Test", "familyName": "ada"},
            "emails": [{"value": "ada@example.org", "primary": true}],
            "active": true
        });
        let (status, body) = app.scim("PUT", &format!("/Users/{id}"), &token, Some(same)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(count().await, before, "nothing changed, nothing recorded");
    }
);

both_backends!(a_user_needs_only_a_username, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let t = app.scim_token("idp").await;
    let post = |body: Value| app.scim("POST", "/Users", &t, Some(body));
    let schema = json!(["urn:ietf:params:scim:schemas:core:2.0:User"]);
    // userName alone (an Entra UPN): the names come from its part before '@'.
    let (status, only) = post(json!({"schemas": schema, "userName": "grace@example.org"})).await;
    assert_eq!(status, 201, "{only}");
    let v = user_view(&app, only["id"].as_str().unwrap()).await;
    assert_eq!((v.first_name.as_str(), v.last_name.as_str()), ("grace", "grace"));
    // displayName, else name.formatted.
    let (status, shown) = post(json!({
        "schemas": schema, "userName": "ada@example.org", "displayName": "Ada Lovelace"
    }))
    .await;
    assert_eq!(status, 201, "{shown}");
    let ada = shown["id"].as_str().unwrap().to_owned();
    let v = user_view(&app, &ada).await;
    assert_eq!((v.first_name.as_str(), v.last_name.as_str()), ("Ada", "Lovelace"));
    let (status, formatted) = post(json!({
        "schemas": schema, "userName": "mary@example.org", "name": {"formatted": "Mary Somerville"}
    }))
    .await;
    assert_eq!(status, 201, "{formatted}");
    let v = user_view(&app, formatted["id"].as_str().unwrap()).await;
    assert_eq!((v.first_name.as_str(), v.last_name.as_str()), ("Mary", "Somerville"));
    // Names the IdP sends later replace the derived ones.
    let (status, body) = app
        .scim(
            "PATCH",
            &format!("/Users/{ada}"),
            &t,
            Some(patch_op("replace", "name.givenName", json!("Augusta Ada"))),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(user_view(&app, &ada).await.first_name, "Augusta Ada");
});

both_backends!(
    groups_made_in_rollcall_are_linked_when_the_setting_allows,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        let t = app.scim_token("idp").await;
        let group = |name: &str| rollcall_core::service::NewGroup {
            name: name.into(),
            description: String::new(),
            branch: None,
            key: None,
        };
        let made = app
            .service
            .add_group(&Context::cli(), group("Night Shift"))
            .await
            .unwrap();
        app.service
            .add_group(&Context::cli(), group("Day Shift"))
            .await
            .unwrap();
        let ada = create_user(&app, &t, "ada", json!({})).await;

        // Off (the default): a group made in rollcall is not the identity provider's.
        let (status, list) = filtered(&app, &t, "Groups", r#"displayName eq "Night Shift""#).await;
        assert_eq!((status, list["totalResults"].as_i64()), (200, Some(0)), "{list}");
        let (status, _) = app.scim("GET", &format!("/Groups/{}", made.id), &t, None).await;
        assert_eq!(status, 404);
        let post = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Night Shift", "externalId": "okta-night"});
        let (status, body) = app.scim("POST", "/Groups", &t, Some(post.clone())).await;
        assert_eq!(status, 409, "{body}");

        app.service
            .set_setting(&Context::cli(), "scim_link_existing_groups", "on")
            .await
            .unwrap();
        // On: the filter finds it, and a POST of its name links it instead of refusing.
        let (status, list) = filtered(&app, &t, "Groups", r#"displayName eq "night shift""#).await;
        assert_eq!((status, list["totalResults"].as_i64()), (200, Some(1)), "{list}");
        assert_eq!(list["Resources"][0]["id"], made.id.to_string());
        let mut with_member = post.clone();
        with_member["members"] = json!([{"value": ada}]);
        let (status, body) = app.scim("POST", "/Groups", &t, Some(with_member)).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["id"], made.id.to_string(), "the same group, not a new one");
        assert_eq!(body["externalId"], "okta-night");
        assert_eq!(body["members"][0]["value"], ada);
        // Linked now: a second POST of the name is a duplicate.
        let (status, body) = app.scim("POST", "/Groups", &t, Some(post)).await;
        assert_eq!(status, 409, "{body}");

        // A PATCH to a group found by filter links it too.
        let (_, list) = filtered(&app, &t, "Groups", r#"displayName eq "Day Shift""#).await;
        let day = list["Resources"][0]["id"].as_str().unwrap().to_owned();
        let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": ada}]}]});
        let (status, body) = app.scim("PATCH", &format!("/Groups/{day}"), &t, Some(patch)).await;
        assert_eq!(status, 200, "{body}");

        // Both stay the identity provider's when the setting goes off again.
        app.service
            .set_setting(&Context::cli(), "scim_link_existing_groups", "off")
            .await
            .unwrap();
        let (_, list) = app.scim("GET", "/Groups", &t, None).await;
        assert_eq!(list["totalResults"], 2, "{list}");
        let root = app.user("root", "administrator", &[]).await;
        let admin = app.token("root", root).await;
        let audit = app
            .ok("GET", "/api/v1/audit?action=group.update", Some(&admin), None)
            .await;
        assert!(audit.to_string().contains("scim_linked"), "linking is audited: {audit}");
    }
);
