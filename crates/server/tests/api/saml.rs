//! SAML single sign-on through the real endpoints, with a test IdP that signs real
//! responses: a valid answer signs in (and creates the user just in time); every attack
//! is refused with no session.

use super::signin::{home, session_cookie};
use super::*;
use chrono::{Duration, Utc};
use rollcall_core::service::SsoConfig;
use rollcall_saml::test_idp::{ResponseSpec, TestIdp};
use std::collections::BTreeMap;
use std::io::Read as _;

async fn configure(app: &TestApp, jit: bool) {
    let metadata = rollcall_saml::parse_idp_metadata(&TestIdp::new().metadata()).unwrap();
    let config = SsoConfig {
        idp_entity_id: metadata.entity_id,
        sso_url: metadata.sso_url,
        signing_certs: metadata.signing_certs,
        jit,
        default_type: "learner".into(),
        default_branch: None,
        allow_idp_initiated: false,
        mappings: BTreeMap::new(),
    };
    app.service.set_sso(&Context::cli(), config).await.unwrap();
}

/// Starts an SP-initiated sign-in and returns the AuthnRequest's id.
async fn begin(app: &TestApp) -> String {
    begin_in_browser(app).await.0
}

/// Starts an SP-initiated sign-in; returns the AuthnRequest's id and the cookie binding
/// it to this browser, as `name=value`, with its attributes.
async fn begin_in_browser(app: &TestApp) -> (String, String, String) {
    let resp = app
        .http
        .get(format!("{}/saml/login?RelayState=/courses", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    let set_cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.contains("rollcall_saml_request="))
        .expect("the request's cookie");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("https://idp.test.example/sso?SAMLRequest="),
        "{location}"
    );
    let query = location.split_once('?').unwrap().1;
    let pairs: BTreeMap<String, String> = reqwest::Url::parse(&format!("http://x/?{query}"))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(pairs["RelayState"], "/courses");
    use base64::Engine as _;
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(&pairs["SAMLRequest"])
        .unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&compressed[..])
        .read_to_string(&mut xml)
        .unwrap();
    assert!(xml.contains(&format!("AssertionConsumerServiceURL=\"{}/saml/acs\"", app.public_base)));
    let start = xml.find(" ID=\"").unwrap() + 5;
    let id = xml[start..start + xml[start..].find('"').unwrap()].to_owned();
    (id, cookie, set_cookie)
}

fn spec(app: &TestApp, name_id: &str, request: Option<String>) -> ResponseSpec {
    let idp = TestIdp::new();
    let mut spec = ResponseSpec::new(
        &idp,
        &format!("{}/saml/metadata", app.public_base),
        &format!("{}/saml/acs", app.public_base),
        name_id,
        Utc::now(),
    );
    spec.in_response_to = request;
    spec.name_id_format = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into();
    spec.attributes = vec![
        ("email".into(), format!("{name_id}@example.org")),
        ("firstName".into(), "Ada".into()),
        ("lastName".into(), "Lovelace".into()),
    ];
    spec
}

async fn post(app: &TestApp, xml: &str) -> reqwest::Response {
    post_from(app, xml, None).await
}

/// Posts an answer from a browser holding `cookie`, if any.
async fn post_from(app: &TestApp, xml: &str, cookie: Option<&str>) -> reqwest::Response {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(xml);
    let mut req = app
        .http
        .post(format!("{}/saml/acs", app.base))
        .header("x-request-id", next_request_id(app))
        .form(&[("SAMLResponse", body.as_str()), ("RelayState", "/courses")]);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

/// What the server logs about one test's SAML answers. The process has one log sink,
/// installed once (tests may share a process under `cargo test`); each test's answers carry
/// request ids of its own (`post_from` sends them), and the request span puts the id on
/// every line logged while handling it, so a test reads only its own lines.
#[derive(Clone, Default)]
struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_sink() -> &'static Sink {
    static SINK: std::sync::OnceLock<Sink> = std::sync::OnceLock::new();
    SINK.get_or_init(|| {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("the SAML tests install the process's only log subscriber");
        sink
    })
}

/// The request-id prefix of the answers posted to `app`: unique within the process, since
/// each app listens on its own port.
fn request_id_prefix(app: &TestApp) -> String {
    format!("saml-test-{}-", app.base.rsplit(':').next().unwrap_or_default())
}

