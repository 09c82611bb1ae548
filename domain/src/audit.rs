//! The audit log: who did (or tried to do) what to which object, when, from where, and what
//! changed. Append-only; every entry carries the SHA-256 of its content and of the entry
//! before it, and the previous hash is unique, so the chain cannot fork and an edited,
//! removed or reordered row shows up in [`Audit::verify`].
//!
//! Every change is recorded in the transaction that makes it ([`AuditedTxn`]). The newest
//! entry (its id and hash) is also written, at every change, to the server log and to
//! `<data_dir>/audit-head` (the anchor), so that removing the newest entries, which leaves a
//! chain that is consistent in itself, is noticed too: the anchored entry is gone.
//!
//! What the chain proves: no entry up to the anchored one was edited, removed, reordered or
//! inserted since it was written, unless the anchor file (and the log) were rewritten as well.
//! What it does not: that someone with write access to the database and the data directory
//! did not rewrite the whole chain and its anchor; ship the server log elsewhere for that.

use std::collections::BTreeMap;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{
    Actor, Domain, Error, Result,
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
    /// The first entry that does not match its hash or its predecessor, or the anchored entry
    /// when it is gone, and why.
    pub broken_at: Option<(i64, String)>,
    /// The anchor file compared with the table.
    pub anchor: AnchorCheck,
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

/// The newest entry of the chain, as the anchor file keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub id: i64,
    pub hash: String,
}

/// Where the anchor lives: `<data_dir>/audit-head`.
pub const ANCHOR_FILE: &str = "audit-head";

/// PostgreSQL advisory lock key that serializes audited transactions (ASCII "WDAU"). On SQLite
/// every write transaction begins `IMMEDIATE` and is serialized already.
const PG_CHAIN_LOCK: i64 = 0x5744_4155;

/// A write transaction whose changes are audited inside it: each entry recorded commits or
/// rolls back with the change it describes, so there is never a change without its entry, nor
/// an entry for a change that did not happen. Audited transactions are serialized (the chain
/// head is read and extended inside them), which also makes checks of invariants inside them
/// (the last Full Administrator) race-free.
///
/// It is also the unit of work that follows a commit: files the change stopped using
/// ([`AuditedTxn::release`]) are removed, and jobs it queued ([`AuditedTxn::enqueue`]) are
/// announced, only once it committed; [`AuditedTxn::commit`] does both and moves the anchor.
pub(crate) struct AuditedTxn {
    domain: Domain,
    txn: DatabaseTransaction,
    head: Option<Head>,
    released: Vec<crate::catalog::store::Released>,
    queued: Vec<i64>,
}

impl AuditedTxn {
    pub(crate) async fn begin(domain: &Domain) -> Result<Self> {
        let txn = crate::db::begin_write(domain.db()).await?;
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            txn.execute_raw(Statement::from_string(
                DatabaseBackend::Postgres,
                format!("SELECT pg_advisory_xact_lock({PG_CHAIN_LOCK})"),
            ))
            .await?;
        }
        Ok(Self {
            domain: domain.clone(),
            txn,
            head: None,
            released: Vec::new(),
            queued: Vec::new(),
        })
    }

    /// The transaction, for the change itself.
    pub(crate) fn conn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// The change stops using `paths`: each one no catalog row references any more (checked in
    /// this transaction) is recorded for removal, and removed after the commit.
    pub(crate) async fn release(&mut self, paths: &[std::path::PathBuf]) -> Result<()> {
        let now = self.domain.now_ms();
        let released = crate::catalog::store::release_files(&self.txn, paths, now).await?;
        self.released.extend(released);
        Ok(())
    }

    /// Queues a job with this change; it is announced to the runners after the commit.
    pub(crate) async fn enqueue(
        &mut self,
        owner: Option<&Actor>,
        new: crate::jobs::NewJob,
    ) -> Result<i64> {
        let id = self.domain.jobs().enqueue_in(&self.txn, owner, new).await?;
        self.queued.push(id);
        Ok(id)
    }

    /// Appends an entry to the chain, inside this transaction.
    pub(crate) async fn record(&mut self, entry: &Entry) -> Result<i64> {
        let changes =
            serde_json::to_string(&entry.changes).map_err(|e| Error::Internal(e.to_string()))?;
        let prev = match &self.head {
            Some(head) => head.hash.clone(),
            None => audit_log::Entity::find()
                .order_by_desc(audit_log::Column::Id)
                .limit(1)
                .one(&self.txn)
                .await?
                .map_or_else(|| GENESIS.to_owned(), |row| row.hash),
        };
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
            changes,
            outcome: entry.outcome.as_str().to_owned(),
            detail: entry.detail.clone(),
            source_addr: entry.source_addr.clone(),
            prev_hash: prev.clone(),
            hash: String::new(),
        };
        row.hash = digest(&prev, at_ms, &row);
        let hash = row.hash.clone();
        let inserted = audit_log::ActiveModel {
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
        }
        .insert(&self.txn)
        .await?;
        self.head = Some(Head {
            id: inserted.id,
            hash,
        });
        Ok(inserted.id)
    }

    /// Records a change `actor` made: `changes` are `(field, before, after)`. Object ids are
    /// positive; 0 stands for an object that does not exist yet (an import just queued), named
    /// by its source.
    pub(crate) async fn allowed(
        &mut self,
        actor: &Actor,
        operation: Operation,
        object_type: ObjectType,
        object: (i64, &str),
        changes: &[(&str, Value, Value)],
    ) -> Result<()> {
        self.record(&Entry::allowed(
            actor,
            operation,
            object_type,
            object,
            changes,
        ))
        .await?;
        Ok(())
    }

    /// Commits the change and its entries, then writes the new head to the anchor, removes
    /// the released files and announces the queued jobs.
    pub(crate) async fn commit(self) -> Result<()> {
        self.txn.commit().await?;
        if let Some(head) = self.head {
            self.domain.audit().anchor(&head);
        }
        crate::catalog::store::discard_released(&self.domain, self.released).await;
        let jobs = self.domain.jobs();
        for id in self.queued {
            jobs.announce(id);
        }
        Ok(())
    }
}

