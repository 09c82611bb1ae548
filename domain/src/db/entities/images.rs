use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "images")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: String,
    pub name: String,
    pub name_key: String,
    pub version: String,
    pub comment: String,
    pub source_path: String,
    pub source_index: Option<i32>,
    pub file_path: String,
    pub owned: bool,
    pub default_for: Option<String>,
    pub architecture: Option<String>,
    pub language: Option<String>,
    pub os_version: Option<String>,
    pub winpe_release: Option<String>,
    pub winpe_support: Option<String>,
    pub image_count: i32,
    pub decompressed_bytes: i64,
    pub file_bytes: i64,
    pub sha256: String,
    /// JSON of the `WimInspection`.
    pub metadata: String,
    pub state: String,
    pub state_detail: Option<String>,
    pub verified_at_ms: Option<i64>,
    pub row_version: i32,
    pub content_revision: i32,
    pub created_by: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
