//! Where catalog files live, and how files being written for the catalog are tracked.
//!
//! Wimdeck's own image files live in its image store (`<data_dir>/images/boot`,
//! `<data_dir>/images/os`); an extracted OS image index is written next to its source. Before a
//! job writes such a file it records the final path in `pending_outputs`; the transaction that
//! adds the catalog row removes the record. A record left behind means the writer never
//! committed (it failed, or the server died): [`sweep`] then removes the file — unless a
//! catalog row uses it — and the temporary files ([`crate::fsx::TempOutput`]) beside it.

use std::{
    fs,
    path::{Path, PathBuf},
};

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::ImageKind;
use crate::{
    Domain, Result,
    db::entities::{held_files, images, jobs, pending_outputs},
    jobs::JobState,
};

/// The directory Wimdeck keeps its own image files of a kind in.
pub fn store_dir(domain: &Domain, kind: ImageKind) -> PathBuf {
    domain.config().data_dir.join("images").join(kind.as_str())
}

/// A fresh, unused file name in the store: `<slug>-<random>.wim`.
pub fn new_store_path(domain: &Domain, kind: ImageKind, name: &str) -> Result<PathBuf> {
    let dir = store_dir(domain, kind);
    fs::create_dir_all(&dir)?;
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let slug = if slug.is_empty() {
        "image".to_owned()
    } else {
        slug.chars().take(48).collect()
    };
    let suffix: String = crate::accounts::random_token()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    Ok(dir.join(format!("{slug}-{suffix}.wim")))
}

