//! The console half of the authorization matrix: every console route, enumerated from the
//! console router itself, for every kind of caller the REST matrix has, each signed in to
//! the console with a session and sending that session's CSRF token.

use super::matrix::{ACTORS, fixture};
use super::signin::{login, session_cookie};
use super::*;
use std::collections::HashMap;

/// A redirect to the sign-in page: what a caller without a live session gets.
const SIGN_IN: u16 = 1;

struct PageRow {
    method: &'static str,
    route: &'static str,
    path: &'static str,
    /// A form body (`application/x-www-form-urlencoded`, `{csrf}` and placeholders filled),
    /// or `CSV:` and a file for the import upload.
    body: Option<&'static str>,
    expect: [u16; 9],
}

/// Everyone signed in gets `s`.
const fn signed_in(s: u16) -> [u16; 9] {
    [s, s, s, s, s, s, SIGN_IN, SIGN_IN, SIGN_IN]
}
/// Administrators and both branch administrators get `s`, the others 403.
const fn admins(s: u16) -> [u16; 9] {
    [s, s, s, 403, 403, 403, SIGN_IN, SIGN_IN, SIGN_IN]
}
const fn admin_only(s: u16) -> [u16; 9] {
    [s, 403, 403, 403, 403, 403, SIGN_IN, SIGN_IN, SIGN_IN]
}
/// The administrator and teach (the instructor who owns TCH).
const fn owner_of_tch(s: u16) -> [u16; 9] {
    [s, 403, 403, s, 403, 403, SIGN_IN, SIGN_IN, SIGN_IN]
}
const fn split3(admin: u16, branch_a: u16, branches_ab: u16) -> [u16; 9] {
    [admin, branch_a, branches_ab, 403, 403, 403, SIGN_IN, SIGN_IN, SIGN_IN]
}
/// Nobody needs a session: the stylesheet.
const fn anyone(s: u16) -> [u16; 9] {
    [s; 9]
}

macro_rules! page {
    ($m:literal, $route:expr, $path:expr, $body:expr, $expect:expr) => {
        PageRow {
            method: $m,
            route: $route,
            path: $path,
            body: $body,
            expect: $expect,
        }
    };
}

/// The hashed stylesheet's path, as the router serves it.
const HASHED_CSS: &str = "(the stylesheet at its content hash)";

