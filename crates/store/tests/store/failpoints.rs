//! A user's write, its audit entry and its welcome mail are one transaction: failed or
//! crashed at each failpoint between them (the `fail` crate, the core's `failpoints`
//! feature), nothing of the create is left — no account, no entry, no queued mail, no seat —
//! and the audit chain verifies; the same create then succeeds whole. Each test runs in a
//! process of its own (nextest), so the failpoints it sets reach no other test.

use super::*;

/// The failpoints between a create's writes, in the order the create passes them.
const INSIDE: [&str; 4] = [
    "user.after-write",
    "user.after-outbox",
    "user.after-audit",
    "commit.before",
];

/// Users, audit entries, queued mail and seats used.
async fn footprint(db: &TestDb) -> [String; 4] {
    let mut out = [const { String::new() }; 4];
    for (slot, sql) in out.iter_mut().zip([
        "SELECT CAST(COUNT(*) AS TEXT) FROM users",
        "SELECT CAST(COUNT(*) AS TEXT) FROM audit_log",
        "SELECT CAST(COUNT(*) AS TEXT) FROM mail_outbox",
        "SELECT CAST(seats_used AS TEXT) FROM plan",
    ]) {
        *slot = db.fetch_text(sql).await.expect(sql);
    }
    out
}

async fn prepared(db: &TestDb) -> Service {
    let s = service(db).await;
    s.set_plan(&cli(), PlanTier::Enterprise, Some(10)).await.unwrap();
    // Welcome mail is on by default: every create below queues one.
    s
}

both_backends!(
    a_create_that_fails_between_its_writes_leaves_nothing,
    |db: TestDb| async move {
        let s = prepared(&db).await;
        for (n, point) in INSIDE.into_iter().enumerate() {
            let before = footprint(&db).await;
            fail::cfg(point, "return").unwrap();
            let name = format!("fp{n}");
            let err = s.create_user(&cli(), new_user(&name, "learner")).await.unwrap_err();
            assert_eq!(err.code(), "internal", "{point}: {err}");
            fail::remove(point);
            assert_eq!(
                footprint(&db).await,
                before,
                "{point}: the failed create left something"
            );
            s.verify_audit(&cli()).await.unwrap_or_else(|e| panic!("{point}: {e}"));
            // Nothing half-made stands in the way of the same create.
            s.create_user(&cli(), new_user(&name, "learner")).await.unwrap();
            let after = footprint(&db).await;
            let grew: Vec<i64> = after
                .iter()
                .zip(&before)
                .map(|(a, b)| a.parse::<i64>().unwrap() - b.parse::<i64>().unwrap())
                .collect();
            assert_eq!(
                grew,
                [1, 1, 1, 1],
                "{point}: the create is one user, one entry, one mail, one seat"
            );
        }
    }
);

both_backends!(
    a_create_that_crashes_between_its_writes_leaves_nothing,
    |db: TestDb| async move {
        let s = prepared(&db).await;
        for (n, point) in INSIDE.into_iter().enumerate() {
            let before = footprint(&db).await;
            fail::cfg(point, "panic").unwrap();
            let name = format!("crash{n}");
            // The task dies with the transaction open, as a request's would.
            let create = {
                let s = s.clone();
                tokio::spawn(async move { s.create_user(&cli(), new_user(&name, "learner")).await })
            };
            assert!(create.await.unwrap_err().is_panic(), "{point} did not crash the create");
            fail::remove(point);
            assert_eq!(
                footprint(&db).await,
                before,
                "{point}: the crashed create left something"
            );
            s.verify_audit(&cli()).await.unwrap_or_else(|e| panic!("{point}: {e}"));
        }
    }
);

both_backends!(
    a_create_committed_before_a_failure_is_whole_and_sealed_later,
    |db: TestDb| async move {
        let s = prepared(&db).await;
        let before = footprint(&db).await;
        // Failing after the commit (before the audit chain is sealed): the create happened, all
        // of it, and its entry is sealed by whatever commits next.
        fail::cfg("commit.after", "return").unwrap();
        assert!(s.create_user(&cli(), new_user("late", "learner")).await.is_err());
        fail::remove("commit.after");
        let after = footprint(&db).await;
        for (a, b) in after.iter().zip(&before) {
            assert_eq!(
                a.parse::<i64>().unwrap(),
                b.parse::<i64>().unwrap() + 1,
                "{after:?} against {before:?}"
            );
        }
        let report = s.verify_audit(&cli()).await.unwrap();
        assert_eq!(report.unsealed, 0, "verify seals what was committed");
    }
);
