//! Failing dependencies: the database going away (down, refusing connections, sessions
//! terminated) and the SMTP server being down. Nothing is lost, clients are told to come
//! back (503 with `Retry-After`, never the cause), and service resumes without a restart.

use super::*;
use std::net::SocketAddr;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;

/// A TCP forwarder between the server and PostgreSQL that the test can take down (its
/// port refuses connections, and every forwarded connection is cut) and bring back up on
/// the same port.
struct Switch {
    addr: SocketAddr,
    upstream: SocketAddr,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl Switch {
    async fn to(upstream: SocketAddr) -> Switch {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = free.local_addr().unwrap();
        drop(free);
        let mut s = Switch {
            addr,
            upstream,
            running: None,
        };
        s.up();
        s
    }

    fn up(&mut self) {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(self.addr).unwrap();
        let listener = socket.listen(64).unwrap();
        let upstream = self.upstream;
        self.running = Some(tokio::spawn(async move {
            // Dropped with the task: aborting it closes the listener and every connection.
            let mut connections = JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        }));
    }

    async fn down(&mut self) {
        if let Some(task) = self.running.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

/// `url` with its `host:port` replaced by `addr`.
fn via(url: &str, addr: SocketAddr) -> (String, SocketAddr) {
    let start = url.find('@').map_or_else(|| url.find("://").unwrap() + 3, |at| at + 1);
    let end = start + url[start..].find('/').unwrap();
    let upstream: SocketAddr = url[start..end]
        .replace("localhost", "127.0.0.1")
        .parse()
        .expect("the test PostgreSQL URL names host:port");
    (format!("{}{addr}{}", &url[..start], &url[end..]), upstream)
}

async fn get(http: &reqwest::Client, url: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = http.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// Every channel's answer while the database can't be reached: 503, `Retry-After`, and no
/// word of what broke.
async fn assert_unavailable(http: &reqwest::Client, base: &str, api: &str, scim: &str) {
    for (url, token) in [
        (format!("{base}/api/v1/users"), Some(api)),
        (format!("{base}/scim/v2/Users"), Some(scim)),
        (format!("{base}/readyz"), None),
    ] {
        let resp = get(http, &url, token).await;
        assert_eq!(resp.status(), 503, "{url}");
        if token.is_some() {
            assert!(resp.headers().contains_key("retry-after"), "{url}: no Retry-After");
        }
        let body = resp.text().await.unwrap();
        for internal in ["refused", "5432", "sqlx", "PoolTimedOut", "os error", "127.0.0.1"] {
            assert!(!body.contains(internal), "{url} tells {internal}: {body}");
        }
    }
}

/// Waits, within a deadline, until the users list answers 200 again; no answer on the way
/// may be a 500.
async fn until_served(http: &reqwest::Client, base: &str, api: &str) {
    let deadline = Deadline::after(std::time::Duration::from_secs(60), "service resumes");
    loop {
        deadline.check();
        let status = get(http, &format!("{base}/api/v1/users"), Some(api)).await.status();
        match status.as_u16() {
            200 => return,
            503 => tokio::task::yield_now().await,
            other => panic!("while the database returns: {other}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_answered_503_and_passes_without_a_restart() {
    let Some(db) = TestDb::postgres().await else { return };
    let (_, upstream) = via(&db.url, "127.0.0.1:1".parse().unwrap());
    let mut switch = Switch::to(upstream).await;
    let (proxied, _) = via(&db.url, switch.addr);
    let (_key_dir, config) = test_config(&proxied);
    let server = Instance::serve(App::builder(config)).await;
    let (base, service) = (server.base.clone(), server.service.clone());
    let ctx = Context::cli();
    let admin = service
        .create_user(
            &ctx,
            NewUser {
                username: "root".into(),
                email: "root@example.org".into(),
                first_name: "R".into(),
                last_name: "Oot".into(),
                user_type: Some("administrator".into()),
                active: true,
                ..NewUser::default()
            },
        )
        .await
        .unwrap();
    let api = service
        .create_token(&ctx, "api", TokenScope::Api, Some(&UserKey::Id(UserId(admin.id))), None)
        .await
        .unwrap()
        .token;
    let scim = service
        .create_token(&ctx, "idp", TokenScope::Scim, None, None)
        .await
        .unwrap()
        .token;
    let http = reqwest::Client::new();
    until_served(&http, &base, &api).await;

    // PostgreSQL ends every session of the database (a restart, an administrator).
    db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .await;
    until_served(&http, &base, &api).await;

    // Down: connections refused, the open ones cut.
    switch.down().await;
    assert_unavailable(&http, &base, &api, &scim).await;
    // Writes are refused the same way, and none is half made.
    let resp = http
        .post(format!("{base}/api/v1/users"))
        .bearer_auth(&api)
        .json(&json!({"username": "ada", "email": "ada@example.org", "first_name": "A", "last_name": "L"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{body}");

    // Back up: served again by the same process.
    switch.up();
    until_served(&http, &base, &api).await;
    assert_eq!(get(&http, &format!("{base}/readyz"), None).await.status(), 200);
    assert_eq!(
        get(&http, &format!("{base}/scim/v2/Users"), Some(&scim)).await.status(),
        200
    );
    let users: Value = get(&http, &format!("{base}/api/v1/users"), Some(&api))
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["root"], "the refused create wrote nothing");
}

/// The SMTP sink from the CLI tests, on `port`; `None` (skip) without aiosmtpd outside CI.
async fn smtp_sink_on(
    port: u16,
) -> Option<(
    tokio::process::Child,
    tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
)> {
    if !rollcall_testkit::python_has("aiosmtpd") {
        return None;
    }
    let python = rollcall_testkit::python();
    let mut child = tokio::process::Command::new(python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../cli/tests/cli/smtp_sink.py"))
        .arg(port.to_string())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().expect("the sink prints its port");
    assert_eq!(first, format!("PORT {port}"));
    Some((child, lines))
}

both_backends!(mail_waits_out_an_smtp_outage, |db: TestDb| async move {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let (_key_dir, mut config) = test_config(&db.url);
    config.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
    let clock = Arc::new(ManualClock::starting_now());
    let app = App::builder(config)
        .clock(clock.clone())
        .send_mail_on_demand()
        .without_first_admin()
        .build()
        .await
        .unwrap();
    let service = app.service().clone();
    let mail = app.mail_sender().expect("SMTP is configured").clone();
    let ctx = Context::cli();
    service
        .create_user(
            &ctx,
            NewUser {
                username: "ada".into(),
                email: "ada@example.org".into(),
                first_name: "Ada".into(),
                last_name: "L".into(),
                active: true,
                ..NewUser::default()
            },
        )
        .await
        .unwrap();
    // Nothing listens on the SMTP port: the welcome stays queued, with the reason.
    assert_eq!(mail.send_due().await, 0);
    let queued = service.list_mail(&ctx, 10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(
        (queued[0].status.as_str(), queued[0].attempts),
        ("pending", 1),
        "{:?}",
        queued[0]
    );
    assert!(queued[0].last_error.is_some());

    let Some((_sink, mut received)) = smtp_sink_on(port).await else {
        return;
    };
    // Not before its next attempt is due …
    assert_eq!(mail.send_due().await, 0);
    clock.advance(61_000);
    // … and then it goes out, once.
    assert_eq!(mail.send_due().await, 1);
    let from = received.next_line().await.unwrap().unwrap();
    assert!(from.contains("TO ada@example.org"), "{from}");
    let sent = service.list_mail(&ctx, 10).await.unwrap();
    assert_eq!(sent[0].status, "sent");
    clock.advance(3_600_000);
    assert_eq!(mail.send_due().await, 0, "sent mail is not sent again");
});
