//! Security administration on behalf of a signed-in user: security scopes, custom roles, role
//! assignments, the scopes of objects, and who may do what to an object (its Security tab).

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
    SqlErr, sea_query::Expr,
};
use serde::Serialize;

use serde_json::{Value, json};

use super::{ObjectType, Operation, Permissions, ScopeSet, scopes};
use crate::{
    Actor, Domain, Error, Result,
    audit::AuditedTxn,
    db::entities::{
        assignment_scopes, object_scopes, role_assignments, security_roles, security_scopes, users,
    },
};

/// A security scope and how many objects of each type are in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopeInfo {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub builtin: bool,
    pub row_version: i32,
    /// Object type slug → how many objects of that type are in the scope.
    pub members: BTreeMap<String, u64>,
}

/// A security role, built-in or custom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleInfo {
    pub id: i64,
    pub name: String,
    /// The kebab-case name of a built-in role.
    pub slug: Option<String>,
    pub description: String,
    pub builtin: bool,
    pub permissions: Permissions,
    pub row_version: i32,
}

/// One of a user's assignments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssignmentInfo {
    pub id: i64,
    pub role_id: i64,
    pub role_name: String,
    pub all_scopes: bool,
    /// (id, name) of each scope, when not all.
    pub scopes: Vec<(i64, String)>,
}

/// An administrative user and their assignments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    pub id: i64,
    pub username: String,
    pub disabled: bool,
    pub last_sign_in_at_ms: Option<i64>,
    pub assignments: Vec<AssignmentInfo>,
}

/// What the Security tab of an object shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectSecurity {
    pub object_type: ObjectType,
    pub object_id: i64,
    pub scopes: Vec<(i64, String)>,
    /// Each enabled user with at least one operation on the object, and those operations.
    pub users: Vec<(String, Vec<Operation>)>,
    /// Whether the caller may change the object's scopes.
    pub may_set_scopes: bool,
}

/// Security administration for one signed-in user.
pub struct ActorSecurity<'a> {
    domain: &'a Domain,
    actor: &'a Actor,
}

fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

fn check_name(field: &'static str, name: &str) -> Result<()> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(Error::invalid(
            field,
            "a name of 1 to 64 characters is required",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            "the name contains control characters",
        ));
    }
    Ok(())
}

impl<'a> ActorSecurity<'a> {
    pub(crate) fn new(domain: &'a Domain, actor: &'a Actor) -> Self {
        Self { domain, actor }
    }

    fn require(&self, operation: Operation) -> Result<()> {
        self.actor.require(ObjectType::Security, operation)
    }

    fn require_recent_password(&self, what: &str) -> Result<()> {
        super::require_recent_password(self.domain, self.actor, what)
    }

    /// Records a change this user made, in the change's transaction, and commits both.
    async fn commit_audited(
        &self,
        mut txn: AuditedTxn,
        operation: Operation,
        object_type: ObjectType,
        object: (i64, &str),
        changes: &[(&str, Value, Value)],
    ) -> Result<()> {
        txn.allowed(self.actor, operation, object_type, object, changes)
            .await?;
        txn.commit().await
    }

    // ----- scopes -----

    pub async fn scopes(&self) -> Result<Vec<ScopeInfo>> {
        self.require(Operation::Read)?;
        let db = self.domain.db();
        let rows = security_scopes::Entity::find()
            .order_by_asc(security_scopes::Column::NameKey)
            .all(db)
            .await?;
        let members = object_scopes::Entity::find().all(db).await?;
        Ok(rows
            .into_iter()
            .map(|s| {
                let mut counts = BTreeMap::new();
                for m in members.iter().filter(|m| m.scope_id == s.id) {
                    *counts.entry(m.object_type.clone()).or_insert(0) += 1;
                }
                ScopeInfo {
                    id: s.id,
                    name: s.name,
                    description: s.description,
                    builtin: s.builtin,
                    row_version: s.row_version,
                    members: counts,
                }
            })
            .collect())
    }

