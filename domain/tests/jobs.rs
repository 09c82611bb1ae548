use std::{sync::Arc, time::Duration};

use domain::{
    Error,
    jobs::{JobFilter, JobState, NewJob, PageCursor, Runner},
    testing::{
        BACKENDS, MarkerJob, count_markers, create_marker_table, fast_runner_options, wait_for,
        wait_until_final,
    },
};
use rand::{Rng, SeedableRng};
use serde_json::json;

const LONG: Duration = Duration::from_secs(30);

async fn setup(
    backend: domain::testing::Backend,
) -> (
    domain::Domain,
    domain::testing::ManualClock,
    domain::testing::TestDb,
) {
    let (domain, clock, db) = crate::open(backend).await;
    domain.register_job_kind(Arc::new(MarkerJob::RETRY_SAFE));
    domain.register_job_kind(Arc::new(MarkerJob::NOT_RETRY_SAFE));
    create_marker_table(&domain).await;
    (domain, clock, db)
}

/// One retry-safe and one not-retry-safe marker job, each sleeping `sleep_ms`.
async fn queue_pair(domain: &domain::Domain, sleep_ms: u64) -> (i64, i64) {
    let jobs = domain.jobs();
    let safe = jobs
        .enqueue_as(None, marker(sleep_ms))
        .await
        .expect("queue");
    let once = jobs
        .enqueue_as(
            None,
            NewJob::new("test-marker-once", json!({ "sleep_ms": sleep_ms })),
        )
        .await
        .expect("queue");
    (safe, once)
}

fn marker(sleep_ms: u64) -> NewJob {
    NewJob::new("test-marker", json!({ "sleep_ms": sleep_ms }))
}

#[tokio::test]
async fn enqueue_validates_parameters_and_honours_idempotency_keys() {
    for backend in BACKENDS {
        let (domain, _clock, _db) = setup(backend).await;
        let jobs = domain.jobs();
        let err = jobs
            .enqueue_as(None, NewJob::new("no-such-kind", json!({})))
            .await
            .expect_err("kind");
        assert!(
            matches!(err, Error::InvalidInput { field: "kind", .. }),
            "{err:?}"
        );
        let err = jobs
            .enqueue_as(None, NewJob::new("storage-check", json!({ "size_mib": 0 })))
            .await
            .expect_err("size");
        assert!(
            matches!(
                err,
                Error::InvalidInput {
                    field: "size_mib",
                    ..
                }
            ),
            "{err:?}"
        );
        let err = jobs
            .enqueue_as(None, NewJob::new("storage-check", json!({ "size": 4 })))
            .await
            .expect_err("unknown field");
        assert!(
            matches!(
                err,
                Error::InvalidInput {
                    field: "params",
                    ..
                }
            ),
            "{err:?}"
        );

        let a = jobs
            .enqueue_as(None, marker(0).idempotency_key("import:42"))
            .await
            .expect("first");
        let b = jobs
            .enqueue_as(None, marker(0).idempotency_key("import:42"))
            .await
            .expect("second");
        assert_eq!(a, b, "the same request queues one job");
        let c = jobs
            .enqueue_as(None, marker(0).idempotency_key("import:43"))
            .await
            .expect("other key");
        assert_ne!(a, c);
        assert_eq!(jobs.get(a).await.expect("get").state, JobState::Queued);
    }
}

#[tokio::test]
async fn a_storage_check_runs_with_progress_and_a_log_and_leaves_no_file() {
    for backend in BACKENDS {
        let (domain, _clock, _db) = setup(backend).await;
        let runner = Runner::start(&domain, fast_runner_options());
        let id = domain
            .jobs()
            .enqueue_as(None, NewJob::new("storage-check", json!({ "size_mib": 8 })))
            .await
            .expect("queue");
        let job = wait_until_final(&domain, id, LONG).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let result = job.result.expect("result");
        assert_eq!(result["verified"], true);
        assert_eq!(result["bytes"], 8 << 20);
        let progress = job.progress.expect("progress");
        assert_eq!(progress.percent, Some(100.0));
        let log = domain.jobs().log(id, None, 100).await.expect("log");
        let text: Vec<_> = log.iter().map(|l| l.message.as_str()).collect();
        assert!(
            text.first().is_some_and(|l| l.starts_with("Queued")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|l| l.contains("content verified")),
            "{text:?}"
        );
        assert_eq!(text.last(), Some(&"Succeeded"));
        let work = domain.config().work_dir();
        assert_eq!(
            std::fs::read_dir(&work).expect("work dir").count(),
            0,
            "test file removed"
        );
        runner.shutdown().await;
    }
}

