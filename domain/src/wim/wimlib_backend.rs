//! [`WimBackend`] over wimlib.

use std::{ffi::CString, fs::File, io::Read, num::NonZero, path::Path};

use sha2::{Digest, Sha256};
use wimlib::{
    WimLib,
    string::TStr,
    wim::{CompressionType, OpenFlags, Wim},
};

use super::{
    Architecture, FileInfo, ImageInfo, Version, WimBackend, WimError, WimInspection, WinPe,
};

/// The real engine.
#[derive(Debug, Default, Clone, Copy)]
pub struct Wimlib;

impl WimBackend for Wimlib {
    fn inspect(&self, path: &Path) -> Result<WimInspection, WimError> {
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
            sha256: sha256_file(path)?,
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
}

fn open(lib: &WimLib, path: &Path) -> Result<Wim, WimError> {
    let c_path = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| WimError::Io {
        path: path.to_path_buf(),
        detail: "the path contains a NUL byte".into(),
    })?;
    lib.open_wim(TStr::from_impl(&c_path), OpenFlags::empty())
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
    let mut file = File::open(path).map_err(|e| io_error(path, &e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(|e| io_error(path, &e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
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
