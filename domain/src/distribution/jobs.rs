//! Jobs of the content library: a new version of an object's content, and the collection of
//! what no version needs.

use std::{collections::HashSet, sync::Arc};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    Config, Error, Result,
    authz::ObjectType,
    content::{ContentObject, VERSION_JOB},
    jobs::{BoxFuture, Completion, JobContext, JobError, JobKind},
};

/// Chunks younger than this are never collected (a version being written may rely on them).
pub const COLLECT_GRACE_MS: i64 = 3_600_000;

/// The job kinds of this area.
pub fn job_kinds() -> Vec<Arc<dyn JobKind>> {
    vec![Arc::new(VersionContent), Arc::new(CollectContent)]
}

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
            // The object may change again while its files are chunked: the files are then not
            // what was read, and the next look at the object starts over.
            let mut attempt = 0;
            let added = loop {
                attempt += 1;
                let files = match super::object_files(domain, object).await {
                    Ok(files) => files,
                    Err(Error::NotFound(what)) => {
                        ctx.info(format!("{what} is gone: no version to add"));
                        return Ok(Completion::new(json!({ "created": false, "gone": true })));
                    }
                    Err(e) => return Err(e.into()),
                };
                ctx.info(format!(
                    "Adding \"{}\" to the content library ({} files)",
                    files.name,
                    files.files.len()
                ));
                match domain
                    .content()
                    .add_version(
                        object,
                        &files.name,
                        files.files,
                        "The object changed",
                        &ctx.owner_name(),
                        ctx.progress().clone(),
                    )
                    .await
                {
                    Ok(added) => break added,
                    Err(Error::Conflict(why)) if attempt < 3 => {
                        ctx.warn(format!("{why}; reading the object again"));
                    }
                    Err(Error::Io(e))
                        if e.kind() == std::io::ErrorKind::NotFound && attempt < 3 =>
                    {
                        ctx.warn("the object's file was replaced while it was read; reading the object again");
                    }
                    Err(e) => return Err(e.into()),
                }
                ctx.check_cancelled()?;
            };
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
            let keep = HashSet::new();
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
