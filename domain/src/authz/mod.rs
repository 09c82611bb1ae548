//! Who is acting, and what they may do: role-based administration.
//!
//! An [`Actor`] is resolved once per request (from the session) with its [`Grants`] (role
//! assignments: a role's [`Permissions`] on [`ObjectType`]s, and the security scopes they
//! cover) and passed to [`crate::Domain::for_actor`]. The capability handles that hands out
//! check every operation with [`Actor::require`] or [`Actor::require_on`]: deny by default.

pub mod admin;
mod grants;
mod model;
pub(crate) mod scopes;

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

pub use grants::{Grant, Grants, ScopeSet, Visibility};
pub(crate) use grants::{load as load_grants, role_permissions};
pub use model::{ObjectType, Operation, Permissions};

use crate::{Error, Result};

/// A built-in security role. On the command line and in storage it is named in kebab-case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    FullAdministrator,
    InfrastructureAdministrator,
    OperatingSystemDeploymentManager,
    ContentOperator,
    ReadOnlyAnalyst,
    SecurityAdministrator,
    Auditor,
}

impl Role {
    /// Every built-in role, in the order the console lists them.
    pub const ALL: [Role; 7] = [
        Role::FullAdministrator,
        Role::InfrastructureAdministrator,
        Role::OperatingSystemDeploymentManager,
        Role::ContentOperator,
        Role::ReadOnlyAnalyst,
        Role::SecurityAdministrator,
        Role::Auditor,
    ];

    /// The kebab-case name used on the command line and in the database.
    pub fn slug(self) -> &'static str {
        match self {
            Role::FullAdministrator => "full-administrator",
            Role::InfrastructureAdministrator => "infrastructure-administrator",
            Role::OperatingSystemDeploymentManager => "operating-system-deployment-manager",
            Role::ContentOperator => "content-operator",
            Role::ReadOnlyAnalyst => "read-only-analyst",
            Role::SecurityAdministrator => "security-administrator",
            Role::Auditor => "auditor",
        }
    }

    /// The name shown in the console.
    pub fn display_name(self) -> &'static str {
        match self {
            Role::FullAdministrator => "Full Administrator",
            Role::InfrastructureAdministrator => "Infrastructure Administrator",
            Role::OperatingSystemDeploymentManager => "Operating System Deployment Manager",
            Role::ContentOperator => "Content Operator",
            Role::ReadOnlyAnalyst => "Read-only Analyst",
            Role::SecurityAdministrator => "Security Administrator",
            Role::Auditor => "Auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

/// The error for a role name that names no role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role '{given}'; the roles are: {}", Role::ALL.map(Role::slug).join(", "))]
pub struct UnknownRole {
    pub given: String,
}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.slug() == s)
            .ok_or_else(|| UnknownRole {
                given: s.to_owned(),
            })
    }
}

/// A signed-in user, as resolved for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: i64,
    pub username: String,
    /// The built-in roles among the user's assignments, for display.
    pub roles: Vec<Role>,
    pub grants: Grants,
    /// Where the request came from, for the audit log.
    pub source_addr: Option<String>,
    /// How this actor proved who they are.
    pub authentication: Authentication,
}

/// How an actor proved who they are; decides whether security-sensitive changes need the
/// password again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Authentication {
    /// Someone with access to the server itself: the command line, jobs, tests.
    #[default]
    Local,
    /// A browser session; the password was last entered at this time.
    Session { password_at_ms: i64 },
    /// An API token (its id). Tokens never make security-sensitive changes: those need a
    /// password typed by a person.
    Token { id: i64 },
}

impl Actor {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether some assignment grants `operation` on `object`, in some scope.
    pub fn holds(&self, object: ObjectType, operation: Operation) -> bool {
        self.grants.holds(object, operation)
    }

    /// Whether `operation` is allowed on an object of type `object` in `scopes`.
    pub fn may(&self, object: ObjectType, operation: Operation, scopes: &[i64]) -> bool {
        self.grants.allows(object, operation, scopes)
    }

    /// Refuses unless some assignment grants `operation` on `object` (for unscoped types,
    /// and for creating objects, which get the scopes of the assignments that allow it).
    pub fn require(&self, object: ObjectType, operation: Operation) -> Result<()> {
        match self.holds(object, operation) {
            true => Ok(()),
            false => Err(denied(object, operation)),
        }
    }

