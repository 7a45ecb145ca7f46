//! A branch administrator acts only inside their branches, on every channel: a user who
//! also belongs to a branch they don't manage, and a peer branch administrator, are out of
//! reach for changes — through the console, the REST API and CSV imports alike.

use super::signin::{login, session_cookie, with_password};
use super::*;
use rollcall_core::domain::CourseRole;
use rollcall_core::service::NewCourse;

/// The console's CSRF token for a signed-in session, read from the account page.
async fn console_csrf(app: &TestApp, cookie: &str) -> String {
    let page = app
        .http
        .get(format!("{}/account", app.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF token on the account page")
        .to_owned()
}

async fn post_form(app: &TestApp, cookie: &str, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let resp = app
        .http
        .post(format!("{}{path}", app.base))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The usernames a course's enrollment list shows the token's user, with the status.
async fn enrolled(app: &TestApp, token: &str, code: &str) -> (u16, Vec<String>) {
    let (status, list) = app
        .call("GET", &format!("/api/v1/courses/{code}/enrollments"), Some(token), None)
        .await;
    let names = list
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["username"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    (status, names)
}

async fn email_of(app: &TestApp, id: i64) -> (String, &'static str) {
    let u = app
        .service
        .get_user(&Context::cli(), &UserKey::Id(UserId(id)))
        .await
        .unwrap();
    (u.email, u.status.as_str())
}

both_backends!(
    branch_administrators_stay_inside_their_branches_on_every_channel,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        app.branch("A").await;
        app.branch("B").await;
        let boss = with_password(&app, "boss", "branch-administrator", "branch boss phrase").await;
        let cli = Context::cli();
        app.service
            .update_user(
                &cli,
                &UserKey::Id(UserId(boss)),
                rollcall_core::service::UserUpdate {
                    add_branches: vec!["A".into()],
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let both = app.user("both", "learner", &["A", "B"]).await;
        let peer = app.user("peer", "branch-administrator", &["A"]).await;
        let only_a = app.user("onlya", "learner", &["A"]).await;
        app.user("onlyb", "learner", &["B"]).await;

        // The console: the user in A and B is shown, but not changed.
        let signed_in = login(&app, "boss", "branch boss phrase", None).await;
        assert_eq!(signed_in.status(), 200);
        let cookie = session_cookie(&signed_in).unwrap();
        let csrf = console_csrf(&app, &cookie).await;
        let page = app
            .http
            .get(format!("{}/admin/users/{both}", app.base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "a user sharing one branch is seen");
        let (status, _) = post_form(
            &app,
            &cookie,
            &format!("/admin/users/{both}/edit"),
            &[
                ("csrf", &csrf),
                ("email", "taken@attacker.example"),
                ("first_name", "Test"),
                ("last_name", "both"),
            ],
        )
        .await;
        assert_eq!(status, 403, "changing the email of a user in another branch too");
        for (target, action) in [(both, "deactivate"), (peer, "deactivate")] {
            let (status, _) = post_form(
                &app,
                &cookie,
                &format!("/admin/users/{target}/status"),
                &[("csrf", &csrf), ("action", action)],
            )
            .await;
            assert_eq!(status, 403, "{action} user {target} from the console");
        }
        assert_eq!(email_of(&app, both).await, ("both@example.org".into(), "active"));
        assert_eq!(email_of(&app, peer).await.1, "active");
        // A user all of whose branches are the caller's is changed as before.
        let (status, _) = post_form(
            &app,
            &cookie,
            &format!("/admin/users/{only_a}/status"),
            &[("csrf", &csrf), ("action", "deactivate")],
        )
        .await;
        assert_eq!(status, 303);
        assert_eq!(email_of(&app, only_a).await.1, "deactivated");
        // Recorded with where it came from, as the API's changes are.
        let entries = app
            .service
            .list_audit(
                &cli,
                &rollcall_core::service::AuditFilter {
                    action: Some(rollcall_core::service::AuditAction::parse("user.deactivate").unwrap()),
                    target: Some("onlya".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(entries[0].source.as_deref(), Some("127.0.0.1"), "{:?}", entries[0]);
        assert!(entries[0].request_id.is_some());

        // The REST API: neither the password nor the type of someone in another branch.
        let token = app.token("boss-token", boss).await;
        for body in [
            json!({"password": "a takeover phrase"}),
            json!({"email": "taken@attacker.example"}),
            json!({"username": "renamed"}),
            json!({"user_type": "branch-administrator"}),
        ] {
            let (status, resp) = app
                .call(
                    "PATCH",
                    &format!("/api/v1/users/{both}"),
                    Some(&token),
                    Some(body.clone()),
                )
                .await;
            assert_eq!(status, 403, "{body}: {resp}");
            assert_eq!(resp["error"]["code"], "forbidden");
        }
        let (status, _) = app
            .call(
                "PATCH",
                &format!("/api/v1/users/{only_a}"),
                Some(&token),
                Some(json!({"user_type": "branch-administrator"})),
            )
            .await;
        assert_eq!(status, 403, "nobody but an administrator grants Branch Administrator");
        let (status, _) = app
            .call(
                "DELETE",
                &format!("/api/v1/users/{only_a}?confirm=onlya&purge=true"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(status, 403, "a branch administrator never erases records now");
        let (status, _) = app
            .call("GET", &format!("/api/v1/users/{only_a}"), Some(&token), None)
            .await;
        assert_eq!(status, 200, "the refused purge changed nothing");

        // CSV: an update of the user in two branches is refused; an account outside the
        // caller's branches is only "not available", never said to be elsewhere.
        let csv = "username,email,first_name,last_name\n\
                   both,taken@attacker.example,Test,both\n\
                   onlyb,onlyb@example.org,Test,onlyb\n";
        let (status, resp) = app
            .csv(
                "/api/v1/imports?update_existing=true&partial=true",
                Some(&token),
                csv.into(),
            )
            .await;
        assert_eq!(status, 200, "{resp}");
        let rows = resp["rows"].as_array().unwrap();
        assert_eq!(rows[0]["outcome"], "refused", "{resp}");
        assert_eq!(rows[1]["outcome"], "refused", "{resp}");
        let reason = rows[1]["reason"].as_str().unwrap();
        assert!(
            reason.contains("not available") && !reason.contains("branch"),
            "the report doesn't tell where the account lies: {reason}"
        );
        assert_eq!(email_of(&app, both).await.0, "both@example.org");

        // A course the branch administrator manages lists only the learners they see.
        let teach = app.user("teacha", "instructor", &["A"]).await;
        let as_teach = Context::new(rollcall_core::Actor::User(UserId(teach)), rollcall_core::Channel::Api);
        app.service
            .create_course(
                &as_teach,
                NewCourse {
                    code: "MIX".into(),
                    name: "Mixed".into(),
                    units: 1,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        for name in ["onlyb", "both"] {
            app.service
                .enroll(&cli, &UserKey::from(name), "MIX", CourseRole::Learner)
                .await
                .unwrap();
        }
        let (status, names) = enrolled(&app, &token, "MIX").await;
        assert_eq!(status, 200, "{names:?}");
        assert_eq!(names, vec!["both"], "the learner of branch B alone is not shown");
        // Nor does the branch administrator act on a peer's records, or reach members of
        // other branches by putting the course on a group.
        let (status, resp) = app
            .call(
                "POST",
                "/api/v1/courses/MIX/enrollments",
                Some(&token),
                Some(json!({"user_id": peer})),
            )
            .await;
        assert_eq!(status, 403, "{resp}");
        app.service
            .add_group(
                &cli,
                rollcall_core::service::NewGroup {
                    name: "Crew A".into(),
                    branch: Some("A".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        app.user("crewab", "learner", &["A", "B"]).await;
        app.user("crewa", "learner", &["A"]).await;
        app.service
            .add_group_members(&cli, "Crew A", &[UserKey::from("crewab"), UserKey::from("crewa")])
            .await
            .unwrap();
        let (status, resp) = app
            .call(
                "POST",
                "/api/v1/groups/Crew%20A/courses",
                Some(&token),
                Some(json!({"course": "MIX"})),
            )
            .await;
        assert_eq!(status, 200, "{resp}");
        let (_, names) = enrolled(&app, &token, "MIX").await;
        assert!(
            names.iter().any(|n| n == "crewa") && !names.iter().any(|n| n == "crewab"),
            "{names:?}"
        );
        let crewab = app
            .service
            .export_subject(&cli, &UserKey::from("crewab"))
            .await
            .unwrap();
        assert!(
            crewab.enrollments.is_empty(),
            "the member of two branches was not enrolled"
        );

        // The instructor sees all their learners, and enrolls by username only.
        let teach_token = app.token("teach-token", teach).await;
        let (status, list) = app
            .call("GET", "/api/v1/courses/MIX/enrollments", Some(&teach_token), None)
            .await;
        assert_eq!(
            (status, list.as_array().unwrap().len()),
            (200, 3),
            "onlyb, both and crewa"
        );
        let (status, resp) = app
            .call(
                "POST",
                "/api/v1/courses/MIX/enrollments",
                Some(&teach_token),
                Some(json!({"user_id": peer})),
            )
            .await;
        assert_eq!(status, 400, "{resp}");
        assert!(!resp.to_string().contains("peer"), "no username for an id: {resp}");
        for name in ["peer", "nobody-at-all", "onlya"] {
            let (status, resp) = app
                .call(
                    "POST",
                    "/api/v1/courses/MIX/enrollments",
                    Some(&teach_token),
                    Some(json!({"username": name})),
                )
                .await;
            assert_eq!(
                (status, resp["error"]["code"].as_str()),
                (404, Some("not_found")),
                "an administrator, an unknown name and a deactivated learner look alike: {name}"
            );
        }
        // Progress for someone not enrolled tells nothing about who they are.
        let (status, resp) = app
            .call(
                "POST",
                &format!("/api/v1/courses/MIX/enrollments/{peer}/units/1"),
                Some(&teach_token),
                None,
            )
            .await;
        assert_eq!(status, 404, "{resp}");
        assert!(!resp.to_string().contains("peer"), "{resp}");
    }
);
