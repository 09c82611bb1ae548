//! A version's manifest: its files, each with size, SHA-256 and the chunks it is made of.
//!
//! Manifests travel: a DP fetches them from the site and a prestaged file carries them, and
//! their paths become file names on the DP. [`Manifest::parse`] is the only way in from
//! bytes, and it checks everything a hostile or damaged manifest could get wrong: the shape of
//! every hash, paths that could leave the content's folder, chunk sizes past the limit, sizes
//! that do not add up.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// The version of the manifest format this build writes and reads.
pub const FORMAT: u32 = 1;

/// Chunking parameters (FastCDC 2020): a one-byte change moves at most one or two chunk
/// boundaries, so a changed file inside a large WIM costs about its own size.
pub const CHUNK_MIN: usize = 64 * 1024;
pub const CHUNK_AVG: usize = 256 * 1024;
pub const CHUNK_MAX: usize = 1024 * 1024;

/// Limits that keep a manifest from anywhere within what a reader can hold.
const MAX_FILES: usize = 200_000;
const MAX_PATH_BYTES: usize = 1024;
const MAX_COMPONENT_BYTES: usize = 255;
/// The largest manifest read.
pub const MAX_MANIFEST_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub files: Vec<ManifestFile>,
}

/// One file of a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// Relative, `/`-separated (`boot.wim`, `x64/e1d68x64.inf`).
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub chunks: Vec<ChunkRef>,
}

/// A chunk, by content.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkRef {
    pub sha256: String,
    pub size: u32,
}

impl Manifest {
    pub fn new(mut files: Vec<ManifestFile>) -> Self {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Self {
            format: FORMAT,
            files,
        }
    }

