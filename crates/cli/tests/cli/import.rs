//! `rollcall import`, `rollcall export users`, and the welcome email reaching a real SMTP server.

use super::*;
use tokio::io::{AsyncBufReadExt, BufReader};

fn write(rc: &Rollcall, name: &str, text: &str) -> String {
    let path = rc.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

both_backends!(
    ten_thousand_rows_import_and_reimport_changes_nothing,
    |db: TestDb| async move {
        let rc = Rollcall::new(db);
        rc.ok(&["plan", "set", "enterprise", "--seats", "20000"]).await;
        rc.ok(&["branch", "add", "North"]).await;
        let mut csv = String::from("username;email;first_name;last_name;branches;status\n");
        for i in 0..10_000 {
            let status = if i % 10 == 0 { "deactivated" } else { "active" };
            csv.push_str(&format!(
                "user{i:05};user{i:05}@example.org;First{i};Last{i};North;{status}\n"
            ));
        }
        let file = write(&rc, "big.csv", &csv);
        let out = rc.run(&["import", &file, "--no-welcome", "--format", "json"]).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["summary"]["created"], 10_000);
        assert_eq!(report["rows"].as_array().unwrap().len(), 10_000);
        assert!(rc.ok(&["report", "seats"]).await.contains("9000 of 20000 seats used"));
        let again = rc
            .run(&["import", &file, "--update-existing", "--format", "json"])
            .await;
        let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
        assert_eq!(
            report["summary"]["unchanged"], 10_000,
            "re-importing the same file changes nothing"
        );
        // A file without a status column leaves deactivated accounts deactivated.
        let names = write(
            &rc,
            "names.csv",
            "username,email,first_name,last_name\nuser00000,user00000@example.org,Renamed,Last0\n",
        );
        rc.ok(&["import", &names, "--update-existing"]).await;
        assert!(rc.ok(&["user", "show", "user00000"]).await.contains("deactivated"));
        assert!(
            rc.ok(&["mail", "list"]).await.lines().count() <= 1,
            "--no-welcome sent no mail"
        );
    }
);

both_backends!(talentlms_files_import_as_they_are, |db: TestDb| async move {
    let rc = Rollcall::new(db);
    for b in ["North", "South"] {
        rc.ok(&["branch", "add", b]).await;
    }
    for g in ["Safety", "Chemistry", "Computing"] {
        rc.ok(&["group", "add", g]).await;
    }
    let file = write(
        &rc,
        "talentlms.csv",
        include_str!("../../../csv/tests/talentlms-import.csv"),
    );
    let dry = rc.run(&["import", &file, "--dry-run"]).await;
    assert!(dry.status.success());
    assert!(
        rc.ok(&["user", "list"]).await.lines().count() == 1,
        "a dry run writes nothing"
    );
    rc.ok(&["import", &file]).await;
    let curie = rc.ok(&["user", "show", "mcurie", "--format", "json"]).await;
    let curie: serde_json::Value = serde_json::from_str(&curie).unwrap();
    assert_eq!(curie["branches"], serde_json::json!(["North", "South"]));
    assert_eq!(curie["groups"], serde_json::json!(["Chemistry", "Safety"]));
    let turing: serde_json::Value =
        serde_json::from_str(&rc.ok(&["user", "show", "aturing", "--format", "json"]).await).unwrap();
    assert_eq!(turing["user_type"], "Instructor");
    assert!(turing["deactivate_at"].as_str().unwrap().starts_with("2027-06-30"));
    let franklin: serde_json::Value =
        serde_json::from_str(&rc.ok(&["user", "show", "rfranklin", "--format", "json"]).await).unwrap();
    assert_eq!(
        (franklin["status"].as_str(), franklin["exclude_from_emails"].as_bool()),
        (Some("deactivated"), Some(true))
    );
    // Welcome mail: Curie has a password; Turing gets a set-password link; Franklin is excluded.
    let mail: serde_json::Value = serde_json::from_str(&rc.ok(&["mail", "list", "--format", "json"]).await).unwrap();
    let mail = mail.as_array().unwrap();
    assert_eq!(mail.len(), 2);
    let to_turing = mail.iter().find(|m| m["to"] == "alan.turing@example.org").unwrap();
    let queued = to_turing["body"].as_str().unwrap();
    assert!(
        queued.contains("[a single-use link, made when the message is sent]") && !queued.contains("token="),
        "the outbox holds no live link: {queued}"
    );
    let to_curie = mail.iter().find(|m| m["to"] == "marie.curie@example.org").unwrap();
    assert!(!to_curie["body"].as_str().unwrap().contains("set-password"));
});

