//! Role-based administration: security roles (the built-in ones and custom copies), security
//! scopes, role assignments (user + role + scopes or all scopes) and the scopes of objects.
//! Users' former roles become assignments on all scopes; existing images and driver packages
//! join the built-in "Default" scope.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum SecurityRoles {
    Table,
    Id,
    /// The kebab-case name of a built-in role; NULL for custom roles.
    Slug,
    Name,
    /// Lower-cased name, unique.
    NameKey,
    Description,
    Builtin,
    /// JSON `{"boot-image": ["read", …]}` for custom roles; built-in roles' permissions are
    /// defined in code, so that a new version can extend them.
    Permissions,
    CopiedFrom,
    RowVersion,
    CreatedAtMs,
    UpdatedAtMs,
}

#[derive(DeriveIden, Clone, Copy)]
enum SecurityScopes {
    Table,
    Id,
    Name,
    NameKey,
    Description,
    Builtin,
    RowVersion,
    CreatedAtMs,
}

#[derive(DeriveIden, Clone, Copy)]
enum RoleAssignments {
    Table,
    Id,
    UserId,
    RoleId,
    /// The assignment covers every scope, present and future.
    AllScopes,
    CreatedBy,
    CreatedAtMs,
}

#[derive(DeriveIden, Clone, Copy)]
enum AssignmentScopes {
    Table,
    AssignmentId,
    ScopeId,
}

