//! The content library: versions of real WIMs and driver packages chunked into the store,
//! shared chunks stored once, a new version when an image changes, collection of what no
//! version needs, and refusals that leave the library as it was.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use domain::{
    Actor, Domain, Error,
    authz::ObjectType,
    catalog::{
        CatalogImage, ImageKind,
        kinds::{ImageAction, ImportRequest},
    },
    content::{ContentObject, ContentVersion, Manifest, SourceFile},
    drivers::import::DriverImportRequest,
    fixtures::{self, Arch, WindowsTree, drivers::DriverPackage},
    jobs::{JobFilter, JobState, NewJob, PageCursor, Runner},
    progress::Progress,
    testing::{BACKENDS, Backend, TestDb, fast_runner_options, wait_until_final},
    wim::Compression,
};
use sha2::{Digest, Sha256};

const LONG: Duration = Duration::from_secs(90);

struct Setup {
    domain: Domain,
    runner: Option<Runner>,
    admin: Actor,
    root: PathBuf,
    _db: TestDb,
    _root_dir: tempfile::TempDir,
}

impl Setup {
    async fn new(backend: Backend) -> Self {
        let db = TestDb::create(backend).await;
        let root_dir = tempfile::tempdir().expect("tempdir");
        let root = root_dir.path().join("sources");
        std::fs::create_dir_all(&root).expect("root");
        let mut config = db.config();
        config.images.source_roots = vec![root.clone()];
        let domain = Domain::open(&config).await.expect("open");
        let (admin, _) = crate::osd_and_analyst(&domain).await;
        let runner = Some(Runner::start(&domain, fast_runner_options()));
        Self {
            domain,
            runner,
            admin,
            root,
            _db: db,
            _root_dir: root_dir,
        }
    }

    async fn import(&self, file: &Path, name: &str) -> CatalogImage {
        let job = self
            .domain
            .for_actor(&self.admin)
            .catalog()
            .import(ImportRequest {
                kind: ImageKind::Os,
                source: file.display().to_string(),
                index: None,
                name: Some(name.into()),
                version: String::new(),
                comment: String::new(),
                architecture: None,
                language: None,
            })
            .await
            .expect("import");
        let job = wait_until_final(&self.domain, job, LONG).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let id = job.result.expect("result")["image_id"]
            .as_i64()
            .expect("id");
        self.domain.catalog().get(id).await.expect("image")
    }

    /// Runs a version job for `object` and returns the newest version after it.
    async fn version(&self, object: ContentObject) -> (ContentVersion, bool) {
        let id = self
            .domain
            .jobs()
            .enqueue_as(
                None,
                NewJob::new(
                    "content-version",
                    serde_json::json!({
                        "object_type": object.object_type.slug(),
                        "object_id": object.object_id,
                    }),
                ),
            )
            .await
            .expect("queued");
        let job = wait_until_final(&self.domain, id, LONG).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let created = job.result.expect("result")["created"]
            .as_bool()
            .expect("created");
        let latest = self
            .domain
            .content()
            .latest(object)
            .await
            .expect("latest")
            .expect("a version");
        (latest, created)
    }

    async fn stop(mut self) {
        if let Some(runner) = self.runner.take() {
            runner.shutdown().await;
        }
    }
}

