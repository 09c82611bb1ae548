//! The image catalog: boot images (Windows PE) and OS images, each a row describing a WIM file
//! read with the engine in [`crate::wim`].
//!
//! [`Catalog`] is the service; users reach it through [`crate::ActorDomain::catalog`]
//! ([`ActorCatalog`]), which checks their roles. Rows are only written by jobs
//! ([`kinds`]): an import, an optimization or an extraction first writes its file, and the row
//! appears or changes in the transaction that ends the job. Files such a job is writing are
//! recorded beforehand ([`store`]), so a crash leaves nothing the start-up sweep cannot remove.
//! Where images may be read from is [`sources`].

pub mod kinds;
pub mod sources;
pub mod store;
pub mod uploads;

use std::path::{Path, PathBuf};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    SqlErr,
    sea_query::{Expr, ExprTrait},
};
use serde::{Deserialize, Serialize};

use crate::{
    Actor, Domain, Error, Result,
    audit::{self, AuditedTxn},
    authz::{self, ObjectType, Operation},
    db::entities::images,
    jobs::{JobTarget, NewJob},
    wim::{WimInspection, WinPeSupport},
};

/// Boot image or OS image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageKind {
    Boot,
    Os,
}

impl ImageKind {
    /// The object type role-based administration knows this kind as.
    pub fn object_type(self) -> ObjectType {
        match self {
            ImageKind::Boot => ObjectType::BootImage,
            ImageKind::Os => ObjectType::OsImage,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ImageKind::Boot => "boot",
            ImageKind::Os => "os",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "boot" => Ok(ImageKind::Boot),
            "os" => Ok(ImageKind::Os),
            other => Err(Error::invalid(
                "kind",
                format!("'{other}' is not an image kind (boot or os)"),
            )),
        }
    }

    /// "boot image" / "OS image", for sentences.
    pub fn noun(self) -> &'static str {
        match self {
            ImageKind::Boot => "boot image",
            ImageKind::Os => "OS image",
        }
    }

    /// The kind of object jobs name as their target.
    pub fn target_kind(self) -> &'static str {
        match self {
            ImageKind::Boot => "boot-image",
            ImageKind::Os => "os-image",
        }
    }
}

/// Whether an image's file is usable, as last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageState {
    /// Imported and, if verified since, verified.
    Ready,
    /// The last verification found damage.
    Damaged,
    /// The file was not found when last needed.
    Missing,
}

impl ImageState {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageState::Ready => "ready",
            ImageState::Damaged => "damaged",
            ImageState::Missing => "missing",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "damaged" => ImageState::Damaged,
            "missing" => ImageState::Missing,
            _ => ImageState::Ready,
        }
    }
}

/// An image in the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogImage {
    pub id: i64,
    pub kind: ImageKind,
    pub name: String,
    pub version: String,
    pub comment: String,
    /// What the admin gave: a local or share path, or the name of an uploaded file.
    pub source_path: String,
    /// The index taken from the source (`None`: every index).
    pub source_index: Option<u32>,
    /// The WIM file in use.
    pub file_path: PathBuf,
    /// Whether Wimdeck wrote the file (deleted with the image) or it is the admin's.
    pub owned: bool,
    /// For a default boot image, the architecture it is the default for.
    pub default_for: Option<String>,
    pub architecture: Option<String>,
    pub language: Option<String>,
    pub os_version: Option<String>,
    pub winpe_release: Option<String>,
    pub winpe_support: Option<WinPeSupport>,
    pub image_count: u32,
    pub decompressed_bytes: u64,
    pub file_bytes: u64,
    pub sha256: String,
    pub inspection: WimInspection,
    pub state: ImageState,
    pub state_detail: Option<String>,
    pub verified_at_ms: Option<i64>,
    /// Changes with every edit; an edit must name the version it was based on.
    pub row_version: i32,
    /// Changes whenever the file is replaced.
    pub content_revision: i32,
    pub created_by: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// What one user may do to one image ([`ActorCatalog::rights_on`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImageRights {
    /// Edit its properties; optimize, split, apply drivers.
    pub modify: bool,
    /// Verify.
    pub validate: bool,
    pub delete: bool,
    /// Extract an index as a new OS image: Modify here and Create on OS images.
    pub extract: bool,
}

