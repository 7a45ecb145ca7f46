//! Sorted, keyset-paged user lists.

use super::*;

/// (username, first name, last name, last sign-in).
const PEOPLE: [(&str, &str, &str, Option<i64>); 10] = [
    ("Carol", "Carol", "Smith", Some(3_000)),
    ("alice", "Zoe", "Smith", None),
    ("bob", "adam", "Smith", Some(1_000)),
    ("dave", "Dave", "Kowalski", Some(3_000)),
    ("erin", "Erin", "Baker", None),
    ("frank", "Frank", "Young", Some(2_000)),
    ("grace", "Grace", "Hopper", Some(9_000)),
    ("heidi", "Heidi", "Nakamura", Some(3_000)),
    ("ivan", "Ivan", "Petrov", Some(500)),
    // A last name another begins with: Smith, Zoe comes before Smithers, Kim.
    ("kim", "Kim", "Smithers", Some(700)),
];

async fn add_people(s: &Service, db: &TestDb) -> Vec<UserView> {
    s.set_plan(&cli(), PlanTier::Enterprise, Some(1_000)).await.unwrap();
    let mut added = vec![];
    for (username, first, last, login) in PEOPLE {
        let u = NewUser {
            first_name: first.into(),
            last_name: last.into(),
            ..new_user(username, "learner")
        };
        added.push(s.create_user(&cli(), u).await.unwrap());
        if let Some(at) = login {
            db.execute(&format!(
                "UPDATE users SET last_login_at = {at} WHERE username = '{username}'"
            ))
            .await;
        }
    }
    // Sign-in times are set by hand (no sign-in can choose its time), so their sort keys
    // are refilled the way `migrate` fills those of older rows.
    db.execute("UPDATE users SET login_key = NULL").await;
    SqlStore::connect(&db.url).await.unwrap().migrate().await.unwrap();
    added
}

/// Every page of a list in `sort`, `per_page` at a time, following the cursors.
async fn walk(s: &Service, base: &UserFilter, sort: &str, per_page: i64) -> Vec<String> {
    let mut filter = UserFilter {
        sort: Some(sort.into()),
        limit: Some(per_page),
        ..base.clone()
    };
    let mut seen = vec![];
    for _ in 0..1_000 {
        let page = s.list_users(&cli(), &filter).await.unwrap();
        assert!(page.items.len() as i64 <= per_page);
        seen.extend(page.items.into_iter().map(|u| u.username));
        match page.next_cursor {
            Some(c) => filter.cursor = Some(c),
            None => return seen,
        }
    }
    panic!("{sort}: the cursor walk never ended");
}

/// The usernames of `people` in the order a key gives, ties broken by creation.
fn expected<K: Ord>(people: &[(usize, &str)], key: impl Fn(usize) -> K, descending: bool) -> Vec<String> {
    let mut order: Vec<(usize, &str)> = people.to_vec();
    order.sort_by_key(|(i, _)| (key(*i), *i));
    if descending {
        order.reverse();
    }
    order.into_iter().map(|(_, name)| name.to_owned()).collect()
}

both_backends!(each_column_sorts_every_page_in_order, |db: TestDb| async move {
    let s = service(&db).await;
    add_people(&s, &db).await;
    let all: Vec<(usize, &str)> = PEOPLE.iter().enumerate().map(|(i, p)| (i, p.0)).collect();
    for descending in [false, true] {
        let dir = if descending { "-" } else { "" };
        let cases: [(&str, Vec<String>); 5] = [
            ("created", expected(&all, |i| i, descending)),
            ("username", expected(&all, |i| PEOPLE[i].0.to_lowercase(), descending)),
            ("email", expected(&all, |i| PEOPLE[i].0.to_lowercase(), descending)),
            (
                "name",
                expected(
                    &all,
                    |i| (PEOPLE[i].2.to_lowercase(), PEOPLE[i].1.to_lowercase()),
                    descending,
                ),
            ),
            ("last_login", expected(&all, |i| PEOPLE[i].3.unwrap_or(0), descending)),
        ];
        for (column, want) in cases {
            let sort = format!("{dir}{column}");
            for per_page in [1, 2, 4, 100] {
                assert_eq!(
                    walk(&s, &UserFilter::default(), &sort, per_page).await,
                    want,
                    "sort={sort}, {per_page} per page"
                );
            }
        }
    }
    // A status filter takes the status's own index; the order and the pages still hold.
    s.deactivate_user(&cli(), &key("grace")).await.unwrap();
    s.deactivate_user(&cli(), &key("Carol")).await.unwrap();
    let active: Vec<(usize, &str)> = all
        .iter()
        .copied()
        .filter(|(_, n)| !["grace", "Carol"].contains(n))
        .collect();
    let only_active = UserFilter {
        status: Some(UserStatus::Active),
        ..UserFilter::default()
    };
    assert_eq!(
        walk(&s, &only_active, "-last_login", 3).await,
        expected(&active, |i| PEOPLE[i].3.unwrap_or(0), true)
    );
    assert_eq!(
        walk(&s, &only_active, "name", 2).await,
        expected(
            &active,
            |i| (PEOPLE[i].2.to_lowercase(), PEOPLE[i].1.to_lowercase()),
            false
        )
    );
});

