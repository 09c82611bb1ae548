//! A boot image's recipe: what a build adds to its base. Drivers, the customization of the
//! properties page's Customization tab, and, for capture and discover images, what Windows
//! PE's shell starts. The recipe is data only: [`super::plan`] turns it into files.
//!
//! A recipe is kept in a canonical form (drivers sorted by what they are, not by when they
//! were added), so the same recipe reached by different edits builds the same image.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Scratch space sizes Windows PE offers (MB), as `DISM /Set-ScratchSpace` takes them.
pub const SCRATCH_SIZES: [u32; 5] = [32, 64, 128, 256, 512];

/// What a build adds to a base.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Recipe {
    pub drivers: Vec<RecipeDriver>,
    pub customization: Customization,
    pub shell: Option<Shell>,
}

/// A driver as a recipe names it (what the catalog had when it was listed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipeDriver {
    pub id: i64,
    pub name: String,
    pub inf_name: String,
    pub version: String,
    pub content_hash: String,
}

impl RecipeDriver {
    /// Its folder inside the image, named by what the driver is (its INF and content), so
    /// the order drivers were added in changes nothing.
    pub fn folder_name(&self) -> String {
        let stem = self
            .inf_name
            .rsplit_once('.')
            .map_or(self.inf_name.as_str(), |(s, _)| s);
        let clean: String = stem
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        let clean = if clean.is_empty() {
            "driver".into()
        } else {
            clean
        };
        let hash: String = self.content_hash.chars().take(12).collect();
        format!("{clean}-{hash}")
    }
}

/// The Customization tab.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Customization {
    pub prestart: Option<Prestart>,
    /// A custom background; `None`: Windows PE's own.
    pub background: Option<Asset>,
    /// A command prompt opens when Windows PE starts (testing only).
    pub command_support: bool,
    /// `None`: as the image has it (Windows PE's default is 32 MB).
    pub scratch_mb: Option<u32>,
    /// An input locale as Windows names it (`0407:00000407`); `None`: the image's own.
    pub input_locale: Option<String>,
    /// A UI language the image contains (`de-DE`); `None`: the image's own.
    pub ui_language: Option<String>,
}

impl Customization {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// A command run once Windows PE has its network, before anything else the image starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prestart {
    pub command: String,
    /// Files copied into the image for the command (`X:\Windows\Wimdeck\Prestart`).
    pub files: Option<Asset>,
}

/// A file or folder kept in Wimdeck's asset store, named by its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Asset {
    /// SHA-256 of the file, or of a folder's manifest.
    pub sha256: String,
    /// What the admin gave, for display.
    pub name: String,
    pub size_bytes: u64,
    /// Files in a folder (1 for a file).
    pub files: u32,
}

/// What a capture or discover image's shell starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Shell {
    /// The image capture wizard (`wdscapture.exe`).
    Capture,
    /// Windows Setup in discover mode; with a server, static discovery of that server.
    Discover { server: Option<String> },
}

impl Shell {
    pub fn noun(&self) -> &'static str {
        match self {
            Shell::Capture => "capture image",
            Shell::Discover { .. } => "discover image",
        }
    }
}

impl Recipe {
    /// The recipe in its canonical form: drivers ordered by INF and content, without repeats.
    pub fn canonical(mut self) -> Self {
        self.drivers.sort_by(|a, b| {
            (a.inf_name.to_ascii_lowercase(), &a.content_hash)
                .cmp(&(b.inf_name.to_ascii_lowercase(), &b.content_hash))
        });
        self.drivers
            .dedup_by(|a, b| a.content_hash == b.content_hash);
        self
    }

    /// Whether a build of this recipe is its base, unchanged.
    pub fn is_empty(&self) -> bool {
        self.drivers.is_empty() && self.customization.is_default() && self.shell.is_none()
    }
}

/// Checks a scratch space size an admin chose.
pub fn check_scratch(mb: u32) -> Result<u32> {
    if SCRATCH_SIZES.contains(&mb) {
        Ok(mb)
    } else {
        Err(Error::invalid(
            "scratch_mb",
            format!(
                "{mb} MB is not a scratch space Windows PE offers: choose 32, 64, 128, 256 or 512 MB"
            ),
        ))
    }
}

