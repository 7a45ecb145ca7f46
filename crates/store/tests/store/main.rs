//! Service-level tests on a real database, each on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used)] // test helpers unwrap: a failure is the test failing

mod audit;
mod courses;
mod daily_jobs;
mod failpoints;
mod idle;
mod import_batches;
mod import_dry_run;
mod lifecycle;
mod listing;
mod noop;
mod org;
mod roster_sync;
mod seats;
mod sso;
mod throttling;

use rollcall_core::clock::ManualClock;
use rollcall_core::domain::*;
use rollcall_core::service::*;
use rollcall_core::{Actor, Channel, Context, Service};
use rollcall_store::SqlStore;
use rollcall_testkit::{TestDb, both_backends};
use std::sync::Arc;

pub async fn service(db: &TestDb) -> Service {
    let store = SqlStore::connect(&db.url).await.expect("connect");
    store.migrate().await.expect("migrate");
    Service::new(Arc::new(store)).with_audit_key(test_key())
}

/// A service on a clock that stands still until the test moves it: for tests of what
/// time passing does.
pub async fn service_with_clock(db: &TestDb) -> (Service, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::starting_now());
    (service(db).await.with_clock(clock.clone()), clock)
}

pub fn test_key() -> rollcall_core::audit::AuditKey {
    rollcall_core::audit::AuditKey::from_bytes(&rollcall_testkit::TEST_AUDIT_KEY).unwrap()
}

pub fn cli() -> Context {
    Context::cli()
}

pub fn as_user(id: i64) -> Context {
    Context::new(Actor::User(UserId(id)), Channel::Console)
}

pub fn new_user(name: &str, user_type: &str) -> NewUser {
    NewUser {
        username: name.into(),
        email: format!("{name}@example.org"),
        first_name: "Test".into(),
        last_name: name.into(),
        user_type: Some(user_type.into()),
        active: true,
        ..NewUser::default()
    }
}

pub async fn add(s: &Service, name: &str, user_type: &str) -> UserView {
    s.create_user(&cli(), new_user(name, user_type))
        .await
        .unwrap_or_else(|e| panic!("add {name}: {e}"))
}

/// A branch, with a seat cap when given.
pub async fn branch(s: &Service, name: &str, cap: Option<i64>) {
    let b = NewBranch {
        name: name.into(),
        ..NewBranch::default()
    };
    s.add_branch(&cli(), b).await.unwrap();
    if cap.is_some() {
        s.set_branch(&cli(), name, None, Some(cap)).await.unwrap();
    }
}

pub fn key(name: &str) -> UserKey {
    UserKey::from(name)
}

pub async fn names(s: &Service, ctx: &Context, filter: UserFilter) -> Vec<String> {
    s.list_users(ctx, &filter)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|u| u.username)
        .collect()
}

both_backends!(migrating_twice_is_harmless, |db: TestDb| async move {
    let s = service(&db).await;
    let again = SqlStore::connect(&db.url).await.unwrap();
    again.migrate().await.unwrap();
    assert_eq!(
        s.plan(&cli()).await.unwrap().tier,
        PlanTier::Core,
        "a new installation starts on core"
    );
});
