//! Wimdeck's domain: all behaviour and state, free of any web framework.
//!
//! The entry point is [`Domain`], a cheap-to-clone facade opened from a [`Config`]. It hands out
//! one service per area: [`Domain::accounts`] (users, passwords, sign-in) and
//! [`Domain::sessions`] (browser sessions). Work done on behalf of a signed-in user goes through
//! [`Domain::for_actor`], which takes the [`Actor`] resolved from the request, so an operation
//! cannot be reached without an identity to check.
//!
//! Long work runs as jobs ([`jobs`]): [`Domain::jobs`] queues and inspects them, a
//! [`jobs::Runner`] runs them.
//!
//! Errors are one enum, [`Error`]; time comes from a [`Clock`] so expiry can be tested.

pub mod accounts;
pub mod audit;
pub mod authz;
pub mod boot;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod content;
pub mod datadir;
mod db;
pub mod distribution;
pub mod drivers;
mod error;
pub mod fixtures;
pub mod fsx;
pub mod jobs;
pub mod progress;
pub mod regf;
#[cfg(feature = "testing")]
pub mod testing;
pub mod wim;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, RwLock},
};

use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

pub use accounts::{Accounts, SessionToken, Sessions};
pub use authz::{Actor, Role};
pub use clock::{Clock, SystemClock};
pub use config::Config;
pub use db::DatabaseKind;
pub use error::{Error, Refusal, Result, sentence};

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
    job_kinds: RwLock<BTreeMap<&'static str, Arc<dyn jobs::JobKind>>>,
    job_events: broadcast::Sender<jobs::JobEvent>,
    wim: Arc<dyn wim::WimBackend>,
    /// Wakes local runners when a job is queued.
    job_wake: Arc<Notify>,
    /// Cancellation tokens of jobs running in this process.
    running_jobs: Mutex<HashMap<i64, CancellationToken>>,
    /// Hashing state of uploads being received by this process.
    uploads: catalog::uploads::InFlight,
    /// The newest audit entry this process wrote to the anchor file.
    audit_anchor: Mutex<i64>,
    /// What boot image bases contain, by base file (a base never changes once written), for
    /// images that have no recipe row to keep it in yet.
    base_facts: Mutex<HashMap<std::path::PathBuf, boot::BaseFacts>>,
    /// Distribution changes: wakes the long polls of DPs this process answers, tells pages.
    distribution_events: Arc<distribution::events::Events>,
    /// Fires when the server begins to stop: long polls answer at once.
    stopping: CancellationToken,
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
        let job_kinds = jobs::kinds::builtin()
            .into_iter()
            .chain(catalog::kinds::all())
            .chain(drivers::job_kinds())
            .chain(boot::job_kinds())
            .chain(distribution::jobs::job_kinds())
            .map(|k| (k.name(), k))
            .collect();
        let domain = Self {
            inner: Arc::new(Inner {
                db,
                kind,
                server_version,
                config: config.clone(),
                clock,
                throttle: accounts::SignInThrottle::default(),
                setup: accounts::SetupToken::default(),
                job_kinds: RwLock::new(job_kinds),
                job_events: broadcast::channel(1024).0,
                wim: Arc::new(wim::Wimlib),
                job_wake: Arc::new(Notify::new()),
                running_jobs: Mutex::new(HashMap::new()),
                uploads: catalog::uploads::InFlight::default(),
                audit_anchor: Mutex::new(0),
                base_facts: Mutex::new(HashMap::new()),
                distribution_events: Arc::default(),
                stopping: CancellationToken::new(),
            }),
        };
        // "This server" is a DP from the first start.
        domain.distribution_points().ensure_site().await?;
        Ok(domain)
    }

    /// Applies pending migrations to the configured database without opening the facade.
    pub async fn migrate(config: &Config) -> Result<usize> {
        let db = db::connect(&config.effective_database_url()?).await?;
        let applied = db::migrate(&db).await?;
        db.close().await?;
        Ok(applied)
    }

    /// The audit log: appending and verifying the hash chain.
    pub fn audit(&self) -> audit::Audit<'_> {
        audit::Audit::new(self)
    }

    /// Users, passwords, sign-in and first-run setup.
    pub fn accounts(&self) -> Accounts<'_> {
        Accounts::new(self)
    }

    /// API tokens: resolving a bearer token to the user it acts for.
    pub fn api_tokens(&self) -> accounts::ApiTokens<'_> {
        accounts::ApiTokens::new(self)
    }

    /// Browser sessions: resolve, revoke, prune.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions::new(self)
    }

    /// The job queue, as the system itself uses it (no permission checks).
    pub fn jobs(&self) -> jobs::Jobs<'_> {
        jobs::Jobs::new(self)
    }

    /// The image catalog, as the system uses it (no permission checks).
    pub fn catalog(&self) -> catalog::Catalog<'_> {
        catalog::Catalog::new(self)
    }

    /// Boot images' recipes and revisions, as the system uses them (no permission checks).
    pub fn boot_images(&self) -> boot::BootImages<'_> {
        boot::BootImages::new(self)
    }

    /// The content library, as the system uses it (no permission checks).
    pub fn content(&self) -> content::ContentLibrary<'_> {
        content::ContentLibrary::new(self)
    }

    /// Distribution points, as the system uses them (no permission checks).
    pub fn distribution_points(&self) -> distribution::points::DistributionPoints<'_> {
        distribution::points::DistributionPoints::new(self)
    }

    /// The site as DPs see it: the protocol's handlers.
    pub fn dp_site(&self) -> distribution::site::Site<'_> {
        distribution::site::Site::new(self)
    }

    pub(crate) fn distribution_events(&self) -> &Arc<distribution::events::Events> {
        &self.inner.distribution_events
    }

    /// Live distribution changes (a DP's work, a status it reported), from this process and,
    /// on PostgreSQL, from every site server sharing the database.
    pub fn subscribe_distribution(
        &self,
    ) -> broadcast::Receiver<distribution::events::DistributionEvent> {
        distribution::events::ensure_listening(self);
        self.inner.distribution_events.subscribe()
    }

    /// The server is stopping: requests that wait (DPs' long polls) answer now.
    pub fn begin_shutdown(&self) {
        self.inner.stopping.cancel();
    }

    pub(crate) fn stopping(&self) -> &CancellationToken {
        &self.inner.stopping
    }

    /// The driver catalog, as the system uses it (no permission checks).
    pub fn driver_catalog(&self) -> drivers::catalog::DriverCatalog<'_> {
        drivers::catalog::DriverCatalog::new(self)
    }

    /// The WIM engine.
    pub fn wim_backend(&self) -> Arc<dyn wim::WimBackend> {
        self.inner.wim.clone()
    }

    pub(crate) fn upload_receivers(&self) -> &catalog::uploads::InFlight {
        &self.inner.uploads
    }

    /// Adds a job kind (later capabilities and tests add theirs).
    pub fn register_job_kind(&self, kind: Arc<dyn jobs::JobKind>) {
        self.inner
            .job_kinds
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(kind.name(), kind);
    }

    /// Every registered job kind, by name.
    pub fn job_kinds(&self) -> Vec<Arc<dyn jobs::JobKind>> {
        self.inner
            .job_kinds
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub(crate) fn job_kind(&self, name: &str) -> Result<Arc<dyn jobs::JobKind>> {
        self.inner
            .job_kinds
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
            .ok_or_else(|| Error::invalid("kind", format!("'{name}' is not a kind of job")))
    }

    /// Live job events (progress, state changes) from this process.
    pub fn subscribe_jobs(&self) -> broadcast::Receiver<jobs::JobEvent> {
        self.inner.job_events.subscribe()
    }

    pub(crate) fn publish(&self, event: jobs::JobEvent) {
        // No subscribers is fine.
        let _ = self.inner.job_events.send(event);
    }

    pub(crate) fn cached_facts(&self, base: &std::path::Path) -> Option<boot::BaseFacts> {
        self.inner
            .base_facts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(base)
            .cloned()
    }

    pub(crate) fn cache_facts(&self, base: std::path::PathBuf, facts: boot::BaseFacts) {
        let mut cache = self
            .inner
            .base_facts
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // A handful of bases are in use at a time; the cache never grows past that much.
        if cache.len() >= 256 {
            cache.clear();
        }
        cache.insert(base, facts);
    }

    pub(crate) fn register_running(&self, id: i64, token: CancellationToken) {
        self.inner
            .running_jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, token);
    }

    pub(crate) fn unregister_running(&self, id: i64) {
        self.inner
            .running_jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    pub(crate) fn running_token(&self, id: i64) -> Option<CancellationToken> {
        self.inner
            .running_jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    /// Operations performed on behalf of a signed-in user.
    pub fn for_actor<'a>(&'a self, actor: &'a Actor) -> ActorDomain<'a> {
        ActorDomain {
            domain: self,
            actor,
        }
    }

    /// Cleans up after a crash, area by area: what a job never committed (catalog files,
    /// driver-store folders, temporaries of every store and of the content library) and boot
    /// image assets no recipe names. Run at
    /// start-up, before the runner and before the console answers.
    pub async fn sweep(&self) -> Result<SweepReport> {
        Ok(SweepReport {
            catalog: catalog::store::sweep(self).await?,
            driver_folders: drivers::catalog::sweep(self).await?,
            boot_assets: boot::sweep(self).await?,
            content: content::sweep::sweep(self).await?,
        })
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

    /// The time by the domain's clock (Unix ms), which tests may set.
    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }
}

/// What [`Domain::sweep`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub catalog: catalog::store::SweepReport,
    /// Driver-store folders of imports that never committed, and their staging folders.
    pub driver_folders: Vec<std::path::PathBuf>,
    /// Boot image assets (backgrounds, prestart folders) no recipe names any more.
    pub boot_assets: Vec<std::path::PathBuf>,
    /// Temporary files of the content library and of prestaged files.
    pub content: Vec<std::path::PathBuf>,
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
    pub running_jobs: u64,
    pub queued_jobs: u64,
}

