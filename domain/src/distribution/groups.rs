//! Distribution point groups: distributing to a group sends to each member, and a DP that
//! joins a group receives the content sent to the group. Groups share the distribution point
//! permissions: creating, changing and deleting one needs those rights on DPs, and adding a DP
//! to a group needs Modify on that DP.

use std::collections::BTreeSet;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
    SqlErr,
};
use serde::{Deserialize, Serialize};

use super::{assign, points::ActorDistributionPoints, protocol::WorkAction};
use crate::{
    Actor, Domain, Error, Result,
    audit::AuditedTxn,
    authz::{ObjectType, Operation},
    db::entities::{dp_group_contents, dp_group_members, dp_groups},
};

/// A group of DPs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpGroup {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub members: Vec<i64>,
    /// Contents sent to the group.
    pub contents: Vec<i64>,
}

/// Groups as the system uses them.
pub struct Groups<'a> {
    domain: &'a Domain,
}

impl<'a> Groups<'a> {
    pub(crate) fn new(domain: &'a Domain) -> Self {
        Self { domain }
    }

    pub async fn list(&self) -> Result<Vec<DpGroup>> {
        let db = self.domain.db();
        let members = dp_group_members::Entity::find().all(db).await?;
        let contents = dp_group_contents::Entity::find().all(db).await?;
        Ok(dp_groups::Entity::find()
            .order_by_asc(dp_groups::Column::Name)
            .all(db)
            .await?
            .into_iter()
            .map(|g| DpGroup {
                members: members
                    .iter()
                    .filter(|m| m.group_id == g.id)
                    .map(|m| m.dp_id)
                    .collect(),
                contents: contents
                    .iter()
                    .filter(|c| c.group_id == g.id)
                    .map(|c| c.content_id)
                    .collect(),
                id: g.id,
                name: g.name,
                description: g.description,
            })
            .collect())
    }

    pub async fn get(&self, id: i64) -> Result<DpGroup> {
        self.list()
            .await?
            .into_iter()
            .find(|g| g.id == id)
            .ok_or_else(|| Error::NotFound(format!("distribution point group {id}")))
    }
}

fn validate_name(name: &str) -> Result<String> {
    super::points::validate_name(name)
}

/// Groups on behalf of a signed-in user.
pub struct ActorGroups<'a> {
    domain: &'a Domain,
    actor: &'a Actor,
}

impl<'a> ActorGroups<'a> {
    pub(crate) fn new(domain: &'a Domain, actor: &'a Actor) -> Self {
        Self { domain, actor }
    }

    /// The groups, with only the members this user may read.
    pub async fn list(&self) -> Result<Vec<DpGroup>> {
        let readable: std::collections::HashSet<i64> =
            ActorDistributionPoints::new(self.domain, self.actor)
                .list()
                .await?
                .into_iter()
                .map(|p| p.id)
                .collect();
        let mut groups = Groups::new(self.domain).list().await?;
        for group in &mut groups {
            group.members.retain(|m| readable.contains(m));
        }
        Ok(groups)
    }

    /// A group is changed as a whole only by a user with `operation` on each of its DPs.
    async fn require_on_members(&self, group: &DpGroup, operation: Operation) -> Result<()> {
        let points = ActorDistributionPoints::new(self.domain, self.actor);
        for dp in &group.members {
            points.checked(*dp, operation).await?;
        }
        Ok(())
    }

