//! API tokens for automation. A token acts for the user who made it, with that user's current
//! rights, or fewer when limited to one of their roles. The secret is shown once; the table
//! holds only its SHA-256, so reading the table does not let anyone use a token.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, sea_query::Expr,
};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{
    Actor, Domain, Error, Result,
    audit::AuditedTxn,
    authz::{Authentication, ObjectType, Operation, Permissions},
    db::entities::{api_tokens, users},
};

/// What every secret starts with, so a leaked one is easy to recognise (secret scanners).
const SECRET_PREFIX: &str = "wdk_";
/// How many characters of the secret are kept to tell tokens apart.
const SHOWN_CHARS: usize = 12;
/// The longest validity a token may be given.
pub const MAX_VALID_DAYS: u32 = 365;
/// Only record a token's use this often, so most requests do not write.
const TOUCH_INTERVAL_MS: i64 = 60_000;

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A token as its owner sees it (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    /// The first characters of the secret.
    pub prefix: String,
    /// The role the token is limited to, or `None` for all of the user's rights.
    pub limited_to: Option<String>,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub last_used_at_ms: Option<i64>,
    pub last_used_from: Option<String>,
    pub revoked_at_ms: Option<i64>,
    /// Whether it has expired (as of when it was read).
    pub expired: bool,
}

impl From<api_tokens::Model> for TokenInfo {
    fn from(row: api_tokens::Model) -> Self {
        Self {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            limited_to: row.limit_label,
            created_at_ms: row.created_at_ms,
            expires_at_ms: row.expires_at_ms,
            last_used_at_ms: row.last_used_at_ms,
            last_used_from: row.last_used_from,
            revoked_at_ms: row.revoked_at_ms,
            expired: false,
        }
    }
}

/// A token just made: its details, and the secret, shown this once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub info: TokenInfo,
    pub secret: String,
}

/// A role a token may be limited to: one the user is assigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenChoice {
    pub role_id: i64,
    pub role_name: String,
}

/// Resolving bearer tokens; see [`Domain::api_tokens`].
pub struct ApiTokens<'a> {
    domain: &'a Domain,
}

impl<'a> ApiTokens<'a> {
    pub(crate) fn new(domain: &'a Domain) -> Self {
        Self { domain }
    }

    /// The user a bearer secret acts for, with the token's limit applied, or `None` when the
    /// secret is unknown, revoked or expired, or its user is disabled.
    pub async fn resolve(&self, secret: &str, source_addr: Option<&str>) -> Result<Option<Actor>> {
        if !secret.starts_with(SECRET_PREFIX) || secret.len() > 128 {
            return Ok(None);
        }
        let db = self.domain.db();
        let Some(token) = api_tokens::Entity::find()
            .filter(api_tokens::Column::TokenHash.eq(hash(secret)))
            .one(db)
            .await?
        else {
            return Ok(None);
        };
        let now = self.domain.now_ms();
        if token.revoked_at_ms.is_some() || now >= token.expires_at_ms {
            return Ok(None);
        }
        let Some(user) = users::Entity::find_by_id(token.user_id).one(db).await? else {
            return Ok(None);
        };
        if user.disabled {
            return Ok(None);
        }
        if token
            .last_used_at_ms
            .is_none_or(|at| now - at >= TOUCH_INTERVAL_MS)
        {
            api_tokens::ActiveModel {
                id: Set(token.id),
                last_used_at_ms: Set(Some(now)),
                last_used_from: Set(source_addr.map(|a| a.chars().take(64).collect())),
                ..Default::default()
            }
            .update(db)
            .await?;
        }
        let mut actor = super::load_actor(self.domain, user).await?;
        actor.authentication = Authentication::Token { id: token.id };
        if let Some(limit) = &token.limit_permissions {
            let limit: Permissions = serde_json::from_str(limit)
                .map_err(|e| Error::Internal(format!("token {} limit: {e}", token.id)))?;
            for grant in &mut actor.grants.0 {
                grant.permissions = grant.permissions.intersection(&limit);
            }
        }
        Ok(Some(actor))
    }
}

/// A user's own API tokens; see [`crate::ActorDomain::api_tokens`].
pub struct ActorTokens<'a> {
    domain: &'a Domain,
    actor: &'a Actor,
}

impl<'a> ActorTokens<'a> {
    pub(crate) fn new(domain: &'a Domain, actor: &'a Actor) -> Self {
        Self { domain, actor }
    }

    /// The user's tokens, newest first, revoked and expired ones included.
    pub async fn list(&self) -> Result<Vec<TokenInfo>> {
        let now = self.domain.now_ms();
        Ok(api_tokens::Entity::find()
            .filter(api_tokens::Column::UserId.eq(self.actor.user_id))
            .order_by_desc(api_tokens::Column::Id)
            .all(self.domain.db())
            .await?
            .into_iter()
            .map(|row| TokenInfo {
                expired: row.expires_at_ms <= now,
                ..row.into()
            })
            .collect())
    }

