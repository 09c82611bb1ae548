use sea_orm::entity::prelude::*;

/// What one DP is to hold of one content, and how far it is.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "distribution_assignments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub content_id: i64,
    pub dp_id: i64,
    pub target_version_id: Option<i64>,
    pub installed_version_id: Option<i64>,
    pub state: String,
    pub detail: Option<String>,
    pub generation: i32,
    pub action: String,
    pub bytes_total: Option<i64>,
    pub bytes_needed: Option<i64>,
    pub bytes_done: i64,
    pub rate_bps: Option<i64>,
    pub updated_at_ms: i64,
    pub validated_at_ms: Option<i64>,
    pub created_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
