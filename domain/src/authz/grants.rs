//! Evaluating a user's rights: deny by default; an operation on an object is allowed when one
//! of the user's assignments grants it on the object's type and, for scoped types, covers one
//! of the object's scopes.

use std::collections::BTreeSet;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::{ObjectType, Operation, Permissions, Role};
use crate::{
    Error, Result,
    db::entities::{assignment_scopes, role_assignments, security_roles},
};

/// The scopes an assignment covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeSet {
    /// Every scope, present and future.
    All,
    Only(BTreeSet<i64>),
}

impl ScopeSet {
    /// Whether the set meets an object that belongs to `scopes`.
    pub fn meets(&self, scopes: &[i64]) -> bool {
        match self {
            ScopeSet::All => true,
            ScopeSet::Only(mine) => scopes.iter().any(|s| mine.contains(s)),
        }
    }

    /// Whether every scope of `other` is in this set.
    pub fn covers(&self, other: &ScopeSet) -> bool {
        match (self, other) {
            (ScopeSet::All, _) => true,
            (ScopeSet::Only(_), ScopeSet::All) => false,
            (ScopeSet::Only(mine), ScopeSet::Only(theirs)) => theirs.is_subset(mine),
        }
    }
}

/// One role assignment, as evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub assignment_id: i64,
    pub role_id: i64,
    pub role_name: String,
    /// The built-in role, for assignments of one.
    pub builtin: Option<Role>,
    pub permissions: Permissions,
    pub scopes: ScopeSet,
}

/// Which objects of a type a user may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    Nothing,
    Everything,
    /// Objects in at least one of these scopes.
    InScopes(BTreeSet<i64>),
}

/// All of a user's assignments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grants(pub Vec<Grant>);

impl Grants {
    /// Whether some assignment grants `operation` on `object`, whatever the scopes (for
    /// unscoped types, and to know whether to offer an action at all).
    pub fn holds(&self, object: ObjectType, operation: Operation) -> bool {
        self.0
            .iter()
            .any(|g| g.permissions.allows(object, operation))
    }

    /// Whether `operation` is allowed on an object of type `object` that belongs to
    /// `object_scopes` (ignored for unscoped types).
    pub fn allows(&self, object: ObjectType, operation: Operation, object_scopes: &[i64]) -> bool {
        self.0.iter().any(|g| {
            g.permissions.allows(object, operation)
                && (!object.is_scoped() || g.scopes.meets(object_scopes))
        })
    }

    /// As [`Grants::allows`], for an object that has no scopes of its own and takes those of
    /// the object it belongs to (a driver, its package's): the assignment that grants the
    /// operation must cover `inherited` scopes.
    pub fn allows_inherited(
        &self,
        object: ObjectType,
        operation: Operation,
        inherited: &[i64],
    ) -> bool {
        self.0
            .iter()
            .any(|g| g.permissions.allows(object, operation) && g.scopes.meets(inherited))
    }

    /// Which objects of type `object` the user may read.
    pub fn visibility(&self, object: ObjectType) -> Visibility {
        self.visibility_within(object, !object.is_scoped())
    }

    /// Which objects of an unscoped type `object` that inherit scopes the user may read.
    pub fn inherited_visibility(&self, object: ObjectType) -> Visibility {
        self.visibility_within(object, false)
    }

    fn visibility_within(&self, object: ObjectType, everywhere: bool) -> Visibility {
        let mut scopes = BTreeSet::new();
        let mut any = false;
        for g in &self.0 {
            if !g.permissions.allows(object, Operation::Read) {
                continue;
            }
            any = true;
            match &g.scopes {
                _ if everywhere => return Visibility::Everything,
                ScopeSet::All => return Visibility::Everything,
                ScopeSet::Only(s) => scopes.extend(s.iter().copied()),
            }
        }
        match any {
            false => Visibility::Nothing,
            true => Visibility::InScopes(scopes),
        }
    }

