use super::*;
use rollcall_core::clock::Clock;

both_backends!(
    every_change_is_audited_and_the_chain_verifies,
    |db: TestDb| async move {
        let s = service(&db).await;
        let mut ctx = cli();
        ctx.request_id = Some("req-123".into());
        ctx.source = Some("192.0.2.7".into());
        s.create_user(
            &ctx,
            NewUser {
                password: Some("a long secret password".into()),
                ..new_user("ada", "learner")
            },
        )
        .await
        .unwrap();
        s.deactivate_user(&cli(), &key("ada")).await.unwrap();
        let log = s
            .list_audit(
                &cli(),
                &AuditFilter {
                    target: Some("ada".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let actions: Vec<_> = log.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, vec!["user.deactivate", "user.create"]);
        let create = &log[1];
        assert_eq!(create.request_id.as_deref(), Some("req-123"));
        assert_eq!(create.source.as_deref(), Some("192.0.2.7"));
        assert_eq!(create.channel, "cli");
        assert_eq!(create.changes["password"], "[redacted]");
        assert!(!create.changes.to_string().contains("secret"));
        assert!(log.iter().all(|e| e.sealed));
        let r = s.verify_audit(&cli()).await.unwrap();
        assert_eq!((r.sealed, r.unsealed), (2, 0));
        assert!(r.problem.is_none());
    }
);

both_backends!(an_edited_entry_is_named, |db: TestDb| async move {
    let s = service(&db).await;
    for i in 0..4 {
        add(&s, &format!("u{i}"), "learner").await;
    }
    let edited = creation_entry(&s, "u2").await;
    db.execute(&format!(
        "UPDATE audit_log SET action = 'user.nothing' WHERE id = {edited}"
    ))
    .await;
    let p = s
        .verify_audit(&cli())
        .await
        .unwrap()
        .problem
        .expect("the edit is found");
    assert_eq!(p.entry_id, Some(edited));
});

both_backends!(edited_personal_data_is_named, |db: TestDb| async move {
    let s = service(&db).await;
    for i in 0..3 {
        add(&s, &format!("u{i}"), "learner").await;
    }
    let edited = creation_entry(&s, "u1").await;
    db.execute(&format!(
        "UPDATE audit_personal SET data = replace(data, 'u1', 'mallory') WHERE entry_id = {edited}"
    ))
    .await;
    assert_eq!(
        s.verify_audit(&cli()).await.unwrap().problem.unwrap().entry_id,
        Some(edited)
    );
});

both_backends!(a_removed_entry_is_found, |db: TestDb| async move {
    let s = service(&db).await;
    for i in 0..4 {
        add(&s, &format!("u{i}"), "learner").await;
    }
    let (removed, next) = (creation_entry(&s, "u1").await, creation_entry(&s, "u2").await);
    db.execute(&format!("DELETE FROM audit_personal WHERE entry_id = {removed}"))
        .await;
    db.execute(&format!("DELETE FROM audit_log WHERE id = {removed}")).await;
    let p = s.verify_audit(&cli()).await.unwrap().problem.unwrap();
    assert_eq!(p.entry_id, Some(next), "the entry after the gap is named");
});

both_backends!(concurrent_writers_never_fork_the_chain, |db: TestDb| async move {
    let s = service(&db).await;
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.create_user(&cli(), new_user(&format!("w{i}"), "learner")).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let r = s.verify_audit(&cli()).await.unwrap();
    assert!(r.problem.is_none(), "{:?}", r.problem);
    assert_eq!(r.sealed, 24);
});

both_backends!(the_audit_log_filters_by_action, |db: TestDb| async move {
    let s = service(&db).await;
    add(&s, "ada", "learner").await;
    add(&s, "bob", "learner").await;
    s.deactivate_user(&cli(), &key("ada")).await.unwrap();
    let only = |action: &str| AuditFilter {
        action: Some(AuditAction::parse(action).unwrap()),
        ..AuditFilter::default()
    };
    let deactivations = s.list_audit(&cli(), &only("user.deactivate")).await.unwrap();
    assert_eq!(deactivations.len(), 1);
    assert_eq!(deactivations[0].target.as_deref(), Some("ada"));
    let created = s.list_audit(&cli(), &only("User.Create")).await.unwrap();
    assert!(
        created.len() >= 2 && created.iter().all(|e| e.action == "user.create"),
        "{created:?}"
    );
    // An action that doesn't exist is refused by name, not answered with an empty list.
    let unknown = AuditAction::parse("no.such.action").unwrap_err();
    assert_eq!(unknown.code(), "invalid_input", "{unknown}");
});

/// The id of the audit entry that created `username` (tests tamper with it by hand).
async fn creation_entry(s: &Service, username: &str) -> i64 {
    let log = s
        .list_audit(
            &cli(),
            &AuditFilter {
                target: Some(username.into()),
                action: Some(AuditAction::parse("user.create").unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(log.len(), 1, "{username}: one creation");
    log[0].id
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    db.fetch_text(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM {sql}"))
        .await
        .unwrap()
        .parse()
        .unwrap()
}

fn course(code: &str, owner: &str) -> NewCourse {
    NewCourse {
        code: code.into(),
        name: code.into(),
        units: 1,
        owner: Some(owner.into()),
        ..NewCourse::default()
    }
}

both_backends!(
    a_purge_erases_the_name_from_entries_about_others_too,
    |db: TestDb| async move {
        let s = service(&db).await;
        let teach = add(&s, "teach_x", "instructor").await.id;
        let heir = add(&s, "heir_qz", "instructor").await.id;
        add(&s, "keeper", "instructor").await;
        // heir_qz appears in entries about others: a course's owner, the new owner on
        // reassignment and offboarding.
        s.create_course(&cli(), course("CHEM", "heir_qz")).await.unwrap();
        s.create_course(&cli(), course("TEACH", "teach_x")).await.unwrap();
        s.offboard(&cli(), &key("teach_x"), Some(&key("heir_qz")))
            .await
            .unwrap();
        assert!(count(&db, "audit_personal WHERE data LIKE '%heir_qz%'").await > 0);
        // While heir_qz exists, entries read with the name.
        let about_teach = s
            .list_audit(
                &cli(),
                &AuditFilter {
                    target: Some("teach_x".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let reassign = about_teach.iter().find(|e| e.action == "course.reassign").unwrap();
        assert_eq!(reassign.changes["to"]["username"], "heir_qz");
        assert_eq!(reassign.changes["to"]["user_id"], heir);

        s.delete_user(&cli(), &key("heir_qz"), Some("heir_qz"), true, Some(&key("keeper")))
            .await
            .unwrap();
        // Nowhere in the stored personal data, whoever the entry is about.
        assert_eq!(count(&db, "audit_personal WHERE data LIKE '%heir_qz%'").await, 0);
        let log = s
            .list_audit(
                &cli(),
                &AuditFilter {
                    limit: Some(1000),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(!serde_json::to_string(&log).unwrap().contains("heir_qz"));
        // The entries still read sensibly: by id, marked erased; others keep their names.
        let reassign = log
            .iter()
            .find(|e| e.action == "course.reassign" && e.target_id == Some(teach))
            .unwrap();
        assert_eq!(reassign.target.as_deref(), Some("teach_x"));
        assert_eq!(
            reassign.changes["to"],
            serde_json::json!({ "user_id": heir, "erased": true })
        );
        let offboard = log.iter().find(|e| e.action == "user.offboard").unwrap();
        assert_eq!(offboard.changes["new_owner"]["erased"], true);
        let created = log
            .iter()
            .find(|e| e.action == "course.create" && e.target.as_deref() == Some("TEACH"))
            .unwrap();
        assert_eq!(created.changes["owner"]["username"], "teach_x");
        // A genuine purge verifies.
        let r = s.verify_audit(&cli()).await.unwrap();
        assert!(r.intact(), "{:?} {:?}", r.problem, r.refused);
        assert!(r.erased > 0);
    }
);

both_backends!(a_faked_erasure_is_refused, |db: TestDb| async move {
    let s = service(&db).await;
    for i in 0..3 {
        add(&s, &format!("u{i}"), "learner").await;
    }
    assert!(s.verify_audit(&cli()).await.unwrap().intact());
    // Someone with write access to the database hides an entry's personal data as a purge
    // would, without a purge.
    let hidden = creation_entry(&s, "u1").await;
    db.execute(&format!(
        "UPDATE audit_personal SET salt = NULL, data = NULL, erased_at = 1 WHERE entry_id = {hidden}"
    ))
    .await;
    let p = s
        .verify_audit(&cli())
        .await
        .unwrap()
        .problem
        .expect("the faked erasure is found");
    assert_eq!(p.entry_id, Some(hidden));
    assert!(p.reason.contains("no purge"), "{}", p.reason);
});

both_backends!(
    a_row_inserted_by_hand_is_refused_and_reported,
    |db: TestDb| async move {
        let s = service(&db).await;
        add(&s, "u0", "learner").await;
        let genuine = creation_entry(&s, "u0").await;
        // A row written by hand, even with a tag copied from a genuine entry.
        db.execute(&format!(
            "INSERT INTO audit_log (at, actor_kind, channel, action, target_kind, target_id, personal_digest, tag) \
             SELECT at, actor_kind, channel, 'user.forged', target_kind, target_id, personal_digest, tag FROM audit_log WHERE id = {genuine}",
        ))
        .await;
        let forged: i64 = db
            .fetch_text("SELECT CAST(id AS TEXT) FROM audit_log WHERE action = 'user.forged'")
            .await
            .unwrap()
            .parse()
            .unwrap();
        db.execute(&format!(
            "INSERT INTO audit_personal (entry_id, salt, data) SELECT {forged}, salt, data FROM audit_personal WHERE entry_id = {genuine}"
        ))
        .await;
        // The next writer's sealer passes over it; the chain goes on past it.
        add(&s, "u1", "learner").await;
        add(&s, "u2", "learner").await;
        assert_eq!(
            count(
                &db,
                "audit_log WHERE action = 'user.forged' AND chain_seq IS NULL AND refused_at IS NOT NULL"
            )
            .await,
            1
        );
        assert_eq!(count(&db, "audit_log WHERE chain_seq IS NOT NULL").await, 3);
        let r = s.verify_audit(&cli()).await.unwrap();
        assert!(r.problem.is_none(), "{:?}", r.problem);
        assert_eq!((r.sealed, r.unsealed), (3, 0));
        assert_eq!(r.refused.iter().map(|x| x.entry_id).collect::<Vec<_>>(), vec![forged]);
        assert!(r.refused[0].reason.contains("no valid authentication tag"));
        assert!(!r.intact());
        // The list shows it unsealed.
        let log = s.list_audit(&cli(), &AuditFilter::default()).await.unwrap();
        assert!(log.iter().any(|e| e.id == forged && !e.sealed));
    }
);

both_backends!(entries_written_without_the_key_are_refused, |db: TestDb| async move {
    let s = service(&db).await;
    add(&s, "u0", "learner").await;
    // A process with another key (or a copy of rollcall pointed at the database by
    // someone without the key) writes an entry; this installation's sealer refuses it.
    let store = rollcall_store::SqlStore::connect(&db.url).await.unwrap();
    let other = Service::new(Arc::new(store)).with_audit_key(rollcall_core::audit::AuditKey::generate());
    other.create_user(&cli(), new_user("u1", "learner")).await.unwrap();
    let r = s.verify_audit(&cli()).await.unwrap();
    assert!(!r.intact());
    // The other process sealed its own entry under its key: this key names it.
    let foreign = creation_entry(&s, "u1").await;
    assert_eq!(r.problem.map(|p| p.entry_id), Some(Some(foreign)));
});

both_backends!(a_cut_off_tail_is_found, |db: TestDb| async move {
    let s = service(&db).await;
    for i in 0..4 {
        add(&s, &format!("u{i}"), "learner").await;
    }
    let kept = s.verify_audit(&cli()).await.unwrap();
    assert_eq!(kept.head_seq, 4);
    // The newest entry removed and the head moved back to the one before, by hand.
    let newest = creation_entry(&s, "u3").await;
    db.execute(&format!("DELETE FROM audit_personal WHERE entry_id = {newest}"))
        .await;
    db.execute(&format!("DELETE FROM audit_log WHERE id = {newest}")).await;
    db.execute("UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_log WHERE chain_seq = 3)")
        .await;
    let p = s.verify_audit(&cli()).await.unwrap().problem.expect("the cut is found");
    assert!(p.reason.contains("head"), "{}", p.reason);
    let p = s
        .verify_audit_against(&cli(), Some((kept.head_seq, &kept.head_hash)))
        .await
        .unwrap()
        .problem
        .unwrap();
    assert!(p.reason.contains("cut off"), "{}", p.reason);
});

both_backends!(
    the_last_administrators_scheduled_deactivation_is_refused_once,
    |db: TestDb| async move {
        let (s, clock) = service_with_clock(&db).await;
        add(&s, "root", "administrator").await;
        add(&s, "ada", "learner").await;
        for name in ["root", "ada"] {
            let tomorrow = UserUpdate {
                deactivate_at: Some(Some(clock.now() + DAY_MS)),
                ..UserUpdate::default()
            };
            s.update_user(&cli(), &key(name), tomorrow).await.unwrap();
        }
        clock.advance(DAY_MS);
        assert_eq!(
            s.system().run_scheduled_deactivations().await.unwrap(),
            1,
            "ada is deactivated"
        );
        let refused = |s: Service| async move {
            s.list_audit(
                &cli(),
                &AuditFilter {
                    action: Some(AuditAction::parse("user.scheduled_deactivation_refused").unwrap()),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
        };
        let log = refused(s.clone()).await;
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].target.as_deref(), Some("root"));
        assert_eq!(log[0].channel, "system");
        let mail = s.list_mail(&cli(), 100).await.unwrap();
        let notices: Vec<_> = mail.iter().filter(|m| m.template == "deactivation_refused").collect();
        assert_eq!(notices.len(), 1);
        assert_eq!(notices[0].to, "root@example.org");
        assert!(notices[0].body.contains("last active administrator"));
        assert_eq!(s.get_user(&cli(), &key("root")).await.unwrap().status, "active");
        // The date is cleared: the next run (every minute) does nothing more.
        assert_eq!(s.system().run_scheduled_deactivations().await.unwrap(), 0);
        assert_eq!(refused(s.clone()).await.len(), 1);
        let mail = s.list_mail(&cli(), 100).await.unwrap();
        assert_eq!(mail.iter().filter(|m| m.template == "deactivation_refused").count(), 1);
        assert!(s.verify_audit(&cli()).await.unwrap().intact());
    }
);

both_backends!(a_moved_key_boundary_is_found, |db: TestDb| async move {
    let s = service(&db).await;
    for i in 0..3 {
        add(&s, &format!("u{i}"), "learner").await;
    }
    assert!(s.verify_audit(&cli()).await.unwrap().intact());
    // Someone editing the database claims every entry was sealed before keys existed, so
    // that a chain recomputed with plain SHA-256 would pass: the key file knows better.
    db.execute("UPDATE audit_head SET keyed_from = 1000000, tag = NULL WHERE id = 1")
        .await;
    let r = s.verify_audit(&cli()).await.unwrap();
    assert!(!r.intact());
    let p = r.problem.unwrap();
    assert!(p.reason.contains("boundary was moved"), "{}", p.reason);
    assert_eq!(r.keyed_from, 1, "the key file's boundary is reported");
});
