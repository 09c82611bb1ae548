//! The drivers of a boot image: the list admins keep (the Drivers tab), and the job that
//! writes a revision of the image containing exactly that list.
//!
//! Every revision is built from the boot image as it was before any driver was added (its
//! base, kept beside it in the image store) plus the listed drivers, so removing a driver
//! simply builds a revision without it, and the image's source is never touched. Mechanism:
//! each driver's folder goes to `X:\Windows\Wimdeck\Drivers\NNN-<inf>` and `X:\Unattend.xml`
//! lists those folders for `wpeinit` (see [`super::unattend`]).

use std::collections::BTreeSet;

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
    sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    catalog::{CatalogDriver, DriverCatalog},
    inf::DriverArch,
    unattend,
};
use crate::{
    Actor, Config, Domain, Error, Result,
    audit::AuditedTxn,
    authz::{self, ObjectType, Operation},
    catalog::{Catalog, CatalogImage, ImageKind, kinds, store},
    db::entities::{boot_image_drivers, images},
    jobs::{BoxFuture, Completion, JobContext, JobError, JobKind, NewJob},
    wim::FileChange,
};

pub const APPLY_DRIVERS: &str = "boot-image-drivers";

/// A driver as a revision of a boot image contains it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InjectedDriver {
    pub id: i64,
    pub name: String,
    pub inf_name: String,
    pub version: String,
    pub content_hash: String,
    /// Its folder as Windows PE sees it (`X:\Windows\Wimdeck\Drivers\001-e1d`).
    pub folder: String,
}

/// The ids in an image's `injected_drivers` column.
pub(crate) fn injected_ids(json: &str) -> BTreeSet<i64> {
    parse_injected(json).iter().map(|d| d.id).collect()
}

pub(crate) fn parse_injected(json: &str) -> Vec<InjectedDriver> {
    serde_json::from_str(json).unwrap_or_default()
}

/// A driver on a boot image's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedDriver {
    pub driver: CatalogDriver,
    pub added_by: String,
    pub added_at_ms: i64,
    /// Whether the image's current file contains it.
    pub in_file: bool,
}

/// What the Drivers tab shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootImageDrivers {
    pub image_id: i64,
    pub architecture: Option<DriverArch>,
    pub listed: Vec<ListedDriver>,
    /// What the current file contains (may differ from the list until applied).
    pub injected: Vec<InjectedDriver>,
    /// The content revision that contains `injected` (`None`: no driver was ever applied).
    pub drivers_revision: Option<i32>,
    pub content_revision: i32,
    /// The list differs from what the file contains: applying would write a new revision.
    pub pending: bool,
}

fn image_architecture(image: &CatalogImage) -> Option<DriverArch> {
    match image.architecture.as_deref()? {
        "x86" => Some(DriverArch::X86),
        "amd64" => Some(DriverArch::Amd64),
        "arm64" => Some(DriverArch::Arm64),
        _ => None,
    }
}

/// Boot image driver lists, as the system uses them.
pub struct BootDrivers<'a> {
    domain: &'a Domain,
}

impl<'a> BootDrivers<'a> {
    pub(crate) fn new(domain: &'a Domain) -> Self {
        Self { domain }
    }

    async fn boot_image(&self, image_id: i64) -> Result<CatalogImage> {
        Catalog::new(self.domain)
            .get_kind(ImageKind::Boot, image_id)
            .await
    }

    async fn listed_ids(&self, image_id: i64) -> Result<Vec<boot_image_drivers::Model>> {
        Ok(boot_image_drivers::Entity::find()
            .filter(boot_image_drivers::Column::ImageId.eq(image_id))
            .order_by_asc(boot_image_drivers::Column::AddedAtMs)
            .order_by_asc(boot_image_drivers::Column::DriverId)
            .all(self.domain.db())
            .await?)
    }

