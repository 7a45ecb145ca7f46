//! The idle-account policy through the service, on both backends: days pass on a
//! `ManualClock`, never by editing rows.

use super::*;
use rollcall_core::Error;

const PASSWORD: &str = "correct horse battery staple";

/// Days 0..: the policy on, idle after 30 days (never signed in: 20), warned 7 before, no
/// cap in the way unless a test sets one.
fn policy(upd: IdlePolicyUpdate) -> IdlePolicyUpdate {
    IdlePolicyUpdate {
        enabled: upd.enabled.or(Some(true)),
        idle_days: upd.idle_days.or(Some(30)),
        never_signed_in_days: upd.never_signed_in_days.or(Some(20)),
        warn_days: upd.warn_days.or(Some(7)),
        grace_days: upd.grace_days.or(Some(14)),
        max_share: upd.max_share.or(Some(100)),
        ..upd
    }
}

async fn setup(db: &TestDb) -> (Service, Arc<ManualClock>) {
    let (s, clock) = service_with_clock(db).await;
    // An administrator who is exempt, so the last-administrator guard stays out of the way
    // of tests about something else.
    let mut root = new_user("root", "administrator");
    root.idle_exempt = true;
    s.create_user(&cli(), root).await.unwrap();
    (s, clock)
}

async fn set(s: &Service, upd: IdlePolicyUpdate) {
    s.set_idle_policy(&cli(), policy(upd)).await.unwrap();
}

fn days(n: i64) -> i64 {
    n * DAY_MS
}

async fn status(s: &Service, name: &str) -> String {
    s.get_user(&cli(), &key(name)).await.unwrap().status.to_string()
}

async fn job(s: &Service) -> IdleRun {
    s.system().run_idle_policy().await.unwrap()
}

async fn audit_of(s: &Service, action: &str) -> Vec<AuditEntryView> {
    let filter = AuditFilter {
        action: Some(AuditAction::parse(action).unwrap()),
        limit: Some(1000),
        ..AuditFilter::default()
    };
    s.list_audit(&cli(), &filter).await.unwrap()
}

both_backends!(
    idle_accounts_are_warned_then_deactivated_on_the_day,
    |db: TestDb| async move {
        let (s, clock) = setup(&db).await;
        set(&s, IdlePolicyUpdate::default()).await;
        let mut ada = new_user("ada", "learner");
        ada.password = Some(PASSWORD.into());
        s.create_user(&cli(), ada).await.unwrap();
        s.public().sign_in_password("ada", PASSWORD, None).await.unwrap();
        add(&s, "neve", "learner").await; // never signs in: idle after 20 days

        clock.advance(days(12));
        assert_eq!(
            job(&s).await.warned,
            Vec::<String>::new(),
            "day 12: nobody within a warning period"
        );
        clock.advance(days(1));
        let preview = s.idle_preview(&cli()).await.unwrap();
        assert_eq!(
            preview.warn,
            vec!["neve"],
            "day 13: 20 - 7 for the one that never signed in"
        );
        let run = job(&s).await;
        assert_eq!(run.warned, preview.warn, "the run does what the preview said");
        let mails = s.list_mail(&cli(), 100).await.unwrap();
        let warning = mails
            .iter()
            .find(|m| m.template == "idle_warning")
            .expect("a warning mail");
        assert_eq!(warning.to, "neve@example.org");
        assert!(warning.body.contains("sign in"), "{}", warning.body);
        let warned = s.idle_warnings(&cli()).await.unwrap();
        assert_eq!(warned.len(), 1);
        assert_eq!(warned[0].username, "neve");
        assert_eq!(
            s.get_user(&cli(), &key("neve")).await.unwrap().idle_deadline.as_deref(),
            Some(warned[0].deadline.as_str()),
            "the user's view names the deadline"
        );
        assert_eq!(job(&s).await.warned, Vec::<String>::new(), "warned once");

        clock.advance(days(6)); // day 19
        assert!(job(&s).await.deactivated.is_empty(), "day 19: before the deadline");
        assert_eq!(status(&s, "neve").await, "active");
        clock.advance(days(1)); // day 20
        let preview = s.idle_preview(&cli()).await.unwrap();
        assert_eq!(preview.deactivate, vec!["neve"]);
        assert_eq!(preview.seats_freed, 1);
        let run = job(&s).await;
        assert_eq!(run.deactivated, preview.deactivate, "the run equals the preview");
        assert_eq!(status(&s, "neve").await, "deactivated");
        assert_eq!(
            status(&s, "ada").await,
            "active",
            "signed in on day 0: idle after 30 days"
        );

        // ada: warned on day 23, deactivated on day 30.
        clock.advance(days(3));
        assert_eq!(job(&s).await.warned, vec!["ada"]);
        clock.advance(days(6));
        assert!(job(&s).await.deactivated.is_empty());
        clock.advance(days(1));
        assert_eq!(job(&s).await.deactivated, vec!["ada"]);

        // Every action audited with the policy as actor, channel `job`.
        for action in ["user.idle_warn", "user.deactivate"] {
            let entries = audit_of(&s, action).await;
            assert_eq!(entries.len(), 2, "{action}");
            for e in entries {
                assert_eq!(
                    (e.actor_kind.as_str(), e.channel.as_str()),
                    ("system", "job"),
                    "{action}"
                );
                assert_eq!(e.actor.as_deref(), Some("idle policy"));
            }
        }
        // And a summary to the administrators after each run that changed something.
        let summaries = s
            .list_mail(&cli(), 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.template == "idle_policy_summary")
            .count();
        assert_eq!(summaries, 4, "two warnings and two deactivations, each its own run");
    }
);

