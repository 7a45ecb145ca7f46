//! The REST API over a real server (bound to 127.0.0.1:0, fresh database per test), on
//! SQLite and PostgreSQL.
#![allow(clippy::unwrap_used)] // test helpers unwrap: a failure is the test failing

mod audit;
mod behaviour;
mod console;
mod console_matrix;
mod daily_jobs;
mod idle;
mod imports;
mod links;
mod markup;
mod matrix;
mod openapi;
mod outage;
mod pages;
mod reach;
mod saml;
mod schemathesis;
mod scim;
mod scim_matrix;
mod scim_tester;
mod signin;

use rollcall_core::clock::ManualClock;
use rollcall_core::domain::{TokenScope, UserId};
use rollcall_core::service::{NewBranch, NewUser, UserKey};
use rollcall_core::{Context, Service};
use rollcall_server::mailer::{MailSender, MemoryTransport};
use rollcall_server::{App, Config};
use rollcall_testkit::{Deadline, TestDb, both_backends};
use serde_json::{Value, json};
use std::sync::Arc;

/// A running server, composed as `rollcall serve` composes it (`App::build`) but on a clock
/// the test moves, with mail kept in memory and sent when the test asks, and without the
/// first administrator (each test makes its own users); and its service for fixtures.
pub struct TestApp {
    pub base: String,
    /// The address the server is told it is reached at (`base_url`): `base`, unless the
    /// test puts it behind a TLS-terminating proxy.
    pub public_base: String,
    pub service: Service,
    /// The service's clock: it stands still until the test advances it.
    pub clock: Arc<ManualClock>,
    pub http: reqwest::Client,
    pub db: TestDb,
    mail: MailSender,
    outbox: Arc<MemoryTransport>,
    server: tokio::task::JoinHandle<()>,
    _audit_key_dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Another server on a [`TestApp`]'s database; stops when dropped.
pub struct Instance {
    pub base: String,
    pub service: Service,
    server: tokio::task::JoinHandle<()>,
}

impl Instance {
    /// Builds the server `builder` describes — mail kept in memory and sent on demand, no
    /// first administrator — and serves it on its own listener until dropped.
    pub async fn serve(builder: rollcall_server::app::AppBuilder) -> Instance {
        let app = builder
            .mail_transport(Arc::new(MemoryTransport::default()))
            .send_mail_on_demand()
            .without_first_admin()
            .build()
            .await
            .unwrap();
        let base = format!("http://{}", app.local_addr().unwrap());
        let service = app.service().clone();
        let server = tokio::spawn(async move { app.serve(std::future::pending()).await.unwrap() });
        Instance { base, service, server }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A server's configuration on the database at `url`: any free port on loopback, and the
/// key every test service shares, in a file of the directory returned (kept while it runs).
pub fn test_config(url: &str) -> (tempfile::TempDir, Config) {
    let audit_key_dir = tempfile::tempdir().unwrap();
    let key_file = audit_key_dir.path().join("rollcall.audit-key");
    let key = rollcall_core::audit::AuditKey::from_bytes(&rollcall_testkit::TEST_AUDIT_KEY).unwrap();
    rollcall_server::app::write_audit_key(&key_file, &key, 1).unwrap();
    let mut config = Config::for_database(url);
    config.listen = "127.0.0.1:0".into();
    config.audit_key_file = key_file;
    (audit_key_dir, config)
}

impl TestApp {
    pub async fn start(db: TestDb) -> TestApp {
        Self::start_at(db, None).await
    }

    /// As deployed behind a proxy that terminates TLS: the server's public address is
    /// `https://rollcall.test` while the test talks plain HTTP to it.
    pub async fn start_behind_tls(db: TestDb) -> TestApp {
        Self::start_at(db, Some("https://rollcall.test".into())).await
    }

    async fn start_at(db: TestDb, public: Option<String>) -> TestApp {
        let (audit_key_dir, mut config) = test_config(&db.url);
        config.base_url = public;
        let clock = Arc::new(ManualClock::starting_now());
        let outbox = Arc::new(MemoryTransport::default());
        let app = App::builder(config)
            .clock(clock.clone())
            .mail_transport(outbox.clone())
            .send_mail_on_demand()
            .without_first_admin()
            .build()
            .await
            .unwrap();
        let base = format!("http://{}", app.local_addr().unwrap());
        let public_base = app.base_url().to_owned();
        let service = app.service().clone();
        let mail = app.mail_sender().unwrap().clone();
        // The day's daily jobs run (and are audited) before the test begins, not while it
        // counts audit entries: the server's own first tick then finds them done.
        rollcall_server::jobs::run_once(&service).await;
        let server = tokio::spawn(async move { app.serve(std::future::pending()).await.unwrap() });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestApp {
            base,
            public_base,
            service,
            clock,
            http,
            db,
            mail,
            outbox,
            server,
            _audit_key_dir: audit_key_dir,
        }
    }

    /// A second server on the same database, key and clock, as a second `rollcall serve`
    /// is: its own service (and lease holder), its own listener and minute jobs.
    pub async fn another_instance(&self) -> Instance {
        let mut config = Config::for_database(&self.db.url);
        config.listen = "127.0.0.1:0".into();
        config.audit_key_file = self._audit_key_dir.path().join("rollcall.audit-key");
        Instance::serve(App::builder(config).clock(self.clock.clone())).await
    }

    pub async fn user(&self, name: &str, user_type: &str, branches: &[&str]) -> i64 {
        let input = NewUser {
            username: name.into(),
            email: format!("{name}@example.org"),
            first_name: "Test".into(),
            last_name: name.into(),
            user_type: Some(user_type.into()),
            branches: branches.iter().map(|b| b.to_string()).collect(),
            active: true,
            ..NewUser::default()
        };
        self.service
            .create_user(&Context::cli(), input)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .id
    }

    pub async fn branch(&self, name: &str) {
        self.service
            .add_branch(
                &Context::cli(),
                NewBranch {
                    name: name.into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }

    /// A SCIM token for the identity provider.
    pub async fn scim_token(&self, name: &str) -> String {
        self.service
            .create_token(&Context::cli(), name, TokenScope::Scim, None, None)
            .await
            .unwrap()
            .token
    }

    /// A SCIM request (`application/scim+json`); returns status and JSON body.
    pub async fn scim(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}/scim/v2{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.header("content-type", "application/scim+json").body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn token(&self, name: &str, user_id: i64) -> String {
        let key = UserKey::Id(UserId(user_id));
        self.service
            .create_token(&Context::cli(), name, TokenScope::Api, Some(&key), None)
            .await
            .unwrap()
            .token
    }

    /// POSTs a CSV body; returns status and JSON body.
    pub async fn csv(&self, path: &str, token: Option<&str>, body: String) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "text/csv")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (
            status,
            serde_json::from_str(&resp.text().await.unwrap()).unwrap_or(Value::Null),
        )
    }

    /// Has the server's mail sender send every due message now (links are minted as
    /// they go) and returns what went out, as (recipient, body).
    pub async fn deliver_mail(&self) -> Vec<(String, String)> {
        self.mail.send_due().await;
        self.outbox
            .take()
            .into_iter()
            .map(|m| (m.to.email.to_string(), m.body))
            .collect()
    }

    /// GETs `path` without a token; returns status and body text.
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let resp = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// A setup call that must succeed: fails the test unless the answer is 2xx; returns the
    /// body.
    pub async fn ok(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Value {
        let (status, answer) = self.call(method, path, token, body).await;
        assert!((200..300).contains(&status), "{method} {path}: {status} {answer}");
        answer
    }

    /// Sends a request; returns status and JSON body (Null when empty or not JSON).
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

both_backends!(health_and_readiness_answer_without_a_token, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    assert_eq!(app.get_text("/healthz").await.0, 200);
    assert_eq!(app.get_text("/readyz").await.0, 200);
    let (_, metrics) = app.get_text("/metrics").await;
    assert!(metrics.contains("rollcall_seat_limit 100"), "{metrics}");
    assert!(metrics.contains("rollcall_users{status=\"active\"} 0"));
    let (status, _) = app.call("GET", "/api/v1/users", None, None).await;
    assert_eq!(status, 401);
    let (_, md) = app.get_text("/saml/metadata").await;
    assert!(
        md.contains(&format!("entityID=\"{}/saml/metadata\"", app.base)) && md.contains("/saml/acs"),
        "{md}"
    );
    let (_, metrics) = app.get_text("/metrics").await;
    assert!(
        metrics.contains("rollcall_http_requests_total{method=\"GET\",route=\"/api/v1/users\",status=\"401\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rollcall_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/users\"} 1"),
        "{metrics}"
    );
    // The daily jobs ran once before the test began, each recorded as a run that went well.
    for job in ["seat-snapshot", "trash-purge", "idle-policy"] {
        let line = format!("rollcall_job_runs{{job=\"{job}\",outcome=\"ok\"}} 1");
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
    assert!(
        metrics.contains("rollcall_mail_outbox{status=\"pending\"} 0"),
        "{metrics}"
    );
    // Two welcome mails queued; one given up.
    app.user("ada", "learner", &[]).await;
    app.user("bob", "learner", &[]).await;
    app.db
        .execute("UPDATE mail_outbox SET status = 'dead' WHERE to_address = 'bob@example.org'")
        .await;
    let (_, metrics) = app.get_text("/metrics").await;
    assert!(
        metrics.contains("rollcall_mail_outbox{status=\"pending\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("rollcall_mail_outbox{status=\"dead\"} 1"), "{metrics}");
});
