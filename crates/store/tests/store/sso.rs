use super::*;
use std::collections::BTreeMap;

fn config(jit: bool) -> SsoConfig {
    SsoConfig {
        idp_entity_id: "https://idp.example.org".into(),
        sso_url: "https://idp.example.org/sso".into(),
        signing_certs: vec!["MIIBsjCCAVigAwIBAgIU".into()],
        jit,
        default_type: "learner".into(),
        default_branch: None,
        allow_idp_initiated: true,
        mappings: BTreeMap::new(),
    }
}

static NEXT_ASSERTION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn identity(name_id: &str, email: &str) -> SsoIdentity {
    let mut attributes = BTreeMap::new();
    attributes.insert("email".into(), vec![email.into()]);
    attributes.insert("givenName".into(), vec!["Ada".into()]);
    attributes.insert("sn".into(), vec!["Lovelace".into()]);
    SsoIdentity {
        name_id: name_id.into(),
        name_id_is_email: false,
        attributes,
        assertion_id: format!(
            "_a{}",
            NEXT_ASSERTION.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ),
        in_response_to: None,
        expires_at: rollcall_core::domain::now_millis() + 300_000,
    }
}

both_backends!(just_in_time_accounts_and_links, |db: TestDb| async move {
    let s = service(&db).await;
    assert_eq!(
        s.set_sso(
            &cli(),
            SsoConfig {
                signing_certs: vec![],
                ..config(true)
            }
        )
        .await
        .unwrap_err()
        .code(),
        "invalid_input"
    );
    assert_eq!(
        s.set_sso(
            &cli(),
            SsoConfig {
                default_type: "administrator".into(),
                ..config(true)
            }
        )
        .await
        .unwrap_err()
        .code(),
        "forbidden",
        "just-in-time accounts are never administrators"
    );
    s.set_sso(&cli(), config(true)).await.unwrap();

    let signed = s
        .sso_sign_in(&identity("ada", "ada@example.org"), Some("192.0.2.1"))
        .await
        .unwrap();
    assert_eq!(
        (
            signed.user.username.as_str(),
            signed.user.origin,
            signed.user.user_type.as_str()
        ),
        ("ada", "sso", "Learner")
    );
    assert!(signed.user.last_login_at.is_some());
    assert_eq!(
        s.plan(&cli()).await.unwrap().seats_used,
        1,
        "a just-in-time account takes a seat"
    );
    assert_eq!(s.session(&signed.session_id).await.unwrap().user.username, "ada");
    let again = s.sso_sign_in(&identity("ada", "ada@example.org"), None).await.unwrap();
    assert_eq!(again.user.id, signed.user.id);

    // A deactivated account is refused, never reactivated.
    s.deactivate_user(&cli(), &key("ada")).await.unwrap();
    assert_eq!(
        s.sso_sign_in(&identity("ada", "ada@example.org"), None)
            .await
            .unwrap_err()
            .code(),
        "forbidden"
    );
    assert_eq!(s.get_user(&cli(), &key("ada")).await.unwrap().status, "deactivated");

    // An account made elsewhere links by username; another IdP subject can't take it over.
    add(&s, "grace", "instructor").await;
    let linked = s
        .sso_sign_in(&identity("grace", "grace@example.org"), None)
        .await
        .unwrap();
    assert_eq!(linked.user.user_type, "Instructor");
    s.set_sso(
        &cli(),
        SsoConfig {
            idp_entity_id: "https://other-idp.example.org".into(),
            ..config(true)
        },
    )
    .await
    .unwrap();
    assert_eq!(
        s.sso_sign_in(&identity("grace", "grace@example.org"), None)
            .await
            .unwrap_err()
            .code(),
        "forbidden"
    );

    // Without just-in-time provisioning, an unknown user gets no account.
    s.set_sso(&cli(), config(false)).await.unwrap();
    assert_eq!(
        s.sso_sign_in(&identity("newbie", "newbie@example.org"), None)
            .await
            .unwrap_err()
            .code(),
        "forbidden"
    );
    assert_eq!(
        s.get_user(&cli(), &key("newbie")).await.unwrap_err().code(),
        "not_found"
    );
});

both_backends!(just_in_time_accounts_respect_the_seat_limit, |db: TestDb| async move {
    let s = service(&db).await;
    s.set_sso(&cli(), config(true)).await.unwrap();
    s.set_plan(&cli(), PlanTier::Enterprise, Some(1)).await.unwrap();
    add(&s, "first", "learner").await;
    let err = s
        .sso_sign_in(&identity("late", "late@example.org"), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "seat_limit_reached");
    assert_eq!(
        s.get_user(&cli(), &key("late")).await.unwrap_err().code(),
        "not_found",
        "no account over the limit"
    );
    s.disable_sso(&cli()).await.unwrap();
    assert_eq!(
        s.sso_sign_in(&identity("first", "first@example.org"), None)
            .await
            .unwrap_err()
            .code(),
        "forbidden"
    );
});

both_backends!(
    requests_are_answered_once_and_assertions_never_replayed,
    |db: TestDb| async move {
        let s = service(&db).await;
        s.set_sso(
            &cli(),
            SsoConfig {
                allow_idp_initiated: false,
                ..config(true)
            },
        )
        .await
        .unwrap();
        let refused = |r: rollcall_core::Result<_>| r.err().map(|e| e.code());

        // Unsolicited while IdP-initiated sign-in is off.
        assert_eq!(
            refused(s.sso_sign_in(&identity("ada", "ada@example.org"), None).await),
            Some("forbidden")
        );

        let (_, request) = s.sso_begin().await.unwrap();
        assert!(request.starts_with('_') && request.len() > 32);
        let mut answer = identity("ada", "ada@example.org");
        answer.in_response_to = Some(request.clone());
        s.sso_sign_in(&answer, None).await.unwrap();

        // The same request answered again by a fresh assertion, and the same assertion again.
        let mut again = identity("ada", "ada@example.org");
        again.in_response_to = Some(request);
        assert_eq!(refused(s.sso_sign_in(&again, None).await), Some("forbidden"));
        let (_, second) = s.sso_begin().await.unwrap();
        answer.in_response_to = Some(second.clone());
        assert_eq!(
            refused(s.sso_sign_in(&answer, None).await),
            Some("forbidden"),
            "a replayed assertion"
        );
        // A refused replay doesn't burn the request: the genuine answer still signs in, once.
        let mut genuine = identity("ada", "ada@example.org");
        genuine.in_response_to = Some(second);
        s.sso_sign_in(&genuine, None).await.unwrap();
        genuine.assertion_id.push('x');
        assert_eq!(refused(s.sso_sign_in(&genuine, None).await), Some("forbidden"));

        // A request id nobody issued.
        let mut forged = identity("ada", "ada@example.org");
        forged.in_response_to = Some("_made_up".into());
        assert_eq!(refused(s.sso_sign_in(&forged, None).await), Some("forbidden"));

        // IdP-initiated once allowed.
        s.set_sso(&cli(), config(true)).await.unwrap();
        s.sso_sign_in(&identity("ada", "ada@example.org"), None).await.unwrap();
    }
);