impl<'a> ActorDomain<'a> {
    /// The signed-in user this handle acts for.
    pub fn actor(&self) -> &Actor {
        self.actor
    }

    /// Jobs, with this user's rights.
    pub fn jobs(&self) -> jobs::ActorJobs<'a> {
        jobs::ActorJobs::new(self.domain, self.actor)
    }

    /// Boot images and OS images, with this user's rights.
    pub fn catalog(&self) -> catalog::ActorCatalog<'a> {
        catalog::ActorCatalog::new(self.domain, self.actor)
    }

    /// The driver catalog, with this user's rights.
    pub fn drivers(&self) -> drivers::catalog::ActorDrivers<'a> {
        drivers::catalog::ActorDrivers::new(self.domain, self.actor)
    }

    /// The driver lists of boot images, with this user's rights.
    pub fn boot_drivers(&self) -> boot::drivers::ActorBootDrivers<'a> {
        boot::drivers::ActorBootDrivers::new(self.domain, self.actor)
    }

    /// Boot images' recipes, builds and revisions, with this user's rights.
    pub fn boot_images(&self) -> boot::access::ActorBootImages<'a> {
        boot::access::ActorBootImages::new(self.domain, self.actor)
    }

    /// Distribution points, with this user's rights.
    pub fn distribution_points(&self) -> distribution::points::ActorDistributionPoints<'a> {
        distribution::points::ActorDistributionPoints::new(self.domain, self.actor)
    }

    /// Distribution point groups, with this user's rights.
    pub fn dp_groups(&self) -> distribution::groups::ActorGroups<'a> {
        distribution::groups::ActorGroups::new(self.domain, self.actor)
    }

    /// Distributing content, with this user's rights.
    pub fn distribution(&self) -> distribution::actions::ActorDistribution<'a> {
        distribution::actions::ActorDistribution::new(self.domain, self.actor)
    }

    /// Prestaged content files, with this user's rights.
    pub fn prestaged(&self) -> distribution::prestage::ActorPrestaged<'a> {
        distribution::prestage::ActorPrestaged::new(self.domain, self.actor)
    }

    /// Where content stands on DPs, as this user may see it.
    pub fn distribution_status(&self) -> distribution::status::ActorStatus<'a> {
        distribution::status::ActorStatus::new(self.domain, self.actor)
    }

    /// Users, roles, security scopes, assignments and the scopes of objects.
    pub fn security(&self) -> authz::admin::ActorSecurity<'a> {
        authz::admin::ActorSecurity::new(self.domain, self.actor)
    }

    /// The audit log, for Auditors: search and export.
    pub fn audit(&self) -> audit::ActorAudit<'a> {
        audit::ActorAudit::new(self.domain, self.actor)
    }

    /// The user's own API tokens.
    pub fn api_tokens(&self) -> accounts::ActorTokens<'a> {
        accounts::ActorTokens::new(self.domain, self.actor)
    }

    /// The user's uploads of WIM files from the browser.
    pub fn uploads(&self) -> catalog::uploads::ActorUploads<'a> {
        catalog::uploads::ActorUploads::new(self.domain, self.actor)
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
            running_jobs: d.jobs().count_in(jobs::JobState::Running).await?,
            queued_jobs: d.jobs().count_in(jobs::JobState::Queued).await?,
        })
    }
}
