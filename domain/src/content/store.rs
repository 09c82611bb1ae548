//! The content library on disk: `chunks/<aa>/<sha256>` (a chunk's bytes, named by their hash)
//! and `manifests/<sha256>.json`.
//!
//! A chunk appears under its name only with its complete bytes: new chunks of a file are
//! written under temporary names, flushed together (one `syncfs` rather than one `fsync` each:
//! a 1 GiB file has thousands of chunks), and only then renamed into place. Whoever finds a
//! chunk under its name can rely on it.

use std::{
    collections::HashSet,
    fs::{self, File},
    io::{self, BufReader, Read, Write},
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};

use super::manifest::{
    CHUNK_AVG, CHUNK_MAX, CHUNK_MIN, ChunkRef, Manifest, ManifestFile, is_sha256, sha256_hex,
};
use crate::{Error, Result, fsx::TEMP_MARK, progress::Progress};

/// A chunk store rooted at one folder (the site's `<data_dir>/content`, or a DP's).
#[derive(Debug, Clone)]
pub struct ChunkStore {
    root: PathBuf,
}

/// What chunking one file into the store found.
#[derive(Debug, Clone)]
pub struct ChunkedFile {
    pub entry: ManifestFile,
    /// Chunks this call wrote (they were not in the store).
    pub written: Vec<ChunkRef>,
}

impl ChunkStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn chunks_dir(&self) -> PathBuf {
        self.root.join("chunks")
    }

    /// Where a chunk lives. `sha256` must be a checked hash (it becomes a file name).
    pub fn chunk_path(&self, sha256: &str) -> PathBuf {
        debug_assert!(is_sha256(sha256));
        self.chunks_dir().join(&sha256[..2]).join(sha256)
    }

    pub fn manifest_path(&self, sha256: &str) -> PathBuf {
        debug_assert!(is_sha256(sha256));
        self.root.join("manifests").join(format!("{sha256}.json"))
    }

    /// Whether the chunk is stored with the expected size.
    pub fn has_chunk(&self, chunk: &ChunkRef) -> io::Result<bool> {
        match fs::metadata(self.chunk_path(&chunk.sha256)) {
            Ok(meta) => Ok(meta.len() == u64::from(chunk.size)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A chunk's bytes, checked against its name: a damaged chunk is an error, never data.
    pub fn read_chunk(&self, chunk: &ChunkRef) -> Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(chunk.size as usize);
        File::open(self.chunk_path(&chunk.sha256))?
            .take(CHUNK_MAX as u64 + 1)
            .read_to_end(&mut bytes)?;
        if bytes.len() != chunk.size as usize || sha256_hex(&bytes) != chunk.sha256 {
            return Err(Error::Conflict(format!(
                "chunk {} of the content library is damaged (its bytes do not match its hash); validate the library",
                chunk.sha256
            )));
        }
        Ok(bytes)
    }

    /// Writes a manifest (its name is the hash of its bytes) and returns that hash. Writing an
    /// existing manifest again changes nothing.
    pub fn write_manifest(&self, manifest: &Manifest) -> Result<String> {
        let bytes = manifest.to_bytes()?;
        // What a DP will refuse is never stored (a name twice but for case, say).
        Manifest::parse(&bytes)?;
        let sha = sha256_hex(&bytes);
        let path = self.manifest_path(&sha);
        if fs::metadata(&path).is_ok_and(|m| m.len() == bytes.len() as u64) {
            // Reused: young again, so no collection takes it before its version commits.
            File::options()
                .write(true)
                .open(&path)?
                .set_modified(std::time::SystemTime::now())?;
            return Ok(sha);
        }
        fs::create_dir_all(self.root.join("manifests"))?;
        crate::fsx::write_atomically(&path, &bytes)?;
        Ok(sha)
    }

    /// The stored bytes of a manifest, checked against its hash.
    pub fn manifest_bytes(&self, sha256: &str) -> Result<Vec<u8>> {
        if !is_sha256(sha256) {
            return Err(Error::invalid("manifest", "is not named by a SHA-256"));
        }
        let bytes = match fs::read(self.manifest_path(sha256)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NotFound(format!("manifest {sha256}")));
            }
            Err(e) => return Err(e.into()),
        };
        if sha256_hex(&bytes) != sha256 {
            return Err(Error::Conflict(format!(
                "manifest {sha256} of the content library is damaged; validate the library"
            )));
        }
        Ok(bytes)
    }

    pub fn read_manifest(&self, sha256: &str) -> Result<Manifest> {
        Manifest::parse(&self.manifest_bytes(sha256)?)
    }

    /// Chunks the file at `source` into the store as `path` of a manifest: every chunk not
    /// stored yet is written, and the file's SHA-256 is computed on the way. When `expected`
    /// is given and the file's hash differs (the file changed since it was recorded), nothing
    /// is renamed into place and the call fails.
    pub fn chunk_file(
        &self,
        source: &Path,
        path: &str,
        expected_sha256: Option<&str>,
        progress: &Progress,
    ) -> Result<ChunkedFile> {
        super::manifest::check_path(path)?;
        let file = File::open(source)?;
        let mut hasher = Sha256::new();
        let mut chunks = Vec::new();
        let mut pending = PendingChunks::default();
        let mut size = 0u64;
        let reader = BufReader::with_capacity(1 << 20, file);
        for chunk in fastcdc::v2020::StreamCDC::new(reader, CHUNK_MIN, CHUNK_AVG, CHUNK_MAX) {
            let chunk = chunk.map_err(|e| Error::Io(io::Error::from(e)))?;
            hasher.update(&chunk.data);
            size += chunk.length as u64;
            let reference = ChunkRef {
                sha256: sha256_hex(&chunk.data),
                size: u32::try_from(chunk.length)
                    .map_err(|_| Error::Internal("a chunk past 4 GiB".into()))?,
            };
            if !pending.contains(&reference.sha256) && !self.has_chunk(&reference)? {
                pending.write(self, &reference, &chunk.data)?;
            }
            progress.advance(chunk.length as u64);
            chunks.push(reference);
        }
        let sha256 = hex::encode(hasher.finalize());
        if let Some(expected) = expected_sha256
            && expected != sha256
        {
            return Err(Error::Conflict(format!(
                "{} changed while it was added to the content library (its SHA-256 is {sha256}, not {expected}); try again",
                source.display()
            )));
        }
        let written = pending.commit(self)?;
        Ok(ChunkedFile {
            entry: ManifestFile {
                path: path.to_owned(),
                size,
                sha256,
                chunks,
            },
            written,
        })
    }
}

