//! `POST /api/v1/imports` and `GET /api/v1/users/export.csv`.

use super::*;

/// Every account in the database, whatever the caller could see: a count through a branch
/// administrator's view would miss rows written outside their branches.
async fn user_count(app: &TestApp) -> i64 {
    app.service
        .count_users(&Context::cli(), &Default::default())
        .await
        .unwrap()
}

both_backends!(bad_rows_write_nothing_and_each_is_reported, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    app.user("root", "administrator", &[]).await;
    app.branch("A").await;
    app.branch("B").await;
    let boss = app.user("boss", "branch-administrator", &["A"]).await;
    let t = app.token("boss", boss).await;
    let csv = "username,email,first_name,last_name,branches,user_type\n\
               ok1,ok1@example.org,O,K,A,learner\n\
               bad,not-an-email,B,E,A,\n\
               Twin,twin1@example.org,T,W,A,\n\
               TWIN,twin2@example.org,T,W,A,\n\
               elsewhere,elsewhere@example.org,E,L,B,\n\
               boss2,boss2@example.org,B,O,A,administrator\n";
    let before = user_count(&app).await;
    let (status, report) = app.csv("/api/v1/imports", Some(&t), csv.into()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["summary"]["written"], false);
    assert_eq!(report["summary"]["refused"], 4);
    let refused: Vec<(i64, String)> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "refused")
        .map(|r| (r["line"].as_i64().unwrap(), r["column"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        refused,
        vec![
            (3, "email".into()),
            (5, "username".into()),
            (6, "branches".into()),
            (7, "user_type".into())
        ],
        "every bad row by line and column: {report}"
    );
    assert_eq!(user_count(&app).await, before, "nothing written");

    let (_, dry) = app
        .csv("/api/v1/imports?dry_run=true&partial=true", Some(&t), csv.into())
        .await;
    assert_eq!(
        (dry["summary"]["written"].as_bool(), dry["summary"]["created"].as_i64()),
        (Some(false), Some(2))
    );
    assert_eq!(user_count(&app).await, before, "a dry run writes nothing");

    let (_, partial) = app.csv("/api/v1/imports?partial=true", Some(&t), csv.into()).await;
    assert_eq!(
        (
            partial["summary"]["written"].as_bool(),
            partial["summary"]["created"].as_i64()
        ),
        (Some(true), Some(2))
    );
    let (_, page) = app.call("GET", "/api/v1/users?q=ok1", Some(&t), None).await;
    assert_eq!(page["items"][0]["branches"], json!(["A"]));
});

both_backends!(
    an_import_needing_more_seats_than_free_is_refused_before_writing,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        let root = app.user("root", "administrator", &[]).await;
        let t = app.token("t", root).await;
        app.ok(
            "PUT",
            "/api/v1/plan",
            Some(&t),
            Some(json!({"plan": "enterprise", "seats": 3})),
        )
        .await;
        let csv: String = std::iter::once("username,email,first_name,last_name\n".to_owned())
            .chain((0..3).map(|i| format!("u{i},u{i}@example.org,U,{i}\n")))
            .collect();
        let (status, body) = app.csv("/api/v1/imports", Some(&t), csv).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("seat_limit_reached")),
            "{body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("needs 3 seats but only 2 are free")
        );
        assert_eq!(user_count(&app).await, 1);
    }
);

both_backends!(multipart_uploads_of_talentlms_files_import, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let root = app.user("root", "administrator", &[]).await;
    let t = app.token("t", root).await;
    for b in ["North", "South"] {
        app.branch(b).await;
    }
    for g in ["Safety", "Chemistry", "Computing"] {
        app.ok("POST", "/api/v1/groups", Some(&t), Some(json!({"name": g})))
            .await;
    }
    let file = include_str!("../../../csv/tests/talentlms-import.csv");
    let boundary = "rollcall-test-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"users.csv\"\r\nContent-Type: text/csv\r\n\r\n{file}\r\n--{boundary}--\r\n"
    );
    let resp = app
        .http
        .post(format!("{}/api/v1/imports", app.base))
        .bearer_auth(&t)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let report: Value = resp.json().await.unwrap();
    assert_eq!(report["summary"]["created"], 3, "{report}");
    let (status, body) = app
        .call("POST", "/api/v1/imports", Some(&t), Some(json!({"not": "csv"})))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let (status, body) = app.csv("/api/v1/imports", Some(&t), "name,mail\nx,y\n".into()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_input")));
});

both_backends!(exports_are_csv_with_formulas_escaped, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let root = app.user("root", "administrator", &[]).await;
    let t = app.token("t", root).await;
    let user = json!({"username": "eve", "email": "eve@example.org", "first_name": "=cmd()", "last_name": "-2", "send_welcome": false});
    app.ok("POST", "/api/v1/users", Some(&t), Some(user)).await;
    let resp = app
        .http
        .get(format!("{}/api/v1/users/export.csv?q=eve", app.base))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = resp.text().await.unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("eve,eve@example.org,'=cmd(),'-2,Learner"), "{text}");
});

