//! The idle-account policy over the REST API: settings with their errors, warned accounts
//! with deadlines, the preview, the safety cap and its confirmation.

use super::*;
use rollcall_core::domain::DAY_MS;

both_backends!(the_idle_policy_through_the_api, |db: TestDb| async move {
    let app = TestApp::start(db).await;
    let root = app.user("root", "administrator", &[]).await;
    let token = app.token("root-token", root).await;
    let t = Some(token.as_str());
    let me = app
        .ok(
            "PATCH",
            &format!("/api/v1/users/{root}"),
            t,
            Some(json!({"idle_exempt": true})),
        )
        .await;
    assert_eq!(me["idle_exempt"], true);
    let off = app.ok("GET", "/api/v1/idle-policy", t, None).await;
    assert_eq!(
        (
            off["enabled"].as_bool(),
            off["grace_days"].as_i64(),
            off["max_share"].as_i64()
        ),
        (Some(false), Some(14), Some(10))
    );

    // Bad input: the status that fits and the field named.
    for (body, field) in [
        (json!({"max_share": 150}), "max_share"),
        (json!({"max_share": -5}), "max_share"),
        (json!({"idle_days": 3, "warn_days": 7}), "idle_days"),
        (json!({"exempt_types": ["wizard"]}), "exempt_types"),
        (json!({"exempt_groups": ["nobody"]}), "exempt_groups"),
        (json!({"exempt_branches": ["Atlantis"]}), "exempt_branches"),
    ] {
        let (status, err) = app.call("PATCH", "/api/v1/idle-policy", t, Some(body.clone())).await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (400, Some("invalid_input")),
            "{body}"
        );
        assert!(err["error"]["message"].as_str().unwrap().contains(field), "{err}");
    }

    let set = json!({"enabled": true, "idle_days": 30, "never_signed_in_days": 20, "warn_days": 7, "max_share": 10});
    let on = app.ok("PATCH", "/api/v1/idle-policy", t, Some(set)).await;
    assert_eq!(on["enabled"], true);
    for i in 0..5 {
        app.user(&format!("l{i}"), "learner", &[]).await;
    }

    // Day 13: everyone who never signed in (but root, exempt) is warned, once.
    app.clock.advance(13 * DAY_MS);
    let preview = app.ok("GET", "/api/v1/idle-policy/preview", t, None).await;
    assert_eq!(preview["warn"].as_array().unwrap().len(), 5, "{preview}");
    let run = app.ok("POST", "/api/v1/idle-policy/run", t, Some(json!({}))).await;
    assert_eq!(run["warned"], preview["warn"], "the run warns whom the preview named");
    let warned = app.ok("GET", "/api/v1/idle-policy/warned", t, None).await;
    let items = warned["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    let l0 = items.iter().find(|w| w["username"] == "l0").unwrap();
    let users = app.ok("GET", "/api/v1/users?q=l0", t, None).await;
    assert_eq!(
        users["items"][0]["idle_deadline"], l0["deadline"],
        "the user view names the deadline"
    );

    // Day 20: five of six active accounts is past 10%: held until confirmed.
    app.clock.advance(7 * DAY_MS);
    let preview = app.ok("GET", "/api/v1/idle-policy/preview", t, None).await;
    assert_eq!(
        (preview["held"].as_bool(), preview["seats_freed"].as_i64()),
        (Some(true), Some(5))
    );
    let held = app
        .ok("POST", "/api/v1/idle-policy/run", t, Some(json!({"confirm": false})))
        .await;
    assert_eq!(held["held"], true);
    assert_eq!(held["deactivated"].as_array().unwrap().len(), 0);
    let active = app.ok("GET", "/api/v1/users?status=active", t, None).await;
    assert_eq!(active["items"].as_array().unwrap().len(), 6, "held: nothing written");
    assert_eq!(app.ok("GET", "/api/v1/idle-policy/preview", t, None).await, preview);

    let run = app
        .ok("POST", "/api/v1/idle-policy/run", t, Some(json!({"confirm": true})))
        .await;
    assert_eq!(
        run["deactivated"], preview["deactivate"],
        "the confirmed run equals the preview"
    );
    let active = app.ok("GET", "/api/v1/users?status=active", t, None).await;
    let names: Vec<&str> = active["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["root"]);
    let audit = app.ok("GET", "/api/v1/audit?action=user.deactivate", t, None).await;
    let by_policy = audit
        .as_array()
        .or_else(|| audit["items"].as_array())
        .unwrap()
        .iter()
        .filter(|e| e["channel"] == "job" && e["actor_kind"] == "system")
        .count();
    assert_eq!(by_policy, 5);
});
