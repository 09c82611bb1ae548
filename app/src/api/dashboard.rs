//! The dashboard: what an admin needs at a glance (the catalog by state, jobs running and
//! failed lately, images whose verification failed) and the installation's status. Each part
//! is read only if the viewer may read it, so the page never provokes a refusal.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{AppError, api::session::UserView};

/// One area of the catalog: how many objects, and how many in each state that needs a look.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogFigure {
    /// "Boot images", "OS images", "Drivers".
    pub label: String,
    pub href: String,
    pub total: u64,
    /// (state, count) of the states that need a look, only those with a count.
    pub attention: Vec<(String, u64)>,
}

/// A job or an image the dashboard links to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardLink {
    pub href: String,
    pub text: String,
    /// State, time or reason, shown beside the link.
    pub detail: String,
}

/// What the dashboard shows; `None` where the viewer may not read that part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardView {
    pub user: UserView,
    pub version: String,
    /// "SQLite" or "PostgreSQL".
    pub database_kind: String,
    pub database_version: String,
    pub users: Option<u64>,
    pub active_sessions: Option<u64>,
    pub catalog: Vec<CatalogFigure>,
    /// Images whose last verification found damage, or whose file is missing.
    pub damaged: Vec<DashboardLink>,
    pub jobs: Option<JobsFigure>,
}

/// Jobs now and in the last 24 hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobsFigure {
    pub running_count: u64,
    /// The newest running jobs (at most 10).
    pub running: Vec<DashboardLink>,
    pub queued: u64,
    /// Failed or interrupted in the last 24 hours, newest first (at most 10, found among the
    /// 10 newest of each state).
    pub failed: Vec<DashboardLink>,
}

/// At most this many jobs of each list.
#[cfg(feature = "ssr")]
const JOBS_SHOWN: u64 = 10;

/// Installation status for the signed-in user.
#[server(endpoint = "dashboard_status")]
pub async fn dashboard_status() -> Result<DashboardView, AppError> {
    use crate::api::ssr;
    use domain::authz::{ObjectType, Operation};
    let actor = ssr::actor()?;
    let domain = ssr::domain()?;
    let me = domain.for_actor(&actor);
    let status = me.status().await?;
    let security = actor.holds(ObjectType::Security, Operation::Read);
    let mut catalog = Vec::new();
    let mut damaged = Vec::new();
    for kind in [
        domain::catalog::ImageKind::Boot,
        domain::catalog::ImageKind::Os,
    ] {
        if actor.holds(kind.object_type(), Operation::Read) {
            let images = me.catalog().list(kind).await?;
            let (figure, hurt) = dashboard_ssr::images(kind, &images);
            catalog.push(figure);
            damaged.extend(hurt);
        }
    }
    if actor.holds(ObjectType::Driver, Operation::Read) {
        catalog.push(dashboard_ssr::drivers(&me.drivers()).await?);
    }
    let jobs = if actor.holds(ObjectType::Job, Operation::Read) {
        Some(
            dashboard_ssr::jobs(
                &me.jobs(),
                domain.now_ms(),
                (status.running_jobs, status.queued_jobs),
            )
            .await?,
        )
    } else {
        None
    };
    Ok(DashboardView {
        user: UserView::from(&actor),
        version: status.version.to_owned(),
        database_kind: status.database_kind.label().to_owned(),
        database_version: status.database_version,
        users: security.then_some(status.users),
        active_sessions: security.then_some(status.active_sessions),
        catalog,
        damaged,
        jobs,
    })
}

#[cfg(feature = "ssr")]
mod dashboard_ssr {
    use domain::{
        catalog::{CatalogImage, ImageKind, ImageState},
        drivers::catalog::DriverFilter,
        jobs::{JobFilter, JobState, PageCursor},
    };

    use super::{CatalogFigure, DashboardLink, JOBS_SHOWN, JobsFigure};
    use crate::{AppError, format::utc};

    const DAY_MS: i64 = 24 * 3600 * 1000;

