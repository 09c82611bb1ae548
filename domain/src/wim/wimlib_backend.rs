//! [`WimBackend`] over wimlib.

use std::{
    ffi::CString,
    fs::File,
    io::Read,
    num::NonZero,
    path::{Path, PathBuf},
};

use wimlib::{
    WimLib,
    progress::{ProgressMsg, ProgressStatus},
    string::TStr,
    wim::{CompressionType, ExportFlags, OpenFlags, VerifyFlags, Wim, WriteFlags},
};

use super::{
    Architecture, Compression, DirEntry, FileChange, FileEntry, FileInfo, ImageInfo,
    ImageProperties, Monitor, Version, WimBackend, WimError, WimInspection, WinPe,
};
use crate::{fsx::TempOutput, progress::ProgressUnit};

/// The real engine.
#[derive(Debug, Default, Clone, Copy)]
pub struct Wimlib;

impl WimBackend for Wimlib {
    fn inspect(&self, path: &Path, hash: bool) -> Result<WimInspection, WimError> {
        let metadata = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => WimError::NotFound(path.to_path_buf()),
            _ => io_error(path, &e),
        })?;
        if !metadata.is_file() || !has_wim_magic(path)? {
            return Err(WimError::NotAWim(path.to_path_buf()));
        }
        let lib = WimLib::default();
        let wim = open(&lib, path)?;
        let info = wim.info();
        let mut images = Vec::with_capacity(info.image_count as usize);
        // A split WIM's later parts carry no image metadata.
        if info.part_number == 1 {
            for index in 1..=info.image_count {
                images.push(image_info(&wim, index));
            }
        }
        let file = FileInfo {
            path: path.display().to_string(),
            size_bytes: metadata.len(),
            sha256: if hash { Some(sha256_file(path)?) } else { None },
            guid: info.guid.hyphenated().to_string(),
            wim_version: info.wim_version,
            compression: compression_name(info.compression_type).to_owned(),
            chunk_size: info.chunk_size,
            part_number: info.part_number,
            total_parts: info.total_parts,
            boot_index: info.boot_index,
            has_integrity_table: info.has_integrity_table(),
            image_count: info.image_count,
        };
        Ok(WimInspection { file, images })
    }

    fn extract_index(
        &self,
        source: &Path,
        index: u32,
        output: &Path,
        monitor: &Monitor,
    ) -> Result<(), WimError> {
        refuse_existing(output)?;
        let lib = WimLib::default();
        let wim = open_whole(&lib, source, false)?;
        let info = wim.info();
        let Some(selected) = NonZero::new(index).filter(|_| index <= info.image_count) else {
            return Err(WimError::NoSuchImage {
                path: source.to_path_buf(),
                index,
                count: info.image_count,
            });
        };
        let mut dest = lib
            .create_new_wim(info.compression_type)
            .map_err(|e| WimError::from_wimlib(output, e))?;
        let flags = if info.boot_index == index {
            ExportFlags::BOOT
        } else {
            ExportFlags::empty()
        };
        wim.select_image(selected)
            .export(&dest, None, None, flags)
            .map_err(|e| WimError::from_wimlib(source, e))?;
        monitor.progress.set_phase(format!("Writing image {index}"));
        watch_writes(&mut dest, monitor);
        write_verified(&dest, source, output, monitor)
    }

    fn export(
        &self,
        source: &Path,
        output: &Path,
        compression: Compression,
        monitor: &Monitor,
    ) -> Result<(), WimError> {
        rewrite(source, output, Some(compression_type(compression)), monitor)
    }

    fn join(&self, first_part: &Path, output: &Path, monitor: &Monitor) -> Result<(), WimError> {
        rewrite(first_part, output, None, monitor)
    }

    fn verify(&self, path: &Path, monitor: &Monitor) -> Result<(), WimError> {
        let lib = WimLib::default();
        let mut wim = open_whole(&lib, path, true)?;
        let progress = monitor.progress.clone();
        let cancel = monitor.cancel.clone();
        progress.set_phase("Verifying file data");
        wim.register_progress_callback(move |message| {
            if let ProgressMsg::VerifyStreams {
                total_bytes,
                completed_bytes,
                ..
            } = message
            {
                report(&progress, *completed_bytes, *total_bytes);
            }
            continue_unless(&cancel)
        });
        wim.verify(VerifyFlags::empty())
            .map_err(|e| WimError::from_wimlib(path, e))
    }

    fn list_dir(&self, path: &Path, index: u32, dir: &str) -> Result<Vec<DirEntry>, WimError> {
        use wimlib::wim::{FileAttributes, IterateDirTreeFlags};
        let lib = WimLib::default();
        let wim = open(&lib, path)?;
        let selected = select(&wim, path, index)?;
        let inside = wim_path(dir);
        let mut entries = Vec::new();
        wim.select_image(selected)
            .iterate_dir_tree(
                TStr::from_impl(&c_text(&inside)?),
                IterateDirTreeFlags::CHILDREN,
                |entry| {
                    let is_dir = entry.file_attributes.contains(FileAttributes::DIRECTORY);
                    let size = if is_dir {
                        0
                    } else {
                        entry
                            .streams
                            .first()
                            .map(|s| (*s).into_stream_entry().resource.uncompressed_size)
                            .unwrap_or(0)
                    };
                    entries.push(DirEntry {
                        name: entry
                            .filename
                            .map(|n| n.to_str().to_string())
                            .unwrap_or_default(),
                        is_dir,
                        size,
                        modified_ms: i64::try_from(
                            entry.last_write_time.unix_timestamp_nanos() / 1_000_000,
                        )
                        .unwrap_or(0),
                    });
                    Ok(())
                },
            )
            .map_err(|e| match e {
                wimlib::Error::PathDoesNotExist | wimlib::Error::Notdir => WimError::NoSuchPath {
                    path: path.to_path_buf(),
                    index,
                    inside: inside.clone(),
                },
                other => WimError::from_wimlib(path, other),
            })?;
        entries.sort_by(|a, b| {
            b.is_dir
                .cmp(&a.is_dir)
                .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
        });
        Ok(entries)
    }

    fn extract_paths(
        &self,
        path: &Path,
        index: u32,
        paths: &[&str],
        target_dir: &Path,
    ) -> Result<Vec<String>, WimError> {
        use wimlib::{
            string::ThinTStr,
            wim::{ExtractFlags, IterateDirTreeFlags},
        };
        let lib = WimLib::default();
        let wim = open_whole(&lib, path, false)?;
        let selected = select(&wim, path, index)?;
        let image = wim.select_image(selected);
        let mut present = Vec::new();
        for inside in paths {
            let inside = wim_path(inside);
            let exists = image.iterate_dir_tree(
                TStr::from_impl(&c_text(&inside)?),
                IterateDirTreeFlags::empty(),
                |_| Ok(()),
            );
            match exists {
                Ok(()) => present.push(inside),
                Err(wimlib::Error::PathDoesNotExist) => {}
                Err(other) => return Err(WimError::from_wimlib(path, other)),
            }
        }
        if present.is_empty() {
            return Ok(present);
        }
        let strings: Vec<CString> = present
            .iter()
            .map(|p| c_text(p))
            .collect::<Result<_, _>>()?;
        let thin: Vec<ThinTStr<'_>> = strings
            .iter()
            .map(|s| ThinTStr::from(TStr::from_impl(s)))
            .collect();
        image
            .extract_from_paths(
                &thin,
                TStr::from_impl(&c_path(target_dir)?),
                ExtractFlags::NO_PRESERVE_DIR_STRUCTURE | ExtractFlags::NO_ACLS,
            )
            .map_err(|e| WimError::from_wimlib(path, e))?;
        Ok(present)
    }

    fn list_files(&self, path: &Path, index: u32) -> Result<Vec<FileEntry>, WimError> {
        use wimlib::wim::{FileAttributes, IterateDirTreeFlags};
        let lib = WimLib::default();
        let wim = open(&lib, path)?;
        let selected = select(&wim, path, index)?;
        let mut files = Vec::new();
        wim.select_image(selected)
            .iterate_dir_tree(
                TStr::from_impl(&c_text("/")?),
                IterateDirTreeFlags::RECURSIVE,
                |entry| {
                    let is_dir = entry.file_attributes.contains(FileAttributes::DIRECTORY);
                    // The unnamed data stream is the one without a name.
                    let data = entry
                        .streams
                        .iter()
                        .map(|s| (*s).into_stream_entry())
                        .find(|s| s.stream_name.is_none());
                    let (size, sha1) = match data {
                        Some(stream) if !is_dir && stream.resource.uncompressed_size > 0 => (
                            stream.resource.uncompressed_size,
                            hex::encode(stream.resource.sha1_hash),
                        ),
                        _ => (0, String::new()),
                    };
                    files.push(FileEntry {
                        path: entry.full_path.to_str().to_string(),
                        is_dir,
                        size,
                        sha1,
                    });
                    Ok(())
                },
            )
            .map_err(|e| WimError::from_wimlib(path, e))?;
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    fn apply_changes(
        &self,
        source: &Path,
        index: u32,
        changes: &[FileChange],
        properties: Option<&ImageProperties>,
        output: &Path,
        monitor: &Monitor,
    ) -> Result<(), WimError> {
        use wimlib::wim::{AddFlags, DeleteFlags, UpdateCommand, UpdateFlags};
        refuse_existing(output)?;
        let lib = WimLib::default();
        let mut wim = open_whole(&lib, source, false)?;
        let selected = select(&wim, source, index)?;
        // The strings the commands borrow must outlive them.
        let strings: Vec<(Option<CString>, CString)> = changes
            .iter()
            .map(|change| match change {
                FileChange::Add { source, target } => {
                    Ok((Some(c_path(source)?), c_text(&wim_path(target))?))
                }
                FileChange::Delete { target } => Ok((None, c_text(&wim_path(target))?)),
            })
            .collect::<Result<_, WimError>>()?;
        let commands: Vec<UpdateCommand> = strings
            .iter()
            .map(|(from, to)| match from {
                Some(from) => UpdateCommand::add(
                    TStr::from_impl(from),
                    TStr::from_impl(to),
                    None,
                    AddFlags::empty(),
                ),
                None => UpdateCommand::delete(TStr::from_impl(to), DeleteFlags::RECURSIVE),
            })
            .collect();
        monitor.progress.set_phase(format!(
            "Applying {} change(s) to image {index}",
            changes.len()
        ));
        wim.select_image(selected)
            .update(&commands, UpdateFlags::empty())
            .map_err(|e| match e {
                wimlib::Error::PathDoesNotExist => WimError::NoSuchPath {
                    path: source.to_path_buf(),
                    index,
                    inside: "a path to delete".into(),
                },
                other => WimError::from_wimlib(source, other),
            })?;
        drop(commands);
        if let Some(properties) = properties {
            let image = wim.select_image(selected);
            for (name, value) in [
                ("NAME", &properties.name),
                ("DESCRIPTION", &properties.description),
            ] {
                image
                    .set_property(
                        TStr::from_impl(&c_text(name)?),
                        Some(TStr::from_impl(&c_text(value)?)),
                    )
                    .map_err(|e| WimError::from_wimlib(source, e))?;
            }
        }
        monitor.progress.set_phase("Writing");
        watch_writes(&mut wim, monitor);
        write_verified(&wim, source, output, monitor)
    }

    fn split(
        &self,
        source: &Path,
        first_part: &Path,
        part_bytes: u64,
        monitor: &Monitor,
    ) -> Result<Vec<PathBuf>, WimError> {
        let dir = first_part
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = first_part
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| WimError::Internal("the split target has no file name".into()))?;
        let (stem, extension) = match name.rsplit_once('.') {
            Some((stem, ext)) => (stem.to_owned(), format!(".{ext}")),
            None => (name.clone(), String::new()),
        };
        refuse_existing(first_part)?;
        let lib = WimLib::default();
        let mut wim = open_whole(&lib, source, false)?;
        // Parts are written into a private directory beside the target, then moved into place.
        let staging = dir.join(format!(
            ".{name}.wimdeck-split-{}",
            crate::accounts::random_token()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(8)
                .collect::<String>()
        ));
        std::fs::create_dir(&staging).map_err(|e| io_error(&staging, &e))?;
        let _cleanup = RemoveDir(staging.clone());
        let progress = monitor.progress.clone();
        let cancel = monitor.cancel.clone();
        progress.set_phase("Splitting");
        wim.register_progress_callback(move |message| {
            if let ProgressMsg::SplitBeginPart(m) | ProgressMsg::SplitEndPart(m) = message {
                report(&progress, m.completed_bytes, m.total_bytes);
            }
            continue_unless(&cancel)
        });
        wim.split(
            TStr::from_impl(&c_path(&staging.join(&name))?),
            part_bytes,
            WriteFlags::empty(),
        )
        .map_err(|e| WimError::from_wimlib(source, e))?;
        let count = std::fs::read_dir(&staging)
            .map_err(|e| io_error(&staging, &e))?
            .count();
        let parts: Vec<(PathBuf, PathBuf)> = (1..=count)
            .map(|n| {
                let part = if n == 1 {
                    name.clone()
                } else {
                    format!("{stem}{n}{extension}")
                };
                (staging.join(&part), dir.join(&part))
            })
            .collect();
        for (_, target) in &parts {
            refuse_existing(target)?;
        }
        let mut placed = Vec::with_capacity(parts.len());
        for (staged, target) in parts {
            File::open(&staged)
                .and_then(|f| f.sync_all())
                .map_err(|e| io_error(&staged, &e))?;
            // A link, not a rename: it fails instead of replacing a file that appeared meanwhile.
            std::fs::hard_link(&staged, &target).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => WimError::OutputExists(target.clone()),
                _ => io_error(&target, &e),
            })?;
            placed.push(target);
        }
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error(dir, &e))?;
        Ok(placed)
    }
}

