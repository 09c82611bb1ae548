//! Importing a driver package: a job that unpacks the package into a staging folder, reads
//! each INF, copies each new driver into the driver store, and — in the transaction that ends
//! the job — records the package and its drivers. The result lists every INF: imported,
//! duplicate (the same files are in the catalog already) or rejected, with the reason.

use std::{collections::BTreeSet, path::Path};

use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    analyze::{self, FoundDriver, ReadDriver},
    catalog::{self, ActorDrivers, DriverAccess, DriverCatalog},
    package::{self, Limits, PackageFormat},
    signing::Signature,
};
use crate::{
    Actor, Config, Domain, Error, Result,
    authz::{ObjectType, Operation},
    catalog::{sources, uploads},
    db::entities::{driver_packages, drivers},
    jobs::{BoxFuture, Completion, JobContext, JobError, JobKind, NewJob, ProgressUnit},
};

pub const IMPORT_DRIVERS: &str = "driver-import";

/// What the Import Driver wizard (or a script) asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriverImportRequest {
    /// A folder, `.zip` or `.cab` under the source roots (a local or share path), or an
    /// upload's path.
    pub source: String,
    /// The package's name in the catalog (default: the source's file name).
    #[serde(default)]
    pub name: Option<String>,
    /// Categories given to every driver of the package.
    #[serde(default)]
    pub categories: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ImportParams {
    source: String,
    name: String,
    categories: BTreeSet<String>,
}

/// What happened to one INF of the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriverOutcome {
    pub inf: String,
    /// `imported`, `duplicate` or `rejected`.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

pub(crate) async fn queue(
    domain: &Domain,
    actor: &Actor,
    request: DriverImportRequest,
) -> Result<i64> {
    let resolved = sources::resolve_entry_for(domain, Some(actor.user_id), &request.source).await?;
    let format =
        PackageFormat::detect(&resolved).map_err(|e| Error::invalid("source", e.to_string()))?;
    let default_name = resolved
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "Drivers".into());
    let name = request
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(&default_name);
    if name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            "a package name has 1–128 characters",
        ));
    }
    let categories = request
        .categories
        .iter()
        .filter(|c| !c.trim().is_empty())
        .map(|c| catalog::validate_category(c))
        .collect::<Result<BTreeSet<_>>>()?;
    let params = ImportParams {
        source: request.source.trim().to_owned(),
        name: name.to_owned(),
        categories,
    };
    tracing::debug!(
        "queueing a {format:?} driver package import of {}",
        resolved.display()
    );
    let new = NewJob::new(
        IMPORT_DRIVERS,
        serde_json::to_value(params).map_err(|e| Error::Internal(e.to_string()))?,
    );
    crate::jobs::ActorJobs::new(domain, actor)
        .queue_authorized(new, Vec::new())
        .await
}

pub struct ImportDrivers;

impl JobKind for ImportDrivers {
    fn name(&self) -> &'static str {
        IMPORT_DRIVERS
    }

    fn label(&self) -> &'static str {
        "Import drivers"
    }

    fn retry_safe(&self) -> bool {
        // An attempt starts from a fresh staging folder; the store is keyed by content.
        true
    }

    fn validate(&self, params: Value, _config: &Config) -> Result<Value> {
        let p: ImportParams =
            serde_json::from_value(params).map_err(|e| Error::invalid("params", e.to_string()))?;
        serde_json::to_value(p).map_err(|e| Error::Internal(e.to_string()))
    }

    fn describe(&self, params: &Value) -> String {
        params
            .get("name")
            .and_then(Value::as_str)
            .map(|n| format!("\"{n}\""))
            .unwrap_or_default()
    }

    fn subject(
        &self,
        _params: &Value,
        result: Option<&Value>,
    ) -> Option<(ObjectType, Option<i64>)> {
        let id = result
            .and_then(|r| r.get("package_id"))
            .and_then(Value::as_i64);
        Some((ObjectType::DriverPackage, id))
    }

    fn authorize<'a>(
        &'a self,
        _domain: &'a Domain,
        actor: &'a Actor,
        params: &'a Value,
    ) -> BoxFuture<'a, Result<crate::jobs::JobGrant>> {
        Box::pin(async move {
            actor.require(ObjectType::DriverPackage, Operation::Create)?;
            actor.require(ObjectType::Driver, Operation::Create)?;
            let source = params
                .get("source")
                .and_then(Value::as_str)
                .unwrap_or_default();
            Ok(crate::jobs::JobGrant::new(
                Operation::Create,
                ObjectType::DriverPackage,
                0,
                source,
            ))
        })
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, Result<Completion, JobError>> {
        Box::pin(async move {
            let p: ImportParams = ctx.params()?;
            let domain = ctx.domain().clone();
            let resolved =
                sources::resolve_entry_for(&domain, ctx.owner_user_id(), &p.source).await?;
            let staging = catalog::staging_root(&domain).join(ctx.job_id().to_string());
            catalog::remove_store_dir(&staging)?;

            ctx.info(format!("Unpacking {}", resolved.display()));
            ctx.progress().set_phase("Unpacking");
            let (from, to) = (resolved.clone(), staging.clone());
            let unpacked = tokio::task::spawn_blocking(move || {
                package::unpack(&from, &to, &Limits::default())
            })
            .await
            .map_err(|e| JobError::Failed(format!("unpacking stopped unexpectedly: {e}")))?
            .map_err(|e| JobError::Failed(format!("{}: {e}", resolved.display())))?;
            ctx.info(format!(
                "{} files, {} bytes ({:?})",
                unpacked.files, unpacked.bytes, unpacked.format
            ));
            let cleanup = staging.clone();
            let result = self
                .read_and_store(ctx, &p, &resolved, &staging, unpacked.format)
                .await;
            match result {
                Ok(completion) => Ok(completion.after_commit(move || async move {
                    if let Err(e) = catalog::remove_store_dir(&cleanup) {
                        tracing::warn!("removing {} failed: {e}", cleanup.display());
                    }
                })),
                Err(e) => {
                    let _ = catalog::remove_store_dir(&cleanup);
                    Err(e)
                }
            }
        })
    }
}

