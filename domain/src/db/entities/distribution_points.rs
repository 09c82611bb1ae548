use sea_orm::entity::prelude::*;

/// A distribution point: this server, or a remote DP enrolled with its own credential.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "distribution_points")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub description: String,
    pub kind: String,
    pub enabled: bool,
    /// JSON list of CIDR subnets.
    pub boundaries: String,
    pub rate_limit_kbps: Option<i32>,
    pub rate_limit_hours: Option<String>,
    pub concurrent_transfers: i32,
    pub prestaged_enabled: bool,
    pub validate_every_hours: Option<i32>,
    pub credential_hash: Option<String>,
    pub enrolled_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
    pub last_contact_ms: Option<i64>,
    pub agent_version: Option<String>,
    pub free_bytes: Option<i64>,
    pub library_bytes: Option<i64>,
    pub created_by: String,
    pub created_at_ms: i64,
    pub row_version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
