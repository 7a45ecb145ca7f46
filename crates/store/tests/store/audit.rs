use super::*;

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
    db.execute("UPDATE audit_log SET action = 'user.nothing' WHERE id = 3")
        .await;
    let p = s
        .verify_audit(&cli())
        .await
        .unwrap()
        .problem
        .expect("the edit is found");
    assert_eq!(p.entry_id, Some(3));
});

both_backends!(edited_personal_data_is_named, |db: TestDb| async move {
    let s = service(&db).await;
    for i in 0..3 {
        add(&s, &format!("u{i}"), "learner").await;
    }
    db.execute("UPDATE audit_personal SET data = replace(data, 'u1', 'mallory') WHERE entry_id = 2")
        .await;
    assert_eq!(s.verify_audit(&cli()).await.unwrap().problem.unwrap().entry_id, Some(2));
});

both_backends!(a_removed_entry_is_found, |db: TestDb| async move {
    let s = service(&db).await;
    for i in 0..4 {
        add(&s, &format!("u{i}"), "learner").await;
    }
    db.execute("DELETE FROM audit_personal WHERE entry_id = 2").await;
    db.execute("DELETE FROM audit_log WHERE id = 2").await;
    let p = s.verify_audit(&cli()).await.unwrap().problem.unwrap();
    assert_eq!(p.entry_id, Some(3), "the entry after the gap is named");
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
        action: Some(action.into()),
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
    assert!(s.list_audit(&cli(), &only("no.such.action")).await.unwrap().is_empty());
});
