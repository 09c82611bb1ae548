//! The files an INF needs: from `[SourceDisksFiles]` with the folders of `[SourceDisksNames]`,
//! or, without them, from the CopyFiles lists of its devices' install sections, by name.

use std::{
    collections::BTreeSet,
    path::{Component, Path, PathBuf},
};

use super::{DeviceModel, DriverArch, Entry, InfError, InfText, InfWarning, Section, SourceFile};

/// `[SourceDisksFiles]` (and `.arch` ones) with the folders of `[SourceDisksNames]`. A plain
/// entry whose disk only decorated `[SourceDisksNames.arch]` sections name is, like Windows
/// reads it, one file per such architecture.
pub(super) fn source_files(
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

pub(super) fn has_source_disks_files(inf: &InfText) -> bool {
    inf.sections
        .iter()
        .any(|s| matches!(decorated(&s.name, "SourceDisksFiles", s.line), Ok(Some(_))))
}

/// Whether `name` is the install section `base`, plain or with a platform extension
/// (`DefaultInstall.NTamd64`).
pub(super) fn decorated_install(name: &str, base: &str) -> bool {
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
pub(super) fn copied_files(
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
