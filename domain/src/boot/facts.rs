//! What a base contains that its recipe depends on: the languages and keyboard layouts it
//! can start with, the optional components and language packs installed in it, the programs
//! a capture or discover image starts, its answer file and shell, its scratch space. Read
//! once from the base WIM (its SYSTEM hive, its servicing packages, a few directories) without
//! extracting the image, and kept with the boot image.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{
    regf::{Hive, RegValue},
    wim::{WimBackend, WimError},
};

/// Where a build changes the image, and where it looks.
pub const SYSTEM_HIVE: &str = "/Windows/System32/config/SYSTEM";
pub const ANSWER_FILE: &str = "/Unattend.xml";
pub const WINPESHL: &str = "/Windows/System32/winpeshl.ini";
pub const BACKGROUND: &str = "/Windows/System32/winpe.jpg";
pub const SETUP: &str = "/sources/setup.exe";
pub const WDSCAPTURE: &str = "/Windows/System32/wdscapture.exe";
const PACKAGES: &str = "/Windows/servicing/Packages";

/// The value `DISM /Set-ScratchSpace` writes (MB), and where.
pub const SCRATCH_KEY: &str = r"ControlSet001\Services\FBWF";
pub const SCRATCH_VALUE: &str = "WinPECacheThreshold";

/// An optional component or language pack installed in the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// `WinPE-WMI`, `Microsoft-Windows-WinPE-LanguagePack`, …
    pub name: String,
    /// The language of a language-specific part (`en-US`); `None` for the neutral part.
    pub language: Option<String>,
    pub version: String,
}

/// A keyboard layout the image has (`Keyboard Layouts` in its SYSTEM hive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyboardLayout {
    /// `00000407`
    pub id: String,
    /// `German`
    pub text: String,
}

impl KeyboardLayout {
    /// The input locale Windows names for this layout in its own language
    /// (`0407:00000407`).
    pub fn input_locale(&self) -> String {
        let language = self.id.get(4..).unwrap_or("0409");
        format!(
            "{}:{}",
            language.to_ascii_uppercase(),
            self.id.to_ascii_uppercase()
        )
    }
}

/// What the base contains.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BaseFacts {
    pub ui_languages: Vec<String>,
    pub keyboard_layouts: Vec<KeyboardLayout>,
    pub packages: Vec<Package>,
    /// `WinPECacheThreshold`, when the image sets it.
    pub scratch_mb: Option<u32>,
    pub has_system_hive: bool,
    pub has_answer_file: bool,
    pub has_winpeshl: bool,
    pub has_background: bool,
    pub has_setup: bool,
    pub has_wdscapture: bool,
}

/// Optional components a deployment usually needs, with what each is for.
pub const USUAL_COMPONENTS: [(&str, &str); 10] = [
    ("WinPE-WMI", "WMI: hardware queries, most deployment tools"),
    (
        "WinPE-Scripting",
        "Windows Script Host: VBScript and JScript",
    ),
    ("WinPE-NetFx", ".NET Framework, needed by PowerShell"),
    ("WinPE-PowerShell", "PowerShell"),
    (
        "WinPE-StorageWMI",
        "storage management (disks, volumes) from scripts",
    ),
    (
        "WinPE-EnhancedStorage",
        "encrypted and self-encrypting drives",
    ),
    (
        "WinPE-SecureStartup",
        "BitLocker: unlocking and provisioning",
    ),
    ("WinPE-Dot3Svc", "wired 802.1X network authentication"),
    ("WinPE-DismCmdlets", "DISM cmdlets for PowerShell"),
    (
        "WinPE-WDS-Tools",
        "Windows Deployment Services tools (image capture)",
    ),
];

/// Reads a package's manifest name
/// (`WinPE-WMI-Package~31bf3856ad364e35~amd64~en-US~10.0.26100.1.mum`).
pub fn parse_package(file_name: &str) -> Option<Package> {
    let stem = file_name
        .strip_suffix(".mum")
        .or_else(|| file_name.strip_suffix(".MUM"))?;
    let mut parts = stem.split('~');
    let name = parts.next()?;
    let _token = parts.next()?;
    let _arch = parts.next()?;
    let language = parts.next()?;
    let version = parts.next()?;
    let name = name.strip_suffix("-Package").unwrap_or(name);
    Some(Package {
        name: name.to_owned(),
        language: (!language.is_empty()).then(|| language.to_owned()),
        version: version.to_owned(),
    })
}