both_backends!(renames_and_unicode_keep_pages_whole, |db: TestDb| async move {
    let s = service(&db).await;
    add_people(&s, &db).await;
    for (username, first, last) in [
        ("émile", "Émile", "Zola"),
        ("øyvind", "Øyvind", "Ærø"),
        ("İpek", "İpek", "Şahin"),
    ] {
        let u = NewUser {
            first_name: first.into(),
            last_name: last.into(),
            ..new_user(username, "learner")
        };
        s.create_user(&cli(), u).await.unwrap();
    }
    // A rename moves the user in the name order at once (the stored key follows it).
    let rename = UserUpdate {
        last_name: Some("Aaronson".into()),
        ..UserUpdate::default()
    };
    s.update_user(&cli(), &key("ivan"), rename).await.unwrap();
    for sort in ["name", "-name", "username", "-email", "last_login"] {
        let one_page = walk(&s, &UserFilter::default(), sort, 500).await;
        assert_eq!(one_page.len(), PEOPLE.len() + 3);
        for per_page in [1, 3] {
            assert_eq!(
                walk(&s, &UserFilter::default(), sort, per_page).await,
                one_page,
                "sort={sort}: the pages, joined, are the list"
            );
        }
    }
    assert_eq!(walk(&s, &UserFilter::default(), "name", 1).await[0], "ivan");
});

both_backends!(a_cursor_only_continues_its_own_order, |db: TestDb| async move {
    let s = service(&db).await;
    add_people(&s, &db).await;
    let first = s
        .list_users(
            &cli(),
            &UserFilter {
                sort: Some("name".into()),
                limit: Some(2),
                ..UserFilter::default()
            },
        )
        .await
        .unwrap();
    let cursor = first.next_cursor.expect("more than one page");
    for (sort, c) in [
        (Some("-name"), cursor.clone()),
        (None, cursor.clone()),
        (Some("name"), "name.1.zz".into()),
    ] {
        let f = UserFilter {
            sort: sort.map(Into::into),
            cursor: Some(c),
            ..UserFilter::default()
        };
        let e = s.list_users(&cli(), &f).await.unwrap_err();
        assert_eq!(e.code(), "invalid_input", "{sort:?}");
    }
    let bad = UserFilter {
        sort: Some("password_hash".into()),
        ..UserFilter::default()
    };
    let e = s.list_users(&cli(), &bad).await.unwrap_err();
    assert!(e.to_string().contains("last_login"), "the error names the sorts: {e}");
});

both_backends!(
    users_from_before_the_name_key_get_one_when_migrating,
    |db: TestDb| async move {
        let s = service(&db).await;
        let people = add_people(&s, &db).await;
        let bob = &people[2];
        assert_eq!(bob.username, "bob");
        // As an installation that ran before migration 0011 holds them.
        db.execute("UPDATE users SET name_key = NULL, login_key = NULL").await;
        SqlStore::connect(&db.url).await.unwrap().migrate().await.unwrap();
        assert_eq!(
            db.fetch_text("SELECT name_key FROM users WHERE username = 'bob'")
                .await
                .as_deref(),
            Some(format!("smith\tadam\t{:020}", bob.id).as_str())
        );
        let all: Vec<(usize, &str)> = PEOPLE.iter().enumerate().map(|(i, p)| (i, p.0)).collect();
        assert_eq!(
            walk(&s, &UserFilter::default(), "name", 2).await,
            expected(
                &all,
                |i| (PEOPLE[i].2.to_lowercase(), PEOPLE[i].1.to_lowercase()),
                false
            )
        );
    }
);

