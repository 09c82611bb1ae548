//! Prestaged content files of a content: create (a job), delete; they are listed with the
//! content's distribution ([`super::content_distribution`]) and downloaded from
//! [`PRESTAGED_ROUTE`](crate::api::permissions::PRESTAGED_ROUTE).

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

/// Queues the writing of a prestaged content file of the content's newest version; returns
/// the job.
#[server(endpoint = "create_prestaged_file")]
pub async fn create_prestaged_file(object_type: String, object_id: i64) -> Result<i64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let object = super::ssr::object(&object_type, object_id)?;
    Ok(domain
        .for_actor(&actor)
        .prestaged()
        .create(vec![object])
        .await?)
}

/// Deletes a prestaged content file.
#[server(endpoint = "delete_prestaged_file")]
pub async fn delete_prestaged_file(name: String) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    domain.for_actor(&actor).prestaged().delete(&name).await?;
    Ok(())
}
