//! The build: a job that writes a new revision of a boot image from its base and its recipe,
//! verified, and makes it current in the transaction that ends the job. With a new base first
//! when asked: the source read again (Reload), another source (the Data source tab), or the
//! configured Windows PE (a default image's regeneration).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    BootImages, BootState, checks,
    facts::BaseFacts,
    plan::{self, Inputs, Source},
    recipe::Recipe,
    revisions::{self, Revision},
};
use crate::{
    Actor, Config, Domain, Error, Result,
    audit::AuditedTxn,
    authz::{ObjectType, Operation},
    catalog::{Catalog, CatalogImage, ImageKind, kinds, sources, store},
    drivers::catalog::DriverCatalog,
    jobs::{BoxFuture, Completion, JobContext, JobError, JobGrant, JobKind, JobTarget, NewJob},
    wim::{FileChange, ImageProperties, WimInspection},
};

pub const BUILD: &str = "boot-image-build";

/// Where a build's base comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "kebab-case", deny_unknown_fields)]
pub enum BaseChange {
    /// The base the image has.
    #[default]
    Keep,
    /// Its source, read again (an external tool changed it).
    Reload,
    /// Another source: a path (or share path) and an index.
    Source { path: String, index: u32 },
    /// The configured Windows PE for its architecture (default boot images).
    Configured,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildParams {
    pub image_id: i64,
    #[serde(default)]
    pub base: BaseChange,
}

/// The job that builds `image_id`.
pub fn job(image_id: i64, base: BaseChange) -> NewJob {
    NewJob::new(BUILD, json!(BuildParams { image_id, base }))
}

fn params(value: &Value) -> Result<BuildParams> {
    serde_json::from_value(value.clone()).map_err(|e| Error::invalid("params", e.to_string()))
}

pub struct BuildBootImage;

impl JobKind for BuildBootImage {
    fn name(&self) -> &'static str {
        BUILD
    }

    fn label(&self) -> &'static str {
        "Build boot image"
    }

    fn retry_safe(&self) -> bool {
        // Nothing is current until the effect commits; a new attempt starts over.
        true
    }

    fn validate(&self, params: Value, _config: &Config) -> Result<Value> {
        let p: BuildParams =
            serde_json::from_value(params).map_err(|e| Error::invalid("params", e.to_string()))?;
        if let BaseChange::Source { path, index } = &p.base {
            if path.trim().is_empty() {
                return Err(Error::invalid("source", "give the path of a WIM file"));
            }
            if *index == 0 {
                return Err(Error::invalid("index", "image indexes start at 1"));
            }
        }
        serde_json::to_value(p).map_err(|e| Error::Internal(e.to_string()))
    }

    fn describe(&self, params: &Value) -> String {
        match params
            .get("base")
            .and_then(|b| b.get("from"))
            .and_then(Value::as_str)
        {
            Some("reload") => "reloading the source".into(),
            Some("source") => format!(
                "from {}",
                params["base"]["path"].as_str().unwrap_or_default()
            ),
            Some("configured") => "from the configured Windows PE".into(),
            _ => String::new(),
        }
    }

    fn holds<'a>(
        &'a self,
        _domain: &'a Domain,
        conn: &'a sea_orm::DatabaseTransaction,
        params: &'a Value,
    ) -> BoxFuture<'a, Result<Vec<JobTarget>>> {
        Box::pin(async move {
            let p = self::params(params)?;
            Ok(vec![
                crate::catalog::image_target_in(conn, p.image_id).await?,
            ])
        })
    }

    fn authorize<'a>(
        &'a self,
        domain: &'a Domain,
        actor: &'a Actor,
        params: &'a Value,
    ) -> BoxFuture<'a, Result<JobGrant>> {
        Box::pin(async move {
            let p = self::params(params)?;
            let image = domain
                .for_actor(actor)
                .catalog()
                .checked(ImageKind::Boot, p.image_id, Operation::Modify)
                .await?;
            Ok(JobGrant::new(
                Operation::Modify,
                ObjectType::BootImage,
                image.id,
                image.name,
            ))
        })
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, Result<Completion, JobError>> {
        Box::pin(async move {
            let p: BuildParams = ctx.params()?;
            let domain = ctx.domain();
            store::discard_job_outputs(domain, ctx.job_id()).await?;
            let boot = BootImages::new(domain);
            let image = boot.image(p.image_id).await?;
            let state = boot.state(&image).await?;
            let current = revisions::get(domain.db(), &image, state.current_revision).await?;
            let mut outputs = Outputs::default();
            let result = build(ctx, &image, &state, &current, &p.base, &mut outputs).await;
            match result {
                Ok(completion) => Ok(completion),
                Err(e) => {
                    outputs.discard(domain).await;
                    Err(e)
                }
            }
        })
    }
}

