//! Assembling a version's files in its staging folder, in manifest order, while the chunks it
//! lacks arrive.
//!
//! Each chunk is written once, straight into its file; the file's SHA-256 is computed as it is
//! written (on a thread of its own) and checked at its end. A chunk is hashed on its own only when that check fails (to
//! find the damaged ones, which are fetched again and patched in) and when an assembly resumes
//! after the agent was stopped: the verified prefix of each staged file is kept, the rest is
//! fetched again.

use std::{
    collections::{HashMap, HashSet},
    fs::{self, File},
    io::{self, IoSlice, Read, Seek, SeekFrom, Write},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc::{Receiver, SyncSender},
    },
};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::{
    Error, Result,
    content::{ChunkRef, ChunkStore, Manifest, ManifestFile, manifest::sha256_hex},
};

/// Written bytes between two requests to flush a file's data to disk, so that little is left
/// to flush when the file ends.
const WRITEBACK_EVERY: u64 = 32 * 1024 * 1024;

/// Where a chunk can be read locally: a file (of the version in use, of the staging folder or
/// the cache), at an offset.
#[derive(Debug, Clone)]
pub(super) struct LocalCopy {
    pub file: PathBuf,
    pub offset: u64,
}

/// Where the assembly of one file starts.
enum Start {
    /// The staged file is complete and matches the manifest.
    Done,
    /// After `chunks` chunks (`bytes` bytes) already verified in the staged file; `hasher` has
    /// seen them.
    After {
        chunks: usize,
        bytes: u64,
        hasher: Sha256,
    },
}

/// What an assembly does: where each file starts, where local chunks lie, and which chunks must
/// come from the site, in the order the assembler takes them.
pub(super) struct Plan {
    starts: Vec<Start>,
    local: HashMap<String, LocalCopy>,
    pub fetch: Vec<ChunkRef>,
}

impl Plan {
    /// Plans the assembly of `manifest` in `staging`: chunks of the version in use (`copies`),
    /// of `stores` (the cache, prestaged content) and of files an earlier attempt staged
    /// (their verified prefixes) are local; the others are fetched, each once.
    pub(super) fn new(
        manifest: &Manifest,
        staging: &Path,
        copies: HashMap<String, LocalCopy>,
        stores: &[ChunkStore],
    ) -> Result<Self> {
        let mut local = copies;
        let mut starts = Vec::with_capacity(manifest.files.len());
        for file in &manifest.files {
            starts.push(resume_point(file, &staging.join(&file.path), &mut local)?);
        }
        let mut fetch = Vec::new();
        let mut seen = HashSet::new();
        for (file, start) in manifest.files.iter().zip(&starts) {
            let from = match start {
                Start::Done => continue,
                Start::After { chunks, .. } => *chunks,
            };
            for chunk in &file.chunks[from..] {
                if local.contains_key(&chunk.sha256) || !seen.insert(chunk.sha256.as_str()) {
                    continue;
                }
                let mut stored = None;
                for store in stores {
                    if store.has_chunk(chunk)? {
                        stored = Some(store.chunk_path(&chunk.sha256));
                        break;
                    }
                }
                match stored {
                    Some(file) => {
                        local.insert(chunk.sha256.clone(), LocalCopy { file, offset: 0 });
                    }
                    None => fetch.push(chunk.clone()),
                }
            }
        }
        Ok(Self {
            starts,
            local,
            fetch,
        })
    }

    /// Bytes to fetch.
    pub(super) fn fetch_bytes(&self) -> u64 {
        self.fetch.iter().map(|c| u64::from(c.size)).sum()
    }

