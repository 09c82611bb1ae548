//! Signing in and out, first-run setup, and who the caller is.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AppError;

/// The signed-in user, as the console shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub username: String,
    /// Display names of the user's roles.
    pub roles: Vec<String>,
    /// Whether the Security area is of use to them (they may read users, roles and scopes).
    pub security: bool,
    /// Whether they may read the audit log.
    pub audit: bool,
}

#[cfg(feature = "ssr")]
impl From<&domain::Actor> for UserView {
    fn from(actor: &domain::Actor) -> Self {
        Self {
            username: actor.username.clone(),
            roles: actor
                .roles
                .iter()
                .map(|r| r.display_name().to_owned())
                .collect(),
            security: actor.holds(
                domain::authz::ObjectType::Security,
                domain::authz::Operation::Read,
            ),
            audit: actor.holds(
                domain::authz::ObjectType::AuditLog,
                domain::authz::Operation::Read,
            ),
        }
    }
}

/// Checks the credentials, opens a new session (ending the one the browser had, so a session id
/// never survives sign-in) and redirects to `next` (a local path).
#[server(endpoint = "sign_in")]
pub async fn sign_in(
    username: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    use crate::api::ssr;
    let ctx = ssr::request_context()?;
    let domain = ssr::domain()?;
    let (token, _actor) = domain
        .accounts()
        .sign_in(username.trim(), &password, &ctx.client)
        .await?;
    if let Some(old) = &ctx.session_token {
        domain.sessions().revoke(old).await?;
    }
    let secure = domain.config().session.secure_cookie;
    ssr::set_session_cookie(
        Some(&token),
        domain.sessions().cookie_max_age_secs(),
        ctx.tls,
        secure,
    );
    leptos_axum::redirect(&ssr::safe_local_path(next.as_deref()));
    Ok(())
}

/// Ends the caller's session and returns to the sign-in page.
#[server(endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    use crate::api::ssr;
    let _actor = ssr::actor()?;
    let ctx = ssr::request_context()?;
    let domain = ssr::domain()?;
    if let Some(token) = &ctx.session_token {
        domain.sessions().revoke(token).await?;
    }
    ssr::set_session_cookie(None, 0, ctx.tls, domain.config().session.secure_cookie);
    leptos_axum::redirect("/sign-in");
    Ok(())
}

/// Redeems the one-time setup link: creates the first Full Administrator and signs them in.
#[server(endpoint = "complete_setup")]
pub async fn complete_setup(
    token: String,
    username: String,
    password: String,
    password_again: String,
) -> Result<(), AppError> {
    use crate::api::ssr;
    let ctx = ssr::request_context()?;
    let domain = ssr::domain()?;
    if password != password_again {
        return Err(AppError::invalid(
            "password_again",
            "The two passwords differ.",
        ));
    }
    let (session, _actor) = domain
        .accounts()
        .complete_setup(&token, username.trim(), &password, &ctx.client)
        .await?;
    let secure = domain.config().session.secure_cookie;
    ssr::set_session_cookie(
        Some(&session),
        domain.sessions().cookie_max_age_secs(),
        ctx.tls,
        secure,
    );
    leptos_axum::redirect("/");
    Ok(())
}

/// The signed-in user.
#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<UserView, AppError> {
    let actor = crate::api::ssr::actor()?;
    Ok(UserView::from(&actor))
}
