//! WIM files uploaded from the browser.
//!
//! The browser announces a file (name, size), then sends it in chunks, each to
//! `PUT /api/uploads/<id>?offset=N`. The server accepts a chunk only at the offset it has
//! received up to, so a dropped connection, a reload or a server restart resumes where the
//! data stopped: the browser asks for the upload's state and goes on from there. Bytes are
//! hashed (SHA-256) as they arrive and synced to disk before they count as received. The first
//! bytes must be a WIM header, so a wrong file is refused at once rather than after gigabytes.
//!
//! Partial files live in `<data_dir>/uploads/.partial/<id>`; a complete one is renamed to
//! `<data_dir>/uploads/<user>/<name>`. Imports name it `upload:<id>`, and only its owner may
//! (the folder is no source root: see `sources`).
//! An import consumes the upload: a boot image or an extracted index is copied into the
//! catalog and the upload removed; an OS image used in place takes the file over (Wimdeck then
//! owns it, and deleting the image deletes it).

use std::{
    collections::HashMap,
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::store;
use crate::{
    Actor, Domain, Error, Result,
    audit::AuditedTxn,
    authz::{ObjectType, Operation},
    config::Config,
    db::entities::uploads,
};

/// Uploads larger than this are refused unless `images.upload_max_bytes` says otherwise.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 30;
/// Incomplete uploads untouched this long are removed at start-up.
const ABANDONED_AFTER_MS: i64 = 24 * 3600 * 1000;
/// File types the catalogs import — images, then driver packages (or a boot image's prestart
/// files), then boot image backgrounds — with the bytes each must start with and what the file
/// is called when they are missing.
const FILE_TYPES: [(&str, &[u8], &str); 9] = [
    ("wim", b"MSWIM\0\0\0", "a WIM file (no WIM header)"),
    ("swm", b"MSWIM\0\0\0", "a WIM file (no WIM header)"),
    ("esd", b"MSWIM\0\0\0", "a WIM file (no WIM header)"),
    ("zip", b"PK\x03\x04", "a zip archive"),
    ("cab", b"MSCF", "a cabinet (.cab) file"),
    ("png", b"\x89PNG\r\n\x1a\n", "a PNG picture"),
    ("jpg", b"\xFF\xD8\xFF", "a JPEG picture"),
    ("jpeg", b"\xFF\xD8\xFF", "a JPEG picture"),
    ("bmp", b"BM", "a BMP picture"),
];

/// The header a file named `name` must start with, and what such a file is called.
fn magic_for(name: &str) -> (&'static [u8], &'static str) {
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    FILE_TYPES
        .iter()
        .find(|(e, _, _)| extension.as_deref() == Some(*e))
        .map(|(_, magic, noun)| (*magic, *noun))
        .unwrap_or((FILE_TYPES[0].1, FILE_TYPES[0].2))
}

/// One upload, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub id: String,
    pub file_name: String,
    pub size_bytes: u64,
    pub received_bytes: u64,
    /// Set once complete: the SHA-256 computed while receiving.
    pub sha256: Option<String>,
    /// Where the file is once complete: the path to import it from.
    pub path: PathBuf,
    pub updated_at_ms: i64,
}

impl Upload {
    pub fn complete(&self) -> bool {
        self.sha256.is_some()
    }

    fn from_row(row: uploads::Model) -> Self {
        Self {
            id: row.id,
            file_name: row.file_name,
            size_bytes: u64::try_from(row.size_bytes).unwrap_or(0),
            received_bytes: u64::try_from(row.received_bytes).unwrap_or(0),
            sha256: row.sha256,
            path: PathBuf::from(row.path),
            updated_at_ms: row.updated_at_ms,
        }
    }
}

/// The hashing state of uploads being received by this process, so each chunk only hashes
/// its own bytes. After a restart the hash of what is on disk is computed again.
#[derive(Default)]
pub(crate) struct InFlight {
    receivers: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Hashing>>>>>,
}

struct Hashing {
    offset: u64,
    hasher: Sha256,
}

impl InFlight {
    fn slot(&self, id: &str) -> Arc<tokio::sync::Mutex<Option<Hashing>>> {
        let mut receivers = self
            .receivers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        receivers.entry(id.to_owned()).or_default().clone()
    }

    fn forget(&self, id: &str) {
        self.receivers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id);
    }
}

