//! The image catalog: boot images and OS images, and the files jobs are writing for it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Images {
    Table,
    Id,
    /// `boot` or `os`.
    Kind,
    Name,
    /// Lower-case name: names are unique per kind, ignoring case, as on Windows.
    NameKey,
    Version,
    Comment,
    /// What the admin gave (a local or share path, or `upload:<name>`).
    SourcePath,
    /// The image index taken from the source; NULL when every index was imported.
    SourceIndex,
    /// The WIM file in use.
    FilePath,
    /// Whether Wimdeck wrote the file (and so deletes it with the image).
    Owned,
    /// For default boot images: the architecture they are the default for.
    DefaultFor,
    Architecture,
    Language,
    OsVersion,
    WinpeRelease,
    WinpeSupport,
    ImageCount,
    DecompressedBytes,
    FileBytes,
    Sha256,
    /// The full inspection, as JSON.
    Metadata,
    /// `ready`, `damaged` or `missing`.
    State,
    StateDetail,
    VerifiedAtMs,
    /// Bumped by every edit: an edit based on an older row is a conflict.
    RowVersion,
    /// Bumped whenever the file is replaced (optimize, regeneration).
    ContentRevision,
    CreatedBy,
    CreatedAtMs,
    UpdatedAtMs,
}

/// Files a job is about to write for the catalog. A row outlives its job only after a crash;
/// the start-up sweep then removes the file unless the catalog uses it.
#[derive(DeriveIden, Clone, Copy)]
enum PendingOutputs {
    Table,
    Id,
    Path,
    JobId,
    CreatedAtMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Images::Table)
                    .col(big_pk_auto(Images::Id))
                    .col(string_len(Images::Kind, 8))
                    .col(string_len(Images::Name, 128))
                    .col(string_len(Images::NameKey, 128))
                    .col(string_len(Images::Version, 64).default(""))
                    .col(text(Images::Comment))
                    .col(text(Images::SourcePath))
                    .col(integer_null(Images::SourceIndex))
                    .col(text(Images::FilePath))
                    .col(boolean(Images::Owned))
                    .col(string_len_null(Images::DefaultFor, 16).unique_key())
                    .col(string_len_null(Images::Architecture, 16))
                    .col(string_len_null(Images::Language, 32))
                    .col(string_len_null(Images::OsVersion, 32))
                    .col(string_len_null(Images::WinpeRelease, 16))
                    .col(string_len_null(Images::WinpeSupport, 32))
                    .col(integer(Images::ImageCount))
                    .col(big_integer(Images::DecompressedBytes))
                    .col(big_integer(Images::FileBytes))
                    .col(string_len(Images::Sha256, 64))
                    .col(text(Images::Metadata))
                    .col(string_len(Images::State, 16))
                    .col(text_null(Images::StateDetail))
                    .col(big_integer_null(Images::VerifiedAtMs))
                    .col(integer(Images::RowVersion).default(1))
                    .col(integer(Images::ContentRevision).default(1))
                    .col(string_len(Images::CreatedBy, 64))
                    .col(big_integer(Images::CreatedAtMs))
                    .col(big_integer(Images::UpdatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_images_kind_name")
                    .table(Images::Table)
                    .col(Images::Kind)
                    .col(Images::NameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PendingOutputs::Table)
                    .col(big_pk_auto(PendingOutputs::Id))
                    .col(text(PendingOutputs::Path))
                    .col(big_integer_null(PendingOutputs::JobId))
                    .col(big_integer(PendingOutputs::CreatedAtMs))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PendingOutputs::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Images::Table).to_owned())
            .await
    }
}
