//! The content library: every distributable object (a boot image, an OS image, a driver
//! package) as **content** with versions. A version is a [`Manifest`] (its files, their sizes
//! and SHA-256, the chunks of each) whose chunks are stored once in a [`ChunkStore`], however
//! many versions and objects share them.
//!
//! The library and its rows never disagree: a version's chunks and manifest are on disk,
//! flushed, before its row commits, and its commit checks that every chunk it names is still
//! there while it holds the library's lock; the collector ([`ContentLibrary::collect`]) deletes
//! a chunk only under that lock and only when no version uses it (a foreign key stops it
//! otherwise).
//!
//! This area knows nothing of catalogs: it is given files. The objects' owners tell it when an
//! object changed ([`note_changed`]); the distribution area, above both, turns objects into
//! files and runs the jobs.

mod collect;
pub mod manifest;
pub mod prestaged;
pub mod store;
pub mod sweep;

use std::{collections::HashSet, path::PathBuf, sync::Arc};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect, Set, Statement, sea_query::OnConflict,
};
use serde::{Deserialize, Serialize};

pub use manifest::{ChunkRef, Manifest, ManifestFile};
pub use store::ChunkStore;

use crate::{
    Domain, Error, Result,
    audit::AuditedTxn,
    authz::ObjectType,
    db::entities::{content_chunks, content_version_chunks, content_versions, contents},
    jobs::NewJob,
    progress::{Progress, ProgressUnit},
};

/// The job kind that makes a new version of an object's content (registered by the
/// distribution area, which knows how to read objects).
pub const VERSION_JOB: &str = "content-version";

/// The job kind that takes a deleted object's content off every DP (registered by the
/// distribution area).
pub const RETIRE_JOB: &str = "content-retire";

/// Rows per multi-row statement (well inside SQLite's limit on bound parameters).
const BATCH: usize = 300;

/// A distributable object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContentObject {
    pub object_type: ObjectType,
    pub object_id: i64,
}

impl ContentObject {
    pub fn new(object_type: ObjectType, object_id: i64) -> Self {
        Self {
            object_type,
            object_id,
        }
    }
}

/// A file to put in a version: its path in the manifest, where it is now, and the SHA-256 it
/// was recorded with (the version is refused if the file no longer has it).
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: String,
    pub local: PathBuf,
    pub sha256: Option<String>,
}

/// An object in the library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub id: i64,
    pub object: ContentObject,
    pub name: String,
    pub created_at_ms: i64,
}

/// One version of a content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentVersion {
    pub id: i64,
    pub content_id: i64,
    pub number: i32,
    pub manifest_sha256: String,
    pub fingerprint: String,
    pub file_count: u32,
    pub total_bytes: u64,
    /// What storing it cost: the bytes of the chunks it was the first to bring.
    pub new_bytes: u64,
    pub chunk_count: u32,
    pub reason: String,
    pub created_by: String,
    pub created_at_ms: i64,
}

/// The library as a whole, for its page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryStats {
    pub contents: u64,
    pub versions: u64,
    pub chunks: u64,
    /// Bytes on disk (chunks).
    pub stored_bytes: u64,
    /// What the versions would take stored whole, one copy each.
    pub logical_bytes: u64,
    /// Bytes of chunks no version uses, which the next collection removes.
    pub collectable_bytes: u64,
}

impl LibraryStats {
    /// What sharing chunks saved.
    pub fn saved_bytes(&self) -> u64 {
        self.logical_bytes
            .saturating_sub(self.stored_bytes - self.collectable_bytes)
    }
}

/// What [`ContentLibrary::add_version`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    pub version: ContentVersion,
    /// False when the newest version already held this content.
    pub created: bool,
}

/// What a collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collected {
    pub versions: u64,
    pub chunks: u64,
    pub bytes: u64,
    /// Files without a row (left by a crash) and stale temporary files.
    pub stray_files: u64,
}

/// The content library service; see [`Domain::content`].
pub struct ContentLibrary<'a> {
    domain: &'a Domain,
}

impl<'a> ContentLibrary<'a> {
    pub(crate) fn new(domain: &'a Domain) -> Self {
        Self { domain }
    }

    /// The site's store: `<data_dir>/content`.
    pub fn store(&self) -> ChunkStore {
        ChunkStore::new(self.domain.config().data_dir.join("content"))
    }

    pub async fn content_of(&self, object: ContentObject) -> Result<Option<Content>> {
        Ok(contents::Entity::find()
            .filter(contents::Column::ObjectType.eq(object.object_type.slug()))
            .filter(contents::Column::ObjectId.eq(object.object_id))
            .one(self.domain.db())
            .await?
            .map(to_content))
    }

