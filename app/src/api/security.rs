//! Role-based administration: users, roles, security scopes, the Security tab of scoped
//! objects, the audit log, and the caller's own API tokens.
//!
//! Scopes travel as one text field: `all`, or scope ids separated by commas.

// A server function takes one argument per form field, so the forms post plain fields.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AppError;

/// (id, name) of a role or scope, for pickers.
pub type Choice = (i64, String);

/// One assignment of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignmentView {
    pub id: i64,
    pub role: String,
    /// "All scopes" or the scope names.
    pub scopes: String,
}

/// A user on the Users page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub disabled: bool,
    pub last_sign_in_at_ms: Option<i64>,
    pub assignments: Vec<AssignmentView>,
}

/// The Users page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsersView {
    pub users: Vec<UserRow>,
    pub roles: Vec<Choice>,
    pub scopes: Vec<Choice>,
    pub me: i64,
    pub may_create: bool,
    pub may_modify: bool,
    pub may_assign: bool,
}

/// The operations of one object type a role grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantedView {
    pub object_type: String,
    pub label: String,
    /// Slugs of the granted operations.
    pub operations: Vec<String>,
}

/// A role on the Roles page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRow {
    pub id: i64,
    pub name: String,
    /// The command-line name of a built-in role.
    pub slug: Option<String>,
    pub description: String,
    pub builtin: bool,
    pub granted: Vec<GrantedView>,
    pub row_version: i32,
}

/// An object type and the operations that apply to it: (slug, label).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectTypeView {
    pub slug: String,
    pub label: String,
    pub operations: Vec<(String, String)>,
}

/// The Roles page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolesView {
    pub roles: Vec<RoleRow>,
    pub object_types: Vec<ObjectTypeView>,
    pub may_copy: bool,
    pub may_edit: bool,
    pub may_delete: bool,
}

/// A security scope on the Scopes page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub builtin: bool,
    pub row_version: i32,
    /// (object type label, how many) of the objects in it.
    pub objects: Vec<(String, u64)>,
    /// "user: role" of each assignment limited to it.
    pub assigned: Vec<String>,
}

/// The Scopes page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopesView {
    pub scopes: Vec<ScopeRow>,
    pub may_create: bool,
    pub may_modify: bool,
    pub may_delete: bool,
}

/// The Security tab of an image or driver package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectSecurityView {
    pub scopes: Vec<Choice>,
    /// Each user with some right on the object and those operations' labels.
    pub users: Vec<(String, Vec<String>)>,
    /// Every scope, to choose from.
    pub all_scopes: Vec<Choice>,
    pub may_set_scopes: bool,
}

/// An audit log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: i64,
    pub at_ms: i64,
    pub username: String,
    pub operation: String,
    pub object_type: String,
    pub object: String,
    /// `field: before → after`, one per changed field.
    pub changes: Vec<String>,
    pub outcome: String,
    pub detail: String,
    pub source_addr: String,
}

/// The audit log page: a page of entries, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditView {
    pub rows: Vec<AuditRow>,
    /// Whether older entries match too.
    pub more: bool,
    pub operations: Vec<(String, String)>,
    pub object_types: Vec<(String, String)>,
}

/// One of the caller's API tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub limited_to: Option<String>,
    pub expires_at_ms: i64,
    pub last_used: Option<String>,
    /// "active", "expired" or "revoked".
    pub state: String,
}

/// The caller's account page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub username: String,
    pub roles: Vec<String>,
    pub tokens: Vec<TokenRow>,
    /// Roles a token may be limited to.
    pub limits: Vec<Choice>,
    pub max_valid_days: u32,
}

/// A token just made; `secret` is shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub name: String,
    pub secret: String,
    pub expires_at_ms: i64,
}

#[cfg(feature = "ssr")]
mod convert {
    use std::collections::BTreeSet;

    use domain::authz::{ObjectType, Operation, ScopeSet};

    use crate::AppError;

