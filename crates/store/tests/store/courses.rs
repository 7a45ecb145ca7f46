use super::*;
use rollcall_core::domain::CourseRole;

fn course(code: &str, units: i64) -> NewCourse {
    NewCourse {
        code: code.into(),
        name: format!("Course {code}"),
        units,
        ..NewCourse::default()
    }
}

both_backends!(
    a_learners_records_through_the_whole_lifecycle,
    |db: TestDb| async move {
        let s = service(&db).await;
        add(&s, "root", "administrator").await;
        let teach = as_user(add(&s, "teach", "instructor").await.id);
        add(&s, "heir", "instructor").await;
        let other = as_user(add(&s, "other", "instructor").await.id);
        let ada_id = add(&s, "ada", "learner").await.id;
        let ada = as_user(ada_id);

        // Instructors create courses; learners don't.
        let c = s.create_course(&teach, course("CHEM-101", 3)).await.unwrap();
        assert_eq!(c.owner, "teach");
        assert_eq!(
            s.create_course(&ada, course("X", 1)).await.unwrap_err().code(),
            "forbidden"
        );
        assert_eq!(
            s.enroll(&other, &key("ada"), "CHEM-101", CourseRole::Learner)
                .await
                .unwrap_err()
                .code(),
            "forbidden"
        );
        s.enroll(&teach, &key("ada"), "chem-101", CourseRole::Learner)
            .await
            .unwrap();

        // Progress, in order; the last unit completes the course and issues the certificate.
        let me = UserKey::Id(UserId(ada_id));
        assert_eq!(
            s.complete_unit(&ada, &me, "CHEM-101", 2).await.unwrap_err().code(),
            "unit_order"
        );
        for unit in 1..=3 {
            s.complete_unit(&ada, &me, "CHEM-101", unit).await.unwrap();
        }
        let mine = s.my_courses(&ada).await.unwrap();
        assert_eq!((mine[0].progress_pct, mine[0].completed_at.is_some()), (100, true));
        assert_eq!(
            s.grade(&ada, &me, "CHEM-101", 100).await.unwrap_err().code(),
            "forbidden",
            "no grading one's own course"
        );
        assert_eq!(
            s.grade(&other, &me, "CHEM-101", 100).await.unwrap_err().code(),
            "forbidden",
            "nor someone else's"
        );
        s.grade(&teach, &me, "CHEM-101", 90).await.unwrap();
        let export = s.export_subject(&cli(), &key("ada")).await.unwrap();
        assert_eq!(export.enrollments[0].grade, Some(90));
        let code = export.certificates[0].code.clone();
        assert_eq!(s.public().verify_certificate(&code).await.unwrap().holder, "Test ada");
        assert!(export.audit.iter().any(|e| e.action == "course.unit_complete"));

        // Deactivation keeps every record and frees the seat; activation restores them identical.
        let seats = s.plan(&cli()).await.unwrap().seats_used;
        s.deactivate_user(&cli(), &key("ada")).await.unwrap();
        assert_eq!(s.plan(&cli()).await.unwrap().seats_used, seats - 1);
        let kept = s.export_subject(&cli(), &key("ada")).await.unwrap();
        assert_eq!(
            (kept.enrollments.clone(), kept.certificates.clone()),
            (export.enrollments.clone(), export.certificates.clone())
        );
        s.activate_user(&cli(), &key("ada")).await.unwrap();
        let back = s.export_subject(&cli(), &key("ada")).await.unwrap();
        assert_eq!(
            (back.enrollments, back.certificates),
            (export.enrollments.clone(), export.certificates.clone())
        );

        // Deleting the owner moves the course to the named owner; the learner's records stay.
        s.delete_user(&cli(), &key("teach"), Some("teach"), false, Some(&key("heir")))
            .await
            .unwrap();
        assert_eq!(
            s.list_courses(&cli(), Some("heir"), false).await.unwrap()[0].code,
            "CHEM-101"
        );
        assert_eq!(
            s.delete_user(&cli(), &key("heir"), Some("heir"), false, None)
                .await
                .unwrap_err()
                .code(),
            "invalid_input",
            "the CLI operator must name the new owner"
        );

        // In the trash the records are kept; restore brings them back.
        s.delete_user(&cli(), &key("ada"), Some("ada"), false, None)
            .await
            .unwrap();
        assert_eq!(
            s.export_subject(&cli(), &key("ada")).await.unwrap().enrollments.len(),
            1
        );
        s.restore_user(&cli(), &key("ada")).await.unwrap();
        assert_eq!(
            s.export_subject(&cli(), &key("ada")).await.unwrap().certificates.len(),
            1
        );

        // Purge erases them; the audit log keeps pseudonymous entries and still verifies.
        s.delete_user(&cli(), &key("ada"), Some("ada"), true, None)
            .await
            .unwrap();
        assert!(s.course_enrollments(&cli(), "CHEM-101").await.unwrap().is_empty());
        assert_eq!(
            s.public().verify_certificate(&code).await.unwrap_err().code(),
            "not_found"
        );
        let report = s.verify_audit(&cli()).await.unwrap();
        assert!(report.problem.is_none(), "{:?}", report.problem);
        let entries = s
            .list_audit(
                &cli(),
                &AuditFilter {
                    limit: Some(1000),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let about_ada: Vec<_> = entries.iter().filter(|e| e.target_id == Some(ada_id)).collect();
        assert!(
            !about_ada.is_empty()
                && about_ada
                    .iter()
                    .all(|e| e.target.is_none() && !e.changes.to_string().contains("CHEM"))
        );
        // A new account with the same email starts with no history.
        let again = as_user(add(&s, "ada", "learner").await.id);
        assert!(s.my_courses(&again).await.unwrap().is_empty());
        assert!(
            s.export_subject(&cli(), &key("ada"))
                .await
                .unwrap()
                .certificates
                .is_empty()
        );
    }
);

both_backends!(offboarding_and_orphaned_courses, |db: TestDb| async move {
    let s = service(&db).await;
    let root = as_user(add(&s, "root", "administrator").await.id);
    let teach_id = add(&s, "teach", "instructor").await.id;
    s.create_course(
        &cli(),
        NewCourse {
            owner: Some("teach".into()),
            ..course("SAFE", 2)
        },
    )
    .await
    .unwrap();
    s.create_course(
        &cli(),
        NewCourse {
            owner: Some("teach".into()),
            ..course("FIRE", 1)
        },
    )
    .await
    .unwrap();
    let token = s
        .create_token(
            &cli(),
            "teach-token",
            TokenScope::Api,
            Some(&UserKey::Id(UserId(teach_id))),
            None,
        )
        .await
        .unwrap();
    // Deactivated without offboarding: the courses are orphaned.
    s.deactivate_user(&cli(), &key("teach")).await.unwrap();
    let orphaned: Vec<String> = s
        .list_courses(&root, None, true)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.code)
        .collect();
    assert_eq!(orphaned, vec!["FIRE", "SAFE"]);
    s.activate_user(&cli(), &key("teach")).await.unwrap();
    assert!(s.list_courses(&root, None, true).await.unwrap().is_empty());
    // Offboarding: deactivated, courses to the acting administrator, tokens revoked — at once.
    let report = s.offboard(&root, &key("teach"), None).await.unwrap();
    assert_eq!(
        (
            report.user.status.as_str(),
            report.courses_reassigned,
            report.new_owner.as_deref()
        ),
        ("deactivated", 2, Some("root"))
    );
    assert!(s.list_courses(&root, None, true).await.unwrap().is_empty());
    assert_eq!(
        s.public()
            .authenticate_token(&token.token, TokenScope::Api)
            .await
            .unwrap_err()
            .code(),
        "unauthenticated"
    );
    let log = s
        .list_audit(
            &cli(),
            &AuditFilter {
                target: Some("teach".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"user.offboard")
            && actions.contains(&"course.reassign")
            && actions.contains(&"user.deactivate")
    );
    assert_eq!(
        s.offboard(&root, &key("root"), None).await.unwrap_err().code(),
        "forbidden",
        "nobody offboards themselves"
    );
});

both_backends!(groups_carry_courses, |db: TestDb| async move {
    let s = service(&db).await;
    add(&s, "root", "administrator").await;
    add(&s, "teach", "instructor").await;
    let ada = as_user(add(&s, "ada", "learner").await.id);
    add(&s, "bob", "learner").await;
    s.create_course(
        &cli(),
        NewCourse {
            owner: Some("teach".into()),
            ..course("SAFE", 2)
        },
    )
    .await
    .unwrap();
    s.add_group(
        &cli(),
        NewGroup {
            name: "Safety".into(),
            key: Some("SAFE-2026".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.add_group_members(&cli(), "Safety", &[key("bob")]).await.unwrap();
    assert_eq!(
        s.add_group_course(&cli(), "Safety", "SAFE").await.unwrap(),
        1,
        "existing members are enrolled"
    );
    assert_eq!(s.course_enrollments(&cli(), "SAFE").await.unwrap().len(), 1);
    // A learner joins by the key, and with it the course.
    assert_eq!(s.join_group(&ada, "WRONG-KEY").await.unwrap_err().code(), "not_found");
    let mine = s.join_group(&ada, "SAFE-2026").await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].course, "SAFE");
});

both_backends!(
    a_learning_record_is_shown_to_its_owner_and_to_user_managers_only,
    |db: TestDb| async move {
        let s = service(&db).await;
        add(&s, "owner", "instructor").await;
        let ada = add(&s, "ada", "learner").await.id;
        let bob = add(&s, "bob", "learner").await.id;
        let course = NewCourse {
            code: "ONE".into(),
            name: "One".into(),
            units: 1,
            owner: Some("owner".into()),
            ..NewCourse::default()
        };
        s.create_course(&cli(), course).await.unwrap();
        s.enroll(&cli(), &key("ada"), "ONE", CourseRole::Learner).await.unwrap();
        s.complete_unit(&cli(), &key("ada"), "ONE", 1).await.unwrap();

        let (courses, certificates) = s
            .learning_record(&as_user(ada), &UserKey::Id(UserId(ada)))
            .await
            .unwrap();
        assert_eq!((courses.len(), courses[0].progress_pct), (1, 100));
        assert_eq!(certificates.len(), 1, "completing the course issues a certificate");
        let (_, seen) = s.learning_record(&cli(), &key("ada")).await.unwrap();
        assert_eq!(seen, certificates);
        assert_eq!(
            s.learning_record(&as_user(bob), &key("ada")).await.unwrap_err().code(),
            "forbidden"
        );
    }
);

both_backends!(
    an_instructor_sees_their_own_courses_and_learners_to_grade,
    |db: TestDb| async move {
        let s = service(&db).await;
        add(&s, "root", "administrator").await;
        let teach = as_user(add(&s, "teach", "instructor").await.id);
        let other = as_user(add(&s, "other", "instructor").await.id);
        let ada = as_user(add(&s, "ada", "learner").await.id);
        s.create_course(&teach, course("CHEM-101", 2)).await.unwrap();
        s.create_course(&other, course("BIO-101", 2)).await.unwrap();
        s.enroll(&teach, &key("ada"), "CHEM-101", CourseRole::Learner)
            .await
            .unwrap();
        let mine = s.teaching(&teach).await.unwrap();
        assert_eq!(mine.len(), 1, "only their own course");
        assert_eq!(mine[0].0.code, "CHEM-101");
        assert_eq!(
            mine[0].1.iter().map(|e| e.username.as_str()).collect::<Vec<_>>(),
            ["ada"]
        );
        assert!(s.teaching(&other).await.unwrap()[0].1.is_empty());
        assert_eq!(
            s.teaching(&ada).await.unwrap_err().code(),
            "forbidden",
            "learners don't grade"
        );
    }
);
