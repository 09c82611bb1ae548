//! The Distribution points pages: DPs (list, add, settings, enrollment, revocation,
//! deletion) and DP groups.

// A server function takes one argument per form field, so the forms post plain fields.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use super::ssr;
use super::{PageInfo, PairView};
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
    /// The DPs of this page that matched the filter.
    pub rows: Vec<DpRow>,
    pub page: PageInfo,
    pub groups: Vec<GroupRow>,
    /// Every DP the user sees, to choose group members from (empty unless `may_create`).
    pub choices: Vec<(i64, String)>,
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

/// The Distribution points page: the DPs whose name or description has every word of `q`
/// and whose status is `health` (`online`, `offline`, `not-enrolled`, `disabled`,
/// `revoked`), [`PAGE_SIZE`](super::PAGE_SIZE) at a time (`page` from 1).
#[server(endpoint = "list_distribution_points")]
pub async fn list_distribution_points(
    q: Option<String>,
    health: Option<String>,
    page: Option<u32>,
) -> Result<DpListView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    use domain::distribution::listing;
    let filter = listing::DpFilter::new(
        health.as_deref().unwrap_or_default(),
        q.as_deref().unwrap_or_default(),
    )?;
    let points = domain.for_actor(&actor).distribution_points();
    let dps = points.list().await?;
    let total = dps.len();
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
    let may_create = points.may_create();
    let choices = if may_create {
        dps.iter().map(|d| (d.id, d.name.clone())).collect()
    } else {
        Vec::new()
    };
    let shown = listing::points(dps, &filter, ssr::window(page));
    let contents = ssr::contents_per_dp(&pairs);
    Ok(DpListView {
        page: ssr::page_info(&shown, total),
        rows: shown
            .rows
            .iter()
            .map(|d| ssr::dp_row(d, contents.get(&d.id).copied().unwrap_or_default()))
            .collect(),
        groups,
        choices,
        may_create,
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
        row: ssr::dp_row(
            &dp,
            ssr::contents_per_dp(&pairs)
                .get(&id)
                .copied()
                .unwrap_or_default(),
        ),
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