/// Checks an input locale (`0409:00000409`: a language id and a keyboard layout id).
pub fn check_input_locale(text: &str) -> Result<String> {
    let text = text.trim();
    let ok = text.len() == 13
        && text.as_bytes()[4] == b':'
        && text
            .chars()
            .enumerate()
            .all(|(i, c)| i == 4 || c.is_ascii_hexdigit());
    if ok {
        Ok(text.to_ascii_uppercase())
    } else {
        Err(Error::invalid(
            "input_locale",
            format!(
                "\"{text}\" is not an input locale like 0409:00000409 (a language and a keyboard layout)"
            ),
        ))
    }
}

/// Warnings about a prestart command, as Configuration Manager gives them: a command that
/// would not return holds the deployment forever.
pub fn prestart_warnings(command: &str) -> Vec<String> {
    let lower = command.trim().to_ascii_lowercase();
    let first = lower.split_whitespace().next().unwrap_or_default();
    let program = first.trim_matches('"');
    let mut warnings = Vec::new();
    let script = [".cmd", ".bat", ".vbs", ".js", ".wsf", ".ps1"]
        .iter()
        .find(|ext| program.ends_with(*ext));
    if let Some(ext) = script {
        warnings.push(format!(
            "The command starts a {ext} script directly: Windows PE opens it with its associated program and may not wait for it. Run it with \"cmd /c\" (or cscript, or powershell -File) so the deployment waits until it ends."
        ));
    }
    let words: Vec<&str> = lower.split_whitespace().collect();
    let is_cmd = matches!(program, "cmd" | "cmd.exe") || program.ends_with("\\cmd.exe");
    if is_cmd && words.contains(&"/k") {
        warnings.push(
            "\"cmd /k\" keeps the command prompt open and never returns: the deployment would wait forever. Use \"cmd /c\".".into(),
        );
    }
    if words.first() == Some(&"start") || (is_cmd && words.get(2) == Some(&"start")) {
        warnings.push(
            "\"start\" returns at once: the deployment will not wait for what it starts.".into(),
        );
    }
    warnings
}

/// Checks a prestart command line.
pub fn check_prestart_command(command: &str) -> Result<String> {
    let command = command.trim();
    if command.is_empty() {
        return Err(Error::invalid(
            "prestart",
            "give the command line, or turn the prestart command off",
        ));
    }
    if command.chars().count() > 1024 {
        return Err(Error::invalid(
            "prestart",
            "the command line has more than 1,024 characters",
        ));
    }
    if command.chars().any(char::is_control) {
        return Err(Error::invalid(
            "prestart",
            "the command line must be one line, without control characters",
        ));
    }
    Ok(command.to_owned())
}

/// Checks the server a discover image looks for (a host name or an address).
pub fn check_discover_server(server: &str) -> Result<String> {
    let server = server.trim();
    let ok = !server.is_empty()
        && server.len() <= 253
        && server
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'));
    if ok {
        Ok(server.to_owned())
    } else {
        Err(Error::invalid(
            "server",
            format!(
                "\"{server}\" is not a server name or address (letters, digits, dots and hyphens)"
            ),
        ))
    }
}

