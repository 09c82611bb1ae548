//! Revisions: every build of a boot image, kept with what it was built from. The newest
//! `images.boot_revisions_kept` keep their files (the current one always does); older ones
//! stay in the list with their recipe. Two revisions compare by recipe and, while both have
//! their files, by the files in them (from the WIMs' own metadata and stream hashes, without
//! extracting anything). A rollback makes an earlier revision current again, as a new
//! revision.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    sea_query::Expr,
};
use serde::Serialize;

use super::recipe::{self, Recipe};
use crate::{
    Error, Result,
    audit::AuditedTxn,
    catalog::{CatalogImage, store},
    db::entities::{boot_images, boot_revisions},
    wim::{FileEntry, WimInspection},
};

/// One build of a boot image.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    pub number: i32,
    /// `None` once removed (only the newest revisions keep their files).
    pub file_path: Option<PathBuf>,
    pub sha256: String,
    pub size_bytes: u64,
    pub recipe: Recipe,
    pub base_path: PathBuf,
    pub base_sha256: String,
    pub reason: String,
    pub created_by: String,
    pub created_at_ms: i64,
    pub job_id: Option<i64>,
    pub metadata: WimInspection,
}

impl Revision {
    /// Revision 1 of a boot image that was imported and never built: its file, as it is.
    pub(crate) fn initial(image: &CatalogImage) -> Self {
        Self {
            number: 1,
            file_path: Some(image.file_path.clone()),
            sha256: image.sha256.clone(),
            size_bytes: image.file_bytes,
            recipe: Recipe::default(),
            base_path: image.file_path.clone(),
            base_sha256: image.sha256.clone(),
            reason: format!("Imported from {}", image.source_path),
            created_by: image.created_by.clone(),
            created_at_ms: image.created_at_ms,
            job_id: None,
            metadata: image.inspection.clone(),
        }
    }

    fn from_row(row: boot_revisions::Model) -> Result<Self> {
        let metadata = super::inspection_of(&row)?;
        Ok(Self {
            number: row.number,
            file_path: row.file_path.map(PathBuf::from),
            sha256: row.sha256,
            size_bytes: u64::try_from(row.size_bytes).unwrap_or(0),
            recipe: serde_json::from_str::<Recipe>(&row.recipe)
                .map_err(|e| Error::Internal(format!("a revision's recipe: {e}")))?
                .canonical(),
            base_path: PathBuf::from(row.base_path),
            base_sha256: row.base_sha256,
            reason: row.reason,
            created_by: row.created_by,
            created_at_ms: row.created_at_ms,
            job_id: row.job_id,
            metadata,
        })
    }
}

pub(crate) async fn insert<C: ConnectionTrait>(
    conn: &C,
    image_id: i64,
    revision: &Revision,
) -> Result<()> {
    boot_revisions::ActiveModel {
        image_id: Set(image_id),
        number: Set(revision.number),
        file_path: Set(revision.file_path.as_ref().map(|p| p.display().to_string())),
        sha256: Set(revision.sha256.clone()),
        size_bytes: Set(i64::try_from(revision.size_bytes).unwrap_or(i64::MAX)),
        recipe: Set(to_json(&revision.recipe)?),
        base_path: Set(revision.base_path.display().to_string()),
        base_sha256: Set(revision.base_sha256.clone()),
        metadata: Set(to_json(&revision.metadata)?),
        reason: Set(revision.reason.clone()),
        created_by: Set(revision.created_by.clone()),
        created_at_ms: Set(revision.created_at_ms),
        job_id: Set(revision.job_id),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(e.to_string()))
}

/// The revisions of `image`, newest first (revision 1 as it is implied, if never built).
pub(crate) async fn list<C: ConnectionTrait>(
    conn: &C,
    image: &CatalogImage,
) -> Result<Vec<Revision>> {
    let rows = boot_revisions::Entity::find()
        .filter(boot_revisions::Column::ImageId.eq(image.id))
        .order_by_desc(boot_revisions::Column::Number)
        .all(conn)
        .await?;
    if rows.is_empty() {
        return Ok(vec![Revision::initial(image)]);
    }
    rows.into_iter().map(Revision::from_row).collect()
}

/// Revision `number` of `image`.
pub(crate) async fn get<C: ConnectionTrait>(
    conn: &C,
    image: &CatalogImage,
    number: i32,
) -> Result<Revision> {
    list(conn, image)
        .await?
        .into_iter()
        .find(|r| r.number == number)
        .ok_or_else(|| Error::NotFound(format!("revision {number} of \"{}\"", image.name)))
}

/// After a new revision became current: the newest `kept` revisions keep their files, older
/// ones lose them, and the image holds exactly the current base and the kept revisions'
/// files and bases (what it stops holding is released).
pub(crate) async fn keep_newest(
    txn: &mut AuditedTxn,
    image_id: i64,
    base_path: &std::path::Path,
    kept: usize,
) -> Result<()> {
    let rows = boot_revisions::Entity::find()
        .filter(boot_revisions::Column::ImageId.eq(image_id))
        .order_by_desc(boot_revisions::Column::Number)
        .all(txn.conn())
        .await?;
    let mut holds = BTreeSet::from([base_path.to_path_buf()]);
    let (kept_rows, older) = rows.split_at(kept.max(1).min(rows.len()));
    for row in kept_rows {
        if let Some(file) = &row.file_path {
            holds.insert(PathBuf::from(file));
            holds.insert(PathBuf::from(&row.base_path));
        }
    }
    for row in older {
        // A file a kept revision also has (a rollback's) stays available to this one too.
        let still_held = row
            .file_path
            .as_ref()
            .is_some_and(|file| holds.contains(&PathBuf::from(file)));
        if row.file_path.is_some() && !still_held {
            boot_revisions::Entity::update_many()
                .col_expr(
                    boot_revisions::Column::FilePath,
                    Expr::value(None::<String>),
                )
                .filter(boot_revisions::Column::Id.eq(row.id))
                .exec(txn.conn())
                .await?;
        }
    }
    store::hold_exactly(txn, image_id, &holds).await
}

