//! What an unpacked package holds: each INF read, the files it needs found (ignoring case, as
//! Windows does), its content hash, and its signature status. Each INF is one driver.

use std::{
    collections::BTreeMap,
    io,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    inf::{DriverArch, InfDriver, SourceFile},
    signing::{self, Signature},
};

/// One file of a driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverFile {
    /// Relative to the INF's folder, with the case found on disk, `/`-separated.
    pub relative: String,
    pub on_disk: PathBuf,
    pub bytes: u64,
}

/// A hardware ID a driver matches, with the model it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardwareId {
    pub id: String,
    pub description: String,
    /// Compatible IDs of the model (matched less specifically).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compatible: Vec<String>,
    pub architecture: DriverArch,
}

/// A driver ready for the catalog.
#[derive(Debug, Clone)]
pub struct ReadDriver {
    pub inf: InfDriver,
    pub inf_name: String,
    /// The first model's device description (what admins search for), else the INF's name.
    pub name: String,
    /// The INF, its catalog files present in the package, and the files it installs.
    pub files: Vec<DriverFile>,
    pub hardware_ids: Vec<HardwareId>,
    /// SHA-256 over the files' names (lower-cased) and contents.
    pub content_hash: String,
    pub signature: Signature,
    pub bytes: u64,
}

/// One INF of a package: read, or rejected with the reason.
#[derive(Debug, Clone)]
pub struct FoundDriver {
    /// Relative to the package root.
    pub inf_path: String,
    pub outcome: Result<ReadDriver, String>,
}

/// Reads every INF under `root` (sorted by path).
pub fn read_package(root: &Path) -> io::Result<Vec<FoundDriver>> {
    let mut infs = Vec::new();
    collect(root, &mut |path| {
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("inf"))
        {
            infs.push(path.to_path_buf());
        }
    })?;
    infs.sort();
    infs.iter()
        .map(|inf| {
            let inf_path = relative_text(root, inf);
            Ok(FoundDriver {
                outcome: read_driver(inf)?,
                inf_path,
            })
        })
        .collect()
}

fn collect(dir: &Path, found: &mut impl FnMut(&Path)) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect(&entry.path(), found)?;
        } else if kind.is_file() {
            found(&entry.path());
        }
    }
    Ok(())
}

fn relative_text(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Every file under `folder`, by lower-cased relative path.
fn files_by_key(folder: &Path) -> io::Result<BTreeMap<String, PathBuf>> {
    let mut files = BTreeMap::new();
    collect(folder, &mut |path| {
        files.insert(
            relative_text(folder, path).to_lowercase(),
            path.to_path_buf(),
        );
    })?;
    Ok(files)
}

/// Reads one INF and everything it refers to; `Err` only for I/O failures, a driver that
/// cannot go into the catalog is `Ok(Err(reason))`.
pub fn read_driver(inf_path: &Path) -> io::Result<Result<ReadDriver, String>> {
    let bytes = std::fs::read(inf_path)?;
    let inf = match InfDriver::from_bytes(&bytes) {
        Ok(inf) => inf,
        Err(e) => return Ok(Err(e.to_string())),
    };
    if inf.primitive {
        return Ok(Err(
            "a primitive driver ([DefaultInstall], no devices): it is installed by running its INF, and a boot image takes only drivers that install on devices".into(),
        ));
    }
    if inf.models.is_empty() {
        return Ok(Err(
            "the INF installs no device (its [Manufacturer] lists no models)".into(),
        ));
    }
    let folder = inf_path.parent().unwrap_or(Path::new("."));
    let present = files_by_key(folder)?;
    let find = |relative: &Path| {
        let key = relative.to_string_lossy().replace('\\', "/").to_lowercase();
        present.get(&key).cloned()
    };
    let inf_name = inf_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();

    let mut files = vec![file_entry(folder, inf_path)?];
    let mut missing = Vec::new();
    for source in &inf.files {
        let found: Vec<PathBuf> = if source.by_name {
            // Named only by CopyFiles: wherever it is in the package, as many times as it is.
            present
                .iter()
                .filter(|(key, _)| names(source, key))
                .map(|(_, path)| path.clone())
                .collect()
        } else {
            find(&source.path).into_iter().collect()
        };
        if found.is_empty() {
            missing.push(source.path.to_string_lossy().replace('\\', "/"));
        }
        for path in found {
            if !files.iter().any(|f| f.on_disk == path) {
                files.push(file_entry(folder, &path)?);
            }
        }
    }
    if !missing.is_empty() {
        missing.sort();
        missing.dedup();
        return Ok(Err(format!(
            "files the INF needs are not in the package: {}",
            missing.join(", ")
        )));
    }
    let signature = check_signature(&inf, &files, &find)?;
    // Catalog files belong to the driver: they are what signs it.
    for (_, name) in &inf.catalog_files {
        if let Some(path) = find(Path::new(name))
            && !files.iter().any(|f| f.on_disk == path)
        {
            files.push(file_entry(folder, &path)?);
        }
    }
    let content_hash = content_hash(&files)?;
    let hardware_ids = inf
        .models
        .iter()
        .map(|m| HardwareId {
            id: m.hardware_id.clone(),
            description: m.description.clone(),
            compatible: m.compatible_ids.clone(),
            architecture: m.architecture,
        })
        .collect();
    let name = inf
        .models
        .first()
        .map(|m| m.description.clone())
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| inf_name.clone());
    let bytes = files.iter().map(|f| f.bytes).sum();
    Ok(Ok(ReadDriver {
        inf,
        inf_name,
        name,
        files,
        hardware_ids,
        content_hash,
        signature,
        bytes,
    }))
}

