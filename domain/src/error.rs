use std::io;

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
    Forbidden(String),
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

impl Error {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            message: message.into(),
        }
    }
}

/// The domain's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
