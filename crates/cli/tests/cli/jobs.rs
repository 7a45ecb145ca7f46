//! `rollcall jobs` and leave of absence from the command line; two `rollcall serve`
//! processes on one database running each daily job once.

use super::*;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

both_backends!(
    jobs_are_listed_and_run_and_leave_is_scheduled,
    |db: TestDb| async move {
        let rc = Rollcall::new(db);
        assert!(rc.add("ada", "learner").await.status.success());

        let e = rc.fails(&["user", "set", "ada", "--reactivate-on", "someday"]).await;
        assert!(e.contains("reactivate_on: 'someday' is not a date"), "{e}");
        let e = rc
            .fails(&[
                "user",
                "set",
                "ada",
                "--deactivate-on",
                "2000-01-05",
                "--reactivate-on",
                "2000-01-01",
            ])
            .await;
        assert!(e.contains("reactivate_at: the reactivation date"), "{e}");
        let shown = rc
            .ok(&[
                "user",
                "set",
                "ada",
                "--deactivate-on",
                "2000-01-01",
                "--reactivate-on",
                "2999-01-01",
            ])
            .await;
        assert!(shown.contains("2999-01-01"), "{shown}");

        let dry = json(
            &rc.ok(&["jobs", "run", "scheduled-lifecycle", "--dry-run", "--format", "json"])
                .await,
        );
        assert_eq!(dry["dry_run"], true);
        assert_eq!(dry["actions"][0]["action"], "deactivate");
        assert!(rc.ok(&["user", "show", "ada"]).await.contains("active"));
        let done = rc.ok(&["jobs", "run", "scheduled-lifecycle"]).await;
        assert!(done.contains("deactivate ada"), "{done}");
        let ada = json(&rc.ok(&["user", "show", "ada", "--format", "json"]).await);
        assert_eq!(ada["status"], "deactivated");
        assert_eq!(ada["reactivate_at"], "2999-01-01T00:00:00.000Z");
        let csv = rc.ok(&["export", "users"]).await;
        assert!(
            csv.lines()
                .next()
                .unwrap()
                .contains(",deactivation_date,idle_exempt,reactivation_date"),
            "{csv}"
        );
        assert!(csv.contains("2999-01-01"), "{csv}");
        rc.ok(&["user", "set", "ada", "--reactivate-on", "never"]).await;
        let ada = json(&rc.ok(&["user", "show", "ada", "--format", "json"]).await);
        assert_eq!(ada["reactivate_at"], Value::Null);

        let jobs = json(&rc.ok(&["jobs", "list", "--format", "json"]).await);
        let jobs = jobs.as_array().unwrap();
        assert_eq!(jobs.len(), 5);
        assert_eq!(jobs[0]["name"], "scheduled-lifecycle");
        assert_eq!(jobs[0]["outcome"], "ok");
        assert_eq!(jobs[1]["last_run"], Value::Null);
        for j in jobs {
            let mut keys: Vec<&String> = j.as_object().unwrap().keys().collect();
            keys.sort();
            assert_eq!(keys, ["last_run", "name", "next_run", "outcome"]);
        }
        let table = rc
            .ok(&["jobs", "list", "--time-zone", "Europe/Berlin", "--jobs-hour", "22"])
            .await;
        assert!(table.contains("trash-purge") && table.contains("never"), "{table}");

        let e = rc.fails(&["jobs", "run", "nightly"]).await;
        assert!(
            e.contains("job: unknown job 'nightly'; the jobs are scheduled-lifecycle, trash-purge, seat-snapshot"),
            "{e}"
        );
        let e = rc.fails(&["jobs", "list", "--jobs-hour", "24"]).await;
        assert!(e.contains("--jobs-hour is not an hour from 0 to 23"), "{e}");
        let e = rc.fails(&["jobs", "list", "--time-zone", "Mars/Olympus"]).await;
        assert!(e.contains("--time-zone is not a known time zone"), "{e}");
    }
);

