//! Default boot images: one per configured architecture, made from the configured Windows PE
//! source (`images.default_boot_sources`) into the image store. The job that maintains them
//! creates a missing one, and regenerates one whose source's Windows PE version changed: a
//! build from the configured Windows PE as its new base, with the image's recipe — keeping its
//! identity, name, version, comment and customization; custom boot images are never touched.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};

use super::build::{self, BaseChange};
use crate::{
    Config, Domain, Error, Result,
    audit::{AuditedTxn, JobAuthor},
    authz::{ObjectType, Operation},
    catalog::{Catalog, CatalogImage, ImageKind, NewImage, kinds, store},
    jobs::{BoxFuture, Completion, JobContext, JobError, JobKind, JobTarget},
    wim::WimInspection,
};

pub const UPDATE_DEFAULTS: &str = "default-boot-images";

/// What the regeneration holds besides each default boot image: the set itself.
const DEFAULTS_TARGET: &str = "default-boot-images";

/// What the job did for one architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DefaultOutcome {
    pub architecture: String,
    /// `created`, `regenerated` or `up-to-date`.
    pub action: &'static str,
    pub version: String,
    pub image_id: i64,
}

/// The name a new default boot image gets (as Configuration Manager names its own).
fn default_name(architecture: &str) -> &'static str {
    match architecture {
        "x86" => "Boot image (x86)",
        "arm64" => "Boot image (arm64)",
        _ => "Boot image (x64)",
    }
}

pub struct UpdateDefaultBootImages;

impl JobKind for UpdateDefaultBootImages {
    fn name(&self) -> &'static str {
        UPDATE_DEFAULTS
    }

    fn label(&self) -> &'static str {
        "Update default boot images"
    }

    fn retry_safe(&self) -> bool {
        // Each architecture's step is complete or not done: a new attempt finds what is left.
        true
    }

    fn validate(&self, params: Value, config: &Config) -> Result<Value> {
        if config.images.default_boot_sources.is_empty() {
            return Err(Error::invalid(
                "images",
                "no Windows PE source is configured (images.default_boot_sources)",
            ));
        }
        Ok(if params.is_null() { json!({}) } else { params })
    }

    fn describe(&self, _params: &Value) -> String {
        String::new()
    }

    fn subject(
        &self,
        _params: &Value,
        _result: Option<&Value>,
    ) -> Option<(ObjectType, Option<i64>)> {
        Some((ObjectType::BootImage, None))
    }

    fn holds<'a>(
        &'a self,
        _domain: &'a Domain,
        conn: &'a sea_orm::DatabaseTransaction,
        _params: &'a Value,
    ) -> BoxFuture<'a, Result<Vec<JobTarget>>> {
        Box::pin(async move {
            // The set (two regenerations would both create a missing one) and each default
            // boot image that exists: no other job works on one while it is regenerated.
            let mut holds = vec![JobTarget {
                kind: DEFAULTS_TARGET.to_owned(),
                id: "all".to_owned(),
                label: "default boot images".to_owned(),
            }];
            for image in Catalog::defaults_in(conn).await? {
                holds.push(image.target());
            }
            Ok(holds)
        })
    }

    fn authorize<'a>(
        &'a self,
        _domain: &'a Domain,
        actor: &'a crate::Actor,
        _params: &'a Value,
    ) -> BoxFuture<'a, Result<crate::jobs::JobGrant>> {
        Box::pin(async move {
            // It creates and replaces boot images that every scope's admins may depend on.
            for operation in [Operation::Create, Operation::Modify] {
                actor.require(ObjectType::BootImage, operation)?;
            }
            Ok(crate::jobs::JobGrant::new(
                Operation::Modify,
                ObjectType::BootImage,
                0,
                "default boot images",
            ))
        })
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, Result<Completion, JobError>> {
        Box::pin(async move {
            let domain = ctx.domain();
            store::discard_job_outputs(domain, ctx.job_id()).await?;
            let sources = domain.config().images.default_boot_sources.clone();
            // Every new file is written and verified first; the rows change together, in the
            // transaction that ends the job, so the catalog and the store agree at every step
            // and nothing commits outside the job's lease.
            let mut steps = Vec::new();
            for (architecture, source) in &sources {
                ctx.check_cancelled()?;
                steps.push(prepare(ctx, architecture, source).await?);
            }
            for step in &steps {
                ctx.info(format!(
                    "{}: {} (Windows PE {})",
                    step.architecture,
                    step.action(),
                    step.version
                ));
            }
            let outputs: Vec<(i64, PathBuf)> = steps
                .iter()
                .filter_map(|s| s.written.as_ref().map(|w| (w.pending, w.output.clone())))
                .collect();
            let effect_domain = domain.clone();
            let author = ctx.author();
            let job_id = ctx.job_id();
            let effect: crate::jobs::Effect = Box::new(move |txn| {
                Box::pin(async move {
                    let mut outcomes = Vec::new();
                    for step in steps {
                        outcomes.push(commit_step(&effect_domain, txn, &author, step).await?);
                    }
                    crate::jobs::set_result(
                        txn.conn(),
                        job_id,
                        json!({ "defaults": outcomes, "url": "/boot-images" }),
                    )
                    .await
                })
            });
            let abort_domain = domain.clone();
            Ok(Completion::new(json!({}))
                .with_effect(effect)
                .on_abort(move || async move {
                    for (pending, output) in outputs {
                        if let Err(e) = store::discard(abort_domain.db(), pending, &output).await {
                            tracing::warn!("removing {} failed: {e}", output.display());
                        }
                    }
                }))
        })
    }
}

