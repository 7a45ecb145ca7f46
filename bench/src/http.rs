//! `cargo run --release -p rollcall-bench -- http [USERS] [POSTGRES_USERS]` (default
//! 1,000,000 on both; a smaller USERS, e.g. 20000, for a quick check; POSTGRES_USERS for a
//! smaller directory on PostgreSQL, whose import through rollcall is the slower part)
//!
//! rollcall over HTTP, as a client sees it: a generated directory of USERS users
//! (bench/src/directory.rs) loaded through rollcall's import, served by rollcall in a child
//! process built as `rollcall serve` builds it, driven by 16 keep-alive connections
//! (bench/src/load.rs). Each scenario's req/s is printed as a ratio against the ceiling
//! measured in the same run on the same machine: a bare axum hello-world route, no
//! middleware, also in a child process. Then the same on PostgreSQL when
//! `ROLLCALL_BENCH_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`) answers —
//! in a fresh database `rollcall_bench_<pid>` created and dropped on that server — plus two
//! rollcall instances on the one database, the driver's connections split over both.
//!
//! Also printed: the import's rows/s, the server's start-up time (spawn to the first
//! successful `/healthz`) and its resident memory (VmRSS) at rest and after the loads.

use crate::directory::{self, Directory, Rng};
use crate::load::{self, MakeReq, Req, Shape, Stats, pct};
use hyper::Method;
use rollcall_core::Context;
use rollcall_core::domain::{PlanTier, TokenScope};
use rollcall_core::service::UserKey;
use rollcall_server::app::{KeyCheck, open_service};
use rollcall_server::config::{Config, Flags};
use sqlx::Connection;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;

/// The hidden argument the bench re-executes itself with to run rollcall.
pub const SERVE: &str = "__serve";
/// The hidden argument for the ceiling: a bare axum hello world.
pub const HELLO: &str = "__hello";

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
const ADMIN_PASSWORD: &str = "bench-Admin-passw0rd-7c1f";
/// Users linked to SCIM by a SCIM POST of their existing account, for the SCIM lookups
/// and PATCHes (each distinct, until the sample runs out).
const SCIM_SAMPLE: usize = 20_000;

// ---------------------------------------------------------------------------------------
// The child processes.

/// `__serve DATABASE_URL AUDIT_KEY_FILE`: rollcall as `rollcall serve` runs it (the same
/// configuration loading, log subscriber, App and graceful shutdown), on a free port,
/// announcing `listening on http://ADDR` on stdout.
pub async fn serve_child(args: &[String]) {
    let flags = Flags {
        database: args.first().cloned(),
        listen: Some("127.0.0.1:0".into()),
        audit_key_file: args.get(1).cloned(),
        ..Flags::default()
    };
    let config = Config::load(flags).unwrap();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&config.log).unwrap())
        .with_writer(std::io::stderr)
        .init();
    let app = rollcall_server::App::build(config).await.unwrap();
    let shutdown = rollcall_server::shutdown_signal().unwrap();
    announce(app.local_addr().unwrap());
    app.serve(shutdown).await.unwrap();
}

/// `__hello`: one route, no middleware — what axum and the machine can do at best.
pub async fn hello_child() {
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello\n" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    announce(listener.local_addr().unwrap());
    axum::serve(listener, app).await.unwrap();
}

fn announce(addr: SocketAddr) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{addr}").unwrap();
    out.flush().unwrap();
}

