//! Jobs: durable background work with live progress, logs, cancellation and schedules.
//!
//! A job is a row in the database ([`Job`]) of a registered [`JobKind`]. [`Runner`]s claim jobs
//! under a lease they renew with a heartbeat; a job whose runner dies is recovered when its lease
//! expires (run again if its kind is retry-safe, else marked interrupted) — never left
//! "running". Progress and state changes are published as [`JobEvent`]s for live views, and
//! persisted with each heartbeat for everyone else. [`Jobs`] is the service; actors reach it
//! through [`crate::ActorDomain::jobs`], which checks their roles.

mod handler;
pub mod kinds;
mod progress;
mod queue;
mod runner;
pub mod schedule;
mod state;

pub use handler::{BoxFuture, Completion, JobContext, JobError, JobKind, LogLevel};
pub use progress::{Progress, ProgressSnapshot, ProgressUnit};
pub use runner::{Runner, RunnerOptions};
pub use schedule::{NewSchedule, Schedule, ScheduleSpec};
pub use state::JobState;

pub(crate) use handler::Effect;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, SqlErr, sea_query::Expr,
};
use serde_json::Value;

use crate::{
    Actor, Domain, Error, Result,
    authz::{ObjectType, Operation},
    db::entities::{job_logs, jobs, schedules},
};

/// A change to a job, for live views.
#[derive(Debug, Clone, PartialEq)]
pub struct JobEvent {
    pub job_id: i64,
    pub state: JobState,
    pub progress: Option<ProgressSnapshot>,
}

/// The object a job works on, for filtering and display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobTarget {
    pub kind: String,
    pub id: String,
    pub label: String,
}

/// A job to queue.
#[derive(Debug, Clone)]
pub struct NewJob {
    kind: String,
    params: Value,
    target: Option<JobTarget>,
    idempotency_key: Option<String>,
    schedule_id: Option<i64>,
    retry_of: Option<i64>,
}

impl NewJob {
    pub fn new(kind: &str, params: Value) -> Self {
        Self {
            kind: kind.to_owned(),
            params,
            target: None,
            idempotency_key: None,
            schedule_id: None,
            retry_of: None,
        }
    }

    pub fn target(mut self, target: JobTarget) -> Self {
        self.target = Some(target);
        self
    }

    /// The same key queues the same job once, however often it is submitted.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    fn schedule(mut self, id: i64) -> Self {
        self.schedule_id = Some(id);
        self
    }
}

/// A job as shown to users.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub kind_label: String,
    pub description: String,
    pub params: Value,
    pub state: JobState,
    pub attempts: i32,
    pub max_attempts: i32,
    pub retry_safe: bool,
    pub owner_user_id: Option<i64>,
    pub owner_name: Option<String>,
    pub target: Option<JobTarget>,
    pub schedule_id: Option<i64>,
    pub retry_of: Option<i64>,
    pub created_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    pub cancel_requested: bool,
    pub progress: Option<ProgressSnapshot>,
    pub result: Option<Value>,
    pub error: Option<String>,
}

/// Which jobs to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub kind: Option<String>,
    /// (`target kind`, `target id`).
    pub target: Option<(String, String)>,
}

/// Where a page starts: newest first, or either side of a job id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PageCursor {
    #[default]
    Newest,
    /// Jobs older than this id.
    Before(i64),
    /// Jobs newer than this id.
    After(i64),
}

/// One page of jobs, newest first, with cursors to its neighbours.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPage {
    pub jobs: Vec<Job>,
    pub older: Option<i64>,
    pub newer: Option<i64>,
}

/// A line of a job's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub id: i64,
    pub at_ms: i64,
    pub level: LogLevel,
    pub message: String,
}

/// The jobs service (no permission checks: for the system itself; users go through
/// [`ActorJobs`]).
pub struct Jobs<'a> {
    domain: &'a Domain,
}

impl<'a> Jobs<'a> {
    pub(crate) fn new(domain: &'a Domain) -> Self {
        Self { domain }
    }

