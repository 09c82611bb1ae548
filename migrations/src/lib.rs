//! Database schema migrations for Wimdeck, applied in order at start-up and by `wimdeck migrate`.
//!
//! Files are named `mYYYYMMDD_HHMMSS_what.rs`; each migration must work on SQLite and PostgreSQL.
//! Timestamps are stored as `BIGINT` Unix milliseconds (UTC): they compare and index the same way
//! on both databases.

pub use sea_orm_migration::prelude::*;

mod m20261121_000001_accounts;
mod m20261121_000002_jobs;
mod m20261121_000003_images;
mod m20261121_000004_uploads;
mod m20261122_000005_drivers;
mod m20261122_000006_security;
mod m20261122_000007_audit;
mod m20261123_000008_tokens;
mod m20261202_000009_job_holds;
mod m20261207_000010_boot_revisions;
mod m20261207_000011_content;
mod m20261207_000012_distribution;

/// The ordered list of migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_accounts::Migration),
            Box::new(m20261121_000002_jobs::Migration),
            Box::new(m20261121_000003_images::Migration),
            Box::new(m20261121_000004_uploads::Migration),
            Box::new(m20261122_000005_drivers::Migration),
            Box::new(m20261122_000006_security::Migration),
            Box::new(m20261122_000007_audit::Migration),
            Box::new(m20261123_000008_tokens::Migration),
            Box::new(m20261202_000009_job_holds::Migration),
            Box::new(m20261207_000010_boot_revisions::Migration),
            Box::new(m20261207_000011_content::Migration),
            Box::new(m20261207_000012_distribution::Migration),
        ]
    }
}
