use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "security_roles")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub slug: Option<String>,
    pub name: String,
    pub name_key: String,
    pub description: String,
    pub builtin: bool,
    pub permissions: String,
    pub copied_from: Option<i64>,
    pub row_version: i32,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
