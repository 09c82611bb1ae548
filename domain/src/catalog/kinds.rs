//! The catalog's jobs: importing an image, and servicing one (verify, optimize, extract an
//! index, split). Each writes its output under a temporary name, verifies it, links it into
//! place, and only then — in the transaction that ends the job — adds or changes the row.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Catalog, CatalogImage, ImageKind, ImageState, NewImage, sources, store};
use crate::{
    Actor, Config, Domain, Error, Result,
    audit::{AuditedTxn, JobAuthor},
    authz::Operation,
    jobs::{BoxFuture, Completion, JobContext, JobError, JobGrant, JobKind, JobTarget, NewJob},
    wim::{Compression, Monitor, WimBackend, WimError, WimInspection, WinPeSupport},
};

pub const IMPORT: &str = "image-import";
pub const VERIFY: &str = "image-verify";
pub const OPTIMIZE: &str = "image-optimize";
pub const EXTRACT: &str = "image-extract";
pub const SPLIT: &str = "image-split";

/// Every catalog job kind, for registration.
pub fn all() -> Vec<Arc<dyn JobKind>> {
    vec![
        Arc::new(ImportImage),
        Arc::new(VerifyImage),
        Arc::new(OptimizeImage),
        Arc::new(ExtractIndex),
        Arc::new(SplitImage),
    ]
}

/// What the Add wizard (or `wimdeck image import`) asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    pub kind: ImageKind,
    /// A local path or `\\server\share\…` under the image source roots.
    pub source: String,
    /// Boot images: the index to use (default: the WIM's boot index, else 1). OS images: an
    /// index to extract into a new one-image WIM next to the source (default: import all).
    #[serde(default)]
    pub index: Option<u32>,
    /// Default: the name of the image in the WIM.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub comment: String,
    /// OS images: overrides of what the metadata says.
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
}

/// The import job's stored parameters: the request, normalised, with the resolved path.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportParams {
    kind: ImageKind,
    source: String,
    resolved: PathBuf,
    index: Option<u32>,
    name: String,
    version: String,
    comment: String,
    architecture: Option<String>,
    language: Option<String>,
}

/// A WIM as an import may use it, or the specific reason it may not.
pub(crate) fn check_source(
    request_kind: ImageKind,
    path: &Path,
    inspection: &WimInspection,
    index: Option<u32>,
) -> Result<Option<u32>> {
    let file = &inspection.file;
    // A split WIM is usable when given by its first part with every other part beside it.
    crate::wim::split_siblings(path).map_err(|e| Error::invalid("source", e.to_string()))?;
    if file.image_count == 0 {
        return Err(Error::invalid(
            "source",
            format!("{} contains no image", path.display()),
        ));
    }
    let count = file.image_count;
    let in_range = |i: u32| {
        if i == 0 || i > count {
            Err(Error::invalid(
                "index",
                format!(
                    "image index {i} does not exist in {} (it has {count})",
                    path.display()
                ),
            ))
        } else {
            Ok(i)
        }
    };
    match request_kind {
        ImageKind::Boot => {
            let index = in_range(index.unwrap_or(if file.boot_index > 0 {
                file.boot_index
            } else {
                1
            }))?;
            let image = &inspection.images[(index - 1) as usize];
            let Some(winpe) = &image.windows_pe else {
                return Err(Error::invalid(
                    "source",
                    format!(
                        "image {index} of {} is not Windows PE (installation type: {}); add it as an OS image instead",
                        path.display(),
                        image.installation_type.as_deref().unwrap_or("unknown")
                    ),
                ));
            };
            if winpe.support == WinPeSupport::Unsupported {
                let version = image.version.map(|v| v.to_string()).unwrap_or_default();
                return Err(Error::invalid(
                    "source",
                    format!(
                        "image {index} is Windows PE {} ({version}), which is not supported; use Windows PE 10 (customizable), 5.0 or 3.1",
                        winpe.release
                    ),
                ));
            }
            Ok(Some(index))
        }
        ImageKind::Os => index.map(in_range).transpose(),
    }
}

