//! Prestaged content files on the site: made by a job from chosen contents' newest versions,
//! kept in `<data_dir>/prestaged/`, downloaded from the console and carried to DPs that are
//! enabled for prestaged content (see [`crate::content::prestaged`] for the format and
//! [`super::agent::prestaged`] for the import).
//!
//! Making, downloading and deleting a file need Distribute on every content it holds; seeing
//! it listed needs Read.

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
};

use sea_orm::{ColumnTrait, EntityTrait, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::actions::check_object;
use crate::{
    Actor, Config, Domain, Error, Result,
    authz::{self, ObjectType, Operation},
    content::{
        Content, ContentObject,
        prestaged::{self, EXTENSION, PackageIndex, PackagedVersion},
    },
    db::entities::{content_versions, driver_packages, images},
    jobs::{BoxFuture, Completion, JobContext, JobError, JobGrant, JobKind, NewJob},
};

/// The job kind that writes a prestaged content file.
pub const PRESTAGE_JOB: &str = "content-prestage";

/// The most contents one file may hold.
pub const MAX_OBJECTS: usize = 100;

/// The kinds of object whose content goes in prestaged files.
const CONTENT_KINDS: [ObjectType; 3] = [
    ObjectType::BootImage,
    ObjectType::OsImage,
    ObjectType::DriverPackage,
];

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrestageParams {
    objects: Vec<ContentObject>,
}

/// A prestaged content file on the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrestagedFile {
    /// Its file name (`prestaged-<job>.wdprestage`).
    pub name: String,
    pub bytes: u64,
    pub created_at_ms: i64,
    pub created_by: String,
    pub versions: Vec<PackagedVersion>,
}

/// Where the site keeps prestaged files.
pub fn folder(config: &Config) -> PathBuf {
    config.data_dir.join("prestaged")
}

/// The path of a prestaged file named `name`; anything but a name this site gives is refused
/// (it becomes a path).
fn path_of(config: &Config, name: &str) -> Result<PathBuf> {
    let job = name
        .strip_prefix("prestaged-")
        .and_then(|rest| rest.strip_suffix(&format!(".{EXTENSION}")))
        .filter(|id| !id.is_empty() && id.len() <= 19 && id.bytes().all(|b| b.is_ascii_digit()));
    if job.is_none() {
        return Err(Error::invalid(
            "file",
            "is not the name of a prestaged content file",
        ));
    }
    Ok(folder(config).join(name))
}

/// Distribute on each object of a file. An object deleted since the file was made needs
/// Distribute on its kind (its scopes are gone with it).
async fn check_file(domain: &Domain, actor: &Actor, contents: &[PackagedVersion]) -> Result<()> {
    for version in contents {
        let object = ContentObject::new(version.object_type, version.object_id);
        match check_object(domain, actor, object, Operation::Distribute).await {
            Err(Error::NotFound(_)) => actor.require(object.object_type, Operation::Distribute)?,
            other => {
                other?;
            }
        }
    }
    Ok(())
}

/// Prestaged content files for a signed-in user.
pub struct ActorPrestaged<'a> {
    domain: &'a Domain,
    actor: &'a Actor,
}

impl<'a> ActorPrestaged<'a> {
    pub(crate) fn new(domain: &'a Domain, actor: &'a Actor) -> Self {
        Self { domain, actor }
    }

    /// Queues the writing of one file holding the newest version of each object (made now
    /// if an object changed).
    pub async fn create(&self, objects: Vec<ContentObject>) -> Result<i64> {
        let params = PrestageKind.validate(
            serde_json::to_value(PrestageParams { objects })
                .map_err(|e| Error::Internal(e.to_string()))?,
            self.domain.config(),
        )?;
        self.domain
            .for_actor(self.actor)
            .jobs()
            .queue_authorized(NewJob::new(PRESTAGE_JOB, params), Vec::new())
            .await
    }

    /// Whether the user may make prestaged files of some kind of content.
    pub fn may_create(&self) -> bool {
        CONTENT_KINDS
            .iter()
            .any(|kind| self.actor.holds(*kind, Operation::Distribute))
    }

