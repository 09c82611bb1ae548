//! Boot images built from a recipe: the build pipeline beside [`crate::catalog`] and
//! [`crate::drivers`], using both.
//!
//! A boot image is a **base** — a one-index WIM in the image store, taken from its source (or
//! from the configured Windows PE, for a default image) — plus a **recipe** ([`recipe`]): its
//! drivers, its customization, and for capture and discover images what Windows PE's shell
//! starts. A **build** ([`build`]) writes a new revision from the base and the recipe,
//! verified, and makes it current in the transaction that ends the job; applying drivers,
//! changing the customization, reloading the source, changing it, and regenerating a default
//! image are all builds, and nothing else writes a boot image. Every build is a revision
//! ([`revisions`]): kept with its recipe, comparable with any other, and one may be made
//! current again (a rollback).
//!
//! The catalog row of a boot image knows only its file in use; this area keeps the rest in its
//! own tables and makes the catalog hold the files it needs (the base and the kept revisions).
//! A boot image that was imported and never built has no row here yet: its file is its base
//! and revision 1 ([`BootImages::ensure_in`] writes that down when something changes).

pub mod access;
pub mod assets;
pub mod background;
pub mod build;
pub mod checks;
pub mod defaults;
pub mod drivers;
pub mod facts;
pub mod plan;
pub mod recipe;
pub mod revisions;
pub mod shells;
mod unattend;
pub mod winpeshl;
mod xml;

use std::{path::PathBuf, sync::Arc};

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

pub use facts::BaseFacts;
pub use recipe::{Customization, Recipe, RecipeDriver, Shell};
pub use revisions::Revision;

use crate::{
    Domain, Error, Result,
    audit::AuditedTxn,
    catalog::{Catalog, CatalogImage, ImageKind, store},
    db::entities::{boot_image_drivers, boot_images, boot_revisions},
    drivers::catalog::DriverCatalog,
    jobs::JobKind,
    wim::WimInspection,
};

/// The boot area's job kinds, for registration.
pub fn job_kinds() -> Vec<Arc<dyn JobKind>> {
    vec![
        Arc::new(build::BuildBootImage),
        Arc::new(defaults::UpdateDefaultBootImages),
        Arc::new(shells::CreateShellImage),
    ]
}

/// A boot image's build state as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct BootState {
    pub image_id: i64,
    pub base_path: PathBuf,
    /// The base file's SHA-256 (empty when not known: recorded before Wimdeck kept it).
    pub base_sha256: String,
    pub customization: Customization,
    pub shell: Option<Shell>,
    pub current_revision: i32,
    /// Bumped by every change of the recipe; a change must name the one it was based on.
    pub recipe_version: i32,
    pub facts: Option<BaseFacts>,
    /// A default boot image: the version of the configured Windows PE it was last
    /// regenerated from.
    pub default_source_version: Option<String>,
}

fn json_error(what: &str, e: serde_json::Error) -> Error {
    Error::Internal(format!("{what}: {e}"))
}

impl BootState {
    fn from_row(row: boot_images::Model) -> Result<Self> {
        Ok(Self {
            image_id: row.image_id,
            base_path: PathBuf::from(row.base_path),
            base_sha256: row.base_sha256,
            customization: serde_json::from_str(&row.customization)
                .map_err(|e| json_error("a boot image's customization", e))?,
            shell: row
                .shell
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| json_error("a boot image's shell", e))?,
            current_revision: row.current_revision,
            recipe_version: row.recipe_version,
            facts: row
                .facts
                .as_deref()
                .and_then(|f| serde_json::from_str(f).ok()),
            default_source_version: row.default_source_version,
        })
    }

    /// The state of a boot image that was never built: its file is its base.
    fn initial(image: &CatalogImage) -> Self {
        Self {
            image_id: image.id,
            base_path: image.file_path.clone(),
            base_sha256: image.sha256.clone(),
            customization: Customization::default(),
            shell: None,
            current_revision: 1,
            recipe_version: 1,
            facts: None,
            default_source_version: None,
        }
    }
}

/// What a list shows beside a boot image's name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Marks {
    /// A command prompt opens when it starts: it must not reach production.
    pub command_support: bool,
    pub shell: Option<Shell>,
}

/// Boot images' recipes and revisions, as the system uses them (no permission checks).
pub struct BootImages<'a> {
    domain: &'a Domain,
}

impl<'a> BootImages<'a> {
    pub(crate) fn new(domain: &'a Domain) -> Self {
        Self { domain }
    }

    /// The boot image with this id.
    pub async fn image(&self, image_id: i64) -> Result<CatalogImage> {
        Catalog::new(self.domain)
            .get_kind(ImageKind::Boot, image_id)
            .await
    }