impl ChunkStore {
    /// Stores a chunk without flushing it (a DP's cache of fetched chunks: every read of it is
    /// checked against its hash, so a chunk lost to a power failure is fetched again, never
    /// used damaged). Checked against its hash first.
    pub fn cache_chunk(&self, chunk: &ChunkRef, bytes: &[u8]) -> Result<()> {
        if bytes.len() != chunk.size as usize || sha256_hex(bytes) != chunk.sha256 {
            return Err(Error::invalid(
                "chunk",
                format!("{} does not match its hash", chunk.sha256),
            ));
        }
        let target = self.chunk_path(&chunk.sha256);
        let dir = target.parent().unwrap_or(self.root());
        fs::create_dir_all(dir)?;
        let temp = dir.join(format!(".{}{TEMP_MARK}{}", chunk.sha256, temp_suffix()));
        let written = File::create_new(&temp).and_then(|mut f| f.write_all(bytes));
        if let Err(e) = written.and_then(|()| fs::rename(&temp, &target)) {
            let _ = fs::remove_file(&temp);
            return Err(e.into());
        }
        Ok(())
    }

    /// Removes a chunk (gone already is fine).
    pub fn remove_chunk(&self, sha256: &str) -> io::Result<()> {
        match fs::remove_file(self.chunk_path(sha256)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

fn temp_suffix() -> String {
    crate::accounts::random_token()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(10)
        .collect()
}

/// New chunks under temporary names, renamed into place together once flushed.
#[derive(Default)]
pub(crate) struct PendingChunks {
    files: Vec<(ChunkRef, PathBuf)>,
    names: HashSet<String>,
}

impl PendingChunks {
    fn contains(&self, sha256: &str) -> bool {
        self.names.contains(sha256)
    }

    pub(crate) fn write(
        &mut self,
        store: &ChunkStore,
        chunk: &ChunkRef,
        bytes: &[u8],
    ) -> Result<()> {
        let target = store.chunk_path(&chunk.sha256);
        let dir = target.parent().unwrap_or(store.root());
        fs::create_dir_all(dir)?;
        let temp = dir.join(format!(".{}{TEMP_MARK}{}", chunk.sha256, temp_suffix()));
        let mut file = File::create_new(&temp)?;
        file.write_all(bytes)?;
        self.names.insert(chunk.sha256.clone());
        self.files.push((chunk.clone(), temp));
        Ok(())
    }

    /// Flushes every pending chunk, renames each into place and flushes the names.
    pub(crate) fn commit(mut self, store: &ChunkStore) -> Result<Vec<ChunkRef>> {
        if self.files.is_empty() {
            return Ok(Vec::new());
        }
        let root = File::open(store.root())?;
        rustix::fs::syncfs(&root).map_err(io::Error::from)?;
        let mut written = Vec::with_capacity(self.files.len());
        for (chunk, temp) in self.files.drain(..) {
            fs::rename(&temp, store.chunk_path(&chunk.sha256))?;
            written.push(chunk);
        }
        rustix::fs::syncfs(&root).map_err(io::Error::from)?;
        Ok(written)
    }
}

impl Drop for PendingChunks {
    fn drop(&mut self) {
        for (_, temp) in &self.files {
            let _ = fs::remove_file(temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    #[test]
    fn a_file_is_stored_once_and_a_changed_middle_costs_about_its_own_size() {
        let dir = tempfile::tempdir().expect("ok");
        let store = ChunkStore::new(dir.path().join("content"));
        fs::create_dir_all(store.root()).expect("ok");
        let mut data = pseudo_random(8 << 20, 7);
        let source = dir.path().join("a.wim");
        fs::write(&source, &data).expect("ok");
        let progress = Progress::default();
        let first = store
            .chunk_file(&source, "a.wim", None, &progress)
            .expect("ok");
        assert_eq!(first.entry.size, data.len() as u64);
        assert_eq!(first.entry.sha256, sha256_hex(&data));
        let stored: u64 = first.written.iter().map(|c| u64::from(c.size)).sum();
        assert_eq!(stored, data.len() as u64);
        assert!(first.entry.chunks.len() > 8, "{}", first.entry.chunks.len());

        // The same file again writes nothing.
        let again = store
            .chunk_file(&source, "a.wim", Some(&first.entry.sha256), &progress)
            .expect("ok");
        assert!(again.written.is_empty());

        // 100 KiB changed in the middle, and 3 bytes inserted: a few chunks, not the file.
        data[4 << 20..(4 << 20) + 100 * 1024].fill(0x5a);
        data.splice(1000..1000, [1, 2, 3]);
        fs::write(&source, &data).expect("ok");
        let changed = store
            .chunk_file(&source, "a.wim", None, &progress)
            .expect("ok");
        let new_bytes: u64 = changed.written.iter().map(|c| u64::from(c.size)).sum();
        assert!(new_bytes < 2 * 1024 * 1024, "{new_bytes}");
        for chunk in &changed.entry.chunks {
            assert_eq!(
                store.read_chunk(chunk).expect("ok").len(),
                chunk.size as usize
            );
        }
        // No temporary file stays behind.
        let leftovers = walk(&store.chunks_dir())
            .into_iter()
            .filter(|p| p.to_string_lossy().contains(TEMP_MARK))
            .count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn a_file_that_is_not_what_was_recorded_is_refused_and_leaves_nothing() {
        let dir = tempfile::tempdir().expect("ok");
        let store = ChunkStore::new(dir.path().join("content"));
        fs::create_dir_all(store.root()).expect("ok");
        let source = dir.path().join("a.wim");
        fs::write(&source, pseudo_random(1 << 20, 1)).expect("ok");
        let err = store
            .chunk_file(
                &source,
                "a.wim",
                Some(&"0".repeat(64)),
                &Progress::default(),
            )
            .expect_err("refused");
        assert!(err.to_string().contains("changed while"), "{err}");
        assert!(walk(&store.chunks_dir()).is_empty());
    }

    #[test]
    fn a_damaged_chunk_is_never_read_as_data() {
        let dir = tempfile::tempdir().expect("ok");
        let store = ChunkStore::new(dir.path());
        let bytes = pseudo_random(1000, 3);
        let chunk = ChunkRef {
            sha256: sha256_hex(&bytes),
            size: 1000,
        };
        store.cache_chunk(&chunk, &bytes).expect("ok");
        let mut damaged = bytes.clone();
        damaged[10] ^= 1;
        fs::write(store.chunk_path(&chunk.sha256), &damaged).expect("ok");
        assert!(store.read_chunk(&chunk).is_err());
        assert!(store.cache_chunk(&chunk, &damaged).is_err());
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let Ok(entries) = fs::read_dir(dir) else {
            return out;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }
}
