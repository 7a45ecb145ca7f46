//! A large import writes in batches: other people's sign-ins and changes go through while it
//! writes, the seats it needs are held for it from the start, and none are left over.

use super::*;
use std::sync::Arc as StdArc;
use std::time::Duration;

const ROWS: u64 = 3_000;

fn rows() -> Box<dyn Iterator<Item = Parsed> + Send> {
    Box::new((0..ROWS).map(|i| {
        Ok(ImportRow {
            line: i + 2,
            username: format!("bulk{i}"),
            email: format!("bulk{i}@example.org"),
            first_name: "Bulk".into(),
            last_name: format!("Row {i}"),
            password: None,
            user_type: None,
            branches: vec![],
            groups: vec![],
            courses: vec![],
            active: None,
            deactivation_date: None,
            reactivation_date: None,
            exclude_from_emails: None,
            idle_exempt: None,
        })
    }))
}

both_backends!(
    others_sign_in_and_write_while_a_large_import_writes,
    |db: TestDb| async move {
        let s = service(&db).await;
        s.set_plan(&cli(), PlanTier::Enterprise, Some(ROWS as i64 + 1))
            .await
            .unwrap();
        s.set_setting(&cli(), "welcome_email", "off").await.unwrap();
        s.create_user(
            &cli(),
            NewUser {
                password: Some("a rarely used phrase".into()),
                ..new_user("ada", "learner")
            },
        )
        .await
        .unwrap();
        // The importer pauses in its report of the first rows written until the others are
        // done: were it still inside its write transaction (as one transaction for the whole
        // file would be), the sign-in and the change below could not finish.
        let writing = StdArc::new(tokio::sync::Notify::new());
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let importer = {
            let s = s.clone();
            let writing = writing.clone();
            tokio::spawn(async move {
                let mut first = true;
                let mut source = || -> rollcall_core::Result<Box<dyn Iterator<Item = Parsed> + Send>> { Ok(rows()) };
                let mut report = move |r: RowReport| {
                    if first && r.outcome == Outcome::Created {
                        first = false;
                        writing.notify_one();
                        // Off the async workers' books, so their queued tasks move elsewhere.
                        tokio::task::block_in_place(|| wait.recv_timeout(Duration::from_secs(120)))
                            .expect("the others finish");
                    }
                };
                s.import_users(
                    &cli(),
                    &mut source,
                    // Above this many rows a file is written in batches; this one has 3,000.
                    ImportOptions {
                        atomic_rows: Some(1_000),
                        ..Default::default()
                    },
                    &mut report,
                )
                .await
            })
        };
        tokio::time::timeout(Duration::from_secs(300), writing.notified())
            .await
            .expect("the import's first batch is committed");
        // While the import still has most of its rows to write, someone signs in and an
        // administrator changes a user; both complete before the import does.
        let bounded = Duration::from_secs(60);
        tokio::time::timeout(
            bounded,
            s.public()
                .sign_in_password("ada", "a rarely used phrase", Some("127.0.0.1")),
        )
        .await
        .expect("the sign-in doesn't wait for the import")
        .expect("a sign-in during the import");
        let seats_during = s.plan(&cli()).await.unwrap();
        assert_eq!(
            seats_during.seats_used,
            ROWS as i64 + 1,
            "the import's seats are held for it from the start"
        );
        let err = s.create_user(&cli(), new_user("late", "learner")).await.unwrap_err();
        assert_eq!(err.code(), "seat_limit_reached", "{err}");
        tokio::time::timeout(bounded, s.deactivate_user(&cli(), &key("ada")))
            .await
            .expect("the change doesn't wait for the import")
            .expect("a change during the import");
        assert!(!importer.is_finished());
        go.send(()).unwrap();
        let summary = importer.await.unwrap().unwrap();
        assert_eq!((summary.created, summary.written), (ROWS, true));
        let plan = s.plan(&cli()).await.unwrap();
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
        assert_eq!(plan.seats_used, active, "no seat is left reserved");
        assert_eq!(active, ROWS as i64);
        assert_eq!(
            db.fetch_text("SELECT CAST(COUNT(*) AS TEXT) FROM seat_reservations")
                .await
                .as_deref(),
            Some("0")
        );
    }
);

both_backends!(a_stopped_imports_reserved_seats_lapse, |db: TestDb| async move {
    let s = service(&db).await;
    // As an import that died after reserving: the seats come back once its lease ran out.
    db.execute("UPDATE plan SET seats_used = seats_used + 40 WHERE id = 1")
        .await;
    db.execute("INSERT INTO seat_reservations (id, seats, lease_until) VALUES ('dead', 40, 1)")
        .await;
    db.execute("INSERT INTO seat_reservations (id, seats, lease_until) VALUES ('live', 0, 99999999999999)")
        .await;
    assert_eq!(s.plan(&cli()).await.unwrap().seats_used, 40);
    assert_eq!(s.system().end_lapsed_seat_reservations().await.unwrap(), 40);
    assert_eq!(s.plan(&cli()).await.unwrap().seats_used, 0);
    assert_eq!(
        db.fetch_text("SELECT id FROM seat_reservations").await.as_deref(),
        Some("live"),
        "a reservation still held stays"
    );
});

both_backends!(
    planner_statistics_follow_the_tables_that_changed,
    |db: TestDb| async move {
        let s = service(&db).await;
        // Whatever the migrations left is taken first; then nothing has changed.
        s.system().refresh_statistics().await.unwrap();
        assert_eq!(s.system().refresh_statistics().await.unwrap(), Vec::<String>::new());
        match db.backend {
            rollcall_testkit::Backend::Postgres => {
                // 200 settings rows written by hand, their counts flushed to the statistics
                // at once (PostgreSQL otherwise reports them within seconds): more than
                // autovacuum's threshold, so analyzed whether or not autovacuum runs here.
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
                sqlx::query("INSERT INTO settings (key, value) SELECT 'stat' || g, 'x' FROM generate_series(1, 200) g")
                    .execute(&mut c)
                    .await
                    .unwrap();
                // Flushed when this statement ends, the insert's counts with it.
                sqlx::query("SELECT pg_stat_force_next_flush()")
                    .execute(&mut c)
                    .await
                    .unwrap();
                let analyzed = s.system().refresh_statistics().await.unwrap();
                assert_eq!(analyzed, ["settings"]);
                assert!(
                    s.system().refresh_statistics().await.unwrap().is_empty(),
                    "not again until it changes"
                );
                sqlx::query("DELETE FROM settings WHERE key LIKE 'stat%'")
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
            // SQLite keeps no statistics for its planner: nothing to refresh.
            rollcall_testkit::Backend::Sqlite => {
                add(&s, "ada", "learner").await;
                assert!(s.system().refresh_statistics().await.unwrap().is_empty());
            }
        }
    }
);