    /// Every content.
    pub async fn list(&self) -> Result<Vec<Content>> {
        Ok(contents::Entity::find()
            .order_by_asc(contents::Column::Id)
            .all(self.domain.db())
            .await?
            .into_iter()
            .map(to_content)
            .collect())
    }

    /// Forgets a content whose object is gone, with its versions (their chunks go with the
    /// next collection). A version a DP still holds keeps it (a foreign key refuses).
    pub(crate) async fn forget(&self, content_id: i64) -> Result<()> {
        contents::Entity::delete_by_id(content_id)
            .exec(self.domain.db())
            .await?;
        Ok(())
    }

    pub async fn get(&self, content_id: i64) -> Result<Content> {
        contents::Entity::find_by_id(content_id)
            .one(self.domain.db())
            .await?
            .map(to_content)
            .ok_or_else(|| Error::NotFound(format!("content {content_id}")))
    }

    /// Every version of a content, newest first.
    pub async fn versions(&self, content_id: i64) -> Result<Vec<ContentVersion>> {
        Ok(content_versions::Entity::find()
            .filter(content_versions::Column::ContentId.eq(content_id))
            .order_by_desc(content_versions::Column::Number)
            .all(self.domain.db())
            .await?
            .into_iter()
            .map(to_version)
            .collect())
    }

    pub async fn version(&self, version_id: i64) -> Result<ContentVersion> {
        content_versions::Entity::find_by_id(version_id)
            .one(self.domain.db())
            .await?
            .map(to_version)
            .ok_or_else(|| Error::NotFound(format!("content version {version_id}")))
    }

    /// The newest version of an object's content, if it has any.
    pub async fn latest(&self, object: ContentObject) -> Result<Option<ContentVersion>> {
        let Some(content) = self.content_of(object).await? else {
            return Ok(None);
        };
        Ok(self.versions(content.id).await?.into_iter().next())
    }

