use super::*;
use rollcall_core::clock::Clock;

both_backends!(free_plan_refuses_the_sixth_active_account, |db: TestDb| async move {
    let s = service(&db).await;
    s.set_plan(&cli(), PlanTier::Free, None).await.unwrap();
    for i in 0..5 {
        add(&s, &format!("user{i}"), "learner").await;
    }
    let err = s.create_user(&cli(), new_user("sixth", "learner")).await.unwrap_err();
    assert!(
        matches!(err, rollcall_core::Error::SeatLimitReached { used: 5, limit: 5 }),
        "{err}"
    );
    assert!(err.to_string().contains("5 of 5"));

    // A deactivated account holds no seat, so it can still be added.
    let mut parked = new_user("parked", "learner");
    parked.active = false;
    s.create_user(&cli(), parked).await.unwrap();

    s.deactivate_user(&cli(), &key("user0")).await.unwrap();
    assert_eq!(s.plan(&cli()).await.unwrap().seats_used, 4);
    add(&s, "sixth", "learner").await;
    assert_eq!(
        s.activate_user(&cli(), &key("parked")).await.unwrap_err().code(),
        "seat_limit_reached"
    );
    assert_eq!(
        s.activate_user(&cli(), &key("user0")).await.unwrap_err().code(),
        "seat_limit_reached"
    );
});

both_backends!(deactivating_twice_frees_one_seat, |db: TestDb| async move {
    let s = service(&db).await;
    add(&s, "ada", "learner").await;
    s.deactivate_user(&cli(), &key("ada")).await.unwrap();
    s.deactivate_user(&cli(), &key("ada")).await.unwrap();
    assert_eq!(s.plan(&cli()).await.unwrap().seats_used, 0);
    s.activate_user(&cli(), &key("ada")).await.unwrap();
    s.activate_user(&cli(), &key("ada")).await.unwrap();
    assert_eq!(s.plan(&cli()).await.unwrap().seats_used, 1);
});

both_backends!(plan_below_seats_in_use_is_refused, |db: TestDb| async move {
    let s = service(&db).await;
    for i in 0..7 {
        add(&s, &format!("u{i}"), "learner").await;
    }
    let err = s.set_plan(&cli(), PlanTier::Free, None).await.unwrap_err();
    assert_eq!(err.code(), "seats_in_use");
    assert!(err.to_string().contains("deactivate 2 accounts"), "{err}");
    let p = s.set_plan(&cli(), PlanTier::Enterprise, Some(7)).await.unwrap();
    assert_eq!((p.seat_limit, p.seats_used), (7, 7));
    assert_eq!(
        s.create_user(&cli(), new_user("x", "learner"))
            .await
            .unwrap_err()
            .code(),
        "seat_limit_reached"
    );
});

both_backends!(
    concurrent_creates_for_the_last_seat_give_one_success,
    |db: TestDb| async move {
        let s = service(&db).await;
        s.set_plan(&cli(), PlanTier::Free, None).await.unwrap();
        for i in 0..4 {
            add(&s, &format!("u{i}"), "learner").await;
        }
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move { s.create_user(&cli(), new_user(&format!("racer{i}"), "learner")).await })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(e) => assert_eq!(e.code(), "seat_limit_reached", "{e}"),
            }
        }
        assert_eq!(ok, 1);
        let plan = s.plan(&cli()).await.unwrap();
        assert_eq!(plan.seats_used, 5);
        let active = s
            .count_users(
                &cli(),
                &UserFilter {
                    status: Some(UserStatus::Active),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(active, 5, "the seat counter matches the accounts");
        assert!(s.verify_audit(&cli()).await.unwrap().problem.is_none());
    }
);

