use sea_orm::entity::prelude::*;

/// A one-time enrollment token of a DP (only its hash is kept).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dp_enrollments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub dp_id: i64,
    pub token_hash: String,
    pub expires_at_ms: i64,
    pub used_at_ms: Option<i64>,
    pub created_by: String,
    pub created_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
