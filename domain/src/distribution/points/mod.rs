//! Distribution points: "This server" and remote DPs, their settings, health, enrollment and
//! credentials.
//!
//! A remote DP is created in the console, then enrolled with a one-time token (shown once,
//! expiring): the DP trades it for a credential of its own, which it sends with every request.
//! Only hashes of tokens and credentials are stored. A revoked, disabled or deleted DP is
//! refused at its next request.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
    SqlErr,
};
use serde::{Deserialize, Serialize};

use crate::{
    Domain, Error, Result,
    authz::{self, ObjectType},
    config::IpNet,
    db::entities::{distribution_points, dp_enrollments},
};

mod actor;

pub use actor::{ActorDistributionPoints, NewDp};

/// What a DP is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DpKind {
    /// This server's own DP.
    Site,
    Remote,
}

impl DpKind {
    fn as_str(self) -> &'static str {
        match self {
            DpKind::Site => "site",
            DpKind::Remote => "remote",
        }
    }
}

/// How a DP is doing, as the console shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DpHealth {
    /// Created, never enrolled.
    NotEnrolled,
    Online,
    /// It has not reported for longer than `distribution.offline_after_minutes`.
    Offline,
    Disabled,
    Revoked,
}

impl DpHealth {
    pub fn label(self) -> &'static str {
        match self {
            DpHealth::NotEnrolled => "Not enrolled",
            DpHealth::Online => "Online",
            DpHealth::Offline => "Offline",
            DpHealth::Disabled => "Disabled",
            DpHealth::Revoked => "Revoked",
        }
    }
}

/// The settings an admin gives a DP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpSettings {
    pub description: String,
    /// Subnets (CIDR) of the clients it serves.
    pub boundaries: Vec<String>,
    /// KiB/s; `None`: unlimited.
    pub rate_limit_kbps: Option<u32>,
    /// `(from, to)` hours (0–24, the DP's local time) when the limit applies; `None`: always.
    pub rate_limit_hours: Option<(u8, u8)>,
    pub concurrent_transfers: u32,
    pub prestaged_enabled: bool,
    /// Hours between the DP's own validations; `None`: only when asked.
    pub validate_every_hours: Option<u32>,
}

impl Default for DpSettings {
    fn default() -> Self {
        Self {
            description: String::new(),
            boundaries: Vec::new(),
            rate_limit_kbps: None,
            rate_limit_hours: None,
            concurrent_transfers: 2,
            prestaged_enabled: false,
            validate_every_hours: None,
        }
    }
}

impl DpSettings {
    /// Checks and normalises the settings (boundaries in canonical form).
    pub fn checked(mut self) -> Result<Self> {
        self.description = self.description.trim().to_owned();
        if self.description.chars().count() > 1024 {
            return Err(Error::invalid(
                "description",
                "is longer than 1,024 characters",
            ));
        }
        if self.boundaries.len() > 256 {
            return Err(Error::invalid("boundaries", "lists more than 256 subnets"));
        }
        let mut boundaries = Vec::new();
        for text in &self.boundaries {
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let net = IpNet::parse(text).ok_or_else(|| {
                Error::invalid(
                    "boundaries",
                    format!(
                        "\"{}\" is not a subnet (10.1.0.0/16, fd00::/64)",
                        text.escape_debug()
                    ),
                )
            })?;
            boundaries.push(net.to_string());
        }
        boundaries.sort();
        boundaries.dedup();
        self.boundaries = boundaries;
        if let Some(rate) = self.rate_limit_kbps
            && !(1..=10_000_000).contains(&rate)
        {
            return Err(Error::invalid(
                "rate_limit_kbps",
                "must be between 1 and 10,000,000 KiB/s, or unlimited",
            ));
        }
        if let Some((from, to)) = self.rate_limit_hours
            && (from > 24 || to > 24 || from == to)
        {
            return Err(Error::invalid(
                "rate_limit_hours",
                "must be two different hours from 0 to 24 (from 8 to 18, say)",
            ));
        }
        if !(1..=16).contains(&self.concurrent_transfers) {
            return Err(Error::invalid(
                "concurrent_transfers",
                "must be between 1 and 16",
            ));
        }
        if let Some(hours) = self.validate_every_hours
            && !(1..=8760).contains(&hours)
        {
            return Err(Error::invalid(
                "validate_every_hours",
                "must be between 1 and 8,760 hours (a year)",
            ));
        }
        Ok(self)
    }
}

