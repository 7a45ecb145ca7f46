//! The audit log over the API: other people are named by id and resolved when read.

use super::*;

both_backends!(
    the_audit_log_names_other_people_only_while_they_exist,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        let root = app.user("root", "administrator", &[]).await;
        let t = app.token("t", root).await;
        let teach = app.user("teach_x", "instructor", &[]).await;
        let heir = app.user("heir_qz", "instructor", &[]).await;
        let body = json!({"code": "CHEM", "name": "Chemistry", "owner": "teach_x", "units": 1});
        assert_eq!(app.call("POST", "/api/v1/courses", Some(&t), Some(body)).await.0, 201);
        let body = json!({"reassign_courses_to": heir});
        let path = format!("/api/v1/users/{teach}/offboard");
        assert_eq!(app.call("POST", &path, Some(&t), Some(body)).await.0, 200);
        let (_, entries) = app.call("GET", "/api/v1/audit?target=teach_x", Some(&t), None).await;
        let reassign = entries
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "course.reassign")
            .unwrap();
        assert_eq!(
            reassign["changes"]["to"],
            json!({"user_id": heir, "username": "heir_qz"})
        );

        app.service
            .delete_user(
                &Context::cli(),
                &UserKey::from("heir_qz"),
                Some("heir_qz"),
                true,
                Some(&UserKey::from("root")),
            )
            .await
            .unwrap();
        let (status, all) = app.call("GET", "/api/v1/audit?limit=1000", Some(&t), None).await;
        assert_eq!(status, 200);
        assert!(!all.to_string().contains("heir_qz"), "{all}");
        let (_, entries) = app.call("GET", "/api/v1/audit?target=teach_x", Some(&t), None).await;
        let reassign = entries
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "course.reassign")
            .unwrap();
        assert_eq!(reassign["target"], "teach_x");
        assert_eq!(reassign["changes"]["to"], json!({"user_id": heir, "erased": true}));
        assert!(app.service.verify_audit(&Context::cli()).await.unwrap().intact());
    }
);

both_backends!(
    the_audit_filter_takes_only_actions_that_exist,
    |db: TestDb| async move {
        let app = TestApp::start(db).await;
        let root = app.user("root", "administrator", &[]).await;
        let t = app.token("t", root).await;
        let ada = app.user("ada", "learner", &[]).await;
        let path = format!("/api/v1/users/{ada}/deactivate");
        assert_eq!(app.call("POST", &path, Some(&t), None).await.0, 200);

        let (status, entries) = app
            .call("GET", "/api/v1/audit?action=user.deactivate", Some(&t), None)
            .await;
        assert_eq!(status, 200, "{entries}");
        let actions: Vec<&str> = entries
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["user.deactivate"]);

        // A misspelt action is refused, naming the field and the actions that exist, rather
        // than answering an empty list that looks like "nothing happened".
        let (status, err) = app
            .call("GET", "/api/v1/audit?action=user.deactivated", Some(&t), None)
            .await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (400, Some("invalid_input")),
            "{err}"
        );
        let message = err["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("action") && message.contains("user.deactivate,"),
            "{message}"
        );
    }
);
