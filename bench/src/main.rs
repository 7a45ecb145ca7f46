//! `cargo run --release -p rollcall-bench [-- USERS]`, or `-- saml` for the SAML part only, or
//! `-- idle [USERS]` for the idle policy's preview (bench/src/idle.rs; default 1,000,000 users),
//! or `-- http [USERS]` for rollcall over HTTP (bench/src/http.rs; default 1,000,000 users):
//! a generated directory (bench/src/directory.rs) imported through rollcall, served by
//! rollcall in a child process, driven by 16 keep-alive connections (bench/src/load.rs) —
//! req/s, p50 and p99 of health, SCIM and REST reads and SCIM writes, each as a ratio against
//! a bare axum hello world measured in the same run; on SQLite and, when
//! `ROLLCALL_BENCH_POSTGRES` answers, PostgreSQL (with two instances for the reads too); and
//! the import's rows/s, the server's start-up time and its resident memory
//!
//! Measures rollcall's hot paths on SQLite and prints each as a ratio against a raw-SQL
//! baseline run in the same process on the same machine, so the numbers mean something on
//! any hardware:
//! - creating a user through the service (validation, authorization, seat, audit, seal)
//!   against a bare `INSERT` in its own transaction;
//! - a filtered first page of the user list at USERS users (default 200,000) against the
//!   bare indexed `SELECT` it needs, to show the page cost does not grow with the table;
//! - a page half-way down the list sorted by name, and by last sign-in descending, and one
//!   deep inside the tie of everyone who never signed in, each reached by the previous
//!   page's cursor, against a bare indexed `SELECT` of the same rows;
//! - the seat check against the bare counter update;
//! - importing 100,000 CSV rows (no passwords) through the service, against inserting the
//!   same rows into an empty SQLite table with the users table's indexes;
//! - refusing a 256 KiB SAML response stuffed with signatures (the shape check, before any
//!   cryptography) against the full validation of a valid signed response.
#![allow(clippy::unwrap_used)] // test and benchmark support: a failure ends the run

pub mod directory;
mod http;
mod idle;
pub mod load;

use rollcall_core::domain::{UserCursor, UserOrder, UserStatus};
use rollcall_core::service::{NewUser, UserFilter};
use rollcall_core::{Context, Service};
use rollcall_store::SqlStore;
use sqlx::{Connection, SqliteConnection};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CREATES: usize = 300;

/// Mean time of `n` runs of `$body` (with `$i` the run number).
macro_rules! timed {
    ($n:expr, |$i:ident| $body:block) => {{
        let n: usize = $n;
        let start = Instant::now();
        for $i in 0..n {
            $body
        }
        start.elapsed() / n as u32
    }};
}

