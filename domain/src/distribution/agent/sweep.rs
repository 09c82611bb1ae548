//! What a DP's folder gathers that nothing will use, removed while the agent runs no work:
//! at its start, then at most hourly when it is idle.
//!
//! - the repair cache (`cache/`): its chunks served the repairs that fetched them;
//! - temporary files of writes a kill interrupted (`….wimdeck-tmp-…`, `.current.tmp`);
//! - version folders `current` does not point at (a switch removes the old one, but a
//!   kill can come first);
//! - staging folders nothing touched for [`STALE_STAGING`] (a transfer that resumes sooner
//!   keeps its verified prefix);
//! - in the prestaged store, unless an import holds it: temporary files of a killed import,
//!   and chunks no prestaged manifest names (an import killed between its chunks and its
//!   manifests).
//!
//! Prestaged versions that were never installed are kept: the admin brought them for content
//! the DP may be asked for later. The DP's health report counts the library they are in.

use std::{
    collections::HashSet,
    fs, io,
    path::Path,
    time::{Duration, SystemTime},
};

use super::{Layout, prestaged};
use crate::{Result, content::Manifest, fsx::TEMP_MARK};

/// A staging folder untouched this long is given up.
pub const STALE_STAGING: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub files: u64,
    pub bytes: u64,
}