/// Files this attempt wrote (recorded as pending), discarded if it does not commit.
#[derive(Debug, Default, Clone)]
pub(crate) struct Outputs(Vec<(i64, PathBuf)>);

impl Outputs {
    pub(crate) fn push(&mut self, pending: i64, path: PathBuf) {
        self.0.push((pending, path));
    }

    /// The files are the catalog's now (inside the transaction that says so).
    pub(crate) async fn settle<C: sea_orm::ConnectionTrait>(&self, conn: &C) -> Result<()> {
        for (pending, _) in &self.0 {
            store::settle(conn, *pending).await?;
        }
        Ok(())
    }

    pub(crate) async fn discard(&self, domain: &Domain) {
        for (pending, path) in &self.0 {
            if let Err(e) = store::discard(domain.db(), *pending, path).await {
                tracing::warn!("removing {} failed: {e}", path.display());
            }
        }
    }
}

/// A new base: its file and what it is.
struct NewBase {
    path: PathBuf,
    sha256: String,
    /// The source it was taken from (as the image names it), and its index.
    source: (String, u32),
    /// What the new base is: its languages, its Windows PE version.
    inspection: WimInspection,
    /// The upload it was read from (its id and file), used up by the build.
    upload: Option<(String, PathBuf)>,
}

async fn build(
    ctx: &JobContext,
    image: &CatalogImage,
    state: &BootState,
    current: &Revision,
    change: &BaseChange,
    outputs: &mut Outputs,
) -> Result<Completion, JobError> {
    let domain = ctx.domain();
    let boot = BootImages::new(domain);
    if !state.base_path.is_file() && *change == BaseChange::Keep {
        return Err(JobError::Failed(format!(
            "the base of \"{}\" ({}) is missing; reload the image from its source",
            image.name,
            state.base_path.display()
        )));
    }
    let new_base = take_base(ctx, image, state, change, outputs).await?;
    let base_path = new_base
        .as_ref()
        .map_or(state.base_path.clone(), |b| b.path.clone());
    let facts = match (&new_base, &state.facts) {
        (None, Some(facts)) => facts.clone(),
        (None, None) => boot.facts(image, state).await?,
        (Some(new), _) => {
            ctx.progress()
                .set_phase("Reading what the new base contains");
            super::read_facts(domain, image.id, &new.inspection, &base_path).await?
        }
    };
    let recipe = boot.recipe_of(domain.db(), state).await?;
    if new_base.is_none() && recipe == current.recipe && current.base_path == base_path {
        ctx.info(format!(
            "Revision {} was built from this base and recipe: nothing to build",
            current.number
        ));
        return Ok(Completion::new(json!({
            "revision": current.number,
            "unchanged": true,
            "url": format!("/boot-images/{}?tab=revisions", image.id),
        })));
    }
    let ids: Vec<i64> = recipe.drivers.iter().map(|d| d.id).collect();
    let drivers = DriverCatalog::new(domain).get_many(&ids).await?;
    let checked =
        checks::check_blocking(image, &recipe, &facts, drivers, &domain.config().data_dir)
            .await
            .map_err(JobError::Failed)?;

    let work = domain
        .config()
        .work_dir()
        .join(format!("build-{}", ctx.job_id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let written = write(
        ctx, image, &recipe, &facts, checked, &base_path, &work, outputs,
    )
    .await;
    let _ = std::fs::remove_dir_all(&work);
    let (file, inspection) = written?;

    let mut reasons = Vec::new();
    if let Some(base) = &new_base {
        reasons.push(match change {
            BaseChange::Reload => "Reloaded from the source".to_owned(),
            BaseChange::Configured => "Regenerated from the configured Windows PE".to_owned(),
            BaseChange::Source { .. } => format!(
                "Data source changed to {}, index {}",
                base.source.0, base.source.1
            ),
            BaseChange::Keep => String::new(),
        });
    }
    reasons.extend(super::recipe::changes(&current.recipe, &recipe));
    let reason = if reasons.is_empty() {
        "Rebuilt".to_owned()
    } else {
        reasons.join("; ")
    };
    ctx.info(format!("{reason}: wrote {}", file.display()));
    let revision = Revision {
        number: 0,
        file_path: Some(file.clone()),
        sha256: inspection.file.sha256.clone().unwrap_or_default(),
        size_bytes: inspection.file.size_bytes,
        recipe,
        base_path: base_path.clone(),
        base_sha256: new_base
            .as_ref()
            .map_or(state.base_sha256.clone(), |b| b.sha256.clone()),
        reason,
        created_by: ctx.owner_name(),
        created_at_ms: domain.now_ms(),
        job_id: Some(ctx.job_id()),
        metadata: inspection.clone(),
    };
    let commit = Commit {
        domain: domain.clone(),
        image: image.clone(),
        file,
        revision,
        default_source_version: new_base
            .as_ref()
            .filter(|_| *change == BaseChange::Configured)
            .and_then(|b| b.inspection.images.first())
            .and_then(|i| i.version)
            .map(|v| v.to_string()),
        upload: new_base.as_ref().and_then(|b| b.upload.clone()),
        source: new_base.map(|b| b.source),
        facts,
        inspection,
        outputs: outputs.clone(),
        author: ctx.author(),
        job_id: ctx.job_id(),
    };
    let abort_domain = domain.clone();
    let abort_outputs = outputs.clone();
    Ok(Completion::new(json!({}))
        .with_effect(Box::new(move |txn| Box::pin(commit.apply(txn))))
        .on_abort(move || async move { abort_outputs.discard(&abort_domain).await }))
}

/// Takes a new base when the change asks for one; `None` keeps the image's (also when a
/// reload finds the source unchanged).
async fn take_base(
    ctx: &JobContext,
    image: &CatalogImage,
    state: &BootState,
    change: &BaseChange,
    outputs: &mut Outputs,
) -> Result<Option<NewBase>, JobError> {
    let domain = ctx.domain();
    let (source, index, named) = match change {
        BaseChange::Keep => return Ok(None),
        BaseChange::Reload => {
            if image.source_path.starts_with(sources::UPLOAD_PREFIX) {
                return Err(JobError::Failed(format!(
                    "\"{}\" came from an upload, which is gone once imported; choose a new data source instead",
                    image.name
                )));
            }
            let path =
                sources::resolve_for(domain, ctx.owner_user_id(), &image.source_path).await?;
            (path, image.source_index.unwrap_or(1), None)
        }
        BaseChange::Source { path, index } => {
            let resolved = sources::resolve_for(domain, ctx.owner_user_id(), path).await?;
            (resolved, *index, Some((path.clone(), *index)))
        }
        BaseChange::Configured => {
            let arch = image.default_for.as_deref().ok_or_else(|| {
                JobError::Failed(format!("\"{}\" is not a default boot image", image.name))
            })?;
            let path = domain
                .config()
                .images
                .default_boot_sources
                .get(arch)
                .cloned()
                .ok_or_else(|| {
                    JobError::Failed(format!(
                        "no Windows PE source is configured for {arch} (images.default_boot_sources)"
                    ))
                })?;
            let named = path.display().to_string();
            (path, 1, Some((named, 1)))
        }
    };
    // A new data source may be one of the user's uploads: the build uses it up, as an import
    // does, and the image names the file that was sent.
    let upload = crate::catalog::uploads::find_complete(domain.db(), &source).await?;
    let named = match (&upload, named) {
        (Some(u), Some((_, index))) => {
            Some((format!("{}{}", sources::UPLOAD_PREFIX, u.file_name), index))
        }
        (_, named) => named,
    };
    ctx.progress().set_phase("Reading the source");
    let from = source.clone();
    let inspection = kinds::engine(domain, move |wim| wim.inspect(&from, false))
        .await
        .map_err(|e| kinds::explain_open_error(&source, e))?;
    let index =
        kinds::check_source(ImageKind::Boot, &source, &inspection, Some(index))?.unwrap_or(index);
    let found = inspection.images[(index - 1) as usize]
        .architecture
        .map(|a| a.as_str());
    if found != image.architecture.as_deref() {
        return Err(JobError::Failed(format!(
            "image {index} of {} is Windows PE for {}; \"{}\" is {}",
            source.display(),
            found.unwrap_or("an unknown architecture"),
            image.name,
            image
                .architecture
                .as_deref()
                .unwrap_or("of an unknown architecture")
        )));
    }
    let output = store::new_store_path(domain, ImageKind::Boot, &format!("{} base", image.name))?;
    ctx.info(format!(
        "Taking image {index} of {} as the new base ({})",
        source.display(),
        output.display()
    ));
    let from = source.clone();
    let (pending, written) = kinds::write_output(ctx, &output, move |wim, out, watch| {
        wim.extract_index(&from, index, out, watch)
    })
    .await?;
    outputs.push(pending, output.clone());
    if *change == BaseChange::Reload && state.base_path.is_file() {
        let (old, new) = (state.base_path.clone(), output.clone());
        let same = kinds::engine(domain, move |wim| {
            Ok(wim.list_files(&old, 1)? == wim.list_files(&new, 1)?)
        })
        .await
        .map_err(|e| JobError::Failed(e.to_string()))?;
        if same {
            ctx.info("The source has the same files as the base: the base stays");
            let (pending, path) = outputs.0.pop().unwrap_or((pending, output));
            store::discard(domain.db(), pending, &path).await?;
            return Ok(None);
        }
    }
    Ok(Some(NewBase {
        path: output,
        sha256: written.file.sha256.clone().unwrap_or_default(),
        source: named.unwrap_or_else(|| (image.source_path.clone(), index)),
        inspection: written,
        upload: upload.map(|u| (u.id, source)),
    }))
}

/// Writes base + recipe into a new file (or, for an empty recipe, takes the base itself).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn write(
    ctx: &JobContext,
    image: &CatalogImage,
    recipe: &Recipe,
    facts: &BaseFacts,
    checked: checks::Checked,
    base: &Path,
    work: &Path,
    outputs: &mut Outputs,
) -> Result<(PathBuf, WimInspection), JobError> {
    let domain = ctx.domain();
    let arch = checks::architecture(image).unwrap_or("amd64");
    // The image's own files a recipe changes, where the image has them.
    let needs_answer = !recipe.drivers.is_empty() || !plan::commands(recipe).is_empty();
    let answer_file = facts.answer_file.clone().filter(|_| needs_answer);
    let winpeshl = facts.winpeshl.clone().filter(|_| recipe.shell.is_some());
    let system_hive = facts
        .system_hive
        .clone()
        .filter(|_| recipe.customization.scratch_mb.is_some());
    let wanted: Vec<String> = [&answer_file, &winpeshl, &system_hive]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let existing = work.join("existing");
    std::fs::create_dir_all(&existing)?;
    if !wanted.is_empty() {
        ctx.progress()
            .set_phase("Reading the files the recipe changes");
        let (from, into) = (base.to_path_buf(), existing.clone());
        kinds::engine(domain, move |wim| {
            let paths: Vec<&str> = wanted.iter().map(String::as_str).collect();
            wim.extract_paths(&from, 1, &paths, &into)
        })
        .await
        .map_err(|e| JobError::Failed(e.to_string()))?;
    }
    let (recipe, facts, target, from, dir) = (
        recipe.clone(),
        facts.clone(),
        image.clone(),
        base.to_path_buf(),
        work.to_path_buf(),
    );
    // Reading, planning (a hive rewritten) and writing the files: off the async runtime.
    let prepared = tokio::task::spawn_blocking(move || {
        prepare(
            &recipe,
            facts,
            &target,
            arch,
            checked,
            &from,
            &dir,
            [answer_file, winpeshl, system_hive],
        )
    })
    .await
    .map_err(|e| JobError::Failed(format!("preparing the build stopped unexpectedly: {e}")))??;
    let Some((changes, properties)) = prepared else {
        // Nothing to add: the revision is the base itself, already verified.
        ctx.info("The recipe adds nothing: the new revision is the base itself");
        let from = base.to_path_buf();
        let inspection = kinds::engine(domain, move |wim| wim.inspect(&from, true))
            .await
            .map_err(|e| JobError::Failed(e.to_string()))?;
        return Ok((base.to_path_buf(), inspection));
    };
    let output = store::new_store_path(domain, ImageKind::Boot, &image.name)?;
    ctx.info(format!(
        "Writing {} change(s) into a copy of {}",
        changes.len(),
        base.display()
    ));
    let from = base.to_path_buf();
    let (pending, inspection) = kinds::write_output(ctx, &output, move |wim, out, watch| {
        wim.apply_changes(&from, 1, &changes, properties.as_ref(), out, watch)
    })
    .await?;
    outputs.push(pending, output.clone());
    Ok((output, inspection))
}

/// What a build writes into its copy of the base: the files, and the image's new name and
/// description if they change.
type Prepared = (Vec<FileChange>, Option<ImageProperties>);

/// Larger answer files and shells are refused: both are a few kilobytes.
const MAX_TEXT_BYTES: u64 = 1 << 20;

/// The changes of a build, with the image's own files read from `work/existing` and
/// Wimdeck's written to `work/generated`; `None` when the recipe adds nothing. `own` are the
/// image's answer file, shell and SYSTEM hive, where they are and when the recipe changes them.
#[allow(clippy::too_many_arguments)]
fn prepare(
    recipe: &Recipe,
    facts: BaseFacts,
    image: &CatalogImage,
    arch: &str,
    checked: checks::Checked,
    base: &Path,
    work: &Path,
    own: [Option<String>; 3],
) -> Result<Option<Prepared>, JobError> {
    let existing = work.join("existing");
    // What the image has must have been read: a file that was not would be replaced blind.
    let read = |inside: &Option<String>| -> Result<Option<Vec<u8>>, JobError> {
        let Some(inside) = inside else {
            return Ok(None);
        };
        let path = existing.join(inside.rsplit('/').next().unwrap_or_default());
        let size = std::fs::metadata(&path).map(|m| m.len()).map_err(|_| {
            JobError::Failed(format!(
                "{inside} could not be read from {}; verify the base",
                base.display()
            ))
        })?;
        if size > MAX_TEXT_BYTES && !inside.ends_with("SYSTEM") && !inside.ends_with("system") {
            return Err(JobError::Failed(format!(
                "{inside} in {} has {size} bytes; an answer file or shell of more than 1 MB is not one Wimdeck changes",
                base.display()
            )));
        }
        Ok(Some(std::fs::read(&path)?))
    };
    let text = |inside: &Option<String>| -> Result<(Option<String>, bool), JobError> {
        let Some(bytes) = read(inside)? else {
            return Ok((None, false));
        };
        let utf16 = bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]);
        let decoded = crate::drivers::inf::decode(&bytes).map_err(|e| {
            JobError::Failed(format!(
                "{} in {} cannot be read: {e}",
                inside.as_deref().unwrap_or_default(),
                base.display()
            ))
        })?;
        Ok((Some(decoded), utf16))
    };
    let [answer_file, winpeshl, system_hive] = own;
    let (answer_file, _) = text(&answer_file)?;
    let (winpeshl, winpeshl_utf16) = text(&winpeshl)?;
    let inputs = Inputs {
        architecture: arch.to_owned(),
        facts,
        answer_file,
        winpeshl,
        winpeshl_utf16,
        system_hive: read(&system_hive)?,
        driver_dirs: checked.driver_dirs,
        prestart_dir: checked.prestart_dir,
        background: checked.background,
        name: image.name.clone(),
        description: image.comment.clone(),
    };
    let planned = plan::make(recipe, &inputs)
        .map_err(|e| JobError::Failed(format!("\"{}\": {e}", image.name)))?;
    if planned.is_empty() {
        return Ok(None);
    }
    let generated = work.join("generated");
    std::fs::create_dir_all(&generated)?;
    let mut changes = Vec::new();
    for (i, (target, source)) in planned.adds.into_iter().enumerate() {
        let source = match source {
            Source::Path(path) => path,
            Source::Written(bytes) => {
                let name = target.rsplit('/').next().unwrap_or("file");
                let dir = generated.join(i.to_string());
                std::fs::create_dir_all(&dir)?;
                let path = dir.join(name);
                std::fs::write(&path, bytes)?;
                path
            }
        };
        changes.push(FileChange::Add { source, target });
    }
    let properties = planned
        .properties
        .map(|(name, description)| ImageProperties { name, description });
    Ok(Some((changes, properties)))
}

