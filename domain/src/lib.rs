//! Wimdeck's domain: all behaviour and state, free of any web framework.
//!
//! The entry point is [`Domain`], a cheap-to-clone facade opened from a [`Config`]. It hands out
//! one service per area: [`Domain::accounts`] (users, passwords, sign-in) and
//! [`Domain::sessions`] (browser sessions). Work done on behalf of a signed-in user goes through
//! [`Domain::for_actor`], which takes the [`Actor`] resolved from the request, so an operation
//! cannot be reached without an identity to check.
//!
//! Errors are one enum, [`Error`]; time comes from a [`Clock`] so expiry can be tested.

pub mod accounts;
pub mod authz;
pub mod clock;
pub mod config;
mod db;
mod error;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

pub use accounts::{Accounts, SessionToken, Sessions};
pub use authz::{Actor, Role};
pub use clock::{Clock, SystemClock};
pub use config::Config;
pub use db::DatabaseKind;
pub use error::{Error, Result};

use sea_orm::DatabaseConnection;

/// The version of Wimdeck, shown in the console and in `/healthz`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The domain facade: shared by every request handler and daemon.
#[derive(Clone)]
pub struct Domain {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    kind: DatabaseKind,
    server_version: String,
    config: Config,
    clock: Arc<dyn Clock>,
    throttle: accounts::SignInThrottle,
    setup: accounts::SetupToken,
}

impl Domain {
    /// Connects to the configured database, applies pending migrations and returns the facade.
    pub async fn open(config: &Config) -> Result<Self> {
        Self::open_with_clock(config, Arc::new(SystemClock)).await
    }

    /// As [`Domain::open`], with a clock of the caller's (tests move time forward with it).
    pub async fn open_with_clock(config: &Config, clock: Arc<dyn Clock>) -> Result<Self> {
        let url = config.effective_database_url()?;
        let db = db::connect(&url).await?;
        db::migrate(&db).await?;
        let kind = DatabaseKind::of(&db);
        let server_version = db::server_version(&db).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                kind,
                server_version,
                config: config.clone(),
                clock,
                throttle: accounts::SignInThrottle::default(),
                setup: accounts::SetupToken::default(),
            }),
        })
    }

    /// Applies pending migrations to the configured database without opening the facade.
    pub async fn migrate(config: &Config) -> Result<usize> {
        let db = db::connect(&config.effective_database_url()?).await?;
        let applied = db::migrate(&db).await?;
        db.close().await?;
        Ok(applied)
    }

    /// Users, passwords, sign-in and first-run setup.
    pub fn accounts(&self) -> Accounts<'_> {
        Accounts::new(self)
    }

    /// Browser sessions: resolve, revoke, prune.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions::new(self)
    }

    /// Operations performed on behalf of a signed-in user.
    pub fn for_actor<'a>(&'a self, actor: &'a Actor) -> ActorDomain<'a> {
        ActorDomain {
            domain: self,
            actor,
        }
    }

    /// Which database engine the console runs on.
    pub fn database_kind(&self) -> DatabaseKind {
        self.inner.kind
    }

    /// The effective configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Succeeds when the database answers a query (used by `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        self.inner.db.ping().await?;
        Ok(())
    }

    /// Closes the connection pool (at shutdown).
    pub async fn close(&self) -> Result<()> {
        self.inner.db.close_by_ref().await?;
        Ok(())
    }

    fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }
}

/// The domain as seen by one signed-in user.
pub struct ActorDomain<'a> {
    domain: &'a Domain,
    actor: &'a Actor,
}

/// What the dashboard shows: facts about this installation that any signed-in user may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub version: &'static str,
    pub database_kind: DatabaseKind,
    pub database_version: String,
    pub users: u64,
    pub active_sessions: u64,
}

impl ActorDomain<'_> {
    /// The signed-in user this handle acts for.
    pub fn actor(&self) -> &Actor {
        self.actor
    }

    /// The installation's status, for the dashboard.
    pub async fn status(&self) -> Result<Status> {
        let d = self.domain;
        Ok(Status {
            version: VERSION,
            database_kind: d.inner.kind,
            database_version: d.inner.server_version.clone(),
            users: d.accounts().count_users().await?,
            active_sessions: d.sessions().count_active().await?,
        })
    }
}
