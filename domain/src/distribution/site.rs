//! The site's side of the DP protocol ([`super::protocol`]). Every call but enrollment takes
//! the DP its credential resolved to ([`super::points::DistributionPoints::authenticate`]), and
//! a DP reaches only what is assigned to it: another DP's assignment, a manifest or a chunk
//! of content it was not given, is refused as if it did not exist.

use std::{collections::HashMap, time::Duration};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set, sea_query::Expr,
};

use super::{
    PrestagedBehavior,
    assign::{self, ContentSettings, DistState},
    points::{DistributionPoint, DistributionPoints},
    protocol::{
        AgentSettings, ChunksRequest, DemandRequest, DemandResponse, EnrollRequest, EnrollResponse,
        MAX_CHUNKS_PER_REQUEST, PROTOCOL, PollRequest, PollResponse, ReportedState, StatusReport,
        VersionRef, WorkAction, WorkItem,
    },
};
use crate::{
    Domain, Error, Result,
    content::{ChunkRef, manifest::is_sha256},
    db::entities::{
        content_chunks, content_version_chunks, content_versions, contents,
        distribution_assignments as assignments, distribution_points,
    },
};

/// A failed distribution is tried again after this long.
const RETRY_FAILED_MS: i64 = 60_000;

/// The site as DPs see it.
pub struct Site<'a> {
    domain: &'a Domain,
}

fn check_protocol(protocol: u32) -> Result<()> {
    if protocol == PROTOCOL {
        Ok(())
    } else {
        Err(Error::invalid(
            "protocol",
            format!(
                "the DP speaks version {protocol} of the protocol and this site version {PROTOCOL}; run the same Wimdeck release on both"
            ),
        ))
    }
}

impl<'a> Site<'a> {
    pub fn new(domain: &'a Domain) -> Self {
        Self { domain }
    }

    pub async fn enroll(&self, request: EnrollRequest) -> Result<EnrollResponse> {
        check_protocol(request.protocol)?;
        let (point, credential) = DistributionPoints::new(self.domain)
            .enroll(&request.token, &request.report)
            .await?;
        Ok(EnrollResponse {
            dp_id: point.id,
            dp_name: point.name,
            credential,
        })
    }

    pub async fn authenticate(&self, credential: &str) -> Result<DistributionPoint> {
        DistributionPoints::new(self.domain)
            .authenticate(credential)
            .await
    }