both_backends!(
    exempt_accounts_and_the_last_administrator_are_kept,
    |db: TestDb| async move {
        let (s, clock) = service_with_clock(&db).await;
        s.set_plan(&cli(), PlanTier::Enterprise, Some(100)).await.unwrap();
        add(&s, "boss", "administrator").await; // the only administrator: kept
        s.add_branch(
            &cli(),
            NewBranch {
                name: "North".into(),
                ..NewBranch::default()
            },
        )
        .await
        .unwrap();
        s.add_group(
            &cli(),
            NewGroup {
                name: "Board".into(),
                ..NewGroup::default()
            },
        )
        .await
        .unwrap();
        add(&s, "plain", "learner").await;
        add(&s, "teacher", "instructor").await;
        let mut flagged = new_user("flagged", "learner");
        flagged.idle_exempt = true;
        s.create_user(&cli(), flagged).await.unwrap();
        let mut member = new_user("member", "learner");
        member.groups = vec!["Board".into()];
        s.create_user(&cli(), member).await.unwrap();
        let mut north = new_user("northerner", "learner");
        north.branches = vec!["North".into()];
        s.create_user(&cli(), north).await.unwrap();
        set(
            &s,
            IdlePolicyUpdate {
                warn_days: Some(0),
                exempt_types: Some(vec!["Instructor".into()]),
                exempt_groups: Some(vec!["board".into()]),
                exempt_branches: Some(vec!["NORTH".into()]),
                ..IdlePolicyUpdate::default()
            },
        )
        .await;
        let shown = s.idle_policy(&cli()).await.unwrap();
        assert_eq!(
            (shown.exempt_types, shown.exempt_groups, shown.exempt_branches),
            (
                vec!["Instructor".to_owned()],
                vec!["Board".to_owned()],
                vec!["North".to_owned()]
            )
        );

        clock.advance(days(20));
        let preview = s.idle_preview(&cli()).await.unwrap();
        assert_eq!(preview.deactivate, vec!["plain"], "only the one not exempt");
        assert_eq!(preview.spared, vec!["boss"], "the last administrator is kept");
        assert_eq!(job(&s).await.deactivated, vec!["plain"]);
        for kept in ["boss", "teacher", "flagged", "member", "northerner"] {
            assert_eq!(status(&s, kept).await, "active", "{kept}");
        }

        // Exempting a warned account withdraws its warning at the next run.
        set(
            &s,
            IdlePolicyUpdate {
                exempt_branches: Some(vec![]),
                ..IdlePolicyUpdate::default()
            },
        )
        .await;
        assert_eq!(job(&s).await.warned, vec!["northerner"]);
        set(
            &s,
            IdlePolicyUpdate {
                exempt_branches: Some(vec!["North".into()]),
                ..IdlePolicyUpdate::default()
            },
        )
        .await;
        assert_eq!(job(&s).await.withdrawn, vec!["northerner"]);
        assert!(s.idle_warnings(&cli()).await.unwrap().is_empty());
        // With a second administrator, an idle one is no longer the last.
        add(&s, "deputy", "administrator").await;
        clock.advance(days(20));
        set(
            &s,
            IdlePolicyUpdate {
                warn_days: Some(0),
                ..IdlePolicyUpdate::default()
            },
        )
        .await;
        let preview = s.idle_preview(&cli()).await.unwrap();
        assert_eq!(
            preview.deactivate,
            vec!["boss"],
            "the longest idle goes, deputy is kept"
        );
        assert_eq!(preview.spared, vec!["deputy"]);
    }
);