/// A server in a child process.
struct Server {
    child: tokio::process::Child,
    addr: SocketAddr,
    pid: u32,
    /// Spawn to the first successful answer at `ready_path`.
    startup: Duration,
    // Kept open: the child's stdout.
    _stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Server {
    async fn spawn(args: &[&str], log: &Path, ready_path: &str) -> Server {
        let started = Instant::now();
        let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(300), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("{args:?} announced no address within 300 s; see {}", log.display()))
            .unwrap()
            .unwrap_or_else(|| panic!("{args:?} exited before listening; see {}", log.display()));
        let addr: SocketAddr = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from {args:?}: {line}"));
        loop {
            if let Ok(mut c) = load::Conn::open(addr).await
                && let Ok((200, _)) = c.send(&Req::get(ready_path), None).await
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Server {
            child,
            addr,
            pid,
            startup: started.elapsed(),
            _stdout: lines,
        }
    }

    /// Resident memory now, from /proc.
    fn rss(&self) -> String {
        rss_of(self.pid)
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A `/proc/PID/status` figure in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix(field)).and_then(|v| {
                v.trim_start_matches(':')
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}

/// The whole-directory reads, streamed by the server: the export and the idle report, each
/// timed to its last byte and against the bare query of the same rows in the same run;
/// with the server's peak memory before and after (VmHWM).
async fn report_scenarios(backend: &str, server: &Server, url: &str, token: &str) {
    let idle_before = chrono::Utc::now().timestamp_millis() - 90 * 86_400_000;
    let idle_sql = format!(
        "SELECT u.username, u.email, u.first_name, u.last_name, t.name, u.last_login_at FROM users u \
         JOIN user_types t ON t.id = u.user_type_id WHERE u.status = 'active' \
         AND (u.last_login_at IS NULL OR u.last_login_at < {idle_before}) ORDER BY u.id"
    );
    for (name, path, raw_sql) in [
        (
            "export users (CSV, everyone)",
            "/api/v1/users/export.csv",
            "SELECT u.username, u.email, u.first_name, u.last_name, t.name, u.status FROM users u \
             JOIN user_types t ON t.id = u.user_type_id WHERE u.status <> 'trash' ORDER BY u.id",
        ),
        (
            "report idle --days 90 (JSON)",
            "/api/v1/reports/idle?days=90",
            idle_sql.as_str(),
        ),
    ] {
        let peak_before = status_kib(server.pid, "VmHWM");
        let mut conn = load::Conn::open(server.addr).await.unwrap();
        let started = Instant::now();
        let (status, body) = conn.send(&Req::get(path), Some(token)).await.unwrap();
        let took = started.elapsed();
        assert_eq!(
            status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
        let peak_after = status_kib(server.pid, "VmHWM");
        let started = Instant::now();
        let rows = bare_rows(url, raw_sql).await;
        let bare = started.elapsed();
        println!(
            "  [{backend}] {name:<34} {took:>9.2?} ({} MiB) vs the bare query of its {rows} rows {bare:>9.2?}   ratio {:>5.2}; server peak memory {} → {} MiB",
            body.len() / 1048576,
            took.as_secs_f64() / bare.as_secs_f64(),
            peak_before / 1024,
            peak_after / 1024
        );
    }
}

/// Reads every row `sql` selects, one at a time as a stream, on a connection of its own.
async fn bare_rows(url: &str, sql: &str) -> u64 {
    use futures_util::TryStreamExt;
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    let mut n = 0u64;
    if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        let mut rows = sqlx::query(sql).fetch(&mut c);
        while rows.try_next().await.unwrap().is_some() {
            n += 1;
        }
    } else {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        let mut rows = sqlx::query(sql).fetch(&mut c);
        while rows.try_next().await.unwrap().is_some() {
            n += 1;
        }
    }
    n
}

fn rss_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or_else(|| "?".into(), |kib| format!("{:.1} MiB", kib as f64 / 1024.0))
}

// ---------------------------------------------------------------------------------------
// The database, the directory and the tokens, made before the server starts.

struct Prepared {
    directory: Directory,
    api_token: String,
    scim_token: String,
    key_file: PathBuf,
}

async fn prepare(url: &str, work: &Path, users: usize) -> Prepared {
    let mut config = Config::for_database(url);
    config.audit_key_file = work.join("audit-key");
    let service = open_service(&config, KeyCheck::Refuse).await.unwrap();
    let ctx = Context::cli();
    service
        .set_plan(&ctx, PlanTier::Enterprise, Some(10_000_000))
        .await
        .unwrap();
    let (admin, _) = service
        .system()
        .ensure_first_admin(Some(ADMIN_PASSWORD.into()), None)
        .await
        .unwrap()
        .expect("a new database has no administrator");
    // SCIM may link the imported accounts (a SCIM POST of an existing userName), as an
    // installation that imported its directory before turning on provisioning does.
    service.set_setting(&ctx, "scim_link_existing", "on").await.unwrap();
    let api_token = service
        .create_token(
            &ctx,
            "bench-api",
            TokenScope::Api,
            Some(&UserKey::from(admin.as_str())),
            None,
        )
        .await
        .unwrap()
        .token;
    let scim_token = service
        .create_token(&ctx, "bench-scim", TokenScope::Scim, None, None)
        .await
        .unwrap()
        .token;
    eprintln!("generating and importing {users} users …");
    let directory = directory::generate(&service, url, work, users).await;
    println!(
        "  imported {users} users ({} enrollments) in {:.1?}: {:.0} rows/s; last sign-ins skewed by SQL in {:.1?}",
        directory.enrollments,
        directory.import_time,
        directory.rows_per_second(),
        directory.sign_in_time
    );
    Prepared {
        directory,
        api_token,
        scim_token,
        key_file: config.audit_key_file.clone(),
    }
}

/// The SCIM body of a directory user, as Okta sends it (userName, name, work email,
/// externalId; Entra's department names the branch).
fn scim_body(u: &directory::DirUser, external_id: &str, password: bool) -> String {
    let mut v = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": u.username,
        "name": {"givenName": u.first_name, "familyName": u.last_name},
        "emails": [{"primary": true, "value": u.email, "type": "work"}],
        "displayName": format!("{} {}", u.first_name, u.last_name),
        "locale": "en-US",
        "externalId": external_id,
        "groups": [],
        "active": true,
    });
    if password {
        v["password"] = "t3mp-Passw0rd-x91".into();
    }
    v.to_string()
}

