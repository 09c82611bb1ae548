//! Prestaged content files: chosen versions' manifests and chunks in one file, carried to a
//! DP offline and imported there (`wimdeck dp import-prestaged`).
//!
//! Layout (integers little-endian):
//!
//! ```text
//! magic    b"WIMDECK-PRESTAGED\0"
//! format   u32 (1)
//! index    u32 length, then that many bytes of JSON (PackageIndex)
//! records  tag u8 (b'M' a manifest, b'C' a chunk), SHA-256 [32], u32 length, bytes
//! end      tag b'E', SHA-256 [32] of every byte before it (the tag included)
//! ```
//!
//! The reader trusts nothing: every length is bounded before anything is allocated, every
//! record must match its hash, every manifest the index names must be there and every chunk
//! they name, and the closing hash covers the whole file (a truncated or spliced file is
//! refused). It hands out records as it meets them; the importer keeps them aside until the
//! end says the file is whole.

use std::{
    collections::{HashMap, HashSet},
    fs::File,
    io::{BufReader, BufWriter, Read, Write},
    path::Path,
};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    ChunkRef, ChunkStore, Manifest,
    manifest::{CHUNK_MAX, MAX_MANIFEST_BYTES, sha256_hex},
};
use crate::{Error, Result, authz::ObjectType};

const MAGIC: &[u8; 18] = b"WIMDECK-PRESTAGED\0";
const FORMAT: u32 = 1;
/// The file name extension of prestaged content files.
pub const EXTENSION: &str = "wdprestage";
/// The largest index read (a few hundred bytes per content).
const MAX_INDEX_BYTES: usize = 16 * 1024 * 1024;
const MAX_CONTENTS: usize = 10_000;
/// The most manifest bytes one file may hold in all (the importer keeps them until the end).
const MAX_TOTAL_MANIFEST_BYTES: usize = MAX_MANIFEST_BYTES;

/// What a prestaged file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageIndex {
    pub created_at_ms: i64,
    pub created_by: String,
    pub contents: Vec<PackagedVersion>,
}

/// One content's version in a prestaged file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackagedVersion {
    pub content_id: i64,
    pub object_type: ObjectType,
    pub object_id: i64,
    pub name: String,
    pub version_id: i64,
    pub number: i32,
    pub manifest_sha256: String,
    pub total_bytes: u64,
}

/// What writing a file produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub bytes: u64,
    pub chunks: u64,
}

/// Writes the versions of `index` (their manifests and chunks, read from `store` and checked)
/// to `target`, under a temporary name (tied to `job`, so a crash's leftover is found) until it
/// is complete and flushed.
pub fn write(
    store: &ChunkStore,
    index: &PackageIndex,
    target: &Path,
    job: Option<i64>,
) -> Result<Written> {
    let mut output = crate::fsx::TempOutput::create_for(target, job)?;
    let mut out = HashingWriter {
        inner: BufWriter::with_capacity(1 << 20, output.file().try_clone()?),
        hasher: Sha256::new(),
        bytes: 0,
    };
    out.write_all(MAGIC)?;
    out.write_all(&FORMAT.to_le_bytes())?;
    let json = serde_json::to_vec(index).map_err(|e| Error::Internal(e.to_string()))?;
    out.write_all(&len_u32(json.len())?.to_le_bytes())?;
    out.write_all(&json)?;
    let mut manifests = Vec::new();
    let mut written_manifests = HashSet::new();
    for version in &index.contents {
        // Two contents with the same files share a manifest: it is written once.
        if !written_manifests.insert(version.manifest_sha256.as_str()) {
            continue;
        }
        let bytes = store.manifest_bytes(&version.manifest_sha256)?;
        manifests.push(Manifest::parse(&bytes)?);
        record(&mut out, b'M', &version.manifest_sha256, &bytes)?;
    }
    let mut chunks = 0u64;
    let mut seen = HashSet::new();
    for manifest in &manifests {
        for chunk in manifest.distinct_chunks() {
            if seen.insert(chunk.sha256.clone()) {
                let bytes = store.read_chunk(&chunk)?;
                record(&mut out, b'C', &chunk.sha256, &bytes)?;
                chunks += 1;
            }
        }
    }
    out.write_all(b"E")?;
    let digest = out.hasher.clone().finalize();
    out.inner.write_all(&digest)?;
    out.inner.flush()?;
    let bytes = out.bytes + 32;
    drop(out);
    output.persist()?;
    Ok(Written { bytes, chunks })
}

