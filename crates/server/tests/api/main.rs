//! The REST API over a real server (bound to 127.0.0.1:0, fresh database per test), on
//! SQLite and PostgreSQL.
#![allow(clippy::unwrap_used)] // test helpers unwrap: a failure is the test failing

mod audit;
mod behaviour;
mod console;
mod imports;
mod links;
mod matrix;
mod openapi;
mod reach;
mod saml;
mod scim;
mod scim_tester;
mod signin;

use rollcall_core::domain::{TokenScope, UserId};
use rollcall_core::service::{NewBranch, NewUser, UserKey};
use rollcall_core::{Context, Service};
use rollcall_store::SqlStore;
use rollcall_testkit::{TestDb, both_backends};
use serde_json::{Value, json};
use std::sync::Arc;

/// A running server and a service on the same database for setting up fixtures.
pub struct TestApp {
    pub base: String,
    /// The address the server is told it is reached at (`base_url`): `base`, unless the
    /// test puts it behind a TLS-terminating proxy.
    pub public_base: String,
    pub service: Service,
    pub http: reqwest::Client,
    pub db: TestDb,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
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
        let store = SqlStore::connect(&db.url).await.unwrap();
        store.migrate().await.unwrap();
        let key = rollcall_core::audit::AuditKey::from_bytes(&rollcall_testkit::TEST_AUDIT_KEY).unwrap();
        let service = Service::new(Arc::new(store)).with_audit_key(key);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let public_base = public.unwrap_or_else(|| base.clone());
        let server = tokio::spawn({
            let service = service.clone();
            let base_url = public_base.clone();
            async move {
                rollcall_server::serve(listener, service, &base_url, std::future::pending())
                    .await
                    .unwrap();
            }
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestApp {
            base,
            public_base,
            service,
            http,
            db,
            server,
        }
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

    /// Delivers every due message as `rollcall serve`'s sender would (links are minted
    /// now) and returns what went out, as (recipient, body).
    pub async fn deliver_mail(&self) -> Vec<(String, String)> {
        let mut sent = vec![];
        loop {
            let batch = self.service.system().claim_due_mail(50).await.unwrap();
            if batch.is_empty() {
                return sent;
            }
            for m in batch {
                sent.push((m.to_address.clone(), m.body.clone()));
                self.service.system().mail_delivered(m).await.unwrap();
            }
        }
    }

    /// GETs `path` without a token; returns status and body text.
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let resp = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
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
});