    pub async fn create_scope(&self, name: &str, description: &str) -> Result<i64> {
        self.require(Operation::Create)?;
        check_name("name", name)?;
        let row = security_scopes::ActiveModel {
            name: Set(name.trim().to_owned()),
            name_key: Set(name_key(name)),
            description: Set(description.trim().to_owned()),
            builtin: Set(false),
            row_version: Set(1),
            created_at_ms: Set(self.domain.now_ms()),
            ..Default::default()
        };
        let txn = AuditedTxn::begin(self.domain).await?;
        let row = row
            .insert(txn.conn())
            .await
            .map_err(|e| taken(e, "security scope", name))?;
        self.commit_audited(
            txn,
            Operation::Create,
            ObjectType::Security,
            (row.id, &row.name),
            &[("scope", Value::Null, json!(row.name))],
        )
        .await?;
        Ok(row.id)
    }

    pub async fn edit_scope(
        &self,
        id: i64,
        name: &str,
        description: &str,
        expected_row_version: i32,
    ) -> Result<()> {
        self.require(Operation::Modify)?;
        check_name("name", name)?;
        let txn = AuditedTxn::begin(self.domain).await?;
        let updated = security_scopes::Entity::update_many()
            .col_expr(security_scopes::Column::Name, Expr::value(name.trim()))
            .col_expr(
                security_scopes::Column::NameKey,
                Expr::value(name_key(name)),
            )
            .col_expr(
                security_scopes::Column::Description,
                Expr::value(description.trim()),
            )
            .col_expr(
                security_scopes::Column::RowVersion,
                Expr::value(expected_row_version + 1),
            )
            .filter(security_scopes::Column::Id.eq(id))
            .filter(security_scopes::Column::RowVersion.eq(expected_row_version))
            .exec(txn.conn())
            .await
            .map_err(|e| taken(e, "security scope", name))?;
        if updated.rows_affected == 0 {
            return Err(changed_or_missing("security scope", id));
        }
        self.commit_audited(
            txn,
            Operation::Modify,
            ObjectType::Security,
            (id, name.trim()),
            &[(
                "scope",
                Value::Null,
                json!({"name": name.trim(), "description": description.trim()}),
            )],
        )
        .await
    }

    /// Deletes an unused scope: no object and no assignment may refer to it.
    pub async fn delete_scope(&self, id: i64) -> Result<()> {
        self.require(Operation::Delete)?;
        let txn = AuditedTxn::begin(self.domain).await?;
        let db = txn.conn();
        let scope = security_scopes::Entity::find_by_id(id)
            .one(db)
            .await?
            .ok_or_else(|| Error::NotFound(format!("security scope {id}")))?;
        if scope.builtin {
            return Err(Error::Conflict(
                "the Default scope is built in and cannot be deleted".into(),
            ));
        }
        let objects = object_scopes::Entity::find()
            .filter(object_scopes::Column::ScopeId.eq(id))
            .count(db)
            .await?;
        let assignments = assignment_scopes::Entity::find()
            .filter(assignment_scopes::Column::ScopeId.eq(id))
            .count(db)
            .await?;
        if objects + assignments > 0 {
            return Err(Error::Conflict(format!(
                "\"{}\" still has {objects} object(s) and {assignments} assignment(s); move them first",
                scope.name
            )));
        }
        security_scopes::Entity::delete_by_id(id).exec(db).await?;
        self.commit_audited(
            txn,
            Operation::Delete,
            ObjectType::Security,
            (id, &scope.name),
            &[("scope", json!(scope.name), Value::Null)],
        )
        .await
    }

    // ----- roles -----

    pub async fn roles(&self) -> Result<Vec<RoleInfo>> {
        self.require(Operation::Read)?;
        let rows = security_roles::Entity::find()
            .order_by_desc(security_roles::Column::Builtin)
            .order_by_asc(security_roles::Column::Id)
            .all(self.domain.db())
            .await?;
        rows.into_iter().map(role_info).collect()
    }