    /// The bytes stored and sent: compact JSON, files in path order, so equal content gives an
    /// equal manifest and an equal hash.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::Internal(format!("manifest: {e}")))
    }

    /// Reads and checks a manifest (see the module's documentation).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(Error::invalid(
                "manifest",
                format!("is {} bytes, more than a manifest can be", bytes.len()),
            ));
        }
        let manifest: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| Error::invalid("manifest", format!("is not a manifest: {e}")))?;
        manifest.check()?;
        Ok(manifest)
    }

    fn check(&self) -> Result<()> {
        if self.format != FORMAT {
            return Err(Error::invalid(
                "manifest",
                format!(
                    "has format {}; this Wimdeck reads format {FORMAT}",
                    self.format
                ),
            ));
        }
        if self.files.len() > MAX_FILES {
            return Err(Error::invalid(
                "manifest",
                format!("lists {} files, more than {MAX_FILES}", self.files.len()),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for file in &self.files {
            check_path(&file.path)?;
            // DPs may hand files to Windows clients: names equal but for case are one file.
            if !seen.insert(file.path.to_lowercase()) {
                return Err(Error::invalid(
                    "manifest",
                    format!("lists \"{}\" twice", file.path),
                ));
            }
            check_sha256(&file.sha256, &file.path)?;
            let mut sum: u64 = 0;
            for chunk in &file.chunks {
                check_sha256(&chunk.sha256, &file.path)?;
                if chunk.size == 0 || chunk.size as usize > CHUNK_MAX {
                    return Err(Error::invalid(
                        "manifest",
                        format!(
                            "gives a chunk of \"{}\" a size of {} bytes (1 to {CHUNK_MAX})",
                            file.path, chunk.size
                        ),
                    ));
                }
                sum += u64::from(chunk.size);
            }
            if sum != file.size {
                return Err(Error::invalid(
                    "manifest",
                    format!(
                        "says \"{}\" has {} bytes, but its chunks add up to {sum}",
                        file.path, file.size
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The sum of the files' sizes.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Every distinct chunk, with its size, in first-use order.
    pub fn distinct_chunks(&self) -> Vec<ChunkRef> {
        let mut seen = std::collections::HashSet::new();
        self.files
            .iter()
            .flat_map(|f| f.chunks.iter())
            .filter(|c| seen.insert(c.sha256.as_str()))
            .cloned()
            .collect()
    }

    /// SHA-256 over the files' paths and hashes: two versions with the same fingerprint hold
    /// the same content, however they were chunked.
    pub fn fingerprint(&self) -> String {
        fingerprint(
            self.files
                .iter()
                .map(|f| (f.path.as_str(), f.sha256.as_str())),
        )
    }
}

/// See [`Manifest::fingerprint`]; `files` in any order.
pub fn fingerprint<'a>(files: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut files: Vec<_> = files.collect();
    files.sort();
    let mut hasher = Sha256::new();
    for (path, sha) in files {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(sha.as_bytes());
        hasher.update([b'\n']);
    }
    hex::encode(hasher.finalize())
}

/// The lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `text` is a lower-case hex SHA-256 (64 characters).
pub fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn check_sha256(text: &str, path: &str) -> Result<()> {
    if is_sha256(text) {
        Ok(())
    } else {
        Err(Error::invalid(
            "manifest",
            format!("gives \"{path}\" a hash that is not a SHA-256: \"{text:.80}\""),
        ))
    }
}

/// Checks a relative path of a manifest: `/`-separated names, none empty, `.` or `..`, no
/// backslash, drive colon or control character, within the length limits.
pub fn check_path(path: &str) -> Result<()> {
    let refuse = |why: &str| {
        Err(Error::invalid(
            "manifest",
            format!("names a file \"{}\" that {why}", path.escape_debug()),
        ))
    };
    if path.is_empty() || path.len() > MAX_PATH_BYTES {
        return refuse(&format!("is empty or longer than {MAX_PATH_BYTES} bytes"));
    }
    if path
        .chars()
        .any(|c| c.is_control() || c == '\\' || c == ':')
    {
        return refuse("holds a control character, a backslash or a colon");
    }
    for part in path.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return refuse("is not a plain relative path");
        }
        if part.len() > MAX_COMPONENT_BYTES {
            return refuse(&format!(
                "has a name longer than {MAX_COMPONENT_BYTES} bytes"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(byte: u8, size: u32) -> ChunkRef {
        ChunkRef {
            sha256: sha256_hex(&[byte]),
            size,
        }
    }

    fn file(path: &str, chunks: Vec<ChunkRef>) -> ManifestFile {
        ManifestFile {
            path: path.into(),
            size: chunks.iter().map(|c| u64::from(c.size)).sum(),
            sha256: sha256_hex(path.as_bytes()),
            chunks,
        }
    }

    #[test]
    fn a_manifest_reads_back_as_written_and_its_bytes_do_not_depend_on_file_order() {
        let a = Manifest::new(vec![
            file("b.wim", vec![chunk(1, 10)]),
            file("a/x.inf", vec![chunk(2, 5), chunk(1, 10)]),
        ]);
        let b = Manifest::new(vec![
            file("a/x.inf", vec![chunk(2, 5), chunk(1, 10)]),
            file("b.wim", vec![chunk(1, 10)]),
        ]);
        assert_eq!(a.to_bytes().expect("ok"), b.to_bytes().expect("ok"));
        assert_eq!(Manifest::parse(&a.to_bytes().expect("ok")).expect("ok"), a);
        assert_eq!(a.total_bytes(), 25);
        assert_eq!(a.distinct_chunks().len(), 2);
        assert_eq!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn hostile_manifests_are_refused_naming_what_is_wrong() {
        let cases: Vec<(Manifest, &str)> = vec![
            (
                Manifest::new(vec![file("../etc/passwd", vec![])]),
                "plain relative",
            ),
            (
                Manifest::new(vec![file("/etc/passwd", vec![])]),
                "plain relative",
            ),
            (Manifest::new(vec![file("a//b", vec![])]), "plain relative"),
            (Manifest::new(vec![file("a/./b", vec![])]), "plain relative"),
            (Manifest::new(vec![file("a\\..\\b", vec![])]), "backslash"),
            (Manifest::new(vec![file("C:x", vec![])]), "colon"),
            (Manifest::new(vec![file("a\nb", vec![])]), "control"),
            (
                Manifest::new(vec![file("A.wim", vec![]), file("a.wim", vec![])]),
                "twice",
            ),
            (
                Manifest::new(vec![file("a", vec![chunk(1, CHUNK_MAX as u32 + 1)])]),
                "size of",
            ),
            (Manifest::new(vec![file("a", vec![chunk(1, 0)])]), "size of"),
        ];
        for (manifest, expected) in cases {
            let err = Manifest::parse(&manifest.to_bytes().expect("ok")).expect_err("refused");
            assert!(err.to_string().contains(expected), "{err} ({expected})");
        }
        let mut wrong_sum = Manifest::new(vec![file("a", vec![chunk(1, 5)])]);
        wrong_sum.files[0].size = 6;
        let err = Manifest::parse(&wrong_sum.to_bytes().expect("ok")).expect_err("refused");
        assert!(err.to_string().contains("add up to 5"), "{err}");
        let mut bad_hash = Manifest::new(vec![file("a", vec![chunk(1, 5)])]);
        bad_hash.files[0].chunks[0].sha256 = "../../x".into();
        let err = Manifest::parse(&bad_hash.to_bytes().expect("ok")).expect_err("refused");
        assert!(err.to_string().contains("not a SHA-256"), "{err}");
        for junk in [
            &b"{"[..],
            b"[]",
            br#"{"format":2,"files":[]}"#,
            br#"{"format":1,"files":[],"x":1}"#,
        ] {
            assert!(Manifest::parse(junk).is_err());
        }
    }
}
