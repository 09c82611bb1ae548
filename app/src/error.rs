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
    /// A value to correct; `message` is a whole sentence, `field` the form field it is about.
    #[error("{message}")]
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
    #[error(
        "The server could not be reached, or its answer could not be read ({0}). Check the \
         connection and reload the page."
    )]
    Transport(String),
}

/// A request whose fields could not be read (serde's own text, such as "missing field
/// `name`"), as a sentence that says what to do.
fn unreadable_request(detail: &str) -> AppError {
    let quoted = |after: &str| {
        let rest = &detail[detail.find(after)? + after.len()..];
        let rest = rest.strip_prefix('`')?;
        Some(rest[..rest.find('`')?].to_owned())
    };
    let (field, message) = if let Some(field) = quoted("missing field ") {
        let label = field.replace('_', " ");
        let message =
            format!("The {label} field is missing: fill it in (or reload the page) and try again.");
        (field, message)
    } else if let Some(value) = quoted("unknown variant ") {
        (
            "choice".to_owned(),
            format!("\"{value}\" is not one of the choices offered: pick one from the list."),
        )
    } else if ["invalid digit", "cannot parse integer", "number too large"]
        .iter()
        .any(|text| detail.contains(text))
    {
        (
            "number".to_owned(),
            "A field that takes a number holds something else: enter digits only.".to_owned(),
        )
    } else {
        #[cfg(feature = "ssr")]
        tracing::warn!("a request could not be read: {detail}");
        (
            "request".to_owned(),
            "The form could not be read: reload the page and try again.".to_owned(),
        )
    };
    let error = AppError::Invalid { field, message };
    // Decoded on the server: answer 400, as for any other value to correct.
    #[cfg(feature = "ssr")]
    error.set_response_status();
    error
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(detail)
            | ServerFnErrorErr::Response(detail)
            | ServerFnErrorErr::UnsupportedRequestMethod(detail)
            | ServerFnErrorErr::Serialization(detail)
            | ServerFnErrorErr::Deserialization(detail) => Self::Transport(detail),
            // The request's fields, as the server decoded them.
            ServerFnErrorErr::Args(detail) | ServerFnErrorErr::MissingArg(detail) => {
                unreadable_request(&detail)
            }
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
        let sentence = error.sentence();
        let mapped = match error {
            E::InvalidInput { field, .. } => Self::Invalid {
                field: field.to_owned(),
                message: sentence,
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
            E::Wim(_) => Self::Invalid {
                field: "wim".to_owned(),
                message: sentence,
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
    /// A value to correct, said as a sentence ([`domain::sentence`]), with its status set.
    pub(crate) fn invalid(field: &str, message: &str) -> Self {
        let error = Self::Invalid {
            field: field.to_owned(),
            message: domain::sentence(field, message),
        };
        error.set_response_status();
        error
    }

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
    fn unreadable_requests_read_as_sentences() {
        let text = |detail: &str| {
            AppError::from_server_fn_error(ServerFnErrorErr::Args(detail.into())).to_string()
        };
        assert_eq!(
            text("missing field `part_mib`"),
            "The part mib field is missing: fill it in (or reload the page) and try again."
        );
        assert_eq!(
            text("unknown variant `zip`, expected one of `lzx`, `xpress`, `none`"),
            "\"zip\" is not one of the choices offered: pick one from the list."
        );
        assert_eq!(
            text("invalid digit found in string"),
            "A field that takes a number holds something else: enter digits only."
        );
        assert_eq!(
            text("expected `,` or `}` at line 1 column 9"),
            "The form could not be read: reload the page and try again."
        );
        for detail in ["missing field `name`", "invalid digit found in string", "x"] {
            let message = text(detail);
            assert!(!message.contains('`'), "{message}");
        }
    }
}