/// Two editions of one Windows, each captured into a WIM of its own: most files are the same.
fn two_editions(root: &Path) -> (PathBuf, PathBuf) {
    let trees = root.join("trees");
    let mut out = Vec::new();
    for (edition, product, extra) in [
        ("Core", "Windows 11 Home", None),
        (
            "Professional",
            "Windows 11 Pro",
            Some(("Windows/System32/gpedit.dll", 700_000)),
        ),
    ] {
        let mut tree = WindowsTree::windows11(Arch::Amd64, edition, product);
        for n in 0..12 {
            tree.files
                .push((format!("Windows/System32/drivers/d{n}.sys"), 400_000));
        }
        if let Some((path, size)) = extra {
            tree.files.push((path.into(), size));
        }
        let dir = trees.join(edition);
        tree.write(&dir).expect("tree");
        let wim = root.join(format!("{edition}.wim"));
        fixtures::capture_images(&[(&dir, product)], &wim, None).expect("capture");
        out.push(wim);
    }
    let pro = out.pop().expect("pro");
    (out.pop().expect("home"), pro)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reassembles every file of a version from the store and checks it against the manifest.
fn check_version(domain: &Domain, version: &ContentVersion) -> Manifest {
    let store = domain.content().store();
    let manifest = store
        .read_manifest(&version.manifest_sha256)
        .expect("manifest");
    assert_eq!(manifest.total_bytes(), version.total_bytes);
    for file in &manifest.files {
        let mut hasher = Sha256::new();
        for chunk in &file.chunks {
            hasher.update(store.read_chunk(chunk).expect("chunk"));
        }
        assert_eq!(hex::encode(hasher.finalize()), file.sha256, "{}", file.path);
    }
    manifest
}

#[tokio::test]
async fn versions_share_chunks_follow_changes_and_are_collected_when_unused() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let (home_wim, pro_wim) = two_editions(&s.root);
        let home = s.import(&home_wim, "Home").await;
        let pro = s.import(&pro_wim, "Pro").await;
        let home_obj = ContentObject::new(ObjectType::OsImage, home.id);
        let pro_obj = ContentObject::new(ObjectType::OsImage, pro.id);

        // An image nobody distributed is not in the library.
        assert!(
            s.domain
                .content()
                .latest(home_obj)
                .await
                .expect("ok")
                .is_none()
        );

        let (v_home, created) = s.version(home_obj).await;
        assert!(created);
        assert_eq!((v_home.number, v_home.file_count), (1, 1));
        assert_eq!(v_home.total_bytes, home.file_bytes);
        assert_eq!(v_home.new_bytes, v_home.total_bytes, "all new");
        let manifest = check_version(&s.domain, &v_home);
        assert_eq!(manifest.files[0].path, "install.wim");
        assert_eq!(manifest.files[0].sha256, home.sha256);

        // The second edition shares most of its bytes with the first.
        let (v_pro, _) = s.version(pro_obj).await;
        check_version(&s.domain, &v_pro);
        assert!(
            v_pro.new_bytes < v_pro.total_bytes * 3 / 4,
            "pro brought {} of {} bytes",
            v_pro.new_bytes,
            v_pro.total_bytes
        );
        let stats = s.domain.content().stats().await.expect("ok");
        assert_eq!(stats.logical_bytes, home.file_bytes + pro.file_bytes);
        assert_eq!(stats.stored_bytes, v_home.new_bytes + v_pro.new_bytes);
        assert_eq!(
            stats.saved_bytes(),
            stats.logical_bytes - stats.stored_bytes
        );
        assert_eq!((stats.contents, stats.versions), (2, 2));

        // The same content again is no new version.
        let (again, created) = s.version(home_obj).await;
        assert!(!created);
        assert_eq!(again, v_home);

        // Optimizing the image changes its file: the library follows by itself.
        let job = s
            .domain
            .for_actor(&s.admin)
            .catalog()
            .service(
                ImageKind::Os,
                home.id,
                ImageAction::Optimize {
                    compression: Compression::Xpress,
                },
            )
            .await
            .expect("optimize");
        let job = wait_until_final(&s.domain, job, LONG).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let follow = s
            .domain
            .jobs()
            .list(
                &JobFilter {
                    kind: Some("content-version".into()),
                    ..Default::default()
                },
                PageCursor::Newest,
                1,
            )
            .await
            .expect("ok")
            .jobs[0]
            .id;
        let follow = wait_until_final(&s.domain, follow, LONG).await;
        assert_eq!(follow.state, JobState::Succeeded, "{:?}", follow.error);
        let optimized = s.domain.catalog().get(home.id).await.expect("ok");
        let v2 = s
            .domain
            .content()
            .latest(home_obj)
            .await
            .expect("ok")
            .expect("ok");
        assert_eq!(v2.number, 2);
        let manifest = check_version(&s.domain, &v2);
        assert_eq!(manifest.files[0].sha256, optimized.sha256);

        // Collection: version 1 of Home goes (nothing keeps it), with the chunks only it used
        // and its manifest; a crash's leftovers go too; every kept version stays whole.
        let store = s.domain.content().store();
        let stray = store.chunks_dir().join("ab").join("ab".repeat(32));
        std::fs::create_dir_all(stray.parent().expect("ok")).expect("ok");
        std::fs::write(&stray, b"left by a crash").expect("ok");
        let temp = store.chunks_dir().join("ab").join(".abab.wimdeck-tmp-x1");
        std::fs::write(&temp, b"half").expect("ok");
        let before = s.domain.content().stats().await.expect("ok");
        assert!(before.collectable_bytes == 0, "version 1 still uses them");
        let report = s
            .domain
            .content()
            .collect(&HashSet::new(), 0)
            .await
            .expect("ok");
        assert_eq!(report.versions, 1);
        assert!(report.chunks > 0);
        assert_eq!(
            report.stray_files, 3,
            "the stray, the temporary file, v1's manifest"
        );
        assert!(!stray.exists() && !temp.exists());
        assert!(!store.manifest_path(&v_home.manifest_sha256).exists());
        let after = s.domain.content().stats().await.expect("ok");
        assert_eq!(after.versions, 2);
        assert_eq!(after.collectable_bytes, 0);
        assert_eq!(after.stored_bytes, before.stored_bytes - report.bytes);
        check_version(&s.domain, &v2);
        check_version(&s.domain, &v_pro);

        // A version that is kept survives collection though it is not the newest.
        let (_, _) = s.version(pro_obj).await;
        let v3 = s
            .domain
            .content()
            .add_version(
                home_obj,
                "Home",
                vec![SourceFile {
                    path: "install.wim".into(),
                    local: home_wim.clone(),
                    sha256: None,
                }],
                "test",
                "test",
                Arc::new(Progress::default()),
            )
            .await
            .expect("ok");
        assert!(v3.created);
        let keep = HashSet::from([v2.id]);
        let report = s.domain.content().collect(&keep, 0).await.expect("ok");
        assert_eq!(report.versions, 0);
        check_version(&s.domain, &v2);
        check_version(&s.domain, &v3.version);

        s.stop().await;
    }
}

