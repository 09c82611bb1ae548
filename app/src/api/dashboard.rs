//! The dashboard's status figures.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{AppError, api::session::UserView};

/// What the dashboard shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardView {
    pub user: UserView,
    pub version: String,
    /// "SQLite" or "PostgreSQL".
    pub database_kind: String,
    pub database_version: String,
    pub users: u64,
    pub active_sessions: u64,
    pub running_jobs: u64,
    pub queued_jobs: u64,
}

/// Installation status for the signed-in user.
#[server(endpoint = "dashboard_status")]
pub async fn dashboard_status() -> Result<DashboardView, AppError> {
    use crate::api::ssr;
    let actor = ssr::actor()?;
    let domain = ssr::domain()?;
    let status = domain.for_actor(&actor).status().await?;
    Ok(DashboardView {
        user: UserView::from(&actor),
        version: status.version.to_owned(),
        database_kind: status.database_kind.label().to_owned(),
        database_version: status.database_version,
        users: status.users,
        active_sessions: status.active_sessions,
        running_jobs: status.running_jobs,
        queued_jobs: status.queued_jobs,
    })
}
