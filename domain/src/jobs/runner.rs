//! The runner: claims jobs, runs them with a bounded concurrency per kind, heartbeats their
//! leases, publishes progress, fires schedules, recovers jobs whose worker died, and stops
//! cleanly (finishing, or handing jobs back).

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use serde_json::Value;
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    task::JoinSet,
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use super::{
    JobEvent, JobKind,
    handler::{Completion, JobContext, JobError, LogBuffer},
    queue::{self, Beat, Claimed, Finish},
    schedule,
    state::JobState,
};
use crate::{
    Domain, Result,
    config::JobsConfig,
    db::entities::jobs,
    progress::{Progress, Sampler},
};

/// Timing and limits of one runner.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Recorded on claimed jobs; unique per process.
    pub worker: String,
    pub lease: Duration,
    pub heartbeat: Duration,
    /// How often progress is sampled and published.
    pub sample: Duration,
    /// How often the queue is polled when nothing wakes the runner.
    pub poll: Duration,
    pub shutdown_grace: Duration,
    /// Concurrent jobs per kind; kinds not named use their own default.
    pub concurrency: HashMap<String, usize>,
    /// Whether this runner also fires schedules.
    pub scheduler: bool,
    /// Runs this one job and nothing else (a command-line import with no server running):
    /// no schedules, no housekeeping, no one else's jobs.
    pub only_job: Option<i64>,
}

impl RunnerOptions {
    pub fn from_config(config: &JobsConfig) -> Self {
        Self {
            worker: worker_name(),
            lease: Duration::from_secs(u64::from(config.lease_secs)),
            heartbeat: Duration::from_millis(u64::from(config.heartbeat_ms)),
            sample: Duration::from_millis(250),
            poll: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(u64::from(config.shutdown_grace_secs)),
            concurrency: config.concurrency.clone(),
            scheduler: true,
            only_job: None,
        }
    }
}

fn worker_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "wimdeck".into());
    let suffix: String = crate::accounts::random_token().chars().take(6).collect();
    format!("{host}-{}-{suffix}", std::process::id())
}

/// A running runner. Stop it with [`Runner::shutdown`]; [`Runner::kill`] simulates a crash.
pub struct Runner {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    domain: Domain,
    options: RunnerOptions,
    shutting_down: AtomicBool,
}

struct Running {
    job: jobs::Model,
    token: String,
    cancel: CancellationToken,
}

impl Runner {
    /// Starts a runner for every registered job kind.
    pub fn start(domain: &Domain, options: RunnerOptions) -> Self {
        let stop = CancellationToken::new();
        let shared = Arc::new(Shared {
            domain: domain.clone(),
            options,
            shutting_down: AtomicBool::new(false),
        });
        let task = tokio::spawn(main_loop(shared, stop.clone()));
        Self { stop, task }
    }

    /// Stops claiming; waits for running jobs up to the grace period, then asks them to stop,
    /// and hands back (re-queues or marks interrupted) any that still run.
    pub async fn shutdown(self) {
        self.stop.cancel();
        if let Err(e) = self.task.await {
            tracing::error!("job runner ended abnormally: {e}");
        }
    }

    /// Ends the runner and its jobs at once, releasing nothing: what a crash does. Their leases
    /// expire and another runner recovers them.
    pub fn kill(self) {
        self.task.abort();
    }
}

