//! Jobs: list, detail with live progress and log, cancel, retry, start, schedules.

use leptos::{
    prelude::*,
    server_fn::{
        BoxedStream, Websocket,
        codec::{GetUrl, JsonEncoding, StreamingText, TextStream},
    },
};
use serde::{Deserialize, Serialize};

use crate::AppError;

/// A job in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub kind_label: String,
    pub description: String,
    /// `queued`, `running`, `succeeded`, `failed`, `cancelled`, `interrupted`.
    pub state: String,
    pub state_label: String,
    pub target: Option<String>,
    /// The user who started it, "schedule", or "Wimdeck" for its own maintenance.
    pub started_by: String,
    pub created_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    pub progress: Option<ProgressView>,
}

impl JobRow {
    pub fn is_final(&self) -> bool {
        !matches!(self.state.as_str(), "queued" | "running")
    }
}

/// Progress at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressView {
    pub phase: String,
    pub done: u64,
    pub total: Option<u64>,
    pub bytes: bool,
    pub percent: Option<f64>,
    pub rate_per_sec: Option<f64>,
    pub eta_secs: Option<u64>,
}

/// A page of the jobs list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobListView {
    pub rows: Vec<JobRow>,
    pub older: Option<i64>,
    pub newer: Option<i64>,
    /// (name, label) of every kind, for the filter.
    pub kinds: Vec<(String, String)>,
    pub may_start: bool,
    pub storage_check_max_mib: u32,
    pub retention_days: u32,
}

/// A log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLineView {
    pub id: i64,
    pub at_ms: i64,
    pub level: String,
    pub message: String,
}

/// Everything about one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDetailView {
    pub row: JobRow,
    pub params_json: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub retry_safe: bool,
    pub retry_of: Option<i64>,
    pub schedule_id: Option<i64>,
    pub result_json: Option<String>,
    pub error: Option<String>,
    pub cancel_requested: bool,
    pub may_control: bool,
    /// The latest lines, oldest first.
    pub log: Vec<LogLineView>,
}

/// What changed since the last poll of a job page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobPollView {
    pub row: JobRow,
    pub result_json: Option<String>,
    pub error: Option<String>,
    pub cancel_requested: bool,
    pub new_log: Vec<LogLineView>,
}

/// A live change to a job (state, progress), pushed over a websocket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEventView {
    pub job_id: i64,
    pub state: String,
    pub state_label: String,
    pub progress: Option<ProgressView>,
}

/// A schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleView {
    pub id: i64,
    pub name: String,
    pub kind_label: String,
    pub description: String,
    /// `once`, `interval`, `cron`.
    pub spec_kind: String,
    pub spec: String,
    pub enabled: bool,
    pub next_run_at_ms: Option<i64>,
    pub last_run_at_ms: Option<i64>,
    pub last_job_id: Option<i64>,
}

/// The schedules page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulesView {
    pub schedules: Vec<ScheduleView>,
    pub may_edit: bool,
    /// (name, label) of kinds that can be scheduled.
    pub kinds: Vec<(String, String)>,
}

/// Lines shown on a job page; the download has them all.
pub const LOG_TAIL_LINES: u64 = 200;

#[cfg(feature = "ssr")]
mod ssr {
    use domain::jobs::{Job, LogLine, ProgressSnapshot, ProgressUnit};

    use super::*;

    pub(super) fn row(job: &Job) -> JobRow {
        JobRow {
            id: job.id,
            kind: job.kind.clone(),
            kind_label: job.kind_label.clone(),
            description: job.description.clone(),
            state: job.state.as_str().to_owned(),
            state_label: job.state.label().to_owned(),
            target: job.target.as_ref().map(|t| t.label.clone()),
            started_by: match (&job.owner_name, job.schedule_id) {
                (Some(name), _) => name.clone(),
                (None, Some(_)) => "schedule".to_owned(),
                (None, None) => "Wimdeck".to_owned(),
            },
            created_at_ms: job.created_at_ms,
            started_at_ms: job.started_at_ms,
            finished_at_ms: job.finished_at_ms,
            progress: job.progress.as_ref().map(progress),
        }
    }

