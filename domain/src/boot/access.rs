//! Boot images' recipes and revisions on behalf of a signed-in user: every operation checks
//! the user's rights on the image first (Read to look, Modify to change or build, Create on
//! boot images to make a capture or discover image).

use std::path::Path;

use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, Set,
    sea_query::{Expr, ExprTrait},
};
use serde_json::{Value, json};

use super::{
    BaseFacts, BootImages, BootState, assets, background, build, checks, defaults,
    recipe::{self, Asset, Customization, Prestart, Recipe, Shell},
    revisions::{self, Revision, RevisionDiff},
    shells,
};
use crate::{
    Actor, Domain, Error, Result,
    audit::AuditedTxn,
    authz::{ObjectType, Operation},
    catalog::{ActorCatalog, Catalog, CatalogImage, ImageKind, sources, uploads},
    db::entities::{boot_image_drivers, boot_images},
    drivers::catalog::DriverCatalog,
    jobs::{NewJob, NewSchedule, Schedule, ScheduleSpec},
};

/// What the boot image's page shows besides the catalog row.
#[derive(Debug, Clone, PartialEq)]
pub struct BootImageView {
    pub image: CatalogImage,
    pub state: BootState,
    /// The recipe as it is now: what the next build makes.
    pub recipe: Recipe,
    pub current: Revision,
    /// What a build would change, as sentences (empty: the current revision is up to date).
    pub pending: Vec<String>,
    /// Newest first.
    pub revisions: Vec<Revision>,
    /// What the base contains (`None` when it cannot be read: the reason is in `warnings`).
    pub facts: Option<BaseFacts>,
    pub customizable: bool,
    /// Sentences an admin should see: a prestart command that would not return, command
    /// support left on.
    pub warnings: Vec<String>,
    /// Whether the viewer may change the recipe, build and roll back.
    pub may_modify: bool,
}

/// The Windows PE version of a boot image and of its source now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceVersion {
    pub in_image: String,
    pub in_source: Option<String>,
    /// Why the source could not be read.
    pub unreadable: Option<String>,
}

/// Where a file of the customization comes from, as the form sends it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FileChoice {
    /// As it is.
    #[default]
    Keep,
    /// None (Windows PE's own background; a prestart command without files).
    Clear,
    /// A path in the source roots (or share path), or one of the user's uploads
    /// (`upload:<id>`).
    From(String),
}

/// A change of the Customization tab.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CustomizationEdit {
    /// `None`: no prestart command.
    pub prestart_command: Option<String>,
    pub prestart_files: FileChoice,
    pub background: FileChoice,
    pub command_support: bool,
    pub scratch_mb: Option<u32>,
    pub input_locale: Option<String>,
    pub ui_language: Option<String>,
    /// The recipe version the edit is based on.
    pub expected_recipe_version: i32,
}

/// Warnings about a customization (shown when it is saved and on the page).
pub fn warnings(customization: &Customization) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(prestart) = &customization.prestart {
        out.extend(recipe::prestart_warnings(&prestart.command));
    }
    if customization.command_support {
        out.push(
            "Command support is on: a command prompt opens when Windows PE starts, with full control of the computer. Use it for testing only; turn it off before the image reaches production.".into(),
        );
    }
    out
}

/// Boot images' recipes and revisions, with one user's rights.
pub struct ActorBootImages<'a> {
    domain: &'a Domain,
    actor: &'a Actor,
}

impl<'a> ActorBootImages<'a> {
    pub(crate) fn new(domain: &'a Domain, actor: &'a Actor) -> Self {
        Self { domain, actor }
    }

    async fn checked(&self, image_id: i64, operation: Operation) -> Result<CatalogImage> {
        ActorCatalog::new(self.domain, self.actor)
            .checked(ImageKind::Boot, image_id, operation)
            .await
    }

