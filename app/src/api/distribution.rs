//! Distribution points, groups, and the distribution of content: the Distribution points
//! pages, the Distribution tab of images and driver packages, and the Distribution status page.

// A server function takes one argument per form field, so the forms post plain fields.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AppError;

/// A DP in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// `This server` or `Remote`.
    pub kind: String,
    pub site: bool,
    pub enabled: bool,
    /// `online`, `offline`, `not-enrolled`, `disabled`, `revoked`.
    pub health: String,
    pub health_label: String,
    pub last_contact_ms: Option<i64>,
    pub free_bytes: Option<u64>,
    pub library_bytes: Option<u64>,
    pub agent_version: String,
    /// Contents in place, of contents sent.
    pub contents_ok: u32,
    pub contents_total: u32,
    pub row_version: i32,
}

/// A DP group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub members: Vec<(i64, String)>,
    pub contents: usize,
}

/// The Distribution points page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpListView {
    pub rows: Vec<DpRow>,
    pub groups: Vec<GroupRow>,
    pub may_create: bool,
    pub offline_after_minutes: u32,
}

/// A DP's settings as the form shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpSettingsView {
    pub description: String,
    /// One subnet per line.
    pub boundaries: String,
    pub rate_limit_kbps: Option<u32>,
    pub rate_from_hour: Option<u8>,
    pub rate_to_hour: Option<u8>,
    pub concurrent_transfers: u32,
    pub prestaged_enabled: bool,
    pub validate_every_hours: Option<u32>,
}

/// One content on one DP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairView {
    pub object_type: String,
    pub object_id: i64,
    pub content_name: String,
    /// Link to the object's page.
    pub href: String,
    pub dp_id: i64,
    pub dp_name: String,
    pub state: String,
    pub state_label: String,
    pub detail: String,
    pub target_version: Option<i32>,
    pub installed_version: Option<i32>,
    pub bytes_total: Option<u64>,
    pub bytes_needed: Option<u64>,
    pub bytes_done: u64,
    pub percent: Option<u8>,
    pub rate_bps: Option<u64>,
    pub updated_at_ms: i64,
    pub validated_at_ms: Option<i64>,
}

/// A DP's properties page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpDetailView {
    pub row: DpRow,
    pub settings: DpSettingsView,
    pub enrolled_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
    pub created_by: String,
    pub created_at_ms: i64,
    pub contents: Vec<PairView>,
    pub may_modify: bool,
    pub may_delete: bool,
}

/// A new enrollment token, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentView {
    pub token: String,
    pub expires_at_ms: i64,
    /// The command to run on the DP.
    pub command: String,
}

/// How a content stands across DPs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryView {
    pub total: u32,
    pub success: u32,
    pub in_progress: u32,
    pub waiting: u32,
    pub failed: u32,
}

/// The Distribution tab of an image or a driver package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentDistributionView {
    pub object_type: String,
    pub object_id: i64,
    pub priority: String,
    pub prestaged: String,
    pub on_demand: bool,
    pub differential: bool,
    /// (number, total bytes, bytes it brought to the library, created at).
    pub newest_version: Option<(i32, u64, u64, i64)>,
    pub pairs: Vec<PairView>,
    pub summary: SummaryView,
    /// DPs and groups it can be sent to by this user: (id, name).
    pub dps: Vec<(i64, String)>,
    pub groups: Vec<(i64, String)>,
    pub may_distribute: bool,
    pub may_validate: bool,
    pub may_modify: bool,
}

/// One step of a content's history on a DP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryView {
    pub at_ms: i64,
    pub state_label: String,
    pub version: Option<i32>,
    pub detail: String,
}

/// The content library's size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryView {
    pub contents: u64,
    pub versions: u64,
    pub chunks: u64,
    pub stored_bytes: u64,
    pub logical_bytes: u64,
    pub saved_bytes: u64,
}