/// Records that `path` is about to be written (by `job_id`) or is about to be removed
/// (`None`). Returns the record's id.
pub(crate) async fn record_pending<C: ConnectionTrait>(
    db: &C,
    path: &Path,
    job_id: Option<i64>,
    now_ms: i64,
) -> Result<i64> {
    let row = pending_outputs::ActiveModel {
        path: Set(path.display().to_string()),
        job_id: Set(job_id),
        created_at_ms: Set(now_ms),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(row.id)
}

/// The file is now the catalog's: forget the record (in the transaction adding the row).
pub(crate) async fn settle<C: ConnectionTrait>(db: &C, id: i64) -> Result<()> {
    pending_outputs::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

/// Removes the file (and any temporary file beside it), then the record.
pub(crate) async fn discard<C: ConnectionTrait>(db: &C, id: i64, path: &Path) -> Result<()> {
    remove_with_temps(path)?;
    settle(db, id).await
}

/// Removes `path` and the `.<name>.wimdeck-tmp-*` files next to it; a missing file is fine.
pub(crate) fn remove_with_temps(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(());
    };
    let prefix = format!(".{}.wimdeck-tmp-", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Whether a job is queued or running.
pub(crate) async fn job_active<C: ConnectionTrait>(db: &C, job_id: i64) -> Result<bool> {
    let job = jobs::Entity::find_by_id(job_id).one(db).await?;
    Ok(job.is_some_and(|j| {
        j.state == JobState::Queued.as_str() || j.state == JobState::Running.as_str()
    }))
}

/// What a sweep removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Files written by jobs that never committed, or left by a delete.
    pub abandoned_files: Vec<PathBuf>,
    /// Temporary files in the image store and working directory.
    pub temporary_files: Vec<PathBuf>,
    /// Partial files of uploads abandoned for a day.
    pub abandoned_uploads: Vec<PathBuf>,
}

/// Cleans up after a crash: abandoned outputs of jobs that are no longer running, and
/// temporary files in the store and working directory. Run at start-up, before the runner.
pub async fn sweep(domain: &Domain) -> Result<SweepReport> {
    let db = domain.db();
    let mut report = SweepReport::default();
    for record in pending_outputs::Entity::find().all(db).await? {
        if let Some(job_id) = record.job_id
            && job_active(db, job_id).await?
        {
            continue;
        }
        let in_use = in_use(db, &record.path).await?;
        let path = PathBuf::from(&record.path);
        if in_use {
            settle(db, record.id).await?;
        } else {
            discard(db, record.id, &path).await?;
            report.abandoned_files.push(path);
        }
    }
    let dirs = [
        store_dir(domain, ImageKind::Boot),
        store_dir(domain, ImageKind::Os),
        domain.config().work_dir(),
    ];
    for dir in dirs {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.contains(crate::fsx::TEMP_MARK) {
                continue;
            }
            // A job still queued or running (in another process, or about to resume) keeps
            // its temporary files.
            if let Some(job_id) = crate::fsx::temp_file_job(&name)
                && job_active(db, job_id).await?
            {
                continue;
            }
            fs::remove_file(entry.path())?;
            report.temporary_files.push(entry.path());
        }
    }
    report.abandoned_uploads = super::uploads::sweep(domain).await?;
    Ok(report)
}

/// A file a committed change stopped using, recorded for removal.
#[derive(Debug)]
pub(crate) struct Released {
    record: i64,
    path: PathBuf,
}

/// The one way a catalog file is let go (a deleted image, a replaced revision), inside the
/// transaction that stops referencing it: each path that no row references any more, as seen
/// after the change, is recorded for removal; a path another row still uses is kept. The files
/// go after the commit ([`discard_released`]); if the server stops first, the sweep removes
/// them (it too removes only what no row uses).
pub(crate) async fn release_files<C: ConnectionTrait>(
    conn: &C,
    paths: &[PathBuf],
    now_ms: i64,
) -> Result<Vec<Released>> {
    let mut released = Vec::new();
    for path in paths {
        if released.iter().any(|r: &Released| &r.path == path)
            || in_use(conn, &path.display().to_string()).await?
        {
            continue;
        }
        let record = record_pending(conn, path, None, now_ms).await?;
        released.push(Released {
            record,
            path: path.clone(),
        });
    }
    Ok(released)
}

/// Removes released files once their change committed. Failures are logged, not returned: the
/// change has committed, and the sweep retries.
pub(crate) async fn discard_released(domain: &Domain, released: Vec<Released>) {
    for Released { record, path } in released {
        if let Err(e) = discard(domain.db(), record, &path).await {
            tracing::warn!("removing the unused file {} failed: {e}", path.display());
        }
    }
}

/// Whether an image's file is `path`, or an image holds it (a boot image's base or kept
/// revision).
pub(crate) async fn image_uses<C: ConnectionTrait>(db: &C, path: &str) -> Result<bool> {
    let file = images::Entity::find()
        .filter(images::Column::FilePath.eq(path))
        .one(db)
        .await?
        .is_some();
    Ok(file
        || held_files::Entity::find()
            .filter(held_files::Column::Path.eq(path))
            .one(db)
            .await?
            .is_some())
}

/// The files image `image_id` holds besides its file.
pub(crate) async fn held_by<C: ConnectionTrait>(db: &C, image_id: i64) -> Result<Vec<PathBuf>> {
    Ok(held_files::Entity::find()
        .filter(held_files::Column::ImageId.eq(image_id))
        .all(db)
        .await?
        .into_iter()
        .map(|h| PathBuf::from(h.path))
        .collect())
}

/// Makes image `image_id` hold exactly `paths` besides its file, inside `txn`; the files it
/// stops holding are released (removed after the commit unless something else needs them).
pub(crate) async fn hold_exactly(
    txn: &mut crate::audit::AuditedTxn,
    image_id: i64,
    paths: &std::collections::BTreeSet<PathBuf>,
) -> Result<()> {
    let before: std::collections::BTreeSet<PathBuf> =
        held_by(txn.conn(), image_id).await?.into_iter().collect();
    for gone in before.difference(paths) {
        held_files::Entity::delete_many()
            .filter(held_files::Column::ImageId.eq(image_id))
            .filter(held_files::Column::Path.eq(gone.display().to_string()))
            .exec(txn.conn())
            .await?;
    }
    for new in paths.difference(&before) {
        held_files::Entity::insert(held_files::ActiveModel {
            image_id: Set(image_id),
            path: Set(new.display().to_string()),
        })
        .exec_without_returning(txn.conn())
        .await?;
    }
    let released: Vec<PathBuf> = before.difference(paths).cloned().collect();
    txn.release(&released).await
}

/// Whether a row still needs the file at `path`: an image (its file or base), or a complete
/// upload, whose file is its owner's until it is used up or discarded.
pub(crate) async fn in_use<C: ConnectionTrait>(db: &C, path: &str) -> Result<bool> {
    if image_uses(db, path).await? {
        return Ok(true);
    }
    let upload = crate::db::entities::uploads::Entity::find()
        .filter(crate::db::entities::uploads::Column::Path.eq(path))
        .filter(crate::db::entities::uploads::Column::CompletedAtMs.is_not_null())
        .one(db)
        .await?;
    Ok(upload.is_some())
}

/// Removes what a previous attempt of the same job left (before a retry starts over).
pub(crate) async fn discard_job_outputs(domain: &Domain, job_id: i64) -> Result<()> {
    let db = domain.db();
    let records = pending_outputs::Entity::find()
        .filter(pending_outputs::Column::JobId.eq(job_id))
        .all(db)
        .await?;
    for record in records {
        if in_use(db, &record.path).await? {
            settle(db, record.id).await?;
        } else {
            discard(db, record.id, Path::new(&record.path)).await?;
        }
    }
    Ok(())
}
