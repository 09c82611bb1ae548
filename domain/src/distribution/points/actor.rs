//! Distribution points on behalf of a signed-in user: list, add, settings, enrollment tokens,
//! revocation, deletion, each checked against the user's rights on the DP.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set, SqlErr,
};
use serde::{Deserialize, Serialize};

use super::{
    DistributionPoint, DistributionPoints, DpKind, DpSettings, apply_settings, secret_hash,
    to_point, validate_name,
};
use crate::{
    Actor, Domain, Error, Result,
    audit::AuditedTxn,
    authz::{self, ObjectType, Operation},
    db::entities::{distribution_points, dp_enrollments},
};

/// A new remote DP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewDp {
    pub name: String,
    pub settings: DpSettings,
}

/// Distribution points on behalf of a signed-in user.
pub struct ActorDistributionPoints<'a> {
    points: DistributionPoints<'a>,
    domain: &'a Domain,
    actor: &'a Actor,
}

impl<'a> ActorDistributionPoints<'a> {
    pub(crate) fn new(domain: &'a Domain, actor: &'a Actor) -> Self {
        Self {
            points: DistributionPoints::new(domain),
            domain,
            actor,
        }
    }

    /// Whether this user may add DPs.
    pub fn may_create(&self) -> bool {
        self.actor
            .holds(ObjectType::DistributionPoint, Operation::Create)
    }

    /// The DPs this user may read.
    pub async fn list(&self) -> Result<Vec<DistributionPoint>> {
        self.actor
            .require(ObjectType::DistributionPoint, Operation::Read)?;
        self.visible(None).await
    }

    /// The DPs this user sees and may do `operation` on (the scopes read once, not per DP);
    /// none for a user who may not see DPs.
    pub async fn list_allowing(&self, operation: Operation) -> Result<Vec<DistributionPoint>> {
        if !self.actor.holds(ObjectType::DistributionPoint, operation)
            || !self
                .actor
                .holds(ObjectType::DistributionPoint, Operation::Read)
        {
            return Ok(Vec::new());
        }
        self.visible(Some(operation)).await
    }

    /// The DPs this user sees, and may do `operation` on when one is given.
    async fn visible(&self, operation: Option<Operation>) -> Result<Vec<DistributionPoint>> {
        let scopes = authz::scopes::of_all(self.domain.db(), ObjectType::DistributionPoint).await?;
        let visibility = self.actor.grants.visibility(ObjectType::DistributionPoint);
        Ok(self
            .points
            .list()
            .await?
            .into_iter()
            .filter(|p| {
                let of_dp = scopes.get(&p.id).map(Vec::as_slice).unwrap_or(&[]);
                authz::scopes::visible(&visibility, of_dp)
                    && operation
                        .is_none_or(|op| self.actor.may(ObjectType::DistributionPoint, op, of_dp))
            })
            .collect())
    }

    /// The DP, after checking `operation` on it.
    pub async fn checked(&self, id: i64, operation: Operation) -> Result<DistributionPoint> {
        self.actor
            .require(ObjectType::DistributionPoint, operation)?;
        let point = self.points.get(id).await?;
        let scopes = authz::scopes::of(self.domain.db(), ObjectType::DistributionPoint, id).await?;
        self.actor
            .require_on(ObjectType::DistributionPoint, operation, &scopes)?;
        Ok(point)
    }

    pub async fn get(&self, id: i64) -> Result<DistributionPoint> {
        self.checked(id, Operation::Read).await
    }

    /// What this user may do to one DP.
    pub async fn operations_on(&self, id: i64) -> Result<Vec<Operation>> {
        let scopes = authz::scopes::of(self.domain.db(), ObjectType::DistributionPoint, id).await?;
        Ok(self
            .actor
            .grants
            .effective(ObjectType::DistributionPoint, &scopes))
    }

