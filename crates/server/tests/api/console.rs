//! The web console in a real browser: Debian's Chromium, headless, driven through
//! chromedriver (WebDriver) against the real server. Screenshots of each page visited go to
//! `target/screenshots/`, and each of those pages is checked by axe-core (the WCAG 2.1 A
//! and AA rules). Without Chromium or axe-core the test is skipped, except under `CI=true`,
//! where it fails.

use super::signin::{login, with_password};
use super::*;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use rollcall_core::domain::{Area, CourseRole, UserStatus};
use rollcall_core::service::{NewCourse, UserFilter};
use tokio::io::AsyncBufReadExt;

/// chromedriver and a headless Chromium session; both end when this is dropped.
struct Browser {
    client: Client,
    /// axe-core's source, injected into each page checked.
    axe: String,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(pid) = self._driver.id() {
            // Also when the test failed before closing its session.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
    }
}

/// axe-core's `axe.min.js` (`rollcall_testkit::axe_js`).
fn axe_source() -> Option<String> {
    let path = rollcall_testkit::axe_js();
    match path.and_then(|p| std::fs::read_to_string(p).ok()) {
        Some(source) => Some(source),
        None => {
            assert!(
                !rollcall_testkit::in_ci(),
                "CI=true but axe-core is missing from .venv (.ci/run installs it)"
            );
            eprintln!("skipping the browser test: no axe-core (run .ci/run once to make the venv)");
            None
        }
    }
}