both_backends!(branch_seat_caps_hold, |db: TestDb| async move {
    let s = service(&db).await;
    s.add_branch(
        &cli(),
        NewBranch {
            name: "North".into(),
            seat_cap: Some(1),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut a = new_user("a", "learner");
    a.branches = vec!["north".into()];
    s.create_user(&cli(), a).await.unwrap();
    let mut b = new_user("b", "learner");
    b.branches = vec!["North".into()];
    assert_eq!(
        s.create_user(&cli(), b.clone()).await.unwrap_err().code(),
        "branch_seat_cap_reached"
    );
    assert_eq!(
        s.plan(&cli()).await.unwrap().seats_used,
        1,
        "a refused create takes no plan seat either"
    );
    s.deactivate_user(&cli(), &key("a")).await.unwrap();
    s.create_user(&cli(), b).await.unwrap();
    let branches = s.list_branches(&cli()).await.unwrap();
    assert_eq!(branches[0].active_users, 1);
    // A cap may be set to exactly the branch's active count, and then holds.
    s.set_branch(&cli(), "North", None, Some(Some(1))).await.unwrap();
    let north = s.list_branches(&cli()).await.unwrap().remove(0);
    assert_eq!((north.seat_cap, north.active_users), (Some(1), 1));
    let mut c = new_user("c", "learner");
    c.branches = vec!["North".into()];
    assert_eq!(
        s.create_user(&cli(), c).await.unwrap_err().code(),
        "branch_seat_cap_reached"
    );
});

both_backends!(
    the_daily_count_of_active_accounts_is_kept_per_day,
    |db: TestDb| async move {
        let s = service(&db).await;
        assert!(s.seat_history(&cli(), 90).await.unwrap().is_empty());
        add(&s, "ada", "learner").await;
        s.system().record_seat_history().await.unwrap();
        let first = s.seat_history(&cli(), 90).await.unwrap();
        assert_eq!(first.len(), 1);
        let today = first[0].0;
        assert_eq!(today, s.system().now() / rollcall_core::domain::DAY_MS);
        // Rewritten, not appended, as the day goes on.
        add(&s, "grace", "learner").await;
        s.system().record_seat_history().await.unwrap();
        let second = s.seat_history(&cli(), 90).await.unwrap();
        assert_eq!(second, vec![(today, first[0].1 + 1)]);
        // Not for learners.
        let learner = s.get_user(&cli(), &key("ada")).await.unwrap().id;
        assert_eq!(
            s.seat_history(&as_user(learner), 90).await.unwrap_err().code(),
            "forbidden"
        );
    }
);

both_backends!(
    a_known_seat_series_gives_the_stated_forecast_date,
    |db: TestDb| async move {
        let (s, clock) = service_with_clock(&db).await;
        s.set_plan(&cli(), PlanTier::Enterprise, Some(100)).await.unwrap();
        s.set_setting(&cli(), "welcome_email", "off").await.unwrap();
        // Noon, so the days are whole whatever the hour the test starts.
        let start = clock.now().div_euclid(DAY_MS) * DAY_MS + DAY_MS / 2;
        clock.set(start);
        // One day of history says nothing of a trend.
        for i in 0..10 {
            add(&s, &format!("d0u{i}"), "learner").await;
        }
        s.system().record_seat_history().await.unwrap();
        let one_day = s.seat_report(&cli()).await.unwrap().forecast.unwrap();
        assert_eq!((one_day.limit_reached_on, one_day.change_30_days), (None, Some(0)));

        // Ten more accounts a day for five more days: 60 today, the limit of 100 four days on.
        for day in 1..6 {
            clock.advance(DAY_MS);
            for i in 0..10 {
                add(&s, &format!("d{day}u{i}"), "learner").await;
            }
            s.system().record_seat_history().await.unwrap();
        }
        let f = s.seat_report(&cli()).await.unwrap().forecast.unwrap();
        let expected = format_millis(start + 9 * DAY_MS)[..10].to_owned();
        assert_eq!(f.limit_reached_on.as_deref(), Some(expected.as_str()), "{f:?}");
        assert_eq!(
            (f.per_day, f.change_30_days, f.history.len()),
            (Some(10.0), Some(50), 6)
        );
        assert!(f.method.contains("least-squares"), "the report says how");

        // Falling use is not within a year.
        for day in 1..6 {
            clock.advance(DAY_MS);
            for i in 0..10 {
                s.deactivate_user(&cli(), &key(&format!("d{day}u{i}"))).await.unwrap();
            }
            s.system().record_seat_history().await.unwrap();
        }
        let f = s.seat_report(&cli()).await.unwrap().forecast.unwrap();
        assert_eq!(f.limit_reached_on, None, "{f:?}");
    }
);

both_backends!(each_seat_alert_fires_once_per_crossing, |db: TestDb| async move {
    let s = service(&db).await;
    s.set_plan(&cli(), PlanTier::Enterprise, Some(20)).await.unwrap();
    s.set_setting(&cli(), "welcome_email", "off").await.unwrap();
    add(&s, "root", "administrator").await;
    for i in 0..14 {
        add(&s, &format!("u{i}"), "learner").await;
    }
    let alerts = async || s.system().run_seat_alerts(false).await.unwrap();
    let levels = |a: Vec<SeatAlert>| a.into_iter().map(|a| (a.scope, a.level)).collect::<Vec<_>>();
    let plan = |level: i64| ("the plan's limit".to_owned(), level);
    assert!(alerts().await.is_empty(), "15 of 20 is 75%");

    add(&s, "u14", "learner").await;
    // A dry run says what would fire, and fires nothing.
    assert_eq!(levels(s.system().run_seat_alerts(true).await.unwrap()), [plan(80)]);
    assert_eq!(levels(alerts().await), [plan(80)]);
    assert!(alerts().await.is_empty(), "once per crossing");
    let mail = s.list_mail(&cli(), 100).await.unwrap();
    let to_root: Vec<_> = mail.iter().filter(|m| m.template == "seat_alert").collect();
    assert_eq!(to_root.len(), 1, "{mail:?}");
    assert!(
        to_root[0].subject.contains("80%") && to_root[0].body.contains("16 of 20"),
        "{:?}",
        to_root[0]
    );
    let audit = AuditFilter {
        action: Some(AuditAction::PlanSeatAlert),
        ..AuditFilter::default()
    };
    assert_eq!(s.list_audit(&cli(), &audit).await.unwrap().len(), 1);

    // Jumping to 100% fires 90 and 100, each once.
    for i in 15..19 {
        add(&s, &format!("u{i}"), "learner").await;
    }
    assert_eq!(levels(alerts().await), [plan(90), plan(100)]);
    // Dipping under 80% but not 5 points under re-arms nothing.
    for i in 15..19 {
        s.deactivate_user(&cli(), &key(&format!("u{i}"))).await.unwrap();
    }
    assert!(alerts().await.is_empty(), "16 of 20 is still 80%");
    s.deactivate_user(&cli(), &key("u14")).await.unwrap();
    assert!(alerts().await.is_empty(), "at 75% the 80% alert re-arms, silently");
    s.activate_user(&cli(), &key("u14")).await.unwrap();
    assert_eq!(levels(alerts().await), [plan(80)], "and fires on the next crossing");

    // A branch's cap has alerts of its own.
    branch(&s, "North", Some(5)).await;
    for i in 0..4 {
        s.update_user(
            &cli(),
            &key(&format!("u{i}")),
            UserUpdate {
                add_branches: vec!["North".into()],
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap();
    }
    assert_eq!(levels(alerts().await), [("branch North's cap".to_owned(), 80)]);
    let audit = AuditFilter {
        action: Some(AuditAction::BranchSeatAlert),
        ..AuditFilter::default()
    };
    assert_eq!(
        s.list_audit(&cli(), &audit).await.unwrap()[0].target.as_deref(),
        Some("North")
    );
});

both_backends!(
    the_seat_report_lists_the_next_thirty_days_changes,
    |db: TestDb| async move {
        let (s, clock) = service_with_clock(&db).await;
        s.set_plan(&cli(), PlanTier::Enterprise, Some(100)).await.unwrap();
        for n in ["leaver", "later", "onleave", "stays"] {
            add(&s, n, "learner").await;
        }
        let now = clock.now();
        let set = |name: &'static str, upd: UserUpdate| {
            let s = s.clone();
            async move { s.update_user(&cli(), &key(name), upd).await.unwrap() }
        };
        set(
            "leaver",
            UserUpdate {
                deactivate_at: Some(Some(now + 10 * DAY_MS)),
                ..UserUpdate::default()
            },
        )
        .await;
        set(
            "later",
            UserUpdate {
                deactivate_at: Some(Some(now + 40 * DAY_MS)),
                ..UserUpdate::default()
            },
        )
        .await;
        s.deactivate_user(&cli(), &key("onleave")).await.unwrap();
        set(
            "onleave",
            UserUpdate {
                reactivate_at: Some(Some(now + 5 * DAY_MS)),
                ..UserUpdate::default()
            },
        )
        .await;
        let scheduled = s.seat_report(&cli()).await.unwrap().scheduled.unwrap();
        let names = |c: &[ScheduledChange]| c.iter().map(|c| c.username.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&scheduled.deactivations),
            ["leaver"],
            "40 days on is beyond the window"
        );
        assert_eq!(names(&scheduled.reactivations), ["onleave"]);
        assert!(scheduled.idle_deactivations.is_empty(), "the idle policy is off");
        // 3 active now (leaver, later, stays), one leaves and one comes back.
        assert_eq!(scheduled.used_in_30_days, 3);
    }
);

both_backends!(a_branch_has_its_own_history_and_cap_forecast, |db: TestDb| async move {
    let (s, clock) = service_with_clock(&db).await;
    s.set_plan(&cli(), PlanTier::Enterprise, Some(1000)).await.unwrap();
    s.set_setting(&cli(), "welcome_email", "off").await.unwrap();
    branch(&s, "North", Some(50)).await;
    clock.set(clock.now().div_euclid(DAY_MS) * DAY_MS + DAY_MS / 2);
    let start = clock.now();
    // Five a day in North, 30 by the sixth day: the cap of 50 four days on.
    for day in 0..6 {
        if day > 0 {
            clock.advance(DAY_MS);
        }
        for i in 0..5 {
            let u = NewUser {
                branches: vec!["North".into()],
                ..new_user(&format!("n{day}x{i}"), "learner")
            };
            s.create_user(&cli(), u).await.unwrap();
        }
        add(&s, &format!("elsewhere{day}"), "learner").await;
        s.system().record_seat_history().await.unwrap();
    }
    let h = s.branch_seat_history(&cli(), "North").await.unwrap();
    assert_eq!(
        h.history.iter().map(|p| p.1).collect::<Vec<_>>(),
        [5, 10, 15, 20, 25, 30]
    );
    assert_eq!(
        h.cap_reached_on,
        Some(format_millis(start + 9 * DAY_MS)[..10].to_owned())
    );
    assert_eq!(
        s.branch_seat_history(&cli(), "South").await.unwrap_err().code(),
        "not_found"
    );
});
