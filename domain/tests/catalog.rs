//! The image catalog: imports and servicing as jobs, bad inputs, edits, deletes, the sweep.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use domain::{
    Actor, Domain, Error, Role,
    catalog::{
        ImageEdit, ImageKind, ImageState,
        kinds::{ImageAction, ImportRequest},
        store,
    },
    fixtures,
    jobs::{JobState, Runner},
    testing::{BACKENDS, Backend, ManualClock, TestDb, fast_runner_options, wait_until_final},
    wim::Compression,
};

const LONG: Duration = Duration::from_secs(60);
/// The upload limit in these tests.
const UPLOAD_LIMIT: u64 = 8 << 20;

struct Setup {
    domain: Domain,
    config: domain::config::Config,
    clock: ManualClock,
    runner: Option<Runner>,
    admin: Actor,
    analyst: Actor,
    /// The image source root, holding copies of the samples.
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
        let library = crate::samples();
        let sample_dir = library.install.parent().expect("dir");
        for entry in std::fs::read_dir(sample_dir).expect("samples") {
            let entry = entry.expect("entry");
            if entry.file_type().expect("type").is_file() {
                std::fs::copy(entry.path(), root.join(entry.file_name())).expect("copy");
            }
        }
        let mut config = db.config();
        config.images.source_roots = vec![root.clone()];
        config
            .images
            .shares
            .insert(r"\\deploy01\sources".into(), root.clone());
        config.images.upload_max_bytes = Some(UPLOAD_LIMIT);
        let clock = ManualClock::starting_at(crate::T0);
        let domain = Domain::open_with_clock(&config, Arc::new(clock.clone()))
            .await
            .expect("open");
        let (admin, analyst) = crate::osd_and_analyst(&domain).await;
        let runner = Some(Runner::start(&domain, fast_runner_options()));
        Self {
            admin,
            analyst,
            domain,
            config,
            clock,
            runner,
            root,
            _db: db,
            _root_dir: root_dir,
        }
    }

    fn source(&self, name: &str) -> String {
        self.root.join(name).display().to_string()
    }

    /// Queues an import and waits for its job; returns the job.
    async fn import(&self, request: ImportRequest) -> domain::jobs::Job {
        let id = self
            .domain
            .for_actor(&self.admin)
            .catalog()
            .import(request)
            .await
            .expect("queued");
        wait_until_final(&self.domain, id, LONG).await
    }

    async fn service(&self, kind: ImageKind, id: i64, action: ImageAction) -> domain::jobs::Job {
        let job = self
            .domain
            .for_actor(&self.admin)
            .catalog()
            .service(kind, id, action)
            .await
            .expect("queued");
        wait_until_final(&self.domain, job, LONG).await
    }

    async fn stop(mut self) {
        if let Some(runner) = self.runner.take() {
            runner.shutdown().await;
        }
    }
}

fn request(kind: ImageKind, source: String) -> ImportRequest {
    ImportRequest {
        kind,
        source,
        index: None,
        name: None,
        version: String::new(),
        comment: String::new(),
        architecture: None,
        language: None,
    }
}

fn image_id(job: &domain::jobs::Job) -> i64 {
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    job.result
        .as_ref()
        .and_then(|r| r.get("image_id"))
        .and_then(serde_json::Value::as_i64)
        .expect("image id in result")
}

fn sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).expect("read")))
}