    /// Its build state, read through `conn`.
    pub(crate) async fn state_in<C: ConnectionTrait>(
        &self,
        conn: &C,
        image: &CatalogImage,
    ) -> Result<BootState> {
        match boot_images::Entity::find_by_id(image.id).one(conn).await? {
            Some(row) => BootState::from_row(row),
            None => Ok(BootState::initial(image)),
        }
    }

    pub async fn state(&self, image: &CatalogImage) -> Result<BootState> {
        self.state_in(self.domain.db(), image).await
    }

    /// Writes down the state of a boot image that has none yet (it was imported and never
    /// built: its file is its base and revision 1), inside `txn`; returns the state.
    pub(crate) async fn ensure_in(
        &self,
        txn: &mut AuditedTxn,
        image: &CatalogImage,
    ) -> Result<BootState> {
        if let Some(row) = boot_images::Entity::find_by_id(image.id)
            .one(txn.conn())
            .await?
        {
            return BootState::from_row(row);
        }
        let state = BootState::initial(image);
        boot_images::Entity::insert(boot_images::ActiveModel {
            image_id: Set(image.id),
            base_path: Set(state.base_path.display().to_string()),
            base_sha256: Set(state.base_sha256.clone()),
            customization: Set("{}".into()),
            shell: Set(None),
            current_revision: Set(1),
            recipe_version: Set(1),
            facts: Set(None),
            default_source_version: Set(None),
        })
        .exec_without_returning(txn.conn())
        .await?;
        let first = revisions::Revision::initial(image);
        revisions::insert(txn.conn(), image.id, &first).await?;
        store::hold_exactly(
            txn,
            image.id,
            &std::collections::BTreeSet::from([image.file_path.clone()]),
        )
        .await?;
        Ok(state)
    }

    /// The drivers on the image's list, as a recipe names them.
    pub(crate) async fn listed_drivers_in<C: ConnectionTrait>(
        &self,
        conn: &C,
        image_id: i64,
    ) -> Result<Vec<RecipeDriver>> {
        let ids: Vec<i64> = boot_image_drivers::Entity::find()
            .filter(boot_image_drivers::Column::ImageId.eq(image_id))
            .all(conn)
            .await?
            .into_iter()
            .map(|r| r.driver_id)
            .collect();
        let drivers = DriverCatalog::new(self.domain).get_many(&ids).await?;
        Ok(drivers
            .into_iter()
            .map(|d| RecipeDriver {
                id: d.id,
                name: d.name,
                inf_name: d.inf_name,
                version: d.version,
                content_hash: d.content_hash,
            })
            .collect())
    }

    /// The recipe as it is now (what the next build makes), in canonical form.
    pub async fn recipe(&self, image: &CatalogImage) -> Result<Recipe> {
        let state = self.state(image).await?;
        self.recipe_of(self.domain.db(), &state).await
    }

    pub(crate) async fn recipe_of<C: ConnectionTrait>(
        &self,
        conn: &C,
        state: &BootState,
    ) -> Result<Recipe> {
        Ok(Recipe {
            drivers: self.listed_drivers_in(conn, state.image_id).await?,
            customization: state.customization.clone(),
            shell: state.shell.clone(),
        }
        .canonical())
    }

    /// What the base contains: stored, or read from the base once and stored.
    pub async fn facts(&self, image: &CatalogImage, state: &BootState) -> Result<BaseFacts> {
        if let Some(facts) = &state.facts {
            return Ok(facts.clone());
        }
        let facts = match self.domain.cached_facts(&state.base_path) {
            Some(facts) => facts,
            None => {
                let facts =
                    read_facts(self.domain, image.id, &image.inspection, &state.base_path).await?;
                self.domain
                    .cache_facts(state.base_path.clone(), facts.clone());
                facts
            }
        };
        // Kept only if the base is still the one read (a build may have changed it).
        boot_images::Entity::update_many()
            .col_expr(
                boot_images::Column::Facts,
                sea_orm::sea_query::Expr::value(
                    serde_json::to_string(&facts).map_err(|e| json_error("facts", e))?,
                ),
            )
            .filter(boot_images::Column::ImageId.eq(image.id))
            .filter(boot_images::Column::BasePath.eq(state.base_path.display().to_string()))
            .exec(self.domain.db())
            .await?;
        Ok(facts)
    }

    /// What marks boot images in lists, by image id: command support left on (testing only),
    /// capture and discover images.
    pub async fn marks(&self) -> Result<std::collections::HashMap<i64, Marks>> {
        use sea_orm::QuerySelect;
        let rows: Vec<(i64, String, Option<String>)> = boot_images::Entity::find()
            .select_only()
            .columns([
                boot_images::Column::ImageId,
                boot_images::Column::Customization,
                boot_images::Column::Shell,
            ])
            .into_tuple()
            .all(self.domain.db())
            .await?;
        let mut out = std::collections::HashMap::new();
        for (image_id, customization, shell) in rows {
            // A row Wimdeck cannot read marks nothing (its page says what is wrong).
            let command_support = serde_json::from_str::<Customization>(&customization)
                .is_ok_and(|c| c.command_support);
            let shell: Option<Shell> = shell.and_then(|s| serde_json::from_str(&s).ok());
            if command_support || shell.is_some() {
                out.insert(
                    image_id,
                    Marks {
                        command_support,
                        shell,
                    },
                );
            }
        }
        Ok(out)
    }