    fn base(kind: ImageKind) -> &'static str {
        match kind {
            ImageKind::Boot => "/boot-images",
            ImageKind::Os => "/os-images",
        }
    }

    /// The figure of one image list, and its images that need a look.
    pub(super) fn images(
        kind: ImageKind,
        images: &[CatalogImage],
    ) -> (CatalogFigure, Vec<DashboardLink>) {
        let count = |state: ImageState| images.iter().filter(|i| i.state == state).count() as u64;
        let attention = [
            (ImageState::Damaged, "damaged"),
            (ImageState::Missing, "file missing"),
        ]
        .into_iter()
        .map(|(state, label)| (label.to_owned(), count(state)))
        .filter(|(_, n)| *n > 0)
        .collect();
        let hurt = images
            .iter()
            .filter(|i| i.state != ImageState::Ready)
            .map(|i| DashboardLink {
                href: format!("{}/{}", base(kind), i.id),
                text: i.name.clone(),
                detail: i.state_detail.clone().unwrap_or_else(|| match i.state {
                    ImageState::Missing => "Its file was not found.".to_owned(),
                    _ => "Its last verification found damage.".to_owned(),
                }),
            })
            .collect();
        let label = match kind {
            ImageKind::Boot => "Boot images",
            ImageKind::Os => "OS images",
        };
        (
            CatalogFigure {
                label: label.to_owned(),
                href: base(kind).to_owned(),
                total: images.len() as u64,
                attention,
            },
            hurt,
        )
    }

    pub(super) async fn drivers(
        drivers: &domain::drivers::catalog::ActorDrivers<'_>,
    ) -> Result<CatalogFigure, AppError> {
        let count = |enabled: Option<bool>| DriverFilter {
            enabled,
            limit: Some(1),
            ..Default::default()
        };
        let total = drivers.list(&count(None)).await?.total;
        let disabled = drivers.list(&count(Some(false))).await?.total;
        Ok(CatalogFigure {
            label: "Drivers".to_owned(),
            href: "/drivers".to_owned(),
            total,
            attention: (disabled > 0)
                .then(|| ("disabled".to_owned(), disabled))
                .into_iter()
                .collect(),
        })
    }

    pub(super) async fn jobs(
        jobs: &domain::jobs::ActorJobs<'_>,
        now_ms: i64,
        (running_count, queued): (u64, u64),
    ) -> Result<JobsFigure, AppError> {
        let page = |state| async move {
            let filter = JobFilter {
                state: Some(state),
                ..Default::default()
            };
            jobs.list(&filter, PageCursor::Newest, JOBS_SHOWN).await
        };
        let link = |job: &domain::jobs::Job, detail: String| DashboardLink {
            href: format!("/jobs/{}", job.id),
            text: if job.description.is_empty() {
                format!("{} #{}", job.kind_label, job.id)
            } else {
                job.description.clone()
            },
            detail,
        };
        let running = page(JobState::Running)
            .await?
            .jobs
            .iter()
            .map(|j| {
                let since = j.started_at_ms.unwrap_or(j.created_at_ms);
                link(j, format!("running since {}", utc(since)))
            })
            .collect();
        let mut failed: Vec<(i64, DashboardLink)> = Vec::new();
        for state in [JobState::Failed, JobState::Interrupted] {
            for job in page(state).await?.jobs {
                let at = job.finished_at_ms.unwrap_or(job.created_at_ms);
                if at >= now_ms - DAY_MS {
                    let when = format!("{} {}", state.label(), utc(at));
                    let detail = match job.error.as_deref() {
                        Some(reason) if !reason.is_empty() => format!("{when}: {reason}"),
                        _ => when,
                    };
                    failed.push((at, link(&job, detail)));
                }
            }
        }
        failed.sort_by_key(|f| std::cmp::Reverse(f.0));
        failed.truncate(JOBS_SHOWN as usize);
        Ok(JobsFigure {
            running_count,
            running,
            queued,
            failed: failed.into_iter().map(|(_, l)| l).collect(),
        })
    }
}