fn next_request_id(app: &TestApp) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}{n}", request_id_prefix(app))
}

struct Log {
    prefix: String,
}

impl Log {
    fn capture(app: &TestApp) -> Log {
        log_sink();
        Log {
            prefix: format!("request_id={}", request_id_prefix(app)),
        }
    }

    fn refusals(&self) -> Vec<String> {
        String::from_utf8_lossy(&log_sink().0.lock().unwrap())
            .lines()
            .filter(|l| l.contains("refused") && l.contains(&self.prefix))
            .map(str::to_owned)
            .collect()
    }
}

#[track_caller]
fn assert_refused(resp: &reqwest::Response, case: &str) {
    assert!(
        matches!(resp.status().as_u16(), 403 | 413),
        "{case}: answered {}",
        resp.status()
    );
    assert_eq!(session_cookie(resp), None, "{case}: a session was started");
}

fn without_signature(xml: &str) -> String {
    let start = xml.find("<ds:Signature").unwrap();
    let end = xml.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    format!("{}{}", &xml[..start], &xml[end..])
}

fn assertion_of(xml: &str) -> String {
    let start = xml.find("<saml:Assertion").unwrap();
    let end = xml.rfind("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    xml[start..end].to_owned()
}

both_backends!(
    a_signed_answer_signs_in_and_creates_the_user_just_in_time,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        configure(&app, true).await;
        let request = begin(&app).await;
        let resp = post(&app, &TestIdp::new().response(&spec(&app, "ada", Some(request)))).await;
        assert_eq!(resp.status().as_u16(), 303, "{}", resp.status());
        assert_eq!(resp.headers()["location"], "/courses");
        let cookie = session_cookie(&resp).expect("a session cookie");
        let (status, body) = home(&app, &cookie).await;
        assert_eq!(status, 200);
        assert!(body.contains("ada"), "{body}");

        let user = app
            .service
            .get_user(&Context::cli(), &UserKey::Username("ada".into()))
            .await
            .unwrap();
        assert_eq!(user.email, "ada@example.org");
        assert_eq!(user.user_type, "Learner");
        assert!(user.last_login_at.is_some(), "last login recorded for SSO sign-ins too");

        // A second sign-in links to the same account rather than creating another: the
        // session is ada's, and the directory still holds one account besides the
        // administrator.
        let accounts = app
            .service
            .count_users(&Context::cli(), &Default::default())
            .await
            .unwrap();
        let request = begin(&app).await;
        let resp = post(&app, &TestIdp::new().response(&spec(&app, "ada", Some(request)))).await;
        assert_eq!(resp.status().as_u16(), 303);
        let again = session_cookie(&resp).expect("a session cookie");
        let (status, body) = home(&app, &again).await;
        assert_eq!(status, 200);
        assert!(body.contains("ada"), "{body}");
        let relinked = app
            .service
            .get_user(&Context::cli(), &UserKey::Username("ada".into()))
            .await
            .unwrap();
        assert_eq!(relinked.id, user.id, "the same account");
        assert_eq!(
            app.service
                .count_users(&Context::cli(), &Default::default())
                .await
                .unwrap(),
            accounts,
            "no second account"
        );
    }
);

