//! The driver catalog (packages, drivers, their categories) and the drivers each boot image
//! is to carry.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum DriverPackages {
    Table,
    Id,
    /// What the admin named the import (default: the source's file name).
    Name,
    /// The folder, archive or upload imported.
    Source,
    /// `folder`, `zip` or `cab`.
    Format,
    /// SHA-256 of the archive (empty for a folder).
    Sha256,
    /// Drivers of this package the catalog kept (new or duplicates of existing ones).
    DriverCount,
    RejectedCount,
    JobId,
    ImportedBy,
    ImportedAtMs,
}

#[derive(DeriveIden, Clone, Copy)]
enum Drivers {
    Table,
    Id,
    /// SHA-256 over the driver's files (names and contents): one entry per distinct driver.
    ContentHash,
    /// The package the driver first came in.
    PackageId,
    /// The first device description of its models.
    Name,
    /// The INF's file name.
    InfName,
    Class,
    ClassGuid,
    Provider,
    Version,
    /// `yyyy-mm-dd`.
    DriverDate,
    /// `,amd64,x86,`: delimited so a `LIKE '%,amd64,%'` finds one.
    Architectures,
    /// JSON: hardware and compatible IDs per model.
    HardwareIds,
    /// JSON: the files, relative to the INF's folder.
    Files,
    SizeBytes,
    /// Where the files are, in the driver store.
    StorePath,
    Signed,
    Signer,
    /// Why the driver counts as unsigned.
    SignatureDetail,
    Enabled,
    /// Lower-cased name, provider, INF, class and IDs, for the text filter.
    SearchText,
    RowVersion,
    CreatedBy,
    CreatedAtMs,
    UpdatedAtMs,
}

#[derive(DeriveIden, Clone, Copy)]
enum DriverCategories {
    Table,
    DriverId,
    Category,
}

#[derive(DeriveIden, Clone, Copy)]
enum BootImageDrivers {
    Table,
    ImageId,
    DriverId,
    AddedBy,
    AddedAtMs,
}

#[derive(DeriveIden, Clone, Copy)]
enum Images {
    Table,
    /// The boot image without injected drivers: what every driver revision is built from.
    /// NULL while the file in use is that image.
    BaseFilePath,
    /// JSON: the drivers the file in use contains.
    InjectedDrivers,
    /// The content revision that has the injected drivers.
    DriversRevision,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DriverPackages::Table)
                    .col(big_pk_auto(DriverPackages::Id))
                    .col(string_len(DriverPackages::Name, 128))
                    .col(text(DriverPackages::Source))
                    .col(string_len(DriverPackages::Format, 8))
                    .col(string_len(DriverPackages::Sha256, 64))
                    .col(integer(DriverPackages::DriverCount))
                    .col(integer(DriverPackages::RejectedCount))
                    .col(big_integer_null(DriverPackages::JobId))
                    .col(string_len(DriverPackages::ImportedBy, 64))
                    .col(big_integer(DriverPackages::ImportedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Drivers::Table)
                    .col(big_pk_auto(Drivers::Id))
                    .col(string_len(Drivers::ContentHash, 64).unique_key())
                    .col(big_integer(Drivers::PackageId))
                    .col(string_len(Drivers::Name, 256))
                    .col(string_len(Drivers::InfName, 128))
                    .col(string_len(Drivers::Class, 64))
                    .col(string_len_null(Drivers::ClassGuid, 38))
                    .col(string_len(Drivers::Provider, 256))
                    .col(string_len(Drivers::Version, 64))
                    .col(string_len_null(Drivers::DriverDate, 10))
                    .col(string_len(Drivers::Architectures, 64))
                    .col(text(Drivers::HardwareIds))
                    .col(text(Drivers::Files))
                    .col(big_integer(Drivers::SizeBytes))
                    .col(text(Drivers::StorePath))
                    .col(boolean(Drivers::Signed))
                    .col(string_len_null(Drivers::Signer, 256))
                    .col(text_null(Drivers::SignatureDetail))
                    .col(boolean(Drivers::Enabled).default(true))
                    .col(text(Drivers::SearchText))
                    .col(integer(Drivers::RowVersion).default(1))
                    .col(string_len(Drivers::CreatedBy, 64))
                    .col(big_integer(Drivers::CreatedAtMs))
                    .col(big_integer(Drivers::UpdatedAtMs))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Drivers::Table, Drivers::PackageId)
                            .to(DriverPackages::Table, DriverPackages::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_drivers_class")
                    .table(Drivers::Table)
                    .col(Drivers::Class)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DriverCategories::Table)
                    .col(big_integer(DriverCategories::DriverId))
                    .col(string_len(DriverCategories::Category, 64))
                    .primary_key(
                        Index::create()
                            .col(DriverCategories::DriverId)
                            .col(DriverCategories::Category),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DriverCategories::Table, DriverCategories::DriverId)
                            .to(Drivers::Table, Drivers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_driver_categories_category")
                    .table(DriverCategories::Table)
                    .col(DriverCategories::Category)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BootImageDrivers::Table)
                    .col(big_integer(BootImageDrivers::ImageId))
                    .col(big_integer(BootImageDrivers::DriverId))
                    .col(string_len(BootImageDrivers::AddedBy, 64))
                    .col(big_integer(BootImageDrivers::AddedAtMs))
                    .primary_key(
                        Index::create()
                            .col(BootImageDrivers::ImageId)
                            .col(BootImageDrivers::DriverId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_boot_image_drivers_driver")
                    .table(BootImageDrivers::Table)
                    .col(BootImageDrivers::DriverId)
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per statement.
        manager
            .alter_table(
                Table::alter()
                    .table(Images::Table)
                    .add_column(text_null(Images::BaseFilePath))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Images::Table)
                    .add_column(text(Images::InjectedDrivers).default("[]"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Images::Table)
                    .add_column(integer_null(Images::DriversRevision))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Images::DriversRevision,
            Images::InjectedDrivers,
            Images::BaseFilePath,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Images::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for table in [
            BootImageDrivers::Table.into_iden(),
            DriverCategories::Table.into_iden(),
            Drivers::Table.into_iden(),
            DriverPackages::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