impl CatalogImage {
    pub fn target(&self) -> JobTarget {
        JobTarget {
            kind: self.kind.target_kind().to_owned(),
            id: self.id.to_string(),
            label: self.name.clone(),
        }
    }

    /// Whether drivers and settings may be changed (WinPE 10 boot images only).
    pub fn customizable(&self) -> bool {
        self.kind == ImageKind::Boot && self.winpe_support == Some(WinPeSupport::Customizable)
    }

    fn from_model(m: images::Model) -> Result<Self> {
        let inspection: WimInspection = serde_json::from_str(&m.metadata)
            .map_err(|e| Error::Internal(format!("image {} metadata: {e}", m.id)))?;
        let winpe_support = m
            .winpe_support
            .as_deref()
            .and_then(|s| serde_json::from_value(serde_json::Value::String(s.to_owned())).ok());
        Ok(Self {
            id: m.id,
            kind: ImageKind::parse(&m.kind)?,
            name: m.name,
            version: m.version,
            comment: m.comment,
            source_path: m.source_path,
            source_index: m.source_index.and_then(|i| u32::try_from(i).ok()),
            file_path: PathBuf::from(m.file_path),
            owned: m.owned,
            default_for: m.default_for,
            architecture: m.architecture,
            language: m.language,
            os_version: m.os_version,
            winpe_release: m.winpe_release,
            winpe_support,
            image_count: u32::try_from(m.image_count).unwrap_or(0),
            decompressed_bytes: u64::try_from(m.decompressed_bytes).unwrap_or(0),
            file_bytes: u64::try_from(m.file_bytes).unwrap_or(0),
            sha256: m.sha256,
            inspection,
            state: ImageState::parse(&m.state),
            state_detail: m.state_detail,
            verified_at_ms: m.verified_at_ms,
            row_version: m.row_version,
            content_revision: m.content_revision,
            created_by: m.created_by,
            created_at_ms: m.created_at_ms,
            updated_at_ms: m.updated_at_ms,
        })
    }
}

/// The fields an admin edits on the properties page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageEdit {
    pub name: String,
    pub version: String,
    pub comment: String,
    /// OS images only: the architecture and language, when the metadata is wrong or missing.
    pub architecture: Option<String>,
    pub language: Option<String>,
    /// The `row_version` the edit is based on.
    pub expected_row_version: i32,
}

/// A new catalog row, written by a job once its file is in place.
#[derive(Debug, Clone)]
pub(crate) struct NewImage {
    pub kind: ImageKind,
    pub name: String,
    pub version: String,
    pub comment: String,
    pub source_path: String,
    pub source_index: Option<u32>,
    pub file_path: PathBuf,
    pub owned: bool,
    pub default_for: Option<String>,
    pub architecture: Option<String>,
    pub language: Option<String>,
    pub inspection: WimInspection,
    pub created_by: String,
    /// The user whose job adds the image: it gets their scopes that allow creating it.
    pub creator: Option<i64>,
}

/// Derived columns from an inspection: (architecture, language, OS version, WinPE release,
/// WinPE support, decompressed bytes).
struct Derived {
    architecture: Option<String>,
    language: Option<String>,
    os_version: Option<String>,
    winpe_release: Option<String>,
    winpe_support: Option<String>,
    decompressed_bytes: i64,
}

fn derive(inspection: &WimInspection) -> Derived {
    let first = inspection.images.first();
    let winpe = first.and_then(|i| i.windows_pe.as_ref());
    Derived {
        architecture: first
            .and_then(|i| i.architecture)
            .map(|a| a.as_str().to_owned()),
        language: first.and_then(|i| {
            i.default_language
                .clone()
                .or_else(|| i.languages.first().cloned())
        }),
        os_version: first.and_then(|i| i.version).map(|v| v.to_string()),
        winpe_release: winpe.map(|w| w.release.clone()),
        winpe_support: winpe.and_then(|w| {
            serde_json::to_value(w.support)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
        }),
        decompressed_bytes: inspection
            .images
            .iter()
            .map(|i| i64::try_from(i.total_bytes).unwrap_or(i64::MAX))
            .fold(0i64, i64::saturating_add),
    }
}