    /// The DP's work; when there is none, waits (up to the DP's `wait_secs`, capped by
    /// `distribution.poll_wait_secs`) for some to appear.
    pub async fn poll(&self, dp: &DistributionPoint, request: PollRequest) -> Result<PollResponse> {
        check_protocol(request.protocol)?;
        DistributionPoints::new(self.domain)
            .record_contact(dp.id, &request.report)
            .await?;
        let wait = Duration::from_secs(u64::from(
            request
                .wait_secs
                .min(self.domain.config().distribution.poll_wait_secs),
        ));
        super::events::ensure_listening(self.domain);
        let notify = self.domain.distribution_events().waker(dp.id);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before looking, so a change between the look and the wait wakes it.
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let mut work = self.work_for(dp, &request.prestaged).await?;
            work.retain(|w| !request.busy.contains(&(w.assignment_id, w.generation)));
            let stopping = self.domain.stopping().is_cancelled();
            if !work.is_empty() || stopping || tokio::time::Instant::now() >= deadline {
                // Disabled, revoked or deleted while the poll waited: refused now.
                let dp = DistributionPoints::new(self.domain).get(dp.id).await?;
                if matches!(
                    dp.health,
                    super::points::DpHealth::Revoked | super::points::DpHealth::Disabled
                ) {
                    return Err(Error::Unauthenticated);
                }
                return Ok(PollResponse {
                    dp_id: dp.id,
                    dp_name: dp.name.clone(),
                    settings: AgentSettings {
                        rate_limit_kbps: dp.settings.rate_limit_kbps,
                        rate_limit_hours: dp.settings.rate_limit_hours,
                        concurrent_transfers: dp.settings.concurrent_transfers,
                    },
                    work,
                });
            }
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(deadline) => {}
                () = self.domain.stopping().cancelled() => {}
            }
        }
    }

    /// A client asked the DP for content it does not hold (see [`super::demand`]).
    pub async fn demand(
        &self,
        dp: &DistributionPoint,
        request: &DemandRequest,
    ) -> Result<DemandResponse> {
        super::demand::demand(self.domain, dp, request).await
    }

    /// What the DP is to do now, highest priority first. `prestaged`: the manifests of the
    /// versions it holds from prestaged content files.
    pub async fn work_for(
        &self,
        dp: &DistributionPoint,
        prestaged: &[String],
    ) -> Result<Vec<WorkItem>> {
        let db = self.domain.db();
        let now = self.domain.now_ms();
        self.request_due_validations(dp, now).await?;
        let rows = assignments::Entity::find()
            .filter(assignments::Column::DpId.eq(dp.id))
            .filter(
                Condition::any()
                    .add(assignments::Column::State.is_in([
                        DistState::Waiting.as_str(),
                        DistState::InProgress.as_str(),
                        DistState::Removing.as_str(),
                    ]))
                    .add(
                        Condition::all()
                            .add(assignments::Column::State.eq(DistState::Failed.as_str()))
                            .add(assignments::Column::UpdatedAtMs.lt(now - RETRY_FAILED_MS)),
                    ),
            )
            .order_by_asc(assignments::Column::Id)
            .all(db)
            .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let content_ids: Vec<i64> = rows.iter().map(|r| r.content_id).collect();
        let contents: HashMap<i64, contents::Model> = contents::Entity::find()
            .filter(contents::Column::Id.is_in(content_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let version_ids: Vec<i64> = rows
            .iter()
            .flat_map(|r| [r.target_version_id, r.installed_version_id])
            .flatten()
            .collect();
        let versions: HashMap<i64, content_versions::Model> = content_versions::Entity::find()
            .filter(content_versions::Column::Id.is_in(version_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|v| (v.id, v))
            .collect();
        let mut work = Vec::new();
        for row in rows {
            let Some(content) = contents.get(&row.content_id) else {
                continue;
            };
            let settings = ContentSettings::of(content);
            let action = if row.state == DistState::Removing.as_str() {
                WorkAction::Remove
            } else {
                assign::parse_action(&row.action)
            };
            let version_id = match action {
                WorkAction::Remove => None,
                WorkAction::Validate => row.installed_version_id.or(row.target_version_id),
                _ => row.target_version_id,
            };
            let version = version_id
                .and_then(|id| versions.get(&id))
                .map(|v| VersionRef {
                    id: v.id,
                    number: v.number,
                    manifest_sha256: v.manifest_sha256.clone(),
                    total_bytes: u64::try_from(v.total_bytes).unwrap_or(0),
                });
            if action != WorkAction::Remove && version.is_none() {
                continue;
            }
            // A DP enabled for prestaged content waits for the file instead of fetching.
            if dp.settings.prestaged_enabled
                && matches!(action, WorkAction::Install | WorkAction::Redistribute)
                && (settings.prestaged == PrestagedBehavior::Manual
                    || (settings.prestaged == PrestagedBehavior::Changes
                        && row.installed_version_id.is_none()))
                && !version
                    .as_ref()
                    .is_some_and(|v| prestaged.contains(&v.manifest_sha256))
            {
                self.note_waiting_for_file(&row, version.as_ref()).await?;
                continue;
            }
            work.push(WorkItem {
                assignment_id: row.id,
                generation: row.generation,
                action,
                content_id: content.id,
                object_type: content
                    .object_type
                    .parse()
                    .unwrap_or(crate::authz::ObjectType::OsImage),
                object_id: content.object_id,
                name: content.name.clone(),
                version,
                priority: settings.priority,
                differential: settings.differential,
            });
        }
        work.sort_by_key(|w| (w.priority, w.assignment_id));
        Ok(work)
    }

    /// Says on a withheld assignment why it waits (once: the row changes only if it said
    /// something else).
    async fn note_waiting_for_file(
        &self,
        row: &assignments::Model,
        version: Option<&VersionRef>,
    ) -> Result<()> {
        let detail = format!(
            "Waiting for prestaged content: import a prestaged content file holding version {} on the DP (wimdeck dp import-prestaged)",
            version.map_or(0, |v| v.number)
        );
        if row.detail.as_deref() == Some(detail.as_str()) {
            return Ok(());
        }
        assignments::Entity::update_many()
            .col_expr(assignments::Column::Detail, Expr::value(detail))
            .filter(assignments::Column::Id.eq(row.id))
            .filter(assignments::Column::Generation.eq(row.generation))
            .filter(assignments::Column::State.eq(row.state.clone()))
            .exec(self.domain.db())
            .await?;
        Ok(())
    }

    /// Queues the validations a DP's schedule (`validate_every_hours`) makes due.
    async fn request_due_validations(&self, dp: &DistributionPoint, now: i64) -> Result<()> {
        // (Checked again in the transaction that asks: a request made meanwhile wins.)
        let Some(hours) = dp.settings.validate_every_hours else {
            return Ok(());
        };
        let due_before = now - i64::from(hours) * 3_600_000;
        let due = assignments::Entity::find()
            .filter(assignments::Column::DpId.eq(dp.id))
            .filter(assignments::Column::State.eq(DistState::Success.as_str()))
            .filter(
                Condition::any()
                    .add(assignments::Column::ValidatedAtMs.is_null())
                    .add(assignments::Column::ValidatedAtMs.lt(due_before)),
            )
            .all(self.domain.db())
            .await?;
        for row in due {
            let txn = crate::db::begin_write(self.domain.db()).await?;
            let still_due = assignments::Entity::find_by_id(row.id)
                .lock_exclusive()
                .one(&txn)
                .await?
                .is_some_and(|now_row| {
                    now_row.generation == row.generation
                        && now_row.state == DistState::Success.as_str()
                });
            if !still_due {
                continue;
            }
            let version = match row.installed_version_id {
                Some(id) => self.domain.content().version(id).await.ok(),
                None => None,
            };
            assign::request_in(
                &txn,
                row.content_id,
                dp.id,
                version.as_ref(),
                WorkAction::Validate,
                now,
            )
            .await?;
            txn.commit().await?;
        }
        Ok(())
    }

    /// A manifest, if it belongs to a version assigned to this DP.
    pub async fn manifest(&self, dp: &DistributionPoint, sha256: &str) -> Result<Vec<u8>> {
        let not_found = || Error::NotFound(format!("manifest {sha256:.64}"));
        if !is_sha256(sha256) {
            return Err(not_found());
        }
        let db = self.domain.db();
        let versions: Vec<i64> = content_versions::Entity::find()
            .select_only()
            .column(content_versions::Column::Id)
            .filter(content_versions::Column::ManifestSha256.eq(sha256))
            .into_tuple()
            .all(db)
            .await?;
        if versions.is_empty() {
            return Err(not_found());
        }
        let assigned = assignments::Entity::find()
            .filter(assignments::Column::DpId.eq(dp.id))
            .filter(
                Condition::any()
                    .add(assignments::Column::TargetVersionId.is_in(versions.clone()))
                    .add(assignments::Column::InstalledVersionId.is_in(versions)),
            )
            .one(db)
            .await?
            .is_some();
        if !assigned {
            return Err(not_found());
        }
        self.domain.content().store().manifest_bytes(sha256)
    }

    /// The chunks a DP asks for, checked to belong to the version its assignment targets, with
    /// their sizes, in the order asked.
    pub async fn chunk_plan(
        &self,
        dp: &DistributionPoint,
        request: &ChunksRequest,
    ) -> Result<Vec<ChunkRef>> {
        if request.chunks.len() > MAX_CHUNKS_PER_REQUEST {
            return Err(Error::invalid(
                "chunks",
                format!("at most {MAX_CHUNKS_PER_REQUEST} chunks per request"),
            ));
        }
        if let Some(bad) = request.chunks.iter().find(|c| !is_sha256(c)) {
            return Err(Error::invalid(
                "chunks",
                format!("\"{bad:.80}\" is not a SHA-256"),
            ));
        }
        let db = self.domain.db();
        let assignment = assignments::Entity::find_by_id(request.assignment_id)
            .one(db)
            .await?
            .filter(|a| a.dp_id == dp.id)
            .ok_or_else(|| Error::NotFound(format!("assignment {}", request.assignment_id)))?;
        let Some(version) = assignment.target_version_id else {
            return Err(Error::Conflict(
                "the content is being removed from this DP".into(),
            ));
        };
        let in_version: Vec<String> = content_version_chunks::Entity::find()
            .select_only()
            .column(content_version_chunks::Column::Sha256)
            .filter(content_version_chunks::Column::VersionId.eq(version))
            .filter(content_version_chunks::Column::Sha256.is_in(request.chunks.clone()))
            .into_tuple()
            .all(db)
            .await?;
        let sizes: HashMap<String, i64> = content_chunks::Entity::find()
            .select_only()
            .column(content_chunks::Column::Sha256)
            .column(content_chunks::Column::SizeBytes)
            .filter(content_chunks::Column::Sha256.is_in(in_version))
            .into_tuple::<(String, i64)>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        request
            .chunks
            .iter()
            .map(|sha| {
                let size = sizes.get(sha).ok_or_else(|| {
                    Error::NotFound(format!("chunk {sha} in the version assigned to this DP"))
                })?;
                Ok(ChunkRef {
                    sha256: sha.clone(),
                    size: u32::try_from(*size).unwrap_or(0),
                })
            })
            .collect()
    }

    /// Records a DP's report on one of its assignments. A report about an older request (its
    /// generation is not the assignment's) changes nothing.
    pub async fn report(&self, dp: &DistributionPoint, report: StatusReport) -> Result<()> {
        let now = self.domain.now_ms();
        // A DP busy with a long transfer reports, and is not offline.
        distribution_points::Entity::update_many()
            .col_expr(
                distribution_points::Column::LastContactMs,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(distribution_points::Column::Id.eq(dp.id))
            .exec(self.domain.db())
            .await?;
        let txn = crate::db::begin_write(self.domain.db()).await?;
        let row = assignments::Entity::find_by_id(report.assignment_id)
            .lock_exclusive()
            .one(&txn)
            .await?
            .filter(|a| a.dp_id == dp.id)
            .ok_or_else(|| Error::NotFound(format!("assignment {}", report.assignment_id)))?;
        if row.generation != report.generation {
            return Ok(());
        }
        // A report answers what was asked: an install is not "removed", a removal not
        // "installed".
        let asked = if row.state == DistState::Removing.as_str() {
            WorkAction::Remove
        } else {
            assign::parse_action(&row.action)
        };
        let fits = match report.state {
            ReportedState::InProgress | ReportedState::Failed => true,
            ReportedState::Installed => {
                matches!(asked, WorkAction::Install | WorkAction::Redistribute)
            }
            ReportedState::Valid | ReportedState::Invalid => asked == WorkAction::Validate,
            ReportedState::Removed => asked == WorkAction::Remove,
        };
        if !fits {
            return Err(Error::invalid(
                "state",
                format!("a {:?} report does not answer this request", report.state),
            ));
        }
        let detail = report.detail.as_deref().map(clean_detail);
        let (content_id, before) = (row.content_id, DistState::parse(&row.state));
        let target = row.target_version_id;
        let mut model = row.into_active_model();
        model.updated_at_ms = Set(now);
        let bytes = |v: Option<u64>| v.and_then(|v| i64::try_from(v).ok());
        model.bytes_total = Set(bytes(report.bytes_total));
        model.bytes_needed = Set(bytes(report.bytes_needed));
        model.bytes_done = Set(i64::try_from(report.bytes_done).unwrap_or(i64::MAX));
        model.rate_bps = Set(bytes(report.rate_bps));
        let (state, event) = match report.state {
            ReportedState::InProgress => (DistState::InProgress, before != DistState::InProgress),
            ReportedState::Installed => {
                if report.version_id.is_none() || report.version_id != target {
                    return Err(Error::Conflict(
                        "the DP reported a version it was not asked to hold".into(),
                    ));
                }
                model.installed_version_id = Set(target);
                model.validated_at_ms = Set(Some(now));
                model.detail = Set(None);
                (DistState::Success, true)
            }
            ReportedState::Failed => {
                model.detail = Set(detail.clone());
                (DistState::Failed, true)
            }
            ReportedState::Valid => {
                model.validated_at_ms = Set(Some(now));
                model.detail = Set(None);
                model.action = Set(assign::action_str(WorkAction::Install).to_owned());
                (DistState::Success, true)
            }
            ReportedState::Invalid => {
                model.validated_at_ms = Set(Some(now));
                model.detail = Set(detail.clone());
                model.action = Set(assign::action_str(WorkAction::Install).to_owned());
                (DistState::ValidationFailed, true)
            }
            ReportedState::Removed => {
                let version = version_number(&txn, target).await?;
                assignments::Entity::delete_by_id(report.assignment_id)
                    .exec(&txn)
                    .await?;
                assign::record_event(
                    &txn,
                    content_id,
                    dp.id,
                    now,
                    DistState::Removing,
                    version,
                    Some("Removed from the DP".into()),
                )
                .await?;
                txn.commit().await?;
                reported(self.domain, dp.id, content_id);
                return Ok(());
            }
        };
        model.state = Set(state.as_str().to_owned());
        model.update(&txn).await?;
        if event {
            let version = version_number(&txn, report.version_id.or(target)).await?;
            let text = match report.state {
                ReportedState::InProgress => Some("Transfer started".to_owned()),
                ReportedState::Installed => Some(format!(
                    "Every file verified; {} bytes were needed",
                    report.bytes_needed.unwrap_or(0)
                )),
                ReportedState::Valid => Some("Validated: every file matches".to_owned()),
                _ => detail,
            };
            assign::record_event(&txn, content_id, dp.id, now, state, version, text).await?;
        }
        txn.commit().await?;
        reported(self.domain, dp.id, content_id);
        Ok(())
    }
}

/// Tells pages that a DP reported about a content.
fn reported(domain: &Domain, dp_id: i64, content_id: i64) {
    super::events::publish(
        domain,
        super::events::DistributionEvent {
            change: super::events::Change::Status,
            dp_id,
            content_id: Some(content_id),
        },
    );
}

/// A DP's text for the console: printable, at most 2,000 characters.
fn clean_detail(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .take(2000)
        .collect()
}

async fn version_number<C: sea_orm::ConnectionTrait>(
    conn: &C,
    id: Option<i64>,
) -> Result<Option<i32>> {
    Ok(match id {
        Some(id) => content_versions::Entity::find_by_id(id)
            .one(conn)
            .await?
            .map(|v| v.number),
        None => None,
    })
}
