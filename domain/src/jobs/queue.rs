//! The queue's SQL. Every write to a running job is fenced by its lease token, so an attempt
//! that lost its lease (its worker was presumed dead and the job handed to another) can change
//! nothing.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbBackend, EntityTrait, QueryFilter,
    QuerySelect, Statement, Value as DbValue, sea_query::Expr,
};

use super::state::{JobState, after_unfinished_attempt, retry_backoff_ms};
use crate::{Result, db::entities::jobs};

use jobs::Column as C;

/// A job a runner has claimed.
pub(crate) struct Claimed {
    pub(crate) job: jobs::Model,
    pub(crate) lease_token: String,
}

/// Claims the oldest runnable job of one of `kinds`: one statement, so two runners never get
/// the same job (PostgreSQL skips rows another claim has locked; SQLite serialises writers).
/// A job that holds an object another running job holds waits (queueing refuses that already;
/// this holds for jobs queued before, and for a job handed back while another started).
pub(crate) async fn claim<Db: ConnectionTrait>(
    db: &Db,
    kinds: &[&str],
    only: Option<i64>,
    worker: &str,
    now_ms: i64,
    lease_ms: i64,
) -> Result<Option<Claimed>> {
    if kinds.is_empty() {
        return Ok(None);
    }
    let backend = db.get_database_backend();
    let token = crate::accounts::random_token();
    let kind_params: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 6)).collect();
    let lock = if backend == DbBackend::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_token = $1, \
         lease_expires_at_ms = $2, worker = $3, started_at_ms = COALESCE(started_at_ms, $4), \
         updated_at_ms = $4 \
         WHERE state = 'queued' AND id = (SELECT q.id FROM jobs q WHERE q.state = 'queued' \
         AND q.run_after_ms <= $4 AND ($5 IS NULL OR q.id = $5) AND q.kind IN ({}) \
         AND NOT EXISTS (SELECT 1 FROM job_holds hq JOIN job_holds hr \
         ON hr.target_type = hq.target_type AND hr.target_id = hq.target_id \
         JOIN jobs r ON r.id = hr.job_id \
         WHERE hq.job_id = q.id AND r.id <> q.id AND r.state = 'running') \
         ORDER BY q.id LIMIT 1{lock}) RETURNING *",
        kind_params.join(", ")
    );
    let mut values: Vec<DbValue> = vec![
        token.clone().into(),
        (now_ms + lease_ms).into(),
        worker.to_owned().into(),
        now_ms.into(),
        only.into(),
    ];
    values.extend(kinds.iter().map(|k| DbValue::from((*k).to_owned())));
    let statement = Statement::from_sql_and_values(backend, placeholders(backend, &sql), values);
    let job = jobs::Entity::find().from_raw_sql(statement).one(db).await?;
    Ok(job.map(|job| Claimed {
        job,
        lease_token: token,
    }))
}

/// SQL is written with `$n`; SQLite spells the same numbered parameter `?n`.
fn placeholders(backend: DatabaseBackend, sql: &str) -> String {
    if backend == DbBackend::Postgres {
        sql.to_owned()
    } else {
        sql.replace('$', "?")
    }
}

/// Outcome of a heartbeat.
pub(crate) enum Beat {
    Held { cancel_requested: bool },
    Lost,
}

/// Extends the lease and stores the latest progress.
pub(crate) async fn heartbeat<Db: ConnectionTrait>(
    db: &Db,
    id: i64,
    token: &str,
    now_ms: i64,
    lease_ms: i64,
    progress_json: Option<String>,
) -> Result<Beat> {
    let updated = jobs::Entity::update_many()
        .col_expr(C::LeaseExpiresAtMs, Expr::value(now_ms + lease_ms))
        .col_expr(C::UpdatedAtMs, Expr::value(now_ms))
        .col_expr(C::Progress, Expr::value(progress_json))
        .filter(C::Id.eq(id))
        .filter(C::LeaseToken.eq(token))
        .filter(C::State.eq(JobState::Running.as_str()))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        return Ok(Beat::Lost);
    }
    let cancel_requested = jobs::Entity::find_by_id(id)
        .select_only()
        .column(C::CancelRequested)
        .into_tuple::<bool>()
        .one(db)
        .await?
        .unwrap_or(false);
    Ok(Beat::Held { cancel_requested })
}

