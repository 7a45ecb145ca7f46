//! A roster sync: the file is who should be active. Missing accounts are deactivated (never
//! deleted), deactivated ones come back only when asked, and the deletion guard holds a
//! sync that would deactivate too many.

use super::*;

fn row(line: u64, name: &str) -> ImportRow {
    ImportRow {
        line,
        username: name.into(),
        email: format!("{name}@example.org"),
        first_name: "Test".into(),
        last_name: name.into(),
        ..ImportRow::default()
    }
}

/// A roster of these usernames, as rows of a file.
fn roster(names: &[&str]) -> Vec<ImportRow> {
    names.iter().enumerate().map(|(i, n)| row(i as u64 + 2, n)).collect()
}

async fn sync(
    s: &Service,
    ctx: &Context,
    rows: Vec<ImportRow>,
    opts: ImportOptions,
) -> rollcall_core::Result<ImportSummary> {
    let mut source = || -> rollcall_core::Result<Box<dyn Iterator<Item = Parsed> + Send>> {
        Ok(Box::new(rows.clone().into_iter().map(Ok)))
    };
    s.import_users(ctx, &mut source, opts, &mut |_| {}).await
}

fn sync_opts(sync: RosterSync) -> ImportOptions {
    ImportOptions {
        sync: Some(sync),
        send_welcome: Some(false),
        ..ImportOptions::default()
    }
}

async fn status(s: &Service, name: &str) -> UserStatus {
    s.get_user(&cli(), &key(name)).await.unwrap().status
}

/// Everyone's status, by username, from an unscoped view.
async fn statuses(s: &Service, wanted: &[&str]) -> Vec<(String, UserStatus)> {
    let mut out = vec![];
    for n in wanted {
        out.push(((*n).to_owned(), status(s, n).await));
    }
    out
}

both_backends!(
    a_sync_deactivates_exactly_the_missing_and_keeps_their_records,
    |db: TestDb| async move {
        let s = service(&db).await;
        s.set_setting(&cli(), "sync_max_deactivation_share", "100")
            .await
            .unwrap();
        add(&s, "root", "administrator").await;
        for n in ["ann", "ben", "cat", "dan", "eve"] {
            add(&s, n, "learner").await;
        }
        s.deactivate_user(&cli(), &key("eve")).await.unwrap();

        // A dry run lists every deactivation and writes nothing.
        let rows = roster(&["root", "ann", "ben", "eve", "fay"]);
        let dry = sync(
            &s,
            &cli(),
            rows.clone(),
            ImportOptions {
                dry_run: true,
                ..sync_opts(RosterSync::default())
            },
        )
        .await
        .unwrap();
        let report = dry.sync.clone().unwrap();
        assert_eq!(
            (report.deactivate, report.held, report.active_in_scope),
            (vec!["cat".to_owned(), "dan".to_owned()], false, 5)
        );
        assert_eq!(dry.created, 1);
        assert_eq!(status(&s, "cat").await, UserStatus::Active, "a dry run writes nothing");
        assert!(s.get_user(&cli(), &key("fay")).await.is_err());

        let done = sync(&s, &cli(), rows, sync_opts(RosterSync::default())).await.unwrap();
        let report = done.sync.unwrap();
        assert_eq!(
            (report.deactivated, report.held, done.written, done.created),
            (2, false, true, 1)
        );
        assert_eq!(
            statuses(&s, &["root", "ann", "ben", "cat", "dan", "eve", "fay"]).await,
            [
                ("root".into(), UserStatus::Active),
                ("ann".into(), UserStatus::Active),
                ("ben".into(), UserStatus::Active),
                ("cat".into(), UserStatus::Deactivated),
                ("dan".into(), UserStatus::Deactivated),
                // Listed but deactivated: it stays so without --reactivate.
                ("eve".into(), UserStatus::Deactivated),
                ("fay".into(), UserStatus::Active),
            ]
        );
        // Deactivated, not deleted, and audited as any deactivation is.
        let filter = AuditFilter {
            action: Some(AuditAction::UserDeactivate),
            target: Some("cat".into()),
            ..AuditFilter::default()
        };
        assert_eq!(s.list_audit(&cli(), &filter).await.unwrap().len(), 1);
    }
);