    /// `all`, or scope ids separated by commas.
    pub fn scope_set(text: &str) -> Result<ScopeSet, AppError> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("all") {
            return Ok(ScopeSet::All);
        }
        Ok(ScopeSet::Only(scope_ids(text)?))
    }

    pub fn scope_ids(text: &str) -> Result<BTreeSet<i64>, AppError> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<i64>().map_err(|_| {
                    AppError::invalid("scopes", "must be scope ids separated by commas")
                })
            })
            .collect()
    }

    pub fn object_type(slug: &str) -> Result<ObjectType, AppError> {
        slug.parse()
            .map_err(|e: String| AppError::invalid("object_type", &e))
    }

    pub fn optional<T: std::str::FromStr<Err = String>>(
        field: &str,
        text: Option<String>,
    ) -> Result<Option<T>, AppError> {
        match text.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(t) => t
                .parse()
                .map(Some)
                .map_err(|e: String| AppError::invalid(field, &e)),
        }
    }

    pub fn pairs<T: Copy>(
        all: &[T],
        slug: fn(T) -> &'static str,
        label: fn(T) -> &'static str,
    ) -> Vec<(String, String)> {
        all.iter()
            .map(|t| (slug(*t).to_owned(), label(*t).to_owned()))
            .collect()
    }

    pub fn operations() -> Vec<(String, String)> {
        pairs(Operation::ALL, Operation::slug, Operation::label)
    }

    pub fn object_types() -> Vec<(String, String)> {
        pairs(ObjectType::ALL, ObjectType::slug, ObjectType::label)
    }

    /// A date typed in the filter (`yyyy-mm-dd`, UTC) as Unix ms; `end` moves to the next day.
    pub fn day_ms(field: &str, text: Option<String>, end: bool) -> Result<Option<i64>, AppError> {
        let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
            return Ok(None);
        };
        let start = domain::audit::day_start_ms(text.trim())
            .ok_or_else(|| AppError::invalid(field, "must be a date like 2026-11-22"))?;
        Ok(Some(if end { start + 86_400_000 } else { start }))
    }
}

// ----- users -----

#[server(endpoint = "list_users")]
pub async fn list_users() -> Result<UsersView, AppError> {
    use domain::authz::{ObjectType as T, Operation as O};
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let security = domain.for_actor(&actor).security();
    let users = security.users().await?;
    let roles = security.roles().await?;
    let scopes = security.scopes().await?;
    Ok(UsersView {
        users: users
            .into_iter()
            .map(|u| UserRow {
                id: u.id,
                username: u.username,
                disabled: u.disabled,
                last_sign_in_at_ms: u.last_sign_in_at_ms,
                assignments: u
                    .assignments
                    .into_iter()
                    .map(|a| AssignmentView {
                        id: a.id,
                        role: a.role_name,
                        scopes: if a.all_scopes {
                            "All scopes".into()
                        } else {
                            a.scopes
                                .into_iter()
                                .map(|(_, n)| n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        },
                    })
                    .collect(),
            })
            .collect(),
        roles: roles.into_iter().map(|r| (r.id, r.name)).collect(),
        scopes: scopes.into_iter().map(|s| (s.id, s.name)).collect(),
        me: actor.user_id,
        may_create: actor.holds(T::Security, O::Create),
        may_modify: actor.holds(T::Security, O::Modify),
        may_assign: actor.holds(T::Security, O::Administer),
    })
}

/// Creates a user with one role on `scopes` (`all` or ids).
#[server(endpoint = "create_user")]
pub async fn create_user(
    username: String,
    password: String,
    role_id: i64,
    scopes: String,
) -> Result<i64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    actor.require(
        domain::authz::ObjectType::Security,
        domain::authz::Operation::Create,
    )?;
    let scopes = convert::scope_set(&scopes)?;
    Ok(domain
        .for_actor(&actor)
        .security()
        .create_user(username.trim(), &password, role_id, scopes)
        .await?)
}

#[server(endpoint = "set_user_disabled")]
pub async fn set_user_disabled(user_id: i64, disabled: bool) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain
        .for_actor(&actor)
        .security()
        .set_disabled(user_id, disabled)
        .await?)
}

#[server(endpoint = "reset_user_password")]
pub async fn reset_user_password(user_id: i64, password: String) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain
        .for_actor(&actor)
        .security()
        .reset_password(user_id, &password)
        .await?)
}

