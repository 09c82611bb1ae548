use std::io;

use crate::authz::{ObjectType, Operation};

/// Everything that can go wrong in the domain.
///
/// Variants a user can act on carry a message written for them; infrastructure failures
/// (`Database`, `Io`, `Internal`) are logged by the caller and never shown verbatim.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {message}")]
    InvalidInput {
        field: &'static str,
        message: String,
    },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the user name or password is incorrect")]
    InvalidCredentials,
    #[error("too many failed sign-ins; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error("sign-in required")]
    Unauthenticated,
    #[error("you do not have permission to {0}")]
    Forbidden(Refusal),
    /// A security-sensitive change in a session whose password was entered too long ago.
    #[error("enter your password again to {0}")]
    ReauthenticationRequired(String),
    #[error(transparent)]
    Wim(#[from] crate::wim::WimError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("internal: {0}")]
    Internal(String),
}

/// What a refusal was about: the operation and object type it needed (for the audit log), and
/// what the user was not allowed to do, as the end of "you do not have permission to …".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub object: ObjectType,
    pub operation: Operation,
    pub message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error {
    pub(crate) fn forbidden(
        object: ObjectType,
        operation: Operation,
        message: impl Into<String>,
    ) -> Self {
        Self::Forbidden(Refusal {
            object,
            operation,
            message: message.into(),
        })
    }

    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            message: message.into(),
        }
    }
}

/// The domain's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