    pub async fn show(&self, image_id: i64) -> Result<BootImageDrivers> {
        let image = self.boot_image(image_id).await?;
        let rows = self.listed_ids(image_id).await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.driver_id).collect();
        let drivers = DriverCatalog::new(self.domain).get_many(&ids).await?;
        let injected_hashes: BTreeSet<&str> = image
            .injected_drivers
            .iter()
            .map(|d| d.content_hash.as_str())
            .collect();
        let listed: Vec<ListedDriver> = drivers
            .into_iter()
            .zip(rows)
            .map(|(driver, row)| ListedDriver {
                in_file: injected_hashes.contains(driver.content_hash.as_str()),
                driver,
                added_by: row.added_by,
                added_at_ms: row.added_at_ms,
            })
            .collect();
        let listed_hashes: BTreeSet<&str> = listed
            .iter()
            .map(|l| l.driver.content_hash.as_str())
            .collect();
        let pending = listed_hashes != injected_hashes;
        Ok(BootImageDrivers {
            image_id,
            architecture: image_architecture(&image),
            pending,
            listed,
            injected: image.injected_drivers.clone(),
            drivers_revision: image.drivers_revision,
            content_revision: image.content_revision,
        })
    }

    /// How many drivers are on an image's list (read in `conn`'s transaction).
    pub(crate) async fn listed_in<C: ConnectionTrait>(
        &self,
        conn: &C,
        image_id: i64,
    ) -> Result<u64> {
        Ok(boot_image_drivers::Entity::find()
            .filter(boot_image_drivers::Column::ImageId.eq(image_id))
            .count(conn)
            .await?)
    }

    /// Adds drivers to the list (inside `conn`'s transaction); each must be enabled and
    /// support the image's architecture.
    async fn add_in<C: ConnectionTrait>(
        &self,
        conn: &C,
        image_id: i64,
        drivers: &[CatalogDriver],
        by: &str,
    ) -> Result<()> {
        let image = self.boot_image(image_id).await?;
        if !image.customizable() {
            return Err(Error::invalid(
                "image",
                format!(
                    "\"{}\" is Windows PE {}; Wimdeck adds drivers to Windows PE 10 boot images only",
                    image.name,
                    image
                        .winpe_release
                        .as_deref()
                        .unwrap_or("of an unknown release")
                ),
            ));
        }
        let arch = image_architecture(&image).ok_or_else(|| {
            Error::invalid(
                "image",
                format!("the architecture of \"{}\" is unknown", image.name),
            )
        })?;
        for driver in drivers {
            if !driver.enabled {
                return Err(Error::invalid(
                    "drivers",
                    format!(
                        "\"{}\" is disabled in the catalog; enable it first",
                        driver.name
                    ),
                ));
            }
            if !driver.supports(arch) {
                return Err(Error::invalid(
                    "drivers",
                    format!(
                        "\"{}\" is for {}; \"{}\" is a {} boot image",
                        driver.name,
                        driver
                            .architectures
                            .iter()
                            .map(|a| a.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        image.name,
                        arch.as_str()
                    ),
                ));
            }
        }
        let listed: BTreeSet<i64> = boot_image_drivers::Entity::find()
            .filter(boot_image_drivers::Column::ImageId.eq(image_id))
            .all(conn)
            .await?
            .into_iter()
            .map(|r| r.driver_id)
            .collect();
        let now = self.domain.now_ms();
        for driver in drivers.iter().filter(|d| !listed.contains(&d.id)) {
            boot_image_drivers::Entity::insert(boot_image_drivers::ActiveModel {
                image_id: Set(image_id),
                driver_id: Set(driver.id),
                added_by: Set(by.to_owned()),
                added_at_ms: Set(now),
            })
            .exec_without_returning(conn)
            .await?;
        }
        Ok(())
    }

    async fn remove_in<C: ConnectionTrait>(
        &self,
        conn: &C,
        image_id: i64,
        driver_ids: &[i64],
    ) -> Result<()> {
        boot_image_drivers::Entity::delete_many()
            .filter(boot_image_drivers::Column::ImageId.eq(image_id))
            .filter(boot_image_drivers::Column::DriverId.is_in(driver_ids.to_vec()))
            .exec(conn)
            .await?;
        Ok(())
    }

    /// The job that writes the list into a new revision.
    pub(crate) fn apply_job(image_id: i64) -> NewJob {
        NewJob::new(APPLY_DRIVERS, json!({ "image_id": image_id }))
    }
}

/// Boot image driver lists, with one user's rights.
pub struct ActorBootDrivers<'a> {
    inner: BootDrivers<'a>,
    domain: &'a Domain,
    actor: &'a Actor,
}

impl<'a> ActorBootDrivers<'a> {
    pub(crate) fn new(domain: &'a Domain, actor: &'a Actor) -> Self {
        Self {
            inner: BootDrivers::new(domain),
            domain,
            actor,
        }
    }

    /// The boot image, after checking `operation` on it.
    async fn checked(&self, image_id: i64, operation: Operation) -> Result<CatalogImage> {
        crate::catalog::ActorCatalog::new(self.domain, self.actor)
            .checked(ImageKind::Boot, image_id, operation)
            .await
    }

