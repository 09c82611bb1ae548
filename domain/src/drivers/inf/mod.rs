//! Our own INF reader: what a driver package's INF says about the driver — class, provider,
//! version and date, the architectures it supports, the devices it installs on, the catalog
//! file and the files it needs. Malformed input gets an error naming the line; nothing panics
//! (the fuzz target `fuzz/fuzz_targets/inf.rs` keeps it so).

mod text;

use std::{
    collections::BTreeSet,
    path::{Component, Path, PathBuf},
};

use serde::{Deserialize, Serialize};

pub use text::{Entry, InfText, InfWarning, Section, decode};

/// Why an INF could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct InfError {
    /// 1-based line, when the problem is on one.
    pub line: Option<usize>,
    pub message: String,
}

impl InfError {
    pub(crate) fn at(line: usize, message: String) -> Self {
        Self {
            line: Some(line),
            message,
        }
    }

    pub(crate) fn file(message: String) -> Self {
        Self {
            line: None,
            message,
        }
    }
}

/// A processor architecture a driver can be for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriverArch {
    X86,
    Amd64,
    Arm64,
    Arm,
    Ia64,
}

impl DriverArch {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X86 => "x86",
            Self::Amd64 => "amd64",
            Self::Arm64 => "arm64",
            Self::Arm => "arm",
            Self::Ia64 => "ia64",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "x86" => Some(Self::X86),
            "amd64" => Some(Self::Amd64),
            "arm64" => Some(Self::Arm64),
            "arm" => Some(Self::Arm),
            "ia64" => Some(Self::Ia64),
            _ => None,
        }
    }
}

/// One device a driver installs on: a line of a models section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceModel {
    /// The line of the models section that names it.
    #[serde(default)]
    pub line: usize,
    pub description: String,
    pub install_section: String,
    pub hardware_id: String,
    pub compatible_ids: Vec<String>,
    pub architecture: DriverArch,
}

/// A file the driver needs, relative to the INF's folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    pub path: PathBuf,
    /// `None`: needed on every architecture.
    pub architecture: Option<DriverArch>,
    /// Named only in a CopyFiles list (the INF has no `[SourceDisksFiles]`): `path` is a file
    /// name, found wherever it is in the package.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_name: bool,
}

/// What an INF says about its driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfDriver {
    pub class: String,
    pub class_guid: Option<String>,
    pub provider: String,
    /// `DriverVer` date as `yyyy-mm-dd`.
    pub date: Option<String>,
    /// `DriverVer` version (`w.x.y.z`).
    pub version: Option<String>,
    /// The catalog file per architecture (`None`: the undecorated `CatalogFile`).
    pub catalog_files: Vec<(Option<DriverArch>, String)>,
    pub architectures: BTreeSet<DriverArch>,
    pub models: Vec<DeviceModel>,
    pub files: Vec<SourceFile>,
    /// What Windows accepts but the reader noted (text before [Version], a `%strkey%` missing
    /// from `[Strings]` where Wimdeck does not need the value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<InfWarning>,
    /// `[DefaultInstall]` without devices: a primitive driver, installed by running its INF,
    /// not on a device.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub primitive: bool,
}

