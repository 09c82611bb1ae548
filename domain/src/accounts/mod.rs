//! Local accounts: creating users, checking passwords, signing in, first-run setup.

mod password;
mod sessions;
mod setup;
mod throttle;
mod tokens;

pub use sessions::{ClientInfo, ResolvedSession, SessionToken, Sessions};
pub(crate) use setup::SetupToken;
pub(crate) use throttle::SignInThrottle;
pub(crate) use tokens::revoke_credentials;
pub use tokens::{
    ActorTokens, ApiTokens, MAX_VALID_DAYS as MAX_TOKEN_DAYS, NewToken, TokenChoice, TokenInfo,
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
    SqlErr,
};
use serde_json::{Value, json};

use crate::{
    Actor, Domain, Error, Result, Role,
    audit::{self, AuditedTxn},
    authz::{ObjectType, Operation, ScopeSet},
    db::entities::{security_roles, users},
};
use throttle::Key;

/// 256 bits from the OS generator, URL-safe.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The accounts service; see [`Domain::accounts`].
pub struct Accounts<'a> {
    domain: &'a Domain,
}

impl<'a> Accounts<'a> {
    pub(crate) fn new(domain: &'a Domain) -> Self {
        Self { domain }
    }

    /// The smallest password length accepted.
    pub const MIN_PASSWORD_CHARS: usize = password::MIN_PASSWORD_CHARS;

    /// Creates a local user with the given built-in roles on all scopes, as the local
    /// administrator (`wimdeck user add`, first-run setup); `how` says which, in the audit log.
    /// Fails with `Conflict` when the name (compared case-insensitively) is taken.
    pub async fn create_user(&self, username: &str, password: &str, roles: &[Role]) -> Result<i64> {
        self.create_local_user(username, password, roles, "wimdeck user add")
            .await
    }

    async fn create_local_user(
        &self,
        username: &str,
        password: &str,
        roles: &[Role],
        how: &str,
    ) -> Result<i64> {
        if roles.is_empty() {
            return Err(Error::invalid("roles", "a user needs at least one role"));
        }
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        let slugs: Vec<&str> = roles.iter().map(|r| r.slug()).collect();
        let role_rows = security_roles::Entity::find()
            .filter(security_roles::Column::Slug.is_in(slugs))
            .all(self.domain.db())
            .await?;
        if role_rows.len() != roles.len() {
            return Err(Error::Internal(
                "a built-in security role is missing".into(),
            ));
        }
        let assignments: Vec<(i64, ScopeSet)> =
            role_rows.iter().map(|r| (r.id, ScopeSet::All)).collect();
        let hash = self.hash_new_password(username, password).await?;
        let mut txn = AuditedTxn::begin(self.domain).await?;
        let id = self
            .insert_user(
                &txn,
                username,
                hash,
                &assignments,
                audit::LOCAL_ADMINISTRATOR,
            )
            .await?;
        let names: Vec<&str> = role_rows.iter().map(|r| r.name.as_str()).collect();
        txn.record(&audit::Entry::local(
            Operation::Create,
            ObjectType::Security,
            (id, username),
            &[(
                "user",
                Value::Null,
                json!({"roles": names, "scopes": "all"}),
            )],
            how,
        ))
        .await?;
        txn.commit().await?;
        tracing::info!(user = username, how, "user created");
        Ok(id)
    }

    /// Checks a new user's name and password and hashes the password (slow: before any
    /// transaction).
    pub(crate) async fn hash_new_password(&self, username: &str, password: &str) -> Result<String> {
        password::check_username(username)?;
        password::check_new_password(password)?;
        hash_blocking(password.to_owned()).await
    }

    /// Stores a new user and their role assignments (role id, scopes) inside `txn`.
    pub(crate) async fn insert_user(
        &self,
        txn: &AuditedTxn,
        username: &str,
        password_hash: String,
        assignments: &[(i64, ScopeSet)],
        created_by: &str,
    ) -> Result<i64> {
        if assignments.is_empty() {
            return Err(Error::invalid("roles", "a user needs at least one role"));
        }
        let key = password::username_key(username);
        let conn = txn.conn();
        let taken = users::Entity::find()
            .filter(users::Column::UsernameKey.eq(&key))
            .one(conn)
            .await?
            .is_some();
        if taken {
            return Err(username_taken(username));
        }
        let now = self.domain.now_ms();
        let user = users::ActiveModel {
            username: Set(username.to_owned()),
            username_key: Set(key),
            password_hash: Set(password_hash),
            disabled: Set(false),
            created_at_ms: Set(now),
            last_sign_in_at_ms: Set(None),
            ..Default::default()
        }
        .insert(conn)
        .await
        .map_err(|e| match e.sql_err() {
            // Lost a race with another insert of the same name.
            Some(SqlErr::UniqueConstraintViolation(_)) => username_taken(username),
            _ => e.into(),
        })?;
        for (role_id, scopes) in assignments {
            crate::authz::admin::insert_assignment(
                conn, user.id, *role_id, scopes, created_by, now,
            )
            .await?;
        }
        Ok(user.id)
    }

    /// Checks and hashes a replacement password (slow: before any transaction).
    pub(crate) async fn hash_replacement_password(&self, password: &str) -> Result<String> {
        password::check_new_password(password)?;
        hash_blocking(password.to_owned()).await
    }