    /// Copies a role (built-in or custom) into a new custom role.
    pub async fn copy_role(&self, from: i64, name: &str, description: &str) -> Result<i64> {
        self.require(Operation::Create)?;
        self.require_recent_password("copy roles")?;
        check_name("name", name)?;
        let source = self.role(from).await?;
        let now = self.domain.now_ms();
        let row = security_roles::ActiveModel {
            slug: Set(None),
            name: Set(name.trim().to_owned()),
            name_key: Set(name_key(name)),
            description: Set(description.trim().to_owned()),
            builtin: Set(false),
            permissions: Set(permissions_json(&source.permissions)?),
            copied_from: Set(Some(from)),
            row_version: Set(1),
            created_at_ms: Set(now),
            updated_at_ms: Set(now),
            ..Default::default()
        };
        let txn = AuditedTxn::begin(self.domain).await?;
        let row = row
            .insert(txn.conn())
            .await
            .map_err(|e| taken(e, "security role", name))?;
        self.commit_audited(
            txn,
            Operation::Create,
            ObjectType::Security,
            (row.id, &row.name),
            &[(
                "role",
                Value::Null,
                json!({"name": row.name, "copied_from": source.name}),
            )],
        )
        .await?;
        Ok(row.id)
    }

    /// Changes a custom role. Its holders' rights change with it, so the editor must hold
    /// everything it grants, on all scopes.
    pub async fn edit_role(
        &self,
        id: i64,
        name: &str,
        description: &str,
        permissions: Permissions,
        expected_row_version: i32,
    ) -> Result<()> {
        self.require(Operation::Modify)?;
        self.require_recent_password("change roles")?;
        check_name("name", name)?;
        let role = self.role(id).await?;
        if role.builtin {
            return Err(Error::Conflict(format!(
                "\"{}\" is a built-in role; copy it to change it",
                role.name
            )));
        }
        if !self.actor.grants.may_grant(&permissions, &ScopeSet::All) {
            return Err(Error::forbidden(
                ObjectType::Security,
                Operation::Modify,
                "grant permissions you do not hold on all scopes",
            ));
        }
        let txn = AuditedTxn::begin(self.domain).await?;
        let updated = security_roles::Entity::update_many()
            .col_expr(security_roles::Column::Name, Expr::value(name.trim()))
            .col_expr(security_roles::Column::NameKey, Expr::value(name_key(name)))
            .col_expr(
                security_roles::Column::Description,
                Expr::value(description.trim()),
            )
            .col_expr(
                security_roles::Column::Permissions,
                Expr::value(permissions_json(&permissions)?),
            )
            .col_expr(
                security_roles::Column::RowVersion,
                Expr::value(expected_row_version + 1),
            )
            .col_expr(
                security_roles::Column::UpdatedAtMs,
                Expr::value(self.domain.now_ms()),
            )
            .filter(security_roles::Column::Id.eq(id))
            .filter(security_roles::Column::RowVersion.eq(expected_row_version))
            .exec(txn.conn())
            .await
            .map_err(|e| taken(e, "security role", name))?;
        if updated.rows_affected == 0 {
            return Err(changed_or_missing("security role", id));
        }
        self.commit_audited(
            txn,
            Operation::Modify,
            ObjectType::Security,
            (id, name.trim()),
            &[("permissions", json!(role.permissions), json!(permissions))],
        )
        .await
    }

    /// Deletes an unassigned custom role.
    pub async fn delete_role(&self, id: i64) -> Result<()> {
        self.require(Operation::Delete)?;
        self.require_recent_password("delete roles")?;
        let role = self.role(id).await?;
        if role.builtin {
            return Err(Error::Conflict(format!(
                "\"{}\" is a built-in role and cannot be deleted",
                role.name
            )));
        }
        let txn = AuditedTxn::begin(self.domain).await?;
        let db = txn.conn();
        let holders = role_assignments::Entity::find()
            .filter(role_assignments::Column::RoleId.eq(id))
            .count(db)
            .await?;
        if holders > 0 {
            return Err(Error::Conflict(format!(
                "\"{}\" is assigned {holders} time(s); remove those assignments first",
                role.name
            )));
        }
        security_roles::Entity::delete_by_id(id).exec(db).await?;
        self.commit_audited(
            txn,
            Operation::Delete,
            ObjectType::Security,
            (id, &role.name),
            &[("role", json!(role.name), Value::Null)],
        )
        .await
    }

    async fn role(&self, id: i64) -> Result<RoleInfo> {
        let row = security_roles::Entity::find_by_id(id)
            .one(self.domain.db())
            .await?
            .ok_or_else(|| Error::NotFound(format!("security role {id}")))?;
        role_info(row)
    }

    // ----- users and assignments -----