impl InfDriver {
    /// Reads an INF file's bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InfError> {
        Self::from_text(&InfText::parse(&decode(bytes)?)?)
    }

    /// Reads a parsed INF.
    pub fn from_text(inf: &InfText) -> Result<Self, InfError> {
        let version = inf
            .section("Version")
            .ok_or_else(|| InfError::file("there is no [Version] section".into()))?;
        let signature = version
            .entry("Signature")
            .ok_or_else(|| InfError::at(version.line, "[Version] has no Signature".into()))?
            .resolved()?;
        let valid = ["$Windows NT$", "$Chicago$", "$Windows 95$"]
            .iter()
            .any(|s| s.eq_ignore_ascii_case(signature.value(0)));
        if !valid {
            return Err(InfError::at(
                signature.line,
                format!(
                    "Signature \"{}\" is not an INF signature ($Windows NT$)",
                    signature.value(0)
                ),
            ));
        }
        let needed = |key: &str| version.entry(key).map(Entry::resolved).transpose();
        let class = needed("Class")?
            .map(|e| e.value(0).to_owned())
            .filter(|c| !c.is_empty())
            .ok_or_else(|| InfError::at(version.line, "[Version] has no Class".into()))?;
        let (date, driver_version) = match needed("DriverVer")? {
            Some(e) => {
                let (date, v) = driver_ver(e)?;
                (Some(date), v)
            }
            None => (None, None),
        };
        let catalog_files = version
            .entries
            .iter()
            .filter_map(|e| {
                let key = e.key.as_deref()?;
                let (name, decoration) = match key.split_once('.') {
                    Some((name, decoration)) => (name, Some(decoration)),
                    None => (key, None),
                };
                if !name.eq_ignore_ascii_case("CatalogFile") || e.value(0).is_empty() {
                    return None;
                }
                Some((decoration, e))
            })
            .map(|(decoration, e)| {
                let e = e.resolved()?;
                let arch = decoration.map(|d| target_arch(d, e.line)).transpose()?;
                Ok((arch, e.value(0).to_owned()))
            })
            .collect::<Result<Vec<_>, InfError>>()?;
        let (architectures, models) = models(inf)?;
        let mut warnings = inf.warnings.clone();
        let files = if has_source_disks_files(inf) {
            source_files(inf, &architectures)?
        } else {
            copied_files(inf, &models, &mut warnings)?
        };
        let primitive = models.is_empty()
            && inf
                .sections
                .iter()
                .any(|s| decorated_install(&s.name, "DefaultInstall"));
        Ok(Self {
            class,
            class_guid: needed("ClassGuid")?.map(|e| e.value(0).to_ascii_uppercase()),
            provider: needed("Provider")?
                .map(|e| e.value(0).to_owned())
                .unwrap_or_default(),
            date,
            version: driver_version,
            catalog_files,
            architectures,
            models,
            files,
            warnings,
            primitive,
        })
    }

    /// The catalog file that signs the driver on `arch`: the decorated one, else the plain one.
    pub fn catalog_file(&self, arch: DriverArch) -> Option<&str> {
        self.catalog_files
            .iter()
            .find(|(a, _)| *a == Some(arch))
            .or_else(|| self.catalog_files.iter().find(|(a, _)| a.is_none()))
            .map(|(_, name)| name.as_str())
    }
}

/// One INF as `wimdeck driver inspect` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfReport {
    pub inf: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<InfDriver>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<InfError>,
    /// Files the INF needs that are not beside it (relative to its folder).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_files: Vec<PathBuf>,
    /// What the catalog would store, for a driver it would import: its content hash and
    /// signature status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<super::signing::Signature>,
}

/// Reads one INF, or every INF under a folder (sorted by path). Symbolic links are not
/// followed, so a package cannot point the reader outside itself.
pub fn inspect_path(path: &Path) -> std::io::Result<Vec<InfReport>> {
    let mut infs = Vec::new();
    if path.is_dir() {
        collect_infs(path, &mut infs)?;
        infs.sort();
    } else {
        infs.push(path.to_path_buf());
    }
    infs.into_iter()
        .map(|inf| {
            let bytes = std::fs::read(&inf)?;
            let folder = inf.parent().map(Path::to_path_buf).unwrap_or_default();
            Ok(match InfDriver::from_bytes(&bytes) {
                Ok(driver) => {
                    let missing_files = super::analyze::missing_files(&driver, &folder)?;
                    let read = match missing_files.is_empty() {
                        true => super::analyze::read_driver(&inf)?.ok(),
                        false => None,
                    };
                    InfReport {
                        missing_files,
                        content_hash: read.as_ref().map(|r| r.content_hash.clone()),
                        signature: read.map(|r| r.signature),
                        inf,
                        driver: Some(driver),
                        error: None,
                    }
                }
                Err(error) => InfReport {
                    inf,
                    driver: None,
                    error: Some(error),
                    missing_files: Vec::new(),
                    content_hash: None,
                    signature: None,
                },
            })
        })
        .collect()
}