/// Starts `rollcall serve` on port 0 with the minute jobs' debug line on; returns the
/// process and its stderr lines once it listens.
async fn serve(
    rc: &Rollcall,
) -> (
    tokio::process::Child,
    tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
) {
    let mut child = rc
        .command(&["serve", "--listen", "127.0.0.1:0"])
        .env("ROLLCALL_LOG", "warn,rollcall_server::jobs=debug")
        .env("ROLLCALL_ADMIN_PASSWORD", "a long first passphrase")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = Deadline::after(std::time::Duration::from_secs(60), "serve to say where it listens");
    loop {
        let line = started.run(lines.next_line()).await.unwrap().expect("serve exited");
        if line.starts_with("listening on http://") {
            return (child, lines);
        }
    }
}

/// Waits for the process's first minute tick to have finished.
async fn first_tick(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStderr>>) {
    let ticked = Deadline::after(std::time::Duration::from_secs(60), "the first minute tick");
    loop {
        let line = ticked.run(lines.next_line()).await.unwrap().expect("serve exited");
        if line.contains("minute jobs done") {
            return;
        }
    }
}

async fn job_runs(rc: &Rollcall) -> Vec<String> {
    let log = json(&rc.ok(&["audit", "list", "--limit", "1000", "--format", "json"]).await);
    let mut runs: Vec<String> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "job.run")
        .map(|e| {
            format!(
                "{} {}",
                e["target"].as_str().unwrap(),
                e["changes"]["period"].as_str().unwrap()
            )
        })
        .collect();
    runs.sort();
    runs
}

both_backends!(two_servers_run_each_daily_job_once, |db: TestDb| async move {
    let rc = Rollcall::new(db);
    rc.ok(&["migrate"]).await;
    let (mut one, mut one_log) = serve(&rc).await;
    let (two, mut two_log) = serve(&rc).await;
    first_tick(&mut one_log).await;
    first_tick(&mut two_log).await;
    let runs = job_runs(&rc).await;
    assert_eq!(runs.len(), 5, "each daily job once, whichever server ran it: {runs:?}");
    let jobs: Vec<&str> = runs.iter().map(|r| r.split(' ').next().unwrap()).collect();
    assert_eq!(
        jobs,
        [
            "idle-policy",
            "scheduled-lifecycle",
            "seat-alerts",
            "seat-snapshot",
            "trash-purge"
        ]
    );

    // One is killed; a restarted server does not run the finished day again.
    one.kill().await.unwrap();
    let (_three, mut three_log) = serve(&rc).await;
    first_tick(&mut three_log).await;
    assert_eq!(job_runs(&rc).await, runs);
    drop(two);
});

both_backends!(
    commands_for_many_users_take_the_filters_of_user_list,
    |db: TestDb| async move {
        let rc = Rollcall::new(db);
        rc.ok(&["branch", "add", "North"]).await;
        rc.ok(&["branch", "add", "South"]).await;
        for (name, branch) in [("a1", "North"), ("a2", "North"), ("b1", "South")] {
            let email = format!("{name}@example.org");
            rc.ok(&[
                "user",
                "add",
                "--username",
                name,
                "--email",
                &email,
                "--first-name",
                "T",
                "--last-name",
                name,
                "--branch",
                branch,
                "--no-welcome",
            ])
            .await;
        }
        assert!(rc.add("boss", "administrator").await.status.success());

        // A dry run lists whom it would change, and changes nothing.
        let dry = rc.ok(&["user", "deactivate", "--branch", "North", "--dry-run"]).await;
        assert_eq!(
            dry.lines().collect::<Vec<_>>(),
            ["would deactivate a1", "would deactivate a2"],
            "{dry}"
        );
        let list = json(&rc.ok(&["user", "list", "--status", "active", "--format", "json"]).await);
        assert_eq!(list.as_array().unwrap().len(), 4);
        // The same filters, for real, with the outcome per user as JSON.
        let done = json(
            &rc.ok(&["user", "deactivate", "--branch", "North", "--format", "json"])
                .await,
        );
        assert_eq!(
            done,
            serde_json::json!([
                {"username": "a1", "ok": true, "status": "deactivated"},
                {"username": "a2", "ok": true, "status": "deactivated"}
            ])
        );
        // A user the rules keep is reported, and the command exits 1.
        let out = rc
            .run(&["user", "deactivate", "--never-logged-in", "--format", "json"])
            .await;
        assert_eq!(out.status.code(), Some(1));
        let outcomes = json(&String::from_utf8_lossy(&out.stdout));
        let boss = outcomes
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["username"] == "boss")
            .unwrap();
        assert_eq!(
            (boss["ok"].as_bool(), boss["code"].as_str()),
            (Some(false), Some("last_administrator")),
            "{outcomes}"
        );
        // Back again: activate picks the deactivated by default.
        let back = json(
            &rc.ok(&["user", "activate", "--branch", "North", "--format", "json"])
                .await,
        );
        assert_eq!(back.as_array().unwrap().len(), 2, "{back}");
        // Names or filters, not both; and not neither.
        assert!(
            rc.fails(&["user", "deactivate", "a1", "--branch", "North"])
                .await
                .contains("not both")
        );
        assert!(
            rc.fails(&["user", "deactivate"])
                .await
                .contains("filters of `user list`")
        );
    }
);

