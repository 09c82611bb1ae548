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

    /// The error as a sentence for the people who read it (a job's result, the console, the
    /// command line): a capital first, a full stop last, a validation message naming its field.
    pub fn sentence(&self) -> String {
        match self {
            Self::InvalidInput { field, message } => sentence(field, message),
            Self::Io(e) => format!(
                "A file could not be read or written ({e}). Check the server's free space and \
                 the permissions of the folders involved."
            ),
            Self::Internal(detail) => {
                format!("Something went wrong on the server ({detail}); its log has the details.")
            }
            other => capitalized(&other.to_string()),
        }
    }
}

/// A validation message as a sentence: "must have at least 12 characters" about `password`
/// reads "Password must have at least 12 characters."; a message that is a sentence of its own
/// ("the setup link is not valid") only gets its capital and full stop.
pub fn sentence(field: &str, message: &str) -> String {
    let subject_missing = ["must ", "may ", "is ", "has "]
        .iter()
        .any(|p| message.starts_with(p));
    if subject_missing {
        capitalized(&format!("{} {message}", field.replace('_', " ")))
    } else {
        capitalized(message)
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>())
        .unwrap_or_default();
    out.push_str(chars.as_str());
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// The domain's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_sentences() {
        let e = |field: &'static str, message: &str| Error::invalid(field, message).sentence();
        assert_eq!(
            e("password", "must have at least 12 characters"),
            "Password must have at least 12 characters."
        );
        assert_eq!(
            e("size_mib", "must be between 1 and 16384 MiB"),
            "Size mib must be between 1 and 16384 MiB."
        );
        assert_eq!(
            e("token", "the setup link is not valid"),
            "The setup link is not valid."
        );
        assert_eq!(
            e("spec", "a cron pattern has five fields."),
            "A cron pattern has five fields."
        );
        assert_eq!(
            Error::NotFound("boot image 7".into()).sentence(),
            "Boot image 7 not found."
        );
        let io = Error::Io(io::Error::other("disk full")).sentence();
        assert!(
            io.starts_with("A file could not be read or written (disk full)."),
            "{io}"
        );
    }
}
