//! End-to-end tests of the `rollcall` binary: real processes against a fresh database,
//! each on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used)] // test helpers unwrap: a failure is the test failing

mod audit;
mod crash;
mod idle;
mod import;
mod instances;
mod jobs;
mod operations;
mod proxies;
mod serve;
mod walkthrough;

use rollcall_testkit::{Deadline, TestDb, both_backends};
use std::process::Output;

/// Runs the binary against one test database, from an empty working directory (so no
/// stray rollcall.toml is read).
pub struct Rollcall {
    pub db: TestDb,
    pub dir: tempfile::TempDir,
}

impl Rollcall {
    pub fn new(db: TestDb) -> Rollcall {
        Rollcall {
            db,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollcall"));
        c.args(["--database", &self.db.url])
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("ROLLCALL_DATABASE_URL")
            .env_remove("ROLLCALL_LISTEN")
            .env_remove("ROLLCALL_ADMIN_PASSWORD")
            .env_remove("ROLLCALL_AUDIT_KEY_FILE")
            .env_remove("ROLLCALL_JOBS_HOUR")
            .env_remove("ROLLCALL_TIME_ZONE")
            .kill_on_drop(true);
        c
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().await.expect("run rollcall")
    }

    pub async fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        use tokio::io::AsyncWriteExt;
        let mut child = self
            .command(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).await.unwrap();
        child.wait_with_output().await.unwrap()
    }

    /// Runs and expects success; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "rollcall {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and expects exit status 1 with one `error:` line; returns that line.
    pub async fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "rollcall {args:?} should fail; stderr: {stderr}"
        );
        assert!(stderr.starts_with("error: "), "{stderr}");
        stderr
    }

    pub async fn add(&self, username: &str, user_type: &str) -> Output {
        let email = format!("{username}@example.org");
        self.run(&[
            "user",
            "add",
            "--username",
            username,
            "--email",
            &email,
            "--first-name",
            "Test",
            "--last-name",
            username,
            "--type",
            user_type,
        ])
        .await
    }
}

both_backends!(bad_input_is_explained, |db: TestDb| async move {
    let rc = Rollcall::new(db);
    assert!(
        rc.fails(&["user", "show", "nobody"])
            .await
            .contains("user 'nobody' not found")
    );
    let err = rc
        .fails(&[
            "user",
            "add",
            "--username",
            "x",
            "--email",
            "not-an-email",
            "--first-name",
            "X",
            "--last-name",
            "Y",
        ])
        .await;
    assert!(err.contains("email") && err.contains("not-an-email"), "{err}");
    assert!(rc.add("ada", "learner").await.status.success());
    assert!(
        rc.fails(&[
            "user",
            "add",
            "--username",
            "ADA",
            "--email",
            "b@example.org",
            "--first-name",
            "A",
            "--last-name",
            "B"
        ])
        .await
        .contains("username 'ADA' is already taken")
    );
    assert!(
        rc.fails(&["user", "set", "ada", "--type", "wizard"])
            .await
            .contains("user type 'wizard' not found")
    );
    assert!(
        rc.fails(&["type", "create", "X", "--base", "learner", "--deny", "users.everything"])
            .await
            .contains("unknown feature area")
    );
    assert!(
        rc.fails(&["type", "create", "X", "--base", "superuser"])
            .await
            .contains("use administrator, branch-administrator, instructor or learner")
    );
    // A limited administrator, cloned from Administrator minus the settings.
    let desk = rc
        .ok(&[
            "type",
            "create",
            "Help desk",
            "--base",
            "administrator",
            "--deny",
            "settings.manage",
        ])
        .await;
    assert!(desk.contains("Help desk"), "{desk}");
    assert_eq!(
        rc.run(&["user", "frobnicate"]).await.status.code(),
        Some(2),
        "bad usage exits 2"
    );
    let short = rc
        .run_with_stdin(
            &[
                "user",
                "add",
                "--username",
                "bob",
                "--email",
                "bob@example.org",
                "--first-name",
                "B",
                "--last-name",
                "B",
                "--password-stdin",
            ],
            "short\n",
        )
        .await;
    assert_eq!(short.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&short.stderr).contains("8 to 1024 bytes"));
    let good = rc
        .run_with_stdin(
            &[
                "user",
                "add",
                "--username",
                "bob",
                "--email",
                "bob@example.org",
                "--first-name",
                "B",
                "--last-name",
                "B",
                "--password-stdin",
            ],
            "a good long password\n",
        )
        .await;
    assert!(good.status.success());
});

both_backends!(lists_print_as_table_csv_and_json, |db: TestDb| async move {
    let rc = Rollcall::new(db);
    rc.ok(&[
        "user",
        "add",
        "--username",
        "eve",
        "--email",
        "eve@example.org",
        "--first-name",
        "=HYPERLINK(\"x\")",
        "--last-name",
        "Smith",
    ])
    .await;
    rc.ok(&[
        "user",
        "add",
        "--username",
        "bob",
        "--email",
        "bob@example.org",
        "--first-name",
        "Bob",
        "--last-name",
        "Jones",
        "--deactivated",
    ])
    .await;
    let json: serde_json::Value = serde_json::from_str(&rc.ok(&["user", "list", "--format", "json"]).await).unwrap();
    let users = json.as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["username"], "eve");
    assert_eq!(users[1]["status"], "deactivated");
    assert!(users[0]["last_login_at"].is_null());
    // Sorted by name (Jones before Smith), and descending by username (eve before bob).
    let names = |out: String| -> Vec<String> {
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        json.as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(rc.ok(&["user", "list", "--sort", "name", "--format", "json"]).await),
        ["bob", "eve"]
    );
    assert_eq!(
        names(
            rc.ok(&["user", "list", "--sort", "-username", "--format", "json"])
                .await
        ),
        ["eve", "bob"]
    );
    assert!(
        rc.fails(&["user", "list", "--sort", "shoe-size"])
            .await
            .contains("not a sort")
    );
    let csv = rc.ok(&["user", "list", "--format", "csv", "--status", "active"]).await;
    assert!(csv.starts_with("id,username,email,first_name"));
    assert!(csv.contains("'=HYPERLINK"), "formula cells are escaped: {csv}");
    assert!(!csv.contains("bob"));
    let table = rc.ok(&["user", "list", "--never-logged-in"]).await;
    assert!(table.lines().next().unwrap().starts_with("id  username"));
    let idle: serde_json::Value = serde_json::from_str(&rc.ok(&["report", "idle", "--format", "json"]).await).unwrap();
    assert_eq!(idle["seats_held"], 1);
    let seats = rc.ok(&["report", "seats"]).await;
    assert!(seats.contains("1 of 100 seats used, 99 free (core plan)"), "{seats}");
});

both_backends!(settings_file_supplies_the_database, |db: TestDb| async move {
    let rc = Rollcall::new(db);
    std::fs::write(
        rc.dir.path().join("rollcall.toml"),
        format!("database = \"{}\"\n", rc.db.url),
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args([
            "user",
            "add",
            "--username",
            "ada",
            "--email",
            "ada@example.org",
            "--first-name",
            "A",
            "--last-name",
            "L",
        ])
        .current_dir(rc.dir.path())
        .env_remove("ROLLCALL_DATABASE_URL")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(rc.ok(&["user", "show", "ada"]).await.contains("ada@example.org"));
    std::fs::write(rc.dir.path().join("rollcall.toml"), "databse = \"typo\"\n").unwrap();
    assert!(rc.fails(&["user", "list"]).await.contains("rollcall.toml is not valid"));
});
