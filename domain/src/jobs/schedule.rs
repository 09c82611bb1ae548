//! Schedules: run a job kind once at a time, every interval, or on a cron pattern (UTC).
//!
//! A due schedule creates its job with the idempotency key `schedule:<id>:<due time>`, so two
//! servers firing the same schedule, or a retry after a crash, create it once. The next run is
//! the first slot after *now*: runs missed while the server was down collapse into one.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use croner::Cron;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, sea_query::Expr,
};
use serde::{Deserialize, Serialize};

use super::{JobGrant, NewJob};
use crate::{
    Domain, Error, Result,
    audit::{AuditedTxn, Entry},
    authz::{ObjectType, Operation},
    db::entities::schedules,
};

/// When a schedule runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "spec", rename_all = "kebab-case")]
pub enum ScheduleSpec {
    /// Once, at this time (Unix ms).
    Once(i64),
    /// Every this many seconds, from the time it was created.
    Interval(u64),
    /// A five-field cron pattern, evaluated in UTC.
    Cron(String),
}

const MIN_INTERVAL_SECS: u64 = 60;

impl ScheduleSpec {
    /// Parses the form the console and CLI use: `once` + RFC 3339 time, `interval` + a duration
    /// such as `90m`, `6h`, `1d`, or `cron` + a pattern.
    pub fn parse(kind: &str, text: &str) -> Result<Self> {
        let text = text.trim();
        match kind {
            "once" => DateTime::parse_from_rfc3339(text)
                .map(|t| ScheduleSpec::Once(t.timestamp_millis()))
                .map_err(|e| {
                    Error::invalid(
                        "spec",
                        format!("'{text}' is not a time like 2026-12-01T03:00:00Z ({e})"),
                    )
                }),
            "interval" => {
                let secs = parse_duration(text)?;
                if secs < MIN_INTERVAL_SECS {
                    return Err(Error::invalid(
                        "spec",
                        "the interval must be at least one minute",
                    ));
                }
                Ok(ScheduleSpec::Interval(secs))
            }
            "cron" => {
                if text.split_whitespace().count() != 5 {
                    return Err(Error::invalid(
                        "spec",
                        "a cron pattern has five fields: minute hour day month weekday",
                    ));
                }
                Cron::from_str(text)
                    .map_err(|e| Error::invalid("spec", format!("'{text}': {e}")))?;
                Ok(ScheduleSpec::Cron(text.to_owned()))
            }
            other => Err(Error::invalid(
                "spec_kind",
                format!("'{other}' is not once, interval or cron"),
            )),
        }
    }

    /// (`once`|`interval`|`cron`, text) as stored.
    pub fn to_parts(&self) -> (&'static str, String) {
        match self {
            ScheduleSpec::Once(ms) => {
                ("once", utc(*ms).map(|t| t.to_rfc3339()).unwrap_or_default())
            }
            ScheduleSpec::Interval(secs) => ("interval", format_duration(*secs)),
            ScheduleSpec::Cron(p) => ("cron", p.clone()),
        }
    }

    /// The first run strictly after `after_ms`; intervals count from `anchor_ms`.
    pub fn next_after(&self, after_ms: i64, anchor_ms: i64) -> Option<i64> {
        match self {
            ScheduleSpec::Once(at) => (*at > after_ms).then_some(*at),
            ScheduleSpec::Interval(secs) => {
                let step = i64::try_from(*secs).ok()?.checked_mul(1000)?;
                // Slots are one, two, … intervals after the anchor (the creation time).
                let periods = if after_ms < anchor_ms {
                    1
                } else {
                    (after_ms - anchor_ms) / step + 1
                };
                Some(anchor_ms + periods * step)
            }
            ScheduleSpec::Cron(pattern) => {
                let cron = Cron::from_str(pattern).ok()?;
                let after = utc(after_ms)?;
                cron.find_next_occurrence(&after, false)
                    .ok()
                    .map(|t| t.timestamp_millis())
            }
        }
    }
}

