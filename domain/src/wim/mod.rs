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

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::progress::Progress;

/// Compression of a written WIM, as DISM names them: none, fast (XPRESS), maximum (LZX).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Xpress,
    Lzx,
}

impl std::str::FromStr for Compression {
    type Err = crate::Error;

    /// `none`, `xpress` or `lzx` (any case); anything else is refused, never guessed.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "xpress" => Ok(Self::Xpress),
            "lzx" => Ok(Self::Lzx),
            other => Err(crate::Error::invalid(
                "compression",
                format!(
                    "'{other}' is not a compression: choose none, xpress (fast) or lzx (maximum)"
                ),
            )),
        }
    }
}

/// One entry of a directory inside an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntry {
    pub name: String,
    pub is_dir: bool,
    /// Size of the file's data (0 for directories).
    pub size: u64,
    /// Last write time, Unix milliseconds.
    pub modified_ms: i64,
}

/// A file or folder of an image with what identifies its content, for comparing images
/// without extracting them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Full path inside the image (`/Windows/System32/config/SYSTEM`).
    pub path: String,
    pub is_dir: bool,
    pub size: u64,
    /// SHA-1 of the unnamed data stream, as the WIM's lookup table has it (empty for folders
    /// and empty files).
    pub sha1: String,
}

/// The name and description an image's metadata takes (a capture or discover image's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageProperties {
    pub name: String,
    pub description: String,
}

/// A change to the files of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    /// Adds the file or folder at `source` (on this server) as `target` in the image,
    /// replacing a file already there.
    Add { source: PathBuf, target: String },
    /// Deletes `target` (a file, or a folder with everything in it).
    Delete { target: String },
}

/// Reports progress and notices cancellation while wimlib works.
#[derive(Debug, Clone)]
pub struct Monitor {
    pub progress: Arc<Progress>,
    pub cancel: CancellationToken,
    /// The job the work is for: its temporary files carry its id, so that the start-up sweep
    /// leaves those of a job that is still running alone.
    pub job: Option<i64>,
}

impl Monitor {
    /// A monitor nobody watches (for the command line and tests).
    pub fn unwatched() -> Self {
        Self {
            progress: Arc::new(Progress::default()),
            cancel: CancellationToken::new(),
            job: None,
        }
    }
}

/// Operations on WIM files. Blocking: call from a blocking thread. The source is only read;
/// outputs appear under their final names only once written and verified, never partially.
pub trait WimBackend: Send + Sync + 'static {
    /// Reads the header and every image's metadata; with `hash`, also the file's SHA-256.
    fn inspect(&self, path: &Path, hash: bool) -> Result<WimInspection, WimError>;

    /// Writes image `index` of `source` as a new one-image WIM at `output`.
    fn extract_index(
        &self,
        source: &Path,
        index: u32,
        output: &Path,
        monitor: &Monitor,
    ) -> Result<(), WimError>;

    /// Rewrites every image into a new WIM at `output` with `compression`, leaving out data no
    /// image uses (what DISM's /Export-Image does).
    fn export(
        &self,
        source: &Path,
        output: &Path,
        compression: Compression,
        monitor: &Monitor,
    ) -> Result<(), WimError>;

    /// Joins the parts of a split WIM (given its first part, the others beside it) into one
    /// WIM at `output`, compressed as the parts are.
    fn join(&self, first_part: &Path, output: &Path, monitor: &Monitor) -> Result<(), WimError>;

    /// Checks the integrity table (if any), every image's metadata and all file data.
    fn verify(&self, path: &Path, monitor: &Monitor) -> Result<(), WimError>;

    /// The entries of one directory of image `index` (`dir` like `/Windows/System32`),
    /// directories first, then by name.
    fn list_dir(&self, path: &Path, index: u32, dir: &str) -> Result<Vec<DirEntry>, WimError>;

    /// Copies `paths` (files or folders inside image `index`, like `/Windows/INF`) into
    /// `target_dir`, each under its own name (not its full path); absent paths are skipped.
    /// Returns the paths that existed.
    fn extract_paths(
        &self,
        path: &Path,
        index: u32,
        paths: &[&str],
        target_dir: &Path,
    ) -> Result<Vec<String>, WimError>;

    /// Every file and folder of image `index`, in path order, with sizes and hashes.
    fn list_files(&self, path: &Path, index: u32) -> Result<Vec<FileEntry>, WimError>;

    /// Writes a new WIM at `output`: `source` with `changes` applied to image `index` (files
    /// and folders added or replaced, paths deleted) and, if given, the image's name and
    /// description set. The building block of boot image builds.
    fn apply_changes(
        &self,
        source: &Path,
        index: u32,
        changes: &[FileChange],
        properties: Option<&ImageProperties>,
        output: &Path,
        monitor: &Monitor,
    ) -> Result<(), WimError>;

    /// Splits `source` into parts of at most `part_bytes` (for FAT32 media): `first_part`
    /// (`install.swm`), then `install2.swm`, …; returns the parts in order.
    fn split(
        &self,
        source: &Path,
        first_part: &Path,
        part_bytes: u64,
        monitor: &Monitor,
    ) -> Result<Vec<PathBuf>, WimError>;
}