/// The folder uploads are kept in (never a source root: uploads are named by id).
pub fn uploads_dir(config: &Config) -> PathBuf {
    config.data_dir.join("uploads")
}

fn partial_path(config: &Config, id: &str) -> PathBuf {
    uploads_dir(config).join(".partial").join(id)
}

/// Each user's uploads are in a folder of their own, named after them when the name is safe
/// as a folder name.
fn user_dir(config: &Config, actor: &Actor) -> PathBuf {
    let plain = !actor.username.starts_with('.')
        && actor
            .username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    let name = if plain && !actor.username.is_empty() {
        actor.username.clone()
    } else {
        format!("user-{}", actor.user_id)
    };
    uploads_dir(config).join(name)
}

/// A file name as a browser sends it, checked: a plain name (no folders), a WIM extension.
fn check_file_name(name: &str) -> Result<String> {
    let name = name.trim();
    let invalid = |message: String| Error::invalid("file_name", message);
    if name.is_empty() || name.len() > 255 {
        return Err(invalid("give a file name of 1 to 255 bytes".into()));
    }
    if name.contains(['/', '\\']) || name.chars().any(char::is_control) {
        return Err(invalid(format!(
            "\"{}\" is not a plain file name (no folders or control characters)",
            name.escape_debug()
        )));
    }
    if name.starts_with('.') {
        return Err(invalid(format!("\"{name}\" must not start with a dot")));
    }
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    if !extension.is_some_and(|e| FILE_TYPES.iter().any(|(t, _, _)| *t == e)) {
        return Err(invalid(format!(
            "{name} is neither an image, a package nor a picture; upload a .wim, .swm or .esd file, a .zip or .cab file (drivers, prestart files), or a PNG, JPEG or BMP background"
        )));
    }
    Ok(name.to_owned())
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Uploads, for one user.
pub struct ActorUploads<'a> {
    domain: &'a Domain,
    actor: &'a Actor,
}

impl<'a> ActorUploads<'a> {
    pub(crate) fn new(domain: &'a Domain, actor: &'a Actor) -> Self {
        Self { domain, actor }
    }

    /// Uploads are sources of new images and driver packages: who may add one may upload.
    fn require_editor(&self) -> Result<()> {
        let may = [
            ObjectType::BootImage,
            ObjectType::OsImage,
            ObjectType::DriverPackage,
        ]
        .into_iter()
        .any(|object| self.actor.holds(object, Operation::Create));
        match may {
            true => Ok(()),
            false => Err(Error::forbidden(
                ObjectType::BootImage,
                Operation::Create,
                "upload files (it takes the right to add images or driver packages)",
            )),
        }
    }

    /// The largest upload accepted.
    pub fn max_bytes(&self) -> u64 {
        self.domain
            .config()
            .images
            .upload_max_bytes
            .unwrap_or(DEFAULT_MAX_BYTES)
    }

    /// Announces a file. An unfinished upload of the same name and size by the same user is
    /// resumed (returned with what it has received) rather than started again.
    pub async fn begin(&self, file_name: &str, size_bytes: u64) -> Result<Upload> {
        self.require_editor()?;
        let file_name = check_file_name(file_name)?;
        let max = self.max_bytes();
        if size_bytes == 0 {
            return Err(Error::invalid("size", format!("{file_name} is empty")));
        }
        if size_bytes > max {
            return Err(Error::invalid(
                "size",
                format!(
                    "{file_name} is {size_bytes} bytes; uploads are limited to {max} bytes (images.upload_max_bytes)"
                ),
            ));
        }
        let db = self.domain.db();
        let config = self.domain.config();
        let mine = uploads::Entity::find()
            .filter(uploads::Column::UserId.eq(self.actor.user_id))
            .filter(uploads::Column::FileName.eq(file_name.as_str()))
            .filter(uploads::Column::SizeBytes.eq(to_i64(size_bytes)))
            .filter(uploads::Column::CompletedAtMs.is_null())
            .one(db)
            .await?;
        if let Some(row) = mine
            && partial_path(config, &row.id).is_file()
        {
            return Ok(Upload::from_row(row));
        }
        let dir = user_dir(config, self.actor);
        std::fs::create_dir_all(&dir)?;
        // Canonical, as the import resolves it: the import finds the upload by its path.
        let path = dir.canonicalize()?.join(&file_name);
        // Checked again when the upload completes, where it counts.
        self.refuse_if_in_use(self.domain.db(), &path).await?;
        let partial_dir = uploads_dir(config).join(".partial");
        std::fs::create_dir_all(&partial_dir)?;
        let free = free_bytes(&partial_dir)?;
        if free < size_bytes {
            return Err(Error::invalid(
                "size",
                format!(
                    "{file_name} needs {size_bytes} bytes; {} has {free} free",
                    partial_dir.display()
                ),
            ));
        }
        let id = crate::accounts::random_token();
        std::fs::File::create_new(partial_path(config, &id))?;
        let now = self.domain.now_ms();
        let row = uploads::ActiveModel {
            id: Set(id),
            user_id: Set(self.actor.user_id),
            file_name: Set(file_name),
            size_bytes: Set(to_i64(size_bytes)),
            received_bytes: Set(0),
            sha256: Set(None),
            path: Set(path.display().to_string()),
            created_at_ms: Set(now),
            updated_at_ms: Set(now),
            completed_at_ms: Set(None),
        }
        .insert(db)
        .await?;
        Ok(Upload::from_row(row))
    }