impl ImportDrivers {
    async fn read_and_store(
        &self,
        ctx: &JobContext,
        p: &ImportParams,
        resolved: &Path,
        staging: &Path,
        format: PackageFormat,
    ) -> Result<Completion, JobError> {
        let domain = ctx.domain().clone();
        ctx.progress().set_phase("Reading drivers");
        let root = staging.to_path_buf();
        let found = tokio::task::spawn_blocking(move || analyze::read_package(&root))
            .await
            .map_err(|e| JobError::Failed(format!("reading stopped unexpectedly: {e}")))??;
        if found.is_empty() {
            return Err(JobError::Failed(format!(
                "{} holds no INF file; a driver package has one INF per driver",
                resolved.display()
            )));
        }
        ctx.progress()
            .start(Some(found.len() as u64), ProgressUnit::Items);
        ctx.progress().set_phase("Copying drivers into the store");
        let drivers = DriverCatalog::new(&domain);
        let mut outcomes = Vec::new();
        let mut new = Vec::new();
        // Duplicates the importer may change (they get the import's categories); `known`
        // counts every duplicate.
        let mut duplicates = Vec::new();
        let mut known = 0;
        // An owner disabled since the job was queued reaches nothing more than anyone else.
        let owner = match ctx.owner_user_id() {
            Some(id) => Some(domain.accounts().enabled_actor(id).await.ok()),
            None => None,
        };
        let mut created_dirs = Vec::new();
        for FoundDriver { inf_path, outcome } in found {
            ctx.check_cancelled()?;
            match outcome {
                Err(reason) => {
                    ctx.warn(format!("{inf_path}: rejected: {reason}"));
                    outcomes.push(DriverOutcome {
                        inf: inf_path,
                        outcome: "rejected".into(),
                        name: None,
                        driver_id: None,
                        reason: Some(reason),
                    });
                }
                Ok(driver) => {
                    if let Some(id) = drivers
                        .find_by_hash(domain.db(), &driver.content_hash)
                        .await?
                    {
                        // The importer's categories go only to drivers they may change, and
                        // a driver they may not read is not named.
                        let access = match &owner {
                            Some(Some(actor)) => {
                                ActorDrivers::new(&domain, actor).access(id).await?
                            }
                            Some(None) => DriverAccess::None,
                            None => DriverAccess::Modify,
                        };
                        if access == DriverAccess::Modify {
                            duplicates.push(id);
                        }
                        let seen = access != DriverAccess::None;
                        ctx.info(if seen {
                            format!("{inf_path}: already in the catalog (driver {id})")
                        } else {
                            format!("{inf_path}: already in the catalog, in a scope you cannot see")
                        });
                        outcomes.push(DriverOutcome {
                            inf: inf_path,
                            outcome: "duplicate".into(),
                            name: Some(driver.name.clone()),
                            driver_id: seen.then_some(id),
                            reason: (!seen).then(|| {
                                "the same driver is in the catalog already, in a security scope you cannot see".into()
                            }),
                        });
                        known += 1;
                    } else if new
                        .iter()
                        .any(|(_, d): &(usize, ReadDriver)| d.content_hash == driver.content_hash)
                    {
                        outcomes.push(DriverOutcome {
                            inf: inf_path,
                            outcome: "duplicate".into(),
                            name: Some(driver.name.clone()),
                            driver_id: None,
                            reason: Some("the package holds the same driver twice".into()),
                        });
                    } else {
                        let dir = catalog::store_root(&domain).join(&driver.content_hash);
                        let files = driver.files.clone();
                        let target = dir.clone();
                        let created =
                            tokio::task::spawn_blocking(move || copy_into_store(&files, &target))
                                .await
                                .map_err(|e| {
                                    JobError::Failed(format!("copying stopped unexpectedly: {e}"))
                                })??;
                        if created {
                            created_dirs.push(dir);
                        }
                        ctx.info(format!(
                            "{inf_path}: {} {} ({}, {})",
                            driver.name,
                            driver.inf.version.as_deref().unwrap_or(""),
                            driver.inf.class,
                            match &driver.signature {
                                Signature::Signed { signer, .. } => format!("signed by {signer}"),
                                Signature::Unsigned { reason } => format!("unsigned: {reason}"),
                            }
                        ));
                        new.push((outcomes.len(), driver));
                        outcomes.push(DriverOutcome {
                            inf: inf_path,
                            outcome: "imported".into(),
                            name: None,
                            driver_id: None,
                            reason: None,
                        });
                    }
                }
            }
            ctx.progress().advance(1);
        }
        let imported = new.len();
        let duplicate_count = outcomes.iter().filter(|o| o.outcome == "duplicate").count();
        let rejected = outcomes.iter().filter(|o| o.outcome == "rejected").count();
        ctx.info(format!(
            "{imported} imported, {duplicate_count} duplicate(s), {rejected} rejected"
        ));
        if imported + known == 0 {
            return Err(JobError::Failed(format!(
                "none of the {} INF file(s) could be imported: {}",
                outcomes.len(),
                outcomes
                    .iter()
                    .filter_map(|o| o.reason.as_ref().map(|r| format!("{}: {r}", o.inf)))
                    .collect::<Vec<_>>()
                    .join("; ")
            )));
        }

        let sha256 = match format {
            PackageFormat::Folder => String::new(),
            _ => {
                let path = resolved.to_path_buf();
                tokio::task::spawn_blocking(move || crate::fsx::sha256_file(&path))
                    .await
                    .map_err(|e| JobError::Failed(e.to_string()))??
            }
        };
        let upload = uploads::find_complete(domain.db(), resolved).await?;
        let job_id = ctx.job_id();
        let owner = ctx.owner_name();
        let creator = ctx.owner_user_id();
        let author = ctx.author();
        let params = p.clone();
        let effect_domain = domain.clone();
        let used_upload = upload
            .as_ref()
            .map(|u| (u.id.clone(), resolved.to_path_buf()));
        let source_text = match &upload {
            Some(u) => format!("upload:{}", u.file_name),
            None => p.source.clone(),
        };
        let effect: crate::jobs::Effect = Box::new(move |txn| {
            Box::pin(async move {
                let now = effect_domain.now_ms();
                let package = driver_packages::ActiveModel {
                    name: Set(params.name.clone()),
                    source: Set(source_text),
                    format: Set(format_name(format).into()),
                    sha256: Set(sha256),
                    driver_count: Set(i32::try_from(imported + known).unwrap_or(i32::MAX)),
                    rejected_count: Set(i32::try_from(rejected).unwrap_or(i32::MAX)),
                    job_id: Set(Some(job_id)),
                    imported_by: Set(owner.clone()),
                    imported_at_ms: Set(now),
                    ..Default::default()
                }
                .insert(txn.conn())
                .await?;
                let conn = txn.conn();
                let object = crate::authz::ObjectType::DriverPackage;
                let scopes = crate::authz::scopes::for_new_object(conn, object, creator).await?;
                crate::authz::scopes::set(conn, object, package.id, &scopes).await?;
                let mut ids = duplicates.clone();
                for (at, driver) in &new {
                    let id = insert_driver(conn, &effect_domain, package.id, driver, &owner, now)
                        .await?;
                    outcomes[*at].driver_id = Some(id);
                    outcomes[*at].name = Some(driver.name.clone());
                    ids.push(id);
                }
                catalog::add_categories(conn, &ids, &params.categories).await?;
                if let Some((id, file)) = used_upload {
                    uploads::consume(conn, &id).await?;
                    // Its files are in the driver store now: the upload goes with the commit
                    // (or with the sweep, should the server stop first).
                    txn.release(&[file]).await?;
                }
                txn.record(&author.entry(
                    Operation::Create,
                    ObjectType::DriverPackage,
                    (package.id, &package.name),
                    &[(
                        "drivers",
                        Value::Null,
                        json!({"imported": imported, "duplicates": known, "rejected": rejected}),
                    )],
                ))
                .await?;
                let result = json!({
                    "package_id": package.id,
                    "imported": imported,
                    "duplicates": known,
                    "rejected": rejected,
                    "drivers": outcomes,
                    "url": format!("/drivers?package={}", package.id),
                });
                crate::jobs::set_result(txn.conn(), job_id, result).await
            })
        });
        let abort_domain = domain.clone();
        let completion =
            Completion::new(json!({}))
                .with_effect(effect)
                .on_abort(move || async move {
                    // Folders this attempt created belong to no driver now (unless another import of
                    // the same driver committed meanwhile, which the sweep's rule also respects).
                    for dir in created_dirs {
                        let hash = dir
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        let taken = DriverCatalog::new(&abort_domain)
                            .find_by_hash(abort_domain.db(), &hash)
                            .await
                            .ok()
                            .flatten()
                            .is_some();
                        if !taken && let Err(e) = catalog::remove_store_dir(&dir) {
                            tracing::warn!("removing {} failed: {e}", dir.display());
                        }
                    }
                });
        Ok(completion)
    }
}

