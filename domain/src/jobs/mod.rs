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
mod queue;
mod runner;
pub mod schedule;
mod state;

pub use crate::progress::{Progress, ProgressSnapshot, ProgressUnit};
pub use handler::{BoxFuture, Completion, JobContext, JobError, JobGrant, JobKind, LogLevel};
pub use runner::{Runner, RunnerOptions};
pub use schedule::{NewSchedule, Schedule, ScheduleSpec};
pub use state::JobState;

pub(crate) use handler::Effect;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, sea_query::Expr,
};
use serde_json::Value;

use crate::{
    Actor, Domain, Error, Result,
    authz::{ObjectType, Operation},
    db::entities::{job_logs, jobs, schedules},
};

/// The queued or running job that holds an object, if any (the oldest).
pub(crate) async fn active_on<C: ConnectionTrait>(
    conn: &C,
    target_kind: &str,
    target_id: &str,
) -> Result<Option<jobs::Model>> {
    use crate::db::entities::job_holds;
    let holders = sea_orm::sea_query::Query::select()
        .column(job_holds::Column::JobId)
        .from(job_holds::Entity)
        .and_where(job_holds::Column::TargetType.eq(target_kind))
        .and_where(job_holds::Column::TargetId.eq(target_id))
        .to_owned();
    Ok(jobs::Entity::find()
        .filter(jobs::Column::Id.in_subquery(holders))
        .filter(jobs::Column::State.is_in(JobState::ACTIVE.map(JobState::as_str)))
        .order_by_asc(jobs::Column::Id)
        .one(conn)
        .await?)
}

/// Serializes, until the transaction ends, everything that checks or changes which jobs work
/// on one object. SQLite write transactions are serialized already (`BEGIN IMMEDIATE`); on
/// PostgreSQL two transactions could otherwise both see no active job and both queue one.
pub(crate) async fn lock_target<C: ConnectionTrait>(
    conn: &C,
    target_kind: &str,
    target_id: &str,
) -> Result<()> {
    use sea_orm::{DatabaseBackend, Statement};
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        conn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            [format!("job-target:{target_kind}:{target_id}").into()],
        ))
        .await?;
    }
    Ok(())
}

/// The object type of a job target kind.
fn target_object_type(target_kind: &str) -> Option<ObjectType> {
    match target_kind {
        "boot-image" | "default-boot-images" => Some(ObjectType::BootImage),
        "os-image" => Some(ObjectType::OsImage),
        _ => None,
    }
}

/// How messages name an object a job works on.
pub(crate) fn object_noun(target_kind: &str) -> &'static str {
    if target_kind == "default-boot-images" {
        "the default boot images"
    } else if target_kind.ends_with("image") {
        "this image"
    } else {
        "this object"
    }
}

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
    idempotency_key: Option<String>,
    schedule_id: Option<i64>,
    retry_of: Option<i64>,
}

impl NewJob {
    pub fn new(kind: &str, params: Value) -> Self {
        Self {
            kind: kind.to_owned(),
            params,
            idempotency_key: None,
            schedule_id: None,
            retry_of: None,
        }
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
        // Ordered with every other change that queues (they are audited transactions).
        let mut txn = crate::audit::AuditedTxn::begin(self.domain).await?;
        let id = txn.enqueue(owner, new).await?;
        txn.commit().await?;
        Ok(id)
    }