    /// Writes every file not yet complete, taking local chunks where they lie and the others
    /// from `arrivals` (in [`Plan::fetch`] order). Returns the indexes of the files whose
    /// SHA-256 differs from the manifest's (some local chunk was damaged: see [`repair`]), or
    /// `None` when `arrivals` ended early (the fetch stopped; its error says why). Stops with
    /// an error when `stop` is set.
    pub(super) fn assemble(
        self,
        manifest: &Manifest,
        staging: &Path,
        arrivals: impl FnMut() -> Option<(ChunkRef, ChunkData)>,
        stop: &AtomicBool,
    ) -> Result<Option<Vec<usize>>> {
        // The files' hashes are computed on a thread of their own, beside the writes: on a DP
        // with two cores that is most of what a transfer costs beyond the copy itself.
        let (to_hasher, messages) = std::sync::mpsc::sync_channel::<Hashing>(HASH_QUEUE);
        let (written, digests) = std::thread::scope(|scope| {
            let hashing = scope.spawn(move || hash_files(messages));
            let written = self.write_files(manifest, staging, arrivals, stop, to_hasher);
            (written, hashing.join())
        });
        if written?.is_none() {
            return Ok(None);
        }
        let digests =
            digests.map_err(|_| Error::Internal("the DP's hashing thread stopped".into()))?;
        let damaged = digests
            .into_iter()
            .filter(|(index, digest)| *digest != manifest.files[*index].sha256)
            .map(|(index, _)| index)
            .collect();
        // Every file's data and every name, on disk before the folder can be switched to
        // (once for the folder: a driver package has hundreds of small files).
        fs::create_dir_all(staging)?;
        rustix::fs::syncfs(File::open(staging)?).map_err(io::Error::from)?;
        Ok(Some(damaged))
    }

    /// Writes the files [`Plan::assemble`] describes, handing each chunk to the hashing
    /// thread once written. `None` when `arrivals` ended early.
    fn write_files(
        mut self,
        manifest: &Manifest,
        staging: &Path,
        mut arrivals: impl FnMut() -> Option<(ChunkRef, ChunkData)>,
        stop: &AtomicBool,
        hasher: SyncSender<Hashing>,
    ) -> Result<Option<()>> {
        let hashing_stopped = || Error::Internal("the DP's hashing thread stopped".into());
        let mut sources = Sources::default();
        for (index, (file, start)) in manifest.files.iter().zip(self.starts).enumerate() {
            let Start::After {
                chunks: first,
                bytes,
                hasher: resumed,
            } = start
            else {
                continue;
            };
            hasher
                .send(Hashing::Start(index, Box::new(resumed)))
                .map_err(|_| hashing_stopped())?;
            let path = staging.join(&file.path);
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)?;
            }
            let mut output = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            output.set_len(bytes)?;
            output.seek(SeekFrom::Start(bytes))?;
            let mut writeback = Writeback::new(&output);
            let mut offset = bytes;
            for chunk in &file.chunks[first..] {
                if stop.load(Ordering::Relaxed) {
                    return Err(Error::Conflict("the transfer was stopped".into()));
                }
                let data = if let Some(copy) = self.local.get(&chunk.sha256) {
                    // Unchecked here: the file's hash covers it. A copy gone or cut short is
                    // fetched by the repair; any other error stops the assembly.
                    ChunkData::from(match sources.read(copy, chunk.size) {
                        Ok(data) => data,
                        Err(e)
                            if matches!(
                                e.kind(),
                                io::ErrorKind::NotFound | io::ErrorKind::UnexpectedEof
                            ) =>
                        {
                            vec![0; chunk.size as usize]
                        }
                        Err(e) => return Err(e.into()),
                    })
                } else {
                    let Some((arrived, data)) = arrivals() else {
                        return Ok(None);
                    };
                    if arrived.sha256 != chunk.sha256 || data.len() != chunk.size as usize {
                        return Err(Error::Internal(format!(
                            "chunk {} arrived where {} was expected",
                            arrived.sha256, chunk.sha256
                        )));
                    }
                    self.local.insert(
                        chunk.sha256.clone(),
                        LocalCopy {
                            file: path.clone(),
                            offset,
                        },
                    );
                    data
                };
                data.write_to(&output)?;
                offset += u64::from(chunk.size);
                writeback.wrote(u64::from(chunk.size))?;
                hasher
                    .send(Hashing::Data(data))
                    .map_err(|_| hashing_stopped())?;
            }
            writeback.finish()?;
            hasher.send(Hashing::End).map_err(|_| hashing_stopped())?;
        }
        Ok(Some(()))
    }
}

