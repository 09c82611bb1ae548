//! A boot image's recipe and revisions: the Customization, Images, Optional components, Data
//! source and Revisions tabs, builds, diffs, rollbacks, and capture and discover images.

// A server function takes one argument per form field, so the forms post plain fields.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AppError;

/// The Customization tab's values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomizationView {
    pub prestart_command: String,
    /// What the prestart files are ("Scripts (3 files, 12 KB)"), if any.
    pub prestart_files: Option<String>,
    /// The custom background's name, if any.
    pub background: Option<String>,
    pub command_support: bool,
    pub scratch_mb: Option<u32>,
    pub input_locale: String,
    pub ui_language: String,
}

/// An optional component or language pack, and whether the image has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentView {
    pub name: String,
    /// What it is for (the components a deployment usually needs), or its version.
    pub detail: String,
    pub present: bool,
    /// One of those a deployment usually needs.
    pub usual: bool,
    /// Languages its language parts cover.
    pub languages: String,
}

/// One revision in the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionView {
    pub number: i32,
    pub current: bool,
    pub has_file: bool,
    pub sha256: String,
    pub size_bytes: u64,
    pub reason: String,
    pub created_by: String,
    pub created_at_ms: i64,
    pub drivers: usize,
    pub job_id: Option<i64>,
}

/// Everything the recipe tabs show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootRecipeView {
    pub image_id: i64,
    pub name: String,
    pub customizable: bool,
    /// Why it is not customizable.
    pub not_customizable: Option<String>,
    pub recipe_version: i32,
    pub current_revision: i32,
    /// What a build would change.
    pub pending: Vec<String>,
    pub warnings: Vec<String>,
    pub may_modify: bool,
    pub may_create: bool,
    /// Whether the viewer may see the image's schedules (jobs), and make one (operators).
    pub may_read_schedules: bool,
    pub may_schedule: bool,
    pub customization: CustomizationView,
    /// The scratch space the base has (MB).
    pub image_scratch_mb: Option<u32>,
    /// (value, label) choices the image offers.
    pub languages: Vec<(String, String)>,
    pub input_locales: Vec<(String, String)>,
    pub components: Vec<ComponentView>,
    pub revisions: Vec<RevisionView>,
    /// "Capture image" / "Discover image (deploy01)" when it is one.
    pub shell: Option<String>,
    pub has_setup: bool,
    pub has_wdscapture: bool,
    pub base_path: String,
    pub source_path: String,
    pub source_index: Option<u32>,
    pub is_default: bool,
}

/// What saving the Customization tab did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomizeOutcome {
    pub warnings: Vec<String>,
    /// The build it queued.
    pub job: Option<i64>,
}

/// A file that differs between two revisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDiffView {
    pub path: String,
    /// `added`, `removed`, `changed`.
    pub delta: String,
    pub before: Option<u64>,
    pub after: Option<u64>,
}

/// Two revisions compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffView {
    pub from: i32,
    pub to: i32,
    pub recipe: Vec<String>,
    /// The first files that differ (at most [`DIFF_FILES_SHOWN`]).
    pub files: Vec<FileDiffView>,
    /// How many differ in all, by kind: added, removed, changed.
    pub counts: (usize, usize, usize),
    pub files_unavailable: Option<String>,
}

/// Files a diff sends at most; the counts cover them all.
pub const DIFF_FILES_SHOWN: usize = 500;

/// The Windows PE version of a boot image's source, beside the image's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceVersionView {
    pub in_image: String,
    pub in_source: Option<String>,
    pub unreadable: Option<String>,
}

/// A schedule that rebuilds the image from its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebuildScheduleView {
    pub id: i64,
    pub name: String,
    /// "every 1d", "cron 0 3 * * 0", …
    pub when: String,
    pub enabled: bool,
    pub next_run_at_ms: Option<i64>,
}

/// A boot image that can deploy an OS image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchingBootImage {
    pub id: i64,
    pub name: String,
    pub os_version: String,
}

#[cfg(feature = "ssr")]
mod ssr {
    use domain::boot::{
        access::BootImageView,
        facts::{BaseFacts, USUAL_COMPONENTS},
        recipe::Shell,
    };

    use super::*;

    fn kilobytes(bytes: u64) -> String {
        format!("{} KB", bytes.div_ceil(1024))
    }