fn collect_infs(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            collect_infs(&path, out)?;
        } else if kind.is_file()
            && path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("inf"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// `DriverVer = mm/dd/yyyy[,w.x.y.z]`.
fn driver_ver(entry: &Entry) -> Result<(String, Option<String>), InfError> {
    let bad = |what: String| InfError::at(entry.line, what);
    let text = entry.value(0);
    let parts: Vec<&str> = text.split(['/', '-']).collect();
    let numbers: Option<Vec<u32>> = parts.iter().map(|p| p.trim().parse().ok()).collect();
    // Any year a FILETIME holds: chipset "null driver" INFs date themselves 07/18/1968 so
    // that every real driver outranks them.
    let date = match numbers.as_deref() {
        Some(&[month, day, year])
            if (1..=12).contains(&month)
                && (1..=31).contains(&day)
                && (1601..=9999).contains(&year) =>
        {
            format!("{year:04}-{month:02}-{day:02}")
        }
        _ => {
            return Err(bad(format!("DriverVer date \"{text}\" is not mm/dd/yyyy")));
        }
    };
    let version = entry.value(1);
    if version.is_empty() {
        return Ok((date, None));
    }
    let fields: Vec<&str> = version.split('.').collect();
    let numeric = fields.len() <= 4
        && fields
            .iter()
            .all(|f| !f.is_empty() && f.parse::<u16>().is_ok());
    if !numeric {
        return Err(bad(format!(
            "DriverVer version \"{version}\" is not w.x.y.z (each 0-65535)"
        )));
    }
    Ok((date, Some(version.to_owned())))
}

/// The architecture of a TargetOSVersion decoration (`NTamd64.10.0...16299`). `NT` without an
/// architecture, like an undecorated models section, is x86 only: 64-bit Windows installs only
/// from sections decorated for its architecture.
fn target_arch(decoration: &str, line: usize) -> Result<DriverArch, InfError> {
    let head = decoration.split('.').next().unwrap_or_default();
    let Some(arch) = head
        .get(..2)
        .filter(|nt| nt.eq_ignore_ascii_case("NT"))
        .and_then(|_| head.get(2..))
    else {
        return Err(InfError::at(
            line,
            format!("\"{decoration}\" is not a TargetOSVersion (NT<architecture>…)"),
        ));
    };
    if arch.is_empty() {
        return Ok(DriverArch::X86);
    }
    DriverArch::parse(arch).ok_or_else(|| {
        InfError::at(
            line,
            format!("unknown architecture \"{arch}\" in \"{decoration}\""),
        )
    })
}

/// `[Manufacturer]` → the models sections for each architecture → the devices.
fn models(inf: &InfText) -> Result<(BTreeSet<DriverArch>, Vec<DeviceModel>), InfError> {
    let mut architectures = BTreeSet::new();
    let mut models = Vec::new();
    let Some(manufacturer) = inf.section("Manufacturer") else {
        return Ok((architectures, models));
    };
    for entry in &manufacturer.entries {
        let entry = entry.resolved()?;
        let base = entry.value(0);
        if base.is_empty() {
            return Err(InfError::at(
                entry.line,
                "a manufacturer without a models section".into(),
            ));
        }
        let decorations: Vec<&str> = entry
            .values
            .iter()
            .skip(1)
            .map(String::as_str)
            .filter(|d| !d.is_empty())
            .collect();
        let targets: Vec<(String, DriverArch)> = if decorations.is_empty() {
            vec![(base.to_owned(), DriverArch::X86)]
        } else {
            decorations
                .iter()
                .map(|d| Ok((format!("{base}.{d}"), target_arch(d, entry.line)?)))
                .collect::<Result<_, InfError>>()?
        };
        for (name, arch) in targets {
            let section = inf.section(&name).ok_or_else(|| {
                InfError::at(
                    entry.line,
                    format!("the models section [{name}] named here does not exist"),
                )
            })?;
            architectures.insert(arch);
            for model in &section.entries {
                let model = model.resolved()?;
                let hardware_id = model.value(1);
                if model.value(0).is_empty() || hardware_id.is_empty() {
                    return Err(InfError::at(
                        model.line,
                        format!("a device in [{name}] needs an install section and a hardware ID"),
                    ));
                }
                models.push(DeviceModel {
                    line: model.line,
                    description: model.key.clone().unwrap_or_default(),
                    install_section: model.value(0).to_owned(),
                    hardware_id: hardware_id.to_owned(),
                    compatible_ids: model
                        .values
                        .iter()
                        .skip(2)
                        .filter(|v| !v.is_empty())
                        .cloned()
                        .collect(),
                    architecture: arch,
                });
            }
        }
    }
    Ok((architectures, models))
}

/// `[SourceDisksFiles]` (and `.arch` ones) with the folders of `[SourceDisksNames]`. A plain
/// entry whose disk only decorated `[SourceDisksNames.arch]` sections name is, like Windows
/// reads it, one file per such architecture.
fn source_files(
    inf: &InfText,
    architectures: &BTreeSet<DriverArch>,
) -> Result<Vec<SourceFile>, InfError> {
    let mut files = Vec::new();
    for section in &inf.sections {
        let Some(arch) = decorated(&section.name, "SourceDisksFiles", section.line)? else {
            continue;
        };
        for entry in &section.entries {
            let entry = entry.resolved()?;
            let Some(name) = entry.key.as_deref().filter(|n| !n.is_empty()) else {
                return Err(InfError::at(
                    entry.line,
                    "a file entry without a file name".into(),
                ));
            };
            let disk = entry.value(0);
            let disks: Vec<(Option<DriverArch>, &Entry)> = match arch {
                Some(a) => disk_entry(inf, disk, Some(a))
                    .map(|e| (Some(a), e))
                    .into_iter()
                    .collect(),
                None => match disk_entry(inf, disk, None) {
                    Some(e) => vec![(None, e)],
                    None => architectures
                        .iter()
                        .filter_map(|a| disk_entry(inf, disk, Some(*a)).map(|e| (Some(*a), e)))
                        .collect(),
                },
            };
            if disks.is_empty() {
                return Err(InfError::at(
                    entry.line,
                    format!("source disk {disk} is not in [SourceDisksNames]"),
                ));
            }
            for (architecture, disk) in disks {
                let folder = disk.resolved()?.value(3);
                let path = inside_package(&[folder, entry.value(1), name], entry.line)?;
                files.push(SourceFile {
                    path,
                    architecture,
                    by_name: false,
                });
            }
        }
    }
    Ok(files)
}

/// For a section named `base` or `base.<arch>`: `Some(arch or None)`; for others `None`.
fn decorated(name: &str, base: &str, line: usize) -> Result<Option<Option<DriverArch>>, InfError> {
    let (head, tail) = match name.split_once('.') {
        Some((head, tail)) => (head, Some(tail)),
        None => (name, None),
    };
    if !head.eq_ignore_ascii_case(base) {
        return Ok(None);
    }
    match tail {
        None => Ok(Some(None)),
        Some(tail) => DriverArch::parse(tail)
            .map(|a| Some(Some(a)))
            .ok_or_else(|| {
                InfError::at(line, format!("[{name}]: unknown architecture \"{tail}\""))
            }),
    }
}

/// The `[SourceDisksNames]` line of `disk` for files of `arch`: from the section decorated
/// for it, else from the plain one (`None`: the plain one only).
fn disk_entry<'a>(inf: &'a InfText, disk: &str, arch: Option<DriverArch>) -> Option<&'a Entry> {
    let in_section = |wanted: Option<DriverArch>| {
        inf.sections
            .iter()
            .filter(|s| matches!(decorated(&s.name, "SourceDisksNames", s.line), Ok(Some(a)) if a == wanted))
            .find_map(|s| s.entries.iter().find(|e| e.key.as_deref() == Some(disk)))
    };
    match arch {
        Some(_) => in_section(arch).or_else(|| in_section(None)),
        None => in_section(None),
    }
}