/// Writes every image of `source` into a new WIM at `output`, recompressed with `compression`
/// or, without one, as the source is compressed (a join). BOOT keeps the bootable image
/// bootable.
fn rewrite(
    source: &Path,
    output: &Path,
    compression: Option<CompressionType>,
    monitor: &Monitor,
) -> Result<(), WimError> {
    refuse_existing(output)?;
    let lib = WimLib::default();
    let wim = open_whole(&lib, source, false)?;
    let compression = compression.unwrap_or(wim.info().compression_type);
    let mut dest = lib
        .create_new_wim(compression)
        .map_err(|e| WimError::from_wimlib(output, e))?;
    wim.select_all_images()
        .export(&dest, None, None, ExportFlags::BOOT)
        .map_err(|e| WimError::from_wimlib(source, e))?;
    monitor.progress.set_phase("Writing");
    watch_writes(&mut dest, monitor);
    write_verified(&dest, source, output, monitor)
}

/// Removes a staging directory, whatever happened.
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn refuse_existing(output: &Path) -> Result<(), WimError> {
    if output.exists() {
        Err(WimError::OutputExists(output.to_path_buf()))
    } else {
        Ok(())
    }
}

fn compression_type(compression: Compression) -> CompressionType {
    match compression {
        Compression::None => CompressionType::None,
        Compression::Xpress => CompressionType::Xpress,
        Compression::Lzx => CompressionType::Lzx,
    }
}

