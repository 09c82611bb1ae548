//! The driver catalog: one entry per distinct driver (by content hash), the package it came
//! in, its categories, whether it is enabled, and the boot images that use it. The files of
//! each driver live in the driver store, `<data_dir>/drivers/store/<content hash>/`, laid out
//! as beside its INF.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
    sea_query::{Expr, ExprTrait, Func, LikeExpr},
};
use serde::{Deserialize, Serialize};

use super::{analyze::HardwareId, inf::DriverArch, signing::Signature};
use crate::{
    Actor, Domain, Error, Result,
    audit::AuditedTxn,
    authz::{self, ObjectType, Operation},
    db::entities::{boot_image_drivers, driver_categories, driver_packages, drivers, images},
};

/// Device classes Windows PE needs drivers of to reach the network and the disks: network
/// adapters and storage controllers (SCSI/RAID/NVMe, IDE/SATA, SD/eMMC hosts).
pub const BOOT_CRITICAL_CLASSES: [&str; 4] = ["Net", "SCSIAdapter", "HDC", "SDHost"];

/// Whether drivers of `class` belong in a boot image by default.
pub fn is_boot_critical_class(class: &str) -> bool {
    BOOT_CRITICAL_CLASSES
        .iter()
        .any(|c| c.eq_ignore_ascii_case(class))
}

/// A driver in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogDriver {
    pub id: i64,
    pub name: String,
    pub inf_name: String,
    pub class: String,
    pub class_guid: Option<String>,
    pub provider: String,
    pub version: String,
    /// `yyyy-mm-dd`.
    pub date: Option<String>,
    pub architectures: Vec<DriverArch>,
    pub hardware_ids: Vec<HardwareId>,
    /// Relative to the INF's folder.
    pub files: Vec<String>,
    pub size_bytes: u64,
    pub store_path: PathBuf,
    pub signature: Signature,
    pub enabled: bool,
    pub categories: Vec<String>,
    pub package_id: i64,
    pub content_hash: String,
    pub row_version: i32,
    pub created_by: String,
    pub created_at_ms: i64,
}

impl CatalogDriver {
    pub fn is_boot_critical(&self) -> bool {
        is_boot_critical_class(&self.class)
    }

    pub fn supports(&self, architecture: DriverArch) -> bool {
        self.architectures.contains(&architecture)
    }

    fn from_model(m: drivers::Model, categories: Vec<String>) -> Result<Self> {
        let json = |what: &str, e: serde_json::Error| {
            Error::Internal(format!("driver {} has unreadable {what}: {e}", m.id))
        };
        let architectures = m
            .architectures
            .split(',')
            .filter(|a| !a.is_empty())
            .filter_map(|a| serde_json::from_value(serde_json::Value::String(a.into())).ok())
            .collect();
        let signature = match (m.signed, &m.signer) {
            (true, Some(signer)) => Signature::Signed {
                signer: signer.clone(),
                catalog: m.signature_detail.clone().unwrap_or_default(),
            },
            _ => Signature::Unsigned {
                reason: m.signature_detail.clone().unwrap_or_default(),
            },
        };
        Ok(Self {
            hardware_ids: serde_json::from_str(&m.hardware_ids)
                .map_err(|e| json("hardware IDs", e))?,
            files: serde_json::from_str(&m.files).map_err(|e| json("files", e))?,
            id: m.id,
            name: m.name,
            inf_name: m.inf_name,
            class: m.class,
            class_guid: m.class_guid,
            provider: m.provider,
            version: m.version,
            date: m.driver_date,
            architectures,
            size_bytes: u64::try_from(m.size_bytes).unwrap_or_default(),
            store_path: PathBuf::from(m.store_path),
            signature,
            enabled: m.enabled,
            categories,
            package_id: m.package_id,
            content_hash: m.content_hash,
            row_version: m.row_version,
            created_by: m.created_by,
            created_at_ms: m.created_at_ms,
        })
    }
}

