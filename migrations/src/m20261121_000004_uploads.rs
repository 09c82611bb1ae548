//! Files admins upload from the browser, received in chunks so an upload can resume.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Uploads {
    Table,
    /// A random token: the upload's address in `PUT /api/uploads/<id>`.
    Id,
    UserId,
    /// The file's name as the browser gave it (checked: no folders, no control characters).
    FileName,
    /// The size the browser announced; nothing beyond it is accepted.
    SizeBytes,
    /// How much has been written, contiguously from the start.
    ReceivedBytes,
    /// Set when the last byte arrived: the SHA-256 computed while receiving.
    Sha256,
    /// Where the complete file is, inside the uploads folder.
    Path,
    CreatedAtMs,
    UpdatedAtMs,
    CompletedAtMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Uploads::Table)
                    .col(string_len(Uploads::Id, 64).primary_key())
                    .col(big_integer(Uploads::UserId))
                    .col(string_len(Uploads::FileName, 255))
                    .col(big_integer(Uploads::SizeBytes))
                    .col(big_integer(Uploads::ReceivedBytes))
                    .col(string_len_null(Uploads::Sha256, 64))
                    .col(text(Uploads::Path))
                    .col(big_integer(Uploads::CreatedAtMs))
                    .col(big_integer(Uploads::UpdatedAtMs))
                    .col(big_integer_null(Uploads::CompletedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_uploads_user")
                    .table(Uploads::Table)
                    .col(Uploads::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Uploads::Table).to_owned())
            .await
    }
}
