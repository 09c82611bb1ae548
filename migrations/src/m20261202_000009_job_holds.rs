//! The objects each job holds while it is queued or running: one job per object at a time.
//! A job's target (shown with it) is its first hold; some jobs hold more (the regeneration of
//! the default boot images holds every one of them).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum JobHolds {
    Table,
    JobId,
    TargetType,
    TargetId,
}

#[derive(DeriveIden, Clone, Copy)]
enum Jobs {
    Table,
    Id,
    State,
    TargetType,
    TargetId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(JobHolds::Table)
                    .col(big_integer(JobHolds::JobId))
                    .col(string_len(JobHolds::TargetType, 32))
                    .col(string_len(JobHolds::TargetId, 64))
                    .primary_key(
                        Index::create()
                            .col(JobHolds::JobId)
                            .col(JobHolds::TargetType)
                            .col(JobHolds::TargetId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(JobHolds::Table, JobHolds::JobId)
                            .to(Jobs::Table, Jobs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_job_holds_object")
                    .table(JobHolds::Table)
                    .col(JobHolds::TargetType)
                    .col(JobHolds::TargetId)
                    .to_owned(),
            )
            .await?;
        // Jobs queued or running when this table arrives hold their target.
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(JobHolds::Table)
                    .columns([JobHolds::JobId, JobHolds::TargetType, JobHolds::TargetId])
                    .select_from(
                        Query::select()
                            .columns([Jobs::Id, Jobs::TargetType, Jobs::TargetId])
                            .from(Jobs::Table)
                            .and_where(Expr::col(Jobs::TargetType).is_not_null())
                            .and_where(Expr::col(Jobs::TargetId).is_not_null())
                            .and_where(Expr::col(Jobs::State).is_in(["queued", "running"]))
                            .to_owned(),
                    )
                    .map_err(|e| DbErr::Migration(e.to_string()))?
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(JobHolds::Table).to_owned())
            .await
    }
}