both_backends!(
    every_forged_or_misdirected_answer_is_refused_without_a_session,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        let log = Log::capture(&app);
        configure(&app, true).await;
        let idp = TestIdp::new();

        let mut cases: Vec<(&str, String)> = Vec::new();
        let valid = |s: &ResponseSpec| idp.response(s);
        let s = spec(&app, "mallory", Some(begin(&app).await));
        cases.push(("unsigned", idp.wrap(&s, &idp.assertion_xml(&s, false))));
        let s = spec(&app, "mallory", Some(begin(&app).await));
        cases.push(("signature removed", without_signature(&valid(&s))));
        let s = spec(&app, "mallory", Some(begin(&app).await));
        cases.push(("changed after signing", valid(&s).replace(">Ada<", ">Eve<")));
        let s = spec(&app, "mallory", Some(begin(&app).await));
        cases.push(("another key with its own certificate", TestIdp::attacker().response(&s)));
        let s = spec(&app, "ada", Some(begin(&app).await));
        let signed = assertion_of(&valid(&s));
        let mut evil = s.clone();
        evil.assertion_id = "_evil".into();
        evil.name_id = "root".into();
        let evil = idp.assertion_xml(&evil, false);
        cases.push(("evil assertion before", idp.wrap(&s, &format!("{evil}{signed}"))));
        cases.push(("evil assertion beside", idp.wrap(&s, &format!("{signed}{evil}"))));
        cases.push((
            "evil assertion wrapping",
            idp.wrap(
                &s,
                &evil.replacen("<saml:Subject>", &format!("<saml:Subject>{signed}"), 1),
            ),
        ));
        let mut s = spec(&app, "mallory", Some(begin(&app).await));
        s.not_before = Utc::now() - Duration::minutes(20);
        s.not_on_or_after = Utc::now() - Duration::minutes(10);
        cases.push(("expired", valid(&s)));
        let mut s = spec(&app, "mallory", Some(begin(&app).await));
        s.not_before = Utc::now() + Duration::minutes(10);
        s.not_on_or_after = Utc::now() + Duration::minutes(20);
        cases.push(("not yet valid", valid(&s)));
        let mut s = spec(&app, "mallory", Some(begin(&app).await));
        s.audience = "https://another-sp.example/metadata".into();
        cases.push(("wrong audience", valid(&s)));
        let mut s = spec(&app, "mallory", Some(begin(&app).await));
        s.recipient = "https://evil.example/saml/acs".into();
        cases.push(("wrong recipient", valid(&s)));
        let mut s = spec(&app, "mallory", Some(begin(&app).await));
        s.destination = "https://evil.example/saml/acs".into();
        cases.push(("wrong destination", valid(&s)));
        cases.push((
            "unknown InResponseTo",
            valid(&spec(&app, "mallory", Some("_never_issued".into()))),
        ));
        cases.push((
            "unsolicited while IdP-initiated is off",
            valid(&spec(&app, "mallory", None)),
        ));
        let s = spec(&app, "mallory", Some(begin(&app).await));
        cases.push((
            "SHA-1 signature",
            valid(&s).replace("xmldsig-more#rsa-sha256", "xmldsig#rsa-sha1"),
        ));
        let s = spec(&app, "mallory", Some(begin(&app).await));
        cases.push((
            "DOCTYPE and entity",
            format!("<!DOCTYPE x [<!ENTITY e \"mallory\">]>{}", valid(&s)),
        ));
        let s = spec(&app, "mallory", Some(begin(&app).await));
        cases.push((
            "oversized",
            valid(&s).replacen(
                "</samlp:Status>",
                &format!("</samlp:Status><!--{}-->", "x".repeat(300 * 1024)),
                1,
            ),
        ));

        for (i, (case, xml)) in cases.iter().enumerate() {
            assert_refused(&post(&app, xml).await, case);
            // The oversized body stops at the body limit, before any SAML code runs.
            if *case != "oversized" {
                let refusals = log.refusals();
                assert_eq!(refusals.len(), i + 1, "{case}: logged {refusals:#?}");
                assert!(refusals[i].contains("reason="), "{case}: {}", refusals[i]);
            }
        }
        let refusals = log.refusals().join("\n");
        for reason in [
            "not signed",
            "does not verify",
            "not exactly one",
            "expired",
            "not valid before",
            "audience",
            "Recipient",
            "Destination",
            "signature method",
            "DTD",
            "no outstanding request",
            "started at the identity provider",
        ] {
            assert!(
                refusals.contains(reason),
                "no refusal logged for {reason:?}:\n{refusals}"
            );
        }
        for name in ["mallory", "root"] {
            assert!(
                app.service
                    .get_user(&Context::cli(), &UserKey::Username(name.into()))
                    .await
                    .is_err(),
                "no account was created for {name}"
            );
        }
    }
);

