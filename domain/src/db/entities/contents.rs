use sea_orm::entity::prelude::*;

/// A distributable object in the content library.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contents")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub object_type: String,
    pub object_id: i64,
    pub name: String,
    pub priority: String,
    pub prestaged_behavior: String,
    pub on_demand: bool,
    pub differential: bool,
    pub created_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