/// What the build's transaction does.
struct Commit {
    domain: Domain,
    image: CatalogImage,
    file: PathBuf,
    revision: Revision,
    /// The source a new base was taken from.
    source: Option<(String, u32)>,
    /// The upload the new base was read from, used up with the commit.
    upload: Option<(String, PathBuf)>,
    /// A regeneration: the configured Windows PE version the image now comes from.
    default_source_version: Option<String>,
    facts: BaseFacts,
    inspection: WimInspection,
    outputs: Outputs,
    author: crate::audit::JobAuthor,
    job_id: i64,
}

impl Commit {
    async fn apply(mut self, txn: &mut AuditedTxn) -> Result<()> {
        let domain = self.domain.clone();
        let boot = BootImages::new(&domain);
        let catalog = Catalog::new(&domain);
        let image = &self.image;
        let before = boot.ensure_in(txn, image).await?;
        // Fails with a conflict if another change replaced the file meanwhile.
        catalog
            .replace_file(txn, image, &self.file, &self.inspection, None)
            .await?;
        let number = revisions::next_number(txn.conn(), image.id).await?;
        self.revision.number = number;
        revisions::insert(txn.conn(), image.id, &self.revision).await?;
        revisions::make_current(txn.conn(), image.id, number).await?;
        super::set_base_in(
            txn.conn(),
            image.id,
            &self.revision.base_path,
            &self.revision.base_sha256,
            &self.facts,
        )
        .await?;
        if let Some((upload, file)) = &self.upload {
            crate::catalog::uploads::consume(txn.conn(), upload).await?;
            // The base is a copy: the uploaded file goes with the commit.
            txn.release(std::slice::from_ref(file)).await?;
        }
        if let Some(version) = &self.default_source_version {
            super::set_default_source_in(txn.conn(), image.id, version).await?;
        }
        if let Some((source, index)) = &self.source {
            catalog
                .set_source_in(txn.conn(), image.id, source, *index)
                .await?;
        }
        revisions::keep_newest(
            txn,
            image.id,
            &self.revision.base_path,
            domain.config().images.revisions_kept(),
        )
        .await?;
        catalog.release_previous(txn, image).await?;
        self.outputs.settle(txn.conn()).await?;
        txn.record(&self.author.entry(
            Operation::Modify,
            ObjectType::BootImage,
            (image.id, &image.name),
            &[
                ("revision", json!(before.current_revision), json!(number)),
                ("reason", Value::Null, json!(self.revision.reason)),
            ],
        ))
        .await?;
        crate::jobs::set_result(
            txn.conn(),
            self.job_id,
            json!({
                "revision": number,
                "url": format!("/boot-images/{}?tab=revisions", image.id),
            }),
        )
        .await
    }
}
