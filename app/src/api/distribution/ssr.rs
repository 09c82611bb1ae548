//! The server side of the distribution views: form fields to domain values, domain values
//! to views.

// A helper takes one argument per form field, as the server functions do.
#![allow(clippy::too_many_arguments)]

use domain::{
    Actor, Domain,
    authz::ObjectType,
    content::ContentObject,
    distribution::{
        assign::DistState,
        listing::{self, Page, PairFilter, StateGroup, Window},
        points::{DistributionPoint, DpKind, DpSettings},
        protocol::WorkAction,
        status::{ContentDistribution, PairStatus, Summary},
    },
};
use std::collections::HashMap;

use super::*;

/// A refusal of a form field (400, as the domain's own refusals).
pub(crate) fn invalid(field: &str, message: &str) -> AppError {
    AppError::invalid(field, message)
}

pub(crate) fn checked(value: Option<String>) -> bool {
    matches!(value.as_deref(), Some("on" | "true" | "1" | "yes"))
}

fn number<T: std::str::FromStr>(
    field: &str,
    value: Option<String>,
    what: &str,
) -> Result<Option<T>, AppError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| invalid(field, &format!("Enter {what} as a whole number."))),
    }
}

pub(crate) fn ids(text: &str) -> Result<Vec<i64>, AppError> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| invalid("targets", "Choose distribution points from the list."))
        })
        .collect()
}

pub(crate) fn object(object_type: &str, id: i64) -> Result<ContentObject, AppError> {
    let object_type = match object_type {
        "boot-image" => ObjectType::BootImage,
        "os-image" => ObjectType::OsImage,
        "driver-package" => ObjectType::DriverPackage,
        _ => {
            return Err(invalid(
                "object_type",
                "Only boot images, OS images and driver packages are distributed.",
            ));
        }
    };
    Ok(ContentObject::new(object_type, id))
}

/// `os-image:3`: an object as forms name it.
pub(crate) fn object_key(object: ContentObject) -> String {
    format!("{}:{}", object.object_type.slug(), object.object_id)
}

/// Objects named by comma-separated [`object_key`]s.
pub(crate) fn object_keys(text: &str) -> Result<Vec<ContentObject>, AppError> {
    let choose = || invalid("contents", "Choose content from the list.");
    let objects: Vec<ContentObject> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|key| {
            let (kind, id) = key.split_once(':').ok_or_else(choose)?;
            object(kind, id.parse().map_err(|_| choose())?)
        })
        .collect::<Result<_, _>>()?;
    if objects.is_empty() {
        return Err(invalid(
            "contents",
            "Choose at least one content to put in the file.",
        ));
    }
    Ok(objects)
}

pub(crate) fn action(text: &str) -> Result<WorkAction, AppError> {
    match text {
        "redistribute" => Ok(WorkAction::Redistribute),
        "validate" => Ok(WorkAction::Validate),
        "remove" => Ok(WorkAction::Remove),
        _ => Err(invalid(
            "action",
            "Choose Redistribute, Validate or Remove.",
        )),
    }
}

pub(crate) fn settings(
    description: String,
    boundaries: String,
    rate_limit_kbps: Option<String>,
    rate_from_hour: Option<String>,
    rate_to_hour: Option<String>,
    concurrent_transfers: Option<String>,
    prestaged_enabled: Option<String>,
    validate_every_hours: Option<String>,
) -> Result<DpSettings, AppError> {
    let from: Option<u8> = number("rate_from_hour", rate_from_hour, "the first hour")?;
    let to: Option<u8> = number("rate_to_hour", rate_to_hour, "the last hour")?;
    let hours = match (from, to) {
        (Some(a), Some(b)) => Some((a, b)),
        (None, None) => None,
        _ => {
            return Err(invalid(
                "rate_from_hour",
                "Give both hours of the rate limit's window, or neither.",
            ));
        }
    };
    Ok(DpSettings {
        description,
        boundaries: boundaries
            .lines()
            .flat_map(|l| l.split(','))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        rate_limit_kbps: number("rate_limit_kbps", rate_limit_kbps, "the rate limit")?,
        rate_limit_hours: hours,
        concurrent_transfers: number(
            "concurrent_transfers",
            concurrent_transfers,
            "the concurrent transfers",
        )?
        .unwrap_or(2),
        prestaged_enabled: checked(prestaged_enabled),
        validate_every_hours: number(
            "validate_every_hours",
            validate_every_hours,
            "the hours between validations",
        )?,
    })
}

