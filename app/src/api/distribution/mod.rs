//! Distribution points, groups, and the distribution of content: the Distribution tab of
//! images and driver packages, and the Distribution status page; the Distribution points pages
//! are in [`points`].

// A server function takes one argument per form field, so the forms post plain fields.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AppError;

pub mod live;
mod points;
pub mod prestaged;

pub use points::*;

/// How many rows a distribution list shows at once.
pub const PAGE_SIZE: usize = 50;

/// Where a list's rows sit among those that matched its filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageInfo {
    /// Rows that matched the filter.
    pub matched: u32,
    /// The first row's position among them (0-based).
    pub offset: u32,
    pub size: u32,
    /// Rows there are, filter or not.
    pub total: u32,
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
    /// The DPs of this page that matched the filter, problems first.
    pub pairs: Vec<PairView>,
    pub page: PageInfo,
    /// Every DP it was sent to, filter or not.
    pub summary: SummaryView,
    /// Prestaged content files holding it (for users who may distribute it).
    pub prestaged_files: Vec<prestaged::PrestagedFileView>,
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
    /// Every pair the user sees, filter or not.
    pub summary: SummaryView,
    /// The pairs of this page that matched the filter, problems first.
    pub pairs: Vec<PairView>,
    pub page: PageInfo,
    pub library: LibraryView,
}

/// The Distribution tab of an image or a driver package: its DPs are filtered and paged as
/// on the Distribution status page (`q`, `state`, `page`).
#[server(endpoint = "content_distribution")]
pub async fn content_distribution(
    object_type: String,
    object_id: i64,
    q: Option<String>,
    state: Option<String>,
    page: Option<u32>,
) -> Result<ContentDistributionView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let object = ssr::object(&object_type, object_id)?;
    let filter = ssr::pair_filter(q, state)?;
    let status = domain
        .for_actor(&actor)
        .distribution_status()
        .content(object)
        .await?;
    ssr::content_view(&domain, &actor, status, &filter, ssr::window(page)).await
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

/// How many DPs (and groups) the Distribute form lists at once.
pub const TARGETS_SHOWN: usize = 20;

/// What the Distribute form offers for the words typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetsView {
    /// The words asked for, as typed.
    pub q: String,
    /// The caller's number for the question, given back (a form keeps only its latest answer).
    pub ask: u64,
    /// DPs that may receive it and do not have it: (id, name).
    pub dps: Vec<(i64, String)>,
    /// Further DPs that matched.
    pub more_dps: u32,
    pub groups: Vec<(i64, String)>,
    pub more_groups: u32,
    /// DPs left out because they have it.
    pub holding: u32,
}

/// The DPs and groups a content can be sent to by this user, found by words (`q`) in their
/// names and descriptions, [`TARGETS_SHOWN`] of each at most; `ask` is given back.
#[server(endpoint = "distribution_targets")]
pub async fn distribution_targets(
    object_type: String,
    object_id: i64,
    q: Option<String>,
    ask: Option<u64>,
) -> Result<TargetsView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let object = ssr::object(&object_type, object_id)?;
    let q = q.unwrap_or_default();
    let words = domain::distribution::listing::Words::new(&q);
    let choices = domain
        .for_actor(&actor)
        .distribution()
        .choices(object, &words, TARGETS_SHOWN)
        .await?;
    let more = |page: &domain::distribution::listing::Page<_>| {
        u32::try_from(page.matched - page.rows.len()).unwrap_or(u32::MAX)
    };
    Ok(TargetsView {
        q,
        ask: ask.unwrap_or_default(),
        more_dps: more(&choices.dps),
        more_groups: more(&choices.groups),
        dps: choices.dps.rows,
        groups: choices.groups.rows,
        holding: u32::try_from(choices.holding).unwrap_or(u32::MAX),
    })
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

/// The Distribution status page: the library's size, and every content on every DP this user
/// may see, counted; listed are those whose content or DP name has every word of `q` and
/// whose state is `state` (`failed`, `in-progress`, `waiting`, `success`), problems first,
/// [`PAGE_SIZE`] at a time (`page` from 1).
#[server(endpoint = "distribution_status")]
pub async fn distribution_status(
    q: Option<String>,
    state: Option<String>,
    page: Option<u32>,
) -> Result<StatusView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    use domain::distribution::listing;
    let filter = ssr::pair_filter(q, state)?;
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
    let total = pairs.len();
    let (shown, summary) = listing::pairs(pairs, &filter, ssr::window(page));
    let stats = domain.content().stats().await?;
    Ok(StatusView {
        summary: ssr::summary_view(&summary),
        page: ssr::page_info(&shown, total),
        pairs: shown.rows.iter().map(ssr::pair).collect(),
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
pub(crate) mod ssr;
