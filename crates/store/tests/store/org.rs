use super::*;
use rollcall_core::domain::Area;

both_backends!(custom_types_follow_plan_and_base, |db: TestDb| async move {
    let s = service(&db).await;
    s.set_plan(&cli(), PlanTier::Free, None).await.unwrap();
    assert_eq!(
        s.create_type(&cli(), "Contractor", "learner", &[])
            .await
            .unwrap_err()
            .code(),
        "plan_feature_unavailable"
    );
    s.set_plan(&cli(), PlanTier::Core, None).await.unwrap();
    assert_eq!(
        s.create_type(&cli(), "Auditor", "superhero", &[])
            .await
            .unwrap_err()
            .code(),
        "invalid_input"
    );
    let t = s
        .create_type(&cli(), "Contractor", "learner", &[Area::CoursesSelfEnroll])
        .await
        .unwrap();
    assert!(!t.areas.contains(&Area::CoursesSelfEnroll));
    assert_eq!(
        s.create_type(&cli(), "contractor", "learner", &[])
            .await
            .unwrap_err()
            .code(),
        "type_exists"
    );
    assert_eq!(
        s.edit_type(&cli(), "Contractor", &[Area::CoursesCreate], &[])
            .await
            .unwrap_err()
            .code(),
        "area_not_in_base"
    );
    assert_eq!(
        s.edit_type(&cli(), "learner", &[], &[Area::CoursesTake])
            .await
            .unwrap_err()
            .code(),
        "builtin_type"
    );
    let t = s
        .edit_type(&cli(), "contractor", &[Area::CoursesSelfEnroll], &[Area::CatalogBrowse])
        .await
        .unwrap();
    assert!(t.areas.contains(&Area::CoursesSelfEnroll) && !t.areas.contains(&Area::CatalogBrowse));
    let types = s.list_types(&cli()).await.unwrap();
    assert_eq!(types.len(), 5);

    add(&s, "temp", "Contractor").await;
    assert_eq!(
        s.delete_type(&cli(), "Contractor").await.unwrap_err().code(),
        "type_in_use"
    );
    s.update_user(
        &cli(),
        &key("temp"),
        UserUpdate {
            user_type: Some("learner".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.delete_type(&cli(), "Contractor").await.unwrap();
    assert_eq!(
        s.delete_type(&cli(), "Learner").await.unwrap_err().code(),
        "builtin_type"
    );

    // The free plan refuses giving a custom type even when one exists.
    s.create_type(&cli(), "Guest", "learner", &[]).await.unwrap();
    s.set_plan(&cli(), PlanTier::Free, None).await.unwrap();
    assert_eq!(
        s.create_user(&cli(), new_user("g", "guest")).await.unwrap_err().code(),
        "plan_feature_unavailable"
    );
});

both_backends!(branches_need_a_paid_plan_and_unique_names, |db: TestDb| async move {
    let s = service(&db).await;
    let b = s
        .add_branch(
            &cli(),
            NewBranch {
                name: "North & East".into(),
                default_type: Some("instructor".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(b.slug, "north-east");
    assert_eq!(
        s.add_branch(
            &cli(),
            NewBranch {
                name: "NORTH & EAST".into(),
                ..Default::default()
            }
        )
        .await
        .unwrap_err()
        .code(),
        "branch_exists"
    );
    // A user in a branch without an explicit type gets the branch default.
    let u = s
        .create_user(
            &cli(),
            NewUser {
                user_type: None,
                branches: vec!["north & east".into()],
                ..new_user("ada", "")
            },
        )
        .await
        .unwrap();
    assert_eq!(u.user_type, "Instructor");
    assert_eq!(u.branches, vec!["North & East"]);
    s.set_plan(&cli(), PlanTier::Free, None).await.unwrap();
    assert_eq!(
        s.add_branch(
            &cli(),
            NewBranch {
                name: "South".into(),
                ..Default::default()
            }
        )
        .await
        .unwrap_err()
        .code(),
        "plan_feature_unavailable"
    );
});

/// A branch administrator of North, with users in North and South.
async fn two_branches(s: &Service) -> Context {
    for b in ["North", "South"] {
        s.add_branch(
            &cli(),
            NewBranch {
                name: b.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    s.add_group(
        &cli(),
        NewGroup {
            name: "North crew".into(),
            branch: Some("North".into()),
            key: Some("NORTH-1".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.add_group(
        &cli(),
        NewGroup {
            name: "Everyone".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let boss = s
        .create_user(
            &cli(),
            NewUser {
                branches: vec!["North".into()],
                ..new_user("boss", "branch-administrator")
            },
        )
        .await
        .unwrap();
    for (name, branch) in [("n1", "North"), ("n2", "North"), ("s1", "South")] {
        s.create_user(
            &cli(),
            NewUser {
                branches: vec![branch.into()],
                ..new_user(name, "learner")
            },
        )
        .await
        .unwrap();
    }
    add(s, "root", "administrator").await;
    as_user(boss.id)
}

both_backends!(
    branch_administrators_see_and_change_their_branches_only,
    |db: TestDb| async move {
        let s = service(&db).await;
        let boss = two_branches(&s).await;
        let mut seen = names(&s, &boss, UserFilter::default()).await;
        seen.sort();
        assert_eq!(seen, vec!["boss", "n1", "n2"]);
        assert_eq!(s.count_users(&boss, &UserFilter::default()).await.unwrap(), 3);
        assert_eq!(s.get_user(&boss, &key("s1")).await.unwrap_err().code(), "not_found");
        assert_eq!(s.get_user(&boss, &key("root")).await.unwrap_err().code(), "not_found");
        assert_eq!(
            s.deactivate_user(&boss, &key("s1")).await.unwrap_err().code(),
            "not_found"
        );
        assert_eq!(
            s.list_users(
                &boss,
                &UserFilter {
                    branch: Some("South".into()),
                    ..Default::default()
                }
            )
            .await
            .unwrap_err()
            .code(),
            "not_found"
        );
        s.deactivate_user(&boss, &key("n1")).await.unwrap();

        // Creating: only in their branches, never above their own type.
        let u = s
            .create_user(
                &boss,
                NewUser {
                    user_type: None,
                    ..new_user("n3", "")
                },
            )
            .await
            .unwrap();
        assert_eq!(
            u.branches,
            vec!["North"],
            "a branch administrator's user lands in their branch"
        );
        let err = s
            .create_user(
                &boss,
                NewUser {
                    branches: vec!["South".into()],
                    ..new_user("s2", "learner")
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "not_found");
        assert_eq!(
            s.create_user(&boss, new_user("boss2", "administrator"))
                .await
                .unwrap_err()
                .code(),
            "forbidden"
        );
        assert_eq!(
            s.update_user(
                &boss,
                &key("n2"),
                UserUpdate {
                    user_type: Some("administrator".into()),
                    ..Default::default()
                }
            )
            .await
            .unwrap_err()
            .code(),
            "forbidden"
        );
        assert_eq!(
            s.update_user(
                &boss,
                &key("n2"),
                UserUpdate {
                    remove_branches: vec!["North".into()],
                    ..Default::default()
                }
            )
            .await
            .unwrap_err()
            .code(),
            "outside_your_branches"
        );

        // Groups and branches are scoped too; settings, plan and types are out of reach.
        let groups: Vec<_> = s
            .list_groups(&boss)
            .await
            .unwrap()
            .into_iter()
            .map(|g| g.name)
            .collect();
        assert_eq!(groups, vec!["North crew"]);
        assert_eq!(
            s.add_group_members(&boss, "Everyone", &[key("n2")])
                .await
                .unwrap_err()
                .code(),
            "not_found"
        );
        assert_eq!(s.add_group_members(&boss, "North crew", &[key("n2")]).await.unwrap(), 1);
        assert_eq!(
            s.add_group_members(&boss, "North crew", &[key("s1")])
                .await
                .unwrap_err()
                .code(),
            "not_found"
        );
        let branches: Vec<_> = s
            .list_branches(&boss)
            .await
            .unwrap()
            .into_iter()
            .map(|b| b.name)
            .collect();
        assert_eq!(branches, vec!["North"]);
        assert_eq!(s.settings(&boss).await.unwrap_err().code(), "forbidden");
        assert_eq!(
            s.set_plan(&boss, PlanTier::Pro, None).await.unwrap_err().code(),
            "forbidden"
        );
        assert_eq!(
            s.create_type(&boss, "X", "learner", &[]).await.unwrap_err().code(),
            "forbidden"
        );
        assert_eq!(
            s.list_audit(&boss, &AuditFilter::default()).await.unwrap_err().code(),
            "forbidden"
        );
        let report = s.seat_report(&boss).await.unwrap();
        assert_eq!(report.by_branch.len(), 1);
    }
);

both_backends!(permissions_follow_the_current_type, |db: TestDb| async move {
    let s = service(&db).await;
    add(&s, "root", "administrator").await;
    let admin = add(&s, "helper", "administrator").await;
    let helper = as_user(admin.id);
    add(&s, "ada", "learner").await;
    s.deactivate_user(&helper, &key("ada")).await.unwrap();
    assert_eq!(
        s.deactivate_user(&helper, &key("helper")).await.unwrap_err().code(),
        "forbidden",
        "nobody deactivates themselves"
    );
    // Demoted: the very next call has a learner's permissions.
    s.update_user(
        &cli(),
        &key("helper"),
        UserUpdate {
            user_type: Some("learner".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        s.activate_user(&helper, &key("ada")).await.unwrap_err().code(),
        "forbidden"
    );
    assert_eq!(
        s.list_users(&helper, &UserFilter::default()).await.unwrap_err().code(),
        "forbidden"
    );
    // Deactivated: no authority at all.
    s.update_user(
        &cli(),
        &key("helper"),
        UserUpdate {
            user_type: Some("administrator".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.deactivate_user(&cli(), &key("helper")).await.unwrap();
    assert_eq!(
        s.list_users(&helper, &UserFilter::default()).await.unwrap_err().code(),
        "unauthenticated"
    );
    // Identity providers never create administrators.
    let scim = Context::new(Actor::ScimClient { token_id: 1 }, Channel::Scim);
    assert_eq!(
        s.create_user(&scim, new_user("boss", "branch-administrator"))
            .await
            .unwrap_err()
            .code(),
        "forbidden"
    );
    assert_eq!(
        s.create_user(&scim, new_user("teacher", "instructor"))
            .await
            .unwrap()
            .origin,
        "scim"
    );
});

both_backends!(settings_are_validated_and_audited, |db: TestDb| async move {
    let s = service(&db).await;
    assert_eq!(
        s.set_setting(&cli(), "scim_delete", "purge").await.unwrap_err().code(),
        "invalid_input"
    );
    assert_eq!(
        s.set_setting(&cli(), "colour", "blue").await.unwrap_err().code(),
        "invalid_input"
    );
    s.set_setting(&cli(), "welcome_email", "off").await.unwrap();
    let all = s.settings(&cli()).await.unwrap();
    assert_eq!(all.iter().find(|x| x.key == "welcome_email").unwrap().value, "off");
    let retention = all.iter().find(|x| x.key == "deletion_retention_days").unwrap();
    assert_eq!((retention.value.as_str(), retention.default.as_str()), ("30", "30"));
    let log = s.list_audit(&cli(), &AuditFilter::default()).await.unwrap();
    assert_eq!(log[0].action, "settings.set");
});

both_backends!(
    a_hand_made_cursor_reveals_nothing_about_users_out_of_reach,
    |db: TestDb| async move {
        let s = service(&db).await;
        let boss = two_branches(&s).await;
        let id_of = |name: &'static str| {
            let s = s.clone();
            async move { s.get_user(&cli(), &key(name)).await.unwrap().id }
        };
        let (n1, s1) = (id_of("n1").await, id_of("s1").await);
        for sort in ["email", "name", "-last_login", "username"] {
            let from = |id: i64| UserFilter {
                sort: Some(sort.into()),
                cursor: Some(format!("{sort}.{id}")),
                ..UserFilter::default()
            };
            assert!(
                s.list_users(&boss, &from(n1)).await.is_ok(),
                "{sort}: from a user in reach"
            );
            // A user in another branch, and one that doesn't exist: the same refusal, so
            // neither where s1 sorts nor whether an id exists can be learned.
            let out_of_reach = s.list_users(&boss, &from(s1)).await.unwrap_err();
            let missing = s.list_users(&boss, &from(999_999)).await.unwrap_err();
            assert_eq!(out_of_reach.code(), "invalid_input", "{sort}");
            assert_eq!(out_of_reach.to_string(), missing.to_string(), "{sort}");
            let before = UserFilter {
                cursor: None,
                before: Some(format!("{sort}.{s1}")),
                ..from(s1)
            };
            assert_eq!(s.list_users(&boss, &before).await.unwrap_err().code(), "invalid_input");
            // An administrator reaches everyone: their page after s1 is a real page (s1
            // sorts last in some orders, and past the end the list shows its nearest end, so
            // only its success and s1's absence from the start of it are certain).
            let page = s.list_users(&cli(), &from(s1)).await.unwrap();
            assert!(!page.items.is_empty(), "{sort}");
            assert_ne!(
                page.items[0].id, s1,
                "{sort}: the page after a cursor starts past its row"
            );
        }
    }
);

// A limited administrator: a type based on Administrator with the settings, plan, types and
// integrations taken away manages people — and can neither make a full administrator, nor
// act on one, nor reach what was taken away.
both_backends!(
    a_help_desk_type_manages_users_and_nothing_above_itself,
    |db: TestDb| async move {
        let s = service(&db).await;
        s.set_plan(&cli(), PlanTier::Enterprise, Some(50)).await.unwrap();
        let taken = [
            Area::SettingsManage,
            Area::PlanManage,
            Area::UserTypesManage,
            Area::IntegrationsManage,
        ];
        let t = s
            .create_type(&cli(), "Help desk", "administrator", &taken)
            .await
            .unwrap();
        assert_eq!(t.base, BaseRole::Administrator);
        add(&s, "boss", "administrator").await;
        let desk = add(&s, "desk", "Help desk").await.id;
        add(&s, "pat", "learner").await;
        let me = as_user(desk);

        // People: yes.
        let made = s.create_user(&me, new_user("newbie", "learner")).await.unwrap();
        assert_eq!(made.user_type, "Learner");
        s.create_user(&me, new_user("tutor", "instructor")).await.unwrap();
        s.deactivate_user(&me, &key("pat")).await.unwrap();
        // A full administrator: neither made, nor promoted to, nor touched.
        for (what, err) in [
            (
                "create",
                s.create_user(&me, new_user("rogue", "administrator")).await.map(drop),
            ),
            (
                "promote",
                s.update_user(
                    &me,
                    &key("newbie"),
                    UserUpdate {
                        user_type: Some("administrator".into()),
                        ..Default::default()
                    },
                )
                .await
                .map(drop),
            ),
            (
                "promote self",
                s.update_user(
                    &me,
                    &key("desk"),
                    UserUpdate {
                        user_type: Some("administrator".into()),
                        ..Default::default()
                    },
                )
                .await
                .map(drop),
            ),
            ("deactivate", s.deactivate_user(&me, &key("boss")).await.map(drop)),
            (
                "delete",
                s.delete_user(&me, &key("boss"), Some("boss"), false, None)
                    .await
                    .map(drop),
            ),
            (
                "erase",
                s.delete_user(&me, &key("pat"), Some("pat"), true, None).await.map(drop),
            ),
        ] {
            let e = err.expect_err(what);
            assert_eq!(e.code(), "forbidden", "{what}: {e}");
        }
        // What was taken away: refused.
        assert_eq!(
            s.set_setting(&me, "welcome_email", "off").await.unwrap_err().code(),
            "forbidden"
        );
        assert_eq!(
            s.set_plan(&me, PlanTier::Enterprise, Some(60))
                .await
                .unwrap_err()
                .code(),
            "forbidden"
        );
        assert_eq!(
            s.create_type(&me, "Mine", "administrator", &[])
                .await
                .unwrap_err()
                .code(),
            "forbidden"
        );
        // The full administrator is untouched, and still the last one the rules protect.
        assert_eq!(
            s.get_user(&cli(), &key("boss")).await.unwrap().status,
            UserStatus::Active
        );
        // A type based on Branch Administrator is held to its branches like the built-in one.
        let bt = s
            .create_type(&cli(), "Branch desk", "branch-administrator", &[Area::ImportRun])
            .await
            .unwrap();
        assert!(!bt.areas.contains(&Area::ImportRun) && bt.areas.contains(&Area::UsersManage));
    }
);
