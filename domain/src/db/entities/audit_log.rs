use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at_ms: i64,
    pub user_id: Option<i64>,
    pub username: String,
    pub operation: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub object_name: String,
    pub changes: String,
    pub outcome: String,
    pub detail: String,
    pub source_addr: String,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