fn report(progress: &crate::progress::Progress, done: u64, total: u64) {
    progress.start(Some(total), ProgressUnit::Bytes);
    progress.set_done(done);
}

fn continue_unless(cancel: &tokio_util::sync::CancellationToken) -> ProgressStatus {
    if cancel.is_cancelled() {
        ProgressStatus::Abort
    } else {
        ProgressStatus::Continue
    }
}

fn watch_writes(wim: &mut Wim, monitor: &Monitor) {
    let progress = monitor.progress.clone();
    let cancel = monitor.cancel.clone();
    wim.register_progress_callback(move |message| {
        if let ProgressMsg::WriteStreams {
            total_bytes,
            completed_bytes,
            ..
        } = message
        {
            report(&progress, *completed_bytes, *total_bytes);
        }
        continue_unless(&cancel)
    });
}

/// Writes `wim` to a temporary file beside `output` (with an integrity table), verifies what
/// was written, then renames it into place.
/// Writes `wim` (made from `source`) to `output` through a temporary file, and verifies the
/// copy before linking it into place. wimlib copies compressed data it need not recompress as
/// it is, so damage in the source surfaces here: it is reported against the source.
fn write_verified(
    wim: &Wim,
    source: &Path,
    output: &Path,
    monitor: &Monitor,
) -> Result<(), WimError> {
    let blame_source = |error: WimError| match error {
        WimError::Corrupt { detail, .. } => WimError::Corrupt {
            path: source.to_path_buf(),
            detail: format!("{detail} (found while checking the copy)"),
        },
        other => other,
    };
    let temp = TempOutput::create_for(output, monitor.job).map_err(|e| io_error(output, &e))?;
    wim.select_all_images()
        .write(
            TStr::from_impl(&c_path(temp.temp_path())?),
            WriteFlags::CHECK_INTEGRITY,
            0,
        )
        .map_err(|e| blame_source(WimError::from_wimlib(output, e)))?;
    if monitor.cancel.is_cancelled() {
        return Err(WimError::Cancelled);
    }
    monitor.progress.set_phase("Verifying the new file");
    let lib = WimLib::default();
    let written = open_checked(&lib, temp.temp_path(), true).map_err(blame_source)?;
    written
        .verify(VerifyFlags::empty())
        .map_err(|e| blame_source(WimError::from_wimlib(temp.temp_path(), e)))?;
    drop(written);
    temp.persist().map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => WimError::OutputExists(output.to_path_buf()),
        _ => io_error(output, &e),
    })?;
    Ok(())
}