    pub async fn users(&self) -> Result<Vec<UserInfo>> {
        self.require(Operation::Read)?;
        let db = self.domain.db();
        let rows = users::Entity::find()
            .order_by_asc(users::Column::UsernameKey)
            .all(db)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for user in rows {
            out.push(UserInfo {
                assignments: self.assignments_of(user.id).await?,
                id: user.id,
                username: user.username,
                disabled: user.disabled,
                last_sign_in_at_ms: user.last_sign_in_at_ms,
            });
        }
        Ok(out)
    }

    async fn assignments_of(&self, user_id: i64) -> Result<Vec<AssignmentInfo>> {
        let db = self.domain.db();
        let grants = super::load_grants(db, user_id).await?;
        let names: BTreeMap<i64, String> = security_scopes::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .map(|s| (s.id, s.name))
            .collect();
        Ok(grants
            .0
            .into_iter()
            .map(|g| AssignmentInfo {
                id: g.assignment_id,
                role_id: g.role_id,
                role_name: g.role_name,
                all_scopes: g.scopes == ScopeSet::All,
                scopes: match g.scopes {
                    ScopeSet::All => Vec::new(),
                    ScopeSet::Only(ids) => ids
                        .into_iter()
                        .map(|id| (id, names.get(&id).cloned().unwrap_or_default()))
                        .collect(),
                },
            })
            .collect())
    }

    /// Creates a user with one assignment.
    pub async fn create_user(
        &self,
        username: &str,
        password: &str,
        role_id: i64,
        scopes: ScopeSet,
    ) -> Result<i64> {
        self.require(Operation::Create)?;
        self.require_recent_password("create users")?;
        self.check_grant(role_id, &scopes).await?;
        let role = self.role(role_id).await?;
        let accounts = self.domain.accounts();
        let hash = accounts.hash_new_password(username, password).await?;
        let txn = AuditedTxn::begin(self.domain).await?;
        let id = accounts
            .insert_user(
                &txn,
                username,
                hash,
                &[(role_id, scopes.clone())],
                &self.actor.username,
            )
            .await?;
        self.commit_audited(
            txn,
            Operation::Create,
            ObjectType::Security,
            (id, username),
            &[(
                "user",
                Value::Null,
                json!({"role": role.name, "scopes": scopes_json(&scopes)}),
            )],
        )
        .await?;
        Ok(id)
    }

    /// Gives a user a role on some scopes (or all). The caller must hold what it grants.
    pub async fn assign(&self, user_id: i64, role_id: i64, scopes: ScopeSet) -> Result<i64> {
        self.require(Operation::Administer)?;
        self.require_recent_password("assign roles")?;
        self.check_grant(role_id, &scopes).await?;
        let role = self.role(role_id).await?;
        let txn = AuditedTxn::begin(self.domain).await?;
        users::Entity::find_by_id(user_id)
            .one(txn.conn())
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {user_id}")))?;
        let id = insert_assignment(
            txn.conn(),
            user_id,
            role_id,
            &scopes,
            &self.actor.username,
            self.domain.now_ms(),
        )
        .await?;
        self.commit_audited(
            txn,
            Operation::Administer,
            ObjectType::Security,
            (user_id, &format!("user {user_id}")),
            &[(
                "assignment",
                Value::Null,
                json!({"role": role.name, "scopes": scopes_json(&scopes)}),
            )],
        )
        .await?;
        Ok(id)
    }

    /// Removes an assignment; only someone who could have made it may remove it, and a user's
    /// last assignment stays (disable the user instead). The user's sessions and API tokens
    /// end: they were issued under rights the user no longer has.
    pub async fn unassign(&self, assignment_id: i64) -> Result<()> {
        self.require(Operation::Administer)?;
        self.require_recent_password("remove role assignments")?;
        let txn = AuditedTxn::begin(self.domain).await?;
        let db = txn.conn();
        let row = role_assignments::Entity::find_by_id(assignment_id)
            .one(db)
            .await?
            .ok_or_else(|| Error::NotFound(format!("assignment {assignment_id}")))?;
        let grants = super::load_grants(db, row.user_id).await?;
        let grant = grants
            .0
            .iter()
            .find(|g| g.assignment_id == assignment_id)
            .ok_or_else(|| Error::NotFound(format!("assignment {assignment_id}")))?;
        if !self
            .actor
            .grants
            .may_grant(&grant.permissions, &grant.scopes)
        {
            return Err(Error::forbidden(
                ObjectType::Security,
                Operation::Administer,
                "remove an assignment with rights you do not hold",
            ));
        }
        if grants.0.len() == 1 {
            return Err(Error::Conflict(
                "this is the user's only assignment; disable the user instead".into(),
            ));
        }
        refuse_last_full_administrator(db, row.user_id, Some(assignment_id)).await?;
        role_assignments::Entity::delete_by_id(assignment_id)
            .exec(db)
            .await?;
        crate::accounts::revoke_credentials(db, row.user_id, self.domain.now_ms()).await?;
        self.commit_audited(
            txn,
            Operation::Administer,
            ObjectType::Security,
            (row.user_id, &format!("user {}", row.user_id)),
            &[(
                "assignment",
                json!({"role": grant.role_name, "scopes": scopes_json(&grant.scopes)}),
                Value::Null,
            )],
        )
        .await
    }