both_backends!(
    a_branch_administrators_roster_sync_reaches_only_their_branches,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        let root = app.user("root", "administrator", &[]).await;
        app.branch("A").await;
        app.branch("B").await;
        let boss = app.user("boss", "branch-administrator", &["A"]).await;
        let a1 = app.user("a1", "learner", &["A"]).await;
        let a2 = app.user("a2", "learner", &["A"]).await;
        let b1 = app.user("b1", "learner", &["B"]).await;
        let t = app.token("boss", boss).await;
        let csv = "username,email,first_name,last_name\na1,a1@example.org,A,One\n";

        // Past the guard: nothing written, the report says why.
        let (status, held) = app.csv("/api/v1/imports?sync=true", Some(&t), csv.into()).await;
        assert_eq!(status, 200, "{held}");
        assert_eq!(
            (&held["summary"]["written"], &held["summary"]["sync"]["held"]),
            (&json!(false), &json!(true))
        );
        assert_eq!(
            held["summary"]["sync"]["deactivate"],
            json!(["a2"]),
            "never the caller, never branch B"
        );

        let path = "/api/v1/imports?sync=true&allow_large_deactivation=true";
        let (status, done) = app.csv(path, Some(&t), csv.into()).await;
        assert_eq!(
            (status, &done["summary"]["sync"]["deactivated"]),
            (200, &json!(1)),
            "{done}"
        );
        let rt = app.token("root", root).await;
        for (name, want) in [(a1, "active"), (a2, "deactivated"), (b1, "active"), (boss, "active")] {
            let (_, u) = app.call("GET", &format!("/api/v1/users/{name}"), Some(&rt), None).await;
            assert_eq!(u["status"], want, "{name}: {u}");
        }

        // Another branch as the scope is out of reach, and a sync-only flag needs sync.
        let (status, e) = app
            .csv("/api/v1/imports?sync=true&scope_branch=B", Some(&t), csv.into())
            .await;
        assert_eq!((status, e["error"]["code"].as_str()), (404, Some("not_found")), "{e}");
        let (status, e) = app.csv("/api/v1/imports?reactivate=true", Some(&t), csv.into()).await;
        assert_eq!(
            (status, e["error"]["code"].as_str()),
            (400, Some("invalid_input")),
            "{e}"
        );
    }
);

/// Text of a GET with a bearer token, and its status.
async fn fetch_text(app: &TestApp, path: &str, token: &str) -> (u16, String) {
    let resp = app
        .http
        .get(format!("{}{path}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

both_backends!(export_and_idle_report_stream_every_page, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    app.service
        .set_plan(
            &Context::cli(),
            rollcall_core::domain::PlanTier::Enterprise,
            Some(2_000),
        )
        .await
        .unwrap();
    let root = app.user("root", "administrator", &[]).await;
    app.branch("A").await;
    let boss = app.user("boss", "branch-administrator", &["A"]).await;
    let t = app.token("t", root).await;
    // More than two pages (500 each) of accounts nobody has signed in to, half in branch A.
    let mut csv = String::from("username,email,first_name,last_name,branches\n");
    for i in 0..1_100 {
        let branch = if i % 2 == 0 { "A" } else { "" };
        csv.push_str(&format!("u{i:04},u{i:04}@example.org,U,{i},{branch}\n"));
    }
    let (status, report) = app.csv("/api/v1/imports?send_welcome=false", Some(&t), csv).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["summary"]["created"], 1_100, "{report}");
    if let Some(path) = app.db.url.strip_prefix("sqlite://") {
        // The import checkpointed SQLite's write-ahead log and truncated it; unchecked it
        // would hold every page the import wrote (megabytes here) until some later checkpoint.
        let wal = std::fs::metadata(format!("{path}-wal")).map_or(0, |m| m.len());
        assert!(wal < 64 * 1024, "the WAL holds {wal} bytes after the import");
    }

    let (status, text) = fetch_text(&app, "/api/v1/users/export.csv", &t).await;
    assert_eq!(status, 200, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("username,"), "{}", lines[0]);
    let names: std::collections::BTreeSet<&str> = lines[1..].iter().map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(lines.len() - 1, 1_102, "every account once, the header once");
    assert_eq!(names.len(), 1_102);
    assert!(names.contains("u0000") && names.contains("u1099") && names.contains("boss"));

    // A branch administrator's export, streamed too, stays in their branch.
    let bt = app.token("b", boss).await;
    let (status, text) = fetch_text(&app, "/api/v1/users/export.csv", &bt).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(text.lines().count() - 1, 551, "the 550 in A and the boss: {text:.200}");

    // The idle report is one JSON document whatever its length; its count is its rows.
    let (status, text) = fetch_text(&app, "/api/v1/reports/idle", &t).await;
    assert_eq!(status, 200, "{text:.300}");
    let report: Value = serde_json::from_str(&text).expect("the streamed report is JSON");
    let users = report["users"].as_array().unwrap();
    assert_eq!(report["days"], Value::Null);
    assert_eq!(report["seats_held"], users.len());
    assert_eq!(users.len(), 1_102, "nobody has signed in");
    let (status, text) = fetch_text(&app, "/api/v1/reports/idle?days=30", &bt).await;
    assert_eq!(status, 200, "{text:.300}");
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (report["days"].as_i64(), report["seats_held"].as_i64()),
        (Some(30), Some(551))
    );

    // Refused before anything is streamed: a status, not a broken body.
    let (status, text) = fetch_text(&app, "/api/v1/reports/idle?days=x", &t).await;
    assert_eq!(status, 400, "{text}");
    let (status, _) = fetch_text(&app, "/api/v1/users/export.csv", "rc_api_nope").await;
    assert_eq!(status, 401);
});