/// Links up to [`SCIM_SAMPLE`] active learners to SCIM (a SCIM POST of each existing
/// account, 16 at a time); returns (id, userName) of each.
async fn link_sample(addr: SocketAddr, prepared: &Prepared) -> Vec<(i64, String)> {
    let learners: Vec<&directory::DirUser> = prepared
        .directory
        .users
        .iter()
        .filter(|u| u.active && u.user_type == "learner")
        .collect();
    let step = learners.len().div_ceil(SCIM_SAMPLE).max(1);
    let chosen: Arc<Vec<(String, String)>> = Arc::new(
        learners
            .iter()
            .step_by(step)
            .take(SCIM_SAMPLE)
            .map(|u| {
                let mut body: serde_json::Value =
                    serde_json::from_str(&scim_body(u, &format!("okta-{}", u.username), false)).unwrap();
                body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] =
                    serde_json::json!({"department": u.branch});
                body["schemas"]
                    .as_array_mut()
                    .unwrap()
                    .push("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into());
                (u.username.clone(), body.to_string())
            })
            .collect(),
    );
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = vec![];
    for _ in 0..16 {
        let chosen = chosen.clone();
        let next = next.clone();
        let token = prepared.scim_token.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = load::Conn::open(addr).await.unwrap();
            let mut out = vec![];
            let mut failures = vec![];
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((name, body)) = chosen.get(i) else { break };
                let req = Req::with_body(Method::POST, "/scim/v2/Users", body.clone());
                let (status, answer) = conn.send(&req, Some(&token)).await.unwrap();
                let v: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
                match v["id"].as_str().and_then(|id| id.parse::<i64>().ok()) {
                    Some(id) if status < 300 => out.push((id, name.clone())),
                    _ => failures.push(format!("{status}: {}", String::from_utf8_lossy(&answer))),
                }
            }
            (out, failures)
        }));
    }
    let mut linked = vec![];
    let mut failures = vec![];
    for t in tasks {
        let (ok, bad) = t.await.unwrap();
        linked.extend(ok);
        failures.extend(bad);
    }
    let took = started.elapsed();
    println!(
        "  linked {} existing users to SCIM (SCIM POST, 16 connections) in {took:.1?}: {:.0}/s{}",
        linked.len(),
        linked.len() as f64 / took.as_secs_f64(),
        if failures.is_empty() {
            String::new()
        } else {
            format!("; {} FAILED, e.g. {}", failures.len(), failures[0])
        }
    );
    linked.sort();
    linked
}

// ---------------------------------------------------------------------------------------
// The scenarios.

/// A pseudo-random index below `len` for the `n`-th request.
fn pick(n: u64, len: usize) -> usize {
    Rng::new(n ^ 0xA5A5_5A5A).below(len)
}

struct Scenario {
    name: &'static str,
    auth: Auth,
    make: MakeReq,
}

#[derive(Clone, Copy)]
enum Auth {
    None,
    Api,
    Scim,
}

