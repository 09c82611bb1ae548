//! Where content stands: per content × DP, per content, per DP, overall, and the history of
//! each pair. Users see the rows of objects and DPs they may read, nothing else.

use std::collections::{BTreeMap, HashMap};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use super::assign::{ContentSettings, DistState};
use crate::{
    Actor, Domain, Result,
    authz::{self, ObjectType, Operation},
    content::ContentObject,
    db::entities::{
        content_versions, contents, distribution_assignments as assignments, distribution_events,
        distribution_points,
    },
};

/// One content on one DP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairStatus {
    pub content_id: i64,
    pub object: ContentObject,
    pub content_name: String,
    pub dp_id: i64,
    pub dp_name: String,
    pub state: DistState,
    pub detail: Option<String>,
    pub target_version: Option<i32>,
    pub installed_version: Option<i32>,
    pub bytes_total: Option<u64>,
    /// What the version needed on this DP (binary differential replication: the chunks it
    /// lacked), against `bytes_total`.
    pub bytes_needed: Option<u64>,
    pub bytes_done: u64,
    pub rate_bps: Option<u64>,
    pub updated_at_ms: i64,
    pub validated_at_ms: Option<i64>,
}

impl PairStatus {
    /// Percent of what is needed, while in progress.
    pub fn percent(&self) -> Option<u8> {
        let needed = self.bytes_needed?;
        if needed == 0 {
            return Some(100);
        }
        Some(u8::try_from((self.bytes_done.min(needed) * 100) / needed).unwrap_or(100))
    }
}

/// How one content stands across DPs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub total: u32,
    pub success: u32,
    pub in_progress: u32,
    pub waiting: u32,
    pub failed: u32,
}

impl Summary {
    pub(crate) fn add(&mut self, state: DistState) {
        self.total += 1;
        match state {
            DistState::Success => self.success += 1,
            DistState::InProgress => self.in_progress += 1,
            DistState::Waiting | DistState::Removing => self.waiting += 1,
            DistState::Failed | DistState::ValidationFailed => self.failed += 1,
        }
    }
}

/// A content's distribution: settings, versions and every DP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentDistribution {
    pub object: ContentObject,
    pub settings: ContentSettings,
    pub newest_version: Option<crate::content::ContentVersion>,
    pub pairs: Vec<PairStatus>,
    pub summary: Summary,
}

/// One step of a pair's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at_ms: i64,
    pub state: DistState,
    pub version: Option<i32>,
    pub detail: Option<String>,
}

/// What a page shows, and follows live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Followed {
    /// A content on every DP (an image's or a driver package's Distribution panel).
    Content(ContentObject),
    /// Every content on a DP.
    Dp(i64),
    /// Everything (the Distribution status page).
    All,
}

/// Status on behalf of a signed-in user.
pub struct ActorStatus<'a> {
    domain: &'a Domain,
    actor: &'a Actor,
}

impl<'a> ActorStatus<'a> {
    pub(crate) fn new(domain: &'a Domain, actor: &'a Actor) -> Self {
        Self { domain, actor }
    }

    /// The events a page that shows `followed` waits for, once the user is known to see it
    /// (see [`super::events`]; the page then reads the state again, with the user's rights).
    pub async fn follow(&self, followed: Followed) -> Result<super::events::EventFilter> {
        match followed {
            Followed::Content(object) => {
                super::actions::check_object(self.domain, self.actor, object, Operation::Read)
                    .await?;
            }
            Followed::Dp(id) => {
                super::points::ActorDistributionPoints::new(self.domain, self.actor)
                    .get(id)
                    .await?;
            }
            Followed::All => {
                if !self
                    .actor
                    .holds(ObjectType::DistributionPoint, Operation::Read)
                {
                    return Err(crate::Error::forbidden(
                        ObjectType::DistributionPoint,
                        Operation::Read,
                        "You may not see distribution points.",
                    ));
                }
                // Who sees only some DPs hears of those only (DPs added later: by polling).
                if self.actor.grants.visibility(ObjectType::DistributionPoint)
                    != authz::Visibility::Everything
                {
                    let visible =
                        super::points::ActorDistributionPoints::new(self.domain, self.actor)
                            .list()
                            .await?
                            .into_iter()
                            .map(|dp| dp.id)
                            .collect();
                    return Ok(super::events::EventFilter::new(followed, Some(visible)));
                }
            }
        }
        Ok(super::events::EventFilter::new(followed, None))
    }