    pub(super) fn shell_label(shell: &Shell) -> String {
        match shell {
            Shell::Capture => "Capture image".into(),
            Shell::Discover { server: None } => "Discover image (finds any server)".into(),
            Shell::Discover {
                server: Some(server),
            } => format!("Discover image (server {server})"),
        }
    }

    pub(super) fn components(facts: &BaseFacts) -> Vec<ComponentView> {
        let languages_of = |name: &str| {
            facts
                .packages
                .iter()
                .filter(|p| p.name.eq_ignore_ascii_case(name))
                .filter_map(|p| p.language.clone())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut out: Vec<ComponentView> = USUAL_COMPONENTS
            .iter()
            .map(|(name, what)| ComponentView {
                name: (*name).to_owned(),
                detail: (*what).to_owned(),
                present: facts.has_package(name),
                usual: true,
                languages: languages_of(name),
            })
            .collect();
        let mut seen: Vec<String> = out.iter().map(|c| c.name.to_ascii_lowercase()).collect();
        for package in &facts.packages {
            let key = package.name.to_ascii_lowercase();
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            out.push(ComponentView {
                name: package.name.clone(),
                detail: format!("version {}", package.version),
                present: true,
                usual: false,
                languages: languages_of(&package.name),
            });
        }
        out
    }

    pub(super) fn view(v: BootImageView) -> BootRecipeView {
        let c = &v.state.customization;
        let facts = v.facts.clone().unwrap_or_default();
        let mut languages: Vec<(String, String)> = facts
            .languages()
            .into_iter()
            .map(|l| (l.clone(), l))
            .collect();
        languages.sort();
        let input_locales = facts
            .keyboard_layouts
            .iter()
            .map(|k| {
                let locale = k.input_locale();
                let label = if k.text.is_empty() {
                    locale.clone()
                } else {
                    format!("{} ({locale})", k.text)
                };
                (locale, label)
            })
            .collect();
        BootRecipeView {
            image_id: v.image.id,
            name: v.image.name.clone(),
            customizable: v.customizable,
            not_customizable: domain::boot::checks::customizable(&v.image).err(),
            recipe_version: v.state.recipe_version,
            current_revision: v.current.number,
            pending: v.pending.clone(),
            warnings: v.warnings.clone(),
            may_modify: v.may_modify,
            may_create: false,
            may_read_schedules: false,
            may_schedule: false,
            customization: CustomizationView {
                prestart_command: c
                    .prestart
                    .as_ref()
                    .map(|p| p.command.clone())
                    .unwrap_or_default(),
                prestart_files: c.prestart.as_ref().and_then(|p| p.files.as_ref()).map(|f| {
                    format!(
                        "{} ({} files, {})",
                        f.name,
                        f.files,
                        kilobytes(f.size_bytes)
                    )
                }),
                background: c.background.as_ref().map(|b| b.name.clone()),
                command_support: c.command_support,
                scratch_mb: c.scratch_mb,
                input_locale: c.input_locale.clone().unwrap_or_default(),
                ui_language: c.ui_language.clone().unwrap_or_default(),
            },
            image_scratch_mb: facts.scratch_mb,
            languages,
            input_locales,
            components: components(&facts),
            revisions: v
                .revisions
                .iter()
                .map(|r| RevisionView {
                    number: r.number,
                    current: r.number == v.current.number,
                    has_file: r.file_path.as_ref().is_some_and(|p| p.is_file()),
                    sha256: r.sha256.clone(),
                    size_bytes: r.size_bytes,
                    reason: r.reason.clone(),
                    created_by: r.created_by.clone(),
                    created_at_ms: r.created_at_ms,
                    drivers: r.recipe.drivers.len(),
                    job_id: r.job_id,
                })
                .collect(),
            shell: v.state.shell.as_ref().map(shell_label),
            has_setup: facts.setup.is_some(),
            has_wdscapture: facts.wdscapture.is_some(),
            base_path: v.state.base_path.display().to_string(),
            source_path: v.image.source_path.clone(),
            source_index: v.image.source_index,
            is_default: v.image.default_for.is_some(),
        }
    }

    /// A form's checkbox: present and "on".
    pub(super) fn checked(value: &Option<String>) -> bool {
        value
            .as_deref()
            .is_some_and(|v| !v.is_empty() && v != "off")
    }
}

/// The recipe tabs of a boot image.
#[server(endpoint = "boot_image_recipe")]
pub async fn boot_image_recipe(image_id: i64) -> Result<BootRecipeView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let shown = domain
        .for_actor(&actor)
        .boot_images()
        .show(image_id)
        .await?;
    use domain::authz::{ObjectType, Operation};
    let mut view = ssr::view(shown);
    view.may_create = actor.holds(ObjectType::BootImage, Operation::Create);
    view.may_read_schedules = actor.holds(ObjectType::Job, Operation::Read);
    view.may_schedule = view.may_modify && actor.holds(ObjectType::Job, Operation::Administer);
    Ok(view)
}