fn len_u32(len: usize) -> Result<u32> {
    u32::try_from(len).map_err(|_| Error::Internal("a record is too large".into()))
}

fn record(out: &mut impl Write, tag: u8, sha256: &str, bytes: &[u8]) -> Result<()> {
    let hash = hex::decode(sha256).map_err(|e| Error::Internal(e.to_string()))?;
    out.write_all(&[tag])?;
    out.write_all(&hash)?;
    out.write_all(&len_u32(bytes.len())?.to_le_bytes())?;
    out.write_all(bytes)?;
    Ok(())
}

struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A record met while reading a prestaged file.
pub enum Record<'a> {
    Manifest {
        sha256: &'a str,
        bytes: &'a [u8],
    },
    Chunk {
        chunk: &'a ChunkRef,
        bytes: &'a [u8],
    },
}

/// Reads a prestaged file, checking everything (see the module's documentation), and hands
/// each record to `take` as it is met. Returns its index once the whole file checked out;
/// until then nothing taken may be trusted as complete.
pub fn read(path: &Path, mut take: impl FnMut(Record<'_>) -> Result<()>) -> Result<PackageIndex> {
    let mut input = open(path)?;
    let index = header(&mut input)?;
    let mut wanted_manifests: HashSet<String> = HashSet::new();
    for version in &index.contents {
        if !super::manifest::is_sha256(&version.manifest_sha256) {
            return Err(refused(
                "its index names a manifest by something else than a SHA-256",
            ));
        }
        wanted_manifests.insert(version.manifest_sha256.clone());
    }
    // Chunk → size, from the manifests met so far.
    let mut wanted_chunks: HashMap<String, u32> = HashMap::new();
    let mut received: HashSet<String> = HashSet::new();
    let mut manifest_bytes = 0usize;
    let mut buffer = Vec::new();
    loop {
        let mut tag = [0u8; 1];
        input.exact(&mut tag, "a record")?;
        if tag[0] == b'E' {
            let digest = input.hasher.clone().finalize();
            let mut stated = [0u8; 32];
            input
                .inner
                .read_exact(&mut stated)
                .map_err(|_| truncated("its end"))?;
            if digest.as_slice() != stated {
                return Err(refused(
                    "its closing checksum does not match (damaged or spliced)",
                ));
            }
            let mut rest = [0u8; 1];
            if input.inner.read(&mut rest)? != 0 {
                return Err(refused("it goes on after its end"));
            }
            break;
        }
        let mut hash = [0u8; 32];
        input.exact(&mut hash, "a record")?;
        let sha256 = hex::encode(hash);
        let len = input.u32("a record")? as usize;
        match tag[0] {
            b'M' => {
                if !wanted_manifests.remove(&sha256) {
                    return Err(refused("it holds a manifest its index does not name"));
                }
                manifest_bytes = manifest_bytes.saturating_add(len);
                if manifest_bytes > MAX_TOTAL_MANIFEST_BYTES {
                    return Err(refused(
                        "its manifests are larger than any this version writes",
                    ));
                }
                buffer.resize(len, 0);
                input.exact(&mut buffer, "a manifest")?;
                if sha256_hex(&buffer) != sha256 {
                    return Err(refused(&format!(
                        "manifest {sha256} does not match its hash"
                    )));
                }
                let manifest = Manifest::parse(&buffer)?;
                for chunk in manifest.distinct_chunks() {
                    wanted_chunks.insert(chunk.sha256, chunk.size);
                }
                take(Record::Manifest {
                    sha256: &sha256,
                    bytes: &buffer,
                })?;
            }
            b'C' => {
                let size = wanted_chunks.get(&sha256).copied();
                if len > CHUNK_MAX
                    || size != Some(len_u32(len)?)
                    || !received.insert(sha256.clone())
                {
                    return Err(refused(&format!(
                        "chunk {sha256} is not one its manifests name, or is there twice"
                    )));
                }
                buffer.resize(len, 0);
                input.exact(&mut buffer, "a chunk")?;
                if sha256_hex(&buffer) != sha256 {
                    return Err(refused(&format!("chunk {sha256} does not match its hash")));
                }
                let chunk = ChunkRef {
                    sha256,
                    size: len_u32(len)?,
                };
                take(Record::Chunk {
                    chunk: &chunk,
                    bytes: &buffer,
                })?;
            }
            other => {
                return Err(refused(&format!(
                    "it holds a record of unknown kind {other}"
                )));
            }
        }
    }
    if !wanted_manifests.is_empty() {
        return Err(refused("a manifest its index names is missing"));
    }
    if let Some(missing) = wanted_chunks.keys().find(|c| !received.contains(*c)) {
        return Err(refused(&format!(
            "chunk {missing} of its manifests is missing"
        )));
    }
    Ok(index)
}

/// The index of a prestaged file: its header only, nothing else is checked.
pub fn read_index(path: &Path) -> Result<PackageIndex> {
    header(&mut open(path)?)
}

fn open(path: &Path) -> Result<HashingReader<BufReader<File>>> {
    // No path in the message: it can reach a console user.
    let file = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::invalid("file", "does not exist"),
        _ => Error::Io(e),
    })?;
    Ok(HashingReader {
        inner: BufReader::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
    })
}

