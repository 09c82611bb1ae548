//! Boot images and OS images: lists, the Add wizard, properties, edits, deletes, servicing
//! actions and the file browser.

// A server function takes one argument per form field, so the forms post plain fields.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AppError;

/// An image in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRow {
    pub id: i64,
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// Windows version of the image (`10.0.26100.1`).
    pub os_version: String,
    /// Boot images: the WinPE release ("10", "5.0", "3.1").
    pub winpe_release: String,
    pub languages: String,
    pub decompressed_bytes: u64,
    pub file_bytes: u64,
    pub image_count: u32,
    /// `ready`, `damaged`, `missing`.
    pub state: String,
    pub default_for: Option<String>,
    pub updated_at_ms: i64,
    /// Boot images: badges beside the name ("capture image", "command support: testing
    /// only"); `warning` marks one that must not reach production.
    pub marks: Vec<(String, bool)>,
    /// "2 of 3 DPs": where its content is in place, of where it was sent (empty: nowhere, or
    /// not for this user to see).
    pub distribution: String,
}

/// A list page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageListView {
    pub rows: Vec<ImageRow>,
    /// Rows before filtering.
    pub total: usize,
    /// Architectures present, for the filter.
    pub architectures: Vec<String>,
    pub may_edit: bool,
    /// Boot images: default boot images are configured and this user may update them.
    pub may_update_defaults: bool,
}

/// One index of a WIM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexView {
    pub index: u32,
    pub name: String,
    pub description: String,
    pub display_name: String,
    pub edition: String,
    pub architecture: String,
    pub version: String,
    pub languages: String,
    pub default_language: String,
    pub installation_type: String,
    pub product_name: String,
    pub directory_count: u64,
    pub file_count: u64,
    pub total_bytes: u64,
    /// "Windows PE 10 (customizable)" and the like; empty for other images.
    pub windows_pe: String,
    /// Whether a boot image may be taken from this index.
    pub bootable_supported: bool,
}

/// The file as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WimFileView {
    pub path: String,
    pub size_bytes: u64,
    pub sha256: String,
    pub guid: String,
    pub wim_version: u32,
    pub compression: String,
    pub chunk_size: u32,
    pub part_number: u16,
    pub total_parts: u16,
    pub boot_index: u32,
    pub has_integrity_table: bool,
    pub image_count: u32,
}

/// Everything on the properties page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageDetailView {
    pub row: ImageRow,
    pub kind: String,
    pub comment: String,
    pub source_path: String,
    pub source_index: Option<u32>,
    pub owned: bool,
    pub language: String,
    pub winpe_support: String,
    pub customizable: bool,
    pub state_detail: Option<String>,
    pub verified_at_ms: Option<i64>,
    pub row_version: i32,
    pub content_revision: i32,
    pub created_by: String,
    pub created_at_ms: i64,
    pub file: WimFileView,
    pub indexes: Vec<IndexView>,
    pub may: ImageRights,
}

/// What the viewer may do to one image, so the page offers exactly the actions they can run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRights {
    /// Edit the properties; optimize, split, apply drivers.
    pub modify: bool,
    /// Verify.
    pub validate: bool,
    pub delete: bool,
    /// Extract an index as a new OS image: Modify here and Create on OS images.
    pub extract: bool,
}

impl ImageRights {
    /// Whether the Actions panel has anything to offer.
    pub fn any_action(&self) -> bool {
        self.modify || self.validate || self.delete || self.extract
    }
}

/// What the Add wizard shows after reading a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePreview {
    pub resolved_path: String,
    pub file: WimFileView,
    pub indexes: Vec<IndexView>,
}

/// One entry of the file browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntryView {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
    pub modified_ms: i64,
}

#[cfg(feature = "ssr")]
mod ssr {
    use domain::{
        catalog::{CatalogImage, ImageKind},
        wim::{FileInfo, ImageInfo, WinPeSupport},
    };

    use super::*;

    pub(super) fn kind(text: &str) -> Result<ImageKind, AppError> {
        Ok(ImageKind::parse(text)?)
    }