impl BaseFacts {
    /// The keyboard layouts and scratch space in a SYSTEM hive.
    pub fn read_system_hive(&mut self, bytes: &[u8]) -> Result<(), String> {
        let hive =
            Hive::parse(bytes).map_err(|e| format!("its SYSTEM hive cannot be read: {e}"))?;
        if let Some(layouts) = hive.root.find(r"ControlSet001\Control\Keyboard Layouts") {
            self.keyboard_layouts = layouts
                .subkeys()
                .iter()
                .filter(|k| k.name.len() == 8 && k.name.chars().all(|c| c.is_ascii_hexdigit()))
                .map(|k| KeyboardLayout {
                    id: k.name.to_ascii_uppercase(),
                    text: match k.value("Layout Text").and_then(|v| v.decoded()) {
                        Some(RegValue::Sz(text) | RegValue::ExpandSz(text)) => text,
                        _ => String::new(),
                    },
                })
                .collect();
        }
        self.scratch_mb = hive
            .root
            .find(SCRATCH_KEY)
            .and_then(|k| k.value(SCRATCH_VALUE))
            .and_then(|v| match v.decoded() {
                Some(RegValue::Dword(mb)) => Some(mb),
                _ => None,
            });
        Ok(())
    }

    /// Whether the image contains a package (its neutral part).
    pub fn has_package(&self, name: &str) -> bool {
        self.packages
            .iter()
            .any(|p| p.language.is_none() && p.name.eq_ignore_ascii_case(name))
    }

    /// The languages the image can show: its UI languages and its language packs.
    pub fn languages(&self) -> Vec<String> {
        let mut out = self.ui_languages.clone();
        for package in &self.packages {
            if let Some(language) = &package.language
                && package.name.contains("LanguagePack")
                && !out.iter().any(|l| l.eq_ignore_ascii_case(language))
            {
                out.push(language.clone());
            }
        }
        out
    }
}

/// Reads the facts of image `index` of `path` (blocking: call from a blocking thread).
/// `ui_languages` come from the image's metadata, read at import.
pub fn read(
    wim: &dyn WimBackend,
    path: &Path,
    index: u32,
    ui_languages: Vec<String>,
    work: &Path,
) -> Result<BaseFacts, WimError> {
    let mut facts = BaseFacts {
        ui_languages,
        ..BaseFacts::default()
    };
    let names = |dir: &str| -> Result<Vec<String>, WimError> {
        match wim.list_dir(path, index, dir) {
            Ok(entries) => Ok(entries.into_iter().map(|e| e.name).collect()),
            Err(WimError::NoSuchPath { .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    };
    let has = |names: &[String], name: &str| names.iter().any(|n| n.eq_ignore_ascii_case(name));
    let root = names("/")?;
    let system32 = names("/Windows/System32")?;
    let sources = names("/sources")?;
    facts.has_answer_file = has(&root, "Unattend.xml");
    facts.has_winpeshl = has(&system32, "winpeshl.ini");
    facts.has_background = has(&system32, "winpe.jpg");
    facts.has_wdscapture = has(&system32, "wdscapture.exe");
    facts.has_setup = has(&sources, "setup.exe");
    let mut packages: Vec<Package> = names(PACKAGES)?
        .iter()
        .filter_map(|n| parse_package(n))
        .collect();
    packages.sort_by(|a, b| (&a.name, &a.language).cmp(&(&b.name, &b.language)));
    facts.packages = packages;
    std::fs::create_dir_all(work).map_err(|e| WimError::Io {
        path: work.to_path_buf(),
        detail: e.to_string(),
    })?;
    let found = wim.extract_paths(path, index, &[SYSTEM_HIVE], work)?;
    facts.has_system_hive = !found.is_empty();
    if facts.has_system_hive {
        let hive = work.join("SYSTEM");
        let bytes = std::fs::read(&hive).map_err(|e| WimError::Io {
            path: hive.clone(),
            detail: e.to_string(),
        })?;
        facts
            .read_system_hive(&bytes)
            .map_err(|detail| WimError::Corrupt {
                path: path.to_path_buf(),
                detail,
            })?;
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_manifests_name_their_component_language_and_version() {
        assert_eq!(
            parse_package("WinPE-WMI-Package~31bf3856ad364e35~amd64~~10.0.26100.1.mum"),
            Some(Package {
                name: "WinPE-WMI".into(),
                language: None,
                version: "10.0.26100.1".into()
            })
        );
        assert_eq!(
            parse_package(
                "Microsoft-Windows-WinPE-LanguagePack-Package~31bf3856ad364e35~amd64~de-DE~10.0.26100.1.mum"
            )
            .map(|p| (p.name, p.language)),
            Some(("Microsoft-Windows-WinPE-LanguagePack".into(), Some("de-DE".into())))
        );
        assert_eq!(parse_package("update.cat"), None);
        assert_eq!(parse_package("odd~name.mum"), None);
    }

    #[test]
    fn layouts_name_their_input_locale() {
        let layout = KeyboardLayout {
            id: "00000407".into(),
            text: "German".into(),
        };
        assert_eq!(layout.input_locale(), "0407:00000407");
    }
}
