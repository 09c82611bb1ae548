//! Jobs of the content library: a new version of an object's content, and the collection of
//! what no version needs.

use std::{collections::HashSet, sync::Arc};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::{
    actions::{self, Targets},
    assign,
    protocol::WorkAction,
};
use crate::{
    Actor, Config, Domain, Error, Result,
    authz::{ObjectType, Operation},
    content::{ContentObject, VERSION_JOB},
    db::entities::distribution_assignments,
    jobs::{BoxFuture, Completion, JobContext, JobError, JobGrant, JobKind},
};

/// Chunks younger than this are never collected (a version being written may rely on them).
pub const COLLECT_GRACE_MS: i64 = 3_600_000;

/// The job kinds of this area.
pub fn job_kinds() -> Vec<Arc<dyn JobKind>> {
    vec![
        Arc::new(VersionContent),
        Arc::new(CollectContent),
        Arc::new(DistributeContent),
        Arc::new(RetireContent),
        Arc::new(super::prestage::PrestageKind),
    ]
}

/// The job kind that sends content to DPs.
pub const DISTRIBUTE_JOB: &str = "distribute-content";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionParams {
    object_type: ObjectType,
    object_id: i64,
}

/// Makes a new version of an object's content from its files as they are now.
pub struct VersionContent;

impl JobKind for VersionContent {
    fn name(&self) -> &'static str {
        VERSION_JOB
    }

    fn label(&self) -> &'static str {
        "Add content version"
    }

    fn retry_safe(&self) -> bool {
        true
    }

    fn validate(&self, params: Value, _config: &Config) -> Result<Value> {
        let params: VersionParams =
            serde_json::from_value(params).map_err(|e| Error::invalid("params", e.to_string()))?;
        if !matches!(
            params.object_type,
            ObjectType::BootImage | ObjectType::OsImage | ObjectType::DriverPackage
        ) {
            return Err(Error::invalid(
                "object_type",
                "must be a boot image, an OS image or a driver package",
            ));
        }
        serde_json::to_value(&params).map_err(|e| Error::Internal(e.to_string()))
    }

    fn describe(&self, params: &Value) -> String {
        match serde_json::from_value::<VersionParams>(params.clone()) {
            Ok(p) => format!("{} {}", p.object_type.label(), p.object_id),
            Err(_) => String::new(),
        }
    }

    fn subject(
        &self,
        params: &Value,
        _result: Option<&Value>,
    ) -> Option<(ObjectType, Option<i64>)> {
        let p: VersionParams = serde_json::from_value(params.clone()).ok()?;
        Some((p.object_type, Some(p.object_id)))
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, Result<Completion, JobError>> {
        Box::pin(async move {
            let p: VersionParams = ctx.params()?;
            let object = ContentObject::new(p.object_type, p.object_id);
            let domain = ctx.domain();
            let Some((name, added)) = super::version_current(
                domain,
                object,
                "The object changed",
                &ctx.owner_name(),
                ctx.progress().clone(),
                |line| ctx.warn(line),
            )
            .await?
            else {
                ctx.info("The object is gone: no version to add");
                return Ok(Completion::new(json!({ "created": false, "gone": true })));
            };
            ctx.info(format!("\"{name}\" is in the content library"));
            let v = &added.version;
            if added.created {
                ctx.info(format!(
                    "Version {}: {} files, {} bytes, {} of them new to the library",
                    v.number, v.file_count, v.total_bytes, v.new_bytes
                ));
            } else {
                ctx.info(format!("Version {} already holds this content", v.number));
            }
            Ok(Completion::new(json!({
                "created": added.created,
                "version": v.number,
                "total_bytes": v.total_bytes,
                "new_bytes": v.new_bytes,
            })))
        })
    }
}

/// Removes old versions no DP needs, and chunks and files nothing uses.
pub struct CollectContent;

impl JobKind for CollectContent {
    fn name(&self) -> &'static str {
        "content-collect"
    }

    fn label(&self) -> &'static str {
        "Clean up the content library"
    }

    fn retry_safe(&self) -> bool {
        true
    }

    fn validate(&self, params: Value, _config: &Config) -> Result<Value> {
        match params {
            Value::Object(map) if map.is_empty() => Ok(json!({})),
            Value::Null => Ok(json!({})),
            _ => Err(Error::invalid("params", "takes none")),
        }
    }

    fn describe(&self, _params: &Value) -> String {
        String::new()
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, Result<Completion, JobError>> {
        Box::pin(async move {
            // Content of deleted objects that no DP holds any more goes first.
            let domain = ctx.domain();
            let holders = holders_by_content(domain).await?;
            for content in domain.content().list().await? {
                if holders.contains(&content.id) {
                    continue;
                }
                if let Err(Error::NotFound(_)) = super::object_files(domain, content.object).await {
                    ctx.info(format!(
                        "\"{}\" was deleted and is on no DP: its content goes",
                        content.name
                    ));
                    domain.content().forget(content.id).await?;
                }
            }
            let keep = versions_in_use(ctx.domain()).await?;
            let report = ctx
                .domain()
                .content()
                .collect(&keep, COLLECT_GRACE_MS)
                .await?;
            ctx.info(format!(
                "Removed {} old versions, {} chunks ({} bytes) and {} stray files",
                report.versions, report.chunks, report.bytes, report.stray_files
            ));
            Ok(Completion::new(report))
        })
    }
}