    pub(super) fn row(image: &CatalogImage) -> ImageRow {
        let languages = image
            .inspection
            .images
            .first()
            .map(|i| i.languages.join(", "))
            .filter(|l| !l.is_empty())
            .or_else(|| image.language.clone())
            .unwrap_or_default();
        ImageRow {
            id: image.id,
            name: image.name.clone(),
            version: image.version.clone(),
            architecture: image.architecture.clone().unwrap_or_default(),
            os_version: image.os_version.clone().unwrap_or_default(),
            winpe_release: image.winpe_release.clone().unwrap_or_default(),
            languages,
            decompressed_bytes: image.decompressed_bytes,
            file_bytes: image.file_bytes,
            image_count: image.image_count,
            state: image.state.as_str().to_owned(),
            default_for: image.default_for.clone(),
            updated_at_ms: image.updated_at_ms,
            marks: Vec::new(),
            distribution: String::new(),
        }
    }

    /// The badges of a boot image's marks.
    pub(super) fn marks(marks: Option<&domain::boot::Marks>) -> Vec<(String, bool)> {
        let Some(marks) = marks else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Some(shell) = &marks.shell {
            out.push((shell.noun().to_owned(), false));
        }
        if marks.command_support {
            out.push(("command support: testing only".to_owned(), true));
        }
        out
    }

    pub(super) fn file(f: &FileInfo) -> WimFileView {
        WimFileView {
            path: f.path.clone(),
            size_bytes: f.size_bytes,
            sha256: f.sha256.clone().unwrap_or_default(),
            guid: f.guid.clone(),
            wim_version: f.wim_version,
            compression: f.compression.clone(),
            chunk_size: f.chunk_size,
            part_number: f.part_number,
            total_parts: f.total_parts,
            boot_index: f.boot_index,
            has_integrity_table: f.has_integrity_table,
            image_count: f.image_count,
        }
    }

    pub(super) fn support_label(support: WinPeSupport) -> &'static str {
        match support {
            WinPeSupport::Customizable => "customizable",
            WinPeSupport::SupportedNotCustomizable => "supported, not customizable",
            WinPeSupport::Unsupported => "not supported",
        }
    }

    pub(super) fn index(i: &ImageInfo) -> IndexView {
        IndexView {
            index: i.index,
            name: i.name.clone(),
            description: i.description.clone().unwrap_or_default(),
            display_name: i.display_name.clone().unwrap_or_default(),
            edition: i
                .edition_id
                .clone()
                .or_else(|| i.flags.clone())
                .unwrap_or_default(),
            architecture: i
                .architecture
                .map(|a| a.as_str().to_owned())
                .unwrap_or_default(),
            version: i.version.map(|v| v.to_string()).unwrap_or_default(),
            languages: i.languages.join(", "),
            default_language: i.default_language.clone().unwrap_or_default(),
            installation_type: i.installation_type.clone().unwrap_or_default(),
            product_name: i.product_name.clone().unwrap_or_default(),
            directory_count: i.directory_count,
            file_count: i.file_count,
            total_bytes: i.total_bytes,
            windows_pe: i
                .windows_pe
                .as_ref()
                .map(|w| format!("Windows PE {} ({})", w.release, support_label(w.support)))
                .unwrap_or_default(),
            bootable_supported: i
                .windows_pe
                .as_ref()
                .is_some_and(|w| w.support != WinPeSupport::Unsupported),
        }
    }

    pub(super) fn detail(image: &CatalogImage, may: ImageRights) -> ImageDetailView {
        ImageDetailView {
            row: row(image),
            kind: image.kind.as_str().to_owned(),
            comment: image.comment.clone(),
            source_path: image.source_path.clone(),
            source_index: image.source_index,
            owned: image.owned,
            language: image.language.clone().unwrap_or_default(),
            winpe_support: image
                .winpe_support
                .map(support_label)
                .unwrap_or_default()
                .to_owned(),
            customizable: image.customizable(),
            state_detail: image.state_detail.clone(),
            verified_at_ms: image.verified_at_ms,
            row_version: image.row_version,
            content_revision: image.content_revision,
            created_by: image.created_by.clone(),
            created_at_ms: image.created_at_ms,
            file: file(&image.inspection.file),
            indexes: image.inspection.images.iter().map(index).collect(),
            may,
        }
    }

    /// Sorts rows by a column name from the page's query (`name`, `version`, `arch`, `os`,
    /// `size`, `file`, `changed`), descending with `desc`.
    pub(super) fn sort(rows: &mut [ImageRow], by: &str, desc: bool) {
        match by {
            "version" => rows.sort_by(|a, b| a.version.cmp(&b.version)),
            "arch" => rows.sort_by(|a, b| a.architecture.cmp(&b.architecture)),
            "os" => rows.sort_by(|a, b| a.os_version.cmp(&b.os_version)),
            "size" => rows.sort_by_key(|r| r.decompressed_bytes),
            "file" => rows.sort_by_key(|r| r.file_bytes),
            "changed" => rows.sort_by_key(|r| r.updated_at_ms),
            _ => rows.sort_by_key(|r| r.name.to_lowercase()),
        }
        if desc {
            rows.reverse();
        }
    }

    /// Whether a row matches the text filter (any shown column, ignoring case).
    pub(super) fn matches(row: &ImageRow, text: &str) -> bool {
        let text = text.to_lowercase();
        [
            &row.name,
            &row.version,
            &row.architecture,
            &row.os_version,
            &row.languages,
            &row.winpe_release,
        ]
        .iter()
        .any(|field| field.to_lowercase().contains(&text))
    }
}

