//! What each DP is to hold: assignments of content versions to DPs, made by the admin's
//! actions (distribute, update, redistribute, validate, remove) and by group membership.
//!
//! An assignment carries a generation, bumped by every request: a DP's report about an older
//! request changes nothing, so a slow report can never undo a newer request.

use std::collections::BTreeSet;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};

use super::{Priority, protocol::WorkAction};
use crate::{
    Domain, Error, Result,
    content::{ContentObject, ContentVersion},
    db::entities::{
        contents, distribution_assignments as assignments, distribution_events, dp_group_contents,
        dp_group_members,
    },
};

/// Where a content stands on a DP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DistState {
    Waiting,
    InProgress,
    Success,
    Failed,
    ValidationFailed,
    Removing,
}

impl DistState {
    pub fn as_str(self) -> &'static str {
        match self {
            DistState::Waiting => "waiting",
            DistState::InProgress => "in-progress",
            DistState::Success => "success",
            DistState::Failed => "failed",
            DistState::ValidationFailed => "validation-failed",
            DistState::Removing => "removing",
        }
    }

    pub fn parse(text: &str) -> Self {
        match text {
            "in-progress" => DistState::InProgress,
            "success" => DistState::Success,
            "failed" => DistState::Failed,
            "validation-failed" => DistState::ValidationFailed,
            "removing" => DistState::Removing,
            _ => DistState::Waiting,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            DistState::Waiting => "Waiting",
            DistState::InProgress => "In progress",
            DistState::Success => "Success",
            DistState::Failed => "Failed",
            DistState::ValidationFailed => "Validation failed",
            DistState::Removing => "Removing",
        }
    }
}

/// Tells the DP's open poll, on whichever site server answers it, that its work changed, and
/// pages that its status may have.
pub(crate) fn wake_dp(domain: &Domain, dp: i64) {
    super::events::publish(
        domain,
        super::events::DistributionEvent {
            change: super::events::Change::Work,
            dp_id: dp,
            content_id: None,
        },
    );
}

/// The content row of an object, made if missing (in the caller's transaction).
pub(crate) async fn content_id_in<C: ConnectionTrait>(
    conn: &C,
    object: ContentObject,
    name: &str,
    now: i64,
) -> Result<i64> {
    let find = || {
        contents::Entity::find()
            .filter(contents::Column::ObjectType.eq(object.object_type.slug()))
            .filter(contents::Column::ObjectId.eq(object.object_id))
    };
    if let Some(row) = find().one(conn).await? {
        return Ok(row.id);
    }
    Ok(contents::ActiveModel {
        object_type: Set(object.object_type.slug().to_owned()),
        object_id: Set(object.object_id),
        name: Set(name.to_owned()),
        created_at_ms: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await?
    .id)
}

/// Points the assignment of `content` on `dp` at `version` for `action`, making it if
/// missing, with a new generation and a fresh status; records the step in the history.
pub(crate) async fn request_in<C: ConnectionTrait>(
    conn: &C,
    content_id: i64,
    dp: i64,
    version: Option<&ContentVersion>,
    action: WorkAction,
    now: i64,
) -> Result<()> {
    let state = match action {
        WorkAction::Remove => DistState::Removing,
        _ => DistState::Waiting,
    };
    // Locked on PostgreSQL (SQLite write transactions are serialized): a concurrent request
    // or report waits, so each gets its own generation.
    let existing = assignments::Entity::find()
        .filter(assignments::Column::ContentId.eq(content_id))
        .filter(assignments::Column::DpId.eq(dp))
        .lock_exclusive()
        .one(conn)
        .await?;
    let target = version.map(|v| v.id);
    match existing {
        Some(row) => {
            let generation = row.generation + 1;
            let mut model = row.into_active_model();
            // A validation checks what the DP holds; the version it is to hold stays.
            if action != WorkAction::Validate {
                model.target_version_id = Set(target);
            }
            model.state = Set(state.as_str().to_owned());
            model.action = Set(action_str(action).to_owned());
            model.generation = Set(generation);
            model.detail = Set(None);
            model.bytes_total = Set(version.and_then(|v| i64::try_from(v.total_bytes).ok()));
            model.bytes_needed = Set(None);
            model.bytes_done = Set(0);
            model.rate_bps = Set(None);
            model.updated_at_ms = Set(now);
            model.update(conn).await?;
        }
        None => {
            if action == WorkAction::Remove {
                return Ok(());
            }
            assignments::ActiveModel {
                content_id: Set(content_id),
                dp_id: Set(dp),
                target_version_id: Set(target),
                installed_version_id: Set(None),
                state: Set(state.as_str().to_owned()),
                detail: Set(None),
                generation: Set(1),
                action: Set(action_str(action).to_owned()),
                bytes_total: Set(version.and_then(|v| i64::try_from(v.total_bytes).ok())),
                bytes_needed: Set(None),
                bytes_done: Set(0),
                rate_bps: Set(None),
                updated_at_ms: Set(now),
                validated_at_ms: Set(None),
                created_at_ms: Set(now),
                ..Default::default()
            }
            .insert(conn)
            .await?;
        }
    }
    record_event(
        conn,
        content_id,
        dp,
        now,
        state,
        version.map(|v| v.number),
        Some(match action {
            WorkAction::Install => "Distribution requested".to_owned(),
            WorkAction::Redistribute => "Redistribution requested".to_owned(),
            WorkAction::Validate => "Validation requested".to_owned(),
            WorkAction::Remove => "Removal requested".to_owned(),
        }),
    )
    .await
}

pub(crate) fn action_str(action: WorkAction) -> &'static str {
    match action {
        WorkAction::Install => "install",
        WorkAction::Redistribute => "redistribute",
        WorkAction::Validate => "validate",
        WorkAction::Remove => "remove",
    }
}

