//! The audit log: who did (or tried to do) what to which object, when, from where, and what
//! changed. Append-only; every entry carries the SHA-256 of its content and of the entry
//! before it, and the previous hash is unique, so the chain cannot fork and an edited,
//! removed or reordered row shows up in [`Audit::verify`].

use std::collections::BTreeMap;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{
    Domain, Error, Result,
    authz::{ObjectType, Operation},
    db::entities::audit_log,
};

/// The hash the first entry chains to.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Whether the attempt was carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Allowed,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
        }
    }
}

/// One thing to record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub user_id: Option<i64>,
    pub username: String,
    pub operation: Operation,
    pub object_type: ObjectType,
    pub object_id: Option<String>,
    pub object_name: String,
    /// Changed fields: `field → (before, after)`.
    pub changes: BTreeMap<String, (Value, Value)>,
    pub outcome: Outcome,
    pub detail: String,
    pub source_addr: String,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub entries: u64,
    /// The first entry that does not match its hash or its predecessor, and why.
    pub broken_at: Option<(i64, String)>,
}

/// The audit log; see [`Domain::audit`].
pub struct Audit<'a> {
    domain: &'a Domain,
}

/// The text an entry's hash covers: the previous hash, then every field in a fixed order.
fn digest(prev_hash: &str, at_ms: i64, row: &audit_log::Model) -> String {
    let content = serde_json::json!([
        prev_hash,
        at_ms,
        row.user_id,
        row.username,
        row.operation,
        row.object_type,
        row.object_id,
        row.object_name,
        row.changes,
        row.outcome,
        row.detail,
        row.source_addr,
    ]);
    hex::encode(Sha256::digest(content.to_string().as_bytes()))
}

impl<'a> Audit<'a> {
    pub(crate) fn new(domain: &'a Domain) -> Self {
        Self { domain }
    }

    /// Appends an entry. Concurrent appends race for the same previous hash; the loser (a
    /// unique-key violation) reads the new end of the chain and tries again.
    pub async fn record(&self, entry: &Entry) -> Result<i64> {
        let changes =
            serde_json::to_string(&entry.changes).map_err(|e| Error::Internal(e.to_string()))?;
        for _ in 0..50 {
            let prev = audit_log::Entity::find()
                .order_by_desc(audit_log::Column::Id)
                .limit(1)
                .one(self.domain.db())
                .await?
                .map_or_else(|| GENESIS.to_owned(), |row| row.hash);
            let at_ms = self.domain.now_ms();
            let mut row = audit_log::Model {
                id: 0,
                at_ms,
                user_id: entry.user_id,
                username: entry.username.clone(),
                operation: entry.operation.slug().to_owned(),
                object_type: entry.object_type.slug().to_owned(),
                object_id: entry.object_id.clone(),
                object_name: entry.object_name.clone(),
                changes: changes.clone(),
                outcome: entry.outcome.as_str().to_owned(),
                detail: entry.detail.clone(),
                source_addr: entry.source_addr.clone(),
                prev_hash: prev.clone(),
                hash: String::new(),
            };
            row.hash = digest(&prev, at_ms, &row);
            let active = audit_log::ActiveModel {
                at_ms: Set(row.at_ms),
                user_id: Set(row.user_id),
                username: Set(row.username),
                operation: Set(row.operation),
                object_type: Set(row.object_type),
                object_id: Set(row.object_id),
                object_name: Set(row.object_name),
                changes: Set(row.changes),
                outcome: Set(row.outcome),
                detail: Set(row.detail),
                source_addr: Set(row.source_addr),
                prev_hash: Set(row.prev_hash),
                hash: Set(row.hash),
                ..Default::default()
            };
            match active.insert(self.domain.db()).await {
                Ok(inserted) => return Ok(inserted.id),
                Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Internal(
            "could not append to the audit log: too many concurrent writers".into(),
        ))
    }

    /// Walks the whole chain, oldest first, and reports the first entry that does not match.
    pub async fn verify(&self) -> Result<Verification> {
        let mut prev = GENESIS.to_owned();
        let mut entries = 0;
        let mut after_id = 0;
        loop {
            let page = audit_log::Entity::find()
                .filter(audit_log::Column::Id.gt(after_id))
                .order_by_asc(audit_log::Column::Id)
                .limit(1000)
                .all(self.domain.db())
                .await?;
            if page.is_empty() {
                return Ok(Verification {
                    entries,
                    broken_at: None,
                });
            }
            for row in page {
                after_id = row.id;
                entries += 1;
                let broken = if row.prev_hash != prev {
                    Some("it does not follow the entry before it (one was removed or reordered)")
                } else if digest(&row.prev_hash, row.at_ms, &row) != row.hash {
                    Some("its content does not match its hash (it was edited)")
                } else {
                    None
                };
                if let Some(why) = broken {
                    return Ok(Verification {
                        entries,
                        broken_at: Some((row.id, why.to_owned())),
                    });
                }
                prev = row.hash;
            }
        }
    }
}