/// The Distribution status page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusView {
    pub summary: SummaryView,
    pub pairs: Vec<PairView>,
    pub library: LibraryView,
}

/// The Distribution points page.
#[server(endpoint = "list_distribution_points")]
pub async fn list_distribution_points() -> Result<DpListView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let points = domain.for_actor(&actor).distribution_points();
    let dps = points.list().await?;
    let pairs = domain
        .for_actor(&actor)
        .distribution_status()
        .pairs(None, None)
        .await?;
    let names: std::collections::HashMap<i64, String> =
        dps.iter().map(|d| (d.id, d.name.clone())).collect();
    let groups = domain
        .for_actor(&actor)
        .dp_groups()
        .list()
        .await?
        .into_iter()
        .map(|g| GroupRow {
            id: g.id,
            name: g.name,
            description: g.description,
            members: g
                .members
                .iter()
                .filter_map(|m| names.get(m).map(|n| (*m, n.clone())))
                .collect(),
            contents: g.contents.len(),
        })
        .collect();
    Ok(DpListView {
        rows: dps.iter().map(|d| ssr::dp_row(d, &pairs)).collect(),
        groups,
        may_create: points.may_create(),
        offline_after_minutes: domain.config().distribution.offline_after_minutes,
    })
}

/// Adds a remote DP; returns its id.
#[server(endpoint = "create_distribution_point")]
pub async fn create_distribution_point(
    name: String,
    description: String,
    boundaries: String,
    rate_limit_kbps: Option<String>,
    rate_from_hour: Option<String>,
    rate_to_hour: Option<String>,
    concurrent_transfers: Option<String>,
    prestaged_enabled: Option<String>,
    validate_every_hours: Option<String>,
) -> Result<i64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let settings = ssr::settings(
        description,
        boundaries,
        rate_limit_kbps,
        rate_from_hour,
        rate_to_hour,
        concurrent_transfers,
        prestaged_enabled,
        validate_every_hours,
    )?;
    Ok(domain
        .for_actor(&actor)
        .distribution_points()
        .create(domain::distribution::points::NewDp { name, settings })
        .await?)
}

/// A DP's properties and the content on it.
#[server(endpoint = "distribution_point_detail")]
pub async fn distribution_point_detail(id: i64) -> Result<DpDetailView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let points = domain.for_actor(&actor).distribution_points();
    let dp = points.get(id).await?;
    let operations = points.operations_on(id).await?;
    let pairs = domain
        .for_actor(&actor)
        .distribution_status()
        .pairs(None, Some(id))
        .await?;
    use domain::authz::Operation;
    Ok(DpDetailView {
        row: ssr::dp_row(&dp, &pairs),
        settings: ssr::settings_view(&dp.settings),
        enrolled_at_ms: dp.enrolled_at_ms,
        revoked_at_ms: dp.revoked_at_ms,
        created_by: dp.created_by.clone(),
        created_at_ms: dp.created_at_ms,
        contents: pairs.iter().map(ssr::pair).collect(),
        may_modify: operations.contains(&Operation::Modify),
        may_delete: operations.contains(&Operation::Delete)
            && dp.kind == domain::distribution::points::DpKind::Remote,
    })
}

/// Saves a DP's settings.
#[server(endpoint = "edit_distribution_point")]
pub async fn edit_distribution_point(
    id: i64,
    row_version: i32,
    name: String,
    enabled: Option<String>,
    description: String,
    boundaries: String,
    rate_limit_kbps: Option<String>,
    rate_from_hour: Option<String>,
    rate_to_hour: Option<String>,
    concurrent_transfers: Option<String>,
    prestaged_enabled: Option<String>,
    validate_every_hours: Option<String>,
) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let points = domain.for_actor(&actor).distribution_points();
    points.checked(id, domain::authz::Operation::Modify).await?;
    let settings = ssr::settings(
        description,
        boundaries,
        rate_limit_kbps,
        rate_from_hour,
        rate_to_hour,
        concurrent_transfers,
        prestaged_enabled,
        validate_every_hours,
    )?;
    points
        .edit(id, row_version, &name, ssr::checked(enabled), settings)
        .await?;
    Ok(())
}

