//! What an admin does with content and DPs: distribute (to DPs and groups), update the DPs
//! that have it, redistribute to one DP, validate, remove, and the content's distribution
//! settings. Distributing needs Distribute on the content *and* on every DP it goes to.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde_json::json;

use super::{
    assign::{self, ContentSettings},
    jobs::DistributeParams,
    listing,
    points::ActorDistributionPoints,
    protocol::WorkAction,
};
use crate::{
    Actor, Domain, Error, Result,
    audit::AuditedTxn,
    authz::{self, Operation},
    content::ContentObject,
    db::entities::{contents, distribution_assignments as assignments},
    jobs::NewJob,
};

/// What one user may do with one content's distribution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContentRights {
    pub distribute: bool,
    pub validate: bool,
    pub modify: bool,
}

/// Where to send content.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Targets {
    pub dps: Vec<i64>,
    pub groups: Vec<i64>,
}

/// Where a user may send a content, found by words: at most a page of each, and how many more
/// matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetChoices {
    /// DPs the user may distribute to that do not hold the content (nor are getting it), by
    /// name: (id, name).
    pub dps: listing::Page<(i64, String)>,
    /// Groups whose every member the user may distribute to: (id, name).
    pub groups: listing::Page<(i64, String)>,
    /// DPs the user may distribute to that were left out because they hold it already.
    pub holding: usize,
}

/// Distribution on behalf of a signed-in user.
pub struct ActorDistribution<'a> {
    domain: &'a Domain,
    actor: &'a Actor,
}

/// Checks `operation` on a content object (an image or a driver package) for `actor`, and
/// returns the object's name.
pub(crate) async fn check_object(
    domain: &Domain,
    actor: &Actor,
    object: ContentObject,
    operation: Operation,
) -> Result<String> {
    assign::refuse_non_content(object)?;
    actor.require(object.object_type, operation)?;
    let files = super::object_files(domain, object).await?;
    let scopes = authz::scopes::of(domain.db(), object.object_type, object.object_id).await?;
    actor.require_on(object.object_type, operation, &scopes)?;
    Ok(files.name)
}

/// Checks Distribute on every DP that `targets` reach (the groups' members included); returns
/// them.
pub(crate) async fn check_targets(
    domain: &Domain,
    actor: &Actor,
    targets: &Targets,
) -> Result<Vec<i64>> {
    if targets.dps.is_empty() && targets.groups.is_empty() {
        return Err(Error::invalid(
            "targets",
            "choose at least one distribution point or group",
        ));
    }
    let points = ActorDistributionPoints::new(domain, actor);
    let mut all: std::collections::BTreeSet<i64> = targets.dps.iter().copied().collect();
    for group in &targets.groups {
        super::groups::Groups::new(domain).get(*group).await?;
    }
    all.extend(assign::group_members(domain.db(), &targets.groups).await?);
    for dp in &all {
        points.checked(*dp, Operation::Distribute).await?;
    }
    Ok(all.into_iter().collect())
}

impl<'a> ActorDistribution<'a> {
    pub(crate) fn new(domain: &'a Domain, actor: &'a Actor) -> Self {
        Self { domain, actor }
    }

    /// Sends the object's content (its newest version, made now if the object changed) to
    /// DPs and groups: a job, since a new version may take a while to chunk.
    pub async fn distribute(&self, object: ContentObject, targets: Targets) -> Result<i64> {
        check_object(self.domain, self.actor, object, Operation::Distribute).await?;
        check_targets(self.domain, self.actor, &targets).await?;
        self.queue(DistributeParams {
            object_type: object.object_type,
            object_id: object.object_id,
            dps: targets.dps,
            groups: targets.groups,
            update: false,
        })
        .await
    }

