//! Deletes finished jobs (and their logs) older than the retention period.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    Config, Error, Result,
    jobs::{BoxFuture, Completion, JobContext, JobError, JobKind, ProgressUnit},
};

pub struct PruneJobs;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// Jobs that ended more than this many days ago go; default: `jobs.retention_days`.
    older_than_days: Option<u32>,
}

impl JobKind for PruneJobs {
    fn name(&self) -> &'static str {
        "prune-jobs"
    }

    fn label(&self) -> &'static str {
        "Prune finished jobs"
    }

    fn retry_safe(&self) -> bool {
        true
    }

    fn validate(&self, params: Value, config: &Config) -> Result<Value> {
        let params: Params =
            serde_json::from_value(params).map_err(|e| Error::invalid("params", e.to_string()))?;
        let days = params.older_than_days.unwrap_or(config.jobs.retention_days);
        if !(1..=3650).contains(&days) {
            return Err(Error::invalid(
                "older_than_days",
                "must be between 1 and 3650",
            ));
        }
        Ok(json!({ "older_than_days": days }))
    }

    fn describe(&self, params: &Value) -> String {
        match params.get("older_than_days").and_then(Value::as_u64) {
            Some(days) => format!("ended more than {days} days ago"),
            None => String::new(),
        }
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, Result<Completion, JobError>> {
        Box::pin(async move {
            let params: Params = ctx.params()?;
            let days = params
                .older_than_days
                .unwrap_or(ctx.domain().config().jobs.retention_days);
            let before = ctx.domain().now_ms() - i64::from(days) * 86_400_000;
            let jobs = ctx.domain().jobs();
            let total = jobs.count_prunable(before).await?;
            ctx.info(format!(
                "{total} finished jobs ended more than {days} days ago"
            ));
            ctx.progress().set_phase("Deleting");
            ctx.progress().start(Some(total), ProgressUnit::Items);
            let progress = ctx.progress().clone();
            let deleted = jobs
                .prune_finished(before, &ctx.author(), |n| progress.advance(n))
                .await?;
            ctx.info(format!("Deleted {deleted} jobs and their logs"));
            Ok(Completion::new(
                json!({ "deleted": deleted, "older_than_days": days }),
            ))
        })
    }
}