/// Who a job's effects are recorded as: the user who started it (or Wimdeck itself), with the
/// job named in the entry's detail.
#[derive(Debug, Clone)]
pub(crate) struct JobAuthor {
    pub(crate) user_id: Option<i64>,
    pub(crate) username: String,
    pub(crate) job_id: i64,
}

impl JobAuthor {
    pub(crate) fn entry(
        &self,
        operation: Operation,
        object_type: ObjectType,
        object: (i64, &str),
        changes: &[(&str, Value, Value)],
    ) -> Entry {
        Entry {
            user_id: self.user_id,
            username: self.username.clone(),
            detail: format!("job {}", self.job_id),
            source_addr: "job".into(),
            ..Entry::changes(operation, object_type, object, changes)
        }
    }
}

/// Who changes made from the server's own shell (the command line, the first-run setup link)
/// are recorded as.
pub const LOCAL_ADMINISTRATOR: &str = "local administrator";

impl Entry {
    /// A change made by the local administrator; `how` names the way (`wimdeck user add`).
    pub(crate) fn local(
        operation: Operation,
        object_type: ObjectType,
        object: (i64, &str),
        changes: &[(&str, Value, Value)],
        how: &str,
    ) -> Self {
        Self {
            user_id: None,
            username: LOCAL_ADMINISTRATOR.to_owned(),
            detail: how.to_owned(),
            source_addr: "local".to_owned(),
            ..Self::changes(operation, object_type, object, changes)
        }
    }

    fn changes(
        operation: Operation,
        object_type: ObjectType,
        object: (i64, &str),
        changes: &[(&str, Value, Value)],
    ) -> Self {
        Self {
            user_id: None,
            username: String::new(),
            operation,
            object_type,
            object_id: (object.0 > 0).then(|| object.0.to_string()),
            object_name: object.1.to_owned(),
            changes: changes
                .iter()
                .map(|(field, before, after)| {
                    ((*field).to_owned(), (before.clone(), after.clone()))
                })
                .collect(),
            outcome: Outcome::Allowed,
            detail: String::new(),
            source_addr: String::new(),
        }
    }

    /// What a schedule did when it fired, as its owner (or as Wimdeck, for its own): the job
    /// it queued on the grant's object, or, `refused`, why it queued nothing.
    pub(crate) fn scheduled(
        owner: Option<(i64, &str)>,
        schedule: &str,
        grant: &crate::jobs::JobGrant,
        job: Option<i64>,
        refused: Option<String>,
    ) -> Self {
        let changes = match job {
            Some(id) => vec![("job", Value::Null, serde_json::json!(id))],
            None => Vec::new(),
        };
        let object = (grant.object_id, grant.object_name.as_str());
        Self {
            user_id: owner.map(|(id, _)| id),
            username: owner.map_or("Wimdeck", |(_, name)| name).to_owned(),
            outcome: if refused.is_some() {
                Outcome::Denied
            } else {
                Outcome::Allowed
            },
            detail: match refused {
                Some(why) => format!("schedule \"{schedule}\" queued nothing: {why}"),
                None => format!("schedule \"{schedule}\""),
            },
            source_addr: "schedule".into(),
            ..Self::changes(grant.operation, grant.object_type, object, &changes)
        }
    }