both_backends!(requests_and_assertions_are_used_once, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    configure(&app, true).await;
    let idp = TestIdp::new();
    let request = begin(&app).await;
    let answer = idp.response(&spec(&app, "ada", Some(request.clone())));
    assert_eq!(post(&app, &answer).await.status().as_u16(), 303);
    assert_refused(&post(&app, &answer).await, "replayed assertion");
    assert_refused(
        &post(&app, &idp.response(&spec(&app, "ada", Some(request)))).await,
        "reused InResponseTo",
    );

    // IdP-initiated sign-in once allowed; RelayState never leads off-site.
    let mut config = app.service.public().sso_config().await.unwrap().unwrap();
    config.allow_idp_initiated = true;
    app.service.set_sso(&Context::cli(), config).await.unwrap();
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(idp.response(&spec(&app, "ada", None)));
    let resp = app
        .http
        .post(format!("{}/saml/acs", app.base))
        .form(&[
            ("SAMLResponse", body.as_str()),
            ("RelayState", "https://evil.example/phish"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], "/");
    assert!(session_cookie(&resp).is_some());
});

both_backends!(
    accounts_are_refused_when_deactivated_or_unknown_without_jit,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        configure(&app, false).await;
        let idp = TestIdp::new();
        let ada = app.user("ada", "learner", &[]).await;

        // JIT off: an unknown user gets no account.
        let resp = post(&app, &idp.response(&spec(&app, "newcomer", Some(begin(&app).await)))).await;
        assert_refused(&resp, "JIT off");
        assert!(
            app.service
                .get_user(&Context::cli(), &UserKey::Username("newcomer".into()))
                .await
                .is_err()
        );

        // A comment in the NameID must not make "ada.evil" read as "ada".
        let signed = idp.response(&spec(&app, "ada.evil", Some(begin(&app).await)));
        let tampered = signed.replacen(">ada.evil<", ">ada<!---->.evil<", 1);
        assert_ne!(signed, tampered);
        assert_refused(&post(&app, &tampered).await, "NameID with a comment");

        // The existing account signs in once an administrator has linked it; deactivated, it
        // is refused and stays so.
        let resp = post(&app, &idp.response(&spec(&app, "ada", Some(begin(&app).await)))).await;
        assert_refused(&resp, "not linked");
        let upd = rollcall_core::service::UserUpdate {
            sso_subject: Some(Some("ada".into())),
            ..Default::default()
        };
        app.service
            .update_user(&Context::cli(), &UserKey::Id(UserId(ada)), upd)
            .await
            .unwrap();
        let resp = post(&app, &idp.response(&spec(&app, "ada", Some(begin(&app).await)))).await;
        assert_eq!(resp.status().as_u16(), 303);
        app.service
            .deactivate_user(&Context::cli(), &UserKey::Id(UserId(ada)))
            .await
            .unwrap();
        let resp = post(&app, &idp.response(&spec(&app, "ada", Some(begin(&app).await)))).await;
        assert_refused(&resp, "deactivated user");
        let user = app
            .service
            .get_user(&Context::cli(), &UserKey::Id(UserId(ada)))
            .await
            .unwrap();
        assert_eq!(user.status, "deactivated");
    }
);

both_backends!(
    over_https_an_answer_signs_in_only_the_browser_that_asked,
    |db: TestDb| async move {
        let app = TestApp::start_behind_tls(db).await;
        let log = Log::capture(&app);
        configure(&app, true).await;
        let idp = TestIdp::new();
        let (request, cookie, set_cookie) = begin_in_browser(&app).await;
        for attribute in [
            "__Host-rollcall_saml_request=",
            "HttpOnly",
            "Secure",
            "SameSite=None",
            "Path=/",
            "Max-Age=600",
        ] {
            assert!(set_cookie.contains(attribute), "{attribute} in {set_cookie}");
        }
        let answer = idp.response(&spec(&app, "ada", Some(request.clone())));
        // Login CSRF: the answer to someone's own sign-in, posted from another browser
        // (one with no request, or with a request of its own).
        assert_refused(
            &post_from(&app, &answer, None).await,
            "posted from a browser that asked nothing",
        );
        let (_, other_cookie, _) = begin_in_browser(&app).await;
        assert_refused(
            &post_from(&app, &answer, Some(&other_cookie)).await,
            "posted from a browser that asked something else",
        );
        let refusals = log.refusals();
        assert_eq!(refusals.len(), 2, "{refusals:?}");
        assert!(refusals.iter().all(|l| l.contains("did not start")), "{refusals:?}");
        // The browser that asked signs in, and its request cookie is cleared.
        let resp = post_from(&app, &answer, Some(&cookie)).await;
        assert_eq!(resp.status().as_u16(), 303, "{}", resp.status());
        assert!(
            session_cookie(&resp).is_none(),
            "over https the session cookie is __Host- prefixed"
        );
        let cleared = resp.headers().get_all("set-cookie").iter().any(|v| {
            v.to_str().unwrap().starts_with("__Host-rollcall_saml_request=;")
                && v.to_str().unwrap().contains("Max-Age=0")
        });
        assert!(cleared, "{:?}", resp.headers());
        assert!(
            resp.headers()
                .get_all("set-cookie")
                .iter()
                .any(|v| v.to_str().unwrap().starts_with("__Host-rollcall_session=")),
            "signed in"
        );
    }
);

