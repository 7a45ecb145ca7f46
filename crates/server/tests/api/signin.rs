//! Signing in: sessions, throttling, enumeration, fixation, CSRF, session end, password links.

use super::*;

/// The session cookie a response set, as `name=value`.
pub(super) fn session_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("rollcall_session="))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

pub(super) async fn login(app: &TestApp, login: &str, password: &str, planted: Option<&str>) -> reqwest::Response {
    let mut req = app
        .http
        .post(format!("{}/api/v1/auth/login", app.base))
        .json(&json!({"login": login, "password": password}));
    if let Some(p) = planted {
        req = req.header("cookie", p);
    }
    req.send().await.unwrap()
}

pub(super) async fn with_password(app: &TestApp, name: &str, user_type: &str, password: &str) -> i64 {
    let input = NewUser {
        username: name.into(),
        email: format!("{name}@example.org"),
        first_name: "Test".into(),
        last_name: name.into(),
        user_type: Some(user_type.into()),
        password: Some(password.into()),
        active: true,
        send_welcome: Some(false),
        ..NewUser::default()
    };
    app.service.create_user(&Context::cli(), input).await.unwrap().id
}

pub(super) async fn home(app: &TestApp, cookie: &str) -> (u16, String) {
    let resp = app
        .http
        .get(format!("{}/", app.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

both_backends!(signing_in_makes_a_fresh_http_only_session, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let id = with_password(&app, "ada", "learner", "a rarely used phrase").await;
    let resp = login(
        &app,
        "ADA",
        "a rarely used phrase",
        Some("rollcall_session=planted-by-an-attacker"),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let raw = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        raw.contains("HttpOnly") && raw.contains("SameSite=Lax") && raw.contains("Path=/"),
        "{raw}"
    );
    let cookie = session_cookie(&resp).unwrap();
    assert_ne!(cookie, "rollcall_session=planted-by-an-attacker", "a new id at sign-in");
    assert_eq!(cookie.len(), "rollcall_session=".len() + 64, "256 random bits");
    let (status, page) = home(&app, &cookie).await;
    assert_eq!(status, 200);
    assert!(page.contains("Signed in as <strong>ada</strong>"));
    let (status, _) = home(&app, "rollcall_session=planted-by-an-attacker").await;
    assert_eq!(status, 303, "an unknown session is no session");
    // The sign-in is recorded.
    let user = app
        .service
        .get_user(&Context::cli(), &UserKey::Id(UserId(id)))
        .await
        .unwrap();
    assert!(user.last_login_at.is_some());
    // By email too; a second sign-in is a second session.
    let again = login(&app, "ada@example.org", "a rarely used phrase", None).await;
    assert_ne!(session_cookie(&again).unwrap(), cookie);
});

both_backends!(
    unknown_accounts_and_wrong_passwords_look_the_same,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        with_password(&app, "ada", "learner", "a rarely used phrase").await;
        let wrong = login(&app, "ada", "not the password", None).await;
        let (s1, b1) = (wrong.status(), wrong.text().await.unwrap());
        let unknown = login(&app, "nobody", "not the password", None).await;
        let (s2, b2) = (unknown.status(), unknown.text().await.unwrap());
        assert_eq!((s1, &b1), (s2, &b2));
        assert_eq!(s1, 401);
        // A deactivated account answers the same.
        app.service
            .deactivate_user(&Context::cli(), &UserKey::from("ada"))
            .await
            .unwrap();
        let inactive = login(&app, "ada", "a rarely used phrase", None).await;
        assert_eq!((inactive.status(), inactive.text().await.unwrap()), (s1, b1));
    }
);

both_backends!(parallel_guesses_all_count, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    with_password(&app, "ada", "learner", "a rarely used phrase").await;
    // Twelve guesses in flight at once (each its own task), by email: every one is
    // counted, none slips through while the others are being checked.
    let guesses: Vec<_> = (0..12)
        .map(|i| {
            let (http, url) = (app.http.clone(), format!("{}/api/v1/auth/login", app.base));
            tokio::spawn(async move {
                http.post(url)
                    .json(&json!({"login": "ada@example.org", "password": format!("guess {i}")}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    for g in guesses {
        let status = g.await.unwrap();
        assert!([401, 429].contains(&status), "{status}");
    }
    assert_eq!(
        login(&app, "ada", "a rarely used phrase", None).await.status(),
        429,
        "by username or email: one allowance"
    );
});

both_backends!(failures_back_off_without_locking_out, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    with_password(&app, "ada", "learner", "a rarely used phrase").await;
    for _ in 0..5 {
        assert_eq!(login(&app, "ada", "guess", None).await.status(), 401);
    }
    let blocked = login(&app, "ada", "a rarely used phrase", None).await;
    assert_eq!(blocked.status(), 429, "even the right password waits out the backoff");
    let wait = retry_after(&blocked);
    let body: Value = blocked.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // The long backoff is per account and address: another account from the same
    // address is not held up by these few failures.
    with_password(&app, "bob", "learner", "another rare phrase").await;
    assert_eq!(login(&app, "bob", "another rare phrase", None).await.status(), 200);
    // No permanent lockout: once the backoff it announced has passed, the right password
    // works.
    app.clock.advance(wait * 1000);
    assert_eq!(login(&app, "ada", "a rarely used phrase", None).await.status(), 200);
});

both_backends!(state_changing_forms_need_their_csrf_token, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    with_password(&app, "ada", "learner", "a rarely used phrase").await;
    // The login form: a token in a cookie and in the form (double submit).
    let page = app.http.get(format!("{}/login", app.base)).send().await.unwrap();
    let form_cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let token = form_cookie.split('=').nth(1).unwrap().to_owned();
    let post = |cookie: Option<String>, csrf: String| {
        let mut req = app.http.post(format!("{}/login", app.base)).form(&[
            ("login", "ada"),
            ("password", "a rarely used phrase"),
            ("csrf", csrf.as_str()),
            ("next", "/"),
        ]);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send()
    };
    assert_eq!(
        post(None, token.clone()).await.unwrap().status(),
        403,
        "no cookie: refused"
    );
    assert_eq!(
        post(Some(form_cookie.clone()), "0".repeat(64)).await.unwrap().status(),
        403,
        "wrong token: refused"
    );
    let ok = post(Some(form_cookie.clone()), token.clone()).await.unwrap();
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()["location"], "/");
    let session = session_cookie(&ok).unwrap();
    // Sign-out needs the session's token.
    let logout = |csrf: &str| {
        app.http
            .post(format!("{}/logout", app.base))
            .header("cookie", session.clone())
            .form(&[("csrf", csrf)])
            .send()
    };
    assert_eq!(logout("wrong").await.unwrap().status(), 403);
    assert_eq!(home(&app, &session).await.0, 200, "still signed in");
    let (_, page) = home(&app, &session).await;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(logout(&csrf).await.unwrap().status(), 303);
    assert_eq!(home(&app, &session).await.0, 303, "signed out");
    // Redirects after sign-in stay on this site, whatever a browser would strip or fold.
    for next in ["/\t/evil.example", "/\\evil.example", "https://evil.example/"] {
        let (status, page) = {
            let resp = app
                .http
                .get(format!("{}/login", app.base))
                .query(&[("next", next)])
                .send()
                .await
                .unwrap();
            (resp.status(), resp.text().await.unwrap())
        };
        assert_eq!(status, 200);
        assert!(page.contains("name=\"next\" value=\"/\""), "{next:?} became /: {page}");
    }
    let evil = app
        .http
        .post(format!("{}/login", app.base))
        .header("cookie", form_cookie)
        .form(&[
            ("login", "ada"),
            ("password", "a rarely used phrase"),
            ("csrf", token.as_str()),
            ("next", "//evil.example"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(evil.headers()["location"], "/");
});

both_backends!(deactivation_and_demotion_end_sessions, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    app.user("root", "administrator", &[]).await;
    with_password(&app, "helper", "administrator", "a rarely used phrase").await;
    with_password(&app, "ada", "learner", "another rare phrase").await;
    let helper = session_cookie(&login(&app, "helper", "a rarely used phrase", None).await).unwrap();
    let ada = session_cookie(&login(&app, "ada", "another rare phrase", None).await).unwrap();
    let demote = rollcall_core::service::UserUpdate {
        user_type: Some("learner".into()),
        ..Default::default()
    };
    app.service
        .update_user(&Context::cli(), &UserKey::from("helper"), demote)
        .await
        .unwrap();
    assert_eq!(home(&app, &helper).await.0, 303, "demotion ends the session");
    app.service
        .deactivate_user(&Context::cli(), &UserKey::from("ada"))
        .await
        .unwrap();
    assert_eq!(home(&app, &ada).await.0, 303, "deactivation ends the session");
    app.service
        .activate_user(&Context::cli(), &UserKey::from("ada"))
        .await
        .unwrap();
    assert_eq!(home(&app, &ada).await.0, 303, "and it stays ended");
});

both_backends!(set_password_links_work_once, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    app.user("ada", "learner", &[]).await;
    let mail = app.deliver_mail().await;
    let body = &mail.iter().find(|(to, _)| to == "ada@example.org").unwrap().1;
    let link = body
        .lines()
        .find(|l| l.contains("/set-password?token="))
        .unwrap()
        .trim()
        .to_owned();
    assert!(
        link.starts_with(&format!("{}/set-password?token=", app.public_base)),
        "built from the configured base URL: {link}"
    );
    let token = link.split("token=").nth(1).unwrap().to_owned();
    assert_eq!(token.len(), 64);
    let page = app
        .http
        .get(format!("{}/set-password?token={token}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let form_cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = form_cookie.split('=').nth(1).unwrap().to_owned();
    let submit = |password: &str| {
        app.http
            .post(format!("{}/set-password", app.base))
            .header("cookie", form_cookie.clone())
            .form(&[
                ("csrf", csrf.as_str()),
                ("token", token.as_str()),
                ("password", password),
                ("confirm", password),
            ])
            .send()
    };
    let common = submit("Password123").await.unwrap();
    assert_eq!(common.status(), 400, "a common breached password is refused");
    assert_eq!(submit("my own rare phrase").await.unwrap().status(), 200);
    assert_eq!(login(&app, "ada", "my own rare phrase", None).await.status(), 200);
    assert_eq!(submit("yet another phrase").await.unwrap().status(), 400, "single use");
    // Resets: the same answer whether or not the account exists; a link only for a real one.
    for who in ["ada", "nobody", "ada"] {
        let (status, _) = app
            .call("POST", "/api/v1/auth/password-reset", None, Some(json!({"login": who})))
            .await;
        assert_eq!(status, 202);
    }
    let mail = app.service.list_mail(&Context::cli(), 10).await.unwrap();
    assert_eq!(
        mail.iter().filter(|m| m.template == "password_reset").count(),
        1,
        "one link per few minutes"
    );
});

both_backends!(weaker_hashes_are_upgraded_at_sign_in, |db: TestDb| async move {
    use argon2::password_hash::PasswordHasher;
    let app = TestApp::start(db).await;
    with_password(&app, "ada", "learner", "a rarely used phrase").await;
    // A hash made with weaker parameters (m=4096, t=1), as an older install might hold.
    let params = argon2::Params::new(4096, 1, 1, None).unwrap();
    let weak = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(b"a rarely used phrase")
        .unwrap()
        .to_string();
    app.db
        .execute(&format!(
            "UPDATE users SET password_hash = '{weak}' WHERE username_key = 'ada'"
        ))
        .await;
    assert_eq!(
        login(&app, "ada", "a rarely used phrase", None).await.status(),
        200,
        "weaker hashes still verify"
    );
    let stored = app
        .db
        .fetch_text("SELECT password_hash FROM users WHERE username_key = 'ada'")
        .await
        .unwrap();
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "rehashed at sign-in: {stored}"
    );
    assert_eq!(login(&app, "ada", "a rarely used phrase", None).await.status(), 200);
});

both_backends!(signing_out_everywhere_ends_every_session, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    with_password(&app, "ada", "learner", "a rarely used phrase").await;
    let laptop = session_cookie(&login(&app, "ada", "a rarely used phrase", None).await).unwrap();
    let phone = session_cookie(&login(&app, "ada", "a rarely used phrase", None).await).unwrap();
    let account = app
        .http
        .get(format!("{}/account", app.base))
        .header("cookie", &laptop)
        .send()
        .await
        .unwrap();
    assert_eq!(account.status(), 200);
    let page = account.text().await.unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(2)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let end = |csrf: String| {
        app.http
            .post(format!("{}/account/sessions", app.base))
            .header("cookie", laptop.clone())
            .form(&[("csrf", csrf)])
            .send()
    };
    assert_eq!(end("forged".into()).await.unwrap().status(), 403);
    assert_eq!(home(&app, &phone).await.0, 200, "a forged form ends nothing");
    let done = end(csrf).await.unwrap();
    assert_eq!(
        (done.status().as_u16(), done.headers()["location"].to_str().unwrap()),
        (303, "/login")
    );
    assert_eq!(home(&app, &laptop).await.0, 303, "this session ended");
    assert_eq!(home(&app, &phone).await.0, 303, "and the one on the other device");
    let (_, audit) = app
        .call(
            "GET",
            "/api/v1/audit?target=ada&action=user.sessions_end",
            Some(&app.token("t", app.user("root", "administrator", &[]).await).await),
            None,
        )
        .await;
    assert_eq!(audit[0]["changes"]["sessions"], 2, "{audit}");
});

both_backends!(an_instructor_opens_their_teaching_page, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let teach = with_password(&app, "teach", "instructor", "a rarely used phrase").await;
    let course = rollcall_core::service::NewCourse {
        code: "CHEM-101".into(),
        name: "Chemistry".into(),
        units: 2,
        ..Default::default()
    };
    let as_teach = Context::new(
        rollcall_core::Actor::User(rollcall_core::domain::UserId(teach)),
        rollcall_core::Channel::Console,
    );
    app.service.create_course(&as_teach, course).await.unwrap();
    let cookie = session_cookie(&login(&app, "teach", "a rarely used phrase", None).await).unwrap();
    let resp = app
        .http
        .get(format!("{}/teach", app.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("Chemistry (CHEM-101)"));
});

both_backends!(every_link_a_user_is_shown_opens, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    app.branch("North").await;
    for (name, user_type) in [
        ("root", "administrator"),
        ("boss", "branch-administrator"),
        ("teach", "instructor"),
        ("lea", "learner"),
    ] {
        let id = with_password(&app, name, user_type, "a rarely used phrase").await;
        if name == "boss" {
            let ctx = Context::cli();
            let add = rollcall_core::service::UserUpdate {
                add_branches: vec!["North".into()],
                ..Default::default()
            };
            app.service
                .update_user(&ctx, &UserKey::Id(rollcall_core::domain::UserId(id)), add)
                .await
                .unwrap();
        }
        let cookie = session_cookie(&login(&app, name, "a rarely used phrase", None).await).unwrap();
        let (status, page) = home(&app, &cookie).await;
        let page = if status == 303 {
            let resp = app
                .http
                .get(format!("{}/admin", app.base))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            resp.text().await.unwrap()
        } else {
            page
        };
        let nav = page
            .split("<nav aria-label=\"Main\">")
            .nth(1)
            .expect("the main navigation")
            .split("</nav>")
            .next()
            .unwrap();
        let links: Vec<String> = nav
            .split("href=\"")
            .skip(1)
            .map(|s| s.split('"').next().unwrap().replace("&amp;", "&"))
            .collect();
        assert!(!links.is_empty(), "{name} sees some links");
        for link in links {
            let resp = app
                .http
                .get(format!("{}{link}", app.base))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{name} ({user_type}) opening {link}");
        }
    }
});

/// A sign-in through a proxy that says the client is `client` (believed only when the
/// connection comes from a trusted proxy).
async fn login_from(app: &TestApp, client: &str, login: &str, password: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/api/v1/auth/login", app.base))
        .header("x-forwarded-for", client)
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap()
}

fn retry_after(resp: &reqwest::Response) -> i64 {
    resp.headers()["retry-after"].to_str().unwrap().parse().unwrap()
}

/// The `source` of the newest sign-in of `name` in the audit log.
async fn sign_in_source(app: &TestApp, name: &str) -> Option<String> {
    let filter = rollcall_core::service::AuditFilter {
        action: Some(rollcall_core::service::AuditAction::parse("user.sign_in").unwrap()),
        target: Some(name.into()),
        ..Default::default()
    };
    app.service
        .list_audit(&Context::cli(), &filter)
        .await
        .unwrap()
        .into_iter()
        .next()
        .and_then(|e| e.source)
}

both_backends!(
    an_attacker_elsewhere_cannot_keep_the_owner_out,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        // The test connects from 127.0.0.1: a trusted proxy for this test.
        app.service
            .set_setting(&Context::cli(), "trusted_proxies", "127.0.0.1")
            .await
            .unwrap();
        with_password(&app, "ada", "learner", "a rarely used phrase").await;
        // One address hammering the account: its own guesses back off for long…
        let mut refused = None;
        for _ in 0..20 {
            let resp = login_from(&app, "203.0.113.5", "ada", "guess").await;
            match resp.status().as_u16() {
                401 => {}
                429 => refused = refused.max(Some(retry_after(&resp))),
                other => panic!("{other}"),
            }
        }
        // (15 s from its fifth failure: longer than the account's longest backoff, 10 s.)
        assert!(refused.is_some_and(|s| s > 10), "the attacker waits long: {refused:?}");
        // …while the owner, elsewhere, signs in at once.
        assert_eq!(
            login_from(&app, "198.51.100.7", "ada", "a rarely used phrase")
                .await
                .status(),
            200
        );
        // Many addresses hammering it: the whole account backs off, but only for seconds.
        for i in 1..=6 {
            for _ in 0..6 {
                let status = login_from(&app, &format!("203.0.113.{}", 10 + i), "ada", "guess")
                    .await
                    .status();
                assert!([401, 429].contains(&status.as_u16()), "{status}");
            }
        }
        let owner = login_from(&app, "198.51.100.7", "ada", "a rarely used phrase").await;
        if owner.status() == 429 {
            assert!(retry_after(&owner) <= 10, "a short delay: {}", retry_after(&owner));
        } else {
            assert_eq!(owner.status(), 200);
        }
        // Once that short backoff has passed (the account's longest is 10 s), the owner is in;
        // the attacker's own backoff (15 s and more) still holds.
        app.clock.advance(11_000);
        assert_eq!(
            login_from(&app, "198.51.100.7", "ada", "a rarely used phrase")
                .await
                .status(),
            200
        );
        let attacker = login_from(&app, "203.0.113.5", "ada", "a rarely used phrase").await;
        assert_eq!(attacker.status(), 429, "the attacker's address is still held off");
    }
);

both_backends!(
    forwarded_for_is_believed_only_from_trusted_proxies,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        with_password(&app, "ada", "learner", "a rarely used phrase").await;
        // No trusted proxies (the default): the header is ignored.
        let ok = login_from(&app, "198.51.100.7", "ada", "a rarely used phrase").await;
        assert_eq!(ok.status(), 200);
        assert_eq!(sign_in_source(&app, "ada").await.as_deref(), Some("127.0.0.1"));
        // Another instance (a second service on the same database) trusts the test's
        // address: this running server believes the header from the next request on.
        let other = {
            let store = rollcall_store::SqlStore::connect(&app.db.url).await.unwrap();
            Service::new(Arc::new(store))
                .with_audit_key(rollcall_core::audit::AuditKey::from_bytes(&rollcall_testkit::TEST_AUDIT_KEY).unwrap())
        };
        other
            .set_setting(&Context::cli(), "trusted_proxies", "10.0.0.0/8, 127.0.0.0/8")
            .await
            .unwrap();
        // The right-most address that isn't a trusted proxy is the client; what sits to
        // its left (anyone can write it) is not believed.
        let ok = login_from(
            &app,
            "192.0.2.66, 198.51.100.7, 10.1.2.3",
            "ada",
            "a rarely used phrase",
        )
        .await;
        assert_eq!(ok.status(), 200);
        assert_eq!(sign_in_source(&app, "ada").await.as_deref(), Some("198.51.100.7"));
        // The same address goes into the audit entries of API calls.
        let root = app.user("root", "administrator", &[]).await;
        let token = app.token("t", root).await;
        let created = app
            .http
            .post(format!("{}/api/v1/users", app.base))
            .bearer_auth(&token)
            .header("x-forwarded-for", "198.51.100.9")
            .json(&json!({"username": "bob", "email": "bob@example.org", "first_name": "B", "last_name": "B"}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let filter = rollcall_core::service::AuditFilter {
            action: Some(rollcall_core::service::AuditAction::parse("user.create").unwrap()),
            target: Some("bob".into()),
            ..Default::default()
        };
        let entries = app.service.list_audit(&Context::cli(), &filter).await.unwrap();
        assert_eq!(entries[0].source.as_deref(), Some("198.51.100.9"));
        // Trusting nobody again takes effect at once too.
        other.set_setting(&Context::cli(), "trusted_proxies", "").await.unwrap();
        assert_eq!(
            login_from(&app, "198.51.100.7", "ada", "a rarely used phrase")
                .await
                .status(),
            200
        );
        assert_eq!(sign_in_source(&app, "ada").await.as_deref(), Some("127.0.0.1"));
        // A bad network is refused, naming the setting.
        let err = other
            .set_setting(&Context::cli(), "trusted_proxies", "10.0.0.0/8,10.0.0.300/8")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("trusted_proxies"), "{err}");
    }
);

both_backends!(
    over_long_logins_are_refused_before_any_lookup,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        let long = "a".repeat(rollcall_core::service::LOGIN_MAX_CHARS + 1);
        let resp = login(&app, &long, "whatever it is", None).await;
        assert_eq!(resp.status(), 400);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_input", "{body}");
        // The form says so too.
        let page = app.http.get(format!("{}/login", app.base)).send().await.unwrap();
        let form_cookie = page.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let token = form_cookie.split('=').nth(1).unwrap().to_owned();
        let form = app
            .http
            .post(format!("{}/login", app.base))
            .header("cookie", &form_cookie)
            .form(&[
                ("login", long.as_str()),
                ("password", "x"),
                ("csrf", &token),
                ("next", "/"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(form.status(), 400);
        assert_eq!(
            app.db
                .fetch_text("SELECT CAST(COUNT(*) AS TEXT) FROM sign_in_failures")
                .await
                .as_deref(),
            Some("0"),
            "nothing was counted or stored"
        );
        // An unknown login is counted under a digest, never its text.
        let resp = login(&app, "someone-unknown@example.org", "a wrong guess", None).await;
        assert_eq!(resp.status(), 401);
        let stored = app
            .db
            .fetch_text("SELECT key FROM sign_in_failures WHERE key LIKE 'acct:%'")
            .await
            .unwrap();
        assert!(!stored.contains("someone-unknown"), "{stored}");
        assert_eq!(stored.len(), "acct:login:".len() + 64, "{stored}");
    }
);

both_backends!(both_login_routes_answer_429_with_retry_after, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    with_password(&app, "ada", "learner", "a rarely used phrase").await;
    for _ in 0..5 {
        assert_eq!(login(&app, "ada", "guess", None).await.status(), 401);
    }
    let json = login(&app, "ada", "guess", None).await;
    assert_eq!(json.status(), 429);
    assert!(retry_after(&json) > 0);
    let page = app.http.get(format!("{}/login", app.base)).send().await.unwrap();
    let form_cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let token = form_cookie.split('=').nth(1).unwrap().to_owned();
    let form = app
        .http
        .post(format!("{}/login", app.base))
        .header("cookie", &form_cookie)
        .form(&[
            ("login", "ada"),
            ("password", "guess"),
            ("csrf", token.as_str()),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 429);
    assert!(retry_after(&form) > 0);
    assert!(form.text().await.unwrap().contains("Too many attempts"));
});

both_backends!(reset_requests_are_limited_per_address, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    with_password(&app, "ada", "learner", "a rarely used phrase").await;
    // A burst is answered as usual (the same for accounts that exist and those that don't)…
    for i in 0..rollcall_server::RESET_BURST {
        let login = if i % 2 == 0 { "ada" } else { "nobody" };
        let (status, _) = app
            .call(
                "POST",
                "/api/v1/auth/password-reset",
                None,
                Some(json!({"login": login})),
            )
            .await;
        assert_eq!(status, 202, "request {i}");
    }
    // …then the address waits, on the JSON route and the form alike.
    let resp = app
        .http
        .post(format!("{}/api/v1/auth/password-reset", app.base))
        .json(&json!({"login": "ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    let page = app
        .http
        .get(format!("{}/forgot-password", app.base))
        .send()
        .await
        .unwrap();
    let form_cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = form_cookie.split('=').nth(1).unwrap().to_owned();
    let resp = app
        .http
        .post(format!("{}/forgot-password", app.base))
        .header("cookie", form_cookie)
        .form(&[("csrf", csrf.as_str()), ("login", "ada")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    // A login longer than any account's is answered the same, without a lookup.
    let long = "x".repeat(10_000);
    let other = TestApp::start(TestDb::sqlite()).await;
    let (status, _) = other
        .call(
            "POST",
            "/api/v1/auth/password-reset",
            None,
            Some(json!({"login": long})),
        )
        .await;
    assert_eq!(status, 202);
});
