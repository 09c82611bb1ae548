//! Capture and discover images (Windows Deployment Services): a new boot image made from an
//! existing one, whose Windows PE shell starts the capture wizard or Setup in discover mode
//! instead of a command prompt. The new image gets a copy of the original's base, its recipe
//! (drivers and customization) and the shell; its name and description in the WIM's metadata
//! are the ones the admin gives it. It is a boot image like any other from then on.

use sea_orm::Set;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    BootImages, build, checks,
    recipe::{self, Recipe, Shell},
    revisions::{self, Revision},
};
use crate::{
    Actor, Config, Domain, Error, Result,
    authz::{ObjectType, Operation},
    catalog::{self, Catalog, ImageKind, NewImage, kinds, store},
    db::entities::{boot_image_drivers, boot_images},
    drivers::catalog::DriverCatalog,
    jobs::{BoxFuture, Completion, JobContext, JobError, JobGrant, JobKind, JobTarget, NewJob},
};

pub const CREATE_SHELL_IMAGE: &str = "boot-image-shell";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellParams {
    /// The boot image it is made from.
    pub image_id: i64,
    pub shell: Shell,
    pub name: String,
    pub description: String,
}

pub fn job(params: &ShellParams) -> NewJob {
    NewJob::new(CREATE_SHELL_IMAGE, json!(params))
}

fn parse(value: &Value) -> Result<ShellParams> {
    serde_json::from_value(value.clone()).map_err(|e| Error::invalid("params", e.to_string()))
}

pub struct CreateShellImage;

