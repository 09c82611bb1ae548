//! Job system benchmarks (not tests). Run:
//!
//!     cargo bench -p domain --features testing --bench jobs
//!
//! Prints Markdown rows for docs/benchmarks.md:
//! 1. Queue throughput: no-op jobs claimed and completed per second by a Wimdeck runner, beside
//!    the floor of the same database doing only the two statements a job needs (claim with
//!    `UPDATE … RETURNING`, then mark it succeeded) from one connection, as a ratio.
//! 2. Progress overhead: 1 GiB streamed through a callback in 64 KiB chunks, with and without
//!    `Progress::advance` (and a sampler reading it every 250 ms), as a ratio.
//! 3. Listing latency with 100,000 finished jobs.

use std::{
    hint::black_box,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use domain::{
    Config, Domain,
    jobs::{
        BoxFuture, Completion, JobContext, JobError, JobFilter, JobKind, JobState, NewJob,
        PageCursor, Progress, ProgressUnit, Runner,
    },
    testing::{Backend, TestDb},
};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::{Value, json};

const JOBS: usize = 2000;

struct NoOp;

impl JobKind for NoOp {
    fn name(&self) -> &'static str {
        "bench-noop"
    }
    fn label(&self) -> &'static str {
        "No-op"
    }
    fn retry_safe(&self) -> bool {
        true
    }
    fn default_concurrency(&self) -> usize {
        16
    }
    fn validate(&self, params: Value, _config: &Config) -> domain::Result<Value> {
        Ok(params)
    }
    fn describe(&self, _params: &Value) -> String {
        String::new()
    }
    fn run<'a>(&'a self, _ctx: &'a JobContext) -> BoxFuture<'a, Result<Completion, JobError>> {
        Box::pin(async { Ok(Completion::new(Value::Null)) })
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!("| measurement | backend | Wimdeck | reference | ratio |");
    println!("| --- | --- | --- | --- | --- |");
    for backend in [Backend::Sqlite, Backend::Postgres] {
        queue_throughput(backend).await;
    }
    progress_overhead();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        listing_latency(backend).await;
    }
}

async fn queue_throughput(backend: Backend) {
    // Reference: the bare statements, sequentially, on a fresh database.
    let db = TestDb::create(backend).await;
    Domain::migrate(&db.config()).await.expect("migrate");
    let conn = Database::connect(&db.url).await.expect("connect");
    let pg = conn.get_database_backend() == DbBackend::Postgres;
    insert_raw(&conn, JOBS).await;
    let (claim, finish) = if pg {
        (
            "UPDATE jobs SET state = 'running', lease_token = 't', attempts = attempts + 1 WHERE id = \
             (SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id",
            "UPDATE jobs SET state = 'succeeded', lease_token = NULL WHERE id = $1 AND lease_token = 't'",
        )
    } else {
        (
            "UPDATE jobs SET state = 'running', lease_token = 't', attempts = attempts + 1 WHERE id = \
             (SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1) RETURNING id",
            "UPDATE jobs SET state = 'succeeded', lease_token = NULL WHERE id = ? AND lease_token = 't'",
        )
    };
    let started = Instant::now();
    for _ in 0..JOBS {
        let row = conn
            .query_one_raw(Statement::from_string(conn.get_database_backend(), claim))
            .await
            .expect("claim")
            .expect("a job");
        let id: i64 = row.try_get("", "id").expect("id");
        conn.execute_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            finish,
            [id.into()],
        ))
        .await
        .expect("finish");
    }
    let reference = JOBS as f64 / started.elapsed().as_secs_f64();
    conn.close().await.expect("close");
    drop(db);

    // Wimdeck: queue the jobs, then time a runner working through them.
    let db = TestDb::create(backend).await;
    let domain = Domain::open(&db.config()).await.expect("open");
    domain.register_job_kind(Arc::new(NoOp));
    for _ in 0..JOBS {
        domain
            .jobs()
            .enqueue_as(None, NewJob::new("bench-noop", json!({})))
            .await
            .expect("queue");
    }
    let mut options = domain::jobs::RunnerOptions::from_config(&domain.config().jobs);
    options.scheduler = false;
    options.poll = Duration::from_millis(5);
    let started = Instant::now();
    let runner = Runner::start(&domain, options);
    while domain
        .jobs()
        .count_in(JobState::Succeeded)
        .await
        .expect("count")
        < JOBS as u64
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wimdeck = JOBS as f64 / started.elapsed().as_secs_f64();
    runner.shutdown().await;
    println!(
        "| queue throughput, no-op jobs/s ({JOBS} jobs) | {backend:?} | {wimdeck:.0} | {reference:.0} (bare claim + complete) | {:.2} |",
        wimdeck / reference
    );
}

