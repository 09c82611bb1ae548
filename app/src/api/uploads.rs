//! Uploading WIM files from the browser. The file's bytes go to `PUT /api/uploads/<id>?offset=N`
//! (a plain HTTP route of the server, streamed to disk); these server functions announce an
//! upload, report its state so the browser can resume, list and discard uploads.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AppError;

/// An upload as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadView {
    pub id: String,
    pub file_name: String,
    pub size_bytes: u64,
    pub received_bytes: u64,
    /// Set once complete.
    pub sha256: Option<String>,
    /// What an import names the complete file by (`upload:<id>`; only its owner may).
    pub source: String,
    pub updated_at_ms: i64,
}

/// Where the bytes of an upload are sent (with `?offset=N`).
pub fn chunk_url(id: &str) -> String {
    format!("/api/uploads/{id}")
}

#[cfg(feature = "ssr")]
impl From<domain::catalog::uploads::Upload> for UploadView {
    fn from(upload: domain::catalog::uploads::Upload) -> Self {
        Self {
            source: format!("{}{}", domain::catalog::sources::UPLOAD_PREFIX, upload.id),
            id: upload.id,
            file_name: upload.file_name,
            size_bytes: upload.size_bytes,
            received_bytes: upload.received_bytes,
            sha256: upload.sha256,
            updated_at_ms: upload.updated_at_ms,
        }
    }
}

/// Announces a file to upload, or finds the unfinished upload of the same file to resume.
#[server(endpoint = "begin_upload")]
pub async fn begin_upload(file_name: String, size_bytes: u64) -> Result<UploadView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let upload = domain
        .for_actor(&actor)
        .uploads()
        .begin(&file_name, size_bytes)
        .await?;
    Ok(upload.into())
}

/// One of the caller's uploads: how much the server has (to resume from there).
#[server(endpoint = "upload_status")]
pub async fn upload_status(id: String) -> Result<UploadView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain.for_actor(&actor).uploads().get(&id).await?.into())
}

/// The caller's uploads, newest first.
#[server(endpoint = "list_uploads")]
pub async fn list_uploads() -> Result<Vec<UploadView>, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let uploads = domain.for_actor(&actor).uploads().list().await?;
    Ok(uploads.into_iter().map(UploadView::from).collect())
}

/// Removes one of the caller's uploads.
#[server(endpoint = "discard_upload")]
pub async fn discard_upload(id: String) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    domain.for_actor(&actor).uploads().discard(&id).await?;
    Ok(())
}