/// A catalog list, filtered by text and architecture and sorted.
#[server(endpoint = "list_images")]
pub async fn list_images(
    kind: String,
    filter: Option<String>,
    arch: Option<String>,
    sort: Option<String>,
    desc: Option<bool>,
) -> Result<ImageListView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    use domain::authz::{ObjectType, Operation};
    let kind = ssr::kind(&kind)?;
    let catalog = domain.for_actor(&actor).catalog();
    let marks = match kind {
        domain::catalog::ImageKind::Boot => domain.boot_images().marks().await?,
        domain::catalog::ImageKind::Os => Default::default(),
    };
    let placed = domain
        .for_actor(&actor)
        .distribution_status()
        .summaries(kind.object_type())
        .await?;
    let all: Vec<ImageRow> = catalog
        .list(kind)
        .await?
        .iter()
        .map(|image| ImageRow {
            marks: ssr::marks(marks.get(&image.id)),
            distribution: placed
                .get(&image.id)
                .map(|s| format!("{} of {} DPs", s.success, s.total))
                .unwrap_or_default(),
            ..ssr::row(image)
        })
        .collect();
    let total = all.len();
    let mut architectures: Vec<String> = all
        .iter()
        .map(|r| r.architecture.clone())
        .filter(|a| !a.is_empty())
        .collect();
    architectures.sort();
    architectures.dedup();
    let text = filter.unwrap_or_default();
    let arch = arch.unwrap_or_default();
    let mut rows: Vec<ImageRow> = all
        .into_iter()
        .filter(|r| text.trim().is_empty() || ssr::matches(r, text.trim()))
        .filter(|r| arch.is_empty() || r.architecture == arch)
        .collect();
    ssr::sort(
        &mut rows,
        sort.as_deref().unwrap_or("name"),
        desc.unwrap_or(false),
    );
    Ok(ImageListView {
        rows,
        total,
        architectures,
        may_edit: catalog.may_add(kind),
        may_update_defaults: kind == domain::catalog::ImageKind::Boot
            && actor.holds(ObjectType::BootImage, Operation::Create)
            && actor.holds(ObjectType::BootImage, Operation::Modify)
            && domain.for_actor(&actor).boot_images().defaults_configured(),
    })
}

/// Queues the job that creates or regenerates the default boot images; returns its id.
#[server(endpoint = "update_default_boot_images")]
pub async fn update_default_boot_images() -> Result<i64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain
        .for_actor(&actor)
        .boot_images()
        .update_defaults()
        .await?)
}

/// The properties page of one image.
#[server(endpoint = "image_detail")]
pub async fn image_detail(kind: String, id: i64) -> Result<ImageDetailView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let kind = ssr::kind(&kind)?;
    let catalog = domain.for_actor(&actor).catalog();
    let image = catalog.get(kind, id).await?;
    let rights = catalog.rights_on(&image).await?;
    let may = ImageRights {
        modify: rights.modify,
        validate: rights.validate,
        delete: rights.delete,
        extract: rights.extract,
    };
    let mut detail = ssr::detail(&image, may);
    if kind == domain::catalog::ImageKind::Boot {
        detail.row.marks = ssr::marks(domain.boot_images().marks().await?.get(&image.id));
    }
    Ok(detail)
}

