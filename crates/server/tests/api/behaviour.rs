//! What API clients rely on beyond the matrix: tokens that follow their user, error shapes,
//! request ids in the audit log, pagination, bulk jobs.

use super::*;

both_backends!(
    tokens_act_with_their_users_current_permissions,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        let root = app.user("root", "administrator", &[]).await;
        let helper = app.user("helper", "administrator", &[]).await;
        let token = app.token("helper-token", helper).await;
        assert_eq!(app.call("GET", "/api/v1/users", Some(&token), None).await.0, 200);

        // Demoted: the token shrinks at once; promoted again: it grows back.
        let cli = Context::cli();
        let key = UserKey::Id(UserId(helper));
        let demote = rollcall_core::service::UserUpdate {
            user_type: Some("learner".into()),
            ..Default::default()
        };
        app.service.update_user(&cli, &key, demote).await.unwrap();
        let (status, body) = app.call("GET", "/api/v1/users", Some(&token), None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));
        let promote = rollcall_core::service::UserUpdate {
            user_type: Some("administrator".into()),
            ..Default::default()
        };
        app.service.update_user(&cli, &key, promote).await.unwrap();
        assert_eq!(app.call("GET", "/api/v1/users", Some(&token), None).await.0, 200);

        // Deactivated: the token is revoked and stays dead after reactivation.
        app.service.deactivate_user(&cli, &key).await.unwrap();
        assert_eq!(app.call("GET", "/api/v1/users", Some(&token), None).await.0, 401);
        app.service.activate_user(&cli, &key).await.unwrap();
        assert_eq!(app.call("GET", "/api/v1/users", Some(&token), None).await.0, 401);

        // Issued through the API, shown once, revoked through the API.
        let admin = app.token("root-token", root).await;
        let (status, issued) = app
            .call(
                "POST",
                "/api/v1/tokens",
                Some(&admin),
                Some(json!({"name": "script", "scope": "api", "user_id": root})),
            )
            .await;
        assert_eq!(status, 201);
        let script = issued["token"].as_str().unwrap().to_owned();
        assert!(script.starts_with("rc_api_"));
        let (_, list) = app.call("GET", "/api/v1/tokens", Some(&admin), None).await;
        assert!(!list.to_string().contains(&script), "a token is never shown again");
        assert_eq!(app.call("GET", "/api/v1/plan", Some(&script), None).await.0, 200);
        assert_eq!(
            app.call("DELETE", "/api/v1/tokens/script", Some(&admin), None).await.0,
            200
        );
        assert_eq!(app.call("GET", "/api/v1/plan", Some(&script), None).await.0, 401);

        // A tampered token, a token in the URL, and a missing scheme are all refused.
        let mut forged = admin.clone();
        forged.replace_range(forged.len() - 1.., if admin.ends_with('x') { "y" } else { "x" });
        assert_eq!(app.call("GET", "/api/v1/plan", Some(&forged), None).await.0, 401);
        let (status, body) = app
            .call("GET", &format!("/api/v1/plan?access_token={admin}"), None, None)
            .await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("token_in_query")));
        let resp = app
            .http
            .get(format!("{}/api/v1/plan", app.base))
            .header("Authorization", admin.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    }
);