    /// Sends the newest version to every DP that has the content and that this user may
    /// distribute to.
    pub async fn update(&self, object: ContentObject) -> Result<i64> {
        let name = check_object(self.domain, self.actor, object, Operation::Distribute).await?;
        self.actor.require(
            crate::authz::ObjectType::DistributionPoint,
            Operation::Distribute,
        )?;
        let holders = match self.domain.content().content_of(object).await? {
            Some(content) => assign::holders(self.domain.db(), content.id).await?,
            None => Vec::new(),
        };
        let points = ActorDistributionPoints::new(self.domain, self.actor);
        let mut dps = Vec::new();
        for dp in holders {
            if points
                .operations_on(dp)
                .await?
                .contains(&Operation::Distribute)
            {
                dps.push(dp);
            }
        }
        if dps.is_empty() {
            return Err(Error::Conflict(format!(
                "\"{name}\" is on no distribution point you may distribute to; distribute it first"
            )));
        }
        self.queue(DistributeParams {
            object_type: object.object_type,
            object_id: object.object_id,
            dps,
            groups: Vec::new(),
            update: true,
        })
        .await
    }

    /// The DPs (found by name or description) and groups (by name or description) this user
    /// may send the object to, at most `limit` of each; a group only when the user may send to
    /// every member. A fleet has hundreds of DPs, so a form asks for the few it shows.
    pub async fn choices(
        &self,
        object: ContentObject,
        words: &listing::Words,
        limit: usize,
    ) -> Result<TargetChoices> {
        check_object(self.domain, self.actor, object, Operation::Distribute).await?;
        self.actor.require(
            crate::authz::ObjectType::DistributionPoint,
            Operation::Distribute,
        )?;
        let holders: std::collections::HashSet<i64> =
            match self.domain.content().content_of(object).await? {
                Some(content) => assign::holders(self.domain.db(), content.id)
                    .await?
                    .into_iter()
                    .collect(),
                None => Default::default(),
            };
        let (holding, free): (Vec<_>, Vec<_>) =
            ActorDistributionPoints::new(self.domain, self.actor)
                .list_allowing(Operation::Distribute)
                .await?
                .into_iter()
                .partition(|dp| holders.contains(&dp.id));
        // A group is offered when the user may send to every member (else the distribution
        // is refused); group names are seen by whoever sees DPs.
        let may_send: std::collections::HashSet<i64> =
            free.iter().chain(&holding).map(|dp| dp.id).collect();
        let sees_dps = self
            .actor
            .holds(crate::authz::ObjectType::DistributionPoint, Operation::Read);
        let groups = if sees_dps {
            super::groups::Groups::new(self.domain).list().await?
        } else {
            Vec::new()
        };
        let groups = groups
            .into_iter()
            .filter(|g| g.members.iter().all(|m| may_send.contains(m)))
            .filter(|g| words.found_in(&[&g.name, &g.description]))
            .map(|g| (g.id, g.name))
            .collect();
        let window = listing::Window::page(1, limit);
        let filter = listing::DpFilter {
            health: None,
            words: words.clone(),
        };
        let dps = listing::points(free, &filter, window).map(|dp| (dp.id, dp.name));
        Ok(TargetChoices {
            dps,
            groups: window.cut(groups),
            holding: holding.len(),
        })
    }

    /// What this user may do with the object's distribution (its scopes decide).
    pub async fn rights_on(&self, object: ContentObject) -> Result<ContentRights> {
        assign::refuse_non_content(object)?;
        let scopes =
            authz::scopes::of(self.domain.db(), object.object_type, object.object_id).await?;
        let operations = self.actor.grants.effective(object.object_type, &scopes);
        let dp_type = |operation| {
            self.actor
                .holds(crate::authz::ObjectType::DistributionPoint, operation)
        };
        Ok(ContentRights {
            distribute: operations.contains(&Operation::Distribute)
                && dp_type(Operation::Distribute),
            validate: operations.contains(&Operation::Validate) && dp_type(Operation::Validate),
            modify: operations.contains(&Operation::Modify),
        })
    }

    async fn queue(&self, params: DistributeParams) -> Result<i64> {
        let params = serde_json::to_value(&params).map_err(|e| Error::Internal(e.to_string()))?;
        self.domain
            .for_actor(self.actor)
            .jobs()
            .queue_authorized(NewJob::new(super::jobs::DISTRIBUTE_JOB, params), Vec::new())
            .await
    }

