//! The REST API fuzzed from its own OpenAPI document by schemathesis (PyPI): generated
//! requests — valid, boundary and invalid — as an administrator and as a learner; no answer
//! may be a 5xx, and every status, content type, header and body must be one the document
//! declares for that operation.

use super::*;

/// The checks that hold the server to its document.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_headers_conformance,response_schema_conformance";

async fn fuzz_as(app: &TestApp, who: &str, token: &str, exclude: &[&str]) {
    // schemathesis keeps a cache of what it found in its working directory: a fresh one.
    let scratch = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(rollcall_testkit::python());
    cmd.current_dir(scratch.path());
    cmd.args(["-m", "schemathesis.cli", "run"])
        .arg(format!("{}/api/v1/openapi.json", app.base))
        .args(["--checks", CHECKS])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", "25", "--workers", "2", "--no-color"])
        .args(["--header", &format!("Authorization: Bearer {token}")]);
    for path in exclude {
        cmd.args(["--exclude-path", path]);
    }
    let out = cmd.output().await.unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis as {who} found responses outside the document:\n{report}"
    );
    // A run that never reached the API (a schema it couldn't load, no operation selected)
    // must not pass for a clean one.
    let tested = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Tested: "))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    assert!(
        tested >= 50,
        "schemathesis as {who} tested only {tested} operations:\n{report}"
    );
}

both_backends!(
    the_api_answers_as_its_document_says_under_generated_requests,
    |db: TestDb| async move {
        if !rollcall_testkit::python_has("schemathesis") {
            return;
        }
        let app = TestApp::start(db).await;
        app.branch("north").await;
        let admin = app.user("root", "administrator", &[]).await;
        let learner = app.user("lea", "learner", &["north"]).await;
        app.service
            .add_group(
                &Context::cli(),
                rollcall_core::service::NewGroup {
                    name: "crew".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let learner_token = app.token("learner-fuzz", learner).await;
        let admin_token = app.token("admin-fuzz", admin).await;
        // The learner first: the administrator's run may deactivate or erase the learner.
        fuzz_as(&app, "a learner", &learner_token, &[]).await;
        // Revoking tokens is excluded: a generated call may revoke the run's own token, after
        // which every later request is (rightly) refused and nothing more is learned.
        fuzz_as(&app, "an administrator", &admin_token, &["/api/v1/tokens/{name}"]).await;
        // The server still answers after everything it was sent.
        let (status, body) = app.get_text("/readyz").await;
        assert_eq!(status, 200, "readyz after the run: {body}");
    }
);