/// Narrows a driver list; every field set must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DriverFilter {
    /// Matched, ignoring case, against name, provider, INF name, class and hardware IDs.
    pub text: Option<String>,
    pub class: Option<String>,
    pub architecture: Option<DriverArch>,
    pub category: Option<String>,
    pub signed: Option<bool>,
    pub enabled: Option<bool>,
    pub package_id: Option<i64>,
    /// Only network and storage drivers ([`BOOT_CRITICAL_CLASSES`]).
    pub boot_critical: bool,
    /// At most this many (default 200, at most 1000).
    pub limit: Option<u64>,
}

/// One page of a filtered list, and how many match in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriverPage {
    pub drivers: Vec<CatalogDriver>,
    pub total: u64,
}

/// A package as imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriverPackageInfo {
    pub id: i64,
    pub name: String,
    pub source: String,
    pub format: String,
    pub driver_count: i32,
    pub rejected_count: i32,
    pub job_id: Option<i64>,
    pub imported_by: String,
    pub imported_at_ms: i64,
}

impl From<driver_packages::Model> for DriverPackageInfo {
    fn from(p: driver_packages::Model) -> Self {
        Self {
            id: p.id,
            name: p.name,
            source: p.source,
            format: p.format,
            driver_count: p.driver_count,
            rejected_count: p.rejected_count,
            job_id: p.job_id,
            imported_by: p.imported_by,
            imported_at_ms: p.imported_at_ms,
        }
    }
}

/// A boot image that uses a driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriverUser {
    pub image_id: i64,
    pub image_name: String,
}

/// Where the driver store is.
pub fn drivers_dir(domain: &Domain) -> PathBuf {
    domain.config().data_dir.join("drivers")
}

pub(crate) fn store_root(domain: &Domain) -> PathBuf {
    drivers_dir(domain).join("store")
}

pub(crate) fn staging_root(domain: &Domain) -> PathBuf {
    drivers_dir(domain).join(".staging")
}

/// `LIKE` pattern matching `text` anywhere, with `%`, `_` and `\` taken literally.
fn contains_pattern(text: &str) -> LikeExpr {
    let escaped: String = text
        .to_lowercase()
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

/// A category name: trimmed, 1–64 characters, no control characters.
pub fn validate_category(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "categories",
            format!(
                "\"{}\" is not a category name (1–64 characters)",
                name.escape_debug()
            ),
        ));
    }
    Ok(name.to_owned())
}

/// The driver catalog, as the system uses it (no permission checks).
pub struct DriverCatalog<'a> {
    domain: &'a Domain,
}

impl<'a> DriverCatalog<'a> {
    pub(crate) fn new(domain: &'a Domain) -> Self {
        Self { domain }
    }

    pub async fn list(&self, filter: &DriverFilter) -> Result<DriverPage> {
        self.list_within(filter, None).await
    }