    /// Validates and queues a job inside the caller's write transaction (so it commits with
    /// the change that asked for it, and its audit entry); call [`Jobs::announce`] after the
    /// commit. A job is refused while another job that holds one of the objects it would hold
    /// ([`JobKind::holds`]) is queued or running, in this transaction: two jobs never work on
    /// one object at once.
    pub(crate) async fn enqueue_in(
        &self,
        conn: &sea_orm::DatabaseTransaction,
        owner: Option<&Actor>,
        new: NewJob,
    ) -> Result<i64> {
        let kind = self.domain.job_kind(&new.kind)?;
        let params = kind.validate(new.params, self.domain.config())?;
        if let Some(key) = &new.idempotency_key
            && let Some(existing) = jobs::Entity::find()
                .filter(jobs::Column::IdempotencyKey.eq(key))
                .one(conn)
                .await?
        {
            return Ok(existing.id);
        }
        // What the job holds comes from its kind and parameters, never from the caller.
        let holds = kind.holds(self.domain, conn, &params).await?;
        for (n, hold) in holds.iter().enumerate() {
            // The others are not named: whoever queues may not be allowed to read them.
            let what = if n == 0 {
                object_noun(&hold.kind)
            } else if hold.kind.ends_with("image") {
                "an image this job works on"
            } else {
                "an object this job works on"
            };
            self.refuse_busy_target(conn, hold, what).await?;
        }
        let target = holds.first();
        let now = self.domain.now_ms();
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
        let id = model.insert(conn).await?.id;
        for hold in &holds {
            crate::db::entities::job_holds::ActiveModel {
                job_id: Set(id),
                target_type: Set(hold.kind.clone()),
                target_id: Set(hold.id.clone()),
            }
            .insert(conn)
            .await?;
        }
        let mut lines = vec![(
            now,
            LogLevel::Info,
            format!(
                "Queued by {}",
                owner.map_or("the scheduler", |a| a.username.as_str())
            ),
        )];
        if let Some(old) = new.retry_of {
            lines.push((now, LogLevel::Info, format!("Retry of job {old}")));
        }
        append_log(conn, id, lines).await?;
        Ok(id)
    }

    /// Wakes the runners and tells live views about a job queued by [`Jobs::enqueue_in`].
    pub(crate) fn announce(&self, id: i64) {
        self.domain.inner.job_wake.notify_waiters();
        self.domain.publish(JobEvent {
            job_id: id,
            state: JobState::Queued,
            progress: None,
        });
    }

    /// Refuses work on an object that a queued or running job already works on, naming it.
    async fn refuse_busy_target<C: ConnectionTrait>(
        &self,
        conn: &C,
        target: &JobTarget,
        what: &str,
    ) -> Result<()> {
        lock_target(conn, &target.kind, &target.id).await?;
        if let Some(busy) = active_on(conn, &target.kind, &target.id).await? {
            return Err(Error::Conflict(self.busy_message(&busy, what)));
        }
        Ok(())
    }

    /// "Optimize is running on this image: job 42".
    pub(crate) fn busy_message(&self, busy: &jobs::Model, what: &str) -> String {
        let label = self
            .domain
            .job_kind(&busy.kind)
            .map_or_else(|_| busy.kind.clone(), |k| k.label().to_owned());
        let state = JobState::parse(&busy.state).map_or("queued", |s| {
            if s == JobState::Running {
                "running"
            } else {
                "queued"
            }
        });
        format!("{label} is {state} on {what}: job {}", busy.id)
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
        let txn = crate::db::begin_write(self.domain.db()).await?;
        let state = self.cancel_in(&txn, id, by).await?;
        txn.commit().await?;
        self.cancelled(id, state);
        Ok(state)
    }

