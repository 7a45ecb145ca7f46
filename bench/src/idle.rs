//! `cargo run --release -p rollcall-bench -- idle [USERS]` (default 1,000,000; give a
//! smaller USERS for a quick check)
//!
//! The idle policy's preview at USERS users — the accounts a run would warn and deactivate,
//! the last-administrator guard, the active count for the safety cap — against the bare
//! `SELECT` over the `users_idle` index that finds the same accounts, in the same process
//! on the same database. Target: a ratio of at most 3.

use crate::report;
use rollcall_core::domain::DAY_MS;
use rollcall_core::service::IdlePolicyUpdate;
use rollcall_core::{Context, Service};
use rollcall_store::SqlStore;
use sqlx::{Connection, SqliteConnection};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub async fn idle_benchmark(users: i64) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("idle.db").display());
    let store = SqlStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let service = Service::new(Arc::new(store)).with_audit_key(rollcall_core::audit::AuditKey::generate());
    let ctx = Context::cli();
    let now = service.system().now();
    let mut raw = SqliteConnection::connect(&url).await.unwrap();

    // Everyone created 400 days ago; one in 20 last signed in 200 days ago (idle), one in
    // 100 never signed in (idle), the rest within the last 60 days; one in 10 deactivated.
    eprintln!("filling {users} users …");
    let started = Instant::now();
    sqlx::query(
        "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < $1) \
         INSERT INTO users (username, username_key, email, email_key, first_name, last_name, user_type_id, status, \
             origin, created_at, updated_at, last_login_at, activity_at) \
         SELECT 'u' || i, 'u' || i, 'u' || i || '@example.org', 'u' || i || '@example.org', 'Bulk', 'User', 4, \
             CASE WHEN i % 10 = 3 THEN 'deactivated' ELSE 'active' END, 'cli', $2, $2, \
             CASE WHEN i % 100 = 7 THEN NULL WHEN i % 20 = 1 THEN $3 ELSE $4 - (i % 60) * $5 END, \
             CASE WHEN i % 100 = 7 THEN $2 WHEN i % 20 = 1 THEN $3 ELSE $4 - (i % 60) * $5 END \
         FROM seq",
    )
    .bind(users)
    .bind(now - 400 * DAY_MS)
    .bind(now - 200 * DAY_MS)
    .bind(now)
    .bind(DAY_MS)
    .execute(&mut raw)
    .await
    .unwrap();
    // The plan's counter as the service would have kept it.
    sqlx::query(
        "UPDATE plan SET seat_limit = 100000000, tier = 'enterprise', seats_used = (SELECT COUNT(*) FROM users WHERE status = 'active')",
    )
    .execute(&mut raw)
    .await
    .unwrap();
    sqlx::query("ANALYZE").execute(&mut raw).await.unwrap();
    eprintln!("filled in {:.1?}", started.elapsed());

    let upd = IdlePolicyUpdate {
        enabled: Some(true),
        idle_days: Some(90),
        never_signed_in_days: Some(30),
        warn_days: Some(7),
        max_share: Some(10),
        ..IdlePolicyUpdate::default()
    };
    service.set_idle_policy(&ctx, upd).await.unwrap();

    let runs = if users >= 500_000 { 3 } else { 10 };
    let signed = now - (90 - 7) * DAY_MS;
    let never = now - (30 - 7) * DAY_MS;
    let bare = "SELECT id, username FROM users WHERE status = 'active' AND idle_exempt = FALSE AND activity_at <= $1 \
         AND ((last_login_at IS NOT NULL AND activity_at <= $2) OR (last_login_at IS NULL AND activity_at <= $3))";
    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {bare}")))
        .bind(signed.max(never))
        .bind(signed)
        .bind(never)
        .fetch_all(&mut raw)
        .await
        .unwrap();
    eprintln!(
        "the bare query's plan: {:?}",
        plan.iter().map(|p| &p.3).collect::<Vec<_>>()
    );
    let mut found = 0;
    let mut baseline = Duration::ZERO;
    for _ in 0..runs {
        let start = Instant::now();
        let rows: Vec<(i64, String)> = sqlx::query_as(bare)
            .bind(signed.max(never))
            .bind(signed)
            .bind(never)
            .fetch_all(&mut raw)
            .await
            .unwrap();
        baseline += start.elapsed();
        found = rows.len();
    }
    let baseline = baseline / runs;
    let mut measured = Duration::ZERO;
    for _ in 0..runs {
        let start = Instant::now();
        let p = service.idle_preview(&ctx).await.unwrap();
        measured += start.elapsed();
        assert_eq!(
            p.warn.len() + p.deactivate.len(),
            found,
            "the preview finds what the query finds"
        );
    }
    let measured = measured / runs;
    report(
        &format!("idle preview at {users} users ({found} idle)"),
        measured,
        baseline,
    );
}