/// Contents some DP holds or is being sent.
async fn holders_by_content(domain: &Domain) -> Result<HashSet<i64>> {
    Ok(distribution_assignments::Entity::find()
        .select_only()
        .column(distribution_assignments::Column::ContentId)
        .into_tuple::<i64>()
        .all(domain.db())
        .await?
        .into_iter()
        .collect())
}

/// Takes a deleted object's content off every DP (queued when the object is deleted).
pub struct RetireContent;

impl JobKind for RetireContent {
    fn name(&self) -> &'static str {
        crate::content::RETIRE_JOB
    }

    fn label(&self) -> &'static str {
        "Remove deleted content from distribution points"
    }

    fn retry_safe(&self) -> bool {
        true
    }

    fn validate(&self, params: Value, config: &Config) -> Result<Value> {
        VersionContent.validate(params, config)
    }

    fn describe(&self, params: &Value) -> String {
        VersionContent.describe(params)
    }

    fn subject(&self, params: &Value, result: Option<&Value>) -> Option<(ObjectType, Option<i64>)> {
        VersionContent.subject(params, result)
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, Result<Completion, JobError>> {
        Box::pin(async move {
            let p: VersionParams = ctx.params()?;
            let domain = ctx.domain();
            let object = ContentObject::new(p.object_type, p.object_id);
            let Some(content) = domain.content().content_of(object).await? else {
                return Ok(Completion::new(json!({ "dps": 0 })));
            };
            let txn = crate::db::begin_write(domain.db()).await?;
            let dps = assign::holders(&txn, content.id).await?;
            let now = domain.now_ms();
            for dp in &dps {
                assign::request_in(&txn, content.id, *dp, None, WorkAction::Remove, now).await?;
            }
            crate::db::entities::dp_group_contents::Entity::delete_many()
                .filter(crate::db::entities::dp_group_contents::Column::ContentId.eq(content.id))
                .exec(&txn)
                .await
                .map_err(Error::from)?;
            txn.commit().await.map_err(Error::from)?;
            for dp in &dps {
                assign::wake_dp(domain, *dp);
            }
            ctx.info(format!(
                "\"{}\" was deleted: removing it from {} distribution points",
                content.name,
                dps.len()
            ));
            Ok(Completion::new(json!({ "dps": dps.len() })))
        })
    }
}

