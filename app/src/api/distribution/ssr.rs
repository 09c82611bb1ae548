//! The server side of the distribution views: form fields to domain values, domain values
//! to views.

// A helper takes one argument per form field, as the server functions do.
#![allow(clippy::too_many_arguments)]

use domain::{
    Actor, Domain,
    authz::{ObjectType, Operation},
    content::ContentObject,
    distribution::{
        assign::DistState,
        points::{DistributionPoint, DpKind, DpSettings},
        protocol::WorkAction,
        status::{ContentDistribution, PairStatus},
    },
};

use super::*;

pub(crate) fn invalid(field: &str, message: &str) -> AppError {
    AppError::Invalid {
        field: field.to_owned(),
        message: message.to_owned(),
    }
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

pub(crate) fn dp_row(dp: &DistributionPoint, pairs: &[PairStatus]) -> DpRow {
    let mine: Vec<&PairStatus> = pairs.iter().filter(|p| p.dp_id == dp.id).collect();
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
        contents_ok: mine
            .iter()
            .filter(|p| p.state == DistState::Success)
            .count() as u32,
        contents_total: mine.len() as u32,
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

pub(crate) fn count(summary: &mut SummaryView, state: DistState) {
    summary.total += 1;
    match state {
        DistState::Success => summary.success += 1,
        DistState::InProgress => summary.in_progress += 1,
        DistState::Waiting | DistState::Removing => summary.waiting += 1,
        DistState::Failed | DistState::ValidationFailed => summary.failed += 1,
    }
}

pub(crate) async fn content_view(
    domain: &Domain,
    actor: &Actor,
    status: ContentDistribution,
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
    let (dps, groups) = if may_distribute {
        let points = domain.for_actor(actor).distribution_points();
        let mut dps = Vec::new();
        for dp in points.list().await? {
            if points
                .operations_on(dp.id)
                .await?
                .contains(&Operation::Distribute)
            {
                dps.push((dp.id, dp.name));
            }
        }
        let groups = domain
            .for_actor(actor)
            .dp_groups()
            .list()
            .await?
            .into_iter()
            .map(|g| (g.id, g.name))
            .collect();
        (dps, groups)
    } else {
        (Vec::new(), Vec::new())
    };
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
    let s = &status.summary;
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
        pairs: status.pairs.iter().map(pair).collect(),
        summary: SummaryView {
            total: s.total,
            success: s.success,
            in_progress: s.in_progress,
            waiting: s.waiting,
            failed: s.failed,
        },
        dps,
        groups,
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
