//! Driver packages as they arrive — a folder, a `.zip` or a `.cab` — unpacked into a staging
//! folder Wimdeck owns, with the defences an archive from the internet needs: every entry
//! must stay inside the package (no `..`, no absolute or drive paths, no alternate data
//! streams), links are refused, and the entry count and the bytes written are capped, the
//! bytes both absolutely and relative to the archive's size (a "zip bomb" is caught while it
//! expands, whatever its headers claim).

use std::{
    fs,
    io::{self, Read, Write},
    path::{Component, Path, PathBuf},
};

/// Caps on what one package may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_entries: usize,
    pub max_total_bytes: u64,
    /// Bytes written per byte of archive, once past `ratio_floor_bytes`.
    pub max_ratio: u64,
    pub ratio_floor_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // The largest vendor packages (graphics drivers) hold a few thousand files.
            max_entries: 20_000,
            max_total_bytes: 8 << 30,
            // Driver binaries compress 2–10 times; text-heavy packages up to ~30.
            max_ratio: 100,
            ratio_floor_bytes: 16 << 20,
        }
    }
}

/// Why a package could not be unpacked. Each names what is wrong with the package.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("{0} is not a folder, a .zip or a .cab file")]
    UnknownFormat(String),
    #[error("the archive cannot be read: {0}")]
    Corrupt(String),
    #[error("the package holds \"{entry}\", which would land outside the package")]
    Escapes { entry: String },
    #[error("the package holds \"{entry}\", a symbolic link; packages may not link to anything")]
    Link { entry: String },
    #[error(
        "the package holds \"{entry}\" twice (names are compared ignoring case, as Windows does)"
    )]
    Duplicate { entry: String },
    #[error("the package holds more than {max} entries")]
    TooManyEntries { max: usize },
    #[error("the package expands to more than {max_bytes} bytes")]
    TooLarge { max_bytes: u64 },
    #[error(
        "the package expands more than {max_ratio} times its size ({archive_bytes} bytes); it looks like a decompression bomb"
    )]
    Bomb { archive_bytes: u64, max_ratio: u64 },
    #[error("the package is encrypted; Wimdeck cannot read it")]
    Encrypted,
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// The container a package came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageFormat {
    Folder,
    Zip,
    Cab,
}

impl PackageFormat {
    /// Tells by content (a file's first bytes), not by name.
    pub fn detect(path: &Path) -> Result<Self, PackageError> {
        if path.is_dir() {
            return Ok(Self::Folder);
        }
        let mut magic = [0u8; 4];
        let read = fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic));
        match (read, &magic) {
            (Ok(()), b"PK\x03\x04") | (Ok(()), b"PK\x05\x06") => Ok(Self::Zip),
            (Ok(()), b"MSCF") => Ok(Self::Cab),
            _ => Err(PackageError::UnknownFormat(path.display().to_string())),
        }
    }
}

/// What unpacking wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    pub format: PackageFormat,
    pub files: usize,
    pub bytes: u64,
}

/// Unpacks the package at `source` into `dest` (which must not exist yet). On error, `dest`
/// is removed again.
pub fn unpack(source: &Path, dest: &Path, limits: &Limits) -> Result<Unpacked, PackageError> {
    let format = PackageFormat::detect(source)?;
    fs::create_dir_all(dest.parent().unwrap_or(dest))?;
    fs::create_dir(dest)?;
    let archive_bytes = if format == PackageFormat::Folder {
        0
    } else {
        fs::metadata(source)?.len()
    };
    let mut writer = Writer {
        dest,
        limits,
        archive_bytes,
        files: 0,
        bytes: 0,
        seen: std::collections::HashSet::new(),
    };
    let result = match format {
        PackageFormat::Folder => copy_folder(source, source, &mut writer),
        PackageFormat::Zip => unpack_zip(source, &mut writer),
        PackageFormat::Cab => unpack_cab(source, &mut writer),
    };
    match result {
        Ok(()) => Ok(Unpacked {
            format,
            files: writer.files,
            bytes: writer.bytes,
        }),
        Err(e) => {
            let _ = fs::remove_dir_all(dest);
            Err(e)
        }
    }
}

/// The relative path an archive entry names, if it stays inside the package. Both `/` and
/// `\` separate (archives made on Windows use either); `.` parts are dropped.
pub fn safe_relative(name: &str) -> Option<PathBuf> {
    if name.starts_with(['/', '\\']) || name.contains('\0') {
        return None;
    }
    let mut out = PathBuf::new();
    for part in name.split(['/', '\\']) {
        match part {
            "" | "." => continue,
            ".." => return None,
            // A drive (`C:`) or an alternate data stream (`file:stream`).
            p if p.contains(':') || p.chars().any(char::is_control) => return None,
            p => out.push(p),
        }
    }
    let simple = out.components().all(|c| matches!(c, Component::Normal(_)));
    (simple && !out.as_os_str().is_empty()).then_some(out)
}

struct Writer<'a> {
    dest: &'a Path,
    limits: &'a Limits,
    archive_bytes: u64,
    files: usize,
    bytes: u64,
    /// Lower-cased paths written so far.
    seen: std::collections::HashSet<String>,
}

