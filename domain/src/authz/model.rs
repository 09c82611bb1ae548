//! What role-based administration is made of: operations, object types, sets of permissions,
//! and the built-in roles' permissions (the matrix documented in `docs/security.md`).

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use super::Role;

/// Something a user does to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    Read,
    Create,
    Modify,
    Delete,
    Distribute,
    Validate,
    SetSecurityScope,
    PublishToPxe,
    Administer,
}

/// The kinds of objects permissions are granted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectType {
    BootImage,
    OsImage,
    Driver,
    DriverPackage,
    /// Distribution points and distribution point groups.
    DistributionPoint,
    Job,
    AuditLog,
    /// Users, roles, security scopes and assignments.
    Security,
}

macro_rules! named {
    ($ty:ident, $what:literal, { $($variant:ident => $slug:literal, $label:literal;)+ }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The kebab-case name used in storage, on the command line and in the API.
            pub fn slug(self) -> &'static str {
                match self { $($ty::$variant => $slug),+ }
            }

            /// The name shown in the console.
            pub fn label(self) -> &'static str {
                match self { $($ty::$variant => $label),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.slug())
            }
        }

        impl FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|v| v.slug() == s).ok_or_else(|| {
                    format!(
                        "unknown {} '{s}'; expected one of: {}",
                        $what,
                        Self::ALL.iter().map(|v| v.slug()).collect::<Vec<_>>().join(", ")
                    )
                })
            }
        }
    };
}

named!(Operation, "operation", {
    Read => "read", "Read";
    Create => "create", "Create";
    Modify => "modify", "Modify";
    Delete => "delete", "Delete";
    Distribute => "distribute", "Distribute";
    Validate => "validate", "Validate";
    SetSecurityScope => "set-security-scope", "Set security scope";
    PublishToPxe => "publish-to-pxe", "Publish to PXE";
    Administer => "administer", "Administer";
});

named!(ObjectType, "object type", {
    BootImage => "boot-image", "Boot image";
    OsImage => "os-image", "OS image";
    Driver => "driver", "Driver";
    DriverPackage => "driver-package", "Driver package";
    DistributionPoint => "distribution-point", "Distribution point";
    Job => "job", "Job";
    AuditLog => "audit-log", "Audit log";
    Security => "security", "Users, roles and scopes";
});

impl Operation {
    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl ObjectType {
    /// The objects of this type, in a sentence ("you do not have permission to modify …").
    pub fn plural(self) -> &'static str {
        match self {
            ObjectType::BootImage => "boot images",
            ObjectType::OsImage => "OS images",
            ObjectType::Driver => "drivers",
            ObjectType::DriverPackage => "driver packages",
            ObjectType::DistributionPoint => "distribution points",
            ObjectType::Job => "jobs",
            ObjectType::AuditLog => "the audit log",
            ObjectType::Security => "users, roles and security scopes",
        }
    }

    /// Whether objects of this type belong to security scopes.
    pub fn is_scoped(self) -> bool {
        matches!(
            self,
            ObjectType::BootImage
                | ObjectType::OsImage
                | ObjectType::DriverPackage
                | ObjectType::DistributionPoint
        )
    }

    /// The operations that mean something for this type (a role can only grant these).
    pub fn operations(self) -> &'static [Operation] {
        use Operation::*;
        match self {
            ObjectType::BootImage => &[
                Read,
                Create,
                Modify,
                Delete,
                Distribute,
                Validate,
                SetSecurityScope,
                PublishToPxe,
            ],
            ObjectType::OsImage | ObjectType::DriverPackage => &[
                Read,
                Create,
                Modify,
                Delete,
                Distribute,
                Validate,
                SetSecurityScope,
            ],
            ObjectType::Driver => &[Read, Create, Modify, Delete],
            ObjectType::DistributionPoint => &[
                Read,
                Create,
                Modify,
                Delete,
                Distribute,
                Validate,
                SetSecurityScope,
                Administer,
            ],
            ObjectType::Job => &[Read, Modify, Administer],
            ObjectType::AuditLog => &[Read],
            ObjectType::Security => &[Read, Create, Modify, Delete, Administer],
        }
    }
}

/// A set of (object type, operation) pairs: what a role grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Permissions([u16; ObjectType::ALL.len()]);

impl Permissions {
    pub const NONE: Permissions = Permissions([0; ObjectType::ALL.len()]);

    pub fn allows(&self, object: ObjectType, operation: Operation) -> bool {
        self.0[object as usize] & operation.bit() != 0
    }

    /// Adds `operations` on `object`; operations that mean nothing for it are an error.
    pub fn grant(&mut self, object: ObjectType, operations: &[Operation]) -> Result<(), String> {
        for &op in operations {
            if !object.operations().contains(&op) {
                return Err(format!(
                    "\"{}\" does not apply to {}",
                    op.label(),
                    object.label()
                ));
            }
            self.0[object as usize] |= op.bit();
        }
        Ok(())
    }

    /// Removes `operations` on `object`.
    pub fn revoke(&mut self, object: ObjectType, operations: &[Operation]) {
        for op in operations {
            self.0[object as usize] &= !op.bit();
        }
    }