#[tokio::test]
async fn a_file_that_is_not_what_the_catalog_recorded_adds_nothing() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let (home_wim, _) = two_editions(&s.root);
        let object = ContentObject::new(ObjectType::OsImage, 1);
        let before = s.domain.content().stats().await.expect("ok");
        let err = s
            .domain
            .content()
            .add_version(
                object,
                "Home",
                vec![SourceFile {
                    path: "install.wim".into(),
                    local: home_wim.clone(),
                    sha256: Some(sha256_hex(b"something else")),
                }],
                "test",
                "test",
                Arc::new(Progress::default()),
            )
            .await
            .expect_err("refused");
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        assert!(err.to_string().contains("changed while"), "{err}");
        // A path that would leave the DP's folder is refused before anything is read.
        let err = s
            .domain
            .content()
            .add_version(
                object,
                "Home",
                vec![SourceFile {
                    path: "../install.wim".into(),
                    local: home_wim.clone(),
                    sha256: None,
                }],
                "test",
                "test",
                Arc::new(Progress::default()),
            )
            .await
            .expect_err("refused");
        assert!(err.to_string().contains("plain relative path"), "{err}");
        assert_eq!(s.domain.content().stats().await.expect("ok"), before);
        assert!(
            s.domain
                .content()
                .latest(object)
                .await
                .expect("ok")
                .is_none()
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn a_driver_package_is_content_with_a_folder_per_driver() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        for stem in ["e1d", "rtkfast"] {
            DriverPackage::network(stem, &[Arch::Amd64])
                .write(&s.root.join("drivers").join(stem))
                .expect("driver");
        }
        let job = s
            .domain
            .for_actor(&s.admin)
            .drivers()
            .import(DriverImportRequest {
                source: s.root.join("drivers").display().to_string(),
                name: Some("Network".into()),
                categories: vec![],
            })
            .await
            .expect("import");
        let job = wait_until_final(&s.domain, job, LONG).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let package = s.domain.driver_catalog().packages().await.expect("ok")[0].clone();
        let object = ContentObject::new(ObjectType::DriverPackage, package.id);
        let (version, _) = s.version(object).await;
        let manifest = check_version(&s.domain, &version);
        let folders: HashSet<&str> = manifest
            .files
            .iter()
            .map(|f| f.path.split('/').next().expect("ok"))
            .collect();
        assert_eq!(folders.len(), 2, "{folders:?}");
        assert!(
            manifest
                .files
                .iter()
                .any(|f| f.path.starts_with("e1d-") && f.path.ends_with("/e1d.inf")),
            "{:?}",
            manifest.files.iter().map(|f| &f.path).collect::<Vec<_>>()
        );

        // Deleting a driver of the package makes a version without its files.
        let drivers = s
            .domain
            .for_actor(&s.admin)
            .drivers()
            .list(&Default::default())
            .await
            .expect("ok")
            .drivers;
        let e1d = drivers
            .iter()
            .find(|d| d.inf_name == "e1d.inf")
            .expect("ok");
        s.domain
            .for_actor(&s.admin)
            .drivers()
            .delete(e1d.id, e1d.row_version)
            .await
            .expect("ok");
        let follow = s
            .domain
            .jobs()
            .list(
                &JobFilter {
                    kind: Some("content-version".into()),
                    ..Default::default()
                },
                PageCursor::Newest,
                1,
            )
            .await
            .expect("ok")
            .jobs[0]
            .id;
        let follow = wait_until_final(&s.domain, follow, LONG).await;
        assert_eq!(follow.state, JobState::Succeeded, "{:?}", follow.error);
        let v2 = s
            .domain
            .content()
            .latest(object)
            .await
            .expect("ok")
            .expect("ok");
        assert_eq!(v2.number, 2);
        let manifest = check_version(&s.domain, &v2);
        assert!(manifest.files.iter().all(|f| !f.path.starts_with("e1d-")));
        assert_eq!(
            v2.new_bytes, 0,
            "nothing new: the other driver's chunks are stored"
        );
        s.stop().await;
    }
}