/// How an attempt ended, as stored.
pub(crate) struct Finish {
    pub(crate) state: JobState,
    pub(crate) result: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) progress: Option<String>,
}

/// Records a final state for an attempt that still holds its lease. `false`: the lease was lost
/// and nothing changed.
pub(crate) async fn finish<Db: ConnectionTrait>(
    db: &Db,
    id: i64,
    token: &str,
    now_ms: i64,
    finish: Finish,
) -> Result<bool> {
    let updated = jobs::Entity::update_many()
        .col_expr(C::State, Expr::value(finish.state.as_str()))
        .col_expr(C::FinishedAtMs, Expr::value(now_ms))
        .col_expr(C::UpdatedAtMs, Expr::value(now_ms))
        .col_expr(C::Result, Expr::value(finish.result))
        .col_expr(C::Error, Expr::value(finish.error))
        .col_expr(C::Progress, Expr::value(finish.progress))
        .col_expr(C::LeaseToken, Expr::value(Option::<String>::None))
        .col_expr(C::LeaseExpiresAtMs, Expr::value(Option::<i64>::None))
        .filter(C::Id.eq(id))
        .filter(C::LeaseToken.eq(token))
        .filter(C::State.eq(JobState::Running.as_str()))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Ends an attempt that produced no result: back to the queue (after a backoff) if the kind is
/// retry-safe and attempts are left, else interrupted. With `refund`, the attempt does not count
/// (the runner gave it back at shutdown). Returns the new state, or `None` if the lease was lost.
pub(crate) async fn end_unfinished<Db: ConnectionTrait>(
    db: &Db,
    job: &jobs::Model,
    token: &str,
    now_ms: i64,
    refund: bool,
    reason: &str,
) -> Result<Option<JobState>> {
    let attempts = if refund {
        (job.attempts - 1).max(0)
    } else {
        job.attempts
    };
    let next = after_unfinished_attempt(job.retry_safe, attempts, job.max_attempts);
    let mut update = jobs::Entity::update_many()
        .col_expr(C::State, Expr::value(next.as_str()))
        .col_expr(C::Attempts, Expr::value(attempts))
        .col_expr(C::UpdatedAtMs, Expr::value(now_ms))
        .col_expr(C::LeaseToken, Expr::value(Option::<String>::None))
        .col_expr(C::LeaseExpiresAtMs, Expr::value(Option::<i64>::None))
        .col_expr(C::Worker, Expr::value(Option::<String>::None));
    update = match next {
        JobState::Queued => {
            let delay = if refund {
                0
            } else {
                retry_backoff_ms(attempts)
            };
            update.col_expr(C::RunAfterMs, Expr::value(now_ms + delay))
        }
        _ => update
            .col_expr(C::FinishedAtMs, Expr::value(now_ms))
            .col_expr(C::Error, Expr::value(reason.to_owned())),
    };
    let updated = update
        .filter(C::Id.eq(job.id))
        .filter(C::LeaseToken.eq(token))
        .filter(C::State.eq(JobState::Running.as_str()))
        .exec(db)
        .await?;
    Ok((updated.rows_affected == 1).then_some(next))
}

/// Finds running jobs whose lease expired (their worker died) and ends their attempt. Returns
/// the jobs and their new states.
pub(crate) async fn reap<Db: ConnectionTrait>(
    db: &Db,
    now_ms: i64,
) -> Result<Vec<(i64, JobState)>> {
    let expired = jobs::Entity::find()
        .filter(C::State.eq(JobState::Running.as_str()))
        .filter(C::LeaseExpiresAtMs.lt(now_ms))
        .limit(500)
        .all(db)
        .await?;
    let mut ended = Vec::new();
    for job in expired {
        let Some(token) = job.lease_token.clone() else {
            continue;
        };
        let reason = "The worker running this job stopped responding before it finished, and this \
                      kind of job is not safe to run again automatically. Check its output, then retry.";
        if let Some(state) = end_unfinished(db, &job, &token, now_ms, false, reason).await? {
            tracing::warn!(job = job.id, kind = %job.kind, new_state = state.as_str(), "lease expired");
            ended.push((job.id, state));
        }
    }
    Ok(ended)
}
