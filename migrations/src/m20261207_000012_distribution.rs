//! Distribution points: the DPs themselves (`distribution_points`, "This server" among them),
//! their one-time enrollment tokens (`dp_enrollments`), groups (`dp_groups`,
//! `dp_group_members`, and the content sent to a group, `dp_group_contents`), what each DP is
//! to hold (`distribution_assignments`) and the history of each assignment
//! (`distribution_events`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum DistributionPoints {
    Table,
    Id,
    Name,
    Description,
    /// `site` (this server) or `remote`.
    Kind,
    Enabled,
    /// JSON list of the subnets (CIDR) the DP serves.
    Boundaries,
    /// KiB/s; NULL: unlimited.
    RateLimitKbps,
    /// `HH-HH` (local time of the DP) when the limit applies; NULL: always.
    RateLimitHours,
    ConcurrentTransfers,
    PrestagedEnabled,
    /// Hours between the DP's own validations of its content; NULL: only when asked.
    ValidateEveryHours,
    /// SHA-256 of the DP's credential; NULL until enrolled.
    CredentialHash,
    EnrolledAtMs,
    RevokedAtMs,
    LastContactMs,
    AgentVersion,
    FreeBytes,
    LibraryBytes,
    CreatedBy,
    CreatedAtMs,
    RowVersion,
}

#[derive(DeriveIden, Clone, Copy)]
enum DpEnrollments {
    Table,
    Id,
    DpId,
    TokenHash,
    ExpiresAtMs,
    UsedAtMs,
    CreatedBy,
    CreatedAtMs,
}

#[derive(DeriveIden, Clone, Copy)]
enum DpGroups {
    Table,
    Id,
    Name,
    Description,
    CreatedAtMs,
}

#[derive(DeriveIden, Clone, Copy)]
enum DpGroupMembers {
    Table,
    GroupId,
    DpId,
}

#[derive(DeriveIden, Clone, Copy)]
enum DpGroupContents {
    Table,
    GroupId,
    ContentId,
}

#[derive(DeriveIden, Clone, Copy)]
enum DistributionAssignments {
    Table,
    Id,
    ContentId,
    DpId,
    /// The version the DP is to hold; NULL while the content is being removed from it.
    TargetVersionId,
    /// The version the DP reported it holds, verified.
    InstalledVersionId,
    /// `waiting`, `in_progress`, `success`, `failed`, `validation_failed`, `removing`.
    State,
    Detail,
    /// Bumped by every request (distribute, update, redistribute, validate, remove): a report
    /// about an older request changes nothing.
    Generation,
    /// What the DP asked for: `install` or `validate`.
    Action,
    BytesTotal,
    BytesNeeded,
    BytesDone,
    RateBps,
    UpdatedAtMs,
    ValidatedAtMs,
    CreatedAtMs,
}

#[derive(DeriveIden, Clone, Copy)]
enum DistributionEvents {
    Table,
    Id,
    ContentId,
    DpId,
    AtMs,
    State,
    VersionNumber,
    Detail,
}