/// Whether `path` is gone, allowing for the moment between a job turning final and its
/// after-commit clean-up.
async fn gone(path: &Path) -> bool {
    for _ in 0..100 {
        if !path.exists() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The files in a directory, sorted (hidden ones too).
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn boot_and_os_images_are_imported_by_jobs() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let install_hash = sha256(&s.root.join("install.wim"));

        // A boot image by share path: its index is copied into the image store.
        let mut boot = request(ImageKind::Boot, r"\\DEPLOY01\Sources\boot_amd64.wim".into());
        boot.version = "1.0".into();
        boot.comment = "ADK 24H2".into();
        let job = s.import(boot).await;
        let id = image_id(&job);
        assert_eq!(
            job.result
                .as_ref()
                .and_then(|r| r.get("url"))
                .and_then(|u| u.as_str()),
            Some(format!("/boot-images/{id}").as_str())
        );
        let image = s.domain.catalog().get(id).await.expect("row");
        assert_eq!(image.name, "Microsoft Windows PE (amd64)");
        assert_eq!(image.kind, ImageKind::Boot);
        assert_eq!(image.architecture.as_deref(), Some("amd64"));
        assert_eq!(image.winpe_release.as_deref(), Some("10"));
        assert!(image.customizable());
        assert_eq!(image.os_version.as_deref(), Some("10.0.26100.1"));
        assert_eq!(image.source_index, Some(1));
        assert!(image.owned);
        assert!(
            image
                .file_path
                .starts_with(store::store_dir(&s.domain, ImageKind::Boot))
        );
        assert_eq!(image.sha256, sha256(&image.file_path));
        assert_eq!(
            image.file_bytes,
            std::fs::metadata(&image.file_path).expect("file").len()
        );
        assert!(image.decompressed_bytes > 500_000);
        assert_eq!(image.state, ImageState::Ready);
        assert_eq!(image.created_by, "osd");
        assert_eq!(image.version, "1.0");

        // An OS image with all its indexes, in place.
        let job = s
            .import(request(ImageKind::Os, s.source("install.wim")))
            .await;
        let all = s.domain.catalog().get(image_id(&job)).await.expect("row");
        assert_eq!(all.name, "Windows 11 Home");
        assert!(!all.owned);
        assert_eq!(
            all.file_path,
            s.root.join("install.wim").canonicalize().expect("path")
        );
        assert_eq!(all.image_count, 2);
        assert_eq!(all.language.as_deref(), Some("en-US"));

        // One index extracted into a new WIM next to the source; the source untouched.
        let mut extract = request(ImageKind::Os, s.source("install.wim"));
        extract.index = Some(2);
        extract.architecture = Some("x64".into());
        let job = s.import(extract).await;
        let pro = s.domain.catalog().get(image_id(&job)).await.expect("row");
        assert_eq!(pro.name, "Windows 11 Pro");
        assert_eq!(pro.image_count, 1);
        assert_eq!(pro.architecture.as_deref(), Some("amd64"));
        assert!(pro.owned);
        assert_eq!(
            pro.file_path.file_name().and_then(|n| n.to_str()),
            Some("install-index2.wim")
        );
        assert_eq!(
            pro.inspection.images[0].edition_id.as_deref(),
            Some("Professional")
        );
        assert_eq!(sha256(&s.root.join("install.wim")), install_hash);

        let boots = s
            .domain
            .catalog()
            .list(ImageKind::Boot)
            .await
            .expect("list");
        let oses = s.domain.catalog().list(ImageKind::Os).await.expect("list");
        assert_eq!((boots.len(), oses.len()), (1, 2));

        // The file browser lists inside the image.
        let entries = s
            .domain
            .for_actor(&s.analyst)
            .catalog()
            .browse(ImageKind::Boot, id, 1, "/Windows/Boot/PXE")
            .await
            .expect("browse");
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert!(
            names.contains(&"pxeboot.n12") && names.contains(&"wdsnbp.com"),
            "{names:?}"
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn split_wims_are_joined_or_extracted_from_all_their_parts() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let parts = ["split.swm", "split2.swm"].map(|p| sha256(&s.root.join(p)));
        let original = s
            .domain
            .wim_backend()
            .inspect(&s.root.join("install.wim"), false)
            .expect("inspect");

        // All images: the parts joined into split.wim beside them, which Wimdeck owns.
        let job = s
            .import(request(ImageKind::Os, s.source("split.swm")))
            .await;
        let joined = s.domain.catalog().get(image_id(&job)).await.expect("row");
        assert_eq!(
            joined.file_path.file_name().and_then(|n| n.to_str()),
            Some("split.wim")
        );
        assert!(joined.owned);
        assert_eq!(joined.image_count, 2);
        assert_eq!(joined.inspection.file.total_parts, 1);
        assert_eq!(joined.inspection.images, original.images);
        assert_eq!(joined.sha256, sha256(&joined.file_path));

        // One index, extracted from the parts.
        let mut one = request(ImageKind::Os, s.source("split.swm"));
        one.index = Some(2);
        one.name = Some("Pro from parts".into());
        let job = s.import(one).await;
        let pro = s.domain.catalog().get(image_id(&job)).await.expect("row");
        assert_eq!(
            pro.file_path.file_name().and_then(|n| n.to_str()),
            Some("split-index2.wim")
        );
        let mut expected = original.images[1].clone();
        expected.index = 1;
        assert_eq!(pro.inspection.images, vec![expected]);

        // The parts are untouched, and a second join is refused rather than overwriting.
        assert_eq!(
            ["split.swm", "split2.swm"].map(|p| sha256(&s.root.join(p))),
            parts
        );
        let mut again = request(ImageKind::Os, s.source("split.swm"));
        again.name = Some("Again".into());
        let err = s
            .domain
            .for_actor(&s.admin)
            .catalog()
            .import(again)
            .await
            .expect_err("exists");
        assert!(
            err.to_string().contains("split.wim already exists"),
            "{err}"
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn bad_inputs_get_specific_errors_and_leave_nothing() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let before = files_in(&s.root);
        let catalog = s.domain.for_actor(&s.admin).catalog();
        let refused = |kind, file: &str| {
            let request = request(kind, s.source(file));
            let catalog = s.domain.for_actor(&s.admin).catalog();
            async move {
                catalog
                    .import(request)
                    .await
                    .expect_err("refused")
                    .to_string()
            }
        };
        let cases: [(ImageKind, &str, &str); 9] = [
            (ImageKind::Os, "notes.wim", "is not a WIM file"),
            (ImageKind::Os, "truncated.wim", "truncated"),
            (ImageKind::Os, "install.esd", "encrypted ESD"),
            (ImageKind::Os, "lonely.swm", "but lonely2.swm"),
            (ImageKind::Os, "split2.swm", "is part 2 of a split WIM"),
            (
                ImageKind::Os,
                "mixed.swm",
                "mixed2.swm does not belong with",
            ),
            (ImageKind::Boot, "winpe4.wim", "Windows PE 4.0"),
            (ImageKind::Boot, "install.wim", "is not Windows PE"),
            (ImageKind::Os, "missing.wim", "does not exist"),
        ];
        for (kind, file, expected) in cases {
            let message = refused(kind, file).await;
            assert!(message.contains(expected), "{file}: {message}");
        }
        let outside = catalog
            .import(request(ImageKind::Os, "/etc/passwd".into()))
            .await
            .expect_err("outside");
        assert!(
            outside.to_string().contains("outside the folders images"),
            "{outside}"
        );
        let escape = catalog
            .import(request(
                ImageKind::Os,
                format!("{}/../x.wim", s.root.display()),
            ))
            .await
            .expect_err("dotdot");
        assert!(escape.to_string().contains(".."), "{escape}");
        let share = catalog
            .import(request(ImageKind::Os, r"\\other\share\install.wim".into()))
            .await
            .expect_err("share");
        assert!(share.to_string().contains("share"), "{share}");
        let mut index = request(ImageKind::Os, s.source("install.wim"));
        index.index = Some(3);
        let err = catalog.import(index).await.expect_err("index");
        assert!(err.to_string().contains("index 3 does not exist"), "{err}");

        // A bit flipped in file data passes the header check and fails the job's verification.
        let job = s
            .import(request(ImageKind::Boot, s.source("bitflip.wim")))
            .await;
        assert_eq!(job.state, JobState::Failed);
        assert!(
            job.error.as_deref().unwrap_or("").contains("damaged"),
            "{:?}",
            job.error
        );
        let job = s
            .import(request(ImageKind::Os, s.source("bitflip.wim")))
            .await;
        assert_eq!(job.state, JobState::Failed, "in place, too");

        // Names are unique per kind, ignoring case.
        let mut first = request(ImageKind::Boot, s.source("boot_x86.wim"));
        first.name = Some("Lab PE".into());
        image_id(&s.import(first).await);
        let mut again = request(ImageKind::Boot, s.source("boot_amd64.wim"));
        again.name = Some("lab pe".into());
        let err = catalog.import(again).await.expect_err("duplicate");
        assert!(matches!(err, Error::Conflict(_)), "{err:?}");
        assert!(err.to_string().contains("already exists"));

        // The analyst reads but does not add.
        let err = s
            .domain
            .for_actor(&s.analyst)
            .catalog()
            .import(request(ImageKind::Os, s.source("install.wim")))
            .await
            .expect_err("forbidden");
        assert!(matches!(err, Error::Forbidden(_)), "{err:?}");

        assert_eq!(
            s.domain
                .catalog()
                .list(ImageKind::Os)
                .await
                .expect("list")
                .len(),
            0
        );
        assert_eq!(
            s.domain
                .catalog()
                .list(ImageKind::Boot)
                .await
                .expect("list")
                .len(),
            1
        );
        assert_eq!(
            files_in(&s.root),
            before,
            "no stray file beside the sources"
        );
        assert_eq!(
            files_in(&store::store_dir(&s.domain, ImageKind::Boot)).len(),
            1,
            "only the one imported boot image in the store"
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn edits_are_optimistically_locked_and_deletes_remove_only_owned_files() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let catalog = s.domain.for_actor(&s.admin).catalog();
        let boot = image_id(
            &s.import(request(ImageKind::Boot, s.source("boot_x86.wim")))
                .await,
        );
        let os = image_id(
            &s.import(request(ImageKind::Os, s.source("install.wim")))
                .await,
        );
        let image = catalog.get(ImageKind::Boot, boot).await.expect("get");
        let edit = |name: &str, version: i32| ImageEdit {
            name: name.into(),
            version: "2.0".into(),
            comment: "with drivers".into(),
            architecture: None,
            language: None,
            expected_row_version: version,
        };
        let edited = catalog
            .edit(ImageKind::Boot, boot, edit("PE x86", image.row_version))
            .await
            .expect("edit");
        assert_eq!((edited.name.as_str(), edited.row_version), ("PE x86", 2));
        let err = catalog
            .edit(
                ImageKind::Boot,
                boot,
                edit("Someone else's", image.row_version),
            )
            .await
            .expect_err("stale");
        assert!(matches!(err, Error::Conflict(_)), "{err:?}");
        assert!(err.to_string().contains("changed by someone else"), "{err}");
        assert_eq!(
            catalog.get(ImageKind::Boot, boot).await.expect("get").name,
            "PE x86"
        );
        let err = catalog
            .edit(ImageKind::Os, boot, edit("x", 2))
            .await
            .expect_err("wrong kind");
        assert!(matches!(err, Error::NotFound(_)), "{err:?}");

        let mut os_edit = edit("Windows 11", 1);
        os_edit.language = Some("de-DE".into());
        os_edit.architecture = Some("arm64".into());
        let os_image = catalog
            .edit(ImageKind::Os, os, os_edit)
            .await
            .expect("edit");
        assert_eq!(os_image.language.as_deref(), Some("de-DE"));
        assert_eq!(os_image.architecture.as_deref(), Some("arm64"));
        let mut bad = edit("Windows 11", 2);
        bad.language = Some("en US!".into());
        assert!(catalog.edit(ImageKind::Os, os, bad).await.is_err());

        let err = s
            .domain
            .for_actor(&s.analyst)
            .catalog()
            .edit(ImageKind::Boot, boot, edit("x", 2))
            .await
            .expect_err("forbidden");
        assert!(matches!(err, Error::Forbidden(_)));

        // Deleting: a stale version is refused; the owned file goes, the admin's stays.
        let boot_file = catalog
            .get(ImageKind::Boot, boot)
            .await
            .expect("get")
            .file_path;
        assert!(matches!(
            catalog.delete(ImageKind::Boot, boot, 1).await,
            Err(Error::Conflict(_))
        ));
        catalog
            .delete(ImageKind::Boot, boot, 2)
            .await
            .expect("delete");
        assert!(!boot_file.exists());
        catalog.delete(ImageKind::Os, os, 2).await.expect("delete");
        assert!(s.root.join("install.wim").exists());
        assert!(
            s.domain
                .catalog()
                .list(ImageKind::Boot)
                .await
                .expect("list")
                .is_empty()
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn servicing_jobs_verify_optimize_extract_and_split() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let catalog = s.domain.catalog();
        let boot = image_id(
            &s.import(request(ImageKind::Boot, s.source("boot_amd64.wim")))
                .await,
        );
        let original = catalog.get(boot).await.expect("get");

        let job = s.service(ImageKind::Boot, boot, ImageAction::Verify).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);

        // Only builds write a boot image: optimizing one is refused before a job is queued.
        let err = s
            .domain
            .for_actor(&s.admin)
            .catalog()
            .service(
                ImageKind::Boot,
                boot,
                ImageAction::Optimize {
                    compression: Compression::Xpress,
                },
            )
            .await
            .expect_err("boot images are built");
        assert!(err.to_string().contains("build it instead"), "{err}");
        let unchanged = catalog.get(boot).await.expect("get");
        assert_eq!(
            (unchanged.file_path, unchanged.content_revision),
            (original.file_path.clone(), original.content_revision)
        );

        let os = image_id(
            &s.import(request(ImageKind::Os, s.source("install.wim")))
                .await,
        );
        let job = s
            .service(
                ImageKind::Os,
                os,
                ImageAction::Extract {
                    index: 1,
                    name: "Home only".into(),
                },
            )
            .await;
        let home = catalog.get(image_id(&job)).await.expect("get");
        assert_eq!((home.image_count, home.source_index), (1, Some(1)));
        assert_eq!(
            home.inspection.images[0].edition_id.as_deref(),
            Some("Core")
        );

        let job = s
            .service(
                ImageKind::Os,
                home.id,
                ImageAction::Optimize {
                    compression: Compression::Xpress,
                },
            )
            .await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let optimized = catalog.get(home.id).await.expect("get");
        assert_ne!(optimized.file_path, home.file_path);
        assert_eq!(optimized.content_revision, 2);
        assert_eq!(optimized.row_version, home.row_version, "not an edit");
        assert_eq!(optimized.inspection.file.compression, "xpress");
        assert_eq!(optimized.sha256, sha256(&optimized.file_path));
        assert!(
            gone(&home.file_path).await,
            "the replaced owned file is gone"
        );
        assert_eq!(
            files_in(&store::store_dir(&s.domain, ImageKind::Os)).len(),
            1
        );

        let err = s
            .domain
            .for_actor(&s.admin)
            .catalog()
            .service(
                ImageKind::Boot,
                boot,
                ImageAction::Extract {
                    index: 1,
                    name: "x".into(),
                },
            )
            .await
            .expect_err("boot images have one index");
        assert!(matches!(err, Error::InvalidInput { .. }));

        let job = s
            .service(ImageKind::Os, os, ImageAction::Split { part_mib: 16 })
            .await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let parts = job
            .result
            .as_ref()
            .and_then(|r| r.get("parts"))
            .and_then(|p| p.as_array())
            .expect("parts");
        assert!(!parts.is_empty());
        for part in parts {
            assert!(Path::new(part["path"].as_str().expect("path")).is_file());
        }

        // Damage found by verification is recorded on the image.
        let in_place = catalog.get(os).await.expect("get");
        let mut bytes = std::fs::read(&in_place.file_path).expect("read");
        let at = 208 + (bytes.len() - 208) / 4;
        bytes[at] ^= 0x10;
        std::fs::write(&in_place.file_path, bytes).expect("damage");
        let job = s.service(ImageKind::Os, os, ImageAction::Verify).await;
        assert_eq!(job.state, JobState::Failed);
        let damaged = catalog.get(os).await.expect("get");
        assert_eq!(damaged.state, ImageState::Damaged);
        assert!(damaged.state_detail.is_some());

        std::fs::remove_file(&in_place.file_path).expect("remove");
        let job = s.service(ImageKind::Os, os, ImageAction::Verify).await;
        assert_eq!(job.state, JobState::Failed);
        assert_eq!(
            catalog.get(os).await.expect("get").state,
            ImageState::Missing
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn the_sweep_removes_what_a_crash_left_and_keeps_what_the_catalog_uses() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let boot = image_id(
            &s.import(request(ImageKind::Boot, s.source("boot_x86.wim")))
                .await,
        );
        let used = s.domain.catalog().get(boot).await.expect("get").file_path;

        // As a killed import leaves them: a linked output with no row, and a temporary file.
        let dir = store::store_dir(&s.domain, ImageKind::Boot);
        let orphan = dir.join("orphan-abc.wim");
        std::fs::write(&orphan, b"written, never committed").expect("write");
        let temp = dir.join(".other.wim.wimdeck-tmp-123");
        std::fs::write(&temp, b"half").expect("write");
        domain::testing::record_pending_output(&s.domain, &orphan).await;
        domain::testing::record_pending_output(&s.domain, &used).await;

        let report = store::sweep(&s.domain).await.expect("sweep");
        assert_eq!(report.abandoned_files, vec![orphan.clone()]);
        assert_eq!(report.temporary_files, vec![temp.clone()]);
        assert!(!orphan.exists() && !temp.exists());
        assert!(used.exists(), "a file the catalog uses stays");
        let again = store::sweep(&s.domain).await.expect("sweep");
        assert_eq!(again, store::SweepReport::default());
        s.stop().await;
    }
}

#[tokio::test]
async fn default_boot_images_are_regenerated_when_their_windows_pe_changes() {
    use domain::{
        boot::defaults::UPDATE_DEFAULTS,
        fixtures::{Arch, WinPeRelease, WindowsTree},
        jobs::NewJob,
    };
    for backend in BACKENDS {
        let db = TestDb::create(backend).await;
        let adk = db.data_dir.join("adk");
        std::fs::create_dir_all(&adk).expect("adk");
        let winpe = adk.join("winpe.wim");
        std::fs::copy(&crate::samples().boot_amd64, &winpe).expect("copy");
        let mut config = db.config();
        config.images.source_roots = vec![
            crate::samples()
                .install
                .parent()
                .expect("dir")
                .to_path_buf(),
        ];
        config
            .images
            .default_boot_sources
            .insert("amd64".into(), winpe.clone());
        let domain = Domain::open(&config).await.expect("open");
        let runner = Runner::start(&domain, fast_runner_options());
        let update = || async {
            let id = domain
                .jobs()
                .enqueue_as(None, NewJob::new(UPDATE_DEFAULTS, serde_json::json!({})))
                .await
                .expect("queue");
            let job = wait_until_final(&domain, id, LONG).await;
            assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
            job.result.expect("result")["defaults"][0]["action"]
                .as_str()
                .expect("action")
                .to_owned()
        };

        assert_eq!(update().await, "created");
        let default = domain
            .catalog()
            .default_for("amd64")
            .await
            .expect("db")
            .expect("default");
        assert_eq!(default.name, "Boot image (x64)");
        assert_eq!(default.os_version.as_deref(), Some("10.0.26100.1"));
        // A custom boot image beside it, and the admin's own changes to the default.
        let custom = domain
            .catalog()
            .queue_import(
                ImportRequest {
                    name: Some("Custom PE".into()),
                    ..request(
                        ImageKind::Boot,
                        crate::samples().boot_x86.display().to_string(),
                    )
                },
                None,
            )
            .await
            .expect("import");
        let custom = image_id(&wait_until_final(&domain, custom, LONG).await);
        let custom_before = domain.catalog().get(custom).await.expect("get");
        let edit = ImageEdit {
            name: "Default PE x64".into(),
            version: "7".into(),
            comment: "kept across regenerations".into(),
            architecture: None,
            language: None,
            expected_row_version: default.row_version,
        };
        let admin_id = domain
            .accounts()
            .create_user("admin", crate::PASSWORD, &[domain::Role::FullAdministrator])
            .await
            .expect("admin");
        let admin = domain.accounts().actor(admin_id).await.expect("actor");
        domain
            .for_actor(&admin)
            .catalog()
            .edit(ImageKind::Boot, default.id, edit)
            .await
            .expect("edit");

        assert_eq!(update().await, "up-to-date");
        assert_eq!(
            domain
                .catalog()
                .get(default.id)
                .await
                .expect("get")
                .content_revision,
            1
        );

        // A newer ADK: the same architecture, a new build.
        let tree_dir = db.data_dir.join("newer");
        let mut newer = WindowsTree::winpe(Arch::Amd64, WinPeRelease::V10);
        newer.build = 26200;
        newer.write(&tree_dir).expect("tree");
        std::fs::remove_file(&winpe).expect("remove");
        fixtures::capture(&tree_dir, "Microsoft Windows PE (amd64)", &winpe, true)
            .expect("capture");
        assert_eq!(update().await, "regenerated");
        // The regeneration is a build with the configured Windows PE as the new base.
        let filter = domain::jobs::JobFilter {
            kind: Some(domain::boot::build::BUILD.into()),
            ..Default::default()
        };
        let build = domain
            .jobs()
            .list(&filter, domain::jobs::PageCursor::Newest, 1)
            .await
            .expect("jobs")
            .jobs
            .first()
            .map(|j| j.id)
            .expect("a build");
        let job = wait_until_final(&domain, build, LONG).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let regenerated = domain.catalog().get(default.id).await.expect("get");
        assert_eq!(regenerated.os_version.as_deref(), Some("10.0.26200.1"));
        assert_eq!(regenerated.content_revision, 2);
        assert_eq!(
            (
                regenerated.name.as_str(),
                regenerated.version.as_str(),
                regenerated.comment.as_str()
            ),
            ("Default PE x64", "7", "kept across regenerations")
        );
        // The replaced file stays as revision 1 (it may be made current again).
        assert!(default.file_path.is_file(), "revision 1 lost its file");
        assert_eq!(
            domain.catalog().get(custom).await.expect("get"),
            custom_before,
            "custom untouched"
        );
        runner.shutdown().await;
    }
}

/// A request body that sends `data`, then fails as a dropped connection does.
struct Dropped<'a>(&'a [u8]);

impl tokio::io::AsyncRead for Dropped<'_> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.0.is_empty() {
            return std::task::Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection reset",
            )));
        }
        let n = self.0.len().min(buf.remaining());
        buf.put_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn uploads_resume_after_drops_and_restarts_and_are_used_up_by_their_import() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let uploads = s.domain.for_actor(&s.admin).uploads();
        let boot = std::fs::read(s.root.join("boot_amd64.wim")).expect("read");
        let size = boot.len() as u64;

        let upload = uploads.begin("boot_amd64.wim", size).await.expect("begin");
        assert_eq!((upload.received_bytes, upload.complete()), (0, false));
        let got = uploads
            .receive(&upload.id, 0, &boot[..100_000])
            .await
            .expect("chunk");
        assert_eq!(got.received_bytes, 100_000);
        // A chunk at the wrong offset is refused; the browser asks and resumes.
        let err = uploads
            .receive(&upload.id, 0, &boot[..100_000])
            .await
            .expect_err("offset");
        assert!(
            err.to_string().contains("does not follow the 100000"),
            "{err}"
        );
        // A dropped connection keeps what arrived.
        let err = uploads
            .receive(&upload.id, 100_000, Dropped(&boot[100_000..150_000]))
            .await
            .expect_err("dropped");
        assert!(err.to_string().contains("connection dropped"), "{err}");
        // Choosing the same file again resumes the same upload.
        let again = uploads.begin("boot_amd64.wim", size).await.expect("resume");
        assert_eq!(
            (again.id.as_str(), again.received_bytes),
            (upload.id.as_str(), 150_000)
        );

        // After a restart (no hashing state in memory) the rest completes it, with the hash of
        // the whole file.
        let restarted = Domain::open_with_clock(&s.config, Arc::new(s.clock.clone()))
            .await
            .expect("reopen");
        let done = restarted
            .for_actor(&s.admin)
            .uploads()
            .receive(&upload.id, 150_000, &boot[150_000..])
            .await
            .expect("rest");
        assert!(done.complete());
        assert_eq!(
            done.sha256.as_deref(),
            Some(sha256(&s.root.join("boot_amd64.wim")).as_str())
        );
        assert_eq!(std::fs::read(&done.path).expect("uploaded"), boot);
        assert!(
            done.path.ends_with("uploads/osd/boot_amd64.wim"),
            "{}",
            done.path.display()
        );

        // Imported as a boot image: the image has its copy, the upload is gone.
        let job = s
            .import(request(ImageKind::Boot, format!("upload:{}", done.id)))
            .await;
        let image = s.domain.catalog().get(image_id(&job)).await.expect("row");
        assert_ne!(image.file_path, done.path);
        assert!(gone(&done.path).await);
        assert!(uploads.list().await.expect("list").is_empty());

        // An OS image used in place takes the uploaded file over.
        let install = std::fs::read(s.root.join("install.wim")).expect("read");
        let upload = uploads
            .begin("install.wim", install.len() as u64)
            .await
            .expect("begin");
        let done = uploads
            .receive(&upload.id, 0, &install[..])
            .await
            .expect("whole");
        let job = s
            .import(request(ImageKind::Os, format!("upload:{}", done.id)))
            .await;
        let os = s.domain.catalog().get(image_id(&job)).await.expect("row");
        assert_eq!(os.file_path, done.path);
        assert!(os.owned);
        assert!(uploads.list().await.expect("list").is_empty());
        // Uploading a file of that name again is refused while the image uses it.
        let err = uploads.begin("install.wim", 10).await.expect_err("in use");
        assert!(
            err.to_string()
                .contains("is the file of an image in the catalog"),
            "{err}"
        );
        s.domain
            .for_actor(&s.admin)
            .catalog()
            .delete(ImageKind::Os, os.id, os.row_version)
            .await
            .expect("delete");
        assert!(!done.path.exists());
        s.stop().await;
    }
}