/// Versions DPs hold or are to hold: never collected.
async fn versions_in_use(domain: &Domain) -> Result<HashSet<i64>> {
    let rows: Vec<(Option<i64>, Option<i64>)> = distribution_assignments::Entity::find()
        .select_only()
        .column(distribution_assignments::Column::TargetVersionId)
        .column(distribution_assignments::Column::InstalledVersionId)
        .into_tuple()
        .all(domain.db())
        .await?;
    Ok(rows
        .into_iter()
        .flat_map(|(a, b)| [a, b])
        .flatten()
        .collect())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistributeParams {
    pub object_type: ObjectType,
    pub object_id: i64,
    #[serde(default)]
    pub dps: Vec<i64>,
    #[serde(default)]
    pub groups: Vec<i64>,
    /// "Update distribution points" (to the DPs that have it, listed in `dps`).
    #[serde(default)]
    pub update: bool,
}

/// Sends the newest version of an object's content (made now if the object changed) to DPs.
pub struct DistributeContent;

impl JobKind for DistributeContent {
    fn name(&self) -> &'static str {
        DISTRIBUTE_JOB
    }

    fn label(&self) -> &'static str {
        "Distribute content"
    }

    fn retry_safe(&self) -> bool {
        true
    }

    fn validate(&self, params: Value, _config: &Config) -> Result<Value> {
        let mut p: DistributeParams =
            serde_json::from_value(params).map_err(|e| Error::invalid("params", e.to_string()))?;
        assign::refuse_non_content(ContentObject::new(p.object_type, p.object_id))?;
        p.dps.sort_unstable();
        p.dps.dedup();
        p.groups.sort_unstable();
        p.groups.dedup();
        if p.dps.len() + p.groups.len() > 10_000 {
            return Err(Error::invalid("targets", "at most 10,000 at once"));
        }
        if p.dps.is_empty() && p.groups.is_empty() {
            return Err(Error::invalid(
                "targets",
                "choose at least one distribution point or group",
            ));
        }
        serde_json::to_value(&p).map_err(|e| Error::Internal(e.to_string()))
    }

    fn describe(&self, params: &Value) -> String {
        match serde_json::from_value::<DistributeParams>(params.clone()) {
            Ok(p) if p.update => {
                format!("{} {}: update every DP", p.object_type.label(), p.object_id)
            }
            Ok(p) => format!(
                "{} {} to {} DPs and {} groups",
                p.object_type.label(),
                p.object_id,
                p.dps.len(),
                p.groups.len()
            ),
            Err(_) => String::new(),
        }
    }

    fn subject(
        &self,
        params: &Value,
        _result: Option<&Value>,
    ) -> Option<(ObjectType, Option<i64>)> {
        let p: DistributeParams = serde_json::from_value(params.clone()).ok()?;
        Some((p.object_type, Some(p.object_id)))
    }

    /// Distribute on the content, and on every DP it goes to (checked again on each retry).
    fn authorize<'a>(
        &'a self,
        domain: &'a Domain,
        actor: &'a Actor,
        params: &'a Value,
    ) -> BoxFuture<'a, Result<JobGrant>> {
        Box::pin(async move {
            let p: DistributeParams = serde_json::from_value(params.clone())
                .map_err(|e| Error::invalid("params", e.to_string()))?;
            let object = ContentObject::new(p.object_type, p.object_id);
            let name = actions::check_object(domain, actor, object, Operation::Distribute).await?;
            actions::check_targets(
                domain,
                actor,
                &Targets {
                    dps: p.dps.clone(),
                    groups: p.groups.clone(),
                },
            )
            .await?;
            Ok(JobGrant::new(
                Operation::Distribute,
                p.object_type,
                p.object_id,
                name,
            ))
        })
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, Result<Completion, JobError>> {
        Box::pin(async move {
            let p: DistributeParams = ctx.params()?;
            let domain = ctx.domain().clone();
            let object = ContentObject::new(p.object_type, p.object_id);
            let reason = if p.update {
                "Update distribution points"
            } else {
                "Distribute content"
            };
            let Some((name, added)) = super::version_current(
                &domain,
                object,
                reason,
                &ctx.owner_name(),
                ctx.progress().clone(),
                |line| ctx.warn(line),
            )
            .await?
            else {
                return Err(JobError::Failed(format!(
                    "{} {} is gone: there is nothing to distribute",
                    p.object_type.label(),
                    p.object_id
                )));
            };
            let version = added.version.clone();
            ctx.info(format!(
                "Version {} ({} bytes{})",
                version.number,
                version.total_bytes,
                if added.created {
                    format!(", {} new to the library", version.new_bytes)
                } else {
                    String::new()
                }
            ));
            let woken = Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
            let reached = woken.clone();
            let author = ctx.author();
            let effect_domain = domain.clone();
            Ok(Completion::new(serde_json::json!({
                "version": version.number,
                "total_bytes": version.total_bytes,
            }))
            .with_effect(Box::new(move |txn| {
                Box::pin(async move {
                    let now = effect_domain.now_ms();
                    let content_id = assign::content_id_in(txn.conn(), object, &name, now).await?;
                    let mut dps: std::collections::BTreeSet<i64> = p.dps.iter().copied().collect();
                    dps.extend(assign::group_members(txn.conn(), &p.groups).await?);
                    for group in &p.groups {
                        assign::remember_group_content(txn.conn(), *group, content_id).await?;
                    }
                    for dp in &dps {
                        assign::request_in(
                            txn.conn(),
                            content_id,
                            *dp,
                            Some(&version),
                            WorkAction::Install,
                            now,
                        )
                        .await?;
                    }
                    txn.record(&author.entry(
                        Operation::Distribute,
                        object.object_type,
                        (object.object_id, &name),
                        &[("distribution points", Value::Null, serde_json::json!(dps))],
                    ))
                    .await?;
                    *reached.lock().unwrap_or_else(|e| e.into_inner()) = dps.into_iter().collect();
                    Ok(())
                })
            }))
            .after_commit(move || async move {
                for dp in woken.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                    assign::wake_dp(&domain, *dp);
                }
            }))
        })
    }
}