/// The files `inf` needs that are not in `folder` (for a report; the import says the same).
pub(crate) fn missing_files(inf: &InfDriver, folder: &Path) -> io::Result<Vec<PathBuf>> {
    let present = files_by_key(folder)?;
    Ok(inf
        .files
        .iter()
        .filter(|source| !present.keys().any(|key| names(source, key)))
        .map(|source| source.path.clone())
        .collect())
}

/// Whether the file at `relative` (`/`-separated) is `source`: the same path, or for a file
/// named only by CopyFiles, the same file name (both ignoring case).
fn names(source: &SourceFile, relative: &str) -> bool {
    let wanted = source.path.to_string_lossy().replace('\\', "/");
    if source.by_name {
        let name = relative.rsplit('/').next().unwrap_or(relative);
        name.eq_ignore_ascii_case(&wanted)
    } else {
        relative.eq_ignore_ascii_case(&wanted)
    }
}

fn file_entry(folder: &Path, path: &Path) -> io::Result<DriverFile> {
    Ok(DriverFile {
        relative: relative_text(folder, path),
        on_disk: path.to_path_buf(),
        bytes: std::fs::metadata(path)?.len(),
    })
}

/// Signed when the catalog of every architecture the driver supports lists its files for
/// that architecture.
fn check_signature(
    inf: &InfDriver,
    files: &[DriverFile],
    find: &dyn Fn(&Path) -> Option<PathBuf>,
) -> io::Result<Signature> {
    let mut first = None;
    for arch in &inf.architectures {
        let catalog = inf
            .catalog_file(*arch)
            .map(|name| (name, find(Path::new(name))));
        let for_arch: Vec<(String, &Path)> = files
            .iter()
            .filter(|f| {
                inf.files
                    .iter()
                    .all(|s| s.architecture.is_none_or(|a| a == *arch) || !names(s, &f.relative))
            })
            .map(|f| (f.relative.clone(), f.on_disk.as_path()))
            .collect();
        let status = signing::check(catalog.as_ref().map(|(n, p)| (*n, p.as_deref())), &for_arch)?;
        if !status.is_signed() {
            return Ok(status);
        }
        first.get_or_insert(status);
    }
    Ok(first.unwrap_or(Signature::Unsigned {
        reason: "the INF supports no architecture".into(),
    }))
}

fn content_hash(files: &[DriverFile]) -> io::Result<String> {
    let mut entries: Vec<(String, &Path)> = files
        .iter()
        .map(|f| (f.relative.to_lowercase(), f.on_disk.as_path()))
        .collect();
    entries.sort();
    let mut total = Sha256::new();
    for (name, path) in entries {
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Sha256::new();
        io::copy(&mut file, &mut hasher)?;
        total.update(name.as_bytes());
        total.update([0]);
        total.update(hasher.finalize());
    }
    Ok(hex::encode(total.finalize()))
}