#[derive(DeriveIden, Clone, Copy)]
enum ObjectScopes {
    Table,
    /// `boot-image`, `os-image`, `driver-package`, `distribution-point`.
    ObjectType,
    ObjectId,
    ScopeId,
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum UserRoles {
    Table,
    UserId,
    Role,
}

/// The built-in roles: slug and name.
const BUILTIN_ROLES: [(&str, &str); 7] = [
    ("full-administrator", "Full Administrator"),
    (
        "infrastructure-administrator",
        "Infrastructure Administrator",
    ),
    (
        "operating-system-deployment-manager",
        "Operating System Deployment Manager",
    ),
    ("content-operator", "Content Operator"),
    ("read-only-analyst", "Read-only Analyst"),
    ("security-administrator", "Security Administrator"),
    ("auditor", "Auditor"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SecurityRoles::Table)
                    .col(big_pk_auto(SecurityRoles::Id))
                    .col(string_len_null(SecurityRoles::Slug, 64).unique_key())
                    .col(string_len(SecurityRoles::Name, 64))
                    .col(string_len(SecurityRoles::NameKey, 64).unique_key())
                    .col(text(SecurityRoles::Description))
                    .col(boolean(SecurityRoles::Builtin))
                    .col(text(SecurityRoles::Permissions))
                    .col(big_integer_null(SecurityRoles::CopiedFrom))
                    .col(integer(SecurityRoles::RowVersion).default(1))
                    .col(big_integer(SecurityRoles::CreatedAtMs))
                    .col(big_integer(SecurityRoles::UpdatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SecurityScopes::Table)
                    .col(big_pk_auto(SecurityScopes::Id))
                    .col(string_len(SecurityScopes::Name, 64))
                    .col(string_len(SecurityScopes::NameKey, 64).unique_key())
                    .col(text(SecurityScopes::Description))
                    .col(boolean(SecurityScopes::Builtin))
                    .col(integer(SecurityScopes::RowVersion).default(1))
                    .col(big_integer(SecurityScopes::CreatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RoleAssignments::Table)
                    .col(big_pk_auto(RoleAssignments::Id))
                    .col(big_integer(RoleAssignments::UserId))
                    .col(big_integer(RoleAssignments::RoleId))
                    .col(boolean(RoleAssignments::AllScopes))
                    .col(string_len(RoleAssignments::CreatedBy, 64))
                    .col(big_integer(RoleAssignments::CreatedAtMs))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RoleAssignments::Table, RoleAssignments::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(RoleAssignments::Table, RoleAssignments::RoleId)
                            .to(SecurityRoles::Table, SecurityRoles::Id),
                    )
                    .index(
                        Index::create()
                            .name("ux_role_assignments_user_role")
                            .col(RoleAssignments::UserId)
                            .col(RoleAssignments::RoleId)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AssignmentScopes::Table)
                    .col(big_integer(AssignmentScopes::AssignmentId))
                    .col(big_integer(AssignmentScopes::ScopeId))
                    .primary_key(
                        Index::create()
                            .col(AssignmentScopes::AssignmentId)
                            .col(AssignmentScopes::ScopeId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AssignmentScopes::Table, AssignmentScopes::AssignmentId)
                            .to(RoleAssignments::Table, RoleAssignments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AssignmentScopes::Table, AssignmentScopes::ScopeId)
                            .to(SecurityScopes::Table, SecurityScopes::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ObjectScopes::Table)
                    .col(string_len(ObjectScopes::ObjectType, 32))
                    .col(big_integer(ObjectScopes::ObjectId))
                    .col(big_integer(ObjectScopes::ScopeId))
                    .primary_key(
                        Index::create()
                            .col(ObjectScopes::ObjectType)
                            .col(ObjectScopes::ObjectId)
                            .col(ObjectScopes::ScopeId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ObjectScopes::Table, ObjectScopes::ScopeId)
                            .to(SecurityScopes::Table, SecurityScopes::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_object_scopes_scope")
                    .table(ObjectScopes::Table)
                    .col(ObjectScopes::ScopeId)
                    .col(ObjectScopes::ObjectType)
                    .to_owned(),
            )
            .await?;

        // The built-in roles and scope, then what existed before: roles become assignments on
        // all scopes, images and driver packages join "Default".
        let mut roles = Query::insert()
            .into_table(SecurityRoles::Table)
            .columns([
                SecurityRoles::Slug,
                SecurityRoles::Name,
                SecurityRoles::NameKey,
                SecurityRoles::Description,
                SecurityRoles::Builtin,
                SecurityRoles::Permissions,
                SecurityRoles::CreatedAtMs,
                SecurityRoles::UpdatedAtMs,
            ])
            .to_owned();
        for (slug, name) in BUILTIN_ROLES {
            roles
                .values([
                    slug.into(),
                    name.into(),
                    name.to_lowercase().into(),
                    "".into(),
                    true.into(),
                    "{}".into(),
                    0i64.into(),
                    0i64.into(),
                ])
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        manager.exec_stmt(roles).await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(SecurityScopes::Table)
                    .columns([
                        SecurityScopes::Name,
                        SecurityScopes::NameKey,
                        SecurityScopes::Description,
                        SecurityScopes::Builtin,
                        SecurityScopes::CreatedAtMs,
                    ])
                    .values([
                        "Default".into(),
                        "default".into(),
                        "Every object belongs here until it is given other scopes.".into(),
                        true.into(),
                        0i64.into(),
                    ])
                    .map_err(|e| DbErr::Custom(e.to_string()))?
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "INSERT INTO role_assignments (user_id, role_id, all_scopes, created_by, created_at_ms) \
             SELECT ur.user_id, r.id, TRUE, 'Wimdeck', 0 \
             FROM user_roles ur JOIN security_roles r ON r.slug = ur.role",
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO object_scopes (object_type, object_id, scope_id) \
             SELECT CASE kind WHEN 'boot' THEN 'boot-image' ELSE 'os-image' END, id, \
                    (SELECT id FROM security_scopes WHERE name_key = 'default') \
             FROM images",
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO object_scopes (object_type, object_id, scope_id) \
             SELECT 'driver-package', id, \
                    (SELECT id FROM security_scopes WHERE name_key = 'default') \
             FROM driver_packages",
        )
        .await?;
        manager
            .drop_table(Table::drop().table(UserRoles::Table).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UserRoles::Table)
                    .col(big_integer(UserRoles::UserId))
                    .col(string_len(UserRoles::Role, 64))
                    .primary_key(Index::create().col(UserRoles::UserId).col(UserRoles::Role))
                    .foreign_key(
                        ForeignKey::create()
                            .from(UserRoles::Table, UserRoles::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO user_roles (user_id, role) \
                 SELECT DISTINCT a.user_id, r.slug FROM role_assignments a \
                 JOIN security_roles r ON r.id = a.role_id WHERE r.slug IS NOT NULL",
            )
            .await?;
        for table in [
            ObjectScopes::Table.into_iden(),
            AssignmentScopes::Table.into_iden(),
            RoleAssignments::Table.into_iden(),
            SecurityScopes::Table.into_iden(),
            SecurityRoles::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
