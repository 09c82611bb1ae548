//! Distribution on demand: content set to "Distribute to preferred DPs on demand" goes to a
//! DP when a client asks that DP for it and the DP is a preferred one for the client (its
//! boundaries include the client's address). The DP asks the site on the client's behalf
//! (`POST /dp/v1/demand`); PXE and multicast ask this way when a client wants content the DP
//! does not hold.
//!
//! No user is involved: the content's setting and the DP's boundaries are the authorization,
//! and the audit log records the distribution with the DP and the client.

use std::{collections::BTreeMap, net::IpAddr};

use super::{
    assign::{self, DistState},
    points::DistributionPoint,
    protocol::{DemandRequest, DemandResponse, Demanded, WorkAction},
};
use crate::{
    Domain, Error, Result,
    audit::{AuditedTxn, Entry, Outcome},
    authz::Operation,
    config::IpNet,
    content::{ContentObject, VERSION_JOB},
    db::entities::{contents, distribution_assignments as assignments},
    jobs::NewJob,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

/// Answers a DP's demand (see the module's documentation).
pub(crate) async fn demand(
    domain: &Domain,
    dp: &DistributionPoint,
    request: &DemandRequest,
) -> Result<DemandResponse> {
    let client: IpAddr = request
        .client
        .trim()
        .parse()
        .map_err(|_| Error::invalid("client", "is not an IP address"))?;
    let object = ContentObject::new(request.object_type, request.object_id);
    assign::refuse_non_content(object)?;
    let preferred = dp
        .settings
        .boundaries
        .iter()
        .filter_map(|b| IpNet::parse(b))
        .any(|net| net.contains(client));
    if !preferred {
        return Err(Error::forbidden(
            object.object_type,
            Operation::Distribute,
            format!(
                "{} is not a preferred distribution point for {client}: its boundaries do not include it",
                dp.name
            ),
        ));
    }
    let not_on_demand = || {
        Error::forbidden(
            object.object_type,
            Operation::Distribute,
            format!(
                "{} {} is not distributed to preferred distribution points on demand",
                object.object_type.label(),
                object.object_id
            ),
        )
    };
    let content = contents::Entity::find()
        .filter(contents::Column::ObjectType.eq(object.object_type.slug()))
        .filter(contents::Column::ObjectId.eq(object.object_id))
        .one(domain.db())
        .await?
        .filter(|c| c.on_demand)
        .ok_or_else(not_on_demand)?;
    // Looked at and changed in one transaction, the row locked: many clients asking at once
    // make one request, not one each.
    let mut txn = AuditedTxn::begin(domain).await?;
    let existing = assignments::Entity::find()
        .filter(assignments::Column::ContentId.eq(content.id))
        .filter(assignments::Column::DpId.eq(dp.id))
        .lock_exclusive()
        .one(txn.conn())
        .await?;
    if let Some(row) = existing {
        if row.target_version_id.is_none() {
            // An admin is taking it off this DP: a client does not undo that.
            return Err(Error::Conflict(format!(
                "{} is being removed from {}",
                content.name, dp.name
            )));
        }
        let present = row.state == DistState::Success.as_str()
            && row.installed_version_id == row.target_version_id;
        return Ok(if present {
            DemandResponse {
                state: Demanded::Present,
                detail: format!("{} holds {}", dp.name, content.name),
            }
        } else {
            DemandResponse {
                state: Demanded::Coming,
                detail: format!("{} is fetching {}", dp.name, content.name),
            }
        });
    }
    let Some(version) = domain.content().latest(object).await? else {
        // Made once an hour at most, however many clients ask.
        let hour = domain.now_ms() / 3_600_000;
        txn.enqueue(
            None,
            NewJob::new(
                VERSION_JOB,
                serde_json::json!({
                    "object_type": object.object_type.slug(),
                    "object_id": object.object_id,
                }),
            )
            .idempotency_key(format!(
                "demand:{}:{}:{hour}",
                object.object_type.slug(),
                object.object_id
            )),
        )
        .await?;
        txn.commit().await?;
        return Ok(DemandResponse {
            state: Demanded::Preparing,
            detail: format!(
                "{} is being added to the content library; ask again",
                content.name
            ),
        });
    };
    let now = domain.now_ms();
    assign::request_in(
        txn.conn(),
        content.id,
        dp.id,
        Some(&version),
        WorkAction::Install,
        now,
    )
    .await?;
    txn.record(&Entry {
        user_id: None,
        username: format!("DP {}", dp.name),
        operation: Operation::Distribute,
        object_type: object.object_type,
        object_id: Some(object.object_id.to_string()),
        object_name: content.name.clone(),
        changes: BTreeMap::from([(
            "distribution points".to_owned(),
            (serde_json::Value::Null, serde_json::json!([dp.id])),
        )]),
        outcome: Outcome::Allowed,
        detail: format!("on demand, for the client {client}"),
        source_addr: client.to_string(),
    })
    .await?;
    txn.commit().await?;
    assign::wake_dp(domain, dp.id);
    Ok(DemandResponse {
        state: Demanded::Coming,
        detail: format!(
            "{} fetches {} version {} on demand",
            dp.name, content.name, version.number
        ),
    })
}