/// Saves the Customization tab (and, with `build`, queues the build). A new background or
/// prestart folder is a path in the source roots or `upload:<id>`; empty keeps what is there.
#[server(endpoint = "customize_boot_image")]
pub async fn customize_boot_image(
    image_id: i64,
    recipe_version: i32,
    prestart: Option<String>,
    prestart_command: Option<String>,
    prestart_files: Option<String>,
    no_prestart_files: Option<String>,
    background: Option<String>,
    default_background: Option<String>,
    command_support: Option<String>,
    scratch_mb: Option<String>,
    input_locale: Option<String>,
    ui_language: Option<String>,
    build: Option<String>,
) -> Result<CustomizeOutcome, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    use domain::boot::access::{CustomizationEdit, FileChoice};
    let choice = |clear: &Option<String>, from: Option<String>| {
        if ssr::checked(clear) {
            FileChoice::Clear
        } else {
            match from.map(|f| f.trim().to_owned()).filter(|f| !f.is_empty()) {
                Some(from) => FileChoice::From(from),
                None => FileChoice::Keep,
            }
        }
    };
    let scratch = match scratch_mb.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(text.parse::<u32>().map_err(|_| {
            AppError::invalid(
                "scratch_mb",
                &format!("\"{text}\" is not a scratch space size in MB: choose one from the list."),
            )
        })?),
    };
    let edit = CustomizationEdit {
        prestart_command: if ssr::checked(&prestart) {
            Some(prestart_command.unwrap_or_default())
        } else {
            None
        },
        prestart_files: choice(&no_prestart_files, prestart_files),
        background: choice(&default_background, background),
        command_support: ssr::checked(&command_support),
        scratch_mb: scratch,
        input_locale,
        ui_language,
        expected_recipe_version: recipe_version,
    };
    let (warnings, job) = domain
        .for_actor(&actor)
        .boot_images()
        .customize(image_id, edit, ssr::checked(&build))
        .await?;
    Ok(CustomizeOutcome { warnings, job })
}

/// Queues a build of the recipe; returns the job's id.
#[server(endpoint = "build_boot_image")]
pub async fn build_boot_image(image_id: i64) -> Result<i64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain
        .for_actor(&actor)
        .boot_images()
        .build(image_id)
        .await?)
}

/// Queues a build from the source, read again (Images tab: Reload).
#[server(endpoint = "reload_boot_image")]
pub async fn reload_boot_image(image_id: i64) -> Result<i64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain
        .for_actor(&actor)
        .boot_images()
        .reload(image_id)
        .await?)
}

/// Queues a build from another source (Data source tab).
#[server(endpoint = "change_boot_image_source")]
pub async fn change_boot_image_source(
    image_id: i64,
    path: String,
    index: u32,
) -> Result<i64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain
        .for_actor(&actor)
        .boot_images()
        .change_source(image_id, &path, index)
        .await?)
}

/// The Windows PE version of the source now, beside the image's.
#[server(endpoint = "boot_image_source_version")]
pub async fn boot_image_source_version(image_id: i64) -> Result<SourceVersionView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let v = domain
        .for_actor(&actor)
        .boot_images()
        .source_version(image_id)
        .await?;
    Ok(SourceVersionView {
        in_image: v.in_image,
        in_source: v.in_source,
        unreadable: v.unreadable,
    })
}

