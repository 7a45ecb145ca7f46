//! The daily jobs through the service: leave of absence on its day, a full plan, one run
//! per job and day across two instances on one database, a lease that runs out, restarts.

use super::*;
use rollcall_core::domain::DailyJob;

fn at(s: &str) -> Millis {
    parse_time("t", s).unwrap()
}

/// A service on `db` whose clock is `clock`: another instance, or the same one restarted.
async fn instance(db: &TestDb, clock: &Arc<ManualClock>) -> Service {
    service(db).await.with_clock(clock.clone())
}

async fn audit_of(s: &Service, action: &str) -> Vec<AuditEntryView> {
    s.list_audit(
        &cli(),
        &AuditFilter {
            action: Some(AuditAction::parse(action).unwrap()),
            limit: Some(1000),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// `job.run` entries of `job`, by the period they ran for.
async fn runs_of(s: &Service, job: &str) -> Vec<String> {
    let mut periods: Vec<String> = audit_of(s, "job.run")
        .await
        .into_iter()
        .filter(|e| e.target.as_deref() == Some(job))
        .map(|e| e.changes["period"].as_str().unwrap_or("manual").to_owned())
        .collect();
    periods.sort();
    periods
}

async fn ran(s: &Service) -> Vec<&'static str> {
    let mut names = vec![];
    for (job, result) in s.system().run_due_jobs().await {
        let report = result.unwrap_or_else(|e| panic!("{job}: {e}"));
        assert_eq!(report.outcome, "ok");
        names.push(job.name());
    }
    names
}

both_backends!(a_leave_of_absence_ends_on_its_day, |db: TestDb| async move {
    let clock = Arc::new(ManualClock::at(at("2026-05-10T12:00:00Z")));
    let s = instance(&db, &clock).await;
    add(&s, "root", "administrator").await;
    add(&s, "ada", "learner").await;
    let leave = UserUpdate {
        deactivate_at: Some(Some(at("2026-05-11"))),
        reactivate_at: Some(Some(at("2026-05-20"))),
        ..Default::default()
    };
    let v = s.update_user(&cli(), &key("ada"), leave).await.unwrap();
    assert_eq!(v.reactivate_at.as_deref(), Some("2026-05-20T00:00:00.000Z"));
    let status = |s: Service| async move { s.get_user(&cli(), &key("ada")).await.unwrap() };

    assert_eq!(
        ran(&s).await,
        [
            "scheduled-lifecycle",
            "trash-purge",
            "seat-snapshot",
            "idle-policy",
            "seat-alerts"
        ]
    );
    assert_eq!(status(s.clone()).await.status, "active", "the leave starts tomorrow");

    clock.set(at("2026-05-11T02:59:00Z"));
    assert!(
        ran(&s).await.is_empty(),
        "the 10th is done and the 11th's hour has not come"
    );
    clock.set(at("2026-05-11T03:00:00Z"));
    assert_eq!(ran(&s).await.len(), 5);
    let u = status(s.clone()).await;
    assert_eq!(u.status, "deactivated");
    assert_eq!(
        u.reactivate_at.as_deref(),
        Some("2026-05-20T00:00:00.000Z"),
        "the leave's end is kept"
    );

    clock.set(at("2026-05-19T23:00:00Z"));
    ran(&s).await;
    assert_eq!(status(s.clone()).await.status, "deactivated", "not a day early");

    clock.set(at("2026-05-20T03:00:01Z"));
    ran(&s).await;
    let u = status(s.clone()).await;
    assert_eq!(u.status, "active");
    assert_eq!(u.reactivate_at, None, "the date is spent");
    let activations = audit_of(&s, "user.activate").await;
    assert_eq!(activations.len(), 1);
    assert_eq!(
        (activations[0].channel.as_str(), activations[0].actor_kind.as_str()),
        ("system", "system")
    );
    assert_eq!(s.plan(&cli()).await.unwrap().seats_used, 2);

    // A restart later that day runs nothing again; the next day runs once more.
    clock.set(at("2026-05-20T09:00:00Z"));
    let restarted = instance(&db, &clock).await;
    assert!(ran(&restarted).await.is_empty(), "a finished period is not run again");
    assert_eq!(
        runs_of(&s, "scheduled-lifecycle").await,
        ["2026-05-10", "2026-05-11", "2026-05-19", "2026-05-20"]
    );
    assert!(s.verify_audit(&cli()).await.unwrap().intact());
});

both_backends!(a_period_nobody_ran_is_run_at_the_next_tick, |db: TestDb| async move {
    // Every instance was down at 03:00 on the 11th; one starts at 01:00 on the 12th.
    let clock = Arc::new(ManualClock::at(at("2026-05-10T12:00:00Z")));
    let s = instance(&db, &clock).await;
    ran(&s).await;
    clock.set(at("2026-05-12T01:00:00Z"));
    let restarted = instance(&db, &clock).await;
    assert_eq!(ran(&restarted).await.len(), 5, "the 11th is caught up");
    assert!(ran(&restarted).await.is_empty());
    assert_eq!(runs_of(&s, "seat-snapshot").await, ["2026-05-10", "2026-05-11"]);
});

both_backends!(
    a_full_plan_keeps_the_account_deactivated_and_tells_the_administrators,
    |db: TestDb| async move {
        let clock = Arc::new(ManualClock::at(at("2026-05-10T12:00:00Z")));
        let s = instance(&db, &clock).await;
        s.set_plan(&cli(), PlanTier::Enterprise, Some(2)).await.unwrap();
        add(&s, "root", "administrator").await;
        add(&s, "bob", "learner").await;
        let mut ada = new_user("ada", "learner");
        ada.active = false;
        ada.reactivate_at = Some(at("2026-05-10"));
        s.create_user(&cli(), ada).await.unwrap();

        let dry = s.run_job(&cli(), "scheduled-lifecycle", true).await.unwrap();
        assert!(dry.dry_run);
        assert_eq!(dry.actions.len(), 1);
        assert_eq!(
            (dry.actions[0].action.as_str(), dry.actions[0].target.as_str()),
            ("reactivate", "ada")
        );
        assert!(audit_of(&s, "job.run").await.is_empty(), "a dry run writes nothing");
        assert!(s.get_user(&cli(), &key("ada")).await.unwrap().reactivate_at.is_some());

        let report = s.run_job(&cli(), "scheduled-lifecycle", false).await.unwrap();
        assert_eq!(report.actions[0].action, "reactivation_refused");
        let u = s.get_user(&cli(), &key("ada")).await.unwrap();
        assert_eq!(u.status, "deactivated");
        assert_eq!(
            u.reactivate_at, None,
            "cleared, so it is not refused and mailed every day"
        );
        let refused = audit_of(&s, "user.scheduled_reactivation_refused").await;
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].target.as_deref(), Some("ada"));
        let mail = s.list_mail(&cli(), 100).await.unwrap();
        let notices: Vec<_> = mail.iter().filter(|m| m.template == "reactivation_refused").collect();
        assert_eq!(notices.len(), 1, "one administrator, one mail");
        assert_eq!(notices[0].to, "root@example.org");
        assert!(
            notices[0].subject.contains("ada") && notices[0].body.contains("all 2 seats"),
            "{}",
            notices[0].body
        );
        // The manual run is audited as the operator's.
        let runs = audit_of(&s, "job.run").await;
        assert_eq!((runs.len(), runs[0].actor_kind.as_str()), (1, "operator"));

        // The next day's scheduled run has nothing left to refuse.
        clock.set(at("2026-05-11T04:00:00Z"));
        ran(&s).await;
        let mail = s.list_mail(&cli(), 100).await.unwrap();
        assert_eq!(mail.iter().filter(|m| m.template == "reactivation_refused").count(), 1);
    }
);