both_backends!(
    a_sign_in_between_warning_and_deadline_keeps_the_account,
    |db: TestDb| async move {
        let (s, clock) = setup(&db).await;
        set(&s, IdlePolicyUpdate::default()).await;
        let mut ada = new_user("ada", "learner");
        ada.password = Some(PASSWORD.into());
        s.create_user(&cli(), ada).await.unwrap();
        clock.advance(days(13));
        assert_eq!(job(&s).await.warned, vec!["ada"]);
        clock.advance(days(3));
        s.public().sign_in_password("ada", PASSWORD, None).await.unwrap();
        assert!(
            s.idle_warnings(&cli()).await.unwrap().is_empty(),
            "the sign-in ended the warning"
        );
        assert_eq!(s.get_user(&cli(), &key("ada")).await.unwrap().idle_deadline, None);
        clock.advance(days(4)); // past the old deadline
        let run = job(&s).await;
        assert!(run.deactivated.is_empty() && run.warned.is_empty(), "{run:?}");
        assert_eq!(status(&s, "ada").await, "active");
        // Idle again 30 days after that sign-in: warned on day 16 + 23 = 39.
        clock.advance(days(18));
        assert!(job(&s).await.warned.is_empty());
        clock.advance(days(1));
        assert_eq!(job(&s).await.warned, vec!["ada"]);
    }
);

both_backends!(a_reactivated_account_has_its_grace, |db: TestDb| async move {
    let (s, clock) = setup(&db).await;
    set(
        &s,
        IdlePolicyUpdate {
            idle_days: Some(0),
            never_signed_in_days: Some(0),
            warn_days: Some(0),
            grace_days: Some(14),
            ..IdlePolicyUpdate::default()
        },
    )
    .await;
    add(&s, "ada", "learner").await;
    assert_eq!(job(&s).await.deactivated, vec!["ada"], "0 days: at once");
    clock.advance(days(2));
    s.activate_user(&cli(), &key("ada")).await.unwrap();
    clock.advance(days(1));
    assert!(job(&s).await.deactivated.is_empty(), "a day after the reactivation");
    clock.advance(days(12));
    assert!(job(&s).await.deactivated.is_empty(), "13 days after");
    clock.advance(days(1));
    assert_eq!(
        job(&s).await.deactivated,
        vec!["ada"],
        "14 days after: the grace is over"
    );
});