fn rows() -> Vec<PageRow> {
    vec![
        page!("GET", "/console.css", "/console.css", None, anyone(200)),
        page!("GET", HASHED_CSS, HASHED_CSS, None, anyone(200)),
        page!("GET", "/", "/", None, signed_in(200)),
        page!("GET", "/admin", "/admin", None, admins(200)),
        page!("GET", "/admin/users", "/admin/users", None, admins(200)),
        page!("GET", "/admin/users/new", "/admin/users/new", None, admins(200)),
        page!(
            "POST",
            "/admin/users/new",
            "/admin/users/new",
            Some("csrf={csrf}&username=c_{actor}&email=c_{actor}@example.org&first_name=C&last_name=C&branch=A"),
            admins(303)
        ),
        page!(
            "POST",
            "/admin/users/bulk",
            "/admin/users/bulk",
            Some("csrf={csrf}&action=deactivate&ids={v}"),
            admins(200)
        ),
        page!("GET", "/admin/users/{id}", "/admin/users/{userA}", None, admins(200)),
        page!(
            "POST",
            "/admin/users/{id}/status",
            "/admin/users/{w}/status",
            Some("csrf={csrf}&action=deactivate"),
            admins(303)
        ),
        page!(
            "POST",
            "/admin/users/{id}/delete",
            "/admin/users/{x}/delete",
            Some("csrf={csrf}&confirm=x_{actor}"),
            admins(303)
        ),
        page!(
            "POST",
            "/admin/users/{id}/edit",
            "/admin/users/{o}/edit",
            Some("csrf={csrf}&email=o2_{actor}@example.org&first_name=O&last_name=O&user_type=Learner&branches=A"),
            admins(303)
        ),
        page!(
            "POST",
            "/admin/users/{id}/offboard",
            "/admin/users/{p}/offboard",
            Some("csrf={csrf}&reassign_to=root"),
            admins(200)
        ),
        page!(
            "POST",
            "/admin/users/{id}/sessions",
            "/admin/users/{m}/sessions",
            Some("csrf={csrf}"),
            split3(200, 403, 200)
        ),
        page!("GET", "/account", "/account", None, signed_in(200)),
        page!("GET", "/admin/import", "/admin/import", None, admins(200)),
        page!(
            "POST",
            "/admin/import/preview",
            "/admin/import/preview",
            Some("CSV:username,email,first_name,last_name,branches\ni_{actor},i_{actor}@example.org,I,I,A\n"),
            admins(200)
        ),
        page!(
            "POST",
            "/admin/import/commit",
            "/admin/import/commit",
            Some("csrf={csrf}&upload=no-such-upload"),
            admins(404)
        ),
        page!("GET", "/admin/types", "/admin/types", None, admins(200)),
        page!(
            "POST",
            "/admin/types",
            "/admin/types",
            Some("csrf={csrf}&name=CT_{actor}&base=learner"),
            admin_only(303)
        ),
        page!(
            "GET",
            "/admin/types/{name}",
            "/admin/types/Contractor",
            None,
            admins(200)
        ),
        page!(
            "POST",
            "/admin/types/{name}",
            "/admin/types/T_{actor}",
            Some("csrf={csrf}&area=courses.take"),
            admin_only(200)
        ),
        page!("GET", "/admin/branches", "/admin/branches", None, admins(200)),
        page!("GET", "/admin/branches/{name}", "/admin/branches/A", None, admins(200)),
        page!(
            "POST",
            "/admin/branches",
            "/admin/branches",
            Some("csrf={csrf}&name=CB_{actor}"),
            admin_only(303)
        ),
        page!("GET", "/admin/groups", "/admin/groups", None, admins(200)),
        page!(
            "POST",
            "/admin/groups",
            "/admin/groups",
            Some("csrf={csrf}&name=CG_{actor}&branch=A"),
            admins(303)
        ),
        page!(
            "POST",
            "/admin/groups/members",
            "/admin/groups/members",
            // JG belongs to no branch: out of a branch administrator's reach.
            Some("csrf={csrf}&group=JG&username=v_{actor}"),
            split3(303, 404, 404)
        ),
        page!(
            "POST",
            "/admin/groups/courses",
            "/admin/groups/courses",
            Some("csrf={csrf}&course_group=JG&course_code=TCH"),
            split3(303, 404, 404)
        ),
        page!("GET", "/admin/courses", "/admin/courses", None, signed_in(200)),
        page!(
            "POST",
            "/admin/courses",
            "/admin/courses",
            Some("csrf={csrf}&code=CC_{actor}&name=C&units=1"),
            [303, 303, 303, 303, 403, 403, SIGN_IN, SIGN_IN, SIGN_IN]
        ),
        page!(
            "POST",
            "/admin/courses/enroll",
            "/admin/courses/enroll",
            // TCH is teach's, and teach is in no branch: branch administrators don't manage it.
            Some("csrf={csrf}&course_code=TCH&username=w_{actor}"),
            owner_of_tch(303)
        ),
        page!(
            "GET",
            "/admin/courses/{code}",
            "/admin/courses/TCH",
            None,
            // learn is enrolled (the course exists for them, its page isn't theirs).
            [200, 404, 404, 200, 403, 404, SIGN_IN, SIGN_IN, SIGN_IN]
        ),
        page!("GET", "/admin/audit", "/admin/audit", None, admin_only(200)),
        page!("GET", "/admin/audit.csv", "/admin/audit.csv", None, admin_only(200)),
        page!("GET", "/admin/plan", "/admin/plan", None, admin_only(200)),
        page!("GET", "/admin/tokens", "/admin/tokens", None, admin_only(200)),
        page!(
            "POST",
            "/admin/tokens",
            "/admin/tokens",
            Some("csrf={csrf}&name=ct_{actor}&scope=scim"),
            admin_only(200)
        ),
        page!(
            "POST",
            "/admin/tokens/revoke",
            "/admin/tokens/revoke",
            Some("csrf={csrf}&name=tok_{actor}"),
            admin_only(303)
        ),
        page!("GET", "/admin/settings", "/admin/settings", None, admin_only(200)),
        page!(
            "POST",
            "/admin/settings",
            "/admin/settings",
            Some("csrf={csrf}&key=welcome_email&value=on"),
            admin_only(303)
        ),
        page!(
            "POST",
            "/admin/settings/sso",
            "/admin/settings/sso",
            Some("csrf={csrf}&metadata=not-metadata"),
            admin_only(400)
        ),
        page!("GET", "/admin/idle-policy", "/admin/idle-policy", None, admin_only(200)),
        page!(
            "POST",
            "/admin/idle-policy",
            "/admin/idle-policy",
            Some("csrf={csrf}&idle_days=90&never_signed_in_days=30&warn_days=7&grace_days=14&max_share=10"),
            admin_only(303)
        ),
        // The policy is off (the form above leaves it off): the run is refused as a rule.
        page!(
            "POST",
            "/admin/idle-policy/run",
            "/admin/idle-policy/run",
            Some("csrf={csrf}"),
            admin_only(422)
        ),
        page!("GET", "/admin/jobs", "/admin/jobs", None, admin_only(200)),
        page!(
            "POST",
            "/admin/jobs/{name}/run",
            "/admin/jobs/seat-snapshot/run",
            Some("csrf={csrf}&dry_run=on"),
            admin_only(200)
        ),
        page!("GET", "/learn", "/learn", None, signed_in(200)),
        page!(
            "POST",
            "/learn/complete",
            "/learn/complete",
            // Only learn is enrolled in TCH.
            Some("csrf={csrf}&course=TCH&unit=1"),
            [422, 422, 422, 422, 303, 422, SIGN_IN, SIGN_IN, SIGN_IN]
        ),
        page!(
            "GET",
            "/teach",
            "/teach",
            None,
            [200, 200, 200, 200, 403, 403, SIGN_IN, SIGN_IN, SIGN_IN]
        ),
        page!(
            "POST",
            "/teach/grade",
            "/teach/grade",
            Some("csrf={csrf}&course=TCH&user_id={learn}&grade=90"),
            owner_of_tch(303)
        ),
        // Last: it ends the caller's own sessions and so leads to the sign-in page too;
        // `every_console_route_for_every_caller` then checks the sessions are gone.
        page!(
            "POST",
            "/account/sessions",
            "/account/sessions",
            Some("csrf={csrf}"),
            anyone(SIGN_IN)
        ),
    ]
}