#[tokio::test]
async fn a_job_whose_worker_dies_is_recovered_by_another() {
    for backend in BACKENDS {
        let (domain, _clock, _db) = setup(backend).await;
        let (safe, once) = queue_pair(&domain, 3_000).await;

        let first = Runner::start(&domain, fast_runner_options());
        wait_for(&domain, safe, LONG, |j| j.state == JobState::Running).await;
        wait_for(&domain, once, LONG, |j| j.state == JobState::Running).await;
        first.kill();

        let second = Runner::start(&domain, fast_runner_options());
        let recovered = wait_until_final(&domain, safe, LONG).await;
        assert_eq!(recovered.state, JobState::Succeeded);
        assert_eq!(recovered.attempts, 2, "ran again after its lease expired");
        let interrupted = wait_until_final(&domain, once, LONG).await;
        assert_eq!(
            interrupted.state,
            JobState::Interrupted,
            "not retry-safe: never run twice"
        );
        assert!(
            interrupted
                .error
                .as_deref()
                .is_some_and(|e| e.contains("not safe to run again"))
        );
        assert_eq!(count_markers(&domain).await, (1, 1));
        second.shutdown().await;
    }
}

/// 1,000 jobs, runners killed at random while they work: every job ends exactly once, succeeded,
/// with exactly one effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_jobs_survive_random_worker_deaths_with_one_effect_each() {
    for backend in BACKENDS {
        let (domain, _clock, _db) = setup(backend).await;
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut ids = Vec::new();
        for _ in 0..1000 {
            ids.push(
                domain
                    .jobs()
                    .enqueue_as(None, marker(rng.gen_range(0..40)))
                    .await
                    .expect("queue"),
            );
        }
        let options = || {
            let mut o = fast_runner_options();
            o.lease = Duration::from_millis(400);
            o.scheduler = false;
            o
        };
        let mut runners: Vec<Runner> = (0..3).map(|_| Runner::start(&domain, options())).collect();
        let mut kills = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
        loop {
            tokio::time::sleep(Duration::from_millis(rng.gen_range(50..250))).await;
            let open = domain.jobs().count_active().await.expect("count");
            if open == 0 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{open} jobs still open"
            );
            if kills < 12 {
                let victim = runners.remove(rng.gen_range(0..runners.len()));
                victim.kill();
                kills += 1;
                runners.push(Runner::start(&domain, options()));
            }
        }
        for runner in runners {
            runner.shutdown().await;
        }
        let mut attempts = 0;
        for id in &ids {
            let job = domain.jobs().get(*id).await.expect("job");
            assert_eq!(job.state, JobState::Succeeded, "job {id}");
            attempts += job.attempts;
        }
        assert_eq!(
            count_markers(&domain).await,
            (1000, 1000),
            "one effect per job"
        );
        assert!(
            attempts > 1000,
            "some attempts died and were recovered ({attempts} attempts)"
        );
        println!(
            "{backend:?}: 1000 jobs, {kills} worker deaths, {attempts} attempts, 1000 effects"
        );
    }
}