    /// As [`DriverCatalog::list`], limited to the drivers of `packages` when given.
    pub(crate) async fn list_within(
        &self,
        filter: &DriverFilter,
        packages: Option<&[i64]>,
    ) -> Result<DriverPage> {
        let mut query = drivers::Entity::find();
        if let Some(packages) = packages {
            query = query.filter(drivers::Column::PackageId.is_in(packages.to_vec()));
        }
        if let Some(text) = filter
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            query =
                query.filter(Expr::col(drivers::Column::SearchText).like(contains_pattern(text)));
        }
        if let Some(class) = filter.class.as_deref().filter(|c| !c.is_empty()) {
            query = query.filter(
                Expr::expr(Func::lower(Expr::col(drivers::Column::Class)))
                    .eq(Expr::val(class.to_lowercase())),
            );
        }
        if filter.boot_critical {
            query = query.filter(
                Expr::expr(Func::lower(Expr::col(drivers::Column::Class)))
                    .is_in(BOOT_CRITICAL_CLASSES.map(str::to_lowercase)),
            );
        }
        if let Some(arch) = filter.architecture {
            query =
                query.filter(drivers::Column::Architectures.like(format!("%,{},%", arch.as_str())));
        }
        if let Some(signed) = filter.signed {
            query = query.filter(drivers::Column::Signed.eq(signed));
        }
        if let Some(enabled) = filter.enabled {
            query = query.filter(drivers::Column::Enabled.eq(enabled));
        }
        if let Some(package) = filter.package_id {
            query = query.filter(drivers::Column::PackageId.eq(package));
        }
        if let Some(category) = filter.category.as_deref().filter(|c| !c.is_empty()) {
            let ids: Vec<i64> = driver_categories::Entity::find()
                .filter(driver_categories::Column::Category.eq(category))
                .all(self.domain.db())
                .await?
                .into_iter()
                .map(|c| c.driver_id)
                .collect();
            query = query.filter(drivers::Column::Id.is_in(ids));
        }
        let total = query.clone().count(self.domain.db()).await?;
        let rows = query
            .order_by_asc(drivers::Column::Name)
            .order_by_asc(drivers::Column::Id)
            .limit(filter.limit.unwrap_or(200).clamp(1, 1000))
            .all(self.domain.db())
            .await?;
        Ok(DriverPage {
            drivers: self.with_categories(rows).await?,
            total,
        })
    }

    async fn with_categories(&self, rows: Vec<drivers::Model>) -> Result<Vec<CatalogDriver>> {
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut categories: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for c in driver_categories::Entity::find()
            .filter(driver_categories::Column::DriverId.is_in(ids))
            .order_by_asc(driver_categories::Column::Category)
            .all(self.domain.db())
            .await?
        {
            categories.entry(c.driver_id).or_default().push(c.category);
        }
        rows.into_iter()
            .map(|r| {
                let cats = categories.remove(&r.id).unwrap_or_default();
                CatalogDriver::from_model(r, cats)
            })
            .collect()
    }

    pub async fn get(&self, id: i64) -> Result<CatalogDriver> {
        let row = drivers::Entity::find_by_id(id)
            .one(self.domain.db())
            .await?
            .ok_or_else(|| Error::NotFound(format!("driver {id}")))?;
        self.with_categories(vec![row])
            .await?
            .pop()
            .ok_or_else(|| Error::NotFound(format!("driver {id}")))
    }

    /// The drivers with these ids, in the order given (missing ones left out).
    pub async fn get_many(&self, ids: &[i64]) -> Result<Vec<CatalogDriver>> {
        let rows = drivers::Entity::find()
            .filter(drivers::Column::Id.is_in(ids.to_vec()))
            .all(self.domain.db())
            .await?;
        let mut found: BTreeMap<i64, CatalogDriver> = self
            .with_categories(rows)
            .await?
            .into_iter()
            .map(|d| (d.id, d))
            .collect();
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    pub(crate) async fn find_by_hash<C: ConnectionTrait>(
        &self,
        db: &C,
        content_hash: &str,
    ) -> Result<Option<i64>> {
        Ok(drivers::Entity::find()
            .filter(drivers::Column::ContentHash.eq(content_hash))
            .one(db)
            .await?
            .map(|d| d.id))
    }

    /// Every category in use, sorted.
    pub async fn categories(&self) -> Result<Vec<String>> {
        let names: BTreeSet<String> = driver_categories::Entity::find()
            .all(self.domain.db())
            .await?
            .into_iter()
            .map(|c| c.category)
            .collect();
        Ok(names.into_iter().collect())
    }

    /// Every class in the catalog, sorted.
    pub async fn classes(&self) -> Result<Vec<String>> {
        let classes: BTreeSet<String> = drivers::Entity::find()
            .select_only()
            .column(drivers::Column::Class)
            .distinct()
            .into_tuple::<String>()
            .all(self.domain.db())
            .await?
            .into_iter()
            .collect();
        Ok(classes.into_iter().collect())
    }

    /// The latest 200 imports, newest first.
    pub async fn packages(&self) -> Result<Vec<DriverPackageInfo>> {
        Ok(driver_packages::Entity::find()
            .order_by_desc(driver_packages::Column::ImportedAtMs)
            .order_by_desc(driver_packages::Column::Id)
            .limit(200)
            .all(self.domain.db())
            .await?
            .into_iter()
            .map(DriverPackageInfo::from)
            .collect())
    }

    pub async fn package(&self, id: i64) -> Result<Option<DriverPackageInfo>> {
        Ok(driver_packages::Entity::find_by_id(id)
            .one(self.domain.db())
            .await?
            .map(DriverPackageInfo::from))
    }

    /// The boot images whose driver list (recipe) has the driver.
    pub async fn users(&self, id: i64) -> Result<Vec<DriverUser>> {
        users_in(self.domain.db(), id).await
    }

    /// Changes one driver's row when `expected_row_version` is current.
    async fn update<C: ConnectionTrait>(
        &self,
        conn: &C,
        id: i64,
        expected_row_version: i32,
        change: impl FnOnce(&mut drivers::ActiveModel),
    ) -> Result<()> {
        let mut model = drivers::ActiveModel {
            row_version: Set(expected_row_version + 1),
            updated_at_ms: Set(self.domain.now_ms()),
            ..Default::default()
        };
        change(&mut model);
        let done = drivers::Entity::update_many()
            .set(model)
            .filter(drivers::Column::Id.eq(id))
            .filter(drivers::Column::RowVersion.eq(expected_row_version))
            .exec(conn)
            .await?;
        if done.rows_affected == 1 {
            return Ok(());
        }
        self.get(id).await?;
        Err(Error::Conflict(
            "the driver was changed by someone else; reload it and try again".into(),
        ))
    }

    async fn set_enabled_in<C: ConnectionTrait>(
        &self,
        conn: &C,
        id: i64,
        enabled: bool,
        expected_row_version: i32,
    ) -> Result<()> {
        self.update(conn, id, expected_row_version, |m| m.enabled = Set(enabled))
            .await
    }

    /// Replaces a driver's categories (inside `txn`).
    async fn set_categories_in(
        &self,
        txn: &DatabaseTransaction,
        id: i64,
        categories: &[String],
        expected_row_version: i32,
    ) -> Result<()> {
        let categories: BTreeSet<String> = categories
            .iter()
            .map(|c| validate_category(c))
            .collect::<Result<_>>()?;
        let done = drivers::Entity::update_many()
            .col_expr(
                drivers::Column::RowVersion,
                Expr::value(expected_row_version + 1),
            )
            .col_expr(
                drivers::Column::UpdatedAtMs,
                Expr::value(self.domain.now_ms()),
            )
            .filter(drivers::Column::Id.eq(id))
            .filter(drivers::Column::RowVersion.eq(expected_row_version))
            .exec(txn)
            .await?;
        if done.rows_affected != 1 {
            self.get(id).await?;
            return Err(Error::Conflict(
                "the driver was changed by someone else; reload it and try again".into(),
            ));
        }
        driver_categories::Entity::delete_many()
            .filter(driver_categories::Column::DriverId.eq(id))
            .exec(txn)
            .await?;
        add_categories(txn, &[id], &categories).await?;
        Ok(())
    }

    /// Deletes a driver no boot image uses (inside `txn`); returns its store folder, to remove
    /// after the commit.
    async fn delete_in(
        &self,
        txn: &DatabaseTransaction,
        id: i64,
        expected_row_version: i32,
    ) -> Result<PathBuf> {
        let driver = self.get(id).await?;
        driver_categories::Entity::delete_many()
            .filter(driver_categories::Column::DriverId.eq(id))
            .exec(txn)
            .await?;
        let done = drivers::Entity::delete_many()
            .filter(drivers::Column::Id.eq(id))
            .filter(drivers::Column::RowVersion.eq(expected_row_version))
            .exec(txn)
            .await?;
        if done.rows_affected != 1 {
            return Err(Error::Conflict(
                "the driver was changed by someone else; reload it and try again".into(),
            ));
        }
        Ok(driver.store_path)
    }
}

