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

    /// Records a change `actor` made: `changes` are `(field, before, after)`. Object ids are
    /// positive; 0 stands for an object that does not exist yet (an import just queued), named
    /// by its source.
    pub(crate) async fn allowed(
        &self,
        actor: &Actor,
        operation: Operation,
        object_type: ObjectType,
        object: (i64, &str),
        changes: &[(&str, Value, Value)],
    ) -> Result<()> {
        self.record(&Entry {
            user_id: Some(actor.user_id),
            username: actor.username.clone(),
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
            source_addr: actor.source_addr.clone().unwrap_or_default(),
        })
        .await?;
        Ok(())
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
