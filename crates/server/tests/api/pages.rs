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

both_backends!(
    the_idle_policy_page_confirms_naming_the_count,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        with_password(&app, "boss", "administrator", "correct horse battery").await;
        for i in 0..5 {
            app.user(&format!("l{i}"), "learner", &[]).await;
        }
        let cli = Context::cli();
        let upd = rollcall_core::service::IdlePolicyUpdate {
            enabled: Some(true),
            never_signed_in_days: Some(20),
            warn_days: Some(0),
            max_share: Some(10),
            ..Default::default()
        };
        app.service.set_idle_policy(&cli, upd).await.unwrap();
        app.clock.advance(20 * rollcall_core::domain::DAY_MS);
        let cookie = session_cookie(&login(&app, "boss", "correct horse battery", None).await).unwrap();
        let get = |path: String| {
            let (http, cookie) = (app.http.clone(), cookie.clone());
            async move { http.get(path).header("cookie", cookie).send().await.unwrap() }
        };
        let post = |path: String, form: Vec<(&'static str, String)>| {
            let (http, cookie) = (app.http.clone(), cookie.clone());
            async move {
                http.post(path)
                    .header("cookie", cookie)
                    .form(&form)
                    .send()
                    .await
                    .unwrap()
            }
        };

        // The exemption is set on the user's page.
        let l0 = app
            .service
            .get_user(&cli, &UserKey::Username("l0".into()))
            .await
            .unwrap();
        let page = get(format!("{}/admin/users/{}", app.base, l0.id))
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("Exempt from the idle-account policy"), "{page}");
        let csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_owned();
        let edit = vec![
            ("csrf", csrf.clone()),
            ("email", l0.email.clone()),
            ("first_name", l0.first_name.clone()),
            ("last_name", l0.last_name.clone()),
            ("user_type", l0.user_type.clone()),
            ("branches", String::new()),
            ("groups", String::new()),
            ("idle_exempt_shown", "1".into()),
            ("idle_exempt", "1".into()),
        ];
        assert_eq!(
            post(format!("{}/admin/users/{}/edit", app.base, l0.id), edit)
                .await
                .status(),
            303
        );
        let l0 = app.service.get_user(&cli, &UserKey::Id(UserId(l0.id))).await.unwrap();
        assert!(l0.idle_exempt);

        // Four of five active accounts is past 10%: the page says so and names the count.
        let page = get(format!("{}/admin/idle-policy", app.base))
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("Deactivate 4 accounts now"), "{page}");
        let held = post(
            format!("{}/admin/idle-policy/run", app.base),
            vec![("csrf", csrf.clone())],
        )
        .await;
        assert_eq!(held.status(), 303);
        assert_eq!(
            app.service.plan(&cli).await.unwrap().seats_used,
            6,
            "the unconfirmed run changed nothing"
        );
        let confirmed = post(
            format!("{}/admin/idle-policy/run", app.base),
            vec![("csrf", csrf.clone()), ("confirm", "1".into())],
        )
        .await;
        assert_eq!(confirmed.status(), 303);
        assert_eq!(
            app.service.plan(&cli).await.unwrap().seats_used,
            2,
            "boss and the exempt l0 stay"
        );
    }
);