/// [`DriverCatalog::users`], read through `conn`.
async fn users_in<C: ConnectionTrait>(conn: &C, id: i64) -> Result<Vec<DriverUser>> {
    let listed: BTreeSet<i64> = boot_image_drivers::Entity::find()
        .filter(boot_image_drivers::Column::DriverId.eq(id))
        .all(conn)
        .await?
        .into_iter()
        .map(|r| r.image_id)
        .collect();
    let mut users = Vec::new();
    for image in images::Entity::find()
        .order_by_asc(images::Column::Name)
        .all(conn)
        .await?
    {
        if listed.contains(&image.id) {
            users.push(DriverUser {
                image_id: image.id,
                image_name: image.name,
            });
        }
    }
    Ok(users)
}

pub(crate) async fn add_categories<C: ConnectionTrait>(
    db: &C,
    driver_ids: &[i64],
    categories: &BTreeSet<String>,
) -> Result<()> {
    for id in driver_ids {
        for category in categories {
            let exists = driver_categories::Entity::find_by_id((*id, category.clone()))
                .one(db)
                .await?
                .is_some();
            if !exists {
                driver_categories::Entity::insert(driver_categories::ActiveModel {
                    driver_id: Set(*id),
                    category: Set(category.clone()),
                })
                .exec_without_returning(db)
                .await?;
            }
        }
    }
    Ok(())
}

