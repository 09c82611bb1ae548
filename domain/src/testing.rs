//! Throw-away databases for tests (feature `testing`).
//!
//! Every test database is new and private: a SQLite file in a temporary directory, or a
//! PostgreSQL database `wimdeck_test_…` created on the server named by `TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`) and dropped when the value is dropped,
//! even if the test panicked. An unreachable PostgreSQL server fails the test: it is never skipped.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
};

use sea_orm::{ConnectionTrait, Database};

pub use crate::jobs::{Job, JobState};

use crate::{Clock, Config};

/// The database engines every integration test runs against.
pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A private database for one test, removed on drop.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    pub data_dir: PathBuf,
    _dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl TestDb {
    /// Creates an empty database on `backend`. Panics when it cannot (tests only).
    pub async fn create(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let data_dir = dir.path().to_path_buf();
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}/wimdeck.db?mode=rwc", data_dir.display());
                Self {
                    backend,
                    url,
                    data_dir,
                    _dir: dir,
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let admin = admin_url();
                let name = format!(
                    "wimdeck_test_{}_{}",
                    std::process::id(),
                    crate::accounts::random_token()
                        .to_ascii_lowercase()
                        .replace(['-', '_'], "")[..12]
                        .to_owned()
                );
                let conn = Database::connect(&admin).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL at {admin} is unreachable ({e}); the suite needs it")
                });
                conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create test database");
                conn.close().await.expect("close admin connection");
                let url = with_database(&admin, &name);
                Self {
                    backend,
                    url,
                    data_dir,
                    _dir: dir,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// A configuration that points at this database and a private data directory.
    pub fn config(&self) -> Config {
        Config {
            data_dir: self.data_dir.clone(),
            database_url: Some(self.url.clone()),
            ..Config::default()
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop may run inside a runtime; use a thread with its own.
        let admin = admin_url();
        let joined = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let conn = Database::connect(&admin)
                    .await
                    .map_err(std::io::Error::other)?;
                conn.execute_unprepared(&format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                ))
                .await
                .map_err(std::io::Error::other)?;
                conn.close().await.map_err(std::io::Error::other)
            })
        })
        .join();
        if !matches!(joined, Ok(Ok(()))) {
            eprintln!("warning: could not drop a test database");
        }
    }
}

fn admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// A clock for tests: it runs like the wall clock, from a chosen start, and jumps forward on
/// demand (so leases still expire while a test skips days ahead).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn starting_at(ms: i64) -> Self {
        Self(Arc::new(AtomicI64::new(ms - crate::SystemClock.now_ms())))
    }

    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        crate::SystemClock.now_ms() + self.0.load(Ordering::SeqCst)
    }
}

/// A job kind for tests: waits `sleep_ms` (in steps, reporting progress, honouring
/// cancellation), then records its job id in the table `job_markers` in the same transaction
/// that marks it succeeded. Counting markers proves each job had exactly one effect.
pub struct MarkerJob {
    pub name: &'static str,
    pub retry_safe: bool,
}

impl MarkerJob {
    pub const RETRY_SAFE: MarkerJob = MarkerJob {
        name: "test-marker",
        retry_safe: true,
    };
    pub const NOT_RETRY_SAFE: MarkerJob = MarkerJob {
        name: "test-marker-once",
        retry_safe: false,
    };
}

impl crate::jobs::JobKind for MarkerJob {
    fn name(&self) -> &'static str {
        self.name
    }

    fn label(&self) -> &'static str {
        "Test marker"
    }

    fn retry_safe(&self) -> bool {
        self.retry_safe
    }

    fn max_attempts(&self) -> u32 {
        1000
    }

    fn default_concurrency(&self) -> usize {
        8
    }

    fn validate(
        &self,
        params: serde_json::Value,
        _config: &Config,
    ) -> crate::Result<serde_json::Value> {
        Ok(params)
    }

    fn describe(&self, _params: &serde_json::Value) -> String {
        String::new()
    }

    fn run<'a>(
        &'a self,
        ctx: &'a crate::jobs::JobContext,
    ) -> crate::jobs::BoxFuture<'a, Result<crate::jobs::Completion, crate::jobs::JobError>> {
        Box::pin(async move {
            let sleep_ms = ctx
                .params
                .get("sleep_ms")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0);
            if ctx.params.get("fail").and_then(serde_json::Value::as_bool) == Some(true) {
                return Err(crate::jobs::JobError::Failed("asked to fail".into()));
            }
            ctx.progress()
                .start(Some(sleep_ms.max(1)), crate::jobs::ProgressUnit::Items);
            ctx.progress().set_phase("Sleeping");
            let mut slept = 0;
            while slept < sleep_ms {
                ctx.check_cancelled()?;
                let step = (sleep_ms - slept).min(10);
                tokio::time::sleep(std::time::Duration::from_millis(step)).await;
                slept += step;
                ctx.progress().advance(step);
            }
            ctx.check_cancelled()?;
            let job_id = ctx.job_id();
            let effect: crate::jobs::Effect = Box::new(move |txn| {
                Box::pin(async move {
                    use sea_orm::ConnectionTrait;
                    let backend = txn.conn().get_database_backend();
                    txn.conn()
                        .execute_raw(sea_orm::Statement::from_sql_and_values(
                            backend,
                            if backend == sea_orm::DbBackend::Postgres {
                                "INSERT INTO job_markers (job_id) VALUES ($1)"
                            } else {
                                "INSERT INTO job_markers (job_id) VALUES (?)"
                            },
                            [job_id.into()],
                        ))
                        .await?;
                    Ok(())
                })
            });
            Ok(
                crate::jobs::Completion::new(serde_json::json!({ "slept_ms": slept }))
                    .with_effect(effect),
            )
        })
    }
}