/// An ESD whose tables wimlib cannot read is, in practice, an encrypted ESD.
pub(crate) fn explain_open_error(path: &Path, error: WimError) -> Error {
    let solid = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("esd"))
        || crate::wim::header_is_solid(path);
    match error {
        WimError::Corrupt { .. } if solid => Error::invalid(
            "source",
            format!(
                "{} looks like an encrypted ESD (as Windows Update and the Media Creation Tool deliver them), which no tool can read without its key; convert it to a WIM on Windows first",
                path.display()
            ),
        ),
        other => other.into(),
    }
}

/// The file an OS image import writes beside its source, if any: one index extracted into
/// `<stem>-index<N>.wim`, or a split WIM's parts joined into `<stem>.wim`. `None` when the
/// image is used in place.
fn os_output_path(source: &Path, index: Option<u32>, split: bool) -> Option<PathBuf> {
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    match (index, split) {
        (Some(index), _) => Some(source.with_file_name(format!("{stem}-index{index}.wim"))),
        (None, true) => Some(source.with_file_name(format!("{stem}.wim"))),
        (None, false) => None,
    }
}

fn monitor(ctx: &JobContext) -> Monitor {
    Monitor {
        progress: ctx.progress().clone(),
        cancel: ctx.cancel_token(),
        job: Some(ctx.job_id()),
    }
}

fn wim_failure(error: WimError) -> JobError {
    match error {
        WimError::Cancelled => JobError::Cancelled,
        other => JobError::Failed(other.to_string()),
    }
}

fn params_error(e: serde_json::Error) -> Error {
    Error::invalid("params", e.to_string())
}

/// Runs `work` with the engine on a blocking thread.
pub(crate) async fn engine<T: Send + 'static>(
    domain: &Domain,
    work: impl FnOnce(&dyn WimBackend) -> Result<T, WimError> + Send + 'static,
) -> Result<T, WimError> {
    let backend = domain.wim_backend();
    crate::wim::blocking(move || work(backend.as_ref())).await
}

/// Writes an output the catalog will own: records it, runs `write`, inspects the result.
/// Returns the pending record and the output's inspection (with hash).
pub(crate) async fn write_output(
    ctx: &JobContext,
    output: &Path,
    write: impl FnOnce(&dyn WimBackend, &Path, &Monitor) -> Result<(), WimError> + Send + 'static,
) -> Result<(i64, WimInspection), JobError> {
    let domain = ctx.domain();
    let pending =
        store::record_pending(domain.db(), output, Some(ctx.job_id()), domain.now_ms()).await?;
    let out = output.to_path_buf();
    let watch = monitor(ctx);
    let written = engine(domain, move |wim| {
        write(wim, &out, &watch)?;
        watch.progress.set_phase("Reading the result");
        wim.inspect(&out, true)
    })
    .await;
    match written {
        Ok(inspection) => Ok((pending, inspection)),
        // Someone else's file is at the final name (written meanwhile): it is not this job's
        // to remove; only the record goes (this job's temporary file went with its writer).
        Err(e @ WimError::OutputExists(_)) => {
            store::settle(domain.db(), pending).await?;
            Err(wim_failure(e))
        }
        Err(e) => {
            store::discard(domain.db(), pending, output).await?;
            Err(wim_failure(e))
        }
    }
}

/// The completion of a job whose effect adds or changes rows around a new file: on a failed
/// commit the file goes.
fn owning_completion(
    domain: &Domain,
    result: Value,
    output: PathBuf,
    pending: i64,
    effect: crate::jobs::Effect,
) -> Completion {
    let domain = domain.clone();
    Completion::new(result)
        .with_effect(effect)
        .on_abort(move || async move {
            if let Err(e) = store::discard(domain.db(), pending, &output).await {
                tracing::warn!("removing {} failed: {e}", output.display());
            }
        })
}

/// Adds the image a job made, records it in the audit log as its author's, and stores the
/// job's result (the new image's id and page).
async fn created(
    domain: &Domain,
    txn: &mut AuditedTxn,
    author: &JobAuthor,
    new: NewImage,
    job_id: i64,
) -> Result<()> {
    let kind = new.kind;
    let name = new.name.clone();
    let file = new.file_path.display().to_string();
    let id = Catalog::new(domain).insert(txn.conn(), new).await?;
    txn.record(&author.entry(
        Operation::Create,
        kind.object_type(),
        (id, &name),
        &[("file", Value::Null, json!(file))],
    ))
    .await?;
    crate::jobs::set_result(
        txn.conn(),
        job_id,
        json!({ "image_id": id, "url": image_url(kind, id) }),
    )
    .await
}

