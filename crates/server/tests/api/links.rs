//! Credentials and links: set-password and reset links exist only in the mail that carries
//! them (minted when it is sent, stored as a digest), die when the address changes, and a
//! new password ends the user's sessions on every channel that sets one.

use super::signin::{home, login, session_cookie, with_password};
use super::*;

fn token_of(body: &str) -> String {
    body.split("token=")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("no link in {body}"))
        .to_owned()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.db
        .fetch_text(&format!("SELECT CAST(({sql}) AS TEXT)"))
        .await
        .unwrap()
        .parse()
        .unwrap()
}

both_backends!(
    links_are_minted_when_sent_and_never_stored_readable,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        app.user("ada", "learner", &[]).await;
        // Queued: the row names the purpose; no token exists yet, none is in the body.
        let queued = app.db.fetch_text("SELECT body FROM mail_outbox").await.unwrap();
        assert!(!queued.contains("token="), "{queued}");
        assert_eq!(
            app.db
                .fetch_text("SELECT link_purpose FROM mail_outbox")
                .await
                .as_deref(),
            Some("set")
        );
        assert_eq!(count(&app, "SELECT COUNT(*) FROM password_tokens").await, 0);
        let listed = app.service.list_mail(&Context::cli(), 10).await.unwrap();
        assert!(
            listed[0]
                .body
                .contains("[a single-use link, made when the message is sent]"),
            "{}",
            listed[0].body
        );
        // Sent: the link went out, its digest alone is kept, and the body is dropped.
        let sent = app.deliver_mail().await;
        assert_eq!(sent.len(), 1);
        let token = token_of(&sent[0].1);
        assert_eq!(
            app.db.fetch_text("SELECT body FROM mail_outbox").await.as_deref(),
            Some("")
        );
        assert_eq!(
            app.db.fetch_text("SELECT status FROM mail_outbox").await.as_deref(),
            Some("sent")
        );
        let stored = app
            .db
            .fetch_text("SELECT token_hash FROM password_tokens")
            .await
            .unwrap();
        assert_ne!(stored, token, "only a digest is stored");
        assert!(
            app.service.list_mail(&Context::cli(), 10).await.unwrap()[0]
                .body
                .is_empty()
        );
        app.service
            .public()
            .set_password_with_token(&token, "ada's own rare phrase")
            .await
            .unwrap();
        assert_eq!(login(&app, "ada", "ada's own rare phrase", None).await.status(), 200);
    }
);

both_backends!(changing_the_email_retires_links, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let root = app.user("root", "administrator", &[]).await;
    let admin = app.token("root-token", root).await;
    let ada = app.user("ada", "learner", &[]).await;
    let sent = app.deliver_mail().await;
    let old_link = token_of(&sent.iter().find(|(to, _)| to == "ada@example.org").unwrap().1);
    let (status, _) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{ada}"),
            Some(&admin),
            Some(json!({"email": "ada.new@example.org"})),
        )
        .await;
    assert_eq!(status, 200);
    let err = app
        .service
        .public()
        .set_password_with_token(&old_link, "a phrase for the taking")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_input", "a link sent to the old address is dead");

    // A reset queued for one address is never sent once the account has another.
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/auth/password-reset",
            None,
            Some(json!({"login": "ada"})),
        )
        .await;
    assert_eq!(status, 202);
    let (status, _) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{ada}"),
            Some(&admin),
            Some(json!({"email": "ada.third@example.org"})),
        )
        .await;
    assert_eq!(status, 200);
    assert!(app.deliver_mail().await.is_empty(), "nothing goes to ada.new@");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM mail_outbox WHERE status = 'dead' AND body = ''"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM password_tokens WHERE used_at IS NULL AND user_id = {ada}")
        )
        .await,
        0,
        "no live link of ada's exists"
    );
});