    /// Refuses unless some assignment grants `operation` on at least one scoped object type:
    /// the first check of requests that name the type themselves (the Security panel), made
    /// before their input is read.
    pub fn require_on_some_scoped_type(&self, operation: Operation) -> Result<()> {
        let scoped = ObjectType::ALL.iter().filter(|t| t.is_scoped());
        match scoped.clone().any(|t| self.holds(*t, operation)) {
            true => Ok(()),
            false => Err(Error::forbidden(
                ObjectType::BootImage,
                operation,
                format!(
                    "{} {}",
                    operation.label().to_lowercase(),
                    scoped.map(|t| t.plural()).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    /// Refuses unless `operation` is allowed on this object of type `object` in `scopes`.
    pub fn require_on(
        &self,
        object: ObjectType,
        operation: Operation,
        scopes: &[i64],
    ) -> Result<()> {
        match self.may(object, operation, scopes) {
            true => Ok(()),
            false if self.holds(object, operation) => Err(Error::forbidden(
                object,
                operation,
                format!(
                    "{} this one of the {}: it is outside your security scopes",
                    operation.label().to_lowercase(),
                    object.plural()
                ),
            )),
            false => Err(denied(object, operation)),
        }
    }
}

/// Security-sensitive changes need a password typed recently: a session whose password was
/// entered longer ago than `session.reauthenticate_after_minutes` must confirm it first, and an
/// API token never qualifies (it is not a person at a keyboard). Call it after the permission
/// check, so a user without the right is refused outright rather than asked for a password.
pub(crate) fn require_recent_password(
    domain: &crate::Domain,
    actor: &Actor,
    what: &str,
) -> Result<()> {
    match actor.authentication {
        Authentication::Local => Ok(()),
        Authentication::Session { password_at_ms } => {
            let window = i64::from(domain.config().session.reauthenticate_after_minutes) * 60_000;
            if domain.now_ms() - password_at_ms <= window {
                Ok(())
            } else {
                Err(Error::ReauthenticationRequired(what.to_owned()))
            }
        }
        Authentication::Token { .. } => Err(Error::forbidden(
            ObjectType::Security,
            Operation::Administer,
            format!("{what} with an API token; sign in and enter your password"),
        )),
    }
}

fn denied(object: ObjectType, operation: Operation) -> Error {
    Error::forbidden(
        object,
        operation,
        format!("{} {}", operation.label().to_lowercase(), object.plural()),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const MATRIX_START: &str = "<!-- matrix:start -->";
    const MATRIX_END: &str = "<!-- matrix:end -->";

    /// The role matrix as `docs/security.md` writes it: a row per role and object type, a
    /// column per operation.
    fn render_matrix() -> String {
        let mut out = String::from("| role | object type |");
        for op in Operation::ALL {
            out.push_str(&format!(" {} |", op.slug()));
        }
        out.push_str("\n| --- | --- |");
        out.push_str(&" --- |".repeat(Operation::ALL.len()));
        out.push('\n');
        for role in Role::ALL {
            let permissions = role.permissions();
            for object in ObjectType::ALL {
                out.push_str(&format!("| {} | {} |", role.slug(), object.slug()));
                for op in Operation::ALL {
                    let cell = match (
                        permissions.allows(*object, *op),
                        object.operations().contains(op),
                    ) {
                        (true, _) => "✓",
                        (false, true) => " ",
                        (false, false) => "n/a",
                    };
                    out.push_str(&format!(" {cell} |"));
                }
                out.push('\n');
            }
        }
        out
    }

    fn documented_matrix() -> Vec<(Role, ObjectType, Operation, bool)> {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/security.md"))
                .expect("docs/security.md");
        let start = doc.find(MATRIX_START).expect("matrix start marker") + MATRIX_START.len();
        let end = doc.find(MATRIX_END).expect("matrix end marker");
        let mut rows = doc[start..end].trim().lines();
        let header: Vec<&str> = rows
            .next()
            .expect("header")
            .split('|')
            .map(str::trim)
            .collect();
        let ops: Vec<Operation> = header[3..header.len() - 1]
            .iter()
            .map(|h| h.parse().expect("operation"))
            .collect();
        rows.next().expect("separator");
        let mut cells = Vec::new();
        for row in rows {
            let fields: Vec<&str> = row.split('|').map(str::trim).collect();
            let role: Role = fields[1].parse().expect("role");
            let object: ObjectType = fields[2].parse().expect("object type");
            for (op, cell) in ops.iter().zip(&fields[3..]) {
                cells.push((role, object, *op, *cell == "✓"));
            }
        }
        cells
    }

    /// Role × object type × operation × (in scope, out of scope): the evaluation matches the
    /// documented table exactly.
    #[test]
    fn the_evaluation_matches_the_documented_role_matrix() {
        const LAB: i64 = 2;
        const PRODUCTION: i64 = 3;
        let documented = documented_matrix();
        let expected_cells = Role::ALL.len() * ObjectType::ALL.len() * Operation::ALL.len();
        assert_eq!(
            documented.len(),
            expected_cells,
            "the documented table must have every role, type and operation; it should be:\n{}",
            render_matrix()
        );
        let mut checked = 0;
        for (role, object, op, allowed) in documented {
            let grants = Grants(vec![Grant {
                assignment_id: 1,
                role_id: 1,
                role_name: role.display_name().into(),
                builtin: Some(role),
                permissions: role.permissions(),
                scopes: ScopeSet::Only(BTreeSet::from([LAB])),
            }]);
            assert_eq!(
                grants.allows(object, op, &[LAB]),
                allowed,
                "{role} {object} {op} in scope; the table should be:\n{}",
                render_matrix()
            );
            assert_eq!(
                grants.allows(object, op, &[PRODUCTION]),
                allowed && !object.is_scoped(),
                "{role} {object} {op} out of scope"
            );
            checked += 2;
        }
        assert_eq!(checked, 7 * 8 * 9 * 2);
    }

    #[test]
    fn nobody_grants_more_than_they_hold() {
        const LAB: i64 = 2;
        let osd_in_lab = Grants(vec![Grant {
            assignment_id: 1,
            role_id: 3,
            role_name: "OSD".into(),
            builtin: Some(Role::OperatingSystemDeploymentManager),
            permissions: Role::OperatingSystemDeploymentManager.permissions(),
            scopes: ScopeSet::Only(BTreeSet::from([LAB])),
        }]);
        let lab = ScopeSet::Only(BTreeSet::from([LAB]));
        let analyst = Role::ReadOnlyAnalyst.permissions();
        let content = Role::ContentOperator.permissions();
        assert!(osd_in_lab.may_grant(&content, &lab));
        assert!(
            !osd_in_lab.may_grant(&analyst, &lab),
            "the analyst reads security"
        );
        assert!(!osd_in_lab.may_grant(&content, &ScopeSet::All));
        assert!(!osd_in_lab.may_grant(&content, &ScopeSet::Only(BTreeSet::from([LAB, 3]))));
        let full = Grants(vec![Grant {
            scopes: ScopeSet::All,
            permissions: Role::FullAdministrator.permissions(),
            ..osd_in_lab.0[0].clone()
        }]);
        for role in Role::ALL {
            assert!(full.may_grant(&role.permissions(), &ScopeSet::All));
        }
    }

    #[test]
    fn new_objects_get_the_scopes_that_allow_creating_them() {
        let grant = |role: Role, scopes: ScopeSet| Grant {
            assignment_id: 1,
            role_id: 1,
            role_name: String::new(),
            builtin: Some(role),
            permissions: role.permissions(),
            scopes,
        };
        let grants = Grants(vec![
            grant(
                Role::OperatingSystemDeploymentManager,
                ScopeSet::Only(BTreeSet::from([2, 3])),
            ),
            grant(Role::ReadOnlyAnalyst, ScopeSet::Only(BTreeSet::from([4]))),
        ]);
        assert_eq!(
            grants.creation_scopes(ObjectType::BootImage, 1),
            BTreeSet::from([2, 3])
        );
        assert_eq!(
            grants.visibility(ObjectType::BootImage),
            Visibility::InScopes(BTreeSet::from([2, 3, 4]))
        );
        assert_eq!(grants.visibility(ObjectType::AuditLog), Visibility::Nothing);
        let full = Grants(vec![grant(Role::FullAdministrator, ScopeSet::All)]);
        assert_eq!(
            full.creation_scopes(ObjectType::BootImage, 1),
            BTreeSet::from([1])
        );
    }

    #[test]
    fn permissions_round_trip_as_json_and_refuse_operations_that_do_not_apply() {
        for role in Role::ALL {
            let json = serde_json::to_string(&role.permissions()).expect("json");
            let back: Permissions = serde_json::from_str(&json).expect("parse");
            assert_eq!(back, role.permissions());
        }
        let err = serde_json::from_str::<Permissions>(r#"{"audit-log": ["delete"]}"#)
            .expect_err("audit log entries cannot be deleted");
        assert!(err.to_string().contains("does not apply"), "{err}");
    }

    #[test]
    fn role_names_round_trip_in_kebab_case() {
        for role in Role::ALL {
            assert_eq!(role.slug().parse::<Role>(), Ok(role));
            assert_eq!(
                serde_json::to_string(&role).expect("json"),
                format!("\"{}\"", role.slug())
            );
        }
    }

    #[test]
    fn unknown_role_lists_the_valid_ones() {
        let err = "admin".parse::<Role>().expect_err("must fail");
        assert!(err.to_string().contains("full-administrator"));
    }
}