    /// An allowed change by `actor`; see [`AuditedTxn::allowed`].
    pub(crate) fn allowed(
        actor: &Actor,
        operation: Operation,
        object_type: ObjectType,
        object: (i64, &str),
        changes: &[(&str, Value, Value)],
    ) -> Self {
        Self {
            user_id: Some(actor.user_id),
            username: actor.username.clone(),
            source_addr: actor.source_addr.clone().unwrap_or_default(),
            ..Self::changes(operation, object_type, object, changes)
        }
    }
}

/// What the anchor file says, compared with the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorCheck {
    /// No anchor file (a new installation, or one from before anchors).
    Missing,
    /// The anchored entry is in the chain with the anchored hash.
    Matches(Head),
    /// The anchored entry is gone, or is not the one anchored: entries were removed.
    Mismatch { anchored: Head, found: Option<Head> },
    /// The file cannot be read as an anchor.
    Unreadable(String),
}

impl<'a> Audit<'a> {
    pub(crate) fn new(domain: &'a Domain) -> Self {
        Self { domain }
    }

    /// Appends one entry in a transaction of its own (refusals, which change nothing else).
    pub async fn record(&self, entry: &Entry) -> Result<i64> {
        let mut txn = AuditedTxn::begin(self.domain).await?;
        let id = txn.record(entry).await?;
        txn.commit().await?;
        Ok(id)
    }

    fn anchor_path(&self) -> std::path::PathBuf {
        self.domain.config().data_dir.join(ANCHOR_FILE)
    }

    /// Writes `head` to the anchor file (atomically) and to the server log, unless an entry
    /// newer than it is anchored already. A failure is logged, not returned: the change it
    /// follows has committed.
    pub(crate) fn anchor(&self, head: &Head) {
        let mut last = self
            .domain
            .inner
            .audit_anchor
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if *last >= head.id {
            return;
        }
        tracing::info!(target: "wimdeck::audit", head_id = head.id, head_hash = %head.hash, "audit log head");
        let written = serde_json::to_vec(head)
            .map_err(std::io::Error::other)
            .and_then(|bytes| crate::fsx::write_atomically(&self.anchor_path(), &bytes));
        match written {
            Ok(()) => *last = head.id,
            Err(e) => tracing::error!(
                "writing the audit anchor {} failed: {e}",
                self.anchor_path().display()
            ),
        }
    }

    /// The newest entry in the table.
    pub async fn head(&self) -> Result<Option<Head>> {
        Ok(audit_log::Entity::find()
            .order_by_desc(audit_log::Column::Id)
            .limit(1)
            .one(self.domain.db())
            .await?
            .map(|row| Head {
                id: row.id,
                hash: row.hash,
            }))
    }

    /// Compares the anchor file with the table.
    pub async fn check_anchor(&self) -> Result<AnchorCheck> {
        let bytes = match std::fs::read(self.anchor_path()) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(AnchorCheck::Missing),
            Err(e) => return Ok(AnchorCheck::Unreadable(e.to_string())),
        };
        let anchored: Head = match serde_json::from_slice(&bytes) {
            Ok(head) => head,
            Err(e) => return Ok(AnchorCheck::Unreadable(e.to_string())),
        };
        let found = audit_log::Entity::find_by_id(anchored.id)
            .one(self.domain.db())
            .await?
            .map(|row| Head {
                id: row.id,
                hash: row.hash,
            });
        Ok(match found {
            Some(found) if found == anchored => AnchorCheck::Matches(anchored),
            found => AnchorCheck::Mismatch { anchored, found },
        })
    }

    /// At start: checks the anchor against the table, records in the chain itself what a
    /// mismatch says (entries were removed while the console was down), and anchors the head.
    pub async fn reconcile_anchor(&self) -> Result<AnchorCheck> {
        let check = self.check_anchor().await?;
        let problem = match &check {
            AnchorCheck::Mismatch { anchored, .. } => Some(format!(
                "the audit log no longer holds entry {} ({}) that its anchor names: entries were removed or replaced",
                anchored.id, anchored.hash
            )),
            AnchorCheck::Unreadable(why) => Some(format!("the audit anchor cannot be read: {why}")),
            AnchorCheck::Missing | AnchorCheck::Matches(_) => None,
        };
        if let Some(detail) = problem {
            tracing::error!("{detail}");
            self.record(&Entry {
                user_id: None,
                username: "Wimdeck".into(),
                operation: Operation::Validate,
                object_type: ObjectType::AuditLog,
                object_id: None,
                object_name: "audit log".into(),
                changes: BTreeMap::new(),
                outcome: Outcome::Denied,
                detail,
                source_addr: String::new(),
            })
            .await?;
        } else if let Some(head) = self.head().await? {
            self.anchor(&head);
        }
        Ok(check)
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
                let anchor = self.check_anchor().await?;
                let broken_at = match &anchor {
                    AnchorCheck::Mismatch { anchored, .. } => Some((
                        anchored.id,
                        format!(
                            "the anchor ({ANCHOR_FILE}) names this entry as the newest it saw, and it is missing or different (the newest entries were removed or replaced)"
                        ),
                    )),
                    _ => None,
                };
                return Ok(Verification {
                    entries,
                    broken_at,
                    anchor,
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
                        anchor: self.check_anchor().await?,
                    });
                }
                prev = row.hash;
            }
        }
    }
}