fn image_url(kind: ImageKind, id: i64) -> String {
    match kind {
        ImageKind::Boot => format!("/boot-images/{id}"),
        ImageKind::Os => format!("/os-images/{id}"),
    }
}

/// Imports a boot image (one index, copied into the image store) or an OS image (the whole
/// file in place, or one index extracted next to it).
pub struct ImportImage;

impl ImportImage {
    /// Checks a request against the file and the catalog; returns the job's parameters.
    pub(crate) async fn check(
        &self,
        request: ImportRequest,
        domain: &Domain,
        owner: Option<i64>,
    ) -> Result<Value> {
        let resolved = sources::resolve_for(domain, owner, &request.source).await?;
        let path = resolved.clone();
        let inspection = engine(domain, move |wim| wim.inspect(&path, false))
            .await
            .map_err(|e| explain_open_error(&resolved, e))?;
        let index = check_source(request.kind, &resolved, &inspection, request.index)?;
        let default_name = index
            .and_then(|i| inspection.images.get((i - 1) as usize))
            .or_else(|| inspection.images.first())
            .map(|i| i.name.clone())
            .unwrap_or_default();
        let name = super::validate_name(request.name.as_deref().unwrap_or(&default_name))?;
        let catalog = Catalog::new(domain);
        catalog.ensure_name_free(request.kind, &name).await?;
        let in_place = request.kind == ImageKind::Os
            && os_output_path(&resolved, index, inspection.file.total_parts > 1).is_none();
        if in_place {
            catalog.refuse_held(domain.db(), &resolved).await?;
        }
        if request.kind == ImageKind::Os
            && let Some(output) = os_output_path(&resolved, index, inspection.file.total_parts > 1)
            && output.exists()
        {
            return Err(Error::invalid(
                "index",
                format!(
                    "{} already exists; Wimdeck never overwrites a file (add that file instead, or remove it)",
                    output.display()
                ),
            ));
        }
        let (architecture, language) = match request.kind {
            ImageKind::Os => (
                request
                    .architecture
                    .as_deref()
                    .map(super::parse_architecture)
                    .transpose()?
                    .flatten(),
                request
                    .language
                    .as_deref()
                    .map(super::parse_language)
                    .transpose()?
                    .flatten(),
            ),
            ImageKind::Boot => (None, None),
        };
        let params = ImportParams {
            kind: request.kind,
            source: request.source.trim().to_owned(),
            resolved,
            index,
            name,
            version: super::validate_text("version", &request.version, 64)?,
            comment: super::validate_text("comment", &request.comment, 2000)?,
            architecture,
            language,
        };
        serde_json::to_value(params).map_err(|e| Error::Internal(e.to_string()))
    }
}