    /// Whether this user may change the driver list of this boot image.
    pub async fn may_edit(&self, image_id: i64) -> Result<bool> {
        let scopes = authz::scopes::of(self.domain.db(), ObjectType::BootImage, image_id).await?;
        Ok(self
            .actor
            .may(ObjectType::BootImage, Operation::Modify, &scopes))
    }

    pub async fn show(&self, image_id: i64) -> Result<BootImageDrivers> {
        self.actor.require(ObjectType::Driver, Operation::Read)?;
        self.checked(image_id, Operation::Read).await?;
        self.inner.show(image_id).await
    }

    /// Adds drivers to the list. Each must be one this user may read (its package in their
    /// scopes): a Lab admin cannot put a Production package's driver into an image.
    pub async fn add(&self, image_id: i64, driver_ids: &[i64]) -> Result<()> {
        self.actor.require(ObjectType::Driver, Operation::Read)?;
        let image = self.checked(image_id, Operation::Modify).await?;
        let readable = crate::drivers::catalog::ActorDrivers::new(self.domain, self.actor);
        let mut drivers = Vec::new();
        for id in driver_ids {
            drivers.push(readable.checked(*id, Operation::Read).await?);
        }
        let txn = AuditedTxn::begin(self.domain).await?;
        self.inner
            .add_in(txn.conn(), image_id, &drivers, &self.actor.username)
            .await?;
        let changes = [("drivers added", json!(null), json!(driver_ids))];
        self.commit(txn, &image, &changes).await
    }

    pub async fn remove(&self, image_id: i64, driver_ids: &[i64]) -> Result<()> {
        let image = self.checked(image_id, Operation::Modify).await?;
        let txn = AuditedTxn::begin(self.domain).await?;
        self.inner
            .remove_in(txn.conn(), image_id, driver_ids)
            .await?;
        let changes = [("drivers removed", json!(driver_ids), json!(null))];
        self.commit(txn, &image, &changes).await
    }

    /// Queues the job that writes the list into a new revision of the image.
    pub async fn apply(&self, image_id: i64) -> Result<i64> {
        // What it takes is the job kind's to say, as for a retry or a schedule.
        crate::jobs::ActorJobs::new(self.domain, self.actor)
            .queue_authorized(BootDrivers::apply_job(image_id), Vec::new())
            .await
    }

    /// Records a change this user made to a boot image's drivers, and commits it.
    async fn commit(
        &self,
        mut txn: AuditedTxn,
        image: &CatalogImage,
        changes: &[(&str, serde_json::Value, serde_json::Value)],
    ) -> Result<()> {
        txn.allowed(
            self.actor,
            Operation::Modify,
            ObjectType::BootImage,
            (image.id, &image.name),
            changes,
        )
        .await?;
        txn.commit().await
    }
}