    pub(crate) fn progress(p: &ProgressSnapshot) -> ProgressView {
        ProgressView {
            phase: p.phase.clone(),
            done: p.done,
            total: p.total,
            bytes: p.unit == ProgressUnit::Bytes,
            percent: p.percent,
            rate_per_sec: p.rate_per_sec,
            eta_secs: p.eta_secs,
        }
    }

    pub(super) fn log_line(l: LogLine) -> LogLineView {
        LogLineView {
            id: l.id,
            at_ms: l.at_ms,
            level: l.level.as_str().to_owned(),
            message: l.message,
        }
    }

    pub(super) fn pretty(value: &serde_json::Value) -> String {
        serde_json::to_string_pretty(value).unwrap_or_default()
    }

    pub(super) fn kinds(domain: &domain::Domain, schedulable_only: bool) -> Vec<(String, String)> {
        domain
            .job_kinds()
            .into_iter()
            .filter(|k| !schedulable_only || super::STARTABLE_KINDS.contains(&k.name()))
            .map(|k| (k.name().to_owned(), k.label().to_owned()))
            .collect()
    }
}

/// Kinds a user starts or schedules from the Jobs page; later areas start their own.
pub const STARTABLE_KINDS: [&str; 2] = ["storage-check", "prune-jobs"];

/// A page of jobs, newest first. `before`/`after` are the cursors of the previous page.
#[server(endpoint = "list_jobs")]
pub async fn list_jobs(
    state: Option<String>,
    kind: Option<String>,
    target: Option<String>,
    before: Option<i64>,
    after: Option<i64>,
) -> Result<JobListView, AppError> {
    use domain::jobs::{JobFilter, JobState, PageCursor};
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let jobs = domain.for_actor(&actor).jobs();
    let filter = JobFilter {
        state: state
            .as_deref()
            .filter(|s| !s.is_empty())
            .and_then(JobState::parse),
        kind: kind.filter(|k| !k.is_empty()),
        target: target
            .as_deref()
            .and_then(|t| t.split_once(':'))
            .map(|(k, i)| (k.to_owned(), i.to_owned())),
    };
    let cursor = match (before, after) {
        (Some(id), _) => PageCursor::Before(id),
        (None, Some(id)) => PageCursor::After(id),
        _ => PageCursor::Newest,
    };
    let page = jobs.list(&filter, cursor, 50).await?;
    let config = &domain.config().jobs;
    Ok(JobListView {
        rows: page.jobs.iter().map(ssr::row).collect(),
        older: page.older,
        newer: page.newer,
        kinds: ssr::kinds(&domain, false),
        may_start: jobs.may_start(),
        storage_check_max_mib: config.storage_check_max_mib,
        retention_days: config.retention_days,
    })
}

/// One job with its latest log lines.
#[server(endpoint = "job_detail")]
pub async fn job_detail(id: i64) -> Result<JobDetailView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let jobs = domain.for_actor(&actor).jobs();
    let job = jobs.get(id).await?;
    let log = jobs.log_tail(id, LOG_TAIL_LINES).await?;
    Ok(JobDetailView {
        row: ssr::row(&job),
        params_json: ssr::pretty(&job.params),
        attempts: job.attempts,
        max_attempts: job.max_attempts,
        retry_safe: job.retry_safe,
        retry_of: job.retry_of,
        schedule_id: job.schedule_id,
        result_json: job.result.as_ref().map(ssr::pretty),
        error: job.error.clone(),
        cancel_requested: job.cancel_requested,
        may_control: jobs.may_control(&job),
        log: log.into_iter().map(ssr::log_line).collect(),
    })
}

/// A job's state and progress, and log lines after `after_log_id`.
#[server(endpoint = "job_poll")]
pub async fn job_poll(id: i64, after_log_id: Option<i64>) -> Result<JobPollView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let jobs = domain.for_actor(&actor).jobs();
    let job = jobs.get(id).await?;
    let new_log = match after_log_id {
        Some(after) => jobs.log(id, Some(after), LOG_TAIL_LINES).await?,
        None => jobs.log_tail(id, LOG_TAIL_LINES).await?,
    };
    Ok(JobPollView {
        row: ssr::row(&job),
        result_json: job.result.as_ref().map(ssr::pretty),
        error: job.error.clone(),
        cancel_requested: job.cancel_requested,
        new_log: new_log.into_iter().map(ssr::log_line).collect(),
    })
}