/// Which entries to show or export. Every criterion is optional; together they narrow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// User name, compared case-insensitively, in full.
    pub user: Option<String>,
    pub operation: Option<Operation>,
    pub object_type: Option<ObjectType>,
    pub outcome: Option<Outcome>,
    /// Part of the object's name or the detail, case-insensitively.
    pub text: Option<String>,
    /// Entries at or after this time (Unix ms, UTC).
    pub from_ms: Option<i64>,
    /// Entries before this time.
    pub to_ms: Option<i64>,
}

/// A recorded entry, as read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    pub id: i64,
    pub at_ms: i64,
    pub user_id: Option<i64>,
    pub username: String,
    pub operation: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub object_name: String,
    /// `{"field": [before, after]}`.
    pub changes: Value,
    pub outcome: String,
    pub detail: String,
    pub source_addr: String,
    pub prev_hash: String,
    pub hash: String,
}

impl From<audit_log::Model> for Record {
    fn from(row: audit_log::Model) -> Self {
        Self {
            id: row.id,
            at_ms: row.at_ms,
            user_id: row.user_id,
            username: row.username,
            operation: row.operation,
            object_type: row.object_type,
            object_id: row.object_id,
            object_name: row.object_name,
            changes: serde_json::from_str(&row.changes).unwrap_or(Value::Null),
            outcome: row.outcome,
            detail: row.detail,
            source_addr: row.source_addr,
            prev_hash: row.prev_hash,
            hash: row.hash,
        }
    }
}

/// Midnight UTC of a `yyyy-mm-dd` date, as Unix ms (for date filters).
pub fn day_start_ms(date: &str) -> Option<i64> {
    chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .ok()?
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis())
}

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Json,
}

/// The most entries one export holds; narrow the filter for more.
pub const EXPORT_LIMIT: u64 = 100_000;

/// The audit log as an Auditor reads it; see [`crate::ActorDomain::audit`].
pub struct ActorAudit<'a> {
    domain: &'a Domain,
    actor: &'a Actor,
}

impl<'a> ActorAudit<'a> {
    pub(crate) fn new(domain: &'a Domain, actor: &'a Actor) -> Self {
        Self { domain, actor }
    }

    /// Up to `limit` entries matching `filter`, newest first, older than `before_id` if given.
    pub async fn search(
        &self,
        filter: &Filter,
        before_id: Option<i64>,
        limit: u64,
    ) -> Result<Vec<Record>> {
        self.actor.require(ObjectType::AuditLog, Operation::Read)?;
        let mut query = condition(filter)?;
        if let Some(id) = before_id {
            query = query.add(audit_log::Column::Id.lt(id));
        }
        Ok(audit_log::Entity::find()
            .filter(query)
            .order_by_desc(audit_log::Column::Id)
            .limit(limit.clamp(1, 500))
            .all(self.domain.db())
            .await?
            .into_iter()
            .map(Record::from)
            .collect())
    }

