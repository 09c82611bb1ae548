//! Prestaged content on a DP: `wimdeck dp import-prestaged FILE` puts the file's manifests and
//! chunks in the DP's prestaged store (`prestaged/`), whole or not at all. The agent tells the
//! site which versions it holds there; an install finds their chunks locally and fetches
//! nothing, then frees them.

use std::{collections::HashSet, fs, path::Path};

use crate::{
    Result,
    content::{
        ChunkStore, Manifest,
        manifest::is_sha256,
        prestaged::{self, PackagedVersion, Record},
        store::PendingChunks,
    },
};

use super::Layout;

/// What an import added.
#[derive(Debug, Clone)]
pub struct Imported {
    pub versions: Vec<PackagedVersion>,
    /// Chunks written, and their bytes.
    pub chunks: u64,
    pub bytes: u64,
    /// Chunks the DP held already.
    pub present: u64,
}

/// Imports a prestaged content file. Every record is checked (see
/// [`crate::content::prestaged`]); the chunks are renamed into place only once the whole file
/// checked out, then the manifests, so a version is listed only when all of it is there.
pub fn import(layout: &Layout, file: &Path) -> Result<Imported> {
    let store = layout.prestaged();
    fs::create_dir_all(store.root())?;
    let _lock = lock(&store, true)?;
    let mut pending = PendingChunks::default();
    let mut manifests: Vec<(String, Vec<u8>)> = Vec::new();
    let (mut chunks, mut bytes, mut present) = (0u64, 0u64, 0u64);
    let index = prestaged::read(file, |record| {
        match record {
            Record::Manifest { sha256, bytes } => {
                manifests.push((sha256.to_owned(), bytes.to_vec()));
            }
            Record::Chunk { chunk, bytes: data } => {
                if store.has_chunk(chunk)? {
                    present += 1;
                } else {
                    pending.write(&store, chunk, data)?;
                    chunks += 1;
                    bytes += data.len() as u64;
                }
            }
        }
        Ok(())
    })?;
    pending.commit(&store)?;
    fs::create_dir_all(store.root().join("manifests"))?;
    for (sha256, data) in manifests {
        crate::fsx::write_atomically(&store.manifest_path(&sha256), &data)?;
    }
    Ok(Imported {
        versions: index.contents,
        chunks,
        bytes,
        present,
    })
}

/// The manifests (by SHA-256) of the versions a DP holds from prestaged content files (what
/// it tells the site when it polls).
pub fn available(layout: &Layout) -> Vec<String> {
    versions(&layout.prestaged())
}

fn versions(store: &ChunkStore) -> Vec<String> {
    let Ok(entries) = fs::read_dir(store.root().join("manifests")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let sha = name.strip_suffix(".json")?;
            is_sha256(sha).then(|| sha.to_owned())
        })
        .collect()
}

/// Frees a version installed from the prestaged store: its manifest, and its chunks that no
/// other prestaged version needs.
pub(super) fn release(store: &ChunkStore, manifest_sha256: &str) -> Result<()> {
    let path = store.manifest_path(manifest_sha256);
    if !path.exists() {
        return Ok(());
    }
    // An import adding a version that shares these chunks finishes first.
    let _lock = lock(store, true)?;
    let Ok(bytes) = fs::read(&path) else {
        return Ok(());
    };
    fs::remove_file(&path)?;
    let mut kept: HashSet<String> = HashSet::new();
    for other in versions(store) {
        if let Some(manifest) = fs::read(store.manifest_path(&other))
            .ok()
            .and_then(|b| Manifest::parse(&b).ok())
        {
            kept.extend(manifest.distinct_chunks().into_iter().map(|c| c.sha256));
        }
    }
    if let Ok(manifest) = Manifest::parse(&bytes) {
        for chunk in manifest.distinct_chunks() {
            if !kept.contains(&chunk.sha256) {
                store.remove_chunk(&chunk.sha256)?;
            }
        }
    }
    Ok(())
}

/// The prestaged store's lock (`prestaged/.lock`), held by an import, by a release and by a
/// sweep, so none of them sees another's half-done work (an import's temporary chunks, or
/// chunks a release judged unused that an import is about to name). `None` when `wait` is
/// false and someone else holds it.
pub(super) fn lock(store: &ChunkStore, wait: bool) -> Result<Option<fs::File>> {
    use rustix::fs::{FlockOperation, flock};
    fs::create_dir_all(store.root())?;
    let file = fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(store.root().join(".lock"))?;
    let operation = if wait {
        FlockOperation::LockExclusive
    } else {
        FlockOperation::NonBlockingLockExclusive
    };
    match flock(&file, operation) {
        Ok(()) => Ok(Some(file)),
        Err(rustix::io::Errno::WOULDBLOCK) if !wait => Ok(None),
        Err(e) => Err(std::io::Error::from(e).into()),
    }
}
