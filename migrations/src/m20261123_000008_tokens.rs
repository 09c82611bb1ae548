//! API tokens for automation, and the time a session last proved its password (security-
//! sensitive changes ask for the password again when that is too long ago).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Sessions {
    Table,
    /// When the password was last entered in this session: at sign-in, or at a confirmation.
    AuthenticatedAtMs,
    CreatedAtMs,
}

#[derive(DeriveIden, Clone, Copy)]
enum ApiTokens {
    Table,
    Id,
    UserId,
    Name,
    /// SHA-256 (hex) of the secret; the secret itself is shown once and never stored.
    TokenHash,
    /// The first characters of the secret, so a user can tell tokens apart.
    Prefix,
    /// JSON permissions the token is limited to, or NULL for all of its user's rights.
    LimitPermissions,
    /// The role the limit was copied from, for display.
    LimitLabel,
    CreatedAtMs,
    ExpiresAtMs,
    LastUsedAtMs,
    LastUsedFrom,
    RevokedAtMs,
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
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(big_integer(Sessions::AuthenticatedAtMs).default(0))
                    .to_owned(),
            )
            .await?;
        // Existing sessions proved their password when they were created.
        manager
            .exec_stmt(
                Query::update()
                    .table(Sessions::Table)
                    .value(
                        Sessions::AuthenticatedAtMs,
                        Expr::col(Sessions::CreatedAtMs),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .col(big_pk_auto(ApiTokens::Id))
                    .col(big_integer(ApiTokens::UserId))
                    .col(string_len(ApiTokens::Name, 64))
                    .col(string_len(ApiTokens::TokenHash, 64).unique_key())
                    .col(string_len(ApiTokens::Prefix, 16))
                    .col(text_null(ApiTokens::LimitPermissions))
                    .col(string_len_null(ApiTokens::LimitLabel, 64))
                    .col(big_integer(ApiTokens::CreatedAtMs))
                    .col(big_integer(ApiTokens::ExpiresAtMs))
                    .col(big_integer_null(ApiTokens::LastUsedAtMs))
                    .col(string_len_null(ApiTokens::LastUsedFrom, 64))
                    .col(big_integer_null(ApiTokens::RevokedAtMs))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiTokens::Table, ApiTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_tokens_user")
                    .table(ApiTokens::Table)
                    .col(ApiTokens::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiTokens::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .drop_column(Sessions::AuthenticatedAtMs)
                    .to_owned(),
            )
            .await
    }
}
