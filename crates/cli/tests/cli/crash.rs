//! `kill -9` at random moments: of `rollcall serve` under a stream of SCIM creates, and of
//! `rollcall import`. After a restart the database is intact, every create that was
//! answered 2xx is there, the seat counter is the number of active accounts, an import is
//! all or nothing, and the audit chain verifies.

use super::serve::until_listening;
use super::*;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// The checks every crash must pass: SQLite's integrity check, the seat counter against
/// the active accounts, the audit chain. Returns the usernames there are.
async fn after_the_crash(rc: &Rollcall) -> Vec<String> {
    if rc.db.url.starts_with("sqlite:") {
        assert_eq!(rc.db.fetch_text("PRAGMA integrity_check").await.as_deref(), Some("ok"));
    }
    let verified = rc.run(&["audit", "verify"]).await;
    assert!(
        verified.status.success(),
        "audit verify after the crash: {}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let users: Vec<Value> = serde_json::from_str(&rc.ok(&["user", "list", "--format", "json"]).await).unwrap();
    let active = users.iter().filter(|u| u["status"] == "active").count();
    let seats: Value = serde_json::from_str(&rc.ok(&["report", "seats", "--format", "json"]).await).unwrap();
    // An import killed while writing still holds the seats it reserved for the rows it
    // didn't write, until its lease lapses (minutes) and the minute job gives them back.
    let reserved: i64 = rc
        .db
        .fetch_text("SELECT CAST(COALESCE(SUM(seats), 0) AS TEXT) FROM seat_reservations")
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        seats["used"],
        json!(active as i64 + reserved),
        "the seat counter is the active accounts and the seats still reserved"
    );
    users
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect()
}

both_backends!(
    serve_killed_under_scim_creates_keeps_every_acknowledged_one,
    |db: TestDb| async move {
        let rc = Rollcall::new(db);
        let mut command = rc.command(&["serve", "--listen", "127.0.0.1:0"]);
        command
            .env("ROLLCALL_LOG", "warn")
            .env("ROLLCALL_ADMIN_PASSWORD", "a long first passphrase");
        let (mut server, _stderr, _, addr) = until_listening(command).await;
        let token = rc
            .ok(&["token", "create", "--name", "idp", "--scope", "scim"])
            .await
            .trim()
            .to_owned();
        let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
        let http = reqwest::Client::new();
        let workers: Vec<_> = (0..8)
            .map(|w| {
                let (http, token, acknowledged, base) = (
                    http.clone(),
                    token.clone(),
                    acknowledged.clone(),
                    format!("http://{addr}"),
                );
                tokio::spawn(async move {
                    for n in 0.. {
                        let name = format!("w{w}n{n:04}");
                        let body = json!({
                            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                            "userName": name,
                            "name": {"givenName": "W", "familyName": name},
                            "emails": [{"value": format!("{name}@example.org"), "primary": true}],
                            "active": true
                        });
                        let sent = http
                            .post(format!("{base}/scim/v2/Users"))
                            .bearer_auth(&token)
                            .header("content-type", "application/scim+json")
                            .body(body.to_string())
                            .send()
                            .await;
                        match sent {
                            Ok(r) if r.status() == 201 => acknowledged.lock().unwrap().push(name),
                            Ok(r) => panic!("{name}: {}", r.status()),
                            // The server is gone.
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect();
        // Killed at a random point after the stream is well under way.
        let at = rand::random_range(20..80);
        let deadline = Deadline::after(std::time::Duration::from_secs(60), "creates to be acknowledged");
        while acknowledged.lock().unwrap().len() < at {
            deadline.check();
            tokio::task::yield_now().await;
        }
        server.start_kill().unwrap();
        server.wait().await.unwrap();
        for w in workers {
            w.await.unwrap();
        }
        let there = after_the_crash(&rc).await;
        let acknowledged = acknowledged.lock().unwrap().clone();
        assert!(acknowledged.len() >= at);
        for name in &acknowledged {
            assert!(there.contains(name), "{name} was answered 201 but is gone");
        }
        // And the server starts again on what the crash left.
        let (_again, _, _, _) = until_listening(rc.command(&["serve", "--listen", "127.0.0.1:0"])).await;
    }
);

both_backends!(
    import_killed_at_random_moments_is_all_or_nothing,
    |db: TestDb| async move {
        let rc = Rollcall::new(db);
        rc.ok(&["plan", "set", "enterprise", "--seats", "100000"]).await;
        let rows = 1000;
        let file_of = |prefix: &str| {
            let file = rc.dir.path().join(format!("{prefix}.csv"));
            let mut csv = String::from("username,email,first_name,last_name\n");
            for i in 0..rows {
                csv.push_str(&format!("{prefix}{i:04},{prefix}{i:04}@example.org,P,{i}\n"));
            }
            std::fs::write(&file, csv).unwrap();
            file.display().to_string()
        };
        // How long a whole import of such a file takes here: the kills fall within it.
        let started = std::time::Instant::now();
        rc.ok(&["import", &file_of("warm"), "--no-welcome"]).await;
        let whole = started.elapsed();
        let mut killed_midway = 0;
        for run in 0..10 {
            let prefix = format!("r{run}p");
            let path = file_of(&prefix);
            let mut import = rc.command(&["import", &path, "--no-welcome"]).spawn().unwrap();
            // The kill is the test's stimulus, at a random moment of the import's life —
            // reading the file, checking it, hashing, writing, committing — not a wait for
            // anything.
            let at = whole.mul_f64(rand::random_range(0.0..1.0));
            let finished = tokio::time::timeout(at, import.wait()).await.is_ok();
            import.start_kill().ok();
            let status = import.wait().await.unwrap();
            assert!(!finished || status.success(), "run {run}: the import failed: {status}");
            let there = after_the_crash(&rc).await;
            let imported = there.iter().filter(|u| u.starts_with(&prefix)).count();
            assert!(
                imported == 0 || imported == rows,
                "run {run}: {imported} of the file's {rows} rows were written; an import is all or nothing"
            );
            killed_midway += usize::from(imported == 0);
        }
        assert!(killed_midway > 0, "every kill came after its import had finished");
    }
);
