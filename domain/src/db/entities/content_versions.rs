use sea_orm::entity::prelude::*;

/// One version of a content: its manifest and what storing it cost.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "content_versions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub content_id: i64,
    pub number: i32,
    pub manifest_sha256: String,
    pub fingerprint: String,
    pub file_count: i32,
    pub total_bytes: i64,
    pub new_bytes: i64,
    pub chunk_count: i32,
    pub reason: String,
    pub created_by: String,
    pub created_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