/// Magic, format and index.
fn header(input: &mut HashingReader<BufReader<File>>) -> Result<PackageIndex> {
    let mut magic = Vec::with_capacity(MAGIC.len());
    (&mut input.inner)
        .take(MAGIC.len() as u64)
        .read_to_end(&mut magic)?;
    input.hasher.update(&magic);
    if magic.as_slice() != MAGIC {
        return Err(if MAGIC.starts_with(&magic) {
            truncated("its header")
        } else {
            refused("it is not a Wimdeck prestaged content file")
        });
    }
    let format = input.u32("its header")?;
    if format != FORMAT {
        return Err(refused(&format!(
            "its format {format} is not the one this version reads ({FORMAT})"
        )));
    }
    let len = input.u32("its index")? as usize;
    if len > MAX_INDEX_BYTES {
        return Err(refused("its index is larger than any this version writes"));
    }
    let mut json = vec![0u8; len];
    input.exact(&mut json, "its index")?;
    let index: PackageIndex = serde_json::from_slice(&json)
        .map_err(|e| refused(&format!("its index is damaged: {e}")))?;
    if index.contents.len() > MAX_CONTENTS {
        return Err(refused(
            "it names more contents than any this version writes",
        ));
    }
    Ok(index)
}

fn refused(why: &str) -> Error {
    Error::invalid("file", format!("is refused: {why}"))
}

fn truncated(part: &str) -> Error {
    refused(&format!("it ends inside {part} (truncated)"))
}