/// Records that an image's file is a new base without drivers (a regenerated default boot
/// image); its list stays, to be applied again.
pub(crate) async fn forget_injection<C: sea_orm::ConnectionTrait>(
    db: &C,
    image_id: i64,
) -> Result<()> {
    images::Entity::update_many()
        .col_expr(images::Column::BaseFilePath, Expr::value(None::<String>))
        .col_expr(images::Column::InjectedDrivers, Expr::value("[]"))
        .col_expr(images::Column::DriversRevision, Expr::value(None::<i32>))
        .filter(images::Column::Id.eq(image_id))
        .exec(db)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ApplyParams {
    image_id: i64,
}

/// Writes a revision of a boot image: its base plus the listed drivers.
pub struct ApplyDrivers;

impl JobKind for ApplyDrivers {
    fn name(&self) -> &'static str {
        APPLY_DRIVERS
    }

    fn label(&self) -> &'static str {
        "Apply boot image drivers"
    }

    fn retry_safe(&self) -> bool {
        true
    }

    fn validate(&self, params: Value, _config: &Config) -> Result<Value> {
        let p: ApplyParams =
            serde_json::from_value(params).map_err(|e| Error::invalid("params", e.to_string()))?;
        serde_json::to_value(p).map_err(|e| Error::Internal(e.to_string()))
    }

    fn describe(&self, _params: &Value) -> String {
        String::new()
    }

    fn holds<'a>(
        &'a self,
        _domain: &'a Domain,
        conn: &'a sea_orm::DatabaseTransaction,
        params: &'a Value,
    ) -> BoxFuture<'a, Result<Vec<crate::jobs::JobTarget>>> {
        Box::pin(async move {
            let p: ApplyParams = serde_json::from_value(params.clone())
                .map_err(|e| Error::invalid("params", e.to_string()))?;
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
    ) -> BoxFuture<'a, Result<crate::jobs::JobGrant>> {
        Box::pin(async move {
            let p: ApplyParams = serde_json::from_value(params.clone())
                .map_err(|e| Error::invalid("params", e.to_string()))?;
            let image = crate::catalog::ActorCatalog::new(domain, actor)
                .checked(ImageKind::Boot, p.image_id, Operation::Modify)
                .await?;
            Ok(crate::jobs::JobGrant::new(
                Operation::Modify,
                ObjectType::BootImage,
                image.id,
                image.name,
            ))
        })
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, Result<Completion, JobError>> {
        Box::pin(async move {
            let p: ApplyParams = ctx.params()?;
            let domain = ctx.domain().clone();
            store::discard_job_outputs(&domain, ctx.job_id()).await?;
            let image = Catalog::new(&domain)
                .get_kind(ImageKind::Boot, p.image_id)
                .await?;
            let base = image
                .base_file_path
                .clone()
                .unwrap_or_else(|| image.file_path.clone());
            if !base.is_file() {
                return Err(JobError::Failed(format!(
                    "{} (the boot image without drivers) does not exist",
                    base.display()
                )));
            }
            let arch = image_architecture(&image).ok_or_else(|| {
                JobError::Failed(format!("the architecture of \"{}\" is unknown", image.name))
            })?;
            let shown = BootDrivers::new(&domain).show(image.id).await?;
            let drivers: Vec<CatalogDriver> = shown.listed.into_iter().map(|l| l.driver).collect();
            for d in &drivers {
                if !d.supports(arch) {
                    return Err(JobError::Failed(format!(
                        "\"{}\" does not support {}",
                        d.name,
                        arch.as_str()
                    )));
                }
                if !d.store_path.is_dir() {
                    return Err(JobError::Failed(format!(
                        "the files of \"{}\" are missing from the driver store ({})",
                        d.name,
                        d.store_path.display()
                    )));
                }
            }

            let injected: Vec<InjectedDriver> = drivers
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let stem = d
                        .inf_name
                        .rsplit_once('.')
                        .map(|(s, _)| s)
                        .unwrap_or(&d.inf_name);
                    let folder = format!("{:03}-{}", i + 1, sanitize(stem));
                    InjectedDriver {
                        id: d.id,
                        name: d.name.clone(),
                        inf_name: d.inf_name.clone(),
                        version: d.version.clone(),
                        content_hash: d.content_hash.clone(),
                        folder: format!(r"{}\{folder}", unattend::DRIVERS_DIR_IN_PE),
                    }
                })
                .collect();

            let output = store::new_store_path(&domain, ImageKind::Boot, &image.name)?;
            let work = domain
                .config()
                .work_dir()
                .join(format!("drivers-{}", ctx.job_id()));
            crate::drivers::catalog::remove_store_dir(&work)?;
            std::fs::create_dir_all(&work)?;
            let result =
                write_revision(ctx, &base, arch, &drivers, &injected, &work, &output).await;
            let _ = crate::drivers::catalog::remove_store_dir(&work);
            let (pending, inspection) = result?;

            ctx.info(format!(
                "Wrote {} with {} driver(s) ({} bytes)",
                output.display(),
                injected.len(),
                inspection.file.size_bytes
            ));
            let effect_domain = domain.clone();
            let author = ctx.author();
            let new_path = output.clone();
            let base_for_row = base.clone();
            let injected_json =
                serde_json::to_string(&injected).map_err(|e| JobError::Failed(e.to_string()))?;
            let count = injected.len();
            let injected_ids: BTreeSet<i64> = injected.iter().map(|d| d.id).collect();
            let job_id = ctx.job_id();
            let image_id = image.id;
            let effect: crate::jobs::Effect = Box::new(move |txn| {
                Box::pin(async move {
                    let catalog = Catalog::new(&effect_domain);
                    // A driver deleted while the job wrote it in is not recorded as injected.
                    let ids: Vec<i64> = injected_ids.into_iter().collect();
                    use crate::db::entities::drivers as driver_rows;
                    let present = driver_rows::Entity::find()
                        .filter(driver_rows::Column::Id.is_in(ids.clone()))
                        .count(txn.conn())
                        .await?;
                    if present != ids.len() as u64 {
                        return Err(Error::Conflict(
                            "a driver in the list was deleted while this job ran; apply the list again"
                                .into(),
                        ));
                    }
                    catalog
                        .replace_file(txn, &image, &new_path, &inspection)
                        .await?;
                    let row = images::Entity::find_by_id(image_id)
                        .one(txn.conn())
                        .await?
                        .ok_or_else(|| Error::NotFound(format!("image {image_id}")))?;
                    images::Entity::update_many()
                        .col_expr(
                            images::Column::BaseFilePath,
                            Expr::value(base_for_row.display().to_string()),
                        )
                        .col_expr(images::Column::InjectedDrivers, Expr::value(injected_json))
                        .col_expr(
                            images::Column::DriversRevision,
                            Expr::value(row.content_revision),
                        )
                        .filter(images::Column::Id.eq(image_id))
                        .exec(txn.conn())
                        .await?;
                    // The previous revision goes; the base stays (the row names it).
                    catalog.release_previous(txn, &image).await?;
                    store::settle(txn.conn(), pending).await?;
                    txn.record(&author.entry(
                        Operation::Modify,
                        ObjectType::BootImage,
                        (image_id, &image.name),
                        &[
                            ("file", json!(image.file_path), json!(new_path)),
                            ("drivers", Value::Null, json!(count)),
                        ],
                    ))
                    .await?;
                    kinds::set_result(
                        txn.conn(),
                        job_id,
                        json!({
                            "drivers": count,
                            "revision": row.content_revision,
                            "url": format!("/boot-images/{image_id}?tab=drivers"),
                        }),
                    )
                    .await
                })
            });
            let abort_domain = domain.clone();
            Ok(Completion::new(json!({}))
                .with_effect(effect)
                .on_abort(move || async move {
                    if let Err(e) = store::discard(abort_domain.db(), pending, &output).await {
                        tracing::warn!("removing {} failed: {e}", output.display());
                    }
                }))
        })
    }
}