    /// Validates and queues a job; with an idempotency key already used, returns that job.
    pub async fn enqueue_as(&self, owner: Option<&Actor>, new: NewJob) -> Result<i64> {
        let kind = self.domain.job_kind(&new.kind)?;
        let params = kind.validate(new.params, self.domain.config())?;
        let now = self.domain.now_ms();
        let target = new.target;
        let model = jobs::ActiveModel {
            kind: Set(new.kind.clone()),
            params: Set(params.to_string()),
            state: Set(JobState::Queued.as_str().to_owned()),
            attempts: Set(0),
            max_attempts: Set(i32::try_from(kind.max_attempts()).unwrap_or(i32::MAX)),
            retry_safe: Set(kind.retry_safe()),
            owner_user_id: Set(owner.map(|a| a.user_id)),
            owner_name: Set(owner.map(|a| a.username.clone())),
            target_type: Set(target.as_ref().map(|t| t.kind.clone())),
            target_id: Set(target.as_ref().map(|t| t.id.clone())),
            target_label: Set(target.as_ref().map(|t| t.label.clone())),
            idempotency_key: Set(new.idempotency_key.clone()),
            schedule_id: Set(new.schedule_id),
            retry_of: Set(new.retry_of),
            run_after_ms: Set(now),
            created_at_ms: Set(now),
            updated_at_ms: Set(now),
            cancel_requested: Set(false),
            ..Default::default()
        };
        let id = match model.insert(self.domain.db()).await {
            Ok(job) => job.id,
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                let key = new.idempotency_key.unwrap_or_default();
                return jobs::Entity::find()
                    .filter(jobs::Column::IdempotencyKey.eq(key))
                    .one(self.domain.db())
                    .await?
                    .map(|j| j.id)
                    .ok_or_else(|| Error::Internal("idempotency conflict without a job".into()));
            }
            Err(e) => return Err(e.into()),
        };
        append_log(
            self.domain.db(),
            id,
            vec![(
                now,
                LogLevel::Info,
                format!(
                    "Queued by {}",
                    owner.map_or("the scheduler", |a| a.username.as_str())
                ),
            )],
        )
        .await?;
        self.domain.inner.job_wake.notify_waiters();
        self.domain.publish(JobEvent {
            job_id: id,
            state: JobState::Queued,
            progress: None,
        });
        Ok(id)
    }

    pub async fn get(&self, id: i64) -> Result<Job> {
        let model = jobs::Entity::find_by_id(id)
            .one(self.domain.db())
            .await?
            .ok_or_else(|| Error::NotFound(format!("job {id}")))?;
        Ok(self.to_job(model))
    }

    /// A page of jobs, newest first. Keyset pagination on the id: every filter is an index
    /// walk, however many jobs there are.
    pub async fn list(
        &self,
        filter: &JobFilter,
        cursor: PageCursor,
        page_size: u64,
    ) -> Result<JobPage> {
        let page_size = page_size.clamp(1, 200);
        let db = self.domain.db();
        let mut rows = list_query(filter, cursor, page_size + 1).all(db).await?;
        if matches!(cursor, PageCursor::After(_)) {
            rows.reverse();
        }
        let more = rows.len() as u64 > page_size;
        if more {
            match cursor {
                PageCursor::After(_) => {
                    rows.remove(0);
                }
                _ => {
                    rows.pop();
                }
            }
        }
        let (has_older, has_newer) = match cursor {
            PageCursor::Newest => (more, false),
            PageCursor::Before(_) => (more, true),
            // Coming back from an older page: older ones exist if anything is below this page.
            PageCursor::After(_) => (!rows.is_empty(), more),
        };
        let mut older = if has_older {
            rows.last().map(|j| j.id)
        } else {
            None
        };
        if let (PageCursor::After(_), Some(id)) = (cursor, older) {
            let below = list_query(filter, PageCursor::Before(id), 1)
                .one(db)
                .await?;
            older = below.map(|_| id);
        }
        let newer = if has_newer {
            rows.first().map(|j| j.id)
        } else {
            None
        };
        Ok(JobPage {
            jobs: rows.into_iter().map(|m| self.to_job(m)).collect(),
            older,
            newer,
        })
    }

    /// The database's plan for the list query (tests check that it stays an index walk).
    #[cfg(feature = "testing")]
    pub async fn explain_list(&self, filter: &JobFilter, cursor: PageCursor) -> Result<String> {
        use sea_orm::{DbBackend, QueryTrait, Statement};
        let db = self.domain.db();
        let backend = db.get_database_backend();
        let query = list_query(filter, cursor, 51).build(backend);
        let prefix = if backend == DbBackend::Postgres {
            "EXPLAIN "
        } else {
            "EXPLAIN QUERY PLAN "
        };
        let statement = Statement::from_sql_and_values(
            backend,
            format!("{prefix}{}", query.sql),
            query.values.unwrap_or(sea_orm::Values(Vec::new())),
        );
        let rows = db.query_all_raw(statement).await?;
        Ok(rows
            .iter()
            .map(|row| {
                row.try_get::<String>("", "QUERY PLAN")
                    .or_else(|_| row.try_get::<String>("", "detail"))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n"))
    }

    /// Log lines after `after_id` (all when `None`), oldest first, at most `limit`.
    pub async fn log(
        &self,
        job_id: i64,
        after_id: Option<i64>,
        limit: u64,
    ) -> Result<Vec<LogLine>> {
        let mut query = job_logs::Entity::find().filter(job_logs::Column::JobId.eq(job_id));
        if let Some(after) = after_id {
            query = query.filter(job_logs::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(job_logs::Column::Id)
            .limit(limit)
            .all(self.domain.db())
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| LogLine {
                id: r.id,
                at_ms: r.at_ms,
                level: LogLevel::parse(&r.level),
                message: r.message,
            })
            .collect())
    }

    /// The last `limit` log lines, oldest first.
    pub async fn log_tail(&self, job_id: i64, limit: u64) -> Result<Vec<LogLine>> {
        let mut rows = job_logs::Entity::find()
            .filter(job_logs::Column::JobId.eq(job_id))
            .order_by_desc(job_logs::Column::Id)
            .limit(limit)
            .all(self.domain.db())
            .await?;
        rows.reverse();
        Ok(rows
            .into_iter()
            .map(|r| LogLine {
                id: r.id,
                at_ms: r.at_ms,
                level: LogLevel::parse(&r.level),
                message: r.message,
            })
            .collect())
    }

    /// Cancels a queued job at once; asks a running one to stop (it ends `cancelled` when it
    /// notices, within a heartbeat). Final jobs are left as they are.
    pub async fn cancel(&self, id: i64, by: &str) -> Result<JobState> {
        let db = self.domain.db();
        let now = self.domain.now_ms();
        let queued = jobs::Entity::update_many()
            .col_expr(
                jobs::Column::State,
                Expr::value(JobState::Cancelled.as_str()),
            )
            .col_expr(jobs::Column::FinishedAtMs, Expr::value(now))
            .col_expr(jobs::Column::UpdatedAtMs, Expr::value(now))
            .col_expr(jobs::Column::CancelRequested, Expr::value(true))
            .filter(jobs::Column::Id.eq(id))
            .filter(jobs::Column::State.eq(JobState::Queued.as_str()))
            .exec(db)
            .await?;
        if queued.rows_affected == 1 {
            append_log(
                db,
                id,
                vec![(
                    now,
                    LogLevel::Warning,
                    format!("Cancelled by {by} before it started"),
                )],
            )
            .await?;
            self.domain.publish(JobEvent {
                job_id: id,
                state: JobState::Cancelled,
                progress: None,
            });
            return Ok(JobState::Cancelled);
        }
        let running = jobs::Entity::update_many()
            .col_expr(jobs::Column::CancelRequested, Expr::value(true))
            .col_expr(jobs::Column::UpdatedAtMs, Expr::value(now))
            .filter(jobs::Column::Id.eq(id))
            .filter(jobs::Column::State.eq(JobState::Running.as_str()))
            .exec(db)
            .await?;
        if running.rows_affected == 1 {
            append_log(
                db,
                id,
                vec![(
                    now,
                    LogLevel::Warning,
                    format!("Cancellation requested by {by}"),
                )],
            )
            .await?;
            if let Some(token) = self.domain.running_token(id) {
                token.cancel();
            }
            return Ok(JobState::Running);
        }
        let job = self.get(id).await?;
        Err(Error::Conflict(format!(
            "job {id} has already ended ({})",
            job.state.label().to_lowercase()
        )))
    }

    /// Queues a new job with the same kind, parameters and target as an unsuccessful one.
    pub async fn retry(&self, id: i64, by: &Actor) -> Result<i64> {
        let old = self.get(id).await?;
        if !old.state.can_retry() {
            return Err(Error::Conflict(format!(
                "job {id} is {}; only failed, cancelled or interrupted jobs can be retried",
                old.state.label().to_lowercase()
            )));
        }
        let mut new = NewJob::new(&old.kind, old.params.clone());
        new.target = old.target.clone();
        new.retry_of = Some(id);
        let new_id = self.enqueue_as(Some(by), new).await?;
        append_log(
            self.domain.db(),
            new_id,
            vec![(
                self.domain.now_ms(),
                LogLevel::Info,
                format!("Retry of job {id}"),
            )],
        )
        .await?;
        Ok(new_id)
    }

    /// Deletes finished jobs (and their logs) that ended before `before_ms`, in batches;
    /// `on_batch` hears how many went each time.
    pub async fn prune_finished(
        &self,
        before_ms: i64,
        mut on_batch: impl FnMut(u64),
    ) -> Result<u64> {
        let finals: Vec<&str> = JobState::ALL
            .iter()
            .filter(|s| s.is_final())
            .map(|s| s.as_str())
            .collect();
        let mut total = 0;
        loop {
            let ids: Vec<i64> = jobs::Entity::find()
                .select_only()
                .column(jobs::Column::Id)
                .filter(jobs::Column::FinishedAtMs.lt(before_ms))
                .filter(jobs::Column::State.is_in(finals.clone()))
                .limit(1000)
                .into_tuple()
                .all(self.domain.db())
                .await?;
            if ids.is_empty() {
                return Ok(total);
            }
            let deleted = jobs::Entity::delete_many()
                .filter(jobs::Column::Id.is_in(ids))
                .exec(self.domain.db())
                .await?;
            total += deleted.rows_affected;
            on_batch(deleted.rows_affected);
        }
    }

    /// Finished jobs that ended before `before_ms`.
    pub async fn count_prunable(&self, before_ms: i64) -> Result<u64> {
        let finals: Vec<&str> = JobState::ALL
            .iter()
            .filter(|s| s.is_final())
            .map(|s| s.as_str())
            .collect();
        Ok(jobs::Entity::find()
            .filter(jobs::Column::FinishedAtMs.lt(before_ms))
            .filter(jobs::Column::State.is_in(finals))
            .count(self.domain.db())
            .await?)
    }

    /// How many jobs are in a state.
    pub async fn count_in(&self, state: JobState) -> Result<u64> {
        Ok(jobs::Entity::find()
            .filter(jobs::Column::State.eq(state.as_str()))
            .count(self.domain.db())
            .await?)
    }

    /// Queues the jobs of due schedules now (runners do this every second).
    pub async fn fire_due_schedules(&self) -> Result<usize> {
        schedule::fire_due(self.domain).await
    }

    pub async fn schedules(&self) -> Result<Vec<Schedule>> {
        schedules::Entity::find()
            .order_by_asc(schedules::Column::Name)
            .all(self.domain.db())
            .await?
            .into_iter()
            .map(Schedule::from_model)
            .collect()
    }

    pub async fn create_schedule(&self, owner: Option<&Actor>, new: NewSchedule) -> Result<i64> {
        schedule::insert(self.domain, owner.map(|a| a.user_id), new).await
    }

    /// Enables or disables a schedule; enabling recomputes its next run from now.
    pub async fn set_schedule_enabled(&self, id: i64, enabled: bool) -> Result<()> {
        let model = schedules::Entity::find_by_id(id)
            .one(self.domain.db())
            .await?
            .ok_or_else(|| Error::NotFound(format!("schedule {id}")))?;
        let now = self.domain.now_ms();
        let spec = ScheduleSpec::parse(&model.spec_kind, &model.spec)?;
        let next = if enabled {
            spec.next_after(now, model.created_at_ms)
        } else {
            model.next_run_at_ms
        };
        if enabled && next.is_none() {
            return Err(Error::Conflict(
                "this one-time schedule's time has passed".into(),
            ));
        }
        schedules::ActiveModel {
            id: Set(id),
            enabled: Set(enabled),
            next_run_at_ms: Set(next),
            updated_at_ms: Set(now),
            ..Default::default()
        }
        .update(self.domain.db())
        .await?;
        Ok(())
    }

    pub async fn delete_schedule(&self, id: i64) -> Result<()> {
        let deleted = schedules::Entity::delete_by_id(id)
            .exec(self.domain.db())
            .await?;
        if deleted.rows_affected == 0 {
            return Err(Error::NotFound(format!("schedule {id}")));
        }
        Ok(())
    }

    fn to_job(&self, m: jobs::Model) -> Job {
        let params: Value = serde_json::from_str(&m.params).unwrap_or(Value::Null);
        let (kind_label, description) = match self.domain.job_kind(&m.kind) {
            Ok(kind) => (kind.label().to_owned(), kind.describe(&params)),
            Err(_) => (m.kind.clone(), String::new()),
        };
        let target = match (m.target_type, m.target_id) {
            (Some(kind), Some(id)) => Some(JobTarget {
                label: m.target_label.unwrap_or_else(|| id.clone()),
                kind,
                id,
            }),
            _ => None,
        };
        Job {
            id: m.id,
            kind: m.kind,
            kind_label,
            description,
            params,
            state: JobState::parse(&m.state).unwrap_or(JobState::Failed),
            attempts: m.attempts,
            max_attempts: m.max_attempts,
            retry_safe: m.retry_safe,
            owner_user_id: m.owner_user_id,
            owner_name: m.owner_name,
            target,
            schedule_id: m.schedule_id,
            retry_of: m.retry_of,
            created_at_ms: m.created_at_ms,
            started_at_ms: m.started_at_ms,
            finished_at_ms: m.finished_at_ms,
            cancel_requested: m.cancel_requested,
            progress: m.progress.and_then(|p| serde_json::from_str(&p).ok()),
            result: m.result.and_then(|r| serde_json::from_str(&r).ok()),
            error: m.error,
        }
    }
}

/// The list query: newest first (oldest first after an `After` cursor), filtered.
fn list_query(filter: &JobFilter, cursor: PageCursor, limit: u64) -> sea_orm::Select<jobs::Entity> {
    let mut condition = Condition::all();
    if let Some(state) = filter.state {
        condition = condition.add(jobs::Column::State.eq(state.as_str()));
    }
    if let Some(kind) = &filter.kind {
        condition = condition.add(jobs::Column::Kind.eq(kind.as_str()));
    }
    if let Some((kind, id)) = &filter.target {
        condition = condition
            .add(jobs::Column::TargetType.eq(kind.as_str()))
            .add(jobs::Column::TargetId.eq(id.as_str()));
    }
    let query = jobs::Entity::find().filter(condition);
    match cursor {
        PageCursor::Newest => query.order_by_desc(jobs::Column::Id),
        PageCursor::Before(id) => query
            .filter(jobs::Column::Id.lt(id))
            .order_by_desc(jobs::Column::Id),
        PageCursor::After(id) => query
            .filter(jobs::Column::Id.gt(id))
            .order_by_asc(jobs::Column::Id),
    }
    .limit(limit)
}

pub(crate) async fn append_log<C: ConnectionTrait>(
    db: &C,
    job_id: i64,
    lines: Vec<(i64, LogLevel, String)>,
) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    job_logs::Entity::insert_many(lines.into_iter().map(|(at_ms, level, message)| {
        job_logs::ActiveModel {
            job_id: Set(job_id),
            at_ms: Set(at_ms),
            level: Set(level.as_str().to_owned()),
            message: Set(message),
            ..Default::default()
        }
    }))
    .exec(db)
    .await?;
    Ok(())
}

/// The jobs service on behalf of a signed-in user. Reading jobs takes Read on jobs; starting
/// and scheduling take Administer; cancelling and retrying take Modify for one's own jobs and
/// Administer for anyone's.
pub struct ActorJobs<'a> {
    jobs: Jobs<'a>,
    actor: &'a Actor,
}

