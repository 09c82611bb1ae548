//! Browser sessions, stored in the database.
//!
//! The cookie holds a random 256-bit token; the table holds only its SHA-256, so reading the
//! table does not let anyone sign in. A session ends after `idle_timeout_minutes` without use or
//! `absolute_timeout_hours` after sign-in, whichever comes first.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, Set,
};
use sha2::{Digest, Sha256};

use super::throttle::Key;
use crate::{
    Actor, Domain, Error, Result,
    authz::Authentication,
    db::entities::{sessions, users},
};

/// Only refresh `last_seen` this often, so most requests do not write.
const TOUCH_INTERVAL_MS: i64 = 60_000;
const MAX_USER_AGENT_CHARS: usize = 256;

/// The secret a browser holds in its session cookie.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(…)")
    }
}

impl SessionToken {
    /// Wraps a token read from a cookie.
    pub fn from_cookie(value: &str) -> Self {
        Self(value.to_owned())
    }

    /// The value to put in the cookie.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn id(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

/// Where a request came from, recorded with the session and used for throttling.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    pub source_addr: Option<String>,
    pub user_agent: Option<String>,
}

/// A live session and the user behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedSession {
    pub actor: Actor,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

/// The sessions service; see [`Domain::sessions`].
pub struct Sessions<'a> {
    domain: &'a Domain,
}

impl<'a> Sessions<'a> {
    pub(crate) fn new(domain: &'a Domain) -> Self {
        Self { domain }
    }

    /// How long a cookie should live: the absolute timeout.
    pub fn cookie_max_age_secs(&self) -> i64 {
        self.domain.config().absolute_timeout_ms() / 1000
    }

    /// Opens a session for a user who just entered their password; returns its token and the
    /// time it was opened.
    pub(crate) async fn create(
        &self,
        user_id: i64,
        client: &ClientInfo,
    ) -> Result<(SessionToken, i64)> {
        let token = SessionToken(super::random_token());
        let now = self.domain.now_ms();
        let user_agent = client
            .user_agent
            .as_deref()
            .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect::<String>());
        sessions::ActiveModel {
            id: Set(token.id()),
            user_id: Set(user_id),
            created_at_ms: Set(now),
            last_seen_at_ms: Set(now),
            expires_at_ms: Set(now + self.domain.config().absolute_timeout_ms()),
            source_addr: Set(client.source_addr.clone()),
            user_agent: Set(user_agent),
            authenticated_at_ms: Set(now),
        }
        .insert(self.domain.db())
        .await?;
        users::ActiveModel {
            id: Set(user_id),
            last_sign_in_at_ms: Set(Some(now)),
            ..Default::default()
        }
        .update(self.domain.db())
        .await?;
        Ok((token, now))
    }

    /// The session behind a cookie token, if it is live and its user enabled. An expired session
    /// is deleted on sight.
    pub async fn resolve(&self, token: &SessionToken) -> Result<Option<ResolvedSession>> {
        let db = self.domain.db();
        let Some(session) = sessions::Entity::find_by_id(token.id()).one(db).await? else {
            return Ok(None);
        };
        let now = self.domain.now_ms();
        let idle_expired = now - session.last_seen_at_ms >= self.domain.config().idle_timeout_ms();
        if idle_expired || now >= session.expires_at_ms {
            sessions::Entity::delete_by_id(session.id).exec(db).await?;
            return Ok(None);
        }
        let Some(user) = users::Entity::find_by_id(session.user_id).one(db).await? else {
            return Ok(None);
        };
        if user.disabled {
            return Ok(None);
        }
        if now - session.last_seen_at_ms >= TOUCH_INTERVAL_MS {
            sessions::ActiveModel {
                id: Set(session.id.clone()),
                last_seen_at_ms: Set(now),
                ..Default::default()
            }
            .update(db)
            .await?;
        }
        let mut actor = super::load_actor(self.domain, user).await?;
        actor.authentication = Authentication::Session {
            password_at_ms: session.authenticated_at_ms,
        };
        Ok(Some(ResolvedSession {
            actor,
            created_at_ms: session.created_at_ms,
            expires_at_ms: session.expires_at_ms,
        }))
    }

    /// Checks the signed-in user's password again and records the time, so security-sensitive
    /// changes go through for the next `session.reauthenticate_after_minutes`. Wrong passwords
    /// are throttled like failed sign-ins (a stolen session cannot be used to guess it).
    pub async fn confirm_password(
        &self,
        token: &SessionToken,
        password: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        let db = self.domain.db();
        let session = self.resolve(token).await?.ok_or(Error::Unauthenticated)?;
        let user = users::Entity::find_by_id(session.actor.user_id)
            .one(db)
            .await?
            .ok_or(Error::Unauthenticated)?;
        let addr = client.source_addr.as_deref().unwrap_or("unknown");
        let keys = [
            Key::UserFrom {
                user: &user.username_key,
                addr,
            },
            Key::Address(addr),
        ];
        let throttle = &self.domain.inner.throttle;
        throttle
            .check(&keys, self.domain.now_ms())
            .map_err(|retry_after_secs| Error::Throttled { retry_after_secs })?;
        if !super::verify_blocking(password.to_owned(), user.password_hash).await? {
            let now = self.domain.now_ms();
            for k in keys {
                throttle.record_failure(k, now);
            }
            tracing::warn!(user = %user.username, source = addr, "wrong password at confirmation");
            return Err(Error::InvalidCredentials);
        }
        for k in keys {
            throttle.clear(k);
        }
        sessions::ActiveModel {
            id: Set(token.id()),
            authenticated_at_ms: Set(self.domain.now_ms()),
            ..Default::default()
        }
        .update(db)
        .await?;
        Ok(())
    }

    /// Ends the session behind a token (sign-out, or rotation at sign-in). Unknown tokens are
    /// ignored.
    pub async fn revoke(&self, token: &SessionToken) -> Result<()> {
        sessions::Entity::delete_by_id(token.id())
            .exec(self.domain.db())
            .await?;
        Ok(())
    }

    /// Sessions that have not expired.
    pub async fn count_active(&self) -> Result<u64> {
        let now = self.domain.now_ms();
        Ok(sessions::Entity::find()
            .filter(sessions::Column::ExpiresAtMs.gt(now))
            .filter(sessions::Column::LastSeenAtMs.gt(now - self.domain.config().idle_timeout_ms()))
            .count(self.domain.db())
            .await?)
    }

    /// Deletes expired sessions; returns how many.
    pub async fn prune_expired(&self) -> Result<u64> {
        let now = self.domain.now_ms();
        let result = sessions::Entity::delete_many()
            .filter(
                Condition::any()
                    .add(sessions::Column::ExpiresAtMs.lte(now))
                    .add(
                        sessions::Column::LastSeenAtMs
                            .lte(now - self.domain.config().idle_timeout_ms()),
                    ),
            )
            .exec(self.domain.db())
            .await?;
        Ok(result.rows_affected)
    }
}