async fn main_loop(shared: Arc<Shared>, stop: CancellationToken) {
    let domain = shared.domain.clone();
    let options = shared.options.clone();
    let mut limits: HashMap<&'static str, Arc<Semaphore>> = HashMap::new();
    let mut tasks: JoinSet<i64> = JoinSet::new();
    let mut running: HashMap<i64, Running> = HashMap::new();
    let reap_every = (options.lease / 2).max(Duration::from_millis(100));
    let mut next_reap = Instant::now();
    let mut next_schedule = Instant::now();
    let mut next_prune = Instant::now();
    let wake = domain.inner.job_wake.clone();

    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Ok(id) = done { running.remove(&id); }
            }
            () = wake.notified() => {}
            () = tokio::time::sleep(options.poll) => {}
        }
        let now = Instant::now();
        if now >= next_reap {
            next_reap = now + reap_every;
            match queue::reap(domain.db(), domain.now_ms()).await {
                Ok(ended) => {
                    for (id, state) in ended {
                        domain.publish(JobEvent {
                            job_id: id,
                            state,
                            progress: None,
                        });
                    }
                }
                Err(e) => tracing::warn!("recovering expired jobs failed: {e}"),
            }
        }
        let scheduler = options.scheduler && options.only_job.is_none();
        if scheduler && now >= next_schedule {
            next_schedule = now + Duration::from_secs(1);
            if let Err(e) = schedule::fire_due(&domain).await {
                tracing::warn!("firing schedules failed: {e}");
            }
        }
        if scheduler && now >= next_prune {
            next_prune = now + Duration::from_secs(3600);
            queue_housekeeping(&domain).await;
        }
        if let Err(e) = claim_available(&shared, &mut limits, &mut tasks, &mut running).await {
            tracing::warn!("claiming jobs failed: {e}");
        }
    }

    // Clean shutdown.
    shared.shutting_down.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + options.shutdown_grace;
    drain_until(&mut tasks, &mut running, deadline).await;
    if !running.is_empty() {
        tracing::info!(
            jobs = running.len(),
            "asking running jobs to stop for shutdown"
        );
        for r in running.values() {
            r.cancel.cancel();
        }
        drain_until(
            &mut tasks,
            &mut running,
            Instant::now() + Duration::from_secs(5),
        )
        .await;
    }
    tasks.abort_all();
    for (id, r) in running {
        let reason = "The server stopped before this job finished.";
        match queue::end_unfinished(domain.db(), &r.job, &r.token, domain.now_ms(), true, reason)
            .await
        {
            Ok(Some(state)) => domain.publish(JobEvent {
                job_id: id,
                state,
                progress: None,
            }),
            Ok(None) => {}
            Err(e) => tracing::error!(job = id, "could not hand back the job at shutdown: {e}"),
        }
    }
}

/// Queues the hourly housekeeping (once per hour across all servers): the pruning of old
/// finished jobs and the clean-up of the content library.
async fn queue_housekeeping(domain: &Domain) {
    let hour = domain.now_ms() / 3_600_000;
    for (kind, key) in [
        ("prune-jobs", "auto-prune"),
        ("content-collect", "auto-collect"),
    ] {
        let job = super::NewJob::new(kind, serde_json::json!({}))
            .idempotency_key(format!("{key}:{hour}"));
        if let Err(e) = domain.jobs().enqueue_as(None, job).await {
            tracing::warn!("queueing the housekeeping job {kind} failed: {e}");
        }
    }
}

async fn drain_until(
    tasks: &mut JoinSet<i64>,
    running: &mut HashMap<i64, Running>,
    deadline: Instant,
) {
    while !tasks.is_empty() {
        tokio::select! {
            done = tasks.join_next() => {
                if let Some(Ok(id)) = done { running.remove(&id); }
            }
            () = tokio::time::sleep_until(deadline) => return,
        }
    }
}

async fn claim_available(
    shared: &Arc<Shared>,
    limits: &mut HashMap<&'static str, Arc<Semaphore>>,
    tasks: &mut JoinSet<i64>,
    running: &mut HashMap<i64, Running>,
) -> Result<()> {
    let domain = &shared.domain;
    let kinds = domain.job_kinds();
    for kind in &kinds {
        limits.entry(kind.name()).or_insert_with(|| {
            let n = shared
                .options
                .concurrency
                .get(kind.name())
                .copied()
                .unwrap_or_else(|| kind.default_concurrency());
            Arc::new(Semaphore::new(n.max(1)))
        });
    }
    loop {
        let free: Vec<&str> = kinds
            .iter()
            .map(|k| k.name())
            .filter(|name| limits.get(name).is_some_and(|s| s.available_permits() > 0))
            .collect();
        let lease_ms = i64::try_from(shared.options.lease.as_millis()).unwrap_or(i64::MAX);
        let Some(claimed) = queue::claim(
            domain.db(),
            &free,
            shared.options.only_job,
            &shared.options.worker,
            domain.now_ms(),
            lease_ms,
        )
        .await?
        else {
            return Ok(());
        };
        let Some(kind) = kinds.iter().find(|k| k.name() == claimed.job.kind).cloned() else {
            continue;
        };
        let Some(permit) = limits
            .get(kind.name())
            .and_then(|s| s.clone().try_acquire_owned().ok())
        else {
            continue;
        };
        let cancel = CancellationToken::new();
        let id = claimed.job.id;
        running.insert(
            id,
            Running {
                job: claimed.job.clone(),
                token: claimed.lease_token.clone(),
                cancel: cancel.clone(),
            },
        );
        domain.register_running(id, cancel.clone());
        let shared = shared.clone();
        tasks.spawn(async move {
            run_job(&shared, kind, claimed, cancel, permit).await;
            shared.domain.unregister_running(id);
            id
        });
    }
}