    /// Every pair this user may see, optionally of one content or one DP.
    pub async fn pairs(
        &self,
        content: Option<ContentObject>,
        dp: Option<i64>,
    ) -> Result<Vec<PairStatus>> {
        let db = self.domain.db();
        let mut query = assignments::Entity::find().order_by_asc(assignments::Column::Id);
        if let Some(object) = content {
            let Some(row) = self.domain.content().content_of(object).await? else {
                return Ok(Vec::new());
            };
            query = query.filter(assignments::Column::ContentId.eq(row.id));
        }
        if let Some(dp) = dp {
            query = query.filter(assignments::Column::DpId.eq(dp));
        }
        let rows = query.all(db).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let contents: HashMap<i64, contents::Model> = contents::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let dps: HashMap<i64, String> = distribution_points::Entity::find()
            .select_only()
            .column(distribution_points::Column::Id)
            .column(distribution_points::Column::Name)
            .into_tuple::<(i64, String)>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        let version_ids: Vec<i64> = rows
            .iter()
            .flat_map(|r| [r.target_version_id, r.installed_version_id])
            .flatten()
            .collect();
        let numbers: HashMap<i64, i32> = content_versions::Entity::find()
            .select_only()
            .column(content_versions::Column::Id)
            .column(content_versions::Column::Number)
            .filter(content_versions::Column::Id.is_in(version_ids))
            .into_tuple::<(i64, i32)>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        let visible = Visible::load(self.domain, self.actor).await?;
        let bytes = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok());
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let content = contents.get(&row.content_id)?;
                let object =
                    ContentObject::new(content.object_type.parse().ok()?, content.object_id);
                if !visible.object(object) || !visible.dp(row.dp_id) {
                    return None;
                }
                Some(PairStatus {
                    content_id: row.content_id,
                    object,
                    content_name: content.name.clone(),
                    dp_id: row.dp_id,
                    dp_name: dps.get(&row.dp_id).cloned().unwrap_or_default(),
                    state: DistState::parse(&row.state),
                    detail: row.detail,
                    target_version: row.target_version_id.and_then(|v| numbers.get(&v).copied()),
                    installed_version: row
                        .installed_version_id
                        .and_then(|v| numbers.get(&v).copied()),
                    bytes_total: bytes(row.bytes_total),
                    bytes_needed: bytes(row.bytes_needed),
                    bytes_done: bytes(Some(row.bytes_done)).unwrap_or(0),
                    rate_bps: bytes(row.rate_bps),
                    updated_at_ms: row.updated_at_ms,
                    validated_at_ms: row.validated_at_ms,
                })
            })
            .collect())
    }

    /// One content's distribution (Read on the object).
    pub async fn content(&self, object: ContentObject) -> Result<ContentDistribution> {
        super::actions::check_object(self.domain, self.actor, object, Operation::Read).await?;
        let row = self.domain.content().content_of(object).await?;
        let settings = match &row {
            Some(_) => {
                super::actions::ActorDistribution::new(self.domain, self.actor)
                    .settings(object)
                    .await?
            }
            None => ContentSettings::default(),
        };
        let newest_version = match &row {
            Some(c) => self
                .domain
                .content()
                .versions(c.id)
                .await?
                .into_iter()
                .next(),
            None => None,
        };
        let pairs = if self
            .actor
            .holds(ObjectType::DistributionPoint, Operation::Read)
        {
            self.pairs(Some(object), None).await?
        } else {
            Vec::new()
        };
        let mut summary = Summary::default();
        for pair in &pairs {
            summary.add(pair.state);
        }
        Ok(ContentDistribution {
            object,
            settings,
            newest_version,
            pairs,
            summary,
        })
    }

    /// Per object of a type: how many DPs have its content, of how many it was sent to (the
    /// "n of m DPs" column of the image lists).
    pub async fn summaries(&self, object_type: ObjectType) -> Result<BTreeMap<i64, Summary>> {
        let mut out: BTreeMap<i64, Summary> = BTreeMap::new();
        if !self
            .actor
            .holds(ObjectType::DistributionPoint, Operation::Read)
        {
            return Ok(out);
        }
        for pair in self.pairs(None, None).await? {
            if pair.object.object_type == object_type {
                out.entry(pair.object.object_id)
                    .or_default()
                    .add(pair.state);
            }
        }
        Ok(out)
    }

    /// The history of a content on a DP, newest first (at most `limit` steps).
    pub async fn history(
        &self,
        object: ContentObject,
        dp: i64,
        limit: u64,
    ) -> Result<Vec<HistoryEntry>> {
        super::actions::check_object(self.domain, self.actor, object, Operation::Read).await?;
        super::points::ActorDistributionPoints::new(self.domain, self.actor)
            .checked(dp, Operation::Read)
            .await?;
        let Some(content) = self.domain.content().content_of(object).await? else {
            return Ok(Vec::new());
        };
        Ok(distribution_events::Entity::find()
            .filter(distribution_events::Column::ContentId.eq(content.id))
            .filter(distribution_events::Column::DpId.eq(dp))
            .order_by_desc(distribution_events::Column::Id)
            .limit(limit.clamp(1, 500))
            .all(self.domain.db())
            .await?
            .into_iter()
            .map(|e| HistoryEntry {
                at_ms: e.at_ms,
                state: DistState::parse(&e.state),
                version: e.version_number,
                detail: e.detail,
            })
            .collect())
    }
}

/// What one user may see, loaded once for a list.
struct Visible {
    objects: HashMap<ObjectType, (authz::Visibility, HashMap<i64, Vec<i64>>)>,
    dps: (authz::Visibility, HashMap<i64, Vec<i64>>),
}

impl Visible {
    async fn load(domain: &Domain, actor: &Actor) -> Result<Self> {
        let mut objects = HashMap::new();
        for t in [
            ObjectType::BootImage,
            ObjectType::OsImage,
            ObjectType::DriverPackage,
        ] {
            objects.insert(
                t,
                (
                    actor.grants.visibility(t),
                    authz::scopes::of_all(domain.db(), t).await?,
                ),
            );
        }
        Ok(Self {
            objects,
            dps: (
                actor.grants.visibility(ObjectType::DistributionPoint),
                authz::scopes::of_all(domain.db(), ObjectType::DistributionPoint).await?,
            ),
        })
    }

    fn object(&self, object: ContentObject) -> bool {
        self.objects
            .get(&object.object_type)
            .is_some_and(|(visibility, scopes)| {
                authz::scopes::visible(
                    visibility,
                    scopes
                        .get(&object.object_id)
                        .map(Vec::as_slice)
                        .unwrap_or(&[]),
                )
            })
    }

    fn dp(&self, dp: i64) -> bool {
        authz::scopes::visible(
            &self.dps.0,
            self.dps.1.get(&dp).map(Vec::as_slice).unwrap_or(&[]),
        )
    }
}