/// What the job found, and wrote, for one architecture.
struct Step {
    architecture: String,
    source: PathBuf,
    index: u32,
    version: String,
    /// The default boot image as the job found it.
    existing: Option<CatalogImage>,
    /// The configured Windows PE version it was last made from, when a regeneration recorded
    /// it (a rollback to an older revision is the admin's choice, not a reason to regenerate).
    taken_from: Option<String>,
    /// The new file, unless the image is up to date.
    written: Option<Written>,
}

struct Written {
    output: PathBuf,
    pending: i64,
    inspection: WimInspection,
}

impl Step {
    fn action(&self) -> &'static str {
        match &self.existing {
            None => "created",
            Some(current) if self.outdated(current) => "regenerated",
            Some(_) => "up-to-date",
        }
    }

    /// Whether the configured source's Windows PE changed since the image was made from it
    /// (or the image lost its file).
    fn outdated(&self, current: &CatalogImage) -> bool {
        let made_from = self.taken_from.as_deref().or(current.os_version.as_deref());
        made_from != Some(self.version.as_str()) || !current.file_path.is_file()
    }
}

/// Reads the source for `architecture` and, if its default boot image is missing or out of
/// date, writes the new file (recorded as the job's pending output).
async fn prepare(ctx: &JobContext, architecture: &str, source: &Path) -> Result<Step, JobError> {
    let domain = ctx.domain();
    ctx.progress()
        .set_phase(format!("Reading the {architecture} Windows PE source"));
    let path = source.to_path_buf();
    let inspection = kinds::engine(domain, move |wim| wim.inspect(&path, true))
        .await
        .map_err(|e| kinds::explain_open_error(source, e))?;
    let index = kinds::check_source(ImageKind::Boot, source, &inspection, None)?.unwrap_or(1);
    let image = &inspection.images[(index - 1) as usize];
    let found = image.architecture.map(|a| a.as_str()).unwrap_or("unknown");
    if found != architecture {
        return Err(JobError::Failed(format!(
            "{} is Windows PE for {found}, but it is configured as the {architecture} source",
            source.display()
        )));
    }
    let version = image.version.map(|v| v.to_string()).unwrap_or_default();
    let existing = Catalog::new(domain).default_for(architecture).await?;
    let taken_from = match &existing {
        Some(image) => {
            super::BootImages::new(domain)
                .state(image)
                .await?
                .default_source_version
        }
        None => None,
    };
    let mut step = Step {
        architecture: architecture.to_owned(),
        source: source.to_path_buf(),
        index,
        version,
        existing,
        taken_from,
        written: None,
    };
    if step.existing.is_some() {
        // Up to date, or regenerated by a build the commit queues.
        return Ok(step);
    }
    let output = store::new_store_path(domain, ImageKind::Boot, default_name(architecture))?;
    ctx.info(format!(
        "Writing Windows PE {} ({architecture}) from {} to {}",
        step.version,
        source.display(),
        output.display()
    ));
    let from = source.to_path_buf();
    let (pending, inspection) = kinds::write_output(ctx, &output, move |wim, out, watch| {
        wim.extract_index(&from, index, out, watch)
    })
    .await?;
    step.written = Some(Written {
        output,
        pending,
        inspection,
    });
    Ok(step)
}

/// Inside the job's transaction: creates a missing default boot image, or queues the build
/// that regenerates an outdated one, and records it all in the audit log.
async fn commit_step(
    domain: &Domain,
    txn: &mut AuditedTxn,
    author: &JobAuthor,
    step: Step,
) -> Result<DefaultOutcome> {
    let catalog = Catalog::new(domain);
    let action = step.action();
    let image_id = match (&step.existing, step.written) {
        (Some(current), _) => {
            if action == "regenerated" {
                let job = txn
                    .enqueue(None, build::job(current.id, BaseChange::Configured))
                    .await?;
                txn.record(&author.entry(
                    Operation::Modify,
                    ObjectType::BootImage,
                    (current.id, &current.name),
                    &[
                        ("Windows PE", json!(current.os_version), json!(step.version)),
                        ("rebuilt by job", Value::Null, json!(job)),
                    ],
                ))
                .await?;
            }
            current.id
        }
        (None, None) => {
            return Err(Error::Internal(format!(
                "the default boot image for {} was not written",
                step.architecture
            )));
        }
        (None, Some(written)) => {
            let mut name = default_name(&step.architecture).to_owned();
            if catalog
                .ensure_name_free_in(txn.conn(), ImageKind::Boot, &name)
                .await
                .is_err()
            {
                name.push_str(" (default)");
            }
            let id = catalog
                .insert(
                    txn.conn(),
                    NewImage {
                        kind: ImageKind::Boot,
                        name: name.clone(),
                        version: String::new(),
                        comment: "Default boot image, made from the configured Windows PE source"
                            .into(),
                        source_path: step.source.display().to_string(),
                        source_index: Some(step.index),
                        file_path: written.output.clone(),
                        owned: true,
                        default_for: Some(step.architecture.clone()),
                        architecture: None,
                        language: None,
                        inspection: written.inspection,
                        created_by: "Wimdeck".into(),
                        creator: None,
                    },
                )
                .await?;
            txn.record(&author.entry(
                Operation::Create,
                ObjectType::BootImage,
                (id, &name),
                &[("file", Value::Null, json!(written.output))],
            ))
            .await?;
            store::settle(txn.conn(), written.pending).await?;
            id
        }
    };
    Ok(DefaultOutcome {
        architecture: step.architecture,
        action,
        version: step.version,
        image_id,
    })
}