pub(crate) fn settings_view(settings: &DpSettings) -> DpSettingsView {
    DpSettingsView {
        description: settings.description.clone(),
        boundaries: settings.boundaries.join("\n"),
        rate_limit_kbps: settings.rate_limit_kbps,
        rate_from_hour: settings.rate_limit_hours.map(|h| h.0),
        rate_to_hour: settings.rate_limit_hours.map(|h| h.1),
        concurrent_transfers: settings.concurrent_transfers,
        prestaged_enabled: settings.prestaged_enabled,
        validate_every_hours: settings.validate_every_hours,
    }
}

/// Contents in place and contents sent, per DP.
pub(crate) fn contents_per_dp(pairs: &[PairStatus]) -> HashMap<i64, (u32, u32)> {
    let mut out: HashMap<i64, (u32, u32)> = HashMap::new();
    for pair in pairs {
        let (ok, total) = out.entry(pair.dp_id).or_default();
        *ok += u32::from(pair.state == DistState::Success);
        *total += 1;
    }
    out
}

/// The `page`th window (from 1) of a list.
pub(crate) fn window(page: Option<u32>) -> Window {
    Window::page(page.unwrap_or(1) as usize, PAGE_SIZE)
}

pub(crate) fn page_info<T>(page: &Page<T>, total: usize) -> PageInfo {
    let narrow = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    PageInfo {
        matched: narrow(page.matched),
        offset: narrow(page.offset),
        size: narrow(PAGE_SIZE),
        total: narrow(total),
    }
}

/// `contents`: in place, and sent (see [`contents_per_dp`]).
pub(crate) fn dp_row(dp: &DistributionPoint, contents: (u32, u32)) -> DpRow {
    DpRow {
        id: dp.id,
        name: dp.name.clone(),
        description: dp.settings.description.clone(),
        kind: match dp.kind {
            DpKind::Site => "This server".into(),
            DpKind::Remote => "Remote".into(),
        },
        site: dp.kind == DpKind::Site,
        enabled: dp.enabled,
        health: serde_json::to_value(dp.health)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        health_label: dp.health.label().to_owned(),
        last_contact_ms: dp.last_contact_ms,
        free_bytes: dp.free_bytes,
        library_bytes: dp.library_bytes,
        agent_version: dp.agent_version.clone().unwrap_or_default(),
        contents_ok: contents.0,
        contents_total: contents.1,
        row_version: dp.row_version,
    }
}

pub(crate) fn pair(p: &PairStatus) -> PairView {
    let (slug, path) = match p.object.object_type {
        ObjectType::BootImage => ("boot-image", format!("/boot-images/{}", p.object.object_id)),
        ObjectType::OsImage => ("os-image", format!("/os-images/{}", p.object.object_id)),
        _ => (
            "driver-package",
            format!("/drivers?package={}", p.object.object_id),
        ),
    };
    PairView {
        object_type: slug.to_owned(),
        object_id: p.object.object_id,
        content_name: p.content_name.clone(),
        href: path,
        dp_id: p.dp_id,
        dp_name: p.dp_name.clone(),
        state: p.state.as_str().to_owned(),
        state_label: p.state.label().to_owned(),
        detail: p.detail.clone().unwrap_or_default(),
        target_version: p.target_version,
        installed_version: p.installed_version,
        bytes_total: p.bytes_total,
        bytes_needed: p.bytes_needed,
        bytes_done: p.bytes_done,
        percent: (p.state == DistState::InProgress)
            .then(|| p.percent())
            .flatten(),
        rate_bps: p.rate_bps,
        updated_at_ms: p.updated_at_ms,
        validated_at_ms: p.validated_at_ms,
    }
}