/// The next revision number of an image, read in `conn`'s transaction.
pub(crate) async fn next_number<C: ConnectionTrait>(conn: &C, image_id: i64) -> Result<i32> {
    let newest = boot_revisions::Entity::find()
        .filter(boot_revisions::Column::ImageId.eq(image_id))
        .order_by_desc(boot_revisions::Column::Number)
        .one(conn)
        .await?;
    Ok(newest.map_or(1, |r| r.number) + 1)
}

/// Records the new current revision on the boot image's row.
pub(crate) async fn make_current<C: ConnectionTrait>(
    conn: &C,
    image_id: i64,
    number: i32,
) -> Result<()> {
    boot_images::Entity::update_many()
        .col_expr(boot_images::Column::CurrentRevision, Expr::value(number))
        .filter(boot_images::Column::ImageId.eq(image_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// How a file differs between two revisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileDelta {
    Added,
    Removed,
    Changed,
}

/// One file that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDiff {
    pub path: String,
    pub delta: FileDelta,
    /// Its size before and after (`None` where it does not exist).
    pub before: Option<u64>,
    pub after: Option<u64>,
}

/// Two revisions compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevisionDiff {
    pub from: i32,
    pub to: i32,
    /// Recipe changes, as sentences (the base's change first, when it changed).
    pub recipe: Vec<String>,
    /// File changes, in path order; `None` when a revision's file is gone.
    pub files: Option<Vec<FileDiff>>,
    /// Why `files` is `None`.
    pub files_unavailable: Option<String>,
}

/// Files that differ between two listings (folders only when added or removed).
pub fn compare_files(before: &[FileEntry], after: &[FileEntry]) -> Vec<FileDiff> {
    let old: BTreeMap<String, &FileEntry> = before
        .iter()
        .map(|f| (f.path.to_ascii_lowercase(), f))
        .collect();
    let new: BTreeMap<String, &FileEntry> = after
        .iter()
        .map(|f| (f.path.to_ascii_lowercase(), f))
        .collect();
    let size = |f: &FileEntry| (!f.is_dir).then_some(f.size);
    let mut out = Vec::new();
    for (key, a) in &new {
        match old.get(key) {
            None => out.push(FileDiff {
                path: a.path.clone(),
                delta: FileDelta::Added,
                before: None,
                after: size(a),
            }),
            Some(b) if !a.is_dir && (a.sha1 != b.sha1 || a.is_dir != b.is_dir) => {
                out.push(FileDiff {
                    path: a.path.clone(),
                    delta: FileDelta::Changed,
                    before: size(b),
                    after: size(a),
                })
            }
            Some(_) => {}
        }
    }
    for (key, b) in &old {
        if !new.contains_key(key) {
            out.push(FileDiff {
                path: b.path.clone(),
                delta: FileDelta::Removed,
                before: size(b),
                after: None,
            });
        }
    }
    out.sort_by(|a, b| {
        a.path
            .to_ascii_lowercase()
            .cmp(&b.path.to_ascii_lowercase())
    });
    out
}

/// The recipe part of a diff: the base's change, then the recipe's.
pub fn recipe_changes(from: &Revision, to: &Revision) -> Vec<String> {
    let mut out = Vec::new();
    if from.base_path != to.base_path {
        let version = |r: &Revision| {
            r.metadata
                .images
                .first()
                .and_then(|i| i.version)
                .map(|v| v.to_string())
                .unwrap_or_else(|| "an unknown version".into())
        };
        out.push(format!(
            "Base: Windows PE {} → Windows PE {} (the source was read again)",
            version(from),
            version(to)
        ));
    }
    out.extend(recipe::changes(&from.recipe, &to.recipe));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64, sha1: &str) -> FileEntry {
        FileEntry {
            path: path.into(),
            is_dir: false,
            size,
            sha1: sha1.into(),
        }
    }

    #[test]
    fn files_are_compared_by_content_ignoring_case() {
        let before = vec![
            file("/Windows/System32/config/SYSTEM", 10, "aa"),
            file("/Unattend.xml", 5, "bb"),
            file("/Windows/old.txt", 1, "cc"),
        ];
        let after = vec![
            file("/WINDOWS/System32/config/SYSTEM", 12, "ab"),
            file("/Unattend.xml", 5, "bb"),
            file("/Windows/Wimdeck/Drivers/e1d/e1d.inf", 3, "dd"),
        ];
        let diff = compare_files(&before, &after);
        let summary: Vec<(&str, &FileDelta)> =
            diff.iter().map(|d| (d.path.as_str(), &d.delta)).collect();
        assert_eq!(
            summary,
            vec![
                ("/Windows/old.txt", &FileDelta::Removed),
                ("/WINDOWS/System32/config/SYSTEM", &FileDelta::Changed),
                ("/Windows/Wimdeck/Drivers/e1d/e1d.inf", &FileDelta::Added),
            ]
        );
        assert_eq!((diff[1].before, diff[1].after), (Some(10), Some(12)));
    }
}