#[tokio::test]
async fn cancelling_queued_and_running_jobs() {
    for backend in BACKENDS {
        let (domain, _clock, _db) = setup(backend).await;
        let queued = domain
            .jobs()
            .enqueue_as(None, marker(0))
            .await
            .expect("queue");
        assert_eq!(
            domain.jobs().cancel(queued, "admin").await.expect("cancel"),
            JobState::Cancelled
        );
        assert_eq!(
            domain.jobs().get(queued).await.expect("get").state,
            JobState::Cancelled
        );
        assert!(matches!(
            domain.jobs().cancel(queued, "admin").await,
            Err(Error::Conflict(_))
        ));

        let runner = Runner::start(&domain, fast_runner_options());
        let long = domain
            .jobs()
            .enqueue_as(None, marker(20_000))
            .await
            .expect("queue");
        wait_for(&domain, long, LONG, |j| {
            j.progress.as_ref().is_some_and(|p| p.done > 0)
        })
        .await;
        assert_eq!(
            domain.jobs().cancel(long, "admin").await.expect("cancel"),
            JobState::Running
        );
        let job = wait_until_final(&domain, long, Duration::from_secs(5)).await;
        assert_eq!(job.state, JobState::Cancelled);
        assert_eq!(
            count_markers(&domain).await.0,
            0,
            "a cancelled job has no effect"
        );
        let log = domain.jobs().log(long, None, 100).await.expect("log");
        assert!(
            log.iter()
                .any(|l| l.message == "Cancellation requested by admin")
        );

        // Retry queues a new job with the same parameters.
        let admin = admin(&domain).await;
        let retry = domain
            .for_actor(&admin)
            .jobs()
            .retry(long)
            .await
            .expect("retry");
        let job = domain.jobs().get(retry).await.expect("get");
        assert_eq!(
            (job.retry_of, job.params["sleep_ms"].as_u64()),
            (Some(long), Some(20_000))
        );
        domain.jobs().cancel(retry, "admin").await.expect("cancel");
        let done = domain
            .jobs()
            .enqueue_as(None, marker(0))
            .await
            .expect("queue");
        wait_until_final(&domain, done, LONG).await;
        assert!(
            matches!(
                domain.for_actor(&admin).jobs().retry(done).await,
                Err(Error::Conflict(_))
            ),
            "succeeded jobs are not retried"
        );
        runner.shutdown().await;
    }
}

async fn admin(domain: &domain::Domain) -> domain::Actor {
    let roles = vec![domain::Role::FullAdministrator];
    let user_id = domain
        .accounts()
        .create_user("admin", crate::PASSWORD, &roles)
        .await
        .expect("user");
    domain.accounts().actor(user_id).await.expect("actor")
}

#[tokio::test]
async fn shutdown_hands_running_jobs_back() {
    for backend in BACKENDS {
        let (domain, _clock, _db) = setup(backend).await;
        let runner = Runner::start(&domain, fast_runner_options());
        let (safe, once) = queue_pair(&domain, 60_000).await;
        wait_for(&domain, safe, LONG, |j| j.state == JobState::Running).await;
        wait_for(&domain, once, LONG, |j| j.state == JobState::Running).await;
        runner.shutdown().await;
        let safe = domain.jobs().get(safe).await.expect("get");
        assert_eq!(
            (safe.state, safe.attempts),
            (JobState::Queued, 0),
            "back in the queue, attempt refunded"
        );
        let once = domain.jobs().get(once).await.expect("get");
        assert_eq!(once.state, JobState::Interrupted);
    }
}

#[tokio::test]
async fn failures_are_recorded_with_their_message() {
    for backend in BACKENDS {
        let (domain, _clock, _db) = setup(backend).await;
        let runner = Runner::start(&domain, fast_runner_options());
        let id = domain
            .jobs()
            .enqueue_as(None, NewJob::new("test-marker", json!({ "fail": true })))
            .await
            .expect("queue");
        let job = wait_until_final(&domain, id, LONG).await;
        assert_eq!(
            (job.state, job.error.as_deref()),
            (JobState::Failed, Some("asked to fail"))
        );
        let log = domain.jobs().log(id, None, 100).await.expect("log");
        assert!(
            log.iter().any(|l| l.message == "Failed: asked to fail"
                && l.level == domain::jobs::LogLevel::Error)
        );
        runner.shutdown().await;
    }
}

