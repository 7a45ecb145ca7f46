//! Operating an installation: backup under concurrent writes, restore into an empty
//! database, and moving a whole installation between SQLite and PostgreSQL.

use super::*;
use rollcall_testkit::Backend;

/// An installation with something in every aggregate: a custom type, a branch with a cap,
/// a group with a key and a member, a course with a learner's progress, a token, a
/// setting, SSO, mail in the outbox and the audit entries of all of it.
async fn populate(rc: &Rollcall) {
    rc.ok(&["type", "create", "Auditor", "--base", "learner"]).await;
    rc.ok(&["branch", "add", "North", "--seat-cap", "10"]).await;
    rc.ok(&["group", "add", "Team", "--branch", "North", "--key", "JOIN-1"])
        .await;
    assert!(rc.add("ada", "instructor").await.status.success());
    assert!(rc.add("bob", "auditor").await.status.success());
    rc.ok(&["user", "set", "bob", "--add-branch", "North"]).await;
    rc.ok(&["group", "add-member", "Team", "bob"]).await;
    rc.ok(&[
        "course", "add", "C1", "--name", "Safety", "--owner", "ada", "--units", "2",
    ])
    .await;
    rc.ok(&["enroll", "bob", "C1"]).await;
    rc.ok(&["progress", "bob", "C1", "--complete-unit", "1"]).await;
    rc.ok(&[
        "token", "create", "--name", "hr-sync", "--scope", "api", "--user", "ada",
    ])
    .await;
    rc.ok(&["settings", "set", "scim_delete", "delete"]).await;
    let metadata = rc.dir.path().join("idp.xml");
    std::fs::write(&metadata, super::walkthrough::IDP_METADATA).unwrap();
    rc.ok(&["sso", "set", "--idp-metadata", &metadata.display().to_string()])
        .await;
    rc.ok(&["user", "deactivate", "bob"]).await;
}

/// What an administrator sees of the installation, command by command.
async fn what_it_holds(rc: &Rollcall) -> Vec<(String, String)> {
    let mut seen = vec![];
    for args in [
        &["user", "list", "--format", "json"][..],
        &["user", "export", "bob"],
        &["type", "list"],
        &["branch", "list"],
        &["group", "list"],
        &["course", "list", "--format", "json"],
        &["token", "list"],
        &["settings", "show"],
        &["sso", "show"],
        &["mail", "list", "--format", "json"],
        &["plan", "show"],
        &["audit", "list"],
    ] {
        seen.push((args.join(" "), rc.ok(args).await));
    }
    seen
}

/// A second installation directory for `db`, holding the same audit key as `from`'s.
fn beside(from: &Rollcall, db: TestDb) -> Rollcall {
    let rc = Rollcall::new(db);
    let key = "rollcall.audit-key";
    std::fs::copy(from.dir.path().join(key), rc.dir.path().join(key)).unwrap();
    rc
}

fn assert_same(a: &[(String, String)], b: &[(String, String)]) {
    assert_eq!(a.len(), b.len());
    for ((command, x), (_, y)) in a.iter().zip(b) {
        assert_eq!(x, y, "`rollcall {command}` differs");
    }
}

both_backends!(
    a_backup_restores_into_an_empty_database_whole,
    |db: TestDb| async move {
        let backend = db.backend;
        let rc = Rollcall::new(db);
        populate(&rc).await;
        let before = what_it_holds(&rc).await;
        let backup = rc.dir.path().join("backup.db").display().to_string();
        rc.ok(&["backup", &backup]).await;
        assert!(rc.fails(&["backup", &backup]).await.contains("already exists"));

        let restored = beside(&rc, TestDb::new(backend).await.unwrap());
        let report = restored.ok(&["restore", &backup]).await;
        assert!(report.contains("users") && report.contains("audit_log"), "{report}");
        assert_same(&before, &what_it_holds(&restored).await);
        assert!(restored.ok(&["audit", "verify"]).await.contains("audit chain intact"));
        // It carries on where the original left off: new rows get new ids.
        assert!(restored.add("cy", "learner").await.status.success());
        rc.ok(&["type", "create", "Helpdesk", "--base", "learner"]).await;
        restored.ok(&["type", "create", "Helpdesk", "--base", "learner"]).await;
        assert_eq!(rc.ok(&["type", "list"]).await, restored.ok(&["type", "list"]).await);
        // Into a database that holds an installation: refused, nothing changed.
        let held = restored.ok(&["user", "list", "--format", "json"]).await;
        assert!(restored.fails(&["restore", &backup]).await.contains("already holds"));
        assert_eq!(held, restored.ok(&["user", "list", "--format", "json"]).await);
        // Not a backup: refused before anything is read into the target.
        let empty = beside(&rc, TestDb::new(backend).await.unwrap());
        let key = empty.dir.path().join("rollcall.audit-key").display().to_string();
        assert!(empty.fails(&["restore", &key]).await.contains("not a rollcall backup"));
        let missing = rc.dir.path().join("nope.db").display().to_string();
        assert!(
            empty
                .fails(&["restore", &missing])
                .await
                .contains("can't read the backup")
        );
        // Without the installation's audit key the copy could never verify: not started.
        let keyless = Rollcall::new(TestDb::new(backend).await.unwrap());
        assert!(keyless.fails(&["restore", &backup]).await.contains("audit key"));
        assert_eq!(keyless.ok(&["user", "list", "--format", "json"]).await.trim(), "[]");
    }
);