pub(crate) fn remove_store_dir(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Removes what a crash can leave: staging folders of imports, and driver-store folders no
/// driver refers to. Run at start-up, before the runner.
pub async fn sweep(domain: &Domain) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    if let Ok(entries) = std::fs::read_dir(staging_root(domain)) {
        for entry in entries.flatten() {
            remove_store_dir(&entry.path())?;
            removed.push(entry.path());
        }
    }
    let known: BTreeSet<String> = drivers::Entity::find()
        .select_only()
        .column(drivers::Column::StorePath)
        .into_tuple::<String>()
        .all(domain.db())
        .await?
        .into_iter()
        .collect();
    if let Ok(entries) = std::fs::read_dir(store_root(domain)) {
        for entry in entries.flatten() {
            let path = entry.path();
            if !known.contains(&path.display().to_string()) {
                remove_store_dir(&path)?;
                removed.push(path);
            }
        }
    }
    Ok(removed)
}

/// How far a user may reach a driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DriverAccess {
    Modify,
    Read,
    None,
}

/// The driver catalog as one signed-in user may use it.
pub struct ActorDrivers<'a> {
    catalog: DriverCatalog<'a>,
    domain: &'a Domain,
    actor: &'a Actor,
}

impl<'a> ActorDrivers<'a> {
    pub(crate) fn new(domain: &'a Domain, actor: &'a Actor) -> Self {
        Self {
            catalog: DriverCatalog::new(domain),
            domain,
            actor,
        }
    }

    /// Whether this user may change (enable, categorize) drivers.
    pub fn may_edit(&self) -> bool {
        self.actor.holds(ObjectType::Driver, Operation::Modify)
    }

    /// Whether this user may import driver packages.
    pub fn may_import(&self) -> bool {
        self.actor
            .holds(ObjectType::DriverPackage, Operation::Create)
            && self.actor.holds(ObjectType::Driver, Operation::Create)
    }

    /// The drivers this user may read: those of packages in their scopes.
    pub async fn list(&self, filter: &DriverFilter) -> Result<DriverPage> {
        self.actor.require(ObjectType::Driver, Operation::Read)?;
        let visible = self.visible_packages().await?;
        self.catalog.list_within(filter, visible.as_deref()).await
    }

