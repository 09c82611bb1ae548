//! Browser sessions, stored in the database.
//!
//! The cookie holds a random 256-bit token; the table holds only its SHA-256, so reading the
//! table does not let anyone sign in. A session ends after `idle_timeout_minutes` without use or
//! `absolute_timeout_hours` after sign-in, whichever comes first.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, Set,
};
use sha2::{Digest, Sha256};

use crate::{
    Actor, Domain, Result,
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

    pub(crate) async fn create(&self, user_id: i64, client: &ClientInfo) -> Result<SessionToken> {
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
        Ok(token)
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
        Ok(Some(ResolvedSession {
            actor: super::load_actor(self.domain, user).await?,
            created_at_ms: session.created_at_ms,
            expires_at_ms: session.expires_at_ms,
        }))
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