both_backends!(
    the_safety_cap_holds_until_confirmed_and_the_run_equals_the_preview,
    |db: TestDb| async move {
        let (s, clock) = setup(&db).await;
        for i in 0..9 {
            add(&s, &format!("l{i}"), "learner").await;
        }
        set(
            &s,
            IdlePolicyUpdate {
                warn_days: Some(0),
                max_share: Some(10),
                ..IdlePolicyUpdate::default()
            },
        )
        .await;
        clock.advance(days(20));
        let preview = s.idle_preview(&cli()).await.unwrap();
        assert_eq!(preview.deactivate.len(), 9);
        assert_eq!((preview.active, preview.cap, preview.held), (10, 1, true));
        let audit_before = audit_of(&s, "user.deactivate").await.len();

        let run = job(&s).await;
        assert!(run.held && run.deactivated.is_empty(), "{run:?}");
        assert_eq!(run.would_deactivate, 9);
        let held = s.run_idle_policy(&cli(), false).await.unwrap();
        assert!(held.held && held.deactivated.is_empty());
        assert_eq!(s.plan(&cli()).await.unwrap().seats_used, 10, "held: nothing written");
        assert_eq!(audit_of(&s, "user.deactivate").await.len(), audit_before);
        assert_eq!(audit_of(&s, "idle_policy.held").await.len(), 2);
        assert!(
            s.list_mail(&cli(), 100)
                .await
                .unwrap()
                .iter()
                .any(|m| m.template == "idle_policy_summary" && m.body.contains("safety cap")),
            "the administrators hear that the run was held"
        );
        assert_eq!(
            s.idle_preview(&cli()).await.unwrap(),
            preview,
            "a held run changes nothing"
        );

        let run = s.run_idle_policy(&cli(), true).await.unwrap();
        assert!(!run.held && run.confirmed);
        assert_eq!(
            run.deactivated, preview.deactivate,
            "the confirmed run equals the preview"
        );
        assert_eq!(run.seats_freed, preview.seats_freed);
        assert_eq!(s.plan(&cli()).await.unwrap().seats_used, 1);
    }
);

both_backends!(bad_policy_settings_name_their_field, |db: TestDb| async move {
    let (s, _clock) = setup(&db).await;
    let field_of = |e: Error| match e {
        Error::InvalidInput { field, .. } => field,
        other => panic!("{other:?}"),
    };
    for (upd, field) in [
        (
            IdlePolicyUpdate {
                max_share: Some(101),
                ..IdlePolicyUpdate::default()
            },
            "max_share",
        ),
        (
            IdlePolicyUpdate {
                max_share: Some(-1),
                ..IdlePolicyUpdate::default()
            },
            "max_share",
        ),
        (
            IdlePolicyUpdate {
                idle_days: Some(5),
                warn_days: Some(7),
                ..IdlePolicyUpdate::default()
            },
            "idle_days",
        ),
        (
            IdlePolicyUpdate {
                exempt_types: Some(vec!["wizard".into()]),
                ..IdlePolicyUpdate::default()
            },
            "exempt_types",
        ),
        (
            IdlePolicyUpdate {
                exempt_groups: Some(vec!["nobody".into()]),
                ..IdlePolicyUpdate::default()
            },
            "exempt_groups",
        ),
        (
            IdlePolicyUpdate {
                exempt_branches: Some(vec!["Atlantis".into()]),
                ..IdlePolicyUpdate::default()
            },
            "exempt_branches",
        ),
    ] {
        let e = s.set_idle_policy(&cli(), upd).await.unwrap_err();
        assert_eq!(field_of(e), field);
    }
    let p = s.idle_policy(&cli()).await.unwrap();
    assert!(!p.enabled, "off by default, and nothing bad was stored");
    assert_eq!((p.grace_days, p.max_share), (14, 10));
    assert_eq!(
        s.run_idle_policy(&cli(), false).await.unwrap_err().code(),
        "idle_policy_off"
    );
    assert!(
        !job(&s).await.enabled,
        "the daily job does nothing while the policy is off"
    );
    // A learner can't see or change the policy.
    let learner = add(&s, "lea", "learner").await;
    assert_eq!(
        s.idle_preview(&as_user(learner.id)).await.unwrap_err().code(),
        "forbidden"
    );
});

both_backends!(settings_show_lists_the_idle_policy_too, |db: TestDb| async move {
    let s = service(&db).await;
    let shown = s.settings(&cli()).await.unwrap();
    let idle = shown.iter().find(|v| v.key == "idle_policy").expect("listed");
    assert!(idle.value.starts_with("off: idle 90 days"), "{idle:?}");
    let keys: Vec<&str> = shown.iter().map(|v| v.key).collect();
    assert!(
        keys.contains(&"sync_max_deactivation_share") && keys.contains(&"sync_max_deactivations"),
        "{keys:?}"
    );
    let e = s.set_setting(&cli(), "idle_policy", "on").await.unwrap_err();
    assert!(e.to_string().contains("rollcall idle-policy set"), "{e}");
});