    /// The ids of the packages whose drivers this user may read (`None`: all of them).
    async fn visible_packages(&self) -> Result<Option<Vec<i64>>> {
        let visibility = self.actor.grants.inherited_visibility(ObjectType::Driver);
        if visibility == authz::Visibility::Everything {
            return Ok(None);
        }
        let scopes = authz::scopes::of_all(self.domain.db(), ObjectType::DriverPackage).await?;
        Ok(Some(
            scopes
                .into_iter()
                .filter(|(_, of_package)| authz::scopes::visible(&visibility, of_package))
                .map(|(id, _)| id)
                .collect(),
        ))
    }

    /// The driver, after checking `operation` on it: a driver is in its package's scopes.
    pub(crate) async fn checked(&self, id: i64, operation: Operation) -> Result<CatalogDriver> {
        self.actor.require(ObjectType::Driver, operation)?;
        let driver = self.catalog.get(id).await?;
        let scopes = authz::scopes::of(
            self.domain.db(),
            ObjectType::DriverPackage,
            driver.package_id,
        )
        .await?;
        if self
            .actor
            .grants
            .allows_inherited(ObjectType::Driver, operation, &scopes)
        {
            return Ok(driver);
        }
        if operation == Operation::Read {
            // Like a driver that does not exist: its name is not this user's to learn.
            return Err(Error::NotFound(format!("driver {id}")));
        }
        Err(Error::forbidden(
            ObjectType::Driver,
            operation,
            format!(
                "{} this driver: its package is outside your security scopes",
                operation.label().to_lowercase()
            ),
        ))
    }

