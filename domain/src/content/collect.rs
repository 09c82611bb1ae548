//! Collection: versions no DP needs, then chunks no version uses, then files a crash left,
//! each taken under the library's lock in short transactions that look again, so a version
//! committing meanwhile keeps everything it names.

use std::collections::{HashMap, HashSet};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::{BATCH, ChunkStore, Collected, ContentLibrary, lock_library};
use crate::{
    Error, Result,
    db::entities::{content_chunks, content_versions},
};

impl ContentLibrary<'_> {
    /// Removes what nothing needs: versions older than their content's newest that are not in
    /// `keep` (versions DPs hold or are being sent), then chunks no version uses whose row is
    /// older than `grace_ms`, then files of the store without a row and temporary files older
    /// than `grace_ms` (left by a crash).
    pub async fn collect(&self, keep: &HashSet<i64>, grace_ms: i64) -> Result<Collected> {
        let db = self.domain.db();
        let mut report = Collected::default();
        let now = self.domain.now_ms();

        // Versions: all but each content's newest, unless kept (a version a DP holds or is
        // getting is also protected by its foreign key).
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

        // Chunks no version uses, found without the lock, then taken under it in short
        // transactions that look again: a version committing meanwhile keeps what it uses.
        let unused: Vec<String> = content_chunks::Entity::find()
            .select_only()
            .column(content_chunks::Column::Sha256)
            .filter(content_chunks::Column::TouchedAtMs.lt(now - grace_ms))
            .filter(unused_chunk())
            .into_tuple()
            .all(db)
            .await?;
        let store = self.store();
        for batch in unused.chunks(BATCH) {
            let txn = crate::db::begin_write(db).await?;
            lock_library(&txn).await?;
            let still: Vec<(String, i64)> = content_chunks::Entity::find()
                .select_only()
                .column(content_chunks::Column::Sha256)
                .column(content_chunks::Column::SizeBytes)
                .filter(content_chunks::Column::Sha256.is_in(batch.to_vec()))
                .filter(content_chunks::Column::TouchedAtMs.lt(now - grace_ms))
                .filter(unused_chunk())
                .into_tuple()
                .all(&txn)
                .await?;
            content_chunks::Entity::delete_many()
                .filter(content_chunks::Column::Sha256.is_in(still.iter().map(|(s, _)| s.clone())))
                .exec(&txn)
                .await?;
            let files = store.clone();
            let gone = still.clone();
            blocking(move || {
                for (sha, _) in &gone {
                    files.remove_chunk(sha)?;
                }
                Ok(())
            })
            .await?;
            txn.commit().await?;
            report.chunks += still.len() as u64;
            report.bytes += still
                .iter()
                .map(|(_, size)| u64::try_from(*size).unwrap_or(0))
                .sum::<u64>();
        }

        // Files without a row (left by a crash) and stale temporary files, older than the
        // grace period (a version being written is younger), each looked at again under the
        // lock before it goes.
        let cutoff = std::time::SystemTime::now()
            - std::time::Duration::from_millis(u64::try_from(grace_ms).unwrap_or(0));
        let candidates = {
            let store = store.clone();
            blocking(move || Ok(old_files(&store, cutoff))).await?
        };
        for batch in candidates.chunks(BATCH) {
            let txn = crate::db::begin_write(db).await?;
            lock_library(&txn).await?;
            let names: Vec<String> = batch.iter().map(|c| c.name.clone()).collect();
            let chunks: HashSet<String> = content_chunks::Entity::find()
                .select_only()
                .column(content_chunks::Column::Sha256)
                .filter(content_chunks::Column::Sha256.is_in(names.clone()))
                .into_tuple::<String>()
                .all(&txn)
                .await?
                .into_iter()
                .collect();
            let manifests: HashSet<String> = content_versions::Entity::find()
                .select_only()
                .column(content_versions::Column::ManifestSha256)
                .filter(
                    content_versions::Column::ManifestSha256.is_in(
                        names
                            .iter()
                            .filter_map(|n| n.strip_suffix(".json").map(str::to_owned)),
                    ),
                )
                .into_tuple::<String>()
                .all(&txn)
                .await?
                .into_iter()
                .collect();
            let doomed: Vec<std::path::PathBuf> = batch
                .iter()
                .filter(|c| match c.name.strip_suffix(".json") {
                    Some(sha) => !manifests.contains(sha),
                    None => !chunks.contains(&c.name),
                })
                .map(|c| c.path.clone())
                .collect();
            report.stray_files += doomed.len() as u64;
            blocking(move || {
                for path in &doomed {
                    // Still old: a version being written touches what it reuses.
                    let old = std::fs::metadata(path)
                        .and_then(|m| m.modified())
                        .is_ok_and(|t| t < cutoff);
                    if old {
                        match std::fs::remove_file(path) {
                            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                                return Err(e.into());
                            }
                            _ => {}
                        }
                    }
                }
                Ok(())
            })
            .await?;
            txn.commit().await?;
        }
        Ok(report)
    }
}

/// `NOT EXISTS` a version that uses the chunk.
fn unused_chunk() -> sea_orm::sea_query::SimpleExpr {
    sea_orm::sea_query::Expr::cust(
        "NOT EXISTS (SELECT 1 FROM content_version_chunks v WHERE v.sha256 = content_chunks.sha256)",
    )
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(format!("the content library's work stopped: {e}")))?
}

/// A file of the store that may be a stray.
struct Candidate {
    name: String,
    path: std::path::PathBuf,
}

/// Files of the store (chunks, temporary files, manifests) last changed before `cutoff`.
fn old_files(store: &ChunkStore, cutoff: std::time::SystemTime) -> Vec<Candidate> {
    let mut out = Vec::new();
    let mut scan = |dir: &std::path::Path| {
        let Ok(files) = std::fs::read_dir(dir) else {
            return;
        };
        for file in files.flatten() {
            let old = file
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < cutoff);
            if old && file.file_type().is_ok_and(|t| t.is_file()) {
                out.push(Candidate {
                    name: file.file_name().to_string_lossy().into_owned(),
                    path: file.path(),
                });
            }
        }
    };
    if let Ok(dirs) = std::fs::read_dir(store.chunks_dir()) {
        for dir in dirs.flatten() {
            scan(&dir.path());
        }
    }
    scan(&store.root().join("manifests"));
    out
}