both_backends!(a_sync_reactivates_only_when_asked, |db: TestDb| async move {
    let s = service(&db).await;
    s.set_setting(&cli(), "sync_max_deactivation_share", "100")
        .await
        .unwrap();
    add(&s, "ann", "learner").await;
    add(&s, "eve", "learner").await;
    s.deactivate_user(&cli(), &key("eve")).await.unwrap();
    let asked = RosterSync {
        reactivate: true,
        ..RosterSync::default()
    };
    let done = sync(&s, &cli(), roster(&["ann", "eve"]), sync_opts(asked))
        .await
        .unwrap();
    assert_eq!((done.updated, done.sync.unwrap().deactivated), (1, 0));
    assert_eq!(status(&s, "eve").await, UserStatus::Active);
    // With --update-existing the rows update too, and the sync still decides the status.
    let mut rows = roster(&["ann"]);
    rows[0].first_name = "Annie".into();
    let opts = ImportOptions {
        update_existing: true,
        ..sync_opts(RosterSync::default())
    };
    sync(&s, &cli(), rows, opts).await.unwrap();
    assert_eq!(s.get_user(&cli(), &key("ann")).await.unwrap().first_name, "Annie");
    assert_eq!(status(&s, "eve").await, UserStatus::Deactivated);
});

both_backends!(
    the_deletion_guard_holds_a_large_sync_until_allowed,
    |db: TestDb| async move {
        let s = service(&db).await;
        let names: Vec<String> = (0..10).map(|i| format!("u{i}")).collect();
        for n in &names {
            add(&s, n, "learner").await;
        }
        // Two of ten missing is 20%, past the default 10%.
        let listed: Vec<&str> = names[2..].iter().map(String::as_str).collect();
        let mut rows = roster(&listed);
        rows.push(row(99, "newbie"));
        let held = sync(&s, &cli(), rows.clone(), sync_opts(RosterSync::default()))
            .await
            .unwrap();
        let report = held.sync.clone().unwrap();
        assert!(held.held() && !held.written, "{held:?}");
        assert_eq!(report.deactivate, ["u0", "u1"]);
        assert!(
            report
                .reason
                .as_deref()
                .unwrap()
                .contains("sync_max_deactivation_share"),
            "{report:?}"
        );
        assert_eq!(status(&s, "u0").await, UserStatus::Active, "nothing is written");
        assert!(
            s.get_user(&cli(), &key("newbie")).await.is_err(),
            "not even the new rows"
        );

        // The count threshold, whichever comes first.
        s.set_setting(&cli(), "sync_max_deactivation_share", "50")
            .await
            .unwrap();
        s.set_setting(&cli(), "sync_max_deactivations", "1").await.unwrap();
        let held = sync(&s, &cli(), rows.clone(), sync_opts(RosterSync::default()))
            .await
            .unwrap();
        assert!(held.sync.unwrap().reason.unwrap().contains("sync_max_deactivations"));

        let allowed = RosterSync {
            allow_large_deactivation: true,
            ..RosterSync::default()
        };
        let done = sync(&s, &cli(), rows, sync_opts(allowed)).await.unwrap();
        assert_eq!((done.written, done.sync.unwrap().deactivated), (true, 2));
        assert_eq!(status(&s, "u1").await, UserStatus::Deactivated);
        assert_eq!(status(&s, "newbie").await, UserStatus::Active);

        // A share over 100% and a negative count are refused, naming the setting.
        let e = s
            .set_setting(&cli(), "sync_max_deactivation_share", "101")
            .await
            .unwrap_err();
        assert!(e.to_string().starts_with("sync_max_deactivation_share:"), "{e}");
        let e = s.set_setting(&cli(), "sync_max_deactivations", "-1").await.unwrap_err();
        assert!(e.to_string().starts_with("sync_max_deactivations:"), "{e}");
    }
);