    /// Disables (signing out everywhere and revoking API tokens) or enables a user.
    pub async fn set_disabled(&self, user_id: i64, disabled: bool) -> Result<()> {
        self.require(Operation::Modify)?;
        self.require_recent_password("enable or disable users")?;
        if disabled && user_id == self.actor.user_id {
            return Err(Error::Conflict("you cannot disable yourself".into()));
        }
        self.check_manage_user(user_id).await?;
        let txn = AuditedTxn::begin(self.domain).await?;
        let db = txn.conn();
        if disabled {
            // Inside the serialized write: two admins disabling each other at once cannot
            // both pass it.
            refuse_last_full_administrator(db, user_id, None).await?;
        }
        let updated = users::Entity::update_many()
            .col_expr(users::Column::Disabled, Expr::value(disabled))
            .filter(users::Column::Id.eq(user_id))
            .exec(db)
            .await?;
        if updated.rows_affected == 0 {
            return Err(Error::NotFound(format!("user {user_id}")));
        }
        if disabled {
            crate::accounts::revoke_credentials(db, user_id, self.domain.now_ms()).await?;
        }
        self.commit_audited(
            txn,
            Operation::Modify,
            ObjectType::Security,
            (user_id, &format!("user {user_id}")),
            &[("disabled", json!(!disabled), json!(disabled))],
        )
        .await
    }

    /// Sets a new password; the user's sessions and API tokens end.
    pub async fn reset_password(&self, user_id: i64, password: &str) -> Result<()> {
        self.require(Operation::Modify)?;
        self.require_recent_password("reset passwords")?;
        self.check_manage_user(user_id).await?;
        let accounts = self.domain.accounts();
        let hash = accounts.hash_replacement_password(password).await?;
        let txn = AuditedTxn::begin(self.domain).await?;
        accounts.store_password(txn.conn(), user_id, hash).await?;
        // The password itself is never recorded.
        self.commit_audited(
            txn,
            Operation::Modify,
            ObjectType::Security,
            (user_id, &format!("user {user_id}")),
            &[("password", json!("(old)"), json!("(reset)"))],
        )
        .await
    }

    /// A user whose assignments hold more than the caller's may not be changed by them.
    async fn check_manage_user(&self, user_id: i64) -> Result<()> {
        let theirs = super::load_grants(self.domain.db(), user_id).await?;
        for g in &theirs.0 {
            if !self.actor.grants.may_grant(&g.permissions, &g.scopes) {
                return Err(Error::forbidden(
                    ObjectType::Security,
                    Operation::Modify,
                    "change a user who holds rights you do not hold",
                ));
            }
        }
        Ok(())
    }

    async fn check_grant(&self, role_id: i64, scopes: &ScopeSet) -> Result<()> {
        let role = self.role(role_id).await?;
        if let ScopeSet::Only(ids) = scopes {
            if ids.is_empty() {
                return Err(Error::invalid(
                    "scopes",
                    "choose at least one security scope, or all scopes",
                ));
            }
            let known = security_scopes::Entity::find()
                .filter(security_scopes::Column::Id.is_in(ids.iter().copied()))
                .count(self.domain.db())
                .await?;
            if known as usize != ids.len() {
                return Err(Error::invalid("scopes", "a security scope does not exist"));
            }
        }
        if !self.actor.grants.may_grant(&role.permissions, scopes) {
            return Err(Error::forbidden(
                ObjectType::Security,
                Operation::Administer,
                format!(
                    "grant \"{}\" on those scopes: you do not hold all of its rights there",
                    role.name
                ),
            ));
        }
        Ok(())
    }

