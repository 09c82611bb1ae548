//! Prestaged content files: create one of chosen contents (a job), list, delete. A content's
//! files are also listed with its distribution ([`super::content_distribution`]); files are
//! downloaded from [`PRESTAGED_ROUTE`](crate::api::permissions::PRESTAGED_ROUTE).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AppError;

/// A prestaged content file holding a content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrestagedFileView {
    pub name: String,
    pub bytes: u64,
    pub created_at_ms: i64,
    pub created_by: String,
    /// What it holds: (content name, version number).
    pub versions: Vec<(String, i32)>,
    pub download: String,
}

/// A content that can go in a prestaged file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrestageChoice {
    /// `os-image:3`: what [`create_prestaged_file`] takes.
    pub key: String,
    pub name: String,
    /// "OS image", "Boot image", "Driver package".
    pub kind: String,
    /// The newest version's number (a file holds the newest version, made then if needed).
    pub version: Option<i32>,
}

/// The Prestaged content section of the Distribution status page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrestagedView {
    pub choices: Vec<PrestageChoice>,
    /// The most contents one file holds.
    pub max_contents: u32,
    /// Files the user may download (Distribute on everything in them).
    pub files: Vec<PrestagedFileView>,
}

#[cfg(feature = "ssr")]
pub(crate) fn file_view(f: domain::distribution::prestage::PrestagedFile) -> PrestagedFileView {
    PrestagedFileView {
        download: format!("{}{}", crate::api::permissions::PRESTAGED_ROUTE, f.name),
        name: f.name,
        bytes: f.bytes,
        created_at_ms: f.created_at_ms,
        created_by: f.created_by,
        versions: f.versions.into_iter().map(|v| (v.name, v.number)).collect(),
    }
}

/// The Prestaged content section of the Distribution status page: what the user may put in
/// a file, and the files they may download; nothing for a user who may distribute no
/// content (the section is not shown).
#[server(endpoint = "prestaged_files")]
pub async fn prestaged_files() -> Result<Option<PrestagedView>, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let prestaged = domain.for_actor(&actor).prestaged();
    if !prestaged.may_create() {
        return Ok(None);
    }
    let choices = prestaged
        .choices()
        .await?
        .into_iter()
        .map(|(content, version)| PrestageChoice {
            key: super::ssr::object_key(content.object),
            name: content.name,
            kind: content.object.object_type.label().to_owned(),
            version,
        })
        .collect();
    let files = prestaged
        .files()
        .await?
        .into_iter()
        .map(file_view)
        .collect();
    Ok(Some(PrestagedView {
        choices,
        max_contents: u32::try_from(domain::distribution::prestage::MAX_OBJECTS)
            .unwrap_or(u32::MAX),
        files,
    }))
}

/// Queues the writing of one prestaged content file holding the newest version of each
/// content (`contents`: keys such as `os-image:3`, comma-separated); returns the job.
#[server(endpoint = "create_prestaged_file")]
pub async fn create_prestaged_file(contents: String) -> Result<i64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let objects = super::ssr::object_keys(&contents)?;
    Ok(domain.for_actor(&actor).prestaged().create(objects).await?)
}

/// Deletes a prestaged content file.
#[server(endpoint = "delete_prestaged_file")]
pub async fn delete_prestaged_file(name: String) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    domain.for_actor(&actor).prestaged().delete(&name).await?;
    Ok(())
}