both_backends!(
    a_sign_in_moves_the_user_to_the_end_of_last_login_order,
    |db: TestDb| async move {
        let s = service(&db).await;
        add_people(&s, &db).await;
        let with_password = NewUser {
            password: Some("correct horse battery".into()),
            ..new_user("judy", "learner")
        };
        s.create_user(&cli(), with_password).await.unwrap();
        assert_eq!(
            walk(&s, &UserFilter::default(), "last_login", 4).await[..3],
            ["alice", "erin", "judy"],
            "never signed in: first, oldest account first"
        );
        s.public()
            .sign_in_password("judy", "correct horse battery", None)
            .await
            .unwrap();
        let order = walk(&s, &UserFilter::default(), "-last_login", 4).await;
        assert_eq!(order[0], "judy", "the latest sign-in comes first: {order:?}");
    }
);

/// SQLite compares text byte by byte (BINARY); PostgreSQL's default collation may be
/// linguistic and ignore the tabs in name keys (putting Smithers before Smith), so there
/// the columns say "C" themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_compares_sort_keys_byte_by_byte() {
    let Some(db) = TestDb::postgres().await else { return };
    let _ = service(&db).await;
    let sql = "SELECT string_agg(column_name || '=' || collation_name, ',' ORDER BY column_name) \
         FROM information_schema.columns WHERE table_name = 'users' AND column_name IN ('login_key', 'name_key')";
    assert_eq!(db.fetch_text(sql).await.as_deref(), Some("login_key=C,name_key=C"));
}

both_backends!(a_cursor_names_a_user_and_follows_them, |db: TestDb| async move {
    let s = service(&db).await;
    add_people(&s, &db).await;
    let by_name = |cursor: Option<String>| UserFilter {
        sort: Some("name".into()),
        limit: Some(3),
        cursor,
        ..UserFilter::default()
    };
    // Baker, Hopper, Kowalski | Nakamura, …
    let first = s.list_users(&cli(), &by_name(None)).await.unwrap();
    assert_eq!(first.items.last().unwrap().username, "dave");
    let cursor = first.next_cursor.unwrap();
    assert!(
        !cursor.contains("kowalski") && !cursor.contains("dave"),
        "no personal data: {cursor}"
    );
    // Renamed between pages, the next page continues from where dave is now.
    let rename = UserUpdate {
        last_name: Some("Young".into()),
        first_name: Some("Zed".into()),
        ..UserUpdate::default()
    };
    s.update_user(&cli(), &key("dave"), rename).await.unwrap();
    let next = s.list_users(&cli(), &by_name(Some(cursor.clone()))).await.unwrap();
    // Nobody sorts after Young, Zed: the list's last page, which ends with dave.
    let last: Vec<&str> = next.items.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(last, ["kim", "frank", "dave"]);
    assert_eq!(next.next_cursor, None);
    // Erased between pages: the cursor says so rather than answering an empty page.
    s.delete_user(&cli(), &key("dave"), Some("dave"), true, None)
        .await
        .unwrap();
    let e = s.list_users(&cli(), &by_name(Some(cursor))).await.unwrap_err();
    assert_eq!(e.code(), "invalid_input");
    assert!(e.to_string().contains("first page"), "{e}");
});

both_backends!(
    users_stored_without_sort_keys_get_them_from_the_minute_job,
    |db: TestDb| async move {
        let s = service(&db).await;
        add_people(&s, &db).await;
        // As an older version still running during a rolling upgrade writes them.
        db.execute("UPDATE users SET name_key = NULL, login_key = NULL WHERE username = 'bob'")
            .await;
        let all: Vec<(usize, &str)> = PEOPLE.iter().enumerate().map(|(i, p)| (i, p.0)).collect();
        let want = expected(&all, |i| (PEOPLE[i].2.to_lowercase(), PEOPLE[i].1.to_lowercase()), true);
        assert_ne!(
            walk(&s, &UserFilter::default(), "-name", 3).await,
            want,
            "without keys bob is out of place, or missing"
        );
        assert_eq!(s.system().fill_missing_sort_keys().await.unwrap(), 1);
        assert_eq!(s.system().fill_missing_sort_keys().await.unwrap(), 0, "nothing left");
        assert_eq!(walk(&s, &UserFilter::default(), "-name", 3).await, want);
    }
);