#[test]
fn every_console_route_has_a_row() {
    let routes = rollcall_server::console::routes();
    let hashed = routes
        .table()
        .iter()
        .find(|(_, p)| p.starts_with("/console-"))
        .expect("the hashed stylesheet route")
        .1;
    let mut served: Vec<(&str, &str)> = routes.table().to_vec();
    let mut covered: Vec<(&str, &str)> = rows()
        .iter()
        .map(|r| (r.method, if r.route == HASHED_CSS { hashed } else { r.route }))
        .collect();
    served.sort();
    covered.sort();
    assert_eq!(covered, served, "every console route has exactly one row in the matrix");
}

/// A console session: its cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

async fn sign_in(app: &TestApp, name: &str) -> Session {
    let resp = login(app, name, "console matrix phrase", None).await;
    assert_eq!(resp.status(), 200, "{name} signs in");
    let cookie = session_cookie(&resp).expect("a session cookie");
    let page = app
        .http
        .get(format!("{}/account", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("{name}: a CSRF token on the account page: {page}"))
        .to_owned();
    Session { cookie, csrf }
}

both_backends!(every_console_route_for_every_caller, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let (_, vars) = fixture(&app).await;
    let cli = Context::cli();
    let s = &app.service;
    let password = async |name: &str| {
        let update = rollcall_core::service::UserUpdate {
            password: Some("console matrix phrase".into()),
            ..Default::default()
        };
        s.update_user(&Context::cli(), &UserKey::from(name), update)
            .await
            .unwrap();
    };
    let mut sessions: HashMap<&str, Option<Session>> = HashMap::new();
    for (actor, name) in [
        ("admin", "root"),
        ("branch_admin", "boss"),
        ("branches_admin", "multi"),
        ("instructor", "teach"),
        ("learner", "learn"),
        ("custom", "cust"),
    ] {
        password(name).await;
        sessions.insert(actor, Some(sign_in(&app, name).await));
    }
    sessions.insert("none", None);
    // A session signed out, and one of a user deactivated since: both ended.
    password("revokee").await;
    let signed_out = sign_in(&app, "revokee").await;
    let out = app
        .http
        .post(format!("{}/logout", app.base))
        .header("cookie", &signed_out.cookie)
        .form(&[("csrf", signed_out.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    sessions.insert("revoked", Some(signed_out));
    app.user("gone2", "administrator", &[]).await;
    password("gone2").await;
    let ended = sign_in(&app, "gone2").await;
    s.deactivate_user(&cli, &UserKey::from("gone2")).await.unwrap();
    sessions.insert("deactivated", Some(ended));

    let hashed = rollcall_server::console::routes()
        .table()
        .iter()
        .find(|(_, p)| p.starts_with("/console-"))
        .unwrap()
        .1;
    let mut failures = vec![];
    for row in rows() {
        for (i, actor) in ACTORS.iter().enumerate() {
            let session = sessions[actor].as_ref();
            let csrf = session.map_or("", |s| s.csrf.as_str());
            let path = if row.path == HASHED_CSS {
                hashed.to_owned()
            } else {
                fill(row.path, actor, &vars)
            };
            let mut req = app
                .http
                .request(row.method.parse().unwrap(), format!("{}{path}", app.base));
            if let Some(s) = session {
                req = req.header("cookie", &s.cookie);
            }
            req = match row.body {
                Some(body) => match body.strip_prefix("CSV:") {
                    Some(csv) => {
                        let boundary = "rollcall-matrix-boundary";
                        let file = fill(csv, actor, &vars);
                        let body = format!(
                            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
                             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"users.csv\"\r\n\
                             Content-Type: text/csv\r\n\r\n{file}\r\n--{boundary}--\r\n"
                        );
                        req.header("content-type", format!("multipart/form-data; boundary={boundary}"))
                            .body(body)
                    }
                    None => req
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(fill(&body.replace("{csrf}", &enc(csrf)), actor, &vars)),
                },
                None => req,
            };
            let resp = req.send().await.unwrap();
            let mut status = resp.status().as_u16();
            let location = resp
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            if status == 303 && location.starts_with("/login") {
                status = SIGN_IN;
            }
            let text = resp.text().await.unwrap_or_default();
            if status != row.expect[i] {
                let brief: String = text.chars().take(300).collect();
                failures.push(format!(
                    "{} {path} as {actor}: expected {}, got {status} {location} {brief}",
                    row.method, row.expect[i]
                ));
            }
            assert!(status < 500, "{} {path} as {actor}: {status} {text}", row.method);
        }
    }
    // The last row ended every signed-in caller's own sessions.
    for (actor, session) in &sessions {
        if let Some(s) = session {
            let resp = app
                .http
                .get(format!("{}/account", app.base))
                .header("cookie", &s.cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 303, "{actor}: signed out everywhere");
        }
    }
    assert!(
        failures.is_empty(),
        "console matrix mismatches:\n{}",
        failures.join("\n")
    );
});

fn fill(template: &str, actor: &str, vars: &HashMap<String, String>) -> String {
    super::matrix::fill(template, actor, vars)
}

fn enc(s: &str) -> String {
    super::scim::enc(s)
}