impl<'a> ActorJobs<'a> {
    pub(crate) fn new(domain: &'a Domain, actor: &'a Actor) -> Self {
        Self {
            jobs: Jobs::new(domain),
            actor,
        }
    }

    /// Refuses a user who may not start or schedule jobs (before any input is looked at).
    pub fn require_operator(&self) -> Result<()> {
        self.actor.require(ObjectType::Job, Operation::Administer)
    }

    /// Refuses, before looking the job up, a user who may control no job at all.
    fn require_control_any(&self) -> Result<()> {
        if self.actor.holds(ObjectType::Job, Operation::Modify) {
            return Ok(());
        }
        self.require_operator()
    }

    /// Refuses a user who may not read jobs.
    pub fn require_read(&self) -> Result<()> {
        self.actor.require(ObjectType::Job, Operation::Read)
    }

    /// Whether this user may cancel or retry that job.
    pub fn may_control(&self, job: &Job) -> bool {
        self.actor.holds(ObjectType::Job, Operation::Administer)
            || (job.owner_user_id == Some(self.actor.user_id)
                && self.actor.holds(ObjectType::Job, Operation::Modify))
    }

    /// Whether this user may start and schedule jobs.
    pub fn may_start(&self) -> bool {
        self.actor.holds(ObjectType::Job, Operation::Administer)
    }