    /// A catalog image made from an earlier upload of the same name still uses its file (read
    /// through `conn`: inside the transaction that replaces or removes the file, it is final).
    async fn refuse_if_in_use<C: ConnectionTrait>(&self, conn: &C, path: &Path) -> Result<()> {
        if store::image_uses(conn, &path.display().to_string()).await? {
            // Not named: the user may not be allowed to read that image.
            return Err(Error::Conflict(format!(
                "{} is the file of an image in the catalog; rename the file before uploading it again",
                path.display()
            )));
        }
        Ok(())
    }

    async fn own(&self, id: &str) -> Result<uploads::Model> {
        uploads::Entity::find_by_id(id.to_owned())
            .filter(uploads::Column::UserId.eq(self.actor.user_id))
            .one(self.domain.db())
            .await?
            .ok_or_else(|| Error::NotFound("upload".into()))
    }

    /// The state of one of the user's uploads.
    pub async fn get(&self, id: &str) -> Result<Upload> {
        self.require_editor()?;
        Ok(Upload::from_row(self.own(id).await?))
    }

    /// The user's uploads, newest first.
    pub async fn list(&self) -> Result<Vec<Upload>> {
        self.require_editor()?;
        let rows = uploads::Entity::find()
            .filter(uploads::Column::UserId.eq(self.actor.user_id))
            .order_by_desc(uploads::Column::UpdatedAtMs)
            .all(self.domain.db())
            .await?;
        Ok(rows.into_iter().map(Upload::from_row).collect())
    }