fn has_source_disks_files(inf: &InfText) -> bool {
    inf.sections
        .iter()
        .any(|s| matches!(decorated(&s.name, "SourceDisksFiles", s.line), Ok(Some(_))))
}

/// Whether `name` is the install section `base`, plain or with a platform extension
/// (`DefaultInstall.NTamd64`).
fn decorated_install(name: &str, base: &str) -> bool {
    let (head, tail) = name.split_once('.').unwrap_or((name, ""));
    head.eq_ignore_ascii_case(base)
        && (tail.is_empty()
            || tail
                .get(..2)
                .is_some_and(|nt| nt.eq_ignore_ascii_case("NT")))
}

/// The install section Windows uses for a device on `arch`: the one with the most specific
/// platform extension that exists (`X.NTamd64`, then `X.NT`, then `X`).
fn install_section<'a>(inf: &'a InfText, name: &str, arch: DriverArch) -> Option<&'a Section> {
    [
        format!("{name}.NT{}", arch.as_str()),
        format!("{name}.NT"),
        name.to_owned(),
    ]
    .iter()
    .find_map(|candidate| inf.section(candidate))
}

/// Without `[SourceDisksFiles]` (an INF whose files a layout file lists, or one written
/// loosely): the files the devices' install sections copy, by name, found in the package
/// wherever they are. `CopyFiles` names file-list sections or, with `@`, one file.
fn copied_files(
    inf: &InfText,
    models: &[DeviceModel],
    warnings: &mut Vec<InfWarning>,
) -> Result<Vec<SourceFile>, InfError> {
    let mut files: Vec<SourceFile> = Vec::new();
    let mut add = |name: &str, arch: DriverArch, line: usize| -> Result<(), InfError> {
        let path = inside_package(&[name], line)?;
        if path.components().count() != 1 {
            return Err(InfError::at(line, format!("\"{name}\" is not a file name")));
        }
        match files.iter_mut().find(|f| f.path == path) {
            // Needed on more than one architecture: on every one.
            Some(file) if file.architecture != Some(arch) => file.architecture = None,
            Some(_) => {}
            None => files.push(SourceFile {
                path,
                architecture: Some(arch),
                by_name: true,
            }),
        }
        Ok(())
    };
    let mut seen = BTreeSet::new();
    for model in models {
        if !seen.insert((
            model.install_section.to_ascii_lowercase(),
            model.architecture,
        )) {
            continue;
        }
        let Some(section) = install_section(inf, &model.install_section, model.architecture) else {
            // Windows would not install such a device; the driver's other devices may be fine.
            warnings.push(InfWarning {
                line: model.line,
                message: format!(
                    "the install section [{}] of {} ({}) does not exist",
                    model.install_section,
                    model.hardware_id,
                    model.architecture.as_str()
                ),
            });
            continue;
        };
        for entry in &section.entries {
            if !entry
                .key
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case("CopyFiles"))
            {
                continue;
            }
            let entry = entry.resolved()?;
            for value in entry.values.iter().filter(|v| !v.is_empty()) {
                if let Some(file) = value.strip_prefix('@') {
                    add(file, model.architecture, entry.line)?;
                    continue;
                }
                let list = inf.section(value).ok_or_else(|| {
                    InfError::at(
                        entry.line,
                        format!("the file list [{value}] named by CopyFiles does not exist"),
                    )
                })?;
                for line in &list.entries {
                    let line = line.resolved()?;
                    // `destination[, source[, …]]`: the source name when it differs.
                    let name = match line.value(1) {
                        "" => line.key.as_deref().unwrap_or(line.value(0)),
                        source => source,
                    };
                    if !name.is_empty() {
                        add(name, model.architecture, line.line)?;
                    }
                }
            }
        }
    }
    Ok(files)
}

/// Joins INF-relative pieces (`\`-separated) into a path that must stay inside the package.
fn inside_package(pieces: &[&str], line: usize) -> Result<PathBuf, InfError> {
    let mut path = PathBuf::new();
    for piece in pieces {
        for part in piece
            .split(['\\', '/'])
            .filter(|p| !p.is_empty() && *p != ".")
        {
            match Path::new(part).components().next() {
                Some(Component::ParentDir) => {
                    if !path.pop() {
                        return Err(InfError::at(
                            line,
                            format!("\"{}\" climbs out of the driver package", pieces.join("\\")),
                        ));
                    }
                }
                Some(Component::Normal(_)) if !part.contains(':') => path.push(part),
                _ => {
                    return Err(InfError::at(
                        line,
                        format!(
                            "\"{}\" is not a path inside the driver package",
                            pieces.join("\\")
                        ),
                    ));
                }
            }
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests;
