//! The authorization matrix: every route × every kind of caller → the expected status.

use super::*;
use rollcall_core::service::{BulkAction, NewGroup};
use rollcall_core::{Actor, Channel};
use std::collections::HashMap;

/// Columns of the matrix, in order.
pub const ACTORS: [&str; 9] = [
    "admin",
    "branch_admin",
    // A branch administrator of both A and B.
    "branches_admin",
    "instructor",
    "learner",
    "custom",
    "none",
    "revoked",
    "deactivated",
];

/// One route: its method, its OpenAPI path, the concrete path and body (with placeholders),
/// and the expected status for each actor in `ACTORS` order.
pub struct Row {
    pub method: &'static str,
    pub route: &'static str,
    pub path: &'static str,
    pub body: Option<&'static str>,
    pub expect: [u16; 9],
}

const fn admins(s: u16) -> [u16; 9] {
    [s, s, s, 403, 403, 403, 401, 401, 401]
}
const fn admin_only(s: u16) -> [u16; 9] {
    [s, 403, 403, 403, 403, 403, 401, 401, 401]
}
const fn signed_in(s: u16) -> [u16; 9] {
    [s, s, s, s, s, s, 401, 401, 401]
}
/// The administrator and teach (the instructor who owns TCH); not a branch administrator of
/// another branch.
const fn owner_of_tch(s: u16) -> [u16; 9] {
    [s, 403, 403, s, 403, 403, 401, 401, 401]
}
/// As `owner_of_tch`, plus the learner acting on their own enrollment.
const fn owner_of_tch_or_self(s: u16) -> [u16; 9] {
    [s, 403, 403, s, s, 403, 401, 401, 401]
}
/// The administrator, and both branch administrators alike.
const fn split(admin: u16, branch_admin: u16) -> [u16; 9] {
    split3(admin, branch_admin, branch_admin)
}
/// The administrator, the branch-A administrator, the administrator of branches A and B.
const fn split3(admin: u16, branch_a: u16, branches_ab: u16) -> [u16; 9] {
    [admin, branch_a, branches_ab, 403, 403, 403, 401, 401, 401]
}

macro_rules! row {
    ($m:literal, $route:literal, $path:literal, $body:expr, $expect:expr) => {
        Row {
            method: $m,
            route: $route,
            path: $path,
            body: $body,
            expect: $expect,
        }
    };
}

