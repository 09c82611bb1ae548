use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "drivers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub content_hash: String,
    pub package_id: i64,
    pub name: String,
    pub inf_name: String,
    pub class: String,
    pub class_guid: Option<String>,
    pub provider: String,
    pub version: String,
    pub driver_date: Option<String>,
    pub architectures: String,
    /// JSON array of `HardwareId`.
    pub hardware_ids: String,
    /// JSON array of relative paths.
    pub files: String,
    pub size_bytes: i64,
    pub store_path: String,
    pub signed: bool,
    pub signer: Option<String>,
    pub signature_detail: Option<String>,
    pub enabled: bool,
    pub search_text: String,
    pub row_version: i32,
    pub created_by: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
