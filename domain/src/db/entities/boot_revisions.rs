use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "boot_revisions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub image_id: i64,
    pub number: i32,
    pub file_path: Option<String>,
    pub sha256: String,
    pub size_bytes: i64,
    /// JSON of the `Recipe`.
    pub recipe: String,
    pub base_path: String,
    pub base_sha256: String,
    /// JSON of the file's `WimInspection`.
    pub metadata: String,
    pub reason: String,
    pub created_by: String,
    pub created_at_ms: i64,
    pub job_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