    /// Every entry matching `filter` (at most [`EXPORT_LIMIT`]), oldest first, as CSV or JSON.
    /// The export itself is recorded.
    pub async fn export(&self, filter: &Filter, format: ExportFormat) -> Result<String> {
        self.actor.require(ObjectType::AuditLog, Operation::Read)?;
        let mut rows = Vec::new();
        let mut after_id = 0;
        loop {
            let page = audit_log::Entity::find()
                .filter(condition(filter)?.add(audit_log::Column::Id.gt(after_id)))
                .order_by_asc(audit_log::Column::Id)
                .limit(1000)
                .all(self.domain.db())
                .await?;
            let Some(last) = page.last() else { break };
            after_id = last.id;
            rows.extend(page.into_iter().map(Record::from));
            if rows.len() as u64 >= EXPORT_LIMIT {
                rows.truncate(EXPORT_LIMIT as usize);
                break;
            }
        }
        let text = match format {
            ExportFormat::Json => {
                serde_json::to_string_pretty(&rows).map_err(|e| Error::Internal(e.to_string()))?
            }
            ExportFormat::Csv => to_csv(&rows),
        };
        let filter_text = serde_json::to_value(filter).unwrap_or(Value::Null);
        self.domain
            .audit()
            .record(&Entry {
                user_id: Some(self.actor.user_id),
                username: self.actor.username.clone(),
                operation: Operation::Read,
                object_type: ObjectType::AuditLog,
                object_id: None,
                object_name: "audit log".into(),
                changes: BTreeMap::new(),
                outcome: Outcome::Allowed,
                detail: format!(
                    "exported {} entries as {} with filter {filter_text}",
                    rows.len(),
                    match format {
                        ExportFormat::Csv => "CSV",
                        ExportFormat::Json => "JSON",
                    }
                ),
                source_addr: self.actor.source_addr.clone().unwrap_or_default(),
            })
            .await?;
        Ok(text)
    }
}

fn condition(filter: &Filter) -> Result<sea_orm::Condition> {
    use sea_orm::sea_query::{Expr, ExprTrait, Func};
    let mut c = sea_orm::Condition::all();
    if let Some(user) = filter
        .user
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        c = c.add(
            Expr::expr(Func::lower(Expr::col(audit_log::Column::Username))).eq(user.to_lowercase()),
        );
    }
    if let Some(op) = filter.operation {
        c = c.add(audit_log::Column::Operation.eq(op.slug()));
    }
    if let Some(t) = filter.object_type {
        c = c.add(audit_log::Column::ObjectType.eq(t.slug()));
    }
    if let Some(o) = filter.outcome {
        c = c.add(audit_log::Column::Outcome.eq(o.as_str()));
    }
    if let Some(text) = filter
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        if text.chars().count() > 200 {
            return Err(Error::invalid("text", "must be at most 200 characters"));
        }
        let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
        c = c.add(
            sea_orm::Condition::any()
                .add(
                    Expr::expr(Func::lower(Expr::col(audit_log::Column::ObjectName)))
                        .like(sea_orm::sea_query::LikeExpr::new(&pattern).escape('\\')),
                )
                .add(
                    Expr::expr(Func::lower(Expr::col(audit_log::Column::Detail)))
                        .like(sea_orm::sea_query::LikeExpr::new(&pattern).escape('\\')),
                ),
        );
    }
    if let (Some(from), Some(to)) = (filter.from_ms, filter.to_ms)
        && from >= to
    {
        return Err(Error::invalid("to", "the end must be after the start"));
    }
    if let Some(from) = filter.from_ms {
        c = c.add(audit_log::Column::AtMs.gte(from));
    }
    if let Some(to) = filter.to_ms {
        c = c.add(audit_log::Column::AtMs.lt(to));
    }
    Ok(c)
}

fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// RFC 4180 CSV, one row per entry. Cells a spreadsheet would run as a formula (user names
/// and object names are typed by users) get a leading apostrophe.
fn to_csv(rows: &[Record]) -> String {
    let mut out = String::from(
        "id,time_utc,user,operation,object_type,object_id,object_name,outcome,detail,source_address,changes,hash\r\n",
    );
    for r in rows {
        let time = chrono::DateTime::from_timestamp_millis(r.at_ms)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            .unwrap_or_default();
        let cells = [
            r.id.to_string(),
            time,
            r.username.clone(),
            r.operation.clone(),
            r.object_type.clone(),
            r.object_id.clone().unwrap_or_default(),
            r.object_name.clone(),
            r.outcome.clone(),
            r.detail.clone(),
            r.source_addr.clone(),
            r.changes.to_string(),
            r.hash.clone(),
        ];
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_csv_cell(&mut out, cell);
        }
        out.push_str("\r\n");
    }
    out
}

fn push_csv_cell(out: &mut String, cell: &str) {
    let formula = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || cell.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    for ch in cell.chars() {
        if ch == '"' {
            out.push('"');
        }
        out.push(ch);
    }
    if quote {
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::push_csv_cell;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        let cell = |s: &str| {
            let mut out = String::new();
            push_csv_cell(&mut out, s);
            out
        };
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\"\nbye"), "\"say \"\"hi\"\"\nbye\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("-1"), "\"'-1\"");
    }
}
