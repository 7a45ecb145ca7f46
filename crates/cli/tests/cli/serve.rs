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
    let addr = loop {
        let line = lines.next_line().await.unwrap().expect("serve exited before listening");
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
    loop {
        let line = lines.next_line().await.unwrap().expect("serve exited before listening");
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
