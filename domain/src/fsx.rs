//! File output that is never seen half-written: written under a temporary name in the target's
//! directory, then flushed and linked into place, never over an existing file. Dropped without
//! [`TempOutput::persist`], the temporary file is removed.

use std::{
    fs::{self, File},
    io,
    path::{Path, PathBuf},
};

/// A file being written for a final path.
#[derive(Debug)]
pub struct TempOutput {
    temp: PathBuf,
    target: PathBuf,
    file: File,
    persisted: bool,
}

/// Marks the temporary files of Wimdeck's writers: `.<name>.wimdeck-tmp-…`.
pub const TEMP_MARK: &str = ".wimdeck-tmp-";

/// The job a temporary file was written for, from its name (`….wimdeck-tmp-j42-<random>`).
pub fn temp_file_job(name: &str) -> Option<i64> {
    let rest = &name[name.find(TEMP_MARK)? + TEMP_MARK.len()..];
    rest.strip_prefix('j')?.split('-').next()?.parse().ok()
}

impl TempOutput {
    /// Creates `.<name>.wimdeck-tmp-<random>` beside `target`.
    pub fn create(target: &Path) -> io::Result<Self> {
        Self::create_for(target, None)
    }

    /// As [`TempOutput::create`], for a job: `.<name>.wimdeck-tmp-j<job>-<random>`.
    pub fn create_for(target: &Path, job: Option<i64>) -> io::Result<Self> {
        let dir = target
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = target.file_name().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "target has no file name")
        })?;
        let suffix: String = crate::accounts::random_token()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(10)
            .collect();
        let owner = job.map(|id| format!("j{id}-")).unwrap_or_default();
        let temp = dir.join(format!(
            ".{}{TEMP_MARK}{owner}{suffix}",
            name.to_string_lossy()
        ));
        let file = File::options()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&temp)?;
        Ok(Self {
            temp,
            target: target.to_path_buf(),
            file,
            persisted: false,
        })
    }

    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    pub fn temp_path(&self) -> &Path {
        &self.temp
    }
}

impl TempOutput {
    /// Flushes the data to disk and gives it its final name, then flushes the directory, so
    /// the name appears only with complete content, even across a power failure. Never
    /// replaces: if a file appeared under the final name meanwhile, fails with
    /// `AlreadyExists` and leaves it alone (a hard link is made atomically or not at all; then
    /// the temporary name goes).
    pub fn persist(mut self) -> io::Result<PathBuf> {
        self.file.sync_all()?;
        fs::hard_link(&self.temp, &self.target)?;
        self.persisted = true;
        fs::remove_file(&self.temp)?;
        if let Some(dir) = self.target.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        Ok(self.target.clone())
    }
}

/// Writes `bytes` as the new content of `target`, replacing what was there atomically: a
/// reader sees the old content or the new, never a mix (small state files such as the audit
/// anchor).
pub fn write_atomically(target: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut output = TempOutput::create(target)?;
    output.file().write_all(bytes)?;
    output.file.sync_all()?;
    fs::rename(&output.temp, &output.target)?;
    output.persisted = true;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Flushes a directory's entries (after creating or renaming something in it).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Copies `from` to `to` and flushes the copy to disk.
pub fn copy_synced(from: &Path, to: &Path) -> io::Result<u64> {
    let bytes = fs::copy(from, to)?;
    File::open(to)?.sync_all()?;
    Ok(bytes)
}

/// The SHA-256 of a file's contents, in lower-case hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

impl Drop for TempOutput {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn persisted_output_appears_whole_under_its_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("out.wim");
        let mut out = TempOutput::create(&target).expect("create");
        out.file().write_all(b"data").expect("write");
        assert!(
            !target.exists(),
            "nothing under the final name while writing"
        );
        out.persist().expect("persist");
        assert_eq!(fs::read(&target).expect("read"), b"data");
        assert_eq!(
            fs::read_dir(dir.path()).expect("dir").count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn persist_never_replaces_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("out.wim");
        let mut out = TempOutput::create(&target).expect("create");
        out.file().write_all(b"new").expect("write");
        fs::write(&target, b"someone else's").expect("appeared meanwhile");
        let err = out.persist().expect_err("must not replace");
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&target).expect("read"), b"someone else's");
        assert_eq!(
            fs::read_dir(dir.path()).expect("dir").count(),
            1,
            "the temporary file is gone"
        );

        let fresh = dir.path().join("fresh.wim");
        let mut out = TempOutput::create(&fresh).expect("create");
        out.file().write_all(b"data").expect("write");
        out.persist().expect("persist");
        assert_eq!(fs::read(&fresh).expect("read"), b"data");
        assert_eq!(fs::read_dir(dir.path()).expect("dir").count(), 2);
    }

    #[test]
    fn dropped_output_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("out.wim");
        let mut out = TempOutput::create(&target).expect("create");
        out.file().write_all(b"partial").expect("write");
        drop(out);
        assert_eq!(fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    #[test]
    fn temporary_files_name_their_job() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("boot.wim");
        let out = TempOutput::create_for(&target, Some(42)).expect("create");
        let name = out
            .temp_path()
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert_eq!(temp_file_job(&name), Some(42), "{name}");
        let out = TempOutput::create(&target).expect("create");
        let name = out
            .temp_path()
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert_eq!(temp_file_job(&name), None, "{name}");
        assert_eq!(temp_file_job("boot.wim"), None);
    }
}
