use super::*;

both_backends!(usernames_and_emails_are_unique_ignoring_case, |db: TestDb| async move {
    let s = service(&db).await;
    add(&s, "Ada", "learner").await;
    let mut dup = new_user("ADA", "learner");
    dup.email = "other@example.org".into();
    assert_eq!(s.create_user(&cli(), dup).await.unwrap_err().code(), "username_taken");
    let mut dup = new_user("grace", "learner");
    dup.email = "ADA@EXAMPLE.ORG".into();
    assert_eq!(s.create_user(&cli(), dup).await.unwrap_err().code(), "email_taken");
    assert_eq!(s.get_user(&cli(), &key("aDa")).await.unwrap().username, "Ada");
    let bad = NewUser {
        email: "not-an-email".into(),
        ..new_user("bad", "learner")
    };
    assert_eq!(s.create_user(&cli(), bad).await.unwrap_err().code(), "invalid_input");
    assert_eq!(
        s.plan(&cli()).await.unwrap().seats_used,
        1,
        "refused creates hold no seat"
    );
});

both_backends!(users_of_each_type_can_be_added, |db: TestDb| async move {
    let s = service(&db).await;
    for t in ["administrator", "branch-administrator", "Instructor", "LEARNER"] {
        let u = add(&s, &format!("a-{}", t.to_lowercase()), t).await;
        assert_eq!(u.user_type.to_lowercase().replace(' ', "-"), t.to_lowercase());
    }
    assert_eq!(
        s.create_user(&cli(), new_user("x", "wizard")).await.unwrap_err().code(),
        "not_found"
    );
    let plain = NewUser {
        user_type: None,
        ..new_user("plain", "")
    };
    assert_eq!(s.create_user(&cli(), plain).await.unwrap().user_type, "Learner");
});