pub(crate) fn parse_action(text: &str) -> WorkAction {
    match text {
        "redistribute" => WorkAction::Redistribute,
        "validate" => WorkAction::Validate,
        "remove" => WorkAction::Remove,
        _ => WorkAction::Install,
    }
}

pub(crate) async fn record_event<C: ConnectionTrait>(
    conn: &C,
    content_id: i64,
    dp: i64,
    now: i64,
    state: DistState,
    version_number: Option<i32>,
    detail: Option<String>,
) -> Result<()> {
    distribution_events::ActiveModel {
        content_id: Set(content_id),
        dp_id: Set(dp),
        at_ms: Set(now),
        state: Set(state.as_str().to_owned()),
        version_number: Set(version_number),
        detail: Set(detail),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// The members of groups, by group.
pub(crate) async fn group_members<C: ConnectionTrait>(
    conn: &C,
    groups: &[i64],
) -> Result<BTreeSet<i64>> {
    if groups.is_empty() {
        return Ok(BTreeSet::new());
    }
    Ok(dp_group_members::Entity::find()
        .filter(dp_group_members::Column::GroupId.is_in(groups.to_vec()))
        .all(conn)
        .await?
        .into_iter()
        .map(|m| m.dp_id)
        .collect())
}

/// Remembers that a content goes to a group (a DP that joins later receives it).
pub(crate) async fn remember_group_content<C: ConnectionTrait>(
    conn: &C,
    group: i64,
    content_id: i64,
) -> Result<()> {
    let exists = dp_group_contents::Entity::find_by_id((group, content_id))
        .one(conn)
        .await?
        .is_some();
    if !exists {
        dp_group_contents::ActiveModel {
            group_id: Set(group),
            content_id: Set(content_id),
        }
        .insert(conn)
        .await?;
    }
    Ok(())
}

/// The DPs that hold (or are getting) a content.
pub(crate) async fn holders<C: ConnectionTrait>(conn: &C, content_id: i64) -> Result<Vec<i64>> {
    Ok(assignments::Entity::find()
        .filter(assignments::Column::ContentId.eq(content_id))
        .filter(assignments::Column::State.ne(DistState::Removing.as_str()))
        .all(conn)
        .await?
        .into_iter()
        .map(|a| a.dp_id)
        .collect())
}

/// A content's distribution settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentSettings {
    pub priority: Priority,
    pub prestaged: super::PrestagedBehavior,
    pub on_demand: bool,
    pub differential: bool,
}

impl Default for ContentSettings {
    fn default() -> Self {
        Self {
            priority: Priority::Medium,
            prestaged: super::PrestagedBehavior::Automatic,
            on_demand: false,
            differential: true,
        }
    }
}

impl ContentSettings {
    pub(crate) fn of(row: &contents::Model) -> Self {
        Self {
            priority: Priority::parse(&row.priority),
            prestaged: super::PrestagedBehavior::parse(&row.prestaged_behavior),
            on_demand: row.on_demand,
            differential: row.differential,
        }
    }
}

/// Checks that an object exists and is content (for errors before a job is queued).
pub(crate) fn refuse_non_content(object: ContentObject) -> Result<()> {
    use crate::authz::ObjectType;
    match object.object_type {
        ObjectType::BootImage | ObjectType::OsImage | ObjectType::DriverPackage => Ok(()),
        other => Err(Error::invalid(
            "object",
            format!("a {} is not content that can be distributed", other.label()),
        )),
    }
}
