//! Our own INF reader: what a driver package's INF says about the driver — class, provider,
//! version and date, the architectures it supports, the devices it installs on, the catalog
//! file and the files it needs. Malformed input gets an error naming the line; nothing panics
//! (the fuzz target `fuzz/fuzz_targets/inf.rs` keeps it so).

mod files;
mod text;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use files::{copied_files, decorated_install, has_source_disks_files, source_files};
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

#[cfg(test)]
mod tests;
