//! The console's page layer over HTTP: a core refusal answered with the REST API's status
//! and words, a form's CSRF token checked before its handler runs, sign-in that comes back
//! to the page, and the stylesheet at its hashed, immutable URL.

use super::signin::{login, session_cookie, with_password};
use super::*;
use rollcall_core::domain::PlanTier;

both_backends!(console_pages_refuse_as_the_api_does, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    with_password(&app, "boss", "administrator", "correct horse battery").await;
    let sleeper = app.user("sleeper", "learner", &[]).await;
    app.service
        .deactivate_user(&Context::cli(), &UserKey::Id(UserId(sleeper)))
        .await
        .unwrap();
    let cookie = session_cookie(&login(&app, "boss", "correct horse battery", None).await).unwrap();
    let page = |path: String| {
        let (http, cookie) = (app.http.clone(), cookie.clone());
        async move { http.get(path).header("cookie", cookie).send().await.unwrap() }
    };
    let account = page(format!("{}/account", app.base)).await.text().await.unwrap();
    let csrf = account
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let activate = |csrf: String| {
        let (http, cookie) = (app.http.clone(), cookie.clone());
        let url = format!("{}/admin/users/{sleeper}/status", app.base);
        async move {
            http.post(url)
                .header("cookie", cookie)
                .form(&[("csrf", csrf.as_str()), ("action", "activate")])
                .send()
                .await
                .unwrap()
        }
    };

    // Every seat taken: the console says what the API says, with the API's 422.
    app.service
        .set_plan(&Context::cli(), PlanTier::Enterprise, Some(1))
        .await
        .unwrap();
    let refused = activate(csrf.clone()).await;
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("seat limit reached: 1 of 1 seats are in use"),
        "the core's words"
    );
    // A forged token is refused before anything is tried, as a stale form always was.
    app.service
        .set_plan(&Context::cli(), PlanTier::Enterprise, Some(10))
        .await
        .unwrap();
    let forged = activate("0".repeat(64)).await;
    assert_eq!(forged.status(), 403);
    assert!(forged.text().await.unwrap().contains("Refused"));
    let status = app
        .service
        .get_user(&Context::cli(), &UserKey::Id(UserId(sleeper)))
        .await
        .unwrap()
        .status;
    assert_eq!(status, "deactivated", "nothing was changed");
    assert_eq!(activate(csrf).await.status(), 303);
    let missing = page(format!("{}/admin/users/999999", app.base)).await;
    assert_eq!(missing.status(), 404);

    // Without a session a page sends you to sign in, and back to it afterwards.
    let away = app
        .http
        .get(format!("{}/admin/users?status=trash", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(away.status(), 303);
    assert_eq!(
        away.headers()["location"],
        "/login?next=%2Fadmin%2Fusers%3Fstatus%3Dtrash"
    );
    let sign_in = app.get_text("/login?next=%2Fadmin%2Fusers%3Fstatus%3Dtrash").await.1;
    assert!(
        sign_in.contains("name=\"next\" value=\"/admin/users?status=trash\""),
        "{sign_in}"
    );

    // Pages link the stylesheet by a URL naming its contents, kept for a year.
    let href = account
        .split("rel=\"stylesheet\" href=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    assert!(href.starts_with("/console-") && href.ends_with(".css"), "{href}");
    let css = app.http.get(format!("{}{href}", app.base)).send().await.unwrap();
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    let hashed = css.text().await.unwrap();
    assert_eq!(app.get_text("/console.css").await.1, hashed, "the same sheet");
    assert_eq!(app.get_text("/console-0000000000000000.css").await.0, 404);
});