    // ----- objects -----

    /// The Security tab of an object: its scopes and each user's effective operations on it.
    pub async fn object_security(&self, object: ObjectType, id: i64) -> Result<ObjectSecurity> {
        if !object.is_scoped() {
            return Err(Error::invalid(
                "object",
                "this kind of object has no security scopes",
            ));
        }
        self.actor.require(object, Operation::Read)?;
        let db = self.domain.db();
        let current = scopes::of(db, object, id).await?;
        if current.is_empty() {
            return Err(Error::NotFound(format!("{} {id}", object.label())));
        }
        self.actor.require_on(object, Operation::Read, &current)?;
        let names: BTreeMap<i64, String> = security_scopes::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .map(|s| (s.id, s.name))
            .collect();
        let mut users_out = Vec::new();
        for user in users::Entity::find()
            .filter(users::Column::Disabled.eq(false))
            .order_by_asc(users::Column::UsernameKey)
            .all(db)
            .await?
        {
            let grants = super::load_grants(db, user.id).await?;
            let operations = grants.effective(object, &current);
            if !operations.is_empty() {
                users_out.push((user.username, operations));
            }
        }
        Ok(ObjectSecurity {
            object_type: object,
            object_id: id,
            scopes: current
                .iter()
                .map(|s| (*s, names.get(s).cloned().unwrap_or_default()))
                .collect(),
            users: users_out,
            may_set_scopes: self
                .actor
                .may(object, Operation::SetSecurityScope, &current),
        })
    }

    /// Replaces an object's scopes. Takes Set security scope on the object, and the caller
    /// must hold every scope added or removed.
    /// The scopes this user may put an object of type `object` in (for the Security tab's
    /// picker): every scope with an all-scope Set security scope right, else those of their
    /// assignments that grant it.
    pub async fn scope_choices(&self, object: ObjectType) -> Result<Vec<(i64, String)>> {
        self.actor.require(object, Operation::SetSecurityScope)?;
        let mut allowed = BTreeSet::new();
        let mut everything = false;
        for grant in &self.actor.grants.0 {
            if !grant
                .permissions
                .allows(object, Operation::SetSecurityScope)
            {
                continue;
            }
            match &grant.scopes {
                ScopeSet::All => everything = true,
                ScopeSet::Only(ids) => allowed.extend(ids.iter().copied()),
            }
        }
        Ok(security_scopes::Entity::find()
            .order_by_asc(security_scopes::Column::NameKey)
            .all(self.domain.db())
            .await?
            .into_iter()
            .filter(|s| everything || allowed.contains(&s.id))
            .map(|s| (s.id, s.name))
            .collect())
    }

    pub async fn set_object_scopes(
        &self,
        object: ObjectType,
        id: i64,
        new_scopes: &BTreeSet<i64>,
    ) -> Result<()> {
        if !object.is_scoped() {
            return Err(Error::invalid(
                "object",
                "this kind of object has no security scopes",
            ));
        }
        let db = self.domain.db();
        let current = scopes::of(db, object, id).await?;
        if current.is_empty() {
            return Err(Error::NotFound(format!("{} {id}", object.label())));
        }
        self.actor
            .require_on(object, Operation::SetSecurityScope, &current)?;
        let known = security_scopes::Entity::find()
            .filter(security_scopes::Column::Id.is_in(new_scopes.iter().copied()))
            .count(db)
            .await?;
        if known as usize != new_scopes.len() {
            return Err(Error::invalid("scopes", "a security scope does not exist"));
        }
        let old: BTreeSet<i64> = current.iter().copied().collect();
        let changed: BTreeSet<i64> = old.symmetric_difference(new_scopes).copied().collect();
        let holds_changed = self.actor.grants.0.iter().any(|g| {
            g.permissions.allows(object, Operation::SetSecurityScope)
                && g.scopes.covers(&ScopeSet::Only(changed.clone()))
        });
        if !holds_changed {
            return Err(Error::forbidden(
                object,
                Operation::SetSecurityScope,
                "move objects into or out of scopes you do not hold",
            ));
        }
        let ids: Vec<i64> = new_scopes.iter().copied().collect();
        let txn = AuditedTxn::begin(self.domain).await?;
        scopes::set(txn.conn(), object, id, &ids).await?;
        self.commit_audited(
            txn,
            Operation::SetSecurityScope,
            object,
            (id, &format!("{} {id}", object.label())),
            &[("scopes", json!(old), json!(new_scopes))],
        )
        .await
    }
}