/// Names are unique per kind, ignoring case (as Windows compares them).
pub(crate) fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Checks an image name an admin typed; returns it trimmed.
pub fn validate_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::invalid("name", "must not be empty"));
    }
    if name.chars().count() > 128 {
        return Err(Error::invalid("name", "must have at most 128 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

fn validate_text(field: &'static str, value: &str, max: usize) -> Result<String> {
    let value = value.trim();
    if value.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("must have at most {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

fn name_taken(kind: ImageKind, name: &str) -> Error {
    Error::Conflict(format!(
        "a {} named \"{name}\" already exists; choose another name",
        kind.noun()
    ))
}

/// The catalog, as the system uses it (no permission checks).
pub struct Catalog<'a> {
    domain: &'a Domain,
}

impl<'a> Catalog<'a> {
    pub(crate) fn new(domain: &'a Domain) -> Self {
        Self { domain }
    }

    pub async fn list(&self, kind: ImageKind) -> Result<Vec<CatalogImage>> {
        images::Entity::find()
            .filter(images::Column::Kind.eq(kind.as_str()))
            .order_by_asc(images::Column::NameKey)
            .all(self.domain.db())
            .await?
            .into_iter()
            .map(CatalogImage::from_model)
            .collect()
    }

    pub async fn get(&self, id: i64) -> Result<CatalogImage> {
        let model = images::Entity::find_by_id(id)
            .one(self.domain.db())
            .await?
            .ok_or_else(|| Error::NotFound(format!("image {id}")))?;
        CatalogImage::from_model(model)
    }

    /// The image of `kind` with this id (a boot image's id is not an OS image).
    pub async fn get_kind(&self, kind: ImageKind, id: i64) -> Result<CatalogImage> {
        let image = self.get(id).await?;
        if image.kind != kind {
            return Err(Error::NotFound(format!("{} {id}", kind.noun())));
        }
        Ok(image)
    }

    /// Every file an image needs: its file in use and those it holds (a boot image's base
    /// and kept revisions). No file belongs to two images.
    pub async fn files_of(
        &self,
        image: &CatalogImage,
    ) -> Result<std::collections::BTreeSet<PathBuf>> {
        let mut files: std::collections::BTreeSet<PathBuf> =
            store::held_by(self.domain.db(), image.id)
                .await?
                .into_iter()
                .collect();
        files.insert(image.file_path.clone());
        Ok(files)
    }

    /// Every default boot image, read through `conn`.
    pub(crate) async fn defaults_in<C: ConnectionTrait>(conn: &C) -> Result<Vec<CatalogImage>> {
        images::Entity::find()
            .filter(images::Column::DefaultFor.is_not_null())
            .order_by_asc(images::Column::Id)
            .all(conn)
            .await?
            .into_iter()
            .map(CatalogImage::from_model)
            .collect()
    }

    /// The default boot image for an architecture, if there is one.
    pub async fn default_for(&self, architecture: &str) -> Result<Option<CatalogImage>> {
        images::Entity::find()
            .filter(images::Column::DefaultFor.eq(architecture))
            .one(self.domain.db())
            .await?
            .map(CatalogImage::from_model)
            .transpose()
    }

    /// Queues an import after checking what can be checked at once (the job checks it all
    /// again), audited in the same transaction; `by` is the user it runs for (`None`: the
    /// local administrator, at the command line).
    pub async fn queue_import(
        &self,
        request: kinds::ImportRequest,
        by: Option<&Actor>,
    ) -> Result<i64> {
        let object = request.kind.object_type();
        let source = request.source.clone();
        let params = kinds::ImportImage
            .check(request, self.domain, by.map(|a| a.user_id))
            .await?;
        let new = NewJob::new(kinds::IMPORT, params);
        if let Some(actor) = by {
            return self
                .domain
                .for_actor(actor)
                .jobs()
                .queue_authorized(new, Vec::new())
                .await;
        }
        let mut txn = AuditedTxn::begin(self.domain).await?;
        let job = txn.enqueue(None, new).await?;
        let changes = [("job", serde_json::Value::Null, serde_json::json!(job))];
        txn.record(&audit::Entry::local(
            Operation::Create,
            object,
            (0, &source),
            &changes,
            "wimdeck image import",
        ))
        .await?;
        txn.commit().await?;
        Ok(job)
    }

    /// Fails with a conflict when the name is taken.
    pub async fn ensure_name_free(&self, kind: ImageKind, name: &str) -> Result<()> {
        self.ensure_name_free_in(self.domain.db(), kind, name).await
    }

    pub(crate) async fn ensure_name_free_in<C: ConnectionTrait>(
        &self,
        conn: &C,
        kind: ImageKind,
        name: &str,
    ) -> Result<()> {
        let taken = images::Entity::find()
            .filter(images::Column::Kind.eq(kind.as_str()))
            .filter(images::Column::NameKey.eq(name_key(name)))
            .one(conn)
            .await?;
        match taken {
            Some(_) => Err(name_taken(kind, name)),
            None => Ok(()),
        }
    }

    /// Refuses a file that a catalog row already uses (as its file, or holds it otherwise):
    /// two rows never share a file, so releasing one row's file never takes another's.
    pub(crate) async fn refuse_held<C: ConnectionTrait>(
        &self,
        conn: &C,
        path: &Path,
    ) -> Result<()> {
        // Not named: whoever asks may not be allowed to read the image that holds it.
        if store::image_uses(conn, &path.display().to_string()).await? {
            return Err(Error::invalid(
                "source",
                format!(
                    "{} is in the catalog already, as another image; a file is added once",
                    path.display()
                ),
            ));
        }
        Ok(())
    }

    pub(crate) async fn insert<C: ConnectionTrait>(&self, db: &C, new: NewImage) -> Result<i64> {
        self.refuse_held(db, &new.file_path).await?;
        let now = self.domain.now_ms();
        let derived = derive(&new.inspection);
        let model = images::ActiveModel {
            kind: Set(new.kind.as_str().to_owned()),
            name: Set(new.name.clone()),
            name_key: Set(name_key(&new.name)),
            version: Set(new.version),
            comment: Set(new.comment),
            source_path: Set(new.source_path),
            source_index: Set(new.source_index.and_then(|i| i32::try_from(i).ok())),
            file_path: Set(new.file_path.display().to_string()),
            owned: Set(new.owned),
            default_for: Set(new.default_for),
            architecture: Set(new.architecture.or(derived.architecture)),
            language: Set(new.language.or(derived.language)),
            os_version: Set(derived.os_version),
            winpe_release: Set(derived.winpe_release),
            winpe_support: Set(derived.winpe_support),
            image_count: Set(i32::try_from(new.inspection.file.image_count).unwrap_or(i32::MAX)),
            decompressed_bytes: Set(derived.decompressed_bytes),
            file_bytes: Set(i64::try_from(new.inspection.file.size_bytes).unwrap_or(i64::MAX)),
            sha256: Set(new.inspection.file.sha256.clone().unwrap_or_default()),
            metadata: Set(serde_json::to_string(&new.inspection)
                .map_err(|e| Error::Internal(e.to_string()))?),
            state: Set(ImageState::Ready.as_str().to_owned()),
            state_detail: Set(None),
            verified_at_ms: Set(Some(now)),
            row_version: Set(1),
            content_revision: Set(1),
            created_by: Set(new.created_by),
            created_at_ms: Set(now),
            updated_at_ms: Set(now),
            ..Default::default()
        };
        let kind = new.kind;
        match model.insert(db).await {
            Ok(m) => {
                let object = kind.object_type();
                let scopes = authz::scopes::for_new_object(db, object, new.creator).await?;
                authz::scopes::set(db, object, m.id, &scopes).await?;
                Ok(m.id)
            }
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Err(name_taken(new.kind, &new.name))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Points an image at a new file (an optimization, a build, a rollback) inside the change's
    /// transaction, only if its file is still the one the change started from
    /// (`started.content_revision`); otherwise another change won, and this one fails with a
    /// conflict (its output is then discarded). The file was verified at `verified_at_ms`
    /// (`None`: now, as it was just written and verified). The old file is released by the
    /// caller ([`Catalog::release_previous`]).
    pub(crate) async fn replace_file(
        &self,
        txn: &mut AuditedTxn,
        started: &CatalogImage,
        file_path: &std::path::Path,
        inspection: &WimInspection,
        verified_at_ms: Option<i64>,
    ) -> Result<()> {
        let id = started.id;
        let db = txn.conn();
        let derived = derive(inspection);
        let now = self.domain.now_ms();
        let verified = verified_at_ms.unwrap_or(now);
        let result = images::Entity::update_many()
            .col_expr(
                images::Column::FilePath,
                Expr::value(file_path.display().to_string()),
            )
            .col_expr(images::Column::Owned, Expr::value(true))
            .col_expr(images::Column::OsVersion, Expr::value(derived.os_version))
            .col_expr(
                images::Column::WinpeRelease,
                Expr::value(derived.winpe_release),
            )
            .col_expr(
                images::Column::WinpeSupport,
                Expr::value(derived.winpe_support),
            )
            .col_expr(
                images::Column::ImageCount,
                Expr::value(i32::try_from(inspection.file.image_count).unwrap_or(i32::MAX)),
            )
            .col_expr(
                images::Column::DecompressedBytes,
                Expr::value(derived.decompressed_bytes),
            )
            .col_expr(
                images::Column::FileBytes,
                Expr::value(i64::try_from(inspection.file.size_bytes).unwrap_or(i64::MAX)),
            )
            .col_expr(
                images::Column::Sha256,
                Expr::value(inspection.file.sha256.clone().unwrap_or_default()),
            )
            .col_expr(
                images::Column::Metadata,
                Expr::value(
                    serde_json::to_string(inspection)
                        .map_err(|e| Error::Internal(e.to_string()))?,
                ),
            )
            .col_expr(
                images::Column::State,
                Expr::value(ImageState::Ready.as_str()),
            )
            .col_expr(images::Column::StateDetail, Expr::value(None::<String>))
            .col_expr(images::Column::VerifiedAtMs, Expr::value(verified))
            .col_expr(
                images::Column::ContentRevision,
                Expr::col(images::Column::ContentRevision).add(1),
            )
            .col_expr(images::Column::UpdatedAtMs, Expr::value(now))
            .filter(images::Column::Id.eq(id))
            .filter(images::Column::ContentRevision.eq(started.content_revision))
            .exec(db)
            .await?;
        if result.rows_affected == 0 {
            let now = images::Entity::find_by_id(id).one(db).await?;
            return Err(Error::Conflict(match now {
                None => format!("\"{}\" was deleted while the job ran", started.name),
                Some(row) => format!(
                    "the file of \"{}\" was replaced by another change while this job ran (revision {} became {}); this job's output was discarded, run it again on the new revision",
                    started.name, started.content_revision, row.content_revision
                ),
            }));
        }
        // Content in the library gets a version of the new file.
        crate::content::note_changed(
            txn,
            crate::content::ContentObject::new(started.kind.object_type(), id),
        )
        .await
    }

    /// Releases the file an image used before a change of its row, inside that change's
    /// transaction (kept if still in use, by it or another row, or not Wimdeck's).
    pub(crate) async fn release_previous(
        &self,
        txn: &mut AuditedTxn,
        before: &CatalogImage,
    ) -> Result<()> {
        if before.owned {
            txn.release(std::slice::from_ref(&before.file_path)).await?;
        }
        Ok(())
    }

    /// Points an image at another source (a boot image's new data source), inside the
    /// change's transaction.
    pub(crate) async fn set_source_in<C: ConnectionTrait>(
        &self,
        conn: &C,
        id: i64,
        source_path: &str,
        source_index: u32,
    ) -> Result<()> {
        images::Entity::update_many()
            .col_expr(images::Column::SourcePath, Expr::value(source_path))
            .col_expr(
                images::Column::SourceIndex,
                Expr::value(i32::try_from(source_index).ok()),
            )
            .filter(images::Column::Id.eq(id))
            .exec(conn)
            .await?;
        Ok(())
    }

    /// Records the outcome of a verification or of looking for the file (in the job's
    /// transaction), if the image still has the file of `revision`; returns whether it did.
    pub(crate) async fn set_state_in<C: ConnectionTrait>(
        &self,
        conn: &C,
        id: i64,
        revision: i32,
        state: ImageState,
        detail: Option<String>,
        verified: bool,
    ) -> Result<bool> {
        let now = self.domain.now_ms();
        let mut update = images::Entity::update_many()
            .col_expr(images::Column::State, Expr::value(state.as_str()))
            .col_expr(images::Column::StateDetail, Expr::value(detail))
            .filter(images::Column::Id.eq(id))
            .filter(images::Column::ContentRevision.eq(revision));
        if verified {
            update = update.col_expr(images::Column::VerifiedAtMs, Expr::value(now));
        }
        Ok(update.exec(conn).await?.rows_affected == 1)
    }

    /// Saves an edit made on the properties page inside `conn`'s transaction, unless someone
    /// else changed the image since the version the edit is based on.
    async fn edit_in<C: ConnectionTrait>(
        &self,
        conn: &C,
        kind: ImageKind,
        id: i64,
        edit: ImageEdit,
    ) -> Result<CatalogImage> {
        // Refuses an id of the other kind before anything is written.
        self.get_kind_in(conn, kind, id).await?;
        let name = validate_name(&edit.name)?;
        let version = validate_text("version", &edit.version, 64)?;
        let comment = validate_text("comment", &edit.comment, 2000)?;
        let mut update = images::Entity::update_many()
            .col_expr(images::Column::Name, Expr::value(name.clone()))
            .col_expr(images::Column::NameKey, Expr::value(name_key(&name)))
            .col_expr(images::Column::Version, Expr::value(version))
            .col_expr(images::Column::Comment, Expr::value(comment))
            .col_expr(
                images::Column::RowVersion,
                Expr::col(images::Column::RowVersion).add(1),
            )
            .col_expr(
                images::Column::UpdatedAtMs,
                Expr::value(self.domain.now_ms()),
            );
        if kind == ImageKind::Os {
            let architecture = edit
                .architecture
                .as_deref()
                .map(parse_architecture)
                .transpose()?
                .flatten();
            let language = edit
                .language
                .as_deref()
                .map(parse_language)
                .transpose()?
                .flatten();
            update = update
                .col_expr(images::Column::Architecture, Expr::value(architecture))
                .col_expr(images::Column::Language, Expr::value(language));
        }
        let result = update
            .filter(images::Column::Id.eq(id))
            .filter(images::Column::RowVersion.eq(edit.expected_row_version))
            .exec(conn)
            .await;
        match result {
            Ok(r) if r.rows_affected == 1 => self.get_kind_in(conn, kind, id).await,
            Ok(_) => {
                let now = self.get_kind_in(conn, kind, id).await?;
                Err(Error::Conflict(format!(
                    "{} \"{}\" was changed by someone else after you opened it (you edited version {}, it is now at version {}); reload to see their change, then edit again",
                    kind.noun(),
                    now.name,
                    edit.expected_row_version,
                    now.row_version
                )))
            }
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Err(name_taken(kind, &name))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Removes an image from the catalog inside `txn`, refused while a job works on it (checked
    /// in the same transaction). Its files are released with the delete: removed after the
    /// commit unless another row uses them (if the server stops first, the sweep finishes).
    async fn delete_in(
        &self,
        txn: &mut AuditedTxn,
        kind: ImageKind,
        id: i64,
        expected_row_version: i32,
    ) -> Result<CatalogImage> {
        let conn = txn.conn();
        let image = self.get_kind_in(conn, kind, id).await?;
        let target = image.target();
        crate::jobs::lock_target(conn, &target.kind, &target.id).await?;
        if let Some(busy) = crate::jobs::active_on(conn, &target.kind, &target.id).await? {
            return Err(Error::Conflict(format!(
                "{}; wait for it to end or cancel it, then delete \"{}\"",
                self.domain.jobs().busy_message(&busy, "this image"),
                image.name
            )));
        }
        let held = store::held_by(conn, id).await?;
        let deleted = images::Entity::delete_many()
            .filter(images::Column::Id.eq(id))
            .filter(images::Column::RowVersion.eq(expected_row_version))
            .exec(conn)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(Error::Conflict(format!(
                "\"{}\" was changed by someone else after you opened it; reload and try again",
                image.name
            )));
        }
        authz::scopes::remove(conn, kind.object_type(), id).await?;
        // What depends on the row (its held files, a boot image's recipe and revisions) goes
        // with it; the files are released as seen after the delete.
        let mut files = held;
        if image.owned {
            files.push(image.file_path.clone());
        }
        txn.release(&files).await?;
        Ok(image)
    }

    /// The image of `kind` with this id, read through `conn` (inside a transaction).
    pub(crate) async fn get_kind_in<C: ConnectionTrait>(
        &self,
        conn: &C,
        kind: ImageKind,
        id: i64,
    ) -> Result<CatalogImage> {
        let model = images::Entity::find_by_id(id)
            .one(conn)
            .await?
            .ok_or_else(|| Error::NotFound(format!("{} {id}", kind.noun())))?;
        let image = CatalogImage::from_model(model)?;
        if image.kind != kind {
            return Err(Error::NotFound(format!("{} {id}", kind.noun())));
        }
        Ok(image)
    }
}

/// The job target of image `id`, read through `conn` (what a job on it holds).
pub(crate) async fn image_target_in<C: ConnectionTrait>(conn: &C, id: i64) -> Result<JobTarget> {
    let model = images::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or_else(|| Error::NotFound(format!("image {id}")))?;
    Ok(CatalogImage::from_model(model)?.target())
}

/// An architecture an admin chose ("" clears it: unknown).
fn parse_architecture(text: &str) -> Result<Option<String>> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        a @ ("x86" | "amd64" | "arm64" | "arm" | "ia64") => Ok(Some(a.to_owned())),
        "x64" => Ok(Some("amd64".to_owned())),
        other => Err(Error::invalid(
            "architecture",
            format!("'{other}' is not an architecture (x86, amd64, arm64, arm, ia64)"),
        )),
    }
}

/// A language tag like `en-US` ("" clears it).
fn parse_language(text: &str) -> Result<Option<String>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let valid = text.len() <= 32
        && text.split('-').all(|part| {
            !part.is_empty() && part.len() <= 8 && part.chars().all(|c| c.is_ascii_alphanumeric())
        });
    if valid {
        Ok(Some(text.to_owned()))
    } else {
        Err(Error::invalid(
            "language",
            format!("'{text}' is not a language tag like en-US"),
        ))
    }
}

/// The catalog on behalf of a signed-in user. Every operation is checked against the user's
/// role assignments and the image's security scopes; lists show only what the user may read.
pub struct ActorCatalog<'a> {
    catalog: Catalog<'a>,
    domain: &'a Domain,
    actor: &'a Actor,
}

impl<'a> ActorCatalog<'a> {
    pub(crate) fn new(domain: &'a Domain, actor: &'a Actor) -> Self {
        Self {
            catalog: Catalog::new(domain),
            domain,
            actor,
        }
    }

    /// Whether this user may add images of this kind (in some scope).
    pub fn may_add(&self, kind: ImageKind) -> bool {
        self.actor.holds(kind.object_type(), Operation::Create)
    }

    /// What this user may do to `image`, by the rules its actions check when they run, so a
    /// page offers exactly the actions its viewer can use.
    pub async fn rights_on(&self, image: &CatalogImage) -> Result<ImageRights> {
        let object = image.kind.object_type();
        let scopes = authz::scopes::of(self.domain.db(), object, image.id).await?;
        let operations = self.actor.grants.effective(object, &scopes);
        let may = |operation: Operation| operations.contains(&operation);
        let modify = may(Operation::Modify);
        Ok(ImageRights {
            modify,
            validate: may(kinds::ImageAction::Verify.operation()),
            delete: may(Operation::Delete),
            extract: modify && self.actor.holds(ObjectType::OsImage, Operation::Create),
        })
    }

    /// The image, after checking `operation` on it.
    pub(crate) async fn checked(
        &self,
        kind: ImageKind,
        id: i64,
        operation: Operation,
    ) -> Result<CatalogImage> {
        let object = kind.object_type();
        self.actor.require(object, operation)?;
        let image = self.catalog.get_kind(kind, id).await?;
        let scopes = authz::scopes::of(self.domain.db(), object, id).await?;
        self.actor.require_on(object, operation, &scopes)?;
        Ok(image)
    }

    pub async fn list(&self, kind: ImageKind) -> Result<Vec<CatalogImage>> {
        let object = kind.object_type();
        self.actor.require(object, Operation::Read)?;
        let visibility = self.actor.grants.visibility(object);
        let scopes = authz::scopes::of_all(self.domain.db(), object).await?;
        let mut images = self.catalog.list(kind).await?;
        images.retain(|image| {
            let of_image = scopes.get(&image.id).map_or(&[][..], Vec::as_slice);
            authz::scopes::visible(&visibility, of_image)
        });
        Ok(images)
    }

    pub async fn get(&self, kind: ImageKind, id: i64) -> Result<CatalogImage> {
        self.checked(kind, id, Operation::Read).await
    }

    /// Reads a WIM's header and image list for the Add wizard (no hashing, no copying).
    pub async fn preview(&self, source: &str) -> Result<(String, WimInspection)> {
        if !self.may_add(ImageKind::Boot) {
            self.actor.require(ObjectType::OsImage, Operation::Create)?;
        }
        let path = sources::resolve_for(self.domain, Some(self.actor.user_id), source).await?;
        let backend = self.domain.wim_backend();
        let shown = path.clone();
        let inspection = crate::wim::blocking(move || backend.inspect(&shown, false))
            .await
            .map_err(|e| kinds::explain_open_error(&path, e))?;
        crate::wim::split_siblings(&path).map_err(|e| Error::invalid("source", e.to_string()))?;
        Ok((path.display().to_string(), inspection))
    }

    /// Queues an import; checks what can be checked at once, the job checks everything again.
    pub async fn import(&self, request: kinds::ImportRequest) -> Result<i64> {
        self.actor
            .require(request.kind.object_type(), Operation::Create)?;
        self.catalog.queue_import(request, Some(self.actor)).await
    }

    /// Queues a servicing job on an image; what it takes is its kind's to say
    /// ([`crate::jobs::JobKind::authorize`]), as for a retry or a schedule.
    pub async fn service(
        &self,
        kind: ImageKind,
        id: i64,
        action: kinds::ImageAction,
    ) -> Result<i64> {
        // Checked before the action's own checks read the image; the job kind has the last
        // word, in the transaction that queues it.
        let image = self.checked(kind, id, action.operation()).await?;
        let new = action.job(&image, self.domain).await?;
        self.domain
            .for_actor(self.actor)
            .jobs()
            .queue_authorized(
                new,
                vec![("action", serde_json::Value::Null, serde_json::json!(action))],
            )
            .await
    }

    pub async fn edit(&self, kind: ImageKind, id: i64, edit: ImageEdit) -> Result<CatalogImage> {
        let before = self.checked(kind, id, Operation::Modify).await?;
        let mut txn = AuditedTxn::begin(self.domain).await?;
        let after = self.catalog.edit_in(txn.conn(), kind, id, edit).await?;
        let field = |name, get: fn(&CatalogImage) -> serde_json::Value| {
            let (b, a) = (get(&before), get(&after));
            (b != a).then_some((name, b, a))
        };
        let changes: Vec<_> = [
            field("name", |i| i.name.clone().into()),
            field("version", |i| i.version.clone().into()),
            field("comment", |i| i.comment.clone().into()),
            field("architecture", |i| i.architecture.clone().into()),
            field("language", |i| i.language.clone().into()),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !changes.is_empty() {
            txn.allowed(
                self.actor,
                Operation::Modify,
                kind.object_type(),
                (id, &after.name),
                &changes,
            )
            .await?;
        }
        txn.commit().await?;
        Ok(after)
    }

    /// Removes an image from the catalog, and its files if no other row references them.
    /// Refused while a job works on it.
    pub async fn delete(&self, kind: ImageKind, id: i64, expected_row_version: i32) -> Result<()> {
        self.checked(kind, id, Operation::Delete).await?;
        let mut txn = AuditedTxn::begin(self.domain).await?;
        let image = self
            .catalog
            .delete_in(&mut txn, kind, id, expected_row_version)
            .await?;
        txn.allowed(
            self.actor,
            Operation::Delete,
            kind.object_type(),
            (id, &image.name),
            &[],
        )
        .await?;
        // Its content leaves the distribution points.
        crate::content::note_deleted(
            &mut txn,
            crate::content::ContentObject::new(kind.object_type(), id),
        )
        .await?;
        txn.commit().await
    }

    /// Lists one directory inside image `index` of a catalog image, for the file browser.
    pub async fn browse(
        &self,
        kind: ImageKind,
        id: i64,
        index: u32,
        dir: &str,
    ) -> Result<Vec<crate::wim::DirEntry>> {
        let image = self.checked(kind, id, Operation::Read).await?;
        let backend = self.domain.wim_backend();
        let dir = dir.to_owned();
        let path = image.file_path.clone();
        Ok(crate::wim::blocking(move || backend.list_dir(&path, index, &dir)).await?)
    }
}