impl JobKind for ImportImage {
    fn name(&self) -> &'static str {
        IMPORT
    }

    fn label(&self) -> &'static str {
        "Import image"
    }

    fn retry_safe(&self) -> bool {
        // A new attempt first removes what an earlier one wrote.
        true
    }

    fn default_concurrency(&self) -> usize {
        2
    }

    fn validate(&self, params: Value, _config: &Config) -> Result<Value> {
        let params: ImportParams = serde_json::from_value(params).map_err(params_error)?;
        serde_json::to_value(params).map_err(|e| Error::Internal(e.to_string()))
    }

    fn describe(&self, params: &Value) -> String {
        match serde_json::from_value::<ImportParams>(params.clone()) {
            Ok(p) => format!("{} \"{}\" from {}", p.kind.noun(), p.name, p.source),
            Err(_) => String::new(),
        }
    }

    fn subject(
        &self,
        params: &Value,
        result: Option<&Value>,
    ) -> Option<(crate::authz::ObjectType, Option<i64>)> {
        let kind = serde_json::from_value::<ImportParams>(params.clone())
            .ok()?
            .kind;
        let id = result
            .and_then(|r| r.get("image_id"))
            .and_then(Value::as_i64);
        Some((kind.object_type(), id))
    }

    fn authorize<'a>(
        &'a self,
        _domain: &'a Domain,
        actor: &'a Actor,
        params: &'a Value,
    ) -> BoxFuture<'a, Result<JobGrant>> {
        Box::pin(async move {
            let p: ImportParams = serde_json::from_value(params.clone()).map_err(params_error)?;
            let object = p.kind.object_type();
            actor.require(object, Operation::Create)?;
            Ok(JobGrant::new(Operation::Create, object, 0, p.source))
        })
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, Result<Completion, JobError>> {
        Box::pin(async move {
            let p: ImportParams = ctx.params()?;
            let domain = ctx.domain();
            store::discard_job_outputs(domain, ctx.job_id()).await?;
            // The file may have changed since the job was queued: check it all again.
            let resolved = sources::resolve_for(domain, ctx.owner_user_id(), &p.source).await?;
            ctx.info(format!("Reading {}", resolved.display()));
            ctx.progress().set_phase("Reading and hashing the source");
            let path = resolved.clone();
            let source = engine(domain, move |wim| wim.inspect(&path, true))
                .await
                .map_err(|e| explain_open_error(&resolved, e))?;
            let index = check_source(p.kind, &resolved, &source, p.index)?;
            Catalog::new(domain)
                .ensure_name_free(p.kind, &p.name)
                .await?;
            ctx.check_cancelled()?;

            let split = source.file.total_parts > 1;
            let output = match p.kind {
                ImageKind::Boot => Some(store::new_store_path(domain, p.kind, &p.name)?),
                ImageKind::Os => os_output_path(&resolved, index, split),
            };
            let created_by = ctx.owner_name();
            // An uploaded file is used up by its import (see `uploads`).
            let upload = super::uploads::find_complete(domain.db(), &resolved).await?;
            let mut new = NewImage {
                kind: p.kind,
                name: p.name.clone(),
                version: p.version.clone(),
                comment: p.comment.clone(),
                // An upload is gone once imported: the image names the file that was sent.
                source_path: match &upload {
                    Some(u) => format!("{}{}", sources::UPLOAD_PREFIX, u.file_name),
                    None => p.source.clone(),
                },
                source_index: index,
                file_path: resolved.clone(),
                owned: false,
                default_for: None,
                architecture: p.architecture.clone(),
                language: p.language.clone(),
                inspection: source,
                created_by,
                creator: ctx.owner_user_id(),
            };
            let job_id = ctx.job_id();
            let Some(output) = output else {
                // The file stays the admin's: check all of it now rather than at deployment.
                let path = resolved.clone();
                let watch = monitor(ctx);
                engine(domain, move |wim| wim.verify(&path, &watch))
                    .await
                    .map_err(wim_failure)?;
                ctx.info(format!(
                    "Verified; adding all {} images of the file in place",
                    new.inspection.file.image_count
                ));
                let domain = domain.clone();
                let author = ctx.author();
                // The catalog takes an uploaded file over: deleting the image deletes it.
                new.owned = upload.is_some();
                return Ok(Completion::new(json!({})).with_effect(Box::new(move |txn| {
                    Box::pin(async move {
                        if let Some(upload) = upload {
                            super::uploads::consume(txn.conn(), &upload.id).await?;
                        }
                        created(&domain, txn, &author, new, job_id).await
                    })
                })));
            };
            let from = resolved.clone();
            let (pending, inspection) = match index {
                Some(index) => {
                    ctx.info(format!("Writing image {index} to {}", output.display()));
                    write_output(ctx, &output, move |wim, out, watch| {
                        wim.extract_index(&from, index, out, watch)
                    })
                    .await?
                }
                None => {
                    ctx.info(format!(
                        "Joining the {} parts into {}",
                        new.inspection.file.total_parts,
                        output.display()
                    ));
                    write_output(ctx, &output, move |wim, out, watch| {
                        wim.join(&from, out, watch)
                    })
                    .await?
                }
            };
            ctx.info(format!(
                "Wrote and verified {} ({} bytes, SHA-256 {})",
                output.display(),
                inspection.file.size_bytes,
                inspection.file.sha256.as_deref().unwrap_or("")
            ));
            new.file_path = output.clone();
            new.owned = true;
            new.inspection = inspection;
            let effect_domain = domain.clone();
            let author = ctx.author();
            let used_upload = upload.map(|u| (u.id, resolved));
            let effect: crate::jobs::Effect = Box::new(move |txn| {
                Box::pin(async move {
                    if let Some((id, file)) = used_upload {
                        super::uploads::consume(txn.conn(), &id).await?;
                        // The image has its own copy now: the uploaded file goes with the
                        // commit (or with the sweep, should the server stop first).
                        txn.release(&[file]).await?;
                    }
                    store::settle(txn.conn(), pending).await?;
                    created(&effect_domain, txn, &author, new, job_id).await
                })
            });
            Ok(owning_completion(
                domain,
                json!({}),
                output,
                pending,
                effect,
            ))
        })
    }
}