/// A chunk's bytes: the frames of the response it came in (or one buffer, read locally).
pub(super) struct ChunkData {
    parts: Vec<Bytes>,
}

impl ChunkData {
    pub(super) fn new(parts: Vec<Bytes>) -> Self {
        Self { parts }
    }

    pub(super) fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }

    /// The bytes in one buffer (for the rare copy that needs them so: the repair cache).
    pub(super) fn to_vec(&self) -> Vec<u8> {
        self.parts.concat()
    }

    /// Writes every part, as few system calls as the parts allow.
    fn write_to(&self, mut output: &File) -> io::Result<()> {
        let mut slices: Vec<IoSlice<'_>> = self.parts.iter().map(|p| IoSlice::new(p)).collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            let written = output.write_vectored(rest)?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            IoSlice::advance_slices(&mut rest, written);
        }
        Ok(())
    }
}

impl From<Vec<u8>> for ChunkData {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(vec![Bytes::from(bytes)])
    }
}

/// Chunks waiting for the hashing thread (each may keep alive the frame it was cut from).
const HASH_QUEUE: usize = 8;

/// What the hashing thread is told, file by file.
enum Hashing {
    /// A file starts; the hasher has seen its verified prefix.
    Start(usize, Box<Sha256>),
    Data(ChunkData),
    End,
}

/// The SHA-256 of each file, by index, as the writes hand over their chunks.
fn hash_files(messages: Receiver<Hashing>) -> Vec<(usize, String)> {
    let mut digests = Vec::new();
    let mut current: Option<(usize, Box<Sha256>)> = None;
    for message in messages {
        match message {
            Hashing::Start(index, hasher) => current = Some((index, hasher)),
            Hashing::Data(data) => {
                if let Some((_, hasher)) = &mut current {
                    for part in &data.parts {
                        hasher.update(part);
                    }
                }
            }
            Hashing::End => {
                if let Some((index, hasher)) = current.take() {
                    digests.push((index, hex::encode(hasher.finalize())));
                }
            }
        }
    }
    digests
}

/// Checks the staged copy of `file` chunk by chunk: the verified prefix is recorded in `local`
/// and is where the assembly starts again.
fn resume_point(
    file: &ManifestFile,
    path: &Path,
    local: &mut HashMap<String, LocalCopy>,
) -> Result<Start> {
    let mut hasher = Sha256::new();
    let mut input = match File::open(path) {
        Ok(input) => input,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Start::After {
                chunks: 0,
                bytes: 0,
                hasher,
            });
        }
        Err(e) => return Err(e.into()),
    };
    let mut buffer = Vec::new();
    let (mut chunks, mut bytes) = (0, 0u64);
    for chunk in &file.chunks {
        buffer.resize(chunk.size as usize, 0);
        if input.read_exact(&mut buffer).is_err() || sha256_hex(&buffer) != chunk.sha256 {
            break;
        }
        hasher.update(&buffer);
        local.entry(chunk.sha256.clone()).or_insert(LocalCopy {
            file: path.to_owned(),
            offset: bytes,
        });
        chunks += 1;
        bytes += u64::from(chunk.size);
    }
    let complete = chunks == file.chunks.len()
        && bytes == file.size
        && input.metadata()?.len() == file.size
        && hex::encode(hasher.clone().finalize()) == file.sha256;
    Ok(if complete {
        Start::Done
    } else {
        Start::After {
            chunks,
            bytes,
            hasher,
        }
    })
}