    /// The scopes a new object of type `object` gets: those of the assignments that allow
    /// creating it; an assignment on all scopes contributes `default_scope`.
    pub fn creation_scopes(&self, object: ObjectType, default_scope: i64) -> BTreeSet<i64> {
        let mut out = BTreeSet::new();
        for g in &self.0 {
            if g.permissions.allows(object, Operation::Create) {
                match &g.scopes {
                    ScopeSet::All => {
                        out.insert(default_scope);
                    }
                    ScopeSet::Only(s) => out.extend(s.iter().copied()),
                }
            }
        }
        out
    }

    /// The effective operations on an object of type `object` in `object_scopes`.
    pub fn effective(&self, object: ObjectType, object_scopes: &[i64]) -> Vec<Operation> {
        object
            .operations()
            .iter()
            .copied()
            .filter(|op| self.allows(object, *op, object_scopes))
            .collect()
    }

    /// Whether the holder may hand out `permissions` on `scopes`: some of the holder's
    /// assignments together hold every permission on every one of those scopes. Nobody can
    /// grant what they do not hold.
    pub fn may_grant(&self, permissions: &Permissions, scopes: &ScopeSet) -> bool {
        let covering = self
            .0
            .iter()
            .filter(|g| g.scopes.covers(scopes))
            .fold(Permissions::NONE, |acc, g| acc.union(&g.permissions));
        covering.contains(permissions)
    }

    /// The built-in roles among the assignments, sorted, without repeats.
    pub fn builtin_roles(&self) -> Vec<Role> {
        let mut roles: Vec<Role> = self.0.iter().filter_map(|g| g.builtin).collect();
        roles.sort();
        roles.dedup();
        roles
    }
}

/// The permissions of a stored role: the built-in ones from code, custom ones as stored.
pub(crate) fn role_permissions(row: &security_roles::Model) -> Result<(Option<Role>, Permissions)> {
    match &row.slug {
        Some(slug) => {
            let role = slug
                .parse::<Role>()
                .map_err(|e| Error::Internal(format!("security role {}: {e}", row.id)))?;
            Ok((Some(role), role.permissions()))
        }
        None => {
            let permissions: Permissions = serde_json::from_str(&row.permissions)
                .map_err(|e| Error::Internal(format!("security role {}: {e}", row.id)))?;
            Ok((None, permissions))
        }
    }
}

/// Loads a user's assignments.
pub(crate) async fn load<C: ConnectionTrait>(db: &C, user_id: i64) -> Result<Grants> {
    let assignments = role_assignments::Entity::find()
        .filter(role_assignments::Column::UserId.eq(user_id))
        .all(db)
        .await?;
    if assignments.is_empty() {
        return Ok(Grants::default());
    }
    let role_ids: Vec<i64> = assignments.iter().map(|a| a.role_id).collect();
    let roles = security_roles::Entity::find()
        .filter(security_roles::Column::Id.is_in(role_ids))
        .all(db)
        .await?;
    let scoped = assignment_scopes::Entity::find()
        .filter(
            assignment_scopes::Column::AssignmentId
                .is_in(assignments.iter().map(|a| a.id).collect::<Vec<_>>()),
        )
        .all(db)
        .await?;
    let mut grants = Vec::with_capacity(assignments.len());
    for a in assignments {
        let Some(role) = roles.iter().find(|r| r.id == a.role_id) else {
            continue;
        };
        let (builtin, permissions) = role_permissions(role)?;
        let scopes = match a.all_scopes {
            true => ScopeSet::All,
            false => ScopeSet::Only(
                scoped
                    .iter()
                    .filter(|s| s.assignment_id == a.id)
                    .map(|s| s.scope_id)
                    .collect(),
            ),
        };
        grants.push(Grant {
            assignment_id: a.id,
            role_id: role.id,
            role_name: role.name.clone(),
            builtin,
            permissions,
            scopes,
        });
    }
    Ok(Grants(grants))
}
