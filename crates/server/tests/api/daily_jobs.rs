//! The daily jobs over the REST API, and two servers on one database running each job
//! once a day.

use super::*;
use rollcall_core::domain::{DAY_MS, DailyJob, format_millis};
use rollcall_core::service::JOB_LEASE_MS;

/// The day `ms` falls on (UTC, the default time zone), as YYYY-MM-DD.
fn day(ms: i64) -> String {
    format_millis(ms)[..10].to_owned()
}

/// `job.run` audit entries: (job, period) pairs, sorted.
async fn job_runs(app: &TestApp, token: &str) -> Vec<(String, String)> {
    let (status, log) = app
        .call("GET", "/api/v1/audit?action=job.run&limit=1000", Some(token), None)
        .await;
    assert_eq!(status, 200, "{log}");
    let mut runs: Vec<(String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["target"].as_str().unwrap().to_owned(),
                e["changes"]["period"].as_str().unwrap_or("manual").to_owned(),
            )
        })
        .collect();
    runs.sort();
    runs
}

async fn run_job(app: &TestApp, token: &str, job: &str, dry: bool) -> Value {
    let (status, report) = app
        .call(
            "POST",
            &format!("/api/v1/daily-jobs/{job}/run"),
            Some(token),
            Some(json!({ "dry_run": dry })),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    report
}

both_backends!(daily_jobs_are_listed_and_run_over_the_api, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let root = app.user("root", "administrator", &[]).await;
    let token = app.token("t", root).await;
    let learner = app.user("ada", "learner", &[]).await;
    let learner_token = app.token("l", learner).await;

    let (status, jobs) = app.call("GET", "/api/v1/daily-jobs", Some(&token), None).await;
    assert_eq!(status, 200, "{jobs}");
    let names: Vec<&str> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "scheduled-lifecycle",
            "trash-purge",
            "seat-snapshot",
            "idle-policy",
            "seat-alerts"
        ]
    );
    let mut keys: Vec<&String> = jobs[0].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["last_run", "name", "next_run", "outcome"]);
    assert_eq!(
        app.call("GET", "/api/v1/daily-jobs", Some(&learner_token), None)
            .await
            .0,
        403
    );

    // Leave of absence: from tomorrow, back in four days.
    let now = app.service.system().now();
    let (from, back) = (day(now + DAY_MS), day(now + 4 * DAY_MS));
    let path = format!("/api/v1/users/{learner}");
    let (status, body) = app
        .call("PATCH", &path, Some(&token), Some(json!({ "reactivate_at": "soon" })))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().starts_with("reactivate_at:"),
        "{body}"
    );
    let (status, body) = app
        .call(
            "PATCH",
            &path,
            Some(&token),
            Some(json!({ "deactivate_at": from, "reactivate_at": back })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reactivate_at"], format!("{back}T00:00:00.000Z"));

    let run = async |job: &str, dry: bool| run_job(&app, &token, job, dry).await;
    let status_of = async |app: &TestApp| app.call("GET", &path, Some(&token), None).await.1["status"].clone();

    app.clock.advance(DAY_MS);
    let dry = run("scheduled-lifecycle", true).await;
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["actions"][0]["action"], "deactivate");
    assert_eq!(dry["actions"][0]["target"], "ada");
    assert_eq!(status_of(&app).await, "active", "a dry run writes nothing");
    let done = run("scheduled-lifecycle", false).await;
    assert_eq!(
        (done["outcome"].as_str(), done["actions"][0]["action"].as_str()),
        (Some("ok"), Some("deactivate"))
    );
    assert_eq!(status_of(&app).await, "deactivated");

    app.clock.advance(3 * DAY_MS);
    let done = run("scheduled-lifecycle", false).await;
    assert_eq!(done["actions"][0]["action"], "reactivate");
    assert_eq!(status_of(&app).await, "active");

    let (status, jobs) = app.call("GET", "/api/v1/daily-jobs", Some(&token), None).await;
    assert_eq!(status, 200);
    assert_eq!(jobs[0]["outcome"], "ok");
    assert!(jobs[0]["last_run"].is_string());

    let (status, body) = app
        .call("POST", "/api/v1/daily-jobs/nightly/run", Some(&token), Some(json!({})))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("job: unknown job 'nightly'"),
        "{body}"
    );
    let audit = job_runs(&app, &token).await;
    assert!(
        audit
            .iter()
            .filter(|(job, period)| job == "scheduled-lifecycle" && period == "manual")
            .count()
            == 2,
        "each run that wrote is audited: {audit:?}"
    );
});