both_backends!(a_new_password_ends_the_users_sessions, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let root = app.user("root", "administrator", &[]).await;
    let admin = app.token("root-token", root).await;
    let ada = with_password(&app, "ada", "learner", "a rarely used phrase").await;
    let signed_in = |password: &'static str| {
        let app = &app;
        async move {
            let resp = login(app, "ada", password, None).await;
            assert_eq!(resp.status(), 200);
            session_cookie(&resp).unwrap()
        }
    };
    // Through the REST API.
    let cookie = signed_in("a rarely used phrase").await;
    assert_eq!(home(&app, &cookie).await.0, 200);
    let (status, _) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{ada}"),
            Some(&admin),
            Some(json!({"password": "set by an administrator"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(home(&app, &cookie).await.0, 303, "the session signed in before is over");
    // Through a CSV import that updates the password.
    let cookie = signed_in("set by an administrator").await;
    let (status, resp) = app
        .csv(
            "/api/v1/imports?update_existing=true",
            Some(&admin),
            "username,email,first_name,last_name,password\nada,ada@example.org,Test,ada,imported rare phrase\n".into(),
        )
        .await;
    assert_eq!((status, resp["summary"]["updated"].as_i64()), (200, Some(1)), "{resp}");
    assert_eq!(home(&app, &cookie).await.0, 303);
    // Through SCIM (an identity provider setting the password of a user it provisioned).
    let scim = app.scim_token("idp").await;
    let (status, created) = app
        .scim(
            "POST",
            "/Users",
            &scim,
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "bea",
                "name": {"givenName": "Bea", "familyName": "Scim"},
                "emails": [{"value": "bea@example.org", "primary": true}],
                "password": "first scim phrase",
                "active": true
            })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let resp = login(&app, "bea", "first scim phrase", None).await;
    assert_eq!(resp.status(), 200);
    let cookie = session_cookie(&resp).unwrap();
    let id = created["id"].as_str().unwrap();
    let (status, body) = app
        .scim(
            "PATCH",
            &format!("/Users/{id}"),
            &scim,
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "password", "value": "second scim phrase"}]
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(home(&app, &cookie).await.0, 303);
});

/// A multipart/form-data body for the import wizard's upload form.
fn upload_form(csrf: &str, csv: &str) -> (String, String) {
    let boundary = "rollcall-test-boundary-7d1f";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"send_welcome\"\r\n\r\n1\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"people.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n\
         --{boundary}--\r\n"
    );
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn console_session(app: &TestApp, name: &str, password: &str) -> (String, String) {
    let resp = login(app, name, password, None).await;
    assert_eq!(resp.status(), 200);
    let cookie = session_cookie(&resp).unwrap();
    let page = app
        .http
        .get(format!("{}/admin/import", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let page = page.text().await.unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    (cookie, csrf)
}

both_backends!(
    the_import_preview_keeps_the_file_on_the_server_and_pages_are_not_cached_or_framed,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        with_password(&app, "root", "administrator", "root's rare phrase").await;
        with_password(&app, "other", "administrator", "other's rare phrase").await;
        let (cookie, csrf) = console_session(&app, "root", "root's rare phrase").await;
        let csv =
            "username,email,first_name,last_name,password\ngrace,grace@example.org,Grace,Hopper,secret cobol phrase\n";
        let (content_type, body) = upload_form(&csrf, csv);
        let preview = app
            .http
            .post(format!("{}/admin/import/preview", app.base))
            .header("cookie", &cookie)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(preview.status(), 200);
        let h = preview.headers().clone();
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["x-frame-options"], "DENY");
        let policy = h["content-security-policy"].to_str().unwrap();
        assert!(
            policy.contains("frame-ancestors 'none'") && policy.contains("default-src 'none'"),
            "{policy}"
        );
        let page = preview.text().await.unwrap();
        assert!(
            !page.contains("secret cobol phrase"),
            "the password never reaches the page"
        );
        assert!(!page.contains("grace@example.org"), "nor does the file");
        let upload = page
            .split("name=\"upload\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_owned();
        assert_eq!(upload.len(), 64, "a random id");
        // Another administrator can't commit someone else's upload.
        let (other_cookie, other_csrf) = console_session(&app, "other", "other's rare phrase").await;
        let commit = |cookie: String, csrf: String| {
            let upload = upload.clone();
            let app = &app;
            async move {
                app.http
                    .post(format!("{}/admin/import/commit", app.base))
                    .header("cookie", cookie)
                    .form(&[
                        ("csrf", csrf.as_str()),
                        ("upload", upload.as_str()),
                        ("send_welcome", "1"),
                    ])
                    .send()
                    .await
                    .unwrap()
            }
        };
        assert_eq!(commit(other_cookie, other_csrf).await.status(), 404);
        let done = commit(cookie.clone(), csrf.clone()).await;
        assert_eq!(done.status(), 200);
        assert!(done.text().await.unwrap().contains("The import is done"));
        assert_eq!(login(&app, "grace", "secret cobol phrase", None).await.status(), 200);
        // Used once: the upload is gone.
        assert_eq!(commit(cookie.clone(), csrf).await.status(), 404);
        assert_eq!(
            app.db
                .fetch_text("SELECT CAST(COUNT(*) AS TEXT) FROM import_uploads")
                .await
                .as_deref(),
            Some("0")
        );
        // Every page gets the same headers; the stylesheet stays cacheable.
        for path in ["/login", "/admin/users", "/account"] {
            let resp = app
                .http
                .get(format!("{}{path}", app.base))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.headers()["cache-control"], "no-store", "{path}");
            assert_eq!(resp.headers()["x-frame-options"], "DENY", "{path}");
        }
        let css = app.http.get(format!("{}/console.css", app.base)).send().await.unwrap();
        assert_ne!(
            css.headers().get("cache-control").map(|v| v.to_str().unwrap()),
            Some("no-store")
        );
    }
);
