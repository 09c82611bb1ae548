//! A DP's data directory:
//!
//! ```text
//! dp.json                        site URL, DP id and credential (mode 0600)
//! cache/chunks/<aa>/<sha256>     chunks fetched again to repair a staged file
//! prestaged/chunks/<aa>/<sha256> chunks imported from prestaged content files
//! prestaged/manifests/<sha256>.json  their versions' manifests (each present only once all
//!                                its chunks are)
//! content/<content id>/
//!   manifests/<sha256>.json      manifests fetched from the site
//!   v<N>-<G>/…                   the files of version N (as asked by request G), verified
//!   v<N>-<G>.json                which version that is (id, number, manifest)
//!   current -> v<N>-<G>          the version in use, switched atomically
//!   .staging-v<N>-<G>/…          a version being assembled (its files written as chunks
//!                                arrive; after a kill, their verified prefixes are kept)
//! ```
//!
//! A file reaches `v<N>-<G>` only inside a staging folder that is renamed whole, after every file
//! in it matched its SHA-256; `current` changes only after that. The version in use is never
//! touched while the next one is assembled, so a failure (a full disk, a kill) leaves it
//! whole.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{Error, Result, content::ChunkStore};

/// The DP's enrollment, kept in `dp.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrollment {
    pub site: String,
    pub dp_id: i64,
    pub dp_name: String,
    pub credential: String,
    /// SHA-256 of the site's TLS certificate (DER), pinned at enrollment over `https://`
    /// unless the system's trust store is used.
    #[serde(default)]
    pub pinned_certificate_sha256: Option<String>,
}

/// Which version a `v<N>` folder holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Installed {
    pub version_id: i64,
    pub number: i32,
    pub manifest_sha256: String,
}

#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn enrollment_path(&self) -> PathBuf {
        self.root.join("dp.json")
    }

    pub fn read_enrollment(&self) -> Result<Enrollment> {
        let path = self.enrollment_path();
        let bytes = fs::read(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::Config(format!(
                "{} is not enrolled: run `wimdeck dp enroll --site URL --token T --data-dir {}` first",
                self.root.display(),
                self.root.display()
            )),
            _ => e.into(),
        })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Config(format!("{} is damaged: {e}", path.display())))
    }

    /// Writes the enrollment, readable by its owner only (it holds the credential).
    pub fn write_enrollment(&self, enrollment: &Enrollment) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        fs::create_dir_all(&self.root)?;
        let bytes =
            serde_json::to_vec_pretty(enrollment).map_err(|e| Error::Internal(e.to_string()))?;
        let path = self.enrollment_path();
        let mut output = crate::fsx::TempOutput::create(&path)?;
        output
            .file()
            .set_permissions(fs::Permissions::from_mode(0o600))?;
        io::Write::write_all(output.file(), &bytes)?;
        if path.exists() {
            fs::remove_file(&path)?;
        }
        output.persist()?;
        Ok(())
    }

    pub fn cache(&self) -> ChunkStore {
        ChunkStore::new(self.root.join("cache"))
    }

    /// Chunks and manifests imported from prestaged content files.
    pub fn prestaged(&self) -> ChunkStore {
        ChunkStore::new(self.root.join("prestaged"))
    }

    pub fn content_dir(&self, content_id: i64) -> PathBuf {
        self.root.join("content").join(content_id.to_string())
    }

    pub fn manifest_path(&self, content_id: i64, sha256: &str) -> PathBuf {
        self.content_dir(content_id)
            .join("manifests")
            .join(format!("{sha256}.json"))
    }

    /// The folder of a version installed for request `generation` (a redistribution of the
    /// version in use assembles a folder of its own beside it).
    pub fn folder_name(number: i32, generation: i32) -> String {
        format!("v{number}-{generation}")
    }

    pub fn staging_dir(&self, content_id: i64, folder: &str) -> PathBuf {
        self.content_dir(content_id)
            .join(format!(".staging-{folder}"))
    }

    /// The version in use, if any, and its folder (what `current` points at).
    pub fn installed(&self, content_id: i64) -> Result<Option<(Installed, PathBuf)>> {
        let dir = self.content_dir(content_id);
        let target = match fs::read_link(dir.join("current")) {
            Ok(target) => target,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(name) = target
            .to_str()
            .filter(|n| n.starts_with('v') && !n.contains('/'))
        else {
            return Ok(None);
        };
        let bytes = match fs::read(dir.join(format!("{name}.json"))) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(serde_json::from_slice(&bytes)
            .ok()
            .map(|installed| (installed, dir.join(name))))
    }

    /// Makes `folder` (renamed from its staging folder) the version in use, atomically, then
    /// removes the version it replaces and any other staging folder.
    pub fn switch_to(&self, content_id: i64, installed: &Installed, folder: &str) -> Result<()> {
        let dir = self.content_dir(content_id);
        let previous = self.installed(content_id)?;
        crate::fsx::write_atomically(
            &dir.join(format!("{folder}.json")),
            &serde_json::to_vec(installed).map_err(|e| Error::Internal(e.to_string()))?,
        )?;
        let staging = self.staging_dir(content_id, folder);
        let final_dir = dir.join(folder);
        let in_use = previous.as_ref().is_some_and(|(_, dir)| *dir == final_dir);
        if staging.exists() && !in_use {
            // Left by an attempt that died between its rename and its switch: not in use.
            if final_dir.exists() {
                fs::remove_dir_all(&final_dir)?;
            }
            fs::rename(&staging, &final_dir)?;
        }
        let link = dir.join(".current.tmp");
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(folder, &link)?;
        fs::rename(&link, dir.join("current"))?;
        crate::fsx::sync_dir(&dir)?;
        if let Some((_, old)) = previous
            && old != final_dir
        {
            let _ = fs::remove_dir_all(&old);
            let _ = fs::remove_file(old.with_extension("json"));
        }
        if let Ok(entries) = fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(".staging-") {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
        Ok(())
    }

    /// Bytes of every file under `content/` (what the DP reports as its library size).
    pub fn library_bytes(&self) -> u64 {
        fn walk(dir: &Path) -> u64 {
            let Ok(entries) = fs::read_dir(dir) else {
                return 0;
            };
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => walk(&e.path()),
                    Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
                    _ => 0,
                })
                .sum()
        }
        walk(&self.root.join("content")) + walk(&self.root.join("cache"))
    }

    /// Free bytes on the DP's file system.
    pub fn free_bytes(&self) -> u64 {
        rustix::fs::statvfs(&self.root)
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
            .unwrap_or(0)
    }
}
