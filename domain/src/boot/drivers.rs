//! The drivers of a boot image's recipe: the list admins keep on the Drivers tab. Changing
//! the list changes the recipe; a build writes a revision containing exactly the list (each
//! driver's folder under `X:\Windows\Wimdeck\Drivers`, installed by `wpeinit` through
//! `X:\Unattend.xml`: see [`super::unattend`]).

use std::collections::BTreeSet;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;
use serde_json::json;

use super::{BootImages, RecipeDriver, build, checks, revisions};
use crate::{
    Actor, Domain, Error, Result,
    audit::AuditedTxn,
    authz::{self, ObjectType, Operation},
    catalog::{ActorCatalog, CatalogImage, ImageKind},
    db::entities::boot_image_drivers,
    drivers::{
        catalog::{ActorDrivers, CatalogDriver, DriverCatalog},
        inf::DriverArch,
    },
};

/// A driver on a boot image's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedDriver {
    pub driver: CatalogDriver,
    pub added_by: String,
    pub added_at_ms: i64,
    /// Whether the current revision contains it.
    pub in_file: bool,
}

/// What the Drivers tab shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootImageDrivers {
    pub image_id: i64,
    pub architecture: Option<DriverArch>,
    pub listed: Vec<ListedDriver>,
    /// What the current revision contains (may differ from the list until built).
    pub in_file: Vec<RecipeDriver>,
    pub current_revision: i32,
    /// The list differs from what the current revision contains: a build would write a new
    /// revision.
    pub pending: bool,
}

fn driver_arch(image: &CatalogImage) -> Option<DriverArch> {
    match checks::architecture(image).ok()? {
        "x86" => Some(DriverArch::X86),
        "amd64" => Some(DriverArch::Amd64),
        _ => Some(DriverArch::Arm64),
    }
}

async fn rows<C: ConnectionTrait>(
    conn: &C,
    image_id: i64,
) -> Result<Vec<boot_image_drivers::Model>> {
    Ok(boot_image_drivers::Entity::find()
        .filter(boot_image_drivers::Column::ImageId.eq(image_id))
        .order_by_asc(boot_image_drivers::Column::AddedAtMs)
        .order_by_asc(boot_image_drivers::Column::DriverId)
        .all(conn)
        .await?)
}

impl BootImages<'_> {
    pub async fn drivers(&self, image_id: i64) -> Result<BootImageDrivers> {
        let image = self.image(image_id).await?;
        let state = self.state(&image).await?;
        let current = revisions::get(self.domain.db(), &image, state.current_revision).await?;
        let rows = rows(self.domain.db(), image_id).await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.driver_id).collect();
        let drivers = DriverCatalog::new(self.domain).get_many(&ids).await?;
        let in_file: BTreeSet<&str> = current
            .recipe
            .drivers
            .iter()
            .map(|d| d.content_hash.as_str())
            .collect();
        let listed: Vec<ListedDriver> = drivers
            .into_iter()
            .zip(rows)
            .map(|(driver, row)| ListedDriver {
                in_file: in_file.contains(driver.content_hash.as_str()),
                driver,
                added_by: row.added_by,
                added_at_ms: row.added_at_ms,
            })
            .collect();
        let listed_hashes: BTreeSet<&str> = listed
            .iter()
            .map(|l| l.driver.content_hash.as_str())
            .collect();
        Ok(BootImageDrivers {
            image_id,
            architecture: driver_arch(&image),
            pending: listed_hashes != in_file,
            listed,
            in_file: current.recipe.drivers.clone(),
            current_revision: current.number,
        })
    }
}

/// Refuses a user who may not read every driver of a recipe (a driver's package is in their
/// scopes): a recipe copied or taken back must not carry a driver its user could not add.
pub(crate) async fn require_readable(
    domain: &Domain,
    actor: &Actor,
    drivers: &[RecipeDriver],
) -> Result<()> {
    if drivers.is_empty() {
        return Ok(());
    }
    actor.require(ObjectType::Driver, Operation::Read)?;
    let readable = ActorDrivers::new(domain, actor);
    for driver in drivers {
        readable.checked(driver.id, Operation::Read).await?;
    }
    Ok(())
}