/// The whole log as text, for download.
#[server(endpoint = "job_log", input = GetUrl, output = StreamingText)]
pub async fn job_log(id: i64) -> Result<TextStream<AppError>, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let jobs = domain.for_actor(&actor).jobs();
    let job = jobs.get(id).await?;
    let lines = jobs.log(id, None, u64::MAX >> 1).await?;
    let mut text = format!(
        "Wimdeck job {} — {} {}\n",
        job.id, job.kind_label, job.description
    );
    for line in lines {
        text.push_str(&format!(
            "{}  {:<7}  {}\n",
            crate::format::utc(line.at_ms),
            line.level.as_str(),
            line.message
        ));
    }
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>()
        && let Ok(value) =
            http::HeaderValue::from_str(&format!("attachment; filename=\"wimdeck-job-{id}.log\""))
    {
        response.insert_header(http::header::CONTENT_DISPOSITION, value);
        response.insert_header(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    Ok(TextStream::new(futures::stream::iter([Ok(text)])))
}

/// Pushes a job's state and progress as they change (about four times a second while it
/// runs), until it ends. The client sends the job's id as its first message. Pages also poll,
/// so a browser or proxy without websockets still sees updates every second.
#[server(endpoint = "watch_job", protocol = Websocket<JsonEncoding, JsonEncoding>)]
pub async fn watch_job(
    input: BoxedStream<i64, AppError>,
) -> Result<BoxedStream<JobEventView, AppError>, AppError> {
    use futures::{SinkExt, StreamExt};
    use tokio::sync::broadcast::error::RecvError;

    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    domain.for_actor(&actor).jobs().require_read()?;
    let mut events = domain.subscribe_jobs();
    let (mut tx, rx) = futures::channel::mpsc::channel(16);
    let mut input = input;
    // Return the stream at once; the id arrives on the input stream.
    tokio::spawn(async move {
        let Some(Ok(job_id)) = input.next().await else {
            return;
        };
        let jobs = domain.for_actor(&actor).jobs();
        let visible = match jobs.get(job_id).await {
            Ok(job) => jobs.may_see(&job).await.unwrap_or(false),
            Err(e) => {
                let _ = tx.send(Err(AppError::from(e))).await;
                return;
            }
        };
        loop {
            let event = tokio::select! {
                // The page was left (the socket closed).
                message = input.next() => match message {
                    Some(Ok(_)) => continue,
                    None | Some(Err(_)) => return,
                },
                received = events.recv() => match received {
                    Ok(event) => event,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                },
            };
            if event.job_id != job_id {
                continue;
            }
            let last = event.state.is_final();
            let view = JobEventView {
                job_id,
                state: event.state.as_str().to_owned(),
                state_label: event.state.label().to_owned(),
                // The phase names files and objects: only for those who may see them.
                progress: event.progress.as_ref().map(|p| {
                    let mut view = ssr::progress(p);
                    if !visible {
                        view.phase = String::new();
                    }
                    view
                }),
            };
            if tx.send(Ok(view)).await.is_err() || last {
                return;
            }
        }
    });
    Ok(rx.into())
}

/// Cancels a queued job, or asks a running one to stop.
#[server(endpoint = "cancel_job")]
pub async fn cancel_job(id: i64) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    domain.for_actor(&actor).jobs().cancel(id).await?;
    Ok(())
}

/// Queues a new job like an unsuccessful one; returns its id.
#[server(endpoint = "retry_job")]
pub async fn retry_job(id: i64) -> Result<i64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain.for_actor(&actor).jobs().retry(id).await?)
}

/// Starts a storage check of `size_mib` MiB; returns the job id.
#[server(endpoint = "start_storage_check")]
pub async fn start_storage_check(size_mib: u32) -> Result<i64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let job =
        domain::jobs::NewJob::new("storage-check", serde_json::json!({ "size_mib": size_mib }));
    Ok(domain.for_actor(&actor).jobs().start(job).await?)
}