both_backends!(two_instances_run_each_daily_job_once_a_day, |db: TestDb| async move {
    let clock = Arc::new(ManualClock::at(at("2026-05-10T12:00:00Z")));
    let one = instance(&db, &clock).await;
    let two = instance(&db, &clock).await;
    add(&one, "root", "administrator").await;
    for day in ["2026-05-10", "2026-05-11", "2026-05-12"] {
        clock.set(at(&format!("{day}T03:00:00Z")));
        for _ in 0..3 {
            let (a, b) = tokio::join!(one.system().run_due_jobs(), two.system().run_due_jobs());
            for (job, r) in a.into_iter().chain(b) {
                r.unwrap_or_else(|e| panic!("{job}: {e}"));
            }
        }
    }
    for job in DailyJob::ALL {
        assert_eq!(
            runs_of(&one, job.name()).await,
            ["2026-05-10", "2026-05-11", "2026-05-12"],
            "{job}: once a day, counted in the audit log"
        );
    }
    let jobs = two.list_jobs(&cli()).await.unwrap();
    assert_eq!(jobs.len(), 5);
    for j in &jobs {
        assert_eq!(j.outcome.as_deref(), Some("ok"));
        assert_eq!(j.last_run.as_deref(), Some("2026-05-12T03:00:00.000Z"));
        assert_eq!(j.next_run, "2026-05-13T03:00:00.000Z");
    }
});