/// A servicing action on a catalog image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ImageAction {
    /// Check the integrity table, the metadata and every file's data.
    Verify,
    /// Rewrite the file with `compression`, dropping unused data.
    Optimize { compression: Compression },
    /// Extract one index of an OS image into a new OS image.
    Extract { index: u32, name: String },
    /// Split into `.swm` parts of at most `part_mib` MiB (for FAT32 media).
    Split { part_mib: u32 },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ActionParams {
    image_id: i64,
    #[serde(flatten)]
    action: ImageAction,
}

impl ImageAction {
    /// What the action takes on its image: Validate for a verification, Modify for the rest (an
    /// extraction also needs Create on OS images, see [`authorize_action`]).
    pub fn operation(&self) -> Operation {
        match self {
            ImageAction::Verify => Operation::Validate,
            _ => Operation::Modify,
        }
    }

    /// The job for this action on `image`, after checking it makes sense.
    pub(crate) async fn job(&self, image: &CatalogImage, domain: &Domain) -> Result<NewJob> {
        let kind = match self {
            ImageAction::Verify => VERIFY,
            ImageAction::Optimize { .. } => {
                refuse_boot_rewrite(image).map_err(|e| Error::invalid("action", e))?;
                OPTIMIZE
            }
            ImageAction::Extract { index, name } => {
                if image.kind != ImageKind::Os {
                    return Err(Error::invalid(
                        "action",
                        "only OS images have indexes to extract",
                    ));
                }
                if *index == 0 || *index > image.image_count {
                    return Err(Error::invalid(
                        "index",
                        format!(
                            "image index {index} does not exist in \"{}\" (it has {})",
                            image.name, image.image_count
                        ),
                    ));
                }
                let name = super::validate_name(name)?;
                Catalog::new(domain)
                    .ensure_name_free(ImageKind::Os, &name)
                    .await?;
                EXTRACT
            }
            ImageAction::Split { part_mib } => {
                if *part_mib < 16 || *part_mib > 4095 {
                    return Err(Error::invalid(
                        "part_mib",
                        "must be between 16 and 4095 MiB (FAT32 holds files below 4 GiB)",
                    ));
                }
                SPLIT
            }
        };
        let params = ActionParams {
            image_id: image.id,
            action: self.clone(),
        };
        Ok(NewJob::new(
            kind,
            serde_json::to_value(params).map_err(|e| Error::Internal(e.to_string()))?,
        ))
    }
}

/// Only builds write a boot image (see `crate::boot`): optimizing one is refused.
fn refuse_boot_rewrite(image: &CatalogImage) -> std::result::Result<(), String> {
    match image.kind {
        ImageKind::Boot => Err(format!(
            "\"{}\" is a boot image: it is written only by its builds, from its base and recipe, which already drop unused data; build it instead",
            image.name
        )),
        ImageKind::Os => Ok(()),
    }
}

/// The image an action job works on, or, when its file is gone, the job's end: failed, with
/// the image marked missing in the same transaction.
enum ActionImage {
    Found(ActionParams, Box<CatalogImage>),
    Missing(Completion),
}

async fn action_image(ctx: &JobContext) -> Result<ActionImage, JobError> {
    let p: ActionParams = ctx.params()?;
    let image = Catalog::new(ctx.domain()).get(p.image_id).await?;
    if !image.file_path.is_file() {
        let detail = format!(
            "Its file, {}, does not exist: put it back, or delete the image.",
            image.file_path.display()
        );
        let effect = record_state(
            ctx,
            &image,
            ImageState::Missing,
            Some(detail.clone()),
            false,
        );
        return Ok(ActionImage::Missing(
            Completion::failed(detail).with_effect(effect),
        ));
    }
    Ok(ActionImage::Found(p, Box::new(image)))
}