fn format_name(format: PackageFormat) -> &'static str {
    match format {
        PackageFormat::Folder => "folder",
        PackageFormat::Zip => "zip",
        PackageFormat::Cab => "cab",
    }
}

/// Copies a driver's files into its store folder: written under a temporary name, renamed
/// into place. Returns whether the folder is new (`false`: the same content was there).
fn copy_into_store(files: &[analyze::DriverFile], target: &Path) -> std::io::Result<bool> {
    if target.is_dir() {
        return Ok(false);
    }
    let parent = target.parent().unwrap_or(target);
    std::fs::create_dir_all(parent)?;
    let temp = parent.join(format!(
        ".tmp-{}-{}",
        target
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        rand::random::<u32>()
    ));
    let copied = (|| {
        for file in files {
            let to = temp.join(&file.relative);
            if let Some(dir) = to.parent() {
                std::fs::create_dir_all(dir)?;
            }
            crate::fsx::copy_synced(&file.on_disk, &to)?;
            if let Some(dir) = to.parent() {
                crate::fsx::sync_dir(dir)?;
            }
        }
        std::fs::rename(&temp, target)?;
        crate::fsx::sync_dir(parent)
    })();
    match copied {
        Ok(()) => Ok(true),
        Err(_) if target.is_dir() => {
            // Another import stored the same driver at the same moment.
            let _ = std::fs::remove_dir_all(&temp);
            Ok(false)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&temp);
            Err(e)
        }
    }
}

