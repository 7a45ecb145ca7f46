//! `rollcall serve`: first-start administrator, `listening on`, health, SIGTERM.

use super::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// A minimal HTTP/1.1 GET; returns the status code and body.
async fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    let status = resp.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

both_backends!(serve_starts_answers_and_stops_on_sigterm, |db: TestDb| async move {
    let rc = Rollcall::new(db);
    let mut child = rc
        .command(&["serve", "--listen", "127.0.0.1:0"])
        .env("ROLLCALL_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut password = None;
    let started = Deadline::after(std::time::Duration::from_secs(60), "serve to say where it listens");
    let addr = loop {
        let line = started
            .run(lines.next_line())
            .await
            .unwrap()
            .expect("serve exited before listening");
        if let Some(rest) = line.strip_prefix("created administrator 'admin' with password: ") {
            password = rest.split_whitespace().next().map(str::to_owned);
        }
        if let Some(a) = line.strip_prefix("listening on http://") {
            break a.to_owned();
        }
    };
    assert_eq!(
        password.as_ref().map(String::len),
        Some(24),
        "a random first password is printed once"
    );
    assert_eq!(get(&addr, "/healthz").await.0, 200);
    assert_eq!(get(&addr, "/readyz").await, (200, "ready\n".into()));
    assert_eq!(get(&addr, "/nowhere").await.0, 404);

    let pid = child.id().unwrap().to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM drains and exits 0");

    let admin = rc.ok(&["user", "show", "admin"]).await;
    assert!(admin.contains("Administrator") && admin.contains("active"), "{admin}");

    // A second start finds the administrator and creates none.
    let mut again = rc
        .command(&["serve", "--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(again.stderr.take().unwrap()).lines();
    let started = Deadline::after(std::time::Duration::from_secs(60), "serve to say where it listens");
    loop {
        let line = started
            .run(lines.next_line())
            .await
            .unwrap()
            .expect("serve exited before listening");
        assert!(!line.contains("created administrator"), "{line}");
        if line.starts_with("listening on http://") {
            break;
        }
    }
    tokio::process::Command::new("kill")
        .args(["-TERM", &again.id().unwrap().to_string()])
        .status()
        .await
        .unwrap();
    assert_eq!(again.wait().await.unwrap().code(), Some(0));
});

/// The README's quick start, run as written: only `cargo run --release -q --` becomes the
/// binary under test and the port becomes the one the server got.
#[tokio::test]
async fn the_readme_quick_start_works() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let block = readme
        .split("<!-- quickstart -->\n```sh\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let rc = Rollcall::new(TestDb::sqlite());
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollcall"));
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(rc.dir.path())
        .env_remove("ROLLCALL_DATABASE_URL")
        .env("ROLLCALL_ADMIN_PASSWORD", "choose-a-long-passphrase");
    let (mut server, _stderr, _, addr) = until_listening(command).await;
    let script = block
        .replace(
            "cargo run --release -q --",
            &format!("'{}'", env!("CARGO_BIN_EXE_rollcall")),
        )
        .replace("127.0.0.1:8080", &addr);
    assert!(!script.contains("cargo"), "every command of the quick start is run");
    let out = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &format!("{script}\n")])
        .current_dir(rc.dir.path())
        .env_remove("ROLLCALL_DATABASE_URL")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(r#""username":"admin""#), "{stdout}");
    assert!(
        stdout.contains(r#""username":"ada""#) && stdout.contains(r#""user_type":"Instructor""#),
        "{stdout}"
    );
    assert!(stdout.contains(r#""status":"deactivated""#), "{stdout}");
    assert!(
        stdout.contains(r#""used":1"#),
        "the seat report shows ada's seat freed: {stdout}"
    );
    server.kill().await.unwrap();
}

/// A bad setting stops the process before anything starts, saying where it came from.
#[tokio::test]
async fn a_bad_setting_is_refused_naming_its_source() {
    let rc = Rollcall::new(TestDb::sqlite());
    std::fs::write(rc.dir.path().join("rollcall.toml"), "listen = 'nowhere'\n").unwrap();
    let from_file = rc.fails(&["serve"]).await;
    assert!(
        from_file.starts_with("error: listen in rollcall.toml is not an address"),
        "{from_file}"
    );
    let out = rc
        .command(&["serve"])
        .env("ROLLCALL_LISTEN", "127.0.0.1:http")
        .output()
        .await
        .unwrap();
    let from_env = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        from_env.starts_with("error: ROLLCALL_LISTEN is not an address"),
        "{from_env}"
    );
    let from_flag = rc.fails(&["serve", "--listen", "8080"]).await;
    assert!(
        from_flag.starts_with("error: --listen is not an address"),
        "{from_flag}"
    );
    std::fs::write(
        rc.dir.path().join("rollcall.toml"),
        "smtp_url = 'smtp://mail.internal:25'\nlistn = 'x'\n",
    )
    .unwrap();
    let unknown = rc.fails(&["user", "list"]).await;
    assert!(unknown.starts_with("error: rollcall.toml is not valid"), "{unknown}");
}

/// Logs written to a pipe (a file, a journal) carry no terminal colour codes.
#[tokio::test]
async fn logs_to_a_pipe_have_no_colour_codes() {
    let rc = Rollcall::new(TestDb::sqlite());
    let mut command = rc.command(&["serve", "--listen", "127.0.0.1:0"]);
    command
        .env("ROLLCALL_LOG", "debug")
        .env("ROLLCALL_ADMIN_PASSWORD", "choose-a-long-passphrase");
    let (_server, _stderr, logged, _) = until_listening(command).await;
    assert!(
        logged.iter().any(|l| l.contains("DEBUG") || l.contains("INFO")),
        "debug logging wrote lines before listening: {logged:?}"
    );
    assert!(
        logged.iter().all(|l| !l.contains('\u{1b}')),
        "no escape codes: {logged:?}"
    );
}

/// `ROLLCALL_LOG_FORMAT=json`: every line on stderr is one JSON object — but for `listening
/// on` and the first administrator's one-time notice — and lines written while serving a
/// request carry its id.
#[tokio::test]
async fn json_logs_are_one_object_per_line_carrying_the_request_id() {
    let rc = Rollcall::new(TestDb::sqlite());
    let refused = rc
        .command(&["serve", "--listen", "127.0.0.1:0"])
        .env("ROLLCALL_LOG_FORMAT", "xml")
        .output()
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(
        said.contains("ROLLCALL_LOG_FORMAT") && said.contains("text or json"),
        "{said}"
    );

    let mut command = rc.command(&["serve", "--listen", "127.0.0.1:0"]);
    command
        .env("ROLLCALL_LOG_FORMAT", "json")
        .env("ROLLCALL_LOG", "info,tower_http=debug");
    let (_server, mut stderr, before, addr) = until_listening(command).await;
    let object = |line: &str| -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
        assert!(
            v.is_object() && v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
        v
    };
    let notices = before.iter().filter(|l| l.starts_with("created administrator")).count();
    assert_eq!(notices, 1, "{before:?}");
    assert!(before.len() > notices, "the start logged something: {before:?}");
    for line in before.iter().filter(|l| !l.starts_with("created administrator")) {
        object(line);
    }
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(
        format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nx-request-id: req-4711\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let logged = Deadline::after(std::time::Duration::from_secs(30), "the request to be logged");
    loop {
        let line = logged.run(stderr.next_line()).await.unwrap().expect("serve exited");
        let v = object(&line);
        if line.contains("req-4711") {
            assert_eq!(v["span"]["request_id"], "req-4711", "{line}");
            assert_eq!(v["span"]["path"], "/healthz", "{line}");
            break;
        }
    }
}

/// The first administrator's email comes from `ROLLCALL_ADMIN_EMAIL` at the first start; a
/// bad one stops the start, naming the variable.
#[tokio::test]
async fn the_first_administrators_email_is_configurable() {
    let rc = Rollcall::new(TestDb::sqlite());
    let out = rc
        .command(&["serve", "--listen", "127.0.0.1:0"])
        .env("ROLLCALL_ADMIN_EMAIL", "not-an-email")
        .output()
        .await
        .unwrap();
    let refused = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{refused}");
    assert!(
        refused.starts_with("error: ROLLCALL_ADMIN_EMAIL is not an email address"),
        "{refused}"
    );
    let mut command = rc.command(&["serve", "--listen", "127.0.0.1:0"]);
    command
        .env("ROLLCALL_ADMIN_EMAIL", "ops@example.org")
        .env("ROLLCALL_ADMIN_PASSWORD", "choose-a-long-passphrase");
    let _server = until_listening(command).await;
    let admin = rc.ok(&["user", "show", "admin"]).await;
    assert!(admin.contains("ops@example.org"), "{admin}");
}

/// A `serve` child, the reader of its stderr (kept open: a server writing to a closed pipe
/// fails), the lines it wrote before listening, and the address it listens on.
pub(crate) type Listening = (
    tokio::process::Child,
    tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
    Vec<String>,
    String,
);

/// Starts `serve` (its stderr piped) and reads its stderr until it says where it listens.
pub(crate) async fn until_listening(mut command: tokio::process::Command) -> Listening {
    let mut server = command
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let started = Deadline::after(std::time::Duration::from_secs(60), "serve to say where it listens");
    let mut before = vec![];
    loop {
        let line = started
            .run(lines.next_line())
            .await
            .unwrap()
            .expect("serve exited before listening");
        if let Some(addr) = line.strip_prefix("listening on http://") {
            return (server, lines, before, addr.to_owned());
        }
        before.push(line);
    }
}
