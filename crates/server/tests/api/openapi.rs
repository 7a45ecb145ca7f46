//! The OpenAPI document covers every route and is valid OpenAPI.

use super::matrix::rows;
use std::collections::BTreeSet;

fn documented() -> BTreeSet<(String, String)> {
    let doc = serde_json::to_value(rollcall_server::openapi()).unwrap();
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.insert((method.to_uppercase(), path.clone()));
        }
    }
    ops
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let routes: BTreeSet<(String, String)> = rows()
        .iter()
        .filter(|r| r.route != "/api/v1/openapi.json")
        .map(|r| (r.method.to_owned(), r.route.to_owned()))
        .collect();
    let docs = documented();
    let missing: Vec<_> = routes.difference(&docs).collect();
    let untested: Vec<_> = docs.difference(&routes).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document: {missing:?}"
    );
    assert!(
        untested.is_empty(),
        "documented routes missing from the authorization matrix: {untested:?}"
    );
}

#[test]
fn every_operation_declares_security_and_errors() {
    let doc = serde_json::to_value(rollcall_server::openapi()).unwrap();
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(op["security"].is_array(), "{method} {path} declares no security");
            let public = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().all(|r| r.as_object().is_some_and(|o| o.is_empty())));
            assert!(
                public || op["responses"]["401"].is_object(),
                "{method} {path} documents no 401"
            );
        }
    }
}

/// Validated by openapi-spec-validator from the project's Python venv (`.ci/run` makes it).
#[test]
fn the_document_is_valid_openapi() {
    let python = rollcall_testkit::python();
    let has_validator = std::process::Command::new(&python)
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_validator {
        let in_ci = rollcall_testkit::in_ci();
        assert!(
            !in_ci,
            "CI=true but {} has no openapi-spec-validator (.ci/run installs it)",
            python.display()
        );
        eprintln!(
            "skipping: no openapi-spec-validator at {} (run .ci/run once to make the venv)",
            python.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, rollcall_server::openapi().to_pretty_json().unwrap()).unwrap();
    let out = std::process::Command::new(&python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "invalid OpenAPI:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every code an error may carry is listed — in the document and in the README — so a
/// client can handle each one it may meet.
#[test]
fn the_stable_error_codes_are_listed_in_the_document_and_the_readme() {
    let doc = serde_json::to_value(rollcall_server::openapi()).unwrap();
    let description = doc["info"]["description"].as_str().unwrap();
    let readme = include_str!("../../../../README.md");
    let codes = rollcall_server::rest::error_codes();
    assert!(codes.len() > 30, "{codes:?}");
    for code in codes {
        assert!(
            description.contains(&format!("`{code}`")),
            "{code} is not in the document"
        );
        assert!(readme.contains(&format!("`{code}`")), "{code} is not in the README");
    }
}

#[test]
fn every_operation_has_a_summary() {
    let doc = serde_json::to_value(rollcall_server::openapi()).unwrap();
    let mut missing = vec![];
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op["summary"].as_str().is_none_or(|s| s.trim().is_empty()) {
                missing.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    assert!(missing.is_empty(), "operations without a summary: {missing:?}");
}
