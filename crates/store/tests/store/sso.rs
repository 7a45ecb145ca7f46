use super::*;
use rollcall_core::clock::{Clock, SystemClock};
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
        expires_at: SystemClock.now() + 300_000,
    }
}

/// Links (or unlinks, `None`) a user to a NameID at the configured IdP, as `ctx`.
async fn link(s: &Service, ctx: &Context, name: &str, subject: Option<&str>) -> rollcall_core::Result<UserView> {
    let upd = UserUpdate {
        sso_subject: Some(subject.map(str::to_owned)),
        ..UserUpdate::default()
    };
    s.update_user(ctx, &key(name), upd).await
}

fn with_username(mut id: SsoIdentity, username: &str) -> SsoIdentity {
    id.attributes.insert("username".into(), vec![username.into()]);
    id
}

async fn audit_actions(s: &Service, target: &str) -> Vec<String> {
    let filter = AuditFilter {
        target: Some(target.into()),
        limit: Some(1000),
        ..AuditFilter::default()
    };
    s.list_audit(&cli(), &filter)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

async fn subject_of(s: &Service, name: &str) -> Option<String> {
    s.sso_link_of(&cli(), &key(name)).await.unwrap().map(|l| l.subject)
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
        .public()
        .sso_sign_in(&identity("ada", "ada@example.org"), Some("192.0.2.1"))
        .await
        .unwrap();
    assert_eq!(
        (
            signed.user.username.as_str(),
            signed.user.origin.as_str(),
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
    assert_eq!(
        s.public().session(&signed.session_id).await.unwrap().user.username,
        "ada"
    );
    let again = s
        .public()
        .sso_sign_in(&identity("ada", "ada@example.org"), None)
        .await
        .unwrap();
    assert_eq!(again.user.id, signed.user.id);

    // A deactivated account is refused, never reactivated.
    s.deactivate_user(&cli(), &key("ada")).await.unwrap();
    assert_eq!(
        s.public()
            .sso_sign_in(&identity("ada", "ada@example.org"), None)
            .await
            .unwrap_err()
            .code(),
        "forbidden"
    );
    assert_eq!(s.get_user(&cli(), &key("ada")).await.unwrap().status, "deactivated");

    // An account made elsewhere is not taken over by name; once an administrator links it,
    // it signs in — and another IdP's same NameID can't take it over.
    add(&s, "grace", "instructor").await;
    assert_eq!(
        s.public()
            .sso_sign_in(&identity("grace", "grace@example.org"), None)
            .await
            .unwrap_err()
            .code(),
        "forbidden"
    );
    link(&s, &cli(), "grace", Some("grace")).await.unwrap();
    let linked = s
        .public()
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
        s.public()
            .sso_sign_in(&identity("grace", "grace@example.org"), None)
            .await
            .unwrap_err()
            .code(),
        "forbidden"
    );

    // Without just-in-time provisioning, an unknown user gets no account.
    s.set_sso(&cli(), config(false)).await.unwrap();
    assert_eq!(
        s.public()
            .sso_sign_in(&identity("newbie", "newbie@example.org"), None)
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
        .public()
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
        s.public()
            .sso_sign_in(&identity("first", "first@example.org"), None)
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
            refused(s.public().sso_sign_in(&identity("ada", "ada@example.org"), None).await),
            Some("forbidden")
        );

        let (_, request) = s.public().sso_begin().await.unwrap();
        assert!(request.starts_with('_') && request.len() > 32);
        let mut answer = identity("ada", "ada@example.org");
        answer.in_response_to = Some(request.clone());
        s.public().sso_sign_in(&answer, None).await.unwrap();

        // The same request answered again by a fresh assertion, and the same assertion again.
        let mut again = identity("ada", "ada@example.org");
        again.in_response_to = Some(request);
        assert_eq!(refused(s.public().sso_sign_in(&again, None).await), Some("forbidden"));
        let (_, second) = s.public().sso_begin().await.unwrap();
        answer.in_response_to = Some(second.clone());
        assert_eq!(
            refused(s.public().sso_sign_in(&answer, None).await),
            Some("forbidden"),
            "a replayed assertion"
        );
        // A refused replay doesn't burn the request: the genuine answer still signs in, once.
        let mut genuine = identity("ada", "ada@example.org");
        genuine.in_response_to = Some(second);
        s.public().sso_sign_in(&genuine, None).await.unwrap();
        genuine.assertion_id.push('x');
        assert_eq!(refused(s.public().sso_sign_in(&genuine, None).await), Some("forbidden"));

        // A request id nobody issued.
        let mut forged = identity("ada", "ada@example.org");
        forged.in_response_to = Some("_made_up".into());
        assert_eq!(refused(s.public().sso_sign_in(&forged, None).await), Some("forbidden"));

        // IdP-initiated once allowed.
        s.set_sso(&cli(), config(true)).await.unwrap();
        s.public()
            .sso_sign_in(&identity("ada", "ada@example.org"), None)
            .await
            .unwrap();
    }
);

both_backends!(
    a_signed_identity_never_takes_over_an_account_by_name,
    |db: TestDb| async move {
        let s = service(&db).await;
        s.set_sso(&cli(), config(true)).await.unwrap();
        add(&s, "admin", "administrator").await;
        add(&s, "carol", "learner").await;
        let refused = |r: rollcall_core::Result<SignedIn>| r.err().map(|e| e.code());
        for (case, id) in [
            (
                "NameID of the administrator",
                identity("admin", "admin-at-idp@example.org"),
            ),
            (
                "username attribute of the administrator",
                with_username(identity("someone", "someone@example.org"), "ADMIN"),
            ),
            ("NameID of a learner", identity("carol", "carol-at-idp@example.org")),
            (
                "JIT with the email of an unlinked account",
                identity("newcomer", "carol@example.org"),
            ),
        ] {
            assert_eq!(
                refused(s.public().sso_sign_in(&id, None).await),
                Some("forbidden"),
                "{case}"
            );
        }
        for name in ["admin", "carol"] {
            assert_eq!(subject_of(&s, name).await, None, "{name} was linked");
            assert!(!audit_actions(&s, name).await.contains(&"user.sso_link".to_owned()));
            assert!(s.get_user(&cli(), &key(name)).await.unwrap().last_login_at.is_none());
        }
        for name in ["someone", "newcomer"] {
            assert_eq!(
                s.get_user(&cli(), &key(name)).await.unwrap_err().code(),
                "not_found",
                "nothing was merged or created for {name}"
            );
        }
        assert_eq!(
            s.public()
                .sso_sign_in(&identity("carol", "x@example.org"), None)
                .await
                .unwrap_err()
                .to_string(),
            "single sign-on could not sign you in; ask your administrator",
            "the refusal says nothing about the account"
        );
    }
);

both_backends!(
    a_just_in_time_account_is_found_by_its_subject_after_a_rename,
    |db: TestDb| async move {
        let s = service(&db).await;
        s.set_sso(&cli(), config(true)).await.unwrap();
        let first = s
            .public()
            .sso_sign_in(&identity("u-4711", "ada@example.org"), None)
            .await
            .unwrap();
        assert_eq!(first.user.username, "u-4711");
        assert_eq!(subject_of(&s, "u-4711").await.as_deref(), Some("u-4711"));
        s.update_user(
            &cli(),
            &key("u-4711"),
            UserUpdate {
                username: Some("ada".into()),
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap();
        // Someone else now holds the old username: the subject still leads to Ada.
        add(&s, "u-4711", "learner").await;
        let again = s
            .public()
            .sso_sign_in(&identity("u-4711", "ada@example.org"), None)
            .await
            .unwrap();
        assert_eq!((again.user.id, again.user.username.as_str()), (first.user.id, "ada"));
        assert_eq!(subject_of(&s, "u-4711").await, None);
    }
);

both_backends!(
    sso_link_existing_links_by_username_or_email_up_to_instructor,
    |db: TestDb| async move {
        let s = service(&db).await;
        s.set_sso(&cli(), config(false)).await.unwrap();
        add(&s, "grace", "instructor").await;
        add(&s, "boss", "branch-administrator").await;
        add(&s, "admin", "administrator").await;
        let mut dan = new_user("dan", "learner");
        dan.email = "daniel@corp.example".into();
        s.create_user(&cli(), dan).await.unwrap();

        assert!(
            s.public()
                .sso_sign_in(&identity("grace", "g@x.example"), None)
                .await
                .is_err()
        );
        s.set_setting(&cli(), "sso_link_existing", "username").await.unwrap();
        assert!(
            s.settings(&cli())
                .await
                .unwrap()
                .iter()
                .any(|v| v.key == "sso_link_existing" && v.value == "username" && v.default == "off")
        );
        let grace = s
            .public()
            .sso_sign_in(&identity("grace", "g@x.example"), None)
            .await
            .unwrap();
        assert_eq!(grace.user.username, "grace");
        assert_eq!(subject_of(&s, "grace").await.as_deref(), Some("grace"));
        assert!(audit_actions(&s, "grace").await.contains(&"user.sso_link".to_owned()));
        // Above Instructor: only an administrator's explicit link.
        for name in ["boss", "admin"] {
            assert_eq!(
                s.public()
                    .sso_sign_in(&identity(name, &format!("{name}@example.org")), None)
                    .await
                    .unwrap_err()
                    .code(),
                "forbidden",
                "{name}"
            );
            assert_eq!(subject_of(&s, name).await, None);
        }
        // By the email the identity provider asserted.
        assert!(
            s.public()
                .sso_sign_in(&identity("d.smith", "daniel@corp.example"), None)
                .await
                .is_err()
        );
        s.set_setting(&cli(), "sso_link_existing", "email").await.unwrap();
        let dan = s
            .public()
            .sso_sign_in(&identity("d.smith", "Daniel@corp.example"), None)
            .await
            .unwrap();
        assert_eq!(dan.user.username, "dan");
        assert_eq!(subject_of(&s, "dan").await.as_deref(), Some("d.smith"));
        // A linked account is never re-linked to another subject automatically.
        assert!(
            s.public()
                .sso_sign_in(&identity("intruder", "daniel@corp.example"), None)
                .await
                .is_err()
        );
        assert_eq!(subject_of(&s, "dan").await.as_deref(), Some("d.smith"));
        for name in ["boss", "admin"] {
            assert!(
                s.public()
                    .sso_sign_in(&identity("x", &format!("{name}@example.org")), None)
                    .await
                    .is_err()
            );
            assert_eq!(subject_of(&s, name).await, None);
        }
        assert!(s.set_setting(&cli(), "sso_link_existing", "on").await.is_err());
    }
);

async fn announcements(s: &Service) -> usize {
    let mail = s.list_mail(&cli(), 1000).await.unwrap();
    mail.iter().filter(|m| m.template == "sso_admin_linked").count()
}

both_backends!(
    administrators_link_and_unlink_audited_and_announced,
    |db: TestDb| async move {
        let s = service(&db).await;
        // Linking before single sign-on is configured says so.
        add(&s, "root", "administrator").await;
        add(&s, "second", "administrator").await;
        assert_eq!(
            link(&s, &cli(), "root", Some("root@idp")).await.unwrap_err().code(),
            "invalid_input"
        );
        s.set_sso(&cli(), config(false)).await.unwrap();
        link(&s, &cli(), "root", Some(" root@idp ")).await.unwrap();
        assert_eq!(subject_of(&s, "root").await.as_deref(), Some("root@idp"));
        let link_of = s.sso_link_of(&cli(), &key("root")).await.unwrap().unwrap();
        assert_eq!(link_of.idp, "https://idp.example.org");
        let mail: Vec<MailView> = s
            .list_mail(&cli(), 1000)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.template == "sso_admin_linked")
            .collect();
        let mut to: Vec<&str> = mail.iter().map(|m| m.to.as_str()).collect();
        to.sort();
        assert_eq!(
            to,
            ["root@example.org", "second@example.org"],
            "every active administrator"
        );
        assert!(mail[0].body.contains("root") && mail[0].body.contains("https://idp.example.org"));
        let signed = s
            .public()
            .sso_sign_in(&identity("root@idp", "r@x.example"), None)
            .await
            .unwrap();
        assert_eq!(signed.user.username, "root");
        // Linking again changes nothing and announces nothing.
        link(&s, &cli(), "root", Some("root@idp")).await.unwrap();
        assert_eq!(announcements(&s).await, 2);
        // A learner's link is no news to the administrators; one subject, one account.
        add(&s, "lea", "learner").await;
        link(&s, &cli(), "lea", Some("lea@idp")).await.unwrap();
        assert_eq!(announcements(&s).await, 2);
        assert_eq!(
            link(&s, &cli(), "lea", Some("root@idp")).await.unwrap_err().code(),
            "sso_subject_taken"
        );

        // Unlinking: the subject no longer signs in (and doesn't JIT a new account either).
        link(&s, &cli(), "root", None).await.unwrap();
        assert_eq!(subject_of(&s, "root").await, None);
        assert!(
            s.public()
                .sso_sign_in(&identity("root@idp", "r@x.example"), None)
                .await
                .is_err()
        );
        let actions = audit_actions(&s, "root").await;
        assert!(actions.contains(&"user.sso_link".to_owned()), "{actions:?}");
        assert!(actions.contains(&"user.sso_unlink".to_owned()), "{actions:?}");
    }
);

both_backends!(linking_needs_the_right_to_change_the_user, |db: TestDb| async move {
    let s = service(&db).await;
    s.set_sso(&cli(), config(false)).await.unwrap();
    for b in ["North", "South"] {
        s.add_branch(
            &cli(),
            NewBranch {
                name: b.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let boss = s
        .create_user(
            &cli(),
            NewUser {
                branches: vec!["North".into()],
                ..new_user("boss", "branch-administrator")
            },
        )
        .await
        .unwrap();
    for (name, branch) in [("n1", "North"), ("s1", "South")] {
        s.create_user(
            &cli(),
            NewUser {
                branches: vec![branch.into()],
                ..new_user(name, "learner")
            },
        )
        .await
        .unwrap();
    }
    let teacher = add(&s, "teacher", "instructor").await;
    add(&s, "root", "administrator").await;
    let boss = as_user(boss.id);
    assert_eq!(
        link(&s, &as_user(teacher.id), "n1", Some("n1"))
            .await
            .unwrap_err()
            .code(),
        "forbidden"
    );
    assert_eq!(link(&s, &boss, "s1", Some("s1")).await.unwrap_err().code(), "not_found");
    assert_eq!(
        link(&s, &boss, "root", Some("root")).await.unwrap_err().code(),
        "not_found",
        "outside the branch administrator's branches"
    );
    link(&s, &boss, "n1", Some("n1")).await.unwrap();
    for name in ["s1", "root"] {
        assert_eq!(subject_of(&s, name).await, None);
    }
    assert_eq!(subject_of(&s, "n1").await.as_deref(), Some("n1"));
    assert_eq!(
        s.public()
            .sso_sign_in(&identity("n1", "x@x.example"), None)
            .await
            .unwrap()
            .user
            .username,
        "n1"
    );
});

both_backends!(
    single_sign_on_as_the_only_way_in_but_for_one_administrator,
    |db: TestDb| async move {
        const PHRASE: &str = "a rarely used phrase";
        let from = Some("198.51.100.7");
        let s = service(&db).await;
        s.set_plan(&cli(), PlanTier::Enterprise, Some(50)).await.unwrap();
        for (name, t) in [("boss", "administrator"), ("ada", "learner")] {
            let input = NewUser {
                password: Some(PHRASE.into()),
                send_welcome: Some(false),
                ..new_user(name, t)
            };
            s.create_user(&cli(), input).await.unwrap();
        }
        let only = |v: &'static str| {
            let s = s.clone();
            async move { s.set_setting(&cli(), "password_sign_in", v).await }
        };
        // Not before single sign-on is there, and only for an active Administrator.
        assert_eq!(only("boss").await.unwrap_err().code(), "invalid_input");
        s.set_sso(&cli(), config(true)).await.unwrap();
        for who in ["ada", "nobody"] {
            assert_eq!(only(who).await.unwrap_err().code(), "invalid_input", "{who}");
        }
        assert_eq!(only("BOSS").await.unwrap().value, "boss");

        // Everyone else is sent to single sign-on — known or not, right password or not.
        for (login, password) in [
            ("ada", PHRASE),
            ("ada@example.org", PHRASE),
            ("ada", "wrong"),
            ("nobody", "x"),
        ] {
            let e = s.public().sign_in_password(login, password, from).await.unwrap_err();
            assert_eq!(e.code(), "sso_only", "{login}: {e}");
        }
        s.public().sign_in_password("boss", PHRASE, from).await.unwrap();
        // No reset link for whose way in is single sign-on; the break-glass account gets one.
        let resets = |s: Service| async move {
            s.list_mail(&cli(), 100)
                .await
                .unwrap()
                .iter()
                .filter(|m| m.template == "password_reset")
                .count()
        };
        s.public().request_password_reset("ada").await.unwrap();
        assert_eq!(resets(s.clone()).await, 0);
        s.public().request_password_reset("boss").await.unwrap();
        assert_eq!(resets(s.clone()).await, 1);

        // Provisioned by the identity provider: welcomed without a set-password link.
        let scim = Context::new(Actor::ScimClient { token_id: 1 }, Channel::Scim);
        let state = rollcall_core::service::ScimUserState {
            user_name: "sam@example.org".into(),
            given_name: "Sam".into(),
            family_name: "Shore".into(),
            email: "sam@example.org".into(),
            active: true,
            ..Default::default()
        };
        s.scim_create_user(&scim, state, None).await.unwrap();
        let mail = s.list_mail(&cli(), 100).await.unwrap();
        let welcome = mail.iter().find(|m| m.to == "sam@example.org").expect("a welcome");
        assert_eq!(welcome.template, "welcome");
        assert!(
            welcome.body.contains("single sign-on") && !welcome.body.contains("Choose your password"),
            "no set-password link: {welcome:?}"
        );

        // Single sign-on switched off: passwords are everyone's way in again.
        s.disable_sso(&cli()).await.unwrap();
        s.public().sign_in_password("ada", PHRASE, from).await.unwrap();
    }
);
