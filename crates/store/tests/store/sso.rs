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
        allow_idp_initiated: false,
        mappings: BTreeMap::new(),
    }
}

fn identity(name_id: &str, email: &str) -> SsoIdentity {
    let mut attributes = BTreeMap::new();
    attributes.insert("email".into(), vec![email.into()]);
    attributes.insert("givenName".into(), vec!["Ada".into()]);
    attributes.insert("sn".into(), vec!["Lovelace".into()]);
    SsoIdentity {
        name_id: name_id.into(),
        name_id_is_email: false,
        attributes,
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