fn c_text(text: &str) -> Result<CString, WimError> {
    CString::new(text)
        .map_err(|_| WimError::Internal("a path inside the image contains a NUL byte".into()))
}

/// A path inside an image as wimlib on Linux takes it: '/'-separated, from the root.
fn wim_path(path: &str) -> String {
    let path = path.replace('\\', "/");
    format!("/{}", path.trim_matches('/'))
}

fn select(wim: &Wim, path: &Path, index: u32) -> Result<NonZero<u32>, WimError> {
    let count = wim.info().image_count;
    NonZero::new(index)
        .filter(|_| index <= count)
        .ok_or_else(|| WimError::NoSuchImage {
            path: path.to_path_buf(),
            index,
            count,
        })
}

fn c_path(path: &Path) -> Result<CString, WimError> {
    CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| WimError::Io {
        path: path.to_path_buf(),
        detail: "the path contains a NUL byte".into(),
    })
}

fn open(lib: &WimLib, path: &Path) -> Result<Wim, WimError> {
    open_checked(lib, path, false)
}

/// Opens a WIM with all its data: the first part of a split WIM with its other parts
/// referenced (each checked to belong), so that operations reading file data work on it.
fn open_whole(lib: &WimLib, path: &Path, check_integrity: bool) -> Result<Wim, WimError> {
    use wimlib::{ReferenceFlags, string::ThinTStr};
    let parts = super::split_siblings(path)?;
    let wim = open_checked(lib, path, check_integrity)?;
    if parts.is_empty() {
        return Ok(wim);
    }
    let names = parts
        .iter()
        .map(|p| c_path(p))
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<ThinTStr> = names
        .iter()
        .map(|n| ThinTStr::new(TStr::from_impl(n)))
        .collect();
    let flags = if check_integrity {
        OpenFlags::CHECK_INTEGRITY
    } else {
        OpenFlags::empty()
    };
    wim.reference_resource_files(&refs, ReferenceFlags::empty(), flags)
        .map_err(|e| WimError::from_wimlib(path, e))?;
    Ok(wim)
}