/// The chunks of the staged `file` that do not match their hashes.
pub(super) fn damaged_chunks(file: &ManifestFile, staging: &Path) -> Result<Vec<ChunkRef>> {
    let mut input = File::open(staging.join(&file.path))?;
    let mut buffer = Vec::new();
    let mut damaged = Vec::new();
    for chunk in &file.chunks {
        buffer.resize(chunk.size as usize, 0);
        if input.read_exact(&mut buffer).is_err() || sha256_hex(&buffer) != chunk.sha256 {
            damaged.push(chunk.clone());
        }
    }
    Ok(damaged)
}

/// Rewrites the chunks of the staged `file` that do not match their hashes from the cache
/// (where the fetch put them, checked), then checks the whole file again.
pub(super) fn repair(file: &ManifestFile, staging: &Path, cache: &ChunkStore) -> Result<()> {
    let path = staging.join(&file.path);
    let output = File::options().read(true).write(true).open(&path)?;
    output.set_len(file.size)?;
    let mut hasher = Sha256::new();
    let mut buffer = Vec::new();
    let mut offset = 0u64;
    for chunk in &file.chunks {
        buffer.resize(chunk.size as usize, 0);
        let read = output.read_exact_at(&mut buffer, offset);
        if read.is_err() || sha256_hex(&buffer) != chunk.sha256 {
            buffer = cache.read_chunk(chunk)?;
            output.write_all_at(&buffer, offset)?;
        }
        hasher.update(&buffer);
        offset += u64::from(chunk.size);
    }
    output.sync_data()?;
    if hex::encode(hasher.finalize()) != file.sha256 {
        return Err(Error::Conflict(format!(
            "{} does not assemble to the manifest's SHA-256 {}",
            file.path, file.sha256
        )));
    }
    Ok(())
}

/// Files held open at most while local chunks are read (a version in use can have thousands
/// of files, a store one file per chunk; the process's descriptors are few).
const MAX_OPEN_SOURCES: usize = 64;

/// Open files that local chunks are read from.
#[derive(Default)]
struct Sources {
    open: HashMap<PathBuf, File>,
}

impl Sources {
    fn read(&mut self, copy: &LocalCopy, size: u32) -> io::Result<Vec<u8>> {
        if self.open.len() >= MAX_OPEN_SOURCES && !self.open.contains_key(&copy.file) {
            self.open.clear();
        }
        let file = match self.open.entry(copy.file.clone()) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(File::open(&copy.file)?)
            }
        };
        let mut bytes = vec![0u8; size as usize];
        file.read_exact_at(&mut bytes, copy.offset)?;
        Ok(bytes)
    }
}

/// Flushes a file's data to disk on a thread of its own while a large file is being written,
/// so that the flush before the switch to its version waits for little.
struct Writeback<'a> {
    file: &'a File,
    since: u64,
    signal: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl<'a> Writeback<'a> {
    fn new(file: &'a File) -> Self {
        Self {
            file,
            since: 0,
            signal: None,
            thread: None,
        }
    }

    fn wrote(&mut self, bytes: u64) -> io::Result<()> {
        self.since += bytes;
        if self.since < WRITEBACK_EVERY {
            return Ok(());
        }
        self.since = 0;
        if self.signal.is_none() {
            let (signal, wake) = std::sync::mpsc::sync_channel::<()>(1);
            let handle = self.file.try_clone()?;
            self.thread = Some(
                std::thread::Builder::new()
                    .name("dp-writeback".into())
                    .spawn(move || {
                        while wake.recv().is_ok() {
                            handle.sync_data()?;
                        }
                        Ok(())
                    })?,
            );
            self.signal = Some(signal);
        }
        // Busy flushing already: its next flush takes these bytes too.
        if let Some(signal) = &self.signal {
            let _ = signal.try_send(());
        }
        Ok(())
    }

    /// Waits for the flush under way (what is left is flushed with the whole folder).
    fn finish(mut self) -> Result<()> {
        self.stop()?;
        Ok(())
    }

    fn stop(&mut self) -> io::Result<()> {
        self.signal.take();
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the writeback thread stopped")),
            None => Ok(()),
        }
    }
}

impl Drop for Writeback<'_> {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
