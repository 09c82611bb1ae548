//! The security scopes objects belong to (`object_scopes`).

use std::collections::HashMap;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::{ObjectType, Visibility};
use crate::{
    Error, Result,
    db::entities::{object_scopes, security_scopes},
};

/// The id of the built-in "Default" scope.
pub(crate) async fn default_scope<C: ConnectionTrait>(db: &C) -> Result<i64> {
    security_scopes::Entity::find()
        .filter(security_scopes::Column::Builtin.eq(true))
        .one(db)
        .await?
        .map(|s| s.id)
        .ok_or_else(|| Error::Internal("the Default security scope is missing".into()))
}

/// The scopes of one object.
pub(crate) async fn of<C: ConnectionTrait>(
    db: &C,
    object: ObjectType,
    id: i64,
) -> Result<Vec<i64>> {
    Ok(object_scopes::Entity::find()
        .filter(object_scopes::Column::ObjectType.eq(object.slug()))
        .filter(object_scopes::Column::ObjectId.eq(id))
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.scope_id)
        .collect())
}

/// The scopes of every object of a type, by object id.
pub(crate) async fn of_all<C: ConnectionTrait>(
    db: &C,
    object: ObjectType,
) -> Result<HashMap<i64, Vec<i64>>> {
    let mut out: HashMap<i64, Vec<i64>> = HashMap::new();
    for row in object_scopes::Entity::find()
        .filter(object_scopes::Column::ObjectType.eq(object.slug()))
        .all(db)
        .await?
    {
        out.entry(row.object_id).or_default().push(row.scope_id);
    }
    Ok(out)
}

/// Whether an object in `scopes` is visible.
pub(crate) fn visible(visibility: &Visibility, scopes: &[i64]) -> bool {
    match visibility {
        Visibility::Nothing => false,
        Visibility::Everything => true,
        Visibility::InScopes(mine) => scopes.iter().any(|s| mine.contains(s)),
    }
}

/// Replaces the scopes of an object; an object always keeps at least one.
pub(crate) async fn set<C: ConnectionTrait>(
    db: &C,
    object: ObjectType,
    id: i64,
    scopes: &[i64],
) -> Result<()> {
    if scopes.is_empty() {
        return Err(Error::invalid(
            "scopes",
            "an object belongs to at least one security scope",
        ));
    }
    remove(db, object, id).await?;
    object_scopes::Entity::insert_many(scopes.iter().map(|scope| object_scopes::ActiveModel {
        object_type: Set(object.slug().to_owned()),
        object_id: Set(id),
        scope_id: Set(*scope),
    }))
    .exec(db)
    .await?;
    Ok(())
}

/// Forgets the scopes of a deleted object.
pub(crate) async fn remove<C: ConnectionTrait>(db: &C, object: ObjectType, id: i64) -> Result<()> {
    object_scopes::Entity::delete_many()
        .filter(object_scopes::Column::ObjectType.eq(object.slug()))
        .filter(object_scopes::Column::ObjectId.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The scopes a new object gets: those of its creator's assignments that allow creating it
/// ("Default" for an assignment on all scopes, and for objects Wimdeck makes itself).
pub(crate) async fn for_new_object<C: ConnectionTrait>(
    db: &C,
    object: ObjectType,
    creator: Option<i64>,
) -> Result<Vec<i64>> {
    let default = default_scope(db).await?;
    let Some(user_id) = creator else {
        return Ok(vec![default]);
    };
    let scopes = super::load_grants(db, user_id)
        .await?
        .creation_scopes(object, default);
    Ok(match scopes.is_empty() {
        true => vec![default],
        false => scopes.into_iter().collect(),
    })
}
