//! What a base contains that its recipe depends on: the languages and keyboard layouts it
//! can start with, the optional components and language packs installed in it, the programs
//! a capture or discover image starts, its answer file and shell, its scratch space. Read
//! once from the base WIM (its SYSTEM hive, its servicing packages, a few directories) without
//! extracting the image, and kept with the boot image.
//!
//! Windows compares names ignoring case and wimlib on Linux does not, so every path is found
//! folder by folder ignoring case and kept as the image spells it: a build replaces
//! `\windows\system32\config\SYSTEM` where it is, and adds its folders under the image's own
//! `Windows` folder, never beside it under another spelling.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{
    regf::{Hive, RegValue},
    wim::{DirEntry, WimBackend, WimError},
};

/// Where the answer file is when an image has none yet (`X:\Unattend.xml`).
pub const ANSWER_FILE: &str = "/Unattend.xml";

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

/// What the base contains. Paths are as the image spells them (`/Windows/System32`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BaseFacts {
    pub ui_languages: Vec<String>,
    pub keyboard_layouts: Vec<KeyboardLayout>,
    pub packages: Vec<Package>,
    /// `WinPECacheThreshold`, when the image sets it.
    pub scratch_mb: Option<u32>,
    /// The `Windows` and `Windows\System32` folders.
    pub windows_dir: String,
    pub system32_dir: String,
    pub system_hive: Option<String>,
    pub answer_file: Option<String>,
    pub winpeshl: Option<String>,
    pub background: Option<String>,
    /// `sources\setup.exe` (discover images start it).
    pub setup: Option<String>,
    /// `Windows\System32\wdscapture.exe` (capture images start it).
    pub wdscapture: Option<String>,
}

impl Default for BaseFacts {
    fn default() -> Self {
        Self {
            ui_languages: Vec::new(),
            keyboard_layouts: Vec::new(),
            packages: Vec::new(),
            scratch_mb: None,
            windows_dir: "/Windows".into(),
            system32_dir: "/Windows/System32".into(),
            system_hive: None,
            answer_file: None,
            winpeshl: None,
            background: None,
            setup: None,
            wdscapture: None,
        }
    }
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

    /// Where a file of System32 the image may not have yet goes (its own spelling if it has
    /// it).
    pub fn in_system32(&self, existing: &Option<String>, name: &str) -> String {
        existing
            .clone()
            .unwrap_or_else(|| format!("{}/{name}", self.system32_dir))
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
/// `ui_languages` come from the image's metadata.
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
    let finder = Finder { wim, path, index };
    if let Some(windows) = finder.dir("/", "Windows")? {
        facts.windows_dir = windows;
    }
    if let Some(system32) = finder.dir(&facts.windows_dir, "System32")? {
        facts.system32_dir = system32;
    }
    let system32 = finder.names(&facts.system32_dir)?;
    let at = |dir: &str, names: &[DirEntry], name: &str| {
        names
            .iter()
            .find(|e| !e.is_dir && e.name.eq_ignore_ascii_case(name))
            .map(|e| format!("{}/{}", dir.trim_end_matches('/'), e.name))
    };
    facts.answer_file = at("/", &finder.names("/")?, "Unattend.xml");
    facts.winpeshl = at(&facts.system32_dir, &system32, "winpeshl.ini");
    facts.background = at(&facts.system32_dir, &system32, "winpe.jpg");
    facts.wdscapture = at(&facts.system32_dir, &system32, "wdscapture.exe");
    if let Some(sources) = finder.dir("/", "sources")? {
        facts.setup = at(&sources, &finder.names(&sources)?, "setup.exe");
    }
    if let Some(config) = finder.dir(&facts.system32_dir, "config")? {
        facts.system_hive = at(&config, &finder.names(&config)?, "SYSTEM");
    }
    let servicing = finder.dir(&facts.windows_dir, "servicing")?;
    if let Some(packages) = match servicing {
        Some(servicing) => finder.dir(&servicing, "Packages")?,
        None => None,
    } {
        let mut found: Vec<Package> = finder
            .names(&packages)?
            .iter()
            .filter_map(|e| parse_package(&e.name))
            .collect();
        found.sort_by(|a, b| (&a.name, &a.language).cmp(&(&b.name, &b.language)));
        facts.packages = found;
    }
    if let Some(hive) = &facts.system_hive {
        std::fs::create_dir_all(work).map_err(|e| WimError::Io {
            path: work.to_path_buf(),
            detail: e.to_string(),
        })?;
        wim.extract_paths(path, index, &[hive.as_str()], work)?;
        let file = work.join(hive.rsplit('/').next().unwrap_or("SYSTEM"));
        let bytes = std::fs::read(&file).map_err(|e| WimError::Io {
            path: file.clone(),
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

/// Finds entries of one image, ignoring case as Windows does.
struct Finder<'a> {
    wim: &'a dyn WimBackend,
    path: &'a Path,
    index: u32,
}

impl Finder<'_> {
    /// The entries of `dir` (none when it does not exist).
    fn names(&self, dir: &str) -> Result<Vec<DirEntry>, WimError> {
        match self.wim.list_dir(self.path, self.index, dir) {
            Ok(entries) => Ok(entries),
            Err(WimError::NoSuchPath { .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// The folder `name` in `dir`, as the image spells it.
    fn dir(&self, dir: &str, name: &str) -> Result<Option<String>, WimError> {
        Ok(self
            .names(dir)?
            .into_iter()
            .find(|e| e.is_dir && e.name.eq_ignore_ascii_case(name))
            .map(|e| format!("{}/{}", dir.trim_end_matches('/'), e.name)))
    }
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
