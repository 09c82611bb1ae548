use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

/// An error as the browser receives it. Messages are written for the user; server internals
/// never cross the wire (they are logged where they happen).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Sign-in required.")]
    Unauthenticated,
    #[error("You do not have permission to {0}.")]
    Forbidden(String),
    /// A security-sensitive change needs the password entered again.
    #[error("Enter your password again to {0}.")]
    ReauthenticationRequired(String),
    #[error("{}", sentence(field, message))]
    Invalid { field: String, message: String },
    #[error("{0} was not found.")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("The user name or password is incorrect.")]
    InvalidCredentials,
    #[error("Too many failed sign-ins. Try again in {retry_after_secs} seconds.")]
    Throttled { retry_after_secs: u64 },
    #[error("Something went wrong on the server; its log has the details.")]
    Internal,
    #[error("The server could not be reached or did not understand the request ({0}).")]
    Transport(String),
}

/// A validation message as a sentence: "must have at least 12 characters" about `password`
/// reads "Password must have at least 12 characters."
fn sentence(field: &str, message: &str) -> String {
    let subject_missing = ["must ", "may ", "is ", "has "]
        .iter()
        .any(|p| message.starts_with(p));
    let text = if subject_missing {
        format!("{} {message}", field.replace('_', " "))
    } else {
        message.to_owned()
    };
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

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(detail)
            | ServerFnErrorErr::Response(detail)
            | ServerFnErrorErr::UnsupportedRequestMethod(detail)
            | ServerFnErrorErr::Serialization(detail)
            | ServerFnErrorErr::Deserialization(detail)
            | ServerFnErrorErr::Args(detail)
            | ServerFnErrorErr::MissingArg(detail) => Self::Transport(detail),
            other => {
                #[cfg(feature = "ssr")]
                tracing::error!("server function failed: {other}");
                #[cfg(not(feature = "ssr"))]
                let _ = other;
                Self::Internal
            }
        }
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::Unauthenticated | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::ReauthenticationRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            Self::Invalid { .. } | Self::Transport(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Maps a domain error for the wire, logs internals, and sets the response status of the
/// server function being answered.
#[cfg(feature = "ssr")]
impl From<domain::Error> for AppError {
    fn from(error: domain::Error) -> Self {
        use domain::Error as E;
        let mapped = match error {
            E::InvalidInput { field, message } => Self::Invalid {
                field: field.to_owned(),
                message,
            },
            E::NotFound(what) => Self::NotFound(what),
            E::Conflict(message) => Self::Conflict(message),
            E::InvalidCredentials => Self::InvalidCredentials,
            E::Throttled { retry_after_secs } => Self::Throttled { retry_after_secs },
            E::Unauthenticated => Self::Unauthenticated,
            E::Forbidden(refusal) => {
                crate::api::ssr::note_refusal(&refusal);
                Self::Forbidden(refusal.message)
            }
            E::ReauthenticationRequired(what) => Self::ReauthenticationRequired(what),
            E::Wim(domain::wim::WimError::Internal(detail)) => {
                tracing::error!("WIM operation failed: {detail}");
                Self::Internal
            }
            E::Wim(wim) => Self::Invalid {
                field: "wim".to_owned(),
                message: wim.to_string(),
            },
            internal @ (E::Config(_) | E::Database(_) | E::Io(_) | E::Internal(_)) => {
                tracing::error!("request failed: {internal}");
                Self::Internal
            }
        };
        mapped.set_response_status();
        mapped
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// Sets this error's status on the response being built, if any.
    pub(crate) fn set_response_status(&self) {
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(self.status());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_messages_read_as_sentences() {
        let e = |field: &str, message: &str| {
            AppError::Invalid {
                field: field.into(),
                message: message.into(),
            }
            .to_string()
        };
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
    }
}
