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
    Actor, Domain, Error, Result,
    audit::AuditedTxn,
    authz::{self, ObjectType, Operation},
    config::IpNet,
    db::entities::{distribution_points, dp_enrollments},
};

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

fn to_point(domain: &Domain, row: distribution_points::Model) -> DistributionPoint {
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

fn apply_settings(
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

    /// Gives the site's DP a new credential for this server's own agent (it runs in the same
    /// process, speaking the same protocol as any DP).
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

/// A new remote DP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewDp {
    pub name: String,
    pub settings: DpSettings,
}

/// Distribution points on behalf of a signed-in user.
pub struct ActorDistributionPoints<'a> {
    points: DistributionPoints<'a>,
    domain: &'a Domain,
    actor: &'a Actor,
}

impl<'a> ActorDistributionPoints<'a> {
    pub(crate) fn new(domain: &'a Domain, actor: &'a Actor) -> Self {
        Self {
            points: DistributionPoints::new(domain),
            domain,
            actor,
        }
    }

    /// Whether this user may add DPs.
    pub fn may_create(&self) -> bool {
        self.actor
            .holds(ObjectType::DistributionPoint, Operation::Create)
    }

    /// The DPs this user may read.
    pub async fn list(&self) -> Result<Vec<DistributionPoint>> {
        self.actor
            .require(ObjectType::DistributionPoint, Operation::Read)?;
        let scopes = authz::scopes::of_all(self.domain.db(), ObjectType::DistributionPoint).await?;
        let visibility = self.actor.grants.visibility(ObjectType::DistributionPoint);
        Ok(self
            .points
            .list()
            .await?
            .into_iter()
            .filter(|p| {
                authz::scopes::visible(
                    &visibility,
                    scopes.get(&p.id).map(Vec::as_slice).unwrap_or(&[]),
                )
            })
            .collect())
    }

    /// The DP, after checking `operation` on it.
    pub async fn checked(&self, id: i64, operation: Operation) -> Result<DistributionPoint> {
        self.actor
            .require(ObjectType::DistributionPoint, operation)?;
        let point = self.points.get(id).await?;
        let scopes = authz::scopes::of(self.domain.db(), ObjectType::DistributionPoint, id).await?;
        self.actor
            .require_on(ObjectType::DistributionPoint, operation, &scopes)?;
        Ok(point)
    }

    pub async fn get(&self, id: i64) -> Result<DistributionPoint> {
        self.checked(id, Operation::Read).await
    }

    /// What this user may do to one DP.
    pub async fn operations_on(&self, id: i64) -> Result<Vec<Operation>> {
        let scopes = authz::scopes::of(self.domain.db(), ObjectType::DistributionPoint, id).await?;
        Ok(self
            .actor
            .grants
            .effective(ObjectType::DistributionPoint, &scopes))
    }

