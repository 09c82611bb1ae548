//! Distribution: turning catalog objects into content of the library and sending that content
//! to distribution points. This area sits above the catalog, the drivers and the content
//! library, and joins them.
//!
//! - [`points`]: the DPs, their settings, health, enrollment and credentials;
//! - [`assign`]: what each DP is to hold;
//! - [`actions`]: what an admin does (distribute, update, redistribute, validate, remove);
//! - [`events`]: changes told to DPs' long polls and to pages, across site servers;
//! - [`site`]: the site's side of the protocol ([`protocol`]) that DPs speak;
//! - [`agent`]: the DP's side: fetch, verify, assemble, report;
//! - [`jobs`]: the content library's jobs and the distribution job;
//! - [`listing`]: filtering and paging of the lists pages show.

pub mod actions;
pub mod agent;
pub mod assign;
pub mod demand;
pub mod events;
pub mod groups;
pub mod jobs;
pub mod listing;
pub mod points;
pub mod prestage;
pub mod protocol;
pub mod site;
pub mod status;

use std::path::PathBuf;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};

use crate::{
    Domain, Error, Result,
    authz::ObjectType,
    catalog::ImageKind,
    content::{ContentObject, SourceFile},
    db::entities::drivers,
};

/// The files an object's content is made of, as they are now, with its name.
#[derive(Debug, Clone)]
pub struct ObjectFiles {
    pub name: String,
    pub files: Vec<SourceFile>,
}

/// Reads what `object` is made of: a boot image is its `boot.wim`, an OS image its
/// `install.wim` (names a DP serves them by, whatever the catalog's file is called), a driver
/// package the files of its drivers, each driver in a folder of its own.
pub async fn object_files(domain: &Domain, object: ContentObject) -> Result<ObjectFiles> {
    match object.object_type {
        ObjectType::BootImage | ObjectType::OsImage => {
            let kind = if object.object_type == ObjectType::BootImage {
                ImageKind::Boot
            } else {
                ImageKind::Os
            };
            let image = domain.catalog().get_kind(kind, object.object_id).await?;
            let name = if kind == ImageKind::Boot {
                "boot.wim"
            } else {
                "install.wim"
            };
            Ok(ObjectFiles {
                name: image.name.clone(),
                files: vec![SourceFile {
                    path: name.to_owned(),
                    local: image.file_path.clone(),
                    sha256: Some(image.sha256.clone()).filter(|s| !s.is_empty()),
                }],
            })
        }
        ObjectType::DriverPackage => {
            let package = domain
                .driver_catalog()
                .package(object.object_id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("driver package {}", object.object_id)))?;
            let rows = drivers::Entity::find()
                .filter(drivers::Column::PackageId.eq(object.object_id))
                .order_by_asc(drivers::Column::Id)
                .all(domain.db())
                .await?;
            let mut files = Vec::new();
            for row in rows {
                let listed: Vec<String> = serde_json::from_str(&row.files)
                    .map_err(|e| Error::Internal(format!("files of driver {}: {e}", row.id)))?;
                let folder = PathBuf::from(&row.store_path);
                // Named for the admin who looks at a DP's folder, unique by the driver's content.
                let stem = row
                    .inf_name
                    .trim_end_matches(".inf")
                    .trim_end_matches(".INF");
                let prefix = format!("{stem}-{:.8}", row.content_hash);
                for relative in listed {
                    let relative = relative.replace('\\', "/");
                    files.push(SourceFile {
                        path: format!("{prefix}/{relative}"),
                        local: folder.join(&relative),
                        sha256: None,
                    });
                }
            }
            Ok(ObjectFiles {
                name: package.name,
                files,
            })
        }
        other => Err(Error::invalid(
            "object",
            format!("a {} is not content that can be distributed", other.label()),
        )),
    }
}

