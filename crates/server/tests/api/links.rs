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
