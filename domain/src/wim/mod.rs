//! The WIM engine: everything Wimdeck does to WIM files goes through [`WimBackend`], whose real
//! implementation, [`Wimlib`], calls wimlib 1.14 (bundled). wimlib's handles are not `Send`:
//! each operation opens, uses and drops its handle on one blocking thread ([`inspect`] does the
//! `spawn_blocking`).
//!
//! [`WimInspection`] is what `wimdeck wim inspect --json` prints; its shape is documented in the
//! README and kept stable.

mod error;
mod inspect;
mod wimlib_backend;

pub use error::WimError;
pub use inspect::{Architecture, FileInfo, ImageInfo, Version, WimInspection, WinPe, WinPeSupport};
pub use wimlib_backend::Wimlib;

use std::{path::Path, sync::Arc};

/// Operations on WIM files. Blocking: call from a blocking thread.
pub trait WimBackend: Send + Sync + 'static {
    /// Reads the header and every image's metadata, and hashes the file.
    fn inspect(&self, path: &Path) -> Result<WimInspection, WimError>;
}

/// Inspects a WIM on a blocking thread.
pub async fn inspect(backend: Arc<dyn WimBackend>, path: &Path) -> Result<WimInspection, WimError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || backend.inspect(&path))
        .await
        .map_err(|e| WimError::Internal(format!("the inspection stopped unexpectedly: {e}")))?
}