async fn run_job(
    shared: &Shared,
    kind: Arc<dyn JobKind>,
    claimed: Claimed,
    cancel: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    let domain = &shared.domain;
    let options = &shared.options;
    let Claimed {
        job,
        lease_token: token,
    } = claimed;
    let progress = Arc::new(Progress::default());
    let log = Arc::new(LogBuffer::default());
    let ctx = JobContext {
        job_id: job.id,
        owner_user_id: job.owner_user_id,
        owner_name: job.owner_name.clone(),
        attempt: u32::try_from(job.attempts).unwrap_or(1),
        params: serde_json::from_str(&job.params).unwrap_or(Value::Null),
        domain: domain.clone(),
        progress: progress.clone(),
        log: log.clone(),
        cancel: cancel.clone(),
    };
    if job.attempts > 1 {
        ctx.info(format!(
            "Attempt {} of {} started on {}",
            job.attempts, job.max_attempts, options.worker
        ));
    } else {
        ctx.info(format!("Started on {}", options.worker));
    }
    domain.publish(JobEvent {
        job_id: job.id,
        state: JobState::Running,
        progress: None,
    });

    let lease_ms = i64::try_from(options.lease.as_millis()).unwrap_or(i64::MAX);
    let mut sampler = Sampler::default();
    let mut ticker = tokio::time::interval(options.sample);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_beat = Instant::now();
    let mut lease_lost = false;
    let mut user_cancelled = false;
    let mut last_published = None;

    let work = kind.run(&ctx);
    tokio::pin!(work);
    let outcome = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = ticker.tick() => {
                let snapshot = sampler.sample(&progress, domain.now_ms());
                if last_published.as_ref() != Some(&snapshot) {
                    domain.publish(JobEvent { job_id: job.id, state: JobState::Running, progress: Some(snapshot.clone()) });
                    last_published = Some(snapshot.clone());
                }
                if lease_lost || last_beat.elapsed() < options.heartbeat {
                    continue;
                }
                last_beat = Instant::now();
                flush_log(domain, job.id, &log).await;
                let json = serde_json::to_string(&snapshot).ok();
                match queue::heartbeat(domain.db(), job.id, &token, domain.now_ms(), lease_ms, json).await {
                    Ok(Beat::Held { cancel_requested: true }) if !user_cancelled => {
                        user_cancelled = true;
                        cancel.cancel();
                    }
                    Ok(Beat::Held { .. }) => {}
                    Ok(Beat::Lost) => {
                        tracing::warn!(job = job.id, "lease lost; another worker owns the job now");
                        lease_lost = true;
                        cancel.cancel();
                    }
                    Err(e) => tracing::warn!(job = job.id, "heartbeat failed: {e}"),
                }
            }
        }
    };

    let final_progress = serde_json::to_string(&sampler.sample(&progress, domain.now_ms())).ok();
    if lease_lost {
        // Whatever this attempt did is void: the fenced writes below would change nothing.
        return;
    }
    let state = finalize(
        shared,
        &job,
        &token,
        &ctx,
        outcome,
        final_progress,
        user_cancelled,
    )
    .await;
    flush_log(domain, job.id, &log).await;
    if let Some(state) = state {
        domain.publish(JobEvent {
            job_id: job.id,
            state,
            progress: None,
        });
    }
}