/// Opens a WIM; with `check_integrity`, also checks it against its integrity table.
fn open_checked(lib: &WimLib, path: &Path, check_integrity: bool) -> Result<Wim, WimError> {
    if !has_wim_magic(path)? {
        return Err(WimError::NotAWim(path.to_path_buf()));
    }
    let flags = if check_integrity {
        OpenFlags::CHECK_INTEGRITY
    } else {
        OpenFlags::empty()
    };
    lib.open_wim(TStr::from_impl(&c_path(path)?), flags)
        .map_err(|e| WimError::from_wimlib(path, e))
}

fn image_info(wim: &Wim, index: u32) -> ImageInfo {
    let image = wim.select_image(NonZero::new(index).unwrap_or(NonZero::<u32>::MIN));
    let text = |name: &str| -> Option<String> {
        let name = CString::new(name).ok()?;
        image
            .property(TStr::from_impl(&name))
            .map(|v| v.to_str().to_string())
            .filter(|v| !v.is_empty())
    };
    let number = |name: &str| text(name).and_then(|v| v.trim().parse::<u64>().ok());
    let version = match (
        number("WINDOWS/VERSION/MAJOR"),
        number("WINDOWS/VERSION/MINOR"),
    ) {
        (Some(major), Some(minor)) => Some(Version {
            major: u32::try_from(major).unwrap_or(0),
            minor: u32::try_from(minor).unwrap_or(0),
            build: number("WINDOWS/VERSION/BUILD")
                .and_then(|b| u32::try_from(b).ok())
                .unwrap_or(0),
            sp_build: number("WINDOWS/VERSION/SPBUILD")
                .and_then(|b| u32::try_from(b).ok())
                .unwrap_or(0),
        }),
        _ => None,
    };
    let installation_type = text("WINDOWS/INSTALLATIONTYPE");
    let edition_id = text("WINDOWS/EDITIONID");
    let is_pe = [&installation_type, &edition_id].iter().any(|v| {
        v.as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case("WindowsPE"))
    });
    let languages = (1..)
        .map_while(|i| text(&format!("WINDOWS/LANGUAGES/LANGUAGE[{i}]")))
        .collect();
    ImageInfo {
        index,
        name: text("NAME").unwrap_or_default(),
        description: text("DESCRIPTION"),
        display_name: text("DISPLAYNAME"),
        display_description: text("DISPLAYDESCRIPTION"),
        flags: text("FLAGS"),
        architecture: number("WINDOWS/ARCH")
            .and_then(|a| u32::try_from(a).ok())
            .and_then(Architecture::from_windows_code),
        windows_pe: if is_pe {
            version.as_ref().map(WinPe::classify)
        } else {
            None
        },
        edition_id,
        installation_type,
        product_name: text("WINDOWS/PRODUCTNAME"),
        version,
        languages,
        default_language: text("WINDOWS/LANGUAGES/DEFAULT"),
        directory_count: number("DIRCOUNT").unwrap_or(0),
        file_count: number("FILECOUNT").unwrap_or(0),
        total_bytes: number("TOTALBYTES").unwrap_or(0),
    }
}

fn compression_name(kind: CompressionType) -> &'static str {
    match kind {
        CompressionType::None => "none",
        CompressionType::Xpress => "xpress",
        CompressionType::Lzx => "lzx",
        CompressionType::Lzms => "lzms",
        _ => "unknown",
    }
}

fn sha256_file(path: &Path) -> Result<String, WimError> {
    crate::fsx::sha256_file(path).map_err(|e| io_error(path, &e))
}

/// Whether the file starts like a WIM: `MSWIM` (or `WLPWM` for pipable WIMs) and three NULs.
/// Checked before wimlib, which would call a short foreign file "truncated".
fn has_wim_magic(path: &Path) -> Result<bool, WimError> {
    let mut magic = [0u8; 8];
    let mut file = File::open(path).map_err(|e| io_error(path, &e))?;
    match file.read_exact(&mut magic) {
        Ok(()) => Ok(&magic == b"MSWIM\0\0\0" || &magic == b"WLPWM\0\0\0"),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(io_error(path, &e)),
    }
}

fn io_error(path: &Path, error: &std::io::Error) -> WimError {
    WimError::Io {
        path: path.to_path_buf(),
        detail: error.to_string(),
    }
}