/// Reads a WIM's header and images for the Add wizard.
#[server(endpoint = "preview_image_source")]
pub async fn preview_image_source(source: String) -> Result<SourcePreview, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let (resolved_path, inspection) = domain.for_actor(&actor).catalog().preview(&source).await?;
    Ok(SourcePreview {
        resolved_path,
        file: ssr::file(&inspection.file),
        indexes: inspection.images.iter().map(ssr::index).collect(),
    })
}

/// Queues an import; returns the job's id.
#[server(endpoint = "import_image")]
pub async fn import_image(
    kind: String,
    source: String,
    index: Option<u32>,
    name: Option<String>,
    version: Option<String>,
    comment: Option<String>,
    architecture: Option<String>,
    language: Option<String>,
) -> Result<i64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let request = domain::catalog::kinds::ImportRequest {
        kind: ssr::kind(&kind)?,
        source,
        index,
        name: name.filter(|n| !n.trim().is_empty()),
        version: version.unwrap_or_default(),
        comment: comment.unwrap_or_default(),
        architecture: architecture.filter(|a| !a.is_empty()),
        language: language.filter(|l| !l.is_empty()),
    };
    Ok(domain.for_actor(&actor).catalog().import(request).await?)
}

/// Saves the properties page's fields, unless the image changed since `row_version`.
#[server(endpoint = "edit_image")]
pub async fn edit_image(
    kind: String,
    id: i64,
    name: String,
    version: String,
    comment: String,
    architecture: Option<String>,
    language: Option<String>,
    row_version: i32,
) -> Result<i32, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let edit = domain::catalog::ImageEdit {
        name,
        version,
        comment,
        architecture: architecture.filter(|a| !a.is_empty()),
        language,
        expected_row_version: row_version,
    };
    let image = domain
        .for_actor(&actor)
        .catalog()
        .edit(ssr::kind(&kind)?, id, edit)
        .await?;
    Ok(image.row_version)
}

/// Deletes an image (and its file, if Wimdeck owns it).
#[server(endpoint = "delete_image")]
pub async fn delete_image(kind: String, id: i64, row_version: i32) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    domain
        .for_actor(&actor)
        .catalog()
        .delete(ssr::kind(&kind)?, id, row_version)
        .await?;
    Ok(())
}

/// Queues a servicing job: `verify`, `optimize` (with `compression`), `extract` (with `index`
/// and `name`) or `split` (with `part_mib`). Returns the job's id.
#[server(endpoint = "service_image")]
pub async fn service_image(
    kind: String,
    id: i64,
    action: String,
    compression: Option<String>,
    index: Option<u32>,
    name: Option<String>,
    part_mib: Option<u32>,
) -> Result<i64, AppError> {
    use domain::{catalog::kinds::ImageAction, wim::Compression};
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let missing = |field: &str| AppError::invalid(field, "is required for this action");
    let action = match action.as_str() {
        "verify" => ImageAction::Verify,
        "optimize" => ImageAction::Optimize {
            compression: compression
                .as_deref()
                .map_or(Ok(Compression::Lzx), str::parse::<Compression>)?,
        },
        "extract" => ImageAction::Extract {
            index: index.ok_or_else(|| missing("index"))?,
            name: name.ok_or_else(|| missing("name"))?,
        },
        "split" => ImageAction::Split {
            part_mib: part_mib.ok_or_else(|| missing("part_mib"))?,
        },
        other => {
            return Err(AppError::invalid(
                "action",
                &format!("'{other}' is not an image action"),
            ));
        }
    };
    Ok(domain
        .for_actor(&actor)
        .catalog()
        .service(ssr::kind(&kind)?, id, action)
        .await?)
}

/// One directory of an image, for the file browser.
#[server(endpoint = "browse_image")]
pub async fn browse_image(
    kind: String,
    id: i64,
    index: u32,
    dir: String,
) -> Result<Vec<DirEntryView>, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let entries = domain
        .for_actor(&actor)
        .catalog()
        .browse(ssr::kind(&kind)?, id, index, &dir)
        .await?;
    Ok(entries
        .into_iter()
        .map(|e| DirEntryView {
            name: e.name,
            is_dir: e.is_dir,
            size: e.size,
            modified_ms: e.modified_ms,
        })
        .collect())
}