    /// The library's contents the user may put in a file (Distribute on each; content is in
    /// the library once distributed or versioned), with their newest version's number, by
    /// name; not those whose object was deleted. Scopes, versions and objects are read once
    /// for all.
    pub async fn choices(&self) -> Result<Vec<(Content, Option<i32>)>> {
        if !self.may_create() {
            return Err(Error::forbidden(
                ObjectType::OsImage,
                Operation::Distribute,
                "You may not distribute any content.",
            ));
        }
        let db = self.domain.db();
        let mut scopes = HashMap::new();
        for kind in CONTENT_KINDS {
            scopes.insert(kind, authz::scopes::of_all(db, kind).await?);
        }
        let newest: HashMap<i64, i32> = content_versions::Entity::find()
            .select_only()
            .column(content_versions::Column::ContentId)
            .column_as(content_versions::Column::Number.max(), "number")
            .group_by(content_versions::Column::ContentId)
            .into_tuple::<(i64, i32)>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        // A deleted object's content stays until no DP holds it: not offered meanwhile.
        let images: HashSet<i64> = images::Entity::find()
            .select_only()
            .column(images::Column::Id)
            .into_tuple()
            .all(db)
            .await?
            .into_iter()
            .collect();
        let packages: HashSet<i64> = driver_packages::Entity::find()
            .select_only()
            .column(driver_packages::Column::Id)
            .into_tuple()
            .all(db)
            .await?
            .into_iter()
            .collect();
        let mut out: Vec<(Content, Option<i32>)> = self
            .domain
            .content()
            .list()
            .await?
            .into_iter()
            .filter(|content| {
                let id = content.object.object_id;
                match content.object.object_type {
                    ObjectType::DriverPackage => packages.contains(&id),
                    _ => images.contains(&id),
                }
            })
            .filter(|content| {
                let kind = content.object.object_type;
                let of_object = scopes
                    .get(&kind)
                    .and_then(|all| all.get(&content.object.object_id))
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                CONTENT_KINDS.contains(&kind)
                    && self.actor.may(kind, Operation::Distribute, of_object)
            })
            .map(|content| {
                let version = newest.get(&content.id).copied();
                (content, version)
            })
            .collect();
        out.sort_by(|a, b| a.0.name.cmp(&b.0.name).then(a.0.id.cmp(&b.0.id)));
        Ok(out)
    }

    /// The files holding `object`'s content that the user may download (Distribute on
    /// everything in them: a file's list names its other contents), newest first.
    pub async fn files_of(&self, object: ContentObject) -> Result<Vec<PrestagedFile>> {
        check_object(self.domain, self.actor, object, Operation::Read).await?;
        Ok(self
            .files()
            .await?
            .into_iter()
            .filter(|file| {
                file.versions
                    .iter()
                    .any(|v| v.object_type == object.object_type && v.object_id == object.object_id)
            })
            .collect())
    }