#[tokio::test]
async fn hostile_uploads_are_refused_and_leave_nothing() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let uploads = s.domain.for_actor(&s.admin).uploads();
        let partial_dir = s.config.data_dir.join("uploads/.partial");
        for (name, size, expected) in [
            ("../boot.wim", 10, "not a plain file name"),
            (r"C:\boot.wim", 10, "not a plain file name"),
            (".boot.wim", 10, "must not start with a dot"),
            (
                "notes.txt",
                10,
                "upload a .wim, .swm or .esd file, a .zip or .cab file (drivers, prestart files), or a PNG, JPEG or BMP background",
            ),
            ("empty.wim", 0, "is empty"),
            (
                "huge.wim",
                UPLOAD_LIMIT + 1,
                "uploads are limited to 8388608 bytes",
            ),
        ] {
            let err = uploads.begin(name, size).await.expect_err(name);
            assert!(err.to_string().contains(expected), "{name}: {err}");
        }
        assert!(files_in(&partial_dir).is_empty());

        // Not a WIM: refused at the first bytes, nothing kept.
        let fake = uploads.begin("fake.wim", 1000).await.expect("begin");
        let err = uploads
            .receive(&fake.id, 0, &b"PK\x03\x04 a zip file, not a WIM"[..])
            .await
            .expect_err("not a WIM");
        assert!(err.to_string().contains("is not a WIM file"), "{err}");
        assert!(matches!(
            uploads.get(&fake.id).await,
            Err(Error::NotFound(_))
        ));
        assert!(files_in(&partial_dir).is_empty());

        // More than announced: refused, the extra never written.
        let small = uploads.begin("small.wim", 16).await.expect("begin");
        let err = uploads
            .receive(
                &small.id,
                0,
                &b"MSWIM\0\0\0 and far more than sixteen bytes"[..],
            )
            .await
            .expect_err("too long");
        assert!(
            err.to_string().contains("more data than the 16 bytes"),
            "{err}"
        );
        assert_eq!(uploads.get(&small.id).await.expect("get").received_bytes, 0);

        // Nobody else sees or feeds someone's upload; a read-only user may not upload.
        let other = s
            .domain
            .accounts()
            .create_user("other", crate::PASSWORD, &[Role::FullAdministrator])
            .await
            .expect("user");
        let other = s.domain.accounts().actor(other).await.expect("actor");
        let theirs = s.domain.for_actor(&other).uploads();
        assert!(matches!(
            theirs.get(&small.id).await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            theirs.receive(&small.id, 0, &b"MSWIM\0\0\0"[..]).await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            s.domain
                .for_actor(&s.analyst)
                .uploads()
                .begin("boot.wim", 10)
                .await,
            Err(Error::Forbidden(_))
        ));

        // An upload abandoned for a day goes at the next start; a recent one stays.
        let recent = uploads.begin("recent.wim", 100).await.expect("begin");
        s.clock.advance_ms(25 * 3600 * 1000);
        let fresh = uploads.begin("fresh.wim", 100).await.expect("begin");
        let report = store::sweep(&s.domain).await.expect("sweep");
        assert_eq!(report.abandoned_uploads.len(), 2, "{report:?}");
        assert!(matches!(
            uploads.get(&recent.id).await,
            Err(Error::NotFound(_))
        ));
        assert_eq!(files_in(&partial_dir), vec![fresh.id.clone()]);
        s.stop().await;
    }
}