    /// Adds a remote DP (enroll it with [`ActorDistributionPoints::enrollment_token`]).
    pub async fn create(&self, new: NewDp) -> Result<i64> {
        self.actor
            .require(ObjectType::DistributionPoint, Operation::Create)?;
        let name = validate_name(&new.name)?;
        let settings = new.settings.checked()?;
        let mut txn = AuditedTxn::begin(self.domain).await?;
        let mut model = distribution_points::ActiveModel {
            name: Set(name.clone()),
            kind: Set(DpKind::Remote.as_str().to_owned()),
            enabled: Set(true),
            created_by: Set(self.actor.username.clone()),
            created_at_ms: Set(self.domain.now_ms()),
            row_version: Set(1),
            ..Default::default()
        };
        apply_settings(&mut model, &settings)?;
        let row = match model.insert(txn.conn()).await {
            Ok(row) => row,
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                return Err(Error::Conflict(format!(
                    "a distribution point named \"{name}\" exists already"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let scopes = authz::scopes::for_new_object(
            txn.conn(),
            ObjectType::DistributionPoint,
            Some(self.actor.user_id),
        )
        .await?;
        authz::scopes::set(txn.conn(), ObjectType::DistributionPoint, row.id, &scopes).await?;
        txn.allowed(
            self.actor,
            Operation::Create,
            ObjectType::DistributionPoint,
            (row.id, &name),
            &[],
        )
        .await?;
        txn.commit().await?;
        Ok(row.id)
    }

    /// Changes a DP's settings, enabled state and (for a remote DP) name.
    pub async fn edit(
        &self,
        id: i64,
        expected_row_version: i32,
        name: &str,
        enabled: bool,
        settings: DpSettings,
    ) -> Result<DistributionPoint> {
        let before = self.checked(id, Operation::Modify).await?;
        let name = validate_name(name)?;
        if before.kind == DpKind::Site && name != before.name {
            return Err(Error::invalid(
                "name",
                "of this server's DP cannot be changed",
            ));
        }
        let settings = settings.checked()?;
        let mut txn = AuditedTxn::begin(self.domain).await?;
        let row = distribution_points::Entity::find_by_id(id)
            .one(txn.conn())
            .await?
            .ok_or_else(|| Error::NotFound(format!("distribution point {id}")))?;
        if row.row_version != expected_row_version {
            return Err(Error::Conflict(format!(
                "\"{}\" was changed by someone else meanwhile; reload it and make your change again",
                before.name
            )));
        }
        let mut model = row.into_active_model();
        model.name = Set(name.clone());
        model.enabled = Set(enabled);
        model.row_version = Set(expected_row_version + 1);
        apply_settings(&mut model, &settings)?;
        let row = match model.update(txn.conn()).await {
            Ok(row) => row,
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                return Err(Error::Conflict(format!(
                    "a distribution point named \"{name}\" exists already"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let json = |v: &DpSettings| serde_json::to_value(v).unwrap_or_default();
        txn.allowed(
            self.actor,
            Operation::Modify,
            ObjectType::DistributionPoint,
            (id, &name),
            &[
                ("name", before.name.clone().into(), name.clone().into()),
                ("enabled", before.enabled.into(), enabled.into()),
                ("settings", json(&before.settings), json(&settings)),
            ],
        )
        .await?;
        txn.commit().await?;
        super::assign::wake_dp(self.domain, id);
        Ok(to_point(self.domain, row))
    }

    /// Makes a one-time enrollment token for a remote DP, valid for
    /// `distribution.enrollment_token_hours`. Returned once: only its hash is kept. Earlier
    /// unused tokens of the DP stop working.
    pub async fn enrollment_token(&self, id: i64) -> Result<(String, i64)> {
        let point = self.checked(id, Operation::Modify).await?;
        if point.kind == DpKind::Site {
            return Err(Error::invalid(
                "distribution point",
                "this server's DP needs no enrollment",
            ));
        }
        let token = format!("wdp-{}", crate::accounts::random_token());
        let now = self.domain.now_ms();
        let expires = now
            + i64::from(
                self.domain
                    .config()
                    .distribution
                    .enrollment_token_hours
                    .max(1),
            ) * 3_600_000;
        let mut txn = AuditedTxn::begin(self.domain).await?;
        dp_enrollments::Entity::update_many()
            .col_expr(
                dp_enrollments::Column::UsedAtMs,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(dp_enrollments::Column::DpId.eq(id))
            .filter(dp_enrollments::Column::UsedAtMs.is_null())
            .exec(txn.conn())
            .await?;
        dp_enrollments::ActiveModel {
            dp_id: Set(id),
            token_hash: Set(secret_hash(&token)),
            expires_at_ms: Set(expires),
            used_at_ms: Set(None),
            created_by: Set(self.actor.username.clone()),
            created_at_ms: Set(now),
            ..Default::default()
        }
        .insert(txn.conn())
        .await?;
        txn.allowed(
            self.actor,
            Operation::Modify,
            ObjectType::DistributionPoint,
            (id, &point.name),
            &[("enrollment_token", "".into(), "issued".into())],
        )
        .await?;
        txn.commit().await?;
        Ok((token, expires))
    }

    /// Revokes a DP's credential: its next request is refused. Enrolling it again needs a new
    /// token.
    pub async fn revoke(&self, id: i64) -> Result<()> {
        let point = self.checked(id, Operation::Modify).await?;
        if point.kind == DpKind::Site {
            return Err(Error::invalid(
                "distribution point",
                "this server's DP cannot be revoked; disable it instead",
            ));
        }
        let mut txn = AuditedTxn::begin(self.domain).await?;
        distribution_points::Entity::update_many()
            .col_expr(
                distribution_points::Column::RevokedAtMs,
                sea_orm::sea_query::Expr::value(self.domain.now_ms()),
            )
            .col_expr(
                distribution_points::Column::CredentialHash,
                sea_orm::sea_query::Expr::value(None::<String>),
            )
            .filter(distribution_points::Column::Id.eq(id))
            .exec(txn.conn())
            .await?;
        txn.allowed(
            self.actor,
            Operation::Modify,
            ObjectType::DistributionPoint,
            (id, &point.name),
            &[("credential", "valid".into(), "revoked".into())],
        )
        .await?;
        txn.commit().await?;
        super::assign::wake_dp(self.domain, id);
        Ok(())
    }

    /// Deletes a remote DP with its assignments and history.
    pub async fn delete(&self, id: i64, expected_row_version: i32) -> Result<()> {
        let point = self.checked(id, Operation::Delete).await?;
        if point.kind == DpKind::Site {
            return Err(Error::invalid(
                "distribution point",
                "this server's DP cannot be deleted; disable it instead",
            ));
        }
        let mut txn = AuditedTxn::begin(self.domain).await?;
        let deleted = distribution_points::Entity::delete_many()
            .filter(distribution_points::Column::Id.eq(id))
            .filter(distribution_points::Column::RowVersion.eq(expected_row_version))
            .exec(txn.conn())
            .await?;
        if deleted.rows_affected == 0 {
            return Err(Error::Conflict(format!(
                "\"{}\" was changed by someone else meanwhile; reload it first",
                point.name
            )));
        }
        authz::scopes::remove(txn.conn(), ObjectType::DistributionPoint, id).await?;
        txn.allowed(
            self.actor,
            Operation::Delete,
            ObjectType::DistributionPoint,
            (id, &point.name),
            &[],
        )
        .await?;
        txn.commit().await?;
        super::assign::wake_dp(self.domain, id);
        Ok(())
    }
}