impl Writer<'_> {
    fn count_entry(&mut self) -> Result<(), PackageError> {
        self.files += 1;
        if self.files > self.limits.max_entries {
            return Err(PackageError::TooManyEntries {
                max: self.limits.max_entries,
            });
        }
        Ok(())
    }

    fn target(&mut self, entry: &str) -> Result<PathBuf, PackageError> {
        let relative = safe_relative(entry).ok_or_else(|| PackageError::Escapes {
            entry: entry.to_owned(),
        })?;
        let key = relative.to_string_lossy().to_lowercase();
        if !self.seen.insert(key) {
            return Err(PackageError::Duplicate {
                entry: entry.to_owned(),
            });
        }
        Ok(self.dest.join(relative))
    }

    fn dir(&mut self, entry: &str) -> Result<(), PackageError> {
        let relative = safe_relative(entry).ok_or_else(|| PackageError::Escapes {
            entry: entry.to_owned(),
        })?;
        fs::create_dir_all(self.dest.join(relative))?;
        Ok(())
    }

    /// Streams one file, counting every byte against the limits as it is written.
    fn file(&mut self, entry: &str, mut data: impl Read) -> Result<(), PackageError> {
        self.count_entry()?;
        let target = self.target(entry)?;
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match data.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    return Err(PackageError::Corrupt(format!("{entry}: {e}")));
                }
                Err(e) => return Err(e.into()),
            };
            self.bytes += n as u64;
            self.check_size()?;
            out.write_all(&buf[..n])?;
        }
        Ok(())
    }

    fn check_size(&self) -> Result<(), PackageError> {
        let l = self.limits;
        if self.bytes > l.max_total_bytes {
            return Err(PackageError::TooLarge {
                max_bytes: l.max_total_bytes,
            });
        }
        if self.archive_bytes > 0
            && self.bytes > l.ratio_floor_bytes
            && self.bytes > self.archive_bytes.saturating_mul(l.max_ratio)
        {
            return Err(PackageError::Bomb {
                archive_bytes: self.archive_bytes,
                max_ratio: l.max_ratio,
            });
        }
        Ok(())
    }
}

fn copy_folder(root: &Path, dir: &Path, writer: &mut Writer<'_>) -> Result<(), PackageError> {
    let mut entries: Vec<fs::DirEntry> = fs::read_dir(dir)?.collect::<io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let relative = path
            .strip_prefix(root)
            .map_err(|_| PackageError::Escapes {
                entry: path.display().to_string(),
            })?
            .to_string_lossy()
            .into_owned();
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            return Err(PackageError::Link { entry: relative });
        } else if kind.is_dir() {
            writer.dir(&relative)?;
            copy_folder(root, &path, writer)?;
        } else if kind.is_file() {
            writer.file(&relative, fs::File::open(&path)?)?;
        }
        // Sockets, devices and pipes are not package content: skipped.
    }
    Ok(())
}

fn unpack_zip(source: &Path, writer: &mut Writer<'_>) -> Result<(), PackageError> {
    let corrupt = |e: zip::result::ZipError| PackageError::Corrupt(e.to_string());
    let mut archive =
        zip::ZipArchive::new(io::BufReader::new(fs::File::open(source)?)).map_err(corrupt)?;
    // The central directory says how many entries there are before anything is written.
    if archive.len() > writer.limits.max_entries {
        return Err(PackageError::TooManyEntries {
            max: writer.limits.max_entries,
        });
    }
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(|e| match e {
            zip::result::ZipError::UnsupportedArchive(zip::result::ZipError::PASSWORD_REQUIRED)
            | zip::result::ZipError::InvalidPassword => PackageError::Encrypted,
            other => corrupt(other),
        })?;
        let name = entry.name().map_err(corrupt)?.into_owned();
        if entry.is_symlink() {
            return Err(PackageError::Link { entry: name });
        }
        if entry.encrypted() {
            return Err(PackageError::Encrypted);
        }
        if entry.is_dir() {
            writer.dir(&name)?;
        } else {
            writer.file(&name, entry)?;
        }
    }
    Ok(())
}

fn unpack_cab(source: &Path, writer: &mut Writer<'_>) -> Result<(), PackageError> {
    let corrupt = |e: io::Error| PackageError::Corrupt(e.to_string());
    let mut cabinet =
        cab::Cabinet::new(io::BufReader::new(fs::File::open(source)?)).map_err(corrupt)?;
    let names: Vec<String> = cabinet
        .folder_entries()
        .flat_map(|folder| folder.file_entries().map(|f| f.name().to_owned()))
        .collect();
    if names.len() > writer.limits.max_entries {
        return Err(PackageError::TooManyEntries {
            max: writer.limits.max_entries,
        });
    }
    for name in names {
        let reader = cabinet.read_file(&name).map_err(corrupt)?;
        writer.file(&name, reader)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_that_leave_the_package_are_refused() {
        for bad in [
            "../evil.inf",
            "a/../../evil.inf",
            "..\\evil.inf",
            "/etc/passwd",
            "\\Windows\\evil.sys",
            "C:\\evil.sys",
            "c:evil.sys",
            "e1d.sys:hidden",
            "a/\u{1}b",
            "",
            "./",
        ] {
            assert_eq!(safe_relative(bad), None, "{bad:?}");
        }
        assert_eq!(
            safe_relative("x64\\e1d.inf"),
            Some(PathBuf::from("x64/e1d.inf"))
        );
        assert_eq!(
            safe_relative("./a//b/./c.sys"),
            Some(PathBuf::from("a/b/c.sys"))
        );
    }
}