both_backends!(
    delete_needs_confirmation_and_restore_brings_back_deactivated,
    |db: TestDb| async move {
        let s = service(&db).await;
        add(&s, "ada", "learner").await;
        add(&s, "grace", "learner").await;
        assert_eq!(
            s.delete_user(&cli(), &key("ada"), None, false, None)
                .await
                .unwrap_err()
                .code(),
            "confirmation_required"
        );
        assert_eq!(
            s.delete_user(&cli(), &key("ada"), Some("grace"), false, None)
                .await
                .unwrap_err()
                .code(),
            "confirmation_required"
        );
        let deleted = s
            .delete_user(&cli(), &key("ada"), Some("ada"), false, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(deleted.status, "trash");
        assert_eq!(s.plan(&cli()).await.unwrap().seats_used, 1, "the trash holds no seat");
        assert_eq!(names(&s, &cli(), UserFilter::default()).await, vec!["grace"]);
        assert_eq!(
            names(
                &s,
                &cli(),
                UserFilter {
                    status: Some(UserStatus::Trash),
                    ..Default::default()
                }
            )
            .await,
            vec!["ada"]
        );
        // Username and email stay reserved while in the trash.
        assert_eq!(
            s.create_user(&cli(), new_user("ada", "learner"))
                .await
                .unwrap_err()
                .code(),
            "username_taken"
        );
        assert_eq!(
            s.activate_user(&cli(), &key("ada")).await.unwrap_err().code(),
            "in_trash"
        );
        let restored = s.restore_user(&cli(), &key("ada")).await.unwrap();
        assert_eq!(restored.status, "deactivated");
        assert_eq!(s.plan(&cli()).await.unwrap().seats_used, 1);
        assert_eq!(
            s.restore_user(&cli(), &key("ada")).await.unwrap_err().code(),
            "not_in_trash"
        );
    }
);

both_backends!(purge_erases_the_user_but_not_the_chain, |db: TestDb| async move {
    let s = service(&db).await;
    let ada = add(&s, "ada", "learner").await;
    s.update_user(
        &cli(),
        &key("ada"),
        UserUpdate {
            first_name: Some("Augusta".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(
        s.delete_user(&cli(), &key("ada"), Some("ada"), true, None)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(s.get_user(&cli(), &key("ada")).await.unwrap_err().code(), "not_found");
    let report = s.verify_audit(&cli()).await.unwrap();
    assert!(report.problem.is_none(), "{:?}", report.problem);
    assert!(
        report.erased >= 3,
        "create, update and delete entries lost their personal data"
    );
    let entries = s.list_audit(&cli(), &AuditFilter::default()).await.unwrap();
    let about_ada: Vec<_> = entries.iter().filter(|e| e.target_id == Some(ada.id)).collect();
    assert!(
        about_ada.iter().any(|e| e.action == "user.purge"),
        "the log keeps that the account existed and was purged"
    );
    assert!(
        about_ada
            .iter()
            .all(|e| e.target.is_none() && !e.changes.to_string().contains("Augusta"))
    );
    // A new account with the same email starts afresh.
    let again = add(&s, "ada", "learner").await;
    assert_ne!(again.id, ada.id);
    assert_eq!(again.status, "active");
});

both_backends!(the_last_administrator_stays, |db: TestDb| async move {
    let s = service(&db).await;
    add(&s, "root", "administrator").await;
    add(&s, "ada", "learner").await;
    for err in [
        s.deactivate_user(&cli(), &key("root")).await.unwrap_err(),
        s.delete_user(&cli(), &key("root"), Some("root"), false, None)
            .await
            .unwrap_err(),
        s.update_user(
            &cli(),
            &key("root"),
            UserUpdate {
                user_type: Some("learner".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err(),
    ] {
        assert_eq!(err.code(), "last_administrator", "{err}");
    }
    assert_eq!(s.get_user(&cli(), &key("root")).await.unwrap().status, "active");
    add(&s, "second", "administrator").await;
    s.deactivate_user(&cli(), &key("root")).await.unwrap();
    assert_eq!(
        s.deactivate_user(&cli(), &key("second")).await.unwrap_err().code(),
        "last_administrator"
    );
});

both_backends!(
    concurrent_deactivation_of_two_admins_leaves_one,
    |db: TestDb| async move {
        let s = service(&db).await;
        add(&s, "a1", "administrator").await;
        add(&s, "a2", "administrator").await;
        let (r1, r2) = tokio::join!(
            {
                let s = s.clone();
                tokio::spawn(async move { s.deactivate_user(&cli(), &key("a1")).await })
            },
            {
                let s = s.clone();
                tokio::spawn(async move { s.deactivate_user(&cli(), &key("a2")).await })
            }
        );
        let oks = [r1.unwrap().is_ok(), r2.unwrap().is_ok()]
            .iter()
            .filter(|x| **x)
            .count();
        assert_eq!(oks, 1);
        let admins = s
            .count_users(
                &cli(),
                &UserFilter {
                    status: Some(UserStatus::Active),
                    user_type: Some("administrator".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(admins, 1);
    }
);

both_backends!(scheduled_deactivation_happens_on_its_date, |db: TestDb| async move {
    let s = service(&db).await;
    let mut contractor = new_user("contractor", "learner");
    contractor.deactivate_at = Some(s.system().now() - 1000);
    s.create_user(&cli(), contractor).await.unwrap();
    let mut later = new_user("later", "learner");
    later.deactivate_at = Some(s.system().now() + 86_400_000);
    s.create_user(&cli(), later).await.unwrap();
    assert_eq!(s.system().run_scheduled_deactivations().await.unwrap(), 1);
    assert_eq!(
        s.get_user(&cli(), &key("contractor")).await.unwrap().status,
        "deactivated"
    );
    assert_eq!(s.get_user(&cli(), &key("later")).await.unwrap().status, "active");
    assert_eq!(s.plan(&cli()).await.unwrap().seats_used, 1);
    let entries = s
        .list_audit(
            &cli(),
            &AuditFilter {
                target: Some("contractor".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(entries[0].channel, "system");
    assert_eq!(s.system().run_scheduled_deactivations().await.unwrap(), 0);
});

both_backends!(trash_past_retention_is_purged, |db: TestDb| async move {
    let (s, clock) = service_with_clock(&db).await;
    add(&s, "old", "learner").await;
    s.delete_user(&cli(), &key("old"), Some("old"), false, None)
        .await
        .unwrap();
    assert_eq!(
        s.system().purge_expired_trash().await.unwrap(),
        0,
        "still within the retention window"
    );
    // Thirty-one days pass: the job must purge it.
    clock.advance(31 * DAY_MS);
    assert_eq!(s.system().purge_expired_trash().await.unwrap(), 1);
    assert_eq!(s.get_user(&cli(), &key("old")).await.unwrap_err().code(), "not_found");
    assert!(s.verify_audit(&cli()).await.unwrap().problem.is_none());
});

both_backends!(lists_filter_and_page, |db: TestDb| async move {
    let s = service(&db).await;
    s.add_branch(
        &cli(),
        NewBranch {
            name: "North".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.add_group(
        &cli(),
        NewGroup {
            name: "Safety".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    for i in 0..12 {
        let mut u = new_user(
            &format!("user{i:02}"),
            if i % 3 == 0 { "instructor" } else { "learner" },
        );
        if i < 4 {
            u.branches = vec!["North".into()];
        }
        if i % 2 == 0 {
            u.groups = vec!["Safety".into()];
        }
        u.first_name = if i == 7 { "Grace_Hopper".into() } else { "Test".into() };
        s.create_user(&cli(), u).await.unwrap();
    }
    s.deactivate_user(&cli(), &key("user11")).await.unwrap();
    let f = |f: UserFilter| f;
    assert_eq!(
        names(
            &s,
            &cli(),
            f(UserFilter {
                branch: Some("north".into()),
                ..Default::default()
            })
        )
        .await
        .len(),
        4
    );
    assert_eq!(
        names(
            &s,
            &cli(),
            f(UserFilter {
                group: Some("Safety".into()),
                ..Default::default()
            })
        )
        .await
        .len(),
        6
    );
    assert_eq!(
        names(
            &s,
            &cli(),
            f(UserFilter {
                user_type: Some("Instructor".into()),
                ..Default::default()
            })
        )
        .await
        .len(),
        4
    );
    assert_eq!(
        names(
            &s,
            &cli(),
            f(UserFilter {
                status: Some(UserStatus::Deactivated),
                ..Default::default()
            })
        )
        .await,
        vec!["user11"]
    );
    assert_eq!(
        names(
            &s,
            &cli(),
            f(UserFilter {
                search: Some("GRACE_".into()),
                ..Default::default()
            })
        )
        .await,
        vec!["user07"]
    );
    assert_eq!(
        names(
            &s,
            &cli(),
            f(UserFilter {
                search: Some("%".into()),
                ..Default::default()
            })
        )
        .await
        .len(),
        0,
        "LIKE wildcards are literal"
    );
    assert_eq!(
        names(
            &s,
            &cli(),
            f(UserFilter {
                never_logged_in: true,
                ..Default::default()
            })
        )
        .await
        .len(),
        12
    );
    assert_eq!(
        names(
            &s,
            &cli(),
            f(UserFilter {
                idle_days: Some(30),
                ..Default::default()
            })
        )
        .await
        .len(),
        12
    );
    // Keyset pagination visits everyone once, in order.
    let mut seen = vec![];
    let mut filter = UserFilter {
        limit: Some(5),
        ..Default::default()
    };
    for pages in 1.. {
        assert!(pages <= 100, "the cursor walk never ended");
        let page = s.list_users(&cli(), &filter).await.unwrap();
        seen.extend(page.items.into_iter().map(|u| u.username));
        match page.next_cursor {
            Some(c) => filter.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, (0..12).map(|i| format!("user{i:02}")).collect::<Vec<_>>());
    assert_eq!(
        s.list_users(
            &cli(),
            &UserFilter {
                cursor: Some("x".into()),
                ..Default::default()
            }
        )
        .await
        .unwrap_err()
        .code(),
        "invalid_input"
    );
});

both_backends!(
    only_the_user_or_who_may_change_them_ends_their_sessions,
    |db: TestDb| async move {
        let s = service(&db).await;
        let root = add(&s, "root", "administrator").await;
        let ada = s
            .create_user(
                &cli(),
                NewUser {
                    password: Some("a rarely used phrase".into()),
                    ..new_user("ada", "learner")
                },
            )
            .await
            .unwrap();
        let bob = add(&s, "bob", "learner").await;
        let session = s
            .public()
            .sign_in_password("ada", "a rarely used phrase", None)
            .await
            .unwrap()
            .session_id;
        assert_eq!(
            s.end_sessions(&as_user(bob.id), &key("ada")).await.unwrap_err().code(),
            "forbidden",
            "another learner can't"
        );
        assert_eq!(
            s.public().session(&session).await.unwrap().user.username,
            "ada",
            "the refusal ended nothing"
        );
        assert_eq!(s.end_sessions(&as_user(root.id), &key("ada")).await.unwrap(), 1);
        assert!(s.public().session(&session).await.is_err(), "signed out");
        let again = s
            .public()
            .sign_in_password("ada", "a rarely used phrase", None)
            .await
            .unwrap()
            .session_id;
        assert_eq!(
            s.end_sessions(&as_user(ada.id), &key("ada")).await.unwrap(),
            1,
            "herself"
        );
        assert!(s.public().session(&again).await.is_err());
    }
);

both_backends!(
    a_bulk_job_whose_instance_stopped_is_taken_over_where_it_stopped,
    |db: TestDb| async move {
        let (s, clock) = service_with_clock(&db).await;
        s.set_plan(&cli(), PlanTier::Enterprise, Some(1_000)).await.unwrap();
        let root = add(&s, "root", "administrator").await;
        let mut ids = vec![];
        for i in 0..600 {
            ids.push(UserId(add(&s, &format!("u{i:03}"), "learner").await.id));
        }
        let by_root = as_user(root.id);
        let (job, stalled) = s.start_bulk_job(&by_root, &BulkAction::Deactivate, &ids).await.unwrap();
        assert!(
            s.system().claim_abandoned_job().await.unwrap().is_none(),
            "its lease holds"
        );
        // The instance that started it recorded the first 250 outcomes, then stopped; its
        // lease (two minutes) runs out.
        db.execute(&format!(
        "UPDATE job_items SET ok = TRUE, outcome = '{{\"id\": 0, \"ok\": true, \"status\": \"before the stop\", \"code\": null, \"message\": null}}' \
         WHERE job_id = {} AND seq < 250",
        job.id
    ))
    .await;
        db.execute(&format!("UPDATE jobs SET done = 250 WHERE id = {}", job.id))
            .await;
        clock.advance(10 * 60 * 1000);

        // Two instances look at once; one takes it.
        let (a, b) = tokio::join!(s.system().claim_abandoned_job(), s.system().claim_abandoned_job());
        let claims: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
        assert_eq!(claims.len(), 1, "one instance takes the job");
        let run = claims.into_iter().next().unwrap();
        assert_eq!(
            (run.job_id, &run.action, run.ctx.actor.clone()),
            (job.id, &BulkAction::Deactivate, by_root.actor.clone())
        );
        // The first instance wakes up, finds its lease gone before acting, and stops
        // without changing or recording anything.
        s.system().run_bulk_job(stalled).await.unwrap();
        assert_eq!(
            s.get_user(&cli(), &UserKey::Id(ids[250])).await.unwrap().status,
            "active"
        );
        let after_stall = s.job(&by_root, job.id, ResultsPage::default()).await.unwrap();
        assert_eq!((after_stall.status.as_str(), after_stall.done), ("running", 250));
        s.system().run_bulk_job(run).await.unwrap();

        let done = s.job(&by_root, job.id, ResultsPage::default()).await.unwrap();
        assert_eq!((done.status.as_str(), done.done, done.failed), ("done", 600, 0));
        assert_eq!(done.results.len(), 600);
        assert_eq!(done.results[249].status.as_deref(), Some("before the stop"));
        assert_eq!(done.results[250].id, ids[250].0);
        for (i, id) in ids.iter().enumerate() {
            let u = s.get_user(&cli(), &UserKey::Id(*id)).await.unwrap();
            let want = if i < 250 { "active" } else { "deactivated" };
            assert_eq!(
                u.status, want,
                "u{i:03}: only what the stopped instance hadn't done is done"
            );
        }
        // The changes are the starter's, through their channel.
        let audit = s
            .list_audit(
                &cli(),
                &AuditFilter {
                    target: Some("u599".into()),
                    action: Some(AuditAction::parse("user.deactivate").unwrap()),
                    ..AuditFilter::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(audit[0].actor.as_deref(), Some("root"));
        assert_eq!(audit[0].channel, "console");
        assert!(
            s.system().claim_abandoned_job().await.unwrap().is_none(),
            "a finished job isn't taken again"
        );
    }
);

both_backends!(a_job_that_cannot_be_resumed_is_marked_failed, |db: TestDb| async move {
    let s = service(&db).await;
    let root = add(&s, "root", "administrator").await;
    let ada = add(&s, "ada", "learner").await;
    let job = s
        .start_bulk_job(&as_user(root.id), &BulkAction::Deactivate, &[UserId(ada.id)])
        .await
        .unwrap()
        .0;
    // As a job from before jobs kept who started them (or held a lease).
    db.execute(&format!(
        "UPDATE jobs SET actor = NULL, lease_until = NULL WHERE id = {}",
        job.id
    ))
    .await;
    assert!(s.system().claim_abandoned_job().await.unwrap().is_none());
    assert_eq!(
        s.job(&as_user(root.id), job.id, ResultsPage::default())
            .await
            .unwrap()
            .status,
        "failed"
    );
    assert_eq!(s.get_user(&cli(), &key("ada")).await.unwrap().status, "active");
});

both_backends!(
    accounts_created_deactivated_get_no_welcome_mail,
    |db: TestDb| async move {
        let s = service(&db).await;
        let mut leaver = new_user("leaver", "learner");
        leaver.active = false;
        s.create_user(&cli(), leaver).await.unwrap();
        assert!(
            s.list_mail(&cli(), 10).await.unwrap().is_empty(),
            "nothing to be welcomed to"
        );
        s.create_user(&cli(), new_user("joiner", "learner")).await.unwrap();
        let mail = s.list_mail(&cli(), 10).await.unwrap();
        assert_eq!(mail.len(), 1, "{mail:?}");
        assert!(format!("{mail:?}").contains("joiner@example.org"), "{mail:?}");
    }
);