#[server(endpoint = "assign_role")]
pub async fn assign_role(user_id: i64, role_id: i64, scopes: String) -> Result<i64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    actor.require(
        domain::authz::ObjectType::Security,
        domain::authz::Operation::Administer,
    )?;
    let scopes = convert::scope_set(&scopes)?;
    Ok(domain
        .for_actor(&actor)
        .security()
        .assign(user_id, role_id, scopes)
        .await?)
}

#[server(endpoint = "unassign_role")]
pub async fn unassign_role(assignment_id: i64) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain
        .for_actor(&actor)
        .security()
        .unassign(assignment_id)
        .await?)
}

// ----- roles -----

#[server(endpoint = "list_roles")]
pub async fn list_roles() -> Result<RolesView, AppError> {
    use domain::authz::{ObjectType as T, Operation as O};
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let roles = domain.for_actor(&actor).security().roles().await?;
    Ok(RolesView {
        roles: roles
            .into_iter()
            .map(|r| RoleRow {
                id: r.id,
                name: r.name,
                slug: r.slug,
                description: r.description,
                builtin: r.builtin,
                granted: r
                    .permissions
                    .to_map()
                    .into_iter()
                    .map(|(t, ops)| GrantedView {
                        object_type: t.slug().into(),
                        label: t.label().into(),
                        operations: ops.iter().map(|o| o.slug().to_owned()).collect(),
                    })
                    .collect(),
                row_version: r.row_version,
            })
            .collect(),
        object_types: T::ALL
            .iter()
            .map(|t| ObjectTypeView {
                slug: t.slug().into(),
                label: t.label().into(),
                operations: t
                    .operations()
                    .iter()
                    .map(|o| (o.slug().to_owned(), o.label().to_owned()))
                    .collect(),
            })
            .collect(),
        may_copy: actor.holds(T::Security, O::Create),
        may_edit: actor.holds(T::Security, O::Modify),
        may_delete: actor.holds(T::Security, O::Delete),
    })
}

#[server(endpoint = "copy_role")]
pub async fn copy_role(from: i64, name: String, description: String) -> Result<i64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain
        .for_actor(&actor)
        .security()
        .copy_role(from, &name, &description)
        .await?)
}

/// Saves a custom role. `permissions` lists `object-type:operation` pairs, separated by commas
/// (the checkboxes of the role editor).
#[server(endpoint = "edit_role")]
pub async fn edit_role(
    id: i64,
    name: String,
    description: String,
    permissions: String,
    row_version: i32,
) -> Result<(), AppError> {
    use domain::authz::{ObjectType, Operation, Permissions};
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    actor.require(ObjectType::Security, Operation::Modify)?;
    let mut granted = Permissions::NONE;
    for pair in permissions
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (object, operation) = pair
            .split_once(':')
            .ok_or_else(|| AppError::invalid("permissions", "must be type:operation pairs"))?;
        let object = convert::object_type(object)?;
        let operation: Operation = operation
            .parse()
            .map_err(|e: String| AppError::invalid("permissions", &e))?;
        granted
            .grant(object, &[operation])
            .map_err(|e| AppError::invalid("permissions", &e))?;
    }
    Ok(domain
        .for_actor(&actor)
        .security()
        .edit_role(id, &name, &description, granted, row_version)
        .await?)
}

#[server(endpoint = "delete_role")]
pub async fn delete_role(id: i64) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain.for_actor(&actor).security().delete_role(id).await?)
}

// ----- scopes -----

#[server(endpoint = "list_scopes")]
pub async fn list_scopes() -> Result<ScopesView, AppError> {
    use domain::authz::{ObjectType as T, Operation as O};
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let security = domain.for_actor(&actor).security();
    let scopes = security.scopes().await?;
    let users = security.users().await?;
    Ok(ScopesView {
        scopes: scopes
            .into_iter()
            .map(|s| ScopeRow {
                objects: s
                    .members
                    .iter()
                    .map(|(slug, n)| {
                        let label = slug
                            .parse::<T>()
                            .map_or_else(|_| slug.clone(), |t| t.plural().to_owned());
                        (label, *n)
                    })
                    .collect(),
                assigned: users
                    .iter()
                    .flat_map(|u| {
                        u.assignments
                            .iter()
                            .filter(|a| a.scopes.iter().any(|(id, _)| *id == s.id))
                            .map(|a| format!("{}: {}", u.username, a.role_name))
                    })
                    .collect(),
                id: s.id,
                name: s.name,
                description: s.description,
                builtin: s.builtin,
                row_version: s.row_version,
            })
            .collect(),
        may_create: actor.holds(T::Security, O::Create),
        may_modify: actor.holds(T::Security, O::Modify),
        may_delete: actor.holds(T::Security, O::Delete),
    })
}