/// The read scenarios; the ones marked `true` also run on two instances.
fn read_scenarios(sample: &Arc<Vec<(i64, String)>>, dir: &Directory) -> Vec<(Scenario, bool)> {
    let s = sample.clone();
    let scim_filter: MakeReq = Arc::new(move |n| {
        let name = &s[pick(n, s.len())].1;
        Req::get(format!(
            "/scim/v2/Users?filter={}",
            pct(&format!("userName eq \"{name}\""))
        ))
    });
    let s = sample.clone();
    let scim_get: MakeReq = Arc::new(move |n| Req::get(format!("/scim/v2/Users/{}", s[pick(n, s.len())].0)));
    let rest_filter: MakeReq = Arc::new(|_| Req::get("/api/v1/users?status=active&user_type=instructor"));
    let branches = Arc::new(dir.branches.clone());
    let rest_branch: MakeReq = Arc::new(move |n| {
        Req::get(format!(
            "/api/v1/users?status=active&branch={}",
            pct(&branches[pick(n, branches.len())])
        ))
    });
    let names = Arc::new(dir.last_names.clone());
    let rest_q: MakeReq = Arc::new(move |n| {
        Req::get(format!(
            "/api/v1/users?q={}",
            pct(&names[pick(n, names.len())].to_lowercase())
        ))
    });
    let s = sample.clone();
    let rest_get: MakeReq = Arc::new(move |n| Req::get(format!("/api/v1/users/{}", s[pick(n, s.len())].0)));
    let healthz: MakeReq = Arc::new(|_| Req::get("/healthz"));
    vec![
        (
            Scenario {
                name: "rollcall /healthz (full middleware)",
                auth: Auth::None,
                make: healthz,
            },
            false,
        ),
        (
            Scenario {
                name: "SCIM GET Users?filter=userName eq",
                auth: Auth::Scim,
                make: scim_filter,
            },
            true,
        ),
        (
            Scenario {
                name: "SCIM GET Users/{id}",
                auth: Auth::Scim,
                make: scim_get,
            },
            true,
        ),
        (
            Scenario {
                name: "REST users?status=active&user_type=…",
                auth: Auth::Api,
                make: rest_filter,
            },
            true,
        ),
        (
            Scenario {
                name: "REST users?status=active&branch=…",
                auth: Auth::Api,
                make: rest_branch,
            },
            false,
        ),
        (
            Scenario {
                name: "REST users?q=<last name>",
                auth: Auth::Api,
                make: rest_q,
            },
            false,
        ),
        (
            Scenario {
                name: "REST users/{id}",
                auth: Auth::Api,
                make: rest_get,
            },
            true,
        ),
    ]
}

fn write_scenarios(sample: &Arc<Vec<(i64, String)>>, dir: &Directory) -> Vec<Scenario> {
    let model = Arc::new(dir.users[0].clone());
    let post = |password: bool, prefix: &'static str| -> MakeReq {
        let model = model.clone();
        Arc::new(move |n| {
            let mut u = (*model).clone();
            u.username = format!("{prefix}.{n}@okta.example.org");
            u.email = u.username.clone();
            Req::with_body(
                Method::POST,
                "/scim/v2/Users",
                scim_body(&u, &format!("00u{prefix}{n:012}"), password),
            )
        })
    };
    let s = sample.clone();
    let patch: MakeReq = Arc::new(move |n| {
        // Distinct users while the sample lasts (the count used is reported).
        let id = s[n as usize % s.len()].0;
        Req::with_body(
            Method::PATCH,
            format!("/scim/v2/Users/{id}"),
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}"#,
        )
    });
    vec![
        Scenario {
            name: "SCIM POST Users (Okta body, no password)",
            auth: Auth::Scim,
            make: post(false, "new"),
        },
        Scenario {
            name: "SCIM POST Users (Okta body, password)",
            auth: Auth::Scim,
            make: post(true, "newpw"),
        },
        Scenario {
            name: "SCIM PATCH Users/{id} active=false",
            auth: Auth::Scim,
            make: patch,
        },
    ]
}