both_backends!(
    a_sync_stays_within_its_branch_and_spares_the_last_administrator,
    |db: TestDb| async move {
        let s = service(&db).await;
        s.set_setting(&cli(), "sync_max_deactivation_share", "100")
            .await
            .unwrap();
        s.set_plan(&cli(), PlanTier::Enterprise, Some(100)).await.unwrap();
        branch(&s, "north", None).await;
        for n in ["n1", "n2"] {
            s.create_user(
                &cli(),
                NewUser {
                    branches: vec!["north".into()],
                    ..new_user(n, "learner")
                },
            )
            .await
            .unwrap();
        }
        add(&s, "elsewhere", "learner").await;
        add(&s, "root", "administrator").await;
        let scoped = RosterSync {
            scope_branch: Some("north".into()),
            ..RosterSync::default()
        };
        let done = sync(&s, &cli(), roster(&["n1"]), sync_opts(scoped)).await.unwrap();
        assert_eq!(done.sync.unwrap().deactivate, ["n2"]);
        assert_eq!(status(&s, "elsewhere").await, UserStatus::Active, "outside the branch");

        // An unknown scope branch is refused by name.
        let unknown = RosterSync {
            scope_branch: Some("south".into()),
            ..RosterSync::default()
        };
        let e = sync(&s, &cli(), roster(&["n1"]), sync_opts(unknown)).await.unwrap_err();
        assert_eq!(e.code(), "not_found", "{e}");

        // Unscoped, a file without the only administrator deactivates everyone else and keeps
        // the administrator, saying why.
        let done = sync(&s, &cli(), roster(&["n1"]), sync_opts(RosterSync::default()))
            .await
            .unwrap();
        let report = done.sync.unwrap();
        assert_eq!(report.deactivate, ["elsewhere", "root"]);
        assert_eq!(report.deactivated, 1);
        assert_eq!(report.kept.len(), 1);
        assert_eq!(report.kept[0].username, "root");
        assert_eq!(status(&s, "root").await, UserStatus::Active);
    }
);

both_backends!(a_sync_with_a_refused_row_deactivates_nobody, |db: TestDb| async move {
    let s = service(&db).await;
    s.set_setting(&cli(), "sync_max_deactivation_share", "100")
        .await
        .unwrap();
    add(&s, "ann", "learner").await;
    add(&s, "ben", "learner").await;
    // Ben's row has a typo in the email: were it skipped, Ben would look missing.
    let mut rows = roster(&["ann", "ben"]);
    rows[1].email = "not an email".into();
    let opts = ImportOptions {
        partial: true,
        ..sync_opts(RosterSync::default())
    };
    let held = sync(&s, &cli(), rows, opts).await.unwrap();
    assert!(held.held() && !held.written, "{held:?}");
    assert_eq!(status(&s, "ben").await, UserStatus::Active);
});

#[test]
fn sync_only_flags_need_a_sync() {
    let e = RosterSync::from_flags(false, None, true, false, false).unwrap_err();
    assert!(e.to_string().starts_with("reactivate:"), "{e}");
    let e = RosterSync::from_flags(false, Some("north".into()), false, false, false).unwrap_err();
    assert!(e.to_string().starts_with("scope_branch:"), "{e}");
    assert!(
        RosterSync::from_flags(false, Some(" ".into()), false, false, false)
            .unwrap()
            .is_none()
    );
}

both_backends!(
    a_sync_leaves_scim_accounts_to_scim_unless_asked,
    |db: TestDb| async move {
        let s = service(&db).await;
        s.set_setting(&cli(), "sync_max_deactivation_share", "100")
            .await
            .unwrap();
        add(&s, "ann", "learner").await;
        let scim = Context::new(Actor::Operator, Channel::Scim);
        s.create_user(&scim, new_user("idp", "learner")).await.unwrap();
        add(&s, "gone", "learner").await;
        let done = sync(&s, &cli(), roster(&["ann"]), sync_opts(RosterSync::default()))
            .await
            .unwrap();
        assert_eq!(done.sync.unwrap().deactivate, ["gone"]);
        assert_eq!(
            status(&s, "idp").await,
            UserStatus::Active,
            "SCIM's own account is SCIM's to end"
        );
        let asked = RosterSync {
            include_scim: true,
            ..RosterSync::default()
        };
        let done = sync(&s, &cli(), roster(&["ann"]), sync_opts(asked)).await.unwrap();
        assert_eq!(done.sync.unwrap().deactivate, ["idp"]);
        assert_eq!(status(&s, "idp").await, UserStatus::Deactivated);
    }
);
