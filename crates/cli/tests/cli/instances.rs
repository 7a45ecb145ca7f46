//! Two real `rollcall serve` processes on one PostgreSQL database behave as one server:
//! sessions, sign-in throttling, the seat limit, SAML requests and replays, and bulk jobs
//! are the database's, not a process's.

use super::serve::until_listening;
use super::*;
use serde_json::{Value, json};

struct Server {
    _child: tokio::process::Child,
    _stderr: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
    base: String,
}

async fn start(rc: &Rollcall) -> Server {
    start_with(rc, &[]).await
}

async fn start_with(rc: &Rollcall, env: &[(&str, &str)]) -> Server {
    let mut command = rc.command(&["serve", "--listen", "127.0.0.1:0"]);
    command
        .env("ROLLCALL_LOG", "warn")
        .env("ROLLCALL_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .envs(env.iter().copied());
    let (child, stderr, _, addr) = until_listening(command).await;
    Server {
        _child: child,
        _stderr: stderr,
        base: format!("http://{addr}"),
    }
}

const ADMIN_PASSWORD: &str = "a long first passphrase";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in over JSON; returns the status and, on success, the session cookie and the
/// session's CSRF token.
async fn sign_in(http: &reqwest::Client, at: &Server, login: &str, password: &str) -> (u16, Option<(String, String)>) {
    let resp = http
        .post(format!("{}/api/v1/auth/login", at.base))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("rollcall_session="))
        .map(|v| v.split(';').next().unwrap().to_owned());
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let session = cookie.map(|c| (c, body["csrf_token"].as_str().unwrap_or_default().to_owned()));
    (status, session)
}