both_backends!(
    a_backup_taken_under_writes_is_one_consistent_moment,
    |db: TestDb| async move {
        let backend = db.backend;
        let rc = Rollcall::new(db);
        assert!(rc.add("first", "learner").await.status.success());
        let backup = rc.dir.path().join("busy.db").display().to_string();
        let underway = tokio::sync::Notify::new();
        let writes = async {
            for i in 0..12 {
                assert!(rc.add(&format!("w{i:02}"), "learner").await.status.success());
                if i == 2 {
                    underway.notify_one();
                }
            }
        };
        let backup_args = ["backup", backup.as_str()];
        let backup_taken = async {
            underway.notified().await;
            rc.run(&backup_args).await
        };
        let (_, taken) = tokio::join!(writes, backup_taken);
        assert!(taken.status.success(), "{}", String::from_utf8_lossy(&taken.stderr));

        let restored = beside(&rc, TestDb::new(backend).await.unwrap());
        restored.ok(&["restore", &backup]).await;
        assert!(restored.ok(&["audit", "verify"]).await.contains("audit chain intact"));
        let users: Vec<serde_json::Value> =
            serde_json::from_str(&restored.ok(&["user", "list", "--format", "json"]).await).unwrap();
        let names: Vec<&str> = users.iter().map(|u| u["username"].as_str().unwrap()).collect();
        // The writes ran one after another, so a moment's copy holds a prefix of them.
        let expected: Vec<String> = std::iter::once("first".to_owned())
            .chain((0..names.len() - 1).map(|i| format!("w{i:02}")))
            .collect();
        assert_eq!(names, expected);
        let seats: serde_json::Value =
            serde_json::from_str(&restored.ok(&["report", "seats", "--format", "json"]).await).unwrap();
        assert!(names.len() >= 4, "the backup began after three writes: {names:?}");
        assert_eq!(seats["used"], serde_json::json!(names.len()), "{seats}");
        let created = restored
            .ok(&["audit", "list"])
            .await
            .lines()
            .filter(|l| l.contains("user.create"))
            .count();
        assert_eq!(created, names.len(), "one audit entry for each account in the copy");
    }
);

/// Moves an installation from `from` to `to` and shows it arrived whole.
async fn moves_whole(from: &Rollcall, to: &Rollcall) {
    let before = what_it_holds(from).await;
    let report = to
        .ok(&["migrate-data", "--from", &from.db.url, "--to", &to.db.url])
        .await;
    assert!(report.lines().any(|l| l.starts_with("users")), "{report}");
    assert_same(&before, &what_it_holds(to).await);
    assert!(to.ok(&["audit", "verify"]).await.contains("audit chain intact"));
    assert!(
        to.fails(&["migrate-data", "--from", &from.db.url, "--to", &to.db.url])
            .await
            .contains("already holds")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installation_moves_from_sqlite_to_postgresql_and_back() {
    let Some(pg) = TestDb::postgres().await else { return };
    let sqlite = Rollcall::new(TestDb::sqlite());
    populate(&sqlite).await;
    let postgres = beside(&sqlite, pg);
    moves_whole(&sqlite, &postgres).await;
    // The moved installation goes on working: an account, a type, a course made there.
    assert!(postgres.add("cy", "instructor").await.status.success());
    postgres.ok(&["type", "create", "Helpdesk", "--base", "learner"]).await;
    postgres
        .ok(&["course", "add", "C2", "--name", "Fire", "--owner", "cy"])
        .await;
    let back = beside(&postgres, TestDb::sqlite());
    moves_whole(&postgres, &back).await;

    let nowhere = format!("sqlite://{}", sqlite.dir.path().join("none.db").display());
    let empty = beside(&sqlite, TestDb::new(Backend::Sqlite).await.unwrap());
    assert!(
        empty
            .fails(&["migrate-data", "--from", &nowhere, "--to", &empty.db.url])
            .await
            .contains("no SQLite database")
    );
    assert!(
        !sqlite.dir.path().join("none.db").exists(),
        "a missing source is not created"
    );
}

/// IdP metadata whose signing certificate is `pem`.
fn metadata_with(pem: &str) -> String {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    super::walkthrough::IDP_METADATA.replace("MIIBsjCCAVigAwIBAgIU", &body)
}

async fn doctor(rc: &Rollcall, env: &[(&str, &str)]) -> (Option<i32>, serde_json::Value) {
    let mut command = rc.command(&["doctor", "--format", "json"]);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().await.unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(report["ok"], out.status.success(), "{report}");
    (out.status.code(), report)
}

/// The status of the check named `name` (the first, when there are several).
fn status_of<'a>(report: &'a serde_json::Value, name: &str) -> &'a str {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {report}"))["status"]
        .as_str()
        .unwrap()
}

