//! What makes a recipe buildable on a base, checked when an admin changes it (before a build
//! is queued) and again by the build: each refusal is a sentence that says what to fix.

use std::path::{Path, PathBuf};

use super::{
    assets,
    facts::BaseFacts,
    recipe::{Recipe, Shell},
};
use crate::{catalog::CatalogImage, drivers::catalog::CatalogDriver, wim::WinPeSupport};

/// The architecture drivers and answer files name for a boot image (`x86`, `amd64`,
/// `arm64`), or why it has none.
pub fn architecture(image: &CatalogImage) -> Result<&'static str, String> {
    match image.architecture.as_deref() {
        Some("x86") => Ok("x86"),
        Some("amd64") => Ok("amd64"),
        Some("arm64") => Ok("arm64"),
        Some(other) => Err(format!(
            "\"{}\" is a Windows PE for {other}; Wimdeck builds x86, x64 and ARM64 boot images",
            image.name
        )),
        None => Err(format!("the architecture of \"{}\" is unknown", image.name)),
    }
}

/// Whether the image may carry a recipe at all.
pub fn customizable(image: &CatalogImage) -> Result<(), String> {
    match image.winpe_support {
        Some(WinPeSupport::Customizable) => Ok(()),
        _ => Err(format!(
            "\"{}\" is Windows PE {}: supported, not customizable; Wimdeck customizes Windows PE 10 boot images",
            image.name,
            image
                .winpe_release
                .as_deref()
                .unwrap_or("of an unknown release")
        )),
    }
}

/// The checks of a recipe against what the base contains; `drivers` are the catalog's
/// drivers the recipe names (in its order). Returns the store folders of the drivers and the
/// asset paths of the prestart files and background.
pub fn check(
    image: &CatalogImage,
    recipe: &Recipe,
    facts: &BaseFacts,
    drivers: &[CatalogDriver],
    data_dir: &Path,
) -> Result<Checked, String> {
    let mut checked = Checked::default();
    if recipe.is_empty() {
        return Ok(checked);
    }
    customizable(image)?;
    let arch = architecture(image)?;
    for driver in &recipe.drivers {
        let found = drivers.iter().find(|d| d.id == driver.id).ok_or_else(|| {
            format!(
                "the driver \"{}\" ({}) is no longer in the catalog; remove it from the list",
                driver.name, driver.inf_name
            )
        })?;
        if !found.enabled {
            return Err(format!(
                "\"{}\" is disabled in the catalog; enable it or remove it from the list",
                found.name
            ));
        }
        if !found.architectures.iter().any(|a| a.as_str() == arch) {
            return Err(format!(
                "\"{}\" is for {}; \"{}\" is a {arch} boot image",
                found.name,
                found
                    .architectures
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                image.name
            ));
        }
        if !found.store_path.is_dir() {
            return Err(format!(
                "the files of \"{}\" are missing from the driver store ({})",
                found.name,
                found.store_path.display()
            ));
        }
        checked.driver_dirs.push(found.store_path.clone());
    }
    let c = &recipe.customization;
    if let Some(prestart) = &c.prestart
        && let Some(files) = &prestart.files
    {
        checked.prestart_dir = Some(assets::check(data_dir, files).map_err(|e| e.to_string())?);
    }
    if let Some(background) = &c.background {
        checked.background = Some(assets::check(data_dir, background).map_err(|e| e.to_string())?);
    }
    if let Some(language) = &c.ui_language {
        let languages = facts.languages();
        if !languages.iter().any(|l| l.eq_ignore_ascii_case(language)) {
            return Err(format!(
                "\"{}\" has no {language} language pack; it has {}",
                image.name,
                if languages.is_empty() {
                    "none".to_owned()
                } else {
                    languages.join(", ")
                }
            ));
        }
    }
    if let Some(locale) = &c.input_locale {
        let layout = locale.split_once(':').map_or("", |(_, l)| l);
        if !facts
            .keyboard_layouts
            .iter()
            .any(|k| k.id.eq_ignore_ascii_case(layout))
        {
            return Err(format!(
                "\"{}\" has no keyboard layout {layout} (input locale {locale}); choose one of its own",
                image.name
            ));
        }
    }
    if c.scratch_mb.is_some() && facts.scratch_mb.is_none() && facts.system_hive.is_none() {
        return Err(format!(
            "\"{}\" has no SYSTEM hive (Windows\\System32\\config\\SYSTEM) to hold the scratch space",
            image.name
        ));
    }
    match &recipe.shell {
        Some(Shell::Capture) if facts.wdscapture.is_none() => {
            return Err(format!(
                "\"{}\" has no Windows\\System32\\wdscapture.exe, the capture wizard a capture image starts; use a boot image with the Windows Deployment Services tools (the boot.wim of Windows Server media, or one with WinPE-WDS-Tools)",
                image.name
            ));
        }
        Some(Shell::Discover { .. }) if facts.setup.is_none() => {
            return Err(format!(
                "\"{}\" has no sources\\setup.exe, the Setup a discover image starts; use the boot.wim of Windows installation media",
                image.name
            ));
        }
        _ => {}
    }
    Ok(checked)
}

/// [`check`] on a blocking thread: it hashes the recipe's assets (up to a few hundred MB).
pub(crate) async fn check_blocking(
    image: &CatalogImage,
    recipe: &Recipe,
    facts: &BaseFacts,
    drivers: Vec<CatalogDriver>,
    data_dir: &Path,
) -> Result<Checked, String> {
    let (image, recipe, facts, data_dir) = (
        image.clone(),
        recipe.clone(),
        facts.clone(),
        data_dir.to_path_buf(),
    );
    tokio::task::spawn_blocking(move || check(&image, &recipe, &facts, &drivers, &data_dir))
        .await
        .map_err(|e| format!("checking the recipe stopped unexpectedly: {e}"))?
}

/// Where a checked recipe's files are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    pub driver_dirs: Vec<PathBuf>,
    pub prestart_dir: Option<PathBuf>,
    pub background: Option<PathBuf>,
}
