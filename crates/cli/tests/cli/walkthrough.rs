//! The Foundation issue's "done when", step by step, from the command line.

use super::*;

both_backends!(foundation_walkthrough, |db: TestDb| async move {
    let rc = Rollcall::new(db);
    // Users of each type can be added.
    for (name, t) in [
        ("root", "administrator"),
        ("boss", "branch-administrator"),
        ("teach", "Instructor"),
        ("learn", "learner"),
    ] {
        let out = rc.add(name, t).await;
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let shown = rc.ok(&["user", "show", "boss"]).await;
    assert!(shown.contains("Branch Administrator"), "{shown}");

    // The free plan refuses a custom type, and the sixth active account.
    rc.ok(&["plan", "set", "free"]).await;
    assert!(
        rc.fails(&["type", "create", "Contractor", "--base", "learner"])
            .await
            .contains("free plan does not include custom user types")
    );
    assert!(rc.add("fifth", "learner").await.status.success());
    let refused = rc.add("sixth", "learner").await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("5 of 5 seats"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    rc.ok(&["user", "deactivate", "fifth"]).await;
    assert!(
        rc.add("sixth", "learner").await.status.success(),
        "deactivating frees a seat"
    );

    // A Learner-based type can't be given courses.create.
    rc.ok(&["plan", "set", "core"]).await;
    rc.ok(&["type", "create", "Contractor", "--base", "learner"]).await;
    let err = rc
        .fails(&["type", "edit", "contractor", "--allow", "courses.create"])
        .await;
    assert!(err.contains("courses.create"), "{err}");
    assert!(rc.ok(&["type", "list"]).await.contains("Contractor"));

    // Delete needs --confirm, removes from lists; restore brings back deactivated.
    assert!(rc.fails(&["user", "delete", "learn"]).await.contains("--confirm learn"));
    rc.ok(&["user", "delete", "learn", "--confirm", "learn"]).await;
    assert!(!rc.ok(&["user", "list"]).await.contains("learn@"));
    rc.ok(&["user", "restore", "learn"]).await;
    assert!(rc.ok(&["user", "show", "learn"]).await.contains("deactivated"));
    assert!(
        rc.ok(&["user", "list", "--status", "deactivated"])
            .await
            .contains("learn@")
    );

    // The last administrator can't be deactivated.
    assert!(
        rc.fails(&["user", "deactivate", "root"])
            .await
            .contains("last active administrator")
    );

    // The audit log verifies, and names the entry after a hand edit.
    assert!(rc.ok(&["audit", "verify"]).await.contains("audit chain intact"));
    let log = rc.ok(&["audit", "list", "--target", "learn"]).await;
    assert!(log.contains("user.restore") && log.contains("user.delete"), "{log}");
    let restore = rc
        .db
        .fetch_text("SELECT CAST(MIN(id) AS TEXT) FROM audit_log WHERE action = 'user.restore'")
        .await
        .unwrap();
    rc.db
        .execute(&format!("UPDATE audit_log SET channel = 'api' WHERE id = {restore}"))
        .await;
    let err = rc.fails(&["audit", "verify"]).await;
    assert!(err.contains(&format!("at entry {restore}")), "{err}");
});

both_backends!(concurrent_first_migrations_all_succeed, |db: TestDb| async move {
    let rc = Rollcall::new(db);
    let runs: Vec<_> = (0..8).map(|_| rc.command(&["migrate"]).output()).collect();
    for out in futures_join_all(runs).await {
        let out = out.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(rc.ok(&["plan", "show"]).await.contains("core"));
});

both_backends!(concurrent_cli_adds_for_the_last_seat, |db: TestDb| async move {
    let rc = Rollcall::new(db);
    rc.ok(&["migrate"]).await;
    rc.ok(&["plan", "set", "free"]).await;
    for i in 0..4 {
        assert!(rc.add(&format!("u{i}"), "learner").await.status.success());
    }
    let racers: Vec<_> = (0..32)
        .map(|i| {
            let name = format!("racer{i}");
            let email = format!("{name}@example.org");
            rc.command(&[
                "user",
                "add",
                "--username",
                &name,
                "--email",
                &email,
                "--first-name",
                "R",
                "--last-name",
                "R",
            ])
            .output()
        })
        .collect();
    let outputs = futures_join_all(racers).await;
    let mut ok = 0;
    for out in outputs {
        let out = out.unwrap();
        if out.status.success() {
            ok += 1;
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("seat limit reached: 5 of 5"), "{err}");
        }
    }
    assert_eq!(ok, 1, "exactly one of 32 concurrent adds gets the last seat");
    assert!(rc.ok(&["plan", "show"]).await.contains("5 of 5 used"));
    assert!(rc.ok(&["audit", "verify"]).await.contains("audit chain intact"));
});

/// Awaits every future concurrently (they are child processes already spawned lazily).
async fn futures_join_all<F>(futs: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

both_backends!(courses_from_the_command_line, |db: TestDb| async move {
    let rc = Rollcall::new(db);
    assert!(rc.add("root", "administrator").await.status.success());
    assert!(rc.add("teach", "instructor").await.status.success());
    assert!(rc.add("ada", "learner").await.status.success());
    assert!(
        rc.fails(&["course", "add", "CHEM", "--name", "Chemistry", "--owner", "ada"])
            .await
            .contains("can't own courses")
    );
    rc.ok(&[
        "course",
        "add",
        "CHEM",
        "--name",
        "Chemistry",
        "--owner",
        "teach",
        "--units",
        "2",
    ])
    .await;
    rc.ok(&["enroll", "ada", "chem"]).await;
    assert!(
        rc.fails(&["progress", "ada", "CHEM", "--complete-unit", "2"])
            .await
            .contains("complete unit 1 first")
    );
    rc.ok(&["progress", "ada", "CHEM", "--complete-unit", "1"]).await;
    assert!(
        rc.ok(&["progress", "ada", "CHEM", "--complete-unit", "2"])
            .await
            .contains("2 of 2 units, 100%, completed")
    );
    let export: serde_json::Value = serde_json::from_str(&rc.ok(&["user", "export", "ada"]).await).unwrap();
    assert_eq!(export["enrollments"][0]["progress_pct"], 100);
    assert_eq!(export["certificates"][0]["course"], "CHEM");
    assert!(
        export["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "course.enroll")
    );
    assert!(
        rc.fails(&["user", "offboard", "teach"])
            .await
            .contains("--reassign-courses-to")
    );
    assert!(
        rc.ok(&["user", "offboard", "teach", "--reassign-courses-to", "root"])
            .await
            .contains("1 course(s) reassigned to root")
    );
    let courses: serde_json::Value =
        serde_json::from_str(&rc.ok(&["course", "list", "--format", "json"]).await).unwrap();
    assert_eq!(courses[0]["owner"], "root");
    assert!(
        rc.ok(&["course", "list", "--orphaned"]).await.lines().count() == 1,
        "root is active: nothing orphaned"
    );
});

both_backends!(
    a_backup_is_a_sqlite_file_that_opens_as_the_installation,
    |db: TestDb| async move {
        let rc = Rollcall::new(db);
        assert!(rc.add("ada", "learner").await.status.success());
        let copy = rc.dir.path().join("copy.db");
        let copy_arg = copy.display().to_string();
        rc.ok(&["backup", &copy_arg]).await;
        let from_copy = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
            .args(["--database", &format!("sqlite://{copy_arg}"), "user", "show", "ada"])
            // The copy goes with the audit key file beside it.
            .current_dir(rc.dir.path())
            .env_remove("ROLLCALL_AUDIT_KEY_FILE")
            .output()
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&from_copy.stdout).contains("ada@example.org"));
        assert!(rc.fails(&["backup", &copy_arg]).await.contains("already exists"));
    }
);

pub(crate) const IDP_METADATA: &str = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example.org/metadata">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>MIIBsjCCAVigAwIBAgIU</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.org/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#;

both_backends!(sso_is_configured_from_idp_metadata, |db: TestDb| async move {
    let rc = Rollcall::new(db);
    let file = rc.dir.path().join("idp.xml");
    std::fs::write(&file, IDP_METADATA).unwrap();
    let path = file.display().to_string();
    assert!(rc.ok(&["sso", "show"]).await.contains("not configured"));
    let err = rc
        .fails(&["sso", "set", "--idp-metadata", &path, "--default-type", "administrator"])
        .await;
    assert!(err.contains("Administrator"), "{err}");
    let unsigned = rc.dir.path().join("unsigned.xml");
    std::fs::write(&unsigned, IDP_METADATA.replace("use=\"signing\"", "use=\"encryption\"")).unwrap();
    assert!(
        rc.fails(&["sso", "set", "--idp-metadata", &unsigned.display().to_string()])
            .await
            .contains("no signing certificate")
    );
    rc.ok(&[
        "sso",
        "set",
        "--idp-metadata",
        &path,
        "--no-jit",
        "--map",
        "department=last_name",
    ])
    .await;
    let shown: serde_json::Value = serde_json::from_str(&rc.ok(&["sso", "show"]).await).unwrap();
    assert_eq!(shown["idp_entity_id"], "https://idp.example.org/metadata");
    assert_eq!(shown["sso_url"], "https://idp.example.org/sso");
    assert_eq!(shown["jit"], false);
    assert_eq!(shown["mappings"]["department"], "last_name");
    rc.ok(&["sso", "disable"]).await;
    assert!(rc.ok(&["sso", "show"]).await.contains("not configured"));
    assert!(rc.ok(&["audit", "list"]).await.contains("sso.set"));
});

both_backends!(user_set_links_and_unlinks_single_sign_on, |db: TestDb| async move {
    let rc = Rollcall::new(db);
    let file = rc.dir.path().join("idp.xml");
    std::fs::write(&file, IDP_METADATA).unwrap();
    rc.add("ada", "learner").await;
    rc.add("root", "administrator").await;
    let err = rc.fails(&["user", "set", "ada", "--sso-subject", "ada@corp"]).await;
    assert!(err.contains("not configured"), "{err}");
    rc.ok(&["sso", "set", "--idp-metadata", &file.display().to_string()])
        .await;

    let out = rc.ok(&["user", "set", "ada", "--sso-subject", "ada@corp"]).await;
    assert!(out.contains("ada@corp at https://idp.example.org/metadata"), "{out}");
    let out = rc.ok(&["user", "show", "ada"]).await;
    assert!(out.contains("ada@corp at https://idp.example.org/metadata"), "{out}");
    assert!(
        rc.fails(&["user", "set", "root", "--sso-subject", "ada@corp"])
            .await
            .contains("another account")
    );
    rc.ok(&["user", "set", "root", "--sso-subject", "root@corp"]).await;
    let mail = rc.ok(&["mail", "list"]).await;
    assert!(
        mail.contains("sso_admin_linked") || mail.contains("linked to single sign-on"),
        "{mail}"
    );

    let out = rc.ok(&["user", "set", "ada", "--no-sso-subject"]).await;
    assert!(out.contains("not linked"), "{out}");
    let out = rc.ok(&["user", "set", "root", "--sso-subject", ""]).await;
    assert!(out.contains("not linked"), "{out}");
    let audit = rc.ok(&["audit", "list"]).await;
    assert!(
        audit.contains("user.sso_link") && audit.contains("user.sso_unlink"),
        "{audit}"
    );
    let both = rc
        .run(&["user", "set", "ada", "--sso-subject", "x", "--no-sso-subject"])
        .await;
    assert_eq!(both.status.code(), Some(2), "contradictory flags are bad usage");

    assert!(rc.ok(&["settings", "show"]).await.contains("sso_link_existing"));
    rc.ok(&["settings", "set", "sso_link_existing", "email"]).await;
    assert!(rc.ok(&["settings", "show"]).await.contains("email"));
    assert!(
        rc.fails(&["settings", "set", "sso_link_existing", "on"])
            .await
            .contains("off, username or email")
    );
});