#[tokio::test]
async fn schedules_fire_once_per_slot_and_collapse_missed_runs() {
    for backend in BACKENDS {
        let (domain, clock, _db) = setup(backend).await;
        let spec = domain::jobs::ScheduleSpec::parse("interval", "1h").expect("spec");
        let id = domain
            .jobs()
            .create_schedule(
                None,
                domain::jobs::NewSchedule {
                    name: "Hourly marker".into(),
                    kind: "test-marker".into(),
                    params: json!({}),
                    spec,
                },
            )
            .await
            .expect("schedule");
        assert_eq!(
            domain.jobs().fire_due_schedules().await.expect("fire"),
            0,
            "not due yet"
        );
        clock.advance_ms(3_600_000);
        assert_eq!(domain.jobs().fire_due_schedules().await.expect("fire"), 1);
        assert_eq!(
            domain.jobs().fire_due_schedules().await.expect("fire"),
            0,
            "once per slot"
        );
        // The server was down for ten hours: one run, then the next slot.
        clock.advance_ms(10 * 3_600_000 + 1000);
        assert_eq!(domain.jobs().fire_due_schedules().await.expect("fire"), 1);
        let schedule = domain
            .jobs()
            .schedules()
            .await
            .expect("list")
            .into_iter()
            .find(|s| s.id == id)
            .expect("found");
        let next = schedule.next_run_at_ms.expect("next") - crate::T0;
        assert!(
            (12 * 3_600_000..12 * 3_600_000 + 10_000).contains(&next),
            "the slot after now: {next}"
        );
        let page = domain
            .jobs()
            .list(
                &JobFilter {
                    kind: Some("test-marker".into()),
                    ..Default::default()
                },
                PageCursor::Newest,
                50,
            )
            .await
            .expect("list");
        assert_eq!(page.jobs.len(), 2);
        assert!(
            page.jobs
                .iter()
                .all(|j| j.owner_name.is_none() && j.schedule_id == Some(id))
        );

        // A runner fires schedules by itself.
        let runner = Runner::start(&domain, fast_runner_options());
        clock.advance_ms(3_600_000);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let page = domain
                .jobs()
                .list(
                    &JobFilter {
                        kind: Some("test-marker".into()),
                        ..Default::default()
                    },
                    PageCursor::Newest,
                    50,
                )
                .await
                .expect("list");
            if page.jobs.len() == 3 && page.jobs.iter().all(|j| j.state == JobState::Succeeded) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the runner did not fire the schedule"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        domain
            .jobs()
            .set_schedule_enabled(id, false)
            .await
            .expect("disable");
        clock.advance_ms(5 * 3_600_000);
        assert_eq!(
            domain.jobs().fire_due_schedules().await.expect("fire"),
            0,
            "disabled"
        );
        runner.shutdown().await;
    }
}

#[tokio::test]
async fn pages_walk_newest_first_with_filters() {
    for backend in BACKENDS {
        let (domain, _clock, _db) = setup(backend).await;
        let mut ids = Vec::new();
        for i in 0..45 {
            let job = if i % 3 == 0 {
                NewJob::new("storage-check", json!({ "size_mib": 1 }))
            } else {
                marker(0)
            };
            ids.push(domain.jobs().enqueue_as(None, job).await.expect("queue"));
        }
        ids.reverse();
        let all = JobFilter::default();
        let first = domain
            .jobs()
            .list(&all, PageCursor::Newest, 20)
            .await
            .expect("page");
        assert_eq!(
            first.jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
            ids[..20]
        );
        assert_eq!((first.newer, first.older), (None, Some(ids[19])));
        let second = domain
            .jobs()
            .list(&all, PageCursor::Before(ids[19]), 20)
            .await
            .expect("page");
        assert_eq!(
            second.jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
            ids[20..40]
        );
        let third = domain
            .jobs()
            .list(&all, PageCursor::Before(ids[39]), 20)
            .await
            .expect("page");
        assert_eq!(third.jobs.len(), 5);
        assert_eq!(third.older, None);
        let back = domain
            .jobs()
            .list(&all, PageCursor::After(ids[20]), 20)
            .await
            .expect("page");
        assert_eq!(
            back.jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
            ids[..20]
        );
        assert_eq!(back.newer, None);

        let checks = JobFilter {
            kind: Some("storage-check".into()),
            ..Default::default()
        };
        let page = domain
            .jobs()
            .list(&checks, PageCursor::Newest, 100)
            .await
            .expect("page");
        assert_eq!(page.jobs.len(), 15);
        assert!(
            page.jobs
                .iter()
                .all(|j| j.kind_label == "Storage check" && j.description == "1 MiB")
        );
        let running = JobFilter {
            state: Some(JobState::Running),
            ..Default::default()
        };
        assert!(
            domain
                .jobs()
                .list(&running, PageCursor::Newest, 100)
                .await
                .expect("page")
                .jobs
                .is_empty()
        );
    }
}