/// A distribution point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributionPoint {
    pub id: i64,
    pub name: String,
    pub kind: DpKind,
    pub enabled: bool,
    pub settings: DpSettings,
    pub health: DpHealth,
    pub enrolled_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
    pub last_contact_ms: Option<i64>,
    pub agent_version: Option<String>,
    pub free_bytes: Option<u64>,
    pub library_bytes: Option<u64>,
    pub created_by: String,
    pub created_at_ms: i64,
    pub row_version: i32,
}

/// What a DP tells about itself with each poll.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpReport {
    pub agent_version: String,
    pub free_bytes: u64,
    pub library_bytes: u64,
}

/// The name of the site's own DP.
pub const SITE_DP_NAME: &str = "This server";

/// A DP's name: trimmed, 1–128 characters, no control characters.
pub fn validate_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 128 {
        return Err(Error::invalid("name", "must be 1 to 128 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

/// A credential's or token's stored form.
pub(crate) fn secret_hash(secret: &str) -> String {
    crate::content::manifest::sha256_hex(secret.as_bytes())
}

pub(super) fn to_point(domain: &Domain, row: distribution_points::Model) -> DistributionPoint {
    let now = domain.now_ms();
    let offline_after =
        i64::from(domain.config().distribution.offline_after_minutes).max(1) * 60_000;
    let health = if row.revoked_at_ms.is_some() {
        DpHealth::Revoked
    } else if !row.enabled {
        DpHealth::Disabled
    } else if row.credential_hash.is_none() {
        DpHealth::NotEnrolled
    } else if row
        .last_contact_ms
        .is_some_and(|t| now - t <= offline_after)
    {
        DpHealth::Online
    } else {
        DpHealth::Offline
    };
    let bytes = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok());
    DistributionPoint {
        id: row.id,
        name: row.name,
        kind: if row.kind == "site" {
            DpKind::Site
        } else {
            DpKind::Remote
        },
        enabled: row.enabled,
        settings: DpSettings {
            description: row.description,
            boundaries: serde_json::from_str(&row.boundaries).unwrap_or_default(),
            rate_limit_kbps: row.rate_limit_kbps.and_then(|v| u32::try_from(v).ok()),
            rate_limit_hours: row.rate_limit_hours.as_deref().and_then(parse_hours),
            concurrent_transfers: u32::try_from(row.concurrent_transfers).unwrap_or(1),
            prestaged_enabled: row.prestaged_enabled,
            validate_every_hours: row.validate_every_hours.and_then(|v| u32::try_from(v).ok()),
        },
        health,
        enrolled_at_ms: row.enrolled_at_ms,
        revoked_at_ms: row.revoked_at_ms,
        last_contact_ms: row.last_contact_ms,
        agent_version: row.agent_version,
        free_bytes: bytes(row.free_bytes),
        library_bytes: bytes(row.library_bytes),
        created_by: row.created_by,
        created_at_ms: row.created_at_ms,
        row_version: row.row_version,
    }
}

fn parse_hours(text: &str) -> Option<(u8, u8)> {
    let (from, to) = text.split_once('-')?;
    Some((from.parse().ok()?, to.parse().ok()?))
}

pub(super) fn apply_settings(
    model: &mut distribution_points::ActiveModel,
    settings: &DpSettings,
) -> Result<()> {
    model.description = Set(settings.description.clone());
    model.boundaries =
        Set(serde_json::to_string(&settings.boundaries)
            .map_err(|e| Error::Internal(e.to_string()))?);
    model.rate_limit_kbps = Set(settings.rate_limit_kbps.and_then(|v| i32::try_from(v).ok()));
    model.rate_limit_hours = Set(settings.rate_limit_hours.map(|(a, b)| format!("{a}-{b}")));
    model.concurrent_transfers = Set(i32::try_from(settings.concurrent_transfers).unwrap_or(1));
    model.prestaged_enabled = Set(settings.prestaged_enabled);
    model.validate_every_hours = Set(settings
        .validate_every_hours
        .and_then(|v| i32::try_from(v).ok()));
    Ok(())
}

/// Distribution points as the system uses them (no permission checks).
pub struct DistributionPoints<'a> {
    domain: &'a Domain,
}

impl<'a> DistributionPoints<'a> {
    pub(crate) fn new(domain: &'a Domain) -> Self {
        Self { domain }
    }

    pub async fn list(&self) -> Result<Vec<DistributionPoint>> {
        Ok(distribution_points::Entity::find()
            .order_by_asc(distribution_points::Column::Name)
            .all(self.domain.db())
            .await?
            .into_iter()
            .map(|row| to_point(self.domain, row))
            .collect())
    }

    pub async fn get(&self, id: i64) -> Result<DistributionPoint> {
        distribution_points::Entity::find_by_id(id)
            .one(self.domain.db())
            .await?
            .map(|row| to_point(self.domain, row))
            .ok_or_else(|| Error::NotFound(format!("distribution point {id}")))
    }

    /// The site's own DP, made on first start (an admin may disable it, not delete it).
    pub async fn ensure_site(&self) -> Result<DistributionPoint> {
        let db = self.domain.db();
        if let Some(row) = distribution_points::Entity::find()
            .filter(distribution_points::Column::Kind.eq(DpKind::Site.as_str()))
            .one(db)
            .await?
        {
            return Ok(to_point(self.domain, row));
        }
        let txn = crate::db::begin_write(db).await?;
        let mut model = distribution_points::ActiveModel {
            name: Set(SITE_DP_NAME.to_owned()),
            kind: Set(DpKind::Site.as_str().to_owned()),
            enabled: Set(true),
            created_by: Set("Wimdeck".to_owned()),
            created_at_ms: Set(self.domain.now_ms()),
            row_version: Set(1),
            ..Default::default()
        };
        apply_settings(
            &mut model,
            &DpSettings {
                description: "The DP this server runs itself".into(),
                ..DpSettings::default()
            },
        )?;
        let row = match model.insert(&txn).await {
            Ok(row) => row,
            // Another server sharing the database made it first.
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                drop(txn);
                return distribution_points::Entity::find()
                    .filter(distribution_points::Column::Kind.eq(DpKind::Site.as_str()))
                    .one(db)
                    .await?
                    .map(|row| to_point(self.domain, row))
                    .ok_or_else(|| Error::Internal("the site DP vanished".into()));
            }
            Err(e) => return Err(e.into()),
        };
        let scopes =
            authz::scopes::for_new_object(&txn, ObjectType::DistributionPoint, None).await?;
        authz::scopes::set(&txn, ObjectType::DistributionPoint, row.id, &scopes).await?;
        txn.commit().await?;
        Ok(to_point(self.domain, row))
    }

    /// The right to run "This server"'s DP, if no other site server sharing the database
    /// holds it (one agent, one folder, one credential: servers that shared it would replace
    /// each other's credential). On PostgreSQL a session advisory lock on a connection of its
    /// own, released when the lease is dropped or the server dies; on SQLite (one server) it
    /// is always granted.
    pub async fn try_lease_site_dp(&self) -> Result<Option<SiteDpLease>> {
        if self.domain.database_kind() != crate::db::DatabaseKind::Postgres {
            return Ok(Some(SiteDpLease { connection: None }));
        }
        use sea_orm::sqlx::{Connection, Row};
        let pool = self.domain.db().get_postgres_connection_pool();
        let mut connection = pool.acquire().await.map_err(sqlx_error)?.detach();
        let row = sea_orm::sqlx::query("SELECT pg_try_advisory_lock($1)")
            .bind(SITE_DP_LOCK)
            .fetch_one(&mut connection)
            .await
            .map_err(sqlx_error)?;
        let held: bool = row.try_get(0).map_err(sqlx_error)?;
        if held {
            Ok(Some(SiteDpLease {
                connection: Some(connection),
            }))
        } else {
            let _ = connection.close().await;
            Ok(None)
        }
    }

    /// Asks again for what the site records "This server"'s DP as holding but its folder
    /// (`layout`) lacks: after a takeover the folder is another server's, or it was emptied.
    /// Returns how many contents were asked for.
    pub async fn reconcile_site_dp(&self, layout: &super::agent::Layout) -> Result<usize> {
        use crate::db::entities::distribution_assignments as assignments;
        let site = self.ensure_site().await?;
        let rows = assignments::Entity::find()
            .filter(assignments::Column::DpId.eq(site.id))
            .filter(assignments::Column::State.eq(super::assign::DistState::Success.as_str()))
            .all(self.domain.db())
            .await?;
        let mut missing = Vec::new();
        for row in rows {
            let held = layout
                .installed(row.content_id)?
                .is_some_and(|(installed, _)| {
                    Some(installed.version_id) == row.installed_version_id
                });
            if let (false, Some(target)) = (held, row.target_version_id) {
                missing.push((row.content_id, self.domain.content().version(target).await?));
            }
        }
        if missing.is_empty() {
            return Ok(0);
        }
        let now = self.domain.now_ms();
        let txn = crate::db::begin_write(self.domain.db()).await?;
        for (content_id, version) in &missing {
            super::assign::request_in(
                &txn,
                *content_id,
                site.id,
                Some(version),
                super::protocol::WorkAction::Install,
                now,
            )
            .await?;
        }
        txn.commit().await?;
        super::assign::wake_dp(self.domain, site.id);
        Ok(missing.len())
    }

    /// Gives the site's DP a new credential for this server's own agent (it runs in the same
    /// process, speaking the same protocol as any DP). Only the holder of the
    /// [`SiteDpLease`] calls it.
    pub async fn issue_site_credential(&self) -> Result<(DistributionPoint, String)> {
        let site = self.ensure_site().await?;
        let credential = crate::accounts::random_token();
        let row = distribution_points::Entity::find_by_id(site.id)
            .one(self.domain.db())
            .await?
            .ok_or_else(|| Error::NotFound("the site DP".into()))?;
        let mut model = row.into_active_model();
        model.credential_hash = Set(Some(secret_hash(&credential)));
        if site.enrolled_at_ms.is_none() {
            model.enrolled_at_ms = Set(Some(self.domain.now_ms()));
        }
        let row = model.update(self.domain.db()).await?;
        Ok((to_point(self.domain, row), credential))
    }

    /// The DP a credential belongs to, refusing revoked and disabled ones. Every request of a
    /// DP goes through here.
    pub async fn authenticate(&self, credential: &str) -> Result<DistributionPoint> {
        if credential.is_empty() || credential.len() > 256 {
            return Err(Error::Unauthenticated);
        }
        let row = distribution_points::Entity::find()
            .filter(distribution_points::Column::CredentialHash.eq(secret_hash(credential)))
            .one(self.domain.db())
            .await?
            .ok_or(Error::Unauthenticated)?;
        let point = to_point(self.domain, row);
        match point.health {
            DpHealth::Revoked => Err(Error::Conflict(format!(
                "the distribution point \"{}\" was revoked; enroll it again with a new token",
                point.name
            ))),
            DpHealth::Disabled => Err(Error::Conflict(format!(
                "the distribution point \"{}\" is disabled in the console",
                point.name
            ))),
            _ => Ok(point),
        }
    }

    /// Trades a one-time enrollment token for the DP's credential. The token is used up in
    /// the same transaction; a used, expired or unknown token is refused with one message (the
    /// caller learns nothing about which).
    pub async fn enroll(
        &self,
        token: &str,
        report: &DpReport,
    ) -> Result<(DistributionPoint, String)> {
        let refused = || {
            Error::invalid(
                "token",
                "is not a valid enrollment token (it may have expired or been used); make a new one in the console",
            )
        };
        if token.is_empty() || token.len() > 256 {
            return Err(refused());
        }
        let now = self.domain.now_ms();
        let txn = crate::db::begin_write(self.domain.db()).await?;
        let enrollment = dp_enrollments::Entity::find()
            .filter(dp_enrollments::Column::TokenHash.eq(secret_hash(token)))
            .one(&txn)
            .await?
            .filter(|e| e.used_at_ms.is_none() && e.expires_at_ms > now)
            .ok_or_else(refused)?;
        let row = distribution_points::Entity::find_by_id(enrollment.dp_id)
            .one(&txn)
            .await?
            .ok_or_else(refused)?;
        let mut used = enrollment.into_active_model();
        used.used_at_ms = Set(Some(now));
        used.update(&txn).await?;
        let credential = crate::accounts::random_token();
        let mut model = row.into_active_model();
        model.credential_hash = Set(Some(secret_hash(&credential)));
        model.enrolled_at_ms = Set(Some(now));
        model.revoked_at_ms = Set(None);
        model.last_contact_ms = Set(Some(now));
        model.agent_version = Set(Some(truncate(&report.agent_version, 32)));
        model.free_bytes = Set(i64::try_from(report.free_bytes).ok());
        model.library_bytes = Set(i64::try_from(report.library_bytes).ok());
        let row = model.update(&txn).await?;
        txn.commit().await?;
        Ok((to_point(self.domain, row), credential))
    }

    /// Records a DP's report of itself (each poll).
    pub async fn record_contact(&self, id: i64, report: &DpReport) -> Result<()> {
        distribution_points::Entity::update_many()
            .col_expr(
                distribution_points::Column::LastContactMs,
                sea_orm::sea_query::Expr::value(self.domain.now_ms()),
            )
            .col_expr(
                distribution_points::Column::AgentVersion,
                sea_orm::sea_query::Expr::value(truncate(&report.agent_version, 32)),
            )
            .col_expr(
                distribution_points::Column::FreeBytes,
                sea_orm::sea_query::Expr::value(i64::try_from(report.free_bytes).ok()),
            )
            .col_expr(
                distribution_points::Column::LibraryBytes,
                sea_orm::sea_query::Expr::value(i64::try_from(report.library_bytes).ok()),
            )
            .filter(distribution_points::Column::Id.eq(id))
            .exec(self.domain.db())
            .await?;
        Ok(())
    }
}

fn truncate(text: &str, chars: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(chars)
        .collect()
}

/// The advisory lock key of "This server"'s DP ("WDSITEDP").
const SITE_DP_LOCK: i64 = 0x5744_5349_5445_4450;

/// Held while this server runs "This server"'s DP (see
/// [`DistributionPoints::try_lease_site_dp`]).
pub struct SiteDpLease {
    connection: Option<sea_orm::sqlx::PgConnection>,
}

impl SiteDpLease {
    /// Whether the lease still holds: its database session answers (a session that ended,
    /// with a database restart say, took the lock with it).
    pub async fn alive(&mut self) -> bool {
        match &mut self.connection {
            None => true,
            Some(connection) => sea_orm::sqlx::query("SELECT 1")
                .execute(connection)
                .await
                .is_ok(),
        }
    }
}

fn sqlx_error(e: sea_orm::sqlx::Error) -> Error {
    Error::Internal(format!("database: {e}"))
}