/// What changed between two recipes, as sentences for the revision list and its diff.
pub fn changes(before: &Recipe, after: &Recipe) -> Vec<String> {
    let mut out = Vec::new();
    let label = |d: &RecipeDriver| format!("{} ({} {})", d.name, d.inf_name, d.version);
    for d in &after.drivers {
        if !before
            .drivers
            .iter()
            .any(|b| b.content_hash == d.content_hash)
        {
            out.push(format!("Driver added: {}", label(d)));
        }
    }
    for d in &before.drivers {
        if !after
            .drivers
            .iter()
            .any(|a| a.content_hash == d.content_hash)
        {
            out.push(format!("Driver removed: {}", label(d)));
        }
    }
    let (b, a) = (&before.customization, &after.customization);
    let prestart = |p: &Option<Prestart>| match p {
        None => "none".to_owned(),
        Some(p) => match &p.files {
            None => format!("\"{}\"", p.command),
            Some(files) => format!("\"{}\" with the files of {}", p.command, files.name),
        },
    };
    if b.prestart != a.prestart {
        out.push(format!(
            "Prestart command: {} → {}",
            prestart(&b.prestart),
            prestart(&a.prestart)
        ));
    }
    let background = |x: &Option<Asset>| {
        x.as_ref()
            .map_or("Windows PE's own".to_owned(), |a| a.name.clone())
    };
    if b.background != a.background {
        out.push(format!(
            "Background: {} → {}",
            background(&b.background),
            background(&a.background)
        ));
    }
    if b.command_support != a.command_support {
        out.push(format!(
            "Command support (testing only): {} → {}",
            on_off(b.command_support),
            on_off(a.command_support)
        ));
    }
    let scratch =
        |x: Option<u32>| x.map_or("as the image has it".to_owned(), |mb| format!("{mb} MB"));
    if b.scratch_mb != a.scratch_mb {
        out.push(format!(
            "Scratch space: {} → {}",
            scratch(b.scratch_mb),
            scratch(a.scratch_mb)
        ));
    }
    let own = |x: &Option<String>| x.clone().unwrap_or_else(|| "the image's own".into());
    if b.input_locale != a.input_locale {
        out.push(format!(
            "Input locale: {} → {}",
            own(&b.input_locale),
            own(&a.input_locale)
        ));
    }
    if b.ui_language != a.ui_language {
        out.push(format!(
            "Windows PE language: {} → {}",
            own(&b.ui_language),
            own(&a.ui_language)
        ));
    }
    if before.shell != after.shell {
        let shell = |s: &Option<Shell>| match s {
            None => "Windows PE's own".to_owned(),
            Some(Shell::Capture) => "the capture wizard".to_owned(),
            Some(Shell::Discover { server: None }) => "Setup, discovering servers".to_owned(),
            Some(Shell::Discover { server: Some(s) }) => format!("Setup, discovering {s}"),
        };
        out.push(format!(
            "Shell: {} → {}",
            shell(&before.shell),
            shell(&after.shell)
        ));
    }
    out
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn driver(id: i64, inf: &str, hash: &str) -> RecipeDriver {
        RecipeDriver {
            id,
            name: format!("Driver {id}"),
            inf_name: inf.into(),
            version: "1.0".into(),
            content_hash: hash.into(),
        }
    }

    #[test]
    fn the_canonical_form_does_not_depend_on_the_order_of_edits() {
        let a = Recipe {
            drivers: vec![driver(2, "netwtw.inf", "bb"), driver(1, "e1d.inf", "aa")],
            ..Recipe::default()
        };
        let b = Recipe {
            drivers: vec![driver(1, "e1d.inf", "aa"), driver(2, "netwtw.inf", "bb")],
            ..Recipe::default()
        };
        assert_eq!(a.canonical(), b.canonical());
    }

    #[test]
    fn folder_names_come_from_the_driver_not_its_position() {
        let d = driver(7, "E1D68x64 (v2).inf", "0123456789abcdef");
        assert_eq!(d.folder_name(), "E1D68x64__v2_-0123456789ab");
    }

    #[test]
    fn prestart_commands_that_would_not_return_are_flagged() {
        assert!(prestart_warnings("cmd /c pre.cmd").is_empty());
        assert!(prestart_warnings("powershell.exe -File X:\\pre.ps1").is_empty());
        assert_eq!(prestart_warnings("pre.cmd").len(), 1);
        assert_eq!(prestart_warnings("\"pre.vbs\" /quiet").len(), 1);
        assert_eq!(prestart_warnings("cmd.exe /k pre.cmd").len(), 1);
        assert_eq!(prestart_warnings("start notepad").len(), 1);
        assert_eq!(prestart_warnings("cmd /c start notepad").len(), 1);
    }

    #[test]
    fn values_admins_type_are_checked() {
        assert!(check_scratch(128).is_ok());
        assert!(check_scratch(100).is_err());
        assert_eq!(
            check_input_locale("0407:00000407").ok().as_deref(),
            Some("0407:00000407")
        );
        assert!(check_input_locale("de-DE").is_err());
        assert!(check_prestart_command("a\nb").is_err());
        assert!(check_discover_server("deploy01.corp.example").is_ok());
        assert!(check_discover_server("x; rm -rf").is_err());
    }

    #[test]
    fn changes_are_sentences() {
        let before = Recipe::default();
        let mut after = Recipe {
            drivers: vec![driver(1, "e1d.inf", "aa")],
            ..Recipe::default()
        };
        after.customization.scratch_mb = Some(128);
        after.customization.command_support = true;
        assert_eq!(
            changes(&before, &after),
            vec![
                "Driver added: Driver 1 (e1d.inf 1.0)",
                "Command support (testing only): off → on",
                "Scratch space: as the image has it → 128 MB",
            ]
        );
        assert!(changes(&after, &after).is_empty());
    }
}