both_backends!(pages_go_back_as_well_as_forward, |db: TestDb| async move {
    let s = service(&db).await;
    add_people(&s, &db).await;
    for sort in ["name", "-last_login", "created"] {
        let page = |cursor: Option<String>, before: Option<String>| UserFilter {
            sort: Some(sort.into()),
            limit: Some(3),
            cursor,
            before,
            ..UserFilter::default()
        };
        let names = |p: &UserPage| p.items.iter().map(|u| u.username.clone()).collect::<Vec<_>>();
        // Forwards: 3, 3, 3, 1.
        let mut forward = vec![s.list_users(&cli(), &page(None, None)).await.unwrap()];
        assert_eq!(forward[0].prev_cursor, None, "{sort}: nothing before the first page");
        while let Some(c) = forward.last().unwrap().next_cursor.clone() {
            assert!(forward.len() < 10, "{sort}: the cursor walk never ended");
            forward.push(s.list_users(&cli(), &page(Some(c), None)).await.unwrap());
        }
        assert_eq!(forward.len(), 4, "{sort}");
        // Backwards from the last, each page is the one seen going forwards.
        let mut at = forward.last().unwrap().prev_cursor.clone();
        for expected_page in forward[..3].iter().rev() {
            let back = s.list_users(&cli(), &page(None, at.clone())).await.unwrap();
            assert_eq!(names(&back), names(expected_page), "{sort}");
            assert!(back.next_cursor.is_some(), "{sort}: a page after it");
            at = back.prev_cursor;
        }
        assert_eq!(at, None, "{sort}: back at the first page");
    }
    let both = UserFilter {
        cursor: Some("1".into()),
        before: Some("2".into()),
        ..UserFilter::default()
    };
    assert_eq!(s.list_users(&cli(), &both).await.unwrap_err().code(), "invalid_input");
});

both_backends!(names_are_found_ignoring_case_in_any_script, |db: TestDb| async move {
    let s = service(&db).await;
    add_people(&s, &db).await;
    let emile = NewUser {
        first_name: "Émile".into(),
        last_name: "Zola".into(),
        ..new_user("ez", "learner")
    };
    let id = s.create_user(&cli(), emile).await.unwrap().id;
    let search = |q: &str| UserFilter {
        search: Some(q.into()),
        ..UserFilter::default()
    };
    for q in ["émile", "ÉMILE", "zola", "MILE Z"] {
        let found = names(&s, &cli(), search(q)).await;
        let want: &[&str] = if q == "MILE Z" { &[] } else { &["ez"] };
        assert_eq!(found, want, "searching {q:?}");
    }
    // Last and first names both match; the id inside the key never does.
    assert_eq!(names(&s, &cli(), search("kowalski")).await, ["dave"]);
    assert_eq!(names(&s, &cli(), search("Heidi")).await, ["heidi"]);
    assert!(names(&s, &cli(), search(&format!("{id:020}"))).await.is_empty());
});

both_backends!(an_emptied_page_shows_the_nearest_end_instead, |db: TestDb| async move {
    let s = service(&db).await;
    add_people(&s, &db).await;
    let page = |cursor: Option<String>, before: Option<String>| UserFilter {
        limit: Some(3),
        cursor,
        before,
        ..UserFilter::default()
    };
    let usernames = |p: &UserPage| p.items.iter().map(|u| u.username.clone()).collect::<Vec<_>>();
    let erase = |p: UserPage| {
        let s = s.clone();
        async move {
            for u in &p.items {
                s.delete_user(&cli(), &UserKey::Id(UserId(u.id)), Some(&u.username), true, None)
                    .await
                    .unwrap();
            }
        }
    };
    let first = s.list_users(&cli(), &page(None, None)).await.unwrap();
    let second = s
        .list_users(&cli(), &page(first.next_cursor.clone(), None))
        .await
        .unwrap();
    // Everyone before the second page is erased: Previous page shows the list's start,
    // which is now the second page.
    erase(first).await;
    let back = s
        .list_users(&cli(), &page(None, second.prev_cursor.clone()))
        .await
        .unwrap();
    assert_eq!(usernames(&back), usernames(&second));
    assert_eq!(back.prev_cursor, None, "nothing before the start");
    assert!(back.next_cursor.is_some());
    // Everyone after the second page is erased: Next page shows the list's end.
    let after_second = second.next_cursor.clone();
    let mut rest = s.list_users(&cli(), &page(after_second.clone(), None)).await.unwrap();
    for pages in 1.. {
        assert!(pages <= 100, "the cursor walk never ended");
        if rest.items.is_empty() {
            break;
        }
        let next = rest.next_cursor.clone();
        erase(rest).await;
        rest = match next {
            Some(c) => s.list_users(&cli(), &page(Some(c), None)).await.unwrap(),
            None => break,
        };
    }
    let onwards = s.list_users(&cli(), &page(after_second, None)).await.unwrap();
    assert_eq!(usernames(&onwards), usernames(&second));
    assert_eq!(onwards.next_cursor, None, "nothing after the end");
    assert_eq!(onwards.prev_cursor, None, "and, here, nothing before it either");
});