both_backends!(two_servers_run_each_daily_job_once_a_day, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    // Midday, away from the jobs hour (03:00): the lease running out below must not carry
    // the clock into the next day, whatever the time the test runs at. The servers' first
    // ticks, at start, may have run the day due before it.
    let now = app.service.system().now();
    let at_start = app.service.schedule().due_period(now).to_string();
    let mut noon = now - now.rem_euclid(DAY_MS) + DAY_MS / 2;
    if noon <= now {
        noon += DAY_MS;
    }
    app.clock.set(noon);
    let other = app.another_instance().await;
    let root = app.user("root", "administrator", &[]).await;
    let token = app.token("t", root).await;
    let mut periods = std::collections::BTreeSet::new();
    for _ in 0..3 {
        periods.insert(
            app.service
                .schedule()
                .due_period(app.service.system().now())
                .to_string(),
        );
        // Both servers' minute ticks, at once, a few times.
        for _ in 0..3 {
            tokio::join!(
                rollcall_server::jobs::run_once(&app.service),
                rollcall_server::jobs::run_once(&other.service)
            );
        }
        app.clock.advance(DAY_MS);
    }

    // Instance one stops during the next day's purge; the other takes it over once the
    // lease has run out, and the day is still run once.
    periods.insert(
        app.service
            .schedule()
            .due_period(app.service.system().now())
            .to_string(),
    );
    let abandoned = app
        .service
        .system()
        .begin_daily_run(DailyJob::TrashPurge)
        .await
        .unwrap()
        .expect("the day is due");
    drop(abandoned);
    rollcall_server::jobs::run_once(&other.service).await;
    let (status, jobs) = app.call("GET", "/api/v1/daily-jobs", Some(&token), None).await;
    assert_eq!(status, 200);
    assert_eq!(jobs[1]["outcome"], "running", "{jobs}");
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/daily-jobs/trash-purge/run",
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 409, "never two runs of one job at once: {body}");
    assert_eq!(body["error"]["code"], "job_running");
    app.clock.advance(JOB_LEASE_MS + 1);
    tokio::join!(
        rollcall_server::jobs::run_once(&app.service),
        rollcall_server::jobs::run_once(&other.service)
    );

    let runs = job_runs(&app, &token).await;
    let mut expected = vec![];
    for job in DailyJob::ALL {
        for p in &periods {
            expected.push((job.name().to_owned(), p.clone()));
        }
    }
    expected.sort();
    let mut once = runs.clone();
    once.dedup();
    assert_eq!(runs, once, "no job ran twice for one day");
    let runs: Vec<_> = runs
        .into_iter()
        .filter(|(_, p)| periods.contains(p) || *p != at_start)
        .collect();
    assert_eq!(runs, expected, "each job once per day, counted in the audit log");
});

both_backends!(the_console_schedules_a_leave_and_runs_a_job, |db: TestDb| async move {
    use super::signin::{login, session_cookie, with_password};
    let app = TestApp::start(db).await;
    with_password(&app, "boss", "administrator", "correct horse battery").await;
    let ada = app.user("ada", "learner", &[]).await;
    let cookie = session_cookie(&login(&app, "boss", "correct horse battery", None).await).unwrap();
    let get = async |path: &str| {
        let resp = app
            .http
            .get(format!("{}{path}", app.base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    };
    let post = async |path: &str, form: &[(&str, &str)]| {
        let resp = app
            .http
            .post(format!("{}{path}", app.base))
            .header("cookie", &cookie)
            .form(form)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    };
    let (status, page) = get(&format!("/admin/users/{ada}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("name=\"reactivate_on\""), "the user form has the date");
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let edit = format!("/admin/users/{ada}/edit");
    let fields = |d: &'static str, r: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("email", "ada@example.org".to_owned()),
            ("first_name", "Test".to_owned()),
            ("last_name", "ada".to_owned()),
            ("user_type", "Learner".to_owned()),
            ("deactivate_on", d.to_owned()),
            ("reactivate_on", r.to_owned()),
        ]
    };
    let bad = fields("2030-01-01", "not a date");
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = post(&edit, &bad).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("reactivate_on"), "the error names the field");
    let good = fields("2030-01-01", "2030-03-01");
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(post(&edit, &good).await.0, 303);
    let v = app
        .service
        .get_user(&Context::cli(), &UserKey::Id(UserId(ada)))
        .await
        .unwrap();
    assert_eq!(v.reactivate_at.as_deref(), Some("2030-03-01T00:00:00.000Z"));
    assert_eq!(v.deactivate_at.as_deref(), Some("2030-01-01T00:00:00.000Z"));
    let (_, page) = get(&format!("/admin/users/{ada}")).await;
    assert!(page.contains("Reactivates on"), "{page}");

    let (status, jobs) = get("/admin/jobs").await;
    assert_eq!(status, 200);
    assert!(
        jobs.contains("scheduled-lifecycle") && jobs.contains("Run trash-purge now"),
        "{jobs}"
    );
    let (status, ran) = post("/admin/jobs/seat-snapshot/run", &[("csrf", csrf.as_str())]).await;
    assert_eq!(status, 200, "{ran}");
    assert!(ran.contains("seat-snapshot") && ran.contains("did 1 thing(s)"), "{ran}");
    let (status, _) = post("/admin/jobs/nightly/run", &[("csrf", csrf.as_str())]).await;
    assert_eq!(status, 400);
});
