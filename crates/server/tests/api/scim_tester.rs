//! The SCIM checker scim2-tester (PyPI `scim2-tester`, `scim2-cli`) against a running server:
//! every check must report SUCCESS.

use super::*;

fn scim2_cli() -> Option<std::path::PathBuf> {
    let cli = rollcall_testkit::scim2_cli();
    if cli.exists() {
        return Some(cli);
    }
    let in_ci = rollcall_testkit::in_ci();
    assert!(
        !in_ci,
        "CI=true but {} is missing (.ci/run installs scim2-cli and scim2-tester)",
        cli.display()
    );
    eprintln!(
        "skipping: no scim2 CLI at {} (run .ci/run once to make the venv)",
        cli.display()
    );
    None
}

both_backends!(scim2_tester_reports_every_check_success, |db: TestDb| async move {
    let Some(cli) = scim2_cli() else { return };
    let app = TestApp::start(db).await;
    let token = app.scim_token("checker").await;
    let out = tokio::process::Command::new(cli)
        .args(["--url", &format!("{}/scim/v2", app.base), "test"])
        // The token goes through the environment, not the command line other users can see.
        .env("SCIM_CLI_HEADERS", format!("Authorization: Bearer {token}"))
        .output()
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let successes = report.lines().filter(|l| l.starts_with("SUCCESS ")).count();
    let others: Vec<&str> = report
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| ["ERROR", "CRITICAL", "SKIPPED", "WARNING"].contains(&w))
        })
        .collect();
    assert!(others.is_empty(), "scim2-tester reported non-successes:\n{report}");
    assert!(
        successes >= 60,
        "expected the full suite of checks, saw {successes}:\n{report}"
    );
    assert!(out.status.success(), "scim2 exited with {}:\n{report}", out.status);
});
