//! `rollcall idle-policy` and `user set --idle-exempt` as scripts use them. The binary runs
//! on the system's clock, so the policy here counts 0 days: idle at once.

use super::*;
use serde_json::Value;

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

both_backends!(the_idle_policy_from_the_command_line, |db: TestDb| async move {
    let rc = Rollcall::new(db);
    for (name, t) in [
        ("boss", "administrator"),
        ("l0", "learner"),
        ("l1", "learner"),
        ("l2", "learner"),
        ("l3", "learner"),
    ] {
        assert!(rc.add(name, t).await.status.success(), "{name}");
    }
    let shown = json(&rc.ok(&["idle-policy", "show", "--format", "json"]).await);
    assert_eq!(shown["enabled"], false, "off by default");
    assert_eq!(shown["grace_days"], 14);

    // Bad input names the field.
    assert!(
        rc.fails(&["idle-policy", "set", "--max-share", "150"])
            .await
            .contains("max_share")
    );
    assert!(
        rc.fails(&["idle-policy", "set", "--max-share", "-1"])
            .await
            .contains("max_share")
    );
    assert!(
        rc.fails(&["idle-policy", "set", "--idle-days", "3", "--warn-days", "7"])
            .await
            .contains("idle_days")
    );
    assert!(
        rc.fails(&["idle-policy", "set", "--exempt-type", "wizard"])
            .await
            .contains("exempt_types")
    );
    assert!(
        rc.fails(&["idle-policy", "run"]).await.contains("off"),
        "a policy that is off doesn't run"
    );

    rc.ok(&["user", "set", "l0", "--idle-exempt", "true"]).await;
    let l0 = json(&rc.ok(&["user", "show", "l0", "--format", "json"]).await);
    assert_eq!(l0["idle_exempt"], true);
    let export = rc.ok(&["export", "users", "--format", "csv"]).await;
    let header: Vec<&str> = export.lines().next().unwrap().split(',').collect();
    let column = header
        .iter()
        .position(|c| *c == "idle_exempt")
        .expect("an idle_exempt column");
    assert!(
        export
            .lines()
            .any(|l| l.starts_with("l0,") && l.split(',').nth(column) == Some("yes")),
        "{export}"
    );

    rc.ok(&[
        "idle-policy",
        "set",
        "--enabled",
        "true",
        "--idle-days",
        "0",
        "--never-signed-in-days",
        "0",
        "--warn-days",
        "0",
        "--grace-days",
        "0",
        "--max-share",
        "50%",
    ])
    .await;
    let preview = json(&rc.ok(&["idle-policy", "preview", "--format", "json"]).await);
    assert_eq!(
        preview["deactivate"],
        serde_json::json!(["l1", "l2", "l3"]),
        "{preview}"
    );
    assert_eq!(
        preview["spared"],
        serde_json::json!(["boss"]),
        "the last administrator is kept"
    );
    assert_eq!(
        (preview["held"].as_bool(), preview["seats_freed"].as_i64()),
        (Some(true), Some(3)),
        "3 of 5 is past 50%"
    );

    let err = rc.fails(&["idle-policy", "run"]).await;
    assert!(err.contains("--confirm"), "{err}");
    let active = json(&rc.ok(&["user", "list", "--status", "active", "--format", "json"]).await);
    assert_eq!(active.as_array().unwrap().len(), 5, "held: nothing written");

    let run = json(&rc.ok(&["idle-policy", "run", "--confirm", "--format", "json"]).await);
    assert_eq!(
        run["deactivated"], preview["deactivate"],
        "the confirmed run equals the preview"
    );
    let active = json(&rc.ok(&["user", "list", "--status", "active", "--format", "json"]).await);
    let names: Vec<&str> = active
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["boss", "l0"]);
    let audit = rc.ok(&["audit", "list", "--format", "json"]).await;
    let entries = json(&audit);
    let by_policy = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "user.deactivate" && e["channel"] == "job")
        .count();
    assert_eq!(by_policy, 3);
});
