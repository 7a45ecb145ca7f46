//! Sign-in throttling and bounded sign-in state, through the service on both backends:
//! failures decay, refused attempts don't count, sessions are capped per user, and the
//! minute job's pruning forgets what has expired.

use super::*;
use rollcall_core::Error;

const PHRASE: &str = "a rarely used phrase";
const FROM: Option<&str> = Some("198.51.100.1");

async fn with_password(s: &Service, name: &str) -> UserView {
    let input = NewUser {
        password: Some(PHRASE.into()),
        send_welcome: Some(false),
        ..new_user(name, "learner")
    };
    s.create_user(&cli(), input).await.unwrap()
}

#[track_caller]
fn refused_as_wrong(r: Result<SignedIn, Error>) {
    assert!(matches!(r, Err(Error::Unauthenticated)), "{r:?}");
}

async fn failures(db: &TestDb, like: &str) -> String {
    db.fetch_text(&format!(
        "SELECT CAST(failures AS TEXT) FROM sign_in_failures WHERE key LIKE '{like}'"
    ))
    .await
    .unwrap_or_default()
}

async fn count(db: &TestDb, table: &str) -> String {
    db.fetch_text(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM {table}"))
        .await
        .unwrap()
}

both_backends!(sign_in_failures_decay_after_their_window, |db: TestDb| async move {
    let (s, clock) = service_with_clock(&db).await;
    with_password(&s, "ada").await;
    for _ in 0..4 {
        refused_as_wrong(s.public().sign_in_password("ada", "guess", FROM).await);
    }
    // The window (15 minutes) passes: those four no longer count.
    clock.advance(FAILURE_WINDOW_MS + 60_000);
    for _ in 0..4 {
        refused_as_wrong(s.public().sign_in_password("ada", "guess", FROM).await);
    }
    assert_eq!(failures(&db, "pair:%").await, "4", "a fresh window");
    s.public()
        .sign_in_password("ada", PHRASE, FROM)
        .await
        .expect("eight failures in two windows block nobody");
});

both_backends!(attempts_refused_while_blocked_do_not_count, |db: TestDb| async move {
    let (s, clock) = service_with_clock(&db).await;
    with_password(&s, "ada").await;
    for _ in 0..5 {
        refused_as_wrong(s.public().sign_in_password("ada", "guess", FROM).await);
    }
    let mut wait = 0;
    for _ in 0..10 {
        match s.public().sign_in_password("ada", PHRASE, FROM).await {
            Err(Error::RateLimited { retry_after_secs }) => wait = retry_after_secs,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(failures(&db, "pair:%").await, "5");
    assert_eq!(failures(&db, "acct:%").await, "5");
    assert_eq!(failures(&db, "addr:%").await, "5");
    // Once the backoff has passed, the next failure backs off one step further — not
    // as if the refused attempts had been guesses.
    clock.advance(wait * 1000);
    refused_as_wrong(s.public().sign_in_password("ada", "guess", FROM).await);
    match s.public().sign_in_password("ada", PHRASE, FROM).await {
        Err(Error::RateLimited { retry_after_secs }) => {
            assert!((1..=30).contains(&retry_after_secs), "{retry_after_secs}")
        }
        other => panic!("{other:?}"),
    }
});

both_backends!(sessions_per_user_are_capped, |db: TestDb| async move {
    let s = service(&db).await;
    let ada = with_password(&s, "ada").await;
    let now = s.system().now();
    for i in 0..25 {
        db.execute(&format!(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at) \
             VALUES ('old{i:02}', {}, 'x', {}, {now}, {})",
            ada.id,
            now - 100_000 + i,
            now + 3_600_000
        ))
        .await;
    }
    let signed = s.public().sign_in_password("ada", PHRASE, FROM).await.unwrap();
    assert_eq!(count(&db, "sessions").await, MAX_SESSIONS_PER_USER.to_string());
    s.public()
        .session(&signed.session_id)
        .await
        .expect("the new session is kept");
    let oldest_left = db
        .fetch_text("SELECT MIN(id_hash) FROM sessions WHERE id_hash LIKE 'old%'")
        .await
        .unwrap();
    assert_eq!(oldest_left, "old06", "the six oldest ended");
});

both_backends!(the_minute_job_prunes_expired_state, |db: TestDb| async move {
    let s = service(&db).await;
    let ada = with_password(&s, "ada").await;
    let live = s.public().sign_in_password("ada", PHRASE, FROM).await.unwrap();
    let now = s.system().now();
    let id = ada.id;
    let hour = 3_600_000;
    for (name, created, seen, expires) in [
        ("ended", now - 13 * hour, now - 60_000, now - 1),
        ("idle", now - hour, now - SESSION_IDLE_MS - 1, now + hour),
        ("fresh", now - hour, now - 60_000, now + hour),
    ] {
        db.execute(&format!(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at) \
             VALUES ('{name}', {id}, 'x', {created}, {seen}, {expires})"
        ))
        .await;
    }
    let old = now - FAILURE_WINDOW_MS - 1;
    for (key, window_start, blocked_until) in [
        ("addr:old", old, None),
        ("addr:old-but-blocked", old, Some(now + hour)),
        ("addr:recent", now - 60_000, None),
    ] {
        let blocked_until = blocked_until.map_or("NULL".to_owned(), |t: i64| t.to_string());
        db.execute(&format!(
            "INSERT INTO sign_in_failures (key, failures, window_start, last_failure_at, blocked_until) \
             VALUES ('{key}', 3, {window_start}, {window_start}, {blocked_until})"
        ))
        .await;
    }
    for table in ["sso_requests", "sso_assertions"] {
        db.execute(&format!(
            "INSERT INTO {table} (id, expires_at) VALUES ('_expired', {}), ('_live', {})",
            now - 1,
            now + hour
        ))
        .await;
    }
    let pruned = s.system().prune_expired().await.unwrap();
    assert_eq!(
        pruned,
        Pruned {
            sessions: 2,
            sign_in_failures: 1,
            sso_state: 2
        }
    );
    assert_eq!(count(&db, "sessions").await, "2", "the live and the fresh session");
    s.public()
        .session(&live.session_id)
        .await
        .expect("a live session survives pruning");
    // The successful sign-in left a row for its address, with its attempt taken back.
    assert_eq!(failures(&db, "addr:198.51.100.1").await, "0");
    assert_eq!(count(&db, "sign_in_failures").await, "3");
    assert_eq!(
        db.fetch_text("SELECT id FROM sso_requests").await.as_deref(),
        Some("_live")
    );
    assert_eq!(
        db.fetch_text("SELECT id FROM sso_assertions").await.as_deref(),
        Some("_live")
    );
    assert_eq!(
        s.system().prune_expired().await.unwrap(),
        Pruned::default(),
        "nothing twice"
    );
});

both_backends!(
    failed_sign_ins_reach_the_audit_log_counted_per_window,
    |db: TestDb| async move {
        let (s, clock) = service_with_clock(&db).await;
        with_password(&s, "ada").await;
        let (a, b) = (Some("198.51.100.1"), Some("203.0.113.9"));
        for _ in 0..3 {
            refused_as_wrong(s.public().sign_in_password("ada", "Summer-guess-1", a).await);
        }
        for _ in 0..2 {
            refused_as_wrong(
                s.public()
                    .sign_in_password("ada@example.org", "Summer-guess-2", b)
                    .await,
            );
        }
        // A success from the same address doesn't wipe what the log is owed.
        s.public().sign_in_password("ada", PHRASE, a).await.unwrap();
        for _ in 0..2 {
            refused_as_wrong(s.public().sign_in_password("nobody-here", "Summer-guess-3", a).await);
        }
        let failed = AuditFilter {
            action: Some(rollcall_core::audit::AuditAction::UserSignInFailed),
            ..AuditFilter::default()
        };
        // While the window runs, nothing is written: the count isn't final.
        assert_eq!(s.system().audit_sign_in_failures().await.unwrap(), 0);
        assert!(s.list_audit(&cli(), &failed).await.unwrap().is_empty());

        clock.advance(rollcall_core::service::FAILURE_WINDOW_MS);
        assert_eq!(
            s.system().audit_sign_in_failures().await.unwrap(),
            3,
            "one entry per account and address"
        );
        let entries = s.list_audit(&cli(), &failed).await.unwrap();
        let mut seen: Vec<(Option<String>, Option<String>, i64)> = entries
            .iter()
            .map(|e| {
                (
                    e.target.clone().filter(|t| !t.starts_with("login:")),
                    e.changes["address"].as_str().map(str::to_owned),
                    e.changes["failures"].as_i64().unwrap(),
                )
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            vec![
                (None, Some("198.51.100.1".into()), 2),
                (Some("ada".into()), Some("198.51.100.1".into()), 3),
                (Some("ada".into()), Some("203.0.113.9".into()), 2),
            ]
        );
        let text = serde_json::to_string(&entries).unwrap();
        for secret in ["Summer-guess", "nobody-here"] {
            assert!(!text.contains(secret), "the log holds {secret}: {text}");
        }
        // Written once: the tally is gone, and the chain holds.
        assert_eq!(s.system().audit_sign_in_failures().await.unwrap(), 0);
        assert_eq!(count(&db, "sign_in_failure_tally").await, "0");
        s.verify_audit(&cli()).await.unwrap();
    }
);