    /// Every operation on every type it applies to.
    pub fn everything() -> Permissions {
        let mut out = Permissions::NONE;
        for object in ObjectType::ALL {
            for op in object.operations() {
                out.0[*object as usize] |= op.bit();
            }
        }
        out
    }

    /// The operations granted on `object`, in declaration order.
    pub fn operations_on(&self, object: ObjectType) -> Vec<Operation> {
        object
            .operations()
            .iter()
            .copied()
            .filter(|op| self.allows(object, *op))
            .collect()
    }

    /// Whether every permission of `other` is in this set.
    pub fn contains(&self, other: &Permissions) -> bool {
        self.0
            .iter()
            .zip(other.0)
            .all(|(mine, theirs)| theirs & !mine == 0)
    }

    /// The permissions both sets hold.
    pub fn intersection(&self, other: &Permissions) -> Permissions {
        let mut out = *self;
        for (mine, theirs) in out.0.iter_mut().zip(other.0) {
            *mine &= theirs;
        }
        out
    }

    pub fn union(&self, other: &Permissions) -> Permissions {
        let mut out = *self;
        for (mine, theirs) in out.0.iter_mut().zip(other.0) {
            *mine |= theirs;
        }
        out
    }

    /// As stored and sent: `{"boot-image": ["read", …], …}`, types without operations left out.
    pub fn to_map(&self) -> std::collections::BTreeMap<ObjectType, Vec<Operation>> {
        ObjectType::ALL
            .iter()
            .map(|t| (*t, self.operations_on(*t)))
            .filter(|(_, ops)| !ops.is_empty())
            .collect()
    }

    pub fn from_map(
        map: &std::collections::BTreeMap<ObjectType, Vec<Operation>>,
    ) -> Result<Self, String> {
        let mut out = Permissions::NONE;
        for (object, operations) in map {
            out.grant(*object, operations)?;
        }
        Ok(out)
    }
}

impl Serialize for Permissions {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Permissions {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::deserialize(deserializer)?;
        Permissions::from_map(&map).map_err(serde::de::Error::custom)
    }
}

impl Role {
    /// What the built-in role grants: the matrix in `docs/security.md`.
    pub fn permissions(self) -> Permissions {
        use ObjectType::*;
        use Operation::*;
        let mut p = Permissions::NONE;
        let mut grant = |object: ObjectType, ops: &[Operation]| {
            // The table below only names operations that apply; the matrix test checks it
            // against the documented table.
            if let Err(e) = p.grant(object, ops) {
                tracing::error!("built-in role {self}: {e}");
            }
        };
        let content = [BootImage, OsImage, DriverPackage];
        let readable = [
            BootImage,
            OsImage,
            Driver,
            DriverPackage,
            DistributionPoint,
            Job,
        ];
        match self {
            Role::FullAdministrator => {
                for object in ObjectType::ALL {
                    grant(*object, object.operations());
                }
            }
            Role::InfrastructureAdministrator => {
                for object in readable {
                    grant(object, &[Read]);
                }
                grant(DistributionPoint, DistributionPoint.operations());
                grant(Job, &[Read, Modify, Administer]);
                grant(Security, &[Read]);
            }
            Role::OperatingSystemDeploymentManager => {
                for object in [BootImage, OsImage, Driver, DriverPackage] {
                    grant(object, object.operations());
                }
                grant(DistributionPoint, &[Read, Distribute, Validate]);
                grant(Job, &[Read, Modify]);
            }
            Role::ContentOperator => {
                for object in content {
                    grant(object, &[Read, Distribute, Validate]);
                }
                grant(Driver, &[Read]);
                grant(DistributionPoint, &[Read, Distribute, Validate]);
                grant(Job, &[Read]);
            }
            Role::ReadOnlyAnalyst => {
                for object in readable {
                    grant(object, &[Read]);
                }
                grant(Security, &[Read]);
            }
            Role::SecurityAdministrator => {
                for object in readable {
                    grant(object, &[Read]);
                }
                for object in [BootImage, OsImage, DriverPackage, DistributionPoint] {
                    grant(object, &[SetSecurityScope]);
                }
                grant(Security, Security.operations());
                grant(AuditLog, &[Read]);
            }
            Role::Auditor => {
                for object in readable {
                    grant(object, &[Read]);
                }
                grant(Security, &[Read]);
                grant(AuditLog, &[Read]);
            }
        }
        p
    }

    /// What the role is for, as the Roles page describes it.
    pub fn description(self) -> &'static str {
        match self {
            Role::FullAdministrator => "Every operation on every object.",
            Role::InfrastructureAdministrator => {
                "Manages distribution points and the job queue; reads everything else."
            }
            Role::OperatingSystemDeploymentManager => {
                "Manages boot images, OS images, drivers and driver packages, distributes them \
                 and publishes boot images to PXE."
            }
            Role::ContentOperator => "Distributes and validates content on distribution points.",
            Role::ReadOnlyAnalyst => "Reads every object but the audit log; changes nothing.",
            Role::SecurityAdministrator => {
                "Manages users, roles, security scopes and assignments, sets the scopes of \
                 objects and reads the audit log."
            }
            Role::Auditor => "Reads the audit log and every object; changes nothing.",
        }
    }
}