both_backends!(exports_escape_formulas_and_import_back, |db: TestDb| async move {
    let rc = Rollcall::new(db);
    rc.ok(&["branch", "add", "North"]).await;
    rc.ok(&[
        "user",
        "add",
        "--username",
        "eve",
        "--email",
        "eve@example.org",
        "--first-name",
        "=cmd()",
        "--last-name",
        "@SUM(A1)",
        "--branch",
        "North",
        "--no-welcome",
    ])
    .await;
    let csv = rc.ok(&["export", "users"]).await;
    assert!(csv.contains(",'=cmd(),'@SUM(A1),"), "{csv}");
    // Into a fresh database, the export imports back to the same users.
    let file = write(&rc, "export.csv", &csv);
    rc.ok(&["user", "delete", "eve", "--confirm", "eve", "--purge"]).await;
    rc.ok(&["import", &file, "--no-welcome"]).await;
    let eve: serde_json::Value =
        serde_json::from_str(&rc.ok(&["user", "show", "eve", "--format", "json"]).await).unwrap();
    assert_eq!(
        (eve["first_name"].as_str(), eve["last_name"].as_str()),
        (Some("=cmd()"), Some("@SUM(A1)"))
    );
    assert_eq!(eve["branches"], serde_json::json!(["North"]));
    assert_eq!(
        rc.ok(&["export", "users"]).await,
        csv,
        "export → import → export is stable"
    );
});

both_backends!(bad_files_are_refused_with_reasons, |db: TestDb| async move {
    let rc = Rollcall::new(db);
    let file = write(&rc, "bad.csv", "username,email,first_name\nada,ada@example.org,Ada\n");
    assert!(rc.fails(&["import", &file]).await.contains("no last_name column"));
    let file = write(
        &rc,
        "rows.csv",
        "username,email,first_name,last_name\nada,not-an-email,Ada,L\nADA,ada2@example.org,Ada,L\nbob,bob@example.org,Bob,B\n",
    );
    let out = rc.run(&["import", &file]).await;
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("2  ada") && table.contains("email"), "{table}");
    assert!(rc.ok(&["user", "list"]).await.lines().count() == 1, "nothing written");
    let partial = rc.run(&["import", &file, "--partial"]).await;
    assert!(partial.status.success());
    let users = rc.ok(&["user", "list"]).await;
    assert!(
        users.contains("ADA") && users.contains("bob") && !users.contains("not-an-email"),
        "{users}"
    );
});

