//! What a kind of job is, and what a running job can do: report progress, write its log,
//! notice cancellation, and commit its effect together with its completion.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
};

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::progress::Progress;
use crate::{
    Actor, Config, Domain,
    audit::{AuditedTxn, JobAuthor},
    authz::{ObjectType, Operation},
};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A kind of job: registered once, run by the runner for every job of that kind.
pub trait JobKind: Send + Sync + 'static {
    /// The stored name, kebab-case (`storage-check`).
    fn name(&self) -> &'static str;
    /// The name shown in the console.
    fn label(&self) -> &'static str;
    /// Whether an attempt that ended without a result (worker died, server stopped) may simply
    /// run again. Kinds whose work is not idempotent say no: such a job ends `interrupted`.
    fn retry_safe(&self) -> bool;
    fn max_attempts(&self) -> u32 {
        3
    }
    /// Concurrent jobs of this kind per runner, unless configured otherwise.
    fn default_concurrency(&self) -> usize {
        1
    }
    /// Checks parameters before a job is queued; returns them normalised.
    fn validate(&self, params: Value, config: &Config) -> crate::Result<Value>;
    /// A one-line description of a job's parameters, for lists.
    fn describe(&self, params: &Value) -> String;
    /// Does the work.
    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, Result<Completion, JobError>>;
    /// The object a job without a target works on, for who may see it: its type, and its id
    /// once known (an import's new image, from its result). `None`: Wimdeck's housekeeping,
    /// about no object.
    fn subject(&self, params: &Value, result: Option<&Value>) -> Option<(ObjectType, Option<i64>)> {
        let _ = (params, result);
        None
    }
    /// The objects a job with `params` works on, read in the transaction that queues it; the
    /// first is the target shown with the job. Until the job ends no other job is queued on
    /// any of them and none is deleted, and the runner starts no job while another running
    /// job holds one of its objects. By default a kind holds nothing (housekeeping, or a job
    /// that only creates).
    fn holds<'a>(
        &'a self,
        domain: &'a Domain,
        conn: &'a sea_orm::DatabaseTransaction,
        params: &'a Value,
    ) -> BoxFuture<'a, crate::Result<Vec<super::JobTarget>>> {
        let _ = (domain, conn, params);
        Box::pin(async { Ok(Vec::new()) })
    }
    /// What starting a job of this kind with `params` demands of `actor` on its object, and
    /// the object, for the audit log. Every way a user starts a job goes through it: the
    /// console's own action, a retry, the jobs page, a schedule (when it is made and each time
    /// it fires), so none of them can borrow rights the user does not have. By default a kind
    /// is Wimdeck's own housekeeping: it takes Administer on jobs.
    fn authorize<'a>(
        &'a self,
        domain: &'a Domain,
        actor: &'a Actor,
        params: &'a Value,
    ) -> BoxFuture<'a, crate::Result<JobGrant>> {
        let _ = (domain, params);
        Box::pin(async move {
            actor.require(ObjectType::Job, Operation::Administer)?;
            Ok(JobGrant::new(
                Operation::Administer,
                ObjectType::Job,
                0,
                self.label(),
            ))
        })
    }
}

/// What a user was allowed to start a job on: recorded in the audit log as the change they
/// made (the operation on the object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobGrant {
    pub operation: Operation,
    pub object_type: ObjectType,
    /// 0 for an object the job creates.
    pub object_id: i64,
    pub object_name: String,
}

impl JobGrant {
    pub fn new(
        operation: Operation,
        object_type: ObjectType,
        object_id: i64,
        object_name: impl Into<String>,
    ) -> Self {
        Self {
            operation,
            object_type,
            object_id,
            object_name: object_name.into(),
        }
    }
}

/// Writes done in the same transaction that ends the job: either both happen or neither, and
/// never for an attempt that lost its lease. The transaction is audited: an effect records
/// what it changed ([`JobContext::author`]), releases the files it stopped using, and queues
/// follow-up jobs through it, all of which take effect only with the commit.
pub(crate) type Effect =
    Box<dyn for<'t> FnOnce(&'t mut AuditedTxn) -> BoxFuture<'t, crate::Result<()>> + Send>;

/// Work done after the outcome is known (removing files a failed commit leaves without a
/// row). Best effort: the start-up sweep covers a crash.
pub(crate) type Hook = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// How a job ended, with what it changed.
pub struct Completion {
    pub(crate) result: Value,
    /// A job that found something wrong and records it (a verification that found damage):
    /// it ends failed with this message, and its effect is still committed with that end.
    pub(crate) failure: Option<String>,
    pub(crate) effect: Option<Effect>,
    pub(crate) after_commit: Option<Hook>,
    pub(crate) on_abort: Option<Hook>,
}

impl Completion {
    /// A result to store and show (any serializable value).
    pub fn new(result: impl Serialize) -> Self {
        Self {
            result: serde_json::to_value(result).unwrap_or(Value::Null),
            failure: None,
            effect: None,
            after_commit: None,
            on_abort: None,
        }
    }

