//! Who is acting, and with which roles.
//!
//! An [`Actor`] is resolved once per request (from the session) and passed to
//! [`crate::Domain::for_actor`]. Roles are the built-in security roles of role-based
//! administration; scopes and per-operation checks build on this type.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

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
    pub roles: Vec<Role>,
}

impl Actor {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