/// The effect that records what a job found of an image's file (ready, damaged, missing),
/// unless the file was replaced meanwhile (then the finding is about a file no longer used).
fn record_state(
    ctx: &JobContext,
    image: &CatalogImage,
    state: ImageState,
    detail: Option<String>,
    verified: bool,
) -> crate::jobs::Effect {
    let domain = ctx.domain().clone();
    let author = ctx.author();
    let (id, name, revision, kind) = (
        image.id,
        image.name.clone(),
        image.content_revision,
        image.kind,
    );
    let before = image.state;
    Box::new(move |txn| {
        Box::pin(async move {
            let recorded = Catalog::new(&domain)
                .set_state_in(txn.conn(), id, revision, state, detail.clone(), verified)
                .await?;
            if recorded && before != state {
                txn.record(&author.entry(
                    Operation::Validate,
                    kind.object_type(),
                    (id, &name),
                    &[("state", json!(before.as_str()), json!(state.as_str()))],
                ))
                .await?;
            }
            Ok(())
        })
    })
}

/// Runs an action job's work on its image, unless the image's file is missing.
macro_rules! found_or_return {
    ($ctx:expr) => {
        match action_image($ctx).await? {
            ActionImage::Found(p, image) => (p, *image),
            ActionImage::Missing(completion) => return Ok(completion),
        }
    };
}

fn describe_action(params: &Value) -> String {
    match serde_json::from_value::<ActionParams>(params.clone()) {
        Ok(ActionParams {
            action: ImageAction::Optimize { compression },
            ..
        }) => format!("{compression:?} compression").to_lowercase(),
        Ok(ActionParams {
            action: ImageAction::Extract { index, name },
            ..
        }) => format!("index {index} as \"{name}\""),
        Ok(ActionParams {
            action: ImageAction::Split { part_mib },
            ..
        }) => format!("parts of {part_mib} MiB"),
        _ => String::new(),
    }
}

/// What an action on an image takes: Validate for a verification, Modify for the rest, and an
/// extraction also creates an OS image. The same checks as the console's own buttons.
async fn authorize_action(domain: &Domain, actor: &Actor, params: &Value) -> Result<JobGrant> {
    let p: ActionParams = serde_json::from_value(params.clone()).map_err(params_error)?;
    let operation = p.action.operation();
    let kind = Catalog::new(domain).get(p.image_id).await?.kind;
    let image = super::ActorCatalog::new(domain, actor)
        .checked(kind, p.image_id, operation)
        .await?;
    if matches!(p.action, ImageAction::Extract { .. }) {
        actor.require(crate::authz::ObjectType::OsImage, Operation::Create)?;
    }
    Ok(JobGrant::new(
        operation,
        kind.object_type(),
        image.id,
        image.name,
    ))
}

fn validate_action(params: Value, expected: &str) -> Result<Value> {
    let p: ActionParams = serde_json::from_value(params).map_err(params_error)?;
    let kind = match p.action {
        ImageAction::Verify => VERIFY,
        ImageAction::Optimize { .. } => OPTIMIZE,
        ImageAction::Extract { .. } => EXTRACT,
        ImageAction::Split { .. } => SPLIT,
    };
    if kind != expected {
        return Err(Error::invalid("params", format!("not a {expected} job")));
    }
    serde_json::to_value(p).map_err(|e| Error::Internal(e.to_string()))
}

/// The kinds that act on one catalog image (verify, optimize, extract, split) share their
/// parameters, checks, rights and what they hold (the image); each has its own work.
trait ImageActionKind: Send + Sync + 'static {
    const NAME: &'static str;
    const LABEL: &'static str;
    const CONCURRENCY: usize = 1;
    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, Result<Completion, JobError>>;
}

impl<K: ImageActionKind> JobKind for K {
    fn name(&self) -> &'static str {
        K::NAME
    }

    fn label(&self) -> &'static str {
        K::LABEL
    }

    fn retry_safe(&self) -> bool {
        // Each writes under a new name and commits with its end: a new attempt starts over.
        true
    }

    fn default_concurrency(&self) -> usize {
        K::CONCURRENCY
    }

    fn validate(&self, params: Value, _config: &Config) -> Result<Value> {
        validate_action(params, K::NAME)
    }

    fn describe(&self, params: &Value) -> String {
        describe_action(params)
    }

    fn holds<'a>(
        &'a self,
        _domain: &'a Domain,
        conn: &'a sea_orm::DatabaseTransaction,
        params: &'a Value,
    ) -> BoxFuture<'a, Result<Vec<JobTarget>>> {
        Box::pin(async move {
            let p: ActionParams = serde_json::from_value(params.clone()).map_err(params_error)?;
            Ok(vec![super::image_target_in(conn, p.image_id).await?])
        })
    }

    fn authorize<'a>(
        &'a self,
        domain: &'a Domain,
        actor: &'a Actor,
        params: &'a Value,
    ) -> BoxFuture<'a, Result<JobGrant>> {
        Box::pin(authorize_action(domain, actor, params))
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, Result<Completion, JobError>> {
        ImageActionKind::run(self, ctx)
    }
}