    fn jobs(&self) -> crate::jobs::ActorJobs<'a> {
        crate::jobs::ActorJobs::new(self.domain, self.actor)
    }

    async fn queue(&self, new: NewJob) -> Result<i64> {
        // What it takes is the job kind's to say, as for a retry or a schedule.
        self.jobs().queue_authorized(new, Vec::new()).await
    }

    pub async fn show(&self, image_id: i64) -> Result<BootImageView> {
        let image = self.checked(image_id, Operation::Read).await?;
        let boot = BootImages::new(self.domain);
        let state = boot.state(&image).await?;
        let recipe = boot.recipe_of(self.domain.db(), &state).await?;
        let revisions = boot.revisions(&image).await?;
        let current = revisions
            .iter()
            .find(|r| r.number == state.current_revision)
            .cloned()
            .ok_or_else(|| {
                Error::Internal(format!("boot image {image_id} has no current revision"))
            })?;
        let mut pending = Vec::new();
        if current.base_path != state.base_path {
            pending.push("Base: a new base waits to be built".to_owned());
        }
        pending.extend(recipe::changes(&current.recipe, &recipe));
        let mut warnings = warnings(&state.customization);
        let facts = match boot.facts(&image, &state).await {
            Ok(facts) => Some(facts),
            Err(e) => {
                warnings.push(format!("What the image contains cannot be read: {e}"));
                None
            }
        };
        let customizable = checks::customizable(&image).is_ok();
        let scopes =
            crate::authz::scopes::of(self.domain.db(), ObjectType::BootImage, image_id).await?;
        Ok(BootImageView {
            may_modify: self
                .actor
                .may(ObjectType::BootImage, Operation::Modify, &scopes),
            image,
            state,
            recipe,
            current,
            pending,
            revisions,
            facts,
            customizable,
            warnings,
        })
    }

    /// Saves the Customization tab, checked against what the image contains; returns its
    /// warnings and, with `build`, the build it queued.
    pub async fn customize(
        &self,
        image_id: i64,
        edit: CustomizationEdit,
        build: bool,
    ) -> Result<(Vec<String>, Option<i64>)> {
        let image = self.checked(image_id, Operation::Modify).await?;
        checks::customizable(&image).map_err(|e| Error::invalid("image", e))?;
        let boot = BootImages::new(self.domain);
        let state = boot.state(&image).await?;
        let facts = boot.facts(&image, &state).await?;
        let data_dir = &self.domain.config().data_dir;
        let before = state.customization.clone();
        let mut used_uploads = Vec::new();
        let prestart = match edit.prestart_command.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(command) => {
                let command = recipe::check_prestart_command(command)?;
                let files = match &edit.prestart_files {
                    FileChoice::Keep => before.prestart.as_ref().and_then(|p| p.files.clone()),
                    FileChoice::Clear => None,
                    FileChoice::From(input) => {
                        let path = sources::resolve_entry_for(
                            self.domain,
                            Some(self.actor.user_id),
                            input,
                        )
                        .await?;
                        let name = display_name(input, &path);
                        let asset = folder_asset(data_dir, &name, &path).await?;
                        used_uploads.push(path);
                        Some(asset)
                    }
                };
                Some(Prestart { command, files })
            }
        };
        let background = match &edit.background {
            FileChoice::Keep => before.background.clone(),
            FileChoice::Clear => None,
            FileChoice::From(input) => {
                let path =
                    sources::resolve_for(self.domain, Some(self.actor.user_id), input).await?;
                let name = display_name(input, &path);
                let asset = background_asset(data_dir, &name, &path).await?;
                used_uploads.push(path);
                Some(asset)
            }
        };
        let customization = Customization {
            prestart,
            background,
            command_support: edit.command_support,
            scratch_mb: edit.scratch_mb.map(recipe::check_scratch).transpose()?,
            input_locale: edit
                .input_locale
                .as_deref()
                .filter(|l| !l.trim().is_empty())
                .map(recipe::check_input_locale)
                .transpose()?,
            ui_language: edit
                .ui_language
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty()),
        };
        // The whole recipe must build on this base before anything is saved.
        let recipe = Recipe {
            customization: customization.clone(),
            ..boot.recipe_of(self.domain.db(), &state).await?
        };
        let ids: Vec<i64> = recipe.drivers.iter().map(|d| d.id).collect();
        let drivers = DriverCatalog::new(self.domain).get_many(&ids).await?;
        checks::check_blocking(&image, &recipe, &facts, drivers, data_dir)
            .await
            .map_err(|e| Error::invalid("customization", e))?;

        let mut txn = AuditedTxn::begin(self.domain).await?;
        boot.ensure_in(&mut txn, &image).await?;
        let saved = boot_images::Entity::update_many()
            .col_expr(
                boot_images::Column::Customization,
                Expr::value(
                    serde_json::to_string(&customization)
                        .map_err(|e| Error::Internal(e.to_string()))?,
                ),
            )
            .col_expr(
                boot_images::Column::RecipeVersion,
                Expr::col(boot_images::Column::RecipeVersion).add(1),
            )
            .filter(boot_images::Column::ImageId.eq(image_id))
            .filter(boot_images::Column::RecipeVersion.eq(edit.expected_recipe_version))
            .exec(txn.conn())
            .await?;
        if saved.rows_affected != 1 {
            return Err(Error::Conflict(format!(
                "the recipe of \"{}\" was changed by someone else after you opened it; reload to see their change, then edit again",
                image.name
            )));
        }
        for path in &used_uploads {
            if let Some(upload) = uploads::find_complete(txn.conn(), path).await? {
                uploads::consume(txn.conn(), &upload.id).await?;
                txn.release(std::slice::from_ref(path)).await?;
            }
        }
        let changes: Vec<(&str, Value, Value)> = recipe::changes(
            &Recipe {
                customization: before,
                ..Recipe::default()
            },
            &Recipe {
                customization: customization.clone(),
                ..Recipe::default()
            },
        )
        .into_iter()
        .map(|sentence| ("customization", Value::Null, json!(sentence)))
        .collect();
        txn.allowed(
            self.actor,
            Operation::Modify,
            ObjectType::BootImage,
            (image.id, &image.name),
            &changes,
        )
        .await?;
        txn.commit().await?;
        let job = if build {
            Some(self.build(image_id).await?)
        } else {
            None
        };
        Ok((warnings(&customization), job))
    }

    /// Queues a build of the image's recipe on its base.
    pub async fn build(&self, image_id: i64) -> Result<i64> {
        self.queue(build::job(image_id, build::BaseChange::Keep))
            .await
    }

    /// Queues a build from the image's source, read again.
    pub async fn reload(&self, image_id: i64) -> Result<i64> {
        self.queue(build::job(image_id, build::BaseChange::Reload))
            .await
    }

    /// Queues a build from another source (the Data source tab); the path is checked now and
    /// again by the job.
    pub async fn change_source(&self, image_id: i64, path: &str, index: u32) -> Result<i64> {
        self.checked(image_id, Operation::Modify).await?;
        sources::resolve_for(self.domain, Some(self.actor.user_id), path).await?;
        self.queue(build::job(
            image_id,
            build::BaseChange::Source {
                path: path.trim().to_owned(),
                index,
            },
        ))
        .await
    }

    /// Queues the making of a capture or discover image from this one.
    pub async fn create_shell_image(
        &self,
        image_id: i64,
        shell: Shell,
        name: &str,
        description: &str,
    ) -> Result<i64> {
        let image = self.checked(image_id, Operation::Read).await?;
        self.actor
            .require(ObjectType::BootImage, Operation::Create)?;
        let boot = BootImages::new(self.domain);
        let state = boot.state(&image).await?;
        let facts = boot.facts(&image, &state).await?;
        let recipe = Recipe {
            shell: Some(shell.clone()),
            ..boot.recipe_of(self.domain.db(), &state).await?
        };
        // The new image gets this one's drivers: each must be one this user may add.
        super::drivers::require_readable(self.domain, self.actor, &recipe.drivers).await?;
        let ids: Vec<i64> = recipe.drivers.iter().map(|d| d.id).collect();
        let drivers = DriverCatalog::new(self.domain).get_many(&ids).await?;
        checks::check_blocking(
            &image,
            &recipe,
            &facts,
            drivers,
            &self.domain.config().data_dir,
        )
        .await
        .map_err(|e| Error::invalid("image", e))?;
        Catalog::new(self.domain)
            .ensure_name_free(ImageKind::Boot, name.trim())
            .await?;
        self.queue(shells::job(&shells::ShellParams {
            image_id,
            shell,
            name: name.to_owned(),
            description: description.to_owned(),
        }))
        .await
    }

    /// Compares two revisions: their recipes, and the files in them while both have files.
    pub async fn diff(&self, image_id: i64, from: i32, to: i32) -> Result<RevisionDiff> {
        let image = self.checked(image_id, Operation::Read).await?;
        let (a, b) = (
            revisions::get(self.domain.db(), &image, from).await?,
            revisions::get(self.domain.db(), &image, to).await?,
        );
        let recipe = revisions::recipe_changes(&a, &b);
        let (files, files_unavailable) = match (&a.file_path, &b.file_path) {
            (Some(x), Some(y)) if x.is_file() && y.is_file() => {
                let backend = self.domain.wim_backend();
                let (x, y) = (x.clone(), y.clone());
                let lists = crate::wim::blocking(move || {
                    Ok((backend.list_files(&x, 1)?, backend.list_files(&y, 1)?))
                })
                .await?;
                (Some(revisions::compare_files(&lists.0, &lists.1)), None)
            }
            _ => {
                let gone = if a.file_path.is_none() { from } else { to };
                (
                    None,
                    Some(format!(
                        "The file of revision {gone} was removed (the newest {} revisions keep theirs); the recipes are compared.",
                        self.domain.config().images.revisions_kept()
                    )),
                )
            }
        };
        Ok(RevisionDiff {
            from,
            to,
            recipe,
            files,
            files_unavailable,
        })
    }

    /// Makes revision `number` current again, as a new revision: its file, its base and its
    /// recipe (the driver list and customization become that revision's).
    pub async fn rollback(&self, image_id: i64, number: i32) -> Result<i32> {
        let checked = self.checked(image_id, Operation::Modify).await?;
        let mut txn = AuditedTxn::begin(self.domain).await?;
        let catalog = Catalog::new(self.domain);
        let image = catalog
            .get_kind_in(txn.conn(), ImageKind::Boot, image_id)
            .await?;
        let target = image.target();
        crate::jobs::lock_target(txn.conn(), &target.kind, &target.id).await?;
        if let Some(busy) = crate::jobs::active_on(txn.conn(), &target.kind, &target.id).await? {
            return Err(Error::Conflict(format!(
                "{}; wait for it to end, then roll back",
                self.domain.jobs().busy_message(&busy, "this image")
            )));
        }
        let boot = BootImages::new(self.domain);
        let before = boot.ensure_in(&mut txn, &image).await?;
        let old = revisions::get(txn.conn(), &image, number).await?;
        if number == before.current_revision {
            return Err(Error::invalid(
                "revision",
                format!("revision {number} is already current"),
            ));
        }
        let file = match &old.file_path {
            Some(file) if file.is_file() => file.clone(),
            Some(file) if file.exists() => {
                return Err(Error::Conflict(format!(
                    "{} (the file of revision {number}) is not a file any more; verify the store",
                    file.display()
                )));
            }
            _ => {
                return Err(Error::invalid(
                    "revision",
                    format!(
                        "the file of revision {number} was removed (the newest {} revisions keep theirs); it cannot be made current again",
                        self.domain.config().images.revisions_kept()
                    ),
                ));
            }
        };
        // Nothing on disk is trusted blindly: the file must still be the one the revision
        // wrote (its size; a verification checks every byte).
        let size = std::fs::metadata(&file)?.len();
        if size != old.size_bytes {
            return Err(Error::Conflict(format!(
                "the file of revision {number} has {size} bytes, not the {} it was written with; it was changed on disk and cannot be made current",
                old.size_bytes
            )));
        }
        let ids: Vec<i64> = old.recipe.drivers.iter().map(|d| d.id).collect();
        let present = DriverCatalog::new(self.domain).get_many(&ids).await?;
        // The list is taken back: each driver must be one this user may add.
        let still_there: Vec<_> = old
            .recipe
            .drivers
            .iter()
            .filter(|d| present.iter().any(|p| p.id == d.id))
            .cloned()
            .collect();
        super::drivers::require_readable(self.domain, self.actor, &still_there).await?;
        if let Some(gone) = old
            .recipe
            .drivers
            .iter()
            .find(|d| !present.iter().any(|p| p.id == d.id))
        {
            return Err(Error::invalid(
                "revision",
                format!(
                    "revision {number} contains the driver \"{}\" ({}), which was deleted from the catalog since; its recipe cannot be taken back",
                    gone.name, gone.inf_name
                ),
            ));
        }
        let new_number = revisions::next_number(txn.conn(), image_id).await?;
        let revision = Revision {
            number: new_number,
            reason: format!("Rolled back to revision {number}"),
            created_by: self.actor.username.clone(),
            created_at_ms: self.domain.now_ms(),
            job_id: None,
            ..old.clone()
        };
        // The file was verified when the revision was written.
        catalog
            .replace_file(
                &mut txn,
                &image,
                &file,
                &old.metadata,
                Some(old.created_at_ms),
            )
            .await?;
        revisions::insert(txn.conn(), image_id, &revision).await?;
        revisions::make_current(txn.conn(), image_id, new_number).await?;
        let same_base = before.base_path == old.base_path;
        boot_images::Entity::update_many()
            .col_expr(
                boot_images::Column::Customization,
                Expr::value(
                    serde_json::to_string(&old.recipe.customization)
                        .map_err(|e| Error::Internal(e.to_string()))?,
                ),
            )
            .col_expr(
                boot_images::Column::Shell,
                Expr::value(
                    old.recipe
                        .shell
                        .as_ref()
                        .map(serde_json::to_string)
                        .transpose()
                        .map_err(|e| Error::Internal(e.to_string()))?,
                ),
            )
            .col_expr(
                boot_images::Column::BasePath,
                Expr::value(old.base_path.display().to_string()),
            )
            .col_expr(
                boot_images::Column::BaseSha256,
                Expr::value(old.base_sha256.clone()),
            )
            .col_expr(
                boot_images::Column::RecipeVersion,
                Expr::col(boot_images::Column::RecipeVersion).add(1),
            )
            .filter(boot_images::Column::ImageId.eq(image_id))
            .exec(txn.conn())
            .await?;
        if !same_base {
            // What the older base contains is read again when next needed.
            boot_images::Entity::update_many()
                .col_expr(boot_images::Column::Facts, Expr::value(None::<String>))
                .filter(boot_images::Column::ImageId.eq(image_id))
                .exec(txn.conn())
                .await?;
        }
        boot_image_drivers::Entity::delete_many()
            .filter(boot_image_drivers::Column::ImageId.eq(image_id))
            .exec(txn.conn())
            .await?;
        let now = self.domain.now_ms();
        for driver in &old.recipe.drivers {
            boot_image_drivers::Entity::insert(boot_image_drivers::ActiveModel {
                image_id: Set(image_id),
                driver_id: Set(driver.id),
                added_by: Set(self.actor.username.clone()),
                added_at_ms: Set(now),
            })
            .exec_without_returning(txn.conn())
            .await?;
        }
        revisions::keep_newest(
            &mut txn,
            image_id,
            &old.base_path,
            self.domain.config().images.revisions_kept(),
        )
        .await?;
        catalog.release_previous(&mut txn, &image).await?;
        txn.allowed(
            self.actor,
            Operation::Modify,
            ObjectType::BootImage,
            (image_id, &checked.name),
            &[
                (
                    "revision",
                    json!(before.current_revision),
                    json!(new_number),
                ),
                ("rolled back to", Value::Null, json!(number)),
            ],
        )
        .await?;
        txn.commit().await?;
        Ok(new_number)
    }

    /// The Windows PE version of the image's source as it is now, beside the image's own (as
    /// the Update Distribution Points wizard shows them): a reload would bring the newer one.
    pub async fn source_version(&self, image_id: i64) -> Result<SourceVersion> {
        let image = self.checked(image_id, Operation::Read).await?;
        let in_image = image.os_version.clone().unwrap_or_default();
        if image.source_path.starts_with(sources::UPLOAD_PREFIX) {
            return Ok(SourceVersion {
                in_image,
                in_source: None,
                unreadable: Some(
                    "the image came from an upload, which is gone once imported".into(),
                ),
            });
        }
        let path =
            match sources::resolve_for(self.domain, Some(self.actor.user_id), &image.source_path)
                .await
            {
                Ok(path) => path,
                Err(e) => {
                    return Ok(SourceVersion {
                        in_image,
                        in_source: None,
                        unreadable: Some(e.to_string()),
                    });
                }
            };
        let backend = self.domain.wim_backend();
        let read = crate::wim::blocking(move || backend.inspect(&path, false)).await;
        let index = image.source_index.unwrap_or(1) as usize;
        Ok(match read {
            Ok(inspection) => SourceVersion {
                in_image,
                in_source: inspection
                    .images
                    .get(index.saturating_sub(1))
                    .and_then(|i| i.version)
                    .map(|v| v.to_string()),
                unreadable: None,
            },
            Err(e) => SourceVersion {
                in_image,
                in_source: None,
                unreadable: Some(e.to_string()),
            },
        })
    }

    /// Rebuilds the image from its source on a schedule (the Data source tab): a schedule of
    /// builds that reload the source, owned by this user, whose rights it checks each time it
    /// fires.
    pub async fn schedule_rebuild(&self, image_id: i64, spec: ScheduleSpec) -> Result<i64> {
        let image = self.checked(image_id, Operation::Modify).await?;
        self.jobs()
            .create_schedule(NewSchedule {
                name: format!("Rebuild \"{}\" from its source", image.name),
                kind: build::BUILD.to_owned(),
                params: json!(build::BuildParams {
                    image_id,
                    base: build::BaseChange::Reload,
                }),
                spec,
            })
            .await
    }

    /// The schedules that build this image (for users who may read jobs).
    pub async fn schedules(&self, image_id: i64) -> Result<Vec<Schedule>> {
        self.checked(image_id, Operation::Read).await?;
        Ok(self
            .jobs()
            .schedules()
            .await?
            .into_iter()
            .filter(|s| s.kind == build::BUILD && s.params["image_id"] == json!(image_id))
            .collect())
    }

    /// Whether default boot images are configured (`images.default_boot_sources`).
    pub fn defaults_configured(&self) -> bool {
        !self.domain.config().images.default_boot_sources.is_empty()
    }

    /// Queues the job that creates or regenerates the default boot images.
    pub async fn update_defaults(&self) -> Result<i64> {
        self.queue(NewJob::new(defaults::UPDATE_DEFAULTS, json!({})))
            .await
    }

    /// The boot images that can deploy an OS image, by the WDS rule: Windows PE of the same
    /// or a newer version than the OS image's Windows (and the same architecture). Only those
    /// this user may read.
    pub async fn for_os_image(&self, os_image_id: i64) -> Result<Vec<CatalogImage>> {
        let os = ActorCatalog::new(self.domain, self.actor)
            .get(ImageKind::Os, os_image_id)
            .await?;
        let Some(wanted) = os.inspection.images.first().and_then(|i| i.version) else {
            return Ok(Vec::new());
        };
        let boots = ActorCatalog::new(self.domain, self.actor)
            .list(ImageKind::Boot)
            .await?;
        Ok(boots
            .into_iter()
            .filter(|b| b.architecture == os.architecture || os.architecture.is_none())
            .filter(|b| {
                b.inspection
                    .images
                    .first()
                    .and_then(|i| i.version)
                    .is_some_and(|v| {
                        (v.major, v.minor, v.build) >= (wanted.major, wanted.minor, wanted.build)
                    })
            })
            .collect())
    }
}

/// What an admin gave, for display: an upload's file name, or the path's last part.
fn display_name(input: &str, path: &Path) -> String {
    if input.starts_with(sources::UPLOAD_PREFIX) {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| input.to_owned())
    } else {
        input.trim().to_owned()
    }
}

async fn background_asset(data_dir: &Path, name: &str, path: &Path) -> Result<Asset> {
    let (data, name, path) = (data_dir.to_path_buf(), name.to_owned(), path.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let size = std::fs::metadata(&path)?.len();
        if size > background::MAX_FILE_BYTES {
            return Err(Error::invalid(
                "background",
                format!(
                    "{name} has {size} bytes; a background may have at most {} MB",
                    background::MAX_FILE_BYTES >> 20
                ),
            ));
        }
        let jpeg = background::to_winpe_jpeg(&name, &std::fs::read(&path)?)?;
        assets::put_file(&data, &name, &jpeg)
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?
}

async fn folder_asset(data_dir: &Path, name: &str, path: &Path) -> Result<Asset> {
    let (data, name, path) = (data_dir.to_path_buf(), name.to_owned(), path.to_path_buf());
    tokio::task::spawn_blocking(move || assets::put_folder(&data, &name, &path))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
}
