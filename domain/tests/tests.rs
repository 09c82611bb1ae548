//! Domain integration tests, each run against SQLite and PostgreSQL.

mod accounts;
mod boot;
mod catalog;
mod content;
mod database;
mod demand;
mod distribution;
mod dp_boundary;
mod drivers;
mod fixtures;
mod integrity;
mod jobs;
mod prestaged;
mod security;
mod sessions;
mod site_servers;
mod targets;
mod wim;

use std::sync::Arc;

use domain::{
    Domain,
    testing::{Backend, ManualClock, TestDb},
};

/// A domain on a fresh database, with a clock the test controls.
pub(crate) async fn open(backend: Backend) -> (Domain, ManualClock, TestDb) {
    let db = TestDb::create(backend).await;
    let clock = ManualClock::starting_at(T0);
    let domain = Domain::open_with_clock(&db.config(), Arc::new(clock.clone()))
        .await
        .expect("open domain");
    (domain, clock, db)
}

/// The sample WIMs, written once per test run and copied into each test's source root.
pub(crate) fn samples() -> &'static domain::fixtures::SampleLibrary {
    static SAMPLES: std::sync::OnceLock<(tempfile::TempDir, domain::fixtures::SampleLibrary)> =
        std::sync::OnceLock::new();
    &SAMPLES
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let library = domain::fixtures::sample_library(dir.path()).expect("samples");
            (dir, library)
        })
        .1
}

pub(crate) const T0: i64 = 1_800_000_000_000;
pub(crate) const PASSWORD: &str = "correct horse battery";

/// The two users most tests act as: an OS Deployment Manager ("osd") and a Read-only Analyst
/// ("reader"), both on all scopes.
pub(crate) async fn osd_and_analyst(domain: &Domain) -> (domain::Actor, domain::Actor) {
    let mut actors = Vec::new();
    for (name, role) in [
        ("osd", domain::Role::OperatingSystemDeploymentManager),
        ("reader", domain::Role::ReadOnlyAnalyst),
    ] {
        let id = domain
            .accounts()
            .create_user(name, PASSWORD, &[role])
            .await
            .expect("user");
        actors.push(domain.accounts().actor(id).await.expect("actor"));
    }
    let analyst = actors.pop().expect("reader");
    let osd = actors.pop().expect("osd");
    (osd, analyst)
}

/// A new scope "Lab" and an OS Deployment Manager "lab-osd" limited to it, made by `admin`.
pub(crate) async fn lab_osd(domain: &Domain, admin: &domain::Actor) -> (i64, domain::Actor) {
    let security = domain.for_actor(admin).security();
    let lab = security
        .create_scope("Lab", "test benches")
        .await
        .expect("scope");
    let osd_role = security
        .roles()
        .await
        .expect("roles")
        .iter()
        .find(|r| r.slug.as_deref() == Some("operating-system-deployment-manager"))
        .expect("role")
        .id;
    let id = security
        .create_user(
            "lab-osd",
            PASSWORD,
            osd_role,
            domain::authz::ScopeSet::Only(std::collections::BTreeSet::from([lab])),
        )
        .await
        .expect("user");
    (lab, domain.accounts().actor(id).await.expect("actor"))
}