    /// Adds a remote DP (enroll it with [`ActorDistributionPoints::enrollment_token`]).
    pub async fn create(&self, new: NewDp) -> Result<i64> {
        self.actor
            .require(ObjectType::DistributionPoint, Operation::Create)?;
        let name = validate_name(&new.name)?;
        let settings = new.settings.checked()?;
        let mut txn = AuditedTxn::begin(self.domain).await?;
        let mut model = distribution_points::ActiveModel {
            name: Set(name.clone()),
            kind: Set(DpKind::Remote.as_str().to_owned()),
            enabled: Set(true),
            created_by: Set(self.actor.username.clone()),
            created_at_ms: Set(self.domain.now_ms()),
            row_version: Set(1),
            ..Default::default()
        };
        apply_settings(&mut model, &settings)?;
        let row = match model.insert(txn.conn()).await {
            Ok(row) => row,
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                return Err(Error::Conflict(format!(
                    "a distribution point named \"{name}\" exists already"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let scopes = authz::scopes::for_new_object(
            txn.conn(),
            ObjectType::DistributionPoint,
            Some(self.actor.user_id),
        )
        .await?;
        authz::scopes::set(txn.conn(), ObjectType::DistributionPoint, row.id, &scopes).await?;
        txn.allowed(
            self.actor,
            Operation::Create,
            ObjectType::DistributionPoint,
            (row.id, &name),
            &[],
        )
        .await?;
        txn.commit().await?;
        Ok(row.id)
    }

    /// Changes a DP's settings, enabled state and (for a remote DP) name.
    pub async fn edit(
        &self,
        id: i64,
        expected_row_version: i32,
        name: &str,
        enabled: bool,
        settings: DpSettings,
    ) -> Result<DistributionPoint> {
        let before = self.checked(id, Operation::Modify).await?;
        let name = validate_name(name)?;
        if before.kind == DpKind::Site && name != before.name {
            return Err(Error::invalid(
                "name",
                "of this server's DP cannot be changed",
            ));
        }
        let settings = settings.checked()?;
        let mut txn = AuditedTxn::begin(self.domain).await?;
        let row = distribution_points::Entity::find_by_id(id)
            .one(txn.conn())
            .await?
            .ok_or_else(|| Error::NotFound(format!("distribution point {id}")))?;
        if row.row_version != expected_row_version {
            return Err(Error::Conflict(format!(
                "\"{}\" was changed by someone else meanwhile; reload it and make your change again",
                before.name
            )));
        }
        let mut model = row.into_active_model();
        model.name = Set(name.clone());
        model.enabled = Set(enabled);
        model.row_version = Set(expected_row_version + 1);
        apply_settings(&mut model, &settings)?;
        let row = match model.update(txn.conn()).await {
            Ok(row) => row,
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                return Err(Error::Conflict(format!(
                    "a distribution point named \"{name}\" exists already"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let json = |v: &DpSettings| serde_json::to_value(v).unwrap_or_default();
        txn.allowed(
            self.actor,
            Operation::Modify,
            ObjectType::DistributionPoint,
            (id, &name),
            &[
                ("name", before.name.clone().into(), name.clone().into()),
                ("enabled", before.enabled.into(), enabled.into()),
                ("settings", json(&before.settings), json(&settings)),
            ],
        )
        .await?;
        txn.commit().await?;
        super::super::assign::wake_dp(self.domain, id);
        Ok(to_point(self.domain, row))
    }

    /// Makes a one-time enrollment token for a remote DP, valid for
    /// `distribution.enrollment_token_hours`. Returned once: only its hash is kept. Earlier
    /// unused tokens of the DP stop working.
    pub async fn enrollment_token(&self, id: i64) -> Result<(String, i64)> {
        let point = self.checked(id, Operation::Modify).await?;
        if point.kind == DpKind::Site {
            return Err(Error::invalid(
                "distribution point",
                "this server's DP needs no enrollment",
            ));
        }
        let token = format!("wdp-{}", crate::accounts::random_token());
        let now = self.domain.now_ms();
        let expires = now
            + i64::from(
                self.domain
                    .config()
                    .distribution
                    .enrollment_token_hours
                    .max(1),
            ) * 3_600_000;
        let mut txn = AuditedTxn::begin(self.domain).await?;
        dp_enrollments::Entity::update_many()
            .col_expr(
                dp_enrollments::Column::UsedAtMs,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(dp_enrollments::Column::DpId.eq(id))
            .filter(dp_enrollments::Column::UsedAtMs.is_null())
            .exec(txn.conn())
            .await?;
        dp_enrollments::ActiveModel {
            dp_id: Set(id),
            token_hash: Set(secret_hash(&token)),
            expires_at_ms: Set(expires),
            used_at_ms: Set(None),
            created_by: Set(self.actor.username.clone()),
            created_at_ms: Set(now),
            ..Default::default()
        }
        .insert(txn.conn())
        .await?;
        txn.allowed(
            self.actor,
            Operation::Modify,
            ObjectType::DistributionPoint,
            (id, &point.name),
            &[("enrollment_token", "".into(), "issued".into())],
        )
        .await?;
        txn.commit().await?;
        Ok((token, expires))
    }

    /// Revokes a DP's credential: its next request is refused. Enrolling it again needs a new
    /// token.
    pub async fn revoke(&self, id: i64) -> Result<()> {
        let point = self.checked(id, Operation::Modify).await?;
        if point.kind == DpKind::Site {
            return Err(Error::invalid(
                "distribution point",
                "this server's DP cannot be revoked; disable it instead",
            ));
        }
        let mut txn = AuditedTxn::begin(self.domain).await?;
        distribution_points::Entity::update_many()
            .col_expr(
                distribution_points::Column::RevokedAtMs,
                sea_orm::sea_query::Expr::value(self.domain.now_ms()),
            )
            .col_expr(
                distribution_points::Column::CredentialHash,
                sea_orm::sea_query::Expr::value(None::<String>),
            )
            .filter(distribution_points::Column::Id.eq(id))
            .exec(txn.conn())
            .await?;
        // Its unused enrollment tokens go too: only a token made after this re-enrolls it.
        dp_enrollments::Entity::update_many()
            .col_expr(
                dp_enrollments::Column::UsedAtMs,
                sea_orm::sea_query::Expr::value(self.domain.now_ms()),
            )
            .filter(dp_enrollments::Column::DpId.eq(id))
            .filter(dp_enrollments::Column::UsedAtMs.is_null())
            .exec(txn.conn())
            .await?;
        txn.allowed(
            self.actor,
            Operation::Modify,
            ObjectType::DistributionPoint,
            (id, &point.name),
            &[("credential", "valid".into(), "revoked".into())],
        )
        .await?;
        txn.commit().await?;
        super::super::assign::wake_dp(self.domain, id);
        Ok(())
    }

    /// Deletes a remote DP with its assignments and history.
    pub async fn delete(&self, id: i64, expected_row_version: i32) -> Result<()> {
        let point = self.checked(id, Operation::Delete).await?;
        if point.kind == DpKind::Site {
            return Err(Error::invalid(
                "distribution point",
                "this server's DP cannot be deleted; disable it instead",
            ));
        }
        let mut txn = AuditedTxn::begin(self.domain).await?;
        let deleted = distribution_points::Entity::delete_many()
            .filter(distribution_points::Column::Id.eq(id))
            .filter(distribution_points::Column::RowVersion.eq(expected_row_version))
            .exec(txn.conn())
            .await?;
        if deleted.rows_affected == 0 {
            return Err(Error::Conflict(format!(
                "\"{}\" was changed by someone else meanwhile; reload it first",
                point.name
            )));
        }
        authz::scopes::remove(txn.conn(), ObjectType::DistributionPoint, id).await?;
        txn.allowed(
            self.actor,
            Operation::Delete,
            ObjectType::DistributionPoint,
            (id, &point.name),
            &[],
        )
        .await?;
        txn.commit().await?;
        super::super::assign::wake_dp(self.domain, id);
        Ok(())
    }
}