impl Browser {
    async fn start() -> Option<Browser> {
        let present = |p: &str| std::path::Path::new(p).exists();
        if !present("/usr/bin/chromedriver") || !present("/usr/bin/chromium") {
            assert!(
                !rollcall_testkit::in_ci(),
                "CI=true but chromium / chromedriver are not installed (.ci/run installs them)"
            );
            eprintln!("skipping the browser test: install chromium and chromium-driver");
            return None;
        }
        let axe = axe_source()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut driver = tokio::process::Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::piped())
            // Chromium inherits these: it must not hold the test runner's pipes open.
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            // Its own process group, so Drop can end chromedriver and every Chromium process.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        // Ready when it says so: no sleeping.
        let mut lines = tokio::io::BufReader::new(driver.stdout.take().unwrap()).lines();
        let started = Deadline::after(std::time::Duration::from_secs(60), "chromedriver to start");
        while let Some(line) = started.run(lines.next_line()).await.unwrap() {
            if line.contains("started successfully") {
                break;
            }
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1280,1000", format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.as_object().unwrap().clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session");
        Some(Browser {
            client,
            axe,
            _driver: driver,
            _profile: profile,
        })
    }

    async fn screenshot(&self, name: &str) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        self.check_accessibility(name).await;
    }

    /// Runs axe-core's WCAG 2.1 A/AA rules on this page; any violation fails the test,
    /// naming the rule and the elements.
    async fn check_accessibility(&self, page: &str) {
        self.client.execute(&self.axe, vec![]).await.unwrap();
        const RUN: &str = "const done = arguments[arguments.length - 1];
            axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
              .then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at '
                  + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))))
              .catch(e => done(['axe failed: ' + e]));";
        let violations = self.client.execute_async(RUN, vec![]).await.unwrap();
        let violations: Vec<String> = serde_json::from_value(violations).unwrap();
        assert!(
            violations.is_empty(),
            "accessibility of {page}:\n{}",
            violations.join("\n")
        );
    }

    /// Clicks what submits a form or follows a link, and returns once the next page has
    /// replaced this one (the old document's root goes stale), polling that condition.
    async fn click_and_load(&self, css: &str) {
        let old = self.client.find(Locator::Css("html")).await.unwrap();
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        Self::await_new_page(old, &format!("clicking {css}")).await;
    }

    /// Returns once `old` (the previous document's root) has gone stale.
    async fn await_new_page(old: fantoccini::elements::Element, after: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while old.tag_name().await.is_ok() {
            assert!(std::time::Instant::now() < deadline, "no new page after {after}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// On the user list: applies `action` to every user the filter matches.
    async fn bulk_on_every_match(&self, action: &str) {
        self.client
            .find(Locator::Css("input[name=all_matching]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        self.client
            .find(Locator::Id("action"))
            .await
            .unwrap()
            .select_by_value(action)
            .await
            .unwrap();
        self.click_and_load("form[action='/admin/users/bulk'] fieldset button")
            .await;
    }

    async fn text(&self) -> String {
        self.client
            .find(Locator::Css("body"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn fill(&self, id: &str, value: &str) {
        let input = self.client.find(Locator::Id(id)).await.unwrap();
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }

    async fn sign_in(&self, base: &str, name: &str, password: &str) {
        self.client.delete_all_cookies().await.unwrap();
        self.client.goto(&format!("{base}/login")).await.unwrap();
        self.fill("login", name).await;
        self.fill("password", password).await;
        self.click_and_load("form[action='/login'] button").await;
        assert!(self.text().await.contains(name), "signed in as {name}");
    }
}

both_backends!(
    an_administrator_and_a_learner_use_the_console_in_a_browser,
    |db: TestDb| async move {
        let Some(browser) = Browser::start().await else { return };
        let app = TestApp::start(db).await;
        let b = &browser;
        let base = app.base.clone();
        with_password(&app, "boss", "administrator", "correct horse battery").await;
        let learner = with_password(&app, "lea", "learner", "learner horse battery").await;
        // The learner signed in recently, so is not idle; these three never have.
        assert_eq!(
            login(&app, "lea", "learner horse battery", None)
                .await
                .status()
                .as_u16(),
            200
        );
        for name in ["idle1", "idle2", "idle3"] {
            app.user(name, "learner", &[]).await;
        }
        app.service
            .create_course(
                &Context::cli(),
                NewCourse {
                    code: "SAFETY".into(),
                    name: "Fire safety".into(),
                    units: 3,
                    owner: Some("boss".into()),
                    ..NewCourse::default()
                },
            )
            .await
            .unwrap();
        app.service
            .enroll(
                &Context::cli(),
                &UserKey::Id(UserId(learner)),
                "SAFETY",
                CourseRole::Learner,
            )
            .await
            .unwrap();
        app.branch("north").await;
        app.branch("south").await;
        app.user("nora", "learner", &["north"]).await;
        app.user("sam", "learner", &["south"]).await;
        let bran = NewUser {
            username: "bran".into(),
            email: "bran@example.org".into(),
            first_name: "Bran".into(),
            last_name: "Admin".into(),
            user_type: Some("branch-administrator".into()),
            branches: vec!["north".into()],
            password: Some("branch horse battery".into()),
            active: true,
            send_welcome: Some(false),
            ..NewUser::default()
        };
        app.service.create_user(&Context::cli(), bran).await.unwrap();

        // A branch administrator sees their branch only.
        b.sign_in(&base, "bran", "branch horse battery").await;
        b.client.goto(&format!("{base}/admin/users")).await.unwrap();
        let listed = b.text().await;
        assert!(
            listed.contains("nora@example.org") && !listed.contains("sam@example.org"),
            "{listed}"
        );
        b.screenshot("branch-admin-users").await;

        // The administrator signs in and sees the dashboard.
        b.client.delete_all_cookies().await.unwrap();
        b.client.goto(&format!("{base}/login")).await.unwrap();
        b.screenshot("sign-in").await;
        // By keyboard alone: Tab reaches the fields, the focused one shows a visible
        // outline, and Enter submits.
        let key = |k: Key| String::from(char::from(k));
        let body = b.client.find(Locator::Css("body")).await.unwrap();
        let mut tabs = 0;
        while b
            .client
            .active_element()
            .await
            .unwrap()
            .attr("id")
            .await
            .unwrap()
            .as_deref()
            != Some("login")
        {
            tabs += 1;
            assert!(tabs <= 5, "Tab never reaches the sign-in name");
            body.send_keys(&key(Key::Tab)).await.unwrap();
        }
        let outline = b
            .client
            .execute("return getComputedStyle(document.activeElement).outlineStyle", vec![])
            .await
            .unwrap();
        assert_eq!(outline, json!("solid"), "the focused field is outlined");
        let focused = b.client.active_element().await.unwrap();
        focused
            .send_keys(&format!("boss{}correct horse battery", key(Key::Tab)))
            .await
            .unwrap();
        let old = b.client.find(Locator::Css("html")).await.unwrap();
        b.client
            .active_element()
            .await
            .unwrap()
            .send_keys(&key(Key::Enter))
            .await
            .unwrap();
        Browser::await_new_page(old, "pressing Enter").await;
        assert!(b.text().await.contains("boss"), "signed in by keyboard");
        app.service.system().record_seat_history().await.unwrap();
        b.client.goto(&format!("{base}/admin")).await.unwrap();
        let chart = b
            .client
            .find(Locator::Css("svg[role=img] title"))
            .await
            .expect("the 90-day chart");
        let active = app.service.plan(&Context::cli()).await.unwrap().seats_used;
        assert!(
            chart
                .prop("textContent")
                .await
                .unwrap()
                .unwrap()
                .contains(&format!("now {active}"))
        );
        let dashboard = b.text().await;
        let idle = app
            .service
            .idle_report(&Context::cli(), Some(30))
            .await
            .unwrap()
            .users
            .len();
        assert!(idle >= 3, "idle1, idle2 and idle3 never signed in");
        assert!(
            dashboard.contains("Seats used")
                && dashboard.contains(&format!("Idle 30 days: {idle} active, holding {idle} seats")),
            "{dashboard}"
        );
        b.screenshot("dashboard").await;

        // Add a user: a bad email is shown next to its field, with the input kept.
        b.client.goto(&format!("{base}/admin/users/new")).await.unwrap();
        b.screenshot("add-user").await;
        b.fill("username", "newbie").await;
        b.fill("email", "not-an-email").await;
        b.fill("first_name", "New").await;
        b.fill("last_name", "Person").await;
        b.fill("groups", "no-such-group").await;
        b.click_and_load("form[action='/admin/users/new'] button").await;
        let error = b
            .client
            .find(Locator::Id("email-error"))
            .await
            .expect("the error beside the email field");
        b.fill("groups", "").await;
        assert!(!error.text().await.unwrap().is_empty());
        assert_eq!(
            b.client
                .find(Locator::Id("username"))
                .await
                .unwrap()
                .prop("value")
                .await
                .unwrap()
                .as_deref(),
            Some("newbie")
        );
        b.screenshot("add-user-error").await;
        b.fill("email", "newbie@example.org").await;
        b.click_and_load("form[action='/admin/users/new'] button").await;
        assert!(b.text().await.contains("newbie@example.org"));
        let newbie = app
            .service
            .get_user(&Context::cli(), &UserKey::Username("newbie".into()))
            .await
            .unwrap();
        assert_eq!(newbie.status, "active");

        // Find the idle users by last login and deactivate every match.
        b.client.goto(&format!("{base}/admin/users")).await.unwrap();
        b.client
            .find(Locator::Id("last_login"))
            .await
            .unwrap()
            .select_by_value("30")
            .await
            .unwrap();
        b.click_and_load("form.filters button").await;
        let list = b.text().await;
        for name in ["idle1", "idle2", "idle3", "newbie", "nora", "sam"] {
            assert!(list.contains(name), "{name} is idle: {list}");
        }
        assert!(
            !list.contains("lea@example.org") && !list.contains("boss@example.org"),
            "{list}"
        );
        b.screenshot("users-idle").await;
        // A column heading sorts the list, a second click reverses it; the filter stays.
        let listed = async || -> Vec<String> {
            let mut names = vec![];
            for cell in b
                .client
                .find_all(Locator::Css("tbody td:nth-child(2) a"))
                .await
                .unwrap()
            {
                names.push(cell.text().await.unwrap());
            }
            names
        };
        let aria_sort = async || {
            let th = b
                .client
                .find(Locator::XPath("//th[a[@title='Sort by Username']]"))
                .await
                .unwrap();
            th.attr("aria-sort").await.unwrap().unwrap_or_default()
        };
        assert_eq!(aria_sort().await, "none");
        b.click_and_load("th a[title='Sort by Username']").await;
        let mut want = vec!["idle1", "idle2", "idle3", "newbie", "nora", "sam"];
        assert_eq!(listed().await, want);
        assert_eq!(aria_sort().await, "ascending");
        b.click_and_load("th a[title='Sort by Username']").await;
        want.reverse();
        assert_eq!(listed().await, want, "descending, still only the idle users");
        assert_eq!(aria_sort().await, "descending");
        b.screenshot("users-sorted").await;
        b.bulk_on_every_match("deactivate").await;
        assert!(b.text().await.contains("6 of 6 users changed"), "{}", b.text().await);
        b.screenshot("bulk-outcome").await;
        for name in ["idle1", "idle2", "idle3", "newbie", "nora", "sam"] {
            let u = app
                .service
                .get_user(&Context::cli(), &UserKey::Username(name.into()))
                .await
                .unwrap();
            assert_eq!(u.status, "deactivated", "{name}");
        }
        // Selected rows only: add one user to a branch.
        let idle2 = app
            .service
            .get_user(&Context::cli(), &UserKey::Username("idle2".into()))
            .await
            .unwrap()
            .id;
        b.client.goto(&format!("{base}/admin/users?search=idle")).await.unwrap();
        b.client
            .find(Locator::Id(&format!("u{idle2}")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        b.client
            .find(Locator::Id("action"))
            .await
            .unwrap()
            .select_by_value("add_to_branch")
            .await
            .unwrap();
        b.fill("value", "south").await;
        b.click_and_load("form[action='/admin/users/bulk'] fieldset button")
            .await;
        assert!(b.text().await.contains("1 of 1 users changed"), "{}", b.text().await);
        let moved = app
            .service
            .get_user(&Context::cli(), &UserKey::Id(UserId(idle2)))
            .await
            .unwrap();
        assert_eq!(moved.branches, ["south"]);
        for name in ["boss", "lea", "bran"] {
            let u = app
                .service
                .get_user(&Context::cli(), &UserKey::Username(name.into()))
                .await
                .unwrap();
            assert_eq!(u.status, "active", "{name}");
        }

        // A form posted without its CSRF token is refused, and nothing is created.
        b.client.goto(&format!("{base}/admin/users/new")).await.unwrap();
        b.fill("username", "forged").await;
        b.fill("email", "forged@example.org").await;
        b.fill("first_name", "For").await;
        b.fill("last_name", "Ged").await;
        b.client
            .execute(
                "document.querySelector(\"form[action='/admin/users/new'] input[name=csrf]\").remove()",
                vec![],
            )
            .await
            .unwrap();
        b.click_and_load("form[action='/admin/users/new'] button").await;
        assert!(b.text().await.contains("Refused"));
        assert!(
            app.service
                .get_user(&Context::cli(), &UserKey::Username("forged".into()))
                .await
                .is_err()
        );

        // Import through the wizard: a dry-run preview first, then the commit and its report.
        let csv = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
        std::fs::write(
            csv.path(),
            "username,email,first_name,last_name\nimp1,imp1@example.org,Imp,One\nimp2,imp2@example.org,Imp,Two\n",
        )
        .unwrap();
        b.client.goto(&format!("{base}/admin/import")).await.unwrap();
        b.screenshot("import-upload").await;
        b.client
            .find(Locator::Id("file"))
            .await
            .unwrap()
            .send_keys(&csv.path().display().to_string())
            .await
            .unwrap();
        b.click_and_load("form[action='/admin/import/preview'] button").await;
        let preview = b.text().await;
        assert!(preview.contains("2 created") && preview.contains("imp2"), "{preview}");
        assert!(
            app.service
                .get_user(&Context::cli(), &UserKey::Username("imp1".into()))
                .await
                .is_err(),
            "the preview writes nothing"
        );
        b.screenshot("import-preview").await;
        b.click_and_load("form[action='/admin/import/commit'] button").await;
        assert!(b.text().await.contains("The import is done"));
        b.screenshot("import-report").await;
        for name in ["imp1", "imp2"] {
            assert_eq!(
                app.service
                    .get_user(&Context::cli(), &UserKey::Username(name.into()))
                    .await
                    .unwrap()
                    .status,
                "active"
            );
        }

        // A roster sync through the wizard, within one branch: the file lists imp1 only, so
        // imp2 goes — past the deletion guard (one of two is over 10%), which asks for a
        // confirmation naming the count.
        app.branch("Roster").await;
        for name in ["imp1", "imp2"] {
            let upd = rollcall_core::service::UserUpdate {
                add_branches: vec!["Roster".into()],
                ..rollcall_core::service::UserUpdate::default()
            };
            app.service
                .update_user(&Context::cli(), &UserKey::Username(name.into()), upd)
                .await
                .unwrap();
        }
        std::fs::write(
            csv.path(),
            "username,email,first_name,last_name\nimp1,imp1@example.org,Imp,One\n",
        )
        .unwrap();
        b.client.goto(&format!("{base}/admin/import")).await.unwrap();
        b.client
            .find(Locator::Id("file"))
            .await
            .unwrap()
            .send_keys(&csv.path().display().to_string())
            .await
            .unwrap();
        b.client
            .find(Locator::Css("input[name='sync']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        b.client
            .find(Locator::Css("input[name='scope_branch']"))
            .await
            .unwrap()
            .send_keys("Roster")
            .await
            .unwrap();
        b.click_and_load("form[action='/admin/import/preview'] button").await;
        let preview = b.text().await;
        assert!(
            preview.contains("imp2") && preview.contains("sync_max_deactivation_share"),
            "{preview}"
        );
        let button = b
            .client
            .find(Locator::Css("form[action='/admin/import/commit'] button"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(button, "Deactivate 1 user and import", "{preview}");
        let imp = |name: &str| {
            let service = app.service.clone();
            let name = name.to_owned();
            async move {
                service
                    .get_user(&Context::cli(), &UserKey::Username(name))
                    .await
                    .unwrap()
                    .status
            }
        };
        assert_eq!(imp("imp2").await, "active", "the preview writes nothing");
        b.click_and_load("form[action='/admin/import/commit'] button").await;
        assert!(b.text().await.contains("deactivated"));
        assert_eq!(
            (imp("imp1").await, imp("imp2").await),
            (UserStatus::Active, UserStatus::Deactivated)
        );
        app.service
            .activate_user(&Context::cli(), &UserKey::Username("imp2".into()))
            .await
            .unwrap();

        // Edit a profile (name and a branch), then offboard.
        let imp1 = app
            .service
            .get_user(&Context::cli(), &UserKey::Username("imp1".into()))
            .await
            .unwrap()
            .id;
        b.client.goto(&format!("{base}/admin/users/{imp1}")).await.unwrap();
        b.fill("e-first_name", "Imogen").await;
        b.fill("e-branches", "north").await;
        b.click_and_load("form[action$='/edit'] button").await;
        let edited = app
            .service
            .get_user(&Context::cli(), &UserKey::Id(UserId(imp1)))
            .await
            .unwrap();
        assert_eq!(
            (edited.first_name.as_str(), edited.branches.clone()),
            ("Imogen", vec!["north".to_owned()])
        );
        b.fill("reassign_to", "boss").await;
        b.click_and_load("form[action$='/offboard'] button").await;
        assert!(b.text().await.contains("offboarded"));
        let offboarded = app
            .service
            .get_user(&Context::cli(), &UserKey::Id(UserId(imp1)))
            .await
            .unwrap();
        assert_eq!(offboarded.status, "deactivated");
        assert_eq!(offboarded.branches, ["north"], "records and memberships are kept");

        // A custom type cloned from Learner can't be given an area Learner lacks.
        b.client.goto(&format!("{base}/admin/types")).await.unwrap();
        b.fill("name", "Mentor").await;
        b.client
            .find(Locator::Id("base"))
            .await
            .unwrap()
            .select_by_value("learner")
            .await
            .unwrap();
        b.click_and_load("form[action='/admin/types'] button").await;
        let manage = b.client.find(Locator::Id("area-users.manage")).await.unwrap();
        assert_eq!(
            manage.prop("disabled").await.unwrap().as_deref(),
            Some("true"),
            "an area above the base is disabled"
        );
        let take = b.client.find(Locator::Id("area-courses.take")).await.unwrap();
        assert_eq!(take.prop("disabled").await.unwrap().as_deref(), Some("false"));
        b.screenshot("user-type").await;
        // Forced on in the page anyway, the server still refuses it.
        b.client
            .execute(
                "const c = document.getElementById('area-users.manage'); c.disabled = false; c.checked = true;",
                vec![],
            )
            .await
            .unwrap();
        b.click_and_load("form[action^='/admin/types/'] button").await;
        assert!(
            b.client.find(Locator::Css("[role=alert]")).await.is_ok(),
            "the refusal is shown"
        );
        let mentor = app
            .service
            .list_types(&Context::cli())
            .await
            .unwrap()
            .into_iter()
            .find(|t| t.name == "Mentor")
            .unwrap();
        assert!(!mentor.areas.contains(&Area::UsersManage), "{:?}", mentor.areas);

        // A user's page: reactivate, delete only with the username typed, restore from the trash.
        let idle1 = app
            .service
            .get_user(&Context::cli(), &UserKey::Username("idle1".into()))
            .await
            .unwrap()
            .id;
        let status = || async {
            app.service
                .get_user(&Context::cli(), &UserKey::Id(UserId(idle1)))
                .await
                .unwrap()
                .status
        };
        b.client.goto(&format!("{base}/admin/users/{idle1}")).await.unwrap();
        b.click_and_load("form[action$='/status'] button").await;
        assert_eq!(status().await, "active");
        b.fill("confirm", "someone-else").await;
        b.click_and_load("form[action$='/delete'] button").await;
        assert_eq!(status().await, "active", "a wrong confirmation deletes nothing");
        b.client.goto(&format!("{base}/admin/users/{idle1}")).await.unwrap();
        b.screenshot("user-page").await;
        b.fill("confirm", "idle1").await;
        b.click_and_load("form[action$='/delete'] button").await;
        assert_eq!(status().await, "trash");
        b.client
            .goto(&format!("{base}/admin/users?status=trash"))
            .await
            .unwrap();
        assert!(b.text().await.contains("idle1"));
        b.screenshot("trash").await;
        b.client.goto(&format!("{base}/admin/users/{idle1}")).await.unwrap();
        b.click_and_load("form[action$='/status'] button").await;
        assert_ne!(status().await, "trash", "restored");

        // The audit log records what was done here, through the console.
        b.client
            .goto(&format!("{base}/admin/audit?target=idle1"))
            .await
            .unwrap();
        let audit = b.text().await;
        assert!(audit.contains("boss") && audit.contains("idle1"), "{audit}");
        b.screenshot("audit").await;
        let boss = super::signin::session_cookie(&login(&app, "boss", "correct horse battery", None).await).unwrap();
        let today = chrono::Utc::now().format("%Y-%m-%d");
        let csv = app
            .http
            .get(format!(
                "{base}/admin/audit.csv?target=idle1&action=user.delete&since={today}"
            ))
            .header("cookie", &boss)
            .send()
            .await
            .unwrap();
        assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
        let csv = csv.text().await.unwrap();
        assert!(
            csv.starts_with("at,actor,channel,action,target,changes,source\n"),
            "{csv}"
        );
        // Filtered to the one deletion of idle1 (the wrong confirmation wrote nothing).
        assert_eq!(csv.lines().count(), 2, "{csv}");
        assert!(
            csv.lines().nth(1).unwrap().contains("\"user.delete\",\"idle1\""),
            "{csv}"
        );

        // Branches, groups, courses, the plan and tokens.
        b.client.goto(&format!("{base}/admin/branches")).await.unwrap();
        b.fill("name", "east").await;
        b.fill("seat_cap", "5").await;
        b.click_and_load("form[action='/admin/branches'] button").await;
        assert!(b.text().await.contains("east"));
        b.screenshot("branches").await;
        b.client.goto(&format!("{base}/admin/groups")).await.unwrap();
        b.fill("name", "Pilots").await;
        b.click_and_load("form[action='/admin/groups'] button").await;
        b.fill("group", "Pilots").await;
        b.fill("username", "lea").await;
        b.click_and_load("form[action='/admin/groups/members'] button").await;
        let lea = app
            .service
            .get_user(&Context::cli(), &UserKey::Username("lea".into()))
            .await
            .unwrap();
        assert_eq!(lea.groups, ["Pilots"]);
        b.screenshot("groups").await;
        b.client.goto(&format!("{base}/admin/courses")).await.unwrap();
        b.fill("code", "FIRST").await;
        b.fill("name", "First aid").await;
        b.fill("units", "2").await;
        b.click_and_load("form[action='/admin/courses'] button").await;
        assert!(b.text().await.contains("First aid"));
        b.fill("course_code", "FIRST").await;
        b.fill("username", "bran").await;
        b.click_and_load("form[action='/admin/courses/enroll'] button").await;
        let enrolled = app.service.course_enrollments(&Context::cli(), "FIRST").await.unwrap();
        assert!(enrolled.iter().any(|e| e.username == "bran"), "{enrolled:?}");
        b.screenshot("courses").await;
        // A course given to a group reaches its members.
        b.client.goto(&format!("{base}/admin/groups")).await.unwrap();
        b.fill("course_group", "Pilots").await;
        b.fill("course_code", "FIRST").await;
        b.click_and_load("form[action='/admin/groups/courses'] button").await;
        let enrolled = app.service.course_enrollments(&Context::cli(), "FIRST").await.unwrap();
        assert!(enrolled.iter().any(|e| e.username == "lea"), "{enrolled:?}");
        b.client.goto(&format!("{base}/admin/courses/FIRST")).await.unwrap();
        let page = b.text().await;
        assert!(
            page.contains("bran") && page.contains("lea"),
            "the course lists its enrollments: {page}"
        );
        b.screenshot("course-page").await;
        b.client.goto(&format!("{base}/admin/plan")).await.unwrap();
        assert!(b.text().await.contains("seats used"));
        b.screenshot("plan").await;
        b.client.goto(&format!("{base}/admin/tokens")).await.unwrap();
        // The SCIM base URL an identity provider is given, beside the tokens.
        for id in ["scim-base-okta", "scim-base-entra"] {
            let shown = b.client.find(Locator::Id(id)).await.unwrap().text().await.unwrap();
            assert_eq!(shown, format!("{}/scim/v2", app.public_base), "{id}");
        }
        b.fill("name", "script").await;
        b.fill("username", "boss").await;
        b.click_and_load("form[action='/admin/tokens'] button").await;
        let token = b
            .client
            .find(Locator::Id("new-token"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(token.starts_with("rc_api_"), "{token}");
        let (status, _) = app.call("GET", "/api/v1/users", Some(&token), None).await;
        assert_eq!(status, 200, "the token shown works");
        b.click_and_load("form[action='/admin/tokens/revoke'] button").await;
        assert!(!b.text().await.contains(&token), "shown only once");
        let (status, _) = app.call("GET", "/api/v1/users", Some(&token), None).await;
        assert_eq!(status, 401, "revoked");
        b.screenshot("tokens").await;

        // On a phone-width screen the pages fit: nothing scrolls sideways.
        b.client.set_window_size(390, 844).await.unwrap();
        for (path, name) in [
            ("/admin", "dashboard-phone"),
            ("/admin/users", "users-phone"),
            ("/admin/users/new", "add-user-phone"),
        ] {
            b.client.goto(&format!("{base}{path}")).await.unwrap();
            // The elements reaching past the right edge, outermost first.
            const WIDE: &str = "const w = document.documentElement.clientWidth;
                return [...document.querySelectorAll('body *')]
                  .filter(e => e.getBoundingClientRect().right > w + 1)
                  .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));";
            let wide = b.client.execute(WIDE, vec![]).await.unwrap();
            assert_eq!(wide, json!([]), "{path} scrolls sideways on a phone");
            b.screenshot(name).await;
        }
        b.client.set_window_size(1280, 1000).await.unwrap();

        // Pages: sixty more accounts (deactivated: they hold no seat), listed 50 at a time in
        // username order; Next page continues exactly where the first ended.
        for i in 0..60 {
            let extra = NewUser {
                username: format!("page{i:02}"),
                email: format!("page{i:02}@example.org"),
                first_name: "Paged".into(),
                last_name: "Account".into(),
                active: false,
                ..NewUser::default()
            };
            app.service.create_user(&Context::cli(), extra).await.unwrap();
        }
        let deactivated = UserFilter {
            status: Some(rollcall_core::domain::UserStatus::Deactivated),
            limit: Some(500),
            ..UserFilter::default()
        };
        let mut want: Vec<String> = app
            .service
            .list_users(&Context::cli(), &deactivated)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|u| u.username)
            .collect();
        want.sort_by_key(|n| n.to_lowercase());
        b.client
            .goto(&format!("{base}/admin/users?status=deactivated&sort=username"))
            .await
            .unwrap();
        let first = listed().await;
        assert_eq!(first, want[..50]);
        b.click_and_load("nav.pages a.next").await;
        assert_eq!(listed().await, want[50..], "the second page is the rest, in order");
        b.screenshot("users-page-2").await;
        b.click_and_load("nav.pages a.prev").await;
        assert_eq!(listed().await, first, "Previous page goes back a page");
        b.click_and_load("nav.pages a.next").await;
        b.click_and_load("nav.pages a.first").await;
        assert_eq!(listed().await, first, "First page goes back to the top");

        // Deleting every match is confirmed on a page naming how many, warning that
        // records go; only then are they moved to the trash.
        b.client.goto(&format!("{base}/admin/users?search=page")).await.unwrap();
        b.bulk_on_every_match("delete").await;
        let confirm = b.text().await;
        assert!(
            confirm.contains("Delete 60 users?") && confirm.contains("grades and certificates are erased"),
            "{confirm}"
        );
        let trash = UserFilter {
            status: Some(rollcall_core::domain::UserStatus::Trash),
            search: Some("page".into()),
            ..UserFilter::default()
        };
        assert_eq!(
            app.service.count_users(&Context::cli(), &trash).await.unwrap(),
            0,
            "nothing yet"
        );
        b.screenshot("bulk-delete-confirm").await;
        b.click_and_load("form:has(input[name=confirm_count]) button").await;
        assert!(b.text().await.contains("60 of 60 users changed"), "{}", b.text().await);
        assert_eq!(app.service.count_users(&Context::cli(), &trash).await.unwrap(), 60);

        // Settings: a platform setting, and single sign-on from the IdP's metadata.
        b.client.goto(&format!("{base}/admin/settings")).await.unwrap();
        b.fill("s-deletion_retention_days", "45").await;
        b.click_and_load("form:has(#s-deletion_retention_days) button").await;
        let settings = app.service.settings(&Context::cli()).await.unwrap();
        assert_eq!(
            settings
                .iter()
                .find(|s| s.key == "deletion_retention_days")
                .unwrap()
                .value,
            "45"
        );
        b.fill("metadata", &rollcall_saml::test_idp::TestIdp::new().metadata())
            .await;
        b.fill("mappings", "mail=email").await;
        b.click_and_load("form[action='/admin/settings/sso'] button").await;
        let sso = app
            .service
            .public()
            .sso_config()
            .await
            .unwrap()
            .expect("single sign-on configured");
        assert_eq!(sso.idp_entity_id, "https://idp.test.example/metadata");
        assert!(sso.jit);
        assert_eq!(sso.mappings.get("mail").map(String::as_str), Some("email"));
        assert!(b.text().await.contains("idp.test.example"));
        b.screenshot("settings").await;

        // Teaching: the owner of a course grades its learners.
        b.client.goto(&format!("{base}/teach")).await.unwrap();
        b.fill(&format!("g-SAFETY-{learner}"), "88").await;
        b.click_and_load(&format!("form:has(#g-SAFETY-{learner}) button")).await;
        let graded = app.service.course_enrollments(&Context::cli(), "SAFETY").await.unwrap();
        assert_eq!(graded.iter().find(|e| e.user_id == learner).unwrap().grade, Some(88));
        b.screenshot("teaching").await;
        b.client.goto(&format!("{base}/admin/users/{learner}")).await.unwrap();
        let record = b.text().await;
        assert!(
            record.contains("Fire safety") && record.contains("88"),
            "the user page shows courses and grades: {record}"
        );

        // The learner: no admin links, 403 on an admin page, their own courses.
        b.sign_in(&base, "lea", "learner horse battery").await;
        b.client.goto(&format!("{base}/learn")).await.unwrap();
        let courses = b.text().await;
        assert!(courses.contains("Fire safety"), "{courses}");
        assert!(
            !courses.contains("Users") && !courses.contains("Dashboard"),
            "no links to what a learner can't use: {courses}"
        );
        b.click_and_load("form[action='/learn/complete'] button").await;
        assert!(b.text().await.contains("33%"), "{}", b.text().await);
        assert!(b.text().await.contains("My certificates"));
        b.screenshot("learner-courses").await;
        // Their own account, reached from their name in the header.
        b.click_and_load("header a[href='/account']").await;
        assert!(b.text().await.contains("Sign out everywhere"));
        b.screenshot("account").await;
        b.client.goto(&format!("{base}/admin/users")).await.unwrap();
        assert!(b.text().await.contains("Forbidden"));
        b.screenshot("forbidden").await;
        let status = app
            .http
            .get(format!("{base}/admin/users"))
            .header("cookie", learner_cookie(&app).await)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 403);

        browser.client.clone().close().await.unwrap();
    }
);

/// A learner's session cookie, for checking status codes the browser doesn't expose.
async fn learner_cookie(app: &TestApp) -> String {
    let resp = login(app, "lea", "learner horse battery", None).await;
    super::signin::session_cookie(&resp).unwrap()
}