both_backends!(
    a_signed_answer_never_signs_in_as_an_account_it_merely_names,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        let log = Log::capture(&app);
        configure(&app, true).await;
        let idp = TestIdp::new();
        let root = app.user("root", "administrator", &[]).await;
        let token = app.token("root-token", root).await;
        app.user("carol", "learner", &[]).await;

        let mut by_attribute = spec(&app, "someone-else", Some(begin(&app).await));
        by_attribute.attributes.push(("username".into(), "root".into()));
        let mut by_email = spec(&app, "newcomer", Some(begin(&app).await));
        by_email.attributes[0].1 = "carol@example.org".into();
        let cases = [
            (
                "NameID of the administrator",
                spec(&app, "root", Some(begin(&app).await)),
            ),
            ("username attribute of the administrator", by_attribute),
            ("NameID of a learner", spec(&app, "carol", Some(begin(&app).await))),
            ("email of an unlinked account", by_email),
        ];
        for (case, s) in &cases {
            let resp = post(&app, &idp.response(s)).await;
            assert_refused(&resp, case);
            let page = resp.text().await.unwrap();
            for leak in ["root", "carol", "taken", "linked"] {
                assert!(!page.contains(leak), "{case}: the page tells {leak:?}: {page}");
            }
        }
        let refusals = log.refusals().join("\n");
        assert!(
            refusals.contains("single sign-on refused") && refusals.contains("not linked to this subject"),
            "the reason is logged: {refusals}"
        );
        for name in ["someone-else", "newcomer"] {
            assert!(
                app.service
                    .get_user(&Context::cli(), &UserKey::Username(name.into()))
                    .await
                    .is_err(),
                "nothing created or merged for {name}"
            );
        }

        // An administrator links the account over the REST API: then, and only then, that
        // subject signs in as root — and unlinked, no longer.
        let path = format!("/api/v1/users/{root}");
        let (status, body) = app
            .call("PATCH", &path, Some(&token), Some(json!({"sso_subject": "root.corp"})))
            .await;
        assert_eq!(status, 200, "{body}");
        let resp = post(&app, &idp.response(&spec(&app, "root.corp", Some(begin(&app).await)))).await;
        assert_eq!(resp.status().as_u16(), 303, "linked");
        let (status, home_page) = home(&app, &session_cookie(&resp).unwrap()).await;
        assert_eq!(status, 200);
        assert!(home_page.contains("root"), "{home_page}");
        let mail = app.service.list_mail(&Context::cli(), 100).await.unwrap();
        assert!(
            mail.iter()
                .any(|m| m.template == "sso_admin_linked" && m.to == "root@example.org"),
            "administrators are told: {mail:?}"
        );
        let (status, body) = app
            .call("PATCH", &path, Some(&token), Some(json!({"sso_subject": null})))
            .await;
        assert_eq!(status, 200, "{body}");
        // Unlinked, the subject is a stranger again: just-in-time provisioning gives it a
        // new account of its own, never root.
        let resp = post(&app, &idp.response(&spec(&app, "root.corp", Some(begin(&app).await)))).await;
        assert_eq!(resp.status().as_u16(), 303);
        let stranger = app
            .service
            .get_user(&Context::cli(), &UserKey::Username("root.corp".into()))
            .await
            .unwrap();
        assert_ne!(stranger.id, root);
        assert_eq!(stranger.user_type, "Learner");
    }
);