    /// Every file the user may download (Distribute on everything in it), newest first.
    pub async fn files(&self) -> Result<Vec<PrestagedFile>> {
        let mut files = Vec::new();
        for file in scan(self.domain.config(), |_| true).await? {
            match check_file(self.domain, self.actor, &file.versions).await {
                Ok(()) => files.push(file),
                Err(Error::Forbidden(_)) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(files)
    }

    /// A file to download: its path, once the user may distribute everything in it.
    pub async fn open(&self, name: &str) -> Result<PathBuf> {
        let path = path_of(self.domain.config(), name)?;
        let index = read_index(&path).await?;
        check_file(self.domain, self.actor, &index.contents).await?;
        Ok(path)
    }

    pub async fn delete(&self, name: &str) -> Result<()> {
        let path = path_of(self.domain.config(), name)?;
        let index = read_index(&path).await?;
        check_file(self.domain, self.actor, &index.contents).await?;
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// The prestaged files whose index `keep` takes, newest first (unreadable ones left out).
async fn scan(
    config: &Config,
    keep: impl Fn(&PackageIndex) -> bool + Send + 'static,
) -> Result<Vec<PrestagedFile>> {
    let dir = folder(config);
    tokio::task::spawn_blocking(move || {
        let mut files = Vec::new();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(files);
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(&format!(".{EXTENSION}")) || name.starts_with('.') {
                continue;
            }
            let Ok(index) = prestaged::read_index(&entry.path()) else {
                continue;
            };
            if !keep(&index) {
                continue;
            }
            files.push(PrestagedFile {
                name,
                bytes: entry.metadata().map(|m| m.len()).unwrap_or(0),
                created_at_ms: index.created_at_ms,
                created_by: index.created_by,
                versions: index.contents,
            });
        }
        files.sort_by(|a, b| {
            b.created_at_ms
                .cmp(&a.created_at_ms)
                .then(b.name.cmp(&a.name))
        });
        Ok(files)
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?
}

async fn read_index(path: &Path) -> Result<PackageIndex> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || match prestaged::read_index(&path) {
        Err(Error::InvalidInput { .. }) if !path.exists() => Err(Error::NotFound(format!(
            "prestaged content file {}",
            path.file_name().unwrap_or_default().to_string_lossy()
        ))),
        other => other,
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?
}

/// Writes a prestaged content file.
pub struct PrestageKind;

impl JobKind for PrestageKind {
    fn name(&self) -> &'static str {
        PRESTAGE_JOB
    }

    fn label(&self) -> &'static str {
        "Create prestaged content file"
    }

    fn retry_safe(&self) -> bool {
        true
    }

    fn validate(&self, params: Value, _config: &Config) -> Result<Value> {
        let mut p: PrestageParams =
            serde_json::from_value(params).map_err(|e| Error::invalid("params", e.to_string()))?;
        p.objects
            .sort_by_key(|o| (o.object_type.slug(), o.object_id));
        p.objects.dedup();
        if p.objects.is_empty() || p.objects.len() > MAX_OBJECTS {
            return Err(Error::invalid(
                "content",
                format!("choose between 1 and {MAX_OBJECTS} contents"),
            ));
        }
        for object in &p.objects {
            super::assign::refuse_non_content(*object)?;
        }
        serde_json::to_value(&p).map_err(|e| Error::Internal(e.to_string()))
    }

    fn describe(&self, params: &Value) -> String {
        match serde_json::from_value::<PrestageParams>(params.clone()) {
            Ok(p) if p.objects.len() == 1 => {
                format!(
                    "{} {}",
                    p.objects[0].object_type.label(),
                    p.objects[0].object_id
                )
            }
            Ok(p) => format!("{} contents", p.objects.len()),
            Err(_) => String::new(),
        }
    }

    fn subject(
        &self,
        params: &Value,
        _result: Option<&Value>,
    ) -> Option<(ObjectType, Option<i64>)> {
        let p: PrestageParams = serde_json::from_value(params.clone()).ok()?;
        let first = p.objects.first()?;
        Some((first.object_type, Some(first.object_id)))
    }

    /// Distribute on every object (checked again on each retry).
    fn authorize<'a>(
        &'a self,
        domain: &'a Domain,
        actor: &'a Actor,
        params: &'a Value,
    ) -> BoxFuture<'a, Result<JobGrant>> {
        Box::pin(async move {
            let p: PrestageParams = serde_json::from_value(params.clone())
                .map_err(|e| Error::invalid("params", e.to_string()))?;
            let mut names = Vec::new();
            for object in &p.objects {
                names.push(check_object(domain, actor, *object, Operation::Distribute).await?);
            }
            let first = p
                .objects
                .first()
                .ok_or_else(|| Error::invalid("content", "choose at least one content"))?;
            Ok(JobGrant::new(
                Operation::Distribute,
                first.object_type,
                first.object_id,
                names.join(", "),
            ))
        })
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, Result<Completion, JobError>> {
        Box::pin(async move {
            let p: PrestageParams = ctx.params()?;
            let domain = ctx.domain().clone();
            let mut contents = Vec::new();
            for object in &p.objects {
                let Some((name, added)) = super::version_current(
                    &domain,
                    *object,
                    "Create prestaged content file",
                    &ctx.owner_name(),
                    ctx.progress().clone(),
                    |line| ctx.warn(line),
                )
                .await?
                else {
                    return Err(JobError::Failed(format!(
                        "{} {} is gone: there is nothing to prestage",
                        object.object_type.label(),
                        object.object_id
                    )));
                };
                let v = added.version;
                ctx.info(format!(
                    "\"{name}\": version {}, {} bytes",
                    v.number, v.total_bytes
                ));
                contents.push(PackagedVersion {
                    content_id: v.content_id,
                    object_type: object.object_type,
                    object_id: object.object_id,
                    name,
                    version_id: v.id,
                    number: v.number,
                    manifest_sha256: v.manifest_sha256,
                    total_bytes: v.total_bytes,
                });
            }
            let index = PackageIndex {
                created_at_ms: domain.now_ms(),
                created_by: ctx.owner_name(),
                contents,
            };
            let name = format!("prestaged-{}.{EXTENSION}", ctx.job_id());
            let dir = folder(domain.config());
            let target = dir.join(&name);
            let store = domain.content().store();
            let job = ctx.job_id();
            let written = tokio::task::spawn_blocking(move || {
                std::fs::create_dir_all(&dir)?;
                // A retry writes the file again from the start.
                let _ = std::fs::remove_file(&target);
                prestaged::write(&store, &index, &target, Some(job))
            })
            .await
            .map_err(|e| JobError::Failed(e.to_string()))??;
            ctx.info(format!(
                "{name}: {} bytes, {} chunks; download it from the content's Distribution panel",
                written.bytes, written.chunks
            ));
            Ok(Completion::new(json!({
                "file": name,
                "bytes": written.bytes,
                "chunks": written.chunks,
            })))
        })
    }
}
