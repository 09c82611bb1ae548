//! The durable job queue: jobs, their logs, and schedules that create jobs.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Jobs {
    Table,
    Id,
    Kind,
    Params,
    State,
    Attempts,
    MaxAttempts,
    RetrySafe,
    OwnerUserId,
    OwnerName,
    TargetType,
    TargetId,
    TargetLabel,
    IdempotencyKey,
    ScheduleId,
    RetryOf,
    RunAfterMs,
    CreatedAtMs,
    StartedAtMs,
    FinishedAtMs,
    UpdatedAtMs,
    LeaseToken,
    LeaseExpiresAtMs,
    Worker,
    CancelRequested,
    Progress,
    Result,
    Error,
}

#[derive(DeriveIden, Clone, Copy)]
enum JobLogs {
    Table,
    Id,
    JobId,
    AtMs,
    Level,
    Message,
}

#[derive(DeriveIden, Clone, Copy)]
enum Schedules {
    Table,
    Id,
    Name,
    Kind,
    Params,
    SpecKind,
    Spec,
    Enabled,
    NextRunAtMs,
    LastRunAtMs,
    LastJobId,
    OwnerUserId,
    CreatedAtMs,
    UpdatedAtMs,
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Jobs::Table)
                    .col(big_pk_auto(Jobs::Id))
                    .col(string_len(Jobs::Kind, 64))
                    .col(text(Jobs::Params))
                    .col(string_len(Jobs::State, 16))
                    .col(integer(Jobs::Attempts).default(0))
                    .col(integer(Jobs::MaxAttempts))
                    .col(boolean(Jobs::RetrySafe))
                    .col(big_integer_null(Jobs::OwnerUserId))
                    .col(string_len_null(Jobs::OwnerName, 64))
                    .col(string_len_null(Jobs::TargetType, 32))
                    .col(string_len_null(Jobs::TargetId, 64))
                    .col(string_len_null(Jobs::TargetLabel, 256))
                    .col(string_len_null(Jobs::IdempotencyKey, 128).unique_key())
                    .col(big_integer_null(Jobs::ScheduleId))
                    .col(big_integer_null(Jobs::RetryOf))
                    .col(big_integer(Jobs::RunAfterMs))
                    .col(big_integer(Jobs::CreatedAtMs))
                    .col(big_integer_null(Jobs::StartedAtMs))
                    .col(big_integer_null(Jobs::FinishedAtMs))
                    .col(big_integer(Jobs::UpdatedAtMs))
                    .col(string_len_null(Jobs::LeaseToken, 64))
                    .col(big_integer_null(Jobs::LeaseExpiresAtMs))
                    .col(string_len_null(Jobs::Worker, 64))
                    .col(boolean(Jobs::CancelRequested).default(false))
                    .col(text_null(Jobs::Progress))
                    .col(text_null(Jobs::Result))
                    .col(text_null(Jobs::Error))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Jobs::Table, Jobs::OwnerUserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // Claiming: the oldest runnable job of a kind.
        index(
            manager,
            "idx_jobs_claim",
            Jobs::Table,
            &[Jobs::State, Jobs::Kind, Jobs::RunAfterMs],
        )
        .await?;
        // Listing newest first under each filter stays an index walk with 100,000s of rows.
        index(
            manager,
            "idx_jobs_state_id",
            Jobs::Table,
            &[Jobs::State, Jobs::Id],
        )
        .await?;
        index(
            manager,
            "idx_jobs_kind_id",
            Jobs::Table,
            &[Jobs::Kind, Jobs::Id],
        )
        .await?;
        index(
            manager,
            "idx_jobs_target_id",
            Jobs::Table,
            &[Jobs::TargetType, Jobs::TargetId, Jobs::Id],
        )
        .await?;
        index(
            manager,
            "idx_jobs_lease",
            Jobs::Table,
            &[Jobs::State, Jobs::LeaseExpiresAtMs],
        )
        .await?;
        index(
            manager,
            "idx_jobs_finished",
            Jobs::Table,
            &[Jobs::FinishedAtMs],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(JobLogs::Table)
                    .col(big_pk_auto(JobLogs::Id))
                    .col(big_integer(JobLogs::JobId))
                    .col(big_integer(JobLogs::AtMs))
                    .col(string_len(JobLogs::Level, 8))
                    .col(text(JobLogs::Message))
                    .foreign_key(
                        ForeignKey::create()
                            .from(JobLogs::Table, JobLogs::JobId)
                            .to(Jobs::Table, Jobs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_job_logs_job_id",
            JobLogs::Table,
            &[JobLogs::JobId, JobLogs::Id],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Schedules::Table)
                    .col(big_pk_auto(Schedules::Id))
                    .col(string_len(Schedules::Name, 128))
                    .col(string_len(Schedules::Kind, 64))
                    .col(text(Schedules::Params))
                    .col(string_len(Schedules::SpecKind, 16))
                    .col(string_len(Schedules::Spec, 128))
                    .col(boolean(Schedules::Enabled).default(true))
                    .col(big_integer_null(Schedules::NextRunAtMs))
                    .col(big_integer_null(Schedules::LastRunAtMs))
                    .col(big_integer_null(Schedules::LastJobId))
                    .col(big_integer_null(Schedules::OwnerUserId))
                    .col(big_integer(Schedules::CreatedAtMs))
                    .col(big_integer(Schedules::UpdatedAtMs))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Schedules::Table, Schedules::OwnerUserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_schedules_due",
            Schedules::Table,
            &[Schedules::Enabled, Schedules::NextRunAtMs],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            JobLogs::Table.into_iden(),
            Schedules::Table.into_iden(),
            Jobs::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

async fn index<T: IntoIden + Copy, C: IntoIden + Copy>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    columns: &[C],
) -> Result<(), DbErr> {
    let mut statement = Index::create();
    statement.name(name).table(table);
    for column in columns {
        statement.col(*column);
    }
    manager.create_index(statement.to_owned()).await
}