/// A folder name from an INF's name: letters, digits, `-`, `_`, `.` kept.
fn sanitize(stem: &str) -> String {
    let clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    if clean.is_empty() {
        "driver".into()
    } else {
        clean
    }
}

/// Builds the answer file and writes `base` + drivers + answer file to `output`.
async fn write_revision(
    ctx: &JobContext,
    base: &std::path::Path,
    arch: DriverArch,
    drivers: &[CatalogDriver],
    injected: &[InjectedDriver],
    work: &std::path::Path,
    output: &std::path::Path,
) -> Result<(i64, crate::wim::WimInspection), JobError> {
    let domain = ctx.domain();
    ctx.progress()
        .set_phase("Reading the boot image's answer file");
    let from = base.to_path_buf();
    let into = work.join("existing");
    std::fs::create_dir_all(&into)?;
    let found = kinds::engine(domain, move |wim| {
        wim.extract_paths(&from, 1, &["/Unattend.xml"], &into)
    })
    .await
    .map_err(|e| JobError::Failed(e.to_string()))?;
    let paths: Vec<String> = injected.iter().map(|d| d.folder.clone()).collect();
    let answer = if found.is_empty() {
        unattend::new_answer_file(arch.as_str(), &paths)
    } else {
        let existing = std::fs::read(work.join("existing").join("Unattend.xml"))?;
        let text = crate::drivers::inf::decode(&existing).map_err(|e| {
            JobError::Failed(format!(
                "X:\\Unattend.xml in {} cannot be read: {e}",
                base.display()
            ))
        })?;
        ctx.info("The boot image has an X:\\Unattend.xml: adding the driver paths to it");
        unattend::merge_answer_file(&text, arch.as_str(), &paths).map_err(|e| {
            JobError::Failed(format!(
                "X:\\Unattend.xml in {} cannot be used: {e}",
                base.display()
            ))
        })?
    };
    let answer_path = work.join("Unattend.xml");
    std::fs::write(&answer_path, answer)?;

    let mut changes: Vec<FileChange> = drivers
        .iter()
        .zip(injected)
        .map(|(d, i)| FileChange::Add {
            source: d.store_path.clone(),
            target: format!(
                "{}/{}",
                unattend::DRIVERS_DIR,
                i.folder.rsplit('\\').next().unwrap_or_default()
            ),
        })
        .collect();
    changes.push(FileChange::Add {
        source: answer_path,
        target: "/Unattend.xml".into(),
    });
    if drivers.is_empty() {
        // No drivers: the answer file as it was (or none), nothing else.
        changes.clear();
        if !found.is_empty() {
            changes.push(FileChange::Add {
                source: work.join("existing").join("Unattend.xml"),
                target: "/Unattend.xml".into(),
            });
        }
    }
    ctx.info(format!(
        "Writing {} driver folder(s) and X:\\Unattend.xml into a copy of {}",
        drivers.len(),
        base.display()
    ));
    let from = base.to_path_buf();
    kinds::write_output(ctx, output, move |wim, out, watch| {
        wim.apply_changes(&from, 1, &changes, out, watch)
    })
    .await
}