/// Makes a one-time enrollment token for a remote DP (shown once).
#[server(endpoint = "new_enrollment_token")]
pub async fn new_enrollment_token(id: i64) -> Result<EnrollmentView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let (token, expires_at_ms) = domain
        .for_actor(&actor)
        .distribution_points()
        .enrollment_token(id)
        .await?;
    let site = ssr::site_url()?;
    Ok(EnrollmentView {
        command: format!(
            "wimdeck dp enroll --site {site} --token {token} --data-dir /srv/wimdeck-dp\nwimdeck dp serve --data-dir /srv/wimdeck-dp"
        ),
        token,
        expires_at_ms,
    })
}

/// Revokes a DP's credential.
#[server(endpoint = "revoke_distribution_point")]
pub async fn revoke_distribution_point(id: i64) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    domain
        .for_actor(&actor)
        .distribution_points()
        .revoke(id)
        .await?;
    Ok(())
}

/// Deletes a remote DP.
#[server(endpoint = "delete_distribution_point")]
pub async fn delete_distribution_point(id: i64, row_version: i32) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    domain
        .for_actor(&actor)
        .distribution_points()
        .delete(id, row_version)
        .await?;
    Ok(())
}

/// Adds a DP group; returns its id.
#[server(endpoint = "create_dp_group")]
pub async fn create_dp_group(name: String, description: String) -> Result<i64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain
        .for_actor(&actor)
        .dp_groups()
        .create(&name, &description)
        .await?)
}

/// Sets a group's members (`members`: DP ids, comma-separated).
#[server(endpoint = "set_dp_group_members")]
pub async fn set_dp_group_members(id: i64, members: String) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let groups = domain.for_actor(&actor).dp_groups();
    let members = ssr::ids(&members)?;
    groups.set_members(id, &members).await?;
    Ok(())
}

/// Deletes a DP group (its members keep their content).
#[server(endpoint = "delete_dp_group")]
pub async fn delete_dp_group(id: i64) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    domain.for_actor(&actor).dp_groups().delete(id).await?;
    Ok(())
}

/// The Distribution tab of an image or a driver package.
#[server(endpoint = "content_distribution")]
pub async fn content_distribution(
    object_type: String,
    object_id: i64,
) -> Result<ContentDistributionView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let object = ssr::object(&object_type, object_id)?;
    let status = domain
        .for_actor(&actor)
        .distribution_status()
        .content(object)
        .await?;
    ssr::content_view(&domain, &actor, status).await
}

/// Sends content to DPs and groups (ids, comma-separated); returns the job's id.
#[server(endpoint = "distribute_content")]
pub async fn distribute_content(
    object_type: String,
    object_id: i64,
    dps: Option<String>,
    groups: Option<String>,
) -> Result<i64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let object = ssr::object(&object_type, object_id)?;
    let targets = domain::distribution::actions::Targets {
        dps: ssr::ids(dps.as_deref().unwrap_or_default())?,
        groups: ssr::ids(groups.as_deref().unwrap_or_default())?,
    };
    Ok(domain
        .for_actor(&actor)
        .distribution()
        .distribute(object, targets)
        .await?)
}

/// Sends the newest version to every DP that has the content; returns the job's id.
#[server(endpoint = "update_distribution_points")]
pub async fn update_distribution_points(
    object_type: String,
    object_id: i64,
) -> Result<i64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let object = ssr::object(&object_type, object_id)?;
    Ok(domain
        .for_actor(&actor)
        .distribution()
        .update(object)
        .await?)
}

