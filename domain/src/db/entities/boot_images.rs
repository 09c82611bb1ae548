use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "boot_images")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub image_id: i64,
    pub base_path: String,
    pub base_sha256: String,
    /// JSON of the `Customization`.
    pub customization: String,
    /// JSON of the `Shell`.
    pub shell: Option<String>,
    pub current_revision: i32,
    pub recipe_version: i32,
    /// JSON of the `BaseFacts`.
    pub facts: Option<String>,
    pub default_source_version: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