    /// The roles a new token may be limited to.
    pub fn choices(&self) -> Vec<TokenChoice> {
        let mut out: Vec<TokenChoice> = Vec::new();
        for grant in &self.actor.grants.0 {
            if !out.iter().any(|c| c.role_id == grant.role_id) {
                out.push(TokenChoice {
                    role_id: grant.role_id,
                    role_name: grant.role_name.clone(),
                });
            }
        }
        out
    }

    /// Makes a token valid for `valid_days`, acting with all of the user's rights or, with
    /// `limit_to_role`, only with that role's (on the scopes the user has it on or any other
    /// assignment's, whichever is narrower). A token is a password that never expires early, so
    /// making one needs a recently entered password, and a token cannot make another.
    pub async fn create(
        &self,
        name: &str,
        valid_days: u32,
        limit_to_role: Option<i64>,
    ) -> Result<NewToken> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(Error::invalid(
                "name",
                "a name of 1 to 64 characters is required",
            ));
        }
        if !(1..=MAX_VALID_DAYS).contains(&valid_days) {
            return Err(Error::invalid(
                "valid_days",
                format!("must be between 1 and {MAX_VALID_DAYS} days"),
            ));
        }
        crate::authz::require_recent_password(self.domain, self.actor, "create API tokens")?;
        let limit = match limit_to_role {
            None => None,
            Some(role_id) => {
                let grant = self
                    .actor
                    .grants
                    .0
                    .iter()
                    .find(|g| g.role_id == role_id)
                    .ok_or_else(|| {
                        Error::invalid("limit", "a token can only be limited to one of your roles")
                    })?;
                Some((grant.permissions, grant.role_name.clone()))
            }
        };
        let secret = format!("{SECRET_PREFIX}{}", super::random_token());
        let now = self.domain.now_ms();
        let row = api_tokens::ActiveModel {
            user_id: Set(self.actor.user_id),
            name: Set(name.to_owned()),
            token_hash: Set(hash(&secret)),
            prefix: Set(secret.chars().take(SHOWN_CHARS).collect()),
            limit_permissions: Set(limit
                .as_ref()
                .map(|(p, _)| serde_json::to_string(p))
                .transpose()
                .map_err(|e| Error::Internal(e.to_string()))?),
            limit_label: Set(limit.as_ref().map(|(_, label)| label.clone())),
            created_at_ms: Set(now),
            expires_at_ms: Set(now + i64::from(valid_days) * 86_400_000),
            ..Default::default()
        };
        let mut txn = AuditedTxn::begin(self.domain).await?;
        let row = row.insert(txn.conn()).await?;
        txn.allowed(
            self.actor,
            Operation::Create,
            ObjectType::Security,
            (
                row.id,
                &format!("API token '{name}' of {}", self.actor.username),
            ),
            &[
                ("expires_at_ms", json!(null), json!(row.expires_at_ms)),
                ("limited_to", json!(null), json!(row.limit_label)),
            ],
        )
        .await?;
        txn.commit().await?;
        Ok(NewToken {
            info: row.into(),
            secret,
        })
    }

    /// Revokes one of the user's tokens; it stops working at once.
    pub async fn revoke(&self, id: i64) -> Result<()> {
        let db = self.domain.db();
        let token = api_tokens::Entity::find_by_id(id)
            .one(db)
            .await?
            .filter(|t| t.user_id == self.actor.user_id)
            .ok_or_else(|| Error::NotFound(format!("API token {id}")))?;
        if token.revoked_at_ms.is_some() {
            return Ok(());
        }
        let now = self.domain.now_ms();
        let mut txn = AuditedTxn::begin(self.domain).await?;
        api_tokens::ActiveModel {
            id: Set(id),
            revoked_at_ms: Set(Some(now)),
            ..Default::default()
        }
        .update(txn.conn())
        .await?;
        txn.allowed(
            self.actor,
            Operation::Delete,
            ObjectType::Security,
            (
                id,
                &format!("API token '{}' of {}", token.name, self.actor.username),
            ),
            &[("revoked_at_ms", json!(null), json!(now))],
        )
        .await?;
        txn.commit().await
    }
}

/// Ends everything a user signed in with: their browser sessions and API tokens (inside the
/// caller's transaction). Used when their password changes or is reset, when they are
/// disabled, and when they lose their last role; what was issued under the old state must not
/// outlive it. Returns how many tokens were revoked.
pub(crate) async fn revoke_credentials<C: sea_orm::ConnectionTrait>(
    conn: &C,
    user_id: i64,
    now_ms: i64,
) -> Result<u64> {
    use crate::db::entities::sessions;
    sessions::Entity::delete_many()
        .filter(sessions::Column::UserId.eq(user_id))
        .exec(conn)
        .await?;
    let revoked = api_tokens::Entity::update_many()
        .col_expr(api_tokens::Column::RevokedAtMs, Expr::value(now_ms))
        .filter(api_tokens::Column::UserId.eq(user_id))
        .filter(api_tokens::Column::RevokedAtMs.is_null())
        .exec(conn)
        .await?;
    Ok(revoked.rows_affected)
}
