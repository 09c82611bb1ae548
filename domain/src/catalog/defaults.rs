//! Default boot images: one per configured architecture, made from the configured Windows PE
//! source (`images.default_boot_sources`) into the image store. The job that maintains them
//! creates a missing one, and regenerates one whose source's Windows PE version changed —
//! keeping the image's identity, name, version and comment (and so everything attached to it);
//! custom boot images are never touched.

use std::path::Path;

use serde::Serialize;
use serde_json::{Value, json};

use super::{Catalog, ImageKind, NewImage, kinds, store};
use crate::{
    Config, Error, Result,
    jobs::{BoxFuture, Completion, JobContext, JobError, JobKind},
};

pub const UPDATE_DEFAULTS: &str = "default-boot-images";

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

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, Result<Completion, JobError>> {
        Box::pin(async move {
            let domain = ctx.domain();
            store::discard_job_outputs(domain, ctx.job_id()).await?;
            let sources = domain.config().images.default_boot_sources.clone();
            let mut outcomes = Vec::new();
            for (architecture, source) in &sources {
                ctx.check_cancelled()?;
                outcomes.push(update_one(ctx, architecture, source).await?);
            }
            for o in &outcomes {
                ctx.info(format!(
                    "{}: {} (Windows PE {})",
                    o.architecture, o.action, o.version
                ));
            }
            Ok(Completion::new(
                json!({ "defaults": outcomes, "url": "/boot-images" }),
            ))
        })
    }
}

async fn update_one(
    ctx: &JobContext,
    architecture: &str,
    source: &Path,
) -> Result<DefaultOutcome, JobError> {
    let domain = ctx.domain();
    let catalog = Catalog::new(domain);
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
    let existing = catalog.default_for(architecture).await?;
    if let Some(current) = &existing
        && current.os_version.as_deref() == Some(version.as_str())
        && current.file_path.is_file()
    {
        return Ok(DefaultOutcome {
            architecture: architecture.to_owned(),
            action: "up-to-date",
            version,
            image_id: current.id,
        });
    }
    let output = store::new_store_path(domain, ImageKind::Boot, default_name(architecture))?;
    ctx.info(format!(
        "Writing Windows PE {version} ({architecture}) from {} to {}",
        source.display(),
        output.display()
    ));
    let from = source.to_path_buf();
    let (pending, written) = kinds::write_output(ctx, &output, move |wim, out, watch| {
        wim.extract_index(&from, index, out, watch)
    })
    .await?;
    // One transaction per architecture: the row and the file agree at every step.
    let txn = crate::db::begin_write(domain.db()).await?;
    let outcome = match &existing {
        Some(current) => {
            catalog
                .replace_file(&txn, current.id, &output, &written)
                .await?;
            // The new file is a new base, without drivers; its driver list is applied again
            // below.
            crate::drivers::boot::forget_injection(&txn, current.id).await?;
            ("regenerated", current.id)
        }
        None => {
            let mut name = default_name(architecture).to_owned();
            if catalog
                .ensure_name_free(ImageKind::Boot, &name)
                .await
                .is_err()
            {
                name.push_str(" (default)");
            }
            let id = catalog
                .insert(
                    &txn,
                    NewImage {
                        kind: ImageKind::Boot,
                        name,
                        version: String::new(),
                        comment: "Default boot image, made from the configured Windows PE source"
                            .into(),
                        source_path: source.display().to_string(),
                        source_index: Some(index),
                        file_path: output.clone(),
                        owned: true,
                        default_for: Some(architecture.to_owned()),
                        architecture: None,
                        language: None,
                        inspection: written,
                        created_by: "Wimdeck".into(),
                        creator: None,
                    },
                )
                .await?;
            ("created", id)
        }
    };
    store::settle(&txn, pending).await?;
    let committed = txn.commit().await;
    if let Err(e) = committed {
        store::discard(domain.db(), pending, &output).await?;
        return Err(crate::Error::from(e).into());
    }
    if let Some(previous) = &existing {
        let mut old_files: Vec<_> = previous.base_file_path.iter().cloned().collect();
        if previous.owned {
            old_files.push(previous.file_path.clone());
        }
        for old in old_files {
            let record = store::record_pending(domain.db(), &old, None, domain.now_ms()).await?;
            store::discard(domain.db(), record, &old).await?;
        }
        let listed = crate::drivers::boot::BootDrivers::new(domain)
            .show(previous.id)
            .await?;
        if !listed.listed.is_empty() {
            let image = catalog.get(previous.id).await?;
            let job = domain
                .jobs()
                .enqueue_as(None, crate::drivers::boot::BootDrivers::apply_job(&image))
                .await?;
            ctx.info(format!(
                "{architecture}: applying its {} driver(s) to the new image (job {job})",
                listed.listed.len()
            ));
        }
    }
    Ok(DefaultOutcome {
        architecture: architecture.to_owned(),
        action: outcome.0,
        version,
        image_id: outcome.1,
    })
}