/// Starts the SMTP sink; returns the child and a line reader on its stdout, and the port.
async fn smtp_sink() -> Option<(
    tokio::process::Child,
    tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    u16,
)> {
    if !rollcall_testkit::python_has("aiosmtpd") {
        return None;
    }
    let python = rollcall_testkit::python();
    let mut child = tokio::process::Command::new(python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cli/smtp_sink.py"))
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().expect("the sink prints its port");
    let port = first.strip_prefix("PORT ").unwrap().parse().unwrap();
    Some((child, lines, port))
}

both_backends!(
    welcome_mail_of_an_imported_user_reaches_the_smtp_server,
    |db: TestDb| async move {
        let Some((_sink, mut mail, port)) = smtp_sink().await else {
            return;
        };
        let rc = Rollcall::new(db);
        let mut server = rc
            .command(&[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--base-url",
                "https://lms.example.org",
            ])
            .env("ROLLCALL_SMTP_URL", format!("smtp://127.0.0.1:{port}"))
            .env("ROLLCALL_MAIL_FROM", "Training <training@example.org>")
            .env("ROLLCALL_LOG", "warn")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
        let started = Deadline::after(std::time::Duration::from_secs(60), "serve to start listening");
        while let Some(line) = started.run(lines.next_line()).await.unwrap() {
            if line.starts_with("listening on") {
                break;
            }
        }
        let file = write(
            &rc,
            "one.csv",
            "username,email,first_name,last_name\nlise,lise.meitner@example.org,Lise,Meitner\n",
        );
        // Links are built by the process that causes the mail, from the configured base URL.
        let out = rc
            .command(&["import", &file])
            .env("ROLLCALL_BASE_URL", "https://lms.example.org")
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // The sender polls the outbox; reading the sink's output waits for the delivery.
        let mut message = String::new();
        let delivered = Deadline::after(std::time::Duration::from_secs(60), "the welcome mail to arrive");
        while let Some(line) = delivered.run(mail.next_line()).await.unwrap() {
            if line == ".END" {
                break;
            }
            message.push_str(&line);
            message.push('\n');
        }
        assert!(
            message.starts_with("MAIL FROM training@example.org TO lise.meitner@example.org"),
            "{message}"
        );
        // Undo quoted-printable soft line breaks and escapes before reading the body.
        let message = message.replace("=\n", "").replace("=3D", "=");
        // What mail clients and spam filters look for: an id, a date, MIME, and the same
        // words as plain text and as HTML.
        for header in [
            "Message-ID: <",
            "Date: ",
            "MIME-Version: 1.0",
            "Content-Type: multipart/alternative",
        ] {
            assert!(message.contains(header), "no {header}: {message}");
        }
        let plain = message.find("Content-Type: text/plain").expect("a plain-text part");
        let html = message.find("Content-Type: text/html").expect("an HTML part");
        assert!(plain < html, "plain text first, HTML preferred: {message}");
        assert!(message[html..].contains("<p>Hello Lise,"), "{message}");
        assert!(message.contains("Hello Lise,"), "{message}");
        assert!(
            message.contains("https://lms.example.org/set-password?token="),
            "links use the configured base URL: {message}"
        );
        // The outbox row is marked sent right after the SMTP exchange, which the sink may
        // answer first: poll until it is, within a deadline.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let sent: serde_json::Value =
                serde_json::from_str(&rc.ok(&["mail", "list", "--format", "json"]).await).unwrap();
            if sent[0]["status"] == "sent" {
                assert_eq!(sent[0]["body"], "", "a sent message keeps no body: {sent}");
                break;
            }
            assert_eq!(sent[0]["status"], "pending", "{sent}");
            assert!(std::time::Instant::now() < deadline, "never marked sent: {sent}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        tokio::process::Command::new("kill")
            .args(["-TERM", &server.id().unwrap().to_string()])
            .status()
            .await
            .unwrap();
        assert_eq!(server.wait().await.unwrap().code(), Some(0));
    }
);

both_backends!(imported_rows_can_name_courses, |db: TestDb| async move {
    let rc = Rollcall::new(db);
    assert!(rc.add("teach", "instructor").await.status.success());
    rc.ok(&[
        "course",
        "add",
        "CHEM-101",
        "--name",
        "Chemistry",
        "--owner",
        "teach",
        "--units",
        "2",
    ])
    .await;
    let bad = write(
        &rc,
        "bad.csv",
        "username,email,first_name,last_name,courses\nada,ada@example.org,Ada,L,CHEM-101|NOPE\n",
    );
    let out = rc.run(&["import", &bad, "--no-welcome"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("unknown course 'NOPE'"));
    let good = write(
        &rc,
        "good.csv",
        "username,email,first_name,last_name,courses\nada,ada@example.org,Ada,L,chem-101\n",
    );
    rc.ok(&["import", &good, "--no-welcome"]).await;
    let export: serde_json::Value = serde_json::from_str(&rc.ok(&["user", "export", "ada"]).await).unwrap();
    assert_eq!(export["enrollments"][0]["course"], "CHEM-101");
    let again = rc
        .run(&["import", &good, "--update-existing", "--format", "json"])
        .await;
    let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["summary"]["unchanged"], 1);
});

both_backends!(
    a_roster_sync_past_the_guard_writes_nothing_and_exits_1,
    |db: TestDb| async move {
        let rc = Rollcall::new(db);
        rc.ok(&["plan", "set", "enterprise", "--seats", "100"]).await;
        for i in 0..10 {
            let out = rc.add(&format!("u{i}"), "learner").await;
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
        let mut csv = String::from("username,email,first_name,last_name\n");
        for i in 2..10 {
            csv.push_str(&format!("u{i},u{i}@example.org,First,Last{i}\n"));
        }
        let file = write(&rc, "roster.csv", &csv);

        // The dry run names every deactivation; two of ten is past the default 10%.
        let dry = rc.run(&["import", &file, "--sync", "--dry-run"]).await;
        let err = String::from_utf8_lossy(&dry.stderr);
        assert_eq!(dry.status.code(), Some(1), "{err}");
        assert!(
            err.contains("would deactivate u0") && err.contains("would deactivate u1"),
            "{err}"
        );
        assert!(err.contains("sync_max_deactivation_share"), "{err}");

        let held = rc.run(&["import", &file, "--sync", "--format", "json"]).await;
        assert_eq!(held.status.code(), Some(1));
        let report: serde_json::Value = serde_json::from_slice(&held.stdout).unwrap();
        assert_eq!(report["summary"]["written"], false);
        assert_eq!(report["summary"]["sync"]["held"], true);
        assert_eq!(report["summary"]["sync"]["deactivate"], serde_json::json!(["u0", "u1"]));
        assert!(rc.ok(&["user", "show", "u0"]).await.contains("active"));

        rc.ok(&["import", &file, "--sync", "--allow-large-deactivation"]).await;
        assert!(rc.ok(&["user", "show", "u0"]).await.contains("deactivated"));
        assert!(rc.ok(&["user", "show", "u2"]).await.contains("active"));

        // A sync-only flag without --sync is bad usage.
        let stray = rc.run(&["import", &file, "--reactivate"]).await;
        assert_eq!(stray.status.code(), Some(2));
    }
);

/// Output piped into a reader that stops early (`rollcall export users | head`) ends the
/// command quietly: no panic, no error about the pipe.
#[tokio::test]
async fn a_reader_that_stops_early_ends_the_command_quietly() {
    let rc = Rollcall::new(TestDb::sqlite());
    rc.ok(&["plan", "set", "enterprise", "--seats", "5000"]).await;
    let mut csv = String::from("username,email,first_name,last_name\n");
    for i in 0..3_000 {
        csv.push_str(&format!("reader{i:05},reader{i:05}@example.org,Reader,Number{i}\n"));
    }
    let file = write(&rc, "many.csv", &csv);
    rc.ok(&["import", &file, "--no-welcome"]).await;
    for args in [
        &["export", "users"][..],
        &["export", "users", "--format", "json"],
        &["user", "list"],
    ] {
        let mut child = rc
            .command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        out.next_line().await.unwrap().expect("a first line");
        drop(out); // the reader goes away, as `head -1` does
        let done = child.wait_with_output().await.unwrap();
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert!(done.status.success(), "{args:?}: {:?} {stderr}", done.status);
        assert!(stderr.is_empty(), "{args:?} says nothing about the pipe: {stderr}");
    }
}

both_backends!(
    a_dry_run_exits_as_its_commit_would_and_shows_each_change,
    |db: TestDb| async move {
        let rc = Rollcall::new(db);
        rc.ok(&["plan", "set", "enterprise", "--seats", "3"]).await;
        let first = write(
            &rc,
            "first.csv",
            "username,email,first_name,last_name\nada,ada@example.org,Ada,L\n",
        );
        rc.ok(&["import", &first, "--no-welcome"]).await;

        // Two seats free (ada holds the third), three new people: the commit is refused,
        // and so, with exit 1 and saying why, is its dry run.
        let three = write(
            &rc,
            "three.csv",
            "username,email,first_name,last_name\nb1,b1@example.org,B,1\nb2,b2@example.org,B,2\nb3,b3@example.org,B,3\n",
        );
        let dry = rc.run(&["import", &three, "--dry-run", "--format", "json"]).await;
        assert_eq!(dry.status.code(), Some(1), "{}", String::from_utf8_lossy(&dry.stderr));
        let stderr = String::from_utf8_lossy(&dry.stderr);
        assert!(
            stderr.contains("error: the import would be refused: this import needs 3 seats but only 2 are free"),
            "{stderr}"
        );
        let report: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
        assert_eq!(report["summary"]["refusal"]["code"], "seat_limit_reached", "{report}");
        assert_eq!(report["summary"]["created"], 0);
        assert_eq!(
            report["summary"]["skipped"], 3,
            "every row says it would not be written"
        );
        assert!(
            report["rows"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["outcome"] == "skipped"),
            "{report}"
        );
        let commit = rc.run(&["import", &three, "--no-welcome"]).await;
        assert_eq!(commit.status.code(), Some(1));
        let stdout = String::from_utf8_lossy(&commit.stdout);
        assert!(
            !stdout.contains("created"),
            "a refused commit prints no row as created: {stdout}"
        );

        // An update shows each field it changes; --update-only refuses a row naming nobody.
        let change = write(
            &rc,
            "change.csv",
            "username,email,first_name,last_name\nada,ada@new.example.org,Ada,Lovelace\nnobody,nobody@example.org,No,Body\n",
        );
        let dry = rc
            .run(&["import", &change, "--update-only", "--partial", "--dry-run"])
            .await;
        assert_eq!(dry.status.code(), Some(0), "{}", String::from_utf8_lossy(&dry.stderr));
        let table = String::from_utf8_lossy(&dry.stdout);
        let ada = table
            .lines()
            .find(|l| l.contains(" ada "))
            .unwrap_or_else(|| panic!("{table}"));
        assert!(ada.contains("updated"), "{ada}");
        assert!(ada.contains("email: ada@example.org → ada@new.example.org"), "{ada}");
        assert!(ada.contains("last_name: L → Lovelace"), "{ada}");
        let nobody = table.lines().find(|l| l.contains("nobody")).unwrap();
        assert!(
            nobody.contains("refused") && nobody.contains("only updates existing accounts"),
            "{nobody}"
        );
        rc.ok(&["import", &change, "--update-only", "--partial", "--no-welcome"])
            .await;
        let list = rc.ok(&["user", "list"]).await;
        assert!(
            list.contains("ada@new.example.org") && !list.contains("nobody"),
            "{list}"
        );
    }
);

both_backends!(
    a_full_talentlms_export_imports_with_its_extra_columns_named,
    |db: TestDb| async move {
        let rc = Rollcall::new(db);
        let export = write(
            &rc,
            "export.csv",
            "Login,Email,Firstname,Lastname,User type,Timezone,Last login,Language,custom_field:Employee ID\n\
         mcurie,marie@example.org,Marie,Curie,Learner-Type,(GMT+01:00) Paris,2026-11-03 14:02,fr,E-1\n",
        );
        // Refused as it stands, naming the way through.
        let e = rc.fails(&["import", &export]).await;
        assert!(
            e.contains("unknown column 'Timezone'") && e.contains("--ignore-unknown-columns"),
            "{e}"
        );
        let out = rc
            .run(&["import", &export, "--ignore-unknown-columns", "--no-welcome"])
            .await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains("columns read and not kept: Timezone, Last login, Language, custom_field:Employee ID"),
            "{stderr}"
        );
        let curie = rc.ok(&["user", "show", "mcurie", "--format", "json"]).await;
        let curie: serde_json::Value = serde_json::from_str(&curie).unwrap();
        assert_eq!(
            (curie["email"].as_str(), curie["user_type"].as_str()),
            (Some("marie@example.org"), Some("Learner")),
            "{curie}"
        );
        // The same over JSON, in the summary.
        let again = rc
            .run(&[
                "import",
                &export,
                "--ignore-unknown-columns",
                "--update-existing",
                "--format",
                "json",
            ])
            .await;
        let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
        assert_eq!(
            report["summary"]["ignored_columns"],
            serde_json::json!(["Timezone", "Last login", "Language", "custom_field:Employee ID"])
        );
    }
);

both_backends!(
    commands_that_queue_mail_without_a_base_url_say_so,
    |db: TestDb| async move {
        let rc = Rollcall::new(db);
        let csv = write(
            &rc,
            "one.csv",
            "username,email,first_name,last_name\nwen,wen@example.org,W,N\n",
        );
        let warning = "queued with no base URL configured";
        // Welcome mail queued, no base URL: the command says so, and still succeeds.
        let out = rc
            .command(&["import", &csv])
            .env_remove("ROLLCALL_BASE_URL")
            .output()
            .await
            .unwrap();
        assert!(out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("warning: 1 message was {warning}")),
            "{stderr}"
        );
        // No mail queued, or a base URL known: nothing to say.
        let out = rc
            .command(&["user", "list"])
            .env_remove("ROLLCALL_BASE_URL")
            .output()
            .await
            .unwrap();
        assert!(!String::from_utf8_lossy(&out.stderr).contains(warning));
        let csv = write(
            &rc,
            "two.csv",
            "username,email,first_name,last_name\nxu,xu@example.org,X,U\n",
        );
        let out = rc
            .command(&["import", &csv])
            .env("ROLLCALL_BASE_URL", "https://learn.example.org")
            .output()
            .await
            .unwrap();
        assert!(out.status.success());
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains(warning),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            rc.ok(&["mail", "list"])
                .await
                .lines()
                .filter(|l| l.contains("welcome"))
                .count(),
            2
        );
    }
);