/// The console's home page with `cookie`: 200 while the session lives, a redirect to the
/// sign-in page once it has ended.
async fn home(http: &reqwest::Client, at: &Server, cookie: &str) -> u16 {
    http.get(format!("{}/", at.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_act_as_one() {
    let Some(pg) = TestDb::postgres().await else { return };
    let rc = Rollcall::new(pg);
    let a = start(&rc).await;
    let b = start(&rc).await;
    let http = client();

    // A session made through one server works on the other, and ends on both.
    let (status, session) = sign_in(&http, &a, "admin", ADMIN_PASSWORD).await;
    assert_eq!(status, 200);
    let (cookie, csrf) = session.unwrap();
    assert_eq!(home(&http, &b, &cookie).await, 200, "a's session on b");
    let out = http
        .post(format!("{}/logout", b.base))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    for server in [&a, &b] {
        assert_eq!(home(&http, server, &cookie).await, 303, "signed out everywhere");
    }

    // Sign-in throttling counts the failures made on both.
    rc.run_with_stdin(
        &[
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
            "--password-stdin",
            "--no-welcome",
        ],
        "a rarely used phrase\n",
    )
    .await;
    for (i, server) in [&a, &b, &a, &b, &a].into_iter().enumerate() {
        assert_eq!(sign_in(&http, server, "ada", "a guess").await.0, 401, "guess {i}");
    }
    for server in [&b, &a] {
        assert_eq!(
            sign_in(&http, server, "ada", "a rarely used phrase").await.0,
            429,
            "five failures across both servers: the pair waits"
        );
    }

    // The last seat, raced for by 64 creates over four channels on both servers, 20 times:
    // exactly one wins each time, and nobody gets a 5xx.
    let api = rc
        .ok(&["token", "create", "--name", "api", "--scope", "api", "--user", "admin"])
        .await
        .trim()
        .to_owned();
    let scim = rc
        .ok(&["token", "create", "--name", "idp", "--scope", "scim"])
        .await
        .trim()
        .to_owned();
    let (_, session) = sign_in(&http, &a, "admin", ADMIN_PASSWORD).await;
    let (console, csrf) = session.unwrap();
    let servers = [&a, &b];
    for round in 0..20 {
        let used = seats_used(&rc).await;
        rc.ok(&["plan", "set", "enterprise", "--seats", &(used + 1).to_string()])
            .await;
        let attempts = (0..64).map(|i| {
            let (http, api, scim, console, csrf) = (&http, &api, &scim, &console, &csrf);
            let server = servers[i % 2];
            let name = format!("r{round:02}u{i:02}");
            async move { create(http, server, i % 4, &name, api, scim, console, csrf).await }
        });
        let outcomes = futures_util::future::join_all(attempts).await;
        let wins: Vec<&(usize, u16, bool)> = outcomes.iter().filter(|(_, _, won)| *won).collect();
        assert_eq!(wins.len(), 1, "round {round}: {outcomes:?}");
        assert!(
            outcomes.iter().all(|(_, status, _)| *status < 500),
            "round {round}: {outcomes:?}"
        );
        assert_eq!(seats_used(&rc).await, used + 1, "round {round}");
    }
    let active: Vec<Value> =
        serde_json::from_str(&rc.ok(&["user", "list", "--status", "active", "--format", "json"]).await).unwrap();
    assert_eq!(
        active.len() as i64,
        seats_used(&rc).await,
        "the counter is the active accounts"
    );
}

async fn seats_used(rc: &Rollcall) -> i64 {
    let seats: Value = serde_json::from_str(&rc.ok(&["report", "seats", "--format", "json"]).await).unwrap();
    seats["used"].as_i64().unwrap()
}

/// One create through channel `channel` (0 REST, 1 SCIM, 2 the console's form, 3 a CSV
/// import): (channel, status, whether it created the account). A refusal must be the
/// seat limit's, in the channel's words.
#[allow(clippy::too_many_arguments)]
async fn create(
    http: &reqwest::Client,
    at: &Server,
    channel: usize,
    name: &str,
    api: &str,
    scim: &str,
    console: &str,
    csrf: &str,
) -> (usize, u16, bool) {
    let email = format!("{name}@example.org");
    let resp = match channel {
        0 => http
            .post(format!("{}/api/v1/users", at.base))
            .bearer_auth(api)
            .json(
                &json!({"username": name, "email": email, "first_name": "R", "last_name": name, "send_welcome": false}),
            )
            .send(),
        1 => http
            .post(format!("{}/scim/v2/Users", at.base))
            .bearer_auth(scim)
            .header("content-type", "application/scim+json")
            .body(
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": name,
                    "name": {"givenName": "R", "familyName": name},
                    "emails": [{"value": email, "primary": true}],
                    "active": true
                })
                .to_string(),
            )
            .send(),
        2 => http
            .post(format!("{}/admin/users/new", at.base))
            .header("cookie", console)
            .form(&[
                ("csrf", csrf),
                ("username", name),
                ("email", &email),
                ("first_name", "R"),
                ("last_name", name),
            ])
            .send(),
        _ => http
            .post(format!("{}/api/v1/imports?send_welcome=false", at.base))
            .bearer_auth(api)
            .header("content-type", "text/csv")
            .body(format!(
                "username,email,first_name,last_name\n{name},{email},R,{name}\n"
            ))
            .send(),
    };
    let resp = resp.await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    let won = match (channel, status) {
        (0 | 1, 201) | (2, 303) => true,
        (3, 200) => {
            let v: Value = serde_json::from_str(&body).unwrap();
            v["summary"]["written"] == true
        }
        _ => false,
    };
    if !won {
        let seat_refusal = match channel {
            0 => status == 422 && body.contains("seat_limit_reached"),
            1 => status == 403 && body.contains("seat"),
            2 => status == 422 && body.to_lowercase().contains("seat"),
            _ => (status == 200 || status == 422) && body.to_lowercase().contains("seat"),
        };
        assert!(seat_refusal, "channel {channel}: {status} {body}");
    }
    (channel, status, won)
}

/// The address both servers stand behind, as a load balancer would publish it.
const PUBLIC_BASE: &str = "https://rollcall.test.example";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_saml_sign_ins_and_bulk_jobs() {
    use base64::Engine as _;
    use rollcall_saml::test_idp::{ResponseSpec, TestIdp};
    use std::io::Read as _;

    let Some(pg) = TestDb::postgres().await else { return };
    let rc = Rollcall::new(pg);
    let idp = TestIdp::new();
    let metadata = rc.dir.path().join("idp.xml");
    std::fs::write(&metadata, idp.metadata()).unwrap();
    let env = [("ROLLCALL_BASE_URL", PUBLIC_BASE)];
    let a = start_with(&rc, &env).await;
    rc.ok(&["sso", "set", "--idp-metadata", metadata.to_str().unwrap(), "--jit"])
        .await;
    let b = start_with(&rc, &env).await;
    let http = client();

    // A sign-in started on a: the AuthnRequest's id, and the cookie binding it to this
    // browser.
    let started = http.get(format!("{}/saml/login", a.base)).send().await.unwrap();
    assert_eq!(started.status(), 303);
    let binding = started
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("rollcall_saml_request="))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .expect("the request's cookie");
    let location = reqwest::Url::parse(started.headers()["location"].to_str().unwrap()).unwrap();
    let request = location
        .query_pairs()
        .find(|(k, _)| k == "SAMLRequest")
        .map(|(_, v)| v.into_owned())
        .expect("a SAMLRequest");
    let deflated = base64::engine::general_purpose::STANDARD.decode(request).unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&deflated[..])
        .read_to_string(&mut xml)
        .unwrap();
    let id_at = xml.find(" ID=\"").unwrap() + 5;
    let request_id = xml[id_at..id_at + xml[id_at..].find('"').unwrap()].to_owned();

    // The IdP answers; the load balancer sends the answer to b.
    let mut spec = ResponseSpec::new(
        &idp,
        &format!("{PUBLIC_BASE}/saml/metadata"),
        &format!("{PUBLIC_BASE}/saml/acs"),
        "sam",
        chrono::Utc::now(),
    );
    spec.in_response_to = Some(request_id);
    spec.name_id_format = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into();
    spec.attributes = vec![
        ("email".into(), "sam@example.org".into()),
        ("firstName".into(), "Sam".into()),
        ("lastName".into(), "Shore".into()),
    ];
    let answer = idp.post_body(&idp.response(&spec));
    let post = |at: &Server| {
        http.post(format!("{}/saml/acs", at.base))
            .header("cookie", &binding)
            .form(&[("SAMLResponse", answer.as_str())])
            .send()
    };
    let completed = post(&b).await.unwrap();
    assert_eq!(completed.status(), 303, "b completes a's sign-in");
    let session = completed
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("rollcall_session="))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .expect("a session from b");
    assert_eq!(home(&http, &a, &session).await, 200, "b's SAML session on a");
    // The same answer again, on the instance that started the sign-in: refused, no session.
    let replay = post(&a).await.unwrap();
    assert!(
        replay.status().is_client_error(),
        "a replay on a is refused: {}",
        replay.status()
    );
    assert!(
        !replay.headers().get_all("set-cookie").iter().any(|v| v
            .to_str()
            .is_ok_and(|v| v.contains("rollcall_session=") && !v.contains("Max-Age=0"))),
        "the replay made no session"
    );

    // A bulk job started through a, polled through b: each user's change made once.
    let api = rc
        .ok(&["token", "create", "--name", "api", "--scope", "api", "--user", "admin"])
        .await
        .trim()
        .to_owned();
    let people = 150;
    let mut csv = String::from("username,email,first_name,last_name,branches\n");
    for i in 0..people {
        csv.push_str(&format!("bulk{i:03},bulk{i:03}@example.org,B,{i},\n"));
    }
    let file = rc.dir.path().join("bulk.csv");
    std::fs::write(&file, csv).unwrap();
    rc.ok(&["plan", "set", "enterprise", "--seats", "1000"]).await;
    rc.ok(&["import", file.to_str().unwrap(), "--no-welcome"]).await;
    let accepted = http
        .post(format!("{}/api/v1/users/bulk", a.base))
        .bearer_auth(&api)
        .json(&json!({"action": "deactivate", "filter": {"q": "bulk"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202, "{people} users run as a job");
    let job: Value = accepted.json().await.unwrap();
    let deadline = Deadline::after(std::time::Duration::from_secs(120), "the bulk job to finish");
    let done = loop {
        deadline.check();
        let polled: Value = http
            .get(format!("{}{}", b.base, job["status_url"].as_str().unwrap()))
            .bearer_auth(&api)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if polled["status"] != "running" {
            break polled;
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(
        (done["done"].as_i64(), done["failed"].as_i64()),
        (Some(people), Some(0)),
        "{done}"
    );
    let log: Vec<Value> =
        serde_json::from_str(&rc.ok(&["audit", "list", "--limit", "10000", "--format", "json"]).await).unwrap();
    let deactivations = log.iter().filter(|e| e["action"] == "user.deactivate").count();
    assert_eq!(
        deactivations as i64, people,
        "each user deactivated once, by one instance"
    );
}
