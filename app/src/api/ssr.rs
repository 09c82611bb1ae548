//! Server-side helpers for server functions: the request's identity and the domain.

use domain::{Actor, Domain, SessionToken, accounts::ClientInfo};
use leptos::prelude::use_context;

use crate::AppError;

/// What the HTTP layer learned about a request before any server function or page ran. The
/// server inserts it into the request's extensions.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The signed-in user, if the session cookie named a live session.
    pub actor: Option<Actor>,
    /// The session cookie's token, if one was sent (live or not).
    pub session_token: Option<SessionToken>,
    pub client: ClientInfo,
    /// Whether the browser reached us over TLS (decides the cookie's `Secure`).
    pub tls: bool,
    /// The first refusal while answering, for the audit log: what it needed and its message
    /// (a refused page is still an HTML page, whose body says nothing of it).
    pub refusal: std::sync::Arc<std::sync::Mutex<Option<domain::Refusal>>>,
}

/// Notes a refusal on the request being answered, for the audit log.
pub(crate) fn note_refusal(refusal: &domain::Refusal) {
    if let Some(ctx) = use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<RequestContext>().cloned())
        && let Ok(mut slot) = ctx.refusal.lock()
    {
        slot.get_or_insert_with(|| refusal.clone());
    }
}

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "wimdeck_session";

/// The domain facade, provided to every request through context.
pub fn domain() -> Result<Domain, AppError> {
    use_context::<Domain>().ok_or_else(|| {
        tracing::error!("the domain was not provided to this request");
        AppError::Internal
    })
}

/// The request context the HTTP layer attached.
pub fn request_context() -> Result<RequestContext, AppError> {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<RequestContext>().cloned())
        .ok_or_else(|| {
            tracing::error!("no request context: the authentication layer did not run");
            AppError::Internal
        })
}

/// The signed-in caller, or `Unauthenticated`.
pub fn actor() -> Result<Actor, AppError> {
    request_context()?.actor.ok_or_else(|| {
        let error = AppError::Unauthenticated;
        error.set_response_status();
        error
    })
}

/// Sets (or, with `None`, clears) the session cookie on the response.
pub fn set_session_cookie(
    token: Option<&SessionToken>,
    max_age_secs: i64,
    tls: bool,
    secure: domain::config::SecureCookie,
) {
    use domain::config::SecureCookie;
    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    let secure = match secure {
        SecureCookie::Always => true,
        SecureCookie::Never => false,
        SecureCookie::Auto => tls,
    };
    let (value, max_age) = match token {
        Some(t) => (t.as_str(), max_age_secs),
        None => ("", 0),
    };
    let mut cookie =
        format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}");
    if secure {
        cookie.push_str("; Secure");
    }
    match http::HeaderValue::from_str(&cookie) {
        Ok(v) => response.append_header(http::header::SET_COOKIE, v),
        Err(e) => tracing::error!("unrepresentable session cookie: {e}"),
    }
}

/// A local path to go to after sign-in. `next` is resolved against the console's own origin,
/// as a browser would resolve the `Location` it becomes, and followed only when it stays there;
/// anything else (another origin, `//host`, `/\host`, control characters that browsers strip
/// and so turn `/\t/host` into `//host`, which also cannot go into a header) becomes `/`.
pub fn safe_local_path(next: Option<&str>) -> String {
    const HOME: &str = "/";
    let Some(next) = next else {
        return HOME.to_owned();
    };
    if !next.starts_with('/') || next.chars().any(|c| c.is_control() || c == '\\') {
        return HOME.to_owned();
    }
    let Ok(origin) = url::Url::parse("http://console.invalid/") else {
        return HOME.to_owned();
    };
    match origin.join(next) {
        Ok(resolved) if resolved.origin() == origin.origin() => {
            let local = &resolved[url::Position::BeforePath..];
            // Resolution normalizes (dot segments, percent-encoding); what comes out must still
            // be a path a browser cannot read as another host.
            if local.starts_with("//") {
                HOME.to_owned()
            } else {
                local.to_owned()
            }
        }
        _ => HOME.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_local_path;

    #[test]
    fn local_paths_are_followed() {
        for (next, expected) in [
            ("/jobs?x=1", "/jobs?x=1"),
            ("/", "/"),
            ("/boot-images/12#drivers", "/boot-images/12#drivers"),
            ("/a/../jobs", "/jobs"),
            ("/os-images?q=Windows 11", "/os-images?q=Windows%2011"),
            ("/%09/evil.example", "/%09/evil.example"),
        ] {
            assert_eq!(safe_local_path(Some(next)), expected, "{next:?}");
        }
        assert_eq!(safe_local_path(None), "/");
    }

    /// Each of these, put in `Location`, sends a browser elsewhere, breaks the header, or is not
    /// a path at all.
    #[test]
    fn hostile_targets_go_home() {
        let hostile = [
            "https://evil.example/",
            "http:evil.example",
            "//evil.example",
            "///evil.example",
            "////evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\t\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/x\r\nSet-Cookie: a=b",
            "/\u{0}/evil.example",
            "/\u{7f}/evil.example",
            "/\u{85}/evil.example",
            "\t//evil.example",
            " //evil.example",
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "evil.example",
            "jobs",
            "",
            "/..//evil.example",
            "/.//evil.example",
            "/./\\evil.example",
            "/\\/evil.example",
            "@evil.example",
        ];
        assert!(hostile.len() >= 20);
        for next in hostile {
            assert_eq!(safe_local_path(Some(next)), "/", "{next:?}");
        }
    }
}