#[derive(DeriveIden, Clone, Copy)]
enum Contents {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum ContentVersions {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DistributionPoints::Table)
                    .col(big_pk_auto(DistributionPoints::Id))
                    .col(string_len(DistributionPoints::Name, 128).unique_key())
                    .col(text(DistributionPoints::Description).default(""))
                    .col(string_len(DistributionPoints::Kind, 16))
                    .col(boolean(DistributionPoints::Enabled).default(true))
                    .col(text(DistributionPoints::Boundaries).default("[]"))
                    .col(integer_null(DistributionPoints::RateLimitKbps))
                    .col(string_len_null(DistributionPoints::RateLimitHours, 16))
                    .col(integer(DistributionPoints::ConcurrentTransfers).default(2))
                    .col(boolean(DistributionPoints::PrestagedEnabled).default(false))
                    .col(integer_null(DistributionPoints::ValidateEveryHours))
                    .col(string_len_null(DistributionPoints::CredentialHash, 64))
                    .col(big_integer_null(DistributionPoints::EnrolledAtMs))
                    .col(big_integer_null(DistributionPoints::RevokedAtMs))
                    .col(big_integer_null(DistributionPoints::LastContactMs))
                    .col(string_len_null(DistributionPoints::AgentVersion, 32))
                    .col(big_integer_null(DistributionPoints::FreeBytes))
                    .col(big_integer_null(DistributionPoints::LibraryBytes))
                    .col(string_len(DistributionPoints::CreatedBy, 64))
                    .col(big_integer(DistributionPoints::CreatedAtMs))
                    .col(integer(DistributionPoints::RowVersion).default(1))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_distribution_points_credential")
                    .table(DistributionPoints::Table)
                    .col(DistributionPoints::CredentialHash)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DpEnrollments::Table)
                    .col(big_pk_auto(DpEnrollments::Id))
                    .col(big_integer(DpEnrollments::DpId))
                    .col(string_len(DpEnrollments::TokenHash, 64).unique_key())
                    .col(big_integer(DpEnrollments::ExpiresAtMs))
                    .col(big_integer_null(DpEnrollments::UsedAtMs))
                    .col(string_len(DpEnrollments::CreatedBy, 64))
                    .col(big_integer(DpEnrollments::CreatedAtMs))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DpEnrollments::Table, DpEnrollments::DpId)
                            .to(DistributionPoints::Table, DistributionPoints::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DpGroups::Table)
                    .col(big_pk_auto(DpGroups::Id))
                    .col(string_len(DpGroups::Name, 128).unique_key())
                    .col(text(DpGroups::Description).default(""))
                    .col(big_integer(DpGroups::CreatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DpGroupMembers::Table)
                    .col(big_integer(DpGroupMembers::GroupId))
                    .col(big_integer(DpGroupMembers::DpId))
                    .primary_key(
                        Index::create()
                            .col(DpGroupMembers::GroupId)
                            .col(DpGroupMembers::DpId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DpGroupMembers::Table, DpGroupMembers::GroupId)
                            .to(DpGroups::Table, DpGroups::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DpGroupMembers::Table, DpGroupMembers::DpId)
                            .to(DistributionPoints::Table, DistributionPoints::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DpGroupContents::Table)
                    .col(big_integer(DpGroupContents::GroupId))
                    .col(big_integer(DpGroupContents::ContentId))
                    .primary_key(
                        Index::create()
                            .col(DpGroupContents::GroupId)
                            .col(DpGroupContents::ContentId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DpGroupContents::Table, DpGroupContents::GroupId)
                            .to(DpGroups::Table, DpGroups::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DpGroupContents::Table, DpGroupContents::ContentId)
                            .to(Contents::Table, Contents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DistributionAssignments::Table)
                    .col(big_pk_auto(DistributionAssignments::Id))
                    .col(big_integer(DistributionAssignments::ContentId))
                    .col(big_integer(DistributionAssignments::DpId))
                    .col(big_integer_null(DistributionAssignments::TargetVersionId))
                    .col(big_integer_null(
                        DistributionAssignments::InstalledVersionId,
                    ))
                    .col(string_len(DistributionAssignments::State, 24))
                    .col(text_null(DistributionAssignments::Detail))
                    .col(integer(DistributionAssignments::Generation).default(1))
                    .col(string_len(DistributionAssignments::Action, 16).default("install"))
                    .col(big_integer_null(DistributionAssignments::BytesTotal))
                    .col(big_integer_null(DistributionAssignments::BytesNeeded))
                    .col(big_integer(DistributionAssignments::BytesDone).default(0))
                    .col(big_integer_null(DistributionAssignments::RateBps))
                    .col(big_integer(DistributionAssignments::UpdatedAtMs))
                    .col(big_integer_null(DistributionAssignments::ValidatedAtMs))
                    .col(big_integer(DistributionAssignments::CreatedAtMs))
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                DistributionAssignments::Table,
                                DistributionAssignments::ContentId,
                            )
                            .to(Contents::Table, Contents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                DistributionAssignments::Table,
                                DistributionAssignments::DpId,
                            )
                            .to(DistributionPoints::Table, DistributionPoints::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // A version a DP holds or is to hold is never collected.
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                DistributionAssignments::Table,
                                DistributionAssignments::TargetVersionId,
                            )
                            .to(ContentVersions::Table, ContentVersions::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                DistributionAssignments::Table,
                                DistributionAssignments::InstalledVersionId,
                            )
                            .to(ContentVersions::Table, ContentVersions::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_distribution_assignments_pair")
                    .table(DistributionAssignments::Table)
                    .col(DistributionAssignments::ContentId)
                    .col(DistributionAssignments::DpId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_distribution_assignments_dp")
                    .table(DistributionAssignments::Table)
                    .col(DistributionAssignments::DpId)
                    .col(DistributionAssignments::State)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DistributionEvents::Table)
                    .col(big_pk_auto(DistributionEvents::Id))
                    .col(big_integer(DistributionEvents::ContentId))
                    .col(big_integer(DistributionEvents::DpId))
                    .col(big_integer(DistributionEvents::AtMs))
                    .col(string_len(DistributionEvents::State, 24))
                    .col(integer_null(DistributionEvents::VersionNumber))
                    .col(text_null(DistributionEvents::Detail))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DistributionEvents::Table, DistributionEvents::ContentId)
                            .to(Contents::Table, Contents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DistributionEvents::Table, DistributionEvents::DpId)
                            .to(DistributionPoints::Table, DistributionPoints::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_distribution_events_pair")
                    .table(DistributionEvents::Table)
                    .col(DistributionEvents::ContentId)
                    .col(DistributionEvents::DpId)
                    .col(DistributionEvents::AtMs)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DistributionEvents::Table).to_owned())
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(DistributionAssignments::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(DpGroupContents::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(DpGroupMembers::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(DpGroups::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(DpEnrollments::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(DistributionPoints::Table).to_owned())
            .await?;
        Ok(())
    }
}