/// Redistributes, validates or removes content on one DP (`action`: `redistribute`,
/// `validate`, `remove`).
#[server(endpoint = "content_on_dp")]
pub async fn content_on_dp(
    object_type: String,
    object_id: i64,
    dp: i64,
    action: String,
) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let object = ssr::object(&object_type, object_id)?;
    let action = ssr::action(&action)?;
    domain
        .for_actor(&actor)
        .distribution()
        .on_dp(object, dp, action)
        .await?;
    Ok(())
}

/// Saves a content's distribution settings.
#[server(endpoint = "set_distribution_settings")]
pub async fn set_distribution_settings(
    object_type: String,
    object_id: i64,
    priority: String,
    prestaged: String,
    on_demand: Option<String>,
    differential: Option<String>,
) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let object = ssr::object(&object_type, object_id)?;
    use domain::distribution::{PrestagedBehavior, Priority, assign::ContentSettings};
    let priority = match priority.as_str() {
        "high" | "medium" | "low" => Priority::parse(&priority),
        _ => return Err(ssr::invalid("priority", "Choose High, Medium or Low.")),
    };
    let prestaged = match prestaged.as_str() {
        "automatic" | "changes" | "manual" => PrestagedBehavior::parse(&prestaged),
        _ => {
            return Err(ssr::invalid(
                "prestaged",
                "Choose one of the prestaged content behaviours offered.",
            ));
        }
    };
    domain
        .for_actor(&actor)
        .distribution()
        .set_settings(
            object,
            ContentSettings {
                priority,
                prestaged,
                on_demand: ssr::checked(on_demand),
                differential: ssr::checked(differential),
            },
        )
        .await?;
    Ok(())
}

/// The history of a content on a DP, newest first.
#[server(endpoint = "distribution_history")]
pub async fn distribution_history(
    object_type: String,
    object_id: i64,
    dp: i64,
) -> Result<Vec<HistoryView>, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let object = ssr::object(&object_type, object_id)?;
    Ok(domain
        .for_actor(&actor)
        .distribution_status()
        .history(object, dp, 100)
        .await?
        .into_iter()
        .map(|h| HistoryView {
            at_ms: h.at_ms,
            state_label: h.state.label().to_owned(),
            version: h.version,
            detail: h.detail.unwrap_or_default(),
        })
        .collect())
}

/// The Distribution status page: every content on every DP this user may see, and the
/// library's size.
#[server(endpoint = "distribution_status")]
pub async fn distribution_status() -> Result<StatusView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    domain
        .for_actor(&actor)
        .distribution_points()
        .list()
        .await?;
    let pairs = domain
        .for_actor(&actor)
        .distribution_status()
        .pairs(None, None)
        .await?;
    let stats = domain.content().stats().await?;
    let mut summary = SummaryView::default();
    for pair in &pairs {
        ssr::count(&mut summary, pair.state);
    }
    Ok(StatusView {
        summary,
        pairs: pairs.iter().map(ssr::pair).collect(),
        library: LibraryView {
            contents: stats.contents,
            versions: stats.versions,
            chunks: stats.chunks,
            stored_bytes: stats.stored_bytes,
            logical_bytes: stats.logical_bytes,
            saved_bytes: stats.saved_bytes(),
        },
    })
}

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
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
        let scopes_ok = |operation| async move {
            domain
                .for_actor(actor)
                .distribution()
                .settings(object)
                .await
                .is_ok()
                && actor.holds(object_type, operation)
        };
        let may_distribute = scopes_ok(Operation::Distribute).await
            && actor.holds(ObjectType::DistributionPoint, Operation::Distribute);
        let may_validate = scopes_ok(Operation::Validate).await
            && actor.holds(ObjectType::DistributionPoint, Operation::Validate);
        let may_modify = scopes_ok(Operation::Modify).await;
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
            may_distribute,
            may_validate,
            may_modify,
        })
    }

    /// The site's address as DPs reach it: the request's own host.
    pub(crate) fn site_url() -> Result<String, AppError> {
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
        Ok(format!("http://{host}"))
    }
}
