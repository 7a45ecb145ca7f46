//! Actions that change nothing write nothing: no audit entry for setting what is already
//! set, deactivating the deactivated, or ending sessions nobody has.

use super::*;

async fn entries(s: &Service) -> usize {
    s.list_audit(
        &cli(),
        &AuditFilter {
            limit: Some(10_000),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .len()
}

both_backends!(
    actions_that_change_nothing_write_no_audit_entry,
    |db: TestDb| async move {
        let s = service(&db).await;
        add(&s, "root", "administrator").await;
        add(&s, "ada", "learner").await;
        s.add_branch(
            &cli(),
            NewBranch {
                name: "North".into(),
                seat_cap: Some(10),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        s.set_setting(&cli(), "welcome_email", "off").await.unwrap();
        s.deactivate_user(&cli(), &key("ada")).await.unwrap();
        let before = entries(&s).await;

        s.set_setting(&cli(), "welcome_email", "off").await.unwrap();
        s.set_plan(&cli(), PlanTier::Core, None).await.unwrap();
        s.set_branch(&cli(), "North", None, Some(Some(10))).await.unwrap();
        s.deactivate_user(&cli(), &key("ada")).await.unwrap();
        assert_eq!(s.end_sessions(&cli(), &key("root")).await.unwrap(), 0);
        s.update_user(
            &cli(),
            &key("ada"),
            UserUpdate {
                email: Some("ada@example.org".into()),
                first_name: Some("Test".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(entries(&s).await, before, "repeating what is already so writes nothing");

        // A real change still writes its entry.
        s.set_branch(&cli(), "North", None, Some(Some(20))).await.unwrap();
        assert_eq!(entries(&s).await, before + 1);
    }
);