both_backends!(
    a_just_in_time_account_signs_in_by_its_subject_after_a_rename,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        configure(&app, true).await;
        let idp = TestIdp::new();
        let resp = post(&app, &idp.response(&spec(&app, "u-42", Some(begin(&app).await)))).await;
        assert_eq!(resp.status().as_u16(), 303);
        let created = app
            .service
            .get_user(&Context::cli(), &UserKey::Username("u-42".into()))
            .await
            .unwrap();
        let rename = rollcall_core::service::UserUpdate {
            username: Some("ada".into()),
            ..Default::default()
        };
        app.service
            .update_user(&Context::cli(), &UserKey::Id(UserId(created.id)), rename)
            .await
            .unwrap();
        let resp = post(&app, &idp.response(&spec(&app, "u-42", Some(begin(&app).await)))).await;
        assert_eq!(resp.status().as_u16(), 303, "found by its subject");
        let (_, page) = home(&app, &session_cookie(&resp).unwrap()).await;
        assert!(page.contains("ada"), "{page}");
    }
);

both_backends!(the_console_links_and_unlinks_a_user, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    configure(&app, false).await;
    super::signin::with_password(&app, "boss", "administrator", "correct horse battery").await;
    let lea = app.user("lea", "learner", &[]).await;
    let cookie = session_cookie(&super::signin::login(&app, "boss", "correct horse battery", None).await).unwrap();
    let page = || async {
        app.http
            .get(format!("{}/admin/users/{lea}", app.base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let edit = |subject: &'static str, csrf: String| {
        let cookie = cookie.clone();
        let url = format!("{}/admin/users/{lea}/edit", app.base);
        let http = app.http.clone();
        async move {
            http.post(url)
                .header("cookie", cookie)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("email", "lea@example.org"),
                    ("first_name", "Test"),
                    ("last_name", "lea"),
                    ("user_type", "Learner"),
                    ("branches", ""),
                    ("groups", ""),
                    ("sso_subject", subject),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let csrf_of = |page: &str| {
        page.split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_owned()
    };
    let shown = page().await;
    assert!(
        shown.contains("id=\"e-sso_subject\" name=\"sso_subject\" value=\"\""),
        "{shown}"
    );
    assert_eq!(edit("lea@corp", csrf_of(&shown)).await, 303);
    let shown = page().await;
    assert!(shown.contains("name=\"sso_subject\" value=\"lea@corp\""), "{shown}");
    assert!(shown.contains("NameID at https://idp.test.example"), "{shown}");
    let resp = post(
        &app,
        &TestIdp::new().response(&spec(&app, "lea@corp", Some(begin(&app).await))),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 303, "linked from the console");
    assert_eq!(edit("", csrf_of(&shown)).await, 303);
    let resp = post(
        &app,
        &TestIdp::new().response(&spec(&app, "lea@corp", Some(begin(&app).await))),
    )
    .await;
    assert_refused(&resp, "unlinked from the console");
});

both_backends!(
    a_response_stuffed_with_signatures_is_refused_before_verification,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        let log = Log::capture(&app);
        configure(&app, true).await;
        let request = begin(&app).await;
        let signed = TestIdp::new().response(&spec(&app, "ada", Some(request)));
        // Copies of a signature that verifies, right beside it, up to the 256 KiB limit.
        let start = signed.find("<ds:Signature").unwrap();
        let end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        let signature = &signed[start..end];
        let copies = (rollcall_saml::response::MAX_RESPONSE - signed.len()) / signature.len();
        let stuffed = format!("{}{}{}", &signed[..end], signature.repeat(copies), &signed[end..]);
        assert!(stuffed.len() > 200 * 1024, "{}", stuffed.len());
        let resp = post(&app, &stuffed).await;
        assert_refused(&resp, "stuffed with signatures");
        let refusals = log.refusals();
        assert_eq!(refusals.len(), 1, "{refusals:#?}");
        assert!(
            refusals[0].contains("shape check, before verification"),
            "{}",
            refusals[0]
        );
        // The answer it was built from still signs in.
        let request = begin(&app).await;
        let resp = post(&app, &TestIdp::new().response(&spec(&app, "ada", Some(request)))).await;
        assert_eq!(resp.status().as_u16(), 303);
    }
);

both_backends!(saml_endpoints_are_rate_limited_per_address, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    configure(&app, true).await;
    // The test connects from 127.0.0.1; trusting it lets requests speak for other clients.
    app.service
        .set_setting(&Context::cli(), "trusted_proxies", "127.0.0.1")
        .await
        .unwrap();
    let from = |client: &'static str| {
        app.http
            .get(format!("{}/saml/login", app.base))
            .header("x-forwarded-for", client)
            .send()
    };
    let burst = rollcall_server::saml::RATE_BURST as usize;
    let mut limited = None;
    for i in 0..burst * 3 {
        let resp = from("203.0.113.5").await.unwrap();
        if resp.status() == 429 {
            limited = Some((i, resp));
            break;
        }
        assert_eq!(resp.status(), 303, "request {i}");
    }
    let (i, resp) = limited.expect("the burst runs out");
    assert!(i >= burst, "not before the burst: {i}");
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    // The assertion consumer shares the address's allowance.
    let acs = app
        .http
        .post(format!("{}/saml/acs", app.base))
        .header("x-forwarded-for", "203.0.113.5")
        .form(&[("SAMLResponse", "PHg+")])
        .send()
        .await
        .unwrap();
    assert_eq!(acs.status(), 429);
    // Another address is not held up.
    assert_eq!(from("198.51.100.7").await.unwrap().status(), 303);
});