pub fn rows() -> Vec<Row> {
    vec![
        row!("GET", "/api/v1/users", "/api/v1/users", None, admins(200)),
        row!(
            "POST",
            "/api/v1/users",
            "/api/v1/users",
            Some(r#"{"username":"new_{actor}","email":"new_{actor}@example.org","first_name":"N","last_name":"N"}"#),
            // An administrator of two branches names the one the user joins.
            split3(201, 201, 400)
        ),
        // Nobody below Administrator creates, promotes to, or acts on an Administrator.
        row!(
            "POST",
            "/api/v1/users",
            "/api/v1/users",
            Some(
                r#"{"username":"adm_{actor}","email":"adm_{actor}@example.org","first_name":"N","last_name":"N","user_type":"administrator"}"#
            ),
            split3(201, 403, 400)
        ),
        row!("GET", "/api/v1/users/{id}", "/api/v1/users/{userA}", None, admins(200)),
        // A branch-A administrator asking for a branch-B user: 404.
        row!(
            "GET",
            "/api/v1/users/{id}",
            "/api/v1/users/{userB}",
            None,
            split3(200, 404, 200)
        ),
        row!(
            "POST",
            "/api/v1/users/{id}/deactivate",
            "/api/v1/users/{adminA}/deactivate",
            None,
            split(200, 403)
        ),
        row!(
            "PATCH",
            "/api/v1/users/{id}",
            "/api/v1/users/{v}",
            Some(r#"{"first_name":"Changed"}"#),
            admins(200)
        ),
        row!(
            "PATCH",
            "/api/v1/users/{id}",
            "/api/v1/users/{v}",
            Some(r#"{"user_type":"administrator"}"#),
            split(200, 403)
        ),
        row!(
            "POST",
            "/api/v1/users/{id}/deactivate",
            "/api/v1/users/{w}/deactivate",
            None,
            admins(200)
        ),
        row!(
            "DELETE",
            "/api/v1/users/{id}/sessions",
            "/api/v1/users/{v}/sessions",
            None,
            admins(200)
        ),
        row!(
            "POST",
            "/api/v1/users/{id}/activate",
            "/api/v1/users/{w}/activate",
            None,
            admins(200)
        ),
        row!(
            "DELETE",
            "/api/v1/users/{id}",
            "/api/v1/users/{w}?confirm=w_{actor}",
            None,
            admins(200)
        ),
        row!(
            "POST",
            "/api/v1/users/{id}/restore",
            "/api/v1/users/{w}/restore",
            None,
            admins(200)
        ),
        // A user in branches A and B: seen by the branch-A administrator, changed only by
        // someone who manages both.
        row!("GET", "/api/v1/users/{id}", "/api/v1/users/{userAB}", None, admins(200)),
        row!(
            "PATCH",
            "/api/v1/users/{id}",
            "/api/v1/users/{userAB}",
            Some(r#"{"email":"ab_{actor}@example.org"}"#),
            split3(200, 403, 200)
        ),
        row!(
            "PATCH",
            "/api/v1/users/{id}",
            "/api/v1/users/{userAB}",
            Some(r#"{"password":"taken over {actor} phrase"}"#),
            split3(200, 403, 200)
        ),
        row!(
            "PATCH",
            "/api/v1/users/{id}",
            "/api/v1/users/{m}",
            Some(r#"{"remove_branches":["B"]}"#),
            split3(200, 403, 200)
        ),
        row!(
            "DELETE",
            "/api/v1/users/{id}/sessions",
            "/api/v1/users/{m}/sessions",
            None,
            split3(200, 403, 200)
        ),
        row!(
            "POST",
            "/api/v1/groups/{name}/members",
            "/api/v1/groups/GA/members",
            Some(r#"{"user_ids":[{userAB2}]}"#),
            split3(200, 403, 200)
        ),
        row!(
            "POST",
            "/api/v1/users/{id}/offboard",
            "/api/v1/users/{userAB2}/offboard",
            Some("{}"),
            split3(200, 403, 200)
        ),
        // A peer branch administrator is out of every branch administrator's reach, and
        // nobody but an administrator grants Branch Administrator.
        row!(
            "PATCH",
            "/api/v1/users/{id}",
            "/api/v1/users/{peerA}",
            Some(r#"{"first_name":"Changed"}"#),
            split(200, 403)
        ),
        row!(
            "POST",
            "/api/v1/users/{id}/deactivate",
            "/api/v1/users/{peerA}/deactivate",
            None,
            split(200, 403)
        ),
        row!(
            "PATCH",
            "/api/v1/users/{id}",
            "/api/v1/users/{v}",
            Some(r#"{"user_type":"branch-administrator"}"#),
            split(200, 403)
        ),
        row!(
            "POST",
            "/api/v1/users",
            "/api/v1/users",
            Some(
                r#"{"username":"ba_{actor}","email":"ba_{actor}@example.org","first_name":"N","last_name":"N","user_type":"branch-administrator","branches":["A"]}"#
            ),
            split(201, 403)
        ),
        // Erasing records at once is for platform administrators only.
        row!(
            "DELETE",
            "/api/v1/users/{id}",
            "/api/v1/users/{p}?confirm=p_{actor}&purge=true",
            None,
            split(204, 403)
        ),
        row!(
            "POST",
            "/api/v1/users/bulk",
            "/api/v1/users/bulk",
            Some(r#"{"action":"deactivate","ids":[{x}]}"#),
            admins(200)
        ),
        row!("GET", "/api/v1/jobs/{id}", "/api/v1/jobs/{job}", None, split(200, 404)),
        // A CSV body (the `CSV:` prefix): a branch administrator's import lands in their branch.
        row!(
            "POST",
            "/api/v1/imports",
            "/api/v1/imports",
            Some("CSV:username,email,first_name,last_name\nimp_{actor},imp_{actor}@example.org,I,M\n"),
            split3(200, 200, 400)
        ),
        row!(
            "GET",
            "/api/v1/users/export.csv",
            "/api/v1/users/export.csv",
            None,
            admins(200)
        ),
        row!("GET", "/api/v1/user-types", "/api/v1/user-types", None, admins(200)),
        row!(
            "POST",
            "/api/v1/user-types",
            "/api/v1/user-types",
            Some(r#"{"name":"New {actor}","base":"learner"}"#),
            admin_only(201)
        ),
        row!(
            "PATCH",
            "/api/v1/user-types/{name}",
            "/api/v1/user-types/T_{actor}",
            Some(r#"{"deny":["catalog.browse"]}"#),
            admin_only(200)
        ),
        row!(
            "DELETE",
            "/api/v1/user-types/{name}",
            "/api/v1/user-types/T_{actor}",
            None,
            admin_only(204)
        ),
        row!("GET", "/api/v1/branches", "/api/v1/branches", None, admins(200)),
        row!(
            "POST",
            "/api/v1/branches",
            "/api/v1/branches",
            Some(r#"{"name":"Branch {actor}"}"#),
            admin_only(201)
        ),
        row!(
            "PATCH",
            "/api/v1/branches/{name}",
            "/api/v1/branches/A",
            Some(r#"{"seat_cap":500}"#),
            admin_only(200)
        ),
        row!("GET", "/api/v1/groups", "/api/v1/groups", None, admins(200)),
        row!(
            "POST",
            "/api/v1/groups",
            "/api/v1/groups",
            Some(r#"{"name":"Group {actor}","branch":"A"}"#),
            admins(201)
        ),
        row!(
            "GET",
            "/api/v1/groups/{name}/members",
            "/api/v1/groups/GA/members",
            None,
            admins(200)
        ),
        row!(
            "POST",
            "/api/v1/groups/{name}/members",
            "/api/v1/groups/GA/members",
            Some(r#"{"user_ids":[{userA}]}"#),
            admins(200)
        ),
        row!(
            "DELETE",
            "/api/v1/groups/{name}/members/{user_id}",
            "/api/v1/groups/GA/members/{userA}",
            None,
            admins(200)
        ),
        // The plan is platform-wide: not for branch administrators.
        row!("GET", "/api/v1/plan", "/api/v1/plan", None, admin_only(200)),
        row!(
            "PUT",
            "/api/v1/plan",
            "/api/v1/plan",
            Some(r#"{"plan":"core"}"#),
            admin_only(200)
        ),
        row!(
            "GET",
            "/api/v1/reports/seats",
            "/api/v1/reports/seats",
            None,
            admins(200)
        ),
        row!("GET", "/api/v1/reports/idle", "/api/v1/reports/idle", None, admins(200)),
        row!("GET", "/api/v1/audit", "/api/v1/audit", None, admin_only(200)),
        row!("GET", "/api/v1/settings", "/api/v1/settings", None, admin_only(200)),
        row!(
            "PUT",
            "/api/v1/settings/{key}",
            "/api/v1/settings/welcome_email",
            Some(r#"{"value":"on"}"#),
            admin_only(200)
        ),
        row!(
            "GET",
            "/api/v1/idle-policy",
            "/api/v1/idle-policy",
            None,
            admin_only(200)
        ),
        row!(
            "PATCH",
            "/api/v1/idle-policy",
            "/api/v1/idle-policy",
            Some(r#"{"max_share":20}"#),
            admin_only(200)
        ),
        row!(
            "GET",
            "/api/v1/idle-policy/preview",
            "/api/v1/idle-policy/preview",
            None,
            admin_only(200)
        ),
        row!(
            "GET",
            "/api/v1/idle-policy/warned",
            "/api/v1/idle-policy/warned",
            None,
            admin_only(200)
        ),
        // The policy is off (the default): the administrator's run is refused as a rule.
        row!(
            "POST",
            "/api/v1/idle-policy/run",
            "/api/v1/idle-policy/run",
            Some(r#"{"confirm":false}"#),
            admin_only(422)
        ),
        row!("GET", "/api/v1/daily-jobs", "/api/v1/daily-jobs", None, admin_only(200)),
        row!(
            "POST",
            "/api/v1/daily-jobs/{name}/run",
            "/api/v1/daily-jobs/seat-snapshot/run",
            Some(r#"{"dry_run":true}"#),
            admin_only(200)
        ),
        row!("GET", "/api/v1/tokens", "/api/v1/tokens", None, admin_only(200)),
        row!(
            "POST",
            "/api/v1/tokens",
            "/api/v1/tokens",
            Some(r#"{"name":"made by {actor}","scope":"api","user_id":{learn}}"#),
            admin_only(201)
        ),
        row!(
            "DELETE",
            "/api/v1/tokens/{name}",
            "/api/v1/tokens/tok_{actor}",
            None,
            admin_only(200)
        ),
        // Courses: instructors manage their own (TCH is teach's); learners take theirs.
        row!("GET", "/api/v1/courses", "/api/v1/courses", None, signed_in(200)),
        row!(
            "POST",
            "/api/v1/courses",
            "/api/v1/courses",
            Some(r#"{"code":"C-{actor}","name":"Course {actor}","units":2}"#),
            [201, 201, 201, 201, 403, 403, 401, 401, 401]
        ),
        // A course is seen by its managers and its learners (learn is enrolled in TCH);
        // to others it doesn't exist.
        row!(
            "GET",
            "/api/v1/courses/{code}",
            "/api/v1/courses/TCH",
            None,
            [200, 404, 404, 200, 200, 404, 401, 401, 401]
        ),
        row!(
            "GET",
            "/api/v1/courses/{code}/enrollments",
            "/api/v1/courses/TCH/enrollments",
            None,
            owner_of_tch(200)
        ),
        row!(
            "POST",
            "/api/v1/courses/{code}/enrollments",
            "/api/v1/courses/TCH/enrollments",
            Some(r#"{"username":"x_{actor}"}"#),
            owner_of_tch(200)
        ),
        // An instructor names learners by username, never by id: an id would tell them
        // the username of any account.
        row!(
            "POST",
            "/api/v1/courses/{code}/enrollments",
            "/api/v1/courses/TCH/enrollments",
            Some(r#"{"user_id":{x}}"#),
            [200, 403, 403, 400, 403, 403, 401, 401, 401]
        ),
        // An instructor enrolls active learners only, and an administrator looks like
        // nobody at all.
        row!(
            "POST",
            "/api/v1/courses/{code}/enrollments",
            "/api/v1/courses/TCH/enrollments",
            Some(r#"{"username":"adminA"}"#),
            [200, 403, 403, 404, 403, 403, 401, 401, 401]
        ),
        // A learner completes their own units; the course's managers may record them too.
        // Permission comes before the user lookup, so nobody learns who exists.
        row!(
            "POST",
            "/api/v1/courses/{code}/enrollments/{user_id}/units/{unit}",
            "/api/v1/courses/TCH/enrollments/{learn}/units/1",
            None,
            owner_of_tch_or_self(200)
        ),
        // Grades: the owner or an administrator; never the learner.
        row!(
            "PUT",
            "/api/v1/courses/{code}/enrollments/{user_id}/grade",
            "/api/v1/courses/TCH/enrollments/{learn}/grade",
            Some(r#"{"grade":80}"#),
            owner_of_tch(200)
        ),
        row!("GET", "/api/v1/me/courses", "/api/v1/me/courses", None, signed_in(200)),
        // Certificates are confirmed without signing in.
        row!(
            "GET",
            "/api/v1/certificates/{code}",
            "/api/v1/certificates/{cert}",
            None,
            [200; 9]
        ),
        row!(
            "POST",
            "/api/v1/groups/{name}/courses",
            "/api/v1/groups/GA/courses",
            Some(r#"{"course":"TCH"}"#),
            admin_only(200)
        ),
        row!(
            "POST",
            "/api/v1/groups/join",
            "/api/v1/groups/join",
            Some(r#"{"key":"JOIN-2026"}"#),
            signed_in(200)
        ),
        row!(
            "POST",
            "/api/v1/users/{id}/offboard",
            "/api/v1/users/{o}/offboard",
            Some("{}"),
            admins(200)
        ),
        // The subject export holds audit entries: only for those who may read the audit log.
        row!(
            "GET",
            "/api/v1/users/{id}/export",
            "/api/v1/users/{userA}/export",
            None,
            admin_only(200)
        ),
        row!(
            "GET",
            "/api/v1/reports/orphaned-courses",
            "/api/v1/reports/orphaned-courses",
            None,
            admins(200)
        ),
        // Signing in needs no token; a successful sign-in whatever token comes along.
        row!(
            "POST",
            "/api/v1/auth/login",
            "/api/v1/auth/login",
            Some(r#"{"login":"pw","password":"matrix rare phrase"}"#),
            [200; 9]
        ),
        row!(
            "POST",
            "/api/v1/auth/password-reset",
            "/api/v1/auth/password-reset",
            Some(r#"{"login":"pw"}"#),
            [202; 9]
        ),
        row!("GET", "/api/v1/openapi.json", "/api/v1/openapi.json", None, [200; 9]),
    ]
}

/// Users, types, tokens and a job for every actor to act on.
pub async fn fixture(app: &TestApp) -> (HashMap<&'static str, Option<String>>, HashMap<String, String>) {
    let cli = Context::cli();
    let s = &app.service;
    app.branch("A").await;
    app.branch("B").await;
    s.create_type(&cli, "Contractor", "learner", &[]).await.unwrap();
    s.add_group(
        &cli,
        NewGroup {
            name: "GA".into(),
            branch: Some("A".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let root = app.user("root", "administrator", &[]).await;
    let boss = app.user("boss", "branch-administrator", &["A"]).await;
    let multi = app.user("multi", "branch-administrator", &["A", "B"]).await;
    let teach = app.user("teach", "instructor", &[]).await;
    let learn = app.user("learn", "learner", &[]).await;
    let cust = app.user("cust", "Contractor", &[]).await;
    let revokee = app.user("revokee", "administrator", &[]).await;
    let gone = app.user("gone", "administrator", &[]).await;
    let mut vars: HashMap<String, String> = HashMap::new();
    vars.insert("userA".into(), app.user("userA", "learner", &["A"]).await.to_string());
    vars.insert("userB".into(), app.user("userB", "learner", &["B"]).await.to_string());
    vars.insert(
        "adminA".into(),
        app.user("adminA", "administrator", &["A"]).await.to_string(),
    );
    for (name, branches) in [("userAB", &["A", "B"]), ("userAB2", &["A", "B"])] {
        vars.insert(name.into(), app.user(name, "learner", branches).await.to_string());
    }
    vars.insert(
        "peerA".into(),
        app.user("peerA", "branch-administrator", &["A"]).await.to_string(),
    );
    vars.insert("learn".into(), learn.to_string());
    for actor in ACTORS {
        for v in ["v", "w", "x", "o", "p"] {
            let id = app.user(&format!("{v}_{actor}"), "learner", &["A"]).await;
            vars.insert(format!("{v}:{actor}"), id.to_string());
        }
        let id = app.user(&format!("m_{actor}"), "learner", &["A", "B"]).await;
        vars.insert(format!("m:{actor}"), id.to_string());
        s.create_type(&cli, &format!("T_{actor}"), "learner", &[])
            .await
            .unwrap();
        app.token(&format!("tok_{actor}"), root).await;
    }
    // teach's courses: TCH (learn enrolled) and CERT (learn completed: a certificate).
    let as_teach = Context::new(Actor::User(UserId(teach)), Channel::Api);
    let learn_key = UserKey::Id(UserId(learn));
    for (code, units) in [("TCH", 2), ("CERT", 1)] {
        let c = rollcall_core::service::NewCourse {
            code: code.into(),
            name: code.into(),
            units,
            ..Default::default()
        };
        s.create_course(&as_teach, c).await.unwrap();
        s.enroll(
            &as_teach,
            &UserKey::from("learn"),
            code,
            rollcall_core::domain::CourseRole::Learner,
        )
        .await
        .unwrap();
    }
    s.complete_unit(&as_teach, &learn_key, "CERT", 1).await.unwrap();
    let cert = s.export_subject(&cli, &learn_key).await.unwrap().certificates[0]
        .code
        .clone();
    vars.insert("cert".into(), cert);
    s.add_group(
        &cli,
        NewGroup {
            name: "JG".into(),
            key: Some("JOIN-2026".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let pw = NewUser {
        password: Some("matrix rare phrase".into()),
        send_welcome: Some(false),
        ..matrix_user("pw")
    };
    s.create_user(&cli, pw).await.unwrap();
    let as_root = Context::new(Actor::User(UserId(root)), Channel::Api);
    let (job, _) = s.start_bulk_job(&as_root, &BulkAction::Deactivate, &[]).await.unwrap();
    vars.insert("job".into(), job.id.to_string());

    let mut tokens = HashMap::new();
    tokens.insert("admin", Some(app.token("t-admin", root).await));
    tokens.insert("branch_admin", Some(app.token("t-boss", boss).await));
    tokens.insert("branches_admin", Some(app.token("t-multi", multi).await));
    tokens.insert("instructor", Some(app.token("t-teach", teach).await));
    tokens.insert("learner", Some(app.token("t-learn", learn).await));
    tokens.insert("custom", Some(app.token("t-cust", cust).await));
    tokens.insert("none", None);
    let revoked = app.token("t-revoked", revokee).await;
    s.revoke_token(&cli, "t-revoked").await.unwrap();
    tokens.insert("revoked", Some(revoked));
    let deactivated = app.token("t-gone", gone).await;
    s.deactivate_user(&cli, &UserKey::Id(UserId(gone))).await.unwrap();
    tokens.insert("deactivated", Some(deactivated));
    (tokens, vars)
}

pub fn fill(template: &str, actor: &str, vars: &HashMap<String, String>) -> String {
    let mut out = template.replace("{actor}", actor);
    for v in ["v", "w", "x", "o", "p", "m"] {
        out = out.replace(&format!("{{{v}}}"), &vars[&format!("{v}:{actor}")]);
    }
    for (k, val) in vars {
        out = out.replace(&format!("{{{k}}}"), val);
    }
    out
}

both_backends!(every_route_for_every_actor, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let (tokens, vars) = fixture(&app).await;
    let mut failures = vec![];
    for row in rows() {
        for (i, actor) in ACTORS.iter().enumerate() {
            let path = fill(row.path, actor, &vars);
            let (status, resp) = match row.body.and_then(|b| b.strip_prefix("CSV:")) {
                Some(csv) => app.csv(&path, tokens[actor].as_deref(), fill(csv, actor, &vars)).await,
                None => {
                    let body = row
                        .body
                        .map(|b| serde_json::from_str::<Value>(&fill(b, actor, &vars)).unwrap());
                    app.call(row.method, &path, tokens[actor].as_deref(), body).await
                }
            };
            if status != row.expect[i] {
                failures.push(format!(
                    "{} {path} as {actor}: expected {}, got {status} {resp}",
                    row.method, row.expect[i]
                ));
            }
            if status >= 400 && row.route != "/api/v1/openapi.json" {
                assert!(
                    resp["error"]["code"].is_string(),
                    "{} {path} as {actor}: error body {resp}",
                    row.method
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorization matrix mismatches:\n{}",
        failures.join("\n")
    );
});

pub fn matrix_user(name: &str) -> NewUser {
    NewUser {
        username: name.into(),
        email: format!("{name}@example.org"),
        first_name: "Test".into(),
        last_name: name.into(),
        active: true,
        ..NewUser::default()
    }
}
