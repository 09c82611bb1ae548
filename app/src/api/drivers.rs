//! The driver catalog (list, filters, import, enable/disable, categories, delete) and the
//! Drivers tab of boot images (add, remove, apply).

// A server function takes one argument per form field, so the forms post plain fields.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AppError;

/// A driver in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriverRow {
    pub id: i64,
    pub name: String,
    pub inf_name: String,
    pub class: String,
    pub provider: String,
    pub version: String,
    pub date: String,
    /// `amd64, arm64`.
    pub architectures: String,
    pub signed: bool,
    /// The signer when signed, else why it is not.
    pub signature: String,
    pub enabled: bool,
    pub categories: Vec<String>,
    pub size_bytes: u64,
    pub row_version: i32,
}

/// The Drivers page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriverListView {
    pub rows: Vec<DriverRow>,
    /// How many match the filter (`rows` holds at most the first 500).
    pub total: u64,
    pub classes: Vec<String>,
    pub categories: Vec<String>,
    pub packages: Vec<PackageView>,
    pub may_edit: bool,
}

/// An imported package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageView {
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

/// A hardware ID a driver matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardwareIdView {
    pub id: String,
    pub description: String,
    pub architecture: String,
    pub compatible: String,
}

/// A driver's properties page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriverDetailView {
    pub row: DriverRow,
    pub class_guid: String,
    pub hardware_ids: Vec<HardwareIdView>,
    pub files: Vec<String>,
    pub content_hash: String,
    pub package: Option<PackageView>,
    /// Boot images that list or contain it: (id, name).
    pub used_by: Vec<(i64, String)>,
    pub created_by: String,
    pub created_at_ms: i64,
    pub may_edit: bool,
}

/// A driver on a boot image's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedDriverView {
    pub row: DriverRow,
    pub added_by: String,
    pub in_file: bool,
}

/// The Drivers tab of a boot image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootDriversView {
    pub image_id: i64,
    pub architecture: String,
    pub customizable: bool,
    pub listed: Vec<ListedDriverView>,
    /// Enabled catalog drivers not on the list, as the filters leave them.
    pub available: Vec<DriverRow>,
    /// (name, version, folder in Windows PE) of the drivers in the current revision.
    pub injected: Vec<(String, String, String)>,
    pub current_revision: i32,
    pub pending: bool,
    pub may_edit: bool,
}

/// The catalog, filtered. Empty strings mean "any".
#[server(endpoint = "list_drivers")]
pub async fn list_drivers(
    text: Option<String>,
    class: Option<String>,
    architecture: Option<String>,
    category: Option<String>,
    signed: Option<String>,
    enabled: Option<String>,
    package: Option<i64>,
) -> Result<DriverListView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let drivers = domain.for_actor(&actor).drivers();
    let filter = domain::drivers::catalog::DriverFilter {
        text: ssr::some(text),
        class: ssr::some(class),
        architecture: ssr::architecture(architecture)?,
        category: ssr::some(category),
        signed: ssr::yes_no(signed),
        enabled: ssr::yes_no(enabled),
        package_id: package,
        boot_critical: false,
        limit: Some(500),
    };
    let page = drivers.list(&filter).await?;
    Ok(DriverListView {
        rows: page.drivers.iter().map(ssr::row).collect(),
        total: page.total,
        classes: drivers.classes().await?,
        categories: drivers.categories().await?,
        packages: drivers
            .packages()
            .await?
            .into_iter()
            .map(ssr::package)
            .collect(),
        may_edit: drivers.may_import(),
    })
}

/// One driver's properties.
#[server(endpoint = "driver_detail")]
pub async fn driver_detail(id: i64) -> Result<DriverDetailView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let drivers = domain.for_actor(&actor).drivers();
    let (driver, users) = drivers.get(id).await?;
    let package = drivers.package(driver.package_id).await?.map(ssr::package);
    Ok(DriverDetailView {
        row: ssr::row(&driver),
        class_guid: driver.class_guid.clone().unwrap_or_default(),
        hardware_ids: driver
            .hardware_ids
            .iter()
            .map(|h| HardwareIdView {
                id: h.id.clone(),
                description: h.description.clone(),
                architecture: h.architecture.as_str().to_owned(),
                compatible: h.compatible.join(", "),
            })
            .collect(),
        files: driver.files.clone(),
        content_hash: driver.content_hash.clone(),
        package,
        used_by: users
            .into_iter()
            .map(|u| (u.image_id, u.image_name))
            .collect(),
        created_by: driver.created_by.clone(),
        created_at_ms: driver.created_at_ms,
        may_edit: drivers.may_edit(),
    })
}

/// Queues the import of a driver package; returns the job's id. `categories` is
/// comma-separated.
#[server(endpoint = "import_drivers")]
pub async fn import_drivers(
    source: String,
    name: Option<String>,
    categories: Option<String>,
) -> Result<i64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain
        .for_actor(&actor)
        .drivers()
        .import(domain::drivers::import::DriverImportRequest {
            source,
            name: ssr::some(name),
            categories: ssr::list(categories),
        })
        .await?)
}

#[server(endpoint = "set_driver_enabled")]
pub async fn set_driver_enabled(id: i64, enabled: bool, row_version: i32) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain
        .for_actor(&actor)
        .drivers()
        .set_enabled(id, enabled, row_version)
        .await?)
}

