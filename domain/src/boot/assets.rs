//! Files a recipe takes from the admin — a background picture, a prestart command's folder —
//! kept in Wimdeck's asset store (`<data_dir>/boot/assets`), each named by its content, so a
//! recipe names exactly the bytes it was made with, and a rebuild months later adds the same.
//!
//! A file is `<sha256>`; a folder is `<sha256>.d`, the hash being that of its manifest (each
//! file's relative path and SHA-256, in order). Both are written under a temporary name and
//! renamed into place, so an asset either is whole or is not there. An asset no recipe and no
//! kept revision names is removed by [`collect`].

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};

use super::recipe::Asset;
use crate::{Error, Result, drivers::package};

/// Caps on a prestart command's folder: it is copied into every build of the image.
const FOLDER_LIMITS: package::Limits = package::Limits {
    max_entries: 2_000,
    max_total_bytes: 256 << 20,
    max_ratio: 100,
    ratio_floor_bytes: 16 << 20,
};

pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("boot").join("assets")
}

/// Where an asset's bytes are.
pub fn path_of(data_dir: &Path, asset: &Asset) -> PathBuf {
    let store = dir(data_dir);
    let file = store.join(&asset.sha256);
    if file.is_file() {
        file
    } else {
        store.join(format!("{}.d", asset.sha256))
    }
}

fn temp_name(store: &Path) -> PathBuf {
    let suffix: String = crate::accounts::random_token()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    store.join(format!(".tmp-{suffix}"))
}

/// Keeps `bytes` as a file asset named `name`.
pub fn put_file(data_dir: &Path, name: &str, bytes: &[u8]) -> Result<Asset> {
    let store = dir(data_dir);
    fs::create_dir_all(&store)?;
    let sha256 = hex::encode(Sha256::digest(bytes));
    let target = store.join(&sha256);
    if !target.is_file() {
        crate::fsx::write_atomically(&target, bytes)?;
    }
    Ok(Asset {
        sha256,
        name: name.to_owned(),
        size_bytes: bytes.len() as u64,
        files: 1,
    })
}

/// Keeps a folder (or the folder a `.zip` or `.cab` holds) as a folder asset, unpacked with
/// the defences archives need.
pub fn put_folder(data_dir: &Path, name: &str, source: &Path) -> Result<Asset> {
    let store = dir(data_dir);
    fs::create_dir_all(&store)?;
    let temp = temp_name(&store);
    let unpacked = package::unpack(source, &temp, &FOLDER_LIMITS)
        .map_err(|e| Error::invalid("files", format!("{}: {e}", source.display())))?;
    let result = (|| {
        if unpacked.files == 0 {
            return Err(Error::invalid(
                "files",
                format!("{} holds no files", source.display()),
            ));
        }
        let sha256 = manifest_hash(&temp)?;
        let target = store.join(format!("{sha256}.d"));
        if target.is_dir() {
            fs::remove_dir_all(&temp)?;
        } else {
            fs::rename(&temp, &target)?;
            crate::fsx::sync_dir(&store)?;
        }
        Ok(Asset {
            sha256,
            name: name.to_owned(),
            size_bytes: unpacked.bytes,
            files: u32::try_from(unpacked.files).unwrap_or(u32::MAX),
        })
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&temp);
    }
    result
}

/// Every file below `root`, relative, `/`-separated, in order.
fn files_below(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let relative = path
                    .strip_prefix(root)
                    .map_err(|e| Error::Internal(e.to_string()))?
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((relative, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The hash of a folder's manifest: `<sha256>  <path>\n` per file, in path order.
fn manifest_hash(root: &Path) -> Result<String> {
    let mut manifest = Sha256::new();
    for (relative, path) in files_below(root)? {
        let hash = crate::fsx::sha256_file(&path)?;
        manifest.update(format!("{hash}  {relative}\n").as_bytes());
    }
    Ok(hex::encode(manifest.finalize()))
}

/// Checks that an asset is in the store and is what its name says (a build adds nothing it
/// cannot vouch for).
pub fn check(data_dir: &Path, asset: &Asset) -> Result<PathBuf> {
    let path = path_of(data_dir, asset);
    let actual = if path.is_dir() {
        manifest_hash(&path)?
    } else if path.is_file() {
        crate::fsx::sha256_file(&path)?
    } else {
        return Err(Error::invalid(
            "asset",
            format!(
                "{} is no longer in Wimdeck's asset store; choose it again",
                asset.name
            ),
        ));
    };
    if actual != asset.sha256 {
        return Err(Error::invalid(
            "asset",
            format!(
                "{} in Wimdeck's asset store was changed on disk (its hash is {actual}, the recipe names {}); choose it again",
                asset.name, asset.sha256
            ),
        ));
    }
    Ok(path)
}

/// Removes the assets not in `keep` (hashes), and temporaries left by a crash.
pub fn collect(data_dir: &Path, keep: &BTreeSet<String>) -> Result<Vec<PathBuf>> {
    let store = dir(data_dir);
    let Ok(entries) = fs::read_dir(&store) else {
        return Ok(Vec::new());
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let hash = name.strip_suffix(".d").unwrap_or(&name);
        if name.starts_with(".tmp-") || !keep.contains(hash) {
            let path = entry.path();
            if path.is_dir() {
                fs::remove_dir_all(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
            removed.push(path);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_named_by_content_and_checked() {
        let data = tempfile::tempdir().expect("tempdir");
        let a = put_file(data.path(), "corp.jpg", b"picture").expect("put");
        let b = put_file(data.path(), "other name.jpg", b"picture").expect("put");
        assert_eq!(a.sha256, b.sha256);
        assert!(check(data.path(), &a).is_ok());
        fs::write(path_of(data.path(), &a), b"changed").expect("tamper");
        assert!(check(data.path(), &a).is_err());
    }

    #[test]
    fn a_folder_hash_covers_names_and_contents() {
        let data = tempfile::tempdir().expect("tempdir");
        let src = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(src.path().join("sub")).expect("mkdir");
        fs::write(src.path().join("pre.cmd"), b"@echo off").expect("write");
        fs::write(src.path().join("sub/tool.exe"), b"MZ").expect("write");
        let first = put_folder(data.path(), "Prestart", src.path()).expect("put");
        assert_eq!(first.files, 2);
        assert!(path_of(data.path(), &first).join("sub/tool.exe").is_file());
        assert_eq!(
            check(data.path(), &first).ok(),
            Some(path_of(data.path(), &first))
        );
        fs::rename(src.path().join("pre.cmd"), src.path().join("pre2.cmd")).expect("rename");
        let second = put_folder(data.path(), "Prestart", src.path()).expect("put");
        assert_ne!(first.sha256, second.sha256);
        let keep = BTreeSet::from([second.sha256.clone()]);
        assert_eq!(collect(data.path(), &keep).expect("collect").len(), 1);
        assert!(check(data.path(), &first).is_err());
        assert!(check(data.path(), &second).is_ok());
    }

    #[test]
    fn an_empty_folder_is_refused() {
        let data = tempfile::tempdir().expect("tempdir");
        let src = tempfile::tempdir().expect("tempdir");
        assert!(put_folder(data.path(), "empty", src.path()).is_err());
        assert_eq!(fs::read_dir(dir(data.path())).expect("store").count(), 0);
    }
}