/// Two revisions compared.
#[server(endpoint = "boot_image_diff")]
pub async fn boot_image_diff(image_id: i64, from: i32, to: i32) -> Result<DiffView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    use domain::boot::revisions::FileDelta;
    let diff = domain
        .for_actor(&actor)
        .boot_images()
        .diff(image_id, from, to)
        .await?;
    let files = diff.files.unwrap_or_default();
    let count = |delta: FileDelta| files.iter().filter(|f| f.delta == delta).count();
    let counts = (
        count(FileDelta::Added),
        count(FileDelta::Removed),
        count(FileDelta::Changed),
    );
    Ok(DiffView {
        from: diff.from,
        to: diff.to,
        recipe: diff.recipe,
        counts,
        files: files
            .into_iter()
            .take(DIFF_FILES_SHOWN)
            .map(|f| FileDiffView {
                path: f.path,
                delta: match f.delta {
                    FileDelta::Added => "added",
                    FileDelta::Removed => "removed",
                    FileDelta::Changed => "changed",
                }
                .to_owned(),
                before: f.before,
                after: f.after,
            })
            .collect(),
        files_unavailable: diff.files_unavailable,
    })
}

/// Makes an earlier revision current again (as a new revision); returns its number.
#[server(endpoint = "rollback_boot_image")]
pub async fn rollback_boot_image(image_id: i64, revision: i32) -> Result<i32, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain
        .for_actor(&actor)
        .boot_images()
        .rollback(image_id, revision)
        .await?)
}

/// Queues the making of a capture or discover image from this boot image.
#[server(endpoint = "create_shell_image")]
pub async fn create_shell_image(
    image_id: i64,
    shell: String,
    server: Option<String>,
    name: String,
    description: Option<String>,
) -> Result<i64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    use domain::boot::recipe::{Shell, check_discover_server};
    let shell = match shell.as_str() {
        "capture" => Shell::Capture,
        "discover" => Shell::Discover {
            server: match server.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(server) => Some(check_discover_server(server)?),
            },
        },
        other => {
            return Err(AppError::invalid(
                "shell",
                &format!("\"{other}\" is not a kind of image to make: choose capture or discover."),
            ));
        }
    };
    Ok(domain
        .for_actor(&actor)
        .boot_images()
        .create_shell_image(image_id, shell, &name, description.as_deref().unwrap_or(""))
        .await?)
}

/// The boot images that can deploy an OS image (WDS: Windows PE of the same or a newer
/// version).
#[server(endpoint = "boot_images_for_os_image")]
pub async fn boot_images_for_os_image(image_id: i64) -> Result<Vec<MatchingBootImage>, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain
        .for_actor(&actor)
        .boot_images()
        .for_os_image(image_id)
        .await?
        .into_iter()
        .map(|b| MatchingBootImage {
            id: b.id,
            name: b.name,
            os_version: b.os_version.unwrap_or_default(),
        })
        .collect())
}

/// The schedules that rebuild a boot image (Data source tab).
#[server(endpoint = "boot_image_schedules")]
pub async fn boot_image_schedules(image_id: i64) -> Result<Vec<RebuildScheduleView>, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    use domain::jobs::ScheduleSpec;
    Ok(domain
        .for_actor(&actor)
        .boot_images()
        .schedules(image_id)
        .await?
        .into_iter()
        .map(|s| RebuildScheduleView {
            id: s.id,
            name: s.name,
            when: match s.spec {
                ScheduleSpec::Once(at) => format!("once, {}", crate::format::utc(at)),
                ScheduleSpec::Interval(secs) => {
                    format!("every {}", crate::format::duration_secs(secs))
                }
                ScheduleSpec::Cron(pattern) => format!("cron {pattern} (UTC)"),
            },
            enabled: s.enabled,
            next_run_at_ms: s.next_run_at_ms,
        })
        .collect())
}

/// Rebuilds a boot image from its source on a schedule (`interval` + `1d`, `cron` + a
/// pattern, `once` + a time).
#[server(endpoint = "schedule_boot_image_rebuild")]
pub async fn schedule_boot_image_rebuild(
    image_id: i64,
    spec_kind: String,
    spec: String,
) -> Result<i64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let spec = domain::jobs::ScheduleSpec::parse(&spec_kind, &spec)?;
    Ok(domain
        .for_actor(&actor)
        .boot_images()
        .schedule_rebuild(image_id, spec)
        .await?)
}
