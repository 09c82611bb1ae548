//! What a WIM file contains, and which Windows PE releases Wimdeck accepts.

use serde::{Deserialize, Serialize};

/// A WIM file and its images.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WimInspection {
    pub file: FileInfo,
    pub images: Vec<ImageInfo>,
}

/// The file as a whole (from its header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    pub path: String,
    pub size_bytes: u64,
    /// Hex SHA-256 of the whole file (absent when not asked for).
    pub sha256: Option<String>,
    pub guid: String,
    /// 68864 for ordinary WIMs, 3584 for solid (ESD-style) ones.
    pub wim_version: u32,
    /// `none`, `xpress`, `lzx` or `lzms`.
    pub compression: String,
    pub chunk_size: u32,
    pub part_number: u16,
    pub total_parts: u16,
    /// 1-based index of the bootable image; 0 when none is.
    pub boot_index: u32,
    pub has_integrity_table: bool,
    pub image_count: u32,
}

/// One image (index) in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// 1-based, as DISM and wimlib count.
    pub index: u32,
    pub name: String,
    pub description: Option<String>,
    pub display_name: Option<String>,
    pub display_description: Option<String>,
    /// The image's FLAGS (the edition, for install images).
    pub flags: Option<String>,
    pub architecture: Option<Architecture>,
    pub edition_id: Option<String>,
    /// `WindowsPE`, `Client`, `Server` …
    pub installation_type: Option<String>,
    pub product_name: Option<String>,
    pub version: Option<Version>,
    pub languages: Vec<String>,
    pub default_language: Option<String>,
    pub directory_count: u64,
    pub file_count: u64,
    /// Decompressed size of the image's files.
    pub total_bytes: u64,
    /// Set when the image is Windows PE.
    pub windows_pe: Option<WinPe>,
}

/// Processor architecture of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    X86,
    Amd64,
    Arm,
    Arm64,
    Ia64,
}

impl Architecture {
    /// From the `WINDOWS/ARCH` number in the WIM's XML (Windows' PROCESSOR_ARCHITECTURE codes).
    pub fn from_windows_code(code: u32) -> Option<Self> {
        match code {
            0 => Some(Architecture::X86),
            5 => Some(Architecture::Arm),
            6 => Some(Architecture::Ia64),
            9 => Some(Architecture::Amd64),
            12 => Some(Architecture::Arm64),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86 => "x86",
            Architecture::Amd64 => "amd64",
            Architecture::Arm => "arm",
            Architecture::Arm64 => "arm64",
            Architecture::Ia64 => "ia64",
        }
    }
}

/// Windows version numbers of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub build: u32,
    pub sp_build: u32,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{}.{}.{}",
            self.major, self.minor, self.build, self.sp_build
        )
    }
}

/// What Wimdeck does with a Windows PE release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WinPeSupport {
    /// Windows PE 10: drivers, optional components and settings can be changed.
    Customizable,
    /// Windows PE 5 and 3.1: can be used as is.
    SupportedNotCustomizable,
    /// Anything else: refused when added as a boot image.
    Unsupported,
}

/// A Windows PE image's release and how Wimdeck supports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WinPe {
    /// "10", "5.0", "4.0", "3.1", "3.0", "2.x", or "unknown".
    pub release: String,
    pub support: WinPeSupport,
}

impl WinPe {
    /// The rule of the reference product: WinPE 10 customizable; 5 and 3.1 supported as they
    /// are; everything else refused.
    pub fn classify(version: &Version) -> Self {
        let (release, support) = match (version.major, version.minor) {
            (10, 0) => ("10", WinPeSupport::Customizable),
            (6, 3) => ("5.0", WinPeSupport::SupportedNotCustomizable),
            (6, 2) => ("4.0", WinPeSupport::Unsupported),
            (6, 1) if version.build >= 7601 => ("3.1", WinPeSupport::SupportedNotCustomizable),
            (6, 1) => ("3.0", WinPeSupport::Unsupported),
            (6, 0) => ("2.x", WinPeSupport::Unsupported),
            _ => ("unknown", WinPeSupport::Unsupported),
        };
        Self {
            release: release.to_owned(),
            support,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: u32, minor: u32, build: u32) -> Version {
        Version {
            major,
            minor,
            build,
            sp_build: 0,
        }
    }

    #[test]
    fn winpe_releases_follow_the_reference_rule() {
        let support = |version| WinPe::classify(&version).support;
        assert_eq!(support(v(10, 0, 26100)), WinPeSupport::Customizable);
        assert_eq!(support(v(10, 0, 19041)), WinPeSupport::Customizable);
        assert_eq!(
            support(v(6, 3, 9600)),
            WinPeSupport::SupportedNotCustomizable
        );
        assert_eq!(
            support(v(6, 1, 7601)),
            WinPeSupport::SupportedNotCustomizable
        );
        assert_eq!(WinPe::classify(&v(6, 1, 7600)).release, "3.0");
        assert_eq!(support(v(6, 1, 7600)), WinPeSupport::Unsupported);
        assert_eq!(WinPe::classify(&v(6, 2, 9200)).release, "4.0");
        assert_eq!(support(v(6, 2, 9200)), WinPeSupport::Unsupported);
        assert_eq!(support(v(6, 0, 6001)), WinPeSupport::Unsupported);
        assert_eq!(support(v(11, 0, 1)), WinPeSupport::Unsupported);
    }

    #[test]
    fn architecture_codes() {
        assert_eq!(
            Architecture::from_windows_code(9),
            Some(Architecture::Amd64)
        );
        assert_eq!(
            Architecture::from_windows_code(12),
            Some(Architecture::Arm64)
        );
        assert_eq!(Architecture::from_windows_code(0), Some(Architecture::X86));
        assert_eq!(Architecture::from_windows_code(7), None);
        assert_eq!(
            serde_json::to_string(&Architecture::Amd64).expect("json"),
            "\"amd64\""
        );
    }
}