fn utc(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

fn parse_duration(text: &str) -> Result<u64> {
    let bad = || {
        Error::invalid(
            "spec",
            format!("'{text}' is not a duration like 30m, 6h or 1d"),
        )
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let factor = match unit.trim() {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad()),
    };
    n.checked_mul(factor).ok_or_else(bad)
}

fn format_duration(secs: u64) -> String {
    for (unit, size) in [("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

/// Creates the jobs of every due schedule and moves each to its next run.
pub(crate) async fn fire_due(domain: &Domain) -> Result<usize> {
    let now = domain.now_ms();
    let due = schedules::Entity::find()
        .filter(schedules::Column::Enabled.eq(true))
        .filter(schedules::Column::NextRunAtMs.lte(now))
        .order_by_asc(schedules::Column::NextRunAtMs)
        .all(domain.db())
        .await?;
    let mut fired = 0;
    for schedule in due {
        let Some(due_at) = schedule.next_run_at_ms else {
            continue;
        };
        let spec = match ScheduleSpec::parse(&schedule.spec_kind, &schedule.spec) {
            Ok(spec) => spec,
            Err(e) => {
                tracing::error!(schedule = schedule.id, "stored schedule is invalid: {e}");
                continue;
            }
        };
        // The job, the schedule moving on and the audit entry commit together.
        let mut txn = AuditedTxn::begin(domain).await?;
        let mut firing = Firing {
            grant: JobGrant::new(Operation::Administer, ObjectType::Job, 0, &schedule.kind),
            owner_name: None,
        };
        let (job_id, refused) = match firing.queue(domain, &mut txn, &schedule, due_at).await? {
            Ok(id) => (Some(id), None),
            Err(why) => {
                tracing::error!(schedule = schedule.id, "scheduled job not started: {why}");
                (None, Some(why))
            }
        };
        let next = spec.next_after(now, schedule.created_at_ms);
        // Fenced on the due time: if another server moved the schedule on, leave it.
        let moved = schedules::Entity::update_many()
            .col_expr(schedules::Column::NextRunAtMs, Expr::value(next))
            .col_expr(schedules::Column::Enabled, Expr::value(next.is_some()))
            .col_expr(schedules::Column::LastRunAtMs, Expr::value(now))
            .col_expr(schedules::Column::LastJobId, Expr::value(job_id))
            .col_expr(schedules::Column::UpdatedAtMs, Expr::value(now))
            .filter(schedules::Column::Id.eq(schedule.id))
            .filter(schedules::Column::NextRunAtMs.eq(due_at))
            .exec(txn.conn())
            .await?;
        if moved.rows_affected != 1 {
            continue;
        }
        let owner = schedule.owner_user_id.map(|id| {
            let name = firing.owner_name.take();
            (id, name.unwrap_or_else(|| format!("user {id}")))
        });
        txn.record(&Entry::scheduled(
            owner.as_ref().map(|(id, name)| (*id, name.as_str())),
            &schedule.name,
            &firing.grant,
            job_id,
            refused,
        ))
        .await?;
        txn.commit().await?;
        if job_id.is_some() {
            fired += 1;
            tracing::info!(schedule = %schedule.name, job = ?job_id, "schedule fired");
        }
    }
    Ok(fired)
}

/// One schedule firing: what it was allowed on (for its audit entry), and its owner's name.
struct Firing {
    grant: JobGrant,
    owner_name: Option<String>,
}

impl Firing {
    /// Queues the schedule's job in `txn`, as its owner (with their rights as they are now,
    /// never more), or says why it queues nothing: its owner is gone, disabled or lost the
    /// right, its kind is unknown, or the job is refused (its object busy, its parameters no
    /// longer valid). Only a database failure is an error.
    async fn queue(
        &mut self,
        domain: &Domain,
        txn: &mut AuditedTxn,
        schedule: &schedules::Model,
        due_at: i64,
    ) -> Result<std::result::Result<i64, String>> {
        let params = serde_json::from_str(&schedule.params).unwrap_or(serde_json::Value::Null);
        let Ok(kind) = domain.job_kind(&schedule.kind) else {
            return Ok(Err(format!(
                "this version of Wimdeck has no job kind \"{}\"",
                schedule.kind
            )));
        };
        self.grant.object_name = kind.label().to_owned();
        let owner = match schedule.owner_user_id {
            None => None,
            Some(user_id) => {
                let Ok(actor) = domain.accounts().enabled_actor(user_id).await else {
                    self.owner_name = domain
                        .accounts()
                        .actor(user_id)
                        .await
                        .ok()
                        .map(|a| a.username);
                    return Ok(Err("its owner is gone or disabled".into()));
                };
                self.owner_name = Some(actor.username.clone());
                match kind.authorize(domain, &actor, &params).await {
                    Ok(grant) => self.grant = grant,
                    Err(e) => return Ok(Err(format!("its owner may not start it ({e})"))),
                }
                Some(actor)
            }
        };
        let job = NewJob::new(&schedule.kind, params)
            .idempotency_key(format!("schedule:{}:{due_at}", schedule.id))
            .schedule(schedule.id);
        match txn.enqueue(owner.as_ref(), job).await {
            Ok(id) => Ok(Ok(id)),
            // Refusals change nothing in the transaction; anything else may have aborted it.
            Err(
                e @ (Error::Conflict(_)
                | Error::InvalidInput { .. }
                | Error::NotFound(_)
                | Error::Forbidden(_)),
            ) => Ok(Err(format!("the job could not be queued: {e}"))),
            Err(e) => Err(e),
        }
    }
}

/// A schedule as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub params: serde_json::Value,
    pub spec: ScheduleSpec,
    pub enabled: bool,
    pub next_run_at_ms: Option<i64>,
    pub last_run_at_ms: Option<i64>,
    pub last_job_id: Option<i64>,
}

impl Schedule {
    pub(crate) fn from_model(m: schedules::Model) -> Result<Self> {
        Ok(Self {
            spec: ScheduleSpec::parse(&m.spec_kind, &m.spec)?,
            params: serde_json::from_str(&m.params).unwrap_or(serde_json::Value::Null),
            id: m.id,
            name: m.name,
            kind: m.kind,
            enabled: m.enabled,
            next_run_at_ms: m.next_run_at_ms,
            last_run_at_ms: m.last_run_at_ms,
            last_job_id: m.last_job_id,
        })
    }
}

/// What a new schedule needs.
#[derive(Debug, Clone)]
pub struct NewSchedule {
    pub name: String,
    pub kind: String,
    pub params: serde_json::Value,
    pub spec: ScheduleSpec,
}

pub(crate) async fn insert<C: sea_orm::ConnectionTrait>(
    domain: &Domain,
    db: &C,
    owner: Option<i64>,
    new: NewSchedule,
) -> Result<i64> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 128 {
        return Err(Error::invalid(
            "name",
            "a schedule needs a name of 1 to 128 characters",
        ));
    }
    let kind = domain.job_kind(&new.kind)?;
    let params = kind.validate(new.params, domain.config())?;
    let now = domain.now_ms();
    let next = new.spec.next_after(now - 1, now);
    if next.is_none() {
        return Err(Error::invalid("spec", "that time has passed"));
    }
    let (spec_kind, spec) = new.spec.to_parts();
    let model = schedules::ActiveModel {
        name: Set(name.to_owned()),
        kind: Set(new.kind),
        params: Set(params.to_string()),
        spec_kind: Set(spec_kind.to_owned()),
        spec: Set(spec),
        enabled: Set(true),
        next_run_at_ms: Set(next),
        last_run_at_ms: Set(None),
        last_job_id: Set(None),
        owner_user_id: Set(owner),
        created_at_ms: Set(now),
        updated_at_ms: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(model.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000; // 2027-01-15T08:00:00Z

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            ScheduleSpec::parse("interval", "6h").expect("6h"),
            ScheduleSpec::Interval(21_600)
        );
        assert_eq!(
            ScheduleSpec::parse("interval", "90m").expect("90m"),
            ScheduleSpec::Interval(5_400)
        );
        assert!(ScheduleSpec::parse("interval", "10s").is_err(), "too short");
        assert!(ScheduleSpec::parse("interval", "soon").is_err());
        assert!(matches!(
            ScheduleSpec::parse("once", "2027-01-15T09:00:00Z"),
            Ok(ScheduleSpec::Once(_))
        ));
        assert!(ScheduleSpec::parse("once", "tomorrow").is_err());
        assert!(ScheduleSpec::parse("cron", "0 3 * * *").is_ok());
        assert!(ScheduleSpec::parse("cron", "0 3 * *").is_err());
        assert!(ScheduleSpec::parse("cron", "61 3 * * *").is_err());
        assert!(ScheduleSpec::parse("weekly", "x").is_err());
        for spec in [
            ScheduleSpec::Interval(5_400),
            ScheduleSpec::Cron("*/5 * * * *".into()),
            ScheduleSpec::Once(T0),
        ] {
            let (kind, text) = spec.to_parts();
            assert_eq!(ScheduleSpec::parse(kind, &text).expect("round trip"), spec);
        }
    }

    #[test]
    fn next_runs() {
        let hour = ScheduleSpec::Interval(3600);
        assert_eq!(hour.next_after(T0, T0), Some(T0 + 3_600_000));
        // Missed slots collapse: after a long outage the next run is the first slot after now.
        assert_eq!(
            hour.next_after(T0 + 10 * 3_600_000 + 5, T0),
            Some(T0 + 11 * 3_600_000)
        );
        let once = ScheduleSpec::Once(T0 + 1000);
        assert_eq!(once.next_after(T0, T0), Some(T0 + 1000));
        assert_eq!(once.next_after(T0 + 1000, T0), None);
        let nightly = ScheduleSpec::parse("cron", "0 3 * * *").expect("cron");
        let next = nightly.next_after(T0, T0).expect("next");
        assert_eq!(
            utc(next).expect("time").to_rfc3339(),
            "2027-01-16T03:00:00+00:00"
        );
    }
}