async fn insert_driver<C: ConnectionTrait>(
    db: &C,
    domain: &Domain,
    package_id: i64,
    driver: &ReadDriver,
    owner: &str,
    now: i64,
) -> Result<i64> {
    let inf = &driver.inf;
    let architectures = format!(
        ",{},",
        inf.architectures
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut search = vec![
        driver.name.clone(),
        inf.provider.clone(),
        driver.inf_name.clone(),
        inf.class.clone(),
    ];
    search.extend(driver.hardware_ids.iter().map(|h| h.id.clone()));
    let (signed, signer, detail) = match &driver.signature {
        Signature::Signed { signer, catalog } => {
            (true, Some(signer.clone()), Some(catalog.clone()))
        }
        Signature::Unsigned { reason } => (false, None, Some(reason.clone())),
    };
    let files: Vec<&str> = driver.files.iter().map(|f| f.relative.as_str()).collect();
    let model = drivers::ActiveModel {
        content_hash: Set(driver.content_hash.clone()),
        package_id: Set(package_id),
        name: Set(truncate(&driver.name, 256)),
        inf_name: Set(truncate(&driver.inf_name, 128)),
        class: Set(truncate(&inf.class, 64)),
        class_guid: Set(inf.class_guid.clone()),
        provider: Set(truncate(&inf.provider, 256)),
        version: Set(truncate(inf.version.as_deref().unwrap_or(""), 64)),
        driver_date: Set(inf.date.clone()),
        architectures: Set(architectures),
        hardware_ids: Set(to_json(&driver.hardware_ids)?),
        files: Set(to_json(&files)?),
        size_bytes: Set(i64::try_from(driver.bytes).unwrap_or(i64::MAX)),
        store_path: Set(catalog::store_root(domain)
            .join(&driver.content_hash)
            .display()
            .to_string()),
        signed: Set(signed),
        signer: Set(signer.map(|s| truncate(&s, 256))),
        signature_detail: Set(detail),
        enabled: Set(true),
        search_text: Set(search.join("\n").to_lowercase()),
        row_version: Set(1),
        created_by: Set(owner.to_owned()),
        created_at_ms: Set(now),
        updated_at_ms: Set(now),
        ..Default::default()
    };
    Ok(model.insert(db).await?.id)
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(e.to_string()))
}