pub(crate) fn summary_view(s: &Summary) -> SummaryView {
    SummaryView {
        total: s.total,
        success: s.success,
        in_progress: s.in_progress,
        waiting: s.waiting,
        failed: s.failed,
    }
}

/// What a list of pairs shows: `state` one of [`StateGroup`]'s slugs, `q` words.
pub(crate) fn pair_filter(
    q: Option<String>,
    state: Option<String>,
) -> Result<PairFilter, AppError> {
    Ok(PairFilter {
        state: StateGroup::parse(state.as_deref().unwrap_or_default())?,
        words: listing::Words::new(q.as_deref().unwrap_or_default()),
    })
}

pub(crate) async fn content_view(
    domain: &Domain,
    actor: &Actor,
    status: ContentDistribution,
    filter: &PairFilter,
    window: Window,
) -> Result<ContentDistributionView, AppError> {
    let object = status.object;
    let object_type = object.object_type;
    let rights = domain
        .for_actor(actor)
        .distribution()
        .rights_on(object)
        .await?;
    let (may_distribute, may_validate, may_modify) =
        (rights.distribute, rights.validate, rights.modify);
    let prestaged_files = if may_distribute {
        domain
            .for_actor(actor)
            .prestaged()
            .files_of(object)
            .await?
            .into_iter()
            .map(super::prestaged::file_view)
            .collect()
    } else {
        Vec::new()
    };
    let total = status.pairs.len();
    let (shown, _) = listing::pairs(status.pairs, filter, window);
    Ok(ContentDistributionView {
        object_type: match object_type {
            ObjectType::BootImage => "boot-image",
            ObjectType::OsImage => "os-image",
            _ => "driver-package",
        }
        .to_owned(),
        object_id: object.object_id,
        priority: status.settings.priority.as_str().to_owned(),
        prestaged: status.settings.prestaged.as_str().to_owned(),
        on_demand: status.settings.on_demand,
        differential: status.settings.differential,
        newest_version: status
            .newest_version
            .as_ref()
            .map(|v| (v.number, v.total_bytes, v.new_bytes, v.created_at_ms)),
        pairs: shown.rows.iter().map(pair).collect(),
        page: page_info(&shown, total),
        summary: summary_view(&status.summary),
        prestaged_files,
        may_distribute,
        may_validate,
        may_modify,
    })
}

/// The site's address as DPs reach it: the request's own host, over `https://` when the
/// browser came over TLS (through a trusted proxy).
pub(crate) fn site_url() -> Result<String, AppError> {
    let tls = crate::api::ssr::request_context()?.tls;
    let parts = use_context::<http::request::Parts>();
    let host = parts
        .as_ref()
        .and_then(|p| p.headers.get(http::header::HOST))
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("SITE");
    Ok(format!("{}://{host}", if tls { "https" } else { "http" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_name_contents_and_anything_else_is_refused() {
        let objects = object_keys("os-image:3, boot-image:12,,driver-package:7").expect("keys");
        assert_eq!(
            objects,
            [
                ContentObject::new(ObjectType::OsImage, 3),
                ContentObject::new(ObjectType::BootImage, 12),
                ContentObject::new(ObjectType::DriverPackage, 7),
            ]
        );
        assert_eq!(object_key(objects[1]), "boot-image:12");
        for bad in [
            "",
            " , ",
            "os-image",
            "os-image:x",
            "user:1",
            "../os-image:1",
        ] {
            let error = object_keys(bad).expect_err(bad);
            assert!(
                matches!(&error, AppError::Invalid { field, .. } if field == "contents" || field == "object_type"),
                "{bad}: {error:?}"
            );
        }
    }
}