    /// [`Jobs::cancel`] inside the caller's transaction; call [`Jobs::cancelled`] after the
    /// commit. Returns `Cancelled` for a queued job, `Running` for one asked to stop.
    pub(crate) async fn cancel_in<C: ConnectionTrait>(
        &self,
        db: &C,
        id: i64,
        by: &str,
    ) -> Result<JobState> {
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
            let line = format!("Cancelled by {by} before it started");
            append_log(db, id, vec![(now, LogLevel::Warning, line)]).await?;
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
            let line = format!("Cancellation requested by {by}");
            append_log(db, id, vec![(now, LogLevel::Warning, line)]).await?;
            return Ok(JobState::Running);
        }
        let job = jobs::Entity::find_by_id(id)
            .one(db)
            .await?
            .ok_or_else(|| Error::NotFound(format!("job {id}")))?;
        let state = JobState::parse(&job.state).unwrap_or(JobState::Failed);
        Err(Error::Conflict(format!(
            "job {id} has already ended ({})",
            state.label().to_lowercase()
        )))
    }

    /// After a committed cancellation: live views learn of a cancelled job, a running one is
    /// told to stop.
    pub(crate) fn cancelled(&self, id: i64, state: JobState) {
        match state {
            JobState::Cancelled => self.domain.publish(JobEvent {
                job_id: id,
                state,
                progress: None,
            }),
            _ => {
                if let Some(token) = self.domain.running_token(id) {
                    token.cancel();
                }
            }
        }
    }

    /// The job that retries an unsuccessful one: the same kind and parameters (and so the same
    /// objects held).
    fn retry_of(&self, old: &Job) -> Result<NewJob> {
        if !old.state.can_retry() {
            return Err(Error::Conflict(format!(
                "job {} is {}; only failed, cancelled or interrupted jobs can be retried",
                old.id,
                old.state.label().to_lowercase()
            )));
        }
        let mut new = NewJob::new(&old.kind, old.params.clone());
        new.retry_of = Some(old.id);
        Ok(new)
    }

    /// Deletes finished jobs (and their logs) that ended before `before_ms`, in batches, each
    /// with its audit entry by `author`; `on_batch` hears how many went each time.
    pub(crate) async fn prune_finished(
        &self,
        before_ms: i64,
        author: &crate::audit::JobAuthor,
        mut on_batch: impl FnMut(u64),
    ) -> Result<u64> {
        let finals: Vec<&str> = JobState::ALL
            .iter()
            .filter(|s| s.is_final())
            .map(|s| s.as_str())
            .collect();
        let mut total = 0;
        loop {
            let mut txn = crate::audit::AuditedTxn::begin(self.domain).await?;
            let ids: Vec<i64> = jobs::Entity::find()
                .select_only()
                .column(jobs::Column::Id)
                .filter(jobs::Column::FinishedAtMs.lt(before_ms))
                .filter(jobs::Column::State.is_in(finals.clone()))
                .order_by_asc(jobs::Column::Id)
                .limit(1000)
                .into_tuple()
                .all(txn.conn())
                .await?;
            let (Some(first), Some(last)) = (ids.first().copied(), ids.last().copied()) else {
                return Ok(total);
            };
            let deleted = jobs::Entity::delete_many()
                .filter(jobs::Column::Id.is_in(ids))
                .exec(txn.conn())
                .await?;
            txn.record(&author.entry(
                Operation::Delete,
                ObjectType::Job,
                (0, "finished jobs"),
                &[
                    (
                        "deleted",
                        Value::Null,
                        serde_json::json!(deleted.rows_affected),
                    ),
                    ("first id", Value::Null, serde_json::json!(first)),
                    ("last id", Value::Null, serde_json::json!(last)),
                    ("ended before", Value::Null, serde_json::json!(before_ms)),
                ],
            ))
            .await?;
            txn.commit().await?;
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

    /// How many jobs are queued or running, counted at one moment (two counts, one per state,
    /// miss a job that moves from running back to queued between them).
    pub async fn count_active(&self) -> Result<u64> {
        Ok(jobs::Entity::find()
            .filter(jobs::Column::State.is_in(JobState::ACTIVE.map(JobState::as_str)))
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
        schedule::insert(self.domain, self.domain.db(), owner.map(|a| a.user_id), new).await
    }

    /// Enables or disables a schedule; enabling recomputes its next run from now.
    pub async fn set_schedule_enabled(&self, id: i64, enabled: bool) -> Result<()> {
        self.set_schedule_enabled_in(self.domain.db(), id, enabled)
            .await
            .map(drop)
    }

    /// [`Jobs::set_schedule_enabled`] inside the caller's transaction; returns the schedule.
    async fn set_schedule_enabled_in<C: ConnectionTrait>(
        &self,
        db: &C,
        id: i64,
        enabled: bool,
    ) -> Result<schedules::Model> {
        let model = schedules::Entity::find_by_id(id)
            .one(db)
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
        .update(db)
        .await?;
        Ok(model)
    }

    pub async fn delete_schedule(&self, id: i64) -> Result<()> {
        self.delete_schedule_in(self.domain.db(), id)
            .await
            .map(drop)
    }

    /// Deletes a schedule inside the caller's transaction; returns what it was.
    async fn delete_schedule_in<C: ConnectionTrait>(
        &self,
        db: &C,
        id: i64,
    ) -> Result<schedules::Model> {
        let model = schedules::Entity::find_by_id(id)
            .one(db)
            .await?
            .ok_or_else(|| Error::NotFound(format!("schedule {id}")))?;
        schedules::Entity::delete_by_id(id).exec(db).await?;
        Ok(model)
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
        // The jobs it is the target of (an index walk however many jobs there are).
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

    /// Starts a job from the jobs page: it takes what its kind demands on its object.
    pub async fn start(&self, new: NewJob) -> Result<i64> {
        self.require_operator()?;
        self.queue_authorized(new, Vec::new()).await
    }

    /// Queues `new` for this user after its kind's own check, recording it in the audit log as
    /// the change it is (the operation on the object), in the transaction that queues it.
    pub(crate) async fn queue_authorized(
        &self,
        new: NewJob,
        mut changes: Vec<(&str, Value, Value)>,
    ) -> Result<i64> {
        let kind = self.jobs.domain.job_kind(&new.kind)?;
        let grant = kind
            .authorize(self.jobs.domain, self.actor, &new.params)
            .await?;
        let mut txn = crate::audit::AuditedTxn::begin(self.jobs.domain).await?;
        let id = txn.enqueue(Some(self.actor), new).await?;
        changes.push(("job", Value::Null, serde_json::json!(id)));
        txn.allowed(
            self.actor,
            grant.operation,
            grant.object_type,
            (grant.object_id, &grant.object_name),
            &changes,
        )
        .await?;
        txn.commit().await?;
        Ok(id)
    }

    /// A job; one that works on an object this user may not read comes without anything that
    /// names it ([`ActorJobs::may_see`]).
    pub async fn get(&self, id: i64) -> Result<Job> {
        self.require_read()?;
        let job = self.jobs.get(id).await?;
        self.shown(job).await
    }

    /// A page of jobs, each shown as [`ActorJobs::get`] shows it.
    pub async fn list(
        &self,
        filter: &JobFilter,
        cursor: PageCursor,
        page_size: u64,
    ) -> Result<JobPage> {
        self.require_read()?;
        let mut page = self.jobs.list(filter, cursor, page_size).await?;
        let mut shown = Vec::with_capacity(page.jobs.len());
        for job in std::mem::take(&mut page.jobs) {
            shown.push(self.shown(job).await?);
        }
        page.jobs = shown;
        Ok(page)
    }

    /// A job's log, if this user may see the job's object (logs name paths and objects).
    pub async fn log(&self, id: i64, after_id: Option<i64>, limit: u64) -> Result<Vec<LogLine>> {
        self.require_log(id).await?;
        self.jobs.log(id, after_id, limit).await
    }

    pub async fn log_tail(&self, id: i64, limit: u64) -> Result<Vec<LogLine>> {
        self.require_log(id).await?;
        self.jobs.log_tail(id, limit).await
    }

    async fn require_log(&self, id: i64) -> Result<()> {
        self.require_read()?;
        let job = self.jobs.get(id).await?;
        if self.may_see(&job).await? {
            Ok(())
        } else {
            Err(Error::forbidden(
                ObjectType::Job,
                Operation::Read,
                "read this job's log: it works on an object outside your security scopes",
            ))
        }
    }

    /// Whether this user may see what a job works on: their own jobs, jobs on objects they may
    /// read, and Wimdeck's housekeeping. A job on a type without one object (an import before
    /// it made anything) takes Read on every scope of that type.
    pub async fn may_see(&self, job: &Job) -> Result<bool> {
        if job.owner_user_id == Some(self.actor.user_id) {
            return Ok(true);
        }
        let subject = match &job.target {
            Some(target) => match target_object_type(&target.kind) {
                Some(object) => Some((object, target.id.parse::<i64>().ok())),
                None => return Ok(self.actor.holds(ObjectType::Job, Operation::Administer)),
            },
            None => self
                .jobs
                .domain
                .job_kind(&job.kind)
                .ok()
                .and_then(|kind| kind.subject(&job.params, job.result.as_ref())),
        };
        let Some((object, id)) = subject else {
            return Ok(true);
        };
        let grants = &self.actor.grants;
        if grants.visibility(object) == crate::authz::Visibility::Everything {
            return Ok(true);
        }
        match id {
            Some(id) if object.is_scoped() => {
                let scopes = crate::authz::scopes::of(self.jobs.domain.db(), object, id).await?;
                Ok(grants.allows(object, Operation::Read, &scopes))
            }
            // A type without one object yet (an import before it made anything): only those
            // who see every object of the type.
            _ => Ok(false),
        }
    }

    /// The job as this user may see it: without its description, parameters, result, error,
    /// progress text and target name when [`ActorJobs::may_see`] says no.
    async fn shown(&self, mut job: Job) -> Result<Job> {
        if self.may_see(&job).await? {
            return Ok(job);
        }
        const HIDDEN: &str = "(outside your security scopes)";
        job.description = HIDDEN.into();
        job.params = Value::Null;
        job.result = None;
        job.error = job.error.map(|_| HIDDEN.into());
        if let Some(progress) = &mut job.progress {
            progress.phase = String::new();
        }
        if let Some(target) = &mut job.target {
            target.label = HIDDEN.into();
        }
        Ok(job)
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
        let mut txn = crate::audit::AuditedTxn::begin(self.jobs.domain).await?;
        let state = self
            .jobs
            .cancel_in(txn.conn(), id, &self.actor.username)
            .await?;
        txn.allowed(
            self.actor,
            Operation::Modify,
            ObjectType::Job,
            (id, &format!("job {id} ({})", job.kind_label)),
            &[("cancel", Value::Null, serde_json::json!(state.as_str()))],
        )
        .await?;
        txn.commit().await?;
        self.jobs.cancelled(id, state);
        Ok(state)
    }

    /// Retries an unsuccessful job as this user: it takes the rights to control the job and
    /// what starting its kind demands on its object (a retried import creates an image, so it
    /// takes Create on images), and is audited as that change.
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
        let new = self.jobs.retry_of(&job)?;
        self.queue_authorized(
            new,
            vec![("retry of job", Value::Null, serde_json::json!(id))],
        )
        .await
    }

    pub async fn running_count(&self) -> Result<u64> {
        self.require_read()?;
        self.jobs.count_in(JobState::Running).await
    }

    pub async fn schedules(&self) -> Result<Vec<Schedule>> {
        self.require_read()?;
        self.jobs.schedules().await
    }

    /// Creates a schedule; its kind's check runs now, and again as its owner each time it
    /// fires.
    pub async fn create_schedule(&self, new: NewSchedule) -> Result<i64> {
        self.require_operator()?;
        let kind = self.jobs.domain.job_kind(&new.kind)?;
        kind.authorize(self.jobs.domain, self.actor, &new.params)
            .await?;
        let (name, spec) = (new.name.trim().to_owned(), format!("{:?}", new.spec));
        let kind = new.kind.clone();
        let txn = crate::audit::AuditedTxn::begin(self.jobs.domain).await?;
        let id =
            schedule::insert(self.jobs.domain, txn.conn(), Some(self.actor.user_id), new).await?;
        let created = serde_json::json!({ "kind": kind, "spec": spec });
        self.commit_schedule_change(txn, (id, &name), ("schedule", Value::Null, created))
            .await?;
        Ok(id)
    }

    pub async fn set_schedule_enabled(&self, id: i64, enabled: bool) -> Result<()> {
        self.require_operator()?;
        let txn = crate::audit::AuditedTxn::begin(self.jobs.domain).await?;
        let before = self
            .jobs
            .set_schedule_enabled_in(txn.conn(), id, enabled)
            .await?;
        let change = ("enabled", before.enabled.into(), enabled.into());
        self.commit_schedule_change(txn, (id, &before.name), change)
            .await
    }

    pub async fn delete_schedule(&self, id: i64) -> Result<()> {
        self.require_operator()?;
        let txn = crate::audit::AuditedTxn::begin(self.jobs.domain).await?;
        let gone = self.jobs.delete_schedule_in(txn.conn(), id).await?;
        let change = ("schedule", serde_json::json!(gone.kind), Value::Null);
        self.commit_schedule_change(txn, (id, &gone.name), change)
            .await
    }

    /// Records a change this user made to a schedule, and commits it.
    async fn commit_schedule_change(
        &self,
        mut txn: crate::audit::AuditedTxn,
        schedule: (i64, &str),
        change: (&str, Value, Value),
    ) -> Result<()> {
        let name = format!("schedule \"{}\"", schedule.1);
        txn.allowed(
            self.actor,
            Operation::Administer,
            ObjectType::Job,
            (schedule.0, &name),
            &[change],
        )
        .await?;
        txn.commit().await
    }
}

/// Sets a job's stored result from inside its effect (once, say, a new row's id is known).
pub(crate) async fn set_result<C: ConnectionTrait>(
    db: &C,
    job_id: i64,
    result: serde_json::Value,
) -> Result<()> {
    jobs::Entity::update_many()
        .col_expr(jobs::Column::Result, Expr::value(result.to_string()))
        .filter(jobs::Column::Id.eq(job_id))
        .exec(db)
        .await?;
    Ok(())
}