/// Whether the file's header says it is solid (ESD-style, format version 3584): read directly,
/// because an encrypted ESD's header is the only part anything can read.
pub fn header_is_solid(path: &Path) -> bool {
    use std::io::Read;
    let mut header = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok_and(|()| {
            &header[..8] == b"MSWIM\0\0\0"
                && u32::from_le_bytes([header[12], header[13], header[14], header[15]]) == 3584
        })
}

/// The fields of a WIM header that tie the parts of a split WIM together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PartHeader {
    guid: [u8; 16],
    part: u16,
    total: u16,
}

/// Reads a file's header directly (a part's header is all that identifies it); `None` when
/// the file is too short or has no WIM magic.
fn read_part_header(path: &Path) -> std::io::Result<Option<PartHeader>> {
    use std::io::Read;
    let mut header = [0u8; 44];
    let mut file = std::fs::File::open(path)?;
    match file.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    if &header[..8] != b"MSWIM\0\0\0" {
        return Ok(None);
    }
    let mut guid = [0u8; 16];
    guid.copy_from_slice(&header[24..40]);
    Ok(Some(PartHeader {
        guid,
        part: u16::from_le_bytes([header[40], header[41]]),
        total: u16::from_le_bytes([header[42], header[43]]),
    }))
}

/// The name part `n` of a split WIM has beside its first part: `install.swm`, `install2.swm`, …
pub fn split_part_path(first: &Path, n: u16) -> PathBuf {
    let stem = first
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match first.extension() {
        Some(ext) => first.with_file_name(format!("{stem}{n}.{}", ext.to_string_lossy())),
        None => first.with_file_name(format!("{stem}{n}")),
    }
}

/// The other parts of the split WIM whose first part is `first`, in order, each checked to be
/// the part it should be of the same set. Empty for a WIM that is not split; an error for a
/// later part, or when a part is missing or belongs to another split WIM.
pub fn split_siblings(first: &Path) -> Result<Vec<PathBuf>, WimError> {
    let io = |path: &Path, e: std::io::Error| WimError::Io {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    let Some(head) = read_part_header(first).map_err(|e| io(first, e))? else {
        return Err(WimError::NotAWim(first.to_path_buf()));
    };
    if head.total <= 1 {
        return Ok(Vec::new());
    }
    if head.part != 1 {
        return Err(WimError::SplitPart {
            path: first.to_path_buf(),
            part: head.part,
            total: head.total,
        });
    }
    let paths: Vec<PathBuf> = (2..=head.total)
        .map(|n| split_part_path(first, n))
        .collect();
    let missing: Vec<String> = paths
        .iter()
        .filter(|p| !p.is_file())
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    if !missing.is_empty() {
        return Err(WimError::SplitIncomplete {
            path: first.to_path_buf(),
            total: head.total,
            missing,
        });
    }
    for (n, path) in (2..=head.total).zip(&paths) {
        let mismatch = |detail: String| WimError::SplitMismatch {
            first: first.to_path_buf(),
            part: path.clone(),
            detail,
        };
        match read_part_header(path).map_err(|e| io(path, e))? {
            None => return Err(mismatch("it is not a WIM part".into())),
            Some(h) if h.guid != head.guid => {
                return Err(mismatch(
                    "it is a part of a different split WIM (another GUID)".into(),
                ));
            }
            Some(h) if h.part != n || h.total != head.total => {
                return Err(mismatch(format!(
                    "its header says part {} of {}, expected part {n} of {}",
                    h.part, h.total, head.total
                )));
            }
            Some(_) => {}
        }
    }
    Ok(paths)
}

/// Runs a blocking engine call on a blocking thread.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, WimError> + Send + 'static,
) -> Result<T, WimError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| WimError::Internal(format!("the WIM operation stopped unexpectedly: {e}")))?
}

/// Inspects a WIM (with its SHA-256) on a blocking thread.
pub async fn inspect(backend: Arc<dyn WimBackend>, path: &Path) -> Result<WimInspection, WimError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || backend.inspect(&path, true))
        .await
        .map_err(|e| WimError::Internal(format!("the inspection stopped unexpectedly: {e}")))?
}