    pub async fn start(&self, new: NewJob) -> Result<i64> {
        self.require_operator()?;
        self.jobs.enqueue_as(Some(self.actor), new).await
    }

    pub async fn get(&self, id: i64) -> Result<Job> {
        self.require_read()?;
        self.jobs.get(id).await
    }

    pub async fn list(
        &self,
        filter: &JobFilter,
        cursor: PageCursor,
        page_size: u64,
    ) -> Result<JobPage> {
        self.require_read()?;
        self.jobs.list(filter, cursor, page_size).await
    }

    pub async fn log(&self, id: i64, after_id: Option<i64>, limit: u64) -> Result<Vec<LogLine>> {
        self.require_read()?;
        self.jobs.get(id).await?;
        self.jobs.log(id, after_id, limit).await
    }

    pub async fn log_tail(&self, id: i64, limit: u64) -> Result<Vec<LogLine>> {
        self.require_read()?;
        self.jobs.get(id).await?;
        self.jobs.log_tail(id, limit).await
    }

    pub async fn cancel(&self, id: i64) -> Result<JobState> {
        self.require_control_any()?;
        let job = self.jobs.get(id).await?;
        if !self.may_control(&job) {
            return Err(Error::forbidden(
                ObjectType::Job,
                Operation::Modify,
                "cancel this job (it takes Modify on jobs for your own, Administer for others')",
            ));
        }
        self.jobs.cancel(id, &self.actor.username).await
    }

    pub async fn retry(&self, id: i64) -> Result<i64> {
        self.require_control_any()?;
        let job = self.jobs.get(id).await?;
        if !self.may_control(&job) {
            return Err(Error::forbidden(
                ObjectType::Job,
                Operation::Modify,
                "retry this job (it takes Modify on jobs for your own, Administer for others')",
            ));
        }
        self.jobs.retry(id, self.actor).await
    }

    pub async fn running_count(&self) -> Result<u64> {
        self.require_read()?;
        self.jobs.count_in(JobState::Running).await
    }

    pub async fn schedules(&self) -> Result<Vec<Schedule>> {
        self.require_read()?;
        self.jobs.schedules().await
    }

    pub async fn create_schedule(&self, new: NewSchedule) -> Result<i64> {
        self.require_operator()?;
        self.jobs.create_schedule(Some(self.actor), new).await
    }

    pub async fn set_schedule_enabled(&self, id: i64, enabled: bool) -> Result<()> {
        self.require_operator()?;
        self.jobs.set_schedule_enabled(id, enabled).await
    }

    pub async fn delete_schedule(&self, id: i64) -> Result<()> {
        self.require_operator()?;
        self.jobs.delete_schedule(id).await
    }
}