    /// A job that fails with `message` and still commits its effect (which records why).
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self {
            failure: Some(message.into()),
            ..Self::new(Value::Null)
        }
    }

    pub(crate) fn with_effect(mut self, effect: Effect) -> Self {
        self.effect = Some(effect);
        self
    }

    /// Runs once the result and effect are committed.
    pub(crate) fn after_commit<F>(mut self, hook: impl FnOnce() -> F + Send + 'static) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.after_commit = Some(Box::new(move || Box::pin(hook())));
        self
    }

    /// Runs when the result and effect could not be committed.
    pub(crate) fn on_abort<F>(mut self, hook: impl FnOnce() -> F + Send + 'static) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.on_abort = Some(Box::new(move || Box::pin(hook())));
        self
    }
}

/// How a job's attempt can end without success.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// It noticed a cancellation (by a user, or the runner stopping) and stopped cleanly.
    #[error("cancelled")]
    Cancelled,
    /// It failed for good; the message is for the user.
    #[error("{0}")]
    Failed(String),
    /// It failed in a way another attempt may fix (retried if the kind is retry-safe).
    #[error("{0}")]
    Transient(String),
}

impl From<crate::Error> for JobError {
    fn from(error: crate::Error) -> Self {
        match error {
            crate::Error::Database(e) => JobError::Transient(format!("database: {e}")),
            other => JobError::Failed(other.sentence()),
        }
    }
}

impl From<std::io::Error> for JobError {
    fn from(error: std::io::Error) -> Self {
        JobError::Failed(error.to_string())
    }
}

/// Severity of a job log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogLevel {
    Info,
    Warning,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Info => "info",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Self {
        match text {
            "warning" => LogLevel::Warning,
            "error" => LogLevel::Error,
            _ => LogLevel::Info,
        }
    }
}

/// Lines written by a running job, flushed to the database with each heartbeat.
#[derive(Debug, Default)]
pub(crate) struct LogBuffer {
    lines: Mutex<Vec<(i64, LogLevel, String)>>,
}

impl LogBuffer {
    pub(crate) fn push(&self, at_ms: i64, level: LogLevel, message: String) {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((at_ms, level, message));
    }

    pub(crate) fn take(&self) -> Vec<(i64, LogLevel, String)> {
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// What a running job sees.
pub struct JobContext {
    pub(crate) job_id: i64,
    pub(crate) owner_user_id: Option<i64>,
    pub(crate) owner_name: Option<String>,
    pub(crate) attempt: u32,
    pub(crate) params: Value,
    pub(crate) domain: Domain,
    pub(crate) progress: Arc<Progress>,
    pub(crate) log: Arc<LogBuffer>,
    pub(crate) cancel: CancellationToken,
}

impl JobContext {
    pub fn job_id(&self) -> i64 {
        self.job_id
    }

    /// The user who started the job; `None` for Wimdeck's own work.
    pub fn owner_user_id(&self) -> Option<i64> {
        self.owner_user_id
    }

    /// Who started the job ("Wimdeck" for its own work), for records it creates.
    pub fn owner_name(&self) -> String {
        self.owner_name
            .clone()
            .unwrap_or_else(|| "Wimdeck".to_owned())
    }

    /// Who the job's effects are recorded as in the audit log.
    pub(crate) fn author(&self) -> JobAuthor {
        JobAuthor {
            user_id: self.owner_user_id,
            username: self.owner_name(),
            job_id: self.job_id,
        }
    }

    /// 1 for the first attempt.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The job's parameters, as the kind's own type.
    pub fn params<T: DeserializeOwned>(&self) -> Result<T, JobError> {
        serde_json::from_value(self.params.clone())
            .map_err(|e| JobError::Failed(format!("invalid parameters: {e}")))
    }

    /// Shared with worker threads (`Arc`): report from wherever the work happens.
    pub fn progress(&self) -> &Arc<Progress> {
        &self.progress
    }

    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    pub fn info(&self, message: impl Into<String>) {
        self.write(LogLevel::Info, message.into());
    }

    pub fn warn(&self, message: impl Into<String>) {
        self.write(LogLevel::Warning, message.into());
    }

    pub fn error(&self, message: impl Into<String>) {
        self.write(LogLevel::Error, message.into());
    }

    fn write(&self, level: LogLevel, message: String) {
        tracing::debug!(job = self.job_id, level = level.as_str(), "{message}");
        self.log.push(self.domain.now_ms(), level, message);
    }

    /// A token to poll from blocking threads; cancelled when the job should stop.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// `Err(Cancelled)` once the job should stop.
    pub fn check_cancelled(&self) -> Result<(), JobError> {
        if self.cancel.is_cancelled() {
            Err(JobError::Cancelled)
        } else {
            Ok(())
        }
    }
}
