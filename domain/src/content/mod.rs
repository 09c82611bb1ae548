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

pub mod manifest;
pub mod store;

use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
    sync::Arc,
};

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
        // Under the library's lock, no collection can remove a chunk between this check and
        // the commit; one that ran since the chunks were written may have.
        let store = self.store();
        let missing = tokio::task::spawn_blocking(move || -> Result<Option<String>> {
            for chunk in &chunks {
                if !store.has_chunk(chunk)? {
                    return Ok(Some(chunk.sha256.clone()));
                }
            }
            Ok(None)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
        if let Some(sha) = missing {
            return Err(Error::Conflict(format!(
                "chunk {sha} left the content library while this version was written (a collection ran); try again"
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

    /// Removes what nothing needs: versions older than their content's newest that are not in
    /// `keep` (versions DPs hold or are being sent), then chunks no version uses whose row is
    /// older than `grace_ms`, then files of the store without a row and temporary files older
    /// than `grace_ms` (left by a crash).
    pub async fn collect(&self, keep: &HashSet<i64>, grace_ms: i64) -> Result<Collected> {
        let db = self.domain.db();
        let mut report = Collected::default();
        let now = self.domain.now_ms();

        // Versions: all but each content's newest, unless kept.
        let rows: Vec<(i64, i64, i32)> = content_versions::Entity::find()
            .select_only()
            .column(content_versions::Column::Id)
            .column(content_versions::Column::ContentId)
            .column(content_versions::Column::Number)
            .into_tuple()
            .all(db)
            .await?;
        let mut newest: HashMap<i64, i32> = HashMap::new();
        for (_, content, number) in &rows {
            let entry = newest.entry(*content).or_insert(*number);
            *entry = (*entry).max(*number);
        }
        let old: Vec<i64> = rows
            .iter()
            .filter(|(id, content, number)| newest[content] != *number && !keep.contains(id))
            .map(|(id, _, _)| *id)
            .collect();
        for batch in old.chunks(BATCH) {
            let deleted = content_versions::Entity::delete_many()
                .filter(content_versions::Column::Id.is_in(batch.to_vec()))
                .exec(db)
                .await?;
            report.versions += deleted.rows_affected;
        }

        // Chunks: under the library's lock, rows first, then their files, before the commit
        // (a version committing after this one checks its chunks under the same lock).
        let txn = crate::db::begin_write(db).await?;
        lock_library(&txn).await?;
        let unused: Vec<(String, i64)> = content_chunks::Entity::find()
            .select_only()
            .column(content_chunks::Column::Sha256)
            .column(content_chunks::Column::SizeBytes)
            .filter(content_chunks::Column::TouchedAtMs.lt(now - grace_ms))
            .filter(sea_orm::sea_query::Expr::cust(
                "NOT EXISTS (SELECT 1 FROM content_version_chunks v WHERE v.sha256 = content_chunks.sha256)",
            ))
            .into_tuple()
            .all(&txn)
            .await?;
        let store = self.store();
        for batch in unused.chunks(BATCH) {
            content_chunks::Entity::delete_many()
                .filter(content_chunks::Column::Sha256.is_in(batch.iter().map(|(s, _)| s.clone())))
                .exec(&txn)
                .await?;
            for (sha, size) in batch {
                match std::fs::remove_file(store.chunk_path(sha)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
                report.chunks += 1;
                report.bytes += u64::try_from(*size).unwrap_or(0);
            }
        }
        if !unused.is_empty() {
            txn.execute_unprepared(
                "UPDATE content_library SET collect_epoch = collect_epoch + 1 WHERE id = 1",
            )
            .await?;
        }
        // Stray files: no row, older than the grace period (a version being written has
        // renamed its chunks into place but not committed yet: it is younger).
        let known: HashSet<String> = content_chunks::Entity::find()
            .select_only()
            .column(content_chunks::Column::Sha256)
            .into_tuple::<String>()
            .all(&txn)
            .await?
            .into_iter()
            .collect();
        let manifests: HashSet<String> = content_versions::Entity::find()
            .select_only()
            .column(content_versions::Column::ManifestSha256)
            .into_tuple::<String>()
            .all(&txn)
            .await?
            .into_iter()
            .collect();
        let cutoff = std::time::SystemTime::now()
            - std::time::Duration::from_millis(u64::try_from(grace_ms).unwrap_or(0));
        report.stray_files =
            tokio::task::spawn_blocking(move || remove_strays(&store, &known, &manifests, cutoff))
                .await
                .map_err(|e| Error::Internal(e.to_string()))??;
        txn.commit().await?;
        Ok(report)
    }
}

/// Queues a new version of `object`'s content if it is in the library (an object nobody
/// distributed has no content to update). Called by the object's owner inside the transaction
/// that changed it.
pub(crate) async fn note_changed(txn: &mut AuditedTxn, object: ContentObject) -> Result<()> {
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
                VERSION_JOB,
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

fn remove_strays(
    store: &ChunkStore,
    chunks: &HashSet<String>,
    manifests: &HashSet<String>,
    cutoff: std::time::SystemTime,
) -> Result<u64> {
    let mut removed = 0;
    let mut sweep = |dir: &std::path::Path, keep: &dyn Fn(&str) -> bool| -> Result<()> {
        let Ok(files) = std::fs::read_dir(dir) else {
            return Ok(());
        };
        for file in files.flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            let old = file
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < cutoff);
            if !keep(&name) && old && file.file_type().is_ok_and(|t| t.is_file()) {
                std::fs::remove_file(file.path())?;
                removed += 1;
            }
        }
        Ok(())
    };
    if let Ok(dirs) = std::fs::read_dir(store.chunks_dir()) {
        for dir in dirs.flatten() {
            sweep(&dir.path(), &|name| chunks.contains(name))?;
        }
    }
    sweep(&store.root().join("manifests"), &|name| {
        name.strip_suffix(".json")
            .is_some_and(|sha| manifests.contains(sha))
    })?;
    Ok(removed)
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