fn role_info(row: security_roles::Model) -> Result<RoleInfo> {
    let (builtin, permissions) = super::role_permissions(&row)?;
    Ok(RoleInfo {
        description: match builtin {
            Some(role) => role.description().to_owned(),
            None => row.description,
        },
        id: row.id,
        name: row.name,
        slug: row.slug,
        builtin: row.builtin,
        permissions,
        row_version: row.row_version,
    })
}

fn permissions_json(permissions: &Permissions) -> Result<String> {
    serde_json::to_string(permissions).map_err(|e| Error::Internal(e.to_string()))
}

fn taken(e: sea_orm::DbErr, what: &str, name: &str) -> Error {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            Error::Conflict(format!("a {what} named \"{}\" already exists", name.trim()))
        }
        _ => e.into(),
    }
}

fn changed_or_missing(what: &str, id: i64) -> Error {
    Error::Conflict(format!(
        "{what} {id} was changed by someone else or deleted; reload and try again"
    ))
}

/// Someone must always be able to administer everything: refuses a change that disables
/// `user_id` (`removing` None) or removes their assignment `removing`, when it would leave no
/// enabled Full Administrator on all scopes. Called inside the change's audited transaction,
/// which is serialized with every other one, so the answer cannot be stale.
async fn refuse_last_full_administrator<C: sea_orm::ConnectionTrait>(
    db: &C,
    user_id: i64,
    removing: Option<i64>,
) -> Result<()> {
    let full = security_roles::Entity::find()
        .filter(security_roles::Column::Slug.eq(super::Role::FullAdministrator.slug()))
        .one(db)
        .await?
        .ok_or_else(|| Error::Internal("the Full Administrator role is missing".into()))?;
    let holders: Vec<role_assignments::Model> = role_assignments::Entity::find()
        .filter(role_assignments::Column::RoleId.eq(full.id))
        .filter(role_assignments::Column::AllScopes.eq(true))
        .all(db)
        .await?;
    let is_target =
        |h: &role_assignments::Model| h.user_id == user_id && removing.is_none_or(|r| r == h.id);
    if !holders.iter().any(is_target) {
        return Ok(());
    }
    let others: Vec<i64> = holders
        .iter()
        .filter(|h| !is_target(h))
        .map(|h| h.user_id)
        .collect();
    let enabled_others = users::Entity::find()
        .filter(users::Column::Id.is_in(others))
        .filter(users::Column::Disabled.eq(false))
        .count(db)
        .await?;
    if enabled_others == 0 {
        return Err(Error::Conflict(
            "this would leave no enabled Full Administrator on all scopes".into(),
        ));
    }
    Ok(())
}

/// Stores an assignment (inside the caller's transaction).
pub(crate) async fn insert_assignment<C: sea_orm::ConnectionTrait>(
    db: &C,
    user_id: i64,
    role_id: i64,
    scopes: &ScopeSet,
    created_by: &str,
    now_ms: i64,
) -> Result<i64> {
    let row = role_assignments::ActiveModel {
        user_id: Set(user_id),
        role_id: Set(role_id),
        all_scopes: Set(*scopes == ScopeSet::All),
        created_by: Set(created_by.to_owned()),
        created_at_ms: Set(now_ms),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => Error::Conflict(
            "the user already has this role; change that assignment's scopes instead".into(),
        ),
        _ => e.into(),
    })?;
    if let ScopeSet::Only(ids) = scopes {
        assignment_scopes::Entity::insert_many(ids.iter().map(|scope| {
            assignment_scopes::ActiveModel {
                assignment_id: Set(row.id),
                scope_id: Set(*scope),
            }
        }))
        .exec(db)
        .await?;
    }
    Ok(row.id)
}

fn scopes_json(scopes: &ScopeSet) -> Value {
    match scopes {
        ScopeSet::All => json!("all"),
        ScopeSet::Only(ids) => json!(ids),
    }
}
