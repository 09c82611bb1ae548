use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: String,
    /// JSON.
    pub params: String,
    pub state: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub retry_safe: bool,
    pub owner_user_id: Option<i64>,
    pub owner_name: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub target_label: Option<String>,
    pub idempotency_key: Option<String>,
    pub schedule_id: Option<i64>,
    pub retry_of: Option<i64>,
    pub run_after_ms: i64,
    pub created_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    pub updated_at_ms: i64,
    pub lease_token: Option<String>,
    pub lease_expires_at_ms: Option<i64>,
    pub worker: Option<String>,
    pub cancel_requested: bool,
    /// JSON `ProgressSnapshot`.
    pub progress: Option<String>,
    /// JSON.
    pub result: Option<String>,
    pub error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