/// One column of the table: a backend's results by scenario name.
#[derive(Default)]
struct Column {
    ceiling: Option<Stats>,
    results: Vec<(&'static str, Stats)>,
}

fn progress(backend: &str, name: &str, s: &Stats) {
    eprintln!(
        "  [{backend}] {name:<42} {:>9.0} req/s  p50 {:>9.2?}  p99 {:>9.2?}{}",
        s.rps,
        s.p50,
        s.p99,
        if s.error_count() > 0 {
            format!("  ERRORS {:?} transport {}", s.errors, s.transport_errors)
        } else {
            String::new()
        }
    );
}

/// Everything on one backend: prepare, serve, link, run each scenario against the ceiling.
async fn run_backend(backend: &'static str, url: &str, users: usize, shape: Shape, two_instances: bool) -> Column {
    println!("\n== {backend} ==");
    let work = tempfile::tempdir().unwrap();
    let prepared = prepare(url, work.path(), users).await;
    let mut column = Column::default();

    let hello = Server::spawn(&[HELLO], &work.path().join("hello.log"), "/").await;
    let ceiling = load::run(&[hello.addr], shape, None, Arc::new(|_| Req::get("/"))).await;
    progress(backend, "bare axum hello (ceiling)", &ceiling);
    hello.stop().await;
    column.ceiling = Some(ceiling);

    let key = prepared.key_file.to_string_lossy().into_owned();
    let serve_args = [SERVE, url, key.as_str()];
    let server = Server::spawn(&serve_args, &work.path().join("rollcall.log"), "/healthz").await;
    println!(
        "  rollcall child: start-up {:.1?} (spawn to first /healthz), RSS at rest {}",
        server.startup,
        server.rss()
    );
    let sample = Arc::new(link_sample(server.addr, &prepared).await);
    assert!(!sample.is_empty(), "no user could be linked to SCIM");
    let token = |a: Auth| match a {
        Auth::None => None,
        Auth::Api => Some(prepared.api_token.clone()),
        Auth::Scim => Some(prepared.scim_token.clone()),
    };
    let reads = read_scenarios(&sample, &prepared.directory);
    for (s, _) in &reads {
        let stats = load::run(&[server.addr], shape, token(s.auth).as_deref(), s.make.clone()).await;
        progress(backend, s.name, &stats);
        column.results.push((s.name, stats));
    }
    println!("  RSS after the reads: {}", server.rss());
    report_scenarios(backend, &server, url, &prepared.api_token).await;

    if two_instances {
        let second = Server::spawn(&serve_args, &work.path().join("rollcall-2.log"), "/healthz").await;
        println!(
            "  second rollcall instance: start-up {:.1?}, RSS at rest {}",
            second.startup,
            second.rss()
        );
        println!("\n  two instances on one {backend} (16 connections split over both):");
        println!(
            "  {:<42} {:>10} {:>10} {:>10} {:>10}",
            "scenario", "req/s", "p50", "p99", "two/one"
        );
        for (s, _) in reads.iter().filter(|(_, both)| *both) {
            let stats = load::run(
                &[server.addr, second.addr],
                shape,
                token(s.auth).as_deref(),
                s.make.clone(),
            )
            .await;
            let one = column
                .results
                .iter()
                .find(|(n, _)| *n == s.name)
                .map_or(f64::NAN, |r| r.1.rps);
            println!(
                "  {:<42} {:>10.0} {:>10.2?} {:>10.2?} {:>10.2}{}",
                s.name,
                stats.rps,
                stats.p50,
                stats.p99,
                stats.rps / one,
                errors_note(&stats)
            );
        }
        println!(
            "  RSS after the two-instance reads: {} and {}",
            server.rss(),
            second.rss()
        );
        second.stop().await;
    }

    for s in write_scenarios(&sample, &prepared.directory) {
        let stats = load::run(&[server.addr], shape, token(s.auth).as_deref(), s.make.clone()).await;
        progress(backend, s.name, &stats);
        if s.name.contains("PATCH") && stats.issued > sample.len() as u64 {
            println!(
                "  note: PATCH sent {} requests over {} linked users: later ones repeat users",
                stats.issued,
                sample.len()
            );
        }
        println!("  RSS after {}: {}", s.name, server.rss());
        column.results.push((s.name, stats));
    }
    server.stop().await;
    column
}

fn errors_note(s: &Stats) -> String {
    if s.error_count() == 0 {
        return String::new();
    }
    let mut parts: Vec<String> = s.errors.iter().map(|(k, v)| format!("{v}×{k}")).collect();
    if s.transport_errors > 0 {
        parts.push(format!("{}×transport", s.transport_errors));
    }
    format!("  ERRORS {}", parts.join(" "))
}

fn cell(s: Option<&Stats>, ceiling: Option<&Stats>) -> String {
    match s {
        None => format!("{:>9} {:>9} {:>9} {:>6}", "-", "-", "-", "-"),
        Some(s) => {
            let ratio = ceiling.map_or(f64::NAN, |c| s.rps / c.rps);
            format!("{:>9.0} {:>9} {:>9} {:>6.3}", s.rps, short(s.p50), short(s.p99), ratio)
        }
    }
}

fn short(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{}µs", d.as_micros())
    } else if d < Duration::from_secs(1) {
        format!("{:.2}ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

/// Creates `rollcall_bench_<pid>` on the PostgreSQL server at `admin_url`; returns its URL.
async fn create_postgres(admin_url: &str) -> Result<(String, String), String> {
    let connect = sqlx::PgConnection::connect(admin_url);
    let mut c = tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .map_err(|_| "no answer within 5 s".to_string())?
        .map_err(|e| e.to_string())?;
    let name = format!("rollcall_bench_{}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut c)
        .await
        .map_err(|e| e.to_string())?;
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin_url, String::new()),
    };
    let prefix = match base.rfind('/') {
        Some(i) if i > base.find("://").map_or(0, |j| j + 2) => &base[..i],
        _ => base,
    };
    Ok((format!("{prefix}/{name}{query}"), name))
}

async fn drop_postgres(admin_url: &str, name: &str) {
    match sqlx::PgConnection::connect(admin_url).await {
        Ok(mut c) => {
            if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut c)
            .await
            {
                eprintln!("could not drop {name}: {e}");
            }
        }
        Err(e) => eprintln!("could not drop {name}: {e}"),
    }
}

pub async fn http_benchmark(users: usize, postgres_users: usize) {
    let shape = Shape::default();
    println!(
        "http: {users} users on SQLite, {postgres_users} on PostgreSQL, {} connections, {:?} warm-up then {:?} measured per scenario; ratio = req/s against the ceiling of the same column",
        shape.connections, shape.warmup, shape.measure
    );
    let sqlite_dir = tempfile::tempdir().unwrap();
    let sqlite_url = format!("sqlite://{}", sqlite_dir.path().join("bench.db").display());
    let sqlite = run_backend("sqlite", &sqlite_url, users, shape, false).await;

    let admin_url = std::env::var("ROLLCALL_BENCH_POSTGRES").unwrap_or_else(|_| DEFAULT_POSTGRES.into());
    let postgres = match create_postgres(&admin_url).await {
        Ok((url, name)) => {
            // Dropped even when a scenario panics: the run has a thread and runtime of its own.
            let run = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(run_backend("postgres", &url, postgres_users, shape, true))
            })
            .join();
            drop_postgres(&admin_url, &name).await;
            match run {
                Ok(column) => Some(column),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Err(e) => {
            println!("\nPostgreSQL at {admin_url} is not reachable ({e}): skipping the PostgreSQL column");
            None
        }
    };

    println!("\n{:<42} | {:^36} | {:^36}", "", "sqlite", "postgres");
    println!(
        "{:<42} | {:>9} {:>9} {:>9} {:>6} | {:>9} {:>9} {:>9} {:>6}",
        "scenario", "req/s", "p50", "p99", "ratio", "req/s", "p50", "p99", "ratio"
    );
    let pg_ceiling = postgres.as_ref().and_then(|p| p.ceiling.as_ref());
    println!(
        "{:<42} | {} | {}",
        "bare axum hello (ceiling)",
        cell(sqlite.ceiling.as_ref(), sqlite.ceiling.as_ref()),
        cell(pg_ceiling, pg_ceiling)
    );
    for (name, s) in &sqlite.results {
        let pg = postgres
            .as_ref()
            .and_then(|p| p.results.iter().find(|(n, _)| n == name).map(|r| &r.1));
        println!(
            "{name:<42} | {} | {}",
            cell(Some(s), sqlite.ceiling.as_ref()),
            cell(pg, pg_ceiling)
        );
    }
    let mut any = false;
    for (backend, column) in [("sqlite", Some(&sqlite)), ("postgres", postgres.as_ref())] {
        for (name, s) in column.map(|c| c.results.as_slice()).unwrap_or_default() {
            if s.error_count() > 0 {
                if !any {
                    println!("\nerrors:");
                    any = true;
                }
                println!("  [{backend}] {name}:{}", errors_note(s));
                for sample in &s.samples {
                    println!("      {sample}");
                }
            }
        }
    }
}