/// Boot image driver lists, with one user's rights.
pub struct ActorBootDrivers<'a> {
    domain: &'a Domain,
    actor: &'a Actor,
}

impl<'a> ActorBootDrivers<'a> {
    pub(crate) fn new(domain: &'a Domain, actor: &'a Actor) -> Self {
        Self { domain, actor }
    }

    async fn checked(&self, image_id: i64, operation: Operation) -> Result<CatalogImage> {
        ActorCatalog::new(self.domain, self.actor)
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
        BootImages::new(self.domain).drivers(image_id).await
    }

    /// Adds drivers to the list. Each must be one this user may read (its package in their
    /// scopes), enabled, and for the image's architecture: a Lab admin cannot put a
    /// Production package's driver into an image.
    pub async fn add(&self, image_id: i64, driver_ids: &[i64]) -> Result<()> {
        self.actor.require(ObjectType::Driver, Operation::Read)?;
        let image = self.checked(image_id, Operation::Modify).await?;
        checks::customizable(&image).map_err(|e| Error::invalid("image", e))?;
        let arch = driver_arch(&image).ok_or_else(|| {
            Error::invalid(
                "image",
                checks::architecture(&image).err().unwrap_or_default(),
            )
        })?;
        let readable = ActorDrivers::new(self.domain, self.actor);
        let mut drivers = Vec::new();
        for id in driver_ids {
            drivers.push(readable.checked(*id, Operation::Read).await?);
        }
        for driver in &drivers {
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
        let mut txn = AuditedTxn::begin(self.domain).await?;
        BootImages::new(self.domain)
            .ensure_in(&mut txn, &image)
            .await?;
        let listed: BTreeSet<i64> = rows(txn.conn(), image_id)
            .await?
            .into_iter()
            .map(|r| r.driver_id)
            .collect();
        let now = self.domain.now_ms();
        for driver in drivers.iter().filter(|d| !listed.contains(&d.id)) {
            boot_image_drivers::Entity::insert(boot_image_drivers::ActiveModel {
                image_id: Set(image_id),
                driver_id: Set(driver.id),
                added_by: Set(self.actor.username.clone()),
                added_at_ms: Set(now),
            })
            .exec_without_returning(txn.conn())
            .await?;
        }
        super::bump_recipe_in(txn.conn(), image_id).await?;
        let changes = [("drivers added", json!(null), json!(driver_ids))];
        self.commit(txn, &image, &changes).await
    }

    pub async fn remove(&self, image_id: i64, driver_ids: &[i64]) -> Result<()> {
        let image = self.checked(image_id, Operation::Modify).await?;
        let mut txn = AuditedTxn::begin(self.domain).await?;
        BootImages::new(self.domain)
            .ensure_in(&mut txn, &image)
            .await?;
        boot_image_drivers::Entity::delete_many()
            .filter(boot_image_drivers::Column::ImageId.eq(image_id))
            .filter(boot_image_drivers::Column::DriverId.is_in(driver_ids.to_vec()))
            .exec(txn.conn())
            .await?;
        super::bump_recipe_in(txn.conn(), image_id).await?;
        let changes = [("drivers removed", json!(driver_ids), json!(null))];
        self.commit(txn, &image, &changes).await
    }

    /// Queues the build that writes the list (and the rest of the recipe) into a new
    /// revision.
    pub async fn apply(&self, image_id: i64) -> Result<i64> {
        // What it takes is the job kind's to say, as for a retry or a schedule.
        crate::jobs::ActorJobs::new(self.domain, self.actor)
            .queue_authorized(build::job(image_id, build::BaseChange::Keep), Vec::new())
            .await
    }

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