/// Creates the table [`MarkerJob`] writes to.
pub async fn create_marker_table(domain: &crate::Domain) {
    domain
        .db()
        .execute_unprepared("CREATE TABLE job_markers (job_id BIGINT NOT NULL)")
        .await
        .expect("create job_markers");
}

/// (markers written, distinct job ids among them).
pub async fn count_markers(domain: &crate::Domain) -> (i64, i64) {
    let row = domain
        .db()
        .query_one_raw(sea_orm::Statement::from_string(
            domain.db().get_database_backend(),
            "SELECT COUNT(*) AS n, COUNT(DISTINCT job_id) AS d FROM job_markers",
        ))
        .await
        .expect("count markers")
        .expect("a row");
    (
        row.try_get("", "n").expect("n"),
        row.try_get("", "d").expect("d"),
    )
}

/// Runner timing for tests: short leases so recovery takes a fraction of a second.
pub fn fast_runner_options() -> crate::jobs::RunnerOptions {
    use std::time::Duration;
    crate::jobs::RunnerOptions {
        worker: format!(
            "test-{}",
            crate::accounts::random_token()
                .chars()
                .take(6)
                .collect::<String>()
        ),
        lease: Duration::from_millis(600),
        heartbeat: Duration::from_millis(100),
        sample: Duration::from_millis(50),
        poll: Duration::from_millis(20),
        shutdown_grace: Duration::from_millis(200),
        concurrency: std::collections::HashMap::new(),
        scheduler: true,
        only_job: None,
    }
}

/// Polls until the job is in a final state; panics after `timeout`.
pub async fn wait_until_final(
    domain: &crate::Domain,
    id: i64,
    timeout: std::time::Duration,
) -> crate::jobs::Job {
    wait_for(domain, id, timeout, |j| j.state.is_final()).await
}

/// Polls until `check` holds for the job; panics after `timeout`.
pub async fn wait_for(
    domain: &crate::Domain,
    id: i64,
    timeout: std::time::Duration,
    check: impl Fn(&crate::jobs::Job) -> bool,
) -> crate::jobs::Job {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let job = domain.jobs().get(id).await.expect("job");
        if check(&job) {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} still {:?} after {timeout:?} (now {} ms): {job:?}",
            job.state,
            domain.now_ms()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Inserts `count` finished jobs in one statement (for scale tests and benchmarks): a third
/// storage checks, one in ten failed.
pub async fn seed_finished_jobs(domain: &crate::Domain, count: u32) {
    let backend = domain.db().get_database_backend();
    let select = "SELECT CASE WHEN n % 3 = 0 THEN 'storage-check' ELSE 'prune-jobs' END, '{}', \
                  CASE WHEN n % 10 = 0 THEN 'failed' ELSE 'succeeded' END, 1, 3, TRUE, n, n, n, n, FALSE";
    let columns = "INSERT INTO jobs (kind, params, state, attempts, max_attempts, retry_safe, run_after_ms, \
                   created_at_ms, updated_at_ms, finished_at_ms, cancel_requested)";
    let sql = if backend == sea_orm::DbBackend::Postgres {
        format!("{columns} {select} FROM generate_series(1, {count}) AS n")
    } else {
        format!(
            "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {count}) {columns} {select} FROM seq"
        )
    };
    domain
        .db()
        .execute_unprepared(&sql)
        .await
        .expect("seed jobs");
    if backend == sea_orm::DbBackend::Postgres {
        domain
            .db()
            .execute_unprepared("ANALYZE jobs")
            .await
            .expect("analyze");
    } else {
        domain
            .db()
            .execute_unprepared("ANALYZE")
            .await
            .expect("analyze");
    }
}

/// Records a pending catalog output, as a job does before writing it (for sweep tests).
pub async fn record_pending_output(domain: &crate::Domain, path: &std::path::Path) {
    crate::catalog::store::record_pending(domain.db(), path, None, domain.now_ms())
        .await
        .expect("record pending output");
}

/// Points an image at another WIM file as Wimdeck's own writers do when they make a new
/// revision (the file is inspected and hashed, the row changes in one audited transaction,
/// and what follows a change follows): for benchmarks and tests of what a change sets off.
pub async fn replace_image_file(
    domain: &crate::Domain,
    id: i64,
    file: &std::path::Path,
) -> crate::Result<()> {
    let image = domain.catalog().get(id).await?;
    let inspection = crate::wim::inspect(domain.wim_backend(), file).await?;
    let mut txn = crate::audit::AuditedTxn::begin(domain).await?;
    domain
        .catalog()
        .replace_file(&mut txn, &image, file, &inspection, None)
        .await?;
    txn.commit().await
}
