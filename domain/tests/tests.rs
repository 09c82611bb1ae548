//! Domain integration tests, each run against SQLite and PostgreSQL.

mod accounts;
mod database;
mod sessions;

use std::sync::Arc;

use domain::{
    Domain,
    testing::{Backend, ManualClock, TestDb},
};

/// A domain on a fresh database, with a clock the test controls.
pub(crate) async fn open(backend: Backend) -> (Domain, ManualClock, TestDb) {
    let db = TestDb::create(backend).await;
    let clock = ManualClock::starting_at(1_800_000_000_000);
    let domain = Domain::open_with_clock(&db.config(), Arc::new(clock.clone()))
        .await
        .expect("open domain");
    (domain, clock, db)
}

pub(crate) const PASSWORD: &str = "correct horse battery";
