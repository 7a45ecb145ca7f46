//! The audit chain as operators check it: the sealed head, a head kept elsewhere, the key file.

use super::*;

/// The `SEQ:HASH` of the `sealed head:` line.
fn head_of(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("sealed head: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no sealed head in {out}"))
        .to_owned()
}

both_backends!(
    a_kept_head_catches_a_cut_off_or_rewritten_chain,
    |db: TestDb| async move {
        let rc = Rollcall::new(db);
        for u in ["ada", "bob"] {
            assert!(rc.add(u, "learner").await.status.success());
        }
        let out = rc.ok(&["audit", "verify"]).await;
        assert!(out.contains("audit chain intact"), "{out}");
        let early = head_of(&out);
        assert!(early.starts_with("2:"), "{early}");
        // Someone with access to the database keeps the head row as it is now...
        let saved_tag = rc.db.fetch_text("SELECT tag FROM audit_head").await.unwrap();
        let saved_hash = early.split_once(':').unwrap().1.to_owned();
        for u in ["cyd", "dee"] {
            assert!(rc.add(u, "learner").await.status.success());
        }
        let out = rc.ok(&["audit", "verify", "--expect-head", &early]).await;
        assert!(out.contains("still reaches the kept head at position 2"), "{out}");
        let kept = head_of(&out);
        assert!(kept.starts_with("4:"), "{kept}");

        // ...and later cuts the newest entries off, putting that head row back.
        rc.db
            .execute("DELETE FROM audit_personal WHERE entry_id IN (SELECT id FROM audit_log WHERE chain_seq > 2)")
            .await;
        rc.db.execute("DELETE FROM audit_log WHERE chain_seq > 2").await;
        rc.db
            .execute(&format!(
                "UPDATE audit_head SET seq = 2, hash = '{saved_hash}', tag = '{saved_tag}'"
            ))
            .await;
        // Without the kept head that goes unnoticed; with it, it doesn't.
        assert!(rc.ok(&["audit", "verify"]).await.contains("audit chain intact"));
        let err = rc.fails(&["audit", "verify", "--expect-head", &kept]).await;
        assert!(err.contains("cut off") && err.contains("position 4"), "{err}");

        // A kept head whose entry is no longer the same: rewritten.
        let other = format!("2:{}", "ab".repeat(32));
        let err = rc.fails(&["audit", "verify", "--expect-head", &other]).await;
        assert!(err.contains("rewritten"), "{err}");
        let err = rc.fails(&["audit", "verify", "--expect-head", "nonsense"]).await;
        assert!(err.contains("SEQ:HASH"), "{err}");
    }
);

both_backends!(
    the_audit_key_is_a_private_file_every_process_shares,
    |db: TestDb| async move {
        let rc = Rollcall::new(db);
        assert!(rc.add("ada", "learner").await.status.success());
        let path = rc.dir.path().join("rollcall.audit-key");
        let text = std::fs::read_to_string(&path).expect("the key file is created on first use");
        assert_eq!(text.trim().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // The same key, named by the environment, from another working directory.
        let elsewhere = tempfile::tempdir().unwrap();
        let out = rc
            .command(&["audit", "verify"])
            .current_dir(elsewhere.path())
            .env("ROLLCALL_AUDIT_KEY_FILE", &path)
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

        // Without the file, a process refuses to start rather than write under a new key.
        let out = rc
            .command(&["user", "list"])
            .current_dir(elsewhere.path())
            .output()
            .await
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("audit key file") && err.contains("missing"), "{err}");
        assert!(!elsewhere.path().join("rollcall.audit-key").exists());

        // Another key is refused too.
        let wrong = elsewhere.path().join("wrong.key");
        std::fs::write(&wrong, format!("{}\n", "11".repeat(32))).unwrap();
        let wrong = wrong.to_str().unwrap();
        let err = rc.fails(&["--audit-key-file", wrong, "user", "list"]).await;
        assert!(err.contains("not the one"), "{err}");
        // And entries written under it anyway (an older binary, a process started before the
        // log was sealed) don't verify: audit verify names the first.
        let err = rc.fails(&["--audit-key-file", wrong, "audit", "verify"]).await;
        assert!(err.contains("authentication tag"), "{err}");
    }
);

both_backends!(audit_verify_names_rows_written_by_hand, |db: TestDb| async move {
    let rc = Rollcall::new(db);
    assert!(rc.add("ada", "learner").await.status.success());
    rc.db
        .execute(
            "INSERT INTO audit_log (at, actor_kind, channel, action, target_kind, target_id, personal_digest) \
                 VALUES (1, 'operator', 'cli', 'user.activate', 'user', 1, 'x')",
        )
        .await;
    let id = rc
        .db
        .fetch_text("SELECT CAST(id AS TEXT) FROM audit_log WHERE personal_digest = 'x'")
        .await
        .unwrap();
    // The next command's sealer refuses it and seals its own entry past it.
    assert!(rc.add("bob", "learner").await.status.success());
    let err = rc.fails(&["audit", "verify"]).await;
    assert!(
        err.contains(&format!("entry {id} (it has no valid authentication tag")),
        "{err}"
    );
    assert!(err.contains("the chain itself verifies (2 entries"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // Once the row is removed, the log verifies again.
    rc.db.execute(&format!("DELETE FROM audit_log WHERE id = {id}")).await;
    assert!(rc.ok(&["audit", "verify"]).await.contains("audit chain intact"));
});

both_backends!(
    a_second_key_is_refused_before_anything_is_sealed,
    |db: TestDb| async move {
        let rc = Rollcall::new(db);
        // Two hosts that each made their own key file, started before any entry was sealed:
        // the first binds the database to its key, the second is refused at once instead of
        // writing entries the first one's sealer would refuse.
        let first = rc.dir.path().join("first.key");
        let second = rc.dir.path().join("second.key");
        std::fs::write(&first, format!("{}\n", "22".repeat(32))).unwrap();
        std::fs::write(&second, format!("{}\n", "33".repeat(32))).unwrap();
        rc.ok(&["--audit-key-file", first.to_str().unwrap(), "user", "list"])
            .await;
        let err = rc
            .fails(&["--audit-key-file", second.to_str().unwrap(), "user", "list"])
            .await;
        assert!(err.contains("not the one"), "{err}");
        rc.ok(&["--audit-key-file", first.to_str().unwrap(), "user", "list"])
            .await;
    }
);