    /// Receives bytes `offset..` of an upload from `body`. `offset` must be what the server has
    /// received so far. What arrives is written, synced and counted even when the body ends
    /// early (a dropped connection), so the next chunk can start there. The last byte
    /// completes the upload.
    pub async fn receive(
        &self,
        id: &str,
        offset: u64,
        mut body: impl AsyncRead + Unpin + Send,
    ) -> Result<Upload> {
        self.require_editor()?;
        let row = self.own(id).await?;
        if row.completed_at_ms.is_some() {
            return Err(Error::Conflict(format!(
                "{} is already complete",
                row.file_name
            )));
        }
        let config = self.domain.config();
        let inflight = self.domain.upload_receivers();
        let slot = inflight.slot(id);
        let Ok(mut hashing) = slot.try_lock() else {
            return Err(Error::Conflict(format!(
                "{} is being received on another connection",
                row.file_name
            )));
        };
        // Read again under the lock: another request may have moved it on.
        let row = self.own(id).await?;
        let received = u64::try_from(row.received_bytes).unwrap_or(0);
        let size = u64::try_from(row.size_bytes).unwrap_or(0);
        if offset != received {
            return Err(Error::Conflict(format!(
                "offset {offset} does not follow the {received} bytes received so far"
            )));
        }
        let partial = partial_path(config, id);
        let (mut file, mut hasher) = {
            let partial = partial.clone();
            let resume = hashing.take().filter(|h| h.offset == received);
            let (file, hasher) =
                tokio::task::spawn_blocking(move || open_at(&partial, received, resume))
                    .await
                    .map_err(|e| Error::Internal(format!("receiving stopped: {e}")))??;
            (tokio::fs::File::from_std(file), hasher)
        };
        let mut position = received;
        let mut buffer = vec![0u8; 1 << 20];
        let mut failure = None;
        loop {
            let n = match body.read(&mut buffer).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    failure = Some(Error::Conflict(format!(
                        "the connection dropped after {position} bytes ({e}); send the rest"
                    )));
                    break;
                }
            };
            let chunk = &buffer[..n];
            if position + n as u64 > size {
                failure = Some(Error::invalid(
                    "body",
                    format!(
                        "more data than the {size} bytes announced for {}",
                        row.file_name
                    ),
                ));
                break;
            }
            let (expected, noun) = magic_for(&row.file_name);
            if position < expected.len() as u64 {
                let start = usize::try_from(position).unwrap_or(expected.len());
                let magic = &expected[start..];
                let head = &chunk[..chunk.len().min(magic.len())];
                if head != &magic[..head.len()] {
                    drop(file);
                    self.remove(id, &partial).await?;
                    return Err(Error::invalid(
                        "body",
                        format!("{} is not {noun}; nothing was kept", row.file_name),
                    ));
                }
            }
            file.write_all(chunk).await?;
            hasher.update(chunk);
            position += n as u64;
        }
        file.sync_data().await?;
        drop(file);
        let now = self.domain.now_ms();
        let mut active = row.clone().into_active_model();
        active.received_bytes = Set(to_i64(position));
        active.updated_at_ms = Set(now);
        if position == size && failure.is_none() {
            let sha256 = hex::encode(hasher.finalize());
            let target = PathBuf::from(&row.path);
            // Serialized with the catalog's writes (an audited transaction, as theirs are): an
            // import that takes the earlier upload's file either committed (and the file is
            // refused here) or finds that upload used up.
            let txn = AuditedTxn::begin(self.domain).await?;
            self.refuse_if_in_use(txn.conn(), &target).await?;
            active.sha256 = Set(Some(sha256));
            active.completed_at_ms = Set(Some(now));
            let row = active.update(txn.conn()).await?;
            // An earlier upload of the same name had that file: it is replaced now.
            uploads::Entity::delete_many()
                .filter(uploads::Column::Path.eq(row.path.as_str()))
                .filter(uploads::Column::Id.ne(row.id.as_str()))
                .filter(uploads::Column::CompletedAtMs.is_not_null())
                .exec(txn.conn())
                .await?;
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::rename(&partial, &target)?;
            if let Some(dir) = target.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            txn.commit().await?;
            drop(hashing);
            inflight.forget(id);
            return Ok(Upload::from_row(row));
        }
        *hashing = Some(Hashing {
            offset: position,
            hasher,
        });
        let row = active.update(self.domain.db()).await?;
        match failure {
            Some(e) => Err(e),
            None => Ok(Upload::from_row(row)),
        }
    }

    /// Removes one of the user's uploads, finished or not (a finished one's file only if no
    /// image uses it).
    pub async fn discard(&self, id: &str) -> Result<()> {
        self.require_editor()?;
        let row = self.own(id).await?;
        if row.completed_at_ms.is_none() {
            return self
                .remove(id, &partial_path(self.domain.config(), id))
                .await;
        }
        // In one transaction with the catalog's writes: an import of this upload either
        // committed first (its file is refused here) or finds the upload gone.
        let mut txn = AuditedTxn::begin(self.domain).await?;
        let path = PathBuf::from(&row.path);
        self.refuse_if_in_use(txn.conn(), &path).await?;
        // Only while it is still the complete upload read above: a new upload of the same
        // name may have replaced it (and its file) meanwhile.
        let gone = uploads::Entity::delete_many()
            .filter(uploads::Column::Id.eq(id))
            .filter(uploads::Column::UserId.eq(self.actor.user_id))
            .filter(uploads::Column::CompletedAtMs.is_not_null())
            .exec(txn.conn())
            .await?;
        if gone.rows_affected != 1 {
            return Err(Error::NotFound("upload".into()));
        }
        txn.release(std::slice::from_ref(&path)).await?;
        txn.commit().await?;
        self.domain.upload_receivers().forget(id);
        Ok(())
    }

    async fn remove(&self, id: &str, file: &Path) -> Result<()> {
        uploads::Entity::delete_by_id(id.to_owned())
            .exec(self.domain.db())
            .await?;
        self.domain.upload_receivers().forget(id);
        remove_if_present(file)
    }
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// Opens a partial file to append at `received` (dropping anything past it that was never
/// counted), with the hash of the bytes before it: carried over, or read again from disk.
fn open_at(path: &Path, received: u64, resume: Option<Hashing>) -> Result<(std::fs::File, Sha256)> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Error::Conflict("the partial file is gone; start the upload again".into())
            }
            _ => e.into(),
        })?;
    if file.metadata()?.len() < received {
        return Err(Error::Conflict(
            "the partial file is shorter than recorded; start the upload again".into(),
        ));
    }
    file.set_len(received)?;
    let hasher = match resume {
        Some(h) => h.hasher,
        None => {
            let mut hasher = Sha256::new();
            let mut buffer = vec![0u8; 1 << 20];
            file.seek(SeekFrom::Start(0))?;
            loop {
                let n = file.read(&mut buffer)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buffer[..n]);
            }
            hasher
        }
    };
    file.seek(SeekFrom::Start(received))?;
    Ok((file, hasher))
}