    /// Replaces a user's password inside `conn`'s transaction and ends everything they were
    /// signed in with (sessions and API tokens).
    pub(crate) async fn store_password<C: ConnectionTrait>(
        &self,
        conn: &C,
        user_id: i64,
        password_hash: String,
    ) -> Result<()> {
        let updated = users::Entity::update_many()
            .col_expr(
                users::Column::PasswordHash,
                sea_orm::sea_query::Expr::value(password_hash),
            )
            .filter(users::Column::Id.eq(user_id))
            .exec(conn)
            .await?;
        if updated.rows_affected == 0 {
            return Err(Error::NotFound(format!("user {user_id}")));
        }
        tokens::revoke_credentials(conn, user_id, self.domain.now_ms()).await?;
        Ok(())
    }

    /// The user with id `user_id` as an actor, with their current rights (for the command
    /// line, jobs and tests; requests get theirs from the session).
    pub async fn actor(&self, user_id: i64) -> Result<Actor> {
        let user = users::Entity::find_by_id(user_id)
            .one(self.domain.db())
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {user_id}")))?;
        load_actor(self.domain, user).await
    }

    /// As [`Accounts::actor`], refusing a disabled user (work done later in their name, such
    /// as a schedule firing, must not outlive their access).
    pub(crate) async fn enabled_actor(&self, user_id: i64) -> Result<Actor> {
        let user = users::Entity::find_by_id(user_id)
            .one(self.domain.db())
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(|| Error::NotFound(format!("enabled user {user_id}")))?;
        load_actor(self.domain, user).await
    }

    /// How many users exist.
    pub async fn count_users(&self) -> Result<u64> {
        Ok(users::Entity::find().count(self.domain.db()).await?)
    }

    /// Checks a user name and password and opens a session. Failed attempts are throttled per
    /// user name from the source address, and per source address over all names (see
    /// `throttle`); a disabled or unknown user fails like a wrong password.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<(SessionToken, Actor)> {
        let key = password::username_key(username);
        let addr = client.source_addr.as_deref().unwrap_or("unknown");
        let name_here = Key::UserFrom { user: &key, addr };
        let keys = [name_here, Key::Address(addr)];
        let throttle = &self.domain.inner.throttle;
        throttle
            .check(&keys, self.domain.now_ms())
            .map_err(|retry_after_secs| Error::Throttled { retry_after_secs })?;

        let user = users::Entity::find()
            .filter(users::Column::UsernameKey.eq(&key))
            .one(self.domain.db())
            .await?;
        let verified = match &user {
            Some(u) => verify_blocking(password.to_owned(), u.password_hash.clone()).await?,
            None => {
                let password = password.to_owned();
                tokio::task::spawn_blocking(move || password::verify_against_nothing(&password))
                    .await
                    .map_err(|e| Error::Internal(e.to_string()))?;
                false
            }
        };
        let user = match user {
            Some(u) if verified && !u.disabled => u,
            _ => {
                let now = self.domain.now_ms();
                for k in keys {
                    throttle.record_failure(k, now);
                }
                tracing::warn!(user = username, source = addr, "failed sign-in");
                return Err(Error::InvalidCredentials);
            }
        };
        // Only this name's count from here: the address's count over all names stays, so
        // one valid account does not reset the limit for the others tried from it.
        throttle.clear(name_here);
        let (token, password_at_ms) = self.domain.sessions().create(user.id, client).await?;
        let mut actor = load_actor(self.domain, user).await?;
        actor.authentication = crate::authz::Authentication::Session { password_at_ms };
        tracing::info!(user = %actor.username, source = addr, "signed in");
        Ok((token, actor))
    }

    /// When no user exists, issues a one-time setup token (replacing any earlier one) for the
    /// link that creates the first Full Administrator. `None` once a user exists.
    pub async fn issue_setup_token(&self) -> Result<Option<String>> {
        if self.count_users().await? > 0 {
            return Ok(None);
        }
        Ok(Some(self.domain.inner.setup.issue().await))
    }

    /// Redeems the setup token: creates the first Full Administrator and signs them in.
    pub async fn complete_setup(
        &self,
        token: &str,
        username: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<(SessionToken, Actor)> {
        password::check_username(username)?;
        password::check_new_password(password)?;
        let created = self
            .domain
            .inner
            .setup
            .redeem(token, async {
                if self.count_users().await? > 0 {
                    return Err(Error::Conflict("setup is already complete; sign in instead".into()));
                }
                self.create_local_user(
                    username,
                    password,
                    &[Role::FullAdministrator],
                    "first-run setup link",
                )
                .await
            })
            .await
            .ok_or_else(|| {
                Error::invalid("token", "the setup link is not valid (it works once, and only until the server restarts)")
            })?;
        created?;
        self.sign_in(username, password, client).await
    }
}

fn username_taken(username: &str) -> Error {
    Error::Conflict(format!("a user named '{username}' already exists"))
}

pub(crate) async fn load_actor(domain: &Domain, user: users::Model) -> Result<Actor> {
    let grants = crate::authz::load_grants(domain.db(), user.id).await?;
    Ok(Actor {
        user_id: user.id,
        username: user.username,
        roles: grants.builtin_roles(),
        grants,
        source_addr: None,
        authentication: crate::authz::Authentication::Local,
    })
}

async fn hash_blocking(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
}

async fn verify_blocking(password: String, stored: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || password::verify(&password, &stored))
        .await
        .map_err(|e| Error::Internal(e.to_string()))
}