impl Swept {
    fn remove_file(&mut self, path: &Path) -> io::Result<()> {
        let bytes = fs::symlink_metadata(path).map(|m| m.len()).unwrap_or(0);
        match fs::remove_file(path) {
            Ok(()) => {
                self.files += 1;
                self.bytes += bytes;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn remove_dir(&mut self, path: &Path) -> io::Result<()> {
        for (_, bytes) in files_under(path) {
            self.files += 1;
            self.bytes += bytes;
        }
        match fs::remove_dir_all(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Sweeps `layout` (see the module's comment). Call it only while no work runs.
pub fn sweep(layout: &Layout, now: SystemTime) -> Result<Swept> {
    let mut swept = Swept::default();
    let cache = layout.cache();
    if cache.root().exists() {
        swept.remove_dir(cache.root())?;
    }
    if let Ok(contents) = fs::read_dir(layout.root().join("content")) {
        for content in contents.flatten() {
            if content.file_type().is_ok_and(|t| t.is_dir()) {
                sweep_content(&content.path(), now, &mut swept)?;
            }
        }
    }
    sweep_prestaged(layout, &mut swept)?;
    Ok(swept)
}

fn sweep_content(dir: &Path, now: SystemTime, swept: &mut Swept) -> Result<()> {
    let current = fs::read_link(dir.join("current"))
        .ok()
        .and_then(|t| t.to_str().map(str::to_owned));
    for entry in fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if name.contains(TEMP_MARK) || name == ".current.tmp" {
            swept.remove_file(&path)?;
        } else if name.starts_with(".staging-") {
            if is_dir && newest_change(&path).is_some_and(|t| age(now, t) > STALE_STAGING) {
                swept.remove_dir(&path)?;
            }
        } else if is_version_folder(&name) && is_dir && current.as_deref() != Some(&name) {
            swept.remove_dir(&path)?;
            swept.remove_file(&dir.join(format!("{name}.json")))?;
        } else if name == "manifests" && is_dir {
            for file in fs::read_dir(&path)?.flatten() {
                if file.file_name().to_string_lossy().contains(TEMP_MARK) {
                    swept.remove_file(&file.path())?;
                }
            }
        }
    }
    Ok(())
}

fn sweep_prestaged(layout: &Layout, swept: &mut Swept) -> Result<()> {
    let store = layout.prestaged();
    if !store.root().exists() {
        return Ok(());
    }
    // An import running now writes here: leave it to the next sweep.
    let Some(_lock) = prestaged::lock(&store, false)? else {
        return Ok(());
    };
    // Chunks go only when every manifest was read: one that cannot be is never a reason to
    // remove the chunks it may name.
    let mut named: HashSet<String> = HashSet::new();
    let mut every_manifest_read = true;
    match fs::read_dir(store.root().join("manifests")) {
        Ok(manifests) => {
            for entry in manifests {
                let Ok(entry) = entry else {
                    every_manifest_read = false;
                    continue;
                };
                let path = entry.path();
                if entry.file_name().to_string_lossy().contains(TEMP_MARK) {
                    swept.remove_file(&path)?;
                    continue;
                }
                match fs::read(&path).ok().and_then(|b| Manifest::parse(&b).ok()) {
                    Some(manifest) => {
                        named.extend(manifest.distinct_chunks().into_iter().map(|c| c.sha256));
                    }
                    None => every_manifest_read = false,
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(_) => every_manifest_read = false,
    }
    for (path, _) in files_under(&store.chunks_dir()) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.contains(TEMP_MARK) || (every_manifest_read && !named.contains(&name)) {
            swept.remove_file(&path)?;
        }
    }
    Ok(())
}

/// `v<N>-<G>`.
fn is_version_folder(name: &str) -> bool {
    name.strip_prefix('v')
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(n, g)| {
            !n.is_empty()
                && !g.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
                && g.bytes().all(|b| b.is_ascii_digit())
        })
}

fn age(now: SystemTime, then: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or_default()
}

/// The newest modification time of a folder and everything in it.
fn newest_change(dir: &Path) -> Option<SystemTime> {
    let own = fs::metadata(dir).and_then(|m| m.modified()).ok();
    files_under(dir)
        .into_iter()
        .filter_map(|(path, _)| fs::metadata(path).and_then(|m| m.modified()).ok())
        .chain(own)
        .max()
}

/// Every file under `dir` (not following links), with its size.
fn files_under(dir: &Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(entry.path()),
                Ok(_) => {
                    let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                    found.push((entry.path(), size));
                }
                Err(_) => {}
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use super::*;
    use crate::content::{ChunkRef, manifest::ManifestFile};

    fn put(path: &Path, bytes: &[u8]) {
        fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        fs::write(path, bytes).expect("write");
    }

    fn age_by(path: &Path, by: Duration) {
        let then = SystemTime::now() - by;
        for (file, _) in files_under(path) {
            File::options()
                .write(true)
                .open(&file)
                .and_then(|f| f.set_modified(then))
                .expect("file time");
        }
        File::open(path)
            .and_then(|f| f.set_modified(then))
            .expect("dir time");
    }

    fn sha(n: u8) -> String {
        format!("{n:02x}").repeat(32)
    }

    #[test]
    fn leftovers_go_and_what_is_in_use_or_may_resume_stays() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path());
        let root = dir.path();
        // The repair cache.
        put(&root.join("cache/chunks/aa").join(sha(0xaa)), b"cached");
        // A content with its version in use, an old version a kill left, and temporary files.
        let content = root.join("content/5");
        put(&content.join("v2-3/install.wim"), b"in use");
        put(&content.join("v2-3.json"), b"{}");
        std::os::unix::fs::symlink("v2-3", content.join("current")).expect("current");
        put(&content.join("v1-1/install.wim"), b"old");
        put(&content.join("v1-1.json"), b"{}");
        put(&content.join(".current.tmp"), b"");
        put(&content.join(".v3-4.json.wimdeck-tmp-abc"), b"half");
        put(
            &content.join("manifests").join(format!("{}.json", sha(1))),
            b"{}",
        );
        put(&content.join("manifests/.m.json.wimdeck-tmp-x"), b"half");
        // A transfer that may resume (fresh) and one given up (untouched for eight days).
        put(&content.join(".staging-v3-4/install.wim"), b"prefix");
        let stale = root.join("content/6/.staging-v1-1");
        put(&stale.join("install.wim"), b"prefix");
        age_by(&stale, STALE_STAGING + Duration::from_secs(86_400));
        // The prestaged store: a version and its chunk, a chunk no manifest names, and a
        // killed import's temporary chunk.
        let named = ChunkRef {
            sha256: sha(0x11),
            size: 4,
        };
        let manifest = Manifest::new(vec![ManifestFile {
            path: "install.wim".into(),
            size: 4,
            sha256: sha(0x12),
            chunks: vec![named.clone()],
        }]);
        let prestaged = root.join("prestaged");
        put(
            &prestaged
                .join("manifests")
                .join(format!("{}.json", sha(0x13))),
            &manifest.to_bytes().expect("bytes"),
        );
        put(&prestaged.join("chunks/11").join(&named.sha256), b"data");
        let orphan = prestaged.join("chunks/22").join(sha(0x22));
        put(&orphan, b"orphan");
        let temp = prestaged
            .join("chunks/22")
            .join(format!(".{}.wimdeck-tmp-q", sha(0x22)));
        put(&temp, b"half");

        // An import holds the prestaged store: it is left alone.
        let import = prestaged::lock(&layout.prestaged(), true)
            .expect("lock")
            .expect("held");
        let swept = sweep(&layout, SystemTime::now()).expect("sweep");
        assert!(orphan.exists() && temp.exists());
        drop(import);
        let later = sweep(&layout, SystemTime::now()).expect("sweep");
        assert!(!orphan.exists() && !temp.exists());
        assert_eq!(later.files, 2, "{later:?}");

        let mut left: Vec<String> = files_under(root)
            .into_iter()
            .map(|(p, _)| p.strip_prefix(root).expect("under").display().to_string())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "content/5/.staging-v3-4/install.wim".to_owned(),
                "content/5/current".into(),
                format!("content/5/manifests/{}.json", sha(1)),
                "content/5/v2-3.json".into(),
                "content/5/v2-3/install.wim".into(),
                "prestaged/.lock".into(),
                format!("prestaged/chunks/11/{}", sha(0x11)),
                format!("prestaged/manifests/{}.json", sha(0x13)),
            ],
            "swept {swept:?}"
        );
        assert!(content.join("current").exists() && !stale.exists());
        // cache chunk, old version (folder file and record), .current.tmp, two temporary
        // files, the stale staging file.
        assert_eq!(swept.files, 7, "{swept:?}");

        // A manifest that cannot be read: no chunk is judged unused.
        put(
            &prestaged
                .join("manifests")
                .join(format!("{}.json", sha(0x14))),
            b"not a manifest",
        );
        put(&orphan, b"orphan");
        sweep(&layout, SystemTime::now()).expect("sweep");
        assert!(orphan.exists());
    }
}