fn free_bytes(dir: &Path) -> Result<u64> {
    let stats = rustix::fs::statvfs(dir).map_err(std::io::Error::from)?;
    Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
}

/// `owner`'s complete upload `id`, if there is one.
pub(crate) async fn find_own_complete(
    domain: &Domain,
    owner: i64,
    id: &str,
) -> Result<Option<Upload>> {
    Ok(uploads::Entity::find_by_id(id.to_owned())
        .filter(uploads::Column::UserId.eq(owner))
        .filter(uploads::Column::CompletedAtMs.is_not_null())
        .one(domain.db())
        .await?
        .map(Upload::from_row))
}

/// Whether `path` is a complete upload: its row, if so.
pub(crate) async fn find_complete<C: ConnectionTrait>(
    db: &C,
    path: &Path,
) -> Result<Option<uploads::Model>> {
    Ok(uploads::Entity::find()
        .filter(uploads::Column::Path.eq(path.display().to_string()))
        .filter(uploads::Column::CompletedAtMs.is_not_null())
        .one(db)
        .await?)
}

/// An import used the upload: forget it (in the import's transaction). The caller removes the
/// file afterwards unless the catalog took it over.
pub(crate) async fn consume<C: ConnectionTrait>(db: &C, id: &str) -> Result<()> {
    let gone = uploads::Entity::delete_by_id(id.to_owned())
        .exec(db)
        .await?;
    // Two imports of one upload: the second finds it used up, and must not take (or remove)
    // the file the first one's row now holds.
    if gone.rows_affected != 1 {
        return Err(Error::Conflict(
            "the upload was used up by another import meanwhile; upload the file again".into(),
        ));
    }
    Ok(())
}

/// Removes incomplete uploads nobody has sent to for a day, and partial files without a row.
/// Run at start-up.
pub(crate) async fn sweep(domain: &Domain) -> Result<Vec<PathBuf>> {
    let db = domain.db();
    let config = domain.config();
    let mut removed = Vec::new();
    let stale = uploads::Entity::find()
        .filter(uploads::Column::CompletedAtMs.is_null())
        .filter(uploads::Column::UpdatedAtMs.lt(domain.now_ms() - ABANDONED_AFTER_MS))
        .all(db)
        .await?;
    for row in stale {
        uploads::Entity::delete_by_id(row.id.clone())
            .exec(db)
            .await?;
        let path = partial_path(config, &row.id);
        remove_if_present(&path)?;
        removed.push(path);
    }
    if let Ok(entries) = std::fs::read_dir(uploads_dir(config).join(".partial")) {
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if uploads::Entity::find_by_id(id).one(db).await?.is_none() {
                remove_if_present(&entry.path())?;
                removed.push(entry.path());
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_plain_wim_names() {
        assert_eq!(check_file_name(" boot.wim ").expect("ok"), "boot.wim");
        assert!(check_file_name("install2.SWM").is_ok());
        assert!(check_file_name("Intel LAN.zip").is_ok());
        assert!(check_file_name("storage.CAB").is_ok());
        for bad in [
            "",
            "../boot.wim",
            r"..\boot.wim",
            "sub/boot.wim",
            ".hidden.wim",
            "boot.wim\u{0}",
            "line\nbreak.wim",
            "notes.txt",
            "wim",
        ] {
            assert!(check_file_name(bad).is_err(), "{bad:?}");
        }
    }
}