#[tokio::test]
async fn pruning_deletes_old_finished_jobs_and_their_logs_only() {
    for backend in BACKENDS {
        let (domain, clock, _db) = setup(backend).await;
        let cancelled = domain
            .jobs()
            .enqueue_as(None, marker(0))
            .await
            .expect("queue");
        domain
            .jobs()
            .cancel(cancelled, "admin")
            .await
            .expect("cancel");
        // Without the scheduler, so the runner's own hourly pruning stays out of the count.
        let runner = Runner::start(
            &domain,
            domain::jobs::RunnerOptions {
                scheduler: false,
                ..fast_runner_options()
            },
        );
        let old = domain
            .jobs()
            .enqueue_as(None, marker(0))
            .await
            .expect("queue");
        wait_until_final(&domain, old, LONG).await;
        clock.advance_ms(31 * 86_400_000);
        let recent = domain
            .jobs()
            .enqueue_as(None, marker(0))
            .await
            .expect("queue");
        wait_until_final(&domain, recent, LONG).await;

        let prune = domain
            .jobs()
            .enqueue_as(None, NewJob::new("prune-jobs", json!({})))
            .await
            .expect("queue");
        let job = wait_until_final(&domain, prune, LONG).await;
        assert_eq!(job.result.expect("result")["deleted"], 2);
        assert!(matches!(
            domain.jobs().get(old).await,
            Err(Error::NotFound(_))
        ));
        assert!(
            domain
                .jobs()
                .log(old, None, 10)
                .await
                .expect("log")
                .is_empty(),
            "logs went with the job"
        );
        assert!(domain.jobs().get(recent).await.is_ok());
        runner.shutdown().await;
    }
}

/// With 100,000 finished jobs, every list view is an index walk: no sort, no full scan.
#[tokio::test]
async fn listing_stays_an_index_walk_with_100_000_jobs() {
    for backend in BACKENDS {
        let (domain, _clock, _db) = setup(backend).await;
        domain::testing::seed_finished_jobs(&domain, 100_000).await;
        let filters = [
            JobFilter::default(),
            JobFilter {
                state: Some(JobState::Failed),
                ..Default::default()
            },
            JobFilter {
                kind: Some("storage-check".into()),
                ..Default::default()
            },
            JobFilter {
                target: Some(("boot-image".into(), "7".into())),
                ..Default::default()
            },
        ];
        for filter in &filters {
            for cursor in [
                PageCursor::Newest,
                PageCursor::Before(50_000),
                PageCursor::After(50_000),
            ] {
                let plan = domain
                    .jobs()
                    .explain_list(filter, cursor)
                    .await
                    .expect("plan");
                let lower = plan.to_lowercase();
                assert!(
                    !lower.contains("temp b-tree") && !lower.contains("sort"),
                    "{backend:?} {filter:?} {cursor:?} sorts:\n{plan}"
                );
                // Unfiltered, SQLite walks the rowid b-tree itself in id order (`SCAN jobs`) and
                // stops after the page; every filter must use one of the indexes.
                let filtered = *filter != JobFilter::default();
                assert!(
                    !lower.contains("seq scan"),
                    "{backend:?} {filter:?} {cursor:?} scans:\n{plan}"
                );
                let indexed = lower.contains("index") || lower.starts_with("search");
                assert!(
                    !filtered || indexed,
                    "{backend:?} {filter:?} {cursor:?} uses no index:\n{plan}"
                );
            }
        }
        let page = domain
            .jobs()
            .list(&JobFilter::default(), PageCursor::Newest, 50)
            .await
            .expect("page");
        assert_eq!(
            (page.jobs.len(), page.jobs[0].id, page.older),
            (50, 100_000, Some(99_951))
        );
    }
}

#[tokio::test]
async fn a_cancelled_storage_check_leaves_no_file() {
    let (domain, _clock, _db) = setup(domain::testing::Backend::Sqlite).await;
    let runner = Runner::start(&domain, fast_runner_options());
    let id = domain
        .jobs()
        .enqueue_as(
            None,
            NewJob::new("storage-check", json!({ "size_mib": 16_384 })),
        )
        .await
        .expect("queue");
    let work = domain.config().work_dir();
    wait_for(&domain, id, LONG, |j| {
        j.progress.as_ref().is_some_and(|p| p.done > 0)
    })
    .await;
    assert_eq!(
        std::fs::read_dir(&work).expect("work dir").count(),
        1,
        "writing its test file"
    );
    domain.jobs().cancel(id, "admin").await.expect("cancel");
    let job = wait_until_final(&domain, id, LONG).await;
    assert_eq!(job.state, JobState::Cancelled);
    assert_eq!(
        std::fs::read_dir(&work).expect("work dir").count(),
        0,
        "no partial file left"
    );
    runner.shutdown().await;
}