both_backends!(
    the_doctor_fails_on_what_is_broken_and_warns_on_what_is_unset,
    |db: TestDb| async move {
        let rc = Rollcall::new(db);
        // A database nobody started yet (no SQLite file, an empty PostgreSQL database): what
        // the first start makes is missing, which is no failure.
        let (code, report) = doctor(&rc, &[]).await;
        assert_eq!(code, Some(0), "{report}");
        let first_missing = if rc.db.url.starts_with("sqlite:") {
            "database"
        } else {
            "schema"
        };
        assert_eq!(status_of(&report, first_missing), "warn", "{report}");
        assert!(rc.add("ada", "learner").await.status.success());

        let (code, report) = doctor(&rc, &[]).await;
        assert_eq!(code, Some(0), "{report}");
        for (check, status) in [
            ("configuration", "ok"),
            ("database", "ok"),
            ("schema", "ok"),
            ("audit key", "ok"),
            ("single sign-on", "ok"),
            ("smtp", "warn"),
            ("base url", "warn"),
        ] {
            assert_eq!(status_of(&report, check), status, "{check}: {report}");
        }
        let table = rc.ok(&["doctor"]).await;
        assert!(table.starts_with("STATUS") && table.contains("warn    smtp"), "{table}");

        // Each broken thing fails, and says what to do.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let smtp = format!("smtp://127.0.0.1:{closed}");
        let (code, report) = doctor(&rc, &[("ROLLCALL_SMTP_URL", &smtp)]).await;
        assert_eq!((code, status_of(&report, "smtp")), (Some(1), "fail"), "{report}");
        let (code, report) = doctor(&rc, &[("ROLLCALL_BASE_URL", "http://rollcall.example.org")]).await;
        assert_eq!((code, status_of(&report, "base url")), (Some(1), "fail"), "{report}");
        let (code, report) = doctor(&rc, &[("ROLLCALL_BASE_URL", "https://rollcall.example.org")]).await;
        assert_eq!((code, status_of(&report, "base url")), (Some(0), "ok"), "{report}");
        let other_key = rc.dir.path().join("other.key");
        std::fs::write(&other_key, format!("{}\n", "ab".repeat(32))).unwrap();
        let (code, report) = doctor(&rc, &[("ROLLCALL_AUDIT_KEY_FILE", other_key.to_str().unwrap())]).await;
        assert_eq!((code, status_of(&report, "audit key")), (Some(1), "fail"), "{report}");
        let (code, report) = doctor(&rc, &[("ROLLCALL_LOG_FORMAT", "xml")]).await;
        assert_eq!(
            (code, status_of(&report, "configuration")),
            (Some(1), "fail"),
            "{report}"
        );

        let metadata = rc.dir.path().join("idp.xml");
        let valid = include_str!("../../../saml/testdata/idp.cert.pem");
        std::fs::write(&metadata, metadata_with(valid)).unwrap();
        rc.ok(&["sso", "set", "--idp-metadata", metadata.to_str().unwrap()])
            .await;
        let (code, report) = doctor(&rc, &[]).await;
        assert_eq!(
            (code, status_of(&report, "saml certificate")),
            (Some(0), "ok"),
            "{report}"
        );
        std::fs::write(&metadata, metadata_with(include_str!("expired-idp.cert.pem"))).unwrap();
        rc.ok(&["sso", "set", "--idp-metadata", metadata.to_str().unwrap()])
            .await;
        let (code, report) = doctor(&rc, &[]).await;
        assert_eq!(
            (code, status_of(&report, "saml certificate")),
            (Some(1), "fail"),
            "{report}"
        );
        let said = report.to_string();
        assert!(said.contains("expired on 2020-02-01"), "{said}");
    }
);