struct HashingReader<R: Read> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    fn exact(&mut self, buf: &mut [u8], part: &str) -> Result<()> {
        self.inner.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => truncated(part),
            _ => Error::Io(e),
        })?;
        self.hasher.update(&*buf);
        Ok(())
    }

    fn u32(&mut self, part: &str) -> Result<u32> {
        let mut bytes = [0u8; 4];
        self.exact(&mut bytes, part)?;
        Ok(u32::from_le_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::manifest::CHUNK_AVG;

    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    /// A store holding one version of two files, and the index naming it.
    fn library(dir: &Path) -> (ChunkStore, PackageIndex, Manifest) {
        let store = ChunkStore::new(dir.join("library"));
        let mut files = Vec::new();
        for (n, name) in ["boot.wim", "sources/boot.sdi"].iter().enumerate() {
            let path = dir.join(format!("source-{n}"));
            std::fs::write(&path, pseudo_random(3 * CHUNK_AVG, n as u64 + 7)).expect("write");
            let progress = crate::progress::Progress::default();
            let chunked = store
                .chunk_file(&path, name, None, &progress)
                .expect("chunk");
            files.push(chunked.entry);
        }
        let manifest = Manifest::new(files);
        let sha = store.write_manifest(&manifest).expect("manifest");
        let index = PackageIndex {
            created_at_ms: 1,
            created_by: "admin".into(),
            contents: vec![PackagedVersion {
                content_id: 3,
                object_type: ObjectType::BootImage,
                object_id: 9,
                name: "WinPE x64".into(),
                version_id: 4,
                number: 2,
                manifest_sha256: sha,
                total_bytes: manifest.total_bytes(),
            }],
        };
        (store, index, manifest)
    }

    fn read_all(path: &Path) -> Result<(PackageIndex, usize, usize)> {
        let (mut manifests, mut chunks) = (0, 0);
        let index = read(path, |record| {
            match record {
                Record::Manifest { .. } => manifests += 1,
                Record::Chunk { .. } => chunks += 1,
            }
            Ok(())
        })?;
        Ok((index, manifests, chunks))
    }

    #[test]
    fn a_written_file_reads_back_whole() {
        let dir = tempfile::tempdir().expect("dir");
        let (store, index, manifest) = library(dir.path());
        let path = dir.path().join(format!("out.{EXTENSION}"));
        let written = write(&store, &index, &path, None).expect("write");
        assert_eq!(written.bytes, std::fs::metadata(&path).expect("meta").len());
        assert_eq!(written.chunks as usize, manifest.distinct_chunks().len());
        let (read_index, manifests, chunks) = read_all(&path).expect("read");
        assert_eq!(read_index, index);
        assert_eq!((manifests, chunks as u64), (1, written.chunks));
    }

    #[test]
    fn damaged_truncated_foreign_or_extended_files_are_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let (store, index, _) = library(dir.path());
        let path = dir.path().join("good");
        write(&store, &index, &path, None).expect("write");
        let good = std::fs::read(&path).expect("read");
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "foreign",
                b"MZ\x90\x00 not ours".to_vec(),
                "not a Wimdeck prestaged",
            ),
            ("empty", Vec::new(), "truncated"),
            ("truncated", good[..good.len() / 2].to_vec(), "truncated"),
            ("no end", good[..good.len() - 33].to_vec(), "truncated"),
            (
                "flipped chunk byte",
                {
                    let mut b = good.clone();
                    let at = b.len() - 1000;
                    b[at] ^= 1;
                    b
                },
                "does not match its hash",
            ),
            (
                "flipped end",
                {
                    let mut b = good.clone();
                    let at = b.len() - 1;
                    b[at] ^= 1;
                    b
                },
                "closing checksum",
            ),
            (
                "extended",
                {
                    let mut b = good.clone();
                    b.push(0);
                    b
                },
                "goes on after its end",
            ),
            (
                "huge index",
                {
                    let mut b = good[..22].to_vec();
                    b.extend_from_slice(&u32::MAX.to_le_bytes());
                    b
                },
                "index is larger",
            ),
        ];
        for (name, bytes, expected) in cases {
            let bad = dir.path().join(name);
            std::fs::write(&bad, &bytes).expect("write");
            let error = read_all(&bad).expect_err(name).sentence();
            assert!(error.contains(expected), "{name}: {error}");
        }
        // A chunk left out (the file rewritten consistently without it) is missing.
        let mut short = index.clone();
        short.contents.clear();
        let empty = dir.path().join("empty-index");
        write(&store, &short, &empty, None).expect("write");
        let (read_index, manifests, chunks) = read_all(&empty).expect("an empty file is valid");
        assert_eq!((read_index.contents.len(), manifests, chunks), (0, 0, 0));
    }
}