#[server(endpoint = "create_scope")]
pub async fn create_scope(name: String, description: String) -> Result<i64, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain
        .for_actor(&actor)
        .security()
        .create_scope(&name, &description)
        .await?)
}

#[server(endpoint = "edit_scope")]
pub async fn edit_scope(
    id: i64,
    name: String,
    description: String,
    row_version: i32,
) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain
        .for_actor(&actor)
        .security()
        .edit_scope(id, &name, &description, row_version)
        .await?)
}

#[server(endpoint = "delete_scope")]
pub async fn delete_scope(id: i64) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain.for_actor(&actor).security().delete_scope(id).await?)
}

// ----- the Security tab -----

/// Who may do what to an object (`boot-image`, `os-image`, `driver-package`), and its scopes.
#[server(endpoint = "object_security")]
pub async fn object_security(object_type: String, id: i64) -> Result<ObjectSecurityView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    actor.require_on_some_scoped_type(domain::authz::Operation::Read)?;
    let object = convert::object_type(&object_type)?;
    let security = domain.for_actor(&actor).security();
    let view = security.object_security(object, id).await?;
    // Every scope's name, for the picker; only someone who may change the scopes needs them.
    let all_scopes = if view.may_set_scopes {
        security.scope_choices(object).await?
    } else {
        Vec::new()
    };
    Ok(ObjectSecurityView {
        scopes: view.scopes,
        users: view
            .users
            .into_iter()
            .map(|(user, ops)| (user, ops.iter().map(|o| o.label().to_owned()).collect()))
            .collect(),
        all_scopes,
        may_set_scopes: view.may_set_scopes,
    })
}

#[server(endpoint = "set_object_scopes")]
pub async fn set_object_scopes(
    object_type: String,
    id: i64,
    scopes: String,
) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    actor.require_on_some_scoped_type(domain::authz::Operation::SetSecurityScope)?;
    let object = convert::object_type(&object_type)?;
    let scopes = convert::scope_ids(&scopes)?;
    Ok(domain
        .for_actor(&actor)
        .security()
        .set_object_scopes(object, id, &scopes)
        .await?)
}

// ----- the audit log -----

/// Entries matching the filters, newest first, 100 at a time (`before` pages back).
#[server(endpoint = "search_audit")]
pub async fn search_audit(
    user: Option<String>,
    operation: Option<String>,
    object_type: Option<String>,
    outcome: Option<String>,
    text: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<i64>,
) -> Result<AuditView, AppError> {
    const PAGE: u64 = 100;
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    actor.require(
        domain::authz::ObjectType::AuditLog,
        domain::authz::Operation::Read,
    )?;
    let filter = audit_filter(user, operation, object_type, outcome, text, from, to)?;
    let mut rows = domain
        .for_actor(&actor)
        .audit()
        .search(&filter, before, PAGE + 1)
        .await?;
    let more = rows.len() as u64 > PAGE;
    rows.truncate(PAGE as usize);
    Ok(AuditView {
        rows: rows.into_iter().map(audit_row).collect(),
        more,
        operations: convert::operations(),
        object_types: convert::object_types(),
    })
}

/// The audit filter from the page's (and the export link's) query fields.
#[cfg(feature = "ssr")]
pub fn audit_filter(
    user: Option<String>,
    operation: Option<String>,
    object_type: Option<String>,
    outcome: Option<String>,
    text: Option<String>,
    from: Option<String>,
    to: Option<String>,
) -> Result<domain::audit::Filter, AppError> {
    use domain::audit::Outcome;
    let outcome = match outcome.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("allowed") => Some(Outcome::Allowed),
        Some("denied") => Some(Outcome::Denied),
        Some(_) => return Err(AppError::invalid("outcome", "must be allowed or denied")),
    };
    Ok(domain::audit::Filter {
        user: user.filter(|u| !u.trim().is_empty()),
        operation: convert::optional("operation", operation)?,
        object_type: convert::optional("object_type", object_type)?,
        outcome,
        text: text.filter(|t| !t.trim().is_empty()),
        from_ms: convert::day_ms("from", from, false)?,
        to_ms: convert::day_ms("to", to, true)?,
    })
}