/// Stores how the attempt ended; returns the job's new state (`None` if the lease was lost).
async fn finalize(
    shared: &Shared,
    job: &jobs::Model,
    token: &str,
    ctx: &JobContext,
    outcome: Result<Completion, JobError>,
    progress: Option<String>,
    user_cancelled: bool,
) -> Option<JobState> {
    let domain = &shared.domain;
    let now = domain.now_ms();
    let result = match outcome {
        Ok(completion) => {
            ctx.info("Succeeded");
            return commit_success(domain, job, token, completion, progress, &ctx.log).await;
        }
        Err(JobError::Cancelled) => {
            let by_user = user_cancelled || cancel_requested(domain, job.id).await;
            if by_user {
                ctx.warn("Cancelled");
                flush_log(domain, job.id, &ctx.log).await;
                let finish = Finish {
                    state: JobState::Cancelled,
                    result: None,
                    error: None,
                    progress,
                };
                queue::finish(domain.db(), job.id, token, now, finish)
                    .await
                    .map(|ok| ok.then_some(JobState::Cancelled))
            } else {
                ctx.warn("Stopped because the server is shutting down");
                flush_log(domain, job.id, &ctx.log).await;
                let reason = "The server stopped before this job finished.";
                queue::end_unfinished(
                    domain.db(),
                    job,
                    token,
                    now,
                    shared.shutting_down.load(Ordering::SeqCst),
                    reason,
                )
                .await
            }
        }
        Err(JobError::Transient(message)) if job.retry_safe && job.attempts < job.max_attempts => {
            ctx.warn(format!("Attempt failed, will retry: {message}"));
            flush_log(domain, job.id, &ctx.log).await;
            queue::end_unfinished(domain.db(), job, token, now, false, &message).await
        }
        Err(JobError::Failed(message) | JobError::Transient(message)) => {
            ctx.error(format!("Failed: {message}"));
            // Written before the job turns final, so whoever sees it final sees its log.
            flush_log(domain, job.id, &ctx.log).await;
            let finish = Finish {
                state: JobState::Failed,
                result: None,
                error: Some(message),
                progress,
            };
            queue::finish(domain.db(), job.id, token, now, finish)
                .await
                .map(|ok| ok.then_some(JobState::Failed))
        }
    };
    result.unwrap_or_else(|e| {
        tracing::error!(job = job.id, "recording the end of the job failed: {e}");
        None
    })
}

async fn commit_success(
    domain: &Domain,
    job: &jobs::Model,
    token: &str,
    completion: Completion,
    progress: Option<String>,
    log: &LogBuffer,
) -> Option<JobState> {
    // The last log lines, the result and the job's effect are saved in one transaction.
    let lines = log.take();
    let Completion {
        result,
        failure,
        effect,
        after_commit,
        on_abort,
    } = completion;
    let attempt = async {
        let mut txn = crate::audit::AuditedTxn::begin(domain).await?;
        let (state, result, error) = match &failure {
            None => (JobState::Succeeded, Some(result.to_string()), None),
            Some(message) => (JobState::Failed, None, Some(message.clone())),
        };
        let finish = Finish {
            state,
            result,
            error,
            progress: progress.clone(),
        };
        // Fenced by the lease: an attempt that lost it commits nothing.
        if !queue::finish(txn.conn(), job.id, token, domain.now_ms(), finish).await? {
            return Ok::<_, crate::Error>(None);
        }
        let mut lines = lines.clone();
        if let Some(message) = &failure {
            lines.push((
                domain.now_ms(),
                super::LogLevel::Error,
                format!("Failed: {message}"),
            ));
        }
        super::append_log(txn.conn(), job.id, lines).await?;
        if let Some(effect) = effect {
            effect(&mut txn).await?;
        }
        txn.commit().await?;
        Ok(Some(state))
    };
    let outcome = attempt.await;
    let hook = match &outcome {
        Ok(Some(_)) => after_commit,
        _ => on_abort,
    };
    if let Some(hook) = hook {
        hook().await;
    }
    match outcome {
        Ok(state) => state,
        Err(e) => {
            // A refusal the user can act on (a name taken meanwhile) is shown as it is.
            let message = match &e {
                crate::Error::Conflict(_) | crate::Error::InvalidInput { .. } => e.to_string(),
                _ => {
                    tracing::error!(job = job.id, "committing the job's result failed: {e}");
                    "Its result could not be saved; the server log has the details.".into()
                }
            };
            for (at, level, message) in lines {
                log.push(at, level, message);
            }
            log.push(
                domain.now_ms(),
                super::LogLevel::Error,
                format!("Failed: {message}"),
            );
            let finish = Finish {
                state: JobState::Failed,
                result: None,
                error: Some(message),
                progress,
            };
            queue::finish(domain.db(), job.id, token, domain.now_ms(), finish)
                .await
                .ok()
                .and_then(|ok| ok.then_some(JobState::Failed))
        }
    }
}

async fn cancel_requested(domain: &Domain, id: i64) -> bool {
    use sea_orm::{EntityTrait, QuerySelect};
    jobs::Entity::find_by_id(id)
        .select_only()
        .column(jobs::Column::CancelRequested)
        .into_tuple::<bool>()
        .one(domain.db())
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

async fn flush_log(domain: &Domain, job_id: i64, log: &LogBuffer) {
    let lines = log.take();
    if lines.is_empty() {
        return;
    }
    if let Err(e) = super::append_log(domain.db(), job_id, lines).await {
        tracing::warn!(job = job_id, "writing the job log failed: {e}");
    }
}
