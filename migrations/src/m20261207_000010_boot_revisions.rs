//! Boot images built from a recipe: each boot image's base and customization
//! (`boot_images`), every build as a revision (`boot_revisions`), and the files catalog rows
//! hold besides the one in use (`held_files`: a revision's file, a base).
//!
//! Existing boot images become revision 1 of themselves: their base is the file they were
//! built from (the image's own file when no driver was ever applied), and the drivers their
//! file contains are revision 1's recipe. The columns that kept that on `images` go.

use sea_orm_migration::{
    prelude::*,
    schema::*,
    sea_orm::{ConnectionTrait, FromQueryResult, Statement},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum HeldFiles {
    Table,
    ImageId,
    Path,
}

#[derive(DeriveIden, Clone, Copy)]
enum BootImages {
    Table,
    ImageId,
    /// The one-index WIM in the image store every revision is built from.
    BasePath,
    BaseSha256,
    /// JSON: prestart, background, command support, scratch space, locale, language.
    Customization,
    /// JSON: what `winpeshl.ini` starts (capture or discover image); NULL for a boot image.
    Shell,
    CurrentRevision,
    /// Bumped by every change of the recipe: a change based on an older one is a conflict.
    RecipeVersion,
    /// JSON: what the base contains (languages, keyboard layouts, packages, programs), read
    /// from it once.
    Facts,
    /// Default boot images: the configured Windows PE version they were last regenerated
    /// from.
    DefaultSourceVersion,
}

#[derive(DeriveIden, Clone, Copy)]
enum BootRevisions {
    Table,
    Id,
    ImageId,
    Number,
    /// NULL once the revision's file was removed (only the newest revisions keep theirs).
    FilePath,
    Sha256,
    SizeBytes,
    /// JSON: the drivers, customization and shell the revision was built with.
    Recipe,
    BasePath,
    BaseSha256,
    /// JSON: the file's inspection (what the catalog row shows while it is current).
    Metadata,
    /// A sentence: why the revision was made.
    Reason,
    CreatedBy,
    CreatedAtMs,
    JobId,
}

#[derive(DeriveIden, Clone, Copy)]
enum Images {
    Table,
    Id,
    BaseFilePath,
    InjectedDrivers,
    DriversRevision,
}

#[derive(Debug, FromQueryResult)]
struct BootRow {
    id: i64,
    file_path: String,
    base_file_path: Option<String>,
    injected_drivers: String,
    sha256: String,
    file_bytes: i64,
    metadata: String,
    created_by: String,
    updated_at_ms: i64,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on SQLite too: the tables it moves data between change together, on
    /// one connection (statements of a migration outside a transaction go to any connection
    /// of the pool).
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(HeldFiles::Table)
                    .col(big_integer(HeldFiles::ImageId))
                    .col(string_len(HeldFiles::Path, 1024))
                    .primary_key(Index::create().col(HeldFiles::ImageId).col(HeldFiles::Path))
                    .foreign_key(
                        ForeignKey::create()
                            .from(HeldFiles::Table, HeldFiles::ImageId)
                            .to(Images::Table, Images::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_held_files_path")
                    .table(HeldFiles::Table)
                    .col(HeldFiles::Path)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BootImages::Table)
                    .col(big_integer(BootImages::ImageId).primary_key())
                    .col(text(BootImages::BasePath))
                    .col(string_len(BootImages::BaseSha256, 64).default(""))
                    .col(text(BootImages::Customization))
                    .col(text_null(BootImages::Shell))
                    .col(integer(BootImages::CurrentRevision))
                    .col(integer(BootImages::RecipeVersion).default(1))
                    .col(text_null(BootImages::Facts))
                    .col(string_len_null(BootImages::DefaultSourceVersion, 32))
                    .foreign_key(
                        ForeignKey::create()
                            .from(BootImages::Table, BootImages::ImageId)
                            .to(Images::Table, Images::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BootRevisions::Table)
                    .col(big_pk_auto(BootRevisions::Id))
                    .col(big_integer(BootRevisions::ImageId))
                    .col(integer(BootRevisions::Number))
                    .col(text_null(BootRevisions::FilePath))
                    .col(string_len(BootRevisions::Sha256, 64))
                    .col(big_integer(BootRevisions::SizeBytes))
                    .col(text(BootRevisions::Recipe))
                    .col(text(BootRevisions::BasePath))
                    .col(string_len(BootRevisions::BaseSha256, 64).default(""))
                    .col(text(BootRevisions::Metadata))
                    .col(text(BootRevisions::Reason))
                    .col(string_len(BootRevisions::CreatedBy, 64))
                    .col(big_integer(BootRevisions::CreatedAtMs))
                    .col(big_integer_null(BootRevisions::JobId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(BootRevisions::Table, BootRevisions::ImageId)
                            .to(Images::Table, Images::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_boot_revisions_number")
                    .table(BootRevisions::Table)
                    .col(BootRevisions::ImageId)
                    .col(BootRevisions::Number)
                    .unique()
                    .to_owned(),
            )
            .await?;

        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let rows = BootRow::find_by_statement(Statement::from_string(
            backend,
            "SELECT id, file_path, base_file_path, injected_drivers, sha256, file_bytes, metadata, created_by, updated_at_ms FROM images WHERE kind = 'boot'",
        ))
        .all(db)
        .await?;
        for row in rows {
            let base = row.base_file_path.clone().unwrap_or(row.file_path.clone());
            let base_sha = if row.base_file_path.is_none() {
                row.sha256.clone()
            } else {
                String::new()
            };
            // The column holds the JSON list Wimdeck wrote: drivers with id, name, inf_name,
            // version and content_hash, as a recipe lists them.
            let drivers = match row.injected_drivers.trim() {
                list if list.starts_with('[') && list.ends_with(']') => list,
                _ => "[]",
            };
            let recipe = format!(r#"{{"drivers":{drivers},"customization":{{}},"shell":null}}"#);
            manager
                .exec_stmt(
                    Query::insert()
                        .into_table(BootImages::Table)
                        .columns([
                            BootImages::ImageId,
                            BootImages::BasePath,
                            BootImages::BaseSha256,
                            BootImages::Customization,
                            BootImages::CurrentRevision,
                        ])
                        .values([
                            row.id.into(),
                            base.clone().into(),
                            base_sha.clone().into(),
                            "{}".into(),
                            1.into(),
                        ])
                        .map_err(|e| DbErr::Custom(e.to_string()))?
                        .to_owned(),
                )
                .await?;
            manager
                .exec_stmt(
                    Query::insert()
                        .into_table(BootRevisions::Table)
                        .columns([
                            BootRevisions::ImageId,
                            BootRevisions::Number,
                            BootRevisions::FilePath,
                            BootRevisions::Sha256,
                            BootRevisions::SizeBytes,
                            BootRevisions::Recipe,
                            BootRevisions::BasePath,
                            BootRevisions::BaseSha256,
                            BootRevisions::Metadata,
                            BootRevisions::Reason,
                            BootRevisions::CreatedBy,
                            BootRevisions::CreatedAtMs,
                        ])
                        .values([
                            row.id.into(),
                            1.into(),
                            row.file_path.clone().into(),
                            row.sha256.clone().into(),
                            row.file_bytes.into(),
                            recipe.into(),
                            base.clone().into(),
                            base_sha.into(),
                            row.metadata.clone().into(),
                            "The image as it was when Wimdeck began keeping revisions".into(),
                            row.created_by.clone().into(),
                            row.updated_at_ms.into(),
                        ])
                        .map_err(|e| DbErr::Custom(e.to_string()))?
                        .to_owned(),
                )
                .await?;
            let mut held = vec![base];
            if row.file_path != held[0] {
                held.push(row.file_path.clone());
            }
            for path in held {
                manager
                    .exec_stmt(
                        Query::insert()
                            .into_table(HeldFiles::Table)
                            .columns([HeldFiles::ImageId, HeldFiles::Path])
                            .values([row.id.into(), path.into()])
                            .map_err(|e| DbErr::Custom(e.to_string()))?
                            .to_owned(),
                    )
                    .await?;
            }
        }
        // A boot image's driver list goes with the image (the catalog no longer deletes it):
        // the table is made again with a foreign key, keeping the rows of images that exist.
        db.execute_unprepared(
            "CREATE TABLE boot_image_drivers_old AS SELECT image_id, driver_id, added_by, added_at_ms FROM boot_image_drivers",
        )
        .await?;
        db.execute_unprepared("DROP TABLE boot_image_drivers")
            .await?;
        db.execute_unprepared(
            "CREATE TABLE boot_image_drivers (\
             image_id BIGINT NOT NULL REFERENCES images (id) ON DELETE CASCADE, \
             driver_id BIGINT NOT NULL, \
             added_by VARCHAR(64) NOT NULL, \
             added_at_ms BIGINT NOT NULL, \
             PRIMARY KEY (image_id, driver_id))",
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO boot_image_drivers (image_id, driver_id, added_by, added_at_ms) \
             SELECT d.image_id, d.driver_id, d.added_by, d.added_at_ms FROM boot_image_drivers_old d \
             WHERE EXISTS (SELECT 1 FROM images i WHERE i.id = d.image_id)",
        )
        .await?;
        db.execute_unprepared("DROP TABLE boot_image_drivers_old")
            .await?;
        db.execute_unprepared(
            "CREATE INDEX idx_boot_image_drivers_driver ON boot_image_drivers (driver_id)",
        )
        .await?;
        // Applying drivers is now a build; jobs and schedules of the old kind become builds
        // (their parameters, the image's id, are a build's).
        for table in ["jobs", "schedules"] {
            db.execute_unprepared(&format!(
                "UPDATE {table} SET kind = 'boot-image-build' WHERE kind = 'boot-image-drivers'"
            ))
            .await?;
        }
        // One column per statement: SQLite alters one thing at a time.
        for column in [
            Images::BaseFilePath,
            Images::InjectedDrivers,
            Images::DriversRevision,
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
        Ok(())
    }
}