impl JobKind for CreateShellImage {
    fn name(&self) -> &'static str {
        CREATE_SHELL_IMAGE
    }

    fn label(&self) -> &'static str {
        "Create capture or discover image"
    }

    fn retry_safe(&self) -> bool {
        true
    }

    fn validate(&self, params: Value, _config: &Config) -> Result<Value> {
        let mut p = parse(&params)?;
        p.name = catalog::validate_name(&p.name)?;
        p.description = p.description.trim().to_owned();
        if p.description.chars().count() > 2000 {
            return Err(Error::invalid(
                "description",
                "must have at most 2,000 characters",
            ));
        }
        if let Shell::Discover {
            server: Some(server),
        } = &p.shell
        {
            p.shell = Shell::Discover {
                server: Some(recipe::check_discover_server(server)?),
            };
        }
        serde_json::to_value(p).map_err(|e| Error::Internal(e.to_string()))
    }

    fn describe(&self, params: &Value) -> String {
        parse(params).map_or_else(|_| String::new(), |p| format!("\"{}\"", p.name))
    }

    fn holds<'a>(
        &'a self,
        _domain: &'a Domain,
        conn: &'a sea_orm::DatabaseTransaction,
        params: &'a Value,
    ) -> BoxFuture<'a, Result<Vec<JobTarget>>> {
        Box::pin(async move {
            // Its base is read while the job runs: no other job changes it meanwhile.
            Ok(vec![
                catalog::image_target_in(conn, parse(params)?.image_id).await?,
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
            let p = parse(params)?;
            actor.require(ObjectType::BootImage, Operation::Create)?;
            let source = domain
                .for_actor(actor)
                .catalog()
                .checked(ImageKind::Boot, p.image_id, Operation::Read)
                .await?;
            // The new image gets the source's drivers: each must be one the user may add.
            let boot = BootImages::new(domain);
            let state = boot.state(&source).await?;
            let drivers = boot.listed_drivers_in(domain.db(), state.image_id).await?;
            super::drivers::require_readable(domain, actor, &drivers).await?;
            Ok(JobGrant::new(
                Operation::Create,
                ObjectType::BootImage,
                0,
                p.name,
            ))
        })
    }

    fn subject(
        &self,
        _params: &Value,
        result: Option<&Value>,
    ) -> Option<(ObjectType, Option<i64>)> {
        Some((
            ObjectType::BootImage,
            result
                .and_then(|r| r.get("image_id"))
                .and_then(Value::as_i64),
        ))
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, Result<Completion, JobError>> {
        Box::pin(async move {
            let p: ShellParams = ctx.params()?;
            let domain = ctx.domain();
            store::discard_job_outputs(domain, ctx.job_id()).await?;
            let boot = BootImages::new(domain);
            let source = boot.image(p.image_id).await?;
            Catalog::new(domain)
                .ensure_name_free(ImageKind::Boot, &p.name)
                .await?;
            let state = boot.state(&source).await?;
            let facts = boot.facts(&source, &state).await?;
            let recipe = Recipe {
                shell: Some(p.shell.clone()),
                ..boot.recipe_of(domain.db(), &state).await?
            }
            .canonical();
            let ids: Vec<i64> = recipe.drivers.iter().map(|d| d.id).collect();
            let drivers = DriverCatalog::new(domain).get_many(&ids).await?;
            let checked = checks::check_blocking(
                &source,
                &recipe,
                &facts,
                drivers,
                &domain.config().data_dir,
            )
            .await
            .map_err(JobError::Failed)?;

            let mut outputs = build::Outputs::default();
            let made = async {
                let base =
                    store::new_store_path(domain, ImageKind::Boot, &format!("{} base", p.name))?;
                ctx.info(format!("Copying the base of \"{}\"", source.name));
                let from = state.base_path.clone();
                let (pending, base_inspection) =
                    kinds::write_output(ctx, &base, move |wim, out, watch| {
                        wim.extract_index(&from, 1, out, watch)
                    })
                    .await?;
                outputs.push(pending, base.clone());
                // The new image as the build sees it: the original's, named as the admin says.
                let mut target = source.clone();
                target.name = p.name.clone();
                target.comment = p.description.clone();
                let work = domain
                    .config()
                    .work_dir()
                    .join(format!("shell-{}", ctx.job_id()));
                let _ = std::fs::remove_dir_all(&work);
                std::fs::create_dir_all(&work)?;
                let written = build::write(
                    ctx,
                    &target,
                    &recipe,
                    &facts,
                    checked,
                    &base,
                    &work,
                    &mut outputs,
                )
                .await;
                let _ = std::fs::remove_dir_all(&work);
                let (file, inspection) = written?;
                Ok::<_, JobError>((base, base_inspection, file, inspection))
            }
            .await;
            let (base, base_inspection, file, inspection) = match made {
                Ok(made) => made,
                Err(e) => {
                    outputs.discard(domain).await;
                    return Err(e);
                }
            };
            ctx.info(format!("Wrote \"{}\" to {}", p.name, file.display()));

            let effect_domain = domain.clone();
            let author = ctx.author();
            let job_id = ctx.job_id();
            let owner = ctx.owner_user_id();
            let created_by = ctx.owner_name();
            let settle = outputs.clone();
            let effect: crate::jobs::Effect = Box::new(move |txn| {
                Box::pin(async move {
                    let domain = &effect_domain;
                    let id = Catalog::new(domain)
                        .insert(
                            txn.conn(),
                            NewImage {
                                kind: ImageKind::Boot,
                                name: p.name.clone(),
                                version: source.version.clone(),
                                comment: p.description.clone(),
                                source_path: source.source_path.clone(),
                                source_index: source.source_index,
                                file_path: file.clone(),
                                owned: true,
                                default_for: None,
                                architecture: source.architecture.clone(),
                                language: source.language.clone(),
                                inspection: inspection.clone(),
                                created_by: created_by.clone(),
                                creator: owner,
                            },
                        )
                        .await?;
                    sea_orm::EntityTrait::insert(boot_images::ActiveModel {
                        image_id: Set(id),
                        base_path: Set(base.display().to_string()),
                        base_sha256: Set(base_inspection.file.sha256.clone().unwrap_or_default()),
                        customization: Set(serde_json::to_string(&recipe.customization)
                            .map_err(|e| Error::Internal(e.to_string()))?),
                        shell: Set(Some(
                            serde_json::to_string(&p.shell)
                                .map_err(|e| Error::Internal(e.to_string()))?,
                        )),
                        current_revision: Set(1),
                        recipe_version: Set(1),
                        facts: Set(Some(
                            serde_json::to_string(&facts)
                                .map_err(|e| Error::Internal(e.to_string()))?,
                        )),
                        default_source_version: Set(None),
                    })
                    .exec_without_returning(txn.conn())
                    .await?;
                    let now = domain.now_ms();
                    for driver in &recipe.drivers {
                        sea_orm::EntityTrait::insert(boot_image_drivers::ActiveModel {
                            image_id: Set(id),
                            driver_id: Set(driver.id),
                            added_by: Set(created_by.clone()),
                            added_at_ms: Set(now),
                        })
                        .exec_without_returning(txn.conn())
                        .await?;
                    }
                    let revision = Revision {
                        number: 1,
                        file_path: Some(file.clone()),
                        sha256: inspection.file.sha256.clone().unwrap_or_default(),
                        size_bytes: inspection.file.size_bytes,
                        recipe: recipe.clone(),
                        base_path: base.clone(),
                        base_sha256: base_inspection.file.sha256.clone().unwrap_or_default(),
                        reason: format!("Made as a {} from \"{}\"", p.shell.noun(), source.name),
                        created_by: created_by.clone(),
                        created_at_ms: now,
                        job_id: Some(job_id),
                        metadata: inspection.clone(),
                    };
                    revisions::insert(txn.conn(), id, &revision).await?;
                    revisions::keep_newest(txn, id, &base, 1).await?;
                    settle.settle(txn.conn()).await?;
                    txn.record(&author.entry(
                        Operation::Create,
                        ObjectType::BootImage,
                        (id, &p.name),
                        &[
                            ("made from", Value::Null, json!(source.name)),
                            ("shell", Value::Null, json!(p.shell)),
                        ],
                    ))
                    .await?;
                    crate::jobs::set_result(
                        txn.conn(),
                        job_id,
                        json!({ "image_id": id, "url": format!("/boot-images/{id}") }),
                    )
                    .await
                })
            });
            let abort_domain = domain.clone();
            Ok(Completion::new(json!({}))
                .with_effect(effect)
                .on_abort(move || async move { outputs.discard(&abort_domain).await }))
        })
    }
}