fn report(what: &str, measured: Duration, baseline: Duration) {
    let ratio = measured.as_secs_f64() / baseline.as_secs_f64();
    println!(
        "{what:<44} {:>10.1?} vs baseline {:>10.1?}   ratio {ratio:>6.2}",
        measured, baseline
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        // The child processes of the `http` mode.
        Some(http::SERVE) => return http::serve_child(&args[2..]).await,
        Some(http::HELLO) => return http::hello_child().await,
        Some("http") => {
            let users = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
            let postgres_users = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(users);
            return http::http_benchmark(users, postgres_users).await;
        }
        _ => {}
    }
    if std::env::args().nth(1).as_deref() == Some("saml") {
        saml_benchmark();
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("import") {
        let rows = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(100_000);
        import_benchmark(rows).await;
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("idle") {
        let users = std::env::args()
            .nth(2)
            .and_then(|a| a.parse().ok())
            .unwrap_or(1_000_000);
        idle::idle_benchmark(users).await;
        return;
    }
    let users: i64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = SqlStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let service = Service::new(Arc::new(store)).with_audit_key(rollcall_core::audit::AuditKey::generate());
    let ctx = Context::cli();
    service
        .set_plan(&ctx, rollcall_core::domain::PlanTier::Enterprise, Some(10_000_000))
        .await
        .unwrap();
    let mut raw = SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE baseline (id INTEGER PRIMARY KEY, username_key TEXT UNIQUE, email_key TEXT UNIQUE, status TEXT, last_login_at BIGINT)")
        .execute(&mut raw)
        .await
        .unwrap();

    // 1. Create one user.
    let baseline = timed!(CREATES, |i| {
        let mut tx = raw.begin().await.unwrap();
        sqlx::query("INSERT INTO baseline (username_key, email_key, status) VALUES ($1, $2, 'active')")
            .bind(format!("base{i}"))
            .bind(format!("base{i}@example.org"))
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    });
    let measured = timed!(CREATES, |i| {
        let input = NewUser {
            username: format!("user{i}"),
            email: format!("user{i}@example.org"),
            first_name: "Bench".into(),
            last_name: "Mark".into(),
            active: true,
            ..NewUser::default()
        };
        service.create_user(&ctx, input).await.unwrap();
    });
    report("create a user (service vs bare INSERT)", measured, baseline);

    // 2. Fill to `users` with bulk inserts, then list a filtered first page.
    eprintln!("filling to {users} users …");
    let mut tx = raw.begin().await.unwrap();
    for i in CREATES as i64..users {
        let login = if i % 3 == 0 { None } else { Some(1_700_000_000_000 + i) };
        sqlx::query(
            "INSERT INTO users (username, username_key, email, email_key, first_name, last_name, user_type_id, status, origin, \
             created_at, updated_at, last_login_at) VALUES ($1, $1, $2, $2, 'Bulk', $5, 4, $3, 'cli', 0, 0, $4)",
        )
        .bind(format!("bulk{i}"))
        .bind(format!("bulk{i}@example.org"))
        .bind(if i % 10 == 0 { "deactivated" } else { "active" })
        .bind(login)
        .bind(format!("User{}", i % 1000))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    // The sort keys rollcall writes (`User::name_key`, `login_key`), here for ASCII names.
    sqlx::query(
        "UPDATE users SET name_key = lower(last_name) || char(9) || lower(first_name) || char(9) || printf('%020d', id), \
         login_key = printf('%020d%020d', COALESCE(last_login_at, 0), id) WHERE name_key IS NULL",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    sqlx::query("ANALYZE").execute(&mut raw).await.unwrap();

    let filter = UserFilter {
        status: Some(UserStatus::Active),
        idle_days: Some(30),
        limit: Some(100),
        ..UserFilter::default()
    };
    let baseline = timed!(50, |_i| {
        sqlx::query("SELECT id FROM users WHERE status = 'active' AND (last_login_at IS NULL OR last_login_at < $1) ORDER BY id LIMIT 100")
                .bind(i64::MAX)
                .fetch_all(&mut raw)
                .await
                .unwrap();
    });
    let measured = timed!(50, |_i| {
        assert_eq!(service.list_users(&ctx, &filter).await.unwrap().items.len(), 100);
    });
    report(
        &format!("list an idle page of 100 at {users} users"),
        measured,
        baseline,
    );

    // A page deep in a sorted list costs what the first page does: the cursor seeks.
    // (A third of the users never signed in: a sixth of the way into `last_login` is deep
    // inside that one tie.)
    for (sort, depth) in [
        ("name", users / 2),
        ("-last_login", users / 2),
        ("last_login", users / 6),
    ] {
        let mut filter = UserFilter {
            sort: Some(sort.into()),
            limit: Some(100),
            ..UserFilter::default()
        };
        // Walk to the middle once, 500 at a time, keeping the cursor there.
        let mut walk = UserFilter {
            limit: Some(500),
            ..filter.clone()
        };
        for _ in 0..depth / 500 {
            walk.cursor = service.list_users(&ctx, &walk).await.unwrap().next_cursor;
        }
        filter.cursor = walk.cursor;
        // The bare query: the same index, seeking past the same stored key.
        let order = UserOrder::parse(sort).unwrap();
        let token = filter.cursor.clone().expect("a cursor half-way down");
        let after = UserCursor::decode(&token, order).unwrap().id;
        let (column, dir, beyond) = match sort {
            "name" => ("name_key", "ASC", ">"),
            "-last_login" => ("login_key", "DESC", "<"),
            _ => ("login_key", "ASC", ">"),
        };
        let (key,): (String,) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {column} FROM users WHERE id = $1")))
                .bind(after.0)
                .fetch_one(&mut raw)
                .await
                .unwrap();
        let bare = format!(
            "SELECT id FROM users WHERE status <> 'trash' AND {column} {beyond} $1 ORDER BY {column} {dir} LIMIT 100"
        );
        let baseline = timed!(50, |_i| {
            sqlx::query(sqlx::AssertSqlSafe(bare.clone()))
                .bind(&key)
                .fetch_all(&mut raw)
                .await
                .unwrap();
        });
        let measured = timed!(50, |_i| {
            assert_eq!(service.list_users(&ctx, &filter).await.unwrap().items.len(), 100);
        });
        report(&format!("a page {depth} deep sorted by {sort}"), measured, baseline);
    }

    // 3. The seat check and write: deactivate + activate (two seat moves) per round.
    let baseline = timed!(CREATES, |_i| {
        let mut tx = raw.begin().await.unwrap();
        sqlx::query("UPDATE plan SET seats_used = seats_used + 1 WHERE id = 1 AND seats_used + 1 <= seat_limit")
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query("UPDATE plan SET seats_used = seats_used - 1 WHERE id = 1")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    });
    let measured = timed!(CREATES / 2, |i| {
        let key = rollcall_core::service::UserKey::from(format!("user{i}").as_str());
        service.deactivate_user(&ctx, &key).await.unwrap();
        service.activate_user(&ctx, &key).await.unwrap();
    });
    report("deactivate + activate (service vs bare seat moves)", measured, baseline);

    import_benchmark(100_000).await;
    saml_benchmark();
}

/// The price of a refusal that must be cheap: a response stuffed with copies of a
/// signature that would verify, refused by the shape check, against the full validation
/// (signature included) of a valid response — the work an honest sign-in costs.
fn saml_benchmark() {
    use rollcall_saml::response::{Expected, MAX_RESPONSE, validate};
    use rollcall_saml::test_idp::{ResponseSpec, TestIdp};
    const RUNS: usize = 200;
    let sp = "https://lms.example.org/saml/metadata";
    let acs = "https://lms.example.org/saml/acs";
    let now = chrono::Utc::now();
    let idp = TestIdp::new();
    let valid = idp.response(&ResponseSpec::new(&idp, sp, acs, "ada@example.org", now));
    let end = valid.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let signature = &valid[valid.find("<ds:Signature").unwrap()..end];
    let copies = (MAX_RESPONSE - valid.len()) / signature.len();
    let stuffed = format!("{}{}{}", &valid[..end], signature.repeat(copies), &valid[end..]);
    let certs = [idp.cert_b64()];
    let expected = Expected {
        idp_entity_id: &idp.entity_id,
        signing_certs: &certs,
        sp_entity_id: sp,
        acs_url: acs,
        now,
    };
    let baseline = timed!(RUNS, |_i| {
        validate(&valid, &expected).expect("the valid response validates");
    });
    let measured = timed!(RUNS, |_i| {
        let refusal = validate(&stuffed, &expected).unwrap_err();
        assert!(refusal.0.contains("shape check"), "{refusal}");
    });
    report(
        &format!(
            "refuse {} KiB stuffed SAML ({copies} sigs) vs valid",
            stuffed.len() / 1024
        ),
        measured,
        baseline,
    );
}

/// Rows per second: the service's CSV import against bare inserts with the same indexes.
async fn import_benchmark(rows: usize) {
    let rows_total = rows;
    #[allow(non_snake_case)]
    let ROWS = rows_total;
    let mut csv = String::from("username,email,first_name,last_name\n");
    for i in 0..ROWS {
        csv.push_str(&format!("imp{i:06},imp{i:06}@example.org,First{i},Last{i}\n"));
    }

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("raw.db").display());
    let store = SqlStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    drop(store);
    let mut raw = SqliteConnection::connect(&url).await.unwrap();
    let start = Instant::now();
    let mut tx = raw.begin().await.unwrap();
    for i in 0..ROWS {
        sqlx::query(
            "INSERT INTO users (username, username_key, email, email_key, first_name, last_name, user_type_id, status, origin, \
             created_at, updated_at) VALUES ($1, $1, $2, $2, $3, $4, 4, 'active', 'csv', 0, 0)",
        )
        .bind(format!("imp{i:06}"))
        .bind(format!("imp{i:06}@example.org"))
        .bind(format!("First{i}"))
        .bind(format!("Last{i}"))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let raw_rate = ROWS as f64 / start.elapsed().as_secs_f64();
    // The raw rows with the users table's indexes: the file, checkpointed (the empty schema's other tables included).
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut raw)
        .await
        .unwrap();
    let raw_dir_size = std::fs::metadata(dir.path().join("raw.db")).map_or(0, |m| m.len());

    let dir = tempfile::tempdir().unwrap();
    let import_rate = ROWS as f64 / import_into(&dir, "import.db", csv, ROWS).await.as_secs_f64();
    println!(
        "import {ROWS} CSV rows, no passwords              {import_rate:>8.0} rows/s vs raw inserts {raw_rate:>8.0} rows/s   ratio {:>6.2}",
        raw_rate / import_rate
    );
    drop(raw);
    let size = |dir: &tempfile::TempDir, name: &str| -> u64 {
        ["", "-wal"]
            .iter()
            .map(|suffix| std::fs::metadata(dir.path().join(format!("{name}{suffix}"))).map_or(0, |m| m.len()))
            .sum()
    };
    let (ours, raw_bytes) = (size(&dir, "import.db"), raw_dir_size);
    println!(
        "database after the import: {:.1} MiB ({} bytes a user, WAL included) vs the raw table with its indexes {:.1} MiB   ratio {:>6.2}",
        ours as f64 / 1048576.0,
        ours / ROWS as u64,
        raw_bytes as f64 / 1048576.0,
        ours as f64 / raw_bytes as f64
    );
    import_with_passwords(rows.min(2_000)).await;
}

/// Imports `csv` (of `rows` new users, no welcome mail) through the service into a fresh
/// SQLite database `name` in `dir`; returns how long the import took.
async fn import_into(dir: &tempfile::TempDir, name: &str, csv: String, rows: usize) -> std::time::Duration {
    let url = format!("sqlite://{}", dir.path().join(name).display());
    let store = SqlStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let service = Service::new(Arc::new(store)).with_audit_key(rollcall_core::audit::AuditKey::generate());
    let ctx = Context::cli();
    service
        .set_plan(&ctx, rollcall_core::domain::PlanTier::Enterprise, Some(10_000_000))
        .await
        .unwrap();
    let bytes = csv.into_bytes();
    let mut source =
        || -> rollcall_core::Result<Box<dyn Iterator<Item = rollcall_core::service::Parsed> + Send + '_>> {
            Ok(Box::new(rollcall_csv::read(&bytes[..]).unwrap()))
        };
    let opts = rollcall_core::service::ImportOptions {
        send_welcome: Some(false),
        ..Default::default()
    };
    let start = Instant::now();
    let summary = service
        .import_users(&ctx, &mut source, opts, &mut |_| {})
        .await
        .unwrap();
    let took = start.elapsed();
    assert_eq!(summary.created, rows as u64);
    took
}

/// The import of rows with passwords against hashing the same passwords on every core with
/// nothing else: what a password-bound import can at best be.
async fn import_with_passwords(rows: usize) {
    let password = |i: usize| format!("Bench-{i:06}-passphrase");
    let mut csv = String::from("username,email,first_name,last_name,password\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "pw{i:06},pw{i:06}@example.org,First{i},Last{i},{}\n",
            password(i)
        ));
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let start = Instant::now();
    std::thread::scope(|scope| {
        for core in 0..cores {
            scope.spawn(move || {
                for i in (core..rows).step_by(cores) {
                    rollcall_core::password::hash(&password(i)).unwrap();
                }
            });
        }
    });
    let hashing = start.elapsed();

    let dir = tempfile::tempdir().unwrap();
    let import = import_into(&dir, "passwords.db", csv, rows).await;
    println!(
        "import {rows} CSV rows with passwords            {import:>8.2?} vs hashing them on {cores} cores {hashing:>8.2?}   ratio {:>6.2}",
        import.as_secs_f64() / hashing.as_secs_f64()
    );
}
