//! The content library: every distributable object (`contents`), its versions
//! (`content_versions`, each naming the manifest written for it), the chunks stored on disk
//! (`content_chunks`) and which chunks each version uses (`content_version_chunks`).
//!
//! `content_library` holds one row that the collector and every new version lock in their
//! committing transactions: a chunk is deleted only when no version uses it, and a version
//! commits only when every chunk it names is on disk.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Contents {
    Table,
    Id,
    /// The object's type slug (`boot-image`, `os-image`, `driver-package`).
    ObjectType,
    ObjectId,
    /// The object's name when its newest version was made (kept after the object goes).
    Name,
    /// Distribution settings: `high`, `medium` or `low`.
    Priority,
    /// For DPs enabled for prestaged content: `automatic`, `changes` (only changes are
    /// downloaded) or `manual` (copied by hand).
    PrestagedBehavior,
    /// Sent to a preferred DP when a client asks it for the content.
    OnDemand,
    /// Binary differential replication: only the chunks a DP lacks are sent.
    Differential,
    CreatedAtMs,
}

#[derive(DeriveIden, Clone, Copy)]
enum ContentVersions {
    Table,
    Id,
    ContentId,
    Number,
    /// SHA-256 of the manifest file (`content/manifests/<sha>.json`).
    ManifestSha256,
    /// SHA-256 over the files' paths and hashes: equal for equal content.
    Fingerprint,
    FileCount,
    TotalBytes,
    /// Bytes of the chunks this version was the first to store.
    NewBytes,
    ChunkCount,
    Reason,
    CreatedBy,
    CreatedAtMs,
}

#[derive(DeriveIden, Clone, Copy)]
enum ContentChunks {
    Table,
    Sha256,
    SizeBytes,
    /// When a version last claimed it: the collector leaves recent chunks alone.
    TouchedAtMs,
}

#[derive(DeriveIden, Clone, Copy)]
enum ContentVersionChunks {
    Table,
    VersionId,
    Sha256,
}

#[derive(DeriveIden, Clone, Copy)]
enum ContentLibrary {
    Table,
    Id,
    /// Gives SQLite's locking statement a column to write; collections and version commits
    /// lock the row.
    CollectEpoch,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Contents::Table)
                    .col(big_pk_auto(Contents::Id))
                    .col(string_len(Contents::ObjectType, 32))
                    .col(big_integer(Contents::ObjectId))
                    .col(string_len(Contents::Name, 256))
                    .col(string_len(Contents::Priority, 8).default("medium"))
                    .col(string_len(Contents::PrestagedBehavior, 16).default("automatic"))
                    .col(boolean(Contents::OnDemand).default(false))
                    .col(boolean(Contents::Differential).default(true))
                    .col(big_integer(Contents::CreatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_contents_object")
                    .table(Contents::Table)
                    .col(Contents::ObjectType)
                    .col(Contents::ObjectId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ContentVersions::Table)
                    .col(big_pk_auto(ContentVersions::Id))
                    .col(big_integer(ContentVersions::ContentId))
                    .col(integer(ContentVersions::Number))
                    .col(string_len(ContentVersions::ManifestSha256, 64))
                    .col(string_len(ContentVersions::Fingerprint, 64))
                    .col(integer(ContentVersions::FileCount))
                    .col(big_integer(ContentVersions::TotalBytes))
                    .col(big_integer(ContentVersions::NewBytes))
                    .col(integer(ContentVersions::ChunkCount))
                    .col(text(ContentVersions::Reason))
                    .col(string_len(ContentVersions::CreatedBy, 64))
                    .col(big_integer(ContentVersions::CreatedAtMs))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ContentVersions::Table, ContentVersions::ContentId)
                            .to(Contents::Table, Contents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_content_versions_number")
                    .table(ContentVersions::Table)
                    .col(ContentVersions::ContentId)
                    .col(ContentVersions::Number)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ContentChunks::Table)
                    .col(string_len(ContentChunks::Sha256, 64).primary_key())
                    .col(big_integer(ContentChunks::SizeBytes))
                    .col(big_integer(ContentChunks::TouchedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ContentVersionChunks::Table)
                    .col(big_integer(ContentVersionChunks::VersionId))
                    .col(string_len(ContentVersionChunks::Sha256, 64))
                    .primary_key(
                        Index::create()
                            .col(ContentVersionChunks::VersionId)
                            .col(ContentVersionChunks::Sha256),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ContentVersionChunks::Table, ContentVersionChunks::VersionId)
                            .to(ContentVersions::Table, ContentVersions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // A chunk a version uses cannot be deleted: the database itself keeps the
                    // library whole.
                    .foreign_key(
                        ForeignKey::create()
                            .from(ContentVersionChunks::Table, ContentVersionChunks::Sha256)
                            .to(ContentChunks::Table, ContentChunks::Sha256)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_content_version_chunks_sha256")
                    .table(ContentVersionChunks::Table)
                    .col(ContentVersionChunks::Sha256)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ContentLibrary::Table)
                    .col(integer(ContentLibrary::Id).primary_key())
                    .col(big_integer(ContentLibrary::CollectEpoch).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(ContentLibrary::Table)
                    .columns([ContentLibrary::Id, ContentLibrary::CollectEpoch])
                    .values([1.into(), 0.into()])
                    .map_err(|e| DbErr::Custom(e.to_string()))?
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ContentLibrary::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ContentVersionChunks::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ContentChunks::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ContentVersions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Contents::Table).to_owned())
            .await?;
        Ok(())
    }
}