    /// The revisions of an image, newest first.
    pub async fn revisions(&self, image: &CatalogImage) -> Result<Vec<Revision>> {
        revisions::list(self.domain.db(), image).await
    }
}

/// Reads what a base contains (on a blocking thread, in a working folder of its own);
/// `inspection` is the base's own (its UI languages).
pub(crate) async fn read_facts(
    domain: &Domain,
    image_id: i64,
    inspection: &WimInspection,
    base: &std::path::Path,
) -> Result<BaseFacts> {
    let languages = inspection
        .images
        .first()
        .map(|i| i.languages.clone())
        .unwrap_or_default();
    let work = domain.config().work_dir().join(format!(
        "facts-{image_id}-{}",
        crate::accounts::random_token()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(8)
            .collect::<String>()
    ));
    let backend = domain.wim_backend();
    let path = base.to_path_buf();
    let dir = work.clone();
    let result =
        crate::wim::blocking(move || facts::read(backend.as_ref(), &path, 1, languages, &dir))
            .await;
    let _ = std::fs::remove_dir_all(&work);
    result.map_err(|e| Error::invalid("image", e.to_string()))
}

/// The inspection of a revision as stored (its metadata), for pointing the catalog at it.
pub(crate) fn inspection_of(row: &boot_revisions::Model) -> Result<WimInspection> {
    serde_json::from_str(&row.metadata).map_err(|e| json_error("a revision's metadata", e))
}

/// Records a boot image's base (and what it contains) inside a build's transaction.
pub(crate) async fn set_base_in<C: ConnectionTrait>(
    conn: &C,
    image_id: i64,
    base: &std::path::Path,
    sha256: &str,
    facts: &BaseFacts,
) -> Result<()> {
    use sea_orm::sea_query::Expr;
    boot_images::Entity::update_many()
        .col_expr(
            boot_images::Column::BasePath,
            Expr::value(base.display().to_string()),
        )
        .col_expr(boot_images::Column::BaseSha256, Expr::value(sha256))
        .col_expr(
            boot_images::Column::Facts,
            Expr::value(serde_json::to_string(facts).map_err(|e| json_error("facts", e))?),
        )
        .filter(boot_images::Column::ImageId.eq(image_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Records the configured Windows PE version a default boot image was regenerated from.
pub(crate) async fn set_default_source_in<C: ConnectionTrait>(
    conn: &C,
    image_id: i64,
    version: &str,
) -> Result<()> {
    use sea_orm::sea_query::Expr;
    boot_images::Entity::update_many()
        .col_expr(
            boot_images::Column::DefaultSourceVersion,
            Expr::value(version),
        )
        .filter(boot_images::Column::ImageId.eq(image_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Marks a change of a boot image's recipe (inside the change's transaction).
pub(crate) async fn bump_recipe_in<C: ConnectionTrait>(conn: &C, image_id: i64) -> Result<()> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    boot_images::Entity::update_many()
        .col_expr(
            boot_images::Column::RecipeVersion,
            Expr::col(boot_images::Column::RecipeVersion).add(1),
        )
        .filter(boot_images::Column::ImageId.eq(image_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Removes what no recipe needs from the asset store: assets named by neither a boot image's
/// recipe nor a revision that keeps its file, and temporaries a crash left. Run at start-up,
/// before the console answers (an asset is written before the change that names it commits).
pub async fn sweep(domain: &Domain) -> Result<Vec<PathBuf>> {
    let db = domain.db();
    let mut keep = std::collections::BTreeSet::new();
    let mut add = |c: &Customization| {
        if let Some(files) = c.prestart.as_ref().and_then(|p| p.files.as_ref()) {
            keep.insert(files.sha256.clone());
        }
        if let Some(background) = &c.background {
            keep.insert(background.sha256.clone());
        }
    };
    for row in boot_images::Entity::find().all(db).await? {
        add(&BootState::from_row(row)?.customization);
    }
    for row in boot_revisions::Entity::find()
        .filter(boot_revisions::Column::FilePath.is_not_null())
        .all(db)
        .await?
    {
        let recipe: Recipe =
            serde_json::from_str(&row.recipe).map_err(|e| json_error("a revision's recipe", e))?;
        add(&recipe.customization);
    }
    assets::collect(&domain.config().data_dir, &keep)
}