/// Replaces a driver's categories (comma-separated).
#[server(endpoint = "set_driver_categories")]
pub async fn set_driver_categories(
    id: i64,
    categories: Option<String>,
    row_version: i32,
) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain
        .for_actor(&actor)
        .drivers()
        .set_categories(id, &ssr::list(categories), row_version)
        .await?)
}

#[server(endpoint = "delete_driver")]
pub async fn delete_driver(id: i64, row_version: i32) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain
        .for_actor(&actor)
        .drivers()
        .delete(id, row_version)
        .await?)
}

/// The Drivers tab. The three filters admins know are on unless turned off: only the image's
/// architecture, only network and storage drivers, only signed drivers.
#[server(endpoint = "boot_image_drivers")]
pub async fn boot_image_drivers(
    image_id: i64,
    text: Option<String>,
    any_architecture: Option<bool>,
    any_class: Option<bool>,
    unsigned_too: Option<bool>,
) -> Result<BootDriversView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let me = domain.for_actor(&actor);
    let shown = me.boot_drivers().show(image_id).await?;
    let image = me
        .catalog()
        .get(domain::catalog::ImageKind::Boot, image_id)
        .await?;
    let drivers = me.drivers();
    let filter = domain::drivers::catalog::DriverFilter {
        text: ssr::some(text),
        architecture: if any_architecture.unwrap_or(false) {
            None
        } else {
            shown.architecture
        },
        boot_critical: !any_class.unwrap_or(false),
        signed: (!unsigned_too.unwrap_or(false)).then_some(true),
        enabled: Some(true),
        limit: Some(500),
        ..Default::default()
    };
    let listed_ids: Vec<i64> = shown.listed.iter().map(|l| l.driver.id).collect();
    let page = drivers.list(&filter).await?;
    Ok(BootDriversView {
        image_id,
        architecture: image.architecture.clone().unwrap_or_default(),
        customizable: image.customizable(),
        listed: shown
            .listed
            .iter()
            .map(|l| ListedDriverView {
                row: ssr::row(&l.driver),
                added_by: l.added_by.clone(),
                in_file: l.in_file,
            })
            .collect(),
        available: page
            .drivers
            .iter()
            .filter(|d| !listed_ids.contains(&d.id))
            .map(ssr::row)
            .collect(),
        injected: shown
            .in_file
            .iter()
            .map(|d| {
                (
                    d.name.clone(),
                    d.version.clone(),
                    format!(r"X:\Windows\Wimdeck\Drivers\{}", d.folder_name()),
                )
            })
            .collect(),
        current_revision: shown.current_revision,
        pending: shown.pending,
        may_edit: me.boot_drivers().may_edit(image_id).await?,
    })
}

#[server(endpoint = "add_boot_image_driver")]
pub async fn add_boot_image_driver(image_id: i64, driver_id: i64) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain
        .for_actor(&actor)
        .boot_drivers()
        .add(image_id, &[driver_id])
        .await?)
}

#[server(endpoint = "remove_boot_image_driver")]
pub async fn remove_boot_image_driver(image_id: i64, driver_id: i64) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain
        .for_actor(&actor)
        .boot_drivers()
        .remove(image_id, &[driver_id])
        .await?)
}

/// Queues the job that writes the driver list into a new revision; returns its id.
#[server(endpoint = "apply_boot_image_drivers")]
pub async fn apply_boot_image_drivers(image_id: i64) -> Result<i64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain
        .for_actor(&actor)
        .boot_drivers()
        .apply(image_id)
        .await?)
}

#[cfg(feature = "ssr")]
mod ssr {
    use domain::drivers::{
        catalog::{CatalogDriver, DriverPackageInfo},
        inf::DriverArch,
        signing::Signature,
    };

    use super::{DriverRow, PackageView};
    use crate::AppError;

    pub fn some(value: Option<String>) -> Option<String> {
        value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    pub fn list(value: Option<String>) -> Vec<String> {
        value
            .unwrap_or_default()
            .split(',')
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect()
    }

    pub fn yes_no(value: Option<String>) -> Option<bool> {
        match some(value).as_deref() {
            Some("yes") => Some(true),
            Some("no") => Some(false),
            _ => None,
        }
    }

    pub fn architecture(value: Option<String>) -> Result<Option<DriverArch>, AppError> {
        match some(value).as_deref() {
            None => Ok(None),
            Some("x86") => Ok(Some(DriverArch::X86)),
            Some("amd64" | "x64") => Ok(Some(DriverArch::Amd64)),
            Some("arm64") => Ok(Some(DriverArch::Arm64)),
            Some(other) => Err(AppError::invalid(
                "architecture",
                &format!("'{other}' is not an architecture (x86, amd64, arm64)"),
            )),
        }
    }

    pub fn row(d: &CatalogDriver) -> DriverRow {
        let (signed, signature) = match &d.signature {
            Signature::Signed { signer, .. } => (true, signer.clone()),
            Signature::Unsigned { reason } => (false, reason.clone()),
        };
        DriverRow {
            id: d.id,
            name: d.name.clone(),
            inf_name: d.inf_name.clone(),
            class: d.class.clone(),
            provider: d.provider.clone(),
            version: d.version.clone(),
            date: d.date.clone().unwrap_or_default(),
            architectures: d
                .architectures
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            signed,
            signature,
            enabled: d.enabled,
            categories: d.categories.clone(),
            size_bytes: d.size_bytes,
            row_version: d.row_version,
        }
    }

    pub fn package(p: DriverPackageInfo) -> PackageView {
        PackageView {
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