    pub async fn create(&self, name: &str, description: &str) -> Result<i64> {
        self.actor
            .require(ObjectType::DistributionPoint, Operation::Create)?;
        let name = validate_name(name)?;
        let description = description.trim();
        if description.chars().count() > 1024 {
            return Err(Error::invalid(
                "description",
                "is longer than 1,024 characters",
            ));
        }
        let mut txn = AuditedTxn::begin(self.domain).await?;
        let row = match (dp_groups::ActiveModel {
            name: Set(name.clone()),
            description: Set(description.to_owned()),
            created_at_ms: Set(self.domain.now_ms()),
            ..Default::default()
        })
        .insert(txn.conn())
        .await
        {
            Ok(row) => row,
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                return Err(Error::Conflict(format!(
                    "a distribution point group named \"{name}\" exists already"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        txn.allowed(
            self.actor,
            Operation::Create,
            ObjectType::DistributionPoint,
            (row.id, &format!("group {name}")),
            &[],
        )
        .await?;
        txn.commit().await?;
        Ok(row.id)
    }

    /// Replaces the members of a group. A DP that joins receives the group's content; one that
    /// leaves keeps what it has (remove content from it explicitly). Adding or removing a DP
    /// needs Modify on it.
    pub async fn set_members(&self, id: i64, members: &[i64]) -> Result<()> {
        self.actor
            .require(ObjectType::DistributionPoint, Operation::Modify)?;
        let group = Groups::new(self.domain).get(id).await?;
        let before: BTreeSet<i64> = group.members.iter().copied().collect();
        let after: BTreeSet<i64> = members.iter().copied().collect();
        let points = ActorDistributionPoints::new(self.domain, self.actor);
        for dp in before.symmetric_difference(&after) {
            points.checked(*dp, Operation::Modify).await?;
        }
        let joined: Vec<i64> = after.difference(&before).copied().collect();
        // A DP that joins receives the group's content: that is distributing it, which needs
        // Distribute on each content and on the DP.
        if !joined.is_empty() && !group.contents.is_empty() {
            for dp in &joined {
                points.checked(*dp, Operation::Distribute).await?;
            }
            let library = self.domain.content();
            for content in &group.contents {
                let object = library.get(*content).await?.object;
                super::actions::check_object(
                    self.domain,
                    self.actor,
                    object,
                    Operation::Distribute,
                )
                .await?;
            }
        }
        let now = self.domain.now_ms();
        let mut txn = AuditedTxn::begin(self.domain).await?;
        dp_group_members::Entity::delete_many()
            .filter(dp_group_members::Column::GroupId.eq(id))
            .exec(txn.conn())
            .await?;
        for dp in &after {
            dp_group_members::ActiveModel {
                group_id: Set(id),
                dp_id: Set(*dp),
            }
            .insert(txn.conn())
            .await?;
        }
        // Newcomers get the newest version of each content sent to the group.
        for content in &group.contents {
            let newest = self
                .domain
                .content()
                .versions(*content)
                .await?
                .into_iter()
                .next();
            let Some(version) = newest else { continue };
            let holders: BTreeSet<i64> = assign::holders(txn.conn(), *content)
                .await?
                .into_iter()
                .collect();
            for dp in joined.iter().filter(|dp| !holders.contains(dp)) {
                assign::request_in(
                    txn.conn(),
                    *content,
                    *dp,
                    Some(&version),
                    WorkAction::Install,
                    now,
                )
                .await?;
            }
        }
        txn.allowed(
            self.actor,
            Operation::Modify,
            ObjectType::DistributionPoint,
            (id, &format!("group {}", group.name)),
            &[(
                "members",
                serde_json::json!(before),
                serde_json::json!(after),
            )],
        )
        .await?;
        txn.commit().await?;
        for dp in joined {
            assign::wake_dp(self.domain, dp);
        }
        Ok(())
    }

    pub async fn delete(&self, id: i64) -> Result<()> {
        self.actor
            .require(ObjectType::DistributionPoint, Operation::Delete)?;
        let group = Groups::new(self.domain).get(id).await?;
        self.require_on_members(&group, Operation::Modify).await?;
        let mut txn = AuditedTxn::begin(self.domain).await?;
        dp_groups::Entity::delete_by_id(id).exec(txn.conn()).await?;
        txn.allowed(
            self.actor,
            Operation::Delete,
            ObjectType::DistributionPoint,
            (id, &format!("group {}", group.name)),
            &[],
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn rename(&self, id: i64, name: &str, description: &str) -> Result<()> {
        self.actor
            .require(ObjectType::DistributionPoint, Operation::Modify)?;
        let name = validate_name(name)?;
        let group = Groups::new(self.domain).get(id).await?;
        self.require_on_members(&group, Operation::Modify).await?;
        let row = dp_groups::Entity::find_by_id(id)
            .one(self.domain.db())
            .await?
            .ok_or_else(|| Error::NotFound(format!("distribution point group {id}")))?;
        let before = row.name.clone();
        let mut txn = AuditedTxn::begin(self.domain).await?;
        let mut model = row.into_active_model();
        model.name = Set(name.clone());
        model.description = Set(description.trim().chars().take(1024).collect());
        if let Err(e) = model.update(txn.conn()).await {
            return Err(match e.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => Error::Conflict(format!(
                    "a distribution point group named \"{name}\" exists already"
                )),
                _ => e.into(),
            });
        }
        txn.allowed(
            self.actor,
            Operation::Modify,
            ObjectType::DistributionPoint,
            (id, &format!("group {name}")),
            &[("name", before.into(), name.clone().into())],
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }
}