both_backends!(commands_that_change_something_answer_in_json, |db: TestDb| async move {
    let rc = Rollcall::new(db);
    let j = |args: &'static [&'static str]| {
        let rc = &rc;
        async move {
            let mut all = args.to_vec();
            all.extend(["--format", "json"]);
            json(&rc.ok(&all).await)
        }
    };
    let branch = j(&["branch", "add", "North", "--seat-cap", "5"]).await;
    assert_eq!(
        (branch["name"].as_str(), branch["seat_cap"].as_i64()),
        (Some("North"), Some(5)),
        "{branch}"
    );
    let user = j(&[
        "user",
        "add",
        "--username",
        "ada",
        "--email",
        "ada@example.org",
        "--first-name",
        "Ada",
        "--last-name",
        "L",
        "--branch",
        "North",
        "--no-welcome",
    ])
    .await;
    assert_eq!(
        (user["username"].as_str(), user["status"].as_str()),
        (Some("ada"), Some("active")),
        "{user}"
    );
    let set = j(&["user", "set", "ada", "--last-name", "Lovelace"]).await;
    assert_eq!(set["last_name"], "Lovelace", "{set}");
    let group = j(&["group", "add", "crew"]).await;
    assert_eq!(group["name"], "crew");
    let added = j(&["group", "add-member", "crew", "ada"]).await;
    assert_eq!(added["added"], 1, "{added}");
    let t = j(&[
        "type",
        "create",
        "Desk",
        "--base",
        "administrator",
        "--deny",
        "settings.manage",
    ])
    .await;
    assert_eq!(t["base"], "administrator", "{t}");
    let setting = j(&["settings", "set", "welcome_email", "off"]).await;
    assert_eq!(
        (setting["key"].as_str(), setting["value"].as_str()),
        (Some("welcome_email"), Some("off"))
    );
    let plan = j(&["plan", "set", "enterprise", "--seats", "40"]).await;
    assert_eq!(plan["seat_limit"], 40, "{plan}");
    let metadata = rc.dir.path().join("idp.xml");
    std::fs::write(&metadata, rollcall_saml::test_idp::TestIdp::new().metadata()).unwrap();
    let sso = json(
        &rc.ok(&[
            "sso",
            "set",
            "--idp-metadata",
            metadata.to_str().unwrap(),
            "--format",
            "json",
        ])
        .await,
    );
    assert_eq!(
        sso["jit"], true,
        "accounts are created at first sign-in by default: {sso}"
    );
    assert!(sso["idp_entity_id"].is_string(), "{sso}");
    assert_eq!(j(&["sso", "disable"]).await["sso"], "disabled");
    let token = j(&["token", "create", "--name", "idp", "--scope", "scim"]).await;
    assert!(
        token["token"].as_str().is_some_and(|t| t.starts_with("rc_scim_")),
        "{token}"
    );
    let revoked = j(&["token", "revoke", "idp"]).await;
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    let deleted = j(&["user", "delete", "ada", "--confirm", "ada"]).await;
    assert_eq!(deleted["status"], "trash", "{deleted}");
    let restored = j(&["user", "restore", "ada"]).await;
    assert_eq!(restored["status"], "deactivated", "{restored}");
});