#[cfg(feature = "ssr")]
fn audit_row(r: domain::audit::Record) -> AuditRow {
    let show = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "—".to_owned(),
        serde_json::Value::String(s) if s.is_empty() => "(empty)".to_owned(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let changes = r
        .changes
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .map(|(field, pair)| format!("{field}: {} → {}", show(&pair[0]), show(&pair[1])))
                .collect()
        })
        .unwrap_or_default();
    AuditRow {
        id: r.id,
        at_ms: r.at_ms,
        username: r.username,
        operation: r.operation,
        object_type: r.object_type,
        object: match r.object_id {
            Some(id) => format!("{} (#{id})", r.object_name),
            None => r.object_name,
        },
        changes,
        outcome: r.outcome,
        detail: r.detail,
        source_addr: r.source_addr,
    }
}

// ----- the caller's account -----

/// The caller's roles and API tokens.
#[server(endpoint = "my_account")]
pub async fn my_account() -> Result<AccountView, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let handle = domain.for_actor(&actor);
    let tokens = handle.api_tokens();
    Ok(AccountView {
        username: actor.username.clone(),
        roles: actor.grants.0.iter().map(|g| g.role_name.clone()).collect(),
        tokens: tokens
            .list()
            .await?
            .into_iter()
            .map(|t| TokenRow {
                state: if t.revoked_at_ms.is_some() {
                    "revoked".into()
                } else if t.expired {
                    "expired".into()
                } else {
                    "active".into()
                },
                last_used: t.last_used_at_ms.map(|at| {
                    format!(
                        "{} from {}",
                        crate::format::utc(at),
                        t.last_used_from.clone().unwrap_or_default()
                    )
                }),
                id: t.id,
                name: t.name,
                prefix: t.prefix,
                limited_to: t.limited_to,
                expires_at_ms: t.expires_at_ms,
            })
            .collect(),
        limits: tokens
            .choices()
            .into_iter()
            .map(|c| (c.role_id, c.role_name))
            .collect(),
        max_valid_days: domain::accounts::MAX_TOKEN_DAYS,
    })
}

/// Makes an API token; the answer holds its secret, which is not shown again.
#[server(endpoint = "create_api_token")]
pub async fn create_api_token(
    name: String,
    valid_days: u32,
    limit_to_role: Option<i64>,
) -> Result<CreatedToken, AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    let made = domain
        .for_actor(&actor)
        .api_tokens()
        .create(&name, valid_days, limit_to_role)
        .await?;
    Ok(CreatedToken {
        name: made.info.name,
        secret: made.secret,
        expires_at_ms: made.info.expires_at_ms,
    })
}

#[server(endpoint = "revoke_api_token")]
pub async fn revoke_api_token(id: i64) -> Result<(), AppError> {
    let actor = crate::api::ssr::actor()?;
    let domain = crate::api::ssr::domain()?;
    Ok(domain.for_actor(&actor).api_tokens().revoke(id).await?)
}

/// Checks the caller's password again, so security-sensitive changes go through for the next
/// few minutes.
#[server(endpoint = "confirm_password")]
pub async fn confirm_password(password: String) -> Result<(), AppError> {
    use crate::api::ssr;
    let _actor = ssr::actor()?;
    let ctx = ssr::request_context()?;
    let domain = ssr::domain()?;
    let Some(token) = &ctx.session_token else {
        return Err(AppError::invalid(
            "password",
            "only a signed-in browser session can confirm a password",
        ));
    };
    match domain
        .sessions()
        .confirm_password(token, &password, &ctx.client)
        .await
    {
        // Not "sign in again": the session is fine, only this password was wrong.
        Err(domain::Error::InvalidCredentials) => {
            Err(AppError::invalid("password", "the password is incorrect"))
        }
        other => Ok(other?),
    }
}