/// Starts pruning finished jobs; returns the job id.
#[server(endpoint = "start_prune_jobs")]
pub async fn start_prune_jobs(older_than_days: Option<u32>) -> Result<i64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let job = domain::jobs::NewJob::new(
        "prune-jobs",
        serde_json::json!({ "older_than_days": older_than_days }),
    );
    Ok(domain.for_actor(&actor).jobs().start(job).await?)
}

/// How many jobs run right now, for the shell's indicator.
#[server(endpoint = "running_job_count")]
pub async fn running_job_count() -> Result<u64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain.for_actor(&actor).jobs().running_count().await?)
}

#[server(endpoint = "list_schedules")]
pub async fn list_schedules() -> Result<SchedulesView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let jobs = domain.for_actor(&actor).jobs();
    let kinds = ssr::kinds(&domain, true);
    let schedules = jobs
        .schedules()
        .await?
        .into_iter()
        .map(|s| {
            let (spec_kind, spec) = s.spec.to_parts();
            let kind = domain.job_kinds().into_iter().find(|k| k.name() == s.kind);
            ScheduleView {
                id: s.id,
                name: s.name,
                kind_label: kind
                    .as_ref()
                    .map_or_else(|| s.kind.clone(), |k| k.label().to_owned()),
                description: kind.map(|k| k.describe(&s.params)).unwrap_or_default(),
                spec_kind: spec_kind.to_owned(),
                spec,
                enabled: s.enabled,
                next_run_at_ms: s.next_run_at_ms,
                last_run_at_ms: s.last_run_at_ms,
                last_job_id: s.last_job_id,
            }
        })
        .collect();
    Ok(SchedulesView {
        schedules,
        may_edit: jobs.may_start(),
        kinds,
    })
}

/// Creates a schedule. `spec` is a time (RFC 3339) for `once`, a duration (`6h`) for
/// `interval`, a five-field pattern (UTC) for `cron`.
#[server(endpoint = "create_schedule")]
pub async fn create_schedule(
    name: String,
    kind: String,
    spec_kind: String,
    spec: String,
    size_mib: Option<String>,
    older_than_days: Option<String>,
) -> Result<i64, AppError> {
    use domain::jobs::{NewSchedule, ScheduleSpec};
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    domain.for_actor(&actor).jobs().require_operator()?;
    if !STARTABLE_KINDS.contains(&kind.as_str()) {
        return Err(domain::Error::InvalidInput {
            field: "kind",
            message: format!("'{kind}' cannot be scheduled here"),
        }
        .into());
    }
    // Empty form fields mean "not given".
    let number = |field: &'static str, text: Option<String>| -> Result<Option<u32>, AppError> {
        match text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            None => Ok(None),
            Some(t) => t.parse().map(Some).map_err(|_| {
                domain::Error::InvalidInput {
                    field,
                    message: format!("'{t}' is not a whole number"),
                }
                .into()
            }),
        }
    };
    let params = match kind.as_str() {
        "storage-check" => {
            serde_json::json!({ "size_mib": number("size_mib", size_mib)?.unwrap_or(1024) })
        }
        _ => serde_json::json!({ "older_than_days": number("older_than_days", older_than_days)? }),
    };
    let spec = ScheduleSpec::parse(&spec_kind, &spec)?;
    Ok(domain
        .for_actor(&actor)
        .jobs()
        .create_schedule(NewSchedule {
            name,
            kind,
            params,
            spec,
        })
        .await?)
}

#[server(endpoint = "set_schedule_enabled")]
pub async fn set_schedule_enabled(id: i64, enabled: bool) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    domain
        .for_actor(&actor)
        .jobs()
        .set_schedule_enabled(id, enabled)
        .await?;
    Ok(())
}

#[server(endpoint = "delete_schedule")]
pub async fn delete_schedule(id: i64) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    domain.for_actor(&actor).jobs().delete_schedule(id).await?;
    Ok(())
}