both_backends!(
    the_api_answers_while_clients_send_stuffed_responses,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        configure(&app, true).await;
        let root = app.user("root", "administrator", &[]).await;
        let token = app.token("root-token", root).await;
        let signed = TestIdp::new().response(&spec(&app, "ada", Some(begin(&app).await)));
        let start = signed.find("<ds:Signature").unwrap();
        let end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        let signature = &signed[start..end];
        let copies = (rollcall_saml::response::MAX_RESPONSE - signed.len()) / signature.len();
        let stuffed = format!("{}{}{}", &signed[..end], signature.repeat(copies), &signed[end..]);
        // Six clients post stuffed responses at once while an administrator uses the API:
        // every stuffed one is refused without a server error, and the API call is answered.
        let s = stuffed.as_str();
        let (a, b, c, d, e, f, (status, body)) = tokio::join!(
            post(&app, s),
            post(&app, s),
            post(&app, s),
            post(&app, s),
            post(&app, s),
            post(&app, s),
            app.call("GET", "/api/v1/users?limit=5", Some(&token), None)
        );
        assert_eq!(status, 200, "{body}");
        for a in [a, b, c, d, e, f] {
            let s = a.status().as_u16();
            assert!(s < 500 || s == 503, "a stuffed response answered {s}");
            assert!(
                a.headers()
                    .get("set-cookie")
                    .is_none_or(|c| !c.to_str().unwrap().contains("rollcall_session="))
            );
        }
    }
);

both_backends!(
    the_sign_in_page_offers_sso_and_can_make_it_the_only_way_in,
    |db: TestDb| async move {
        use super::signin::{login, with_password};
        let app = TestApp::start(db).await;
        let phrase = "a rarely used phrase";
        with_password(&app, "boss", "administrator", phrase).await;
        with_password(&app, "ada", "learner", phrase).await;
        let button = "Sign in with single sign-on";
        let (_, page) = app.get_text("/login?next=/courses").await;
        assert!(!page.contains(button), "no button before single sign-on is set up");
        configure(&app, true).await;
        let (status, page) = app.get_text("/login?next=/courses").await;
        assert_eq!(status, 200);
        assert!(page.contains(button), "{page}");
        assert!(page.contains("/saml/login?RelayState=%2Fcourses"), "{page}");

        app.service
            .set_setting(&Context::cli(), "password_sign_in", "boss")
            .await
            .unwrap();
        let refused = login(&app, "ada", phrase, None).await;
        assert_eq!(refused.status(), 403);
        assert!(session_cookie(&refused).is_none());
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "sso_only", "{body}");
        let (status, _) = (login(&app, "nobody", "whatever", None).await.status(), ());
        assert_eq!(status, 403, "a login naming nobody is answered alike");
        let boss = login(&app, "boss", phrase, None).await;
        assert_eq!(boss.status(), 200, "the break-glass administrator still signs in");
    }
);
