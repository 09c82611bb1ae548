//! The audit log: append-only, each entry chained to the previous one by SHA-256, so an
//! edited, removed or reordered row is detectable (`wimdeck audit verify`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum AuditLog {
    Table,
    Id,
    AtMs,
    /// NULL for Wimdeck's own work.
    UserId,
    Username,
    /// `modify`, `create`, … (the operation's kebab-case name).
    Operation,
    /// `boot-image`, `security`, …
    ObjectType,
    ObjectId,
    ObjectName,
    /// JSON: `{"field": [before, after]}`.
    Changes,
    /// `allowed` or `denied`.
    Outcome,
    Detail,
    SourceAddr,
    /// The previous entry's hash (64 zeros for the first); unique, so the chain cannot fork.
    PrevHash,
    Hash,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(big_pk_auto(AuditLog::Id))
                    .col(big_integer(AuditLog::AtMs))
                    .col(big_integer_null(AuditLog::UserId))
                    .col(string_len(AuditLog::Username, 64))
                    .col(string_len(AuditLog::Operation, 32))
                    .col(string_len(AuditLog::ObjectType, 32))
                    .col(string_len_null(AuditLog::ObjectId, 64))
                    .col(text(AuditLog::ObjectName))
                    .col(text(AuditLog::Changes))
                    .col(string_len(AuditLog::Outcome, 8))
                    .col(text(AuditLog::Detail))
                    .col(string_len(AuditLog::SourceAddr, 64))
                    .col(string_len(AuditLog::PrevHash, 64).unique_key())
                    .col(string_len(AuditLog::Hash, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_log_at")
                    .table(AuditLog::Table)
                    .col(AuditLog::AtMs)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditLog::Table).to_owned())
            .await
    }
}