/// Verifies an image's file; records the outcome on the image.
pub struct VerifyImage;

impl ImageActionKind for VerifyImage {
    const NAME: &'static str = VERIFY;
    const LABEL: &'static str = "Verify image";
    const CONCURRENCY: usize = 2;

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, Result<Completion, JobError>> {
        Box::pin(async move {
            let (_, image) = found_or_return!(ctx);
            ctx.info(format!("Verifying {}", image.file_path.display()));
            let path = image.file_path.clone();
            let watch = monitor(ctx);
            // What it found is recorded with the job's end, in one transaction.
            match engine(ctx.domain(), move |wim| wim.verify(&path, &watch)).await {
                Ok(()) => {
                    ctx.info("Every file's data matches its hash");
                    Ok(Completion::new(
                        json!({ "verified": true, "url": image_url(image.kind, image.id) }),
                    )
                    .with_effect(record_state(
                        ctx,
                        &image,
                        ImageState::Ready,
                        None,
                        true,
                    )))
                }
                Err(WimError::Cancelled) => Err(JobError::Cancelled),
                Err(e) => {
                    let detail = crate::Error::from(e).sentence();
                    let effect =
                        record_state(ctx, &image, ImageState::Damaged, Some(detail.clone()), true);
                    Ok(Completion::failed(detail).with_effect(effect))
                }
            }
        })
    }
}

/// Rewrites an image's file (recompressed, unused data dropped) into the image store and
/// points the image at it; the old file goes if Wimdeck owned it.
pub struct OptimizeImage;

impl ImageActionKind for OptimizeImage {
    const NAME: &'static str = OPTIMIZE;
    const LABEL: &'static str = "Optimize image";

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, Result<Completion, JobError>> {
        Box::pin(async move {
            let domain = ctx.domain();
            store::discard_job_outputs(domain, ctx.job_id()).await?;
            let (p, image) = found_or_return!(ctx);
            let ImageAction::Optimize { compression } = p.action else {
                return Err(JobError::Failed("not an optimize job".into()));
            };
            refuse_boot_rewrite(&image).map_err(JobError::Failed)?;
            let output = store::new_store_path(domain, image.kind, &image.name)?;
            ctx.info(format!(
                "Exporting {} with {compression:?} compression to {}",
                image.file_path.display(),
                output.display()
            ));
            let from = image.file_path.clone();
            let (pending, inspection) = write_output(ctx, &output, move |wim, out, watch| {
                wim.export(&from, out, compression, watch)
            })
            .await?;
            let before = image.file_bytes;
            let after = inspection.file.size_bytes;
            ctx.info(format!(
                "{before} bytes before, {after} after ({:+.1}%)",
                (after as f64 - before as f64) * 100.0 / (before.max(1) as f64)
            ));
            let url = image_url(image.kind, image.id);
            let effect_domain = domain.clone();
            let author = ctx.author();
            let new_path = output.clone();
            let effect: crate::jobs::Effect = Box::new(move |txn| {
                Box::pin(async move {
                    let catalog = Catalog::new(&effect_domain);
                    catalog
                        .replace_file(txn, &image, &new_path, &inspection, None)
                        .await?;
                    catalog.release_previous(txn, &image).await?;
                    store::settle(txn.conn(), pending).await?;
                    txn.record(&author.entry(
                        Operation::Modify,
                        image.kind.object_type(),
                        (image.id, &image.name),
                        &[
                            ("file", json!(image.file_path), json!(new_path)),
                            ("compression", Value::Null, json!(compression)),
                        ],
                    ))
                    .await
                    .map(drop)
                })
            });
            Ok(owning_completion(
                domain,
                json!({ "bytes_before": before, "bytes_after": after, "url": url }),
                output,
                pending,
                effect,
            ))
        })
    }
}