both_backends!(errors_are_json_with_stable_codes, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let root = app.user("root", "administrator", &[]).await;
    let token = app.token("t", root).await;
    let t = Some(token.as_str());
    let user = |name: &str| json!({"username": name, "email": format!("{name}@example.org"), "first_name": "A", "last_name": "B"});

    for smuggled in [
        json!({"status": "active"}),
        json!({"id": 7}),
        json!({"password_hash": "$argon2id$x"}),
        json!({"user_type_id": 1}),
    ] {
        let mut body = user("sly");
        body.as_object_mut()
            .unwrap()
            .extend(smuggled.as_object().unwrap().clone());
        let (status, resp) = app.call("POST", "/api/v1/users", t, Some(body)).await;
        assert_eq!(
            (status, resp["error"]["code"].as_str()),
            (400, Some("invalid_input")),
            "{resp}"
        );
    }
    let (status, resp) = app
        .call("POST", "/api/v1/users", t, Some(json!({"username": "x"})))
        .await;
    assert_eq!((status, resp["error"]["code"].as_str()), (400, Some("invalid_input")));
    let (status, resp) = app.call("POST", "/api/v1/users", t, Some(user("ada"))).await;
    assert_eq!(status, 201, "{resp}");
    assert_eq!(resp["status"], "active");
    let ada_id = resp["id"].as_i64().unwrap();
    let (status, resp) = app.call("POST", "/api/v1/users", t, Some(user("ADA"))).await;
    assert_eq!((status, resp["error"]["code"].as_str()), (409, Some("username_taken")));
    let ada = resp["error"].clone();
    assert!(ada["message"].as_str().unwrap().contains("ADA"));

    let (status, resp) = app.call("DELETE", &format!("/api/v1/users/{ada_id}"), t, None).await;
    assert_eq!(
        (status, resp["error"]["code"].as_str()),
        (400, Some("confirmation_required"))
    );
    let (status, resp) = app.call("GET", "/api/v1/users/999", t, None).await;
    assert_eq!((status, resp["error"]["code"].as_str()), (404, Some("not_found")));
    // Not a number: a username, and nobody has it.
    let (status, resp) = app.call("GET", "/api/v1/users/abc", t, None).await;
    assert_eq!((status, resp["error"]["code"].as_str()), (404, Some("not_found")));
    let (status, resp) = app.call("GET", "/api/v1/nowhere", t, None).await;
    assert_eq!((status, resp["error"]["code"].as_str()), (404, Some("not_found")));

    app.ok(
        "PUT",
        "/api/v1/plan",
        t,
        Some(json!({"plan": "enterprise", "seats": 2})),
    )
    .await;
    let (status, resp) = app.call("POST", "/api/v1/users", t, Some(user("third"))).await;
    assert_eq!(
        (status, resp["error"]["code"].as_str()),
        (422, Some("seat_limit_reached"))
    );
    assert!(resp["error"]["message"].as_str().unwrap().contains("2 of 2"));
    let (status, resp) = app.call("PUT", "/api/v1/plan", t, Some(json!({"plan": "free"}))).await;
    assert_eq!(status, 200, "{resp}");
    let (status, resp) = app
        .call(
            "POST",
            "/api/v1/user-types",
            t,
            Some(json!({"name": "X", "base": "learner"})),
        )
        .await;
    assert_eq!(
        (status, resp["error"]["code"].as_str()),
        (403, Some("plan_feature_unavailable"))
    );

    let big = "x".repeat(rollcall_server::BODY_LIMIT + 10);
    let resp = app
        .http
        .post(format!("{}/api/v1/users", app.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(format!("{{\"username\":\"{big}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let resp = app
        .http
        .post(format!("{}/api/v1/users", app.base))
        .bearer_auth(&token)
        .body("username=x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
});

both_backends!(request_ids_and_sources_reach_the_audit_log, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let root = app.user("root", "administrator", &[]).await;
    let t = app.token("t", root).await;
    let resp = app
        .http
        .post(format!("{}/api/v1/users", app.base))
        .bearer_auth(&t)
        .header("x-request-id", "trace-42")
        .json(&json!({"username": "ada", "email": "ada@example.org", "first_name": "A", "last_name": "L"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "trace-42");
    let resp = app.http.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert!(
        !resp.headers()["x-request-id"].is_empty(),
        "every response carries a request id"
    );
    let (_, entries) = app.call("GET", "/api/v1/audit?target=ada", Some(&t), None).await;
    let entry = &entries[0];
    assert_eq!(entry["action"], "user.create");
    assert_eq!(entry["request_id"], "trace-42");
    assert_eq!(entry["source"], "127.0.0.1");
    assert_eq!(entry["channel"], "api");
    assert_eq!(entry["actor"], "root");
});

both_backends!(lists_filter_and_paginate, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let root = app.user("root", "administrator", &[]).await;
    let t = app.token("t", root).await;
    // Created in the reverse of their names' order, so the two orders differ.
    for i in (0..7).rev() {
        app.user(&format!("user{i}"), "learner", &[]).await;
    }
    let walk = async |sort: &str| {
        let mut seen = vec![];
        let mut path = format!("/api/v1/users?limit=3&sort={sort}");
        // Eight users in pages of three: three pages; a walk past a dozen is a loop.
        for _ in 0..12 {
            let (status, page) = app.call("GET", &path, Some(&t), None).await;
            assert_eq!(status, 200, "{page}");
            seen.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|u| u["username"].as_str().unwrap().to_owned()),
            );
            match page["next_cursor"].as_str() {
                Some(c) => path = format!("/api/v1/users?limit=3&sort={sort}&cursor={c}"),
                None => return seen,
            }
        }
        panic!("{sort}: the cursor walk never ended");
    };
    let created = walk("created").await;
    assert_eq!(created[0], "root");
    assert_eq!(created.len(), 8);
    let mut by_username = created.clone();
    by_username.sort();
    assert_ne!(by_username, created);
    assert_eq!(walk("username").await, by_username);
    by_username.reverse();
    assert_eq!(walk("-username").await, by_username);
    let (status, body) = app.call("GET", "/api/v1/users?sort=secret", Some(&t), None).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("last_login"),
        "{body}"
    );
    let (_, page) = app.call("GET", "/api/v1/users?limit=3&sort=name", Some(&t), None).await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let (status, _) = app
        .call(
            "GET",
            &format!("/api/v1/users?sort=email&cursor={cursor}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(status, 400, "a cursor continues only the order it came from");
    let (_, page) = app.call("GET", "/api/v1/users?search=USER3", Some(&t), None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let (_, page) = app
        .call(
            "GET",
            "/api/v1/users?never_logged_in=true&last_login_before=2030-01-01",
            Some(&t),
            None,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 8);
    let (status, _) = app.call("GET", "/api/v1/users?status=gone", Some(&t), None).await;
    assert_eq!(status, 400);
    let (status, _) = app.call("GET", "/api/v1/users?colour=red", Some(&t), None).await;
    assert_eq!(status, 400, "unknown query parameters are refused too");
});

both_backends!(large_bulk_actions_run_as_jobs, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let root = app.user("root", "administrator", &[]).await;
    let t = app.token("t", root).await;
    app.ok("PUT", "/api/v1/plan", Some(&t), Some(json!({"plan": "grow"})))
        .await;
    app.branch("North").await;
    for i in 0..120 {
        app.user(&format!("n{i:03}"), "learner", &["North"]).await;
    }
    let body = json!({"action": "deactivate", "filter": {"branch": "North"}});
    let (status, accepted) = app.call("POST", "/api/v1/users/bulk", Some(&t), Some(body)).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["total"], 120);
    let url = accepted["status_url"].as_str().unwrap().to_owned();
    // Poll without sleeping: each poll is a real request; the job runs on the server.
    let finished = Deadline::after(std::time::Duration::from_secs(60), "the bulk job to finish");
    let job = loop {
        finished.check();
        let (status, job) = app.call("GET", &url, Some(&t), None).await;
        assert_eq!(status, 200);
        if job["status"] == "done" {
            break job;
        }
        tokio::task::yield_now().await;
    };
    assert_eq!((job["done"].as_i64(), job["failed"].as_i64()), (Some(120), Some(0)));
    assert_eq!(job["results"].as_array().unwrap().len(), 120);
    assert!(job["results_next"].is_null());
    // The outcomes a page at a time, in the order of the users: 50, 50, 20.
    let mut paged = vec![];
    let mut after: Option<i64> = None;
    // 120 results in pages of 50: three pages.
    for _ in 0..10 {
        let page_url = match after {
            Some(a) => format!("{url}?results_limit=50&results_after={a}"),
            None => format!("{url}?results_limit=50"),
        };
        let (status, page) = app.call("GET", &page_url, Some(&t), None).await;
        assert_eq!(status, 200, "{page}");
        paged.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_i64().unwrap()),
        );
        match page["results_next"].as_i64() {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let all: Vec<i64> = job["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(paged, all);
    let (status, _) = app.call("GET", &format!("{url}?results_limit=0"), Some(&t), None).await;
    assert_eq!(status, 400);
    let (_, plan) = app.call("GET", "/api/v1/plan", Some(&t), None).await;
    assert_eq!(plan["seats_used"], 1);

    // Deleting in bulk needs the count confirmed; outcomes are per user.
    let ids: Vec<i64> = (0..3).map(|i| i + 2).collect();
    let (status, resp) = app
        .call(
            "POST",
            "/api/v1/users/bulk",
            Some(&t),
            Some(json!({"action": "delete", "ids": ids})),
        )
        .await;
    assert_eq!(
        (status, resp["error"]["code"].as_str()),
        (400, Some("confirmation_required"))
    );
    let body = json!({"action": "delete", "ids": [2, 3, 9999], "confirm": 3});
    let (status, resp) = app.call("POST", "/api/v1/users/bulk", Some(&t), Some(body)).await;
    assert_eq!(status, 200);
    assert_eq!(
        (resp["succeeded"].as_i64(), resp["failed"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(resp["results"][2]["code"], "not_found");
    let (status, resp) = app
        .call(
            "POST",
            "/api/v1/users/bulk",
            Some(&t),
            Some(json!({"action": "add_to_group", "ids": [4]})),
        )
        .await;
    assert_eq!((status, resp["error"]["code"].as_str()), (400, Some("invalid_input")));
});

both_backends!(branch_administrators_are_scoped_in_the_api, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    app.user("root", "administrator", &[]).await;
    app.branch("A").await;
    app.branch("B").await;
    let boss = app.user("boss", "branch-administrator", &["A"]).await;
    app.user("a1", "learner", &["A"]).await;
    let b1 = app.user("b1", "learner", &["B"]).await;
    let t = app.token("boss", boss).await;
    let (_, page) = app.call("GET", "/api/v1/users", Some(&t), None).await;
    let mut names: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, vec!["a1", "boss"]);
    let (_, report) = app.call("GET", "/api/v1/reports/seats", Some(&t), None).await;
    assert_eq!(report["by_branch"].as_array().unwrap().len(), 1);
    let (status, resp) = app
        .call(
            "POST",
            "/api/v1/users/bulk",
            Some(&t),
            Some(json!({"action": "deactivate", "ids": [b1]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        resp["results"][0]["code"], "not_found",
        "a branch-B user is not found, not forbidden"
    );
    let (status, _) = app.call("GET", "/api/v1/users?branch=B", Some(&t), None).await;
    assert_eq!(status, 404);
});

// Found by schemathesis on PostgreSQL: a name holding U+0000 answered 500 (PostgreSQL's text
// can't hold it). It is bad input on every backend, wherever a name is looked up.
both_backends!(names_with_a_nul_character_are_bad_input, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let admin = app.user("root", "administrator", &[]).await;
    let t = app.token("nul", admin).await;
    for (method, path, body) in [
        (
            "PATCH",
            "/api/v1/idle-policy",
            Some(json!({"exempt_groups": ["crew\u{0}"]})),
        ),
        (
            "PATCH",
            "/api/v1/idle-policy",
            Some(json!({"exempt_branches": ["\u{0}"]})),
        ),
        ("GET", "/api/v1/users?group=a%00b", None),
        ("GET", "/api/v1/users?q=a%00b", None),
    ] {
        let (status, resp) = app.call(method, path, Some(&t), body).await;
        assert!((400..500).contains(&status), "{method} {path}: {status} {resp}");
        assert_ne!(resp["error"]["code"], "internal", "{method} {path}: {resp}");
    }
    let (status, _) = app.get_text("/readyz").await;
    assert_eq!(status, 200);
    // Also found by schemathesis: a setting naming no user type answered 404.
    let (status, resp) = app
        .call(
            "PUT",
            "/api/v1/settings/scim_default_type",
            Some(&t),
            Some(json!({"value": "10"})),
        )
        .await;
    assert_eq!(
        (status, resp["error"]["code"].as_str()),
        (400, Some("invalid_input")),
        "{resp}"
    );
});

both_backends!(a_limited_administrator_over_rest, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let root = app.user("root", "administrator", &[]).await;
    let t = app.token("root", root).await;
    let (status, made) = app
        .call(
            "POST",
            "/api/v1/user-types",
            Some(&t),
            Some(json!({"name": "Help desk", "base": "administrator", "deny": ["settings.manage", "plan.manage", "user_types.manage"]})),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let desk = app.user("desk", "Help desk", &[]).await;
    let d = app.token("desk", desk).await;
    let person = |name: &str, user_type: &str| json!({"username": name, "email": format!("{name}@example.org"), "first_name": "N", "last_name": name, "user_type": user_type, "send_welcome": false});
    let (status, body) = app
        .call("POST", "/api/v1/users", Some(&d), Some(person("newbie", "learner")))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/users",
            Some(&d),
            Some(person("rogue", "administrator")),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    let (status, _) = app
        .call("POST", &format!("/api/v1/users/{root}/deactivate"), Some(&d), None)
        .await;
    assert_eq!(status, 403, "the full administrator is out of reach");
    let (status, _) = app
        .call(
            "PUT",
            "/api/v1/settings/welcome_email",
            Some(&d),
            Some(json!({"value": "off"})),
        )
        .await;
    assert_eq!(status, 403);
});

// Wherever the API names a user — a path, a query, a body — a username does as well as an id.
both_backends!(users_are_named_by_id_or_username_everywhere, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let root = app.user("root", "administrator", &[]).await;
    let t = app.token("root", root).await;
    let ada = app.user("ada", "learner", &[]).await;
    app.user("ed", "instructor", &[]).await;
    let (_, by_id) = app.call("GET", &format!("/api/v1/users/{ada}"), Some(&t), None).await;
    let (status, by_name) = app.call("GET", "/api/v1/users/ada", Some(&t), None).await;
    assert_eq!(status, 200, "{by_name}");
    assert_eq!(by_id, by_name);
    let (status, _) = app.call("GET", "/api/v1/users/nobody", Some(&t), None).await;
    assert_eq!(status, 404);
    let (status, changed) = app
        .call(
            "PATCH",
            "/api/v1/users/ada",
            Some(&t),
            Some(json!({"first_name": "Augusta"})),
        )
        .await;
    assert_eq!(
        (status, changed["first_name"].as_str()),
        (200, Some("Augusta")),
        "{changed}"
    );
    // Group members by username, and by id, in one list.
    app.ok("POST", "/api/v1/groups", Some(&t), Some(json!({"name": "crew"})))
        .await;
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/groups/crew/members",
            Some(&t),
            Some(json!({"user_ids": ["ada", root]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = app
        .call("DELETE", "/api/v1/groups/crew/members/ada", Some(&t), None)
        .await;
    assert_eq!(status, 200);
    // Offboarding names its new course owner by username.
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/users/ada/offboard",
            Some(&t),
            Some(json!({"reassign_courses_to": "ed"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, gone) = app.call("GET", &format!("/api/v1/users/{ada}"), Some(&t), None).await;
    assert_eq!(gone["status"], "deactivated", "{gone}");
    // A token for a user named by username.
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/tokens",
            Some(&t),
            Some(json!({"name": "ed-api", "scope": "api", "user_id": "ed"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
});

// Parameter and body errors speak rollcall's language: the field and what it must be.
both_backends!(
    bad_parameters_are_explained_in_rollcalls_words,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        let root = app.user("root", "administrator", &[]).await;
        let t = app.token("root", root).await;
        for (method, path, body, says) in [
            ("GET", "/api/v1/users?limit=abc", None, "limit: must be a whole number"),
            (
                "GET",
                "/api/v1/users?frob=1",
                None,
                "the query string has no field 'frob'; it takes status,",
            ),
            (
                "GET",
                "/api/v1/users?never_logged_in=maybe",
                None,
                "never_logged_in: must be true or false",
            ),
            (
                "POST",
                "/api/v1/users",
                Some(json!({"username": 5})),
                "username: must be a string, not integer",
            ),
            (
                "POST",
                "/api/v1/users",
                Some(json!({"email": "x@example.org"})),
                "the body needs the field 'username'",
            ),
            (
                "GET",
                "/api/v1/jobs/abc",
                None,
                "the path segment 'abc' must be a whole number",
            ),
        ] {
            let (status, resp) = app.call(method, path, Some(&t), body).await;
            assert_eq!(
                (status, resp["error"]["code"].as_str()),
                (400, Some("invalid_input")),
                "{path}: {resp}"
            );
            let message = resp["error"]["message"].as_str().unwrap();
            assert!(message.starts_with(says), "{path}: {message}");
            assert!(
                !message.contains("deserialize") && !message.contains('`'),
                "{path}: {message}"
            );
        }
    }
);