    /// What this user may do with driver `id`: change it, only read it, or nothing.
    pub(crate) async fn access(&self, id: i64) -> Result<DriverAccess> {
        for (operation, access) in [
            (Operation::Modify, DriverAccess::Modify),
            (Operation::Read, DriverAccess::Read),
        ] {
            match self.checked(id, operation).await {
                Ok(_) => return Ok(access),
                Err(Error::Forbidden(_) | Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(DriverAccess::None)
    }

    /// The boot images among `users` this user may read.
    async fn readable_users(&self, users: Vec<DriverUser>) -> Result<Vec<DriverUser>> {
        let visibility = self.actor.grants.visibility(ObjectType::BootImage);
        let scopes = authz::scopes::of_all(self.domain.db(), ObjectType::BootImage).await?;
        Ok(users
            .into_iter()
            .filter(|u| {
                let of_image = scopes.get(&u.image_id).map_or(&[][..], Vec::as_slice);
                authz::scopes::visible(&visibility, of_image)
            })
            .collect())
    }

    /// The driver and the boot images (that this user may read) that use it.
    pub async fn get(&self, id: i64) -> Result<(CatalogDriver, Vec<DriverUser>)> {
        let driver = self.checked(id, Operation::Read).await?;
        let users = self.readable_users(self.catalog.users(id).await?).await?;
        Ok((driver, users))
    }

    pub async fn categories(&self) -> Result<Vec<String>> {
        self.actor.require(ObjectType::Driver, Operation::Read)?;
        self.catalog.categories().await
    }

    pub async fn classes(&self) -> Result<Vec<String>> {
        self.actor.require(ObjectType::Driver, Operation::Read)?;
        self.catalog.classes().await
    }

    /// The driver packages this user may read.
    pub async fn packages(&self) -> Result<Vec<DriverPackageInfo>> {
        let object = ObjectType::DriverPackage;
        self.actor.require(object, Operation::Read)?;
        let visibility = self.actor.grants.visibility(object);
        let scopes = authz::scopes::of_all(self.domain.db(), object).await?;
        let mut packages = self.catalog.packages().await?;
        packages.retain(|p| {
            let of_package = scopes.get(&p.id).map_or(&[][..], Vec::as_slice);
            authz::scopes::visible(&visibility, of_package)
        });
        Ok(packages)
    }

    /// One package, if this user may read it.
    pub async fn package(&self, id: i64) -> Result<Option<DriverPackageInfo>> {
        let object = ObjectType::DriverPackage;
        self.actor.require(object, Operation::Read)?;
        let scopes = authz::scopes::of(self.domain.db(), object, id).await?;
        match self.actor.may(object, Operation::Read, &scopes) {
            true => self.catalog.package(id).await,
            false => Ok(None),
        }
    }

    /// Queues the import of a package (a folder, `.zip` or `.cab` under the source roots, or
    /// an upload).
    pub async fn import(&self, request: super::import::DriverImportRequest) -> Result<i64> {
        self.actor
            .require(ObjectType::DriverPackage, Operation::Create)?;
        self.actor.require(ObjectType::Driver, Operation::Create)?;
        super::import::queue(self.domain, self.actor, request).await
    }

    pub async fn set_enabled(
        &self,
        id: i64,
        enabled: bool,
        expected_row_version: i32,
    ) -> Result<()> {
        let before = self.checked(id, Operation::Modify).await?;
        let mut txn = AuditedTxn::begin(self.domain).await?;
        self.catalog
            .set_enabled_in(txn.conn(), id, enabled, expected_row_version)
            .await?;
        if before.enabled != enabled {
            let changes = [("enabled", before.enabled.into(), enabled.into())];
            txn.allowed(
                self.actor,
                Operation::Modify,
                ObjectType::Driver,
                (id, &before.name),
                &changes,
            )
            .await?;
        }
        txn.commit().await
    }

    pub async fn set_categories(
        &self,
        id: i64,
        categories: &[String],
        expected_row_version: i32,
    ) -> Result<()> {
        let before = self.checked(id, Operation::Modify).await?;
        let mut txn = AuditedTxn::begin(self.domain).await?;
        self.catalog
            .set_categories_in(txn.conn(), id, categories, expected_row_version)
            .await?;
        let after: BTreeSet<String> = driver_categories::Entity::find()
            .filter(driver_categories::Column::DriverId.eq(id))
            .all(txn.conn())
            .await?
            .into_iter()
            .map(|c| c.category)
            .collect();
        let before_set: BTreeSet<String> = before.categories.iter().cloned().collect();
        if before_set != after {
            let changes = [(
                "categories",
                serde_json::json!(before_set),
                serde_json::json!(after),
            )];
            txn.allowed(
                self.actor,
                Operation::Modify,
                ObjectType::Driver,
                (id, &before.name),
                &changes,
            )
            .await?;
        }
        txn.commit().await
    }

    pub async fn delete(&self, id: i64, expected_row_version: i32) -> Result<()> {
        let before = self.checked(id, Operation::Delete).await?;
        // Checked in the transaction that deletes: an image that lists or takes the driver
        // meanwhile is seen.
        let mut txn = AuditedTxn::begin(self.domain).await?;
        let users = users_in(txn.conn(), id).await?;
        if !users.is_empty() {
            // Only the images this user may read are named.
            let named = self.readable_users(users).await?;
            let count = named.len();
            return Err(Error::Conflict(format!(
                "\"{}\" is used by {}; remove it from {} first",
                before.name,
                if named.is_empty() {
                    "boot images you cannot see".to_owned()
                } else {
                    named
                        .iter()
                        .map(|u| format!("\"{}\"", u.image_name))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                if count == 1 {
                    "that boot image"
                } else {
                    "those boot images"
                }
            )));
        }
        let folder = self
            .catalog
            .delete_in(txn.conn(), id, expected_row_version)
            .await?;
        txn.allowed(
            self.actor,
            Operation::Delete,
            ObjectType::Driver,
            (id, &before.name),
            &[],
        )
        .await?;
        // The package's content in the library loses the driver's files.
        crate::content::note_changed(
            &mut txn,
            crate::content::ContentObject::new(ObjectType::DriverPackage, before.package_id),
        )
        .await?;
        txn.commit().await?;
        if let Err(e) = remove_store_dir(&folder) {
            // The start-up sweep removes folders no driver refers to.
            tracing::warn!("removing {} failed: {e}", folder.display());
        }
        Ok(())
    }
}