async fn insert_raw(conn: &sea_orm::DatabaseConnection, n: usize) {
    let sql = if conn.get_database_backend() == DbBackend::Postgres {
        format!(
            "INSERT INTO jobs (kind, params, state, attempts, max_attempts, retry_safe, run_after_ms, created_at_ms, \
             updated_at_ms, cancel_requested) SELECT 'bench-noop', '{{}}', 'queued', 0, 3, TRUE, 0, n, n, FALSE \
             FROM generate_series(1, {n}) AS n"
        )
    } else {
        format!(
            "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {n}) \
             INSERT INTO jobs (kind, params, state, attempts, max_attempts, retry_safe, run_after_ms, created_at_ms, \
             updated_at_ms, cancel_requested) SELECT 'bench-noop', '{{}}', 'queued', 0, 3, TRUE, 0, n, n, FALSE FROM seq"
        )
    };
    conn.execute_unprepared(&sql).await.expect("insert");
}

fn progress_overhead() {
    const TOTAL: usize = 1 << 30;
    const CHUNK: usize = 64 << 10;
    let source = vec![7u8; CHUNK];
    let mut sink = vec![0u8; CHUNK];
    let mut stream = |on_chunk: &mut dyn FnMut(usize)| {
        let started = Instant::now();
        for _ in 0..TOTAL / CHUNK {
            sink.copy_from_slice(black_box(&source));
            black_box(&sink);
            on_chunk(CHUNK);
        }
        started.elapsed().as_secs_f64()
    };
    let mut plain = Vec::new();
    let mut reported = Vec::new();
    for _ in 0..7 {
        plain.push(stream(&mut |n| {
            black_box(n);
        }));
        let progress = Arc::new(Progress::default());
        progress.start(Some(TOTAL as u64), ProgressUnit::Bytes);
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (progress, stop) = (progress.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    black_box(progress.done());
                    std::thread::sleep(Duration::from_millis(250));
                }
            })
        };
        reported.push(stream(&mut |n| progress.advance(n as u64)));
        stop.store(true, Ordering::Relaxed);
        let _ = sampler.join();
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (plain, reported) = (median(&mut plain), median(&mut reported));
    let gib_s = |secs: f64| TOTAL as f64 / secs / f64::from(1 << 30);
    println!(
        "| 1 GiB through a callback, 64 KiB chunks, GiB/s (median of 7) | — | {:.2} with progress | {:.2} without | {:.3} |",
        gib_s(reported),
        gib_s(plain),
        gib_s(reported) / gib_s(plain)
    );
}

async fn listing_latency(backend: Backend) {
    let db = TestDb::create(backend).await;
    let domain = Domain::open(&db.config()).await.expect("open");
    domain::testing::seed_finished_jobs(&domain, 100_000).await;
    let cases = [
        ("newest 50", JobFilter::default(), PageCursor::Newest),
        (
            "failed, newest 50",
            JobFilter {
                state: Some(JobState::Failed),
                ..Default::default()
            },
            PageCursor::Newest,
        ),
        (
            "storage checks, page at id 50,000",
            JobFilter {
                kind: Some("storage-check".into()),
                ..Default::default()
            },
            PageCursor::Before(50_000),
        ),
    ];
    for (label, filter, cursor) in cases {
        let mut times = Vec::new();
        for _ in 0..50 {
            let started = Instant::now();
            black_box(domain.jobs().list(&filter, cursor, 50).await.expect("list"));
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "| list jobs with 100,000 finished, {label}, ms (median of 50; p95 {:.2}) | {backend:?} | {:.2} | — | — |",
            times[47], times[25]
        );
    }
}