    /// Makes `object`'s content a new version of `files` (the newest version is returned
    /// unchanged if it holds the same files). The files are chunked into the store first; the
    /// version's row commits only once its manifest and every chunk are on disk.
    pub async fn add_version(
        &self,
        object: ContentObject,
        name: &str,
        files: Vec<SourceFile>,
        reason: &str,
        created_by: &str,
        progress: Arc<Progress>,
    ) -> Result<Added> {
        let latest = self.latest(object).await?;
        if let Some(latest) = &latest
            && files.iter().all(|f| f.sha256.is_some())
            && manifest::fingerprint(
                files
                    .iter()
                    .map(|f| (f.path.as_str(), f.sha256.as_deref().unwrap_or_default())),
            ) == latest.fingerprint
        {
            return Ok(Added {
                version: latest.clone(),
                created: false,
            });
        }
        let store = self.store();
        let total: u64 = files
            .iter()
            .filter_map(|f| std::fs::metadata(&f.local).ok())
            .map(|m| m.len())
            .sum();
        progress.set_phase("Chunking");
        progress.start((total > 0).then_some(total), ProgressUnit::Bytes);
        let chunked = tokio::task::spawn_blocking({
            let store = store.clone();
            let progress = progress.clone();
            move || -> Result<Vec<ManifestFile>> {
                std::fs::create_dir_all(store.root())?;
                files
                    .iter()
                    .map(|f| {
                        store
                            .chunk_file(&f.local, &f.path, f.sha256.as_deref(), &progress)
                            .map(|c| c.entry)
                    })
                    .collect()
            }
        })
        .await
        .map_err(|e| Error::Internal(format!("chunking stopped: {e}")))??;
        let manifest = Manifest::new(chunked);
        let fingerprint = manifest.fingerprint();
        if let Some(latest) = latest
            && latest.fingerprint == fingerprint
        {
            return Ok(Added {
                version: latest,
                created: false,
            });
        }
        progress.set_phase("Recording");
        let manifest_sha = tokio::task::spawn_blocking({
            let store = store.clone();
            let manifest = manifest.clone();
            move || store.write_manifest(&manifest)
        })
        .await
        .map_err(|e| Error::Internal(format!("writing the manifest stopped: {e}")))??;
        self.commit_version(
            object,
            name,
            &manifest,
            &manifest_sha,
            &fingerprint,
            reason,
            created_by,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn commit_version(
        &self,
        object: ContentObject,
        name: &str,
        manifest: &Manifest,
        manifest_sha: &str,
        fingerprint: &str,
        reason: &str,
        created_by: &str,
    ) -> Result<Added> {
        let now = self.domain.now_ms();
        let chunks = manifest.distinct_chunks();
        let txn = crate::db::begin_write(self.domain.db()).await?;
        lock_library(&txn).await?;
        let content_id = match contents::Entity::find()
            .filter(contents::Column::ObjectType.eq(object.object_type.slug()))
            .filter(contents::Column::ObjectId.eq(object.object_id))
            .one(&txn)
            .await?
        {
            Some(row) => {
                if row.name != name {
                    let mut active: contents::ActiveModel = row.clone().into();
                    active.name = Set(name.to_owned());
                    active.update(&txn).await?;
                }
                row.id
            }
            None => {
                contents::ActiveModel {
                    object_type: Set(object.object_type.slug().to_owned()),
                    object_id: Set(object.object_id),
                    name: Set(name.to_owned()),
                    created_at_ms: Set(now),
                    ..Default::default()
                }
                .insert(&txn)
                .await?
                .id
            }
        };
        // Another job may have made this very version while this one chunked.
        if let Some(newest) = content_versions::Entity::find()
            .filter(content_versions::Column::ContentId.eq(content_id))
            .order_by_desc(content_versions::Column::Number)
            .one(&txn)
            .await?
            .filter(|v| v.fingerprint == fingerprint)
        {
            return Ok(Added {
                version: to_version(newest),
                created: false,
            });
        }
        // New bytes: chunks with no row before this version.
        let mut known = HashSet::new();
        for batch in chunks.chunks(BATCH) {
            let shas: Vec<&str> = batch.iter().map(|c| c.sha256.as_str()).collect();
            let rows: Vec<String> = content_chunks::Entity::find()
                .select_only()
                .column(content_chunks::Column::Sha256)
                .filter(content_chunks::Column::Sha256.is_in(shas))
                .into_tuple()
                .all(&txn)
                .await?;
            known.extend(rows);
        }
        let new_bytes: u64 = chunks
            .iter()
            .filter(|c| !known.contains(&c.sha256))
            .map(|c| u64::from(c.size))
            .sum();
        let number = content_versions::Entity::find()
            .filter(content_versions::Column::ContentId.eq(content_id))
            .select_only()
            .column_as(content_versions::Column::Number.max(), "max")
            .into_tuple::<Option<i32>>()
            .one(&txn)
            .await?
            .flatten()
            .unwrap_or(0)
            + 1;
        let row = content_versions::ActiveModel {
            content_id: Set(content_id),
            number: Set(number),
            manifest_sha256: Set(manifest_sha.to_owned()),
            fingerprint: Set(fingerprint.to_owned()),
            file_count: Set(i32::try_from(manifest.files.len()).unwrap_or(i32::MAX)),
            total_bytes: Set(i64::try_from(manifest.total_bytes()).unwrap_or(i64::MAX)),
            new_bytes: Set(i64::try_from(new_bytes).unwrap_or(i64::MAX)),
            chunk_count: Set(i32::try_from(chunks.len()).unwrap_or(i32::MAX)),
            reason: Set(reason.to_owned()),
            created_by: Set(created_by.to_owned()),
            created_at_ms: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        for batch in chunks.chunks(BATCH) {
            content_chunks::Entity::insert_many(batch.iter().map(|c| {
                content_chunks::ActiveModel {
                    sha256: Set(c.sha256.clone()),
                    size_bytes: Set(i64::from(c.size)),
                    touched_at_ms: Set(now),
                }
            }))
            .on_conflict(
                OnConflict::column(content_chunks::Column::Sha256)
                    .update_column(content_chunks::Column::TouchedAtMs)
                    .to_owned(),
            )
            .exec(&txn)
            .await?;
            content_version_chunks::Entity::insert_many(batch.iter().map(|c| {
                content_version_chunks::ActiveModel {
                    version_id: Set(row.id),
                    sha256: Set(c.sha256.clone()),
                }
            }))
            .exec(&txn)
            .await?;
        }
        // Under the library's lock, no collection can remove a chunk (or the manifest) between
        // this check and the commit; one that ran since they were written may have.
        let store = self.store();
        let manifest_path = store.manifest_path(manifest_sha);
        let missing = tokio::task::spawn_blocking(move || -> Result<Option<String>> {
            if !manifest_path.is_file() {
                return Ok(Some("the manifest".into()));
            }
            for chunk in &chunks {
                if !store.has_chunk(chunk)? {
                    return Ok(Some(format!("chunk {}", chunk.sha256)));
                }
            }
            Ok(None)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
        if let Some(sha) = missing {
            return Err(Error::Conflict(format!(
                "{sha} left the content library while this version was written (a collection ran); try again"
            )));
        }
        txn.commit().await?;
        Ok(Added {
            version: to_version(row),
            created: true,
        })
    }

    /// The library's size and what sharing saved.
    pub async fn stats(&self) -> Result<LibraryStats> {
        #[derive(Debug, FromQueryResult)]
        struct Sums {
            contents: i64,
            versions: i64,
            chunks: i64,
            stored: Option<i64>,
            logical: Option<i64>,
            collectable: Option<i64>,
        }
        let db = self.domain.db();
        let sums = Sums::find_by_statement(Statement::from_string(
            db.get_database_backend(),
            "SELECT \
               (SELECT COUNT(*) FROM contents) AS contents, \
               (SELECT COUNT(*) FROM content_versions) AS versions, \
               (SELECT COUNT(*) FROM content_chunks) AS chunks, \
               (SELECT CAST(SUM(size_bytes) AS BIGINT) FROM content_chunks) AS stored, \
               (SELECT CAST(SUM(total_bytes) AS BIGINT) FROM content_versions) AS logical, \
               (SELECT CAST(SUM(size_bytes) AS BIGINT) FROM content_chunks c WHERE NOT EXISTS \
                  (SELECT 1 FROM content_version_chunks v WHERE v.sha256 = c.sha256)) AS collectable",
        ))
        .one(db)
        .await?
        .ok_or_else(|| Error::Internal("library sums".into()))?;
        let count = |n: Option<i64>| u64::try_from(n.unwrap_or(0)).unwrap_or(0);
        Ok(LibraryStats {
            contents: count(Some(sums.contents)),
            versions: count(Some(sums.versions)),
            chunks: count(Some(sums.chunks)),
            stored_bytes: count(sums.stored),
            logical_bytes: count(sums.logical),
            collectable_bytes: count(sums.collectable),
        })
    }
}

/// Queues a new version of `object`'s content if it is in the library (an object nobody
/// distributed has no content to update). Called by the object's owner inside the transaction
/// that changed it.
pub(crate) async fn note_changed(txn: &mut AuditedTxn, object: ContentObject) -> Result<()> {
    queue_if_tracked(txn, object, VERSION_JOB).await
}

/// Queues the removal of a deleted object's content from every DP, if it is in the library.
/// Called inside the transaction that deletes the object.
pub(crate) async fn note_deleted(txn: &mut AuditedTxn, object: ContentObject) -> Result<()> {
    queue_if_tracked(txn, object, RETIRE_JOB).await
}

async fn queue_if_tracked(txn: &mut AuditedTxn, object: ContentObject, kind: &str) -> Result<()> {
    let tracked = contents::Entity::find()
        .filter(contents::Column::ObjectType.eq(object.object_type.slug()))
        .filter(contents::Column::ObjectId.eq(object.object_id))
        .one(txn.conn())
        .await?
        .is_some();
    if tracked {
        txn.enqueue(
            None,
            NewJob::new(
                kind,
                serde_json::json!({
                    "object_type": object.object_type.slug(),
                    "object_id": object.object_id,
                }),
            ),
        )
        .await?;
    }
    Ok(())
}

/// Takes the library's lock for the rest of the transaction (a row lock on PostgreSQL; SQLite
/// write transactions are serialized already).
async fn lock_library<C: ConnectionTrait>(txn: &C) -> Result<()> {
    let sql = match txn.get_database_backend() {
        DatabaseBackend::Postgres => "SELECT id FROM content_library WHERE id = 1 FOR UPDATE",
        _ => "UPDATE content_library SET collect_epoch = collect_epoch WHERE id = 1",
    };
    txn.execute_unprepared(sql).await?;
    Ok(())
}

fn to_content(row: contents::Model) -> Content {
    Content {
        id: row.id,
        object: ContentObject {
            object_type: row.object_type.parse().unwrap_or(ObjectType::OsImage),
            object_id: row.object_id,
        },
        name: row.name,
        created_at_ms: row.created_at_ms,
    }
}

fn to_version(row: content_versions::Model) -> ContentVersion {
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    ContentVersion {
        id: row.id,
        content_id: row.content_id,
        number: row.number,
        manifest_sha256: row.manifest_sha256,
        fingerprint: row.fingerprint,
        file_count: u32::try_from(row.file_count).unwrap_or(0),
        total_bytes: n(row.total_bytes),
        new_bytes: n(row.new_bytes),
        chunk_count: u32::try_from(row.chunk_count).unwrap_or(0),
        reason: row.reason,
        created_by: row.created_by,
        created_at_ms: row.created_at_ms,
    }
}