    /// Redistributes, validates or removes the content on one DP. Redistribute and remove
    /// need Distribute, validate needs Validate, on the content and on the DP.
    pub async fn on_dp(&self, object: ContentObject, dp: i64, action: WorkAction) -> Result<()> {
        let operation = match action {
            WorkAction::Validate => Operation::Validate,
            _ => Operation::Distribute,
        };
        let name = check_object(self.domain, self.actor, object, operation).await?;
        let point = ActorDistributionPoints::new(self.domain, self.actor)
            .checked(dp, operation)
            .await?;
        let content = self
            .domain
            .content()
            .content_of(object)
            .await?
            .ok_or_else(|| not_on_dp(&name, &point.name))?;
        let now = self.domain.now_ms();
        let mut txn = AuditedTxn::begin(self.domain).await?;
        let row = assignments::Entity::find()
            .filter(assignments::Column::ContentId.eq(content.id))
            .filter(assignments::Column::DpId.eq(dp))
            .one(txn.conn())
            .await?
            .ok_or_else(|| not_on_dp(&name, &point.name))?;
        let version_id = match action {
            WorkAction::Validate => row.installed_version_id,
            WorkAction::Remove => None,
            _ => row.target_version_id,
        };
        if action == WorkAction::Validate && version_id.is_none() {
            return Err(Error::Conflict(format!(
                "\"{}\" has not reached \"{}\" yet: there is nothing to validate",
                name, point.name
            )));
        }
        let version = match version_id {
            Some(id) => Some(self.domain.content().version(id).await?),
            None => None,
        };
        assign::request_in(txn.conn(), content.id, dp, version.as_ref(), action, now).await?;
        txn.allowed(
            self.actor,
            operation,
            object.object_type,
            (object.object_id, &name),
            &[(
                assign::action_str(action),
                serde_json::Value::Null,
                json!(point.name),
            )],
        )
        .await?;
        txn.commit().await?;
        assign::wake_dp(self.domain, dp);
        Ok(())
    }

    /// The content's distribution settings (defaults for content never distributed).
    pub async fn settings(&self, object: ContentObject) -> Result<ContentSettings> {
        check_object(self.domain, self.actor, object, Operation::Read).await?;
        Ok(contents::Entity::find()
            .filter(contents::Column::ObjectType.eq(object.object_type.slug()))
            .filter(contents::Column::ObjectId.eq(object.object_id))
            .one(self.domain.db())
            .await?
            .map(|row| ContentSettings::of(&row))
            .unwrap_or_default())
    }

    /// Changes the content's distribution settings (Modify on the object).
    pub async fn set_settings(
        &self,
        object: ContentObject,
        settings: ContentSettings,
    ) -> Result<()> {
        let name = check_object(self.domain, self.actor, object, Operation::Modify).await?;
        let before = contents::Entity::find()
            .filter(contents::Column::ObjectType.eq(object.object_type.slug()))
            .filter(contents::Column::ObjectId.eq(object.object_id))
            .one(self.domain.db())
            .await?
            .map(|row| ContentSettings::of(&row))
            .unwrap_or_default();
        let mut txn = AuditedTxn::begin(self.domain).await?;
        let id = assign::content_id_in(txn.conn(), object, &name, self.domain.now_ms()).await?;
        let row = contents::Entity::find_by_id(id)
            .one(txn.conn())
            .await?
            .ok_or_else(|| Error::NotFound(format!("content {id}")))?;
        let mut model = row.into_active_model();
        model.priority = Set(settings.priority.as_str().to_owned());
        model.prestaged_behavior = Set(settings.prestaged.as_str().to_owned());
        model.on_demand = Set(settings.on_demand);
        model.differential = Set(settings.differential);
        model.update(txn.conn()).await?;
        let value = |s: &ContentSettings| serde_json::to_value(s).unwrap_or_default();
        txn.allowed(
            self.actor,
            Operation::Modify,
            object.object_type,
            (object.object_id, &name),
            &[("distribution", value(&before), value(&settings))],
        )
        .await?;
        txn.commit().await?;
        // DPs waiting for prestaged content may now fetch it, or the other way round.
        for dp in assign::holders(self.domain.db(), id).await? {
            assign::wake_dp(self.domain, dp);
        }
        Ok(())
    }
}

fn not_on_dp(name: &str, dp: &str) -> Error {
    Error::Conflict(format!(
        "\"{name}\" is not distributed to \"{dp}\"; distribute it first"
    ))
}
