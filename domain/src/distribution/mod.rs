//! Distribution: turning catalog objects into content of the library, and (further on) sending
//! that content to distribution points. This area sits above the catalog, the drivers and the
//! content library, and joins them.

pub mod jobs;

use std::path::PathBuf;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

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