both_backends!(
    a_run_whose_instance_stopped_is_taken_over_once_its_lease_runs_out,
    |db: TestDb| async move {
        let clock = Arc::new(ManualClock::at(at("2026-05-10T12:00:00Z")));
        let one = instance(&db, &clock).await;
        let two = instance(&db, &clock).await;
        add(&one, "root", "administrator").await;
        let leaver = UserUpdate {
            deactivate_at: Some(Some(at("2026-05-10"))),
            ..Default::default()
        };
        add(&one, "ada", "learner").await;
        one.update_user(&cli(), &key("ada"), leaver).await.unwrap();

        // Instance one takes the day's run and stops before doing it.
        let run = one
            .system()
            .begin_daily_run(DailyJob::ScheduledLifecycle)
            .await
            .unwrap()
            .expect("the day is due");
        assert_eq!(run.period().to_string(), "2026-05-10");
        drop(run);

        let names: Vec<_> = two.system().run_due_jobs().await.into_iter().map(|(j, _)| j).collect();
        assert_eq!(
            names,
            [
                DailyJob::TrashPurge,
                DailyJob::SeatSnapshot,
                DailyJob::IdlePolicy,
                DailyJob::SeatAlerts
            ],
            "the lease still holds"
        );
        let e = two.run_job(&cli(), "scheduled-lifecycle", false).await.unwrap_err();
        assert_eq!(e.code(), "job_running");
        assert!(e.to_string().contains("already running"), "{e}");
        let outcome = |s: Service| async move { s.list_jobs(&cli()).await.unwrap()[0].outcome.clone() };
        assert_eq!(outcome(two.clone()).await.as_deref(), Some("running"));
        assert_eq!(two.get_user(&cli(), &key("ada")).await.unwrap().status, "active");

        clock.advance(JOB_LEASE_MS + 1);
        assert_eq!(outcome(two.clone()).await.as_deref(), Some("interrupted"));
        assert_eq!(ran(&two).await, ["scheduled-lifecycle"]);
        assert_eq!(two.get_user(&cli(), &key("ada")).await.unwrap().status, "deactivated");
        assert_eq!(
            runs_of(&two, "scheduled-lifecycle").await,
            ["2026-05-10"],
            "audited once"
        );
        assert!(ran(&one).await.is_empty());
        assert_eq!(outcome(one.clone()).await.as_deref(), Some("ok"));
    }
);

both_backends!(bad_input_names_the_field, |db: TestDb| async move {
    let s = service(&db).await;
    add(&s, "ada", "learner").await;
    let e = s.run_job(&cli(), "nightly", false).await.unwrap_err();
    assert!(e.to_string().starts_with("job: unknown job 'nightly'"), "{e}");
    let early = UserUpdate {
        deactivate_at: Some(Some(at("2026-05-11"))),
        reactivate_at: Some(Some(at("2026-05-11"))),
        ..Default::default()
    };
    let e = s.update_user(&cli(), &key("ada"), early).await.unwrap_err();
    assert!(e.to_string().starts_with("reactivate_at: "), "{e}");
    // Someone without settings.manage may neither list nor run the jobs.
    let learner = s.get_user(&cli(), &key("ada")).await.unwrap();
    let e = s.list_jobs(&as_user(learner.id)).await.unwrap_err();
    assert_eq!(e.code(), "forbidden");
    let e = s
        .run_job(&as_user(learner.id), "seat-snapshot", true)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "forbidden");
});

both_backends!(dry_runs_report_and_write_nothing, |db: TestDb| async move {
    let (s, clock) = service_with_clock(&db).await;
    add(&s, "old", "learner").await;
    s.delete_user(&cli(), &key("old"), Some("old"), false, None)
        .await
        .unwrap();
    clock.advance(31 * DAY_MS);
    let before = s.list_audit(&cli(), &AuditFilter::default()).await.unwrap().len();
    let dry = s.run_job(&cli(), "trash-purge", true).await.unwrap();
    assert_eq!((dry.actions.len(), dry.actions[0].target.as_str()), (1, "old"));
    let snap = s.run_job(&cli(), "seat-snapshot", true).await.unwrap();
    assert_eq!(snap.actions[0].note.as_deref(), Some("0 seats used"));
    assert_eq!(s.get_user(&cli(), &key("old")).await.unwrap().status, "trash");
    assert!(
        s.seat_history(&cli(), 90).await.unwrap().is_empty(),
        "no snapshot recorded"
    );
    assert_eq!(
        s.list_audit(&cli(), &AuditFilter::default()).await.unwrap().len(),
        before
    );
    assert!(s.list_jobs(&cli()).await.unwrap().iter().all(|j| j.last_run.is_none()));
    let done = s.run_job(&cli(), "trash-purge", false).await.unwrap();
    assert_eq!(done.actions[0].action, "purge");
    assert_eq!(s.get_user(&cli(), &key("old")).await.unwrap_err().code(), "not_found");
});