/// Makes the newest version of `object`'s content hold the object as it is now. The object
/// may change while its files are chunked: a file replaced under the reader is read again, and
/// a version that turns out to hold an older state than the object's (another change's version
/// committed first) is followed by one of the current state. `None`: the object is gone.
pub(crate) async fn version_current(
    domain: &Domain,
    object: ContentObject,
    reason: &str,
    created_by: &str,
    progress: std::sync::Arc<crate::progress::Progress>,
    log: impl Fn(String),
) -> Result<Option<(String, crate::content::Added)>> {
    let mut last = None;
    for _ in 0..3 {
        let files = match object_files(domain, object).await {
            Ok(files) => files,
            Err(Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let name = files.name.clone();
        match domain
            .content()
            .add_version(
                object,
                &name,
                files.files,
                reason,
                created_by,
                progress.clone(),
            )
            .await
        {
            Ok(added) => {
                if !is_stale(domain, object, &added.version).await? {
                    return Ok(Some((name, added)));
                }
                log(format!(
                    "\"{name}\" changed while version {} was made; making one of its current state",
                    added.version.number
                ));
                last = Some((name, added));
            }
            Err(Error::Conflict(why)) => log(format!("{why}; reading the object again")),
            Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                log("the object's file was replaced while it was read; reading it again".into());
            }
            Err(e) => return Err(e),
        }
    }
    // Still changing: the version of the latest change is that change's own job's to make.
    last.map(Some).ok_or_else(|| {
        Error::Conflict("the object kept changing while its content was read; try again".into())
    })
}

/// Whether `version` no longer holds the object as it is now.
async fn is_stale(
    domain: &Domain,
    object: ContentObject,
    version: &crate::content::ContentVersion,
) -> Result<bool> {
    let now = match object_files(domain, object).await {
        Ok(files) => files,
        Err(Error::NotFound(_)) => return Ok(false),
        Err(e) => return Err(e),
    };
    if now.files.iter().all(|f| f.sha256.is_some()) {
        let current = crate::content::manifest::fingerprint(
            now.files
                .iter()
                .map(|f| (f.path.as_str(), f.sha256.as_deref().unwrap_or_default())),
        );
        return Ok(current != version.fingerprint);
    }
    // Files recorded without a hash (a driver package's): the same files by name.
    let manifest = domain
        .content()
        .store()
        .read_manifest(&version.manifest_sha256)?;
    let mut held: Vec<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    let mut wanted: Vec<&str> = now.files.iter().map(|f| f.path.as_str()).collect();
    held.sort_unstable();
    wanted.sort_unstable();
    Ok(held != wanted)
}

/// Which content a DP fetches first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Priority {
    High,
    Medium,
    Low,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Medium => "medium",
            Priority::Low => "low",
        }
    }

    pub fn parse(text: &str) -> Self {
        match text {
            "high" => Priority::High,
            "low" => Priority::Low,
            _ => Priority::Medium,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Priority::High => "High",
            Priority::Medium => "Medium",
            Priority::Low => "Low",
        }
    }
}

/// What a DP enabled for prestaged content does with a content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrestagedBehavior {
    /// Fetch it as any DP would.
    Automatic,
    /// The first version comes prestaged; later versions are fetched (only their changes).
    Changes,
    /// Every version comes prestaged: the DP waits for it.
    Manual,
}

impl PrestagedBehavior {
    pub fn as_str(self) -> &'static str {
        match self {
            PrestagedBehavior::Automatic => "automatic",
            PrestagedBehavior::Changes => "changes",
            PrestagedBehavior::Manual => "manual",
        }
    }

    pub fn parse(text: &str) -> Self {
        match text {
            "changes" => PrestagedBehavior::Changes,
            "manual" => PrestagedBehavior::Manual,
            _ => PrestagedBehavior::Automatic,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            PrestagedBehavior::Automatic => "Download automatically",
            PrestagedBehavior::Changes => "Download only content changes",
            PrestagedBehavior::Manual => "Copy content manually",
        }
    }
}