/// Extracts one index of an OS image into a new OS image in the image store.
pub struct ExtractIndex;

impl ImageActionKind for ExtractIndex {
    const NAME: &'static str = EXTRACT;
    const LABEL: &'static str = "Extract image index";

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, Result<Completion, JobError>> {
        Box::pin(async move {
            let domain = ctx.domain();
            store::discard_job_outputs(domain, ctx.job_id()).await?;
            let (p, image) = found_or_return!(ctx);
            let ImageAction::Extract { index, name } = p.action else {
                return Err(JobError::Failed("not an extract job".into()));
            };
            Catalog::new(domain)
                .ensure_name_free(ImageKind::Os, &name)
                .await?;
            let output = store::new_store_path(domain, ImageKind::Os, &name)?;
            ctx.info(format!(
                "Extracting image {index} of \"{}\" to {}",
                image.name,
                output.display()
            ));
            let from = image.file_path.clone();
            let (pending, inspection) = write_output(ctx, &output, move |wim, out, watch| {
                wim.extract_index(&from, index, out, watch)
            })
            .await?;
            let new = NewImage {
                kind: ImageKind::Os,
                name,
                version: image.version.clone(),
                comment: format!("Image {index} of \"{}\"", image.name),
                source_path: image.file_path.display().to_string(),
                source_index: Some(index),
                file_path: output.clone(),
                owned: true,
                default_for: None,
                architecture: None,
                language: None,
                inspection,
                created_by: ctx.owner_name(),
                creator: ctx.owner_user_id(),
            };
            let job_id = ctx.job_id();
            let effect_domain = domain.clone();
            let author = ctx.author();
            let effect: crate::jobs::Effect = Box::new(move |txn| {
                Box::pin(async move {
                    store::settle(txn.conn(), pending).await?;
                    created(&effect_domain, txn, &author, new, job_id).await
                })
            });
            Ok(owning_completion(
                domain,
                json!({}),
                output,
                pending,
                effect,
            ))
        })
    }
}

/// Splits an image into `.swm` parts under `<data_dir>/exports/`.
pub struct SplitImage;

/// One written part.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SplitPart {
    pub path: String,
    pub bytes: u64,
}

impl ImageActionKind for SplitImage {
    const NAME: &'static str = SPLIT;
    const LABEL: &'static str = "Split image";

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, Result<Completion, JobError>> {
        Box::pin(async move {
            let (p, image) = found_or_return!(ctx);
            let ImageAction::Split { part_mib } = p.action else {
                return Err(JobError::Failed("not a split job".into()));
            };
            let dir = ctx.domain().config().data_dir.join("exports").join(format!(
                "{}-{}-job{}",
                image.kind.as_str(),
                image.id,
                ctx.job_id()
            ));
            std::fs::create_dir_all(&dir)?;
            let stem = image
                .file_path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "image".into());
            let first = dir.join(format!("{stem}.swm"));
            ctx.info(format!(
                "Splitting {} into parts of at most {part_mib} MiB in {}",
                image.file_path.display(),
                dir.display()
            ));
            let from = image.file_path.clone();
            let watch = monitor(ctx);
            let bytes = u64::from(part_mib) * 1024 * 1024;
            let parts = engine(ctx.domain(), move |wim| {
                wim.split(&from, &first, bytes, &watch)
            })
            .await
            .map_err(wim_failure)?;
            let parts: Vec<SplitPart> = parts
                .into_iter()
                .map(|path| SplitPart {
                    bytes: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
                    path: path.display().to_string(),
                })
                .collect();
            ctx.info(format!("Wrote {} parts", parts.len()));
            // Copies of the image's content left the catalog: recorded, with where they went.
            let author = ctx.author();
            let exported = json!({ "folder": dir, "parts": parts.len() });
            let effect: crate::jobs::Effect = Box::new(move |txn| {
                Box::pin(async move {
                    txn.record(&author.entry(
                        Operation::Read,
                        image.kind.object_type(),
                        (image.id, &image.name),
                        &[("split into", Value::Null, exported)],
                    ))
                    .await?;
                    Ok(())
                })
            });
            Ok(
                Completion::new(json!({ "parts": parts, "url": image_url(image.kind, image.id) }))
                    .with_effect(effect),
            )
        })
    }
}
